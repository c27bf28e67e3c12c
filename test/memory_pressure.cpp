// Memory pressure from the kernel: spawn, async_run and pidfd receiving in a process whose
// cgroup v2 memory.max is below what the cgroup already uses, so that every new charge to
// it fails. Each test forks a worker, moves it into a cgroup of its own, lets it make every
// allocation it needs in user space (a first, unlimited round of the same operation), then
// lowers memory.max and has it run the operation again: that must fail with a clear
// error_code and leave nothing behind; once memory.max is "max" again the same call must
// work.
//
// Why the worker is not OOM-killed: its oom_score_adj is -1000, so the memory controller's
// OOM killer finds no victim in the cgroup and the kernel allocation that could not be
// charged fails with ENOMEM instead (memory.events then counts "oom" but no "oom_kill",
// which every test checks). A page fault that cannot be charged has no error to return
// (the kernel retries it), so the worker touches no new user memory while limited: its
// mappings are populated and locked (mlockall) before the limit, it reports through a
// shared page and eventfds (a pipe write would need a new pipe buffer page), and anything
// that needs a message or a string waits until the limit is lifted.
//
// The machine the suite usually runs on has no memory controller in its cgroup v2 (a
// hybrid layout), so these tests exist only where ASIO_PIDFD_TEST_MEMORY_PRESSURE=1 is
// set: .ci/old-kernels.sh sets it in the 6.1 and 6.12 guests, which mount cgroup2 with
// the memory controller and run the suite as root. Where it is set and the controller
// cannot be used, the tests fail and say why.
#include "support.hpp"

#include <pidfd/detail/cgroup.hpp>
#include <pidfd/detail/linux.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace pidfd_test;
using pidfd::error_code;

// --- files ------------------------------------------------------------------------------

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Writes text to a cgroup file in one write(); the errno, or 0.
int write_text(const std::filesystem::path& p, const std::string& text) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int e = n < 0 ? errno : 0;
  ::close(fd);
  return e;
}

// The value of `key` in a "key value" per line file (memory.events), -1 if absent.
long keyed(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  long v;
  while (in >> k >> v)
    if (k == key) return v;
  return -1;
}

// --- the cgroup -------------------------------------------------------------------------

// A cgroup for one worker, below our own cgroup v2 directory, with the memory controller
// enabled for it; removed (after its processes are gone) by the destructor.
class memory_cgroup {
public:
  memory_cgroup() {
    error_code ec;
    const std::filesystem::path own = pidfd::detail::own_cgroup_directory(ec);
    if (ec) {
      error_ = "no cgroup v2 directory of our own: " + ec.message();
      return;
    }
    if (read_text(own / "cgroup.controllers").find("memory") == std::string::npos) {
      error_ = own.string() + " offers no memory controller";
      return;
    }
    if (read_text(own / "cgroup.subtree_control").find("memory") == std::string::npos) {
      if (int e = write_text(own / "cgroup.subtree_control", "+memory")) {
        error_ = "cannot enable the memory controller in " + own.string() + ": " +
                 std::strerror(e);
        return;
      }
    }
    static int serial = 0;
    dir_ = own / ("asio-pidfd-memory-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(++serial));
    if (::mkdir(dir_.c_str(), 0755) != 0) {
      error_ = "mkdir " + dir_.string() + ": " + std::strerror(errno);
      dir_.clear();
    }
  }
  ~memory_cgroup() {
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  memory_cgroup(const memory_cgroup&) = delete;
  memory_cgroup& operator=(const memory_cgroup&) = delete;

  const std::string& error() const { return error_; }
  const std::filesystem::path& dir() const { return dir_; }
  int add(pid_t pid) const { return write_text(dir_ / "cgroup.procs", std::to_string(pid)); }
  int set_max(const std::string& value) const { return write_text(dir_ / "memory.max", value); }
  long current() const {
    return std::strtol(read_text(dir_ / "memory.current").c_str(), nullptr, 10);
  }
  long events(const std::string& key) const { return keyed(read_text(dir_ / "memory.events"), key); }
  // Child cgroups left in it (a run cgroup of run_scope::cgroup that was not removed).
  std::vector<std::string> children() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      if (e.is_directory()) out.push_back(e.path().filename().string());
    return out;
  }

private:
  std::filesystem::path dir_;
  std::string error_;
};

// --- the worker -------------------------------------------------------------------------

// What the worker reports, in a shared page: the error codes as numbers and category
// names (copying them allocates nothing), the rest as text written after the lift.
struct report {
  int prepared = 0;               // 1 once the unlimited round worked
  int limited_value = -1;         // the error under the limit
  char limited_category[32] = {};
  int lifted_value = -1;          // the error of the same call after the lift
  char lifted_category[32] = {};
  int fds_leaked_by_failure = -1;       // fds open after the failure, not before it
  int children_after_failure = -1;      // children (running or zombie) after the failure
  int fds_leaked_by_success = -1;
  int children_after_success = -1;
  char text[1024] = {};           // free text: details, or what went wrong
};

void record(const error_code& ec, int& value, char (&category)[32]) {
  value = ec.value();
  std::strncpy(category, ec.category().name(), sizeof category - 1);
}

// One operation, run three times in the worker: unlimited (prepare), limited, lifted.
struct operation {
  // In the worker, before the limit: set up (io_context, sockets, ...) and run the
  // operation once; a non-empty string is a failure.
  std::function<std::string()> prepare;
  // In the worker: the operation; its error (empty on success). `limited` tells which run.
  std::function<error_code(bool limited)> attempt;
  // In the worker, the last step before the limit (after the worker listed its fds):
  // descriptors it opens, which count as open before the limit; text on failure.
  std::function<std::string(std::vector<int>& opened)> last = [](std::vector<int>&) {
    return std::string();
  };
  // In the worker after the lifted run (closing what prepare made); text for the report.
  std::function<std::string()> finish = [] { return std::string(); };
  // In the parent, before the worker's step 0 (prepare), 1 (limited), 2 (lifted).
  std::function<void(int step)> parent_step = [](int) {};
};

// Our children, running or zombie (each thread lists the children it forked).
int count_children() {
  int n = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(t.path() / "children");
    pid_t p;
    while (in >> p) ++n;
  }
  return n;
}

int count_new(const std::set<int>& before, const std::set<int>& now) {
  int n = 0;
  for (int fd : now) n += before.count(fd) == 0;
  return n;
}

void signal_event(int efd) {
  const std::uint64_t one = 1;
  (void)!::write(efd, &one, sizeof one);
}

// Waits (bounded) for the other side's signal on an eventfd. Allocates nothing.
bool wait_event(int efd) {
  pollfd p{efd, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, static_cast<int>(wait_bound.count()));
  while (r < 0 && errno == EINTR);
  if (r <= 0) return false;
  std::uint64_t v;
  return ::read(efd, &v, sizeof v) == static_cast<ssize_t>(sizeof v);
}

// Grows the stack now, so that the limited run does not fault in new stack pages.
[[gnu::noinline]] void touch_stack() {
  volatile char area[256 * 1024];
  for (std::size_t k = 0; k < sizeof area; k += 4096) area[k] = 1;
}

[[noreturn]] void worker_main(operation& op, report* r, int to_worker, int to_parent) {
  auto fail = [&](const std::string& why) {
    (void)std::snprintf(r->text, sizeof r->text, "%s", why.c_str());
    signal_event(to_parent);
    ::_exit(1);
  };
  if (!wait_event(to_worker)) fail("no start from the parent");  // we are in the cgroup now
  if (write_text("/proc/self/oom_score_adj", "-1000") != 0)
    fail(std::string("oom_score_adj: ") + std::strerror(errno));
  touch_stack();
  std::string why = op.prepare();
  if (!why.empty()) fail("unlimited round: " + why);
  std::set<int> fds_before = open_fds();
  std::vector<int> opened;
  why = op.last(opened);
  if (!why.empty()) fail("before the limit: " + why);
  fds_before.insert(opened.begin(), opened.end());
  if (::mlockall(MCL_CURRENT) != 0) fail(std::string("mlockall: ") + std::strerror(errno));
  r->prepared = 1;
  signal_event(to_parent);

  if (!wait_event(to_worker)) fail("no signal that the limit is set");
  const error_code limited = op.attempt(true);
  record(limited, r->limited_value, r->limited_category);
  signal_event(to_parent);

  if (!wait_event(to_worker)) fail("no signal that the limit is lifted");
  ::munlockall();
  r->fds_leaked_by_failure = count_new(fds_before, open_fds());
  r->children_after_failure = count_children();
  const error_code lifted = op.attempt(false);
  record(lifted, r->lifted_value, r->lifted_category);
  why = op.finish();
  r->fds_leaked_by_success = count_new(fds_before, open_fds());
  r->children_after_success = count_children();
  (void)std::snprintf(r->text, sizeof r->text, "limited: %s; lifted: %s%s%s",
                limited.message().c_str(), lifted.message().c_str(), why.empty() ? "" : "; ",
                why.c_str());
  signal_event(to_parent);
  ::_exit(0);
}

// What a run of one operation under memory pressure gave.
struct outcome {
  bool ran = false;           // the worker could be set up at all
  report r;
  long current_at_limit = 0;  // memory.current just before the limit was set
  long max = 0;               // the memory.max set
  long oom_events = 0;        // memory.events "oom": charges that found no victim
  long oom_kills = 0;         // memory.events "oom_kill"
  std::vector<std::string> cgroups_left;
  int worker_status = -1;
};

// Leads the worker `pid` through its runs (prepared, limited, lifted); a step that goes
// wrong is reported, the limit lifted and the worker killed.
void drive_worker(operation& op, const memory_cgroup& cg, pid_t pid, const report& r,
                  int to_worker, int to_parent, outcome& o) {
  auto fail = [&](const std::string& why) {
    ADD_FAILURE() << why << " (worker says: " << r.text << ")";
    (void)cg.set_max("max");
    ::kill(pid, SIGKILL);
  };
  if (cg.add(pid) != 0) return fail("cannot move the worker into " + cg.dir().string());
  signal_event(to_worker);
  if (!wait_event(to_parent) || r.prepared != 1) return fail("worker not ready");
  o.current_at_limit = cg.current();
  o.max = o.current_at_limit / 2 / 4096 * 4096;
  EXPECT_EQ(cg.set_max(std::to_string(o.max)), 0);
  op.parent_step(1);
  signal_event(to_worker);
  if (!wait_event(to_parent)) return fail("the limited run did not finish");
  EXPECT_EQ(cg.set_max("max"), 0);
  op.parent_step(2);
  signal_event(to_worker);
  if (!wait_event(to_parent)) return fail("the lifted run did not finish");
}

// Runs `op` in a worker in a cgroup of its own; the limited run has memory.max set to
// half of what the cgroup uses once the worker is ready (every new charge must reclaim,
// and there is nothing it may reclaim: no swap, no file pages of its own).
outcome run_under_pressure(operation& op) {
  outcome o;
  memory_cgroup cg;
  if (!cg.error().empty()) {
    ADD_FAILURE() << "ASIO_PIDFD_TEST_MEMORY_PRESSURE is set but: " << cg.error();
    return o;
  }
  // The probe runs here, not under the limit in the worker.
  (void)pidfd::kernel_support();
  void* page = ::mmap(nullptr, sizeof(report), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    ADD_FAILURE() << "mmap: " << std::strerror(errno);
    return o;
  }
  report* r = new (page) report;
  const pidfd::unique_fd to_worker(::eventfd(0, EFD_CLOEXEC));
  const pidfd::unique_fd to_parent(::eventfd(0, EFD_CLOEXEC));
  op.parent_step(0);
  const pid_t pid = ::fork();
  if (pid == 0) worker_main(op, r, to_worker.get(), to_parent.get());
  EXPECT_GT(pid, 0) << std::strerror(errno);
  if (pid > 0) drive_worker(op, cg, pid, *r, to_worker.get(), to_parent.get(), o);
  if (pid > 0) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    o.worker_status = status;
  }
  o.ran = true;
  o.r = *r;
  ::munmap(page, sizeof(report));
  if (!cg.dir().empty()) {
    o.oom_events = cg.events("oom");
    o.oom_kills = cg.events("oom_kill");
    o.cgroups_left = cg.children();
  }
  return o;
}

// The checks every operation shares: a clean failure, nothing left, success after the
// lift, no process killed.
void expect_clean(const outcome& o) {
  ASSERT_TRUE(o.ran);
  EXPECT_EQ(o.worker_status, 0) << o.r.text;
  EXPECT_EQ(o.r.prepared, 1) << o.r.text;
  EXPECT_EQ(o.r.fds_leaked_by_failure, 0) << o.r.text;
  EXPECT_EQ(o.r.children_after_failure, 0) << o.r.text;
  EXPECT_EQ(o.r.lifted_value, 0) << o.r.lifted_category << ": " << o.r.text;
  EXPECT_EQ(o.r.fds_leaked_by_success, 0) << o.r.text;
  EXPECT_EQ(o.r.children_after_success, 0) << o.r.text;
  EXPECT_EQ(o.oom_kills, 0);
  EXPECT_GE(o.oom_events, 1) << "the limit was never reached";
  EXPECT_TRUE(o.cgroups_left.empty()) << o.cgroups_left.front();
  std::printf("[ memory   ] memory.current %ld, memory.max %ld: %s %d (%s); oom events %ld\n",
              o.current_at_limit, o.max, o.r.limited_category, o.r.limited_value, o.r.text,
              o.oom_events);
}

bool is_system(const report& r) { return std::string(r.limited_category) == "system"; }

// --- the tests ----------------------------------------------------------------------------

// spawn(): the clone's allocations (task, kernel stack, descriptor table) fail.
void spawn_fails_with_enomem_and_works_after_the_lift() {
  auto p = std::make_shared<pidfd::pid_fd>();
  operation op;
  op.attempt = [p](bool) {
    error_code ec;
    *p = pidfd::spawn({child_path(), "exit", "7"}, {}, ec);
    if (ec) return ec;
    const pidfd::exit_status s = bounded_wait(*p);
    p->close();
    return s == exited(7) ? error_code() : pidfd::detail::errno_code(EPROTO);
  };
  op.prepare = [op] {
    const error_code ec = op.attempt(false);
    return ec ? ec.message() : std::string();
  };
  const outcome o = run_under_pressure(op);
  expect_clean(o);
  // ENOMEM from the clone or the exec; EAGAIN is what fork() would give for a task limit.
  EXPECT_TRUE(is_system(o.r)) << o.r.limited_category;
  EXPECT_EQ(o.r.limited_value, ENOMEM) << o.r.text;
}

// async_run() with its output captured (pipes) or not, in the caller's scope or in a run
// cgroup of its own (made below the worker's limited cgroup).
void async_run_fails_with_enomem_and_works_after_the_lift(bool capture, pidfd::run_scope scope) {
  auto io = std::make_shared<boost::asio::io_context>();
  operation op;
  op.attempt = [io, capture, scope](bool) {
    pidfd::run_options options;
    options.capture_stdout = capture;
    options.capture_stderr = capture;
    options.scope = scope;
    error_code got = pidfd::detail::errno_code(EINPROGRESS);
    pidfd::exit_status status;
    try {
      pidfd::async_run(*io, {child_path(), "exit", "7"}, std::move(options),
                       [&](error_code e, const pidfd::run_result& r) {
                         got = e;
                         status = r.status;
                       });
      io->restart();
      io->run_for(wait_bound);
    } catch (const pidfd::system_error&) {
      return pidfd::detail::errno_code(EOWNERDEAD);  // an exception: reported as a defect
    } catch (const std::bad_alloc&) {
      return pidfd::detail::errno_code(ENOTRECOVERABLE);
    }
    if (!got && status != exited(7)) return pidfd::detail::errno_code(EPROTO);
    return got;
  };
  op.prepare = [op] {
    const error_code ec = op.attempt(false);
    return ec ? ec.message() : std::string();
  };
  const outcome o = run_under_pressure(op);
  expect_clean(o);
  EXPECT_TRUE(is_system(o.r)) << o.r.limited_category;
  if (capture) {
    // The capture pipes are made first, and pipe2() reports a pipe it cannot allocate as
    // ENFILE (create_pipe_files() has no other answer for a failed pipe inode), a file it
    // cannot allocate as ENOMEM.
    EXPECT_TRUE(o.r.limited_value == ENFILE || o.r.limited_value == ENOMEM) << o.r.text;
  } else {
    EXPECT_EQ(o.r.limited_value, ENOMEM) << o.r.text;
  }
}

// The size of our descriptor table (FDSize in /proc/self/status).
long fd_table_size() {
  const std::string status = read_text("/proc/self/status");
  const std::size_t at = status.find("FDSize:");
  return at == std::string::npos ? -1 : std::strtol(status.c_str() + at + 7, nullptr, 10);
}

// receive_pidfd(): installing the received descriptor needs a larger descriptor table
// (the worker first fills its table to its size, 1024), which cannot be allocated.
struct receive_state {
  int worker_end = -1, parent_end = -1;
  std::unique_ptr<boost::asio::io_context> io;
  std::unique_ptr<boost::asio::local::stream_protocol::socket> sock;
  std::vector<int> fill;
  pidfd::pid_fd self;
};

// Every slot of a table of at least 1024 taken: the next descriptor needs a table of
// twice that (a 16 KiB allocation), more than any per-CPU charge cache holds. Done last,
// as any descriptor the worker opens afterwards would grow the table before the limit.
std::string fill_descriptor_table(receive_state& s, std::vector<int>& opened) {
  rlimit lim{8192, 8192};
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
    return std::string("setrlimit: ") + std::strerror(errno);
  const long size = std::max(fd_table_size(), 1024L);
  s.fill.reserve(static_cast<std::size_t>(size));
  for (;;) {
    const int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return std::string("dup: ") + std::strerror(errno);
    s.fill.push_back(fd);
    // One slot left free for reading FDSize once more.
    if (fd >= size - 2) break;
  }
  const long now = fd_table_size();
  if (now != size)
    return "descriptor table of " + std::to_string(now) + ", not " + std::to_string(size);
  s.fill.push_back(::fcntl(0, F_DUPFD_CLOEXEC, 0));
  if (s.fill.back() != size - 1) return "the last slot was not free";
  opened = s.fill;
  return {};
}

void receive_pidfd_fails_and_works_after_the_lift() {
  using state = receive_state;
  auto s = std::make_shared<state>();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  s->worker_end = sv[0];
  s->parent_end = sv[1];
  s->self = pidfd::pid_fd::open(::getpid());
  const pid_t parent = ::getpid();
  operation op;
  op.parent_step = [s](int) { send_raw(s->parent_end, {s->self.native_handle()}); };
  op.attempt = [s, parent](bool) {
    error_code ec;
    pidfd::pid_fd got = pidfd::receive_pidfd(*s->sock, ec);
    if (ec) return ec;
    return got.pid() == parent ? error_code() : pidfd::detail::errno_code(EPROTO);
  };
  op.prepare = [s, op]() -> std::string {
    ::close(s->parent_end);
    s->io = std::make_unique<boost::asio::io_context>();
    s->sock = std::make_unique<boost::asio::local::stream_protocol::socket>(
        *s->io, boost::asio::local::stream_protocol(), s->worker_end);
    if (const error_code ec = op.attempt(false)) return ec.message();
    return std::string();
  };
  op.last = [s](std::vector<int>& opened) { return fill_descriptor_table(*s, opened); };
  op.finish = [s] {
    for (int fd : s->fill) ::close(fd);
    s->sock.reset();
    s->io.reset();
    return std::string();
  };
  const outcome o = run_under_pressure(op);
  ::close(s->worker_end);
  ::close(s->parent_end);
  expect_clean(o);
  // The kernel drops the descriptor it could not install and flags the message truncated;
  // receive_pidfd() reports why (not message_size). On 6.1 the check of the received
  // descriptor (a readlink in /proc) is not reached: the install fails first.
  EXPECT_TRUE(is_system(o.r)) << o.r.limited_category;
  EXPECT_EQ(o.r.limited_value, ENOMEM) << o.r.text;
}

// receive_with_sender(): with SO_PASSPIDFD the kernel makes a new pidfd for every message
// it delivers (Linux 6.5); that file cannot be allocated. Without SO_PASSPIDFD (6.1) there
// is nothing to receive: enable_sender_pidfd() reports operation_not_supported.
void receive_with_sender_fails_with_enomem_and_works_after_the_lift() {
  if (!pidfd::kernel_support().peer_pidfd) {
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::socket a(io), b(io);
    boost::asio::local::connect_pair(a, b);
    error_code ec;
    pidfd::enable_sender_pidfd(a, ec);
    EXPECT_EQ(ec, boost::system::errc::operation_not_supported);
    return;
  }
  struct state {
    int worker_end = -1, parent_end = -1;
    std::unique_ptr<boost::asio::io_context> io;
    std::unique_ptr<boost::asio::local::stream_protocol::socket> sock;
  };
  auto s = std::make_shared<state>();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  s->worker_end = sv[0];
  s->parent_end = sv[1];
  const pid_t parent = ::getpid();
  operation op;
  op.parent_step = [s](int) { send_raw(s->parent_end, {}); };
  op.attempt = [s, parent](bool) {
    error_code ec;
    char byte = 0;
    pidfd::received_message m = pidfd::receive_with_sender(*s->sock, boost::asio::buffer(&byte, 1), ec);
    if (ec) return ec;
    return m.bytes == 1 && m.sender.pid() == parent ? error_code()
                                                    : pidfd::detail::errno_code(EPROTO);
  };
  op.prepare = [s, op]() -> std::string {
    ::close(s->parent_end);
    s->io = std::make_unique<boost::asio::io_context>();
    s->sock = std::make_unique<boost::asio::local::stream_protocol::socket>(
        *s->io, boost::asio::local::stream_protocol(), s->worker_end);
    error_code ec;
    pidfd::enable_sender_pidfd(*s->sock, ec);
    if (!ec) ec = op.attempt(false);
    return ec ? ec.message() : std::string();
  };
  op.finish = [s] {
    s->sock.reset();
    s->io.reset();
    return std::string();
  };
  // Set here as well: the parent's first message is sent before the worker starts.
  const int on = 1;
  ASSERT_EQ(::setsockopt(s->worker_end, SOL_SOCKET, pidfd::detail::k_so_passpidfd, &on, sizeof on), 0);
  const outcome o = run_under_pressure(op);
  ::close(s->worker_end);
  ::close(s->parent_end);
  expect_clean(o);
  EXPECT_TRUE(is_system(o.r)) << o.r.limited_category;
  EXPECT_EQ(o.r.limited_value, ENOMEM) << o.r.text;
}

void register_tests() {
  auto add = [](const char* name, const std::function<void()>& body) {
    struct test : ::testing::Test {
      explicit test(std::function<void()> b) : body(std::move(b)) {}
      void TestBody() override { body(); }
      std::function<void()> body;
    };
    ::testing::RegisterTest("MemoryPressure", name, nullptr, nullptr, __FILE__, __LINE__,
                            [body]() -> ::testing::Test* { return new test(body); });
  };
  add("SpawnFailsWithEnomemAndWorksAfterTheLift", spawn_fails_with_enomem_and_works_after_the_lift);
  add("AsyncRunCapturingFailsWithEnomemAndWorksAfterTheLift",
      [] { async_run_fails_with_enomem_and_works_after_the_lift(true, pidfd::run_scope::process); });
  add("AsyncRunUncapturedFailsWithEnomemAndWorksAfterTheLift",
      [] { async_run_fails_with_enomem_and_works_after_the_lift(false, pidfd::run_scope::process); });
  add("AsyncRunInCgroupScopeFailsWithEnomemAndWorksAfterTheLift",
      [] { async_run_fails_with_enomem_and_works_after_the_lift(false, pidfd::run_scope::cgroup); });
  add("ReceivePidfdFailsAndWorksAfterTheLift", receive_pidfd_fails_and_works_after_the_lift);
  add("ReceiveWithSenderFailsWithEnomemAndWorksAfterTheLift",
      receive_with_sender_fails_with_enomem_and_works_after_the_lift);
}

// Registered only where the memory controller is meant to be used (see the top). At
// start-up, as TEST() registers: a throw there ends the test program before any test
// runs, which is the right outcome (cert-err58-cpp).
// NOLINTNEXTLINE(cert-err58-cpp)
const bool registered = [] {
  const char* env = std::getenv("ASIO_PIDFD_TEST_MEMORY_PRESSURE");
  if (env && std::string(env) == "1") register_tests();
  return true;
}();

}  // namespace
