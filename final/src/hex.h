// hex.h (inside final/src, not installed): bytes as lowercase hex, the form
// in which web.cpp and web_static.cpp show their digests (Etags, versions).
#pragma once

#include <cstddef>
#include <string>

namespace tornado::detail {

// `room`: spare capacity, for what the caller adds around it (an Etag's
// quotes), so that adding it allocates nothing.
inline std::string to_hex(const unsigned char* bytes, std::size_t size, std::size_t room = 0) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(size * 2 + room);
    hex.resize(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        hex[2 * i] = kDigits[bytes[i] >> 4];
        hex[2 * i + 1] = kDigits[bytes[i] & 0xf];
    }
    return hex;
}

}  // namespace tornado::detail
