// Reducing the answers of a field asked on several pages (`pages: all`, a range) to one value.
#pragma once

#include <string>
#include <vector>

#include "pipeline/normalize.hpp"

namespace folio::pipeline {

// One candidate answer of a field, from one page.
struct Candidate {
  int page = 0;
  std::string raw;
  double confidence = 0;
  Normalized normalized;
};

// The valid, present (non-null) answer with the highest confidence; failing that the most confident valid
// "not present" one; failing that the most confident invalid one; nullptr for none. Ties keep the earlier
// page, so the choice does not depend on the order pages finished in once candidates are sorted by page.
const Candidate* choose(const std::vector<Candidate>& candidates);

}  // namespace folio::pipeline
