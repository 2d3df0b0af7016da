// Runs a program as a child process and measures it from outside: exit code, wall time, and the peak
// resident memory of the child's own address space (what the benchmarks report).
#pragma once

#include <string>
#include <vector>

namespace folio {

struct ChildRun {
  int exit_code = -1;  // -1: it could not start, or a signal ended it
  double seconds = 0;
  double peak_rss_mb = -1;
};

// argv[0] is the program's path. With discard_stdout, the child's standard output goes to /dev/null.
ChildRun run_and_measure(const std::vector<std::string>& argv, bool discard_stdout = false);

}  // namespace folio
