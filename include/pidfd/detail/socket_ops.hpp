// asio-pidfd internal: the machinery behind <pidfd/local_socket.hpp>.
//
// The system calls (getsockopt, setsockopt, sendmsg, recvmsg, the pidfd check) are
// non-template code in lib/local_socket.cpp, declared Asio-free in detail/socket_calls.hpp;
// this header has the protocol trait that restricts the public functions to UNIX-domain
// sockets, the thin wrappers that turn the compiled functions' results into Asio's errors,
// and the named operation type that the asynchronous initiators hand to async_compose.
#ifndef PIDFD_DETAIL_SOCKET_OPS_HPP
#define PIDFD_DETAIL_SOCKET_OPS_HPP

#include <pidfd/detail/socket_calls.hpp>
#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/socket_base.hpp>
#if __has_include(<boost/asio/local/seq_packet_protocol.hpp>)
#include <boost/asio/local/seq_packet_protocol.hpp>
#endif

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

/// The protocols the UNIX-socket functions accept, with their semantics. Boost 1.81 has no
/// local::seq_packet_protocol, so a UNIX seqpacket socket is a generic::seq_packet_protocol
/// socket there (checked for AF_UNIX at run time); newer Boost's local one is accepted too.
template <class Protocol>
struct local_protocol_traits {
  static constexpr bool supported = false;
};
template <>
struct local_protocol_traits<boost::asio::local::stream_protocol> {
  static constexpr bool supported = true;
  static constexpr socket_semantics semantics{true, false};
};
template <>
struct local_protocol_traits<boost::asio::local::datagram_protocol> {
  static constexpr bool supported = true;
  static constexpr socket_semantics semantics{false, false};
};
template <>
struct local_protocol_traits<boost::asio::generic::seq_packet_protocol> {
  static constexpr bool supported = true;
  static constexpr socket_semantics semantics{true, true};
};
#if __has_include(<boost/asio/local/seq_packet_protocol.hpp>)
template <>
struct local_protocol_traits<boost::asio::local::seq_packet_protocol> {
  static constexpr bool supported = true;
  static constexpr socket_semantics semantics{true, false};
};
#endif

/// Satisfied by the UNIX-domain protocols the library supports.
template <class Protocol>
concept local_protocol = local_protocol_traits<Protocol>::supported;

// The compiled functions (detail/socket_calls.hpp), with "peer closed" as Asio's eof.
// `blocking` selects the synchronous behaviour: wait with poll() while the socket is not
// ready. Without it one attempt is made and boost::asio::error::would_block (EWOULDBLOCK
// in the system category) reports "not ready".

/// getsockopt(SO_PEERPIDFD), verified and adopted.
inline pid_fd peer_pidfd(int sock, socket_semantics sem, error_code& ec) noexcept {
  return socket_calls::peer_pidfd(sock, sem, ec);
}
/// setsockopt(SO_PASSPIDFD, 1).
inline void enable_sender_pidfd(int sock, socket_semantics sem, error_code& ec) noexcept {
  socket_calls::enable_sender_pidfd(sock, sem, ec);
}
/// sendmsg() of a 1-byte payload with the pidfd as SCM_RIGHTS.
inline void send_pidfd(int sock, socket_semantics sem, int pidfd, bool blocking,
                       error_code& ec) noexcept {
  socket_calls::send_pidfd(sock, sem, pidfd, blocking, ec);
}
/// recvmsg() of one message: the first received pidfd, every other fd closed.
inline pid_fd receive_pidfd(int sock, socket_semantics sem, bool blocking,
                            error_code& ec) noexcept {
  bool peer_closed = false;
  pid_fd p = socket_calls::receive_pidfd(sock, sem, blocking, peer_closed, ec);
  if (peer_closed) ec = boost::asio::error::eof;
  return p;
}
/// recvmsg() into iov with the sender's SCM_PIDFD; every SCM_RIGHTS fd closed.
inline std::size_t receive_with_sender(int sock, socket_semantics sem, const ::iovec* iov,
                                       std::size_t iov_count, bool blocking, pid_fd& sender,
                                       error_code& ec) noexcept {
  bool peer_closed = false;
  const std::size_t n = socket_calls::receive_with_sender(sock, sem, iov, iov_count, blocking,
                                                          sender, peer_closed, ec);
  if (peer_closed) ec = boost::asio::error::eof;
  return n;
}
/// True if fd refers to a pidfd: pidfs (6.9+) or the "[pidfd]" anonymous inode.
inline bool is_pidfd(int fd, error_code& ec) noexcept { return socket_calls::is_pidfd(fd, ec); }

/// At most this many buffers of a sequence are used (the rest are ignored, as Asio does
/// with its own limit).
inline constexpr std::size_t max_iov = 16;

/// A buffer sequence as iovecs.
struct iov_array {
  std::array<::iovec, max_iov> iov{};
  std::size_t count = 0;
};

template <class MutableBufferSequence>
iov_array to_iov(const MutableBufferSequence& buffers) {
  iov_array out;
  auto it = boost::asio::buffer_sequence_begin(buffers);
  const auto end = boost::asio::buffer_sequence_end(buffers);
  for (; it != end && out.count < max_iov; ++it) {
    const boost::asio::mutable_buffer b(*it);
    out.iov[out.count++] = ::iovec{b.data(), b.size()};
  }
  return out;
}

/// The asynchronous attempt of async_send_pidfd.
struct send_pidfd_attempt {
  static constexpr auto wait_type = boost::asio::socket_base::wait_write;
  int pidfd;
  socket_semantics sem;
  error_code try_once(int sock) noexcept {
    error_code ec;
    detail::send_pidfd(sock, sem, pidfd, false, ec);
    return ec;
  }
  template <class Self>
  void complete(Self& self, error_code ec) {
    self.complete(ec);
  }
};

/// The asynchronous attempt of async_receive_pidfd.
struct receive_pidfd_attempt {
  static constexpr auto wait_type = boost::asio::socket_base::wait_read;
  socket_semantics sem;
  pid_fd result{};
  error_code try_once(int sock) noexcept {
    error_code ec;
    result = detail::receive_pidfd(sock, sem, false, ec);
    return ec;
  }
  template <class Self>
  void complete(Self& self, error_code ec) {
    self.complete(ec, std::move(result));
  }
};

/// The asynchronous attempt of async_receive_with_sender.
struct receive_with_sender_attempt {
  static constexpr auto wait_type = boost::asio::socket_base::wait_read;
  socket_semantics sem;
  iov_array buffers;
  std::size_t bytes = 0;
  pid_fd sender{};
  error_code try_once(int sock) noexcept {
    error_code ec;
    bytes = detail::receive_with_sender(sock, sem, buffers.iov.data(), buffers.count, false,
                                        sender, ec);
    return ec;
  }
  template <class Self>
  void complete(Self& self, error_code ec) {
    self.complete(ec, bytes, std::move(sender));
  }
};

/// The composed operation behind every asynchronous UNIX-socket function: wait until the
/// socket is ready (Socket::async_wait), make one non-blocking attempt, and wait again if
/// the socket was not ready after all. The first step is always a wait, so the handler is
/// never invoked from inside the initiating function.
///
/// Cancellation: the only point at which the operation can be cancelled is the wait, when
/// nothing has been sent or received, so terminal, partial and total cancellation are all
/// honoured (enable_total_cancellation) and complete with operation_aborted.
template <class Socket, class Attempt>
class socket_ready_op {
public:
  socket_ready_op(Socket& socket, Attempt attempt)
      : socket_(socket), attempt_(std::move(attempt)) {}

  template <class Self>
  void operator()(Self& self) {
    // Initiation.
    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
    socket_.async_wait(Attempt::wait_type, std::move(self));
  }

  template <class Self>
  void operator()(Self& self, error_code ec) {
    // The wait has completed.
    if (!ec && self.cancelled() != boost::asio::cancellation_type::none)
      ec = boost::asio::error::operation_aborted;
    if (!ec) {
      ec = attempt_.try_once(socket_.native_handle());
      if (ec == boost::asio::error::would_block) {
        // Readiness without a message (another reader took it, or a spurious wakeup).
        socket_.async_wait(Attempt::wait_type, std::move(self));
        return;
      }
    }
    attempt_.complete(self, ec);
  }

private:
  Socket& socket_;
  Attempt attempt_;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_SOCKET_OPS_HPP
