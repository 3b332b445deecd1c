// message_body.h (inside final/src/http, not installed): which responses
// carry a body. One rule for the server's writer (http1connection.cpp),
// the client's reader (httpclient.cpp) and RequestHandler (web.cpp).
#pragma once

namespace tornado::detail {

// 1xx, 204 and 304 responses end with their head, whatever their fields
// say (RFC 9112 section 6.3, rule 1; a 304's fields describe what a GET
// would have got). A response to HEAD has no body either: the callers that
// know the method check it.
constexpr bool status_has_body(int code) noexcept {
    bool informational = code >= 100 && code < 200;
    return !informational && code != 204 && code != 304;
}

}  // namespace tornado::detail
