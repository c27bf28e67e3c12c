// Run benchmark: the cost of running a program and collecting its output.
//
// (a) N runs (default 2000) of a program that prints "hello\n", 32 in flight, its stdout
//     collected and its exit status checked, by, in one process, round by round in
//     rotating order:
//       hand Asio           pidfd::spawn with a pipe2(O_CLOEXEC) write end as stdout_fd,
//                           the read end in an asio::readable_pipe, async_read to EOF into
//                           a string, and async_pidfd::async_wait: the straightforward code
//                           an experienced user writes
//       hand Asio +err      the same with a second pipe for stderr, read the same way
//       async_run (out)     pidfd::async_run with capture_stderr = false (what hand Asio does)
//       async_run           pidfd::async_run with the default options (stdout and stderr
//                           captured): the call the targets are about
//       Boost.Process v2    bp2::process with process_stdio{{}, pipe, {}} + async_read to EOF
//                           + async_wait (its own fork-based launcher)
//     The child is /bin/echo hello (default) or, with "helper" as 4th argument, the static
//     bench helper in its "hello" mode. Every run's output must be exactly "hello\n" (and
//     its stderr empty where captured) with exit status 0, or the benchmark fails.
// (b) a child (the static helper, "spew") writing S bytes (default 1 GiB) to its stdout in
//     64 KiB writes, read by
//       read() loop         a blocking read() loop with a 64 KiB buffer on a pipe2 pipe
//                           given as stdout_fd to pidfd::spawn (the floor)
//       hand Asio loop      async_read_some with a 64 KiB buffer on an asio::readable_pipe,
//                           until EOF
//       async_run           output_limit = 64 KiB: the first 64 KiB kept, the rest read and
//                           discarded
//       async_run chunks    on_output with the pieces as read (capture off): each piece
//                           counted, none copied
//     and a child (this program, "lines") writing S bytes of 80-byte lines ('\n' included;
//     the last one unterminated when S is not a multiple of 80) in 64 KiB writes, read by
//       read() lines        the same blocking read() loop (its floor)
//       read() split        the read() loop cutting lines itself (memchr) and handing each
//                           to a std::function that checks and counts it
//       async_run lines     on_output with whole_lines (capture off): each line checked
//                           (80 bytes, ending in '\n') and counted, none copied
//     Each of them but the discarding async_run runs again ("1M") with every pipe 1 MiB:
//     the read() loops' and the hand Asio loop's set with F_SETPIPE_SZ, async_run's with
//     run_options::pipe_capacity (the default is 64 KiB), each compared with the read()
//     loop and the hand Asio loop on pipes of the same size.
//     Throughput in GiB/s, parent CPU per GiB. The byte counts, line counts, the kept bytes
//     and the status are checked.
// (c) N runs of /bin/true, 32 in flight, async_run with the default options and each
//     run_scope: process, process_group, cgroup (a new cgroup v2 per run, under our own;
//     left out, and said so, where it cannot be made). Status 0, killed_leftovers 0 and a
//     usage are checked.
// Every figure is the median over the rounds; "x" columns are the median of the per-round
// ratios (paired round by round).
//
// Run pinned:  taskset -c 0 build/bench/asio-pidfd-bench-run [rounds] [N] [MiB] [echo|helper]
// RUN_BENCH_PARTS=a|b|c|ab|... (default abc). System calls or page faults of one
// implementation, run once: RUN_BENCH_ONLY=hand|hand_err|lib_out|lib|bp2 (a),
// b_read|b_hand|b_lib|b_chunks|b_read_lines|b_read_split|b_lines (b; all but b_lib also as
// b_..._1m, with 1 MiB pipes), c_process|c_group|c_cgroup (c), e.g.
//   RUN_BENCH_ONLY=lib strace -c build/bench/asio-pidfd-bench-run 1 1000
//   RUN_BENCH_ONLY=lib perf stat --no-inherit -e task-clock,page-faults build/bench/...
#include <pidfd/async_pidfd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

// Boost.Process v2: header-only up to Boost 1.87, the boost_process library from 1.88
// (bench/meson.build builds this benchmark only where it links).
#include "bp2.hpp"
#include "stats.hpp"
#include <boost/process/v2/stdio.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/readable_pipe.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;
using boost::system::error_code;

constexpr int in_flight = 32;
constexpr std::size_t chunk = std::size_t{64} * 1024;

std::string helper;                      // path of asio-pidfd-bench-exit-helper
std::vector<std::string> hello_argv;     // the (a) child: {"/bin/echo", "hello"} or {helper, "hello"}
std::string hello_exe;                   // for Boost.Process: the program ...
std::vector<std::string> hello_args;     // ... and its arguments after argv[0]

[[noreturn]] void fail(const std::string& what) {
  (void)std::fprintf(stderr, "run benchmark FAILED: %s\n", what.c_str());
  (void)std::fflush(nullptr);
  std::_Exit(2);
}

[[noreturn]] void die(const char* what) {
  std::perror(what);
  (void)std::fflush(nullptr);
  std::_Exit(2);
}

struct throughput {
  double wall, cpu, child_cpu;  // seconds
};

template <class Body>
throughput measure(Body body) {
  const double c0 = bench::cpu_seconds(), k0 = bench::cpu_seconds(RUSAGE_CHILDREN);
  const auto t0 = clock_type::now();
  body();
  return {std::chrono::duration<double>(clock_type::now() - t0).count(), bench::cpu_seconds() - c0,
          bench::cpu_seconds(RUSAGE_CHILDREN) - k0};
}

// Checks one run of (a); fails loudly on anything but "hello\n", empty stderr, exit 0.
void check_hello(const char* who, const std::string& out, const std::string* err, bool ok) {
  if (out != "hello\n") fail(std::string(who) + ": stdout was \"" + out + "\"");
  if (err && !err->empty()) fail(std::string(who) + ": stderr was \"" + *err + "\"");
  if (!ok) fail(std::string(who) + ": the child did not exit with 0");
}

// Runs n jobs, in_flight at a time: launch(io, done) starts one and calls done() once it has
// been checked.
template <class Launch>
throughput many(int n, Launch launch) {
  int finished = 0;
  const throughput t = measure([&] {
    asio::io_context io;
    int started = 0;
    std::function<void()> next = [&] {
      if (started == n) return;
      ++started;
      launch(io, [&] {
        ++finished;
        next();
      });
    };
    for (int i = 0; i < std::min(n, in_flight); ++i) next();
    io.run();
  });
  if (finished != n) fail("only " + std::to_string(finished) + " of " + std::to_string(n) + " runs finished");
  return t;
}

// ---------------------------------------------------------------------------------------
// (a) hand-written: pipe2 + pidfd::spawn + readable_pipe + async_read + async_pidfd.

struct hand_job {
  explicit hand_job(asio::io_context& io) : proc(io), out(io), err(io) {}
  pidfd::async_pidfd proc;
  asio::readable_pipe out, err;
  std::string out_s, err_s;
  pidfd::exit_status status;
  int pending = 0;
  std::function<void()> done;
  bool with_err = false;

  void step() {
    if (--pending > 0) return;
    check_hello("hand Asio", out_s, with_err ? &err_s : nullptr, status.success());
    done();
  }
};

template <class Done>
void hand_launch(asio::io_context& io, bool with_err, Done done) {
  auto job = std::make_shared<hand_job>(io);
  job->done = std::move(done);
  job->with_err = with_err;
  int o[2], e[2] = {-1, -1};
  if (::pipe2(o, O_CLOEXEC) != 0) die("pipe2");
  if (with_err && ::pipe2(e, O_CLOEXEC) != 0) die("pipe2");
  pidfd::spawn_options so;
  so.stdout_fd = o[1];
  if (with_err) so.stderr_fd = e[1];
  job->proc.assign(pidfd::spawn(hello_argv, so));
  ::close(o[1]);
  job->out.assign(o[0]);
  if (with_err) {
    ::close(e[1]);
    job->err.assign(e[0]);
  }
  auto read_to_eof = [&job](asio::readable_pipe& p, std::string& s) {
    ++job->pending;
    asio::async_read(p, asio::dynamic_buffer(s), [job](error_code ec, std::size_t) {
      if (ec != asio::error::eof) fail("hand Asio: read: " + ec.message());
      job->step();
    });
  };
  read_to_eof(job->out, job->out_s);
  if (with_err) read_to_eof(job->err, job->err_s);
  ++job->pending;
  job->proc.async_wait([job](error_code ec, pidfd::exit_status s) {
    if (ec) fail("hand Asio: wait: " + ec.message());
    job->status = s;
    job->step();
  });
}

throughput a_hand(int n) {
  return many(n, [](asio::io_context& io, auto done) { hand_launch(io, false, done); });
}
throughput a_hand_err(int n) {
  return many(n, [](asio::io_context& io, auto done) { hand_launch(io, true, done); });
}

// (a) the library.
template <class Done>
void lib_launch(asio::io_context& io, bool capture_stderr, Done done) {
  pidfd::run_options opt;
  opt.capture_stderr = capture_stderr;
  pidfd::async_run(io, hello_argv, std::move(opt),
                   [done, capture_stderr](error_code ec, pidfd::run_result r) {
                     if (ec) fail("async_run: " + ec.message());
                     check_hello("async_run", r.out, capture_stderr ? &r.err : nullptr,
                                 r.status.success());
                     if (r.truncated) fail("async_run: truncated");
                     done();
                   });
}

throughput a_lib_out(int n) {
  return many(n, [](asio::io_context& io, auto done) { lib_launch(io, false, done); });
}
throughput a_lib(int n) {
  return many(n, [](asio::io_context& io, auto done) { lib_launch(io, true, done); });
}

// (a) Boost.Process v2.
struct bp2_job {
  explicit bp2_job(asio::io_context& io) : out(io) {}
  asio::readable_pipe out;
  std::optional<bp2::process> proc;
  std::string out_s;
  int code = -1;
  int pending = 2;
  std::function<void()> done;

  void step() {
    if (--pending > 0) return;
    check_hello("Boost.Process v2", out_s, nullptr, code == 0);
    done();
  }
};

throughput a_bp2(int n) {
  return many(n, [](asio::io_context& io, auto done) {
    auto job = std::make_shared<bp2_job>(io);
    job->done = std::move(done);
    job->proc.emplace(io.get_executor(), hello_exe, hello_args,
                      bp2::process_stdio{{}, job->out, {}});
    asio::async_read(job->out, asio::dynamic_buffer(job->out_s), [job](error_code ec, std::size_t) {
      if (ec != asio::error::eof) fail("Boost.Process v2: read: " + ec.message());
      job->step();
    });
    job->proc->async_wait([job](error_code ec, int code) {
      if (ec) fail("Boost.Process v2: wait: " + ec.message());
      job->code = code;
      job->step();
    });
  });
}

// ---------------------------------------------------------------------------------------
// (b) a child writing `bytes` to stdout.

std::vector<std::string> spew_argv(std::uint64_t bytes) {
  return {helper, "spew", std::to_string(bytes)};
}

void check_pattern(const char* who, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != static_cast<char>((i % chunk) % 251)) fail(std::string(who) + ": wrong bytes");
}

// A new pipe (pipe2, O_CLOEXEC) of the given capacity (0: the default), as async_run's
// pipe_capacity makes it.
void make_pipe(int (&p)[2], std::size_t capacity) {
  if (::pipe2(p, O_CLOEXEC) != 0) die("pipe2");
  if (capacity != 0 && ::fcntl(p[0], F_SETPIPE_SZ, static_cast<unsigned long>(capacity)) < 0)
    die("fcntl(F_SETPIPE_SZ)");
}

// Spawns the spewing child with its stdout on a new pipe; returns the read end.
pidfd::pid_fd spawn_spew(std::uint64_t bytes, std::size_t capacity, int& read_end) {
  int p[2];
  make_pipe(p, capacity);
  pidfd::spawn_options so;
  so.stdout_fd = p[1];
  pidfd::pid_fd child = pidfd::spawn(spew_argv(bytes), so);
  ::close(p[1]);
  read_end = p[0];
  return child;
}

throughput b_read(std::uint64_t bytes, std::size_t capacity) {
  static std::unique_ptr<char[]> buf(new char[chunk]);
  return measure([bytes, capacity] {
    int fd = -1;
    pidfd::pid_fd child = spawn_spew(bytes, capacity, fd);
    std::uint64_t total = 0;
    for (;;) {
      const ssize_t k = ::read(fd, buf.get(), chunk);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) die("read");
      if (k == 0) break;
      if (total == 0) check_pattern("read() loop", buf.get(), static_cast<std::size_t>(k));
      total += static_cast<std::uint64_t>(k);
    }
    ::close(fd);
    const pidfd::exit_status s = child.wait();
    if (total != bytes) fail("read() loop: read " + std::to_string(total) + " bytes");
    if (!s.success()) fail("read() loop: the child did not exit with 0");
  });
}

throughput b_hand(std::uint64_t bytes, std::size_t capacity) {
  static std::unique_ptr<char[]> buf(new char[chunk]);
  return measure([bytes, capacity] {
    asio::io_context io;
    int fd = -1;
    pidfd::async_pidfd child(io, spawn_spew(bytes, capacity, fd));
    asio::readable_pipe pipe(io, fd);
    std::uint64_t total = 0;
    bool reaped = false, eof = false;
    std::function<void()> read = [&] {
      pipe.async_read_some(asio::buffer(buf.get(), chunk), [&](error_code ec, std::size_t k) {
        if (ec == asio::error::eof) {
          eof = true;
          return;
        }
        if (ec) fail("hand Asio loop: read: " + ec.message());
        if (total == 0) check_pattern("hand Asio loop", buf.get(), k);
        total += k;
        read();
      });
    };
    read();
    child.async_wait([&](error_code ec, pidfd::exit_status s) {
      if (ec) fail("hand Asio loop: wait: " + ec.message());
      if (!s.success()) fail("hand Asio loop: the child did not exit with 0");
      reaped = true;
    });
    io.run();
    if (!eof || !reaped) fail("hand Asio loop: did not finish");
    if (total != bytes) fail("hand Asio loop: read " + std::to_string(total) + " bytes");
  });
}

throughput b_lib(std::uint64_t bytes, std::size_t capacity) {
  return measure([bytes, capacity] {
    asio::io_context io;
    pidfd::run_options opt;
    opt.pipe_capacity = capacity;
    opt.output_limit = chunk;
    bool finished = false;
    pidfd::async_run(io, spew_argv(bytes), std::move(opt),
                     [&](error_code ec, pidfd::run_result r) {
                       if (ec) fail("async_run: " + ec.message());
                       if (!r.status.success()) fail("async_run: the child did not exit with 0");
                       const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(bytes, chunk));
                       if (r.out.size() != want) fail("async_run: kept " + std::to_string(r.out.size()) + " bytes");
                       check_pattern("async_run", r.out.data(), r.out.size());
                       if (r.truncated != (bytes > chunk)) fail("async_run: wrong truncated flag");
                       if (!r.err.empty()) fail("async_run: stderr not empty");
                       finished = true;
                     });
    io.run();
    if (!finished) fail("async_run: did not finish");
  });
}

// (b) streaming through on_output, capture off: nothing of the output is kept or copied.
throughput b_chunks(std::uint64_t bytes, std::size_t capacity) {
  return measure([bytes, capacity] {
    asio::io_context io;
    pidfd::run_options opt;
    opt.pipe_capacity = capacity;
    opt.capture_stdout = false;
    opt.capture_stderr = false;
    std::uint64_t total = 0;
    opt.on_output = [&total](pidfd::output_stream which, std::string_view piece) {
      if (which != pidfd::output_stream::out) fail("async_run chunks: output on stderr");
      if (total == 0) check_pattern("async_run chunks", piece.data(), piece.size());
      total += piece.size();
    };
    bool finished = false;
    pidfd::async_run(io, spew_argv(bytes), std::move(opt), [&](error_code ec, const pidfd::run_result& r) {
      if (ec) fail("async_run chunks: " + ec.message());
      if (!r.status.success()) fail("async_run chunks: the child did not exit with 0");
      if (!r.out.empty() || r.truncated) fail("async_run chunks: kept output or truncated");
      finished = true;
    });
    io.run();
    if (!finished) fail("async_run chunks: did not finish");
    if (total != bytes) fail("async_run chunks: streamed " + std::to_string(total) + " bytes");
  });
}

constexpr std::size_t line_length = 80;  // '\n' included

// The lines child: `bytes` bytes of 80-byte lines ("aaa...a\n", "bbb...b\n", ... "zzz...z\n",
// "aaa...a\n", ...) to stdout in writes of 64 KiB; the last line unterminated when
// `bytes` is not a multiple of 80. Exits 0, or 1 if a write fails.
[[noreturn]] void lines_child(std::uint64_t bytes) {
  // 26 lines, then enough of the next ones that a 64 KiB write may start in any of the 26.
  constexpr std::size_t period = 26 * line_length;
  static char text[period + chunk];
  for (std::size_t i = 0; i < sizeof text; ++i) {
    const std::size_t col = i % line_length;
    text[i] = col == line_length - 1 ? '\n' : static_cast<char>('a' + (i / line_length) % 26);
  }
  std::uint64_t written = 0;
  while (written < bytes) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, bytes - written));
    const char* p = text + written % period;
    for (std::size_t left = n; left > 0;) {
      const ssize_t k = ::write(1, p, left);
      if (k <= 0) ::_exit(1);
      p += k;
      left -= static_cast<std::size_t>(k);
    }
    written += n;
  }
  ::_exit(0);
}

std::vector<std::string> lines_argv(std::uint64_t bytes) {
  return {std::filesystem::read_symlink("/proc/self/exe").string(), "lines", std::to_string(bytes)};
}

throughput b_read_lines(std::uint64_t bytes, std::size_t capacity) {
  static std::unique_ptr<char[]> buf(new char[chunk]);
  return measure([bytes, capacity] {
    int p[2];
    make_pipe(p, capacity);
    pidfd::spawn_options so;
    so.stdout_fd = p[1];
    pidfd::pid_fd child = pidfd::spawn(lines_argv(bytes), so);
    ::close(p[1]);
    std::uint64_t total = 0;
    for (;;) {
      const ssize_t k = ::read(p[0], buf.get(), chunk);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) die("read");
      if (k == 0) break;
      total += static_cast<std::uint64_t>(k);
    }
    ::close(p[0]);
    const pidfd::exit_status s = child.wait();
    if (total != bytes) fail("read() lines: read " + std::to_string(total) + " bytes");
    if (!s.success()) fail("read() lines: the child did not exit with 0");
  });
}

// The read() loop cutting the stream into lines itself (memchr, a partial line kept in a
// string between reads) and handing each to a std::function, as async_run does: what
// whole lines cost without the library.
throughput b_read_split(std::uint64_t bytes, std::size_t capacity) {
  static std::unique_ptr<char[]> buf(new char[chunk]);
  return measure([bytes, capacity] {
    int p[2];
    make_pipe(p, capacity);
    pidfd::spawn_options so;
    so.stdout_fd = p[1];
    pidfd::pid_fd child = pidfd::spawn(lines_argv(bytes), so);
    ::close(p[1]);
    std::uint64_t lines = 0, total = 0;
    std::size_t short_lines = 0;
    const std::function<void(std::string_view)> on_line = [&](std::string_view line) {
      if (line.size() != line_length || line.back() != '\n') ++short_lines;
      ++lines;
      total += line.size();
    };
    std::string partial;
    for (;;) {
      const ssize_t k = ::read(p[0], buf.get(), chunk);
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) die("read");
      if (k == 0) break;
      const char* at = buf.get();
      const char* const end = at + k;
      while (at < end) {
        const char* nl = static_cast<const char*>(std::memchr(at, '\n', static_cast<std::size_t>(end - at)));
        if (nl == nullptr) {
          partial.append(at, end);
          break;
        }
        if (partial.empty()) {
          on_line(std::string_view(at, static_cast<std::size_t>(nl + 1 - at)));
        } else {
          partial.append(at, nl + 1);
          on_line(partial);
          partial.clear();
        }
        at = nl + 1;
      }
    }
    if (!partial.empty()) on_line(partial);
    ::close(p[0]);
    const pidfd::exit_status s = child.wait();
    if (!s.success()) fail("read() split: the child did not exit with 0");
    if (total != bytes || lines != (bytes + line_length - 1) / line_length ||
        short_lines != (bytes % line_length != 0 ? 1u : 0u))
      fail("read() split: " + std::to_string(lines) + " lines, " + std::to_string(total) + " bytes");
  });
}

throughput b_lines(std::uint64_t bytes, std::size_t capacity) {
  return measure([bytes, capacity] {
    asio::io_context io;
    pidfd::run_options opt;
    opt.pipe_capacity = capacity;
    opt.capture_stdout = false;
    opt.capture_stderr = false;
    opt.whole_lines = true;
    std::uint64_t lines = 0, total = 0;
    std::size_t short_lines = 0;
    opt.on_output = [&](pidfd::output_stream, std::string_view line) {
      if (line.size() != line_length || line.back() != '\n') ++short_lines;  // the last, only
      ++lines;
      total += line.size();
    };
    bool finished = false;
    pidfd::async_run(io, lines_argv(bytes), std::move(opt), [&](error_code ec, const pidfd::run_result& r) {
      if (ec) fail("async_run lines: " + ec.message());
      if (!r.status.success()) fail("async_run lines: the child did not exit with 0");
      finished = true;
    });
    io.run();
    if (!finished) fail("async_run lines: did not finish");
    const std::uint64_t want_lines = (bytes + line_length - 1) / line_length;
    const std::size_t want_short = bytes % line_length != 0 ? 1 : 0;
    if (total != bytes || lines != want_lines || short_lines != want_short)
      fail("async_run lines: " + std::to_string(lines) + " lines (" + std::to_string(short_lines) +
           " not 80 bytes with '\\n'), " + std::to_string(total) + " bytes");
  });
}

// ---------------------------------------------------------------------------------------
// (c) async_run of /bin/true in each scope.

const std::vector<std::string>& true_argv() {
  static const std::vector<std::string> argv{"/bin/true"};
  return argv;
}

template <class Done>
void scope_launch(asio::io_context& io, pidfd::run_scope scope, Done done) {
  pidfd::run_options opt;
  opt.scope = scope;
  pidfd::async_run(io, true_argv(), std::move(opt), [done](error_code ec, const pidfd::run_result& r) {
    if (ec) fail("async_run /bin/true: " + ec.message());
    if (!r.status.success()) fail("async_run /bin/true: did not exit with 0");
    if (r.killed_leftovers != 0) fail("async_run /bin/true: killed leftovers");
    if (!r.usage) fail("async_run /bin/true: no usage");
    done();
  });
}

throughput c_process(int n) {
  return many(n, [](asio::io_context& io, auto done) {
    scope_launch(io, pidfd::run_scope::process, done);
  });
}
throughput c_group(int n) {
  return many(n, [](asio::io_context& io, auto done) {
    scope_launch(io, pidfd::run_scope::process_group, done);
  });
}
throughput c_cgroup(int n) {
  return many(n, [](asio::io_context& io, auto done) {
    scope_launch(io, pidfd::run_scope::cgroup, done);
  });
}

// Empty if a run in a cgroup of its own can be made here, else why not.
std::string cgroup_scope_unavailable() {
  pidfd::run_options opt;
  opt.scope = pidfd::run_scope::cgroup;
  error_code ec;
  const pidfd::run_result r = pidfd::run(true_argv(), opt, ec);
  if (ec) return ec.message();
  if (!r.status.success()) return "/bin/true did not exit with 0";
  return {};
}

// "median [min, max]" of the per-round ratios a / b.
std::string spread(const bench::series& a, const bench::series& b) {
  const std::vector<double> r = bench::ratios(a, b);
  char text[64];
  (void)std::snprintf(text, sizeof text, "%.3f [%.3f, %.3f]", bench::median(r),
                r.empty() ? 0 : *std::min_element(r.begin(), r.end()),
                r.empty() ? 0 : *std::max_element(r.begin(), r.end()));
  return text;
}

// ---------------------------------------------------------------------------------------

}  // namespace

// An exception (a filesystem error finding the helper, say) ends the benchmark with
// std::terminate's message, which is all a benchmark needs.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  if (argc == 3 && std::strcmp(argv[1], "lines") == 0) lines_child(std::strtoull(argv[2], nullptr, 10));
  const auto rounds = static_cast<int>(bench::number_arg(argc, argv, 1, 7));
  const auto n = static_cast<int>(bench::number_arg(argc, argv, 2, 2000));
  const std::uint64_t mib = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1024;
  const std::string child = argc > 4 ? argv[4] : "echo";
  if (rounds < 1 || n < 1 || mib < 1 || (child != "echo" && child != "helper")) {
    (void)std::fprintf(stderr, "usage: %s [rounds] [N] [MiB] [echo|helper]\n", argv[0]);
    return 2;
  }
  const std::uint64_t bytes = mib << 20;
  helper = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
            "asio-pidfd-bench-exit-helper")
               .string();
  if (child == "echo") {
    hello_argv = {"/bin/echo", "hello"};
  } else {
    hello_argv = {helper, "hello"};
  }
  hello_exe = hello_argv[0];
  hello_args.assign(hello_argv.begin() + 1, hello_argv.end());

  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);

  constexpr int a_count = 5, b_plain = 7, b_count = 2 * b_plain - 1, c_count = 3;
  const char* a_names[a_count] = {"hand Asio", "hand Asio +err", "async_run (out)", "async_run",
                                  "Boost.Process v2"};
  throughput (*a_fns[a_count])(int) = {a_hand, a_hand_err, a_lib_out, a_lib, a_bp2};
  const char* a_keys[a_count] = {"hand", "hand_err", "lib_out", "lib", "bp2"};

  // Each variant of (b) with the default pipe capacity, then again (but the discarding
  // async_run) with pipes of big_pipe bytes: the read() loops' and the hand Asio loop's
  // through F_SETPIPE_SZ, async_run's through run_options::pipe_capacity.
  constexpr std::size_t big_pipe = std::size_t{1} << 20;
  const char* b_names[b_count] = {"read() loop",      "hand Asio loop",    "async_run",
                                  "async_run chunks", "read() lines",      "read() split",
                                  "async_run lines",  "read() loop 1M",    "hand Asio 1M",
                                  "chunks 1M",        "read() lines 1M",   "read() split 1M",
                                  "lines 1M"};
  throughput (*b_fns[b_count])(std::uint64_t, std::size_t) = {
      b_read, b_hand,       b_lib,        b_chunks, b_read_lines, b_read_split, b_lines,
      b_read, b_hand,       b_chunks,     b_read_lines, b_read_split, b_lines};
  const std::size_t b_capacity[b_count] = {0,        0,        0,        0,        0,
                                           0,        0,        big_pipe, big_pipe, big_pipe,
                                           big_pipe, big_pipe, big_pipe};
  const char* b_keys[b_count] = {"b_read",       "b_hand",         "b_lib",        "b_chunks",
                                 "b_read_lines", "b_read_split",   "b_lines",      "b_read_1m",
                                 "b_hand_1m",    "b_chunks_1m",    "b_read_lines_1m",
                                 "b_read_split_1m", "b_lines_1m"};
  // The read() loop and the hand Asio loop each is compared with (same child, same pipe).
  const int b_floor[b_count] = {0, 0, 0, 0, 4, 4, 4, 7, 7, 7, 10, 10, 10};
  const int b_hand_of[b_count] = {1, 1, 1, 1, 1, 1, 1, 8, 8, 8, 8, 8, 8};

  const char* c_names[c_count] = {"process", "process_group", "cgroup"};
  throughput (*c_fns[c_count])(int) = {c_process, c_group, c_cgroup};
  const char* c_keys[c_count] = {"c_process", "c_group", "c_cgroup"};

  if (const char* only = std::getenv("RUN_BENCH_ONLY")) {
    const std::string o = only;
    for (int i = 0; i < b_count; ++i)
      if (o == b_keys[i]) {
        const throughput t = b_fns[i](bytes, b_capacity[i]);
        std::printf("%s: %llu MiB in %.3f s, parent CPU %.3f s\n", b_names[i],
                    static_cast<unsigned long long>(mib), t.wall, t.cpu);
        return 0;
      }
    for (int i = 0; i < a_count + c_count; ++i)
      if (o == (i < a_count ? a_keys[i] : c_keys[i - a_count])) {
        const throughput t = i < a_count ? a_fns[i](n) : c_fns[i - a_count](n);
        std::printf("%s: %d runs in %.3f s, parent CPU %.3f s\n",
                    i < a_count ? a_names[i] : c_names[i - a_count], n, t.wall, t.cpu);
        return 0;
      }
    fail("RUN_BENCH_ONLY must be one of hand hand_err lib_out lib bp2, b_read b_hand b_lib "
         "b_chunks b_read_lines b_read_split b_lines (each but b_lib also with _1m), "
         "c_process c_group c_cgroup");
  }

  const std::string parts = std::getenv("RUN_BENCH_PARTS") ? std::getenv("RUN_BENCH_PARTS") : "abc";
  std::printf("run benchmark: %d rounds, (a) %d runs of %s, %d in flight, (b) %llu MiB, (c) %d "
              "runs of /bin/true\n", rounds, n, hello_argv[0].c_str(), in_flight,
              static_cast<unsigned long long>(mib), n);

  if (parts.find('a') != std::string::npos) {
    bench::series wall[a_count], cpu[a_count], kids[a_count];
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < a_count; ++k) {
        const int i = (k + r) % a_count;  // rotate the order round by round
        const throughput t = a_fns[i](n);
        wall[i].v.push_back(t.wall / n * 1e6);
        cpu[i].v.push_back(t.cpu / n * 1e6);
        kids[i].v.push_back(t.child_cpu / n * 1e6);
      }
      (void)std::fprintf(stderr, "(a) round %d/%d done\n", r + 1, rounds);
    }
    std::printf("\n(a) run + collect stdout + exit status, per run (median of %d rounds); CPU: the\n"
                "parent's, child: the children's (user + system); w/c x: paired wall/CPU ratios\n",
                rounds);
    std::printf("%-18s %8s %9s %8s %8s %8s %8s %8s %8s %8s %8s\n", "", "runs/s", "wall us",
                "CPU us", "child us", "w x hand", "w x h+e", "w x bp2", "c x hand", "c x h+e", "c x bp2");
    for (int i = 0; i < a_count; ++i)
      std::printf("%-18s %8.0f %9.1f %8.1f %8.1f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", a_names[i],
                  1e6 / wall[i].med(), wall[i].med(), cpu[i].med(), kids[i].med(),
                  bench::paired(wall[i], wall[0]), bench::paired(wall[i], wall[1]),
                  bench::paired(wall[i], wall[4]), bench::paired(cpu[i], cpu[0]),
                  bench::paired(cpu[i], cpu[1]), bench::paired(cpu[i], cpu[4]));
    std::printf("paired ratios, median [min, max] over the rounds:\n"
                "  parent CPU (target <= 1.05x): async_run / hand +err %s, async_run (out) / hand %s\n"
                "  wall: async_run / hand +err %s, async_run (out) / hand %s\n"
                "  Boost.Process v2 / async_run: wall %s, CPU %s\n",
                spread(cpu[3], cpu[1]).c_str(), spread(cpu[2], cpu[0]).c_str(),
                spread(wall[3], wall[1]).c_str(), spread(wall[2], wall[0]).c_str(),
                spread(wall[4], wall[3]).c_str(), spread(cpu[4], cpu[3]).c_str());
  }

  if (parts.find('b') != std::string::npos) {
    bench::series gibs[b_count], cpu[b_count];
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < b_count; ++k) {
        const int i = (k + r) % b_count;
        const throughput t = b_fns[i](bytes, b_capacity[i]);
        gibs[i].v.push_back(static_cast<double>(bytes) / static_cast<double>(1 << 30) / t.wall);
        cpu[i].v.push_back(t.cpu / static_cast<double>(bytes) * static_cast<double>(1 << 30));
      }
      (void)std::fprintf(stderr, "(b) round %d/%d done\n", r + 1, rounds);
    }
    std::printf("\n(b) a child writing %llu MiB to stdout in 64 KiB writes, read with a 64 KiB "
                "buffer (median of %d rounds); \"1M\": every pipe of the variant 1 MiB;\n"
                "\"x floor\": throughput / the read() loop on the same child and pipe, \"x hand\":\n"
                "/ the hand Asio loop on the same pipe; median [min, max] of the per-round ratios\n",
                static_cast<unsigned long long>(mib), rounds);
    std::printf("%-18s %8s %16s  %-22s %s\n", "", "GiB/s", "parent CPU s/GiB", "x hand",
                "x floor");
    for (int i = 0; i < b_count; ++i)
      std::printf("%-18s %8.2f %16.3f  %-22s %s\n", b_names[i], gibs[i].med(), cpu[i].med(),
                  spread(gibs[i], gibs[b_hand_of[i]]).c_str(),
                  spread(gibs[i], gibs[b_floor[i]]).c_str());
    std::printf("target: streaming throughput >= 0.9x the read() loop:\n"
                "  default pipe: chunks %s, lines %s (lines / read() split %s)\n"
                "  1 MiB pipes:  chunks %s, lines %s (lines / read() split %s)\n"
                "  async_run 1 MiB / the read() loop at the default pipe: chunks %s, lines %s\n",
                spread(gibs[3], gibs[0]).c_str(), spread(gibs[6], gibs[4]).c_str(),
                spread(gibs[6], gibs[5]).c_str(), spread(gibs[9], gibs[7]).c_str(),
                spread(gibs[12], gibs[10]).c_str(), spread(gibs[12], gibs[11]).c_str(),
                spread(gibs[9], gibs[0]).c_str(), spread(gibs[12], gibs[4]).c_str());
  }

  if (parts.find('c') != std::string::npos) {
    const std::string no_cgroup = cgroup_scope_unavailable();
    if (!no_cgroup.empty())
      std::printf("\n(c) cgroup scope left out: %s\n", no_cgroup.c_str());
    const int count = no_cgroup.empty() ? c_count : c_count - 1;
    bench::series wall[c_count], cpu[c_count];
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < count; ++k) {
        const int i = (k + r) % count;
        const throughput t = c_fns[i](n);
        wall[i].v.push_back(t.wall / n * 1e6);
        cpu[i].v.push_back(t.cpu / n * 1e6);
      }
      (void)std::fprintf(stderr, "(c) round %d/%d done\n", r + 1, rounds);
    }
    std::printf("\n(c) async_run of /bin/true in each scope, per run (median of %d rounds); ratios\n"
                "against run_scope::process, median [min, max] of the per-round ratios\n",
                rounds);
    std::printf("%-14s %9s %9s  %-24s %s\n", "", "wall us", "CPU us", "wall x process",
                "CPU x process");
    for (int i = 0; i < count; ++i)
      std::printf("%-14s %9.1f %9.1f  %-24s %s\n", c_names[i], wall[i].med(), cpu[i].med(),
                  spread(wall[i], wall[0]).c_str(), spread(cpu[i], cpu[0]).c_str());
    if (count == c_count)
      std::printf("target: cgroup scope within 1.5x of process scope (wall): %.3f\n",
                  bench::paired(wall[2], wall[0]));
  }
  return 0;
}
