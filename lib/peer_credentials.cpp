// SO_PEERCRED's uid and gid for <pidfd/local_socket.hpp>'s peer_credentials().
#include <pidfd/detail/socket_calls.hpp>

#include "fault.hpp"
#include "sys.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace pidfd::detail {

peer_cred peer_credentials(int sock, bool check_family, error_code& ec) noexcept {
  ec.clear();
  if (sock < 0) {
    ec = errno_code(EBADF);
    return {};
  }
  if (check_family) {
    int domain = 0;
    socklen_t len = sizeof domain;
    if (PIDFD_FAULT("getsockopt(SO_DOMAIN)",
                    ::getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &len)) != 0) {
      ec = errno_code(errno);
      return {};
    }
    if (domain != AF_UNIX) {
      ec = errno_code(EAFNOSUPPORT);
      return {};
    }
  }
  ::ucred cred{};
  socklen_t len = sizeof cred;
  if (PIDFD_FAULT("getsockopt(SO_PEERCRED)",
                  ::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len)) != 0) {
    ec = errno_code(errno);
    return {};
  }
  // A socket that never had a peer reports pid 0 and the overflow ids (not an error).
  if (cred.pid == 0) {
    ec = errno_code(ENOTCONN);
    return {};
  }
  return peer_cred{cred.uid, cred.gid};
}

}  // namespace pidfd::detail
