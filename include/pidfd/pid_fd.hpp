// asio-pidfd: the synchronous core.
#ifndef PIDFD_PID_FD_HPP
#define PIDFD_PID_FD_HPP

#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/unique_fd.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace pidfd {

/// Flags for pid_fd::open().
enum class open_flags : unsigned {
  none = 0,
  /// PIDFD_NONBLOCK (5.10): waitid() on the pidfd does not block. wait() still works.
  nonblock = 1,
  /// PIDFD_THREAD (6.9): the pidfd refers to one thread rather than a process.
  thread = 2,
};
/// Both sets of flags.
constexpr open_flags operator|(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
/// The flags set in both.
constexpr open_flags operator&(open_flags a, open_flags b) noexcept {
  return static_cast<open_flags>(static_cast<unsigned>(a) & static_cast<unsigned>(b));
}
/// Adds b's flags to a.
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
  uid_t ruid;   ///< real user id
  uid_t euid;   ///< effective user id
  uid_t suid;   ///< saved set-user-id
  uid_t fsuid;  ///< file-system user id
  gid_t rgid;   ///< real group id
  gid_t egid;   ///< effective group id
  gid_t sgid;   ///< saved set-group-id
  gid_t fsgid;  ///< file-system group id
  /// Equal when every id is equal.
  friend bool operator==(const credentials&, const credentials&) = default;
};

/// Bits of process_info::coredump_mask (PIDFD_COREDUMPED, _SKIP, _USER, _ROOT; Linux 6.16).
/// The kernel dumped a core to the coredump socket or a `|helper %F` (never set for a core
/// file: use exit_status::core_dumped() for that).
inline constexpr std::uint32_t coredump_dumped = 1U << 0;
/// A crash would not dump (PR_SET_DUMPABLE 0, or a setuid program with suid_dumpable 0).
inline constexpr std::uint32_t coredump_skipped = 1U << 1;
/// A dump would be owned by the process's user.
inline constexpr std::uint32_t coredump_as_user = 1U << 2;
/// A dump would be owned by root (suid_dumpable 2).
inline constexpr std::uint32_t coredump_as_root = 1U << 3;

/// What PIDFD_GET_INFO (or its /proc fallback) reports about a live process.
struct process_info {
  pid_t pid;    ///< the thread id for a thread pidfd, else the process id
  pid_t tgid;   ///< the process id
  pid_t ppid;   ///< 0 if the parent is outside our pid namespace
  credentials creds;   ///< user and group ids
  std::uint64_t cgroup_id;  ///< id of the process's cgroup v2 directory
  /// PIDFD_INFO_COREDUMP (Linux 6.16): an OR of coredump_dumped, coredump_skipped,
  /// coredump_as_user and coredump_as_root. Absent on older kernels and from the /proc
  /// fallback.
  std::optional<std::uint32_t> coredump_mask;
  /// PIDFD_INFO_COREDUMP_SIGNAL (Linux 6.19): the signal that made the process dump.
  /// Absent on older kernels, and when the kernel does not report it.
  std::optional<int> coredump_signal;
};

/// What a reaped child used, from the kernel's rusage (waitid with a struct rusage).
struct resource_usage {
  /// CPU time in user mode, including that of its descendants it waited for.
  std::chrono::microseconds user_cpu{};
  /// CPU time in the kernel, including that of its descendants it waited for.
  std::chrono::microseconds system_cpu{};
  /// The peak resident set size (ru_maxrss, in bytes). For a child that shared its
  /// parent's memory until exec (spawn()'s default, CLONE_VM), at least the parent's own
  /// peak at that moment: the kernel counts the shared memory as the child's until exec.
  std::uint64_t max_rss_bytes = 0;
  /// Equal when every field is equal.
  friend bool operator==(const resource_usage&, const resource_usage&) = default;
};

namespace detail {
/// Tag of pid_fd's constructor for a pidfd known to name a whole process.
struct process_pidfd_t {
  explicit process_pidfd_t() = default;
};
/// The tag value.
inline constexpr process_pidfd_t process_pidfd{};
}  // namespace detail

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
  /// Takes other's pidfd, recorded pid and cached status; other becomes empty.
  pid_fd(pid_fd&& other) noexcept;
  /// Closes the owned pidfd (if any), then takes other's; other becomes empty.
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
  /// As above, but reports a failure in ec instead of throwing.
  static pid_fd open(pid_t pid, error_code& ec) noexcept;
  /// As above, but reports a failure in ec instead of throwing.
  static pid_fd open(pid_t pid, open_flags flags, error_code& ec) noexcept;

  /// A pidfd for the calling process.
  static pid_fd self();
  /// As above, but reports a failure in ec instead of throwing.
  static pid_fd self(error_code& ec) noexcept;

  /// Reopens a process from its id() (a pidfs file handle, Linux 6.14). Race-free: the id
  /// is never reused. no_such_process once the process has been reaped (or for an id that
  /// never existed); operation_not_supported on older kernels.
  static pid_fd open_by_id(std::uint64_t id);
  /// As above, but reports a failure in ec instead of throwing.
  static pid_fd open_by_id(std::uint64_t id, error_code& ec) noexcept;

  /// A second pidfd for the same process (F_DUPFD_CLOEXEC), with the same recorded pid and
  /// cached status.
  pid_fd dup() const;
  /// As above, but reports a failure in ec instead of throwing.
  pid_fd dup(error_code& ec) const noexcept;

  /// The pidfd itself (never the PID); -1 when empty.
  int native_handle() const noexcept { return fd_; }
  /// True if the object owns a pidfd.
  bool is_open() const noexcept { return fd_ >= 0; }
  /// is_open().
  explicit operator bool() const noexcept { return is_open(); }
  /// Gives up ownership of the pidfd and returns it; the object becomes empty.
  [[nodiscard]] int release() noexcept;
  /// Closes the pidfd; the object becomes empty.
  void close() noexcept;
  /// True if this is a thread pidfd (open_flags::thread, or PIDFD_THREAD on an adopted fd).
  bool is_thread() const noexcept { return thread_; }

  /// Sends sig (0 probes liveness) through pidfd_send_signal. A scope other than
  /// pidfd_default needs Linux 6.9 (operation_not_supported before). no_such_process once
  /// the process has been reaped; a zombie accepts (and ignores) signals.
  ///
  /// signal_scope::process_group signals the process group whose id is this pidfd's pid
  /// (no_such_process if the process leads no group). The pidfd keeps naming that group
  /// after its leader has exited and been reaped: as long as a member still runs, the
  /// signal reaches the group, and the group id cannot have been reused meanwhile (a pid is
  /// not recycled while a group still uses it as its id). Only when the last member is gone
  /// does it give no_such_process.
  void send_signal(int sig, signal_scope scope = signal_scope::pidfd_default) const;
  /// As above, but reports a failure in ec instead of throwing.
  void send_signal(int sig, error_code& ec) const noexcept;
  /// As above, but reports a failure in ec instead of throwing.
  void send_signal(int sig, signal_scope scope, error_code& ec) const noexcept;

  /// Sends sig with a payload, like sigqueue(): the receiver sees si_code SI_QUEUE, our pid
  /// and uid, and value.
  void queue_signal(int sig, union sigval value) const;
  /// As above, but reports a failure in ec instead of throwing.
  void queue_signal(int sig, union sigval value, error_code& ec) const noexcept;

  /// Sends SIGKILL.
  void kill() const;
  /// As above, but reports a failure in ec instead of throwing.
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
  /// As above, but reports a failure in ec instead of throwing.
  exit_status wait(error_code& ec) noexcept;

  /// Like wait() but never blocks: std::nullopt while the process runs (or has exited but
  /// its status is not available yet: a non-child zombie not yet reaped by its parent,
  /// when the kernel has PIDFD_INFO_EXIT). Without PIDFD_INFO_EXIT, a non-child (or a
  /// thread) gives errc::status_unavailable as soon as it has exited, since no status can
  /// ever come.
  std::optional<exit_status> try_wait();
  /// As above, but reports a failure in ec instead of throwing.
  std::optional<exit_status> try_wait(error_code& ec) noexcept;

  /// The status a previous wait()/try_wait() (or async_wait) obtained, if any.
  std::optional<exit_status> cached_status() const noexcept;

  /// The resource usage of the child, once THIS object reaped it (wait(), try_wait() or
  /// basic_async_pidfd::async_wait, which record the kernel's rusage at the reap).
  /// std::nullopt before that, and when another party reaped the process (a non-child,
  /// a child reaped by waitpid elsewhere) or for a thread pidfd. Kept with the object
  /// while it holds its descriptor; moved with it, not copied by dup().
  std::optional<resource_usage> usage() const noexcept;

  /// The process id (the thread id for a thread pidfd), recorded at creation. For an
  /// adopted pidfd whose process has been reaped since, no_such_process. If it could not
  /// be learned at creation (before Linux 6.13 it is read from /proc/self/fdinfo, which
  /// fails at the descriptor limit), it is asked again, and that error is reported if it
  /// still cannot be learned.
  pid_t pid() const;
  /// As above, but reports a failure in ec instead of throwing.
  pid_t pid(error_code& ec) const noexcept;
  /// The parent's pid (0 if the parent is outside our pid namespace).
  pid_t ppid() const;
  /// As above, but reports a failure in ec instead of throwing.
  pid_t ppid(error_code& ec) const noexcept;
  /// pid, tgid, ppid, credentials and cgroup id in one query (PIDFD_GET_INFO, 6.13, or the
  /// verified /proc fallback).
  process_info info() const;
  /// As above, but reports a failure in ec instead of throwing.
  process_info info(error_code& ec) const noexcept;
  /// The user and group ids alone (the credentials of info()).
  credentials creds() const;
  /// As above, but reports a failure in ec instead of throwing.
  credentials creds(error_code& ec) const noexcept;
  /// The id of the process's cgroup v2 directory.
  std::uint64_t cgroup_id() const;
  /// As above, but reports a failure in ec instead of throwing.
  std::uint64_t cgroup_id(error_code& ec) const noexcept;

  /// The pidfs inode number (Linux 6.9): unique for the boot, never reused, equal for all
  /// pidfds of one process. operation_not_supported before pidfs.
  std::uint64_t id() const;
  /// As above, but reports a failure in ec instead of throwing.
  std::uint64_t id(error_code& ec) const noexcept;

  /// An nsfs descriptor for one of the process's namespaces (PIDFD_GET_*_NAMESPACE, 6.11;
  /// falls back to `/proc/<pid>/ns/<name>` read through proc_dir()).
  unique_fd get_namespace(namespace_type type) const;
  /// As above, but reports a failure in ec instead of throwing.
  unique_fd get_namespace(namespace_type type, error_code& ec) const noexcept;

  /// Moves the calling thread into the process's namespaces named by clone_new_flags (an
  /// OR of CLONE_NEW*), with setns(pidfd, flags) (5.8).
  void set_namespace(int clone_new_flags) const;
  /// As above, but reports a failure in ec instead of throwing.
  void set_namespace(int clone_new_flags, error_code& ec) const noexcept;

  /// Duplicates the process's descriptor target_fd into ours (pidfd_getfd, 5.6; needs
  /// ptrace access). The new fd is close-on-exec.
  unique_fd get_remote_fd(int target_fd) const;
  /// As above, but reports a failure in ec instead of throwing.
  unique_fd get_remote_fd(int target_fd, error_code& ec) const noexcept;

  /// Frees the memory of a process that is being killed (process_mrelease, 5.15), sooner
  /// than the kernel would. Call it after SIGKILL. invalid_argument if the process is not
  /// dying, no_such_process once it is a zombie or reaped.
  void release_memory() const;
  /// As above, but reports a failure in ec instead of throwing.
  void release_memory(error_code& ec) const noexcept;

  /// Gives the kernel advice about ranges of the process's memory (process_madvise,
  /// Linux 5.10): MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED or MADV_COLLAPSE for another
  /// process (for example, to page out an idle worker). Returns the number of bytes
  /// advised, which is less than the total when the kernel stopped early (a range is
  /// partly unmapped, say).
  ///
  /// Needs CAP_SYS_NICE and ptrace read access to the process (operation_not_permitted
  /// otherwise). Errors: invalid_argument for advice the kernel does not allow on another
  /// process (MADV_DONTNEED, an unknown value) or a bad range; no_such_process once the
  /// process has been reaped (or once it has exited: its memory is gone);
  /// operation_not_supported without process_madvise.
  std::size_t madvise(std::span<const iovec> ranges, int advice) const;
  /// As above, but reports a failure in ec instead of throwing.
  std::size_t madvise(std::span<const iovec> ranges, int advice, error_code& ec) const noexcept;

  /// The value of the pidfs extended attribute `name` (Linux 6.17). pidfs implements only
  /// the trusted.* namespace: an attribute is shared by every pidfd of the process and
  /// outlives the process's reap (until the kernel frees the process's struct pid, once
  /// no pidfd or socket refers to it any more), so a supervisor can tag a process and read
  /// the tag later, from any pidfd of it.
  ///
  /// Errors: no_message_available (ENODATA) if there is no such attribute (also what the
  /// kernel answers, whatever the attribute, to a caller without CAP_SYS_ADMIN);
  /// operation_not_supported before 6.17 and for a name outside trusted.*.
  std::string get_xattr(const std::string& name) const;
  /// As above, but reports a failure in ec instead of throwing.
  std::string get_xattr(const std::string& name, error_code& ec) const noexcept;

  /// Sets the pidfs extended attribute `name` to `value` (see get_xattr()). Needs
  /// CAP_SYS_ADMIN: operation_not_permitted without it. operation_not_supported before
  /// 6.17 and for a name outside trusted.*.
  void set_xattr(const std::string& name, std::string_view value) const;
  /// As above, but reports a failure in ec instead of throwing.
  void set_xattr(const std::string& name, std::string_view value, error_code& ec) const noexcept;

  /// The names of the process's pidfs extended attributes (see get_xattr()). Empty for a
  /// caller without CAP_SYS_ADMIN. operation_not_supported before 6.17.
  std::vector<std::string> list_xattrs() const;
  /// As above, but reports a failure in ec instead of throwing.
  std::vector<std::string> list_xattrs(error_code& ec) const noexcept;

  /// Removes the pidfs extended attribute `name` (see get_xattr()): no_message_available
  /// if there is none, operation_not_permitted without CAP_SYS_ADMIN,
  /// operation_not_supported before 6.17.
  void remove_xattr(const std::string& name) const;
  /// As above, but reports a failure in ec instead of throwing.
  void remove_xattr(const std::string& name, error_code& ec) const noexcept;

  /// The process's cgroup v2 path, relative to the cgroup2 mount (for example
  /// "/system.slice/foo.service"), from the "0::" line of `/proc/<pid>/cgroup` read through
  /// the verified proc_dir(), so it cannot describe a process that reused the PID.
  /// no_such_process once the process has been reaped; operation_not_supported on a
  /// system without the cgroup v2 hierarchy.
  std::string cgroup_path() const;
  /// As above, but reports a failure in ec instead of throwing.
  std::string cgroup_path(error_code& ec) const noexcept;

  /// A directory descriptor for `/proc/<pid>`, verified after opening to belong to this
  /// process (the process was not reaped in between, so the PID had not been recycled).
  /// The pid is the one /proc uses (see access_proc()). no_such_process once the process
  /// has been reaped or if /proc does not show it.
  unique_fd proc_dir() const;
  /// As above, but reports a failure in ec instead of throwing.
  unique_fd proc_dir(error_code& ec) const noexcept;

  /// Runs f() (or f(pid)), then verifies that the process has not been reaped meanwhile,
  /// so whatever f read under `/proc/<pid>` belonged to this process; otherwise
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
  /// Before a /proc access for access_proc(): the process's pid as the /proc mount sees
  /// it (fdinfo), checked to still name this process; no_such_process once it has been
  /// reaped, bad_file_descriptor for an empty object.
  pid_t proc_access_begin(error_code& ec) const noexcept;
  /// After the /proc access: no_such_process if the process was reaped meanwhile (the pid
  /// may then have named another process, so what was read must be discarded).
  void proc_access_end(error_code& ec) const noexcept;
  /// The one place that reaps, for wait() (blocking) and try_wait(): the cached status,
  /// or waitid() on our child, or PIDFD_INFO_EXIT for a process that is not; nullopt
  /// (with ec clear) when non-blocking and the process has not ended yet.
  std::optional<exit_status> reap(bool blocking, error_code& ec) noexcept;
  /// Takes the right to reap (waitid, PIDFD_INFO_EXIT) for the calling thread: returns
  /// true with status_ set to reaping, or false once a status is cached (waiting, without
  /// spinning, while another thread holds that right).
  bool begin_reap() const noexcept;
  /// Gives the right back: stores the status found, or no_status.
  void end_reap(int status) const noexcept;

  /// Records the reaped child's usage for this object (out of line: see usage()).
  void record_usage(const resource_usage& u) noexcept;
  /// Forgets it (the descriptor is closed or released).
  void forget_usage() noexcept;

  int fd_ = -1;
  pid_t pid_ = 0;        // recorded at creation; 0 when unknown
  bool thread_ = false;  // PIDFD_THREAD
  // A usage has been recorded: it lives out of line, in a table keyed by the descriptor
  // (only reaped objects have one), so the object stays 16 bytes.
  std::atomic<bool> has_usage_{false};
  // The cached exit status as its wait-status encoding (a wait status is never negative);
  // no_status when none yet; reaping while one thread makes an attempt to reap, so that
  // only one caller reaps (a lock in the same word as the status: no mutex, 16 bytes).
  static constexpr int no_status = -1;
  static constexpr int reaping = -2;
  mutable std::atomic<int> status_{no_status};
};

}  // namespace pidfd

#endif  // PIDFD_PID_FD_HPP
