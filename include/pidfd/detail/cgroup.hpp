// asio-pidfd internal: a cgroup v2 made for one run, the compiled building blocks of
// run_scope::cgroup. Asio-free, so the compiled library does not depend on the Asio
// configuration of its users; the asynchronous watch lives in detail/cgroup_watch.hpp.
//
// Why a cgroup: a process group or session can be left with setsid(), and a double fork
// re-parents a daemon away from us, but a process cannot leave its cgroup without write
// access to a common ancestor's cgroup.procs. A fresh cgroup per run therefore holds the
// whole tree the run started, cgroup.kill (5.14) ends it in one step, cgroup.events tells
// when the last member is gone, and cpu.stat adds up the CPU of the whole tree.
#ifndef PIDFD_DETAIL_CGROUP_HPP
#define PIDFD_DETAIL_CGROUP_HPP

#include <pidfd/error.hpp>
#include <pidfd/unique_fd.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pidfd::detail {

/// Every cgroup run_cgroup creates is named `<prefix><pid>-<counter>-<random>`, the pid
/// being the creating process's: a leftover can be traced to its creator.
inline constexpr std::string_view run_cgroup_prefix = "asio-pidfd-run-";

/// A cgroup2 mount as /proc/self/mountinfo describes it.
struct cgroup2_mount {
  std::filesystem::path mount_point;  ///< where it is mounted, e.g. /sys/fs/cgroup/unified
  std::string root;                   ///< the cgroup shown at mount_point ("/" normally)
  bool read_only = false;             ///< mounted "ro" (as containers often do)
};

/// Chooses, among the cgroup2 mounts listed in `mountinfo` (the text of
/// /proc/self/mountinfo), the one through which `cgroup` (a path as the "0::" line of
/// /proc/<pid>/cgroup gives it) is reachable: its root must contain the cgroup. Of several,
/// a writable one beats a read-only one, then the one showing more of the hierarchy
/// (shorter root), then the one mounted last (it hides earlier ones at the same place).
/// Mount points are unescaped (mountinfo writes a space as \040). nullopt if none fits.
std::optional<cgroup2_mount> choose_cgroup2_mount(std::string_view mountinfo,
                                                  std::string_view cgroup);

/// The cgroup v2 path of `text`, the contents of a /proc/<pid>/cgroup file (its "0::"
/// line); nullopt on a v1-only system.
std::optional<std::string> unified_cgroup_path(std::string_view text);

/// The directory of the calling process's own cgroup v2: the right cgroup2 mount of
/// /proc/self/mountinfo joined with the "0::" line of /proc/self/cgroup.
/// operation_not_supported if either is missing (no cgroup2 mounted, or one that does not
/// show our cgroup, as in a container given another cgroup's mount).
std::filesystem::path own_cgroup_directory(error_code& ec) noexcept;

/// The CPU the processes of a cgroup (and of the cgroups below it) have used, dead ones
/// included, from its cpu.stat.
struct cgroup_cpu_usage {
  std::chrono::microseconds usage{};   ///< usage_usec: user + system
  std::chrono::microseconds user{};    ///< user_usec
  std::chrono::microseconds system{};  ///< system_usec
};

/// Parses the text of a cpu.stat file; nullopt unless it has all three of usage_usec,
/// user_usec and system_usec.
std::optional<cgroup_cpu_usage> parse_cpu_stat(std::string_view text) noexcept;

/// A cgroup v2 made for one run: created empty as a direct child of a parent cgroup, with
/// a unique name, open as a directory whose descriptor spawn_options::cgroup_fd takes
/// (clone3 CLONE_INTO_CGROUP). Move-only; the object owns the directory and its
/// descriptor.
///
/// "Members" are the processes of this cgroup and of any cgroup a member made below it
/// (a member running as root may mkdir one and move into it; it still cannot leave the
/// subtree). Every query below covers that subtree, as cgroup.kill and `populated` do.
///
/// Where the parent has controllers enabled in its cgroup.subtree_control, the new cgroup
/// gets them too; that does not hinder starting processes in it (the "no internal
/// processes" rule forbids processes only in a cgroup that itself enables controllers for
/// its children, and nothing enables any in ours). A member that tries to enable
/// controllers in ours gets EBUSY. A parent of the threaded type cannot hold a new domain
/// cgroup: clone3 then fails with operation_not_supported.
///
/// Not thread-safe: one thread (or strand) at a time per object.
class run_cgroup {
public:
  /// An empty object (is_open() false).
  run_cgroup() noexcept = default;

  /// Creates a new, empty cgroup directly below `parent` (a cgroup2 directory; default:
  /// the calling process's own cgroup v2) and opens it. It is checked that the kernel has
  /// cgroup.kill (5.14). Errors, nothing left behind on any of them:
  /// no_such_file_or_directory for a parent that does not exist; not_a_directory, or
  /// invalid_argument for a directory outside a cgroup2 file system; permission_denied
  /// where the caller may not create a cgroup there; operation_not_supported where no
  /// cgroup2 is mounted, it is mounted read-only, or the kernel lacks cgroup.kill.
  static run_cgroup create(const std::optional<std::filesystem::path>& parent,
                           error_code& ec) noexcept;

  /// Takes other's cgroup; other becomes empty.
  run_cgroup(run_cgroup&& other) noexcept;
  /// Releases (see the destructor) the owned cgroup, then takes other's.
  run_cgroup& operator=(run_cgroup&& other) noexcept;
  run_cgroup(const run_cgroup&) = delete;
  run_cgroup& operator=(const run_cgroup&) = delete;

  /// Best effort, never blocking: if the cgroup is still populated, writes cgroup.kill;
  /// then removes the directory if it can at once. A cgroup whose members are still dying
  /// (cgroup.kill delivers SIGKILL, it does not wait) or are frozen stays behind, empty
  /// and harmless but visible: the owner is expected to kill(), wait for
  /// populated() == false (asynchronously, through watch_events()) and remove() first.
  ~run_cgroup();

  /// True if a cgroup is owned.
  bool is_open() const noexcept { return dir_.is_open(); }
  /// The cgroup's directory, O_DIRECTORY | O_CLOEXEC: for spawn_options::cgroup_fd.
  int native_handle() const noexcept { return dir_.get(); }
  /// The cgroup's directory in the file system (below the cgroup2 mount point).
  const std::filesystem::path& path() const noexcept { return path_; }
  /// The cgroup's path as /proc/<pid>/cgroup shows it for a member, e.g.
  /// "/asio-pidfd-run-4242-1-9f3a01c2" (relative to the cgroup2 root; empty if the
  /// parent was given as a directory this process could not map to one).
  const std::string& cgroup_path() const noexcept { return cgroup_path_; }

  /// Writes "1" to cgroup.kill: every member gets SIGKILL, at once and race-free (the
  /// kernel also catches processes forked meanwhile). Returns before they are gone.
  error_code kill() noexcept;

  /// The `populated` value of cgroup.events: true while any member is alive. A member
  /// that has exited but is not reaped yet (a zombie) no longer counts.
  bool populated(error_code& ec) const noexcept;

  /// The members' pids (each once), from cgroup.procs of the cgroup and of every cgroup
  /// below it. A snapshot: a member may exit, and its pid be reused, right after.
  std::vector<pid_t> members(error_code& ec) const noexcept;

  /// How many members there are now (members().size()).
  std::size_t count_members(error_code& ec) const noexcept;

  /// Sends `sig` to every member, race-free per process: each is signalled through a
  /// pidfd, and only if its pid is still listed as a member after the pidfd was opened
  /// (so a pid reused by an outsider in between is never signalled). Returns how many
  /// processes were signalled. Members that exit meanwhile are skipped silently.
  std::size_t signal_all(int sig, error_code& ec) noexcept;

  /// The CPU used by the members so far (dead ones included), from cpu.stat; nullopt,
  /// without an error, where the file is absent or lacks the fields.
  std::optional<cgroup_cpu_usage> cpu_usage(error_code& ec) const noexcept;

  /// The cgroup's cgroup.events, opened for reading (O_NONBLOCK | O_CLOEXEC): the kernel
  /// reports POLLPRI (with POLLERR) on it once the file has changed since it was last read
  /// through this descriptor (`populated` is one of its fields), so a wait for that
  /// condition (Asio's wait_error, under epoll and io_uring alike) sees every change, and
  /// nothing is polled. Read it with read_events_and_check_empty() before each wait.
  ///
  /// Not inotify: closing an inotify descriptor that has had a watch waits for a kernel
  /// grace period (5 to 20 ms measured), and that close would stall the I/O thread at the
  /// end of every run.
  unique_fd watch_events(error_code& ec) const noexcept;

  /// Removes the cgroup's directory (and any empty cgroup a member made below it) and
  /// closes it; the object becomes empty. device_or_resource_busy (EBUSY) while the
  /// cgroup is populated: the object then still owns it; wait until populated() is false
  /// (a killed member leaves only when it is dead) and call again.
  error_code remove() noexcept;

  /// Gives up ownership without removing anything; the object becomes empty.
  void release() noexcept;

private:
  run_cgroup(unique_fd dir, std::filesystem::path path, std::string cgroup_path) noexcept;

  unique_fd dir_;
  std::filesystem::path path_;
  std::string cgroup_path_;
};

/// Reads cgroup.events through a descriptor from run_cgroup::watch_events() (from its
/// start, so that the change is acknowledged and only a newer one raises POLLPRI again)
/// and returns true if `populated` is 0. Reading before waiting matters: a change after
/// the read is reported to the next wait, so none can be missed.
bool read_events_and_check_empty(int events_fd, error_code& ec) noexcept;

}  // namespace pidfd::detail

#endif  // PIDFD_DETAIL_CGROUP_HPP
