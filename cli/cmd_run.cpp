// folio run: documents in, one JSON file per document out (docs/run.md).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>

#include "cli/command.hpp"
#include "cli/logging.hpp"
#include "common/error.hpp"
#include "engine/engine.hpp"
#include "pipeline/fetch_model.hpp"
#include "pipeline/inputs.hpp"
#include "pipeline/model_hash.hpp"
#include "pipeline/run.hpp"
#include "pipeline/run_config.hpp"

extern char** environ;

namespace folio::cli {
namespace {

namespace fs = std::filesystem;

// Set by SIGINT/SIGTERM; a signal handler can only reach a global. The second signal kills at once.
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted = true; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

struct Args {
  std::vector<std::string> inputs, include, exclude;
  std::string schema, out, model, config, pages, password, precision, prompt_style, shard, jsonl, date_order;
  int threads = -1, max_pages = -1, shard_count = 0, max_new_tokens = 0, pages_in_flight = 0;
  double max_file_size = -1, max_image_mpixels = -1, timeout = -1;
  bool force = false, dry_run = false;
};

pipeline::RunConfig load_config(const Args& a) {
  fs::path config = a.config;
  if (config.empty()) {
    if (const char* env = std::getenv("FOLIO_CONFIG")) config = env;
    else if (fs::exists("configs/default.yaml")) config = "configs/default.yaml";
  }
  pipeline::RunConfig c = config.empty() ? pipeline::RunConfig{} : pipeline::load_run_config(config);
  if (!a.model.empty()) c.model = a.model;
  if (!a.precision.empty()) c.precision = a.precision;
  if (!a.prompt_style.empty()) c.prompt_style = a.prompt_style;
  if (!a.date_order.empty()) c.date_order = a.date_order;
  if (a.threads >= 0) c.threads = a.threads;
  if (a.max_pages >= 0) c.max_pages = a.max_pages;
  if (a.max_file_size >= 0) c.max_file_size_mb = a.max_file_size;
  if (a.max_image_mpixels >= 0) c.max_image_mpixels = a.max_image_mpixels;
  if (a.timeout >= 0) c.timeout_per_doc_s = a.timeout;
  if (a.max_new_tokens > 0) c.max_new_tokens = a.max_new_tokens;
  if (a.pages_in_flight > 0) c.pages_in_flight = a.pages_in_flight;
  if (c.threads <= 0) c.threads = pipeline::available_cores();
  return c;
}

pipeline::DateOrder date_order(const std::string& s) {
  if (s == "mdy") return pipeline::DateOrder::MDY;
  if (s == "ymd") return pipeline::DateOrder::YMD;
  if (s == "dmy") return pipeline::DateOrder::DMY;
  throw Error(ErrorKind::Usage, "date order must be dmy, mdy or ymd, not '" + s + "'");
}

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

int run(const Args& a) {
  const auto config = load_config(a);
  pipeline::RunOptions o;
  o.out_dir = a.out;
  o.schema = pipeline::load_schema(a.schema);
  o.normalize.date_order = o.schema.date_order ? *o.schema.date_order : date_order(config.date_order);
  o.pages = stages::parse_page_selection(a.pages);
  o.max_pages = config.max_pages;
  o.max_file_size_mb = config.max_file_size_mb;
  o.max_image_mpixels = config.max_image_mpixels;
  o.render_longest_edge = config.render_longest_edge;
  o.cleanup.deskew = config.deskew;
  o.cleanup.fix_orientation = config.orient;
  o.cleanup.normalize_background = config.normalize_background;
  o.password = a.password;
  o.passwords = config.passwords;
  o.threads = config.threads;
  o.pages_in_flight = config.pages_in_flight;
  o.timeout_per_doc_s = config.timeout_per_doc_s;
  o.force = a.force;
  o.precision = config.precision;
  o.prompt_style = config.prompt_style;
  engine::parse_precision(o.precision);  // usage errors before any work

  pipeline::InputOptions in;
  in.include = a.include;
  in.exclude = a.exclude;
  auto inputs = pipeline::discover_inputs(a.inputs, in);
  std::optional<pipeline::Shard> shard;
  if (!a.shard.empty()) shard = pipeline::parse_shard(a.shard);
  else shard = pipeline::shard_from_environment(environment(), a.shard_count > 0 ? std::optional<int>(a.shard_count) : std::nullopt);
  if (shard) {
    inputs = pipeline::select_shard(inputs, *shard);
    spdlog::info("shard {}/{}: {} documents", shard->index + 1, shard->count, inputs.size());
  }

  // The model's identity decides what is current; hashing is cached next to the outputs.
  pipeline::require_model_folder(config.model);  // exit 3, saying what to download and where
  fs::create_directories(o.out_dir);
  o.model_name = fs::weakly_canonical(config.model).filename().string();
  o.model_sha256 = pipeline::model_sha256(config.model, o.out_dir / ".folio-model-hashes.json");

  if (a.dry_run) {
    int process = 0, skip = 0, fail = 0, pages = 0, skip_pages = 0;
    for (const auto& p : pipeline::plan_documents(inputs, o)) {
      if (p.skip) {
        ++skip;
        if (p.pages >= 0) skip_pages += p.pages;
        std::cout << fmt::format("skip     {}  ({}, {} page{})\n", p.input.path.string(), p.reason,
                                 p.pages < 0 ? std::string("?") : std::to_string(p.pages), p.pages == 1 ? "" : "s");
      } else if (p.pages < 0) {
        ++fail;
        std::cout << fmt::format("fail     {}  ({})\n", p.input.path.string(), p.reason);
      } else {
        ++process;
        pages += p.pages;
        std::cout << fmt::format("process  {}  ({} page{})\n", p.input.path.string(), p.pages, p.pages == 1 ? "" : "s");
      }
    }
    std::cout << fmt::format("{} to process ({} pages), {} to skip ({} pages), {} would fail\n", process, pages, skip,
                             skip_pages, fail);
    return kExitOk;
  }

  pipeline::EngineModelOptions mo;
  mo.engine.precision = engine::parse_precision(config.precision);
  mo.engine.threads = config.threads;
  mo.engine.prompt_style = engine::text::parse_prompt_style(config.prompt_style);
  mo.max_new_tokens = config.max_new_tokens;
  const auto model = pipeline::load_engine_model(config.model, mo);

  std::FILE* jsonl = nullptr;
  if (a.jsonl == "-") jsonl = stdout;
  else if (!a.jsonl.empty() && !(jsonl = std::fopen(a.jsonl.c_str(), "a")))
    throw Error(ErrorKind::Usage, "cannot open the --jsonl file", {a.jsonl});
  o.jsonl = jsonl;
  pipeline::Progress progress(
      pipeline::Progress::mode_for(STDERR_FILENO, spdlog::get_level() >= spdlog::level::err, json_logs()),
      static_cast<int>(inputs.size()));
  o.progress = &progress;
  spdlog::info("{} documents, {} threads, model {} ({})", inputs.size(), o.threads, o.model_name, o.precision);
  install_signal_handlers();
  o.interrupted = &g_interrupted;
  const auto summary = pipeline::run_documents(inputs, *model, o);
  if (jsonl && jsonl != stdout) std::fclose(jsonl);

  // The totals are a warning (hidden by -q); each failed or incomplete document is an error line of its
  // own, naming the document and what went wrong, so cron mail with -q still says which ones to look at.
  spdlog::warn("{} ok, {} incomplete, {} failed, {} skipped (up to date){}", summary.ok, summary.incomplete,
               summary.failed, summary.skipped, summary.interrupted ? "; interrupted" : "");
  for (const auto& [path, what] : summary.problems) spdlog::error("{}: {}", path, what);
  if (summary.interrupted) return kExitInterrupted;
  return summary.failed + summary.incomplete > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace

void register_run(CLI::App& app, CommandResult& result) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("run", "Extract schema fields from documents into one JSON file each");
  cmd->add_option("inputs", a->inputs, "Files, folders (recursive), globs ('scans/**/*.tif') or @list.txt")->required();
  cmd->add_option("--schema", a->schema, "YAML extraction schema (schemas/invoice.yaml, ...)")->required();
  cmd->add_option("-o,--out", a->out, "Output folder (mirrors the input tree)")->required();
  cmd->add_option("--model", a->model, "SmolVLM checkpoint folder (default: the config's)");
  cmd->add_option("--config", a->config, "Run configuration (default: configs/default.yaml, or $FOLIO_CONFIG)");
  cmd->add_option("--include", a->include, "Only inputs whose relative path matches this glob (repeatable)");
  cmd->add_option("--exclude", a->exclude, "Skip inputs whose relative path matches this glob (repeatable)");
  cmd->add_option("--pages", a->pages, "Pages of every document, e.g. 1-3,7,10-end (default: all)");
  cmd->add_option("--threads", a->threads, "Cores for the whole run (rendering and model; default: all)");
  cmd->add_option("--max-pages", a->max_pages, "Read at most this many pages per document (0: all)");
  cmd->add_option("--max-file-size", a->max_file_size, "Refuse inputs larger than this many MB (0: no limit)");
  cmd->add_option("--max-image-mpixels", a->max_image_mpixels, "Refuse pages whose raster exceeds this many megapixels");
  cmd->add_option("--password", a->password, "Password for encrypted PDFs (per-file ones go in the config)");
  cmd->add_option("--precision", a->precision, "int8 (default) | bf16 | fp32")->check(CLI::IsMember({"int8", "bf16", "fp32"}));
  cmd->add_option("--prompt-style", a->prompt_style, "chat | docvqa")->check(CLI::IsMember({"chat", "docvqa"}));
  cmd->add_option("--date-order", a->date_order, "How to read 05/11/2024: dmy | mdy | ymd")
      ->check(CLI::IsMember({"dmy", "mdy", "ymd"}));
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "Longest answer in tokens");
  cmd->add_option("--pages-in-flight", a->pages_in_flight, "Rendered pages alive at once (memory bound)");
  cmd->add_option("--timeout-per-doc", a->timeout, "Fail a document after this many seconds (0: never)");
  cmd->add_flag("--force", a->force, "Redo documents whose output is already current");
  cmd->add_flag("--dry-run", a->dry_run, "List what would be processed and skipped, then exit");
  cmd->add_option("--shard", a->shard, "Process shard I of N (1-based), e.g. 2/8");
  cmd->add_option("--shard-count", a->shard_count, "N for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)");
  cmd->add_option("--jsonl", a->jsonl, "Also write one JSON line per finished document to FILE, or - for stdout");
  cmd->callback([a, &result] { result.exit_code = run(*a); });
}

}  // namespace folio::cli
