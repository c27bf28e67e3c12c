// The precompiled header of the test binary (test/meson.build, cpp_pch): the GoogleTest,
// Boost.Asio, library and standard headers that most test files include, parsed once
// instead of once per file. Only headers go here, never a definition of ours: every test
// file still includes what it uses, so it also compiles without this (-Db_pch=false).
// The header checks (test/header_check_*.cpp, test/header_order_*.cpp) are compiled
// without it.
#ifndef ASIO_PIDFD_TESTS_PCH_HPP
#define ASIO_PIDFD_TESTS_PCH_HPP

#include <pidfd/pidfd.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#endif  // ASIO_PIDFD_TESTS_PCH_HPP
