// pid_fd: construction and ownership, opening, signals. The other members are defined
// by lib/pid_fd_wait.cpp, lib/pid_fd_queries.cpp, lib/pid_fd_xattrs.cpp and
// lib/pid_fd_proc.cpp.
#include <pidfd/pid_fd.hpp>

#include "fault.hpp"
#include "pid_fd_errors.hpp"
#include "proc.hpp"
#include "sys.hpp"

#include <pidfd/detail/linux.hpp>
#include <pidfd/kernel.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace pidfd {
namespace {

namespace berrc = boost::system::errc;
using detail::errno_code;
using pid_fd_errors::is;
using pid_fd_errors::normalise_gone;
using pid_fd_errors::unsupported;

bool has_thread_flag(int fd) noexcept {
  const int fl = PIDFD_FAULT("fcntl(F_GETFL)", ::fcntl(fd, F_GETFL));
  return fl >= 0 && (fl & detail::k_pidfd_thread) != 0;
}

}  // namespace

// ----- construction and ownership ---------------------------------------------------

pid_fd::pid_fd(int fd) noexcept : fd_(fd) {
  if (fd_ >= 0) {
    (void)pid_fd_errors::query_pid(fd_, pid_);  // pid() asks again if this could not tell
    thread_ = has_thread_flag(fd_);
  }
}

pid_fd::pid_fd(int fd, pid_t pid) noexcept : fd_(fd), pid_(fd >= 0 ? pid : 0) {
  if (fd_ >= 0) thread_ = has_thread_flag(fd_);
}

pid_fd::pid_fd(pid_fd&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      pid_(std::exchange(other.pid_, 0)),
      thread_(std::exchange(other.thread_, false)),
      has_usage_(other.has_usage_.exchange(false)),
      status_(std::max(other.status_.exchange(no_status), no_status)) {}

pid_fd& pid_fd::operator=(pid_fd&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    pid_ = std::exchange(other.pid_, 0);
    thread_ = std::exchange(other.thread_, false);
    has_usage_.store(other.has_usage_.exchange(false));
    status_.store(std::max(other.status_.exchange(no_status), no_status));
  }
  return *this;
}

pid_fd::~pid_fd() { close(); }

int pid_fd::release() noexcept {
  forget_usage();
  pid_ = 0;
  thread_ = false;
  status_.store(no_status);
  return std::exchange(fd_, -1);
}

void pid_fd::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  (void)release();  // resets the cached pid and status too
}

void pid_fd::throw_error(const error_code& ec, const char* what) {
  throw system_error(ec, what);
}

// ----- opening -----------------------------------------------------------------------

pid_fd pid_fd::open(pid_t pid, open_flags flags) {
  error_code ec;
  pid_fd p = open(pid, flags, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::open");
  return p;
}

pid_fd pid_fd::open(pid_t pid, error_code& ec) noexcept {
  return open(pid, open_flags::none, ec);
}

pid_fd pid_fd::open(pid_t pid, open_flags flags, error_code& ec) noexcept {
  ec.clear();
  if (pid <= 0 || (static_cast<unsigned>(flags) & ~3u) != 0) {
    ec = errno_code(EINVAL);
    return {};
  }
  const kernel_features& k = kernel_support();
  const bool thread = (flags & open_flags::thread) != open_flags::none;
  const bool nonblock = (flags & open_flags::nonblock) != open_flags::none;
  if (!k.pidfd_open || (thread && !k.thread_pidfd) || (nonblock && !k.nonblock)) {
    ec = errno_code(EOPNOTSUPP);
    return {};
  }
  unsigned kflags = 0;
  if (nonblock) kflags |= detail::k_pidfd_nonblock;
  if (thread) kflags |= detail::k_pidfd_thread;
  int fd = -1;
  if (error_code e = sys::pidfd_open(pid, kflags, fd)) {
    // ENOENT (6.16+) and EINVAL (before) both mean a thread id that is not a process;
    // the flags and pid were checked above, so EINVAL can mean nothing else.
    if (is(e, berrc::no_such_file_or_directory) || is(e, berrc::invalid_argument))
      e = errno_code(ESRCH);
    else if (unsupported(e))
      e = errno_code(EOPNOTSUPP);
    ec = e;
    return {};
  }
  pid_fd p(fd, pid);
  p.thread_ = thread;
  return p;
}

pid_fd pid_fd::self() {
  error_code ec;
  pid_fd p = self(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::self");
  return p;
}

pid_fd pid_fd::self(error_code& ec) noexcept { return open(::getpid(), open_flags::none, ec); }

pid_fd pid_fd::open_by_id(std::uint64_t id) {
  error_code ec;
  pid_fd p = open_by_id(id, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::open_by_id");
  return p;
}

pid_fd pid_fd::open_by_id(std::uint64_t id, error_code& ec) noexcept {
  ec.clear();
  if (!kernel_support().file_handles) {
    ec = errno_code(EOPNOTSUPP);
    return {};
  }
  // FD_PIDFS_ROOT (6.17) names the pidfs mount without a pidfd at hand; before it, any
  // pidfd serves as the mount fd.
  int fd = -1;
  error_code e =
      sys::open_by_handle(detail::k_fd_pidfs_root, detail::k_fileid_kernfs, id,
                          O_RDONLY | O_CLOEXEC, fd);
  if (is(e, berrc::bad_file_descriptor)) {
    pid_fd me = self(e);
    if (!e)
      e = sys::open_by_handle(me.native_handle(), detail::k_fileid_kernfs, id,
                              O_RDONLY | O_CLOEXEC, fd);
  }
  if (e) {
    ec = unsupported(e) ? errno_code(EOPNOTSUPP) : normalise_gone(e);
    return {};
  }
  return pid_fd(fd);
}

pid_fd pid_fd::dup() const {
  error_code ec;
  pid_fd p = dup(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::dup");
  return p;
}

pid_fd pid_fd::dup(error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return {};
  }
  const int fd = PIDFD_FAULT("fcntl(F_DUPFD_CLOEXEC)", ::fcntl(fd_, F_DUPFD_CLOEXEC, 3));
  if (fd < 0) {
    ec = errno_code(errno);
    return {};
  }
  pid_fd p(fd, pid_);
  p.thread_ = thread_;
  p.status_.store(std::max(status_.load(), no_status));
  return p;
}

// ----- signals -----------------------------------------------------------------------

void pid_fd::send_signal(int sig, signal_scope scope) const {
  error_code ec;
  send_signal(sig, scope, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::send_signal");
}

void pid_fd::send_signal(int sig, error_code& ec) const noexcept {
  send_signal(sig, signal_scope::pidfd_default, ec);
}

void pid_fd::send_signal(int sig, signal_scope scope, error_code& ec) const noexcept {
  ec.clear();
  unsigned flags = 0;
  switch (scope) {
    case signal_scope::pidfd_default: break;
    case signal_scope::thread: flags = detail::k_pidfd_signal_thread; break;
    case signal_scope::thread_group: flags = detail::k_pidfd_signal_thread_group; break;
    case signal_scope::process_group: flags = detail::k_pidfd_signal_process_group; break;
  }
  const kernel_features& k = kernel_support();
  if (!k.send_signal || (flags && !k.signal_scope)) {
    ec = errno_code(EOPNOTSUPP);
    return;
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return;
  }
  error_code e = sys::pidfd_send_signal(fd_, sig, nullptr, flags);
  if (unsupported(e)) e = errno_code(EOPNOTSUPP);
  ec = e;
}

void pid_fd::queue_signal(int sig, union sigval value) const {
  error_code ec;
  queue_signal(sig, value, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::queue_signal");
}

void pid_fd::queue_signal(int sig, union sigval value, error_code& ec) const noexcept {
  ec.clear();
  if (!kernel_support().send_signal) {
    ec = errno_code(EOPNOTSUPP);
    return;
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return;
  }
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value = value;
  error_code e = sys::pidfd_send_signal(fd_, sig, &info, 0);
  if (unsupported(e)) e = errno_code(EOPNOTSUPP);
  ec = e;
}

void pid_fd::kill() const { send_signal(SIGKILL); }

void pid_fd::kill(error_code& ec) const noexcept { send_signal(SIGKILL, ec); }

}  // namespace pidfd
