// asio-pidfd internal: the composed operation behind async_run().
//
// async_run() does several things at once: it waits for the process, reads its stdout and
// stderr, writes its input, and runs a timer (the timeout, then the grace period of the
// termination, or after the exit the drain period). They share one run_state, owned by
// their handlers, which all run on one strand, so the state needs no lock even when the
// io_context runs on several threads. The composed operation object (the `self` of
// async_compose, holding the user's handler) is parked in the state meanwhile and posted
// back to the I/O executor at the end, so the handler runs on its associated executor
// and never inside async_run().
//
// Included by <pidfd/process.hpp> once run_options and run_result are defined.
#ifndef PIDFD_DETAIL_PROCESS_OPS_HPP
#define PIDFD_DETAIL_PROCESS_OPS_HPP

#include <pidfd/async_pidfd.hpp>
#include <pidfd/detail/process_support.hpp>
#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/asio/strand.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pidfd::detail {

/// Where a run's result is handed from the run_state to the operation object.
struct run_outcome {
  error_code ec;
  run_result result;
};

/// The state of one async_run(): see the top of this file. Every member function other
/// than start() and the destructor runs on strand_.
template <class Executor>
class run_state : public std::enable_shared_from_this<run_state<Executor>> {
public:
  run_state(const Executor& ex, run_options options, std::shared_ptr<run_outcome> outcome)
      : strand_(ex), pidfd_(ex), in_(ex), out_(ex), err_(ex), timer_(ex),
        options_(std::move(options)), outcome_(std::move(outcome)) {}

  run_state(const run_state&) = delete;
  run_state& operator=(const run_state&) = delete;

  /// A run abandoned with its process still running (the execution context was destroyed
  /// with the operation pending) kills and reaps it: nothing is left behind.
  virtual ~run_state() {
    if (pidfd_.is_open() && !reaped_) {
      send(SIGKILL);
      error_code ignored;
      const exit_status status = pidfd_.core().wait(ignored);
      if (!ignored) outcome_->result.status = status;  // timed_out/aborted report it
    }
  }

  /// Spawns the program (on the calling thread, inside async_run()) and posts the rest to
  /// the strand. A failed spawn is delivered through the executor, never inline.
  void start(const std::vector<std::string>& argv, boost::asio::cancellation_slot slot) {
    spawn_options& so = options_.spawn;
    if (options_.input || so.stdin_fd == stdio_pipe) {
      so.stdin_fd = stdio_pipe;
      if (!options_.input) options_.input.emplace();
    }
    if (options_.capture_stdout) so.stdout_fd = stdio_pipe;
    if (options_.capture_stderr) so.stderr_fd = stdio_pipe;
    group_ = so.new_session || so.process_group == pid_t{0};

    unique_fd ends[3];
    error_code ec;
    started_at_ = std::chrono::steady_clock::now();
    pid_fd child = spawn_with_pipes(argv, so, ends, ec);
    if (!ec) async_pidfd_access::assign_keeping(pidfd_, child, ec);
    boost::asio::posix::basic_stream_descriptor<Executor>* streams[3] = {&in_, &out_, &err_};
    for (int i = 0; i < 3 && !ec; ++i)
      if (ends[i]) {
        streams[i]->assign(ends[i].get(), ec);
        if (!ec) (void)ends[i].release();
      }
    if (ec) {
      if (child.is_open()) {  // spawned, but could not be registered: undo it
        error_code ignored;
        child.kill(ignored);
        (void)child.wait(ignored);
      }
      outcome_->ec = ec;
      abandon();
      finishing_ = delivered_ = true;
      return deliver();
    }
    if (slot.is_connected()) slot.template emplace<cancel_handler>(this->weak_from_this());
    ++pending_;
    boost::asio::post(strand_, [self = this->shared_from_this()] { self->begin(); });
  }

protected:
  /// Hands the outcome to the operation object (posting it to its executor).
  virtual void deliver() = 0;

private:
  using descriptor = boost::asio::posix::basic_stream_descriptor<Executor>;
  using timer_type = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
  enum class timer_role : unsigned char { none, timeout, grace, drain };
  static constexpr std::size_t chunk = std::size_t{64} * 1024;

  // Forwards a per-operation cancellation to the strand.
  struct cancel_handler {
    explicit cancel_handler(std::weak_ptr<run_state> s) noexcept : state(std::move(s)) {}
    std::weak_ptr<run_state> state;
    void operator()(boost::asio::cancellation_type_t type) const {
      if (auto s = state.lock())
        boost::asio::post(s->strand_, [s, type] { s->on_cancel(type); });
    }
  };

  // An internal handler: counted while pending, run on the strand.
  template <class F>
  auto on_strand(F&& f) {
    ++pending_;
    return boost::asio::bind_executor(strand_, std::forward<F>(f));
  }

  void begin() {
    --pending_;
    if (finishing_) return settle();
    pidfd_.async_wait(on_strand([self = this->shared_from_this()](error_code ec, exit_status s) {
      self->on_exit(ec, s);
    }));
    if (out_.is_open()) read(out_, outcome_->result.out, out_buffer_);
    if (err_.is_open()) read(err_, outcome_->result.err, err_buffer_);
    if (in_.is_open()) write_input();
    if (options_.timeout) arm_timer(timer_role::timeout, *options_.timeout);
    settle();
  }

  void on_exit(error_code ec, exit_status status) {
    --pending_;
    if (ec) {
      // Not expected for our own child; never leave it behind.
      if (!outcome_->ec) outcome_->ec = ec;
      finish();
      return settle();
    }
    reaped_ = true;
    outcome_->result.status = status;
    outcome_->result.elapsed = std::chrono::steady_clock::now() - started_at_;
    stop_timer();
    close(in_);  // input nobody read is abandoned
    if (cancelled_ || (!out_.is_open() && !err_.is_open()))
      finish();
    else
      arm_timer(timer_role::drain, options_.drain);
    settle();
  }

  // Reads a chunk into the stream's scratch buffer and keeps what fits under the limit.
  // (Reading into the string itself would zero-fill a chunk of it before every read.)
  void read(descriptor& d, std::string& into, std::unique_ptr<char[]>& buffer) {
    if (into.size() >= options_.output_limit && splice_discard_) return discard(d, into, buffer);
    if (!buffer) buffer.reset(new char[chunk]);
    d.async_read_some(boost::asio::buffer(buffer.get(), chunk),
                      on_strand([self = this->shared_from_this(), &d, &into, &buffer](
                                    error_code ec, std::size_t got) {
                        const std::size_t room = self->options_.output_limit - into.size();
                        into.append(buffer.get(), std::min(got, room));
                        if (got > room) self->outcome_->result.truncated = true;
                        self->on_read(d, into, buffer, ec);
                      }));
  }

  // Beyond the limit: wait for data and splice it to /dev/null, never copying it here.
  void discard(descriptor& d, std::string& into, std::unique_ptr<char[]>& buffer) {
    if (!null_sink_) {
      error_code ec;
      null_sink_ = open_null_sink(ec);
      if (ec) {
        splice_discard_ = false;
        return read(d, into, buffer);
      }
    }
    d.async_wait(descriptor::wait_read,
                 on_strand([self = this->shared_from_this(), &d, &into, &buffer](error_code ec) {
                   self->on_discard_ready(d, into, buffer, ec);
                 }));
  }

  void on_discard_ready(descriptor& d, std::string& into, std::unique_ptr<char[]>& buffer,
                        error_code ec) {
    --pending_;
    if (finishing_) return settle();
    // A bounded number of splices per wake-up, so one busy stream cannot starve the rest.
    for (int k = 0; !ec && k < 16; ++k) {
      const std::size_t n = discard_from_pipe(d.native_handle(), null_sink_.get(), ec);
      if (!ec && n == 0) ec = boost::asio::error::eof;
      if (n > 0) outcome_->result.truncated = true;
    }
    if (!ec || ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      discard(d, into, buffer);
      return settle();
    }
    if (ec == boost::system::errc::invalid_argument) {  // no splice here: read instead
      splice_discard_ = false;
      read(d, into, buffer);
      return settle();
    }
    end_stream(d);  // end of file, or an error
    settle();
  }

  void on_read(descriptor& d, std::string& into, std::unique_ptr<char[]>& buffer,
               error_code ec) {
    --pending_;
    if (finishing_) return settle();
    if (!ec) {
      read(d, into, buffer);
      return settle();
    }
    end_stream(d);  // end of file, or an error
    settle();
  }

  // A captured stream is done; after the reap, the last one ends the run.
  void end_stream(descriptor& d) {
    close(d);
    if (reaped_ && !out_.is_open() && !err_.is_open()) finish();
  }

  void write_input() {
    const std::string& input = *options_.input;
    while (input_written_ < input.size()) {
      error_code ec;
      const std::size_t n = write_without_sigpipe(
          in_.native_handle(), input.data() + input_written_, input.size() - input_written_, ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        in_.async_wait(descriptor::wait_write,
                       on_strand([self = this->shared_from_this()](error_code wait_ec) {
                         self->on_writable(wait_ec);
                       }));
        return;
      }
      if (ec) break;  // broken_pipe: the child stopped reading, which just ends the input
      input_written_ += n;
    }
    close(in_);
  }

  void on_writable(error_code ec) {
    --pending_;
    if (finishing_ || !in_.is_open()) return settle();
    if (ec)
      close(in_);
    else
      write_input();
    settle();
  }

  void arm_timer(timer_role role, std::chrono::steady_clock::duration after) {
    timer_role_ = role;
    const unsigned generation = ++timer_generation_;
    timer_.expires_after(after);
    timer_.async_wait(on_strand([self = this->shared_from_this(), generation](error_code ec) {
      self->on_timer(generation, ec);
    }));
  }

  void stop_timer() {
    ++timer_generation_;
    timer_role_ = timer_role::none;
    timer_.cancel();
  }

  void on_timer(unsigned generation, error_code ec) {
    --pending_;
    if (ec || generation != timer_generation_ || finishing_) return settle();
    switch (timer_role_) {
      case timer_role::timeout:
        if (!outcome_->ec) outcome_->ec = boost::asio::error::timed_out;
        terminate();
        break;
      case timer_role::grace:
        kill();
        break;
      case timer_role::drain:
        outcome_->result.truncated = true;
        finish();
        break;
      case timer_role::none:
        break;
    }
    settle();
  }

  void on_cancel(boost::asio::cancellation_type_t type) {
    if (finishing_) return;
    if (!outcome_->ec) outcome_->ec = boost::asio::error::operation_aborted;
    cancelled_ = true;
    if (reaped_) {  // draining: complete at once
      finish();
      return settle();
    }
    if ((type & boost::asio::cancellation_type::terminal) != boost::asio::cancellation_type::none)
      kill();
    else
      terminate();
  }

  // SIGTERM now, SIGKILL after the grace period.
  void terminate() {
    if (term_sent_ || kill_sent_) return;
    term_sent_ = true;
    send(SIGTERM);
    arm_timer(timer_role::grace, options_.grace);
  }

  void kill() {
    if (kill_sent_) return;
    kill_sent_ = true;
    stop_timer();
    send(SIGKILL);
    error_code ignored;  // best effort: the kernel frees the memory anyway
    pidfd_.core().release_memory(ignored);
  }

  // Signals the process, or its whole group when it leads one. Only before the reap, so
  // the group id (the leader's pid) cannot have been reused.
  void send(int sig) noexcept {
    if (reaped_ || !pidfd_.is_open()) return;
    error_code ec;
    if (group_) {
      pidfd_.core().send_signal(sig, signal_scope::process_group, ec);
      if (ec == boost::system::errc::operation_not_supported) {
        const pid_t pgid = pidfd_.core().pid(ec);
        if (!ec) (void)kill_process_group(pgid, sig);
      }
    } else {
      pidfd_.core().send_signal(sig, ec);
    }
  }

  static void close(descriptor& d) noexcept {
    error_code ignored;
    d.close(ignored);
  }

  // Closes the streams and stops the timer; completes once every handler has run.
  void finish() {
    finishing_ = true;
    close(in_);
    close(out_);
    close(err_);
    stop_timer();
  }

  // Closes everything without handlers having run (a failed start).
  void abandon() noexcept {
    error_code ignored;
    pidfd_.close(ignored);
    close(in_);
    close(out_);
    close(err_);
  }

  void settle() {
    if (!finishing_ || pending_ != 0 || delivered_) return;
    delivered_ = true;
    if (!reaped_ && pidfd_.is_open()) {  // a failed wait: kill and reap before reporting
      send(SIGKILL);
      error_code ignored;
      const exit_status status = pidfd_.core().wait(ignored);
      if (!ignored) outcome_->result.status = status;  // timed_out/aborted report it
    }
    reaped_ = true;
    error_code ignored;
    pidfd_.close(ignored);
    deliver();
  }

  boost::asio::strand<Executor> strand_;
  basic_async_pidfd<Executor> pidfd_;
  descriptor in_, out_, err_;
  timer_type timer_;
  run_options options_;
  std::shared_ptr<run_outcome> outcome_;
  std::unique_ptr<char[]> out_buffer_, err_buffer_;
  unique_fd null_sink_;         // /dev/null, once a stream has gone over output_limit
  bool splice_discard_ = true;  // false where splice() to /dev/null does not work
  std::chrono::steady_clock::time_point started_at_{};
  std::size_t input_written_ = 0;
  int pending_ = 0;
  unsigned timer_generation_ = 0;
  timer_role timer_role_ = timer_role::none;
  bool group_ = false;
  bool reaped_ = false;
  bool cancelled_ = false;
  bool term_sent_ = false;
  bool kill_sent_ = false;
  bool finishing_ = false;
  bool delivered_ = false;
};

/// run_state with the place for the parked operation object.
template <class Executor, class Self>
class run_state_for final : public run_state<Executor> {
public:
  using run_state<Executor>::run_state;
  std::optional<Self> self;

private:
  void deliver() override {
    Self s = std::move(*self);
    self.reset();
    auto ex = s.get_io_executor();
    boost::asio::post(ex, std::move(s));
  }
};

/// async_run()'s operation, for boost::asio::async_compose: starts a run_state, and when
/// that posts it back, completes with the outcome.
template <class Executor>
class run_op {
public:
  run_op(const Executor& ex, std::vector<std::string> argv, run_options options)
      : ex_(ex), argv_(std::move(argv)), options_(std::move(options)) {}

  template <class Self>
  void operator()(Self& self) {
    if (outcome_) {
      std::shared_ptr<run_outcome> outcome = std::move(outcome_);
      return self.complete(outcome->ec, std::move(outcome->result));
    }
    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
    outcome_ = std::make_shared<run_outcome>();
    auto state =
        std::make_shared<run_state_for<Executor, Self>>(ex_, std::move(options_), outcome_);
    const boost::asio::cancellation_slot slot = self.get_cancellation_state().slot();
    const std::vector<std::string> argv = std::move(argv_);
    state->self.emplace(std::move(self));  // *this has moved with it: no member use below
    state->start(argv, slot);
  }

private:
  Executor ex_;
  std::vector<std::string> argv_;
  run_options options_;
  std::shared_ptr<run_outcome> outcome_;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_PROCESS_OPS_HPP
