// httputil.h: the HTTP/1.1 request parser, as plain functions on strings.
//
// Nothing here touches a socket or the loop. The connection
// (http1connection.h) reads bytes from an IOStream and hands them to these
// functions; the tests hand them strings. Tornado's tornado.httputil.
//
//   GET /search?q=tornado+web HTTP/1.1\r\n   parse_request_line()
//   Host: example.com\r\n                    HTTPHeaders::parse()
//   Content-Length: 5\r\n                      (one header per line)
//   \r\n                                     the empty line ends the head
//   hello                                    body_framing(): how long is it?
//
//   q=tornado+web                            parse_query() -> {"q": ["tornado web"]}
//   5;ext=1\r\nhello\r\n0\r\n\r\n            parse_chunk_size() for each chunk
//
// The rules are RFC 9112's, and where Tornado 6.2 is lenient we are strict
// (see "Stricter than Tornado" in the chapter README): header names are
// tokens, Content-Length is digits only, chunk sizes are hex digits only,
// only the "chunked" Transfer-Encoding is understood, and a request with
// both Content-Length and Transfer-Encoding is refused (request smuggling).
//
// Every function that refuses its input throws HTTPInputError, which carries
// the status to answer with (400 most of the time) and a message that names
// the problem. The message goes into the error response's body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace course {

// The request cannot be accepted. status(): what to answer (400, 413, 505).
class HTTPInputError : public std::runtime_error {
public:
    HTTPInputError(int status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    int status() const { return status_; }

private:
    int status_;
};

// Header fields in the order they arrived. Names compare without regard to
// case ("content-length" is "Content-Length"), and a name may come several
// times (two Set-Cookie, two Accept lines): get_list() gives every value,
// get() gives them joined with commas, as RFC 9110 section 5.3 allows.
//
// A vector and a linear search, not a hash map: a request has a dozen
// headers or two, and a dozen string compares beat hashing every name.
class HTTPHeaders {
public:
    using Field = std::pair<std::string, std::string>;  // name as sent, value

    // Parses header lines, each ending in CRLF: "Host: a\r\nAccept: */*\r\n".
    // Throws HTTPInputError (400) for a line that is not "token: value".
    static HTTPHeaders parse(std::string_view lines);

    // Appends a field (another value if the name is already there).
    void add(std::string name, std::string value);
    // Replaces every value of `name` with this one.
    void set(std::string name, std::string value);
    void remove(std::string_view name);

    bool contains(std::string_view name) const;
    // Every value of `name`, in order; empty if there is none.
    std::vector<std::string> get_list(std::string_view name) const;
    // The values joined with "," (Tornado's headers[name]), or `fallback`.
    std::string get(std::string_view name, std::string_view fallback = "") const;

    std::size_t size() const { return fields_.size(); }
    std::vector<Field>::const_iterator begin() const { return fields_.begin(); }
    std::vector<Field>::const_iterator end() const { return fields_.end(); }

private:
    std::vector<Field> fields_;
};

// Checks one header line (no CRLF) and adds it to `headers`. HTTPHeaders::
// parse calls it for each line; the connection calls it for chunked trailers.
void parse_header_line(std::string_view line, HTTPHeaders& headers);

// True if `a` and `b` are equal ignoring ASCII case.
bool equals_ignoring_case(std::string_view a, std::string_view b);

// "METHOD SP request-target SP HTTP-version".
struct RequestLine {
    std::string method;   // "GET"
    std::string target;   // "/search?q=tornado" (Tornado's request.uri)
    std::string version;  // "HTTP/1.1"
};

// Throws HTTPInputError: 400 if malformed, 505 for a version other than 1.x.
RequestLine parse_request_line(std::string_view line);

// The whole request head: what read_until("\r\n\r\n") returned, blank
// lines before the request line already skipped.
struct RequestHead {
    RequestLine line;
    HTTPHeaders headers;
};
RequestHead parse_request_head(std::string_view head);

// Query string and form arguments: name -> values, in the order sent.
using QueryArguments = std::map<std::string, std::vector<std::string>>;

// Percent-decoding: "%41" is "A"; with plus_is_space, "+" is " " (forms and
// query strings; not paths). An invalid escape ("%zz") stays as it is.
std::string url_unescape(std::string_view text, bool plus_is_space = true);

// "a=1&b=&a=2&c" -> {"a": ["1", "2"], "b": [""], "c": [""]}.
QueryArguments parse_query(std::string_view query);

// How the request's body is delimited, decided from its headers alone.
struct BodyFraming {
    enum class Kind { None, Length, Chunked };
    Kind kind = Kind::None;
    std::uint64_t length = 0;  // Kind::Length: the byte count (may be huge:
                               // the caller checks it against its limit)
};
// Throws HTTPInputError (400) for anything ambiguous: both Content-Length
// and Transfer-Encoding, Content-Length values that differ or are not
// digits, a Transfer-Encoding other than "chunked", chunked in HTTP/1.0.
BodyFraming body_framing(const RequestLine& line, const HTTPHeaders& headers);

// The size in a chunk's size line, "1a;name=value\r\n" -> 26. Hex digits
// only; a chunk extension (";...") is ignored. Throws HTTPInputError (400).
std::uint64_t parse_chunk_size(std::string_view line);

// One chunk of a chunked response: "5\r\nhello\r\n". An empty chunk gives ""
// (the zero-size chunk would end the body: finish() writes that one).
std::string format_chunk(std::string_view data);

// Whether the connection stays open after this request's response:
// HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection:
// keep-alive".
bool should_keep_alive(const RequestLine& line, const HTTPHeaders& headers);

// "OK", "Not Found", ... ("Unknown" for a code we have no phrase for).
std::string_view reason_phrase(int status);

// An HTTP date (RFC 9110 section 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::time_t when);

}  // namespace course
