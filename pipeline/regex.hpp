// A compiled PCRE2 pattern (UTF, Unicode classes) for schema `pattern`s: whole-value matches.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace folio::pipeline {

class Regex {
 public:
  // Throws folio::Error (Usage) with PCRE2's message and the offset in the pattern.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  // True when the whole of `text` matches.
  bool matches(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace folio::pipeline
