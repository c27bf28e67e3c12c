// Resource exhaustion: each limit reached gives the exact error, and nothing is
// leaked or left running (main.cpp's listener checks fds and children after every test).
//  - RLIMIT_NOFILE reached during spawn() (the pidfd, /dev/null), spawn(executor) with
//    pipes, and receive_pidfd()
//    (the kernel drops the fd and sets MSG_CTRUNC). pid_fd::dup() is in pid_fd.cpp.
//  - RLIMIT_NPROC reached during spawn(), as an unprivileged user in a child test process
//    (root is exempt from RLIMIT_NPROC).
#include "io_fixture.hpp"
#include "support.hpp"

#include <pidfd/local_socket.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using pidfd::error_code;
using pidfd::exit_status;
using sys_errc = boost::system::errc::errc_t;

using pidfd_test::exited;

// The lowest descriptor number not in use.
int lowest_free_fd() {
  int fd = 0;
  while (::fcntl(fd, F_GETFD) >= 0) ++fd;
  return fd;
}

// Lowers RLIMIT_NOFILE's soft limit for its lifetime.
class nofile_limit {
public:
  explicit nofile_limit(int fds) {
    if (::getrlimit(RLIMIT_NOFILE, &old_) != 0) throw std::runtime_error("getrlimit");
    rlimit tight = old_;
    tight.rlim_cur = static_cast<rlim_t>(fds);
    if (::setrlimit(RLIMIT_NOFILE, &tight) != 0) throw std::runtime_error("setrlimit");
  }
  ~nofile_limit() { ::setrlimit(RLIMIT_NOFILE, &old_); }
  nofile_limit(const nofile_limit&) = delete;
  nofile_limit& operator=(const nofile_limit&) = delete;

private:
  rlimit old_{};
};

// Some of the tests need an io_context; a context creates its reactor's descriptors only
// when the first I/O object asks for them, so the others see no difference.
using Exhaustion = pidfd_test::io_fixture;

// With no descriptor left, spawn() fails with too_many_files_open. With one more spare
// descriptor each time, each call either fails with exactly that (the pidfd, /dev/null for
// the child's standard streams or spawn()'s own descriptors did not fit) or starts a child
// that runs normally.
TEST_F(Exhaustion, SpawnWhenOutOfDescriptors) {
  const std::vector<std::string> argv{pidfd_test::child_path(), "exit", "7"};
  pidfd::spawn_options opts;
  opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = -1;  // /dev/null, opened by spawn()
  int failed = 0, started = 0;
  // Stops at the first success: spawn() needs only a handful of descriptors at once.
  for (int slack = 0; slack <= 16 && started == 0; ++slack) {
    error_code ec;
    pidfd::pid_fd p;
    {
      nofile_limit limit(lowest_free_fd() + slack);
      p = pidfd::spawn(argv, opts, ec);
    }
    if (slack == 0) {
      EXPECT_EQ(ec, sys_errc::too_many_files_open) << ec.message();
    }
    if (ec) {
      EXPECT_EQ(ec, sys_errc::too_many_files_open) << "slack " << slack << ": " << ec.message();
      EXPECT_FALSE(p.is_open());
      ++failed;
    } else {
      ASSERT_TRUE(p.is_open());
      EXPECT_EQ(pidfd_test::bounded_wait(p), exited(7));
      ++started;
    }
  }
  EXPECT_GE(failed, 1);
  EXPECT_EQ(started, 1) << "sixteen spare descriptors should be enough for spawn()";
}

// The throwing form reports the same error.
TEST_F(Exhaustion, SpawnThrowsWhenOutOfDescriptors) {
  const std::vector<std::string> argv{pidfd_test::child_path(), "exit", "0"};
  bool threw = false;
  {
    nofile_limit limit(lowest_free_fd());
    try {
      (void)pidfd::spawn(argv);
    } catch (const pidfd::system_error& e) {
      threw = e.code() == sys_errc::too_many_files_open;
    }
  }
  EXPECT_TRUE(threw);
}

// spawn(executor, ...) with pipes: at each number of spare descriptors it either fails with
// too_many_files_open and leaves nothing open or running (the child, if one was started
// before a pipe could be registered, is killed and reaped), or starts a child whose pipes
// work. (The context's reactor exists already: see spawn()'s documentation for a context
// whose reactor cannot be created.)
TEST_F(Exhaustion, SpawnWithPipesWhenOutOfDescriptors) {
  const std::vector<std::string> argv{pidfd_test::child_path(), "exit", "5"};
  pidfd::spawn_options opts;
  opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = pidfd::stdio_pipe;
  pidfd::process warm(io);  // creates the context's reactor
  int failed = 0, started = 0;
  for (int slack = 0; slack <= 24 && started == 0; ++slack) {
    error_code ec;
    pidfd::process p(io);
    {
      nofile_limit limit(lowest_free_fd() + slack);
      p = pidfd::spawn(io, argv, opts, ec);
    }
    if (ec) {
      EXPECT_EQ(ec, sys_errc::too_many_files_open) << "slack " << slack << ": " << ec.message();
      EXPECT_FALSE(p.pidfd.is_open());
      EXPECT_FALSE(p.stdin_pipe.is_open());
      EXPECT_FALSE(p.stdout_pipe.is_open());
      EXPECT_FALSE(p.stderr_pipe.is_open());
      ++failed;
    } else {
      ASSERT_TRUE(p.pidfd.is_open());
      EXPECT_TRUE(p.stdin_pipe.is_open() && p.stdout_pipe.is_open() && p.stderr_pipe.is_open());
      EXPECT_EQ(pidfd_test::bounded_wait(p.pidfd.core()), exited(5));
      ++started;
    }
  }
  EXPECT_GE(failed, 1);
  EXPECT_EQ(started, 1) << "twenty-four spare descriptors should be enough";
}

// A pidfd sent while the receiver has no descriptor left: the kernel drops it and sets
// MSG_CTRUNC, as it does when the control buffer is too small; receive_pidfd() tells the
// two apart and reports the limit (too_many_files_open), not message_size, and the socket
// stays usable.
TEST_F(Exhaustion, ReceivePidfdWhenOutOfDescriptorsIsTooManyOpenFiles) {
  asio::local::stream_protocol::socket a(io), b(io);
  asio::local::connect_pair(a, b);
  pidfd::pid_fd self = pidfd::pid_fd::self();
  pidfd::send_pidfd(a, self);
  pidfd::send_pidfd(a, self);
  error_code ec;
  pidfd::pid_fd got;
  {
    nofile_limit limit(lowest_free_fd());
    got = pidfd::receive_pidfd(b, ec);
  }
  EXPECT_EQ(ec, pidfd::detail::errno_code(EMFILE)) << ec.message();
  EXPECT_FALSE(got.is_open());
  // The next message arrives intact once descriptors are available again.
  got = pidfd::receive_pidfd(b, ec);
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_TRUE(got.is_open());
  EXPECT_EQ(got.pid(), ::getpid());
}

// RLIMIT_NPROC: root is exempt, so the check runs in a child test process that becomes an
// unprivileged user first.
TEST_F(Exhaustion, SpawnWhenOutOfProcesses) {
  // LeakSanitizer cannot run in a process that changed its uid (it fails at exit).
  EXPECT_EQ(pidfd_test::run_suite_in_child("InChildExhaustion.SpawnAsUserOutOfProcesses", 0,
                                           {"ASAN_OPTIONS=detect_leaks=0"}),
            0);
}

TEST(InChildExhaustion, SpawnAsUserOutOfProcesses) {
  constexpr uid_t nobody = 65534;
  ASSERT_EQ(::setresgid(nobody, nobody, nobody), 0);
  ASSERT_EQ(::setresuid(nobody, nobody, nobody), 0);
  // This process counts as one of the user's processes: no other may start.
  const rlimit one{1, 1};
  ASSERT_EQ(::setrlimit(RLIMIT_NPROC, &one), 0);
  error_code ec;
  pidfd::pid_fd p = pidfd::spawn({pidfd_test::child_path(), "exit", "0"}, {}, ec);
  EXPECT_EQ(ec, sys_errc::resource_unavailable_try_again) << ec.message();
  EXPECT_FALSE(p.is_open());
}

}  // namespace
