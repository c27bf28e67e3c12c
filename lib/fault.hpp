// asio-pidfd internal: system-call fault injection for the test-only build of the library.
//
// PIDFD_FAULT(name, call) wraps one libc system call that reports failure as -1 (or a null
// pointer) with errno. In the shipped library it is exactly `(call)`: no code, no data, no
// symbol. Compiled with PIDFD_FAULT_INJECTION (the asio-pidfd-fault-tests variant) each use
// is a site that counts its calls and, when the test's control (test/fault_control.hpp)
// says so, skips the call and fails it with a chosen errno instead.
//
// PIDFD_FAULT_RAW(nr) is the form for raw system calls that return -errno: it gives the
// -errno to return instead of making the call, 0 to make it; PIDFD_FAULT_RAW_CALL(nr,
// call) wraps such a call like PIDFD_FAULT. The child side of spawn()
// uses it; that code runs in a CLONE_VM child, so everything here is restricted to
// lock-free atomic builtins on plain global data: no errno (except where the caller's
// libc call would set it anyway), no allocation, no lock, no thread-local storage. The
// functions are always inlined so that each translation unit keeps its own copy (the
// child's copy is compiled without sanitizer instrumentation).
#ifndef PIDFD_LIB_FAULT_HPP
#define PIDFD_LIB_FAULT_HPP

#ifndef PIDFD_FAULT_INJECTION

#define PIDFD_FAULT(name, call) (call)
#define PIDFD_FAULT_EACH(name, call) (call)
#define PIDFD_FAULT_RAW(nr) 0L
#define PIDFD_FAULT_RAW_CALL(nr, call) (call)

#else

#include <array>
#include <cerrno>
#include <cstddef>
#include <type_traits>

namespace pidfd::fault {

/// One call site: constant-initialised, linked into the state's list on its first call.
struct site {
  const char* name;
  const char* file;
  int line;
  long number;          // the system call number of a raw site, -1 otherwise
  unsigned long calls;  // atomic builtins only
  site* next;           // the list of sites reached so far
  bool linked;
  // A call made once per item of something the test does not control (a process on the
  // machine): not counted among all calls, so that the n-th call of a walk stays the same
  // call from run to run; failed only when named (fail_site or always_site).
  bool per_item = false;
};

/// What the test asked for. Every field is accessed with atomic builtins only.
struct state {
  site* sites;            // every site reached so far (pushed with compare-and-swap)
  unsigned long calls;    // every call of every site
  unsigned long fail_at;  // 0: none; else the fail_at-th call (of fail_site, or any)
  const site* fail_site;  // nullptr: count calls of every site
  int fail_errno;
  unsigned long failures;   // calls failed so far
  const site* last_failed;  // the site of the last failed call
  const site* always_site;  // nullptr: none; else every call of it fails with always_errno
  int always_errno;         // (not counted in failures: a condition the test sets up)
};

/// The one state of the process (lib/fault.cpp).
extern state g_state;
/// The sites of raw system calls, one per number below raw_site_count (lib/fault.cpp).
inline constexpr long raw_site_count = 512;
extern std::array<site, raw_site_count> g_raw_sites;

/// Counts a call of s; the errno to fail it with, 0 to make it.
[[gnu::always_inline]] static inline int hit(site& s) noexcept {
  if (!__atomic_exchange_n(&s.linked, true, __ATOMIC_ACQ_REL)) {
    site* head = __atomic_load_n(&g_state.sites, __ATOMIC_ACQUIRE);
    do s.next = head;
    while (!__atomic_compare_exchange_n(&g_state.sites, &head, &s, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE));
  }
  const unsigned long mine = __atomic_add_fetch(&s.calls, 1, __ATOMIC_ACQ_REL);
  const unsigned long all =
      s.per_item ? 0 : __atomic_add_fetch(&g_state.calls, 1, __ATOMIC_ACQ_REL);
  if (__atomic_load_n(&g_state.always_site, __ATOMIC_ACQUIRE) == &s)
    return __atomic_load_n(&g_state.always_errno, __ATOMIC_ACQUIRE);
  const unsigned long at = __atomic_load_n(&g_state.fail_at, __ATOMIC_ACQUIRE);
  if (at == 0) return 0;
  const site* only = __atomic_load_n(&g_state.fail_site, __ATOMIC_ACQUIRE);
  if ((only == nullptr ? all : only == &s ? mine : 0) != at) return 0;
  __atomic_add_fetch(&g_state.failures, 1, __ATOMIC_ACQ_REL);
  __atomic_store_n(&g_state.last_failed, &s, __ATOMIC_RELEASE);
  return __atomic_load_n(&g_state.fail_errno, __ATOMIC_ACQUIRE);
}

/// The value a call of type T returns on failure.
template <class T>
constexpr T failed_value() noexcept {
  if constexpr (std::is_pointer_v<T>)
    return nullptr;
  else
    return static_cast<T>(-1);
}

/// For PIDFD_FAULT: true (errno set) if this call is to fail.
[[gnu::always_inline]] static inline bool fail(site& s) noexcept {
  const int e = hit(s);
  if (e == 0) return false;
  errno = e;
  return true;
}

/// For PIDFD_FAULT: call() unless this call is to fail (errno set). A function rather than
/// a conditional at the call site, so that the site's own line keeps exactly the branches
/// it has in the shipped library (coverage of both builds adds up line by line).
template <class F>
[[gnu::always_inline]] inline auto call_or_fail(site& s, F call) -> decltype(call()) {
  if (fail(s)) return failed_value<decltype(call())>();
  return call();
}

/// For PIDFD_FAULT_RAW: -errno to return instead of the call, 0 to make it.
[[gnu::always_inline]] static inline long fail_raw(long nr) noexcept {
  if (nr < 0 || nr >= raw_site_count) return 0;
  return -static_cast<long>(hit(g_raw_sites[static_cast<std::size_t>(nr)]));
}

/// For PIDFD_FAULT_RAW_CALL: call() (a raw call returning -errno) unless it is to fail.
template <class F>
[[gnu::always_inline]] static inline long raw_call_or_fail(long nr, F call) noexcept {
  if (const long e = fail_raw(nr)) return e;
  return call();
}

}  // namespace pidfd::fault

#define PIDFD_FAULT(name, call)                                                           \
  (::pidfd::fault::call_or_fail(                                                          \
      []() -> ::pidfd::fault::site& {                                                     \
        static constinit ::pidfd::fault::site s{name, __FILE__, __LINE__, -1, 0, nullptr, \
                                                false};                                   \
        return s;                                                                         \
      }(),                                                                                \
      [&]() { return (call); }))
// A site whose calls are made once per item of something the test does not control
// (site::per_item): failed only when named.
#define PIDFD_FAULT_EACH(name, call)                                                       \
  (::pidfd::fault::call_or_fail(                                                          \
      []() -> ::pidfd::fault::site& {                                                     \
        static constinit ::pidfd::fault::site s{name, __FILE__, __LINE__, -1, 0, nullptr, \
                                                false, true};                             \
        return s;                                                                         \
      }(),                                                                                \
      [&]() { return (call); }))
#define PIDFD_FAULT_RAW(nr) (::pidfd::fault::fail_raw(nr))
#define PIDFD_FAULT_RAW_CALL(nr, call) \
  (::pidfd::fault::raw_call_or_fail(nr, [&]() -> long { return (call); }))

#endif  // PIDFD_FAULT_INJECTION

#endif  // PIDFD_LIB_FAULT_HPP
