// spawn(): everything the child needs is prepared here, before the clone; the child side
// (raw system calls only) is in spawn_child.cpp.
#include <pidfd/kernel.hpp>
#include <pidfd/spawn.hpp>

#include "spawn_sys.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

extern char** environ;

namespace pidfd {

namespace {

using boost::system::errc::make_error_code;
namespace bse = boost::system::errc;

error_code errno_code(int e) noexcept {
  return error_code(e, boost::system::system_category());
}

bool has_nul(const std::string& s) noexcept {
  return s.find('\0') != std::string::npos;
}

// One wrapper per call the parent makes beyond lib/sys.hpp.
error_code open_dev_null(int& fd) noexcept {
  fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  return fd < 0 ? sys::last_error() : error_code{};
}
error_code kill_by_pid(pid_t pid) noexcept {
  return ::kill(pid, SIGKILL) != 0 ? sys::last_error() : error_code{};
}

// The exec candidates: the name itself when it contains '/', else one path per PATH
// directory ("" meaning the working directory, as execvp has it).
std::vector<std::string> exec_candidates(const std::string& name, bool& path_search) {
  std::vector<std::string> out;
  path_search = name.find('/') == std::string::npos;
  if (!path_search) {
    out.push_back(name);
    return out;
  }
  const char* env_path = std::getenv("PATH");
  std::string_view path = env_path ? env_path : "/bin:/usr/bin";
  for (;;) {
    const std::size_t colon = path.find(':');
    const std::string_view dir = path.substr(0, colon);
    std::string c(dir);
    if (!c.empty() && c.back() != '/') c += '/';
    c += name;
    out.push_back(std::move(c));
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return out;
}

// Reaps a child whose exec failed. Someone else may have reaped it already (SIGCHLD
// ignored, a waitpid(-1) elsewhere): then there is nothing to do.
void reap_failed(int pidfd, pid_t pid) noexcept {
  siginfo_t info;
  if (pidfd >= 0 && kernel_support().waitid_pidfd)
    (void)sys::waitid_pidfd(pidfd, info, WEXITED);
  else
    (void)sys::waitid_pid(pid, info, WEXITED);
}

pid_fd spawn_impl(const std::vector<std::string>& argv, const spawn_options& o,
                  error_code& ec) {
  if (argv.empty()) {
    ec = make_error_code(bse::invalid_argument);
    return {};
  }
  for (const auto& a : argv)
    if (has_nul(a)) {
      ec = make_error_code(bse::invalid_argument);
      return {};
    }

  spawn_sys::child_plan plan;

  // argv and envp as the NULL-terminated arrays execve wants.
  std::vector<char*> argv_ptrs;
  argv_ptrs.reserve(argv.size() + 1);
  for (const auto& a : argv) argv_ptrs.push_back(const_cast<char*>(a.c_str()));
  argv_ptrs.push_back(nullptr);
  plan.argv = argv_ptrs.data();

  std::vector<char*> env_ptrs;
  if (o.env) {
    env_ptrs.reserve(o.env->size() + 1);
    for (const auto& e : *o.env) {
      if (has_nul(e)) {
        ec = make_error_code(bse::invalid_argument);
        return {};
      }
      env_ptrs.push_back(const_cast<char*>(e.c_str()));
    }
    env_ptrs.push_back(nullptr);
    plan.envp = env_ptrs.data();
  } else {
    plan.envp = environ;
  }

  const std::string name = o.executable ? o.executable->string() : argv[0];
  if (name.empty() || has_nul(name)) {
    ec = name.empty() ? errno_code(ENOENT) : make_error_code(bse::invalid_argument);
    return {};
  }
  const std::vector<std::string> candidates = exec_candidates(name, plan.path_search);
  std::vector<const char*> candidate_ptrs;
  candidate_ptrs.reserve(candidates.size());
  for (const auto& c : candidates) candidate_ptrs.push_back(c.c_str());
  plan.candidates = candidate_ptrs.data();
  plan.candidate_count = candidate_ptrs.size();

  std::string cwd;
  if (o.cwd) {
    cwd = o.cwd->string();
    if (has_nul(cwd)) {
      ec = make_error_code(bse::invalid_argument);
      return {};
    }
    plan.cwd = cwd.c_str();
  }

  // The descriptor plan.
  unique_fd dev_null;
  std::vector<spawn_sys::fd_move> moves;
  moves.reserve(3 + o.extra_fds.size());
  const int std_sources[3] = {o.stdin_fd, o.stdout_fd, o.stderr_fd};
  for (int t = 0; t < 3; ++t) {
    int source = std_sources[t];
    if (source == -1) {
      if (!dev_null) {
        int fd = -1;
        if ((ec = open_dev_null(fd))) return {};
        dev_null.reset(fd);
      }
      source = dev_null.get();
    }
    moves.push_back({t, source});
  }
  for (const auto& [target, source] : o.extra_fds) moves.push_back({target, source});
  int highest = dev_null.get();
  for (const auto& m : moves) {
    if (m.target < 0) {
      ec = make_error_code(bse::invalid_argument);
      return {};
    }
    if (m.source < 0) {
      ec = errno_code(EBADF);
      return {};
    }
    highest = std::max({highest, m.target, m.source});
  }
  std::vector<int> targets;
  targets.reserve(moves.size());
  for (const auto& m : moves) targets.push_back(m.target);
  std::sort(targets.begin(), targets.end());
  if (std::adjacent_find(targets.begin(), targets.end()) != targets.end()) {
    ec = make_error_code(bse::invalid_argument);
    return {};
  }
  std::vector<int> temps(moves.size(), -1);
  plan.moves = moves.data();
  plan.move_count = moves.size();
  plan.temps = temps.data();
  plan.temp_base = highest + 1;

  // With close_other_fds the child closes the gaps between its targets and everything
  // above them, and shares our table until it unshares it keeping only [0, highest]: a
  // parent with thousands of fds does not pay for copying them into every child.
  std::vector<spawn_sys::fd_range> closes;
  if (o.close_other_fds) {
    unsigned next = 0;
    for (int t : targets) {
      if (static_cast<unsigned>(t) > next) closes.push_back({next, static_cast<unsigned>(t) - 1});
      next = static_cast<unsigned>(t) + 1;
    }
    closes.push_back({next, ~0U});
    plan.closes = closes.data();
    plan.close_count = closes.size();
    plan.unshare_below = highest + 1;
  }

  plan.new_session = o.new_session;
  if (o.process_group) {
    if (*o.process_group < 0) {
      ec = make_error_code(bse::invalid_argument);
      return {};
    }
    plan.process_group = *o.process_group;
  }
  if (o.parent_death_signal) {
    if (*o.parent_death_signal <= 0 || *o.parent_death_signal > 64) {
      ec = make_error_code(bse::invalid_argument);
      return {};
    }
    plan.parent_death_signal = *o.parent_death_signal;
  }
  const int cgroup_fd = o.cgroup_fd.value_or(-1);
  if (o.cgroup_fd && cgroup_fd < 0) {
    ec = errno_code(EBADF);
    return {};
  }

  // The clone: the newest method the kernel (and this architecture) offers.
  const kernel_features& k = kernel_support();
  const bool share_files = o.close_other_fds;
  int pidfd = -1;
  long pid = -ENOSYS;
  bool have_pidfd = true;
  if (k.clone3 && spawn_sys::have_clone3())
    pid = spawn_sys::clone_child(plan, spawn_sys::clone_method::clone3, share_files,
                                 cgroup_fd, pidfd);
  // ENOSYS: no clone3 after all (a seccomp filter added since the probe). EINVAL without
  // a cgroup: a kernel older than CLONE_CLEAR_SIGHAND (5.3, 5.4); the child resets the
  // handlers itself anyway.
  if (pid == -ENOSYS || (pid == -EINVAL && cgroup_fd < 0)) {
    if (cgroup_fd >= 0) {
      ec = make_error_code(bse::operation_not_supported);
      return {};
    }
    if (k.clone_pidfd) {
      pid = spawn_sys::clone_child(plan, spawn_sys::clone_method::clone_pidfd, share_files,
                                   -1, pidfd);
    } else if (k.pidfd_open) {
      have_pidfd = false;
      pid = spawn_sys::clone_child(plan, spawn_sys::clone_method::clone_plain, share_files,
                                   -1, pidfd);
    } else {
      ec = make_error_code(bse::operation_not_supported);
      return {};
    }
  }
  if (pid < 0) {
    ec = errno_code(static_cast<int>(-pid));
    return {};
  }
  unique_fd owned(have_pidfd ? pidfd : -1);

  if (plan.error != 0) {
    reap_failed(owned.get(), static_cast<pid_t>(pid));
    ec = errno_code(plan.error);
    return {};
  }

  if (!have_pidfd) {
    // The fallback's race: the child is ours and unreaped unless someone else waits for
    // any child, so its PID still names it here.
    int fd = -1;
    if ((ec = sys::pidfd_open(static_cast<pid_t>(pid), 0, fd))) {
      if (ec == bse::no_such_process) return {};
      (void)kill_by_pid(static_cast<pid_t>(pid));
      reap_failed(-1, static_cast<pid_t>(pid));
      return {};
    }
    owned.reset(fd);
  }
  return pid_fd(owned.release(), static_cast<pid_t>(pid));
}

}  // namespace

pid_fd spawn(const std::vector<std::string>& argv, const spawn_options& options,
             error_code& ec) noexcept {
  ec.clear();
  try {
    return spawn_impl(argv, options, ec);
  } catch (const std::bad_alloc&) {
    ec = make_error_code(bse::not_enough_memory);
    return {};
  }
}

pid_fd spawn(const std::vector<std::string>& argv, const spawn_options& options) {
  error_code ec;
  pid_fd p = spawn(argv, options, ec);
  if (ec) throw system_error(ec, "pidfd::spawn");
  return p;
}

}  // namespace pidfd
