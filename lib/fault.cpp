// The state of system-call fault injection (see fault.hpp). Compiled only into the
// test-only variant of the library (PIDFD_FAULT_INJECTION); data only, no code.
#include "fault.hpp"

#ifdef PIDFD_FAULT_INJECTION

#include <array>

namespace pidfd::fault {

namespace {
constexpr std::array<site, raw_site_count> make_raw_sites() {
  std::array<site, raw_site_count> sites{};
  for (long nr = 0; nr < raw_site_count; ++nr)
    sites[static_cast<std::size_t>(nr)] = site{"syscall", "raw", 0, nr, 0, nullptr, false};
  return sites;
}
}  // namespace

constinit state g_state{};
// constinit: initialised at compile time, so nothing can throw at start-up.
// NOLINTNEXTLINE(cert-err58-cpp)
constinit std::array<site, raw_site_count> g_raw_sites = make_raw_sites();

}  // namespace pidfd::fault

#endif  // PIDFD_FAULT_INJECTION
