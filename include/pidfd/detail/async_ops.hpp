// asio-pidfd internal: the composed operations behind basic_async_pidfd (async_wait,
// async_wait_for, async_terminate), each written for boost::asio::async_compose.
//
// How a wait finds out that the process has ended. The pidfd is registered with the
// reactor like any descriptor. A descriptor wait is a fresh request for readiness each
// time it is started (epoll re-arms the registration with EPOLL_CTL_MOD, io_uring submits
// a new poll request), and the kernel then reports the current readiness, so a wait
// started after the exit still completes: no edge is lost. On readiness the operation
// calls pid_fd::try_wait(), which never blocks:
//   - a status, or an error (status_unavailable for a thread or a non-child on old
//     kernels): complete with it;
//   - nothing yet, and the pidfd is no longer readable: wait for readiness again;
//   - nothing yet although the pidfd stays readable (our child exited under a ptracer that
//     has not released it, or a non-child zombie its parent has not reaped yet): re-arming
//     the descriptor would report the same level at once and spin, so re-check after a
//     short timer instead, backing off from 1 ms to 64 ms. The timers of these waits are
//     kept in a retry_list owned by the I/O object, so cancel(), close() and the
//     destructor abort them like descriptor waits.
//
// What a wait may assume about the reactor. Nothing beyond "the handler is called once":
// every wait holds a reference to the object's retry_list, which close(), release() and
// the destructor mark closed, and checks it before touching the object. Boost 1.81's
// io_uring service, for one, can resume a wait of a destroyed object much later (it
// resubmits the old request when the descriptor's slot is reused) and can deliver the
// result of an internal cancel request (ENOENT, EALREADY) to an unrelated wait. So a
// closed list means operation_aborted whatever the reactor reported, and a descriptor
// error other than operation_aborted leads to a re-check, not to the handler (up to
// max_descriptor_errors in a row, so that a persistent error is still reported).
#ifndef PIDFD_DETAIL_ASYNC_OPS_HPP
#define PIDFD_DETAIL_ASYNC_OPS_HPP

#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/descriptor_base.hpp>

#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace pidfd::detail {

/// The friend through which spawn() hands a pidfd to a basic_async_pidfd without losing it
/// when the registration fails (the child must then still be reaped).
struct async_pidfd_access {
  template <class AsyncPidfd>
  static void assign_keeping(AsyncPidfd& object, pid_fd& fd, error_code& ec) noexcept {
    object.assign_keeping(fd, ec);
  }
};

/// The retry timers of the waits that are re-checking a readable pidfd (see above), and
/// the mark that the object's registration is gone. Reference-counted: the I/O object
/// holds one reference and each pending wait another, so a wait whose object was closed or
/// destroyed meanwhile can still find out, and unlink its timer.
class retry_list {
public:
  /// A retrying wait's timer, linked into the list while it is armed.
  class node {
  public:
    /// Cancels the timer; called with the list's mutex held.
    virtual void cancel() noexcept = 0;

  protected:
    node() = default;
    ~node() = default;
    node(const node&) = delete;
    node& operator=(const node&) = delete;

  private:
    friend class retry_list;
    node* prev_ = nullptr;
    node* next_ = nullptr;
    bool linked_ = false;
  };

  retry_list() = default;
  retry_list(const retry_list&) = delete;
  retry_list& operator=(const retry_list&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Links n and calls arm() under the mutex, so cancel_all() either sees the armed timer
  /// or runs before it is linked. Returns false (without calling arm) once the owner has
  /// closed the list.
  template <class Arm>
  bool link_and_arm(node& n, Arm&& arm) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return false;
    n.prev_ = nullptr;
    n.next_ = head_;
    if (head_) head_->prev_ = &n;
    head_ = &n;
    n.linked_ = true;
    std::forward<Arm>(arm)();
    return true;
  }

  /// Unlinks n (if linked). Returns true if the owner has closed the list meanwhile (the
  /// I/O object is gone or closed: the wait must not touch it).
  bool unlink(node& n) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (n.linked_) {
      if (n.prev_) n.prev_->next_ = n.next_;
      else head_ = n.next_;
      if (n.next_) n.next_->prev_ = n.prev_;
      n.linked_ = false;
    }
    return closed_;
  }

  /// True once the owner has closed the list (the I/O object is gone, closed or released).
  bool closed() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

  /// Cancels every linked timer; with close, also refuses new ones from now on.
  void cancel_all(bool close) noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (close) closed_ = true;
    for (node* n = head_; n; n = n->next_) n->cancel();
  }

private:
  ~retry_list() = default;

  std::atomic<int> refs_{1};
  std::mutex mutex_;
  node* head_ = nullptr;
  bool closed_ = false;
};

/// The retry_list of an I/O object: created on first use (by whichever handler needs it
/// first, possibly on several threads at once), released with the object.
class retry_list_ptr {
public:
  retry_list_ptr() noexcept = default;
  retry_list_ptr(retry_list_ptr&& other) noexcept
      : p_(other.p_.exchange(nullptr, std::memory_order_acq_rel)) {}
  retry_list_ptr& operator=(retry_list_ptr&& other) noexcept {
    if (this != &other) {
      reset();
      p_.store(other.p_.exchange(nullptr, std::memory_order_acq_rel), std::memory_order_release);
    }
    return *this;
  }
  ~retry_list_ptr() { reset(); }

  /// The list, created if needed; the caller gets its own reference.
  retry_list* acquire() {
    retry_list* p = p_.load(std::memory_order_acquire);
    if (!p) {
      auto* fresh = new retry_list;
      if (p_.compare_exchange_strong(p, fresh, std::memory_order_acq_rel))
        p = fresh;
      else
        fresh->release();
    }
    p->add_ref();
    return p;
  }

  /// Cancels the armed retry timers (cancel()).
  void cancel_all() noexcept {
    if (retry_list* p = p_.load(std::memory_order_acquire)) p->cancel_all(false);
  }

  /// Cancels them and drops the list (close(), release(), destructor): waits still retrying
  /// see it closed and complete with operation_aborted without touching the object.
  void reset() noexcept {
    if (retry_list* p = p_.exchange(nullptr, std::memory_order_acq_rel)) {
      p->cancel_all(true);
      p->release();
    }
  }

private:
  std::atomic<retry_list*> p_{nullptr};
};

/// One reference to a retry_list, held by a pending operation.
class retry_list_ref {
public:
  retry_list_ref() noexcept = default;
  explicit retry_list_ref(retry_list* p) noexcept : p_(p) {}
  retry_list_ref(retry_list_ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  retry_list_ref& operator=(retry_list_ref&& other) noexcept {
    if (this != &other) {
      reset();
      p_ = std::exchange(other.p_, nullptr);
    }
    return *this;
  }
  ~retry_list_ref() { reset(); }

  void reset() noexcept {
    if (p_) std::exchange(p_, nullptr)->release();
  }
  /// True if a reference is held and its list has been closed by the owner.
  bool closed() const noexcept { return p_ && p_->closed(); }
  retry_list* get() const noexcept { return p_; }

private:
  retry_list* p_ = nullptr;
};

/// The retry timer of one wait, owned by that wait (heap-allocated so its address stays
/// put while the operation object moves).
template <class Executor>
class retry_timer final : public retry_list::node {
public:
  using timer_type = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  /// Takes its own reference to list.
  retry_timer(const Executor& ex, retry_list* list) : timer_(ex), list_(list) {
    list_->add_ref();
  }
  ~retry_timer() {
    list_->unlink(*this);
    list_->release();
  }

  void cancel() noexcept override { timer_.cancel(); }
  timer_type& timer() noexcept { return timer_; }
  retry_list& list() noexcept { return *list_; }

private:
  timer_type timer_;
  retry_list* list_;
};

inline constexpr std::chrono::milliseconds retry_first{1};
inline constexpr std::chrono::milliseconds retry_max{64};
/// A descriptor wait failing this many times in a row (each followed by a re-check that
/// found the process still running) reports the error: it is not a reactor artefact.
inline constexpr unsigned char max_descriptor_errors = 8;

/// async_wait(): see the top of this file. Owner is basic_async_pidfd<Executor>. Kept
/// small: it lives in every pending wait's operation memory.
template <class Owner>
class wait_op {
public:
  explicit wait_op(Owner& owner) noexcept : owner_(&owner) {}

  template <class Self>
  void operator()(Self& self, error_code ec = {}) {
    switch (state_) {
      case state::start:
        // Any cancellation type aborts a wait: nothing has happened to the process.
        self.reset_cancellation_state(boost::asio::enable_total_cancellation());
        if (!owner_->is_open()) return post_self(self, posted_result::bad_descriptor);
        if (auto s = owner_->core_.cached_status()) {
          status_ = *s;
          return post_self(self, posted_result::status);
        }
        life_ = retry_list_ref(owner_->retries_.acquire());
        return arm_descriptor(self);

      case state::posted:
        switch (posted_) {
          case posted_result::status:
            return self.complete(error_code(), status_);
          case posted_result::bad_descriptor:
            return self.complete(boost::asio::error::bad_descriptor, exit_status());
          case posted_result::aborted:
            break;
        }
        return self.complete(boost::asio::error::operation_aborted, exit_status());

      case state::descriptor:
        // The object may be gone whatever ec says (see the top of this file).
        if (ec == boost::asio::error::operation_aborted || life_.closed()) return abort(self);
        if (ec) {
          if (++descriptor_errors_ >= max_descriptor_errors) {
            life_.reset();
            return self.complete(ec, exit_status());
          }
        } else {
          descriptor_errors_ = 0;
        }
        return check(self);

      case state::timer: {
        const bool closed = timer_->list().unlink(*timer_);
        if (ec || closed) {
          timer_.reset();  // free our memory before the handler runs
          life_.reset();
          return self.complete(ec ? ec : error_code(boost::asio::error::operation_aborted),
                               exit_status());
        }
        return check(self);
      }
    }
  }

private:
  enum class state : unsigned char { start, posted, descriptor, timer };
  enum class posted_result : unsigned char { status, bad_descriptor, aborted };

  // Completes with operation_aborted without touching the object.
  template <class Self>
  void abort(Self& self) {
    timer_.reset();
    life_.reset();
    self.complete(boost::asio::error::operation_aborted, exit_status());
  }

  template <class Self>
  void post_self(Self& self, posted_result r) {
    state_ = state::posted;
    posted_ = r;
    // Never complete inside the initiating function: go through the I/O executor, which
    // then dispatches to the handler's associated executor.
    boost::asio::post(owner_->descriptor_.get_executor(), std::move(self));
  }

  template <class Self>
  void arm_descriptor(Self& self) {
    state_ = state::descriptor;
    owner_->descriptor_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                                   std::move(self));
  }

  template <class Self>
  void check(Self& self) {
    error_code ec;
    const std::optional<exit_status> s = owner_->core_.try_wait(ec);
    if (ec || s) {
      timer_.reset();
      life_.reset();
      return self.complete(ec, s.value_or(exit_status()));
    }
    if (self.cancelled() != boost::asio::cancellation_type::none) return abort(self);
    if (!owner_->core_.has_exited()) {
      // Readiness without a status, and the pidfd is not readable now: the next change
      // (the exit) will be reported.
      timer_.reset();
      backoff_shift_ = 0;
      return arm_descriptor(self);
    }
    arm_timer(self);
  }

  template <class Self>
  void arm_timer(Self& self) {
    using executor_type = typename Owner::executor_type;
    if (!timer_) {
      timer_ = std::make_unique<retry_timer<executor_type>>(owner_->descriptor_.get_executor(),
                                                            life_.get());
    } else if (retry_first * (2 << backoff_shift_) <= retry_max) {
      ++backoff_shift_;
    }
    state_ = state::timer;
    retry_timer<executor_type>& t = *timer_;
    t.timer().expires_after(retry_first * (1 << backoff_shift_));
    const bool armed = t.list().link_and_arm(t, [&] { t.timer().async_wait(std::move(self)); });
    if (!armed) {
      // The object was closed under us (by another thread): abort, through the executor.
      timer_.reset();
      life_.reset();
      post_self(self, posted_result::aborted);
    }
  }

  Owner* owner_;
  retry_list_ref life_;  // held from the first descriptor wait to completion
  std::unique_ptr<retry_timer<typename Owner::executor_type>> timer_;
  exit_status status_;
  state state_ = state::start;
  posted_result posted_ = posted_result::status;
  unsigned char backoff_shift_ = 0;  // delay: retry_first * 2^backoff_shift_
  unsigned char descriptor_errors_ = 0;  // descriptor waits failed in a row
};

/// async_wait_for(): async_wait() raced against a timer in a parallel group; the first to
/// finish cancels the other.
template <class Owner>
class wait_for_op {
public:
  using timer_type = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
      typename Owner::executor_type>;

  wait_for_op(Owner& owner, std::chrono::steady_clock::duration timeout)
      : owner_(&owner), timeout_(timeout) {}

  template <class Self>
  void operator()(Self& self) {
    self.reset_cancellation_state(boost::asio::enable_total_cancellation());
    timer_ = std::make_unique<timer_type>(owner_->get_executor());
    timer_->expires_after(timeout_);
    // The group hands its completion to the handler's associated executor only if that
    // is explicit: bind ours (the handler's, else the I/O executor).
    auto ex = self.get_executor();
    boost::asio::experimental::make_parallel_group(
        owner_->async_wait(boost::asio::deferred), timer_->async_wait(boost::asio::deferred))
        .async_wait(boost::asio::experimental::wait_for_one(),
                    boost::asio::bind_executor(ex, std::move(self)));
  }

  template <class Self>
  void operator()(Self& self, std::array<std::size_t, 2> order, error_code wait_ec,
                  exit_status status, error_code timer_ec) {
    timer_.reset();
    if (order[0] == 0) return self.complete(wait_ec, status);
    // The timer finished first. It expired (timed_out) unless the whole operation was
    // cancelled, in which case the wait was aborted too.
    if (timer_ec) return self.complete(timer_ec, exit_status());
    self.complete(boost::asio::error::timed_out, exit_status());
  }

private:
  Owner* owner_;
  std::chrono::steady_clock::duration timeout_;
  std::unique_ptr<timer_type> timer_;
};

/// async_terminate(): SIGTERM, async_wait_for(grace); on timeout SIGKILL, process_mrelease
/// (best effort) and async_wait().
template <class Owner>
class terminate_op {
public:
  terminate_op(Owner& owner, std::chrono::steady_clock::duration grace, signal_scope scope)
      : owner_(&owner), grace_(grace), scope_(scope) {}

  template <class Self>
  void operator()(Self& self, error_code ec = {}, exit_status status = {}) {
    switch (state_) {
      case state::start:
        self.reset_cancellation_state(boost::asio::enable_total_cancellation());
        if (!owner_->is_open()) return post_error(self, boost::asio::error::bad_descriptor);
        if (!owner_->core_.cached_status()) {
          error_code signal_ec;
          owner_->core_.send_signal(SIGTERM, scope_, signal_ec);
          // A reaped process (no_such_process) still has a status to report: wait for it.
          if (signal_ec && signal_ec != boost::system::errc::no_such_process)
            return post_error(self, signal_ec);
        }
        life_ = retry_list_ref(owner_->retries_.acquire());
        state_ = state::grace;
        return owner_->async_wait_for(grace_, std::move(self));
      case state::posted:
        return self.complete(result_, exit_status());
      case state::grace:
        // The grace timer can win the race against a wait that the reactor has not
        // aborted yet (see the top of this file): the object may be gone.
        if (ec == boost::asio::error::timed_out && life_.closed()) {
          life_.reset();
          return self.complete(boost::asio::error::operation_aborted, exit_status());
        }
        if (ec == boost::asio::error::timed_out) {
          error_code kill_ec;
          owner_->core_.send_signal(SIGKILL, scope_, kill_ec);
          if (!kill_ec) {
            error_code ignored;  // best effort: the kernel frees the memory anyway
            owner_->core_.release_memory(ignored);
          }
          state_ = state::killed;
          life_.reset();
          return owner_->async_wait(std::move(self));
        }
        life_.reset();
        return self.complete(ec, status);
      case state::killed:
        return self.complete(ec, status);
    }
  }

private:
  enum class state { start, posted, grace, killed };

  template <class Self>
  void post_error(Self& self, error_code ec) {
    result_ = ec;
    state_ = state::posted;
    boost::asio::post(owner_->get_executor(), std::move(self));
  }

  Owner* owner_;
  retry_list_ref life_;  // held during the grace period
  std::chrono::steady_clock::duration grace_;
  signal_scope scope_;
  state state_ = state::start;
  error_code result_;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_ASYNC_OPS_HPP
