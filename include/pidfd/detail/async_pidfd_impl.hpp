// asio-pidfd internal: the state of a basic_async_pidfd, in one implementation object as
// Asio keeps an I/O object's state in its io_object_impl. The I/O object is a thin shell
// over it, and its operations (detail/wait_op.hpp, detail/timed_wait_op.hpp) get what they
// need from it: the descriptor registered with the reactor, the synchronous core (the same
// pidfd, and the cached exit status) and the retry timers' list.
#ifndef PIDFD_DETAIL_ASYNC_PIDFD_IMPL_HPP
#define PIDFD_DETAIL_ASYNC_PIDFD_IMPL_HPP

#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/detail/registration.hpp>
#include <pidfd/detail/retry_list.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>

#include <cerrno>
#include <new>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

/// The state of a basic_async_pidfd<Executor>: the pidfd registered with the reactor (the
/// descriptor), the same pidfd as a pid_fd (the core, which caches the exit status) and
/// the list of the retry timers of its waits. Movable like the I/O object; moving it while
/// waits are pending is not allowed (they hold its address).
template <class Executor>
class async_pidfd_impl {
public:
  using executor_type = Executor;
  using descriptor_type = boost::asio::posix::basic_stream_descriptor<Executor>;

  /// Without a pidfd, using ex for I/O.
  explicit async_pidfd_impl(const executor_type& ex) : descriptor_(ex) {}
  /// Without a pidfd, using ctx's executor for I/O.
  template <class ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
  explicit async_pidfd_impl(ExecutionContext& ctx) : descriptor_(ctx) {}

  /// Takes other's state; other is left empty.
  async_pidfd_impl(async_pidfd_impl&& other) noexcept
      : descriptor_(std::move(other.descriptor_)),
        core_(std::move(other.core_)),
        retries_(std::move(other.retries_)) {}
  /// The same, from the state of an object with another executor type.
  template <class Executor1>
    requires std::is_convertible_v<Executor1, Executor>
  explicit async_pidfd_impl(async_pidfd_impl<Executor1>&& other) noexcept
      : descriptor_(std::move(other.descriptor())),
        core_(std::move(other.core())),
        retries_(std::move(other.retries())) {}

  /// Closes this pidfd first (its pending waits complete with operation_aborted), then
  /// takes other's.
  async_pidfd_impl& operator=(async_pidfd_impl&& other) noexcept {
    if (this != &other) {
      close();
      descriptor_ = std::move(other.descriptor_);
      core_ = std::move(other.core_);
      retries_ = std::move(other.retries_);
    }
    return *this;
  }

  async_pidfd_impl(const async_pidfd_impl&) = delete;
  async_pidfd_impl& operator=(const async_pidfd_impl&) = delete;

  ~async_pidfd_impl() { close(); }

  /// The executor used for I/O.
  executor_type get_executor() noexcept { return descriptor_.get_executor(); }
  /// True if registered.
  bool is_open() const noexcept { return descriptor_.is_open(); }
  /// The pidfd; -1 when empty.
  int native_handle() const noexcept { return core_.native_handle(); }

  /// The registered descriptor.
  descriptor_type& descriptor() noexcept { return descriptor_; }
  /// The synchronous core.
  pid_fd& core() noexcept { return core_; }
  /// The synchronous core.
  const pid_fd& core() const noexcept { return core_; }
  /// The retry timers of the waits.
  retry_list_ptr& retries() noexcept { return retries_; }

  /// Takes fd and registers it; on failure fd stays with the caller (open, so that a
  /// spawned child can still be killed and reaped through it). Fails with already_open if
  /// a pidfd is registered already, bad_descriptor if fd is empty.
  void assign(pid_fd& fd, error_code& ec) noexcept {
    if (is_open()) {
      ec = boost::asio::error::already_open;
      return;
    }
    if (!fd.is_open()) {
      ec = boost::asio::error::bad_descriptor;
      return;
    }
    // The descriptor number's epoch (created here, once per number: see
    // detail/registration.hpp), which the waits use to know whether we still exist.
    if (!registration_epoch(fd.native_handle())) {
      ec = errno_code(ENOMEM);
      return;
    }
    try {
      descriptor_.assign(fd.native_handle(), ec);
    } catch (const std::bad_alloc&) {  // the reactor's per-descriptor state
      ec = errno_code(ENOMEM);
    } catch (const system_error& e) {  // its mutex (pthread_mutex_init)
      ec = e.code();
    }
    if (!ec) core_ = std::move(fd);
  }

  /// Ends the registration (pending waits no longer touch this object), deregisters
  /// (aborting pending waits) and closes the pidfd.
  void close() noexcept {
    end_registration();
    if (descriptor_.is_open()) descriptor_.release();
    core_.close();
  }

  /// Ends the registration as close() does and gives the pidfd back intact, in blocking
  /// mode: a reactor may set O_NONBLOCK (for a pidfd: PIDFD_NONBLOCK) while it watches it.
  pid_fd release() noexcept {
    if (descriptor_.is_open()) {
      // Asio's epoll reactor sets O_NONBLOCK (for a pidfd: PIDFD_NONBLOCK) at the first
      // wait; its io_uring service does not, and clearing it then changes nothing. Best
      // effort: pid_fd::wait() copes with it anyway.
      error_code ignored;
      descriptor_.native_non_blocking(false, ignored);
    }
    end_registration();
    if (descriptor_.is_open()) descriptor_.release();
    return std::move(core_);
  }

  /// Cancels the pending descriptor waits and the armed retry timers.
  void cancel(error_code& ec) noexcept {
    ec.clear();
    if (descriptor_.is_open()) descriptor_.cancel(ec);
    retries_.cancel_all();
  }

private:
  // Pending waits see the registration end: they abort without touching this object.
  void end_registration() noexcept {
    if (descriptor_.is_open()) {
#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
      // Boost 1.81's io_uring service aborts a pending wait only when the kernel confirms
      // the cancellation of its poll request, and if the reactor's per-descriptor state is
      // deregistered and handed to a new registration first (Asio recycles it, and the
      // next descriptor registered gets it), it forgets that the cancellation was
      // requested and resubmits the old poll on the old descriptor number: the wait then
      // ends only when whatever has that number now becomes readable, and it keeps the
      // io_context's work until then. So the pending waits are cancelled here, and the
      // reactor's state stays registered (moved out of this object, the descriptor number
      // closed or handed back as usual) until the last of them has completed.
      const int fd = descriptor_.native_handle();
      error_code ignored;
      descriptor_.cancel(ignored);
      auto* left = new (std::nothrow) retired_descriptor(std::move(descriptor_));
      if (!left) {
        registration_ref::end(fd);  // deregistered at once instead
      } else if (!registration_ref::end(fd, left)) {
        delete left;  // no wait pending: deregister now
      }
#else
      // Asio's epoll reactor aborts pending waits as soon as the descriptor is
      // deregistered.
      registration_ref::end(descriptor_.native_handle());
#endif
    }
    retries_.reset();
  }

#if defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  // The reactor's state of a descriptor whose object has given it up while waits were
  // pending: deregistered, without closing the number (already closed or handed back),
  // when the last of those waits has completed.
  class retired_descriptor final : public retired_registration {
  public:
    explicit retired_descriptor(descriptor_type&& d) noexcept : descriptor_(std::move(d)) {}
    ~retired_descriptor() override { descriptor_.release(); }

  private:
    descriptor_type descriptor_;
  };
#endif

  descriptor_type descriptor_;
  pid_fd core_;
  retry_list_ptr retries_;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_ASYNC_PIDFD_IMPL_HPP
