// The child program of the wait benchmark, linked statically so that exec costs little:
// with no argument it exits 0 at once; with "block" it waits until a signal kills it.
#include <unistd.h>

int main(int argc, char**) {
  if (argc > 1)
    for (;;) ::pause();
  ::_exit(0);
}
