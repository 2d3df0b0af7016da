// `folio run` end to end with the reference checkpoint over copies of samples/: outputs valid against
// docs/output.schema.json, resume after SIGKILL, shards, bad files among good ones, deadlines; and input
// discovery and sharding on their own.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>
// valijson's json_pointer trips GCC 12's known false -Wrestrict positive (GCC PR 105329) when inlined.
#pragma GCC diagnostic ignored "-Wrestrict"
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "common/error.hpp"
#include "pipeline/inputs.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
namespace pl = folio::pipeline;

namespace {

fs::path checkpoint() { return folio::test::reference_dir() / "tiny-a" / "checkpoint"; }

void touch(const fs::path& p, const std::string& text = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A small corpus: the samples in a tree, plus a schema asking two fields.
struct Corpus {
  folio::test::TempDir dir{"folio-run"};
  fs::path in = dir.path() / "in", out = dir.path() / "out", schema = dir.path() / "schema.yaml";
  explicit Corpus(int copies = 1) {
    const auto s = folio::test::samples_dir();
    for (int c = 0; c < copies; ++c) {
      const fs::path sub = in / ("batch" + std::to_string(c));
      fs::create_directories(sub / "scans");
      fs::copy(s / "invoice.pdf", sub / "invoice.pdf");
      fs::copy(s / "form.png", sub / "form.png");
      fs::copy(s / "receipt-photo.jpg", sub / "receipt.jpg");
      fs::copy(s / "scan-skewed.tif", sub / "scans" / "scan.tif");
    }
    std::ofstream(schema) << "name: test-invoice\n"
                             "fields:\n"
                             "  - name: total\n"
                             "    question: What is the total amount?\n"
                             "    type: string\n"
                             "  - name: vendor\n"
                             "    question: Who is the vendor?\n"
                             "    type: string\n"
                             "    pages: first\n";
  }
  std::string command(const std::string& extra = "") const {
    return folio::test::folio_bin() + " -q run " + in.string() + " --schema " + schema.string() + " -o " + out.string() +
           " --model " + checkpoint().string() + " --precision fp32 --max-new-tokens 4 " + extra;
  }
  std::vector<fs::path> outputs() const {
    std::vector<fs::path> r;
    if (!fs::exists(out)) return r;
    for (const auto& e : fs::recursive_directory_iterator(out))
      if (e.path().extension() == ".json" && e.path().filename().string()[0] != '.') r.push_back(e.path());
    std::sort(r.begin(), r.end());
    return r;
  }
  std::vector<json> manifest() const {
    std::vector<json> r;
    std::ifstream f(out / "folio-run.jsonl");
    std::string line;
    while (std::getline(f, line))
      if (!line.empty()) r.push_back(json::parse(line));
    return r;
  }
};

class OutputValidator {
 public:
  OutputValidator() {
    std::ifstream f(folio::test::source_dir() / "docs" / "output.schema.json");
    schema_doc_ = json::parse(f);
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema_doc_);
    parser.populateSchema(adapter, schema_);
  }
  std::string errors(const json& doc) const {
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(doc);
    if (validator.validate(schema_, target, &results)) return "";
    std::string out;
    valijson::ValidationResults::Error e;
    while (results.popError(e)) {
      std::string path;
      for (const auto& p : e.context) path += p;
      out += path + ": " + e.description + "\n";
    }
    return out;
  }

 private:
  json schema_doc_;
  valijson::Schema schema_;
};

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(inputs)

BOOST_AUTO_TEST_CASE(folders_globs_lists_and_filters) {
  folio::test::TempDir d;
  touch(d.path() / "a" / "x.pdf");
  touch(d.path() / "a" / "sub" / "y.tif");
  touch(d.path() / "a" / ".hidden" / "z.pdf");
  touch(d.path() / "a" / "notes.txt");
  const auto all = pl::discover_inputs({(d.path() / "a").string()});
  std::vector<std::string> rel;
  for (const auto& f : all) rel.push_back(f.relative.generic_string());
  BOOST_TEST((rel == std::vector<std::string>{"notes.txt", "sub/y.tif", "x.pdf"}));

  const auto globbed = pl::discover_inputs({(d.path() / "a" / "**" / "*.tif").string()});
  BOOST_TEST_REQUIRE(globbed.size() == 1u);
  BOOST_TEST(globbed[0].relative.generic_string() == "sub/y.tif");

  pl::InputOptions opt;
  opt.exclude = {"*.txt"};
  BOOST_TEST(pl::discover_inputs({(d.path() / "a").string()}, opt).size() == 2u);
  opt.exclude.clear();
  opt.include = {"**/*.tif"};
  BOOST_TEST(pl::discover_inputs({(d.path() / "a").string()}, opt).size() == 1u);

  std::ofstream(d.path() / "list.txt") << "# inputs\n" << (d.path() / "a" / "x.pdf").string() << "\n\n";
  const auto listed = pl::discover_inputs({"@" + (d.path() / "list.txt").string()});
  BOOST_TEST_REQUIRE(listed.size() == 1u);
  BOOST_TEST(listed[0].relative.generic_string() == "x.pdf");

  BOOST_CHECK_THROW(pl::discover_inputs({(d.path() / "nope").string()}), folio::Error);
  BOOST_CHECK_THROW(pl::discover_inputs({(d.path() / "*.none").string()}), folio::Error);
  // Two different files that would write the same output are refused; the same file twice is one.
  touch(d.path() / "b" / "x.pdf", "other");
  BOOST_CHECK_THROW(pl::discover_inputs({(d.path() / "a" / "x.pdf").string(), (d.path() / "b" / "x.pdf").string()}),
                    folio::Error);
  BOOST_TEST(pl::discover_inputs({(d.path() / "a" / "x.pdf").string(), (d.path() / "a" / "x.pdf").string()}).size() == 1u);
}

BOOST_AUTO_TEST_CASE(glob_matching) {
  BOOST_TEST(pl::glob_match("*.pdf", "a.pdf"));
  BOOST_TEST(!pl::glob_match("*.pdf", "dir/a.pdf"));
  BOOST_TEST(pl::glob_match("**/*.pdf", "a.pdf"));
  BOOST_TEST(pl::glob_match("**/*.pdf", "x/y/a.pdf"));
  BOOST_TEST(pl::glob_match("scans/**", "scans/2024/a.tif"));
  BOOST_TEST(pl::glob_match("inv-[0-9]?.pdf", "inv-12.pdf"));
  BOOST_TEST(!pl::glob_match("inv-[0-9]?.pdf", "inv-a2.pdf"));
}

BOOST_AUTO_TEST_CASE(shards_partition_the_inputs_stably) {
  std::vector<pl::InputFile> files;
  for (int i = 0; i < 100; ++i) {
    const auto name = fmt::format("f{}.pdf", i);
    files.push_back({name, fs::path("dir") / name});
  }
  std::multiset<std::string> seen;
  for (int i = 1; i <= 3; ++i) {
    const auto part = pl::select_shard(files, pl::parse_shard(std::to_string(i) + "/3"));
    BOOST_TEST(part.size() > 15u);  // a hash partition, roughly even
    for (const auto& f : part) seen.insert(f.relative.string());
  }
  BOOST_TEST(seen.size() == 100u);
  BOOST_TEST(std::set<std::string>(seen.begin(), seen.end()).size() == 100u);
  // Order of discovery does not matter.
  auto reversed = files;
  std::reverse(reversed.begin(), reversed.end());
  const auto a = pl::select_shard(files, {1, 3}), b = pl::select_shard(reversed, {1, 3});
  BOOST_TEST(a.size() == b.size());
  for (const char* bad : {"0/3", "4/3", "x", "1/0", "2-3"}) BOOST_CHECK_THROW(pl::parse_shard(bad), folio::Error);

  auto s = pl::shard_from_environment({{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_MIN", "4"}, {"SLURM_ARRAY_TASK_COUNT", "3"}},
                                      std::nullopt);
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(s->index == 1);
  BOOST_TEST(s->count == 3);
  s = pl::shard_from_environment({{"JOB_COMPLETION_INDEX", "2"}}, 4);
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST((s->index == 2 && s->count == 4));
  BOOST_CHECK_THROW(pl::shard_from_environment({{"JOB_COMPLETION_INDEX", "2"}}, std::nullopt), folio::Error);
  BOOST_TEST(!pl::shard_from_environment({}, std::nullopt).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(run_end_to_end)

BOOST_AUTO_TEST_CASE(outputs_mirror_the_tree_and_validate) {
  Corpus c;
  const auto r = folio::test::run_command(c.command("--jsonl - 2>/dev/null"));
  BOOST_TEST_REQUIRE(r.status == 0, r.out);
  const auto outs = c.outputs();
  BOOST_TEST_REQUIRE(outs.size() == 4u);
  BOOST_TEST(fs::exists(c.out / "batch0" / "scans" / "scan.tif.json"));
  const OutputValidator v;
  for (const auto& p : outs) {
    const auto doc = read_json(p);
    BOOST_TEST(v.errors(doc).empty(), p << ": " << v.errors(doc));
    BOOST_TEST(doc["status"] == "ok");
    BOOST_TEST(doc["fields"].contains("total"));
    // `vendor` is asked on the first page only; `total` on every page, with candidates when several.
    BOOST_TEST(doc["fields"]["vendor"]["page"] == 1);
    if (doc["source"]["page_count"] > 1) BOOST_TEST(doc["fields"]["total"]["candidates"].size() == doc["source"]["page_count"]);
    const double conf = doc["fields"]["total"]["confidence"];
    BOOST_TEST((conf > 0.0 && conf <= 1.0));
  }
  // --jsonl - : one line per document on stdout, nothing else there.
  std::istringstream lines(r.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    BOOST_TEST(v.errors(json::parse(line)).empty());
    ++n;
  }
  BOOST_TEST(n == 4);
  // A rerun skips everything; --force redoes it.
  BOOST_TEST(folio::test::run_command(c.command("2>/dev/null")).status == 0);
  auto m = c.manifest();
  BOOST_TEST(std::count_if(m.begin(), m.end(), [](const json& j) { return j["status"] == "skipped"; }) == 4);
  BOOST_TEST(folio::test::run_command(c.command("--force 2>/dev/null")).status == 0);
  m = c.manifest();
  BOOST_TEST(std::count_if(m.begin(), m.end(), [](const json& j) { return j["status"] == "ok"; }) == 8);
  // --dry-run lists without running.
  const auto dry = folio::test::run_command(c.command("--dry-run --force 2>/dev/null"));
  BOOST_TEST(dry.status == 0);
  BOOST_TEST(dry.out.find("4 to process (6 pages)") != std::string::npos, dry.out);
}

BOOST_AUTO_TEST_CASE(bad_files_fail_alone) {
  Corpus c;
  touch(c.in / "broken.pdf", "%PDF-1.4\nnot really a pdf");
  touch(c.in / "notes.txt", "hello");
  fs::copy(folio::test::samples_dir() / "invoice-protected.pdf", c.in / "locked.pdf");
  const auto r = folio::test::run_command(c.command("2>&1"));
  BOOST_TEST(r.status == 1, r.out);
  BOOST_TEST(r.out.find("locked.pdf") != std::string::npos, r.out);
  const OutputValidator v;
  int failed = 0, ok = 0;
  for (const auto& p : c.outputs()) {
    const auto doc = read_json(p);
    BOOST_TEST(v.errors(doc).empty(), p << ": " << v.errors(doc));
    if (doc["status"] == "failed") {
      ++failed;
      BOOST_TEST(!doc["error"]["message"].get<std::string>().empty());
    } else {
      ++ok;
    }
  }
  BOOST_TEST(failed == 3);
  BOOST_TEST(ok == 4);
  // With the password the locked one succeeds, and only the failures are retried.
  BOOST_TEST(folio::test::run_command(c.command("--password folio-sample 2>/dev/null")).status == 1);
  BOOST_TEST(read_json(c.out / "locked.pdf.json")["status"] == "ok");
}

BOOST_AUTO_TEST_CASE(shards_cover_every_document_once) {
  Corpus c(2);
  for (int i = 1; i <= 3; ++i)
    BOOST_TEST(folio::test::run_command(c.command("--shard " + std::to_string(i) + "/3 2>/dev/null")).status == 0);
  const auto m = c.manifest();
  std::map<std::string, int> done;
  for (const auto& j : m)
    if (j["status"] == "ok") ++done[j["path"].get<std::string>()];
  BOOST_TEST(done.size() == 8u);
  for (const auto& [path, n] : done) BOOST_TEST(n == 1, path);
}

BOOST_AUTO_TEST_CASE(killed_run_resumes_and_does_each_document_once) {
  Corpus c(4);  // 16 documents
  const std::string cmd = c.command("2>/dev/null");
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it hard once a few documents are done.
  for (int i = 0; i < 600 && c.manifest().size() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto first = c.manifest().size();
  BOOST_TEST(first >= 3u);
  BOOST_TEST(first < 16u, "the run finished before it could be killed");
  BOOST_TEST(folio::test::run_command(cmd).status == 0);
  std::map<std::string, int> ok;
  for (const auto& j : c.manifest())
    if (j["status"] == "ok") ++ok[j["path"].get<std::string>()];
  BOOST_TEST(ok.size() == 16u);
  for (const auto& [path, n] : ok) BOOST_TEST(n == 1, path << " processed " << n << " times");
  // No temporary or half-written file anywhere.
  for (const auto& e : fs::recursive_directory_iterator(c.out)) {
    BOOST_TEST(e.path().filename().string().find(".tmp") == std::string::npos, e.path());
    if (e.path().extension() == ".json") BOOST_CHECK_NO_THROW(read_json(e.path()));
  }
}

BOOST_AUTO_TEST_CASE(ctrl_c_stops_cleanly_with_130) {
  Corpus c(4);
  const std::string cmd = c.command("2>/dev/null");
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600 && c.manifest().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 130);
  for (const auto& p : c.outputs()) BOOST_CHECK_NO_THROW(read_json(p));  // whole files only
  BOOST_TEST(c.outputs().size() < 16u);
  BOOST_TEST(folio::test::run_command(cmd).status == 0);
  BOOST_TEST(c.outputs().size() == 16u);
}

BOOST_AUTO_TEST_CASE(a_stuck_document_hits_its_deadline) {
  Corpus c;
  BOOST_TEST_REQUIRE(mkfifo((c.in / "stuck.pdf").c_str(), 0600) == 0);  // reading it blocks forever
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = folio::test::run_command(c.command("--timeout-per-doc 3 2>&1"));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(r.status == 1, r.out);
  BOOST_TEST(seconds < 60);
  const auto doc = read_json(c.out / "stuck.pdf.json");
  BOOST_TEST(doc["status"] == "failed");
  BOOST_TEST(doc["error"]["kind"] == "timeout");
  BOOST_TEST(c.outputs().size() == 5u);
}

BOOST_AUTO_TEST_CASE(usage_and_model_errors_have_their_exit_codes) {
  Corpus c;
  const std::string bin = folio::test::folio_bin() + " -q run " + c.in.string() + " -o " + c.out.string();
  BOOST_TEST(folio::test::run_command(bin + " --schema /nonexistent.yaml --model " + checkpoint().string() + " 2>/dev/null").status == 2);
  BOOST_TEST(folio::test::run_command(bin + " --schema " + c.schema.string() + " --model " + checkpoint().string() +
                                      " --pages 3-1 2>/dev/null").status == 2);
  const auto missing = folio::test::run_command(bin + " --schema " + c.schema.string() + " --model /nonexistent/model 2>&1");
  BOOST_TEST(missing.status == 3);
  BOOST_TEST(missing.out.find("fetch-model") != std::string::npos, missing.out);
}

BOOST_AUTO_TEST_SUITE_END()
