// relay.h: two streams joined, bytes copied both ways. The heart of a TCP
// proxy (a port forwarder, an SSH-style tunnel, the CONNECT of an HTTP
// proxy), built on IOStream's public calls only.
//
// Extension task 5 of exercise 04, written out: the reference solution.
// The learner's copy is exercises/04-iostream/relay.h.
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

namespace detail {

// One direction: read a piece from `from`, write it to `to`, and read the
// next piece only once that write has been handed to the kernel.
inline void relay_one_way(std::shared_ptr<IOStream> from, std::shared_ptr<IOStream> to) {
    if (from->closed() || to->closed()) return;
    from->read_bytes(kRelayPiece, [from, to](std::string piece) {
        if (to->closed()) return;
        to->write(piece, [from, to] { relay_one_way(from, to); });
    }, /*partial=*/true);
}

// Closes `stream` once what was written to it has gone out.
inline void close_when_flushed(const std::shared_ptr<IOStream>& stream) {
    if (stream->closed()) return;
    if (!stream->writing()) return stream->close();
    stream->write("", [stream] { stream->close(); });
}

}  // namespace detail

inline void relay(std::shared_ptr<IOStream> a, std::shared_ptr<IOStream> b) {
    // Each close callback holds the other stream only until it has run.
    a->set_close_callback([b] { detail::close_when_flushed(b); });
    b->set_close_callback([a] { detail::close_when_flushed(a); });
    detail::relay_one_way(a, b);
    detail::relay_one_way(b, a);
}

}  // namespace course
