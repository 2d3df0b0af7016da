#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"
#include "support/paths.hpp"

BOOST_AUTO_TEST_SUITE(common)

BOOST_AUTO_TEST_CASE(error_message_names_file_page_and_field) {
  folio::Error e(folio::ErrorKind::Input, "cannot parse date", {"in/a.pdf", 3, "due_date"});
  BOOST_TEST(std::string(e.what()) == "in/a.pdf: page 3: due_date: cannot parse date");
  auto e2 = folio::Error(folio::ErrorKind::Input, "bad").with_file("x.tif").with_page(2);
  BOOST_TEST(std::string(e2.what()) == "x.tif: page 2: bad");
  BOOST_TEST((e2.kind() == folio::ErrorKind::Input));
}

BOOST_AUTO_TEST_CASE(sha256_matches_known_vectors) {
  BOOST_TEST(folio::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(folio::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(atomic_write_replaces_whole_file_and_leaves_no_temp) {
  folio::test::TempDir dir;
  auto p = dir.path() / "sub" / "out.json";
  folio::write_file_atomic(p, "first");
  folio::write_file_atomic(p, "second");
  std::ifstream in(p);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  BOOST_TEST(s == "second");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(p.parent_path())) ++entries;
  BOOST_TEST(entries == 1);
  BOOST_TEST(folio::sha256_file_hex(p) == folio::sha256_hex("second"));
}

BOOST_AUTO_TEST_SUITE_END()
