// asio-pidfd internal: kernel constants newer than the build host's headers.
//
// Debian 12 ships the 6.1 uapi headers, which lack most of these. Each is guarded so a
// newer header takes precedence (the values are ABI and cannot differ).
#ifndef PIDFD_DETAIL_LINUX_HPP
#define PIDFD_DETAIL_LINUX_HPP

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstdint>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef PIDFD_SIGNAL_THREAD
#define PIDFD_SIGNAL_THREAD (1UL << 0)
#define PIDFD_SIGNAL_THREAD_GROUP (1UL << 1)
#define PIDFD_SIGNAL_PROCESS_GROUP (1UL << 2)
#endif
#ifndef PIDFD_SELF_THREAD
#define PIDFD_SELF_THREAD (-10000)
#define PIDFD_SELF_THREAD_GROUP (-10001)
#endif
#ifndef FD_PIDFS_ROOT
#define FD_PIDFS_ROOT (-10002)
#endif
#ifndef PID_FS_MAGIC
#define PID_FS_MAGIC 0x50494446
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif
#ifndef FILEID_KERNFS
#define FILEID_KERNFS 0xfe
#endif

#define PIDFS_IOCTL_MAGIC_ 0xFF

namespace pidfd::detail {

/// struct pidfd_info as of Linux 6.19 (VER2, 80 bytes) padded to 88 bytes (VER3). The
/// kernel copies min(its size, ours) and zero-fills the rest, so always zero it first and
/// check the returned mask.
struct pidfd_info {
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid, tgid, ppid;
  std::uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  std::int32_t exit_code;
  std::uint32_t coredump_mask;
  std::uint32_t coredump_signal;
  std::uint64_t supported_mask;
  std::uint32_t coredump_code;
  std::uint32_t spare;
};
static_assert(sizeof(pidfd_info) == 88);

inline constexpr std::uint64_t pidfd_info_pid = 1ULL << 0;
inline constexpr std::uint64_t pidfd_info_creds = 1ULL << 1;
inline constexpr std::uint64_t pidfd_info_cgroupid = 1ULL << 2;
inline constexpr std::uint64_t pidfd_info_exit = 1ULL << 3;
inline constexpr std::uint64_t pidfd_info_coredump = 1ULL << 4;
inline constexpr std::uint64_t pidfd_info_supported_mask = 1ULL << 5;

inline constexpr unsigned long pidfd_get_info =
    _IOWR(PIDFS_IOCTL_MAGIC_, 11, pidfd_info);

/// PIDFD_GET_<type>_NAMESPACE for n = 1 (cgroup) .. 10 (uts).
constexpr unsigned long pidfd_get_namespace_ioctl(int n) noexcept {
  return _IO(PIDFS_IOCTL_MAGIC_, n);
}

/// struct clone_args up to CLONE_ARGS_SIZE_VER2 (cgroup, 5.7).
struct clone_args {
  std::uint64_t flags;
  std::uint64_t pidfd;
  std::uint64_t child_tid;
  std::uint64_t parent_tid;
  std::uint64_t exit_signal;
  std::uint64_t stack;
  std::uint64_t stack_size;
  std::uint64_t tls;
  std::uint64_t set_tid;
  std::uint64_t set_tid_size;
  std::uint64_t cgroup;
};
static_assert(sizeof(clone_args) == 88);

}  // namespace pidfd::detail

// ---- Issue 14: the rest of the pidfd surface to 6.18 (+ 6.19's info bits) -------------
// Kept as constants (not macros) in one block so they cannot collide with glibc's or the
// kernel headers' names.
namespace pidfd::detail {

/// process_madvise(2) (5.10); x86_64 number.
inline constexpr long sys_process_madvise = 440;

/// PIDFD_INFO_COREDUMP_SIGNAL (6.19): coredump_signal is valid in the reply.
inline constexpr std::uint64_t pidfd_info_coredump_signal = 1ULL << 6;

// coredump_mask bits of PIDFD_INFO_COREDUMP (6.16).
inline constexpr std::uint32_t pidfd_coredumped = 1U << 0;     ///< PIDFD_COREDUMPED
inline constexpr std::uint32_t pidfd_coredump_skip = 1U << 1;  ///< PIDFD_COREDUMP_SKIP
inline constexpr std::uint32_t pidfd_coredump_user = 1U << 2;  ///< PIDFD_COREDUMP_USER
inline constexpr std::uint32_t pidfd_coredump_root = 1U << 3;  ///< PIDFD_COREDUMP_ROOT

// Reply sizes of PIDFD_GET_INFO.
inline constexpr std::size_t pidfd_info_size_ver0 = 64;  ///< 6.13
inline constexpr std::size_t pidfd_info_size_ver1 = 72;  ///< coredump_mask, 6.16
inline constexpr std::size_t pidfd_info_size_ver2 = 80;  ///< supported_mask, 6.19
inline constexpr std::size_t pidfd_info_size_ver3 = 88;  ///< coredump_code, 7.1

// The layout the kernel writes (include/uapi/linux/pidfd.h): checked here so that the 6.19
// fields, which no kernel on the project machines fills yet, are read from the right place.
static_assert(offsetof(pidfd_info, exit_code) == 60);
static_assert(offsetof(pidfd_info, coredump_mask) == pidfd_info_size_ver0);
static_assert(offsetof(pidfd_info, coredump_signal) == 68);
static_assert(offsetof(pidfd_info, supported_mask) == pidfd_info_size_ver1);
static_assert(offsetof(pidfd_info, coredump_code) == pidfd_info_size_ver2);
static_assert(sizeof(pidfd_info) == pidfd_info_size_ver3);


}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_LINUX_HPP
