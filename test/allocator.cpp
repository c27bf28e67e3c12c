// The handler's associated allocator: the operations that document that their state is
// allocated with it are run with a counting allocator bound to the handler
// (boost::asio::bind_allocator), which must have been used and left balanced (every
// allocation deallocated) once the io_context has run out of work.
#include "io_fixture.hpp"
#include "support.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/detail/timed_wait_op.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>

#include <gtest/gtest.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::async_pidfd;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd::pid_fd;
using pidfd_test::exited;
using pidfd_test::killed;
using pidfd_test::start_child;
using pidfd_test::wait_bound;

// What went through one tracking_allocator (and its rebound copies).
struct allocation_counts {
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t live_bytes = 0;
};

// A standard allocator that counts what it allocates. Single-threaded: the tests run the
// io_context on their own thread only.
template <class T>
struct tracking_allocator {
  using value_type = T;

  explicit tracking_allocator(allocation_counts& c) noexcept : counts(&c) {}
  template <class U>
  tracking_allocator(const tracking_allocator<U>& other) noexcept : counts(other.counts) {}

  T* allocate(std::size_t n) {
    T* p = std::allocator<T>().allocate(n);
    ++counts->allocations;
    counts->live_bytes += n * sizeof(T);
    return p;
  }
  void deallocate(T* p, std::size_t n) noexcept {
    ++counts->deallocations;
    counts->live_bytes -= n * sizeof(T);
    std::allocator<T>().deallocate(p, n);
  }

  template <class U>
  bool operator==(const tracking_allocator<U>& other) const noexcept {
    return counts == other.counts;
  }

  allocation_counts* counts;
};

// The completion of one operation with a (error_code, exit_status) signature.
struct wait_result {
  std::optional<error_code> ec;
  exit_status status;
};

class HandlerAllocator : public pidfd_test::io_fixture {
protected:
  allocation_counts counts;
  tracking_allocator<void> alloc{counts};

  // A handler, with the tracking allocator bound, that records into r.
  auto recording(wait_result& r) {
    return asio::bind_allocator(alloc, [&r](error_code ec, exit_status s) {
      r.ec = ec;
      r.status = s;
    });
  }

  // Runs until r has completed, then until the context is out of work (so that every
  // intermediate operation has finished), and checks that the allocator was used and
  // that everything it allocated was given back.
  void finish_and_expect_balanced(const wait_result& r) {
    ASSERT_TRUE(run_until([&] { return r.ec.has_value(); }));
    run_for();
    expect_used_and_balanced();
  }

  // Ends a child the test left blocked, and reaps it.
  void kill_and_expect_sigkill(async_pidfd& p) {
    p.core().kill();
    EXPECT_EQ(pidfd_test::bounded_wait(p.core()), killed(SIGKILL));
  }

  void expect_used_and_balanced() {
    EXPECT_GT(counts.allocations, 0u);
    EXPECT_EQ(counts.deallocations, counts.allocations);
    EXPECT_EQ(counts.live_bytes, 0u);
  }

  // A child that reports "R" on a pipe, then blocks until killed; with `ignore_term` it
  // ignores SIGTERM first.
  async_pidfd start_blocked(bool ignore_term = false) {
    pidfd_test::pipe_fds ready = pidfd_test::make_pipe();
    std::vector<std::string> args;
    if (ignore_term) args = {"ignore", "15"};
    args.insert(args.end(), {"ready", "3", "pause"});
    async_pidfd p(io, start_child(args, {{3, ready.write.get()}}));
    ready.write.reset();
    EXPECT_EQ(pidfd_test::read_line(ready.read.get()), "R");
    return p;
  }
};

TEST_F(HandlerAllocator, AsyncWaitOfAnExitingChild) {
  async_pidfd p(io, start_child({"exit", "3"}));
  wait_result r;
  p.async_wait(recording(r));
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, error_code());
  EXPECT_EQ(r.status, exited(3));
}

TEST_F(HandlerAllocator, AsyncWaitCancelledThroughItsSlot) {
  async_pidfd p = start_blocked();
  asio::cancellation_signal signal;
  wait_result r;
  p.async_wait(asio::bind_cancellation_slot(signal.slot(), recording(r)));
  io.poll();
  signal.emit(asio::cancellation_type::terminal);
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, asio::error::operation_aborted);
  kill_and_expect_sigkill(p);
}

TEST_F(HandlerAllocator, AsyncTerminateOfAChildThatIgnoresSigterm) {
  // The grace period passes, SIGKILL follows and a wait reports it.
  async_pidfd p = start_blocked(/*ignore_term=*/true);
  wait_result r;
  p.async_terminate(1ms, recording(r));
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, error_code());
  EXPECT_EQ(r.status, killed(SIGKILL));
}

// async_wait_for and async_terminate are one operation each: its state, the descriptor
// wait and the timer wait, all three allocated with the handler's allocator as soon as the
// operation has started.
TEST_F(HandlerAllocator, AsyncWaitForOfAnExitingChild) {
  async_pidfd p(io, start_child({"exit", "5"}));
  wait_result r;
  p.async_wait_for(wait_bound, recording(r));
  EXPECT_EQ(counts.allocations, 3u);
  EXPECT_EQ(counts.deallocations, 0u);
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, error_code());
  EXPECT_EQ(r.status, exited(5));
}

TEST_F(HandlerAllocator, AsyncWaitForThatTimesOut) {
  async_pidfd p = start_blocked();
  wait_result r;
  p.async_wait_for(1ms, recording(r));
  EXPECT_EQ(counts.allocations, 3u);
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, asio::error::timed_out);
  EXPECT_EQ(r.status, exit_status());
  kill_and_expect_sigkill(p);
}

TEST_F(HandlerAllocator, AsyncWaitForCancelledThroughItsSlot) {
  async_pidfd p = start_blocked();
  asio::cancellation_signal signal;
  wait_result r;
  p.async_wait_for(wait_bound, asio::bind_cancellation_slot(signal.slot(), recording(r)));
  EXPECT_EQ(counts.allocations, 3u);
  io.poll();
  signal.emit(asio::cancellation_type::terminal);
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, asio::error::operation_aborted);
  kill_and_expect_sigkill(p);
}

TEST_F(HandlerAllocator, AsyncTerminateReportingSigterm) {
  async_pidfd p = start_blocked();
  wait_result r;
  p.async_terminate(wait_bound, recording(r));
  EXPECT_EQ(counts.allocations, 3u);
  EXPECT_EQ(counts.deallocations, 0u);
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, error_code());
  EXPECT_EQ(r.status, killed(SIGTERM));
}

TEST_F(HandlerAllocator, AsyncTerminateCancelledThroughItsSlot) {
  // SIGTERM is ignored, so the process outlives the cancelled operation.
  async_pidfd p = start_blocked(/*ignore_term=*/true);
  asio::cancellation_signal signal;
  wait_result r;
  p.async_terminate(wait_bound, asio::bind_cancellation_slot(signal.slot(), recording(r)));
  EXPECT_EQ(counts.allocations, 3u);
  io.poll();
  signal.emit(asio::cancellation_type::total);
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, asio::error::operation_aborted);
  kill_and_expect_sigkill(p);
}

// ---------------------------------------------------------------- local sockets

using local_socket = asio::local::stream_protocol::socket;

class HandlerAllocatorSocket : public HandlerAllocator {
protected:
  local_socket a{io}, b{io};

  void SetUp() override { asio::local::connect_pair(a, b); }
};

TEST_F(HandlerAllocatorSocket, SendAndReceivePidfd) {
  const pid_fd self = pid_fd::self();
  std::optional<error_code> sent, received;
  pid_fd got;
  pidfd::async_receive_pidfd(b, asio::bind_allocator(alloc, [&](error_code ec, pid_fd p) {
                               received = ec;
                               got = std::move(p);
                             }));
  pidfd::async_send_pidfd(a, self,
                          asio::bind_allocator(alloc, [&](error_code ec) { sent = ec; }));
  ASSERT_TRUE(run_until([&] { return sent.has_value() && received.has_value(); }));
  run_for();
  expect_used_and_balanced();
  EXPECT_EQ(*sent, error_code());
  EXPECT_EQ(*received, error_code());
  EXPECT_EQ(got.pid(), ::getpid());
}

TEST_F(HandlerAllocatorSocket, ReceiveWithSender) {
  error_code ec;
  pidfd::enable_sender_pidfd(b, ec);
  if (!pidfd::kernel_support().peer_pidfd) {
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  char buf[8];
  std::optional<error_code> received;
  std::size_t bytes = 0;
  pid_fd sender;
  pidfd::async_receive_with_sender(
      b, asio::buffer(buf), asio::bind_allocator(alloc, [&](error_code e, std::size_t n, pid_fd s) {
        received = e;
        bytes = n;
        sender = std::move(s);
      }));
  asio::write(a, asio::buffer("abc", 3));
  ASSERT_TRUE(run_until([&] { return received.has_value(); }));
  run_for();
  expect_used_and_balanced();
  EXPECT_EQ(*received, error_code());
  EXPECT_EQ(bytes, 3u);
  EXPECT_EQ(sender.pid(), ::getpid());
}

// A result known when the operation starts (a cached status, no pidfd) is posted to the
// I/O executor with the handler's allocator as a preference: an io_context executor takes
// it. (any_io_executor has no allocator property, so there Asio allocates the posted
// handler itself; see the test below.)
using ctx_pidfd = pidfd::basic_async_pidfd<asio::io_context::executor_type>;

TEST_F(HandlerAllocator, AsyncWaitWithTheStatusCachedOnAnIoContextExecutor) {
  ctx_pidfd p(io.get_executor(), start_child({"exit", "4"}));
  EXPECT_EQ(pidfd_test::bounded_wait(p.core()), exited(4));
  wait_result r;
  p.async_wait(recording(r));
  finish_and_expect_balanced(r);
  EXPECT_EQ(*r.ec, error_code());
  EXPECT_EQ(r.status, exited(4));
}

TEST_F(HandlerAllocator, AsyncWaitAndTerminateWithoutAPidfdOnAnIoContextExecutor) {
  ctx_pidfd p(io.get_executor());
  wait_result r, t;
  p.async_wait(recording(r));
  p.async_terminate(1s, recording(t));
  finish_and_expect_balanced(r);
  ASSERT_TRUE(t.ec.has_value());
  EXPECT_EQ(*r.ec, asio::error::bad_descriptor);
  EXPECT_EQ(*t.ec, asio::error::bad_descriptor);
}

// Where the handler's allocator is not used (Boost 1.81): a result posted through
// any_io_executor (which drops the allocator preference). Next to it, async_wait_for
// (both ways) and async_terminate, which use it. Whatever they take from the allocator,
// they give back; and they report the right result.
TEST_F(HandlerAllocator, TimedAndPostedCompletionsGiveBackWhatTheyTake) {
  async_pidfd empty(io);
  wait_result posted;
  empty.async_wait(recording(posted));

  async_pidfd exiting(io, start_child({"exit", "5"}));
  wait_result within;
  exiting.async_wait_for(wait_bound, recording(within));

  async_pidfd blocked = start_blocked();
  wait_result timed_out;
  blocked.async_wait_for(1ms, recording(timed_out));

  async_pidfd terminated = start_blocked();
  wait_result by_sigterm;
  terminated.async_terminate(wait_bound, recording(by_sigterm));

  ASSERT_TRUE(run_until([&] {
    return posted.ec && within.ec && timed_out.ec && by_sigterm.ec;
  }));
  run_for();
  EXPECT_EQ(counts.deallocations, counts.allocations);
  EXPECT_EQ(counts.live_bytes, 0u);
  EXPECT_EQ(*posted.ec, asio::error::bad_descriptor);
  EXPECT_EQ(*within.ec, error_code());
  EXPECT_EQ(within.status, exited(5));
  EXPECT_EQ(*timed_out.ec, asio::error::timed_out);
  EXPECT_EQ(*by_sigterm.ec, error_code());
  EXPECT_EQ(by_sigterm.status, killed(SIGTERM));
  blocked.core().kill();
  EXPECT_EQ(pidfd_test::bounded_wait(blocked.core()), killed(SIGKILL));
}


// The reference each half of a timed wait holds on its operation (detail/timed_wait_op.hpp)
// keeps its count in the pointer's low bit: one count per reference made, none after a
// move or take(), and a moved-from reference still names the operation (Asio may ask a
// moved-from handler for its allocator).
struct counted_operation {
  int refs = 0;
  int halves_destroyed = 0;
  void add_ref() noexcept { ++refs; }
  void half_destroyed() noexcept { ++halves_destroyed; }
};

TEST(TimedOperationRef, CountsOnceAndAMovedFromOneStillNamesTheOperation) {
  counted_operation op;
  {
    pidfd::detail::timed_op_ref<counted_operation> first(&op);
    EXPECT_EQ(op.refs, 1);
    EXPECT_EQ(first.get(), &op);
    const pidfd::detail::timed_op_ref<counted_operation> second(std::move(first));
    EXPECT_EQ(first.get(), &op);  // NOLINT(bugprone-use-after-move): what is tested
    EXPECT_EQ(second.get(), &op);
    EXPECT_EQ(op.refs, 1);
  }
  EXPECT_EQ(op.halves_destroyed, 1);
}

TEST(TimedOperationRef, TakeHandsTheCountToTheCaller) {
  counted_operation op;
  {
    pidfd::detail::timed_op_ref<counted_operation> ref(&op);
    EXPECT_EQ(ref.take(), &op);
    EXPECT_EQ(ref.get(), &op);
  }
  EXPECT_EQ(op.refs, 1);
  EXPECT_EQ(op.halves_destroyed, 0);
}

}  // namespace
