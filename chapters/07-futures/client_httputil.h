// client_httputil.h: the client's half of HTTP/1.1, as plain functions on
// strings (chapter 05's httputil.h is the server's half, and the header
// and chunk-size parsers of that file are reused here, not written twice).
//
//   http://127.0.0.1:8888/search?q=1         parse_url()
//   GET /search?q=1 HTTP/1.1\r\n ...          format_request()
//   HTTP/1.1 200 OK\r\n                      parse_response_line()
//   Content-Type: text/plain\r\n             HTTPHeaders::parse() (chapter 05)
//   \r\n
//   body                                     response_framing(): how long?
//
// Functions that refuse a response throw HTTPInputError (chapter 05's
// exception) whose status() is 502, what a proxy answers when the server
// behind it sends nonsense; so does what chapter 05's parsers refuse when
// they read a response for us (they say 400, which blames the request).
// A URL we cannot fetch throws std::invalid_argument.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "httputil.h"

namespace course {

// What a URL says to a client that only speaks http:// to IPv4 literals
// and "localhost": where to connect and what to ask for.
struct URL {
    std::string host;        // "127.0.0.1"
    std::uint16_t port = 80;
    std::string target;      // "/search?q=1" ("/" if the URL has no path)
};
URL parse_url(std::string_view url);

// The request bytes: request line, Host, Connection: close (this client
// uses one connection per request), Content-Length if there is a body or
// the method usually has one, then `headers` (which replace ours of the
// same name), the empty line, the body.
std::string format_request(std::string_view method, const URL& url, const HTTPHeaders& headers,
                           std::string_view body);

// "HTTP-version SP status-code SP [reason-phrase]": "HTTP/1.1 404 Not Found".
struct ResponseLine {
    std::string version;  // "HTTP/1.1"
    int code = 0;         // 404
    std::string reason;   // "Not Found" (may be empty)
};
ResponseLine parse_response_line(std::string_view line);

// What read_until("\r\n\r\n") returned: the status line and the headers.
struct ResponseHead {
    ResponseLine line;
    HTTPHeaders headers;
};
ResponseHead parse_response_head(std::string_view head);

// How the response body is delimited (RFC 9112 section 6.3).
struct ResponseFraming {
    enum class Kind {
        None,        // no body: a HEAD request, or a 1xx, 204, 304 response
        Length,      // Content-Length bytes
        Chunked,     // Transfer-Encoding: chunked
        UntilClose,  // neither header: the body ends when the server closes
    };
    Kind kind = Kind::None;
    std::uint64_t length = 0;  // Kind::Length
};
ResponseFraming response_framing(std::string_view request_method, const ResponseHead& head);

}  // namespace course
