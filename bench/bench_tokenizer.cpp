// Tokenizer throughput (MB/s, one thread) on a few MB of mixed text: the project's own docs and sources
// (English prose, code, numbers, punctuation) interleaved with invoice-like lines in several scripts.
// Usage: bench_tokenizer [tokenizer.json] [megabytes]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/text/tokenizer.hpp"

namespace fs = std::filesystem;

namespace {

std::string corpus(std::size_t bytes) {
  std::string own;
  for (const char* dir : {"docs", "engine", "stages", "pipeline", "cli"}) {
    const fs::path d = fs::path(FOLIO_SOURCE_DIR) / dir;
    if (!fs::exists(d)) continue;
    for (const auto& e : fs::recursive_directory_iterator(d)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      own.append(std::istreambuf_iterator<char>(in), {});
    }
  }
  // Lines a document extraction run sees: amounts, dates, ids, names in Latin, Greek, Cyrillic, CJK.
  const char* words[] = {"Rechnung", "Facture", "Invoice", "Σύνολο", "Итого", "合計", "請求書", "naïve", "Straße",
                         "total", "due", "VAT", "IBAN", "Kunde", "client", "über", "€", "£", "¥", "—", "…"};
  std::mt19937 rng(7);
  std::string mixed;
  while (mixed.size() < own.size() / 2) {
    mixed += words[rng() % std::size(words)];
    mixed += ' ';
    mixed += std::to_string(rng() % 100000) + "." + std::to_string(rng() % 100);
    mixed += rng() % 3 ? " " : "\n";
    if (rng() % 5 == 0) mixed += std::to_string(2000 + rng() % 30) + "-" + std::to_string(1 + rng() % 12) + "-" + std::to_string(1 + rng() % 28) + "\n";
  }
  std::string out;
  while (out.size() < bytes) {
    out += own;
    out += mixed;
  }
  out.resize(bytes);
  // Do not cut a UTF-8 sequence in half at the end.
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
  if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xc0) out.pop_back();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using Clock = std::chrono::steady_clock;
  const fs::path path = argc > 1 ? fs::path(argv[1]) : fs::path(FOLIO_SOURCE_DIR) / ".." / "shared" / "reference" / "tokenizer" / "tokenizer.json";
  const double mb = argc > 2 ? std::stod(argv[2]) : 4.0;
  const auto tok = folio::engine::text::Tokenizer::load(path);
  const std::string text = corpus(static_cast<std::size_t>(mb * 1e6));

  std::vector<double> seconds;
  std::size_t tokens = 0;
  for (int r = 0; r < 5; ++r) {
    // A fresh tokenizer each repetition so its merge cache starts cold, as in a new run.
    const auto fresh = folio::engine::text::Tokenizer::load(path);
    const auto t0 = Clock::now();
    tokens = fresh.encode(text).size();
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const double med = seconds[seconds.size() / 2];
  std::printf("bench_tokenizer: %s\n  %.2f MB of mixed text -> %zu tokens (%.2f bytes/token)\n", path.string().c_str(),
              text.size() / 1e6, tokens, static_cast<double>(text.size()) / tokens);
  std::printf("  encode: min %.3f s, median %.3f s = %.1f MB/s (one thread, cold merge cache)\n", seconds.front(), med,
              text.size() / 1e6 / med);
  const auto t0 = Clock::now();
  const auto ids = tok.encode(text);
  const auto decoded = tok.decode(ids, /*skip_special=*/false);
  const double dec = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("  encode+decode round trip %s, %.1f MB/s\n", decoded == text ? "exact" : "DIFFERS", text.size() / 1e6 / dec);
  return decoded == text ? 0 : 1;
}
