// asio-pidfd internal: the composed operation behind async_run().
//
// async_run() does several things at once: it waits for the process, reads its stdout and
// stderr, writes its input, and runs a timer (the timeout, then the grace period of the
// termination, or after the exit the drain period). What happens when is decided by a
// run_policy (<pidfd/detail/run_policy.hpp>), a state machine without I/O: this file only
// feeds it the events it sees and carries out the actions it answers with. No handler
// blocks.
//
// The I/O objects share one run_core, owned by their handlers, which run one at a time
// in order of arrival (a serial_queue, <pidfd/detail/serial_queue.hpp>: what a strand
// gives, cheaper), so the state needs no lock even when the io_context runs on several
// threads.
// The composed operation object (the `self` of async_compose, holding the user's handler)
// is parked in the state meanwhile and posted back to the I/O executor at the end with
// the result appended as its arguments, so the handler runs on its associated executor
// and never inside async_run().
//
// Included by <pidfd/process.hpp> once run_options and run_result are defined.
#ifndef PIDFD_DETAIL_PROCESS_OPS_HPP
#define PIDFD_DETAIL_PROCESS_OPS_HPP

#include <pidfd/async_pidfd.hpp>
#include <pidfd/detail/cgroup.hpp>
#include <pidfd/detail/cgroup_watch.hpp>
#include <pidfd/detail/process_support.hpp>
#include <pidfd/detail/pty_ops.hpp>
#include <pidfd/detail/run_policy.hpp>
#include <pidfd/detail/serial_queue.hpp>
#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pidfd::detail {

/// The state of one async_run(): see the top of this file. Every member function other
/// than start() and the destructor runs in serial_'s order. It does not depend on the
/// completion handler's type (run_state adds the parked operation object): its code is
/// made once per executor type, not once per handler.
template <class Executor>
class run_core : public std::enable_shared_from_this<run_core<Executor>> {
public:
  run_core(const Executor& ex, run_options&& options)
      : ex_(ex), pidfd_(ex), out_(ex), err_(ex),
        options_(std::move(options)), policy_(policy_config(options_)),
        out_lines_(options_.max_line), err_lines_(options_.max_line), pty_(options_.pty) {}

  run_core(const run_core&) = delete;
  run_core& operator=(const run_core&) = delete;
  run_core(run_core&&) = delete;
  run_core& operator=(run_core&&) = delete;

  /// A run abandoned with its process still running (the execution context was destroyed
  /// with the operation pending) kills and reaps it: nothing is left behind. (Not a
  /// handler: after SIGKILL the reap is prompt.)
  virtual ~run_core() {
    if (pidfd_.is_open() && !pidfd_.core().cached_status()) {
      send(SIGKILL, run_target::process);
      error_code ignored;
      (void)pidfd_.core().wait(ignored);
    }
    if (leftovers_possible()) (void)kill_group_leftovers(pidfd_.core(), pgid_);
    // A cgroup still owned is killed and, if it can be at once, removed by its destructor.
  }

  /// Spawns the program (on the calling thread, inside async_run()) and posts the rest to
  /// the executor. A failed spawn is delivered through the executor, never inline.
  void start(const std::vector<std::string>& argv, boost::asio::cancellation_slot slot) {
    plan_stdio();
    error_code ec;
    pid_fd child = spawn_and_register(argv, ec);
    if (ec) return abandon_start(child, ec);
    ++pending_;
    boost::asio::post(ex_, in_order([s = this->shared_from_this()] { s->begin(); }));
    // After the post: a cancellation is then handled after begin(), or, taken first on
    // another thread, kept for begin() to carry out.
    if (slot.is_connected()) slot.template emplace<cancel_handler>(this->weak_from_this());
  }

private:
  using descriptor = boost::asio::posix::basic_stream_descriptor<Executor>;
  using timer_type = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  // Fits the spawn options to the run: the terminal as all three streams, or a pipe for
  // each stream that is written, captured or streamed; a process group of its own for
  // run_scope::process_group.
  void plan_stdio() {
    spawn_options& so = options_.spawn;
    if (pty_) {
      // The terminal is all three streams; the child leads a session (implied by the
      // terminal; set here so that no process group is asked for on top of it).
      so.stdin_fd = so.stdout_fd = so.stderr_fd = stdio_pty;
      so.new_session = true;
      if (options_.input) {
        // End of file as typed: ^D at the start of a line; one more ends an open line.
        std::string& in = *options_.input;
        if (!in.empty() && in.back() != '\n') in += end_of_file_char;
        in += end_of_file_char;
      }
      splice_discard_ = false;  // a terminal cannot be spliced from
    } else if (options_.input || so.stdin_fd == stdio_pipe) {
      so.stdin_fd = stdio_pipe;
      if (!options_.input) options_.input.emplace();
    }
    const bool streaming = static_cast<bool>(options_.on_output);
    merged_ = so.stderr_fd == stdio_stdout;
    if (!pty_) {
      if (so.stdout_fd == stdio_pipe) options_.capture_stdout = true;
      if (so.stderr_fd == stdio_pipe) options_.capture_stderr = true;
      if (merged_) options_.capture_stderr = false;  // everything comes as stdout
      if (options_.capture_stdout || streaming) so.stdout_fd = stdio_pipe;
      if (!merged_ && (options_.capture_stderr || streaming)) so.stderr_fd = stdio_pipe;
    }
    if (options_.scope == run_scope::process_group && !so.new_session) so.process_group = 0;
  }

  // Makes the run's cgroup (run_scope::cgroup), spawns the program and registers its pidfd
  // and streams with the executor. On failure ec is set, and the child may be open.
  pid_fd spawn_and_register(const std::vector<std::string>& argv, error_code& ec) {
    spawn_options& so = options_.spawn;
    unique_fd ends[3];
    unique_fd master;
    if (options_.scope == run_scope::cgroup) {
      cgroup_ = run_cgroup::create(options_.cgroup_parent, ec);
      if (!ec) watch_.emplace(ex_).open(cgroup_, ec);
      if (!ec) so.cgroup_fd = cgroup_.native_handle();
    }
    started_at_ = std::chrono::steady_clock::now();
    pid_fd child;
    if (!ec && pty_)
      child = spawn_with_stdio(argv, so, ends, master, ec, options_.pty_size.rows,
                               options_.pty_size.cols, options_.pipe_capacity);
    else if (!ec)
      child = spawn_with_pipes(argv, so, ends, ec, options_.pipe_capacity);
    if (!ec) pgid_ = child_pid_ = child.pid(ec);
    if (!ec) impl_of(pidfd_).assign(child, ec);
    if (!ec && ends[0]) in_.emplace(ex_);
    descriptor* streams[3] = {in_ ? &*in_ : nullptr, &out_, &err_};
    for (int i = 0; i < 3 && !ec; ++i)
      if (ends[i]) {
        streams[i]->assign(ends[i].get(), ec);
        if (!ec) (void)ends[i].release();
      }
    // The master is the one output stream, and where input is written: one descriptor for
    // both (a reactor registers a descriptor once). Writes must not block.
    if (!ec && master) {
      out_.assign(master.get(), ec);
      if (!ec) (void)master.release();
      if (!ec) out_.non_blocking(true, ec);
      if (!ec) writing_ = options_.input.has_value();
    }
    return child;
  }

  // A start that failed: undoes what was done (kills and reaps a child spawned but not
  // registered, removes the cgroup, in which nothing started, closes every descriptor) and
  // delivers ec through the executor, never inline.
  void abandon_start(pid_fd& child, const error_code& ec) {
    if (child.is_open()) {  // spawned, but could not be registered: undo it
      error_code ignored;
      child.kill(ignored);
      (void)child.wait(ignored);
    }
    pgid_ = 0;
    if (watch_) watch_->close();
    if (cgroup_.is_open()) (void)cgroup_.remove();  // empty: nothing was started in it
    error_code ignored;
    pidfd_.close(ignored);
    if (in_) close(*in_);
    close(out_);
    close(err_);
    ec_ = ec;
    finishing_ = delivered_ = true;
    return deliver();
  }

  static constexpr std::size_t chunk = std::size_t{64} * 1024;
  static constexpr std::size_t small_chunk = 4096;
  static constexpr char end_of_file_char = '\x04';  // ^D, a new terminal's VEOF

  static run_policy::config policy_config(const run_options& o) noexcept {
    run_policy::config c;
    c.scope = o.scope;
    c.child_leads_group = o.pty || o.spawn.new_session || o.spawn.process_group == pid_t{0};
    c.timeout = o.timeout;
    c.grace = o.grace;
    c.drain = o.drain;
    return c;
  }

  // Forwards a per-operation cancellation to the run's handlers.
  struct cancel_handler {
    explicit cancel_handler(std::weak_ptr<run_core> s) noexcept : state(std::move(s)) {}
    std::weak_ptr<run_core> state;
    void operator()(boost::asio::cancellation_type_t type) const {
      if (auto s = state.lock())
        boost::asio::post(s->ex_, s->in_order([s, type] { s->on_cancel(type); }));
    }
  };

  // Where a stream is read into: first a small buffer within the run state (most programs
  // print little, and a run then allocates nothing for reading), from the first read that
  // fills it on a chunk-sized one of its own.
  struct scratch_buffer {
    std::unique_ptr<char[]> large;
    char small[small_chunk];  // NOLINT(*-avoid-c-arrays): storage, written only by reads

    boost::asio::mutable_buffer space() noexcept {
      return large ? boost::asio::buffer(large.get(), chunk) : boost::asio::buffer(small);
    }
    const char* data() const noexcept { return large ? large.get() : small; }
    // After the data of a read of got bytes has been taken: the small buffer was too small.
    void grow_if_filled(std::size_t got) {
      if (!large && got == small_chunk) large.reset(new char[chunk]);
    }
  };

  // One output stream: its descriptor, what is kept of it, its scratch buffer, its lines.
  struct stream_ref {
    descriptor& d;
    std::string& into;
    scratch_buffer& buffer;
    line_splitter& lines;
    output_stream which;
    bool capture;
  };
  stream_ref out_ref() {
    return {out_, result_.out, out_buffer_, out_lines_, output_stream::out, options_.capture_stdout};
  }
  stream_ref err_ref() {
    return {err_, result_.err, err_buffer_, err_lines_, output_stream::err, options_.capture_stderr};
  }
  stream_ref ref(output_stream s) { return s == output_stream::out ? out_ref() : err_ref(); }

  // An internal handler: counted while pending, run in order (in_order()).
  template <class F>
  auto counted(F&& f) {
    ++pending_;
    return in_order(std::forward<F>(f));
  }

  // A handler that runs f with its arguments in serial_'s order, on the I/O executor's
  // thread that completes it (its associated executor is the I/O executor's: no
  // re-dispatch, no work tracked on a second executor).
  template <class F>
  auto in_order(F&& f) {
    return [this, f = std::forward<F>(f)](auto... args) mutable {
      serial_.run(std::bind_front(std::move(f), std::move(args)...),
                  [this]() { resume_in_order(); });
    };
  }
  // A function of ours threw (out of io_context::run()): whatever was queued behind it
  // runs later, from a handler of its own. (Were that post to fail for want of memory,
  // its exception would go on instead of the first, and the queue would stay stopped.)
  void resume_in_order() {
    boost::asio::post(ex_, [s = this->shared_from_this()] {
      s->serial_.resume_queued([&s] { s->resume_in_order(); });
    });
  }

  void begin() {
    --pending_;
    begun_ = true;
    apply(policy_.spawned(out_.is_open(), err_.is_open()));
    if (!finishing_) {
      if (out_.is_open()) read(out_ref());
      if (err_.is_open()) read(err_ref());
      if (input_open()) write_input();
    }
    // A cancellation that ran first (both were posted; on an io_context run by several
    // threads either may be taken first) is carried out now.
    if (early_cancel_ != boost::asio::cancellation_type::none && !finishing_)
      apply(policy_.cancelled(cancellation_kind(early_cancel_)));
    settle();
  }

  // Carries out what the policy asked for, in the order run_actions documents.
  void apply(const run_actions& a) {
    if (a.cancel_timer) cancel_timer();
    if (a.signal != 0) send(a.signal, a.target);
    if (a.release_memory && !pidfd_.core().cached_status()) {
      error_code ignored;  // best effort: the kernel frees the memory anyway
      pidfd_.core().release_memory(ignored);
    }
    if (a.close_input) end_input();
    if (a.arm != run_timer::none) arm_timer(a.arm, a.arm_after);
    if (a.start_wait) start_wait();
    if (a.watch_cgroup) watch_cgroup();
    if (a.close_streams) {
      end_output(out_ref());
      end_output(err_ref());
    }
    if (a.truncated) result_.truncated = true;
    if (a.kill_leftovers && leftovers_possible()) {
      result_.killed_leftovers += kill_group_leftovers(pidfd_.core(), pgid_);
      pgid_ = 0;
    }
    if (a.kill_leftovers && cgroup_.is_open()) kill_cgroup();
    if (a.remove_cgroup) remove_cgroup();
    if (a.complete) {
      ec_ = a.ec;
      finishing_ = true;
      if (watch_) watch_->close();
      end_input();
      close(out_);
      close(err_);
      cancel_timer();
    }
  }

  bool leftovers_possible() const noexcept {
    return options_.scope == run_scope::process_group && pgid_ > 0;
  }

  void start_wait() {
    pidfd_.async_wait(counted([s = this->shared_from_this()](error_code ec, exit_status st) {
      s->on_exit(ec, st);
    }));
  }

  void watch_cgroup() {
    watch_->async_wait_empty(counted([self = this->shared_from_this()](error_code ec) {
      self->on_cgroup_empty(ec);
    }));
  }

  void on_cgroup_empty(error_code ec) {
    --pending_;
    // An error reading cgroup.events (not a cancellation at the end) is taken as empty:
    // the end of the run then kills what may be left and tries to remove the cgroup.
    if (!finishing_ && ec != boost::asio::error::operation_aborted)
      apply(policy_.cgroup_emptied());
    settle();
  }

  // cgroup.kill, counting the members it ends besides the child itself. If cgroup.kill
  // cannot be written, each member gets SIGKILL through a pidfd instead: the run ends
  // when the cgroup is empty, so its members must not be left running.
  void kill_cgroup() {
    if (cgroup_killed_) return;  // the kernel's kill also caught whatever forked since
    cgroup_killed_ = true;
    error_code ec;
    std::vector<pid_t> members = cgroup_.members(ec);
    const std::size_t others = static_cast<std::size_t>(
        std::count_if(members.begin(), members.end(), [&](pid_t p) { return p != child_pid_; }));
    if (!cgroup_.kill()) {
      result_.killed_leftovers += others;
      return;
    }
    const std::size_t signalled = cgroup_.signal_all(SIGKILL, ec);
    if (!ec) result_.killed_leftovers += std::min(signalled, others);
  }

  // The cgroup is empty: its CPU figures complete the usage, then it goes.
  void remove_cgroup() {
    error_code ec;
    const std::optional<cgroup_cpu_usage> cpu = cgroup_.cpu_usage(ec);
    if (cpu && result_.usage) {
      result_.usage->user_cpu = std::max(result_.usage->user_cpu, cpu->user);
      result_.usage->system_cpu = std::max(result_.usage->system_cpu, cpu->system);
    }
    if (watch_) watch_->close();
    (void)cgroup_.remove();
  }

  void on_exit(error_code ec, exit_status status) {
    --pending_;
    if (ec) {
      apply(policy_.wait_failed(ec));
      return settle();
    }
    result_.status = status;
    result_.elapsed = std::chrono::steady_clock::now() - started_at_;
    result_.usage = pidfd_.core().usage();
    apply(policy_.reaped());
    settle();
  }

  // Reads a chunk into the stream's scratch buffer, streams it, and keeps what fits under
  // the limit. (Reading into the string itself would zero-fill a chunk of it before every
  // read.) Past the limit, with nobody to stream to, the data is discarded unread.
  void read(stream_ref s) {
    if (!options_.on_output && s.into.size() >= options_.output_limit && splice_discard_)
      return discard(s);
    s.d.async_read_some(s.buffer.space(),
                        counted([self = this->shared_from_this(), which = s.which](
                                      error_code ec, std::size_t got) {
                          self->on_read(self->ref(which), ec, got);
                        }));
  }

  void on_read(stream_ref s, error_code ec, std::size_t got) {
    --pending_;
    if (pty_) pty_eio_to_eof(ec);  // nobody has the terminal open any more
    // Data read before the run closed the stream is kept even so (io_uring may complete a
    // read with its bytes after the close); only no further read is made.
    if (got > 0) {
      const std::string_view data(s.buffer.data(), got);
      output(s, data);
      if (s.capture) {
        const std::size_t room = options_.output_limit - std::min(options_.output_limit, s.into.size());
        s.into.append(data.data(), std::min(got, room));
        if (got > room) result_.truncated = true;
      }
    }
    if (!s.d.is_open()) return settle();  // the run is ending
    if (!ec) {
      s.buffer.grow_if_filled(got);
      read(s);
    } else {
      end_stream(s);  // end of file, or an error
    }
    settle();
  }

  // Beyond the limit: wait for data and splice it to /dev/null, never copying it here.
  void discard(stream_ref s) {
    if (!null_sink_) {
      error_code ec;
      null_sink_ = open_null_sink(ec);
      if (ec) {
        splice_discard_ = false;
        return read(s);
      }
    }
    s.d.async_wait(descriptor::wait_read,
                   counted([self = this->shared_from_this(), which = s.which](error_code ec) {
                     self->on_discard_ready(self->ref(which), ec);
                   }));
  }

  void on_discard_ready(stream_ref s, error_code ec) {
    --pending_;
    if (!s.d.is_open()) return settle();
    // A bounded number of splices per wake-up, so one busy stream cannot starve the rest.
    for (int k = 0; !ec && k < 16; ++k) {
      const std::size_t n = discard_from_pipe(s.d.native_handle(), null_sink_.get(), ec);
      if (!ec && n == 0) ec = boost::asio::error::eof;
      if (n > 0) result_.truncated = true;
    }
    if (!ec || ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      discard(s);
    } else if (ec != boost::asio::error::eof) {
      // No splice here (EINVAL), or it failed: the data is read and dropped instead; ending
      // the stream would leave the program writing to a pipe nobody reads.
      splice_discard_ = false;
      read(s);
    } else {
      end_stream(s);
    }
    settle();
  }

  // Hands a piece to on_output: as it came, or cut into lines. on_output must not throw;
  // if it does, it is not called again (the rest of the piece included) and the run is
  // ended as by a terminal cancellation.
  void output(stream_ref s, std::string_view data) {
    if (!options_.on_output || output_failed_) return;
    const std::function<void(output_stream, std::string_view)>& on_output = options_.on_output;
    const output_stream which = s.which;
    try {
      if (options_.whole_lines)
        s.lines.feed(data, [&](std::string_view piece) { on_output(which, piece); });
      else
        on_output(which, data);
    } catch (...) {
      output_failed();
    }
  }

  // The unterminated last line of a stream that ends, if lines are streamed.
  void output_rest(stream_ref s) {
    if (!options_.on_output || !options_.whole_lines || output_failed_) return;
    try {
      s.lines.finish([&](std::string_view piece) { options_.on_output(s.which, piece); });
    } catch (...) {
      output_failed();
    }
  }

  void output_failed() {
    output_failed_ = true;
    apply(policy_.output_failed());
  }

  // A stream that is no longer read: its unterminated last line goes out, then it closes.
  void end_output(stream_ref s) {
    if (!s.d.is_open()) return;
    output_rest(s);
    close(s.d);
  }

  void end_stream(stream_ref s) {
    end_output(s);
    apply(policy_.stream_ended(s.which));
  }

  // Where the input goes: the stdin pipe, or the terminal.
  descriptor& input_stream() noexcept { return pty_ ? out_ : *in_; }
  bool input_open() const noexcept {
    return pty_ ? writing_ && out_.is_open() : in_ && in_->is_open();
  }
  // No more input: the pipe is closed (end of file); the terminal stays open for output.
  void end_input() noexcept {
    if (pty_)
      writing_ = false;
    else if (in_)
      close(*in_);
  }

  void write_input() {
    const std::string& input = *options_.input;
    descriptor& to = input_stream();
    while (input_written_ < input.size()) {
      error_code ec;
      const std::size_t n = write_without_sigpipe(
          to.native_handle(), input.data() + input_written_, input.size() - input_written_, ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
        to.async_wait(descriptor::wait_write,
                       counted([self = this->shared_from_this()](error_code wait_ec) {
                         self->on_writable(wait_ec);
                       }));
        return;
      }
      if (ec) break;  // broken_pipe: the child stopped reading, which just ends the input
      input_written_ += n;
    }
    end_input();
  }

  void on_writable(error_code ec) {
    --pending_;
    if (!input_open()) return settle();
    if (ec)
      end_input();
    else
      write_input();
    settle();
  }

  // A timer armed before no longer fires (its handler, if still queued, sees the
  // generation moved on).
  void cancel_timer() {
    ++timer_generation_;
    if (timer_) timer_->cancel();
  }

  void arm_timer(run_timer role, std::chrono::steady_clock::duration after) {
    const unsigned generation = ++timer_generation_;
    if (!timer_) timer_.emplace(ex_);
    timer_->expires_after(after);
    timer_->async_wait(
        counted([self = this->shared_from_this(), generation, role](error_code ec) {
          self->on_timer(generation, role, ec);
        }));
  }

  void on_timer(unsigned generation, run_timer role, error_code ec) {
    --pending_;
    if (ec || generation != timer_generation_ || finishing_) return settle();
    switch (role) {
      case run_timer::timeout:
        apply(policy_.timeout_expired());
        break;
      case run_timer::grace:
        apply(policy_.grace_expired());
        break;
      case run_timer::drain:
        apply(policy_.drain_expired());
        break;
      case run_timer::none:
        break;
    }
    settle();
  }

  void on_cancel(boost::asio::cancellation_type_t type) {
    if (!begun_) {
      early_cancel_ = early_cancel_ | type;  // begin() carries it out
      return;
    }
    if (finishing_) return;
    apply(policy_.cancelled(cancellation_kind(type)));
    settle();
  }

  static run_cancellation cancellation_kind(boost::asio::cancellation_type_t type) noexcept {
    using ct = boost::asio::cancellation_type;
    return (type & ct::terminal) != ct::none  ? run_cancellation::terminal
           : (type & ct::partial) != ct::none ? run_cancellation::partial
                                              : run_cancellation::total;
  }

  // Signals the target. The process is signalled only before its reap (afterwards the
  // pidfd would just report ESRCH); the group through the pidfd, or kill(-pgid) while the
  // leader is an unreaped child of ours.
  void send(int sig, run_target target) noexcept {
    if (target == run_target::cgroup && cgroup_.is_open()) {
      error_code ignored;
      if (sig == SIGKILL)
        kill_cgroup();
      else
        (void)cgroup_.signal_all(sig, ignored);
      return;
    }
    if (!pidfd_.is_open()) return;
    if (target == run_target::group) {
      (void)signal_process_group(pidfd_.core(), sig);
    } else if (!pidfd_.core().cached_status()) {
      error_code ignored;
      pidfd_.core().send_signal(sig, ignored);
    }
  }

  static void close(descriptor& d) noexcept {
    error_code ignored;
    d.close(ignored);
  }

  // Delivers once the run is complete and every handler of ours has run.
  void settle() {
    if (!finishing_ || pending_ != 0 || delivered_) return;
    delivered_ = true;
    error_code ignored;
    pidfd_.close(ignored);
    deliver();
  }

  void deliver() { complete(ec_, std::move(result_)); }

protected:
  // Hands the result to the parked operation object (run_state), through its executor.
  virtual void complete(error_code ec, run_result&& result) = 0;

private:

  Executor ex_;
  serial_queue serial_;
  basic_async_pidfd<Executor> pidfd_;
  // The I/O objects a run needs only at times are made when first needed: each costs a
  // service lookup to make and a cancellation to destroy, on every run.
  std::optional<descriptor> in_;  // the stdin pipe, when input is written
  descriptor out_, err_;
  std::optional<timer_type> timer_;                     // armed by the policy
  std::optional<basic_cgroup_watch<Executor>> watch_;  // run_scope::cgroup: the wait for an
                                                       // empty cgroup
  run_cgroup cgroup_;                   // run_scope::cgroup: the run's own cgroup
  run_options options_;
  run_policy policy_;
  run_result result_;
  error_code ec_;
  line_splitter out_lines_, err_lines_;
  scratch_buffer out_buffer_, err_buffer_;
  unique_fd null_sink_;         // /dev/null, once a stream has gone over output_limit
  bool splice_discard_ = true;  // false where splice() to /dev/null does not work
  std::chrono::steady_clock::time_point started_at_{};
  std::size_t input_written_ = 0;
  pid_t pgid_ = 0;              // the child's pid: its group's id in process_group scope
  pid_t child_pid_ = 0;
  int pending_ = 0;
  unsigned timer_generation_ = 0;
  boost::asio::cancellation_type_t early_cancel_ = boost::asio::cancellation_type::none;
  const bool pty_;       // the program runs on a terminal, whose master is out_
  bool writing_ = false;  // pty_: input is still being written to out_
  bool merged_ = false;
  bool cgroup_killed_ = false;
  bool output_failed_ = false;
  bool finishing_ = false;
  bool delivered_ = false;
  bool begun_ = false;  // begin() has run
};

/// A run's state with the parked operation object (the `self` of async_compose, holding
/// the user's handler), posted back with the result appended at the end.
template <class Executor, class Self>
class run_state final : public run_core<Executor> {
public:
  using run_core<Executor>::run_core;

  /// The parked operation object.
  std::optional<Self> self;

private:
  void complete(error_code ec, run_result&& result) override {
    Self s = std::move(*self);
    self.reset();
    auto ex = s.get_io_executor();
    boost::asio::post(ex, boost::asio::append(std::move(s), ec, std::move(result)));
  }
};

/// async_run()'s operation, for boost::asio::async_compose: starts a run_state, which
/// posts it back with the result as arguments at the end. The options move on into the
/// state; what is left of them here is emptied, so that the operation object, moved a few
/// times more until it completes, is cheap to move.
template <class Executor>
class run_op {
public:
  run_op(const Executor& ex, std::vector<std::string>&& argv, run_options&& options)
      : ex_(ex), argv_(std::move(argv)), options_(std::in_place, std::move(options)) {}

  template <class Self>
  void operator()(Self& self) {
    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
    auto state = std::make_shared<run_state<Executor, Self>>(ex_, std::move(*options_));
    options_.reset();
    const boost::asio::cancellation_slot slot = self.get_cancellation_state().slot();
    const std::vector<std::string> argv = std::move(argv_);
    state->self.emplace(std::move(self));  // *this has moved with it: no member use below
    state->start(argv, slot);
  }

  template <class Self>
  void operator()(Self& self, error_code ec, run_result&& result) {
    self.complete(ec, std::move(result));
  }

private:
  Executor ex_;
  std::vector<std::string> argv_;
  std::optional<run_options> options_;  // until the operation starts
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_PROCESS_OPS_HPP
