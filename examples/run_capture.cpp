// Runs several commands at once with pidfd::async_run from coroutines, each with a
// timeout, collects their output, and prints a summary table:
//
//   command                         status                        time   out  err
//   echo hello                      exited with code 0            2 ms     6    0
//   ...
//
// It checks what each command should have done and exits 1 if one did not (so it also
// serves as a smoke test under `meson test`).
#include <pidfd/process.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct job {
  std::string label;
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout;
  std::function<bool(const pidfd::error_code&, const pidfd::run_result&)> expected;
};

struct outcome {
  pidfd::error_code ec;
  pidfd::run_result result;
};

asio::awaitable<void> run_one(const job& j, outcome& o) {
  pidfd::run_options options;
  options.timeout = j.timeout;
  options.grace = 1s;
  // Each job leads its own process group, so a timeout stops a whole pipeline.
  options.spawn.process_group = 0;
  std::tie(o.ec, o.result) = co_await pidfd::async_run(
      co_await asio::this_coro::executor, j.argv, options,
      asio::as_tuple(asio::use_awaitable));
}

}  // namespace

// NOLINTNEXTLINE(bugprone-exception-escape): errors end the example, uncaught
int main() {
  using pidfd::error_code;
  using pidfd::run_result;
  std::vector<job> jobs = {
      {"echo hello", {"echo", "hello"}, 10s,
       [](const error_code& ec, const run_result& r) {
         return !ec && r.status.success() && r.out == "hello\n";
       }},
      {"sh: stderr, exit 3", {"sh", "-c", "echo oops >&2; exit 3"}, 10s,
       [](const error_code& ec, const run_result& r) {
         return !ec && r.status.code() == 3 && r.err == "oops\n";
       }},
      {"sh: a pipeline, timed out", {"sh", "-c", "sleep 60 | sleep 60"}, 200ms,
       [](const error_code& ec, const run_result& r) {
         return ec == asio::error::timed_out && r.status.signal() == SIGTERM;
       }},
      {"sh: 100000 bytes",
       {"sh", "-c", "i=0; while [ $i -lt 10000 ]; do echo 123456789; i=$((i+1)); done"}, 60s,
       [](const error_code& ec, const run_result& r) {
         return !ec && r.status.success() && r.out.size() == 100000;
       }},
      {"no-such-program", {"no-such-program"}, 10s,
       [](const error_code& ec, const run_result& r) {
         return ec == boost::system::errc::no_such_file_or_directory && !r.status.exited();
       }},
  };

  asio::io_context io;
  std::vector<outcome> outcomes(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i)
    asio::co_spawn(io, run_one(jobs[i], outcomes[i]), asio::detached);
  io.run();

  int failures = 0;
  std::printf("%-28s %-52s %8s %7s %5s\n", "command", "status", "time", "out", "err");
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const job& j = jobs[i];
    const outcome& o = outcomes[i];
    std::string status = o.ec ? o.ec.message() : o.result.status.to_string();
    if (o.ec && (o.result.status.exited() || o.result.status.signaled()))
      status += ", " + o.result.status.to_string();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(o.result.elapsed);
    std::printf("%-28s %-52s %5lld ms %7zu %5zu\n", j.label.c_str(), status.c_str(),
                static_cast<long long>(ms.count()), o.result.out.size(), o.result.err.size());
    if (!j.expected(o.ec, o.result)) {
      std::printf("  ^ unexpected result\n");
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
