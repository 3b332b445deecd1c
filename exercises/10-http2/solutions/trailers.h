// trailers.h (reference solution of task 5, the extension): a response's
// trailers over HTTP/2.
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

namespace http2 {

// The trailer fields as they go out (see the contract above).
inline HeaderList trailer_fields(const HTTPHeaders& trailers) {
    HeaderList fields;
    for (const auto& [name, value] : trailers) {
        if (name.starts_with(':')) {
            throw std::invalid_argument("HTTP2Stream: pseudo-header '" + name + "' in trailers");
        }
        std::string lower = name;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        bool connection_specific = false;
        for (std::string_view forbidden :
             {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
            if (lower == forbidden) connection_specific = true;
        }
        if (!connection_specific) fields.emplace_back(std::move(lower), value);
    }
    return fields;
}

}  // namespace http2

inline void HTTP2Stream::write_trailers(HTTPHeaders trailers) {
    if (response_ != ResponseStage::headers_sent) {
        throw std::logic_error(
            "HTTP2Stream: write_trailers without write_headers, or after finish");
    }
    http2::HeaderList fields = http2::trailer_fields(trailers);
    // An empty chunk, in line behind every chunk written so far: its
    // on_flushed runs once the last byte before it has gone out. Only then
    // do the trailers become the stream's next header block, with the
    // response finished, so that the connection sends them with END_STREAM
    // (send_head), encoded as they go. Until then the response is not
    // finished, so no DATA frame carries END_STREAM.
    write("", [weak = weak_from_this(), fields = std::move(fields)]() mutable {
        std::shared_ptr<HTTP2Stream> self = weak.lock();
        if (!self || self->closed() || self->response_ != ResponseStage::headers_sent) return;
        self->unsent_head_ = std::move(fields);
        self->response_ = ResponseStage::finished;
        if (auto connection = self->live_connection()) connection->send_soon();
    });
}

}  // namespace course
