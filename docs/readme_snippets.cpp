// The short tour of README.md, compiled and run. The tour is a whole program: it is
// compiled here under another name (the macro below), so that the real main() can run it
// and compare what it prints with what the README's comments say it prints.
// check_snippets.py verifies that the README's C++ block is the region below.
#include <pidfd/pidfd.hpp>

#include <boost/asio.hpp>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#define main readme_tour
// [tour]
#include <pidfd/pidfd.hpp>
#include <boost/asio.hpp>
#include <iostream>

int main() {
  boost::asio::io_context io;

  // Start a program: the pidfd comes from the clone itself, so it can never name a stranger.
  pidfd::spawn_options options;
  options.stdout_fd = -1;                                  // /dev/null
  pidfd::async_pidfd child(io, pidfd::spawn({"sleep", "5"}, options));

  child.async_wait_for(std::chrono::seconds(1),
      [&](pidfd::error_code ec, pidfd::exit_status status) {
        if (ec == boost::asio::error::timed_out)
          child.async_terminate(std::chrono::seconds(2),   // SIGTERM, then SIGKILL
              [](pidfd::error_code, pidfd::exit_status s) { std::cout << s << "\n"; });
        else
          std::cout << status << "\n";                    // "exited with code 0"
      });
  io.run();                                                // "killed by signal 15 (SIGTERM)"

  // Run a program and collect its output (any completion token; run() is the blocking form).
  pidfd::run_options opts;
  opts.input = "b\na\n";
  opts.timeout = std::chrono::seconds(10);                 // then SIGTERM, SIGKILL after grace
  pidfd::async_run(io, {"sort"}, opts, [](pidfd::error_code ec, pidfd::run_result r) {
    if (!ec) std::cout << r.out << r.status << "\n";      // "a\nb\n" "exited with code 0"
  });
  io.restart();
  io.run();

  // The synchronous core.
  pidfd::pid_fd self = pidfd::pid_fd::self();
  pidfd::credentials c = self.creds();                     // ruid, euid, ...
  std::cout << "euid " << c.euid << "\n";
  pidfd::error_code ec;
  std::uint64_t id = self.id(ec);                          // unique for the boot (Linux 6.9+)
  if (!ec)
    pidfd::pid_fd again = pidfd::pid_fd::open_by_id(id, ec);  // no_such_process once reaped
  return 0;
}
// [end]
#undef main

int main() {
  std::ostringstream out;
  std::streambuf* const console = std::cout.rdbuf(out.rdbuf());
  readme_tour();
  std::cout.rdbuf(console);
  const std::string expected = "killed by signal 15 (SIGTERM)\n"
                               "a\nb\nexited with code 0\n"
                               "euid " + std::to_string(::geteuid()) + "\n";
  if (out.str() != expected) {
    std::fprintf(stderr, "the tour printed:\n%s\ninstead of:\n%s", out.str().c_str(),
                 expected.c_str());
    return 1;
  }
  std::printf("the tour ran as documented\n");
  return 0;
}
