#!/usr/bin/env bash
# Runs clang-tidy, with the repository's .clang-tidy, over the library (lib/), the tools,
# the examples, the tests, the benchmarks and the fuzzers (those of them the build
# configures), and one translation unit per public header (test/header_check_*.cpp, so
# every header under include/pidfd/ is analysed), taking the compile commands of a Clang
# build. Fails on any finding. docs/internals/static-analysis.md says what is checked and why;
# test/.clang-tidy adjusts the checks for the tests.
#
#   scripts/tidy.sh [builddir]       default builddir: build-clang
#
# The build directory must come from `CXX=clang++ meson setup <builddir>` (GCC's flags are
# not all Clang's); it need not be compiled: version.hpp and the header checks are
# generated at setup time.
# Environment: CLANG_TIDY (default clang-tidy), TIDY_JOBS (parallel runs, default: the
# number of cores), TIDY_SOURCES (space-separated source files to check instead of the
# default set, e.g. TIDY_SOURCES=lib/kernel.cpp).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${1:-$root/build-clang}" && pwd)
clang_tidy=${CLANG_TIDY:-clang-tidy}
jobs=${TIDY_JOBS:-$(nproc)}

[ -r "$builddir/compile_commands.json" ] || {
  echo "tidy: no compile_commands.json in $builddir (run: CXX=clang++ meson setup $builddir)" >&2
  exit 2
}
command -v "$clang_tidy" > /dev/null || { echo "tidy: $clang_tidy not found" >&2; exit 2; }

# The sources, absolute, in compile_commands.json's order: the default set, or those named
# in TIDY_SOURCES (each must be in the compilation database).
mapfile -t sources < <(ROOT="$root" WANT="${TIDY_SOURCES:-}" python3 - "$builddir" <<'PY'
import json, os, re, sys
builddir = sys.argv[1]
root = os.environ["ROOT"]
want = {os.path.realpath(os.path.join(root, w)) for w in os.environ["WANT"].split()}
default = re.compile(r"^(lib|tools|examples|test|bench|fuzz)/[^/]+\.cpp$")
seen = set()
with open(os.path.join(builddir, "compile_commands.json")) as f:
    for entry in json.load(f):
        path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
        if path in seen:
            continue
        seen.add(path)
        if want:
            chosen = path in want
        else:
            rel_root = os.path.relpath(path, root)
            rel_build = os.path.relpath(path, builddir)
            # Not the umbrella header's check: pidfd.hpp only includes the others, each of
            # which has its own, and it is the slowest unit of all.
            chosen = bool(default.match(rel_root)) or (
                bool(re.match(r"^test/header_check_[a-z_]+\.cpp$", rel_build))
                and rel_build != "test/header_check_pidfd.cpp")
        if chosen:
            print(path)
missing = want - seen
if missing:
    sys.exit("tidy: not in the compilation database: " + " ".join(sorted(missing)))
PY
)
[ "${#sources[@]}" -gt 0 ] || { echo "tidy: no source files selected" >&2; exit 2; }

t0=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
echo "tidy: $("$clang_tidy" --version | sed -n 's/.*LLVM version \([0-9.]*\).*/clang-tidy \1/p'):" \
  "${#sources[@]} translation units, $jobs at a time"

# One clang-tidy per source file; each writes its own log. A source of the repository
# takes the nearest .clang-tidy above it (the repository's, or test/.clang-tidy, which
# inherits it); the generated header checks live in the build directory, which may be
# anywhere, so they are given the repository's explicitly.
export clang_tidy builddir root logs
# shellcheck disable=SC2016 # the inner sh expands them
printf '%s\n' "${sources[@]}" | xargs -P "$jobs" -I{} sh -c '
  log="$logs/$(printf %s "$1" | tr / _).log"
  case $1 in
    "$builddir"/*) config="--config-file=$root/.clang-tidy" ;;
    *) config= ;;
  esac
  # shellcheck disable=SC2086 # $config is one word or none
  "$clang_tidy" -p "$builddir" --quiet $config "$1" > "$log" 2>&1 ||
    echo "$1" >> "$logs/failed"
' sh {}

# Each finding once (a header's findings are reported by every unit that includes it),
# named relative to the repository (clang-tidy names headers relative to the build dir).
cat "$logs"/*.log | grep -E '^[^ :]+:[0-9]+:[0-9]+: (warning|error): ' |
  while IFS= read -r line; do
    file=${line%%:*}
    case $file in /*) ;; *) file=$builddir/$file ;; esac
    printf '%s:%s\n' "$(realpath -m --relative-to="$root" "$file")" "${line#*:}"
  done | sed 's/,-warnings-as-errors\]$/]/' | sort -u > "$logs/findings" || true

failed=0
[ -s "$logs/failed" ] && failed=$(wc -l < "$logs/failed")
if [ "$failed" -gt 0 ] || [ -s "$logs/findings" ]; then
  # The full report, with the code excerpts, then the list.
  cat "$logs"/*.log | grep -Ev '^[0-9]+ (warning|error)s? generated\.$' || true
  echo
  echo "tidy: $(wc -l < "$logs/findings") distinct findings, reported by $failed of" \
    "${#sources[@]} translation units ($((SECONDS - t0)) s):"
  cat "$logs/findings"
  exit 1
fi
echo "tidy: ${#sources[@]} translation units, no findings ($((SECONDS - t0)) s)"
