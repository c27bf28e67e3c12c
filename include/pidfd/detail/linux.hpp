// asio-pidfd internal: kernel constants newer than the build host's headers.
//
// Debian 12 ships the 6.1 uapi headers, which lack most of these; newer libc headers have
// some of them, as macros or as enum constants. None of the kernel's or libc's names is
// defined here: every value has a name of our own in pidfd::detail.
#ifndef PIDFD_DETAIL_LINUX_HPP
#define PIDFD_DETAIL_LINUX_HPP

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstdint>

namespace pidfd::detail {

// Kernel ABI values, under names of our own: a libc header may declare the kernel's names
// (glibc 2.39 makes SCM_PIDFD an enum constant, then #defines it to itself), so defining
// them here would break in one include order or the other. The values are ABI and cannot
// differ from the headers'. Syscall numbers come from <sys/syscall.h> where it has them.

// waitid() id type (5.4).
inline constexpr idtype_t k_p_pidfd = static_cast<idtype_t>(3);

// clone()/clone3() flags.
inline constexpr std::uint64_t k_clone_pidfd = 0x00001000;            // 5.2
inline constexpr std::uint64_t k_clone_clear_sighand = 0x100000000ULL; // 5.5
inline constexpr std::uint64_t k_clone_into_cgroup = 0x200000000ULL;   // 5.7

// Syscall numbers (the same on every architecture but alpha from 424 on).
#ifdef SYS_pidfd_send_signal
inline constexpr long k_sys_pidfd_send_signal = SYS_pidfd_send_signal;
#else
inline constexpr long k_sys_pidfd_send_signal = 424;
#endif
#ifdef SYS_pidfd_open
inline constexpr long k_sys_pidfd_open = SYS_pidfd_open;
#else
inline constexpr long k_sys_pidfd_open = 434;
#endif
#ifdef SYS_clone3
inline constexpr long k_sys_clone3 = SYS_clone3;
#else
inline constexpr long k_sys_clone3 = 435;
#endif
#ifdef SYS_close_range
inline constexpr long k_sys_close_range = SYS_close_range;
#else
inline constexpr long k_sys_close_range = 436;
#endif
#ifdef SYS_pidfd_getfd
inline constexpr long k_sys_pidfd_getfd = SYS_pidfd_getfd;
#else
inline constexpr long k_sys_pidfd_getfd = 438;
#endif
#ifdef SYS_process_mrelease
inline constexpr long k_sys_process_mrelease = SYS_process_mrelease;
#else
inline constexpr long k_sys_process_mrelease = 448;
#endif

// close_range() flags (5.9, 5.11).
inline constexpr unsigned k_close_range_unshare = 1U << 1;
inline constexpr unsigned k_close_range_cloexec = 1U << 2;

// pidfd_open() flags: PIDFD_NONBLOCK (5.10) and PIDFD_THREAD (6.9).
inline constexpr unsigned k_pidfd_nonblock = O_NONBLOCK;
inline constexpr unsigned k_pidfd_thread = O_EXCL;

// pidfd_send_signal() scopes (6.9).
inline constexpr unsigned k_pidfd_signal_thread = 1U << 0;
inline constexpr unsigned k_pidfd_signal_thread_group = 1U << 1;
inline constexpr unsigned k_pidfd_signal_process_group = 1U << 2;

// Sentinel pidfds for the caller (6.15) and the pidfs root for open_by_handle_at (6.14).
inline constexpr int k_pidfd_self_thread = -10000;
inline constexpr int k_pidfd_self_thread_group = -10001;
inline constexpr int k_fd_pidfs_root = -10002;

// statfs f_type of a pidfs pidfd (6.9) and its file handle type (6.14).
inline constexpr long k_pid_fs_magic = 0x50494446;
inline constexpr int k_fileid_kernfs = 0xfe;

// UNIX socket options and control message (6.5).
inline constexpr int k_so_passpidfd = 76;
inline constexpr int k_so_peerpidfd = 77;
inline constexpr int k_scm_pidfd = 0x04;

// The pidfs ioctl magic.
inline constexpr unsigned k_pidfs_ioctl_magic = 0xFF;

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
    _IOWR(k_pidfs_ioctl_magic, 11, pidfd_info);

/// PIDFD_GET_<type>_NAMESPACE for n = 1 (cgroup) .. 10 (uts).
constexpr unsigned long pidfd_get_namespace_ioctl(int n) noexcept {
  return _IO(k_pidfs_ioctl_magic, n);
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

// ---- The rest of the pidfd surface to 6.18 (+ 6.19's info bits) -----------------------
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
