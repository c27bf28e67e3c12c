#!/bin/sh
# The compiled library must not depend on how its user configures Asio (epoll or io_uring
# backend, ...): no Asio type may appear in its symbols, and no source of lib/ nor the
# internal header it shares with the Asio layer may include an Asio header.
# Usage: lib_has_no_asio.sh LIBRARY SOURCE_ROOT
set -eu
lib=$1
root=$2
status=0
if nm -C "$lib" 2>/dev/null | grep 'boost::asio'; then
  echo "error: $lib has symbols with Asio types (above)" >&2
  status=1
fi
if grep -n '#include <boost/asio' "$root"/lib/* "$root"/include/pidfd/detail/socket_calls.hpp \
    "$root"/include/pidfd/detail/cgroup.hpp; then
  echo "error: lib/ includes Asio headers (above)" >&2
  status=1
fi
count=$(nm "$lib" | wc -l)
if [ "$count" -lt 50 ]; then
  echo "error: only $count symbols in $lib: not the library?" >&2
  status=1
fi
[ $status -eq 0 ] && echo "no Asio in $lib ($count symbols checked)"
exit $status
