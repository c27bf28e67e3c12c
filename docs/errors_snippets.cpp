// The code snippets of docs/errors-and-kernel-support.md. Every fenced C++ block of that
// page is a region between "// [name]" and "// [end]" here; check_snippets.py verifies
// they match, and this program runs each one.
#include "snippet_check.hpp"

#include <pidfd/pid_fd.hpp>

#include <cstdio>

namespace {

void pair(const pidfd::pid_fd& p) {
  // [pair]
  pidfd::credentials c = p.creds();          // throws pidfd::system_error
  pidfd::error_code ec;
  pidfd::credentials c2 = p.creds(ec);       // noexcept; check ec
  // [end]
  expect(!ec && c == c2, "pair: both forms give the same credentials");
  pidfd::pid_fd empty;
  empty.creds(ec);
  expect(ec == boost::system::errc::bad_file_descriptor, "pair: an empty pid_fd");
}

}  // namespace

int main() {
  pair(pidfd::pid_fd::self());
  return snippets_result();
}
