// Tests of <pidfd/spawn.hpp> against the real kernel, with the helper child program.
#include "support.hpp"

#include <pidfd/kernel.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>

#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using pidfd_test::child_path;
using pidfd_test::read_line;

// Sanitized builds start an instrumented helper child (10-30 ms each): they run the long
// loops with fewer iterations. The native build runs the full counts, unless
// ASIO_PIDFD_TEST_LOOP_DIVISOR (for emulated kernels, where a spawn takes ~100 ms) says
// otherwise.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int sanitizer_divisor = 5;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr int sanitizer_divisor = 5;
#else
constexpr int sanitizer_divisor = 1;
#endif
#else
constexpr int sanitizer_divisor = 1;
#endif

int loop_count(int full) {
  return std::max(1, full / pidfd_test::loop_divisor(sanitizer_divisor));
}

pidfd::error_code sys_error(int e) { return {e, boost::system::system_category()}; }

// The helper child's absolute path (tests change the child's working directory).
std::string child_exe() { return fs::absolute(child_path()).string(); }

// The helper child with `args`, argv[0] being its path.
std::vector<std::string> child(std::vector<std::string> args) {
  args.insert(args.begin(), child_exe());
  return args;
}

// Options that give the child the write end of `p` as fd 3.
pidfd::spawn_options report_to(const pidfd_test::pipe_fds& p) {
  pidfd::spawn_options o;
  o.extra_fds = {{3, p.write.get()}};
  return o;
}

// Spawns the helper child reporting on fd 3 and returns its first line; waits for it to
// exit with code 0.
std::string run_and_read(std::vector<std::string> args, pidfd::spawn_options o = {}) {
  auto p = pidfd_test::make_pipe();
  o.extra_fds.push_back({3, p.write.get()});
  pidfd::pid_fd c = pidfd::spawn(child(std::move(args)), o);
  std::string line = read_line(p.read.get());
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
  return line;
}

// Our children, running or unreaped.
std::set<pid_t> our_children() {
  std::set<pid_t> out;
  for (const auto& t : fs::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    pid_t p;
    while (in >> p) out.insert(p);
  }
  return out;
}

// A fresh directory, removed with its contents at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string t = (fs::temp_directory_path() / "asio-pidfd-spawn-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path = t;
  }
  ~temp_dir() { fs::remove_all(path); }
  fs::path file(const std::string& name, const std::string& content, fs::perms perms) const {
    fs::path f = path / name;
    std::ofstream(f) << content;
    fs::permissions(f, perms);
    return f;
  }
};

// Sets an environment variable for the scope of a test (single-threaded part only).
struct scoped_env {
  std::string name;
  std::optional<std::string> old;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

// Spawning must fail with `expected`, leaving no child and no new descriptor behind.
void expect_spawn_error(const std::vector<std::string>& argv, const pidfd::spawn_options& o,
                        const pidfd::error_code& expected) {
  const std::set<int> fds_before = pidfd_test::open_fds();
  pidfd::error_code ec;
  pidfd::pid_fd p = pidfd::spawn(argv, o, ec);
  EXPECT_EQ(ec, expected) << ec.message();
  EXPECT_FALSE(p.is_open());
  EXPECT_EQ(pidfd_test::open_fds(), fds_before);
  EXPECT_EQ(our_children(), std::set<pid_t>{});
}

// ---------------------------------------------------------------------------------------

TEST(Spawn, ReturnsPidfdOfTheChild) {
  auto p = pidfd_test::make_pipe();
  pidfd::pid_fd c = pidfd::spawn(child({"report", "3", "exit", "4"}), report_to(p));
  ASSERT_TRUE(c.is_open());
  const std::string line = read_line(p.read.get());
  EXPECT_EQ(pidfd_test::field(line, "pid"), std::to_string(c.pid()));
  EXPECT_EQ(pidfd_test::field(line, "ppid"), std::to_string(::getpid()));
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(4));
  // Close-on-exec, as every fd the library creates.
  EXPECT_EQ(::fcntl(c.native_handle(), F_GETFD), FD_CLOEXEC);
}

TEST(Spawn, ArgvWithSpacesAndEmptyStrings) {
  auto p = pidfd_test::make_pipe();
  // "exit 0" ends the child's command list: what follows is payload.
  pidfd::pid_fd c = pidfd::spawn(child({"args", "3", "exit", "0", "", "a b", " ", "x\ty"}),
                                 report_to(p));
  const std::string path = child_exe();
  EXPECT_EQ(read_line(p.read.get()), "9 " + std::to_string(path.size()) + ":" + path +
                                         " 4:args 1:3 4:exit 1:0 0: 3:a b 1:  3:x\ty");
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, ThousandArguments) {
  std::vector<std::string> args{"args", "3", "exit", "0"};
  std::string expected_tail;
  for (int i = 0; i < 1000; ++i) {
    args.push_back("arg" + std::to_string(i));
    expected_tail += " " + std::to_string(args.back().size()) + ":" + args.back();
  }
  const std::string path = child_exe();
  EXPECT_EQ(run_and_read(args),
            "1005 " + std::to_string(path.size()) + ":" + path + " 4:args 1:3 4:exit 1:0" +
                expected_tail);
}

// The plan keeps up to 16 argv pointers and 8 descriptor moves in place, then moves them
// to the heap: every count around those limits reaches the child intact.
TEST(Spawn, ArgvAndFdCountsAroundThePlanBuffers) {
  const std::string path = child_exe();
  for (std::size_t count = 13; count <= 18; ++count) {  // 15 to 20 pointers with the nullptr
    std::vector<std::string> args{"args", "3", "exit", "0"};
    std::string expected_tail;
    while (args.size() < count) {
      const std::size_t i = args.size();
      args.push_back("a" + std::to_string(i));
      expected_tail += " " + std::to_string(args.back().size()) + ":" + args.back();
    }
    std::string expected = std::to_string(args.size() + 1);
    expected.append(" ").append(std::to_string(path.size())).append(":").append(path);
    expected.append(" 4:args 1:3 4:exit 1:0").append(expected_tail);
    EXPECT_EQ(run_and_read(args), expected);
  }
  auto p = pidfd_test::make_pipe();
  for (int n = 3; n <= 8; ++n) {  // 3 standard + 1 report + n moves: 7 to 12, as many gaps
    pidfd::spawn_options o;
    o.extra_fds = {{3, p.write.get()}};
    std::string expected = "0 1 2 3";
    for (int k = 0; k < n; ++k) {
      o.extra_fds.emplace_back(10 + 2 * k, p.write.get());
      expected += " " + std::to_string(10 + 2 * k);
    }
    pidfd::pid_fd c = pidfd::spawn(child({"list-fds", "3"}), o);
    EXPECT_EQ(read_line(p.read.get()), expected) << n;
    EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
  }
}

TEST(Spawn, ExecutableOverridesArgv0) {
  pidfd::spawn_options o;
  o.executable = child_exe();
  auto p = pidfd_test::make_pipe();
  o.extra_fds = {{3, p.write.get()}};
  pidfd::pid_fd c = pidfd::spawn({"custom-name", "args", "3"}, o);
  EXPECT_EQ(read_line(p.read.get()), "3 11:custom-name 4:args 1:3");
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, EnvReplaces) {
  pidfd::spawn_options o;
  o.env = std::vector<std::string>{"FOO=bar baz", "EMPTY="};
  EXPECT_EQ(run_and_read({"env", "FOO", "3"}, o), "bar baz");
  EXPECT_EQ(run_and_read({"env", "EMPTY", "3"}, o), "");
  EXPECT_EQ(run_and_read({"env", "PATH", "3"}, o), "<unset>");
}

TEST(Spawn, EnvInheritedByDefault) {
  scoped_env e("ASIO_PIDFD_SPAWN_TEST", "inherited value");
  EXPECT_EQ(run_and_read({"env", "ASIO_PIDFD_SPAWN_TEST", "3"}), "inherited value");
}

TEST(Spawn, Cwd) {
  temp_dir d;
  pidfd::spawn_options o;
  o.cwd = d.path;
  EXPECT_EQ(run_and_read({"cwd", "3"}, o), d.path.string());
  EXPECT_EQ(run_and_read({"cwd", "3"}), fs::current_path().string());
}

TEST(Spawn, PathSearch) {
  const fs::path exe = child_exe();
  temp_dir empty;
  // The first PATH entry lacks the program, the second has it.
  scoped_env e("PATH", empty.path.string() + ":" + exe.parent_path().string());
  pidfd::spawn_options o;
  o.executable = exe.filename();
  EXPECT_EQ(run_and_read({"env", "PATH", "3"}, o),
            empty.path.string() + ":" + exe.parent_path().string());
  // argv[0] without '/' is searched for too.
  auto p = pidfd_test::make_pipe();
  pidfd::pid_fd c = pidfd::spawn({exe.filename().string(), "cwd", "3"}, report_to(p));
  EXPECT_EQ(read_line(p.read.get()), fs::current_path().string());
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, PathSearchFailures) {
  temp_dir d;
  scoped_env e("PATH", d.path.string() + ":/nonexistent-dir");
  expect_spawn_error({"asio-pidfd-no-such-program"}, {}, sys_error(ENOENT));
  // A candidate that is not executable: EACCES, even though the search went on.
  d.file("not-executable", "#!/bin/sh\n", fs::perms::owner_read | fs::perms::owner_write);
  expect_spawn_error({"not-executable"}, {}, sys_error(EACCES));
}

TEST(Spawn, ExecErrors) {
  temp_dir d;
  const fs::path plain = d.file("plain", "#!/bin/sh\n", fs::perms::owner_read);
  const fs::path garbage = d.file("garbage", "not a program\n", fs::perms::owner_all);
  expect_spawn_error({"/nonexistent/program"}, {}, sys_error(ENOENT));
  expect_spawn_error({plain.string()}, {}, sys_error(EACCES));
  expect_spawn_error({garbage.string()}, {}, sys_error(ENOEXEC));
  expect_spawn_error({(plain / "x").string()}, {}, sys_error(ENOTDIR));
  expect_spawn_error({d.path.string()}, {}, sys_error(EACCES));
  pidfd::spawn_options o;
  o.cwd = d.path / "missing";
  expect_spawn_error(child({"exit", "0"}), o, sys_error(ENOENT));
}

TEST(Spawn, BadPlans) {
  // A descriptor that is not open.
  int closed;
  {
    auto p = pidfd_test::make_pipe();
    closed = p.write.get();
  }
  pidfd::spawn_options o;
  o.extra_fds = {{3, closed}};
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EBADF));
  o = {};
  o.stdout_fd = closed;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EBADF));
  o = {};
  o.stdin_fd = -7;  // negative, and none of the stdio_* values
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EBADF));
  // stdio_pipe needs an executor to give the pipe to (<pidfd/process.hpp>).
  o = {};
  o.stdout_fd = pidfd::stdio_pipe;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  // A child fd named twice, or negative.
  o = {};
  o.extra_fds = {{1, 2}};
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  o.extra_fds = {{-1, 2}};
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  // Empty argv, embedded NUL, bad signal, session then group (setpgid fails: EPERM).
  expect_spawn_error({}, {}, sys_error(EINVAL));
  expect_spawn_error({child_exe(), std::string("a\0b", 3)}, {},
                     sys_error(EINVAL));
  o = {};
  o.parent_death_signal = 65;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  o = {};
  o.new_session = true;
  o.process_group = ::getpgrp();
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EPERM));
}

// Every option whose value can be wrong is checked before anything is created: the exact
// error, no descriptor and no child left.
TEST(Spawn, BadOptionValues) {
  const std::string nul("a\0b", 3);
  // The program: an empty name (found nowhere), a name with a NUL.
  expect_spawn_error({""}, {}, sys_error(ENOENT));
  pidfd::spawn_options o;
  o.executable = std::filesystem::path(nul);
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  // Environment changes: an empty name, a name with '=' or a NUL, a value with a NUL.
  for (const auto& change : std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"", "x"}, {"A=B", "x"}, {nul, "x"}, {"A", nul}, {nul, std::nullopt}}) {
    o = {};
    o.env_changes = {change};
    expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  }
  // A whole environment with a NUL in an entry; a working directory with one.
  o = {};
  o.env = std::vector<std::string>{"A=1", "B=" + nul};
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  o = {};
  o.cwd = std::filesystem::path("/tmp/" + nul);
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  // A negative process group, signal 0 for the parent's death, a negative cgroup.
  o = {};
  o.process_group = -1;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  o = {};
  o.parent_death_signal = 0;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  o = {};
  o.cgroup_fd = -1;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EBADF));
}

TEST(Spawn, ThrowingOverload) {
  try {
    pidfd::spawn({"/nonexistent/program"});
    ADD_FAILURE() << "no exception";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), sys_error(ENOENT));
  }
}

TEST(Spawn, ChildSeesExactlyItsFds) {
  // Descriptors without FD_CLOEXEC in the parent must not reach the child.
  pidfd::unique_fd inheritable(::fcntl(0, F_DUPFD, 50));
  ASSERT_GE(inheritable.get(), 50);
  ASSERT_EQ(::fcntl(inheritable.get(), F_GETFD), 0);
  auto extra = pidfd_test::make_pipe();
  pidfd::spawn_options o;
  o.extra_fds = {{7, extra.read.get()}};
  EXPECT_EQ(run_and_read({"list-fds", "3"}, o), "0 1 2 3 7");

  // close_other_fds = false: every inheritable fd of ours is there too (the one above, and
  // any the test runner gave us), and nothing close-on-exec.
  o.close_other_fds = false;
  std::set<int> expected{0, 1, 2, 3, 7};
  for (int fd : pidfd_test::open_fds())
    if (::fcntl(fd, F_GETFD) == 0) expected.insert(fd);
  ASSERT_EQ(expected.count(inheritable.get()), 1u);
  std::string expected_line;
  for (int fd : expected) expected_line += (expected_line.empty() ? "" : " ") + std::to_string(fd);
  EXPECT_EQ(run_and_read({"list-fds", "3"}, o), expected_line);
}

TEST(Spawn, FdSwap) {
  // Parent fds 40 and 41 become the child's 41 and 40.
  auto a = pidfd_test::make_pipe();
  auto b = pidfd_test::make_pipe();
  ASSERT_LT(::fcntl(40, F_GETFD), 0);
  ASSERT_LT(::fcntl(41, F_GETFD), 0);
  pidfd::unique_fd at40(::dup3(a.write.get(), 40, O_CLOEXEC));
  pidfd::unique_fd at41(::dup3(b.write.get(), 41, O_CLOEXEC));
  ASSERT_EQ(at40.get(), 40);
  ASSERT_EQ(at41.get(), 41);
  pidfd::spawn_options o;
  o.extra_fds = {{40, 41}, {41, 40}};
  pidfd::pid_fd c = pidfd::spawn(child({"list-fds", "40", "cwd", "41"}), o);
  EXPECT_EQ(read_line(b.read.get()), "0 1 2 40 41");  // child's 40 is b
  EXPECT_EQ(read_line(a.read.get()), fs::current_path().string());
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, StdioRedirection) {
  // stdout into a pipe, stdin and stderr from /dev/null; the child writes to its fd 1.
  auto out = pidfd_test::make_pipe();
  auto ctl = pidfd_test::make_pipe();
  pidfd::spawn_options o;
  o.stdin_fd = -1;
  o.stdout_fd = out.write.get();
  o.stderr_fd = -1;
  o.extra_fds = {{3, ctl.read.get()}};
  pidfd::pid_fd c = pidfd::spawn(child({"list-fds", "1", "wait-byte", "3"}), o);
  EXPECT_EQ(read_line(out.read.get()), "0 1 2 3");
  const std::string proc = "/proc/" + std::to_string(c.pid()) + "/fd/";
  EXPECT_EQ(fs::read_symlink(proc + "0").string(), "/dev/null");
  EXPECT_EQ(fs::read_symlink(proc + "2").string(), "/dev/null");
  pidfd_test::write_byte(ctl.write.get());
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

// Everything readable from fd until end of file (bounded).
std::string read_all(int fd) {
  std::string all;
  char buf[4096];
  for (;;) {
    if (!pidfd_test::wait_readable(fd)) throw std::runtime_error("read_all: no end of file");
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("read_all: read failed");
    if (n == 0) return all;
    all.append(buf, static_cast<std::size_t>(n));
  }
}

TEST(Spawn, StderrToStdoutSharesTheCallersDescriptor) {
  // 2>&1 onto a pipe of ours: the writes to 1 and 2 arrive in the order they were made.
  auto out = pidfd_test::make_pipe();
  pidfd::spawn_options o;
  o.stdout_fd = out.write.get();
  o.stderr_fd = pidfd::stdio_stdout;
  pidfd::pid_fd c = pidfd::spawn(child({"write", "1", "one ", "write", "2", "two ", "write",
                                        "1", "three ", "write", "2", "four"}),
                                 o);
  out.write.reset();
  EXPECT_EQ(read_all(out.read.get()), "one two three four");
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, StderrToStdoutIsTheSameOpenFile) {
  // One open file, as a shell's 2>&1 gives, not a second open of the same thing: on a
  // regular file the writes through 1 and 2 share one offset, so none overwrites another.
  pidfd::unique_fd file(::memfd_create("stdio-stdout", MFD_CLOEXEC));
  ASSERT_TRUE(file);
  pidfd::spawn_options o;
  o.stdout_fd = file.get();
  o.stderr_fd = pidfd::stdio_stdout;
  pidfd::pid_fd c = pidfd::spawn(
      child({"write", "2", "first ", "write", "1", "second ", "write", "2", "third"}), o);
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
  char buf[64] = {};
  EXPECT_EQ(::pread(file.get(), buf, sizeof buf, 0), 18);
  EXPECT_EQ(std::string(buf), "first second third");

  // With stdout on /dev/null, stderr is that /dev/null too.
  auto ctl = pidfd_test::make_pipe();
  o = {};
  o.stdout_fd = -1;
  o.stderr_fd = pidfd::stdio_stdout;
  o.extra_fds = {{3, ctl.read.get()}};
  c = pidfd::spawn(child({"wait-byte", "3"}), o);
  const std::string proc = "/proc/" + std::to_string(c.pid()) + "/fd/";
  EXPECT_EQ(fs::read_symlink(proc + "1").string(), "/dev/null");
  EXPECT_EQ(fs::read_symlink(proc + "2").string(), "/dev/null");
  EXPECT_EQ(fs::read_symlink(proc + "0").string(), fs::read_symlink("/proc/self/fd/0").string());
  pidfd_test::write_byte(ctl.write.get());
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, StdioStdoutOnlyForStderr) {
  const std::set<int> before = pidfd_test::open_fds();
  pidfd::spawn_options o;
  o.stdin_fd = pidfd::stdio_stdout;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  o = {};
  o.stdout_fd = pidfd::stdio_stdout;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  // The stdout pipe it would share does not exist in this overload.
  o = {};
  o.stdout_fd = pidfd::stdio_pipe;
  o.stderr_fd = pidfd::stdio_stdout;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

TEST(Spawn, NewSessionAndProcessGroup) {
  pidfd::spawn_options o;
  o.new_session = true;
  std::string line = run_and_read({"report", "3"}, o);
  EXPECT_EQ(pidfd_test::field(line, "sid"), pidfd_test::field(line, "pid"));
  EXPECT_EQ(pidfd_test::field(line, "pgid"), pidfd_test::field(line, "pid"));

  o = {};
  o.process_group = 0;
  line = run_and_read({"report", "3"}, o);
  EXPECT_EQ(pidfd_test::field(line, "pgid"), pidfd_test::field(line, "pid"));
  EXPECT_EQ(pidfd_test::field(line, "sid"), std::to_string(::getsid(0)));

  o.process_group = ::getpgrp();
  line = run_and_read({"report", "3"}, o);
  EXPECT_EQ(pidfd_test::field(line, "pgid"), std::to_string(::getpgrp()));

  line = run_and_read({"report", "3"});
  EXPECT_EQ(pidfd_test::field(line, "pgid"), std::to_string(::getpgrp()));
  EXPECT_EQ(pidfd_test::field(line, "sid"), std::to_string(::getsid(0)));
}

TEST(Spawn, ParentDeathSignalFiresWhenTheSpawningThreadExits) {
  auto p = pidfd_test::make_pipe();
  pidfd::pid_fd c;
  std::thread t([&] {
    pidfd::spawn_options o = report_to(p);
    o.parent_death_signal = SIGKILL;
    c = pidfd::spawn(child({"ready", "3", "pause"}), o);
    read_line(p.read.get());  // the child runs (and has its death signal) before we exit
  });
  t.join();
  const pidfd::exit_status s = pidfd_test::bounded_wait(c);
  EXPECT_EQ(s.signal(), std::optional<int>(SIGKILL));
}

TEST(Spawn, SignalMaskAndDispositionsReset) {
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ign {}, old_usr2{}, old_hup{};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR2, &ign, &old_usr2), 0);
  ASSERT_EQ(::sigaction(SIGHUP, &ign, &old_hup), 0);

  std::string line = run_and_read({"sigstate", "3"});

  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_EQ(line, "blocked=0 ignored=0");
}

// The cgroup2 mount point ("unified" on this hybrid v1+v2 machine).
fs::path cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream rest(line.substr(dash + 3));
    std::string type;
    rest >> type;
    if (type != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mount;
    head >> id >> parent >> devno >> root >> mount;
    return mount;
  }
  return {};
}

// How many signals this process ignores: what a child that keeps ignored signals reports.
// Not a constant: a test run started by nohup (SIGHUP) or in the background of a shell
// (SIGINT, SIGQUIT) inherits ignored signals of its own.
int signals_we_ignore() {
  int ignored = 0;
  for (int s = 1; s <= 64; ++s) {
    struct sigaction sa {};
    if (::sigaction(s, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) ++ignored;
  }
  return ignored;
}

std::string unblocked_ignoring(int ignored) {
  return "blocked=0 ignored=" + std::to_string(ignored);
}

// keep_ignored_signals keeps SIG_IGN and still resets handlers, whichever clone is used.
void check_keep_ignored_signals() {
  struct sigaction ign {}, handled{}, old_usr2{}, old_hup{}, old_usr1{};
  ign.sa_handler = SIG_IGN;
  handled.sa_handler = [](int) {};
  ASSERT_EQ(::sigaction(SIGUSR2, &ign, &old_usr2), 0);
  ASSERT_EQ(::sigaction(SIGHUP, &ign, &old_hup), 0);
  ASSERT_EQ(::sigaction(SIGUSR1, &handled, &old_usr1), 0);
  pidfd::spawn_options o;
  o.keep_ignored_signals = true;
  // Both ignored signals stay ignored; the handled one is reset (as by execve).
  const int ignored = signals_we_ignore();
  EXPECT_GE(ignored, 2);  // SIGUSR2 and SIGHUP, at least
  std::string kept = run_and_read({"sigstate", "3"}, o);
  o.keep_ignored_signals = false;
  std::string reset = run_and_read({"sigstate", "3"}, o);
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  EXPECT_EQ(kept, unblocked_ignoring(ignored));
  EXPECT_EQ(reset, "blocked=0 ignored=0");
}

TEST(Spawn, KeepIgnoredSignals) { check_keep_ignored_signals(); }

// The caller's signal mask never reaches the program, with either setting: after clone3
// the caller no longer blocks signals around the clone, so the child starts with the
// caller's own mask and must clear it itself.
void check_mask_cleared_both_settings() {
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGRTMIN + 3);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  struct sigaction ign {}, old_pipe{};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ign, &old_pipe), 0);
  pidfd::spawn_options o;
  const int ignored = signals_we_ignore();  // SIGPIPE, and what we inherited
  EXPECT_GE(ignored, 1);
  const std::string reset = run_and_read({"sigstate", "3"}, o);
  o.keep_ignored_signals = true;
  const std::string kept = run_and_read({"sigstate", "3"}, o);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  EXPECT_EQ(reset, "blocked=0 ignored=0");
  EXPECT_EQ(kept, unblocked_ignoring(ignored));
}

TEST(Spawn, MaskClearedWithEitherSignalSetting) { check_mask_cleared_both_settings(); }

// close_other_fds: a source above every target, an inheritable fd between a target and
// that source, and one above both all stay out of the child, whose table is unshared just
// above the highest fd of the plan.
TEST(Spawn, CloseOtherFdsAroundThePlan) {
  auto report = pidfd_test::make_pipe();
  auto extra = pidfd_test::make_pipe();
  for (int fd : {60, 61, 62, 80}) ASSERT_LT(::fcntl(fd, F_GETFD), 0) << fd;
  pidfd::unique_fd source(::fcntl(extra.read.get(), F_DUPFD, 62));  // inheritable
  pidfd::unique_fd between(::fcntl(0, F_DUPFD, 60));                // inheritable
  pidfd::unique_fd above(::fcntl(0, F_DUPFD, 80));                  // inheritable
  ASSERT_EQ(source.get(), 62);
  ASSERT_EQ(between.get(), 60);
  ASSERT_EQ(above.get(), 80);
  pidfd::unique_fd report_at_61(::dup3(report.write.get(), 61, O_CLOEXEC));
  ASSERT_EQ(report_at_61.get(), 61);
  pidfd::spawn_options o;
  o.extra_fds = {{3, 61}, {5, source.get()}};
  pidfd::pid_fd c = pidfd::spawn(child({"list-fds", "3"}), o);
  report_at_61.reset();
  report.write.reset();
  EXPECT_EQ(read_line(report.read.get()), "0 1 2 3 5");
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(Spawn, CgroupFd) {
  const fs::path mount = cgroup2_mount();
  ASSERT_FALSE(mount.empty())
      << "this test needs a cgroup2 file system and the environment has none: no cgroup2 "
         "line in /proc/self/mountinfo (mount one with 'mount -t cgroup2 none "
         "/sys/fs/cgroup'; in a chroot or container, bind-mount the host's /sys recursively)";
  const std::string name = "asio-pidfd-spawn-test-" + std::to_string(::getpid());
  const fs::path dir = mount / name;
  ASSERT_TRUE(fs::create_directory(dir));
  {
    pidfd::unique_fd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_GE(cg.get(), 0);
    pidfd::spawn_options o;
    o.cgroup_fd = cg.get();
    if (pidfd::kernel_support().clone3) {
      EXPECT_EQ(run_and_read({"cgroup", "3"}, o), "/" + name);
    } else {
      expect_spawn_error(child({"exit", "0"}), o,
                         sys_error(EOPNOTSUPP));
    }
    // Not a cgroup2 directory: the kernel's EBADF.
    pidfd::unique_fd tmp(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    o.cgroup_fd = tmp.get();
    if (pidfd::kernel_support().clone3)
      expect_spawn_error(child({"exit", "0"}), o, sys_error(EBADF));
  }
  EXPECT_EQ(::rmdir(dir.c_str()), 0);
}

// ---------------------------------------------------------------------------------------
// Race freedom: the pidfd names the child even when it is reaped by someone else at once.

// Spawns children that report their pidfs identity and exit at once; each returned pidfd
// must name exactly that child (never no_such_process, never a stranger).
// With `let_reaper`, every tenth child is left to the other thread's waitpid(-1): we
// wait (bounded) until it has been reaped behind our back before we wait() ourselves, so
// that path is exercised however the threads are scheduled (on one CPU our own wait()
// would otherwise win every time).
void spawn_and_check_identity(int count, bool let_reaper = false) {
  const bool pidfs = pidfd::kernel_support().pidfs;
  for (int i = 0; i < count; ++i) {
    auto p = pidfd_test::make_pipe();
    pidfd::error_code ec;
    pidfd::pid_fd c;
    if (pidfs) {
      c = pidfd::spawn(child({"pidfd-id", "3", "exit", "5"}), report_to(p), ec);
      ASSERT_EQ(ec, pidfd::error_code()) << "spawn " << i << ": " << ec.message();
      EXPECT_EQ(read_line(p.read.get()), std::to_string(c.id())) << "spawn " << i;
    } else {
      // Without pidfs all pidfds share one inode: compare pids while the child is alive.
      auto ctl = pidfd_test::make_pipe();
      pidfd::spawn_options o = report_to(p);
      o.extra_fds.push_back({4, ctl.read.get()});
      c = pidfd::spawn(child({"report", "3", "wait-byte", "4", "exit", "5"}), o, ec);
      ASSERT_EQ(ec, pidfd::error_code()) << "spawn " << i << ": " << ec.message();
      EXPECT_EQ(pidfd_test::field(read_line(p.read.get()), "pid"), std::to_string(c.pid()));
      pidfd_test::write_byte(ctl.write.get());
    }
    // If someone else reaped it, the status comes from PIDFD_INFO_EXIT where the kernel
    // has it, else it is unavailable.
    ASSERT_TRUE(pidfd_test::wait_readable(c.native_handle()));
    if (let_reaper && i % 10 == 0) {
      // pidfd_send_signal(0) fails with ESRCH once the process has been reaped.
      const auto deadline = std::chrono::steady_clock::now() + pidfd_test::wait_bound;
      pidfd::error_code probe;
      while (c.send_signal(0, probe), !probe && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
      ASSERT_EQ(probe, boost::system::errc::no_such_process) << "spawn " << i;
    }
    const pidfd::exit_status s = c.wait(ec);
    if (!ec) {
      EXPECT_EQ(s.code(), std::optional<int>(5));
    } else {
      EXPECT_EQ(ec, make_error_code(pidfd::errc::status_unavailable)) << ec.message();
      EXPECT_FALSE(pidfd::kernel_support().info_exit);
    }
  }
}

TEST(SpawnRace, SigchldIgnored) {
  struct sigaction ign {}, old{};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGCHLD, &ign, &old), 0);
  spawn_and_check_identity(loop_count(1000));
  ::sigaction(SIGCHLD, &old, nullptr);
}

TEST(SpawnRace, AnotherThreadReapsAnyChild) {
  std::atomic<bool> stop{false};
  std::atomic<int> reaped{0};
  std::thread reaper([&] {
    while (!stop.load()) {
      int st;
      if (::waitpid(-1, &st, WNOHANG) > 0)
        reaped.fetch_add(1);
      else
        std::this_thread::yield();
    }
  });
  spawn_and_check_identity(loop_count(1000), /*let_reaper=*/true);
  stop = true;
  reaper.join();
  // The reaper got at least every tenth child; our waits may have got the rest. Either
  // way no zombie is left (checked after every test).
  EXPECT_GT(reaped.load(), 0);
}

TEST(SpawnThreads, EightThreadsSpawnConcurrently) {
  constexpr int threads = 8;
  const int per_thread = loop_count(250);
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  ts.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        pidfd::error_code ec;
        pidfd::pid_fd c = pidfd::spawn(child({"exit", std::to_string((t + i) % 100)}), {}, ec);
        if (ec) {
          ADD_FAILURE() << "thread " << t << " spawn " << i << ": " << ec.message();
          return;
        }
        if (pidfd_test::bounded_wait(c).code() == std::optional<int>((t + i) % 100))
          ok.fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), threads * per_thread);
}

// ---------------------------------------------------------------------------------------
// Who the child runs as, and with what.

std::string creds(const pidfd::spawn_options& o = {}) { return run_and_read({"creds", "3"}, o); }

std::string rlimit_of(int resource, const pidfd::spawn_options& o = {}) {
  return run_and_read({"rlimit", std::to_string(resource), "3"}, o);
}

// The caller's "uid=... gid=... groups=... nnp=..." from /proc/self/status, in the
// format of the child's creds command.
std::string own_creds() {
  std::ifstream in("/proc/self/status");
  std::string line;
  std::map<std::string, std::string> v;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    std::string w, joined;
    while (words >> w) joined += (joined.empty() ? "" : ",") + w;
    v[line.substr(0, colon)] = joined;
  }
  return "uid=" + v["Uid"] + " gid=" + v["Gid"] + " groups=" + v["Groups"] +
         " nnp=" + v["NoNewPrivs"];
}

constexpr uid_t nobody = 65534;

// CAP_SYS_RESOURCE (24) in our effective set, from /proc/self/status.
bool has_cap_sys_resource() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> 24) & 1;
  ADD_FAILURE() << "no CapEff in /proc/self/status";
  return false;
}

// uid, gid, groups, no_new_privs and umask, each alone; the caller is root.
void check_each_credential_alone() {
  pidfd::spawn_options o;
  // Nothing set: the caller's identity, groups included. A caller under a seccomp filter
  // (the fallback runs) has no_new_privs already, and its children inherit it.
  const std::string own = own_creds();
  EXPECT_EQ(creds(), own);
  const std::string nnp = " nnp=" + pidfd_test::field(own, "nnp");
  o.uid = nobody;  // uid alone: gid unchanged, groups cleared
  EXPECT_EQ(creds(o), "uid=65534,65534,65534,65534 gid=0,0,0,0 groups=" + nnp);
  o = {};
  o.gid = 4242;  // gid alone: groups cleared too
  EXPECT_EQ(creds(o), "uid=0,0,0,0 gid=4242,4242,4242,4242 groups=" + nnp);
  o = {};
  o.groups = std::vector<gid_t>{7, 3, 900};  // groups alone: as given
  EXPECT_EQ(creds(o), "uid=0,0,0,0 gid=0,0,0,0 groups=3,7,900" + nnp);
  o = {};
  o.no_new_privs = true;
  EXPECT_EQ(creds(o), "uid=0,0,0,0 gid=0,0,0,0 groups= nnp=1");
  o = {};
  o.umask = 027;
  EXPECT_EQ(run_and_read({"umask", "3"}, o), "0027");
  o.umask = 0;
  EXPECT_EQ(run_and_read({"umask", "3"}, o), "0000");
  o.umask = 07777;  // only the permission bits
  EXPECT_EQ(run_and_read({"umask", "3"}, o), "0777");
}

// Resource limits; the caller is root.
void check_rlimits_as_root() {
  pidfd::spawn_options o;
  o.rlimits = {{RLIMIT_CORE, {0, 0}}, {RLIMIT_NOFILE, {100, 200}}};
  EXPECT_EQ(rlimit_of(RLIMIT_CORE, o), "0 0");
  EXPECT_EQ(rlimit_of(RLIMIT_NOFILE, o), "100 200");
  // In order: the second setting of a resource wins.
  o.rlimits = {{RLIMIT_NOFILE, {100, 200}}, {RLIMIT_NOFILE, {150, 150}}};
  EXPECT_EQ(rlimit_of(RLIMIT_NOFILE, o), "150 150");
  // A hard limit above the caller's: only with CAP_SYS_RESOURCE (some containers drop it
  // even for root).
  rlimit mine{};
  ASSERT_EQ(::getrlimit(RLIMIT_MSGQUEUE, &mine), 0);
  ASSERT_NE(mine.rlim_max, RLIM_INFINITY);
  o.rlimits = {{RLIMIT_MSGQUEUE, {mine.rlim_max + 1, mine.rlim_max + 1}}};
  if (has_cap_sys_resource())
    EXPECT_EQ(rlimit_of(RLIMIT_MSGQUEUE, o),
              std::to_string(mine.rlim_max + 1) + " " + std::to_string(mine.rlim_max + 1));
  else
    expect_spawn_error(child({"exit", "0"}), o, sys_error(EPERM));
}

// Every credential setting at once; the caller is root.
void check_credentials_together() {
  pidfd::spawn_options o;
  o.uid = nobody;
  o.gid = nobody;
  o.groups = std::vector<gid_t>{100, 200};
  o.rlimits = {{RLIMIT_NOFILE, {64, 64}}};
  o.umask = 077;
  o.no_new_privs = true;
  auto p = pidfd_test::make_pipe();
  o.extra_fds = {{3, p.write.get()}};
  pidfd::pid_fd c = pidfd::spawn(
      child({"creds", "3", "rlimit", std::to_string(RLIMIT_NOFILE), "3", "umask", "3"}), o);
  EXPECT_EQ(read_line(p.read.get()),
            "uid=65534,65534,65534,65534 gid=65534,65534,65534,65534 groups=100,200 nnp=1");
  EXPECT_EQ(read_line(p.read.get()), "64 64");
  EXPECT_EQ(read_line(p.read.get()), "0077");
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

// Each setting alone, then all together; the caller is root.
void check_credentials_as_root() {
  ASSERT_EQ(::geteuid(), 0u) << "the suite runs as root";
  check_each_credential_alone();
  check_rlimits_as_root();
  check_credentials_together();
}

TEST(SpawnCredentials, EachAloneAndTogether) { check_credentials_as_root(); }

// The limits come after the uid: a hard limit only a privileged process may raise cannot
// be raised for a child that is no longer root (with or without CAP_SYS_RESOURCE in the
// caller, see above).
void check_order_limits_after_uid() {
  rlimit mine{};
  ASSERT_EQ(::getrlimit(RLIMIT_MSGQUEUE, &mine), 0);
  const std::set<int> before = pidfd_test::open_fds();
  pidfd::spawn_options o;
  o.uid = nobody;
  o.rlimits = {{RLIMIT_MSGQUEUE, {mine.rlim_max + 1, mine.rlim_max + 1}}};
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EPERM));
  // Lowering needs no privilege: fine as the new user.
  o.rlimits = {{RLIMIT_MSGQUEUE, {1024, 1024}}};
  EXPECT_EQ(rlimit_of(RLIMIT_MSGQUEUE, o), "1024 1024");
  // A cwd only root may enter: checked as the new user.
  o = {};
  o.uid = nobody;
  o.gid = nobody;
  const fs::path private_dir =
      fs::temp_directory_path() / ("asio-pidfd-private-" + std::to_string(::getpid()));
  ASSERT_EQ(::mkdir(private_dir.c_str(), 0700), 0);
  o.cwd = private_dir;
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EACCES));
  o.uid = std::nullopt;  // as root (gid alone changes no permission here: owner root)
  o.gid = std::nullopt;
  EXPECT_EQ(run_and_read({"cwd", "3"}, o), private_dir.string());
  fs::remove(private_dir);
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

TEST(SpawnCredentials, LimitsAndCwdApplyAsTheNewUser) { check_order_limits_after_uid(); }

// A child that changes its ids has the kernel mark the memory it shares with us until
// execve as not dumpable: the caller's own state (its core dumps, the ownership of its
// /proc entries) must be what it was once spawn() has returned.
TEST(SpawnCredentials, TheCallerStaysDumpable) {
  const int before = ::prctl(PR_GET_DUMPABLE);
  pidfd::spawn_options o;
  o.uid = ::geteuid() == 0 ? nobody : ::geteuid();
  o.gid = ::getegid() == 0 ? nobody : ::getegid();
  EXPECT_EQ(pidfd_test::field(creds(o), "uid"), std::to_string(*o.uid) + ',' +
                                                    std::to_string(*o.uid) + ',' +
                                                    std::to_string(*o.uid) + ',' +
                                                    std::to_string(*o.uid));
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE), before);
}

TEST(SpawnCredentials, ParentDeathSignalSurvivesTheCredentialChange) {
  // A change of credentials clears PR_SET_PDEATHSIG: it must be set after them.
  auto p = pidfd_test::make_pipe();
  pidfd::pid_fd c;
  std::thread t([&] {
    pidfd::spawn_options o = report_to(p);
    o.uid = nobody;
    o.gid = nobody;
    o.parent_death_signal = SIGKILL;
    c = pidfd::spawn(child({"ready", "3", "pause"}), o);
    read_line(p.read.get());
  });
  t.join();
  EXPECT_EQ(pidfd_test::bounded_wait(c).signal(), std::optional<int>(SIGKILL));
}

TEST(SpawnCredentials, BadInput) {
  const std::set<int> before = pidfd_test::open_fds();
  const auto bad = sys_error(EINVAL);
  pidfd::spawn_options o;
  o.rlimits = {{RLIMIT_NLIMITS, {1, 1}}};
  expect_spawn_error(child({"exit", "0"}), o, bad);
  o.rlimits = {{-1, {1, 1}}};
  expect_spawn_error(child({"exit", "0"}), o, bad);
  o.rlimits = {{RLIMIT_NOFILE, {200, 100}}};  // rlim_cur > rlim_max
  expect_spawn_error(child({"exit", "0"}), o, bad);
  o.rlimits = {{RLIMIT_CORE, {RLIM_INFINITY, 0}}};
  expect_spawn_error(child({"exit", "0"}), o, bad);
  o = {};
  o.uid = static_cast<uid_t>(-1);
  expect_spawn_error(child({"exit", "0"}), o, bad);
  o = {};
  o.gid = static_cast<gid_t>(-1);
  expect_spawn_error(child({"exit", "0"}), o, bad);
  // The kernel's own EINVAL: more groups than NGROUPS_MAX (65536).
  o = {};
  o.groups = std::vector<gid_t>(65537, 5);
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EINVAL));
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

// Run in a child process of the suite: its own supplementary groups are {4, 5}, so that
// a default that inherited them would show.
void check_groups_cleared_by_default() {
  const gid_t mine[] = {4, 5};
  ASSERT_EQ(::setgroups(2, mine), 0);
  pidfd::spawn_options o;
  EXPECT_EQ(pidfd_test::field(creds(o), "groups"), "4,5");  // nothing set: inherited
  o.uid = nobody;
  EXPECT_EQ(pidfd_test::field(creds(o), "groups"), "");
  o = {};
  o.gid = nobody;
  EXPECT_EQ(pidfd_test::field(creds(o), "groups"), "");
  o.groups = std::vector<gid_t>{};
  EXPECT_EQ(pidfd_test::field(creds(o), "groups"), "");
  o.groups = std::vector<gid_t>{5};
  EXPECT_EQ(pidfd_test::field(creds(o), "groups"), "5");
  o = {};
  o.umask = 022;  // not a credential: groups stay
  EXPECT_EQ(pidfd_test::field(creds(o), "groups"), "4,5");
}

TEST(InChildSpawnCredentials, GroupsClearedByDefault) { check_groups_cleared_by_default(); }

TEST(SpawnCredentials, GroupsClearedByDefault) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSpawnCredentials.*", 0), 0);
}

// Run in a child process of the suite that gave up root (uid and gids 65534): what it may
// not give its child is operation_not_permitted, and nothing is left behind.
void check_unprivileged_caller() {
  rlimit q{};
  ASSERT_EQ(::getrlimit(RLIMIT_MSGQUEUE, &q), 0);
  const gid_t none[1] = {};
  ASSERT_EQ(::setgroups(0, none), 0);
  ASSERT_EQ(::setresgid(nobody, nobody, nobody), 0);
  ASSERT_EQ(::setresuid(nobody, nobody, nobody), 0);
  ASSERT_EQ(::prctl(PR_SET_DUMPABLE, 1), 0);  // keep our /proc entries ours
  const std::set<int> before = pidfd_test::open_fds();
  const pidfd::error_code eperm = sys_error(EPERM);
  pidfd::spawn_options o;
  o.uid = 0;
  expect_spawn_error(child({"exit", "0"}), o, eperm);
  o = {};
  o.gid = 0;
  expect_spawn_error(child({"exit", "0"}), o, eperm);
  o = {};
  o.groups = std::vector<gid_t>{nobody};  // even our own gid: setgroups needs CAP_SETGID
  expect_spawn_error(child({"exit", "0"}), o, eperm);
  o = {};
  o.rlimits = {{RLIMIT_MSGQUEUE, {q.rlim_max + 1, q.rlim_max + 1}}};
  expect_spawn_error(child({"exit", "0"}), o, eperm);
  EXPECT_EQ(pidfd_test::open_fds(), before);
  // Even its own IDs: they clear the supplementary groups, and setgroups, even of an
  // empty list, needs CAP_SETGID.
  o = {};
  o.uid = nobody;
  o.gid = nobody;
  expect_spawn_error(child({"exit", "0"}), o, eperm);
  EXPECT_EQ(pidfd_test::open_fds(), before);
  // What it may do: lower limits, its umask, no_new_privs.
  o = {};
  o.rlimits = {{RLIMIT_NOFILE, {32, 64}}};
  o.umask = 0;
  o.no_new_privs = true;
  auto p = pidfd_test::make_pipe();
  o.extra_fds = {{3, p.write.get()}};
  pidfd::pid_fd c =
      pidfd::spawn(child({"creds", "3", "rlimit", std::to_string(RLIMIT_NOFILE), "3"}), o);
  EXPECT_EQ(read_line(p.read.get()),
            "uid=65534,65534,65534,65534 gid=65534,65534,65534,65534 groups= nnp=1");
  EXPECT_EQ(read_line(p.read.get()), "32 64");
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(0));
}

TEST(InChildSpawnUnprivileged, PermissionErrors) { check_unprivileged_caller(); }

TEST(SpawnCredentials, UnprivilegedCallerGetsPermissionErrors) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSpawnUnprivileged.*", 0), 0);
}

// ---------------------------------------------------------------------------------------
// Kernel fallbacks, run in a child process of the suite under a seccomp filter.

void check_spawn_works() {
  auto p = pidfd_test::make_pipe();
  pidfd::pid_fd c = pidfd::spawn(child({"report", "3", "exit", "6"}), report_to(p));
  const std::string line = read_line(p.read.get());
  EXPECT_EQ(pidfd_test::field(line, "pid"), std::to_string(c.pid()));
  EXPECT_EQ(pidfd_test::bounded_wait(c).code(), std::optional<int>(6));
  expect_spawn_error({"/nonexistent/program"}, {}, sys_error(ENOENT));
  pidfd::spawn_options o;
  o.extra_fds = {{5, p.write.get()}};
  EXPECT_EQ(run_and_read({"list-fds", "3"}, o), "0 1 2 3 5");
}

void check_cgroup_unsupported() {
  pidfd::unique_fd dir(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  pidfd::spawn_options o;
  o.cgroup_fd = dir.get();
  expect_spawn_error(child({"exit", "0"}), o, sys_error(EOPNOTSUPP));
}

// A terminal on stdout, read through the executor overload until its end.
void check_pty_spawn() {
  boost::asio::io_context io;
  pidfd::spawn_options o;
  o.stdout_fd = pidfd::stdio_pty;
  o.stdin_fd = o.stderr_fd = -1;  // not the suite's own streams, which may be a terminal
  o.umask = 022;
  pidfd::process p = pidfd::spawn(io, child({"tty", "1", "umask", "1"}), o);
  std::string out;
  pidfd::error_code ec;
  boost::asio::read(p.pty, boost::asio::dynamic_buffer(out), ec);
  EXPECT_EQ(ec, boost::asio::error::eof);
  EXPECT_EQ(out, "isatty=010 leader=1 ctty=1 fg=1 size=24x80\r\n0022\r\n");
  EXPECT_EQ(pidfd_test::bounded_wait(p.pidfd.core()).code(), std::optional<int>(0));
}

TEST(SpawnPty, ThroughTheNewestCloneMethod) { check_pty_spawn(); }

TEST(InChildSpawnNoClone3, ClonePidfdFallback) {
  EXPECT_FALSE(pidfd::kernel_support().clone3);
  EXPECT_TRUE(pidfd::kernel_support().clone_pidfd);
  check_spawn_works();
  check_cgroup_unsupported();
  check_keep_ignored_signals();
  check_mask_cleared_both_settings();
  check_credentials_as_root();
  check_order_limits_after_uid();
  check_pty_spawn();
}

TEST(InChildSpawnNoClonePidfd, PidfdOpenFallback) {
  EXPECT_FALSE(pidfd::kernel_support().clone3);
  EXPECT_FALSE(pidfd::kernel_support().clone_pidfd);
  check_spawn_works();
  check_cgroup_unsupported();
  check_mask_cleared_both_settings();
  check_credentials_as_root();
  check_order_limits_after_uid();
  check_pty_spawn();
}

TEST(SpawnFallback, WithoutClone3) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSpawnNoClone3.*", pidfd_test::deny_clone3),
            0);
}

TEST(SpawnFallback, WithoutClonePidfd) {
  EXPECT_EQ(pidfd_test::run_suite_in_child(
                "InChildSpawnNoClonePidfd.*",
                pidfd_test::deny_clone3 | pidfd_test::deny_clone_pidfd),
            0);
}

TEST(SpawnFallback, UnprivilegedCallerWithoutClone3) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSpawnUnprivileged.*:InChildSpawnCredentials.*",
                                           pidfd_test::deny_clone3),
            0);
}

TEST(SpawnFallback, UnprivilegedCallerWithoutClonePidfd) {
  EXPECT_EQ(pidfd_test::run_suite_in_child(
                "InChildSpawnUnprivileged.*:InChildSpawnCredentials.*",
                pidfd_test::deny_clone3 | pidfd_test::deny_clone_pidfd),
            0);
}

TEST(SpawnFallback, PretendMissing) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSpawnNoClonePidfd.*", 0,
                                           {"ASIO_PIDFD_PRETEND_MISSING=clone3,clone_pidfd"}),
            0);
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildSpawnNoClone3.*", 0,
                                           {"ASIO_PIDFD_PRETEND_MISSING=clone3"}),
            0);
}

}  // namespace
