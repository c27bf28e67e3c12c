// asio-pidfd: what the running kernel supports.
#ifndef PIDFD_KERNEL_HPP
#define PIDFD_KERNEL_HPP

#include <string>

namespace pidfd {

/// Which pidfd facilities the running kernel offers. Each is probed on its own (emulators
/// and seccomp profiles implement subsets), never inferred from the version string.
struct kernel_features {
  bool pidfd_open;      ///< pidfd_open() (5.3)
  bool send_signal;     ///< pidfd_send_signal() (5.1)
  bool waitid_pidfd;    ///< waitid(P_PIDFD) (5.4)
  bool clone_pidfd;     ///< clone(CLONE_PIDFD) (5.2)
  bool clone3;          ///< clone3() with CLONE_PIDFD (5.3)
  bool nonblock;        ///< PIDFD_NONBLOCK (5.10)
  bool getfd;           ///< pidfd_getfd() (5.6)
  bool mrelease;        ///< process_mrelease() (5.15)
  bool pidfs;           ///< pidfs: unique inodes, HUP after the reap (6.9)
  bool thread_pidfd;    ///< PIDFD_THREAD (6.9)
  bool signal_scope;    ///< PIDFD_SIGNAL_* flags of pidfd_send_signal (6.9)
  bool namespaces;      ///< PIDFD_GET_*_NAMESPACE ioctls (6.11)
  bool get_info;        ///< PIDFD_GET_INFO (6.13)
  bool info_exit;       ///< PIDFD_INFO_EXIT: exit status after the reap (6.15)
  bool file_handles;    ///< pidfs file handles, open_by_id() (6.14)
  bool self_sentinels;  ///< PIDFD_SELF_THREAD / PIDFD_SELF_THREAD_GROUP (6.15)
  bool peer_pidfd;      ///< SO_PEERPIDFD / SO_PASSPIDFD (6.5)
  bool madvise;         ///< process_madvise(), pid_fd::madvise() (5.10)
  bool info_coredump;   ///< PIDFD_INFO_COREDUMP: process_info::coredump_mask (6.16)
  bool xattrs;          ///< trusted.* xattrs on pidfds, pid_fd::set_xattr() etc. (6.17)
  bool info_supported_mask;   ///< PIDFD_INFO_SUPPORTED_MASK: GET_INFO lists its bits (6.19)
  bool info_coredump_signal;  ///< PIDFD_INFO_COREDUMP_SIGNAL: process_info::coredump_signal (6.19)
};

/// The features of the running kernel, probed on first use (thread-safe, once per process;
/// the probe leaves no fd or child behind).
///
/// A probe that some call could not answer for want of memory or descriptors, or by an
/// interruption (ENOMEM, EMFILE, ENFILE, ENOBUFS, EAGAIN, EINTR), is not kept: the features it
/// found are returned (those it could not try read false) in storage of the calling thread,
/// valid until that thread's next call, and a call made a second or more later probes again;
/// the first probe that every call answered is kept for the life of the process.
///
/// The environment variable ASIO_PIDFD_PRETEND_MISSING, a comma-separated list of member
/// names (for example "get_info,info_exit"), read once at the first call, makes the
/// library behave as if those features were absent; they then read false here.
const kernel_features& kernel_support();

/// One "name: yes/no" line per feature.
std::string to_string(const kernel_features& features);

}  // namespace pidfd

#endif  // PIDFD_KERNEL_HPP
