// peer_server: a UNIX-socket server that knows who its clients are.
//
// For each connection it takes the client's pidfd (SO_PEERPIDFD), logs the client's pid,
// uid and cgroup id read through that pidfd, and waits asynchronously for the client
// process to exit. The pidfd names the process that connected, for good: the log is right
// even if the client hands its connection to another process and exits, and even if its
// PID is reused meanwhile.
//
//   peer_server [NAME]                 serve forever on the abstract address @NAME
//   peer_server --client NAME [--hand-off]
//                                      connect, say hello; with --hand-off, pass the
//                                      connection to a child process and exit at once
//   peer_server --self-test            serve one --hand-off client of this program, check
//                                      the log's order, exit 0 on success
#include <pidfd/async_pidfd.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {

stream_protocol::endpoint abstract_endpoint(const std::string& name) {
  return stream_protocol::endpoint(std::string(1, '\0') + name);
}

// What the server saw, in order (the self-test checks it).
struct event_log {
  std::vector<std::string> events;
  void add(const std::string& e) {
    std::cout << "server: " << e << std::endl;
    events.push_back(e);
  }
};

// Waits for the client process to exit and logs its status. async_wait completes once the
// process has exited and its status is known: it reaps our own child, and for any other
// process reads the status the kernel keeps after the reap (PIDFD_INFO_EXIT).
asio::awaitable<void> watch_client(pidfd::pid_fd client, pid_t pid, event_log& log) {
  pidfd::async_pidfd process(co_await asio::this_coro::executor, std::move(client));
  auto [ec, status] = co_await process.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec)
    log.add("client " + std::to_string(pid) + " exited, status unknown: " + ec.message());
  else
    log.add("client " + std::to_string(pid) + " " + status.to_string());
}

asio::awaitable<void> serve_connection(stream_protocol::socket conn, event_log& log) {
  // Who is on the other end, race-free. There is no safe fallback where the kernel lacks
  // SO_PEERPIDFD (before Linux 6.5): refuse the client rather than trust a PID.
  pidfd::error_code ec;
  pidfd::pid_fd client = pidfd::peer_pidfd(conn, ec);
  if (ec) {
    log.add("refusing a client: " + ec.message());
    co_return;
  }
  const pidfd::process_info info = client.info();
  log.add("client pid=" + std::to_string(info.pid) + " uid=" + std::to_string(info.creds.euid) +
          " cgroup=" + std::to_string(info.cgroup_id));
  asio::co_spawn(co_await asio::this_coro::executor,
                 watch_client(std::move(client), info.pid, log), asio::detached);

  std::string buffer;
  for (;;) {
    auto [ec, n] = co_await asio::async_read_until(conn, asio::dynamic_buffer(buffer), '\n',
                                                   asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    const std::string line = buffer.substr(0, n - 1);
    buffer.erase(0, n);
    log.add("from " + std::to_string(info.pid) + ": " + line);
    // Tell whoever holds the connection now that we are done.
    co_await asio::async_write(conn, asio::buffer(std::string("bye\n")), asio::use_awaitable);
  }
  log.add("connection of client " + std::to_string(info.pid) + " closed");
}

asio::awaitable<void> serve(stream_protocol::acceptor& acceptor, event_log& log,
                            int connections) {
  for (int served = 0; connections < 0 || served < connections; ++served) {
    stream_protocol::socket conn = co_await acceptor.async_accept(asio::use_awaitable);
    if (connections < 0)
      asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(conn), log),
                     asio::detached);
    else
      co_await serve_connection(std::move(conn), log);
  }
}

int run_client(const std::string& name, bool hand_off) {
  asio::io_context io;
  stream_protocol::socket conn(io);
  conn.connect(abstract_endpoint(name));
  if (hand_off) {
    // Pass the connection to a child process and exit: the server still sees *this*
    // process as its client, and sees it exit while the connection stays open.
    pidfd::pid_fd self = pidfd::pid_fd::self();
    const pid_t helper = ::fork();
    if (helper < 0) return 2;
    if (helper > 0) {
      std::cout << "client " << ::getpid() << ": handed the connection to " << helper
                << " and exits" << std::endl;
      return 0;
    }
    // The helper speaks only once the client is gone, so the server's log usually shows
    // the exit first. With pidfs (6.9+) the pidfd reports POLLHUP once the server (its
    // parent) has reaped it; older kernels only report the exit itself.
    if (pidfd::kernel_support().pidfs) {
      pollfd p{self.native_handle(), 0, 0};
      while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
      }
    } else {
      pidfd::error_code ignored;
      self.wait(ignored);
    }
  }
  asio::write(conn, asio::buffer("hello from " + std::to_string(::getpid()) + "\n"));
  asio::streambuf reply;
  asio::read_until(conn, reply, '\n');
  return 0;
}

int self_test(const char* argv0) {
  const std::string name = "asio-pidfd-peer-server-" + std::to_string(::getpid());
  asio::io_context io;
  stream_protocol::acceptor acceptor(io, abstract_endpoint(name));
  event_log log;
  // Without SO_PEERPIDFD the server refuses the client; the hand-off would only leave a
  // helper process behind.
  const bool supported = pidfd::kernel_support().peer_pidfd;

  const pid_t client = ::fork();
  if (client < 0) return 1;
  if (client == 0) {
    ::execl("/proc/self/exe", argv0, "--client", name.c_str(),
            supported ? "--hand-off" : nullptr, nullptr);
    ::_exit(127);
  }

  bool done = false;
  asio::co_spawn(io, serve(acceptor, log, 1), [&](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
    done = true;
  });
  io.run_for(std::chrono::seconds(30));

  const std::string c = std::to_string(client);
  bool ok = false;
  if (supported) {
    // The client's identity, its exit while the helper still holds the connection, the
    // helper's line, then the end of the connection.
    // The exit and the helper's line race where the kernel cannot tell the helper about
    // the reap (no pidfs), and the server learns the status only at the reap: either
    // order of those two is right.
    const std::string exited = "client " + c + " exited with code 0";
    const std::string from = "from " + c + ": hello from ";
    ok = done && log.events.size() == 4 &&
         log.events[0].rfind("client pid=" + c + " uid=", 0) == 0 &&
         ((log.events[1] == exited && log.events[2].rfind(from, 0) == 0) ||
          (log.events[2] == exited && log.events[1].rfind(from, 0) == 0)) &&
         log.events[3] == "connection of client " + c + " closed";
  } else {
    // The refused client sees the connection closed and fails; we reap it.
    int status = 0;
    ok = done && log.events.size() == 1 &&
         log.events[0] == "refusing a client: " +
                              pidfd::error_code(boost::system::errc::make_error_code(
                                                    boost::system::errc::operation_not_supported))
                                  .message() &&
         ::waitpid(client, &status, 0) == client && WIFEXITED(status) &&
         WEXITSTATUS(status) == 1;
  }
  std::cout << "self-test " << (ok ? "passed" : "FAILED") << std::endl;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "--self-test") return self_test(argv[0]);
    if (args.size() >= 2 && args[0] == "--client")
      return run_client(args[1], args.size() >= 3 && args[2] == "--hand-off");
    const std::string name = args.empty() ? "asio-pidfd-peer-server" : args[0];
    asio::io_context io;
    stream_protocol::acceptor acceptor(io, abstract_endpoint(name));
    event_log log;
    std::cout << "listening on @" << name << std::endl;
    asio::co_spawn(io, serve(acceptor, log, -1), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "peer_server: " << e.what() << std::endl;
    return 1;
  }
}
