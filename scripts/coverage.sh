#!/usr/bin/env bash
# Line and branch coverage of lib/ and include/ by the test suite (docs/internals/coverage.md).
#
#   scripts/coverage.sh [BUILD_DIR]      (default build-coverage)
#
# Sets up BUILD_DIR if it has no build yet: GCC, --buildtype=debug, -Db_coverage=true,
# only the library and the suite. Then compiles, deletes old counters, runs the suite and
# reports with gcovr (Debian: apt-get install gcovr): the lines not run per file, the
# branches per file, and a summary. Fails if line coverage is under COVERAGE_MIN_LINES
# percent (default 88), or branch coverage under COVERAGE_MIN_BRANCHES percent (default 0:
# no floor). Reports are left in BUILD_DIR/coverage/: lines.txt, branches.txt,
# summary.txt and .json, coverage.json (gcovr's tracefile), index.html.
#
# The suite is every meson test: the gtest binary and asio-pidfd-fault-tests, the library
# compiled again with fault injection (lib/fault.hpp), whose walk fails each system call
# of each operation in turn. Both are compiled from the same sources, so gcovr adds their
# counts line by line. COVERAGE_TESTS (meson test names, space-separated) runs only those,
# e.g. COVERAGE_TESTS=asio-pidfd-tests for the figure without fault injection.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-coverage}
min_lines=${COVERAGE_MIN_LINES:-88}
min_branches=${COVERAGE_MIN_BRANCHES:-0}

command -v gcovr > /dev/null ||
  { echo "coverage: needs gcovr (apt-get install gcovr)" >&2; exit 1; }

if [ ! -f "$build/build.ninja" ]; then
  # -fprofile-update=atomic: the suite runs threads, and spawn()'s child runs in our memory
  # until execve (CLONE_VM), so plain counter increments race; the lost updates made gcov
  # derive negative branch counts, which gcovr 5 cannot parse.
  # The tools are not built, so test/tools.cpp is left out of the suite (test/meson.build):
  # tools/ is outside what is measured, and the other CI builds run those tests.
  CXX=${CXX:-g++} meson setup "$build" --wrap-mode=nodownload --werror --buildtype=debug \
    -Db_coverage=true -Dcpp_args=-fprofile-update=atomic \
    -Dbenchmarks=disabled -Dexamples=disabled -Dtools=disabled -Ddocs=disabled
fi
meson compile -C "$build"
find "$build" -name '*.gcda' -delete
# shellcheck disable=SC2086  # COVERAGE_TESTS is a list of words
meson test -C "$build" --print-errorlogs ${COVERAGE_TESTS:-}

# One gcov pass into a tracefile; the reports are made from it. Exception edges (GCC gives
# every call that may throw a branch) and branches GCC marks unreachable are not counted:
# they would make the branch figure a count of call sites.
out=$build/coverage
rm -rf "$out"
mkdir -p "$out"
gcovr --root . --object-directory "$build" --filter 'lib/' --filter 'include/' --exclude 'lib/fault\..*' \
  --exclude-unreachable-branches --exclude-throw-branches --json "$out/coverage.json"
gcovr --add-tracefile "$out/coverage.json" --sort-uncovered --txt "$out/lines.txt"
gcovr --add-tracefile "$out/coverage.json" --branches --sort-uncovered --txt "$out/branches.txt"
gcovr --add-tracefile "$out/coverage.json" --html-details "$out/index.html" > /dev/null
cat "$out/lines.txt" "$out/branches.txt"
echo "coverage of lib/ and include/ by the test suite (branches without exception edges):"
rc=0
gcovr --add-tracefile "$out/coverage.json" --json-summary "$out/summary.json" --print-summary \
  --fail-under-line "$min_lines" --fail-under-branch "$min_branches" > "$out/summary.txt" || rc=$?
cat "$out/summary.txt"
# gcovr exits with 2 when the line figure is under --fail-under-line, 4 when the branch
# figure is under --fail-under-branch, 6 when both are.
[ $((rc & 2)) = 0 ] || echo "coverage: line coverage is under the floor of $min_lines%" >&2
[ $((rc & 4)) = 0 ] || echo "coverage: branch coverage is under the floor of $min_branches%" >&2
exit "$rc"
