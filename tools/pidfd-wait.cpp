// pidfd-wait: wait for processes that need not be our children, and tell how they ended.
//
//   pidfd-wait [-t SECONDS] [--any] [-v] PID...
//
// Each PID is opened as a pidfd at start, so a PID recycled later can never be mistaken
// for the process; the waits are asynchronous (one io_context, no polling) and the exit
// status of a non-child comes from PIDFD_INFO_EXIT where the kernel has it (Linux 6.15).
// The manual page: docs/man/pidfd-wait.1 (`man pidfd-wait` once installed).
#include "cli.hpp"

#include <pidfd/async_pidfd.hpp>
#include <pidfd/pid_fd.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace po = boost::program_options;
using namespace pidfd_tools;

namespace {

constexpr const char* usage_text =
    "Usage: pidfd-wait [OPTION]... PID...\n"
    "Wait for the processes PID... to end (they need not be children of this one), and\n"
    "print how each ended: its exit code or signal where the kernel can tell (Linux 6.15\n"
    "and newer, or a process that is our child), \"ended\" where it cannot.\n"
    "\n"
    "Options";

constexpr const char* exit_text =
    "\n"
    "Exit status: that of the last process to end (with --any, the first): its exit\n"
    "code, or 128+N if killed by signal N; 0 if it ended but the kernel cannot tell how.\n"
    "124 if the timeout expired first, 125 on bad usage, an unknown PID, or another\n"
    "error of pidfd-wait itself.\n"
    "\n"
    "The manual: man pidfd-wait\n";

struct target {
  pid_t pid;
  pidfd::async_pidfd pidfd;
  bool ended = false;
};

// Says how process `pid` ended (stdout; an error on stderr); the exit status it gives.
int report_end(pid_t pid, pidfd::error_code ec, const pidfd::exit_status& status) {
  if (ec == pidfd::errc::status_unavailable) {
    std::cout << pid << ": ended" << std::endl;
    return 0;
  }
  if (ec) {
    std::cerr << "pidfd-wait: " << pid << ": " << ec.message() << "\n";
    return exit_tool_failed;
  }
  std::cout << pid << ": " << status << std::endl;
  return shell_code(status);
}

// The PIDs of the command line; waiting for ourselves is a usage error.
std::vector<pid_t> pids_to_wait_for(const std::vector<std::string>& texts) {
  std::vector<pid_t> pids;
  for (const std::string& text : texts) {
    const pid_t pid = parse_pid(text);
    if (pid == ::getpid()) throw usage_error("cannot wait for itself (" + text + ")");
    pids.push_back(pid);
  }
  return pids;
}

// Opens a pidfd for each PID; false (each failure said on stderr) if any cannot be opened.
bool open_targets(boost::asio::io_context& io, const std::vector<pid_t>& pids,
                  std::vector<std::unique_ptr<target>>& targets) {
  bool open_failed = false;
  for (pid_t pid : pids) {
    pidfd::error_code ec;
    pidfd::pid_fd fd = pidfd::pid_fd::open(pid, ec);
    if (ec) {
      std::cerr << "pidfd-wait: " << pid << ": " << ec.message() << "\n";
      open_failed = true;
      continue;
    }
    targets.push_back(std::make_unique<target>(target{pid, pidfd::async_pidfd(io, std::move(fd))}));
  }
  return !open_failed;
}

// Waits for the targets (all of them, or with `any` the first to end) for at most
// `timeout`, printing how each ended; the tool's exit status.
int wait_for_targets(boost::asio::io_context& io, std::vector<std::unique_ptr<target>>& targets,
                     bool any, std::optional<std::chrono::steady_clock::duration> timeout) {
  int result = 0;
  std::size_t running = targets.size();
  boost::asio::steady_timer timer(io);
  auto stop_all = [&] {
    timer.cancel();
    for (auto& t : targets) t->pidfd.close();
  };

  for (auto& t : targets) {
    t->pidfd.async_wait([&, tp = t.get()](pidfd::error_code ec, pidfd::exit_status status) {
      target& me = *tp;
      if (ec == boost::asio::error::operation_aborted) return;
      me.ended = true;
      --running;
      result = report_end(me.pid, ec, status);
      if (any || running == 0) stop_all();
    });
  }

  if (timeout) {
    timer.expires_after(*timeout);
    timer.async_wait([&](pidfd::error_code ec) {
      if (ec) return;
      std::cerr << "pidfd-wait: timed out; still running:";
      for (const auto& t : targets)
        if (!t->ended) std::cerr << ' ' << t->pid;
      std::cerr << "\n";
      result = exit_timed_out;
      stop_all();
    });
  }
  io.run();
  return result;
}

int wait_main(int argc, char** argv) {
  po::options_description options;
  options.add_options()
      ("timeout,t", po::value<std::string>()->value_name("SECONDS"),
       "give up after SECONDS (decimals allowed) and exit with 124")
      ("any", "return as soon as any one of the processes has ended")
      ("verbose,v", "say on stderr when every process is being waited for")
      ("help,h", "print this help and exit")
      ("version", "print the version and exit");
  po::options_description hidden;
  hidden.add_options()("pid", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("pid", -1);

  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
  po::notify(vm);

  std::ostringstream help;
  help << usage_text << ":\n" << options << exit_text;
  if (answer_help_or_version(vm, "pidfd-wait", help.str())) return 0;
  std::optional<std::chrono::steady_clock::duration> timeout;
  if (vm.count("timeout")) timeout = parse_seconds(vm["timeout"].as<std::string>(), "--timeout");
  if (!vm.count("pid")) throw usage_error("no process id given");
  const bool any = vm.count("any") != 0;
  const bool verbose = vm.count("verbose") != 0;

  const std::vector<pid_t> pids = pids_to_wait_for(vm["pid"].as<std::vector<std::string>>());

  // Open every pidfd before waiting for any: a PID that names no process is a usage error
  // reported at once, not after the others have ended.
  boost::asio::io_context io;
  std::vector<std::unique_ptr<target>> targets;
  if (!open_targets(io, pids, targets)) return exit_tool_failed;
  if (verbose) {
    for (const auto& t : targets) std::cerr << "pidfd-wait: waiting for " << t->pid << "\n";
    std::cerr.flush();
  }
  return wait_for_targets(io, targets, any, timeout);
}

}  // namespace

int main(int argc, char** argv) {
  return run_tool("pidfd-wait", [&] { return wait_main(argc, argv); });
}
