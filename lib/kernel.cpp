#include <pidfd/kernel.hpp>

#include "sys.hpp"

#include <pidfd/detail/linux.hpp>
#include <pidfd/unique_fd.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
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
};

// A child that exits at once, created with CLONE_PIDFD when the kernel has it (else
// pidfd_open() before we reap it). Fork-like (no CLONE_VM): the child only exits, and runs
// no code of ours. Returns the pidfd of the reaped child, or -1.
int reaped_child_pidfd(kernel_features& f) {
  int pidfd = -1;
  long pid = ::syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  if (pid == 0) ::syscall(SYS_exit_group, 0);
  f.clone_pidfd = pid > 0 && pidfd >= 0;
  if (pid < 0) {
    pid = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid == 0) ::syscall(SYS_exit_group, 0);
    if (pid < 0) return -1;
    // Not reaped yet (we are its parent), so the pid is still this child's — unless
    // SIGCHLD is ignored, in which case pidfd_open fails and we just cannot tell.
    if (sys::pidfd_open(static_cast<pid_t>(pid), 0, pidfd)) pidfd = -1;
  }
  siginfo_t si;
  // ECHILD here means SIGCHLD is ignored and the child was reaped already: fine.
  (void)sys::waitid_pid(static_cast<pid_t>(pid), si, WEXITED);
  return pidfd;
}

kernel_features probe() {
  // Any failure counts as "absent": ENOSYS from an old kernel, EPERM from an old
  // container seccomp profile, or the specific errno a filter chose.
  kernel_features f{};
  int self = -1;
  f.pidfd_open = !sys::pidfd_open(::getpid(), 0, self);
  if (!f.pidfd_open) self = -1;
  unique_fd self_fd(self);

  if (self >= 0) {
    f.send_signal = !sys::pidfd_send_signal(self, 0, nullptr, 0);
    siginfo_t si;
    // We are not our own child: ECHILD proves P_PIDFD is understood (EINVAL if not).
    f.waitid_pidfd = sys::waitid_pidfd(self, si, WEXITED | WNOHANG) ==
                     boost::system::errc::no_child_process;
    int fd = -1;
    if (!sys::pidfd_open(::getpid(), PIDFD_NONBLOCK, fd)) {
      f.nonblock = true;
      ::close(fd);
    }
    if (!sys::pidfd_getfd(self, self, fd)) {
      f.getfd = true;
      ::close(fd);
    }
    // We are not dying, so a kernel that has process_mrelease answers EINVAL.
    f.mrelease = sys::process_mrelease(self) == boost::system::errc::invalid_argument;
    struct statfs sfs {};
    f.pidfs = ::fstatfs(self, &sfs) == 0 && sfs.f_type == PID_FS_MAGIC;
    if (!sys::pidfd_open(static_cast<pid_t>(::gettid()), PIDFD_THREAD, fd)) {
      f.thread_pidfd = true;
      ::close(fd);
    }
    f.signal_scope = !sys::pidfd_send_signal(self, 0, nullptr, PIDFD_SIGNAL_THREAD_GROUP);
    if (!sys::pidfd_get_namespace(self, 10 /* uts */, fd)) {
      f.namespaces = true;
      ::close(fd);
    }
    detail::pidfd_info info{};
    info.mask = detail::pidfd_info_pid;
    f.get_info = !sys::pidfd_get_info(self, info) && (info.mask & detail::pidfd_info_pid);

    int type = 0;
    std::uint64_t handle = 0;
    f.file_handles = !sys::name_to_handle(self, type, handle) && type == FILEID_KERNFS;
  }
  f.self_sentinels = !sys::pidfd_send_signal(PIDFD_SELF_THREAD_GROUP, 0, nullptr, 0);

  // clone3 with a NULL argument block: EINVAL (too small) if the syscall exists.
  {
    const long r = ::syscall(SYS_clone3, nullptr, 0);
    f.clone3 = r < 0 && errno == EINVAL;
  }

  {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      int peer = -1;
      socklen_t len = sizeof peer;
      if (::getsockopt(fds[0], SOL_SOCKET, SO_PEERPIDFD, &peer, &len) == 0 && peer >= 0) {
        f.peer_pidfd = true;
        ::close(peer);
      }
      ::close(fds[0]);
      ::close(fds[1]);
    }
  }

  // PIDFD_INFO_EXIT is only ever reported for a reaped process: make one.
  const int reaped = reaped_child_pidfd(f);
  if (reaped >= 0) {
    if (f.get_info) {
      detail::pidfd_info info{};
      info.mask = detail::pidfd_info_exit;
      f.info_exit = !sys::pidfd_get_info(reaped, info) && (info.mask & detail::pidfd_info_exit);
    }
    ::close(reaped);
  }
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
  static const kernel_features features = [] {
    kernel_features f = probe();
    apply_pretend_missing(f);
    return f;
  }();
  return features;
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
