// tornado/http2.h: HTTP/2 on the IOLoop, for HTTPServer (tornado::http2,
// an add-on; final/http2/README.md).
//
//   #include <tornado/http2.h>   // link tornado::http2
//
//   tornado::HTTPServerOptions options;
//   options.http2 = true;        // HTTP/1.1 and HTTP/2 on one port
//   app.listen(8888, "127.0.0.1", options);
//
// Include this header in the file that sets `http2 = true`: including it
// is what gives HTTPServer its HTTP/2 (without it, the server refuses the
// option at start-up). The application does not know which protocol a
// request came by: the same handlers, coroutines, streamed bodies, flush()
// and error pages serve both.
//
// How HTTP/2 reaches a connection:
//
// * in cleartext, by prior knowledge: the client opens with HTTP/2's
//   connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113
//   section 3.3), whose first line an HTTP/1 connection reads as a
//   request head and hands over (curl --http2-prior-knowledge, h2load,
//   gRPC clients);
// * in cleartext, by Upgrade: an HTTP/1.1 request without a body that
//   asks for "h2c" (curl --http2 on an http:// URL) is answered 101 and
//   served as stream 1 of the HTTP/2 connection that follows;
// * over TLS, by ALPN: the server offers "h2" before "http/1.1", and a
//   client that offers it too speaks HTTP/2 from the first byte.
//
// One HTTP2ServerConnection serves one TCP connection: its session
// (detail::HTTP2Session, the add-on's own) does the protocol (frames,
// HPACK, streams and their states, flow control) and no I/O; this class
// feeds it what the IOStream reads and writes what it produces, and turns
// each stream into a request for the application.
//
//   IOStream ──read──► HTTP2Session::receive ──► callbacks: a stream's
//      ▲                                         headers, body, end, reset
//      │                                                │ (queued, then
//      └──write◄── HTTP2Session::send ◄── responses     ▼  dispatched)
//                  (HEADERS, DATA as windows allow)   HTTPMessageDelegate
//
// Flow control, both ways: a response's write() Future resolves once
// the session has taken its bytes into DATA frames, which it does only as far
// as the client's stream and connection windows allow; so a client that
// reads one stream slowly holds back that stream's handler, not the
// others. A request body is handed to data_received() piece by piece, and
// the client's window is opened again (WINDOW_UPDATE) only once the
// delegate's Future for that piece has resolved.
//
// Threads: everything on the loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/gen.h"
#include "tornado/httpserver.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"

namespace tornado {

namespace detail {
class HTTP2Session;
enum class HTTP2ErrorCode : std::uint32_t;  // RFC 9113 section 7's codes
}  // namespace detail

// An HTTP/2 connection's limits. HTTPServer fills them from its options.
struct HTTP2Parameters {
    // Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    std::uint32_t max_concurrent_streams = 100;
    // How much of a request body each stream may send before the server
    // has passed it on (SETTINGS_INITIAL_WINDOW_SIZE).
    std::uint32_t stream_window = 64 * 1024;
    // The same for the whole connection, all streams together.
    std::uint32_t connection_window = 1024 * 1024;
    // A request's header list, names and values (SETTINGS_MAX_HEADER_LIST_SIZE).
    std::size_t max_header_list_size = 64 * 1024;
    // A request's body; more gets 413.
    std::size_t max_body_size = 100 * 1024 * 1024;
    // How long a connection with no stream open may stay (nothing: for ever).
    std::optional<IOLoop::Clock::duration> idle_timeout{};
    // Added to responses that have none (empty: none).
    std::string server_header = std::string(kDefaultServerHeader);
    // An Alt-Svc value added to responses that have none (HTTPServer's
    // http3: `h3=":PORT"`; empty: none).
    std::string alt_svc{};
};

class HTTP2Stream;
class HTTP2Callbacks;

namespace detail {

// The bytes of one write to the socket: the frames made for it, and beside
// them, over a stream that takes pieces without joining them
// (IOStream::takes_pieces: a socket's sendmsg(), or TLS records made from
// them), the body pieces the handlers wrote as SharedBytes (a cached
// file's bytes), referenced rather than copied.
class HTTP2FrameBatch {
public:
    // Empties the batch for the next write, with `room` for its bytes.
    void start(bool by_reference, std::size_t room);
    // Empties it and gives its room back (write_to() does too).
    void release() noexcept;
    void append(std::string_view bytes) { bytes_.append(bytes); }
    void append(std::size_t count, char c) { bytes_.append(count, c); }
    // Referenced when it can be (`owner` is kept until the write), else copied.
    void append_shared(std::string_view bytes, const std::shared_ptr<const void>& owner);
    std::size_t size() const noexcept { return bytes_.size() + shared_bytes_; }
    // Its bytes, when start() asked for no references (for tests).
    std::string_view copied_bytes() const noexcept { return bytes_; }
    bool empty() const noexcept { return size() == 0; }
    // Hands it all to `stream`, in one sendmsg() when there are shared pieces.
    Future<void> write_to(IOStream& stream);

private:
    struct SharedPiece {
        std::size_t after;  // goes after bytes_'s first `after` bytes
        std::string_view bytes;
        std::shared_ptr<const void> owner;
    };
    std::string bytes_;
    std::vector<SharedPiece> shared_;
    std::size_t shared_bytes_ = 0;
    bool by_reference_ = false;
};

}  // namespace detail

// One HTTP/2 connection on the server: the file comment says how it runs.
class HTTP2ServerConnection final : public std::enable_shared_from_this<HTTP2ServerConnection>,
                                    public HTTPServerConnection {
public:
    // `received`: what was read of the stream already, when an HTTP/1
    // connection handed the client over: the preface's first line, or the
    // head of a request that asked for h2c by Upgrade (answered 101, then
    // served as stream 1).
    HTTP2ServerConnection(std::shared_ptr<IOStream> stream, HTTP2Parameters params,
                          HTTPRequestContext context = {}, std::string received = {});
    ~HTTP2ServerConnection();
    HTTP2ServerConnection(const HTTP2ServerConnection&) = delete;
    HTTP2ServerConnection& operator=(const HTTP2ServerConnection&) = delete;

    // HTTPServerConnection. start_serving: each stream's request goes to
    // delegate.start_request, and delegate.on_close(this) is called once
    // when the connection ends.
    void start_serving(HTTPServerConnectionDelegate& delegate) override;
    HTTPRequestContext& context() noexcept override { return context_; }
    // Closes at once: the streams in progress end (their delegates hear
    // on_connection_close).
    Future<void> close() override;
    // GOAWAY: no new stream is taken; the connection ends once the streams
    // in progress are answered.
    void close_when_idle() override;
    bool idle() const noexcept override;

    // Streams open now (for tests and monitoring).
    std::size_t open_streams() const noexcept { return streams_.size(); }
    const HTTP2Parameters& params() const noexcept { return params_; }

private:
    friend class HTTP2Stream;
    friend class HTTP2Callbacks;

    // What the session told us while it read or sent: dispatched once it
    // has returned, so that no application code runs inside the session.
    struct Event {
        enum class Kind : std::uint8_t { request, body, end, closed };
        Kind kind;
        std::uint32_t stream_id;
        detail::HTTP2ErrorCode error_code{};  // closed: why (RFC 9113 section 7)
    };

    // The connection's life, one value, moved by enter() alone, which
    // throws std::logic_error for a move the drawing does not show:
    //
    //   created ─start_serving()─► serving ─close_when_idle(): GOAWAY─► going_away
    //                                 │                                     │
    //                                 └────────── end_serving() ────────────┴─► ended
    //
    // end_serving() comes when the socket closes, at close(), or once the
    // last frames after a GOAWAY are out (close_when_idle()'s or fail()'s).
    // ended is final. Both serving and going_away read and send
    // (serving()); going_away takes no new stream.
    enum class Life : std::uint8_t { created, serving, going_away, ended };
    void enter(Life to);
    bool serving() const noexcept { return life_ == Life::serving || life_ == Life::going_away; }

    bool take_upgrade(std::string_view head);
    // The open stream of that id, or null; remembers the last one found,
    // since the session names the same stream once per header field.
    HTTP2Stream* find_stream(std::uint32_t id);
    void forget_stream(std::uint32_t id);
    Task<void> serve();
    void feed(std::string_view data);
    void dispatch_events();
    void send_early_if_a_batch_is_ready();
    // Sends what the session has to send, now or at the end of this turn.
    void send_now();
    void send_soon();
    bool gather_frames();
    bool end_if_socket_gone();
    void wait_until_written(Future<void> written);
    void end_once_all_said();
    void on_timeout() override;
    void arm_idle_timeout();
    // The connection's way out when it cannot go on: GOAWAY with `code`
    // (RFC 9113 section 5.4.1), after which the session reads nothing more.
    // The GOAWAY goes out with send_now(), which then ends the connection:
    // every stream still open hears of it there, once (end_serving). Inside
    // the session's callbacks it only tells the session; the sending
    // follows once the session has returned.
    void fail(detail::HTTP2ErrorCode code);
    // The connection's end, however it comes: the only way to `ended`.
    void end_serving() noexcept;

    // HTTPServerConnection, for HTTPServer.
    void server_gone() noexcept override;
    std::shared_ptr<HTTPServerConnection> shared_handle() override { return shared_from_this(); }
    std::uint32_t& server_slot() noexcept override { return server_slot_; }

    std::shared_ptr<IOStream> stream_;
    HTTP2Parameters params_;
    HTTPRequestContext context_;
    std::string received_;
    HTTPServerConnectionDelegate* delegate_ = nullptr;
    std::unique_ptr<HTTP2Callbacks> callbacks_;
    std::unique_ptr<detail::HTTP2Session> session_;
    std::unordered_map<std::uint32_t, std::shared_ptr<HTTP2Stream>> streams_;
    std::uint32_t found_id_ = 0;  // find_stream's last answer (0: none; ids are odd)
    HTTP2Stream* found_ = nullptr;
    std::deque<Event> events_;
    // What send_now() gathers for the next write: the session's frames,
    // with the DATA's bytes written straight from the streams (send_data).
    detail::HTTP2FrameBatch batch_;
    Future<void> closed_future_{nullptr};
    std::uint32_t server_slot_ = kNotListed;
    Life life_ = Life::created;
    // Body bytes the handlers have queued on this connection's streams, and
    // how many had been queued at the last early send (dispatch_events).
    std::uint64_t queued_bytes_ = 0;
    std::uint64_t queued_at_early_send_ = 0;
    // Not the life, but guards against doing a thing twice at once:
    bool send_scheduled_ = false;  // send_soon's callback is queued
    bool sending_ = false;         // a write of ours is with the stream still
    bool in_callbacks_ = false;    // inside the session's receive() or send()
    bool dispatching_ = false;     // inside dispatch_events
};

namespace detail {

// HTTPServer's way to HTTP/2 (httpserver.h): an HTTP2ServerConnection with
// the server's options.
std::shared_ptr<HTTPServerConnection> make_http2_connection(std::shared_ptr<IOStream> stream,
                                                            std::string received,
                                                            const HTTPServerOptions& options,
                                                            HTTPRequestContext context,
                                                            std::string_view alt_svc);
// Including this header registers it: HTTPServer's http2 option works in
// a program that includes it, and only there.
inline const bool http2_registered = register_http2(&make_http2_connection);

}  // namespace detail

}  // namespace tornado
