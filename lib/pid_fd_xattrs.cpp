// pid_fd: the extended attributes of the process's pidfs inode (Linux 6.17).
#include <pidfd/pid_fd.hpp>

#include "pid_fd_errors.hpp"
#include "sys.hpp"

#include <pidfd/kernel.hpp>

#include <algorithm>
#include <cerrno>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace pidfd {
namespace {

namespace berrc = boost::system::errc;
using detail::errno_code;
using pid_fd_errors::is;
using pid_fd_errors::unsupported;
using pid_fd_errors::usable;

}  // namespace

// ----- pidfs extended attributes ------------------------------------------------------

namespace {

// Maps what the xattr calls answer: EOPNOTSUPP (no pidfs xattrs, or a namespace other
// than trusted.*) to operation_not_supported; the rest (ENODATA, EPERM, ERANGE, ...) as is.
error_code xattr_error(const error_code& e) noexcept {
  return unsupported(e) ? errno_code(EOPNOTSUPP) : e;
}

// The names of fd's attributes (flistxattr gives them NUL-terminated, one after another),
// retrying if the list grows between asking its size and reading it.
error_code read_xattr_names(int fd, std::vector<std::string>& names) {
  for (;;) {
    std::size_t len = 0;
    if (error_code e = sys::flistxattr(fd, nullptr, 0, len)) return xattr_error(e);
    std::string list(len, '\0');
    if (error_code e = sys::flistxattr(fd, list.data(), list.size(), len)) {
      if (is(e, berrc::result_out_of_range)) continue;
      return xattr_error(e);
    }
    names.clear();
    for (std::size_t pos = 0; pos < len;) {
      const std::size_t end = std::min(list.find('\0', pos), len);
      if (end > pos) names.emplace_back(list, pos, end - pos);
      pos = end + 1;
    }
    return {};
  }
}

bool xattr_listed(int fd, const std::string& name) {
  std::vector<std::string> names;
  return !read_xattr_names(fd, names) &&
         std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string pid_fd::get_xattr(const std::string& name) const {
  error_code ec;
  std::string v = get_xattr(name, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::get_xattr");
  return v;
}

std::string pid_fd::get_xattr(const std::string& name, error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return {};
  try {
    // The value may change between asking its size and reading it: retry on ERANGE.
    for (;;) {
      std::size_t len = 0;
      if (error_code e = sys::fgetxattr(fd_, name.c_str(), nullptr, 0, len)) {
        ec = xattr_error(e);
        return {};
      }
      std::string value(len, '\0');
      if (error_code e = sys::fgetxattr(fd_, name.c_str(), value.data(), value.size(), len)) {
        if (is(e, berrc::result_out_of_range)) continue;
        ec = xattr_error(e);
        return {};
      }
      value.resize(len);
      // pidfs answers a read with an empty value, rather than ENODATA, while the process
      // has no attributes at all (6.18): an empty value counts only if the name is listed.
      if (len == 0 && !xattr_listed(fd_, name)) {
        ec = errno_code(ENODATA);
        return {};
      }
      return value;
    }
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

void pid_fd::set_xattr(const std::string& name, std::string_view value) const {
  error_code ec;
  set_xattr(name, value, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::set_xattr");
}

void pid_fd::set_xattr(const std::string& name, std::string_view value,
                       error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return;
  ec = xattr_error(sys::fsetxattr(fd_, name.c_str(), value.data(), value.size(), 0));
}

std::vector<std::string> pid_fd::list_xattrs() const {
  error_code ec;
  std::vector<std::string> names = list_xattrs(ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::list_xattrs");
  return names;
}

std::vector<std::string> pid_fd::list_xattrs(error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return {};
  try {
    std::vector<std::string> names;
    ec = read_xattr_names(fd_, names);
    return names;
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

void pid_fd::remove_xattr(const std::string& name) const {
  error_code ec;
  remove_xattr(name, ec);
  if (ec) throw_error(ec, "pidfd::pid_fd::remove_xattr");
}

void pid_fd::remove_xattr(const std::string& name, error_code& ec) const noexcept {
  ec = usable(fd_, kernel_support().xattrs);
  if (ec) return;
  ec = xattr_error(sys::fremovexattr(fd_, name.c_str()));
}

}  // namespace pidfd
