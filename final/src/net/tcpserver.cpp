// tcpserver.cpp: see tornado/tcpserver.h for the contract.
//
// A new connection's path: the listening socket is readable ->
// netutil's accept_batch -> accept4 -> handle_connection (an IOStream is
// made) -> serve -> the application's handle_stream. Everything runs on the
// loop's thread. The server does not keep the connections it hands out:
// whoever holds the IOStream keeps the connection open.
#include "tornado/tcpserver.h"

#include <stdexcept>

#include "tornado/log.h"
#include "tornado/process.h"

namespace tornado {

TCPServer::TCPServer(IOStreamOptions stream_options, std::optional<SSLOptions> ssl_options)
    : stream_options_(stream_options) {
    if (!ssl_options) return;
    ssl_context_ = ssl_options_to_context(*ssl_options, true);
    handshake_timeout_ = ssl_options->handshake_timeout;
}

// Both the accept callbacks and the shutdown hook capture `this`: stop()
// guarantees the former never run again, and the hook is removed, so
// neither can reach a destroyed server. This is why a server must be
// destroyed before its loop (the hook lives in the loop).
TCPServer::~TCPServer() {
    stop();
    if (shutdown_hook_ != 0 && loop_ != nullptr) loop_->remove_shutdown_hook(shutdown_hook_);
}

void TCPServer::listen(std::uint16_t port, std::string_view address, const BindOptions& options) {
    add_sockets(bind_sockets(port, address, bind_options(options)));
}

void TCPServer::add_sockets(std::vector<FileDescriptor> sockets) {
    for (FileDescriptor& socket : sockets) add_socket(std::move(socket));
}

// Where accepting starts (listen, add_sockets and start all end here). The
// loop is IOLoop::current() at this moment, which after start() is the
// worker's own loop: hence "make no IOLoop before start()".
void TCPServer::add_socket(FileDescriptor socket) {
    IOLoop& loop = IOLoop::current();
    // One shutdown hook and one loop_ to remove it from: a server spread
    // over two loops could not be stopped or destroyed safely.
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
    // `this` in the callback is safe: stop() (and so the destructor) calls
    // stop_accepting, after which the callback is never called again.
    Listener listener;
    listener.stop_accepting =
        add_accept_handler(socket.get(), [this](FileDescriptor connection, SocketAddress address) {
            handle_connection(std::move(connection), std::move(address));
        });
    SocketAddress address = SocketAddress::local_of(socket.get());
    listener.socket = std::move(socket);
    listeners_.push_back(std::move(listener));
    socket_added(address);
}

void TCPServer::socket_added(const SocketAddress& /*address*/) {}

BindOptions TCPServer::bind_options(BindOptions asked) const { return asked; }

// Bound now, in the parent, so that the workers fork_processes makes
// inherit the sockets (and so that a bind error is reported once, before
// any fork). After start(), there is no fork to wait for: accept at once.
void TCPServer::bind(std::uint16_t port, std::string_view address, const BindOptions& options) {
    std::vector<FileDescriptor> sockets = bind_sockets(port, address, bind_options(options));
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
    // In the parent (num_processes 1) or in each worker (fork_processes
    // returns only there). clear(): a moved-from vector is valid but not
    // promised to be empty.
    std::vector<FileDescriptor> sockets = std::move(pending_sockets_);
    pending_sockets_.clear();
    add_sockets(std::move(sockets));
}

// Safe from inside handle_stream, that is from inside an accept callback:
// add_accept_handler's stop function allows it, and accept_batch checks
// `removed` before its next accept4, so it never touches the descriptor
// closed here. Sockets bound but not started (pending_sockets_) are left
// alone.
void TCPServer::stop() {
    // Unregister first, close after: the descriptor must not be reused while
    // the loop still watches it.
    for (Listener& listener : listeners_) listener.stop_accepting();
    listeners_.clear();
}

// Pending sockets count too: after bind(port 0) and before start(), the
// port the kernel chose is already known.
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

// The co_return makes this a coroutine, so the throw is stored in the Task
// rather than thrown at serve(): it takes the same path as any failing
// handle_stream (logged, connection closed; see handle_connection).
Task<void> TCPServer::handle_stream(std::shared_ptr<IOStream>, SocketAddress) {
    throw std::logic_error("TCPServer: override handle_stream, or give the constructor a handler");
    co_return;
}

// The stream by reference: the handler gets its own copy of the pointer,
// and handle_connection keeps its own for the error paths.
Future<void> TCPServer::serve(std::shared_ptr<IOStream>& stream, SocketAddress address) {
    if (handler_) return handler_(stream, std::move(address));
    return handle_stream(stream, std::move(address));
}

// Tornado's TCPServer._handle_connection. Called by the accept callback,
// once per accepted connection. Nothing thrown may escape: it would go up through
// accept_batch into the loop and end the batch, for a fault of one
// connection.
void TCPServer::handle_connection(FileDescriptor connection, SocketAddress address) {
    std::shared_ptr<IOStream> stream;
    try {
        stream = make_stream(std::move(connection));
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
    // A plain function handler (no Future) has nothing to watch. If it kept
    // no copy of the stream, `stream` is the last owner, and the connection
    // closes when this function returns.
    if (!done.valid()) return;
    // A handler that failed leaves a connection nobody serves: close it
    // (Tornado only logs the error). The callback holds the stream weakly,
    // so as not to keep it alive: a handler that ended well, and whose
    // stream nobody holds any more, lets it close then.
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

// Tornado hands over a TLS stream before its handshake, too: the first
// read waits for it, and the timeout bounds the wait.
std::shared_ptr<IOStream> TCPServer::make_stream(FileDescriptor connection) {
    if (!ssl_context_) return IOStream::create(std::move(connection), stream_options_);
    std::shared_ptr<SSLIOStream> stream =
        SSLIOStream::create(std::move(connection), ssl_context_, true, {}, stream_options_);
    if (handshake_timeout_) stream->set_handshake_timeout(*handshake_timeout_);
    return stream;
}

}  // namespace tornado
