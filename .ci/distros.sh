#!/usr/bin/env bash
# Builds and runs the whole test suite with the toolchains of newer Debian releases, each
# in a cached debootstrap chroot (.ci/chroot.sh), with -Werror:
#   DISTRO-gcc    the README's steps: install-deps.sh (in the chroot's making), meson setup,
#                 compile everything (library, tests, examples, benchmarks, tools, docs
#                 snippets), the demo, then meson test. With GCC_BUILD=core: the library,
#                 the tests and the tools only (another distribution's GCC build compiled
#                 the rest), then meson test
#   DISTRO-clang  the library and the tests only (the GCC build compiled the rest), then the
#                 suite without the fault-injection walk (the GCC build ran it)
# Build directories: build-DISTRO-gcc and build-DISTRO-clang; the gtest XML report of each is
# build-DISTRO-CC/asio-pidfd-tests.xml (for .ci/tally.py).
# Usage: [GCC_BUILD=everything|core] .ci/distros.sh [DISTRO...]   (default: trixie sid)
set -euo pipefail
cd "$(dirname "$0")/.."
distros=("$@")
[ ${#distros[@]} -gt 0 ] || distros=(trixie sid)
case ${GCC_BUILD:=everything} in
  everything) gcc_options=(-Dbenchmarks=enabled -Ddocs=enabled) ;;
  core) gcc_options=(-Dexamples=disabled -Dbenchmarks=disabled -Ddocs=disabled) ;;
  *) echo "distros: GCC_BUILD must be everything or core, not $GCC_BUILD" >&2; exit 2 ;;
esac

start=$(date +%s)
stamp() { echo "=== $* ($(( $(date +%s) - start )) s)"; }

# Runs in the chroot: configure (or reconfigure) build dir $1 with compiler $2 and options
# $4..., build, and run the tests $3 ("all" for every test).
inner=$(cat <<'SCRIPT'
set -eu
dir=$1 cxx=$2 tests=$3; shift 3
echo "$dir: $($cxx --version | head -n 1), meson $(meson --version)"
if [ -d "$dir/meson-private" ]; then set -- --reconfigure "$@"; fi
mkdir -p "$dir"
CXX=$cxx meson setup "$dir" --wrap-mode=nodownload --werror "$@" >"$dir/ci-setup.log" 2>&1 ||
  { cat "$dir/ci-setup.log"; exit 1; }
sed -n '/^asio-pidfd /,/^  User defined/p' "$dir/ci-setup.log" | grep -v 'User defined'
meson compile -C "$dir" -j 2
if [ -x "$dir/examples/wait_callback" ]; then "$dir/examples/wait_callback"; fi
if [ "$tests" = all ]; then tests=; fi
# shellcheck disable=SC2086 # a list of test names
meson test -C "$dir" --print-errorlogs $tests
SCRIPT
)

status=0
for d in "${distros[@]}"; do
  stamp "$d: chroot"
  .ci/chroot.sh "$d"
  stamp "$d: GCC, $GCC_BUILD"
  .ci/chroot.sh "$d" -- sh -c "$inner" inner "build-$d-gcc" g++ all "${gcc_options[@]}" || status=1
  stamp "$d: Clang, library and tests"
  .ci/chroot.sh "$d" -- sh -c "$inner" inner "build-$d-clang" clang++ \
    "asio-pidfd-tests lib-has-no-asio" \
    -Dexamples=disabled -Dbenchmarks=disabled -Dtools=disabled -Ddocs=disabled || status=1
done
stamp "distros: done (status $status)"
exit $status
