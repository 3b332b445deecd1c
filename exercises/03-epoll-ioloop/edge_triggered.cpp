// edge_triggered.cpp: the two loops an edge-triggered LoopServer needs.
//
// Level-triggered epoll reports a descriptor as long as it is ready, so one
// accept or one read per event is enough: whatever is left, epoll reports
// again next turn. Edge-triggered epoll (IOLoop::EDGE) reports it once per
// change, "bytes arrived", and then stays silent until more arrive. Leave
// anything behind and it sits there unread, however long the peer waits for
// an answer. So both loops below go on until the kernel says EAGAIN.
//
// EXERCISE (task 4, the challenge): write both functions. The rest of the
// server (chapters/03-epoll-ioloop/loop_server.cpp) is given and already
// registers every descriptor with IOLoop::EDGE when options.edge_triggered
// is set; read on_connection_event() and watch() there first.
#include <stdexcept>

#include "loop_server.h"

namespace course {

void LoopServer::accept_until_would_block() {
    // TODO(task 4): accept every connection that queued up since the last
    // edge, not just one. accept_one() accepts and registers one, and
    // returns false when nobody was waiting (accept said EAGAIN).
    throw std::logic_error("TODO(task 4): LoopServer::accept_until_would_block");
}

void LoopServer::read_until_would_block([[maybe_unused]] Connection& connection) {
    // TODO(task 4): read with read_once() while the connection wants_input()
    // and each read brought data (ReadResult::kData); kNothing is EAGAIN,
    // kEnd the end of the stream. Reading may also stop before EAGAIN when
    // max_pending_output reply bytes wait (backpressure). Then no new READ
    // edge will come for the bytes left behind, so make sure a WRITE edge
    // will: send_pending() after each read, so that you stop only when the
    // send buffer is full. (on_connection_event sends first and calls you
    // again on every event, WRITE ones included.)
    throw std::logic_error("TODO(task 4): LoopServer::read_until_would_block");
}

}  // namespace course
