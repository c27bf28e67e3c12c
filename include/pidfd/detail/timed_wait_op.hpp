// asio-pidfd internal: async_wait_for() and async_terminate(), one operation each.
//
// A timed wait runs two waits at once: the wait for the process (a wait_handler, see
// detail/wait_op.hpp, exactly as async_wait() runs it) and a steady_timer's wait. Both carry
// a small handler pointing to one operation object, timed_wait_op, where the user's handler
// lives. Each of the two reports its executor as the user handler's, so the reactor tracks
// work on the handler's executor and runs both halves there. The last half to end frees the
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
// Heap. A user's handler with no allocator of its own (the common case): one block from
// operator new, 432 bytes with an 8-byte handler and any_io_executor on Boost 1.81 (epoll),
// a 448-byte malloc chunk, holding
// - the user's handler, a pointer to the I/O object, the result, the counters;
// - the timer: the per-timer state of the context's steady_timer service, driven through
//   that service, without a steady_timer's copy of the executor (the timer's wait is
//   started with the I/O object's executor, which its reactor operation copies, as a
//   steady_timer's wait copies the timer's; the service belongs to the execution context,
//   so the I/O object may go first);
// - the wait's filtered cancellation, with the reactor's handler that cancels the
//   descriptor wait on timeout inside it (inner_cancellation in detail/wait_op.hpp);
// - two slots where the halves' reactor operations are placed by their handlers'
//   associated allocator (timed_wait_allocator): each slot is sized for Asio's operation
//   header (per backend; the same on Boost 1.81, 1.83 and 1.92), the half's handler and
//   the executors the operation copies. Whatever does not fit, or finds its slot taken (a later allocation
//   by the handler's executor while the first is held), comes from Asio's recycling
//   allocator as before. Every allocation holds a reference to the operation until it is
//   freed: Asio frees an operation's memory before calling (or after destroying) its
//   handler, so the block is never freed under a live allocation, in whichever order the
//   two halves end.
// The block comes from operator new, not from Asio's recycling allocator, which adds a
// byte and rounds up to 16: one malloc size class more here.
// Besides: the timer queue's slot (as for any timer). With the user's own allocator, that
// allocator gets the operation and each reactor operation, as separate allocations.
// The operation's fields are ordered for size.
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

/// The two halves of a timed wait.
enum class timed_half : unsigned char { wait, timer };

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

  /// True when the handler has no allocator of its own: the operation is then one block
  /// from operator new, with room for the reactor operations of both halves (their
  /// handlers' associated allocator, timed_wait_allocator, places them there). A handler's
  /// own allocator is given every allocation instead, as for any Asio operation.
  static constexpr bool one_block =
      std::is_same_v<boost::asio::associated_allocator_t<Handler>, std::allocator<void>>;
  using op_alloc = typename std::allocator_traits<std::conditional_t<
      one_block, std::allocator<void>, allocator_type>>::template rebind_alloc<timed_wait_op>;

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
    op_alloc a(block_allocator(handler));
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
      timed_timer_half<timed_wait_op> timer_half(op);  // Asio moves from it
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
    } else if (!kill_on_expiry_) {
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
    release_uncalled();
  }

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }

  /// The allocations of a half's handler (see timed_wait_allocator): in the half's slot
  /// when it fits and is free, else from the recycling allocator (what Asio would have
  /// used). Each keeps the operation alive until it is deallocated, so that a deallocation
  /// never finds the operation freed, whatever Asio destroys first.
  template <class T>
  T* allocate_for(timed_half which, std::size_t n) {
    add_ref();
    if (alignof(T) <= alignof(slot_storage) && sizeof(T) * n <= slot_size(which)) {
      const unsigned char bit = slot_bit(which);
      if (!(state_.fetch_or(bit, std::memory_order_acq_rel) & bit))
        return static_cast<T*>(static_cast<void*>(slot_data(which)));
    }
    try {
      return fallback_alloc<T>().allocate(n);
    } catch (...) {
      release();  // never the last reference: the half's handler holds one
      throw;
    }
  }
  template <class T>
  void deallocate_for(timed_half which, T* p, std::size_t n) noexcept {
    if (static_cast<void*>(p) == static_cast<void*>(slot_data(which)))
      state_.fetch_and(static_cast<unsigned char>(~slot_bit(which)), std::memory_order_acq_rel);
    else
      fallback_alloc<T>().deallocate(p, n);
    // Asio frees an operation's memory before calling its handler, which holds a
    // reference: never the last one, unless the handler was destroyed uncalled.
    release_uncalled();
  }

private:
  template <class H>
  timed_wait_op(H&& handler, impl_type& impl, on_expiry expiry, signal_scope scope)
      : handler_(std::forward<H>(handler)),
        timer_service_(&boost::asio::use_service<timer_service>(context_of(impl.get_executor()))),
        impl_(&impl),
        cancellation_(registration_ref::current(impl.native_handle())),
        scope_(static_cast<unsigned char>(scope)),
        kill_on_expiry_(expiry == on_expiry::kill) {
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
  // as a parallel group does. Two bits per half in state_: requested, and starting
  // (set until end_start()).
  static constexpr unsigned char timer_requested = 1, timer_starting = 2, wait_requested = 4,
                                 wait_starting = 8;
  void cancel_timer() {
    const unsigned char old = state_.fetch_or(timer_requested, std::memory_order_acq_rel);
    if (!(old & (timer_requested | timer_starting))) do_cancel_timer();
  }
  void cancel_wait(boost::asio::cancellation_type type) {
    wait_cancel_type_.store(static_cast<unsigned char>(type), std::memory_order_relaxed);
    const unsigned char old = state_.fetch_or(wait_requested, std::memory_order_acq_rel);
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
        state_.fetch_and(static_cast<unsigned char>(~(timer_starting | wait_starting)),
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
    op_alloc a(block_allocator(handler_));
    if (abandoned_) return free_self(a);
    const error_code ec(ec_value_, *ec_category_);
    const exit_status status = status_;
    Handler handler(std::move(handler_));
    free_self(a);
    // Free our memory before the handler runs, as Asio's operations do.
    std::move(handler)(ec, status);
  }

  // Drops a reference where the handler is never called: a half's handler still holds
  // one, or was destroyed uncalled (which set abandoned_ first), so the last reference
  // here only frees the operation.
  void release_uncalled() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    leave_user_slot();
    op_alloc a(block_allocator(handler_));
    free_self(a);
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
  static op_alloc block_allocator(const Handler& handler) noexcept {
    if constexpr (one_block)
      return op_alloc();
    else
      return op_alloc(
          boost::asio::get_associated_allocator(handler, boost::asio::recycling_allocator<void>()));
  }
  template <class T>
  static boost::asio::recycling_allocator<T> fallback_alloc() noexcept {
    return boost::asio::recycling_allocator<T>();
  }

  void free_self(op_alloc& a) noexcept {
    this->~timed_wait_op();
    std::allocator_traits<op_alloc>::deallocate(a, this, 1);
  }

  // The halves' slots. A reactor operation is Asio's operation header, the handler and
  // the handler's work (a copy of the I/O executor, and of the handler's executor when
  // that is another type). The headers, the same on Boost 1.81, 1.83 and 1.92: a descriptor
  // wait 72 bytes (epoll) or 88 (io_uring), a timer wait 56. Where an operation is larger
  // (another Boost, another executor's work), it is allocated outside instead.
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  static constexpr std::size_t descriptor_op_header = 88;
#else
  static constexpr std::size_t descriptor_op_header = 72;
#endif
  static constexpr std::size_t timer_op_header = 56;
  using handler_executor = boost::asio::associated_executor_t<Handler, Executor>;
  static constexpr std::size_t work_size =
      sizeof(Executor) +
      (std::is_same_v<handler_executor, Executor> ? 0 : sizeof(handler_executor));
  static constexpr std::size_t round_up(std::size_t n) noexcept {
    return (n + alignof(void*) - 1) / alignof(void*) * alignof(void*);
  }
  static constexpr std::size_t wait_slot_size =
      one_block ? round_up(descriptor_op_header +
                           sizeof(wait_handler<Executor, timed_wait_half<timed_wait_op>>) +
                           work_size)
                : 0;
  static constexpr std::size_t timer_slot_size =
      one_block ? round_up(timer_op_header + sizeof(timed_timer_half<timed_wait_op>) + work_size)
                : 0;
  template <std::size_t WaitSize, std::size_t TimerSize>
  struct alignas(void*) slot_bytes {
    unsigned char wait[WaitSize];
    unsigned char timer[TimerSize];
  };
  struct no_slots {};
  using slot_storage =
      std::conditional_t<one_block, slot_bytes<wait_slot_size, timer_slot_size>, no_slots>;

  static constexpr std::size_t slot_size(timed_half which) noexcept {
    return which == timed_half::wait ? wait_slot_size : timer_slot_size;
  }
  static constexpr unsigned char slot_bit(timed_half which) noexcept {
    return which == timed_half::wait ? 16 : 32;
  }
  unsigned char* slot_data(timed_half which) noexcept {
    if constexpr (one_block)
      return which == timed_half::wait ? slots_.wait : slots_.timer;
    else
      return nullptr;
  }

  // Laid out for size (the operation is the heap a timed wait adds to a plain wait and a
  // timer's): the small members follow cancellation_, whose tail padding they may share.
  Handler handler_;
  timer_service* timer_service_;
  typename timer_service::implementation_type timer_;
  impl_type* impl_;
  // Of the wait half; knows the object's registration.
  [[no_unique_address]] wait_cancellation cancellation_;
  // start()'s (dropped by end_start()), each half's, each live allocation of a half's
  std::atomic<unsigned char> refs_{1};
  std::atomic<bool> decided_{false};
  // The cancellation bits above, and whether each half's slot is taken (slot_bit()).
  std::atomic<unsigned char> state_{timer_starting | wait_starting};
  std::atomic<unsigned char> wait_cancel_type_{
      static_cast<unsigned char>(boost::asio::cancellation_type::terminal)};
  bool abandoned_ = false;     // the handler must not be called
  bool in_user_slot_ = false;  // user_cancellation is in the handler's slot
  unsigned char scope_ : 7;    // a signal_scope
  bool kill_on_expiry_ : 1;    // on_expiry::kill
  // The result is kept as an error_code's value and category rather than as an error_code
  // (16 bytes less, one malloc size class of the block): the source location an
  // error_code may carry is dropped (none of the results has one).
  exit_status status_;
  int ec_value_ = 0;
  const boost::system::error_category* ec_category_ = &boost::system::system_category();
  [[no_unique_address]] slot_storage slots_;

  template <class>
  friend class timed_wait_half;
  template <class>
  friend class timed_timer_half;
};

/// A half's counted reference to its operation. A moved-from one still points to the
/// operation but no longer counts (Asio asks a moved-from handler for its allocator when it
/// could not start an operation): the count is the pointer's low bit.
template <class Op>
class timed_op_ref {
public:
  explicit timed_op_ref(Op* op) noexcept : bits_(to_bits(op) | counted) { op->add_ref(); }
  timed_op_ref(timed_op_ref&& other) noexcept : bits_(other.bits_) { other.bits_ &= ~counted; }
  timed_op_ref(const timed_op_ref&) = delete;
  timed_op_ref& operator=(const timed_op_ref&) = delete;
  timed_op_ref& operator=(timed_op_ref&&) = delete;
  ~timed_op_ref() {
    if (bits_ & counted) get()->half_destroyed();
  }

  /// The operation.
  Op* get() const noexcept {
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the pointer stored by the constructor
    return reinterpret_cast<Op*>(bits_ & ~counted);
  }
  /// Hands the count over to the caller (the half is being called).
  Op* take() noexcept {
    bits_ &= ~counted;
    return get();
  }

private:
  static constexpr std::uintptr_t counted = 1;
  static std::uintptr_t to_bits(Op* op) noexcept { return reinterpret_cast<std::uintptr_t>(op); }
  std::uintptr_t bits_;
};

/// The handler of a timed wait's wait for the process (a wait_handler's inner handler): a
/// reference to the operation, with the user handler's executor (and allocator, unless the
/// operation is one block: timed_wait_allocator).
template <class Op>
class timed_wait_half {
public:
  static constexpr timed_half which = timed_half::wait;
  explicit timed_wait_half(Op* op) noexcept : op_(op) {}

  void operator()(error_code ec, exit_status status) { op_.take()->wait_done(ec, status); }

  /// The operation (for the associators).
  Op& op() const noexcept { return *op_.get(); }

private:
  timed_op_ref<Op> op_;
};

/// The handler of a timed wait's timer.
template <class Op>
class timed_timer_half {
public:
  static constexpr timed_half which = timed_half::timer;
  explicit timed_timer_half(Op* op) noexcept : op_(op) {}

  void operator()(error_code ec) { op_.take()->timer_done(ec); }

  /// The operation (for the associators).
  Op& op() const noexcept { return *op_.get(); }

private:
  timed_op_ref<Op> op_;
};

/// The associated allocator of a half whose operation is one block: the half's reactor
/// operation goes into the half's slot in the block (see timed_wait_op::allocate_for()).
template <class T, class Op>
class timed_wait_allocator {
public:
  using value_type = T;

  timed_wait_allocator(Op* op, timed_half which) noexcept : op_(op), which_(which) {}
  // Implicit, as an allocator's rebinding conversion is.
  template <class U>
  timed_wait_allocator(const timed_wait_allocator<U, Op>& other) noexcept
      : op_(other.op_), which_(other.which_) {}

  T* allocate(std::size_t n) { return op_->template allocate_for<T>(which_, n); }
  void deallocate(T* p, std::size_t n) noexcept { op_->template deallocate_for<T>(which_, p, n); }

  template <class U>
  bool operator==(const timed_wait_allocator<U, Op>& other) const noexcept {
    return op_ == other.op_ && which_ == other.which_;
  }
  template <class U>
  bool operator!=(const timed_wait_allocator<U, Op>& other) const noexcept {
    return !(*this == other);
  }

private:
  template <class, class>
  friend class timed_wait_allocator;
  Op* op_;
  timed_half which_;
};

/// A half's associated allocator when the operation is one block.
template <class Op>
struct timed_half_allocator {
  using type = timed_wait_allocator<void, Op>;
  template <class Half>
  static type get(const Half& h) noexcept {
    return type(&h.op(), Half::which);
  }
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

/// ... except a cancellation slot: the operation cancels its halves itself...
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

/// ... and, when the user's handler has no allocator, the allocator that places the half's
/// operations in the timed wait's block.
template <class Op, class Allocator>
  requires Op::one_block
struct associated_allocator<pidfd::detail::timed_wait_half<Op>, Allocator>
    : pidfd::detail::timed_half_allocator<Op> {
  using pidfd::detail::timed_half_allocator<Op>::get;
  static typename pidfd::detail::timed_half_allocator<Op>::type get(const pidfd::detail::timed_wait_half<Op>& h,
                                                     const Allocator&) noexcept {
    return pidfd::detail::timed_half_allocator<Op>::get(h);
  }
};

template <class Op, class Allocator>
  requires Op::one_block
struct associated_allocator<pidfd::detail::timed_timer_half<Op>, Allocator>
    : pidfd::detail::timed_half_allocator<Op> {
  using pidfd::detail::timed_half_allocator<Op>::get;
  static typename pidfd::detail::timed_half_allocator<Op>::type get(const pidfd::detail::timed_timer_half<Op>& h,
                                                     const Allocator&) noexcept {
    return pidfd::detail::timed_half_allocator<Op>::get(h);
  }
};

}  // namespace boost::asio

#endif  // PIDFD_DETAIL_TIMED_WAIT_OP_HPP
