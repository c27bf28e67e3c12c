// asio-pidfd: how a process ended.
#ifndef PIDFD_EXIT_STATUS_HPP
#define PIDFD_EXIT_STATUS_HPP

#include <signal.h>

#include <iosfwd>
#include <optional>
#include <string>

namespace pidfd {

/// How a process ended: exited with a code, or killed by a signal (possibly dumping core).
///
/// A value type holding the wait-status encoding used by waitpid() and by the kernel's
/// PIDFD_INFO_EXIT, so WIFEXITED() and friends apply to native(). A default-constructed
/// exit_status means "no status": neither exited nor signaled.
class exit_status {
public:
  /// "No status": exited() and signaled() are both false.
  constexpr exit_status() noexcept = default;

  /// From the waitpid()/PIDFD_INFO_EXIT encoding (for example 0x300 for exit(3), 0x9 for
  /// SIGKILL, 0x8b for SIGSEGV with a core dump).
  static constexpr exit_status from_wait_status(int status) noexcept {
    exit_status s;
    s.status_ = status;
    return s;
  }

  /// From a waitid() result whose si_code is CLD_EXITED, CLD_KILLED or CLD_DUMPED; any
  /// other si_code gives "no status".
  static exit_status from_siginfo(const siginfo_t& info) noexcept;

  /// Ended by exit(), _exit() or a return from main().
  bool exited() const noexcept;
  /// Killed by a signal.
  bool signaled() const noexcept;
  /// Killed by a signal and dumped core.
  bool core_dumped() const noexcept;
  /// The exit code (0-255) when exited().
  std::optional<int> code() const noexcept;
  /// The signal number when signaled().
  std::optional<int> signal() const noexcept;
  /// Exited with code 0.
  bool success() const noexcept;
  /// The wait-status encoding; -1 for "no status".
  int native() const noexcept { return status_; }

  /// "exited with code 3", "killed by signal 9 (SIGKILL)",
  /// "killed by signal 11 (SIGSEGV), core dumped", or "no status".
  std::string to_string() const;

  /// Equal when both are the same kind of status with the same code or signal.
  friend bool operator==(const exit_status&, const exit_status&) noexcept = default;

private:
  // -1 is not a valid wait status (bits 8-15 set with a low byte of 0x7f would be "stopped"),
  // so it is free to mean "no status".
  int status_ = -1;
};

/// Writes exit_status::to_string().
std::ostream& operator<<(std::ostream& os, const exit_status& s);

}  // namespace pidfd

#endif  // PIDFD_EXIT_STATUS_HPP
