// text.cpp: see text.h.
#include "text.h"

#include <array>
#include <cstdint>
#include <utility>

namespace blog {
namespace {

// Where a letter has no ASCII form: it is a word character while the
// words are split (it joins what is around it, as Python's \w does), then
// dropped, as blog.py's encode("ascii", "ignore") drops it.
constexpr char kNoAscii = '*';

// What blog.py's first three steps make of each code point from U+0080 to
// U+017F: lower-case ASCII, ' ' where a non-word character was, kNoAscii
// for a letter with no ASCII form. Written by Python 3.11:
//   s = re.sub(r"[^\w]+", " ", unicodedata.normalize("NFKD", chr(cp))).lower()
//   "".join(c if c.isascii() else "*" for c in s)
// clang-format off
constexpr std::array<std::string_view, 256> kLatinPieces = {
    " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",  // U+0080
    " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",  // U+0090
    " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", "a", " ", " ", " ", " ", " ",  // U+00A0
    " ", " ", "2", "3", " ", "*", " ", " ", " ", "1", "o", " ", "1 4", "1 2", "3 4", " ",  // U+00B0
    "a ", "a ", "a ", "a ", "a ", "a ", "*", "c ", "e ", "e ", "e ", "e ", "i ", "i ", "i ", "i ",  // U+00C0
    "*", "n ", "o ", "o ", "o ", "o ", "o ", " ", "*", "u ", "u ", "u ", "u ", "y ", "*", "*",  // U+00D0
    "a ", "a ", "a ", "a ", "a ", "a ", "*", "c ", "e ", "e ", "e ", "e ", "i ", "i ", "i ", "i ",  // U+00E0
    "*", "n ", "o ", "o ", "o ", "o ", "o ", " ", "*", "u ", "u ", "u ", "u ", "y ", "*", "y ",  // U+00F0
    "a ", "a ", "a ", "a ", "a ", "a ", "c ", "c ", "c ", "c ", "c ", "c ", "c ", "c ", "d ", "d ",  // U+0100
    "*", "*", "e ", "e ", "e ", "e ", "e ", "e ", "e ", "e ", "e ", "e ", "g ", "g ", "g ", "g ",  // U+0110
    "g ", "g ", "g ", "g ", "h ", "h ", "*", "*", "i ", "i ", "i ", "i ", "i ", "i ", "i ", "i ",  // U+0120
    "i ", "*", "ij", "ij", "j ", "j ", "k ", "k ", "*", "l ", "l ", "l ", "l ", "l ", "l ", "l ",  // U+0130
    "l ", "*", "*", "n ", "n ", "n ", "n ", "n ", "n ", "*n", "*", "*", "o ", "o ", "o ", "o ",  // U+0140
    "o ", "o ", "*", "*", "r ", "r ", "r ", "r ", "r ", "r ", "s ", "s ", "s ", "s ", "s ", "s ",  // U+0150
    "s ", "s ", "t ", "t ", "t ", "t ", "*", "*", "u ", "u ", "u ", "u ", "u ", "u ", "u ", "u ",  // U+0160
    "u ", "u ", "u ", "u ", "w ", "w ", "y ", "y ", "y ", "z ", "z ", "z ", "z ", "z ", "z ", "s",  // U+0170
};
// clang-format on

// Code points past U+017F that Python's \w does not match, even after
// NFKD, so that blog.py splits words there: combining accents, General
// Punctuation (dashes, quotes), arrows and mathematical and technical
// symbols, box drawing, shapes and dingbats (but for the circled digits),
// CJK spaces and full stops, U+FFFD, and emoji. Each range checked against
// Python 3.11, every code point of it.
constexpr std::pair<char32_t, char32_t> kSeparatorRanges[] = {
    {0x0300, 0x036F}, {0x2000, 0x206F}, {0x2190, 0x23FF}, {0x2500, 0x2775},
    {0x2794, 0x2BFF}, {0x3000, 0x3004}, {0xFFF0, 0xFFFD}, {0x1F300, 0x1FAFF},
};

// The code point that starts at text[at] (valid UTF-8: get_argument()
// refuses anything else with a 400), and moves `at` past it.
char32_t next_code_point(std::string_view text, std::size_t& at) {
    auto byte = static_cast<unsigned char>(text[at++]);
    int following = byte >= 0xF0 ? 3 : byte >= 0xE0 ? 2 : byte >= 0xC0 ? 1 : 0;
    char32_t code_point = following == 0 ? byte : byte & (0x3F >> following);
    for (; following > 0 && at < text.size(); --following) {
        code_point = (code_point << 6) | (static_cast<unsigned char>(text[at++]) & 0x3F);
    }
    return code_point;
}

// What blog.py's NFKD, \w and lower() make of one code point.
std::string piece_of(char32_t code_point) {
    if (code_point < 0x80) {
        auto letter = static_cast<char>(code_point);
        if (letter >= 'A' && letter <= 'Z') return {static_cast<char>(letter - 'A' + 'a')};
        bool word =
            (letter >= 'a' && letter <= 'z') || (letter >= '0' && letter <= '9') || letter == '_';
        return word ? std::string{letter} : " ";
    }
    if (code_point < 0x180) return std::string(kLatinPieces[code_point - 0x80]);
    for (auto [first, last] : kSeparatorRanges) {
        if (code_point >= first && code_point <= last) return " ";
    }
    return {kNoAscii};
}

// The slug cut to kMaxBaseSlug bytes, at its last '-' within them if any.
std::string cut(std::string slug) {
    if (slug.size() <= kMaxBaseSlug) return slug;
    std::size_t last_dash = slug.rfind('-', kMaxBaseSlug);
    slug.resize(last_dash != std::string::npos && last_dash > 0 ? last_dash : kMaxBaseSlug);
    return slug;
}

}  // namespace

std::string slug_of(std::string_view title) {
    std::string words;  // blog.py's slug after its second step, lower-cased
    for (std::size_t at = 0; at < title.size();) {
        words += piece_of(next_code_point(title, at));
    }
    std::string slug;  // "-".join(words.split())
    std::size_t start = words.find_first_not_of(' ');
    while (start != std::string::npos) {
        std::size_t end = words.find(' ', start);
        if (!slug.empty()) slug += '-';
        slug += words.substr(start, end - start);
        start = words.find_first_not_of(' ', end);
    }
    // encode("ascii", "ignore"): only after the join, so "日本 blog" gives
    // "-blog" in blog.py, and here too.
    std::erase(slug, kNoAscii);
    if (slug.empty()) return "entry";
    return cut(std::move(slug));
}

std::size_t count_characters(std::string_view text) {
    std::size_t characters = 0;
    for (char byte : text) {
        bool continuation = (static_cast<unsigned char>(byte) & 0xC0) == 0x80;
        if (!continuation) ++characters;
    }
    return characters;
}

std::string xml_safe(std::string_view text) {
    constexpr std::string_view kNonCharacterStart = "\xEF\xBF";  // U+FFC0 to U+FFFF
    constexpr std::string_view kReplacement = "\xEF\xBF\xBD";    // U+FFFD
    std::string safe;
    safe.reserve(text.size());
    for (std::size_t at = 0; at < text.size(); ++at) {
        char byte = text[at];
        bool control =
            static_cast<unsigned char>(byte) < 0x20 && byte != '\t' && byte != '\n' && byte != '\r';
        if (control) {
            safe += ' ';
        } else if (text.substr(at, 2) == kNonCharacterStart && at + 2 < text.size() &&
                   (text[at + 2] == '\xBE' || text[at + 2] == '\xBF')) {
            safe += kReplacement;
            at += 2;
        } else {
            safe += byte;
        }
    }
    return safe;
}

}  // namespace blog
