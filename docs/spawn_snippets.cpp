// The code snippets of docs/spawn.md. Every fenced C++ block of that page is a region
// between "// [name]" and "// [end]" here; check_snippets.py verifies they match, and this
// program runs each one.
#include "snippet_check.hpp"

#include <pidfd/spawn.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

// Reads what the child wrote into the pipe until every writer has closed it.
std::string read_all(int fd) {
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  return text;
}

void basic() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return expect(false, "basic: pipe");
  const int pipe_write_end = out[1];
  // [basic]
  pidfd::spawn_options opts;
  opts.stdout_fd = pipe_write_end;        // the child's fd 1
  opts.stdin_fd = -1;                     // /dev/null
  opts.env = std::vector<std::string>{"LANG=C", "PATH=/usr/bin:/bin"};
  pidfd::pid_fd child = pidfd::spawn({"uname", "-s"}, opts);   // throws pidfd::system_error
  pidfd::exit_status st = child.wait();

  pidfd::error_code ec;
  pidfd::pid_fd other = pidfd::spawn({"/no/such/program"}, {}, ec);
  // ec == boost::system::errc::no_such_file_or_directory, other is empty
  // [end]
  ::close(out[1]);
  const std::string text = read_all(out[0]);
  ::close(out[0]);
  expect(st.success() && text == "Linux\n", "basic: the child's output and status");
  expect(ec == boost::system::errc::no_such_file_or_directory && !other.is_open(),
         "basic: the error of a missing program");
}

void credentials() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return expect(false, "credentials: pipe");
  // [credentials]
  pidfd::spawn_options opts;
  opts.uid = 65534;                 // nobody: setresuid
  opts.gid = 65534;                 // nogroup: setresgid
  // opts.groups not set: the supplementary groups are cleared, not inherited from us
  opts.rlimits = {{RLIMIT_NOFILE, {256, 256}}, {RLIMIT_CORE, {0, 0}}};
  opts.umask = 077;
  opts.no_new_privs = true;         // set-user-ID programs gain nothing
  opts.stdout_fd = out[1];
  pidfd::pid_fd child = pidfd::spawn({"sh", "-c", "id -u; id -G; ulimit -n; umask"}, opts);
  // the child prints 65534, 65534, 256, 0077
  // [end]
  ::close(out[1]);
  const std::string text = read_all(out[0]);
  ::close(out[0]);
  expect(child.wait().success() && text == "65534\n65534\n256\n0077\n", "credentials");
}

}  // namespace

int main() {
  basic();
  credentials();
  return snippets_result();
}
