// tornado/websocket.h: WebSocket, server and client (Tornado's
// `tornado.websocket`), RFC 6455 version 13 with permessage-deflate
// (RFC 7692).
//
//   class EchoSocket : public tornado::WebSocketHandler {
//   public:
//       void open(const tornado::PathArgs&) override { std::puts("opened"); }
//       void on_message(std::string message, bool binary) override {
//           write_message(message, binary);
//       }
//       void on_close() override { std::puts("closed"); }
//   };
//   tornado::Application app({{"/ws/echo", tornado::handler<EchoSocket>()}});
//
//   // A client, in a coroutine:
//   auto ws = co_await tornado::websocket_connect("ws://127.0.0.1:8888/ws/echo");
//   co_await ws->write_message("hello");
//   std::optional<tornado::WebSocketMessage> reply = co_await ws->read_message();
//   // no value: the connection is closed
//
// How a connection goes:
//
//   client                                    server
//   GET /ws/echo HTTP/1.1               ──►   WebSocketHandler::get: the
//   Upgrade: websocket                        handshake's checks (400, 403,
//   Connection: Upgrade                       426), then
//   Sec-WebSocket-Key: <16 random bytes>
//   Sec-WebSocket-Version: 13
//                                       ◄──   HTTP/1.1 101 Switching Protocols
//                                             Sec-WebSocket-Accept: base64(SHA-1(key + GUID))
//   ───────────── the stream leaves HTTP: HTTP1Connection::detach() ─────────────
//   frames, both ways                   ◄─►   open(), then on_message() per
//                                             message, on_ping, on_pong
//   close frame (code, reason)          ◄─►   the close echoed; the server
//                                             closes TCP; on_close()
//
// A frame (RFC 6455 section 5.2):
//
//   byte 0   FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
//   byte 1   MASK | length (7 bits): 0-125, or 126: 16-bit length follows,
//            or 127: 64-bit length follows
//   [2 or 8 bytes of length] [4 bytes of mask key, if MASK] payload
//
// Every frame a client sends is masked (each payload byte XORed with the
// key, chosen at random per frame), so that a script cannot make a browser
// put bytes of its choosing on the wire and fool a proxy into caching them;
// a server never masks. The rules, and what breaking one costs (the
// connection is failed: a close frame with the code, then TCP is closed):
//
//   client frame not masked, server frame masked                 1002
//   RSV bits not negotiated (RSV1 only with permessage-deflate,
//     and only on a message's first frame), unknown opcode        1002
//   control frame (close, ping, pong) fragmented or over 125 bytes 1002
//   continuation with nothing to continue, or a new data frame
//     inside a fragmented message                                 1002
//   a close frame of 1 byte, or with a code no endpoint may send   1002
//   text message (or close reason) not UTF-8, even across frames  1007
//   a message over max_message_size (also once inflated)          1009
//   on_message / open threw                                       1011
//
// Pings may come between the fragments of a message: they are answered at
// once with a pong carrying the same payload. The rules themselves, on
// bytes alone (no socket), are in tornado/websocket_protocol.h.
//
// Errors: write_message and ping on a connection that is closing throw
// WebSocketClosedError (as Tornado); write_message's Future fails with it
// when the connection closes before the bytes are out. close() on a closing
// connection does nothing.
//
// Flow control: await write_message's Future to send no faster than the
// peer reads. And a peer that sends without reading what it is sent is
// read no further while more than a mebibyte waits to go to it.
//
// A graceful stop of the loop (IOLoop::graceful_stop: SIGTERM after
// install_signal_handlers) closes every open WebSocket with 1001 (going
// away) and waits, within its grace period, for the peers' answers.
//
// Threads: everything on the loop's thread. Lifetime: the framework holds
// a WebSocketHandler from its open() to its on_close(), and a client
// connection's state as long as the connection is open; a
// WebSocketClientConnection closes its connection when it is destroyed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/queues.h"
#include "tornado/web.h"
#include "tornado/websocket_protocol.h"

namespace tornado {

// A message as the client reads it: the bytes, and whether they came as a
// binary message (else text, which is valid UTF-8).
struct WebSocketMessage {
    std::string data;
    bool binary = false;
    friend bool operator==(const WebSocketMessage&, const WebSocketMessage&) = default;
};

// The limits and timers of one connection (Tornado's _WebSocketParams).
struct WebSocketParams {
    // Send a ping this often (nothing: never).
    std::optional<IOLoop::Clock::duration> ping_interval{};
    // Close when no pong has come for this long (nothing: three intervals,
    // at least 30 s, as Tornado).
    std::optional<IOLoop::Clock::duration> ping_timeout{};
    // The most bytes a message from the peer may have, once put together
    // from its frames and inflated; a longer one fails the connection with
    // 1009.
    std::size_t max_message_size = kDefaultMaxMessageSize;
    // permessage-deflate: offered (client) or accepted (server) when set.
    std::optional<WebSocketCompressionOptions> compression_options{};
};

// --- the connection, over an IOStream ---------------------------------------------

namespace detail {

// What a WebSocketProtocol tells the handler or client it serves (Tornado's
// _WebSocketDelegate).
class WebSocketDelegate {
public:
    virtual ~WebSocketDelegate() = default;
    // A message. A valid Future makes the next message wait for it (a
    // coroutine on_message).
    virtual Future<void> on_ws_message(std::string message, bool binary) = 0;
    virtual void on_ws_ping(std::string data) = 0;
    virtual void on_ws_pong(std::string data) = 0;
    // Once, when the connection is over.
    virtual void on_ws_connection_close() = 0;
    // "WebSocket /ws/echo (127.0.0.1)", for log lines.
    virtual std::string describe() const = 0;
};

// One open WebSocket connection (Tornado's WebSocketProtocol13), on either
// side: reads frames in a loop and hands messages to the delegate, writes
// messages, pings, and runs the closing handshake. It lives inside its
// delegate (a member of the WebSocketHandler, or of the client's state):
// one allocation less per connection.
class WebSocketProtocol {
public:
    WebSocketProtocol(WebSocketDelegate& delegate, std::shared_ptr<IOStream> stream, bool client,
                      const WebSocketParams& params,
                      std::unique_ptr<websocket_protocol::PerMessageDeflate> deflate);
    ~WebSocketProtocol();
    WebSocketProtocol(const WebSocketProtocol&) = delete;
    WebSocketProtocol& operator=(const WebSocketProtocol&) = delete;

    // Starts pinging and the read loop. `owner` keeps the delegate alive
    // until the connection is over; `opened` (may be empty): the loop waits
    // for it before the first message (a coroutine open()).
    void start(std::shared_ptr<void> owner, Future<void> opened = Future<void>(nullptr));

    Future<void> write_message(std::string_view message, bool binary);
    void write_ping(std::string_view data);
    // Sends a close frame (unless one was sent), then waits for the peer's
    // (at most kCloseTimeout) before closing TCP. A reason without a code
    // is sent with 1000.
    void close(std::optional<int> code = std::nullopt, std::string_view reason = {});
    // Closes TCP at once, no handshake.
    void abort();
    // A close frame was sent or received, or the stream is closed.
    bool is_closing() const noexcept;
    void set_nodelay(bool value);
    // The peer's close code (if its close frame had one) and reason.
    std::optional<int> close_code() const noexcept {
        return close_code_ != 0 ? std::optional<int>(close_code_) : std::nullopt;
    }
    const std::string& close_reason() const noexcept { return close_reason_; }

    static constexpr auto kCloseTimeout = std::chrono::seconds(5);

    // Closes every open WebSocket of this thread's loop with 1001 (going
    // away); the Future resolves when the last one is over. The loop's
    // graceful stop (IOLoop::graceful_stop, SIGTERM after
    // install_signal_handlers) calls it, so that clients hear the server
    // leave instead of finding the connection dropped.
    static Future<void> close_all_going_away();

private:
    struct Pinger;  // made only when pings are asked for

    // What a callback holds to find this object alive: a pointer to it that
    // owns the delegate it lives in (shared_ptr's aliasing constructor).
    std::shared_ptr<WebSocketProtocol> keep_alive() const {
        return {owner_, const_cast<WebSocketProtocol*>(this)};
    }

    // The read loop, in callbacks rather than a coroutine: an idle
    // connection then holds its pending read and nothing more (no coroutine
    // frame), the trade HTTP1ServerConnection makes too.
    void read_frames();
    void wait_for_the_peer_to_read();
    bool take_bytes(std::string bytes, std::exception_ptr error);
    bool message_handled(Future<void>& handled);
    void connection_over();
    Future<void> handle(websocket_protocol::Event event);
    // The peer broke a rule, or our side failed: a close frame with `code`,
    // then a lingering close.
    void fail(int code, std::string_view reason);
    void run_callback(const char* what, const std::function<void()>& callback);
    void callback_failed(const char* what, std::exception_ptr error);
    Future<void> send_frame(websocket_protocol::Opcode opcode, std::string_view payload,
                            bool rsv1 = false);
    void start_pinging(const WebSocketParams& params);
    void periodic_ping();
    void stop_pinging() noexcept;
    // The list close_all_going_away() goes through.
    void join_open_list();
    void leave_open_list(bool loop_alive) noexcept;

    WebSocketDelegate& delegate_;
    std::shared_ptr<IOStream> stream_;
    std::shared_ptr<void> owner_;  // the delegate's owner, until connection_over()
    std::unique_ptr<websocket_protocol::PerMessageDeflate> deflate_;
    std::unique_ptr<Pinger> pinger_;
    websocket_protocol::MessageReader reader_;
    Future<void> close_flushed_{nullptr};  // resolves when our close frame is with the kernel
    std::size_t open_slot_;                // where it is in the list of open WebSockets
    std::string close_reason_;             // the peer's
    int close_code_ = 0;                   // the peer's (0: none)
    bool client_;
    bool peer_closed_ = false;  // the peer's close frame came, or we stopped reading
    bool close_sent_ = false;   // our close frame went out (or the stream is gone)
    bool over_ = false;         // connection_over() ran
};

}  // namespace detail

// --- the server side ---------------------------------------------------------------

// A RequestHandler that upgrades its GET to a WebSocket (Tornado's
// WebSocketHandler). Override open, on_message (or on_message_async), and
// on_close; call write_message, ping and close.
//
// The handshake answers as Tornado does: 400 'Can "Upgrade" only to
// "WebSocket".' or '"Connection" must be "Upgrade".' for a GET that does not
// ask to upgrade, 403 "Cross origin websockets not allowed" when
// check_origin refuses, 426 with "Sec-WebSocket-Version: 13" for another
// version, 400 "Missing/Invalid WebSocket headers" for a missing Host or a
// bad Sec-WebSocket-Key; and, stricter than Tornado, 400 for HTTP/1.0.
// Header values are compared without regard to case, and lists are read
// whole ("Connection: keep-alive, Upgrade" asks to upgrade).
//
// After the 101, the methods that write HTTP (write, finish, set_header,
// ...) no longer apply: write() and finish() throw std::logic_error.
class WebSocketHandler : public RequestHandler, private detail::WebSocketDelegate {
public:
    // The handshake (Tornado's `async def get`). Not to be overridden: see open().
    void get(const PathArgs& args) final;

    // --- What a subclass overrides. ---

    // The connection is open, with the route's groups. on_message is not
    // called before open returns, or, as a coroutine (open_async), ends.
    // The default calls open_async. An exception closes the connection
    // with 1011.
    virtual void open(const PathArgs& args);
    // open as a coroutine (Tornado's `async def open`), for a subclass
    // that overrides it instead of open; the default does nothing. No
    // message is read until it ends.
    virtual Task<void> open_async(PathArgs args);
    // A message: text (UTF-8) or binary. As a coroutine
    // (on_message_async), the next message waits until it ends. One of the
    // two must be overridden. An exception closes the connection with 1011.
    virtual void on_message(std::string message, bool binary);
    // on_message as a coroutine (Tornado's `async def on_message`): the
    // default on_message calls it, and no later message is read until it
    // ends. The default throws std::logic_error: one of the two must be
    // overridden.
    virtual Task<void> on_message_async(std::string message, bool binary);
    // A ping came, with its data (it is answered already).
    virtual void on_ping(std::string data) { (void)data; }
    // A pong came, with its data (the answer to ping(); the pings the
    // websocket_ping_interval setting sends carry none).
    virtual void on_pong(std::string data) { (void)data; }
    // The connection is over, whoever closed it (close_code(): the peer's).
    virtual void on_close() {}
    // Whether to accept a request whose Origin header is `origin` (not
    // called without one). The default: only when its host and port are
    // those of the Host header (Tornado's same-origin rule).
    virtual bool check_origin(std::string_view origin);
    // The subprotocol to use, one of those the client offered
    // (Sec-WebSocket-Protocol), or nothing.
    virtual std::optional<std::string> select_subprotocol(
        const std::vector<std::string>& subprotocols);
    // Compression (permessage-deflate) when the client offers it: return
    // options to accept it; nothing (the default) turns it off.
    virtual std::optional<WebSocketCompressionOptions> get_compression_options();

    // --- What a handler calls once open. ---

    // Sends a message: text (must be UTF-8) or binary. The Future resolves
    // when the kernel has the bytes (await it for flow control). Throws
    // WebSocketClosedError when the connection is closing.
    Future<void> write_message(std::string_view message, bool binary = false);
    // A JSON object (Tornado's write_message(dict)), as a text message.
    Future<void> write_message(const JSON& message);
    Future<void> write_message(const nlohmann::ordered_json& message);
    Future<void> write_message(const char* message) {
        return write_message(std::string_view(message));
    }
    Future<void> write_message(const std::string& message, bool binary = false) {
        return write_message(std::string_view(message), binary);
    }
    // A ping (at most 125 bytes of data); the answer comes to on_pong.
    void ping(std::string_view data = {});
    // Starts the closing handshake: `code` (a reason alone is sent with
    // 1000), then TCP is closed once the client answers, or after 5 s.
    // Throws std::invalid_argument for a code a peer would refuse
    // (websocket_protocol::is_valid_close_code), or a reason over 123 bytes
    // or not UTF-8.
    void close(std::optional<int> code = std::nullopt, std::string_view reason = {});
    // The client's close code, once it sent a close frame that had one.
    std::optional<int> close_code() const noexcept;
    // The reason in the client's close frame; "" until one came, or when it
    // had none. The reference is valid while the handler lives.
    const std::string& close_reason() const noexcept;
    // What select_subprotocol chose.
    std::optional<std::string> selected_subprotocol() const;
    // TCP_NODELAY (set already: frames go out at once). Throws
    // WebSocketClosedError unless the connection is open.
    void set_nodelay(bool value);
    // Whether the connection is open (the handshake is done and no close
    // has begun).
    bool is_open() const noexcept;

    // The application's websocket_ping_interval setting, as Tornado reads
    // it: how often to ping the client (nothing: never).
    std::optional<IOLoop::Clock::duration> ping_interval() const;
    // Its websocket_ping_timeout: how long without a pong before closing
    // with 1001 (nothing: three intervals, at least 30 s).
    std::optional<IOLoop::Clock::duration> ping_timeout() const;
    // Its websocket_max_message_size (10 MiB unless set): the most bytes a
    // message from the client may have.
    std::size_t max_message_size() const;

private:
    // detail::WebSocketDelegate
    Future<void> on_ws_message(std::string message, bool binary) final;
    void on_ws_ping(std::string data) final;
    void on_ws_pong(std::string data) final;
    void on_ws_connection_close() final;
    std::string describe() const final;

    bool refuse_handshake();
    void negotiate(std::unique_ptr<websocket_protocol::PerMessageDeflate>& deflate);
    Future<void> run_open(const PathArgs& args);
    void release_http_state();
    void check_open() const;

    std::optional<detail::WebSocketProtocol> protocol_;  // from the 101 on
    Future<void> pending_{nullptr};  // what a coroutine open/on_message left running
    std::string subprotocol_;        // empty: none (a subprotocol's name is never empty)
};

// --- the client side ---------------------------------------------------------------

// websocket_connect's options (its keyword arguments in Tornado). An
// aggregate: name a variable, never build it inside a co_await (g++ 12
// destroys such a temporary twice; see httpclient.h).
struct WebSocketConnectOptions {
    // Connecting, and the handshake (nothing: the HTTPRequest's, 20 s).
    std::optional<IOLoop::Clock::duration> connect_timeout{};
    // Each message goes here instead of to read_message(); no value: closed.
    std::function<void(std::optional<WebSocketMessage>)> on_message_callback{};
    // The data of each ping the server sends (it is answered with a pong
    // before this runs) and of each pong it sends (Tornado's on_ping and
    // on_pong, which a subclass of WebSocketClientConnection overrides).
    std::function<void(std::string)> on_ping{};
    std::function<void(std::string)> on_pong{};
    // Offer permessage-deflate.
    std::optional<WebSocketCompressionOptions> compression_options{};
    // Ping the server this often (nothing: never).
    std::optional<IOLoop::Clock::duration> ping_interval{};
    // Close with 1001 when no pong has come for this long (nothing: three
    // intervals, at least 30 s, as Tornado).
    std::optional<IOLoop::Clock::duration> ping_timeout{};
    // The most bytes a message from the server may have (inflated);
    // a longer one fails the connection with 1009.
    std::size_t max_message_size = kDefaultMaxMessageSize;
    // Offered in Sec-WebSocket-Protocol, in order.
    std::vector<std::string> subprotocols{};
};

class WebSocketClientConnection;

// Connects to a ws:// or wss:// URL (or an HTTPRequest whose url is one;
// its headers are sent too, and for wss its validate_cert and ca_certs
// apply) and does the handshake. The Future fails with HTTPClientError
// when the server answers with an error status or not at all (599:
// refused, timed out, a certificate refused), WebSocketError when it
// answers 2xx without upgrading or breaks the handshake's rules.
Future<std::unique_ptr<WebSocketClientConnection>> websocket_connect(
    std::string url, WebSocketConnectOptions options);
Future<std::unique_ptr<WebSocketClientConnection>> websocket_connect(
    HTTPRequest request, WebSocketConnectOptions options);
// Without options (overloads rather than a default `= {}`, which would be
// the aggregate temporary g++ 12 mishandles inside a co_await).
inline Future<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string url) {
    return websocket_connect(std::move(url), WebSocketConnectOptions());
}
inline Future<std::unique_ptr<WebSocketClientConnection>> websocket_connect(HTTPRequest request) {
    return websocket_connect(std::move(request), WebSocketConnectOptions());
}

// A client connection (Tornado's WebSocketClientConnection). Destroying it
// closes the connection (the closing handshake goes on without it).
class WebSocketClientConnection {
public:
    ~WebSocketClientConnection();
    WebSocketClientConnection(const WebSocketClientConnection&) = delete;
    WebSocketClientConnection& operator=(const WebSocketClientConnection&) = delete;

    // As WebSocketHandler's.
    Future<void> write_message(std::string_view message, bool binary = false);
    Future<void> write_message(const char* message) {
        return write_message(std::string_view(message));
    }
    Future<void> write_message(const std::string& message, bool binary = false) {
        return write_message(std::string_view(message), binary);
    }
    // The next message, or no value once the connection is closed (and every
    // message before the close has been read). One message waits here at a
    // time: the connection reads no further until it is taken. Never
    // resolves with a message when on_message_callback is set.
    Future<std::optional<WebSocketMessage>> read_message();
    // As WebSocketHandler's: at most 125 bytes of data (else
    // std::invalid_argument); throws WebSocketClosedError when the
    // connection is closing. The answer goes to the on_pong option.
    void ping(std::string_view data = {});
    // As WebSocketHandler's: the closing handshake, and the same
    // std::invalid_argument for a bad code or reason. Destroying the
    // connection starts it too.
    void close(std::optional<int> code = std::nullopt, std::string_view reason = {});

    // The server's close code and reason, once it sent a close frame.
    std::optional<int> close_code() const noexcept;
    // "" until the server's close frame came, or when it had no reason.
    // The reference is valid while this object lives.
    const std::string& close_reason() const noexcept;
    // The subprotocol the server chose, one of `subprotocols`; nothing when
    // its 101 named none.
    const std::optional<std::string>& selected_subprotocol() const noexcept;
    // The headers of the server's 101 answer.
    const HTTPHeaders& headers() const noexcept;
    // TCP_NODELAY (set already: frames go out at once).
    void set_nodelay(bool value);

    struct State;  // what outlives this handle while the connection closes
    // For websocket_connect.
    explicit WebSocketClientConnection(std::shared_ptr<State> state);

private:
    std::shared_ptr<State> state_;
};

}  // namespace tornado
