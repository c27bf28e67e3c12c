// Tests for <pidfd/pid_fd.hpp> and <pidfd/unique_fd.hpp> against the real kernel: every
// member with its success path and its error paths. Kernel-dependent behaviour branches on
// kernel_support(): the feature's result where present, the fallback's result or the exact
// clean error where not. The same checks under seccomp and ASIO_PIDFD_PRETEND_MISSING are
// in fallback.cpp.
#include "core_checks.hpp"

#include <pidfd/detail/process_info.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/unique_fd.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using namespace pidfd_test;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd::open_flags;
using pidfd::pid_fd;
using pidfd::signal_scope;

static_assert(!std::is_copy_constructible_v<pid_fd>);
static_assert(!std::is_copy_assignable_v<pid_fd>);
static_assert(std::is_nothrow_move_constructible_v<pid_fd>);
static_assert(std::is_nothrow_move_assignable_v<pid_fd>);
static_assert(!std::is_copy_constructible_v<pidfd::unique_fd>);
static_assert(std::is_nothrow_move_constructible_v<pidfd::unique_fd>);
static_assert((open_flags::nonblock | open_flags::thread) == static_cast<open_flags>(3));
static_assert((static_cast<open_flags>(3) & open_flags::thread) == open_flags::thread);
static_assert((open_flags::nonblock & open_flags::thread) == open_flags::none);
static_assert([] {
  open_flags f = open_flags::none;
  f |= open_flags::thread;
  return f == open_flags::thread;
}());

const pidfd::kernel_features& features() { return pidfd::kernel_support(); }

pid_t gettid_() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

pid_t pid_max() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  pid_t v = 0;
  in >> v;
  return v;
}

int raw_dup(int fd) { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); }

// errno's text, thread-safely (std::strerror may share one buffer between threads).
std::string errno_text() { return std::generic_category().message(errno); }

// Whether thread `tid` is blocked in one of the calls a blocking wait() makes.
bool in_blocking_wait(pid_t tid) {
  return thread_in_syscall(tid, {SYS_poll, SYS_ppoll, SYS_waitid, SYS_epoll_wait,
                                 SYS_epoll_pwait, SYS_select, SYS_pselect6});
}

// Spins (yielding) until pred() holds or the deadline has passed; whether it holds.
template <class Pred>
bool spin_until(Pred pred, std::chrono::steady_clock::time_point deadline) {
  while (!pred() && std::chrono::steady_clock::now() < deadline) ::sched_yield();
  return pred();
}

// A thread that waits (bounded) until the thread that made it is blocked in a wait, runs
// `when_blocked` if it saw that, then calls release() to let that wait complete; release()
// runs on the bound too, so the wait never hangs. saw_blocked() joins it and tells whether
// it saw the block.
class releaser {
public:
  explicit releaser(std::function<void()> release, std::function<void()> when_blocked = {})
      : waiter_(gettid_()),
        thread_([this, release = std::move(release), when_blocked = std::move(when_blocked)] {
          const auto deadline = std::chrono::steady_clock::now() + wait_bound;
          if (spin_until([this] { return in_blocking_wait(waiter_); }, deadline)) {
            saw_blocked_ = true;
            if (when_blocked) when_blocked();
          }
          release();
        }) {}
  releaser(const releaser&) = delete;
  releaser& operator=(const releaser&) = delete;
  ~releaser() {
    if (thread_.joinable()) thread_.join();
  }

  bool saw_blocked() {
    if (thread_.joinable()) thread_.join();
    return saw_blocked_.load();
  }

private:
  const pid_t waiter_;
  std::atomic<bool> saw_blocked_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------- unique_fd

// Moving an object into itself (through another name) keeps its descriptor open and owned.
TEST(UniqueFd, SelfMoveAssignmentKeepsTheDescriptor) {
  pipe_fds p = make_pipe();
  const int raw = p.read.get();
  pidfd::unique_fd& same = p.read;
  p.read = std::move(same);
  EXPECT_EQ(p.read.get(), raw);
  EXPECT_EQ(::fcntl(raw, F_GETFD), FD_CLOEXEC);
}

// credentials and resource_usage compare every field: one differing field makes them differ.
TEST(Credentials, EqualOnlyWhenEveryIdIs) {
  const pidfd::credentials base{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(base, (pidfd::credentials{1, 2, 3, 4, 5, 6, 7, 8}));
  uid_t pidfd::credentials::*const uids[] = {
      &pidfd::credentials::ruid, &pidfd::credentials::euid, &pidfd::credentials::suid,
      &pidfd::credentials::fsuid};
  gid_t pidfd::credentials::*const gids[] = {
      &pidfd::credentials::rgid, &pidfd::credentials::egid, &pidfd::credentials::sgid,
      &pidfd::credentials::fsgid};
  for (auto field : uids) {
    pidfd::credentials other = base;
    other.*field = 100;
    EXPECT_NE(base, other);
  }
  for (auto field : gids) {
    pidfd::credentials other = base;
    other.*field = 100;
    EXPECT_NE(base, other);
  }
}

TEST(ResourceUsage, EqualOnlyWhenEveryFieldIs) {
  using us = std::chrono::microseconds;
  const pidfd::resource_usage base{us(1), us(2), 3};
  EXPECT_EQ(base, (pidfd::resource_usage{us(1), us(2), 3}));
  EXPECT_NE(base, (pidfd::resource_usage{us(9), us(2), 3}));
  EXPECT_NE(base, (pidfd::resource_usage{us(1), us(9), 3}));
  EXPECT_NE(base, (pidfd::resource_usage{us(1), us(2), 9}));
}

TEST(UniqueFd, OwnsAndCloses) {
  pidfd::unique_fd empty;
  EXPECT_FALSE(empty.is_open());
  EXPECT_FALSE(static_cast<bool>(empty));
  EXPECT_EQ(empty.get(), -1);

  pipe_fds p = make_pipe();
  const int raw = p.read.release();
  EXPECT_EQ(p.read.get(), -1);
  {
    pidfd::unique_fd owner(raw);
    EXPECT_TRUE(owner.is_open());
    EXPECT_EQ(owner.get(), raw);
    pidfd::unique_fd moved(std::move(owner));
    EXPECT_EQ(owner.get(), -1);  // NOLINT(bugprone-use-after-move): specified as empty
    EXPECT_EQ(moved.get(), raw);
    pidfd::unique_fd assigned;
    assigned = std::move(moved);
    EXPECT_EQ(assigned.get(), raw);
    EXPECT_EQ(::fcntl(raw, F_GETFD), FD_CLOEXEC);
  }
  // Closed by the destructor.
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);

  const int w = p.write.get();
  p.write.reset();
  EXPECT_EQ(::fcntl(w, F_GETFD), -1);
  EXPECT_FALSE(p.write.is_open());
}

// ---------------------------------------------------------------- object basics

TEST(PidFd, EmptyObject) {
  pid_fd p;
  EXPECT_FALSE(p.is_open());
  EXPECT_FALSE(static_cast<bool>(p));
  EXPECT_EQ(p.native_handle(), -1);
  EXPECT_FALSE(p.is_thread());
  EXPECT_EQ(p.cached_status(), std::nullopt);
  EXPECT_EQ(p.release(), -1);
  p.close();
  EXPECT_FALSE(p.is_open());
}

// What a call on an empty pid_fd reports: operation_not_supported when the kernel lacks
// the feature (checked first by those calls), bad_file_descriptor otherwise.
sys_errc empty_error(bool feature) {
  return feature ? sys_errc::bad_file_descriptor : sys_errc::operation_not_supported;
}

// Every member on an empty object: the exact error, the same from the throwing form.
TEST(PidFd, EveryOperationOfAnEmptyObjectFailsCleanly) {
  const pidfd::kernel_features& k = features();
  pid_fd p;
  error_code ec;

  EXPECT_FALSE(p.dup(ec).is_open());
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);

  p.send_signal(0, ec);
  EXPECT_EQ(ec, empty_error(k.send_signal));
  p.send_signal(0, signal_scope::thread_group, ec);
  EXPECT_EQ(ec, empty_error(k.send_signal && k.signal_scope));
  p.kill(ec);
  EXPECT_EQ(ec, empty_error(k.send_signal));
  union sigval value {};
  value.sival_int = 7;
  p.queue_signal(SIGUSR1, value, ec);
  EXPECT_EQ(ec, empty_error(k.send_signal));

  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_EQ(p.wait(ec), exit_status());
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_FALSE(p.has_exited());

  EXPECT_EQ(p.pid(ec), 0);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_EQ(p.info(ec).pid, 0);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_EQ(p.ppid(ec), 0);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  (void)p.creds(ec);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_EQ(p.cgroup_id(ec), 0u);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_EQ(p.id(ec), 0u);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);

  EXPECT_FALSE(p.get_namespace(pidfd::namespace_type::pid, ec).is_open());
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  p.set_namespace(CLONE_NEWUTS, ec);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_FALSE(p.get_remote_fd(0, ec).is_open());
  EXPECT_EQ(ec, empty_error(k.getfd));
  p.release_memory(ec);
  EXPECT_EQ(ec, empty_error(k.mrelease));

  EXPECT_EQ(p.cgroup_path(ec), "");
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
  EXPECT_FALSE(p.proc_dir(ec).is_open());
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);

  // The throwing forms carry the same codes.
  expect_throws_code([&] { (void)p.dup(); }, sys_errc::bad_file_descriptor);
  expect_throws_code([&] { (void)p.pid(); }, sys_errc::bad_file_descriptor);
  expect_throws_code([&] { (void)p.id(); }, sys_errc::bad_file_descriptor);
  expect_throws_code([&] { (void)p.try_wait(); }, sys_errc::bad_file_descriptor);
  expect_throws_code([&] { p.set_namespace(CLONE_NEWUTS); }, sys_errc::bad_file_descriptor);
  expect_throws_code([&] { p.queue_signal(SIGUSR1, value); }, empty_error(k.send_signal));
  expect_throws_code([&] { p.release_memory(); }, empty_error(k.mrelease));
  EXPECT_FALSE(p.is_open());
}

TEST(PidFd, NamespaceTypeOutOfRangeIsInvalidArgument) {
  // Checked before the descriptor: an empty object and an open one give the same answer.
  const auto bogus = static_cast<pidfd::namespace_type>(10);
  error_code ec;
  pid_fd empty;
  EXPECT_FALSE(empty.get_namespace(bogus, ec).is_open());
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  pid_fd self = pid_fd::self();
  EXPECT_FALSE(self.get_namespace(bogus, ec).is_open());
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  expect_throws_code([&] { (void)self.get_namespace(bogus); }, sys_errc::invalid_argument);
}

TEST(PidFd, MoveTransfersFdPidAndStatus) {
  blocked_child c;
  const int raw = c.fd.native_handle();
  pid_fd a(std::move(c.fd));
  EXPECT_FALSE(c.fd.is_open());
  EXPECT_EQ(c.fd.native_handle(), -1);
  EXPECT_EQ(a.native_handle(), raw);
  EXPECT_EQ(a.pid(), c.pid);

  pid_fd b;
  b = std::move(a);
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): specified as empty
  EXPECT_EQ(b.native_handle(), raw);
  EXPECT_EQ(b.pid(), c.pid);

  c.finish();
  EXPECT_EQ(bounded_wait(b), exit_status::from_wait_status(0));
  pid_fd d(std::move(b));
  EXPECT_EQ(d.cached_status(), exit_status::from_wait_status(0));
  EXPECT_EQ(d.pid(), c.pid);

  // Move-assigning over an open object closes its old descriptor.
  pid_fd e = pid_fd::self();
  const int old = e.native_handle();
  e = std::move(d);
  EXPECT_EQ(e.native_handle(), raw);
  EXPECT_EQ(::fcntl(old, F_GETFD), -1);
}

TEST(PidFd, ReleaseAndClose) {
  pid_fd p = pid_fd::self();
  const int raw = p.native_handle();
  ASSERT_GE(raw, 0);
  EXPECT_EQ(p.release(), raw);
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(::fcntl(raw, F_GETFD), FD_CLOEXEC);  // still open: now ours
  ::close(raw);

  pid_fd q = pid_fd::self();
  const int raw2 = q.native_handle();
  q.close();
  EXPECT_FALSE(q.is_open());
  EXPECT_EQ(q.native_handle(), -1);
  EXPECT_EQ(::fcntl(raw2, F_GETFD), -1);
  q.close();  // closing an empty object is harmless
}

TEST(PidFd, AdoptRecordsThePid) {
  blocked_child c;
  pid_fd adopted(raw_dup(c.fd.native_handle()));
  EXPECT_TRUE(adopted.is_open());
  EXPECT_EQ(adopted.pid(), c.pid);
  EXPECT_FALSE(adopted.is_thread());
  c.finish();
  EXPECT_EQ(bounded_wait(c.fd), exit_status::from_wait_status(0));
  // Recorded at adoption: still known after the reap.
  EXPECT_EQ(adopted.pid(), c.pid);
  // Adopted only after the reap: the kernel no longer tells the pid.
  pid_fd late(raw_dup(c.fd.native_handle()));
  error_code ec;
  (void)late.pid(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  expect_throws_code([&] { (void)late.pid(); }, sys_errc::no_such_process);
}

// ---------------------------------------------------------------- open / self / dup

TEST(PidFd, OpenChild) {
  blocked_child c;
  pid_fd p = pid_fd::open(c.pid);
  EXPECT_TRUE(p.is_open());
  EXPECT_NE(p.native_handle(), c.fd.native_handle());
  EXPECT_EQ(p.pid(), c.pid);
  EXPECT_FALSE(p.is_thread());
  EXPECT_EQ(::fcntl(p.native_handle(), F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::fcntl(p.native_handle(), F_GETFL) & O_NONBLOCK, 0);
  error_code ec;
  pid_fd q = pid_fd::open(c.pid, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(q.pid(), c.pid);
  pid_fd r = pid_fd::open(c.pid, open_flags::none, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(r.pid(), c.pid);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(PidFd, OpenErrors) {
  error_code ec;
  for (pid_t bad : {0, -1, -100}) {
    SCOPED_TRACE(bad);
    pid_fd p = pid_fd::open(bad, ec);
    EXPECT_EQ(ec, sys_errc::invalid_argument);
    EXPECT_FALSE(p.is_open());
    expect_throws_code([&] { (void)pid_fd::open(bad); }, sys_errc::invalid_argument);
  }
  // pid_max itself is never handed out.
  pid_fd p = pid_fd::open(pid_max(), ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  EXPECT_FALSE(p.is_open());
  (void)pid_fd::open(pid_max(), open_flags::thread, ec);
  EXPECT_EQ(ec, features().thread_pidfd ? sys_errc::no_such_process
                                        : sys_errc::operation_not_supported);
  expect_throws_code([&] { (void)pid_fd::open(pid_max(), open_flags::none); },
                     sys_errc::no_such_process);
}

TEST(PidFd, OpenNonblock) {
  blocked_child c({}, {"exit", "7"});
  error_code ec;
  pid_fd p = pid_fd::open(c.pid, open_flags::nonblock, ec);
  if (!features().nonblock) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    c.finish();
    expect_exit_code(c.fd, 7);
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_NE(::fcntl(p.native_handle(), F_GETFL) & O_NONBLOCK, 0);
  // waitid() on it would say EAGAIN for a running child: the library says "not yet".
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();

  // wait() must block (poll, then waitid) rather than fail with EAGAIN. Let the child go
  // only once this thread is really blocked in the wait.
  releaser let_go([&] { c.finish(); });
  const exit_status s = p.wait(ec);
  EXPECT_TRUE(let_go.saw_blocked());
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(s, exit_status::from_wait_status(0x700));
  EXPECT_EQ(p.wait(), exit_status::from_wait_status(0x700));
  // The child was reaped through p; c.fd sees it reaped.
  EXPECT_TRUE(c.fd.has_exited());
}

TEST(PidFd, OpenNonLeaderThread) {
  parked_thread t;
  error_code ec;
  // A thread id is not a process id.
  pid_fd wrong = pid_fd::open(t.tid, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  EXPECT_FALSE(wrong.is_open());
  expect_throws_code([&] { (void)pid_fd::open(t.tid); }, sys_errc::no_such_process);

  pid_fd p = pid_fd::open(t.tid, open_flags::thread, ec);
  if (!features().thread_pidfd) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.is_thread());
  EXPECT_EQ(p.pid(), t.tid);
  const pidfd::process_info info = p.info();
  EXPECT_EQ(info.pid, t.tid);
  EXPECT_EQ(info.tgid, ::getpid());
  EXPECT_EQ(info.ppid, ::getppid());
  EXPECT_FALSE(p.has_exited());
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  p.send_signal(0);
  p.send_signal(0, signal_scope::thread);

  // An adopted thread pidfd is recognised as one.
  pid_fd adopted(raw_dup(p.native_handle()));
  EXPECT_TRUE(adopted.is_thread());
  EXPECT_EQ(adopted.pid(), t.tid);

  // Once the thread has exited: readable, but a thread has no exit status.
  t.release();
  ASSERT_TRUE(wait_readable(p.native_handle()));
  EXPECT_TRUE(p.has_exited());
  EXPECT_EQ(p.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  (void)p.wait(ec);
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  expect_throws_code([&] { (void)p.wait(); }, pidfd::errc::status_unavailable);
  expect_throws_code([&] { (void)p.try_wait(); }, pidfd::errc::status_unavailable);
  EXPECT_EQ(p.cached_status(), std::nullopt);
  EXPECT_EQ(p.pid(), t.tid);
  p.send_signal(0, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}

TEST(PidFd, Self) {
  pid_fd p = pid_fd::self();
  EXPECT_TRUE(p.is_open());
  EXPECT_FALSE(p.is_thread());
  EXPECT_EQ(::fcntl(p.native_handle(), F_GETFD), FD_CLOEXEC);
  EXPECT_FALSE(p.has_exited());
  expect_queries_match_proc(p, ::getpid());
  EXPECT_EQ(p.pid(), ::getpid());
  EXPECT_EQ(p.ppid(), ::getppid());
  error_code ec;
  pid_fd q = pid_fd::self(ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(q.pid(), ::getpid());
  p.send_signal(0);
  EXPECT_EQ(p.try_wait(), std::nullopt);
}

TEST(PidFd, DupSharesPidAndCachedStatus) {
  blocked_child c({}, {"exit", "4"});
  pid_fd early = c.fd.dup();
  EXPECT_NE(early.native_handle(), c.fd.native_handle());
  EXPECT_EQ(::fcntl(early.native_handle(), F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(early.pid(), c.pid);
  EXPECT_EQ(early.cached_status(), std::nullopt);
  if (features().pidfs) {
    EXPECT_EQ(early.id(), c.fd.id());
  }

  c.finish();
  const exit_status s = bounded_wait(c.fd);
  EXPECT_EQ(s, exit_status::from_wait_status(0x400));

  error_code ec;
  pid_fd late = c.fd.dup(ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(late.cached_status(), s);
  EXPECT_EQ(late.pid(), c.pid);
  EXPECT_EQ(late.wait(), s);

  // The early copy has no cached status; the child was reaped through the other object,
  // so it learns the status like any non-child would.
  EXPECT_EQ(early.cached_status(), std::nullopt);
  const exit_status e = early.wait(ec);
  if (features().info_exit) {
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(e, s);
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  }
}

TEST(PidFd, DupFailsWhenOutOfDescriptors) {
  pid_fd p = pid_fd::self();
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  // The lowest free descriptor becomes the limit: no new descriptor can be made.
  int lowest = 0;
  while (::fcntl(lowest, F_GETFD) >= 0) ++lowest;
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(lowest);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  error_code ec;
  pid_fd d = p.dup(ec);
  const bool threw = [&] {
    try {
      (void)p.dup();
      return false;
    } catch (const pidfd::system_error& e) {
      return e.code() == sys_errc::too_many_files_open;
    }
  }();
  ::setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_EQ(ec, sys_errc::too_many_files_open);
  EXPECT_FALSE(d.is_open());
  EXPECT_TRUE(threw);
}

// ---------------------------------------------------------------- signals

TEST(PidFd, SendSignalTerm) {
  blocked_child c;
  c.fd.send_signal(SIGTERM);
  const exit_status s = bounded_wait(c.fd);
  EXPECT_EQ(s.native(), SIGTERM);
  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal(), SIGTERM);
  EXPECT_FALSE(s.core_dumped());
  EXPECT_EQ(s.to_string(), "killed by signal 15 (SIGTERM)");
}

TEST(PidFd, Kill) {
  blocked_child c;
  error_code ec;
  c.fd.kill(ec);
  EXPECT_FALSE(ec);
  const exit_status s = bounded_wait(c.fd);
  EXPECT_EQ(s.native(), SIGKILL);
  EXPECT_EQ(s.signal(), SIGKILL);
  EXPECT_EQ(s.to_string(), "killed by signal 9 (SIGKILL)");
}

TEST(PidFd, SignalProbeZombieAndReaped) {
  blocked_child c;
  error_code ec;
  c.fd.send_signal(0, ec);  // liveness probe
  EXPECT_FALSE(ec);
  c.finish_and_wait_exit();
  // A zombie still accepts (and ignores) signals.
  c.fd.send_signal(0, ec);
  EXPECT_FALSE(ec);
  c.fd.kill(ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(c.fd.wait(), exit_status::from_wait_status(0));
  // Reaped: gone.
  c.fd.send_signal(0, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  c.fd.send_signal(SIGTERM, signal_scope::pidfd_default, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  c.fd.kill(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  expect_throws_code([&] { c.fd.kill(); }, sys_errc::no_such_process);
  expect_throws_code([&] { c.fd.send_signal(SIGTERM); }, sys_errc::no_such_process);
}

TEST(PidFd, SendSignalInvalidSignal) {
  blocked_child c;
  error_code ec;
  c.fd.send_signal(1000, ec);
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  expect_throws_code([&] { c.fd.send_signal(-1); }, sys_errc::invalid_argument);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(PidFd, QueueSignal) {
  pipe_fds out = make_pipe();
  pid_fd p = start_child({"sigwait", "10", "3", "exit", "5"}, {{3, out.write.get()}});
  out.write.reset();
  ASSERT_EQ(read_line(out.read.get()), "R");
  union sigval v {};
  v.sival_int = 424242;
  p.queue_signal(SIGUSR1, v);
  EXPECT_EQ(read_line(out.read.get()), "signo=10 code=-1 pid=" + std::to_string(::getpid()) +
                                           " uid=" + std::to_string(::getuid()) +
                                           " value=424242");
  expect_exit_code(p, 5);
  error_code ec;
  p.queue_signal(SIGUSR1, v, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  expect_throws_code([&] { p.queue_signal(SIGUSR1, v); }, sys_errc::no_such_process);
}

TEST(PidFd, QueueSignalErrorCodeForm) {
  pipe_fds out = make_pipe();
  pid_fd p = start_child({"sigwait", "12", "3"}, {{3, out.write.get()}});
  out.write.reset();
  ASSERT_EQ(read_line(out.read.get()), "R");
  union sigval v {};
  v.sival_int = -7;
  error_code ec;
  p.queue_signal(SIGUSR2, v, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(read_line(out.read.get()), "signo=12 code=-1 pid=" + std::to_string(::getpid()) +
                                           " uid=" + std::to_string(::getuid()) + " value=-7");
  expect_exit_code(p, 0);
}

// Pending-signal masks of the child, to see exactly where a signal went: blocked signals
// stay pending, per thread (SigPnd) or for the whole process (ShdPnd).
struct pending_masks {
  std::string shared, leader, thread;
};

pending_masks pending_of(pid_t pid, pid_t tid) {
  const std::string base = "/proc/" + std::to_string(pid);
  return {status_file_field(base + "/status", "ShdPnd").at(0),
          status_file_field(base + "/task/" + std::to_string(pid) + "/status", "SigPnd").at(0),
          status_file_field(base + "/task/" + std::to_string(tid) + "/status", "SigPnd").at(0)};
}

constexpr const char* no_signal = "0000000000000000";
constexpr const char* sigusr1_bit = "0000000000000200";

TEST(PidFd, SignalScopes) {
  struct scope_case {
    const char* name;
    bool thread_pidfd;  // signal through a pidfd of the second thread
    signal_scope scope;
    bool group_leader;  // the child leads its own process group
    // Where SIGUSR1 must end up: 's' shared, 'l' leader thread, 't' second thread,
    // 'e' no_such_process.
    char where;
  };
  const scope_case cases[] = {
      {"process default", false, signal_scope::pidfd_default, false, 's'},
      {"process thread", false, signal_scope::thread, false, 'l'},
      {"process thread_group", false, signal_scope::thread_group, false, 's'},
      {"thread default", true, signal_scope::pidfd_default, false, 't'},
      {"thread thread", true, signal_scope::thread, false, 't'},
      {"thread thread_group", true, signal_scope::thread_group, false, 's'},
      {"process_group, not a leader", false, signal_scope::process_group, false, 'e'},
      {"process_group, leader", false, signal_scope::process_group, true, 's'},
  };
  for (const scope_case& k : cases) {
    SCOPED_TRACE(k.name);
    pipe_fds tid_out = make_pipe();
    std::vector<std::string> before{"block", "10"};
    if (k.group_leader) before.emplace_back("setpgid");
    before.insert(before.end(), {"thread", "5"});
    blocked_child c(before, {"exit", "0"}, {{5, tid_out.write.get()}});
    tid_out.write.reset();
    const pid_t tid = std::stoi(read_line(tid_out.read.get()));
    ASSERT_NE(tid, c.pid);

    error_code ec;
    pid_fd thread_fd;
    if (k.thread_pidfd) {
      thread_fd = pid_fd::open(tid, open_flags::thread, ec);
      if (!features().thread_pidfd) {
        EXPECT_EQ(ec, sys_errc::operation_not_supported);
        continue;
      }
      ASSERT_FALSE(ec) << ec.message();
    }
    const pid_fd& target = k.thread_pidfd ? thread_fd : c.fd;
    target.send_signal(SIGUSR1, k.scope, ec);
    const pending_masks m = pending_of(c.pid, tid);
    if (k.scope != signal_scope::pidfd_default && !features().signal_scope) {
      EXPECT_EQ(ec, sys_errc::operation_not_supported);
      EXPECT_EQ(m.shared, no_signal);
      EXPECT_EQ(m.leader, no_signal);
      EXPECT_EQ(m.thread, no_signal);
    } else if (k.where == 'e') {
      EXPECT_EQ(ec, sys_errc::no_such_process);
      EXPECT_EQ(m.shared, no_signal);
      EXPECT_EQ(m.leader, no_signal);
      EXPECT_EQ(m.thread, no_signal);
    } else {
      EXPECT_FALSE(ec) << ec.message();
      EXPECT_EQ(m.shared, k.where == 's' ? sigusr1_bit : no_signal);
      EXPECT_EQ(m.leader, k.where == 'l' ? sigusr1_bit : no_signal);
      EXPECT_EQ(m.thread, k.where == 't' ? sigusr1_bit : no_signal);
    }
    c.finish();
    expect_exit_code(c.fd, 0);
  }
}

// ---------------------------------------------------------------- wait / try_wait

TEST(PidFd, ExitCodes) {
  for (int code : {0, 1, 255}) {
    SCOPED_TRACE(code);
    pid_fd p = start_child({"exit", std::to_string(code)});
    const exit_status s = bounded_wait(p);
    EXPECT_TRUE(s.exited());
    EXPECT_FALSE(s.signaled());
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(s.native(), code << 8);
    EXPECT_EQ(s.success(), code == 0);
    EXPECT_EQ(s.to_string(), "exited with code " + std::to_string(code));
  }
}

TEST(PidFd, RaisedSigterm) {
  pid_fd p = start_child({"raise", "15"});
  const exit_status s = bounded_wait(p);
  EXPECT_EQ(s.native(), SIGTERM);
  EXPECT_EQ(s.signal(), SIGTERM);
  EXPECT_FALSE(s.exited());
}

TEST(PidFd, SegfaultWithCoreDump) {
  char dir_template[] = "/tmp/asio-pidfd-core-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  std::string pattern;
  {
    std::ifstream in("/proc/sys/kernel/core_pattern");
    std::getline(in, pattern);
  }
  // A plain relative pattern ("core", "core.%p") dumps into the crashing process's cwd.
  const bool dumps_here = !pattern.empty() && pattern[0] != '|' && pattern[0] != '@' &&
                          pattern.find('/') == std::string::npos;

  pid_fd p = start_child({"core-dir", dir, "raise", "11"});
  const exit_status s = bounded_wait(p);

  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    files.push_back(e.path().filename().string());
    std::filesystem::remove(e.path());
  }
  std::filesystem::remove(dir);

  EXPECT_TRUE(s.signaled());
  EXPECT_EQ(s.signal(), SIGSEGV);
  if (dumps_here) {
    EXPECT_EQ(files.size(), 1u);
    EXPECT_EQ(files.empty() ? std::string() : files[0].substr(0, 4), "core");
    EXPECT_EQ(s.native(), 0x8b);
    EXPECT_TRUE(s.core_dumped());
    EXPECT_EQ(s.to_string(), "killed by signal 11 (SIGSEGV), core dumped");
  } else {
    // A pipe or socket handler decides; the status still names the signal.
    EXPECT_EQ(s.native() & 0x7f, SIGSEGV);
    EXPECT_EQ(files.size(), 0u);
  }
}

TEST(PidFd, WaitTwiceReturnsTheSameStatus) {
  pid_fd p = start_child({"exit", "3"});
  ASSERT_TRUE(wait_readable(p.native_handle()));
  error_code ec;
  const exit_status first = p.wait(ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(first, exit_status::from_wait_status(0x300));
  const exit_status second = p.wait(ec);
  EXPECT_FALSE(ec) << ec.message();  // not ECHILD
  EXPECT_EQ(second, first);
  EXPECT_EQ(p.wait(), first);
  EXPECT_EQ(p.try_wait(), first);
  EXPECT_EQ(p.try_wait(ec), first);
  EXPECT_FALSE(ec);
  EXPECT_EQ(p.cached_status(), first);
  EXPECT_TRUE(p.has_exited());
}

TEST(PidFd, TryWaitBeforeAndAfterExit) {
  blocked_child c({}, {"exit", "9"});
  error_code ec;
  EXPECT_FALSE(c.fd.has_exited());
  EXPECT_EQ(c.fd.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec);
  EXPECT_EQ(c.fd.try_wait(), std::nullopt);
  EXPECT_EQ(c.fd.cached_status(), std::nullopt);
  c.finish_and_wait_exit();
  // has_exited() neither blocks nor reaps: the child is still a zombie.
  EXPECT_TRUE(c.fd.has_exited());
  EXPECT_EQ(proc_state(c.pid), 'Z');
  EXPECT_EQ(c.fd.cached_status(), std::nullopt);
  const std::optional<exit_status> s = c.fd.try_wait(ec);
  EXPECT_FALSE(ec);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(*s, exit_status::from_wait_status(0x900));
  // Reaped now (the hygiene check would see a zombie otherwise); cached for later calls.
  EXPECT_EQ(c.fd.cached_status(), s);
  EXPECT_EQ(c.fd.try_wait(), s);
  EXPECT_EQ(c.fd.wait(), *s);
}

TEST(PidFd, ConcurrentWaitersGetTheSameStatus) {
  expect_concurrent_waiters_agree();
}

TEST(PidFd, WaitAfterSomeoneElseReaped) {
  blocked_child c({}, {"exit", "11"});
  pid_fd other = pid_fd::open(c.pid);
  c.finish();
  EXPECT_EQ(bounded_wait(other), exit_status::from_wait_status(0xb00));
  // waitid on c.fd now says ECHILD: the status comes from PIDFD_INFO_EXIT, if any.
  error_code ec;
  const std::optional<exit_status> t = c.fd.try_wait(ec);
  const exit_status s = c.fd.wait(ec);
  if (features().info_exit) {
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(t, exit_status::from_wait_status(0xb00));
    EXPECT_EQ(s, exit_status::from_wait_status(0xb00));
    EXPECT_EQ(c.fd.cached_status(), s);
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
    EXPECT_EQ(c.fd.cached_status(), std::nullopt);
  }
}

// A grandchild: our child's child. Its exit status reaches us only through
// PIDFD_INFO_EXIT, once its parent has reaped it.
TEST(PidFd, NonChildExitStatus) {
  held_grandchild gc(42);
  const pid_t gpid = gc.pid;
  pid_fd g = pid_fd::open(gpid);
  EXPECT_EQ(g.pid(), gpid);
  EXPECT_EQ(g.ppid(), gc.middle.pid());

  error_code ec;
  EXPECT_EQ(g.try_wait(ec), std::nullopt);  // running
  EXPECT_FALSE(ec) << ec.message();
  gc.let_exit();
  ASSERT_TRUE(wait_readable(g.native_handle()));
  EXPECT_TRUE(g.has_exited());
  // A zombie that is not ours: nothing to report until its parent reaps it (and without
  // PIDFD_INFO_EXIT nothing ever will be, which the library says at once).
  EXPECT_EQ(proc_state(gpid), 'Z');
  EXPECT_EQ(g.try_wait(ec), std::nullopt);
  if (features().info_exit) {
    EXPECT_FALSE(ec) << ec.message();
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  }
  EXPECT_EQ(g.cached_status(), std::nullopt);

  gc.let_reap();  // the middle process reaps it and exits 0
  const exit_status s = g.wait(ec);
  if (features().info_exit) {
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(s, exit_status::from_wait_status(0x2a00));
    EXPECT_EQ(g.try_wait(), exit_status::from_wait_status(0x2a00));
    EXPECT_EQ(g.cached_status(), exit_status::from_wait_status(0x2a00));
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
    expect_throws_code([&] { (void)g.wait(); }, pidfd::errc::status_unavailable);
  }
  expect_exit_code(gc.middle, 0);
}

// A blocking wait() of a process that is not our child, made while it still runs: it
// sleeps until the process is reaped by its parent (or, without PIDFD_INFO_EXIT, has
// exited, when no status can be had), then answers.
TEST(PidFd, BlockingWaitOfARunningNonChild) {
  held_grandchild gc(42);
  pid_fd g = pid_fd::open(gc.pid);
  error_code ec;
  exit_status s;
  {
    releaser let_go([&] {
      gc.let_exit();
      gc.let_reap();
    });
    s = g.wait(ec);
    EXPECT_TRUE(let_go.saw_blocked());
  }
  if (features().info_exit) {
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(s, exit_status::from_wait_status(0x2a00));
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  }
  expect_exit_code(gc.middle, 0);
}

TEST(PidFd, NonChildTryWaitAfterReap) {
  pipe_fds out = make_pipe(), go = make_pipe();
  pid_fd middle = start_child({"fork-rest", "3", "wait-byte", "4", "raise", "9"},
                              {{3, out.write.get()}, {4, go.read.get()}});
  out.write.reset();
  go.read.reset();
  const pid_t gpid = std::stoi(read_line(out.read.get()));
  pid_fd g = pid_fd::open(gpid);
  write_byte(go.write.get());
  // The middle process reaps the grandchild, then exits.
  expect_exit_code(middle, 0);
  error_code ec;
  const std::optional<exit_status> s = g.try_wait(ec);
  if (features().info_exit) {
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(s, exit_status::from_wait_status(SIGKILL));
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  }
  expect_queries_after_reap(g, gpid);
}

// ---------------------------------------------------------------- queries

TEST(PidFd, QueriesOfAChild) {
  blocked_child c;
  EXPECT_EQ(std::stoi(field(c.report, "ppid")), ::getpid());
  expect_queries_match_proc(c.fd, c.pid);
  EXPECT_EQ(c.fd.ppid(), ::getpid());
  pidfd::credentials ours{};
  ::getresuid(&ours.ruid, &ours.euid, &ours.suid);
  ::getresgid(&ours.rgid, &ours.egid, &ours.sgid);
  ours.fsuid = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
  ours.fsgid = static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1)));
  EXPECT_EQ(c.fd.creds(), ours);
  EXPECT_EQ(c.fd.cgroup_id(), pid_fd::self().cgroup_id());
  c.finish();
  expect_exit_code(c.fd, 0);
  expect_queries_after_reap(c.fd, c.pid);
}

TEST(PidFd, CredsOfSelf) {
  pid_fd p = pid_fd::self();
  const pidfd::credentials c = p.creds();
  uid_t r, e, s;
  ::getresuid(&r, &e, &s);
  EXPECT_EQ(c.ruid, r);
  EXPECT_EQ(c.euid, e);
  EXPECT_EQ(c.suid, s);
  EXPECT_EQ(c.fsuid, static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))));
  gid_t rg, eg, sg;
  ::getresgid(&rg, &eg, &sg);
  EXPECT_EQ(c.rgid, rg);
  EXPECT_EQ(c.egid, eg);
  EXPECT_EQ(c.sgid, sg);
  EXPECT_EQ(c.fsgid, static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))));
  EXPECT_EQ(c.ruid, ::getuid());
  EXPECT_EQ(c.euid, ::geteuid());
}

TEST(PidFd, CredsOfAChildThatDroppedPrivileges) {
  ASSERT_EQ(::geteuid(), 0u) << "the suite runs as root";
  blocked_child c({"setuid", "65534"});
  EXPECT_EQ(field(c.report, "uid"), "65534");
  const pidfd::credentials want{65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534};
  EXPECT_EQ(c.fd.creds(), want);
  EXPECT_EQ(c.fd.info().creds, want);
  EXPECT_NE(c.fd.creds(), pid_fd::self().creds());
  expect_queries_match_proc(c.fd, c.pid);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(PidFd, CgroupIdOfSelf) {
  pid_fd p = pid_fd::self();
  EXPECT_EQ(p.cgroup_id(), proc_cgroup_id(::getpid()));
  EXPECT_EQ(p.info().cgroup_id, proc_cgroup_id(::getpid()));
}

TEST(PidFd, CgroupIdInAnotherCgroup) { expect_cgroup_id_in_new_cgroup(); }

TEST(PidFd, Id) {
  pid_fd a = pid_fd::self();
  pid_fd b = pid_fd::self();
  blocked_child c;
  error_code ec;
  const std::uint64_t ia = a.id(ec);
  if (!features().pidfs) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    expect_throws_code([&] { (void)c.fd.id(); }, sys_errc::operation_not_supported);
    c.finish();
    expect_exit_code(c.fd, 0);
    return;
  }
  EXPECT_FALSE(ec);
  EXPECT_EQ(ia, fd_inode(a.native_handle()));
  EXPECT_EQ(b.id(), ia);  // two pidfds of one process
  EXPECT_EQ(a.dup().id(), ia);
  const std::uint64_t ic = c.fd.id();
  EXPECT_NE(ic, ia);  // two processes
  EXPECT_EQ(pid_fd::open(c.pid).id(), ic);
  EXPECT_EQ(ic, fd_inode(c.fd.native_handle()));
  c.finish();
  expect_exit_code(c.fd, 0);
  // The id stays valid (and unique) after the reap.
  EXPECT_EQ(c.fd.id(), ic);
}

TEST(PidFd, OpenById) {
  blocked_child c;
  error_code ec;
  if (!features().file_handles) {
    pid_fd q = pid_fd::open_by_id(features().pidfs ? c.fd.id() : 2, ec);
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    EXPECT_FALSE(q.is_open());
    c.finish();
    expect_exit_code(c.fd, 0);
    return;
  }
  const std::uint64_t id = c.fd.id();
  pid_fd q = pid_fd::open_by_id(id, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(q.id(), id);
  EXPECT_EQ(q.pid(), c.pid);
  EXPECT_EQ(::fcntl(q.native_handle(), F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(pid_fd::open_by_id(id).pid(), c.pid);
  // It really is the same process: signal through it.
  q.send_signal(SIGTERM);
  EXPECT_EQ(bounded_wait(c.fd), exit_status::from_wait_status(SIGTERM));
  // Reaped: the id names nothing any more.
  pid_fd r = pid_fd::open_by_id(id, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  EXPECT_FALSE(r.is_open());
  expect_throws_code([&] { (void)pid_fd::open_by_id(id); }, sys_errc::no_such_process);
  // An id that was never handed out.
  (void)pid_fd::open_by_id(std::uint64_t{1} << 62, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}

// ---------------------------------------------------------------- namespaces

TEST(PidFd, NamespacesOfSelf) {
  pid_fd p = pid_fd::self();
  expect_namespaces_match_proc(p, ::getpid());
}

TEST(PidFd, NamespacesOfAChildInNewNamespaces) {
  blocked_child c({"unshare-all", "asio-pidfd-ns"});
  expect_namespaces_match_proc(c.fd, c.pid);
  // The four it unshared differ from ours; the others are shared.
  for (const auto& [type, name] : namespace_names) {
    SCOPED_TRACE(name);
    const std::string n = name;
    const bool unshared = n == "uts" || n == "ipc" || n == "net" || n == "mnt";
    EXPECT_EQ(fd_inode(c.fd.get_namespace(type).get()) != proc_ns_inode(::getpid(), name),
              unshared);
  }
  c.finish();
  expect_exit_code(c.fd, 0);
  expect_queries_after_reap(c.fd, c.pid);
  expect_throws_code([&] { (void)c.fd.get_namespace(pidfd::namespace_type::uts); },
                     sys_errc::no_such_process);
}

std::string nodename() {
  utsname u{};
  ::uname(&u);
  return u.nodename;
}

TEST(PidFd, SetNamespaceUts) {
  blocked_child c({"unshare-uts", "asio-pidfd-uts"});
  const std::string ours = nodename();
  ASSERT_NE(ours, "asio-pidfd-uts");
  std::string seen_before, seen_after;
  error_code ec;
  // setns changes only the calling thread: do it in a thread of its own.
  std::thread t([&] {
    seen_before = nodename();
    c.fd.set_namespace(CLONE_NEWUTS, ec);
    seen_after = nodename();
  });
  t.join();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(seen_before, ours);
  EXPECT_EQ(seen_after, "asio-pidfd-uts");
  EXPECT_EQ(nodename(), ours);

  // The throwing form, and an empty mask.
  std::string seen_throwing;
  std::thread t2([&] {
    c.fd.set_namespace(CLONE_NEWUTS);
    seen_throwing = nodename();
  });
  t2.join();
  EXPECT_EQ(seen_throwing, "asio-pidfd-uts");
  c.fd.set_namespace(0, ec);
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  EXPECT_EQ(nodename(), ours);

  c.finish();
  expect_exit_code(c.fd, 0);
  c.fd.set_namespace(CLONE_NEWUTS, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  expect_throws_code([&] { c.fd.set_namespace(CLONE_NEWUTS); }, sys_errc::no_such_process);
  EXPECT_EQ(nodename(), ours);
}

// ---------------------------------------------------------------- get_remote_fd

TEST(PidFd, GetRemoteFd) {
  char path_template[] = "/tmp/asio-pidfd-remote-XXXXXX";
  const int tmp = ::mkstemp(path_template);
  ASSERT_GE(tmp, 0);
  const std::string path = path_template;
  const std::string content = "the child's file\n";
  ASSERT_EQ(::write(tmp, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(tmp);

  blocked_child c({"open-file", path, "7"});
  error_code ec;
  pidfd::unique_fd fd = c.fd.get_remote_fd(7, ec);
  if (!features().getfd) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    EXPECT_FALSE(fd.is_open());
  } else {
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(fd.is_open());
    EXPECT_EQ(fd_inode(fd.get()), inode_of(path));
    EXPECT_EQ(::fcntl(fd.get(), F_GETFD), FD_CLOEXEC);
    char buf[64] = {};
    EXPECT_EQ(::pread(fd.get(), buf, sizeof buf, 0), static_cast<ssize_t>(content.size()));
    EXPECT_EQ(std::string(buf), content);
    // Not open in the child.
    (void)c.fd.get_remote_fd(99, ec);
    EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
    expect_throws_code([&] { (void)c.fd.get_remote_fd(99); }, sys_errc::bad_file_descriptor);
    EXPECT_EQ(fd_inode(c.fd.get_remote_fd(7).get()), inode_of(path));
  }
  c.finish();
  expect_exit_code(c.fd, 0);
  ::unlink(path.c_str());
  (void)c.fd.get_remote_fd(7, ec);
  EXPECT_EQ(ec, features().getfd ? sys_errc::no_such_process : sys_errc::operation_not_supported);
}

// ---------------------------------------------------------------- release_memory

TEST(PidFd, ReleaseMemoryAfterKill) {
  blocked_child c;
  error_code ec;
  // A live process is not dying.
  c.fd.release_memory(ec);
  if (!features().mrelease) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    return;
  }
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  expect_throws_code([&] { c.fd.release_memory(); }, sys_errc::invalid_argument);

  // process_mrelease only works between the SIGKILL and the moment the dying process drops
  // its memory, which on an idle CPU can be microseconds. Hold the child there: as its
  // tracer with PTRACE_O_TRACEEXIT it stops in exit, before releasing its memory.
  ASSERT_EQ(::ptrace(PTRACE_SEIZE, c.pid, nullptr, PTRACE_O_TRACEEXIT), 0) << errno_text();
  c.fd.kill();
  int st = 0;
  const auto deadline = std::chrono::steady_clock::now() + wait_bound;
  pid_t w = 0;
  while ((w = ::waitpid(c.pid, &st, __WALL | WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline)
    ::sched_yield();
  ASSERT_EQ(w, c.pid);
  ASSERT_TRUE(WIFSTOPPED(st));
  ASSERT_EQ(st >> 8, SIGTRAP | (PTRACE_EVENT_EXIT << 8));
  EXPECT_FALSE(c.fd.has_exited());
  c.fd.release_memory(ec);
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_EQ(::ptrace(PTRACE_CONT, c.pid, nullptr, nullptr), 0);
  EXPECT_EQ(bounded_wait(c.fd), exit_status::from_wait_status(SIGKILL));
  c.fd.release_memory(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}

TEST(PidFd, ReleaseMemoryOfAZombie) {
  blocked_child c;
  c.finish_and_wait_exit();
  error_code ec;
  c.fd.release_memory(ec);
  EXPECT_EQ(ec, features().mrelease ? sys_errc::no_such_process
                                    : sys_errc::operation_not_supported);
  expect_exit_code(c.fd, 0);
}

// ---------------------------------------------------------------- proc_dir / access_proc

std::string read_file_at(int dirfd, const char* name) {
  const int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<error>";
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n < 0 ? "<error>" : std::string(buf, static_cast<std::size_t>(n));
}

TEST(PidFd, ProcDir) {
  blocked_child c;
  error_code ec;
  pidfd::unique_fd dir = c.fd.proc_dir(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(fd_inode(dir.get()), inode_of("/proc/" + std::to_string(c.pid)));
  EXPECT_EQ(::fcntl(dir.get(), F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(read_file_at(dir.get(), "comm"), "asio-pidfd-test\n");
  EXPECT_EQ(fd_inode(c.fd.proc_dir().get()), fd_inode(dir.get()));
  c.finish();
  expect_exit_code(c.fd, 0);
  pidfd::unique_fd gone = c.fd.proc_dir(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  EXPECT_FALSE(gone.is_open());
  expect_throws_code([&] { (void)c.fd.proc_dir(); }, sys_errc::no_such_process);
}

std::string read_proc(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

TEST(PidFd, AccessProcLive) {
  blocked_child c;
  // f(pid), returning a value.
  const std::string comm = c.fd.access_proc([](pid_t pid) { return read_proc(pid, "comm"); });
  EXPECT_EQ(comm, "asio-pidfd-test\n");
  // f(), returning void; ec form.
  int calls = 0;
  error_code ec;
  c.fd.access_proc([&] { ++calls; }, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(calls, 1);
  pid_t seen = 0;
  c.fd.access_proc([&](pid_t pid) { seen = pid; });
  EXPECT_EQ(seen, c.pid);
  const int v = c.fd.access_proc([](pid_t pid) { return static_cast<int>(pid); }, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(v, c.pid);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(PidFd, AccessProcAfterReap) {
  blocked_child c;
  c.finish();
  expect_exit_code(c.fd, 0);
  error_code ec;
  const std::string s = c.fd.access_proc([](pid_t pid) { return read_proc(pid, "comm"); }, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  expect_throws_code([&] { (void)c.fd.access_proc([](pid_t) { return 1; }); },
                     sys_errc::no_such_process);
  expect_throws_code([&] { c.fd.access_proc([] {}); }, sys_errc::no_such_process);
}

TEST(PidFd, AccessProcReapedDuringTheCall) {
  // Whatever f read must be discarded if the process was reaped while f ran: the pid may
  // already name another process.
  blocked_child c;
  pid_fd other = pid_fd::open(c.pid);
  error_code ec;
  int calls = 0;
  const std::string s = c.fd.access_proc(
      [&](pid_t pid) {
        ++calls;
        std::string comm = read_proc(pid, "comm");
        c.finish();
        (void)bounded_wait(other);
        return comm;
      },
      ec);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  EXPECT_EQ(other.cached_status(), exit_status::from_wait_status(0));
}

}  // namespace

namespace {

// ---------------------------------------------------------------- pid namespaces

// Seen from inside a new pid namespace (without its own /proc mount, as `unshare -pf`
// leaves it): our own pid is 1 and our parent is outside (ppid 0); a pidfd of a process
// outside the namespace answers no_such_process for what GET_INFO cannot report (EREMOTE),
// while its namespaces are still readable; and proc_dir() must still be this process's
// own directory, although /proc/<our pid> names another process in this /proc.
TEST(PidFd, InsideANewPidNamespace) {
  pid_fd outer = pid_fd::self();
  pipe_fds out = make_pipe();
  const pid_t middle = ::fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    out.read.reset();
    if (::unshare(CLONE_NEWPID) != 0) ::_exit(120);
    const pid_t g = ::fork();
    if (g < 0) ::_exit(121);
    if (g == 0) {
      auto code = [](const error_code& e) {
        return e == sys_errc::no_such_process ? std::string("ESRCH")
                                              : std::to_string(e.value());
      };
      std::string line;
      error_code ec;
      pid_fd me = pid_fd::self(ec);
      line += "self=" + code(ec);
      line += " pid=" + std::to_string(me.pid(ec)) + " pid_ec=" + code(ec);
      line += " ppid=" + std::to_string(me.ppid(ec)) + " ppid_ec=" + code(ec);
      const pidfd::unique_fd dir = me.proc_dir(ec);
      std::string which = "error";
      if (!ec) which = fd_inode(dir.get()) == inode_of("/proc/self") ? "self" : "other";
      line += " proc_dir=" + which + " proc_dir_ec=" + code(ec);
      // The pid f gets must be the one this /proc knows us by.
      const pid_t seen = me.access_proc([](pid_t p) { return p; }, ec);
      line += " access_pid=" + std::to_string(seen) + " access_ec=" + code(ec);
      char self_link[32] = {};
      (void)!::readlink("/proc/self", self_link, sizeof self_link - 1);
      line += " procfs_pid=" + std::string(self_link);
      (void)outer.info(ec);
      line += " outer_info=" + code(ec);
      (void)outer.ppid(ec);
      line += " outer_ppid=" + code(ec);
      const pidfd::unique_fd ns = outer.get_namespace(pidfd::namespace_type::net, ec);
      line += " outer_ns=" + code(ec);
      line += "\n";
      (void)!::write(out.write.get(), line.data(), line.size());
      ::_exit(0);
    }
    int st = 0;
    while (::waitpid(g, &st, 0) < 0 && errno == EINTR) {
    }
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 122);
  }
  out.write.reset();
  pid_fd m = pid_fd::open(middle);  // our unreaped child: its pid is still its own
  const std::string line = read_line(out.read.get());
  expect_exit_code(m, 0);
  SCOPED_TRACE(line);
  EXPECT_EQ(field(line, "self"), "0");
  // Whatever else differs between kernels, /proc access must reach this very process.
  EXPECT_EQ(field(line, "proc_dir"), "self");
  EXPECT_EQ(field(line, "proc_dir_ec"), "0");
  EXPECT_EQ(field(line, "access_ec"), "0");
  EXPECT_EQ(field(line, "access_pid"), field(line, "procfs_pid"));
  // The namespaces of a process outside ours are readable (the ioctl works; so does
  // /proc/<pid>/ns in a /proc that shows it).
  EXPECT_EQ(field(line, "outer_ns"), "0");
  // Not visible from here (GET_INFO: ESRCH before the EREMOTE change, EREMOTE after;
  // pidfd_send_signal: EINVAL): no_such_process, as the library normalises it.
  // The /proc fallback (no GET_INFO) must give the same answers although this /proc
  // shows another pid namespace's numbers.
  EXPECT_EQ(field(line, "outer_info"), "ESRCH");
  EXPECT_EQ(field(line, "outer_ppid"), "ESRCH");
  // Pids are the caller's: we are 1 here, and our parent is outside (0).
  EXPECT_EQ(field(line, "pid"), "1");
  EXPECT_EQ(field(line, "pid_ec"), "0");
  EXPECT_EQ(field(line, "ppid"), "0");
  EXPECT_EQ(field(line, "ppid_ec"), "0");
}

}  // namespace

namespace {

std::atomic<int> eintr_signals{0};
extern "C" void count_signal(int) { eintr_signals.fetch_add(1); }

// ThreadSanitizer runs a signal's handler only at its next intercepted call; a raw
// waitid system call is none, so under it the handler runs once the wait has returned.
#if defined(__SANITIZE_THREAD__)
constexpr bool handlers_deferred = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool handlers_deferred = true;
#else
constexpr bool handlers_deferred = false;
#endif
#else
constexpr bool handlers_deferred = false;
#endif

// A signal handler installed without SA_RESTART interrupts the blocked wait() with
// EINTR; wait() retries and still returns the status.
TEST(PidFd, WaitRetriesAfterEintr) {
  blocked_child c({}, {"exit", "13"});
  struct sigaction sa {}, old {};
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  ASSERT_EQ(::sigaction(SIGUSR2, &sa, &old), 0);
  eintr_signals = 0;
  const pid_t waiter = gettid_();
  const pid_t self = ::getpid();
  std::atomic<bool> interrupted_while_blocked{false};
  error_code ec;
  exit_status s;
  {
    releaser let_go([&] { c.finish(); }, [&] {
      const auto deadline = std::chrono::steady_clock::now() + wait_bound;
      ::syscall(SYS_tgkill, self, waiter, SIGUSR2);
      // Handled, and back in a blocking call: the wait was retried, not abandoned.
      // (Under ThreadSanitizer the handler runs later: only the return to the wait is seen.)
      interrupted_while_blocked =
          (handlers_deferred || spin_until([] { return eintr_signals.load() == 1; }, deadline)) &&
          spin_until([&] { return in_blocking_wait(waiter); }, deadline);
    });
    s = c.fd.wait(ec);
    EXPECT_TRUE(let_go.saw_blocked());
  }
  ::sigaction(SIGUSR2, &old, nullptr);
  EXPECT_TRUE(interrupted_while_blocked.load());
  EXPECT_EQ(eintr_signals.load(), 1);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(s, exit_status::from_wait_status(0xd00));
}

// Stopping is not exiting: no status, nothing cached, and the process can go on.
TEST(PidFd, StoppedChildHasNotExited) {
  blocked_child c({}, {"exit", "0"});
  c.fd.send_signal(SIGSTOP);
  // Bounded spin until the kernel shows it stopped.
  const auto deadline = std::chrono::steady_clock::now() + wait_bound;
  while (proc_state(c.pid) != 'T' && std::chrono::steady_clock::now() < deadline)
    ::sched_yield();
  ASSERT_EQ(proc_state(c.pid), 'T');
  EXPECT_FALSE(c.fd.has_exited());
  error_code ec;
  EXPECT_EQ(c.fd.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec);
  EXPECT_EQ(c.fd.cached_status(), std::nullopt);
  c.fd.send_signal(SIGCONT);
  c.finish();
  expect_exit_code(c.fd, 0);
}

}  // namespace

namespace {

// The case that crashed tokio: the pidfd is readable (the child is a zombie) but waitid()
// has nothing for us yet, because another process traces the child and sees its exit
// first. try_wait() must say "not yet" (not fail), and wait() must block until the tracer
// lets go, then return the status.
TEST(PidFd, ReadableButNotYetReapable) {
  blocked_child c({}, {"exit", "21"});
  pipe_fds ready = make_pipe(), release = make_pipe();
  pid_fd tracer = start_child({"trace", std::to_string(c.pid), "3", "4"},
                              {{3, ready.write.get()}, {4, release.read.get()}});
  ready.write.reset();
  release.read.reset();
  ASSERT_EQ(read_line(ready.read.get()), "R");

  c.finish_and_wait_exit();  // readable now
  EXPECT_TRUE(c.fd.has_exited());
  error_code ec;
  EXPECT_EQ(c.fd.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(c.fd.cached_status(), std::nullopt);

  releaser let_go([&] { write_byte(release.write.get()); });
  const exit_status s = c.fd.wait(ec);
  EXPECT_TRUE(let_go.saw_blocked());
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(s, exit_status::from_wait_status(0x1500));
  expect_exit_code(tracer, 0);
}

}  // namespace

// ---------------------------------------------------------------- process_madvise

namespace {

// A child that mapped `pages` pages (fd 5 tells where) and blocks until finish().
struct mapped_child {
  pipe_fds mem = make_pipe();
  std::optional<blocked_child> c;
  std::uintptr_t addr = 0;
  std::size_t len = 0;

  explicit mapped_child(int pages) {
    c.emplace(std::vector<std::string>{"map-memory", std::to_string(pages), "5"},
              std::vector<std::string>{"exit", "0"},
              std::vector<std::pair<int, int>>{{5, mem.write.get()}});
    mem.write.reset();
    const std::string line = read_line(mem.read.get());
    addr = static_cast<std::uintptr_t>(std::stoull(field(line, "addr"), nullptr, 16));
    len = std::stoul(field(line, "len"));
  }
  iovec range(std::size_t offset, std::size_t n) const {
    // An address in the child, only passed to the kernel: never dereferenced here.
    return iovec{reinterpret_cast<void*>(addr + offset), n};  // NOLINT(performance-no-int-to-ptr)
  }
};

}  // namespace

TEST(PidFd, MadviseColdAndPageoutOfAChild) {
  mapped_child m(16);
  const std::size_t half = m.len / 2;
  const iovec whole[] = {m.range(0, m.len)};
  const iovec halves[] = {m.range(0, half), m.range(half, m.len - half)};
  error_code ec;
  if (!features().madvise) {
    EXPECT_EQ(m.c->fd.madvise(whole, MADV_COLD, ec), 0u);
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
  } else {
    EXPECT_EQ(m.c->fd.madvise(whole, MADV_COLD, ec), m.len);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(m.c->fd.madvise(halves, MADV_PAGEOUT, ec), m.len);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(m.c->fd.madvise(whole, MADV_WILLNEED), m.len);
    EXPECT_EQ(m.c->fd.madvise(std::span<const iovec>(), MADV_COLD), 0u);
  }
  m.c->finish();
  expect_exit_code(m.c->fd, 0);
}

TEST(PidFd, MadviseErrors) {
  mapped_child m(4);
  const iovec whole[] = {m.range(0, m.len)};
  error_code ec;
  if (!features().madvise) {
    EXPECT_THROW(m.c->fd.madvise(whole, MADV_COLD), pidfd::system_error);
    m.c->finish();
    expect_exit_code(m.c->fd, 0);
    return;
  }
  // Only COLD, PAGEOUT, WILLNEED and COLLAPSE may be given to another process.
  EXPECT_EQ(m.c->fd.madvise(whole, MADV_DONTNEED, ec), 0u);
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  m.c->fd.madvise(whole, 12345, ec);
  EXPECT_EQ(ec, sys_errc::invalid_argument);
  try {
    m.c->fd.madvise(whole, MADV_DONTNEED);
    ADD_FAILURE() << "no exception";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), sys_errc::invalid_argument);
  }
  m.c->finish();
  expect_exit_code(m.c->fd, 0);
  // Reaped: the pidfd names no process any more.
  m.c->fd.madvise(whole, MADV_COLD, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  pid_fd empty;
  empty.madvise(whole, MADV_COLD, ec);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
}

TEST(PidFd, MadviseNeedsCapSysNice) {
  EXPECT_EQ(run_suite_in_child("InChildNoCapSysNice.*", 0), 0);
}

TEST(InChildNoCapSysNice, MadviseIsNotPermitted) {
  drop_effective_capability(CAP_SYS_NICE);
  mapped_child m(4);
  const iovec whole[] = {m.range(0, m.len)};
  error_code ec;
  m.c->fd.madvise(whole, MADV_COLD, ec);
  // Probed without the capability, the kernel's EPERM still shows the call exists.
  EXPECT_EQ(ec, features().madvise ? sys_errc::operation_not_permitted
                                   : sys_errc::operation_not_supported);
  m.c->finish();
  expect_exit_code(m.c->fd, 0);
}

// ---------------------------------------------------------------- pidfs xattrs

TEST(PidFd, XattrsAreSharedByEveryPidfdAndKeptAfterTheReap) {
  blocked_child c;
  const std::string name = "trusted.asio-pidfd.job";
  error_code ec;
  if (!features().xattrs) {
    EXPECT_EQ(c.fd.get_xattr(name, ec), "");
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    c.fd.set_xattr(name, "42", ec);
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    EXPECT_TRUE(c.fd.list_xattrs(ec).empty());
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    c.fd.remove_xattr(name, ec);
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    EXPECT_THROW(c.fd.set_xattr(name, "42"), pidfd::system_error);
    c.finish();
    expect_exit_code(c.fd, 0);
    return;
  }
  // A process without any attribute yet: missing, not an empty value.
  c.fd.get_xattr(name, ec);
  EXPECT_EQ(ec, sys_errc::no_message_available);
  EXPECT_TRUE(c.fd.list_xattrs().empty());

  c.fd.set_xattr(name, "42");
  c.fd.set_xattr("trusted.empty", "");
  const std::string binary("a\0b", 3);
  c.fd.set_xattr("trusted.binary", binary);
  // Another pidfd of the same process, opened independently, sees them.
  pid_fd other = pid_fd::open(c.pid);
  EXPECT_EQ(other.get_xattr(name), "42");
  EXPECT_EQ(other.get_xattr("trusted.empty"), "");
  EXPECT_EQ(other.get_xattr("trusted.binary"), binary);
  std::vector<std::string> names = other.list_xattrs();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"trusted.asio-pidfd.job", "trusted.binary",
                                             "trusted.empty"}));
  other.get_xattr("trusted.missing", ec);
  EXPECT_EQ(ec, sys_errc::no_message_available);
  // pidfs has the trusted.* namespace only.
  c.fd.set_xattr("user.job", "1", ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  other.set_xattr(name, "43");
  EXPECT_EQ(c.fd.get_xattr(name), "43");
  other.remove_xattr("trusted.binary");
  c.fd.get_xattr("trusted.binary", ec);
  EXPECT_EQ(ec, sys_errc::no_message_available);
  c.fd.remove_xattr("trusted.binary", ec);
  EXPECT_EQ(ec, sys_errc::no_message_available);

  // Kept after the exit and the reap, for every pidfd that still names the process.
  c.finish();
  expect_exit_code(c.fd, 0);
  EXPECT_EQ(c.fd.get_xattr(name), "43");
  EXPECT_EQ(other.get_xattr(name), "43");
  EXPECT_EQ(c.fd.list_xattrs().size(), 2u);
  pid_fd empty;
  empty.get_xattr(name, ec);
  EXPECT_EQ(ec, sys_errc::bad_file_descriptor);
}

// The throwing forms throw system_error with the error of the error_code forms: on an
// empty object, EBADF (or EOPNOTSUPP first, where the kernel has no pidfs xattrs).
TEST(PidFd, XattrThrowingFormsThrowTheError) {
  const pid_fd empty;
  const error_code want = features().xattrs ? error_code(EBADF, boost::system::system_category())
                                            : error_code(EOPNOTSUPP, boost::system::system_category());
  auto thrown = [](auto f) -> error_code {
    try {
      f();
    } catch (const pidfd::system_error& e) {
      return e.code();
    }
    return {};
  };
  EXPECT_EQ(thrown([&] { (void)empty.get_xattr("trusted.x"); }), want);
  EXPECT_EQ(thrown([&] { empty.set_xattr("trusted.x", "1"); }), want);
  EXPECT_EQ(thrown([&] { (void)empty.list_xattrs(); }), want);
  EXPECT_EQ(thrown([&] { empty.remove_xattr("trusted.x"); }), want);
}

TEST(PidFd, XattrsNeedCapSysAdmin) {
  EXPECT_EQ(run_suite_in_child("InChildNoCapSysAdmin.*", 0), 0);
}

TEST(InChildNoCapSysAdmin, XattrsAreNotPermitted) {
  blocked_child c;
  const std::string name = "trusted.asio-pidfd.job";
  const bool present = features().xattrs;  // probed while privileged
  error_code ec;
  if (present) c.fd.set_xattr(name, "42");
  drop_effective_capability(CAP_SYS_ADMIN);
  c.fd.set_xattr(name, "43", ec);
  EXPECT_EQ(ec, present ? sys_errc::operation_not_permitted : sys_errc::operation_not_supported);
  c.fd.remove_xattr(name, ec);
  EXPECT_EQ(ec, present ? sys_errc::operation_not_permitted : sys_errc::operation_not_supported);
  // Reading trusted.* without the capability finds nothing, and listing shows nothing.
  c.fd.get_xattr(name, ec);
  EXPECT_EQ(ec, present ? sys_errc::no_message_available : sys_errc::operation_not_supported);
  const std::vector<std::string> names = c.fd.list_xattrs(ec);
  EXPECT_TRUE(names.empty());
  if (present) {
    EXPECT_FALSE(ec) << ec.message();
  }
  c.finish();
  expect_exit_code(c.fd, 0);
}

// ---------------------------------------------------------------- coredump info

TEST(PidFd, CoredumpMaskOfALiveProcess) {
  blocked_child dumpable;
  blocked_child undumpable({"undumpable"});
  const pidfd::process_info a = dumpable.fd.info();
  const pidfd::process_info b = undumpable.fd.info();
  if (features().info_coredump) {
    // Computed from the dumpable state: a dump would belong to the user; none after
    // PR_SET_DUMPABLE 0.
    EXPECT_EQ(a.coredump_mask, pidfd::coredump_as_user);
    EXPECT_EQ(b.coredump_mask, pidfd::coredump_skipped);
  } else {
    EXPECT_EQ(a.coredump_mask, std::nullopt);
    EXPECT_EQ(b.coredump_mask, std::nullopt);
  }
  // 6.19's coredump signal is reported only for a process that dumped.
  EXPECT_EQ(a.coredump_signal, std::nullopt);
  EXPECT_EQ(b.coredump_signal, std::nullopt);
  EXPECT_EQ(a.pid, dumpable.pid);
  dumpable.finish();
  undumpable.finish();
  expect_exit_code(dumpable.fd, 0);
  expect_exit_code(undumpable.fd, 0);
}

// The GET_INFO reply layout of 6.16 to 7.1, and what this kernel fills in it: the 6.19
// bits are checked against the probe, so the same test holds where they exist.
static_assert(offsetof(pidfd::detail::pidfd_info, coredump_mask) == 64);
static_assert(offsetof(pidfd::detail::pidfd_info, coredump_signal) == 68);
static_assert(offsetof(pidfd::detail::pidfd_info, supported_mask) == 72);
static_assert(sizeof(pidfd::detail::pidfd_info) == 88);

TEST(PidFd, GetInfoReplyOfTheNewerBits) {
  pid_fd self = pid_fd::self();
  pidfd::detail::pidfd_info reply{};
  reply.mask = pidfd::detail::pidfd_info_pid | pidfd::detail::pidfd_info_coredump |
               pidfd::detail::pidfd_info_supported_mask |
               pidfd::detail::pidfd_info_coredump_signal;
  const int r = ::ioctl(self.native_handle(), pidfd::detail::pidfd_get_info, &reply);
  if (!features().get_info) {
    // ENOTTY (6.1) or EINVAL (6.12).
    EXPECT_EQ(r, -1);
    EXPECT_TRUE(errno == ENOTTY || errno == EINVAL) << errno_text();
    return;
  }
  ASSERT_EQ(r, 0) << errno_text();
  EXPECT_EQ(static_cast<pid_t>(reply.pid), ::getpid());
  const bool coredump = (reply.mask & pidfd::detail::pidfd_info_coredump) != 0;
  const bool supported = (reply.mask & pidfd::detail::pidfd_info_supported_mask) != 0;
  const bool signal = (reply.mask & pidfd::detail::pidfd_info_coredump_signal) != 0;
  EXPECT_EQ(coredump, features().info_coredump);
  EXPECT_EQ(supported, features().info_supported_mask);
  if (supported) {
    // 6.19+: the kernel lists what it knows, at least what it just filled.
    EXPECT_NE(reply.supported_mask & pidfd::detail::pidfd_info_pid, 0u);
    EXPECT_EQ((reply.supported_mask & pidfd::detail::pidfd_info_coredump_signal) != 0,
              features().info_coredump_signal);
  } else {
    // 6.18 and older: the bits are ignored and the fields left zero.
    EXPECT_EQ(reply.supported_mask, 0u);
    EXPECT_FALSE(features().info_coredump_signal);
    EXPECT_FALSE(signal);
    EXPECT_EQ(reply.coredump_signal, 0u);
  }
  if (coredump) {
    // From our dumpable state: 1 a dump as the user, 2 as root, 0 none.
    const int dumpable = ::prctl(PR_GET_DUMPABLE);
    EXPECT_EQ(reply.coredump_mask, dumpable == 1   ? pidfd::coredump_as_user
                                   : dumpable == 2 ? pidfd::coredump_as_root
                                                   : pidfd::coredump_skipped);
  }
}

TEST(PidFd, DecodingOfAReplyWithEveryField) {
  // What 6.19 sends for a process that dumped core with SIGSEGV; the same bytes as the
  // kernel's struct, so the decoding is the one a 6.19 kernel will exercise.
  pidfd::detail::pidfd_info reply{};
  reply.mask = pidfd::detail::pidfd_info_pid | pidfd::detail::pidfd_info_creds |
               pidfd::detail::pidfd_info_cgroupid | pidfd::detail::pidfd_info_coredump |
               pidfd::detail::pidfd_info_coredump_signal;
  reply.pid = 7;
  reply.tgid = 7;
  reply.ppid = 1;
  reply.ruid = 1000;
  reply.euid = 1001;
  reply.suid = 1002;
  reply.fsuid = 1003;
  reply.rgid = 100;
  reply.egid = 101;
  reply.sgid = 102;
  reply.fsgid = 103;
  reply.cgroupid = 99;
  reply.coredump_mask = pidfd::coredump_dumped | pidfd::coredump_as_user;
  reply.coredump_signal = SIGSEGV;
  const pidfd::process_info i = pidfd::detail::decode_process_info(reply);
  EXPECT_EQ(i.pid, 7);
  EXPECT_EQ(i.ppid, 1);
  EXPECT_EQ(i.creds, (pidfd::credentials{1000, 1001, 1002, 1003, 100, 101, 102, 103}));
  EXPECT_EQ(i.cgroup_id, 99u);
  EXPECT_EQ(i.coredump_mask, 5u);
  EXPECT_EQ(i.coredump_signal, SIGSEGV);
  // Without their bits the fields are absent, whatever the bytes say (a kernel that
  // does not know them leaves them zero; the mask is what counts).
  reply.mask &= ~(pidfd::detail::pidfd_info_coredump | pidfd::detail::pidfd_info_coredump_signal);
  const pidfd::process_info j = pidfd::detail::decode_process_info(reply);
  EXPECT_EQ(j.coredump_mask, std::nullopt);
  EXPECT_EQ(j.coredump_signal, std::nullopt);
  // The request asks for the coredump bits exactly when the kernel has them.
  const std::uint64_t request = pidfd::detail::process_info_request();
  EXPECT_EQ((request & pidfd::detail::pidfd_info_coredump) != 0, features().info_coredump);
  EXPECT_EQ((request & pidfd::detail::pidfd_info_coredump_signal) != 0,
            features().info_coredump_signal);
}

// ---------------------------------------------------------------- cgroup path

TEST(PidFd, CgroupPath) {
  EXPECT_EQ(pid_fd::self().cgroup_path(), proc_cgroup_path(::getpid()));
  pipe_fds out = make_pipe();
  blocked_child c({"cgroup", "5"}, {"exit", "0"}, {{5, out.write.get()}});
  out.write.reset();
  EXPECT_EQ(c.fd.cgroup_path(), read_line(out.read.get()));
  c.finish_and_wait_exit();
  // A zombie still has its cgroup; once reaped, nothing.
  EXPECT_EQ(c.fd.cgroup_path(), proc_cgroup_path(::getpid()));
  expect_exit_code(c.fd, 0);
  error_code ec;
  EXPECT_EQ(c.fd.cgroup_path(ec), "");
  EXPECT_EQ(ec, sys_errc::no_such_process);
  EXPECT_THROW(c.fd.cgroup_path(), pidfd::system_error);
}

// ---------------------------------------------------------------- process group, leader gone

TEST(PidFd, ProcessGroupOutlivesItsReapedLeader) {
  EXPECT_EQ(run_suite_in_child("InChildProcessGroup.*", 0), 0);
}

TEST(InChildProcessGroup, SignalReachesTheGroupAfterTheLeaderWasReaped) {
  // Orphans come to us (not late to PID 1), so the member can be waited for.
  become_subreaper();
  pipe_fds out = make_pipe();
  // The leader makes its own group, starts a member that waits for a signal, and exits.
  pid_fd leader =
      start_child({"setpgid", "fork-detach", "3", "pause"}, {{3, out.write.get()}});
  out.write.reset();
  const pid_t member_pid = std::stoi(read_line(out.read.get()));
  EXPECT_EQ(bounded_wait(leader).code(), 0);
  // The member is ours now and cannot exit before we signal it: its pid is its own.
  pid_fd member = pid_fd::open(member_pid);
  EXPECT_EQ(::getpgid(member_pid), leader.pid());

  error_code ec;
  leader.send_signal(0, ec);  // the leader itself is gone
  EXPECT_EQ(ec, sys_errc::no_such_process);
  leader.send_signal(SIGTERM, signal_scope::process_group, ec);
  if (!features().signal_scope) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    member.kill();
    EXPECT_EQ(bounded_wait(member).signal(), SIGKILL);
    return;
  }
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(bounded_wait(member).signal(), SIGTERM);
  // The group is empty now.
  leader.send_signal(SIGTERM, signal_scope::process_group, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}
