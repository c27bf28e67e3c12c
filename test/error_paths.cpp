// Error paths the per-header files did not reach (found by the coverage report,
// docs/internals/coverage.md): every pid_fd member on an empty object, assigning an empty
// pid_fd to an async_pidfd, an anonymous-inode fd that is not a pidfd arriving where a pidfd
// is expected, a truncated control message with the sender's pidfd, and the fallbacks for a
// kernel without the 6.9 signal scopes (async_terminate, async_run's group signals). Each
// asserts the exact error, branching on kernel_support() where it depends on the kernel.
#include "core_checks.hpp"
#include "run_until.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace pidfd_test;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd::pid_fd;
using pidfd::signal_scope;

const pidfd::kernel_features& features() { return pidfd::kernel_support(); }

// What a call on an empty pid_fd reports: operation_not_supported when the kernel lacks
// the feature (checked first by those calls), bad_file_descriptor otherwise.
sys_errc empty_error(bool feature) {
  return feature ? sys_errc::bad_file_descriptor : sys_errc::operation_not_supported;
}

TEST(ErrorPathsEmptyPidFd, EveryOperationReportsBadDescriptor) {
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

TEST(ErrorPathsEmptyPidFd, NamespaceTypeOutOfRangeIsInvalidArgument) {
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

TEST(ErrorPathsAsyncPidfd, AssigningAnEmptyPidFdIsRejected) {
  asio::io_context io;
  pidfd::async_pidfd p(io);
  error_code ec;
  p.assign(pid_fd(), ec);
  EXPECT_EQ(ec, error_code(asio::error::bad_descriptor));
  EXPECT_FALSE(p.is_open());
  try {
    p.assign(pid_fd());
    ADD_FAILURE() << "assign of an empty pid_fd did not throw";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), error_code(asio::error::bad_descriptor));
  }
  // The object is still usable afterwards.
  p.assign(start_child({"exit", "9"}), ec);
  ASSERT_FALSE(ec) << ec.message();
  std::optional<std::pair<error_code, exit_status>> r;
  p.async_wait([&](error_code e, exit_status s) { r.emplace(e, s); });
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  EXPECT_FALSE(r->first);
  EXPECT_EQ(r->second, exited(9));
}


class ErrorPathsLocalSocket : public ::testing::Test {
protected:
  asio::io_context io;
  asio::local::stream_protocol::socket a{io}, b{io};
  void SetUp() override { asio::local::connect_pair(a, b); }
};

TEST_F(ErrorPathsLocalSocket, AnonymousInodeThatIsNotAPidfdIsRejectedAndClosed) {
  // An eventfd lives on the anonymous-inode filesystem, as pidfds did before pidfs (6.9):
  // its name, not its filesystem, tells it apart.
  pidfd::unique_fd event(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(event.is_open());
  const std::set<int> before = open_fds();
  pidfd_test::send_raw(a.native_handle(), {event.get()});
  error_code ec;
  pid_fd got = pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, pidfd::errc::not_a_pidfd);
  EXPECT_FALSE(got.is_open());
  EXPECT_EQ(open_fds(), before);  // the received eventfd was closed
}

TEST_F(ErrorPathsLocalSocket, TruncatedControlMessageWithSenderClosesEverything) {
  error_code ec;
  pidfd::enable_sender_pidfd(b, ec);
  if (!features().peer_pidfd) {  // before 6.5
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  // More fds than the receiver has room for: the kernel sets MSG_CTRUNC. The byte is
  // reported, no sender pidfd is returned, and every fd that did arrive is closed.
  auto p = make_pipe();
  const std::set<int> before = open_fds();
  pidfd_test::send_raw(a.native_handle(), std::vector<int>(100, p.write.get()));
  char buf[4];
  pidfd::received_message m = pidfd::receive_with_sender(b, asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::message_size);
  EXPECT_EQ(m.bytes, 1u);
  EXPECT_EQ(buf[0], 'm');  // send_raw's payload byte
  EXPECT_FALSE(m.sender.is_open());
  EXPECT_EQ(open_fds(), before);
  // The socket is still usable, and the next message has its sender.
  pidfd_test::send_raw(a.native_handle(), {p.read.get()});
  m = pidfd::receive_with_sender(b, asio::buffer(buf), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(m.sender.pid(), ::getpid());
  EXPECT_EQ(open_fds(), [&] {
    std::set<int> with = before;
    with.insert(m.sender.native_handle());
    return with;
  }());
}

// --- Without the 6.9 signal scopes (run in a child process with
// ASIO_PIDFD_PRETEND_MISSING=signal_scope): async_terminate with a scope reports
// operation_not_supported, and process.cpp's group tests take their pre-6.9 branches
// (async_run signals a group leader's group with kill(-pgid) instead).

TEST(ErrorPathsFallback, WithoutSignalScopes) {
  EXPECT_EQ(run_suite_in_child("InChildErrorPathsNoScope.*:Process.AsyncTerminateOfAWholeGroup:"
                               "Process.TimeoutSignalsTheWholeGroupWhenTheChildLeadsOne",
                               0, {"ASIO_PIDFD_PRETEND_MISSING=signal_scope"}),
            0);
}

TEST(InChildErrorPathsNoScope, TerminateWithAScopeIsNotSupported) {
  ASSERT_FALSE(features().signal_scope);
  asio::io_context io;
  auto ready = make_pipe();
  pidfd::async_pidfd p(io, start_child({"ready", "3", "pause"}, {{3, ready.write.get()}}));
  ready.write.reset();
  ASSERT_EQ(read_line(ready.read.get()), "R");
  std::optional<std::pair<error_code, exit_status>> r;
  p.async_terminate(std::chrono::seconds(60), signal_scope::thread_group,
                    [&](error_code e, exit_status s) { r.emplace(e, s); });
  EXPECT_FALSE(r.has_value());  // never completed inline
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  EXPECT_EQ(r->first, sys_errc::operation_not_supported);
  EXPECT_EQ(r->second, exit_status());
  // Nothing was sent: the process is still running.
  error_code ec;
  EXPECT_EQ(p.core().try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  p.core().kill();
  EXPECT_EQ(bounded_wait(p.core()), killed(SIGKILL));
}

}  // namespace
