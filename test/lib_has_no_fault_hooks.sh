#!/bin/sh
# The shipped library is built without PIDFD_FAULT_INJECTION: no symbol of the fault
# injection state (lib/fault.hpp) and no site name may be in it.
# Usage: lib_has_no_fault_hooks.sh LIBRARY
set -eu
lib=$1
status=0
if nm -C "$lib" 2>/dev/null | grep -E 'pidfd::fault::|g_raw_sites|g_state'; then
  echo "error: $lib has fault-injection symbols (above)" >&2
  status=1
fi
# __FILE__ of a site is recorded only with injection compiled in.
if strings "$lib" | grep -E '(^|/)lib/(sys|spawn|pid_fd|proc|process|local_socket)\.cpp$'; then
  echo "error: $lib has fault-injection site records (above)" >&2
  status=1
fi
count=$(nm "$lib" | wc -l)
if [ "$count" -lt 50 ]; then
  echo "error: only $count symbols in $lib: not the library?" >&2
  status=1
fi
[ $status -eq 0 ] && echo "no fault injection in $lib ($count symbols checked)"
exit $status
