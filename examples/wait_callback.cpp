// Waits for several child processes with completion callbacks and prints how each ended.
//
//   $ wait_callback
//   exit(0)            exited with code 0
//   exit(3)            exited with code 3
//   raise(SIGKILL)     killed by signal 9 (SIGKILL)
//   SIGTERM from us    killed by signal 15 (SIGTERM)
//
// All four waits are pending at once on one thread; each callback runs when its process
// ends. The exit status comes straight from the pidfd: no SIGCHLD handler, no waitpid(-1).
#include <pidfd/async_pidfd.hpp>

#include <boost/asio/io_context.hpp>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// Starts a child running body(). fork() and then pidfd_open() is race-free for our own
// child: nobody else reaps it, so its PID cannot be reused before we hold the pidfd.
// (pidfd::spawn() starts programs with the pidfd created by the clone itself.)
template <class Body>
pidfd::pid_fd start_child(Body body) {
  const pid_t pid = ::fork();
  if (pid < 0)
    throw pidfd::system_error(pidfd::error_code(errno, boost::system::system_category()), "fork");
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  return pidfd::pid_fd::open(pid);
}

struct watched {
  std::string what;
  pidfd::async_pidfd process;
  pidfd::exit_status status;
};

}  // namespace

int main() {
  boost::asio::io_context io;

  std::vector<watched> children;
  children.reserve(4);
  children.push_back({"exit(0)", pidfd::async_pidfd(io, start_child([] { ::_exit(0); })), {}});
  children.push_back({"exit(3)", pidfd::async_pidfd(io, start_child([] { ::_exit(3); })), {}});
  children.push_back(
      {"raise(SIGKILL)", pidfd::async_pidfd(io, start_child([] { ::raise(SIGKILL); })), {}});
  children.push_back(
      {"SIGTERM from us", pidfd::async_pidfd(io, start_child([] { for (;;) ::pause(); })), {}});

  for (watched& c : children) {
    c.process.async_wait([&c](pidfd::error_code ec, pidfd::exit_status status) {
      if (ec) std::fprintf(stderr, "%s: %s\n", c.what.c_str(), ec.message().c_str());
      c.status = status;
    });
  }
  // Signalled through its pidfd: it cannot hit a recycled PID.
  children[3].process.send_signal(SIGTERM);

  io.run();  // returns when every wait has completed

  for (const watched& c : children)
    std::printf("%-18s %s\n", c.what.c_str(), c.status.to_string().c_str());

  const bool as_expected = children[0].status.code() == 0 && children[1].status.code() == 3 &&
                           children[2].status.signal() == SIGKILL &&
                           children[3].status.signal() == SIGTERM;
  return as_expected ? 0 : 1;
}
