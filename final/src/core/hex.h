// hex.h (inside final/src, not installed): the hex digits every writer of
// hex in final/src uses; bytes as lowercase hex, the form in which web.cpp
// and web_static.cpp show their digests (Etags, versions) and XSRF tokens;
// and hex back to bytes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tornado::detail {

// Lower case for digests and for Python's \xNN and \uXXXX escapes; upper
// case for URLs' %XX, as RFC 3986 (section 2.1) recommends and Python's
// quote() writes.
inline constexpr char kLowerHexDigits[] = "0123456789abcdef";
inline constexpr char kUpperHexDigits[] = "0123456789ABCDEF";

// Appends `byte` as two lowercase hex digits.
inline void append_hex_byte(std::string& out, unsigned char byte) {
    out += kLowerHexDigits[byte >> 4];
    out += kLowerHexDigits[byte & 0xf];
}

// Appends the hex form of `bytes` to `out`, through a buffer on the stack
// (a digest at a time): one append and no zero-filling resize, which is
// most of the cost for an Etag's 20 bytes.
inline void append_hex(std::string& out, const unsigned char* bytes, std::size_t size) {
    constexpr std::size_t kBytesPerStep = 64;  // the largest digest, SHA-512
    char hex[2 * kBytesPerStep];
    while (size > 0) {
        std::size_t step = std::min(size, kBytesPerStep);
        for (std::size_t i = 0; i < step; ++i) {
            hex[2 * i] = kLowerHexDigits[bytes[i] >> 4];
            hex[2 * i + 1] = kLowerHexDigits[bytes[i] & 0xf];
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

inline std::string to_hex(std::string_view bytes) {
    return to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

// A hex digit's value (either case), or -1.
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The bytes `hex` spells; nothing for an odd length or a character that is
// not a hex digit.
inline std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string bytes;
    bytes.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int high = hex_value(hex[i]), low = hex_value(hex[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        bytes += static_cast<char>(high * 16 + low);
    }
    return bytes;
}

}  // namespace tornado::detail
