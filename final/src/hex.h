// hex.h (inside final/src, not installed): bytes as lowercase hex, the form
// in which web.cpp and web_static.cpp show their digests (Etags, versions).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

namespace tornado::detail {

// Appends the hex form of `bytes` to `out`, through a buffer on the stack
// (a digest at a time): one append and no zero-filling resize, which is
// most of the cost for an Etag's 20 bytes.
inline void append_hex(std::string& out, const unsigned char* bytes, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    constexpr std::size_t kBytesPerStep = 64;  // the largest digest, SHA-512
    char hex[2 * kBytesPerStep];
    while (size > 0) {
        std::size_t step = std::min(size, kBytesPerStep);
        for (std::size_t i = 0; i < step; ++i) {
            hex[2 * i] = kDigits[bytes[i] >> 4];
            hex[2 * i + 1] = kDigits[bytes[i] & 0xf];
        }
        out.append(hex, 2 * step);
        bytes += step;
        size -= step;
    }
}

inline std::string to_hex(const unsigned char* bytes, std::size_t size) {
    std::string hex;
    hex.reserve(size * 2);
    append_hex(hex, bytes, size);
    return hex;
}

}  // namespace tornado::detail
