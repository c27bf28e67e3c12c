// The cgroup v2 building blocks of run_scope::cgroup: finding the cgroup2 mount and our own
// cgroup, and a cgroup made for one run (create, kill, watch, count, signal, remove).
#include <pidfd/detail/cgroup.hpp>

#include "fault.hpp"
#include "sys.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <new>
#include <utility>

namespace pidfd::detail {
namespace {

namespace berrc = boost::system::errc;

// CGROUP2_SUPER_MAGIC from <linux/magic.h>.
constexpr long cgroup2_magic = 0x63677270;

// Reading more than this from one cgroup file means something is wrong (cgroup.procs of
// a cgroup with a million members is under 8 MiB).
constexpr std::size_t max_file_size = std::size_t{64} << 20;

// The whole of a (small, pseudo-) file, read through a directory descriptor.
error_code read_file(int dirfd, const char* name, std::string& out) noexcept {
  unique_fd fd(
      PIDFD_FAULT("openat(cgroup file, read)", ::openat(dirfd, name, O_RDONLY | O_CLOEXEC)));
  if (!fd) return errno_code(errno);
  try {
    out.clear();
    char buf[4096];
    for (;;) {
      const ssize_t n = PIDFD_FAULT("read(cgroup file)", ::read(fd.get(), buf, sizeof buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_code(errno);
      if (n == 0) return {};
      if (out.size() + static_cast<std::size_t>(n) > max_file_size)
        return errno_code(EFBIG);
      out.append(buf, static_cast<std::size_t>(n));
    }
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

// Writes `text` to a cgroup control file in one write(), as the kernel expects.
error_code write_file(int dirfd, const char* name, std::string_view text) noexcept {
  unique_fd fd(
      PIDFD_FAULT("openat(cgroup file, write)", ::openat(dirfd, name, O_WRONLY | O_CLOEXEC)));
  if (!fd) return errno_code(errno);
  ssize_t n;
  do n = PIDFD_FAULT("write(cgroup file)", ::write(fd.get(), text.data(), text.size()));
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno_code(errno);
  if (static_cast<std::size_t>(n) != text.size()) return errno_code(EIO);
  return {};
}

// The value of "key value" on one of the lines of a cgroup file such as cgroup.events or
// cpu.stat; nullopt if there is no such line or the value is not a number.
std::optional<std::uint64_t> keyed_value(std::string_view text, std::string_view key) noexcept {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        line[key.size()] == ' ') {
      std::uint64_t v = 0;
      const char* first = line.data() + key.size() + 1;
      const auto r = std::from_chars(first, line.data() + line.size(), v);
      if (r.ec != std::errc() || r.ptr != line.data() + line.size()) return std::nullopt;
      return v;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto octal = [&](std::size_t k) { return s[k] >= '0' && s[k] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) |
                               (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// True if `path` is `root` or below it, comparing whole components.
bool is_within(std::string_view path, std::string_view root) noexcept {
  if (root == "/") return !path.empty() && path.front() == '/';
  if (path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

// The whitespace-separated fields of one line.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) break;
    const std::size_t end = std::min(line.find(' ', pos), line.size());
    out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

// The pids of a cgroup.procs text, appended to out.
void parse_pids(std::string_view text, std::vector<pid_t>& out) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    int pid = 0;
    const auto r = std::from_chars(text.data() + pos, text.data() + end, pid);
    if (r.ec == std::errc() && pid > 0) out.push_back(static_cast<pid_t>(pid));
    pos = end + 1;
  }
}

// Calls f(dirfd) for the cgroup at `dirfd` and for every cgroup below it, children
// before their parent (the order in which they can be removed). The cgroups below are
// found by listing the directory; one made or removed meanwhile may be missed or vanish,
// which the callers tolerate (ENOENT from a vanished one is not an error).
template <class F>
error_code for_each_cgroup(int dirfd, F& f, int depth = 0) noexcept {
  // The kernel limits the depth of the hierarchy (cgroup.max.depth) but not to anything
  // small by default: stop at a depth no real run reaches, so the recursion is bounded.
  if (depth > 64) return errno_code(ELOOP);
  const int listing = PIDFD_FAULT("openat(cgroup listing)",
                                  ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (listing < 0) return errno_code(errno);
  DIR* d = PIDFD_FAULT("fdopendir", ::fdopendir(listing));
  if (!d) {
    const error_code ec = errno_code(errno);
    ::close(listing);
    return ec;
  }
  error_code result;
  for (;;) {
    errno = 0;
    const dirent* e = PIDFD_FAULT("readdir", ::readdir(d));
    if (!e) {
      if (errno != 0) result = errno_code(errno);
      break;
    }
    if (e->d_type != DT_DIR || std::strcmp(e->d_name, ".") == 0 ||
        std::strcmp(e->d_name, "..") == 0)
      continue;
    unique_fd child(PIDFD_FAULT("openat(cgroup below)",
                                ::openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
    if (!child) {
      if (errno == ENOENT) continue;
      result = errno_code(errno);
      break;
    }
    if (error_code ec = for_each_cgroup(child.get(), f, depth + 1)) {
      result = ec;
      break;
    }
    if (error_code ec = f(dirfd, e->d_name, child.get())) {
      result = ec;
      break;
    }
  }
  ::closedir(d);
  return result;
}

// The pids listed in cgroup.procs of the cgroup at `dirfd` and below, sorted, each once.
error_code collect_members(int dirfd, std::vector<pid_t>& pids) noexcept {
  try {
    pids.clear();
    std::string text;
    auto add = [&](int, const char*, int fd) -> error_code {
      if (error_code ec = read_file(fd, "cgroup.procs", text)) {
        // A cgroup below that was removed while we listed it has no members.
        return ec == berrc::no_such_file_or_directory || ec == berrc::no_such_device
                   ? error_code() : ec;
      }
      parse_pids(text, pids);
      return {};
    };
    if (error_code ec = add(-1, nullptr, dirfd)) return ec;
    if (error_code ec = for_each_cgroup(dirfd, add)) return ec;
    std::sort(pids.begin(), pids.end());
    pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
    return {};
  } catch (const std::bad_alloc&) {
    return errno_code(ENOMEM);
  }
}

std::atomic<unsigned> name_counter{0};

// A name no other cgroup of ours has, and, through the random part, unlikely to be taken
// by a process with our pid in another pid namespace sharing the hierarchy.
void make_name(char (&name)[64]) noexcept {
  const auto now = static_cast<std::uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  const unsigned n = name_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  // A cheap mix of the clock and the counter (splitmix64's finaliser).
  std::uint64_t z = now + 0x9e3779b97f4a7c15ULL * n;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  // At most 15 + 10 + 1 + 10 + 1 + 8 characters plus the nul: never truncated.
  (void)std::snprintf(name, sizeof name, "%.*s%d-%u-%08x",
                      static_cast<int>(run_cgroup_prefix.size()), run_cgroup_prefix.data(),
                      static_cast<int>(::getpid()), n, static_cast<unsigned>(z));
}

// The errors of creating the cgroup, as the caller should see them.
error_code creation_error(const error_code& ec) noexcept {
  if (ec == berrc::permission_denied || ec == berrc::operation_not_permitted)
    return errno_code(EACCES);
  if (ec == berrc::read_only_file_system) return errno_code(EOPNOTSUPP);
  return ec;
}

}  // namespace

std::optional<cgroup2_mount> choose_cgroup2_mount(std::string_view mountinfo,
                                                  std::string_view cgroup) {
  std::optional<cgroup2_mount> best;
  for (std::size_t pos = 0; pos < mountinfo.size();) {
    const std::size_t end = std::min(mountinfo.find('\n', pos), mountinfo.size());
    const std::string_view line = mountinfo.substr(pos, end - pos);
    pos = end + 1;
    // "id parent major:minor root mount-point options [optional...] - fstype source super"
    const std::size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    const std::vector<std::string_view> head = split_fields(line.substr(0, dash));
    const std::vector<std::string_view> tail = split_fields(line.substr(dash + 3));
    if (head.size() < 6 || tail.empty() || tail[0] != "cgroup2") continue;
    cgroup2_mount m;
    m.root = unescape_mount_field(head[3]);
    if (!is_within(cgroup, m.root)) continue;
    m.mount_point = unescape_mount_field(head[4]);
    const std::vector<std::string_view> options = [&] {
      std::vector<std::string_view> o;
      std::string_view s = head[5];
      for (std::size_t p = 0; p <= s.size();) {
        const std::size_t e = std::min(s.find(',', p), s.size());
        o.push_back(s.substr(p, e - p));
        p = e + 1;
      }
      return o;
    }();
    m.read_only = std::find(options.begin(), options.end(), "ro") != options.end();
    // Later lines win ties: a later mount at the same place hides the earlier one.
    if (!best || (best->read_only && !m.read_only) ||
        (best->read_only == m.read_only && m.root.size() <= best->root.size()))
      best = std::move(m);
  }
  return best;
}

std::optional<std::string> unified_cgroup_path(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
    pos = end + 1;
  }
  return std::nullopt;
}

std::filesystem::path own_cgroup_directory(error_code& ec) noexcept {
  try {
    std::string text;
    if ((ec = read_file(AT_FDCWD, "/proc/self/cgroup", text))) return {};
    const std::optional<std::string> own = unified_cgroup_path(text);
    if (!own || own->empty() || own->front() != '/') {
      ec = errno_code(EOPNOTSUPP);
      return {};
    }
    if ((ec = read_file(AT_FDCWD, "/proc/self/mountinfo", text))) return {};
    const std::optional<cgroup2_mount> m = choose_cgroup2_mount(text, *own);
    if (!m) {
      ec = errno_code(EOPNOTSUPP);
      return {};
    }
    // The part of our path below the mount's root.
    std::string_view rel(*own);
    if (m->root != "/") rel.remove_prefix(m->root.size());
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    ec.clear();
    return rel.empty() ? m->mount_point : m->mount_point / rel;
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

std::optional<cgroup_cpu_usage> parse_cpu_stat(std::string_view text) noexcept {
  const auto usage = keyed_value(text, "usage_usec");
  const auto user = keyed_value(text, "user_usec");
  const auto system = keyed_value(text, "system_usec");
  if (!usage || !user || !system) return std::nullopt;
  using us = std::chrono::microseconds;
  return cgroup_cpu_usage{us(static_cast<us::rep>(*usage)), us(static_cast<us::rep>(*user)),
                          us(static_cast<us::rep>(*system))};
}

run_cgroup::run_cgroup(unique_fd dir, std::filesystem::path path,
                       std::string cgroup_path) noexcept
    : dir_(std::move(dir)), path_(std::move(path)), cgroup_path_(std::move(cgroup_path)) {}

run_cgroup::run_cgroup(run_cgroup&& other) noexcept
    : dir_(std::move(other.dir_)),
      path_(std::exchange(other.path_, {})),
      cgroup_path_(std::exchange(other.cgroup_path_, {})) {}

run_cgroup& run_cgroup::operator=(run_cgroup&& other) noexcept {
  if (this != &other) {
    run_cgroup old(std::move(*this));
    dir_ = std::move(other.dir_);
    path_ = std::exchange(other.path_, {});
    cgroup_path_ = std::exchange(other.cgroup_path_, {});
  }
  return *this;
}

run_cgroup::~run_cgroup() {
  if (!is_open()) return;
  error_code ec;
  if (populated(ec) || ec) (void)kill();
  (void)remove();  // EBUSY while members are still dying: the cgroup stays (see header)
}

namespace {

// Where a run's cgroup is made: the directory, and the cgroup path that /proc/<pid>/cgroup
// gives for it ("" for the root), when known.
struct cgroup_parent {
  std::filesystem::path dir;
  std::string cgroup;
  bool mapped = true;  // false: cgroup is unknown
};

// A parent directory given by the caller, mapped to a cgroup path through the cgroup2
// mount that holds it (for cgroup_path()); only the mount point matters here, not our own
// cgroup. A directory that cannot be mapped is still used, unmapped.
cgroup_parent given_parent(const std::filesystem::path& dir) {
  cgroup_parent p{dir, {}, false};
  std::string text;
  std::error_code canonical_ec;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(dir, canonical_ec);
  if (canonical_ec || read_file(AT_FDCWD, "/proc/self/mountinfo", text)) return p;
  const auto m = choose_cgroup2_mount(text, "/");
  if (!m) return p;
  const std::filesystem::path rel = canonical.lexically_relative(m->mount_point);
  if (rel.empty() || *rel.begin() == "..") return p;
  p.mapped = true;
  p.cgroup = m->root == "/" ? std::string() : m->root;
  if (rel != ".") {
    p.cgroup += '/';
    p.cgroup += rel.string();
  }
  return p;
}

// Our own cgroup v2, as the parent.
cgroup_parent own_parent(error_code& ec) {
  cgroup_parent p;
  p.dir = own_cgroup_directory(ec);
  if (ec) return p;
  std::string text;
  if ((ec = read_file(AT_FDCWD, "/proc/self/cgroup", text))) return p;
  p.cgroup = unified_cgroup_path(text).value_or("");
  if (p.cgroup == "/") p.cgroup.clear();
  return p;
}

// Opens a directory that must be on a cgroup2 file system.
unique_fd open_cgroup2_directory(const std::filesystem::path& dir, error_code& ec) noexcept {
  unique_fd fd(PIDFD_FAULT("open(cgroup parent)",
                           ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  if (!fd) {
    ec = creation_error(errno_code(errno));
    return {};
  }
  struct statfs fs {};
  if (PIDFD_FAULT("fstatfs(cgroup parent)", ::fstatfs(fd.get(), &fs)) != 0) {
    ec = errno_code(errno);
    return {};
  }
  if (static_cast<long>(fs.f_type) != cgroup2_magic) {
    ec = errno_code(EINVAL);
    return {};
  }
  return fd;
}

// Makes a new cgroup under parent_fd, with a fresh random name, and opens it.
unique_fd make_child_cgroup(int parent_fd, char (&name)[64], error_code& ec) noexcept {
  for (int attempt = 0;; ++attempt) {
    make_name(name);
    ec = sys::mkdir_at(parent_fd, name, 0755);
    if (!ec) break;
    if (ec != berrc::file_exists || attempt == 16) {
      ec = creation_error(ec);
      return {};
    }
  }
  unique_fd dir(PIDFD_FAULT("openat(new cgroup)",
                            ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  if (!dir) {
    ec = errno_code(errno);
    (void)sys::rmdir_at(parent_fd, name);
    return {};
  }
  // cgroup.kill came with 5.14, CLONE_INTO_CGROUP with 5.7: a kernel with the first has
  // both. Without it no run could be ended for certain: refuse rather than downgrade.
  if (PIDFD_FAULT("faccessat(cgroup.kill)",
                  ::faccessat(dir.get(), "cgroup.kill", F_OK, AT_SYMLINK_NOFOLLOW)) != 0) {
    ec = errno == ENOENT ? errno_code(EOPNOTSUPP) : errno_code(errno);
    dir.reset();
    (void)sys::rmdir_at(parent_fd, name);
    return {};
  }
  return dir;
}

}  // namespace

run_cgroup run_cgroup::create(const std::optional<std::filesystem::path>& parent,
                              error_code& ec) noexcept {
  ec.clear();
  try {
    const cgroup_parent p = parent ? given_parent(*parent) : own_parent(ec);
    if (ec) return {};
    const unique_fd parent_fd = open_cgroup2_directory(p.dir, ec);
    if (ec) return {};
    char name[64];
    unique_fd dir = make_child_cgroup(parent_fd.get(), name, ec);
    if (ec) return {};
    return run_cgroup(std::move(dir), p.dir / name,
                      p.mapped ? p.cgroup + "/" + name : std::string());
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

error_code run_cgroup::kill() noexcept {
  if (!is_open()) return errno_code(EBADF);
  return write_file(dir_.get(), "cgroup.kill", "1");
}

bool run_cgroup::populated(error_code& ec) const noexcept {
  if (!is_open()) {
    ec = errno_code(EBADF);
    return false;
  }
  try {
    std::string text;
    if ((ec = read_file(dir_.get(), "cgroup.events", text))) return false;
    const std::optional<std::uint64_t> v = keyed_value(text, "populated");
    if (!v) {
      ec = errno_code(EIO);
      return false;
    }
    return *v != 0;
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return false;
  }
}

std::vector<pid_t> run_cgroup::members(error_code& ec) const noexcept {
  std::vector<pid_t> pids;
  if (!is_open()) {
    ec = errno_code(EBADF);
    return pids;
  }
  ec = collect_members(dir_.get(), pids);
  if (ec) pids.clear();
  return pids;
}

std::size_t run_cgroup::count_members(error_code& ec) const noexcept {
  return members(ec).size();
}

std::size_t run_cgroup::signal_all(int sig, error_code& ec) noexcept {
  if (!is_open()) {
    ec = errno_code(EBADF);
    return 0;
  }
  try {
    std::vector<pid_t> before;
    if ((ec = collect_members(dir_.get(), before))) return 0;
    // Pin each listed process with a pidfd first. A pid whose process exited and was
    // reaped before pidfd_open may now name an outsider, so the pidfds are used only for
    // pids still listed afterwards: a listed pid names a member at that moment, and a
    // pidfd whose process died since names nothing (the signal fails with ESRCH).
    std::vector<std::pair<pid_t, unique_fd>> pinned;
    pinned.reserve(before.size());
    for (pid_t pid : before) {
      int fd = -1;
      if (error_code open_ec = sys::pidfd_open(pid, 0, fd)) {
        if (open_ec == berrc::no_such_process || open_ec == berrc::no_such_file_or_directory ||
            open_ec == berrc::invalid_argument)
          continue;  // gone already (or not a thread-group leader any more)
        ec = open_ec;
        return 0;
      }
      pinned.emplace_back(pid, unique_fd(fd));
    }
    std::vector<pid_t> after;
    if ((ec = collect_members(dir_.get(), after))) return 0;
    std::size_t signalled = 0;
    for (const auto& [pid, fd] : pinned) {
      if (!std::binary_search(after.begin(), after.end(), pid)) continue;
      const error_code send_ec = sys::pidfd_send_signal(fd.get(), sig, nullptr, 0);
      if (!send_ec) {
        ++signalled;
      } else if (send_ec != berrc::no_such_process) {
        ec = send_ec;
        return signalled;
      }
    }
    ec.clear();
    return signalled;
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return 0;
  }
}

std::optional<cgroup_cpu_usage> run_cgroup::cpu_usage(error_code& ec) const noexcept {
  if (!is_open()) {
    ec = errno_code(EBADF);
    return std::nullopt;
  }
  try {
    std::string text;
    ec = read_file(dir_.get(), "cpu.stat", text);
    if (ec == berrc::no_such_file_or_directory) ec.clear();
    if (ec || text.empty()) return std::nullopt;
    return parse_cpu_stat(text);
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return std::nullopt;
  }
}

unique_fd run_cgroup::watch_events(error_code& ec) const noexcept {
  if (!is_open()) {
    ec = errno_code(EBADF);
    return {};
  }
  unique_fd events(PIDFD_FAULT("openat(cgroup.events)",
                               ::openat(dir_.get(), "cgroup.events",
                                        O_RDONLY | O_NONBLOCK | O_CLOEXEC)));
  if (!events) ec = errno_code(errno);
  return events;
}

error_code run_cgroup::remove() noexcept {
  if (!is_open()) return errno_code(EBADF);
  // Cgroups a member made below ours first, deepest first; each only if empty.
  auto remove_child = [](int parent, const char* name, int) -> error_code {
    const error_code ec = sys::rmdir_at(parent, name);
    return ec == berrc::no_such_file_or_directory ? error_code() : ec;
  };
  if (error_code ec = for_each_cgroup(dir_.get(), remove_child)) return ec;
  const std::filesystem::path parent = path_.parent_path();
  const std::string name = path_.filename().string();
  unique_fd parent_fd(PIDFD_FAULT("open(cgroup parent, remove)",
                                  ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)));
  if (!parent_fd) return errno_code(errno);
  if (error_code ec = sys::rmdir_at(parent_fd.get(), name.c_str())) return ec;
  release();
  return {};
}

void run_cgroup::release() noexcept {
  dir_.reset();
  path_.clear();
  cgroup_path_.clear();
}

bool read_events_and_check_empty(int events_fd, error_code& ec) noexcept {
  // Reading the file from its start is what acknowledges a change: kernfs reports
  // POLLPRI from then on only for a newer one.
  char buf[256];
  ssize_t n;
  do {
    n = PIDFD_FAULT("pread(cgroup.events)", ::pread(events_fd, buf, sizeof buf - 1, 0));
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    ec = errno_code(errno);
    return false;
  }
  try {
    const std::string text(buf, static_cast<std::size_t>(n));
    const std::optional<std::uint64_t> v = keyed_value(text, "populated");
    if (!v) {
      ec = errno_code(EIO);
      return false;
    }
    return *v == 0;
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return false;
  }
}

}  // namespace pidfd::detail
