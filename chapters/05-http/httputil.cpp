// httputil.cpp: see httputil.h. Each function checks one piece of the
// grammar of RFC 9112 and says what was wrong when it refuses.
#include "httputil.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

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

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

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
std::uint64_t content_length(const HTTPHeaders& headers) {
    std::optional<std::uint64_t> length;
    for (const std::string& value : headers.get_list("Content-Length")) {
        for (std::string_view item : split_list(value)) {
            std::uint64_t n = parse_digits(item);
            if (length && *length != n) {
                throw HTTPInputError(400, "conflicting Content-Length values: " +
                                              quoted(headers.get("Content-Length")));
            }
            length = n;
        }
    }
    return *length;
}

// True if a Connection header lists `option` ("close", "keep-alive").
bool connection_has(const HTTPHeaders& headers, std::string_view option) {
    for (const std::string& value : headers.get_list("Connection")) {
        for (std::string_view item : split_list(value)) {
            if (equals_ignoring_case(item, option)) return true;
        }
    }
    return false;
}

}  // namespace

// --- headers -------------------------------------------------------------------

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(),
                      [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
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
    std::vector<std::string> values;
    for (const auto& [field_name, value] : fields_) {
        if (equals_ignoring_case(field_name, name)) values.push_back(value);
    }
    return values;
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
    // A line that starts with whitespace continued the previous one in
    // HTTP/1.0 days ("obs-fold"). RFC 9112 lets a server refuse it, and
    // refusing is simpler and safer than guessing how a proxy joined it.
    if (!line.empty() && is_ows(line.front())) {
        throw HTTPInputError(400, "obsolete line folding in header line " + quoted(line));
    }
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        throw HTTPInputError(400, "header line without a colon: " + quoted(line));
    }
    // "Content-Length : 5" is refused here: a space is not a token
    // character. Some servers would ignore the header, others would trim
    // the name and obey it, and such disagreements are what smuggling
    // attacks are built on.
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) {
        throw HTTPInputError(400, "header name is not a token: " + quoted(name));
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), is_control)) {
        throw HTTPInputError(400, "control character in the value of header " + quoted(name));
    }
    headers.add(std::string(name), std::string(value));
}

HTTPHeaders HTTPHeaders::parse(std::string_view lines) {
    HTTPHeaders headers;
    std::size_t start = 0;
    while (start < lines.size()) {
        std::size_t end = lines.find("\r\n", start);
        if (end == std::string_view::npos) end = lines.size();
        std::string_view line = lines.substr(start, end - start);
        if (line.empty()) break;  // the empty line that ends the head
        parse_header_line(line, headers);
        start = end + 2;
    }
    return headers;
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
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+' && plus_is_space) {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

QueryArguments parse_query(std::string_view query) {
    QueryArguments arguments;
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = std::min(query.find('&', start), query.size());
        std::string_view field = query.substr(start, end - start);
        if (!field.empty()) {
            std::size_t equals = field.find('=');
            std::string name = url_unescape(field.substr(0, equals));
            std::string value =
                equals == std::string_view::npos ? "" : url_unescape(field.substr(equals + 1));
            arguments[name].push_back(std::move(value));
        }
        start = end + 1;
    }
    return arguments;
}

// --- the body -------------------------------------------------------------------------

BodyFraming body_framing(const RequestLine& line, const HTTPHeaders& headers) {
    bool has_length = headers.contains("Content-Length");
    bool has_encoding = headers.contains("Transfer-Encoding");
    if (has_length && has_encoding) {
        // RFC 9112 section 6.1 lets a server drop Content-Length here; we
        // refuse instead, since a proxy in front may have obeyed it.
        throw HTTPInputError(400, "both Content-Length and Transfer-Encoding: "
                                  "where the body ends is ambiguous (request smuggling?)");
    }
    if (has_encoding) {
        if (line.version == "HTTP/1.0") {
            throw HTTPInputError(400, "Transfer-Encoding in an HTTP/1.0 request");
        }
        // Only "chunked" alone: "gzip, chunked" would need a decoder we do
        // not have, and "chunked, chunked" or "identity" are tricks.
        // (`value` must outlive the views split_list returns into it.)
        std::string value = headers.get("Transfer-Encoding");
        std::vector<std::string_view> codings = split_list(value);
        if (codings.size() != 1 || !equals_ignoring_case(codings[0], "chunked")) {
            throw HTTPInputError(400, "unsupported Transfer-Encoding: " + quoted(value));
        }
        return {BodyFraming::Kind::Chunked, 0};
    }
    if (has_length) return {BodyFraming::Kind::Length, content_length(headers)};
    return {};  // a request without either has no body (RFC 9112 section 6.3)
}

std::uint64_t parse_chunk_size(std::string_view line) {
    if (line.ends_with("\r\n")) line.remove_suffix(2);
    std::size_t digits = 0;
    std::uint64_t size = 0;
    for (; digits < line.size() && hex_value(line[digits]) >= 0; ++digits) {
        if (size > (kMaxUint64 >> 4)) {
            throw HTTPInputError(400, "chunk size too large: " + quoted(line));
        }
        size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
    }
    // After the digits: nothing, or a chunk extension (";name=value"),
    // which we ignore, after optional whitespace.
    std::string_view rest = line.substr(digits);
    bool valid = digits > 0 && (rest.empty() || trim_ows(rest).starts_with(';')) &&
                 std::none_of(rest.begin(), rest.end(), is_control);
    if (!valid) throw HTTPInputError(400, "bad chunk size line: " + quoted(line));
    return size;
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
    if (connection_has(headers, "close")) return false;
    if (line.version == "HTTP/1.1") return true;
    return connection_has(headers, "keep-alive");  // HTTP/1.0 must ask
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
