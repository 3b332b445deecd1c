// password.cpp: see password.h.
#include "password.h"

#include <crypt.h>

#include <cerrno>
#include <memory>
#include <string_view>
#include <system_error>

namespace blog {
namespace {

constexpr int kCost = 12;  // the bcrypt package's default, as blog.py uses it

// crypt_rn with its own scratch space: crypt_data is 32 KB, so it goes on
// the heap rather than on an executor thread's stack, and each call has
// its own, so that two threads can hash at once (crypt() shares one).
std::string crypt_with(const std::string& password, const char* setting) {
    auto scratch = std::make_unique<crypt_data>();  // zeroed, as crypt_rn wants
    const char* hashed = crypt_rn(password.c_str(), setting, scratch.get(), sizeof *scratch);
    if (hashed == nullptr) throw std::system_error(errno, std::generic_category(), "crypt_rn");
    return hashed;
}

// How long this takes says nothing about where the two first differ
// (Python's hmac.compare_digest, which bcrypt.checkpw uses).
bool equal_in_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;  // every bcrypt hash has 60 bytes
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return difference == 0;
}

}  // namespace

std::string hash_password(const std::string& password) {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    // No random bytes given: libxcrypt takes them from the kernel.
    if (crypt_gensalt_rn("$2b$", kCost, nullptr, 0, salt, sizeof salt) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "crypt_gensalt_rn");
    }
    return crypt_with(password, salt);
}

bool check_password(const std::string& password, const std::string& hashed) {
    if (password.size() > kMaxPasswordBytes || !hashed.starts_with("$2b$")) return false;
    try {
        // The stored hash starts with its own salt and cost: hashing the
        // password with it as the setting gives the same hash if it is the one.
        return equal_in_constant_time(crypt_with(password, hashed.c_str()), hashed);
    } catch (const std::system_error&) {
        return false;  // a damaged hash: no password matches it
    }
}

}  // namespace blog
