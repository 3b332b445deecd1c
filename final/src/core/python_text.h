// python_text.h (inside final/src, not installed): text as Python writes
// and counts it, for json_encode (escape.cpp) and the template engine.
//
// A std::string holds UTF-8; Python's str counts, indexes and slices code
// points. These helpers convert between the two.
#pragma once

#include <locale.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tornado::detail {

// A finite float as Python's repr() writes it: the shortest digits that read
// back to the same double ("0.1", "1.0", "1e+16", "1e-05"); "inf", "-inf"
// and "nan" for the others.
void append_python_float_repr(std::string& out, double number);

// repr() of an int, which is also its str(): the decimal digits.
inline void append_python_int_repr(std::string& out, std::int64_t number) {
    char digits[24];  // INT64_MIN is 20 characters; to_chars needs no terminator
    out.append(digits, std::to_chars(digits, digits + sizeof digits, number).ptr);
}

// A str as Python's repr() writes it: in single quotes unless the text has
// a single quote and no double quote; backslash, quote, \t \n \r and other
// ASCII control characters escaped. Characters beyond ASCII are written as
// they are (Python escapes the few it finds unprintable; this does not).
void append_python_string_repr(std::string& out, std::string_view text);

constexpr char32_t kReplacement = 0xFFFD;  // what a malformed sequence reads as

// One code point read from UTF-8. A malformed sequence reads as U+FFFD with
// `length` the bytes of its maximal subpart: the longest prefix that could
// still have begun a valid sequence (at least one byte). This is Unicode's
// recommended practice, and what Python's decoder does with errors="replace".
struct Decoded {
    char32_t code_point;
    std::size_t length;
    bool valid;
};
Decoded decode_utf8(std::string_view text, std::size_t at);

// What a lead byte says of its sequence: how many continuation bytes follow,
// the code point's bits in the lead, and the range of the first
// continuation byte. That range is narrower after E0, ED, F0 and F4: it is
// what rules out overlong forms, surrogates and values above U+10FFFF.
// Nothing for a byte that cannot begin a sequence of two bytes or more.
struct LeadByte {
    std::size_t continuation_bytes;
    char32_t bits;
    unsigned char low;
    unsigned char high;
};

std::optional<LeadByte> lead_byte(unsigned char lead);

// The C library's Unicode classes and case tables (C.UTF-8), for telling
// letters from punctuation beyond ASCII as Python's \w does, and for str's
// upper() and lower(). Made once, never freed; read-only, so safe from any
// thread. (locale_t)0 where the C library lacks C.UTF-8.
locale_t unicode_ctype();

// Python's str.isspace() for one code point: what \s matches and
// str.strip() and str.split() remove.
bool is_python_space(char32_t c);

// Appends the UTF-8 encoding of a code point (at most U+10FFFF; the caller
// keeps surrogates out, which UTF-8 cannot hold).
void append_utf8(std::string& out, char32_t code_point);

// The number of code points in UTF-8 text: the bytes that are not
// continuation bytes (10xxxxxx). In text that is not UTF-8, a stray
// continuation byte therefore counts as nothing, unlike decode_utf8, which
// reads it as one U+FFFD.
std::size_t code_point_count(std::string_view text);

// The byte offset of code point `index` (0 <= index <= count).
std::size_t code_point_offset(std::string_view text, std::size_t index);

// The length in bytes of the code point starting at text[offset].
std::size_t code_point_length(std::string_view text, std::size_t offset);

}  // namespace tornado::detail
