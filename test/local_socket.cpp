// Tests of <pidfd/local_socket.hpp>: SO_PEERPIDFD, passing pidfds (SCM_RIGHTS), the
// sender's pidfd (SO_PASSPIDFD + SCM_PIDFD), sync and async, against the real kernel.
#include <pidfd/detail/linux.hpp>
#include <pidfd/async_pidfd.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>

#include "io_fixture.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using asio::local::datagram_protocol;
using asio::local::stream_protocol;
using pidfd::error_code;
using pidfd::pid_fd;
using pidfd_test::wait_bound;
using seqpacket = asio::generic::seq_packet_protocol;

const error_code not_supported =
    error_code(EOPNOTSUPP, boost::system::system_category());
const error_code no_such_process =
    error_code(ESRCH, boost::system::system_category());
const error_code no_message =
    error_code(ENOMSG, boost::system::system_category());

bool have_peer_pidfd() { return pidfd::kernel_support().peer_pidfd; }

// Whether the kernel lacks SO_PEERPIDFD / SO_PASSPIDFD (before Linux 6.5), having checked
// that the call that gave `ec` then failed with exactly not_supported: a test stops there.
bool without_peer_pidfd(const error_code& ec) {
  if (have_peer_pidfd()) return false;
  EXPECT_EQ(ec, not_supported);
  return true;
}

// A unique abstract-namespace address; the child program spells it with a leading '@'.
struct abstract_name {
  std::string child_form;
  stream_protocol::endpoint endpoint;
};
abstract_name make_abstract_name() {
  static std::atomic<int> counter{0};
  const std::string name = "asio-pidfd-test-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter++);
  return {"@" + name, stream_protocol::endpoint(std::string(1, '\0') + name)};
}

// The same process, by pidfs id where the kernel has it, and by pid.
void expect_same_process(const pid_fd& a, const pid_fd& b) {
  if (pidfd::kernel_support().pidfs) {
    EXPECT_EQ(a.id(), b.id());
  }
  EXPECT_EQ(a.pid(), b.pid());
}

// A pidfd of a process that is not our child (any more) and has been reaped: its status
// comes from PIDFD_INFO_EXIT (a 6.16 kernel always has it, 6.15; only the pretend switch
// can take it away, and then wait() gives the documented status_unavailable).
void expect_status_of_reaped(pid_fd& p, int code) {
  ASSERT_TRUE(pidfd_test::wait_readable(p.native_handle()));
  error_code ec;
  const pidfd::exit_status status = p.wait(ec);
  if (pidfd::kernel_support().info_exit) {
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(status.exited());
    EXPECT_EQ(status.code(), code);
  } else {
    EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  }
}

// A UNIX seqpacket pair through Asio's generic protocol (Boost 1.81 has no local one).
std::pair<seqpacket::socket, seqpacket::socket> seqpacket_pair(asio::io_context& io) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair failed");
  seqpacket::socket a(io, seqpacket(AF_UNIX, 0), fds[0]);
  seqpacket::socket b(io, seqpacket(AF_UNIX, 0), fds[1]);
  return {std::move(a), std::move(b)};
}

using pidfd_test::send_raw;

class LocalSocket : public pidfd_test::io_fixture {
protected:
  std::pair<stream_protocol::socket, stream_protocol::socket> stream_pair() {
    stream_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    return {std::move(a), std::move(b)};
  }

  // enable_sender_pidfd(s): true where it worked; false where the kernel lacks
  // SO_PASSPIDFD, having checked that it failed with exactly not_supported.
  bool enable_sender(stream_protocol::socket& s) {
    error_code ec;
    pidfd::enable_sender_pidfd(s, ec);
    if (without_peer_pidfd(ec)) return false;
    EXPECT_FALSE(ec) << ec.message();
    return !ec;
  }
};

// ---------------------------------------------------------------------------------------
// peer_pidfd

using LocalSocketPeer = LocalSocket;

TEST_F(LocalSocketPeer, StreamPairPeerIsThisProcess) {
  auto [a, b] = stream_pair();
  error_code ec;
  pid_fd p = pidfd::peer_pidfd(a, ec);
  if (without_peer_pidfd(ec)) {
    EXPECT_FALSE(p.is_open());
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(p.is_open());
  EXPECT_EQ(p.pid(), ::getpid());
  expect_same_process(p, pid_fd::self());
  EXPECT_EQ(p.creds(), pid_fd::self().creds());
  EXPECT_EQ(::fcntl(p.native_handle(), F_GETFD), FD_CLOEXEC);
  // The throwing form gives the same process.
  pid_fd q = pidfd::peer_pidfd(b);
  expect_same_process(q, p);
}

TEST_F(LocalSocketPeer, DatagramAndSeqpacketPairs) {
  datagram_protocol::socket d1(io), d2(io);
  asio::local::connect_pair(d1, d2);
  auto [s1, s2] = seqpacket_pair(io);
  error_code ec1, ec2;
  pid_fd from_datagram = pidfd::peer_pidfd(d2, ec1);
  pid_fd from_seqpacket = pidfd::peer_pidfd(s2, ec2);
  if (without_peer_pidfd(ec1)) {
    EXPECT_EQ(ec2, not_supported);
    return;
  }
  ASSERT_FALSE(ec1) << ec1.message();
  ASSERT_FALSE(ec2) << ec2.message();
  EXPECT_EQ(from_datagram.pid(), ::getpid());
  EXPECT_EQ(from_seqpacket.pid(), ::getpid());
  expect_same_process(from_datagram, from_seqpacket);
}

TEST_F(LocalSocketPeer, AcceptedConnectionFromChild) {
  const abstract_name name = make_abstract_name();
  stream_protocol::acceptor acceptor(io, name.endpoint);
  auto ready = pidfd_test::make_pipe();
  auto go = pidfd_test::make_pipe();
  // fd 3: report, fd 4: wait for our byte; fd 5: the connection.
  pid_fd child = pidfd_test::start_child(
      {"connect", name.child_form, "5", "report", "3", "wait-byte", "4", "exit", "3"},
      {{3, ready.write.get()}, {4, go.read.get()}});
  ready.write.reset();
  go.read.reset();
  const std::string report = pidfd_test::read_line(ready.read.get());
  stream_protocol::socket conn = acceptor.accept();

  error_code ec;
  pid_fd peer = pidfd::peer_pidfd(conn, ec);
  if (without_peer_pidfd(ec)) {
    pidfd_test::write_byte(go.write.get());
    EXPECT_EQ(pidfd_test::bounded_wait(child).code(), 3);
    return;
  }
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(peer.pid(), std::stoi(pidfd_test::field(report, "pid")));
  EXPECT_EQ(peer.pid(), child.pid());
  expect_same_process(peer, child);
  const pidfd::credentials creds = peer.creds();
  EXPECT_EQ(creds.euid, static_cast<uid_t>(std::stoul(pidfd_test::field(report, "euid"))));
  EXPECT_EQ(creds.ruid, static_cast<uid_t>(std::stoul(pidfd_test::field(report, "uid"))));
  EXPECT_EQ(creds.egid, static_cast<gid_t>(std::stoul(pidfd_test::field(report, "egid"))));
  EXPECT_EQ(peer.info().ppid, ::getpid());
  EXPECT_EQ(peer.cgroup_id(), child.cgroup_id());
  EXPECT_FALSE(peer.has_exited());

  // After the child exits, the peer's pidfd reports its status (it is our child, so the
  // peer pidfd's wait() reaps it).
  pidfd_test::write_byte(go.write.get());
  const pidfd::exit_status status = pidfd_test::bounded_wait(peer);
  EXPECT_TRUE(status.exited());
  EXPECT_EQ(status.code(), 3);
}

TEST_F(LocalSocketPeer, PeerReapedBeforeTheCall) {
  const abstract_name name = make_abstract_name();
  stream_protocol::acceptor acceptor(io, name.endpoint);
  pid_fd child = pidfd_test::start_child({"connect", name.child_form, "3", "exit", "4"});
  std::optional<std::uint64_t> child_id;
  if (pidfd::kernel_support().pidfs) child_id = child.id();
  EXPECT_EQ(pidfd_test::bounded_wait(child).code(), 4);  // exited and reaped
  stream_protocol::socket conn = acceptor.accept();        // still queued

  error_code ec;
  pid_fd peer = pidfd::peer_pidfd(conn, ec);
  if (without_peer_pidfd(ec)) return;
  // Linux 6.16 keeps the peer's pid registered with pidfs, so a pidfd can still be made;
  // 6.5 to 6.15 fail (EINVAL, reported as no_such_process). No feature flag says which:
  // the outcome itself tells.
  if (ec) {
    EXPECT_EQ(ec, no_such_process);
    EXPECT_FALSE(peer.is_open());
    RecordProperty("peer_reaped", "no_such_process (kernel before 6.16)");
    return;
  }
  RecordProperty("peer_reaped", "pidfd (kernel 6.16+)");
  ASSERT_TRUE(peer.is_open());
  EXPECT_TRUE(peer.has_exited());
  if (child_id) {
    EXPECT_EQ(peer.id(), *child_id);
  }
  // The pid could not be recorded any more (the process is gone).
  error_code pid_ec;
  peer.pid(pid_ec);
  EXPECT_EQ(pid_ec, no_such_process);
  expect_status_of_reaped(peer, 4);
}

TEST_F(LocalSocketPeer, SocketWithoutPeerOrClosed) {
  stream_protocol::socket unconnected(io, stream_protocol());
  error_code ec;
  pid_fd p = pidfd::peer_pidfd(unconnected, ec);
  if (have_peer_pidfd()) {
    EXPECT_EQ(ec, asio::error::not_connected);
  } else {
    EXPECT_EQ(ec, not_supported);
  }
  EXPECT_FALSE(p.is_open());

  stream_protocol::socket closed(io);
  pidfd::peer_pidfd(closed, ec);
  EXPECT_EQ(ec, asio::error::bad_descriptor);
  try {
    pidfd::peer_pidfd(closed);
    ADD_FAILURE() << "peer_pidfd of a closed socket did not throw";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), asio::error::bad_descriptor);
  }
}

TEST_F(LocalSocketPeer, GenericSocketOfAnotherFamilyIsRejected) {
  // A TCP socket wrapped as a generic seqpacket socket: the family check must catch it
  // (Asio's assign() does not look at the descriptor).
  const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(tcp, 0);
  seqpacket::socket s(io, seqpacket(AF_INET, 0), tcp);
  error_code ec;
  pidfd::peer_pidfd(s, ec);
  EXPECT_EQ(ec, asio::error::address_family_not_supported);
  pidfd::send_pidfd(s, pid_fd::self(), ec);
  EXPECT_EQ(ec, asio::error::address_family_not_supported);
  pidfd::receive_pidfd(s, ec);
  EXPECT_EQ(ec, asio::error::address_family_not_supported);
}

// ---------------------------------------------------------------------------------------
// send_pidfd / receive_pidfd, synchronous

using LocalSocketPass = LocalSocket;

TEST_F(LocalSocketPass, WithinThisProcessOnEachProtocol) {
  const pid_fd self = pid_fd::self();
  {
    auto [a, b] = stream_pair();
    pidfd::send_pidfd(a, self);
    pid_fd got = pidfd::receive_pidfd(b);
    expect_same_process(got, self);
    EXPECT_EQ(got.pid(), ::getpid());
    EXPECT_EQ(::fcntl(got.native_handle(), F_GETFD), FD_CLOEXEC);
  }
  {
    datagram_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    pidfd::send_pidfd(a, self);
    expect_same_process(pidfd::receive_pidfd(b), self);
  }
  {
    auto [a, b] = seqpacket_pair(io);
    pidfd::send_pidfd(a, self);
    expect_same_process(pidfd::receive_pidfd(b), self);
  }
}

TEST_F(LocalSocketPass, ChildSendsItsPidfdAndWeWaitForIt) {
  auto [ours, theirs] = stream_pair();
  auto go = pidfd_test::make_pipe();
  pid_fd child = pidfd_test::start_child({"send-self-pidfd", "3", "wait-byte", "4", "exit", "5"},
                                         {{3, theirs.native_handle()}, {4, go.read.get()}});
  theirs.close();
  go.read.reset();
  pid_fd got = pidfd::receive_pidfd(ours);  // blocks until the child has sent it
  expect_same_process(got, child);
  EXPECT_EQ(got.pid(), child.pid());
  EXPECT_FALSE(got.has_exited());
  // The received pidfd names our child: async_wait on it reaps it and gives its status.
  pidfd::async_pidfd process(io, std::move(got));
  std::optional<error_code> result;
  pidfd::exit_status status;
  process.async_wait([&](error_code ec, pidfd::exit_status s) {
    result = ec;
    status = s;
  });
  pidfd_test::write_byte(go.write.get());
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
  EXPECT_EQ(status.code(), 5);
}

TEST_F(LocalSocketPass, ChildReceivesOurPidfd) {
  auto [ours, theirs] = stream_pair();
  auto out = pidfd_test::make_pipe();
  pid_fd child = pidfd_test::start_child({"recv-fd", "3", "4"},
                                         {{3, theirs.native_handle()}, {4, out.write.get()}});
  theirs.close();
  out.write.reset();
  const pid_fd self = pid_fd::self();
  pidfd::send_pidfd(ours, self);
  const std::string line = pidfd_test::read_line(out.read.get());
  EXPECT_EQ(pidfd_test::field(line, "fds"), "1");
  if (pidfd::kernel_support().pidfs) {
    EXPECT_EQ(pidfd_test::field(line, "ino"), std::to_string(self.id()));
  }
  EXPECT_EQ(pidfd_test::bounded_wait(child).code(), 0);
}

TEST_F(LocalSocketPass, SeveralFdsOnlyThePidfdIsKept) {
  auto [a, b] = stream_pair();
  auto p = pidfd_test::make_pipe();
  const pid_fd self = pid_fd::self();
  const std::set<int> before = pidfd_test::open_fds();
  send_raw(a.native_handle(), {p.read.get(), self.native_handle(), p.write.get()});
  pid_fd got = pidfd::receive_pidfd(b);
  expect_same_process(got, self);
  std::set<int> expected = before;
  expected.insert(got.native_handle());
  EXPECT_EQ(pidfd_test::open_fds(), expected);
}

TEST_F(LocalSocketPass, FdsThatAreNotPidfdsAreRejectedAndClosed) {
  auto [a, b] = stream_pair();
  auto p = pidfd_test::make_pipe();
  // A /proc/<pid> directory is accepted by pidfd_send_signal but is not a pidfd.
  pidfd::unique_fd proc(::open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(proc.is_open());
  const std::set<int> before = pidfd_test::open_fds();
  send_raw(a.native_handle(), {p.write.get()});
  send_raw(a.native_handle(), {proc.get(), p.read.get()});
  error_code ec;
  pid_fd got = pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, pidfd::errc::not_a_pidfd);
  EXPECT_FALSE(got.is_open());
  got = pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, pidfd::errc::not_a_pidfd);
  EXPECT_EQ(pidfd_test::open_fds(), before);
  try {
    send_raw(a.native_handle(), {p.write.get()});
    pidfd::receive_pidfd(b);
    ADD_FAILURE() << "receive_pidfd of a pipe did not throw";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), pidfd::errc::not_a_pidfd);
  }
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

TEST_F(LocalSocketPass, MessageWithoutFdThenSocketStillUsable) {
  auto [a, b] = stream_pair();
  const std::set<int> before = pidfd_test::open_fds();
  send_raw(a.native_handle(), {});
  error_code ec;
  pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, no_message);
  EXPECT_EQ(pidfd_test::open_fds(), before);
  const pid_fd self = pid_fd::self();
  pidfd::send_pidfd(a, self);
  expect_same_process(pidfd::receive_pidfd(b), self);
}

TEST_F(LocalSocketPass, TruncatedControlMessageClosesEverything) {
  auto [a, b] = stream_pair();
  auto p = pidfd_test::make_pipe();
  const pid_fd self = pid_fd::self();
  // More fds than the receiver has room for (64): the kernel sets MSG_CTRUNC. A pidfd
  // among them must not be returned either.
  std::vector<int> many(100, p.write.get());
  many[0] = self.native_handle();
  const std::set<int> before = pidfd_test::open_fds();
  send_raw(a.native_handle(), many);
  error_code ec;
  pid_fd got = pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, asio::error::message_size);
  EXPECT_FALSE(got.is_open());
  EXPECT_EQ(pidfd_test::open_fds(), before);
  // The socket is still usable.
  pidfd::send_pidfd(a, self);
  expect_same_process(pidfd::receive_pidfd(b), self);
}

TEST_F(LocalSocketPass, AnonymousInodeThatIsNotAPidfdIsRejectedAndClosed) {
  auto [a, b] = stream_pair();
  // An eventfd lives on the anonymous-inode filesystem, as pidfds did before pidfs (6.9):
  // its name, not its filesystem, tells it apart.
  pidfd::unique_fd event(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(event.is_open());
  const std::set<int> before = pidfd_test::open_fds();
  pidfd_test::send_raw(a.native_handle(), {event.get()});
  error_code ec;
  pid_fd got = pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, pidfd::errc::not_a_pidfd);
  EXPECT_FALSE(got.is_open());
  EXPECT_EQ(pidfd_test::open_fds(), before);  // the received eventfd was closed
}

TEST_F(LocalSocketPass, EndOfStreamAndEmptyDatagram) {
  {
    auto [a, b] = stream_pair();
    a.close();
    error_code ec;
    pidfd::receive_pidfd(b, ec);
    EXPECT_EQ(ec, asio::error::eof);
  }
  {
    auto [a, b] = seqpacket_pair(io);
    a.close();
    error_code ec;
    pidfd::receive_pidfd(b, ec);
    EXPECT_EQ(ec, asio::error::eof);
  }
  {
    datagram_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    send_raw(a.native_handle(), {}, 0);  // an empty datagram is not end of stream
    error_code ec;
    pidfd::receive_pidfd(b, ec);
    EXPECT_EQ(ec, no_message);
  }
}

TEST_F(LocalSocketPass, NonBlockingSocketReportsWouldBlock) {
  auto [a, b] = stream_pair();
  b.non_blocking(true);
  error_code ec;
  pid_fd got = pidfd::receive_pidfd(b, ec);
  EXPECT_EQ(ec, asio::error::would_block);
  EXPECT_FALSE(got.is_open());
}

TEST_F(LocalSocketPass, EmptyPidfdAndClosedSocket) {
  auto [a, b] = stream_pair();
  error_code ec;
  pidfd::send_pidfd(a, pid_fd(), ec);
  EXPECT_EQ(ec, asio::error::bad_descriptor);
  stream_protocol::socket closed(io);
  pidfd::send_pidfd(closed, pid_fd::self(), ec);
  EXPECT_EQ(ec, asio::error::bad_descriptor);
  pidfd::receive_pidfd(closed, ec);
  EXPECT_EQ(ec, asio::error::bad_descriptor);
}

TEST_F(LocalSocketPass, ClosedPeerGivesBrokenPipeNotSigpipe) {
  // SIGPIPE's default action would end the test binary: MSG_NOSIGNAL must prevent it.
  auto [a, b] = stream_pair();
  b.close();
  error_code ec;
  pidfd::send_pidfd(a, pid_fd::self(), ec);
  EXPECT_EQ(ec, asio::error::broken_pipe);
  std::optional<error_code> result;
  const pid_fd self = pid_fd::self();
  pidfd::async_send_pidfd(a, self, [&](error_code e) { result = e; });
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::broken_pipe);
}

TEST_F(LocalSocketPass, SenderPidfdIsDiscardedWhenPassPidfdIsOn) {
  auto [a, b] = stream_pair();
  if (!enable_sender(b)) return;
  const pid_fd self = pid_fd::self();
  const std::set<int> before = pidfd_test::open_fds();
  pidfd::send_pidfd(a, self);
  pid_fd got = pidfd::receive_pidfd(b);
  expect_same_process(got, self);
  std::set<int> expected = before;
  expected.insert(got.native_handle());
  EXPECT_EQ(pidfd_test::open_fds(), expected);
}

// ---------------------------------------------------------------------------------------
// async_send_pidfd / async_receive_pidfd

using LocalSocketAsync = LocalSocket;

TEST_F(LocalSocketAsync, CallbacksNeverInline) {
  auto [a, b] = stream_pair();
  const pid_fd self = pid_fd::self();
  bool initiating = true;
  std::optional<error_code> send_result, receive_result;
  bool send_inline = false, receive_inline = false;
  pid_fd got;
  pidfd::async_receive_pidfd(b, [&](error_code ec, pid_fd p) {
    receive_inline = initiating;
    receive_result = ec;
    got = std::move(p);
  });
  pidfd::async_send_pidfd(a, self, [&](error_code ec) {
    send_inline = initiating;
    send_result = ec;
  });
  initiating = false;
  run_for();
  ASSERT_TRUE(send_result.has_value());
  ASSERT_TRUE(receive_result.has_value());
  EXPECT_FALSE(send_inline);
  EXPECT_FALSE(receive_inline);
  EXPECT_FALSE(*send_result);
  EXPECT_FALSE(*receive_result);
  expect_same_process(got, self);
}

TEST_F(LocalSocketAsync, ErrorOnClosedSocketIsNotInline) {
  stream_protocol::socket closed(io);
  bool initiating = true, inline_call = false;
  std::optional<error_code> result;
  pidfd::async_receive_pidfd(closed, [&](error_code ec, pid_fd) {
    inline_call = initiating;
    result = ec;
  });
  initiating = false;
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(inline_call);
  EXPECT_EQ(*result, asio::error::bad_descriptor);
}

TEST_F(LocalSocketAsync, UseFuture) {
  auto [a, b] = stream_pair();
  const pid_fd self = pid_fd::self();
  std::future<pid_fd> received = pidfd::async_receive_pidfd(b, asio::use_future);
  std::future<void> sent = pidfd::async_send_pidfd(a, self, asio::use_future);
  run_for();
  ASSERT_EQ(sent.wait_for(0s), std::future_status::ready);
  ASSERT_EQ(received.wait_for(0s), std::future_status::ready);
  sent.get();
  expect_same_process(received.get(), self);
}

TEST_F(LocalSocketAsync, UseFutureCarriesTheError) {
  auto [a, b] = stream_pair();
  auto p = pidfd_test::make_pipe();
  const std::set<int> before = pidfd_test::open_fds();
  send_raw(a.native_handle(), {p.read.get()});
  std::future<pid_fd> received = pidfd::async_receive_pidfd(b, asio::use_future);
  run_for();
  ASSERT_EQ(received.wait_for(0s), std::future_status::ready);
  try {
    received.get();
    ADD_FAILURE() << "no exception for a pipe";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), pidfd::errc::not_a_pidfd);
  }
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

TEST_F(LocalSocketAsync, Coroutine) {
  // Named variables, not a structured binding: Clang 14 cannot capture those.
  auto sockets = stream_pair();
  stream_protocol::socket& a = sockets.first;
  stream_protocol::socket& b = sockets.second;
  const pid_fd self = pid_fd::self();
  std::optional<pid_t> got_pid;
  bool got_same = false;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await pidfd::async_send_pidfd(a, self, asio::use_awaitable);
        pid_fd got = co_await pidfd::async_receive_pidfd(b, asio::use_awaitable);
        got_pid = got.pid();
        got_same = !pidfd::kernel_support().pidfs || got.id() == self.id();
      },
      [&](std::exception_ptr e) { failure = std::move(e); });
  run_for();
  EXPECT_FALSE(failure);
  ASSERT_TRUE(got_pid.has_value());
  EXPECT_EQ(*got_pid, ::getpid());
  EXPECT_TRUE(got_same);
}

TEST_F(LocalSocketAsync, HandlerRunsOnItsStrand) {
  auto [a, b] = stream_pair();
  auto strand = asio::make_strand(io);
  std::optional<bool> on_strand;
  pidfd::async_receive_pidfd(b, asio::bind_executor(strand, [&](error_code ec, pid_fd) {
    EXPECT_FALSE(ec);
    on_strand = strand.running_in_this_thread();
  }));
  pidfd::send_pidfd(a, pid_fd::self());
  run_for();
  ASSERT_TRUE(on_strand.has_value());
  EXPECT_TRUE(*on_strand);
}

TEST_F(LocalSocketAsync, ReceiveFromChildThenWaitForIt) {
  auto [ours, theirs] = stream_pair();
  auto go = pidfd_test::make_pipe();
  pid_fd child = pidfd_test::start_child({"wait-byte", "4", "send-self-pidfd", "3", "exit", "6"},
                                         {{3, theirs.native_handle()}, {4, go.read.get()}});
  theirs.close();
  go.read.reset();
  std::optional<error_code> result;
  pid_fd got;
  pidfd::async_receive_pidfd(ours, [&](error_code ec, pid_fd p) {
    result = ec;
    got = std::move(p);
  });
  io.poll();
  EXPECT_FALSE(result.has_value());  // nothing sent yet
  pidfd_test::write_byte(go.write.get());
  run_for();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(*result) << result->message();
  expect_same_process(got, child);
  pidfd::async_pidfd process(io, std::move(got));
  const pidfd::exit_status status = [&] {
    std::future<pidfd::exit_status> f = process.async_wait(asio::use_future);
    run_for();
    return f.get();
  }();
  EXPECT_EQ(status.code(), 6);
}

TEST_F(LocalSocketAsync, SeveralThreadsRunTheContext) {
  constexpr int n = 6;
  std::vector<stream_protocol::socket> senders, receivers;
  for (int k = 0; k < n; ++k) {
    auto [a, b] = stream_pair();
    senders.push_back(std::move(a));
    receivers.push_back(std::move(b));
  }
  const pid_fd self = pid_fd::self();
  std::atomic<int> received{0}, failures{0};
  for (auto& r : receivers) {
    pidfd::async_receive_pidfd(r, [&](error_code ec, pid_fd p) {
      if (ec || p.pid() != ::getpid()) ++failures;
      ++received;
    });
  }
  for (auto& s : senders) pidfd::async_send_pidfd(s, self, [&](error_code ec) {
    if (ec) ++failures;
  });
  std::thread other([&] { io.run_for(wait_bound); });
  io.run_for(wait_bound);
  other.join();
  EXPECT_EQ(received.load(), n);
  EXPECT_EQ(failures.load(), 0);
}

class LocalSocketAsyncCancel
    : public LocalSocket,
      public ::testing::WithParamInterface<asio::cancellation_type> {};

TEST_P(LocalSocketAsyncCancel, PendingReceiveIsAbortedAndConsumesNothing) {
  auto [a, b] = stream_pair();
  const pid_fd self = pid_fd::self();
  asio::cancellation_signal signal;
  std::optional<error_code> result;
  bool opened = true;
  // A message is already queued, but the wait has not run yet: cancellation wins and the
  // message stays for the next receive.
  pidfd::send_pidfd(a, self);
  pidfd::async_receive_pidfd(b, asio::bind_cancellation_slot(signal.slot(),
                                                             [&](error_code ec, pid_fd p) {
                                                               result = ec;
                                                               opened = p.is_open();
                                                             }));
  signal.emit(GetParam());
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
  EXPECT_FALSE(opened);
  expect_same_process(pidfd::receive_pidfd(b), self);
}

INSTANTIATE_TEST_SUITE_P(EachType, LocalSocketAsyncCancel,
                         ::testing::Values(asio::cancellation_type::terminal,
                                           asio::cancellation_type::partial,
                                           asio::cancellation_type::total));

TEST_F(LocalSocketAsync, SocketCancelAbortsPendingReceive) {
  auto [a, b] = stream_pair();
  std::optional<error_code> result;
  pidfd::async_receive_pidfd(b, [&](error_code ec, pid_fd) { result = ec; });
  io.poll();
  EXPECT_FALSE(result.has_value());
  b.cancel();
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
}

// ---------------------------------------------------------------------------------------
// enable_sender_pidfd / receive_with_sender

using LocalSocketSender = LocalSocket;

TEST_F(LocalSocketSender, WithinThisProcess) {
  auto [a, b] = stream_pair();
  if (!enable_sender(b)) return;
  asio::write(a, asio::buffer("hello", 5));
  char buf[16];
  auto [bytes, sender] = pidfd::receive_with_sender(b, asio::buffer(buf));
  EXPECT_EQ(bytes, 5u);
  EXPECT_EQ(std::string(buf, bytes), "hello");
  EXPECT_EQ(sender.pid(), ::getpid());
  expect_same_process(sender, pid_fd::self());
}

TEST_F(LocalSocketSender, FromAChildWhoeverHoldsTheSocket) {
  auto [ours, theirs] = stream_pair();
  if (!enable_sender(ours)) return;
  auto go = pidfd_test::make_pipe();
  // The child writes "R\n" on the socket: the message's sender is the child, although
  // the socketpair was made (and its peer credentials recorded) by us.
  pid_fd child = pidfd_test::start_child({"ready", "3", "wait-byte", "4"},
                                         {{3, theirs.native_handle()}, {4, go.read.get()}});
  theirs.close();
  go.read.reset();
  char buf[8];
  pidfd::received_message m = pidfd::receive_with_sender(ours, asio::buffer(buf));
  EXPECT_EQ(m.bytes, 2u);
  EXPECT_EQ(std::string(buf, m.bytes), "R\n");
  expect_same_process(m.sender, child);
  EXPECT_EQ(pidfd::peer_pidfd(ours).pid(), ::getpid());
  pidfd_test::write_byte(go.write.get());
  EXPECT_EQ(pidfd_test::bounded_wait(m.sender).code(), 0);
}

TEST_F(LocalSocketSender, NotEnabledGivesNoMessage) {
  auto [a, b] = stream_pair();
  asio::write(a, asio::buffer("xy", 2));
  char buf[4];
  error_code ec;
  pidfd::received_message m = pidfd::receive_with_sender(b, asio::buffer(buf), ec);
  EXPECT_EQ(ec, no_message);
  EXPECT_EQ(m.bytes, 2u);  // the data was consumed and is reported
  EXPECT_FALSE(m.sender.is_open());
}

TEST_F(LocalSocketSender, PassedFdsAreClosedAndEofReported) {
  auto [a, b] = stream_pair();
  if (!enable_sender(b)) return;
  error_code ec;
  auto p = pidfd_test::make_pipe();
  const std::set<int> before = pidfd_test::open_fds();
  send_raw(a.native_handle(), {p.read.get(), p.write.get()});
  char buf[4];
  pidfd::received_message m = pidfd::receive_with_sender(b, asio::buffer(buf));
  EXPECT_EQ(m.bytes, 1u);
  EXPECT_EQ(m.sender.pid(), ::getpid());
  std::set<int> expected = before;
  expected.insert(m.sender.native_handle());
  EXPECT_EQ(pidfd_test::open_fds(), expected);
  a.close();
  pidfd::received_message end = pidfd::receive_with_sender(b, asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(end.bytes, 0u);
}

TEST_F(LocalSocketSender, SenderReapedBeforeTheRead) {
  auto [ours, theirs] = stream_pair();
  if (!enable_sender(ours)) return;
  error_code ec;
  pid_fd child = pidfd_test::start_child({"ready", "3", "exit", "7"},
                                         {{3, theirs.native_handle()}});
  theirs.close();
  EXPECT_EQ(pidfd_test::bounded_wait(child).code(), 7);  // exited and reaped
  char buf[8];
  pidfd::received_message m = pidfd::receive_with_sender(ours, asio::buffer(buf), ec);
  EXPECT_EQ(m.bytes, 2u);
  if (ec) {
    // Before Linux 6.16 the kernel cannot make a pidfd for a reaped sender.
    EXPECT_EQ(ec, no_such_process);
    EXPECT_FALSE(m.sender.is_open());
    RecordProperty("sender_reaped", "no_such_process (kernel before 6.16)");
    return;
  }
  RecordProperty("sender_reaped", "pidfd (kernel 6.16+)");
  ASSERT_TRUE(m.sender.is_open());
  EXPECT_TRUE(m.sender.has_exited());
  expect_status_of_reaped(m.sender, 7);
}

TEST_F(LocalSocketSender, TruncatedControlMessageDropsTheSenderAndClosesEverything) {
  auto [a, b] = stream_pair();
  if (!enable_sender(b)) return;
  error_code ec;
  // More fds than the receiver has room for: the kernel sets MSG_CTRUNC. The byte is
  // reported, no sender pidfd is returned, and every fd that did arrive is closed.
  auto p = pidfd_test::make_pipe();
  const std::set<int> before = pidfd_test::open_fds();
  pidfd_test::send_raw(a.native_handle(), std::vector<int>(100, p.write.get()));
  char buf[4];
  pidfd::received_message m = pidfd::receive_with_sender(b, asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::message_size);
  EXPECT_EQ(m.bytes, 1u);
  EXPECT_EQ(buf[0], 'm');  // send_raw's payload byte
  EXPECT_FALSE(m.sender.is_open());
  EXPECT_EQ(pidfd_test::open_fds(), before);
  // The socket is still usable, and the next message has its sender.
  pidfd_test::send_raw(a.native_handle(), {p.read.get()});
  m = pidfd::receive_with_sender(b, asio::buffer(buf), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(m.sender.pid(), ::getpid());
  EXPECT_EQ(pidfd_test::open_fds(), [&] {
    std::set<int> with = before;
    with.insert(m.sender.native_handle());
    return with;
  }());
}

TEST_F(LocalSocketSender, AsyncCallbackAndCoroutine) {
  // Named variables, not a structured binding: Clang 14 cannot capture those.
  auto sockets = stream_pair();
  stream_protocol::socket& a = sockets.first;
  stream_protocol::socket& b = sockets.second;
  if (!enable_sender(b)) return;
  char buf[8];
  bool initiating = true, inline_call = false;
  std::optional<error_code> result;
  std::size_t bytes = 0;
  pid_fd sender;
  pidfd::async_receive_with_sender(b, asio::buffer(buf),
                                   [&](error_code e, std::size_t n, pid_fd s) {
                                     inline_call = initiating;
                                     result = e;
                                     bytes = n;
                                     sender = std::move(s);
                                   });
  initiating = false;
  asio::write(a, asio::buffer("abc", 3));
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(inline_call);
  EXPECT_FALSE(*result);
  EXPECT_EQ(bytes, 3u);
  EXPECT_EQ(sender.pid(), ::getpid());

  std::optional<std::size_t> co_bytes;
  pid_t co_pid = 0;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto [n, s] =
            co_await pidfd::async_receive_with_sender(b, asio::buffer(buf), asio::use_awaitable);
        co_bytes = n;
        co_pid = s.pid();
      },
      [&](std::exception_ptr e) { failure = std::move(e); });
  asio::write(a, asio::buffer("de", 2));
  run_for();
  EXPECT_FALSE(failure);
  ASSERT_TRUE(co_bytes.has_value());
  EXPECT_EQ(*co_bytes, 2u);
  EXPECT_EQ(co_pid, ::getpid());
}

TEST_F(LocalSocketSender, AsyncCancelTotal) {
  auto [a, b] = stream_pair();
  asio::cancellation_signal signal;
  char buf[4];
  std::optional<error_code> result;
  pidfd::async_receive_with_sender(
      b, asio::buffer(buf),
      asio::bind_cancellation_slot(signal.slot(),
                                   [&](error_code e, std::size_t, pid_fd) { result = e; }));
  signal.emit(asio::cancellation_type::total);
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
}

// ---------------------------------------------------------------------------------------
// Without SO_PEERPIDFD: a seccomp filter (ENOPROTOOPT, as a kernel before 6.5 answers) and
// the ASIO_PIDFD_PRETEND_MISSING switch. The InChild* suites run only in those children.

TEST(LocalSocketFallback, SeccompWithoutPeerPidfd) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSocketSeccomp.*",
                                           pidfd_test::deny_peer_pidfd),
            0);
}

TEST(LocalSocketFallback, PretendMissingPeerPidfd) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSocketPretend.*", 0,
                                           {"ASIO_PIDFD_PRETEND_MISSING=peer_pidfd"}),
            0);
}

void expect_peer_functions_unsupported(asio::io_context& io) {
  stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  error_code ec;
  pid_fd p = pidfd::peer_pidfd(a, ec);
  EXPECT_EQ(ec, not_supported);
  EXPECT_FALSE(p.is_open());
  pidfd::enable_sender_pidfd(b, ec);
  EXPECT_EQ(ec, not_supported);
  try {
    pidfd::peer_pidfd(a);
    ADD_FAILURE() << "no exception";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), not_supported);
  }
  // Passing pidfds (SCM_RIGHTS) does not depend on SO_PEERPIDFD.
  const pid_fd self = pid_fd::self();
  pidfd::send_pidfd(a, self);
  EXPECT_EQ(pidfd::receive_pidfd(b).pid(), ::getpid());
}

using InChildSocketSeccomp = pidfd_test::io_fixture;
using InChildSocketPretend = pidfd_test::io_fixture;

TEST_F(InChildSocketSeccomp, PeerPidfdIsNotSupported) {
  // The filter is in place: the raw option is refused as an old kernel refuses it.
  stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  int fd = -1;
  socklen_t len = sizeof(fd);
  EXPECT_EQ(
      ::getsockopt(a.native_handle(), SOL_SOCKET, pidfd::detail::k_so_peerpidfd, &fd, &len), -1);
  EXPECT_EQ(errno, ENOPROTOOPT);
  expect_peer_functions_unsupported(io);
}

TEST_F(InChildSocketPretend, PeerPidfdIsNotSupported) {
  EXPECT_FALSE(pidfd::kernel_support().peer_pidfd);
  expect_peer_functions_unsupported(io);
}

// ---------------------------------------------------------------- peer_credentials

// peer_ids compare both ids: either differing makes them differ.
TEST(PeerIds, EqualOnlyWhenBothIdsAre) {
  EXPECT_EQ((pidfd::peer_ids{1, 2}), (pidfd::peer_ids{1, 2}));
  EXPECT_NE((pidfd::peer_ids{1, 2}), (pidfd::peer_ids{9, 2}));
  EXPECT_NE((pidfd::peer_ids{1, 2}), (pidfd::peer_ids{1, 9}));
}

TEST_F(LocalSocketPeer, PeerCredentialsOfAPair) {
  stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  const pidfd::peer_ids want{::geteuid(), ::getegid()};
  EXPECT_EQ(pidfd::peer_credentials(a), want);
  error_code ec;
  EXPECT_EQ(pidfd::peer_credentials(b, ec), want);
  EXPECT_FALSE(ec) << ec.message();
  datagram_protocol::socket c(io), d(io);
  asio::local::connect_pair(c, d);
  EXPECT_EQ(pidfd::peer_credentials(c), want);
}

TEST_F(LocalSocketPeer, PeerCredentialsOfAChildThatDroppedPrivilegesStayAfterItsReap) {
  ASSERT_EQ(::geteuid(), 0u) << "the suite runs as root";
  const abstract_name name = make_abstract_name();
  stream_protocol::acceptor acceptor(io, name.endpoint);
  auto ready = pidfd_test::make_pipe();
  pid_fd child = pidfd_test::start_child(
      {"setuid", "65534", "connect", name.child_form, "5", "report", "3", "exit", "0"},
      {{3, ready.write.get()}});
  ready.write.reset();
  const std::string report = pidfd_test::read_line(ready.read.get());
  EXPECT_EQ(pidfd_test::field(report, "euid"), "65534");
  stream_protocol::socket conn = acceptor.accept();
  EXPECT_EQ(pidfd_test::bounded_wait(child).code(), 0);
  // Recorded at connect(): true whatever happened to the process since.
  EXPECT_EQ(pidfd::peer_credentials(conn), (pidfd::peer_ids{65534, 65534}));
}

TEST_F(LocalSocketPeer, PeerCredentialsWithoutPeerOrClosed) {
  stream_protocol::socket unconnected(io, stream_protocol());
  error_code ec;
  pidfd::peer_credentials(unconnected, ec);
  EXPECT_EQ(ec, asio::error::not_connected);
  stream_protocol::socket closed(io);
  pidfd::peer_credentials(closed, ec);
  EXPECT_EQ(ec, asio::error::bad_descriptor);
  try {
    pidfd::peer_credentials(closed);
    ADD_FAILURE() << "no exception";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), asio::error::bad_descriptor);
  }
  // A TCP socket wrapped as a generic seqpacket socket.
  const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(tcp, 0);
  seqpacket::socket inet(io, seqpacket(AF_INET, 0), tcp);
  pidfd::peer_credentials(inet, ec);
  EXPECT_EQ(ec, asio::error::address_family_not_supported);
}

}  // namespace
