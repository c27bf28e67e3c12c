// Tests of <pidfd/async_pidfd.hpp>: every completion-token kind, exit statuses, several
// waiters, never-inline completion and associated executors, each cancellation route,
// timeouts and termination, and the hostile environments other libraries fail in
// (ptrace, SIGCHLD ignored, waitpid(-1) elsewhere, non-children, threads, many threads).
#include "io_fixture.hpp"
#include "support.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/detail/registration.hpp>
#include <pidfd/kernel.hpp>

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
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
using pidfd_test::killed;

// The result of one async_wait with a callback.
struct wait_result {
  bool done = false;
  error_code ec;
  exit_status status;
};

class AsyncPidfd : public pidfd_test::io_fixture {
protected:
  // Starts an async_wait with a plain callback recording into r.
  void start_wait(async_pidfd& p, wait_result& r) {
    p.async_wait([&r](error_code ec, exit_status s) {
      r.done = true;
      r.ec = ec;
      r.status = s;
    });
  }

  // A child blocked on a pipe: write a byte to `release` to let it run on (`then` are its
  // further commands; it exits 0 after them).
  struct blocked_child {
    pidfd_test::pipe_fds pipe;
    async_pidfd p;
    void release() { pidfd_test::write_byte(pipe.write.get()); }
  };
  blocked_child start_blocked(const std::vector<std::string>& then = {}) {
    auto pipe = make_pipe();
    std::vector<std::string> args{"wait-byte", "3"};
    args.insert(args.end(), then.begin(), then.end());
    pidfd::pid_fd fd = start_child(args, {{3, pipe.read.get()}});
    pipe.read.reset();
    return blocked_child{std::move(pipe), async_pidfd(io, std::move(fd))};
  }

  // After a cancelled wait: the child is still running, and a new wait gets its status.
  void expect_alive_then_waitable(blocked_child& c) {
    EXPECT_FALSE(c.p.core().has_exited());
    error_code ec;
    c.p.send_signal(0, ec);
    EXPECT_FALSE(ec) << ec.message();
    wait_result again;
    start_wait(c.p, again);
    c.release();
    ASSERT_TRUE(run_until([&] { return again.done; }));
    EXPECT_FALSE(again.ec) << again.ec.message();
    EXPECT_EQ(again.status, exited(0));
  }
};

// ---------------------------------------------------------------------------------------
// Completion-token kinds

TEST_F(AsyncPidfd, PlainCallback) {
  async_pidfd p(io, start_child({"exit", "3"}));
  wait_result r;
  start_wait(p, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, exited(3));
  EXPECT_EQ(r.status.code(), 3);
}

TEST_F(AsyncPidfd, MoveOnlyCallback) {
  async_pidfd p(io, start_child({"exit", "4"}));
  auto token = std::make_unique<int>(17);
  int seen = 0;
  std::optional<exit_status> status;
  p.async_wait([token = std::move(token), &seen, &status](error_code ec, exit_status s) {
    EXPECT_FALSE(ec);
    seen = *token;
    status = s;
  });
  ASSERT_TRUE(run_until([&] { return status.has_value(); }));
  EXPECT_EQ(seen, 17);
  EXPECT_EQ(*status, exited(4));
}

TEST_F(AsyncPidfd, UseFuture) {
  async_pidfd p(io, start_child({"exit", "5"}));
  std::future<exit_status> f = p.async_wait(asio::use_future);
  ASSERT_TRUE(run_until([&] { return f.wait_for(0s) == std::future_status::ready; }));
  EXPECT_EQ(f.get(), exited(5));
}

TEST_F(AsyncPidfd, UseFutureReportsErrorsAsExceptions) {
  async_pidfd p(io);  // no pidfd
  std::future<exit_status> f = p.async_wait(asio::use_future);
  ASSERT_TRUE(run_until([&] { return f.wait_for(0s) == std::future_status::ready; }));
  try {
    f.get();
    ADD_FAILURE() << "no exception";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), error_code(asio::error::bad_descriptor));
  }
}

TEST_F(AsyncPidfd, UseAwaitable) {
  async_pidfd p(io, start_child({"exit", "6"}));
  std::optional<exit_status> status;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { status = co_await p.async_wait(asio::use_awaitable); },
      asio::detached);
  ASSERT_TRUE(run_until([&] { return status.has_value(); }));
  EXPECT_EQ(*status, exited(6));
}

TEST_F(AsyncPidfd, Deferred) {
  async_pidfd p(io, start_child({"exit", "7"}));
  auto op = p.async_wait(asio::deferred);
  // Nothing starts until the deferred operation is invoked.
  wait_result r;
  // A deferred operation is invoked as an rvalue, whatever its type's copyability.
  std::move(op)([&](error_code ec, exit_status s) {  // NOLINT(performance-move-const-arg)
    r = {true, ec, s};
  });
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.status, exited(7));
}

TEST_F(AsyncPidfd, AsTupleUseAwaitable) {
  async_pidfd p(io, start_child({"exit", "8"}));
  std::optional<std::tuple<error_code, exit_status>> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await p.async_wait(asio::as_tuple(asio::use_awaitable));
      },
      asio::detached);
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_FALSE(std::get<0>(*result));
  EXPECT_EQ(std::get<1>(*result), exited(8));
}

TEST_F(AsyncPidfd, AsDefaultOn) {
  using tuple_pidfd = asio::as_tuple_t<asio::use_awaitable_t<>>::as_default_on_t<async_pidfd>;
  tuple_pidfd p(io, start_child({"exit", "9"}));
  std::optional<std::tuple<error_code, exit_status>> result;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result = co_await p.async_wait(); }, asio::detached);
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_FALSE(std::get<0>(*result));
  EXPECT_EQ(std::get<1>(*result), exited(9));
}

// A custom token whose async_result returns a value from the initiating function.
struct counted_token {
  int* calls;
};

}  // namespace

template <>
class boost::asio::async_result<counted_token, void(pidfd::error_code, pidfd::exit_status)> {
public:
  template <class Initiation, class... Args>
  static int initiate(Initiation&& init, counted_token token, Args&&... args) {
    int* calls = token.calls;
    std::forward<Initiation>(init)(
        [calls](pidfd::error_code ec, pidfd::exit_status s) {
          if (!ec && s.code() == 10) ++*calls;
        },
        std::forward<Args>(args)...);
    return 42;
  }
};

namespace {

TEST_F(AsyncPidfd, CustomTokenWithNonVoidResult) {
  async_pidfd p(io, start_child({"exit", "10"}));
  int calls = 0;
  static_assert(std::is_same_v<decltype(p.async_wait(counted_token{&calls})), int>);
  static_assert(
      std::is_same_v<decltype(p.async_wait_for(1s, counted_token{&calls})), int>);
  const int r = p.async_wait(counted_token{&calls});
  EXPECT_EQ(r, 42);
  ASSERT_TRUE(run_until([&] { return calls == 1; }));
  EXPECT_EQ(calls, 1);
}

// ---------------------------------------------------------------------------------------
// Statuses, several waiters, the cache

struct status_case {
  std::vector<std::string> args;
  exit_status expected;
};

class AsyncPidfdStatus : public AsyncPidfd, public ::testing::WithParamInterface<status_case> {};

TEST_P(AsyncPidfdStatus, Reported) {
  async_pidfd p(io, start_child(GetParam().args));
  wait_result r;
  start_wait(p, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, GetParam().expected) << r.status.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, AsyncPidfdStatus,
    ::testing::Values(status_case{{"exit", "0"}, exited(0)}, status_case{{"exit", "1"}, exited(1)},
                      status_case{{"exit", "255"}, exited(255)},
                      status_case{{"raise", "9"}, killed(SIGKILL)},
                      status_case{{"raise", "11"}, killed(SIGSEGV)}));

TEST_F(AsyncPidfd, SigkillSentThroughTheObject) {
  auto c = start_blocked();
  wait_result r;
  start_wait(c.p, r);
  c.p.kill();
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.status, killed(SIGKILL));
  EXPECT_EQ(r.status.signal(), SIGKILL);
}

TEST_F(AsyncPidfd, TwoWaitersGetTheSameStatus) {
  auto c = start_blocked({"exit", "21"});
  wait_result a, b;
  start_wait(c.p, a);
  start_wait(c.p, b);
  c.release();
  ASSERT_TRUE(run_until([&] { return a.done && b.done; }));
  EXPECT_FALSE(a.ec);
  EXPECT_FALSE(b.ec);
  EXPECT_EQ(a.status, exited(21));
  EXPECT_EQ(b.status, exited(21));
}

TEST_F(AsyncPidfd, SixtyFourWaitersThenLaterWaitsReturnAtOnce) {
  auto c = start_blocked({"exit", "22"});
  std::vector<wait_result> results(64);
  for (auto& r : results) start_wait(c.p, r);
  c.release();
  ASSERT_TRUE(run_until([&] {
    for (auto& r : results)
      if (!r.done) return false;
    return true;
  }));
  for (auto& r : results) {
    EXPECT_FALSE(r.ec);
    EXPECT_EQ(r.status, exited(22));
  }
  // Cached: a later async_wait completes without waiting for any event, wait() at once.
  ASSERT_EQ(c.p.core().cached_status(), exited(22));
  wait_result later;
  start_wait(c.p, later);
  io.restart();
  io.poll();  // no blocking run needed
  EXPECT_TRUE(later.done);
  EXPECT_EQ(later.status, exited(22));
  EXPECT_EQ(c.p.core().wait(), exited(22));
  EXPECT_EQ(c.p.try_wait(), exited(22));
}

// ---------------------------------------------------------------------------------------
// Never inline; associated executor

TEST_F(AsyncPidfd, NeverCompletesInline) {
  async_pidfd p(io, start_child({"exit", "0"}));
  bool done = false;
  p.async_wait([&](error_code, exit_status) { done = true; });
  EXPECT_FALSE(done);
  ASSERT_TRUE(run_until([&] { return done; }));
  // Now the status is cached: still not inline.
  ASSERT_TRUE(p.core().cached_status().has_value());
  bool again = false;
  p.async_wait([&](error_code ec, exit_status s) {
    again = true;
    EXPECT_FALSE(ec);
    EXPECT_EQ(s, exited(0));
  });
  EXPECT_FALSE(again);
  ASSERT_TRUE(run_until([&] { return again; }));
}

TEST_F(AsyncPidfd, EmptyObjectFailsWithBadDescriptorNotInline) {
  async_pidfd p(io);
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(p.native_handle(), -1);
  wait_result r;
  start_wait(p, r);
  EXPECT_FALSE(r.done);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::bad_descriptor));
  EXPECT_EQ(r.status, exit_status());
}

TEST_F(AsyncPidfd, HandlerRunsInItsStrand) {
  async_pidfd p(io, start_child({"exit", "2"}));
  auto strand = asio::make_strand(io);
  bool in_strand = false;
  bool done = false;
  p.async_wait(asio::bind_executor(strand, [&](error_code ec, exit_status s) {
    in_strand = strand.running_in_this_thread();
    done = true;
    EXPECT_FALSE(ec);
    EXPECT_EQ(s, exited(2));
  }));
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_TRUE(in_strand);
}

TEST_F(AsyncPidfd, HandlerRunsInItsStrandWhenCached) {
  async_pidfd p(io, start_child({"exit", "2"}));
  ASSERT_EQ(pidfd_test::bounded_wait(p.core()), exited(2));
  auto strand = asio::make_strand(io);
  bool in_strand = false;
  bool done = false;
  p.async_wait(asio::bind_executor(strand, [&](error_code, exit_status) {
    in_strand = strand.running_in_this_thread();
    done = true;
  }));
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_TRUE(in_strand);
}

TEST_F(AsyncPidfd, NativeHandleIsThePidfdNotThePid) {
  auto c = start_blocked();
  const int fd = c.p.native_handle();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fd, c.p.core().native_handle());
  EXPECT_EQ(std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd)).string(),
            "anon_inode:[pidfd]");
  EXPECT_GT(c.p.pid(), 0);
  c.release();
  EXPECT_EQ(pidfd_test::bounded_wait(c.p.core()), exited(0));
}

TEST_F(AsyncPidfd, ReleaseHandsBackThePidfdIntact) {
  auto c = start_blocked({"exit", "12"});
  const int fd = c.p.native_handle();
  const pid_t pid = c.p.pid();
  wait_result r;
  start_wait(c.p, r);
  pidfd::pid_fd back = c.p.release();
  EXPECT_FALSE(c.p.is_open());
  EXPECT_EQ(back.native_handle(), fd);
  EXPECT_EQ(back.pid(), pid);
  // The reactor made it non-blocking (PIDFD_NONBLOCK); it comes back blocking.
  EXPECT_EQ(::fcntl(back.native_handle(), F_GETFL) & O_NONBLOCK, 0);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::operation_aborted));
  c.release();
  EXPECT_EQ(pidfd_test::bounded_wait(back), exited(12));
  // Handed back in again, the cached status comes with it.
  async_pidfd again(io, std::move(back));
  wait_result r2;
  start_wait(again, r2);
  ASSERT_TRUE(run_until([&] { return r2.done; }));
  EXPECT_EQ(r2.status, exited(12));
}

TEST_F(AsyncPidfd, MoveConstructionAndAssignment) {
  async_pidfd a(io, start_child({"exit", "13"}));
  const int fd = a.native_handle();
  async_pidfd b(std::move(a));
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(b.native_handle(), fd);
  async_pidfd c(io);
  c = std::move(b);
  EXPECT_EQ(c.native_handle(), fd);
  wait_result r;
  start_wait(c, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.status, exited(13));
}

TEST_F(AsyncPidfd, AssignAfterExecutorConstruction) {
  async_pidfd p(io.get_executor());
  p.assign(start_child({"exit", "14"}));
  EXPECT_TRUE(p.is_open());
  error_code ec;
  p.assign(pidfd::pid_fd(), ec);
  EXPECT_EQ(ec, error_code(asio::error::already_open));
  wait_result r;
  start_wait(p, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.status, exited(14));
}

TEST_F(AsyncPidfd, AssigningAnEmptyPidFdIsRejected) {
  async_pidfd p(io);
  error_code ec;
  p.assign(pidfd::pid_fd(), ec);
  EXPECT_EQ(ec, error_code(asio::error::bad_descriptor));
  EXPECT_FALSE(p.is_open());
  try {
    p.assign(pidfd::pid_fd());
    ADD_FAILURE() << "assign of an empty pid_fd did not throw";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), error_code(asio::error::bad_descriptor));
  }
  // The object is still usable afterwards.
  p.assign(start_child({"exit", "9"}), ec);
  ASSERT_FALSE(ec) << ec.message();
  wait_result r;
  start_wait(p, r);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, exited(9));
}

// ---------------------------------------------------------------------------------------
// Cancellation

class AsyncPidfdSlot : public AsyncPidfd,
                       public ::testing::WithParamInterface<asio::cancellation_type> {};

TEST_P(AsyncPidfdSlot, CancelsAndLeavesTheProcessAlone) {
  auto c = start_blocked();
  asio::cancellation_signal signal;
  wait_result r;
  c.p.async_wait(asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, exit_status s) {
    r = {true, ec, s};
  }));
  io.poll();
  EXPECT_FALSE(r.done);
  signal.emit(GetParam());
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::operation_aborted));
  EXPECT_EQ(r.status, exit_status());
  expect_alive_then_waitable(c);
}

INSTANTIATE_TEST_SUITE_P(Types, AsyncPidfdSlot,
                         ::testing::Values(asio::cancellation_type::terminal,
                                           asio::cancellation_type::partial,
                                           asio::cancellation_type::total));

TEST_F(AsyncPidfd, AwaitableOrTimer) {
  using namespace asio::experimental::awaitable_operators;
  auto c = start_blocked();
  std::optional<std::size_t> winner;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io, 20ms);
        auto v = co_await (c.p.async_wait(asio::use_awaitable) ||
                           timer.async_wait(asio::use_awaitable));
        winner = v.index();
      },
      asio::detached);
  ASSERT_TRUE(run_until([&] { return winner.has_value(); }));
  EXPECT_EQ(*winner, 1u);
  expect_alive_then_waitable(c);
}

TEST_F(AsyncPidfd, ParallelGroupCancelsTheWait) {
  auto c = start_blocked();
  asio::steady_timer timer(io, 20ms);
  std::optional<std::array<std::size_t, 2>> order;
  error_code wait_ec, timer_ec;
  asio::experimental::make_parallel_group(c.p.async_wait(asio::deferred),
                                          timer.async_wait(asio::deferred))
      .async_wait(asio::experimental::wait_for_one(),
                  // Bound: a parallel group's handler without an associated executor runs
                  // on the system executor, not on the io_context.
                  asio::bind_executor(io, [&](std::array<std::size_t, 2> o, error_code e1,
                                              exit_status, error_code e2) {
                    order = o;
                    wait_ec = e1;
                    timer_ec = e2;
                  }));
  ASSERT_TRUE(run_until([&] { return order.has_value(); }));
  EXPECT_EQ((*order)[0], 1u);
  EXPECT_EQ((*order)[1], 0u);
  EXPECT_FALSE(timer_ec);
  EXPECT_EQ(wait_ec, error_code(asio::error::operation_aborted));
  expect_alive_then_waitable(c);
}

TEST_F(AsyncPidfd, CancelAbortsEveryWait) {
  auto c = start_blocked();
  wait_result a, b;
  start_wait(c.p, a);
  start_wait(c.p, b);
  io.poll();
  c.p.cancel();
  ASSERT_TRUE(run_until([&] { return a.done && b.done; }));
  EXPECT_EQ(a.ec, error_code(asio::error::operation_aborted));
  EXPECT_EQ(b.ec, error_code(asio::error::operation_aborted));
  expect_alive_then_waitable(c);
}

TEST_F(AsyncPidfd, DestroyingTheObjectAbortsTheWait) {
  auto pipe = make_pipe();
  pidfd::pid_fd child = start_child({"wait-byte", "3"}, {{3, pipe.read.get()}});
  pipe.read.reset();
  pidfd::pid_fd second = pidfd::pid_fd::open(child.pid());
  wait_result r;
  {
    async_pidfd p(io, std::move(child));
    start_wait(p, r);
    io.poll();
  }
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::operation_aborted));
  EXPECT_FALSE(second.has_exited());
  async_pidfd p2(io, std::move(second));
  wait_result again;
  start_wait(p2, again);
  pidfd_test::write_byte(pipe.write.get());
  ASSERT_TRUE(run_until([&] { return again.done; }));
  EXPECT_EQ(again.status, exited(0));
}

TEST_F(AsyncPidfd, CloseAbortsTheWait) {
  auto pipe = make_pipe();
  pidfd::pid_fd child = start_child({"wait-byte", "3"}, {{3, pipe.read.get()}});
  pipe.read.reset();
  pidfd::pid_fd second = pidfd::pid_fd::open(child.pid());
  async_pidfd p(io, std::move(child));
  wait_result r;
  start_wait(p, r);
  io.poll();
  p.close();
  EXPECT_FALSE(p.is_open());
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::operation_aborted));
  pidfd_test::write_byte(pipe.write.get());
  EXPECT_EQ(pidfd_test::bounded_wait(second), exited(0));
}

// ---------------------------------------------------------------------------------------
// Timeouts and termination

TEST_F(AsyncPidfd, WaitForTimesOutAndLeavesTheProcessAlone) {
  auto c = start_blocked();
  wait_result r;
  c.p.async_wait_for(20ms, [&](error_code ec, exit_status s) { r = {true, ec, s}; });
  EXPECT_FALSE(r.done);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::timed_out));
  EXPECT_EQ(r.status, exit_status());
  expect_alive_then_waitable(c);
}

TEST_F(AsyncPidfd, WaitForCompletesWhenTheProcessExitsFirst) {
  async_pidfd p(io, start_child({"exit", "6"}));
  wait_result r;
  p.async_wait_for(std::chrono::seconds(60), [&](error_code ec, exit_status s) {
    r = {true, ec, s};
  });
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, exited(6));
}

TEST_F(AsyncPidfd, WaitForIsCancellable) {
  auto c = start_blocked();
  asio::cancellation_signal signal;
  wait_result r;
  c.p.async_wait_for(60s, asio::bind_cancellation_slot(signal.slot(),
                                                       [&](error_code ec, exit_status s) {
                                                         r = {true, ec, s};
                                                       }));
  io.poll();
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(asio::error::operation_aborted));
  expect_alive_then_waitable(c);
}

// An executor (over the io_context's) that runs each function it is given from two blocks
// it allocates with the function's associated allocator and holds together: the function
// with Extra bytes more, and one byte. For the halves of a timed wait, whose handler has no
// allocator, that allocator is the one placing their reactor operations inside the
// operation's block: the function with 1024 bytes more cannot fit there, and of the two
// blocks held at once at most one can, so the others come from the heap instead. Each must
// be freed once, before the function runs (ASan's leak and use-after-free checks).
template <std::size_t Extra>
class allocating_executor {
public:
  allocating_executor(asio::io_context& io, int& runs) noexcept : io_(&io), runs_(&runs) {}

  asio::execution_context& query(asio::execution::context_t) const noexcept { return *io_; }

  template <class F>
  void execute(F f) const {
    struct holder {
      F f;
      std::array<unsigned char, Extra> extra;
    };
    using alloc_type = asio::associated_allocator_t<F>;
    using holder_alloc = typename std::allocator_traits<alloc_type>::template rebind_alloc<holder>;
    using byte_alloc =
        typename std::allocator_traits<alloc_type>::template rebind_alloc<unsigned char>;
    holder_alloc ha(asio::get_associated_allocator(f));
    byte_alloc ba(ha);
    holder* h = std::allocator_traits<holder_alloc>::allocate(ha, 1);
    ::new (static_cast<void*>(h)) holder{std::move(f), {}};
    unsigned char* b = std::allocator_traits<byte_alloc>::allocate(ba, 1);
    asio::post(*io_, [h, b, ha, ba, runs = runs_]() mutable {
      F g(std::move(h->f));
      h->~holder();
      std::allocator_traits<holder_alloc>::deallocate(ha, h, 1);
      std::allocator_traits<byte_alloc>::deallocate(ba, b, 1);
      ++*runs;
      std::move(g)();
    });
  }

  friend bool operator==(const allocating_executor& a, const allocating_executor& b) noexcept {
    return a.io_ == b.io_;
  }
  friend bool operator!=(const allocating_executor& a, const allocating_executor& b) noexcept {
    return !(a == b);
  }

private:
  asio::io_context* io_;
  int* runs_;
};

// Each half of a timed wait ends through the handler's executor: one run each.
template <std::size_t Extra>
void expect_timed_wait_through_allocating_executor(asio::io_context& io, bool time_out) {
  int runs = 0;
  wait_result r;
  auto pipe = make_pipe();
  async_pidfd p(io, start_child({"wait-byte", "3", "exit", "6"}, {{3, pipe.read.get()}}));
  pipe.read.reset();
  p.async_wait_for(time_out ? 1ms : 60s,
                   asio::bind_executor(allocating_executor<Extra>(io, runs),
                                       [&](error_code ec, exit_status s) { r = {true, ec, s}; }));
  if (!time_out) pidfd_test::write_byte(pipe.write.get());
  ASSERT_TRUE(pidfd_test::run_until(io, [&] { return r.done; }));
  EXPECT_EQ(runs, 2);
  if (time_out) {
    EXPECT_EQ(r.ec, error_code(asio::error::timed_out));
    EXPECT_EQ(r.status, exit_status());
    pidfd_test::write_byte(pipe.write.get());
    EXPECT_EQ(pidfd_test::bounded_wait(p.core()), exited(6));
  } else {
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, exited(6));
  }
}

TEST_F(AsyncPidfd, WaitForWhoseHandlerExecutorAllocatesInsideTheOperation) {
  expect_timed_wait_through_allocating_executor<0>(io, /*time_out=*/false);
  expect_timed_wait_through_allocating_executor<0>(io, /*time_out=*/true);
}

TEST_F(AsyncPidfd, WaitForWhoseHandlerExecutorAllocatesMoreThanFits) {
  expect_timed_wait_through_allocating_executor<1024>(io, /*time_out=*/false);
  expect_timed_wait_through_allocating_executor<1024>(io, /*time_out=*/true);
}

TEST_F(AsyncPidfd, TerminateKillsAChildThatIgnoresSigterm) {
  auto pipe = make_pipe();
  async_pidfd p(io, start_child({"ignore", "15", "ready", "3", "pause"}, {{3, pipe.write.get()}}));
  pipe.write.reset();
  ASSERT_EQ(pidfd_test::read_line(pipe.read.get()), "R");
  wait_result r;
  p.async_terminate(30ms, [&](error_code ec, exit_status s) { r = {true, ec, s}; });
  EXPECT_FALSE(r.done);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, killed(SIGKILL));
}

TEST_F(AsyncPidfd, TerminateReportsSigterm) {
  auto pipe = make_pipe();
  async_pidfd p(io, start_child({"ready", "3", "pause"}, {{3, pipe.write.get()}}));
  pipe.write.reset();
  ASSERT_EQ(pidfd_test::read_line(pipe.read.get()), "R");
  wait_result r;
  p.async_terminate(60s, [&](error_code ec, exit_status s) { r = {true, ec, s}; });
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, killed(SIGTERM));
}

TEST_F(AsyncPidfd, TerminateOfAnEndedProcessReportsItsStatus) {
  async_pidfd p(io, start_child({"exit", "31"}));
  ASSERT_EQ(pidfd_test::bounded_wait(p.core()), exited(31));
  wait_result r;
  p.async_terminate(10ms, [&](error_code ec, exit_status s) { r = {true, ec, s}; });
  EXPECT_FALSE(r.done);
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.status, exited(31));
}

namespace {

// Counts its own destruction.
class left_behind final : public pidfd::detail::retired_registration {
public:
  explicit left_behind(int& destroyed) noexcept : destroyed_(destroyed) {}
  ~left_behind() override { ++destroyed_; }

private:
  int& destroyed_;
};

}  // namespace

// The registration epochs on their own (Asio's io_uring backend relies on the hand-over;
// the epoll build never hands anything over): what an object leaves behind when it gives
// up a registration with descriptor waits pending is destroyed when the last of them
// settles, not before, whatever else was ended meanwhile; with none pending, end() takes
// nothing; a wait that settles while its registration lives reports it alive, once.
TEST(Registration, WhatAnEndedRegistrationLeftLivesUntilItsLastWaitSettles) {
  using pidfd::detail::registration_ref;
  const pidfd::unique_fd first(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const pidfd::unique_fd second(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(first.is_open());
  ASSERT_TRUE(second.is_open());
  int first_destroyed = 0, second_destroyed = 0;
  registration_ref a = registration_ref::arm(first.get());
  registration_ref b = registration_ref::arm(first.get());
  registration_ref c = registration_ref::arm(second.get());
  EXPECT_TRUE(a.alive());
  EXPECT_TRUE(registration_ref::end(first.get(), new left_behind(first_destroyed)));
  EXPECT_TRUE(registration_ref::end(second.get(), new left_behind(second_destroyed)));
  EXPECT_FALSE(a.alive());
  EXPECT_FALSE(c.alive());
  EXPECT_FALSE(c.settle());  // found past the first descriptor's record
  EXPECT_EQ(second_destroyed, 1);
  EXPECT_FALSE(a.settle());
  EXPECT_EQ(first_destroyed, 0);
  EXPECT_FALSE(b.settle());
  EXPECT_EQ(first_destroyed, 1);
  EXPECT_FALSE(b.armed());
  EXPECT_FALSE(b.settle());  // settled already: nothing to uncount

  left_behind kept(first_destroyed);
  EXPECT_FALSE(registration_ref::end(first.get(), &kept));  // nothing pending
  registration_ref d = registration_ref::arm(first.get());
  EXPECT_TRUE(d.settle());
  EXPECT_EQ(first_destroyed, 1);
}

// Without the 6.9 signal scopes (run in a child process with
// ASIO_PIDFD_PRETEND_MISSING=signal_scope): async_terminate with a scope reports
// operation_not_supported, and process.cpp's group tests take their pre-6.9 branches
// (async_run signals a group leader's group with kill(-pgid) instead).
TEST(AsyncPidfdFallback, WithoutSignalScopes) {
  EXPECT_EQ(pidfd_test::run_suite_in_child(
                "InChildAsyncPidfdNoScope.*:Process.AsyncTerminateOfAWholeGroup:"
                "Process.TimeoutSignalsTheWholeGroupWhenTheChildLeadsOne",
                0, {"ASIO_PIDFD_PRETEND_MISSING=signal_scope"}),
            0);
}

using InChildAsyncPidfdNoScope = AsyncPidfd;

TEST_F(InChildAsyncPidfdNoScope, TerminateWithAScopeIsNotSupported) {
  ASSERT_FALSE(pidfd::kernel_support().signal_scope);
  auto ready = make_pipe();
  async_pidfd p(io, start_child({"ready", "3", "pause"}, {{3, ready.write.get()}}));
  ready.write.reset();
  ASSERT_EQ(pidfd_test::read_line(ready.read.get()), "R");
  wait_result r;
  p.async_terminate(60s, pidfd::signal_scope::thread_group,
                    [&](error_code ec, exit_status s) { r = {true, ec, s}; });
  EXPECT_FALSE(r.done);  // never completed inline
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, boost::system::errc::operation_not_supported);
  EXPECT_EQ(r.status, exit_status());
  // Nothing was sent: the process is still running.
  error_code ec;
  EXPECT_EQ(p.core().try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  p.core().kill();
  EXPECT_EQ(pidfd_test::bounded_wait(p.core()), killed(SIGKILL));
}

// ---------------------------------------------------------------------------------------
// Hostile environments

// Our child exits while another process ptraces it: the pidfd turns readable, but we
// cannot reap the child until the tracer has collected it. The wait must neither block
// nor spin, and must complete once the tracer lets go.
TEST_F(AsyncPidfd, PtracedChildSpuriousReadiness) {
  auto target = start_blocked({"exit", "23"});
  auto out = make_pipe();
  auto in = make_pipe();
  async_pidfd tracer(
      io, start_child({"ptrace-hold", std::to_string(target.p.pid()), "3", "4"},
                      {{3, out.write.get()}, {4, in.read.get()}}));
  out.write.reset();
  in.read.reset();
  ASSERT_EQ(pidfd_test::read_line(out.read.get()), "R");

  wait_result r;
  start_wait(target.p, r);
  target.release();
  ASSERT_EQ(pidfd_test::read_line(out.read.get()), "E");
  EXPECT_TRUE(target.p.core().has_exited());
  // The pidfd stays readable; our handlers keep running (nothing blocks) and they do not
  // spin on the readable level: a busy loop would run thousands of handlers here.
  bool ticked = false;
  asio::post(io, [&] { ticked = true; });
  const std::size_t handlers = run_for(200ms);
  EXPECT_TRUE(ticked);
  EXPECT_FALSE(r.done);
  EXPECT_LT(handlers, 40u);

  pidfd_test::write_byte(in.write.get());  // the tracer collects and lets go
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, exited(23));
  wait_result t;
  start_wait(tracer, t);
  ASSERT_TRUE(run_until([&] { return t.done; }));
  EXPECT_EQ(t.status, exited(0));
}

// Restores a signal disposition at scope exit.
class saved_disposition {
public:
  saved_disposition(int sig, void (*handler)(int)) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig, &sa, &old_);
  }
  ~saved_disposition() { ::sigaction(sig_, &old_, nullptr); }
  saved_disposition(const saved_disposition&) = delete;
  saved_disposition& operator=(const saved_disposition&) = delete;

private:
  int sig_;
  struct sigaction old_ {};
};

TEST_F(AsyncPidfd, SigchldIgnoredAutoreap) {
  saved_disposition ignore(SIGCHLD, SIG_IGN);
  auto c = start_blocked({"exit", "24"});
  wait_result r;
  start_wait(c.p, r);
  c.release();
  ASSERT_TRUE(run_until([&] { return r.done; }));
  if (pidfd::kernel_support().info_exit) {
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, exited(24));
  } else {
    EXPECT_EQ(r.ec, error_code(pidfd::errc::status_unavailable));
  }
}

TEST_F(AsyncPidfd, ReapedBehindOurBackByWaitpidMinusOne) {
  auto c = start_blocked({"exit", "25"});
  const pid_t pid = c.p.pid();
  wait_result r;
  start_wait(c.p, r);
  // Only this test's child exists now (tests run one at a time), so this thread can only
  // reap that one.
  pid_t reaped = 0;
  int raw = 0;
  std::thread thief([&] {
    pid_t got;
    do got = ::waitpid(-1, &raw, 0);
    while (got < 0 && errno == EINTR);
    reaped = got;
  });
  c.release();
  thief.join();
  ASSERT_EQ(reaped, pid);
  EXPECT_EQ(exit_status::from_wait_status(raw), exited(25));
  ASSERT_TRUE(run_until([&] { return r.done; }));
  if (pidfd::kernel_support().info_exit) {
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, exited(25));
  } else {
    EXPECT_EQ(r.ec, error_code(pidfd::errc::status_unavailable));
  }
}

TEST_F(AsyncPidfd, GrandchildNonChild) {
  auto out = make_pipe();
  auto in = make_pipe();
  async_pidfd middle(io, start_child({"fork-rest", "3", "wait-byte", "4", "exit", "26"},
                                     {{3, out.write.get()}, {4, in.read.get()}}));
  out.write.reset();
  in.read.reset();
  const pid_t grandchild = std::stoi(pidfd_test::read_line(out.read.get()));
  // The grandchild is blocked on the pipe, so this pid still names it.
  async_pidfd g(io, pidfd::pid_fd::open(grandchild));
  wait_result r, m;
  start_wait(g, r);
  start_wait(middle, m);
  pidfd_test::write_byte(in.write.get());
  ASSERT_TRUE(run_until([&] { return r.done && m.done; }));
  EXPECT_EQ(m.status, exited(0));
  if (pidfd::kernel_support().info_exit) {
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, exited(26));
  } else {
    EXPECT_EQ(r.ec, error_code(pidfd::errc::status_unavailable));
  }
}

// A non-child that has exited but whose parent has not reaped it yet: readable, no
// status. The wait must neither block nor spin, and completes after the reap.
// A zombie that is not our child: the wait polls it on its retry timer until its parent
// reaps it (or, without PIDFD_INFO_EXIT, ends at once). A wait ended on that timer counts
// nothing against another descriptor's registration: descriptor 0's pending count stays
// as it was (such a wait was once settled as if armed on descriptor 0, wrapping it).
TEST_F(AsyncPidfd, NonChildZombieHeldByItsParent) {
  const std::uint64_t fd0_before = pidfd::detail::registration_epoch(0)->load();
  auto out = make_pipe();
  auto hold = make_pipe();
  async_pidfd middle(io, start_child({"fork-hold", "3", "4", "exit", "27"},
                                     {{3, out.write.get()}, {4, hold.read.get()}}));
  out.write.reset();
  hold.read.reset();
  const pid_t grandchild = std::stoi(pidfd_test::read_line(out.read.get()));
  // The middle process has not reaped it (it waits for our byte), so the pid still names it.
  async_pidfd g(io, pidfd::pid_fd::open(grandchild));
  wait_result r;
  start_wait(g, r);
  ASSERT_TRUE(pidfd_test::wait_readable(g.native_handle()));  // exited: a zombie
  if (pidfd::kernel_support().info_exit) {
    const std::size_t handlers = run_for(200ms);
    EXPECT_FALSE(r.done);
    EXPECT_LT(handlers, 40u);
  } else {
    // Without PIDFD_INFO_EXIT there is nothing to wait for: it ended, status unknown.
    ASSERT_TRUE(run_until([&] { return r.done; }));
    EXPECT_EQ(r.ec, error_code(pidfd::errc::status_unavailable));
  }
  pidfd_test::write_byte(hold.write.get());  // the parent reaps it now
  wait_result m;
  start_wait(middle, m);
  ASSERT_TRUE(run_until([&] { return r.done && m.done; }));
  EXPECT_EQ(m.status, exited(0));
  if (pidfd::kernel_support().info_exit) {
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, exited(27));
  }
  EXPECT_EQ(pidfd::detail::registration_epoch(0)->load(), fd0_before);
}

TEST_F(AsyncPidfd, ThreadPidfd) {
  pidfd_test::parked_thread t;
  error_code ec;
  pidfd::pid_fd fd = pidfd::pid_fd::open(t.tid, pidfd::open_flags::thread, ec);
  if (!pidfd::kernel_support().thread_pidfd) {
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  async_pidfd p(io, std::move(fd));
  wait_result r;
  start_wait(p, r);
  io.poll();
  EXPECT_FALSE(r.done);
  t.release();
  ASSERT_TRUE(run_until([&] { return r.done; }));
  EXPECT_EQ(r.ec, error_code(pidfd::errc::status_unavailable));
  EXPECT_EQ(r.status, exit_status());
}

TEST_F(AsyncPidfd, FourThreadsTwoHundredChildren) {
  constexpr int children = 200;
  std::vector<std::unique_ptr<async_pidfd>> procs;
  procs.reserve(children);
  std::vector<exit_status> statuses(children);
  std::vector<error_code> errors(children);
  std::atomic<int> done{0};
  std::promise<void> all_done;
  for (int k = 0; k < children; ++k)
    procs.push_back(
        std::make_unique<async_pidfd>(io, start_child({"exit", std::to_string(k % 256)})));
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
  for (int k = 0; k < children; ++k) {
    // Initiated from the io threads too, so waits start while others complete.
    asio::post(io, [&, k] {
      procs[k]->async_wait([&, k](error_code ec, exit_status s) {
        errors[k] = ec;
        statuses[k] = s;
        if (done.fetch_add(1) + 1 == children) all_done.set_value();
      });
    });
  }
  const bool finished =
      all_done.get_future().wait_for(pidfd_test::wait_bound) == std::future_status::ready;
  guard.reset();
  io.stop();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(finished);
  ASSERT_EQ(done.load(), children);
  for (int k = 0; k < children; ++k) {
    EXPECT_FALSE(errors[k]) << k << ": " << errors[k].message();
    EXPECT_EQ(statuses[k], exited(k % 256)) << k;
  }
}

// The signal of a wait's current operation keeps the reactor's cancellation handler (three
// words, trivially destructible) inside itself, and anything larger on the heap: each is
// called by emit(), replaced by the next emplace(), and destroyed by clear() or with the
// signal.
TEST(AsyncPidfdInnerCancellation, SmallHandlersInPlaceLargerOnesAllocated) {
  using pidfd::detail::inner_cancellation;
  struct small {
    void* a;
    void* b;
    int* calls;
    small(void* x, void* y, int* c) : a(x), b(y), calls(c) {}
    void operator()(asio::cancellation_type t) { *calls += static_cast<int>(t); }
  };
  struct large {
    std::vector<int>* seen;
    int* destroyed;
    std::array<char, 64> padding{};
    large(std::vector<int>* s, int* d) : seen(s), destroyed(d) {}
    large(const large&) = delete;
    large& operator=(const large&) = delete;
    ~large() { ++*destroyed; }
    void operator()(asio::cancellation_type t) { seen->push_back(static_cast<int>(t)); }
  };
  int small_calls = 0;
  std::vector<int> seen;
  int destroyed = 0;
  {
    inner_cancellation sig;
    auto slot = sig.slot();
    EXPECT_TRUE(slot.is_connected());
    EXPECT_FALSE(slot.has_handler());
    EXPECT_FALSE(inner_cancellation::slot_type().is_connected());
    sig.emit(asio::cancellation_type::terminal);  // nothing installed: nothing happens

    small& s = slot.emplace<small>(nullptr, nullptr, &small_calls);
    const auto* at = reinterpret_cast<const unsigned char*>(&s);
    const auto* begin = reinterpret_cast<const unsigned char*>(&sig);
    EXPECT_TRUE(at >= begin && at + sizeof(small) <= begin + sizeof(sig));
    EXPECT_TRUE(slot.has_handler());
    sig.emit(asio::cancellation_type::partial);
    EXPECT_EQ(small_calls, 2);

    large& l = slot.emplace<large>(&seen, &destroyed);
    at = reinterpret_cast<const unsigned char*>(&l);
    EXPECT_TRUE(at + sizeof(large) <= begin || at >= begin + sizeof(sig));
    sig.emit(asio::cancellation_type::total);
    EXPECT_EQ(small_calls, 2);  // replaced
    EXPECT_EQ(seen, std::vector<int>{4});
    slot.clear();
    EXPECT_EQ(destroyed, 1);
    EXPECT_FALSE(slot.has_handler());
    sig.emit(asio::cancellation_type::terminal);
    EXPECT_EQ(seen, std::vector<int>{4});

    slot.emplace<large>(&seen, &destroyed);
    slot.emplace<small>(nullptr, nullptr, &small_calls);  // destroys the large one first
    EXPECT_EQ(destroyed, 2);
    slot.emplace<large>(&seen, &destroyed);
  }
  EXPECT_EQ(destroyed, 3);  // with the signal
  EXPECT_EQ(small_calls, 2);
  EXPECT_EQ(seen, std::vector<int>{4});
}

}  // namespace
