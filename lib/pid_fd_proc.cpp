// pid_fd: access to /proc/<pid> of the process, race-free against the reuse of its pid.
#include <pidfd/pid_fd.hpp>

#include "fault.hpp"
#include "pid_fd_errors.hpp"
#include "proc.hpp"
#include "sys.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace pidfd {
namespace {

namespace berrc = boost::system::errc;
using detail::errno_code;
using pid_fd_errors::is;
using pid_fd_errors::normalise_proc_read;
using pid_fd_errors::unsupported;

}  // namespace

// ----- /proc -------------------------------------------------------------------------

std::string pid_fd::cgroup_path() const {
  error_code ec;
  std::string p = cgroup_path(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::cgroup_path");
  return p;
}

std::string pid_fd::cgroup_path(error_code& ec) const noexcept {
  unique_fd dir = proc_dir(ec);
  if (ec) return {};
  std::string path;
  if (error_code e = proc::read_cgroup_path(dir.get(), path)) {
    // A process reaped since proc_dir() verified it: its files read ESRCH (or vanish).
    ec = normalise_proc_read(e);
    return {};
  }
  return path;
}

unique_fd pid_fd::proc_dir() const {
  error_code ec;
  unique_fd fd = proc_dir(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::proc_dir");
  return fd;
}

unique_fd pid_fd::proc_dir(error_code& ec) const noexcept {
  const pid_t p = proc_access_begin(ec);
  if (ec) return {};
  char path[32];
  // "/proc/" and at most 11 characters of a pid: it cannot be truncated.
  (void)std::snprintf(path, sizeof path, "/proc/%d", static_cast<int>(p));
  unique_fd dir(PIDFD_FAULT("open(/proc/PID)", ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  if (!dir) {
    const error_code e = errno_code(errno);
    ec = is(e, berrc::no_such_file_or_directory) ? errno_code(ESRCH) : e;
    return {};
  }
  // Opened while the process was still unreaped, so the pid was still its own.
  proc_access_end(ec);
  if (ec) return {};
  return dir;
}

pid_t pid_fd::proc_access_begin(error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return 0;
  }
  // /proc names the process by its pid in the pid namespace of that procfs mount, which
  // need not be ours (after unshare(CLONE_NEWPID) or setns, say): fdinfo, read through
  // the same mount, gives exactly that pid (-1 once reaped, 0 if not visible there).
  pid_t p = 0;
  if (proc::fdinfo_pid(fd_, p)) p = pid_;
  if (p <= 0) {
    ec = errno_code(ESRCH);
    return 0;
  }
  proc_access_end(ec);
  return ec ? 0 : p;
}

void pid_fd::proc_access_end(error_code& ec) const noexcept {
  // pidfd_send_signal(0) succeeds for a live process and a zombie (whose pid is still
  // reserved) and fails with ESRCH once the process has been reaped.
  const error_code e = sys::pidfd_send_signal(fd_, 0, nullptr, 0);
  if (!e) return;
  if (is(e, berrc::no_such_process)) {
    ec = e;
    return;
  }
  // EINVAL: the process is outside our pid namespace hierarchy, where signals cannot go;
  // ENOSYS and friends: no pidfd_send_signal. The fdinfo Pid reads -1 once the process
  // has been reaped, whichever the case.
  if (!unsupported(e) && !is(e, berrc::invalid_argument)) {
    ec = e;
    return;
  }
  pid_t now = 0;
  if (proc::fdinfo_pid(fd_, now) || now <= 0) ec = errno_code(ESRCH);
}

}  // namespace pidfd
