// field_bytes.h: the bytes of a request head that end or break a field,
// found eight at a time (not installed). The HTTP/1.1 head parser
// (httputil.cpp) and HTTP/2's check of each field (final/http2's session)
// both use it: every value of every request passes through one of them.
#pragma once

#include <cstdint>
#include <cstring>

namespace tornado::detail {

// A request head is mostly ordinary bytes between rare stops (SP, CR, LF, a control
// character). Testing a 64-bit word for "any stop among these eight bytes?" takes a handful
// of arithmetic instructions, so long values and targets are crossed eight bytes per step;
// only the word that holds a stop is then walked a byte at a time.

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Eight bytes from any address. memcpy, not a cast to uint64_t*: the bytes need not be
// aligned, and reading chars through another type breaks the aliasing rules. The compiler
// makes it one load.
inline std::uint64_t load8(const char* p) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    return word;
}
// Non-zero if some byte of `word` is below n (n <= 128): the classic
// "hasless" trick. Exact about *whether*, not about *which*.
inline std::uint64_t has_less(std::uint64_t word, unsigned n) {
    return (word - kOnes * n) & ~word & kHighs;
}
// Non-zero if some byte of `word` equals `byte`: the XOR turns exactly those bytes into
// zero, and the rest is has_less(x, 1), "some byte is zero".
inline std::uint64_t has_byte(std::uint64_t word, unsigned char byte) {
    std::uint64_t x = word ^ (kOnes * byte);
    return (x - kOnes) & ~x & kHighs;
}

// The first byte from p on that is below 0x20 or DEL (a value's CR, or a
// control character), or end. Skips eight ordinary bytes per step; the
// word that holds the stop is then walked byte by byte. HTAB is the one
// control character a field value may hold (RFC 9110 section 5.5); it stops
// the eight-byte test like the others, so it is stepped over here and the
// fast loop resumes. Used for every value the head parser reads, for each
// value an application sets (check_value) and for chunk extensions.
inline const char* skip_value_bytes(const char* p, const char* end) {
    for (;;) {
        while (end - p >= 8) {
            std::uint64_t word = load8(p);
            if ((has_less(word, 0x20) | has_byte(word, 0x7f)) != 0) break;
            p += 8;
        }
        for (;;) {
            if (p == end) return end;
            auto byte = static_cast<unsigned char>(*p);
            if (byte >= 0x20 && byte != 0x7f) {
                ++p;
                continue;
            }
            if (byte != '\t') return p;
            ++p;
            break;  // a tab is allowed: back to eight at a time
        }
    }
}

// The first byte from p on that is a space, a control character or DEL
// (the end of a request target), or end. SP is 0x20, so "below 0x21" finds
// the target's end and a control character in the same test.
inline const char* skip_target_bytes(const char* p, const char* end) {
    while (end - p >= 8) {
        std::uint64_t word = load8(p);
        if ((has_less(word, 0x21) | has_byte(word, 0x7f)) != 0) break;
        p += 8;
    }
    while (p < end) {
        auto byte = static_cast<unsigned char>(*p);
        if (byte <= 0x20 || byte == 0x7f) return p;
        ++p;
    }
    return end;
}

}  // namespace tornado::detail
