#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/text/pre_tokenizer.hpp"

#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace folio::engine::text {
namespace {

// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available). Matching uses a fresh match
// block per call, so one Regex serves many threads.
class Regex {
 public:
  explicit Regex(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err,
                          &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw Error(ErrorKind::Internal, "bad pre-tokenizer regex: " + std::string(reinterpret_cast<char*>(msg)));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(begin, end) for every non-overlapping match in text[from, to).
  template <typename F>
  void for_each_match(std::string_view text, std::size_t from, std::size_t to, F on_match) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t pos = from;
    while (pos < to) {
      // Invalid UTF-8 is checked once by the caller (tokenizer input is validated), so skip the check here.
      const int rc = pcre2_match(code_, subject, to, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) {  // empty match: step one code point
        ++pos;
        while (pos < to && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
        continue;
      }
      on_match(ov[0], ov[1]);
      pos = ov[1];
    }
    pcre2_match_data_free(md);
  }

 private:
  pcre2_code* code_ = nullptr;
};

// Splits with "Isolated" delimiter behaviour: matches and the gaps between them all become pieces.
std::vector<Span> split_isolated(const Regex& re, std::string_view text, const std::vector<Span>& spans) {
  std::vector<Span> out;
  for (const auto& [b, e] : spans) {
    std::size_t last = b;
    re.for_each_match(text, b, e, [&](std::size_t mb, std::size_t me) {
      if (mb > last) out.emplace_back(last, mb);
      out.emplace_back(mb, me);
      last = me;
    });
    if (last < e) out.emplace_back(last, e);
  }
  return out;
}

class Sequence : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  std::vector<Span> split(std::string_view text, const std::vector<Span>& spans) const override {
    std::vector<Span> cur = spans;
    for (const auto& s : steps) cur = s->split(text, cur);
    return cur;
  }
  bool byte_level() const override {
    for (const auto& s : steps)
      if (s->byte_level()) return true;
    return false;
  }
};

class Digits : public PreTokenizer {
 public:
  explicit Digits(bool individual) : individual_(individual), re_(individual ? "\\p{N}" : "\\p{N}+") {}
  std::vector<Span> split(std::string_view text, const std::vector<Span>& spans) const override {
    return split_isolated(re_, text, spans);
  }

 private:
  bool individual_;
  Regex re_;
};

// GPT-2's pattern as HF's ByteLevel pre-tokenizer has it (the trailing \s+ included).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel : public PreTokenizer {
 public:
  explicit ByteLevel(bool use_regex) : use_regex_(use_regex), re_(kGpt2Pattern) {}
  std::vector<Span> split(std::string_view text, const std::vector<Span>& spans) const override {
    return use_regex_ ? split_isolated(re_, text, spans) : spans;
  }
  bool byte_level() const override { return true; }

 private:
  bool use_regex_;
  Regex re_;
};

}  // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const nlohmann::json& j, const std::string& file) {
  auto unsupported = [&](const std::string& what) -> Error {
    return Error(ErrorKind::Model, "unsupported pre_tokenizer: " + what, {file});
  };
  if (!j.is_object() || !j.contains("type")) throw unsupported(j.dump());
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    auto seq = std::make_unique<Sequence>();
    for (const auto& s : j.at("pretokenizers")) seq->steps.push_back(from_json(s, file));
    return seq;
  }
  if (type == "Digits") return std::make_unique<Digits>(j.value("individual_digits", false));
  if (type == "ByteLevel") {
    if (j.value("add_prefix_space", false)) throw unsupported("ByteLevel with add_prefix_space");
    return std::make_unique<ByteLevel>(j.value("use_regex", true));
  }
  throw unsupported(type);
}

}  // namespace folio::engine::text
