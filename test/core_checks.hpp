// Helpers shared by the pid_fd tests and their fallback re-runs (fallback.cpp): what
// /proc says about a process (the truth the library's answers are compared with), a
// helper child that blocks until told to exit, and checks that compare the two.
#ifndef PIDFD_TEST_CORE_CHECKS_HPP
#define PIDFD_TEST_CORE_CHECKS_HPP

#include "support.hpp"

#include <pidfd/kernel.hpp>
#include <pidfd/pid_fd.hpp>

#include <gtest/gtest.h>

#include <boost/system/errc.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pidfd_test {

using sys_errc = boost::system::errc::errc_t;

/// The /proc/<pid>/ns names in namespace_type order.
inline constexpr std::array<std::pair<pidfd::namespace_type, const char*>, 10> namespace_names{{
    {pidfd::namespace_type::cgroup, "cgroup"},
    {pidfd::namespace_type::ipc, "ipc"},
    {pidfd::namespace_type::mnt, "mnt"},
    {pidfd::namespace_type::net, "net"},
    {pidfd::namespace_type::pid, "pid"},
    {pidfd::namespace_type::pid_for_children, "pid_for_children"},
    {pidfd::namespace_type::time, "time"},
    {pidfd::namespace_type::time_for_children, "time_for_children"},
    {pidfd::namespace_type::user, "user"},
    {pidfd::namespace_type::uts, "uts"},
}};

/// The fields of "Key:" in a /proc status file, whitespace-separated.
inline std::vector<std::string> status_file_field(const std::string& path,
                                                  const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::vector<std::string> out;
    std::string f;
    while (fields >> f) out.push_back(f);
    return out;
  }
  throw std::runtime_error("no " + key + " in " + path);
}

/// The fields of "Key:" in /proc/<pid>/status.
inline std::vector<std::string> proc_status(pid_t pid, const std::string& key) {
  return status_file_field("/proc/" + std::to_string(pid) + "/status", key);
}

/// Credentials as /proc/<pid>/status reports them (real, effective, saved, fs).
inline pidfd::credentials proc_creds(pid_t pid) {
  const auto u = proc_status(pid, "Uid");
  const auto g = proc_status(pid, "Gid");
  auto n = [](const std::string& s) { return static_cast<unsigned>(std::stoul(s)); };
  return {n(u[0]), n(u[1]), n(u[2]), n(u[3]), n(g[0]), n(g[1]), n(g[2]), n(g[3])};
}

/// Where the cgroup2 hierarchy is mounted (this machine mounts v1 and v2 together).
inline std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount_point;
    head >> id >> parent >> devno >> root >> mount_point;
    return mount_point;
  }
  throw std::runtime_error(
      "this test needs a cgroup2 file system and the environment has none: no cgroup2 line "
      "in /proc/self/mountinfo (mount one with 'mount -t cgroup2 none /sys/fs/cgroup'; in a "
      "chroot or container, bind-mount the host's /sys recursively)");
}

/// The process's cgroup2 path (the "0::" line of /proc/<pid>/cgroup).
inline std::string proc_cgroup_path(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  throw std::runtime_error("no 0:: line in /proc/" + std::to_string(pid) + "/cgroup");
}

inline std::uint64_t inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("stat " + path + " failed");
  return st.st_ino;
}

inline std::uint64_t fd_inode(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error("fstat failed");
  return st.st_ino;
}

/// The id of the process's cgroup v2 directory: the inode of that directory.
inline std::uint64_t proc_cgroup_id(pid_t pid) {
  std::string path = proc_cgroup_path(pid);
  if (path == "/") path.clear();
  return inode_of(cgroup2_mount() + path);
}

inline std::uint64_t proc_ns_inode(pid_t pid, const char* name) {
  return inode_of("/proc/" + std::to_string(pid) + "/ns/" + name);
}

/// The current state letter of /proc/<pid>/stat ('S', 'Z', 't', ...).
inline char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = s.rfind(')');
  if (paren == std::string::npos || paren + 2 >= s.size()) return '?';
  return s[paren + 2];
}

/// A helper child that reports itself and then blocks until finish(): it runs
/// `before`, then "report 3 wait-byte 4", then `after` (default: exit 0).
/// Its destructor kills and reaps it if the test did not (so a failed assertion does not
/// cascade into the hygiene check of later tests).
struct blocked_child {
  pipe_fds out = make_pipe();
  pipe_fds go = make_pipe();
  pidfd::pid_fd fd;
  std::string report;
  pid_t pid = 0;

  explicit blocked_child(std::vector<std::string> before = {},
                         std::vector<std::string> after = {"exit", "0"},
                         std::vector<std::pair<int, int>> extra_fds = {}) {
    std::vector<std::string> args = std::move(before);
    for (const char* a : {"report", "3", "wait-byte", "4"}) args.emplace_back(a);
    args.insert(args.end(), after.begin(), after.end());
    extra_fds.emplace_back(3, out.write.get());
    extra_fds.emplace_back(4, go.read.get());
    fd = start_child(args, extra_fds);
    out.write.reset();
    go.read.reset();
    report = read_line(out.read.get());
    pid = std::stoi(field(report, "pid"));
  }
  blocked_child(const blocked_child&) = delete;
  blocked_child& operator=(const blocked_child&) = delete;

  /// Lets the child run its `after` commands.
  void finish() { write_byte(go.write.get()); }

  /// Lets it go on and waits (bounded) until it has exited, without reaping it.
  void finish_and_wait_exit() {
    finish();
    if (!wait_readable(fd.native_handle())) throw std::runtime_error("child did not exit");
  }

  ~blocked_child() {
    if (!fd.is_open()) return;
    // Raw calls: this must work even if the library under test does not.
    ::syscall(SYS_pidfd_send_signal, fd.native_handle(), SIGKILL, nullptr, 0);
    if (!wait_readable(fd.native_handle(), std::chrono::milliseconds(10000))) return;
    siginfo_t si{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd.native_handle()), &si,
             WEXITED | WNOHANG);
  }
};

/// Asserts that a throwing call throws pidfd::system_error with `want`.
template <class F, class Want>
void expect_throws_code(F&& f, Want want) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), want) << e.what();
  }
}

/// pid/ppid/creds/cgroup_id/info of a live process agree with /proc (GET_INFO or its
/// fallback must give the same values).
inline void expect_queries_match_proc(const pidfd::pid_fd& p, pid_t pid) {
  const pid_t ppid = std::stoi(proc_status(pid, "PPid").at(0));
  const pidfd::credentials creds = proc_creds(pid);
  const std::uint64_t cgroup = proc_cgroup_id(pid);
  pidfd::error_code ec;
  EXPECT_EQ(p.pid(ec), pid);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.ppid(ec), ppid);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.creds(ec), creds);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.cgroup_id(ec), cgroup);
  EXPECT_FALSE(ec) << ec.message();
  const pidfd::process_info info = p.info(ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(info.pid, pid);
  EXPECT_EQ(info.tgid, pid);
  EXPECT_EQ(info.ppid, ppid);
  EXPECT_EQ(info.creds, creds);
  EXPECT_EQ(info.cgroup_id, cgroup);
  // The throwing forms agree.
  EXPECT_EQ(p.pid(), pid);
  EXPECT_EQ(p.ppid(), ppid);
  EXPECT_EQ(p.creds(), creds);
  EXPECT_EQ(p.cgroup_id(), cgroup);
}

/// After the reap: pid() is still the recorded one; the live queries say no_such_process.
inline void expect_queries_after_reap(const pidfd::pid_fd& p, pid_t pid) {
  pidfd::error_code ec;
  EXPECT_EQ(p.pid(ec), pid);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(p.pid(), pid);
  (void)p.ppid(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  (void)p.info(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  (void)p.creds(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  (void)p.cgroup_id(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  expect_throws_code([&] { (void)p.ppid(); }, sys_errc::no_such_process);
  expect_throws_code([&] { (void)p.info(); }, sys_errc::no_such_process);
  expect_throws_code([&] { (void)p.creds(); }, sys_errc::no_such_process);
  expect_throws_code([&] { (void)p.cgroup_id(); }, sys_errc::no_such_process);
  for (const auto& [type, name] : namespace_names) {
    const pidfd::unique_fd ns = p.get_namespace(type, ec);
    EXPECT_EQ(ec, sys_errc::no_such_process) << name;
    EXPECT_FALSE(ns.is_open()) << name;
  }
}

/// Every namespace descriptor is the one /proc/<pid>/ns/<name> names.
inline void expect_namespaces_match_proc(const pidfd::pid_fd& p, pid_t pid) {
  for (const auto& [type, name] : namespace_names) {
    SCOPED_TRACE(name);
    pidfd::error_code ec;
    const pidfd::unique_fd ns = p.get_namespace(type, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(ns.is_open());
    EXPECT_EQ(fd_inode(ns.get()), proc_ns_inode(pid, name));
    EXPECT_EQ(::fcntl(ns.get(), F_GETFD), FD_CLOEXEC);
    // The throwing form gives the same namespace.
    EXPECT_EQ(fd_inode(p.get_namespace(type).get()), proc_ns_inode(pid, name));
  }
}

/// Our own exit status of `child` after it exited with `code`, through the whole API.
inline void expect_exit_code(pidfd::pid_fd& p, int code) {
  const pidfd::exit_status s = bounded_wait(p);
  EXPECT_TRUE(s.exited());
  EXPECT_EQ(s.code(), code);
  EXPECT_EQ(s.native(), code << 8);
  EXPECT_EQ(p.cached_status(), s);
}

/// Whether some thread of ours is blocked in one of the given syscalls (from
/// /proc/self/task/<tid>/syscall), used to wait, without sleeping, until a wait() call has
/// really started blocking.
inline bool thread_in_syscall(pid_t tid, std::initializer_list<long> numbers) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long nr = -2;
  if (!(in >> nr)) return false;
  for (long n : numbers)
    if (n == nr) return true;
  return false;
}

/// Moves a blocked child into a new cgroup2 directory and checks that cgroup_id() (and
/// info().cgroup_id) is that directory's inode. Needs root.
inline void expect_cgroup_id_in_new_cgroup() {
  ASSERT_EQ(::geteuid(), 0u) << "the suite runs as root";
  // Removes the directory at the end, after the child in it has been reaped.
  struct cgroup_dir {
    std::string path;
    ~cgroup_dir() {
      if (!path.empty()) ::rmdir(path.c_str());
    }
  };
  const std::string name = "/asio-pidfd-test-" + std::to_string(::getpid());
  cgroup_dir dir{cgroup2_mount() + name};
  ASSERT_EQ(::mkdir(dir.path.c_str(), 0755), 0) << dir.path << ": " << std::strerror(errno);
  blocked_child c;
  {
    std::ofstream procs(dir.path + "/cgroup.procs");
    procs << c.pid << std::flush;
    ASSERT_TRUE(procs.good());
  }
  ASSERT_EQ(proc_cgroup_path(c.pid), name);
  EXPECT_EQ(c.fd.cgroup_path(), name);
  const std::uint64_t want = inode_of(dir.path);
  EXPECT_EQ(c.fd.cgroup_id(), want);
  EXPECT_EQ(c.fd.info().cgroup_id, want);
  EXPECT_NE(c.fd.cgroup_id(), proc_cgroup_id(::getpid()));
  c.finish();
  expect_exit_code(c.fd, 0);
}

// Two threads block in wait() on one pidfd of a child that exits 6: both get its status
// (one reaps, the other reads the cache).
inline void expect_concurrent_waiters_agree() {
  blocked_child c({}, {"exit", "6"});
  std::optional<pidfd::exit_status> a, b;
  pidfd::error_code ea, eb;
  std::thread t1([&] { a = c.fd.wait(ea); });
  std::thread t2([&] { b = c.fd.wait(eb); });
  c.finish();
  t1.join();
  t2.join();
  EXPECT_FALSE(ea) << ea.message();
  EXPECT_FALSE(eb) << eb.message();
  EXPECT_EQ(a, pidfd::exit_status::from_wait_status(0x600));
  EXPECT_EQ(b, pidfd::exit_status::from_wait_status(0x600));
}

}  // namespace pidfd_test

#endif  // PIDFD_TEST_CORE_CHECKS_HPP
