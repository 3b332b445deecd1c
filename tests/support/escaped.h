// escaped.h: bytes made fit for a failure message. A test that sends
// "5\r\r\n" and prints it raw shows "5" and a stray carriage return; one that
// prints a 10 MiB body drowns the message. Every input a test prints, and
// what TestClient received, goes through escaped() instead.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace course::testing {

// `text` in double quotes, as C would write it: \r, \n, \t, \\ and \", and
// any other byte below 0x20 or from 0x7f up as \xNN (a NUL is \x00). Only
// the first `at_most` bytes are shown; a longer text ends with its length.
inline std::string escaped(std::string_view text, std::size_t at_most = 300) {
    std::string out = "\"";
    for (char c : text.substr(0, at_most)) {
        auto byte = static_cast<unsigned char>(c);
        switch (c) {
        case '\r': out += "\\r"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        default:
            if (byte < 0x20 || byte >= 0x7f) {
                char code[5];
                std::snprintf(code, sizeof code, "\\x%02x", byte);
                out += code;
            } else {
                out += c;
            }
        }
    }
    out += "\"";
    if (text.size() > at_most) out += "... (" + std::to_string(text.size()) + " bytes in all)";
    return out;
}

}  // namespace course::testing
