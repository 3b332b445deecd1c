// nonblocking_connection.cpp: see nonblocking_connection.h.
#include "nonblocking_connection.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace course {

NonBlockingConnection::NonBlockingConnection(FileDescriptor fd, std::string peer,
                                             std::size_t max_pending_output)
    : fd_(std::move(fd)), peer_(std::move(peer)), max_pending_output_(max_pending_output) {}

void NonBlockingConnection::on_readable() {
    char chunk[kReadChunk];
    long n;
    try {
        n = read_some(fd_.get(), chunk, sizeof chunk);
    } catch (const std::system_error&) {
        broken_ = true;  // ECONNRESET and friends: nothing more to say to this peer
        return;
    }
    if (n == kWouldBlock) return;  // nothing there after all; select will tell us again
    if (n == 0) {
        peer_closed_ = true;  // end of stream; replies already queued still go out
        return;
    }
    queue_output(conversation_.receive(std::string_view(chunk, static_cast<std::size_t>(n))));
}

void NonBlockingConnection::on_writable() {
    try {
        std::size_t written = write_some(fd_.get(), output_);
        // The kernel may take less than we offered: keep the rest, in order,
        // for the next writable event. (erase moves the rest forward; the
        // backpressure limit keeps that copy small.)
        output_.erase(0, written);
    } catch (const std::system_error&) {
        broken_ = true;  // EPIPE / ECONNRESET: the peer is gone, drop what is left
        output_.clear();
    }
}

void NonBlockingConnection::queue_output(std::string_view bytes) {
    output_.append(bytes);
    largest_pending_output_ = std::max(largest_pending_output_, output_.size());
}

bool NonBlockingConnection::wants_to_read() const {
    return !peer_closed_ && !broken_ && !conversation_.finished() &&
           output_.size() < max_pending_output_;
}

bool NonBlockingConnection::wants_to_write() const {
    return !broken_ && !output_.empty();
}

bool NonBlockingConnection::should_close() const {
    bool done = peer_closed_ || conversation_.finished();
    return broken_ || (done && output_.empty());
}

}  // namespace course
