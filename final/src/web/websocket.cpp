// websocket.cpp: see tornado/websocket.h for the contract. Three parts:
//
//   WebSocketProtocol    one open connection, either side: a read loop
//                        (callbacks) reads frames, MessageReader checks
//                        them, and each message goes to the delegate;
//                        writes, pings, closing.
//   WebSocketHandler     the server's delegate: the handshake, then open /
//                        on_message / on_close.
//   websocket_connect    the client: the handshake through the HTTP client
//                        (detail::fetch_upgrade), then a WebSocketClientConnection.
//
// Closing, the part that is easy to get wrong. Each side sends one close
// frame and reads one, then closes TCP once both have passed. (RFC 6455
// section 7.1.1 would rather the server closed first, but lets a client
// close too; both sides here do, as in Tornado.)
//
//   we close first:   close(code) sends ours ── the peer's comes ──► TCP closed
//                     (no answer within kCloseTimeout: TCP closed anyway)
//   the peer closes:  its close comes ── ours echoes its code and reason ──►
//                     TCP closed once ours is flushed
//   the peer breaks a rule (fail): ours with the code, then a lingering
//                     close (tornado/iostream.h), reading no more frames
//   the stream closes (reset, EOF): nothing to send; the read loop ends
//
// Whatever the way, the read loop ends and calls on_ws_connection_close once.
//
// Lifetimes: a WebSocketProtocol lives inside its delegate (the handler, or
// the client's State), and owner_ keeps that delegate alive until
// connection_over(). Every callback holds keep_alive(), a pointer to the
// protocol that shares ownership of the delegate, so none can outlive what
// it touches. Everything runs on the loop's thread.
#include "tornado/websocket.h"

#include <algorithm>
#include <utility>

#include "tornado/log.h"
#include "tornado/trace.h"

namespace tornado {

using websocket_protocol::header_has_token;
using websocket_protocol::kMaxCloseReason;
using websocket_protocol::kMaxControlPayload;
using websocket_protocol::Opcode;
using WsEvent = websocket_protocol::Event;  // (tornado::Event is locks.h's)

namespace {

// Unsent bytes past which a connection reads no more from its peer.
constexpr std::size_t kMaxUnsentBeforeReading = 1024 * 1024;
// The largest frame buffer a thread keeps for the next message.
constexpr std::size_t kMaxKeptFrameBuffer = 64 * 1024;

// A close frame's payload: the code (two bytes, network order) and the
// reason, or nothing at all.
std::string close_payload(std::optional<int> code, std::string_view reason) {
    if (!code) return {};
    std::string payload;
    payload += static_cast<char>((*code >> 8) & 0xff);
    payload += static_cast<char>(*code & 0xff);
    payload.append(reason.substr(0, kMaxCloseReason));
    return payload;
}

// What the application's close() may send, checked before anything is:
// a code a peer would refuse (RFC 6455 section 7.4), or a reason too long
// or not UTF-8, would make the peer fail the connection instead of closing
// it. Tornado checks none of this.
void check_close_arguments(std::optional<int> code, std::string_view reason) {
    if (code && !websocket_protocol::is_valid_close_code(*code)) {
        throw std::invalid_argument("close code " + std::to_string(*code) + " may not be sent");
    }
    if (reason.size() > kMaxCloseReason)
        throw std::invalid_argument("a close reason has at most 123 bytes");
    if (!is_valid_utf8(reason)) throw std::invalid_argument("a close reason must be UTF-8");
}

// Closes the stream once `flushed` resolves, or after `limit` if the peer
// does not read.
void close_when_flushed(const std::shared_ptr<IOStream>& stream, Future<void> flushed,
                        IOLoop::Clock::duration limit) {
    if (stream->closed()) return;
    if (!flushed.valid() || flushed.done()) {
        stream->close();
        return;
    }
    IOLoop& loop = stream->io_loop();
    // Our close frame must reach the kernel before TCP closes, or the peer may
    // see a reset instead. The timer holds only a weak_ptr, keeping nothing
    // alive; whichever comes first closes, and the flush cancels the timer.
    IOLoop::Timeout deadline = loop.call_later(limit, [weak = std::weak_ptr<IOStream>(stream)] {
        if (std::shared_ptr<IOStream> open = weak.lock()) open->close();
    });
    flushed.add_done_callback([stream, &loop, deadline] {
        loop.remove_timeout(deadline);
        stream->close();
    });
}

}  // namespace

// === WebSocketProtocol ===========================================================================

namespace detail {

namespace {

// The open_slot_ of a protocol that is not in the list.
constexpr std::size_t kNotOpen = static_cast<std::size_t>(-1);

// Every open WebSocket of this thread's loop (a loop and its connections
// belong to one thread), and the shutdown hook that closes them.
struct OpenWebSockets {
    std::vector<WebSocketProtocol*> open;  // a protocol knows its slot: O(1) to leave
    IOLoop* loop = nullptr;
    std::uint64_t hook = 0;
    Future<void> all_closed{nullptr};  // while a graceful stop waits for them
};
thread_local OpenWebSockets open_websockets;

}  // namespace

// Tornado's keep-alive: a ping every interval; a peer whose pong is later
// than the timeout is gone (a dead peer sends no FIN: only silence tells).
struct WebSocketProtocol::Pinger {
    PeriodicCallback callback;
    IOLoop::Clock::duration interval;
    IOLoop::Clock::duration timeout;
    IOLoop::Clock::time_point last_ping;
    IOLoop::Clock::time_point last_pong;
};

// deflate_ is moved in before reader_ is given deflate_.get(): members are
// built in the order they are declared, and deflate_ comes first. A server
// reads masked frames, a client unmasked ones (RFC 6455 section 5.1).
WebSocketProtocol::WebSocketProtocol(WebSocketDelegate& delegate, std::shared_ptr<IOStream> stream,
                                     bool client, const WebSocketParams& params,
                                     std::unique_ptr<websocket_protocol::PerMessageDeflate> deflate)
    : delegate_(delegate),
      stream_(std::move(stream)),
      deflate_(std::move(deflate)),
      reader_(/*expect_masked=*/!client, params.max_message_size, deflate_.get()),
      open_slot_(kNotOpen),
      client_(client) {
    start_pinging(params);
}

// (Normally it left the list when the connection ended; a loop destroyed
// with the connection open never says so: then the loop is gone too.)
WebSocketProtocol::~WebSocketProtocol() { leave_open_list(/*loop_alive=*/false); }

// Called once the handshake is done: after the 101 is written (server), or
// checked (client). From here on a graceful stop will close the connection.
// Reading waits for a coroutine open() to end, as Tornado awaits open()
// before its frame loop: on_message never runs before open is over.
void WebSocketProtocol::start(std::shared_ptr<void> owner, Future<void> opened) {
    owner_ = std::move(owner);
    // A message is one write: waiting to coalesce it with the next (Nagle)
    // would only delay it.
    stream_->set_nodelay(true);
    if (pinger_) pinger_->callback.start();
    join_open_list();
    if (!opened.valid()) {
        read_frames();
    } else if (opened.done()) {
        if (message_handled(opened)) read_frames();
    } else {
        opened.add_done_callback([self = keep_alive()](Future<void> done) {
            if (self->message_handled(done)) self->read_frames();
        });
    }
}

// Reads a frame's bytes at a time, as the reader asks for them. Bytes
// already buffered come at once, so a burst of messages is handled in this
// one loop; otherwise the loop goes on in the read's callback. A callback,
// not a Future: a connection waiting for its next frame then holds no
// Future state.
void WebSocketProtocol::read_frames() {
    while (!peer_closed_) {
        std::optional<std::string> bytes;
        try {
            if (stream_->write_buffer_size() > kMaxUnsentBeforeReading) {
                wait_for_the_peer_to_read();
                return;
            }
            bytes = stream_->read_bytes(
                reader_.bytes_wanted(),
                [self = keep_alive()](std::string&& data, std::exception_ptr error) {
                    if (self->take_bytes(std::move(data), std::move(error))) self->read_frames();
                });
        } catch (const StreamClosedError&) {
            break;
        }
        if (!bytes) return;  // the callback goes on
        if (!take_bytes(std::move(*bytes), nullptr)) return;
    }
    connection_over();
}

// A peer that sends without reading what we answer (an echo's client that
// never reads) would make our unsent bytes grow without end. Past
// kMaxUnsentBeforeReading, we read nothing more from it until it has taken
// them: then TCP holds the peer back too, and memory stays bounded (the
// pongs to a flood of pings included).
void WebSocketProtocol::wait_for_the_peer_to_read() {
    // An empty write resolves once every byte before it is with the kernel.
    Future<void> flushed = stream_->write(std::string_view());
    flushed.add_done_callback([self = keep_alive()] { self->read_frames(); });
}

// Feeds the bytes to the reader and acts on what it made of them, or
// ends on the read's error. True: read on; false: the loop goes on later
// (a coroutine on_message), or is over.
bool WebSocketProtocol::take_bytes(std::string bytes, std::exception_ptr error) {
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const CancelledError&) {  // the loop is closing
            abort();
        } catch (...) {  // the stream closed: reset, EOF, or by us
            if (!peer_closed_) abort();
        }
        connection_over();
        return false;
    }
    Future<void> handled = handle(reader_.feed(std::move(bytes)));
    if (!handled.valid()) return true;
    if (handled.done()) return message_handled(handled);
    // A coroutine on_message: the next message waits for it.
    handled.add_done_callback([self = keep_alive()](Future<void> done) {
        if (self->message_handled(done)) self->read_frames();
    });
    return false;
}

// What a coroutine open() or on_message ended with. True: read on.
// Cancelled (the loop going away, say): drop the connection. An exception
// is the application's: logged, and the connection is closed with 1011.
bool WebSocketProtocol::message_handled(Future<void>& handled) {
    if (handled.cancelled()) {
        abort();
        connection_over();
        return false;
    }
    if (std::exception_ptr error = handled.exception())
        callback_failed("a coroutine handler", error);
    return true;
}

// Once, whatever ended the connection: the delegate hears of it, and lets
// go of what kept it alive.
void WebSocketProtocol::connection_over() {
    if (over_) return;
    over_ = true;
    stop_pinging();
    leave_open_list(/*loop_alive=*/true);
    delegate_.on_ws_connection_close();
    owner_.reset();  // (may destroy the delegate, and with it this object: nothing after)
}

// Acts on one event of the reader. Returns the Future of a coroutine
// on_message, for the read loop to wait for; else an empty Future. An
// exception from the application's callbacks never reaches the read loop:
// it becomes a 1011 close (callback_failed).
Future<void> WebSocketProtocol::handle(WsEvent event) {
    switch (event.kind) {
        case WsEvent::Kind::nothing: break;
        case WsEvent::Kind::message:
            if (detail::tracing_anywhere()) {
                detail::trace_websocket_message("websocket message received", event.data.size(),
                                                event.binary);
            }
            try {
                return delegate_.on_ws_message(std::move(event.data), event.binary);
            } catch (...) {
                callback_failed("on_message", std::current_exception());
            }
            break;
        case WsEvent::Kind::ping:
            // Answered at once, even between the fragments of a message.
            if (!close_sent_ && !stream_->closed()) send_frame(Opcode::pong, event.data);
            run_callback("on_ping", [&] { delegate_.on_ws_ping(std::move(event.data)); });
            break;
        case WsEvent::Kind::pong:
            if (pinger_) pinger_->last_pong = IOLoop::time();
            run_callback("on_pong", [&] { delegate_.on_ws_pong(std::move(event.data)); });
            break;
        case WsEvent::Kind::close:
            peer_closed_ = true;
            if (event.code != websocket_protocol::kNoStatusReceived) close_code_ = event.code;
            close_reason_ = std::move(event.data);
            // The echo carries the peer's code and reason (RFC 6455 section 5.5.1).
            close(close_code(), close_reason_);
            break;
        // The peer broke a rule: the reader says which, and with which code.
        case WsEvent::Kind::fail: fail(event.code, event.data); break;
    }
    return Future<void>(nullptr);
}

// Runs on_ping or on_pong; an exception there is the application's.
void WebSocketProtocol::run_callback(const char* what, const std::function<void()>& callback) {
    try {
        callback();
    } catch (...) {
        callback_failed(what, std::current_exception());
    }
}

// Tornado logs the exception and drops the connection; this closes it with
// 1011 (internal error), so that the peer learns why.
void WebSocketProtocol::callback_failed(const char* what, std::exception_ptr error) {
    app_log.error("Uncaught exception in {} of {}: {}", what, delegate_.describe(),
                  describe_exception(error));
    fail(websocket_protocol::kInternalError, "internal error");
}

Future<void> WebSocketProtocol::send_frame(Opcode opcode, std::string_view payload, bool rsv1) {
    // Frames are put together in a buffer the thread reuses (the stream
    // copies only what the kernel does not take at once): a message costs
    // no allocation of its own, as HTTP1Connection's responses.
    thread_local std::string frame;
    frame.clear();
    if (client_) {
        // A fresh key for every frame a client sends (RFC 6455 section 5.3).
        std::array<char, 4> mask = websocket_protocol::make_mask();
        websocket_protocol::append_frame(frame, opcode, payload, true, rsv1, &mask);
    } else {
        websocket_protocol::append_frame(frame, opcode, payload, true, rsv1);
    }
    Future<void> written = stream_->write(std::string_view(frame));
    if (frame.capacity() > kMaxKeptFrameBuffer)
        std::string().swap(frame);  // a huge message's buffer goes
    return written;
}

// Tornado's write_message: refuse on a closing connection, compress when it
// was agreed, write one whole frame. Text must be UTF-8 (a Python str
// always is; here the check stands in for that), else the peer would fail
// the connection with 1007. A StreamClosedError becomes
// WebSocketClosedError, at once or through the Future, as Tornado's does.
Future<void> WebSocketProtocol::write_message(std::string_view message, bool binary) {
    if (is_closing()) throw WebSocketClosedError();
    if (!binary && !is_valid_utf8(message)) {
        throw std::invalid_argument(
            "write_message: a text message must be UTF-8 (send other bytes as binary)");
    }
    Opcode opcode = binary ? Opcode::binary : Opcode::text;
    if (detail::tracing_anywhere()) {
        detail::trace_websocket_message("websocket message sent", message.size(), binary);
    }
    Future<void> written(nullptr);
    try {
        written = deflate_ ? send_frame(opcode, deflate_->compress(message), /*rsv1=*/true)
                           : send_frame(opcode, message);
    } catch (const StreamClosedError&) {
        throw WebSocketClosedError();
    }
    // The usual case: the kernel took the frame at once.
    if (written.done() && !written.cancelled() && !written.exception()) return written;
    // Otherwise a Future of our own, which fails with WebSocketClosedError
    // whatever the stream's error was.
    Future<void> result;
    written.add_done_callback([result](Future<void> done) {
        if (done.cancelled()) {
            result.cancel();
        } else if (done.exception()) {
            result.set_exception(
                WebSocketClosedError("the WebSocket closed before the message was sent"));
        } else {
            result.set_result();
        }
    });
    return result;
}

// Tornado's write_ping, with the 125-byte limit of control frames checked
// here first (RFC 6455 section 5.5).
void WebSocketProtocol::write_ping(std::string_view data) {
    if (is_closing()) throw WebSocketClosedError();
    if (data.size() > kMaxControlPayload)
        throw std::invalid_argument("a ping carries at most 125 bytes");
    try {
        send_frame(Opcode::ping, data);
    } catch (const StreamClosedError&) {
        throw WebSocketClosedError();
    }
}

// The closing handshake (RFC 6455 sections 5.5.1 and 7.1.2): our close
// frame goes out once; then, if the peer's has come, TCP is closed when
// ours is flushed, else we wait for it, at most kCloseTimeout. Called by
// the application, by the echo in handle(), by a ping timeout and by a
// graceful stop, so a second call must be harmless. The wait's timer is
// not cancelled when the answer comes: it holds only a weak_ptr, and
// closing a closed stream does nothing.
void WebSocketProtocol::close(std::optional<int> code, std::string_view reason) {
    if (!code && !reason.empty()) code = websocket_protocol::kNormalClosure;
    if (!close_sent_) {
        close_sent_ = true;
        if (!stream_->closed())
            close_flushed_ = send_frame(Opcode::close, close_payload(code, reason));
    }
    stop_pinging();
    if (peer_closed_) {
        // Both close frames are done: the TCP connection goes.
        close_when_flushed(stream_, close_flushed_, kCloseTimeout);
    } else if (!stream_->closed()) {
        // Wait for the peer's close frame, but not forever.
        stream_->io_loop().call_later(kCloseTimeout, [weak = std::weak_ptr<IOStream>(stream_)] {
            if (std::shared_ptr<IOStream> open = weak.lock()) open->close();
        });
    }
}

// RFC 6455 section 7.1.7, "Fail the WebSocket Connection": a close frame
// with the code (unless ours went already), no more frames read, and a
// lingering close, so that the frame is not lost to a reset
// (tornado/iostream.h). Tornado's _abort just closes the stream.
void WebSocketProtocol::fail(int code, std::string_view reason) {
    if (peer_closed_ && close_sent_) return;  // closing already
    gen_log.info("{}: closing with {} ({})", delegate_.describe(), code, reason);
    peer_closed_ = true;  // read no more frames
    Future<void> flushed(nullptr);
    if (!close_sent_ && !stream_->closed()) {
        close_sent_ = true;
        flushed = send_frame(Opcode::close, close_payload(code, reason));
    }
    stop_pinging();
    lingering_close(stream_, std::move(flushed));
}

// No handshake at all: for a read that failed or was cancelled.
void WebSocketProtocol::abort() {
    peer_closed_ = close_sent_ = true;
    stop_pinging();
    stream_->close();
}

bool WebSocketProtocol::is_closing() const noexcept {
    return close_sent_ || peer_closed_ || stream_->closed();
}

void WebSocketProtocol::set_nodelay(bool value) { stream_->set_nodelay(value); }

// --- pings ---------------------------------------------------------------------------------------

// Made by the constructor, started by start(). Off unless the interval is
// positive (Tornado's ping_interval of 0 or None). The callback's `this`
// is safe: the Pinger belongs to this object and is stopped when the
// connection ends.
void WebSocketProtocol::start_pinging(const WebSocketParams& params) {
    if (!params.ping_interval || *params.ping_interval <= IOLoop::Clock::duration::zero()) return;
    IOLoop::Clock::duration interval = *params.ping_interval;
    // Tornado's default: three intervals, at least 30 s.
    IOLoop::Clock::duration timeout = params.ping_timeout.value_or(
        std::max<IOLoop::Clock::duration>(3 * interval, std::chrono::seconds(30)));
    IOLoop::Clock::time_point now = IOLoop::time();
    pinger_ = std::unique_ptr<Pinger>(new Pinger{
        PeriodicCallback([this] { periodic_ping(); }, interval), interval, timeout, now, now});
}

// Tornado's periodic_ping, except that a peer that stopped answering is
// closed with 1001 and a reason (Tornado's close() sends no code).
void WebSocketProtocol::periodic_ping() {
    if (is_closing()) {
        stop_pinging();
        return;
    }
    const IOLoop::Clock::time_point now = IOLoop::time();
    // The first test spares a peer when it is this loop that was too busy
    // to ping on time.
    if (now - pinger_->last_ping < 2 * pinger_->interval &&
        now - pinger_->last_pong > pinger_->timeout) {
        gen_log.info("{}: no pong within the ping timeout, closing", delegate_.describe());
        close(websocket_protocol::kGoingAway, "ping timeout");
        return;
    }
    send_frame(Opcode::ping, {});
    pinger_->last_ping = now;
}

void WebSocketProtocol::stop_pinging() noexcept {
    // Stopped, not destroyed: this may run inside the pinger's own call.
    if (pinger_) pinger_->callback.stop();
}

// --- the list of open WebSockets, for a graceful stop -------------------------------------------

// The list is per thread, like the loop. The shutdown hook is added when
// the first connection joins and removed when the last leaves, so a loop
// with no WebSocket carries none. A list still held by another loop of
// this thread (destroyed with connections open) is taken over, with a hook
// on this loop.
void WebSocketProtocol::join_open_list() {
    OpenWebSockets& list = open_websockets;
    IOLoop& loop = stream_->io_loop();
    if (list.open.empty() || list.loop != &loop) {
        list.loop = &loop;
        list.hook = loop.add_shutdown_hook([] { return close_all_going_away(); });
    }
    open_slot_ = list.open.size();
    list.open.push_back(this);
}

// O(1), by moving the last entry into the freed slot. When the list
// empties, the hook goes (if its loop is still there to remove it from),
// and a graceful stop waiting in close_all_going_away hears that the last
// connection is over.
void WebSocketProtocol::leave_open_list(bool loop_alive) noexcept {
    if (open_slot_ == kNotOpen) return;
    OpenWebSockets& list = open_websockets;
    // The last one takes this one's slot.
    WebSocketProtocol* last = list.open.back();
    list.open[open_slot_] = last;
    last->open_slot_ = open_slot_;
    list.open.pop_back();
    open_slot_ = kNotOpen;
    if (!list.open.empty()) return;
    if (loop_alive && list.loop != nullptr) list.loop->remove_shutdown_hook(list.hook);
    list.loop = nullptr;
    if (list.all_closed.valid() && !list.all_closed.done()) list.all_closed.set_result();
}

// Connections that are closing already are left to finish their own
// handshake; the Future waits for them as well.
Future<void> WebSocketProtocol::close_all_going_away() {
    OpenWebSockets& list = open_websockets;
    if (list.open.empty()) return done_future();
    // close() only sends a frame and arms a timer: no connection ends (and
    // leaves the list) inside this loop, so the copy stays valid.
    std::vector<WebSocketProtocol*> closing = list.open;
    for (WebSocketProtocol* protocol : closing) {
        if (!protocol->is_closing())
            protocol->close(websocket_protocol::kGoingAway, "server shutting down");
    }
    list.all_closed = Future<void>();
    return list.all_closed;
}

}  // namespace detail

// === WebSocketHandler ============================================================================

// Tornado's get() and accept_connection: check the request, choose the
// subprotocol and the compression, answer 101 through the usual
// RequestHandler path, then take the stream away from HTTP and start the
// WebSocket on it.
void WebSocketHandler::get(const PathArgs& args) {
    if (refuse_handshake()) return;
    std::unique_ptr<websocket_protocol::PerMessageDeflate> deflate;
    negotiate(deflate);
    // A 101 has no body: the default Content-Type goes.
    clear_header("Content-Type");
    set_status(101);
    set_header("Upgrade", "websocket");
    set_header("Connection", "Upgrade");
    set_header("Sec-WebSocket-Accept", websocket_protocol::compute_accept_value(
                                           request().headers.get_first("Sec-WebSocket-Key")));
    finish();
    // The 101 is written: from here on the stream speaks WebSocket.
    std::shared_ptr<IOStream> stream =
        request().connection ? request().connection->detach() : std::shared_ptr<IOStream>();
    if (!stream || stream->closed()) return;  // the client left during the handshake
    release_http_state();
    WebSocketParams params{ping_interval(), ping_timeout(), max_message_size(), std::nullopt};
    detail::WebSocketDelegate& delegate = *this;
    // shared_from_this() keeps the handler alive until the connection is over,
    // long after the HTTP server has let go of it.
    protocol_.emplace(delegate, std::move(stream), /*client=*/false, params, std::move(deflate));
    Future<void> opened = run_open(args);
    protocol_->start(shared_from_this(), std::move(opened));
}

// The handshake's checks, in Tornado's order; true when one answered.
bool WebSocketHandler::refuse_handshake() {
    const HTTPHeaders& headers = request().headers;
    auto refuse = [this](int status, std::string_view message) {
        set_status(status);
        finish(message);
        gen_log.debug("{}: {}", request_summary(), message);
        return true;
    };
    if (!header_has_token(headers.get("Upgrade"), "websocket"))
        return refuse(400, "Can \"Upgrade\" only to \"WebSocket\".");
    if (!header_has_token(headers.get("Connection"), "upgrade"))
        return refuse(400, "\"Connection\" must be \"Upgrade\".");
    // Browsers send Origin (the older draft behind version 8 sent
    // Sec-WebSocket-Origin). A request with neither is not from a web page, so
    // there is no other site's script to guard against: it is let through.
    std::string_view origin_name = headers.contains("Origin") ? "Origin" : "Sec-Websocket-Origin";
    if (headers.contains(origin_name) && !check_origin(headers.get(origin_name))) {
        return refuse(403, "Cross origin websockets not allowed");
    }
    // RFC 6455 section 4.4: a version we do not speak is answered with 426
    // and the version we do. (Tornado also accepts the drafts' 7 and 8.)
    if (headers.get("Sec-WebSocket-Version") != "13") {
        set_status(426, "Upgrade Required");
        set_header("Sec-WebSocket-Version", "13");
        // Tornado's body is empty; a word of why costs nothing.
        finish("Sec-WebSocket-Version must be 13.");
        return true;
    }
    // Section 4.1: the handshake is an HTTP/1.1 GET. Section 4.2.1: Host is
    // required, and the key must be 16 bytes in base64. Tornado checks only
    // that Host and the key are there.
    if (request().version != "HTTP/1.1") return refuse(400, "WebSocket needs HTTP/1.1");
    if (!headers.contains("Host") ||
        !websocket_protocol::is_valid_key(headers.get("Sec-WebSocket-Key"))) {
        return refuse(400, "Missing/Invalid WebSocket headers");
    }
    return false;
}

// The subprotocol and the extension: what the client offered, what we take.
void WebSocketHandler::negotiate(std::unique_ptr<websocket_protocol::PerMessageDeflate>& deflate) {
    std::vector<std::string> offered =
        websocket_protocol::header_list(request().headers.get("Sec-WebSocket-Protocol"));
    if (std::optional<std::string> chosen = select_subprotocol(offered)) {
        // The server must choose one of the client's offers (RFC 6455 section
        // 4.2.2); choosing another is the application's bug (Tornado asserts).
        if (std::find(offered.begin(), offered.end(), *chosen) == offered.end()) {
            throw std::logic_error("select_subprotocol chose '" + *chosen +
                                   "', which the client did not offer");
        }
        set_header("Sec-WebSocket-Protocol", *chosen);
        subprotocol_ = std::move(*chosen);
    }
    // Compression only when the handler asks for it and the client offered
    // something acceptable; else the 101 says nothing and messages go plain.
    std::optional<WebSocketCompressionOptions> options = get_compression_options();
    if (!options) return;
    std::optional<websocket_protocol::AcceptedDeflate> accepted =
        websocket_protocol::accept_deflate_offer(request().headers.get("Sec-WebSocket-Extensions"));
    if (!accepted) return;
    deflate = std::make_unique<websocket_protocol::PerMessageDeflate>(
        /*server=*/true, accepted->agreement, *options);
    set_header("Sec-WebSocket-Extensions", accepted->response_header);
}

// An idle connection costs what it holds: the HTTP connection that carried
// the handshake is of no more use.
void WebSocketHandler::release_http_state() {
    request().connection.reset();
    request().server_connection = nullptr;
    request().headers.shrink_to_fit();
    forget_response();
}

// What start() must wait for before the first message: a coroutine
// open_async's Future, or a failed Future when open threw, which start()
// turns into a 1011 close.
Future<void> WebSocketHandler::run_open(const PathArgs& args) {
    try {
        open(args);
        return std::exchange(pending_, Future<void>(nullptr));
    } catch (...) {
        Future<void> failed;
        failed.set_exception(std::current_exception());
        return failed;
    }
}

// The default open() runs open_async, the coroutine form. If it suspends,
// its Future goes to pending_, for run_open to hand to the read loop; if it
// finished at once, result() rethrows what it threw.
void WebSocketHandler::open(const PathArgs& args) {
    Task<void> opening = open_async(args);
    if (!opening.done()) {
        pending_ = std::move(opening).future();
        return;
    }
    opening.result();  // rethrows what it threw
}

Task<void> WebSocketHandler::open_async(PathArgs) { co_return; }

// The same pattern: a suspended on_message_async reaches the read loop
// through on_ws_message, and the next message waits for it.
void WebSocketHandler::on_message(std::string message, bool binary) {
    Task<void> handling = on_message_async(std::move(message), binary);
    if (!handling.done()) {
        pending_ = std::move(handling).future();
        return;
    }
    handling.result();
}

// Neither was overridden: the first message makes the mistake visible
// (logged, then a 1011 close).
Task<void> WebSocketHandler::on_message_async(std::string, bool) {
    throw std::logic_error("a WebSocketHandler must override on_message or on_message_async");
}

bool WebSocketHandler::check_origin(std::string_view origin) {
    // Tornado: urlparse(origin).netloc, in lower case, is the Host header.
    // Compared without case on both sides (Tornado lowers only the origin).
    std::size_t scheme_end = origin.find("://");
    if (scheme_end == std::string_view::npos) return false;  // "null", from a file:// page
    std::string_view authority = origin.substr(scheme_end + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    return equals_ignoring_case(authority, request().headers.get_first("Host"));
}

std::optional<std::string> WebSocketHandler::select_subprotocol(const std::vector<std::string>&) {
    return std::nullopt;
}

std::optional<WebSocketCompressionOptions> WebSocketHandler::get_compression_options() {
    return std::nullopt;
}

// Before anything is sent: once a close has begun, on either side, only
// the close frame may still go out.
void WebSocketHandler::check_open() const {
    if (!protocol_ || protocol_->is_closing()) throw WebSocketClosedError();
}

Future<void> WebSocketHandler::write_message(std::string_view message, bool binary) {
    check_open();
    return protocol_->write_message(message, binary);
}

Future<void> WebSocketHandler::write_message(const JSON& message) {
    return write_message(json_encode(message));
}

Future<void> WebSocketHandler::write_message(const nlohmann::ordered_json& message) {
    return write_message(json_encode(message));
}

void WebSocketHandler::ping(std::string_view data) {
    check_open();
    protocol_->write_ping(data);
}

// The arguments are checked even when there is nothing to close yet (no
// handshake done), so that a bad call shows at once.
void WebSocketHandler::close(std::optional<int> code, std::string_view reason) {
    check_close_arguments(code, reason);
    if (protocol_) protocol_->close(code, reason);
}

void WebSocketHandler::set_nodelay(bool value) {
    check_open();
    protocol_->set_nodelay(value);
}

bool WebSocketHandler::is_open() const noexcept { return protocol_ && !protocol_->is_closing(); }

std::optional<std::string> WebSocketHandler::selected_subprotocol() const {
    if (subprotocol_.empty()) return std::nullopt;
    return subprotocol_;
}

std::optional<int> WebSocketHandler::close_code() const noexcept {
    return protocol_ ? protocol_->close_code() : std::nullopt;
}

const std::string& WebSocketHandler::close_reason() const noexcept {
    static const std::string none;
    return protocol_ ? protocol_->close_reason() : none;
}

std::optional<IOLoop::Clock::duration> WebSocketHandler::ping_interval() const {
    return application().settings().websocket_ping_interval;
}

std::optional<IOLoop::Clock::duration> WebSocketHandler::ping_timeout() const {
    return application().settings().websocket_ping_timeout;
}

std::size_t WebSocketHandler::max_message_size() const {
    return application().settings().websocket_max_message_size;
}

// on_message, then any coroutine it left in pending_, for the read loop.
Future<void> WebSocketHandler::on_ws_message(std::string message, bool binary) {
    on_message(std::move(message), binary);
    return std::exchange(pending_, Future<void>(nullptr));
}

void WebSocketHandler::on_ws_ping(std::string data) { on_ping(std::move(data)); }

void WebSocketHandler::on_ws_pong(std::string data) { on_pong(std::move(data)); }

// The connection is over whatever on_close does: an exception is logged.
void WebSocketHandler::on_ws_connection_close() {
    try {
        on_close();
    } catch (...) {
        app_log.error("Uncaught exception in on_close of {}: {}", describe(),
                      describe_exception(std::current_exception()));
    }
}

std::string WebSocketHandler::describe() const {
    return "WebSocket " + request().path + " (" + request().remote_ip + ")";
}

// === the client ==================================================================================

// The client's delegate. The handle points to it, and so does the
// protocol's owner_ until the connection is over, so the closing handshake
// can finish after the handle is gone. Messages go to the callback, or
// into the queue that read_message takes from.
struct WebSocketClientConnection::State final : detail::WebSocketDelegate {
    std::string url;
    HTTPHeaders headers;
    std::optional<std::string> subprotocol;
    std::optional<detail::WebSocketProtocol> protocol;
    std::function<void(std::optional<WebSocketMessage>)> on_message_callback;
    std::function<void(std::string)> on_ping;
    std::function<void(std::string)> on_pong;
    // One message waits here; the read loop waits for room (Tornado's Queue(1)).
    Queue<std::optional<WebSocketMessage>> messages{1};
    bool closed = false;
    bool abandoned = false;  // the handle is gone: messages have nowhere to go

    Future<void> on_ws_message(std::string message, bool binary) override {
        if (abandoned) return Future<void>(nullptr);
        if (on_message_callback) {
            on_message_callback(WebSocketMessage{std::move(message), binary});
            return Future<void>(nullptr);
        }
        // When the queue is full, put's Future makes the read loop wait: the
        // server is read no faster than the application takes messages.
        return messages.put(WebSocketMessage{std::move(message), binary});
    }
    void on_ws_ping(std::string data) override {
        if (on_ping && !abandoned) on_ping(std::move(data));
    }
    void on_ws_pong(std::string data) override {
        if (on_pong && !abandoned) on_pong(std::move(data));
    }
    void on_ws_connection_close() override {
        closed = true;
        if (abandoned) return;
        if (on_message_callback) {
            on_message_callback(std::nullopt);
        } else {
            messages.put(std::nullopt);  // after the messages already waiting
        }
    }
    std::string describe() const override { return "WebSocket client of " + url; }
};

WebSocketClientConnection::WebSocketClientConnection(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

WebSocketClientConnection::~WebSocketClientConnection() {
    if (!state_) return;
    state_->abandoned = true;
    // They may hold what is being destroyed with us.
    state_->on_message_callback = nullptr;
    state_->on_ping = nullptr;
    state_->on_pong = nullptr;
    if (state_->protocol && !state_->protocol->is_closing()) state_->protocol->close();
}

Future<void> WebSocketClientConnection::write_message(std::string_view message, bool binary) {
    return state_->protocol->write_message(message, binary);
}

// Once the connection is over and the queue drained (its closing nothing
// taken too), every call gives nothing at once.
Future<std::optional<WebSocketMessage>> WebSocketClientConnection::read_message() {
    if (state_->closed && state_->messages.empty()) {
        Future<std::optional<WebSocketMessage>> ended;
        ended.set_result(std::nullopt);
        return ended;
    }
    return state_->messages.get();
}

void WebSocketClientConnection::ping(std::string_view data) { state_->protocol->write_ping(data); }

void WebSocketClientConnection::close(std::optional<int> code, std::string_view reason) {
    check_close_arguments(code, reason);
    state_->protocol->close(code, reason);
}

std::optional<int> WebSocketClientConnection::close_code() const noexcept {
    return state_->protocol->close_code();
}
const std::string& WebSocketClientConnection::close_reason() const noexcept {
    return state_->protocol->close_reason();
}
const std::optional<std::string>& WebSocketClientConnection::selected_subprotocol() const noexcept {
    return state_->subprotocol;
}
const HTTPHeaders& WebSocketClientConnection::headers() const noexcept { return state_->headers; }
void WebSocketClientConnection::set_nodelay(bool value) { state_->protocol->set_nodelay(value); }

namespace {

// ws://host/path -> http://host/path, wss:// -> https:// (the handshake is
// an HTTP request; the request's validate_cert and ca_certs apply to wss).
std::string http_url_of(std::string_view url) {
    std::size_t separator = url.find("://");
    if (separator != std::string_view::npos) {
        std::string_view scheme = url.substr(0, separator);
        if (equals_ignoring_case(scheme, "ws")) return "http" + std::string(url.substr(separator));
        if (equals_ignoring_case(scheme, "wss"))
            return "https" + std::string(url.substr(separator));
    }
    throw WebSocketError("not a ws:// or wss:// URL: " + std::string(url));
}

// The server's 101, checked: it must be the answer to our key and agree to
// no more than we offered (RFC 6455 section 4.1, RFC 7692 section 7).
// Tornado asserts the first three and takes any subprotocol the server
// names.
std::unique_ptr<websocket_protocol::PerMessageDeflate> check_answer(
    const HTTPHeaders& headers, std::string_view key, const WebSocketConnectOptions& options,
    std::optional<std::string>& subprotocol) {
    if (!header_has_token(headers.get("Upgrade"), "websocket"))
        throw WebSocketError("the 101 does not upgrade to websocket");
    if (!header_has_token(headers.get("Connection"), "upgrade"))
        throw WebSocketError("the 101 has no Connection: Upgrade");
    if (headers.get("Sec-WebSocket-Accept") != websocket_protocol::compute_accept_value(key)) {
        throw WebSocketError("wrong Sec-WebSocket-Accept in the server's answer");
    }
    if (headers.contains("Sec-WebSocket-Protocol")) {
        std::string chosen = headers.get("Sec-WebSocket-Protocol");
        const std::vector<std::string>& offered = options.subprotocols;
        if (std::find(offered.begin(), offered.end(), chosen) == offered.end()) {
            throw WebSocketError("the server chose a subprotocol that was not offered: " + chosen);
        }
        subprotocol = chosen;
    }
    std::optional<websocket_protocol::PerMessageDeflate::Agreement> agreement =
        websocket_protocol::parse_deflate_answer(headers.get("Sec-WebSocket-Extensions"));
    if (!agreement) return nullptr;
    if (!options.compression_options)
        throw WebSocketError("the server turned on compression, which was not offered");
    return std::make_unique<websocket_protocol::PerMessageDeflate>(/*server=*/false, *agreement,
                                                                   *options.compression_options);
}

// After fetch_upgrade: anything but a 101 with its stream is Tornado's
// "Non-websocket response". Then the answer is checked, and the connection
// starts with State as its delegate and owner.
std::unique_ptr<WebSocketClientConnection> open_connection(detail::UpgradedConnection& upgraded,
                                                           std::string url, std::string_view key,
                                                           WebSocketConnectOptions& options) {
    if (upgraded.response.code != 101 || !upgraded.stream)
        throw WebSocketError("Non-websocket response");
    auto state = std::make_shared<WebSocketClientConnection::State>();
    std::unique_ptr<websocket_protocol::PerMessageDeflate> deflate =
        check_answer(upgraded.response.headers, key, options, state->subprotocol);
    state->url = std::move(url);
    state->headers = std::move(upgraded.response.headers);
    state->on_message_callback = std::move(options.on_message_callback);
    state->on_ping = std::move(options.on_ping);
    state->on_pong = std::move(options.on_pong);
    WebSocketParams params{options.ping_interval, options.ping_timeout, options.max_message_size,
                           options.compression_options};
    state->protocol.emplace(*state, std::move(upgraded.stream), /*client=*/true, params,
                            std::move(deflate));
    state->protocol->start(state);
    return std::make_unique<WebSocketClientConnection>(std::move(state));
}

// Tornado's WebSocketClientConnection constructor and headers_received,
// as one coroutine: the handshake request, then the answer.
Task<std::unique_ptr<WebSocketClientConnection>> connect(HTTPRequest request,
                                                         WebSocketConnectOptions options) {
    std::string url = request.url;
    request.url = http_url_of(url);
    std::string key = websocket_protocol::make_key();
    request.headers.set("Upgrade", "websocket");
    request.headers.set("Connection", "Upgrade");
    request.headers.set("Sec-WebSocket-Key", key);
    request.headers.set("Sec-WebSocket-Version", "13");
    if (!options.subprotocols.empty()) {
        std::string offered;
        for (const std::string& name : options.subprotocols)
            offered += (offered.empty() ? "" : ", ") + name;
        request.headers.set("Sec-WebSocket-Protocol", offered);
    }
    if (options.compression_options) {
        request.headers.set("Sec-WebSocket-Extensions", websocket_protocol::kClientDeflateOffer);
    }
    // A redirect cannot be followed (Tornado does not either), and no
    // Accept-Encoding is asked for: a 101 has no body to decompress.
    request.follow_redirects = false;
    request.decompress_response = false;
    if (options.connect_timeout) request.connect_timeout = *options.connect_timeout;

    detail::UpgradedConnection upgraded = co_await detail::fetch_upgrade(std::move(request));
    try {
        co_return open_connection(upgraded, std::move(url), key, options);
    } catch (...) {
        // The stream was handed to us and nobody else holds it.
        if (upgraded.stream) upgraded.stream->close();
        throw;
    }
}

}  // namespace

Future<std::unique_ptr<WebSocketClientConnection>> websocket_connect(
    std::string url, WebSocketConnectOptions options) {
    HTTPRequest request;
    request.url = std::move(url);
    return websocket_connect(std::move(request), std::move(options));
}

Future<std::unique_ptr<WebSocketClientConnection>> websocket_connect(
    HTTPRequest request, WebSocketConnectOptions options) {
    return connect(std::move(request), std::move(options));
}

}  // namespace tornado
