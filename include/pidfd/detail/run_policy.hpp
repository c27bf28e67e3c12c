// asio-pidfd internal: what async_run() does when, as a plain state machine without I/O.
//
// The operation behind async_run() feeds every event it sees (the spawn, a timer, the reap,
// a failed wait, the end of an output stream, a cancellation, an empty cgroup) to a
// run_policy, which answers with the actions to carry out (signal whom, arm which timer,
// wait again, close the streams, kill what is left, complete with which error). The policy
// does no I/O and knows nothing of Asio, so every transition is tested without a process.
//
// Also here, for the same reason: line_splitter, which cuts a stream into whole lines for
// run_options::whole_lines, and the public enums both <pidfd/process.hpp> and the policy use.
#ifndef PIDFD_DETAIL_RUN_POLICY_HPP
#define PIDFD_DETAIL_RUN_POLICY_HPP

#include <pidfd/error.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace pidfd {

/// Which of a child's output streams a piece of output came from.
enum class output_stream {
  out,  ///< its stdout (also its stderr when that was merged with stdio_stdout)
  err,  ///< its stderr
};

/// What async_run() treats as the run: whom it signals on a timeout or cancellation, and
/// what it kills when the run ends.
enum class run_scope {
  /// The process (its whole group when it leads one); nothing else is killed at the end.
  process,
  /// The child leads a new process group; timeout, cancellation and the end of the run
  /// signal the whole group: members still alive at the end (after the drain) get SIGKILL.
  process_group,
  /// The child starts in a new cgroup v2 made for this run under
  /// run_options::cgroup_parent; every process of the cgroup is signalled, the drain ends
  /// when the cgroup is empty, and what is left at the end is killed (cgroup.kill).
  cgroup,
};

}  // namespace pidfd

namespace pidfd::detail {

/// Whom an action signals.
enum class run_target : unsigned char {
  process,  ///< the child, through its pidfd
  group,    ///< the child's process group
  cgroup,   ///< every process of the run's cgroup (SIGKILL: cgroup.kill)
};

/// The roles of the one timer of a run.
enum class run_timer : unsigned char { none, timeout, grace, drain };

/// The kinds of per-operation cancellation, as the policy distinguishes them.
enum class run_cancellation : unsigned char { terminal, partial, total };

/// What the I/O layer must do after an event, in this order: stop the timer, send the
/// signal (then release the child's memory), close the input, arm the timer, start a wait,
/// start watching the cgroup, close the output streams, kill the leftovers, remove the
/// cgroup, complete.
struct run_actions {
  bool cancel_timer = false;
  int signal = 0;                       ///< SIGTERM or SIGKILL to target; 0: none
  run_target target = run_target::process;
  bool release_memory = false;          ///< process_mrelease after the SIGKILL (best effort)
  bool close_input = false;             ///< input nobody read is abandoned
  run_timer arm = run_timer::none;      ///< arm the timer in this role, for arm_after
  std::chrono::steady_clock::duration arm_after{};
  bool start_wait = false;              ///< an (other) asynchronous wait for the child
  bool watch_cgroup = false;            ///< report cgroup_emptied() when the cgroup is empty
  bool close_streams = false;           ///< stop reading; deliver unterminated lines
  bool truncated = false;               ///< a stream was still open when the drain ended
  bool kill_leftovers = false;          ///< SIGKILL what is left of the scope, counting it
  bool remove_cgroup = false;           ///< the cgroup is empty: remove it
  bool complete = false;                ///< complete the operation with ec
  error_code ec;
};

/// The timeout -> SIGTERM -> grace -> SIGKILL -> drain policy of one async_run(). Each
/// event returns the actions it calls for; events that come too late (a timer that lost
/// the race against the reap, a second cancellation) return no action.
class run_policy {
public:
  /// How the run was configured.
  struct config {
    run_scope scope = run_scope::process;
    bool child_leads_group = false;  ///< process scope: signals go to the group
    std::optional<std::chrono::steady_clock::duration> timeout;
    std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
    std::chrono::steady_clock::duration drain = std::chrono::seconds(1);
  };

  explicit run_policy(const config& c) noexcept;

  /// The child runs; out and err say which output streams are being read.
  run_actions spawned(bool out, bool err) noexcept;
  /// The timeout expired.
  run_actions timeout_expired() noexcept;
  /// The grace period after SIGTERM expired.
  run_actions grace_expired() noexcept;
  /// The drain period after the reap expired.
  run_actions drain_expired() noexcept;
  /// The child has been reaped.
  run_actions reaped() noexcept;
  /// Waiting for the child failed with ec.
  run_actions wait_failed(const error_code& ec) noexcept;
  /// The stream reached end of file (or failed): it is no longer read.
  run_actions stream_ended(output_stream s) noexcept;
  /// A per-operation cancellation.
  run_actions cancelled(run_cancellation type) noexcept;
  /// The output callback threw: the run is ended as by a terminal cancellation.
  run_actions output_failed() noexcept;
  /// The run's cgroup has no process left.
  run_actions cgroup_emptied() noexcept;

  /// The phases of a run.
  enum class phase : unsigned char {
    starting,  ///< not spawned yet
    running,   ///< spawned, not reaped
    draining,  ///< reaped; reading what the streams still hold
    ending,    ///< leftovers of the cgroup killed; waiting for it to be empty
    done,      ///< completed
  };
  phase current() const noexcept { return phase_; }
  /// The role of the armed timer (none when no timer runs).
  run_timer timer() const noexcept { return timer_; }
  /// The child has been reaped (or could not be waited for any more).
  bool child_gone() const noexcept { return phase_ != phase::starting && phase_ != phase::running; }

private:
  run_target target() const noexcept;
  void terminate(run_actions& a) noexcept;
  void kill(run_actions& a) noexcept;
  void arm(run_actions& a, run_timer role, std::chrono::steady_clock::duration d) noexcept;
  void cancel_timer(run_actions& a) noexcept;
  void set_reason(const error_code& ec) noexcept;
  run_actions child_ended() noexcept;
  void maybe_end_drain(run_actions& a) noexcept;
  void end_run(run_actions& a) noexcept;
  void complete(run_actions& a) noexcept;

  config config_;
  phase phase_ = phase::starting;
  run_timer timer_ = run_timer::none;
  error_code reason_;
  bool out_open_ = false;
  bool err_open_ = false;
  bool term_sent_ = false;
  bool kill_sent_ = false;
  bool aborted_ = false;
  bool cgroup_empty_ = false;
  unsigned wait_failures_ = 0;
};

/// Cuts a stream into whole lines (each with its '\n') of at most max_line bytes plus the
/// '\n'; a longer line comes in pieces of max_line bytes. What has no '\n' yet is kept
/// until more data, or finish(), delivers it.
class line_splitter {
public:
  /// max_line 0 is taken as 1.
  explicit line_splitter(std::size_t max_line) noexcept : max_(max_line == 0 ? 1 : max_line) {}

  /// Calls emit(std::string_view) for every complete piece data finishes.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    while (!data.empty()) {
      const std::size_t room = max_ - kept_.size();
      // A '\n' within room + 1 bytes ends a line of at most max_ bytes plus its '\n'.
      const std::size_t nl = data.substr(0, room + 1).find('\n');
      if (nl != std::string_view::npos) {
        emit_piece(data.substr(0, nl + 1), emit);
        data.remove_prefix(nl + 1);
      } else if (data.size() > room) {
        // max_ bytes without a '\n' and more to come: a piece of exactly max_ bytes.
        emit_piece(data.substr(0, room), emit);
        data.remove_prefix(room);
      } else {
        kept_.append(data);
        return;
      }
    }
  }

  /// Delivers what is kept (the unterminated last line), if anything.
  template <class Emit>
  void finish(Emit&& emit) {
    if (kept_.empty()) return;
    std::string rest = std::move(kept_);
    kept_.clear();
    emit(std::string_view(rest));
  }

  /// Bytes kept for the next piece.
  std::size_t kept() const noexcept { return kept_.size(); }

private:
  template <class Emit>
  void emit_piece(std::string_view tail, Emit& emit) {
    if (kept_.empty()) return emit(tail);
    kept_.append(tail);
    std::string piece = std::move(kept_);
    kept_.clear();
    emit(std::string_view(piece));
  }

  std::size_t max_;
  std::string kept_;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_RUN_POLICY_HPP
