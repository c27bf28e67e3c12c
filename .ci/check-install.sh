#!/usr/bin/env bash
# Installs the build in $1 into a staging directory and checks that a program compiled
# with `pkg-config --cflags --libs asio-pidfd` against it builds and runs.
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --quiet
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
root=$dest$prefix
test -f "$root/include/pidfd/pidfd.hpp"
test -f "$root/include/pidfd/detail/linux.hpp"
pcdir=$(dirname "$(find "$root" -name asio-pidfd.pc | head -n 1)")
libdir=$(dirname "$(find "$root" -name 'libasio-pidfd.so*' | head -n 1)")
cat > "$dest/consumer.cpp" <<'CPP'
#include <pidfd/pidfd.hpp>
#include <iostream>
int main() {
  pidfd::pid_fd self = pidfd::pid_fd::self();
  std::cout << "consumer: pid " << self.pid() << "\n" << pidfd::to_string(pidfd::kernel_support());
  return self.pid() > 0 ? 0 : 1;
}
CPP
# The .pc file carries the installed prefix; point pkg-config at the staging copy.
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-prefix --cflags --libs asio-pidfd)
g++ -std=c++20 "$dest/consumer.cpp" -o "$dest/consumer" $flags
LD_LIBRARY_PATH=$libdir "$dest/consumer"
echo "install check: ok"
