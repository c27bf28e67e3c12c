// asio-pidfd internal: turning a PIDFD_GET_INFO reply into a process_info.
//
// Declared separately (and exported) so that the test suite can check the decoding of
// reply fields no kernel on the project machines fills yet (6.19's coredump signal).
#ifndef PIDFD_DETAIL_PROCESS_INFO_HPP
#define PIDFD_DETAIL_PROCESS_INFO_HPP

#include <pidfd/detail/linux.hpp>
#include <pidfd/pid_fd.hpp>

namespace pidfd::detail {

/// The process_info a GET_INFO reply describes. Only the fields whose bit is in
/// reply.mask are taken; the optional ones stay empty otherwise.
process_info decode_process_info(const pidfd_info& reply) noexcept;

/// The request mask for pid_fd::info(): PID, CREDS and CGROUPID, plus the coredump bits
/// kernel_support() reports (so ASIO_PIDFD_PRETEND_MISSING hides them too).
std::uint64_t process_info_request() noexcept;

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_PROCESS_INFO_HPP
