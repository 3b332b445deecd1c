// percent_encoding.h (inside final/src, not installed): URLs' %XX escapes,
// written once for every caller (RFC 3986 section 2.1; HTML's form
// encoding adds '+' for a space). Each caller says which bytes pass as
// they are:
//
//   url_escape (escape.cpp)        Python's quote_plus, or quote(safe="/")
//   urlencode (httputil.cpp)       quote_plus with no safe characters
//   OAuth's signature (auth.cpp)   quote(safe="~"): '/' too is escaped
//   RedirectHandler (web.cpp)      every byte but control characters
//
// and decoding is Python's unquote_to_bytes, with '+' as a space for form
// fields (url_unescape, parse_qs, the path's captured groups, RFC 2231's
// encoded header parameters).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/hex.h"

namespace tornado::detail {

// RFC 3986's unreserved characters, which no URL needs escaped: ASCII
// letters and digits and "-._~". Python's quote() keeps them whatever its
// `safe` says.
constexpr bool is_unreserved(unsigned char byte) {
    return (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
           (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' || byte == '_' || byte == '~';
}

// Appends `text` with every byte that keep(byte) refuses written as %XX in
// upper case. With `space_as_plus`, a space that keep refuses becomes '+'
// instead (form encoding, Python's quote_plus).
template <class Keep>
void append_percent_encoded(std::string& out, std::string_view text, Keep keep,
                            bool space_as_plus = false) {
    out.reserve(out.size() + text.size());
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (keep(byte)) {
            out += c;
        } else if (c == ' ' && space_as_plus) {
            out += '+';
        } else {
            out += {'%', kUpperHexDigits[byte >> 4], kUpperHexDigits[byte & 0xf]};
        }
    }
}

// Appends `text` with each %XX (hex digits of either case) decoded to its
// byte, and with `plus_is_space` each '+' as a space (form encoding: a '+'
// that came as %2B stays a '+', since each byte is looked at once). An
// escape that is not two hex digits ("%zz", a '%' at the end) stays as it
// is, as in Python: decoding never fails. Bytes, not text: the charset is
// the caller's business.
inline void append_percent_decoded(std::string& out, std::string_view text, bool plus_is_space) {
    out.reserve(out.size() + text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            int high = hex_value(text[i + 1]);
            int low = hex_value(text[i + 2]);
            if (high >= 0 && low >= 0) {
                out += static_cast<char>(high * 16 + low);
                i += 2;
                continue;
            }
        }
        out += (c == '+' && plus_is_space) ? ' ' : c;
    }
}

}  // namespace tornado::detail
