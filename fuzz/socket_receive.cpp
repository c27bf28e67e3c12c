// libFuzzer target: the receive side of the UNIX-socket functions
// (detail::socket_calls::receive_pidfd and receive_with_sender), fed through a real
// socketpair with whatever the kernel lets a sender attach.
//
// Input: byte 0 picks the socket type (stream, datagram, seqpacket) and the function;
// byte 1 is a list of up to 8 descriptors to send as SCM_RIGHTS (2 bits each pair: none,
// a pidfd, /dev/null, an eventfd), byte 2 says whether SO_PASSPIDFD is on and whether the
// sender shuts down after the message; the rest is the payload (possibly empty).
//
// Checked: no crash or sanitizer report, and no descriptor leaked: after each input the
// 16 descriptor numbers from the lowest free one before it are as they were, whatever was
// received (the library must close every fd it does not return, and we close the one it
// returns). The socketpair and every received fd take free numbers in that range.
#include <pidfd/detail/socket_calls.hpp>
#include <pidfd/unique_fd.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

namespace {

int lowest_free_fd() {
  const int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) std::abort();
  ::close(fd);
  return fd;
}

// The descriptors a sender may attach, opened once.
struct sendable {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int event = ::eventfd(0, EFD_CLOEXEC);
};

// The fds data[1] names (two bits each, four slots), sent with the payload data + 3 from
// `writer`.
void send_message(int writer, const sendable& fds, const std::uint8_t* data, std::size_t size) {
  std::vector<int> attach;
  for (int k = 0; k < 4; ++k) {
    switch ((data[1] >> (2 * k)) & 3) {
      case 1: attach.push_back(fds.pidfd); break;
      case 2: attach.push_back(fds.devnull); break;
      case 3: attach.push_back(fds.event); break;
      default: break;
    }
  }
  const std::size_t payload_size = size - 3;
  ::iovec iov{const_cast<std::uint8_t*>(data + 3), payload_size};
  alignas(::cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  ::msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!attach.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * attach.size());
    ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * attach.size());
    std::memcpy(CMSG_DATA(c), attach.data(), sizeof(int) * attach.size());
  }
  // A stream socket carries no message for an empty payload: the fds need a byte.
  (void)::sendmsg(writer, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

// One receive, with or without the sender's pidfd; aborts where a result breaks the
// contract.
void receive_and_check(int reader, const pidfd::detail::socket_semantics& sem,
                       bool with_sender) {
  pidfd::error_code ec;
  bool peer_closed = false;
  if (with_sender) {
    std::uint8_t buf[64];
    ::iovec out{buf, sizeof buf};
    pidfd::pid_fd sender;
    const std::size_t n = pidfd::detail::socket_calls::receive_with_sender(
        reader, sem, &out, 1, false, sender, peer_closed, ec);
    if (n > sizeof buf) std::abort();
    if (ec && sender.is_open()) std::abort();  // an error returns no descriptor
  } else {
    pidfd::pid_fd p =
        pidfd::detail::socket_calls::receive_pidfd(reader, sem, false, peer_closed, ec);
    if (ec && p.is_open()) std::abort();
    if (p.is_open()) {
      pidfd::error_code check;
      if (!pidfd::detail::socket_calls::is_pidfd(p.native_handle(), check)) std::abort();
    }
  }
  if (peer_closed && ec) std::abort();  // end of file is reported alone
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const sendable fds;
  if (size < 3) return 0;
  const int before = lowest_free_fd();
  bool was_open[16];
  for (int k = 0; k < 16; ++k) was_open[k] = ::fcntl(before + k, F_GETFD) >= 0;
  const int types[3] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
  const int type = types[data[0] % 3];
  const bool with_sender = (data[0] & 0x80) != 0;
  const pidfd::detail::socket_semantics sem{type != SOCK_DGRAM, false};
  {
    int pair[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, pair) != 0) std::abort();
    pidfd::unique_fd reader(pair[0]), writer(pair[1]);
    if (data[2] & 1) {
      const int on = 1;
      // Absent before Linux 6.5: the receive then simply has no SCM_PIDFD.
      (void)::setsockopt(reader.get(), SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on);
    }
    send_message(writer.get(), fds, data, size);
    if (data[2] & 2) writer.reset();
    receive_and_check(reader.get(), sem, with_sender);
  }
  for (int k = 0; k < 16; ++k)
    if (!was_open[k] && ::fcntl(before + k, F_GETFD) >= 0) std::abort();  // leaked
  return 0;
}
