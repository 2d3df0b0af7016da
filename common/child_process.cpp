#include "common/child_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

extern char** environ;

namespace folio {

ChildRun run_and_measure(const std::vector<std::string>& args, bool discard_stdout) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (discard_stdout) posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ChildRun r;
  if (rc != 0) return r;
  // The child's own high-water mark (VmHWM), read until it exits. Not wait4's ru_maxrss: a child started
  // by posix_spawn shares the parent's memory until its exec, and Linux carries the parent's high-water
  // mark into the child's ru_maxrss (a benchmark holding weights would report its own peak).
  double peak_kb = -1;
  int status = 0;
  for (;;) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmHWM:", 0) == 0) peak_kb = std::max(peak_kb, std::stod(line.substr(6)));
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.peak_rss_mb = peak_kb < 0 ? -1 : peak_kb / 1024.0;
  return r;
}

}  // namespace folio
