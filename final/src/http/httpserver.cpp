// httpserver.cpp: see tornado/httpserver.h for the contract.
//
// The server's own job is small: make an HTTP1ServerConnection for each
// accepted stream, hand each request to a delegate, and keep a list of the
// open connections so that a graceful stop can close them. The HTTP itself
// is in http1connection.cpp. Everything here runs on the loop's thread.
//
// Each request's delegate is built in layers by start_request():
//
//   ProxyAdapter (only with xheaders)  ->  the application's delegate,
//                                          or CallableAdapter for a callback
//
// Lifetimes: a connection is owned by its own serving loop, not by the
// server, which only lists raw pointers to it. The two forget each other
// whichever ends first: on_close() takes a finished connection off the list,
// and the destructor unhooks every connection still on it.
#include "tornado/httpserver.h"

#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

#include "core/text.h"
#include "tornado/log.h"

namespace tornado {

namespace {

using detail::strip;

// Made once per server and shared by all its connections (hence const and
// shared_ptr): the options are fixed once the server exists, and a
// connection should not carry its own copy of them. Tornado's
// idle_connection_timeout becomes the head timeout: it limits the wait
// for the next request, which is when a keep-alive connection is idle.
std::shared_ptr<const HTTP1ConnectionParameters> params_from(const HTTPServerOptions& options) {
    auto params = std::make_shared<HTTP1ConnectionParameters>();
    params->no_keep_alive = options.no_keep_alive;
    params->chunk_size = options.chunk_size;
    params->max_header_size = options.max_header_size;
    params->header_timeout = options.idle_connection_timeout;
    params->max_body_size = options.max_body_size;
    params->body_timeout = options.body_timeout;
    params->server_header = options.server_header;
    params->decompress = options.decompress_request;
    params->http2 = options.http2;
    return params;
}

// With http2, ALPN offers h2 first: a client that offers it too speaks
// HTTP/2 from its first byte, the others HTTP/1.1 as before.
std::optional<SSLOptions> tls_options(const HTTPServerOptions& options) {
    std::optional<SSLOptions> tls = options.ssl_options;
    if (tls && options.http2) tls->alpn_protocols = {"h2", "http/1.1"};
    return tls;
}

detail::HTTP2ConnectionFactory& http2_factory() {
    static detail::HTTP2ConnectionFactory factory = nullptr;
    return factory;
}

detail::HTTP3ListenerFactory& http3_factory() {
    static detail::HTTP3ListenerFactory factory = nullptr;
    return factory;
}

}  // namespace

// --- the request delegates --------------------------------------------------------------------

void detail::settle_callback_result(Future<void> done) {
    if (!done.valid()) return;
    if (done.done()) {
        // A coroutine that failed before it first waited: the connection
        // answers 500 as for any callback that throws.
        if (!done.cancelled() && done.exception()) std::rethrow_exception(done.exception());
        return;
    }
    // Failing later, the coroutine can only be logged: by then the call
    // has returned. If it had not finished the response, nothing will: the
    // connection waits for a finish() that never comes, as in Tornado
    // (whose adapter ignores the return value altogether). Logging here
    // also marks the exception as retrieved, so it is not logged a second
    // time as "never retrieved".
    done.add_done_callback([](Future<void> finished) {
        if (!finished.cancelled() && finished.exception()) {
            app_log.error("Uncaught exception in the request callback: {}",
                          describe_exception(finished.exception()));
        }
    });
}

// Collects a whole request for a callback (Tornado's _CallableAdapter).
// One per request, made by start_request and owned by the connection until
// the request ends. `shared_` (not the server) gives it the callback, so an
// adapter still running after its server is destroyed calls nothing freed.
class HTTPServer::CallableAdapter final : public HTTPMessageDelegate {
public:
    CallableAdapter(std::shared_ptr<Shared> shared, std::shared_ptr<HTTPConnection> connection,
                    HTTPServerConnection* server_connection)
        : shared_(std::move(shared)),
          connection_(std::move(connection)),
          server_connection_(server_connection) {}

    Future<void> headers_received(StartLine start_line, HTTPHeaders headers) override {
        // The request copies remote_ip and protocol from the connection's
        // context now, after a ProxyAdapter has applied the X- headers, so it
        // keeps the client's address after they are undone. turn_time() is the
        // start time: the loop's time for this turn saves a clock read.
        // Returning an empty Future means "ready for the body at once".
        request_ = std::make_shared<HTTPServerRequest>(
            std::get<RequestStartLine>(std::move(start_line)), std::move(headers),
            std::move(connection_), server_connection_, IOLoop::current().turn_time());
        return Future<void>(nullptr);
    }

    Future<void> data_received(std::string chunk) override {
        if (request_->body.empty()) {
            request_->body = std::move(chunk);  // most bodies come in one piece: no copy
        } else {
            request_->body += chunk;
        }
        return Future<void>(nullptr);
    }

    void finish() override {
        request_->parse_body();  // HTTPInputError: 400
        // The callback's Future, or an empty one for a callback returning
        // void. The request goes with it: from here the callback owns the
        // response, and the connection waits for its finish().
        detail::settle_callback_result(shared_->callback(std::move(request_)));
    }

    // The client left mid-request: drop what was collected (Tornado deletes its
    // chunks). A request already handed to the callback is not ours any more.
    void on_connection_close() override { request_.reset(); }

private:
    std::shared_ptr<Shared> shared_;
    std::shared_ptr<HTTPConnection> connection_;
    HTTPServerConnection* server_connection_;
    std::shared_ptr<HTTPServerRequest> request_;
};

// Applies a proxy's X- headers to the request's context for one request
// (Tornado's _ProxyAdapter and _HTTPRequestContext._apply_xheaders).
// `context_` outlives this adapter: over HTTP/1 it is the connection's own,
// and only one request is in progress on a connection at a time, so
// changing it for the length of one request affects no other; over HTTP/2
// it is the stream's copy (HTTPConnection::mutable_context).
class HTTPServer::ProxyAdapter final : public HTTPMessageDelegate {
public:
    ProxyAdapter(std::unique_ptr<HTTPMessageDelegate> delegate, std::shared_ptr<Shared> shared,
                 HTTPRequestContext* context)
        : delegate_(std::move(delegate)), shared_(std::move(shared)), context_(context) {}

    // Before the inner delegate sees the head, which is when it makes the
    // request object from the context.
    Future<void> headers_received(StartLine start_line, HTTPHeaders headers) override {
        apply(headers);
        return delegate_->headers_received(std::move(start_line), std::move(headers));
    }
    Future<void> data_received(std::string chunk) override {
        return delegate_->data_received(std::move(chunk));
    }
    void finish() override {
        Restore restore{this};
        delegate_->finish();
    }
    void on_connection_close() override {
        Restore restore{this};
        delegate_->on_connection_close();
    }

private:
    // Undoes apply() however the delegate's call ends: the next request on
    // the connection must not inherit this one's proxy headers.
    struct Restore {
        ProxyAdapter* adapter;
        ~Restore() { adapter->unapply(); }
    };

    void apply(const HTTPHeaders& headers) {
        saved_ip_ = context_->remote_ip;
        saved_protocol_ = context_->protocol;
        applied_ = true;
        // The last address of X-Forwarded-For that is not a trusted proxy of
        // ours (those append themselves); X-Real-Ip wins over it. Each proxy
        // appends the address it got the request from, so only the end of the
        // list was written by proxies we trust; whatever comes before it the
        // client could have sent itself. Walked right to left, as Tornado's
        // reversed(split(",")): if every entry is trusted, the first one is
        // taken.
        std::string forwarded = headers.get("X-Forwarded-For", context_->remote_ip);
        std::string ip;
        std::string_view rest = forwarded;
        for (;;) {
            std::size_t comma = rest.rfind(',');
            std::string_view candidate =
                strip(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
            ip.assign(candidate);
            const auto& trusted = shared_->trusted_downstream;
            if (std::find(trusted.begin(), trusted.end(), ip) == trusted.end()) break;
            if (comma == std::string_view::npos) break;
            rest = rest.substr(0, comma);
        }
        if (headers.contains("X-Real-Ip")) ip = headers.get("X-Real-Ip");
        // A header value is client-controlled text: anything that is not an IP
        // address is ignored rather than logged and shown as one.
        if (is_valid_ip(ip)) context_->remote_ip = ip;

        std::string scheme = headers.contains("X-Scheme") ? headers.get("X-Scheme")
                             : headers.contains("X-Forwarded-Proto")
                                 ? headers.get("X-Forwarded-Proto")
                                 : std::string(context_->protocol);
        // Only "http" and "https" are stored: the context's protocol is a
        // string_view that must point to static storage (see httputil.h), and
        // full_url() is built from it.
        std::size_t comma = scheme.rfind(',');  // the last proxy's word
        std::string_view last =
            strip(comma == std::string::npos ? std::string_view(scheme)
                                             : std::string_view(scheme).substr(comma + 1));
        if (last == "http") context_->protocol = "http";
        if (last == "https") context_->protocol = "https";
    }

    // applied_ guards against the on_connection_close of a request whose head
    // never arrived, when there is nothing to undo.
    void unapply() {
        if (!applied_) return;
        applied_ = false;
        context_->remote_ip = std::move(saved_ip_);
        context_->protocol = saved_protocol_;
    }

    std::unique_ptr<HTTPMessageDelegate> delegate_;
    std::shared_ptr<Shared> shared_;
    HTTPRequestContext* context_;
    std::string saved_ip_;
    std::string_view saved_protocol_;
    bool applied_ = false;
};

// --- the server -------------------------------------------------------------------------------

namespace {

// A head over max_header_size fails its read but leaves the stream open, so
// that the connection can answer 431 before it closes. (Tornado closes the
// stream and the client gets no answer at all.)
IOStreamOptions stream_options(const HTTPServerOptions& options) {
    IOStreamOptions stream;
    stream.max_buffer_size = options.max_buffer_size;
    stream.close_on_read_limit = false;
    return stream;
}

}  // namespace

bool detail::register_http2(HTTP2ConnectionFactory factory) noexcept {
    http2_factory() = factory;
    return true;
}

bool detail::register_http3(HTTP3ListenerFactory factory) noexcept {
    http3_factory() = factory;
    return true;
}

HTTPServer::HTTPServer(HTTPServerOptions options, RequestCallback callback)
    : TCPServer(stream_options(options), tls_options(options)),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()) {
    shared_->callback = std::move(callback);
    init();
}

HTTPServer::HTTPServer(HTTPServerConnectionDelegate& delegate, HTTPServerOptions options)
    : TCPServer(stream_options(options), tls_options(options)),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()),
      delegate_(&delegate) {
    init();
}

HTTPServer::HTTPServer(std::shared_ptr<HTTPServerConnectionDelegate> delegate,
                       HTTPServerOptions options)
    : TCPServer(stream_options(options), tls_options(options)),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()),
      delegate_(delegate.get()),
      owned_delegate_(std::move(delegate)) {
    if (delegate_ == nullptr) throw std::invalid_argument("HTTPServer: no delegate");
    init();
}

// What the three constructors share. A protocol other than http or https
// would go into every request's full_url(), so it is refused here, at
// start-up, rather than served wrong.
void HTTPServer::init() {
    if (options_.protocol.empty()) {
        protocol_ = options_.ssl_options ? "https" : "http";
    } else if (options_.protocol == "http") {
        protocol_ = "http";
    } else if (options_.protocol == "https") {
        protocol_ = "https";
    } else {
        throw std::invalid_argument("HTTPServer: protocol must be \"http\" or \"https\", not \"" +
                                    options_.protocol + "\"");
    }
    if (options_.http2 && http2_factory() == nullptr) {
        throw std::invalid_argument(
            "HTTPServer: http2 is served by tornado::http2: link it, and include <tornado/http2.h> "
            "in the file that sets the option");
    }
    if (options_.http3 && http3_factory() == nullptr) {
        throw std::invalid_argument(
            "HTTPServer: http3 is served by tornado::http3: link it, and include <tornado/http3.h> "
            "in the file that sets the option");
    }
    if (options_.http3 && !options_.ssl_options) {
        throw std::invalid_argument(
            "HTTPServer: http3 needs ssl_options (a certificate and key): QUIC has no cleartext");
    }
    params_ = params_from(options_);
    shared_->trusted_downstream = options_.trusted_downstream;
}

// Runs on the loop's thread, before the loop goes (see the header). The
// loop's hook and timer capture `this`, so they must go first. Then every
// open connection is cut loose: connections are owned by their serving
// loops and may outlive this object while they unwind, so their pointers
// back to the server (delegate_) are cleared before they can
// call on_close() on freed memory. A detached connection's stream belongs
// to whoever took it (a WebSocket), so it is left open.
HTTPServer::~HTTPServer() {
    stop();
    http3_.reset();  // its connections end at once, while the server they call still lives
    if (loop_ != nullptr) {
        if (shutdown_hook_ != 0) loop_->remove_shutdown_hook(shutdown_hook_);
        if (grace_timer_armed_) loop_->remove_timeout(grace_timer_);
    }
    // The connections outlive the server only to unwind: they must not call it.
    std::vector<HTTPServerConnection*> open = std::move(connections_);
    connections_.clear();
    for (HTTPServerConnection* connection : open) {
        connection->server_slot() = HTTPServerConnection::kNotListed;
        connection->server_gone();
    }
    // No connection can report its end to us any more: whoever waits in
    // close_all_connections is released now.
    for (Future<void>& waiter : closed_waiters_) {
        if (!waiter.done()) waiter.set_result();
    }
}

// TCPServer's hook for each accepted connection. A Task only because the
// interface asks for one: it never suspends, as the connection serves
// itself from here on. A Unix-socket peer has no IP address: the context
// keeps its "0.0.0.0" default, as Tornado does.
Task<void> HTTPServer::handle_stream(std::shared_ptr<IOStream> stream, SocketAddress address) {
    if (loop_ == nullptr) {
        // Registered with the first connection, not in the constructor: a
        // server may be made before start() forks, when no loop may exist yet.
        loop_ = &IOLoop::current();
        // IOLoop::graceful_stop calls this and waits for the Future it
        // returns. `this` is safe: the destructor removes the hook.
        shutdown_hook_ = loop_->add_shutdown_hook([this] {
            stop();
            return close_all_connections(options_.shutdown_grace);
        });
    }
    HTTPRequestContext context;
    if (address.family() == AF_INET || address.family() == AF_INET6)
        context.remote_ip = address.ip();
    context.protocol = protocol_;
    // Over TLS, ALPN says which protocol the client speaks, once the
    // handshake is over: only then can the connection be made. (Without
    // http2 it is HTTP/1.1 whatever, and the handshake happens as the
    // first request is read.)
    auto* tls = options_.http2 ? dynamic_cast<SSLIOStream*>(stream.get()) : nullptr;
    if (tls != nullptr) {
        try {
            co_await tls->wait_for_handshake();
        } catch (const StreamClosedError&) {
            co_return;  // the handshake failed: the stream has closed itself
        }
        if (tls->selected_alpn_protocol() == "h2") {
            serve(http2_factory()(std::move(stream), {}, options_, std::move(context), alt_svc_));
            co_return;
        }
    }
    serve(std::make_shared<HTTP1ServerConnection>(std::move(stream), params_, std::move(context)));
}

// HTTP/3 listens on the UDP port of each TCP socket's number, at the
// same address. The listener is made with the first socket, on the loop
// that accepts; Alt-Svc names the port (all sockets share one, as
// bind_sockets makes them).
void HTTPServer::socket_added(const SocketAddress& address) {
    if (!options_.http3 || (address.family() != AF_INET && address.family() != AF_INET6)) return;
    if (!http3_) http3_ = http3_factory()(*this, options_);
    http3_->listen(address);
    alt_svc_ = "h3=\":" + std::to_string(address.port()) + "\"";
    // Connections made from now on announce it: no connection exists yet,
    // for none is accepted before this returns.
    auto params = std::make_shared<HTTP1ConnectionParameters>(*params_);
    params->alt_svc = alt_svc_;
    params_ = std::move(params);
}

// Port 0 picks a TCP port; HTTP/3 then needs the same number on UDP,
// where a client may hold it.
BindOptions HTTPServer::bind_options(BindOptions asked) const {
    asked.udp_too = asked.udp_too || options_.http3;
    return asked;
}

// A cleartext client whose first head was HTTP/2's preface: its HTTP/1
// connection has ended, and the stream goes on over HTTP/2.
void HTTPServer::start_http2(std::shared_ptr<IOStream> stream, std::string received,
                             HTTPRequestContext context) {
    serve(http2_factory()(std::move(stream), std::move(received), options_, std::move(context),
                          alt_svc_));
}

// If start_serving throws (it should not, short of running out of memory),
// the connection never started and nobody will call on_close, so the list
// entry is removed here.
void HTTPServer::serve(std::shared_ptr<HTTPServerConnection> connection) {
    list(connection.get());
    try {
        connection->start_serving(*this);
    } catch (...) {
        forget(connection.get());
        throw;
    }
}

// Called by a connection for each request. The ProxyAdapter goes outside,
// so the X- headers are applied before the inner delegate sees the head,
// and undone once its finish() returns (the request has its own copy).
std::unique_ptr<HTTPMessageDelegate> HTTPServer::start_request(
    HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) {
    // The context the request reads its origin from: the one xheaders
    // rewrites (a test's connection may have none: then the server
    // connection's).
    HTTPRequestContext* context = request_conn ? request_conn->mutable_context() : nullptr;
    if (context == nullptr) context = &server_conn->context();
    std::unique_ptr<HTTPMessageDelegate> delegate;
    if (delegate_ != nullptr) {
        delegate = delegate_->start_request(server_conn, std::move(request_conn));
    } else {
        delegate = std::make_unique<CallableAdapter>(shared_, std::move(request_conn), server_conn);
    }
    if (options_.xheaders) {
        delegate = std::make_unique<ProxyAdapter>(std::move(delegate), shared_, context);
    }
    return delegate;
}

// Called once by each connection, when its serving loop ends (never after
// the destructor, which clears the connection's delegate_).
void HTTPServer::on_close(HTTPServerConnection* server_conn) {
    if (delegate_ != nullptr) delegate_->on_close(server_conn);
    forget(server_conn);
}

// Puts a connection on the list. It remembers its index in connections_,
// so that forget() can take it out in O(1), even with many thousands open.
void HTTPServer::list(HTTPServerConnection* connection) {
    connection->server_slot() = static_cast<std::uint32_t>(connections_.size());
    connections_.push_back(connection);
}

// Takes a connection off the list. noexcept: it runs in a catch block and
// on the way out of a connection, where an exception would have nowhere
// sensible to go. The check makes a second call for the same connection
// harmless.
void HTTPServer::forget(HTTPServerConnection* connection) noexcept {
    std::uint32_t slot = connection->server_slot();
    if (slot >= connections_.size() || connections_[slot] != connection) return;
    // Swap with the last and shrink: O(1), and no per-connection node.
    connections_[slot] = connections_.back();
    connections_[slot]->server_slot() = slot;
    connections_.pop_back();
    connection->server_slot() = HTTPServerConnection::kNotListed;
    if (connections_.empty()) resolve_closed_waiters();
}

// Every connection is gone: the grace timer has nothing left to do, and
// each close_all_connections Future is resolved. The list is moved out
// first, so the member is empty and ready for the next call whatever
// happens while the waiters are resolved.
void HTTPServer::resolve_closed_waiters() {
    if (grace_timer_armed_ && loop_ != nullptr) {
        loop_->remove_timeout(grace_timer_);
        grace_timer_armed_ = false;
    }
    std::vector<Future<void>> waiters = std::move(closed_waiters_);
    closed_waiters_.clear();
    for (Future<void>& waiter : waiters) {
        if (!waiter.done()) waiter.set_result();
    }
}

// The TCP connections (close_tcp_connections) and, with HTTP/3, its
// connections alongside (GOAWAY, then CONNECTION_CLOSE once idle or when
// the grace is over); the Future waits for both.
Future<void> HTTPServer::close_all_connections(IOLoop::Clock::duration grace) {
    Future<void> tcp = close_tcp_connections(grace);
    if (!http3_) return tcp;
    Future<void> quic = http3_->close_all_connections(grace);
    return detail::to_future([](Future<void> first, Future<void> second) -> Task<void> {
        co_await first;
        co_await second;
    }(std::move(tcp), std::move(quic)));
}

// The Future resolves through resolve_closed_waiters(), when forget()
// empties the list; the connections end at their own pace. With a grace,
// idle connections close at once and busy ones after their response
// (which says Connection: close); a timer closes whatever is left when
// the grace is over.
Future<void> HTTPServer::close_tcp_connections(IOLoop::Clock::duration grace) {
    Future<void> all_closed;
    if (connections_.empty()) {
        all_closed.set_result();
        return all_closed;
    }
    closed_waiters_.push_back(all_closed);
    // Shared handles: a connection must not vanish while we walk the list.
    std::vector<std::shared_ptr<HTTPServerConnection>> open;
    open.reserve(connections_.size());
    for (HTTPServerConnection* connection : connections_)
        open.push_back(connection->shared_handle());
    if (grace <= IOLoop::Clock::duration::zero()) {
        for (auto& connection : open) connection->close();
        return all_closed;
    }
    for (auto& connection : open) connection->close_when_idle();
    // One timer for all callers: a second call while it is armed keeps the
    // first call's deadline, even if its own grace is shorter. `this` in the
    // timer is safe: the destructor removes it.
    if (!grace_timer_armed_) {
        IOLoop& loop = loop_ != nullptr ? *loop_ : IOLoop::current();
        loop_ = &loop;
        grace_timer_armed_ = true;
        grace_timer_ = loop.call_later(grace, [this] {
            grace_timer_armed_ = false;
            if (!connections_.empty()) {
                gen_log.info("Closing {} connections still busy after the shutdown grace period",
                             connections_.size());
            }
            // A copy of the list, as above: each close() may end a connection
            // and take it off connections_ while we walk.
            std::vector<std::shared_ptr<HTTPServerConnection>> left;
            for (HTTPServerConnection* connection : connections_)
                left.push_back(connection->shared_handle());
            for (auto& connection : left) connection->close();
        });
    }
    return all_closed;
}

}  // namespace tornado
