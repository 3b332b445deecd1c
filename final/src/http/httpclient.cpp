// httpclient.cpp: see tornado/httpclient.h for the contract. Tornado's
// SimpleAsyncHTTPClient and its _HTTPConnection, with one coroutine per
// fetch where Tornado has a connection object driven by callbacks.
//
// One fetch is a PendingFetch (its request, the Future handed out, its
// timers and its current connection) and one coroutine, run_fetch, that
// goes through the hops of the fetch (the request, then each redirect):
//
//   fetch() ── validate ──► queue ──► start: deadline timer ──► run_fetch
//                             │                                   │ fetch_once: connect, write,
//                             └─ "Timeout in request queue"       │ read the head (1xx skipped),
//                                                                 │ read the body ... redirect?
//   settle(): the one place a fetch ends ◄────────────────────────┘
//     (a response, an error, the deadline, close(), a cancelled Future):
//     timers off, connection closed, Future resolved, slot given to the
//     next fetch in the queue.
//
// The steps of one fetch, and where each is taken:
//
//   queue     submit(): validate_request(), then start() at once or a place in `queue`
//   connect   connect_hop: TCPClient, within connect_timeout and the
//             deadline; a CONNECT tunnel for https through a proxy
//   write     send_request: head and body in one write, not awaited; a body
//             from body_producer is awaited (send_body)
//   head      read_final_head: read_until_empty_line within
//             max_header_size, then parse_head; 1xx skipped and the next
//             head read (101 ends it for fetch_upgrade; 100 sends the body
//             held back for expect_100_continue)
//   body      read_body: chunked (chunked_body.h, the server's reader too),
//             Content-Length, or until close; into a BodySink (gzip, limit)
//   redirect  3xx with a Location (follows()): no body; run_fetch connects
//             again with redirected(), or else hands the response to settle()
//
// fetch_once is one hop: connect, write, head, body, in that order.
//
// A failure anywhere is an exception: run_fetch catches it, and
// as_client_error makes it an HTTPClientError, code 599. An answer outside
// 2xx is not an exception: deliver() gives it an error with its own code.
//
// The coroutine may outlive settle() (the deadline fired while it waited):
// it then finds its stream closed, fails, and its late outcome is dropped.
#include "tornado/httpclient.h"

#include <sys/socket.h>

#include <algorithm>
#include <deque>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include "core/text.h"
#include "http/base64.h"
#include "http/chunked_body.h"
#include "http/message_body.h"
#include "tornado/gen.h"
#include "tornado/iostream.h"
#include "tornado/tcpclient.h"

namespace tornado {

// --- errors --------------------------------------------------------------------------------

namespace {

std::string message_or_phrase(int code, std::string message) {
    if (message.empty()) message = std::string(reason_phrase(code));
    return message;
}

}  // namespace

// what() is "HTTP 404: Not Found", as Tornado's HTTPClientError prints: for
// a non-2xx answer (message: its reason) and most 599s (as_client_error).
HTTPClientError::HTTPClientError(int code, std::string message,
                                 std::shared_ptr<const HTTPResponse> response,
                                 std::exception_ptr cause)
    : std::runtime_error("HTTP " + std::to_string(code) + ": " + message_or_phrase(code, message)),
      code_(code),
      message_(message_or_phrase(code, std::move(message))),
      response_(std::move(response)),
      cause_(std::move(cause)) {}

// For the two subclasses, which Tornado prints as their message alone
// ("Timeout during request"), without "HTTP 599: " in front.
HTTPClientError::HTTPClientError(MessageOnly, int code, std::string message,
                                 std::exception_ptr cause)
    : std::runtime_error(message),
      code_(code),
      message_(std::move(message)),
      cause_(std::move(cause)) {}

HTTPTimeoutError::HTTPTimeoutError(std::string message)
    : HTTPClientError(MessageOnly{}, 599, std::move(message), nullptr) {}

HTTPStreamClosedError::HTTPStreamClosedError(std::string message, std::exception_ptr cause)
    : HTTPClientError(MessageOnly{}, 599, std::move(message), std::move(cause)) {}

// --- URLs and the request ---------------------------------------------------------------------

namespace {

// Partial reads: each piece goes to the body or the streaming_callback as
// soon as it arrives, and no read asks for the whole body at once.
constexpr std::size_t kReadPiece = 64 * 1024;  // most body bytes read (and streamed) at once

struct URL {
    bool secure = false;  // https
    std::string host;     // "127.0.0.1", "::1" (no brackets)
    std::uint16_t port = 80;
    std::string authority;  // as written: "127.0.0.1:8888", "[::1]:8888"; the Host header
    std::string target;     // "/search?q=1"
    // From "user:password@" before the host, as written (Python's
    // urlsplit does not percent-decode them either).
    std::optional<std::string> username;
    std::string password;
};

// The target goes into the request line as written: a space, CR or LF in
// it would end the line early or inject header lines (request splitting).
bool has_space_or_control(std::string_view text) {
    return std::any_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

// Like every refused request: the Future fails with 599 and this message.
[[noreturn]] void bad_url(std::string_view url, std::string_view why) {
    throw std::invalid_argument("Bad URL '" + std::string(url) + "': " + std::string(why));
}

// Digits only, 1 to 65535. The `value > 65535` test inside the loop stops
// a long run of digits before the multiplication can overflow.
std::uint16_t parse_port(std::string_view url, std::string_view digits,
                         std::uint16_t default_port) {
    if (digits.empty()) return default_port;  // "host:" is allowed, and means the default
    unsigned value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9' || value > 65535)
            bad_url(url, "the port is not a number from 1 to 65535");
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) bad_url(url, "the port is not a number from 1 to 65535");
    return static_cast<std::uint16_t>(value);
}

// As Tornado's urlsplit: "user:pw@" before the host is taken out of the
// authority (so out of Host) for basic authentication; schemes other than
// http and https get Tornado's message. The fragment is never sent (the
// request-target of RFC 9112 section 3.2 has no place for it).
URL parse_url(std::string_view url) {
    std::size_t separator = url.find("://");
    if (separator == std::string_view::npos)
        bad_url(url, "not an absolute http:// or https:// URL");
    std::string scheme = detail::lower_ascii(url.substr(0, separator));
    if (scheme != "http" && scheme != "https")
        throw std::invalid_argument("Unsupported url scheme: '" + std::string(url) + "'");
    std::string_view rest = url.substr(separator + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    std::string_view target = rest.substr(authority.size());
    target = target.substr(0, target.find('#'));
    if (has_space_or_control(url)) bad_url(url, "it holds a space or a control character");

    URL parsed;
    // The last '@' ends the user information: a password may hold one.
    if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = authority.substr(0, at);
        authority.remove_prefix(at + 1);
        std::size_t colon = userinfo.find(':');
        parsed.username = std::string(userinfo.substr(0, colon));
        if (colon != std::string_view::npos) parsed.password = userinfo.substr(colon + 1);
    }
    // The authority stays as written for Host (brackets and port
    // included); the host for connect loses the brackets.
    parsed.secure = scheme == "https";
    parsed.authority = std::string(authority);
    std::string_view port;
    if (authority.starts_with('[')) {  // [IPv6]:port
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) bad_url(url, "unterminated [IPv6 address]");
        parsed.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() && !after.starts_with(':'))
            bad_url(url, "junk after the [IPv6 address]");
        if (!after.empty()) port = after.substr(1);
    } else {
        std::size_t colon = authority.rfind(':');
        parsed.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (parsed.host.empty()) bad_url(url, "no host");
    parsed.port = parse_port(url, port, parsed.secure ? 443 : 80);
    // An empty path is sent as "/" (the origin-form of RFC 9112 section
    // 3.2.1 starts with one), as Tornado's `path or "/"`.
    parsed.target =
        target.empty() || target.front() == '?' ? "/" + std::string(target) : std::string(target);
    return parsed;
}

bool one_of(std::string_view method, std::initializer_list<std::string_view> methods) {
    return std::find(methods.begin(), methods.end(), method) != methods.end();
}

}  // namespace

// Before anything is queued or connected (Tornado checks after
// connecting): a method that is not a token would break the request line;
// unless allow_nonstandard_methods, Tornado's rule: one of seven methods,
// with a body exactly when it usually has one. Then the URL. A failure is
// a std::invalid_argument, which submit() turns into a 599.
void detail::validate_request(const HTTPRequest& request, bool digest_allowed) {
    if (!is_token(request.method)) {
        throw std::invalid_argument("Invalid method '" + request.method + "'");
    }
    if (request.body && request.body_producer)
        throw std::invalid_argument("body and body_producer are mutually exclusive");
    // A proxy needs both its host and its port (as Tornado's curl client,
    // which ignores a half-given proxy; here that is an error to see).
    bool proxy_given = !request.proxy_host.empty() || request.proxy_port ||
                       !request.proxy_username.empty() || !request.proxy_password.empty();
    if (proxy_given && (request.proxy_host.empty() || !request.proxy_port))
        throw std::invalid_argument("a proxy needs both proxy_host and proxy_port");
    if (!request.proxy_auth_mode.empty() && request.proxy_auth_mode != "basic")
        throw std::invalid_argument("unsupported proxy_auth_mode " + request.proxy_auth_mode);
    if (!request.auth_mode.empty() && request.auth_mode != "basic" &&
        !(digest_allowed && request.auth_mode == "digest"))
        throw std::invalid_argument("unsupported auth_mode " + request.auth_mode);
    if (!request.allow_nonstandard_methods) {
        if (!one_of(request.method, {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})) {
            throw std::invalid_argument("Unknown method " + request.method +
                                        " (unless allow_nonstandard_methods is true)");
        }
        bool body_expected = one_of(request.method, {"POST", "PATCH", "PUT"});
        bool body_present = request.body || request.body_producer;
        if (body_expected && !body_present) {
            throw std::invalid_argument("Method " + request.method +
                                        " needs a body (unless allow_nonstandard_methods is true)");
        }
        if (!body_expected && body_present) {
            throw std::invalid_argument(
                "Method " + request.method +
                " must not have a body (unless allow_nonstandard_methods is true)");
        }
    }
    parse_url(request.url);
}

namespace {

// A body_producer's body goes out chunked unless the caller gave its length.
bool chunked_body(const HTTPRequest& request) {
    return request.body_producer && !request.headers.contains("Content-Length");
}

// The user and password of basic authentication: the URL's, else the
// request's (Tornado's order).
std::optional<std::string> basic_credentials(const HTTPRequest& request, const URL& url) {
    if (url.username) return encode_username_password(*url.username, url.password);
    if (request.auth_username) {
        return encode_username_password(*request.auth_username, request.auth_password.value_or(""));
    }
    return std::nullopt;
}

// The request line, our headers, the caller's and the empty line. Ours are
// Tornado's: Host (RFC 9112 section 3.2 requires it), "Connection: close"
// (no connection is reused), Content-Length for a body, and the fields the
// request's own settings make. Where the caller set one, ours gives way
// (Host, Connection, Accept-Encoding, Content-Type) or replaces it (the
// others): no field goes out twice.
// Through a proxy, a plain http:// request names the whole URL (the
// absolute-form of RFC 9112 section 3.2.2), for the proxy to fetch; an
// https:// one goes through a CONNECT tunnel and is sent as to the server.
bool through_http_proxy(const HTTPRequest& request, const URL& url) {
    return !request.proxy_host.empty() && !url.secure;
}

// "Basic ..." for the proxy's own authentication, when a user is given.
std::optional<std::string> proxy_authorization(const HTTPRequest& request) {
    if (request.proxy_username.empty()) return std::nullopt;
    return "Basic " + detail::base64_encode(
                          encode_username_password(request.proxy_username, request.proxy_password));
}

std::string format_head(const HTTPRequest& request, const URL& url) {
    const HTTPHeaders& theirs = request.headers;
    HTTPHeaders ours;
    if (!theirs.contains("Host")) ours.add("Host", url.authority);
    if (!theirs.contains("Connection")) ours.add("Connection", "close");
    if (!request.user_agent.empty()) ours.add("User-Agent", request.user_agent);
    if (request.decompress_response && !theirs.contains("Accept-Encoding"))
        ours.add("Accept-Encoding", "gzip");
    if (request.body) ours.add("Content-Length", std::to_string(request.body->size()));
    if (chunked_body(request)) ours.add("Transfer-Encoding", "chunked");
    if (request.method == "POST" && !theirs.contains("Content-Type")) {
        ours.add("Content-Type", "application/x-www-form-urlencoded");
    }
    if (std::optional<std::string> credentials = basic_credentials(request, url))
        ours.add("Authorization", "Basic " + detail::base64_encode(*credentials));
    if (request.if_modified_since)
        ours.add("If-Modified-Since", format_timestamp(*request.if_modified_since));
    if (request.expect_100_continue) ours.add("Expect", "100-continue");
    std::string target = url.target;
    if (through_http_proxy(request, url)) {
        target = "http://" + url.authority + url.target;
        if (std::optional<std::string> proxy_auth = proxy_authorization(request))
            ours.add("Proxy-Authorization", *proxy_auth);
    }
    std::string out = request.method + " " + target + " HTTP/1.1\r\n";
    ours.write_to(out);
    for (auto [name, value] : theirs) {
        // Ours replace theirs: those that give way were not added.
        if (ours.contains(name)) continue;
        out.append(name).append(": ").append(value).append("\r\n");
    }
    out += "\r\n";
    return out;
}

// From here to fetch_once, the coroutines take references: the request,
// its URL, the response's headers and the body sink. run_fetch's frame
// owns the request and the URL, fetch_once's the headers and the sink, and
// every coroutine here is awaited at once by its caller, so each reference
// outlives the frame that holds it. Each says which it takes, above its
// NOLINT.

// The body, when it does not go out with the head: after a 100 Continue,
// or from a body_producer, each piece framed as a chunk when the body is
// chunked. An empty piece is not sent (as a chunk it would end the body).
// `request` is run_fetch's (awaited at once, through fetch_once).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<void> send_body(std::shared_ptr<IOStream> stream, const HTTPRequest& request) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    if (request.body) {
        co_await stream->write(std::string_view(*request.body));
        co_return;
    }
    if (!request.body_producer) co_return;
    bool chunked = chunked_body(request);
    auto write = [stream, chunked](std::string piece) -> Future<void> {
        if (piece.empty()) return detail::done_future();
        if (!chunked) return stream->write(std::move(piece));
        std::string framed;
        detail::append_chunk_size_line(framed, piece.size());
        framed.append(piece).append("\r\n");
        return stream->write(std::move(framed));
    };
    Future<void> produced = request.body_producer(write);
    co_await produced;
    if (chunked) co_await stream->write(detail::kLastChunk);
}

}  // namespace

// The codes Tornado follows (RFC 9110 section 15.4); 300 is left to a person.
bool detail::is_redirect(int code) {
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

// The next hop of a redirect (Tornado's rules): 303 becomes GET (HEAD
// stays HEAD), 301 and 302 turn a POST into a GET, 307 and 308 keep the
// method and body. A Host the caller set is dropped: it named the old host.
// RFC 9110 (15.4.2, 15.4.3) allows the POST to GET of browsers. Unlike in
// Tornado, the hop does not go back through the queue: it keeps the slot
// and the one deadline.
HTTPRequest detail::redirected(const HTTPRequest& request, int code, std::string_view location) {
    HTTPRequest next = request;
    next.url = detail::urljoin(request.url, location);
    next.headers.remove("Host");
    if ((code == 303 && request.method != "HEAD") ||
        ((code == 301 || code == 302) && request.method == "POST")) {
        next.method = "GET";
        next.body.reset();
        for (std::string_view name :
             {"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding"}) {
            next.headers.remove(name);
        }
    }
    return next;
}

namespace {

// --- the response -------------------------------------------------------------------------------

// RFC 9112 section 6.3, rule 1: these end with their head, whatever their
// Content-Length says (for HEAD and 304, what a GET would have got).
bool body_allowed(std::string_view method, int code) {
    return method != "HEAD" && detail::status_has_body(code);
}

// Where body pieces go: response.body, or the streaming callback; either
// way within max_body_size, inflated first when the body is gzipped.
// The limit holds here and in the GzipDecompressor (both HTTPInputError).
class BodySink {
public:
    BodySink(const HTTPRequest& request, bool gzipped) : request_(request) {
        if (gzipped) gunzip_ = std::make_unique<GzipDecompressor>(request.max_body_size);
    }

    // Never below zero: add() refuses a piece bigger than the room left.
    std::uint64_t room() const noexcept { return request_.max_body_size - received_; }
    // `too_large`: the message, Tornado's words for the framing at hand.
    void add(std::string piece, const char* too_large) {
        if (piece.size() > room()) throw HTTPInputError(too_large);
        received_ += piece.size();
        if (gunzip_) {
            piece = gunzip_->decompress(piece);
            // Nothing inflated yet: no empty call of the streaming callback.
            if (piece.empty()) return;
        }
        if (request_.streaming_callback) {
            request_.streaming_callback(std::move(piece));
        } else if (body_.empty()) {
            body_ = std::move(piece);
        } else {
            body_ += piece;
        }
    }
    // The whole body is in: a gzipped one must have ended too.
    std::string take() {
        if (gunzip_) gunzip_->check_ended();
        return std::move(body_);
    }

private:
    // The hop's request, in run_fetch's frame, which outlives the sink.
    const HTTPRequest& request_;
    std::unique_ptr<GzipDecompressor> gunzip_;
    std::uint64_t received_ = 0;  // as it came, before inflating
    std::string body_;
};

// A gzipped response the caller wants plain: the headers say what was
// undone (Tornado's _GzipMessageDelegate renames Content-Encoding so).
// Called before the body is read, so that the sink knows to inflate.
bool consume_gzip_encoding(const HTTPRequest& request, HTTPHeaders& headers) {
    if (!request.decompress_response ||
        !equals_ignoring_case(headers.get("Content-Encoding"), "gzip")) {
        return false;
    }
    headers.add("X-Consumed-Content-Encoding", headers.get("Content-Encoding"));
    headers.remove("Content-Encoding");
    return true;
}

// Exactly `length` bytes. The server closing first is a StreamClosedError,
// so a 599: a cut-off body must not pass for a whole one.
// `sink` is fetch_once's (awaited at once, through read_body).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<void> read_fixed(std::shared_ptr<IOStream> stream, std::uint64_t length, BodySink& sink,
                      const char* too_large) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    while (length > 0) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, kReadPiece));
        std::string piece = co_await stream->read_bytes(want, /*partial=*/true);
        length -= piece.size();
        sink.add(std::move(piece), too_large);
    }
}

// A body with neither chunked nor Content-Length ends when the server
// closes (RFC 9112 section 6.3, rule 8). Only an orderly close ends it: a
// reset may have cut it short, and its real error fails the fetch. Over
// TLS, orderly means close_notify (RFC 9112 section 9.8): a bare TCP close
// could come from whoever sits between, cutting the body short.
// `sink` is fetch_once's (awaited at once, through read_body).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<void> read_until_close(std::shared_ptr<IOStream> stream, BodySink& sink) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    for (;;) {
        std::string piece;
        try {
            piece = co_await stream->read_bytes(kReadPiece, /*partial=*/true);
        } catch (const StreamClosedError& closed) {
            if (closed.real_error()) throw;  // a reset, not the end of the body
            break;
        }
        sink.add(std::move(piece), "body too large");
    }
    auto* secure = dynamic_cast<SSLIOStream*>(stream.get());
    if (secure != nullptr && secure->closed_without_close_notify()) {
        throw HTTPInputError(
            "Response body truncated: the TLS connection closed without close_notify, and "
            "nothing else tells where the body ends");
    }
}

// RFC 9112 section 6.3's framing, judged by the server's parse_body_framing:
// both fields, a coding other than chunked, or a bad Content-Length is
// refused (599), not guessed at: a wrong guess is how responses get smuggled.
// `headers` and `sink` are fetch_once's (awaited at once).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<void> read_body(std::shared_ptr<IOStream> stream, const HTTPHeaders& headers, BodySink& sink,
                     std::size_t max_header_size) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    BodyFraming framing = parse_body_framing(headers, "Response");
    if (framing.chunked) {
        // The same reader as the server's: the sink's room is the body limit,
        // which it checks before each read_data (its own 413 message).
        detail::ChunkDataReader read_data = [&](std::uint64_t size) -> Task<bool> {
            co_await read_fixed(stream, size, sink, "chunked body too large");
            co_return true;
        };
        co_await detail::read_chunked_body(stream, sink.room(), max_header_size, read_data);
    } else if (std::optional<std::uint64_t> length = framing.content_length) {
        // Refused before a byte is read: Tornado's check and message.
        if (*length > sink.room()) throw HTTPInputError("Content-Length too long");
        co_await read_fixed(stream, *length, sink, "Content-Length too long");
    } else {
        co_await read_until_close(stream, sink);
    }
}

// The status line, then the header lines; what either parser cannot read
// is an HTTPInputError, so 599. Unlike Tornado, blank lines before the
// status line are not skipped.
void parse_head(std::string_view head, ResponseStartLine& start_line, HTTPHeaders& headers) {
    std::size_t end = head.find('\n');
    std::string_view line = head.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    start_line = parse_response_start_line(line);
    headers = HTTPHeaders::parse(head.substr(end + 1));
}

}  // namespace

// --- the client ----------------------------------------------------------------------------------

namespace {

// The HTTPClientError of a response whose code is not 2xx. It holds the
// response without its error (a response holding an error holding the
// response would be a reference cycle): moved in when only the error goes
// out (raise_error), a copy when both do.
std::exception_ptr error_of_response(bool raise_error, HTTPResponse& response) {
    int code = response.code;
    std::string reason = response.reason;
    auto held = raise_error ? std::make_shared<const HTTPResponse>(std::move(response))
                            : std::make_shared<const HTTPResponse>(response);
    return std::make_exception_ptr(HTTPClientError(code, std::move(reason), std::move(held)));
}

// What a fetch with no response resolves with when raise_error is false
// (Tornado's HTTPResponse(request, 599, error=...)): no headers, no body.
HTTPResponse response_599(const HTTPRequest& request, double request_time,
                          std::exception_ptr error) {
    HTTPResponse response;
    response.request = request;
    response.code = 599;
    response.reason = std::string(reason_phrase(599));
    response.effective_url = request.url;
    response.request_time = request_time;
    response.error = std::move(error);
    return response;
}

}  // namespace

// Tornado's queue timeout: the shorter of the two that are set.
std::optional<IOLoop::Clock::duration> detail::queue_wait(const HTTPRequest& request) {
    std::optional<IOLoop::Clock::duration> wait;
    for (IOLoop::Clock::duration limit : {request.connect_timeout, request.request_timeout}) {
        if (limit > IOLoop::Clock::duration::zero() && (!wait || limit < *wait)) wait = limit;
    }
    return wait;
}

void detail::resolve_fetch(Future<HTTPResponse>& result, bool raise_error,
                           const HTTPRequest& request, double request_time,
                           std::optional<HTTPResponse> response, std::exception_ptr error,
                           bool accept_101) {
    if (response) {
        bool switched = accept_101 && response->code == 101;
        if (!switched && (response->code < 200 || response->code >= 300)) {
            error = error_of_response(raise_error, *response);
            if (!raise_error) response->error = error;
        }
    } else if (error && !raise_error) {
        response = response_599(request, request_time, error);
    }
    if (error && raise_error) {
        result.set_exception(std::move(error));
    } else if (response) {
        result.set_result(std::move(*response));
    } else {
        result.cancel();
    }
}

namespace detail {

// One fetch, from fetch() to settle(). Owned together by the client's
// lists, the deadline timer and run_fetch (shared_ptr): each lets go when
// its part is over, so the fetch outlives whichever of them ends last.
//
// Its stage only moves forward, but for a redirect, which connects again:
//
//   queued ─start()─► connecting ─connected─► exchanging ─response─► settled
//                        ▲                        │
//                        └─ a redirect's next hop ┘
//
// and settle() ends it from any stage (an error, the deadline, the queue
// timeout, close(), a cancelled Future). At `settled` every later outcome
// is dropped.
enum class FetchStage : std::uint8_t {
    queued,      // waiting for one of the max_clients slots
    connecting,  // a hop's connection is being opened (the deadline's message says so)
    exchanging,  // connected: the request goes out, the response comes in
    settled,     // over: the Future is resolved, the slot handed on
};

struct PendingFetch {
    // As given: each hop's request is a copy, in run_fetch.
    HTTPRequest request;
    bool raise_error = true;
    // Handed out by fetch(); only deliver() sets it.
    Future<HTTPResponse> result;
    // Weak: the client's lists hold the fetch; a strong pointer back would
    // make a cycle.
    std::weak_ptr<HTTPClientState> client;
    // To remove the timers in settle() even when the client state is gone.
    IOLoop* loop = nullptr;
    // When it left the queue (zero before): request_time counts from here.
    IOLoop::Clock::time_point started{};
    // For HTTPResponse.start_time and time_info.
    IOLoop::Clock::time_point queued{};
    std::chrono::system_clock::time_point wall_started{};
    IOLoop::Clock::time_point hop_started{};  // the last hop's
    IOLoop::Clock::time_point connected{};
    IOLoop::Clock::time_point first_byte{};  // of the final head
    bool redirected = false;
    // started + request_timeout; none without one.
    std::optional<IOLoop::Clock::time_point> deadline;
    // Set while the timer is pending: settle() removes it.
    std::optional<IOLoop::Timeout> queue_timer;
    std::optional<IOLoop::Timeout> deadline_timer;
    FetchStage stage = FetchStage::queued;
    std::shared_ptr<IOStream> stream;  // the current hop's connection
    // fetch_upgrade: a 101 answer ends the fetch, and its connection moves
    // here instead of being closed.
    bool upgrade = false;
    std::shared_ptr<IOStream> upgraded;
};

// An AsyncHTTPClient's insides, shared with each running run_fetch: a fetch
// still unwinding after the client was destroyed touches nothing freed.
struct HTTPClientState {
    HTTPClientState(IOLoop& io_loop, AsyncHTTPClientOptions client_options,
                    std::shared_ptr<Resolver> resolver)
        : loop(&io_loop), options(std::move(client_options)), tcp(std::move(resolver)) {}

    IOLoop* loop;
    AsyncHTTPClientOptions options;
    TCPClient tcp;
    // Waiting for a slot, in order; holding one of the max_clients slots.
    std::deque<std::shared_ptr<PendingFetch>> queue;
    std::vector<std::shared_ptr<PendingFetch>> active;
    bool closed = false;
};

}  // namespace detail

namespace {

using detail::FetchStage;
using detail::HTTPClientState;
using detail::PendingFetch;

void start(const std::shared_ptr<HTTPClientState>& client, std::shared_ptr<PendingFetch> fetch);

// Gives the fetch's slot (or queue place) back and starts what waits
// (Tornado's _release_fetch and _process_queue); settle() calls it once.
// After close() nothing starts: the queued fetches are being failed.
void release(PendingFetch& fetch) {
    std::shared_ptr<HTTPClientState> client = fetch.client.lock();
    if (!client) return;
    auto same = [&fetch](const std::shared_ptr<PendingFetch>& other) {
        return other.get() == &fetch;
    };
    std::erase_if(client->active, same);
    std::erase_if(client->queue, same);
    while (!client->closed &&
           client->active.size() < std::max<std::size_t>(client->options.max_clients, 1) &&
           !client->queue.empty()) {
        std::shared_ptr<PendingFetch> next = std::move(client->queue.front());
        client->queue.pop_front();
        start(client, std::move(next));
    }
}

double seconds_since_start(const PendingFetch& fetch) {
    if (fetch.started == IOLoop::Clock::time_point{}) return 0.0;  // never left the queue
    return std::chrono::duration<double>(IOLoop::time() - fetch.started).count();
}

// start_time and time_info (see tornado/httpclient.h), from the marks
// fetch_once and start() left; a mark never made is left out.
void add_times(const PendingFetch& fetch, HTTPResponse& response) {
    using Seconds = std::chrono::duration<double>;
    response.start_time = Seconds(fetch.wall_started.time_since_epoch()).count();
    auto since_start = [&fetch](IOLoop::Clock::time_point mark) {
        return Seconds(mark - fetch.started).count();
    };
    response.time_info["queue"] = Seconds(fetch.started - fetch.queued).count();
    if (fetch.connected >= fetch.hop_started && fetch.connected.time_since_epoch().count() != 0)
        response.time_info["connect"] = since_start(fetch.connected);
    if (fetch.first_byte >= fetch.hop_started && fetch.first_byte.time_since_epoch().count() != 0)
        response.time_info["starttransfer"] = since_start(fetch.first_byte);
    if (fetch.redirected) response.time_info["redirect"] = since_start(fetch.hop_started);
    response.time_info["total"] = response.request_time;
}

// Resolves the Future (detail::resolve_fetch), the response stamped with
// the request and its times first.
void deliver(PendingFetch& fetch, std::optional<HTTPResponse> response, std::exception_ptr error) {
    if (response) {
        response->request = fetch.request;
        response->request_time = seconds_since_start(fetch);
        add_times(fetch, *response);
    }
    detail::resolve_fetch(fetch.result, fetch.raise_error, fetch.request,
                          seconds_since_start(fetch), std::move(response), std::move(error),
                          fetch.upgrade);
}

// Ends a fetch, once, whoever gets there first: timers off, connection
// closed, the Future resolved (unless its owner cancelled it), the slot
// handed on. Callers: run_fetch, fail(), the two timers, close(), and
// submit's callback for a cancelled Future.
void settle(PendingFetch& fetch, std::optional<HTTPResponse> response, std::exception_ptr error) {
    if (fetch.stage == FetchStage::settled) return;
    fetch.stage = FetchStage::settled;
    if (fetch.queue_timer) fetch.loop->remove_timeout(*std::exchange(fetch.queue_timer, {}));
    if (fetch.deadline_timer) fetch.loop->remove_timeout(*std::exchange(fetch.deadline_timer, {}));
    if (fetch.stream) std::exchange(fetch.stream, nullptr)->close();
    if (!fetch.result.done()) deliver(fetch, std::move(response), std::move(error));
    release(fetch);
}

// Any failure as an HTTPClientError (599 when there was no response):
//   * an HTTPClientError (a timeout, a close seen by fetch_once) as it is;
//   * a StreamClosedError with no real error (the server closed before the
//     response ended): HTTPStreamClosedError, "Stream closed";
//   * one with a real error (a reset, a refused connect): 599 with that
//     error's message and as cause() (Tornado raises the real error itself);
//   * anything else (HTTPInputError, std::invalid_argument, ResolveError):
//     599 with its what().
std::exception_ptr as_client_error(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const HTTPClientError&) {
        return error;
    } catch (const StreamClosedError& closed) {
        if (!closed.real_error())
            return std::make_exception_ptr(HTTPStreamClosedError("Stream closed", error));
        try {
            std::rethrow_exception(closed.real_error());
        } catch (const std::exception& real) {
            return std::make_exception_ptr(
                HTTPClientError(599, real.what(), nullptr, closed.real_error()));
        } catch (...) {
            return std::make_exception_ptr(HTTPStreamClosedError("Stream closed", error));
        }
    } catch (const std::exception& other) {
        return std::make_exception_ptr(HTTPClientError(599, other.what(), nullptr, error));
    } catch (...) {
        return std::make_exception_ptr(HTTPClientError(599, "unknown error", nullptr, error));
    }
}

void fail(PendingFetch& fetch, std::exception_ptr error) {
    settle(fetch, std::nullopt, as_client_error(std::move(error)));
}

// Tornado's HTTPRequest TLS fields as TCPClient takes them.
SSLOptions ssl_options_of(const HTTPRequest& request) {
    SSLOptions options;
    options.certfile = request.client_cert;
    options.keyfile = request.client_key;
    options.ca_certs = request.ca_certs;
    if (!request.validate_cert) options.cert_reqs = SSLOptions::Verify::none;
    return options;
}

// An https:// URL through a proxy: "CONNECT host:port", and once the proxy
// answers 2xx, TLS with the server over the tunnel, the certificate
// checked against the URL's host as without a proxy. A proxy that refuses
// (407 without the right proxy_username, 403) fails the fetch with 599
// and its answer in the message.
// `request` and `url` are run_fetch's (awaited at once, through connect_hop).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<std::shared_ptr<IOStream>> open_tunnel(std::shared_ptr<HTTPClientState> client,
                                            std::shared_ptr<IOStream> stream,
                                            const HTTPRequest& request, const URL& url) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    std::string host_port =
        (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) + ":" +
        std::to_string(url.port);
    std::string connect_request =
        "CONNECT " + host_port + " HTTP/1.1\r\nHost: " + host_port + "\r\n";
    if (std::optional<std::string> proxy_auth = proxy_authorization(request))
        connect_request += "Proxy-Authorization: " + *proxy_auth + "\r\n";
    connect_request += "\r\n";
    co_await stream->write(std::move(connect_request));
    std::string head = co_await stream->read_until_empty_line(client->options.max_header_size);
    ResponseStartLine start_line;
    HTTPHeaders headers;
    parse_head(head, start_line, headers);
    if (start_line.code < 200 || start_line.code >= 300) {
        throw HTTPInputError("the proxy answered " + std::to_string(start_line.code) + " " +
                             start_line.reason + " to CONNECT " + host_port);
    }
    std::shared_ptr<SSLIOStream> secure =
        co_await stream->start_tls(false, ssl_options_of(request), url.host);
    co_return std::shared_ptr<IOStream>(std::move(secure));
}

// A hop's connection: straight to the server (TLS for https), or to the
// proxy and, for https, through a CONNECT tunnel. Within connect_timeout
// and what is left of the deadline. Once it is open, settle() can close it
// (fetch->stream), failing whatever read is pending on it.
// `request` and `url` are run_fetch's (awaited at once, through fetch_once).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<std::shared_ptr<IOStream>> connect_hop(std::shared_ptr<HTTPClientState> client,
                                            std::shared_ptr<PendingFetch> fetch,
                                            const HTTPRequest& request, const URL& url) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    ConnectOptions connect;
    connect.stream.max_buffer_size = client->options.max_buffer_size;
    connect.source_ip = request.network_interface;
    if (!request.allow_ipv6) connect.family = AF_INET;
    if (request.connect_timeout > IOLoop::Clock::duration::zero())
        connect.timeout = request.connect_timeout;
    if (fetch->deadline) {
        // Past the deadline the deadline timer speaks (as "while connecting").
        auto left = std::max(*fetch->deadline - IOLoop::time(), IOLoop::Clock::duration::zero());
        connect.timeout = std::min(connect.timeout.value_or(left), left);
    }
    fetch->stage = FetchStage::connecting;
    std::shared_ptr<IOStream> stream;
    bool proxied = !request.proxy_host.empty();
    try {
        if (proxied) {
            stream = co_await client->tcp.connect(request.proxy_host, *request.proxy_port, connect);
        } else if (url.secure) {
            stream =
                co_await client->tcp.connect(url.host, url.port, connect, ssl_options_of(request));
        } else {
            stream = co_await client->tcp.connect(url.host, url.port, connect);
        }
    } catch (const TimeoutError&) {
        // Tornado's words, not TCPClient's "Timeout connecting to ...".
        throw HTTPTimeoutError("Timeout while connecting");
    }
    if (fetch->stage == FetchStage::settled) {  // timed out, closed or cancelled meanwhile
        stream->close();
        throw HTTPStreamClosedError();
    }
    fetch->stage = FetchStage::exchanging;
    fetch->connected = IOLoop::time();
    // No Nagle delay (as Tornado): the request leaves in one write.
    fetch->stream = stream;
    stream->set_nodelay(true);
    if (proxied && url.secure) {
        stream = co_await open_tunnel(client, stream, request, url);
        fetch->stream = stream;
    }
    co_return stream;
}

// The head, and the body with it unless the body is held back for a 100
// Continue (then the result is true: read_final_head sends it) or made by
// body_producer. The write is not awaited: a server may answer (and close)
// before it reads all of a body, and the answer is what matters; a failed
// write closes the stream, which the read of the head reports.
// `request` and `url` are run_fetch's (awaited at once, through fetch_once).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<bool> send_request(std::shared_ptr<IOStream> stream, const HTTPRequest& request,
                        const URL& url) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    bool body_held = request.expect_100_continue && (request.body || request.body_producer);
    std::string request_head = format_head(request, url);
    if (request.body && !body_held) request_head += *request.body;
    stream->write(std::move(request_head));
    if (request.body_producer && !body_held) co_await send_body(stream, request);
    co_return body_held;
}

struct ResponseHead {
    ResponseStartLine start_line;
    HTTPHeaders headers;
};

// Heads until a final one: interim (1xx) answers are read past, a 100
// sends the body held back for it. A head over max_header_size closes the
// stream (read_limit_broken), which is reported in our own words.
// `request` is run_fetch's (awaited at once, through fetch_once).
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<ResponseHead> read_final_head(std::shared_ptr<HTTPClientState> client,
                                   std::shared_ptr<PendingFetch> fetch,
                                   std::shared_ptr<IOStream> stream, const HTTPRequest& request,
                                   bool body_held) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    ResponseHead head;
    for (;;) {
        std::string text;
        try {
            text = co_await stream->read_until_empty_line(client->options.max_header_size);
        } catch (const StreamClosedError& closed) {
            if (!closed.read_limit_broken()) throw;
            throw HTTPInputError("Response head larger than max_header_size (" +
                                 std::to_string(client->options.max_header_size) + " bytes)");
        }
        parse_head(text, head.start_line, head.headers);
        int code = head.start_line.code;
        // A code under 100 is no interim response: it ends the loop, and
        // then fails as any code outside 2xx does.
        if (code >= 200 || code < 100) break;
        if (code == 101) {
            if (fetch->upgrade) break;
            // RFC 9110 section 15.2.2: after a 101 the connection speaks
            // another protocol, so what follows is no HTTP response to read
            // on. Tornado's client reads on, as past any 1xx.
            throw HTTPInputError(
                "Response 101 Switching Protocols to a request that asked for no upgrade");
        }
        if (head.headers.contains("Content-Length") || head.headers.contains("Transfer-Encoding"))
            throw HTTPInputError("Response code " + std::to_string(code) + " cannot have a body");
        // An interim response (100 Continue, 103 Early Hints): the real one follows.
        // RFC 9110 section 15.2: a client must read past 1xx answers it did
        // not expect. So does Tornado.
        if (code == 100 && body_held) {
            body_held = false;
            co_await send_body(stream, request);
        }
    }
    fetch->first_byte = IOLoop::time();
    co_return head;
}

// Tornado's _should_follow_redirect, from the head alone.
bool follows(bool may_follow, int code, const HTTPHeaders& headers) {
    return may_follow && detail::is_redirect(code) && headers.contains("Location");
}

// The header_callback's lines, in Tornado's order: after the gzip renaming,
// before the body.
void report_head(const HTTPRequest& request, const ResponseHead& head) {
    const ResponseStartLine& line = head.start_line;
    request.header_callback(line.version + " " + std::to_string(line.code) + " " + line.reason +
                            "\r\n");
    for (auto [name, value] : head.headers)
        request.header_callback(std::string(name) + ": " + std::string(value) + "\r\n");
    request.header_callback("\r\n");
}

// One hop: connect, send, read the final head, read the body. `request`
// and `url` live in run_fetch's frame, which awaits this one. The body is
// read unless there is none (a redirect to follow, 101, HEAD, 204, 304);
// a failure throws. run_fetch follows a redirect.
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)
Task<HTTPResponse> fetch_once(std::shared_ptr<HTTPClientState> client,
                              std::shared_ptr<PendingFetch> fetch, const HTTPRequest& request,
                              const URL& url, bool may_follow) {
    // NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)
    fetch->hop_started = IOLoop::time();
    std::shared_ptr<IOStream> stream = co_await connect_hop(client, fetch, request, url);
    bool body_held = co_await send_request(stream, request, url);
    ResponseHead head = co_await read_final_head(client, fetch, stream, request, body_held);

    // RFC 9112 section 4 lets a server leave the reason phrase out.
    HTTPResponse response;
    response.code = head.start_line.code;
    response.reason = head.start_line.reason.empty() ? std::string(reason_phrase(response.code))
                                                     : head.start_line.reason;
    response.effective_url = request.url;
    if (fetch->upgrade && response.code == 101) {
        // The connection now speaks another protocol: it is the caller's.
        response.headers = std::move(head.headers);
        fetch->upgraded = std::exchange(fetch->stream, nullptr);
        co_return std::move(response);
    }
    bool following = follows(may_follow, response.code, head.headers);
    bool gzipped = consume_gzip_encoding(request, head.headers);
    if (!following && request.header_callback) report_head(request, head);
    // A redirect's body is not wanted (nor streamed): the connection closes.
    if (!following && body_allowed(request.method, response.code)) {
        BodySink sink(request, gzipped);
        co_await read_body(stream, head.headers, sink, client->options.max_header_size);
        response.body = sink.take();
    }
    response.headers = std::move(head.headers);
    co_return std::move(response);
}

// The fetch's coroutine, detached by start(): one turn of the loop per
// hop, each hop's connection closed before the next. `settled` after a hop:
// the deadline, close() or a cancel ended the fetch meanwhile. Past
// max_redirects the 3xx itself is the response (an error, as in Tornado).
Task<void> run_fetch(std::shared_ptr<HTTPClientState> client, std::shared_ptr<PendingFetch> fetch) {
    std::exception_ptr failure;
    bool cancelled = false;
    try {
        HTTPRequest hop = fetch->request;
        int redirects_left = hop.max_redirects;
        for (;;) {
            URL url = parse_url(hop.url);
            bool may_follow = hop.follow_redirects && redirects_left > 0;
            HTTPResponse response = co_await fetch_once(client, fetch, hop, url, may_follow);
            if (fetch->stream) std::exchange(fetch->stream, nullptr)->close();
            if (fetch->stage == FetchStage::settled) break;
            if (follows(may_follow, response.code, response.headers)) {
                hop =
                    detail::redirected(hop, response.code, response.headers.get_first("Location"));
                fetch->redirected = true;
                --redirects_left;
                continue;
            }
            settle(*fetch, std::move(response), nullptr);
            break;
        }
    } catch (const CancelledError&) {
        // Not a failure to report: the Future is cancelled, not failed.
        cancelled = true;  // the loop is closing
    } catch (...) {
        failure = std::current_exception();
    }
    if (cancelled) {
        settle(*fetch, std::nullopt, nullptr);
    } else if (failure) {
        fail(*fetch, failure);
    }
}

// The fetch gets a slot (Tornado's _process_queue): request_timeout starts
// now, so queue time counts only against the queue timeout. One deadline
// for all hops; its settle() closes the connection, failing the pending
// read. Its message says if the connect was under way, as Tornado's does.
void start(const std::shared_ptr<HTTPClientState>& client, std::shared_ptr<PendingFetch> fetch) {
    if (fetch->queue_timer) client->loop->remove_timeout(*std::exchange(fetch->queue_timer, {}));
    client->active.push_back(fetch);
    fetch->started = IOLoop::time();
    fetch->wall_started = std::chrono::system_clock::now();
    if (fetch->request.request_timeout > IOLoop::Clock::duration::zero()) {
        fetch->deadline = fetch->started + fetch->request.request_timeout;
        fetch->deadline_timer = client->loop->call_at(*fetch->deadline, [fetch] {
            fetch->deadline_timer.reset();
            const char* when = fetch->stage == FetchStage::connecting ? "Timeout while connecting"
                                                                      : "Timeout during request";
            settle(*fetch, std::nullopt, std::make_exception_ptr(HTTPTimeoutError(when)));
        });
    }
    run_fetch(client, std::move(fetch)).detach();
}

// A field still at HTTPRequest's own default takes the client's; a
// function field that is empty takes the client's function.
template <typename T>
void take_default(HTTPRequest& request, const HTTPRequest& defaults, T HTTPRequest::*field) {
    static const HTTPRequest plain;
    if (request.*field == plain.*field) request.*field = defaults.*field;
}
template <typename T>
void take_default(HTTPRequest& request, const HTTPRequest& defaults,
                  std::function<T> HTTPRequest::*field) {
    if (!(request.*field)) request.*field = defaults.*field;
}

}  // namespace

// AsyncHTTPClientOptions::defaults into a request (Tornado's _RequestProxy).
// url, method, body and body_producer are the request's own.
void detail::apply_defaults(HTTPRequest& request, const HTTPRequest& defaults) {
    take_default(request, defaults, &HTTPRequest::connect_timeout);
    take_default(request, defaults, &HTTPRequest::request_timeout);
    take_default(request, defaults, &HTTPRequest::follow_redirects);
    take_default(request, defaults, &HTTPRequest::max_redirects);
    take_default(request, defaults, &HTTPRequest::user_agent);
    take_default(request, defaults, &HTTPRequest::max_body_size);
    take_default(request, defaults, &HTTPRequest::allow_nonstandard_methods);
    take_default(request, defaults, &HTTPRequest::decompress_response);
    take_default(request, defaults, &HTTPRequest::validate_cert);
    take_default(request, defaults, &HTTPRequest::ca_certs);
    take_default(request, defaults, &HTTPRequest::client_cert);
    take_default(request, defaults, &HTTPRequest::client_key);
    take_default(request, defaults, &HTTPRequest::auth_username);
    take_default(request, defaults, &HTTPRequest::auth_password);
    take_default(request, defaults, &HTTPRequest::auth_mode);
    take_default(request, defaults, &HTTPRequest::if_modified_since);
    take_default(request, defaults, &HTTPRequest::network_interface);
    take_default(request, defaults, &HTTPRequest::allow_ipv6);
    take_default(request, defaults, &HTTPRequest::expect_100_continue);
    take_default(request, defaults, &HTTPRequest::proxy_host);
    take_default(request, defaults, &HTTPRequest::proxy_port);
    take_default(request, defaults, &HTTPRequest::proxy_username);
    take_default(request, defaults, &HTTPRequest::proxy_password);
    take_default(request, defaults, &HTTPRequest::proxy_auth_mode);
    take_default(request, defaults, &HTTPRequest::streaming_callback);
    take_default(request, defaults, &HTTPRequest::header_callback);
    for (auto [name, value] : defaults.headers) {
        if (!request.headers.contains(name)) request.headers.add(name, value);
    }
}

namespace {

// As Tornado's initialize: hostname_mapping wraps the resolver (the
// caller's, or a new DefaultExecutorResolver) in an OverrideResolver. With
// neither, nullptr lets the TCPClient make its own, and close it.
std::shared_ptr<Resolver> make_resolver(const AsyncHTTPClientOptions& options) {
    std::shared_ptr<Resolver> resolver = options.resolver;
    if (options.hostname_mapping.empty()) return resolver;
    if (!resolver) resolver = std::make_shared<DefaultExecutorResolver>();
    return std::make_shared<OverrideResolver>(std::move(resolver), options.hostname_mapping);
}

}  // namespace

// The loop current now is the client's: its timers and fetches run there.
AsyncHTTPClient::AsyncHTTPClient(AsyncHTTPClientOptions options) {
    std::shared_ptr<Resolver> resolver = make_resolver(options);
    state_ = std::make_shared<HTTPClientState>(IOLoop::current(), std::move(options),
                                               std::move(resolver));
}

AsyncHTTPClient::~AsyncHTTPClient() { close(); }

Future<HTTPResponse> AsyncHTTPClient::fetch(std::string url, bool raise_error) {
    HTTPRequest request;
    request.url = std::move(url);
    return fetch(std::move(request), raise_error);
}

// Only a closed client throws (Tornado raises RuntimeError too); every
// other problem reaches the caller through the Future.
Future<HTTPResponse> AsyncHTTPClient::fetch(HTTPRequest request, bool raise_error) {
    if (state_->closed) throw std::runtime_error("fetch() called on closed AsyncHTTPClient");
    detail::apply_defaults(request, state_->options.defaults);
    auto fetch = std::make_shared<PendingFetch>();
    fetch->request = std::move(request);
    fetch->raise_error = raise_error;
    submit(fetch);
    return fetch->result;
}

// Shared by fetch() and fetch_upgrade(): validate, then start or queue.
void AsyncHTTPClient::submit(const std::shared_ptr<PendingFetch>& fetch) {
    fetch->client = state_;
    fetch->loop = state_->loop;
    fetch->queued = IOLoop::time();
    // Whoever gives up on the Future (run_sync's timeout cancels it) frees
    // the slot and the connection.
    fetch->result.add_done_callback(
        [weak = std::weak_ptr<PendingFetch>(fetch)](Future<HTTPResponse> done) {
            if (!done.cancelled()) return;
            if (std::shared_ptr<PendingFetch> abandoned = weak.lock())
                settle(*abandoned, std::nullopt, nullptr);
        });
    try {
        detail::validate_request(fetch->request);
    } catch (...) {
        fail(*fetch, std::current_exception());
        return;
    }
    // The same test as release(): max_clients 0 still runs one at a time.
    if (state_->active.size() < std::max<std::size_t>(state_->options.max_clients, 1)) {
        start(state_, fetch);
        return;
    }
    if (std::optional<IOLoop::Clock::duration> wait = detail::queue_wait(fetch->request)) {
        fetch->queue_timer =
            state_->loop->call_later(*wait, [weak = std::weak_ptr<PendingFetch>(fetch)] {
                std::shared_ptr<PendingFetch> waiting = weak.lock();
                if (!waiting) return;
                waiting->queue_timer.reset();
                settle(*waiting, std::nullopt,
                       std::make_exception_ptr(HTTPTimeoutError("Timeout in request queue")));
            });
    }
    state_->queue.push_back(fetch);
}

// Ends every fetch with 599 "Client closed" (Tornado's close() leaves them
// running). `closed` first, so that release() starts nothing from the
// queue; a copy of both lists, because settle() edits them as it goes.
void AsyncHTTPClient::close() {
    if (!state_ || state_->closed) return;
    state_->closed = true;
    std::vector<std::shared_ptr<PendingFetch>> ending(state_->queue.begin(), state_->queue.end());
    ending.insert(ending.end(), state_->active.begin(), state_->active.end());
    for (const std::shared_ptr<PendingFetch>& fetch : ending) {
        settle(*fetch, std::nullopt,
               std::make_exception_ptr(HTTPClientError(599, "Client closed")));
    }
    state_->tcp.close();
}

std::size_t AsyncHTTPClient::active_count() const noexcept { return state_->active.size(); }
std::size_t AsyncHTTPClient::queued_count() const noexcept { return state_->queue.size(); }

namespace detail {

// A client of its own: the handshake counts against nobody's max_clients,
// and the client lives exactly as long as this fetch. The two callbacks tie
// the two Futures together: the fetch's result or error goes to
// `upgraded`; cancelling `upgraded` (the caller gave up) cancels the fetch,
// which closes its connection; a 101 connection that comes after the
// caller gave up is closed, not leaked. Done callbacks run at the loop's
// next turn, after settle() has finished.
Future<UpgradedConnection> fetch_upgrade(HTTPRequest request) {
    auto client = std::make_shared<AsyncHTTPClient>();
    auto fetch = std::make_shared<PendingFetch>();
    fetch->request = std::move(request);
    fetch->upgrade = true;
    client->submit(fetch);
    Future<UpgradedConnection> upgraded;
    // The client lives until its one fetch is over.
    fetch->result.add_done_callback([client, fetch, upgraded](Future<HTTPResponse> done) {
        if (upgraded.done()) {  // the caller gave up
            if (fetch->upgraded) fetch->upgraded->close();
        } else if (done.cancelled()) {
            upgraded.cancel();
        } else if (std::exception_ptr error = done.exception()) {
            upgraded.set_exception(std::move(error));
        } else {
            upgraded.set_result(UpgradedConnection{std::move(done.result()),
                                                   std::exchange(fetch->upgraded, nullptr)});
        }
    });
    upgraded.add_done_callback(
        [weak = std::weak_ptr<PendingFetch>(fetch)](Future<UpgradedConnection> done) {
            std::shared_ptr<PendingFetch> abandoned = weak.lock();
            if (done.cancelled() && abandoned) abandoned->result.cancel();
        });
    return upgraded;
}

}  // namespace detail

// --- the blocking client ------------------------------------------------------------------

HTTPClient::HTTPClient(AsyncHTTPClientOptions options) : options_(std::move(options)) {}

HTTPResponse HTTPClient::fetch(std::string url, bool raise_error) {
    HTTPRequest request;
    request.url = std::move(url);
    return fetch(std::move(request), raise_error);
}

HTTPResponse HTTPClient::fetch(HTTPRequest request, bool raise_error) {
    if (closed_) throw std::runtime_error("fetch() called on closed HTTPClient");
    IOLoop loop;  // ours alone; the caller's current loop comes back when it goes
    // Made inside run_sync, where `loop` is the running (so current) loop
    // even if the caller is inside another loop's callback; closed before
    // the loop goes (declared after it).
    std::unique_ptr<AsyncHTTPClient> client;
    struct CloseClient {
        std::unique_ptr<AsyncHTTPClient>& client;
        ~CloseClient() {
            if (client) client->close();
        }
    } close_client{client};
    return loop.run_sync([&] {
        client = std::make_unique<AsyncHTTPClient>(options_);
        return client->fetch(std::move(request), raise_error);
    });
}

// --- URLs -------------------------------------------------------------------------------------

namespace detail {

namespace {

// RFC 3986 section 5.2.4, rule by rule, on `in`: a leading "../" or "./"
// goes (A); "/./" and a final "/." become "/" (B); "/../" and a final
// "/.." become "/" and take the last segment of `out` with them (C); a
// lone "." or ".." goes (D); else the first segment, with its leading "/",
// moves to `out` (E). "/a/b/../c/./d" gives "/a/c/d".
std::string remove_dot_segments(std::string_view in) {
    std::string out;
    auto drop_last_segment = [&out] {
        std::size_t slash = out.rfind('/');
        out.erase(slash == std::string::npos ? 0 : slash);
    };
    while (!in.empty()) {
        if (in.starts_with("../")) {
            in.remove_prefix(3);
        } else if (in.starts_with("./")) {
            in.remove_prefix(2);
        } else if (in.starts_with("/./")) {
            in.remove_prefix(2);
        } else if (in == "/.") {
            in = "/";
        } else if (in.starts_with("/../")) {
            in.remove_prefix(3);
            drop_last_segment();
        } else if (in == "/..") {
            in = "/";
            drop_last_segment();
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            std::size_t end = in.find('/', 1);
            if (end == std::string_view::npos) end = in.size();
            out.append(in.substr(0, end));
            in.remove_prefix(end);
        }
    }
    return out;
}

// RFC 3986 section 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) then
// ':'. "a/b:c" has none: a '/' comes first, so it is a relative path.
bool has_scheme(std::string_view reference) {
    std::size_t colon = reference.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    using detail::is_ascii_letter;
    using detail::is_digit;
    if (!is_ascii_letter(reference[0])) return false;
    return std::all_of(
        reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(colon), [&](char c) {
            return is_ascii_letter(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
        });
}

}  // namespace

// RFC 3986 section 5.2.2's cases, for an absolute base: a reference with
// a scheme replaces the base; "//host/..." keeps only its scheme; "" and
// "#frag" keep the whole base; "?query" keeps its path; any other path is
// merged with the base's directory (section 5.2.3) and freed of dot
// segments. As in Python's urljoin, a reference with a scheme or a host is
// taken as it is, dot segments and all.
std::string urljoin(std::string_view base, std::string_view reference) {
    if (has_scheme(reference)) return std::string(reference);
    base = base.substr(0, base.find('#'));
    std::size_t separator = base.find("://");
    std::size_t authority_end =
        separator == std::string_view::npos ? base.size() : base.find_first_of("/?", separator + 3);
    if (authority_end == std::string_view::npos) authority_end = base.size();
    std::string_view scheme =
        separator == std::string_view::npos ? std::string_view() : base.substr(0, separator);
    std::string_view origin = base.substr(0, authority_end);  // "http://host:port"
    std::string_view path_and_query = base.substr(authority_end);
    std::string_view base_path = path_and_query.substr(0, path_and_query.find('?'));

    if (reference.empty()) return std::string(base);
    if (reference.starts_with("//")) return std::string(scheme) + ":" + std::string(reference);
    if (reference.starts_with('#')) return std::string(base) + std::string(reference);
    if (reference.starts_with('?')) {
        return std::string(origin) + std::string(base_path.empty() ? "/" : base_path) +
               std::string(reference);
    }
    // A path, then whatever query and fragment follow it unchanged.
    std::size_t path_end = reference.find_first_of("?#");
    std::string_view path = reference.substr(0, path_end);
    std::string_view rest =
        path_end == std::string_view::npos ? std::string_view() : reference.substr(path_end);
    std::string merged;
    if (path.starts_with('/')) {
        merged = std::string(path);
    } else {
        std::size_t slash = base_path.rfind('/');
        merged = (slash == std::string_view::npos ? std::string("/")
                                                  : std::string(base_path.substr(0, slash + 1))) +
                 std::string(path);
    }
    return std::string(origin) + remove_dot_segments(merged) + std::string(rest);
}

}  // namespace detail

}  // namespace tornado
