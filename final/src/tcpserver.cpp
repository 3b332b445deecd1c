// tcpserver.cpp: see tornado/tcpserver.h for the contract.
#include "tornado/tcpserver.h"

#include <stdexcept>

#include "tornado/log.h"
#include "tornado/process.h"

namespace tornado {

TCPServer::TCPServer(IOStreamOptions stream_options) : stream_options_(stream_options) {}

TCPServer::~TCPServer() {
    stop();
    if (shutdown_hook_ != 0 && loop_ != nullptr) loop_->remove_shutdown_hook(shutdown_hook_);
}

void TCPServer::listen(std::uint16_t port, std::string_view address, const BindOptions& options) {
    add_sockets(bind_sockets(port, address, options));
}

void TCPServer::add_sockets(std::vector<FileDescriptor> sockets) {
    for (FileDescriptor& socket : sockets) add_socket(std::move(socket));
}

void TCPServer::add_socket(FileDescriptor socket) {
    IOLoop& loop = IOLoop::current();
    if (loop_ != nullptr && loop_ != &loop) {
        throw std::logic_error("TCPServer: every socket of a server must be on one IOLoop");
    }
    loop_ = &loop;
    if (shutdown_hook_ == 0) {
        // A graceful stop begins by not taking new connections. (The hook
        // itself stays until the destructor: removing it from inside
        // would destroy it while it runs.)
        shutdown_hook_ = loop.add_shutdown_hook([this] {
            stop();
            return Future<void>(nullptr);
        });
    }
    Listener listener;
    listener.stop_accepting =
        add_accept_handler(socket.get(), [this](FileDescriptor connection, SocketAddress address) {
            handle_connection(std::move(connection), std::move(address));
        });
    listener.socket = std::move(socket);
    listeners_.push_back(std::move(listener));
}

void TCPServer::bind(std::uint16_t port, std::string_view address, const BindOptions& options) {
    std::vector<FileDescriptor> sockets = bind_sockets(port, address, options);
    if (started_) {
        add_sockets(std::move(sockets));
        return;
    }
    for (FileDescriptor& socket : sockets) pending_sockets_.push_back(std::move(socket));
}

void TCPServer::start(int num_processes, std::optional<int> max_restarts) {
    if (started_) throw std::logic_error("TCPServer::start: already started");
    started_ = true;
    // The sockets are bound before the fork, so every worker inherits them
    // and the kernel hands each connection to one of the processes accepting.
    if (num_processes != 1) fork_processes(num_processes, max_restarts);
    std::vector<FileDescriptor> sockets = std::move(pending_sockets_);
    pending_sockets_.clear();
    add_sockets(std::move(sockets));
}

void TCPServer::stop() {
    // Unregister first, close after: the descriptor must not be reused while
    // the loop still watches it.
    for (Listener& listener : listeners_) listener.stop_accepting();
    listeners_.clear();
}

std::vector<SocketAddress> TCPServer::addresses() const {
    std::vector<SocketAddress> found;
    for (const Listener& listener : listeners_)
        found.push_back(SocketAddress::local_of(listener.socket.get()));
    for (const FileDescriptor& socket : pending_sockets_)
        found.push_back(SocketAddress::local_of(socket.get()));
    return found;
}

std::uint16_t TCPServer::port() const {
    std::vector<SocketAddress> found = addresses();
    return found.empty() ? 0 : found.front().port();
}

Task<void> TCPServer::handle_stream(std::shared_ptr<IOStream>, SocketAddress) {
    throw std::logic_error("TCPServer: override handle_stream, or give the constructor a handler");
    co_return;
}

Future<void> TCPServer::serve(std::shared_ptr<IOStream>& stream, SocketAddress address) {
    if (handler_) return handler_(stream, std::move(address));
    return handle_stream(stream, std::move(address));
}

void TCPServer::handle_connection(FileDescriptor connection, SocketAddress address) {
    std::shared_ptr<IOStream> stream;
    try {
        stream = IOStream::create(std::move(connection), stream_options_);
    } catch (...) {
        app_log.error("Error making a stream for {}: {}", address,
                      describe_exception(std::current_exception()));
        return;
    }
    Future<void> done(nullptr);
    try {
        done = serve(stream, std::move(address));
    } catch (...) {
        app_log.error("Error in connection callback: {}",
                      describe_exception(std::current_exception()));
        stream->close();
        return;
    }
    if (!done.valid()) return;
    // A handler that failed leaves a connection nobody serves: close it. The
    // callback holds the stream weakly, so as not to keep it alive.
    future_add_done_callback(done, [weak = std::weak_ptr<IOStream>(stream)](Future<void> finished) {
        if (finished.cancelled()) return;
        std::exception_ptr error = finished.exception();
        if (!error) return;
        // CancelledError: the loop is closing under the handler; not a bug.
        if (!detail::is_cancelled_error(error)) {
            app_log.error("Exception in handle_stream: {}", describe_exception(error));
        }
        if (std::shared_ptr<IOStream> open = weak.lock()) open->close();
    });
}

}  // namespace tornado
