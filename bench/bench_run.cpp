// End to end: `folio run` as users run it, timed and measured from outside (wall time, peak RSS).
//  1. pages per minute over samples/ with random weights in the real SmolVLM-256M shapes and a
//     10-field schema asked on every page;
//  2. peak resident memory on generated 50- and 500-page PDFs, which must stay flat as pages grow
//     (with the small reference checkpoint: this measures the pipeline's streaming, not the model).
// Usage: bench_run [--quick] (quick: 20 and 200 pages instead of 50 and 500, for a smoke run)

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/child_process.hpp"
#include "engine/model/random_checkpoint.hpp"

namespace fs = std::filesystem;

namespace {

struct Measured {
  int status = -1;
  double seconds = 0, peak_rss_mb = 0;
};

Measured run(const std::vector<std::string>& args) {
  const folio::ChildRun r = folio::run_and_measure(args);
  return {r.exit_code, r.seconds, r.peak_rss_mb};
}

// A plain PDF of `pages` letter-size pages of text lines, written by hand (no PDF writer is a dependency).
void write_pdf(const fs::path& path, int pages) {
  std::vector<std::string> objects;  // 1-based object numbers
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("");  // pages tree, filled below
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  std::string kids;
  for (int p = 0; p < pages; ++p) {
    std::string content = "BT /F1 11 Tf 60 740 Td 14 TL\n";
    content += "(INVOICE No. INV-" + std::to_string(10000 + p) + "   Page " + std::to_string(p + 1) + ") Tj T*\n";
    for (int line = 0; line < 40; ++line)
      content += "(Item " + std::to_string(line + 1) + "  Widget model " + std::to_string((p * 7 + line) % 97) +
                 "   qty 3   unit 12.50   amount 37.50 EUR) Tj T*\n";
    content += "(Total due: 1,500.00 EUR) Tj ET\n";
    objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content + "endstream");
    const int content_obj = static_cast<int>(objects.size());
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents " +
                      std::to_string(content_obj) + " 0 R >>");
    kids += std::to_string(objects.size()) + " 0 R ";
  }
  objects[1] = "<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages) + " >>";
  std::string out = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const auto xref = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (auto o : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", o);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R >>\nstartxref\n" + std::to_string(xref) +
         "\n%%EOF\n";
  std::ofstream(path, std::ios::binary) << out;
}

void write_schema(const fs::path& path, int fields) {
  std::ofstream s(path);
  s << "name: bench\nfields:\n";
  const char* questions[] = {"What is the invoice number?", "What is the invoice date?", "Who issued the invoice?",
                             "Who is the customer?", "What is the total amount due?", "What is the tax amount?",
                             "What is the due date?", "What is the currency?", "What is the purchase order number?",
                             "What is the IBAN?"};
  for (int i = 0; i < fields; ++i)
    s << "  - name: f" << i << "\n    question: " << questions[i % 10] << "\n    type: string\n";
}

int count_pages(const fs::path& dir) {
  int pages = 0;
  std::ifstream m(dir / "folio-run.jsonl");
  std::string line;
  while (std::getline(m, line)) {
    const auto at = line.find("\"pages\":");
    if (at != std::string::npos) pages += std::stoi(line.substr(at + 8));
  }
  return pages;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  const fs::path src = FOLIO_SOURCE_DIR;
  const std::string folio = std::getenv("FOLIO_BIN") ? std::getenv("FOLIO_BIN") : (src / "build" / "cli" / "folio").string();
  const fs::path tmp = fs::temp_directory_path() / "folio-bench-run";
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  // 1. samples/ with 256M shapes.
  const fs::path model = tmp / "smolvlm-256m-random";
  folio::engine::write_random_checkpoint(model, "smolvlm-256m");
  write_schema(tmp / "ten.yaml", 10);
  const auto a = run({folio, "-q", "run", (src / "samples").string(), "--exclude", "*.md", "--schema", (tmp / "ten.yaml").string(),
                      "-o", (tmp / "out-samples").string(), "--model", model.string(), "--password", "folio-sample",
                      "--max-new-tokens", "8", "--force"});
  const int pages = count_pages(tmp / "out-samples");
  std::printf("bench_run: samples/ (%d pages), SmolVLM-256M shapes (random weights, int8), 10 fields a page, 8-token answers\n",
              pages);
  std::printf("  exit %d, %.1f s, %.2f pages/min, peak RSS %.0f MB\n", a.status, a.seconds, pages / a.seconds * 60, a.peak_rss_mb);

  // 2. Memory as pages grow, with the small reference checkpoint.
  const fs::path tiny = src / ".." / "shared" / "reference" / "tiny-a" / "checkpoint";
  write_schema(tmp / "one.yaml", 1);
  for (int n : {quick ? 20 : 50, quick ? 200 : 500}) {
    const fs::path in = tmp / ("pdf-" + std::to_string(n));
    fs::create_directories(in);
    write_pdf(in / "long.pdf", n);
    const auto m = run({folio, "-q", "run", in.string(), "--schema", (tmp / "one.yaml").string(), "-o",
                        (tmp / ("out-" + std::to_string(n))).string(), "--model", tiny.string(), "--max-new-tokens", "2",
                        "--force"});
    std::printf("  %4d-page PDF: exit %d, %.1f s (%.1f pages/s), peak RSS %.0f MB\n", n, m.status, m.seconds, n / m.seconds,
                m.peak_rss_mb);
  }
  fs::remove_all(tmp);
  return 0;
}
