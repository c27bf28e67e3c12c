// asio-pidfd internal: async_wait_for() and async_terminate(), one operation each.
//
// A timed wait runs two waits at once: the wait for the process (a wait_handler, see
// detail/wait_op.hpp, exactly as async_wait() runs it) and a steady_timer wait. Both carry
// a small handler pointing to one operation object, timed_wait_op, allocated with the
// user's handler's associated allocator; the user's handler lives there. Each of the two
// reports its executor and allocator as the user handler's, so the reactor tracks work on
// the handler's executor and runs both halves there. The last half to end frees the
// operation and calls the user's handler, from within that completion: already on the
// handler's executor, and never inside the initiating function.
//
// Which half decides the result:
// - async_wait_for(): whichever ends first (as a race of the two would). The wait's result,
//   or timed_out when the timer expires first (operation_aborted if the object has given
//   up its registration meanwhile); the other half is then cancelled.
// - async_terminate(): the wait's result. The grace timer expiring sends SIGKILL (and
//   process_mrelease, best effort) while the same wait goes on; only a grace timer that
//   ends early (cancelled) or finds the object gone decides, with operation_aborted.
// Per-operation cancellation (terminal, partial, total) cancels both halves: the result is
// operation_aborted unless a half had already decided.
//
// Heap: the operation object (the timer is in it), the descriptor wait's reactor operation
// (as for async_wait()) and the timer's; the reactor's handler that cancels the descriptor
// wait on timeout is stored in the operation (see inner_cancellation in
// detail/wait_op.hpp). The operation's fields are ordered for size.
#ifndef PIDFD_DETAIL_TIMED_WAIT_OP_HPP
#define PIDFD_DETAIL_TIMED_WAIT_OP_HPP

#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/detail/async_pidfd_impl.hpp>
#include <pidfd/detail/process_support.hpp>
#include <pidfd/detail/registration.hpp>
#include <pidfd/detail/wait_op.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/detail/chrono_time_traits.hpp>
#include <boost/asio/detail/deadline_timer_service.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/wait_traits.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

template <class Op>
class timed_wait_half;
template <class Op>
class timed_timer_half;

/// The state of one async_wait_for() or async_terminate(): see the top of this file.
/// Executor is the I/O object's executor type. Alive while either half is pending; the user's
/// handler is moved out and called by the last half to end.
template <class Executor, class Handler>
class timed_wait_op {
public:
  using impl_type = async_pidfd_impl<Executor>;
  using handler_type = Handler;
  // What a steady_timer is made of, without its copy of the executor: the service that
  // basic_waitable_timer<steady_clock> uses (it belongs to the execution context, so it
  // outlives the I/O object and every operation of the context) and its per-timer state.
  // The timer's wait is started with the I/O object's executor, which the reactor's
  // operation copies, exactly as basic_waitable_timer::async_wait() passes its own.
  using timer_service = boost::asio::detail::deadline_timer_service<
      boost::asio::detail::chrono_time_traits<
          std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>>>;
  using allocator_type =
      boost::asio::associated_allocator_t<Handler, boost::asio::recycling_allocator<void>>;
  using op_alloc =
      typename std::allocator_traits<allocator_type>::template rebind_alloc<timed_wait_op>;

  /// What a grace or timeout timer does when it expires first.
  enum class on_expiry : unsigned char {
    time_out,  // async_wait_for(): complete with timed_out
    kill,      // async_terminate(): SIGKILL, and the wait goes on
  };

  /// Starts both halves; the operation then owns itself. Throws (without calling the
  /// handler) if either cannot be started.
  template <class H>
  static void start(H&& handler, impl_type& impl, std::chrono::steady_clock::duration timeout,
                    on_expiry expiry, signal_scope scope) {
    op_alloc a(boost::asio::get_associated_allocator(handler,
                                                     boost::asio::recycling_allocator<void>()));
    timed_wait_op* op = std::allocator_traits<op_alloc>::allocate(a, 1);
    try {
      ::new (static_cast<void*>(op)) timed_wait_op(std::forward<H>(handler), impl, expiry, scope);
    } catch (...) {
      std::allocator_traits<op_alloc>::deallocate(a, op, 1);
      throw;
    }
    try {
      error_code ignored;  // expires_after() of a timer without waits cannot fail
      op->timer_service_->expires_after(op->timer_, timeout, ignored);
      timed_timer_half<timed_wait_op> timer_half(op);
      op->timer_service_->async_wait(op->timer_, timer_half, impl.get_executor());
      wait_handler<Executor, timed_wait_half<timed_wait_op>>(timed_wait_half<timed_wait_op>(op),
                                                             impl, op->cancellation_)
          .start();
      auto slot = boost::asio::get_associated_cancellation_slot(op->handler_);
      if (slot.is_connected()) {
        slot.template emplace<user_cancellation>(op);
        op->in_user_slot_ = true;
      }
    } catch (...) {
      // The handler is not called: a half already started ends with operation_aborted
      // and frees the operation.
      op->abandoned_ = true;
      op->cancel_timer();
      op->cancel_wait(boost::asio::cancellation_type::terminal);
      op->end_start();
      throw;
    }
    op->end_start();
  }

  /// The user's handler (for the associators).
  const Handler& handler() const noexcept { return handler_; }

  /// Completion of the wait for the process.
  void wait_done(error_code ec, exit_status status) {
    decide(ec, status);
    cancel_timer();
    release();
  }

  /// Completion of the timer.
  void timer_done(error_code ec) {
    if (ec) {
      // Cancelled: the whole operation (per-operation cancellation; the wait is aborted
      // too), or by the wait, which has decided already.
      decide(ec, exit_status());
    } else if (!cancellation_.alive()) {
      // The object is gone; its wait, aborted, may have been delayed by the reactor
      // beyond the timeout.
      decide(boost::asio::error::operation_aborted, exit_status());
    } else if (expiry_ == on_expiry::time_out) {
      decide(boost::asio::error::timed_out, exit_status());
    } else {
      if (!decided_.load(std::memory_order_acquire)) kill();
      return release();  // the wait goes on and decides
    }
    cancel_wait(boost::asio::cancellation_type::terminal);
    release();
  }

  /// A half destroyed without having been called (its context destroyed with it pending).
  void half_destroyed() noexcept {
    abandoned_ = true;
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    leave_user_slot();
    op_alloc a(allocator());
    free_self(a);
  }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }

private:
  template <class H>
  timed_wait_op(H&& handler, impl_type& impl, on_expiry expiry, signal_scope scope)
      : handler_(std::forward<H>(handler)),
        timer_service_(&boost::asio::use_service<timer_service>(context_of(impl.get_executor()))),
        impl_(&impl),
        cancellation_(registration_ref::current(impl.native_handle())),
        scope_(static_cast<unsigned char>(scope)),
        expiry_(expiry) {
    timer_service_->construct(timer_);
  }
  ~timed_wait_op() { timer_service_->destroy(timer_); }
  timed_wait_op(const timed_wait_op&) = delete;
  timed_wait_op& operator=(const timed_wait_op&) = delete;

  // Where per-operation cancellation of the user's handler goes: to both halves.
  class user_cancellation {
  public:
    explicit user_cancellation(timed_wait_op* op) noexcept : op_(op) {}
    void operator()(boost::asio::cancellation_type type) {
      if (type == boost::asio::cancellation_type::none) return;
      op_->cancel_wait(type);
      op_->cancel_timer();
    }

  private:
    timed_wait_op* op_;
  };

  // The first to call it decides the result.
  void decide(error_code ec, exit_status status) noexcept {
    if (decided_.exchange(true, std::memory_order_acq_rel)) return;
    ec_value_ = ec.value();
    ec_category_ = &ec.category();
    status_ = status;
  }

  // Each half is cancelled at most once, by whichever asks first (the other half having
  // ended, or per-operation cancellation): the timer through its cancel(), the wait through
  // its filtered cancellation, which reaches the reactor only while the registration is
  // alive. A request made while start() is still starting the halves (the first half may
  // end on another thread before the second has started) is carried out by end_start(),
  // as a parallel group does. Two bits per half in cancel_state_: requested, and starting
  // (set until end_start()).
  static constexpr unsigned char timer_requested = 1, timer_starting = 2, wait_requested = 4,
                                 wait_starting = 8;
  void cancel_timer() {
    const unsigned char old = cancel_state_.fetch_or(timer_requested, std::memory_order_acq_rel);
    if (!(old & (timer_requested | timer_starting))) do_cancel_timer();
  }
  void cancel_wait(boost::asio::cancellation_type type) {
    wait_cancel_type_.store(static_cast<unsigned char>(type), std::memory_order_relaxed);
    const unsigned char old = cancel_state_.fetch_or(wait_requested, std::memory_order_acq_rel);
    if (!(old & (wait_requested | wait_starting))) do_cancel_wait();
  }
  // (The timer service's cancel() fails in no backend.)
  void do_cancel_timer() {
    error_code ignored;
    timer_service_->cancel(timer_, ignored);
  }
  void do_cancel_wait() {
    cancellation_(
        static_cast<boost::asio::cancellation_type>(wait_cancel_type_.load(std::memory_order_relaxed)));
  }

  // Both halves started (or one failed to): carries out the cancellations asked for
  // meanwhile, then drops start()'s reference.
  void end_start() {
    const unsigned char old =
        cancel_state_.fetch_and(static_cast<unsigned char>(~(timer_starting | wait_starting)),
                                std::memory_order_acq_rel);
    if (old & timer_requested) do_cancel_timer();
    if (old & wait_requested) do_cancel_wait();
    release();
  }

  // SIGKILL after the grace period, then process_mrelease (best effort: the kernel frees
  // the memory anyway). The group through the pidfd, or kill(-pgid) before 6.9 while the
  // leader is an unreaped child of ours: the implementation async_run() uses too.
  void kill() noexcept {
    error_code kill_ec;
    const auto scope = static_cast<signal_scope>(scope_);
    if (scope == signal_scope::process_group)
      kill_ec = signal_process_group(impl_->core(), SIGKILL);
    else
      impl_->core().send_signal(SIGKILL, scope, kill_ec);
    if (!kill_ec) {
      error_code ignored;
      impl_->core().release_memory(ignored);
    }
  }

  // Drops a reference; the last frees the operation, then calls the handler unless the
  // operation was abandoned. Runs on the handler's executor (a half's completion).
  void release() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    leave_user_slot();
    op_alloc a(allocator());
    if (abandoned_) return free_self(a);
    const error_code ec(ec_value_, *ec_category_);
    const exit_status status = status_;
    Handler handler(std::move(handler_));
    free_self(a);
    // Free our memory before the handler runs, as Asio's operations do.
    std::move(handler)(ec, status);
  }

  // The execution context of an executor, as Asio's I/O objects find it.
  template <class Ex>
  static boost::asio::execution_context& context_of(const Ex& ex) {
    if constexpr (boost::asio::execution::is_executor<Ex>::value)
      return boost::asio::query(ex, boost::asio::execution::context);
    else
      return ex.context();
  }

  void leave_user_slot() noexcept {
    if (in_user_slot_) boost::asio::get_associated_cancellation_slot(handler_).clear();
  }
  allocator_type allocator() const noexcept {
    return boost::asio::get_associated_allocator(handler_,
                                                 boost::asio::recycling_allocator<void>());
  }
  void free_self(op_alloc& a) noexcept {
    this->~timed_wait_op();
    std::allocator_traits<op_alloc>::deallocate(a, this, 1);
  }

  // Laid out for size (the operation is the heap a timed wait adds to a plain wait and a
  // timer's): the small members follow cancellation_, whose tail padding they may share.
  Handler handler_;
  timer_service* timer_service_;
  typename timer_service::implementation_type timer_;
  impl_type* impl_;
  // Of the wait half; knows the object's registration.
  [[no_unique_address]] wait_cancellation cancellation_;
  exit_status status_;
  std::atomic<unsigned char> refs_{1};  // start()'s (dropped by end_start()) and each half's
  std::atomic<bool> decided_{false};
  std::atomic<unsigned char> cancel_state_{timer_starting | wait_starting};
  std::atomic<unsigned char> wait_cancel_type_{
      static_cast<unsigned char>(boost::asio::cancellation_type::terminal)};
  bool abandoned_ = false;     // the handler must not be called
  bool in_user_slot_ = false;  // user_cancellation is in the handler's slot
  unsigned char scope_;        // a signal_scope
  on_expiry expiry_;
  // The result is kept as an error_code's value and category rather than as an error_code
  // (16 bytes less, which is one allocation size class less for the operation): the
  // source location an error_code may carry is dropped (none of the results has one).
  int ec_value_ = 0;
  const boost::system::error_category* ec_category_ = &boost::system::system_category();

  template <class>
  friend class timed_wait_half;
  template <class>
  friend class timed_timer_half;
};

/// The handler of a timed wait's wait for the process (a wait_handler's inner handler): a
/// reference to the operation, with the user handler's executor and allocator.
template <class Op>
class timed_wait_half {
public:
  explicit timed_wait_half(Op* op) noexcept : op_(op) { op_->add_ref(); }
  timed_wait_half(timed_wait_half&& other) noexcept : op_(std::exchange(other.op_, nullptr)) {}
  timed_wait_half(const timed_wait_half&) = delete;
  timed_wait_half& operator=(const timed_wait_half&) = delete;
  timed_wait_half& operator=(timed_wait_half&&) = delete;
  ~timed_wait_half() {
    if (op_) op_->half_destroyed();
  }

  void operator()(error_code ec, exit_status status) {
    std::exchange(op_, nullptr)->wait_done(ec, status);
  }

  /// The operation (for the associators).
  const Op& op() const noexcept { return *op_; }

private:
  Op* op_;
};

/// The handler of a timed wait's timer.
template <class Op>
class timed_timer_half {
public:
  explicit timed_timer_half(Op* op) noexcept : op_(op) { op_->add_ref(); }
  timed_timer_half(timed_timer_half&& other) noexcept : op_(std::exchange(other.op_, nullptr)) {}
  timed_timer_half(const timed_timer_half&) = delete;
  timed_timer_half& operator=(const timed_timer_half&) = delete;
  timed_timer_half& operator=(timed_timer_half&&) = delete;
  ~timed_timer_half() {
    if (op_) op_->half_destroyed();
  }

  void operator()(error_code ec) { std::exchange(op_, nullptr)->timer_done(ec); }

  /// The operation (for the associators).
  const Op& op() const noexcept { return *op_; }

private:
  Op* op_;
};

/// The initiation of async_wait_for() and async_terminate().
template <class Executor>
class initiate_timed_wait {
public:
  initiate_timed_wait(async_pidfd_impl<Executor>& impl,
                      std::chrono::steady_clock::duration timeout,
                      std::optional<signal_scope> terminate_scope) noexcept
      : impl_(&impl), timeout_(timeout), terminate_scope_(terminate_scope) {}

  using executor_type = Executor;
  executor_type get_executor() const noexcept { return impl_->get_executor(); }

  template <class Handler>
  void operator()(Handler&& handler) const {
    using op_type = timed_wait_op<Executor, std::decay_t<Handler>>;
    async_pidfd_impl<Executor>& o = *impl_;
    // Results known now go through the I/O executor, which then dispatches to the
    // handler's associated executor: never complete inside the initiating function.
    if (!o.is_open()) return post(std::forward<Handler>(handler), boost::asio::error::bad_descriptor);
    if (terminate_scope_) {
      if (!o.core().cached_status()) {
        const error_code ec = signal(SIGTERM);
        // A reaped process (no_such_process) still has a status to report: wait for it.
        if (ec && ec != boost::system::errc::no_such_process)
          return post(std::forward<Handler>(handler), ec);
      } else if (*terminate_scope_ == signal_scope::process_group) {
        // The leader's status is known, but its group may still have members: the pidfd
        // still names the group (6.9+). None left (no_such_process) is no error; the
        // cached status is reported below.
        (void)signal(SIGTERM);
      }
    }
    if (const std::optional<exit_status> s = o.core().cached_status())
      return post(std::forward<Handler>(handler), error_code(), *s);
    op_type::start(std::forward<Handler>(handler), o, timeout_,
                   terminate_scope_ ? op_type::on_expiry::kill : op_type::on_expiry::time_out,
                   terminate_scope_.value_or(signal_scope::pidfd_default));
  }

private:
  template <class Handler>
  void post(Handler&& handler, error_code ec, exit_status status = exit_status()) const {
    boost::asio::post(impl_->get_executor(),
                      boost::asio::append(std::forward<Handler>(handler), ec, status));
  }

  error_code signal(int sig) const noexcept {
    if (*terminate_scope_ == signal_scope::process_group)
      return signal_process_group(impl_->core(), sig);
    error_code ec;
    impl_->core().send_signal(sig, *terminate_scope_, ec);
    return ec;
  }

  async_pidfd_impl<Executor>* impl_;
  std::chrono::steady_clock::duration timeout_;
  std::optional<signal_scope> terminate_scope_;  // set for async_terminate()
};

}  // namespace pidfd::detail

namespace boost::asio {

/// The halves of a timed wait have the executor and allocator (and whatever else is
/// associated) of the user's handler...
template <template <typename, typename> class Associator, class Op, class DefaultCandidate>
struct associator<Associator, pidfd::detail::timed_wait_half<Op>, DefaultCandidate>
    : Associator<typename Op::handler_type, DefaultCandidate> {
  using inner = Associator<typename Op::handler_type, DefaultCandidate>;
  static typename inner::type get(const pidfd::detail::timed_wait_half<Op>& h) noexcept {
    return inner::get(h.op().handler());
  }
  static auto get(const pidfd::detail::timed_wait_half<Op>& h, const DefaultCandidate& c) noexcept
      -> decltype(inner::get(h.op().handler(), c)) {
    return inner::get(h.op().handler(), c);
  }
};

template <template <typename, typename> class Associator, class Op, class DefaultCandidate>
struct associator<Associator, pidfd::detail::timed_timer_half<Op>, DefaultCandidate>
    : Associator<typename Op::handler_type, DefaultCandidate> {
  using inner = Associator<typename Op::handler_type, DefaultCandidate>;
  static typename inner::type get(const pidfd::detail::timed_timer_half<Op>& h) noexcept {
    return inner::get(h.op().handler());
  }
  static auto get(const pidfd::detail::timed_timer_half<Op>& h, const DefaultCandidate& c) noexcept
      -> decltype(inner::get(h.op().handler(), c)) {
    return inner::get(h.op().handler(), c);
  }
};

/// ... except a cancellation slot: the operation cancels its halves itself.
template <class Op, class CancellationSlot>
struct associated_cancellation_slot<pidfd::detail::timed_wait_half<Op>, CancellationSlot> {
  using type = cancellation_slot;
  static type get(const pidfd::detail::timed_wait_half<Op>&,
                  const CancellationSlot& = CancellationSlot()) noexcept {
    return type();
  }
};

template <class Op, class CancellationSlot>
struct associated_cancellation_slot<pidfd::detail::timed_timer_half<Op>, CancellationSlot> {
  using type = cancellation_slot;
  static type get(const pidfd::detail::timed_timer_half<Op>&,
                  const CancellationSlot& = CancellationSlot()) noexcept {
    return type();
  }
};

}  // namespace boost::asio

#endif  // PIDFD_DETAIL_TIMED_WAIT_OP_HPP
