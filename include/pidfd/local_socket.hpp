// placeholder: filled in by its issue
#ifndef PIDFD_LOCAL_SOCKETLOCAL_SOCKET_HPP
#define PIDFD__HPP
#endif
