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
    // TODO(task 4): with edge-triggered epoll one event may stand for many
    // queued connections: accept them all, until nobody is waiting (no cap of
    // your own: what is left over gets no new edge).
    // accept_one() accepts and registers one, and says whether there was one;
    // what it throws is on_listener_ready's to handle.
    // Hint: make hint CH=03 TASK=4.
    throw std::logic_error("TODO(task 4): LoopServer::accept_until_would_block");
}

void LoopServer::read_until_would_block([[maybe_unused]] Connection& connection) {
    // TODO(task 4): read (read_once) while the connection wants_input() and
    // the reads bring data (kNothing is EAGAIN, kEnd the end of the stream),
    // however many reads that takes.
    // Rule: no new READ edge comes for bytes left in the socket, so if you
    // stop before EAGAIN (backpressure: max_pending_output reply bytes wait),
    // a WRITE edge must be sure to bring you back, and it comes only if the
    // send buffer was full when you stopped (send_pending() is there).
    // on_connection_event calls you on every event, WRITE ones included.
    throw std::logic_error("TODO(task 4): LoopServer::read_until_would_block");
}

}  // namespace course
