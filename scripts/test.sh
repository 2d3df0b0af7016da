#!/usr/bin/env bash
# Runs the whole test suite on the Release build (build/). Usage: scripts/test.sh [--sanitize]
# --sanitize runs the same suite on the ASan+UBSan build (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
[[ ${1:-} == --sanitize ]] && build=build-asan
scripts/setup.sh ${1:-} >/dev/null
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$PWD/scripts/ubsan.supp}
ctest --test-dir "$build" --output-on-failure -j 2
