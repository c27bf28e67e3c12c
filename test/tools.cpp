// End-to-end tests of the command-line tools (tools/): each test runs the built program as a
// user would, with arguments, standard input and environment, and checks what it prints
// and its exit status. Synchronisation goes through pipes and FIFOs, never sleeps.
#include "support.hpp"

#include <pidfd/kernel.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>
#include <pidfd/version.hpp>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

using namespace pidfd_test;
namespace json = boost::json;

std::string tool_path(const std::string& name) {
  const char* dir = std::getenv("ASIO_PIDFD_TEST_TOOLS");
  if (dir && *dir) return std::string(dir) + "/" + name;
  // As meson lays out a build: <build>/test/asio-pidfd-tests and <build>/tools/.
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() /
          "tools" / name)
      .string();
}

// A tool started with pipes on its standard streams. If a test fails before reaping it,
// the destructor asks it to stop (pidfd-run passes SIGTERM on to its commands), then
// kills it.
struct running_tool {
  pidfd::pid_fd pidfd;
  pidfd::unique_fd out, err;

  running_tool(pidfd::pid_fd p, pidfd::unique_fd o, pidfd::unique_fd e)
      : pidfd(std::move(p)), out(std::move(o)), err(std::move(e)) {}
  running_tool(running_tool&&) = default;
  ~running_tool() {
    if (!pidfd || pidfd.cached_status()) return;
    pidfd::error_code ec;
    pidfd.send_signal(SIGTERM, ec);
    if (!wait_readable(pidfd.native_handle(), wait_bound)) pidfd.kill(ec);
    pidfd.wait(ec);
  }
};

struct tool_result {
  pidfd::exit_status status;
  std::string out, err;
  int code() const { return status.exited() ? *status.code() : 128 + status.signal().value_or(0); }
};

// With stderr_to, the tool's stderr is that fd (running_tool::err then reads `stderr_from`).
running_tool start_tool(const std::string& name, const std::vector<std::string>& args,
                        const std::string& input = {}, const std::vector<std::string>& env = {},
                        int stderr_to = -1, pidfd::unique_fd stderr_from = {}) {
  std::vector<std::string> argv{tool_path(name)};
  argv.insert(argv.end(), args.begin(), args.end());
  pipe_fds in = make_pipe(), out = make_pipe(), err = make_pipe();
  // The input is small: it fits in the pipe, so writing it before the start cannot block.
  if (input.size() > 60000) throw std::invalid_argument("start_tool: input too large");
  if (!input.empty() &&
      ::write(in.write.get(), input.data(), input.size()) != static_cast<ssize_t>(input.size()))
    throw std::runtime_error("start_tool: writing the input failed");
  in.write.reset();
  pidfd::spawn_options options;
  options.stdin_fd = in.read.get();
  options.stdout_fd = out.write.get();
  options.stderr_fd = stderr_to >= 0 ? stderr_to : err.write.get();
  if (stderr_to >= 0) err.read = std::move(stderr_from);
  if (!env.empty()) {
    std::vector<std::string> all;
    for (char** e = environ; *e; ++e) all.emplace_back(*e);
    all.insert(all.end(), env.begin(), env.end());  // later entries are not seen by getenv:
    for (const std::string& e : env) {              // drop inherited ones of the same name
      const std::string key = e.substr(0, e.find('=') + 1);
      std::erase_if(all, [&](const std::string& a) { return a != e && a.rfind(key, 0) == 0; });
    }
    options.env = all;
  }
  return running_tool(pidfd::spawn(argv, options), std::move(out.read), std::move(err.read));
}

// Reads both output streams to EOF and reaps the tool, all within `bound`.
tool_result finish_tool(running_tool& t, std::chrono::milliseconds bound = wait_bound) {
  tool_result r;
  const auto deadline = std::chrono::steady_clock::now() + bound;
  pidfd::unique_fd* fds[2] = {&t.out, &t.err};
  std::string* into[2] = {&r.out, &r.err};
  while (t.out.is_open() || t.err.is_open()) {
    pollfd p[2];
    for (int i = 0; i < 2; ++i) p[i] = {fds[i]->is_open() ? fds[i]->get() : -1, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      t.pidfd.kill();
      bounded_wait(t.pidfd);
      throw std::runtime_error("finish_tool: no EOF in time; out so far: " + r.out +
                               "; err so far: " + r.err);
    }
    const int n = ::poll(p, 2, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) throw std::runtime_error("poll failed");
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      const ssize_t got = ::read(p[i].fd, buf, sizeof buf);
      if (got > 0) into[i]->append(buf, static_cast<std::size_t>(got));
      else if (got == 0 || errno != EINTR) fds[i]->reset();
    }
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  const pid_t tool = t.pidfd.pid();
  r.status = bounded_wait(t.pidfd, std::max(left, std::chrono::milliseconds(1)));
  // A tool that ran commands in cgroup scope removed every cgroup it made.
  const std::vector<std::string> cgroups = take_leftover_run_cgroups({}, tool);
  EXPECT_TRUE(cgroups.empty()) << "left by the tool: " << cgroups.front();
  return r;
}

tool_result run_tool(const std::string& name, const std::vector<std::string>& args,
                     const std::string& input = {}, const std::vector<std::string>& env = {}) {
  running_tool t = start_tool(name, args, input, env);
  return finish_tool(t);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A temporary directory, removed with everything in it.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "asio-pidfd-tools-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  // A FIFO in the directory, opened read-write (never blocks, never sees EOF).
  pidfd::unique_fd fifo(const std::string& name) const {
    const std::string p = (path / name).string();
    if (::mkfifo(p.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
    pidfd::unique_fd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) throw std::runtime_error("open fifo failed");
    return fd;
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// The PID named by /proc/sys/kernel/pid_max is never given to a process.
std::string pid_that_never_exists() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  long max = 0;
  in >> max;
  if (max <= 0) throw std::runtime_error("cannot read pid_max");
  return std::to_string(max);
}

// ----------------------------------------------------------------------------------------
// pidfd-wait

// What pidfd-wait prints and returns for a process that is not its child and ended with
// `status`: the status where the kernel keeps it for non-children (PIDFD_INFO_EXIT),
// "ended" and 0 where it does not.
void expect_wait_report(const tool_result& r, pid_t pid, const pidfd::exit_status& status,
                        bool kernel_tells) {
  if (kernel_tells) {
    EXPECT_EQ(r.out, std::to_string(pid) + ": " + status.to_string() + "\n");
    EXPECT_EQ(r.code(), status.exited() ? *status.code() : 128 + *status.signal());
  } else {
    EXPECT_EQ(r.out, std::to_string(pid) + ": ended\n");
    EXPECT_EQ(r.code(), 0);
  }
}

// pidfd-wait -v on a helper child of ours that exits with 7 once released: -v says when
// the pidfd is open, so the release cannot come before it.
void wait_for_exit_7(const std::vector<std::string>& env, bool kernel_tells) {
  pipe_fds go = make_pipe();
  pidfd::pid_fd target = start_child({"wait-byte", "3", "exit", "7"}, {{3, go.read.get()}});
  const pid_t pid = target.pid();
  running_tool t = start_tool("pidfd-wait", {"-v", "-t", "60", std::to_string(pid)}, {}, env);
  EXPECT_EQ(read_line(t.err.get()), "pidfd-wait: waiting for " + std::to_string(pid));
  write_byte(go.write.get());
  // We reap it: only then can a non-parent read its status (PIDFD_INFO_EXIT).
  EXPECT_EQ(bounded_wait(target).code(), 7);
  const tool_result r = finish_tool(t);
  EXPECT_EQ(r.err, "");
  expect_wait_report(r, pid, pidfd::exit_status::from_wait_status(7 << 8), kernel_tells);
}

TEST(ToolPidfdWait, NonChildExitCodeWhereTheKernelTellsElseEnded) {
  wait_for_exit_7({}, pidfd::kernel_support().info_exit);
}

TEST(ToolPidfdWait, EndedWithoutInfoExit) {
  wait_for_exit_7({"ASIO_PIDFD_PRETEND_MISSING=info_exit"}, false);
}

TEST(ToolPidfdWait, KilledBySignal) {
  pidfd::pid_fd target = start_child({"pause"});
  const pid_t pid = target.pid();
  running_tool t = start_tool("pidfd-wait", {"-v", std::to_string(pid)});
  EXPECT_EQ(read_line(t.err.get()), "pidfd-wait: waiting for " + std::to_string(pid));
  target.send_signal(SIGKILL);
  EXPECT_EQ(bounded_wait(target).signal(), SIGKILL);
  const tool_result r = finish_tool(t);
  expect_wait_report(r, pid, pidfd::exit_status::from_wait_status(SIGKILL),
                     pidfd::kernel_support().info_exit);
}

TEST(ToolPidfdWait, NoSuchProcess) {
  const std::string pid = pid_that_never_exists();
  const tool_result r = run_tool("pidfd-wait", {pid});
  EXPECT_EQ(r.code(), 125);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "pidfd-wait: " + pid + ": No such process\n");
}

TEST(ToolPidfdWait, TimeoutLeavesTheProcessRunning) {
  pidfd::pid_fd target = start_child({"pause"});
  const pid_t pid = target.pid();
  const tool_result r = run_tool("pidfd-wait", {"-t", "0.2", std::to_string(pid)});
  EXPECT_EQ(r.code(), 124);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "pidfd-wait: timed out; still running: " + std::to_string(pid) + "\n");
  EXPECT_FALSE(target.has_exited());
  target.kill();
  EXPECT_EQ(bounded_wait(target).signal(), SIGKILL);
}

TEST(ToolPidfdWait, AnyReturnsWithTheFirstToEnd) {
  pipe_fds go = make_pipe();
  pidfd::pid_fd first = start_child({"wait-byte", "3", "exit", "3"}, {{3, go.read.get()}});
  pidfd::pid_fd other = start_child({"pause"});
  running_tool t = start_tool(
      "pidfd-wait", {"--any", "-v", std::to_string(other.pid()), std::to_string(first.pid())});
  EXPECT_EQ(read_line(t.err.get()), "pidfd-wait: waiting for " + std::to_string(other.pid()));
  EXPECT_EQ(read_line(t.err.get()), "pidfd-wait: waiting for " + std::to_string(first.pid()));
  write_byte(go.write.get());
  EXPECT_EQ(bounded_wait(first).code(), 3);
  const tool_result r = finish_tool(t);
  expect_wait_report(r, first.pid(), pidfd::exit_status::from_wait_status(3 << 8),
                     pidfd::kernel_support().info_exit);
  EXPECT_FALSE(other.has_exited());
  other.kill();
  bounded_wait(other);
}

TEST(ToolPidfdWait, BadUsageIsExit125WithAMessage) {
  struct row {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<row> rows = {
      {{}, "pidfd-wait: no process id given"},
      {{"12x"}, "pidfd-wait: not a process id: '12x'"},
      {{"0"}, "pidfd-wait: not a process id: '0'"},
      {{"--bogus", "1"}, "pidfd-wait: unrecognised option '--bogus'"},
      {{"-t", "soon", "1"},
       "pidfd-wait: invalid number of seconds for --timeout: 'soon' (expected a number from 0 "
       "to 31536000, such as 2 or 0.5)"},
      {{"-t", "nan", "1"},
       "pidfd-wait: invalid number of seconds for --timeout: 'nan' (expected a number from 0 "
       "to 31536000, such as 2 or 0.5)"},
  };
  for (const row& rw : rows) {
    const tool_result r = run_tool("pidfd-wait", rw.args);
    EXPECT_EQ(r.code(), 125) << rw.message;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, rw.message + "\nTry 'pidfd-wait --help'.\n");
  }
}

TEST(ToolPidfdWait, HelpAndVersion) {
  const tool_result help = run_tool("pidfd-wait", {"--help"});
  EXPECT_EQ(help.code(), 0);
  EXPECT_EQ(help.out.rfind("Usage: pidfd-wait [OPTION]... PID...\n", 0), 0u) << help.out;
  EXPECT_NE(help.out.find("--any"), std::string::npos);
  EXPECT_NE(help.out.find("\nThe manual: man pidfd-wait\n"), std::string::npos) << help.out;
  const tool_result version = run_tool("pidfd-wait", {"--version"});
  EXPECT_EQ(version.code(), 0);
  EXPECT_EQ(version.out, "pidfd-wait (asio-pidfd) " PIDFD_VERSION_STRING "\n");
}

TEST(ToolPidfdInfo, HelpAndVersion) {
  const tool_result help = run_tool("pidfd-info", {"--help"});
  EXPECT_EQ(help.code(), 0);
  EXPECT_EQ(help.out.rfind("Usage: pidfd-info [PID]...\n", 0), 0u) << help.out;
  EXPECT_NE(help.out.find("\nThe manual: man pidfd-info\n"), std::string::npos) << help.out;
  EXPECT_EQ(help.err, "");
  const tool_result version = run_tool("pidfd-info", {"--version"});
  EXPECT_EQ(version.code(), 0);
  EXPECT_EQ(version.out, "pidfd-info (asio-pidfd) " PIDFD_VERSION_STRING "\n");
}

// ----------------------------------------------------------------------------------------
// pidfd-run

json::object run_json(const std::vector<std::string>& args, const std::string& input,
                      int expected_code) {
  std::vector<std::string> all{"--json"};
  all.insert(all.end(), args.begin(), args.end());
  const tool_result r = run_tool("pidfd-run", all, input);
  EXPECT_EQ(r.code(), expected_code) << r.err;
  return json::parse(r.out).as_object();
}

TEST(ToolPidfdRun, ExitCodeTable) {
  struct row {
    std::vector<std::string> args;
    std::string input;
    int code;
  };
  const std::vector<row> rows = {
      {{}, "exit 0\n", 0},
      {{}, "exit 3\n", 3},
      {{}, "exit 255\n", 255},
      {{}, "kill -TERM $$\n", 128 + SIGTERM},
      {{}, "kill -KILL $$\n", 128 + SIGKILL},
      {{"-t", "0.3"}, "exec " + child_path() + " pause\n", 124},
      {{"--", "/nonexistent/program"}, "", 127},
      {{"--", "/dev/null"}, "", 126},
      {{"--", child_path(), "exit", "9"}, "", 9},
      {{"--", child_path(), "raise", "10"}, "", 128 + SIGUSR1},
      {{"-j", "many"}, "exit 0\n", 125},
  };
  for (const row& rw : rows) {
    std::vector<std::string> args{"-q"};
    args.insert(args.end(), rw.args.begin(), rw.args.end());
    const tool_result r = run_tool("pidfd-run", args, rw.input);
    EXPECT_EQ(r.code(), rw.code) << rw.input << (rw.args.empty() ? "" : rw.args.back()) << ": "
                                 << r.err;
  }
}

TEST(ToolPidfdRun, JsonReportParsesBack) {
  const json::object report =
      run_json({"-j", "1", "--keep-going"},
               "echo out; echo err >&2\n"
               "printf abc; exit 4\n"
               "kill -KILL $$\n",
               4);
  const json::array& cmds = report.at("commands").as_array();
  ASSERT_EQ(cmds.size(), 3u);
  const json::object& a = cmds[0].as_object();
  EXPECT_EQ(a.at("number").to_number<int>(), 1);
  EXPECT_EQ(a.at("command").as_string(), "echo out; echo err >&2");
  EXPECT_EQ(a.at("argv").as_array().size(), 3u);
  EXPECT_EQ(a.at("state").as_string(), "exited");
  EXPECT_EQ(a.at("exit_code").to_number<int>(), 0);
  EXPECT_TRUE(a.at("signal").is_null());
  EXPECT_EQ(a.at("stdout_bytes").to_number<int>(), 4);
  EXPECT_EQ(a.at("stderr_bytes").to_number<int>(), 4);
  EXPECT_EQ(a.at("succeeded").as_bool(), true);
  EXPECT_GE(a.at("seconds").to_number<double>(), 0.0);
  const json::object& b = cmds[1].as_object();
  EXPECT_EQ(b.at("exit_code").to_number<int>(), 4);
  EXPECT_EQ(b.at("stdout_bytes").to_number<int>(), 3);
  EXPECT_EQ(b.at("status").as_string(), "exited with code 4");
  EXPECT_EQ(b.at("succeeded").as_bool(), false);
  const json::object& c = cmds[2].as_object();
  EXPECT_EQ(c.at("state").as_string(), "killed");
  EXPECT_TRUE(c.at("exit_code").is_null());
  EXPECT_EQ(c.at("signal").to_number<int>(), SIGKILL);
  EXPECT_EQ(c.at("timed_out").as_bool(), false);
  EXPECT_EQ(report.at("succeeded").to_number<int>(), 1);
  EXPECT_EQ(report.at("failed").to_number<int>(), 2);
  EXPECT_EQ(report.at("not_started").to_number<int>(), 0);
  EXPECT_EQ(report.at("exit_code").to_number<int>(), 4);
}

TEST(ToolPidfdRun, FailureStopsNewCommandsUnlessKeepGoing) {
  const std::string input = "exit 0\nexit 5\necho never\n";
  const json::object stopped = run_json({"-j", "1"}, input, 5);
  const json::array& s = stopped.at("commands").as_array();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[2].as_object().at("state").as_string(), "not started");
  EXPECT_EQ(stopped.at("not_started").to_number<int>(), 1);
  const json::object going = run_json({"-j", "1", "--keep-going"}, input, 5);
  const json::array& g = going.at("commands").as_array();
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[2].as_object().at("state").as_string(), "exited");
  EXPECT_EQ(g[2].as_object().at("stdout_bytes").to_number<int>(), 6);
}

// A command that ignores SIGTERM is killed with SIGKILL once the grace period has passed;
// the timeout gives 124 whatever the signal.
TEST(ToolPidfdRun, TimeoutEscalatesToSigkill) {
  const json::object report =
      run_json({"-t", "1", "-k", "0.5"}, "trap '' TERM; echo ready; exec sleep 1000\n", 124);
  const json::object& c = report.at("commands").as_array().at(0).as_object();
  EXPECT_EQ(c.at("state").as_string(), "killed");
  EXPECT_EQ(c.at("signal").to_number<int>(), SIGKILL);
  EXPECT_EQ(c.at("timed_out").as_bool(), true);
  EXPECT_EQ(c.at("stdout_bytes").to_number<int>(), 6);
}

// The timeout's SIGTERM goes to the command's process group: every process of a pipeline
// ends, so its output closes at once (nothing left holding it: not truncated). As a child
// subreaper, the test inherits the pipeline's processes when their shell dies, and sees
// that the group signal ended them too.
TEST(ToolPidfdRun, TimeoutSignalsTheWholePipeline) {
  become_subreaper();
  const json::object report =
      run_json({"-t", "0.5", "-k", "30"}, "sleep 1000 | cat; echo unreachable\n", 124);
  const json::object& c = report.at("commands").as_array().at(0).as_object();
  EXPECT_EQ(c.at("signal").to_number<int>(), SIGTERM);
  EXPECT_EQ(c.at("timed_out").as_bool(), true);
  EXPECT_EQ(c.at("output_truncated").as_bool(), false);
  EXPECT_EQ(c.at("stdout_bytes").to_number<int>(), 0);
  // The shell has been reaped (pidfd-run has exited), so whichever of its two children it
  // had not reaped itself is ours by now. Each must have been ended by the group's SIGTERM:
  // one that the signal missed would still be running, and the bounded wait would fail.
  std::vector<pid_t> orphans;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    for (pid_t p; in >> p;) orphans.push_back(p);
  }
  EXPECT_LE(orphans.size(), 2u);
  for (pid_t p : orphans) {
    pidfd::pid_fd orphan = pidfd::pid_fd::open(p);
    EXPECT_EQ(bounded_wait(orphan).signal(), SIGTERM) << "pid " << p;
  }
}

// SIGTERM to pidfd-run: it passes the signal on to each running command's group, starts
// nothing more, reports, and exits with 128 + SIGTERM.
TEST(ToolPidfdRun, InterruptionIsPassedOnToTheCommands) {
  running_tool t = start_tool("pidfd-run", {"--json", "-j", "1"},
                              "echo ready; exec sleep 1000\necho never\n");
  // With --json the commands' output goes to stderr.
  EXPECT_EQ(read_line(t.err.get()), "[1] ready");
  t.pidfd.send_signal(SIGTERM);
  const tool_result r = finish_tool(t);
  EXPECT_EQ(r.code(), 128 + SIGTERM) << r.err;
  const json::object report = json::parse(r.out).as_object();
  EXPECT_EQ(report.at("interrupted_by_signal").to_number<int>(), SIGTERM);
  const json::array& cmds = report.at("commands").as_array();
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0].as_object().at("signal").to_number<int>(), SIGTERM);
  EXPECT_EQ(cmds[1].as_object().at("state").as_string(), "not started");
}

// The live processes whose command line holds `marker` (zombies have none).
std::vector<pid_t> processes_with(const std::string& marker) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(marker) != std::string::npos) found.push_back(std::stoi(name));
  }
  return found;
}

// Fails for every process with `marker` that is still running: one that was killed but has
// not quite ended yet is given the bound to end (its pidfd becomes readable); one that
// does not is killed, so that the test leaves nothing behind either.
void expect_none_left(const std::string& marker) {
  for (pid_t pid : processes_with(marker)) {
    pidfd::error_code ec;
    pidfd::pid_fd p = pidfd::pid_fd::open(pid, ec);
    if (ec) continue;  // ended in between
    if (wait_readable(p.native_handle(), wait_bound)) continue;
    ADD_FAILURE() << "left behind: pid " << pid << " with " << marker;
    p.kill(ec);
  }
}

// As a child subreaper the test inherits what a command's shell left behind when it
// ended: every such process must have been killed by pidfd-run. Reaps them.
void reap_inherited() {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    for (pid_t p; in >> p;) {
      pidfd::pid_fd orphan = pidfd::pid_fd::open(p);
      EXPECT_EQ(bounded_wait(orphan).signal(), SIGKILL) << "pid " << p;
    }
  }
}

// A command of which a part ignores SIGTERM and holds the output open: the background
// subshell says "started" once it ignores SIGTERM, then sleeps; the foreground sleeps too.
// Both sleeps carry `marker` (a duration no other process uses).
std::string stubborn_command(const std::string& marker) {
  return "(trap '' TERM; echo started; exec sleep " + marker + ") & exec sleep " + marker + "\n";
}

std::string unique_sleep() { return "6000." + std::to_string(::getpid()); }

// Ctrl-C (SIGINT) while commands run that have background processes, one ignoring SIGTERM:
// pidfd-run cancels every command, exits with 130 like a shell, and nothing of any command
// is left, in the default scope (a cgroup where one can be made) and in process-group scope.
TEST(ToolPidfdRun, InterruptLeavesNothingBehind) {
  become_subreaper();
  for (const std::string scope : {"", "--scope=process-group"}) {
    const std::string marker = unique_sleep() + (scope.empty() ? "1" : "2");
    std::vector<std::string> args{"-j", "2", "-k", "0.2"};
    if (!scope.empty()) args.push_back(scope);
    running_tool t =
        start_tool("pidfd-run", args, stubborn_command(marker) + stubborn_command(marker));
    std::set<std::string> started{read_line(t.out.get()), read_line(t.out.get())};
    EXPECT_EQ(started, (std::set<std::string>{"[1] started", "[2] started"}));
    t.pidfd.send_signal(SIGINT);
    const tool_result r = finish_tool(t);
    EXPECT_EQ(r.code(), 130) << r.err;
    EXPECT_NE(r.err.find("2 failed (interrupted by signal 2)"), std::string::npos) << r.err;
    expect_none_left(marker);
    reap_inherited();
  }
}

// A second Ctrl-C does not wait for the grace period: what still runs gets SIGKILL at once.
// The command answers SIGTERM (the first Ctrl-C) with a line and carries on, its background
// part ignores it; the grace period is far longer than the test's bound, so only the
// second signal can end them.
TEST(ToolPidfdRun, SecondInterruptKillsAtOnce) {
  become_subreaper();
  const std::string marker = unique_sleep() + "5";
  // The background part says "started" once it ignores SIGTERM; the shell's trap is set
  // before it starts.
  running_tool t = start_tool("pidfd-run", {"-k", "3600"},
                              "trap 'echo term' TERM; (trap '' TERM; echo started; exec sleep " +
                                  marker + ") & while :; do wait $!; done\n");
  EXPECT_EQ(read_line(t.out.get()), "[1] started");
  t.pidfd.send_signal(SIGINT);
  EXPECT_EQ(read_line(t.out.get()), "[1] term");
  t.pidfd.send_signal(SIGINT);
  const tool_result r = finish_tool(t);
  EXPECT_EQ(r.code(), 130) << r.err;  // the first signal's
  EXPECT_NE(r.err.find("killed by signal 9 (SIGKILL)"), std::string::npos) << r.err;
  expect_none_left(marker);
  reap_inherited();
}

// A timeout stops the whole command, also the part that ignores SIGTERM and keeps the
// output open; the report counts that part as a leftover it killed.
TEST(ToolPidfdRun, TimeoutLeavesNothingBehind) {
  become_subreaper();
  for (const std::string scope : {"", "--scope=process-group"}) {
    const std::string marker = unique_sleep() + (scope.empty() ? "3" : "4");
    std::vector<std::string> args{"-t", "0.3", "-k", "0.2"};
    if (!scope.empty()) args.push_back(scope);
    const json::object report = run_json(args, stubborn_command(marker), 124);
    const json::object& c = report.at("commands").as_array().at(0).as_object();
    EXPECT_EQ(c.at("timed_out").as_bool(), true);
    EXPECT_EQ(c.at("signal").to_number<int>(), SIGTERM);
    EXPECT_EQ(c.at("killed_leftovers").to_number<int>(), 1) << scope;
    expect_none_left(marker);
    reap_inherited();
  }
}

// What each command cost: CPU time and peak memory in the JSON and in the table; none
// for a command that never ran.
TEST(ToolPidfdRun, UsageInJsonAndTable) {
  const std::string busy = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done\n";
  const json::object report = run_json({"-j", "1"}, busy + "exit 3\necho never\n", 3);
  const json::array& cmds = report.at("commands").as_array();
  ASSERT_EQ(cmds.size(), 3u);
  const json::object& a = cmds[0].as_object();
  EXPECT_GT(a.at("user_cpu_seconds").to_number<double>() +
                a.at("system_cpu_seconds").to_number<double>(),
            0.0);
  const auto rss = a.at("max_rss_bytes").to_number<std::uint64_t>();
  EXPECT_GT(rss, 0u);
  EXPECT_EQ(rss % 1024, 0u);  // the kernel counts in KiB
  EXPECT_EQ(a.at("killed_leftovers").to_number<int>(), 0);
  EXPECT_TRUE(cmds[2].as_object().at("user_cpu_seconds").is_null());
  EXPECT_TRUE(cmds[2].as_object().at("max_rss_bytes").is_null());

  const tool_result table = run_tool("pidfd-run", {"-j", "1"}, busy + "exit 3\necho never\n");
  EXPECT_EQ(table.code(), 3);
  const std::vector<std::string> err = lines_of(table.err);
  ASSERT_EQ(err.size(), 5u) << table.err;
  EXPECT_NE(err[1].find("seconds      cpu  max RSS   bytes out  command"), std::string::npos)
      << err[1];
  // Never run: "-" for seconds, cpu and memory.
  EXPECT_NE(err[4].find("         -        -        -           0  echo never"),
            std::string::npos)
      << err[4];
  // The busy loop: CPU seconds and memory (a number with K, M or G).
  std::istringstream row(err[2].substr(err[2].find("code 0") + 6));
  std::string seconds, cpu, memory;
  row >> seconds >> cpu >> memory;
  EXPECT_EQ(cpu.find_first_not_of("0123456789."), std::string::npos) << err[2];
  EXPECT_NE(std::string("KMG").find(memory.back()), std::string::npos) << err[2];
}

// Parallelism observed, not assumed: each command reports its start and its end through
// a FIFO and waits, between the two, until the test releases it. The test releases one
// command at a time, and only when as many run as -j allows; a runner that started more
// would show a third start before the end the test waits for.
TEST(ToolPidfdRun, ParallelismIsBoundedByJobs) {
  constexpr int commands = 5, jobs = 2;
  temp_dir dir;
  pidfd::unique_fd events = dir.fifo("events");
  std::vector<pidfd::unique_fd> go;
  std::string input;
  for (int i = 1; i <= commands; ++i) {
    go.push_back(dir.fifo("go" + std::to_string(i)));
    input += "echo start " + std::to_string(i) + " > " + (dir / "events") + "; read x < " +
             (dir / ("go" + std::to_string(i))) + "; echo end " + std::to_string(i) + " > " +
             (dir / "events") + "\n";
  }
  running_tool t = start_tool("pidfd-run", {"-j", std::to_string(jobs), "-q"}, input);
  std::set<int> running;
  int ended = 0, most = 0;
  bool released = false;  // a released command has not reported its end yet
  while (ended < commands) {
    const std::string e = read_line(events.get());
    const int n = std::stoi(e.substr(e.find(' ') + 1));
    if (e.rfind("start ", 0) == 0) {
      EXPECT_TRUE(running.insert(n).second) << e;
    } else {
      EXPECT_EQ(running.erase(n), 1u) << e;
      ++ended;
      released = false;
    }
    most = std::max(most, static_cast<int>(running.size()));
    ASSERT_LE(static_cast<int>(running.size()), jobs) << "after event '" << e << "'";
    // Release the lowest running command once the runner has filled its slots, or has no
    // more commands to start.
    const int started = ended + static_cast<int>(running.size());
    if (!released && !running.empty() &&
        (static_cast<int>(running.size()) == jobs || started == commands)) {
      // A whole line: sh's read returns at a newline.
      ASSERT_EQ(::write(go[static_cast<std::size_t>(*running.begin() - 1)].get(), "\n", 1), 1);
      released = true;
    }
  }
  EXPECT_EQ(most, jobs);
  const tool_result r = finish_tool(t);
  EXPECT_EQ(r.code(), 0) << r.err;
}

// Commands writing long lines at the same time: every line comes out whole, behind the
// number of the command that wrote it.
TEST(ToolPidfdRun, LinesAreNeverInterleaved) {
  constexpr int commands = 4, lines = 200;
  constexpr std::size_t length = 3000;  // lines cross the writers' and the pipes' chunks
  std::string input;
  for (int i = 1; i <= commands; ++i)
    input += "yes " + std::string(length, static_cast<char>('a' + i)) + " | head -n " +
             std::to_string(lines) + "\n";
  const tool_result r = run_tool("pidfd-run", {"-j", std::to_string(commands), "-q"}, input);
  EXPECT_EQ(r.code(), 0) << r.err;
  std::map<int, int> count;
  for (const std::string& line : lines_of(r.out)) {
    ASSERT_GT(line.size(), 4u);
    const int n = line[1] - '0';
    ASSERT_TRUE(n >= 1 && n <= commands) << line.substr(0, 20);
    ASSERT_EQ(line, "[" + std::to_string(n) + "] " + std::string(length, static_cast<char>('a' + n)))
        << "a broken line from command " << n;
    ++count[n];
  }
  for (int i = 1; i <= commands; ++i) EXPECT_EQ(count[i], lines) << "command " << i;
}

TEST(ToolPidfdRun, OutputIsPrefixedAndSummaryTableOnStderr) {
  const tool_result r = run_tool("pidfd-run", {"-j", "1"}, "echo one; echo two >&2\nprintf tail\n");
  EXPECT_EQ(r.code(), 0);
  EXPECT_EQ(r.out, "[1] one\n[2] tail\n");
  const std::vector<std::string> err = lines_of(r.err);
  ASSERT_EQ(err.size(), 5u) << r.err;
  EXPECT_EQ(err[0], "[1] two");
  EXPECT_EQ(err[1], "pidfd-run: 2 commands: 2 succeeded, 0 failed");
  EXPECT_EQ(err[2].find("status"), 6u) << err[2];
  EXPECT_NE(err[3].find("exited with code 0"), std::string::npos) << err[3];
  EXPECT_TRUE(std::string_view(err[3]).ends_with("  echo one; echo two >&2")) << err[3];
  EXPECT_TRUE(std::string_view(err[4]).ends_with("  printf tail")) << err[4];
}

TEST(ToolPidfdRun, CommandsFromAFileAndFromArgv) {
  temp_dir dir;
  {
    std::ofstream f(dir / "list");
    f << "echo from file\n\n   \nexit 0\n";
  }
  const tool_result file = run_tool("pidfd-run", {"-q", "-f", dir / "list"});
  EXPECT_EQ(file.code(), 0);
  EXPECT_EQ(file.out, "[1] from file\n");
  const tool_result argv = run_tool("pidfd-run", {"-q", "--", "echo", "a  b", "c"});
  EXPECT_EQ(argv.code(), 0);
  EXPECT_EQ(argv.out, "[1] a  b c\n");
}

// True if an executable `name` is in a directory of PATH.
bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  for (std::size_t start = 0; start <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = dirs.substr(start, end - start);
    if (!dir.empty() && ::access((dir + '/').append(name).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Runs python3 on `script` with `json_text` as its standard input; returns what it printed.
// Python's json module is a strict reader of JSON text (invalid UTF-8 is an error).
std::string python_on_json(const std::string& script, const std::string& json_text) {
  pidfd::run_options options;
  options.input = json_text;
  options.timeout = wait_bound;
  const pidfd::run_result r = pidfd::run({"python3", "-c", script}, options);
  EXPECT_EQ(r.status.code(), 0) << r.err;
  return r.out;
}

// Bytes that are not UTF-8, in a command and in its output: the JSON is still valid (Boost.JSON
// and Python read it; both reject invalid UTF-8), text fields hold U+FFFD for each maximal
// ill-formed subpart (what Python's decode(errors="replace") gives too), and the *_base64
// fields give back the exact bytes.
TEST(ToolPidfdRun, JsonIsValidForAnyBytes) {
  const std::string overlong = "\xC0\xAF", surrogate = "\xED\xA0\x80",
                    beyond = "\xF4\x90\x80\x80", overlong3 = "\xE0\x80\xAF",
                    truncated = "\xF0\x9F\x98";
  const std::string valid = "\xE2\x82\xAC \xF0\x9F\x98\x80";
  const std::string bytes = "a" + overlong + "b" + surrogate + "c" + beyond + overlong3 + valid +
                            "\xFF" + truncated;
  std::string escaped;  // for printf: every byte as \ooo
  for (unsigned char b : bytes) {
    char buf[8];
    (void)std::snprintf(buf, sizeof buf, "\\%03o", b);
    escaped += buf;
  }
  const std::string input = "echo \xFF\xFE x\nprintf '" + escaped + "'\necho plain\n";
  const tool_result r = run_tool("pidfd-run", {"-j", "1", "--json-output"}, input);
  ASSERT_EQ(r.code(), 0) << r.err;
  const json::object report = json::parse(r.out).as_object();
  const json::array& cmds = report.at("commands").as_array();
  ASSERT_EQ(cmds.size(), 3u);
  const std::string fffd = "\xEF\xBF\xBD";
  const json::object& a = cmds[0].as_object();
  EXPECT_EQ(a.at("command").as_string(), "echo " + fffd + fffd + " x");
  EXPECT_EQ(a.at("command_base64").as_string(), "ZWNobyD//iB4");  // "echo \xFF\xFE x"
  EXPECT_EQ(a.at("argv").as_array().at(2).as_string(), "echo " + fffd + fffd + " x");
  EXPECT_EQ(a.at("argv_base64").as_array().at(0).as_string(), "L2Jpbi9zaA==");  // "/bin/sh"
  EXPECT_EQ(a.at("stdout").as_string(), fffd + fffd + " x\n");
  EXPECT_EQ(a.at("stdout_base64").as_string(), "//4geAo=");
  const json::object& b = cmds[1].as_object();
  EXPECT_EQ(b.at("stdout").as_string(), "a" + fffd + fffd + "b" + fffd + fffd + fffd + "c" + fffd +
                                            fffd + fffd + fffd + fffd + fffd + fffd + valid +
                                            fffd + fffd);
  const json::object& c = cmds[2].as_object();
  EXPECT_EQ(c.at("stdout").as_string(), "plain\n");
  EXPECT_FALSE(c.contains("stdout_base64"));
  EXPECT_FALSE(c.contains("command_base64"));
  EXPECT_FALSE(c.contains("argv_base64"));
  // Python reads it, finds every text field equal to the replacement decoding of its exact
  // bytes, and prints those bytes: a second, independent reader where there is a python3
  // (the old-kernel guests hold only busybox; Boost.JSON above has read it everywhere).
  if (!on_path("python3")) return;
  const std::string script =
      "import json, sys, base64\n"
      "d = json.load(sys.stdin)\n"
      "for c in d['commands']:\n"
      "  for k in ('command', 'stdout'):\n"
      "    raw = base64.b64decode(c[k + '_base64']) if k + '_base64' in c else c[k].encode()\n"
      "    assert c[k] == raw.decode('utf-8', 'replace'), k\n"
      "    print(raw.hex())\n";
  const std::string hex = python_on_json(script, r.out);
  auto to_hex = [](std::string_view s) {
    std::string h;
    for (unsigned char ch : s) {
      char buf[3];
      (void)std::snprintf(buf, sizeof buf, "%02x", ch);
      h += buf;
    }
    return h;
  };
  EXPECT_EQ(hex, to_hex("echo \xFF\xFE x") + "\n" + to_hex("\xFF\xFE x\n") + "\n" +
                     to_hex("printf '" + escaped + "'") + "\n" + to_hex(bytes) + "\n" +
                     to_hex("echo plain") + "\n" + to_hex("plain\n") + "\n");
}

// --json-output=BYTES keeps at most BYTES of each stream, never half a UTF-8 character, and
// says how many bytes it left out; without a number it keeps 65536.
TEST(ToolPidfdRun, JsonOutputIsBounded) {
  const json::object small = run_json(
      {"--json-output=2"}, "printf 'hello world'; printf 'E\\342\\202\\254' >&2\n", 0);
  const json::object& c = small.at("commands").as_array().at(0).as_object();
  EXPECT_EQ(c.at("stdout").as_string(), "he");
  EXPECT_EQ(c.at("stdout_omitted_bytes").to_number<int>(), 9);
  EXPECT_EQ(c.at("stderr").as_string(), "E");  // the euro sign (3 bytes) does not fit
  EXPECT_EQ(c.at("stderr_omitted_bytes").to_number<int>(), 3);
  EXPECT_EQ(c.at("stdout_bytes").to_number<int>(), 11);
  const json::object fits = run_json({"--json-output=4"}, "printf 'E\\342\\202\\254'\n", 0);
  EXPECT_EQ(fits.at("commands").as_array().at(0).as_object().at("stdout").as_string(),
            "E\xE2\x82\xAC");
  const json::object big =
      run_json({"--json-output"}, "head -c 70000 /dev/zero | tr '\\0' x\n", 0);
  const json::object& d = big.at("commands").as_array().at(0).as_object();
  EXPECT_EQ(d.at("stdout").as_string(), std::string(65536, 'x'));
  EXPECT_EQ(d.at("stdout_omitted_bytes").to_number<int>(), 70000 - 65536);
  EXPECT_EQ(d.at("stderr").as_string(), "");
  // Without --json-output, no output in the JSON.
  const json::object none = run_json({}, "echo hi\n", 0);
  EXPECT_FALSE(none.at("commands").as_array().at(0).as_object().contains("stdout"));
}

TEST(ToolPidfdRun, NoPrefix) {
  const tool_result r =
      run_tool("pidfd-run", {"-j", "1", "-q", "--no-prefix"}, "echo one; echo two >&2\nprintf tail\n");
  EXPECT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out, "one\ntail\n");
  EXPECT_EQ(r.err, "two\n");
}

// --progress draws its status line on a terminal (here a pseudo-terminal in raw mode, so
// the bytes arrive unchanged): first drawn before any command can have ended, erased before
// each output line and before the summary.
TEST(ToolPidfdRun, ProgressLineOnATerminal) {
  pidfd::unique_fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master.is_open());
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  char name[64];
  ASSERT_EQ(::ptsname_r(master.get(), name, sizeof name), 0);
  pidfd::unique_fd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(slave.is_open());
  termios raw{};
  ASSERT_EQ(::tcgetattr(slave.get(), &raw), 0);
  ::cfmakeraw(&raw);
  ASSERT_EQ(::tcsetattr(slave.get(), TCSANOW, &raw), 0);
  running_tool t = start_tool("pidfd-run", {"--progress", "-j", "1"}, "echo out\n", {},
                              slave.get(), std::move(master));
  slave.reset();  // the tool holds the only slave: its exit ends our reads (EIO)
  const tool_result r = finish_tool(t);
  EXPECT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out, "[1] out\n");
  const std::string erase = "\r\x1b[K";
  const std::string first = erase + "pidfd-run: 0/1 done, 0 failed, 1 running, 0:00 elapsed";
  EXPECT_EQ(r.err.rfind(first, 0), 0u) << r.err;
  const std::size_t summary = r.err.find("pidfd-run: 1 command: 1 succeeded, 0 failed\n");
  ASSERT_NE(summary, std::string::npos) << r.err;
  EXPECT_EQ(r.err.substr(summary - erase.size(), erase.size()), erase);
  EXPECT_EQ(r.err.find('\r', summary), std::string::npos);
}

// Not a terminal: no status line, nothing but the summary.
TEST(ToolPidfdRun, NoProgressLineOnAPipe) {
  const tool_result r = run_tool("pidfd-run", {"--progress", "-j", "1"}, "echo out\n");
  EXPECT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out, "[1] out\n");
  EXPECT_EQ(r.err.rfind("pidfd-run: 1 command: 1 succeeded, 0 failed\n", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
}

TEST(ToolPidfdRun, BadUsageIsExit125WithAMessage) {
  struct row {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<row> rows = {
      {{"--bogus"}, "pidfd-run: unrecognised option '--bogus'"},
      {{"-j", "0"}, "pidfd-run: invalid count for --jobs: '0' (expected a whole number from 1 "
                    "to 4096)"},
      {{"-t", "-1"}, "pidfd-run: invalid number of seconds for --timeout: '-1' (expected a "
                     "number from 0 to 31536000, such as 2 or 0.5)"},
      {{"-f", "x", "--", "true"},
       "pidfd-run: give either a command after '--' or -f FILE, not both"},
      {{"--"}, "pidfd-run: no command after '--'"},
  };
  for (const row& rw : rows) {
    const tool_result r = run_tool("pidfd-run", rw.args);
    EXPECT_EQ(r.code(), 125) << rw.message;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, rw.message + "\nTry 'pidfd-run --help'.\n");
  }
  const tool_result missing = run_tool("pidfd-run", {"-f", "/nonexistent/list"});
  EXPECT_EQ(missing.code(), 125);
  EXPECT_EQ(missing.err, "pidfd-run: cannot open /nonexistent/list: No such file or directory\n");
}

TEST(ToolPidfdRun, HelpAndVersion) {
  const tool_result help = run_tool("pidfd-run", {"--help"});
  EXPECT_EQ(help.code(), 0);
  EXPECT_EQ(help.out.rfind("Usage: pidfd-run [OPTION]... -- COMMAND [ARG]...\n", 0), 0u);
  EXPECT_NE(help.out.find("--keep-going"), std::string::npos);
  EXPECT_NE(help.out.find("\nThe manual: man pidfd-run\n"), std::string::npos) << help.out;
  EXPECT_EQ(help.out.find(".md"), std::string::npos) << help.out;
  const tool_result version = run_tool("pidfd-run", {"--version"});
  EXPECT_EQ(version.code(), 0);
  EXPECT_EQ(version.out, "pidfd-run (asio-pidfd) " PIDFD_VERSION_STRING "\n");
}

}  // namespace
