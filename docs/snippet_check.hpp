// What each docs snippets program checks its snippets with: expect() reports a snippet
// that did not do what its page says, and snippets_result() is main's exit status.
#ifndef ASIO_PIDFD_DOCS_SNIPPET_CHECK_HPP
#define ASIO_PIDFD_DOCS_SNIPPET_CHECK_HPP

#include <cstdio>

namespace snippet_check {

inline int failures = 0;

}  // namespace snippet_check

inline void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "snippet failed: %s\n", what);
    ++snippet_check::failures;
  }
}

inline int snippets_result() {
  if (snippet_check::failures == 0) std::printf("all snippets ran as documented\n");
  return snippet_check::failures == 0 ? 0 : 1;
}

#endif  // ASIO_PIDFD_DOCS_SNIPPET_CHECK_HPP
