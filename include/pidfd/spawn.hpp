// placeholder: filled in by its issue
#ifndef PIDFD_SPAWNSPAWN_HPP
#define PIDFD__HPP
#endif
