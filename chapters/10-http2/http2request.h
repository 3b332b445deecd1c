// http2request.h: from a decoded header block to chapter 05's
// HTTPServerRequest. Tornado's tornado_http2 does the same in its stream's
// headers_received.
//
//   :method GET                       request->method   "GET"
//   :scheme http                      (checked, not kept)
//   :authority example.com:8888       Host: example.com:8888
//   :path /search?q=a+b               uri, path "/search", query "q=a+b",
//                                     query_arguments {"q": ["a b"]}
//   accept: */*                       headers, as they came (lower case)
//
// HTTP/2 has no request line: its parts come as "pseudo-header" fields,
// whose names start with ':' and which come before every other field. The
// rules (RFC 9113 section 8.3.1 and 8.2) are checked here; a request that
// breaks one is malformed, which is a stream error PROTOCOL_ERROR: that
// request is refused, the connection goes on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hpack.h"
#include "http1connection.h"

namespace course::http2 {

// The request for `fields` (version "HTTP/2.0"). Throws StreamError
// (PROTOCOL_ERROR) naming the rule broken: an unknown, repeated, missing
// or late pseudo-header, an empty or relative :path, an upper-case or
// invalid field name, a connection-specific field, `te` other than
// "trailers", a value with CR, LF, NUL or surrounding white space, a
// content-length that is not a number, or sent twice with two values.
std::shared_ptr<HTTPServerRequest> make_request(const HeaderList& fields,
                                                const std::string& remote_address);

// The body length a request made by make_request declares, if it does. A
// number too large for 64 bits reads as the largest: over any body limit.
std::optional<std::uint64_t> declared_body_length(const HTTPHeaders& headers);

// Trailers (a HEADERS block that ends the body): the same field rules, and
// no pseudo-headers. They are checked, then dropped, as chapter 05 does.
void check_trailers(const HeaderList& fields);

}  // namespace course::http2
