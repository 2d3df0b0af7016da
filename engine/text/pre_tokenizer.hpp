// Pre-tokenizers of tokenizer.json that Folio supports: Sequence, Digits and ByteLevel (with the GPT-2
// regex), as HF tokenizers applies them. A pre-tokenizer cuts text into pieces that BPE never merges across.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace folio::engine::text {

// A piece as a byte range [begin, end) of the text given to split().
using Span = std::pair<std::size_t, std::size_t>;

class PreTokenizer {
 public:
  // Throws folio::Error (Model) naming `file` for an unsupported type or option.
  static std::unique_ptr<PreTokenizer> from_json(const nlohmann::json& j, const std::string& file);
  virtual ~PreTokenizer() = default;
  // Splits every span of `text` further; thread-safe.
  virtual std::vector<Span> split(std::string_view text, const std::vector<Span>& spans) const = 0;
  // True when pieces are mapped to the byte-level alphabet before BPE.
  virtual bool byte_level() const { return false; }
};

}  // namespace folio::engine::text
