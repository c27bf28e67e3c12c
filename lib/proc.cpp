#include "proc.hpp"

#include "fault.hpp"
#include "sys.hpp"

#include <pidfd/unique_fd.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

namespace pidfd::proc {

using detail::errno_code;
namespace {

// /proc/<pid>/status is about 1.5 KiB; cgroup files stay well under this.
constexpr std::size_t file_buffer = 8192;

error_code read_small_file(int dirfd, const char* name, char* buf, std::size_t& len) noexcept {
  unique_fd fd(PIDFD_FAULT("openat(proc file)", ::openat(dirfd, name, O_RDONLY | O_CLOEXEC)));
  if (!fd) return errno_code(errno);
  len = 0;
  while (len < file_buffer - 1) {
    const ssize_t n = PIDFD_FAULT("read", ::read(fd.get(), buf + len, file_buffer - 1 - len));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_code(errno);
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  buf[len] = '\0';
  return {};
}

// The text after "<key>:" on the line starting with key, with leading blanks skipped.
std::string_view line_value(std::string_view text, std::string_view key) noexcept {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        line[key.size()] == ':') {
      std::string_view v = line.substr(key.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      return v;
    }
    pos = end + 1;
  }
  return {};
}

// Parses up to n whitespace-separated integers; returns how many were read.
template <class T>
std::size_t parse_numbers(std::string_view v, T* out, std::size_t n) noexcept {
  std::size_t k = 0;
  const char* p = v.data();
  const char* end = v.data() + v.size();
  while (k < n && p < end) {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    long long x = 0;
    const auto r = std::from_chars(p, end, x);
    if (r.ec != std::errc()) break;
    out[k++] = static_cast<T>(x);
    p = r.ptr;
  }
  return k;
}

error_code malformed() noexcept {
  return errno_code(EIO);
}

// The cgroup2 mount point, from /proc/self/mountinfo (hybrid v1+v2 systems mount it at
// /sys/fs/cgroup/unified). Empty if there is none.
const std::string& cgroup2_mount() noexcept {
  static const std::string mount = []() noexcept -> std::string {
    try {
      std::FILE* f = PIDFD_FAULT("fopen(mountinfo)", std::fopen("/proc/self/mountinfo", "re"));
      if (!f) return {};
      std::string found;
      char* line = nullptr;
      std::size_t cap = 0;
      while (::getline(&line, &cap, f) > 0) {
        std::string_view l(line);
        const std::size_t dash = l.find(" - ");
        if (dash == std::string_view::npos || l.substr(dash + 3, 8) != "cgroup2 ") continue;
        // Field 5 (1-based) is the mount point.
        std::size_t pos = 0;
        for (int i = 0; i < 4; ++i) pos = l.find(' ', pos) + 1;
        found = std::string(l.substr(pos, l.find(' ', pos) - pos));
        break;
      }
      std::free(line);
      (void)std::fclose(f);  // read-only: nothing is lost if closing fails
      return found;
    } catch (...) {
      return {};
    }
  }();
  return mount;
}

// Deepest pid namespace nesting the kernel allows is 32; one more for the procfs level.
constexpr std::size_t max_levels = 33;

// How many pid-namespace levels ours lies below that of the procfs mounted at /proc: 0
// when they are the same (the usual case).
error_code own_depth(std::size_t& depth) noexcept {
  char buf[file_buffer];
  std::size_t len = 0;
  if (error_code ec = read_small_file(AT_FDCWD, "/proc/thread-self/status", buf, len)) return ec;
  long long ids[max_levels];
  const std::size_t n = parse_numbers(line_value(std::string_view(buf, len), "NSpid"), ids,
                                      max_levels);
  depth = n > 0 ? n - 1 : 0;
  return {};
}

// The pid in our namespace of a parent that /proc (whose namespace is `depth` levels above
// ours) calls procfs_ppid; 0 if it has none in ours.
long long translate_parent(pid_t procfs_ppid, std::size_t depth) noexcept {
  char path[40];
  // At most 25 bytes with the nul: it cannot be truncated.
  (void)std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(procfs_ppid));
  char buf[file_buffer];
  std::size_t len = 0;
  if (read_small_file(AT_FDCWD, path, buf, len)) return 0;
  long long ids[max_levels];
  if (parse_numbers(line_value(std::string_view(buf, len), "NSpid"), ids, max_levels) <= depth)
    return 0;
  return ids[depth];
}

// The path on the unified hierarchy's line, "0::<path>", of a /proc/<pid>/cgroup file;
// empty if there is none (a cgroup v1-only system).
std::string_view unified_line(std::string_view cg) noexcept {
  std::string_view path;
  for (std::size_t pos = 0; pos < cg.size();) {
    const std::size_t end = std::min(cg.find('\n', pos), cg.size());
    const std::string_view line = cg.substr(pos, end - pos);
    if (line.substr(0, 3) == "0::") path = line.substr(3);
    pos = end + 1;
  }
  return path;
}

}  // namespace

error_code fdinfo_pid(int fd, pid_t& pid) noexcept {
  char name[40];
  // At most 30 bytes with the nul: it cannot be truncated.
  (void)std::snprintf(name, sizeof name, "/proc/self/fdinfo/%d", fd);
  char buf[file_buffer];
  std::size_t len = 0;
  if (error_code ec = read_small_file(AT_FDCWD, name, buf, len)) return ec;
  const std::string_view v = line_value(std::string_view(buf, len), "Pid");
  long long p = 0;
  if (v.empty() || parse_numbers(v, &p, 1) != 1) return make_error_code(errc::not_a_pidfd);
  pid = static_cast<pid_t>(p);
  return {};
}

error_code read_process_info(int dirfd, process_info& info) noexcept {
  char buf[file_buffer];
  std::size_t len = 0;
  if (error_code ec = read_small_file(dirfd, "status", buf, len)) return ec;
  const std::string_view text(buf, len);
  long long pid = 0, tgid = 0, ppid = 0;
  uid_t uids[4];
  gid_t gids[4];
  if (parse_numbers(line_value(text, "Pid"), &pid, 1) != 1 ||
      parse_numbers(line_value(text, "Tgid"), &tgid, 1) != 1 ||
      parse_numbers(line_value(text, "PPid"), &ppid, 1) != 1 ||
      parse_numbers(line_value(text, "Uid"), uids, 4) != 4 ||
      parse_numbers(line_value(text, "Gid"), gids, 4) != 4)
    return malformed();
  // /proc numbers processes in the pid namespace of its mount, which is not ours after
  // unshare(CLONE_NEWPID) without a new /proc. Translate through the NSpid/NStgid lists
  // (procfs namespace first, the process's own last): our namespace is `depth` levels
  // below the mount's, so a process we can see has an entry at that index.
  std::size_t depth = 0;
  if (error_code ec = own_depth(depth)) return ec;
  if (depth > 0) {
    long long ns_ids[max_levels];
    if (parse_numbers(line_value(text, "NSpid"), ns_ids, max_levels) <= depth)
      return errno_code(ESRCH);  // not in our namespace
    pid = ns_ids[depth];
    if (parse_numbers(line_value(text, "NStgid"), ns_ids, max_levels) <= depth)
      return errno_code(ESRCH);
    tgid = ns_ids[depth];
    // The parent is in our namespace (or below), or above it, where it has no pid for us.
    ppid = ppid > 0 ? translate_parent(static_cast<pid_t>(ppid), depth) : 0;
  }
  info.pid = static_cast<pid_t>(pid);
  info.tgid = static_cast<pid_t>(tgid);
  info.ppid = static_cast<pid_t>(ppid);
  info.creds = credentials{uids[0], uids[1], uids[2], uids[3], gids[0], gids[1], gids[2], gids[3]};

  if (error_code ec = read_small_file(dirfd, "cgroup", buf, len)) return ec;
  const std::string_view path = unified_line(std::string_view(buf, len));
  info.cgroup_id = 0;
  const std::string& mount = cgroup2_mount();
  if (!path.empty() && !mount.empty()) {
    try {
      std::string dir = mount;
      dir.append(path.data(), path.size());
      struct stat st {};
      if (PIDFD_FAULT("stat(cgroup)", ::stat(dir.c_str(), &st)) == 0) info.cgroup_id = st.st_ino;
    } catch (...) {
      return errno_code(ENOMEM);
    }
  }
  return {};
}

error_code read_cgroup_path(int dirfd, std::string& path) noexcept {
  char buf[file_buffer];
  std::size_t len = 0;
  if (error_code ec = read_small_file(dirfd, "cgroup", buf, len)) return ec;
  const std::string_view p = unified_line(std::string_view(buf, len));
  if (p.empty()) return errno_code(EOPNOTSUPP);
  try {
    path.assign(p);
  } catch (...) {
    return errno_code(ENOMEM);
  }
  return {};
}

error_code open_namespace(int dirfd, std::string_view name, int& fd) noexcept {
  char path[64];
  const int n =
      std::snprintf(path, sizeof path, "ns/%.*s", static_cast<int>(name.size()), name.data());
  // Never open a truncated name (and so, perhaps, another namespace).
  if (n < 0 || static_cast<std::size_t>(n) >= sizeof path)
    return errno_code(ENAMETOOLONG);
  fd = PIDFD_FAULT("openat(namespace)", ::openat(dirfd, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return errno_code(errno);
  return {};
}

}  // namespace pidfd::proc
