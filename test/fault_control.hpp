// The test side of system-call fault injection (lib/fault.hpp): counts the calls each
// site makes and fails one chosen call with a chosen errno. Only for the
// asio-pidfd-fault-tests binary, which links the PIDFD_FAULT_INJECTION variant of the
// library. Counters are shared by every thread and by the CLONE_VM child of spawn().
#ifndef PIDFD_TEST_FAULT_CONTROL_HPP
#define PIDFD_TEST_FAULT_CONTROL_HPP

#include "../lib/fault.hpp"

#include <string>
#include <vector>

namespace pidfd_test::fault {

namespace lib = ::pidfd::fault;

/// A site that has been called since the last reset().
struct site_calls {
  std::string name;   ///< "pidfd_open", "openat", ... or "syscall <nr>" for a raw site
  std::string where;  ///< file:line ("raw" for a raw site)
  unsigned long calls;
};

/// Stops failing calls and sets every counter to zero (sites stay known).
inline void reset() {
  __atomic_store_n(&lib::g_state.fail_at, 0UL, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.fail_site, nullptr, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.calls, 0UL, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.failures, 0UL, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.last_failed, nullptr, __ATOMIC_RELEASE);
  for (lib::site* s = __atomic_load_n(&lib::g_state.sites, __ATOMIC_ACQUIRE); s; s = s->next)
    __atomic_store_n(&s->calls, 0UL, __ATOMIC_RELEASE);
}

/// Stops failing calls; the counters keep counting.
inline void disarm() { __atomic_store_n(&lib::g_state.fail_at, 0UL, __ATOMIC_RELEASE); }

/// Every call of every site since the last reset().
inline unsigned long calls() { return __atomic_load_n(&lib::g_state.calls, __ATOMIC_ACQUIRE); }

/// The calls failed on purpose since the last reset().
inline unsigned long failures() {
  return __atomic_load_n(&lib::g_state.failures, __ATOMIC_ACQUIRE);
}

/// The name of a site, for messages.
inline std::string describe(const lib::site& s) {
  if (s.number >= 0) return "syscall " + std::to_string(s.number);
  return std::string(s.name) + " (" + s.file + ':' + std::to_string(s.line) + ')';
}

/// The site of the last call failed on purpose ("" if none).
inline std::string last_failed() {
  const lib::site* s = __atomic_load_n(&lib::g_state.last_failed, __ATOMIC_ACQUIRE);
  return s ? describe(*s) : std::string();
}

/// Fails the n-th call (1-based, counted from the last reset()) of any site with err;
/// every other call is made.
inline void fail_nth_call(unsigned long n, int err) {
  __atomic_store_n(&lib::g_state.fail_site, nullptr, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.fail_errno, err, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.fail_at, n, __ATOMIC_RELEASE);
}

/// The sites called since the last reset(), with their counts.
inline std::vector<site_calls> sites_called() {
  std::vector<site_calls> out;
  for (lib::site* s = __atomic_load_n(&lib::g_state.sites, __ATOMIC_ACQUIRE); s; s = s->next) {
    const unsigned long n = __atomic_load_n(&s->calls, __ATOMIC_ACQUIRE);
    if (n == 0) continue;
    if (s->number >= 0)
      out.push_back({"syscall " + std::to_string(s->number), "raw", n});
    else
      out.push_back({s->name, std::string(s->file) + ':' + std::to_string(s->line), n});
  }
  return out;
}

/// Fails the n-th call (1-based, since the last reset()) of the site named `name` (the
/// one reached most recently first, if several share the name) with err. False if no site
/// of that name has been reached yet in this process.
inline bool fail_nth_call_of(const std::string& name, unsigned long n, int err) {
  for (lib::site* s = __atomic_load_n(&lib::g_state.sites, __ATOMIC_ACQUIRE); s; s = s->next) {
    const bool match = s->number >= 0 ? name == "syscall " + std::to_string(s->number)
                                      : name == s->name;
    if (!match) continue;
    __atomic_store_n(&lib::g_state.fail_site, s, __ATOMIC_RELEASE);
    __atomic_store_n(&lib::g_state.fail_errno, err, __ATOMIC_RELEASE);
    __atomic_store_n(&lib::g_state.fail_at, n, __ATOMIC_RELEASE);
    return true;
  }
  return false;
}

/// As fail_nth_call_of(), but of the site of that name that has been called since the last
/// reset() (a function template has a site per instantiation, all of one name), and
/// counting from now: the counters are reset. False if no such site was called.
inline bool fail_nth_call_of_called(const std::string& name, unsigned long n, int err) {
  lib::site* found = nullptr;
  for (lib::site* s = __atomic_load_n(&lib::g_state.sites, __ATOMIC_ACQUIRE); s; s = s->next) {
    const bool match = s->number >= 0 ? name == "syscall " + std::to_string(s->number)
                                      : name == s->name;
    if (match && __atomic_load_n(&s->calls, __ATOMIC_ACQUIRE) > 0) {
      found = s;
      break;
    }
  }
  if (found == nullptr) return false;
  reset();
  __atomic_store_n(&lib::g_state.fail_site, static_cast<const lib::site*>(found),
                   __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.fail_errno, err, __ATOMIC_RELEASE);
  __atomic_store_n(&lib::g_state.fail_at, n, __ATOMIC_RELEASE);
  return true;
}

/// Makes every call of the site named `name` (as fail_nth_call_of) fail with err until
/// always_fail_none(), whatever else is failed meanwhile: the condition under which a walk
/// runs (a system call the kernel lacks, a call that keeps failing). False if no site of
/// that name has been reached yet.
inline bool always_fail(const std::string& name, int err) {
  for (lib::site* s = __atomic_load_n(&lib::g_state.sites, __ATOMIC_ACQUIRE); s; s = s->next) {
    const bool match = s->number >= 0 ? name == "syscall " + std::to_string(s->number)
                                      : name == s->name;
    if (!match) continue;
    __atomic_store_n(&lib::g_state.always_errno, err, __ATOMIC_RELEASE);
    __atomic_store_n(&lib::g_state.always_site, static_cast<const lib::site*>(s),
                     __ATOMIC_RELEASE);
    return true;
  }
  return false;
}

/// Ends always_fail().
inline void always_fail_none() {
  __atomic_store_n(&lib::g_state.always_site, static_cast<const lib::site*>(nullptr),
                   __ATOMIC_RELEASE);
}

}  // namespace pidfd_test::fault

#endif  // PIDFD_TEST_FAULT_CONTROL_HPP
