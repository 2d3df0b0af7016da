// The engine's one owner thread. oneDNN runs on OpenMP, whose thread pool belongs to the thread that
// starts a parallel region: calling the engine from whichever TBB worker is free would build one spinning
// OpenMP pool per worker. Every engine call is therefore handed to this single thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace folio::pipeline {

class EngineThread {
 public:
  EngineThread();
  ~EngineThread();
  EngineThread(const EngineThread&) = delete;
  EngineThread& operator=(const EngineThread&) = delete;

  // Runs fn on the engine thread and waits for it; exceptions travel back to the caller.
  template <typename Fn>
  auto run(Fn fn) -> decltype(fn()) {
    using R = decltype(fn());
    std::packaged_task<R()> task(std::move(fn));
    auto result = task.get_future();
    post([&task] { task(); });
    return result.get();
  }

 private:
  void post(std::function<void()> job);
  void loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace folio::pipeline
