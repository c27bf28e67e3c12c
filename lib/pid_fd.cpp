#include <pidfd/pid_fd.hpp>

#include "fault.hpp"
#include "proc.hpp"
#include "sys.hpp"

#include <pidfd/detail/linux.hpp>
#include <pidfd/detail/process_info.hpp>
#include <pidfd/kernel.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <new>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace pidfd {
namespace {

namespace berrc = boost::system::errc;

using detail::errno_code;

// Compares by errno, whatever the category (system or generic).
bool is(const error_code& ec, berrc::errc_t e) noexcept { return ec == e; }

// An ioctl or syscall the kernel does not know (or a filter hides).
bool unsupported(const error_code& ec) noexcept {
  return is(ec, berrc::function_not_supported) ||           // ENOSYS
         is(ec, berrc::inappropriate_io_control_operation) ||  // ENOTTY
         is(ec, berrc::operation_not_supported);              // EOPNOTSUPP
}

// The process behind a pidfd is gone (reaped) or not visible from here.
error_code normalise_gone(const error_code& ec) noexcept {
  if (is(ec, berrc::no_such_process) || ec.value() == EREMOTE ||
      ec.value() == ESTALE)
    return errno_code(ESRCH);
  return ec;
}

// The pid of the process behind fd, from PIDFD_GET_INFO or /proc/self/fdinfo; 0 once the
// process has been reaped or when it is not visible in our pid namespace.
pid_t query_pid(int fd) noexcept {
  if (kernel_support().get_info) {
    detail::pidfd_info info{};
    info.mask = detail::pidfd_info_pid;
    const error_code ec = sys::pidfd_get_info(fd, info);
    if (!ec) return (info.mask & detail::pidfd_info_pid) ? static_cast<pid_t>(info.pid) : 0;
    if (is(ec, berrc::no_such_process)) return 0;  // reaped; anything else: ask fdinfo
  }
  pid_t pid = 0;
  if (proc::fdinfo_pid(fd, pid) || pid < 0) return 0;
  return pid;
}

// The checks that come before a call needing one kernel feature: the feature, then the fd.
error_code usable(int fd, bool feature) noexcept {
  if (!feature) return errno_code(EOPNOTSUPP);
  if (fd < 0) return errno_code(EBADF);
  return {};
}

bool has_thread_flag(int fd) noexcept {
  const int fl = PIDFD_FAULT("fcntl(F_GETFL)", ::fcntl(fd, F_GETFL));
  return fl >= 0 && (fl & detail::k_pidfd_thread) != 0;
}

constexpr std::string_view namespace_names[] = {
    "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children",
    "user", "uts"};

// Sleeps for a short, growing interval. Only used by the blocking wait() when the pidfd is
// readable but the child is not yet reapable (ptrace, O_NONBLOCK), where poll() would
// return at once again and a blocking waitid() is not possible.
void backoff(int& step_us) noexcept {
  timespec ts{0, static_cast<long>(step_us) * 1000};
  ::nanosleep(&ts, nullptr);
  step_us = std::min(step_us * 2, 50'000);
}

}  // namespace

// ----- GET_INFO replies --------------------------------------------------------------

// The public coredump_mask bits are the kernel's own values.
static_assert(coredump_dumped == detail::pidfd_coredumped);
static_assert(coredump_skipped == detail::pidfd_coredump_skip);
static_assert(coredump_as_user == detail::pidfd_coredump_user);
static_assert(coredump_as_root == detail::pidfd_coredump_root);

namespace detail {

process_info decode_process_info(const pidfd_info& i) noexcept {
  process_info out{};
  if (i.mask & pidfd_info_pid) {
    out.pid = static_cast<pid_t>(i.pid);
    out.tgid = static_cast<pid_t>(i.tgid);
    out.ppid = static_cast<pid_t>(i.ppid);
  }
  if (i.mask & pidfd_info_creds)
    out.creds = credentials{i.ruid, i.euid, i.suid, i.fsuid, i.rgid, i.egid, i.sgid, i.fsgid};
  if (i.mask & pidfd_info_cgroupid) out.cgroup_id = i.cgroupid;
  if (i.mask & pidfd_info_coredump) out.coredump_mask = i.coredump_mask;
  if (i.mask & pidfd_info_coredump_signal)
    out.coredump_signal = static_cast<int>(i.coredump_signal);
  return out;
}

std::uint64_t process_info_request() noexcept {
  const kernel_features& k = kernel_support();
  std::uint64_t mask = pidfd_info_pid | pidfd_info_creds | pidfd_info_cgroupid;
  if (k.info_coredump) mask |= pidfd_info_coredump;
  if (k.info_coredump_signal) mask |= pidfd_info_coredump_signal;
  return mask;
}

}  // namespace detail

// ----- construction and ownership ---------------------------------------------------

pid_fd::pid_fd(int fd) noexcept : fd_(fd) {
  if (fd_ >= 0) {
    pid_ = query_pid(fd_);
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

// The one place that reaps. Non-blocking, it makes one attempt holding the right to reap
// (begin_reap(): one caller at a time):
//  - our child: waitid(P_PIDFD, WEXITED | WNOHANG) reaps it;
//  - ECHILD (not our child, reaped by someone else, or SIGCHLD ignored): once the pidfd
//    reports HUP (the reap) the status comes from PIDFD_INFO_EXIT; without that feature
//    an exited process gives errc::status_unavailable;
//  - a thread pidfd: status_unavailable once the thread has exited.
// Blocking, it first waits without reaping (so the right to reap is never held while blocked):
// waitid(WEXITED | WNOWAIT) for a child, poll() for HUP or POLLIN otherwise.
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

// ----- queries -----------------------------------------------------------------------

pid_t pid_fd::pid() const {
  error_code ec;
  const pid_t p = pid(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::pid");
  return p;
}

pid_t pid_fd::pid(error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return 0;
  }
  if (pid_ > 0) return pid_;
  ec = errno_code(ESRCH);
  return 0;
}

process_info pid_fd::info() const {
  error_code ec;
  process_info i = info(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::info");
  return i;
}

process_info pid_fd::info(error_code& ec) const noexcept {
  ec.clear();
  process_info out{};
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return out;
  }
  if (kernel_support().get_info) {
    detail::pidfd_info i{};
    i.mask = detail::process_info_request();
    const error_code e = sys::pidfd_get_info(fd_, i);
    if (!e) {
      if (!(i.mask & detail::pidfd_info_pid)) {
        ec = errno_code(ESRCH);
        return out;
      }
      return detail::decode_process_info(i);
    }
    // ENOTTY (6.1) or EINVAL (6.12): no PIDFD_GET_INFO; use /proc below.
    if (!unsupported(e) && !is(e, berrc::invalid_argument)) {
      ec = normalise_gone(e);
      return out;
    }
  }
  unique_fd dir = proc_dir(ec);
  if (ec) return out;
  if (error_code e = proc::read_process_info(dir.get(), out)) {
    // Reading a reaped process's files fails with ESRCH (or ENOENT for the files).
    ec = (is(e, berrc::no_such_file_or_directory) || is(e, berrc::no_such_process))
             ? errno_code(ESRCH)
             : e;
    return process_info{};
  }
  return out;
}

credentials pid_fd::creds() const { return info().creds; }

credentials pid_fd::creds(error_code& ec) const noexcept { return info(ec).creds; }

pid_t pid_fd::ppid() const { return info().ppid; }

pid_t pid_fd::ppid(error_code& ec) const noexcept { return info(ec).ppid; }

std::uint64_t pid_fd::cgroup_id() const { return info().cgroup_id; }

std::uint64_t pid_fd::cgroup_id(error_code& ec) const noexcept { return info(ec).cgroup_id; }

std::uint64_t pid_fd::id() const {
  error_code ec;
  const std::uint64_t i = id(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::id");
  return i;
}

std::uint64_t pid_fd::id(error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return 0;
  }
  // Before pidfs every pidfd shares one anonymous inode: no identity to give.
  if (!kernel_support().pidfs) {
    ec = errno_code(EOPNOTSUPP);
    return 0;
  }
  struct stat st {};
  if (PIDFD_FAULT("fstat", ::fstat(fd_, &st)) != 0) {
    ec = errno_code(errno);
    return 0;
  }
  return st.st_ino;
}

unique_fd pid_fd::get_namespace(namespace_type type) const {
  error_code ec;
  unique_fd fd = get_namespace(type, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::get_namespace");
  return fd;
}

unique_fd pid_fd::get_namespace(namespace_type type, error_code& ec) const noexcept {
  ec.clear();
  const int index = static_cast<int>(type);
  if (index < 0 || index >= 10) {
    ec = errno_code(EINVAL);
    return {};
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return {};
  }
  if (kernel_support().namespaces) {
    int fd = -1;
    const error_code e = sys::pidfd_get_namespace(fd_, index + 1, fd);
    if (!e) return unique_fd(fd);
    // EOPNOTSUPP: that namespace type is not built into this kernel.
    if (is(e, berrc::operation_not_supported) || !unsupported(e)) {
      ec = normalise_gone(e);
      return {};
    }
  }
  unique_fd dir = proc_dir(ec);
  if (ec) return {};
  int fd = -1;
  if (error_code e = proc::open_namespace(dir.get(), namespace_names[index], fd)) {
    // The links vanish when the process exits; a missing one on a live process means the
    // kernel lacks that namespace type.
    error_code alive;
    send_signal(0, alive);
    if (alive || has_exited())
      ec = errno_code(ESRCH);
    else
      ec = is(e, berrc::no_such_file_or_directory) ? errno_code(EOPNOTSUPP) : e;
    return {};
  }
  return unique_fd(fd);
}

void pid_fd::set_namespace(int clone_new_flags) const {
  error_code ec;
  set_namespace(clone_new_flags, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::set_namespace");
}

void pid_fd::set_namespace(int clone_new_flags, error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return;
  }
  ec = normalise_gone(sys::setns(fd_, clone_new_flags));
}

unique_fd pid_fd::get_remote_fd(int target_fd) const {
  error_code ec;
  unique_fd fd = get_remote_fd(target_fd, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::get_remote_fd");
  return fd;
}

unique_fd pid_fd::get_remote_fd(int target_fd, error_code& ec) const noexcept {
  ec.clear();
  if (!kernel_support().getfd) {
    ec = errno_code(EOPNOTSUPP);
    return {};
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return {};
  }
  int fd = -1;
  if (error_code e = sys::pidfd_getfd(fd_, target_fd, fd)) {
    ec = unsupported(e) ? errno_code(EOPNOTSUPP) : normalise_gone(e);
    return {};
  }
  return unique_fd(fd);
}

void pid_fd::release_memory() const {
  error_code ec;
  release_memory(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::release_memory");
}

void pid_fd::release_memory(error_code& ec) const noexcept {
  ec.clear();
  if (!kernel_support().mrelease) {
    ec = errno_code(EOPNOTSUPP);
    return;
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return;
  }
  error_code e = sys::process_mrelease(fd_);
  ec = unsupported(e) ? errno_code(EOPNOTSUPP) : e;
}

// ----- memory advice -------------------------------------------------------------------

std::size_t pid_fd::madvise(std::span<const iovec> ranges, int advice) const {
  error_code ec;
  const std::size_t n = madvise(ranges, advice, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::madvise");
  return n;
}

std::size_t pid_fd::madvise(std::span<const iovec> ranges, int advice,
                            error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().madvise);
  if (ec) return 0;
  std::size_t advised = 0;
  if (error_code e = sys::process_madvise(fd_, ranges.data(), ranges.size(), advice, advised)) {
    ec = is(e, berrc::function_not_supported) ? errno_code(EOPNOTSUPP)
                                              : normalise_gone(e);
    return 0;
  }
  return advised;
}

// ----- pidfs extended attributes ------------------------------------------------------

namespace {

// Maps what the xattr calls answer: EOPNOTSUPP (no pidfs xattrs, or a namespace other
// than trusted.*) to operation_not_supported; the rest (ENODATA, EPERM, ERANGE, ...) as is.
error_code xattr_error(const error_code& e) noexcept {
  return unsupported(e) ? errno_code(EOPNOTSUPP) : e;
}

// The names of fd's attributes (flistxattr gives them NUL-terminated, one after another),
// retrying if the list grows between asking its size and reading it.
error_code read_xattr_names(int fd, std::vector<std::string>& names) {
  for (;;) {
    std::size_t len = 0;
    if (error_code e = sys::flistxattr(fd, nullptr, 0, len)) return xattr_error(e);
    std::string list(len, '\0');
    if (error_code e = sys::flistxattr(fd, list.data(), list.size(), len)) {
      if (is(e, berrc::result_out_of_range)) continue;
      return xattr_error(e);
    }
    names.clear();
    for (std::size_t pos = 0; pos < len;) {
      const std::size_t end = std::min(list.find('\0', pos), len);
      if (end > pos) names.emplace_back(list, pos, end - pos);
      pos = end + 1;
    }
    return {};
  }
}

bool xattr_listed(int fd, const std::string& name) {
  std::vector<std::string> names;
  return !read_xattr_names(fd, names) &&
         std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string pid_fd::get_xattr(const std::string& name) const {
  error_code ec;
  std::string v = get_xattr(name, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::get_xattr");
  return v;
}

std::string pid_fd::get_xattr(const std::string& name, error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return {};
  try {
    // The value may change between asking its size and reading it: retry on ERANGE.
    for (;;) {
      std::size_t len = 0;
      if (error_code e = sys::fgetxattr(fd_, name.c_str(), nullptr, 0, len)) {
        ec = xattr_error(e);
        return {};
      }
      std::string value(len, '\0');
      if (error_code e = sys::fgetxattr(fd_, name.c_str(), value.data(), value.size(), len)) {
        if (is(e, berrc::result_out_of_range)) continue;
        ec = xattr_error(e);
        return {};
      }
      value.resize(len);
      // pidfs answers a read with an empty value, rather than ENODATA, while the process
      // has no attributes at all (6.18): an empty value counts only if the name is listed.
      if (len == 0 && !xattr_listed(fd_, name)) {
        ec = errno_code(ENODATA);
        return {};
      }
      return value;
    }
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

void pid_fd::set_xattr(const std::string& name, std::string_view value) const {
  error_code ec;
  set_xattr(name, value, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::set_xattr");
}

void pid_fd::set_xattr(const std::string& name, std::string_view value,
                       error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return;
  ec = xattr_error(sys::fsetxattr(fd_, name.c_str(), value.data(), value.size(), 0));
}

std::vector<std::string> pid_fd::list_xattrs() const {
  error_code ec;
  std::vector<std::string> names = list_xattrs(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::list_xattrs");
  return names;
}

std::vector<std::string> pid_fd::list_xattrs(error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return {};
  try {
    std::vector<std::string> names;
    ec = read_xattr_names(fd_, names);
    return names;
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

void pid_fd::remove_xattr(const std::string& name) const {
  error_code ec;
  remove_xattr(name, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::remove_xattr");
}

void pid_fd::remove_xattr(const std::string& name, error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return;
  ec = xattr_error(sys::fremovexattr(fd_, name.c_str()));
}

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
    ec = (is(e, berrc::no_such_file_or_directory) || is(e, berrc::no_such_process))
             ? errno_code(ESRCH)
             : e;
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
