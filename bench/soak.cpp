// Soak: many spawn + wait cycles with waits cancelled and timed out at random, checking
// that nothing accumulates. A benchmark-style program, not a timed test: it prints its
// samples and exits 1 if a resource is not flat or a cycle ends with a wrong result.
//
// Each cycle starts the static helper (exits at once, or blocks until killed) and does one
// of, chosen at random:
//   wait       async_wait of a child that exits at once                 -> exited(0)
//   timeout    async_wait_for(0-2 ms) of a blocked child                -> timed_out,
//              then SIGKILL and async_wait                              -> killed(SIGKILL)
//   cancel     async_wait of a blocked child, cancelled through a cancellation slot
//              0-3 turns of the event loop later                        -> operation_aborted,
//              then SIGKILL and async_wait
//   terminate  async_terminate(1 ms) of a blocked child                 -> killed(SIGTERM)
//   destroy    the object destroyed with a wait pending, the process
//              then waited synchronously through a second pidfd         -> operation_aborted
// `in_flight` cycles run at once. Every `interval` cycles the program drains (no cycle in
// flight), then samples open fds, RSS, heap in use (mallinfo2) and zombie children. The
// first sample (after `interval` cycles of warm-up) is the baseline: open fds must equal
// it, zombies must be 0, RSS and heap must stay within a small margin of it.
//
// Run:  build/bench/asio-pidfd-soak [cycles=100000] [in_flight=64] [interval=10000] [seed]
//
// With --runs, the same for async_run: N runs, `in_flight` at once, each in a scope chosen
// at random (process, process_group, and cgroup where a run can make its own cgroup v2:
// probed once), its output always streamed through on_output (whole lines or not, captured
// or not, at random), and one of:
//   hello      the helper prints "hello\n" and exits                  -> exited(0), the text
//   timeout    a blocked helper, timeout 0-3 ms, grace 0-2 ms          -> timed_out, SIGTERM
//   cancel     a blocked helper, cancelled 0-3 turns of the event loop later, the type at
//              random: terminal                                      -> aborted, SIGKILL
//                      partial, total                                -> aborted, SIGTERM
//   leftover   (process_group and cgroup scope only) /bin/sh starts a blocked helper in the
//              background, prints and exits                          -> exited(0), the text,
//                                                                       killed_leftovers 1
// Besides the samples above, each sample counts the processes of ours still alive (every
// blocked helper carries a mark naming this process; one found is given 1 s to die) and
// our cgroups left behind (asio-pidfd-run-<pid>-* below our own cgroup): both must be 0.
//
// Run:  build/bench/asio-pidfd-soak --runs [runs=2000] [in_flight=64] [interval=runs/10] [seed]
#include <pidfd/async_pidfd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include "stats.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pidfd::error_code;
using pidfd::exit_status;

std::string helper;

exit_status exited(int code) { return exit_status::from_wait_status((code & 0xff) << 8); }
exit_status killed(int sig) { return exit_status::from_wait_status(sig); }

struct sample {
  long fds = 0;
  long rss_kib = 0;
  long heap = 0;
  long zombies = 0;
};

long rss_kib() {
  std::ifstream in("/proc/self/statm");
  long size = 0, resident = 0;
  in >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

// Children that are zombies (state Z), from /proc/self/task/*/children.
long zombies() {
  long n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    pid_t p;
    while (in >> p) {
      std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
      std::string line;
      std::getline(stat, line);
      const auto close = line.rfind(')');
      if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') ++n;
    }
  }
  return n;
}

sample take_sample() {
  return sample{bench::open_fd_count(), rss_kib(), static_cast<long>(::mallinfo2().uordblks), zombies()};
}

class soak {
public:
  soak(long cycles, int in_flight, long interval, unsigned seed)
      : cycles_(cycles), in_flight_(in_flight), interval_(interval), rng_(seed) {}

  int run() {
    const sample before = take_sample();
    std::printf("%10s %6s %10s %12s %8s\n", "cycles", "fds", "rss_kib", "heap_bytes",
                "zombies");
    print(0, before);
    std::vector<sample> samples;
    const auto t0 = std::chrono::steady_clock::now();
    while (done_ < cycles_) {
      // One batch of `interval` cycles, then drain and sample.
      batch_end_ = std::min(cycles_, done_ + interval_);
      while (running_ < in_flight_ && started_ < batch_end_) start_cycle();
      io_.restart();
      io_.run();
      if (running_ != 0 || done_ != batch_end_) {
        (void)std::fprintf(stderr, "soak: batch did not drain (%d running)\n", running_);
        return 1;
      }
      samples.push_back(take_sample());
      print(done_, samples.back());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%ld cycles in %.1f s (%.0f/s); wait %ld, timeout %ld, cancel %ld "
                "(aborted %ld), terminate %ld, destroy %ld\n",
                done_, secs, static_cast<double>(done_) / secs, kinds_[0], kinds_[1], kinds_[2], cancel_aborted_,
                kinds_[3], kinds_[4]);
    bool ok = wrong_ == 0;
    if (wrong_) std::printf("FAIL: %ld cycles ended with a wrong result (first: %s)\n", wrong_,
                            first_wrong_.c_str());
    // The first sample, after `interval` cycles of warm-up, is the baseline (the reactor
    // opens its own descriptors at first use).
    const sample& base = samples.front();
    for (const sample& s : samples) {
      if (s.fds != base.fds || s.zombies != 0) {
        std::printf("FAIL: fds %ld (first sample: %ld), zombies %ld\n", s.fds, base.fds,
                    s.zombies);
        ok = false;
      }
    }
    for (const sample& s : samples) {
      if (s.heap > base.heap + heap_margin || s.rss_kib > base.rss_kib + rss_margin_kib) {
        std::printf("FAIL: not flat: heap %ld (base %ld), rss %ld KiB (base %ld)\n", s.heap,
                    base.heap, s.rss_kib, base.rss_kib);
        ok = false;
      }
    }
    std::printf("%s: fds as in the first sample, no zombie; heap within %ld bytes and RSS "
                "within %ld KiB of the first sample\n",
                ok ? "flat" : "NOT FLAT", heap_margin, rss_margin_kib);
    return ok ? 0 : 1;
  }

private:
  static constexpr long heap_margin = 256L * 1024;
  static constexpr long rss_margin_kib = 4096;

  static void print(long cycles, const sample& s) {
    std::printf("%10ld %6ld %10ld %12ld %8ld\n", cycles, s.fds, s.rss_kib, s.heap, s.zombies);
    (void)std::fflush(stdout);
  }

  void check(bool ok, const char* what, const error_code& ec, const exit_status& s) {
    if (ok) return;
    if (wrong_++ == 0) {
      std::ostringstream os;
      os << what << ": " << ec.message() << ", exit code " << s.code().value_or(-1);
      first_wrong_ = os.str();
    }
  }

  void finish() {
    --running_;
    ++done_;
    if (started_ < batch_end_) start_cycle();
  }

  // SIGKILL and wait, then the cycle is over.
  void kill_and_wait(const std::shared_ptr<pidfd::async_pidfd>& p) {
    error_code ec;
    p->kill(ec);
    p->async_wait([this, p](error_code ec2, exit_status s) {
      check(!ec2 && s == killed(SIGKILL), "kill", ec2, s);
      finish();
    });
  }

  void start_cycle() {
    ++started_;
    ++running_;
    const int kind = static_cast<int>(rng_() % 5);
    ++kinds_[kind];
    const bool blocks = kind != 0;
    auto p = std::make_shared<pidfd::async_pidfd>(
        io_, blocks ? pidfd::spawn({helper, "block"}) : pidfd::spawn({helper}));
    switch (kind) {
      case 0:
        p->async_wait([this, p](error_code ec, exit_status s) {
          check(!ec && s == exited(0), "wait", ec, s);
          finish();
        });
        break;
      case 1: {
        const auto timeout = std::chrono::microseconds(rng_() % 2000);
        p->async_wait_for(timeout, [this, p](error_code ec, exit_status s) {
          check(ec == asio::error::timed_out, "timeout", ec, s);
          kill_and_wait(p);
        });
        break;
      }
      case 2: {
        auto signal = std::make_shared<asio::cancellation_signal>();
        p->async_wait(asio::bind_cancellation_slot(
            signal->slot(), [this, p, signal](error_code ec, exit_status s) {
              check(ec == asio::error::operation_aborted, "cancel", ec, s);
              if (ec == asio::error::operation_aborted) ++cancel_aborted_;
              kill_and_wait(p);
            }));
        // Cancel after 0-3 turns of the event loop.
        post_cancel(signal, static_cast<int>(rng_() % 4));
        break;
      }
      case 3:
        p->async_terminate(1ms, [this, p](error_code ec, exit_status s) {
          check(!ec && s == killed(SIGTERM), "terminate", ec, s);
          finish();
        });
        break;
      case 4: {
        auto second = std::make_shared<pidfd::pid_fd>(p->core().dup());
        p->async_wait([this, second](error_code ec, exit_status s) {
          check(ec == asio::error::operation_aborted, "destroy", ec, s);
          second->kill();
          const exit_status st = second->wait();
          check(st == killed(SIGKILL), "destroy+wait", {}, st);
          finish();
        });
        asio::post(io_, [p]() mutable { p.reset(); });  // the last owner but the handler's
        break;
      }
    }
  }

  void post_cancel(const std::shared_ptr<asio::cancellation_signal>& signal, int turns) {
    asio::post(io_, [this, signal, turns] {
      if (turns == 0)
        signal->emit(asio::cancellation_type::terminal);
      else
        post_cancel(signal, turns - 1);
    });
  }

  asio::io_context io_;
  long cycles_;
  int in_flight_;
  long interval_;
  std::mt19937 rng_;
  long started_ = 0, done_ = 0, batch_end_ = 0;
  int running_ = 0;
  long kinds_[5] = {};
  long cancel_aborted_ = 0;
  long wrong_ = 0;
  std::string first_wrong_;
};

// ---------------------------------------------------------------------------------------
// The async_run soak.

// Marks every blocked helper of this process (an argument the helper ignores).
std::string our_mark() { return "asio-pidfd-soak-" + std::to_string(::getpid()); }

// Live processes whose command line carries our mark; each one found gets up to 1 s to
// end (it may have been killed a moment ago) before it counts.
long marked_processes() {
  const std::string mark = our_mark();
  long n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] < '1' || name[0] > '9') continue;
    std::ifstream in(e.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(mark) == std::string::npos) continue;  // a zombie's is empty
    error_code ec;
    const pidfd::pid_fd p = pidfd::pid_fd::open(static_cast<pid_t>(std::stol(name)), ec);
    if (ec) continue;  // gone meanwhile
    pollfd pfd{p.native_handle(), POLLIN, 0};
    if (::poll(&pfd, 1, 1000) != 1) ++n;
  }
  return n;
}

// The directory of our own cgroup v2 (the cgroup2 mount from /proc/self/mountinfo joined
// with the "0::" line of /proc/self/cgroup); empty if there is none.
std::filesystem::path own_cgroup_dir() {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, ours;
  while (std::getline(cg, line))
    if (line.rfind("0::", 0) == 0) ours = line.substr(3);
  if (ours.empty()) return {};
  std::ifstream mi("/proc/self/mountinfo");
  while (std::getline(mi, line)) {
    const auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream f(line.substr(0, dash));
    std::string id, parent, dev, root, mount_point;
    f >> id >> parent >> dev >> root >> mount_point;
    if (ours.rfind(root, 0) != 0) continue;
    return std::filesystem::path(mount_point) / std::filesystem::path(ours.substr(root.size())).relative_path();
  }
  return {};
}

// Our runs' cgroups still present below our own cgroup.
long our_cgroups(const std::filesystem::path& dir) {
  if (dir.empty()) return 0;
  const std::string prefix = "asio-pidfd-run-" + std::to_string(::getpid()) + "-";
  long n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

// Empty if a run in a cgroup of its own can be made here, else why not.
std::string cgroup_scope_unavailable() {
  pidfd::run_options opt;
  opt.scope = pidfd::run_scope::cgroup;
  error_code ec;
  const pidfd::run_result r = pidfd::run({"/bin/true"}, opt, ec);
  if (ec) return ec.message();
  if (!r.status.success()) return "/bin/true did not exit with 0";
  return {};
}

struct run_sample {
  sample base;
  long processes = 0;
  long cgroups = 0;
};

class run_soak {
public:
  run_soak(long runs, int in_flight, long interval, unsigned seed, bool cgroups)
      : runs_(runs), in_flight_(in_flight), interval_(interval), rng_(seed),
        scopes_(cgroups ? 3 : 2), cgroup_dir_(own_cgroup_dir()) {}

  int run() {
    std::printf("%10s %6s %10s %12s %8s %9s %7s\n", "runs", "fds", "rss_kib", "heap_bytes",
                "zombies", "processes", "cgroups");
    print(0, take());
    std::vector<run_sample> samples;
    const auto t0 = std::chrono::steady_clock::now();
    while (done_ < runs_) {
      batch_end_ = std::min(runs_, done_ + interval_);
      while (running_ < in_flight_ && started_ < batch_end_) start_run();
      io_.restart();
      io_.run();
      if (running_ != 0 || done_ != batch_end_) {
        (void)std::fprintf(stderr, "soak: batch did not drain (%d running)\n", running_);
        return 1;
      }
      samples.push_back(take());
      print(done_, samples.back());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%ld runs in %.1f s (%.0f/s); scope process %ld, process_group %ld, cgroup %ld; "
                "hello %ld, timeout %ld, cancel %ld (terminal %ld, partial %ld, total %ld), "
                "leftover %ld; lines streamed %ld\n",
                done_, secs, static_cast<double>(done_) / secs, scope_count_[0], scope_count_[1], scope_count_[2],
                kinds_[0], kinds_[1], kinds_[2], cancel_types_[0], cancel_types_[1],
                cancel_types_[2], kinds_[3], lines_);
    bool ok = wrong_ == 0;
    if (wrong_) std::printf("FAIL: %ld runs ended with a wrong result (first: %s)\n", wrong_,
                            first_wrong_.c_str());
    const run_sample& base = samples.front();
    for (const run_sample& s : samples) {
      if (s.base.fds != base.base.fds || s.base.zombies != 0 || s.processes != 0 || s.cgroups != 0) {
        std::printf("FAIL: fds %ld (first sample: %ld), zombies %ld, processes %ld, cgroups %ld\n",
                    s.base.fds, base.base.fds, s.base.zombies, s.processes, s.cgroups);
        ok = false;
      }
      if (s.base.heap > base.base.heap + heap_margin ||
          s.base.rss_kib > base.base.rss_kib + rss_margin_kib) {
        std::printf("FAIL: not flat: heap %ld (base %ld), rss %ld KiB (base %ld)\n", s.base.heap,
                    base.base.heap, s.base.rss_kib, base.base.rss_kib);
        ok = false;
      }
    }
    std::printf("%s: fds as in the first sample, no zombie, no process or cgroup of ours left; "
                "heap within %ld bytes and RSS within %ld KiB of the first sample\n",
                ok ? "flat" : "NOT FLAT", heap_margin, rss_margin_kib);
    return ok ? 0 : 1;
  }

private:
  static constexpr long heap_margin = 256L * 1024;
  static constexpr long rss_margin_kib = 4096;

  // One run's expectations and what it streamed.
  struct expected {
    const char* kind = "";
    pidfd::run_scope scope{};
    error_code ec;
    exit_status status;
    std::string text;        // the whole output
    bool captured = false;   // run_result::out must be the text
    std::size_t leftovers = 0;
    std::string streamed;
  };

  run_sample take() const {
    return run_sample{take_sample(), marked_processes(), our_cgroups(cgroup_dir_)};
  }

  static void print(long runs, const run_sample& s) {
    std::printf("%10ld %6ld %10ld %12ld %8ld %9ld %7ld\n", runs, s.base.fds, s.base.rss_kib,
                s.base.heap, s.base.zombies, s.processes, s.cgroups);
    (void)std::fflush(stdout);
  }

  void wrong(const expected& e, const std::string& what) {
    if (wrong_++ == 0) {
      static const char* scope_names[] = {"process", "process_group", "cgroup"};
      first_wrong_ = std::string(e.kind) + " in scope " + scope_names[static_cast<int>(e.scope)] +
                     ": " + what;
    }
  }

  void check(const expected& e, const error_code& ec, const pidfd::run_result& r) {
    std::ostringstream os;
    if (ec != e.ec) os << "error \"" << ec.message() << "\" ";
    if (r.status != e.status)
      os << "exit code " << r.status.code().value_or(-1) << " signal " << r.status.signal().value_or(-1) << " ";
    if (e.streamed != e.text) os << "streamed \"" << e.streamed << "\" ";
    if (e.captured && r.out != e.text) os << "out \"" << r.out << "\" ";
    if (!e.captured && !r.out.empty()) os << "kept output it should not ";
    if (r.killed_leftovers != e.leftovers) os << "killed_leftovers " << r.killed_leftovers << " ";
    if (!r.usage) os << "no usage ";
    if (!os.str().empty()) wrong(e, os.str());
  }

  // The command line and the expected outcome of a run of the given kind (0 hello,
  // 1 timeout, 2 cancel, 3 leftover); sets the options the kind needs.
  std::vector<std::string> prepare_kind(int kind, expected& e, pidfd::run_options& opt) {
    std::vector<std::string> argv = {helper, "block", our_mark()};
    switch (kind) {
      case 0:
        e.kind = "hello";
        argv = {helper, "hello"};
        e.status = exited(0);
        e.text = "hello\n";
        break;
      case 1:
        e.kind = "timeout";
        opt.timeout = std::chrono::microseconds(rng_() % 3000);
        opt.grace = std::chrono::microseconds(rng_() % 2000);
        e.ec = asio::error::timed_out;
        e.status = killed(SIGTERM);
        break;
      case 2:
        e.kind = "cancel";
        e.ec = asio::error::operation_aborted;
        break;
      case 3:
        e.kind = "leftover";
        argv = {"/bin/sh", "-c", "\"$0\" block \"$1\" >/dev/null 2>&1 & echo started", helper,
                our_mark()};
        e.status = exited(0);
        e.text = "started\n";
        e.leftovers = 1;
        break;
    }
    return argv;
  }

  void start_run() {
    ++started_;
    ++running_;
    auto e = std::make_shared<expected>();
    e->scope = static_cast<pidfd::run_scope>(rng_() % scopes_);
    ++scope_count_[static_cast<int>(e->scope)];
    const bool contained = e->scope != pidfd::run_scope::process;
    int kind = static_cast<int>(rng_() % (contained ? 4 : 3));
    ++kinds_[kind];

    pidfd::run_options opt;
    opt.scope = e->scope;
    opt.capture_stdout = e->captured = rng_() % 2 == 0;
    opt.whole_lines = rng_() % 2 == 0;
    opt.on_output = [this, e, lines = opt.whole_lines](pidfd::output_stream, std::string_view piece) {
      e->streamed.append(piece);
      if (lines) ++lines_;
    };
    const std::vector<std::string> argv = prepare_kind(kind, *e, opt);
    auto done = [this, e](error_code ec, const pidfd::run_result& r) {
      check(*e, ec, r);
      --running_;
      ++done_;
      if (started_ < batch_end_) start_run();
    };
    if (kind != 2) {
      pidfd::async_run(io_, argv, std::move(opt), std::move(done));
      return;
    }
    static constexpr asio::cancellation_type types[] = {asio::cancellation_type::terminal,
                                                        asio::cancellation_type::partial,
                                                        asio::cancellation_type::total};
    const int t = static_cast<int>(rng_() % 3);
    ++cancel_types_[t];
    e->status = killed(t == 0 ? SIGKILL : SIGTERM);
    opt.grace = std::chrono::microseconds(rng_() % 2000);
    auto signal = std::make_shared<asio::cancellation_signal>();
    pidfd::async_run(io_, argv, std::move(opt),
                     asio::bind_cancellation_slot(
                         signal->slot(), [signal, done](error_code ec, const pidfd::run_result& r) {
                           done(ec, r);
                         }));
    post_cancel(signal, types[t], static_cast<int>(rng_() % 4));
  }

  void post_cancel(const std::shared_ptr<asio::cancellation_signal>& signal,
                   asio::cancellation_type type, int turns) {
    asio::post(io_, [this, signal, type, turns] {
      if (turns == 0)
        signal->emit(type);
      else
        post_cancel(signal, type, turns - 1);
    });
  }

  asio::io_context io_;
  long runs_;
  int in_flight_;
  long interval_;
  std::mt19937 rng_;
  unsigned scopes_;
  std::filesystem::path cgroup_dir_;
  long started_ = 0, done_ = 0, batch_end_ = 0;
  int running_ = 0;
  long scope_count_[3] = {};
  long kinds_[4] = {};
  long cancel_types_[3] = {};
  long lines_ = 0;
  long wrong_ = 0;
  std::string first_wrong_;
};

int run_soak_main(int argc, char** argv) {
  const long runs = bench::number_arg(argc, argv, 2, 2000);
  const auto in_flight = static_cast<int>(bench::number_arg(argc, argv, 3, 64));
  const long interval = bench::number_arg(argc, argv, 4, std::max(1L, runs / 10));
  const auto seed = static_cast<unsigned>(bench::number_arg(argc, argv, 5, 12));
  if (runs <= 0 || in_flight <= 0 || interval <= 0) {
    (void)std::fprintf(stderr, "usage: %s --runs [runs] [in_flight] [interval] [seed]\n",
                       argv[0]);
    return 2;
  }
  const std::string no_cgroup = cgroup_scope_unavailable();
  std::printf("soak of async_run: %ld runs, %d in flight, sampled every %ld, seed %u; cgroup "
              "scope: %s\n", runs, in_flight, interval, seed,
              no_cgroup.empty() ? "yes" : ("left out: " + no_cgroup).c_str());
  return run_soak(runs, in_flight, interval, seed, no_cgroup.empty()).run();
}

}  // namespace

// An exception (a filesystem error finding the helper, say) ends the benchmark with
// std::terminate's message, which is all a benchmark needs.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  helper = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
            "asio-pidfd-bench-exit-helper")
               .string();
  if (argc > 1 && std::strcmp(argv[1], "--runs") == 0) return run_soak_main(argc, argv);
  const long cycles = bench::number_arg(argc, argv, 1, 100000);
  const auto in_flight = static_cast<int>(bench::number_arg(argc, argv, 2, 64));
  const long interval = bench::number_arg(argc, argv, 3, 10000);
  const auto seed = static_cast<unsigned>(bench::number_arg(argc, argv, 4, 12));
  if (cycles <= 0 || in_flight <= 0 || interval <= 0) {
    (void)std::fprintf(stderr, "usage: %s [cycles] [in_flight] [interval] [seed]\n", argv[0]);
    return 2;
  }
  std::printf("soak: %ld cycles, %d in flight, sampled every %ld, seed %u\n", cycles,
              in_flight, interval, seed);
  return soak(cycles, in_flight, interval, seed).run();
}
