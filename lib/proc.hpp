// asio-pidfd internal: reading /proc for the fallbacks of older kernels.
#ifndef PIDFD_LIB_PROC_HPP
#define PIDFD_LIB_PROC_HPP

#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace pidfd::proc {

/// The "Pid:" line of /proc/self/fdinfo/<fd>: the process id in our procfs's pid
/// namespace, -1 once reaped, 0 if not visible there.
error_code fdinfo_pid(int fd, pid_t& pid) noexcept;

/// What /proc/<pid>/status and /proc/<pid>/cgroup tell, read through a /proc/<pid> dirfd.
error_code read_process_info(int proc_dirfd, process_info& info) noexcept;

/// The cgroup v2 path ("0::" line) of /proc/<pid>/cgroup, read through a /proc/<pid>
/// dirfd; operation_not_supported if the file has no such line.
error_code read_cgroup_path(int proc_dirfd, std::string& path) noexcept;

/// Opens /proc/<pid>/ns/<name> through a /proc/<pid> dirfd.
error_code open_namespace(int proc_dirfd, std::string_view name, int& fd) noexcept;

}  // namespace pidfd::proc

#endif  // PIDFD_LIB_PROC_HPP
