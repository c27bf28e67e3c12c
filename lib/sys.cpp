#include "sys.hpp"

#include "fault.hpp"

#include <poll.h>
#include <sched.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace pidfd::sys {

using detail::errno_code;

namespace {
// Runs a call that returns -1 with errno on failure, retrying EINTR.
template <class F>
long retry(F f) noexcept {
  long r;
  do r = f();
  while (r == -1 && errno == EINTR);
  return r;
}
}  // namespace

error_code pidfd_open(pid_t pid, unsigned flags, int& fd) noexcept {
  const long r = PIDFD_FAULT("pidfd_open", ::syscall(detail::k_sys_pidfd_open, pid, flags));
  if (r < 0) return errno_code(errno);
  fd = static_cast<int>(r);
  return {};
}

error_code pidfd_send_signal(int pidfd, int sig, siginfo_t* info, unsigned flags) noexcept {
  if (PIDFD_FAULT("pidfd_send_signal",
                  ::syscall(detail::k_sys_pidfd_send_signal, pidfd, sig, info, flags)) < 0)
    return errno_code(errno);
  return {};
}

error_code pidfd_getfd(int pidfd, int target_fd, int& fd) noexcept {
  const long r =
      PIDFD_FAULT("pidfd_getfd", ::syscall(detail::k_sys_pidfd_getfd, pidfd, target_fd, 0));
  if (r < 0) return errno_code(errno);
  fd = static_cast<int>(r);
  return {};
}

error_code process_mrelease(int pidfd) noexcept {
  if (PIDFD_FAULT("process_mrelease", ::syscall(detail::k_sys_process_mrelease, pidfd, 0)) < 0)
    return errno_code(errno);
  return {};
}

// The raw waitid system call: its fifth argument, a struct rusage*, receives the reaped
// child's resource usage (glibc's waitid() always passes NULL).
error_code waitid_pidfd(int pidfd, siginfo_t& info, int options, rusage* usage) noexcept {
  info = siginfo_t{};
  const long r = retry([&] {
    return PIDFD_FAULT("waitid(P_PIDFD)", ::syscall(SYS_waitid, detail::k_p_pidfd,
                                                    static_cast<id_t>(pidfd), &info, options,
                                                    usage));
  });
  if (r < 0) return errno_code(errno);
  return {};
}

error_code waitid_pid(pid_t pid, siginfo_t& info, int options, rusage* usage) noexcept {
  info = siginfo_t{};
  const long r = retry([&] {
    return PIDFD_FAULT("waitid(P_PID)",
                       ::syscall(SYS_waitid, P_PID, static_cast<id_t>(pid), &info, options, usage));
  });
  if (r < 0) return errno_code(errno);
  return {};
}

error_code pidfd_get_info(int pidfd, detail::pidfd_info& info) noexcept {
  if (PIDFD_FAULT("ioctl(PIDFD_GET_INFO)", ::ioctl(pidfd, detail::pidfd_get_info, &info)) < 0)
    return errno_code(errno);
  return {};
}

error_code pidfd_get_namespace(int pidfd, int n, int& fd) noexcept {
  const int r = PIDFD_FAULT("ioctl(PIDFD_GET_NAMESPACE)",
                            ::ioctl(pidfd, detail::pidfd_get_namespace_ioctl(n), 0));
  if (r < 0) return errno_code(errno);
  fd = r;
  return {};
}

error_code setns(int fd, int nstype) noexcept {
  if (PIDFD_FAULT("setns", ::setns(fd, nstype)) < 0) return errno_code(errno);
  return {};
}

error_code clone3_without_arguments() noexcept {
  if (::syscall(detail::k_sys_clone3, nullptr, 0) < 0) return errno_code(errno);
  return {};  // not reached: no kernel accepts an empty argument block
}

error_code clone_fork(unsigned long flags, int* pidfd, pid_t& pid) noexcept {
  const long r = ::syscall(SYS_clone, flags, nullptr, pidfd, nullptr, nullptr);
  if (r < 0) return errno_code(errno);
  pid = static_cast<pid_t>(r);
  return {};
}

void exit_when_closed(int read_end, int write_end) noexcept {
  ::syscall(SYS_close, write_end);
  char c;
  while (::syscall(SYS_read, read_end, &c, 1) < 0 && errno == EINTR) {
  }
  ::syscall(SYS_exit_group, 0);
  __builtin_unreachable();
}

namespace {
// struct file_handle ends in a flexible array: give it room for an 8-byte handle.
struct handle_storage {
  alignas(file_handle) unsigned char bytes[sizeof(file_handle) + 16];
  file_handle* get() noexcept { return reinterpret_cast<file_handle*>(bytes); }
};
}  // namespace

error_code name_to_handle(int fd, int& type, std::uint64_t& value) noexcept {
  handle_storage h{};
  file_handle* fh = new (h.bytes) file_handle{};
  fh->handle_bytes = 16;
  int mount_id = 0;
  if (PIDFD_FAULT("name_to_handle_at",
                  ::name_to_handle_at(fd, "", fh, &mount_id, AT_EMPTY_PATH)) < 0)
    return errno_code(errno);
  type = fh->handle_type;
  value = 0;
  if (fh->handle_bytes == sizeof value) std::memcpy(&value, fh->f_handle, sizeof value);
  return {};
}

error_code open_by_handle(int mount_fd, int type, std::uint64_t value, int flags,
                          int& fd) noexcept {
  handle_storage h{};
  file_handle* fh = new (h.bytes) file_handle{};
  fh->handle_bytes = sizeof value;
  fh->handle_type = type;
  std::memcpy(fh->f_handle, &value, sizeof value);
  const int r = PIDFD_FAULT("open_by_handle_at", ::open_by_handle_at(mount_fd, fh, flags));
  if (r < 0) return errno_code(errno);
  fd = r;
  return {};
}

error_code poll_one(int fd, short events, int timeout_ms, short& revents) noexcept {
  pollfd p{fd, events, 0};
  const long r = retry([&] { return PIDFD_FAULT("poll", ::poll(&p, 1, timeout_ms)); });
  if (r < 0) return errno_code(errno);
  revents = r == 0 ? short{0} : p.revents;
  return {};
}

error_code process_madvise(int pidfd, const iovec* iov, std::size_t n, int advice,
                           std::size_t& advised) noexcept {
  const long r = PIDFD_FAULT("process_madvise",
                             ::syscall(detail::sys_process_madvise, pidfd, iov, n, advice, 0U));
  if (r < 0) return errno_code(errno);
  advised = static_cast<std::size_t>(r);
  return {};
}

error_code fgetxattr(int fd, const char* name, void* value, std::size_t size,
                     std::size_t& len) noexcept {
  const long r = retry([&] {
    return static_cast<long>(PIDFD_FAULT("fgetxattr", ::fgetxattr(fd, name, value, size)));
  });
  if (r < 0) return errno_code(errno);
  len = static_cast<std::size_t>(r);
  return {};
}

error_code fsetxattr(int fd, const char* name, const void* value, std::size_t size,
                     int flags) noexcept {
  if (retry([&] {
        return static_cast<long>(
            PIDFD_FAULT("fsetxattr", ::fsetxattr(fd, name, value, size, flags)));
      }) < 0)
    return errno_code(errno);
  return {};
}

error_code flistxattr(int fd, char* list, std::size_t size, std::size_t& len) noexcept {
  const long r = retry(
      [&] { return static_cast<long>(PIDFD_FAULT("flistxattr", ::flistxattr(fd, list, size))); });
  if (r < 0) return errno_code(errno);
  len = static_cast<std::size_t>(r);
  return {};
}

bool has_effective_capability(int cap) noexcept {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (PIDFD_FAULT("capget", ::syscall(SYS_capget, &header, data)) != 0) return false;
  const auto word = static_cast<unsigned>(cap) / 32;
  return word < _LINUX_CAPABILITY_U32S_3 && (data[word].effective & (1U << (cap % 32))) != 0;
}

error_code fremovexattr(int fd, const char* name) noexcept {
  if (retry([&] {
        return static_cast<long>(PIDFD_FAULT("fremovexattr", ::fremovexattr(fd, name)));
      }) < 0)
    return errno_code(errno);
  return {};
}

error_code mkdir_at(int dirfd, const char* name, mode_t mode) noexcept {
  if (PIDFD_FAULT("mkdirat", ::mkdirat(dirfd, name, mode)) < 0) return errno_code(errno);
  return {};
}

error_code rmdir_at(int dirfd, const char* name) noexcept {
  if (PIDFD_FAULT("unlinkat(AT_REMOVEDIR)", ::unlinkat(dirfd, name, AT_REMOVEDIR)) < 0)
    return errno_code(errno);
  return {};
}

}  // namespace pidfd::sys
