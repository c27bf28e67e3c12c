// asio-pidfd internal: one operation's handlers run one at a time, in order of arrival.
//
// async_run()'s handlers share one state and must never run concurrently, even when the
// io_context runs on several threads. An asio::strand gives that at a price paid by every
// handler: the completion is re-dispatched through the strand (an allocated operation, a
// lock taken twice) and the handler tracks work on a copy of the strand's executor. A run
// has few handlers, and another of its handlers is almost never running when one
// completes; serial_queue makes that common case cheap. A handler calls run() from the
// I/O executor's thread it was completed on: if nothing of the operation is running, the
// function runs at once on that thread; otherwise it is queued, and the thread running
// the operation's current function runs it next. No thread ever waits for another, and
// the lock is held only to look at the queue.
#ifndef PIDFD_DETAIL_SERIAL_QUEUE_HPP
#define PIDFD_DETAIL_SERIAL_QUEUE_HPP

#include <exception>
#include <functional>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

namespace pidfd::detail {

class serial_queue {
public:
  serial_queue() = default;
  serial_queue(const serial_queue&) = delete;
  serial_queue& operator=(const serial_queue&) = delete;
  ~serial_queue() = default;

  /// Runs fn now, then whatever came meanwhile; or queues fn (a copy of it, so it must
  /// be copyable) behind the function that is running. If a function throws, the
  /// exception leaves run() and resume is called (it must not throw) to have the
  /// functions still queued run later, by resume_queued() on some thread: the queue does
  /// not lose them, as a strand does not.
  template <class Fn, class Resume>
  void run(Fn&& fn, Resume&& resume) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (running_) {
        queued_.emplace_back(std::forward<Fn>(fn));
        return;
      }
      running_ = true;
    }
    const after_throw<std::remove_reference_t<Resume>> guard(*this, resume);
    fn();
    run_queued();
  }

  /// Runs what was queued when a function threw (see run()); the queue is still marked
  /// running meanwhile, so nothing else starts.
  template <class Resume>
  void resume_queued(Resume&& resume) {
    const after_throw<std::remove_reference_t<Resume>> guard(*this, resume);
    run_queued();
  }

private:
  // Runs the queue until it is empty, then marks it idle.
  void run_queued() {
    for (;;) {
      std::function<void()> next;
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        if (queued_.empty()) {
          running_ = false;
          return;
        }
        next = std::move(queued_.front());
        queued_.erase(queued_.begin());
      }
      next();
    }
  }

  // While an exception leaves a function: functions still queued are handed to resume,
  // or the queue is marked idle if none are.
  template <class Resume>
  class after_throw {
  public:
    after_throw(serial_queue& q, Resume& resume) noexcept
        : queue_(q), resume_(resume), exceptions_(std::uncaught_exceptions()) {}
    after_throw(const after_throw&) = delete;
    after_throw& operator=(const after_throw&) = delete;
    ~after_throw() {
      if (std::uncaught_exceptions() == exceptions_) return;
      bool pending = false;
      {
        const std::lock_guard<std::mutex> lock(queue_.mutex_);
        pending = !queue_.queued_.empty();
        queue_.running_ = pending;
      }
      if (pending) resume_();
    }

  private:
    serial_queue& queue_;
    Resume& resume_;
    int exceptions_;
  };

  std::mutex mutex_;
  bool running_ = false;
  std::vector<std::function<void()>> queued_;  // rarely more than one: a vector
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_SERIAL_QUEUE_HPP
