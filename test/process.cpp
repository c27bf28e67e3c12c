// Tests of <pidfd/process.hpp>: spawn() with pipes, async_run() and run() against the real
// kernel with the helper child program: exact bytes both ways, large streams, limits,
// SIGPIPE, concurrent spawns, grandchildren, timeouts, every cancellation type, every
// completion-token kind, and process groups.
#include "io_fixture.hpp"
#include "support.hpp"

#include <pidfd/detail/cgroup.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/process.hpp>

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd::run_options;
using pidfd::run_result;
using pidfd_test::child_path;
using pidfd_test::make_pipe;
using pidfd_test::read_line;

using pidfd_test::exited;
using pidfd_test::killed;

// An errno as the library reports it: in system_category().
error_code sys_error(int e) { return {e, boost::system::system_category()}; }

// The native count of a stress loop, divided on emulated kernels
// (ASIO_PIDFD_TEST_LOOP_DIVISOR).
int loop_count(int full) {
  return std::max(1, full / pidfd_test::loop_divisor());
}

// The helper child's command line.
std::vector<std::string> child(std::vector<std::string> args) {
  args.insert(args.begin(), child_path());
  return args;
}

// What `spew` writes: n bytes of a pattern that includes NUL bytes.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return s;
}

// Reaps a grandchild that was re-parented to us (the suite is a child subreaper), bounded.
exit_status reap_orphan(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + pidfd_test::wait_bound;
  pidfd::pid_fd p = pidfd::pid_fd::open(pid);
  EXPECT_TRUE(pidfd_test::wait_readable(p.native_handle()));
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return exit_status::from_wait_status(st);
    // Not re-parented to us yet: its parent is exiting right now.
    std::this_thread::yield();
  }
  ADD_FAILURE() << "orphan " << pid << " was not reaped";
  return {};
}

// f() must throw system_error(ENOENT) whose what() starts with `what` (Boost appends the
// code, " [system:2]").
template <class F>
void expect_enoent_naming(F f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no exception";
  } catch (const pidfd::system_error& e) {
    EXPECT_EQ(e.code(), error_code(ENOENT, boost::system::system_category()));
    EXPECT_TRUE(std::string_view(e.what()).starts_with(what)) << e.what();
  }
}

struct run_outcome {
  bool done = false;
  error_code ec;
  run_result result;
};

class Process : public pidfd_test::io_fixture {
protected:
  static void SetUpTestSuite() { pidfd_test::become_subreaper(); }

  // async_run with a callback, run to completion.
  run_outcome run(std::vector<std::string> argv, run_options o = {}) {
    run_outcome out;
    pidfd::async_run(io, std::move(argv), std::move(o), [&](error_code ec, run_result r) {
      out = {true, ec, std::move(r)};
    });
    EXPECT_TRUE(run_until([&] { return out.done; }));
    return out;
  }
};

// ---------------------------------------------------------------------------------------
// spawn() with an executor

TEST_F(Process, SpawnWithPipesOpensExactlyTheRequestedOnes) {
  pidfd::spawn_options o;
  o.stdin_fd = pidfd::stdio_pipe;
  o.stdout_fd = pidfd::stdio_pipe;
  pidfd::process p = pidfd::spawn(io, child({"cat"}), o);
  EXPECT_TRUE(p.pidfd.is_open());
  EXPECT_TRUE(p.stdin_pipe.is_open());
  EXPECT_TRUE(p.stdout_pipe.is_open());
  EXPECT_FALSE(p.stderr_pipe.is_open());

  const std::string input = pattern(300000);
  std::string output;
  std::optional<exit_status> status;
  asio::async_write(p.stdin_pipe, asio::buffer(input), [&](error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, input.size());
    p.stdin_pipe.close();
  });
  asio::async_read(p.stdout_pipe, asio::dynamic_buffer(output),
                   [&](error_code ec, std::size_t) { EXPECT_EQ(ec, asio::error::eof); });
  p.pidfd.async_wait([&](error_code ec, exit_status s) {
    EXPECT_FALSE(ec);
    status = s;
  });
  ASSERT_TRUE(run_until([&] { return status.has_value(); }));
  ASSERT_TRUE(run_until([&] { return output.size() == input.size(); }));
  EXPECT_EQ(*status, exited(0));
  EXPECT_TRUE(output == input);
}

TEST_F(Process, SpawnWithExecutorAndErrorCode) {
  auto strand = asio::make_strand(io);
  pidfd::spawn_options o;
  o.stderr_fd = pidfd::stdio_pipe;
  error_code ec;
  pidfd::basic_process<asio::strand<asio::io_context::executor_type>> p =
      pidfd::spawn(strand, child({"spew", "2", "10"}), o, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_FALSE(p.stdout_pipe.is_open());
  std::string err;
  error_code read_ec;
  std::size_t n = asio::read(p.stderr_pipe, asio::dynamic_buffer(err), read_ec);
  EXPECT_EQ(read_ec, asio::error::eof);
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(err, pattern(10));
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
}

TEST_F(Process, StderrToStdoutPipeCarriesBothInWriteOrder) {
  pidfd::spawn_options o;
  o.stdout_fd = pidfd::stdio_pipe;
  o.stderr_fd = pidfd::stdio_stdout;
  pidfd::process p = pidfd::spawn(io, child({"write", "2", "e1 ", "write", "1", "o1 ", "write",
                                             "2", "e2 ", "spew", "2", "100000", "write", "1",
                                             "o2"}),
                                  o);
  EXPECT_TRUE(p.stdout_pipe.is_open());
  EXPECT_FALSE(p.stderr_pipe.is_open());
  EXPECT_FALSE(p.stdin_pipe.is_open());
  std::string out;
  error_code read_ec;
  asio::read(p.stdout_pipe, asio::dynamic_buffer(out), read_ec);
  EXPECT_EQ(read_ec, asio::error::eof);
  EXPECT_TRUE(out == "e1 o1 e2 " + pattern(100000) + "o2");
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
}

TEST_F(Process, StdioStdoutMisusedLeavesNothingOpen) {
  pidfd::process warm_up(io);
  const std::set<int> before = pidfd_test::open_fds();
  for (int stream = 0; stream < 2; ++stream) {
    pidfd::spawn_options o;
    o.stdin_fd = o.stdout_fd = o.stderr_fd = pidfd::stdio_pipe;
    (stream == 0 ? o.stdin_fd : o.stdout_fd) = pidfd::stdio_stdout;
    error_code ec;
    pidfd::process p = pidfd::spawn(io.get_executor(), child({"exit", "0"}), o, ec);
    EXPECT_EQ(ec, sys_error(EINVAL)) << stream;
    EXPECT_FALSE(p.pidfd.is_open());
    EXPECT_FALSE(p.stdin_pipe.is_open());
    EXPECT_FALSE(p.stdout_pipe.is_open());
    EXPECT_FALSE(p.stderr_pipe.is_open());
  }
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

// ---------------------------------------------------------------------------------------
// spawn() with a pseudo-terminal

// Reads from the terminal until `delim` (kept in buf between calls), bounded; returns what
// came before and including it.
std::string read_pty_until(asio::io_context& io, pidfd::process& p, std::string& buf,
                           std::string_view delim) {
  bool done = false;
  error_code ec;
  std::size_t n = 0;
  asio::async_read_until(p.pty, asio::dynamic_buffer(buf), delim,
                         [&](error_code e, std::size_t k) {
                           done = true;
                           ec = e;
                           n = k;
                         });
  EXPECT_TRUE(pidfd_test::run_until(io, [&] { return done; }, pidfd_test::wait_bound));
  EXPECT_FALSE(ec) << ec.message();
  std::string line = buf.substr(0, n);
  buf.erase(0, n);
  return line;
}

// Everything left on the terminal until its end, which must be eof (not EIO).
std::string read_pty_to_end(asio::io_context& io, pidfd::process& p, std::string& buf) {
  bool done = false;
  error_code ec;
  asio::async_read(p.pty, asio::dynamic_buffer(buf), [&](error_code e, std::size_t) {
    done = true;
    ec = e;
  });
  EXPECT_TRUE(pidfd_test::run_until(io, [&] { return done; }, pidfd_test::wait_bound));
  EXPECT_EQ(ec, asio::error::eof);
  return std::exchange(buf, {});
}

TEST_F(Process, PtyOnAllThreeStreams) {
  pidfd::spawn_options o;
  o.stdin_fd = o.stdout_fd = o.stderr_fd = pidfd::stdio_pty;
  pidfd::process p = pidfd::spawn(io, child({"tty", "1", "write", "2", "to stderr"}), o);
  EXPECT_TRUE(p.pty.is_open());
  EXPECT_FALSE(p.stdin_pipe.is_open());
  EXPECT_FALSE(p.stdout_pipe.is_open());
  EXPECT_FALSE(p.stderr_pipe.is_open());
  std::string buf;
  // A session leader whose controlling terminal is the pty, in the foreground; the
  // terminal starts at 24 x 80; the line discipline turns "\n" into "\r\n".
  EXPECT_EQ(read_pty_to_end(io, p, buf),
            "isatty=111 leader=1 ctty=1 fg=1 size=24x80\r\nto stderr");
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
}

TEST_F(Process, PtyOnChosenStreamsOnly) {
  auto ctl = make_pipe();
  pidfd::spawn_options o;
  o.stdout_fd = pidfd::stdio_pty;
  o.stdin_fd = -1;
  o.stderr_fd = pidfd::stdio_pipe;
  pidfd::process p = pidfd::spawn(io, child({"tty", "1", "write", "2", "e"}), o);
  std::string buf;
  EXPECT_EQ(read_pty_to_end(io, p, buf), "isatty=010 leader=1 ctty=1 fg=1 size=24x80\r\n");
  std::string err;
  error_code ec;
  asio::read(p.stderr_pipe, asio::dynamic_buffer(err), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(err, "e");
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));

  // stderr only, and stdout following it to the terminal (2>&1 of a pty stdout).
  o = {};
  o.stdin_fd = -1;
  o.stdout_fd = pidfd::stdio_pty;
  o.stderr_fd = pidfd::stdio_stdout;
  p = pidfd::spawn(io, child({"tty", "2"}), o);
  EXPECT_EQ(read_pty_to_end(io, p, buf), "isatty=011 leader=1 ctty=1 fg=1 size=24x80\r\n");
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
}

TEST_F(Process, ResizePtyIsSeenByTheChildAndWorksAfterTheExit) {
  auto ctl = make_pipe();
  pidfd::spawn_options o;
  o.stdout_fd = pidfd::stdio_pty;
  o.stdin_fd = o.stderr_fd = -1;  // not the suite's own streams, which may be a terminal
  o.extra_fds = {{3, ctl.read.get()}};
  pidfd::process p = pidfd::spawn(io, child({"tty", "1", "wait-byte", "3", "tty", "1"}), o);
  ctl.read.reset();
  std::string buf;
  EXPECT_EQ(read_pty_until(io, p, buf, "\n"),
            "isatty=010 leader=1 ctty=1 fg=1 size=24x80\r\n");
  p.resize_pty(40, 132);
  pidfd_test::write_byte(ctl.write.get());
  EXPECT_EQ(read_pty_until(io, p, buf, "\n"),
            "isatty=010 leader=1 ctty=1 fg=1 size=40x132\r\n");
  EXPECT_EQ(read_pty_to_end(io, p, buf), "");
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
  error_code ec;
  p.resize_pty(50, 60, ec);  // the child is gone; the terminal is still ours
  EXPECT_FALSE(ec) << ec.message();
  winsize ws{};
  ASSERT_EQ(::ioctl(p.pty.native_handle(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 50);
  EXPECT_EQ(ws.ws_col, 60);
  // Without a terminal.
  pidfd::process none(io);
  none.resize_pty(1, 1, ec);
  EXPECT_EQ(ec, error_code(EBADF, boost::system::system_category()));
  EXPECT_THROW(none.resize_pty(1, 1), pidfd::system_error);
}

TEST_F(Process, ColoursOnlyOnATerminalAndAnswersAPrompt) {
  pidfd::spawn_options o;
  o.stdin_fd = o.stdout_fd = pidfd::stdio_pty;
  pidfd::process p = pidfd::spawn(
      io, child({"color", "1", "green", "ask", "1", "name? ", "color", "1", "done"}), o);
  std::string buf;
  EXPECT_EQ(read_pty_until(io, p, buf, "? "), "\033[32mgreen\033[0m\r\nname? ");
  bool written = false;
  asio::async_write(p.pty, asio::buffer(std::string_view("alice\n")),
                    [&](error_code ec, std::size_t n) {
                      EXPECT_FALSE(ec);
                      EXPECT_EQ(n, 6u);
                      written = true;
                    });
  // The terminal echoes the answer, then the child's reply follows.
  EXPECT_EQ(read_pty_to_end(io, p, buf), "alice\r\ngot alice\r\n\033[32mdone\033[0m\r\n");
  EXPECT_TRUE(written);
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));

  // The same program on a pipe: no colour.
  o = {};
  o.stdout_fd = pidfd::stdio_pipe;
  p = pidfd::spawn(io, child({"color", "1", "green"}), o);
  std::string out;
  error_code ec;
  asio::read(p.stdout_pipe, asio::dynamic_buffer(out), ec);
  EXPECT_EQ(out, "green\n");
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
}

TEST_F(Process, PtyEndOfFileAlsoForSynchronousReads) {
  pidfd::spawn_options o;
  o.stdout_fd = pidfd::stdio_pty;
  pidfd::process p = pidfd::spawn(io, child({"write", "1", "bye"}), o);
  EXPECT_EQ(p.pidfd.core().wait(), exited(0));
  ASSERT_TRUE(pidfd_test::wait_readable(p.pty.native_handle()));
  std::string out;
  error_code ec;
  asio::read(p.pty, asio::dynamic_buffer(out), ec);  // read_some until eof
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(out, "bye");
  char c;
  EXPECT_THROW(p.pty.read_some(asio::buffer(&c, 1)), pidfd::system_error);
}

TEST_F(Process, PtyMisuseAndFailuresLeaveNothingOpen) {
  pidfd::process warm_up(io);
  const std::set<int> before = pidfd_test::open_fds();
  pidfd::spawn_options o;
  o.stdout_fd = pidfd::stdio_pty;
  error_code ec;
  // The plain spawn has nowhere to put the master.
  (void)pidfd::spawn(child({"exit", "0"}), o, ec);
  EXPECT_EQ(ec, sys_error(EINVAL));
  // A process group cannot follow the new session.
  o.process_group = 0;
  pidfd::process p = pidfd::spawn(io, child({"exit", "0"}), o, ec);
  EXPECT_EQ(ec, error_code(EPERM, boost::system::system_category()));
  EXPECT_FALSE(p.pty.is_open());
  // An exec that fails.
  o = {};
  o.stdin_fd = o.stdout_fd = pidfd::stdio_pty;
  p = pidfd::spawn(io, {"/nonexistent/program"}, o, ec);
  EXPECT_EQ(ec, error_code(ENOENT, boost::system::system_category()));
  EXPECT_FALSE(p.pty.is_open());
  EXPECT_FALSE(p.pidfd.is_open());
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

TEST_F(Process, SpawnErrorsLeaveNothingOpen) {
  pidfd::process warm_up(io);  // the io_context's own descriptors (epoll, eventfd, timerfd)
  const std::set<int> before = pidfd_test::open_fds();
  pidfd::spawn_options o;
  o.stdin_fd = o.stdout_fd = o.stderr_fd = pidfd::stdio_pipe;
  error_code ec;
  pidfd::process p = pidfd::spawn(io.get_executor(), {"/nonexistent/program"}, o, ec);
  EXPECT_EQ(ec, error_code(ENOENT, boost::system::system_category()));
  EXPECT_FALSE(p.pidfd.is_open());
  EXPECT_FALSE(p.stdin_pipe.is_open());
  EXPECT_FALSE(p.stdout_pipe.is_open());
  EXPECT_FALSE(p.stderr_pipe.is_open());
  EXPECT_EQ(pidfd_test::open_fds(), before);
}

TEST_F(Process, ThrowingSpawnNamesTheProgram) {
  const std::string enoent =
      "pidfd::spawn \"frobnicate-no-such-program\": No such file or directory";
  expect_enoent_naming([&] { (void)pidfd::spawn(io, {"frobnicate-no-such-program"}); }, enoent);
  expect_enoent_naming([] { (void)pidfd::spawn({"frobnicate-no-such-program"}); }, enoent);
}

TEST_F(Process, EnvChangesSetAndRemoveOnTopOfTheEnvironment) {
  ::setenv("PIDFD_TEST_KEEP", "kept", 1);
  ::setenv("PIDFD_TEST_DROP", "dropped", 1);
  run_options o;
  o.spawn.env_changes = {{"PIDFD_TEST_NEW", "one"},
                         {"PIDFD_TEST_DROP", std::nullopt},
                         {"PIDFD_TEST_NEW", "two"}};
  run_outcome r = run(child({"env", "PIDFD_TEST_KEEP", "1", "env", "PIDFD_TEST_DROP", "1",
                             "env", "PIDFD_TEST_NEW", "1"}),
                      o);
  ::unsetenv("PIDFD_TEST_KEEP");
  ::unsetenv("PIDFD_TEST_DROP");
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.out, "kept\n<unset>\ntwo\n");

  // On top of an explicit env.
  o.spawn.env = std::vector<std::string>{"A=1", "PIDFD_TEST_DROP=x"};
  r = run(child({"env", "A", "1", "env", "PIDFD_TEST_DROP", "1", "env", "PIDFD_TEST_NEW", "1"}),
          o);
  EXPECT_EQ(r.result.out, "1\n<unset>\ntwo\n");

  // Names that cannot be set.
  for (const char* bad : {"", "A=B"}) {
    o.spawn.env_changes = {{bad, "x"}};
    r = run(child({"exit", "0"}), o);
    EXPECT_EQ(r.ec, sys_error(EINVAL)) << bad;
    EXPECT_EQ(r.result.status, exit_status());
  }
}

// ---------------------------------------------------------------------------------------
// async_run: results

TEST_F(Process, ExactBytesOnBothStreams) {
  run_outcome r = run(child({"spew", "1", "100000", "spew", "2", "4099"}));
  ASSERT_TRUE(r.done);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out.size(), 100000u);
  EXPECT_TRUE(r.result.out == pattern(100000));
  EXPECT_TRUE(r.result.err == pattern(4099));
  EXPECT_FALSE(r.result.truncated);
  EXPECT_GT(r.result.elapsed, 0ns);
}

// A run reads into a small buffer first and into a larger one from the first read that
// fills it: every size around those buffers arrives whole, captured and streamed alike.
TEST_F(Process, OutputAroundTheReadBufferSizesArrivesWhole) {
  for (const std::size_t n : {std::size_t{1}, std::size_t{4095}, std::size_t{4096},
                              std::size_t{4097}, std::size_t{8192}, std::size_t{65536},
                              std::size_t{65537}, std::size_t{69632}, std::size_t{300001}}) {
    run_options o;
    std::string streamed;
    o.on_output = [&](pidfd::output_stream, std::string_view piece) { streamed.append(piece); };
    run_outcome r = run(child({"spew", "1", std::to_string(n), "spew", "2", std::to_string(n)}), o);
    EXPECT_FALSE(r.ec) << n << ": " << r.ec.message();
    EXPECT_EQ(r.result.status, exited(0)) << n;
    EXPECT_EQ(r.result.out.size(), n);
    EXPECT_TRUE(r.result.out == pattern(n)) << n;
    EXPECT_TRUE(r.result.err == pattern(n)) << n;
    EXPECT_EQ(streamed.size(), 2 * n);
    EXPECT_FALSE(r.result.truncated) << n;
  }
}

TEST_F(Process, ThirtyTwoMebibytesOfOutput) {
  const std::size_t n = 32u << 20;
  run_outcome r = run(child({"spew", "1", std::to_string(n)}));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.out.size(), n);
  EXPECT_TRUE(r.result.out == pattern(n));
  EXPECT_FALSE(r.result.truncated);
}

TEST_F(Process, EightMebibytesInThroughCatWhileReadingBack) {
  run_options o;
  o.input = pattern(8u << 20);
  run_outcome r = run(child({"cat"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out.size(), o.input->size());
  EXPECT_TRUE(r.result.out == *o.input);
}

TEST_F(Process, OutputLimitKeepsExactlyTheLimit) {
  run_options o;
  o.output_limit = 1000;
  run_outcome r = run(child({"spew", "1", "1048576", "spew", "2", "1000", "exit", "3"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(3));  // read to the end, then reaped normally
  EXPECT_TRUE(r.result.out == pattern(1000));
  EXPECT_TRUE(r.result.err == pattern(1000));  // exactly the limit is not truncation
  EXPECT_TRUE(r.result.truncated);
}

TEST_F(Process, NothingCapturedWhenNotAsked) {
  run_options o;
  o.capture_stdout = false;
  o.capture_stderr = false;
  o.spawn.stdout_fd = -1;
  o.spawn.stderr_fd = -1;
  run_outcome r = run(child({"spew", "1", "10", "spew", "2", "10", "exit", "0"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.out, "");
  EXPECT_EQ(r.result.err, "");
}

TEST_F(Process, NonZeroExitAndSignalsAreResultsNotErrors) {
  run_outcome r = run(child({"exit", "42"}));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(42));
  r = run(child({"raise", std::to_string(SIGKILL)}));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, killed(SIGKILL));
  r = run(child({"raise", std::to_string(SIGUSR1)}));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, killed(SIGUSR1));
}

TEST_F(Process, SpawnErrorHasNoStatus) {
  run_outcome r = run({"/nonexistent/program", "x"});
  EXPECT_EQ(r.ec, error_code(ENOENT, boost::system::system_category()));
  EXPECT_EQ(r.result.status, exit_status());
  EXPECT_EQ(r.result.elapsed, 0ns);
  EXPECT_EQ(r.result.out, "");
  r = run({});
  EXPECT_EQ(r.ec, sys_error(EINVAL));
}

// ---------------------------------------------------------------------------------------
// async_run: input and SIGPIPE

TEST_F(Process, ChildThatNeverReadsItsInput) {
  // SIGPIPE at its default action would kill the test process if it ever reached it.
  struct sigaction old {};
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(::sigaction(SIGPIPE, &dfl, &old), 0);
  run_options o;
  o.input = std::string(4u << 20, 'x');  // far more than a pipe holds
  run_outcome r = run(child({"close", "0", "exit", "5"}), o);
  ::sigaction(SIGPIPE, &old, nullptr);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.result.status, exited(5));
  sigset_t pending;
  ASSERT_EQ(::sigpending(&pending), 0);
  EXPECT_EQ(::sigismember(&pending, SIGPIPE), 0);
}

TEST_F(Process, SigpipeBlockedByTheApplicationStaysItsOwn) {
  // The application blocks SIGPIPE and has one pending: async_run must neither raise
  // another nor consume the application's.
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &pipe_only, &old), 0);
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGPIPE), 0);
  run_options o;
  o.input = std::string(1u << 20, 'x');
  run_outcome r = run(child({"close", "0", "exit", "0"}), o);
  sigset_t pending;
  ASSERT_EQ(::sigpending(&pending), 0);
  EXPECT_EQ(::sigismember(&pending, SIGPIPE), 1);
  const timespec no_wait{};
  EXPECT_EQ(::sigtimedwait(&pipe_only, nullptr, &no_wait), SIGPIPE);
  EXPECT_EQ(::sigtimedwait(&pipe_only, nullptr, &no_wait), -1);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
}

TEST_F(Process, EmptyInputGivesEndOfFile) {
  run_options o;
  o.input.emplace();  // (assigning "" trips a GCC 12 -Wmaybe-uninitialized false positive)
  run_outcome r = run(child({"cat", "exit", "0"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.out, "");
  o.input.reset();
  o.spawn.stdin_fd = pidfd::stdio_pipe;
  r = run(child({"cat", "exit", "0"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.out, "");
}

// ---------------------------------------------------------------------------------------
// async_run: what other processes do with the pipes

TEST_F(Process, ConcurrentSpawnFromAnotherThreadDoesNotDelayEof) {
  // While async_run feeds `cat`, another thread keeps starting children that inherit
  // every fd without FD_CLOEXEC and block until released. If a pipe end of async_run
  // leaked into one of them (the write end of cat's stdin, say), cat would never see EOF
  // and the run would end only by its timeout; a leaked stdout would hold the drain.
  auto release = make_pipe();
  pidfd::spawn_options so;
  so.close_other_fds = false;
  so.stdout_fd = so.stderr_fd = -1;
  so.stdin_fd = release.read.get();
  std::vector<pidfd::pid_fd> blockers;
  run_options o;
  o.input = pattern(std::size_t{256} * 1024);
  o.timeout = 20s;
  o.drain = 20s;
  const int rounds = loop_count(20), most_per_round = 50;
  for (int i = 0; i < rounds; ++i) {
    std::atomic<bool> round_done{false};
    std::thread spawner([&] {
      for (int k = 0; k < most_per_round && !round_done.load(); ++k)
        blockers.push_back(pidfd::spawn(child({"wait-byte", "0"}), so));
    });
    run_outcome r = run(child({"cat"}), o);
    round_done = true;
    spawner.join();
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_FALSE(r.result.truncated);
    EXPECT_TRUE(r.result.out == *o.input);
  }
  release.write.reset();  // EOF releases every blocker
  EXPECT_GT(blockers.size(), 0u);
  for (auto& b : blockers) EXPECT_EQ(pidfd_test::bounded_wait(b), exited(0));
}

TEST_F(Process, GrandchildHoldingStdoutEndsTheRunAfterDrain) {
  auto pid_pipe = make_pipe();
  auto hold = make_pipe();
  run_options o;
  o.drain = 300ms;
  o.spawn.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}};
  const auto start = std::chrono::steady_clock::now();
  run_outcome r = run(child({"spew", "1", "5", "orphan-rest", "3", "wait-byte", "4"}), o);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_TRUE(r.result.out == pattern(5));
  EXPECT_TRUE(r.result.truncated);
  EXPECT_GE(took - r.result.elapsed, o.drain);  // the drain ran after the reap
  const pid_t grandchild = std::stoi(read_line(pid_pipe.read.get()));
  hold.write.reset();
  EXPECT_EQ(reap_orphan(grandchild), exited(0));
}

// ---------------------------------------------------------------------------------------
// async_run: timeout

// The timeouts of these tests must expire after the child has reached a given point. A
// busy or emulated machine can take longer than a native one to start the child, so each
// test tries a short timeout first and a longer one only if the child was not there yet.
constexpr std::chrono::milliseconds timeout_steps[] = {100ms, 1s, 10s};

TEST_F(Process, TimeoutTerminatesWithSigterm) {
  for (auto timeout : timeout_steps) {
    auto ready = make_pipe();
    run_options o;
    o.timeout = timeout;
    o.grace = pidfd_test::wait_bound;
    o.spawn.extra_fds = {{3, ready.write.get()}};
    run_outcome out;
    const auto start = std::chrono::steady_clock::now();
    pidfd::async_run(io, child({"spew", "1", "3", "ready", "3", "pause"}), o,
                     [&](error_code ec, run_result res) { out = {true, ec, std::move(res)}; });
    ready.write.reset();
    const bool in_time = pidfd_test::wait_readable(ready.read.get(), timeout) &&
                         std::chrono::steady_clock::now() - start < timeout;
    ASSERT_TRUE(run_until([&] { return out.done; }));
    EXPECT_EQ(out.ec, asio::error::timed_out);
    EXPECT_EQ(out.result.status, killed(SIGTERM));
    EXPECT_GE(out.result.elapsed, timeout);
    if (!in_time) continue;  // the child may not have written yet: try a longer timeout
    EXPECT_TRUE(out.result.out == pattern(3));  // the output read so far
    return;
  }
  FAIL() << "the child never got ready within " << timeout_steps[2].count() << " ms";
}

TEST_F(Process, TimeoutEscalatesToSigkillForAChildIgnoringSigterm) {
  for (auto timeout : timeout_steps) {
    auto ready = make_pipe();
    run_options o;
    o.timeout = timeout;
    o.grace = 100ms;
    o.spawn.extra_fds = {{3, ready.write.get()}};
    run_outcome out;
    const auto start = std::chrono::steady_clock::now();
    pidfd::async_run(io, child({"ignore", "15", "ready", "3", "pause"}), o,
                     [&](error_code ec, run_result res) { out = {true, ec, std::move(res)}; });
    ready.write.reset();
    // "R" before the timeout means SIGTERM was already ignored when it came.
    const bool in_time = pidfd_test::wait_readable(ready.read.get(), timeout) &&
                         std::chrono::steady_clock::now() - start < timeout;
    ASSERT_TRUE(run_until([&] { return out.done; }));
    EXPECT_EQ(out.ec, asio::error::timed_out);
    if (!in_time) continue;
    EXPECT_EQ(out.result.status, killed(SIGKILL));
    EXPECT_GE(out.result.elapsed, timeout + o.grace);
    return;
  }
  FAIL() << "the child never got ready within " << timeout_steps[2].count() << " ms";
}

TEST_F(Process, TimeoutSignalsTheWholeGroupWhenTheChildLeadsOne) {
  // The child leads a new group and forks a member that blocks; a timeout must end both.
  for (auto timeout : timeout_steps) {
    auto pid_pipe = make_pipe();
    auto hold = make_pipe();
    run_options o;
    o.timeout = timeout;
    o.grace = pidfd_test::wait_bound;
    o.spawn.process_group = 0;
    o.spawn.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}};
    o.capture_stdout = o.capture_stderr = false;
    run_outcome out;
    const auto start = std::chrono::steady_clock::now();
    pidfd::async_run(io, child({"fork-hold", "3", "4", "pause"}), o,
                     [&](error_code ec, run_result res) { out = {true, ec, std::move(res)}; });
    pid_pipe.write.reset();
    // The member's pid before the timeout: it was in the group when the signal came.
    const bool in_time = pidfd_test::wait_readable(pid_pipe.read.get(), timeout) &&
                         std::chrono::steady_clock::now() - start < timeout;
    ASSERT_TRUE(run_until([&] { return out.done; }));
    EXPECT_EQ(out.ec, asio::error::timed_out);
    EXPECT_EQ(out.result.status, killed(SIGTERM));
    // The leader wrote the member's pid, or was signalled before it forked (then there
    // is no member). Every writer of the pipe has ended now: read it to its end.
    std::string line;
    char buf[64];
    while (pidfd_test::wait_readable(pid_pipe.read.get())) {
      const ssize_t n = ::read(pid_pipe.read.get(), buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    if (!line.empty()) {
      EXPECT_EQ(reap_orphan(std::stoi(line)), killed(SIGTERM));
    }
    if (in_time) {
      EXPECT_FALSE(line.empty());
      return;
    }
  }
  FAIL() << "the child never forked within " << timeout_steps[2].count() << " ms";
}

// ---------------------------------------------------------------------------------------
// async_run: cancellation

struct cancel_case {
  asio::cancellation_type type;
  bool child_ignores_sigterm;
  exit_status expected;
};

class ProcessCancel : public Process, public ::testing::WithParamInterface<cancel_case> {};

TEST_P(ProcessCancel, TerminatesReapsAndReportsAborted) {
  const cancel_case c = GetParam();
  auto ready = make_pipe();
  run_options o;
  o.grace = c.child_ignores_sigterm ? 100ms : pidfd_test::wait_bound;
  o.spawn.extra_fds = {{3, ready.write.get()}};
  std::vector<std::string> args;
  if (c.child_ignores_sigterm) args = {"ignore", "15"};
  for (const char* a : {"spew", "1", "7", "ready", "3", "pause"}) args.emplace_back(a);
  asio::cancellation_signal signal;
  run_outcome out;
  pidfd::async_run(io, child(args), o,
                   asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, run_result r) {
                     out = {true, ec, std::move(r)};
                   }));
  ready.write.reset();
  EXPECT_EQ(read_line(ready.read.get()), "R");
  signal.emit(c.type);
  ASSERT_TRUE(run_until([&] { return out.done; }));
  EXPECT_EQ(out.ec, asio::error::operation_aborted);
  EXPECT_EQ(out.result.status, c.expected);
  EXPECT_TRUE(out.result.out == pattern(7));
}

INSTANTIATE_TEST_SUITE_P(
    Types, ProcessCancel,
    ::testing::Values(cancel_case{asio::cancellation_type::terminal, false, killed(SIGKILL)},
                      cancel_case{asio::cancellation_type::partial, false, killed(SIGTERM)},
                      cancel_case{asio::cancellation_type::total, false, killed(SIGTERM)},
                      cancel_case{asio::cancellation_type::partial, true, killed(SIGKILL)},
                      cancel_case{asio::cancellation_type::total, true, killed(SIGKILL)}));

// An executor on an io_context that keeps what it is given and runs it when the test says,
// the last first: the order in which two handlers of a run posted one after the other are
// taken when several threads run the context (the second taken, and its run started,
// before the first).
class lifo_queue {
public:
  // Runs the function given last; false if there is none.
  bool run_last() {
    if (fns_.empty()) return false;
    std::unique_ptr<fn_base> f = std::move(fns_.back());
    fns_.pop_back();
    f->call();
    return true;
  }
  template <class F>
  void add(F f) {
    fns_.push_back(std::make_unique<fn<F>>(std::move(f)));
  }
  std::size_t size() const noexcept { return fns_.size(); }

private:
  struct fn_base {
    virtual ~fn_base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct fn final : fn_base {
    explicit fn(F f) : f_(std::move(f)) {}
    void call() override { std::move(f_)(); }
    F f_;
  };
  std::vector<std::unique_ptr<fn_base>> fns_;
};

class lifo_executor {
public:
  lifo_executor(asio::io_context& io, lifo_queue& q) noexcept : io_(&io), q_(&q) {}
  asio::execution_context& query(asio::execution::context_t) const noexcept { return *io_; }
  static constexpr asio::execution::blocking_t query(asio::execution::blocking_t) noexcept {
    return asio::execution::blocking.never;
  }
  lifo_executor require(asio::execution::blocking_t::never_t) const noexcept { return *this; }
  template <class F>
  void execute(F f) const {
    q_->add(std::move(f));
  }
  bool operator==(const lifo_executor& other) const noexcept { return q_ == other.q_; }

private:
  asio::io_context* io_;
  lifo_queue* q_;
};

// A cancellation emitted right after async_run() returns is posted after the start of the
// run; taken first (as another thread may take it), it is carried out once the run has
// started: the child is killed, not left running, and the run ends as cancelled.
TEST_F(Process, ACancellationTakenBeforeTheRunStartedIsCarriedOut) {
  lifo_queue queue;
  const lifo_executor ex(io, queue);
  asio::cancellation_signal signal;
  run_outcome out;
  pidfd::async_run(ex, child({"pause"}), run_options{},
                   asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, run_result r) {
                     out = {true, ec, std::move(r)};
                   }));
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_EQ(queue.size(), 2U);  // the start of the run, then the cancellation
  const auto deadline = std::chrono::steady_clock::now() + pidfd_test::wait_bound;
  while (!out.done && std::chrono::steady_clock::now() < deadline) {
    if (queue.run_last()) continue;
    io.restart();
    io.run_one_for(10ms);
  }
  ASSERT_TRUE(out.done);
  EXPECT_EQ(out.ec, asio::error::operation_aborted);
  EXPECT_EQ(out.result.status, killed(SIGKILL));
  EXPECT_EQ(queue.size(), 0U);
}

TEST_F(Process, CancellationDuringTheDrainCompletesAtOnce) {
  auto pid_pipe = make_pipe();
  auto hold = make_pipe();
  auto ready = make_pipe();
  run_options o;
  o.drain = pidfd_test::wait_bound;
  o.spawn.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}, {5, ready.write.get()}};
  asio::cancellation_signal signal;
  run_outcome out;
  // The grandchild says "R" once its parent has exited; the cancellation may then come
  // before or after the reap, and both must give the same result.
  pidfd::async_run(io, child({"orphan-rest", "3", "ready", "5", "wait-byte", "4"}), o,
                   asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, run_result r) {
                     out = {true, ec, std::move(r)};
                   }));
  ready.write.reset();
  pid_pipe.write.reset();
  EXPECT_EQ(read_line(ready.read.get()), "R");
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return out.done; }, 30s));
  EXPECT_EQ(out.ec, asio::error::operation_aborted);
  EXPECT_EQ(out.result.status, exited(0));
  const pid_t grandchild = std::stoi(read_line(pid_pipe.read.get()));
  hold.write.reset();
  EXPECT_EQ(reap_orphan(grandchild), exited(0));
}

// ---------------------------------------------------------------------------------------
// async_run: completion tokens and executors

TEST_F(Process, NeverCompletesInline) {
  bool done = false;
  pidfd::async_run(io, {"/nonexistent"}, {}, [&](error_code, const run_result&) { done = true; });
  EXPECT_FALSE(done);  // even an immediate spawn error goes through the executor
  ASSERT_TRUE(run_until([&] { return done; }));
}

TEST_F(Process, MoveOnlyCallback) {
  auto token = std::make_unique<int>(11);
  std::optional<run_result> result;
  int seen = 0;
  pidfd::async_run(io.get_executor(), child({"spew", "1", "2"}), {},
                   [token = std::move(token), &seen, &result](error_code ec, run_result r) {
                     EXPECT_FALSE(ec);
                     seen = *token;
                     result = std::move(r);
                   });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(seen, 11);
  EXPECT_TRUE(result->out == pattern(2));
}

TEST_F(Process, UseFuture) {
  std::future<run_result> f = pidfd::async_run(io, child({"exit", "6"}), {}, asio::use_future);
  ASSERT_TRUE(run_until([&] { return f.wait_for(0s) == std::future_status::ready; }));
  EXPECT_EQ(f.get().status, exited(6));
  std::future<run_result> g = pidfd::async_run(io, {"/nonexistent"}, {}, asio::use_future);
  ASSERT_TRUE(run_until([&] { return g.wait_for(0s) == std::future_status::ready; }));
  EXPECT_THROW(g.get(), pidfd::system_error);
}

TEST_F(Process, UseAwaitableAndAsTuple) {
  std::optional<run_result> a;
  std::optional<std::tuple<error_code, run_result>> b;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Named arguments: GCC 12 mishandles braced lists inside co_await expressions.
        std::vector<std::string> first = child({"spew", "1", "4", "exit", "1"});
        std::vector<std::string> second{"/nonexistent"};
        a = co_await pidfd::async_run(io, first, run_options(), asio::use_awaitable);
        b = co_await pidfd::async_run(io, second, run_options(),
                                      asio::as_tuple(asio::use_awaitable));
      },
      asio::detached);
  ASSERT_TRUE(run_until([&] { return b.has_value(); }));
  EXPECT_EQ(a->status, exited(1));
  EXPECT_TRUE(a->out == pattern(4));
  EXPECT_EQ(std::get<0>(*b), error_code(ENOENT, boost::system::system_category()));
}

TEST_F(Process, Deferred) {
  auto op = pidfd::async_run(io, child({"exit", "2"}), {}, asio::deferred);
  run_outcome out;
  std::move(op)([&](error_code ec, run_result r) { out = {true, ec, std::move(r)}; });
  ASSERT_TRUE(run_until([&] { return out.done; }));
  EXPECT_EQ(out.result.status, exited(2));
}

TEST_F(Process, HandlerRunsOnItsAssociatedExecutor) {
  auto strand = asio::make_strand(io);
  bool in_strand = false, done = false;
  pidfd::async_run(io, child({"exit", "0"}), {},
                   asio::bind_executor(strand, [&](error_code, const run_result&) {
                     in_strand = strand.running_in_this_thread();
                     done = true;
                   }));
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_TRUE(in_strand);
}

TEST_F(Process, ManyRunsOnFourThreads) {
  std::atomic<int> ok{0};
  const int n = 64;
  for (int i = 0; i < n; ++i) {
    run_options o;
    const std::size_t size = 1000 + static_cast<std::size_t>(i);
    o.input = pattern(size);
    pidfd::async_run(io, child({"cat"}), std::move(o),
                     [&, size](error_code ec, const run_result& r) {
                       if (!ec && r.out == pattern(size)) ++ok;
                     });
  }
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run_for(pidfd_test::wait_bound); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), n);
}

// ---------------------------------------------------------------------------------------
// run(): the synchronous form

TEST(ProcessRun, BothForms) {
  run_options o;
  o.input.emplace("abc");
  run_result r = pidfd::run(child({"cat"}), o);
  EXPECT_EQ(r.out, "abc");
  EXPECT_EQ(r.status, exited(0));

  error_code ec;
  r = pidfd::run({"/nonexistent/x"}, {}, ec);
  EXPECT_EQ(ec, error_code(ENOENT, boost::system::system_category()));
  EXPECT_EQ(r.status, exit_status());

  // A timeout: the output read so far comes back with the status. Longer timeouts only
  // if the machine was too slow for the child to write its 3 bytes in time.
  for (auto timeout : timeout_steps) {
    o = {};
    o.timeout = timeout;
    r = pidfd::run(child({"spew", "2", "3", "pause"}), o, ec);
    EXPECT_EQ(ec, asio::error::timed_out);
    EXPECT_EQ(r.status, killed(SIGTERM));
    if (!r.err.empty() || timeout == timeout_steps[2]) break;
  }
  EXPECT_TRUE(r.err == pattern(3));

  expect_enoent_naming([] { (void)pidfd::run({"/nonexistent/x"}); },
                       "pidfd::run \"/nonexistent/x\": No such file or directory");
}

// ---------------------------------------------------------------------------------------
// async_run: streaming (on_output, whole_lines, max_line)

struct piece {
  pidfd::output_stream stream;
  std::string text;
  friend bool operator==(const piece&, const piece&) = default;
};
std::ostream& operator<<(std::ostream& os, const piece& p) {
  return os << (p.stream == pidfd::output_stream::out ? "out:" : "err:") << '"' << p.text << '"';
}
constexpr auto out_s = pidfd::output_stream::out;
constexpr auto err_s = pidfd::output_stream::err;

// The pieces of one stream, in order.
std::vector<std::string> of(const std::vector<piece>& pieces, pidfd::output_stream s) {
  std::vector<std::string> r;
  for (const auto& p : pieces)
    if (p.stream == s) r.push_back(p.text);
  return r;
}

TEST_F(Process, StreamsWholeLinesInOrderBeforeCapture) {
  run_options o;
  std::vector<piece> pieces;
  o.whole_lines = true;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    pieces.push_back({s, std::string(text)});
  };
  run_outcome r = run(child({"write", "1", "a\nb", "write", "2", "E1\nE", "write", "1", "b\n\nccc",
                             "write", "2", "2\n"}),
                      o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(of(pieces, out_s), (std::vector<std::string>{"a\n", "bb\n", "\n", "ccc"}));
  EXPECT_EQ(of(pieces, err_s), (std::vector<std::string>{"E1\n", "E2\n"}));
  EXPECT_EQ(r.result.out, "a\nbb\n\nccc");
  EXPECT_EQ(r.result.err, "E1\nE2\n");
  EXPECT_FALSE(r.result.truncated);
}

TEST_F(Process, LongLinesComeInPiecesOfMaxLine) {
  run_options o;
  std::vector<piece> pieces;
  o.whole_lines = true;
  o.max_line = 4;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    pieces.push_back({s, std::string(text)});
  };
  run_outcome r = run(child({"write", "1", "abcdefghij\nab", "write", "1", "cd\nxyz"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(of(pieces, out_s), (std::vector<std::string>{"abcd", "efgh", "ij\n", "abcd\n", "xyz"}));
  EXPECT_EQ(r.result.out, "abcdefghij\nabcd\nxyz");
}

TEST_F(Process, StreamingWithoutCaptureKeepsNothingAndIsNotTruncated) {
  run_options o;
  o.capture_stdout = false;
  o.capture_stderr = false;
  o.output_limit = 10;
  std::string streamed;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    EXPECT_EQ(s, out_s);
    streamed.append(text);
  };
  run_outcome r = run(child({"spew", "1", "1000000"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_TRUE(streamed == pattern(1000000));
  EXPECT_EQ(r.result.out, "");
  EXPECT_FALSE(r.result.truncated);
}

TEST_F(Process, StreamingPastTheOutputLimitStreamsEverything) {
  run_options o;
  o.output_limit = 10;
  std::string streamed;
  o.on_output = [&](pidfd::output_stream, std::string_view text) { streamed.append(text); };
  run_outcome r = run(child({"spew", "1", "1000000"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_TRUE(streamed == pattern(1000000));
  EXPECT_TRUE(r.result.out == pattern(10));
  EXPECT_TRUE(r.result.truncated);
}

// ---------------------------------------------------------------------------------------
// async_run: pipe_capacity

// The capacity of a new pipe here (64 KiB unless the user's pipes are past their allowance).
std::size_t default_pipe_capacity() {
  pidfd_test::pipe_fds p = make_pipe();
  const int size = ::fcntl(p.read.get(), F_GETPIPE_SZ);
  EXPECT_GT(size, 0);
  return static_cast<std::size_t>(size);
}

std::size_t pipe_max_size() {
  std::ifstream in("/proc/sys/fs/pipe-max-size");
  std::size_t size = 0;
  in >> size;
  EXPECT_GT(size, 0u);
  return size;
}

// The capacity the child sees on its stdout and stderr, one line each, read from its stdout.
std::string sizes_line(std::size_t out, std::size_t err) {
  return std::to_string(out) + "\n" + std::to_string(err) + "\n";
}

TEST_F(Process, PipeCapacityIsWhatTheChildSeesOnStdoutAndStderr) {
  const std::vector<std::string> argv = child({"pipe-size", "1", "1", "pipe-size", "2", "1"});
  const std::size_t plain = default_pipe_capacity();
  run_options o;  // 0: the pipes are left as made
  run_outcome r = run(argv, o);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.result.out, sizes_line(plain, plain));
  // Rounded up to a power of two of 4 KiB pages, at least one page (smaller than the
  // default too).
  ASSERT_EQ(::sysconf(_SC_PAGESIZE), 4096);
  const std::pair<std::size_t, std::size_t> cases[] = {
      {1, 4096}, {4096, 4096}, {4097, 8192}, {100000, 131072}, {1048576, 1048576}};
  for (const auto& [requested, want] : cases) {
    o.pipe_capacity = requested;
    r = run(argv, o);
    EXPECT_FALSE(r.ec) << requested << ": " << r.ec.message();
    EXPECT_EQ(r.result.status, exited(0)) << requested;
    EXPECT_EQ(r.result.out, sizes_line(want, want)) << requested;
  }
}

TEST_F(Process, PipeCapacityLeavesStdinAndUnpipedStreamsAlone) {
  const std::size_t plain = default_pipe_capacity();
  run_options o;
  o.pipe_capacity = std::size_t{256} << 10;
  o.input = "x";
  o.capture_stderr = false;  // stderr stays the test's own (not a pipe of the run)
  run_outcome r = run(child({"pipe-size", "0", "1", "pipe-size", "1", "1"}), o);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.result.out, sizes_line(plain, std::size_t{256} << 10));
}

TEST_F(Process, PipeCapacityAppliesToTheOnePipeOfMergedStreams) {
  run_options o;
  o.pipe_capacity = std::size_t{512} << 10;
  o.spawn.stderr_fd = pidfd::stdio_stdout;
  run_outcome r = run(child({"pipe-size", "1", "1", "pipe-size", "2", "1"}), o);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.result.out, sizes_line(std::size_t{512} << 10, std::size_t{512} << 10));
}

// Streams in both directions through enlarged pipes arrive whole, streamed and captured.
TEST_F(Process, PipeCapacityKeepsEveryByteInOrder) {
  run_options o;
  o.pipe_capacity = std::size_t{1} << 20;
  std::string streamed_out, streamed_err;
  o.on_output = [&](pidfd::output_stream s, std::string_view piece) {
    (s == pidfd::output_stream::out ? streamed_out : streamed_err).append(piece);
  };
  run_outcome r = run(child({"spew", "1", "3000001", "spew", "2", "1048577"}), o);
  EXPECT_FALSE(r.ec) << r.ec.message();
  EXPECT_TRUE(r.result.out == pattern(3000001));
  EXPECT_TRUE(r.result.err == pattern(1048577));
  EXPECT_TRUE(streamed_out == pattern(3000001));
  EXPECT_TRUE(streamed_err == pattern(1048577));
}

// More than Linux ever grants: the run fails before anything is made or started (the
// program would write to fd 3 at once; the pipe sees only end of file).
TEST_F(Process, AbsurdPipeCapacityStartsNothing) {
  for (const std::size_t requested : {(std::size_t{1} << 31) + 1, ~std::size_t{0}}) {
    pidfd_test::pipe_fds p = make_pipe();
    run_options o;
    o.pipe_capacity = requested;
    o.spawn.extra_fds = {{3, p.write.get()}};
    run_outcome r = run(child({"write", "3", "started"}), o);
    EXPECT_EQ(r.ec, sys_error(EINVAL)) << requested;
    EXPECT_EQ(r.result.status, exit_status());
    EXPECT_EQ(r.result.elapsed, 0ns);
    EXPECT_FALSE(r.result.usage.has_value());
    p.write.reset();
    char c = 0;
    EXPECT_EQ(::read(p.read.get(), &c, 1), 0);
  }
}

// Without CAP_SYS_RESOURCE, Linux grants at most /proc/sys/fs/pipe-max-size: a larger
// request gets that much, and the run goes ahead.
TEST(ProcessPipeCapacity, UnprivilegedRequestsAreCappedAtPipeMaxSize) {
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildNoCapSysResource.*", 0), 0);
}

TEST(InChildNoCapSysResource, PipeCapacityAbovePipeMaxSizeGetsPipeMaxSize) {
  pidfd_test::drop_effective_capability(CAP_SYS_RESOURCE);
  const std::size_t most = pipe_max_size();
  for (const std::size_t requested : {most, most + 1, 4 * most}) {
    run_options o;
    o.pipe_capacity = requested;
    const run_result r =
        pidfd::run(child({"pipe-size", "1", "1", "pipe-size", "2", "1", "exit", "0"}), o);
    EXPECT_EQ(r.status, exited(0)) << requested;
    EXPECT_EQ(r.out, sizes_line(most, most)) << requested;
  }
}

TEST_F(Process, UnterminatedLineIsDeliveredWhenACancellationEndsTheRun) {
  auto ready = make_pipe();
  run_options o;
  o.whole_lines = true;
  o.spawn.extra_fds = {{3, ready.write.get()}};
  std::vector<piece> pieces;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    pieces.push_back({s, std::string(text)});
  };
  asio::cancellation_signal signal;
  run_outcome out;
  pidfd::async_run(io, child({"write", "1", "one\ntw", "ready", "3", "pause"}), o,
                   asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, run_result r) {
                     out = {true, ec, std::move(r)};
                   }));
  ready.write.reset();
  EXPECT_EQ(read_line(ready.read.get()), "R");
  // Everything written before "R" is read before the reap of the killed child can come.
  ASSERT_TRUE(run_until([&] { return pieces.size() == 1; }));
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return out.done; }));
  EXPECT_EQ(out.ec, asio::error::operation_aborted);
  EXPECT_EQ(out.result.status, killed(SIGKILL));
  EXPECT_EQ(of(pieces, out_s), (std::vector<std::string>{"one\n", "tw"}));
}

TEST_F(Process, UnterminatedLineIsDeliveredWhenATimeoutEndsTheRun) {
  run_options o;
  o.whole_lines = true;
  o.timeout = 200ms;
  o.grace = pidfd_test::wait_bound;
  std::vector<piece> pieces;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    pieces.push_back({s, std::string(text)});
  };
  run_outcome r = run(child({"write", "2", "half", "pause"}), o);
  EXPECT_EQ(r.ec, asio::error::timed_out);
  EXPECT_EQ(r.result.status, killed(SIGTERM));
  // The write came before the pause, and the timeout can only end the run after the reap;
  // the piece was read by then unless the child had not even started when it expired.
  if (!r.result.err.empty()) {
    EXPECT_EQ(r.result.err, "half");
    EXPECT_EQ(pieces, (std::vector<piece>{{err_s, "half"}}));
  } else {
    EXPECT_EQ(pieces, std::vector<piece>{});
  }
}

TEST_F(Process, ThrowingOnOutputEndsTheRunLikeATerminalCancellation) {
  run_options o;
  int calls = 0;
  o.on_output = [&](pidfd::output_stream, std::string_view) {
    ++calls;
    throw std::runtime_error("consumer failed");
  };
  run_outcome r = run(child({"write", "1", "x\n", "pause"}), o);
  EXPECT_EQ(r.ec, asio::error::operation_aborted);
  EXPECT_EQ(r.result.status, killed(SIGKILL));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r.result.out, "x\n");  // captured all the same
}

TEST_F(Process, OnOutputRunsOnAStrandIoExecutor) {
  auto strand = asio::make_strand(io);
  run_options o;
  bool always_on_strand = true;
  int calls = 0;
  o.on_output = [&](pidfd::output_stream, std::string_view) {
    ++calls;
    always_on_strand = always_on_strand && strand.running_in_this_thread();
  };
  run_outcome out;
  pidfd::async_run(strand, child({"write", "1", "a", "write", "2", "b"}), o,
                   [&](error_code ec, run_result r) { out = {true, ec, std::move(r)}; });
  ASSERT_TRUE(run_until([&] { return out.done; }));
  EXPECT_FALSE(out.ec);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(always_on_strand);
}

// ---------------------------------------------------------------------------------------
// async_run: 2>&1

TEST_F(Process, MergedStderrIsCapturedAndStreamedAsOutInWriteOrder) {
  run_options o;
  o.spawn.stderr_fd = pidfd::stdio_stdout;
  std::vector<piece> pieces;
  o.whole_lines = true;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    pieces.push_back({s, std::string(text)});
  };
  run_outcome r = run(child({"write", "1", "o1\n", "write", "2", "e1\n", "write", "1", "o2\n",
                             "write", "2", "e2\n"}),
                      o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.out, "o1\ne1\no2\ne2\n");
  EXPECT_EQ(r.result.err, "");
  EXPECT_EQ(pieces, (std::vector<piece>{{out_s, "o1\n"}, {out_s, "e1\n"}, {out_s, "o2\n"},
                                        {out_s, "e2\n"}}));
}

// ---------------------------------------------------------------------------------------
// async_run: process-group scope

TEST_F(Process, GroupScopeKillsAndCountsABackgroundedGrandchild) {
  run_options o;
  o.scope = pidfd::run_scope::process_group;
  // The background job keeps neither stream: the run ends when the shell exits.
  run_outcome r = run({"/bin/sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"}, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_FALSE(r.result.truncated);
  EXPECT_EQ(r.result.killed_leftovers, 1u);
  ASSERT_FALSE(r.result.out.empty());
  EXPECT_EQ(reap_orphan(std::stoi(r.result.out)), killed(SIGKILL));
}

TEST_F(Process, GroupScopeKillsAGrandchildHoldingStdoutAfterTheDrain) {
  run_options o;
  o.scope = pidfd::run_scope::process_group;
  o.drain = 200ms;
  run_outcome r = run({"/bin/sh", "-c", "sleep 60 & echo $!"}, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_TRUE(r.result.truncated);  // the sleep still held stdout when the drain ended
  EXPECT_EQ(r.result.killed_leftovers, 1u);
  ASSERT_FALSE(r.result.out.empty());
  EXPECT_EQ(reap_orphan(std::stoi(r.result.out)), killed(SIGKILL));
}

TEST_F(Process, GroupScopeWithNothingLeftKillsNothing) {
  run_options o;
  o.scope = pidfd::run_scope::process_group;
  run_outcome r = run(child({"report", "1"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.killed_leftovers, 0u);
  // The child led its own group.
  const std::string& rep = r.result.out;
  const auto pid_at = rep.find("pid=") + 4;
  const auto pgid_at = rep.find("pgid=") + 5;
  EXPECT_EQ(std::stoi(rep.substr(pid_at)), std::stoi(rep.substr(pgid_at)));
}

// ---------------------------------------------------------------------------------------
// async_run: cgroup scope

TEST_F(Process, CgroupScopeKillsAndCountsADaemonThatLeftItsSession) {
  run_options o;
  o.scope = pidfd::run_scope::cgroup;
  o.drain = 200ms;
  run_outcome r =
      run({"/bin/sh", "-c", "setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $!"}, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_FALSE(r.result.truncated);  // both streams ended; only the cgroup was populated
  EXPECT_EQ(r.result.killed_leftovers, 1u);
  EXPECT_TRUE(r.result.usage.has_value());
  ASSERT_FALSE(r.result.out.empty());
  EXPECT_EQ(reap_orphan(std::stoi(r.result.out)), killed(SIGKILL));
}

TEST_F(Process, CgroupScopeDrainEndsWhenTheCgroupIsEmpty) {
  auto pid_pipe = make_pipe();
  auto hold = make_pipe();
  run_options o;
  o.scope = pidfd::run_scope::cgroup;
  o.drain = pidfd_test::wait_bound;  // far longer than the run_until below allows
  o.spawn.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}};
  run_outcome out;
  pidfd::async_run(io, child({"spew", "1", "5", "orphan-rest", "3", "wait-byte", "4"}), o,
                   [&](error_code ec, run_result r) { out = {true, ec, std::move(r)}; });
  pid_pipe.write.reset();
  const pid_t grandchild = std::stoi(read_line(pid_pipe.read.get()));
  hold.write.reset();  // the grandchild exits: the cgroup empties, stdout ends
  ASSERT_TRUE(run_until([&] { return out.done; }, 30s));
  EXPECT_FALSE(out.ec);
  EXPECT_EQ(out.result.status, exited(0));
  EXPECT_TRUE(out.result.out == pattern(5));
  EXPECT_FALSE(out.result.truncated);
  EXPECT_EQ(out.result.killed_leftovers, 0u);
  EXPECT_EQ(reap_orphan(grandchild), exited(0));
}

TEST_F(Process, CgroupScopeTerminalCancellationKillsEveryMember) {
  auto pid_pipe = make_pipe();
  auto hold = make_pipe();
  run_options o;
  o.scope = pidfd::run_scope::cgroup;
  o.capture_stdout = o.capture_stderr = false;
  o.spawn.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}};
  asio::cancellation_signal signal;
  run_outcome out;
  pidfd::async_run(io, child({"fork-hold", "3", "4", "pause"}), o,
                   asio::bind_cancellation_slot(signal.slot(), [&](error_code ec, run_result r) {
                     out = {true, ec, std::move(r)};
                   }));
  pid_pipe.write.reset();
  const pid_t member = std::stoi(read_line(pid_pipe.read.get()));
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until([&] { return out.done; }));
  EXPECT_EQ(out.ec, asio::error::operation_aborted);
  EXPECT_EQ(out.result.status, killed(SIGKILL));
  EXPECT_EQ(out.result.killed_leftovers, 1u);  // the member, not the child itself
  EXPECT_EQ(reap_orphan(member), killed(SIGKILL));
}

// A timeout in run_scope::cgroup sends SIGTERM to every member, not only to the child: a
// member that dies of it empties the cgroup, and nothing is left to kill.
TEST_F(Process, CgroupScopeTimeoutTerminatesEveryMember) {
  auto pid_pipe = make_pipe();
  auto hold = make_pipe();
  run_options o;
  o.scope = pidfd::run_scope::cgroup;
  o.capture_stdout = o.capture_stderr = false;
  o.timeout = 1ms;
  o.grace = pidfd_test::wait_bound;
  o.drain = pidfd_test::wait_bound;
  o.spawn.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}};
  run_outcome out;
  pidfd::async_run(io, child({"fork-hold", "3", "4", "pause"}), o,
                   [&](error_code ec, run_result r) { out = {true, ec, std::move(r)}; });
  pid_pipe.write.reset();
  // The member exists before the io_context runs the timer.
  const pid_t member = std::stoi(read_line(pid_pipe.read.get()));
  ASSERT_TRUE(run_until([&] { return out.done; }));
  EXPECT_EQ(out.ec, asio::error::timed_out);
  EXPECT_EQ(out.result.status, killed(SIGTERM));
  EXPECT_EQ(out.result.killed_leftovers, 0u);
  EXPECT_EQ(reap_orphan(member), killed(SIGTERM));
}

// An execution context destroyed while async_run() is pending destroys the handler
// without calling it, and the run kills and reaps its child: nothing is left running.
TEST(ProcessLifetime, AContextDestroyedWithARunPendingKillsAndReapsTheChild) {
  int calls = 0;
  auto ready = make_pipe();
  {
    asio::io_context ctx;
    run_options o;
    o.spawn.extra_fds = {{3, ready.write.get()}};
    pidfd::async_run(ctx, child({"ready", "3", "pause"}), o,
                     [&](error_code, const run_result&) { ++calls; });
    ready.write.reset();
    ASSERT_TRUE(pidfd_test::wait_readable(ready.read.get()));  // running, not exited
    ctx.poll();
    EXPECT_EQ(calls, 0);
    EXPECT_EQ(pidfd_test::child_processes().size(), 1u);
  }
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(pidfd_test::child_processes(), std::set<pid_t>{});
}

TEST_F(Process, CgroupScopeWithAMissingParentStartsNothing) {
  error_code ec;
  const std::filesystem::path own = pidfd::detail::own_cgroup_directory(ec);
  ASSERT_FALSE(ec);
  run_options o;
  o.scope = pidfd::run_scope::cgroup;
  o.cgroup_parent = own / "asio-pidfd-no-such-parent";
  run_outcome r = run(child({"exit", "0"}), o);
  EXPECT_EQ(r.ec, error_code(ENOENT, boost::system::system_category()));
  EXPECT_EQ(r.result.status, exit_status());
  EXPECT_FALSE(r.result.usage.has_value());
}

// ---------------------------------------------------------------------------------------
// async_run on a pseudo-terminal

TEST_F(Process, RunOnPtyGivesAllThreeStreamsTheTerminalAndItsSize) {
  run_options o;
  o.pty = true;
  // Whatever the streams were set to, the terminal replaces them.
  o.spawn.stdin_fd = -1;
  o.spawn.stdout_fd = pidfd::stdio_pipe;
  o.spawn.stderr_fd = pidfd::stdio_stdout;
  run_outcome r = run(child({"tty", "1", "write", "2", "to stderr"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  // A session leader in the foreground of its controlling terminal, 24 x 80 by default;
  // stderr lands in out, "\n" shows as "\r\n".
  EXPECT_EQ(r.result.out, "isatty=111 leader=1 ctty=1 fg=1 size=24x80\r\nto stderr");
  EXPECT_EQ(r.result.err, "");
  EXPECT_FALSE(r.result.truncated);

  o.pty_size = {.rows = 50, .cols = 132};
  r = run(child({"tty", "2"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out, "isatty=111 leader=1 ctty=1 fg=1 size=50x132\r\n");
  EXPECT_EQ(r.result.err, "");
}

TEST_F(Process, RunOnPtyTypesTheInputToAPrompt) {
  run_options o;
  o.pty = true;
  o.input = std::string("alice\n");  // (assigning a literal trips GCC 12's
                                     // -Wmaybe-uninitialized false positive)
  run_outcome r = run(child({"ask", "1", "name? "}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  // The terminal echoes the typing when it arrives: before or after the prompt.
  EXPECT_TRUE(r.result.out == "name? alice\r\ngot alice\r\n" ||
              r.result.out == "alice\r\nname? got alice\r\n")
      << r.result.out;
  EXPECT_EQ(r.result.err, "");
}

TEST_F(Process, RunOnPtyEndsTheInputWithEndOfFile) {
  // The shell prints after reading to end of file, so the echo of all input comes first;
  // ^D is neither echoed nor read.
  const std::vector<std::string> argv = {"/bin/sh", "-c", "x=$(cat); printf '[%s]' \"$x\""};
  run_options o;
  o.pty = true;
  o.input = std::string("hello\nwor");  // an open last line: ^D ^D
  run_outcome r = run(argv, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out, "hello\r\nwor[hello\r\nwor]");

  o.input = std::string("hello\n");  // ^D at the start of a line
  r = run(argv, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out, "hello\r\n[hello]");

  o.input = std::string();  // just ^D
  r = run(argv, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out, "[]");
  EXPECT_FALSE(r.result.truncated);
}

TEST_F(Process, RunOnPtyStreamsWholeLinesAsOut) {
  run_options o;
  o.pty = true;
  o.whole_lines = true;
  std::vector<piece> pieces;
  o.on_output = [&](pidfd::output_stream s, std::string_view text) {
    pieces.push_back({s, std::string(text)});
  };
  run_outcome r = run(child({"write", "1", "a\nb", "write", "2", "b\nccc"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(pieces, (std::vector<piece>{{out_s, "a\r\n"}, {out_s, "bb\r\n"}, {out_s, "ccc"}}));
  EXPECT_EQ(r.result.out, "a\r\nbb\r\nccc");
  EXPECT_EQ(r.result.err, "");
}

TEST_F(Process, RunOnPtyKeepsOutputLimitAndCaptureStdout) {
  run_options o;
  o.pty = true;
  o.output_limit = 4;
  run_outcome r = run(child({"write", "1", "abcdef\n"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out, "abcd");
  EXPECT_TRUE(r.result.truncated);

  o.output_limit = run_options{}.output_limit;
  o.capture_stdout = false;
  r = run(child({"write", "1", "abcdef\n"}), o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_EQ(r.result.out, "");
  EXPECT_FALSE(r.result.truncated);
}

TEST_F(Process, RunOnPtyTimeoutTerminatesAChildWaitingForInput) {
  for (auto timeout : timeout_steps) {
    auto ready = make_pipe();
    run_options o;
    o.pty = true;
    o.timeout = timeout;
    o.grace = pidfd_test::wait_bound;
    o.spawn.extra_fds = {{3, ready.write.get()}};
    run_outcome out;
    const auto start = std::chrono::steady_clock::now();
    // Nothing is typed: the prompt waits for ever.
    pidfd::async_run(io, child({"write", "1", "name? ", "ready", "3", "ask", "1", ""}), o,
                     [&](error_code ec, run_result res) { out = {true, ec, std::move(res)}; });
    ready.write.reset();
    const bool in_time = pidfd_test::wait_readable(ready.read.get(), timeout) &&
                         std::chrono::steady_clock::now() - start < timeout;
    ASSERT_TRUE(run_until([&] { return out.done; }));
    EXPECT_EQ(out.ec, asio::error::timed_out);
    EXPECT_EQ(out.result.status, killed(SIGTERM));
    EXPECT_EQ(out.result.err, "");
    if (!in_time) continue;  // the prompt may not have been written yet: try a longer one
    EXPECT_EQ(out.result.out, "name? ");
    return;
  }
  FAIL() << "the child never got ready within " << timeout_steps[2].count() << " ms";
}

TEST_F(Process, RunOnPtyInGroupScopeKillsWhatStillHoldsTheTerminal) {
  run_options o;
  o.pty = true;
  o.scope = pidfd::run_scope::process_group;
  o.drain = 200ms;
  // The background sleep ignores the SIGHUP the shell's exit sends the terminal's
  // foreground group, and keeps the terminal open.
  run_outcome r = run({"/bin/sh", "-c", "trap '' HUP; sleep 60 & echo $!"}, o);
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  EXPECT_TRUE(r.result.truncated);  // the terminal was still open when the drain ended
  EXPECT_EQ(r.result.killed_leftovers, 1u);
  ASSERT_TRUE(r.result.out.ends_with("\r\n")) << r.result.out;
  EXPECT_EQ(reap_orphan(std::stoi(r.result.out)), killed(SIGKILL));
}

TEST_F(Process, RunOnPtyWithAProcessGroupStartsNothing) {
  run_options o;
  o.pty = true;
  o.spawn.process_group = 0;  // cannot follow the new session
  run_outcome r = run(child({"exit", "0"}), o);
  EXPECT_EQ(r.ec, error_code(EPERM, boost::system::system_category()));
  EXPECT_EQ(r.result.status, exit_status());
  EXPECT_EQ(r.result.out, "");
}

// ---------------------------------------------------------------------------------------
// Resource usage

TEST_F(Process, UsageOfACpuBurningChild) {
  run_outcome r = run(child({"burn", "200"}));
  EXPECT_FALSE(r.ec);
  EXPECT_EQ(r.result.status, exited(0));
  ASSERT_TRUE(r.result.usage.has_value());
  EXPECT_GE(r.result.usage->user_cpu, 150ms);
}

TEST_F(Process, UsageOfAMemoryTouchingChild) {
  run_outcome r = run(child({"touch-mib", "64"}));
  EXPECT_FALSE(r.ec);
  ASSERT_TRUE(r.result.usage.has_value());
  EXPECT_GE(r.result.usage->max_rss_bytes, std::uint64_t{64} << 20);
}

TEST_F(Process, NoUsageWhenTheSpawnFailed) {
  run_outcome r = run({"/nonexistent"});
  EXPECT_EQ(r.ec, error_code(ENOENT, boost::system::system_category()));
  EXPECT_FALSE(r.result.usage.has_value());
}

TEST_F(Process, PidFdUsageOnlyOnceThisObjectReaped) {
  pidfd::pid_fd p = pidfd::spawn(child({"burn", "50"}));
  EXPECT_FALSE(p.usage().has_value());
  pidfd::pid_fd d = p.dup();
  EXPECT_EQ(pidfd_test::bounded_wait(p), exited(0));
  ASSERT_TRUE(p.usage().has_value());
  EXPECT_GE(p.usage()->user_cpu, 30ms);
  EXPECT_FALSE(d.usage().has_value());  // the dup did not reap it
  const pidfd::resource_usage u = *p.usage();
  pidfd::pid_fd moved = std::move(p);
  EXPECT_FALSE(p.usage().has_value());  // NOLINT(bugprone-use-after-move): specified as empty
  ASSERT_TRUE(moved.usage().has_value());
  EXPECT_EQ(*moved.usage(), u);
  moved.close();
  EXPECT_FALSE(moved.usage().has_value());
}

TEST_F(Process, PidFdUsageThroughAsyncWait) {
  pidfd::async_pidfd p(io, pidfd::spawn(child({"touch-mib", "8"})));
  std::optional<exit_status> st;
  p.async_wait([&](error_code, exit_status s) { st = s; });
  ASSERT_TRUE(run_until([&] { return st.has_value(); }));
  EXPECT_EQ(*st, exited(0));
  ASSERT_TRUE(p.core().usage().has_value());
  EXPECT_GE(p.core().usage()->max_rss_bytes, std::uint64_t{8} << 20);
}

TEST_F(Process, PidFdNoUsageWhenAnotherPartyReaped) {
  pidfd::pid_fd p = pidfd::spawn(child({"exit", "3"}));
  pidfd::pid_fd other = p.dup();
  EXPECT_EQ(pidfd_test::bounded_wait(other), exited(3));  // the other object reaps it
  error_code ec;
  const auto s = p.wait(ec);
  if (pidfd::kernel_support().info_exit) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(s, exited(3));
  } else {
    EXPECT_EQ(ec, make_error_code(pidfd::errc::status_unavailable));
  }
  EXPECT_FALSE(p.usage().has_value());
  EXPECT_TRUE(other.usage().has_value());
}

// ---------------------------------------------------------------------------------------
// basic_process::kill_on_destroy

TEST_F(Process, KillOnDestroyKillsAndReaps) {
  pidfd::pid_fd watcher;
  {
    pidfd::process p = pidfd::spawn(io.get_executor(), child({"pause"}));
    p.kill_on_destroy = true;
    watcher = p.pidfd.core().dup();
  }
  // Reaped: the pidfd no longer reaches the process, and no zombie is left.
  error_code ec;
  watcher.send_signal(0, ec);
  EXPECT_EQ(ec, error_code(ESRCH, boost::system::system_category()));
}

TEST_F(Process, KillOnDestroyOfAMovedFromObjectKillsNothing) {
  pidfd::pid_fd watcher;
  std::optional<pidfd::process> kept;
  {
    pidfd::process p = pidfd::spawn(io.get_executor(), child({"pause"}));
    p.kill_on_destroy = true;
    watcher = p.pidfd.core().dup();
    kept.emplace(std::move(p));
  }
  error_code ec;
  watcher.send_signal(0, ec);
  EXPECT_FALSE(ec);  // still running
  EXPECT_TRUE(kept->kill_on_destroy);
  kept.reset();
  watcher.send_signal(0, ec);
  EXPECT_EQ(ec, error_code(ESRCH, boost::system::system_category()));
}

TEST_F(Process, KillOnDestroyLeavesAnEndedChildsStatusAlone) {
  pidfd::process p = pidfd::spawn(io.get_executor(), child({"exit", "4"}));
  p.kill_on_destroy = true;
  EXPECT_EQ(pidfd_test::bounded_wait(p.pidfd.core()), exited(4));
  // Destroying it now neither signals nor waits.
}

// ---------------------------------------------------------------------------------------
// async_terminate with a scope

TEST_F(Process, AsyncTerminateOfAWholeGroup) {
  auto pid_pipe = make_pipe();
  auto hold = make_pipe();
  pidfd::spawn_options so;
  so.process_group = 0;
  so.extra_fds = {{3, pid_pipe.write.get()}, {4, hold.read.get()}};
  pidfd::async_pidfd leader(io, pidfd::spawn(child({"fork-hold", "3", "4", "pause"}), so));
  const pid_t member = std::stoi(read_line(pid_pipe.read.get()));
  std::optional<std::pair<error_code, exit_status>> result;
  leader.async_terminate(pidfd_test::wait_bound, pidfd::signal_scope::process_group,
                         [&](error_code ec, exit_status s) { result.emplace(ec, s); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  // Through the pidfd on 6.9+, with kill(-pgid) before (the leader is our unreaped child).
  EXPECT_FALSE(result->first);
  EXPECT_EQ(result->second, killed(SIGTERM));
  EXPECT_EQ(reap_orphan(member), killed(SIGTERM));
}

TEST_F(Process, AsyncTerminateOfAGroupAfterItsLeaderWasReaped) {
  auto pid_pipe = make_pipe();
  pidfd::spawn_options so;
  so.process_group = 0;
  so.extra_fds = {{3, pid_pipe.write.get()}};
  // The leader exits at once; the member it forked stays in the group.
  pidfd::async_pidfd leader(io, pidfd::spawn(child({"orphan-rest", "3", "pause"}), so));
  pid_pipe.write.reset();
  const pid_t member = std::stoi(read_line(pid_pipe.read.get()));
  std::optional<exit_status> reaped;
  leader.async_wait([&](error_code, exit_status s) { reaped = s; });
  ASSERT_TRUE(run_until([&] { return reaped.has_value(); }));
  EXPECT_EQ(*reaped, exited(0));
  std::optional<std::pair<error_code, exit_status>> result;
  leader.async_terminate(pidfd_test::wait_bound, pidfd::signal_scope::process_group,
                         [&](error_code ec, exit_status s) { result.emplace(ec, s); });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_FALSE(result->first);
  EXPECT_EQ(result->second, exited(0));  // at once, with the cached status
  if (pidfd::kernel_support().signal_scope) {
    EXPECT_EQ(reap_orphan(member), killed(SIGTERM));  // the pidfd still named the group
  } else {
    // Before 6.9 the group cannot be named safely once its leader is reaped.
    error_code ec;
    pidfd::pid_fd::open(member).kill(ec);
    EXPECT_FALSE(ec);
    EXPECT_EQ(reap_orphan(member), killed(SIGKILL));
  }
}

}  // namespace
