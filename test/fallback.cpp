// Fallback tests: the pid_fd checks again, in a child process (run_suite_in_child) where
// kernel features are made absent, by a seccomp filter (the syscall or ioctl fails as on
// an older kernel) or by ASIO_PIDFD_PRETEND_MISSING (for what seccomp cannot imitate).
// Results must be the same values through the fallbacks (pid from fdinfo; ppid, creds and
// cgroup from /proc; namespaces from /proc/<pid>/ns), or operation_not_supported where
// nothing can stand in.
//
// Each Fallback.* test below runs some InChild* suites in one configuration; the suites
// are skipped in a normal run (test/main.cpp). PIDFD_TEST_EXPECT_MISSING tells the child
// which features its configuration removes, and InChild*.FeaturesAsConfigured checks the
// probe agrees, so a filter that silently did nothing would fail.
#include "core_checks.hpp"

#include <pidfd/kernel.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/unique_fd.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace pidfd_test;
using pidfd::error_code;
using pidfd::exit_status;
using pidfd::open_flags;
using pidfd::pid_fd;
using pidfd::signal_scope;

const pidfd::kernel_features& features() { return pidfd::kernel_support(); }

// The features this child's configuration removes, from PIDFD_TEST_EXPECT_MISSING.
void expect_features_missing() {
  const char* env = std::getenv("PIDFD_TEST_EXPECT_MISSING");
  ASSERT_NE(env, nullptr) << "run through a Fallback.* test";
  const pidfd::kernel_features& f = features();
  const std::pair<const char*, bool> all[] = {
      {"pidfd_open", f.pidfd_open},     {"send_signal", f.send_signal},
      {"waitid_pidfd", f.waitid_pidfd}, {"clone_pidfd", f.clone_pidfd},
      {"clone3", f.clone3},             {"nonblock", f.nonblock},
      {"getfd", f.getfd},               {"mrelease", f.mrelease},
      {"pidfs", f.pidfs},               {"thread_pidfd", f.thread_pidfd},
      {"signal_scope", f.signal_scope}, {"namespaces", f.namespaces},
      {"get_info", f.get_info},         {"info_exit", f.info_exit},
      {"file_handles", f.file_handles}, {"self_sentinels", f.self_sentinels},
      {"peer_pidfd", f.peer_pidfd},     {"madvise", f.madvise},
      {"info_coredump", f.info_coredump}, {"xattrs", f.xattrs},
      {"info_supported_mask", f.info_supported_mask},
      {"info_coredump_signal", f.info_coredump_signal},
  };
  std::istringstream in(env);
  std::string name;
  int listed = 0;
  while (std::getline(in, name, ',')) {
    bool known = false;
    for (const auto& [n, present] : all) {
      if (name != n) continue;
      known = true;
      EXPECT_FALSE(present) << name << " should be absent in this configuration";
    }
    EXPECT_TRUE(known) << "unknown feature " << name;
    ++listed;
  }
  EXPECT_GT(listed, 0);
}

// ------------------------------------------------------------ the configurations

std::string expect_missing(const char* names) {
  return std::string("PIDFD_TEST_EXPECT_MISSING=") + names;
}

TEST(Fallback, WithoutGetInfoAndNamespaceIoctls) {
  // As on Linux 6.1-6.10 (and, for GET_INFO, up to 6.12): the ioctls fail with ENOTTY.
  EXPECT_EQ(run_suite_in_child("InChildFallbackQueries.*:InChildNoInfoExit.*",
                               deny_get_info | deny_ns_ioctls,
                               {expect_missing("get_info,info_exit,namespaces")}),
            0);
}

TEST(Fallback, PretendGetInfoAndNamespacesMissing) {
  EXPECT_EQ(run_suite_in_child("InChildFallbackQueries.*:InChildNoInfoExit.*", 0,
                               {"ASIO_PIDFD_PRETEND_MISSING=get_info,info_exit,namespaces",
                                expect_missing("get_info,info_exit,namespaces")}),
            0);
}

// The /proc fallback of info() where our pid namespace lies below that of the /proc we
// read (unshare(CLONE_NEWPID) without mounting a new /proc): the pids /proc gives are
// translated into ours through NSpid and NStgid, and a parent outside our namespace has
// no pid in it (0).
TEST(Fallback, InfoThroughTheProcOfAnOuterPidNamespace) {
  EXPECT_EQ(run_suite_in_child("InChildOuterPidNamespace.*", 0), 0);
}

TEST(Fallback, PretendInfoExitMissing) {
  // As on 6.13 and 6.14: GET_INFO works, but not after the reap.
  EXPECT_EQ(run_suite_in_child("InChildFallbackQueries.*:InChildNoInfoExit.*", 0,
                               {"ASIO_PIDFD_PRETEND_MISSING=info_exit",
                                expect_missing("info_exit")}),
            0);
}

TEST(Fallback, WithoutPidfdOpen) {
  // As before 5.3, or under a container profile that blocks it: ENOSYS.
  EXPECT_EQ(run_suite_in_child("InChildNoPidfdOpen.*", deny_pidfd_open,
                               {expect_missing("pidfd_open")}),
            0);
}

TEST(Fallback, PretendPidfsMissing) {
  // Before 6.9 every pidfd shares one anonymous inode: no identity, no file handles.
  EXPECT_EQ(run_suite_in_child("InChildNoPidfs.*", 0,
                               {"ASIO_PIDFD_PRETEND_MISSING=pidfs,file_handles",
                                expect_missing("pidfs,file_handles")}),
            0);
}

TEST(Fallback, PretendFileHandlesMissing) {
  // 6.9 to 6.13: pidfs identities, but no file handles to reopen them.
  EXPECT_EQ(run_suite_in_child("InChildNoFileHandles.*", 0,
                               {"ASIO_PIDFD_PRETEND_MISSING=file_handles",
                                expect_missing("file_handles")}),
            0);
}

TEST(Fallback, PretendNewerFlagsMissing) {
  EXPECT_EQ(run_suite_in_child(
                "InChildNoSignalScope.*:InChildNoThreadPidfd.*:InChildNoNonblock.*:"
                "InChildNoGetfd.*:InChildNoMrelease.*",
                0,
                {"ASIO_PIDFD_PRETEND_MISSING=signal_scope,thread_pidfd,nonblock,getfd,mrelease",
                 expect_missing("signal_scope,thread_pidfd,nonblock,getfd,mrelease")}),
            0);
}

TEST(Fallback, WithoutGetfdAndMrelease) {
  EXPECT_EQ(run_suite_in_child("InChildNoGetfd.*:InChildNoMrelease.*",
                               deny_getfd | deny_mrelease, {expect_missing("getfd,mrelease")}),
            0);
}

TEST(Fallback, WithoutWaitidPidfd) {
  // As on 5.3: waitid(P_PIDFD) fails with EINVAL; our own children are waited by pid.
  EXPECT_EQ(run_suite_in_child("InChildNoWaitidPidfd.*", deny_waitid_pidfd,
                               {expect_missing("waitid_pidfd")}),
            0);
}

TEST(Fallback, WithoutSendSignalAndGetInfo) {
  // No pidfd_send_signal: the /proc fallbacks must check liveness through fdinfo instead.
  EXPECT_EQ(run_suite_in_child(
                "InChildFallbackQueries.*:InChildNoSendSignal.*", deny_send_signal | deny_get_info,
                {expect_missing("send_signal,signal_scope,self_sentinels,get_info,info_exit")}),
            0);
}

// ------------------------------------------------------------ a nested pid namespace

// In a child test process: the next process it starts is the first of a new pid
// namespace, and sees our /proc.
TEST(InChildOuterPidNamespace, RunsTheQueriesInANewPidNamespace) {
  (void)pidfd::kernel_support();  // the probe's helper child is made before the namespace
  const pidfd::unique_fd own(::open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(own) << std::strerror(errno);
  ASSERT_EQ(::unshare(CLONE_NEWPID), 0) << std::strerror(errno);
  EXPECT_EQ(run_suite_in_child("InChildNestedPidNamespace.*", 0,
                               {"ASIO_PIDFD_PRETEND_MISSING=get_info"}),
            0);
  // The new namespace ended with its first process: a later child of ours (LeakSanitizer
  // makes one at exit) could not be created in it (ENOMEM). Ours go to our own again.
  EXPECT_EQ(::setns(own.get(), CLONE_NEWPID), 0) << std::strerror(errno);
}

TEST(InChildNestedPidNamespace, PidsAreTranslatedIntoOurs) {
  ASSERT_EQ(::getpid(), 1);
  ASSERT_FALSE(pidfd::kernel_support().get_info);
  pid_fd self = pid_fd::self();
  const pidfd::process_info me = self.info();
  EXPECT_EQ(me.pid, 1);
  EXPECT_EQ(me.tgid, 1);
  EXPECT_EQ(me.ppid, 0);  // our parent is in the namespace above
  blocked_child c;
  const pidfd::process_info child = c.fd.info();
  EXPECT_EQ(child.pid, c.pid);
  EXPECT_EQ(child.tgid, c.pid);
  EXPECT_EQ(child.ppid, 1);
  c.finish();
  expect_exit_code(c.fd, 0);
}

// ------------------------------------------------------------ queries through fallbacks

TEST(InChildFallbackQueries, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildFallbackQueries, Self) {
  pid_fd p = pid_fd::self();
  expect_queries_match_proc(p, ::getpid());
  EXPECT_EQ(p.ppid(), ::getppid());
  expect_namespaces_match_proc(p, ::getpid());
}

TEST(InChildFallbackQueries, ChildInNewNamespaces) {
  blocked_child c({"unshare-all", "asio-pidfd-fb"});
  expect_queries_match_proc(c.fd, c.pid);
  EXPECT_EQ(c.fd.ppid(), ::getpid());
  expect_namespaces_match_proc(c.fd, c.pid);
  EXPECT_NE(fd_inode(c.fd.get_namespace(pidfd::namespace_type::uts).get()),
            proc_ns_inode(::getpid(), "uts"));
  c.finish();
  expect_exit_code(c.fd, 0);
  expect_queries_after_reap(c.fd, c.pid);
}

TEST(InChildFallbackQueries, DroppedCredentials) {
  blocked_child c({"setuid", "65534"});
  const pidfd::credentials want{65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534};
  EXPECT_EQ(c.fd.creds(), want);
  EXPECT_EQ(c.fd.info().creds, want);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(InChildFallbackQueries, CgroupIdInAnotherCgroup) { expect_cgroup_id_in_new_cgroup(); }

TEST(InChildFallbackQueries, AdoptedPidFromFdinfo) {
  blocked_child c;
  pid_fd adopted(::fcntl(c.fd.native_handle(), F_DUPFD_CLOEXEC, 0));
  EXPECT_EQ(adopted.pid(), c.pid);
  expect_queries_match_proc(adopted, c.pid);
  c.finish();
  expect_exit_code(c.fd, 0);
  EXPECT_EQ(adopted.pid(), c.pid);
  pid_fd late(::fcntl(c.fd.native_handle(), F_DUPFD_CLOEXEC, 0));
  error_code ec;
  (void)late.pid(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}

TEST(InChildFallbackQueries, ThreadPidfdInfo) {
  parked_thread t;
  error_code ec;
  pid_fd p = pid_fd::open(t.tid, open_flags::thread, ec);
  if (!features().thread_pidfd) {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    return;
  }
  EXPECT_FALSE(ec) << ec.message();
  const pidfd::process_info info = p.info(ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(info.pid, t.tid);
  EXPECT_EQ(info.tgid, ::getpid());
  EXPECT_EQ(info.ppid, ::getppid());
  EXPECT_EQ(p.pid(), t.tid);
}

TEST(InChildFallbackQueries, IdIsUnaffected) {
  // id() is the pidfs inode (fstat), not GET_INFO.
  pid_fd p = pid_fd::self();
  if (features().pidfs) {
    EXPECT_EQ(p.id(), fd_inode(p.native_handle()));
  } else {
    error_code ec;
    (void)p.id(ec);
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
  }
}

TEST(InChildFallbackQueries, OwnChildStatus) {
  pid_fd p = start_child({"exit", "3"});
  EXPECT_EQ(bounded_wait(p), exit_status::from_wait_status(0x300));
  EXPECT_EQ(p.wait(), exit_status::from_wait_status(0x300));
}

// ------------------------------------------------------------ no PIDFD_INFO_EXIT

TEST(InChildNoInfoExit, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildNoInfoExit, NonChildStatusUnavailable) {
  held_grandchild gc(42);
  const pid_t gpid = gc.pid;
  pid_fd g = pid_fd::open(gpid);
  error_code ec;
  EXPECT_EQ(g.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  gc.let_exit();
  ASSERT_TRUE(wait_readable(g.native_handle()));
  // A zombie, not ours, not yet reaped. Its status will never be known here, so the
  // library says so at once rather than waiting for a reap it may not be able to see
  // (without pidfs there is no HUP).
  EXPECT_EQ(proc_state(gpid), 'Z');
  EXPECT_EQ(g.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  gc.let_reap();
  (void)g.wait(ec);
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  EXPECT_EQ(g.try_wait(ec), std::nullopt);
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  expect_throws_code([&] { (void)g.wait(); }, pidfd::errc::status_unavailable);
  EXPECT_EQ(g.cached_status(), std::nullopt);
  expect_exit_code(gc.middle, 0);
}

TEST(InChildNoInfoExit, ReapedThroughAnotherPidfd) {
  blocked_child c({}, {"exit", "8"});
  pid_fd other = pid_fd::open(c.pid);
  c.finish();
  EXPECT_EQ(bounded_wait(other), exit_status::from_wait_status(0x800));
  error_code ec;
  (void)c.fd.wait(ec);
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
}

TEST(InChildNoInfoExit, OwnChildrenStillHaveStatuses) {
  pid_fd a = start_child({"exit", "255"});
  pid_fd b = start_child({"raise", "9"});
  EXPECT_EQ(bounded_wait(a), exit_status::from_wait_status(0xff00));
  EXPECT_EQ(bounded_wait(b), exit_status::from_wait_status(SIGKILL));
  EXPECT_EQ(b.wait(), exit_status::from_wait_status(SIGKILL));
}

// ------------------------------------------------------------ no pidfd_open

TEST(InChildNoPidfdOpen, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildNoPidfdOpen, OpenIsNotSupported) {
  blocked_child c;
  error_code ec;
  pid_fd p = pid_fd::open(c.pid, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_FALSE(p.is_open());
  (void)pid_fd::open(c.pid, open_flags::nonblock, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  expect_throws_code([&] { (void)pid_fd::open(c.pid); }, sys_errc::operation_not_supported);
  (void)pid_fd::self(ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  expect_throws_code([&] { (void)pid_fd::self(); }, sys_errc::operation_not_supported);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(InChildNoPidfdOpen, PidfdsFromCloneStillWork) {
  blocked_child c({}, {"exit", "2"});
  expect_queries_match_proc(c.fd, c.pid);
  expect_namespaces_match_proc(c.fd, c.pid);
  c.fd.send_signal(0);
  pid_fd d = c.fd.dup();
  EXPECT_EQ(d.pid(), c.pid);
  if (features().file_handles) {
    pid_fd r = pid_fd::open_by_id(c.fd.id());
    EXPECT_EQ(r.pid(), c.pid);
  }
  c.finish();
  expect_exit_code(c.fd, 2);
  expect_queries_after_reap(c.fd, c.pid);
}

// ------------------------------------------------------------ no pidfs / file handles

TEST(InChildNoPidfs, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildNoPidfs, NoIdentity) {
  blocked_child c;
  error_code ec;
  (void)c.fd.id(ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  expect_throws_code([&] { (void)c.fd.id(); }, sys_errc::operation_not_supported);
  pid_fd r = pid_fd::open_by_id(2, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_FALSE(r.is_open());
  // Everything that does not need an identity still works.
  expect_queries_match_proc(c.fd, c.pid);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(InChildNoFileHandles, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildNoFileHandles, IdWithoutReopen) {
  blocked_child c;
  error_code ec;
  std::uint64_t id = c.fd.id(ec);
  if (features().pidfs) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(id, fd_inode(c.fd.native_handle()));
  } else {
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
    id = 2;
  }
  pid_fd r = pid_fd::open_by_id(id, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_FALSE(r.is_open());
  expect_throws_code([&] { (void)pid_fd::open_by_id(id); }, sys_errc::operation_not_supported);
  c.finish();
  expect_exit_code(c.fd, 0);
}

// ------------------------------------------------------------ newer flags and calls

TEST(InChildNoSignalScope, ScopesAreNotSupported) {
  expect_features_missing();
  blocked_child c({}, {"exit", "0"});
  error_code ec;
  for (signal_scope s : {signal_scope::thread, signal_scope::thread_group,
                         signal_scope::process_group}) {
    c.fd.send_signal(0, s, ec);
    EXPECT_EQ(ec, sys_errc::operation_not_supported);
  }
  expect_throws_code([&] { c.fd.send_signal(SIGTERM, signal_scope::thread_group); },
                     sys_errc::operation_not_supported);
  // The default scope needs no flag.
  c.fd.send_signal(0, signal_scope::pidfd_default, ec);
  EXPECT_FALSE(ec);
  c.fd.send_signal(SIGTERM);
  EXPECT_EQ(bounded_wait(c.fd), exit_status::from_wait_status(SIGTERM));
}

TEST(InChildNoThreadPidfd, ThreadPidfdsAreNotSupported) {
  expect_features_missing();
  parked_thread t;
  error_code ec;
  pid_fd p = pid_fd::open(t.tid, open_flags::thread, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_FALSE(p.is_open());
  (void)pid_fd::open(t.tid, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}

TEST(InChildNoNonblock, NonblockIsNotSupported) {
  expect_features_missing();
  blocked_child c;
  error_code ec;
  pid_fd p = pid_fd::open(c.pid, open_flags::nonblock, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_FALSE(p.is_open());
  // Without the flag it works.
  EXPECT_EQ(pid_fd::open(c.pid).pid(), c.pid);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(InChildNoGetfd, GetRemoteFdIsNotSupported) {
  expect_features_missing();
  blocked_child c;
  error_code ec;
  pidfd::unique_fd fd = c.fd.get_remote_fd(0, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_FALSE(fd.is_open());
  expect_throws_code([&] { (void)c.fd.get_remote_fd(0); }, sys_errc::operation_not_supported);
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(InChildNoMrelease, ReleaseMemoryIsNotSupported) {
  expect_features_missing();
  blocked_child c;
  error_code ec;
  c.fd.release_memory(ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  c.fd.kill();
  c.fd.release_memory(ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  expect_throws_code([&] { c.fd.release_memory(); }, sys_errc::operation_not_supported);
  EXPECT_EQ(bounded_wait(c.fd), exit_status::from_wait_status(SIGKILL));
}

// ------------------------------------------------------------ no waitid(P_PIDFD)

TEST(InChildNoWaitidPidfd, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildNoWaitidPidfd, OwnChildren) {
  for (int code : {0, 1, 255}) {
    SCOPED_TRACE(code);
    pid_fd p = start_child({"exit", std::to_string(code)});
    const exit_status s = bounded_wait(p);
    EXPECT_EQ(s, exit_status::from_wait_status(code << 8));
    EXPECT_EQ(p.wait(), s);
    EXPECT_EQ(p.try_wait(), s);
  }
  pid_fd k = start_child({"raise", "9"});
  EXPECT_EQ(bounded_wait(k), exit_status::from_wait_status(SIGKILL));
}

TEST(InChildNoWaitidPidfd, TryWaitBeforeAndAfterExit) {
  blocked_child c({}, {"exit", "5"});
  error_code ec;
  EXPECT_EQ(c.fd.try_wait(ec), std::nullopt);
  EXPECT_FALSE(ec) << ec.message();
  c.finish_and_wait_exit();
  EXPECT_EQ(proc_state(c.pid), 'Z');
  EXPECT_EQ(c.fd.try_wait(ec), exit_status::from_wait_status(0x500));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(c.fd.wait(), exit_status::from_wait_status(0x500));
}

TEST(InChildNoWaitidPidfd, BlockingWaitAndConcurrentWaiters) {
  expect_concurrent_waiters_agree();
}

// ------------------------------------------------------------ no pidfd_send_signal

TEST(InChildNoSendSignal, SignalsAreNotSupported) {
  blocked_child c;
  error_code ec;
  c.fd.send_signal(0, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  c.fd.kill(ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  union sigval v {};
  c.fd.queue_signal(SIGUSR1, v, ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  expect_throws_code([&] { c.fd.kill(); }, sys_errc::operation_not_supported);
  // Liveness for /proc access comes from fdinfo: still right before and after the reap.
  const std::string comm = c.fd.access_proc([](pid_t p) {
    std::ifstream in("/proc/" + std::to_string(p) + "/comm");
    std::string s;
    std::getline(in, s);
    return s;
  });
  EXPECT_EQ(comm, "asio-pidfd-test");
  c.finish();
  expect_exit_code(c.fd, 0);
  c.fd.access_proc([] {}, ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
  (void)c.fd.proc_dir(ec);
  EXPECT_EQ(ec, sys_errc::no_such_process);
}

}  // namespace

// ------------------------------------------------------------ 5.10 to 6.19 additions

TEST(Fallback, WithoutMadviseAndXattrs) {
  // Before 5.10 (process_madvise) and 6.17 (pidfs xattrs), or under a filter.
  EXPECT_EQ(run_suite_in_child("InChildNoMadviseXattrs.*", deny_madvise | deny_xattrs,
                               {expect_missing("madvise,xattrs")}),
            0);
}

TEST(Fallback, PretendMadviseXattrsAndCoredumpInfoMissing) {
  EXPECT_EQ(run_suite_in_child("InChildNoMadviseXattrs.*:InChildNoCoredumpInfo.*", 0,
                               {"ASIO_PIDFD_PRETEND_MISSING=madvise,xattrs,info_coredump",
                                expect_missing("madvise,xattrs,info_coredump")}),
            0);
}

TEST(InChildNoMadviseXattrs, FeaturesAsConfigured) { expect_features_missing(); }

TEST(InChildNoMadviseXattrs, CleanlyNotSupported) {
  blocked_child c;
  pid_fd self = pid_fd::self();
  int local = 0;
  const iovec range{&local, sizeof local};
  error_code ec;
  EXPECT_EQ(self.madvise(std::span(&range, 1), MADV_COLD, ec), 0u);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_EQ(c.fd.get_xattr("trusted.a", ec), "");
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  c.fd.set_xattr("trusted.a", "1", ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  EXPECT_TRUE(c.fd.list_xattrs(ec).empty());
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  c.fd.remove_xattr("trusted.a", ec);
  EXPECT_EQ(ec, sys_errc::operation_not_supported);
  // Everything else is unaffected.
  EXPECT_EQ(c.fd.cgroup_path(), proc_cgroup_path(c.pid));
  c.finish();
  expect_exit_code(c.fd, 0);
}

TEST(InChildNoCoredumpInfo, CoredumpMaskIsAbsent) {
  blocked_child c;
  const pidfd::process_info i = c.fd.info();
  EXPECT_EQ(i.pid, c.pid);
  EXPECT_EQ(i.coredump_mask, std::nullopt);
  EXPECT_EQ(i.coredump_signal, std::nullopt);
  c.finish();
  expect_exit_code(c.fd, 0);
}
