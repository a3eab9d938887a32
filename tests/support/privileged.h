// Gate for privileged integration tests. On a machine that can run them (root, kernel BTF and a
// cgroup cpu controller in any layout DetectCgroupMounts supports),
// with SCHEDWARDEN_REQUIRE_PRIVILEGED=1 in the environment (scripts/test.sh sets it), a missing
// capability is a failure, never a skip.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace sw::test {

// Empty when the test can run; otherwise why not.
std::string PrivilegedUnavailableReason();
bool PrivilegedRequired();

}  // namespace sw::test

// Use as the first statement of a privileged TEST: skips (or fails when required).
#define SW_REQUIRE_PRIVILEGED()                                         \
  do {                                                                  \
    std::string sw_reason_ = ::sw::test::PrivilegedUnavailableReason(); \
    if (!sw_reason_.empty()) {                                          \
      if (::sw::test::PrivilegedRequired())                             \
        FAIL() << "privileged test cannot run: " << sw_reason_;         \
      GTEST_SKIP() << sw_reason_;                                       \
    }                                                                   \
  } while (0)
