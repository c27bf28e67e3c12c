#!/usr/bin/env bash
# A cached Debian chroot holding what scripts/install-deps.sh installs there, and a way to
# run a command in it on this source tree.
#
# Usage: .ci/chroot.sh DISTRO [-- COMMAND [ARGS...]]     (DISTRO: trixie, sid, ...)
#
# The chroot lives in $ASIO_PIDFD_CI_CACHE/DISTRO (default /var/cache/asio-pidfd-ci):
#  - made with debootstrap (minbase) when missing or older than $ASIO_PIDFD_CI_MAX_AGE_DAYS
#    (default 7 days), so only the first run of the week pays for it;
#  - scripts/install-deps.sh (the README's first step) runs in it whenever the package list
#    (that script and $ASIO_PIDFD_CI_PACKAGES, extra packages) is not the one installed;
#  - otherwise used as it is, without touching the network.
# COMMAND runs as root in the source tree (bind-mounted at the same path), in a mount
# namespace of its own holding /proc, /sys (with the host's cgroup2 mount), /dev, /dev/pts
# and a fresh /tmp, so nothing stays mounted once it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
distro=${1:?usage: .ci/chroot.sh DISTRO [-- COMMAND...]}
shift
cache=${ASIO_PIDFD_CI_CACHE:-/var/cache/asio-pidfd-ci}
max_age_days=${ASIO_PIDFD_CI_MAX_AGE_DAYS:-7}
mirror=${ASIO_PIDFD_CI_MIRROR:-http://deb.debian.org/debian}
extra=${ASIO_PIDFD_CI_PACKAGES:-}
root=$cache/$distro
log() { echo "chroot $distro: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap, chroot, mounts)"; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/$distro.lock"
flock 9   # one user of a chroot at a time: updates and builds would trip over each other

# Runs $@ inside the chroot in a private mount namespace.
enter() {
  unshare --mount --propagation private -- /bin/bash -c '
    set -e
    root=$1 src=$2; shift 2
    mount --rbind /proc "$root/proc"
    mount --rbind /sys "$root/sys"        # with /sys/fs/cgroup and its cgroup2 mount
    mount --rbind /dev "$root/dev"
    mount -t tmpfs tmp "$root/tmp"
    mkdir -p "$root$src" && mount --bind "$src" "$root$src"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    cd "$root$src"
    exec chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      HOME=/root LANG=C.UTF-8 TERM=dumb /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$src" "$@"
  ' enter "$root" "$src" "$@"
}

key=$(cat scripts/install-deps.sh - <<<"$extra" | sha256sum | cut -c1-16)
base=$root/.asio-pidfd-ci-base   # made with the debootstrap; its age is the chroot's
stamp=$root/.asio-pidfd-ci-packages
if [ ! -f "$base" ] || [ -n "$(find "$base" -mtime +"$max_age_days")" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -q --no-install-recommends debootstrap
  log "creating with debootstrap in $root (kept for $max_age_days days)"
  t0=$(date +%s)
  rm -rf "$root.new" "$root"
  debootstrap --variant=minbase "$distro" "$root.new" "$mirror" > "$cache/$distro.debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/$distro.debootstrap.log" >&2; log "debootstrap failed; see $cache/$distro.debootstrap.log"; exit 1; }
  # A mirror snapshot may be older than its Release file's Valid-Until: use it all the same.
  echo 'Acquire::Check-Valid-Until "false";' > "$root.new/etc/apt/apt.conf.d/99asio-pidfd-ci"
  mv "$root.new" "$root"
  touch "$base"
  log "debootstrap took $(( $(date +%s) - t0 )) s"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
  log "installing the packages (scripts/install-deps.sh $extra)"
  t0=$(date +%s)
  # shellcheck disable=SC2086 # extra packages are words
  enter scripts/install-deps.sh $extra > "$cache/$distro.install.log" 2>&1 ||
    { tail -n 30 "$cache/$distro.install.log" >&2; log "install-deps.sh failed; see $cache/$distro.install.log"; exit 1; }
  grep '^install-deps:' "$cache/$distro.install.log" >&2 || true
  chroot "$root" apt-get clean
  echo "$key" > "$stamp"
  log "packages installed in $(( $(date +%s) - t0 )) s ($(du -sm "$root" | cut -f1) MB)"
fi

if [ $# -gt 0 ]; then
  [ "$1" = -- ] && shift
  enter "$@"
fi
