// pidfd-run: run commands, at most N at once, each with an optional timeout; stream their
// output line by line with the command's number in front; report how each ended.
//
//   pidfd-run [OPTION]... -- COMMAND [ARG]...     one command, run as given
//   pidfd-run [OPTION]... [-f FILE]               one command per line (stdin without -f),
//                                                 each run through /bin/sh -c
//
// Each command is started with pidfd::spawn as the leader of a process group of its own,
// so a timeout or an interruption signals the whole pipeline. See docs/man/pidfd-run.md.
#include "cli.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/process.hpp>
#include <pidfd/spawn.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace po = boost::program_options;
namespace asio = boost::asio;
using namespace pidfd_tools;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* usage_text =
    "Usage: pidfd-run [OPTION]... -- COMMAND [ARG]...\n"
    "   or: pidfd-run [OPTION]... [-f FILE]\n"
    "Run COMMAND, or each line of FILE (standard input without -f) through /bin/sh -c, at\n"
    "most N at once, each with an optional timeout. Every line a command writes is\n"
    "printed as it comes, with the command's number in front (\"[3] ...\"); a summary of\n"
    "how each command ended follows on standard error.\n"
    "\n"
    "Options";

constexpr const char* exit_text =
    "\n"
    "A failure (non-zero exit, signal, timeout) stops the start of new commands unless\n"
    "--keep-going is given; commands already running are let finish.\n"
    "\n"
    "Exit status: 0 if every command succeeded; else that of the first command to fail:\n"
    "its exit code, 128+N if killed by signal N, 124 if it timed out, 126 if it could not\n"
    "be run, 127 if it was not found. 125 on bad usage or another error of pidfd-run\n"
    "itself; 128+N if pidfd-run was interrupted by signal N.\n";

// A line longer than this is printed in pieces, so one endless line cannot use up memory.
constexpr std::size_t max_line = std::size_t{64} * 1024;
// After a command has ended, how long its output may stay open (a background process
// that inherited it) before pidfd-run stops reading it.
constexpr clock_type::duration drain_time = std::chrono::seconds(1);

// Writes all of s to fd. After a write error (a closed pipe: SIGPIPE is ignored), output
// to that fd is dropped: the commands still run to the end and the exit code still tells.
void write_all(int fd, const std::string& s) {
  static bool broken[3] = {false, false, false};
  if (fd < 0 || fd > 2 || broken[fd]) return;
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken[fd] = true;
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

struct settings {
  std::size_t jobs = 1;
  std::optional<clock_type::duration> timeout;
  clock_type::duration grace = std::chrono::seconds(5);
  bool keep_going = false;
  bool json = false;
  bool quiet = false;
};

// One command and, once it has ended, how.
struct command {
  std::size_t number = 0;              // 1-based, in input order
  std::string text;                    // as shown in reports
  std::vector<std::string> argv;
  bool inherit_stdin = false;

  enum class state { pending, running, ended, spawn_failed, not_started } st = state::pending;
  pidfd::exit_status status;
  pidfd::error_code error;             // the spawn's error, or a wait error
  bool timed_out = false;
  bool truncated = false;
  clock_type::duration elapsed{};
  std::size_t out_bytes = 0, err_bytes = 0;

  bool succeeded() const { return st == state::ended && !timed_out && !error && status.success(); }
  bool failed() const {
    return st == state::spawn_failed || (st == state::ended && !succeeded());
  }
  int exit_code() const {
    if (st == state::spawn_failed)
      return error == boost::system::errc::no_such_file_or_directory ? exit_not_found
                                                                      : exit_cannot_run;
    if (timed_out) return exit_timed_out;
    if (error) return exit_tool_failed;
    return shell_code(status);
  }
  std::string describe() const {
    switch (st) {
      case state::pending:
      case state::not_started: return "not started";
      case state::running: return "running";
      case state::spawn_failed: return "cannot run: " + error.message();
      case state::ended: break;
    }
    if (error) return "unknown: " + error.message();
    return timed_out ? "timed out, " + status.to_string() : status.to_string();
  }
};

// A command's output stream (stdout or stderr): read as it comes, split into lines, each
// printed whole with the command's number in front.
class output_stream {
public:
  output_stream(asio::readable_pipe pipe, int to_fd, std::string prefix, std::size_t& counter)
      : pipe_(std::move(pipe)), to_fd_(to_fd), prefix_(std::move(prefix)), counter_(counter) {}

  template <class Done>
  void start(Done done) {
    pipe_.async_read_some(asio::buffer(chunk_), [this, done](pidfd::error_code ec,
                                                             std::size_t n) mutable {
      if (n > 0) {
        counter_ += n;
        take(std::string_view(chunk_.data(), n));
      }
      if (ec) {
        finish();
        done();
        return;
      }
      start(std::move(done));
    });
  }

  /// Stops reading (the command has ended and a background process holds the stream).
  void abandon() {
    pidfd::error_code ignored;
    pipe_.close(ignored);
  }

  bool open() const { return !eof_; }

private:
  void take(std::string_view data) {
    std::string out;
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      if (nl == std::string_view::npos) {
        const std::size_t room = max_line - partial_.size();
        partial_.append(data.substr(0, room));
        data.remove_prefix(std::min(room, data.size()));
        if (partial_.size() == max_line) emit(out);
        continue;
      }
      partial_.append(data.substr(0, nl));
      data.remove_prefix(nl + 1);
      emit(out);
    }
    write_all(to_fd_, out);
  }

  void emit(std::string& out) {
    out += prefix_;
    out += partial_;
    out += '\n';
    partial_.clear();
  }

  void finish() {
    eof_ = true;
    if (partial_.empty()) return;
    std::string out;
    emit(out);
    write_all(to_fd_, out);
  }

  asio::readable_pipe pipe_;
  int to_fd_;
  std::string prefix_;
  std::size_t& counter_;
  std::string partial_;
  bool eof_ = false;
  std::array<char, 16384> chunk_{};
};

// A command while it runs: its pidfd, its two output streams, its timers.
struct running_command {
  command& cmd;
  clock_type::time_point started;
  pidfd::async_pidfd pidfd;
  output_stream out, err;
  asio::steady_timer deadline, kill_timer, drain_timer;
  bool reaped = false;
  int open_streams = 2;

  running_command(asio::io_context& io, command& c, pidfd::process child, int out_to, int err_to)
      : cmd(c),
        started(clock_type::now()),
        pidfd(std::move(child.pidfd)),
        out(std::move(child.stdout_pipe), out_to, "[" + std::to_string(c.number) + "] ",
            c.out_bytes),
        err(std::move(child.stderr_pipe), err_to, "[" + std::to_string(c.number) + "] ",
            c.err_bytes),
        deadline(io),
        kill_timer(io),
        drain_timer(io) {}

  // Signals the command's whole process group. Linux 6.9 can do it through the pidfd;
  // before, kill(-pgid) is safe while the leader (our child) is not reaped, since its
  // PID, which is the group's id, cannot be reused until then. (async_terminate() with
  // signal_scope::process_group would do the SIGTERM-grace-SIGKILL sequence for us, but it
  // has no such fallback: operation_not_supported before 6.9.)
  void signal_group(int sig) {
    if (reaped || pidfd.core().cached_status()) return;
    pidfd::error_code ec;
    pidfd.send_signal(sig, pidfd::signal_scope::process_group, ec);
    if (ec == boost::system::errc::operation_not_supported) {
      const pid_t leader = pidfd.pid(ec);
      if (!ec) ::kill(-leader, sig);
    }
  }

  // SIGTERM (or sig) to the group now, SIGKILL after grace.
  void terminate(int sig, clock_type::duration grace) {
    signal_group(sig);
    kill_timer.expires_after(grace);
    kill_timer.async_wait([this](pidfd::error_code ec) {
      if (!ec) signal_group(SIGKILL);
    });
  }
};

class runner {
public:
  runner(settings s, std::vector<command> cmds)
      : settings_(s), commands_(std::move(cmds)), signals_(io_, SIGINT, SIGTERM, SIGHUP) {}

  int run() {
    signals_.async_wait([this](pidfd::error_code ec, int sig) {
      if (ec) return;
      interrupted_ = sig;
      stopping_ = true;
      for (auto& r : running_)
        if (r) r->terminate(sig, settings_.grace);
    });
    running_.resize(commands_.size());
    start_more();
    io_.run();
    for (auto& c : commands_)
      if (c.st == command::state::pending) c.st = command::state::not_started;
    report();
    return result();
  }

private:
  int result() const {
    if (interrupted_) return 128 + interrupted_;
    return first_failure_ ? commands_[*first_failure_].exit_code() : 0;
  }

  void start_more() {
    while (!stopping_ && active_ < settings_.jobs && next_ < commands_.size())
      start(commands_[next_++]);
    if (active_ == 0 && (stopping_ || next_ == commands_.size())) {
      pidfd::error_code ignored;
      signals_.cancel(ignored);
    }
  }

  void start(command& c) {
    pidfd::spawn_options options;
    options.stdin_fd = c.inherit_stdin ? 0 : -1;
    options.stdout_fd = pidfd::stdio_pipe;
    options.stderr_fd = pidfd::stdio_pipe;
    options.process_group = 0;  // a group of its own: signals reach the whole pipeline
    pidfd::error_code ec;
    pidfd::process child = pidfd::spawn(asio::any_io_executor(io_.get_executor()), c.argv,
                                        options, ec);
    if (ec) {
      c.st = command::state::spawn_failed;
      c.error = ec;
      write_all(2, "[" + std::to_string(c.number) + "] pidfd-run: cannot run " +
                       (c.inherit_stdin ? c.argv[0] : std::string("/bin/sh")) + ": " +
                       ec.message() + "\n");
      ended(c);
      return;
    }
    c.st = command::state::running;
    ++active_;
    const int out_to = settings_.json ? 2 : 1;
    auto r = std::make_unique<running_command>(io_, c, std::move(child), out_to, 2);
    running_command& rc = *r;
    running_[c.number - 1] = std::move(r);

    rc.pidfd.async_wait([this, &rc](pidfd::error_code wait_ec, pidfd::exit_status status) {
      rc.reaped = true;
      rc.cmd.elapsed = clock_type::now() - rc.started;
      rc.cmd.status = status;
      if (wait_ec) rc.cmd.error = wait_ec;
      rc.deadline.cancel();
      rc.kill_timer.cancel();
      if (rc.open_streams > 0) {
        // Output still open after the command ended: a background process holds it.
        rc.drain_timer.expires_after(drain_time);
        rc.drain_timer.async_wait([&rc](pidfd::error_code timer_ec) {
          if (timer_ec) return;
          rc.cmd.truncated = true;
          rc.out.abandon();
          rc.err.abandon();
        });
      }
      maybe_done(rc);
    });
    auto stream_done = [this, &rc] {
      --rc.open_streams;
      maybe_done(rc);
    };
    rc.out.start(stream_done);
    rc.err.start(stream_done);
    if (settings_.timeout) {
      rc.deadline.expires_after(*settings_.timeout);
      rc.deadline.async_wait([this, &rc](pidfd::error_code timer_ec) {
        if (timer_ec || rc.reaped) return;
        rc.cmd.timed_out = true;
        rc.terminate(SIGTERM, settings_.grace);
      });
    }
  }

  void maybe_done(running_command& rc) {
    if (!rc.reaped || rc.open_streams > 0) return;
    rc.drain_timer.cancel();
    command& c = rc.cmd;
    c.st = command::state::ended;
    --active_;
    // Destroy the running state later: this is called from one of its own handlers.
    asio::post(io_, [this, n = c.number] { running_[n - 1].reset(); });
    ended(c);
  }

  void ended(command& c) {
    if (c.failed()) {
      if (!first_failure_) first_failure_ = c.number - 1;
      if (!settings_.keep_going) stopping_ = true;
    }
    start_more();
  }

  void report() {
    if (settings_.json) {
      write_all(1, boost::json::serialize(json_report()) + "\n");
      return;
    }
    if (settings_.quiet) return;
    std::size_t ok = 0, bad = 0, skipped = 0;
    for (const auto& c : commands_) {
      if (c.succeeded()) ++ok;
      else if (c.failed()) ++bad;
      else ++skipped;
    }
    std::size_t status_width = 6;
    for (const auto& c : commands_) status_width = std::max(status_width, c.describe().size());
    std::ostringstream os;
    os << "pidfd-run: " << commands_.size() << (commands_.size() == 1 ? " command: " : " commands: ")
       << ok << " succeeded, " << bad << " failed";
    if (skipped) os << ", " << skipped << " not started";
    if (interrupted_) os << " (interrupted by signal " << interrupted_ << ")";
    os << "\n";
    os << std::right << std::setw(4) << "#" << "  " << std::left
       << std::setw(static_cast<int>(status_width)) << "status" << std::right << std::setw(10)
       << "seconds" << std::setw(12) << "bytes out" << "  command\n";
    for (const auto& c : commands_) {
      os << std::right << std::setw(4) << c.number << "  " << std::left
         << std::setw(static_cast<int>(status_width)) << c.describe() << std::right
         << std::setw(10) << (c.st == command::state::ended ? format_seconds(c.elapsed) : "-")
         << std::setw(12) << (std::to_string(c.out_bytes + c.err_bytes) + (c.truncated ? "+" : ""))
         << "  " << c.text << "\n";
    }
    write_all(2, os.str());
  }

  boost::json::object json_report() const {
    namespace json = boost::json;
    json::array list;
    std::size_t ok = 0, bad = 0, skipped = 0;
    for (const auto& c : commands_) {
      json::object o;
      o["number"] = c.number;
      o["command"] = c.text;
      json::array argv;
      for (const auto& a : c.argv) argv.emplace_back(a);
      o["argv"] = std::move(argv);
      switch (c.st) {
        case command::state::ended:
          o["state"] = c.error ? "unknown" : c.status.signaled() ? "killed" : "exited";
          break;
        case command::state::spawn_failed: o["state"] = "cannot run"; break;
        default: o["state"] = "not started"; break;
      }
      o["exit_code"] = c.status.code() ? json::value(*c.status.code()) : json::value(nullptr);
      o["signal"] = c.status.signal() ? json::value(*c.status.signal()) : json::value(nullptr);
      o["core_dumped"] = c.status.core_dumped();
      o["timed_out"] = c.timed_out;
      o["status"] = c.describe();
      o["error"] = c.error ? json::value(c.error.message()) : json::value(nullptr);
      o["seconds"] = c.st == command::state::ended
                         ? json::value(std::chrono::duration<double>(c.elapsed).count())
                         : json::value(nullptr);
      o["stdout_bytes"] = c.out_bytes;
      o["stderr_bytes"] = c.err_bytes;
      o["output_truncated"] = c.truncated;
      o["succeeded"] = c.succeeded();
      if (c.succeeded()) ++ok;
      else if (c.failed()) ++bad;
      else ++skipped;
      list.emplace_back(std::move(o));
    }
    json::object top;
    top["commands"] = std::move(list);
    top["succeeded"] = ok;
    top["failed"] = bad;
    top["not_started"] = skipped;
    top["interrupted_by_signal"] = interrupted_ ? json::value(interrupted_) : json::value(nullptr);
    top["exit_code"] = result();
    return top;
  }

  settings settings_;
  std::vector<command> commands_;
  asio::io_context io_;
  asio::signal_set signals_;
  std::vector<std::unique_ptr<running_command>> running_;  // by command number - 1
  std::size_t next_ = 0, active_ = 0;
  bool stopping_ = false;
  int interrupted_ = 0;
  std::optional<std::size_t> first_failure_;
};

std::vector<command> read_lines(std::istream& in) {
  std::vector<command> cmds;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    command c;
    c.number = cmds.size() + 1;
    c.text = line;
    c.argv = {"/bin/sh", "-c", line};
    cmds.push_back(std::move(c));
  }
  if (in.bad()) throw std::runtime_error("cannot read the command list");
  return cmds;
}

int run_main(int argc, char** argv) {
  // Everything after "--" is the command, never options of ours.
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--") {
      split = i;
      break;
    }

  po::options_description options;
  options.add_options()
      ("jobs,j", po::value<std::string>()->value_name("N"),
       "run at most N commands at once (default: the number of CPUs)")
      ("timeout,t", po::value<std::string>()->value_name("SECONDS"),
       "stop a command that runs longer than SECONDS: SIGTERM to its process group, "
       "SIGKILL after the grace period")
      ("kill-after,k", po::value<std::string>()->value_name("GRACE"),
       "the grace period between SIGTERM and SIGKILL (default 5 seconds)")
      ("file,f", po::value<std::string>()->value_name("FILE"),
       "read the commands from FILE, one per line, instead of standard input")
      ("keep-going", "start the remaining commands even after one has failed")
      ("json", "print the summary as JSON on standard output (the commands' output then "
               "goes to standard error)")
      ("quiet,q", "print no summary table")
      ("help,h", "print this help and exit")
      ("version", "print the version and exit");

  po::variables_map vm;
  po::store(po::command_line_parser(split, argv).options(options).run(), vm);
  po::notify(vm);

  std::ostringstream help;
  help << usage_text << ":\n" << options << exit_text;
  if (answer_help_or_version(vm, "pidfd-run", help.str())) return 0;

  settings s;
  const unsigned cpus = std::thread::hardware_concurrency();
  s.jobs = cpus ? cpus : 1;
  if (vm.count("jobs"))
    s.jobs = static_cast<std::size_t>(parse_count(vm["jobs"].as<std::string>(), "--jobs", 4096));
  if (vm.count("timeout")) s.timeout = parse_seconds(vm["timeout"].as<std::string>(), "--timeout");
  if (vm.count("kill-after"))
    s.grace = parse_seconds(vm["kill-after"].as<std::string>(), "--kill-after");
  s.keep_going = vm.count("keep-going") != 0;
  s.json = vm.count("json") != 0;
  s.quiet = vm.count("quiet") != 0;

  std::vector<command> cmds;
  if (split < argc) {
    if (vm.count("file")) throw usage_error("give either a command after '--' or -f FILE, not both");
    if (split + 1 == argc) throw usage_error("no command after '--'");
    command c;
    c.number = 1;
    c.argv.assign(argv + split + 1, argv + argc);
    c.inherit_stdin = true;
    for (const auto& a : c.argv) c.text += (c.text.empty() ? "" : " ") + a;
    cmds.push_back(std::move(c));
  } else if (vm.count("file")) {
    const std::string path = vm["file"].as<std::string>();
    std::ifstream in(path);
    if (!in) {
      // errno before the strings below are built; strerror is not thread-safe.
      const int err = errno;
      throw std::runtime_error("cannot open " + path + ": " + std::generic_category().message(err));
    }
    cmds = read_lines(in);
  } else {
    cmds = read_lines(std::cin);
  }
  // A closed output pipe must not kill pidfd-run while its commands run on.
  (void)::signal(SIGPIPE, SIG_IGN);  // fails only for an invalid signal number
  runner r(s, std::move(cmds));
  return r.run();
}

}  // namespace

int main(int argc, char** argv) {
  return run_tool("pidfd-run", [&] { return run_main(argc, argv); });
}
