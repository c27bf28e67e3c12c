// spawn(): a plan of everything the child needs, made here before the clone, and the
// launch that clones the child with the newest method the kernel offers. The child side
// (raw system calls only) is in spawn_child.cpp.
//
// The plan is built in steps (program, environment, working directory, standard streams,
// descriptors, process attributes); each step validates its part of spawn_options and
// owns the memory the child will read. A new kind of setting is one more step.
#include <pidfd/detail/process_support.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/spawn.hpp>

#include "fault.hpp"
#include "spawn_sys.hpp"
#include "sys.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
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

namespace berrc = boost::system::errc;

using detail::errno_code;

bool has_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

// One wrapper per call the parent makes beyond lib/sys.hpp.
error_code open_dev_null(unique_fd& out) noexcept {
  const int fd = PIDFD_FAULT("open(/dev/null)", ::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (fd < 0) return errno_code(errno);
  out.reset(fd);
  return {};
}
error_code make_pipe(unique_fd& read_end, unique_fd& write_end) noexcept {
  int fds[2];
  if (PIDFD_FAULT("pipe2", ::pipe2(fds, O_CLOEXEC)) != 0) return errno_code(errno);
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return {};
}
// A new pseudo-terminal: its master and slave, both close-on-exec, neither becoming our
// controlling terminal, sized before any child can see it. The slave through TIOCGPTPEER (4.13), which opens it
// without a path lookup that a container's /dev/pts could get wrong; else by its name.
error_code open_pty(unique_fd& master, unique_fd& slave, const winsize& size) noexcept {
  const int m = PIDFD_FAULT("posix_openpt", ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (m < 0) return errno_code(errno);
  master.reset(m);
  if (PIDFD_FAULT("grantpt", ::grantpt(m)) != 0 || PIDFD_FAULT("unlockpt", ::unlockpt(m)) != 0)
    return errno_code(errno);
  int s = PIDFD_FAULT("ioctl(TIOCGPTPEER)",
                      ::ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (s < 0) {
    if (errno != EINVAL && errno != ENOTTY) return errno_code(errno);
    char name[64];
    if (PIDFD_FAULT("ptsname_r", ::ptsname_r(m, name, sizeof name)) != 0)
      return errno_code(errno);
    s = PIDFD_FAULT("open(pty slave)", ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (s < 0) return errno_code(errno);
  }
  slave.reset(s);
  if (PIDFD_FAULT("ioctl(TIOCSWINSZ)", ::ioctl(m, TIOCSWINSZ, &size)) != 0)
    return errno_code(errno);
  return {};
}
// For a pipe end just made: its only status flag is its access mode, which F_SETFL
// leaves alone, so no F_GETFL is needed.
error_code set_nonblocking_new_pipe(int fd) noexcept {
  return PIDFD_FAULT("fcntl(F_SETFL)", ::fcntl(fd, F_SETFL, O_NONBLOCK)) != 0 ? errno_code(errno)
                                                                              : error_code{};
}
// /proc/sys/fs/pipe-max-size: the largest capacity F_SETPIPE_SZ grants a caller without
// CAP_SYS_RESOURCE; 0 if it cannot be read.
std::size_t pipe_max_size() noexcept {
  const int fd = PIDFD_FAULT("open(pipe-max-size)",
                             ::open("/proc/sys/fs/pipe-max-size", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return 0;
  char text[32];
  ssize_t n;
  do n = PIDFD_FAULT("read(pipe-max-size)", ::read(fd, text, sizeof text - 1));
  while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  return end != text ? static_cast<std::size_t>(value) : 0;
}
// Best effort, as run_options::pipe_capacity documents: the capacity asked for (the
// kernel rounds it up to a power of two of pages), or pipe-max-size where only that much
// is allowed (EPERM), or else the capacity the pipe was made with. Not an error: the
// data flows either way, and a run must not fail because other pipes of the same user
// have used up its allowance (fs.pipe-user-pages-soft).
void request_pipe_capacity(int fd, std::size_t capacity) noexcept {
  // The kernel takes the size as an unsigned int; capacity <= 2^31 (checked by the caller).
  if (PIDFD_FAULT("fcntl(F_SETPIPE_SZ)",
                  ::fcntl(fd, F_SETPIPE_SZ, static_cast<unsigned long>(capacity))) >= 0 ||
      errno != EPERM)
    return;
  const std::size_t most = pipe_max_size();
  if (most != 0 && most < capacity)
    (void)PIDFD_FAULT("fcntl(F_SETPIPE_SZ, pipe-max-size)",
                      ::fcntl(fd, F_SETPIPE_SZ, static_cast<unsigned long>(most)));
}
error_code kill_by_pid(pid_t pid) noexcept {
  return PIDFD_FAULT("kill(SIGKILL)", ::kill(pid, SIGKILL)) != 0 ? errno_code(errno) : error_code{};
}

// The program the options name: the executable if given, else argv[0].
std::string program_name(const std::vector<std::string>& argv, const spawn_options& o) {
  if (o.executable) return o.executable->string();
  return argv.empty() ? std::string() : argv.front();
}

// Reaps a child whose exec failed. Someone else may have reaped it already (SIGCHLD
// ignored, a waitpid(-1) elsewhere): then there is nothing to do.
// A wait of our own exited child fails only if it was reaped (ECHILD): any other failure
// is tried again (a few times, so that a wait that keeps failing cannot hang spawn()).
void reap_failed(int pidfd, pid_t pid) noexcept {
  siginfo_t info;
  error_code ec;
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (pidfd >= 0 && kernel_support().waitid_pidfd)
      ec = sys::waitid_pidfd(pidfd, info, WEXITED);
    else
      ec = sys::waitid_pid(pid, info, WEXITED);
    if (!ec || ec == berrc::no_child_process) return;
  }
}

// A vector that keeps its first N elements in place, so that the usual plan allocates
// nothing: each call runs just after the previous child's exec and start-up have evicted
// our caches and TLB entries, and allocator state and heap chunks not touched are time
// saved.
template <class T, std::size_t N>
class small_vector {
public:
  void push_back(const T& v) {
    if (heap_.empty() && size_ < N) {
      inline_[size_++] = v;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, inline_ + size_);
    heap_.push_back(v);
    ++size_;
  }
  T* data() noexcept { return heap_.empty() ? inline_ : heap_.data(); }
  std::size_t size() const noexcept { return size_; }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }

private:
  T inline_[N]{};
  std::vector<T> heap_;
  std::size_t size_ = 0;
};

// Everything the child reads, owned here until the launch returns.
class spawn_plan {
public:
  spawn_sys::child_plan child;
  bool share_files = false;  // CLONE_FILES + close_range(UNSHARE) (close_other_fds)
  int cgroup_fd = -1;

  // argv, and the exec candidates: the name itself when it contains '/', else one path
  // per directory of our PATH ("" meaning the working directory, as execvp has it).
  error_code add_program(const std::vector<std::string>& argv, const spawn_options& o) {
    if (argv.empty()) return errno_code(EINVAL);
    for (const auto& a : argv) {
      if (has_nul(a)) return errno_code(EINVAL);
      argv_ptrs_.push_back(const_cast<char*>(a.c_str()));
    }
    argv_ptrs_.push_back(nullptr);
    child.argv = argv_ptrs_.data();

    const std::string name = program_name(argv, o);
    if (name.empty()) return errno_code(ENOENT);
    if (has_nul(name)) return errno_code(EINVAL);
    child.path_search = name.find('/') == std::string::npos;
    if (!child.path_search) {  // one candidate: no vectors
      single_candidate_ = name;
      single_candidate_ptr_ = single_candidate_.c_str();
      child.candidates = &single_candidate_ptr_;
      child.candidate_count = 1;
    } else {
      const char* env_path = std::getenv("PATH");
      std::string_view path = env_path ? env_path : "/bin:/usr/bin";
      for (;;) {
        const std::size_t colon = path.find(':');
        std::string c(path.substr(0, colon));
        if (!c.empty() && c.back() != '/') c += '/';
        c += name;
        candidates_.push_back(std::move(c));
        if (colon == std::string_view::npos) break;
        path.remove_prefix(colon + 1);
      }
      candidate_ptrs_.reserve(candidates_.size());
      for (const auto& c : candidates_) candidate_ptrs_.push_back(c.c_str());
      child.candidates = candidate_ptrs_.data();
      child.candidate_count = candidate_ptrs_.size();
    }
    return {};
  }

  // envp: env (or our environ) with env_changes applied in order.
  error_code add_environment(const spawn_options& o) {
    if (!o.env && o.env_changes.empty()) {
      child.envp = environ;
      return {};
    }
    if (o.env) {
      env_ = *o.env;
    } else {
      for (char** e = environ; *e; ++e) env_.emplace_back(*e);
    }
    for (const auto& [name, value] : o.env_changes) {
      if (name.empty() || name.find('=') != std::string::npos || has_nul(name) ||
          (value && has_nul(*value)))
        return errno_code(EINVAL);
      std::erase_if(env_, [&n = name](const std::string& e) {
        return e.size() > n.size() && e[n.size()] == '=' && e.compare(0, n.size(), n) == 0;
      });
      if (value) env_.push_back(name + '=' + *value);
    }
    env_ptrs_.reserve(env_.size() + 1);
    for (const auto& e : env_) {
      if (has_nul(e)) return errno_code(EINVAL);
      env_ptrs_.push_back(const_cast<char*>(e.c_str()));
    }
    env_ptrs_.push_back(nullptr);
    child.envp = env_ptrs_.data();
    return {};
  }

  error_code add_cwd(const spawn_options& o) {
    if (!o.cwd) return {};
    cwd_ = o.cwd->string();
    if (has_nul(cwd_)) return errno_code(EINVAL);
    child.cwd = cwd_.c_str();
    return {};
  }

  // The sources of 0, 1 and 2: the caller's fd, /dev/null (-1) or, when parent_ends is
  // given, a new pipe (stdio_pipe) or the slave of one new pseudo-terminal (stdio_pty),
  // whose master goes to *pty_master; for 2 also stdio_stdout, the source chosen for 1.
  // The child's pipe ends and the slave stay owned by the plan, so they are closed in the
  // caller once the child has them.
  error_code add_stdio(const spawn_options& o, unique_fd (*parent_ends)[3],
                       unique_fd* pty_master, const winsize& pty_size,
                       std::size_t pipe_capacity) {
    const int sources[3] = {o.stdin_fd, o.stdout_fd, o.stderr_fd};
    for (int t = 0; t < 3; ++t) {
      int source = sources[t];
      if (source == stdio_stdout) {
        if (t != 2) return errno_code(EINVAL);
        moves_.push_back({t, moves_.data()[1].source});
        continue;
      }
      if (source == -1) {
        if (!dev_null_)
          if (error_code ec = open_dev_null(dev_null_)) return ec;
        source = dev_null_.get();
      } else if (source == stdio_pipe) {
        if (!parent_ends) return errno_code(EINVAL);
        unique_fd& mine = (*parent_ends)[t];
        unique_fd& theirs = child_ends_[t];
        if (error_code ec = t == 0 ? make_pipe(theirs, mine) : make_pipe(mine, theirs))
          return ec;
        // Our write end non-blocking (the flag belongs to the open file: the child's end
        // stays blocking for the program), for writers that do not go through Asio, such
        // as async_run's. Asio sets the read ends non-blocking itself when it reads.
        if (t == 0)
          if (error_code ec = set_nonblocking_new_pipe(mine.get())) return ec;
        if (t != 0 && pipe_capacity != 0) request_pipe_capacity(mine.get(), pipe_capacity);
        source = theirs.get();
      } else if (source == stdio_pty) {
        if (!pty_master) return errno_code(EINVAL);
        if (!pty_slave_) {
          if (error_code ec = open_pty(*pty_master, pty_slave_, pty_size)) return ec;
          child.controlling_tty = t;
        }
        source = pty_slave_.get();
      }
      moves_.push_back({t, source});
    }
    return {};
  }

  // extra_fds, the temporary copies the child makes, and with close_other_fds the ranges
  // it closes: the gaps between its targets and everything above them. The child shares
  // our table until it unshares it keeping only [0, highest]: a caller with thousands of
  // fds does not pay for copying them into every child.
  error_code add_descriptors(const spawn_options& o) {
    for (const auto& [target, source] : o.extra_fds) moves_.push_back({target, source});
    int highest = dev_null_.get();
    // The sorted targets, in temps_ until the child writes its copies there.
    for (const auto& m : moves_) {
      if (m.target < 0) return errno_code(EINVAL);
      if (m.source < 0) return errno_code(EBADF);
      highest = std::max({highest, m.target, m.source});
      temps_.push_back(m.target);
    }
    std::sort(temps_.begin(), temps_.end());
    if (std::adjacent_find(temps_.begin(), temps_.end()) != temps_.end())
      return errno_code(EINVAL);
    child.moves = moves_.data();
    child.move_count = moves_.size();
    child.temps = temps_.data();
    child.temp_base = highest + 1;

    share_files = o.close_other_fds;
    if (o.close_other_fds) {
      unsigned next = 0;
      for (int t : temps_) {
        if (static_cast<unsigned>(t) > next)
          closes_.push_back({next, static_cast<unsigned>(t) - 1});
        next = static_cast<unsigned>(t) + 1;
      }
      // Above the targets: the unshare already dropped every fd above highest, and the
      // child's temporary copies are close-on-exec; only [next, highest] may hold a source.
      if (static_cast<int>(next) <= highest)
        closes_.push_back({next, static_cast<unsigned>(highest)});
      child.closes = closes_.data();
      child.close_count = closes_.size();
      child.unshare_below = highest + 1;
    }
    return {};
  }

  // Session, process group, parent-death signal, cgroup.
  error_code add_process_attributes(const spawn_options& o) {
    child.keep_ignored_signals = o.keep_ignored_signals;
    child.new_session = o.new_session || child.controlling_tty >= 0;
    if (o.process_group) {
      if (*o.process_group < 0) return errno_code(EINVAL);
      child.process_group = *o.process_group;
    }
    if (o.parent_death_signal) {
      if (*o.parent_death_signal <= 0 || *o.parent_death_signal > 64)
        return errno_code(EINVAL);
      child.parent_death_signal = *o.parent_death_signal;
    }
    if (o.cgroup_fd) {
      if (*o.cgroup_fd < 0) return errno_code(EBADF);
      cgroup_fd = *o.cgroup_fd;
    }
    return {};
  }

  // Credentials and limits. The child reads groups straight from the options, which
  // outlive the launch. Nothing to do (the usual case) costs nothing.
  error_code add_credentials(const spawn_options& o) {
    if (o.groups) {
      child.set_groups = true;
      child.groups = o.groups->data();
      child.group_count = o.groups->size();
    } else if (o.uid || o.gid) {
      child.set_groups = true;  // cleared, never inherited by accident
    }
    // -1 would mean "unchanged" to the kernel: not an ID anyone can ask for.
    if (o.gid) {
      if (*o.gid == static_cast<gid_t>(-1)) return errno_code(EINVAL);
      child.gid = static_cast<long>(*o.gid);
    }
    if (o.uid) {
      if (*o.uid == static_cast<uid_t>(-1)) return errno_code(EINVAL);
      child.uid = static_cast<long>(*o.uid);
    }
    if (!o.rlimits.empty()) {
      for (const auto& [resource, value] : o.rlimits) {
        if (resource < 0 || resource >= RLIMIT_NLIMITS || value.rlim_cur > value.rlim_max)
          return errno_code(EINVAL);
        rlimits_.push_back({resource, value.rlim_cur, value.rlim_max});
      }
      child.rlimits = rlimits_.data();
      child.rlimit_count = rlimits_.size();
    }
    if (o.umask) child.umask = static_cast<int>(*o.umask & 0777);
    child.no_new_privs = o.no_new_privs;
    return {};
  }

private:
  small_vector<char*, 16> argv_ptrs_;
  std::string single_candidate_;
  const char* single_candidate_ptr_ = nullptr;
  std::vector<std::string> candidates_;
  std::vector<const char*> candidate_ptrs_;
  std::vector<std::string> env_;
  std::vector<char*> env_ptrs_;
  std::string cwd_;
  unique_fd dev_null_;
  unique_fd child_ends_[3];
  unique_fd pty_slave_;
  small_vector<spawn_sys::rlimit_set, 4> rlimits_;
  small_vector<spawn_sys::fd_move, 8> moves_;
  small_vector<int, 8> temps_;
  small_vector<spawn_sys::fd_range, 8> closes_;
};

error_code make_plan(spawn_plan& plan, const std::vector<std::string>& argv,
                     const spawn_options& o, unique_fd (*parent_ends)[3],
                     unique_fd* pty_master, const winsize& pty_size,
                     std::size_t pipe_capacity) {
  if (error_code ec = plan.add_program(argv, o)) return ec;
  if (error_code ec = plan.add_environment(o)) return ec;
  if (error_code ec = plan.add_cwd(o)) return ec;
  if (error_code ec = plan.add_stdio(o, parent_ends, pty_master, pty_size, pipe_capacity))
    return ec;
  if (error_code ec = plan.add_descriptors(o)) return ec;
  if (error_code ec = plan.add_process_attributes(o)) return ec;
  return plan.add_credentials(o);
}

// Clones the child with the newest method the kernel (and this architecture) offers:
// clone3 → clone(CLONE_PIDFD) → clone + pidfd_open.
pid_fd launch(spawn_plan& plan, error_code& ec) noexcept {
  const kernel_features& k = kernel_support();
  int pidfd = -1;
  long pid = -ENOSYS;
  bool have_pidfd = true;
  if (k.clone3 && spawn_sys::have_clone3())
    pid = spawn_sys::clone_child(plan.child, spawn_sys::clone_method::clone3, plan.share_files,
                                 plan.cgroup_fd, pidfd);
  // ENOSYS: no clone3 after all (a seccomp filter added since the probe). EINVAL without
  // a cgroup: a kernel older than CLONE_CLEAR_SIGHAND (5.3, 5.4); the child resets the
  // handlers itself anyway.
  if (pid == -ENOSYS || (pid == -EINVAL && plan.cgroup_fd < 0)) {
    if (plan.cgroup_fd >= 0) {
      ec = errno_code(EOPNOTSUPP);
      return {};
    }
    if (k.clone_pidfd) {
      pid = spawn_sys::clone_child(plan.child, spawn_sys::clone_method::clone_pidfd,
                                   plan.share_files, -1, pidfd);
    } else if (k.pidfd_open) {
      have_pidfd = false;
      pid = spawn_sys::clone_child(plan.child, spawn_sys::clone_method::clone_plain,
                                   plan.share_files, -1, pidfd);
    } else {
      ec = errno_code(EOPNOTSUPP);
      return {};
    }
  }
  if (pid < 0) {
    ec = errno_code(static_cast<int>(-pid));
    return {};
  }
  unique_fd owned(have_pidfd ? pidfd : -1);

  if (plan.child.error != 0) {
    reap_failed(owned.get(), static_cast<pid_t>(pid));
    ec = errno_code(plan.child.error);
    return {};
  }

  if (!have_pidfd) {
    // The fallback's race: the child is ours and unreaped unless someone else waits for
    // any child, so its PID still names it here.
    int fd = -1;
    if ((ec = sys::pidfd_open(static_cast<pid_t>(pid), 0, fd))) {
      if (ec == berrc::no_such_process) return {};
      (void)kill_by_pid(static_cast<pid_t>(pid));
      reap_failed(-1, static_cast<pid_t>(pid));
      return {};
    }
    owned.reset(fd);
  }
  return pid_fd(owned.release(), static_cast<pid_t>(pid), detail::process_pidfd);
}

pid_fd spawn_checked(const std::vector<std::string>& argv, const spawn_options& options,
                     unique_fd (*parent_ends)[3], unique_fd* pty_master,
                     error_code& ec, const winsize& pty_size = {24, 80, 0, 0},
                     std::size_t pipe_capacity = 0) noexcept {
  ec.clear();
  // Linux never grants more than 2^31 bytes; a larger value would be truncated to the
  // kernel's unsigned int.
  if (pipe_capacity > (std::size_t{1} << 31)) {
    ec = errno_code(EINVAL);
    return {};
  }
  try {
    spawn_plan plan;
    if ((ec = make_plan(plan, argv, options, parent_ends, pty_master, pty_size, pipe_capacity)))
      return {};
    return launch(plan, ec);
  } catch (const std::bad_alloc&) {
    ec = errno_code(ENOMEM);
    return {};
  }
}

}  // namespace

pid_fd spawn(const std::vector<std::string>& argv, const spawn_options& options,
             error_code& ec) noexcept {
  return spawn_checked(argv, options, nullptr, nullptr, ec);
}

pid_fd spawn(const std::vector<std::string>& argv, const spawn_options& options) {
  error_code ec;
  pid_fd p = spawn(argv, options, ec);
  if (ec) detail::throw_spawn_error("pidfd::spawn", argv, options, ec);
  return p;
}

namespace detail {

pid_fd spawn_with_pipes(const std::vector<std::string>& argv, const spawn_options& options,
                        unique_fd (&parent_ends)[3], error_code& ec,
                        std::size_t output_pipe_capacity) noexcept {
  pid_fd p = spawn_checked(argv, options, &parent_ends, nullptr, ec, {24, 80, 0, 0},
                           output_pipe_capacity);
  if (ec)
    for (auto& end : parent_ends) end.reset();
  return p;
}

pid_fd spawn_with_stdio(const std::vector<std::string>& argv, const spawn_options& options,
                        unique_fd (&parent_ends)[3], unique_fd& pty_master,
                        error_code& ec, unsigned short rows, unsigned short cols,
                        std::size_t output_pipe_capacity) noexcept {
  pid_fd p = spawn_checked(argv, options, &parent_ends, &pty_master, ec,
                           winsize{rows, cols, 0, 0}, output_pipe_capacity);
  if (ec) {
    for (auto& end : parent_ends) end.reset();
    pty_master.reset();
  }
  return p;
}

error_code set_pty_size(int master, unsigned short rows, unsigned short cols) noexcept {
  const winsize size{rows, cols, 0, 0};
  return PIDFD_FAULT("ioctl(TIOCSWINSZ, resize)", ::ioctl(master, TIOCSWINSZ, &size)) != 0
             ? errno_code(errno)
             : error_code{};
}

void throw_spawn_error(const char* function, const std::vector<std::string>& argv,
                       const spawn_options& options, const error_code& ec) {
  std::string what = function;
  what += " \"";
  what += program_name(argv, options);
  what += '"';
  throw system_error(ec, what);
}

}  // namespace detail

}  // namespace pidfd
