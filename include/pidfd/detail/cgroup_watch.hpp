// asio-pidfd internal: waiting asynchronously for a run_cgroup to become empty.
//
// The compiled part (opening and reading cgroup.events) is in detail/cgroup.hpp; this
// header registers the open cgroup.events with Asio and waits for its exceptional
// condition (wait_error: POLLPRI, which kernfs raises when the file changes), which both
// of Asio's Linux reactors (epoll and io_uring) wait for as they do for readability.
#ifndef PIDFD_DETAIL_CGROUP_WATCH_HPP
#define PIDFD_DETAIL_CGROUP_WATCH_HPP

#include <pidfd/detail/cgroup.hpp>
#include <pidfd/error.hpp>
#include <pidfd/unique_fd.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/system/system_error.hpp>

#include <cerrno>
#include <new>
#include <type_traits>
#include <utility>

namespace pidfd::detail {

/// The state of a basic_cgroup_watch, which its operations reach through a pointer.
template <class Executor>
struct cgroup_watch_impl {
  explicit cgroup_watch_impl(const Executor& ex) : events(ex) {}
  template <class ExecutionContext>
  explicit cgroup_watch_impl(ExecutionContext& context, int) : events(context) {}

  /// The cgroup.events descriptor of run_cgroup::watch_events().
  boost::asio::posix::basic_stream_descriptor<Executor> events;
  /// Counts open() and close(): an operation started before either must not read the
  /// new descriptors. (Boost 1.81's io_uring service may resume a wait on a closed
  /// descriptor as if it had succeeded once a new descriptor got the same number.)
  unsigned generation = 0;
};

/// async_wait_empty()'s operation, for boost::asio::async_compose: read cgroup.events'
/// `populated`, and either complete or wait for readability again.
template <class Executor>
class cgroup_wait_empty_op {
public:
  /// Waits for the cgroup that `impl` watches to become empty; impl must outlive the
  /// operation.
  explicit cgroup_wait_empty_op(cgroup_watch_impl<Executor>& impl) noexcept
      : impl_(&impl), generation_(impl.generation) {}

  template <class Self>
  void operator()(Self& self, error_code ec = {}) {
    switch (state_) {
      case state::start: {
        if (!impl_->events.is_open())
          return post_result(self, boost::asio::error::bad_descriptor);
        // The cgroup may be empty already (no change would ever be reported then), and
        // events of earlier changes may be pending: both are settled by draining and
        // reading now, never by completing here (the handler must not run inline).
        error_code check_ec;
        if (check(check_ec) || check_ec) return post_result(self, check_ec);
        state_ = state::waiting;
        return impl_->events.async_wait(boost::asio::posix::descriptor_base::wait_error,
                                        std::move(self));
      }
      case state::waiting: {
        if (ec) return self.complete(ec);
        if (impl_->generation != generation_)
          return self.complete(boost::asio::error::operation_aborted);
        error_code check_ec;
        if (check(check_ec) || check_ec) return self.complete(check_ec);
        // A change that left members behind (another member exited, or `frozen`
        // changed): wait for the next one.
        return impl_->events.async_wait(boost::asio::posix::descriptor_base::wait_error,
                                        std::move(self));
      }
      case state::posted:
        return self.complete(result_);
    }
  }

private:
  enum class state { start, waiting, posted };

  // A failed read is tried again (twice) before the wait completes with its error: the run
  // takes that error as "empty" and removes the cgroup, which fails while members remain.
  bool check(error_code& ec) noexcept {
    for (int attempt = 0;; ++attempt) {
      ec.clear();
      const bool empty = read_events_and_check_empty(impl_->events.native_handle(), ec);
      if (!ec || attempt == 2) return empty;
    }
  }

  template <class Self>
  void post_result(Self& self, error_code ec) {
    result_ = ec;
    state_ = state::posted;
    boost::asio::post(impl_->events.get_executor(), std::move(self));
  }

  cgroup_watch_impl<Executor>* impl_;
  unsigned generation_;
  state state_ = state::start;
  error_code result_;
};

/// Watches one run_cgroup for the moment its last member is gone. Owns the cgroup's open
/// cgroup.events (registered with Asio as a stream descriptor), so it does not depend on
/// the run_cgroup object's lifetime; once
/// the cgroup's directory is removed, a wait completes with the error reading it gives
/// (no_such_file_or_directory or no_such_device).
///
/// Not thread-safe: one wait at a time, from one thread or strand, like Asio's objects.
template <class Executor = boost::asio::any_io_executor>
class basic_cgroup_watch {
public:
  /// The executor the descriptor's operations use by default.
  using executor_type = Executor;

  /// A watch that watches nothing yet (see open()), on the executor ex.
  explicit basic_cgroup_watch(const executor_type& ex) : impl_(ex) {}

  /// A watch that watches nothing yet (see open()), on the context's executor.
  template <class ExecutionContext,
            std::enable_if_t<std::is_convertible_v<ExecutionContext&,
                                                   boost::asio::execution_context&>,
                             int> = 0>
  explicit basic_cgroup_watch(ExecutionContext& context) : impl_(context, 0) {}

  basic_cgroup_watch(const basic_cgroup_watch&) = delete;
  basic_cgroup_watch& operator=(const basic_cgroup_watch&) = delete;

  /// The executor the descriptor's operations use by default.
  executor_type get_executor() noexcept { return impl_.events.get_executor(); }

  /// Starts watching `cgroup` (closing what was watched before). Errors: those of
  /// run_cgroup::watch_events() (what was watched before is then still watched), and of
  /// registering the descriptor with the reactor.
  ///
  /// Call it with no wait pending: with Boost 1.81's io_uring backend, a wait that
  /// close() aborted stays queued, and never completes, if the descriptor is assigned
  /// again before the aborted wait has run (close() alone completes it as usual).
  void open(const run_cgroup& cgroup, error_code& ec) noexcept {
    unique_fd events = cgroup.watch_events(ec);
    if (ec) return;
    close();
    try {
      impl_.events.assign(events.get(), ec);
    } catch (const boost::system::system_error& e) {  // the reactor could not be created
      ec = e.code();
    } catch (const std::bad_alloc&) {
      ec = errno_code(ENOMEM);
    }
    if (ec) return;
    (void)events.release();  // now owned by impl_.events
  }

  /// True while watching.
  bool is_open() const noexcept { return impl_.events.is_open(); }

  /// Cancels the pending async_wait_empty(), which completes with operation_aborted
  /// (unless its result was already decided).
  void cancel() noexcept {
    error_code ignored;  // only fails for a closed descriptor, where nothing is pending
    impl_.events.cancel(ignored);
  }

  /// Stops watching: cancels the pending wait and closes the descriptor.
  void close() noexcept {
    ++impl_.generation;
    error_code ignored;  // close() of an Asio descriptor fails only if it was not open
    impl_.events.close(ignored);
  }

  /// Waits until the cgroup has no live member (`populated 0` in cgroup.events).
  ///
  /// The handler is called exactly once: with no error when the cgroup is (or already
  /// was) empty; with operation_aborted after cancel(), close() or a terminal
  /// cancellation through the handler's cancellation slot; with the error of reading
  /// cgroup.events otherwise (for example after the cgroup was removed). Completion
  /// signature: void(error_code). The handler runs on its associated executor (by
  /// default this object's), never inside this call. Nothing is polled: between changes
  /// of cgroup.events the operation only waits for the kernel to raise POLLPRI on it. Not thread-safe; the object must outlive the operation.
  template <boost::asio::completion_token_for<void(error_code)> Token =
                boost::asio::default_completion_token_t<executor_type>>
  auto async_wait_empty(Token&& token = boost::asio::default_completion_token_t<executor_type>()) {
    return boost::asio::async_compose<Token, void(error_code)>(
        cgroup_wait_empty_op<Executor>(impl_), token, impl_.events);
  }

private:
  cgroup_watch_impl<Executor> impl_;
};

/// basic_cgroup_watch on the polymorphic I/O executor.
using cgroup_watch = basic_cgroup_watch<>;

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_CGROUP_WATCH_HPP
