#include <pidfd/exit_status.hpp>

#include <string.h>
#include <sys/wait.h>

#include <ostream>

namespace pidfd {

exit_status exit_status::from_siginfo(const siginfo_t& info) noexcept {
  switch (info.si_code) {
    case CLD_EXITED:
      return from_wait_status((info.si_status & 0xff) << 8);
    case CLD_KILLED:
      return from_wait_status(info.si_status & 0x7f);
    case CLD_DUMPED:
      return from_wait_status((info.si_status & 0x7f) | 0x80);
    default:
      return exit_status();
  }
}

bool exit_status::exited() const noexcept { return status_ != -1 && WIFEXITED(status_); }

bool exit_status::signaled() const noexcept { return status_ != -1 && WIFSIGNALED(status_); }

bool exit_status::core_dumped() const noexcept { return signaled() && WCOREDUMP(status_); }

std::optional<int> exit_status::code() const noexcept {
  if (!exited()) return std::nullopt;
  return WEXITSTATUS(status_);
}

std::optional<int> exit_status::signal() const noexcept {
  if (!signaled()) return std::nullopt;
  return WTERMSIG(status_);
}

bool exit_status::success() const noexcept { return exited() && WEXITSTATUS(status_) == 0; }

std::string exit_status::to_string() const {
  if (exited()) return "exited with code " + std::to_string(WEXITSTATUS(status_));
  if (!signaled()) return "no status";
  const int sig = WTERMSIG(status_);
  std::string s = "killed by signal " + std::to_string(sig);
  // sigabbrev_np() (glibc 2.32) gives the name without the "SIG" prefix; NULL if unknown.
  if (const char* abbrev = ::sigabbrev_np(sig)) s += std::string(" (SIG") + abbrev + ")";
  if (WCOREDUMP(status_)) s += ", core dumped";
  return s;
}

std::ostream& operator<<(std::ostream& os, const exit_status& s) { return os << s.to_string(); }

}  // namespace pidfd
