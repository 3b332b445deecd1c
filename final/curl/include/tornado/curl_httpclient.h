// tornado/curl_httpclient.h: Tornado's CurlAsyncHTTPClient, an HTTP client
// over libcurl's multi interface, running on the IOLoop. An add-on beside
// the framework (final/curl/): link tornado::curl, and libcurl comes with
// it; a program that does not use it does not link libcurl.
//
//   tornado::CurlAsyncHTTPClient client;
//   tornado::HTTPResponse page = co_await client.fetch("https://127.0.0.1:8443/");
//
// The same HTTPRequest, HTTPResponse and fetch() contract as
// AsyncHTTPClient (tornado/httpclient.h): a Future at once, at most
// max_clients transfers at a time and the rest queued in order, a
// non-2xx code an HTTPClientError holding the response, no response a 599
// (here a CurlError naming libcurl's error), raise_error = false for a
// Future that never fails, cancelling it to abandon the fetch, close() to
// end everything with 599 "Client closed". What libcurl adds, and where it
// differs (docs/reference/curl_httpclient.md lists each):
//
// * HTTP/2 to a server that offers it by ALPN over TLS, with the fetches
//   to one server multiplexed on one connection; HTTP/1.1 otherwise.
// * Connections kept alive between fetches, per client.
// * auth_mode "digest" besides "basic".
// * A body_producer is a 599 (libcurl cannot pull from it).
// * Timeouts and connection errors are CurlErrors with libcurl's text
//   ("Operation timed out after 100 milliseconds ..."), not
//   HTTPTimeoutError / HTTPStreamClosedError.
// * Over TLS, a body that only the server's close ends is taken whole
//   even when that close lacks close_notify (libcurl's choice); the
//   simple client refuses it.
//
// Two things are done as the simple client does them rather than by
// libcurl: redirects are followed by Tornado's rule (detail::redirected;
// libcurl keeps a PUT a PUT after a 303 and drops its body after a 302),
// with header_callback seeing the final response's head only; and a gzip
// body is inflated by the framework's GzipDecompressor (every member;
// max_body_size counts the inflated bytes), where libcurl's decoder stops
// after the first member.
//
// How libcurl runs on the loop (the multi "socket" API): libcurl tells
// which sockets it wants watched for what (CURLMOPT_SOCKETFUNCTION, mapped
// to IOLoop::add_handler, update_handler and remove_handler) and when it
// next needs the time (CURLMOPT_TIMERFUNCTION, mapped to one loop
// timeout); the loop calls curl_multi_socket_action when a socket is
// ready or the timeout is due, and each finished transfer becomes an
// HTTPResponse. libcurl never blocks the loop: name lookups run on its own
// threads.
//
// Threads: as AsyncHTTPClient, a client belongs to the loop that is
// current when it is made; close (or destroy) it before the loop.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "tornado/concurrent.h"
#include "tornado/httpclient.h"

namespace tornado {

// A transfer libcurl could not finish (Tornado's CurlError): code 599, the
// message libcurl's ("Could not resolve host: nowhere.invalid");
// curl_code() is its CURLcode (28 for a timeout, 7 for a refused connect).
class CurlError : public HTTPClientError {
public:
    CurlError(int curl_code, std::string message);
    int curl_code() const noexcept { return curl_code_; }

private:
    int curl_code_;
};

namespace detail {
struct CurlClientState;
}

// Tornado's CurlAsyncHTTPClient. The options are AsyncHTTPClient's; of
// them it uses max_clients, hostname_mapping (each name sent to the other
// address, on any port) and defaults. libcurl has its own resolver and
// limits: `resolver`, max_buffer_size and max_header_size are not used.
class CurlAsyncHTTPClient {
public:
    // Belongs to the current loop. Throws std::runtime_error if libcurl
    // cannot start.
    explicit CurlAsyncHTTPClient(AsyncHTTPClientOptions options = {});
    // close().
    ~CurlAsyncHTTPClient();
    CurlAsyncHTTPClient(const CurlAsyncHTTPClient&) = delete;
    CurlAsyncHTTPClient& operator=(const CurlAsyncHTTPClient&) = delete;

    // As AsyncHTTPClient::fetch. Throws std::runtime_error if closed.
    Future<HTTPResponse> fetch(HTTPRequest request, bool raise_error = true);
    Future<HTTPResponse> fetch(std::string url, bool raise_error = true);

    // Fails the queued fetches and ends those in progress (599, "Client
    // closed"). Twice is fine.
    void close();

    // Fetches in progress (each a libcurl transfer), and waiting for one.
    std::size_t active_count() const noexcept;
    std::size_t queued_count() const noexcept;

    // The version of the libcurl in use ("8.5.0"), and whether it can
    // speak HTTP/2.
    static std::string libcurl_version();
    static bool has_http2();

private:
    std::shared_ptr<detail::CurlClientState> state_;
};

}  // namespace tornado
