// loop_server.cpp: the server's handlers. See loop_server.h for the design;
// the edge-triggered loops are in edge_triggered.cpp.
#include "loop_server.h"

#include <chrono>
#include <cstdio>
#include <string_view>
#include <system_error>
#include <utility>

namespace course {

using namespace std::chrono_literals;

LoopServer::LoopServer(IOLoop& loop, FileDescriptor listener, LoopServerOptions options)
    : loop_(loop),
      listener_(std::move(listener)),
      options_(options),
      read_buffer_(options.read_chunk_size) {
    set_nonblocking(listener_.get());
    loop_.add_handler(listener_.get(), [this](int, std::uint32_t) { on_listener_ready(); },
                      listener_events());
}

LoopServer::~LoopServer() {
    if (resume_accepting_.id != 0) loop_.remove_timeout(resume_accepting_);  // paused (EMFILE)
    for (const auto& [fd, connection] : connections_) loop_.remove_handler(fd);
    loop_.remove_handler(listener_.get());
    // The FileDescriptors close the sockets as the members go.
}

std::uint32_t LoopServer::listener_events() const {
    return IOLoop::READ | (options_.edge_triggered ? IOLoop::EDGE : 0);
}

// --- accepting ---------------------------------------------------------------

void LoopServer::on_listener_ready() {
    try {
        if (options_.edge_triggered) {
            accept_until_would_block();
        } else {
            // One per event is enough: if more connections wait, the
            // listener is still readable and epoll reports it again next
            // turn, after the other ready descriptors had their go.
            accept_one();
        }
    } catch (const std::system_error& error) {
        if (error.code() != std::errc::too_many_files_open &&
            error.code() != std::errc::too_many_files_open_in_system) {
            throw;  // the loop logs it
        }
        pause_accepting(error);
    }
}

// Accepts one waiting connection and registers it; false if none waited.
bool LoopServer::accept_one() {
    AcceptedConnection accepted = accept_connection(listener_.get());
    if (!accepted.fd) return false;
    set_nonblocking(accepted.fd.get());
    int fd = accepted.fd.get();
    auto connection = std::make_unique<Connection>();
    connection->fd = std::move(accepted.fd);
    connection->events = IOLoop::READ | (options_.edge_triggered ? IOLoop::EDGE : 0);
    // The handler captures the server, not the Connection: it looks the
    // connection up by fd each time, so a closed one is simply not found.
    loop_.add_handler(fd, [this](int ready_fd, std::uint32_t events) {
        on_connection_event(ready_fd, events);
    }, connection->events);
    connections_.emplace(fd, std::move(connection));
    return true;
}

void LoopServer::pause_accepting(const std::exception& why) {
    // Out of descriptors. The connection stays queued, so a level-triggered
    // listener would be reported again at once, every turn: a busy loop.
    // Stop watching it for a moment instead; closing connections free
    // descriptors meanwhile. (The loop's timers at work in a server.)
    std::fprintf(stderr, "LoopServer: %s; not accepting for 100 ms\n", why.what());
    loop_.update_handler(listener_.get(), 0);
    resume_accepting_ = loop_.call_later(100ms, [this] {
        resume_accepting_ = {};
        // update_handler re-arms an edge-triggered listener too: connections
        // that queued up meanwhile are reported even without a new edge.
        loop_.update_handler(listener_.get(), listener_events());
    });
}

// --- serving a connection --------------------------------------------------------

void LoopServer::on_connection_event(int fd, std::uint32_t events) {
    auto found = connections_.find(fd);
    if (found == connections_.end()) return;
    Connection& connection = *found->second;
    try {
        // Room first (a WRITE event, or a backlog to relieve), then input,
        // then the replies it produced: most replies leave in this turn.
        send_pending(connection);
        if (options_.edge_triggered) {
            read_until_would_block(connection);
        } else if ((events & (IOLoop::READ | IOLoop::ERROR)) && wants_input(connection)) {
            // Level-triggered: one read per event. If more bytes wait, epoll
            // says so again next turn, and other connections get a turn first.
            read_once(connection);
        }
        send_pending(connection);
    } catch (const std::system_error&) {
        // ECONNRESET, EPIPE: the peer is gone, and so is anything left to say.
        close_connection(fd);
        return;
    }
    bool done = connection.peer_closed || connection.conversation.finished();
    if (done && connection.output.empty()) {
        close_connection(fd);
        return;
    }
    watch(connection);
}

LoopServer::ReadResult LoopServer::read_once(Connection& connection) {
    long n = read_some(connection.fd.get(), read_buffer_.data(), read_buffer_.size());
    if (n == kWouldBlock) return ReadResult::kNothing;
    if (n == 0) {
        // End of stream. Replies already queued still go out (a peer may
        // send its lines, shut down its side, and wait for the echo).
        connection.peer_closed = true;
        return ReadResult::kEnd;
    }
    std::string_view bytes(read_buffer_.data(), static_cast<std::size_t>(n));
    connection.output += connection.conversation.receive(bytes);
    return ReadResult::kData;
}

void LoopServer::send_pending(Connection& connection) {
    while (!connection.output.empty()) {
        std::size_t written = write_some(connection.fd.get(), connection.output);
        // 0: the send buffer is full (the kernel took a part, or nothing).
        // Keep the rest; WRITE interest brings us back when there is room.
        if (written == 0) return;
        // erase moves the rest forward; max_pending_output bounds that copy.
        connection.output.erase(0, written);
    }
}

bool LoopServer::wants_input(const Connection& connection) const {
    return !connection.peer_closed && !connection.conversation.finished() &&
           connection.output.size() < options_.max_pending_output;
}

// Tells the loop what this connection waits for now, if that changed.
void LoopServer::watch(Connection& connection) {
    std::uint32_t wanted = (wants_input(connection) ? IOLoop::READ : 0) |
                           (connection.output.empty() ? 0 : IOLoop::WRITE) |
                           (options_.edge_triggered ? IOLoop::EDGE : 0);
    if (wanted == connection.events) return;  // no system call for nothing
    loop_.update_handler(connection.fd.get(), wanted);
    connection.events = wanted;
}

void LoopServer::close_connection(int fd) {
    // Unregister before closing: the loop must not keep (or hand out) an
    // event for a descriptor number the kernel may reuse at once.
    loop_.remove_handler(fd);
    connections_.erase(fd);
}

}  // namespace course
