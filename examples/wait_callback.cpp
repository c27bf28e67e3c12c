// Starts a few programs with pidfd::spawn, waits for all of them at once with completion
// callbacks, and prints how each ended.
//
//   $ wait_callback
//   true                     exited with code 0
//   sh -c 'exit 3'           exited with code 3
//   sh -c 'kill -KILL $$'    killed by signal 9 (SIGKILL)
//   sleep 60, SIGTERM        killed by signal 15 (SIGTERM)
//
// Every wait is pending at once on one thread; each callback runs when its process ends.
// The status comes from the pidfd: no SIGCHLD handler, no waitpid(-1), no PID reuse race.
#include <pidfd/async_pidfd.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/io_context.hpp>

#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

struct job {
  std::string label;
  pidfd::async_pidfd process;
  pidfd::exit_status status;
};

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): errors end the example, uncaught
int main() {
  boost::asio::io_context io;

  std::vector<job> jobs;
  jobs.reserve(4);
  auto start = [&](std::string label, const std::vector<std::string>& argv) {
    // spawn() gets the pidfd from the clone itself; async_pidfd registers it with io.
    jobs.push_back({std::move(label), pidfd::async_pidfd(io, pidfd::spawn(argv)), {}});
  };
  start("true", {"true"});
  start("sh -c 'exit 3'", {"sh", "-c", "exit 3"});
  start("sh -c 'kill -KILL $$'", {"sh", "-c", "kill -KILL $$"});
  start("sleep 60, SIGTERM", {"sleep", "60"});

  for (job& j : jobs) {
    j.process.async_wait([&j](pidfd::error_code ec, pidfd::exit_status status) {
      if (ec) (void)std::fprintf(stderr, "%s: %s\n", j.label.c_str(), ec.message().c_str());
      j.status = status;
    });
  }
  // Signalled through its pidfd: never a recycled PID.
  jobs[3].process.send_signal(SIGTERM);

  io.run();  // returns when every wait has completed

  for (const job& j : jobs)
    std::printf("%-24s %s\n", j.label.c_str(), j.status.to_string().c_str());

  const bool as_expected = jobs[0].status.code() == 0 && jobs[1].status.code() == 3 &&
                           jobs[2].status.signal() == SIGKILL &&
                           jobs[3].status.signal() == SIGTERM;
  return as_expected ? 0 : 1;
}
