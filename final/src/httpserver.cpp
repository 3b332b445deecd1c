// httpserver.cpp: see tornado/httpserver.h for the contract.
#include "tornado/httpserver.h"

#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

#include "text.h"
#include "tornado/log.h"

namespace tornado {

namespace {

using detail::strip;

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
    return params;
}

}  // namespace

// --- the request delegates --------------------------------------------------------------------

// Collects a whole request for a callback (Tornado's _CallableAdapter).
class HTTPServer::CallableAdapter final : public HTTPMessageDelegate {
public:
    CallableAdapter(std::shared_ptr<Shared> shared, std::shared_ptr<HTTPConnection> connection,
                    HTTP1ServerConnection* server_connection)
        : shared_(std::move(shared)),
          connection_(std::move(connection)),
          server_connection_(server_connection) {}

    Future<void> headers_received(StartLine start_line, HTTPHeaders headers) override {
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
        Future<void> done = shared_->callback(std::move(request_));
        if (!done.valid()) return;
        if (done.done()) {
            // A coroutine that failed before it first waited: the connection
            // answers 500 as for any callback that throws.
            if (!done.cancelled() && done.exception()) std::rethrow_exception(done.exception());
            return;
        }
        done.add_done_callback([](Future<void> finished) {
            if (!finished.cancelled() && finished.exception()) {
                app_log.error("Uncaught exception in the request callback: {}",
                              describe_exception(finished.exception()));
            }
        });
    }

    void on_connection_close() override { request_.reset(); }

private:
    std::shared_ptr<Shared> shared_;
    std::shared_ptr<HTTPConnection> connection_;
    HTTP1ServerConnection* server_connection_;
    std::shared_ptr<HTTPServerRequest> request_;
};

// Applies a proxy's X- headers to the connection's context for one request
// (Tornado's _ProxyAdapter and _HTTPRequestContext._apply_xheaders).
class HTTPServer::ProxyAdapter final : public HTTPMessageDelegate {
public:
    ProxyAdapter(std::unique_ptr<HTTPMessageDelegate> delegate, std::shared_ptr<Shared> shared,
                 HTTPRequestContext* context)
        : delegate_(std::move(delegate)), shared_(std::move(shared)), context_(context) {}

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
        // ours (those append themselves); X-Real-Ip wins over it.
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
        if (is_valid_ip(ip)) context_->remote_ip = ip;

        std::string scheme = headers.contains("X-Scheme") ? headers.get("X-Scheme")
                             : headers.contains("X-Forwarded-Proto")
                                 ? headers.get("X-Forwarded-Proto")
                                 : std::string(context_->protocol);
        std::size_t comma = scheme.rfind(',');  // the last proxy's word
        std::string_view last =
            strip(comma == std::string::npos ? std::string_view(scheme)
                                             : std::string_view(scheme).substr(comma + 1));
        if (last == "http") context_->protocol = "http";
        if (last == "https") context_->protocol = "https";
    }

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
// that the connection can answer 431 before it closes.
IOStreamOptions stream_options(const HTTPServerOptions& options) {
    IOStreamOptions stream;
    stream.max_buffer_size = options.max_buffer_size;
    stream.close_on_read_limit = false;
    return stream;
}

}  // namespace

HTTPServer::HTTPServer(HTTPServerOptions options, RequestCallback callback)
    : TCPServer(stream_options(options)),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()) {
    shared_->callback = std::move(callback);
    init();
}

HTTPServer::HTTPServer(HTTPServerConnectionDelegate& delegate, HTTPServerOptions options)
    : TCPServer(stream_options(options)),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()),
      delegate_(&delegate) {
    init();
}

HTTPServer::HTTPServer(std::shared_ptr<HTTPServerConnectionDelegate> delegate,
                       HTTPServerOptions options)
    : TCPServer(stream_options(options)),
      options_(std::move(options)),
      shared_(std::make_shared<Shared>()),
      delegate_(delegate.get()),
      owned_delegate_(std::move(delegate)) {
    if (delegate_ == nullptr) throw std::invalid_argument("HTTPServer: no delegate");
    init();
}

void HTTPServer::init() {
    if (options_.protocol.empty() || options_.protocol == "http") {
        protocol_ = "http";
    } else if (options_.protocol == "https") {
        protocol_ = "https";
    } else {
        throw std::invalid_argument("HTTPServer: protocol must be \"http\" or \"https\", not \"" +
                                    options_.protocol + "\"");
    }
    params_ = params_from(options_);
    shared_->trusted_downstream = options_.trusted_downstream;
}

HTTPServer::~HTTPServer() {
    stop();
    if (loop_ != nullptr) {
        if (shutdown_hook_ != 0) loop_->remove_shutdown_hook(shutdown_hook_);
        if (grace_timer_armed_) loop_->remove_timeout(grace_timer_);
    }
    // The connections outlive the server only to unwind: they must not call it.
    std::vector<HTTP1ServerConnection*> open = std::move(connections_);
    connections_.clear();
    for (HTTP1ServerConnection* connection : open) {
        connection->delegate_ = nullptr;
        connection->server_ = nullptr;
        if (connection->stream_ && !connection->detached_) connection->stream_->close();
    }
    for (Future<void>& waiter : closed_waiters_) {
        if (!waiter.done()) waiter.set_result();
    }
}

Task<void> HTTPServer::handle_stream(std::shared_ptr<IOStream> stream, SocketAddress address) {
    if (loop_ == nullptr) {
        // Registered with the first connection, not in the constructor: a
        // server may be made before start() forks, when no loop may exist yet.
        loop_ = &IOLoop::current();
        shutdown_hook_ = loop_->add_shutdown_hook([this] {
            stop();
            return close_all_connections(options_.shutdown_grace);
        });
    }
    HTTPRequestContext context;
    if (address.family() == AF_INET || address.family() == AF_INET6)
        context.remote_ip = address.ip();
    context.protocol = protocol_;
    auto connection =
        std::make_shared<HTTP1ServerConnection>(std::move(stream), params_, std::move(context));
    connection->server_ = this;
    connection->server_slot_ = connections_.size();
    connections_.push_back(connection.get());
    try {
        connection->start_serving(*this);
    } catch (...) {
        forget(connection.get());
        throw;
    }
    co_return;
}

std::unique_ptr<HTTPMessageDelegate> HTTPServer::start_request(
    HTTP1ServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) {
    std::unique_ptr<HTTPMessageDelegate> delegate;
    if (delegate_ != nullptr) {
        delegate = delegate_->start_request(server_conn, std::move(request_conn));
    } else {
        delegate = std::make_unique<CallableAdapter>(shared_, std::move(request_conn), server_conn);
    }
    if (options_.xheaders) {
        delegate =
            std::make_unique<ProxyAdapter>(std::move(delegate), shared_, &server_conn->context());
    }
    return delegate;
}

void HTTPServer::on_close(HTTP1ServerConnection* server_conn) {
    if (delegate_ != nullptr) delegate_->on_close(server_conn);
    forget(server_conn);
}

void HTTPServer::forget(HTTP1ServerConnection* connection) noexcept {
    if (connection->server_ != this) return;
    std::size_t slot = connection->server_slot_;
    if (slot < connections_.size() && connections_[slot] == connection) {
        // Swap with the last and shrink: O(1), and no per-connection node.
        connections_[slot] = connections_.back();
        connections_[slot]->server_slot_ = slot;
        connections_.pop_back();
    }
    connection->server_ = nullptr;
    if (connections_.empty()) resolve_closed_waiters();
}

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

Future<void> HTTPServer::close_all_connections(IOLoop::Clock::duration grace) {
    Future<void> all_closed;
    if (connections_.empty()) {
        all_closed.set_result();
        return all_closed;
    }
    closed_waiters_.push_back(all_closed);
    // Shared handles: a connection must not vanish while we walk the list.
    std::vector<std::shared_ptr<HTTP1ServerConnection>> open;
    open.reserve(connections_.size());
    for (HTTP1ServerConnection* connection : connections_)
        open.push_back(connection->shared_from_this());
    if (grace <= IOLoop::Clock::duration::zero()) {
        for (auto& connection : open) connection->close();
        return all_closed;
    }
    for (auto& connection : open) connection->close_when_idle();
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
            std::vector<std::shared_ptr<HTTP1ServerConnection>> left;
            for (HTTP1ServerConnection* connection : connections_)
                left.push_back(connection->shared_from_this());
            for (auto& connection : left) connection->close();
        });
    }
    return all_closed;
}

}  // namespace tornado
