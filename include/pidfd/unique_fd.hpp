// asio-pidfd: a move-only owning file descriptor.
#ifndef PIDFD_UNIQUE_FD_HPP
#define PIDFD_UNIQUE_FD_HPP

#include <unistd.h>

#include <utility>

namespace pidfd {

/// Owns one file descriptor and closes it on destruction. Move-only; -1 means empty.
class unique_fd {
public:
  /// Empty.
  constexpr unique_fd() noexcept = default;
  /// Takes ownership of fd (which may be -1).
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  /// Takes other's descriptor; other becomes empty.
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  /// Closes the owned descriptor (if any), then takes other's; other becomes empty.
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  /// The descriptor, still owned.
  int get() const noexcept { return fd_; }
  /// Gives up ownership and returns the descriptor; the object becomes empty.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the owned descriptor (if any) and takes ownership of fd.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd);
    // close() is not retried on EINTR: on Linux the descriptor is released either way.
    if (old >= 0) ::close(old);
  }
  /// True if a descriptor is owned.
  bool is_open() const noexcept { return fd_ >= 0; }
  /// is_open().
  explicit operator bool() const noexcept { return is_open(); }

private:
  int fd_ = -1;
};

}  // namespace pidfd

#endif  // PIDFD_UNIQUE_FD_HPP
