// The body of header_order_libc_first.cpp and header_order_ours_first.cpp: whichever order
// the headers came in, every name the libc headers define for one of our kernel constants
// has our value. HEADER_ORDER_SUITE names the test suite of each translation unit.
#include <pidfd/detail/linux.hpp>

#include <gtest/gtest.h>

// Included by one translation unit each, not shared: an unnamed namespace is what it needs.
namespace {  // NOLINT(cert-dcl59-cpp)

namespace k = pidfd::detail;

TEST(HEADER_ORDER_SUITE, LibcNamesHaveOurValues) {
  int compared = 0;
  // glibc >= 2.36 declares P_PIDFD as an idtype_t enumerator, not a macro.
  EXPECT_EQ(k::k_p_pidfd, P_PIDFD);
  ++compared;
  // Compares only where this libc defines the name; counts the comparisons.
#define PIDFD_TEST_SAME(ours, name)         \
  do {                                      \
    EXPECT_EQ(static_cast<long long>(ours), \
              static_cast<long long>(name)) \
        << #name;                           \
    ++compared;                             \
  } while (false)
#ifdef P_PIDFD
  PIDFD_TEST_SAME(k::k_p_pidfd, P_PIDFD);
#endif
#ifdef CLONE_PIDFD
  PIDFD_TEST_SAME(k::k_clone_pidfd, CLONE_PIDFD);
#endif
#ifdef CLONE_CLEAR_SIGHAND
  PIDFD_TEST_SAME(k::k_clone_clear_sighand, CLONE_CLEAR_SIGHAND);
#endif
#ifdef CLONE_INTO_CGROUP
  PIDFD_TEST_SAME(k::k_clone_into_cgroup, CLONE_INTO_CGROUP);
#endif
#ifdef SYS_pidfd_send_signal
  PIDFD_TEST_SAME(k::k_sys_pidfd_send_signal, SYS_pidfd_send_signal);
#endif
#ifdef SYS_pidfd_open
  PIDFD_TEST_SAME(k::k_sys_pidfd_open, SYS_pidfd_open);
#endif
#ifdef SYS_clone3
  PIDFD_TEST_SAME(k::k_sys_clone3, SYS_clone3);
#endif
#ifdef SYS_close_range
  PIDFD_TEST_SAME(k::k_sys_close_range, SYS_close_range);
#endif
#ifdef SYS_pidfd_getfd
  PIDFD_TEST_SAME(k::k_sys_pidfd_getfd, SYS_pidfd_getfd);
#endif
#ifdef SYS_process_mrelease
  PIDFD_TEST_SAME(k::k_sys_process_mrelease, SYS_process_mrelease);
#endif
#ifdef PIDFD_NONBLOCK
  PIDFD_TEST_SAME(k::k_pidfd_nonblock, PIDFD_NONBLOCK);
#endif
#ifdef PIDFD_THREAD
  PIDFD_TEST_SAME(k::k_pidfd_thread, PIDFD_THREAD);
#endif
#ifdef PIDFD_SIGNAL_THREAD
  PIDFD_TEST_SAME(k::k_pidfd_signal_thread, PIDFD_SIGNAL_THREAD);
  PIDFD_TEST_SAME(k::k_pidfd_signal_thread_group, PIDFD_SIGNAL_THREAD_GROUP);
  PIDFD_TEST_SAME(k::k_pidfd_signal_process_group, PIDFD_SIGNAL_PROCESS_GROUP);
#endif
#ifdef PIDFD_SELF_THREAD
  PIDFD_TEST_SAME(k::k_pidfd_self_thread, PIDFD_SELF_THREAD);
  PIDFD_TEST_SAME(k::k_pidfd_self_thread_group, PIDFD_SELF_THREAD_GROUP);
#endif
#ifdef PID_FS_MAGIC
  PIDFD_TEST_SAME(k::k_pid_fs_magic, PID_FS_MAGIC);
#endif
#ifdef SO_PASSPIDFD
  PIDFD_TEST_SAME(k::k_so_passpidfd, SO_PASSPIDFD);
#endif
#ifdef SO_PEERPIDFD
  PIDFD_TEST_SAME(k::k_so_peerpidfd, SO_PEERPIDFD);
#endif
#ifdef SCM_PIDFD
  PIDFD_TEST_SAME(k::k_scm_pidfd, SCM_PIDFD);
#endif
#undef PIDFD_TEST_SAME
  // Every supported libc (glibc >= 2.36) has at least P_PIDFD, CLONE_PIDFD, the SYS_
  // numbers and PIDFD_NONBLOCK: 8 names.
  EXPECT_GE(compared, 8);
}

}  // namespace
