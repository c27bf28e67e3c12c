// Test support for Asio: running an io_context, bounded, until a condition holds.
#ifndef PIDFD_TEST_RUN_UNTIL_HPP
#define PIDFD_TEST_RUN_UNTIL_HPP

#include "support.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace pidfd_test {

/// Runs io one handler at a time until pred() holds; false if it does not within bound.
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred pred,
               std::chrono::milliseconds bound = wait_bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace pidfd_test

#endif  // PIDFD_TEST_RUN_UNTIL_HPP
