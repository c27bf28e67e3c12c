// Threads: async_wait_for, async_terminate and async_run from 4 threads, on one io_context
// run by 4 threads and on one io_context per thread, with per-operation cancellations
// emitted from another thread (posted to the operation's handlers) racing the completions.
// Every handler must run exactly once with one of the results legal for its operation.
#include "run_until.hpp"
#include "support.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd_test::exited;
using pidfd_test::killed;
using namespace std::chrono_literals;

using strand_type = asio::strand<asio::io_context::executor_type>;
using watched = pidfd::basic_async_pidfd<strand_type>;

constexpr int thread_count = 4;
constexpr int total_operations = 10000;  // both configurations together

// Operations per round (see round::start): 8 waits, 4 short timeouts, 8 cancelled waits
// on one child; a terminate, 2 waits and a cancelled wait on another; one async_run.
constexpr int ops_per_round = 8 + 4 + 8 + 1 + 2 + 1 + 1;

int rounds_per_thread_and_mode() {
  return std::max(1, total_operations / ops_per_round / 2 / thread_count /
                         pidfd_test::loop_divisor());
}

std::vector<std::string> child(std::vector<std::string> args) {
  args.insert(args.begin(), pidfd_test::child_path());
  return args;
}

// A thread that runs jobs from a queue: here, posting cancellations to other threads'
// strands, so that each emit comes from a thread that is not the operation's.
class job_thread {
public:
  job_thread() : t_([this] { loop(); }) {}
  ~job_thread() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_one();
    t_.join();
  }
  void add(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> l(m_);
      jobs_.push_back(std::move(f));
    }
    cv_.notify_one();
  }

private:
  void loop() {
    std::unique_lock<std::mutex> l(m_);
    for (;;) {
      cv_.wait(l, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto f = std::move(jobs_.front());
      jobs_.pop_front();
      l.unlock();
      f();
      l.lock();
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread t_;
};

// Wakes the threads that wait for rounds to progress (no polling, no sleeping).
class notifier {
public:
  void notify() {
    { std::lock_guard<std::mutex> l(m_); }
    cv_.notify_all();
  }
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> l(m_);
    return cv_.wait_for(l, pidfd_test::wait_bound, pred);
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
};

// What the handlers of all rounds produced, by kind of result.
struct tally {
  std::atomic<int> completed{0}, aborted{0}, timed_out{0}, wrong{0}, repeated{0};
};

// The result of one operation: its handler calls and what it reported.
struct slot {
  std::atomic<int> calls{0};
  error_code ec;
  exit_status status;
};

// One round: two children, ops_per_round operations, all on one strand.
class round : public std::enable_shared_from_this<round> {
public:
  round(strand_type strand, job_thread& canceller, notifier& n, int number)
      : strand_(std::move(strand)), canceller_(canceller), notifier_(n), number_(number) {}

  // The handlers, each holding the round alive (defined first: their type is deduced).
  auto handler(int k) {
    return [self = shared_from_this(), k](error_code ec, exit_status st) {
      self->record(k, ec, st);
    };
  }
  auto run_handler(int k) {
    return [self = shared_from_this(), k](error_code ec, const pidfd::run_result& r) {
      self->record(k, ec, r.status);
    };
  }

  // Runs on the strand.
  void start() {
    // Started with pidfd::spawn: the support's start_child forks behind the sanitizer's
    // back, and TSan then reports the child's fd moves as races with the other threads.
    gate_ = pidfd_test::make_pipe();
    pidfd::spawn_options o;
    o.extra_fds.emplace_back(3, gate_.read.get());
    waiting_.emplace(strand_, pidfd::spawn(child({"wait-byte", "3", "exit", "3"}), o));
    gate_.read.reset();
    paused_.emplace(strand_, pidfd::spawn(child({"pause"})));
    int k = 0;
    for (int i = 0; i < 8; ++i) waiting_->async_wait_for(1h, handler(k++));
    for (int i = 0; i < 4; ++i) waiting_->async_wait_for(1ns, handler(k++));
    for (int i = 0; i < 8; ++i, ++k) {
      waiting_->async_wait_for(1h, asio::bind_cancellation_slot(signal(k).slot(), handler(k)));
      cancel_later(k);
    }
    paused_->async_terminate(60s, handler(k++));
    for (int i = 0; i < 2; ++i) paused_->async_wait_for(1h, handler(k++));
    const int cancelled_wait = k++;
    paused_->async_wait_for(1h, asio::bind_cancellation_slot(signal(cancelled_wait).slot(),
                                                             handler(cancelled_wait)));
    cancel_later(cancelled_wait);
    start_run(k++);
    pidfd_test::write_byte(gate_.write.get());  // the first child exits now
  }

  // After every handler has run: checks each result. Runs on the strand.
  void check(tally& t) {
    for (int k = 0; k < ops_per_round; ++k) {
      const slot& s = slots_[static_cast<std::size_t>(k)];
      if (s.calls.load() != 1) {
        ++t.repeated;
        ADD_FAILURE() << "round " << number_ << " operation " << k << ": " << s.calls.load()
                      << " handler calls";
        continue;
      }
      const bool ok = legal(k, s);
      if (!ok) {
        ++t.wrong;
        ADD_FAILURE() << "round " << number_ << " operation " << k << ": " << s.ec.message();
      } else if (s.ec == asio::error::operation_aborted) {
        ++t.aborted;
      } else if (s.ec == asio::error::timed_out) {
        ++t.timed_out;
      } else {
        ++t.completed;
      }
    }
    waiting_.reset();
    paused_.reset();
  }

  int done() const { return done_.load(); }
  // Cancellations the canceller thread has not posted yet.
  int cancels_pending() const { return cancels_pending_.load(); }

private:
  bool legal(int k, const slot& s) const {
    const bool aborted = s.ec == asio::error::operation_aborted;
    if (k < 8) return !s.ec && s.status == exited(3);
    if (k < 12)
      return (!s.ec && s.status == exited(3)) || s.ec == asio::error::timed_out;
    if (k < 20) return (!s.ec && s.status == exited(3)) || aborted;
    if (k < 23) return !s.ec && s.status == killed(SIGTERM);
    if (k == 23) return (!s.ec && s.status == killed(SIGTERM)) || aborted;
    // async_run: by round, a program that exits 3, one stopped by a timeout, one cancelled.
    switch (number_ % 3) {
      case 0: return !s.ec && s.status == exited(3);
      case 1: return s.ec == asio::error::timed_out && s.status == killed(SIGTERM);
      default:
        return aborted && (s.status == killed(SIGTERM) || s.status == killed(SIGKILL));
    }
  }

  void start_run(int k) {
    pidfd::run_options o;
    switch (number_ % 3) {
      case 0:
        pidfd::async_run(strand_, child({"exit", "3"}), o, run_handler(k));
        break;
      case 1:
        o.timeout = 1ns;
        pidfd::async_run(strand_, child({"pause"}), o, run_handler(k));
        break;
      default:
        o.grace = 1ms;
        pidfd::async_run(strand_, child({"pause"}), o,
                         asio::bind_cancellation_slot(signal(k).slot(), run_handler(k)));
        cancel_later(k);
        break;
    }
  }

  asio::cancellation_signal& signal(int k) { return signals_[static_cast<std::size_t>(k)]; }

  // The canceller thread posts the emit to our strand: terminal, partial or total by turn.
  void cancel_later(int k) {
    static constexpr asio::cancellation_type types[] = {asio::cancellation_type::terminal,
                                                        asio::cancellation_type::partial,
                                                        asio::cancellation_type::total};
    const asio::cancellation_type type = types[(number_ + k) % 3];
    cancels_pending_.fetch_add(1);
    canceller_.add([self = shared_from_this(), k, type] {
      asio::post(self->strand_, [self, k, type] { self->signal(k).emit(type); });
      self->cancels_pending_.fetch_sub(1);
      self->notifier_.notify();
    });
  }

  void record(int k, error_code ec, exit_status st) {
    slot& s = slots_[static_cast<std::size_t>(k)];
    if (s.calls.fetch_add(1) == 0) {
      s.ec = ec;
      s.status = st;
    }
    done_.fetch_add(1);
    notifier_.notify();
  }


  strand_type strand_;
  job_thread& canceller_;
  notifier& notifier_;
  int number_;
  pidfd_test::pipe_fds gate_;
  std::optional<watched> waiting_, paused_;
  std::array<slot, ops_per_round> slots_;
  std::array<asio::cancellation_signal, ops_per_round> signals_;
  std::atomic<int> done_{0};
  std::atomic<int> cancels_pending_{0};
};

// Runs one round on a strand of io and waits (bounded) for all its handlers and for the
// canceller to have posted its cancellations (so that none reaches a destroyed context);
// `drive` makes progress (runs io on this thread, or waits while other threads run it).
template <class Drive>
void run_round(asio::io_context& io, job_thread& canceller, notifier& n, int number,
               tally& t, Drive drive) {
  const strand_type strand = asio::make_strand(io);
  auto r = std::make_shared<round>(strand, canceller, n, number);
  asio::post(strand, [r] { r->start(); });
  ASSERT_TRUE(drive([&] { return r->done() >= ops_per_round && r->cancels_pending() == 0; }))
      << "round " << number;
  std::atomic<bool> checked{false};
  asio::post(strand, [&] {
    r->check(t);
    checked = true;
    n.notify();
  });
  ASSERT_TRUE(drive([&] { return checked.load(); })) << "round " << number;
}

void expect_totals(const tally& t, int rounds) {
  std::printf("[ stress   ] %d operations: %d completed, %d aborted, %d timed out\n",
              rounds * ops_per_round, t.completed.load(), t.aborted.load(),
              t.timed_out.load());
  EXPECT_EQ(t.repeated.load(), 0);
  EXPECT_EQ(t.wrong.load(), 0);
  EXPECT_EQ(t.completed + t.aborted + t.timed_out, rounds * ops_per_round);
  // Every round has 8 + 1 cancelled waits whose cancellation is posted before the first
  // child can have been reaped by us, and a run that can only end cancelled.
  EXPECT_GE(t.aborted.load(), rounds / 3);
}

TEST(ThreadStress, SharedContextFourThreads) {
  asio::io_context io(thread_count);
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> runners;
  runners.reserve(thread_count);
  for (int i = 0; i < thread_count; ++i) runners.emplace_back([&] { io.run(); });
  job_thread canceller;
  notifier note;
  tally t;
  const int rounds = rounds_per_thread_and_mode();
  std::vector<std::thread> drivers;
  drivers.reserve(thread_count);
  for (int i = 0; i < thread_count; ++i) {
    drivers.emplace_back([&, i] {
      for (int n = 0; n < rounds; ++n)
        run_round(io, canceller, note, i * rounds + n, t,
                  [&](auto pred) { return note.wait(pred); });
    });
  }
  for (auto& d : drivers) d.join();
  guard.reset();
  for (auto& r : runners) r.join();
  expect_totals(t, rounds * thread_count);
}

TEST(ThreadStress, ContextPerThread) {
  job_thread canceller;
  notifier note;
  tally t;
  const int rounds = rounds_per_thread_and_mode();
  std::vector<std::thread> threads;
  threads.reserve(thread_count);
  for (int i = 0; i < thread_count; ++i) {
    threads.emplace_back([&, i] {
      asio::io_context io;
      for (int n = 0; n < rounds; ++n)
        run_round(io, canceller, note, i * rounds + n, t,
                  [&](auto pred) { return pidfd_test::run_until(io, pred); });
      // Cancellations posted after their operation completed have nothing left to do.
      io.restart();
      io.poll();
    });
  }
  for (auto& th : threads) th.join();
  expect_totals(t, rounds * thread_count);
}

}  // namespace
