// Tests of <pidfd/async_pidfd.hpp> that hold whatever Asio backend runs them: CI builds the
// suite with the default (epoll) and with io_uring as the only backend.
//  - A wait (async_wait, async_wait_for, async_terminate) whose object is destroyed, closed
//    or released ends at once with operation_aborted and never touches the object again,
//    even when a new pidfd is registered on the same descriptor number before the
//    io_context runs (Boost 1.81's io_uring service, left to itself, would resume the old
//    wait on the new pidfd and end it only when that process exits).
//  - A descriptor-wait error that is a reactor artefact (io_uring delivering the result of
//    an internal cancel request to an unrelated wait) never reaches the handler: a long
//    run of timed-out async_wait_for() reports timed_out every time.
//  - A stopped io_context with waits pending, then destroyed: nothing leaks, nothing is
//    left unreaped once the processes are waited synchronously.
#include "io_fixture.hpp"
#include "support.hpp"

#include <pidfd/async_pidfd.hpp>

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::async_pidfd;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd_test::make_pipe;
using pidfd_test::start_child;

using pidfd_test::exited;

// The count of a stress loop, divided on emulated kernels (ASIO_PIDFD_TEST_LOOP_DIVISOR).
int loop_count(int full) {
  return std::max(1, full / pidfd_test::loop_divisor());
}

struct wait_result {
  bool done = false;
  error_code ec;
  exit_status status;
};

// A helper child blocked until a byte arrives on its pipe; then it exits 0. With
// ignore_term it ignores SIGTERM (and has done so when this returns).
struct blocked {
  pidfd_test::pipe_fds pipe;
  pidfd::pid_fd fd;
  void release() { pidfd_test::write_byte(pipe.write.get()); }
};
blocked start_blocked(bool ignore_term = false) {
  auto pipe = make_pipe();
  if (!ignore_term) {
    pidfd::pid_fd fd = start_child({"wait-byte", "3"}, {{3, pipe.read.get()}});
    pipe.read.reset();
    return blocked{std::move(pipe), std::move(fd)};
  }
  auto ready = make_pipe();
  pidfd::pid_fd fd = start_child({"ignore", "15", "ready", "4", "wait-byte", "3"},
                                 {{3, pipe.read.get()}, {4, ready.write.get()}});
  pipe.read.reset();
  ready.write.reset();
  EXPECT_EQ(pidfd_test::read_line(ready.read.get()), "R");
  return blocked{std::move(pipe), std::move(fd)};
}

// A new pidfd for the same process as p, at descriptor number n (which must be free).
pidfd::pid_fd pidfd_at(const pidfd::pid_fd& p, int n) {
  const int fd = ::fcntl(p.native_handle(), F_DUPFD_CLOEXEC, n);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "F_DUPFD_CLOEXEC");
  return pidfd::pid_fd(fd, p.pid());
}

class AsyncPidfdBackend : public pidfd_test::io_fixture {
protected:
  static void start_wait(async_pidfd& p, wait_result& r) {
    p.async_wait([&r](error_code ec, exit_status s) { r = {true, ec, s}; });
  }
};

// ---------------------------------------------------------------------------------------
// The object is gone (or empty, or holds another process) when the reactor resumes a wait

enum class gone_by { destroy, close, release };
// The pending operation: async_wait; async_wait_for; async_terminate of a process that
// ignores SIGTERM (which must not be sent SIGKILL: the object that started it is gone).
// Their timers are far longer than any bound of the test: the operation must end because
// its object is gone, never because a timer fired.
enum class pending_op { wait, wait_for, terminate };

class AsyncPidfdGone : public AsyncPidfdBackend,
                       public ::testing::WithParamInterface<std::tuple<gone_by, pending_op>> {};

// Destroy: a new object gets process B at the old number. close(): the same object is
// re-assigned process B at the old number. release(): the released pid_fd (same number,
// process A) is registered with a new object. In every case the old wait must complete
// with operation_aborted while both processes are still blocked on their pipes (under
// ASan, a touch of the destroyed object is reported), and the new wait must get the new
// registration's status once its process is let go.
TEST_P(AsyncPidfdGone, OldWaitAbortsAndNeverTouchesTheObject) {
  const auto [how, op] = GetParam();
  blocked a = start_blocked(op == pending_op::terminate);
  blocked b = start_blocked();
  const int n = a.fd.native_handle();
  // A second handle on A, in its own open file description, to end and reap it later.
  pidfd::pid_fd a_keep = pidfd::pid_fd::open(a.fd.pid());

  auto first = std::make_unique<async_pidfd>(io, std::move(a.fd));
  wait_result old_wait;
  auto record = [&old_wait](error_code ec, exit_status s) { old_wait = {true, ec, s}; };
  switch (op) {
    case pending_op::wait: first->async_wait(record); break;
    case pending_op::wait_for: first->async_wait_for(1h, record); break;
    case pending_op::terminate: first->async_terminate(1h, record); break;
  }
  io.poll();  // the wait is now with the reactor
  EXPECT_FALSE(old_wait.done);

  std::unique_ptr<async_pidfd> second;
  async_pidfd* now = nullptr;  // the object registered on n
  blocked* next = nullptr;     // the process it watches
  blocked* other = nullptr;    // the process nobody watches any more
  switch (how) {
    case gone_by::destroy:
      first.reset();
      second = std::make_unique<async_pidfd>(io, pidfd_at(b.fd, n));
      b.fd.close();
      now = second.get();
      next = &b;
      other = &a;
      break;
    case gone_by::close:
      first->close();
      first->assign(pidfd_at(b.fd, n));
      b.fd.close();
      now = first.get();
      next = &b;
      other = &a;
      break;
    case gone_by::release: {
      pidfd::pid_fd released = first->release();
      ASSERT_EQ(released.native_handle(), n);
      second = std::make_unique<async_pidfd>(io, std::move(released));
      a_keep.close();
      now = second.get();
      next = &a;
      other = &b;
      break;
    }
  }
  ASSERT_EQ(now->native_handle(), n);  // the descriptor number really is reused

  wait_result new_wait;
  start_wait(*now, new_wait);
  // Nothing can end the old operation but the loss of its object: both processes wait for
  // a byte that is written only below.
  ASSERT_TRUE(run_until([&] { return old_wait.done; }, 10s));
  EXPECT_EQ(old_wait.ec, error_code(asio::error::operation_aborted));
  EXPECT_EQ(old_wait.status, exit_status());
  EXPECT_FALSE(new_wait.done);
  EXPECT_FALSE(now->core().has_exited());

  next->release();
  ASSERT_TRUE(run_until([&] { return new_wait.done; }));
  EXPECT_FALSE(new_wait.ec) << new_wait.ec.message();
  EXPECT_EQ(new_wait.status, exited(0));

  // The process nobody watches: end it and reap it.
  other->release();
  EXPECT_EQ(pidfd_test::bounded_wait(other == &a ? a_keep : b.fd), exited(0));
}

INSTANTIATE_TEST_SUITE_P(
    Each, AsyncPidfdGone,
    ::testing::Combine(::testing::Values(gone_by::destroy, gone_by::close, gone_by::release),
                       ::testing::Values(pending_op::wait, pending_op::wait_for,
                                         pending_op::terminate)),
    [](const auto& info) {
      std::string name;
      switch (std::get<0>(info.param)) {
        case gone_by::destroy: name = "Destroy"; break;
        case gone_by::close: name = "Close"; break;
        case gone_by::release: name = "Release"; break;
      }
      switch (std::get<1>(info.param)) {
        case pending_op::wait: return name + "Wait";
        case pending_op::wait_for: return name + "WaitFor";
        case pending_op::terminate: return name + "Terminate";
      }
      return name;
    });

// Per-operation cancellation requested after the object is gone must not reach the
// reactor (whose cancellation handler reads the destroyed object's descriptor, with epoll
// as with io_uring): the wait still completes, with operation_aborted.
TEST_F(AsyncPidfdBackend, CancellationAfterDestructionNeverTouchesTheObject) {
  blocked a = start_blocked();
  pidfd::pid_fd a_keep = pidfd::pid_fd::open(a.fd.pid());
  auto p = std::make_unique<async_pidfd>(io, std::move(a.fd));
  asio::cancellation_signal signal;
  wait_result r;
  p->async_wait(asio::bind_cancellation_slot(
      signal.slot(), [&r](error_code ec, exit_status s) { r = {true, ec, s}; }));
  io.poll();
  EXPECT_FALSE(r.done);
  p.reset();
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::operation_aborted));
  a.release();
  EXPECT_EQ(pidfd_test::bounded_wait(a_keep), exited(0));
}

// ---------------------------------------------------------------------------------------
// Reactor artefacts never reach the handler

// Each timed-out async_wait_for cancels its descriptor wait; under io_uring each
// cancellation is an internal cancel request whose completion Boost 1.81 could deliver to
// another wait (about one in 70,000 waits completed with ENOENT before the fix). Sixteen
// chains of waits on one object, 40,000 waits in all (a few seconds), every one timed_out.
TEST_F(AsyncPidfdBackend, LongRunOfTimedOutWaitsReportsTimedOutEveryTime) {
  blocked c = start_blocked();
  async_pidfd p(io, std::move(c.fd));
  constexpr int chains = 16;
  constexpr int total = 40000;
  int started = 0, finished = 0, timed_out = 0;
  std::vector<std::string> other;
  std::function<void()> next = [&] {
    if (started == total) return;
    ++started;
    p.async_wait_for(200us, [&](error_code ec, exit_status) {
      ++finished;
      if (ec == asio::error::timed_out)
        ++timed_out;
      else if (other.size() < 10)
        other.push_back(ec.message());
      next();
    });
  };
  for (int k = 0; k < chains; ++k) next();
  ASSERT_TRUE(run_until([&] { return finished == total; }, 120s));
  EXPECT_EQ(timed_out, total);
  for (const auto& m : other) ADD_FAILURE() << "a wait completed with: " << m;
  c.release();
  wait_result r;
  start_wait(p, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.status, exited(0));
}

// One chain of timed waits on one object, each run to completion on its own: the shape of a
// caller polling a process with a short timeout. Each round submits several io_uring
// requests (the poll, the cancellation of it, timeouts), so 10,000 rounds go round the
// io_uring submission ring more than once; then the process exits and is waited for.
// Boost 1.81's io_uring service submits its cancel and timeout-removal requests with
// whatever user data the ring slot held before (set to null since Asio 1.27), and uses the
// address of a local timespec as the user data of run_one_for()'s timeout: once the ring
// has gone round, a completion can be taken for a queue at a stale stack address and
// written there. Whether that corrupts a live frame depends on the stack layout; this
// test is the shape that showed it.
TEST_F(AsyncPidfdBackend, ManyTimedWaitsOnOneObjectThenTheExit) {
  blocked c = start_blocked();
  async_pidfd p(io, std::move(c.fd));
  const int rounds = loop_count(10000);
  int timed_out = 0;
  std::vector<std::string> other;
  for (int k = 0; k < rounds; ++k) {
    wait_result r;
    p.async_wait_for(200us, [&r](error_code ec, exit_status s) { r = {true, ec, s}; });
    ASSERT_TRUE(run_until([&] { return r.done; })) << "round " << k;
    if (r.ec == asio::error::timed_out && r.status == exit_status())
      ++timed_out;
    else if (other.size() < 10)
      other.push_back(r.ec.message());
  }
  EXPECT_EQ(timed_out, rounds);
  for (const auto& m : other) ADD_FAILURE() << "a wait completed with: " << m;
  c.release();
  wait_result r;
  start_wait(p, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, exited(0));
}

// ---------------------------------------------------------------------------------------
// A stopped io_context with waits pending

TEST_F(AsyncPidfdBackend, StoppedContextWithWaitsPendingThenDestroyed) {
  std::vector<blocked> children;
  std::vector<pidfd::pid_fd> keep;
  int handlers = 0;
  {
    asio::io_context ctx;
    std::vector<std::unique_ptr<async_pidfd>> objects;
    for (int k = 0; k < 8; ++k) {
      children.push_back(start_blocked());
      keep.push_back(pidfd::pid_fd::open(children.back().fd.pid()));
      objects.push_back(std::make_unique<async_pidfd>(ctx, std::move(children.back().fd)));
      objects.back()->async_wait([&](error_code, exit_status) { ++handlers; });
      objects.back()->async_wait_for(1h, [&](error_code, exit_status) { ++handlers; });
    }
    ctx.poll();
    ctx.stop();
    // Half the processes end while the context is stopped.
    for (int k = 0; k < 4; ++k) children[k].release();
    for (int k = 0; k < 4; ++k) EXPECT_TRUE(pidfd_test::wait_readable(keep[k].native_handle()));
    EXPECT_EQ(ctx.poll(), 0u);  // stopped: nothing runs
    // Objects destroyed first (pending waits aborted, but never run), then the context.
    objects.clear();
  }
  // Destroying the context destroys the pending handlers without calling them.
  EXPECT_EQ(handlers, 0);
  for (int k = 4; k < 8; ++k) children[k].release();
  for (auto& fd : keep) EXPECT_EQ(pidfd_test::bounded_wait(fd), exited(0));
}

}  // namespace
