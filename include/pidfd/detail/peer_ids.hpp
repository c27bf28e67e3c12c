// asio-pidfd: kept so that code which included this header still compiles; pidfd::peer_ids
// is declared in <pidfd/local_socket.hpp>, next to peer_credentials().
#ifndef PIDFD_DETAIL_PEER_IDS_HPP
#define PIDFD_DETAIL_PEER_IDS_HPP

#include <pidfd/local_socket.hpp>

#endif  // PIDFD_DETAIL_PEER_IDS_HPP
