// The code snippets of docs/process.md. Every fenced C++ block of that page is a region
// between "// [name]" and "// [end]" here; check_snippets.py verifies they match, and this
// program runs each one against real programs.
#include "snippet_check.hpp"

#include <pidfd/process.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>

#include <chrono>
#include <functional>
#include <string_view>
#include <optional>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::error_code;
using pidfd::exit_status;

namespace {

void run_sync() {
  // [run_sync]
  pidfd::run_result r = pidfd::run({"uname", "-s"});
  std::printf("%s", r.out.c_str());  // "Linux\n"
  // [end]
  expect(r.out == "Linux\n" && r.status.success(), "run_sync");
}

void run_sync_ec() {
  // [run_sync_ec]
  pidfd::run_options options;
  options.input = "b\na\n";
  options.timeout = 10s;
  error_code ec;
  pidfd::run_result r = pidfd::run({"sort"}, options, ec);
  if (ec)  // the spawn failed, or the timeout expired (then r has the status and output)
    std::printf("sort: %s\n", ec.message().c_str());
  else if (!r.status.success())
    std::printf("sort %s: %s", r.status.to_string().c_str(), r.err.c_str());
  // [end]
  expect(!ec && r.out == "a\nb\n", "run_sync_ec");
}

void callback() {
  asio::io_context io;
  bool done = false;
  // [callback]
  pidfd::async_run(io, {"sh", "-c", "echo out; echo err >&2; exit 3"}, {},
                   [&](error_code ec, pidfd::run_result r) {
                     // ec is only for failures to run: the exit code is in r.status
                     std::printf("%s: out=%s err=%s", r.status.to_string().c_str(),
                                 r.out.c_str(), r.err.c_str());
                     done = !ec && r.status.code() == 3 && r.out == "out\n";
                   });
  io.run();
  // [end]
  expect(done, "callback");
}

// [coroutine]
asio::awaitable<void> build_step() {
  auto ex = co_await asio::this_coro::executor;
  pidfd::run_options options;
  options.timeout = 30s;                      // then SIGTERM, and SIGKILL after options.grace
  options.spawn.cwd = "/";
  options.spawn.env_changes = {{"LC_ALL", "C"}, {"TMPDIR", std::nullopt}};
  std::vector<std::string> argv{"ls", "-d", "/"};  // GCC 12: no braced list in co_await
  auto [ec, r] = co_await pidfd::async_run(ex, argv, options,
                                           asio::as_tuple(asio::use_awaitable));
  if (ec == asio::error::timed_out)
    std::printf("timed out after %s\n", r.status.to_string().c_str());
  else if (!ec)
    std::printf("ls: %s", r.out.c_str());    // "ls: /\n"
}
// [end]

void coroutine() {
  asio::io_context io;
  bool done = false;
  asio::co_spawn(io, build_step(), [&](std::exception_ptr e) { done = !e; });
  io.run();
  expect(done, "coroutine");
}

void pipeline_timeout() {
  asio::io_context io;
  error_code got;
  exit_status status;
  // [group]
  pidfd::run_options options;
  options.timeout = 100ms;
  options.grace = 2s;
  options.spawn.process_group = 0;  // sh leads a group: signals reach the whole pipeline
  pidfd::async_run(io, {"sh", "-c", "sleep 60 | sleep 60"}, options,
                   [&](error_code ec, pidfd::run_result r) {
                     got = ec;                // asio::error::timed_out
                     status = r.status;       // killed by signal 15 (SIGTERM)
                   });
  io.run();  // returns at once: no sleep is left holding the pipe
  // [end]
  expect(got == asio::error::timed_out && status.signal() == SIGTERM, "group");
}

void cancellation() {
  asio::io_context io;
  error_code got;
  exit_status status;
  // [cancel]
  asio::cancellation_signal stop;
  pidfd::async_run(io, {"sleep", "60"}, {},
                   asio::bind_cancellation_slot(stop.slot(), [&](error_code ec, pidfd::run_result r) {
                     got = ec;            // operation_aborted, once the process has been reaped
                     status = r.status;   // killed by signal 9 (SIGKILL)
                   }));
  stop.emit(asio::cancellation_type::terminal);  // terminal: SIGKILL; partial/total: SIGTERM first
  io.run();
  // [end]
  expect(got == asio::error::operation_aborted && status.signal() == SIGKILL, "cancel");
}

void pipes() {
  asio::io_context io;
  std::string line;
  exit_status status;
  // [pipes]
  pidfd::spawn_options options;
  options.stdin_fd = pidfd::stdio_pipe;
  options.stdout_fd = pidfd::stdio_pipe;
  pidfd::process child = pidfd::spawn(io, {"tr", "a-z", "A-Z"}, options);

  asio::async_write(child.stdin_pipe, asio::buffer(std::string_view("hello\n")),
                    [&](error_code, std::size_t) { child.stdin_pipe.close(); });  // EOF for tr
  asio::async_read_until(child.stdout_pipe, asio::dynamic_buffer(line), '\n',
                         [](error_code, std::size_t) {});
  child.pidfd.async_wait([&](error_code, exit_status s) { status = s; });
  io.run();  // line == "HELLO\n"
  // [end]
  expect(line == "HELLO\n" && status.success(), "pipes");
}

void merged_streams() {
  asio::io_context io;
  std::string merged;
  exit_status status;
  // [merged]
  pidfd::spawn_options options;
  options.stdout_fd = pidfd::stdio_pipe;
  options.stderr_fd = pidfd::stdio_stdout;  // 2>&1
  pidfd::process child =
      pidfd::spawn(io, {"sh", "-c", "echo out; echo err >&2; echo out2"}, options);
  asio::async_read(child.stdout_pipe, asio::dynamic_buffer(merged),
                   [](error_code, std::size_t) {});  // completes with eof
  child.pidfd.async_wait([&](error_code, exit_status s) { status = s; });
  io.run();  // merged == "out\nerr\nout2\n"; child.stderr_pipe.is_open() == false
  // [end]
  expect(merged == "out\nerr\nout2\n" && status.success() && !child.stderr_pipe.is_open(),
         "merged");
}

void terminal() {
  asio::io_context io;
  std::string screen;
  std::string rest;
  // [terminal]
  // A program that prompts, and colours its answer only when it writes to a terminal.
  const char* script =
      "printf 'name? '; read name; "
      "if [ -t 1 ]; then printf '\\033[32mhello %s\\033[0m\\n' \"$name\"; "
      "else echo \"hello $name\"; fi";
  pidfd::spawn_options options;
  options.stdin_fd = options.stdout_fd = options.stderr_fd = pidfd::stdio_pty;
  pidfd::process child = pidfd::spawn(io, {"sh", "-c", script}, options);
  child.resize_pty(50, 132);  // TIOCSWINSZ; the default is 24 x 80

  asio::async_read_until(child.pty, asio::dynamic_buffer(screen), "? ",
                         [&](error_code ec, std::size_t) {
                           if (ec) return;
                           asio::async_write(child.pty, asio::buffer(std::string_view("ann\n")),
                                             [](error_code, std::size_t) {});
                           // Reads end with eof once the child and its terminal are gone.
                           asio::async_read(child.pty, asio::dynamic_buffer(rest),
                                            [](error_code, std::size_t) {});
                         });
  child.pidfd.async_wait([](error_code, exit_status) {});
  io.run();
  // screen == "name? ", rest == "ann\r\n\033[32mhello ann\033[0m\r\n": the terminal echoed
  // the answer and turned each "\n" into "\r\n".
  // [end]
  expect(screen == "name? " && rest == "ann\r\n\033[32mhello ann\033[0m\r\n", "terminal");
}

void run_terminal() {
  asio::io_context io;
  pidfd::run_result result;
  // [run_terminal]
  pidfd::run_options options;
  options.pty = true;                            // stdin, stdout and stderr: one new terminal
  options.pty_size = {.rows = 50, .cols = 132};  // set before the program starts
  options.input = "ann\n";                       // typed, then ^D (end of file)
  const char* script =
      "read name; if [ -t 1 ]; then printf '\\033[32mhello %s\\033[0m\\n' \"$name\"; fi; "
      "stty size";
  pidfd::async_run(io, {"sh", "-c", script}, options,
                   [&](error_code, pidfd::run_result r) { result = std::move(r); });
  io.run();
  // result.out == "ann\r\n\033[32mhello ann\033[0m\r\n50 132\r\n": the echo of the typing,
  // then the program's output, "\n" shown as "\r\n"; result.err == "".
  // [end]
  expect(result.out == "ann\r\n\033[32mhello ann\033[0m\r\n50 132\r\n" && result.err.empty() &&
             result.status.exited() && result.status.code() == 0,
         "run_terminal");
}

void streaming() {
  asio::io_context io;
  std::vector<std::string> lines;
  pidfd::run_result result;
  // [streaming]
  pidfd::run_options options;
  options.whole_lines = true;     // one call per line, '\n' included; long lines in pieces
  options.capture_stdout = false; // stream only: nothing is kept in result.out
  options.on_output = [&](pidfd::output_stream stream, std::string_view piece) {
    // One call at a time, in order, before capture; must not block or throw.
    if (stream == pidfd::output_stream::out) lines.emplace_back(piece);
  };
  pidfd::async_run(io, {"sh", "-c", "echo one; echo two; printf three"}, options,
                   [&](error_code, pidfd::run_result r) { result = std::move(r); });
  io.run();  // lines == {"one\n", "two\n", "three"}: the unterminated rest comes at EOF
  // [end]
  expect(lines == std::vector<std::string>{"one\n", "two\n", "three"} && result.out.empty() &&
             !result.truncated,
         "streaming");
}

void large_pipes() {
  asio::io_context io;
  std::size_t streamed = 0;
  pidfd::run_result result;
  // [large_pipes]
  pidfd::run_options options;
  options.pipe_capacity = std::size_t{1} << 20;  // 1 MiB pipes for stdout and stderr
  options.capture_stdout = false;
  options.on_output = [&](pidfd::output_stream, std::string_view piece) {
    streamed += piece.size();  // pieces of up to 64 KiB, read back to back
  };
  pidfd::async_run(io, {"head", "-c", "100000000", "/dev/zero"}, options,
                   [&](error_code, pidfd::run_result r) { result = std::move(r); });
  io.run();  // streamed == 100000000
  // [end]
  expect(streamed == 100000000 && result.out.empty() && result.status.exited() &&
             result.status.code() == 0,
         "large_pipes");
}

void run_merged() {
  asio::io_context io;
  pidfd::run_result result;
  // [run_merged]
  pidfd::run_options options;
  options.spawn.stderr_fd = pidfd::stdio_stdout;  // 2>&1: one pipe, in write order
  pidfd::async_run(io, {"sh", "-c", "echo out; echo err >&2"}, options,
                   [&](error_code, pidfd::run_result r) { result = std::move(r); });
  io.run();  // result.out == "out\nerr\n", result.err == ""
  // [end]
  expect(result.out == "out\nerr\n" && result.err.empty(), "run_merged");
}

void group_scope() {
  asio::io_context io;
  pidfd::run_result result;
  // [group_scope]
  pidfd::run_options options;
  options.scope = pidfd::run_scope::process_group;  // the child leads a new group
  pidfd::async_run(io, {"sh", "-c", "sleep 60 >/dev/null & echo started"}, options,
                   [&](error_code, pidfd::run_result r) { result = std::move(r); });
  io.run();  // result.killed_leftovers == 1: the background sleep was killed at the end
  // [end]
  expect(result.killed_leftovers == 1 && result.out == "started\n", "group_scope");
}

void usage() {
  asio::io_context io;
  std::optional<pidfd::resource_usage> u;
  // [usage]
  pidfd::async_run(io, {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}, {},
                   [&](error_code, pidfd::run_result r) {
                     u = r.usage;  // nullopt only if the spawn failed
                     std::printf("user %lld us, system %lld us, peak %llu bytes\n",
                                 static_cast<long long>(u->user_cpu.count()),
                                 static_cast<long long>(u->system_cpu.count()),
                                 static_cast<unsigned long long>(u->max_rss_bytes));
                   });
  io.run();
  // [end]
  expect(u && u->max_rss_bytes > 0, "usage");
}

void kill_on_destroy() {
  asio::io_context io;
  pidfd::pid_fd watcher;
  {
    // [kill_on_destroy]
    pidfd::process child = pidfd::spawn(io, {"sleep", "60"});
    child.kill_on_destroy = true;  // without it, a dropped unreaped child stays a zombie
    // [end]
    watcher = child.pidfd.core().dup();
  }  // SIGKILL and reaped here
  error_code ec;
  watcher.send_signal(0, ec);
  expect(ec == boost::system::errc::no_such_process, "kill_on_destroy");
}

void conversation() {
  asio::io_context io;
  std::vector<std::string> answers;
  exit_status status;
  bool eof = false;
  // [conversation]
  pidfd::spawn_options options;
  options.stdin_fd = pidfd::stdio_pipe;
  options.stdout_fd = pidfd::stdio_pipe;
  pidfd::process child = pidfd::spawn(
      io, {"sh", "-c", "while read -r q; do echo \"re: $q\"; done"}, options);

  std::vector<std::string> questions{"first\n", "second\n"};
  std::string buffer;  // kept between reads: a read may bring more than one line
  std::string question;
  std::function<void()> ask = [&] {
    if (answers.size() == questions.size()) return child.stdin_pipe.close();  // EOF: done
    question = questions[answers.size()];
    asio::async_write(child.stdin_pipe, asio::buffer(question), [&](error_code ec, std::size_t) {
      if (ec) return;
      asio::async_read_until(child.stdout_pipe, asio::dynamic_buffer(buffer), '\n',
                             [&](error_code ec, std::size_t n) {
                               if (ec) return void(eof = true);  // eof: the child is gone
                               answers.push_back(buffer.substr(0, n));
                               buffer.erase(0, n);
                               ask();
                             });
    });
  };
  ask();
  // The exit and the end of stdout are independent: either may come first.
  child.pidfd.async_wait([&](error_code, exit_status s) { status = s; });
  io.run();  // answers == {"re: first\n", "re: second\n"}
  // [end]
  expect(answers == std::vector<std::string>{"re: first\n", "re: second\n"} &&
             status.success() && !eof,
         "conversation");
}

void ctrl_c() {
  asio::io_context io;
  error_code got;
  // [ctrl_c]
  // The terminal sends SIGINT to its foreground process group: our children too, unless
  // they lead their own. Give them their own group and decide yourself what Ctrl-C does.
  pidfd::run_options options;
  options.scope = pidfd::run_scope::process_group;  // out of the terminal's group
  options.grace = 2s;
  asio::signal_set interrupt(io, SIGINT);
  asio::cancellation_signal stop;
  interrupt.async_wait([&](error_code ec, int) {
    if (!ec) stop.emit(asio::cancellation_type::partial);  // SIGTERM to the group, then SIGKILL
  });
  pidfd::async_run(io, {"sh", "-c", "sleep 60 | sleep 60"}, options,
                   asio::bind_cancellation_slot(stop.slot(), [&](error_code ec, pidfd::run_result) {
                     got = ec;  // operation_aborted after Ctrl-C
                     interrupt.cancel();
                   }));
  // [end]
  ::raise(SIGINT);  // what Ctrl-C does (the signal_set turns it into a wake-up)
  io.run();
  expect(got == asio::error::operation_aborted, "ctrl_c");
}

}  // namespace

int main() {
  run_sync();
  run_sync_ec();
  callback();
  coroutine();
  pipeline_timeout();
  cancellation();
  pipes();
  merged_streams();
  terminal();
  run_terminal();
  streaming();
  large_pipes();
  run_merged();
  group_scope();
  usage();
  kill_on_destroy();
  conversation();
  ctrl_c();
  return snippets_result();
}
