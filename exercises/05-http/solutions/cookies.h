// cookies.h: the Cookie request header as a table of names and values.
// Tornado's tornado.httputil.parse_cookie.
//
// Extension task 6 of exercise 05, written out: the reference solution.
// The learner's copy is exercises/05-http/cookies.h.
//
//   parse_cookie("session=abc123; theme=dark")   // {session: abc123, theme: dark}
//
// A browser sends every cookie of a site in one header, "name=value" pairs
// joined by "; ". Browsers and servers have long disagreed on the details,
// so this follows what Tornado (and Python's http.cookies) accept rather
// than RFC 6265's strict grammar: a parser of this header must never refuse
// a request, only make the best of what it got. The rules, which the tests
// check against Tornado 6.2's answers:
//
// * The header is split at every ';'. Each piece is split at its first
//   '=': the name before it, the value after it (which may hold more '=').
//   A piece without '=' is a value with an empty name (as browsers send
//   for `document.cookie = "value"`).
// * Spaces and tabs around the name and the value are dropped. A piece
//   whose name and value are both empty (";;", a trailing ';') is skipped.
// * A value in double quotes, at least two characters long, loses its
//   quotes and is unescaped: a backslash and three octal digits, the first
//   0 to 3 ("\101"), is the byte with that value; a backslash and any other
//   character is that character ("\"" is '"', "\\" is '\'). A lone
//   backslash at the end stays. A value that is not quoted at both ends is
//   kept as it is.
// * A name that comes twice: the later value wins.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace course {

namespace detail {

inline std::string_view strip_blanks(std::string_view text) {
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    return text;
}

inline bool is_octal(char c, char highest = '7') { return c >= '0' && c <= highest; }

// A quoted cookie value without its quotes, its escapes undone.
inline std::string unquote_cookie(std::string_view value) {
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
    std::string_view inner = value.substr(1, value.size() - 2);
    std::string out;
    for (std::size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] != '\\' || i + 1 == inner.size()) {
            out += inner[i];
        } else if (i + 3 < inner.size() && is_octal(inner[i + 1], '3') &&
                   is_octal(inner[i + 2]) && is_octal(inner[i + 3])) {
            out += static_cast<char>((inner[i + 1] - '0') * 64 + (inner[i + 2] - '0') * 8 +
                                     (inner[i + 3] - '0'));
            i += 3;
        } else {
            out += inner[++i];
        }
    }
    return out;
}

}  // namespace detail

inline std::map<std::string, std::string> parse_cookie(std::string_view header) {
    std::map<std::string, std::string> cookies;
    while (true) {
        std::size_t semicolon = header.find(';');
        std::string_view piece = header.substr(0, semicolon);
        std::size_t equals = piece.find('=');
        std::string_view name = equals == std::string_view::npos ? "" : piece.substr(0, equals);
        std::string_view value =
            equals == std::string_view::npos ? piece : piece.substr(equals + 1);
        name = detail::strip_blanks(name);
        value = detail::strip_blanks(value);
        if (!name.empty() || !value.empty()) {
            cookies[std::string(name)] = detail::unquote_cookie(value);
        }
        if (semicolon == std::string_view::npos) return cookies;
        header.remove_prefix(semicolon + 1);
    }
}

}  // namespace course
