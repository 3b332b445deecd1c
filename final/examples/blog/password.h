// password.h: bcrypt, through libxcrypt (glibc's crypt(3), Debian's
// libcrypt-dev), where blog.py calls the bcrypt package. Both functions
// take about a quarter of a second of CPU on purpose (cost 12: 2^12
// rounds), so that a stolen table of hashes is slow to guess from: call
// them on the executor (tornado::run_in_executor), never on the loop.
#pragma once

#include <cstddef>
#include <string>

namespace blog {

// bcrypt reads a password's first 72 bytes and ignores the rest.
inline constexpr std::size_t kMaxPasswordBytes = 72;

// "$2b$12$" and then the salt and the hash of `password`, with a new
// random salt. Throws std::system_error if libxcrypt cannot make one.
std::string hash_password(const std::string& password);

// Whether `password` is the one `hashed` (hash_password's) was made from.
// The two hashes are compared in constant time. False for a `hashed` that
// is not a bcrypt hash and for a password longer than kMaxPasswordBytes.
bool check_password(const std::string& password, const std::string& hashed);

}  // namespace blog
