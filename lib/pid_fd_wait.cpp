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

// The one place that reaps. Non-blocking, it makes one attempt holding the right to reap
// (begin_reap(): one caller at a time):
//  - our child: waitid(P_PIDFD, WEXITED | WNOHANG) reaps it;
//  - ECHILD (not our child, reaped by someone else, or SIGCHLD ignored): once the pidfd
//    reports HUP (the reap) the status comes from PIDFD_INFO_EXIT; without that feature
//    an exited process gives errc::status_unavailable;
//  - a thread pidfd: status_unavailable once the thread has exited.
// Blocking, it first waits without reaping (so the right to reap is never held while blocked):
// waitid(WEXITED | WNOWAIT) for a child, poll() for HUP or POLLIN otherwise.
std::optional<exit_status> pid_fd::reap(bool blocking, error_code& ec) noexcept {
  ec.clear();
  if (auto s = cached_status()) return s;
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return std::nullopt;
  }
  const kernel_features& k = kernel_support();
  // Without P_PIDFD (5.3), our still-unreaped child's pid cannot have been recycled.
  auto wait_child = [&](siginfo_t& si, int options, rusage* usage = nullptr) {
    if (k.waitid_pidfd) return sys::waitid_pidfd(fd_, si, options, usage);
    if (pid_ <= 0) return errno_code(ECHILD);
    return sys::waitid_pid(pid_, si, options, usage);
  };
  short revents = 0;

  if (blocking && !thread_) {
    int step_us = 100;
    for (;;) {
      siginfo_t si;
      const error_code e = wait_child(si, WEXITED | WNOWAIT);
      if (!e && si.si_pid != 0) break;  // exited; reap it below
      if (is(e, berrc::no_child_process)) break;  // not ours: handled below
      if (e && !is(e, berrc::resource_unavailable_try_again)) {
        ec = e;
        return std::nullopt;
      }
      // O_NONBLOCK pidfd and still running: sleep in poll until it is readable. If it is
      // readable already but not reapable (ptrace), back off instead of spinning.
      if (sys::poll_one(fd_, POLLIN, -1, revents)) continue;
      if (!e) backoff(step_us);
      else {
        siginfo_t again;
        const error_code e2 = wait_child(again, WEXITED | WNOWAIT | WNOHANG);
        if (!e2 && again.si_pid == 0) backoff(step_us);
      }
    }
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
      error_code e;
      if (!thread_) {
        siginfo_t si;
        rusage ru{};
        e = wait_child(si, WEXITED | WNOHANG, &ru);
        if (!e) {
          if (si.si_pid == 0) {
            if (!blocking) return std::nullopt;
            continue;  // another waiter is between its WNOWAIT and its reap; retry
          }
          const exit_status s = exit_status::from_siginfo(si);
          // ru_maxrss is in KiB.
          record_usage({to_us(ru.ru_utime), to_us(ru.ru_stime),
                        static_cast<std::uint64_t>(ru.ru_maxrss) * 1024});
          right.found = s.native();
          return s;
        }
        if (!is(e, berrc::no_child_process)) {
          ec = e;
          return std::nullopt;
        }
      }
      // Not our child (or a thread): has it exited, and has it been reaped?
      if (error_code pe = sys::poll_one(fd_, POLLIN, 0, revents)) {
        ec = pe;
        return std::nullopt;
      }
      const bool exited = (revents & (POLLIN | POLLHUP)) != 0;
      const bool reaped = (revents & POLLHUP) != 0;
      if (exited && (thread_ || !k.info_exit)) {
        ec = make_error_code(errc::status_unavailable);
        return std::nullopt;
      }
      if (reaped) {
        detail::pidfd_info info{};
        info.mask = detail::pidfd_info_exit;
        const error_code ie = sys::pidfd_get_info(fd_, info);
        if (!ie && (info.mask & detail::pidfd_info_exit)) {
          const exit_status s = exit_status::from_wait_status(info.exit_code);
          right.found = s.native();
          return s;
        }
        ec = make_error_code(errc::status_unavailable);
        return std::nullopt;
      }
      if (!blocking) return std::nullopt;
    }
    // Blocking, not our child. With PIDFD_INFO_EXIT, wait for the reap: HUP is reported
    // even when not requested, so events = 0 waits for nothing else. Otherwise (a thread,
    // or a kernel without it, which may not report HUP at all) wait for the exit.
    const short events = (thread_ || !k.info_exit) ? POLLIN : 0;
    if (error_code pe = sys::poll_one(fd_, events, -1, revents)) {
      ec = pe;
      return std::nullopt;
    }
  }
}

}  // namespace pidfd
