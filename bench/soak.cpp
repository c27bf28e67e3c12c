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
#include <pidfd/async_pidfd.hpp>
#include <pidfd/spawn.hpp>

#include "stats.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
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
        std::fprintf(stderr, "soak: batch did not drain (%d running)\n", running_);
        return 1;
      }
      samples.push_back(take_sample());
      print(done_, samples.back());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%ld cycles in %.1f s (%.0f/s); wait %ld, timeout %ld, cancel %ld "
                "(aborted %ld), terminate %ld, destroy %ld\n",
                done_, secs, done_ / secs, kinds_[0], kinds_[1], kinds_[2], cancel_aborted_,
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
  static constexpr long heap_margin = 256 * 1024;
  static constexpr long rss_margin_kib = 4096;

  static void print(long cycles, const sample& s) {
    std::printf("%10ld %6ld %10ld %12ld %8ld\n", cycles, s.fds, s.rss_kib, s.heap, s.zombies);
    std::fflush(stdout);
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
  void kill_and_wait(std::shared_ptr<pidfd::async_pidfd> p) {
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

  void post_cancel(std::shared_ptr<asio::cancellation_signal> signal, int turns) {
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

}  // namespace

int main(int argc, char** argv) {
  const long cycles = argc > 1 ? std::atol(argv[1]) : 100000;
  const int in_flight = argc > 2 ? std::atoi(argv[2]) : 64;
  const long interval = argc > 3 ? std::atol(argv[3]) : 10000;
  const unsigned seed = argc > 4 ? static_cast<unsigned>(std::atol(argv[4])) : 12;
  if (cycles <= 0 || in_flight <= 0 || interval <= 0) {
    std::fprintf(stderr, "usage: %s [cycles] [in_flight] [interval] [seed]\n", argv[0]);
    return 2;
  }
  helper = (std::filesystem::read_symlink("/proc/self/exe").parent_path() /
            "asio-pidfd-bench-exit-helper")
               .string();
  std::printf("soak: %ld cycles, %d in flight, sampled every %ld, seed %u\n", cycles,
              in_flight, interval, seed);
  return soak(cycles, in_flight, interval, seed).run();
}
