// Boost.Process v2, the benchmarks' peer. Up to Boost 1.87 it is header-only and, with
// std::filesystem, needs no Boost library; from 1.88 on it is the boost_process library,
// built with Boost.Filesystem paths. Its headers miss a few includes, supplied here.
#ifndef ASIO_PIDFD_BENCH_BP2_HPP
#define ASIO_PIDFD_BENCH_BP2_HPP

#include <boost/version.hpp>
#if BOOST_VERSION < 108800
#define BOOST_PROCESS_USE_STD_FS
#endif
#include <boost/io/quoted.hpp>
#include <boost/optional.hpp>
#include <type_traits>
#include <boost/process/v2/process.hpp>

namespace bp2 = boost::process::v2;

#endif  // ASIO_PIDFD_BENCH_BP2_HPP
