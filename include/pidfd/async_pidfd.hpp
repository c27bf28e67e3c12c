// placeholder: filled in by its issue
#ifndef PIDFD_ASYNC_PIDFDASYNC_PIDFD_HPP
#define PIDFD__HPP
#endif
