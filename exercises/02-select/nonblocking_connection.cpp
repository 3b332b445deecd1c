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
    // TODO(task 2): select() said readable: read once (at most kReadChunk
    // bytes; one read per event keeps the server fair) and record the outcome.
    // Bytes go to conversation_, and its reply is queued with queue_output()
    // (it keeps the stats). End of stream sets peer_closed_ and keeps output_
    // (queued replies still go out). A connection error sets broken_ and never
    // escapes: one bad peer must not end the server. Nothing to read after
    // all changes nothing. Hint: make hint CH=02 TASK=2.
    throw std::logic_error("TODO(task 2): NonBlockingConnection::on_readable");
}

void NonBlockingConnection::on_writable() {
    // TODO(task 3): send what the kernel takes now, without waiting and
    // without looping until all is sent. Invariant: output_ holds exactly the
    // bytes not yet sent, in order (the kernel may take part of them, or none
    // when its buffer is full: not an error). A peer that is gone (EPIPE,
    // ECONNRESET) sets broken_ and empties output_; nothing escapes.
    // Hint: make hint CH=02 TASK=3.
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
