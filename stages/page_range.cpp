#include "stages/page_range.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "common/error.hpp"

namespace folio::stages {

namespace {

constexpr int kMaxPage = 10'000'000;  // far beyond any real document; keeps arithmetic in int

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Error bad(std::string_view text, std::string_view item, const std::string& why) {
  return Error(ErrorKind::Usage,
               fmt::format("invalid page selection '{}': '{}' {} (expected e.g. 1-3,7,10-end)", text, item, why));
}

int parse_bound(std::string_view text, std::string_view item, std::string_view bound) {
  bound = trim(bound);
  if (bound == "end") return PageRange::kEnd;
  if (bound.empty()) throw bad(text, item, "has an empty page number");
  int value = 0;
  const auto [ptr, ec] = std::from_chars(bound.data(), bound.data() + bound.size(), value);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && value > kMaxPage)) {
    throw bad(text, item, "is too large");
  }
  if (ec != std::errc() || ptr != bound.data() + bound.size()) throw bad(text, item, "is not a page number");
  if (value < 1) throw bad(text, item, "is not a page number (pages count from 1)");
  return value;
}

}  // namespace

PageSelection parse_page_selection(std::string_view text) {
  PageSelection selection;
  const std::string_view whole = trim(text);
  if (whole.empty() || whole == "all") return selection;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = whole.find(',', start);
    const std::string_view item = trim(whole.substr(start, comma == std::string_view::npos ? whole.npos : comma - start));
    if (item.empty()) throw bad(text, item, "is empty (stray comma?)");
    PageRange range;
    const std::size_t dash = item.find('-');
    if (dash == std::string_view::npos) {
      range.first = range.last = parse_bound(text, item, item);
    } else {
      if (item.find('-', dash + 1) != std::string_view::npos) throw bad(text, item, "has more than one '-'");
      range.first = parse_bound(text, item, item.substr(0, dash));
      range.last = parse_bound(text, item, item.substr(dash + 1));
      if (range.first == PageRange::kEnd && range.last != PageRange::kEnd) {
        throw bad(text, item, "starts at the end and goes back");
      }
      if (range.first != PageRange::kEnd && range.last != PageRange::kEnd && range.last < range.first) {
        throw bad(text, item, "goes backwards");
      }
    }
    selection.ranges.push_back(range);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return selection;
}

std::vector<int> select_pages(const PageSelection& selection, int page_count, const std::string& file) {
  std::vector<int> pages;
  if (page_count <= 0) {
    throw Error(ErrorKind::Input, "document has no pages", {file});
  }
  if (selection.all()) {
    pages.resize(static_cast<std::size_t>(page_count));
    for (int i = 0; i < page_count; ++i) pages[static_cast<std::size_t>(i)] = i + 1;
    return pages;
  }
  for (const PageRange& r : selection.ranges) {
    const int first = r.first == PageRange::kEnd ? page_count : r.first;
    const int last = std::min(r.last == PageRange::kEnd ? page_count : r.last, page_count);
    for (int p = first; p <= last; ++p) pages.push_back(p);
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  if (pages.empty()) {
    throw Error(ErrorKind::Usage,
                fmt::format("page selection '{}' picks no page of this {}-page document", to_string(selection),
                            page_count),
                {file});
  }
  return pages;
}

std::string to_string(const PageSelection& selection) {
  if (selection.all()) return "all";
  auto bound = [](int v) { return v == PageRange::kEnd ? std::string("end") : std::to_string(v); };
  std::string out;
  for (const PageRange& r : selection.ranges) {
    if (!out.empty()) out += ',';
    out += bound(r.first);
    if (r.last != r.first) {
      out += '-';  // appended apart: "-" + std::string trips GCC 12's -Wrestrict false positive
      out += bound(r.last);
    }
  }
  return out;
}

}  // namespace folio::stages
