// asio-pidfd: the umbrella header: everything the library offers.
#ifndef PIDFD_PIDFD_HPP
#define PIDFD_PIDFD_HPP

#include <pidfd/async_pidfd.hpp>
#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/kernel.hpp>
#include <pidfd/local_socket.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>
#include <pidfd/unique_fd.hpp>

#endif  // PIDFD_PIDFD_HPP
