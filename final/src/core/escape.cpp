// escape.cpp: see tornado/escape.h for the contract. Each function follows
// what Tornado 6 does with Python's re, urllib.parse and json modules; the
// comments name the Python behaviour being matched where it is not obvious.
//
// Python works on code points, this file on UTF-8 bytes. Where Tornado's
// answer depends on code points (len(), \w, \s, str.strip()), the bytes are
// decoded on the fly with python_text.h's decode_utf8; everywhere else a
// byte loop gives the same result, faster.
//
// The layout: helpers in an anonymous namespace (UTF-8 walking, the HTML
// entity table, the JSON writer, linkify's address matcher), then the
// public functions in the order of the header. Every output is compared
// with Python Tornado's by tests/final/escape_test.cpp, from the table that
// tests/final/escape_oracle.py writes: a change that alters one byte of
// output fails there.
#include "tornado/escape.h"

#include "core/hex.h"
#include "core/percent_encoding.h"
#include "core/python_text.h"

#include <locale.h>
#include <wctype.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>

namespace tornado {
namespace {

// ---- UTF-8 ------------------------------------------------------------------

// The UTF-8 decoder itself is python_text.cpp's, shared with the template
// engine: decode_utf8 reads one code point, and reads a malformed sequence
// as one U+FFFD spanning its maximal subpart, as Python's errors="replace".
using detail::kReplacement;

using detail::append_utf8;
using detail::decode_utf8;
using detail::Decoded;
using detail::is_python_space;
using detail::lead_byte;
using detail::LeadByte;

// The offset of the first byte that is not well-formed UTF-8, or npos.
// For a sequence that breaks off, the offset of its lead byte, which is the
// position Python's UnicodeDecodeError names too. ASCII bytes, most of any
// text, skip the decoder.
std::size_t first_invalid_utf8(std::string_view bytes) {
    std::size_t at = 0;
    while (at < bytes.size()) {
        if (static_cast<unsigned char>(bytes[at]) < 0x80) {
            ++at;
            continue;
        }
        Decoded decoded = decode_utf8(bytes, at);
        if (!decoded.valid) return at;
        at += decoded.length;
    }
    return std::string_view::npos;
}

// Python's str.strip(): drops whitespace code points from both ends.
std::string_view strip_python_space(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size()) {
        Decoded decoded = decode_utf8(text, begin);
        // A malformed sequence is text, not space: the strip stops there.
        if (!decoded.valid || !is_python_space(decoded.code_point)) break;
        begin += decoded.length;
    }
    std::size_t end = begin;  // one past the last code point that is not space
    for (std::size_t at = begin; at < text.size();) {
        Decoded decoded = decode_utf8(text, at);
        at += decoded.length;
        if (!decoded.valid || !is_python_space(decoded.code_point)) end = at;
    }
    return text.substr(begin, end - begin);
}

// Python's len() of the decoded text: a malformed sequence counts as the one
// U+FFFD it decodes to. (python_text.h's code_point_count counts stray
// continuation bytes as nothing, which is not what linkify needs.)
std::size_t count_code_points(std::string_view text) {
    std::size_t count = 0;
    for (std::size_t at = 0; at < text.size(); at += decode_utf8(text, at).length) ++count;
    return count;
}

// The first `count` code points of `text` (Python's text[:count]).
std::string_view first_code_points(std::string_view text, std::size_t count) {
    std::size_t at = 0;
    for (; at < text.size() && count > 0; --count) at += decode_utf8(text, at).length;
    return text.substr(0, at);
}

using detail::hex_value;  // -1 for a character that is not a hex digit

// ASCII letters and digits, whatever the C locale (isalnum() depends on it).
bool is_ascii_alnum(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// ---- HTML -------------------------------------------------------------------

// Tornado's _XHTML_ESCAPE_DICT. The quote becomes &#39;, not &apos; (which
// HTML 4 lacks), so escaped text is safe in an attribute quoted either way.
constexpr std::string_view xhtml_entity_for(char c) {
    switch (c) {
        case '&': return "&amp;";
        case '<': return "&lt;";
        case '>': return "&gt;";
        case '"': return "&quot;";
        case '\'': return "&#39;";
        default: return {};
    }
}

// How many bytes each byte grows by when escaped (0 for most): the five
// characters xhtml_entity_for replaces are the bytes with a growth.
constexpr std::array<unsigned char, 256> kXhtmlGrowth = [] {
    std::array<unsigned char, 256> growth{};
    for (char c : std::string_view("&<>\"'")) {
        growth[static_cast<unsigned char>(c)] =
            static_cast<unsigned char>(xhtml_entity_for(c).size() - 1);
    }
    return growth;
}();

// What each byte becomes, as eight bytes to copy whatever the byte (the
// byte itself, or its entity) and how many of them count: the loop that
// writes escaped text then has no branch to mispredict at each '&' or '<'.
struct XhtmlOutput {
    std::array<char, 7> bytes;
    unsigned char size;
};
constexpr std::array<XhtmlOutput, 256> kXhtmlOutput = [] {
    std::array<XhtmlOutput, 256> outputs{};
    for (int c = 0; c < 256; ++c) {
        std::string_view entity = xhtml_entity_for(static_cast<char>(c));
        if (entity.empty()) {
            outputs[c].bytes[0] = static_cast<char>(c);
            outputs[c].size = 1;
        } else {
            for (std::size_t i = 0; i < entity.size(); ++i) outputs[c].bytes[i] = entity[i];
            outputs[c].size = static_cast<unsigned char>(entity.size());
        }
    }
    return outputs;
}();
static_assert(sizeof(XhtmlOutput) == 8);

// The extra bytes escaping `value` takes: both callers size their output
// with it once, before writing.
std::size_t xhtml_growth(std::string_view value) {
    std::size_t growth = 0;
    for (char c : value) growth += kXhtmlGrowth[static_cast<unsigned char>(c)];
    return growth;
}

// Where the first byte that escaping changes is, or value.size() if none is.
std::size_t first_to_escape(std::string_view value) {
    std::size_t at = 0;
#if defined(__SSE2__)
    // Sixteen bytes a step where the CPU has SSE2 (every x86-64): each of
    // the five characters compared with all sixteen at once. Text is mostly
    // plain, and a page escapes every {{ }}.
    const __m128i amp = _mm_set1_epi8('&'), less = _mm_set1_epi8('<');
    const __m128i greater = _mm_set1_epi8('>'), quote = _mm_set1_epi8('"');
    const __m128i apostrophe = _mm_set1_epi8('\'');
    for (; at + 16 <= value.size(); at += 16) {
        __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(value.data() + at));
        __m128i found = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(bytes, amp), _mm_cmpeq_epi8(bytes, less)),
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, greater), _mm_cmpeq_epi8(bytes, quote)),
                         _mm_cmpeq_epi8(bytes, apostrophe)));
        auto mask = static_cast<unsigned>(_mm_movemask_epi8(found));  // bit i: byte i
        if (mask != 0) return at + static_cast<std::size_t>(std::countr_zero(mask));
    }
#endif
    for (; at < value.size(); ++at) {
        if (kXhtmlGrowth[static_cast<unsigned char>(value[at])] != 0) return at;
    }
    return value.size();
}

// Python's html.entities.name2codepoint (the HTML 4 names), sorted for
// binary search. Tornado's xhtml_unescape knows these and no others.
struct NamedEntity {
    std::string_view name;
    char32_t code_point;
};
constexpr NamedEntity kNamedEntities[] = {
    {"AElig", 0xC6},     {"Aacute", 0xC1},    {"Acirc", 0xC2},    {"Agrave", 0xC0},
    {"Alpha", 0x391},    {"Aring", 0xC5},     {"Atilde", 0xC3},   {"Auml", 0xC4},
    {"Beta", 0x392},     {"Ccedil", 0xC7},    {"Chi", 0x3A7},     {"Dagger", 0x2021},
    {"Delta", 0x394},    {"ETH", 0xD0},       {"Eacute", 0xC9},   {"Ecirc", 0xCA},
    {"Egrave", 0xC8},    {"Epsilon", 0x395},  {"Eta", 0x397},     {"Euml", 0xCB},
    {"Gamma", 0x393},    {"Iacute", 0xCD},    {"Icirc", 0xCE},    {"Igrave", 0xCC},
    {"Iota", 0x399},     {"Iuml", 0xCF},      {"Kappa", 0x39A},   {"Lambda", 0x39B},
    {"Mu", 0x39C},       {"Ntilde", 0xD1},    {"Nu", 0x39D},      {"OElig", 0x152},
    {"Oacute", 0xD3},    {"Ocirc", 0xD4},     {"Ograve", 0xD2},   {"Omega", 0x3A9},
    {"Omicron", 0x39F},  {"Oslash", 0xD8},    {"Otilde", 0xD5},   {"Ouml", 0xD6},
    {"Phi", 0x3A6},      {"Pi", 0x3A0},       {"Prime", 0x2033},  {"Psi", 0x3A8},
    {"Rho", 0x3A1},      {"Scaron", 0x160},   {"Sigma", 0x3A3},   {"THORN", 0xDE},
    {"Tau", 0x3A4},      {"Theta", 0x398},    {"Uacute", 0xDA},   {"Ucirc", 0xDB},
    {"Ugrave", 0xD9},    {"Upsilon", 0x3A5},  {"Uuml", 0xDC},     {"Xi", 0x39E},
    {"Yacute", 0xDD},    {"Yuml", 0x178},     {"Zeta", 0x396},    {"aacute", 0xE1},
    {"acirc", 0xE2},     {"acute", 0xB4},     {"aelig", 0xE6},    {"agrave", 0xE0},
    {"alefsym", 0x2135}, {"alpha", 0x3B1},    {"amp", 0x26},      {"and", 0x2227},
    {"ang", 0x2220},     {"aring", 0xE5},     {"asymp", 0x2248},  {"atilde", 0xE3},
    {"auml", 0xE4},      {"bdquo", 0x201E},   {"beta", 0x3B2},    {"brvbar", 0xA6},
    {"bull", 0x2022},    {"cap", 0x2229},     {"ccedil", 0xE7},   {"cedil", 0xB8},
    {"cent", 0xA2},      {"chi", 0x3C7},      {"circ", 0x2C6},    {"clubs", 0x2663},
    {"cong", 0x2245},    {"copy", 0xA9},      {"crarr", 0x21B5},  {"cup", 0x222A},
    {"curren", 0xA4},    {"dArr", 0x21D3},    {"dagger", 0x2020}, {"darr", 0x2193},
    {"deg", 0xB0},       {"delta", 0x3B4},    {"diams", 0x2666},  {"divide", 0xF7},
    {"eacute", 0xE9},    {"ecirc", 0xEA},     {"egrave", 0xE8},   {"empty", 0x2205},
    {"emsp", 0x2003},    {"ensp", 0x2002},    {"epsilon", 0x3B5}, {"equiv", 0x2261},
    {"eta", 0x3B7},      {"eth", 0xF0},       {"euml", 0xEB},     {"euro", 0x20AC},
    {"exist", 0x2203},   {"fnof", 0x192},     {"forall", 0x2200}, {"frac12", 0xBD},
    {"frac14", 0xBC},    {"frac34", 0xBE},    {"frasl", 0x2044},  {"gamma", 0x3B3},
    {"ge", 0x2265},      {"gt", 0x3E},        {"hArr", 0x21D4},   {"harr", 0x2194},
    {"hearts", 0x2665},  {"hellip", 0x2026},  {"iacute", 0xED},   {"icirc", 0xEE},
    {"iexcl", 0xA1},     {"igrave", 0xEC},    {"image", 0x2111},  {"infin", 0x221E},
    {"int", 0x222B},     {"iota", 0x3B9},     {"iquest", 0xBF},   {"isin", 0x2208},
    {"iuml", 0xEF},      {"kappa", 0x3BA},    {"lArr", 0x21D0},   {"lambda", 0x3BB},
    {"lang", 0x2329},    {"laquo", 0xAB},     {"larr", 0x2190},   {"lceil", 0x2308},
    {"ldquo", 0x201C},   {"le", 0x2264},      {"lfloor", 0x230A}, {"lowast", 0x2217},
    {"loz", 0x25CA},     {"lrm", 0x200E},     {"lsaquo", 0x2039}, {"lsquo", 0x2018},
    {"lt", 0x3C},        {"macr", 0xAF},      {"mdash", 0x2014},  {"micro", 0xB5},
    {"middot", 0xB7},    {"minus", 0x2212},   {"mu", 0x3BC},      {"nabla", 0x2207},
    {"nbsp", 0xA0},      {"ndash", 0x2013},   {"ne", 0x2260},     {"ni", 0x220B},
    {"not", 0xAC},       {"notin", 0x2209},   {"nsub", 0x2284},   {"ntilde", 0xF1},
    {"nu", 0x3BD},       {"oacute", 0xF3},    {"ocirc", 0xF4},    {"oelig", 0x153},
    {"ograve", 0xF2},    {"oline", 0x203E},   {"omega", 0x3C9},   {"omicron", 0x3BF},
    {"oplus", 0x2295},   {"or", 0x2228},      {"ordf", 0xAA},     {"ordm", 0xBA},
    {"oslash", 0xF8},    {"otilde", 0xF5},    {"otimes", 0x2297}, {"ouml", 0xF6},
    {"para", 0xB6},      {"part", 0x2202},    {"permil", 0x2030}, {"perp", 0x22A5},
    {"phi", 0x3C6},      {"pi", 0x3C0},       {"piv", 0x3D6},     {"plusmn", 0xB1},
    {"pound", 0xA3},     {"prime", 0x2032},   {"prod", 0x220F},   {"prop", 0x221D},
    {"psi", 0x3C8},      {"quot", 0x22},      {"rArr", 0x21D2},   {"radic", 0x221A},
    {"rang", 0x232A},    {"raquo", 0xBB},     {"rarr", 0x2192},   {"rceil", 0x2309},
    {"rdquo", 0x201D},   {"real", 0x211C},    {"reg", 0xAE},      {"rfloor", 0x230B},
    {"rho", 0x3C1},      {"rlm", 0x200F},     {"rsaquo", 0x203A}, {"rsquo", 0x2019},
    {"sbquo", 0x201A},   {"scaron", 0x161},   {"sdot", 0x22C5},   {"sect", 0xA7},
    {"shy", 0xAD},       {"sigma", 0x3C3},    {"sigmaf", 0x3C2},  {"sim", 0x223C},
    {"spades", 0x2660},  {"sub", 0x2282},     {"sube", 0x2286},   {"sum", 0x2211},
    {"sup", 0x2283},     {"sup1", 0xB9},      {"sup2", 0xB2},     {"sup3", 0xB3},
    {"supe", 0x2287},    {"szlig", 0xDF},     {"tau", 0x3C4},     {"there4", 0x2234},
    {"theta", 0x3B8},    {"thetasym", 0x3D1}, {"thinsp", 0x2009}, {"thorn", 0xFE},
    {"tilde", 0x2DC},    {"times", 0xD7},     {"trade", 0x2122},  {"uArr", 0x21D1},
    {"uacute", 0xFA},    {"uarr", 0x2191},    {"ucirc", 0xFB},    {"ugrave", 0xF9},
    {"uml", 0xA8},       {"upsih", 0x3D2},    {"upsilon", 0x3C5}, {"uuml", 0xFC},
    {"weierp", 0x2118},  {"xi", 0x3BE},       {"yacute", 0xFD},   {"yen", 0xA5},
    {"yuml", 0xFF},      {"zeta", 0x3B6},     {"zwj", 0x200D},    {"zwnj", 0x200C},
};

// Byte-for-byte binary search, so `&AMP;` is not `&amp;` (Tornado's dict
// lookup is case-sensitive too). The table must stay sorted in byte order,
// capitals first, or lower_bound misses names.
std::optional<char32_t> named_entity(std::string_view name) {
    auto found = std::lower_bound(
        std::begin(kNamedEntities), std::end(kNamedEntities), name,
        [](const NamedEntity& entity, std::string_view wanted) { return entity.name < wanted; });
    if (found == std::end(kNamedEntities) || found->name != name) return std::nullopt;
    return found->code_point;
}

// Python's int(digits, base) for the digits of `&#...;`: ASCII digits of the
// base, single underscores between digits, and for base 16 an optional "0x"
// prefix (after which one underscore may come). Stops counting above
// U+10FFFF: Python's chr() refuses those.
std::optional<std::uint32_t> parse_python_int(std::string_view digits, int base) {
    bool prefixed = false;
    if (base == 16 && digits.size() >= 2 && digits[0] == '0' &&
        (digits[1] == 'x' || digits[1] == 'X')) {
        digits.remove_prefix(2);
        prefixed = true;
    }
    if (prefixed && !digits.empty() && digits[0] == '_') digits.remove_prefix(1);
    if (digits.empty()) return std::nullopt;

    std::uint32_t value = 0;
    bool previous_was_digit = false;
    for (char c : digits) {
        if (c == '_') {
            if (!previous_was_digit) return std::nullopt;
            previous_was_digit = false;
            continue;
        }
        int digit = base == 16 ? hex_value(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
        if (digit < 0) return std::nullopt;
        // Once past U+10FFFF the value is already refused: it stops growing, so
        // any number of digits is read without overflow.
        if (value <= 0x10FFFF)
            value = value * static_cast<std::uint32_t>(base) + static_cast<std::uint32_t>(digit);
        previous_was_digit = true;
    }
    if (!previous_was_digit) return std::nullopt;  // a trailing underscore
    return value;
}

// The text for one `&name;` match (`body` is what lies between & and ;), or
// nullopt to leave the match as written.
std::optional<char32_t> entity_code_point(std::string_view body) {
    if (body.empty() || body[0] != '#') return named_entity(body);
    std::string_view number = body.substr(1);
    std::optional<std::uint32_t> value;
    // Tornado lowers the first character before comparing it with "x".
    if (!number.empty() && (number[0] == 'x' || number[0] == 'X')) {
        value = parse_python_int(number.substr(1), 16);
    } else {
        value = parse_python_int(number, 10);
    }
    if (!value || *value > 0x10FFFF) return std::nullopt;
    // Python makes a lone surrogate, which no UTF-8 can hold.
    if (*value >= 0xD800 && *value <= 0xDFFF) return kReplacement;
    return static_cast<char32_t>(*value);
}

// A byte of Python's \w as far as xhtml_unescape can tell: any byte of a
// non-ASCII character counts. For `&name;` that is safe: no entity name
// holds one, so the text comes out as written either way. For `&#...;` it
// is not quite: Python's int() also reads non-ASCII decimal digits, so
// Tornado turns `&#\u0661\u0662\u0663;` (Arabic-Indic 123) into '{', where
// parse_python_int, ASCII only, leaves the reference as written.
bool is_entity_name_byte(char c) {
    auto byte = static_cast<unsigned char>(c);
    return is_ascii_alnum(byte) || c == '_' || byte >= 0x80;
}

// ---- JSON -------------------------------------------------------------------

constexpr int kMaxJSONDepth = 1000;  // about where Python's recursion limit stops json

// \uXXXX with lowercase hex digits, as Python writes them. `unit` is one
// UTF-16 unit: the caller splits a code point above U+FFFF into a pair.
void append_unicode_escape(std::string& out, char32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) {
        out += detail::kLowerHexDigits[(unit >> shift) & 0xF];
    }
}

// The bytes json.dumps writes as they are: printable ASCII but the quote,
// the backslash and '/', which is plain unless it follows '<' (see below).
// A table, built at compile time: one load per byte of every string.
constexpr std::array<bool, 256> make_plain_json_table() {
    std::array<bool, 256> table{};
    for (int c = 0x20; c < 0x7F; ++c) table[c] = c != '"' && c != '\\' && c != '/';
    return table;
}
constexpr std::array<bool, 256> kPlainJsonByte = make_plain_json_table();

// A JSON string as Python's json.dumps writes it (ensure_ascii), with "</"
// written as "<\/".
void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    // Tornado replaces "</" in json.dumps' output; here a '/' is escaped when
    // the code point before it is '<'. The two agree: outside strings, JSON
    // text has neither character, and inside one both are written as they are.
    char32_t previous = 0;
    for (std::size_t at = 0; at < text.size();) {
        // Most text is plain: a run of it goes out in one append. A byte
        // at a time, each decoded as UTF-8, cost several times as much
        // (a message's HTML in the chat's answers).
        std::size_t run_end = at;
        while (run_end < text.size()) {
            char c = text[run_end];
            if (!kPlainJsonByte[static_cast<unsigned char>(c)]) {
                bool after_less_than = run_end > at ? text[run_end - 1] == '<' : previous == '<';
                if (c != '/' || after_less_than) break;
            }
            ++run_end;
        }
        if (run_end > at) {
            out.append(text.substr(at, run_end - at));
            previous = static_cast<unsigned char>(text[run_end - 1]);
            at = run_end;
            continue;
        }
        Decoded decoded = decode_utf8(text, at);
        if (!decoded.valid) {
            throw std::invalid_argument("json_encode: string is not valid UTF-8 at byte " +
                                        std::to_string(at));
        }
        char32_t c = decoded.code_point;
        at += decoded.length;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '/': out += previous == '<' ? "\\/" : "/"; break;
            default:
                // ensure_ascii: printable ASCII as it is; control characters, DEL and all
                // of non-ASCII as \u escapes, and beyond the BMP as a surrogate pair
                // (U+1F600 is \ud83d\ude00).
                if (c >= 0x20 && c < 0x7F) {
                    out += static_cast<char>(c);
                } else if (c < 0x10000) {
                    append_unicode_escape(out, c);
                } else {
                    char32_t offset = c - 0x10000;
                    append_unicode_escape(out, 0xD800 + (offset >> 10));
                    append_unicode_escape(out, 0xDC00 + (offset & 0x3FF));
                }
        }
        previous = c;
    }
    out += '"';
}

template <typename Json>
// Python's json.dumps(value) with its default separators. A template, so
// that one writer serves JSON (keys sorted) and ordered_json (keys in the
// order they were added, like a Python dict). The depth limit stands in
// for Python's RecursionError: without it, a deep enough value would
// overflow the C++ stack in this recursion.
void append_json(std::string& out, const Json& value, int depth) {
    if (depth > kMaxJSONDepth) {
        throw std::invalid_argument("json_encode: nesting deeper than " +
                                    std::to_string(kMaxJSONDepth) + " levels");
    }
    using Type = nlohmann::json::value_t;
    switch (value.type()) {
        case Type::null: out += "null"; break;
        case Type::boolean: out += value.template get<bool>() ? "true" : "false"; break;
        case Type::number_integer: out += std::to_string(value.template get<std::int64_t>()); break;
        case Type::number_unsigned:
            out += std::to_string(value.template get<std::uint64_t>());
            break;
        case Type::number_float: {
            double number = value.template get<double>();
            // Python writes NaN and Infinity, which are not JSON.
            if (std::isfinite(number)) {
                // repr(): the shortest digits that read back (1.0, 1e-05, 1e+16).
                detail::append_python_float_repr(out, number);
            } else {
                out += "null";
            }
            break;
        }
        case Type::string:
            append_json_string(out, value.template get_ref<const std::string&>());
            break;
        case Type::array: {
            out += '[';
            bool first = true;
            for (const auto& item : value) {
                if (!first) out += ", ";
                first = false;
                append_json(out, item, depth + 1);
            }
            out += ']';
            break;
        }
        case Type::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, item] : value.items()) {
                if (!first) out += ", ";
                first = false;
                append_json_string(out, key);
                out += ": ";
                append_json(out, item, depth + 1);
            }
            out += '}';
            break;
        }
        case Type::binary:
        case Type::discarded:
            throw std::invalid_argument(
                "json_encode: a binary or discarded value has no JSON text");
    }
}

template <typename Json>
std::string encode_json(const Json& value) {
    std::string out;
    append_json(out, value, 0);
    return out;
}

// Refuses input nested deeper than kMaxJSONDepth before parsing it: the
// parser would manage, but every later walk over the value (json_encode,
// the user's own) is recursive.
void check_json_depth(std::string_view text) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t at = 0; at < text.size(); ++at) {
        char c = text[at];
        // Only brackets outside strings count. A backslash skips the character it
        // escapes, so \" does not end a string. Malformed text is left to the
        // parser, which reports it with a line and column.
        if (in_string) {
            if (c == '\\') {
                ++at;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJSONDepth) {
                throw JSONDecodeError("json_decode: nesting deeper than " +
                                          std::to_string(kMaxJSONDepth) + " levels at byte " +
                                          std::to_string(at),
                                      at);
            }
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

// ---- linkify ----------------------------------------------------------------

using detail::unicode_ctype;

// Python's \w on one code point: letters, digits, and '_'.
bool is_word(const Decoded& decoded) {
    char32_t c = decoded.code_point;
    if (c < 0x80) return is_ascii_alnum(static_cast<unsigned char>(c)) || c == '_';
    // A malformed sequence is no letter (Tornado's text cannot hold one).
    if (!decoded.valid) return false;
    locale_t locale = unicode_ctype();
    if (locale == static_cast<locale_t>(nullptr))
        return true;  // no tables: letters are the likely case
    return ::iswalnum_l(static_cast<wint_t>(c), locale) != 0;
}

// Where an address matched: text[begin, end). `protocol` is empty for a
// `www.` address; `slashes` counts the '/' after its ':'.
struct AddressMatch {
    std::size_t begin;
    std::size_t end;
    std::string_view protocol;
    std::size_t slashes;
};

// Finds addresses in HTML-escaped text exactly as Tornado's _URL_RE does:
//
//   \b( (?: ([\w-]+) : (/{1,3}) | www[.] )
//       (?: (?: (?:[^\s&()]|&amp;|&quot;)* (?:[^!"#$%&'()*+,.:;<=>?@\[\]^`{|}~\s]) )
//         | (?: \( (?:[^\s&()]|&amp;|&quot;)* \) ) )+ )
//
// Nothing follows the final `+`, so the regex engine's first success is the
// greedy one and no backtracking into earlier pieces ever happens; each piece
// is therefore found by one forward scan.
class AddressFinder {
public:
    explicit AddressFinder(std::string_view text) : text_(text) {}

    // The match of _URL_RE that starts at `at` (the caller has checked the \b),
    // or nothing. The two alternatives in the regex's order: a protocol such as
    // `http://` first, then `www.`.
    std::optional<AddressMatch> match_at(std::size_t at) {
        std::size_t name_end = word_or_dash_run_end(at);
        if (name_end > at && name_end < text_.size() && text_[name_end] == ':') {
            std::size_t after_colon = name_end + 1;
            std::size_t slashes = 0;
            while (slashes < 3 && after_colon + slashes < text_.size() &&
                   text_[after_colon + slashes] == '/') {
                ++slashes;
            }
            // /{1,3} is greedy: fewer slashes are tried when the rest fails.
            for (std::size_t count = slashes; count >= 1; --count) {
                if (auto end = match_body(after_colon + count)) {
                    return AddressMatch{at, *end, text_.substr(at, name_end - at), count};
                }
            }
        }
        if (text_.substr(at, 4) == "www.") {
            if (auto end = match_body(at + 4)) return AddressMatch{at, *end, {}, 0};
        }
        return std::nullopt;
    }

    Decoded at(std::size_t offset) const { return decode_utf8(text_, offset); }

    // Whether the code point before `offset` is a \w character.
    bool word_before(std::size_t offset) const {
        if (offset == 0) return false;
        std::size_t start = offset - 1;
        while (start > 0 && offset - start < 4 &&
               (static_cast<unsigned char>(text_[start]) & 0xC0) == 0x80) {
            --start;
        }
        Decoded decoded = decode_utf8(text_, start);
        if (start + decoded.length != offset) return false;  // a stray byte
        return is_word(decoded);
    }

private:
    // [\w-]+ from `at`. Every start inside one run ends where the run ends,
    // so the last run is remembered: a long run of words and dashes costs one
    // scan, not one per word boundary in it.
    std::size_t word_or_dash_run_end(std::size_t at) {
        if (at >= run_begin_ && at < run_end_) return run_end_;
        std::size_t end = at;
        while (end < text_.size()) {
            Decoded decoded = decode_utf8(text_, end);
            if (!is_word(decoded) && decoded.code_point != '-') break;
            end += decoded.length;
        }
        run_begin_ = at;
        run_end_ = end;
        return end;
    }

    // (?:[^\s&()]|&amp;|&quot;): the length of the unit at `offset`, with
    // whether it may also end a piece (a single character outside Tornado's
    // punctuation set); 0 when there is none.
    std::size_t unit_at(std::size_t offset, bool& can_end) const {
        can_end = false;
        if (offset >= text_.size()) return 0;
        std::string_view rest = text_.substr(offset);
        if (rest[0] == '&') {
            if (rest.starts_with("&amp;")) return 5;
            if (rest.starts_with("&quot;")) return 6;
            return 0;
        }
        Decoded decoded = decode_utf8(text_, offset);
        char32_t c = decoded.code_point;
        if (c == '(' || c == ')' || (decoded.valid && is_python_space(c))) return 0;
        static constexpr std::string_view kPunctuation = "!\"#$%&'()*+,.:;<=>?@[]^`{|}~";
        can_end = c >= 0x80 || kPunctuation.find(static_cast<char>(c)) == std::string_view::npos;
        return decoded.length;
    }

    // Units, then one that can end: the longest such run from `offset`.
    std::optional<std::size_t> plain_piece(std::size_t offset) const {
        std::optional<std::size_t> end;
        bool can_end = false;
        for (std::size_t length; (length = unit_at(offset, can_end)) > 0;) {
            offset += length;
            if (can_end) end = offset;
        }
        return end;
    }

    // '(' units ')'.
    std::optional<std::size_t> parenthesized_piece(std::size_t offset) const {
        if (offset >= text_.size() || text_[offset] != '(') return std::nullopt;
        ++offset;
        bool can_end = false;
        for (std::size_t length; (length = unit_at(offset, can_end)) > 0;) offset += length;
        if (offset < text_.size() && text_[offset] == ')') return offset + 1;
        return std::nullopt;
    }

    // The body, `(?: plain | parenthesized )+`: pieces are taken while one
    // matches, and the end of the last one ends the match (nothing when not even
    // one piece matches). A plain piece is tried first, as in the regex.
    std::optional<std::size_t> match_body(std::size_t offset) const {
        std::optional<std::size_t> end;
        while (true) {
            std::optional<std::size_t> piece = plain_piece(offset);
            if (!piece) piece = parenthesized_piece(offset);
            if (!piece) return end;
            offset = *piece;
            end = offset;
        }
    }

    std::string_view text_;
    // The last [\w-]+ run found: see word_or_dash_run_end.
    std::size_t run_begin_ = 0;
    std::size_t run_end_ = 0;
};

// Python's str.strip() into a std::string: Tornado strips extra_params so.
std::string strip_copy(std::string_view text) { return std::string(strip_python_space(text)); }

// Tornado's make_link(): the <a> tag for one match, or the text unchanged.
void append_link(std::string& out, std::string_view url_text, const AddressMatch& match,
                 const LinkifyOptions& options, const std::string& fixed_params) {
    // No link for an address without a protocol when one is required, nor for
    // a protocol that is not permitted: `javascript:alert(1)` stays text.
    std::string_view protocol = match.protocol;
    const auto& permitted = options.permitted_protocols;
    if ((options.require_protocol && protocol.empty()) ||
        (!protocol.empty() &&
         std::find(permitted.begin(), permitted.end(), protocol) == permitted.end())) {
        out += url_text;
        return;
    }
    // A `www.` address gets http://. A callable's extra params are stripped
    // and given their leading space for each link; fixed ones, once, by linkify.
    std::string href = protocol.empty() ? "http://" + std::string(url_text) : std::string(url_text);
    std::string params =
        options.extra_params_for ? " " + strip_copy(options.extra_params_for(href)) : fixed_params;

    // Long addresses are clipped for display. Lengths count code points, as
    // Python's len() does; 30 is Tornado's rough max_len.
    constexpr std::size_t kMaxLength = 30;
    std::string url(url_text);
    if (options.shorten && count_code_points(url) > kMaxLength) {
        std::string before_clip = url;
        std::size_t protocol_length = protocol.empty() ? 0 : protocol.size() + 1 + match.slashes;
        std::string_view rest = std::string_view(before_clip).substr(protocol_length);
        std::size_t slash = rest.find('/');
        if (slash != std::string_view::npos) {
            // The host and the first bit of the path, which shows that the
            // address was shortened.
            std::string_view host = rest.substr(0, slash);
            std::string_view second = rest.substr(slash + 1);
            second = second.substr(0, second.find('/'));
            second = first_code_points(second, 8);
            second = second.substr(0, second.find('?'));
            second = second.substr(0, second.find('.'));
            url = before_clip.substr(0, protocol_length) + std::string(host) + "/" +
                  std::string(second);
        }
        // Still too long (no path, or a long host): cut at 30 code points.
        if (count_code_points(url) > kMaxLength * 3 / 2)
            url = std::string(first_code_points(url, kMaxLength));
        if (url != before_clip) {
            std::size_t amp = url.rfind('&');
            // Do not cut an entity such as &amp; in half.
            if (amp != std::string::npos &&
                count_code_points(std::string_view(url).substr(0, amp)) > kMaxLength - 5) {
                url.resize(amp);
            }
            url += "...";
            // A "shortened" text no shorter than the whole address: show the address.
            if (count_code_points(url) >= count_code_points(before_clip)) {
                url = before_clip;
            } else {
                params += " title=\"" + href + "\"";  // the whole address on mouse-over
            }
        }
    }
    // href and the text are slices of the escaped text, so a quote in them is
    // &quot; already and cannot end the attribute. The extra params are written
    // as given: they are the caller's own HTML.
    out += "<a href=\"";
    out += href;
    out += '"';
    out += params;
    out += '>';
    out += url;
    out += "</a>";
}

}  // namespace

// ---- HTML -------------------------------------------------------------------

void append_xhtml_escape(std::string& out, std::string_view value) {
    // Most text (a name, a number) has nothing to escape: one append. Text
    // that has something keeps its plain start as it is.
    std::size_t first = first_to_escape(value);
    out.append(value.data(), first);
    if (first == value.size()) return;
    value.remove_prefix(first);
    // The rest is sized once, then written through a pointer: appending
    // each entity to the string checked its capacity every time (templates
    // escape every {{ }}, so this loop is hot). Each byte's eight bytes of
    // kXhtmlOutput are copied, so the string has seven to spare at its end
    // until the last is written. (A loop that branched on each byte ran a
    // quarter more instructions on the template benchmark's page, and
    // mispredicted at each '&' or '<'.)
    std::size_t start = out.size();
    std::size_t size = start + value.size() + xhtml_growth(value);
    out.resize(size + 7);
    char* next = out.data() + start;
    for (char c : value) {
        const XhtmlOutput& output = kXhtmlOutput[static_cast<unsigned char>(c)];
        std::memcpy(next, &output, 8);
        next += output.size;
    }
    out.resize(size);
}

std::string xhtml_escape(std::string_view value) {
    // Size the result first: one allocation, whatever the input (with the
    // seven bytes append_xhtml_escape() writes past the end and takes back).
    std::string out;
    out.reserve(value.size() + xhtml_growth(value) + 7);
    append_xhtml_escape(out, value);
    return out;
}

std::string xhtml_unescape(std::string_view value) {
    // Tornado: re.sub(r"&(#?)(\w+?);", _convert_entity, value).
    std::string out;
    out.reserve(value.size());
    std::size_t copied = 0;
    std::size_t at = value.find('&');
    while (at != std::string_view::npos) {
        // Each '&' starts a candidate: an optional '#', a run of \w, then ';'.
        // (\w+? is lazy, but \w never matches ';', so the run always goes on to
        // the first byte that is not \w.) When that byte is no ';', or the run is
        // empty, the scan goes on from the next '&', as re.sub's would.
        std::size_t name_begin = at + 1;
        if (name_begin < value.size() && value[name_begin] == '#') ++name_begin;
        std::size_t name_end = name_begin;
        while (name_end < value.size() && is_entity_name_byte(value[name_end])) ++name_end;
        if (name_end == name_begin || name_end >= value.size() || value[name_end] != ';') {
            at = value.find('&', at + 1);
            continue;
        }
        // The text since the last reference, then the reference's character, or
        // the reference as written when it names nothing.
        out.append(value, copied, at - copied);
        std::string_view body = value.substr(at + 1, name_end - at - 1);
        if (std::optional<char32_t> code_point = entity_code_point(body)) {
            append_utf8(out, *code_point);
        } else {
            out.append(value, at, name_end + 1 - at);
        }
        copied = name_end + 1;
        at = value.find('&', copied);
    }
    out.append(value, copied);
    return out;
}

// ---- URLs -------------------------------------------------------------------

// Python's quote_plus(s, safe="") with `plus`, else quote(s, safe="/"), on
// the bytes: RFC 3986's unreserved characters (letters, digits, _.-~) stay,
// every other byte becomes %XX in uppercase hex.
std::string url_escape(std::string_view value, bool plus) {
    auto keep = [plus](unsigned char byte) {
        return detail::is_unreserved(byte) || (byte == '/' && !plus);
    };
    std::string out;
    detail::append_percent_encoded(out, value, keep, plus);
    return out;
}

// Python's unquote_to_bytes, after Tornado's replace("+", " ") when `plus`
// is set. Each byte is looked at once, so %2B still gives a literal '+'.
std::string url_unescape_to_bytes(std::string_view value, bool plus) {
    std::string out;
    detail::append_percent_decoded(out, value, plus);
    return out;
}

// Python's unquote(encoding="utf-8", errors="replace") decodes each run of
// escapes on its own; decoding the whole result once gives the same U+FFFD
// for UTF-8 input: a literal non-ASCII character begins with a lead byte,
// which breaks off a pending sequence in both.
std::string url_unescape(std::string_view value, bool plus) {
    return replace_invalid_utf8(url_unescape_to_bytes(value, plus));
}

// ---- JSON -------------------------------------------------------------------

std::string json_encode(const JSON& value) { return encode_json(value); }

namespace detail {
// What the ordered_json overload in escape.h calls: the same writer.
std::string json_encode_ordered(const nlohmann::ordered_json& value) { return encode_json(value); }
}  // namespace detail

namespace {
// nlohmann's message without its tag: "[json.exception.parse_error.101]
// parse error at line 1, column 5: ..." -> "parse error at line 1, ...".
std::string json_error_message(const JSON::exception& error) {
    std::string_view message = error.what();
    if (std::size_t bracket = message.find("] ");
        message.starts_with("[") && bracket != std::string_view::npos) {
        message.remove_prefix(bracket + 2);
    }
    return std::string(message);
}
}  // namespace

JSON json_decode(std::string_view text) {
    // Depth first: a hostile body must not make json_encode, or the caller's own
    // recursive walk of the value, overflow the stack later.
    check_json_depth(text);
    // nlohmann's lexer takes a NUL for the end of the text, so "[1]\0junk"
    // would decode as [1]. A raw NUL is never JSON (inside a string it must
    // be written \u0000): refuse it where it is.
    if (std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
        throw JSONDecodeError("json_decode: a NUL byte at byte " + std::to_string(nul), nul);
    }
    try {
        return JSON::parse(text);
    } catch (const JSON::parse_error& error) {
        // nlohmann counts bytes from 1 (0: unknown); Python's JSONDecodeError.pos
        // counts from 0.
        std::size_t position = error.byte > 0 ? error.byte - 1 : 0;
        throw JSONDecodeError("json_decode: " + json_error_message(error), position);
    } catch (const JSON::exception& error) {
        // A number too large for a double (1e99999) is out_of_range, not a
        // parse error; still the text's fault (Python gives inf instead).
        throw JSONDecodeError("json_decode: " + json_error_message(error), 0);
    }
}

// ---- UTF-8 ------------------------------------------------------------------

bool is_valid_utf8(std::string_view bytes) {
    Utf8Validator validator;
    return validator.feed(bytes) && validator.complete();
}

// The state kept between calls is the sequence in progress: how many
// continuation bytes it still needs (pending_) and the range the next one
// must fall in (low_, high_). Only the first continuation byte has a
// narrowed range (lead_byte's). With the leads that begin nothing, that
// refuses overlong forms, surrogates and values above U+10FFFF at their
// first or second byte. So a WebSocket reader fails a text message at its
// first bad byte, even when the bytes arrive in fragments and a character
// is split between two.
bool Utf8Validator::feed(std::string_view bytes) noexcept {
    if (failed_) return false;
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        auto byte = static_cast<unsigned char>(bytes[at]);
        if (pending_ == 0) {
            // ASCII runs, the common case, eight bytes at a time.
            while (at + 8 <= bytes.size()) {
                std::uint64_t word;
                std::memcpy(&word, bytes.data() + at, 8);
                if ((word & 0x8080808080808080ULL) != 0) break;
                at += 8;
            }
            if (at == bytes.size()) break;
            byte = static_cast<unsigned char>(bytes[at]);
            if (byte < 0x80) continue;
            // A lead byte. A stray continuation byte, C0, C1 and F5-FF begin nothing.
            std::optional<LeadByte> sequence = lead_byte(byte);
            if (!sequence) return fail();
            pending_ = static_cast<std::uint8_t>(sequence->continuation_bytes);
            low_ = sequence->low;
            high_ = sequence->high;
        } else {
            if (byte < low_ || byte > high_) return fail();
            --pending_;
            low_ = 0x80;
            high_ = 0xBF;
        }
    }
    return true;
}

// Python's message up to its colon: the reason it adds ("invalid start
// byte") is left out, and a sequence cut off by the end of the input is
// named by its first byte ("byte 0xe2 in position 1"), where Python says
// "bytes in position 1-2". The position is the same.
std::string to_unicode(std::string_view bytes) {
    std::size_t bad = first_invalid_utf8(bytes);
    if (bad != std::string_view::npos) {
        std::string message = "'utf-8' codec can't decode byte 0x";
        detail::append_hex_byte(message, static_cast<unsigned char>(bytes[bad]));
        throw UnicodeDecodeError(message + " in position " + std::to_string(bad), bad);
    }
    return std::string(bytes);
}

// Valid input, nearly all of it, is one scan and one copy; after the first
// bad byte, the rest goes code point by code point.
std::string replace_invalid_utf8(std::string_view bytes) {
    std::size_t bad = first_invalid_utf8(bytes);
    if (bad == std::string_view::npos) return std::string(bytes);
    std::string out(bytes.substr(0, bad));
    for (std::size_t at = bad; at < bytes.size();) {
        Decoded decoded = decode_utf8(bytes, at);
        if (decoded.valid) {
            out.append(bytes, at, decoded.length);
        } else {
            append_utf8(out, kReplacement);
        }
        at += decoded.length;
    }
    return out;
}

// ---- Text -------------------------------------------------------------------

std::string squeeze(std::string_view value) {
    // Tornado: re.sub(r"[\x00-\x20]+", " ", value).strip()
    std::string squeezed;
    squeezed.reserve(value.size());
    bool in_run = false;
    for (char c : value) {
        if (static_cast<unsigned char>(c) <= 0x20) {
            in_run = true;
            continue;
        }
        if (in_run) squeezed += ' ';
        in_run = false;
        squeezed += c;
    }
    if (in_run) squeezed += ' ';
    // str.strip() knows spaces beyond ASCII (U+00A0, U+3000) that the byte runs
    // above do not: hence a second pass, on the ends only.
    return std::string(strip_python_space(squeezed));
}

std::string linkify(std::string_view text, const LinkifyOptions& options) {
    // First HTML-escape, so that everything is safe; the pattern then allows
    // no entity but &amp; and &quot; inside an address.
    std::string escaped = xhtml_escape(text);
    std::string fixed_params;
    if (!options.extra_params.empty()) fixed_params = " " + strip_copy(options.extra_params);

    AddressFinder finder(escaped);
    std::string out;
    out.reserve(escaped.size());
    std::size_t copied = 0;
    // re.sub's scan: at each \b (a change between \w and non-\w code points,
    // the start of the text counting as non-\w), try to match; after a match
    // the scan resumes at its end, else one code point further on.
    bool previous_is_word = false;
    for (std::size_t at = 0; at < escaped.size();) {
        Decoded decoded = finder.at(at);
        bool word = is_word(decoded);
        if (word != previous_is_word) {  // \b
            if (std::optional<AddressMatch> match = finder.match_at(at)) {
                out.append(escaped, copied, at - copied);
                std::string_view url =
                    std::string_view(escaped).substr(match->begin, match->end - match->begin);
                append_link(out, url, *match, options, fixed_params);
                copied = at = match->end;
                // The next \b is judged against the match's last code point.
                previous_is_word = finder.word_before(at);
                continue;
            }
        }
        previous_is_word = word;
        at += decoded.length;
    }
    out.append(escaped, copied);
    return out;
}

}  // namespace tornado
