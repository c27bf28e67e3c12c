#include <pidfd/kernel.hpp>

#include "sys.hpp"

#include <pidfd/detail/linux.hpp>
#include <pidfd/unique_fd.hpp>

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string_view>

namespace pidfd {
namespace {

struct feature_name {
  std::string_view name;
  bool kernel_features::*member;
};

constexpr feature_name feature_names[] = {
    {"pidfd_open", &kernel_features::pidfd_open},
    {"send_signal", &kernel_features::send_signal},
    {"waitid_pidfd", &kernel_features::waitid_pidfd},
    {"clone_pidfd", &kernel_features::clone_pidfd},
    {"clone3", &kernel_features::clone3},
    {"nonblock", &kernel_features::nonblock},
    {"getfd", &kernel_features::getfd},
    {"mrelease", &kernel_features::mrelease},
    {"pidfs", &kernel_features::pidfs},
    {"thread_pidfd", &kernel_features::thread_pidfd},
    {"signal_scope", &kernel_features::signal_scope},
    {"namespaces", &kernel_features::namespaces},
    {"get_info", &kernel_features::get_info},
    {"info_exit", &kernel_features::info_exit},
    {"file_handles", &kernel_features::file_handles},
    {"self_sentinels", &kernel_features::self_sentinels},
    {"peer_pidfd", &kernel_features::peer_pidfd},
    {"madvise", &kernel_features::madvise},
    {"info_coredump", &kernel_features::info_coredump},
    {"xattrs", &kernel_features::xattrs},
    {"info_supported_mask", &kernel_features::info_supported_mask},
    {"info_coredump_signal", &kernel_features::info_coredump_signal},
};

// What one probe found out beyond the features: whether some answer was no answer, a
// call that failed for want of a resource or by an interruption (out of memory, out of
// descriptors, EINTR, EAGAIN) rather than because the kernel lacks the feature. Such a probe
// is not kept: the next kernel_support() probes again.
class probe_run {
public:
  // The call succeeded; notes a failure that says nothing about the kernel.
  bool ok(const error_code& ec) noexcept {
    note(ec);
    return !ec;
  }
  // The same for a raw call's -1 and errno.
  bool ok_raw(int result) noexcept {
    if (result < 0) note(detail::errno_code(errno));
    return result >= 0;
  }
  void note(const error_code& ec) noexcept {
    if (ec && ec.category() == boost::system::system_category() &&
        (ec.value() == ENOMEM || ec.value() == EMFILE || ec.value() == ENFILE ||
         ec.value() == EAGAIN || ec.value() == EINTR || ec.value() == ENOBUFS))
      inconclusive_ = true;
  }
  bool inconclusive() const noexcept { return inconclusive_; }

private:
  bool inconclusive_ = false;
};

// The probe's subject: a child that blocks until we close its pipe, so features can be
// tried on a live process's pidfd even where pidfd_open is missing (filtered), and on the
// same pidfd once it has been reaped. It is created fork-like (no CLONE_VM) and runs only
// raw system calls. Its exit signal is 0: no SIGCHLD reaches the application, and a
// waitpid(-1) of the application's (which lacks __WALL) cannot reap it.
struct probe_child {
  pid_t pid = -1;
  unique_fd pidfd;
  unique_fd release;  // closing it lets the child exit

  void start(kernel_features& f, bool can_pidfd_open, probe_run& run) noexcept {
    int fds[2];
    if (!run.ok_raw(::pipe2(fds, O_CLOEXEC))) return;
    unique_fd read_end(fds[0]);
    release.reset(fds[1]);
    int fd = -1;
    pid_t child = -1;
    const bool cloned_with_pidfd = run.ok(sys::clone_fork(detail::k_clone_pidfd, &fd, child));
    if (cloned_with_pidfd && child == 0) sys::exit_when_closed(fds[0], fds[1]);
    f.clone_pidfd = cloned_with_pidfd && fd >= 0;
    if (!cloned_with_pidfd) {
      if (!run.ok(sys::clone_fork(0, nullptr, child))) return;
      if (child == 0) sys::exit_when_closed(fds[0], fds[1]);
      // It cannot exit (let alone be reaped) before we close its pipe: the pid is its own.
      if (!can_pidfd_open || !run.ok(sys::pidfd_open(child, 0, fd))) fd = -1;
    }
    pid = child;
    pidfd.reset(fd);
  }

  // Lets the child exit and reaps it. The wait of our own child fails only if someone
  // else reaped it (ECHILD): any other failure is tried again, a few times.
  void finish() noexcept {
    release.reset();
    if (pid <= 0) return;
    siginfo_t si;
    for (int attempt = 0; attempt < 8; ++attempt) {
      const error_code ec = sys::waitid_pid(pid, si, WEXITED | __WALL);
      if (!ec || ec == boost::system::errc::no_child_process) return;
    }
  }
};

// The GET_INFO reply bits beyond PID|CREDS|CGROUPID|EXIT. From 6.19 the kernel lists the
// bits it knows (SUPPORTED_MASK); before, a bit counts as supported when a live process's
// reply echoes it (the kernel ignores request bits it does not know).
void probe_info_bits(int subject, kernel_features& f, probe_run& run) noexcept {
  detail::pidfd_info info{};
  info.mask = detail::pidfd_info_pid | detail::pidfd_info_supported_mask;
  if (run.ok(sys::pidfd_get_info(subject, info)) &&
      (info.mask & detail::pidfd_info_supported_mask)) {
    f.info_supported_mask = true;
    f.info_coredump = (info.supported_mask & detail::pidfd_info_coredump) != 0;
    f.info_coredump_signal = (info.supported_mask & detail::pidfd_info_coredump_signal) != 0;
    return;
  }
  info = detail::pidfd_info{};
  info.mask = detail::pidfd_info_pid | detail::pidfd_info_coredump |
              detail::pidfd_info_coredump_signal;
  if (!run.ok(sys::pidfd_get_info(subject, info))) return;
  f.info_coredump = (info.mask & detail::pidfd_info_coredump) != 0;
  f.info_coredump_signal = (info.mask & detail::pidfd_info_coredump_signal) != 0;
}

// pidfs xattrs (6.17): reading an attribute that is not there gives ENODATA (or, on 6.18,
// success with an empty value while the process has no attributes at all) where pidfs
// implements them, and EOPNOTSUPP where it does not. Without CAP_SYS_ADMIN the kernel
// answers ENODATA for any trusted.* read before it looks at the filesystem, so an
// unprivileged probe reports them wherever pidfs exists; such a process can read none
// and write none (operation_not_permitted) on any kernel, so nothing it can do differs.
bool probe_xattrs(int subject, probe_run& run) noexcept {
  char value[1];
  std::size_t len = 0;
  const error_code ec =
      sys::fgetxattr(subject, "trusted.asio-pidfd.probe", value, sizeof value, len);
  run.note(ec);
  return !ec || ec == boost::system::errc::no_message_available;
}

// pidfd_open() of ourselves; with it, its PIDFD_NONBLOCK and PIDFD_THREAD flags.
bool probe_pidfd_open(probe_run& run) noexcept {
  int fd = -1;
  if (!run.ok(sys::pidfd_open(::getpid(), 0, fd))) return false;
  ::close(fd);
  return true;
}
void probe_pidfd_open_flags(kernel_features& f, probe_run& run) noexcept {
  int fd = -1;
  if (run.ok(sys::pidfd_open(::getpid(), detail::k_pidfd_nonblock, fd))) {
    f.nonblock = true;
    ::close(fd);
  }
  if (run.ok(sys::pidfd_open(static_cast<pid_t>(::gettid()), detail::k_pidfd_thread, fd))) {
    f.thread_pidfd = true;
    ::close(fd);
  }
}

// What can be done with the pidfd of a live child of ours (`subject`).
void probe_live_child(int subject, kernel_features& f, probe_run& run) noexcept {
  int fd = -1;
  f.send_signal = run.ok(sys::pidfd_send_signal(subject, 0, nullptr, 0));
  siginfo_t si;
  // Our running child: 0 with nothing to report if P_PIDFD is understood, else EINVAL.
  f.waitid_pidfd = run.ok(sys::waitid_pidfd(subject, si, WEXITED | WNOHANG | __WALL));
  if (run.ok(sys::pidfd_getfd(subject, 0, fd))) {
    f.getfd = true;
    ::close(fd);
  }
  // The child is not dying, so a kernel that has process_mrelease answers EINVAL.
  const error_code mrelease = sys::process_mrelease(subject);
  run.note(mrelease);
  f.mrelease = mrelease == boost::system::errc::invalid_argument;
  struct statfs sfs {};
  f.pidfs = run.ok_raw(::fstatfs(subject, &sfs)) && sfs.f_type == detail::k_pid_fs_magic;
  f.signal_scope =
      run.ok(sys::pidfd_send_signal(subject, 0, nullptr, detail::k_pidfd_signal_thread_group));
  if (run.ok(sys::pidfd_get_namespace(subject, 10 /* uts */, fd))) {
    f.namespaces = true;
    ::close(fd);
  }
  detail::pidfd_info info{};
  info.mask = detail::pidfd_info_pid;
  f.get_info = run.ok(sys::pidfd_get_info(subject, info)) && (info.mask & detail::pidfd_info_pid);
  if (f.get_info) probe_info_bits(subject, f, run);
  // No iovecs: 0 bytes advised where the call exists (it still checks the pidfd, the
  // advice and our right to advise the child). It needs CAP_SYS_NICE: without it the
  // kernel's EPERM still shows the call exists.
  std::size_t advised = 0;
  const error_code me = sys::process_madvise(subject, nullptr, 0, MADV_COLD, advised);
  run.note(me);
  f.madvise = !me || (me == boost::system::errc::operation_not_permitted &&
                      !sys::has_effective_capability(CAP_SYS_NICE));
  f.xattrs = f.pidfs && probe_xattrs(subject, run);
  int type = 0;
  std::uint64_t handle = 0;
  f.file_handles =
      run.ok(sys::name_to_handle(subject, type, handle)) && type == detail::k_fileid_kernfs;
}

// Without a pidfd of a child: pidfd_send_signal also accepts a /proc/<pid> directory.
bool probe_send_signal_to_proc_dir(probe_run& run) noexcept {
  unique_fd dir(::open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) run.note(detail::errno_code(errno));
  return dir && run.ok(sys::pidfd_send_signal(dir.get(), 0, nullptr, 0));
}

// SO_PEERPIDFD on a socketpair of ours.
bool probe_peer_pidfd(probe_run& run) noexcept {
  int fds[2];
  if (!run.ok_raw(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))) return false;
  bool found = false;
  int peer = -1;
  socklen_t len = sizeof peer;
  if (run.ok_raw(::getsockopt(fds[0], SOL_SOCKET, detail::k_so_peerpidfd, &peer, &len)) &&
      peer >= 0) {
    found = true;
    ::close(peer);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  return found;
}

// PIDFD_INFO_EXIT, which is only ever reported for a reaped process (`subject`).
bool probe_info_exit(int subject, probe_run& run) noexcept {
  detail::pidfd_info info{};
  info.mask = detail::pidfd_info_exit;
  return run.ok(sys::pidfd_get_info(subject, info)) && (info.mask & detail::pidfd_info_exit);
}

// Any other failure counts as "absent": ENOSYS from an old kernel, EPERM from an old
// container seccomp profile, or the specific errno a filter chose.
kernel_features probe(probe_run& run) {
  kernel_features f{};
  f.pidfd_open = probe_pidfd_open(run);

  probe_child child;
  child.start(f, f.pidfd_open, run);
  const int subject = child.pidfd.get();
  if (subject >= 0)
    probe_live_child(subject, f, run);
  else
    f.send_signal = probe_send_signal_to_proc_dir(run);
  if (f.pidfd_open) probe_pidfd_open_flags(f, run);
  f.self_sentinels =
      run.ok(sys::pidfd_send_signal(detail::k_pidfd_self_thread_group, 0, nullptr, 0));

  // clone3 with a NULL argument block: EINVAL (too small) if the syscall exists.
  const error_code clone3 = sys::clone3_without_arguments();
  run.note(clone3);
  f.clone3 = clone3 == boost::system::errc::invalid_argument;
  f.peer_pidfd = probe_peer_pidfd(run);

  child.finish();  // reaped: its pidfd can show PIDFD_INFO_EXIT now
  if (subject >= 0 && f.get_info) f.info_exit = probe_info_exit(subject, run);
  return f;
}

void apply_pretend_missing(kernel_features& f) {
  const char* env = std::getenv("ASIO_PIDFD_PRETEND_MISSING");
  if (!env) return;
  std::string_view list(env);
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    for (const feature_name& n : feature_names)
      if (n.name == item) f.*n.member = false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

const kernel_features& kernel_support() {
  // The first conclusive probe is kept for the life of the process. An inconclusive one
  // (see probe_run) is kept for a second and handed out in storage of the calling thread;
  // after that the next call probes again, so that a process that starts short of memory
  // or descriptors does not go without features for the rest of its life, nor probe (and
  // start a child) on every call while the shortage lasts.
  static std::mutex probing;
  static kernel_features kept{};
  static std::atomic<bool> have_kept{false};
  static kernel_features inconclusive{};
  static std::chrono::steady_clock::time_point inconclusive_until{};
  thread_local kernel_features provisional{};
  if (have_kept.load(std::memory_order_acquire)) return kept;
  const std::lock_guard<std::mutex> lock(probing);
  if (have_kept.load(std::memory_order_relaxed)) return kept;
  const auto now = std::chrono::steady_clock::now();
  if (now < inconclusive_until) {
    provisional = inconclusive;
    return provisional;
  }
  probe_run run;
  kernel_features f = probe(run);
  apply_pretend_missing(f);
  if (!run.inconclusive()) {
    kept = f;
    have_kept.store(true, std::memory_order_release);
    return kept;
  }
  inconclusive = f;
  inconclusive_until = now + std::chrono::seconds(1);
  provisional = f;
  return provisional;
}

std::string to_string(const kernel_features& features) {
  std::string s;
  for (const feature_name& n : feature_names) {
    s += n.name;
    s += features.*n.member ? ": yes\n" : ": no\n";
  }
  return s;
}

}  // namespace pidfd
