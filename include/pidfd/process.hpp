// asio-pidfd: talking to a child: its standard streams as Asio pipes, and async_run(),
// which runs a program and collects its output.
#ifndef PIDFD_PROCESS_HPP
#define PIDFD_PROCESS_HPP

#include <pidfd/async_pidfd.hpp>
#include <pidfd/detail/process_support.hpp>
#include <pidfd/detail/pty_ops.hpp>
#include <pidfd/detail/run_policy.hpp>
#include <pidfd/error.hpp>
#include <pidfd/exit_status.hpp>
#include <pidfd/spawn.hpp>
#include <pidfd/unique_fd.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_readable_pipe.hpp>
#include <boost/asio/basic_writable_pipe.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/execution/executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/is_executor.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace pidfd {

namespace detail {
template <class T>
inline constexpr bool is_executor_v =
    boost::asio::execution::is_executor<T>::value || boost::asio::is_executor<T>::value;
template <class T>
inline constexpr bool is_execution_context_v =
    std::is_convertible_v<T&, boost::asio::execution_context&>;
}  // namespace detail

/// The master side of a pseudo-terminal: a basic_stream_descriptor whose reads report the
/// end of the terminal's output as boost::asio::error::eof.
///
/// When no process holds the terminal's slave side open any more (the child and whatever
/// inherited its terminal have exited), Linux fails reads of the master with EIO rather
/// than returning end of file; read_some() and async_read_some() of this type turn that
/// EIO into eof, so async_read(), async_read_until() and the like end as they do on a
/// pipe. Everything else (writes, waits, cancellation, the other errors) is the base
/// class's. Output the child wrote before it exited is read first.
///
/// @tparam Executor the I/O executor type.
template <typename Executor = boost::asio::any_io_executor>
class basic_pty_master : public boost::asio::posix::basic_stream_descriptor<Executor> {
  using base = boost::asio::posix::basic_stream_descriptor<Executor>;

public:
  /// The type of the executor associated with the object.
  using executor_type = Executor;

  /// Rebinds the object type to another executor.
  template <typename Executor1>
  struct rebind_executor {
    /// The object type when rebound to the specified executor.
    using other = basic_pty_master<Executor1>;
  };

  /// The constructors of basic_stream_descriptor: without a descriptor, or adopting one.
  using base::base;

  /// Moves the descriptor; other is left closed.
  basic_pty_master(basic_pty_master&& other) noexcept = default;
  /// Moves from an object with another executor type convertible to ours.
  template <typename Executor1>
    requires std::is_convertible_v<Executor1, Executor>
  basic_pty_master(basic_pty_master<Executor1>&& other)
      : base(std::move(static_cast<boost::asio::posix::basic_stream_descriptor<Executor1>&>(
            other))) {}
  /// Closes this object's descriptor, then takes other's.
  basic_pty_master& operator=(basic_pty_master&& other) noexcept = default;
  /// Reads some data, as basic_stream_descriptor::read_some(), throwing system_error
  /// with boost::asio::error::eof once the terminal's output has ended.
  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers) {
    error_code ec;
    const std::size_t n = read_some(buffers, ec);
    if (ec) throw system_error(ec, "read_some");
    return n;
  }

  /// Reads some data, as basic_stream_descriptor::read_some(); ec is
  /// boost::asio::error::eof once the terminal's output has ended.
  template <typename MutableBufferSequence>
  std::size_t read_some(const MutableBufferSequence& buffers, error_code& ec) {
    const std::size_t n = base::read_some(buffers, ec);
    detail::pty_eio_to_eof(ec);
    return n;
  }

  /// Starts an asynchronous read, as basic_stream_descriptor::async_read_some(); it
  /// completes with boost::asio::error::eof once the terminal's output has ended.
  ///
  /// Completion signature: void(error_code, std::size_t). Per-operation cancellation and
  /// the handler's associated executor and allocator are those of the base operation.
  template <typename MutableBufferSequence,
            boost::asio::completion_token_for<void(error_code, std::size_t)> ReadToken =
                boost::asio::default_completion_token_t<Executor>>
  auto async_read_some(const MutableBufferSequence& buffers,
                       ReadToken&& token = boost::asio::default_completion_token_t<Executor>()) {
    return boost::asio::async_compose<ReadToken, void(error_code, std::size_t)>(
        detail::pty_read_op<base, MutableBufferSequence>{static_cast<base&>(*this), buffers},
        token, static_cast<base&>(*this));
  }
};

/// basic_pty_master with the default, polymorphic I/O executor.
using pty_master = basic_pty_master<>;

/// A child process started by spawn() with an executor: its pidfd, and the caller's ends
/// of the pipes connected to its standard streams.
///
/// Each pipe is open exactly when the matching spawn_options field was stdio_pipe, and pty
/// exactly when one of them was stdio_pty. The
/// pipes are ordinary Asio pipe objects: read and write them with async_read,
/// async_write, ... Closing stdin_pipe gives the child end of file. The child's ends of
/// the pipes were closed in the caller before spawn() returned, so the read pipes reach
/// end of file once the child (and whatever inherited its streams) has closed them.
///
/// Writing to stdin_pipe after the child closed its end fails with broken_pipe and, as
/// with any pipe, raises SIGPIPE unless the application ignores or blocks it (async_run()
/// never lets SIGPIPE through).
///
/// Destroying the object closes the pipes and the pidfd. By default it neither signals nor
/// reaps the process: a child dropped unreaped stays a zombie until something reaps it
/// (wait for it first, as with basic_async_pidfd). With kill_on_destroy set, the
/// destructor kills (SIGKILL) and reaps a child whose status is not known yet.
///
/// @tparam Executor the I/O executor type.
template <typename Executor = boost::asio::any_io_executor>
struct basic_process {
  /// The type of the executor associated with the object.
  using executor_type = Executor;

  /// Rebinds the object type to another executor.
  template <typename Executor1>
  struct rebind_executor {
    /// The object type when rebound to the specified executor.
    using other = basic_process<Executor1>;
  };

  /// An object without a process or pipes, using ex for I/O.
  explicit basic_process(const executor_type& ex)
      : pidfd(ex), stdin_pipe(ex), stdout_pipe(ex), stderr_pipe(ex), pty(ex) {}

  /// An object without a process or pipes, using ctx's executor for I/O.
  template <typename ExecutionContext>
  explicit basic_process(
      ExecutionContext& ctx,
      std::enable_if_t<detail::is_execution_context_v<ExecutionContext>, int> = 0)
      : pidfd(ctx), stdin_pipe(ctx), stdout_pipe(ctx), stderr_pipe(ctx), pty(ctx) {}

  /// Moves the process and its pipes; other is left without them (and kills nothing when
  /// destroyed).
  basic_process(basic_process&& other) noexcept = default;
  /// Moves from an object with another executor type convertible to ours (for example
  /// from spawn(io_context&, ...) into a process with the polymorphic executor).
  template <typename Executor1>
    requires std::is_convertible_v<Executor1, Executor>
  basic_process(basic_process<Executor1>&& other)
      : pidfd(std::move(other.pidfd)),
        stdin_pipe(std::move(other.stdin_pipe)),
        stdout_pipe(std::move(other.stdout_pipe)),
        stderr_pipe(std::move(other.stderr_pipe)),
        pty(std::move(other.pty)),
        kill_on_destroy(other.kill_on_destroy) {}
  /// Closes this object's pipes, terminal and pidfd (killing its child first if
  /// kill_on_destroy), then takes other's.
  basic_process& operator=(basic_process&& other) noexcept {
    if (this != &other) {
      kill_if_asked();
      pidfd = std::move(other.pidfd);
      stdin_pipe = std::move(other.stdin_pipe);
      stdout_pipe = std::move(other.stdout_pipe);
      stderr_pipe = std::move(other.stderr_pipe);
      pty = std::move(other.pty);
      kill_on_destroy = other.kill_on_destroy;
    }
    return *this;
  }

  basic_process(const basic_process&) = delete;
  basic_process& operator=(const basic_process&) = delete;

  /// Closes the pipes and the pidfd; with kill_on_destroy, first sends SIGKILL to a child
  /// whose status is not known yet and reaps it (prompt after SIGKILL: this does not
  /// block for long). Without it, an unreaped child stays a zombie until reaped otherwise.
  ~basic_process() { kill_if_asked(); }

  /// The pidfd of the process; open after a successful spawn().
  basic_async_pidfd<Executor> pidfd;
  /// The write end of the child's stdin; open iff stdin_fd was stdio_pipe.
  boost::asio::basic_writable_pipe<Executor> stdin_pipe;
  /// The read end of the child's stdout; open iff stdout_fd was stdio_pipe.
  boost::asio::basic_readable_pipe<Executor> stdout_pipe;
  /// The read end of the child's stderr; open iff stderr_fd was stdio_pipe.
  boost::asio::basic_readable_pipe<Executor> stderr_pipe;
  /// The master of the child's pseudo-terminal; open iff stdin_fd, stdout_fd or stderr_fd
  /// was stdio_pty. Write to it what the user would type (the terminal echoes it and, by
  /// default, turns "\n" of the output into "\r\n"); reads end with error::eof.
  basic_pty_master<Executor> pty;

  /// Sets the size of the child's terminal (TIOCSWINSZ; the kernel sends SIGWINCH to the
  /// terminal's foreground process group). Works also after the child has exited.
  /// bad_file_descriptor when there is no terminal (pty not open).
  void resize_pty(unsigned short rows, unsigned short cols) {
    error_code ec;
    resize_pty(rows, cols, ec);
    if (ec) throw system_error(ec, "pidfd::basic_process::resize_pty");
  }
  /// As above, reporting errors through ec.
  void resize_pty(unsigned short rows, unsigned short cols, error_code& ec) noexcept {
    ec = detail::set_pty_size(pty.is_open() ? pty.native_handle() : -1, rows, cols);
  }

  /// When true, destroying (or assigning to) the object kills and reaps its child if its
  /// status is not known yet. Default false, so that a child can outlive the object.
  bool kill_on_destroy = false;

  /// The executor used for I/O.
  executor_type get_executor() noexcept { return pidfd.get_executor(); }

private:
  void kill_if_asked() noexcept {
    if (!kill_on_destroy || !pidfd.is_open()) return;
    pid_fd& core = pidfd.core();
    if (core.cached_status()) return;
    error_code ec;
    core.kill(ec);
    // A child already reaped elsewhere (ESRCH) is not waited for; ours, even a zombie, is
    // reaped promptly after SIGKILL.
    if (!ec) (void)core.wait(ec);
  }
};

/// basic_process with the default, polymorphic I/O executor.
using process = basic_process<>;

/// Starts a program as spawn(argv, options) does, with its pidfd, any stdio_pipe streams
/// and the master of its terminal (stdio_pty) registered with ex's execution context.
///
/// Every pipe is created close-on-exec and handed to the child through the spawn plan, so
/// it can never leak into another child spawned at the same moment by another thread
/// (which would keep the read end from ever seeing end of file).
///
/// Errors: those of spawn(), or of registering a descriptor with the context. On failure
/// the returned object is empty and nothing is left open or running (a child that was
/// started but could not be registered is killed and reaped).
///
/// One failure cannot be reported through ec: when these are the first I/O objects of ex's
/// context, constructing even the empty result creates the context's reactor, which needs
/// descriptors and memory; if that fails (nothing has been started yet) the program
/// terminates, as noexcept requires. Create an I/O object on the context first (or use
/// the throwing overload) where that can happen.
// A basic_process cannot be returned without constructing its I/O objects (see above).
// NOLINTBEGIN(bugprone-exception-escape)
template <typename Executor>
  requires detail::is_executor_v<Executor>
basic_process<Executor> spawn(const Executor& ex, const std::vector<std::string>& argv,
                              const spawn_options& options, error_code& ec) noexcept {
  // NOLINTEND(bugprone-exception-escape)
  basic_process<Executor> p(ex);
  unique_fd ends[3];
  unique_fd master;
  pid_fd child = detail::spawn_with_stdio(argv, options, ends, master, ec);
  if (ec) return p;
  // From here on, failures become ec, so that the child is never left behind.
  try {
    detail::impl_of(p.pidfd).assign(child, ec);
    if (!ec && ends[0]) p.stdin_pipe.assign(ends[0].get(), ec);
    if (!ec) (void)ends[0].release();
    if (!ec && ends[1]) p.stdout_pipe.assign(ends[1].get(), ec);
    if (!ec) (void)ends[1].release();
    if (!ec && ends[2]) p.stderr_pipe.assign(ends[2].get(), ec);
    if (!ec) (void)ends[2].release();
    if (!ec && master) p.pty.assign(master.get(), ec);
    if (!ec) (void)master.release();
  } catch (const std::bad_alloc&) {  // a reactor's per-descriptor state
    ec = detail::errno_code(ENOMEM);
  } catch (const system_error& e) {
    ec = e.code();
  }
  if (ec) {
    error_code ignored;
    pid_fd& owner = p.pidfd.is_open() ? p.pidfd.core() : child;
    owner.kill(ignored);
    (void)owner.wait(ignored);
    p.pidfd.close(ignored);
    p.stdin_pipe.close(ignored);
    p.stdout_pipe.close(ignored);
    p.stderr_pipe.close(ignored);
    p.pty.close(ignored);
  }
  return p;
}

/// As above, throwing system_error on failure; what() names the program.
template <typename Executor>
  requires detail::is_executor_v<Executor>
basic_process<Executor> spawn(const Executor& ex, const std::vector<std::string>& argv,
                              const spawn_options& options = {}) {
  error_code ec;
  basic_process<Executor> p = pidfd::spawn(ex, argv, options, ec);
  if (ec) detail::throw_spawn_error("pidfd::spawn", argv, options, ec);
  return p;
}

/// As above, using ctx's executor.
template <typename ExecutionContext>
  requires detail::is_execution_context_v<ExecutionContext>
basic_process<typename ExecutionContext::executor_type> spawn(
    ExecutionContext& ctx, const std::vector<std::string>& argv,
    const spawn_options& options, error_code& ec) noexcept {
  return pidfd::spawn(ctx.get_executor(), argv, options, ec);
}

/// As above, using ctx's executor, throwing system_error on failure.
template <typename ExecutionContext>
  requires detail::is_execution_context_v<ExecutionContext>
basic_process<typename ExecutionContext::executor_type> spawn(
    ExecutionContext& ctx, const std::vector<std::string>& argv,
    const spawn_options& options = {}) {
  return pidfd::spawn(ctx.get_executor(), argv, options);
}

/// The size of a terminal's window, in character cells (TIOCSWINSZ).
struct window_size {
  /// Lines.
  unsigned short rows = 24;
  /// Columns.
  unsigned short cols = 80;
};

/// Options of async_run() and run(): how the program is started, what it reads, what is
/// collected, and how long it may take.
struct run_options {
  /// How the program is started. stdout_fd and stderr_fd are replaced by pipes for the
  /// streams that are captured, and stdin_fd by a pipe when input is set. A stream set to
  /// stdio_pipe here is captured (stdout, stderr) or gets an empty input (stdin). With pty,
  /// all three are replaced by the terminal, whatever they were set to.
  spawn_options spawn;
  /// Written to the program's stdin, which is then closed. std::nullopt: stdin is
  /// spawn.stdin_fd. With pty: typed into the terminal (see pty); std::nullopt: nothing
  /// is typed.
  std::optional<std::string> input;
  /// Run the program on a new pseudo-terminal, as if in a terminal window: its stdin,
  /// stdout and stderr are all the terminal (spawn.stdin_fd, stdout_fd and stderr_fd are
  /// ignored), it leads a new session (spawn.new_session is implied; spawn.process_group
  /// must stay unset, else the spawn fails with operation_not_permitted) with the
  /// terminal as its controlling terminal, and isatty() is true for all three.
  ///
  /// Everything the terminal shows is one stream: it is collected into run_result::out
  /// (err stays empty) under output_limit and capture_stdout, and streamed to on_output as
  /// output_stream::out. It is what a terminal would display: line ends are "\r\n",
  /// programs may colour their output, and typed input is echoed.
  ///
  /// input, when set, is typed at the terminal, followed by end of file as a user would
  /// give it: the end-of-file character (^D), twice when its last line has no '\n' (the
  /// first ^D ends that line). A program reading with the terminal in its
  /// default, line-by-line mode thus reads input and then end of file, as from a closed
  /// pipe; one that switched the terminal to raw mode reads ^D as the character 0x04. A
  /// line longer than the terminal's line buffer (4095 bytes) is cut there. Without input,
  /// nothing is typed: a program that waits for input waits until the timeout.
  ///
  /// The output ends when no process has the terminal open any more (the read's EIO is
  /// end of file). scope, timeout, grace and cancellation work as without a terminal; the
  /// child leads its own process group, so signals go to the whole group.
  bool pty = false;
  /// With pty: the terminal's window size, set before the program starts.
  window_size pty_size;
  /// Collect stdout into run_result::out.
  bool capture_stdout = true;
  /// Collect stderr into run_result::err.
  bool capture_stderr = true;
  /// The most bytes kept per stream; the rest is read and discarded (truncated is set).
  std::size_t output_limit = std::size_t{64} << 20;
  /// The capacity, in bytes, asked for each pipe made for stdout and stderr; 0 (the
  /// default) leaves them at the system's default (64 KiB). A larger pipe lets a program
  /// that writes much output write on while the run has not read yet, and the run reads
  /// more per wake-up of its event loop: for runs that stream a lot and keep up with the
  /// program (for a run slower than the program, a large pipe can cost more CPU: what it
  /// reads was written a pipe-full earlier, and may have left the CPU's cache).
  ///
  /// Linux rounds the capacity up to a power of two of pages (at least one page), and
  /// counts it against the user's pipe allowance (fs.pipe-user-pages-soft, 64 MiB by
  /// default), past which every new pipe of that user gets only two pages: ask for it
  /// only where it pays. Best effort: without CAP_SYS_RESOURCE (which root in a container
  /// usually lacks), a capacity above /proc/sys/fs/pipe-max-size (1 MiB by default) gets
  /// pipe-max-size; if the kernel refuses even that (the user's pipes have used up the
  /// allowance) or lacks the memory, the pipe keeps the capacity it was made with, and the
  /// run goes ahead. More than 2^31 bytes, which Linux never grants: the run fails with
  /// invalid_argument before anything is started. Unused with pty.
  std::size_t pipe_capacity = 0;
  /// When set: if the process has not ended this long after the spawn, it is terminated
  /// (SIGTERM, then SIGKILL after grace) and the operation completes with
  /// boost::asio::error::timed_out once it has been reaped.
  std::optional<std::chrono::steady_clock::duration> timeout;
  /// How long a terminated process has between SIGTERM and SIGKILL.
  std::chrono::steady_clock::duration grace = std::chrono::seconds(5);
  /// How long after the exit a captured stream may stay open (a grandchild holding it)
  /// before the operation completes without waiting for its end (truncated is set).
  std::chrono::steady_clock::duration drain = std::chrono::seconds(1);
  /// Called with each piece of output as it arrives, one call at a time as on a strand of
  /// the operation's own (never concurrently with itself; with a strand as the executor,
  /// on that strand), in the order it was read per stream, before the piece is
  /// captured. Capture and output_limit are independent of it: with capture_stdout false
  /// and on_output set, stdout is streamed and nothing of it is kept (nor truncated). It
  /// must not block, and should not throw: if it throws, it is not called again and the
  /// run is ended as by a terminal cancellation (SIGKILL to the scope; the operation
  /// completes with boost::asio::error::operation_aborted once the child has been reaped).
  std::function<void(output_stream, std::string_view)> on_output;
  /// on_output gets complete lines, each with its '\n'; a line longer than max_line comes
  /// in pieces of max_line bytes; an unterminated last line comes at end of file, or when
  /// a timeout or cancellation ends the run.
  bool whole_lines = false;
  /// The longest piece (without its '\n') on_output gets with whole_lines.
  std::size_t max_line = std::size_t{64} << 10;
  /// What the run is: whom a timeout or cancellation signals, and what is killed at its
  /// end (see run_scope).
  run_scope scope = run_scope::process;
  /// Where run_scope::cgroup makes the run's cgroup; default: the caller's own cgroup v2.
  std::optional<std::filesystem::path> cgroup_parent;
};

/// What async_run() and run() report about a finished program.
struct run_result {
  /// How the process ended; "no status" only when the spawn failed.
  exit_status status;
  /// The captured stdout (at most output_limit bytes); with run_options::pty, what the
  /// terminal showed.
  std::string out;
  /// The captured stderr (at most output_limit bytes); empty with run_options::pty.
  std::string err;
  /// Output was discarded: a stream produced more than output_limit bytes, or was still
  /// open drain after the exit (a grandchild kept it).
  bool truncated = false;
  /// From the spawn to the reap; zero if the spawn failed.
  std::chrono::steady_clock::duration elapsed{};
  /// The kernel's resource usage of the reaped child (see pid_fd::usage()); nullopt only
  /// when the spawn failed (or the child could not be waited for).
  std::optional<resource_usage> usage;
  /// In run_scope::process_group: the processes of the group other than the child that
  /// were still alive when the run ended, and were killed by it. Counted through /proc:
  /// where it cannot be read (no descriptor left, say) the group is killed all the same,
  /// and only the members seen are counted.
  std::size_t killed_leftovers = 0;
};

}  // namespace pidfd

#include <pidfd/detail/process_ops.hpp>

namespace pidfd {

/// Runs a program and collects its output: spawns it with options.spawn, writes
/// options.input to its stdin while reading its stdout and stderr (so large input and
/// output at once never deadlock), and waits for it to end.
///
/// The handler is called exactly once. The operation completes:
/// - once the process has been reaped and every captured stream has reached end of file,
///   with the status and output in the result; a non-zero exit or a signal is not an
///   error. If a captured stream is still open `drain` after the exit (a grandchild holds
///   it), without waiting for its end: truncated is set;
/// - with boost::asio::error::timed_out when options.timeout expired: the process (its
///   whole group when it leads one) was sent SIGTERM, then SIGKILL after options.grace,
///   and has been reaped; the result holds its status and the output read so far;
/// - with boost::asio::error::operation_aborted after a per-operation cancellation, once
///   the process has been terminated the same way and reaped;
/// - with the spawn's error (the result then has no status and zero elapsed time).
///
/// Input is written without SIGPIPE ever reaching the process, whatever its disposition: a
/// child that stops reading just ends the input, and input not yet read when the child is
/// reaped is abandoned, neither being an error. When the child leads its own process group
/// (spawn.process_group == 0 or spawn.new_session), every signal the operation sends goes
/// to the whole group, so that `sh -c 'a | b'` stops as a whole.
///
/// Completion signature: void(error_code, run_result).
///
/// The handler runs on its associated executor (default: ex), never inside this function.
///
/// Per-operation cancellation: terminal sends SIGKILL at once; partial and total send
/// SIGTERM, then SIGKILL after options.grace (a started process cannot be undone, so
/// total is treated like partial). A cancellation after the reap, during the drain,
/// completes at once.
///
/// Thread safety: the operation's own handlers run on ex one at a time, in order of
/// arrival, as on a strand, so the context may be run by several threads.
///
/// Lifetime: the operation owns everything it uses; nothing is left behind when it
/// completes (no child, no descriptor). If the execution context is destroyed with the
/// operation pending, the process is killed and reaped. Its state is allocated with
/// operator new.
template <typename Executor,
          boost::asio::completion_token_for<void(error_code, run_result)> Token =
              boost::asio::default_completion_token_t<Executor>>
  requires detail::is_executor_v<Executor>
auto async_run(const Executor& ex, std::vector<std::string> argv, run_options options = {},
               Token&& token = boost::asio::default_completion_token_t<Executor>()) {
  return boost::asio::async_compose<Token, void(error_code, run_result)>(
      detail::run_op<Executor>(ex, std::move(argv), std::move(options)), token, ex);
}

/// As above, using ctx's executor.
template <typename ExecutionContext,
          boost::asio::completion_token_for<void(error_code, run_result)> Token =
              boost::asio::default_completion_token_t<
                  typename ExecutionContext::executor_type>>
  requires detail::is_execution_context_v<ExecutionContext>
auto async_run(ExecutionContext& ctx, std::vector<std::string> argv, run_options options = {},
               Token&& token = boost::asio::default_completion_token_t<
                   typename ExecutionContext::executor_type>()) {
  return pidfd::async_run(ctx.get_executor(), std::move(argv), std::move(options),
                          std::forward<Token>(token));
}

/// Runs a program synchronously, as async_run() does, on a private io_context of its own.
/// Errors (through ec) as async_run(): the spawn's, timed_out, ...; the result is filled
/// in as far as it got (status and output of a timed-out process).
// Besides bad_alloc and system_error (both caught), clang-tidy sees the logic_errors of
// Asio's service registry (invalid_service_owner, service_already_exists): thrown only when
// a service is added by hand, never by the io_context and I/O objects made here.
// NOLINTNEXTLINE(bugprone-exception-escape): see above
inline run_result run(const std::vector<std::string>& argv, const run_options& options,
                      error_code& ec) noexcept {
  run_result result;
  try {
    boost::asio::io_context io(1);
    async_run(io.get_executor(), argv, options, [&](error_code e, run_result r) {
      ec = e;
      result = std::move(r);
    });
    io.run();
  } catch (const std::bad_alloc&) {
    ec = detail::errno_code(ENOMEM);
  } catch (const system_error& e) {
    ec = e.code();
  }
  return result;
}

/// As above, throwing system_error on failure (its what() names the program).
inline run_result run(const std::vector<std::string>& argv, const run_options& options = {}) {
  error_code ec;
  run_result result = run(argv, options, ec);
  if (ec) detail::throw_spawn_error("pidfd::run", argv, options.spawn, ec);
  return result;
}

}  // namespace pidfd

#endif  // PIDFD_PROCESS_HPP
