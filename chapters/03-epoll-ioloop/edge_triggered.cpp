// edge_triggered.cpp: the two loops an edge-triggered LoopServer needs.
//
// Level-triggered epoll reports a descriptor as long as it is ready, so one
// accept or one read per event is enough: whatever is left, epoll reports
// again next turn. Edge-triggered epoll (IOLoop::EDGE) reports it once per
// change, "bytes arrived", and then stays silent until more arrive. Leave
// anything behind and it sits there unread, however long the peer waits for
// an answer. So both loops below go on until the kernel says EAGAIN.
//
// Exercise task 4 cuts these two functions out (see exercises/03-epoll-ioloop).
#include "loop_server.h"

namespace course {

void LoopServer::accept_until_would_block() {
    // Every connection that queued up since the last edge, not just one.
    while (accept_one()) {
    }
}

void LoopServer::read_until_would_block(Connection& connection) {
    // Send as we go: then reading stops before EAGAIN only when the peer is
    // really not taking its replies (backpressure), and the send that just
    // failed means a WRITE edge will come when it does; on_connection_event
    // then sends, and comes back here to read the rest.
    while (wants_input(connection) && read_once(connection) == ReadResult::kData) {
        send_pending(connection);
    }
}

}  // namespace course
