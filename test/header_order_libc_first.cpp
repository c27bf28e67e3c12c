// The libc headers first, then ours: a macro of ours would rewrite glibc's declarations.
#include "libc_headers.hpp"
#include <pidfd/pidfd.hpp>
#define HEADER_ORDER_SUITE HeaderOrderLibcFirst
#include "header_order.hpp"
