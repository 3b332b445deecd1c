// tornado/httpclient.h: a non-blocking HTTP/1.1 client (Tornado's
// `tornado.httpclient`, with its SimpleAsyncHTTPClient), and the blocking
// HTTPClient for scripts and tests.
//
//   tornado::AsyncHTTPClient client;
//   tornado::HTTPResponse page = co_await client.fetch("http://127.0.0.1:8888/");
//   std::puts(page.body.c_str());
//
//   tornado::HTTPRequest post{.url = "http://127.0.0.1:8888/form", .method = "POST",
//                             .body = "name=ann"};             // named first: see below
//   tornado::HTTPResponse answer = co_await client.fetch(post, /*raise_error=*/false);
//   if (answer.code != 200) std::puts(answer.reason.c_str());   // 599: no answer at all
//
//   tornado::HTTPClient blocking;                                // its own private loop
//   std::string body = blocking.fetch("http://127.0.0.1:8888/").body;
//
// What a fetch does: connect (TCPClient, within connect_timeout), send
// "METHOD /path HTTP/1.1" with Host, "Connection: close", Content-Length for
// a body (chunked for a body_producer's without one), User-Agent if one is
// given and "Accept-Encoding: gzip" (unless decompress_response is off),
// Authorization, If-Modified-Since and Expect when the request asks for
// them, read the response head, skip 1xx interim
// responses, read the body as the response frames it (Content-Length,
// chunked, or until the server closes; none for HEAD, 204 and 304; chunked
// by the server's own reader, so trailers are checked and dropped), follow
// redirects, and close the connection. request_timeout covers all of it,
// redirects included. One connection per request, at most max_clients at
// once; more wait in a queue, in order.
//
// How a fetch fails: every failure is an HTTPClientError. A response whose
// code is not 2xx gives one with that code and the response; no response
// at all (refused, reset, timed out, malformed, a body over max_body_size,
// a bad URL or request) gives code 599, whose message says why ("Timeout
// during request", "Stream closed", "connect to 127.0.0.1:9: Connection
// refused") and whose cause() is the exception underneath. With
// raise_error = false the Future is never failed: the response comes back
// with its code (599 when there was none) and `error` set. Every failure
// closes the connection.
//
// http:// and https://: the server's certificate is checked against the
// system's CA store and the host name unless the request says otherwise
// (validate_cert, ca_certs); a certificate refused is a 599 that says why
// ("certificate verify failed: self-signed certificate (connecting to
// localhost)").
//
// g++ 12 destroys an aggregate temporary twice when it appears inside a
// co_await expression: build an HTTPRequest in a variable first, never as
// `co_await client.fetch({.url = ...})`.
//
// Threads: a client belongs to the loop that is current when it is made;
// use it on that loop's thread, and close (or destroy) it before the loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tornado/concurrent.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"

namespace tornado {

// What to fetch (Tornado's HTTPRequest). An aggregate: designated
// initializers name the fields you set.
struct HTTPRequest {
    // An absolute http:// or https:// URL. A "user:password@" in it is sent
    // as basic authentication, and a "#fragment" is not sent. Any other URL
    // (another scheme, no host, a space or control character) fails the
    // fetch with 599 before connecting.
    std::string url{};
    // Sent as given (case included); it must be a token. See
    // allow_nonstandard_methods.
    std::string method = "GET";
    // Sent after Host and Connection; a Host or Connection here replaces ours.
    HTTPHeaders headers{};
    // None: no body (GET); "" is an empty body with Content-Length: 0.
    std::optional<std::string> body{};
    // Zero: no limit. The connect timeout never runs past request_timeout.
    IOLoop::Clock::duration connect_timeout = std::chrono::seconds(20);
    IOLoop::Clock::duration request_timeout = std::chrono::seconds(20);
    // Follow a 301, 302, 303, 307 or 308 that has a Location, as Tornado: a
    // 303 (but for HEAD), and a 301 or 302 answering a POST, turn the next
    // request into a GET without a body; the others keep the method and
    // body. A redirect not followed is the response: an HTTPClientError
    // with its code under raise_error.
    bool follow_redirects = true;
    // The most redirects one fetch follows; the next 3xx is the response.
    int max_redirects = 5;
    // Sent as User-Agent when not empty (replacing one in headers).
    std::string user_agent{};
    // The most body bytes accepted (after chunked decoding); more fails the
    // fetch with 599.
    std::size_t max_body_size = 100 * 1024 * 1024;
    // When set, body pieces go here as they arrive instead of into
    // response.body (which stays empty). Called on the loop.
    std::function<void(std::string)> streaming_callback{};
    // Off: a body with GET, HEAD, DELETE or OPTIONS, none with POST, PUT or
    // PATCH, or a method outside those seven, is refused before connecting.
    bool allow_nonstandard_methods = false;
    // Ask for gzip and inflate a gzipped body, as Tornado does: the response
    // then has X-Consumed-Content-Encoding: gzip instead of Content-Encoding,
    // and max_body_size limits the inflated body too.
    bool decompress_response = true;
    // https: check the server's certificate (against ca_certs) and that it
    // names the host. Off: any certificate is taken.
    bool validate_cert = true;
    // PEM file of the CAs to trust (empty: the system's CA store).
    std::string ca_certs{};
    // PEM file of the certificate (and its chain) to show a server that
    // asks for one (empty: none).
    std::string client_cert{};
    // PEM file of client_cert's private key (empty: in client_cert).
    std::string client_key{};

    // HTTP basic authentication: "Authorization: Basic ..." (replacing one
    // in headers). A "user:password@" in the URL does the same and wins, as
    // in Tornado.
    std::optional<std::string> auth_username{};
    // auth_username's password (nothing: empty); unused without it.
    std::optional<std::string> auth_password{};
    // "basic" or empty: Tornado's own client knows no other, and neither
    // does this one (another fails the fetch with 599).
    std::string auth_mode{};
    // Sent as If-Modified-Since (replacing one in headers).
    std::optional<std::time_t> if_modified_since{};
    // The local address to connect from ("": any).
    std::string network_interface{};
    // False: connect over IPv4 only.
    bool allow_ipv6 = true;
    // Each line of the final response's head, as Tornado gives them: the
    // status line, each header line, then "\r\n", each ending in CRLF. Not
    // called for the redirects that are followed. Called on the loop.
    std::function<void(std::string)> header_callback{};
    // The body in pieces, instead of `body`: called once the head is sent
    // with a function that sends one piece (its Future resolves when the
    // piece is written). Without a Content-Length in headers the body is
    // sent chunked. A coroutine lambda must capture nothing it needs after
    // its first co_await (capture by value into a named coroutine, or use
    // its parameter only): the lambda object may be gone by then.
    std::function<Future<void>(std::function<Future<void>(std::string)> write)> body_producer{};
    // Send "Expect: 100-continue" and the body only once the server has
    // answered 100; a server that answers with its final response first
    // does not get the body.
    bool expect_100_continue = false;
    // An HTTP proxy (Tornado has these in its curl client only): an
    // http:// URL is asked of the proxy whole ("GET http://host/path"), an
    // https:// one goes through a CONNECT tunnel, with TLS to the server
    // inside it. A proxy that refuses the tunnel fails the fetch with 599
    // and its answer.
    std::string proxy_host{};
    // Needed with proxy_host: one without the other (or proxy credentials
    // without both) fails the fetch with 599.
    std::optional<std::uint16_t> proxy_port{};
    // Proxy-Authorization: Basic with proxy_username and proxy_password,
    // sent (to the proxy only) when proxy_username is not empty.
    std::string proxy_username{};
    std::string proxy_password{};
    // "basic" or empty; another fails the fetch with 599.
    std::string proxy_auth_mode{};
};

// What came back (Tornado's HTTPResponse).
struct HTTPResponse {
    // The request as fetch() got it, with the client's defaults filled in
    // (not a redirect's).
    HTTPRequest request{};
    // 200; 599 when there was no response.
    int code = 0;
    // "OK" (the standard phrase if the server sent none).
    std::string reason{};
    // The final response's. A body inflated by decompress_response has
    // X-Consumed-Content-Encoding: gzip instead of Content-Encoding.
    HTTPHeaders headers{};
    // Chunked encoding removed, gzip inflated (decompress_response); empty
    // with a streaming_callback.
    std::string body{};
    // The URL fetched last (after redirects).
    std::string effective_url{};
    // Seconds, from when the fetch left the queue (name lookup and connect
    // included) to the end of the response.
    double request_time = 0;
    // An HTTPClientError unless code is 2xx.
    std::exception_ptr error{};
    // When the fetch left the queue, in seconds since the epoch.
    double start_time = 0;
    // Seconds, with curl's names as Tornado's documentation gives them:
    // "queue" (waiting for a slot under max_clients), and from the start
    // of the fetch "connect" (connected, TLS included), "starttransfer"
    // (the first byte of the final response), "redirect" (the redirects
    // before the last hop, when there were any) and "total".
    std::map<std::string, double> time_info{};

    // Throws `error`, if there is one (Tornado's rethrow()).
    void rethrow() const {
        if (error) std::rethrow_exception(error);
    }
};

// A fetch failed (Tornado's HTTPClientError). what() is "HTTP 404: Not
// Found"; code 599 means there was no response (see the module comment).
class HTTPClientError : public std::runtime_error {
public:
    // An empty message becomes the standard phrase for the code.
    explicit HTTPClientError(int code, std::string message = {},
                             std::shared_ptr<const HTTPResponse> response = nullptr,
                             std::exception_ptr cause = nullptr);

    // The status code; 599 when there was no response.
    int code() const noexcept { return code_; }
    // what() without its "HTTP 404: " (the subclasses' what() is the message
    // alone): the reason, or why there was no response.
    const std::string& message() const noexcept { return message_; }
    // The response, for a non-2xx code (its own `error` is empty).
    const std::shared_ptr<const HTTPResponse>& response() const noexcept { return response_; }
    // For 599: what went wrong underneath (a StreamClosedError, an
    // HTTPInputError, std::invalid_argument, ...), or nullptr.
    std::exception_ptr cause() const noexcept { return cause_; }

protected:
    struct MessageOnly {};
    // what() is the message alone, as Tornado's subclasses print.
    HTTPClientError(MessageOnly, int code, std::string message, std::exception_ptr cause);

private:
    int code_;
    std::string message_;
    std::shared_ptr<const HTTPResponse> response_;
    std::exception_ptr cause_;
};

// 599, "Timeout while connecting", "Timeout during request" or "Timeout in
// request queue".
class HTTPTimeoutError : public HTTPClientError {
public:
    explicit HTTPTimeoutError(std::string message);
};

// 599, "Stream closed": the server closed (or reset) before the response ended.
class HTTPStreamClosedError : public HTTPClientError {
public:
    explicit HTTPStreamClosedError(std::string message = "Stream closed",
                                   std::exception_ptr cause = nullptr);
};

// The client's own settings (Tornado's SimpleAsyncHTTPClient.initialize).
struct AsyncHTTPClientOptions {
    // Fetches at once; more wait in a queue.
    std::size_t max_clients = 10;
    // Most bytes a connection's stream holds.
    std::size_t max_buffer_size = 100 * 1024 * 1024;
    // Status line and headers of a response (each 1xx too), and the trailers.
    std::size_t max_header_size = 64 * 1024;
    // nullptr: a DefaultExecutorResolver (getaddrinfo on the loop's thread pool).
    std::shared_ptr<Resolver> resolver = nullptr;
    // Host names to send elsewhere ("example.com" -> "127.0.0.1"), for tests.
    std::map<std::string, std::string> hostname_mapping{};
    // Tornado's defaults: each field of a request still at HTTPRequest's
    // own default takes the value it has here (C++ cannot tell a field
    // left alone from one set to its default), and the headers here that
    // a request lacks are added to it. url, method and body are the
    // request's own.
    HTTPRequest defaults{};
};

class IOStream;

namespace detail {
struct HTTPClientState;
struct PendingFetch;

// What fetch_upgrade gives: the response, and, when it is 101 Switching
// Protocols, the connection, now the caller's.
struct UpgradedConnection {
    HTTPResponse response;
    std::shared_ptr<IOStream> stream;
};

// A fetch for a request that asks to switch protocols (the WebSocket
// handshake, websocket_connect): on a 101 answer the connection is handed
// over instead of closed. It runs on a client of its own (no max_clients
// queue) and fails as fetch() does with raise_error; a 2xx answer comes
// back with no stream.
Future<UpgradedConnection> fetch_upgrade(HTTPRequest request);
}  // namespace detail

// Tornado's AsyncHTTPClient (its SimpleAsyncHTTPClient): fetch() returns a
// Future at once.
class AsyncHTTPClient {
public:
    // Belongs to the current loop.
    explicit AsyncHTTPClient(AsyncHTTPClientOptions options = {});
    // close().
    ~AsyncHTTPClient();
    AsyncHTTPClient(const AsyncHTTPClient&) = delete;
    AsyncHTTPClient& operator=(const AsyncHTTPClient&) = delete;

    // Starts (or queues) the request. With raise_error, a failure fails the
    // Future with HTTPClientError; without it the Future always resolves
    // with a response (see the module comment). A request that breaks the
    // rules (bad URL, body on GET, ...) fails without connecting.
    // Cancelling the Future abandons the fetch and closes its connection.
    // Throws std::runtime_error if the client is closed.
    Future<HTTPResponse> fetch(HTTPRequest request, bool raise_error = true);
    Future<HTTPResponse> fetch(std::string url, bool raise_error = true);

    // Fails the queued fetches and ends those in progress (599, "Client
    // closed"), and closes the resolver if the client made it. Twice is fine.
    void close();

    // Fetches in progress, each holding one of the max_clients slots; for
    // monitoring and tests.
    std::size_t active_count() const noexcept;
    // Fetches waiting in the queue for a slot.
    std::size_t queued_count() const noexcept;

private:
    friend Future<detail::UpgradedConnection> detail::fetch_upgrade(HTTPRequest request);
    // Starts (or queues) a fetch made by fetch() or fetch_upgrade().
    void submit(const std::shared_ptr<detail::PendingFetch>& fetch);

    std::shared_ptr<detail::HTTPClientState> state_;
};

// Tornado's blocking HTTPClient: each fetch runs on a private IOLoop of its
// own, made and closed inside fetch(), so it works on a thread with no loop,
// inside a callback of a running loop, and never changes which loop is
// current for the caller.
class HTTPClient {
public:
    explicit HTTPClient(AsyncHTTPClientOptions options = {});
    HTTPClient(const HTTPClient&) = delete;
    HTTPClient& operator=(const HTTPClient&) = delete;

    // The response; throws HTTPClientError for a non-2xx code or no
    // response, unless raise_error is false.
    HTTPResponse fetch(HTTPRequest request, bool raise_error = true);
    HTTPResponse fetch(std::string url, bool raise_error = true);

    // fetch() throws std::runtime_error afterwards.
    void close() noexcept { closed_ = true; }

private:
    AsyncHTTPClientOptions options_;
    bool closed_ = false;
};

namespace detail {

// What every client of this header shares (AsyncHTTPClient, and the
// CurlAsyncHTTPClient add-on, tornado/curl_httpclient.h):
//
// The rules a request must meet before it is queued or sent: its method,
// body, URL, proxy and auth fields. Throws std::invalid_argument, which the
// clients turn into a 599. auth_mode "digest" is refused unless allowed.
void validate_request(const HTTPRequest& request, bool digest_allowed = false);
// AsyncHTTPClientOptions::defaults into `request` (Tornado's _RequestProxy).
void apply_defaults(HTTPRequest& request, const HTTPRequest& defaults);
// Resolves a fetch's Future as Tornado's fetch() does: `response` when
// there is one, but an HTTPClientError for a code outside 2xx (and 101
// unless accept_101), which fails the Future under raise_error and is the
// response's `error` without it; `error` alone when there is no response
// (a 599 response built from `request` without raise_error); neither:
// cancelled.
void resolve_fetch(Future<HTTPResponse>& result, bool raise_error, const HTTPRequest& request,
                   double request_time, std::optional<HTTPResponse> response,
                   std::exception_ptr error, bool accept_101 = false);
// How long a fetch may wait in the queue for a slot: the shorter of
// connect_timeout and request_timeout, of those set; nothing when neither
// is (it may wait for ever).
std::optional<IOLoop::Clock::duration> queue_wait(const HTTPRequest& request);
// Whether a code is a redirect Tornado follows (301, 302, 303, 307, 308).
bool is_redirect(int code);
// The next hop of a redirect, by Tornado's rules: `location` resolved
// against the request's URL; a 303 (but for HEAD), and a 301 or 302
// answering a POST, become a GET without the body; the others keep the
// method and body. A Host the caller set is dropped.
HTTPRequest redirected(const HTTPRequest& request, int code, std::string_view location);

// `reference` (a Location header) resolved against the absolute URL `base`,
// as RFC 3986 section 5.2 says (Python's urljoin): "/a/b/c" with "../d?x"
// gives "/a/d?x". The fragment is kept.
std::string urljoin(std::string_view base, std::string_view reference);

}  // namespace detail

}  // namespace tornado
