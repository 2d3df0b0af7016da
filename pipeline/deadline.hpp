// Running a blocking call with a deadline. A document's file may hang (a FIFO, a stale network mount, a
// pathological PDF): the call runs on its own thread and the caller stops waiting at the deadline. The
// abandoned thread keeps only what it captured (shared state) and dies with the process.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/error.hpp"

namespace folio::pipeline {

using Clock = std::chrono::steady_clock;

// Returns fn()'s result, rethrows its exception, or throws Error(Timeout) once `deadline` passes.
// No deadline (nullopt) runs fn inline.
template <typename Fn>
auto call_with_deadline(Fn fn, std::optional<Clock::time_point> deadline, const std::string& what)
    -> decltype(fn()) {
  using R = decltype(fn());
  if (!deadline) return fn();
  if (Clock::now() >= *deadline) throw Error(ErrorKind::Timeout, "timed out before " + what);
  auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
  std::future<R> result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_until(*deadline) != std::future_status::ready)
    throw Error(ErrorKind::Timeout, "timed out while " + what);
  return result.get();
}

}  // namespace folio::pipeline
