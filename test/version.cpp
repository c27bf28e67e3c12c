// <pidfd/version.hpp>: the macros agree with each other (the header is generated from
// meson.build's project version, the one place it is defined).
#include <pidfd/pidfd.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Version, StringMatchesTheNumbers) {
  const std::string parts = std::to_string(PIDFD_VERSION_MAJOR) + "." +
                            std::to_string(PIDFD_VERSION_MINOR) + "." +
                            std::to_string(PIDFD_VERSION_PATCH);
  EXPECT_EQ(parts, PIDFD_VERSION_STRING);
  EXPECT_EQ(PIDFD_VERSION,
            PIDFD_VERSION_MAJOR * 10000 + PIDFD_VERSION_MINOR * 100 + PIDFD_VERSION_PATCH);
}

TEST(Version, UmbrellaHeaderDefinesTheMacros) {
  // Included through <pidfd/pidfd.hpp> alone; 0.1.0 at the first release.
  EXPECT_GE(PIDFD_VERSION, 100);
}

}  // namespace
