// placeholder: filled in by its issue
#ifndef PIDFD_DETAIL_ASYNC_OPS_HPP
#define PIDFD_DETAIL_ASYNC_OPS_HPP
#endif
