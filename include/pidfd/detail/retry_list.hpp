// asio-pidfd internal: the retry timers of the waits of basic_async_pidfd.
//
// A wait that finds the pidfd readable but no status yet (our child exited under a ptracer
// that has not released it, or a non-child zombie its parent has not reaped yet) cannot
// re-arm the descriptor wait: the reactor would report the same level at once, and the
// wait would spin. It re-checks after a short timer instead, backing off from retry_first
// to retry_max (see detail/wait_op.hpp). The timers of these waits are kept in a retry_list
// owned by the I/O object, so that cancel(), close() and the destructor abort them like
// descriptor waits. Nothing here is allocated unless a wait needs to retry.
#ifndef PIDFD_DETAIL_RETRY_LIST_HPP
#define PIDFD_DETAIL_RETRY_LIST_HPP

#include <boost/asio/basic_waitable_timer.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <utility>

namespace pidfd::detail {

/// The retry timers of the waits that are re-checking a readable pidfd, and
/// the mark that the object's registration is gone. Created at the first retry of any of
/// the object's waits. Reference-counted: the I/O object holds one reference and each
/// armed retry timer another, so a wait whose object was closed or destroyed meanwhile can
/// still find out, and unlink its timer.
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

/// The retry timer of one wait, owned by that wait (heap-allocated so its address stays
/// put while the operation object moves).
template <class Executor>
class retry_timer final : public retry_list::node {
public:
  using timer_type = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  /// Adopts the caller's reference to list (from retry_list_ptr::acquire()).
  retry_timer(const Executor& ex, retry_list* list) : timer_(ex), list_(list) {}
  ~retry_timer() {
    list_->unlink(*this);
    list_->release();
  }

  // NOLINTNEXTLINE(bugprone-exception-escape): a timer's cancel() never fails
  void cancel() noexcept override { timer_.cancel(); }
  timer_type& timer() noexcept { return timer_; }
  retry_list& list() noexcept { return *list_; }
  /// The next delay: retry_first, doubling up to retry_max.
  std::chrono::milliseconds next_delay() noexcept;

private:
  timer_type timer_;
  retry_list* list_;
  unsigned char backoff_shift_ = 0;  // delay: retry_first * 2^backoff_shift_
};

inline constexpr std::chrono::milliseconds retry_first{1};
inline constexpr std::chrono::milliseconds retry_max{64};
template <class Executor>
std::chrono::milliseconds retry_timer<Executor>::next_delay() noexcept {
  const std::chrono::milliseconds d = retry_first * (1 << backoff_shift_);
  if (d * 2 <= retry_max) ++backoff_shift_;
  return d;
}

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_RETRY_LIST_HPP
