// libFuzzer target: the parser of /proc/<pid>/status and /proc/<pid>/cgroup
// (proc::read_process_info), fed through files in a scratch directory that stands in for
// /proc/<pid>. The input is the status text, a NUL byte, then the cgroup text. The same
// line and number parsers read /proc/self/fdinfo (proc::fdinfo_pid).
//
// Checked: no crash or sanitizer report; a successful parse found the lines it needs.
#include "proc.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace {

int scratch_dir() {
  static const int fd = [] {
    char templ[] = "/tmp/asio-pidfd-fuzz-XXXXXX";
    const char* dir = ::mkdtemp(templ);
    if (!dir) ::abort();
    const int d = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) ::abort();
    // Removed at exit; the files inside are rewritten by every input.
    static std::string path = dir;
    (void)std::atexit([] {
      ::unlink((path + "/status").c_str());
      ::unlink((path + "/cgroup").c_str());
      ::rmdir(path.c_str());
    });
    return d;
  }();
  return fd;
}

void write_file(int dir, const char* name, std::string_view text) {
  const int fd = ::openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) ::abort();
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) ::abort();
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\0');
  const std::string_view status = input.substr(0, split);
  const std::string_view cgroup =
      split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
  const int dir = scratch_dir();
  write_file(dir, "status", status);
  write_file(dir, "cgroup", cgroup);
  pidfd::process_info info{};
  if (!pidfd::proc::read_process_info(dir, info)) {
    for (const char* key : {"Pid:", "Tgid:", "PPid:", "Uid:", "Gid:"})
      if (status.find(key) == std::string_view::npos) ::abort();
  }
  return 0;
}
