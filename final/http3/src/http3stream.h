// http3stream.h: one HTTP/3 request stream on the server, the add-on's own
// (not installed). It carries one request, which a small coroutine hands
// to the application's HTTPMessageDelegate (the RequestDriver it is,
// shared with HTTP/2: http/request_driver.h), and its response: the
// HTTPConnection the application writes to. HTTP3ServerConnection
// (tornado/http3.h) makes it, fills it from nghttp3's callbacks
// (http3callbacks.h), and tells it when it is over. The same shape as
// final/http2's HTTP2Stream.
#pragma once

#include <nghttp3/nghttp3.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/body_chunks.h"
#include "http/request_driver.h"
#include "tornado/http3.h"

namespace tornado {

class HTTP3Stream final : public detail::RequestDriver {
public:
    HTTP3Stream(std::shared_ptr<HTTP3ServerConnection> connection, std::int64_t id);

    // --- HTTPConnection: the response, as the application writes it ---------------------

    Future<void> write_headers(const ResponseStartLine& start_line, const HTTPHeaders& headers,
                               std::string_view chunk) override;
    Future<void> write(std::string_view chunk) override;
    // A cached file's bytes: nghttp3 points into them, kept by reference.
    Future<void> write_headers_shared(const ResponseStartLine& start_line,
                                      const HTTPHeaders& headers, SharedBytes body) override;
    Future<void> write_shared(SharedBytes body) override;
    void finish() override;
    // The trailers go out as a HEADERS frame after the body, which then
    // ends the stream (read_body submits them when it reaches the end).
    void finish_with_trailers(const HTTPHeaders& trailers) override;
    void set_close_callback(Function<void()> callback) override;
    // A stream is not a byte stream of its own. Throws.
    std::shared_ptr<IOStream> detach() override;
    const HTTPRequestContext* context() const override { return &context_; }
    HTTPRequestContext* mutable_context() override { return &context_; }

    // --- the request, as nghttp3's callbacks fill it (no application code) -------------

    void add_field(std::string_view name, std::string_view value);
    // The header section so far is past twice its limit. No request sends
    // that much; a QPACK bomb does (one-byte references to a large field
    // in the dynamic table, each decoded whole). Past the limit the request
    // gets 431; past this, the connection fails (H3_EXCESSIVE_LOAD).
    bool header_bomb() const noexcept;
    // add_body(): RequestDriver's.
    // The request's FIN came: it is whole.
    void end_of_request();
    // nghttp3 wants more of the response (its read_data callback).
    nghttp3_ssize read_body(nghttp3_vec* vec, std::size_t count, std::uint32_t* flags);
    // The peer acknowledged `length` more bytes of the response body:
    // their buffers may go.
    void acked(std::uint64_t length);

    // --- for the connection, once the libraries have returned ---------------------------

    // start() and wake(): RequestDriver's.

    // The stream is over (answered, reset either way, or the connection
    // gone): the delegate hears it once unless its response was whole.
    void on_closed(std::uint64_t error_code);
    void release() noexcept { connection_.reset(); }

    // The stream's way out before its response is whole: RESET_STREAM and
    // STOP_SENDING with `code` (an HTTP/3 error, RFC 9114 section 8.1).
    // Only tells ngtcp2, so it may be called inside a callback.
    void reset(std::uint64_t code);

    std::int64_t id() const noexcept { return id_; }

private:
    // The three machines, as final/http2's (drawn there, in
    // http2stream.h), each moved by its enter() alone, which throws
    // std::logic_error for a move its drawing does not show. The
    // application's delegate (DelegateStage) is RequestDriver's, drawn in
    // http/request_driver.h; the other two:
    //
    //   StreamState:   open ─FIN from the client─► half_closed_remote ─┐
    //                   └── reset either way, answered, or the end ────┴─► closed
    //   ResponseStage: nothing_sent ─write_headers()─► headers_sent ─finish()─► finished
    enum class StreamState : std::uint8_t { open, half_closed_remote, closed };
    enum class ResponseStage : std::uint8_t { nothing_sent, headers_sent, finished };
    void enter(StreamState to);
    void enter(ResponseStage to);

    // A write() whose bytes nghttp3 has not all taken yet.
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
    void reset_after_error() override { reset(NGHTTP3_H3_INTERNAL_ERROR); }
    // The client's stream and connection credit (MAX_STREAM_DATA, MAX_DATA).
    void give_back(std::size_t size) noexcept override;
    HTTPServerConnection* server_connection() const noexcept override { return connection_.get(); }

    nghttp3_conn* http() const noexcept;
    // write_headers' part before the body: the status and header fields
    // submitted. False when the stream is over.
    bool start_response(const ResponseStartLine& start_line, const HTTPHeaders& headers);
    Future<void> queue(SharedBytes chunk);
    void fail_waiting_writes() noexcept;
    bool submit_trailers() noexcept;

    std::shared_ptr<HTTP3ServerConnection> connection_;  // null once released
    std::int64_t id_;
    HTTPRequestContext context_;

    // The request (the rest is RequestDriver's).
    bool head_request_ = false;
    StreamState state_ = StreamState::open;

    // The response body: nghttp3 points into these pieces until the
    // client acknowledges their bytes, so a piece stays, in place (a
    // deque never moves its elements), until then.
    std::deque<detail::BodyChunk> chunks_;
    std::size_t next_chunk_ = 0;        // the first chunk not yet handed to nghttp3
    std::uint64_t acked_in_front_ = 0;  // of chunks_.front(), acknowledged already
    std::uint64_t queued_ = 0;          // body bytes written
    std::uint64_t taken_ = 0;           // body bytes nghttp3 has taken
    std::deque<Waiting> writers_;
    std::vector<std::string> trailers_;  // names (lower case) and values, in turn
    Function<void()> close_callback_;
    ResponseStage response_ = ResponseStage::nothing_sent;
    bool body_allowed_ = true;
};

}  // namespace tornado
