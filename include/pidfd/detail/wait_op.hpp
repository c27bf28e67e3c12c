// asio-pidfd internal: the operation behind basic_async_pidfd::async_wait(), a handler
// passed straight to the descriptor's wait (not a composed operation: see "What a wait
// costs" below). async_wait_for() and async_terminate() run the same wait next to a timer
// (detail/timed_wait_op.hpp).
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
//     kept in a retry_list owned by the I/O object (detail/retry_list.hpp), so cancel(),
//     close() and the destructor abort them like descriptor waits.
//
// What a wait may assume about the reactor. Nothing beyond "the handler is called once":
// a handler the reactor has completed may still be queued when the object is destroyed,
// and Boost 1.81's io_uring service, for one, can resume a wait of a destroyed object much
// later (it resubmits the old request when the reactor's per-descriptor state is reused:
// end_registration() keeps that state until such waits have ended) and can deliver the
// result of an internal cancel request (ENOENT, EALREADY) to an unrelated wait. So every
// wait remembers its registration (detail/registration.hpp) and touches the object only
// while that registration is alive: a registration that is gone means operation_aborted
// whatever the reactor reported, and per-operation cancellation reaches the reactor only
// while it is alive (the reactor's cancellation handler reads the object's descriptor).
// Each descriptor wait is also counted with its registration from the moment it is handed
// to the reactor until the reactor completes (or destroys) it, so that an object closed
// with waits pending can keep the reactor's state for its descriptor until they have ended
// (see detail/registration.hpp and async_pidfd_impl::end_registration()).
// A descriptor error other than operation_aborted leads to a re-check, not to the handler
// (up to max_descriptor_errors in a row, so that a persistent error is still reported).
//
// What a wait costs. async_wait() is not a composed operation: its handler (wait_handler
// below) is the user's handler plus 32 bytes, handed straight to the descriptor's
// async_wait, so the reactor's operation is the only allocation and tracks the only work
// (a composed operation would add a second operation and a second tracked executor). The
// retry timer and its list are allocated only when a retry is needed. With per-operation
// cancellation, the filter (wait_cancellation) is one more allocation, in the user's slot;
// the reactor's own cancellation handler of each descriptor wait or retry timer is kept
// inside the filter (inner_cancellation), not in a block of its own.
#ifndef PIDFD_DETAIL_WAIT_OP_HPP
#define PIDFD_DETAIL_WAIT_OP_HPP

#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/detail/async_pidfd_impl.hpp>
#include <pidfd/detail/registration.hpp>
#include <pidfd/detail/retry_list.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/descriptor_base.hpp>

#include <cstddef>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

/// A descriptor wait failing this many times in a row (each followed by a re-check that
/// found the process still running) reports the error: it is not a reactor artefact.
inline constexpr unsigned max_descriptor_errors = 4;

/// The cancellation signal of a wait's current operation (the descriptor wait or the retry
/// timer), with the slot handler that the reactor installs stored in the signal itself:
/// Asio's cancellation_signal allocates that handler (a 64-byte block per wait); the
/// reactor's handlers are three words, trivially destructible, and fit here. A larger one
/// (another Boost) is allocated instead. Like cancellation_signal: one slot, not
/// thread-safe, emit() calls the installed handler.
class inner_cancellation {
public:
  /// The slot (a CancellationSlot, as Asio's services use it).
  class slot_type {
  public:
    /// Not connected to a signal.
    slot_type() noexcept = default;
    /// The slot of s.
    explicit slot_type(inner_cancellation* s) noexcept : s_(s) {}

    /// Destroys the installed handler, then installs a CancellationHandler made from args.
    template <class CancellationHandler, class... Args>
    CancellationHandler& emplace(Args&&... args) {
      s_->reset();
      return s_->install<CancellationHandler>(std::forward<Args>(args)...);
    }
    /// Installs a decay-copy of handler.
    template <class CancellationHandler>
    std::decay_t<CancellationHandler>& assign(CancellationHandler&& handler) {
      return emplace<std::decay_t<CancellationHandler>>(
          std::forward<CancellationHandler>(handler));
    }
    /// Destroys the installed handler.
    void clear() noexcept {
      if (s_) s_->reset();
    }
    /// True if the slot belongs to a signal.
    bool is_connected() const noexcept { return s_ != nullptr; }
    /// True if a handler is installed.
    bool has_handler() const noexcept { return s_ && s_->fn_; }
    /// The same signal's slot.
    friend bool operator==(const slot_type& a, const slot_type& b) noexcept {
      return a.s_ == b.s_;
    }

  private:
    inner_cancellation* s_ = nullptr;
  };

  inner_cancellation() noexcept = default;
  inner_cancellation(const inner_cancellation&) = delete;
  inner_cancellation& operator=(const inner_cancellation&) = delete;
  ~inner_cancellation() { reset(); }

  /// Calls the installed handler, if any.
  void emit(boost::asio::cancellation_type type) {
    if (fn_) fn_(storage_, type, false);
  }
  /// The signal's one slot.
  slot_type slot() noexcept { return slot_type(this); }

private:
  // What the reactors of Boost 1.81 install: a service pointer, a per-object state pointer
  // and an operation type.
  static constexpr std::size_t inline_size = 3 * sizeof(void*);

  template <class H>
  static constexpr bool fits_inline = sizeof(H) <= inline_size &&
                                      alignof(H) <= alignof(void*) &&
                                      std::is_trivially_destructible_v<H>;

  template <class H, class... Args>
  H& install(Args&&... args) {
    if constexpr (fits_inline<H>) {
      H* h = ::new (static_cast<void*>(storage_)) H(std::forward<Args>(args)...);
      fn_ = [](void* p, boost::asio::cancellation_type type, bool destroy) {
        if (!destroy) (*static_cast<H*>(p))(type);
      };
      return *h;
    } else {
      H* h = new H(std::forward<Args>(args)...);
      ::new (static_cast<void*>(storage_)) H*(h);
      fn_ = [](void* p, boost::asio::cancellation_type type, bool destroy) {
        H* held = *static_cast<H**>(p);
        if (destroy)
          delete held;
        else
          (*held)(type);
      };
      return *h;
    }
  }

  void reset() noexcept {
    if (fn_) std::exchange(fn_, nullptr)(storage_, boost::asio::cancellation_type::none, true);
  }

  alignas(void*) unsigned char storage_[inline_size];
  void (*fn_)(void*, boost::asio::cancellation_type, bool) = nullptr;
};

/// Where per-operation cancellation of an async_wait() goes. Installed in the slot of the
/// user's handler (only when one is connected), it records the request and passes it on,
/// through inner_, to the wait's current operation (the descriptor wait or the retry
/// timer), but only while the registration is alive: the reactor's own cancellation
/// handler reads the object's descriptor.
class wait_cancellation {
public:
  explicit wait_cancellation(registration_ref registration) noexcept
      : registration_(registration) {}

  void operator()(boost::asio::cancellation_type type) {
    if (type == boost::asio::cancellation_type::none) return;
    cancelled_ = true;  // every type aborts a wait: nothing has happened to the process
    if (registration_.alive()) inner_.emit(type);
  }

  /// The slot of the wait's current operation.
  inner_cancellation::slot_type slot() noexcept { return inner_.slot(); }
  /// True once cancellation was requested.
  bool cancelled() const noexcept { return cancelled_; }
  /// True while the object that the wait started on still owns its registration.
  bool alive() const noexcept { return registration_.alive(); }

private:
  inner_cancellation inner_;
  registration_ref registration_;
  bool cancelled_ = false;
};

/// async_wait(): see the top of this file. The handler of the descriptor wait and of the
/// retry timer of a wait on the object whose state is an async_pidfd_impl<Executor>: the
/// user's handler, whose executor and allocator it reports as its own, plus four words.
/// Two modes:
/// - descriptor: waiting for readiness; the registration (descriptor number and epoch),
///   armed while the descriptor wait is with the reactor, is kept to find out whether the
///   object still exists;
/// - timer: re-checking a readable pidfd after a delay; the retry timer (heap) is kept,
///   and its list tells whether the object still exists.
template <class Executor, class Handler>
class wait_handler {
public:
  using impl_type = async_pidfd_impl<Executor>;
  using retry_timer_type = retry_timer<Executor>;

  template <class H>
  wait_handler(H&& handler, impl_type& impl, registration_ref registration)
      : handler_(std::forward<H>(handler)), impl_(&impl), registration_() {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected())
      cancellation_ = &slot.template emplace<wait_cancellation>(registration);
  }

  /// With the cancellation of an enclosing operation (which outlives the wait) instead of
  /// one in the handler's slot.
  template <class H>
  wait_handler(H&& handler, impl_type& impl, wait_cancellation& cancellation)
      : handler_(std::forward<H>(handler)),
        impl_(&impl),
        registration_(),
        cancellation_(&cancellation) {}

  // As noexcept as moving the user's handler, which Asio does not require to be.
  // NOLINTNEXTLINE(performance-noexcept-move-constructor)
  wait_handler(wait_handler&& other) noexcept(std::is_nothrow_move_constructible_v<Handler>)
      : handler_(std::move(other.handler_)),
        impl_(other.impl_),
        cancellation_(other.cancellation_),
        timer_mode_(other.timer_mode_),
        descriptor_errors_(other.descriptor_errors_) {
    if (timer_mode_)
      timer_ = std::exchange(other.timer_, nullptr);
    else
      registration_ = std::exchange(other.registration_, registration_ref());
  }
  wait_handler(const wait_handler&) = delete;
  wait_handler& operator=(const wait_handler&) = delete;
  wait_handler& operator=(wait_handler&&) = delete;

  /// A handler destroyed without being called (its context destroyed with the wait
  /// pending) frees its retry timer, or uncounts its descriptor wait.
  ~wait_handler() {
    if (timer_mode_)
      delete timer_;
    else if (registration_.armed())
      registration_.settle();
  }

  /// The first descriptor wait.
  void start() { arm_descriptor(); }

  /// Completion of the descriptor wait or of the retry timer.
  void operator()(error_code ec) {
    if (!timer_mode_) {
      // The object may be gone whatever ec says (see the top of this file).
      const bool alive = registration_.settle();
      if (ec == boost::asio::error::operation_aborted || !alive)
        return complete(boost::asio::error::operation_aborted, exit_status());
      if (ec) {
        if (++descriptor_errors_ >= max_descriptor_errors) return complete(ec, exit_status());
      } else {
        descriptor_errors_ = 0;
      }
      return check();
    }
    const bool closed = timer_->list().unlink(*timer_);
    if (ec || closed)
      return complete(ec ? ec : error_code(boost::asio::error::operation_aborted), exit_status());
    check();
  }

  /// The user's handler (for the associators).
  const Handler& handler() const noexcept { return handler_; }

  /// The slot for the current operation: the user's cancellation, filtered.
  inner_cancellation::slot_type inner_slot() const noexcept {
    return cancellation_ ? cancellation_->slot() : inner_cancellation::slot_type();
  }

private:
  // Frees the retry timer and goes back to the descriptor mode (not armed yet).
  void leave_timer_mode() noexcept {
    if (!timer_mode_) return;
    delete timer_;
    timer_mode_ = false;
    registration_ = registration_ref();
  }

  void complete(error_code ec, exit_status status) {
    if (timer_mode_) {
      delete std::exchange(timer_, nullptr);  // free our memory before the handler runs
      timer_mode_ = false;
      registration_ = registration_ref();
    }
    // Called from the completion of our own operation, so already on the handler's
    // executor: call it directly.
    std::move(handler_)(ec, status);
  }

  void check() {
    error_code ec;
    const std::optional<exit_status> s = impl_->core().try_wait(ec);
    if (ec || s) return complete(ec, s.value_or(exit_status()));
    if (cancellation_ && cancellation_->cancelled())
      return complete(boost::asio::error::operation_aborted, exit_status());
    if (!impl_->core().has_exited()) {
      // Readiness without a status, and the pidfd is not readable now: the next change
      // (the exit) will be reported.
      leave_timer_mode();
      return arm_descriptor();
    }
    arm_timer();
  }

  void arm_descriptor() {
    // Counted before the reactor sees it; if async_wait() throws, whichever copy of this
    // handler holds the armed reference settles it when destroyed.
    registration_ = registration_ref::arm(impl_->native_handle());
    impl_->descriptor().async_wait(boost::asio::posix::descriptor_base::wait_read,
                                   std::move(*this));
  }

  void arm_timer() {
    if (!timer_mode_) {
      retry_list* list = impl_->retries().acquire();
      try {
        timer_ = new retry_timer_type(impl_->get_executor(), list);  // adopts list
      } catch (...) {
        list->release();
        throw;
      }
      timer_mode_ = true;
      descriptor_errors_ = 0;
    }
    retry_timer_type& t = *timer_;
    t.timer().expires_after(t.next_delay());
    const bool armed = t.list().link_and_arm(t, [&] { t.timer().async_wait(std::move(*this)); });
    // Closed under us (by another thread): abort. We run on the handler's executor.
    if (!armed) complete(boost::asio::error::operation_aborted, exit_status());
  }

  Handler handler_;
  impl_type* impl_;
  union {
    registration_ref registration_;  // descriptor mode: armed while with the reactor
    retry_timer_type* timer_;        // timer mode
  };
  wait_cancellation* cancellation_ = nullptr;  // in the user's slot, if connected
  bool timer_mode_ = false;
  unsigned char descriptor_errors_ = 0;  // descriptor errors in a row
};

/// The initiation of async_wait().
template <class Executor>
class initiate_wait {
public:
  explicit initiate_wait(async_pidfd_impl<Executor>& impl) noexcept : impl_(&impl) {}

  using executor_type = Executor;
  executor_type get_executor() const noexcept { return impl_->get_executor(); }

  template <class Handler>
  void operator()(Handler&& handler) const {
    async_pidfd_impl<Executor>& o = *impl_;
    // Never complete inside the initiating function: results known now go through the
    // I/O executor, which then dispatches to the handler's associated executor.
    if (!o.is_open()) {
      boost::asio::post(o.get_executor(),
                        boost::asio::append(std::forward<Handler>(handler),
                                            error_code(boost::asio::error::bad_descriptor),
                                            exit_status()));
      return;
    }
    if (const std::optional<exit_status> s = o.core().cached_status()) {
      boost::asio::post(o.get_executor(),
                        boost::asio::append(std::forward<Handler>(handler), error_code(), *s));
      return;
    }
    wait_handler<Executor, std::decay_t<Handler>>(std::forward<Handler>(handler), o,
                                                  registration_ref::current(o.native_handle()))
        .start();
  }

private:
  async_pidfd_impl<Executor>* impl_;
};

}  // namespace pidfd::detail

namespace boost::asio {

/// A wait_handler has the executor, allocator (and whatever else is associated) of the
/// user's handler.
template <template <typename, typename> class Associator, class Executor, class Handler,
          class DefaultCandidate>
struct associator<Associator, pidfd::detail::wait_handler<Executor, Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const pidfd::detail::wait_handler<Executor, Handler>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler());
  }
  static auto get(const pidfd::detail::wait_handler<Executor, Handler>& h,
                  const DefaultCandidate& c) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler(), c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler(), c);
  }
};

/// ... except its cancellation slot, which is the filtered one of wait_cancellation.
template <class Executor, class Handler, class CancellationSlot>
struct associated_cancellation_slot<pidfd::detail::wait_handler<Executor, Handler>,
                                    CancellationSlot> {
  using type = pidfd::detail::inner_cancellation::slot_type;
  static type get(const pidfd::detail::wait_handler<Executor, Handler>& h,
                  const CancellationSlot& = CancellationSlot()) noexcept {
    return h.inner_slot();
  }
};

}  // namespace boost::asio

#endif  // PIDFD_DETAIL_WAIT_OP_HPP
