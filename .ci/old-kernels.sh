#!/usr/bin/env bash
# Runs the whole test suite and the examples' smoke tests of an existing build under
# Debian 12's real 6.1 and 6.12 kernels, booted in qemu by shared/tools/run-on-kernel.sh.
# Usage: .ci/old-kernels.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tool=${RUN_ON_KERNEL:-../shared/tools/run-on-kernel.sh}
[ -x "$tool" ] || { echo "old-kernels: $tool not found" >&2; exit 1; }

# Debian 12's 6.12 kernels have no unversioned meta package: take the newest image.
k612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]+\+deb12-cloud-amd64-unsigned$' |
       awk '{print $1}' | sort -V | tail -n 1)
[ -n "$k612" ] || { apt-get update -q >/dev/null; k612=$(apt-cache search --names-only \
  '^linux-image-6\.12\.[0-9.]+\+deb12-cloud-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -n 1); }
[ -n "$k612" ] || { echo "old-kernels: no Debian 6.12 cloud kernel package found" >&2; exit 1; }

# The command run inside the guest: the gtest binary, then every example with the
# arguments meson gives it (examples/meson.build), stopping at the first failure.
guest_script=$(cat <<SCRIPT
set -e
uname -r
# Emulated kernels run 3-8x slower: the stress loops (1000 spawns, 8x250, ...) run at a
# tenth of their native counts; every other test is unchanged.
export ASIO_PIDFD_TEST_LOOP_DIVISOR=10
# Memory pressure (test/memory_pressure.cpp): only these guests mount cgroup2 with the
# memory controller and run us as root. Run first, so that the whole suite's counts are
# the last ones in the log (they are what the tally reads).
t0=\$(date +%s)
ASIO_PIDFD_TEST_MEMORY_PRESSURE=1 setsid $build/test/asio-pidfd-tests --gtest_filter='MemoryPressure.*'
echo "old-kernels: memory pressure tests took \$(( \$(date +%s) - t0 )) s"
# A session of its own: the guest's init runs us in process group 0, which no real
# system gives a user process (and which spawn's process_group tests would trip over).
# sh's child is no group leader, so setsid execs the tests in place: their status is ours.
setsid $build/test/asio-pidfd-tests --gtest_brief=1
for e in wait_callback wait_future wait_coroutine terminate spawn_and_wait run_capture; do
  echo "example \$e"; $build/examples/\$e >/dev/null
done
echo "example peer_server"; $build/examples/peer_server --self-test >/dev/null
echo "example coredump_server"; $build/examples/coredump_server --self-test >/dev/null
echo "old-kernels: all passed"
SCRIPT
)

# Each kernel's gtest counts go to $build/tally-<name>.txt as "passed failed skipped".
count() { tr -d '\r' < "$2" | sed -n "s/^\[ *$1 *\] \([0-9]*\) tests\{0,1\}[,.].*/\1/p" | tail -n 1; }
status=0
for pkg in linux-image-cloud-amd64 "$k612"; do
  name=$([ "$pkg" = linux-image-cloud-amd64 ] && echo 6.1 || echo 6.12)
  echo "=== Linux $name ($pkg)"
  log=$build/old-kernel-$name.log
  t0=$(date +%s)
  if KERNEL_PKG=$pkg "$tool" --timeout 1200 --mem 2048 --smp 2 \
       --add "$build/test" --add "$build/lib" --add "$build/examples" --add "$build/tools" --add "$PWD/docs" \
       -- sh -c "$guest_script" 2>&1 | tee "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
    echo "=== Linux $name: passed in $(( $(date +%s) - t0 )) s"
  else
    echo "=== Linux $name: FAILED after $(( $(date +%s) - t0 )) s"
    status=1
  fi
  passed=$(count PASSED "$log"); failed=$(count FAILED "$log"); skipped=$(count SKIPPED "$log")
  echo "${passed:-0} ${failed:-0} ${skipped:-0}" > "$build/tally-$name.txt"
  tr -d '\r' < "$log" | grep '^\[  SKIPPED \] [A-Za-z]' | sort -u || true
done
exit $status
