// Every failure path, taken on purpose: each operation runs once to count the system calls
// the library makes for it (lib/fault.hpp sites, found at run time), then once per
// (call, errno) with exactly that call failing. Each run must end cleanly: the handler
// called exactly once, the result either success (the call was retried or had a fallback)
// or exactly the injected error, and no descriptor, child process or zombie left behind.
//
// Only in asio-pidfd-fault-tests, which links the fault-injection variant of the library.
#include "fault_control.hpp"
#include "run_until.hpp"
#include "support.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/detail/cgroup.hpp>
#include <pidfd/detail/linux.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace fault = pidfd_test::fault;
using pidfd::error_code;
using pidfd::pid_fd;
using pidfd_test::child_path;
using namespace std::chrono_literals;

// The errnos injected at every call. By default three, one of each kind of path a call
// site has: EINTR (retried), ENOMEM (reported) and EPERM (where a fallback is taken);
// ASIO_PIDFD_FAULT_WALK=full injects all seven (CI's GCC, sanitizer and coverage builds do),
// at a little over twice the time.
const std::vector<int>& injected_errnos() {
  static const std::vector<int> errnos = [] {
    const char* walk = std::getenv("ASIO_PIDFD_FAULT_WALK");
    if (walk && std::string_view(walk) == "full")
      return std::vector<int>{EINTR, EAGAIN, ENOMEM, EMFILE, ENFILE, EPERM, ENOSPC};
    return std::vector<int>{EINTR, ENOMEM, EPERM};
  }();
  return errnos;
}

// What one run of an operation produced.
struct outcome {
  int handler_calls = 0;  // sync operations count their return as the one "handler call"
  error_code ec;
  std::string wrong;      // a result that is not legal for the operation ("" if legal)
};

// One operation under test: prepare() and cleanup() run without injection; run() with it.
// cleanup() checks the result where that needs the library again, and releases everything
// the operation legitimately handed to the test (a pid_fd, a child it started), so that
// only what the library itself left behind remains.
class operation {
public:
  virtual ~operation() = default;
  virtual void prepare() {}
  virtual outcome run() = 0;
  /// A result other than the injected error that is still legal for this failure.
  virtual bool also_legal(const error_code&, int /*injected*/) const { return false; }
  /// Checks what needs the library (without injection); "" or what is wrong.
  virtual std::string cleanup() { return ""; }
  /// The result of the run without an injected failure (an operation that fails by
  /// design, to walk its error path).
  virtual error_code expected() const { return {}; }
  /// A site that fails with the given errno on every call during every run (a system
  /// call this kernel is made to lack, a call that keeps failing); "" for none.
  virtual std::pair<std::string, int> condition() const { return {"", 0}; }
};
using factory = std::function<std::unique_ptr<operation>()>;

// Kills and reaps a child the test owns (bounded).
void finish(pid_fd& p) {
  if (!p) return;
  error_code ec;
  p.kill(ec);
  (void)pidfd_test::bounded_wait(p);
  p.close();
}

// The figures of every walk in this process, printed at the end of each.
struct walk_totals {
  std::set<std::string> sites;
  std::set<std::string> failed;  // every site failed on purpose, as fault::last_failed()
  unsigned long runs = 0;
};
walk_totals& totals() {
  static walk_totals t;
  return t;
}

// The walk over one operation. Returns nothing; every finding is a gtest failure naming
// the call, the errno and what went wrong.
// Sets the operation's condition (true if it has none or it is set).
bool set_condition(const operation& op) {
  const auto [name, err] = op.condition();
  return name.empty() || fault::always_fail(name, err);
}

// Writes the sites failed on purpose so far in this process to the file a parent test named
// (FAULT_WALK_REPORT), which merges them into its own figures.
void report_to_parent() {
  const char* path = std::getenv("FAULT_WALK_REPORT");
  if (path == nullptr) return;
  std::ofstream out(path, std::ios::trunc);
  for (const auto& s : totals().failed) out << s << '\n';
  out << "runs " << totals().runs << '\n';
}

// The run of the operation without a failure: it must succeed (or fail as expected) and
// make at least one system call; gives the number of calls and the sites they went through.
void run_without_failure(const std::string& label, const factory& make, unsigned long& calls,
                         std::vector<fault::site_calls>& sites) {
  auto op = make();
  op->prepare();
  ASSERT_TRUE(set_condition(*op)) << label << ": condition " << op->condition().first;
  fault::reset();
  const outcome o = op->run();
  calls = fault::calls();
  sites = fault::sites_called();
  fault::always_fail_none();
  const std::string late = op->cleanup();
  ASSERT_EQ(late, "") << label << ": the run without a failure";
  ASSERT_EQ(o.handler_calls, 1) << label << ": the run without a failure";
  ASSERT_EQ(o.ec, op->expected()) << label << ": the run without a failure: " << o.ec.message();
  ASSERT_EQ(o.wrong, "") << label;
  ASSERT_GT(calls, 0UL) << label << " made no system call through the library";
}

// A failure for each descriptor opened since `fds_before` and each child process, which
// are then closed, killed and reaped, so that one leak does not cascade.
void expect_nothing_left(const std::set<int>& fds_before, const std::string& what) {
  std::set<int> leaked;
  for (int fd : pidfd_test::open_fds())
    if (!fds_before.count(fd)) leaked.insert(fd);
  if (!leaked.empty()) {
    ADD_FAILURE() << what << ": leaked " << leaked.size() << " descriptor(s)";
    for (int fd : leaked) ::close(fd);
  }
  const std::set<pid_t> kids = pidfd_test::child_processes();
  if (!kids.empty()) {
    ADD_FAILURE() << what << ": left " << kids.size() << " child process(es)";
    for (pid_t p : kids) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, __WALL);
    }
  }
}

void print_walk(const std::string& label, const std::vector<fault::site_calls>& sites,
                unsigned long calls, unsigned long runs, unsigned long reached,
                unsigned long retried_or_fell_back) {
  (void)std::printf("[ fault    ] %s: %zu sites, %lu calls, %lu runs (%lu reached the call; %lu "
                    "of those succeeded after all); so far %zu sites, %lu runs\n",
                    label.c_str(), sites.size(), calls, runs, reached, retried_or_fell_back,
                    totals().sites.size(), totals().runs);
  for (const auto& s : sites)
    (void)std::printf("[ fault    ]   %6lu x %s @ %s\n", s.calls, s.name.c_str(), s.where.c_str());
}

void walk(const std::string& label, const factory& make) {
  // The kernel probe runs once per process and its result is cached: made here, its calls
  // are not counted as the operation's (the probe is walked on its own, OncePerProcess).
  (void)pidfd::kernel_support();
  std::vector<fault::site_calls> sites;
  unsigned long calls = 0;
  if (!make()->condition().first.empty()) {
    // A first run links the sites, so that the condition's site can be named.
    auto op = make();
    op->prepare();
    (void)op->run();
    (void)op->cleanup();
  }
  run_without_failure(label, make, calls, sites);
  if (::testing::Test::HasFatalFailure()) return;
  unsigned long reached = 0, runs = 0, retried_or_fell_back = 0;
  for (const auto& s : sites) totals().sites.insert(s.name + " @ " + s.where);
  for (int e : injected_errnos()) {
    for (unsigned long n = 1; n <= calls; ++n) {
      const std::set<int> fds_before = pidfd_test::open_fds();
      auto op = make();
      op->prepare();
      EXPECT_TRUE(set_condition(*op));
      fault::reset();
      fault::fail_nth_call(n, e);
      const outcome o = op->run();
      fault::disarm();
      fault::always_fail_none();
      const unsigned long failed = fault::failures();
      const std::string site = fault::last_failed();
      if (failed == 1) totals().failed.insert(site);
      const bool as_expected = o.ec && o.ec == op->expected();
      const std::string late = o.ec && !as_expected ? std::string() : op->cleanup();
      if (o.ec && !as_expected) (void)op->cleanup();
      const bool other_legal = o.ec && (as_expected || op->also_legal(o.ec, e));
      op.reset();
      ++runs;
      const std::string what = label + ": call " + std::to_string(n) + " (" +
                               (site.empty() ? "not reached" : site) + ") failing with " +
                               std::to_string(e);
      EXPECT_LE(failed, 1UL) << what;
      if (failed == 1) ++reached;
      EXPECT_EQ(o.handler_calls, 1) << what;
      EXPECT_EQ(o.wrong, "") << what;
      EXPECT_EQ(late, "") << what;
      if (o.ec && !other_legal) {
        EXPECT_EQ(o.ec.value(), e) << what << ": completed with " << o.ec.message() << " ("
                                   << o.ec.category().name() << ' ' << o.ec.value() << ')';
      } else if (failed == 1) {
        ++retried_or_fell_back;
      }
      expect_nothing_left(fds_before, what);
      if (::testing::Test::HasFailure()) return;  // one finding per operation is enough
    }
  }
  totals().runs += runs;
  report_to_parent();
  print_walk(label, sites, calls, runs, reached, retried_or_fell_back);
}

// ---------------------------------------------------------------------------------------
// spawn()

std::vector<std::string> child(std::vector<std::string> args) {
  args.insert(args.begin(), std::filesystem::absolute(child_path()).string());
  return args;
}

class spawn_op : public operation {
public:
  explicit spawn_op(bool full_options) : full_(full_options) {}
  void prepare() override {
    if (!full_) return;
    extra_ = pidfd_test::make_pipe();
    o_.close_other_fds = true;
    o_.cwd = "/";
    o_.new_session = true;
    o_.parent_death_signal = SIGKILL;
    o_.env_changes.emplace_back("FAULT_WALK", "1");
    o_.extra_fds.emplace_back(5, extra_.write.get());
    o_.stdin_fd = -1;  // /dev/null
  }
  outcome run() override {
    outcome o;
    p_ = pidfd::spawn(child({"exit", "3"}), o_, o.ec);
    o.handler_calls = 1;
    if (!o.ec && !p_) o.wrong = "no error and no process";
    if (o.ec && p_) o.wrong = "an error and a process";
    return o;
  }
  std::string cleanup() override {
    if (!p_) return "";
    const pidfd::exit_status s = pidfd_test::bounded_wait(p_);
    p_.close();
    return s == pidfd_test::exited(3) ? "" : "the wrong status";
  }

private:
  bool full_;
  pidfd::spawn_options o_;
  pidfd_test::pipe_fds extra_;
  pid_fd p_;
};

// ---------------------------------------------------------------------------------------
// async_run()

// Runs async_run() on io until it completes (20 s at most): o counts the completions and
// keeps the error, result the result; a second completion would be counted too.
void run_to_completion(asio::io_context& io, std::vector<std::string> argv,
                       pidfd::run_options ro, outcome& o, pidfd::run_result& result) {
  pidfd::async_run(io, std::move(argv), std::move(ro), [&](error_code ec, pidfd::run_result r) {
    ++o.handler_calls;
    o.ec = ec;
    result = std::move(r);
  });
  if (!pidfd_test::run_until(io, [&] { return o.handler_calls > 0; }, 20s))
    o.wrong = "no completion within 20 s";
  io.restart();
  io.poll();  // a second completion would run here
}

class run_op : public operation {
public:
  // timeout: a child that never ends, stopped by the operation's timeout (SIGTERM to its
  // process group); else a child that echoes its input and exits 3.
  explicit run_op(bool timeout) : timeout_(timeout) {}
  outcome run() override {
    outcome o;
    pidfd::run_options ro;
    std::vector<std::string> argv;
    if (timeout_) {
      ro.timeout = 1ns;
      ro.grace = 1ns;  // SIGKILL at once if SIGTERM could not be sent
      ro.spawn.process_group = 0;
      argv = child({"pause"});
    } else {
      ro.input = "some input";
      argv = child({"exit", "3"});
    }
    run_to_completion(io_, std::move(argv), std::move(ro), o, result_);
    if (timeout_ && o.ec == asio::error::timed_out) {
      if (result_.status != pidfd_test::killed(SIGTERM) &&
          result_.status != pidfd_test::killed(SIGKILL))
        o.wrong = "timed out without SIGTERM or SIGKILL";
      o.ec.clear();
    } else if (!o.ec && result_.status != pidfd_test::exited(3)) {
      o.wrong = "wrong status";
    }
    return o;
  }

private:
  bool timeout_;
  asio::io_context io_;
  pidfd::run_result result_;
};

// async_run with larger pipes (pipe_capacity): best effort, so a failure of any of its
// calls still completes the run. refused: every first F_SETPIPE_SZ fails with EPERM (as
// above pipe-max-size without CAP_SYS_RESOURCE), so that pipe-max-size is read and asked.
class pipe_capacity_op : public operation {
public:
  explicit pipe_capacity_op(bool refused) : refused_(refused) {}
  outcome run() override {
    outcome o;
    pidfd::run_options ro;
    // Refused: more than any pipe-max-size, so that the capped request follows.
    ro.pipe_capacity = refused_ ? std::size_t{1} << 31 : std::size_t{128} << 10;
    ro.input = "x";
    run_to_completion(io_, child({"pipe-size", "1", "1", "pipe-size", "2", "1", "exit", "3"}),
                      std::move(ro), o, result_);
    if (!o.ec && result_.status != pidfd_test::exited(3)) o.wrong = "wrong status";
    return o;
  }
  std::pair<std::string, int> condition() const override {
    if (refused_) return {"fcntl(F_SETPIPE_SZ)", EPERM};
    return {"", 0};
  }

private:
  bool refused_;
  asio::io_context io_;
  pidfd::run_result result_;
};

// ---------------------------------------------------------------------------------------
// async_wait, async_wait_for, async_terminate

class wait_op : public operation {
public:
  enum kind { wait_exited, wait_for_exit, wait_for_timeout, terminate };
  explicit wait_op(kind k) : k_(k) {}
  void prepare() override {
    gate_ = pidfd_test::make_pipe();
    if (k_ == wait_exited) {
      p_ = pidfd_test::start_child({"exit", "3"});
      ASSERT_TRUE(pidfd_test::wait_readable(p_.native_handle()));
    } else {
      p_ = pidfd_test::start_child({"wait-byte", "3", "exit", "3"}, {{3, gate_.read.get()}});
    }
    gate_.read.reset();
  }
  outcome run() override {
    outcome o;
    {
      pidfd::async_pidfd ap(io_);
      error_code ec;
      pid_fd copy = p_.dup(ec);
      if (!ec) ap.assign(std::move(copy), ec);
      if (ec) {
        // Registering the descriptor failed: the operation never started.
        o.handler_calls = 1;
        o.ec = ec;
        return o;
      }
      auto handler = [&](error_code e, pidfd::exit_status s) {
        ++o.handler_calls;
        o.ec = e;
        status_ = s;
      };
      switch (k_) {
        case wait_exited: ap.async_wait(handler); break;
        case wait_for_exit: ap.async_wait_for(1h, handler); break;
        case wait_for_timeout: ap.async_wait_for(1ns, handler); break;
        case terminate: ap.async_terminate(60s, handler); break;
      }
      if (k_ == wait_for_exit) pidfd_test::write_byte(gate_.write.get());
      if (!pidfd_test::run_until(io_, [&] { return o.handler_calls > 0; }, 20s))
        o.wrong = "no completion within 20 s";
      io_.restart();
      io_.poll();
    }
    if (k_ == wait_for_timeout && o.ec == asio::error::timed_out) o.ec.clear();
    const pidfd::exit_status expected =
        k_ == terminate ? pidfd_test::killed(SIGTERM) : pidfd_test::exited(3);
    if (!o.ec && k_ != wait_for_timeout && status_ != expected) o.wrong = "wrong status";
    return o;
  }
  std::string cleanup() override {
    finish(p_);
    return "";
  }

private:
  kind k_;
  pidfd_test::pipe_fds gate_;
  pid_fd p_;
  asio::io_context io_;
  pidfd::exit_status status_;
};

// ---------------------------------------------------------------------------------------
// Receiving a pidfd on a UNIX socket

class receive_op : public operation {
public:
  enum kind { blocking, asynchronous, at_descriptor_limit };
  explicit receive_op(kind k) : kind_(k) {}
  void prepare() override {
    asio::local::connect_pair(a_, b_);
    pidfd::send_pidfd(a_, pid_fd::self());
  }
  outcome run() override {
    outcome o;
    if (kind_ == asynchronous) {
      pidfd::async_receive_pidfd(b_, [&](error_code ec, pid_fd p) {
        ++o.handler_calls;
        o.ec = ec;
        got_ = std::move(p);
      });
      if (!pidfd_test::run_until(io_, [&] { return o.handler_calls > 0; }, 20s))
        o.wrong = "no completion within 20 s";
      io_.restart();
      io_.poll();
    } else if (kind_ == at_descriptor_limit) {
      // No descriptor left (the limit at the lowest free one): the kernel cannot make the
      // pidfd, and the library finds out why by trying to make a descriptor itself.
      const int lowest_free = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
      ::close(lowest_free);
      rlimit saved{};
      ::getrlimit(RLIMIT_NOFILE, &saved);
      rlimit low = saved;
      low.rlim_cur = static_cast<rlim_t>(lowest_free);
      if (lowest_free < 0 || ::setrlimit(RLIMIT_NOFILE, &low) != 0) o.wrong = "no limit set";
      got_ = pidfd::receive_pidfd(b_, o.ec);
      ::setrlimit(RLIMIT_NOFILE, &saved);
      o.handler_calls = 1;
      if (got_) o.wrong = "a pidfd beyond the descriptor limit";
    } else {
      got_ = pidfd::receive_pidfd(b_, o.ec);
      o.handler_calls = 1;
    }
    if (!o.ec && !got_) o.wrong = "no error and no pidfd";
    return o;
  }
  error_code expected() const override {
    return kind_ == at_descriptor_limit ? pidfd::detail::errno_code(EMFILE) : error_code();
  }
  // A pidfd whose check failed with EAGAIN: reported as not a pidfd, never as "not
  // ready" (the message has been consumed).
  bool also_legal(const error_code& ec, int injected) const override {
    return injected == EAGAIN && ec == pidfd::errc::not_a_pidfd;
  }
  std::string cleanup() override {
    const bool right = !got_ || got_.pid() == ::getpid();
    got_.close();
    return right ? "" : "the wrong process";
  }

private:
  kind kind_;
  asio::io_context io_;
  asio::local::stream_protocol::socket a_{io_}, b_{io_};
  pid_fd got_;
};

// Sending a pidfd, and the peer's pidfd of a connected socket
class socket_op : public operation {
public:
  explicit socket_op(bool send) : send_(send) {}
  void prepare() override { asio::local::connect_pair(a_, b_); }
  outcome run() override {
    outcome o;
    o.handler_calls = 1;
    if (send_) {
      pidfd::send_pidfd(a_, self_, o.ec);
    } else {
      got_ = pidfd::peer_pidfd(a_, o.ec);
      if (!o.ec && !got_) o.wrong = "no error and no pidfd";
    }
    return o;
  }
  std::string cleanup() override {
    std::string wrong;
    if (send_) {
      // What was sent arrives (nothing when the send failed: receive would block).
      b_.non_blocking(true);
      error_code ec;
      pid_fd p = pidfd::receive_pidfd(b_, ec);
      if (p && p.pid() != ::getpid()) wrong = "the wrong process received";
    } else if (got_ && got_.pid() != ::getpid()) {
      wrong = "the wrong peer";
    }
    got_.close();
    return wrong;
  }

private:
  bool send_;
  asio::io_context io_;
  asio::local::stream_protocol::socket a_{io_}, b_{io_};
  pid_fd self_ = pid_fd::self();
  pid_fd got_;
};

// ---------------------------------------------------------------------------------------
// pid_fd queries on a running child

class query_op : public operation {
public:
  using query = std::function<std::string(pid_fd&, pid_t, error_code&)>;  // "" or what is wrong
  explicit query_op(query q) : q_(std::move(q)) {}
  void prepare() override {
    p_ = pidfd_test::start_child({"pause"});
    pid_ = p_.pid();
  }
  outcome run() override {
    outcome o;
    o.wrong = q_(p_, pid_, o.ec);
    if (o.ec) o.wrong.clear();
    o.handler_calls = 1;
    return o;
  }
  std::string cleanup() override {
    finish(p_);
    return "";
  }

private:
  query q_;
  pid_fd p_;
  pid_t pid_ = 0;
};

factory query(const query_op::query& q) {
  return [q] { return std::make_unique<query_op>(q); };
}

// What making a run's cgroup in our own cgroup v2 gives here: nothing where it is
// writable; else the error of finding it (no cgroup v2 mounted: found through
// /proc/self/mountinfo, as the library does) or EACCES (a cgroup we may not write).
error_code cgroup_creation_error() {
  error_code ec;
  const std::filesystem::path dir = pidfd::detail::own_cgroup_directory(ec);
  if (ec) return ec;
  if (::access(dir.c_str(), W_OK) != 0) return error_code(EACCES, boost::system::system_category());
  return {};
}

// ---------------------------------------------------------------------------------------
// More of spawn(): the child side's identity steps, an exec that fails, a terminal

class spawn_more_op : public operation {
public:
  enum kind { identity, exec_fails, pidfd_open_fails, without_close_range };
  explicit spawn_more_op(kind k) : k_(k) {}
  void prepare() override {
    if (k_ == identity) {
      // The caller's own ids and limits: every step runs, none changes anything.
      o_.gid = ::getegid();
      o_.uid = ::geteuid();
      if (::geteuid() == 0) o_.groups = std::vector<gid_t>{::getegid()};
      rlimit core{};
      ::getrlimit(RLIMIT_CORE, &core);
      o_.rlimits.emplace_back(RLIMIT_CORE, core);
      o_.umask = 022;
      o_.no_new_privs = true;
    } else if (k_ == exec_fails) {
      o_.executable = "/dev/null";  // not executable: execve fails with EACCES
    }
  }
  outcome run() override {
    outcome o;
    p_ = pidfd::spawn(child({"exit", "3"}), o_, o.ec);
    o.handler_calls = 1;
    if (!o.ec && !p_) o.wrong = "no error and no process";
    if (o.ec && p_) o.wrong = "an error and a process";
    return o;
  }
  error_code expected() const override {
    if (k_ == exec_fails) return error_code(EACCES, boost::system::system_category());
    if (k_ == pidfd_open_fails) return error_code(ENOMEM, boost::system::system_category());
    return {};
  }
  std::pair<std::string, int> condition() const override {
    if (k_ == pidfd_open_fails) return {"pidfd_open", ENOMEM};
    if (k_ == without_close_range)
      return {"syscall " + std::to_string(pidfd::detail::k_sys_close_range), ENOSYS};
    return {"", 0};
  }
  std::string cleanup() override {
    if (!p_) return "";
    const pidfd::exit_status s = pidfd_test::bounded_wait(p_);
    p_.close();
    return s == pidfd_test::exited(3) ? "" : "the wrong status";
  }

private:
  kind k_;
  pidfd::spawn_options o_;
  pid_fd p_;
};

// spawn() of a program on a new pseudo-terminal, then a change of the terminal's size;
// by_name: as before TIOCGPTPEER (4.13), the slave opened by its name.
class pty_op : public operation {
public:
  explicit pty_op(bool by_name = false) : by_name_(by_name) {}
  std::pair<std::string, int> condition() const override {
    return by_name_ ? std::pair<std::string, int>{"ioctl(TIOCGPTPEER)", EINVAL}
                    : std::pair<std::string, int>{"", 0};
  }
  outcome run() override {
    outcome o;
    pidfd::spawn_options so;
    so.stdin_fd = so.stdout_fd = so.stderr_fd = pidfd::stdio_pty;
    p_ = pidfd::spawn(io_, child({"exit", "3"}), so, o.ec);
    if (!o.ec) {
      if (!p_.pty.is_open()) o.wrong = "no terminal";
      p_.resize_pty(30, 100, o.ec);
    }
    o.handler_calls = 1;
    return o;
  }
  std::string cleanup() override {
    std::string wrong;
    if (p_.pidfd.is_open()) {
      error_code ec;
      pid_fd core = p_.pidfd.release(ec);
      if (pidfd_test::bounded_wait(core) != pidfd_test::exited(3)) wrong = "the wrong status";
    }
    error_code ignored;
    p_.pty.close(ignored);
    return wrong;
  }

private:
  bool by_name_;
  asio::io_context io_;
  pidfd::process p_{io_};
};

// ---------------------------------------------------------------------------------------
// async_run()'s other scopes and streams

class run_more_op : public operation {
public:
  enum kind { pty, group_leftover, cgroup_scope, cgroup_leftover, discard_output };
  explicit run_more_op(kind k) : k_(k) {}
  void prepare() override {
  }
  outcome run() override {
    outcome o;
    pidfd::run_options ro;
    std::vector<std::string> argv = child({"exit", "3"});
    switch (k_) {
      case pty:
        ro.pty = true;
        ro.input = "typed";
        break;
      case group_leftover:
        // A member of the child's group that outlives it, holding no stream: killed at
        // the end of the run.
        ro.scope = pidfd::run_scope::process_group;
        argv = child({"fork-detach", "2", "close", "1", "close", "2", "pause"});
        ro.capture_stderr = true;
        break;
      case cgroup_scope:
        ro.scope = pidfd::run_scope::cgroup;  // in our own cgroup v2 (from mountinfo)
        break;
      case cgroup_leftover:
        // A cgroup made below the run's, and a member that outlives the child: killed
        // (cgroup.kill) and both cgroups removed at the end.
        ro.scope = pidfd::run_scope::cgroup;
        ro.drain = 0s;
        argv = child({"cgroup-subdir", "fork-detach", "2", "close", "1", "close", "2", "pause"});
        break;
      case discard_output:
        // Past the limit the output is spliced to /dev/null.
        ro.output_limit = 16;
        argv = child({"spew", "1", "1000000", "exit", "3"});
        break;
    }
    run_to_completion(io_, std::move(argv), std::move(ro), o, result_);
    const pidfd::exit_status want = k_ == group_leftover || k_ == cgroup_leftover
                                        ? pidfd_test::exited(0)
                                        : pidfd_test::exited(3);
    if (!o.ec && result_.status != want) o.wrong = "wrong status";
    if (!o.ec && (k_ == group_leftover || k_ == cgroup_leftover)) {
      leftover_ = static_cast<pid_t>(std::strtol(result_.err.c_str(), nullptr, 10));
      if (leftover_ <= 0) o.wrong = "no pid of the group member";
      if (result_.killed_leftovers > 1) o.wrong = "more members killed than there were";
    }
    if (!o.ec && k_ == discard_output && (!result_.truncated || result_.out.size() != 16))
      o.wrong = "not truncated to the limit";
    return o;
  }
  // The run's cgroup could not be made for lack of permission (EPERM): EACCES, as
  // documented for every permission error of creating it.
  bool also_legal(const error_code& ec, int injected) const override {
    return (k_ == cgroup_scope || k_ == cgroup_leftover) && injected == EPERM &&
           ec == error_code(EACCES, boost::system::system_category());
  }
  // The cgroup scope where there is no writable cgroup v2: the clean error of creating it.
  error_code expected() const override {
    return k_ == cgroup_scope || k_ == cgroup_leftover ? cgroup_creation_error() : error_code();
  }
  std::string cleanup() override {
    std::string wrong;
    if (leftover_ > 0) {
      // The member was killed (it may still be a zombie of PID 1 for a moment): it must
      // not be running.
      // A member reported killed must end; one not killed (the signal could not be sent)
      // is the test's to end.
      error_code ec;
      pid_fd member = pid_fd::open(leftover_, ec);
      if (!ec && result_.killed_leftovers == 0) member.kill(ec);
      if (!ec && !pidfd_test::wait_readable(member.native_handle(), 5s)) {
        wrong = "the group's member is still running";
        member.kill(ec);
      }
    }
    if (!pidfd_test::take_leftover_run_cgroups().empty()) wrong = "a cgroup left behind";
    return wrong;
  }

private:
  kind k_;
  asio::io_context io_;
  pidfd::run_result result_;
  pid_t leftover_ = 0;
};

// ---------------------------------------------------------------------------------------
// Local sockets: the peer's ids, SCM_PIDFD

class socket_more_op : public operation {
public:
  enum kind { credentials, credentials_generic, sender };
  explicit socket_more_op(kind k) : k_(k) {}
  void prepare() override { asio::local::connect_pair(a_, b_); }
  outcome run() override {
    outcome o;
    o.handler_calls = 1;
    if (k_ == credentials_generic) {
      // Through Asio's generic protocol the library checks the family first (SO_DOMAIN).
      int fds[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
        o.wrong = "socketpair failed";
        return o;
      }
      using generic = asio::generic::seq_packet_protocol;
      generic::socket g(io_, generic(AF_UNIX, 0), fds[0]);
      pidfd::unique_fd other(fds[1]);
      const pidfd::peer_ids ids = pidfd::peer_credentials(g, o.ec);
      if (!o.ec && (ids.uid != ::geteuid() || ids.gid != ::getegid())) o.wrong = "wrong ids";
      return o;
    }
    if (k_ == credentials) {
      const pidfd::peer_ids ids = pidfd::peer_credentials(a_, o.ec);
      if (!o.ec && (ids.uid != ::geteuid() || ids.gid != ::getegid())) o.wrong = "wrong ids";
      return o;
    }
    pidfd::enable_sender_pidfd(b_, o.ec);
    if (o.ec) return o;
    const char byte = 'x';
    asio::write(a_, asio::buffer(&byte, 1));
    char got = 0;
    pidfd::received_message m = pidfd::receive_with_sender(b_, asio::buffer(&got, 1), o.ec);
    if (!o.ec && (m.bytes != 1 || got != 'x' || !m.sender || m.sender.pid() != ::getpid()))
      o.wrong = "the wrong message or sender";
    return o;
  }
  // A sender's pidfd that could not be checked (fstatfs failing with EAGAIN): the message
  // has been read, and the pidfd is reported as not a pidfd.
  bool also_legal(const error_code& ec, int injected) const override {
    return injected == EAGAIN && ec == pidfd::errc::not_a_pidfd;
  }

private:
  kind k_;
  asio::io_context io_;
  asio::local::stream_protocol::socket a_{io_}, b_{io_};
};

// Runs a selection of this binary's tests in a child process (with seccomp rules and
// environment), and adds the sites its walks failed to this process's figures.
int run_walks_in_child(const std::string& filter, unsigned rules,
                       std::vector<std::string> env = {}) {
  char path[] = "/tmp/asio-pidfd-fault-walk-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::close(fd);
  env.push_back(std::string("FAULT_WALK_REPORT=") + path);
  const int rc = pidfd_test::run_suite_in_child(filter, rules, env);
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("runs ", 0) == 0)
      totals().runs += std::stoul(line.substr(5));
    else if (!line.empty())
      totals().failed.insert(line);
  }
  ::unlink(path);
  return rc;
}

// ---------------------------------------------------------------------------------------
// The walks

TEST(FaultWalk, Spawn) {
  walk("spawn", [] { return std::make_unique<spawn_op>(false); });
}

TEST(FaultWalk, SpawnEveryOption) {
  walk("spawn (every option)", [] { return std::make_unique<spawn_op>(true); });
}

// The older clone paths, in a child process whose seccomp filter makes clone3 (and then
// CLONE_PIDFD) absent: clone(CLONE_PIDFD), then clone + pidfd_open.
TEST(FaultWalk, SpawnWithClonePidfd) {
  EXPECT_EQ(run_walks_in_child("FaultWalk.Spawn:FaultWalk.SpawnEveryOption",
                               pidfd_test::deny_clone3),
            0);
}

// The last path also with pidfd_open failing after the child started: it is killed and
// reaped by its pid.
TEST(FaultWalk, SpawnWithPidfdOpen) {
  EXPECT_EQ(run_walks_in_child("FaultWalk.Spawn:FaultWalk.SpawnEveryOption:"
                               "InChildFaultWalk.SpawnWhenPidfdOpenFails",
                               pidfd_test::deny_clone3 | pidfd_test::deny_clone_pidfd),
            0);
}

TEST(InChildFaultWalk, SpawnWhenPidfdOpenFails) {
  walk("spawn (pidfd_open failing)",
       [] { return std::make_unique<spawn_more_op>(spawn_more_op::pidfd_open_fails); });
}

TEST(FaultWalk, SpawnIdentity) {
  walk("spawn (ids, limits, umask, no_new_privs)",
       [] { return std::make_unique<spawn_more_op>(spawn_more_op::identity); });
}

TEST(FaultWalk, SpawnExecFails) {
  walk("spawn (execve failing)",
       [] { return std::make_unique<spawn_more_op>(spawn_more_op::exec_fails); });
}

// Without close_range (< 5.9): the child closes descriptors one by one up to the hard
// limit, lowered in a child process of its own so that the walk stays short.
TEST(FaultWalk, SpawnWithoutCloseRange) {
  EXPECT_EQ(run_walks_in_child("InChildFaultWalk.SpawnWithoutCloseRange", 0), 0);
}

TEST(InChildFaultWalk, SpawnWithoutCloseRange) {
  const rlimit low{32, 32};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  walk("spawn (no close_range)",
       [] { return std::make_unique<spawn_more_op>(spawn_more_op::without_close_range); });
}

TEST(FaultWalk, SpawnWithPty) {
  walk("spawn (pty) and resize_pty", [] { return std::make_unique<pty_op>(); });
}

TEST(FaultWalk, SpawnWithPtyOpenedByName) {
  walk("spawn (pty, no TIOCGPTPEER)", [] { return std::make_unique<pty_op>(true); });
}

TEST(FaultWalk, AsyncRunOnPty) {
  walk("async_run (pty)", [] { return std::make_unique<run_more_op>(run_more_op::pty); });
}

TEST(FaultWalk, AsyncRunGroupLeftover) {
  walk("async_run (process group, a member left)",
       [] { return std::make_unique<run_more_op>(run_more_op::group_leftover); });
}

TEST(FaultWalk, AsyncRunCgroupScope) {
  walk("async_run (cgroup scope)",
       [] { return std::make_unique<run_more_op>(run_more_op::cgroup_scope); });
}

TEST(FaultWalk, AsyncRunCgroupLeftover) {
  walk("async_run (cgroup scope, a member and a cgroup left)",
       [] { return std::make_unique<run_more_op>(run_more_op::cgroup_leftover); });
}

TEST(FaultWalk, AsyncRunDiscardingOutput) {
  walk("async_run (stdout discarded)",
       [] { return std::make_unique<run_more_op>(run_more_op::discard_output); });
}

TEST(FaultWalk, PeerCredentials) {
  walk("peer_credentials",
       [] { return std::make_unique<socket_more_op>(socket_more_op::credentials); });
  walk("peer_credentials (generic protocol)",
       [] { return std::make_unique<socket_more_op>(socket_more_op::credentials_generic); });
}

// SO_PASSPIDFD (6.5): without it there is no system call to fail.
TEST(FaultWalk, ReceiveWithSender) {
  if (!pidfd::kernel_support().peer_pidfd) {
    asio::io_context io;
    asio::local::stream_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    error_code ec;
    pidfd::enable_sender_pidfd(b, ec);
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    return;
  }
  walk("enable_sender_pidfd, receive_with_sender",
       [] { return std::make_unique<socket_more_op>(socket_more_op::sender); });
}

// The fallbacks of kernels without PIDFD_GET_INFO, waitid(P_PIDFD) or process-group
// signals, made absent.
TEST(FaultWalk, WithoutNewerFeatures) {
  EXPECT_EQ(run_walks_in_child(
                "FaultWalk.PidFdQueries:FaultWalk.AsyncRun:FaultWalk.AsyncRunGroupLeftover:"
                "FaultWalk.AsyncWaitExited:FaultWalk.AsyncTerminate",
                0, {"ASIO_PIDFD_PRETEND_MISSING=get_info,waitid_pidfd,signal_scope,namespaces"}),
            0);
}

// async_run's scopes on this version: the child alone, and (with process_group = 0) its
// process group, which the timeout signals as a whole. Scopes added later (a cgroup, ...)
// are one more run_op configuration here.
TEST(FaultWalk, AsyncRun) {
  walk("async_run", [] { return std::make_unique<run_op>(false); });
}

TEST(FaultWalk, AsyncRunWithPipeCapacity) {
  walk("async_run (pipe_capacity)", [] { return std::make_unique<pipe_capacity_op>(false); });
  walk("async_run (pipe_capacity refused at first)",
       [] { return std::make_unique<pipe_capacity_op>(true); });
}

TEST(FaultWalk, AsyncRunTimeoutSignalsTheGroup) {
  walk("async_run (timeout, process group)", [] { return std::make_unique<run_op>(true); });
}

TEST(FaultWalk, AsyncWaitExited) {
  walk("async_wait", [] { return std::make_unique<wait_op>(wait_op::wait_exited); });
}

TEST(FaultWalk, AsyncWaitForExit) {
  walk("async_wait_for (exit)", [] { return std::make_unique<wait_op>(wait_op::wait_for_exit); });
}

TEST(FaultWalk, AsyncWaitForTimeout) {
  walk("async_wait_for (timeout)",
       [] { return std::make_unique<wait_op>(wait_op::wait_for_timeout); });
}

TEST(FaultWalk, AsyncTerminate) {
  walk("async_terminate", [] { return std::make_unique<wait_op>(wait_op::terminate); });
}

TEST(FaultWalk, ReceivePidfd) {
  walk("receive_pidfd", [] { return std::make_unique<receive_op>(receive_op::blocking); });
}

TEST(FaultWalk, ReceivePidfdAtTheDescriptorLimit) {
  walk("receive_pidfd (at the descriptor limit)",
       [] { return std::make_unique<receive_op>(receive_op::at_descriptor_limit); });
}

TEST(FaultWalk, AsyncReceivePidfd) {
  walk("async_receive_pidfd", [] { return std::make_unique<receive_op>(receive_op::asynchronous); });
}

TEST(FaultWalk, SendPidfd) {
  walk("send_pidfd", [] { return std::make_unique<socket_op>(true); });
}

// SO_PEERPIDFD (6.5): without it peer_pidfd() makes no system call to fail.
TEST(FaultWalk, PeerPidfd) {
  if (!pidfd::kernel_support().peer_pidfd) {
    error_code ec;
    asio::io_context io;
    asio::local::stream_protocol::socket a(io), b(io);
    asio::local::connect_pair(a, b);
    EXPECT_FALSE(pidfd::peer_pidfd(a, ec));
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    return;
  }
  walk("peer_pidfd", [] { return std::make_unique<socket_op>(false); });
}

TEST(FaultWalk, PidFdQueries) {
  walk("pid_fd::open", query([](pid_fd&, pid_t pid, error_code& ec) {
         pid_fd q = pid_fd::open(pid, ec);
         return !ec && !q ? "no error and no pidfd" : "";
       }));
  walk("pid_fd::dup", query([](pid_fd& p, pid_t, error_code& ec) {
         pid_fd q = p.dup(ec);
         return !ec && !q ? "no error and no pidfd" : "";
       }));
  walk("pid_fd::info", query([](pid_fd& p, pid_t pid, error_code& ec) {
         const pidfd::process_info i = p.info(ec);
         return !ec && i.pid != pid ? "the wrong pid" : "";
       }));
  walk("pid_fd::ppid", query([](pid_fd& p, pid_t, error_code& ec) {
         const pid_t parent = p.ppid(ec);
         return !ec && parent != ::getpid() ? "the wrong parent" : "";
       }));
  walk("pid_fd::send_signal", query([](pid_fd& p, pid_t, error_code& ec) {
         p.send_signal(0, ec);
         return "";
       }));
  walk("pid_fd::try_wait", query([](pid_fd& p, pid_t, error_code& ec) {
         const auto s = p.try_wait(ec);
         return !ec && s ? "a status of a running process" : "";
       }));
  walk("pid_fd::proc_dir", query([](pid_fd& p, pid_t, error_code& ec) {
         pidfd::unique_fd d = p.proc_dir(ec);
         return !ec && !d ? "no error and no directory" : "";
       }));
  walk("pid_fd::cgroup_path", query([](pid_fd& p, pid_t, error_code& ec) {
         const std::string path = p.cgroup_path(ec);
         return !ec && path.empty() ? "no error and no path" : "";
       }));
  walk("pid_fd::get_namespace", query([](pid_fd& p, pid_t, error_code& ec) {
         pidfd::unique_fd d = p.get_namespace(pidfd::namespace_type::net, ec);
         return !ec && !d ? "no error and no descriptor" : "";
       }));
  walk("pid_fd::id", query([](pid_fd& p, pid_t, error_code& ec) {
         (void)p.id(ec);
         return "";
       }));
  walk("pid_fd::get_remote_fd", query([](pid_fd& p, pid_t, error_code& ec) {
         pidfd::unique_fd d = p.get_remote_fd(1, ec);
         return !ec && !d ? "no error and no descriptor" : "";
       }));
  walk("pid_fd::creds", query([](pid_fd& p, pid_t, error_code& ec) {
         const pidfd::credentials c = p.creds(ec);
         return !ec && c.euid != ::geteuid() ? "the wrong uid" : "";
       }));
  walk("pid_fd::wait", query([](pid_fd& p, pid_t, error_code& ec) {
         p.kill(ec);
         if (ec) return "";
         const pidfd::exit_status s = p.wait(ec);
         if (ec) return "";  // killed, not reaped: the cleanup reaps it
         p.close();
         return s != pidfd_test::killed(SIGKILL) ? "the wrong status" : "";
       }));
  // Not our child: its exit is learnt from the pidfd (poll).
  walk("pid_fd::try_wait (not our child)", query([](pid_fd&, pid_t, error_code& ec) {
         pid_fd self = pid_fd::self(ec);
         if (ec) return "";
         const auto s = self.try_wait(ec);
         return !ec && s ? "a status of a running process" : "";
       }));
  // Into the child's network namespace, which is ours: nothing changes. Needs
  // CAP_SYS_ADMIN.
  if (::geteuid() == 0) {
    walk("pid_fd::set_namespace", query([](pid_fd& p, pid_t, error_code& ec) {
           p.set_namespace(CLONE_NEWNET, ec);
           return "";
         }));
  } else {
    pid_fd p = pidfd_test::start_child({"pause"});
    error_code ec;
    p.set_namespace(CLONE_NEWNET, ec);
    EXPECT_EQ(ec, boost::system::errc::operation_not_permitted);
    finish(p);
  }
  if (pidfd::kernel_support().file_handles) {
    walk("pid_fd::open_by_id", query([](pid_fd& p, pid_t pid, error_code& ec) {
           const std::uint64_t id = p.id(ec);
           if (ec) return "";
           pid_fd q = pid_fd::open_by_id(id, ec);
           if (ec) return "";
           // Without PIDFD_GET_INFO the pid comes from fdinfo; when reading it fails, the
           // pid_fd is returned with its pid unknown (pid() then reports ESRCH).
           error_code pid_ec;
           const pid_t got = q.pid(pid_ec);
           if (pidfd::kernel_support().get_info && pid_ec) return "its pid unknown";
           return !pid_ec && got != pid ? "the wrong process" : "";
         }));
  } else {
    error_code ec;
    (void)pid_fd::open_by_id(1, ec);
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
  }
}

// pidfs extended attributes (6.17; trusted.* needs CAP_SYS_ADMIN).
TEST(FaultWalk, PidFdXattrs) {
  const std::string name = "trusted.asio-pidfd.walk";
  if (!pidfd::kernel_support().xattrs || ::geteuid() != 0) {
    pid_fd p = pid_fd::self();
    error_code ec;
    p.set_xattr(name, "v", ec);
    EXPECT_EQ(ec, pidfd::kernel_support().xattrs ? boost::system::errc::operation_not_permitted
                                                 : boost::system::errc::operation_not_supported);
    return;
  }
  walk("pid_fd::set_xattr, get_xattr", query([name](pid_fd& p, pid_t, error_code& ec) {
         p.set_xattr(name, "v", ec);
         if (ec) return "";
         const std::string v = p.get_xattr(name, ec);
         return !ec && v != "v" ? "the wrong value" : "";
       }));
  walk("pid_fd::set_xattr, list_xattrs", query([name](pid_fd& p, pid_t, error_code& ec) {
         p.set_xattr(name, "v", ec);
         if (ec) return "";
         const std::vector<std::string> names = p.list_xattrs(ec);
         return !ec && names != std::vector<std::string>{name} ? "the wrong names" : "";
       }));
  walk("pid_fd::set_xattr, remove_xattr", query([name](pid_fd& p, pid_t, error_code& ec) {
         p.set_xattr(name, "v", ec);
         if (ec) return "";
         p.remove_xattr(name, ec);
         return "";
       }));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// What the walk found, each checked on its own

namespace asio_local = asio::local;

// Links the sites an operation reaches (a site is known once it has been called).
template <class F>
void reach_sites(F f) {
  fault::reset();
  f();
  fault::reset();
}

// pid_fd(fd) learns the pid with PIDFD_GET_INFO; any failure other than "reaped" (ESRCH)
// must fall back to fdinfo, not leave a live process without a pid.
TEST(FaultRegression, PidFdKnowsItsPidWhenGetInfoFails) {
  pid_fd self = pid_fd::self();
  auto adopt = [&] { return pid_fd(::fcntl(self.native_handle(), F_DUPFD_CLOEXEC, 3)); };
  reach_sites([&] { (void)adopt(); });
  const bool get_info = pidfd::kernel_support().get_info;
  // (The site may be reached by the kernel probe where the feature is pretended missing.)
  if (get_info) {
    ASSERT_TRUE(fault::fail_nth_call_of("ioctl(PIDFD_GET_INFO)", 1, ENOMEM));
  }
  pid_fd p = adopt();
  fault::disarm();
  EXPECT_EQ(fault::failures(), get_info ? 1UL : 0UL);
  error_code ec;
  EXPECT_EQ(p.pid(ec), ::getpid());
  EXPECT_FALSE(ec) << ec.message();
}

// An adopted pidfd whose pid could not be learned (fdinfo unreadable at the descriptor
// limit, PIDFD_GET_INFO failing or absent) is not taken for a reaped one: pid() asks
// again, reporting the error while it still cannot tell and the pid once it can.
TEST(FaultRegression, PidFdAsksForItsPidAgainWhenItCouldNotBeLearned) {
  pid_fd self = pid_fd::self();
  auto adopt = [&] { return pid_fd(::fcntl(self.native_handle(), F_DUPFD_CLOEXEC, 3)); };
  const bool get_info = pidfd::kernel_support().get_info;
  const char* const get_info_site = "ioctl(PIDFD_GET_INFO)";
  // Reaches PIDFD_GET_INFO (where the kernel has it), then fdinfo's open behind it.
  reach_sites([&] { (void)adopt(); });
  reach_sites([&] {
    if (get_info) {
      ASSERT_TRUE(fault::fail_nth_call_of(get_info_site, 1, ENOMEM));
    }
    (void)adopt();
  });
  ASSERT_TRUE(fault::always_fail("openat(proc file)", EMFILE));
  if (get_info) {
    ASSERT_TRUE(fault::fail_nth_call_of(get_info_site, 1, ENOMEM));
  }
  pid_fd p = adopt();
  if (get_info) {
    ASSERT_TRUE(fault::fail_nth_call_of(get_info_site, 2, ENOMEM));
  }
  error_code ec;
  EXPECT_EQ(p.pid(ec), 0);
  EXPECT_EQ(ec, error_code(EMFILE, boost::system::system_category()));
  fault::always_fail_none();
  fault::disarm();
  EXPECT_EQ(fault::failures(), get_info ? 2UL : 0UL);
  EXPECT_EQ(p.pid(ec), ::getpid());
  EXPECT_FALSE(ec) << ec.message();
  fault::reset();
}

// pipe_capacity is best effort, with exact results: a refused F_SETPIPE_SZ (EPERM, as above
// pipe-max-size without CAP_SYS_RESOURCE) is asked again with pipe-max-size; a refusal of
// that too, another error, or a pipe-max-size that cannot be read leaves the pipe as made;
// the run goes ahead each time.
TEST(FaultRegression, AsyncRunPipeCapacityIsBestEffort) {
  std::size_t most = 0;
  std::ifstream("/proc/sys/fs/pipe-max-size") >> most;
  ASSERT_GT(most, 4096U);
  std::size_t plain = 0;
  {
    pidfd_test::pipe_fds p = pidfd_test::make_pipe();
    plain = static_cast<std::size_t>(::fcntl(p.read.get(), F_GETPIPE_SZ));
  }
  // What the child sees on its stdout, the one pipe of the run.
  auto capacity_seen = [](std::size_t requested) {
    asio::io_context io;
    pidfd::run_options ro;
    ro.pipe_capacity = requested;
    ro.capture_stderr = false;
    bool done = false;
    error_code ec;
    std::string out;
    pidfd::async_run(io, child({"pipe-size", "1", "1"}), std::move(ro),
                     [&](error_code e, pidfd::run_result r) {
                       done = true;
                       ec = e;
                       out = std::move(r.out);
                     });
    EXPECT_TRUE(pidfd_test::run_until(io, [&] { return done; }, 20s));
    EXPECT_FALSE(ec) << ec.message();
    return out;
  };
  const std::string as_made = std::to_string(plain) + "\n";
  reach_sites([&] { EXPECT_EQ(capacity_seen(4096), "4096\n"); });
  reach_sites([&] {
    ASSERT_TRUE(fault::fail_nth_call_of("fcntl(F_SETPIPE_SZ)", 1, EPERM));
    EXPECT_EQ(capacity_seen(4 * most), std::to_string(most) + "\n");
    EXPECT_EQ(fault::failures(), 1UL);
  });
  // Asking for no more than pipe-max-size, a refusal is not asked again.
  ASSERT_TRUE(fault::fail_nth_call_of("fcntl(F_SETPIPE_SZ)", 1, EPERM));
  EXPECT_EQ(capacity_seen(most), as_made);
  fault::reset();
  // pipe-max-size refused too (the user's pipes past their allowance).
  ASSERT_TRUE(fault::always_fail("fcntl(F_SETPIPE_SZ)", EPERM));
  ASSERT_TRUE(fault::fail_nth_call_of("fcntl(F_SETPIPE_SZ, pipe-max-size)", 1, EPERM));
  EXPECT_EQ(capacity_seen(4 * most), as_made);
  fault::always_fail_none();
  fault::reset();
  // pipe-max-size cannot be read.
  ASSERT_TRUE(fault::always_fail("open(pipe-max-size)", EACCES));
  ASSERT_TRUE(fault::fail_nth_call_of("fcntl(F_SETPIPE_SZ)", 1, EPERM));
  EXPECT_EQ(capacity_seen(4 * most), as_made);
  fault::always_fail_none();
  fault::reset();
  // Another error (no memory for the larger ring) is not asked again.
  ASSERT_TRUE(fault::fail_nth_call_of("fcntl(F_SETPIPE_SZ)", 1, ENOMEM));
  EXPECT_EQ(capacity_seen(4 * most), as_made);
  EXPECT_EQ(fault::failures(), 1UL);
  fault::reset();
}

// A received descriptor that could not be checked reports the check's error, not
// not_a_pidfd.
TEST(FaultRegression, ReceivePidfdReportsTheCheckError) {
  asio::io_context io;
  asio_local::stream_protocol::socket a(io), b(io);
  asio_local::connect_pair(a, b);
  reach_sites([&] {
    pidfd::send_pidfd(a, pid_fd::self());
    (void)pidfd::receive_pidfd(b);
  });
  pidfd::send_pidfd(a, pid_fd::self());
  ASSERT_TRUE(fault::fail_nth_call_of("fstatfs", 1, ENOMEM));
  error_code ec;
  pid_fd p = pidfd::receive_pidfd(b, ec);
  fault::disarm();
  EXPECT_EQ(fault::failures(), 1UL);
  EXPECT_EQ(ec, error_code(ENOMEM, boost::system::system_category()));
  EXPECT_FALSE(p);
}

// The same with EAGAIN in async_receive_pidfd: the message is consumed, so the operation
// must complete (not_a_pidfd), not wait for another message as if it had found none.
TEST(FaultRegression, AsyncReceivePidfdCompletesWhenTheCheckFailsWithEagain) {
  asio::io_context io;
  asio_local::stream_protocol::socket a(io), b(io);
  asio_local::connect_pair(a, b);
  reach_sites([&] {
    pidfd::send_pidfd(a, pid_fd::self());
    (void)pidfd::receive_pidfd(b);
  });
  pidfd::send_pidfd(a, pid_fd::self());
  ASSERT_TRUE(fault::fail_nth_call_of("fstatfs", 1, EAGAIN));
  int calls = 0;
  error_code result;
  pidfd::async_receive_pidfd(b, [&](error_code ec, pid_fd p) {
    ++calls;
    result = ec;
    EXPECT_FALSE(p);
  });
  EXPECT_TRUE(pidfd_test::run_until(io, [&] { return calls > 0; }, 20s));
  fault::disarm();
  io.restart();
  io.poll();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(fault::failures(), 1UL);
  EXPECT_EQ(result, pidfd::errc::not_a_pidfd);
}

// async_run after its timeout: when the wait for the terminated child fails, the child is
// reaped synchronously before the operation completes; its status is reported all the
// same (timed_out "holds its status").
TEST(FaultRegression, AsyncRunTimeoutReportsTheStatusWhenTheWaitFails) {
  // The wait on kernels without P_PIDFD (< 5.4) is waitid(P_PID).
  const std::string wait_site =
      pidfd::kernel_support().waitid_pidfd ? "waitid(P_PIDFD)" : "waitid(P_PID)";
  auto run_once = [&](bool inject, unsigned long waits) {
    asio::io_context io;
    pidfd::run_options ro;
    ro.timeout = 1ns;
    ro.grace = 1ns;
    int calls = 0;
    error_code result;
    pidfd::run_result r;
    fault::reset();
    if (inject) {
      EXPECT_TRUE(fault::fail_nth_call_of(wait_site, waits, EAGAIN));
    }
    pidfd::async_run(io, child({"pause"}), ro, [&](error_code ec, pidfd::run_result rr) {
      ++calls;
      result = ec;
      r = std::move(rr);
    });
    EXPECT_TRUE(pidfd_test::run_until(io, [&] { return calls > 0; }, 20s));
    fault::disarm();
    unsigned long n = 0;
    for (const auto& s : fault::sites_called())
      if (s.name == wait_site) n += s.calls;
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(result, asio::error::timed_out);
    EXPECT_TRUE(r.status == pidfd_test::killed(SIGTERM) ||
                r.status == pidfd_test::killed(SIGKILL));
    if (inject) {
      EXPECT_EQ(fault::failures(), 1UL);
    }
    return n;
  };
  const unsigned long waits = run_once(false, 0);
  ASSERT_GE(waits, 1UL);
  (void)run_once(true, waits);  // the last wait, the one that reaps, fails
}

// A spawn whose exec failed reaps its child even when the first wait for it fails.
TEST(FaultRegression, SpawnReapsTheChildOfAFailedExecWhenTheWaitFails) {
  const std::string wait_site =
      pidfd::kernel_support().waitid_pidfd ? "waitid(P_PIDFD)" : "waitid(P_PID)";
  pidfd::spawn_options so;
  so.executable = "/dev/null";  // not executable
  reach_sites([&] {
    error_code ec;
    (void)pidfd::spawn(child({"exit", "3"}), so, ec);
  });
  ASSERT_TRUE(fault::fail_nth_call_of(wait_site, 1, EAGAIN));
  error_code ec;
  pid_fd p = pidfd::spawn(child({"exit", "3"}), so, ec);
  fault::disarm();
  EXPECT_EQ(fault::failures(), 1UL);
  EXPECT_EQ(ec, error_code(EACCES, boost::system::system_category()));
  EXPECT_FALSE(p);
  EXPECT_EQ(pidfd_test::child_processes(), std::set<pid_t>{});
}

namespace {

// One async_run with the n-th call of `site` failing with err (n = 0: none).
struct run_outcome {
  int calls = 0;
  error_code ec;
  pidfd::run_result r;
  unsigned long site_calls = 0;  // calls of `site` made during the run
  unsigned long failures = 0;
};

// always: every call of `site` fails with err (n is not used).
run_outcome run_failing(const std::vector<std::string>& argv, const pidfd::run_options& ro,
                        const std::string& site, unsigned long n, int err,
                        bool always = false) {
  asio::io_context io;
  run_outcome out;
  fault::reset();
  if (always) {
    EXPECT_TRUE(fault::always_fail(site, err));
  } else if (n > 0) {
    EXPECT_TRUE(fault::fail_nth_call_of(site, n, err));
  }
  pidfd::async_run(io, argv, ro, [&](error_code ec, pidfd::run_result r) {
    ++out.calls;
    out.ec = ec;
    out.r = std::move(r);
  });
  EXPECT_TRUE(pidfd_test::run_until(io, [&] { return out.calls > 0; }, 20s));
  fault::disarm();
  fault::always_fail_none();
  io.restart();
  io.poll();
  out.failures = fault::failures();
  for (const auto& s : fault::sites_called()) {
    if (s.name != site) continue;
    out.site_calls += s.calls;
    // Every call of it failed on purpose (a site made once per item, which only a test
    // that names it fails): counted as walked.
    if (always) totals().failed.insert(s.name + " (" + s.where + ')');
  }
  return out;
}

// The member of the run's group or cgroup that the child left (its pid on stderr) is
// gone, or going: it is not our child, so PID 1 reaps it.
bool member_ends(const pidfd::run_result& r) {
  const auto member = static_cast<pid_t>(std::strtol(r.err.c_str(), nullptr, 10));
  if (member <= 0) return false;
  error_code ec;
  pid_fd p = pid_fd::open(member, ec);
  return ec || pidfd_test::wait_readable(p.native_handle(), 5s);
}

const std::vector<std::string> leaves_a_member() {
  return child({"fork-detach", "2", "close", "1", "close", "2", "pause"});
}

// A process-group run of a child that leaves a member behind, `site` failed as run_failing
// says.
run_outcome group_run_failing(const std::string& site, unsigned long n, int err,
                              bool always = false) {
  pidfd::run_options ro;
  ro.scope = pidfd::run_scope::process_group;
  return run_failing(leaves_a_member(), ro, site, n, err, always);
}

// The run without a failure: the leftover killed and counted (the baseline of each test).
void group_run_plain(const std::string& site, run_outcome& plain) {
  plain = group_run_failing(site, 0, 0);
  ASSERT_FALSE(plain.ec) << plain.ec.message();
  ASSERT_EQ(plain.r.killed_leftovers, 1U);
  ASSERT_TRUE(member_ends(plain.r));
}

// The run completed once, with the child's status, and the member it left is gone (or
// going), `counted` of it in killed_leftovers.
void expect_leftover_killed(const run_outcome& o, std::size_t counted) {
  EXPECT_EQ(o.calls, 1);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.r.status, pidfd_test::exited(0));
  EXPECT_EQ(o.r.killed_leftovers, counted);
  EXPECT_TRUE(member_ends(o.r));
}

}  // namespace

// The group's leftover is killed with kill(-pgid) when the signal through the leader's
// pidfd fails.
TEST(FaultRegression, AsyncRunKillsTheGroupsLeftoverWhenThePidfdSignalFails) {
  const std::string site = pidfd::kernel_support().signal_scope ? "pidfd_send_signal" : "kill(-pgid)";
  run_outcome plain;
  ASSERT_NO_FATAL_FAILURE(group_run_plain(site, plain));
  ASSERT_GE(plain.site_calls, 1UL);
  // The last signal of the run is the one to the leftovers.
  const run_outcome o = group_run_failing(site, plain.site_calls, EINTR);
  EXPECT_EQ(o.failures, 1UL);
  expect_leftover_killed(o, 1);
}

// The group's leftover is killed when /proc cannot be opened to count the group's members
// (no descriptor left, say): the scan was incomplete, not empty, so the group is signalled
// all the same, and no member is counted as none was seen.
TEST(FaultRegression, AsyncRunKillsTheGroupsLeftoverWhenProcCannotBeOpened) {
  const std::string site = "opendir(/proc)";
  run_outcome plain;
  ASSERT_NO_FATAL_FAILURE(group_run_plain(site, plain));
  ASSERT_EQ(plain.site_calls, 1UL);  // the one scan, after the child's exit
  const run_outcome o = group_run_failing(site, 1, EMFILE);
  EXPECT_EQ(o.failures, 1UL);
  expect_leftover_killed(o, 0);
}

// The same when /proc lists the processes but no process's stat can be opened.
TEST(FaultRegression, AsyncRunKillsTheGroupsLeftoverWhenNoStatCanBeOpened) {
  const std::string site = "openat(/proc/<pid>/stat)";
  run_outcome plain;
  ASSERT_NO_FATAL_FAILURE(group_run_plain(site, plain));
  ASSERT_GE(plain.site_calls, 1UL);  // one per process on the machine but the child
  expect_leftover_killed(group_run_failing(site, 0, ENFILE, true), 0);
}

// A stat that cannot be read makes the scan incomplete too; one read interrupted (EINTR)
// is made again, and the member is counted.
TEST(FaultRegression, AsyncRunKillsTheGroupsLeftoverWhenNoStatCanBeRead) {
  const std::string site = "read(/proc/<pid>/stat)";
  run_outcome plain;
  ASSERT_NO_FATAL_FAILURE(group_run_plain(site, plain));
  expect_leftover_killed(group_run_failing(site, 0, EIO, true), 0);
  const run_outcome retried = group_run_failing(site, 1, EINTR);
  EXPECT_EQ(retried.failures, 1UL);
  expect_leftover_killed(retried, 1);
}

// Output past the limit is read and dropped when splicing it to /dev/null fails: the
// program is not cut off (it would die of SIGPIPE).
TEST(FaultRegression, AsyncRunReadsOutputPastTheLimitWhenSpliceFails) {
  pidfd::run_options ro;
  ro.output_limit = 16;
  const auto argv = child({"spew", "1", "1000000", "exit", "3"});
  const run_outcome plain = run_failing(argv, ro, "splice", 0, 0);
  ASSERT_GE(plain.site_calls, 1UL);
  const run_outcome o = run_failing(argv, ro, "splice", 1, ENOMEM);
  EXPECT_EQ(o.calls, 1);
  EXPECT_EQ(o.failures, 1UL);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.r.status, pidfd_test::exited(3));
  EXPECT_TRUE(o.r.truncated);
  EXPECT_EQ(o.r.out.size(), 16U);
}

// A cgroup scope's leftover member is killed, and the cgroup removed, when cgroup.kill
// cannot be written (each member is signalled instead).
TEST(FaultRegression, AsyncRunKillsTheCgroupsMembersWhenCgroupKillCannotBeWritten) {
  pidfd::run_options ro;
  ro.scope = pidfd::run_scope::cgroup;
  ro.drain = 0s;
  const run_outcome plain = run_failing(leaves_a_member(), ro, "openat(cgroup file, write)", 0, 0);
  if (const error_code expected = cgroup_creation_error()) {
    EXPECT_EQ(plain.ec, expected);  // no writable cgroup v2 here: the clean error
    return;
  }
  ASSERT_FALSE(plain.ec) << plain.ec.message();
  ASSERT_EQ(plain.r.killed_leftovers, 1U);
  ASSERT_EQ(plain.site_calls, 1UL);  // cgroup.kill
  const run_outcome o = run_failing(leaves_a_member(), ro, "openat(cgroup file, write)", 1, EACCES);
  EXPECT_EQ(o.calls, 1);
  EXPECT_EQ(o.failures, 1UL);
  EXPECT_FALSE(o.ec) << o.ec.message();
  EXPECT_EQ(o.r.status, pidfd_test::exited(0));
  EXPECT_EQ(o.r.killed_leftovers, 1U);
  EXPECT_TRUE(member_ends(o.r));
  EXPECT_EQ(pidfd_test::take_leftover_run_cgroups(), std::vector<std::string>{});
}

// A read of cgroup.events that fails once does not end the wait for an empty cgroup: the
// cgroup is removed at the end of the run whichever read fails.
TEST(FaultRegression, AsyncRunRemovesItsCgroupWhenAReadOfItsEventsFails) {
  pidfd::run_options ro;
  ro.scope = pidfd::run_scope::cgroup;
  ro.drain = 0s;
  const std::string site = "pread(cgroup.events)";
  const run_outcome plain = run_failing(leaves_a_member(), ro, site, 0, 0);
  if (const error_code expected = cgroup_creation_error()) {
    EXPECT_EQ(plain.ec, expected);
    return;
  }
  ASSERT_FALSE(plain.ec) << plain.ec.message();
  ASSERT_GE(plain.site_calls, 1UL);
  for (unsigned long n = 1; n <= plain.site_calls; ++n) {
    const run_outcome o = run_failing(leaves_a_member(), ro, site, n, EAGAIN);
    EXPECT_EQ(o.calls, 1) << "read " << n;
    EXPECT_FALSE(o.ec) << "read " << n << ": " << o.ec.message();
    EXPECT_TRUE(member_ends(o.r)) << "read " << n;
    EXPECT_EQ(pidfd_test::take_leftover_run_cgroups(), std::vector<std::string>{}) << "read " << n;
  }
}

namespace {

// The calls of the site named `name` since the last reset().
unsigned long calls_of(const std::string& name) {
  unsigned long n = 0;
  for (const auto& s : fault::sites_called())
    if (s.name == name) n += s.calls;
  return n;
}

}  // namespace

// A cgroup name that exists already (EEXIST from mkdirat) is replaced by a new one; after
// 16 more clashes the creation fails with file_exists, leaving nothing behind.
TEST(FaultRegression, RunCgroupCreateTakesAnotherNameOnAClash) {
  using pidfd::detail::run_cgroup;
  if (const error_code expected = cgroup_creation_error()) {
    error_code ec;
    const run_cgroup c = run_cgroup::create(std::nullopt, ec);
    EXPECT_EQ(ec, expected);
    EXPECT_FALSE(c.is_open());
    return;
  }
  reach_sites([] {
    error_code ec;
    run_cgroup c = run_cgroup::create(std::nullopt, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_FALSE(c.remove());
  });
  error_code ec;
  ASSERT_TRUE(fault::fail_nth_call_of("mkdirat", 1, EEXIST));
  run_cgroup once = run_cgroup::create(std::nullopt, ec);
  fault::disarm();
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(once.is_open());
  EXPECT_EQ(calls_of("mkdirat"), 2UL);
  EXPECT_EQ(fault::failures(), 1UL);
  EXPECT_FALSE(once.remove());

  fault::reset();
  ASSERT_TRUE(fault::always_fail("mkdirat", EEXIST));
  const run_cgroup never = run_cgroup::create(std::nullopt, ec);
  fault::always_fail_none();
  EXPECT_EQ(ec, boost::system::errc::file_exists);
  EXPECT_FALSE(never.is_open());
  EXPECT_EQ(calls_of("mkdirat"), 17UL);
  EXPECT_EQ(pidfd_test::take_leftover_run_cgroups(), std::vector<std::string>{});
}

// A run cgroup for a test; where none can be made here, nullopt once create() is seen to
// fail with the error this machine gives (the test has nothing more to check then).
std::optional<pidfd::detail::run_cgroup> run_cgroup_here() {
  using pidfd::detail::run_cgroup;
  error_code ec;
  if (const error_code expected = cgroup_creation_error()) {
    const run_cgroup none = run_cgroup::create(std::nullopt, ec);
    EXPECT_EQ(ec, expected);
    EXPECT_FALSE(none.is_open());
    return std::nullopt;
  }
  run_cgroup cg = run_cgroup::create(std::nullopt, ec);
  EXPECT_FALSE(ec) << ec.message();
  if (ec) return std::nullopt;
  return cg;
}

// signal_all() on a cgroup with one member: a member whose pidfd cannot be opened because
// it is gone (ESRCH) or whose signal finds it gone is skipped; any other error ends the
// call with it; a listing that fails is reported before anything is signalled.
TEST(FaultRegression, RunCgroupSignalAllSkipsTheGoneAndReportsTheRest) {
  std::optional<pidfd::detail::run_cgroup> made = run_cgroup_here();
  if (!made) return;
  pidfd::detail::run_cgroup& cg = *made;
  error_code ec;
  pidfd::spawn_options o;
  o.cgroup_fd = cg.native_handle();
  pid_fd member = pidfd::spawn(child({"pause"}), o, ec);
  ASSERT_FALSE(ec) << ec.message();
  reach_sites([&] { EXPECT_EQ(cg.signal_all(0, ec), 1U); });
  const auto os = [](int e) { return error_code(e, boost::system::system_category()); };
  struct failing {
    const char* site;
    unsigned long n;
    int err;
    std::size_t signalled;
    error_code ec;
  };
  const failing cases[] = {
      {"pidfd_open", 1, ESRCH, 0, {}},
      {"pidfd_open", 1, EMFILE, 0, os(EMFILE)},
      {"pidfd_send_signal", 1, ESRCH, 0, {}},
      {"pidfd_send_signal", 1, EPERM, 0, os(EPERM)},
      {"openat(cgroup file, read)", 1, EACCES, 0, os(EACCES)},  // the listing before
      {"openat(cgroup file, read)", 2, EACCES, 0, os(EACCES)},  // the listing after
  };
  for (const failing& c : cases) {
    fault::reset();
    ASSERT_TRUE(fault::fail_nth_call_of(c.site, c.n, c.err)) << c.site;
    ec = os(EINVAL);
    const std::size_t signalled = cg.signal_all(0, ec);
    fault::disarm();
    EXPECT_EQ(fault::failures(), 1UL) << c.site << ' ' << c.n;
    EXPECT_EQ(signalled, c.signalled) << c.site << ' ' << c.n << ' ' << c.err;
    EXPECT_EQ(ec, c.ec) << c.site << ' ' << c.n << ' ' << c.err;
  }
  EXPECT_EQ(cg.signal_all(SIGKILL, ec), 1U);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(pidfd_test::bounded_wait(member), pidfd_test::killed(SIGKILL));
  member.close();
  EXPECT_FALSE(cg.remove());
}

// members() with a cgroup below the run's: one that vanishes between the listing and its
// opening (ENOENT), or whose cgroup.procs is gone (ENOENT, or ENODEV once removed), has no
// members; any other error is the call's.
TEST(FaultRegression, RunCgroupMembersSkipACgroupBelowThatVanished) {
  std::optional<pidfd::detail::run_cgroup> made = run_cgroup_here();
  if (!made) return;
  pidfd::detail::run_cgroup& cg = *made;
  error_code ec;
  ASSERT_EQ(::mkdirat(cg.native_handle(), "below", 0755), 0);
  reach_sites([&] { EXPECT_EQ(cg.members(ec), std::vector<pid_t>{}); });
  const auto os = [](int e) { return error_code(e, boost::system::system_category()); };
  struct failing {
    const char* site;
    unsigned long n;
    int err;
    error_code ec;
  };
  const failing cases[] = {
      {"openat(cgroup below)", 1, ENOENT, {}},
      {"openat(cgroup below)", 1, EACCES, os(EACCES)},
      {"openat(cgroup file, read)", 2, ENOENT, {}},  // the one below's cgroup.procs
      {"openat(cgroup file, read)", 2, ENODEV, {}},
      {"openat(cgroup file, read)", 2, EACCES, os(EACCES)},
  };
  for (const failing& c : cases) {
    // for_each_cgroup() is a template: the site that members() calls is the one to fail.
    fault::reset();
    (void)cg.members(ec);
    ASSERT_TRUE(fault::fail_nth_call_of_called(c.site, c.n, c.err)) << c.site;
    ec = os(EINVAL);
    const std::vector<pid_t> members = cg.members(ec);
    fault::disarm();
    EXPECT_EQ(fault::failures(), 1UL) << c.site << ' ' << c.n << ' ' << c.err;
    EXPECT_EQ(members, std::vector<pid_t>{}) << c.site << ' ' << c.n << ' ' << c.err;
    EXPECT_EQ(ec, c.ec) << c.site << ' ' << c.n << ' ' << c.err;
  }
  EXPECT_FALSE(cg.remove());
  EXPECT_EQ(pidfd_test::take_leftover_run_cgroups(), std::vector<std::string>{});
}

// SO_PEERPIDFD and SO_PASSPIDFD refused at call time although the probe found them (a
// seccomp profile, say, answering "unknown option"): operation_not_supported, as on a
// kernel without them.
TEST(FaultRegression, PidfdSocketOptionsRefusedAtCallTimeAreNotSupported) {
  asio::io_context io;
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  error_code ec;
  if (!pidfd::kernel_support().peer_pidfd) {
    EXPECT_FALSE(pidfd::peer_pidfd(a, ec));
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    return;
  }
  reach_sites([&] {
    EXPECT_TRUE(pidfd::peer_pidfd(a, ec));
    pidfd::enable_sender_pidfd(b, ec);
    EXPECT_FALSE(ec) << ec.message();
  });
  for (int e : {ENOPROTOOPT, EOPNOTSUPP, ENOSYS}) {
    fault::reset();
    ASSERT_TRUE(fault::fail_nth_call_of("getsockopt", 1, e));
    const pid_fd p = pidfd::peer_pidfd(a, ec);
    fault::disarm();
    EXPECT_EQ(fault::failures(), 1UL) << e;
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported) << e;
    EXPECT_FALSE(p) << e;
    fault::reset();
    ASSERT_TRUE(fault::fail_nth_call_of("setsockopt", 1, e));
    pidfd::enable_sender_pidfd(b, ec);
    fault::disarm();
    EXPECT_EQ(fault::failures(), 1UL) << e;
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported) << e;
  }
}

// ---------------------------------------------------------------------------------------
// The kernel probe: once per process, so each run is a process of its own

namespace {

// One run in a child process: FAULT_PROBE_FAIL="N ERRNO" fails its N-th call (0: none) and
// the file FAULT_WALK_REPORT gets the site failed and the number of calls made.
// FAULT_PROBE_OP says what runs: "probe", the kernel probe (which never fails: a feature
// whose probing failed is reported absent); "info", pid_fd::info() on a kernel made to
// lack PIDFD_GET_INFO (its first use reads /proc/self/mountinfo once per process). The
// suite's checks after the test find any descriptor or child left behind.
TEST(InChildFaultProbe, Run) {
  const char* spec = std::getenv("FAULT_PROBE_FAIL");
  const char* op = std::getenv("FAULT_PROBE_OP");
  ASSERT_NE(spec, nullptr);
  ASSERT_NE(op, nullptr);
  // "<n> <errno>": fail the n-th call with that errno.
  char* end = nullptr;
  const unsigned long n = std::strtoul(spec, &end, 10);
  ASSERT_EQ(*end, ' ') << spec;
  const int e = static_cast<int>(std::strtol(end + 1, &end, 10));
  ASSERT_EQ(*end, '\0') << spec;
  const bool probe = std::string(op) == "probe";
  pid_fd self;
  if (!probe) {
    (void)pidfd::kernel_support();
    self = pid_fd::self();
  }
  fault::reset();
  if (n > 0) fault::fail_nth_call(n, e);
  error_code ec;
  if (probe) {
    const pidfd::kernel_features& f = pidfd::kernel_support();
    // Without a failure the probe finds what the kernel has: pidfd_open since 5.3.
    if (n == 0) {
      EXPECT_TRUE(f.pidfd_open);
    }
  } else {
    const pidfd::process_info i = self.info(ec);
    if (!ec) {
      EXPECT_EQ(i.pid, ::getpid());
    }
  }
  fault::disarm();
  if (n > 0) {
    EXPECT_EQ(fault::failures(), 1UL);
    if (ec) {
      EXPECT_EQ(ec.value(), e) << ec.message();
    }
    totals().failed.insert(fault::last_failed());
    totals().runs = 1;
  } else {
    EXPECT_FALSE(ec) << ec.message();
  }
  report_to_parent();
  std::ofstream(std::getenv("FAULT_WALK_REPORT"), std::ios::app)
      << "calls " << fault::calls() << '\n';
}

}  // namespace

// Walks of what runs once per process, each run a process of its own: the kernel probe
// (again where process_madvise fails with EPERM, which it checks against our
// capabilities), and the first pid_fd::info() through /proc.
TEST(FaultWalk, OncePerProcess) {
  struct config {
    const char* label;
    const char* op;
    unsigned rules;
    std::vector<std::string> env;
  };
  const config configs[] = {
      {"kernel probe", "probe", 0, {}},
      {"kernel probe (process_madvise: EPERM)", "probe", pidfd_test::deny_madvise_eperm, {}},
      {"pid_fd::info from /proc", "info", 0, {"ASIO_PIDFD_PRETEND_MISSING=get_info"}},
  };
  for (const config& c : configs) {
    auto run = [&](unsigned long n, int e) {
      char path[] = "/tmp/asio-pidfd-fault-probe-XXXXXX";
      const int fd = ::mkstemp(path);
      EXPECT_GE(fd, 0);
      ::close(fd);
      std::vector<std::string> env = c.env;
      env.push_back("FAULT_PROBE_FAIL=" + std::to_string(n) + ' ' + std::to_string(e));
      env.push_back(std::string("FAULT_PROBE_OP=") + c.op);
      env.push_back(std::string("FAULT_WALK_REPORT=") + path);
      const int rc = pidfd_test::run_suite_in_child("InChildFaultProbe.Run", c.rules, env);
      EXPECT_EQ(rc, 0) << c.label << ": failing call " << n << " with " << e;
      unsigned long calls = 0;
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("calls ", 0) == 0)
          calls = std::stoul(line.substr(6));
        else if (line.rfind("runs ", 0) == 0)
          totals().runs += std::stoul(line.substr(5));
        else if (!line.empty())
          totals().failed.insert(line);
      }
      ::unlink(path);
      return calls;
    };
    const unsigned long calls = run(0, 0);
    ASSERT_GT(calls, 0UL) << c.label;
    for (int e : injected_errnos())
      for (unsigned long n = 1; n <= calls; ++n) {
        (void)run(n, e);
        if (::testing::Test::HasFailure()) return;
      }
    std::printf("[ fault    ] %s: %lu calls, %zu runs, each a process; so far %zu sites "
                "failed, %lu runs\n",
                c.label, calls, injected_errnos().size() * calls, totals().failed.size(),
                totals().runs);
  }
}

// ---------------------------------------------------------------------------------------
// Every site of the library failed by some walk above (this test runs after them)

namespace {

// A raw system call's name in lib/spawn_child.cpp and its number.
long raw_number(const std::string& name) {
  static const std::map<std::string, long> numbers = {
      {"detail::k_sys_close_range", pidfd::detail::k_sys_close_range},
      {"detail::k_sys_clone3", pidfd::detail::k_sys_clone3},
      {"SYS_unshare", SYS_unshare},
      {"SYS_prlimit64", SYS_prlimit64},
      {"SYS_close", SYS_close},
      {"SYS_rt_sigaction", SYS_rt_sigaction},
      {"SYS_rt_sigprocmask", SYS_rt_sigprocmask},
      {"SYS_setgroups", SYS_setgroups},
      {"SYS_setresgid", SYS_setresgid},
      {"SYS_setresuid", SYS_setresuid},
      {"SYS_umask", SYS_umask},
      {"SYS_prctl", SYS_prctl},
      {"SYS_ioctl", SYS_ioctl},
      {"SYS_setsid", SYS_setsid},
      {"SYS_setpgid", SYS_setpgid},
      {"SYS_chdir", SYS_chdir},
      {"SYS_fcntl", SYS_fcntl},
      {"SYS_dup3", SYS_dup3},
      {"SYS_execve", SYS_execve},
      {"SYS_exit_group", SYS_exit_group},
  };
  const auto it = numbers.find(name);
  return it == numbers.end() ? -1 : it->second;
}

std::string read_source(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(FaultWalkSites, EverySiteOfTheLibraryIsFailed) {
  namespace fs = std::filesystem;
  const fs::path lib = fs::path(ASIO_PIDFD_SOURCE_DIR) / "lib";
  // What the walks failed: "name (path:line)" or "syscall N".
  std::map<std::pair<std::string, std::string>, std::set<std::string>> failed_named;
  std::set<long> failed_raw;
  const std::regex named_failed(R"(^(.*) \((.*):([0-9]+)\)$)");
  for (const std::string& f : totals().failed) {
    std::smatch m;
    if (f.rfind("syscall ", 0) == 0)
      failed_raw.insert(std::stol(f.substr(8)));
    else if (std::regex_match(f, m, named_failed))
      failed_named[{m[1].str(), fs::path(m[2].str()).filename().string()}].insert(m[3].str());
  }
  // The sites in the sources: PIDFD_FAULT("name", ...) in every file of lib/, and the raw
  // system calls of the child side.
  // PIDFD_FAULT_EACH: a site made once per item, failed by the regression tests that name
  // it (run_failing with `always`).
  const std::regex named_site(R"re(PIDFD_FAULT(?:_EACH)?\(\s*"([^"]+)")re");
  const std::regex raw_site(R"re((?:raw_syscall|PIDFD_FAULT_RAW_CALL)\(\s*((?:SYS_|detail::k_sys_)\w+))re");
  std::size_t sites = 0;
  for (const auto& entry : fs::directory_iterator(lib)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("fault.", 0) == 0) continue;
    const std::string text = read_source(entry.path());
    std::map<std::string, std::size_t> count;
    for (std::sregex_iterator i(text.begin(), text.end(), named_site), end; i != end; ++i)
      ++count[(*i)[1].str()];
    for (const auto& [name, n] : count) {
      sites += n;
      // is_pidfd() reads the link of an anonymous inode only before pidfs (6.9).
      if (name == "readlink" && file == "local_socket.cpp" && pidfd::kernel_support().pidfs)
        continue;
      const std::size_t walked = failed_named[{name, file}].size();
      EXPECT_EQ(walked, n) << name << " in lib/" << file << ": " << n
                           << " site(s), failed by the walk at " << walked << " of them";
    }
    for (std::sregex_iterator i(text.begin(), text.end(), raw_site), end; i != end; ++i) {
      const std::string name = (*i)[1].str();
      const long nr = raw_number(name);
      ++sites;
      EXPECT_GE(nr, 0) << name << " in lib/" << file << ": a raw call this test does not know";
      EXPECT_TRUE(failed_raw.count(nr)) << name << " (" << nr << ") in lib/" << file
                                        << ": never failed by the walk";
    }
  }
  EXPECT_GT(sites, 60U);
  std::printf("[ fault    ] %zu sites in lib/; the walks failed %zu distinct sites in %lu runs\n",
              sites, totals().failed.size(), totals().runs);
}
