#include "pipeline/choose.hpp"

namespace folio::pipeline {

const Candidate* choose(const std::vector<Candidate>& cs) {
  auto best = [&](auto pred) -> const Candidate* {
    const Candidate* b = nullptr;
    for (const auto& c : cs)
      if (pred(c) && (!b || c.confidence > b->confidence || (c.confidence == b->confidence && c.page < b->page))) b = &c;
    return b;
  };
  if (auto c = best([](const Candidate& c) { return c.normalized.valid && c.normalized.present; })) return c;
  if (auto c = best([](const Candidate& c) { return c.normalized.valid; })) return c;
  return best([](const Candidate&) { return true; });
}

}  // namespace folio::pipeline
