// The code snippets of docs/process.md. Every fenced C++ block of that page is a region
// between "// [name]" and "// [end]" here; check_snippets.py verifies they match, and this
// program runs each one against real programs.
#include <pidfd/process.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::error_code;
using pidfd::exit_status;

namespace {

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "snippet failed: %s\n", what);
    ++failures;
  }
}

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
  if (failures == 0) std::printf("all snippets ran as documented\n");
  return failures == 0 ? 0 : 1;
}
