// httputil.cpp (exercise): the chapter's parser with the key functions cut
// out; each is marked TODO(task N). See README.md beside this file, and
// httputil.h for what each function promises.
//
// Each function checks one piece of the grammar of RFC 9112 and says what
// was wrong when it refuses (throw HTTPInputError(400, "... " + quoted(x))).
// Helpers you may use: is_token, is_control, is_ows, is_digit, trim_ows,
// ascii_lower, hex_value, quoted, split_list, parse_digits.
#include "httputil.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>
#include <stdexcept>

namespace course {

namespace {

constexpr std::uint64_t kMaxUint64 = std::numeric_limits<std::uint64_t>::max();

// tchar (RFC 9110 section 5.6.2): what a method or a header name is made of.
// No spaces, no colons, no control characters.
bool is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

// Control characters (NUL, CR, LF, ...) and DEL. A header value may hold
// spaces and tabs and any byte from 0x80 up, never these.
bool is_control(char c) {
    auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Optional whitespace around a value is not part of it.
std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
    return text;
}

[[maybe_unused]]  // (used by code you write)
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

[[maybe_unused]]  // (used by code you write)
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The input, quoted for an error message: at most 60 bytes, and control
// bytes written as \xNN so that the message itself stays one clean line.
std::string quoted(std::string_view text) {
    std::string out = "'";
    for (char c : text.substr(0, 60)) {
        if (is_control(c) || c == '\t') {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + (text.size() > 60 ? "...'" : "'");
}

// "a, b ,c" -> {"a", "b", "c"}: the comma-separated list syntax of
// Connection, Content-Length and Transfer-Encoding values.
[[maybe_unused]]  // (used by code you write)
std::vector<std::string_view> split_list(std::string_view value) {
    std::vector<std::string_view> items;
    std::size_t start = 0;
    while (true) {
        std::size_t comma = value.find(',', start);
        items.push_back(trim_ows(value.substr(start, comma - start)));
        if (comma == std::string_view::npos) return items;
        start = comma + 1;
    }
}

// 1*DIGIT, as Content-Length must be: no sign, no spaces, no hex. A number
// too large for 64 bits saturates (the body limit refuses it anyway).
[[maybe_unused]]  // (used by code you write)
std::uint64_t parse_digits(std::string_view text) {
    if (text.empty() || !std::all_of(text.begin(), text.end(), is_digit)) {
        throw HTTPInputError(400, "Content-Length is not a number: " + quoted(text));
    }
    std::uint64_t value = 0;
    for (char c : text) {
        auto digit = static_cast<std::uint64_t>(c - '0');
        value = value > (kMaxUint64 - digit) / 10 ? kMaxUint64 : value * 10 + digit;
    }
    return value;
}

// Content-Length may come twice ("5" and "5", or "5, 5", after a proxy
// merged two copies). The same number twice is harmless; two different
// numbers mean two parties could disagree about where the body ends.
[[maybe_unused]]  // (used by code you write)
std::uint64_t content_length(const HTTPHeaders& headers) {
    // TODO(task 3): the one number that every Content-Length value gives
    // (called only when the header is there). It may come in several fields,
    // each maybe a list ("5, 5"): the same number again is fine, two different
    // numbers are HTTPInputError(400, "conflicting Content-Length values:
    // ..."); parse_digits() refuses what is not digits. No limit check here:
    // the connection answers 413 for a huge length.
    // Hint: make hint CH=05 TASK=3.
    (void)headers;
    throw std::logic_error("TODO(task 3): content_length");
}

// True if a Connection header lists `option` ("close", "keep-alive").
[[maybe_unused]]  // (used by code you write)
bool connection_has(const HTTPHeaders& headers, std::string_view option) {
    // TODO(task 4): true if an item of any Connection header (each a
    // comma-separated list: split_list) equals `option`, ignoring case; whole
    // items, not substrings ("closed" is not "close").
    // Hint: make hint CH=05 TASK=4.
    (void)headers;
    (void)option;
    throw std::logic_error("TODO(task 4): connection_has");
}

}  // namespace

// --- headers -------------------------------------------------------------------

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    // TODO(task 1): equal ignoring ASCII case, with ascii_lower (not
    // std::tolower: locales have no place in a protocol).
    // Hint: make hint CH=05 TASK=1.
    (void)a;
    (void)b;
    throw std::logic_error("TODO(task 1): equals_ignoring_case");
}

void HTTPHeaders::add(std::string name, std::string value) {
    fields_.emplace_back(std::move(name), std::move(value));
}

void HTTPHeaders::set(std::string name, std::string value) {
    remove(name);
    add(std::move(name), std::move(value));
}

void HTTPHeaders::remove(std::string_view name) {
    std::erase_if(fields_, [&](const Field& field) {
        return equals_ignoring_case(field.first, name);
    });
}

bool HTTPHeaders::contains(std::string_view name) const {
    return std::any_of(fields_.begin(), fields_.end(),
                       [&](const Field& field) { return equals_ignoring_case(field.first, name); });
}

std::vector<std::string> HTTPHeaders::get_list(std::string_view name) const {
    // TODO(task 1): the value of every field whose name equals `name`
    // ignoring case, in the order they arrived (fields_).
    (void)name;
    throw std::logic_error("TODO(task 1): HTTPHeaders::get_list");
}

std::string HTTPHeaders::get(std::string_view name, std::string_view fallback) const {
    std::vector<std::string> values = get_list(name);
    if (values.empty()) return std::string(fallback);
    std::string joined = values[0];
    for (std::size_t i = 1; i < values.size(); ++i) joined += "," + values[i];
    return joined;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5).
void parse_header_line(std::string_view line, HTTPHeaders& headers) {
    // TODO(task 1): check one line, "Name: value" (no CRLF), and add the field:
    // the name as sent, the value without the spaces and tabs around it.
    // Refuse with HTTPInputError(400, ...), a message that names the problem
    // (the text through quoted()), checked in this order:
    //   - a line starting with a space or tab (obsolete folding): "folding";
    //   - no colon: "header line without a colon";
    //   - a name that is not a token: "header name is not a token";
    //   - a control character in the trimmed value: "control character".
    (void)line;
    (void)headers;
    throw std::logic_error("TODO(task 1): parse_header_line");
}

HTTPHeaders HTTPHeaders::parse(std::string_view lines) {
    // TODO(task 1): the fields of a block of lines, each checked as
    // parse_header_line() does. The block ends at an empty line or at its end,
    // and its last line may lack its CRLF.
    (void)lines;
    throw std::logic_error("TODO(task 1): HTTPHeaders::parse");
}

// --- the request line ---------------------------------------------------------------

RequestLine parse_request_line(std::string_view line) {
    // Exactly two single spaces: "GET  / HTTP/1.1" or a tab is malformed.
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
        throw HTTPInputError(400, "malformed request line: " + quoted(line));
    }
    RequestLine result{std::string(line.substr(0, first)),
                       std::string(line.substr(first + 1, second - first - 1)),
                       std::string(line.substr(second + 1))};
    if (!is_token(result.method)) {
        throw HTTPInputError(400, "method is not a token: " + quoted(result.method));
    }
    auto bad_target_char = [](char c) { return c == ' ' || is_control(c); };
    if (result.target.empty() ||
        std::any_of(result.target.begin(), result.target.end(), bad_target_char)) {
        throw HTTPInputError(400, "malformed request target: " + quoted(result.target));
    }
    if (result.version == "HTTP/1.0" || result.version == "HTTP/1.1") return result;
    // "HTTP/2.0" is a version we do not speak (505); "HTTP/one" is garbage.
    const std::string& v = result.version;
    bool well_formed = v.size() == 8 && v.starts_with("HTTP/") && is_digit(v[5]) && v[6] == '.' &&
                       is_digit(v[7]);
    if (well_formed) {
        throw HTTPInputError(505, "HTTP version not supported: " + quoted(v));
    }
    throw HTTPInputError(400, "malformed HTTP version: " + quoted(v));
}

RequestHead parse_request_head(std::string_view head) {
    std::size_t line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
    RequestHead result;
    result.line = parse_request_line(line);
    result.headers = HTTPHeaders::parse(rest);
    return result;
}

// --- query strings ------------------------------------------------------------------

std::string url_unescape(std::string_view text, bool plus_is_space) {
    // TODO(task 2): `text` with each "%XY" (two hex digits) decoded into the
    // byte 0xXY, and each '+' into ' ' when plus_is_space. A '%' not followed
    // by two hex digits stays as it is. Hint: make hint CH=05 TASK=2.
    (void)text;
    (void)plus_is_space;
    throw std::logic_error("TODO(task 2): url_unescape");
}

QueryArguments parse_query(std::string_view query) {
    // TODO(task 2): "a=1&b=&a=2" -> {"a": ["1", "2"], "b": [""]}: values in
    // the order sent; empty fields skipped; only a field's first '=' splits
    // it (no '=': the value is ""). Fields are cut on the raw text, and only
    // then are name and value decoded, '+' as a space ("a=%26b" is one field).
    (void)query;
    throw std::logic_error("TODO(task 2): parse_query");
}

// --- the body -------------------------------------------------------------------------

BodyFraming body_framing(const RequestLine& line, const HTTPHeaders& headers) {
    // TODO(task 3): how this request's body ends: Kind::None (neither header),
    // Kind::Length (content_length()), or Kind::Chunked. Refusals, each an
    // HTTPInputError(400) whose message names the case, in this priority:
    //   - both headers (request smuggling): "both Content-Length and
    //     Transfer-Encoding";
    //   - Transfer-Encoding in an HTTP/1.0 request: "HTTP/1.0";
    //   - Transfer-Encoding other than the one coding "chunked" (any case):
    //     "unsupported Transfer-Encoding: ...".
    (void)line;
    (void)headers;
    throw std::logic_error("TODO(task 3): body_framing");
}

std::uint64_t parse_chunk_size(std::string_view line) {
    // TODO(task 5): the size on a chunk size line (a final CRLF allowed): one
    // or more hex digits, then nothing, or optional spaces/tabs and ';' (an
    // extension, ignored). Anything else, a control character anywhere after
    // the digits, or a size that does not fit in 64 bits: HTTPInputError(400)
    // whose message contains "chunk size". Hint: make hint CH=05 TASK=5.
    (void)line;
    throw std::logic_error("TODO(task 5): parse_chunk_size");
}

std::string format_chunk(std::string_view data) {
    if (data.empty()) return "";
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    std::string chunk = size;
    chunk.append(data);
    chunk += "\r\n";
    return chunk;
}

bool should_keep_alive(const RequestLine& line, const HTTPHeaders& headers) {
    // TODO(task 4): the contract in httputil.h: "Connection: close" closes;
    // otherwise HTTP/1.1 stays open, HTTP/1.0 only with "Connection:
    // keep-alive".
    (void)line;
    (void)headers;
    throw std::logic_error("TODO(task 4): should_keep_alive");
}

// --- responses -------------------------------------------------------------------------

std::string_view reason_phrase(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a Teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

std::string format_http_date(std::time_t when) {
    // strftime's %a and %b follow the locale; HTTP wants English names.
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm utc{};
    ::gmtime_r(&when, &utc);
    char text[40];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[utc.tm_wday],
                  utc.tm_mday, kMonths[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                  utc.tm_sec);
    return text;
}

}  // namespace course
