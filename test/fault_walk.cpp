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
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
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
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace fault = pidfd_test::fault;
using pidfd::error_code;
using pidfd::pid_fd;
using pidfd_test::child_path;
using namespace std::chrono_literals;

// The errnos injected at every call.
constexpr int injected_errnos[] = {EINTR, EAGAIN, ENOMEM, EMFILE, ENFILE, EPERM, ENOSPC};

// Our children, running or unreaped (each thread lists the children it forked).
std::set<pid_t> children() {
  std::set<pid_t> out;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    pid_t p;
    while (in >> p) out.insert(p);
  }
  return out;
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
  unsigned long runs = 0;
};
walk_totals& totals() {
  static walk_totals t;
  return t;
}

// The walk over one operation. Returns nothing; every finding is a gtest failure naming
// the call, the errno and what went wrong.
void walk(const std::string& label, const factory& make) {
  // The kernel probe runs once per process and its result is cached: made here, its calls
  // are not counted as the operation's (lib/kernel.cpp has no fault sites).
  (void)pidfd::kernel_support();
  std::vector<fault::site_calls> sites;
  unsigned long calls = 0;
  {
    auto op = make();
    op->prepare();
    fault::reset();
    const outcome o = op->run();
    calls = fault::calls();
    sites = fault::sites_called();
    const std::string late = op->cleanup();
    ASSERT_EQ(late, "") << label << ": the run without a failure";
    ASSERT_EQ(o.handler_calls, 1) << label << ": the run without a failure";
    ASSERT_FALSE(o.ec) << label << ": the run without a failure: " << o.ec.message();
    ASSERT_EQ(o.wrong, "") << label;
    ASSERT_GT(calls, 0UL) << label << " made no system call through the library";
  }
  unsigned long reached = 0, runs = 0, retried_or_fell_back = 0;
  for (const auto& s : sites) totals().sites.insert(s.name + " @ " + s.where);
  for (int e : injected_errnos) {
    for (unsigned long n = 1; n <= calls; ++n) {
      const std::set<int> fds_before = pidfd_test::open_fds();
      auto op = make();
      op->prepare();
      fault::reset();
      fault::fail_nth_call(n, e);
      const outcome o = op->run();
      fault::disarm();
      const unsigned long failed = fault::failures();
      const std::string site = fault::last_failed();
      const std::string late = o.ec ? std::string() : op->cleanup();
      if (o.ec) (void)op->cleanup();
      const bool other_legal = o.ec && op->also_legal(o.ec, e);
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
      std::set<int> leaked;
      for (int fd : pidfd_test::open_fds())
        if (!fds_before.count(fd)) leaked.insert(fd);
      if (!leaked.empty()) {
        ADD_FAILURE() << what << ": leaked " << leaked.size() << " descriptor(s)";
        for (int fd : leaked) ::close(fd);
      }
      const std::set<pid_t> kids = children();
      if (!kids.empty()) {
        ADD_FAILURE() << what << ": left " << kids.size() << " child process(es)";
        for (pid_t p : kids) {
          ::kill(p, SIGKILL);
          ::waitpid(p, nullptr, __WALL);
        }
      }
      if (::testing::Test::HasFailure()) return;  // one finding per operation is enough
    }
  }
  totals().runs += runs;
  std::printf("[ fault    ] %s: %zu sites, %lu calls, %lu runs (%lu reached the call; %lu of "
              "those succeeded after all); so far %zu sites, %lu runs\n",
              label.c_str(), sites.size(), calls, runs, reached, retried_or_fell_back,
              totals().sites.size(), totals().runs);
  for (const auto& s : sites)
    std::printf("[ fault    ]   %6lu x %s @ %s\n", s.calls, s.name.c_str(), s.where.c_str());
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
    pidfd::async_run(io_, std::move(argv), std::move(ro),
                     [&](error_code ec, pidfd::run_result r) {
                       ++o.handler_calls;
                       o.ec = ec;
                       result_ = std::move(r);
                     });
    if (!pidfd_test::run_until(io_, [&] { return o.handler_calls > 0; }, 20s))
      o.wrong = "no completion within 20 s";
    io_.restart();
    io_.poll();  // a second completion would run here
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
  explicit receive_op(bool async) : async_(async) {}
  void prepare() override {
    asio::local::connect_pair(a_, b_);
    pidfd::send_pidfd(a_, pid_fd::self());
  }
  outcome run() override {
    outcome o;
    if (async_) {
      pidfd::async_receive_pidfd(b_, [&](error_code ec, pid_fd p) {
        ++o.handler_calls;
        o.ec = ec;
        got_ = std::move(p);
      });
      if (!pidfd_test::run_until(io_, [&] { return o.handler_calls > 0; }, 20s))
        o.wrong = "no completion within 20 s";
      io_.restart();
      io_.poll();
    } else {
      got_ = pidfd::receive_pidfd(b_, o.ec);
      o.handler_calls = 1;
    }
    if (!o.ec && !got_) o.wrong = "no error and no pidfd";
    return o;
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
  bool async_;
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

factory query(query_op::query q) {
  return [q] { return std::make_unique<query_op>(q); };
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
  EXPECT_EQ(pidfd_test::run_suite_in_child("FaultWalk.Spawn:FaultWalk.SpawnEveryOption",
                                           pidfd_test::deny_clone3),
            0);
}

TEST(FaultWalk, SpawnWithPidfdOpen) {
  EXPECT_EQ(pidfd_test::run_suite_in_child(
                "FaultWalk.Spawn:FaultWalk.SpawnEveryOption",
                pidfd_test::deny_clone3 | pidfd_test::deny_clone_pidfd),
            0);
}

// async_run's scopes on this version: the child alone, and (with process_group = 0) its
// process group, which the timeout signals as a whole. Scopes added later (a cgroup, ...)
// are one more run_op configuration here.
TEST(FaultWalk, AsyncRun) {
  walk("async_run", [] { return std::make_unique<run_op>(false); });
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
  walk("receive_pidfd", [] { return std::make_unique<receive_op>(false); });
}

TEST(FaultWalk, AsyncReceivePidfd) {
  walk("async_receive_pidfd", [] { return std::make_unique<receive_op>(true); });
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
  EXPECT_EQ(fault::fail_nth_call_of("ioctl(PIDFD_GET_INFO)", 1, ENOMEM), get_info);
  pid_fd p = adopt();
  fault::disarm();
  EXPECT_EQ(fault::failures(), get_info ? 1UL : 0UL);
  error_code ec;
  EXPECT_EQ(p.pid(ec), ::getpid());
  EXPECT_FALSE(ec) << ec.message();
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
