// asio-pidfd: the synchronous core.
#ifndef PIDFD_PID_FD_HPP
#define PIDFD_PID_FD_HPP

#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/unique_fd.hpp>

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

namespace pidfd {

/// Flags for pid_fd::open().
enum class open_flags : unsigned {
  none = 0,
  /// PIDFD_NONBLOCK (5.10): waitid() on the pidfd does not block. wait() still works.
  nonblock = 1,
  /// PIDFD_THREAD (6.9): the pidfd refers to one thread rather than a process.
  thread = 2,
};
constexpr open_flags operator|(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr open_flags operator&(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
constexpr open_flags& operator|=(open_flags& a, open_flags b) noexcept { return a = a | b; }

/// Who receives a signal sent through a pidfd (pidfd_send_signal flags, Linux 6.9).
enum class signal_scope {
  /// The scope the pidfd implies: the thread for a thread pidfd, else the thread group.
  pidfd_default,
  /// PIDFD_SIGNAL_THREAD: only the thread the pidfd refers to.
  thread,
  /// PIDFD_SIGNAL_THREAD_GROUP: the whole process.
  thread_group,
  /// PIDFD_SIGNAL_PROCESS_GROUP: the process group whose id is the pidfd's pid.
  process_group,
};

/// A namespace type for pid_fd::get_namespace() (PIDFD_GET_*_NAMESPACE, Linux 6.11).
enum class namespace_type {
  cgroup, ipc, mnt, net, pid, pid_for_children, time, time_for_children, user, uts
};

/// A process's user and group ids, mapped into the caller's user namespace.
struct credentials {
  uid_t ruid, euid, suid, fsuid;
  gid_t rgid, egid, sgid, fsgid;
  friend bool operator==(const credentials&, const credentials&) = default;
};

/// What PIDFD_GET_INFO (or its /proc fallback) reports about a live process.
struct process_info {
  pid_t pid;    ///< the thread id for a thread pidfd, else the process id
  pid_t tgid;   ///< the process id
  pid_t ppid;   ///< 0 if the parent is outside our pid namespace
  credentials creds;
  std::uint64_t cgroup_id;  ///< id of the process's cgroup v2 directory
};

/// An owned pidfd: a file descriptor naming one process (or thread) for its whole life.
///
/// Unlike a PID, a pidfd is never recycled: every operation acts on the process it was
/// opened for, or fails with no_such_process once that process has been reaped.
///
/// Every fallible member comes as a pair: one throws pidfd::system_error, the other takes
/// an error_code& and is noexcept. Features that the running kernel lacks are reported as
/// boost::system::errc::operation_not_supported unless a race-free fallback exists (see
/// kernel_support()).
///
/// Thread safety: distinct objects are safe. A shared object is safe for concurrent const
/// calls; wait(), try_wait() and cached_status() may also be called concurrently (the reap
/// is serialised internally and its result cached).
namespace detail {
/// Tag of pid_fd's constructor for a pidfd known to name a whole process.
struct process_pidfd_t {
  explicit process_pidfd_t() = default;
};
/// The tag value.
inline constexpr process_pidfd_t process_pidfd{};
}  // namespace detail

class pid_fd {
public:
  /// An empty object (is_open() is false).
  pid_fd() noexcept = default;
  /// Adopts an existing pidfd, taking ownership. The pid is recorded now (best effort), so
  /// pid() keeps working after the process is reaped.
  explicit pid_fd(int fd) noexcept;
  /// Adopts an existing pidfd whose process id (in our pid namespace) the caller knows,
  /// such as one just returned by clone(CLONE_PIDFD); saves the query of pid_fd(int).
  pid_fd(int fd, pid_t pid) noexcept;
  /// As above, for a pidfd known to name a whole process, never a thread (such as one
  /// from clone(CLONE_PIDFD)): no system call at all.
  pid_fd(int fd, pid_t pid, detail::process_pidfd_t) noexcept
      : fd_(fd), pid_(fd >= 0 ? pid : 0) {}
  pid_fd(pid_fd&& other) noexcept;
  pid_fd& operator=(pid_fd&& other) noexcept;
  pid_fd(const pid_fd&) = delete;
  pid_fd& operator=(const pid_fd&) = delete;
  ~pid_fd();

  /// Opens a pidfd for pid (pidfd_open, Linux 5.3).
  ///
  /// Racy for anything but your own unreaped child: if the process exits and is reaped
  /// before the call, the PID may already name another process, and you get a pidfd for
  /// that one. Prefer spawn() (the pidfd comes from the clone itself), SO_PEERPIDFD, a
  /// pidfd passed over a socket, or open_by_id().
  ///
  /// Errors: no_such_process for a process that does not exist (or a thread id without
  /// open_flags::thread), invalid_argument for pid <= 0, operation_not_supported when the
  /// kernel lacks pidfd_open or a requested flag.
  static pid_fd open(pid_t pid, open_flags flags = open_flags::none);
  static pid_fd open(pid_t pid, error_code& ec) noexcept;
  static pid_fd open(pid_t pid, open_flags flags, error_code& ec) noexcept;

  /// A pidfd for the calling process.
  static pid_fd self();
  static pid_fd self(error_code& ec) noexcept;

  /// Reopens a process from its id() (a pidfs file handle, Linux 6.14). Race-free: the id
  /// is never reused. no_such_process once the process has been reaped (or for an id that
  /// never existed); operation_not_supported on older kernels.
  static pid_fd open_by_id(std::uint64_t id);
  static pid_fd open_by_id(std::uint64_t id, error_code& ec) noexcept;

  /// A second pidfd for the same process (F_DUPFD_CLOEXEC), with the same recorded pid and
  /// cached status.
  pid_fd dup() const;
  pid_fd dup(error_code& ec) const noexcept;

  /// The pidfd itself (never the PID); -1 when empty.
  int native_handle() const noexcept { return fd_; }
  bool is_open() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return is_open(); }
  /// Gives up ownership of the pidfd and returns it; the object becomes empty.
  int release() noexcept;
  /// Closes the pidfd; the object becomes empty.
  void close() noexcept;
  /// True if this is a thread pidfd (open_flags::thread, or PIDFD_THREAD on an adopted fd).
  bool is_thread() const noexcept { return thread_; }

  /// Sends sig (0 probes liveness) through pidfd_send_signal. A scope other than
  /// pidfd_default needs Linux 6.9 (operation_not_supported before). no_such_process once
  /// the process has been reaped; a zombie accepts (and ignores) signals.
  void send_signal(int sig, signal_scope scope = signal_scope::pidfd_default) const;
  void send_signal(int sig, error_code& ec) const noexcept;
  void send_signal(int sig, signal_scope scope, error_code& ec) const noexcept;

  /// Sends sig with a payload, like sigqueue(): the receiver sees si_code SI_QUEUE, our pid
  /// and uid, and value.
  void queue_signal(int sig, union sigval value) const;
  void queue_signal(int sig, union sigval value, error_code& ec) const noexcept;

  /// Sends SIGKILL.
  void kill() const;
  void kill(error_code& ec) const noexcept;

  /// True if the pidfd is readable: the process has exited (it may still be a zombie).
  /// Never blocks and never reaps.
  bool has_exited() const noexcept;

  /// Blocks until the process exits and returns its status, reaping it if it is our child.
  ///
  /// The status is cached: later wait()/try_wait()/cached_status() calls return it. Works
  /// on a pidfd with O_NONBLOCK set. For a process that is not our child (or was reaped by
  /// someone else), waits for the reap and reads PIDFD_INFO_EXIT (Linux 6.15); without it
  /// the result is errc::status_unavailable, as it is for a thread pidfd.
  exit_status wait();
  exit_status wait(error_code& ec) noexcept;

  /// Like wait() but never blocks: std::nullopt while the process runs (or has exited but
  /// its status is not available yet: a non-child zombie not yet reaped by its parent,
  /// when the kernel has PIDFD_INFO_EXIT). Without PIDFD_INFO_EXIT, a non-child (or a
  /// thread) gives errc::status_unavailable as soon as it has exited, since no status can
  /// ever come.
  std::optional<exit_status> try_wait();
  std::optional<exit_status> try_wait(error_code& ec) noexcept;

  /// The status a previous wait()/try_wait() (or async_wait) obtained, if any.
  std::optional<exit_status> cached_status() const noexcept;

  /// The process id (the thread id for a thread pidfd), recorded at creation. For an
  /// adopted pidfd whose process has been reaped since, no_such_process.
  pid_t pid() const;
  pid_t pid(error_code& ec) const noexcept;
  /// The parent's pid (0 if the parent is outside our pid namespace).
  pid_t ppid() const;
  pid_t ppid(error_code& ec) const noexcept;
  /// pid, tgid, ppid, credentials and cgroup id in one query (PIDFD_GET_INFO, 6.13, or the
  /// verified /proc fallback).
  process_info info() const;
  process_info info(error_code& ec) const noexcept;
  credentials creds() const;
  credentials creds(error_code& ec) const noexcept;
  /// The id of the process's cgroup v2 directory.
  std::uint64_t cgroup_id() const;
  std::uint64_t cgroup_id(error_code& ec) const noexcept;

  /// The pidfs inode number (Linux 6.9): unique for the boot, never reused, equal for all
  /// pidfds of one process. operation_not_supported before pidfs.
  std::uint64_t id() const;
  std::uint64_t id(error_code& ec) const noexcept;

  /// An nsfs descriptor for one of the process's namespaces (PIDFD_GET_*_NAMESPACE, 6.11;
  /// falls back to /proc/<pid>/ns/<name> read through proc_dir()).
  unique_fd get_namespace(namespace_type type) const;
  unique_fd get_namespace(namespace_type type, error_code& ec) const noexcept;

  /// Moves the calling thread into the process's namespaces named by clone_new_flags (an
  /// OR of CLONE_NEW*), with setns(pidfd, flags) (5.8).
  void set_namespace(int clone_new_flags) const;
  void set_namespace(int clone_new_flags, error_code& ec) const noexcept;

  /// Duplicates the process's descriptor target_fd into ours (pidfd_getfd, 5.6; needs
  /// ptrace access). The new fd is close-on-exec.
  unique_fd get_remote_fd(int target_fd) const;
  unique_fd get_remote_fd(int target_fd, error_code& ec) const noexcept;

  /// Frees the memory of a process that is being killed (process_mrelease, 5.15), sooner
  /// than the kernel would. Call it after SIGKILL. invalid_argument if the process is not
  /// dying, no_such_process once it is a zombie or reaped.
  void release_memory() const;
  void release_memory(error_code& ec) const noexcept;

  /// A directory descriptor for /proc/<pid>, verified after opening to belong to this
  /// process (the process was not reaped in between, so the PID had not been recycled).
  /// The pid is the one /proc uses (see access_proc()). no_such_process once the process
  /// has been reaped or if /proc does not show it.
  unique_fd proc_dir() const;
  unique_fd proc_dir(error_code& ec) const noexcept;

  /// Runs f() (or f(pid)), then verifies that the process has not been reaped meanwhile,
  /// so whatever f read under /proc/<pid> belonged to this process; otherwise
  /// no_such_process. f(pid) receives the pid under which /proc shows the process (the
  /// pid in the procfs mount's pid namespace, which may differ from pid()). Returns what
  /// f returns.
  template <class F>
  auto access_proc(F&& f) const {
    error_code ec;
    if constexpr (std::is_void_v<decltype(call_with_pid(f, pid_t{}))>) {
      access_proc(std::forward<F>(f), ec);
      if (ec) throw_error(ec, "pidfd::pid_fd::access_proc");
    } else {
      auto result = access_proc(std::forward<F>(f), ec);
      if (ec) throw_error(ec, "pidfd::pid_fd::access_proc");
      return result;
    }
  }
  /// As above; when ec is set, f may not have run, and what it returned must be discarded.
  template <class F>
  auto access_proc(F&& f, error_code& ec) const {
    using result_type = decltype(call_with_pid(f, pid_t{}));
    const pid_t p = proc_access_begin(ec);
    if constexpr (std::is_void_v<result_type>) {
      if (ec) return;
      call_with_pid(f, p);
      proc_access_end(ec);
    } else {
      if (ec) return result_type{};
      result_type result = call_with_pid(f, p);
      proc_access_end(ec);
      return result;
    }
  }

private:
  template <class F>
  static decltype(auto) call_with_pid(F& f, pid_t p) {
    if constexpr (std::is_invocable_v<F&, pid_t>)
      return f(p);
    else
      return f();
  }
  [[noreturn]] static void throw_error(const error_code& ec, const char* what);
  pid_t proc_access_begin(error_code& ec) const noexcept;
  void proc_access_end(error_code& ec) const noexcept;
  std::optional<exit_status> reap(bool blocking, error_code& ec) noexcept;
  void store_status(exit_status s) noexcept;

  int fd_ = -1;
  pid_t pid_ = 0;        // recorded at creation; 0 when unknown
  bool thread_ = false;  // PIDFD_THREAD
  // The cached exit status as its wait-status encoding; no_status when none yet.
  static constexpr int no_status = -1;
  std::atomic<int> status_{no_status};
  std::mutex reap_mutex_;  // serialises waitid/PIDFD_INFO_EXIT so one caller reaps
};

}  // namespace pidfd

#endif  // PIDFD_PID_FD_HPP
