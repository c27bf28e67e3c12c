// The child program of the wait and run benchmarks, linked statically so that exec costs
// little: with no argument it exits 0 at once; with "block" it waits until a signal kills
// it; with "hello" it writes "hello\n" to stdout and exits 0; with "spew N" it writes N
// bytes to stdout in writes of 64 KiB (byte i of the stream is (i % 65536) % 251) and
// exits 0, or 1 if a write fails.
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

bool write_all(const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(1, p, n);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

char chunk[64 * 1024];

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "hello") == 0) ::_exit(write_all("hello\n", 6) ? 0 : 1);
  if (argc > 2 && std::strcmp(argv[1], "spew") == 0) {
    unsigned long long left = std::strtoull(argv[2], nullptr, 10);
    for (std::size_t i = 0; i < sizeof chunk; ++i) chunk[i] = static_cast<char>(i % 251);
    while (left > 0) {
      const std::size_t n = left < sizeof chunk ? static_cast<std::size_t>(left) : sizeof chunk;
      if (!write_all(chunk, n)) ::_exit(1);
      left -= n;
    }
    ::_exit(0);
  }
  if (argc > 1)
    for (;;) ::pause();
  ::_exit(0);
}
