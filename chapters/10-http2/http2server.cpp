// http2server.cpp: see http2server.h.
#include "http2server.h"

#include <utility>

namespace course {

HTTP2Server::HTTP2Server(RequestCallback callback, IOLoop& loop, HTTP2ConnectionParameters params)
    : TCPServer(loop), callback_(std::move(callback)), params_(params) {}

HTTP2Server::~HTTP2Server() {
    for (const auto& connection : connections_) connection->set_close_callback({});
}

void HTTP2Server::handle_stream(std::shared_ptr<IOStream> stream, std::string address) {
    auto connection = std::make_shared<HTTP2Connection>(std::move(stream), std::move(address),
                                                        params_, callback_);
    connections_.insert(connection);
    // A weak pointer: the connection holds its callback, and must not hold
    // itself through it.
    connection->set_close_callback([this, weak = std::weak_ptr<HTTP2Connection>(connection)] {
        if (auto closed = weak.lock()) connection_closed(closed);
    });
    connection->start();
}

void HTTP2Server::connection_closed(const std::shared_ptr<HTTP2Connection>& connection) {
    connections_.erase(connection);
    if (connections_.empty() && on_stopped_) std::exchange(on_stopped_, {})();
}

void HTTP2Server::close_all_connections() {
    // A copy: each close() ends with connection_closed() erasing it.
    auto open = connections_;
    for (const auto& connection : open) connection->close();
}

// --- Task 4: graceful GOAWAY ----------------------------------------------------------------

void HTTP2Server::stop(std::function<void()> on_stopped) {
    TCPServer::stop();
    on_stopped_ = std::move(on_stopped);
    if (connections_.empty()) {
        if (on_stopped_) std::exchange(on_stopped_, {})();
        return;
    }
    auto open = connections_;
    for (const auto& connection : open) connection->close_when_idle();
}

}  // namespace course
