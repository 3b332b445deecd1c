// relay.h: two streams joined, bytes copied both ways. The heart of a TCP
// proxy (a port forwarder, an SSH-style tunnel, the CONNECT of an HTTP
// proxy), built on IOStream's public calls only.
//
//   relay(client_stream, backend_stream);   // then the loop does the rest
//
//     client ──► a ──read_bytes(partial)──► write ──► b ──► backend
//     client ◄── a ◄──write◄──read_bytes(partial)──── b ◄── backend
//
// Tornado has no relay function; this is what a proxy written on Tornado's
// IOStream does: read_bytes(n, partial=True), write, and the close
// callbacks. The rules, which the tests check:
//
// * Every byte one side receives goes out on the other, in order, in both
//   directions at once.
// * Backpressure: a direction reads its next piece (at most kRelayPiece
//   bytes) only once the piece before has been handed to the kernel on the
//   other side (write's callback). So however fast one peer sends and
//   however slowly the other reads, at most one piece per direction waits
//   in a write buffer; the rest waits in the kernels' socket buffers, and
//   then the fast sender's send() blocks. Without it, a peer that does not
//   read makes the relay buffer everything the other sends, without limit.
// * When one side closes (its peer left, an error, close()), the other side
//   is closed too, but only after every byte already copied to it has gone
//   out: a sender's last bytes before it closed are not lost.
// * relay takes over both streams' close callbacks. Once both streams are
//   closed, nothing of the relay holds them any more (no shared_ptr cycle
//   outlives them).
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "iostream.h"

namespace course {

// The most one read of a relay asks for.
inline constexpr std::size_t kRelayPiece = 64 * 1024;

// EXTENSION (task 5): the chapter's code has no relay; you build it on
// IOStream's public calls (read_bytes with partial, write with its
// callback, set_close_callback, close, closed, writing). Helper functions
// of your own are welcome (inline, in this file).
inline void relay([[maybe_unused]] std::shared_ptr<IOStream> a,
                  [[maybe_unused]] std::shared_ptr<IOStream> b) {
    // TODO(task 5): copy both ways with backpressure, and close each side
    // once the other has closed and its copied bytes have gone out (the rules
    // above). Hint: make hint CH=04 TASK=5.
    throw std::logic_error("TODO(task 5): relay");
}

}  // namespace course
