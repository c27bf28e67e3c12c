// Spawn a program with its standard output in a pipe, read that output with Asio, and
// learn its exit status without blocking the io_context.
//
//   spawn_and_wait                 runs: echo hello from a child
//   spawn_and_wait ls -l /         runs the given command (searched for in PATH)
//
// The pidfd comes from the clone itself, so the exit watch below can never pick up some
// other process that happened to reuse the child's PID.
#include <pidfd/pid_fd.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/streambuf.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;

// NOLINTNEXTLINE(bugprone-exception-escape): errors end the example, uncaught
int main(int argc, char** argv) {
  std::vector<std::string> command(argv + 1, argv + argc);
  if (command.empty()) command = {"echo", "hello from a child"};

  asio::io_context io;

  // The child's stdout is the write end of a pipe; stdin is /dev/null.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
  pidfd::unique_fd read_end(fds[0]), write_end(fds[1]);
  pidfd::spawn_options options;
  options.stdin_fd = -1;
  options.stdout_fd = write_end.get();

  pidfd::error_code ec;
  pidfd::pid_fd child = pidfd::spawn(command, options, ec);
  if (ec) {
    std::cerr << "spawn " << command[0] << ": " << ec.message() << '\n';
    return 1;
  }
  write_end.reset();  // only the child holds it now: its exit gives us EOF

  // Read everything the child writes, until EOF.
  asio::posix::stream_descriptor output(io, read_end.release());
  asio::streambuf text;
  asio::async_read(output, text, [&](const pidfd::error_code& e, std::size_t n) {
    if (e && e != asio::error::eof) std::cerr << "read: " << e.message() << '\n';
    std::cout << "child wrote " << n << " bytes:\n" << &text;
  });

  // The pidfd becomes readable when the child exits; wait() then reaps it at once.
  pidfd::exit_status status;
  asio::posix::stream_descriptor exit_watch(io, child.dup().release());
  exit_watch.async_wait(asio::posix::stream_descriptor::wait_read,
                        [&](const pidfd::error_code& e) {
                          if (e) return;
                          status = child.wait();
                          std::cout << "child " << child.pid() << ' ' << status << '\n';
                        });

  io.run();
  return status.success() ? 0 : 1;
}
