// asio-pidfd internal: the child side of spawn().
//
// lib/spawn_child.cpp is compiled without sanitizers: its code runs in a child that
// shares our memory and thread-local storage (CLONE_VM without CLONE_SETTLS) until execve,
// so it must not touch sanitizer state, errno, the allocator or any lock. It reads only the
// child_plan that spawn() prepared before the clone and makes raw system calls.
#ifndef PIDFD_LIB_SPAWN_SYS_HPP
#define PIDFD_LIB_SPAWN_SYS_HPP

#include <sys/types.h>

#include <cstddef>

namespace pidfd::spawn_sys {

/// One descriptor of the child: `target` receives the caller's `source`.
struct fd_move {
  int target;
  int source;
};

/// A range of descriptors the child closes, inclusive.
struct fd_range {
  unsigned first;
  unsigned last;
};

/// One resource limit of the child (the kernel's struct rlimit64).
struct rlimit_set {
  int resource;
  unsigned long long cur;
  unsigned long long max;
};

/// Everything the child needs, prepared by the caller before the clone.
struct child_plan {
  // execve: each candidate path is tried in order (PATH search) with argv and envp.
  const char* const* candidates = nullptr;
  std::size_t candidate_count = 0;
  bool path_search = false;  // report EACCES/ENOENT like execvp, not the last errno
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;  // nullptr: stay

  // The descriptor plan. While the table is shared (CLONE_FILES), the child first
  // unshares it keeping only [0, unshare_below); every source and target is below it.
  const fd_move* moves = nullptr;
  std::size_t move_count = 0;
  int unshare_below = -1;  // -1: the table is already the child's own copy
  int temp_base = 0;       // sources are first copied to fds >= temp_base (close-on-exec)
  int* temps = nullptr;    // move_count slots, written by the child
  const fd_range* closes = nullptr;  // close_other_fds: ranges closed after the moves
  std::size_t close_count = 0;

  bool keep_ignored_signals = false;  // reset handled signals only
  bool handlers_cleared = false;      // set by clone_child: CLONE_CLEAR_SIGHAND did that

  bool new_session = false;
  int process_group = -1;        // setpgid(0, v) when >= 0
  int parent_death_signal = 0;   // PR_SET_PDEATHSIG when != 0
  int controlling_tty = -1;      // after the descriptor plan: TIOCSCTTY on this child fd

  // Credentials and limits, in this order. Unset ones cost the child one test each.
  bool set_groups = false;       // setgroups(group_count, groups)
  const gid_t* groups = nullptr;
  std::size_t group_count = 0;
  long gid = -1;                 // setresgid(gid, gid, gid) when >= 0
  long uid = -1;                 // setresuid(uid, uid, uid) when >= 0
  const rlimit_set* rlimits = nullptr;
  std::size_t rlimit_count = 0;
  int umask = -1;                // umask when >= 0
  bool no_new_privs = false;     // PR_SET_NO_NEW_PRIVS

  // Written by the child before it exits when something failed; 0 when execve succeeded.
  int error = 0;
};

/// How the child is cloned.
enum class clone_method {
  clone3,        ///< clone3(CLONE_PIDFD | CLONE_CLEAR_SIGHAND [| CLONE_INTO_CGROUP])
  clone_pidfd,   ///< clone(CLONE_PIDFD)
  clone_plain,   ///< clone() without a pidfd; the caller opens one with pidfd_open()
};

/// True if clone_method::clone3 is available on this architecture (it needs an entry
/// trampoline in assembly: x86-64 only).
bool have_clone3() noexcept;

/// Clones a child (CLONE_VM | CLONE_VFORK, plus CLONE_FILES when share_files) that runs
/// `plan` and execs. Around clone() every signal is blocked in the calling thread; clone3
/// needs no blocking, CLONE_CLEAR_SIGHAND leaves the child no handler that could run.
/// Returns once the child has called execve successfully or exited. Returns the child's
/// pid, or -errno when the clone failed. pidfd receives the pidfd (clone3, clone_pidfd).
/// cgroup_fd >= 0 needs clone3.
long clone_child(child_plan& plan, clone_method method, bool share_files, int cgroup_fd,
                 int& pidfd) noexcept;

}  // namespace pidfd::spawn_sys

#endif  // PIDFD_LIB_SPAWN_SYS_HPP
