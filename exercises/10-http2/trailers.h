// trailers.h (exercise, task 5, the extension): a response's trailers over
// HTTP/2. Not in the chapter: HTTP2Stream::write_trailers is declared in
// chapters/10-http2/stream.h and written here. See README.md beside this
// file; a reference solution is in solutions/trailers.h.
//
// Trailers are header fields sent after the body: a checksum of what was
// streamed, or gRPC's grpc-status and grpc-message, which say how a call
// ended only once it has. HTTP/1.1 carries them after the last chunk of a
// chunked body; HTTP/2 in a second header block, a HEADERS frame after the
// last DATA, which carries END_STREAM in place of the DATA:
//
//   HEADERS(:status 200)  DATA  DATA  ...  DATA  HEADERS(grpc-status: 0, END_STREAM)
//                                           ▲ no END_STREAM here
//
//   request->connection->write_headers(200, headers);
//   request->connection->write(body);
//   auto stream = std::static_pointer_cast<HTTP2Stream>(request->connection);
//   HTTPHeaders trailers;
//   trailers.add("grpc-status", "0");
//   stream->write_trailers(std::move(trailers));   // in place of finish()
//
// The contract:
//   - write_trailers ends the response, as finish() does: call it once,
//     after write_headers and the last write, and never finish() with it.
//     Before write_headers, or after finish(): std::logic_error.
//   - Names go out in lower case; the fields HTTP/2 forbids (connection,
//     keep-alive, proxy-connection, transfer-encoding, upgrade) are
//     dropped, as write_headers drops them. A pseudo-header (":status") has
//     no place in trailers: std::invalid_argument, and nothing is sent.
//   - The trailers go after every byte written before them, however long
//     the client's windows hold that DATA; END_STREAM goes on their
//     HEADERS, never on a DATA frame. HEADERS is not flow controlled, but
//     it may not overtake the DATA.
//   - The block is HPACK-encoded when it goes out, not when it is written:
//     the connection's other streams send header blocks meanwhile, and the
//     client decodes them in the order they arrive.
//   - A stream reset or a connection closed meanwhile sends nothing.
#pragma once

#include <cctype>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "stream.h"  // all a stream's member needs: the arrows point down

namespace course {

inline void HTTP2Stream::write_trailers(HTTPHeaders trailers) {
    // TODO(task 5): the contract above. As a member of HTTP2Stream, this
    // may use the stream's members (stream.h), and ask its connection what
    // StreamOwner offers (send_soon): how the stream sends its head,
    // its chunks, and END_STREAM when the connection asks is in stream.cpp
    // beside this file (send_next_frame, send_head, send_data). Hint: make
    // hint CH=10 TASK=5.
    (void)trailers;
    throw std::logic_error("TODO(task 5): HTTP2Stream::write_trailers");
}

}  // namespace course
