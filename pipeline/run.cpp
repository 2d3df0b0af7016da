// The flow graph of a run (docs/run.md):
//
//   inputs ─▶ [docs in flight] ─▶ open ─┬─▶ pages queue ─▶ [pages in flight] ─▶ prepare ─▶ answer ─▶ collect
//                                       └─▶ (skipped, failed, nothing to read) ──────────────────────▶ finish
//
// open: hash, resume check, open, choose pages (CPU, under the document's deadline); prepare: render,
// clean up, tile (CPU, one core each); answer: the page's encoding and every question asked on it, on the
// engine's own thread holding every core; collect: keeps the answers and, at a document's last page,
// finishes it: normalise, choose among pages, write the JSON atomically, append to the manifest.
// The two limiters bound memory: a 2,000-page PDF streams with at most `pages_in_flight` pages rendered.
#include "pipeline/run.hpp"

#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/atomic_file.hpp"
#include "common/error.hpp"
#include "common/sha256.hpp"
#include "pipeline/choose.hpp"
#include "pipeline/core_lease.hpp"
#include "pipeline/deadline.hpp"
#include "pipeline/engine_thread.hpp"
#include "pipeline/manifest.hpp"
#include "stages/document.hpp"
#include "stages/sniff.hpp"

namespace folio::pipeline {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
namespace flow = tbb::flow;

// A write takes milliseconds; a temporary file this old has no live writer.
constexpr auto kStaleTempAge = std::chrono::minutes(10);

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

struct DocumentJob {
  InputFile input;
  fs::path output;
  Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline;
  std::string sha256;
  std::uintmax_t size = 0;
  std::string format;
  int page_count = -1;
  std::vector<int> pages;                   // to process, ascending
  std::map<int, std::vector<int>> fields;   // page -> indices of the fields asked there
  std::shared_ptr<stages::PageSource> source;
  std::string skip_reason;                  // set: nothing to do
  std::atomic<int> pages_left{0};
  std::atomic<bool> stop{false};            // failed or interrupted: later stages skip their work

  std::mutex mutex;  // guards what follows
  std::optional<Error> error;
  std::vector<std::vector<Candidate>> candidates;  // per field
  std::map<std::string, double> timings_ms;

  void fail(const Error& e) {
    std::lock_guard lock(mutex);
    if (!error) error = e;
    stop = true;
  }
  void add_time(const std::string& key, double ms) {
    std::lock_guard lock(mutex);
    timings_ms[key] += ms;
  }
  bool past_deadline() const { return deadline && Clock::now() >= *deadline; }
};
using Job = std::shared_ptr<DocumentJob>;

struct PageTask {
  Job doc;
  int page = 0;
  std::shared_ptr<PreparedPage> prepared;
  std::vector<ModelAnswer> answers;
};

std::string password_for(const InputFile& input, const RunOptions& o) {
  for (const auto& [glob, pw] : o.passwords)
    if (glob_match(glob, input.relative.generic_string())) return pw;
  return o.password;
}

bool field_pages_include(const Field& f, int page, int page_count) { return f.pages.includes(page, page_count); }

json candidate_json(const Candidate& c) {
  return {{"value", c.normalized.value},
          {"raw", c.raw},
          {"valid", c.normalized.valid},
          {"reason", c.normalized.reason.empty() ? json(nullptr) : json(c.normalized.reason)},
          {"confidence", c.confidence},
          {"page", c.page}};
}

json error_json(const Error& e) {
  json j = {{"kind", to_string(e.kind())}, {"message", e.reason()}};
  if (e.context().page) j["page"] = *e.context().page;
  return j;
}

}  // namespace

fs::path output_path(const fs::path& out_dir, const InputFile& input) {
  return out_dir / (input.relative.generic_string() + ".json");
}

std::optional<std::string> current_output(const fs::path& output, const std::string& source_sha256, const RunOptions& o,
                                          int* page_count) {
  std::ifstream in(output);
  if (!in) return std::nullopt;
  const auto j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    if (j.at("source").at("sha256") != source_sha256 || j.at("schema").at("sha256") != o.schema.sha256 ||
        j.at("model").at("sha256") != o.model_sha256 || j.at("model").at("precision") != o.precision ||
        j.at("model").value("prompt_style", "") != o.prompt_style)  // other prompts, other answers
      return std::nullopt;
    if (j.at("status") == "failed") return std::nullopt;  // failures are retried
    if (const auto& pc = j.at("source").value("page_count", json()); page_count && pc.is_number_integer())
      *page_count = pc.get<int>();
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return "up to date";
}

namespace {

// Hash, resume check, open, page choice. Leaves job->skip_reason or job->error set when no page is needed.
void open_document(DocumentJob& job, const RunOptions& o) {
  const auto t0 = Clock::now();
  std::error_code ec;
  job.size = fs::file_size(job.input.path, ec);
  if (!ec && o.max_file_size_mb > 0 && static_cast<double>(job.size) > o.max_file_size_mb * 1e6)
    throw Error(ErrorKind::Limit, "file is larger than --max-file-size (" + std::to_string(job.size / 1000000) + " MB)",
                {job.input.path.string()});
  const auto path = job.input.path;
  job.sha256 = call_with_deadline([path] { return sha256_file_hex(path); }, job.deadline, "reading the file");
  if (!o.force)
    if (auto why = current_output(job.output, job.sha256, o, &job.page_count)) {
      job.skip_reason = *why;
      return;
    }
  stages::OpenOptions open;
  open.password = password_for(job.input, o);
  open.target_longest_edge = o.render_longest_edge;
  open.max_pixels = static_cast<std::int64_t>(o.max_image_mpixels * 1e6);
  job.source = call_with_deadline(
      [path, open]() -> std::shared_ptr<stages::PageSource> { return stages::open_document(path.string(), open); },
      job.deadline, "opening the document");
  job.format = stages::to_string(job.source->format());
  std::transform(job.format.begin(), job.format.end(), job.format.begin(), [](unsigned char c) { return std::tolower(c); });
  job.page_count = job.source->page_count();
  std::vector<int> selected = stages::select_pages(o.pages, job.page_count, path.string());
  if (o.max_pages > 0 && static_cast<int>(selected.size()) > o.max_pages) selected.resize(o.max_pages);
  for (int p : selected) {
    std::vector<int> asked;
    for (std::size_t f = 0; f < o.schema.fields.size(); ++f)
      if (field_pages_include(o.schema.fields[f], p, job.page_count)) asked.push_back(static_cast<int>(f));
    if (asked.empty()) continue;
    job.pages.push_back(p);
    job.fields[p] = std::move(asked);
  }
  job.candidates.assign(o.schema.fields.size(), {});
  job.add_time("open", ms_since(t0));
}

json document_json(DocumentJob& job, const RunOptions& o, std::string& status) {
  std::lock_guard lock(job.mutex);
  json fields = json::object();
  std::vector<std::string> missing;
  for (std::size_t f = 0; f < o.schema.fields.size(); ++f) {
    const Field& field = o.schema.fields[f];
    // By page: pages finish in any order, the output (and a tie between equal confidences) must not.
    std::vector<Candidate> cs = job.candidates.empty() ? std::vector<Candidate>{} : job.candidates[f];
    std::sort(cs.begin(), cs.end(), [](const Candidate& a, const Candidate& b) { return a.page < b.page; });
    json j;
    if (const Candidate* c = choose(cs)) {
      j = candidate_json(*c);
    } else {
      j = {{"value", nullptr}, {"raw", ""}, {"valid", true}, {"reason", "not asked: no selected page is in its pages"},
           {"confidence", 0.0}, {"page", nullptr}};
    }
    j["type"] = to_string(field.type);
    if (cs.size() > 1) {
      json list = json::array();
      for (const auto& c : cs) list.push_back(candidate_json(c));
      j["candidates"] = list;
    }
    if (field.required && j["value"].is_null()) missing.push_back(field.name);
    fields[field.name] = j;
  }
  status = job.error ? "failed" : (missing.empty() ? "ok" : "incomplete");
  job.timings_ms["total"] = ms_since(job.start);
  json pages = json::array();
  for (int p : job.pages) pages.push_back(p);
  json model = {{"name", o.model_name}, {"sha256", o.model_sha256}, {"precision", o.precision}};
  if (!o.prompt_style.empty()) model["prompt_style"] = o.prompt_style;
  return {{"format_version", 1},
          {"folio_version", FOLIO_VERSION},
          {"source",
           {{"path", job.input.path.string()},
            {"sha256", job.sha256.empty() ? std::string(64, '0') : job.sha256},
            {"size_bytes", job.size},
            {"format", job.format.empty() ? json(nullptr) : json(job.format)},
            {"page_count", job.page_count < 0 ? json(nullptr) : json(job.page_count)},
            {"pages_processed", job.error ? json::array() : pages}}},
          {"schema", {{"name", o.schema.name}, {"path", o.schema.path.string()}, {"sha256", o.schema.sha256}}},
          {"model", model},
          {"status", status},
          {"error", job.error ? error_json(*job.error) : json(nullptr)},
          {"missing_required", missing},
          {"fields", fields},
          {"timings_ms", job.timings_ms}};
}

// Everything the finishing step touches, shared by the graph's nodes.
struct Finisher {
  const RunOptions& options;
  Manifest manifest;
  std::mutex mutex;
  RunSummary summary;

  Finisher(const RunOptions& o) : options(o), manifest(o.out_dir / "folio-run.jsonl") {}

  void finish(DocumentJob& job) {
    const bool interrupted = options.interrupted && options.interrupted->load();
    json record = {{"path", job.input.path.string()}, {"output", job.output.string()}};
    std::string status;
    if (!job.skip_reason.empty()) {
      status = "skipped";
      record["reason"] = job.skip_reason;
    } else if (interrupted && !job.error && job.stop) {
      status = "interrupted";  // not written: the next run redoes it
    } else {
      const json doc = document_json(job, options, status);
      try {
        write_file_atomic(job.output, doc.dump(2) + "\n");
      } catch (const Error& e) {
        status = "failed";
        job.fail(e);
      }
      if (options.jsonl) {
        std::lock_guard lock(mutex);
        const auto line = doc.dump() + "\n";
        std::fwrite(line.data(), 1, line.size(), options.jsonl);
        std::fflush(options.jsonl);
      }
      record["sha256"] = job.sha256;
      record["pages"] = job.pages.size();
      if (job.error) record["error"] = error_json(*job.error);
      if (status == "incomplete") record["missing_required"] = doc["missing_required"];
    }
    record["status"] = status;
    record["ms"] = ms_since(job.start);
    manifest.append(record);
    spdlog::debug("{}: {} ({} pages, {:.0f} ms)", job.input.path.string(), status, job.pages.size(),
                  record["ms"].get<double>());
    std::lock_guard lock(mutex);
    if (status == "ok") ++summary.ok;
    if (status == "skipped") ++summary.skipped;
    if (status == "incomplete") {
      ++summary.incomplete;
      std::string list;
      for (const auto& m : record["missing_required"]) list += (list.empty() ? "" : ", ") + m.get<std::string>();
      summary.problems.emplace_back(job.input.path.string(), "incomplete: missing " + list);
    }
    if (status == "failed") {
      ++summary.failed;
      std::string why = job.error ? job.error->reason() : "failed";
      if (job.error && job.error->context().page) why += " (page " + std::to_string(*job.error->context().page) + ")";
      summary.problems.emplace_back(job.input.path.string(), "failed: " + why);
    }
    if (options.progress && status != "interrupted") options.progress->document_done(status != "failed");
  }
};

}  // namespace

RunSummary run_documents(const std::vector<InputFile>& inputs, PageModel& model, const RunOptions& o_in) {
  RunOptions o = o_in;
  if (o.render_longest_edge <= 0) o.render_longest_edge = model.render_longest_edge();
  const int threads = std::max(1, o.threads);
  const int pages_in_flight = std::max(1, o.pages_in_flight);
  auto interrupted = [&] { return o.interrupted && o.interrupted->load(); };

  // A process killed between creating a temporary file and renaming it leaves a hidden .X.json.tmp-N
  // behind. Only old ones go: another shard writing into the same folder may be mid-write right now.
  std::error_code ec;
  if (fs::is_directory(o.out_dir, ec))
    for (const auto& p : remove_stale_temp_files(o.out_dir, fs::file_time_type::clock::now() - kStaleTempAge))
      spdlog::info("removed {}, left by a run that was killed while writing", p.string());

  CoreLease lease(threads);
  EngineThread engine_thread;
  Finisher finisher(o);

  // Two more than the core budget: the answer node blocks on the engine thread without computing, and a
  // blocked deadline wait holds a thread too; the CoreLease keeps the computing threads at `threads`.
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads) + 2);
  tbb::task_arena arena(threads + 2);
  arena.execute([&] {
    flow::graph g;
    std::size_t next = 0;
    flow::input_node<Job> source(g, [&](tbb::flow_control& fc) -> Job {
      if (next >= inputs.size() || interrupted()) {
        fc.stop();
        return nullptr;
      }
      auto job = std::make_shared<DocumentJob>();
      job->input = inputs[next++];
      job->output = output_path(o.out_dir, job->input);
      return job;
    });
    flow::limiter_node<Job> docs_in_flight(g, static_cast<std::size_t>(pages_in_flight) + 1);

    using OpenOut = flow::multifunction_node<Job, std::tuple<PageTask, Job>>;
    OpenOut open(g, flow::unlimited, [&](const Job& job, OpenOut::output_ports_type& out) {
      if (o.timeout_per_doc_s > 0)
        job->deadline = job->start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_per_doc_s));
      try {
        auto hold = lease.stage();
        open_document(*job, o);
      } catch (const Error& e) {
        job->fail(e.with_file(job->input.path.string()));
      } catch (const std::exception& e) {
        job->fail(Error(ErrorKind::Internal, e.what(), {job->input.path.string()}));
      }
      if (interrupted()) job->stop = true;
      if (!job->skip_reason.empty() || job->stop || job->pages.empty()) {
        std::get<1>(out).try_put(job);
        return;
      }
      job->pages_left = static_cast<int>(job->pages.size());
      if (o.progress) o.progress->set_pages_total(static_cast<int>(job->pages.size()));
      for (int p : job->pages) std::get<0>(out).try_put(PageTask{job, p, nullptr, {}});
    });

    flow::queue_node<PageTask> page_queue(g);
    flow::limiter_node<PageTask> pages_limiter(g, static_cast<std::size_t>(pages_in_flight));

    flow::function_node<PageTask, PageTask> prepare(g, static_cast<std::size_t>(threads), [&](PageTask t) {
      DocumentJob& job = *t.doc;
      if (job.stop || interrupted()) return t;
      try {
        if (job.past_deadline()) throw Error(ErrorKind::Timeout, "timed out before reading the page");
        auto hold = lease.stage();
        const auto t0 = Clock::now();
        auto source = job.source;
        const int index = t.page;
        auto page = call_with_deadline([source, index] { return source->load(index); }, job.deadline,
                                       "rendering page " + std::to_string(index));
        job.add_time("render", ms_since(t0));
        if (o.cleanup.deskew || o.cleanup.fix_orientation || o.cleanup.normalize_background) {
          const auto t1 = Clock::now();
          page.image = stages::cleanup_page(page.image, o.cleanup);
          job.add_time("cleanup", ms_since(t1));
        }
        const auto t2 = Clock::now();
        t.prepared = std::make_shared<PreparedPage>(model.prepare(page.image));
        job.add_time("tile", ms_since(t2));
      } catch (const Error& e) {
        job.fail(e.with_file(job.input.path.string()).with_page(t.page));
      } catch (const std::exception& e) {
        job.fail(Error(ErrorKind::Internal, e.what(), {job.input.path.string(), t.page}));
      }
      return t;
    });

    flow::function_node<PageTask, PageTask> answer(g, flow::serial, [&](PageTask t) {
      DocumentJob& job = *t.doc;
      if (job.stop || interrupted() || !t.prepared) return t;
      std::vector<std::string> questions;
      for (int f : job.fields[t.page]) questions.push_back(o.schema.fields[f].question);
      auto cancel = [&job, &interrupted] { return job.stop.load() || job.past_deadline() || interrupted(); };
      try {
        t.answers = engine_thread.run([&] {
          auto hold = lease.engine();
          return model.answer(*t.prepared, questions, cancel);
        });
        for (const auto& a : t.answers)
          if (a.stop_reason == "cancelled") {
            if (job.past_deadline())
              throw Error(ErrorKind::Timeout, "timed out while answering (--timeout-per-doc)", {job.input.path.string(), t.page});
            job.stop = true;  // interrupted
          }
      } catch (const Error& e) {
        job.fail(e.with_file(job.input.path.string()).with_page(t.page));
      } catch (const std::exception& e) {
        job.fail(Error(ErrorKind::Internal, e.what(), {job.input.path.string(), t.page}));
      }
      t.prepared.reset();  // the page's pixels are no longer needed
      return t;
    });

    flow::function_node<PageTask, flow::continue_msg> collect(g, flow::serial, [&](const PageTask& t) {
      DocumentJob& job = *t.doc;
      if (!job.stop && t.answers.size() == job.fields[t.page].size()) {
        const auto& asked = job.fields[t.page];
        std::lock_guard lock(job.mutex);
        for (std::size_t i = 0; i < asked.size(); ++i) {
          const Field& field = o.schema.fields[asked[i]];
          const auto& a = t.answers[i];
          Candidate c{t.page, a.text, answer_confidence(a.token_logprobs), normalize_field(field, a.text, o.normalize)};
          job.candidates[asked[i]].push_back(std::move(c));
          for (const auto& [k, v] : a.timings_ms) job.timings_ms[k] += v;
        }
      }
      if (o.progress) o.progress->page_done();
      pages_limiter.decrementer().try_put(flow::continue_msg());
      if (--job.pages_left == 0) {
        finisher.finish(job);
        docs_in_flight.decrementer().try_put(flow::continue_msg());
      }
      return flow::continue_msg();
    });

    flow::function_node<Job, flow::continue_msg> finish_early(g, flow::serial, [&](const Job& job) {
      finisher.finish(*job);
      docs_in_flight.decrementer().try_put(flow::continue_msg());
      return flow::continue_msg();
    });

    flow::make_edge(source, docs_in_flight);
    flow::make_edge(docs_in_flight, open);
    flow::make_edge(flow::output_port<0>(open), page_queue);
    flow::make_edge(flow::output_port<1>(open), finish_early);
    flow::make_edge(page_queue, pages_limiter);
    flow::make_edge(pages_limiter, prepare);
    flow::make_edge(prepare, answer);
    flow::make_edge(answer, collect);
    source.activate();
    g.wait_for_all();
  });
  finisher.summary.interrupted = interrupted();
  if (o.progress) o.progress->finish();
  return finisher.summary;
}

std::vector<PlannedDocument> plan_documents(const std::vector<InputFile>& inputs, const RunOptions& o) {
  std::vector<PlannedDocument> out;
  for (const auto& input : inputs) {
    PlannedDocument p{input, false, "", -1};
    DocumentJob job;
    job.input = input;
    job.output = output_path(o.out_dir, input);
    try {
      open_document(job, o);
      if (!job.skip_reason.empty()) {
        p.skip = true;
        p.reason = job.skip_reason;
        p.pages = job.page_count;  // from the existing output: the document is not opened again
      } else {
        p.pages = static_cast<int>(job.pages.size());
      }
    } catch (const Error& e) {
      p.reason = e.what();
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace folio::pipeline
