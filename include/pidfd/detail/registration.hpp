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
//
// Next to the epoch, each number counts the descriptor waits that are with the reactor
// (armed, not yet settled). An object giving up its registration while some are pending
// may hand over a retired_registration, which is destroyed once the last of them has
// settled. Boost 1.81's io_uring service needs this: it aborts a pending wait only when the
// kernel confirms the cancellation, and it forgets that the cancellation was requested if
// the reactor's per-descriptor state is given to a new registration first; the wait would
// then resume on the reused descriptor number and end only when that becomes readable
// (the new process exits). Keeping the old state registered until its waits have settled
// closes that window.
//
// This costs a wait 8 bytes and the object nothing; the process-wide table grows in pages of
// 1024 numbers (8 KiB) as higher descriptor numbers are registered, and never shrinks.
#ifndef PIDFD_DETAIL_REGISTRATION_HPP
#define PIDFD_DETAIL_REGISTRATION_HPP

#include <atomic>
#include <cstdint>

namespace pidfd::detail {

/// The state of descriptor number fd (fd >= 0), created on first use: the epoch in the low
/// 32 bits, the count of armed descriptor waits in the high 32 bits. nullptr only if fd is
/// negative or the table's page for fd could not be allocated. Once it has been returned
/// for fd, it is returned again for fd without allocating, for the process's life.
std::atomic<std::uint64_t>* registration_epoch(int fd) noexcept;

/// What an object leaves behind when it gives up a registration with waits still pending
/// (the reactor's state for its descriptor); destroyed once they have all settled.
class retired_registration {
public:
  virtual ~retired_registration() = default;

protected:
  retired_registration() = default;
  retired_registration(const retired_registration&) = delete;
  retired_registration& operator=(const retired_registration&) = delete;
};

/// A registration as a wait remembers it: the descriptor number and its epoch then.
class registration_ref {
public:
  registration_ref() noexcept = default;
  registration_ref(int fd, std::uint32_t epoch) noexcept : fd_(fd), epoch_(epoch) {}

  /// The registration of fd as it is now (fd registered by the caller, so its counter
  /// exists).
  static registration_ref current(int fd) noexcept {
    return {fd, static_cast<std::uint32_t>(
                    registration_epoch(fd)->load(std::memory_order_acquire))};
  }

  /// The registration of fd as it is now, counting one more descriptor wait that is about
  /// to be handed to the reactor; the wait calls settle() exactly once, when the reactor
  /// completes or destroys it.
  static registration_ref arm(int fd) noexcept;

  /// Uncounts the wait armed with this reference and returns whether the registration is
  /// still alive. The reference is empty afterwards. If the registration has ended and
  /// this was its last pending wait, destroys what it left behind.
  bool settle() noexcept;

  /// True if this reference was returned by arm() and has not been settled.
  bool armed() const noexcept { return fd_ >= 0; }

  /// True while the object that owned the registration still owns it.
  bool alive() const noexcept {
    return fd_ >= 0 && static_cast<std::uint32_t>(registration_epoch(fd_)->load(
                           std::memory_order_acquire)) == epoch_;
  }

  /// Ends every registration of fd (the object giving it up): waits that remember one no
  /// longer touch the object. If descriptor waits are pending and left is not null, takes
  /// ownership of left and destroys it once they have all settled, and returns true;
  /// otherwise returns false and left stays with the caller.
  static bool end(int fd, retired_registration* left = nullptr) noexcept;

private:
  int fd_ = -1;
  std::uint32_t epoch_ = 0;
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_REGISTRATION_HPP
