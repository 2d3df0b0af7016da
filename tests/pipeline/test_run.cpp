// `folio run` end to end with the reference checkpoint over copies of samples/: outputs valid against
// docs/output.schema.json, resume after SIGKILL, shards, bad files among good ones, deadlines, limits,
// incomplete documents, JSON logs, page selections, configs, signals; typed values through the pipeline
// with a scripted model (the tiny checkpoint's words normalise to little); and input discovery and
// sharding on their own.
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
#include "pipeline/choose.hpp"
#include "pipeline/inputs.hpp"
#include "pipeline/run.hpp"
#include "pipeline/schema.hpp"
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
  std::string logs = "-q";  // the global flags before `run`
  std::string command(const std::string& extra = "") const {
    return folio::test::folio_bin() + " " + logs + " run " + in.string() + " --schema " + schema.string() + " -o " + out.string() +
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

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// The candidate a field's `page` must name by the reduction rule (docs/output.md), recomputed from the
// candidates the output lists.
int expected_page(const json& field) {
  std::vector<pl::Candidate> cs;
  for (const auto& c : field["candidates"]) {
    pl::Candidate k;
    k.page = c["page"];
    k.confidence = c["confidence"];
    k.normalized.valid = c["valid"];
    k.normalized.present = !c["value"].is_null();
    k.normalized.value = c["value"];
    cs.push_back(k);
  }
  return pl::choose(cs)->page;
}

// A PDF of `pages` blank pages, written by hand (offsets and all) so tests need no PDF tool.
void write_blank_pdf(const fs::path& path, int pages) {
  std::string pdf = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  auto object = [&](const std::string& body) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(offsets.size()) + " 0 obj\n" + body + "\nendobj\n";
  };
  std::string kids;
  for (int i = 0; i < pages; ++i) kids += std::to_string(3 + i) + " 0 R ";
  object("<< /Type /Catalog /Pages 2 0 R >>");
  object("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages) + " >>");
  for (int i = 0; i < pages; ++i) object("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 400] >>");
  const std::size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(offsets.size() + 1) + "\n0000000000 65535 f \n";
  for (auto off : offsets) pdf += fmt::format("{:010d} 00000 n \n", off);
  pdf += "trailer\n<< /Size " + std::to_string(offsets.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  std::ofstream(path, std::ios::binary) << pdf;
}

// Answers scripted per question: the n-th time a question is asked it gets script[n % size], with every
// token at the given log-probability. Stands in for the model where tests need real typed values.
class ScriptedModel : public pl::PageModel {
 public:
  struct Reply {
    std::string text;
    float logprob;
  };
  std::map<std::string, std::vector<Reply>> script;

  int render_longest_edge() const override { return 256; }
  pl::PreparedPage prepare(const folio::RgbImage&) const override { return {1, 1, 1, {}}; }
  std::vector<pl::ModelAnswer> answer(const pl::PreparedPage&, const std::vector<std::string>& questions,
                                      const std::function<bool()>&) override {
    std::vector<pl::ModelAnswer> out;
    for (const auto& q : questions) {
      const auto& replies = script.at(q);
      const Reply& r = replies[asked_[q]++ % replies.size()];
      out.push_back({r.text, std::vector<float>(3, r.logprob), "eos", {}});
    }
    return out;
  }

 private:
  std::map<std::string, int> asked_;
};

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
    if (doc["source"]["page_count"] > 1) {
      const auto& total = doc["fields"]["total"];
      BOOST_TEST_REQUIRE(total["candidates"].size() == doc["source"]["page_count"]);
      for (std::size_t i = 0; i < total["candidates"].size(); ++i) BOOST_TEST(total["candidates"][i]["page"] == i + 1);
      BOOST_TEST(total["page"] == expected_page(total), p);  // the reduction rule picked it
    } else {
      BOOST_TEST(doc["fields"]["total"]["page"] == 1);
    }
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
  // A rerun skips everything (and a dry run says so, with page counts); --force redoes it.
  const auto listed = folio::test::run_command(c.command("--dry-run 2>/dev/null"));
  BOOST_TEST(listed.status == 0);
  BOOST_TEST(listed.out.find("0 to process (0 pages), 4 to skip (6 pages), 0 would fail") != std::string::npos, listed.out);
  BOOST_TEST(listed.out.find("skip     " + (c.in / "batch0" / "invoice.pdf").string() + "  (up to date, 2 pages)") !=
                 std::string::npos, listed.out);
  BOOST_TEST(listed.out.find("skip     " + (c.in / "batch0" / "form.png").string() + "  (up to date, 1 page)") !=
                 std::string::npos, listed.out);
  BOOST_TEST(c.manifest().size() == 4u);  // a dry run records nothing
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

// Starts a run over `documents` copies, sends `sig` once the manifest has a line, and checks exit code 130
// with only whole output files, fewer than all of them.
void signal_stops_cleanly_with_130(int sig, int documents, std::size_t fewer_than) {
  Corpus c(documents);
  const std::string cmd = c.command("2>/dev/null");
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600 && c.manifest().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 130);
  for (const auto& p : c.outputs()) BOOST_CHECK_NO_THROW(read_json(p));  // whole files only
  BOOST_TEST(c.outputs().size() < fewer_than);
}

BOOST_AUTO_TEST_CASE(ctrl_c_stops_cleanly_with_130) { signal_stops_cleanly_with_130(SIGINT, 4, 16u); }

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
  // A missing model: exit 3 from run and ask, with what fetch-model says offline for that checkpoint.
  const fs::path models = c.dir.path() / "models", model = models / "SmolVLM-256M-Instruct";
  const auto offline = folio::test::run_command(folio::test::folio_bin() + " fetch-model --endpoint http://127.0.0.1:9 --dir " +
                                                models.string() + " 2>&1");
  BOOST_TEST(offline.status == 3, offline.out);
  const std::string advice = "download HuggingFaceTB/SmolVLM-256M-Instruct on a machine that can reach the Hub "
                             "(huggingface-cli download HuggingFaceTB/SmolVLM-256M-Instruct --local-dir " +
                             model.string() + ") and copy the folder to " + model.string();
  BOOST_TEST(offline.out.find(advice) != std::string::npos, offline.out);
  const auto missing = folio::test::run_command(bin + " --schema " + c.schema.string() + " --model " + model.string() + " 2>&1");
  BOOST_TEST(missing.status == 3);
  BOOST_TEST(missing.out.find(advice) != std::string::npos, missing.out);
  const auto ask = folio::test::run_command(folio::test::folio_bin() + " ask --model " + model.string() + " --image " +
                                            (c.in / "batch0" / "form.png").string() + " --question Who? 2>&1");
  BOOST_TEST(ask.status == 3);
  BOOST_TEST(ask.out.find(advice) != std::string::npos, ask.out);
  fs::create_directories(model);  // an empty folder is no checkpoint either
  BOOST_TEST(folio::test::run_command(bin + " --schema " + c.schema.string() + " --model " + model.string() + " 2>&1").status == 3);
}

BOOST_AUTO_TEST_CASE(json_logs_are_json_whatever_the_file_names) {
  Corpus c;
  c.logs = "-vv --log-format json";
  fs::copy(c.in / "batch0" / "form.png", c.in / "we\"ird \\name.png");
  touch(c.in / "bad\"one.pdf", "%PDF-1.4\nbroken");
  const auto r = folio::test::run_command(c.command("2>&1 >/dev/null"));
  BOOST_TEST(r.status == 1, r.out);
  bool progress = false, info = false, debug = false, named = false;
  for (const auto& line : lines_of(r.out)) {
    json j;
    BOOST_CHECK_NO_THROW(j = json::parse(line));
    if (!j.is_object()) {
      BOOST_ERROR("not a JSON object: " << line);
      continue;
    }
    BOOST_TEST((j.contains("time") && j.contains("level") && j.contains("msg")), line);
    progress |= j.value("event", "") == "progress";
    info |= j["level"] == "info";
    debug |= j["level"] == "debug";
    named |= j["level"] == "error" && j["msg"].get<std::string>().find("bad\"one.pdf: failed:") != std::string::npos;
  }
  BOOST_TEST(progress, r.out);
  BOOST_TEST(info, r.out);
  BOOST_TEST(debug, r.out);
  BOOST_TEST(named, r.out);
  BOOST_TEST(read_json(c.out / "we\"ird \\name.png.json")["status"] == "ok");
}

BOOST_AUTO_TEST_CASE(limits_fail_one_document_each_and_stderr_has_progress_and_summary) {
  Corpus c;
  c.logs = "-v";  // no -q: progress lines, the totals, info
  // form.png is 58 kB (over 0.05 MB); the TIFF is a 200 dpi A4 page (3.9 Mpx, over 1); the others fit.
  const auto r = folio::test::run_command(c.command("--max-file-size 0.05 --max-image-mpixels 1 --max-pages 1 2>&1"));
  BOOST_TEST(r.status == 1, r.out);
  const auto size = read_json(c.out / "batch0" / "form.png.json");
  BOOST_TEST(size["status"] == "failed");
  BOOST_TEST(size["error"]["kind"] == "limit");
  BOOST_TEST(size["error"]["message"].get<std::string>().find("--max-file-size") != std::string::npos, size["error"]);
  const auto pixels = read_json(c.out / "batch0" / "scans" / "scan.tif.json");
  BOOST_TEST(pixels["status"] == "failed");
  BOOST_TEST(pixels["error"]["kind"] == "limit");
  BOOST_TEST(pixels["error"]["message"].get<std::string>().find("pixel budget") != std::string::npos, pixels["error"]);
  // --max-pages 1: the 2-page invoice is read on its first page only.
  const auto invoice = read_json(c.out / "batch0" / "invoice.pdf.json");
  BOOST_TEST(invoice["status"] == "ok");
  BOOST_TEST(invoice["source"]["pages_processed"] == json::array({1}));
  BOOST_TEST(read_json(c.out / "batch0" / "receipt.jpg.json")["status"] == "ok");
  BOOST_TEST(r.out.find("folio: progress: 4/4 documents (2 failed)") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("folio: info: 4 documents") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("folio: debug:") == std::string::npos, r.out);  // -vv only
  BOOST_TEST(r.out.find("2 ok, 0 incomplete, 2 failed, 0 skipped") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("form.png: failed: file is larger than --max-file-size") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("scan.tif: failed: ") != std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(a_missing_required_field_makes_the_document_incomplete) {
  Corpus c;
  fs::remove_all(c.in);
  fs::create_directories(c.in);
  fs::copy(folio::test::samples_dir() / "invoice.pdf", c.in / "invoice.pdf");
  std::ofstream(c.schema) << "name: totals\n"
                             "fields:\n"
                             "  - name: vendor\n"
                             "    question: Who is the vendor?\n"
                             "    type: string\n"
                             "    pages: first\n"
                             "  - name: total\n"
                             "    question: What is the total amount?\n"
                             "    type: money\n"
                             "    required: true\n"
                             "    pages: last\n";
  // What a killed writer left, an hour ago; a live writer's file (another shard's, say); a user's file.
  const fs::path stale = c.out / "old" / ".a.pdf.json.tmp-123", fresh = c.out / ".b.pdf.json.tmp-456",
                 theirs = c.out / ".notes.tmp-draft";
  for (const auto& p : {stale, fresh, theirs}) touch(p, "{\"half");
  fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(1));
  fs::last_write_time(theirs, fs::file_time_type::clock::now() - std::chrono::hours(1));

  // --pages 1: the last page, where `total` is asked, is not read, so the required field is null.
  const auto r = folio::test::run_command(c.command("--pages 1 2>&1"));  // -q
  BOOST_TEST(r.status == 1, r.out);
  const auto lines = lines_of(r.out);
  BOOST_TEST_REQUIRE(lines.size() == 1u, r.out);  // -q: one line per document that needs a look
  BOOST_TEST(lines[0] == "folio: error: " + (c.in / "invoice.pdf").string() + ": incomplete: missing total", r.out);
  const auto doc = read_json(c.out / "invoice.pdf.json");
  BOOST_TEST(OutputValidator().errors(doc).empty(), OutputValidator().errors(doc));
  BOOST_TEST(doc["status"] == "incomplete");
  BOOST_TEST(doc["missing_required"] == json::array({"total"}));
  BOOST_TEST(doc["fields"]["total"]["value"].is_null());
  BOOST_TEST(doc["fields"]["total"]["page"].is_null());
  BOOST_TEST(doc["source"]["pages_processed"] == json::array({1}));
  BOOST_TEST(c.manifest().back()["status"] == "incomplete");
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(fresh));
  BOOST_TEST(fs::exists(theirs));

  // Incomplete documents are kept by a rerun; a changed schema redoes them.
  BOOST_TEST(folio::test::run_command(c.command("--pages 1 2>/dev/null")).status == 0);
  BOOST_TEST(c.manifest().back()["status"] == "skipped");
  std::ofstream(c.schema, std::ios::app) << "description: changed\n";
  BOOST_TEST(folio::test::run_command(c.command("--pages 1 2>/dev/null")).status == 1);
  BOOST_TEST(c.manifest().back()["status"] == "incomplete");
  BOOST_TEST(read_json(c.out / "invoice.pdf.json")["schema"]["sha256"] != doc["schema"]["sha256"]);
}

BOOST_AUTO_TEST_CASE(typed_values_validate_against_the_output_schema) {
  folio::test::TempDir dir("folio-typed");
  const fs::path in = dir.path() / "in", schema_file = dir.path() / "typed.yaml";
  fs::create_directories(in);
  fs::copy(folio::test::samples_dir() / "invoice.pdf", in / "invoice.pdf");
  std::ofstream(schema_file) << "name: typed\nfields:\n"
                                "  - name: total\n    question: \"Total?\"\n    type: money\n    required: true\n"
                                "  - name: date\n    question: \"Date?\"\n    type: date\n    pages: first\n"
                                "  - name: kind\n    question: \"Kind?\"\n    type: enum\n    values: [invoice, receipt]\n    pages: first\n"
                                "  - name: items\n    question: \"Items?\"\n    type: list\n    items: number\n    pages: first\n"
                                "  - name: paid\n    question: \"Paid?\"\n    type: boolean\n    pages: last\n"
                                "  - name: count\n    question: \"Count?\"\n    type: integer\n    pages: first\n"
                                "  - name: rate\n    question: \"Rate?\"\n    type: number\n    pages: first\n"
                                "  - name: po\n    question: \"PO?\"\n    type: string\n    required: true\n    pages: first\n";
  ScriptedModel model;
  // `total` on every page: one "not present" answer, very sure; one valid amount, less sure; the valid one
  // must win, and its page be recorded, whichever page the pipeline happened to ask first.
  model.script["Total?"] = {{"not present", -0.05f}, {"£1,475.22", -0.7f}};
  model.script["Date?"] = {{"14 March 2024", -0.1f}};
  model.script["Kind?"] = {{"Invoice", -0.1f}};
  model.script["Items?"] = {{"1,229.35; 245.87", -0.2f}};
  model.script["Paid?"] = {{"yes", -0.1f}};
  model.script["Count?"] = {{"14", -0.1f}};
  model.script["Rate?"] = {{"20.5", -0.1f}};
  model.script["PO?"] = {{"N/A", -0.3f}};  // required and not there: incomplete
  pl::RunOptions o;
  o.out_dir = dir.path() / "out";
  o.schema = pl::load_schema(schema_file);
  o.model_name = "scripted";
  o.model_sha256 = std::string(64, 'a');
  o.precision = "fp32";
  const auto summary = pl::run_documents(pl::discover_inputs({in.string()}), model, o);
  BOOST_TEST(summary.incomplete == 1);
  const OutputValidator v;
  const auto doc = read_json(o.out_dir / "invoice.pdf.json");
  BOOST_TEST(v.errors(doc).empty(), v.errors(doc));
  const auto& f = doc["fields"];
  BOOST_TEST(f["total"]["value"] == json({{"amount", 1475.22}, {"currency", "GBP"}}));
  BOOST_TEST_REQUIRE(f["total"]["candidates"].size() == 2u);
  int valid_page = 0;
  for (const auto& cand : f["total"]["candidates"])
    if (cand["raw"] == "£1,475.22") valid_page = cand["page"];
  BOOST_TEST(f["total"]["page"] == valid_page);
  BOOST_TEST(f["date"]["value"] == "2024-03-14");
  BOOST_TEST(f["kind"]["value"] == "invoice");
  BOOST_TEST(f["items"]["value"] == json::array({1229.35, 245.87}));
  BOOST_TEST(f["paid"]["value"] == true);
  BOOST_TEST(f["paid"]["page"] == 2);
  BOOST_TEST(f["count"]["value"] == 14);
  BOOST_TEST(f["rate"]["value"] == 20.5);
  BOOST_TEST(f["po"]["value"].is_null());
  BOOST_TEST(doc["status"] == "incomplete");
  BOOST_TEST(doc["missing_required"] == json::array({"po"}));

  // The schema catches a value of the wrong shape, an unknown key, an invalid answer that kept a value.
  auto bad = doc;
  bad["fields"]["total"]["value"] = "1475.22";
  BOOST_TEST(!v.errors(bad).empty());
  bad = doc;
  bad["fields"]["date"]["value"] = "14/03/2024";
  BOOST_TEST(!v.errors(bad).empty());
  bad = doc;
  bad["fields"]["count"]["extra"] = 1;
  BOOST_TEST(!v.errors(bad).empty());
  bad = doc;
  bad["fields"]["total"]["candidates"][0]["value"] = json({{"amount", "x"}, {"currency", "GBP"}});
  BOOST_TEST(!v.errors(bad).empty());
  bad = doc;
  bad["fields"]["kind"]["valid"] = false;
  BOOST_TEST(!v.errors(bad).empty());

  // A shipped schema through the CLI with the reference checkpoint: whatever the tiny model says, the
  // outputs validate.
  const fs::path out2 = dir.path() / "out-invoice";
  const auto r = folio::test::run_command(folio::test::folio_bin() + " -q run " + (in / "invoice.pdf").string() +
                                          " --schema " + (folio::test::source_dir() / "schemas" / "invoice.yaml").string() +
                                          " -o " + out2.string() + " --model " + checkpoint().string() +
                                          " --precision fp32 --max-new-tokens 4 2>&1");
  BOOST_TEST((r.status == 0 || r.status == 1), r.out);
  const auto shipped = read_json(out2 / "invoice.pdf.json");
  BOOST_TEST(v.errors(shipped).empty(), v.errors(shipped));
  BOOST_TEST(shipped["fields"].size() == 12u);
  BOOST_TEST(shipped["fields"]["total_amount"]["page"] == 2);  // pages: last
}

BOOST_AUTO_TEST_CASE(page_selection_config_passwords_and_jsonl_file) {
  Corpus c;
  fs::remove_all(c.in);
  fs::create_directories(c.in / "vault");
  write_blank_pdf(c.in / "twelve.pdf", 12);
  fs::copy(folio::test::samples_dir() / "invoice-protected.pdf", c.in / "vault" / "locked.pdf");
  // The config sets the model, docvqa prompts and a per-file password; flags go over it.
  const fs::path config = c.dir.path() / "run.yaml", jsonl = c.dir.path() / "results.jsonl";
  std::ofstream(config) << "model: " << checkpoint().string() << "\n"
                        << "precision: fp32\nprompt_style: docvqa\nmax_new_tokens: 2\nthreads: 2\n"
                        << "passwords:\n  \"vault/*.pdf\": folio-sample\n";
  const std::string base = folio::test::folio_bin() + " -q run " + c.in.string() + " --schema " + c.schema.string() +
                           " -o " + c.out.string() + " --config " + config.string() + " --pages 1-3,7,10-end";
  auto r = folio::test::run_command(base + " --jsonl " + jsonl.string() + " 2>&1");
  BOOST_TEST(r.status == 0, r.out);
  const auto twelve = read_json(c.out / "twelve.pdf.json");
  BOOST_TEST(twelve["source"]["page_count"] == 12);
  BOOST_TEST(twelve["source"]["pages_processed"] == json::array({1, 2, 3, 7, 10, 11, 12}));
  BOOST_TEST(twelve["model"]["prompt_style"] == "docvqa");
  BOOST_TEST(twelve["model"]["precision"] == "fp32");
  const auto locked = read_json(c.out / "vault" / "locked.pdf.json");
  BOOST_TEST(locked["status"] == "ok", locked["error"]);
  BOOST_TEST(locked["source"]["pages_processed"] == json::array({1, 2}));
  // --jsonl FILE: one line per document, each the document's whole JSON.
  std::ifstream f(jsonl);
  std::map<std::string, json> by_path;
  for (std::string line; std::getline(f, line);) {
    const auto j = json::parse(line);
    by_path[j["source"]["path"]] = j;
  }
  BOOST_TEST(by_path.size() == 2u);
  BOOST_TEST(by_path[(c.in / "twelve.pdf").string()] == twelve);
  // A flag overrides the config; the prompt style is part of what makes an output current, so no --force.
  r = folio::test::run_command(base + " --prompt-style chat 2>&1");
  BOOST_TEST(r.status == 0, r.out);
  BOOST_TEST(read_json(c.out / "twelve.pdf.json")["model"]["prompt_style"] == "chat");
}

BOOST_AUTO_TEST_CASE(sigterm_stops_cleanly_with_130) { signal_stops_cleanly_with_130(SIGTERM, 3, 12u); }

BOOST_AUTO_TEST_SUITE_END()
