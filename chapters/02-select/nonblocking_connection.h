// nonblocking_connection.h: one client of a single-threaded server.
//
// A blocking server keeps each client's state on a thread's stack: where it
// is in the request, what it still has to send. A server whose one thread
// serves every client cannot do that, so each connection carries its state
// in an object instead:
//
//   NonBlockingConnection
//     fd_            the socket, non-blocking, closed with the object
//     conversation_  the protocol (chapter 01): bytes in, reply bytes out
//     output_        reply bytes the kernel has not taken yet
//
// The server calls on_readable() when select() says the socket has bytes,
// and on_writable() when it says the socket can take more. Neither call ever
// waits: each does what the kernel allows *now* and returns.
//
// Backpressure: a peer that sends requests but never reads the replies would
// make output_ grow without end. wants_to_read() turns false once output_
// holds `max_pending_output` bytes; the server then stops reading from that
// peer, the kernel's buffers fill, and TCP flow control stops the peer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "conversation.h"
#include "socket.h"

namespace course {

class NonBlockingConnection {
public:
    // Bytes asked of the kernel per read. One read per readable event keeps
    // the loop fair: a fast sender cannot starve the others.
    static constexpr std::size_t kReadChunk = 64 * 1024;

    // Takes ownership of a connected, non-blocking socket.
    NonBlockingConnection(FileDescriptor fd, std::string peer, std::size_t max_pending_output);

    // select() said readable: read once, feed the conversation, queue its
    // reply. Notes end of stream and connection errors; never throws for them.
    void on_readable();

    // select() said writable: send what the kernel takes now and keep the
    // rest for the next writable event (a partial write).
    void on_writable();

    // Queues bytes to send; on_writable() sends them.
    void queue_output(std::string_view bytes);

    // Should the server watch this socket for reading? Not after end of
    // stream, not once the conversation is over, and not while too much
    // output is waiting (backpressure).
    bool wants_to_read() const;

    // Should the server watch this socket for writing? Only while output is
    // waiting: a socket is nearly always writable, so watching it otherwise
    // would make select() return at once, forever (a busy loop).
    bool wants_to_write() const;

    // True when the server should close this connection: the socket broke,
    // or the peer (or the conversation) is done and every reply byte is sent.
    bool should_close() const;

    int fd() const { return fd_.get(); }
    const std::string& peer() const { return peer_; }
    std::string_view pending_output() const { return output_; }
    // The most bytes output_ ever held (tests check backpressure with it).
    std::size_t largest_pending_output() const { return largest_pending_output_; }

private:
    FileDescriptor fd_;
    std::string peer_;
    Conversation conversation_;
    std::string output_;
    std::size_t max_pending_output_;
    std::size_t largest_pending_output_ = 0;
    bool peer_closed_ = false;  // read returned 0: the peer sends no more
    bool broken_ = false;       // a read or write failed (reset, broken pipe)
};

}  // namespace course
