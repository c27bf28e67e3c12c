// Checks docs/kernel-support.md against kernel_support() on the kernels it documents.
#include <pidfd/kernel.hpp>

#include <gtest/gtest.h>

#include <sys/utsname.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifndef ASIO_PIDFD_SOURCE_DIR
#error "ASIO_PIDFD_SOURCE_DIR must be defined by the build"
#endif

namespace {

std::vector<std::string> cells(const std::string& row) {
  std::vector<std::string> out;
  std::stringstream ss(row);
  std::string cell;
  std::getline(ss, cell, '|');  // before the first '|'
  while (std::getline(ss, cell, '|')) {
    const auto b = cell.find_first_not_of(' ');
    const auto e = cell.find_last_not_of(' ');
    out.push_back(b == std::string::npos ? std::string() : cell.substr(b, e - b + 1));
  }
  return out;
}

// "6.1", "6.12" or "6.18" from uname, or empty.
std::string documented_kernel() {
  utsname u{};
  ::uname(&u);
  std::string release = u.release;
  const auto dot = release.find('.');
  const auto end = release.find_first_not_of("0123456789", dot + 1);
  const std::string major_minor = release.substr(0, end);
  for (const char* k : {"6.1", "6.12", "6.18"})
    if (major_minor == k) return k;
  return {};
}

}  // namespace

TEST(KernelMatrix, DocumentedColumnMatchesTheProbe) {
  const std::string kernel = documented_kernel();
  if (kernel.empty()) GTEST_SKIP() << "this kernel is not one the matrix documents";
  if (std::getenv("ASIO_PIDFD_PRETEND_MISSING"))
    GTEST_SKIP() << "features are pretended missing in this process";

  std::ifstream in(std::string(ASIO_PIDFD_SOURCE_DIR) + "/docs/kernel-support.md");
  ASSERT_TRUE(in) << "cannot read docs/kernel-support.md";
  std::string line;
  std::vector<std::string> header;
  std::map<std::string, std::string> documented;
  while (std::getline(in, line)) {
    if (line.rfind("| feature |", 0) == 0) {
      header = cells(line);
      continue;
    }
    if (header.empty() || line.rfind("| ", 0) != 0) continue;
    const std::vector<std::string> row = cells(line);
    for (std::size_t i = 1; i < header.size() && i < row.size(); ++i)
      if (header[i] == kernel) documented[row[0]] = row[i];
  }
  ASSERT_EQ(documented.size(), 22u) << "the matrix must list all 22 features";

  std::map<std::string, std::string> probed;
  std::stringstream report(pidfd::to_string(pidfd::kernel_support()));
  while (std::getline(report, line)) {
    const auto colon = line.find(": ");
    probed[line.substr(0, colon)] = line.substr(colon + 2);
  }
  EXPECT_EQ(documented, probed) << "docs/kernel-support.md, column " << kernel;
}
