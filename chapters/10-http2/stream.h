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
// To the connection it is where a stream's frames go, as in tornado_http2:
// the connection reads a frame, finds its stream and hands it over
// (on_frame, on_data, on_window_update); the stream keeps its own state,
// windows, request and response, and changes them itself. The connection
// asks it for its next frame to send (send_next_frame), and the stream
// asks the connection for nothing but what StreamOwner below names. So
// this file and stream.cpp include nothing above them: the arrows of the
// chapter all point down (frame.h, window.h, hpack.h, stream.h,
// http2connection.h).
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

// What a stream asks of the connection above it, and all it knows of it:
// HTTP2Connection is one (http2connection.h).
class StreamOwner {
public:
    // The TCP connection is closed, or ending: nothing more will go out.
    virtual bool closed() const = 0;
    // A stream has something to send: the connection sends it
    // (send_next_frame) as soon as it may.
    virtual void send_soon() = 0;
    // RST_STREAM with `code` on the stream, which is then forgotten.
    virtual void reset_stream(std::uint32_t stream_id, http2::ErrorCode code) = 0;

protected:
    // Never deleted through this interface: the connection's owners hold
    // it as itself (std::shared_ptr<HTTP2Connection>).
    ~StreamOwner() = default;
};

// What the connection lends a stream to send its frames with
// (send_next_frame): the HPACK encoder, which must encode the blocks in the
// order they go out; the client's largest frame; the connection's send
// window, shared by all streams; and the way to the IOStream (on_sent runs
// once the kernel has the frame).
struct FrameSender {
    http2::HeaderEncoder& encoder;
    std::uint32_t max_frame_size;
    http2::Window& connection_window;
    std::function<void(std::string frame, std::function<void()> on_sent)> send;
};

class HTTP2Stream : public HTTPConnection, public std::enable_shared_from_this<HTTP2Stream> {
public:
    HTTP2Stream(std::uint32_t id, std::weak_ptr<StreamOwner> connection,
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

    // --- What the connection hands the stream (stream.cpp) ----------------------------

    // Every frame on the stream, received or sent, moves state_ along the
    // diagram (transition() above): a received frame the state refuses
    // throws the RFC's error.
    void on_frame(http2::Direction direction, http2::FrameType type, bool end_stream);
    // The request, from the HEADERS that opened the stream. A declared
    // content-length over `max_body_size` is answered 413 at once.
    void start_request(std::shared_ptr<HTTPServerRequest> request, std::size_t max_body_size);
    // The request once the client has ended the stream, for the
    // application; null if it was answered already (413, 431). Throws a
    // StreamError if its content-length and its body disagree.
    std::shared_ptr<HTTPServerRequest> take_request();
    // An answer written without the application (413, 431, 500): the
    // request, if any, is dropped.
    void refuse(int status, const std::string& message);
    bool response_started() const { return response_ != ResponseStage::nothing_sent; }

    // --- Task 3: the stream's flow control (stream.cpp) --------------------------------

    // A DATA frame: its whole length (padding too) against our window, a
    // FLOW_CONTROL_ERROR of the stream beyond it; then `data` taken into the
    // request's body, within `max_body_size` (413 beyond it).
    void on_data(const http2::FrameHeader& header, std::string_view data,
                 std::size_t max_body_size);
    // `bytes` taken in (or dropped): the increment of a WINDOW_UPDATE for
    // this stream when one is due (Window::give_back), else 0. None once
    // the client may send no more DATA on it.
    std::uint32_t give_back(std::size_t bytes, std::int64_t full_size);
    // The client's WINDOW_UPDATE for this stream.
    void on_window_update(std::uint32_t increment);
    // The client's SETTINGS_INITIAL_WINDOW_SIZE moved by `change`: our send
    // window moves with it, maybe below zero (RFC 9113 section 6.9.2).
    void change_send_window(std::int64_t change);
    // Our SETTINGS_INITIAL_WINDOW_SIZE took effect (the client's ACK).
    void change_receive_window(std::int64_t change);

    // --- Sending (stream.cpp) ----------------------------------------------------------

    // Our side of the stream is over: END_STREAM has gone (half-closed
    // (local)), or the stream is closed. The state says it; no flag of its own.
    bool done_sending() const {
        return state_ == http2::StreamState::half_closed_local ||
               state_ == http2::StreamState::closed;
    }
    // Sends the stream's next frame, if one may go: its head, then its DATA
    // within the windows. False if none may (nothing written yet, or a
    // window closed).
    bool send_next_frame(FrameSender& out);
    // The connection lets the stream go: what it had not sent is dropped,
    // its on_flushed callbacks with it (as a closed IOStream drops its
    // write callbacks).
    void drop_output();
    // The connection is over: the stream is closed, its output dropped.
    void connection_over();

private:
    // The connection, if it still exists and is open.
    std::shared_ptr<StreamOwner> live_connection() const;
    void take_body(std::string_view data, std::size_t max_body_size);
    void send_head(FrameSender& out);
    bool send_data(FrameSender& out);

    std::uint32_t id_;
    std::weak_ptr<StreamOwner> connection_;
    http2::StreamState state_ = http2::StreamState::idle;

    // Flow control (task 3): what the client still lets us send on this
    // stream, and what we still let it send us (window.h).
    http2::Window send_window_;
    http2::Window receive_window_;

    // The request, while its body arrives; moved to the application when
    // the client ends the stream.
    std::shared_ptr<HTTPServerRequest> request_;
    std::optional<std::uint64_t> content_length_;  // as the client declared it

    // The response, as the application writes it, until the stream sends
    // it (send_next_frame, when the connection asks): the head (encoded only when it is sent, because HPACK
    // blocks must be encoded in the order they go out), then the chunks.
    struct Chunk {
        std::string data;
        std::size_t sent = 0;  // bytes already in DATA frames
        std::function<void()> on_flushed;
    };
    std::optional<http2::HeaderList> unsent_head_;
    std::deque<Chunk> unsent_chunks_;
    enum class ResponseStage { nothing_sent, headers_sent, finished };
    ResponseStage response_ = ResponseStage::nothing_sent;
    bool response_has_body_ = true;  // not for HEAD, 204, 304
    bool head_request_ = false;
};

}  // namespace course
