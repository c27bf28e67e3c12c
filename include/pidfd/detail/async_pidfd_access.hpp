// asio-pidfd internal: the access through which spawn() and the process layer hand a
// pidfd to a basic_async_pidfd.
#ifndef PIDFD_DETAIL_ASYNC_PIDFD_ACCESS_HPP
#define PIDFD_DETAIL_ASYNC_PIDFD_ACCESS_HPP

#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>

namespace pidfd::detail {

/// The friend through which spawn() hands a pidfd to a basic_async_pidfd without losing it
/// when the registration fails (the child must then still be reaped).
struct async_pidfd_access {
  template <class AsyncPidfd>
  static void assign_keeping(AsyncPidfd& object, pid_fd& fd, error_code& ec) noexcept {
    object.assign_keeping(fd, ec);
  }
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_ASYNC_PIDFD_ACCESS_HPP
