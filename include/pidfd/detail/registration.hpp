// asio-pidfd internal: registration epochs, the compiled half of the waits' lifetime checks
// (lib/registration.cpp). Asio-free, like everything the library binary contains.
//
// A wait of basic_async_pidfd may run after its object is gone: a handler the reactor has
// already completed but not yet run when the object is destroyed, or (Boost 1.81's io_uring
// service) an old request resumed when its slot is reused. Before touching the object, a
// wait therefore checks that the registration it started on still exists. Every descriptor
// number has an epoch, a counter that the object increments when it gives up its
// registration (close(), release(), destruction); a wait remembers the descriptor number
// and the epoch it started with, and the registration is alive while they still match.
// This costs a wait 8 bytes and the object nothing; the process-wide table grows in pages of
// 1024 numbers (4 KiB) as higher descriptor numbers are registered, and never shrinks.
#ifndef PIDFD_DETAIL_REGISTRATION_HPP
#define PIDFD_DETAIL_REGISTRATION_HPP

#include <atomic>
#include <cstdint>

namespace pidfd::detail {

/// The epoch counter of descriptor number fd (fd >= 0), created on first use; nullptr only
/// if fd is negative or the table's page for fd could not be allocated. Once it has been
/// returned for fd, it is returned again for fd without allocating, for the process's life.
std::atomic<std::uint32_t>* registration_epoch(int fd) noexcept;

/// A registration as a wait remembers it: the descriptor number and its epoch then.
class registration_ref {
public:
  registration_ref() noexcept = default;
  registration_ref(int fd, std::uint32_t epoch) noexcept : fd_(fd), epoch_(epoch) {}

  /// The registration of fd as it is now (fd registered by the caller, so its counter
  /// exists).
  static registration_ref current(int fd) noexcept {
    return {fd, registration_epoch(fd)->load(std::memory_order_acquire)};
  }

  /// True while the object that owned the registration still owns it.
  bool alive() const noexcept {
    return fd_ >= 0 &&
           registration_epoch(fd_)->load(std::memory_order_acquire) == epoch_;
  }

  /// Ends every registration of fd (the object giving it up): waits that remember one no
  /// longer touch the object.
  static void end(int fd) noexcept {
    registration_epoch(fd)->fetch_add(1, std::memory_order_acq_rel);
  }

private:
  int fd_ = -1;
  std::uint32_t epoch_ = 0;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_REGISTRATION_HPP
