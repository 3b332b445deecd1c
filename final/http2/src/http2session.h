// http2session.h (final/http2/src, not installed): the protocol of one
// HTTP/2 connection, the server's side, of our own: bytes in, what they
// mean out to a Listener; responses in, frames out. It does no I/O (as
// libnghttp2's session, which it replaced, does none): HTTP2ServerConnection
// reads the socket, hands the bytes to receive(), and writes what send()
// gathers; its Listener is HTTP2Callbacks (http2callbacks.h). It stands on
// frame.h (the frames) and hpack.h (the header blocks).
//
// What it keeps, and where RFC 9113 says so:
//   - the preface and the SETTINGS each side sends, and their ACKs (3.4, 6.5);
//   - each stream's state (5.1), in the server's part of the drawing:
//
//       (idle) ─HEADERS─► open ─END_STREAM in─► half_closed_remote
//                          │                        │
//                          │ END_STREAM out         │ END_STREAM out,
//                          ▼                        │ RST_STREAM either way
//                   half_closed_local ─END_STREAM in or RST_STREAM─► closed
//
//     A closed stream is forgotten, but for the last ones we reset, whose
//     frames may still come and are ignored;
//   - flow control, both levels, both ways (5.2, 6.9): a request's bytes
//     count against the windows we gave until the Listener has taken them
//     (consume()), and a response's DATA waits for the client's windows;
//   - the header blocks: HEADERS and its CONTINUATIONs in a row, decoded
//     with HPACK in the order they came, and each response's block coded in
//     the order it is sent;
//   - the errors: a connection error (5.4.1) queues GOAWAY with its code
//     and reads nothing more; a stream error (5.4.2) queues RST_STREAM.
//
// One call at a time, on one thread; the Listener may call back in
// (submit a response from on_request, reset a stream from anywhere).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "frame.h"
#include "hpack.h"
#include "tornado/http2.h"

namespace tornado::detail {

class HTTP2Session {
public:
    // What the session tells its user while it reads, and asks it while it
    // sends. No call may throw: whatever goes wrong in one is the
    // Listener's to handle (reset the stream, or fail the connection).
    class Listener {
    public:
        virtual ~Listener() = default;
        // A client's HEADERS opened stream `id`; its fields follow.
        virtual void on_stream_open(std::uint32_t id) noexcept = 0;
        // One field of a request's header block or of its trailers, in order.
        // Past twice max_header_list_size a stream's fields are no longer
        // handed over: its stream is reset (ENHANCE_YOUR_CALM).
        virtual void on_field(std::uint32_t id, std::string_view name,
                              std::string_view value) noexcept = 0;
        // The request's header block is whole.
        virtual void on_request(std::uint32_t id) noexcept = 0;
        // A piece of the request's body: it counts against the windows
        // until consume(id, size) says it was taken.
        virtual void on_data(std::uint32_t id, std::string_view data) noexcept = 0;
        // END_STREAM came: the request is whole.
        virtual void on_request_end(std::uint32_t id) noexcept = 0;
        // The stream is over: both sides ended it (NO_ERROR) or either
        // reset it (the code). It is forgotten after this call.
        virtual void on_stream_close(std::uint32_t id, HTTP2ErrorCode code) noexcept = 0;

        // The response's body, as send() takes it: how many bytes of it
        // are ready now (at most `most`), and whether they are its last.
        // Zero and not last: none yet; the session waits for resume_body.
        struct Body {
            std::size_t ready;
            bool last;
        };
        virtual Body body_ready(std::uint32_t id, std::size_t most) noexcept = 0;
        // Appends the next `length` bytes of the body to `batch` (at most
        // what body_ready said).
        virtual void take_body(std::uint32_t id, HTTP2FrameBatch& batch,
                               std::size_t length) noexcept = 0;
    };

    struct Limits {
        // SETTINGS_MAX_CONCURRENT_STREAMS: past it, REFUSED_STREAM.
        std::uint32_t max_concurrent_streams = 100;
        // SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window.
        std::uint32_t stream_window = 65535;
        // The connection's receive window, beyond the first 65,535.
        std::uint32_t connection_window = 65535;
        // SETTINGS_MAX_HEADER_LIST_SIZE, as we announce it.
        std::uint32_t max_header_list_size = 64 * 1024;
    };

    HTTP2Session(Listener& listener, Limits limits);

    // An h2c Upgrade (RFC 7540 section 3.2): the client's settings from its
    // HTTP2-Settings (decoded), and stream 1, half closed: the HTTP/1.1
    // request was all of it. False if the settings do not parse.
    bool upgrade(std::string_view settings_payload);

    // Reads what the client sent, from its preface on: frames whole and in
    // pieces, calling the Listener as they mean something. After a
    // connection error it reads nothing more (want_read()).
    void receive(std::string_view bytes);

    // --- the responses, as the user gives them ------------------------------------------------

    // The response's header block, HEADERS (and CONTINUATIONs). With a
    // body, send() then takes it through the Listener's body_ready and
    // take_body; without, the HEADERS ends the stream.
    void submit_response(std::uint32_t id, std::span<const HPACKField> fields, bool with_body);
    // The body has bytes again, after body_ready said it had none.
    void resume_body(std::uint32_t id);
    // Fields to send after the body, as a HEADERS that ends the stream in
    // place of the last DATA's END_STREAM. Before body_ready says `last`.
    void submit_trailers(std::uint32_t id, std::vector<std::pair<std::string, std::string>> fields);
    // Body bytes of the request the user has taken: the windows open
    // again (WINDOW_UPDATE once half of one is taken).
    void consume(std::uint32_t id, std::size_t size);
    // RST_STREAM: the stream closes once it is sent.
    void reset_stream(std::uint32_t id, HTTP2ErrorCode code);
    // GOAWAY naming the last stream taken. NO_ERROR is the graceful stop:
    // the streams open go on, new ones are ignored. Any other code is the
    // connection's end: nothing more is read, and the GOAWAY is the last
    // frame sent.
    void submit_goaway(HTTP2ErrorCode code, std::string_view debug = {});

    // Appends the frames due to `batch`: first the connection's own
    // (SETTINGS, ACKs, WINDOW_UPDATE, RST_STREAM) and the header blocks in
    // the order they were submitted, then DATA of the streams whose bodies
    // are ready, a frame each in turn, as the windows allow, until the
    // batch holds `limit` bytes.
    void send(HTTP2FrameBatch& batch, std::size_t limit);

    bool want_read() const noexcept { return life_ != Life::failed; }
    // send() has something to send now.
    bool want_write() const noexcept;
    // The connection is over from the protocol's side: a connection error's
    // GOAWAY, or the graceful one with no stream left, has been sent.
    bool finished() const noexcept;
    std::size_t open_streams() const noexcept { return streams_.size(); }
    std::uint32_t last_stream_id() const noexcept { return last_stream_id_; }
    // The first connection error (NO_ERROR if none), and what it was.
    HTTP2ErrorCode error() const noexcept { return error_; }
    const std::string& error_message() const noexcept { return error_message_; }
    // Why the last malformed request was reset (RFC 9113 section 8), for
    // the log; null if none was.
    const char* last_malformed() const noexcept { return last_malformed_; }

private:
    // A stream's state: the drawing at the top of this file. Each of the
    // two machines below is moved by its enter() alone, which throws
    // std::logic_error for a move its drawing does not show.
    enum class StreamState : std::uint8_t { open, half_closed_remote, half_closed_local, closed };
    // The response, as the frames go:
    //
    //   none ─submit_response(with a body)─► body ─its last DATA, or trailers─► ended
    //     └──────────submit_response(without)─────────────────────────────────┘
    enum class Output : std::uint8_t { none, body, ended };

    struct Stream {
        StreamState state = StreamState::open;
        Output output = Output::none;
        bool waiting_for_body = false;  // body_ready said none; resume_body wakes it
        bool in_turn = false;           // in sending_
        std::int64_t send_window = 0;
        std::int64_t receive_window = 0;
        std::size_t unconsumed = 0;  // taken and not yet given back by WINDOW_UPDATE
        std::uint32_t empty_data_in_a_row = 0;
        // Section 8's rules for the request: which pseudo-header fields
        // came (a bit each), whether a regular field came after them, and
        // the body's declared and received size.
        std::uint8_t pseudo_fields = 0;
        bool regular_field_seen = false;
        bool connect = false;              // :method CONNECT
        std::int64_t content_length = -1;  // none declared
        std::uint64_t body_received = 0;
        std::vector<std::pair<std::string, std::string>> trailers;
    };

    // What the session reads next: the client's preface, its first frame
    // (which must be SETTINGS), then any frame.
    //
    //   preface ─24 bytes─► first_settings ─SETTINGS─► frames
    enum class Phase : std::uint8_t { preface, first_settings, frames };

    // The session's life, moved by enter() alone:
    //
    //   serving ─submit_goaway(NO_ERROR)─► going_away
    //      │                                   │
    //      └── a connection error's GOAWAY ────┴─► failed
    //
    // going_away takes no new stream; failed reads nothing more and sends
    // nothing but what it queued (its GOAWAY last). Both are final but
    // for going_away's move to failed.
    enum class Life : std::uint8_t { serving, going_away, failed };
    void enter(Life to);

    Stream* find(std::uint32_t id);
    void on_frame(const HTTP2Frame& frame);
    void on_headers(const HTTP2Frame& frame);
    void on_header_block_end();
    void on_data(const HTTP2Frame& frame);
    void on_settings(const HTTP2Frame& frame);
    void on_window_update(const HTTP2Frame& frame);
    void on_rst_stream(const HTTP2Frame& frame);
    void apply_peer_settings(std::span<const HTTP2Setting> settings);
    void enter(Stream& stream, StreamState to);
    void enter(Stream& stream, Output to);
    void close(std::uint32_t id, Stream& stream, HTTP2ErrorCode code);
    void end_remote(std::uint32_t id, Stream& stream);
    void end_local(std::uint32_t id, Stream& stream);
    void fail(HTTP2ErrorCode code, const std::string& message);
    void give_back_connection(std::size_t size);
    bool frames_ignored_on(std::uint32_t id) const;
    void decode_block(std::string_view block);
    const char* field_problem(Stream& stream, std::string_view name, std::string_view value);
    const char* request_problem(const Stream& stream) const;
    void schedule(std::uint32_t id, Stream& stream);
    void send_data(HTTP2FrameBatch& batch, std::size_t limit);
    void report_closes();

    Listener& listener_;
    Limits limits_;
    HTTP2FrameReader reader_;
    HPACKDecoder decoder_;
    HPACKEncoder encoder_;
    std::unordered_map<std::uint32_t, Stream> streams_;
    std::string preface_seen_;
    Phase phase_ = Phase::preface;

    // A header block in pieces: HEADERS, then CONTINUATIONs on its stream.
    std::uint32_t block_stream_ = 0;  // 0: no block open
    bool block_ends_stream_ = false;
    bool block_is_trailers_ = false;
    bool block_ignored_ = false;  // decoded for HPACK's sake, handed to nobody
    // A stream error the block's frame caused, sent once it is decoded.
    HTTP2ErrorCode block_error_ = HTTP2ErrorCode::no_error;
    std::size_t block_continuations_ = 0;
    std::string block_;

    std::uint32_t last_stream_id_ = 0;
    std::deque<std::uint32_t> reset_ids_;  // the last streams we reset, oldest first

    // What send() writes first, in the order it was queued, and how many
    // ACKs (of PING and SETTINGS) are among it.
    std::string control_;
    std::size_t acks_queued_ = 0;
    std::string scratch_;  // a header block or a frame header being made
    // Streams whose bodies are ready to go, in turn.
    std::deque<std::uint32_t> sending_;
    // Closes to report once the frame that closes is in a batch.
    std::vector<std::pair<std::uint32_t, HTTP2ErrorCode>> closing_;

    // Flow control. Ours: what the client may still send (the connection's
    // receive window) and what it sent that was taken and not yet given
    // back. Theirs: what we may still send.
    std::int64_t connection_receive_window_ = 65535;
    std::size_t connection_unconsumed_ = 0;
    std::int64_t connection_send_window_ = 65535;
    std::uint32_t peer_initial_window_ = 65535;
    std::uint32_t peer_max_frame_size_ = kHTTP2DefaultMaxFrameSize;
    // Our SETTINGS_INITIAL_WINDOW_SIZE holds once the client has ACKed it.
    std::uint32_t our_initial_window_ = 65535;
    bool our_settings_acked_ = false;

    Life life_ = Life::serving;
    std::uint32_t goaway_last_id_ = 0;  // the last stream our GOAWAY took
    // Client resets allowed now (rapid reset), and when that was counted.
    double reset_tokens_;
    std::chrono::steady_clock::time_point reset_tokens_at_;
    HTTP2ErrorCode error_ = HTTP2ErrorCode::no_error;
    std::string error_message_;
    const char* last_malformed_ = nullptr;
};

}  // namespace tornado::detail
