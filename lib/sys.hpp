// asio-pidfd internal: every raw system call the library makes, wrapped once.
//
// Each wrapper returns the errno as detail::errno_code(errno) (EINTR already
// retried where the call is restartable) and never throws. Nothing else in the library
// calls syscall() directly, with one exception: the child side of spawn
// (lib/spawn_child.cpp) makes its own raw calls, since it runs in a CLONE_VM child that
// must not touch errno (see lib/spawn_sys.hpp).
#ifndef PIDFD_LIB_SYS_HPP
#define PIDFD_LIB_SYS_HPP

#include <pidfd/detail/linux.hpp>
#include <pidfd/error.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace pidfd::sys {

error_code pidfd_open(pid_t pid, unsigned flags, int& fd) noexcept;
error_code pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags) noexcept;
error_code pidfd_getfd(int pidfd, int target_fd, int& fd) noexcept;
error_code process_mrelease(int pidfd) noexcept;
/// waitid(P_PIDFD, ...). With WNOHANG, info.si_pid == 0 means "nothing yet".
/// With usage, also the reaped child's resource usage (the raw system call's fifth
/// argument, which glibc's waitid() does not expose).
error_code waitid_pidfd(int pidfd, siginfo_t& info, int options, rusage* usage = nullptr) noexcept;
/// waitid(P_PID, ...), for kernels without P_PIDFD.
error_code waitid_pid(pid_t pid, siginfo_t& info, int options, rusage* usage = nullptr) noexcept;
/// ioctl(PIDFD_GET_INFO); the caller zeroes info and sets the request mask.
error_code pidfd_get_info(int pidfd, detail::pidfd_info& info) noexcept;
/// ioctl(PIDFD_GET_<n>_NAMESPACE), n in 1..10.
error_code pidfd_get_namespace(int pidfd, int n, int& fd) noexcept;
error_code setns(int fd, int nstype) noexcept;
/// clone3(NULL, 0), which creates nothing: EINVAL (argument block too small) where the
/// kernel has clone3, ENOSYS (or a filter's errno) where it does not.
error_code clone3_without_arguments() noexcept;
/// clone() without CLONE_VM (fork-like) and with exit signal 0: `flags` such as
/// CLONE_PIDFD (the pidfd is written to *pidfd); `pid` is the child's pid in the parent,
/// 0 in the child. The child returns into its caller with a copy of the parent's memory
/// but none of libc's fork handlers run: it may only make async-signal-safe calls.
error_code clone_fork(unsigned long flags, int* pidfd, pid_t& pid) noexcept;
/// The whole life of a child made by clone_fork() that only has to exist until told to
/// go: closes write_end, reads read_end until EOF (the parent closed its end), then exits
/// with 0. Raw system calls only: no libc wrapper that a sanitizer intercepts and nothing
/// else that could take a lock some other thread of the parent held at the clone.
[[noreturn]] void exit_when_closed(int read_end, int write_end) noexcept;
/// name_to_handle_at(fd, "", AT_EMPTY_PATH): the handle type and, for an 8-byte handle
/// (pidfs, FILEID_KERNFS), its value.
error_code name_to_handle(int fd, int& type, std::uint64_t& value) noexcept;
/// open_by_handle_at(mount_fd) with an 8-byte handle of the given type.
error_code open_by_handle(int mount_fd, int type, std::uint64_t value, int flags, int& fd) noexcept;
/// poll() on one fd; revents 0 on timeout. timeout_ms < 0 waits forever.
error_code poll_one(int fd, short events, int timeout_ms, short& revents) noexcept;
/// process_madvise(pidfd, iov, n, advice, 0); `advised` is the number of bytes advised.
error_code process_madvise(int pidfd, const iovec* iov, std::size_t n, int advice,
                           std::size_t& advised) noexcept;
/// fgetxattr(); with size 0 only the value's length is returned in `len`.
error_code fgetxattr(int fd, const char* name, void* value, std::size_t size,
                     std::size_t& len) noexcept;
/// fsetxattr().
error_code fsetxattr(int fd, const char* name, const void* value, std::size_t size,
                     int flags) noexcept;
/// flistxattr(); with size 0 only the list's length is returned in `len`.
error_code flistxattr(int fd, char* list, std::size_t size, std::size_t& len) noexcept;
/// True if the calling thread has capability `cap` in its effective set (capget).
bool has_effective_capability(int cap) noexcept;
/// fremovexattr().
error_code fremovexattr(int fd, const char* name) noexcept;
/// mkdirat().
error_code mkdir_at(int dirfd, const char* name, mode_t mode) noexcept;
/// unlinkat(AT_REMOVEDIR): removes an empty directory (a cgroup with no members).
error_code rmdir_at(int dirfd, const char* name) noexcept;

}  // namespace pidfd::sys

#endif  // PIDFD_LIB_SYS_HPP
