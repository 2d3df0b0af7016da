#include <boost/test/unit_test.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/error.hpp"
#include "pipeline/core_lease.hpp"
#include "pipeline/deadline.hpp"
#include "pipeline/manifest.hpp"
#include "pipeline/run_config.hpp"
#include "support/paths.hpp"

using namespace folio::pipeline;

BOOST_AUTO_TEST_SUITE(run_support)

BOOST_AUTO_TEST_CASE(core_lease_never_exceeds_its_cores) {
  CoreLease lease(2);
  std::atomic<int> busy{0}, worst{0};
  auto note = [&](int add) {
    int now = busy += add;
    int w = worst.load();
    while (now > w && !worst.compare_exchange_weak(w, now)) {
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto hold = lease.stage();
        note(1);
        std::this_thread::yield();
        busy -= 1;
      }
    });
  threads.emplace_back([&] {
    for (int i = 0; i < 100; ++i) {
      auto hold = lease.engine();
      note(2);
      std::this_thread::yield();
      busy -= 2;
    }
  });
  for (auto& t : threads) t.join();
  BOOST_TEST(worst.load() <= 2);
  BOOST_TEST(busy.load() == 0);
}

BOOST_AUTO_TEST_CASE(deadline_returns_results_and_rethrows_errors) {
  auto soon = Clock::now() + std::chrono::seconds(30);
  BOOST_TEST(call_with_deadline([] { return 42; }, soon, "answering") == 42);
  BOOST_TEST(call_with_deadline([] { return 7; }, std::nullopt, "answering") == 7);
  BOOST_CHECK_THROW(call_with_deadline([]() -> int { throw folio::Error(folio::ErrorKind::Input, "bad"); }, soon, "x"),
                    folio::Error);
}

BOOST_AUTO_TEST_CASE(deadline_abandons_a_stuck_call) {
  auto release = std::make_shared<std::atomic<bool>>(false);
  const auto start = Clock::now();
  try {
    call_with_deadline(
        [release] {
          while (!release->load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
          return 0;
        },
        Clock::now() + std::chrono::milliseconds(100), "reading the file");
    BOOST_FAIL("expected a timeout");
  } catch (const folio::Error& e) {
    BOOST_TEST((e.kind() == folio::ErrorKind::Timeout));
    BOOST_TEST(std::string(e.what()).find("reading the file") != std::string::npos);
  }
  BOOST_TEST((Clock::now() - start < std::chrono::seconds(20)));
  release->store(true);  // let the abandoned thread finish
}

BOOST_AUTO_TEST_CASE(manifest_appends_lines_and_ignores_a_torn_tail) {
  folio::test::TempDir dir;
  const auto path = dir.path() / "folio-run.jsonl";
  {
    Manifest m(path);
    m.append({{"path", "a.pdf"}, {"status", "ok"}});
    m.append({{"path", "b.pdf"}, {"status", "failed"}});
  }
  {
    std::ofstream torn(path, std::ios::app);
    torn << R"({"path": "c.pdf", "sta)";  // a crash mid-line
  }
  auto lines = Manifest::read(path);
  BOOST_TEST_REQUIRE(lines.size() == 2u);
  BOOST_TEST(lines[1]["status"] == "failed");
}

BOOST_AUTO_TEST_CASE(default_config_loads_and_relative_model_path_follows_the_file) {
  auto c = load_run_config(folio::test::source_dir() / "configs" / "default.yaml");
  BOOST_TEST(c.precision == "int8");
  BOOST_TEST(c.model.lexically_normal() ==
             (folio::test::source_dir() / "models" / "SmolVLM-256M-Instruct").lexically_normal());
}

BOOST_AUTO_TEST_CASE(config_errors_name_the_line) {
  folio::test::TempDir dir;
  auto write = [&](const std::string& text) {
    auto p = dir.path() / "c.yaml";
    std::ofstream(p) << text;
    return p;
  };
  auto expect = [&](const std::string& text, const std::string& needle) {
    try {
      load_run_config(write(text));
      BOOST_ERROR("no error for: " << text);
    } catch (const folio::Error& e) {
      BOOST_TEST((e.kind() == folio::ErrorKind::Usage));
      BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what() << " lacks " << needle);
    }
  };
  expect("precision: int8\nthreadz: 2\n", "line 2: unknown key 'threadz'");
  expect("precision: int4\n", "line 1: 'precision' must be one of");
  expect("limits:\n  max_pages: many\n", "line 2: 'max_pages' has a bad value");
  expect("threads: -1\n", "'threads' must be 0");
  expect("a: [1,\n", "c.yaml");
}

BOOST_AUTO_TEST_SUITE_END()
