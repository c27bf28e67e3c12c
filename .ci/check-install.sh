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
# The command-line tools go to bindir, their manual pages to the documentation.
for t in pidfd-info pidfd-run pidfd-wait; do
  test -x "$root/bin/$t" && test -f "$root/share/doc/asio-pidfd/man/$t.md"
done
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
prefix_root=$root
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$prefix_root" --cflags --libs asio-pidfd)
g++ -std=c++20 "$dest/consumer.cpp" -o "$dest/consumer" $flags
LD_LIBRARY_PATH=$libdir "$dest/consumer"
echo "pkg-config consumer: ok"

# CMake: find_package(asio-pidfd) from the staged prefix.
mkdir -p "$dest/cmake-consumer"
cp "$dest/consumer.cpp" "$dest/cmake-consumer/"
cat > "$dest/cmake-consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(consumer CXX)
find_package(asio-pidfd REQUIRED)
add_executable(consumer consumer.cpp)
target_link_libraries(consumer PRIVATE asio-pidfd::asio-pidfd)
CMAKE
cmake -S "$dest/cmake-consumer" -B "$dest/cmake-build" -DCMAKE_PREFIX_PATH="$root" >/dev/null
cmake --build "$dest/cmake-build" >/dev/null
LD_LIBRARY_PATH=$libdir "$dest/cmake-build/consumer" >/dev/null
echo "CMake consumer: ok"

# Meson: the library as a subproject, found with dependency('asio-pidfd') alone.
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dest/meson-consumer/subprojects"
cp "$dest/consumer.cpp" "$dest/meson-consumer/"
ln -s "$src" "$dest/meson-consumer/subprojects/asio-pidfd"
cat > "$dest/meson-consumer/meson.build" <<'MESON'
project('consumer', 'cpp', default_options : ['cpp_std=c++20'])
executable('consumer', 'consumer.cpp',
  dependencies : dependency('asio-pidfd', fallback : ['asio-pidfd', 'asio_pidfd_dep']))
MESON
meson setup "$dest/meson-build" "$dest/meson-consumer" --wrap-mode=nodownload >/dev/null
ninja -C "$dest/meson-build" >/dev/null
"$dest/meson-build/consumer" >/dev/null
echo "Meson subproject consumer: ok"
