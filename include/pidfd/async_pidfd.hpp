// asio-pidfd: a pidfd as a Boost.Asio I/O object.
#ifndef PIDFD_ASYNC_PIDFD_HPP
#define PIDFD_ASYNC_PIDFD_HPP

#include <pidfd/detail/async_pidfd_impl.hpp>
#include <pidfd/detail/timed_wait_op.hpp>
#include <pidfd/detail/wait_op.hpp>
#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution_context.hpp>

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <type_traits>
#include <utility>

namespace pidfd {

template <typename Executor>
class basic_async_pidfd;

namespace detail {
template <class Executor>
async_pidfd_impl<Executor>& impl_of(basic_async_pidfd<Executor>& object) noexcept;
}  // namespace detail

/// A pidfd registered with an Asio execution context, so that the exit of its process can
/// be awaited asynchronously with any completion token (callbacks, use_future,
/// use_awaitable, deferred, as_tuple, ...).
///
/// The object owns a pid_fd (the synchronous core, see core()) and registers the same
/// descriptor with the context's reactor. native_handle() is the pidfd, never the PID.
/// The exit status obtained by any wait is cached in the core, so every later or
/// concurrent async_wait(), wait() or try_wait() returns it too.
///
/// Thread safety: distinct objects are safe. A shared object is unsafe, except that
/// several waits may be pending at once and their handlers may run on different threads
/// (they touch the core only through its thread-safe try_wait()/cached_status()).
///
/// @tparam Executor the I/O executor type.
template <typename Executor = boost::asio::any_io_executor>
class basic_async_pidfd {
public:
  /// The type of the executor associated with the object.
  using executor_type = Executor;

  /// Rebinds the object type to another executor.
  template <typename Executor1>
  struct rebind_executor {
    /// The object type when rebound to the specified executor.
    using other = basic_async_pidfd<Executor1>;
  };

  /// Constructs an object without a pidfd (is_open() is false); see assign().
  explicit basic_async_pidfd(const executor_type& ex) : impl_(ex) {}

  /// Constructs an object that owns fd and registers it with ex's execution context.
  /// Throws system_error if the registration fails (fd is then closed).
  basic_async_pidfd(const executor_type& ex, pid_fd fd) : impl_(ex) {
    assign(std::move(fd));
  }

  /// Constructs an object without a pidfd, using ctx's executor for I/O.
  template <typename ExecutionContext>
  explicit basic_async_pidfd(
      ExecutionContext& ctx,
      std::enable_if_t<std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>,
                       int> = 0)
      : impl_(ctx) {}

  /// Constructs an object that owns fd, using ctx's executor for I/O.
  template <typename ExecutionContext>
  basic_async_pidfd(
      ExecutionContext& ctx, pid_fd fd,
      std::enable_if_t<std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>,
                       int> = 0)
      : impl_(ctx) {
    assign(std::move(fd));
  }

  /// Move-constructs from other, which is left empty (is_open() false). Waits pending on
  /// other must have completed: they refer to the object they were started on.
  basic_async_pidfd(basic_async_pidfd&& other) noexcept : impl_(std::move(other.impl_)) {}

  /// Move-constructs from an object with another executor type convertible to ours.
  template <typename Executor1,
            typename = std::enable_if_t<std::is_convertible_v<Executor1, Executor>>>
  basic_async_pidfd(basic_async_pidfd<Executor1>&& other) noexcept
      : impl_(std::move(detail::impl_of(other))) {}

  /// Move-assigns: closes this object's pidfd first (its pending waits complete with
  /// operation_aborted), then takes other's.
  basic_async_pidfd& operator=(basic_async_pidfd&& other) noexcept {
    impl_ = std::move(other.impl_);
    return *this;
  }

  basic_async_pidfd(const basic_async_pidfd&) = delete;
  basic_async_pidfd& operator=(const basic_async_pidfd&) = delete;

  /// Closes the pidfd. Pending waits complete with boost::asio::error::operation_aborted;
  /// the process is not touched.
  ~basic_async_pidfd() = default;

  /// The executor used for I/O (and for handlers that have no associated executor).
  executor_type get_executor() noexcept { return impl_.get_executor(); }

  /// Takes ownership of fd and registers it. Fails with already_open if the object
  /// already has a pidfd, bad_descriptor if fd is empty; fd is closed on failure.
  void assign(pid_fd fd) {
    error_code ec;
    assign(std::move(fd), ec);
    if (ec) throw system_error(ec, "pidfd::basic_async_pidfd::assign");
  }
  /// As above, reporting failure through ec.
  void assign(pid_fd fd, error_code& ec) noexcept { impl_.assign(fd, ec); }

  /// True if the object has a pidfd.
  bool is_open() const noexcept { return impl_.is_open(); }

  /// The pidfd (never the PID); -1 when the object is empty.
  int native_handle() const noexcept { return impl_.native_handle(); }

  /// Closes the pidfd: pending waits complete with operation_aborted and the process is
  /// not touched (closing a pidfd neither signals nor reaps).
  void close() {
    error_code ec;
    close(ec);
  }
  /// As above; never fails (ec is cleared).
  void close(error_code& ec) noexcept {
    impl_.close();
    ec.clear();
  }

  /// Gives the pidfd back as a pid_fd, intact (same descriptor, recorded pid and cached
  /// status), after deregistering it, in blocking mode: a reactor may set O_NONBLOCK
  /// (for a pidfd: PIDFD_NONBLOCK) while it watches the pidfd, and this clears it whichever
  /// reactor it was. Pending waits complete with operation_aborted.
  pid_fd release() {
    error_code ec;
    return release(ec);
  }
  /// As above; never fails (ec is cleared).
  pid_fd release(error_code& ec) noexcept {
    ec.clear();
    return impl_.release();
  }

  /// Cancels every pending wait of this object: each completes with operation_aborted.
  /// The process is not touched and can be waited on again.
  void cancel() {
    error_code ec;
    cancel(ec);
    if (ec) throw system_error(ec, "pidfd::basic_async_pidfd::cancel");
  }
  /// As above, reporting failure through ec.
  void cancel(error_code& ec) noexcept { impl_.cancel(ec); }

  /// The synchronous core (signals, queries, blocking wait()). Do not close() or
  /// release() it while the object is open: use release() on this object instead.
  pid_fd& core() noexcept { return impl_.core(); }
  /// The synchronous core.
  const pid_fd& core() const noexcept { return impl_.core(); }

  /// Sends sig to the process: see pid_fd::send_signal().
  void send_signal(int sig, signal_scope scope = signal_scope::pidfd_default) {
    impl_.core().send_signal(sig, scope);
  }
  /// As above, reporting failure through ec.
  void send_signal(int sig, error_code& ec) noexcept { impl_.core().send_signal(sig, ec); }
  /// As above, reporting failure through ec.
  void send_signal(int sig, signal_scope scope, error_code& ec) noexcept {
    impl_.core().send_signal(sig, scope, ec);
  }

  /// Sends SIGKILL.
  void kill() { impl_.core().kill(); }
  /// As above, reporting failure through ec.
  void kill(error_code& ec) noexcept { impl_.core().kill(ec); }

  /// The process id recorded when the pidfd was created: see pid_fd::pid().
  pid_t pid() const { return impl_.core().pid(); }
  /// As above, reporting failure through ec.
  pid_t pid(error_code& ec) const noexcept { return impl_.core().pid(ec); }

  /// The status if the process has ended (reaping it if it is our child), std::nullopt
  /// if not yet; never blocks. See pid_fd::try_wait().
  std::optional<exit_status> try_wait() { return impl_.core().try_wait(); }
  /// As above, reporting failure through ec.
  std::optional<exit_status> try_wait(error_code& ec) noexcept { return impl_.core().try_wait(ec); }

  /// Waits asynchronously for the process to end and reports its exit status.
  ///
  /// The handler is called exactly once. The operation completes:
  /// - with the exit status when the process has ended; our child is reaped, for another
  ///   process the status comes from PIDFD_INFO_EXIT (Linux 6.15) once its parent has
  ///   reaped it; a status already cached (by any earlier wait) is reported at once;
  /// - with errc::status_unavailable when the process (not our child) has ended but the
  ///   kernel cannot tell its status, or when the pidfd refers to a thread that has
  ///   exited (threads have no exit status);
  /// - with boost::asio::error::operation_aborted on cancel(), close(), release(),
  ///   destruction of the object, or per-operation cancellation;
  /// - with bad_descriptor if the object has no pidfd.
  ///
  /// Readiness of the pidfd without a status (a ptracer holding our exited child, a
  /// non-child zombie) never blocks the handler: the operation keeps waiting.
  ///
  /// Completion signature: void(error_code, exit_status); the status is "no status"
  /// when the error_code is set.
  ///
  /// The handler runs on its associated executor (default: get_executor()), never inside
  /// this function. The operation is the reactor's wait carrying the handler plus four
  /// words, allocated with the handler's associated allocator; operator new is used only in
  /// the rare "readable, no status yet" case (a retry timer, and a list of them shared by
  /// the object's waits).
  ///
  /// Per-operation cancellation: terminal, partial and total, all with the same effect
  /// (operation_aborted; the process is untouched and can be waited on again).
  ///
  /// Thread safety: several waits may be pending on one object at once; all complete
  /// with the same status.
  ///
  /// Lifetime: the object must not be moved while the operation is pending, and must
  /// outlive it unless destroyed with the wait still pending (which aborts it). A wait
  /// aborted by close(), release() or destruction never touches the object again, whatever
  /// the reactor does, and completes without waiting for the process.
  template <boost::asio::completion_token_for<void(error_code, exit_status)> Token =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_wait(Token&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return boost::asio::async_initiate<Token, void(error_code, exit_status)>(
        detail::initiate_wait<Executor>(impl_), token);
  }

  /// Waits asynchronously for the process to end, for at most timeout.
  ///
  /// The handler is called exactly once. The operation completes as async_wait() does,
  /// or with boost::asio::error::timed_out when timeout elapses first; the process is then
  /// left untouched and can be waited on again.
  ///
  /// Completion signature: void(error_code, exit_status).
  ///
  /// The handler runs on its associated executor (default: get_executor()), never inside
  /// this function. The operation is one object (the handler, a timer and the result) and
  /// two pending waits, the descriptor's and the timer's, all three allocated with the
  /// handler's associated allocator; with the default one (std::allocator), as one block
  /// (a pending wait larger than its place there, with another Boost, is allocated apart).
  ///
  /// Per-operation cancellation: terminal, partial and total (operation_aborted).
  ///
  /// Thread safety and lifetime: as for async_wait().
  template <class Rep, class Period,
            boost::asio::completion_token_for<void(error_code, exit_status)> Token =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_wait_for(std::chrono::duration<Rep, Period> timeout,
                      Token&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return boost::asio::async_initiate<Token, void(error_code, exit_status)>(
        detail::initiate_timed_wait<Executor>(
            impl_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout),
            std::nullopt),
        token);
  }

  /// Terminates the process gracefully: sends SIGTERM; if it has not ended after grace,
  /// sends SIGKILL and calls process_mrelease (best effort); then reports its status.
  ///
  /// The handler is called exactly once. The operation completes with the exit status
  /// (SIGTERM or whatever the process did with it; SIGKILL after the grace period), with
  /// the status at once if one is already cached (no signal is sent then), with the
  /// error of pidfd_send_signal (for example operation_not_permitted), or as async_wait()
  /// otherwise (errc::status_unavailable, operation_aborted, bad_descriptor).
  ///
  /// Completion signature: void(error_code, exit_status).
  ///
  /// The handler runs on its associated executor (default: get_executor()), never inside
  /// this function. Memory as for async_wait_for(): one object and two pending waits (the
  /// wait that sees the SIGTERM's effect also sees the SIGKILL's), allocated with the
  /// handler's associated allocator.
  ///
  /// Per-operation cancellation: terminal, partial and total (operation_aborted). A
  /// signal already sent is not undone.
  ///
  /// Thread safety and lifetime: as for async_wait().
  template <class Rep, class Period,
            boost::asio::completion_token_for<void(error_code, exit_status)> Token =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_terminate(std::chrono::duration<Rep, Period> grace,
                       Token&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return async_terminate(grace, signal_scope::pidfd_default, std::forward<Token>(token));
  }

  /// Terminates gracefully as above, sending SIGTERM and SIGKILL with the given scope:
  /// signal_scope::process_group reaches every process of the process's group (Linux 6.9;
  /// operation_not_supported before), so that a shell pipeline the process leads stops as
  /// a whole. The operation follows the process itself: it completes once that process
  /// has ended (group members that outlive it are not waited for), and sends nothing when
  /// its status is already cached. The group is named through the pidfd, and the kernel
  /// still finds it after the process has exited and even after it has been reaped, as
  /// long as members remain: pid_fd::send_signal() with signal_scope::process_group
  /// reaches them then.
  ///
  /// The handler is called exactly once; completion, executor, cancellation, thread safety
  /// and lifetime as for the overload above.
  template <class Rep, class Period,
            boost::asio::completion_token_for<void(error_code, exit_status)> Token =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_terminate(std::chrono::duration<Rep, Period> grace, signal_scope scope,
                       Token&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return boost::asio::async_initiate<Token, void(error_code, exit_status)>(
        detail::initiate_timed_wait<Executor>(
            impl_, std::chrono::duration_cast<std::chrono::steady_clock::duration>(grace),
            scope),
        token);
  }

protected:
  /// The object's state (pidfd, registration, retry timers), as Asio's I/O objects keep
  /// theirs in an io_object_impl; the operations work on it.
  detail::async_pidfd_impl<Executor> impl_;
};

namespace detail {

/// The state of object, for the code of this library that works on it directly: the
/// converting move, and spawn(), which registers a child's pidfd without losing it when
/// the registration fails (the child must then still be killed and reaped). Named through
/// a derived type, impl_ being protected as in Asio's I/O objects.
template <class Executor>
async_pidfd_impl<Executor>& impl_of(basic_async_pidfd<Executor>& object) noexcept {
  struct derived : basic_async_pidfd<Executor> {
    static auto member() noexcept { return &derived::impl_; }
  };
  return object.*derived::member();
}

}  // namespace detail

/// basic_async_pidfd with the default, polymorphic I/O executor.
using async_pidfd = basic_async_pidfd<>;

}  // namespace pidfd

#endif  // PIDFD_ASYNC_PIDFD_HPP
