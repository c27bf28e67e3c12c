// The code snippets of docs/local_sockets.md. Every fenced C++ block of that page is a
// region between "// [name]" and "// [end]" here; check_snippets.py verifies they match,
// and this program runs each one on a socket pair. The peer of a socket pair is the
// process that made it, so every pidfd these snippets receive names this very process.
#include "snippet_check.hpp"

#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using pidfd::error_code;

namespace {

// SO_PEERPIDFD and SO_PASSPIDFD (Linux 6.5); without them the snippets that need them
// must fail with the documented error.
bool kernel_has_peer_pidfd() { return pidfd::kernel_support().peer_pidfd; }

// --- examples/peer_server.cpp ----------------------------------------------------------

struct event_log {
  std::vector<std::string> events;
  void add(const std::string& e) { events.push_back(e); }
};

// The example waits for the client to exit here. The client of a socket pair is this very
// process, which cannot wait for itself: record whom it would watch.
asio::awaitable<void> watch_client(pidfd::pid_fd client, pid_t pid, event_log& log) {
  log.add("watching " + std::to_string(pid) + (client.pid() == pid ? "" : " (wrong pidfd)"));
  co_return;
}

asio::awaitable<void> serve_connection(asio::local::stream_protocol::socket conn,
                                       event_log& log) {
  // [peer_server]
  pidfd::error_code ec;
  pidfd::pid_fd client = pidfd::peer_pidfd(conn, ec);
  if (ec) {                              // before Linux 6.5: refuse, don't trust a PID
    log.add("refusing a client: " + ec.message());
    co_return;
  }
  const pidfd::process_info info = client.info();
  log.add("client pid=" + std::to_string(info.pid) + " uid=" + std::to_string(info.creds.euid) +
          " cgroup=" + std::to_string(info.cgroup_id));
  asio::co_spawn(co_await asio::this_coro::executor,
                 watch_client(std::move(client), info.pid, log), asio::detached);
  // [end]
}

void peer_server() {
  asio::io_context io;
  asio::local::stream_protocol::socket conn(io), client(io);
  asio::local::connect_pair(conn, client);
  event_log log;
  asio::co_spawn(io, serve_connection(std::move(conn), log), asio::detached);
  io.run();
  if (!kernel_has_peer_pidfd()) {
    const error_code unsupported(EOPNOTSUPP, boost::system::system_category());
    expect(log.events == std::vector<std::string>{"refusing a client: " + unsupported.message()},
           "peer_server: refused without SO_PEERPIDFD");
    return;
  }
  const pidfd::process_info self = pidfd::pid_fd::self().info();
  const std::string pid = std::to_string(::getpid());
  expect(log.events == std::vector<std::string>{"client pid=" + pid + " uid=" +
                                                    std::to_string(::geteuid()) + " cgroup=" +
                                                    std::to_string(self.cgroup_id),
                                                "watching " + pid},
         "peer_server: the log");
}

// --- send_pidfd / receive_pidfd --------------------------------------------------------

void send_receive() {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  // [send_receive]
  // a and b: the two ends of a connection, usually in two processes
  pidfd::send_pidfd(a, pidfd::pid_fd::self());   // one message: 1 byte + SCM_RIGHTS
  pidfd::pid_fd p = pidfd::receive_pidfd(b);     // the receiver's own pidfd for it
  // [end]
  expect(p.is_open() && p.pid() == ::getpid(), "send_receive: a pidfd of this process");
  if (pidfd::kernel_support().pidfs)
    expect(p.id() == pidfd::pid_fd::self().id(), "send_receive: the same process id()");
}

// --- enable_sender_pidfd / receive_with_sender -----------------------------------------

template <class Socket>
pidfd::received_message receive_one_with_sender(Socket& socket) {
  // [sender]
  pidfd::enable_sender_pidfd(socket);                         // SO_PASSPIDFD
  char buf[256];
  auto [bytes, sender] = pidfd::receive_with_sender(socket, asio::buffer(buf));
  // [end]
  return {bytes, std::move(sender)};
}

void sender() {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io), peer(io);
  asio::local::connect_pair(socket, peer);
  if (!kernel_has_peer_pidfd()) {
    error_code ec;
    pidfd::enable_sender_pidfd(socket, ec);
    expect(ec == boost::system::errc::operation_not_supported,
           "sender: operation_not_supported without SO_PASSPIDFD");
    return;
  }
  // The kernel attaches the sender's pidfd to what is sent once SO_PASSPIDFD is set: set it
  // before the peer writes (the snippet's own call then changes nothing), so that the
  // snippet's blocking receive finds the message there.
  pidfd::enable_sender_pidfd(socket);
  asio::write(peer, asio::buffer("hello", 5));
  const pidfd::received_message m = receive_one_with_sender(socket);
  expect(m.bytes == 5 && m.sender.pid() == ::getpid(), "sender: 5 bytes from this process");
}

// --- Asynchronous forms ----------------------------------------------------------------

template <class Socket, class Buffers, class Token>
void start_async_forms(Socket& socket, const pidfd::pid_fd& p, const Buffers& buffers,
                       Token token) {
  // [async_forms]
  pidfd::async_send_pidfd(socket, p, token);                   // void(error_code)
  pidfd::async_receive_pidfd(socket, token);                   // void(error_code, pid_fd)
  pidfd::async_receive_with_sender(socket, buffers, token);    // void(error_code, size_t, pid_fd)
  // [end]
}

// A completion handler for all three operations: counts the results that are as expected.
struct tally {
  struct counts {
    int sent = 0, received = 0, with_sender = 0, other = 0;
  };
  counts* c;
  bool senders;
  void operator()(error_code ec) const { ++(ec ? c->other : c->sent); }
  void operator()(error_code ec, pidfd::pid_fd p) const {
    ++(!ec && p.pid() == ::getpid() ? c->received : c->other);
  }
  void operator()(error_code ec, std::size_t n, pidfd::pid_fd sender) const {
    // The message is one of send_pidfd's: 1 byte (its descriptor is closed).
    const bool ok = senders ? !ec && n == 1 && sender.pid() == ::getpid()
                            : ec == boost::system::errc::no_message && n == 1;
    ++(ok ? c->with_sender : c->other);
  }
};

void async_forms() {
  asio::io_context io;
  asio::local::datagram_protocol::socket socket(io), peer(io);
  asio::local::connect_pair(socket, peer);
  const bool senders = kernel_has_peer_pidfd();
  if (senders) pidfd::enable_sender_pidfd(socket);
  // Two messages for the two receives, alike, so that it does not matter which receive
  // takes which.
  pidfd::send_pidfd(peer, pidfd::pid_fd::self());
  pidfd::send_pidfd(peer, pidfd::pid_fd::self());
  const pidfd::pid_fd p = pidfd::pid_fd::self();
  char buf[16];
  tally::counts counts;
  start_async_forms(socket, p, asio::buffer(buf), tally{&counts, senders});
  io.run();
  expect(counts.sent == 1 && counts.received == 1 && counts.with_sender == 1 &&
             counts.other == 0,
         "async_forms: each operation completed as documented");
  const pidfd::pid_fd arrived = pidfd::receive_pidfd(peer);
  expect(arrived.pid() == ::getpid(), "async_forms: the peer received the sent pidfd");
}

template <class Socket>
asio::awaitable<void> receive_in_coroutine(Socket& socket, std::string& text) {
  char buf[16] = {};
  // [async_coroutine]
  pidfd::pid_fd received = co_await pidfd::async_receive_pidfd(socket, asio::use_awaitable);
  auto [n, sender] = co_await pidfd::async_receive_with_sender(socket, asio::buffer(buf),
                                                               asio::use_awaitable);
  // [end]
  if (received.pid() == ::getpid() && sender.pid() == ::getpid())
    text.assign(buf, n);
}

void async_coroutine() {
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io), peer(io);
  asio::local::connect_pair(socket, peer);
  const bool senders = kernel_has_peer_pidfd();
  if (senders) pidfd::enable_sender_pidfd(socket);
  // The read that takes the first message stops after it, as it carries a descriptor.
  pidfd::send_pidfd(peer, pidfd::pid_fd::self());
  asio::write(peer, asio::buffer("hello", 5));
  std::string text;
  error_code failed;
  asio::co_spawn(io, receive_in_coroutine(socket, text), [&](std::exception_ptr e) {
    try {
      if (e) std::rethrow_exception(e);
    } catch (const pidfd::system_error& x) {
      failed = x.code();
    }
  });
  io.run();
  if (senders)
    expect(!failed && text == "hello", "async_coroutine: a pidfd, then hello from us");
  else
    expect(failed == boost::system::errc::no_message,
           "async_coroutine: no_message without SO_PASSPIDFD");
}

}  // namespace

int main() {
  peer_server();
  send_receive();
  sender();
  async_forms();
  async_coroutine();
  return snippets_result();
}
