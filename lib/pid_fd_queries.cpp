// pid_fd: what can be asked of the process (its pid, PIDFD_GET_INFO or /proc, identity,
// namespaces, a copy of one of its descriptors) and what can be done to its memory.
#include <pidfd/pid_fd.hpp>

#include "fault.hpp"
#include "pid_fd_errors.hpp"
#include "proc.hpp"
#include "sys.hpp"

#include <pidfd/detail/linux.hpp>
#include <pidfd/detail/process_info.hpp>
#include <pidfd/kernel.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <string_view>

namespace pidfd {
namespace {

namespace berrc = boost::system::errc;
using detail::errno_code;
using pid_fd_errors::is;
using pid_fd_errors::normalise_gone;
using pid_fd_errors::normalise_proc_read;
using pid_fd_errors::unsupported;
using pid_fd_errors::usable;

constexpr std::string_view namespace_names[] = {
    "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children",
    "user", "uts"};

}  // namespace

// ----- GET_INFO replies --------------------------------------------------------------

// The public coredump_mask bits are the kernel's own values.
static_assert(coredump_dumped == detail::pidfd_coredumped);
static_assert(coredump_skipped == detail::pidfd_coredump_skip);
static_assert(coredump_as_user == detail::pidfd_coredump_user);
static_assert(coredump_as_root == detail::pidfd_coredump_root);

namespace detail {

process_info decode_process_info(const pidfd_info& i) noexcept {
  process_info out{};
  if (i.mask & pidfd_info_pid) {
    out.pid = static_cast<pid_t>(i.pid);
    out.tgid = static_cast<pid_t>(i.tgid);
    out.ppid = static_cast<pid_t>(i.ppid);
  }
  if (i.mask & pidfd_info_creds)
    out.creds = credentials{i.ruid, i.euid, i.suid, i.fsuid, i.rgid, i.egid, i.sgid, i.fsgid};
  if (i.mask & pidfd_info_cgroupid) out.cgroup_id = i.cgroupid;
  if (i.mask & pidfd_info_coredump) out.coredump_mask = i.coredump_mask;
  if (i.mask & pidfd_info_coredump_signal)
    out.coredump_signal = static_cast<int>(i.coredump_signal);
  return out;
}

std::uint64_t process_info_request() noexcept {
  const kernel_features& k = kernel_support();
  std::uint64_t mask = pidfd_info_pid | pidfd_info_creds | pidfd_info_cgroupid;
  if (k.info_coredump) mask |= pidfd_info_coredump;
  if (k.info_coredump_signal) mask |= pidfd_info_coredump_signal;
  return mask;
}

}  // namespace detail

// The pid of the process behind fd, from PIDFD_GET_INFO or /proc/self/fdinfo; 0 once the
// process has been reaped or when it is not visible in our pid namespace. An error when
// neither could be asked (fdinfo's, e.g. too_many_files_open at the descriptor limit): the
// process may well be alive.
error_code pid_fd_errors::query_pid(int fd, pid_t& pid) noexcept {
  pid = 0;
  if (kernel_support().get_info) {
    detail::pidfd_info info{};
    info.mask = detail::pidfd_info_pid;
    const error_code ec = sys::pidfd_get_info(fd, info);
    if (!ec) {
      if (info.mask & detail::pidfd_info_pid) pid = static_cast<pid_t>(info.pid);
      return {};
    }
    if (is(ec, berrc::no_such_process)) return {};  // reaped; anything else: ask fdinfo
  }
  pid_t p = 0;
  if (error_code ec = proc::fdinfo_pid(fd, p)) return ec;
  if (p > 0) pid = p;
  return {};
}

// ----- queries -----------------------------------------------------------------------

pid_t pid_fd::pid() const {
  error_code ec;
  const pid_t p = pid(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::pid");
  return p;
}

pid_t pid_fd::pid(error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return 0;
  }
  if (pid_ > 0) return pid_;
  // Not known when this object was made (say, at the descriptor limit, before
  // PIDFD_GET_INFO): asked again, so that a live process is not reported gone.
  pid_t now = 0;
  if (error_code e = pid_fd_errors::query_pid(fd_, now)) {
    ec = e;
    return 0;
  }
  if (now > 0) return now;
  ec = errno_code(ESRCH);
  return 0;
}

process_info pid_fd::info() const {
  error_code ec;
  process_info i = info(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::info");
  return i;
}

process_info pid_fd::info(error_code& ec) const noexcept {
  ec.clear();
  process_info out{};
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return out;
  }
  if (kernel_support().get_info) {
    detail::pidfd_info i{};
    i.mask = detail::process_info_request();
    const error_code e = sys::pidfd_get_info(fd_, i);
    if (!e) {
      if (!(i.mask & detail::pidfd_info_pid)) {
        ec = errno_code(ESRCH);
        return out;
      }
      return detail::decode_process_info(i);
    }
    // ENOTTY (6.1) or EINVAL (6.12): no PIDFD_GET_INFO; use /proc below.
    if (!unsupported(e) && !is(e, berrc::invalid_argument)) {
      ec = normalise_gone(e);
      return out;
    }
  }
  unique_fd dir = proc_dir(ec);
  if (ec) return out;
  if (error_code e = proc::read_process_info(dir.get(), out)) {
    // Reading a reaped process's files fails with ESRCH (or ENOENT for the files).
    ec = normalise_proc_read(e);
    return process_info{};
  }
  return out;
}

credentials pid_fd::creds() const { return info().creds; }

credentials pid_fd::creds(error_code& ec) const noexcept { return info(ec).creds; }

pid_t pid_fd::ppid() const { return info().ppid; }

pid_t pid_fd::ppid(error_code& ec) const noexcept { return info(ec).ppid; }

std::uint64_t pid_fd::cgroup_id() const { return info().cgroup_id; }

std::uint64_t pid_fd::cgroup_id(error_code& ec) const noexcept { return info(ec).cgroup_id; }

std::uint64_t pid_fd::id() const {
  error_code ec;
  const std::uint64_t i = id(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::id");
  return i;
}

std::uint64_t pid_fd::id(error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return 0;
  }
  // Before pidfs every pidfd shares one anonymous inode: no identity to give.
  if (!kernel_support().pidfs) {
    ec = errno_code(EOPNOTSUPP);
    return 0;
  }
  struct stat st {};
  if (PIDFD_FAULT("fstat", ::fstat(fd_, &st)) != 0) {
    ec = errno_code(errno);
    return 0;
  }
  return st.st_ino;
}

unique_fd pid_fd::get_namespace(namespace_type type) const {
  error_code ec;
  unique_fd fd = get_namespace(type, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::get_namespace");
  return fd;
}

unique_fd pid_fd::get_namespace(namespace_type type, error_code& ec) const noexcept {
  ec.clear();
  const int index = static_cast<int>(type);
  if (index < 0 || index >= 10) {
    ec = errno_code(EINVAL);
    return {};
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return {};
  }
  if (kernel_support().namespaces) {
    int fd = -1;
    const error_code e = sys::pidfd_get_namespace(fd_, index + 1, fd);
    if (!e) return unique_fd(fd);
    // EOPNOTSUPP: that namespace type is not built into this kernel.
    if (is(e, berrc::operation_not_supported) || !unsupported(e)) {
      ec = normalise_gone(e);
      return {};
    }
  }
  unique_fd dir = proc_dir(ec);
  if (ec) return {};
  int fd = -1;
  if (error_code e = proc::open_namespace(dir.get(), namespace_names[index], fd)) {
    // The links vanish when the process exits; a missing one on a live process means the
    // kernel lacks that namespace type.
    error_code alive;
    send_signal(0, alive);
    if (alive || has_exited())
      ec = errno_code(ESRCH);
    else
      ec = is(e, berrc::no_such_file_or_directory) ? errno_code(EOPNOTSUPP) : e;
    return {};
  }
  return unique_fd(fd);
}

void pid_fd::set_namespace(int clone_new_flags) const {
  error_code ec;
  set_namespace(clone_new_flags, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::set_namespace");
}

void pid_fd::set_namespace(int clone_new_flags, error_code& ec) const noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return;
  }
  ec = normalise_gone(sys::setns(fd_, clone_new_flags));
}

unique_fd pid_fd::get_remote_fd(int target_fd) const {
  error_code ec;
  unique_fd fd = get_remote_fd(target_fd, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::get_remote_fd");
  return fd;
}

unique_fd pid_fd::get_remote_fd(int target_fd, error_code& ec) const noexcept {
  ec.clear();
  if (!kernel_support().getfd) {
    ec = errno_code(EOPNOTSUPP);
    return {};
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return {};
  }
  int fd = -1;
  if (error_code e = sys::pidfd_getfd(fd_, target_fd, fd)) {
    ec = unsupported(e) ? errno_code(EOPNOTSUPP) : normalise_gone(e);
    return {};
  }
  return unique_fd(fd);
}

void pid_fd::release_memory() const {
  error_code ec;
  release_memory(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::release_memory");
}

void pid_fd::release_memory(error_code& ec) const noexcept {
  ec.clear();
  if (!kernel_support().mrelease) {
    ec = errno_code(EOPNOTSUPP);
    return;
  }
  if (fd_ < 0) {
    ec = errno_code(EBADF);
    return;
  }
  error_code e = sys::process_mrelease(fd_);
  ec = unsupported(e) ? errno_code(EOPNOTSUPP) : e;
}

// ----- memory advice -------------------------------------------------------------------

std::size_t pid_fd::madvise(std::span<const iovec> ranges, int advice) const {
  error_code ec;
  const std::size_t n = madvise(ranges, advice, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::madvise");
  return n;
}

std::size_t pid_fd::madvise(std::span<const iovec> ranges, int advice,
                            error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().madvise);
  if (ec) return 0;
  std::size_t advised = 0;
  if (error_code e = sys::process_madvise(fd_, ranges.data(), ranges.size(), advice, advised)) {
    ec = is(e, berrc::function_not_supported) ? errno_code(EOPNOTSUPP)
                                              : normalise_gone(e);
    return 0;
  }
  return advised;
}

}  // namespace pidfd
