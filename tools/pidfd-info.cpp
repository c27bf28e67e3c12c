// pidfd-info: what the running kernel supports, and what a pidfd tells about a process.
//
//   pidfd-info            the kernel feature report
//   pidfd-info PID...     the report, then each process's identity, credentials, cgroup
//                         (id and path), coredump state and pidfs xattrs
#include <pidfd/pidfd.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

std::string describe_coredump_mask(std::uint32_t mask) {
  std::string s = std::to_string(mask);
  const std::pair<std::uint32_t, const char*> bits[] = {
      {pidfd::coredump_dumped, "dumped"},
      {pidfd::coredump_skipped, "skipped"},
      {pidfd::coredump_as_user, "user"},
      {pidfd::coredump_as_root, "root"}};
  for (const auto& [bit, name] : bits)
    if (mask & bit) (s += ' ') += name;
  return s;
}

// An xattr value as text, with bytes that are not printable escaped as \xNN.
std::string printable(const std::string& value) {
  std::string out;
  for (const unsigned char c : value) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      (void)std::snprintf(hex, sizeof hex, "\\x%02x", c);  // exactly 4 bytes and the nul
      out += hex;
    }
  }
  return out;
}

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
    std::cout << "  coredump mask "
              << (info.coredump_mask ? describe_coredump_mask(*info.coredump_mask)
                                     : std::string("not reported (Linux 6.16)"))
              << "\n";
    if (info.coredump_signal) std::cout << "  coredump signal " << *info.coredump_signal << "\n";
  }
  const std::string cgroup = p.cgroup_path(ec);
  std::cout << "  cgroup " << (ec ? ec.message() : cgroup) << "\n";
  const std::vector<std::string> xattrs = p.list_xattrs(ec);
  if (ec) {
    std::cout << "  xattrs: " << ec.message() << "\n";
  } else {
    std::cout << "  xattrs " << xattrs.size() << "\n";
    for (const std::string& name : xattrs) {
      pidfd::error_code vec;
      const std::string value = p.get_xattr(name, vec);
      std::cout << "    " << name << " = " << (vec ? vec.message() : printable(value)) << "\n";
    }
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
                   "about each process PID.\n"
                   "\n"
                   "The manual: man pidfd-info\n";
      return 0;
    }
    if (arg == "--version") {
      std::cout << "pidfd-info (asio-pidfd) " << PIDFD_VERSION_STRING << "\n";
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
