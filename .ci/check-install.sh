#!/usr/bin/env bash
# Installs the build in $1 into a staging directory and checks that the tools' manual
# pages are found by `man` there; that a program compiled with
# `pkg-config --cflags --libs asio-pidfd` against it builds and runs (found at run time
# through the rpath the README shows), the .pc file read where it lies (it is relocatable:
# no --define-variable needed) and with --define-prefix; that a C++23 program builds
# against it with GCC and Clang; that CMake's find_package finds it; and that a Meson
# project consuming a `meson dist` tarball through a wrap file builds, runs and installs
# nothing of ours. Everything offline.
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
# The command-line tools go to bindir, their manual pages to mandir's section 1, where
# `man` finds them (MANPATH pointed at the staged tree) and renders them without a warning.
mandir=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="mandir"))')
for t in pidfd-info pidfd-run pidfd-wait; do
  test -x "$root/bin/$t"
  page=$(MANPATH=$root/$mandir man -w "$t")
  [ "$page" = "$root/$mandir/man1/$t.1" ] || { echo "man -w $t: '$page'" >&2; exit 1; }
  warnings=$(MANPATH=$root/$mandir MANWIDTH=80 man --warnings=w "$t" 2>&1 > "$dest/$t.txt")
  [ -z "$warnings" ] || { echo "man $t warns:" >&2; echo "$warnings" >&2; exit 1; }
  grep -q "^NAME" "$dest/$t.txt" && grep -q "^ *$t " "$dest/$t.txt"
done
echo "manual pages: man finds and renders pidfd-info, pidfd-run and pidfd-wait"
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
# The .pc file names its prefix relative to its own place (${pcfiledir}): read where it
# lies in the staging tree, it points there, as it does with --define-prefix.
pc() { PKG_CONFIG_PATH=$pcdir pkg-config "$@" asio-pidfd; }
for how in "" --define-prefix; do
  # shellcheck disable=SC2086 # $how is empty or one option
  incdir=$(PKG_CONFIG_PATH=$pcdir pkg-config $how --variable=includedir asio-pidfd)
  # shellcheck disable=SC2086
  pclibdir=$(PKG_CONFIG_PATH=$pcdir pkg-config $how --variable=libdir asio-pidfd)
  if [ "$(realpath "$incdir")" != "$(realpath "$root/include")" ] ||
     [ "$(realpath "$pclibdir")" != "$(realpath "$libdir")" ]; then
    echo "asio-pidfd.pc read in the staging tree (pkg-config $how) points elsewhere:" >&2
    echo "  includedir $incdir, libdir $pclibdir" >&2; exit 1
  fi
done
# The consumer chooses its C++ standard: no -std= of ours may come after theirs.
if pc --cflags | grep -q -- '-std='; then
  echo "asio-pidfd.pc puts a -std= flag in Cflags: $(pc --cflags)" >&2; exit 1
fi
# As the README says: the library found at run time through an rpath to pkg-config's libdir.
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
g++ -std=c++20 "$dest/consumer.cpp" -o "$dest/consumer" $(pc --cflags --libs) \
  -Wl,-rpath,"$(pc --variable=libdir)"
"$dest/consumer"
echo "pkg-config consumer: ok"

# A C++23 consumer (our headers in a newer standard than the library's own C++20), with
# GCC and Clang: the flags from `pkg-config --define-prefix`, an async wait, a coroutine.
# Clang before 17 calls the standard c++2b.
cat > "$dest/consumer23.cpp" <<'CPP'
#include <pidfd/pidfd.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
static_assert(__cplusplus > 202002L, "compiled as C++23");
boost::asio::awaitable<void> wait_for(pidfd::async_pidfd& child, int& code) {
  pidfd::exit_status s = co_await child.async_wait(boost::asio::use_awaitable);
  code = s.code().value_or(-1);
}
int main() {
  boost::asio::io_context io;
  pidfd::async_pidfd child(io, pidfd::spawn({"sh", "-c", "exit 3"}));
  int code = 0;
  boost::asio::co_spawn(io, wait_for(child, code), boost::asio::detached);
  io.run();
  std::cout << "consumer23: the child exited with " << code << "\n";
  return code == 3 ? 0 : 1;
}
CPP
for cxx in g++ clang++; do
  std=c++23
  echo 'int main() {}' | $cxx -std=$std -x c++ - -o /dev/null 2>/dev/null || std=c++2b
  # shellcheck disable=SC2046 # pkg-config's output is a list of flags
  $cxx -std=$std "$dest/consumer23.cpp" -o "$dest/consumer23-$cxx" \
    $(PKG_CONFIG_PATH=$pcdir pkg-config --define-prefix --cflags --libs asio-pidfd) \
    -Wl,-rpath,"$libdir"
  "$dest/consumer23-$cxx"
  echo "C++23 consumer ($cxx -std=$std): ok"
done

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

# Meson: a consumer with subprojects/asio-pidfd.wrap pointing at a `meson dist` tarball of
# this commit, and dependency('asio-pidfd') alone. `meson dist` archives the committed tree
# (CI runs on a clean clone); the consumer is set up in a network namespace of its own, so
# the file:// URL is all it can reach.
meson dist -C "$build" --no-tests --formats gztar --allow-dirty >"$dest/dist.log" 2>&1 ||
  { cat "$dest/dist.log"; exit 1; }
version=$(meson introspect "$build" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
tarball=$build/meson-dist/asio-pidfd-$version.tar.gz
[ -f "$tarball" ] || { echo "meson dist made no $tarball" >&2; exit 1; }
mkdir -p "$dest/meson-consumer/subprojects"
cp "$dest/consumer.cpp" "$dest/meson-consumer/"
cat > "$dest/meson-consumer/subprojects/asio-pidfd.wrap" <<WRAP
[wrap-file]
directory = asio-pidfd-$version
source_url = file://$(realpath "$tarball")
source_filename = asio-pidfd-$version.tar.gz
source_hash = $(sha256sum "$tarball" | cut -d' ' -f1)

[provide]
dependency_names = asio-pidfd
WRAP
cat > "$dest/meson-consumer/meson.build" <<'MESON'
project('consumer', 'cpp', default_options : ['cpp_std=c++20'])
executable('consumer', 'consumer.cpp', dependencies : dependency('asio-pidfd'), install : true)
MESON
unshare --net meson setup "$dest/meson-build" "$dest/meson-consumer" >"$dest/meson-setup.log" 2>&1 ||
  { cat "$dest/meson-setup.log"; exit 1; }
ninja -C "$dest/meson-build" >/dev/null
"$dest/meson-build/consumer" >/dev/null
meson install -C "$dest/meson-build" --destdir "$dest/meson-install" --quiet
installed=$(cd "$dest/meson-install" && find . -type f -o -type l)
if [ "$(echo "$installed" | wc -l)" != 1 ] || [ "${installed%/bin/consumer}" = "$installed" ]; then
  echo "the Meson consumer installed more than its own program:" >&2
  echo "$installed" >&2
  exit 1
fi
echo "Meson wrap-file consumer: ok (installed only ${installed#.})"
