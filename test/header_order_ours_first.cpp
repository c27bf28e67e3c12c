// Our headers first, then libc's: a name of ours would collide with glibc's enum constants.
#include <pidfd/pidfd.hpp>
#include <pidfd/detail/linux.hpp>
#include "libc_headers.hpp"
#define HEADER_ORDER_SUITE HeaderOrderOursFirst
#include "header_order.hpp"
