#include <boost/test/unit_test.hpp>

#include "common/error.hpp"
#include "stages/page_range.hpp"

using namespace folio;
using namespace folio::stages;

namespace {

std::vector<int> pick(const std::string& text, int count) { return select_pages(parse_page_selection(text), count); }

void expect_usage_error(const std::string& text, const std::string& needle) {
  try {
    parse_page_selection(text);
    BOOST_FAIL("expected '" << text << "' to be refused");
  } catch (const Error& e) {
    BOOST_TEST(static_cast<int>(e.kind()) == static_cast<int>(ErrorKind::Usage));
    BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ingest_page_range)

BOOST_AUTO_TEST_CASE(parses_ranges_singles_and_end) {
  BOOST_TEST(pick("1-3,7,10-end", 12) == (std::vector<int>{1, 2, 3, 7, 10, 11, 12}), boost::test_tools::per_element());
  BOOST_TEST(pick(" 2 , 4 - 5 ", 9) == (std::vector<int>{2, 4, 5}), boost::test_tools::per_element());
  BOOST_TEST(pick("end", 5) == (std::vector<int>{5}), boost::test_tools::per_element());
  BOOST_TEST(pick("end-end", 5) == (std::vector<int>{5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_or_all_means_every_page) {
  BOOST_TEST(parse_page_selection("").all());
  BOOST_TEST(parse_page_selection("all").all());
  BOOST_TEST(pick("", 3) == (std::vector<int>{1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(overlaps_are_merged_and_sorted) {
  BOOST_TEST(pick("5,1-3,2-4,5", 10) == (std::vector<int>{1, 2, 3, 4, 5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ranges_are_clipped_to_the_document) {
  BOOST_TEST(pick("1-3", 2) == (std::vector<int>{1, 2}), boost::test_tools::per_element());
  BOOST_TEST(pick("2,9", 4) == (std::vector<int>{2}), boost::test_tools::per_element());
  try {
    select_pages(parse_page_selection("7-9"), 5, "doc.pdf");
    BOOST_FAIL("expected an error");
  } catch (const Error& e) {
    BOOST_TEST(std::string(e.what()).find("doc.pdf") != std::string::npos, e.what());
    BOOST_TEST(std::string(e.what()).find("5-page") != std::string::npos, e.what());
  }
}

BOOST_AUTO_TEST_CASE(bad_selections_say_what_is_wrong) {
  expect_usage_error("0", "count from 1");
  expect_usage_error("3-1", "goes backwards");
  expect_usage_error("1,,2", "empty");
  expect_usage_error("1,", "empty");
  expect_usage_error("a-3", "not a page number");
  expect_usage_error("1-2-3", "more than one");
  expect_usage_error("-3", "empty page number");
  expect_usage_error("2-", "empty page number");
  expect_usage_error("end-3", "starts at the end");
  expect_usage_error("99999999999", "too large");
  expect_usage_error("1.5", "not a page number");
}

BOOST_AUTO_TEST_CASE(round_trips_to_text) {
  BOOST_TEST(to_string(parse_page_selection("1-3, 7,10-end")) == "1-3,7,10-end");
  BOOST_TEST(to_string(parse_page_selection("")) == "all");
}

BOOST_AUTO_TEST_SUITE_END()
