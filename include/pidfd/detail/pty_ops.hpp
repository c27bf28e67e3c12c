// asio-pidfd internal: the read operation of basic_pty_master, which reports the end of
// the terminal's output (EIO from the master once no process holds the slave open) as
// boost::asio::error::eof, as a pipe would.
#ifndef PIDFD_DETAIL_PTY_OPS_HPP
#define PIDFD_DETAIL_PTY_OPS_HPP

#include <pidfd/error.hpp>

#include <boost/asio/error.hpp>

#include <cerrno>
#include <cstddef>
#include <utility>

namespace pidfd::detail {

/// EIO from a pseudo-terminal master becomes eof; any other result is left alone.
inline void pty_eio_to_eof(error_code& ec) noexcept {
  if (ec == errno_code(EIO)) ec = boost::asio::error::eof;
}

/// One async_read_some of the underlying stream descriptor, its EIO reported as eof.
/// Stream is basic_stream_descriptor<Executor>; the operation is composed with
/// async_compose, which carries the handler's associated executor, allocator and
/// cancellation slot to the inner read.
template <typename Stream, typename MutableBufferSequence>
struct pty_read_op {
  Stream& stream;
  MutableBufferSequence buffers;

  template <typename Self>
  void operator()(Self& self) {
    stream.async_read_some(buffers, std::move(self));
  }

  template <typename Self>
  void operator()(Self& self, error_code ec, std::size_t n) {
    pty_eio_to_eof(ec);
    self.complete(ec, n);
  }
};

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_PTY_OPS_HPP
