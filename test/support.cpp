#include "support.hpp"

#include <pidfd/detail/cgroup.hpp>
#include <pidfd/detail/linux.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace pidfd_test {

const std::string& child_path() {
  static const std::string path = [] {
    const char* p = std::getenv("ASIO_PIDFD_TEST_CHILD");
    if (p && *p) return std::string(p);
    // Next to the test binary, as meson lays it out.
    return (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
            "asio-pidfd-test-child")
        .string();
  }();
  return path;
}

int loop_divisor(int otherwise) {
  const char* d = std::getenv("ASIO_PIDFD_TEST_LOOP_DIVISOR");
  if (d == nullptr) return otherwise;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(d, &end, 10);
  if (errno != 0 || end == d || *end != '\0' || v <= 0 || v > 1000000) return otherwise;
  return static_cast<int>(v);
}

pipe_fds make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  return {pidfd::unique_fd(fds[0]), pidfd::unique_fd(fds[1])};
}

pidfd::pid_fd start_child(const std::vector<std::string>& args,
                          const std::vector<std::pair<int, int>>& fds) {
  // Everything the child needs is prepared here: after the clone it only makes raw,
  // async-signal-safe calls.
  std::vector<std::string> all;
  all.push_back(child_path());
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(all.size() + 1);
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pidfd = -1;
  // A fork-like clone (no CLONE_VM): the child returns here on a copy of our stack.
  const long pid = ::syscall(SYS_clone, pidfd::detail::k_clone_pidfd | SIGCHLD, nullptr, &pidfd,
                             nullptr, nullptr);
  if (pid < 0) throw std::runtime_error(std::string("clone failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Move every source fd above every target first, so a mapping can target a number
    // that is itself a source.
    constexpr int high = 500;
    for (std::size_t k = 0; k < fds.size(); ++k)
      if (::dup3(fds[k].second, high + static_cast<int>(k), O_CLOEXEC) < 0) ::_exit(126);
    for (std::size_t k = 0; k < fds.size(); ++k)
      if (::dup2(high + static_cast<int>(k), fds[k].first) < 0) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), environ);
    ::_exit(127);
  }
  return pidfd::pid_fd(pidfd);
}

std::string read_line(int fd, std::chrono::milliseconds bound) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd, left))
      throw std::runtime_error("read_line: timed out, got '" + line + "'");
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("read_line: EOF after '" + line + "'");
    if (c == '\n') return line;
    line += c;
  }
}

void write_byte(int fd) {
  const char c = 'x';
  ssize_t n;
  do n = ::write(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) throw std::runtime_error("write_byte failed");
}

std::set<pid_t> child_processes() {
  std::set<pid_t> out;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    pid_t p;
    while (in >> p) out.insert(p);
  }
  return out;
}

held_grandchild::held_grandchild(int code) {
  pipe_fds out = make_pipe();
  hold = make_pipe();
  go = make_pipe();
  middle = start_child({"fork-hold", "3", "4", "wait-byte", "5", "exit", std::to_string(code)},
                       {{3, out.write.get()}, {4, hold.read.get()}, {5, go.read.get()}});
  out.write.reset();
  hold.read.reset();
  go.read.reset();
  pid = std::stoi(read_line(out.read.get()));
}

parked_thread::parked_thread() {
  thread = std::thread([this] {
    const auto t = static_cast<pid_t>(::syscall(SYS_gettid));
    (void)!::write(tid_pipe.write.get(), &t, sizeof t);
    char c;
    while (::read(go.read.get(), &c, 1) < 0 && errno == EINTR) {
    }
  });
  if (!wait_readable(tid_pipe.read.get()) ||
      ::read(tid_pipe.read.get(), &tid, sizeof tid) != static_cast<ssize_t>(sizeof tid))
    throw std::runtime_error("thread did not report its tid");
}

parked_thread::~parked_thread() {
  try {
    release();
  } catch (...) {
    // A thread that cannot be let go would block the suite's exit for good.
    std::terminate();
  }
}

void parked_thread::release() {
  if (thread.joinable()) {
    write_byte(go.write.get());
    thread.join();
  }
}

void send_raw(int sock, const std::vector<int>& fds, std::size_t payload) {
  std::vector<char> data(payload, 'm');
  iovec iov{data.data(), data.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ASSERT_EQ(::sendmsg(sock, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(payload))
      << std::strerror(errno);
}

bool wait_readable(int fd, std::chrono::milliseconds bound) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, static_cast<int>(bound.count()));
  while (r < 0 && errno == EINTR);
  return r > 0;
}

pidfd::exit_status bounded_wait(pidfd::pid_fd& p, std::chrono::milliseconds bound) {
  if (!wait_readable(p.native_handle(), bound))
    throw std::runtime_error("bounded_wait: the process did not exit in time");
  return p.wait();
}

std::set<int> open_fds() {
  std::set<int> fds;
  const int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    fds.insert(std::stoi(e.path().filename().string()));
  // Drop the descriptors that only existed for the listing.
  for (auto it = fds.begin(); it != fds.end();)
    it = (*it == dir || ::fcntl(*it, F_GETFD) < 0) ? fds.erase(it) : std::next(it);
  ::close(dir);
  fds.erase(dir);
  return fds;
}

std::string field(const std::string& line, const std::string& key) {
  const std::string k = key + "=";
  std::size_t pos = 0;
  while ((pos = line.find(k, pos)) != std::string::npos) {
    if (pos == 0 || line[pos - 1] == ' ') {
      const std::size_t start = pos + k.size();
      return line.substr(start, line.find(' ', start) - start);
    }
    pos += k.size();
  }
  throw std::runtime_error("no field '" + key + "' in '" + line + "'");
}

namespace {

// A tiny assembler for a seccomp BPF program: each rule matches a syscall number and,
// optionally, one argument (low 32 bits, after a mask), and returns an errno.
struct rule {
  long nr;
  int arg = -1;             // argument index to compare, -1 for none
  std::uint32_t mask = ~0u;
  std::uint32_t value = 0;
  int err = 0;
};

std::vector<sock_filter> assemble(const std::vector<rule>& rules) {
  std::vector<sock_filter> prog;
  auto stmt = [&](std::uint16_t code, std::uint32_t k) {
    prog.push_back(BPF_STMT(code, k));
  };
  auto jump = [&](std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
    prog.push_back(BPF_JUMP(code, k, jt, jf));
  };
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (const rule& r : rules) {
    // Each block: load nr; if != nr skip the block; [load arg; and mask; if != value skip]
    // return errno. Block sizes are fixed so the skips are constants.
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    if (r.arg < 0) {
      jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(r.nr), 0, 1);
    } else {
      jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(r.nr), 0, 4);
      stmt(BPF_LD | BPF_W | BPF_ABS,
           static_cast<std::uint32_t>(offsetof(seccomp_data, args) +
                                      sizeof(std::uint64_t) * static_cast<std::size_t>(r.arg)));
      stmt(BPF_ALU | BPF_AND | BPF_K, r.mask);
      jump(BPF_JMP | BPF_JEQ | BPF_K, r.value, 0, 1);
    }
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(r.err) & 0xffff));
  }
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return prog;
}

}  // namespace

void install_seccomp(unsigned rules) {
  namespace k = pidfd::detail;
  std::vector<rule> rs;
  // ioctl cmd with the size field masked off: _IOC(dir, 0xFF, nr, 0).
  const std::uint32_t size_mask = ~(static_cast<std::uint32_t>(_IOC_SIZEMASK) << _IOC_SIZESHIFT);
  if (rules & deny_get_info)
    rs.push_back({SYS_ioctl, 1, size_mask, _IOC(_IOC_READ | _IOC_WRITE, 0xFF, 11, 0), ENOTTY});
  if (rules & deny_ns_ioctls)
    for (unsigned n = 1; n <= 10; ++n)
      rs.push_back({SYS_ioctl, 1, ~0u, _IO(0xFF, n), ENOTTY});
  if (rules & deny_pidfd_open) rs.push_back({k::k_sys_pidfd_open, -1, 0, 0, ENOSYS});
  if (rules & deny_clone3) rs.push_back({k::k_sys_clone3, -1, 0, 0, ENOSYS});
  if (rules & deny_waitid_pidfd) rs.push_back({SYS_waitid, 0, ~0u, k::k_p_pidfd, EINVAL});
  if (rules & deny_peer_pidfd) {
    rs.push_back({SYS_getsockopt, 2, ~0u, k::k_so_peerpidfd, ENOPROTOOPT});
    rs.push_back({SYS_setsockopt, 2, ~0u, k::k_so_passpidfd, ENOPROTOOPT});
  }
  if (rules & deny_send_signal) rs.push_back({k::k_sys_pidfd_send_signal, -1, 0, 0, ENOSYS});
  if (rules & deny_getfd) rs.push_back({k::k_sys_pidfd_getfd, -1, 0, 0, ENOSYS});
  if (rules & deny_mrelease) rs.push_back({k::k_sys_process_mrelease, -1, 0, 0, ENOSYS});
  if (rules & deny_clone_pidfd)
    rs.push_back({SYS_clone, 0, k::k_clone_pidfd, k::k_clone_pidfd, EINVAL});
  if (rules & deny_file_handles) {
    rs.push_back({SYS_name_to_handle_at, -1, 0, 0, EOPNOTSUPP});
    rs.push_back({SYS_open_by_handle_at, -1, 0, 0, EOPNOTSUPP});
  }
  if (rules & deny_madvise) rs.push_back({pidfd::detail::sys_process_madvise, -1, 0, 0, ENOSYS});
  if (rules & deny_madvise_eperm)
    rs.push_back({pidfd::detail::sys_process_madvise, -1, 0, 0, EPERM});
  if (rules & deny_xattrs)
    for (long nr : {SYS_fgetxattr, SYS_fsetxattr, SYS_flistxattr, SYS_fremovexattr})
      rs.push_back({nr, -1, 0, 0, EOPNOTSUPP});
  std::vector<sock_filter> prog = assemble(rs);
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    throw std::runtime_error("PR_SET_NO_NEW_PRIVS failed");
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
    throw std::runtime_error(std::string("seccomp failed: ") + std::strerror(errno));
}

int run_suite_in_child(const std::string& gtest_filter, unsigned rules,
                       const std::vector<std::string>& env) {
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string filter_arg = "--gtest_filter=" + gtest_filter;
  std::string brief = "--gtest_brief=1";
  std::vector<char*> argv{exe.data(), filter_arg.data(), brief.data(), nullptr};
  // The given variables replace inherited ones of the same name (getenv() would find an
  // inherited entry first).
  std::vector<std::string> added = env;
  added.emplace_back("ASIO_PIDFD_TEST_IN_CHILD=1");
  auto overridden = [&](const char* entry) {
    const std::string_view e(entry);
    for (const std::string& a : added)
      if (e.substr(0, e.find('=') + 1) == std::string_view(a).substr(0, a.find('=') + 1))
        return true;
    return false;
  };
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (!overridden(*e)) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), added.begin(), added.end());
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int pidfd = -1;
  const long pid = ::syscall(SYS_clone, pidfd::detail::k_clone_pidfd | SIGCHLD, nullptr, &pidfd,
                             nullptr, nullptr);
  if (pid < 0) throw std::runtime_error("clone failed");
  if (pid == 0) {
    try {
      if (rules) install_seccomp(rules);
    } catch (...) {
      ::_exit(125);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  pidfd::pid_fd child(pidfd);
  // The child runs a whole gtest selection: allow it a long but bounded time.
  const pidfd::exit_status s = bounded_wait(child, 600s);
  if (!s.exited()) return 256 + s.signal().value_or(0);
  return *s.code();
}

void drop_effective_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) throw std::runtime_error("capget failed");
  data[cap / 32].effective &= ~(1U << (cap % 32));
  if (::syscall(SYS_capset, &header, data) != 0) throw std::runtime_error("capset failed");
}

void become_subreaper() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    throw std::runtime_error("PR_SET_CHILD_SUBREAPER failed");
}

std::set<std::string> run_cgroups_named_ours(pid_t maker) {
  std::set<std::string> found;
  pidfd::error_code ec;
  const std::filesystem::path own = pidfd::detail::own_cgroup_directory(ec);
  if (ec) return found;  // no cgroup2 here: nothing can have been made
  const std::string prefix =
      std::string(pidfd::detail::run_cgroup_prefix) + std::to_string(maker) + "-";
  std::error_code list_ec;
  for (const auto& e : std::filesystem::directory_iterator(own, list_ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) found.insert(e.path().string());
  return found;
}

std::vector<std::string> take_leftover_run_cgroups(const std::set<std::string>& before,
                                                   pid_t maker) {
  std::vector<std::string> found;
  for (const std::string& path : run_cgroups_named_ours(maker)) {
    if (before.count(path) != 0) continue;
    found.push_back(path);
    // Kill what is in it, then remove it deepest first: whatever is still dying makes
    // the removal fail, which is all a best effort can do without waiting.
    const std::filesystem::path dir(path);
    std::ofstream(dir / "cgroup.kill") << "1";
    std::vector<std::filesystem::path> dirs;
    std::error_code list_ec;
    for (const auto& d : std::filesystem::recursive_directory_iterator(dir, list_ec))
      if (d.is_directory()) dirs.push_back(d.path());
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) ::rmdir(it->c_str());
    ::rmdir(dir.c_str());
  }
  return found;
}

}  // namespace pidfd_test
