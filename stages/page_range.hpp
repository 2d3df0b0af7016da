// Page selections such as "1-3,7,10-end" (1-based, inclusive), for `folio pages` and `folio run --pages`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace folio::stages {

// One item of a selection. kEnd stands for the document's last page.
struct PageRange {
  static constexpr int kEnd = -1;
  int first = 1;
  int last = kEnd;
};

struct PageSelection {
  std::vector<PageRange> ranges;  // empty = every page
  bool all() const { return ranges.empty(); }
};

// Parses "1-3,7,10-end" (spaces allowed around items; "end" may start or end a range; "all" or "" = every
// page). Throws folio::Error(Usage) saying which item is wrong and why.
PageSelection parse_page_selection(std::string_view text);

// The 1-based pages of a `page_count`-page document that the selection picks, ascending, without repeats.
// Ranges are clipped to the document, so "1-3" on a 2-page file gives {1, 2}; a selection that picks no page
// at all throws folio::Error(Usage) naming `file`.
std::vector<int> select_pages(const PageSelection& selection, int page_count, const std::string& file = {});

// Back to text, e.g. "1-3,7,10-end" (for logs and the run manifest).
std::string to_string(const PageSelection& selection);

}  // namespace folio::stages
