// SHA-256 (FIPS 180-4), for checking metrics passwords against the hashes in basic_auth_file
// without linking a crypto library.
#pragma once

#include <string>

namespace sw {

// Lower-case hex digest of `data`.
std::string Sha256Hex(const std::string& data);

// Equality that takes the same time wherever the first difference is (for secrets).
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace sw
