// pid_fd: waiting for the process, reaping it, and the resource usage of a reaped child.
#include <pidfd/pid_fd.hpp>

#include "pid_fd_errors.hpp"
#include "sys.hpp"

#include <pidfd/detail/linux.hpp>
#include <pidfd/kernel.hpp>

#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <new>
#include <unordered_map>

namespace pidfd {
namespace {

namespace berrc = boost::system::errc;
using detail::errno_code;
using pid_fd_errors::is;

// Sleeps for a short, growing interval. Only used by the blocking wait() when the pidfd is
// readable but the child is not yet reapable (ptrace, O_NONBLOCK), where poll() would
// return at once again and a blocking waitid() is not possible.
void backoff(int& step_us) noexcept {
  timespec ts{0, static_cast<long>(step_us) * 1000};
  ::nanosleep(&ts, nullptr);
  step_us = std::min(step_us * 2, 50'000);
}

}  // namespace

// ----- waiting -----------------------------------------------------------------------

bool pid_fd::has_exited() const noexcept {
  if (fd_ < 0) return false;
  short revents = 0;
  if (sys::poll_one(fd_, POLLIN, 0, revents)) return false;
  return (revents & (POLLIN | POLLHUP)) != 0;
}

std::optional<exit_status> pid_fd::cached_status() const noexcept {
  const int s = status_.load(std::memory_order_acquire);
  if (s < 0) return std::nullopt;  // no_status, or reaping
  return exit_status::from_wait_status(s);
}

bool pid_fd::begin_reap() const noexcept {
  int current = status_.load(std::memory_order_acquire);
  for (;;) {
    if (current >= 0) return false;  // a status: nothing left to reap
    if (current == reaping) {
      // Another thread is between its waitid/ioctl and end_reap(): a few system calls.
      status_.wait(reaping, std::memory_order_acquire);
      current = status_.load(std::memory_order_acquire);
      continue;
    }
    if (status_.compare_exchange_weak(current, reaping, std::memory_order_acquire,
                                      std::memory_order_acquire))
      return true;
  }
}

void pid_fd::end_reap(int status) const noexcept {
  status_.store(status, std::memory_order_release);
  status_.notify_all();  // no system call unless a thread waits
}

exit_status pid_fd::wait() {
  error_code ec;
  exit_status s = wait(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::wait");
  return s;
}

exit_status pid_fd::wait(error_code& ec) noexcept {
  std::optional<exit_status> s = reap(true, ec);
  return s.value_or(exit_status());
}

std::optional<exit_status> pid_fd::try_wait() {
  error_code ec;
  std::optional<exit_status> s = try_wait(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::try_wait");
  return s;
}

std::optional<exit_status> pid_fd::try_wait(error_code& ec) noexcept { return reap(false, ec); }

// ----- resource usage ------------------------------------------------------------------
//
// Kept out of line, so that pid_fd stays 16 bytes (its size matters where thousands are
// held): a table from descriptor number to usage, with an entry only for objects that
// reaped their child, erased when the object closes or releases its descriptor (so a
// descriptor number is never looked up for another object). The entry moves with the
// descriptor when the object is moved.

static_assert(sizeof(void*) != 8 || sizeof(pid_fd) == 16,
              "the usage lives out of line so that a pid_fd stays 16 bytes");

namespace {
struct usage_table {
  std::mutex mutex;
  std::unordered_map<int, resource_usage> entries;
};
usage_table& usages() noexcept {
  // Never destroyed (static pid_fds may outlive it), and built in static storage: no
  // allocation that could fail here.
  alignas(usage_table) static unsigned char storage[sizeof(usage_table)];
  static usage_table* table = ::new (static_cast<void*>(storage)) usage_table;
  return *table;
}
std::chrono::microseconds to_us(const timeval& tv) noexcept {
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}
}  // namespace

void pid_fd::record_usage(const resource_usage& u) noexcept {
  usage_table& t = usages();
  try {
    const std::lock_guard<std::mutex> lock(t.mutex);
    t.entries.insert_or_assign(fd_, u);
  } catch (...) {  // bad_alloc (or a failing lock): the usage is just not known
    return;
  }
  has_usage_.store(true, std::memory_order_release);
}

void pid_fd::forget_usage() noexcept {
  if (!has_usage_.exchange(false)) return;
  usage_table& t = usages();
  try {
    const std::lock_guard<std::mutex> lock(t.mutex);
    t.entries.erase(fd_);
  } catch (...) {  // std::system_error from a failing lock: cannot happen for a valid mutex
  }
}

std::optional<resource_usage> pid_fd::usage() const noexcept {
  if (!has_usage_.load(std::memory_order_acquire)) return std::nullopt;
  usage_table& t = usages();
  try {
    const std::lock_guard<std::mutex> lock(t.mutex);
    const auto it = t.entries.find(fd_);
    if (it == t.entries.end()) return std::nullopt;
    return it->second;
  } catch (...) {
    return std::nullopt;
  }
}

namespace {

// waitid() on our child: through the pidfd, or by its pid without P_PIDFD (5.3), when our
// still-unreaped child's pid cannot have been recycled.
error_code wait_child(int fd, pid_t pid, siginfo_t& si, int options,
                      rusage* usage = nullptr) noexcept {
  if (kernel_support().waitid_pidfd) return sys::waitid_pidfd(fd, si, options, usage);
  if (pid <= 0) return errno_code(ECHILD);
  return sys::waitid_pid(pid, si, options, usage);
}

// Blocks until our child has exited, without reaping it (waitid(WNOWAIT)), so that the
// right to reap is never held while blocked. No error either when it has exited or when
// it is not our child (ECHILD: the caller finds out how it ended another way).
error_code wait_until_child_exits(int fd, pid_t pid) noexcept {
  int step_us = 100;
  short revents = 0;
  for (;;) {
    siginfo_t si;
    const error_code e = wait_child(fd, pid, si, WEXITED | WNOWAIT);
    if (!e && si.si_pid != 0) return {};           // exited; the caller reaps it
    if (is(e, berrc::no_child_process)) return {};  // not ours
    if (e && !is(e, berrc::resource_unavailable_try_again)) return e;
    // O_NONBLOCK pidfd and still running: sleep in poll until it is readable. If it is
    // readable already but not reapable (ptrace), back off instead of spinning.
    if (sys::poll_one(fd, POLLIN, -1, revents)) continue;
    if (!e) {
      backoff(step_us);
    } else {
      siginfo_t again;
      const error_code e2 = wait_child(fd, pid, again, WEXITED | WNOWAIT | WNOHANG);
      if (!e2 && again.si_pid == 0) backoff(step_us);
    }
  }
}

// The status of a process that is not our child, or of a thread, without blocking:
// nullopt without an error while it has not ended (or, with PIDFD_INFO_EXIT, until it has
// been reaped); errc::status_unavailable once it has ended and its status cannot be known.
std::optional<exit_status> non_child_status(int fd, bool thread, error_code& ec) noexcept {
  short revents = 0;
  if (error_code pe = sys::poll_one(fd, POLLIN, 0, revents)) {
    ec = pe;
    return std::nullopt;
  }
  const bool exited = (revents & (POLLIN | POLLHUP)) != 0;
  const bool reaped = (revents & POLLHUP) != 0;
  if (exited && (thread || !kernel_support().info_exit)) {
    ec = make_error_code(errc::status_unavailable);
    return std::nullopt;
  }
  if (!reaped) return std::nullopt;
  detail::pidfd_info info{};
  info.mask = detail::pidfd_info_exit;
  const error_code ie = sys::pidfd_get_info(fd, info);
  if (!ie && (info.mask & detail::pidfd_info_exit))
    return exit_status::from_wait_status(info.exit_code);
  ec = make_error_code(errc::status_unavailable);
  return std::nullopt;
}

// Blocks until a process that is not our child, or a thread, has changed as
// non_child_status() looks for. With PIDFD_INFO_EXIT, waits for the reap: HUP is reported
// even when not requested, so events = 0 waits for nothing else. Otherwise (a thread, or a
// kernel without it, which may not report HUP at all) waits for the exit.
error_code wait_for_non_child(int fd, bool thread) noexcept {
  const short events = (thread || !kernel_support().info_exit) ? POLLIN : 0;
  short revents = 0;
  return sys::poll_one(fd, events, -1, revents);
}

// What one attempt to reap found.
struct reap_attempt {
  std::optional<exit_status> status;    // the process has ended with this status
  std::optional<resource_usage> usage;  // with the status, when we reaped our child
  bool child_running = false;           // our child, not reapable yet
};

// One attempt to reap, made while holding the right to reap:
//  - our child: waitid(P_PIDFD, WEXITED | WNOHANG) reaps it;
//  - ECHILD (not our child, reaped by someone else, or SIGCHLD ignored), or a thread
//    pidfd: non_child_status().
reap_attempt try_reap(int fd, pid_t pid, bool thread, error_code& ec) noexcept {
  reap_attempt a;
  if (!thread) {
    siginfo_t si;
    rusage ru{};
    const error_code e = wait_child(fd, pid, si, WEXITED | WNOHANG, &ru);
    if (!e) {
      if (si.si_pid == 0) {
        a.child_running = true;
      } else {
        a.status = exit_status::from_siginfo(si);
        // ru_maxrss is in KiB.
        a.usage = resource_usage{to_us(ru.ru_utime), to_us(ru.ru_stime),
                                 static_cast<std::uint64_t>(ru.ru_maxrss) * 1024};
      }
      return a;
    }
    if (!is(e, berrc::no_child_process)) {
      ec = e;
      return a;
    }
  }
  a.status = non_child_status(fd, thread, ec);
  return a;
}

}  // namespace

// The one place that reaps. Non-blocking, it makes one attempt (try_reap()) holding the
// right to reap (begin_reap(): one caller at a time). Blocking, it first waits for our
// child to exit without reaping it, then attempts until one finds the status, waiting for
// a process that is not our child between attempts.
std::optional<exit_status> pid_fd::reap(bool blocking, error_code& ec) noexcept {
  ec.clear();
  if (auto s = cached_status()) return s;
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return std::nullopt;
  }
  if (blocking && !thread_) {
    ec = wait_until_child_exits(fd_, pid_);
    if (ec) return std::nullopt;
  }
  for (;;) {
    {
      if (!begin_reap()) return cached_status();  // another caller found the status
      // Gives the right to reap back on every path: with the status found, or without.
      struct reap_right {
        const pid_fd& self;
        int found = no_status;
        ~reap_right() { self.end_reap(found); }
      } right{*this};
      const reap_attempt a = try_reap(fd_, pid_, thread_, ec);
      if (a.status) {
        if (a.usage) record_usage(*a.usage);
        right.found = a.status->native();
        return a.status;
      }
      if (ec || !blocking) return std::nullopt;
      // Our child: another waiter is between its WNOWAIT and its reap; retry.
      if (a.child_running) continue;
    }
    ec = wait_for_non_child(fd_, thread_);
    if (ec) return std::nullopt;
  }
}

}  // namespace pidfd
