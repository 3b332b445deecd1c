// base64.h (inside final/src, not installed): base64 with the standard
// alphabet and padding (RFC 4648 section 4), for signed cookies (web.cpp)
// and the WebSocket handshake's keys (websocket_protocol.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tornado::detail {

// The character for each 6-bit value, 0 to 63 (RFC 4648 section 4, table 1).
inline constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Each 3 bytes become 4 characters: their 24 bits read as four 6-bit
// values. A last group of 1 or 2 bytes is filled with zero bits, and '='
// stands for each character that carries none of the data ("a" -> "YQ==").
// The casts to unsigned char: a char may be signed, and a negative one
// would spread its sign bits over the whole group.
inline std::string base64_encode(std::string_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < data.size(); i += 3) {
        std::uint32_t group = static_cast<unsigned char>(data[i]) << 16;
        if (i + 1 < data.size()) group |= static_cast<unsigned char>(data[i + 1]) << 8;
        if (i + 2 < data.size()) group |= static_cast<unsigned char>(data[i + 2]);
        out += kBase64Alphabet[(group >> 18) & 63];
        out += kBase64Alphabet[(group >> 12) & 63];
        out += i + 1 < data.size() ? kBase64Alphabet[(group >> 6) & 63] : '=';
        out += i + 2 < data.size() ? kBase64Alphabet[group & 63] : '=';
    }
    return out;
}

// The bytes, or nothing when `text` is not padded base64. Stricter than
// Python's b64decode, which skips characters outside the alphabet: here
// any such character, a length not a multiple of 4, or a '=' that is not
// one of the last one or two characters is refused. The unused low bits of
// the last character before '=' are not checked ("QR==" reads as "QQ==").
inline std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t group = 0;
        int padding = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            char c = text[i + j];
            std::uint32_t value = 0;
            // '=' counts as six zero bits; the bytes it stands for are not output.
            if (c == '=' && i + 4 == text.size() && j >= 2) {
                ++padding;
            } else {
                if (padding > 0) return std::nullopt;  // data after '='
                std::size_t at = kBase64Alphabet.find(c);
                if (at == std::string_view::npos) return std::nullopt;
                value = static_cast<std::uint32_t>(at);
            }
            group = (group << 6) | value;
        }
        out += static_cast<char>((group >> 16) & 0xff);
        if (padding < 2) out += static_cast<char>((group >> 8) & 0xff);
        if (padding < 1) out += static_cast<char>(group & 0xff);
    }
    return out;
}

}  // namespace tornado::detail
