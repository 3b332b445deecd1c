// tornado/httpserver.h: a non-blocking, single-threaded HTTP server
// (Tornado's `tornado.httpserver`).
//
// A TCPServer whose handle_stream() serves each connection with an
// HTTP1ServerConnection. Requests go to a callback, or to an
// HTTPServerConnectionDelegate (web::Application is one):
//
//   tornado::HTTPServer server([](std::shared_ptr<tornado::HTTPServerRequest> request) {
//       tornado::HTTPHeaders headers{{"Content-Type", "text/plain"}, {"Content-Length", "12"}};
//       request->connection->write_headers({"HTTP/1.1", 200, "OK"}, headers, "Hello, world");
//       request->connection->finish();
//   });
//   server.listen(8888);
//   tornado::IOLoop::current().start();
//
// The callback runs on the loop and must not block. It may answer at once,
// or later (from a timer, a Future's callback; or it may be a coroutine
// lambda returning a Task): the connection waits for finish(). A callback
// gets the whole request, body read and form arguments parsed; an
// HTTPServerConnectionDelegate gets the request piece by piece and can
// stream bodies (stream_request_body).
//
// Options (Tornado's constructor arguments), for example
//
//   tornado::HTTPServer server(app, {.xheaders = true, .max_body_size = 10 << 20});
//
// * xheaders: behind a reverse proxy, take the client's address from
//   X-Real-Ip / X-Forwarded-For (the last address not in
//   trusted_downstream), and the scheme from X-Scheme / X-Forwarded-Proto,
//   for that request only;
// * no_keep_alive, chunk_size, max_header_size, max_body_size, body_timeout,
//   idle_connection_timeout (Tornado's default: an hour), max_buffer_size:
//   see HTTP1ConnectionParameters and IOStreamOptions;
// * http2: serve HTTP/2 too (tornado::http2, <tornado/http2.h>): by ALPN
//   over TLS, and in cleartext to a client that opens with HTTP/2's
//   preface or asks for it with "Upgrade: h2c". HTTP/1.1 clients are
//   served as before.
// * http3: serve HTTP/3 too (tornado::http3, <tornado/http3.h>), over UDP
//   on each address and port the server listens on, to the same
//   application; its HTTPS answers carry Alt-Svc: h3=":PORT", so browsers
//   come back over HTTP/3. It needs ssl_options (QUIC has no cleartext),
//   and one process: the UDP port is bound where accepting begins. Port 0
//   picks a number free for both TCP and UDP.
//
// Starting: listen(port), or bind(port) then start(n) for n processes (see
// TCPServer). Stopping gracefully: stop() stops accepting, and
// close_all_connections(grace) closes the idle connections at once, lets the
// requests in progress finish (their responses say "Connection: close")
// for at most `grace`, then closes what is left; its Future resolves when
// every connection is gone. IOLoop::graceful_stop (SIGINT / SIGTERM after
// install_signal_handlers) does both, with options.shutdown_grace.
//
// Destroy a server on its loop's thread, before the loop; its connections
// are closed then.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/gen.h"
#include "tornado/http1connection.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/netutil.h"
#include "tornado/tcpserver.h"
#include "tornado/util.h"

namespace tornado {

// HTTPServer's options (Tornado's constructor arguments), with Tornado's
// defaults. no_keep_alive, chunk_size, max_header_size, max_body_size,
// body_timeout and server_header are copied into the HTTP1ConnectionParameters
// every connection shares (see there), idle_connection_timeout as its
// header_timeout, decompress_request as its decompress. xheaders: see the
// file comment.
struct HTTPServerOptions {
    bool no_keep_alive = false;
    bool xheaders = false;
    // "http" or "https" (TLS ended by a proxy in front); empty: "https"
    // with ssl_options, else "http". Anything else: the constructor throws
    // std::invalid_argument.
    std::string protocol{};
    // Serve HTTPS: the certificate and key (see TCPServer).
    std::optional<SSLOptions> ssl_options{};
    std::size_t chunk_size = 64 * 1024;
    std::size_t max_header_size = 64 * 1024;
    // How long a connection may wait for a request head (idle keep-alive
    // connections included). Nothing: for ever.
    std::optional<IOLoop::Clock::duration> idle_connection_timeout = std::chrono::hours(1);
    std::optional<IOLoop::Clock::duration> body_timeout{};
    std::size_t max_body_size = 100 * 1024 * 1024;
    // The most a connection's stream buffers (IOStreamOptions).
    std::size_t max_buffer_size = 100 * 1024 * 1024;
    // Proxies whose addresses X-Forwarded-For may end with.
    std::vector<std::string> trusted_downstream{};
    std::string server_header = std::string(kDefaultServerHeader);
    // How long a graceful stop of the loop lets requests in progress run.
    IOLoop::Clock::duration shutdown_grace = std::chrono::seconds(5);
    // Inflate request bodies sent with Content-Encoding: gzip
    // (HTTP1ConnectionParameters::decompress).
    bool decompress_request = false;
    // Serve HTTP/2 as well (see the file comment). It is tornado::http2's:
    // link it and include <tornado/http2.h>, or the constructor throws
    // std::invalid_argument.
    bool http2 = false;
    // Streams an HTTP/2 or HTTP/3 client may have open at once.
    std::uint32_t http2_max_concurrent_streams = 100;
    // Serve HTTP/3 as well (see the file comment). It is tornado::http3's:
    // link it and include <tornado/http3.h>, or the constructor throws
    // std::invalid_argument; so does http3 without ssl_options.
    bool http3 = false;
};

namespace detail {

// How HTTPServer makes an HTTP/2 connection, given by tornado::http2 (its
// header registers it), so that a program that serves no HTTP/2 does not
// link it. `received`: what was read of the stream already;
// `alt_svc`: the Alt-Svc its answers carry (http3), or empty.
using HTTP2ConnectionFactory = std::shared_ptr<HTTPServerConnection> (*)(
    std::shared_ptr<IOStream> stream, std::string received, const HTTPServerOptions& options,
    HTTPRequestContext context, std::string_view alt_svc);
// Registers `factory`; returns true, for an inline variable to hold.
bool register_http2(HTTP2ConnectionFactory factory) noexcept;

// What HTTPServer asks of HTTP/3 (tornado::http3's HTTP3Server): serve
// over UDP on an address, and end its connections as
// HTTPServer::close_all_connections does.
class HTTP3Listener {
public:
    virtual ~HTTP3Listener() = default;
    virtual void listen(const SocketAddress& address) = 0;
    virtual Future<void> close_all_connections(IOLoop::Clock::duration grace) = 0;
};
// How HTTPServer makes its HTTP/3 listener, given by tornado::http3 (its
// header registers it), so that a program that serves no HTTP/3 does not
// link ngtcp2. The delegate is the HTTPServer: HTTP/3's requests go
// through it (xheaders, the callback) as the others do.
using HTTP3ListenerFactory = std::unique_ptr<HTTP3Listener> (*)(
    HTTPServerConnectionDelegate& delegate, const HTTPServerOptions& options);
bool register_http3(HTTP3ListenerFactory factory) noexcept;

// A function of the request that returns void, a Task or a Future, as one
// that returns a Future (an empty one for void): what HTTPServer's
// callback and an Application's function route (tornado/web.h) are called as.
template <typename F>
auto returning_future(F&& callback) {
    return
        [callback = std::forward<F>(callback)](std::shared_ptr<HTTPServerRequest> request) mutable {
            using R = std::invoke_result_t<std::decay_t<F>&, std::shared_ptr<HTTPServerRequest>>;
            if constexpr (std::is_void_v<R>) {
                callback(std::move(request));
                return Future<void>(nullptr);
            } else {
                return Future<void>(to_future(callback(std::move(request))));
            }
        };
}

// What a request callback's Future says, once the callback has returned:
// a failure already there is rethrown (the connection answers 500, as for
// a callback that throws), a later one is logged.
void settle_callback_result(Future<void> done);

}  // namespace detail

// The server of the file comment: a TCPServer that serves each connection it
// accepts with an HTTP1ServerConnection, and the delegate of all of them.
class HTTPServer : public TCPServer, public HTTPServerConnectionDelegate {
public:
    // What a callback is wrapped into. It is called once the body is read
    // and parsed (a malformed body gets a 400 without it), and owns the
    // response from then on: the connection waits for finish(), not for the
    // Future. The Future only reports an error: one already failed when
    // returned counts as a throw (a 500, unless the response has begun); a
    // later one is logged.
    using RequestCallback = Function<Future<void>(std::shared_ptr<HTTPServerRequest>)>;

    // With a function of the request: it returns void, a Task or a Future.
    template <typename F>
        requires(std::is_invocable_v<std::decay_t<F>&, std::shared_ptr<HTTPServerRequest>>)
    explicit HTTPServer(F&& callback, HTTPServerOptions options = {})
        : HTTPServer(std::move(options), wrap(std::forward<F>(callback))) {}
    // With an application; the reference must outlive the server.
    explicit HTTPServer(HTTPServerConnectionDelegate& delegate, HTTPServerOptions options = {});
    explicit HTTPServer(std::shared_ptr<HTTPServerConnectionDelegate> delegate,
                        HTTPServerOptions options = {});
    // Closes every connection still open.
    ~HTTPServer() override;

    // Closes the connections: with no grace, at once (Tornado's
    // close_all_connections); with a grace, idle ones at once and busy ones
    // after their response, or when the grace is over. The Future resolves
    // once every connection has ended. Call stop() first to accept no more.
    Future<void> close_all_connections(
        IOLoop::Clock::duration grace = IOLoop::Clock::duration::zero());

    // Connections open now.
    std::size_t connection_count() const noexcept { return connections_.size(); }
    const HTTPServerOptions& options() const noexcept { return options_; }

    // HTTPServerConnectionDelegate: what each connection calls.
    std::unique_ptr<HTTPMessageDelegate> start_request(
        HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) override;
    void on_close(HTTPServerConnection* server_conn) override;
    // A cleartext client that opened with HTTP/2's preface (with http2).
    void start_http2(std::shared_ptr<IOStream> stream, std::string received,
                     HTTPRequestContext context) override;

protected:
    Task<void> handle_stream(std::shared_ptr<IOStream> stream, SocketAddress address) override;
    // With http3: HTTP/3 on the same address, over UDP.
    void socket_added(const SocketAddress& address) override;
    // With http3: a port free for UDP too (BindOptions::udp_too).
    BindOptions bind_options(BindOptions asked) const override;

private:
    // What request delegates share with the server, and keep if it goes first.
    struct Shared {
        RequestCallback callback;
        std::vector<std::string> trusted_downstream;
    };
    class CallableAdapter;
    class ProxyAdapter;

    HTTPServer(HTTPServerOptions options, RequestCallback callback);
    void init();

    template <typename F>
    static RequestCallback wrap(F&& callback) {
        return detail::returning_future(std::forward<F>(callback));
    }

    void list(HTTPServerConnection* connection);
    // Lists `connection` and starts it serving, as one of ours.
    void serve(std::shared_ptr<HTTPServerConnection> connection);
    void forget(HTTPServerConnection* connection) noexcept;
    void resolve_closed_waiters();
    Future<void> close_tcp_connections(IOLoop::Clock::duration grace);

    HTTPServerOptions options_;
    std::shared_ptr<const HTTP1ConnectionParameters> params_;
    std::shared_ptr<Shared> shared_;
    HTTPServerConnectionDelegate* delegate_ =
        nullptr;  // the application, or nullptr for a callback
    std::shared_ptr<HTTPServerConnectionDelegate> owned_delegate_;
    std::string_view protocol_ = "http";

    std::vector<HTTPServerConnection*> connections_;  // each one's serving loop owns it
    std::vector<Future<void>> closed_waiters_;
    IOLoop* loop_ = nullptr;
    std::uint64_t shutdown_hook_ = 0;
    IOLoop::Timeout grace_timer_;
    bool grace_timer_armed_ = false;
    // With http3: the HTTP/3 listener, made with the first socket, and the
    // Alt-Svc value its TLS connections announce it with.
    std::unique_ptr<detail::HTTP3Listener> http3_;
    std::string alt_svc_;
};

}  // namespace tornado
