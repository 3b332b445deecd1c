// fuzz_codecs.cpp: a libFuzzer target for the text codecs a request goes
// through: URL escaping (tornado/escape.h), query strings, cookies and
// multipart bodies (tornado/httputil.h), and UTF-8 decoding.
//
//   make fuzz FUZZ_TARGETS=fuzz_codecs FUZZ_SECONDS=60          (clang, libFuzzer)
//   build/bin/fuzz_codecs_replay tests/final/fuzz_corpus/codecs   (any compiler)
//
// The input is used twice. Whole, as raw bytes, for what must hold of any
// text: url_unescape_to_bytes(url_escape(x)) == x (both `plus` settings);
// url_unescape gives valid UTF-8; xhtml_unescape undoes xhtml_escape;
// to_unicode returns x or throws UnicodeDecodeError at the first bad byte;
// replace_invalid_utf8 and Utf8Validator agree with is_valid_utf8;
// json_decode throws JSONDecodeError or returns a value that json_encode
// writes back to the same value; parse_cookie, parse_header_value and the
// multipart parser take anything (the parser throwing HTTPInputError only).
//
// And cut into pieces (a length byte, then that many bytes: cut_into_pieces),
// from which requests are built and read back:
//
// * a query of escaped names and values: parse_qs_bytes and parse_qsl give
//   them back, blank values dropped unless keep_blank_values (Tornado's
//   rule); url_concat writes exactly the same query;
// * a Cookie header of token names and cookie values, plain or quoted (with
//   octal escapes, which decode to the code point as UTF-8): parse_cookie
//   gives them back, a repeated name keeping its last value in its first
//   place;
// * a multipart/form-data body of named parts, with and without filenames,
//   whose boundary occurs in none of them: parse_body_arguments gives every
//   field and file back, in order.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/escape.h"
#include "tornado/httputil.h"

namespace {

void check(bool condition) {
    if (!condition) std::abort();  // libFuzzer keeps the input that got here
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// What Python's strip() removes, as parse_cookie does.
bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Cuts the input into pieces: a length byte, then that many bytes (fewer at
// the end). libFuzzer's FuzzedDataProvider would do it, but its header comes
// with clang only, and the _replay build may be g++'s.
std::vector<std::string_view> cut_into_pieces(std::string_view data) {
    std::vector<std::string_view> pieces;
    while (!data.empty()) {
        std::size_t length =
            std::min<std::size_t>(static_cast<unsigned char>(data[0]), data.size() - 1);
        pieces.push_back(data.substr(1, length));
        data.remove_prefix(1 + length);
    }
    return pieces;
}

// `bytes` with each byte replaced by the character of `alphabet` it picks:
// the fuzzer's bytes, made into a name or value of a given kind.
std::string spelled_in(std::string_view bytes, std::string_view alphabet) {
    std::string out;
    for (char c : bytes) out += alphabet[static_cast<unsigned char>(c) % alphabet.size()];
    return out;
}

// --- raw bytes ------------------------------------------------------------------------------

void check_url_escaping(std::string_view raw) {
    for (bool plus : {true, false}) {
        std::string escaped = tornado::url_escape(raw, plus);
        for (char c : escaped) {
            bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') ||
                           std::string_view("_.-~%").find(c) != std::string_view::npos ||
                           (plus ? c == '+' : c == '/');
            check(allowed);
        }
        check(tornado::url_unescape_to_bytes(escaped, plus) == raw);
        check(tornado::url_unescape(escaped, plus) == tornado::replace_invalid_utf8(raw));
        // Any text decodes, to valid UTF-8.
        check(tornado::is_valid_utf8(tornado::url_unescape(raw, plus)));
    }
    check(tornado::xhtml_unescape(tornado::xhtml_escape(raw)) == raw);
}

// Feeds the bytes to a Utf8Validator in pieces cut where the bytes say, so
// that characters split between pieces are tried.
bool valid_in_pieces(std::string_view raw) {
    tornado::Utf8Validator validator;
    std::string_view rest = raw;
    while (!rest.empty()) {
        std::size_t cut =
            std::min<std::size_t>(static_cast<unsigned char>(rest[0]) % 5 + 1, rest.size());
        bool fed = validator.feed(rest.substr(0, cut));
        check(fed == !validator.failed());
        rest.remove_prefix(cut);
    }
    return validator.complete();
}

void check_utf8(std::string_view raw) {
    bool valid = tornado::is_valid_utf8(raw);
    try {
        check(tornado::to_unicode(raw) == raw);
        check(valid);
    } catch (const tornado::UnicodeDecodeError& error) {
        check(!valid);
        check(error.position() < raw.size());
        check(tornado::is_valid_utf8(raw.substr(0, error.position())));
    }
    std::string replaced = tornado::replace_invalid_utf8(raw);
    check(tornado::is_valid_utf8(replaced));
    check((replaced == raw) == valid);
    check(tornado::replace_invalid_utf8(replaced) == replaced);
    check(valid_in_pieces(raw) == valid);
    try {
        tornado::JSON value = tornado::json_decode(raw);
        check(raw.find('\0') == std::string_view::npos);  // a NUL is never JSON
        check(valid);  // invalid UTF-8 is a JSONDecodeError
        // No infinity comes out ("1e999" is refused), so the value survives
        // json_encode, which would write one as null.
        check(tornado::json_decode(tornado::json_encode(value)) == value);
    } catch (const tornado::JSONDecodeError&) {
        // "1e999" included: a number beyond a double's range is one too.
    }
}

void check_parsers_take_anything(std::string_view raw) {
    // Names are stripped (values are not checked: '""' unquotes to nothing).
    for (const auto& [name, value] : tornado::parse_cookie(raw)) {
        check(name.empty() || (!is_ascii_space(name.front()) && !is_ascii_space(name.back())));
    }
    (void)tornado::parse_header_value(raw);
    tornado::ArgumentMap arguments;
    tornado::FileMap files;
    try {
        tornado::parse_multipart_form_data("xYz", raw, arguments, files);
    } catch (const tornado::HTTPInputError&) {}
}

// --- query strings ----------------------------------------------------------------------------

// The query as a browser's form sends it.
std::string build_query(const Pairs& pairs, bool plus) {
    std::string query;
    for (const auto& [name, value] : pairs) {
        if (!query.empty()) query += '&';
        query += tornado::url_escape(name, plus) + "=" + tornado::url_escape(value, plus);
    }
    return query;
}

tornado::ArgumentMap as_arguments(const Pairs& pairs) {
    tornado::ArgumentMap arguments;
    for (const auto& [name, value] : pairs) arguments[name].push_back(value);
    return arguments;
}

void check_query(const Pairs& pairs, bool plus) {
    std::string query = build_query(pairs, plus);
    Pairs without_blanks;
    for (const auto& pair : pairs) {
        if (!pair.second.empty()) without_blanks.push_back(pair);
    }
    check(tornado::parse_qsl(query, true) == pairs);
    check(tornado::parse_qsl(query, false) == without_blanks);
    check(tornado::parse_qs_bytes(query, true) == as_arguments(pairs));
    check(tornado::parse_qs_bytes(query, false) == as_arguments(without_blanks));
    // url_concat escapes as url_escape does with plus (quote_plus).
    std::string url = tornado::url_concat("http://h/p", pairs);
    check(url == (pairs.empty() ? "http://h/p" : "http://h/p?" + build_query(pairs, true)));
    tornado::ArgumentMap form;
    tornado::FileMap files;
    tornado::parse_body_arguments("application/x-www-form-urlencoded", query, form, files);
    check(form == as_arguments(pairs) && files.empty());
}

// --- cookies ----------------------------------------------------------------------------------

constexpr std::string_view kTokenChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
// RFC 6265's cookie-octet: no space, '"', ',', ';' or '\\'.
constexpr std::string_view kCookieOctets =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()*+-./:<=>?@[]^_`{|}~";

// A value in double quotes, every byte that is not printable ASCII (and
// '"', '\\', ';') as a \NNN octal escape. Sets `decoded` to what
// parse_cookie gives back: the escapes' code points, as UTF-8.
std::string quoted_cookie_value(std::string_view value, std::string& decoded) {
    std::string out = "\"";
    for (char c : value) {
        auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\' && c != ';') {
            out += c;
            decoded += c;
            continue;
        }
        out += '\\';
        out += static_cast<char>('0' + (byte >> 6));
        out += static_cast<char>('0' + ((byte >> 3) & 7));
        out += static_cast<char>('0' + (byte & 7));
        if (byte < 0x80) {
            decoded += c;
        } else {  // U+0080 to U+00FF in UTF-8
            decoded += static_cast<char>(0xC0 | (byte >> 6));
            decoded += static_cast<char>(0x80 | (byte & 0x3F));
        }
    }
    return out + "\"";
}

void check_cookies(const Pairs& pairs, bool quoted) {
    std::string header;
    tornado::CookieMap expected;
    for (const auto& [raw_name, raw_value] : pairs) {
        std::string name = raw_name.empty() ? "n" : spelled_in(raw_name, kTokenChars);
        std::string value;
        std::string written;
        if (quoted) {
            written = quoted_cookie_value(raw_value, value);
        } else {
            value = written = spelled_in(raw_value, kCookieOctets);
        }
        if (!header.empty()) header += "; ";
        header += name + "=" + written;
        expected[name] = value;  // a repeated name: the last value, in the first place
    }
    check(tornado::parse_cookie(header) == expected);
}

// --- multipart bodies -------------------------------------------------------------------------

// RFC 2046's bchars, without the space (a boundary ending in one is stripped).
constexpr std::string_view kBoundaryChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=?";

struct Part {
    std::string name;
    std::string filename;      // empty: a field, not a file
    std::string content_type;  // empty: none sent
    std::string value;
};

// Bytes a header value may hold: no control character but tab, no DEL.
std::string without_controls(std::string_view bytes) {
    std::string out;
    for (char c : bytes) {
        auto byte = static_cast<unsigned char>(c);
        if ((byte >= 0x20 && byte != 0x7f) || c == '\t') out += c;
    }
    return out;
}

// A quoted-string for a Content-Disposition parameter: '"' and '\\' escaped.
std::string quoted_parameter(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string build_multipart(const std::vector<Part>& parts, const std::string& boundary) {
    std::string body;
    for (const Part& part : parts) {
        body += "--" + boundary + "\r\n";
        body += "Content-Disposition: form-data; name=" + quoted_parameter(part.name);
        if (!part.filename.empty()) body += "; filename=" + quoted_parameter(part.filename);
        body += "\r\n";
        if (!part.content_type.empty()) body += "Content-Type: " + part.content_type + "\r\n";
        body += "\r\n" + part.value + "\r\n";
    }
    return body + "--" + boundary + "--\r\n";
}

// Four pieces a part: name, value, filename, content type.
std::vector<Part> parts_from(const std::vector<std::string_view>& pieces) {
    std::vector<Part> parts;
    for (std::size_t i = 0; i + 3 < pieces.size(); i += 4) {
        Part part;
        part.name = without_controls(pieces[i]);
        if (part.name.empty()) part.name = "n";  // a part must have a name
        part.value = std::string(pieces[i + 1]);
        part.filename = without_controls(pieces[i + 2]);
        part.content_type = spelled_in(pieces[i + 3], kTokenChars);
        parts.push_back(std::move(part));
    }
    return parts;
}

bool boundary_inside(const std::vector<Part>& parts, const std::string& boundary) {
    return std::any_of(parts.begin(), parts.end(), [&](const Part& part) {
        for (const std::string* text :
             {&part.name, &part.filename, &part.content_type, &part.value}) {
            if (text->find(boundary) != std::string::npos) return true;
        }
        return false;
    });
}

void check_multipart(const std::vector<Part>& parts, const std::string& boundary,
                     bool quote_boundary) {
    if (parts.empty() || boundary_inside(parts, boundary)) return;
    tornado::ArgumentMap expected_arguments;
    tornado::FileMap expected_files;
    for (const Part& part : parts) {
        if (part.filename.empty()) {
            expected_arguments[part.name].push_back(part.value);
        } else {
            std::string type =
                part.content_type.empty() ? "application/unknown" : part.content_type;
            expected_files[part.name].push_back({part.filename, type, part.value});
        }
    }
    std::string content_type =
        "multipart/form-data; boundary=" + (quote_boundary ? "\"" + boundary + "\"" : boundary);
    tornado::ArgumentMap arguments;
    tornado::FileMap files;
    tornado::parse_body_arguments(content_type, build_multipart(parts, boundary), arguments, files);
    check(arguments == expected_arguments);
    check(files == expected_files);
}

// Any content type and body: parse_body_arguments throws HTTPInputError or nothing.
void check_body_arguments(std::string_view content_type, std::string_view body) {
    tornado::ArgumentMap arguments;
    tornado::FileMap files;
    try {
        tornado::parse_body_arguments(content_type, body, arguments, files);
    } catch (const tornado::HTTPInputError&) {}
}

}  // namespace

// The first byte chooses the options; the next piece is the multipart
// boundary; the pieces after it, taken two by two, are the names and values
// of the query and the cookies, four by four the multipart parts.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    std::string_view raw(reinterpret_cast<const char*>(bytes), size);
    check_url_escaping(raw);
    check_utf8(raw);
    check_parsers_take_anything(raw);
    if (raw.empty()) return 0;

    unsigned options = static_cast<unsigned char>(raw[0]);
    std::vector<std::string_view> pieces = cut_into_pieces(raw.substr(1));
    if (pieces.empty()) return 0;
    std::string boundary = spelled_in(pieces[0].substr(0, 70), kBoundaryChars);
    if (boundary.empty()) boundary = "b";
    pieces.erase(pieces.begin());

    Pairs pairs;
    for (std::size_t i = 0; i + 1 < pieces.size(); i += 2)
        pairs.emplace_back(std::string(pieces[i]), std::string(pieces[i + 1]));
    check_query(pairs, (options & 1) != 0);
    check_cookies(pairs, (options & 2) != 0);
    check_multipart(parts_from(pieces), boundary, (options & 4) != 0);
    if (pieces.size() >= 2) check_body_arguments(pieces[0], pieces[1]);
    return 0;
}
