#!/bin/sh
# Installs what building and testing asio-pidfd needs on Debian 12 (bookworm).
# Debian's default libboost-dev is 1.74, too old: the library needs Boost >= 1.81.
set -eu
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -q
as_root apt-get install -y -q --no-install-recommends \
  meson ninja-build g++ clang pkg-config python3 libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libgtest-dev libgmock-dev \
  libclang-rt-14-dev cmake "$@"
