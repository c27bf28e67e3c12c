#!/bin/sh
# Installs what building and testing asio-pidfd needs, on Debian 12 (bookworm), Debian 13
# (trixie) and Debian unstable (sid); extra arguments are installed as well.
#
# Boost: the library needs >= 1.81. Debian 12's default libboost-dev is 1.74, so there it
# takes libboost1.81-dev; newer releases' default is recent enough. From Boost 1.88 on,
# Boost.Process (used by the benchmarks) is a compiled library: its -dev package is added.
# Clang: the sanitizer runtimes (libclang-rt-N-dev) of the release's default clang.
set -eu
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
die() { echo "install-deps: $*" >&2; exit 1; }

[ -r /etc/os-release ] || die "no /etc/os-release: only Debian 12, 13 and unstable are supported"
. /etc/os-release
[ "${ID:-}" = debian ] ||
  die "this is ${PRETTY_NAME:-an unknown system}; the script knows Debian 12, 13 and unstable only." \
      "Elsewhere install: Meson >= 1.0.1, Ninja, GCC >= 12 or Clang >= 14, Boost >= 1.81" \
      "(with Boost.Process's library from 1.88 on), GoogleTest, pkg-config, CMake."
case ${VERSION_ID:-unstable} in
  12 | 13 | unstable) ;;
  *) die "Debian ${VERSION_ID} is not supported (Debian 12, 13 and unstable are)" ;;
esac

export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -q

# The candidate version of package $1 (empty if there is none).
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}' | sed 's/^(none)$//'; }
# True if version $1 >= version $2 (Debian ordering).
version_ge() { dpkg --compare-versions "$1" ge "$2"; }

boost_default=$(candidate libboost-dev)
if [ -n "$boost_default" ] && version_ge "$boost_default" 1.81; then
  boost=libboost-dev
  boost_version=$boost_default
elif [ -n "$(candidate libboost1.81-dev)" ]; then
  boost=libboost1.81-dev
  boost_version=1.81
else
  die "no Boost >= 1.81 package found (libboost-dev is ${boost_default:-missing})"
fi
# The tools (tools/) use Boost.Program_options and Boost.JSON, compiled libraries.
if [ "$boost" = libboost1.81-dev ]; then
  boost_pkgs="$boost libboost-program-options1.81-dev libboost-json1.81-dev"
else
  boost_pkgs="$boost libboost-program-options-dev libboost-json-dev"
fi
if version_ge "$boost_version" 1.88; then
  [ -n "$(candidate libboost-process-dev)" ] ||
    die "Boost $boost_version needs libboost-process-dev, which this release does not have"
  boost_pkgs="$boost_pkgs libboost-process-dev"
fi

# The default clang's major version, from the clang package's dependency on clang-N.
clang_major=$(apt-cache depends clang 2>/dev/null | sed -n 's/^ *Depends: clang-\([0-9][0-9]*\)$/\1/p' | head -n 1)
[ -n "$clang_major" ] || die "cannot tell which clang-N the clang package installs"
[ -n "$(candidate "libclang-rt-$clang_major-dev")" ] ||
  die "no libclang-rt-$clang_major-dev for clang $clang_major"

echo "install-deps: Debian ${VERSION_ID:-unstable}: $boost_pkgs (Boost $boost_version), clang $clang_major"
# shellcheck disable=SC2086 # the package lists are words
as_root apt-get install -y -q --no-install-recommends \
  meson ninja-build g++ clang "libclang-rt-$clang_major-dev" pkg-config python3 cmake \
  $boost_pkgs libgtest-dev libgmock-dev "$@"
