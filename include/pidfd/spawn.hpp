// asio-pidfd: start a program and get its pidfd in one step.
#ifndef PIDFD_SPAWN_HPP
#define PIDFD_SPAWN_HPP

#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>

#include <sys/resource.h>
#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pidfd {

/// In spawn_options::stdin_fd, stdout_fd or stderr_fd: connect that stream of the child to
/// a new pipe whose other end the caller gets as an Asio pipe object. Only the overloads of
/// spawn() that take an executor or an execution context (<pidfd/process.hpp>) and
/// async_run() accept it; the plain spawn() reports invalid_argument.
inline constexpr int stdio_pipe = -2;

/// In spawn_options::stderr_fd only (2>&1): the child's stderr is the same open file as
/// its stdout, whatever stdout_fd names: a caller's descriptor, /dev/null (-1) or, with
/// stdout_fd = stdio_pipe, the stdout pipe. One pipe then carries both streams in the
/// order the child wrote them, and basic_process::stderr_pipe stays closed. Accepted by
/// every overload of spawn(); in stdin_fd or stdout_fd it is invalid_argument.
inline constexpr int stdio_stdout = -3;

/// In spawn_options::stdin_fd, stdout_fd or stderr_fd (any of them, any combination):
/// that stream of the child is the slave side of one new pseudo-terminal, created for this
/// child, whose master the caller gets as basic_process::pty. The child starts a new
/// session with that terminal as its controlling terminal (so new_session is implied, and
/// process_group, which cannot follow setsid, is operation_not_permitted). The terminal
/// starts with 24 rows and 80 columns (basic_process::resize_pty changes that). Only the
/// overloads of spawn() that take an executor or an execution context
/// (<pidfd/process.hpp>) accept it; the plain spawn() reports invalid_argument.
inline constexpr int stdio_pty = -4;

/// How spawn() starts a program. The defaults give the child the caller's environment,
/// working directory and standard streams, and nothing else.
struct spawn_options {
  /// The program to run. Default: argv[0]. A name without '/' is searched for in the
  /// directories of the caller's PATH (not the child's env), "/bin:/usr/bin" if unset;
  /// a name with '/' is used as it is (relative to cwd when that is set).
  std::optional<std::filesystem::path> executable;
  /// The child's whole environment, as "NAME=value" strings. Default: the caller's
  /// environ at the time of the call.
  std::optional<std::vector<std::string>> env;
  /// Changes applied in order on top of env (or of the inherited environment): a value
  /// sets NAME to it, std::nullopt removes NAME. A NAME that is empty or contains '=' is
  /// invalid_argument.
  std::vector<std::pair<std::string, std::optional<std::string>>> env_changes;
  /// The child's working directory. Default: the caller's.
  std::optional<std::filesystem::path> cwd;
  /// The caller's descriptor that becomes the child's stdin (0); -1 means /dev/null,
  /// stdio_pipe a new pipe (only where spawn() gives back pipe objects, see stdio_pipe).
  int stdin_fd = 0;
  /// The caller's descriptor that becomes the child's stdout (1); -1 and stdio_pipe as
  /// for stdin_fd.
  int stdout_fd = 1;
  /// The caller's descriptor that becomes the child's stderr (2); -1 and stdio_pipe as
  /// for stdin_fd; stdio_stdout: whatever stdout is (2>&1).
  int stderr_fd = 2;
  /// More descriptors for the child, as {child fd, caller's fd}. The caller's fd may be any
  /// open descriptor (close-on-exec or not), and may itself be a child fd number named
  /// elsewhere in the plan (a swap such as {3, 4}, {4, 3} works). Each child fd may be
  /// named once, 0 to 2 included (they are taken by the three fields above).
  std::vector<std::pair<int, int>> extra_fds;
  /// Close every descriptor in the child except 0, 1, 2 and extra_fds. When false, the
  /// caller's descriptors without FD_CLOEXEC are inherited too.
  bool close_other_fds = true;
  /// Start a new session (setsid()); the child becomes session and group leader.
  bool new_session = false;
  /// setpgid(0, value) in the child: 0 puts it in a new group of its own, a positive value
  /// joins that existing group.
  std::optional<pid_t> process_group;
  /// A descriptor of a cgroup2 directory to start the child in (clone3 CLONE_INTO_CGROUP,
  /// Linux 5.7). operation_not_supported when the kernel has no clone3.
  std::optional<int> cgroup_fd;
  /// Leave the signals the caller ignores (SIG_IGN) ignored in the child, as fork() +
  /// execve() would, instead of resetting them to their default action. Where clone3 is
  /// available this saves the child one rt_sigaction query per signal (62 system calls,
  /// about a fifth of the spawn call; docs/internals/performance.md, "Spawning"): clone3
  /// has already reset the handled ones, and the kernel offers no way to find or reset the
  /// ignored ones in fewer calls. Handled signals and the signal mask are reset either
  /// way. Default: reset them (a child that unexpectedly ignores SIGTERM or SIGPIPE is a
  /// classic bug).
  bool keep_ignored_signals = false;
  /// The signal the child receives when the *thread* that called spawn() exits
  /// (PR_SET_PDEATHSIG), not when the calling process exits. A thread that spawns and
  /// then ends kills its children with it: in an Asio thread pool, or any pool that
  /// retires idle threads, a child started from a handler gets the signal whenever that
  /// worker thread happens to exit. Spawn from a thread that lives as long as the children
  /// should.
  std::optional<int> parent_death_signal;

  // Who the child runs as, and with what. Applied in the child in this order: groups,
  // gid, uid, then rlimits, umask, no_new_privs, then execve; each with the raw system
  // call (glibc's setuid family would signal every thread of the caller). Any failure is
  // the spawn's error and leaves nothing behind. None of them set: no cost.

  /// The child's real, effective and saved user ID (setresuid). Leaves the group IDs
  /// alone; clears the supplementary groups unless groups is set.
  std::optional<uid_t> uid;
  /// The child's real, effective and saved group ID (setresgid). Clears the supplementary
  /// groups unless groups is set.
  std::optional<gid_t> gid;
  /// The child's supplementary groups (setgroups). std::nullopt: inherited from the caller,
  /// except when uid or gid is set: then the list is cleared, so that a child meant to run
  /// as another user never keeps the caller's groups (root's, typically) by accident.
  std::optional<std::vector<gid_t>> groups;
  /// Resource limits set in the child (setrlimit(resource, value), in this order), after
  /// the credentials: raising a hard limit needs CAP_SYS_RESOURCE *as the new user*.
  /// A resource outside [0, RLIMIT_NLIMITS) or rlim_cur > rlim_max is invalid_argument.
  std::vector<std::pair<int, rlimit>> rlimits;
  /// The child's file mode creation mask (umask); only the permission bits (0777) count.
  std::optional<mode_t> umask;
  /// PR_SET_NO_NEW_PRIVS: execve in the child (and every later one) grants no privileges:
  /// set-user-ID and set-group-ID bits and file capabilities are ignored.
  bool no_new_privs = false;
};

/// Starts a program as a child of the calling process and returns its pidfd.
///
/// The pidfd is created by the clone itself (CLONE_PIDFD), so it names the new process
/// even if that process exits at once and is reaped by someone else (SIGCHLD set to
/// SIG_IGN, another thread calling waitpid(-1)): there is no window in which the PID could
/// be recycled. The child shares the caller's memory until it calls execve (CLONE_VM |
/// CLONE_VFORK, as posix_spawn does), so the cost does not grow with the caller's size,
/// and the call returns once the program has been loaded or has failed to load.
///
/// The child starts with default signal dispositions (ignored signals included, unless
/// keep_ignored_signals), an empty signal mask, and exactly the descriptors of the plan
/// (see spawn_options). argv[0] is
/// passed to the program as given.
///
/// Errors (nothing is left behind: a child that failed is reaped, no descriptor stays
/// open): the errno of a failed execve (no_such_file_or_directory, permission_denied,
/// executable_format_error, ...; a PATH search reports permission_denied if some candidate
/// had it, else no_such_file_or_directory), of a failed chdir to cwd, bad_file_descriptor
/// for a caller's fd in the plan that is not open, invalid_argument for an empty argv, a
/// string with an embedded NUL, a negative or repeated child fd, or a bad signal number;
/// operation_not_supported for cgroup_fd without clone3, or when the kernel has no way to
/// create a pidfd. stdio_pipe and stdio_pty in this overload are invalid_argument, and so
/// is stdio_stdout anywhere but stderr_fd. A credential, limit or other change of the child
/// that fails reports its errno (operation_not_permitted for a uid, gid or groups the
/// caller may not take, or a hard limit it may not raise); an rlimits entry with an
/// unknown resource or rlim_cur above rlim_max is invalid_argument. The throwing overload
/// names the program in what(), e.g. `pidfd::spawn "frobnicate": No such file or
/// directory`.
///
/// Kernel fallbacks, chosen at run time (see kernel_support()): clone3 (5.3) →
/// clone(CLONE_PIDFD) (5.2) → a clone without CLONE_PIDFD followed at once by
/// pidfd_open(). The last one is racy exactly as fork() + pidfd_open() is: if someone else
/// reaps the child before pidfd_open, spawn() fails with no_such_process (or, if the PID
/// was recycled meanwhile, returns a pidfd for the wrong process).
///
/// Thread safety: safe to call from several threads at once.
pid_fd spawn(const std::vector<std::string>& argv, const spawn_options& options = {});
/// As above, reporting errors through ec.
pid_fd spawn(const std::vector<std::string>& argv, const spawn_options& options,
             error_code& ec) noexcept;

}  // namespace pidfd

#endif  // PIDFD_SPAWN_HPP
