// asio-pidfd: pidfds over UNIX-domain sockets.
//
// A server that identifies a local client by its PID (SO_PEERCRED) is open to PID reuse:
// by the time it acts on the PID, the client may have exited and the number may name
// another process. The functions here work with pidfds instead, which name one process
// for good:
//
//  - peer_pidfd(): the pidfd of the process that connected the socket (SO_PEERPIDFD);
//  - send_pidfd() / receive_pidfd() and their async forms: pass a pidfd to another process
//    (SCM_RIGHTS), the receiving side checking that it really got a pidfd;
//  - enable_sender_pidfd() + receive_with_sender() and its async form: a pidfd of the
//    sender of each received message (SO_PASSPIDFD + SCM_PIDFD);
//  - peer_credentials(): the peer's uid and gid (SO_PEERCRED), which, unlike its PID, are
//    safe to use on any kernel.
//
// They accept any boost::asio::basic_socket (or a class derived from it, such as
// basic_stream_socket) of local::stream_protocol, local::datagram_protocol, or a UNIX
// seqpacket socket: generic::seq_packet_protocol with AF_UNIX on Boost 1.81 (checked at
// run time; address_family_not_supported otherwise), or local::seq_packet_protocol where
// Boost has it.
#ifndef PIDFD_LOCAL_SOCKET_HPP
#define PIDFD_LOCAL_SOCKET_HPP

#include <pidfd/detail/socket_ops.hpp>
#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_socket.hpp>
#include <boost/asio/compose.hpp>
#include <boost/throw_exception.hpp>

#include <sys/types.h>

#include <cstddef>

namespace pidfd {

/// Returns a pidfd for the socket's peer: the process that called connect() (or
/// socketpair(), or listen() for the connecting side), as SO_PEERPIDFD reports it
/// (Linux 6.5).
///
/// Unlike SO_PEERCRED's PID, the pidfd cannot come to name another process: use it to read
/// the peer's credentials and cgroup (pid_fd::info()), to signal it, or to wait for its
/// exit (async_pidfd), without a race. The peer is the process that made the connection,
/// even if the socket has since been passed to another process.
///
/// Since Linux 6.16 this also works when the peer has already exited and been reaped (the
/// pidfd is then readable at once and, for a non-child, its status comes from
/// PIDFD_INFO_EXIT). On 6.5 to 6.15 that case gives no_such_process.
///
/// There is deliberately no fallback to SO_PEERCRED + pidfd_open(), which would be racy:
/// without SO_PEERPIDFD (kernel before 6.5, a seccomp filter, or
/// ASIO_PIDFD_PRETEND_MISSING=peer_pidfd) the result is operation_not_supported.
///
/// Errors: operation_not_supported as above; no_such_process for a reaped peer before
/// 6.16; boost::asio::error::not_connected for a socket without a peer;
/// errc::not_a_pidfd if the kernel's answer is not a pidfd; bad_descriptor for a closed
/// socket.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
pid_fd peer_pidfd(const boost::asio::basic_socket<Protocol, Executor>& socket,
                  error_code& ec) noexcept {
  // basic_socket::native_handle() is not const, though reading the handle changes nothing.
  auto& s = const_cast<boost::asio::basic_socket<Protocol, Executor>&>(socket);
  return detail::peer_pidfd(s.native_handle(), detail::local_protocol_traits<Protocol>::semantics,
                            ec);
}

/// As above; throws pidfd::system_error.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
pid_fd peer_pidfd(const boost::asio::basic_socket<Protocol, Executor>& socket) {
  error_code ec;
  pid_fd p = peer_pidfd(socket, ec);
  if (ec) boost::throw_exception(system_error(ec, "pidfd::peer_pidfd"));
  return p;
}

/// Sends a pidfd over the socket: one message with a 1-byte payload and the pidfd as
/// SCM_RIGHTS. The receiving process gets its own pidfd for the same process (equal id()).
///
/// Blocks while the socket's send buffer is full, unless the socket is in non-blocking mode
/// (basic_socket::non_blocking()), in which case boost::asio::error::would_block is
/// reported. SIGPIPE is never raised: a closed peer gives broken_pipe.
///
/// Errors: bad_descriptor if `process` is empty or the socket is closed; the errno of
/// sendmsg() otherwise.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
void send_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket, const pid_fd& process,
                error_code& ec) noexcept {
  detail::send_pidfd(socket.native_handle(), detail::local_protocol_traits<Protocol>::semantics,
                     process.native_handle(), !socket.non_blocking(), ec);
}

/// As above; throws pidfd::system_error.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
void send_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket, const pid_fd& process) {
  error_code ec;
  send_pidfd(socket, process, ec);
  if (ec) boost::throw_exception(system_error(ec, "pidfd::send_pidfd"));
}

/// Receives one message sent by send_pidfd() and returns the pidfd it carried, with its pid
/// recorded (best effort, see pid_fd(int)).
///
/// Receiving is defensive: it never leaves a received descriptor open that it does not
/// return.
///  - Several fds in the message: the first one that is a pidfd is returned, the rest are
///    closed.
///  - Only fds that are not pidfds: all closed, errc::not_a_pidfd.
///  - A message with no fd: boost::system::errc::no_message.
///  - A truncated control message (MSG_CTRUNC: more fds than the library accepts, 64):
///    every fd received is closed, boost::asio::error::message_size.
///  - The kernel could not make a descriptor in this process for one the message carried
///    (it drops the message's descriptors): too_many_files_open at the descriptor limit
///    (RLIMIT_NOFILE), not_enough_memory when the descriptor table could not grow.
///  - End of stream (stream and seqpacket sockets): boost::asio::error::eof.
/// In each of these cases the one message is consumed and the socket stays usable. The
/// payload byte is discarded; so is an SCM_PIDFD descriptor if SO_PASSPIDFD is on.
///
/// Blocks until a message arrives, unless the socket is in non-blocking mode, in which
/// case boost::asio::error::would_block is reported.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
pid_fd receive_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket,
                     error_code& ec) noexcept {
  return detail::receive_pidfd(socket.native_handle(),
                               detail::local_protocol_traits<Protocol>::semantics,
                               !socket.non_blocking(), ec);
}

/// As above; throws pidfd::system_error.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
pid_fd receive_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket) {
  error_code ec;
  pid_fd p = receive_pidfd(socket, ec);
  if (ec) boost::throw_exception(system_error(ec, "pidfd::receive_pidfd"));
  return p;
}

/// Starts sending a pidfd over the socket, as send_pidfd() does.
///
/// The handler is called exactly once.
///
/// It completes when the message has been sent, or with an error: those of send_pidfd(),
/// or boost::asio::error::operation_aborted if the operation was cancelled or the socket
/// was closed or cancel()ed meanwhile.
///
/// Completion signature: void(boost::system::error_code).
///
/// The handler runs on its associated executor (by default the socket's), never inside
/// this function, and is allocated with its associated allocator.
///
/// Per-operation cancellation: terminal, partial and total. Cancellation takes effect only
/// while the operation waits for the socket to become writable, so nothing has been sent
/// when it completes with operation_aborted.
///
/// Thread safety: like any operation on an Asio socket, do not start it concurrently with
/// other operations on the same socket object from other threads without a strand.
///
/// Lifetime: the socket and `process` must stay alive and open until the handler is
/// called (the pidfd is not duplicated).
template <class Protocol, class Executor,
          boost::asio::completion_token_for<void(error_code)> Token =
              boost::asio::default_completion_token_t<Executor>>
  requires detail::local_protocol<Protocol>
auto async_send_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket,
                      const pid_fd& process,
                      Token&& token = boost::asio::default_completion_token_t<Executor>()) {
  using socket_type = boost::asio::basic_socket<Protocol, Executor>;
  return boost::asio::async_compose<Token, void(error_code)>(
      detail::socket_ready_op<socket_type, detail::send_pidfd_attempt>(
          socket, detail::send_pidfd_attempt{process.native_handle(),
                                             detail::local_protocol_traits<Protocol>::semantics}),
      token, socket);
}

/// Starts receiving one pidfd sent by send_pidfd(), as receive_pidfd() does (with the same
/// defensive handling of unexpected messages).
///
/// The handler is called exactly once.
///
/// It completes when a message has been received (with the pidfd, or with one of the
/// errors of receive_pidfd() and an empty pid_fd), or with
/// boost::asio::error::operation_aborted if the operation was cancelled or the socket was
/// closed or cancel()ed meanwhile.
///
/// Completion signature: void(boost::system::error_code, pidfd::pid_fd).
///
/// The handler runs on its associated executor (by default the socket's), never inside
/// this function, and is allocated with its associated allocator.
///
/// Per-operation cancellation: terminal, partial and total. Cancellation takes effect only
/// while the operation waits for a message, so nothing has been received when it
/// completes with operation_aborted; the next message is still there for a later receive.
///
/// Thread safety: like any operation on an Asio socket, do not start it concurrently with
/// other operations on the same socket object from other threads without a strand.
///
/// Lifetime: the socket must stay alive until the handler is called.
template <class Protocol, class Executor,
          boost::asio::completion_token_for<void(error_code, pid_fd)> Token =
              boost::asio::default_completion_token_t<Executor>>
  requires detail::local_protocol<Protocol>
auto async_receive_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket,
                         Token&& token = boost::asio::default_completion_token_t<Executor>()) {
  using socket_type = boost::asio::basic_socket<Protocol, Executor>;
  return boost::asio::async_compose<Token, void(error_code, pid_fd)>(
      detail::socket_ready_op<socket_type, detail::receive_pidfd_attempt>(
          socket,
          detail::receive_pidfd_attempt{detail::local_protocol_traits<Protocol>::semantics}),
      token, socket);
}

/// Asks the kernel to attach the sender's pidfd to every message this socket receives
/// from now on (setsockopt SO_PASSPIDFD, Linux 6.5). Read them with receive_with_sender().
///
/// Errors: operation_not_supported without SO_PASSPIDFD (kernel before 6.5, a seccomp
/// filter, or ASIO_PIDFD_PRETEND_MISSING=peer_pidfd); bad_descriptor for a closed socket.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
void enable_sender_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket,
                         error_code& ec) noexcept {
  detail::enable_sender_pidfd(socket.native_handle(),
                              detail::local_protocol_traits<Protocol>::semantics, ec);
}

/// As above; throws pidfd::system_error.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
void enable_sender_pidfd(boost::asio::basic_socket<Protocol, Executor>& socket) {
  error_code ec;
  enable_sender_pidfd(socket, ec);
  if (ec) boost::throw_exception(system_error(ec, "pidfd::enable_sender_pidfd"));
}

/// What receive_with_sender() returns: the number of bytes read and a pidfd of the
/// process that sent them. Binds as `auto [bytes, sender] = ...`.
struct received_message {
  std::size_t bytes = 0;  ///< bytes read into the buffer
  pid_fd sender;          ///< the sending process (SCM_PIDFD)
};

/// Receives one message (one read of a stream) into `buffers` together with a pidfd of the
/// process that sent it (SCM_PIDFD), on a socket prepared with enable_sender_pidfd().
///
/// The sender is the process that wrote the data, whoever holds the other end now. Any
/// descriptors passed with the message (SCM_RIGHTS) are closed. At most 16 buffers of the
/// sequence are used.
///
/// Errors (the bytes are still reported when data was read):
///  - the sender has been reaped before the message was read, on kernels before 6.16:
///    no_such_process (the data is consumed);
///  - a message without SCM_PIDFD (SO_PASSPIDFD not enabled when it was queued):
///    boost::system::errc::no_message (the data is consumed);
///  - a truncated control message: boost::asio::error::message_size, all fds closed;
///  - end of stream (stream and seqpacket sockets): boost::asio::error::eof.
///
/// Blocks until a message arrives, unless the socket is in non-blocking mode, in which
/// case boost::asio::error::would_block is reported.
template <class Protocol, class Executor, class MutableBufferSequence>
  requires detail::local_protocol<Protocol>
received_message receive_with_sender(boost::asio::basic_socket<Protocol, Executor>& socket,
                                     const MutableBufferSequence& buffers,
                                     error_code& ec) noexcept {
  const detail::iov_array iov = detail::to_iov(buffers);
  received_message m;
  m.bytes = detail::receive_with_sender(socket.native_handle(),
                                        detail::local_protocol_traits<Protocol>::semantics,
                                        iov.iov.data(), iov.count, !socket.non_blocking(),
                                        m.sender, ec);
  return m;
}

/// As above; throws pidfd::system_error.
template <class Protocol, class Executor, class MutableBufferSequence>
  requires detail::local_protocol<Protocol>
received_message receive_with_sender(boost::asio::basic_socket<Protocol, Executor>& socket,
                                     const MutableBufferSequence& buffers) {
  error_code ec;
  received_message m = receive_with_sender(socket, buffers, ec);
  if (ec) boost::throw_exception(system_error(ec, "pidfd::receive_with_sender"));
  return m;
}

/// Starts receiving one message with its sender's pidfd, as receive_with_sender() does.
///
/// The handler is called exactly once.
///
/// It completes when a message has been received (with the errors of
/// receive_with_sender(), if any), or with boost::asio::error::operation_aborted if the
/// operation was cancelled or the socket was closed or cancel()ed meanwhile.
///
/// Completion signature: void(boost::system::error_code, std::size_t bytes,
/// pidfd::pid_fd sender).
///
/// The handler runs on its associated executor (by default the socket's), never inside
/// this function, and is allocated with its associated allocator.
///
/// Per-operation cancellation: terminal, partial and total. Cancellation takes effect only
/// while the operation waits for a message, so nothing has been read when it completes
/// with operation_aborted.
///
/// Thread safety: like any operation on an Asio socket, do not start it concurrently with
/// other operations on the same socket object from other threads without a strand.
///
/// Lifetime: the socket and the memory `buffers` refers to must stay alive until the
/// handler is called (the sequence object itself is copied).
template <class Protocol, class Executor, class MutableBufferSequence,
          boost::asio::completion_token_for<void(error_code, std::size_t, pid_fd)> Token =
              boost::asio::default_completion_token_t<Executor>>
  requires detail::local_protocol<Protocol>
auto async_receive_with_sender(
    boost::asio::basic_socket<Protocol, Executor>& socket, const MutableBufferSequence& buffers,
    Token&& token = boost::asio::default_completion_token_t<Executor>()) {
  using socket_type = boost::asio::basic_socket<Protocol, Executor>;
  return boost::asio::async_compose<Token, void(error_code, std::size_t, pid_fd)>(
      detail::socket_ready_op<socket_type, detail::receive_with_sender_attempt>(
          socket, detail::receive_with_sender_attempt{
                      detail::local_protocol_traits<Protocol>::semantics,
                      detail::to_iov(buffers)}),
      token, socket);
}

/// The user and group ids a socket's peer had when it connected (SO_PEERCRED), as seen
/// from the socket's user namespace.
struct peer_ids {
  uid_t uid;  ///< effective user id of the connecting process
  gid_t gid;  ///< effective group id of the connecting process
  /// Equal when both ids are.
  friend bool operator==(const peer_ids&, const peer_ids&) = default;
};

/// Returns the uid and gid of the socket's peer, recorded by the kernel when the
/// connection was made (connect(), socketpair()), from SO_PEERCRED.
///
/// These need no pidfd support and stay true even if the peer has exited since, so they
/// work on every kernel. SO_PEERCRED's pid is deliberately not offered: by the time it is
/// used it may name another process. For the process itself, use peer_pidfd().
///
/// Errors: boost::asio::error::not_connected for a socket without a peer (a listening
/// or unconnected socket); bad_descriptor for a closed socket;
/// address_family_not_supported for a generic socket that is not AF_UNIX.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
peer_ids peer_credentials(const boost::asio::basic_socket<Protocol, Executor>& socket,
                          error_code& ec) noexcept {
  auto& s = const_cast<boost::asio::basic_socket<Protocol, Executor>&>(socket);
  const detail::peer_cred cred = detail::peer_credentials(
      s.native_handle(), detail::local_protocol_traits<Protocol>::semantics.check_family, ec);
  return peer_ids{cred.uid, cred.gid};
}

/// As above; throws pidfd::system_error.
template <class Protocol, class Executor>
  requires detail::local_protocol<Protocol>
peer_ids peer_credentials(const boost::asio::basic_socket<Protocol, Executor>& socket) {
  error_code ec;
  const peer_ids ids = peer_credentials(socket, ec);
  if (ec) boost::throw_exception(system_error(ec, "pidfd::peer_credentials"));
  return ids;
}

}  // namespace pidfd

#endif  // PIDFD_LOCAL_SOCKET_HPP
