// asio-pidfd internal: what the source files of pid_fd (lib/pid_fd*.cpp) share: how they
// read and normalise the errors the kernel answers, the checks before a call, and the
// query of a pidfd's pid.
#ifndef PIDFD_LIB_PID_FD_ERRORS_HPP
#define PIDFD_LIB_PID_FD_ERRORS_HPP

#include <pidfd/error.hpp>

#include <boost/system/errc.hpp>

#include <sys/types.h>

#include <cerrno>

namespace pidfd::pid_fd_errors {

namespace berrc = boost::system::errc;

using detail::errno_code;

// Compares by errno, whatever the category (system or generic).
inline bool is(const error_code& ec, berrc::errc_t e) noexcept { return ec == e; }

// An ioctl or syscall the kernel does not know (or a filter hides).
inline bool unsupported(const error_code& ec) noexcept {
  return is(ec, berrc::function_not_supported) ||              // ENOSYS
         is(ec, berrc::inappropriate_io_control_operation) ||  // ENOTTY
         is(ec, berrc::operation_not_supported);               // EOPNOTSUPP
}

// The process behind a pidfd is gone (reaped) or not visible from here.
inline error_code normalise_gone(const error_code& ec) noexcept {
  if (is(ec, berrc::no_such_process) || ec.value() == EREMOTE || ec.value() == ESTALE)
    return errno_code(ESRCH);
  return ec;
}

// The checks that come before a call needing one kernel feature: the feature, then the fd.
inline error_code usable(int fd, bool feature) noexcept {
  if (!feature) return errno_code(EOPNOTSUPP);
  if (fd < 0) return errno_code(EBADF);
  return {};
}

// A file of /proc/<pid> that could not be read because the process was reaped meanwhile:
// its files read ESRCH, or vanish (ENOENT).
inline error_code normalise_proc_read(const error_code& e) noexcept {
  return (is(e, berrc::no_such_file_or_directory) || is(e, berrc::no_such_process))
             ? errno_code(ESRCH)
             : e;
}

// The pid of the process behind fd (PIDFD_GET_INFO, or /proc/self/fdinfo before 6.13): 0
// once it has been reaped or when it is not in our pid namespace; an error when neither
// could be asked, e.g. too_many_files_open reading fdinfo at the descriptor limit (the
// process may well be alive). Defined in lib/pid_fd_queries.cpp.
error_code query_pid(int fd, pid_t& pid) noexcept;

}  // namespace pidfd::pid_fd_errors

#endif  // PIDFD_LIB_PID_FD_ERRORS_HPP
