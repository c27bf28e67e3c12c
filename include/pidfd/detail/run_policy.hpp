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

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
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
///
/// A line that lies wholly within one piece of data is handed on as a view into it, without
/// a copy; only a line that spans two pieces is put together in the splitter. If emit
/// throws, the exception leaves feed() or finish(); the splitter is then still usable,
/// but the rest of that data is not cut (its owner stops calling it anyway).
class line_splitter {
public:
  /// max_line 0 is taken as 1.
  explicit line_splitter(std::size_t max_line) noexcept : max_(max_line == 0 ? 1 : max_line) {}

  /// Calls emit(std::string_view) for every complete piece data finishes.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    if (data.empty()) return;
    const char* at = data.data();
    const char* const end = at + data.size();
    if (!kept_.empty() && !complete_kept(at, end, emit)) return;
    // Nothing kept from here on. While more than max_ bytes are left, a '\n' is looked for
    // in the first max_ + 1 of them: if none, max_ bytes go out as a piece of their own.
    while (static_cast<std::size_t>(end - at) > max_) {
      const char* nl = find_newline(at, max_ + 1);
      const char* const stop = nl != nullptr ? nl + 1 : at + max_;
      emit(std::string_view(at, static_cast<std::size_t>(stop - at)));
      at = stop;
    }
    // At most max_ bytes left: every '\n' among them ends a line that fits.
    while (at != end) {
      const char* nl = find_newline(at, static_cast<std::size_t>(end - at));
      if (nl == nullptr) {
        kept_.assign(at, end);
        return;
      }
      emit(std::string_view(at, static_cast<std::size_t>(nl + 1 - at)));
      at = nl + 1;
    }
  }

  /// Delivers what is kept (the unterminated last line), if anything.
  template <class Emit>
  void finish(Emit&& emit) {
    if (!kept_.empty()) emit_kept(emit);
  }

  /// Bytes kept for the next piece.
  std::size_t kept() const noexcept { return kept_.size(); }

private:
  static const char* find_newline(const char* at, std::size_t n) noexcept {
    return static_cast<const char*>(std::memchr(at, '\n', n));
  }

  // The kept start of a line, at most max_ bytes, gets what completes it from [at, end):
  // up to its '\n', or to max_ bytes. Returns false if all of it was kept for later.
  template <class Emit>
  bool complete_kept(const char*& at, const char* end, Emit& emit) {
    const std::size_t room = max_ - kept_.size();
    const std::size_t size = static_cast<std::size_t>(end - at);
    const char* nl = find_newline(at, std::min(size, room + 1));
    if (nl == nullptr && size <= room) {
      kept_.append(at, size);
      return false;
    }
    const char* const stop = nl != nullptr ? nl + 1 : at + room;
    kept_.append(at, static_cast<std::size_t>(stop - at));
    at = stop;
    emit_kept(emit);
    return true;
  }

  // Hands on what is kept and empties it (also when emit throws), keeping its capacity.
  template <class Emit>
  void emit_kept(Emit& emit) {
    struct clear_on_exit {
      std::string& kept;
      ~clear_on_exit() { kept.clear(); }
    } clear{kept_};
    emit(std::string_view(kept_));
  }

  std::size_t max_;
  std::string kept_;  // the start of a line: at most max_ bytes, no '\n'
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_RUN_POLICY_HPP
