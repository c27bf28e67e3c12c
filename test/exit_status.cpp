// Tests for <pidfd/exit_status.hpp>: decoding of wait statuses and siginfo, and the text
// forms. Statuses produced by real processes are checked in pid_fd.cpp.
#include <pidfd/exit_status.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <sstream>
#include <type_traits>

namespace {

using pidfd::exit_status;

// The defaulted comparison and from_wait_status() are usable in constant expressions.
static_assert(exit_status::from_wait_status(0x300) == exit_status::from_wait_status(0x300));
static_assert(exit_status::from_wait_status(0x300) != exit_status::from_wait_status(0x400));
static_assert(exit_status() != exit_status::from_wait_status(0));
static_assert(std::is_nothrow_default_constructible_v<exit_status>);
static_assert(std::is_trivially_copyable_v<exit_status>);

siginfo_t child_info(int code, int status) {
  siginfo_t si{};
  si.si_signo = SIGCHLD;
  si.si_code = code;
  si.si_status = status;
  return si;
}

TEST(ExitStatus, DefaultIsNoStatus) {
  const exit_status s;
  EXPECT_FALSE(s.exited());
  EXPECT_FALSE(s.signaled());
  EXPECT_FALSE(s.core_dumped());
  EXPECT_EQ(s.code(), std::nullopt);
  EXPECT_EQ(s.signal(), std::nullopt);
  EXPECT_FALSE(s.success());
  EXPECT_EQ(s.native(), -1);
  EXPECT_EQ(s.to_string(), "no status");
}

TEST(ExitStatus, ExitedWithZero) {
  const exit_status s = exit_status::from_wait_status(0);
  EXPECT_TRUE(s.exited());
  EXPECT_FALSE(s.signaled());
  EXPECT_FALSE(s.core_dumped());
  EXPECT_EQ(s.code(), 0);
  EXPECT_EQ(s.signal(), std::nullopt);
  EXPECT_TRUE(s.success());
  EXPECT_EQ(s.native(), 0);
  EXPECT_EQ(s.to_string(), "exited with code 0");
}

TEST(ExitStatus, ExitedWithCodes) {
  for (int code : {1, 3, 42, 127, 255}) {
    SCOPED_TRACE(code);
    const exit_status s = exit_status::from_wait_status(code << 8);
    EXPECT_TRUE(s.exited());
    EXPECT_FALSE(s.signaled());
    EXPECT_FALSE(s.core_dumped());
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(s.signal(), std::nullopt);
    EXPECT_FALSE(s.success());
    EXPECT_EQ(s.native(), code << 8);
    EXPECT_EQ(s.to_string(), "exited with code " + std::to_string(code));
  }
}

TEST(ExitStatus, KilledBySignal) {
  const exit_status s = exit_status::from_wait_status(SIGKILL);
  EXPECT_FALSE(s.exited());
  EXPECT_TRUE(s.signaled());
  EXPECT_FALSE(s.core_dumped());
  EXPECT_EQ(s.code(), std::nullopt);
  EXPECT_EQ(s.signal(), SIGKILL);
  EXPECT_FALSE(s.success());
  EXPECT_EQ(s.native(), 9);
  EXPECT_EQ(s.to_string(), "killed by signal 9 (SIGKILL)");

  EXPECT_EQ(exit_status::from_wait_status(SIGTERM).to_string(), "killed by signal 15 (SIGTERM)");
  EXPECT_EQ(exit_status::from_wait_status(SIGHUP).to_string(), "killed by signal 1 (SIGHUP)");
  EXPECT_EQ(exit_status::from_wait_status(SIGUSR1).to_string(), "killed by signal 10 (SIGUSR1)");
}

TEST(ExitStatus, CoreDumped) {
  const exit_status s = exit_status::from_wait_status(0x8b);
  EXPECT_FALSE(s.exited());
  EXPECT_TRUE(s.signaled());
  EXPECT_TRUE(s.core_dumped());
  EXPECT_EQ(s.code(), std::nullopt);
  EXPECT_EQ(s.signal(), SIGSEGV);
  EXPECT_FALSE(s.success());
  EXPECT_EQ(s.native(), 0x8b);
  EXPECT_EQ(s.to_string(), "killed by signal 11 (SIGSEGV), core dumped");
  EXPECT_EQ(exit_status::from_wait_status(0x86).to_string(),
            "killed by signal 6 (SIGABRT), core dumped");
  // The same signal without the core flag.
  EXPECT_FALSE(exit_status::from_wait_status(SIGSEGV).core_dumped());
  EXPECT_EQ(exit_status::from_wait_status(SIGSEGV).to_string(), "killed by signal 11 (SIGSEGV)");
}

TEST(ExitStatus, MatchesWaitMacros) {
  // native() is the waitpid() encoding, so the libc macros agree with the accessors.
  for (int raw : {0, 0x100, 0xff00, 9, 15, 0x8b}) {
    SCOPED_TRACE(raw);
    const exit_status s = exit_status::from_wait_status(raw);
    EXPECT_EQ(s.exited(), WIFEXITED(s.native()) != 0);
    EXPECT_EQ(s.signaled(), WIFSIGNALED(s.native()) != 0);
    EXPECT_EQ(s.code().value_or(-1), s.exited() ? WEXITSTATUS(s.native()) : -1);
    EXPECT_EQ(s.signal().value_or(-1), s.signaled() ? WTERMSIG(s.native()) : -1);
  }
}

TEST(ExitStatus, FromSiginfo) {
  EXPECT_EQ(exit_status::from_siginfo(child_info(CLD_EXITED, 0)),
            exit_status::from_wait_status(0));
  EXPECT_EQ(exit_status::from_siginfo(child_info(CLD_EXITED, 3)),
            exit_status::from_wait_status(0x300));
  EXPECT_EQ(exit_status::from_siginfo(child_info(CLD_EXITED, 255)),
            exit_status::from_wait_status(0xff00));
  EXPECT_EQ(exit_status::from_siginfo(child_info(CLD_KILLED, SIGKILL)),
            exit_status::from_wait_status(9));
  EXPECT_EQ(exit_status::from_siginfo(child_info(CLD_KILLED, SIGTERM)).to_string(),
            "killed by signal 15 (SIGTERM)");
  const exit_status dumped = exit_status::from_siginfo(child_info(CLD_DUMPED, SIGSEGV));
  EXPECT_EQ(dumped.native(), 0x8b);
  EXPECT_TRUE(dumped.core_dumped());
  EXPECT_EQ(dumped.signal(), SIGSEGV);
}

TEST(ExitStatus, FromSiginfoOtherCodesGiveNoStatus) {
  for (int code : {int{CLD_STOPPED}, int{CLD_CONTINUED}, int{CLD_TRAPPED}, 0}) {
    SCOPED_TRACE(code);
    const exit_status s = exit_status::from_siginfo(child_info(code, SIGSTOP));
    EXPECT_EQ(s, exit_status());
    EXPECT_EQ(s.native(), -1);
    EXPECT_EQ(s.to_string(), "no status");
  }
}

TEST(ExitStatus, Equality) {
  EXPECT_EQ(exit_status(), exit_status());
  EXPECT_EQ(exit_status::from_wait_status(9), exit_status::from_wait_status(9));
  EXPECT_NE(exit_status::from_wait_status(9), exit_status::from_wait_status(0x89));
  EXPECT_NE(exit_status::from_wait_status(0x100), exit_status::from_wait_status(0x200));
  exit_status copy = exit_status::from_wait_status(0x2a00);
  EXPECT_EQ(copy.code(), 42);
  copy = exit_status();
  EXPECT_EQ(copy, exit_status());
}

TEST(ExitStatus, StreamOutput) {
  std::ostringstream os;
  os << exit_status::from_wait_status(0x300) << '|' << exit_status::from_wait_status(9) << '|'
     << exit_status::from_wait_status(0x8b) << '|' << exit_status();
  EXPECT_EQ(os.str(),
            "exited with code 3|killed by signal 9 (SIGKILL)|"
            "killed by signal 11 (SIGSEGV), core dumped|no status");
}

}  // namespace
