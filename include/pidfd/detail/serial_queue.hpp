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

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace pidfd::detail {

/// Functions run one at a time, in order of arrival, on the threads that bring them.
class serial_queue {
public:
  serial_queue() = default;
  serial_queue(const serial_queue&) = delete;
  serial_queue& operator=(const serial_queue&) = delete;
  ~serial_queue() = default;

  /// Runs fn now, then whatever came meanwhile; or queues fn (a copy of it, so it must
  /// be copyable) behind the function that is running. If a function throws, the
  /// exception leaves run() and resume is called to have the functions still queued run
  /// later, by resume_queued() on some thread: the queue does not lose them, as a strand
  /// does not.
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
    call(fn, resume);
    run_queued(resume);
  }

  /// Runs what was queued when a function threw (see run()); the queue is still marked
  /// running meanwhile, so nothing else starts.
  template <class Resume>
  void resume_queued(Resume&& resume) {
    run_queued(resume);
  }

private:
  // Runs the queue until it is empty, then marks it idle.
  template <class Resume>
  void run_queued(Resume& resume) {
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
      call(next, resume);
    }
  }

  // Calls f; if it throws, the functions still queued are handed to resume (or the queue
  // is marked idle if there are none) before the exception goes on.
  template <class F, class Resume>
  void call(F& f, Resume& resume) {
    try {
      f();
    } catch (...) {
      bool pending = false;
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        pending = !queued_.empty();
        running_ = pending;
      }
      if (pending) resume();
      throw;
    }
  }

  std::mutex mutex_;
  bool running_ = false;
  std::vector<std::function<void()>> queued_;  // rarely more than one: a vector
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_SERIAL_QUEUE_HPP
