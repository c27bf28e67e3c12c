// Tests of the cgroup v2 building blocks (<pidfd/detail/cgroup.hpp>, cgroup_watch.hpp):
// finding the cgroup2 mount and our cgroup, a cgroup made for one run (spawn into it,
// populated, kill, members, signals, cpu.stat, remove), the asynchronous wait for it to
// become empty, and the errors.
#include "io_fixture.hpp"
#include "support.hpp"

#include <pidfd/detail/cgroup.hpp>
#include <pidfd/detail/cgroup_watch.hpp>
#include <pidfd/spawn.hpp>

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using pidfd::error_code;
using pidfd::detail::run_cgroup;
using namespace pidfd_test;

// An errno in system_category(), as the library reports OS errors.
error_code os_error(int e) { return error_code(e, boost::system::system_category()); }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Our cgroup v2 directory, computed independently of the library: the mount point of the
// (only, on the machines the suite runs on) cgroup2 line of /proc/self/mountinfo plus the
// "0::" line of /proc/self/cgroup.
std::string expected_own_directory() {
  std::istringstream mi(slurp("/proc/self/mountinfo"));
  std::string line, mount;
  while (std::getline(mi, line)) {
    if (line.find(" - cgroup2 ") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string id, parent, dev, root;
    fields >> id >> parent >> dev >> root >> mount;
  }
  std::istringstream cg(slurp("/proc/self/cgroup"));
  std::string path;
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  return path == "/" ? mount : mount + path;
}

// The "0::" line of /proc/<pid>/cgroup.
std::string cgroup_of(pid_t pid) {
  std::istringstream cg(slurp("/proc/" + std::to_string(pid) + "/cgroup"));
  std::string line;
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return "<none>";
}

run_cgroup make_cgroup(const std::optional<fs::path>& parent = std::nullopt) {
  error_code ec;
  run_cgroup cg = run_cgroup::create(parent, ec);
  if (ec) throw pidfd::system_error(ec, "run_cgroup::create");
  return cg;
}

// Starts the helper child in `cg` with the given commands and {child fd, our fd} pairs.
pidfd::pid_fd spawn_in(const run_cgroup& cg, const std::vector<std::string>& commands,
                       const std::vector<std::pair<int, int>>& fds = {},
                       bool new_session = false) {
  std::vector<std::string> argv{child_path()};
  argv.insert(argv.end(), commands.begin(), commands.end());
  pidfd::spawn_options o;
  o.cgroup_fd = cg.native_handle();
  o.extra_fds = fds;
  o.new_session = new_session;
  return pidfd::spawn(argv, o);
}

class Cgroup : public io_fixture {
protected:
  // Waits, bounded, for the watch to report the cgroup empty.
  error_code wait_empty(pidfd::detail::cgroup_watch& watch) {
    std::optional<error_code> result;
    watch.async_wait_empty([&](error_code ec) { result = ec; });
    if (!run_until([&] { return result.has_value(); }))
      throw std::runtime_error("the cgroup did not become empty in time");
    return *result;
  }
};

TEST(CgroupMount, OwnDirectoryIsWhatMountinfoAndProcSelfCgroupSay) {
  error_code ec;
  const fs::path dir = pidfd::detail::own_cgroup_directory(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(dir.string(), expected_own_directory());
  struct statfs st {};
  ASSERT_EQ(::statfs(dir.c_str(), &st), 0);
  EXPECT_EQ(static_cast<long>(st.f_type), 0x63677270L);  // CGROUP2_SUPER_MAGIC
}

TEST(CgroupMount, ChoosesTheMountThatShowsOurCgroup) {
  // A v1 hierarchy, a read-only cgroup2 mount, a cgroup2 mount of another subtree, a
  // writable one of a subtree containing ours (mount point with an escaped space), and a
  // writable one of the whole hierarchy, shadowed by a later one at the same place.
  const std::string mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "40 31 0:38 / /ro-view ro,relatime - cgroup2 cgroup2 rw\n"
      "41 31 0:38 /other /other-view rw,relatime - cgroup2 cgroup2 rw\n"
      "42 31 0:38 /jobs /jobs\\040view rw,relatime shared:5 - cgroup2 cgroup2 rw\n"
      "43 31 0:38 / /full rw,relatime - cgroup2 cgroup2 rw\n"
      "44 31 0:38 / /full2 rw,nosuid master:3 - cgroup2 none rw\n";
  auto m = pidfd::detail::choose_cgroup2_mount(mountinfo, "/jobs/a");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/full2");
  EXPECT_EQ(m->root, "/");
  EXPECT_FALSE(m->read_only);

  // Without the whole-hierarchy mounts: the subtree mount that contains /jobs/a, whose
  // name unescapes; /jobsx/a is not inside /jobs.
  const std::string partial = mountinfo.substr(0, mountinfo.find("43 31"));
  m = pidfd::detail::choose_cgroup2_mount(partial, "/jobs/a");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/jobs view");
  EXPECT_EQ(m->root, "/jobs");
  m = pidfd::detail::choose_cgroup2_mount(partial, "/jobsx/a");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/ro-view");
  EXPECT_TRUE(m->read_only);

  EXPECT_FALSE(pidfd::detail::choose_cgroup2_mount(mountinfo.substr(0, mountinfo.find("40 31")),
                                                   "/jobs/a"));
}

// Lines that are not a cgroup2 mount are passed over: without the " - " separator, with
// fewer than six fields before it, with nothing after it. Fields may be separated by
// several spaces. An escape is only a backslash and three octal digits: anything else is
// kept as written.
TEST(CgroupMount, MalformedLinesAndPartialEscapesAreKept) {
  const std::string mountinfo =
      "no separator here\n"
      "60 31 0:38 / /five - cgroup2 cgroup2 rw\n"
      "61 31 0:38 / /no-type rw - \n"
      "  62  31 0:38 / /a\\134b\\9x\\1y\\!z\\12 rw,relatime  - cgroup2 cgroup2 rw  \n";
  const auto m = pidfd::detail::choose_cgroup2_mount(mountinfo, "/x");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/a\\b\\9x\\1y\\!z\\12");
  EXPECT_EQ(m->root, "/");
  EXPECT_FALSE(m->read_only);
  // A cgroup path must start at the root: "" is inside no mount.
  EXPECT_EQ(pidfd::detail::choose_cgroup2_mount(mountinfo, ""), std::nullopt);
  EXPECT_EQ(pidfd::detail::choose_cgroup2_mount(mountinfo.substr(0, mountinfo.find("  62")), "/x"),
            std::nullopt);
}

// A writable mount beats a read-only one whatever its root; among writable ones the one
// showing more of the hierarchy (the shorter root) wins, and a later read-only one loses.
// A root contains a cgroup only as whole path components.
TEST(CgroupMount, WritableBeatsReadOnlyThenTheShorterRoot) {
  const std::string mountinfo =
      "70 31 0:38 / /ro-root ro,relatime - cgroup2 cgroup2 rw\n"
      "71 31 0:38 /sub /rw-sub rw,relatime - cgroup2 cgroup2 rw\n"
      "72 31 0:38 /sub/deeper /rw-deeper rw,relatime - cgroup2 cgroup2 rw\n"
      "73 31 0:38 /sub /ro-sub ro - cgroup2 cgroup2 rw\n";
  auto m = pidfd::detail::choose_cgroup2_mount(mountinfo, "/sub/deeper/x");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/rw-sub");
  EXPECT_EQ(m->root, "/sub");
  EXPECT_FALSE(m->read_only);
  m = pidfd::detail::choose_cgroup2_mount(mountinfo, "/sub");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/rw-sub");
  m = pidfd::detail::choose_cgroup2_mount(mountinfo, "/subway");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->mount_point, "/ro-root");
  EXPECT_TRUE(m->read_only);
}

TEST(CgroupMount, UnifiedPathIsTheZeroLine) {
  EXPECT_EQ(pidfd::detail::unified_cgroup_path("4:memory:/x\n0::/user.slice/a b\n"),
            "/user.slice/a b");
  EXPECT_EQ(pidfd::detail::unified_cgroup_path("0::/\n"), "/");
  EXPECT_EQ(pidfd::detail::unified_cgroup_path("4:memory:/x\n"), std::nullopt);
}

TEST(CgroupMount, CpuStatNeedsAllThreeFields) {
  const auto u = pidfd::detail::parse_cpu_stat(
      "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnice_usec 0\n");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->usage.count(), 1500);
  EXPECT_EQ(u->user.count(), 1000);
  EXPECT_EQ(u->system.count(), 500);
  EXPECT_EQ(pidfd::detail::parse_cpu_stat("usage_usec 1500\nuser_usec 1000\n"), std::nullopt);
  EXPECT_EQ(pidfd::detail::parse_cpu_stat(""), std::nullopt);
  EXPECT_EQ(pidfd::detail::parse_cpu_stat("usage_usec x\nuser_usec 1\nsystem_usec 1\n"),
            std::nullopt);
  // A key is matched whole ("usage_usecs" is another key), and its value must be all digits.
  const auto v = pidfd::detail::parse_cpu_stat(
      "usage_usecs 9\nusage_usec 10\nuser_usec 4\nsystem_usec 6");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->usage.count(), 10);
  EXPECT_EQ(v->user.count(), 4);
  EXPECT_EQ(v->system.count(), 6);
  EXPECT_EQ(pidfd::detail::parse_cpu_stat("usage_usec 12x\nuser_usec 1\nsystem_usec 1\n"),
            std::nullopt);
  EXPECT_EQ(pidfd::detail::parse_cpu_stat("usage_usec\nuser_usec 1\nsystem_usec 1\n"),
            std::nullopt);
}

// read_events_and_check_empty() reads `populated` from the start of whatever it is given;
// a text without it is EIO, a descriptor that cannot be read at an offset its error.
TEST(CgroupMount, EventsNeedThePopulatedField) {
  auto file_with = [](const std::string& text) {
    pidfd::unique_fd fd(::memfd_create("events", MFD_CLOEXEC));
    EXPECT_TRUE(fd.is_open());
    EXPECT_EQ(::write(fd.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
    return fd;
  };
  error_code ec;
  EXPECT_TRUE(pidfd::detail::read_events_and_check_empty(
      file_with("populated 0\nfrozen 0\n").get(), ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(pidfd::detail::read_events_and_check_empty(file_with("populated 1\n").get(), ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(pidfd::detail::read_events_and_check_empty(file_with("frozen 0\n").get(), ec));
  EXPECT_EQ(ec, os_error(EIO));
  ec.clear();
  EXPECT_FALSE(pidfd::detail::read_events_and_check_empty(file_with("").get(), ec));
  EXPECT_EQ(ec, os_error(EIO));
  ec.clear();
  auto p = make_pipe();
  EXPECT_FALSE(pidfd::detail::read_events_and_check_empty(p.read.get(), ec));
  EXPECT_EQ(ec, os_error(ESPIPE));
}

TEST_F(Cgroup, CreatedAsADirectChildWithAUniqueName) {
  run_cgroup a = make_cgroup();
  run_cgroup b = make_cgroup();
  ASSERT_TRUE(a.is_open());
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(a.path().parent_path().string(), expected_own_directory());
  const std::string name = a.path().filename().string();
  const std::string prefix =
      std::string(pidfd::detail::run_cgroup_prefix) + std::to_string(::getpid()) + "-";
  EXPECT_EQ(name.substr(0, prefix.size()), prefix);
  struct stat st {};
  ASSERT_EQ(::fstat(a.native_handle(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(::fcntl(a.native_handle(), F_GETFD), FD_CLOEXEC);
  error_code ec;
  EXPECT_FALSE(a.populated(ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(a.count_members(ec), 0u);
  EXPECT_FALSE(ec);
  const fs::path path = a.path();
  EXPECT_FALSE(a.remove());
  EXPECT_FALSE(a.is_open());
  EXPECT_FALSE(fs::exists(path));
  // The moved-to object owns b's cgroup; the destructor removes the empty one.
  run_cgroup c = std::move(b);
  EXPECT_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move): specified as empty
  const fs::path c_path = c.path();
  { run_cgroup gone = std::move(c); }
  EXPECT_FALSE(fs::exists(c_path));
}

TEST_F(Cgroup, SpawnedChildStartsInIt) {
  run_cgroup cg = make_cgroup();
  auto out = make_pipe();
  auto hold = make_pipe();
  pidfd::pid_fd child =
      spawn_in(cg, {"cgroup", "3", "wait-byte", "4"}, {{3, out.write.get()}, {4, hold.read.get()}});
  out.write.reset();
  hold.read.reset();
  const std::string expected = "/" + cg.path().filename().string();
  const std::string own = expected_own_directory();
  const std::string own_cgroup = cgroup_of(::getpid());
  const std::string full = (own_cgroup == "/" ? "" : own_cgroup) + expected;
  EXPECT_EQ(read_line(out.read.get()), full);
  EXPECT_EQ(cgroup_of(child.pid()), full);
  EXPECT_EQ(cg.cgroup_path(), full);
  error_code ec;
  EXPECT_TRUE(cg.populated(ec));
  EXPECT_EQ(cg.members(ec), std::vector<pid_t>{child.pid()});
  EXPECT_FALSE(ec);
  write_byte(hold.write.get());
  EXPECT_EQ(bounded_wait(child), exited(0));
  // A zombie is no member: the child was reaped just now, but already its exit counts.
  EXPECT_FALSE(cg.populated(ec));
  EXPECT_FALSE(cg.remove());
}

TEST_F(Cgroup, KillEndsEveryMemberAndTheWatchSeesItEmpty) {
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec) << ec.message();
  auto ready = make_pipe();
  pidfd::pid_fd child = spawn_in(cg, {"ready", "3", "pause"}, {{3, ready.write.get()}});
  ready.write.reset();
  EXPECT_EQ(read_line(ready.read.get()), "R");
  EXPECT_TRUE(cg.populated(ec));

  std::optional<error_code> result;
  watch.async_wait_empty([&](error_code e) { result = e; });
  io.poll();
  EXPECT_FALSE(result.has_value());  // still populated: nothing to report
  EXPECT_FALSE(cg.kill());
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_FALSE(*result) << result->message();
  EXPECT_FALSE(cg.populated(ec));
  EXPECT_EQ(bounded_wait(child), killed(SIGKILL));
  watch.close();
  EXPECT_FALSE(cg.remove());
}

TEST_F(Cgroup, WatchOfAnEmptyCgroupCompletesButNeverInline) {
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec);
  std::optional<error_code> result;
  watch.async_wait_empty([&](error_code e) { result = e; });
  EXPECT_FALSE(result.has_value());
  run_for();
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result);
}

// Once the cgroup's directory is removed, cgroup.events can no longer be read (kernfs:
// ENODEV): the wait completes once with that error.
TEST_F(Cgroup, AWatchOfARemovedCgroupReportsTheReadError) {
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(cg.remove());
  int calls = 0;
  error_code result;
  watch.async_wait_empty([&](error_code e) {
    ++calls;
    result = e;
  });
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(run_until([&] { return calls > 0; }));
  run_for(std::chrono::milliseconds(0));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result, os_error(ENODEV));
  EXPECT_TRUE(watch.is_open());
  watch.close();
  EXPECT_FALSE(watch.is_open());
}

TEST_F(Cgroup, WatchRunsTheHandlerOnItsStrand) {
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec);
  auto strand = asio::make_strand(io);
  bool in_strand = false;
  watch.async_wait_empty(asio::bind_executor(strand, [&](error_code) {
    in_strand = strand.running_in_this_thread();
  }));
  run_for();
  EXPECT_TRUE(in_strand);
}

TEST_F(Cgroup, WatchIsCancellable) {
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec);
  auto hold = make_pipe();
  pidfd::pid_fd child = spawn_in(cg, {"wait-byte", "3"}, {{3, hold.read.get()}});
  hold.read.reset();

  std::optional<error_code> result;
  watch.async_wait_empty([&](error_code e) { result = e; });
  io.poll();
  watch.cancel();
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(*result, asio::error::operation_aborted);

  // Through the handler's cancellation slot.
  result.reset();
  asio::cancellation_signal signal;
  watch.async_wait_empty(
      asio::bind_cancellation_slot(signal.slot(), [&](error_code e) { result = e; }));
  io.poll();
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(*result, asio::error::operation_aborted);

  write_byte(hold.write.get());
  EXPECT_EQ(bounded_wait(child), exited(0));
  EXPECT_EQ(wait_empty(watch), error_code());
}

TEST_F(Cgroup, CloseAbortsTheWaitAndTheWatchCanBeOpenedAgain) {
  run_cgroup busy = make_cgroup();
  run_cgroup idle = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(busy, ec);
  ASSERT_FALSE(ec);
  auto hold = make_pipe();
  pidfd::pid_fd child = spawn_in(busy, {"wait-byte", "3"}, {{3, hold.read.get()}});
  hold.read.reset();
  std::optional<error_code> first;
  watch.async_wait_empty([&](error_code e) { first = e; });
  io.poll();
  watch.close();
  EXPECT_FALSE(watch.is_open());
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  EXPECT_EQ(*first, asio::error::operation_aborted);
  // Opened again on another cgroup, which is empty.
  watch.open(idle, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(wait_empty(watch), error_code());
  hold.write.reset();
  EXPECT_EQ(bounded_wait(child), exited(0));
  watch.close();
  EXPECT_FALSE(busy.remove());
  EXPECT_FALSE(idle.remove());
}

TEST_F(Cgroup, ADaemonThatLeftItsSessionIsStillCountedAndKilled) {
  become_subreaper();  // the orphan is reparented to us, and reaped here, not by PID 1
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec);
  auto pid_out = make_pipe();
  auto ready = make_pipe();
  // A new session, then a fork whose parent exits at once: the classic daemon.
  pidfd::pid_fd child =
      spawn_in(cg, {"orphan-rest", "3", "ready", "4", "pause"},
               {{3, pid_out.write.get()}, {4, ready.write.get()}}, /*new_session=*/true);
  pid_out.write.reset();
  ready.write.reset();
  const pid_t daemon = std::stoi(read_line(pid_out.read.get()));
  EXPECT_EQ(read_line(ready.read.get()), "R");  // after its parent has exited
  EXPECT_EQ(bounded_wait(child), exited(0));
  EXPECT_EQ(::getsid(daemon), child.pid());
  EXPECT_EQ(cg.members(ec), std::vector<pid_t>{daemon});
  EXPECT_EQ(cg.count_members(ec), 1u);
  EXPECT_TRUE(cg.populated(ec));
  EXPECT_FALSE(ec);

  EXPECT_FALSE(cg.kill());
  EXPECT_EQ(wait_empty(watch), error_code());
  EXPECT_EQ(cg.count_members(ec), 0u);
  int status = 0;
  ASSERT_EQ(::waitpid(daemon, &status, 0), daemon);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  watch.close();
  EXPECT_FALSE(cg.remove());
}

TEST_F(Cgroup, SignalAllReachesEveryMember) {
  become_subreaper();
  run_cgroup cg = make_cgroup();
  pidfd::detail::cgroup_watch watch(io);
  error_code ec;
  watch.open(cg, ec);
  ASSERT_FALSE(ec);
  auto pid_out = make_pipe();
  auto hold = make_pipe();
  auto ready = make_pipe();
  // The child forks; the grandchild says it is ready and pauses, the child waits on hold.
  pidfd::pid_fd child = spawn_in(
      cg, {"fork-hold", "3", "4", "ready", "5", "pause"},
      {{3, pid_out.write.get()}, {4, hold.read.get()}, {5, ready.write.get()}});
  pid_out.write.reset();
  hold.read.reset();
  ready.write.reset();
  const pid_t grandchild = std::stoi(read_line(pid_out.read.get()));
  EXPECT_EQ(read_line(ready.read.get()), "R");
  std::vector<pid_t> expected{child.pid(), grandchild};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(cg.members(ec), expected);

  EXPECT_EQ(cg.signal_all(SIGTERM, ec), 2u);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(wait_empty(watch), error_code());
  EXPECT_EQ(bounded_wait(child), killed(SIGTERM));
  // Its parent died without reaping it: it is ours now.
  int status = 0;
  ASSERT_EQ(::waitpid(grandchild, &status, 0), grandchild);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  // Nobody left to signal.
  EXPECT_EQ(cg.signal_all(SIGTERM, ec), 0u);
  EXPECT_FALSE(ec);
  watch.close();
  EXPECT_FALSE(cg.remove());
}

TEST_F(Cgroup, CpuStatCountsTheWholeTree) {
  run_cgroup cg = make_cgroup();
  error_code ec;
  // A fresh cgroup has used nothing.
  auto before = cg.cpu_usage(ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->usage.count(), 0);
  EXPECT_EQ(before->user.count(), 0);
  EXPECT_EQ(before->system.count(), 0);
  // A child and the grandchild it forks and reaps: loading a program is never free.
  auto pid_out = make_pipe();
  pidfd::pid_fd child = spawn_in(cg, {"fork-rest", "3", "exit", "0"}, {{3, pid_out.write.get()}});
  pid_out.write.reset();
  (void)read_line(pid_out.read.get());
  EXPECT_EQ(bounded_wait(child), exited(0));
  auto after = cg.cpu_usage(ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(after.has_value());
  EXPECT_GT(after->usage.count(), 0);
  EXPECT_FALSE(cg.remove());
}

TEST_F(Cgroup, CgroupsMadeBelowAreMembersTooAndRemovedWithIt) {
  run_cgroup cg = make_cgroup();
  const fs::path sub = cg.path() / "inner";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  const pidfd::unique_fd sub_fd(::open(sub.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(sub_fd);
  auto ready = make_pipe();
  pidfd::spawn_options o;
  o.cgroup_fd = sub_fd.get();
  o.extra_fds = {{3, ready.write.get()}};
  pidfd::pid_fd child = pidfd::spawn({child_path(), "ready", "3", "pause"}, o);
  ready.write.reset();
  EXPECT_EQ(read_line(ready.read.get()), "R");
  error_code ec;
  EXPECT_EQ(cg.members(ec), std::vector<pid_t>{child.pid()});
  EXPECT_TRUE(cg.populated(ec));
  EXPECT_EQ(cg.remove(), os_error(EBUSY));
  EXPECT_FALSE(cg.kill());
  EXPECT_EQ(bounded_wait(child), killed(SIGKILL));
  EXPECT_FALSE(cg.remove());
  EXPECT_FALSE(fs::exists(sub));
}

TEST_F(Cgroup, RemoveWhilePopulatedIsBusyAndKeepsIt) {
  run_cgroup cg = make_cgroup();
  auto hold = make_pipe();
  pidfd::pid_fd child = spawn_in(cg, {"wait-byte", "3"}, {{3, hold.read.get()}});
  hold.read.reset();
  EXPECT_EQ(cg.remove(), os_error(EBUSY));
  EXPECT_TRUE(cg.is_open());
  EXPECT_TRUE(fs::exists(cg.path()));
  hold.write.reset();  // EOF ends the wait
  EXPECT_EQ(bounded_wait(child), exited(0));
  EXPECT_FALSE(cg.remove());
  EXPECT_FALSE(cg.is_open());
}

TEST_F(Cgroup, ReleaseLeavesTheCgroupToTheCaller) {
  run_cgroup cg = make_cgroup();
  const fs::path path = cg.path();
  cg.release();
  EXPECT_FALSE(cg.is_open());
  EXPECT_TRUE(fs::is_directory(path));
  ASSERT_EQ(::rmdir(path.c_str()), 0);
}

TEST_F(Cgroup, DestructorKillsAndRemovesWhenItCan) {
  fs::path path;
  {
    run_cgroup cg = make_cgroup();
    path = cg.path();
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(Cgroup, ANestedParentIsUsedAsGiven) {
  const run_cgroup parent = make_cgroup();
  run_cgroup cg = make_cgroup(parent.path());
  EXPECT_EQ(cg.path().parent_path(), parent.path());
  EXPECT_EQ(cg.cgroup_path(), parent.cgroup_path() + "/" + cg.path().filename().string());
  auto out = make_pipe();
  pidfd::pid_fd child = spawn_in(cg, {"cgroup", "3"}, {{3, out.write.get()}});
  out.write.reset();
  EXPECT_EQ(read_line(out.read.get()), cg.cgroup_path());
  EXPECT_EQ(bounded_wait(child), exited(0));
  EXPECT_FALSE(cg.remove());
}

// A parent given as a cgroup2 mount point maps to the mount's root cgroup.
TEST_F(Cgroup, TheMountPointAsParentIsTheMountsRoot) {
  std::istringstream mi(slurp("/proc/self/mountinfo"));
  std::string line, mount, root;
  while (std::getline(mi, line)) {
    if (line.find(" - cgroup2 ") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string id, parent, dev;
    fields >> id >> parent >> dev >> root >> mount;
  }
  ASSERT_FALSE(mount.empty());
  run_cgroup cg = make_cgroup(fs::path(mount + "/"));
  EXPECT_EQ(cg.path().parent_path(), fs::path(mount));
  const std::string name = cg.path().filename().string();
  EXPECT_EQ(cg.cgroup_path(), (root == "/" ? std::string() : root) + "/" + name);
  auto out = make_pipe();
  pidfd::pid_fd child = spawn_in(cg, {"cgroup", "3"}, {{3, out.write.get()}});
  out.write.reset();
  EXPECT_EQ(read_line(out.read.get()), cg.cgroup_path());
  EXPECT_EQ(bounded_wait(child), exited(0));
  EXPECT_FALSE(cg.remove());
}

// What lies below a run's cgroup is walked to a depth of 64 (the kernel's own limit,
// cgroup.max.depth, is unlimited by default): deeper is ELOOP, for the queries and for
// remove(), which then keeps the cgroup; at 64 levels both work.
TEST_F(Cgroup, MoreThan64LevelsBelowIsTooDeep) {
  run_cgroup cg = make_cgroup();
  std::vector<pidfd::unique_fd> levels;
  for (int depth = 1; depth <= 65; ++depth) {
    const int parent = levels.empty() ? cg.native_handle() : levels.back().get();
    ASSERT_EQ(::mkdirat(parent, "d", 0755), 0) << "level " << depth << ": " << errno;
    levels.emplace_back(::openat(parent, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(levels.back().is_open());
  }
  error_code ec;
  EXPECT_EQ(cg.members(ec), std::vector<pid_t>{});
  EXPECT_EQ(ec, os_error(ELOOP));
  EXPECT_EQ(cg.remove(), os_error(ELOOP));
  EXPECT_TRUE(cg.is_open());
  ASSERT_EQ(::unlinkat(levels[63].get(), "d", AT_REMOVEDIR), 0);
  ec.clear();
  EXPECT_EQ(cg.members(ec), std::vector<pid_t>{});
  EXPECT_FALSE(ec) << ec.message();
  const fs::path path = cg.path();
  EXPECT_FALSE(cg.remove());
  EXPECT_FALSE(cg.is_open());
  EXPECT_FALSE(fs::exists(path));
}

// A parent that hands controllers down to its children may hold no process itself (the
// "no internal processes" rule), but the run's cgroup below it can: it enables nothing.
TEST_F(Cgroup, AParentThatDistributesControllers) {
  const run_cgroup parent = make_cgroup();
  std::istringstream available(slurp((parent.path() / "cgroup.controllers").string()));
  std::string controller;
  available >> controller;
  if (!controller.empty()) {  // our own cgroup hands at least one down (the root does)
    std::ofstream(parent.path() / "cgroup.subtree_control") << "+" << controller;
    std::istringstream enabled(slurp((parent.path() / "cgroup.subtree_control").string()));
    std::string first;
    enabled >> first;
    ASSERT_EQ(first, controller);
    // Nothing may start in the parent itself now.
    error_code ec;
    std::vector<std::string> argv{child_path(), "exit", "0"};
    pidfd::spawn_options o;
    o.cgroup_fd = parent.native_handle();
    (void)pidfd::spawn(argv, o, ec);
    EXPECT_EQ(ec, os_error(EBUSY));
  }
  run_cgroup cg = make_cgroup(parent.path());
  pidfd::pid_fd child = spawn_in(cg, {"exit", "3"});
  EXPECT_EQ(bounded_wait(child), exited(3));
  EXPECT_FALSE(cg.remove());
}

TEST(CgroupErrors, AParentThatDoesNotExist) {
  error_code ec;
  const fs::path own = pidfd::detail::own_cgroup_directory(ec);
  ASSERT_FALSE(ec);
  run_cgroup cg = run_cgroup::create(own / "asio-pidfd-no-such-parent", ec);
  EXPECT_EQ(ec, os_error(ENOENT));
  EXPECT_FALSE(cg.is_open());
}

TEST(CgroupErrors, AParentOutsideCgroup2) {
  error_code ec;
  run_cgroup cg = run_cgroup::create(fs::path("/proc"), ec);
  EXPECT_EQ(ec, os_error(EINVAL));
  EXPECT_FALSE(cg.is_open());
  cg = run_cgroup::create(fs::path("/proc/self/status"), ec);
  EXPECT_EQ(ec, os_error(ENOTDIR));
}

TEST(CgroupErrors, AnEmptyObjectReportsBadDescriptor) {
  run_cgroup cg;
  error_code ec;
  EXPECT_EQ(cg.kill(), os_error(EBADF));
  EXPECT_FALSE(cg.populated(ec));
  EXPECT_EQ(ec, os_error(EBADF));
  EXPECT_EQ(cg.remove(), os_error(EBADF));
  ec.clear();
  EXPECT_EQ(cg.members(ec), std::vector<pid_t>{});
  EXPECT_EQ(ec, os_error(EBADF));
  ec.clear();
  EXPECT_EQ(cg.count_members(ec), 0u);
  EXPECT_EQ(ec, os_error(EBADF));
  ec.clear();
  EXPECT_EQ(cg.signal_all(SIGKILL, ec), 0u);
  EXPECT_EQ(ec, os_error(EBADF));
  ec.clear();
  EXPECT_EQ(cg.cpu_usage(ec), std::nullopt);
  EXPECT_EQ(ec, os_error(EBADF));
  ec.clear();
  EXPECT_FALSE(cg.watch_events(ec).is_open());
  EXPECT_EQ(ec, os_error(EBADF));
}

// A watch of an empty object fails to open, watches nothing, and a wait on it completes
// once, with bad_descriptor, never inside the call.
TEST(CgroupErrors, AWatchOfAnEmptyObjectWatchesNothing) {
  boost::asio::io_context io;
  pidfd::detail::cgroup_watch watch(io);
  const run_cgroup cg;
  error_code ec;
  watch.open(cg, ec);
  EXPECT_EQ(ec, os_error(EBADF));
  EXPECT_FALSE(watch.is_open());
  int calls = 0;
  error_code result;
  watch.async_wait_empty([&](error_code e) {
    ++calls;
    result = e;
  });
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(pidfd_test::run_until(io, [&] { return calls > 0; }));
  io.restart();
  io.poll();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result, boost::asio::error::bad_descriptor);
}

TEST(CgroupErrors, AnUnwritableParentIsPermissionDenied) {
  EXPECT_EQ(run_suite_in_child("InChildCgroup.UnwritableParent", 0), 0);
}

// In a child test process that gave up root: our cgroup's directory belongs to root.
TEST(InChildCgroup, UnwritableParent) {
  ASSERT_EQ(::setresgid(65534, 65534, 65534), 0);
  ASSERT_EQ(::setresuid(65534, 65534, 65534), 0);
  error_code ec;
  run_cgroup cg = run_cgroup::create(std::nullopt, ec);
  EXPECT_EQ(ec, os_error(EACCES));
  EXPECT_FALSE(cg.is_open());
}

TEST(CgroupErrors, AKernelWithoutCgroupKillIsNotSupported) {
  EXPECT_EQ(run_suite_in_child("InChildCgroup.WithoutCgroupKill", 0), 0);
}

// Makes every file look absent to access()/faccessat(), the check create() makes for
// cgroup.kill: a kernel before 5.14 has no such file. Only for a child test process.
void hide_files_from_access() {
  std::vector<sock_filter> prog{
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_faccessat, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 439 /* faccessat2 */, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOENT),
  };
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  ASSERT_EQ(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
  ASSERT_EQ(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog), 0);
}

TEST(InChildCgroup, WithoutCgroupKill) {
  hide_files_from_access();
  error_code ec;
  const fs::path own = pidfd::detail::own_cgroup_directory(ec);
  ASSERT_FALSE(ec);
  run_cgroup cg = run_cgroup::create(std::nullopt, ec);
  EXPECT_EQ(ec, os_error(EOPNOTSUPP));
  EXPECT_FALSE(cg.is_open());
  // The cgroup it had made to look is gone again (the suite's check after each test
  // says so too; here it is checked before the hygiene check cleans up).
  const std::string ours =
      std::string(pidfd::detail::run_cgroup_prefix) + std::to_string(::getpid()) + "-";
  for (const auto& e : fs::directory_iterator(own))
    EXPECT_NE(e.path().filename().string().rfind(ours, 0), 0u) << e.path();
}

}  // namespace
