// pidfds over UNIX-domain sockets: SO_PEERPIDFD, SCM_RIGHTS and SCM_PIDFD.
#include <pidfd/detail/linux.hpp>
#include <pidfd/detail/socket_calls.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/unique_fd.hpp>

#include "fault.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#ifndef ANON_INODE_FS_MAGIC
#define ANON_INODE_FS_MAGIC 0x09041934
#endif

namespace pidfd::detail::socket_calls {

namespace {

using boost::system::system_category;

// The raw calls, one wrapper each (EINTR retried where the call restarts).

error_code sys_getsockopt_int(int sock, int level, int name, int& value) noexcept {
  socklen_t len = sizeof(value);
  if (PIDFD_FAULT("getsockopt", ::getsockopt(sock, level, name, &value, &len)) != 0)
    return errno_code(errno);
  if (len != sizeof(value)) return errno_code(EINVAL);
  return {};
}

error_code sys_setsockopt_int(int sock, int level, int name, int value) noexcept {
  if (PIDFD_FAULT("setsockopt", ::setsockopt(sock, level, name, &value, sizeof(value))) != 0)
    return errno_code(errno);
  return {};
}

error_code sys_sendmsg(int sock, const ::msghdr& msg, int flags, std::size_t& sent) noexcept {
  ssize_t r;
  do r = PIDFD_FAULT("sendmsg", ::sendmsg(sock, &msg, flags));
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno_code(errno);
  sent = static_cast<std::size_t>(r);
  return {};
}

error_code sys_recvmsg(int sock, ::msghdr& msg, int flags, std::size_t& received) noexcept {
  ssize_t r;
  do r = PIDFD_FAULT("recvmsg", ::recvmsg(sock, &msg, flags));
  while (r < 0 && errno == EINTR);
  if (r < 0) return errno_code(errno);
  received = static_cast<std::size_t>(r);
  return {};
}

error_code sys_fstatfs(int fd, struct statfs& st) noexcept {
  int r;
  do r = PIDFD_FAULT("fstatfs", ::fstatfs(fd, &st));
  while (r < 0 && errno == EINTR);
  if (r != 0) return errno_code(errno);
  return {};
}

error_code sys_readlink(const char* path, std::string& target) noexcept {
  char buf[64];
  const ssize_t r = PIDFD_FAULT("readlink", ::readlink(path, buf, sizeof(buf)));
  if (r < 0) return errno_code(errno);
  target.assign(buf, static_cast<std::size_t>(r));
  return {};
}

// Why the kernel could not make a descriptor for one it delivered: the error of making one
// now (EMFILE at the descriptor limit, ENOMEM when the table cannot grow); ENOMEM if that
// works again already.
error_code descriptor_shortage(int sock) noexcept {
  const int fd = PIDFD_FAULT("fcntl(F_DUPFD_CLOEXEC)", ::fcntl(sock, F_DUPFD_CLOEXEC, 0));
  if (fd < 0) return errno_code(errno);
  ::close(fd);
  return errno_code(ENOMEM);
}

// "Not ready", always spelt EWOULDBLOCK (Asio's would_block), so callers can compare with
// one value.
error_code would_block() noexcept { return errno_code(EWOULDBLOCK); }

error_code normalise_io_error(error_code ec) noexcept {
  if (ec.category() == system_category() && (ec.value() == EAGAIN || ec.value() == EWOULDBLOCK))
    return would_block();
  return ec;
}

// Sockets of Asio's generic protocols may be of any family: accept only AF_UNIX.
error_code check_socket(int sock, socket_semantics sem) noexcept {
  if (sock < 0) return errno_code(EBADF);
  if (!sem.check_family) return {};
  int domain = 0;
  if (error_code ec = sys_getsockopt_int(sock, SOL_SOCKET, SO_DOMAIN, domain)) return ec;
  if (domain != AF_UNIX) return errno_code(EAFNOSUPPORT);
  return {};
}

// For the blocking (synchronous) forms: wait until the socket is ready, then retry.
error_code wait_ready(int sock, short events) noexcept {
  short revents = 0;
  // Errors and hangups are left for the retried call to report precisely.
  return sys::poll_one(sock, events, -1, revents);
}

// SO_PEERPIDFD, SO_PASSPIDFD and the kernel's other spellings of "unknown option".
bool option_missing(const error_code& ec) noexcept {
  return ec.category() == system_category() &&
         (ec.value() == ENOPROTOOPT || ec.value() == ENOSYS || ec.value() == EOPNOTSUPP);
}

// Room for this many SCM_RIGHTS fds; more makes the kernel truncate the control data.
constexpr std::size_t max_rights = 64;

// Control buffer: SCM_RIGHTS (max_rights fds), SCM_PIDFD, and SCM_CREDENTIALS (in case the
// application enabled SO_PASSCRED, so that it never causes a truncation by itself).
constexpr std::size_t control_size =
    CMSG_SPACE(sizeof(int) * max_rights) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(::ucred));

// One received message's descriptors, owned from the moment recvmsg() returns.
struct received_fds {
  unique_fd rights[max_rights];
  std::size_t rights_count = 0;
  unique_fd sender;          // SCM_PIDFD
  bool has_sender = false;   // an SCM_PIDFD cmsg was present
  int sender_error = 0;      // its (negated) errno, when it carried one instead of an fd
  bool truncated = false;    // MSG_CTRUNC
  // With MSG_CTRUNC: the control buffer still had room for another descriptor, so the
  // kernel did not cut the list for space but failed to make a descriptor (fd limit, memory).
  bool install_failed = false;
};

// One non-blocking recvmsg(); takes ownership of every descriptor it brings in.
error_code receive_once(int sock, const ::iovec* iov, std::size_t iov_count,
                        std::size_t& bytes, received_fds& fds) noexcept {
  alignas(::cmsghdr) unsigned char control[control_size];
  ::msghdr msg{};
  msg.msg_iov = const_cast<::iovec*>(iov);
  msg.msg_iovlen = iov_count;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  error_code ec = sys_recvmsg(sock, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, bytes);
  if (ec) return normalise_io_error(ec);
  fds.truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  fds.install_failed =
      fds.truncated && sizeof(control) - msg.msg_controllen >= CMSG_SPACE(sizeof(int));
  for (::cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    const std::size_t data_len = c->cmsg_len - CMSG_LEN(0);
    if (c->cmsg_type == SCM_RIGHTS) {
      const std::size_t n = data_len / sizeof(int);
      for (std::size_t k = 0; k < n; ++k) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
        if (fds.rights_count < max_rights)
          fds.rights[fds.rights_count++].reset(fd);
        else
          ::close(fd);  // cannot happen with the buffer sized for max_rights
      }
    } else if (c->cmsg_type == detail::k_scm_pidfd && data_len >= sizeof(int)) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
      fds.has_sender = true;
      // Before Linux 6.16 the kernel puts a negative errno here when the sender has been
      // reaped (pidfd_prepare failed).
      if (fd >= 0)
        fds.sender.reset(fd);
      else
        fds.sender_error = -fd;
    }
  }
  return {};
}

// ESRCH (6.16+ wording) or EINVAL (6.5-6.15, pid_has_task failed): the process has been
// reaped.
error_code reaped_error(int e) noexcept {
  if (e == ESRCH || e == EINVAL) return errno_code(ESRCH);
  return errno_code(e);
}

error_code not_supported() noexcept {
  return errno_code(EOPNOTSUPP);
}

}  // namespace

bool is_pidfd(int fd, error_code& ec) noexcept {
  ec.clear();
  struct statfs st{};
  if ((ec = sys_fstatfs(fd, st))) return false;
  if (st.f_type == detail::k_pid_fs_magic) return true;
  // Before pidfs (6.9) a pidfd is an anonymous inode named "[pidfd]"; other anonymous
  // inodes (eventfd, signalfd, ...) carry their own names.
  if (static_cast<unsigned long>(st.f_type) != ANON_INODE_FS_MAGIC) return false;
  std::string target;
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  if ((ec = sys_readlink(link.c_str(), target))) return false;
  return target == "anon_inode:[pidfd]";
}

pid_fd peer_pidfd(int sock, socket_semantics sem, error_code& ec) noexcept {
  ec = check_socket(sock, sem);
  if (ec) return {};
  if (!kernel_support().peer_pidfd) {
    ec = not_supported();
    return {};
  }
  int fd = -1;
  ec = sys_getsockopt_int(sock, SOL_SOCKET, detail::k_so_peerpidfd, fd);
  if (ec) {
    if (option_missing(ec))
      ec = not_supported();
    else if (ec.value() == ENODATA)
      ec = errno_code(ENOTCONN);  // no peer credentials recorded
    else
      ec = reaped_error(ec.value());
    return {};
  }
  unique_fd owned(fd);
  const bool ok = is_pidfd(owned.get(), ec);
  if (ec) return {};
  if (!ok) {
    ec = errc::not_a_pidfd;
    return {};
  }
  return pid_fd(owned.release());
}

void enable_sender_pidfd(int sock, socket_semantics sem, error_code& ec) noexcept {
  ec = check_socket(sock, sem);
  if (ec) return;
  if (!kernel_support().peer_pidfd) {
    ec = not_supported();
    return;
  }
  ec = sys_setsockopt_int(sock, SOL_SOCKET, detail::k_so_passpidfd, 1);
  if (ec && option_missing(ec)) ec = not_supported();
}

void send_pidfd(int sock, socket_semantics sem, int pidfd, bool blocking,
                error_code& ec) noexcept {
  ec = check_socket(sock, sem);
  if (ec) return;
  if (pidfd < 0) {
    ec = errno_code(EBADF);
    return;
  }
  char payload = 0;
  ::iovec iov{&payload, 1};
  alignas(::cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))] = {};
  ::msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ::cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
  for (;;) {
    std::size_t sent = 0;
    ec = normalise_io_error(sys_sendmsg(sock, msg, MSG_DONTWAIT | MSG_NOSIGNAL, sent));
    if (ec != would_block() || !blocking) return;
    if ((ec = wait_ready(sock, POLLOUT))) return;
  }
}

pid_fd receive_pidfd(int sock, socket_semantics sem, bool blocking, bool& peer_closed,
                     error_code& ec) noexcept {
  peer_closed = false;
  ec = check_socket(sock, sem);
  if (ec) return {};
  char payload;
  ::iovec iov{&payload, 1};
  std::size_t bytes = 0;
  received_fds fds;
  for (;;) {
    ec = receive_once(sock, &iov, 1, bytes, fds);
    if (ec != would_block() || !blocking) break;
    if ((ec = wait_ready(sock, POLLIN))) return {};
  }
  if (ec) return {};
  // From here every received fd is owned by `fds` and closed unless returned.
  if (fds.truncated) {
    ec = fds.install_failed ? descriptor_shortage(sock) : errno_code(EMSGSIZE);
    return {};
  }
  if (fds.rights_count == 0) {
    if (bytes == 0 && sem.zero_is_eof)
      peer_closed = true;
    else
      ec = errno_code(ENOMSG);
    return {};
  }
  // A descriptor that could not be checked is reported with the check's error, except one
  // that reads as "not ready": the message is consumed, and the async form would wait again.
  error_code check_failed;
  for (std::size_t k = 0; k < fds.rights_count; ++k) {
    error_code check_ec;
    if (is_pidfd(fds.rights[k].get(), check_ec) && !check_ec)
      return pid_fd(fds.rights[k].release());
    if (check_ec && !check_failed && normalise_io_error(check_ec) != would_block())
      check_failed = check_ec;
  }
  ec = check_failed ? check_failed : error_code(errc::not_a_pidfd);
  return {};
}

std::size_t receive_with_sender(int sock, socket_semantics sem, const ::iovec* iov,
                                std::size_t iov_count, bool blocking, pid_fd& sender,
                                bool& peer_closed, error_code& ec) noexcept {
  peer_closed = false;
  sender.close();
  ec = check_socket(sock, sem);
  if (ec) return 0;
  std::size_t bytes = 0;
  received_fds fds;
  for (;;) {
    ec = receive_once(sock, iov, iov_count, bytes, fds);
    if (ec != would_block() || !blocking) break;
    if ((ec = wait_ready(sock, POLLIN))) return 0;
  }
  if (ec) return 0;
  // SCM_RIGHTS fds are not asked for here: `fds` closes them.
  if (fds.truncated) {
    ec = errno_code(EMSGSIZE);
    return bytes;
  }
  if (!fds.has_sender) {
    if (bytes == 0 && sem.zero_is_eof && fds.rights_count == 0)
      peer_closed = true;
    else
      ec = errno_code(ENOMSG);
    return bytes;
  }
  if (!fds.sender.is_open()) {
    ec = reaped_error(fds.sender_error);
    return bytes;
  }
  sender = pid_fd(fds.sender.release());
  return bytes;
}

}  // namespace pidfd::detail::socket_calls
