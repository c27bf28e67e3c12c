// asio-pidfd internal: the compiled pieces behind <pidfd/process.hpp>. Asio-free, so the
// compiled library does not depend on the Asio configuration of its users.
#ifndef PIDFD_DETAIL_PROCESS_SUPPORT_HPP
#define PIDFD_DETAIL_PROCESS_SUPPORT_HPP

#include <pidfd/error.hpp>
#include <pidfd/pid_fd.hpp>
#include <pidfd/spawn.hpp>
#include <pidfd/unique_fd.hpp>

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace pidfd::detail {

/// spawn() that also accepts stdio_pipe for stdin_fd, stdout_fd and stderr_fd: each such
/// stream gets a new pipe (both ends O_CLOEXEC, the caller's end of stdin O_NONBLOCK), whose
/// child's end is closed again before this returns. parent_ends[i] receives the caller's
/// end for stream i (write end for stdin, read ends for stdout and stderr), or stays
/// empty. output_pipe_capacity, when not 0, is asked for the new stdout and stderr pipes,
/// best effort as run_options::pipe_capacity says (more than 2^31: invalid_argument,
/// before anything is made). On failure nothing is left open and no child is left.
pid_fd spawn_with_pipes(const std::vector<std::string>& argv, const spawn_options& options,
                        unique_fd (&parent_ends)[3], error_code& ec,
                        std::size_t output_pipe_capacity = 0) noexcept;

/// spawn_with_pipes() that also accepts stdio_pty: pty_master receives the master of the
/// new pseudo-terminal (close-on-exec) when a stream is stdio_pty, else stays empty. The
/// terminal has rows x cols (TIOCSWINSZ) before the child starts.
pid_fd spawn_with_stdio(const std::vector<std::string>& argv, const spawn_options& options,
                        unique_fd (&parent_ends)[3], unique_fd& pty_master, error_code& ec,
                        unsigned short rows = 24, unsigned short cols = 80,
                        std::size_t output_pipe_capacity = 0) noexcept;

/// TIOCSWINSZ on a pseudo-terminal master: the terminal's size in rows and columns.
error_code set_pty_size(int master, unsigned short rows, unsigned short cols) noexcept;

/// Throws system_error(ec) whose what() names the program: `function "program": message`.
[[noreturn]] void throw_spawn_error(const char* function, const std::vector<std::string>& argv,
                                    const spawn_options& options, const error_code& ec);

/// write() to a non-blocking pipe without letting SIGPIPE reach the process, whatever its
/// disposition: SIGPIPE is blocked in the calling thread for the call, and a SIGPIPE the
/// call raised is consumed. Returns the bytes written; ec is would_block when the pipe is
/// full, broken_pipe when nobody reads any more.
std::size_t write_without_sigpipe(int fd, const char* data, std::size_t size,
                                  error_code& ec) noexcept;

/// Opens /dev/null for writing (close-on-exec), the sink of discard_from_pipe().
unique_fd open_null_sink(error_code& ec) noexcept;

/// Moves what the non-blocking pipe pipe_fd holds to null_sink with splice(), without
/// copying it to user space. Returns the bytes discarded: 0 with ec clear at end of file,
/// ec would_block when the pipe is empty; invalid_argument if this kernel cannot splice
/// between them (read and discard instead).
std::size_t discard_from_pipe(int pipe_fd, int null_sink, error_code& ec) noexcept;

/// kill(-pgid, sig): the process-group signal for kernels without
/// PIDFD_SIGNAL_PROCESS_GROUP. Only race-free while the group's leader is an unreaped
/// child of ours (its pid, the group id, cannot be reused until it is reaped).
error_code kill_process_group(pid_t pgid, int sig) noexcept;

/// Signals the process group that leader leads: through its pidfd
/// (PIDFD_SIGNAL_PROCESS_GROUP, 6.9), which names the group also after the leader has been
/// reaped, for as long as a member is left; without that flag, kill(-pgid) while the leader
/// is an unreaped child of ours (after its reap, operation_not_supported).
error_code signal_process_group(const pid_fd& leader, int sig) noexcept;

/// How many processes other than pgid itself are in process group pgid and not yet
/// zombies, found by scanning /proc/<pid>/stat (field 5). A snapshot: a member forking
/// during the scan may be missed, and processes outside our pid namespace or hidden by
/// /proc's hidepid are not seen. ec: the error that kept the scan from being complete
/// (/proc, or a live process's stat, could not be opened or read); the count is then of
/// the members seen.
std::size_t count_group_members(pid_t pgid, error_code& ec) noexcept;

/// SIGKILL to what is left of the group that leader led (pgid is the leader's pid), after
/// its reap: counts the members (count_group_members) and, if there are any or the scan
/// was incomplete, signals the group through the leader's pidfd or, before 6.9 or if that
/// fails, with kill(-pgid) (the members just seen, or the probe that found the group,
/// keep the group id from being reused). Returns the count of members seen; 0 if no signal
/// could be sent.
std::size_t kill_group_leftovers(const pid_fd& leader, pid_t pgid) noexcept;

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_PROCESS_SUPPORT_HPP
