// Shared test support: the helper child program, pipes, bounded waits, and running part
// of the suite again in a child process under a seccomp filter or with environment
// changes (for kernel-fallback paths).
#ifndef PIDFD_TEST_SUPPORT_HPP
#define PIDFD_TEST_SUPPORT_HPP

#include <pidfd/exit_status.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/unique_fd.hpp>

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pidfd_test {

using namespace std::chrono_literals;

/// Generous bound for any wait in a test (emulated kernels run 3-8x slower).
inline constexpr std::chrono::milliseconds wait_bound = 60s;

/// ASIO_PIDFD_TEST_LOOP_DIVISOR (a positive number: emulated kernels run the stress loops
/// with fewer rounds), or `otherwise` when it is unset or not a positive number.
int loop_divisor(int otherwise = 1);

/// The status of a process that exited with `code`.
inline pidfd::exit_status exited(int code) {
  return pidfd::exit_status::from_wait_status((code & 0xff) << 8);
}
/// The status of a process killed by `sig` (no core dump).
inline pidfd::exit_status killed(int sig) { return pidfd::exit_status::from_wait_status(sig); }

/// Path of the helper child program (test/child.cpp).
const std::string& child_path();

/// A pipe; both ends close-on-exec.
struct pipe_fds {
  pidfd::unique_fd read, write;
};
pipe_fds make_pipe();

/// Starts the helper child with `args` (its command list), through clone(CLONE_PIDFD), so
/// the pidfd exists before the child can exit. `fds` maps {child fd, parent fd}; the
/// child gets 0, 1, 2 and those.
pidfd::pid_fd start_child(const std::vector<std::string>& args,
                          const std::vector<std::pair<int, int>>& fds = {});

/// Reads one line (without '\n') from fd; fails the test (throws) if none arrives within
/// `bound` or at EOF.
std::string read_line(int fd, std::chrono::milliseconds bound = wait_bound);
/// Writes one byte to fd.
void write_byte(int fd);

/// Our child processes, running or unreaped (from /proc/self/task/*/children: each thread
/// lists the children it forked).
std::set<pid_t> child_processes();

/// A grandchild: the helper child forks (its fork-hold command) and the new process
/// blocks until `go` gets a byte, then exits with the given code; its parent, our child
/// `middle`, reaps it once `hold` gets a byte, then exits 0. Its status reaches us only
/// through the kernel (PIDFD_INFO_EXIT), never through a wait of ours.
struct held_grandchild {
  pidfd::pid_fd middle;  ///< our child, the grandchild's parent
  pid_t pid = 0;         ///< the grandchild
  pipe_fds hold, go;     ///< write a byte to each one's write end to let them go

  explicit held_grandchild(int code);
  /// Lets the grandchild exit (it stays a zombie until its parent is let go too).
  void let_exit() const { write_byte(go.write.get()); }
  /// Lets the middle process reap the grandchild and exit.
  void let_reap() const { write_byte(hold.write.get()); }
};

/// A thread of this process that blocks until release() (or its destruction), for the
/// tests of thread pidfds; its thread id is known once the constructor returns.
struct parked_thread {
  pipe_fds tid_pipe = make_pipe();
  pipe_fds go = make_pipe();
  pid_t tid = 0;
  std::thread thread;

  parked_thread();
  parked_thread(const parked_thread&) = delete;
  parked_thread& operator=(const parked_thread&) = delete;
  ~parked_thread();
  /// Lets the thread end and joins it; nothing if it has ended already.
  void release();
};


// Sends one message with a payload of that many bytes and these fds as SCM_RIGHTS on a UNIX
// socket (raw, so the tests can build messages the library would never send); a gtest
// failure if sendmsg() does not send it all.
void send_raw(int sock, const std::vector<int>& fds, std::size_t payload = 1);
/// True if fd becomes readable within `bound`.
bool wait_readable(int fd, std::chrono::milliseconds bound = wait_bound);
/// Waits (bounded) for the pidfd to become readable, then wait()s it. Throws on timeout.
pidfd::exit_status bounded_wait(pidfd::pid_fd& p, std::chrono::milliseconds bound = wait_bound);

/// The fds open in this process now.
std::set<int> open_fds();

/// A value from a "key=value key=value" line.
std::string field(const std::string& line, const std::string& key);

/// Features a seccomp filter can make absent in a child test process.
enum seccomp_rule : unsigned {
  deny_get_info = 1u << 0,         ///< ioctl(PIDFD_GET_INFO, any size) -> ENOTTY
  deny_ns_ioctls = 1u << 1,        ///< ioctl(PIDFD_GET_*_NAMESPACE) -> ENOTTY
  deny_pidfd_open = 1u << 2,       ///< pidfd_open -> ENOSYS
  deny_clone3 = 1u << 3,           ///< clone3 -> ENOSYS
  deny_waitid_pidfd = 1u << 4,     ///< waitid(P_PIDFD) -> EINVAL
  deny_peer_pidfd = 1u << 5,       ///< getsockopt/setsockopt SO_PEERPIDFD/SO_PASSPIDFD -> ENOPROTOOPT
  deny_send_signal = 1u << 6,      ///< pidfd_send_signal -> ENOSYS
  deny_getfd = 1u << 7,            ///< pidfd_getfd -> ENOSYS
  deny_mrelease = 1u << 8,         ///< process_mrelease -> ENOSYS
  deny_clone_pidfd = 1u << 9,      ///< clone() with CLONE_PIDFD -> EINVAL
  deny_file_handles = 1u << 10,    ///< name_to_handle_at/open_by_handle_at -> EOPNOTSUPP
  deny_madvise = 1u << 11,         ///< process_madvise -> ENOSYS
  deny_xattrs = 1u << 12,          ///< fgetxattr/fsetxattr/flistxattr/fremovexattr -> EOPNOTSUPP
  deny_madvise_eperm = 1u << 13,   ///< process_madvise -> EPERM (no CAP_SYS_NICE)
};

/// Installs a seccomp filter with the given rules in the calling process (and its future
/// children). Irreversible: only for a child process.
void install_seccomp(unsigned rules);

/// Runs this test binary again in a child process, with only the tests matching
/// `gtest_filter` (which may name InChild* suites, skipped in a normal run), under the
/// seccomp `rules` and with `env` ("NAME=value") added to the environment. Returns the
/// child's exit status (0 when all its tests passed). Its output goes to ours.
int run_suite_in_child(const std::string& gtest_filter, unsigned rules,
                       const std::vector<std::string>& env = {});

/// Removes `cap` (CAP_SYS_ADMIN, ...) from the calling thread's effective set (capset),
/// as an unprivileged process would lack it. Only for a child test process.
void drop_effective_capability(int cap);

/// Makes the calling process a child subreaper for its lifetime (PR_SET_CHILD_SUBREAPER):
/// orphaned grandchildren are re-parented to us and reaped by the test, not late by PID 1.
void become_subreaper();

/// The cgroups named as the runs of process `maker` (the library's prefix and its pid;
/// default: ours) below our own cgroup v2, as paths. A program we start (pidfd-run) makes
/// its runs' cgroups there too, since it starts in our cgroup.
std::set<std::string> run_cgroups_named_ours(pid_t maker = ::getpid());

/// The cgroups `maker` (default: this process) made for runs that are still there and were
/// not in `before` (what run_cgroups_named_ours() said when the test started: a process
/// that had the pid before may have left some), as paths; each is killed and removed on the
/// way (best effort), so one leak does not cascade into later tests.
std::vector<std::string> take_leftover_run_cgroups(const std::set<std::string>& before = {},
                                                   pid_t maker = ::getpid());

}  // namespace pidfd_test

#endif  // PIDFD_TEST_SUPPORT_HPP
