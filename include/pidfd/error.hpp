// asio-pidfd: error codes.
//
// Every fallible operation of the library comes as a pair: one that throws
// pidfd::system_error and one that takes an error_code& and is noexcept. OS errors keep
// their errno in boost::system::system_category(); a kernel that lacks a facility is
// reported as boost::system::errc::operation_not_supported, and a process that no longer
// exists as boost::system::errc::no_such_process. The two conditions that have no errno
// live in the "pidfd" category below.
#ifndef PIDFD_ERROR_HPP
#define PIDFD_ERROR_HPP

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <type_traits>

namespace pidfd {

/// The error type of every non-throwing call and of every completion handler.
using error_code = boost::system::error_code;
/// What the throwing calls throw; code() is the error_code the other overload reports.
using system_error = boost::system::system_error;

/// Errors of the "pidfd" category.
enum class errc {
  /// The process has exited, but its exit status cannot be known: it was not our child
  /// (or was reaped by someone else) and the kernel lacks PIDFD_INFO_EXIT (Linux < 6.15),
  /// or the pidfd refers to a thread, which has no exit status.
  status_unavailable = 1,
  /// A file descriptor given to or received by the library is not a pidfd.
  not_a_pidfd,
};

/// The category of pidfd::errc; its name() is "pidfd".
const boost::system::error_category& category() noexcept;

/// Makes an error_code of the "pidfd" category.
error_code make_error_code(errc e) noexcept;

namespace detail {

/// An errno value as the library reports it: in boost::system::system_category(), the
/// category of Asio's own errno-based errors, so errno_code(EBADF) == error_code(
/// boost::asio::error::bad_descriptor) and it compares equal to the matching
/// boost::system::errc condition. Every errno the library reports is made here.
inline error_code errno_code(int e) noexcept {
  return error_code(e, boost::system::system_category());
}

}  // namespace detail

}  // namespace pidfd

namespace boost::system {
template <>
struct is_error_code_enum<pidfd::errc> : std::true_type {};
}  // namespace boost::system

#endif  // PIDFD_ERROR_HPP
