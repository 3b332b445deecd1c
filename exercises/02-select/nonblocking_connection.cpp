// nonblocking_connection.cpp: see nonblocking_connection.h.
#include "nonblocking_connection.h"

#include <algorithm>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace course {

NonBlockingConnection::NonBlockingConnection(FileDescriptor fd, std::string peer,
                                             std::size_t max_pending_output)
    : fd_(std::move(fd)), peer_(std::move(peer)), max_pending_output_(max_pending_output) {}

void NonBlockingConnection::on_readable() {
    // TODO(task 2): read once, up to kReadChunk bytes, with read_some().
    //  - kWouldBlock: nothing there after all; return (select will tell us again).
    //  - 0: end of stream; note it in peer_closed_ (replies already queued
    //    still go out, so do not clear output_).
    //  - a std::system_error (connection reset): note it in broken_; never
    //    let it escape, or one bad peer ends the whole server.
    //  - n bytes: feed them to conversation_.receive() and queue_output() the reply.
    throw std::logic_error("TODO(task 2): NonBlockingConnection::on_readable");
}

void NonBlockingConnection::on_writable() {
    // TODO(task 3): offer all of output_ to write_some() and erase from the
    // front only what it took (a partial write keeps the rest, in order, for
    // the next writable event; a full send buffer takes 0 bytes). On a
    // std::system_error (EPIPE, ECONNRESET) note broken_ and drop output_.
    throw std::logic_error("TODO(task 3): NonBlockingConnection::on_writable");
}

void NonBlockingConnection::queue_output(std::string_view bytes) {
    output_.append(bytes);
    largest_pending_output_ = std::max(largest_pending_output_, output_.size());
}

bool NonBlockingConnection::wants_to_read() const {
    // TODO(task 2): true unless the peer closed, the socket broke, the
    // conversation is finished, or output_ already holds
    // max_pending_output_ bytes or more (backpressure).
    throw std::logic_error("TODO(task 2): NonBlockingConnection::wants_to_read");
}

bool NonBlockingConnection::wants_to_write() const {
    // TODO(task 3): true only while output waits (and the socket is not
    // broken). Watching an idle socket for writing makes select() return at
    // once, every round: a busy loop.
    throw std::logic_error("TODO(task 3): NonBlockingConnection::wants_to_write");
}

bool NonBlockingConnection::should_close() const {
    bool done = peer_closed_ || conversation_.finished();
    return broken_ || (done && output_.empty());
}

}  // namespace course
