// A byte-level BPE tokenizer read from a checkpoint's tokenizer.json, as HF tokenizers runs it: added
// tokens matched on the raw text first, then the pre-tokenizer, then BPE merges by rank. Nothing in it is
// specific to one checkpoint. All const methods are safe to call from several threads.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace folio::engine::text {

struct Encoding {
  std::vector<int> ids;
  std::vector<std::string> pieces;  // the vocabulary string of each id
  std::vector<std::pair<std::size_t, std::size_t>> offsets;  // [begin, end) in code points of the input
};

class Tokenizer {
 public:
  // Throws folio::Error (Model) naming the file for anything it does not support.
  static Tokenizer load(const std::filesystem::path& tokenizer_json);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // `text` must be UTF-8 (invalid bytes: folio::Error Input). Added tokens are always matched whole.
  std::vector<int> encode(std::string_view text) const;
  Encoding encode_full(std::string_view text) const;
  std::string decode(std::span<const int> ids, bool skip_special_tokens = false) const;

  std::string token_string(int id) const;        // "" for an unknown id
  std::optional<int> token_id(std::string_view token) const;  // vocabulary or added token
  bool is_special(int id) const;                  // an added token flagged special
  bool is_added(int id) const;
  int vocab_size() const;                         // highest id + 1

  class Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace folio::engine::text
