// The parts of a run that are tested on their own: progress output (injected stream), JSON log lines,
// the choice among a field's page answers, the sweep of stale temporary files, the missing-model message.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "pipeline/choose.hpp"
#include "pipeline/fetch_model.hpp"
#include "pipeline/log_line.hpp"
#include "pipeline/progress.hpp"
#include "support/paths.hpp"

namespace fs = std::filesystem;
namespace pl = folio::pipeline;
using nlohmann::json;

namespace {

// A FILE* whose bytes the test reads back.
class MemoryStream {
 public:
  MemoryStream() : f_(open_memstream(&buf_, &size_)) {}
  ~MemoryStream() {
    std::fclose(f_);
    std::free(buf_);
  }
  std::FILE* get() { return f_; }
  std::string text() {
    std::fflush(f_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* f_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Drives a Progress through two documents of three pages.
void drive(pl::Progress& p) {
  p.set_pages_total(2);
  p.page_done();
  p.page_done();
  p.document_done(true);
  p.set_pages_total(1);
  p.page_done();
  p.document_done(false);
  p.finish();
}

pl::Candidate candidate(int page, double confidence, bool valid, bool present, json value = "x") {
  pl::Candidate c;
  c.page = page;
  c.confidence = confidence;
  c.raw = "raw " + std::to_string(page);
  c.normalized.valid = valid;
  c.normalized.present = present;
  c.normalized.value = valid && present ? value : json(nullptr);
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(progress)

BOOST_AUTO_TEST_CASE(mode_follows_quiet_json_and_the_terminal) {
  int p[2];
  BOOST_TEST_REQUIRE(pipe(p) == 0);
  BOOST_TEST((pl::Progress::mode_for(p[1], false, false) == pl::Progress::Mode::Lines));
  BOOST_TEST((pl::Progress::mode_for(p[1], true, false) == pl::Progress::Mode::Off));
  BOOST_TEST((pl::Progress::mode_for(p[1], false, true) == pl::Progress::Mode::Json));
  close(p[0]);
  close(p[1]);
  // A pseudo-terminal stands for a user's terminal.
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  BOOST_TEST_REQUIRE(master >= 0);
  BOOST_TEST_REQUIRE((grantpt(master) == 0 && unlockpt(master) == 0));
  const int tty = open(ptsname(master), O_RDWR | O_NOCTTY);
  BOOST_TEST_REQUIRE(tty >= 0);
  BOOST_TEST((pl::Progress::mode_for(tty, false, false) == pl::Progress::Mode::Bar));
  BOOST_TEST((pl::Progress::mode_for(tty, true, false) == pl::Progress::Mode::Off));
  BOOST_TEST((pl::Progress::mode_for(tty, false, true) == pl::Progress::Mode::Json));
  close(tty);
  close(master);
}

BOOST_AUTO_TEST_CASE(bar_redraws_one_line) {
  MemoryStream out;
  pl::Progress p(pl::Progress::Mode::Bar, 2, out.get());
  p.set_interval(std::chrono::milliseconds(0));
  drive(p);
  const auto text = out.text();
  BOOST_TEST(text.find("\r[") == 0u, text);
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 1);  // only finish() ends the line
  BOOST_TEST(text.back() == '\n');
  BOOST_TEST(text.find("[########################] 2/2 documents (1 failed), 3/3 pages") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(plain_lines_are_periodic_and_finish_always_prints) {
  {
    MemoryStream out;
    pl::Progress p(pl::Progress::Mode::Lines, 2, out.get());  // every 10 s: this test is far quicker
    drive(p);
    const auto lines = lines_of(out.text());
    BOOST_TEST_REQUIRE(lines.size() == 1u);
    BOOST_TEST(lines[0].rfind("folio: progress: 2/2 documents (1 failed), 3/3 pages", 0) == 0u, lines[0]);
  }
  MemoryStream out;
  pl::Progress p(pl::Progress::Mode::Lines, 2, out.get());
  p.set_interval(std::chrono::milliseconds(0));
  drive(p);
  const auto lines = lines_of(out.text());
  BOOST_TEST(lines.size() == 6u);  // one per event, and the final one
  for (const auto& l : lines) BOOST_TEST(l.find('\r') == std::string::npos);
  BOOST_TEST(lines[0].find("0/2 documents (0 failed), 1/2 pages") != std::string::npos, lines[0]);
}

BOOST_AUTO_TEST_CASE(json_lines_parse_and_quiet_prints_nothing) {
  MemoryStream out;
  pl::Progress p(pl::Progress::Mode::Json, 2, out.get());
  p.set_interval(std::chrono::milliseconds(0));
  drive(p);
  const auto lines = lines_of(out.text());
  BOOST_TEST(lines.size() == 6u);
  for (const auto& l : lines) {
    const auto j = json::parse(l);
    BOOST_TEST(j["event"] == "progress");
    BOOST_TEST(j["level"] == "info");
  }
  const auto last = json::parse(lines.back());
  BOOST_TEST(last["documents_done"] == 2);
  BOOST_TEST(last["documents_failed"] == 1);
  BOOST_TEST(last["pages_done"] == 3);
  BOOST_TEST(last["pages_total"] == 3);

  MemoryStream quiet;
  pl::Progress q(pl::Progress::Mode::Off, 2, quiet.get());
  q.set_interval(std::chrono::milliseconds(0));
  drive(q);
  BOOST_TEST(quiet.text().empty());
}

BOOST_AUTO_TEST_CASE(json_log_lines_escape_anything) {
  const std::string nasty = "a \"quoted\" name\\with\tcontrol\x01 and not UTF-8 \xff\xfe end";
  const auto line = pl::json_log_line(std::chrono::system_clock::now(), "error", nasty, {{"page", 3}});
  BOOST_TEST(line.find('\n') == std::string::npos);
  const auto j = json::parse(line);
  BOOST_TEST(j["level"] == "error");
  BOOST_TEST(j["page"] == 3);
  BOOST_TEST(j["msg"].get<std::string>().find("a \"quoted\" name\\with\tcontrol\x01 and not UTF-8 ") == 0u);
  BOOST_TEST(j["time"].get<std::string>().size() >= 23u);  // 2024-01-02T03:04:05.678+0000
  BOOST_TEST(line.find(R"({"time":)") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(choose_among_pages)

BOOST_AUTO_TEST_CASE(the_most_confident_valid_present_answer_wins) {
  const std::vector<pl::Candidate> cs = {
      candidate(1, 0.99, true, false),         // "not present", most confident of all
      candidate(2, 0.40, true, true, "low"),   // valid
      candidate(3, 0.95, false, true),         // invalid, confident
      candidate(4, 0.70, true, true, "high"),  // valid, the best of those
      candidate(5, 0.60, true, true, "mid"),
  };
  const auto* c = pl::choose(cs);
  BOOST_TEST_REQUIRE(c != nullptr);
  BOOST_TEST(c->page == 4);
  BOOST_TEST(c->normalized.value == "high");
}

BOOST_AUTO_TEST_CASE(without_a_present_answer_not_present_beats_invalid) {
  const std::vector<pl::Candidate> cs = {candidate(1, 0.9, false, true), candidate(2, 0.3, true, false),
                                         candidate(3, 0.5, true, false)};
  BOOST_TEST(pl::choose(cs)->page == 3);
  const std::vector<pl::Candidate> invalid_only = {candidate(1, 0.2, false, true), candidate(2, 0.8, false, true)};
  BOOST_TEST(pl::choose(invalid_only)->page == 2);
  BOOST_TEST(pl::choose({}) == nullptr);
}

BOOST_AUTO_TEST_CASE(ties_keep_the_earlier_page) {
  const std::vector<pl::Candidate> cs = {candidate(3, 0.5, true, true), candidate(1, 0.5, true, true),
                                         candidate(2, 0.5, true, true)};
  BOOST_TEST(pl::choose(cs)->page == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stale_temp_files)

BOOST_AUTO_TEST_CASE(only_old_files_of_our_naming_are_removed) {
  BOOST_TEST(folio::is_atomic_temp_name(".a.pdf.json.tmp-123"));
  BOOST_TEST(folio::is_atomic_temp_name(".folio-model-hashes.json.tmp-9"));
  for (const char* not_ours : {"a.json.tmp-1", ".tmp-1", ".a.json.tmp-", ".a.json.tmp-12x", ".a.json", "notes.tmp"})
    BOOST_TEST(!folio::is_atomic_temp_name(not_ours), not_ours);

  folio::test::TempDir dir;
  const auto old_time = fs::file_time_type::clock::now() - std::chrono::hours(1);
  auto make = [&](const fs::path& p, bool old) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "{\"half";
    if (old) fs::last_write_time(p, old_time);
  };
  const fs::path stale = dir.path() / "a" / "b" / ".x.pdf.json.tmp-4242";
  const fs::path fresh = dir.path() / ".y.pdf.json.tmp-77";       // a live writer's
  const fs::path theirs = dir.path() / "a" / ".notes.tmp-draft";  // not our naming
  const fs::path output = dir.path() / "a" / "x.pdf.json";
  make(stale, true);
  make(fresh, false);
  make(theirs, true);
  make(output, true);
  const auto removed = folio::remove_stale_temp_files(dir.path(), fs::file_time_type::clock::now() - std::chrono::minutes(10));
  BOOST_TEST_REQUIRE(removed.size() == 1u);
  BOOST_TEST(removed[0] == stale);
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(fresh));
  BOOST_TEST(fs::exists(theirs));
  BOOST_TEST(fs::exists(output));
  BOOST_TEST(folio::remove_stale_temp_files(dir.path() / "missing", fs::file_time_type::clock::now()).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(missing_model)

BOOST_AUTO_TEST_CASE(the_message_names_the_configured_model_and_folder) {
  folio::test::TempDir dir;
  const auto folder = dir.path() / "SmolVLM-500M-Instruct";
  try {
    pl::require_model_folder(folder);
    BOOST_FAIL("no error");
  } catch (const folio::Error& e) {
    BOOST_TEST((e.kind() == folio::ErrorKind::Model));
    const std::string m = e.what();
    BOOST_TEST(m.find("huggingface-cli download HuggingFaceTB/SmolVLM-500M-Instruct --local-dir " + folder.string()) !=
                   std::string::npos, m);
    BOOST_TEST(m.find("folio fetch-model HuggingFaceTB/SmolVLM-500M-Instruct --dir " + dir.path().string()) !=
                   std::string::npos, m);
  }
  fs::create_directories(dir.path() / "empty");
  BOOST_CHECK_THROW(pl::require_model_folder(dir.path() / "empty"), folio::Error);
  BOOST_CHECK_NO_THROW(pl::require_model_folder(folio::test::reference_dir() / "tiny-a" / "checkpoint"));
  // A folder not named like a published checkpoint gets the default one, put exactly there.
  BOOST_TEST(pl::how_to_get_model("/x/mine").find("HuggingFaceTB/SmolVLM-256M-Instruct --local-dir /x/mine") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
