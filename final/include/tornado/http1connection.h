// tornado/http1connection.h: HTTP/1.x over an IOStream (Tornado's
// `tornado.http1connection`).
//
// Chapter 05's connection grown up, in Tornado's two classes:
//
//   HTTP1ServerConnection  one TCP connection. Its serving loop (a
//                          coroutine) reads a request head, asks the
//                          application for an HTTPMessageDelegate, and
//                          hands the request to an HTTP1Connection; when
//                          the response is finished, it reads the next.
//   HTTP1Connection        one request and its response: it feeds the
//                          delegate (headers_received, data_received,
//                          finish) and is the HTTPConnection the
//                          application writes to (write_headers, write,
//                          finish).
//
//   ┌─► read_until("\r\n\r\n", max_header_size)     header_timeout (idle too)
//   │        │  parse_request_head: one pass, strict; framing settled here
//   │        ▼
//   │   delegate.headers_received(start_line, headers)   (may return a Future)
//   │        │  Content-Length over max_body_size: 413
//   │        │  Expect: 100-continue: "HTTP/1.1 100 Continue"
//   │        ▼
//   │   body: data_received(piece)...  (Content-Length, or chunked)   body_timeout
//   │        ▼
//   │   delegate.finish()  ──► the application writes: write_headers, write, finish
//   │        ▼
//   └── response flushed; keep-alive? ── no ──► close
//
// The rules, beyond Tornado 6.2's:
//
// * Keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
//   "Connection: keep-alive" (answered "Connection: Keep-Alive", as Tornado). Pipelined
//   requests are answered in order: the next head is read only once the
//   response to this one is finished.
// * Framing is strict (RFC 9112 section 6): Content-Length is digits only and
//   may repeat only with the same value; Transfer-Encoding must be exactly
//   "chunked", never beside a Content-Length, never in HTTP/1.0; chunk sizes
//   are hex digits only; chunk extensions are ignored, trailers read, checked
//   and dropped.
// * Every error gets an answer that names it in its body ("400 Bad Request:
//   header name is not a token: 'Bad Name'"), with "Connection: close":
//   400 malformed, 413 body over max_body_size, 431 a head or trailers
//   over max_header_size, 505 HTTP/2.0, 408 body_timeout, 500 when the
//   application throws before answering. The connection then half-closes
//   and drains what the client still sends for a moment (a lingering close),
//   so the answer is read before the connection goes away. A head over
//   max_header_size gets 431 the same way (Tornado 6.2 just closes).
// * The response: Date (formatted once a second) and Server are added when
//   missing; chunked encoding when HTTP/1.1 has no Content-Length; no body
//   for HEAD, 1xx, 204 and 304, whatever is written; the head goes out with
//   the first piece of body in one write; TCP_NODELAY is set once per
//   connection instead of toggled per response.
// * A client that half-closes its side after a full request still gets its
//   response.
//
// The fast path (a request without a body, answered at once) runs in plain
// callbacks, as chapter 05's connection does: read, parse, headers_received,
// finish, one write, read again. An idle connection holds its stream, its
// pending read, and one small object. The rest (bodies, asynchronous
// answers) runs in a coroutine made for that request.
//
// Threads: everything on the loop's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tornado/concurrent.h"
#include "tornado/gen.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/util.h"

namespace tornado {

class HTTPServer;

// The Server header a response gets unless it has one.
inline constexpr std::string_view kDefaultServerHeader = "TornadoServer/0.1.0";

// The limits and options of a connection (Tornado's
// HTTP1ConnectionParameters). Shared, read-only, by every connection of a server.
struct HTTP1ConnectionParameters {
    // Close after each response.
    bool no_keep_alive = false;
    // Most body bytes handed to data_received at once.
    std::size_t chunk_size = 64 * 1024;
    // Request line and headers together. More closes the connection.
    std::size_t max_header_size = 64 * 1024;
    // From waiting for a request (a new connection, or after a response) to
    // having its whole head. Also how long an idle keep-alive connection
    // stays open. Nothing: no limit.
    std::optional<IOLoop::Clock::duration> header_timeout{};
    // The body, after chunked decoding (Tornado: 100 MB, the stream's buffer).
    std::size_t max_body_size = 100 * 1024 * 1024;
    // From the end of the head to the end of the body. Nothing: no limit.
    std::optional<IOLoop::Clock::duration> body_timeout{};
    // Added to responses that have no Server header (empty: none).
    std::string server_header = std::string(kDefaultServerHeader);
    // Add a Date header to responses that have none.
    bool date_header = true;
    // Inflate a request body sent with Content-Encoding: gzip (the
    // delegate sees it plain, with X-Consumed-Content-Encoding: gzip
    // instead); max_body_size limits what it inflates to as well.
    bool decompress = false;
};

class HTTP1ServerConnection;

// One request and its response (Tornado's HTTP1Connection, server side).
// The application gets it as the HTTPConnection of the request.
class HTTP1Connection final : public HTTPConnection,
                              public std::enable_shared_from_this<HTTP1Connection> {
public:
    explicit HTTP1Connection(std::shared_ptr<HTTP1ServerConnection> server);
    ~HTTP1Connection() override;
    HTTP1Connection(const HTTP1Connection&) = delete;
    HTTP1Connection& operator=(const HTTP1Connection&) = delete;

    // --- HTTPConnection ----------------------------------------------------------

    // See HTTPConnection. Throws std::logic_error when called out of order,
    // HTTPOutputError when a write goes past the Content-Length (the
    // connection is then closed). On a closed connection the Futures fail
    // with StreamClosedError.
    Future<void> write_headers(const ResponseStartLine& start_line, const HTTPHeaders& headers,
                               std::string_view chunk = {}) override;
    Future<void> write(std::string_view chunk) override;
    // Throws HTTPOutputError (and closes) when fewer bytes than the
    // Content-Length were written.
    void finish() override;

    // Called once if the connection closes while the application works on
    // the request (not after the response is finished).
    void set_close_callback(Function<void()> callback) override;
    // For this request only: stream_request_body handlers raise or lower them
    // in headers_received / prepare.
    void set_max_body_size(std::size_t max_body_size) override;
    void set_body_timeout(IOLoop::Clock::duration timeout) override;
    // Takes the stream away from HTTP: the serving loop stops without
    // closing it (WebSocket's upgrade, after its 101 response).
    std::shared_ptr<IOStream> detach() override;
    const HTTPRequestContext* context() const override;

    // Closes the connection (the stream).
    void close();
    // The stream, or nullptr once detached.
    std::shared_ptr<IOStream> stream() const;

private:
    friend class HTTP1ServerConnection;

    enum class Outcome : std::uint8_t { keep_alive, close, pending };

    // Called by the serving loop with the head it read. Returns keep_alive
    // or close when the request is over already (the fast path), pending
    // when the rest must run in continue_message().
    Outcome start_message(std::string head, HTTPMessageDelegate& delegate);
    // The slow path, a coroutine of its own: waits for headers_received's
    // Future, reads the body, calls finish, waits for the response; then
    // hands the connection back to the serving loop.
    Task<void> continue_message(std::unique_ptr<HTTPMessageDelegate> delegate);
    Task<bool> complete_message(HTTPMessageDelegate& delegate);
    Task<void> read_body(HTTPMessageDelegate& delegate);
    Task<bool> pass_body(HTTPMessageDelegate& delegate, std::uint64_t n);
    Task<void> read_trailers();
    void framing_from(const RequestStartLine& start_line, const HTTPHeaders& headers);
    void check_body_size();
    bool response_complete() const noexcept;
    Outcome finished_outcome() const noexcept;
    void call_delegate_close(HTTPMessageDelegate& delegate) noexcept;

    // The stream while it is open and ours, else nullptr (checked_stream: throws).
    IOStream* open_stream() const noexcept;
    IOStream* checked_stream() const;

    // The response.
    void format_head(std::string& out, const ResponseStartLine& start_line,
                     const HTTPHeaders& headers);
    bool append_body(std::string& out, std::string_view chunk);
    Future<void> send(std::string_view data, std::string_view big_chunk);
    void finish_request();

    // Errors and time limits.
    void fail_request(const HTTPInputError& error);
    void fail_with_exception(std::exception_ptr error);
    void send_error_response(int status, std::string_view message);
    void answer_timeout();
    void on_stream_closed();

    std::shared_ptr<HTTP1ServerConnection> server_;

    // The request, as far as the connection needs it.
    std::uint64_t content_length_ = 0;
    std::size_t max_body_size_;
    std::optional<IOLoop::Clock::duration> body_timeout_;
    std::unique_ptr<GzipDecompressor> gunzip_body_;  // a gzipped body, with params.decompress
    bool chunked_request_ = false;
    bool head_request_ = false;
    bool http11_ = false;            // HTTP/1.1 (else 1.0, or 1.x treated as 1.0)
    bool keep_alive_asked_ = false;  // HTTP/1.0 "Connection: keep-alive"
    bool expect_continue_ = false;
    bool disconnect_on_finish_ = false;
    bool read_finished_ = false;
    bool delegate_finished_ = false;  // finish() or on_connection_close() was called

    // The response.
    bool headers_written_ = false;
    bool write_finished_ = false;    // finish() was called
    bool request_finished_ = false;  // finished and flushed
    bool chunking_output_ = false;
    bool response_body_allowed_ = true;
    bool switching_protocols_ = false;  // a 101 answer: the stream goes to someone else next
    bool detached_ = false;
    std::optional<std::uint64_t> expected_content_remaining_;
    Future<void> headers_future_{nullptr};  // what headers_received returned, while pending
    Future<void> pending_write_{nullptr};   // the latest write
    Future<void> finish_future_{nullptr};   // made only when the loop must wait
    Function<void()> close_callback_;
};

// One HTTP/1.x connection on the server (Tornado's HTTP1ServerConnection).
class HTTP1ServerConnection : public std::enable_shared_from_this<HTTP1ServerConnection> {
public:
    // The stream is served from start_serving() on. `params` may be shared
    // by many connections (nullptr: the defaults).
    HTTP1ServerConnection(std::shared_ptr<IOStream> stream,
                          std::shared_ptr<const HTTP1ConnectionParameters> params = nullptr,
                          HTTPRequestContext context = {});
    ~HTTP1ServerConnection();
    HTTP1ServerConnection(const HTTP1ServerConnection&) = delete;
    HTTP1ServerConnection& operator=(const HTTP1ServerConnection&) = delete;

    // Starts the serving loop: each request goes to delegate.start_request,
    // and delegate.on_close(this) is called once when the loop ends. The
    // delegate must outlive the connection (HTTPServer sees to it).
    void start_serving(HTTPServerConnectionDelegate& delegate);

    // Closes the stream; the Future resolves when the serving loop has ended
    // (Tornado's close()).
    Future<void> close();
    // A graceful close: at once when idle (waiting for a request with
    // nothing of one received), else after the response in progress (which
    // says "Connection: close").
    void close_when_idle();
    // Waiting for a request head, with no byte of one buffered.
    bool idle() const noexcept;
    bool serving() const noexcept { return serving_; }

    HTTPRequestContext& context() noexcept { return context_; }
    const HTTP1ConnectionParameters& params() const noexcept { return *params_; }
    // The stream (nullptr once detached).
    const std::shared_ptr<IOStream>& stream() const noexcept { return stream_; }

private:
    friend class HTTP1Connection;
    friend class HTTPServer;

    enum class Waiting : std::uint8_t { nothing, head, body };

    // The serving loop, in the chapter's callback style (an idle
    // connection holds no coroutine frame): read a head, serve it, and on
    // to the next while requests are answered at once; a request that
    // must wait goes on in its own coroutine, which calls request_done().
    void read_next_request();
    void on_head(Future<std::string>& reading);
    void answer_head_too_large();
    bool serve_head(std::string head);
    bool after_request(const HTTP1Connection& request, bool keep_alive);
    void request_done(const HTTP1Connection& request, bool keep_alive);
    void end_serving() noexcept;

    // Time limits: one loop timeout per connection, moved lazily (a new
    // deadline later than the armed one just waits for it to fire).
    void wait_for(Waiting what, std::optional<IOLoop::Clock::duration> limit);
    void arm_timer(IOLoop::Clock::time_point when);
    void on_timer();
    void disarm_timer() noexcept;

    // Half-closes once `flushed` resolves, then reads and drops what the
    // client still sends (for a moment) before closing: an error answer is
    // not lost to a reset caused by unread bytes.
    void lingering_close(Future<void> flushed);
    void on_stream_closed();

    std::shared_ptr<IOStream> stream_;
    std::shared_ptr<const HTTP1ConnectionParameters> params_;
    HTTPRequestContext context_;
    IOLoop* loop_;
    HTTP1Connection* current_ = nullptr;  // the request in progress (owned by whoever runs it)
    HTTPServerConnectionDelegate* delegate_ = nullptr;
    Future<void> closed_future_{nullptr};  // made by close() while the loop runs

    IOLoop::Clock::time_point deadline_ = IOLoop::Clock::time_point::max();
    IOLoop::Clock::time_point timer_at_{};
    IOLoop::Timeout timer_;
    Waiting waiting_ = Waiting::nothing;
    bool timer_armed_ = false;
    bool serving_ = false;
    bool close_when_idle_ = false;
    bool detached_ = false;
    bool lingering_ = false;

    HTTPServer* server_ = nullptr;  // the server that lists it (if any)
    std::size_t server_slot_ = 0;   // its index in that list
};

}  // namespace tornado
