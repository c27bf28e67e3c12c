// The compiled pieces of <pidfd/process.hpp>: writing a child's input without SIGPIPE,
// and signalling a process group on kernels without PIDFD_SIGNAL_PROCESS_GROUP.
#include <pidfd/detail/process_support.hpp>

#include "fault.hpp"
#include "sys.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
    ec = errno_code(error);
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

unique_fd open_null_sink(error_code& ec) noexcept {
  const int fd = PIDFD_FAULT("open(/dev/null)", ::open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (fd < 0) {
    ec = errno_code(errno);
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
    ec = errno_code(errno);
    return 0;
  }
  ec.clear();
  return static_cast<std::size_t>(n);
}

error_code kill_process_group(pid_t pgid, int sig) noexcept {
  if (pgid <= 0) return errno_code(EINVAL);
  int r;
  do r = PIDFD_FAULT("kill(-pgid)", ::kill(-pgid, sig));
  while (r != 0 && errno == EINTR);
  return r != 0 ? errno_code(errno) : error_code{};
}

error_code signal_process_group(const pid_fd& leader, int sig) noexcept {
  error_code ec;
  leader.send_signal(sig, signal_scope::process_group, ec);
  if (ec != boost::system::errc::operation_not_supported) return ec;
  // Before 6.9: only while the leader is unreaped is its pid certainly still the group's.
  if (leader.cached_status()) return ec;
  const pid_t pgid = leader.pid(ec);
  if (ec) return ec;
  return kill_process_group(pgid, sig);
}

namespace {
// The state (field 3) and process group (field 5) of /proc/<pid>/stat; false if there is
// none to read (the process is gone, or the file is malformed). ec: an error other than
// the process being gone, which leaves the scan incomplete.
// The command name (field 2) may hold anything, so fields are counted after its last ')'.
bool read_stat(int proc_fd, const char* pid, char& state, long& pgrp, error_code& ec) noexcept {
  // Room for any directory entry's name (a pid has at most 10 digits): never truncated.
  char path[sizeof(dirent::d_name) + sizeof "/stat"];
  (void)std::snprintf(path, sizeof path, "%s/stat", pid);
  const int fd = PIDFD_FAULT_EACH("openat(/proc/<pid>/stat)",
                             ::openat(proc_fd, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) {
    // ENOENT: the process exited (and was reaped) since the directory was read.
    if (errno != ENOENT && errno != ESRCH) ec = errno_code(errno);
    return false;
  }
  char buf[512];
  ssize_t n;
  do {
    n = PIDFD_FAULT_EACH("read(/proc/<pid>/stat)", ::read(fd, buf, sizeof buf - 1));
  } while (n < 0 && errno == EINTR);
  const int read_errno = errno;
  ::close(fd);
  if (n < 0 && read_errno != ESRCH) ec = errno_code(read_errno);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return false;
  // " S PPID PGRP ...": the state, then two numbers.
  if (p[1] != ' ' || p[2] == '\0' || p[3] != ' ') return false;
  char* end = nullptr;
  (void)std::strtol(p + 4, &end, 10);  // the parent's pid
  if (end == p + 4 || *end != ' ') return false;
  const char* group_start = end + 1;
  const long group = std::strtol(group_start, &end, 10);
  if (end == group_start) return false;
  state = p[2];
  pgrp = group;
  return true;
}
}  // namespace

std::size_t count_group_members(pid_t pgid, error_code& ec) noexcept {
  ec.clear();
  if (pgid <= 0) return 0;
  // Most runs leave nobody behind: a probe with signal 0 that finds no process with that
  // group id (ESRCH) spares the scan of every process on the machine.
  if (PIDFD_FAULT("kill(-pgid, 0)", ::kill(-pgid, 0)) != 0 && errno == ESRCH) return 0;
  DIR* dir = PIDFD_FAULT("opendir(/proc)", ::opendir("/proc"));
  if (dir == nullptr) {
    ec = errno_code(errno);
    return 0;
  }
  std::size_t count = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid == pgid) continue;
    char state = 0;
    long pgrp = 0;
    error_code stat_ec;
    if (!read_stat(::dirfd(dir), e->d_name, state, pgrp, stat_ec)) {
      if (stat_ec) ec = stat_ec;  // the others are still counted
      continue;
    }
    if (pgrp == pgid && state != 'Z' && state != 'X') ++count;
  }
  ::closedir(dir);
  return count;
}

std::size_t kill_group_leftovers(const pid_fd& leader, pid_t pgid) noexcept {
  error_code scan_ec;
  const std::size_t members = count_group_members(pgid, scan_ec);
  // A scan that could not be completed (no descriptor left for /proc, say) may have
  // missed members: the group, which the probe found populated, is signalled all the same.
  if (members == 0 && !scan_ec) return 0;
  error_code ec;
  leader.send_signal(SIGKILL, signal_scope::process_group, ec);
  // Whatever stopped the pidfd's signal (no group signals before 6.9, or a failure), the
  // members just seen keep the group id from being reused: kill(-pgid) reaches them.
  if (ec) ec = kill_process_group(pgid, SIGKILL);
  return ec ? 0 : members;  // none killed when the signal could not be sent
}

}  // namespace pidfd::detail
