// python_text.h (inside final/src, not installed): text as Python writes
// and counts it, for json_encode (escape.cpp) and the template engine.
//
// A std::string holds UTF-8; Python's str counts, indexes and slices code
// points. These helpers convert between the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tornado::detail {

// A finite float as Python's repr() writes it: the shortest digits that read
// back to the same double ("0.1", "1.0", "1e+16", "1e-05"); "inf", "-inf"
// and "nan" for the others.
void append_python_float_repr(std::string& out, double number);

// A str as Python's repr() writes it: in single quotes unless the text has
// a single quote and no double quote; backslash, quote, \t \n \r and other
// ASCII control characters escaped. Characters beyond ASCII are written as
// they are (Python escapes the few it finds unprintable; this does not).
void append_python_string_repr(std::string& out, std::string_view text);

// Appends the UTF-8 encoding of a code point (at most U+10FFFF; the caller
// keeps surrogates out, which UTF-8 cannot hold).
void append_utf8(std::string& out, char32_t code_point);

// The number of code points in UTF-8 text (a byte that starts no code
// point, in text that is not UTF-8, counts as one).
std::size_t code_point_count(std::string_view text);

// The byte offset of code point `index` (0 <= index <= count).
std::size_t code_point_offset(std::string_view text, std::size_t index);

// The length in bytes of the code point starting at text[offset].
std::size_t code_point_length(std::string_view text, std::size_t offset);

}  // namespace tornado::detail
