// http2connection.h: one HTTP/2 connection, cleartext with prior knowledge
// (h2c: the client knows we speak HTTP/2 and starts with the preface).
// Tornado's counterpart is tornado_http2's Connection.
//
// Where chapter 05's HTTP1Connection serves one request at a time, this
// serves up to max_concurrent_streams at once, all on one TCP connection,
// their frames interleaved:
//
//   client ─► PRI * HTTP/2.0 ... SETTINGS  HEADERS(1)  HEADERS(3)  DATA(3)  WINDOW_UPDATE ...
//   server ◄─ SETTINGS  SETTINGS(ack)  HEADERS(3)  DATA(1)  DATA(3)  HEADERS(1) ...
//
// Reading is one coroutine (chapter 08's Task), serve(): the 24-byte
// preface, then forever a 9-byte frame header and its payload, each handed
// to handle_frame(), which dispatches by type. It never waits for the
// application: a request whose stream ends is handed to the callback, and
// reading goes on. Writing is frames handed to the IOStream, in order.
//
// Flow control, the chapter's key idea, is chapter 04's rule ("never buffer
// without bound; a slow reader slows its writer") applied to each stream:
//
//   * the client may send DATA only within the windows we gave it: one for
//     the connection, one per stream. We give bytes back (WINDOW_UPDATE) as
//     the body is taken in; a client that sends beyond is in error;
//   * we may send DATA only within the windows the client gave us. A
//     response's DATA waits in its stream (send_pending_data) until the
//     client opens the window again; a stream whose reader stalls waits
//     alone, the others go on; and a handler that streams, writing with
//     on_flushed, is told to go on only once its data has gone out.
//
// Errors: a ConnectionError (frame.h) sends GOAWAY with its code and closes;
// a StreamError sends RST_STREAM on that stream and the rest go on.
//
// Lifetime: the reading coroutine holds the connection while it runs, and
// it runs until the stream closes. The connection holds its open streams.
//
// Threads: everything on the loop's thread, like the stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <future_stream.h>  // <> like chapter 08's headers (see chapter 07's future.h)
#include <task.h>
#include "frame.h"
#include "hpack.h"
#include "http1connection.h"
#include "ioloop.h"
#include "iostream.h"
#include "stream.h"
#include "window.h"

namespace course {

// The limits a connection enforces and announces; the tests lower them.
struct HTTP2ConnectionParameters {
    // SETTINGS_MAX_CONCURRENT_STREAMS: more open streams get REFUSED_STREAM.
    std::uint32_t max_concurrent_streams = 100;
    // SETTINGS_INITIAL_WINDOW_SIZE: how much body each stream may send us
    // before we give some back.
    std::uint32_t initial_window_size = 65535;
    // The connection's receive window, shared by all streams' bodies: the
    // RFC's 65535 to start, raised to this with a WINDOW_UPDATE.
    std::uint32_t connection_window_size = 1024 * 1024;
    // SETTINGS_MAX_HEADER_LIST_SIZE; a larger request gets 431. It also
    // bounds a header block's compressed size (HEADERS plus CONTINUATIONs).
    std::size_t max_header_list_size = 64 * 1024;
    // A header block in more pieces than this is a CONTINUATION flood.
    std::size_t max_continuation_frames = 100;
    // A larger body gets 413 (chapter 05's limit).
    std::size_t max_body_size = 10 * 1024 * 1024;
    // Rapid reset (CVE-2023-44487): more than this many streams reset by
    // the client within rapid_reset_span ends the connection.
    int rapid_reset_limit = 200;
    std::chrono::milliseconds rapid_reset_span = std::chrono::seconds(1);
    // PING and SETTINGS oblige us to answer (an ACK each). A client that
    // asks faster than it reads the answers would make us buffer them
    // without bound: more than this many unsent ends the connection.
    std::size_t max_unsent_replies = 1000;
};

// The connection is each of its streams' StreamOwner (stream.h): what a
// stream may ask of it, and nothing more.
class HTTP2Connection : public StreamOwner,
                        public std::enable_shared_from_this<HTTP2Connection> {
public:
    using RequestCallback = std::function<void(std::shared_ptr<HTTPServerRequest>)>;

    HTTP2Connection(std::shared_ptr<IOStream> stream, std::string remote_address,
                    HTTP2ConnectionParameters params, RequestCallback callback);
    HTTP2Connection(const HTTP2Connection&) = delete;
    HTTP2Connection& operator=(const HTTP2Connection&) = delete;

    // Sends our SETTINGS and starts reading (the coroutine serve()).
    void start();

    // Closes the TCP connection now; every stream with it.
    void close();
    bool closed() const override;
    // Runs once, from the loop, when the connection is over.
    void set_close_callback(std::function<void()> callback);

    // Task 4: GOAWAY with the last stream id we took; the streams we took
    // are answered, new ones are ignored, then the connection closes.
    void close_when_idle();

    // Streams that are not closed yet.
    std::size_t open_streams() const { return streams_.size(); }

private:
    using Stream = std::shared_ptr<HTTP2Stream>;

    // A request's header block: one HEADERS frame, or one and the
    // CONTINUATIONs after it (header_block_ below, while they arrive).
    struct HeaderBlock {
        std::uint32_t stream_id;
        bool end_stream;     // the HEADERS frame's flag, for the whole block
        std::string bytes;   // HPACK, decoded only once whole
        std::size_t frames;  // HEADERS and CONTINUATIONs so far
    };

    // Reading (http2connection.cpp).
    Task<void> serve();
    // `broken`: a stream error check_frame_header found in this frame.
    void handle_frame(const http2::FrameHeader& header, std::string_view payload,
                      const std::optional<http2::StreamError>& broken);
    void on_settings(const http2::FrameHeader& header, std::string_view payload);
    void apply_setting(const http2::Setting& setting);
    void on_ping(const http2::FrameHeader& header, std::string_view payload);
    void on_goaway(std::string_view payload);
    void on_rst_stream(const http2::FrameHeader& header, std::string_view payload);
    void on_priority(const http2::FrameHeader& header, std::string_view payload);
    void on_headers(const http2::FrameHeader& header, std::string_view payload);
    void on_continuation(const http2::FrameHeader& header, std::string_view payload);
    void on_header_block(const HeaderBlock& block);
    void open_stream(std::uint32_t stream_id, bool end_stream, http2::DecodedHeaders decoded);
    void on_trailers(const Stream& stream, const http2::HeaderList& fields);
    void dispatch_request(const Stream& stream);
    void count_reset_by_client();

    // Streams.
    Stream find_stream(std::uint32_t stream_id) const;
    // The state of a stream the connection no longer (or not yet) holds.
    http2::StreamState state_of_unknown(std::uint32_t stream_id) const;
    void on_unknown_stream(const http2::FrameHeader& header);
    bool recently_reset(std::uint32_t stream_id) const;
    void reset_stream(std::uint32_t stream_id, http2::ErrorCode code) override;
    void forget_stream(std::uint32_t stream_id);
    void stream_closed(const Stream& stream);

    // Task 3: flow control (flow_control.cpp).
    void on_data(const http2::FrameHeader& header, std::string_view payload);
    void give_back_connection_window(std::size_t bytes);
    void give_back_stream_window(const Stream& stream, std::size_t bytes);
    void on_window_update(const http2::FrameHeader& header, std::string_view payload);
    void change_initial_send_window(std::int64_t new_size);
    void send_soon() override;
    void send_pending_data();
    bool send_next_frame(HTTP2Stream& stream, FrameSender& out);

    // Writing and ending.
    void send(std::string bytes, IOStream::WriteCallback on_sent = {});
    void send_reply(std::string frame);
    void fail(const http2::ConnectionError& error);
    void close_after_flush();
    void end_serving();
    // Task 4 (graceful GOAWAY).
    void close_if_drained();
    bool ignored_after_goaway(std::uint32_t stream_id) const;

    FutureStream stream_;
    std::string remote_address_;
    HTTP2ConnectionParameters params_;
    RequestCallback callback_;
    std::function<void()> close_callback_;

    // The connection's life, one value:
    //
    //   serving ──close_when_idle()──► going_away ──its last stream is done──► closing
    //      │                                 │                                     ▲
    //      └──────────── a ConnectionError: GOAWAY with its code ───────────────────┘
    //
    //   any of them ──the reading coroutine ends (the TCP connection closed)──► ended
    //
    // serving: streams are opened and answered. going_away: our GOAWAY
    // NO_ERROR is out; the streams it named are answered, newer ones
    // ignored. closing: our last frames are being flushed, then the TCP
    // connection closes (at most kCloseAfterFlushLimit later). ended:
    // serve() has returned; nothing is read or answered any more.
    enum class Life { serving, going_away, closing, ended };
    Life life_ = Life::serving;
    // Streams above this id are ignored once we have said GOAWAY.
    std::uint32_t goaway_last_stream_id_ = 0;
    // ACKs given to the stream that the kernel has not taken yet.
    std::size_t unsent_replies_ = 0;

    // What each side has announced. Ours take effect once acknowledged.
    bool settings_acknowledged_ = false;
    bool client_settings_seen_ = false;
    std::uint32_t peer_max_frame_size_ = http2::kDefaultMaxFrameSize;
    std::int64_t peer_initial_window_ = http2::kDefaultWindowSize;

    http2::HeaderDecoder decoder_;
    http2::HeaderEncoder encoder_;

    // Streams not closed, by id; the highest id the client opened.
    std::map<std::uint32_t, Stream> streams_;
    std::uint32_t last_stream_id_ = 0;
    // Streams we reset lately: a frame the client sent before it learned
    // of the reset is ignored, not an error (section 5.1, "closed").
    std::deque<std::uint32_t> recently_reset_;

    // A header block in pieces (HEADERS without END_HEADERS, then
    // CONTINUATIONs): nothing else may come until it is whole. Empty: no
    // block in progress.
    std::optional<HeaderBlock> header_block_;

    // Rapid reset: resets by the client in the current span.
    int resets_in_span_ = 0;
    IOLoop::Clock::time_point reset_span_start_{};

    // Flow control: the connection's two windows (each stream has its own).
    http2::Window send_window_;
    http2::Window receive_window_;
    bool send_scheduled_ = false;
};

}  // namespace course
