#!/usr/bin/env bash
# Runs clang-tidy over the test suite, the benchmarks and the fuzzers (test/*.cpp,
# bench/*.cpp, fuzz/*.cpp, and the private headers next to them), through scripts/tidy.sh:
# the same .clang-tidy, the same report, failing on any finding. Only the files a build
# compiles are checked: bench/ needs -Dbenchmarks=enabled, fuzz/ -Dfuzzing=enabled,
# test/tools.cpp -Dtools=enabled.
#
#   scripts/tidy-tests.sh [builddir]     default builddir: build-clang
#
# Test code differs from the library in one way that matters here: GoogleTest's TEST()
# registers each test in a static object whose initialisation may throw, which
# cert-err58-cpp reports at every test; a throw there ends the test binary at start-up,
# which is the right outcome for a test program. That check is off for these files.
# Environment: as scripts/tidy.sh (CLANG_TIDY, TIDY_JOBS); TIDY_SOURCES narrows the set to
# the source files named, each in the compilation database, e.g.
# TIDY_SOURCES="test/pid_fd.cpp bench/wait_bench.cpp".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${1:-$root/build-clang}" && pwd)
clang_tidy=${CLANG_TIDY:-clang-tidy}
command -v "$clang_tidy" > /dev/null || { echo "tidy-tests: $clang_tidy not found" >&2; exit 2; }

[ -r "$builddir/compile_commands.json" ] || {
  echo "tidy-tests: no compile_commands.json in $builddir (run: CXX=clang++ meson setup $builddir)" >&2
  exit 2
}

# The test, benchmark and fuzzer sources the build compiles, relative to the repository.
if [ -z "${TIDY_SOURCES:-}" ]; then
  TIDY_SOURCES=$(ROOT="$root" python3 - "$builddir" <<'PY'
import json, os, re, sys
builddir, root = sys.argv[1], os.environ["ROOT"]
chosen = set()
with open(os.path.join(builddir, "compile_commands.json")) as f:
    for entry in json.load(f):
        path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
        rel = os.path.relpath(path, root)
        if re.match(r"^(test|bench|fuzz)/[^/]+\.cpp$", rel):
            chosen.add(rel)
print(" ".join(sorted(chosen)))
PY
)
fi
[ -n "$TIDY_SOURCES" ] || { echo "tidy-tests: no test, bench or fuzz sources in $builddir" >&2; exit 2; }

# scripts/tidy.sh runs "$CLANG_TIDY" with .clang-tidy; this wrapper adds what differs for
# these files: their own headers are ours too, and cert-err58-cpp is off (see above).
wrapper_dir=$(mktemp -d)
trap 'rm -rf "$wrapper_dir"' EXIT
cat > "$wrapper_dir/clang-tidy" <<EOF
#!/bin/sh
exec "$(command -v "$clang_tidy")" \\
  --header-filter='.*/(include/pidfd|lib|tools|test|bench|fuzz)/[^/]+(/[^/]+)?\\.hpp\$' \\
  --checks=-cert-err58-cpp "\$@"
EOF
chmod +x "$wrapper_dir/clang-tidy"

CLANG_TIDY="$wrapper_dir/clang-tidy" TIDY_SOURCES="$TIDY_SOURCES" "$root/scripts/tidy.sh" "$builddir"
