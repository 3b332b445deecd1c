// http3stream.h: one HTTP/3 request stream on the server, the add-on's own
// (not installed). It carries one request, which a small coroutine hands
// to the application's HTTPMessageDelegate, and its response: the
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

#include "tornado/http3.h"

namespace tornado {

class HTTP3Stream final : public HTTPConnection, public std::enable_shared_from_this<HTTP3Stream> {
public:
    HTTP3Stream(std::shared_ptr<HTTP3ServerConnection> connection, std::int64_t id);

    // --- HTTPConnection: the response, as the application writes it ---------------------

    Future<void> write_headers(const ResponseStartLine& start_line, const HTTPHeaders& headers,
                               std::string_view chunk) override;
    Future<void> write(std::string_view chunk) override;
    void finish() override;
    // The trailers go out as a HEADERS frame after the body, which then
    // ends the stream (read_body submits them when it reaches the end).
    void finish_with_trailers(const HTTPHeaders& trailers) override;
    void set_close_callback(Function<void()> callback) override;
    void set_max_body_size(std::size_t max_body_size) override;
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
    void add_body(const std::uint8_t* data, std::size_t length);
    // The request's FIN came: it is whole.
    void end_of_request();
    // nghttp3 wants more of the response (its read_data callback).
    nghttp3_ssize read_body(nghttp3_vec* vec, std::size_t count, std::uint32_t* flags);
    // The peer acknowledged `length` more bytes of the response body:
    // their buffers may go.
    void acked(std::uint64_t length);

    // --- for the connection, once the libraries have returned ---------------------------

    void start(HTTPServerConnectionDelegate& delegate);
    void wake();
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
    // std::logic_error for a move its drawing does not show:
    //
    //   StreamState:   open ─FIN from the client─► half_closed_remote ─┐
    //                   └── reset either way, answered, or the end ────┴─► closed
    //   DelegateStage: waiting ─start()─► running ─finish() or on_connection_close()─► done
    //                     └──── refused before it began (400, 431, 413, 500) ────────┘
    //   ResponseStage: nothing_sent ─write_headers()─► headers_sent ─finish()─► finished
    enum class StreamState : std::uint8_t { open, half_closed_remote, closed };
    enum class DelegateStage : std::uint8_t { waiting, running, done };
    enum class ResponseStage : std::uint8_t { nothing_sent, headers_sent, finished };
    void enter(StreamState to);
    void enter(DelegateStage to);
    void enter(ResponseStage to);

    // A write() whose bytes nghttp3 has not all taken yet.
    struct Waiting {
        std::uint64_t until;  // queued_ at its end
        Future<void> flushed;
    };

    bool over() const noexcept { return state_ == StreamState::closed || !connection_; }
    nghttp3_conn* http() const noexcept;
    Future<void> queue(std::string_view chunk);
    void fail_waiting_writes() noexcept;
    bool submit_trailers() noexcept;

    Task<void> run_request();
    std::uint64_t declared_length() const;
    void refuse(int status, std::string_view message);
    void close_delegate() noexcept;
    void stop_delegate() noexcept;
    // Gives `size` bytes of request body back to the client's stream and
    // connection credit (MAX_STREAM_DATA, MAX_DATA).
    void give_back(std::size_t size) noexcept;

    std::shared_ptr<HTTP3ServerConnection> connection_;  // null once released
    std::int64_t id_;
    HTTPRequestContext context_;
    std::size_t max_body_size_;

    // The request.
    RequestStartLine start_line_;
    HTTPHeaders headers_;
    std::string authority_;
    std::string cookie_;
    bool malformed_ = false;  // a field refused (a control character in its value)
    std::size_t header_bytes_ = 0;
    std::string body_pending_;
    std::size_t body_with_delegate_ = 0;
    std::uint64_t body_received_ = 0;
    std::unique_ptr<HTTPMessageDelegate> delegate_;
    Future<void> more_{nullptr};
    bool head_request_ = false;
    StreamState state_ = StreamState::open;
    DelegateStage delegate_stage_ = DelegateStage::waiting;

    // The response body: nghttp3 points into these buffers until the
    // client acknowledges their bytes, so a chunk stays (in place: a deque
    // does not move its elements) until then.
    std::deque<std::string> chunks_;
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
