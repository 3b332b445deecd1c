// tcpserver.cpp: see tcpserver.h.
#include "tcpserver.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace course {

namespace {

// Connections accepted per readiness event. A burst of connects must not
// starve the streams already open; the rest wait one loop turn (the
// listener is level-triggered, so they are not forgotten).
constexpr int kAcceptBatch = 128;

}  // namespace

TCPServer::TCPServer(IOLoop& loop, std::size_t max_buffer_size)
    : loop_(loop), max_buffer_size_(max_buffer_size) {}

TCPServer::~TCPServer() {
    stop();
}

void TCPServer::listen(std::uint16_t port, const std::string& address) {
    if (listener_) throw std::logic_error("TCPServer::listen: already listening");
    FileDescriptor listener = listen_tcp(address, port);
    // Non-blocking: accept() must never wait, even when the client that
    // made the listener readable has given up since.
    set_nonblocking(listener.get());
    loop_.add_handler(listener.get(), [this](int, std::uint32_t) { accept_pending(); },
                      IOLoop::READ);
    listener_ = std::move(listener);
}

std::uint16_t TCPServer::port() const {
    return listener_ ? local_port(listener_.get()) : 0;
}

void TCPServer::stop() {
    if (!listener_) return;
    if (resume_accepting_) loop_.remove_timeout(*resume_accepting_);
    resume_accepting_.reset();
    loop_.remove_handler(listener_.get());
    listener_.reset();
}

// accept() failed, typically out of descriptors (EMFILE). The connection
// stays queued, so the level-triggered listener would be reported again at
// once, every turn: a busy loop. Stop watching it for a moment instead, as
// chapter 03's server does; closing connections free descriptors meanwhile.
void TCPServer::pause_accepting(const std::system_error& error) {
    std::fprintf(stderr, "TCPServer: %s; not accepting for 100 ms\n", error.what());
    loop_.update_handler(listener_.get(), 0);
    resume_accepting_ = loop_.call_later(std::chrono::milliseconds(100), [this] {
        resume_accepting_.reset();
        loop_.update_handler(listener_.get(), IOLoop::READ);
    });
}

void TCPServer::accept_pending() {
    // handle_stream() may call stop(): check the listener every time.
    for (int i = 0; i < kAcceptBatch && listener_; ++i) {
        AcceptedConnection connection;
        try {
            connection = accept_connection(listener_.get());
        } catch (const std::system_error& error) {
            pause_accepting(error);
            return;
        }
        if (!connection.fd) return;  // nothing more pending
        auto stream = IOStream::create(std::move(connection.fd), loop_, max_buffer_size_);
        try {
            handle_stream(stream, std::move(connection.peer));
        } catch (const std::exception& error) {
            std::fprintf(stderr, "TCPServer: handle_stream failed: %s\n", error.what());
            stream->close();
        }
    }
}

}  // namespace course
