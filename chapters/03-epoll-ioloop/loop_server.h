// loop_server.h: the echo / hello-HTTP server, rebuilt on the IOLoop.
//
// Chapter 02's server ran its own select() loop: every round it rebuilt the
// descriptor sets, waited, and walked every connection to see which were
// ready. Here the IOLoop owns waiting and dispatch. The server only
// registers handlers, and tells the loop, per connection, which events it
// wants whenever that changes:
//
//   listener    ──READ──►  on_listener_ready()    accept, add_handler(new fd)
//   connection  ──READ──►  on_connection_event()  read, feed the Conversation
//               ──WRITE─►                         send what the kernel takes
//
// What each connection asks the loop for (level-triggered, the default):
//
//   READ   while it wants input: not after end of stream, not once the
//          conversation is over, and not while max_pending_output reply
//          bytes wait for a peer that does not read them (backpressure: we
//          stop reading, the kernel buffers fill, TCP makes the peer wait).
//   WRITE  only while reply bytes wait. A socket is almost always writable,
//          so asking for WRITE otherwise would wake the loop every turn for
//          nothing: a busy loop at 100% CPU.
//
// Edge-triggered (options.edge_triggered, exercise task 4): the same events
// with IOLoop::EDGE added. epoll then reports a descriptor once per change,
// not as long as it stays ready, so accepting and reading must go on until
// EAGAIN; those two functions live in edge_triggered.cpp.
//
// Threads: make, use and destroy a LoopServer on its loop's thread, or while
// the loop is not running.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conversation.h"
#include "ioloop.h"
#include "socket.h"

namespace course {

struct LoopServerOptions {
    // Register every descriptor with IOLoop::EDGE (exercise task 4).
    bool edge_triggered = false;
    // Backpressure: stop reading from a peer once this many reply bytes
    // wait for it; read again when they have gone out.
    std::size_t max_pending_output = 1024 * 1024;
    // The most bytes one read takes. Tests make it small to show the
    // difference between level- and edge-triggered reading.
    std::size_t read_chunk_size = 64 * 1024;
};

class LoopServer {
public:
    // Serves connections arriving on `listener` (made non-blocking here)
    // from `loop`, which must outlive the server.
    LoopServer(IOLoop& loop, FileDescriptor listener, LoopServerOptions options = {});
    // Stops watching and closes the listener and every connection.
    ~LoopServer();
    LoopServer(const LoopServer&) = delete;
    LoopServer& operator=(const LoopServer&) = delete;

    std::uint16_t port() const { return local_port(listener_.get()); }
    std::size_t connection_count() const { return connections_.size(); }

private:
    struct Connection {
        FileDescriptor fd;
        Conversation conversation;
        std::string output;        // reply bytes the kernel has not taken yet
        bool peer_closed = false;  // read returned 0: the peer sends no more
        std::uint32_t events = 0;  // what the loop watches this fd for now
    };
    enum class ReadResult { kData, kNothing, kEnd };  // kNothing: EAGAIN

    void on_listener_ready();
    bool accept_one();
    void accept_until_would_block();  // edge_triggered.cpp
    void pause_accepting(const std::exception& why);
    std::uint32_t listener_events() const;

    void on_connection_event(int fd, std::uint32_t events);
    ReadResult read_once(Connection& connection);
    void read_until_would_block(Connection& connection);  // edge_triggered.cpp
    void send_pending(Connection& connection);
    bool wants_input(const Connection& connection) const;
    void watch(Connection& connection);
    void close_connection(int fd);

    IOLoop& loop_;
    FileDescriptor listener_;
    LoopServerOptions options_;
    // By descriptor. unique_ptr: a Connection stays put while the map grows.
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;
    std::vector<char> read_buffer_;      // one for all: one thread reads
    IOLoop::Timeout resume_accepting_;   // set while accepting is paused
};

}  // namespace course
