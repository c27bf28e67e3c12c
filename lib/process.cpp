// The compiled pieces of <pidfd/process.hpp>: writing a child's input without SIGPIPE,
// and signalling a process group on kernels without PIDFD_SIGNAL_PROCESS_GROUP.
#include <pidfd/detail/process_support.hpp>

#include "fault.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace pidfd::detail {

std::size_t write_without_sigpipe(int fd, const char* data, std::size_t size,
                                  error_code& ec) noexcept {
  // A write to a pipe nobody reads raises SIGPIPE in the writing thread. With SIGPIPE
  // blocked it stays pending on this thread instead, and is taken back below, unless one
  // was pending already (the application had it blocked): that one is not ours to take.
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  bool pending_before = false;
  if (sigismember(&old, SIGPIPE) == 1) {
    sigset_t pending;
    pending_before = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  }
  ssize_t n;
  do {
    n = PIDFD_FAULT("write", ::write(fd, data, size));
  } while (n < 0 && errno == EINTR);
  const int error = n < 0 ? errno : 0;
  if (error == EPIPE && !pending_before) {
    const timespec no_wait{};
    while (sigtimedwait(&pipe_only, nullptr, &no_wait) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (n < 0) {
    ec = error_code(error, boost::system::system_category());
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

unique_fd open_null_sink(error_code& ec) noexcept {
  const int fd = PIDFD_FAULT("open(/dev/null)", ::open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (fd < 0) {
    ec = sys::last_error();
    return unique_fd();
  }
  ec.clear();
  return unique_fd(fd);
}

std::size_t discard_from_pipe(int pipe_fd, int null_sink, error_code& ec) noexcept {
  ssize_t n;
  do {
    n = PIDFD_FAULT("splice", ::splice(pipe_fd, nullptr, null_sink, nullptr, std::size_t{1} << 20,
                                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = sys::last_error();
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

error_code kill_process_group(pid_t pgid, int sig) noexcept {
  if (pgid <= 0) return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  return PIDFD_FAULT("kill(-pgid)", ::kill(-pgid, sig)) != 0 ? sys::last_error() : error_code{};
}

}  // namespace pidfd::detail
