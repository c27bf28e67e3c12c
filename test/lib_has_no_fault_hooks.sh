#!/bin/sh
# The shipped library is built without PIDFD_FAULT_INJECTION: no symbol of the fault
# injection state (lib/fault.hpp) and no site name may be in it.
# CONTROL, a binary built with injection, must show both, or the checks prove nothing.
# Usage: lib_has_no_fault_hooks.sh LIBRARY CONTROL
set -eu
lib=$1
control=$2
status=0
# A site's name (the first argument of PIDFD_FAULT) is a string literal only with
# injection compiled in. (Not the source file names: sanitizer builds keep those in
# read-only data for their reports.)
site_records() {
  readelf -p .rodata "$1" 2>/dev/null |
    grep -E 'ioctl\(PIDFD_GET_INFO\)|waitid\(P_PIDFD\)' || true
}
if [ -z "$(nm -C "$control" | grep 'pidfd::fault::g_state')" ] || [ -z "$(site_records "$control")" ]; then
  echo "error: the control $control shows no fault injection: the checks are broken" >&2
  exit 1
fi
if nm -C "$lib" 2>/dev/null | grep -E 'pidfd::fault::|g_raw_sites|g_state'; then
  echo "error: $lib has fault-injection symbols (above)" >&2
  status=1
fi
# Only .rodata is searched (debug information may name anything).
if [ -n "$(site_records "$lib")" ]; then
  site_records "$lib"
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
