// asio-pidfd internal: the compiled half of <pidfd/local_socket.hpp> (lib/local_socket.cpp).
//
// Deliberately free of Asio: the library binary must not depend on the Asio configuration
// (epoll or io_uring backend, other BOOST_ASIO_* macros) of the code that uses it, so no
// Asio type or header may reach lib/. Errors are plain errno values in
// boost::system::system_category(), which is the category of Asio's own basic errors
// (boost::asio::error::would_block is EWOULDBLOCK there, bad_descriptor EBADF, ...); the
// one Asio error without an errno, end of file, is reported through a flag and translated
// by detail/socket_ops.hpp.
#ifndef PIDFD_DETAIL_SOCKET_CALLS_HPP
#define PIDFD_DETAIL_SOCKET_CALLS_HPP

#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

namespace pidfd::detail {

/// What the library needs to know about a socket's protocol.
struct socket_semantics {
  /// recvmsg() returning 0 bytes means the peer has shut down (stream and seqpacket
  /// sockets); for datagram sockets it is an empty datagram.
  bool zero_is_eof;
  /// The protocol type does not fix the address family (Asio's generic protocols), so the
  /// socket's SO_DOMAIN is checked to be AF_UNIX at each call.
  bool check_family;
};

/// The system calls behind the UNIX-socket functions. `blocking` selects the synchronous
/// behaviour: wait with poll() while the socket is not ready. Without it one attempt is
/// made and EWOULDBLOCK reports "not ready". `peer_closed` is set (with ec clear) when a
/// stream or seqpacket peer has shut down.
namespace socket_calls {

/// getsockopt(SO_PEERPIDFD), verified and adopted.
pid_fd peer_pidfd(int sock, socket_semantics sem, error_code& ec) noexcept;
/// setsockopt(SO_PASSPIDFD, 1).
void enable_sender_pidfd(int sock, socket_semantics sem, error_code& ec) noexcept;
/// sendmsg() of a 1-byte payload with the pidfd as SCM_RIGHTS.
void send_pidfd(int sock, socket_semantics sem, int pidfd, bool blocking,
                error_code& ec) noexcept;
/// recvmsg() of one message: the first received pidfd, every other fd closed.
pid_fd receive_pidfd(int sock, socket_semantics sem, bool blocking, bool& peer_closed,
                     error_code& ec) noexcept;
/// recvmsg() into iov with the sender's SCM_PIDFD; every SCM_RIGHTS fd closed.
std::size_t receive_with_sender(int sock, socket_semantics sem, const ::iovec* iov,
                                std::size_t iov_count, bool blocking, pid_fd& sender,
                                bool& peer_closed, error_code& ec) noexcept;
/// True if fd refers to a pidfd: pidfs (6.9+) or the "[pidfd]" anonymous inode.
bool is_pidfd(int fd, error_code& ec) noexcept;

}  // namespace socket_calls

/// SO_PEERCRED's ids, which <pidfd/local_socket.hpp>'s peer_credentials() reports as
/// pidfd::peer_ids.
struct peer_cred {
  uid_t uid;
  gid_t gid;
};

/// SO_PEERCRED's uid and gid of socket `sock`; with check_family, first checks that the
/// socket is AF_UNIX (for Asio's generic protocols).
peer_cred peer_credentials(int sock, bool check_family, error_code& ec) noexcept;

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_SOCKET_CALLS_HPP
