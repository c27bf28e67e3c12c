// asio-pidfd internal: the child side of spawn() and the clone that starts it.
//
// Compiled with -fno-sanitize=all (see lib/meson.build): between the clone and execve the
// child runs on a stack of our own in the caller's address space, with the caller's
// thread-local storage, while the caller's thread is suspended (CLONE_VFORK). Everything
// here is therefore restricted to raw system calls on data prepared beforehand: no libc
// call that could take a lock, allocate, touch errno, or be intercepted by a sanitizer.
#include "spawn_sys.hpp"

#include "fault.hpp"

#include <pidfd/detail/linux.hpp>

#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace pidfd::spawn_sys {

namespace {

// One raw system call: the result, or -errno. Never touches errno on x86-64.
#if defined(__x86_64__)
inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  if (const long fault = PIDFD_FAULT_RAW(nr)) return fault;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}
#else
// Elsewhere through libc's syscall(), which sets errno: in the child that is the
// suspended caller's errno, which spawn() does not rely on.
inline long raw_syscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  if (const long fault = PIDFD_FAULT_RAW(nr)) return fault;
  const long r = ::syscall(nr, a, b, c, d, e);
  return r < 0 ? -errno : r;
}
#endif

// The kernel's struct sigaction for rt_sigaction (x86-64, arm64, riscv layout).
struct kernel_sigaction {
  std::uintptr_t handler;
  unsigned long flags;
  std::uintptr_t restorer;
  std::uint64_t mask;
};
constexpr long sigset_bytes = 8;

// Each child-side call, one small wrapper each; all return -errno on failure.
long sys_close_range(unsigned first, unsigned last, unsigned flags) {
  return raw_syscall(detail::k_sys_close_range, first, last, flags);
}
long sys_unshare(int flags) { return raw_syscall(SYS_unshare, flags); }
long sys_get_nofile(std::uint64_t (&limits)[2]) {
  return raw_syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&limits));
}
long sys_close(int fd) { return raw_syscall(SYS_close, fd); }
long sys_get_sigaction(int sig, kernel_sigaction& old) {
  return raw_syscall(SYS_rt_sigaction, sig, 0, reinterpret_cast<long>(&old), sigset_bytes);
}
long sys_set_sigaction(int sig, const kernel_sigaction& act) {
  return raw_syscall(SYS_rt_sigaction, sig, reinterpret_cast<long>(&act), 0, sigset_bytes);
}
long sys_sigsetmask(const std::uint64_t* set, std::uint64_t* old) {
  return raw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(set),
                     reinterpret_cast<long>(old), sigset_bytes);
}
long sys_setgroups(std::size_t count, const gid_t* groups) {
  return raw_syscall(SYS_setgroups, static_cast<long>(count), reinterpret_cast<long>(groups));
}
long sys_setresgid(long gid) { return raw_syscall(SYS_setresgid, gid, gid, gid); }
long sys_setresuid(long uid) { return raw_syscall(SYS_setresuid, uid, uid, uid); }
long sys_setrlimit(const rlimit_set& l) {
  const std::uint64_t value[2] = {l.cur, l.max};
  return raw_syscall(SYS_prlimit64, 0, l.resource, reinterpret_cast<long>(&value), 0);
}
long sys_umask(int mask) { return raw_syscall(SYS_umask, mask); }
long sys_no_new_privs() { return raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
long sys_set_controlling_tty(int fd) { return raw_syscall(SYS_ioctl, fd, TIOCSCTTY, 0); }
long sys_setsid() { return raw_syscall(SYS_setsid); }
long sys_setpgid(int pgid) { return raw_syscall(SYS_setpgid, 0, pgid); }
long sys_pdeathsig(int sig) { return raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, sig); }
long sys_chdir(const char* path) {
  return raw_syscall(SYS_chdir, reinterpret_cast<long>(path));
}
long sys_dupfd_cloexec(int fd, int min) { return raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, min); }
long sys_clear_cloexec(int fd) { return raw_syscall(SYS_fcntl, fd, F_SETFD, 0); }
long sys_dup3(int from, int to) { return raw_syscall(SYS_dup3, from, to, 0); }
long sys_execve(const char* path, char* const* argv, char* const* envp) {
  return raw_syscall(SYS_execve, reinterpret_cast<long>(path), reinterpret_cast<long>(argv),
                     reinterpret_cast<long>(envp));
}
[[noreturn]] void sys_exit_group(int code) {
  for (;;) raw_syscall(SYS_exit_group, code);
}

[[noreturn]] void fail(child_plan& p, long err) {
  p.error = static_cast<int>(err < 0 ? -err : err);
  sys_exit_group(127);
}

// close_range(first, last) and, on a kernel without it (< 5.9), one close() per fd up to
// the hard descriptor limit (capped: a descriptor above it is left open there).
long close_fds(unsigned first, unsigned last) {
  const long r = sys_close_range(first, last, 0);
  if (r != -ENOSYS) return r;
  std::uint64_t limits[2] = {0, 0};
  std::uint64_t end = sys_get_nofile(limits) == 0 ? limits[1] : 65536;
  if (end > (1u << 20)) end = 1u << 20;
  for (std::uint64_t fd = first; fd <= last && fd < end; ++fd) sys_close(static_cast<int>(fd));
  return 0;
}

// Resets to SIG_DFL every ignored signal (unless keep_ignored_signals) and every handled
// one (CLONE_CLEAR_SIGHAND already did that after clone3): one query per signal. Reading
// the ignored and handled sets from /proc/self/stat instead (4 calls) was measured slower
// end to end: procfs must instantiate the new process's directory, and exec drops it.
void reset_dispositions(const child_plan& p) {
  const kernel_sigaction dfl{0, 0, 0, 0};
  const std::uintptr_t ignored_handler = 1;  // SIG_IGN
  for (int sig = 1; sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    kernel_sigaction old{};
    if (sys_get_sigaction(sig, old) == 0 && old.handler != 0 &&
        !(p.keep_ignored_signals && old.handler == ignored_handler))
      sys_set_sigaction(sig, dfl);
  }
}

// Each step of the child below returns 0, or -errno for fail().

// 1. Take our own descriptor table before touching any fd: while it is shared with the
//    caller (CLONE_FILES), a dup3 or close would act on the caller's table.
long take_descriptor_table(const child_plan& p) {
  if (p.unshare_below < 0) return 0;
  const auto below = static_cast<unsigned>(p.unshare_below);
  const long r = sys_close_range(below, ~0U, detail::k_close_range_unshare);
  if (r != -ENOSYS && r != -EINVAL) return r;
  // No close_range (< 5.9) or no UNSHARE flag.
  if (const long u = sys_unshare(CLONE_FILES); u < 0) return u;
  return close_fds(below, ~0U);
}

// 3. Credentials: groups, gid, uid. Before the parent-death signal, which a change of
//    credentials clears, and before chdir, so that cwd is checked as the new user.
long set_credentials(const child_plan& p) {
  long r = 0;
  if (p.set_groups && (r = sys_setgroups(p.group_count, p.groups)) < 0) return r;
  if (p.gid >= 0 && (r = sys_setresgid(p.gid)) < 0) return r;
  if (p.uid >= 0 && (r = sys_setresuid(p.uid)) < 0) return r;
  return 0;
}

// 4. Session, group, parent-death signal, working directory.
long set_session_and_cwd(const child_plan& p) {
  long r = 0;
  if (p.new_session && (r = sys_setsid()) < 0) return r;
  if (p.process_group >= 0 && (r = sys_setpgid(p.process_group)) < 0) return r;
  if (p.parent_death_signal != 0 && (r = sys_pdeathsig(p.parent_death_signal)) < 0) return r;
  if (p.cwd && (r = sys_chdir(p.cwd)) < 0) return r;
  return 0;
}

// 5. The descriptor plan. Copy every source that moves to a fresh fd above every source
//    and target first, so that no dup3 can overwrite a source still needed (swaps), then
//    put each in place. dup3 clears FD_CLOEXEC on the target; a source already at its
//    target only needs the flag cleared.
long apply_descriptor_plan(child_plan& p) {
  long r = 0;
  for (std::size_t k = 0; k < p.move_count; ++k) {
    const fd_move& m = p.moves[k];
    if (m.source == m.target) continue;
    if ((r = sys_dupfd_cloexec(m.source, p.temp_base)) < 0) return r;
    p.temps[k] = static_cast<int>(r);
  }
  for (std::size_t k = 0; k < p.move_count; ++k) {
    const fd_move& m = p.moves[k];
    r = m.source == m.target ? sys_clear_cloexec(m.target) : sys_dup3(p.temps[k], m.target);
    if (r < 0) return r;
  }
  for (std::size_t k = 0; k < p.close_count; ++k)
    if ((r = close_fds(p.closes[k].first, p.closes[k].last)) < 0) return r;
  return 0;
}

// 6. The terminal (its slave now in place) becomes the new session's controlling
//    terminal. Then the limits: after the descriptor plan, which a low RLIMIT_NOFILE
//    could break, and after the credentials, as the spawn options promise.
long set_terminal_and_limits(const child_plan& p) {
  long r = 0;
  if (p.controlling_tty >= 0 && (r = sys_set_controlling_tty(p.controlling_tty)) < 0)
    return r;
  for (std::size_t k = 0; k < p.rlimit_count; ++k)
    if ((r = sys_setrlimit(p.rlimits[k])) < 0) return r;
  if (p.umask >= 0) sys_umask(p.umask);
  if (p.no_new_privs && (r = sys_no_new_privs()) < 0) return r;
  return 0;
}

// Whether execve's error means "not this candidate" to a PATH search, as for execvp.
bool try_next_candidate(long err) {
  return err == -ENOENT || err == -ENOTDIR || err == -ESTALE || err == -ENODEV ||
         err == -ETIMEDOUT;
}

// 8. execve each candidate; returns only on failure, with the error to report. Like
//    execvp: a candidate that does not exist is skipped, EACCES is remembered, anything
//    else stops the search.
long exec_candidates(const child_plan& p) {
  long err = -ENOENT;
  bool denied = false;
  for (std::size_t k = 0; k < p.candidate_count; ++k) {
    err = sys_execve(p.candidates[k], p.argv, p.envp);
    if (!p.path_search) break;
    if (err == -EACCES)
      denied = true;
    else if (!try_next_candidate(err))
      break;
  }
  if (p.path_search && try_next_candidate(err)) err = denied ? -EACCES : -ENOENT;
  return err;
}

}  // namespace

// The child's entry point (C linkage: the assembly trampoline below calls it).
extern "C" [[noreturn]] void pidfd_spawn_child_entry(void* arg);

extern "C" [[noreturn]] void pidfd_spawn_child_entry(void* arg) {
  child_plan& p = *static_cast<child_plan*>(arg);
  long r;
  if ((r = take_descriptor_table(p)) < 0) fail(p, r);

  // 2. Default dispositions for every signal. CLONE_CLEAR_SIGHAND (clone3) already reset
  //    the handled ones but keeps SIG_IGN, which would survive execve; clone() resets
  //    nothing. With keep_ignored_signals only handlers are reset: nothing is left to do
  //    after clone3. No handler of the caller can run here: after clone3 there is none,
  //    after clone() every signal is blocked.
  if (!(p.keep_ignored_signals && p.handlers_cleared)) reset_dispositions(p);

  if ((r = set_credentials(p)) < 0) fail(p, r);
  if ((r = set_session_and_cwd(p)) < 0) fail(p, r);
  if ((r = apply_descriptor_plan(p)) < 0) fail(p, r);
  if ((r = set_terminal_and_limits(p)) < 0) fail(p, r);

  // 7. The program starts with an empty signal mask.
  const std::uint64_t none = 0;
  sys_sigsetmask(&none, nullptr);

  fail(p, exec_candidates(p));
}

#if defined(__x86_64__)
// clone3 with a child entry function: the child starts on the stack given in clone_args
// and must not return into the caller's frames, so it calls fn(arg) from here and exits.
// long pidfd_spawn_clone3(clone_args* args, size_t size, void (*fn)(void*), void* arg)
// syscall preserves rdx (fn) and r8; it clobbers rcx (arg), hence the move.
__asm__(R"(
  .text
  .p2align 4
  .globl pidfd_spawn_clone3
  .hidden pidfd_spawn_clone3
  .type pidfd_spawn_clone3, @function
pidfd_spawn_clone3:
  .cfi_startproc
  movq %rcx, %r8
  movl $435, %eax
  syscall
  testq %rax, %rax
  jz 1f
  ret
1:
  .cfi_undefined rip
  xorl %ebp, %ebp
  andq $-16, %rsp
  movq %r8, %rdi
  call *%rdx
  movl $127, %edi
  movl $231, %eax
  syscall
  hlt
  .cfi_endproc
  .size pidfd_spawn_clone3, .-pidfd_spawn_clone3
)");
extern "C" long pidfd_spawn_clone3(detail::clone_args* args, unsigned long size,
                                   void (*fn)(void*), void* arg);
#endif

bool have_clone3() noexcept {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

namespace {
int glibc_clone_entry(void* arg) { pidfd_spawn_child_entry(arg); }

// Clones the child and returns once it has exec'd or exited (CLONE_VFORK): its pid, or
// -errno.
long clone_suspended(child_plan& plan, clone_method method, bool share_files, int cgroup_fd,
                     int& pidfd) noexcept {
  // The child's stack lives in this frame: we are suspended until it has exec'd or exited.
  alignas(64) unsigned char stack[16 * 1024];

  // clone(): block every signal (glibc's internal ones too) so that no handler of ours runs
  // in the child, on our memory, before it has reset the dispositions; the child unblocks
  // them all just before execve. clone3 with CLONE_CLEAR_SIGHAND starts the child with no
  // handler at all (a signal then takes its default action, as it would after execve), so
  // it needs neither call; the child still sets the empty mask.
  const bool block = method != clone_method::clone3;
  const std::uint64_t all = ~std::uint64_t{0};
  std::uint64_t old = 0;
  if (block) sys_sigsetmask(&all, &old);

  plan.handlers_cleared = method == clone_method::clone3;
  const unsigned long common = CLONE_VM | CLONE_VFORK | (share_files ? CLONE_FILES : 0);
  long r;
  switch (method) {
    case clone_method::clone3: {
#if defined(__x86_64__)
      detail::clone_args args{};
      args.flags = common | detail::k_clone_pidfd | detail::k_clone_clear_sighand |
                   (cgroup_fd >= 0 ? detail::k_clone_into_cgroup : 0);
      args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
      args.exit_signal = SIGCHLD;
      args.stack = reinterpret_cast<std::uintptr_t>(stack);
      args.stack_size = sizeof stack;
      args.cgroup = cgroup_fd >= 0 ? static_cast<std::uint64_t>(cgroup_fd) : 0;
      r = PIDFD_FAULT_RAW_CALL(
          detail::k_sys_clone3,
          pidfd_spawn_clone3(&args, sizeof args, pidfd_spawn_child_entry, &plan));
#else
      r = -ENOSYS;
#endif
      break;
    }
    case clone_method::clone_pidfd:
    case clone_method::clone_plain: {
      // Every flag here fits in clone()'s int.
      const int flags = static_cast<int>(
          common | SIGCHLD | (method == clone_method::clone_pidfd ? detail::k_clone_pidfd : 0));
      const int saved = errno;
      r = PIDFD_FAULT("clone",
                      ::clone(glibc_clone_entry, stack + sizeof stack, flags, &plan, &pidfd));
      if (r < 0) r = -errno;
      errno = saved;
      break;
    }
    default:
      r = -EINVAL;
  }

  if (block) sys_sigsetmask(&old, nullptr);
  return r;
}

}  // namespace

long clone_child(child_plan& plan, clone_method method, bool share_files, int cgroup_fd,
                 int& pidfd) noexcept {
  // A child that changes its ids has the kernel mark its memory, ours until execve, as not
  // dumpable (commit_creds): the caller would lose its core dumps and the ownership of its
  // /proc entries. We put our state back once the child has exec'd or exited (we are
  // suspended until then, so the child never runs under the new ids with it restored).
  // prctl sets 0 or 1 only: a caller dumpable as root (2) stays as the kernel left it.
  const int dumpable = plan.uid >= 0 || plan.gid >= 0 ? ::prctl(PR_GET_DUMPABLE) : -1;
  const long r = clone_suspended(plan, method, share_files, cgroup_fd, pidfd);
  if (dumpable == 1 && ::prctl(PR_GET_DUMPABLE) != 1) (void)::prctl(PR_SET_DUMPABLE, 1);
  return r;
}

}  // namespace pidfd::spawn_sys
