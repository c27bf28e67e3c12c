// Waits for child processes in a C++20 coroutine: a plain co_await, then a wait with a
// timeout written as `wait || timer`.
//
//   $ wait_coroutine
//   first child: exited with code 0
//   second child still running after 100 ms: killing it
//   second child: killed by signal 9 (SIGKILL)
#include <pidfd/async_pidfd.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

// fork() + pidfd_open() of our own unreaped child is race-free.
template <class Body>
pidfd::pid_fd start_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  return pidfd::pid_fd::open(pid);
}

bool ok = false;

asio::awaitable<void> supervise(pidfd::pid_fd quick, pidfd::pid_fd stuck) {
  auto ex = co_await asio::this_coro::executor;

  pidfd::async_pidfd first(ex, std::move(quick));
  const pidfd::exit_status s1 = co_await first.async_wait(asio::use_awaitable);
  std::printf("first child: %s\n", s1.to_string().c_str());

  pidfd::async_pidfd second(ex, std::move(stuck));
  asio::steady_timer timer(ex, 100ms);
  // Whichever finishes first cancels the other; a cancelled wait leaves the process alone.
  auto result = co_await (second.async_wait(asio::use_awaitable) ||
                          timer.async_wait(asio::use_awaitable));
  if (result.index() == 1) {
    std::printf("second child still running after 100 ms: killing it\n");
    second.kill();
  }
  const pidfd::exit_status s2 = co_await second.async_wait(asio::use_awaitable);
  std::printf("second child: %s\n", s2.to_string().c_str());
  ok = s1.success() && s2.signal() == SIGKILL;
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): errors end the example, uncaught
int main() {
  pidfd::pid_fd quick = start_child([] {});
  pidfd::pid_fd stuck = start_child([] { for (;;) ::pause(); });

  asio::io_context io;
  asio::co_spawn(io, supervise(std::move(quick), std::move(stuck)),
                 [](const std::exception_ptr& e) {
                   if (e) std::rethrow_exception(e);
                 });
  io.run();
  return ok ? 0 : 1;
}
