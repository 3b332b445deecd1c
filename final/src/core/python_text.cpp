// python_text.cpp: see python_text.h for the contracts. The helpers
// below fall in three groups: reading UTF-8 as Python's decoder does,
// writing numbers and strings as Python's repr() does, and counting and
// indexing code points as Python's str does (len(s), s[i], s[a:b]).
#include "core/python_text.h"

#include "core/hex.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace tornado::detail {

namespace {

// 10xxxxxx: a byte in the middle of a sequence, never the start of one.
bool is_continuation_byte(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Pure-ASCII text has one byte per code point, so index and offset agree
// and code_point_offset() can skip its walk.
bool is_ascii(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

}  // namespace

// ---- UTF-8 ------------------------------------------------------------------

// The table of well-formed UTF-8 (Unicode's Table 3-7). C0 and C1 are left
// out because they could only start an overlong two-byte form of ASCII, and
// F5 to FF because they would start values above U+10FFFF. The narrow ranges
// for the first continuation byte do the rest: after E0 it must be A0 or
// more (else the value fits in two bytes), after ED at most 9F (else a
// surrogate, D800-DFFF), after F0 at least 90 (else it fits in three), after
// F4 at most 8F (else above U+10FFFF).
std::optional<LeadByte> lead_byte(unsigned char lead) {
    if (lead >= 0xC2 && lead <= 0xDF) return LeadByte{1, char32_t(lead & 0x1F), 0x80, 0xBF};
    if (lead >= 0xE0 && lead <= 0xEF) {
        unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
        unsigned char high = lead == 0xED ? 0x9F : 0xBF;
        return LeadByte{2, char32_t(lead & 0x0F), low, high};
    }
    if (lead >= 0xF0 && lead <= 0xF4) {
        unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
        unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
        return LeadByte{3, char32_t(lead & 0x07), low, high};
    }
    return std::nullopt;
}

// Assumes at < text.size(). The lead byte narrows the first continuation
// byte's range; every later one is the plain 80-BF. Stopping at the first
// byte out of range (or at the end of the text) gives the "maximal subpart"
// the header describes: Python's b"\xe2\x82".decode(errors="replace") is
// one U+FFFD, not two, and the byte that stopped us is read afresh by the
// caller's next call.
Decoded decode_utf8(std::string_view text, std::size_t at) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    unsigned char lead = byte(at);
    if (lead < 0x80) return {lead, 1, true};
    std::optional<LeadByte> sequence = lead_byte(lead);
    if (!sequence) return {kReplacement, 1, false};

    char32_t code_point = sequence->bits;
    unsigned char low = sequence->low;
    unsigned char high = sequence->high;
    std::size_t length = 1;
    for (std::size_t k = 0; k < sequence->continuation_bytes; ++k) {
        // A sequence cut off by the end of the text is malformed too.
        if (at + length >= text.size()) return {kReplacement, length, false};
        unsigned char next = byte(at + length);
        if (next < low || next > high) return {kReplacement, length, false};
        code_point = (code_point << 6) | (next & 0x3F);
        ++length;
        // Only the first continuation byte has a narrowed range.
        low = 0x80;
        high = 0xBF;
    }
    return {code_point, length, true};
}

locale_t unicode_ctype() {
    // A function-local static: made on first use, and C++ makes that first
    // use thread-safe. Never freed, since any thread may use it until exit.
    static const locale_t locale =
        ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    return locale;
}

namespace {

// A finite double's shortest round-trip digits, taken apart:
// "-1.25e+15" is {true, "125", 15}.
struct ScientificParts {
    bool negative = false;
    std::string digits;  // the significant digits, without the point
    int exponent = 0;
};

// std::to_chars without a precision already finds the shortest round-trip
// digits; asking for scientific form gives them with a known shape
// ("d.ddde+XX"), which we take apart into the digits and the exponent so
// that the callers below can lay them out again as Python would. printf
// cannot do it: "%.17g" writes 0.1 as 0.10000000000000001, and "%g" keeps
// only 6 digits.
ScientificParts shortest_scientific(double number) {
    // 17 significant digits, a sign, a point and "e-324" fit many times over.
    char buffer[64];
    char* end =
        std::to_chars(buffer, buffer + sizeof buffer, number, std::chars_format::scientific).ptr;
    std::string_view scientific(buffer, static_cast<std::size_t>(end - buffer));  // "-1.25e+15"
    ScientificParts parts;
    if (scientific.front() == '-') {
        parts.negative = true;
        scientific.remove_prefix(1);
    }
    std::size_t e = scientific.find('e');
    for (char c : scientific.substr(0, e)) {
        if (c != '.') parts.digits += c;
    }
    std::string_view exponent_text = scientific.substr(e + 1);
    if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
    std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(),
                    parts.exponent);
    return parts;
}

// Python's positional form, for exponents -4 to 15.
void append_positional(std::string& out, const std::string& digits, int exponent) {
    // 0.000123: the point, then -exponent - 1 zeros, then the digits.
    if (exponent < 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-exponent - 1), '0');
        out += digits;
        return;
    }
    // 1500.0 or 12.5: the first exponent + 1 digits go before the
    // point, padded with zeros when there are fewer. Python always
    // writes a ".0" on a whole float, so that it reads back as a float.
    auto integer_digits = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= integer_digits) {
        out += digits;
        out.append(integer_digits - digits.size(), '0');
        out += ".0";
    } else {
        out.append(digits, 0, integer_digits);
        out += '.';
        out.append(digits, integer_digits);
    }
}

// Exponent form: "1e+16" (no ".0" here, as in Python), "1.5e-07".
// The exponent has at least two digits, as C's printf writes it.
void append_exponent_form(std::string& out, const std::string& digits, int exponent) {
    out += digits[0];
    if (digits.size() > 1) {
        out += '.';
        out.append(digits, 1);
    }
    out += exponent < 0 ? "e-" : "e+";
    int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
}

}  // namespace

// The shortest digits that read back to the same double, in positional form
// for exponents -4 to 15, else as d.ddde+XX with at least two exponent digits.
// That is Python's repr(float) (float_repr_style "short"): 1e-05 and 1e+16
// switch to the exponent form, 0.0001 and 1000000000000000.0 do not.
void append_python_float_repr(std::string& out, double number) {
    if (std::isnan(number)) {
        out += "nan";
        return;
    }
    if (std::isinf(number)) {
        out += number < 0 ? "-inf" : "inf";
        return;
    }
    ScientificParts parts = shortest_scientific(number);
    if (parts.negative) out += '-';
    if (parts.exponent >= -4 && parts.exponent < 16) {
        append_positional(out, parts.digits, parts.exponent);
    } else {
        append_exponent_form(out, parts.digits, parts.exponent);
    }
}

// Python's quote choice: single quotes, unless that would need escapes that
// double quotes avoid. The text is walked byte by byte: every byte of a
// multi-byte UTF-8 sequence is 0x80 or more, so none of them is taken for a
// quote, a backslash or a control character, and each code point beyond
// ASCII is copied whole. (Python would also escape C1 controls and other
// unprintable code points as \x80, \u2028...; the header says we do not.)
void append_python_string_repr(std::string& out, std::string_view text) {
    bool has_single = text.find('\'') != std::string_view::npos;
    bool has_double = text.find('"') != std::string_view::npos;
    char quote = has_single && !has_double ? '"' : '\'';
    out += quote;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (c == quote || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (byte < 0x20 || byte == 0x7F) {
            out += "\\x";
            detail::append_hex_byte(out, byte);
        } else {
            out += c;
        }
    }
    out += quote;
}

// The four shapes of UTF-8: 7, 11, 16 and 21 bits of code point, the lead
// byte's high bits saying how many continuation bytes follow.
void append_utf8(std::string& out, char32_t code_point) {
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else if (code_point < 0x800) {
        out += static_cast<char>(0xC0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        out += static_cast<char>(0xE0 | (code_point >> 12));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (code_point >> 18));
        out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (code_point & 0x3F));
    }
}

// Python's list: characters whose bidirectional class is WS, B or S, or
// whose category is Zs. In ASCII that includes 1C to 1F, the file, group,
// record and unit separators, which C's isspace() does not count; beyond
// ASCII it is NEL, no-break space and the Unicode spaces and separators.
// A fixed list rather than the C library's iswspace_l(): glibc's C.UTF-8
// leaves out NEL (85) and the no-break spaces (A0, 2007, 202F), which
// Python counts.
bool is_python_space(char32_t c) {
    if (c <= 0x7F) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Counting the bytes that are not continuation bytes counts the code points
// of valid UTF-8 without decoding it. In invalid text, a byte that cannot
// start a sequence (C0, F8...) counts as one, while a stray continuation
// byte counts as none: it is taken as part of the code point before it,
// just as code_point_length() takes it.
std::size_t code_point_count(std::string_view text) {
    std::size_t count = 0;
    for (char c : text) {
        if (!is_continuation_byte(static_cast<unsigned char>(c))) ++count;
    }
    return count;
}

// Python's s[i] and s[a:b] count code points, so a template's index must be
// turned into a byte offset. The walk is linear; the ASCII test first is
// linear too, but far cheaper, and most template text is ASCII.
std::size_t code_point_offset(std::string_view text, std::size_t index) {
    if (is_ascii(text)) return index;
    std::size_t offset = 0;
    for (std::size_t i = 0; i < index && offset < text.size(); ++i) {
        offset += code_point_length(text, offset);
    }
    return offset;
}

// A code point is its first byte and the continuation bytes after it. This
// does not check the lead byte's promise, so it agrees with
// code_point_count() on any text, valid or not.
std::size_t code_point_length(std::string_view text, std::size_t offset) {
    std::size_t length = 1;
    while (offset + length < text.size() &&
           is_continuation_byte(static_cast<unsigned char>(text[offset + length]))) {
        ++length;
    }
    return length;
}

}  // namespace tornado::detail
