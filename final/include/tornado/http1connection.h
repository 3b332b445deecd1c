// tornado/http1connection.h: HTTP/1.x over an IOStream (Tornado's
// `tornado.http1connection`).
//
// Chapter 05's connection grown up, in Tornado's two classes:
//
//   HTTP1ServerConnection  one TCP connection. Its serving loop (plain
//                          callbacks) reads a request head, asks the
//                          application for an HTTPMessageDelegate, and
//                          hands the request to an HTTP1Connection; when
//                          the response is finished, it reads the next.
//   HTTP1Connection        one request and its response: it feeds the
//                          delegate (headers_received, data_received,
//                          finish) and is the HTTPConnection the
//                          application writes to (write_headers, write,
//                          finish).
//
//   ┌─► read_until_empty_line(max_header_size, done)   header_timeout (idle too)
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
// * A client that sends its FIN while the application works on the answer
//   (a long poll, a slow coroutine) makes on_connection_close run, as in
//   Tornado, but the answer is still written, as nginx writes it: a client
//   that only half-closed its side after a full request (`nc -q`,
//   shutdown(SHUT_WR)) gets its response, then the connection closes.
//
// The fast path (a request without a body, answered at once) runs in plain
// callbacks, as chapter 05's connection does: read, parse, headers_received,
// finish, one write, read again (on the io_uring loop, where the write is
// reported a turn later, "read again" runs from the write's callback). An
// idle connection holds its stream, its pending read (a callback, no
// Future), and one small object. The rest (bodies, asynchronous answers)
// runs in a coroutine made for that request.
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

// The first line of HTTP/2's connection preface (RFC 9113 section 3.4),
// which reads as an HTTP/1 request head: a client that knows the server
// speaks HTTP/2 opens with it ("prior knowledge").
inline constexpr std::string_view kHTTP2PrefaceHead = "PRI * HTTP/2.0\r\n\r\n";

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
    // An Alt-Svc value (RFC 7838) added to responses that have none:
    // HTTPServer's http3 sets `h3=":PORT"`, which is how a browser learns
    // of HTTP/3. Empty: none.
    std::string alt_svc{};
    // Inflate a request body sent with Content-Encoding: gzip (the
    // delegate sees it plain, with X-Consumed-Content-Encoding: gzip
    // instead); max_body_size limits what it inflates to as well.
    bool decompress = false;
    // Hand a client that opens with HTTP/2's preface, or (in cleartext)
    // sends a request without a body that asks for "Upgrade: h2c", to the
    // delegate's start_http2 (HTTPServer with http2). Otherwise the
    // preface gets 505 and the Upgrade is ignored.
    bool http2 = false;
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
    Future<void> write_headers_shared(const ResponseStartLine& start_line,
                                      const HTTPHeaders& headers, SharedBytes body) override;
    bool sends_file_now() const override;
    Future<void> write_file(FileBytes file) override;
    Future<void> write(std::string_view chunk) override;
    // Throws HTTPOutputError (and closes) when fewer bytes than the
    // Content-Length were written.
    void finish() override;
    // A chunked body ends with the trailers as its trailer section
    // (RFC 9112 section 7.1.2); any other body has nowhere to put them, and
    // they are dropped.
    void finish_with_trailers(const HTTPHeaders& trailers) override;

    // Called once if the connection closes while the application works on
    // the request (not after the response is finished).
    void set_close_callback(Function<void()> callback) override;
    // For this request only: stream_request_body handlers raise or lower them
    // in headers_received / prepare. Read when the body starts: a later call
    // changes nothing. A gzipped body (params.decompress) keeps the
    // connection's max_body_size as the limit on what it inflates to.
    void set_max_body_size(std::size_t max_body_size) override;
    // As set_max_body_size, for body_timeout.
    void set_body_timeout(IOLoop::Clock::duration timeout) override;
    // Takes the stream away from HTTP: the serving loop stops without
    // closing it (WebSocket's upgrade, after its 101 response).
    std::shared_ptr<IOStream> detach() override;
    const HTTPRequestContext* context() const override;
    HTTPRequestContext* mutable_context() override;

    // Closes the connection (the stream).
    void close();
    // The stream, or nullptr once detached.
    std::shared_ptr<IOStream> stream() const;

private:
    // The serving loop calls the methods below (and nothing else of this
    // class's private part): start_message, continue_message, fail_request,
    // switching_protocols, on_stream_closed and answer_timeout.
    friend class HTTP1ServerConnection;

    // pending: the request goes on in continue_message. flushing: it is
    // answered whole, and only its last write is still with the kernel (the
    // io_uring loop reports a send a turn later): the serving loop goes on
    // when finish_request runs, with no coroutine (resume_after_flush_).
    enum class Outcome : std::uint8_t { keep_alive, close, pending, flushing };

    // What the head says about the request. Settled by start_message before
    // the delegate sees the head, read-only after.
    struct RequestFacts {
        bool http11 = false;            // HTTP/1.1 (else 1.0, or 1.x treated as 1.0)
        bool head = false;              // a HEAD request: the response has no body
        bool keep_alive_asked = false;  // HTTP/1.0's "Connection: keep-alive"
        bool expect_continue = false;   // "Expect: 100-continue"
        bool chunked = false;           // "Transfer-Encoding: chunked"
        std::uint64_t content_length = 0;

        bool has_body() const noexcept { return chunked || content_length > 0; }
    };

    // How the response is framed. Settled by write_headers (format_head).
    struct ResponseFraming {
        bool body_allowed = true;          // false for HEAD, 1xx, 204 and 304
        bool chunked = false;              // the body goes out in chunks
        bool switching_protocols = false;  // a 101: the stream goes to someone else next
        // Body bytes still owed to the Content-Length (nothing: no Content-Length).
        std::optional<std::uint64_t> content_remaining;
    };

    // The response's progress. It only moves forward, one step at a time,
    // except that an error answer (send_error_response, fail_request) jumps
    // to abandoned from wherever the application's response had got to.
    //
    //   nothing_sent ─write_headers─► headers_sent ─finish()─► finishing ─flushed─► finished
    //        │                            │ write()*             │
    //        └────────────────────────────┴──────────────────────┴─ error answer ─► abandoned
    //
    // The request is over at finished or abandoned, or when the stream is
    // closed or detached, whichever comes first.
    enum class ResponseState : std::uint8_t {
        nothing_sent,  // write_headers not called yet: an error may still be answered
        headers_sent,  // the head is out (or queued); write() adds body
        finishing,     // finish() was called; its last bytes are not flushed yet
        finished,      // finish()'s last byte is flushed (or its write failed)
        abandoned,     // an error answer took over: the application's writes go nowhere
    };

    // Called by the serving loop with the head it read. Returns keep_alive
    // or close when the request is over already (the fast path), flushing
    // when it is answered and only the write is still out, pending when the
    // rest must run in continue_message().
    Outcome start_message(std::string&& head, HTTPMessageDelegate& delegate);
    Outcome deliver_head(RequestHead& parsed, HTTPMessageDelegate& delegate);
    // The slow path, a coroutine of its own: waits for headers_received's
    // Future, reads the body, calls finish, waits for the response; then
    // hands the connection back to the serving loop.
    Task<void> continue_message(std::unique_ptr<HTTPMessageDelegate> delegate);
    Task<bool> complete_message(HTTPMessageDelegate& delegate);
    Task<void> read_body(HTTPMessageDelegate& delegate);
    Task<bool> pass_body(HTTPMessageDelegate& delegate, std::uint64_t n);
    void read_framing(const RequestStartLine& start_line, const HTTPHeaders& headers);
    void check_body_size();
    // finish() was called, or an error answer replaced the response.
    bool answered() const noexcept { return response_state_ >= ResponseState::finishing; }
    bool response_over() const noexcept { return response_state_ >= ResponseState::finished; }
    bool response_complete() const noexcept;
    bool answer_held() const noexcept;
    Outcome finished_outcome() const noexcept;
    void finish_delegate(HTTPMessageDelegate& delegate);
    void call_delegate_close(HTTPMessageDelegate& delegate) noexcept;
    bool switching_protocols() const noexcept { return response_.switching_protocols; }

    // The stream while it is open and ours, else nullptr (checked_stream: throws).
    IOStream* open_stream() const noexcept;
    IOStream* checked_stream() const;

    // The response.
    void format_head(std::string& out, const ResponseStartLine& start_line,
                     const HTTPHeaders& headers);
    Future<void> write_head(const ResponseStartLine& start_line, const HTTPHeaders& headers,
                            std::string_view chunk, std::size_t copy_limit);
    void count_against_content_length(std::size_t bytes);
    bool append_body(std::string& out, std::string_view chunk, std::size_t copy_limit);
    Future<void> send(std::string_view data, std::string_view big_chunk);
    void finish_request();
    // finish() and finish_with_trailers(): `last_chunk` ends a chunked body.
    void end_response(std::string_view last_chunk);
    void release_waiter();

    // Errors and time limits.
    void fail_request(const HTTPInputError& error);
    void fail_with_exception(std::exception_ptr error);
    void send_error_response(int status, std::string_view message);
    void end_after_error();
    void answer_timeout();
    void on_stream_closed();
    void watch_for_peer_fin();
    void on_peer_fin();
    void run_close_callback() noexcept;
    // The request's span in a trace (IOLoop::start_tracing): begun with the
    // head, ended with the response's last byte, or else by the destructor.
    void trace_begin(const RequestStartLine& start_line);
    void trace_end() noexcept;

    std::shared_ptr<HTTP1ServerConnection> server_;

    // The request.
    RequestFacts request_;
    std::size_t max_body_size_;
    std::optional<IOLoop::Clock::duration> body_timeout_;
    std::unique_ptr<GzipDecompressor> gunzip_body_;  // a gzipped body, with params.decompress
    bool body_read_ = false;                         // the whole request is in (or it had no body)
    bool delegate_done_ = false;  // the delegate had finish() or on_connection_close(): no more

    // The response.
    ResponseState response_state_ = ResponseState::nothing_sent;
    ResponseFraming response_;
    // Keep-alive's verdict: close the connection once the response is out.
    // Decided from the head; an error, an early answer or the response's own
    // "Connection: close" can turn it on later, nothing turns it off.
    bool close_after_response_ = false;
    bool resume_after_flush_ = false;       // Outcome::flushing: finish_request calls request_done
    bool traced_ = false;                   // its span is begun in a trace, and not ended
    std::uint16_t traced_status_ = 0;       // the status, for the span's end (while traced_)
    Future<void> headers_future_{nullptr};  // what headers_received returned, while pending
    Future<void> pending_write_{nullptr};   // the latest write
    Future<void> finish_future_{nullptr};   // made only when the loop must wait
    Function<void()> close_callback_;
};

// One HTTP/1.x connection on the server (Tornado's HTTP1ServerConnection).
// Its time limits are its HTTPServerConnection's ListedTimeout (ioloop.h):
// an idle connection's header_timeout costs the loop no timer of its own.
class HTTP1ServerConnection final : public std::enable_shared_from_this<HTTP1ServerConnection>,
                                    public HTTPServerConnection {
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
    void start_serving(HTTPServerConnectionDelegate& delegate) override;

    // Closes the stream; the Future resolves when the serving loop has ended
    // (Tornado's close()).
    Future<void> close() override;
    // A graceful close: at once when idle (waiting for a request with
    // nothing of one received), else after the response in progress (which
    // says "Connection: close").
    void close_when_idle() override;
    // Waiting for a request head, with no byte of one buffered.
    bool idle() const noexcept override;
    // From start_serving() until the serving loop has ended.
    bool serving() const noexcept { return serving_; }

    // The connection's origin. With xheaders, HTTPServer rewrites it from a
    // request's headers_received to its finish (or on_connection_close),
    // then restores it.
    HTTPRequestContext& context() noexcept override { return context_; }
    const HTTP1ConnectionParameters& params() const noexcept { return *params_; }
    // The stream (nullptr once detached).
    const std::shared_ptr<IOStream>& stream() const noexcept { return stream_; }

private:
    // The request in progress calls the methods of the part marked "for
    // HTTP1Connection" below, and nothing else of this class's private part.
    friend class HTTP1Connection;

    // What the connection waits for, which says which time limit runs.
    enum class Waiting : std::uint8_t { nothing, head, body };

    // Who closes the stream when serving ends. Moves only away from `ours`.
    enum class StreamFate : std::uint8_t {
        ours,       // end_serving closes it
        lingering,  // lingering_close half-closed it and closes it when the client is done
        detached,   // detach() gave it away (a WebSocket): never ours to touch again
    };

    // The serving loop, in the chapter's callback style (an idle
    // connection holds no coroutine frame): read a head, serve it, and on
    // to the next while requests are answered at once; a request that
    // must wait goes on in its own coroutine, which calls request_done().
    void read_next_request();
    // Holds the answers to pipelined requests for one send() (the .cpp).
    class HeldAnswers;
    void wait_for_released_answers();
    void on_released_answers_sent();
    void on_head(std::string&& head, std::exception_ptr error);
    void answer_head_too_large();
    bool serve_head(std::string&& head);
    void hand_over_to_http2(std::string&& head);
    bool after_request(const HTTP1Connection& request, bool keep_alive);
    void end_serving() noexcept;
    void on_stream_closed();

    // --- for HTTP1Connection (the request in progress) ---
    // The stream while it is open and not detached, else nullptr.
    IOStream* open_stream() const noexcept;
    bool detached() const noexcept { return fate_ == StreamFate::detached; }
    bool closing_when_idle() const noexcept { return close_when_idle_; }
    // Gives the stream away (HTTP1Connection::detach); throws std::logic_error
    // if it is gone already.
    std::shared_ptr<IOStream> detach_stream();
    // The request coroutine is over: read the next request, or end.
    void request_done(const HTTP1Connection& request, bool keep_alive);
    // Time limits: the connection's ListedTimeout, in the loop's list for
    // the limit's length.
    void wait_for(Waiting what, std::optional<IOLoop::Clock::duration> limit);
    // Half-closes once `flushed` resolves, then reads and drops what the
    // client still sends (for a moment) before closing: an error answer is
    // not lost to a reset caused by unread bytes.
    void lingering_close(Future<void> flushed);

    // --- for HTTPServer (HTTPServerConnection) ---
    // The server is destroyed while this connection still unwinds: it must
    // not hear from us again (no on_close), and the stream closes unless
    // it was detached.
    void server_gone() noexcept override;
    std::shared_ptr<HTTPServerConnection> shared_handle() override { return shared_from_this(); }
    std::uint32_t& server_slot() noexcept override { return server_slot_; }

    // A time limit ran out (ListedTimeout).
    void on_timeout() override;

    std::shared_ptr<IOStream> stream_;
    std::shared_ptr<const HTTP1ConnectionParameters> params_;
    HTTPRequestContext context_;
    HTTP1Connection* current_ = nullptr;  // the request in progress (owned by whoever runs it)
    HTTPServerConnectionDelegate* delegate_ = nullptr;
    Future<void> closed_future_{nullptr};  // made by close() while the loop runs

    std::uint32_t server_slot_ = kNotListed;  // see server_slot()
    Waiting waiting_ = Waiting::nothing;
    StreamFate fate_ = StreamFate::ours;
    bool serving_ = false;
    bool close_when_idle_ = false;
};

}  // namespace tornado
