// The libc and kernel headers that declare, on some system, a name for one of the kernel
// constants of <pidfd/detail/linux.hpp>: glibc 2.39 and newer make SCM_PIDFD an enum
// constant in <sys/socket.h>, <sys/pidfd.h> grows PIDFD_* macros release by release, and
// <sched.h>, <sys/wait.h> and <sys/syscall.h> carry CLONE_*, P_PIDFD and SYS_*. Included by
// header_order_*.cpp before or after our headers.
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#if __has_include(<sys/pidfd.h>)
#include <sys/pidfd.h>
#endif
#if __has_include(<linux/magic.h>)
#include <linux/magic.h>
#endif
