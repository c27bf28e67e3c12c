// pidfd-info: what the running kernel supports, and what a pidfd tells about a process.
//
//   pidfd-info            the kernel feature report
//   pidfd-info PID...     the report, then each process's identity, credentials and cgroup
#include <pidfd/pidfd.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

int describe(pid_t pid) {
  pidfd::error_code ec;
  // Racy by nature for a PID typed on a command line: the answer is about whichever
  // process holds the PID at the moment of the open, and is consistent from then on.
  pidfd::pid_fd p = pidfd::pid_fd::open(pid, ec);
  if (ec) {
    std::cerr << "pidfd-info: " << pid << ": " << ec.message() << "\n";
    return 1;
  }
  std::cout << "process " << pid << "\n";
  const pidfd::process_info info = p.info(ec);
  if (ec) {
    std::cout << "  info: " << ec.message() << "\n";
  } else {
    std::cout << "  tgid " << info.tgid << ", ppid " << info.ppid << "\n"
              << "  uid r/e/s/fs " << info.creds.ruid << '/' << info.creds.euid << '/'
              << info.creds.suid << '/' << info.creds.fsuid << ", gid r/e/s/fs "
              << info.creds.rgid << '/' << info.creds.egid << '/' << info.creds.sgid << '/'
              << info.creds.fsgid << "\n"
              << "  cgroup id " << info.cgroup_id << "\n";
  }
  const std::uint64_t id = p.id(ec);
  std::cout << "  id " << (ec ? ec.message() : std::to_string(id)) << "\n";
  std::cout << "  exited " << (p.has_exited() ? "yes" : "no") << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "Usage: pidfd-info [PID]...\n"
                   "Print what the running kernel offers for pidfds, then what a pidfd tells\n"
                   "about each process PID. See docs/man/pidfd-info.md.\n";
      return 0;
    }
    if (arg == "--version") {
      std::cout << "pidfd-info (asio-pidfd) " << PIDFD_TOOLS_VERSION << "\n";
      return 0;
    }
  }
  std::cout << pidfd::to_string(pidfd::kernel_support());
  int status = 0;
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    const long pid = std::strtol(argv[i], &end, 10);
    if (!end || *end || pid <= 0) {
      std::cerr << "pidfd-info: not a pid: " << argv[i] << "\n";
      status = 2;
      continue;
    }
    status |= describe(static_cast<pid_t>(pid));
  }
  return status;
}
