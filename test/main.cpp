// The test suite's main(): GoogleTest plus a hygiene check after every test: no new open
// fds, and no child process left running or unreaped.
#include "support.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

namespace {

class hygiene_check : public ::testing::EmptyTestEventListener {
  std::set<int> fds_before_;
  std::set<std::string> cgroups_before_;

  void OnTestStart(const ::testing::TestInfo&) override {
    fds_before_ = pidfd_test::open_fds();
    cgroups_before_ = pidfd_test::run_cgroups_named_ours();
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    std::set<int> leaked;
    for (int fd : pidfd_test::open_fds())
      if (!fds_before_.count(fd)) leaked.insert(fd);
    if (!leaked.empty()) {
      std::ostringstream os;
      for (int fd : leaked) {
        std::error_code ec;
        os << ' ' << fd << " ("
           << std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), ec).string()
           << ")";
      }
      ADD_FAILURE() << info.test_suite_name() << '.' << info.name()
                    << " leaked file descriptors:" << os.str();
      for (int fd : leaked) ::close(fd);
    }
    const std::vector<std::string> cgroups = pidfd_test::take_leftover_run_cgroups(cgroups_before_);
    if (!cgroups.empty()) {
      std::ostringstream os;
      for (const std::string& c : cgroups) os << ' ' << c;
      ADD_FAILURE() << info.test_suite_name() << '.' << info.name()
                    << " left cgroups behind:" << os.str();
    }
    const std::set<pid_t> kids = pidfd_test::child_processes();
    if (!kids.empty()) {
      std::ostringstream os;
      for (pid_t p : kids) os << ' ' << p;
      ADD_FAILURE() << info.test_suite_name() << '.' << info.name()
                    << " left child processes (running or unreaped):" << os.str();
      // Clean up so one leak does not cascade into every later test.
      for (pid_t p : kids) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, __WALL);
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // InChild* suites run only inside run_suite_in_child(), under a seccomp filter or a
  // changed environment; in a normal run they are filtered out.
  if (!std::getenv("ASIO_PIDFD_TEST_IN_CHILD")) {
    std::string filter = ::testing::GTEST_FLAG(filter);
    filter += filter.find('-') == std::string::npos ? "-InChild*" : ":InChild*";
    ::testing::GTEST_FLAG(filter) = filter;
  }
  ::testing::UnitTest::GetInstance()->listeners().Append(new hygiene_check);
  const int result = RUN_ALL_TESTS();
  // A run_suite_in_child() filter that matches nothing (a misspelt suite name) would
  // otherwise pass without testing anything.
  if (std::getenv("ASIO_PIDFD_TEST_IN_CHILD") &&
      ::testing::UnitTest::GetInstance()->test_to_run_count() == 0) {
    (void)std::fprintf(stderr, "no test matched the filter %s\n",
                 ::testing::GTEST_FLAG(filter).c_str());
    return 3;
  }
  return result;
}
