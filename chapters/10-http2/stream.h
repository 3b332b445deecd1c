// stream.h: one HTTP/2 stream, that is one request and its response, and
// the life every stream follows (RFC 9113 section 5.1), seen from a server
// that never pushes (so without the two "reserved" states):
//
//                           +--------+
//                           |  idle  |
//                           +--------+
//                               |
//                               | recv HEADERS
//                               v
//                           +--------+
//          recv END_STREAM  |        |  send END_STREAM
//        +------------------|  open  |------------------+
//        |                  |        |                  |
//        v                  +--------+                  v
//   +-------------+             |              +-------------+
//   | half-closed |             | send or      | half-closed |
//   |   (remote)  |             | recv RST     |   (local)   |
//   +-------------+             |              +-------------+
//        |                      v                       |
//        |  send END_STREAM +--------+  recv END_STREAM |
//        +----------------->| closed |<-----------------+
//          send/recv RST    +--------+    send/recv RST
//
// (HEADERS with END_STREAM goes from idle to half-closed (remote) at once:
// a GET has no body.) "remote" is the client: half-closed (remote) means
// the request is complete and the server is still answering, the state a
// stream spends most of its life in.
//
// transition() is the whole diagram in one function, and it is also where
// a frame that has no business in a state is refused with the RFC's error,
// of the RFC's kind: a StreamError resets this stream, a ConnectionError
// ends them all (frame.h).
//
// HTTP2Stream is the stream's object. To the application it is the
// request's `connection` (chapter 05's HTTPConnection): write_headers()
// becomes a HEADERS frame, write() DATA frames (sent as the client's
// windows allow: http2connection.h, "Flow control"), finish() END_STREAM.
// So chapter 06's Application and chapter 08's coroutine handlers run on
// HTTP/2 unchanged.
//
// Lifetime: the connection holds each stream that is not closed; the
// application holds the streams it answers (request->connection). A stream
// holds its connection weakly: once the connection or the stream is gone,
// the HTTPConnection calls do nothing (closed() is true), as on chapter 05's
// closed connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "frame.h"
#include "hpack.h"
#include "http1connection.h"  // HTTPConnection, HTTPServerRequest
#include "httputil.h"
#include "window.h"

namespace course {

class HTTP2Connection;

namespace http2 {

enum class StreamState { idle, open, half_closed_remote, half_closed_local, closed };

// "idle", "open", "half-closed (remote)", ...
const char* state_name(StreamState state);

// Whether the frame came from the client or is being sent by us.
enum class Direction { received, sent };

// --- Task 2: the stream state machine -------------------------------------------------

// The state after a frame of `type` (with END_STREAM if `end_stream`) goes
// `direction` on a stream in `state`. Throws, for a received frame that the
// state does not allow, the RFC's error:
//   idle: anything but HEADERS or PRIORITY            ConnectionError PROTOCOL_ERROR
//   open: HEADERS again without END_STREAM (only trailers may follow the
//         head, and they end the stream)                StreamError PROTOCOL_ERROR
//   half-closed (remote): DATA, HEADERS, CONTINUATION  StreamError STREAM_CLOSED
//   closed: DATA, HEADERS, CONTINUATION                 ConnectionError STREAM_CLOSED
// PRIORITY, WINDOW_UPDATE and RST_STREAM are allowed in every state but idle
// (PRIORITY in idle too). Sending what a state does not allow is a bug of
// ours: std::logic_error.
StreamState transition(StreamState state, Direction direction, FrameType type, bool end_stream);

}  // namespace http2

class HTTP2Stream : public HTTPConnection, public std::enable_shared_from_this<HTTP2Stream> {
public:
    HTTP2Stream(std::uint32_t id, std::weak_ptr<HTTP2Connection> connection,
                std::int64_t send_window, std::int64_t receive_window);

    // Chapter 05's HTTPConnection. Header names go out in lower case
    // (HTTP/2 requires it), and the fields that only mean something to
    // one HTTP/1.1 connection (Connection, Keep-Alive, Transfer-Encoding,
    // Upgrade, ...) are dropped. on_flushed runs once the chunk has gone
    // out in DATA frames and been handed to the kernel: a handler that
    // waits for it is paced by the client's window.
    void write_headers(int status, HTTPHeaders headers) override;
    void write(std::string_view chunk, std::function<void()> on_flushed = {}) override;
    void finish() override;
    // Resets this stream (RST_STREAM CANCEL); the connection's other
    // streams go on.
    void close() override;
    bool closed() const override;

    // Not in the chapter: exercise 10's extension (task 5), a response's
    // trailers, which end it in place of finish(). Declared here so that it
    // may use the stream's members; defined by the extension's header
    // (exercises/10-http2/trailers.h), which a caller includes.
    inline void write_trailers(HTTPHeaders trailers);

    std::uint32_t id() const { return id_; }
    http2::StreamState state() const { return state_; }

private:
    friend class HTTP2Connection;

    // Moves state_ along the diagram (transition() above).
    void on_frame(http2::Direction direction, http2::FrameType type, bool end_stream);
    // The connection, if it still exists and is open.
    std::shared_ptr<HTTP2Connection> live_connection() const;

    std::uint32_t id_;
    std::weak_ptr<HTTP2Connection> connection_;
    http2::StreamState state_ = http2::StreamState::idle;

    // Flow control (task 3): what the client still lets us send on this
    // stream, and what we still let it send us (window.h).
    http2::Window send_window_;
    http2::Window receive_window_;

    // The request, while its body arrives; moved to the application when
    // the client ends the stream.
    std::shared_ptr<HTTPServerRequest> request_;
    std::optional<std::uint64_t> content_length_;  // as the client declared it

    // The response, as the application writes it, until the connection
    // sends it: the head (encoded only when it is sent, because HPACK
    // blocks must be encoded in the order they go out), then the chunks.
    struct Chunk {
        std::string data;
        std::size_t sent = 0;  // bytes already in DATA frames
        std::function<void()> on_flushed;
    };
    std::optional<http2::HeaderList> unsent_head_;
    std::deque<Chunk> unsent_chunks_;
    enum class Response { not_started, started, finished };
    Response response_ = Response::not_started;
    bool response_has_body_ = true;  // not for HEAD, 204, 304
    bool head_request_ = false;

    // Our side of the stream is over: END_STREAM has gone (half-closed
    // (local)), or the stream is closed. The state says it; no flag of its own.
    bool done_sending() const {
        return state_ == http2::StreamState::half_closed_local ||
               state_ == http2::StreamState::closed;
    }
};

}  // namespace course
