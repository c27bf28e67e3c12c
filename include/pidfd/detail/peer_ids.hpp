// asio-pidfd: the peer ids of a UNIX socket (SO_PEERCRED), without any Asio header, so the
// compiled part of peer_credentials() (lib/peer_credentials.cpp) does not depend on the
// application's Asio configuration.
#ifndef PIDFD_DETAIL_PEER_IDS_HPP
#define PIDFD_DETAIL_PEER_IDS_HPP

#include <pidfd/error.hpp>

#include <sys/types.h>

namespace pidfd {

/// The user and group ids a socket's peer had when it connected (SO_PEERCRED), as seen
/// from the socket's user namespace.
struct peer_ids {
  uid_t uid;  ///< effective user id of the connecting process
  gid_t gid;  ///< effective group id of the connecting process
  friend bool operator==(const peer_ids&, const peer_ids&) = default;
};

namespace detail {
/// SO_PEERCRED's uid and gid of socket `sock`; with check_family, first checks that the
/// socket is AF_UNIX (for Asio's generic protocols).
peer_ids peer_credentials(int sock, bool check_family, error_code& ec) noexcept;
}  // namespace detail

}  // namespace pidfd

#endif  // PIDFD_DETAIL_PEER_IDS_HPP
