// The policy of async_run(): see <pidfd/detail/run_policy.hpp>.
#include <pidfd/detail/run_policy.hpp>

#include <signal.h>

#include <cerrno>

namespace pidfd::detail {

run_policy::run_policy(const config& c) noexcept : config_(c) {}

run_target run_policy::target() const noexcept {
  switch (config_.scope) {
    case run_scope::process_group:
      return run_target::group;
    case run_scope::cgroup:
      return run_target::cgroup;
    case run_scope::process:
      break;
  }
  return config_.child_leads_group ? run_target::group : run_target::process;
}

void run_policy::arm(run_actions& a, run_timer role, std::chrono::steady_clock::duration d) noexcept {
  timer_ = role;
  a.arm = role;
  a.arm_after = d;
}

void run_policy::cancel_timer(run_actions& a) noexcept {
  if (timer_ == run_timer::none) return;
  timer_ = run_timer::none;
  a.cancel_timer = true;
}

// The first reason to end the run early is the one reported.
void run_policy::set_reason(const error_code& ec) noexcept {
  if (!reason_) reason_ = ec;
}

void run_policy::terminate(run_actions& a) noexcept {
  if (term_sent_ || kill_sent_) return;
  term_sent_ = true;
  a.signal = SIGTERM;
  a.target = target();
  arm(a, run_timer::grace, config_.grace);
}

void run_policy::kill(run_actions& a) noexcept {
  if (kill_sent_) return;
  kill_sent_ = true;
  cancel_timer(a);
  a.signal = SIGKILL;
  a.target = target();
  a.release_memory = true;
}

run_actions run_policy::spawned(bool out, bool err) noexcept {
  run_actions a;
  if (phase_ != phase::starting) return a;
  phase_ = phase::running;
  out_open_ = out;
  err_open_ = err;
  a.start_wait = true;
  if (config_.scope == run_scope::cgroup) a.watch_cgroup = true;
  if (config_.timeout) arm(a, run_timer::timeout, *config_.timeout);
  return a;
}

run_actions run_policy::timeout_expired() noexcept {
  run_actions a;
  if (phase_ != phase::running || timer_ != run_timer::timeout) return a;
  timer_ = run_timer::none;
  set_reason(errno_code(ETIMEDOUT));
  terminate(a);
  return a;
}

run_actions run_policy::grace_expired() noexcept {
  run_actions a;
  if (phase_ != phase::running || timer_ != run_timer::grace) return a;
  timer_ = run_timer::none;
  kill(a);
  return a;
}

run_actions run_policy::cancelled(run_cancellation type) noexcept {
  run_actions a;
  if (phase_ == phase::starting || phase_ == phase::ending || phase_ == phase::done) return a;
  set_reason(errno_code(ECANCELED));
  aborted_ = true;
  if (phase_ == phase::draining) {  // after the reap: complete at once
    end_run(a);
    return a;
  }
  // A started process cannot be undone: total is treated like partial.
  if (type == run_cancellation::terminal)
    kill(a);
  else
    terminate(a);
  return a;
}

run_actions run_policy::output_failed() noexcept {
  run_actions a;
  if (phase_ == phase::starting || phase_ == phase::ending || phase_ == phase::done) return a;
  set_reason(errno_code(ECANCELED));
  aborted_ = true;
  if (phase_ == phase::draining) {
    end_run(a);
    return a;
  }
  kill(a);
  return a;
}

run_actions run_policy::reaped() noexcept {
  if (phase_ != phase::running) return {};
  return child_ended();
}

run_actions run_policy::wait_failed(const error_code& ec) noexcept {
  run_actions a;
  if (phase_ != phase::running) return a;
  set_reason(ec);
  if (++wait_failures_ == 1) {
    // Never leave the child behind, and never block for it: SIGKILL, then wait again.
    // The signal goes to the child itself, whatever the scope: it is the one to reap.
    kill_sent_ = true;
    cancel_timer(a);
    a.signal = SIGKILL;
    a.target = target() == run_target::cgroup ? run_target::cgroup : run_target::process;
    a.release_memory = true;
    a.start_wait = true;
    return a;
  }
  // Waiting keeps failing (someone else reaped it, or the pidfd is unusable): the child is
  // beyond our reach; go on as after a reap, without a status.
  return child_ended();
}

run_actions run_policy::child_ended() noexcept {
  run_actions a;
  phase_ = phase::draining;
  cancel_timer(a);
  a.close_input = true;
  if (aborted_) {  // a cancellation completes as soon as the child has been reaped
    end_run(a);
    return a;
  }
  maybe_end_drain(a);
  if (phase_ == phase::draining) arm(a, run_timer::drain, config_.drain);
  return a;
}

run_actions run_policy::stream_ended(output_stream s) noexcept {
  run_actions a;
  (s == output_stream::out ? out_open_ : err_open_) = false;
  if (phase_ == phase::draining) maybe_end_drain(a);
  return a;
}

run_actions run_policy::cgroup_emptied() noexcept {
  run_actions a;
  cgroup_empty_ = true;
  if (phase_ == phase::draining) {
    maybe_end_drain(a);
  } else if (phase_ == phase::ending) {
    a.remove_cgroup = true;
    complete(a);
  }
  return a;
}

run_actions run_policy::drain_expired() noexcept {
  run_actions a;
  if (phase_ != phase::draining || timer_ != run_timer::drain) return a;
  timer_ = run_timer::none;
  if (out_open_ || err_open_) a.truncated = true;
  end_run(a);
  return a;
}

// After the reap the run ends once every stream has ended (and, in cgroup scope, the
// cgroup is empty: a member may still write, or hold a stream, without our knowing).
void run_policy::maybe_end_drain(run_actions& a) noexcept {
  if (out_open_ || err_open_) return;
  if (config_.scope == run_scope::cgroup && !cgroup_empty_) return;
  end_run(a);
}

void run_policy::end_run(run_actions& a) noexcept {
  cancel_timer(a);
  a.close_streams = true;
  switch (config_.scope) {
    case run_scope::process:
      return complete(a);
    case run_scope::process_group:
      a.kill_leftovers = true;
      return complete(a);
    case run_scope::cgroup:
      if (cgroup_empty_) {
        a.remove_cgroup = true;
        return complete(a);
      }
      a.kill_leftovers = true;
      phase_ = phase::ending;  // remove and complete once it is empty
      return;
  }
}

void run_policy::complete(run_actions& a) noexcept {
  phase_ = phase::done;
  a.complete = true;
  a.ec = reason_;
}

}  // namespace pidfd::detail
