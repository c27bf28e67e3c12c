// Waits for a child process from plain synchronous code, with std::future, while an
// io_context runs on a background thread.
//
//   $ wait_future
//   child 4242 exited with code 7
#include <pidfd/async_pidfd.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <unistd.h>

#include <cstdio>
#include <future>
#include <thread>

// NOLINTNEXTLINE(bugprone-exception-escape): errors end the example, uncaught
int main() {
  // fork() before any thread exists; pidfd_open() of our own unreaped child is race-free.
  const pid_t pid = ::fork();
  if (pid < 0) return 2;
  if (pid == 0) ::_exit(7);

  boost::asio::io_context io;
  pidfd::async_pidfd child(io, pidfd::pid_fd::open(pid));

  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });

  // use_future: the status arrives through the future; an error would be thrown by get().
  std::future<pidfd::exit_status> status = child.async_wait(boost::asio::use_future);
  const pidfd::exit_status s = status.get();
  std::printf("child %d %s\n", static_cast<int>(child.pid()), s.to_string().c_str());

  work.reset();
  runner.join();
  return s.code() == 7 ? 0 : 1;
}
