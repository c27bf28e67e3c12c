// Tests for <pidfd/error.hpp>: the "pidfd" category, errc conversions, how library
// errors compare with the generic conditions, and that every part of the library reports
// the same errno as the same error_code. Other OS errors from real calls are checked in
// each part's own test file.
#include <pidfd/error.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include "support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/errc.hpp>

#include <signal.h>

#include <cerrno>
#include <string>
#include <type_traits>
#include <vector>

namespace {

static_assert(boost::system::is_error_code_enum<pidfd::errc>::value);
static_assert(std::is_same_v<pidfd::error_code, boost::system::error_code>);
static_assert(std::is_same_v<pidfd::system_error, boost::system::system_error>);
static_assert(static_cast<int>(pidfd::errc::status_unavailable) == 1);
static_assert(static_cast<int>(pidfd::errc::not_a_pidfd) == 2);
static_assert(noexcept(pidfd::category()));
static_assert(noexcept(pidfd::make_error_code(pidfd::errc::not_a_pidfd)));

TEST(Error, CategoryName) {
  EXPECT_STREQ(pidfd::category().name(), "pidfd");
  // One category object: every call returns the same instance.
  EXPECT_EQ(&pidfd::category(), &pidfd::category());
  EXPECT_NE(pidfd::category(), boost::system::system_category());
  EXPECT_NE(pidfd::category(), boost::system::generic_category());
}

TEST(Error, MakeErrorCode) {
  const pidfd::error_code a = pidfd::make_error_code(pidfd::errc::status_unavailable);
  EXPECT_EQ(a.value(), 1);
  EXPECT_EQ(&a.category(), &pidfd::category());
  EXPECT_TRUE(a.failed());
  EXPECT_TRUE(static_cast<bool>(a));
  const pidfd::error_code b = pidfd::make_error_code(pidfd::errc::not_a_pidfd);
  EXPECT_EQ(b.value(), 2);
  EXPECT_EQ(&b.category(), &pidfd::category());
  EXPECT_NE(a, b);
}

TEST(Error, ImplicitConversionFromEnum) {
  // is_error_code_enum lets errc convert and compare directly.
  pidfd::error_code ec = pidfd::errc::status_unavailable;
  EXPECT_EQ(ec, pidfd::errc::status_unavailable);
  EXPECT_NE(ec, pidfd::errc::not_a_pidfd);
  EXPECT_EQ(ec.value(), 1);
  EXPECT_STREQ(ec.category().name(), "pidfd");
  ec = pidfd::errc::not_a_pidfd;
  EXPECT_EQ(ec, pidfd::errc::not_a_pidfd);
  // Not equal to the generic conditions that share the numbers (EPERM = 1, ENOENT = 2).
  EXPECT_NE(ec, boost::system::errc::no_such_file_or_directory);
  EXPECT_NE(pidfd::error_code(pidfd::errc::status_unavailable),
            boost::system::errc::operation_not_permitted);
}

TEST(Error, Messages) {
  EXPECT_EQ(pidfd::make_error_code(pidfd::errc::status_unavailable).message(),
            "the process has exited but its exit status is unavailable");
  EXPECT_EQ(pidfd::make_error_code(pidfd::errc::not_a_pidfd).message(),
            "the file descriptor is not a pidfd");
  EXPECT_EQ(pidfd::category().message(1), pidfd::make_error_code(pidfd::errc::status_unavailable).message());
  // A value outside the enum still gets a message rather than an exception.
  EXPECT_EQ(pidfd::category().message(99), "unknown pidfd error 99");
}

TEST(Error, SystemErrorCarriesTheCode) {
  const pidfd::system_error e(pidfd::errc::status_unavailable, "pidfd::pid_fd::wait");
  EXPECT_EQ(e.code(), pidfd::errc::status_unavailable);
  EXPECT_EQ(std::string(e.what()),
            "pidfd::pid_fd::wait: the process has exited but its exit status is unavailable "
            "[pidfd:1]");
}

TEST(Error, OsErrorsCompareWithGenericConditions) {
  // The library keeps errno values in system_category(); these are the conditions its
  // documentation promises, so they must compare equal to the generic errc values.
  const pidfd::error_code srch(ESRCH, boost::system::system_category());
  EXPECT_EQ(srch, boost::system::errc::no_such_process);
  const pidfd::error_code nosup(EOPNOTSUPP, boost::system::system_category());
  EXPECT_EQ(nosup, boost::system::errc::operation_not_supported);
  EXPECT_NE(srch, pidfd::errc::status_unavailable);
}

// One errno, EBADF, provoked from each part of the library: every one reports the same
// error_code (errno in system_category()), which is also Asio's own bad_descriptor, so
// the codes compare equal with == and not only through the generic condition.
TEST(Error, SameErrnoIsTheSameErrorCodeEverywhere) {
  const pidfd::error_code ebadf(EBADF, boost::system::system_category());
  ASSERT_EQ(ebadf, pidfd::error_code(boost::asio::error::bad_descriptor));
  ASSERT_EQ(ebadf, boost::system::errc::bad_file_descriptor);

  std::vector<std::pair<std::string, pidfd::error_code>> reported;
  const pidfd::pid_fd empty;
  pidfd::error_code ec;
  empty.send_signal(SIGTERM, ec);
  reported.emplace_back("pid_fd::send_signal", ec);
  (void)empty.pid(ec);
  reported.emplace_back("pid_fd::pid", ec);
  (void)empty.info(ec);
  reported.emplace_back("pid_fd::info", ec);
  pidfd::pid_fd waited;
  (void)waited.try_wait(ec);
  reported.emplace_back("pid_fd::try_wait", ec);

  pidfd::spawn_options bad_source;
  bad_source.extra_fds = {{3, -1}};
  const pidfd::pid_fd spawned = pidfd::spawn({pidfd_test::child_path(), "exit", "0"}, bad_source, ec);
  EXPECT_FALSE(spawned.is_open());
  reported.emplace_back("spawn", ec);

  pidfd::run_options run_bad_source;
  run_bad_source.spawn = bad_source;
  const pidfd::run_result r = pidfd::run({pidfd_test::child_path(), "exit", "0"}, run_bad_source, ec);
  EXPECT_EQ(r.status, pidfd::exit_status());
  reported.emplace_back("run", ec);

  boost::asio::io_context io;
  boost::asio::local::stream_protocol::socket closed_stream(io);
  pidfd::send_pidfd(closed_stream, empty, ec);
  reported.emplace_back("send_pidfd", ec);
  (void)pidfd::peer_credentials(closed_stream, ec);
  reported.emplace_back("peer_credentials", ec);
  (void)pidfd::peer_pidfd(closed_stream, ec);
  reported.emplace_back("peer_pidfd", ec);

  for (const auto& [where, code] : reported) {
    EXPECT_EQ(code, ebadf) << where << ": " << code.what();
    EXPECT_EQ(&code.category(), &boost::system::system_category()) << where;
    EXPECT_EQ(code.value(), EBADF) << where;
  }
}

}  // namespace
