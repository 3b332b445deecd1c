// httpclient.h: a small asynchronous HTTP/1.1 client whose fetch() returns
// a Future. Tornado's tornado.httpclient.AsyncHTTPClient, cut down:
//
//   AsyncHTTPClient client(loop);
//   client.fetch("http://127.0.0.1:8888/").add_done_callback([](Future<HTTPResponse> f) {
//       try {
//           std::printf("%d %s\n", f.result().code, f.result().body.c_str());
//       } catch (const std::exception& error) {  // refused, timed out, 404, ...
//           std::printf("failed: %s\n", error.what());
//       }
//   });
//
// What it does: http:// URLs to IPv4 literals and "localhost" (no DNS, no
// TLS); any method, with optional headers and body; one new connection per
// request (Connection: close); bodies framed by Content-Length, chunked
// encoding, or the server's close; one time limit for the whole request.
// What it does not: redirects, keep-alive, compression, proxies (final/'s
// client adds the first three).
//
// How a fetch fails (the Future holds the exception):
//   - a response outside 200-299: HTTPClientError (code(), response()),
//     unless raise_error is false: then the Future holds the response, with
//     the same error in response.error;
//   - no answer within request_timeout: HTTPTimeoutError (code 599);
//   - a refused connection: std::system_error ("connect ...: Connection refused");
//   - a malformed response: HTTPInputError; a bad URL: std::invalid_argument;
//   - the server closing mid-response: StreamClosedError.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include <future.h>  // <> on purpose: see "Includes" in future.h
#include "httputil.h"
#include "ioloop.h"

namespace course {

// What to fetch. An aggregate, so designated initializers read well:
//   client.fetch(HTTPRequest{.url = url, .method = "POST", .body = "a=1"});
struct HTTPRequest {
    std::string url{};
    std::string method = "GET";
    HTTPHeaders headers{};  // sent after ours (Host, Connection, Content-Length), replacing them
    std::string body{};
    std::chrono::milliseconds request_timeout = std::chrono::seconds(20);  // Tornado's default
};

struct HTTPResponse {
    int code = 0;                  // 200
    std::string reason;            // "OK"
    HTTPHeaders headers;
    std::string body;              // chunked encoding removed
    std::string effective_url;     // the URL fetched
    std::chrono::steady_clock::duration request_time{};  // from fetch() to the last byte
    // HTTPClientError for a code outside 200-299, else null.
    std::exception_ptr error;

    // Throws `error` if there is one (Tornado's HTTPResponse.rethrow()).
    void rethrow() const {
        if (error) std::rethrow_exception(error);
    }
};

// A response with a code outside 200-299, or no response (599: timeout).
// what() is "HTTP 404: Not Found".
class HTTPClientError : public std::runtime_error {
public:
    HTTPClientError(int code, const std::string& message,
                    std::shared_ptr<const HTTPResponse> response = nullptr)
        : std::runtime_error("HTTP " + std::to_string(code) + ": " + message),
          code_(code),
          response_(std::move(response)) {}

    int code() const { return code_; }
    // The response that caused the error (null for a timeout).
    const std::shared_ptr<const HTTPResponse>& response() const { return response_; }

private:
    int code_;
    std::shared_ptr<const HTTPResponse> response_;
};

// The request did not finish within request_timeout.
class HTTPTimeoutError : public HTTPClientError {
public:
    explicit HTTPTimeoutError(const std::string& message) : HTTPClientError(599, message) {}
};

class AsyncHTTPClient {
public:
    // Limits on what a server may send back.
    static constexpr std::size_t kMaxHeaderSize = 64 * 1024;
    static constexpr std::size_t kMaxBodySize = 100 * 1024 * 1024;  // Tornado's default

    explicit AsyncHTTPClient(IOLoop& loop = IOLoop::current()) : loop_(loop) {}

    // Starts the request and returns at once. With raise_error = false, a
    // response outside 200-299 is a result (see response.error), not an
    // exception; failures without a response are exceptions either way.
    Future<HTTPResponse> fetch(HTTPRequest request, bool raise_error = true);
    Future<HTTPResponse> fetch(const std::string& url, bool raise_error = true);

    // The client keeps nothing of a fetch: destroying it does not stop the
    // fetches it started.

private:
    IOLoop& loop_;
};

}  // namespace course
