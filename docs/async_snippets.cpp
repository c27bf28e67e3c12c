// The code snippets of docs/async.md. Every fenced C++ block of that page is a region
// between "// [name]" and "// [end]" here; check_snippets.py verifies they match, and
// this program runs each one against real child processes.
#include "snippet_check.hpp"

#include <pidfd/async_pidfd.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <variant>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::error_code;
using pidfd::exit_status;

namespace {

// A child that exits with `code`, or that waits for signals when code < 0.
pidfd::pid_fd start_child(int code) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (code >= 0) ::_exit(code);
    for (;;) ::pause();
  }
  return pidfd::pid_fd::open(pid);
}

void callback() {
  asio::io_context io;
  pidfd::pid_fd fd = start_child(3);
  // [callback]
  pidfd::async_pidfd child(io, std::move(fd));
  child.async_wait([](error_code ec, exit_status status) {
    if (ec)
      std::printf("wait failed: %s\n", ec.message().c_str());
    else
      std::printf("%s\n", status.to_string().c_str());  // "exited with code 3"
  });
  io.run();
  // [end]
  expect(child.core().cached_status() == exit_status::from_wait_status(3 << 8), "callback");
}

void move_only() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(0));
  // [move_only]
  auto log = std::make_unique<std::string>("job 17");
  child.async_wait([log = std::move(log)](error_code, exit_status status) {
    std::printf("%s: %s\n", log->c_str(), status.to_string().c_str());
  });
  // [end]
  io.run();
  expect(child.core().cached_status().has_value(), "move_only");
}

void future() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(5));
  auto work = asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  // [future]
  std::future<exit_status> f = child.async_wait(asio::use_future);
  exit_status status = f.get();  // an error arrives as a thrown pidfd::system_error
  // [end]
  work.reset();
  runner.join();
  expect(status.code() == 5, "future");
}

// [coroutine]
asio::awaitable<void> run_job(pidfd::pid_fd fd) {
  pidfd::async_pidfd child(co_await asio::this_coro::executor, std::move(fd));
  exit_status status = co_await child.async_wait(asio::use_awaitable);
  std::printf("job: %s\n", status.to_string().c_str());
}
// [end]

void coroutine() {
  asio::io_context io;
  bool done = false;
  asio::co_spawn(io, run_job(start_child(0)), [&](std::exception_ptr e) { done = !e; });
  io.run();
  expect(done, "coroutine");
}

asio::awaitable<void> as_tuple_body(pidfd::async_pidfd& child) {
  // [as_tuple]
  auto [ec, status] = co_await child.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec == pidfd::errc::status_unavailable)
    std::printf("it ended, but its status cannot be known\n");
  // [end]
  expect(!ec && status.code() == 4, "as_tuple");
}

void as_tuple() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(4));
  asio::co_spawn(io, as_tuple_body(child), asio::detached);
  io.run();
}

// [default_on]
using tuple_pidfd =
    asio::as_tuple_t<asio::use_awaitable_t<>>::as_default_on_t<pidfd::async_pidfd>;

asio::awaitable<exit_status> run_quietly(tuple_pidfd& child) {
  auto [ec, status] = co_await child.async_wait();  // no token needed
  co_return status;
}
// [end]

void default_on() {
  asio::io_context io;
  tuple_pidfd child(io, start_child(6));
  exit_status got;
  asio::co_spawn(io, run_quietly(child), [&](std::exception_ptr, exit_status s) { got = s; });
  io.run();
  expect(got.code() == 6, "default_on");
}

void deferred() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(0));
  exit_status got;
  // [deferred]
  auto op = child.async_wait(asio::deferred);  // nothing happens yet
  std::move(op)([&](error_code, exit_status status) { got = status; });  // now it starts
  // [end]
  io.run();
  expect(got.success(), "deferred");
}

void wait_for() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(-1));
  // [wait_for]
  child.async_wait_for(500ms, [&](error_code ec, exit_status status) {
    if (ec == asio::error::timed_out) {
      child.kill();  // the process was left alone: stopping it is our call
      child.async_wait([](error_code, exit_status s) {
        std::printf("%s\n", s.to_string().c_str());
      });
    } else if (!ec) {
      std::printf("ended in time: %s\n", status.to_string().c_str());
    }
  });
  // [end]
  io.run();
  expect(child.core().cached_status() == exit_status::from_wait_status(SIGKILL), "wait_for");
}

// [or_timer]
asio::awaitable<exit_status> stop_if_slow(pidfd::async_pidfd& child) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
  auto result = co_await (child.async_wait(asio::use_awaitable) ||
                          timer.async_wait(asio::use_awaitable));
  if (result.index() == 0) co_return std::get<0>(result);  // it ended in time
  child.send_signal(SIGTERM);  // the timer won; the cancelled wait left the process alone
  co_return co_await child.async_wait(asio::use_awaitable);
}
// [end]

void or_timer() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(-1));
  exit_status got;
  asio::co_spawn(io, stop_if_slow(child), [&](std::exception_ptr, exit_status s) { got = s; });
  io.run();
  expect(got.signal() == SIGTERM, "or_timer");
}

void parallel_group() {
  asio::io_context io;
  pidfd::async_pidfd a(io, start_child(1)), b(io, start_child(2));
  int sum = 0;
  // [parallel_group]
  asio::experimental::make_parallel_group(a.async_wait(asio::deferred),
                                          b.async_wait(asio::deferred))
      .async_wait(asio::experimental::wait_for_all(),
                  // Bind the handler: a group's handler without an associated executor
                  // runs on the system executor's threads, not on the io_context.
                  asio::bind_executor(io, [&](std::array<std::size_t, 2>, error_code,
                                              exit_status sa, error_code, exit_status sb) {
                    sum = *sa.code() + *sb.code();
                  }));
  // [end]
  io.run();
  expect(sum == 3, "parallel_group");
}

void cancellation() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(-1));
  error_code got;
  // [cancellation]
  asio::cancellation_signal stop;
  child.async_wait(asio::bind_cancellation_slot(stop.slot(), [&](error_code ec, exit_status) {
    got = ec;  // asio::error::operation_aborted; the process runs on
  }));
  stop.emit(asio::cancellation_type::terminal);  // partial and total work the same way
  // [end]
  io.run();
  expect(got == asio::error::operation_aborted, "cancellation");
  child.kill();
  child.core().wait();
}

void terminate() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(-1));
  exit_status got;
  // [terminate]
  child.async_terminate(2s, [&](error_code ec, exit_status status) {
    if (!ec) got = status;  // "killed by signal 15 (SIGTERM)", or SIGKILL after 2 s
  });
  // [end]
  io.run();
  expect(got.signal() == SIGTERM, "terminate");
}

void strand() {
  asio::io_context io;
  pidfd::async_pidfd child(io, start_child(0));
  bool in_strand = false;
  // [strand]
  auto strand = asio::make_strand(io);
  child.async_wait(asio::bind_executor(strand, [&](error_code, exit_status) {
    in_strand = strand.running_in_this_thread();  // true
  }));
  // [end]
  io.run();
  expect(in_strand, "strand");
}

}  // namespace

int main() {
  callback();
  move_only();
  future();
  coroutine();
  as_tuple();
  default_on();
  deferred();
  wait_for();
  or_timer();
  parallel_group();
  cancellation();
  terminate();
  strand();
  return snippets_result();
}
