// text.h (inside final/src, not installed): the ASCII and string helpers
// that the parsers of final/src share, so that each rule is written once.
//
// All of them work on bytes and look only at ASCII: HTTP's grammar is
// ASCII, and a byte beyond it is never a letter, a digit or a space here.
// (Python's str rules, which know Unicode, live in python_text.h.)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/hex.h"

namespace tornado::detail {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

constexpr bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// HTTP's optional whitespace, OWS (RFC 9110 section 5.6.3): space or tab.
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

// What Python's bytes.strip() removes: space, \t, \n, \v, \f and \r.
constexpr bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

constexpr char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char ascii_upper(char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// ASCII case-insensitive equality: header names, tokens, schemes.
constexpr bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

inline std::string lower_ascii(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = ascii_lower(c);
    return lower;
}

// `text` without the characters `drop` accepts at either end.
template <typename Predicate>
constexpr std::string_view trim_if(std::string_view text, Predicate drop) {
    while (!text.empty() && drop(text.front())) text.remove_prefix(1);
    while (!text.empty() && drop(text.back())) text.remove_suffix(1);
    return text;
}

// A header value or list item without the OWS around it.
constexpr std::string_view trim_ows(std::string_view text) { return trim_if(text, is_ows); }

// Python's bytes.strip(): ASCII whitespace off both ends.
constexpr std::string_view strip(std::string_view text) { return trim_if(text, is_ascii_space); }

// Calls f(part) for each part of `text` between `separator`s, the empty
// ones included: "a;;b" gives "a", "", "b", and "" gives one "".
template <typename F>
void for_each_part(std::string_view text, char separator, F&& f) {
    for (;;) {
        std::size_t end = text.find(separator);
        f(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
}

// Calls f(item) for each item of a comma-separated list ("close, Upgrade"),
// without the OWS around it.
template <typename F>
void for_each_item(std::string_view list, F&& f) {
    for_each_part(list, ',', [&f](std::string_view item) { f(trim_ows(item)); });
}

// Whether one item of a comma-separated list is `token`, compared without
// regard to case: how Connection and Upgrade are read ("keep-alive,
// Upgrade" has "upgrade").
inline bool list_has_token(std::string_view list, std::string_view token) {
    bool found = false;
    for_each_item(
        list, [&](std::string_view item) { found = found || equals_ignoring_case(item, token); });
    return found;
}

// Input named in an error message, as Python's repr() writes bytes: in
// single quotes, with \t \n \r \\ \' and \xNN for every other byte that is
// not printable ASCII; cut at 60 bytes, with "..." to say so. Whatever the
// input, the message stays one line of plain ASCII, which matters because
// messages go into logs and into the body of a 400.
inline std::string quoted(std::string_view text) {
    constexpr std::size_t kMaxShown = 60;
    std::string out = "'";
    for (char c : text.substr(0, kMaxShown)) {
        auto byte = static_cast<unsigned char>(c);
        switch (c) {
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\\': out += "\\\\"; break;
            case '\'': out += "\\'"; break;
            default:
                if (byte < 0x20 || byte >= 0x7f) {
                    out += "\\x";
                    append_hex_byte(out, byte);
                } else {
                    out += c;
                }
        }
    }
    out += text.size() > kMaxShown ? "...'" : "'";
    return out;
}

}  // namespace tornado::detail
