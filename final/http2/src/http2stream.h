// http2stream.h: one HTTP/2 stream on the server, the add-on's own (not
// installed). It carries one request, which a small coroutine hands to the
// application's HTTPMessageDelegate (the RequestDriver it is, shared with
// HTTP/3: http/request_driver.h), and its response: the HTTPConnection
// the application writes to. HTTP2ServerConnection (tornado/http2.h)
// makes it, fills it from the session's callbacks (http2callbacks.h), and
// tells it when it is over.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/body_chunks.h"
#include "http/request_driver.h"
#include "http2session.h"
#include "tornado/http2.h"

namespace tornado {

class HTTP2Stream final : public detail::RequestDriver {
public:
    HTTP2Stream(std::shared_ptr<HTTP2ServerConnection> connection, std::uint32_t id);

    // --- HTTPConnection: the response, as the application writes it ---------------------

    Future<void> write_headers(const ResponseStartLine& start_line, const HTTPHeaders& headers,
                               std::string_view chunk) override;
    Future<void> write(std::string_view chunk) override;
    // A cached file's bytes: kept by reference until the session takes them.
    Future<void> write_headers_shared(const ResponseStartLine& start_line,
                                      const HTTPHeaders& headers, SharedBytes body) override;
    Future<void> write_shared(SharedBytes body) override;
    void finish() override;
    // The trailers go out as a HEADERS frame that ends the stream, after
    // the last DATA (body_ready hands them to the session at the end).
    void finish_with_trailers(const HTTPHeaders& trailers) override;
    void set_close_callback(Function<void()> callback) override;
    // A stream is not a byte stream of its own: nothing to give away
    // (WebSocket over HTTP/2, RFC 8441, is not offered). Throws.
    std::shared_ptr<IOStream> detach() override;
    const HTTPRequestContext* context() const override { return &context_; }
    // A copy of the connection's: xheaders rewrites it for this stream alone.
    HTTPRequestContext* mutable_context() override { return &context_; }

    // --- the request, as the session's callbacks fill it (no application code) ---------

    // One field of the request's header block (the session checked it
    // against RFC 9113 section 8, and resets a stream whose fields pass
    // twice max_header_list_size: an HPACK bomb). Past the limit itself
    // the request gets 431.
    void add_field(std::string_view name, std::string_view value);
    // add_body(): RequestDriver's.
    // END_STREAM came: the request is whole.
    void end_of_request();

    // --- the response's body, as the session's send() takes it --------------------------

    // How much of what the handler wrote is ready (at most `most`), and
    // whether it is all of it: then the trailers, if any, go to the session.
    detail::HTTP2Session::Listener::Body body_ready(std::size_t most) noexcept;
    // The next `length` bytes of what the handler wrote, onto the
    // connection's batch after the DATA frame's header the session wrote.
    // Cannot throw: the batch has room for a whole frame (gather_frames
    // makes it, and the session stops at a full batch).
    void send_data(detail::HTTP2FrameBatch& batch, std::size_t length) noexcept;
    // Not from a callback but from the connection, the same way: an
    // HTTP/1.1 request that asked for h2c by Upgrade, as this stream's
    // whole request (RFC 7540 section 3.2: it had no body).
    void take_upgraded_request(const RequestStartLine& start, const HTTPHeaders& headers);

    // --- for the connection, once the session has returned ------------------------------

    // start() and wake(): RequestDriver's.

    // The stream is over (answered and sent, reset by either side, or the
    // connection gone): the delegate hears it once, unless the response
    // was whole; what waits hears of it; the client's window is given back.
    void on_closed(detail::HTTP2ErrorCode error_code);
    // Let go of the connection: a handler may keep this stream (in its
    // request) for as long as it likes, the connection for no longer.
    void release() noexcept { connection_.reset(); }

    // The stream's way out before its response is whole: RST_STREAM with
    // `code` (RFC 9113 section 5.4.2). It only queues the frame, so it may
    // be called inside the session's callbacks; once the frame is sent the
    // stream closes, and on_closed() tells the delegate and gives the
    // window back, as for a reset the client sent.
    void reset(detail::HTTP2ErrorCode code);

    std::uint32_t id() const noexcept { return id_; }

private:
    // A stream's life is three small machines. Each has one writer, its
    // enter(), which throws std::logic_error for a move its drawing does
    // not show. The application's delegate (DelegateStage) is
    // RequestDriver's, drawn in http/request_driver.h; the other two:
    //
    // The stream, as the frames say (RFC 9113 section 5.1, the server's side):
    //
    //   open ─END_STREAM from the client─► half_closed_remote ─┐
    //    └── RST_STREAM either way, the response's last frame, ─┴─► closed
    //        or the connection's end
    //
    // closed is final: the stream carries nothing more (over()).
    enum class StreamState : std::uint8_t { open, half_closed_remote, closed };
    // The response, as the application writes it:
    //
    //   nothing_sent ─write_headers()─► headers_sent ─finish()─► finished
    enum class ResponseStage : std::uint8_t { nothing_sent, headers_sent, finished };

    void enter(StreamState to);
    void enter(ResponseStage to);

    // A write() whose bytes the session has not all taken yet.
    struct Waiting {
        std::uint64_t until;  // queued_ at its end
        Future<void> flushed;
    };

    // --- RequestDriver's hooks -------------------------------------------------------------

    bool over() const noexcept override { return state_ == StreamState::closed || !connection_; }
    bool remote_closed() const noexcept override { return state_ != StreamState::open; }
    bool response_begun() const noexcept override {
        return response_ != ResponseStage::nothing_sent;
    }
    void reset_after_error() override { reset(detail::HTTP2ErrorCode::internal_error); }
    void give_back(std::size_t size) noexcept override;
    HTTPServerConnection* server_connection() const noexcept override { return connection_.get(); }

    detail::HTTP2Session& session() const noexcept;

    // write_headers' part before the body: the status and header fields
    // submitted. False when the stream is over.
    bool start_response(const ResponseStartLine& start_line, const HTTPHeaders& headers);
    Future<void> queue(SharedBytes chunk);
    void take_into(detail::HTTP2FrameBatch& batch, std::size_t length) noexcept;
    void fail_waiting_writes() noexcept;

    std::shared_ptr<HTTP2ServerConnection> connection_;  // null once released
    std::uint32_t id_;
    HTTPRequestContext context_;

    // The request (the rest is RequestDriver's).
    bool head_request_ = false;
    StreamState state_ = StreamState::open;

    // The response.
    // Written, not yet taken by the session: out_[0] from out_taken_ on,
    // then the rest.
    std::vector<detail::BodyChunk> out_;
    std::size_t out_taken_ = 0;
    std::uint64_t queued_ = 0;  // body bytes written so far
    std::uint64_t taken_ = 0;   // body bytes the session has taken
    // A vector, as out_: libstdc++'s deque allocates twice when it is made,
    // and most streams have one write waiting, or none.
    std::vector<Waiting> writers_;
    std::vector<std::pair<std::string, std::string>> trailers_;  // names in lower case
    Function<void()> close_callback_;
    ResponseStage response_ = ResponseStage::nothing_sent;
    bool body_allowed_ = true;  // not for HEAD, 1xx, 204 and 304
};

}  // namespace tornado
