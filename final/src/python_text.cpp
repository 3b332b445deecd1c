// python_text.cpp: see python_text.h.
#include "python_text.h"

#include <charconv>
#include <cmath>
#include <optional>

namespace tornado::detail {

namespace {

bool is_continuation_byte(unsigned char byte) { return (byte & 0xC0) == 0x80; }

bool is_ascii(std::string_view text) {
    for (char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) return false;
    }
    return true;
}

}  // namespace

// ---- UTF-8 ------------------------------------------------------------------

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
        if (at + length >= text.size()) return {kReplacement, length, false};
        unsigned char next = byte(at + length);
        if (next < low || next > high) return {kReplacement, length, false};
        code_point = (code_point << 6) | (next & 0x3F);
        ++length;
        low = 0x80;
        high = 0xBF;
    }
    return {code_point, length, true};
}

locale_t unicode_ctype() {
    static const locale_t locale =
        ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    return locale;
}

// The shortest digits that read back to the same double, in positional form
// for exponents -4 to 15, else as d.ddde+XX with at least two exponent digits.
void append_python_float_repr(std::string& out, double number) {
    if (std::isnan(number)) {
        out += "nan";
        return;
    }
    if (std::isinf(number)) {
        out += number < 0 ? "-inf" : "inf";
        return;
    }
    char buffer[64];
    char* end =
        std::to_chars(buffer, buffer + sizeof buffer, number, std::chars_format::scientific).ptr;
    std::string_view scientific(buffer, static_cast<std::size_t>(end - buffer));  // "-1.25e+15"
    if (scientific.front() == '-') {
        out += '-';
        scientific.remove_prefix(1);
    }
    std::size_t e = scientific.find('e');
    std::string digits;
    for (char c : scientific.substr(0, e)) {
        if (c != '.') digits += c;
    }
    std::string_view exponent_text = scientific.substr(e + 1);
    if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
    int exponent = 0;
    std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);

    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-exponent - 1), '0');
            out += digits;
            return;
        }
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
        return;
    }
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

void append_python_string_repr(std::string& out, std::string_view text) {
    bool has_single = text.find('\'') != std::string_view::npos;
    bool has_double = text.find('"') != std::string_view::npos;
    char quote = has_single && !has_double ? '"' : '\'';
    static constexpr char kHex[] = "0123456789abcdef";
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
            out += kHex[byte >> 4];
            out += kHex[byte & 0xF];
        } else {
            out += c;
        }
    }
    out += quote;
}

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

bool is_python_space(char32_t c) {
    if (c <= 0x7F) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::size_t code_point_count(std::string_view text) {
    std::size_t count = 0;
    for (char c : text) {
        if (!is_continuation_byte(static_cast<unsigned char>(c))) ++count;
    }
    return count;
}

std::size_t code_point_offset(std::string_view text, std::size_t index) {
    if (is_ascii(text)) return index;
    std::size_t offset = 0;
    for (std::size_t i = 0; i < index && offset < text.size(); ++i) {
        offset += code_point_length(text, offset);
    }
    return offset;
}

std::size_t code_point_length(std::string_view text, std::size_t offset) {
    std::size_t length = 1;
    while (offset + length < text.size() &&
           is_continuation_byte(static_cast<unsigned char>(text[offset + length]))) {
        ++length;
    }
    return length;
}

}  // namespace tornado::detail
