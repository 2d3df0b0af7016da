#include "engine/text/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <shared_mutex>
#include <unordered_map>

#include "common/error.hpp"
#include "engine/text/byte_level.hpp"
#include "engine/text/pre_tokenizer.hpp"

namespace folio::engine::text {

namespace {

struct AddedToken {
  int id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

struct Merge {
  int rank;
  int id;
};

std::uint64_t pair_key(int a, int b) { return static_cast<std::uint64_t>(a) << 32 | static_cast<std::uint32_t>(b); }

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// A piece of the input after added-token matching: either an added token or plain text [begin, end).
struct Segment {
  int added_id = -1;
  std::size_t begin = 0, end = 0;
};

}  // namespace

class Tokenizer::Impl {
 public:
  std::string file;
  std::unordered_map<std::string, int> vocab;
  std::vector<std::string> id_to_token;
  std::unordered_map<std::uint64_t, Merge> merges;
  std::vector<AddedToken> added;                   // longest first
  std::vector<int> added_index_by_id;              // id -> index into `added`, or -1
  std::array<std::vector<int>, 256> added_by_first_byte;
  std::unique_ptr<PreTokenizer> pre;
  bool byte_level = false;
  std::array<int, 256> byte_ids{};

  // Cache of BPE results per piece (pieces repeat a lot in real text).
  mutable std::shared_mutex cache_mutex;
  struct PieceHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  mutable std::unordered_map<std::string, std::vector<int>, PieceHash, std::equal_to<>> cache;
  std::vector<int> raw_bytes;  // id -> how many input bytes its vocabulary string stands for

  // Appends the ids of `text` (already checked to be UTF-8); with `on_token`, reports each id's byte range.
  template <typename OnToken>
  void encode_into(std::string_view text, std::vector<int>& ids, OnToken on_token) const;

  std::vector<Segment> split_added(std::string_view text) const;
  void bpe(std::string_view piece_bytes, std::vector<int>& out) const;
};

std::vector<Segment> Tokenizer::Impl::split_added(std::string_view text) const {
  std::vector<Segment> out;
  std::size_t plain = 0, i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    for (int idx : added_by_first_byte[static_cast<unsigned char>(text[i])]) {
      const AddedToken& t = added[idx];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        const bool left_ok = i == 0 || !is_word_byte(static_cast<unsigned char>(text[i - 1]));
        const std::size_t e = i + t.content.size();
        const bool right_ok = e >= text.size() || !is_word_byte(static_cast<unsigned char>(text[e]));
        if (!left_ok || !right_ok) continue;
      }
      hit = &t;  // candidates are longest first
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    std::size_t b = i, e = i + hit->content.size();
    if (hit->lstrip)
      while (b > plain && is_space(static_cast<unsigned char>(text[b - 1]))) --b;
    if (hit->rstrip)
      while (e < text.size() && is_space(static_cast<unsigned char>(text[e]))) ++e;
    if (b > plain) out.push_back({-1, plain, b});
    out.push_back({hit->id, b, e});
    plain = i = e;
  }
  if (plain < text.size()) out.push_back({-1, plain, text.size()});
  return out;
}

void Tokenizer::Impl::bpe(std::string_view piece, std::vector<int>& out) const {
  {
    std::shared_lock lock(cache_mutex);
    auto it = cache.find(piece);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // Symbols as a doubly linked list; a min-heap of (rank, position) pairs, stale entries skipped.
  const int n = static_cast<int>(piece.size());
  std::vector<int> sym(n), prev(n), next(n);
  for (int k = 0; k < n; ++k) {
    sym[k] = byte_ids[static_cast<unsigned char>(piece[k])];
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  using Item = std::tuple<int, int, int, int>;  // rank, left position, left id, right id
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
  auto push = [&](int left) {
    const int right = next[left];
    if (left < 0 || right < 0) return;
    auto it = merges.find(pair_key(sym[left], sym[right]));
    if (it != merges.end()) heap.emplace(it->second.rank, left, sym[left], sym[right]);
  };
  for (int k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    auto [rank, left, a, b] = heap.top();
    heap.pop();
    const int right = next[left];
    if (sym[left] != a || right < 0 || sym[right] != b) continue;  // stale
    sym[left] = merges.find(pair_key(a, b))->second.id;
    sym[right] = -1;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    if (prev[left] >= 0) push(prev[left]);
    push(left);
  }
  std::vector<int> ids;
  for (int k = 0; k >= 0 && k < n; k = next[k]) ids.push_back(sym[k]);
  out.insert(out.end(), ids.begin(), ids.end());
  std::unique_lock lock(cache_mutex);
  if (cache.size() > 200000) cache.clear();  // bounded: a fresh start is cheaper than LRU bookkeeping
  cache.emplace(std::string(piece), std::move(ids));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->file = path.string();
  std::ifstream in(path);
  if (!in) throw Error(ErrorKind::Model, "cannot read tokenizer", {path.string()});
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw Error(ErrorKind::Model, "not valid JSON", {path.string()});
  auto unsupported = [&](const std::string& what) { return Error(ErrorKind::Model, "unsupported " + what, {path.string()}); };

  if (j.contains("normalizer") && !j["normalizer"].is_null())
    throw unsupported("normalizer " + j["normalizer"].value("type", std::string("?")));
  if (!j.contains("model") || !j["model"].is_object()) throw Error(ErrorKind::Model, "no \"model\" section", {path.string()});
  const auto& m = j["model"];
  if (m.value("type", std::string("BPE")) != "BPE") throw unsupported("model type " + m.value("type", std::string()));
  if (m.value("byte_fallback", false)) throw unsupported("BPE byte_fallback");
  if (m.value("ignore_merges", false)) throw unsupported("BPE ignore_merges");
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0) throw unsupported("BPE dropout");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(key) && !m[key].is_null() && !m[key].get<std::string>().empty()) throw unsupported(std::string("BPE ") + key);

  int max_id = -1;
  for (auto it = m.at("vocab").begin(); it != m.at("vocab").end(); ++it) {
    const int id = it.value().get<int>();
    impl->vocab[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  for (const auto& t : j.value("added_tokens", nlohmann::json::array())) max_id = std::max(max_id, t.at("id").get<int>());
  impl->id_to_token.assign(max_id + 1, std::string());
  for (const auto& [tok, id] : impl->vocab) impl->id_to_token[id] = tok;

  int rank = 0;
  for (const auto& mg : m.at("merges")) {
    std::string a, b;
    if (mg.is_string()) {
      const std::string s = mg.get<std::string>();
      const auto sp = s.find(' ');
      if (sp == std::string::npos) throw Error(ErrorKind::Model, "bad merge '" + s + "'", {path.string()});
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      a = mg.at(0).get<std::string>();
      b = mg.at(1).get<std::string>();
    }
    auto ia = impl->vocab.find(a), ib = impl->vocab.find(b), iab = impl->vocab.find(a + b);
    if (ia == impl->vocab.end() || ib == impl->vocab.end() || iab == impl->vocab.end())
      throw Error(ErrorKind::Model, "merge '" + a + " " + b + "' uses a token missing from the vocabulary", {path.string()});
    impl->merges.emplace(pair_key(ia->second, ib->second), Merge{rank++, iab->second});
  }

  impl->pre = j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()
                  ? PreTokenizer::from_json(j["pre_tokenizer"], path.string())
                  : nullptr;
  impl->byte_level = impl->pre && impl->pre->byte_level();
  if (!impl->byte_level) throw unsupported("tokenizer: only byte-level BPE (a ByteLevel pre_tokenizer) is supported");
  const auto& dec = j.value("decoder", nlohmann::json());
  if (!dec.is_null() && dec.value("type", std::string()) != "ByteLevel")
    throw unsupported("decoder " + dec.value("type", std::string("?")));
  const auto& post = j.value("post_processor", nlohmann::json());
  if (!post.is_null() && post.value("type", std::string()) != "ByteLevel")
    throw unsupported("post_processor " + post.value("type", std::string("?")) + " (it would add tokens)");
  for (int b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(s, byte_to_char(static_cast<std::uint8_t>(b)));
    auto it = impl->vocab.find(s);
    if (it == impl->vocab.end())
      throw Error(ErrorKind::Model, "byte-level vocabulary lacks the symbol of byte " + std::to_string(b), {path.string()});
    impl->byte_ids[b] = it->second;
  }

  for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
    AddedToken a;
    a.id = t.at("id").get<int>();
    a.content = t.at("content").get<std::string>();
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.single_word = t.value("single_word", false);
    if (a.content.empty()) continue;
    impl->id_to_token[a.id] = a.content;
    impl->added.push_back(std::move(a));
  }
  std::stable_sort(impl->added.begin(), impl->added.end(),
                   [](const AddedToken& x, const AddedToken& y) { return x.content.size() > y.content.size(); });
  impl->raw_bytes.assign(impl->id_to_token.size(), 0);
  for (const auto& [tok, id] : impl->vocab) {
    int n = 0;
    for (std::size_t i = 0; i < tok.size(); ++n) next_utf8(tok, i);
    impl->raw_bytes[id] = n;
  }
  impl->added_index_by_id.assign(impl->id_to_token.size(), -1);
  for (int k = 0; k < static_cast<int>(impl->added.size()); ++k) {
    impl->added_index_by_id[impl->added[k].id] = k;
    impl->added_by_first_byte[static_cast<unsigned char>(impl->added[k].content[0])].push_back(k);
  }
  return Tokenizer(std::move(impl));
}

namespace {

void check_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {  // ASCII fast path: most of any real text
      ++i;
      continue;
    }
    if (!next_utf8(s, i)) throw Error(ErrorKind::Input, "text to tokenize is not valid UTF-8 (byte " + std::to_string(i - 1) + ")");
  }
}

}  // namespace

template <typename OnToken>
void Tokenizer::Impl::encode_into(std::string_view text, std::vector<int>& ids, OnToken on_token) const {
  for (const Segment& seg : split_added(text)) {
    if (seg.added_id >= 0) {
      ids.push_back(seg.added_id);
      on_token(seg.begin, seg.end);
      continue;
    }
    for (const auto& [b, e] : pre->split(text, {{seg.begin, seg.end}})) {
      const std::size_t before = ids.size();
      bpe(text.substr(b, e - b), ids);
      // Each id covers consecutive bytes of the piece.
      std::size_t pos = b;
      for (std::size_t k = before; k < ids.size(); ++k) {
        const std::size_t end = pos + static_cast<std::size_t>(raw_bytes[ids[k]]);
        on_token(pos, end);
        pos = end;
      }
    }
  }
}

Encoding Tokenizer::encode_full(std::string_view text) const {
  check_utf8(text);
  // Code-point index of every byte, for offsets.
  std::vector<std::size_t> cp_of_byte(text.size() + 1);
  std::size_t cp = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && i > 0) ++cp;
    cp_of_byte[i] = cp;
  }
  const std::size_t total_cp = text.empty() ? 0 : cp + 1;
  cp_of_byte[text.size()] = total_cp;
  auto cp_end = [&](std::size_t byte_end) { return byte_end >= text.size() ? total_cp : cp_of_byte[byte_end - 1] + 1; };

  Encoding enc;
  // The offsets are the characters each token's bytes touch.
  impl_->encode_into(text, enc.ids, [&](std::size_t b, std::size_t e) { enc.offsets.emplace_back(cp_of_byte[b], cp_end(e)); });
  for (int id : enc.ids) enc.pieces.push_back(impl_->id_to_token[id]);
  return enc;
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  check_utf8(text);
  std::vector<int> ids;
  ids.reserve(text.size() / 3);
  impl_->encode_into(text, ids, [](std::size_t, std::size_t) {});
  return ids;
}

std::string Tokenizer::decode(std::span<const int> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || id >= static_cast<int>(impl_->id_to_token.size())) continue;
    if (skip_special_tokens && is_special(id)) continue;
    const std::string& tok = impl_->id_to_token[id];
    // Byte-level decoding; a token with a character outside the alphabet keeps its own UTF-8 bytes.
    std::string mapped;
    bool ok = true;
    for (std::size_t i = 0; i < tok.size() && ok;) {
      auto c = next_utf8(tok, i);
      auto b = c ? char_to_byte(*c) : std::nullopt;
      if (b) mapped += static_cast<char>(*b);
      else ok = false;
    }
    bytes += ok ? mapped : tok;
  }
  return utf8_lossy(bytes);
}

std::string Tokenizer::token_string(int id) const {
  return id >= 0 && id < static_cast<int>(impl_->id_to_token.size()) ? impl_->id_to_token[id] : std::string();
}

std::optional<int> Tokenizer::token_id(std::string_view token) const {
  for (const auto& a : impl_->added)
    if (a.content == token) return a.id;
  auto it = impl_->vocab.find(std::string(token));
  if (it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

bool Tokenizer::is_added(int id) const {
  return id >= 0 && id < static_cast<int>(impl_->added_index_by_id.size()) && impl_->added_index_by_id[id] >= 0;
}

bool Tokenizer::is_special(int id) const { return is_added(id) && impl_->added[impl_->added_index_by_id[id]].special; }

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->id_to_token.size()); }

}  // namespace folio::engine::text
