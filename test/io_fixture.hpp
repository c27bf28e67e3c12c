// The fixture of the asynchronous tests: it owns the io_context and runs it, always
// bounded, so that a test that goes wrong fails instead of hanging the suite.
#ifndef PIDFD_TEST_IO_FIXTURE_HPP
#define PIDFD_TEST_IO_FIXTURE_HPP

#include "run_until.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>

namespace pidfd_test {

/// Base of a test (TEST_F) that runs asynchronous operations on its own io_context.
class io_fixture : public ::testing::Test {
protected:
  boost::asio::io_context io;

  /// Runs io one handler at a time until pred() holds; false if it does not within bound.
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds bound = wait_bound) {
    return pidfd_test::run_until(io, pred, bound);
  }

  /// Runs io until it is out of work or `bound` has passed; the number of handlers run.
  std::size_t run_for(std::chrono::milliseconds bound = wait_bound) {
    io.restart();
    return io.run_for(bound);
  }
};

}  // namespace pidfd_test

#endif  // PIDFD_TEST_IO_FIXTURE_HPP
