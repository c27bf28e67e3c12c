// Stops child processes gracefully with async_terminate: SIGTERM, then SIGKILL if the
// process is still there after a grace period.
//
//   $ terminate
//   polite child: killed by signal 15 (SIGTERM)
//   stubborn child (ignores SIGTERM): killed by signal 9 (SIGKILL)
#include <pidfd/async_pidfd.hpp>

#include <boost/asio/io_context.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

using namespace std::chrono_literals;

namespace {

// Starts a child that optionally ignores SIGTERM and then waits for signals. It reports
// through a pipe once its signal disposition is set, so that SIGTERM is not sent earlier.
pidfd::pid_fd start_child(bool ignore_sigterm) {
  int ready[2];
  if (::pipe(ready) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (ignore_sigterm && ::signal(SIGTERM, SIG_IGN) == SIG_ERR) ::_exit(127);
    const char c = 'R';
    (void)!::write(ready[1], &c, 1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c;
  (void)!::read(ready[0], &c, 1);
  ::close(ready[0]);
  return pidfd::pid_fd::open(pid);  // our own unreaped child: race-free
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): errors end the example, uncaught
int main() {
  boost::asio::io_context io;
  pidfd::async_pidfd polite(io, start_child(false));
  pidfd::async_pidfd stubborn(io, start_child(true));

  int as_expected = 0;
  polite.async_terminate(2s, [&](pidfd::error_code ec, pidfd::exit_status s) {
    std::printf("polite child: %s\n", ec ? ec.message().c_str() : s.to_string().c_str());
    as_expected += s.signal() == SIGTERM;
  });
  stubborn.async_terminate(200ms, [&](pidfd::error_code ec, pidfd::exit_status s) {
    std::printf("stubborn child (ignores SIGTERM): %s\n",
                ec ? ec.message().c_str() : s.to_string().c_str());
    as_expected += s.signal() == SIGKILL;
  });
  io.run();
  return as_expected == 2 ? 0 : 1;
}
