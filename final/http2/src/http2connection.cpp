// http2connection.cpp: see tornado/http2.h for the contract, and
// final/http2/README.md for the add-on's shape.
//
// HTTP2ServerConnection owns the protocol's session (http2session.h) and
// the IOStream: it reads, feeds the session, sends what the session
// produces, and dispatches what the session reported. Each stream is an
// HTTP2Stream (http2stream.h); the session's callbacks (http2callbacks.h)
// only record into the streams and the queue of events, which is
// dispatched once the session has returned. Sending is one function,
// send_now(), which runs after reading, or once per loop turn when a
// handler wrote (send_soon()).
#include "tornado/http2.h"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include "http/base64.h"
#include "http/connection_end.h"
#include "http2callbacks.h"
#include "http2session.h"
#include "http2stream.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// Bytes read from the socket at a time.
constexpr std::size_t kReadSize = 64 * 1024;
// Bytes the stream may hold unsent before the connection stops turning
// responses into frames: past it, what the handlers write waits in their
// streams, and their write() Futures wait with it.
constexpr std::size_t kMaxUnsent = 256 * 1024;
// The largest frame the batch takes whole: the session's DATA frames carry
// at most 16 KiB, and this server pads none.
constexpr std::size_t kLargestFrame = 16 * 1024 + 9;
// Frames are gathered into one write until they pass kSendBatch, so a
// write is at most kSendBatch + kLargestFrame bytes: IOStream's
// kOneSegmentWrite, one TCP segment on loopback (where a local proxy and
// the benchmarks talk) also once TLS has made records of it. A write a
// little over a segment (64 KiB of frames and their headers) left a short
// segment at its end, sent on its own; with batches under a segment the
// server took a quarter less CPU per 16 KiB file in h2load's 100 x 100
// (tests/bench/README.md).
constexpr std::size_t kSendBatch = tornado::IOStream::kOneSegmentWrite - kLargestFrame;
// Room for a batch and the frame that passes it. The DATA frames are made
// while the batch is not full (HTTP2Session::send), so they never have to
// grow it.
constexpr std::size_t kBatchRoom = kSendBatch + kLargestFrame + 64;

// HTTP2-Settings is base64url without padding (RFC 7540 section 3.2.1).
std::optional<std::string> base64url_decode(std::string_view text) {
    std::string standard(text);
    for (char& c : standard) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    standard.append((4 - standard.size() % 4) % 4, '=');
    return detail::base64_decode(standard);
}

}  // namespace

HTTP2ServerConnection::HTTP2ServerConnection(std::shared_ptr<IOStream> stream,
                                             HTTP2Parameters params, HTTPRequestContext context,
                                             std::string received)
    : stream_(std::move(stream)),
      params_(std::move(params)),
      context_(std::move(context)),
      received_(std::move(received)),
      callbacks_(std::make_unique<HTTP2Callbacks>(*this)),
      session_(std::make_unique<detail::HTTP2Session>(
          *callbacks_, detail::HTTP2Session::Limits{
                           .max_concurrent_streams = params_.max_concurrent_streams,
                           .stream_window = params_.stream_window,
                           .connection_window = params_.connection_window,
                           .max_header_list_size = static_cast<std::uint32_t>(std::min<std::size_t>(
                               params_.max_header_list_size, UINT32_MAX))})) {}

HTTP2ServerConnection::~HTTP2ServerConnection() = default;

// The one writer of the connection's life (its drawing is in tornado/http2.h).
void HTTP2ServerConnection::enter(Life to) {
    bool drawn = (life_ == Life::created && to == Life::serving) ||
                 (life_ == Life::serving && (to == Life::going_away || to == Life::ended)) ||
                 (life_ == Life::going_away && to == Life::ended);
    if (!drawn) {
        constexpr std::string_view kNames[] = {"created", "serving", "going_away", "ended"};
        throw std::logic_error(tornado::format(
            "HTTP2ServerConnection: its life cannot go from {} to {}",
            kNames[static_cast<std::size_t>(life_)], kNames[static_cast<std::size_t>(to)]));
    }
    life_ = to;
}

void HTTP2ServerConnection::start_serving(HTTPServerConnectionDelegate& delegate) {
    enter(Life::serving);
    delegate_ = &delegate;
    stream_->set_nodelay(true);
    stream_->set_close_callback([weak = weak_from_this()] {
        if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) self->end_serving();
    });
    // The session's SETTINGS and the connection's window are queued: they
    // go with the first send.
    // Not the preface's line: an HTTP/1.1 request that asked for h2c (the
    // HTTP/1 connection checked its fields).
    if (!received_.empty() && received_ != kHTTP2PrefaceHead &&
        !take_upgrade(std::exchange(received_, {}))) {
        return;
    }
    arm_idle_timeout();
    serve().detach();
}

// RFC 7540 section 3.2: the 101, then HTTP/2 from the server's SETTINGS on
// (written after it, by serve()). The request becomes stream 1,
// half-closed: the HTTP/1.1 request was all of it, with no body. The
// client's preface follows the 101. Settings that do not decode get a 400
// over HTTP/1.1, and the connection closes.
bool HTTP2ServerConnection::take_upgrade(std::string_view head) {
    if (end_if_socket_gone()) return false;  // the client left already: nothing to answer
    std::size_t line_end = head.find("\r\n");
    RequestStartLine start = parse_request_start_line(head.substr(0, line_end));
    HTTPHeaders headers = HTTPHeaders::parse(head.substr(line_end + 2));
    std::optional<std::string> settings = base64url_decode(headers.get_first("HTTP2-Settings"));
    if (!settings || !session_->upgrade(*settings)) {
        gen_log.info("HTTP/2 upgrade from {} refused: bad HTTP2-Settings", context_.remote_ip);
        constexpr std::string_view kRefusal =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            "Content-Length: 34\r\nConnection: close\r\n\r\n400 Bad Request: bad HTTP2-Settings";
        // Held by this callback alone (no serve() runs) until it has said so.
        stream_->write(kRefusal).add_done_callback(
            [self = shared_from_this()](Future<void>) { self->end_serving(); });
        return false;
    }
    stream_->write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    auto request = std::make_shared<HTTP2Stream>(shared_from_this(), 1);
    request->take_upgraded_request(start, headers);
    streams_.emplace(1, request);
    events_.push_back({Event::Kind::request, 1});
    events_.push_back({Event::Kind::end, 1});
    return true;
}

// --- reading --------------------------------------------------------------------------------

// The reading side: what comes is fed to the session, what it answers
// sent, until the session wants nothing more or the stream closes.
Task<void> HTTP2ServerConnection::serve() {
    std::shared_ptr<HTTP2ServerConnection> self = shared_from_this();
    if (!received_.empty()) feed(std::exchange(received_, {}));
    dispatch_events();  // an upgraded request's (take_upgrade)
    send_now();
    // Once the session wants to read no more (a GOAWAY sent, or a
    // connection error), send_now() ends the connection after its last
    // frames.
    while (serving() && session_->want_read()) {
        std::string data;
        try {
            data = co_await stream_->read_bytes(kReadSize, true);
        } catch (const std::exception&) {
            end_serving();  // the client closed it, or a limit did
            co_return;
        }
        feed(data);
        send_now();
    }
    // A connection must stay alive until end_serving() has taken it off
    // its server's list, which holds a plain pointer to it. Between its
    // last read and its end, nothing but this coroutine holds it.
    if (serving()) {
        if (!closed_future_.valid()) closed_future_ = Future<void>();
        Future<void> ended = closed_future_;
        co_await ended;
    }
}

void HTTP2ServerConnection::feed(std::string_view data) {
    in_callbacks_ = true;
    session_->receive(data);
    in_callbacks_ = false;
    if (!session_->want_read() && session_->error() != detail::HTTP2ErrorCode::no_error) {
        // A connection error: the session queued its GOAWAY and reads no
        // more. A client that sends faster than it reads (a flood) would
        // not read the GOAWAY either, once the socket's buffer is full:
        // then the connection ends now rather than wait for it.
        gen_log.info("HTTP/2 connection from {} refused: {}", context_.remote_ip,
                     session_->error_message());
        send_now();
        if (serving() && stream_->write_buffer_size() >= kMaxUnsent) end_serving();
    }
    dispatch_events();
}

HTTP2Stream* HTTP2ServerConnection::find_stream(std::uint32_t id) {
    if (id == found_id_) return found_;
    auto found = streams_.find(id);
    if (found == streams_.end()) return nullptr;
    found_id_ = id;
    found_ = found->second.get();
    return found_;
}

// Before its stream leaves streams_.
void HTTP2ServerConnection::forget_stream(std::uint32_t id) {
    if (id != found_id_) return;
    found_id_ = 0;
    found_ = nullptr;
}

// Runs the streams' events in order. An early send below gathers frames,
// which dispatches the streams the sending closed: those events wait for
// this loop instead.
void HTTP2ServerConnection::dispatch_events() {
    if (dispatching_) return;
    dispatching_ = true;
    struct Done {  // however the loop ends
        bool& dispatching;
        ~Done() { dispatching = false; }
    } done{dispatching_};
    while (!events_.empty()) {
        Event event = events_.front();
        events_.pop_front();
        auto found = streams_.find(event.stream_id);
        if (found == streams_.end()) continue;
        std::shared_ptr<HTTP2Stream> stream = found->second;
        switch (event.kind) {
            case Event::Kind::request:
                if (delegate_ != nullptr) stream->start(*delegate_);
                send_early_if_a_batch_is_ready();
                break;
            case Event::Kind::body:
            case Event::Kind::end:
                stream->wake();
                send_early_if_a_batch_is_ready();
                break;
            case Event::Kind::closed:
                forget_stream(event.stream_id);
                streams_.erase(found);
                stream->on_closed(event.error_code);
                stream->release();
                if (streams_.empty()) arm_idle_timeout();
                break;
        }
    }
}

// Many requests read at once (h2load's 100, a browser's page of
// resources) are answered handler by handler. Once the answers queued
// since the last early send would fill a write, they go now, between two
// handlers, rather than after the last one: the client reads the first
// answers while the server makes the rest. At most one early send per
// batch of bytes queued, whatever the windows let out, so a client that
// reads slowly does not turn it into a write per handler. On the io_uring
// loop a write is a request that would wait for the turn's end: it is
// handed to the kernel at once.
void HTTP2ServerConnection::send_early_if_a_batch_is_ready() {
    if (queued_bytes_ - queued_at_early_send_ < kSendBatch) return;
    queued_at_early_send_ = queued_bytes_;
    send_now();
    stream_->io_loop().submit_requests();
}

// --- sending --------------------------------------------------------------------------------

void HTTP2ServerConnection::send_soon() {
    // Inside the session's callbacks, a send_now() follows once it returns.
    if (send_scheduled_ || in_callbacks_ || !serving()) return;
    send_scheduled_ = true;
    stream_->io_loop().add_callback([weak = weak_from_this()] {
        if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) {
            self->send_scheduled_ = false;
            self->send_now();
        }
    });
}

// Turns what the session has to send into writes, kSendBatch bytes at a
// time, while the stream has fewer than kMaxUnsent bytes waiting for the
// kernel. Past that, the peer reads slowly: sending goes on when the
// stream has sent them, and meanwhile the handlers' write() Futures wait,
// not the stream's buffer grows.
void HTTP2ServerConnection::send_now() {
    if (!serving() || in_callbacks_ || sending_) return;
    while (gather_frames()) {
        if (end_if_socket_gone()) return;
        Future<void> written = batch_.write_to(*stream_);
        // The streams the sending closed. Only now, with batch_ written:
        // their events and those still queued may run handlers, whose
        // early sends gather into batch_ again.
        dispatch_events();
        if (!serving() || sending_) return;  // sending_: a handler's early send waits
        if (stream_->write_buffer_size() >= kMaxUnsent) {
            wait_until_written(std::move(written));
            return;
        }
    }
    end_once_all_said();
}

// Fills batch_ with the session's frames, up to about kSendBatch bytes.
// Whether there is something to write. The room (64 KiB) is made only
// when the session has something to send, and given back when nothing
// came of it: every send_now() ends with a call that finds nothing, and
// an idle connection would otherwise keep that room.
bool HTTP2ServerConnection::gather_frames() {
    if (!session_->want_write()) return false;
    batch_.start(stream_->takes_pieces(), kBatchRoom);
    in_callbacks_ = true;
    session_->send(batch_, kSendBatch);
    in_callbacks_ = false;
    if (batch_.empty()) batch_.release();
    return !batch_.empty() && serving();
}

namespace detail {

namespace {
// A shared piece shorter than this is copied: a few bytes cost less to
// copy than a piece of the write.
constexpr std::size_t kMinSharedPiece = 1024;
// At most this many shared pieces a batch, so that with the frames between
// them they are few enough for one sendmsg() (IOStream::kMaxGathered).
constexpr std::size_t kMaxSharedPieces = (IOStream::kMaxGathered - 1) / 2;
}  // namespace

void HTTP2FrameBatch::start(bool by_reference, std::size_t room) {
    bytes_.clear();
    bytes_.reserve(room);
    if (by_reference) shared_.reserve(kMaxSharedPieces);
    shared_bytes_ = 0;
    by_reference_ = by_reference;
}

void HTTP2FrameBatch::release() noexcept {
    std::string().swap(bytes_);
    std::vector<SharedPiece>().swap(shared_);
    shared_bytes_ = 0;
}

// Copied, not referenced, when the batch has its fill of shared pieces:
// shared_ never grows past the room start() made for them (none when it
// copies them all), so this allocates nothing (HTTP2Stream::send_data
// cannot throw).
void HTTP2FrameBatch::append_shared(std::string_view bytes,
                                    const std::shared_ptr<const void>& owner) {
    if (!by_reference_ || !owner || bytes.size() < kMinSharedPiece ||
        shared_.size() == kMaxSharedPieces) {
        bytes_.append(bytes);
        return;
    }
    shared_.push_back({bytes_.size(), bytes, owner});
    shared_bytes_ += bytes.size();
}

// The owners go once the stream has the pieces: it copies what the kernel
// does not take at once. Either way the batch's memory goes too (moved to
// the stream, or freed): an idle connection holds no batch.
Future<void> HTTP2FrameBatch::write_to(IOStream& stream) {
    if (shared_.empty()) {
        // The stream takes the string over only if it keeps bytes to
        // send: sent whole, it is left here with its room, given back.
        Future<void> written = stream.write(std::move(bytes_));
        release();
        return written;
    }
    std::array<std::string_view, IOStream::kMaxGathered> pieces;
    std::size_t count = 0;
    std::size_t done = 0;  // of bytes_
    for (const SharedPiece& piece : shared_) {
        if (piece.after > done)
            pieces[count++] = std::string_view(bytes_).substr(done, piece.after - done);
        pieces[count++] = piece.bytes;
        done = piece.after;
    }
    if (bytes_.size() > done) pieces[count++] = std::string_view(bytes_).substr(done);
    Future<void> written = stream.write(std::span<const std::string_view>(pieces.data(), count));
    release();
    return written;
}

}  // namespace detail

// A socket closed under us (a reset the loop has not reported yet) ends
// the connection here: a write to it would throw into whichever coroutine
// or callback sent.
bool HTTP2ServerConnection::end_if_socket_gone() {
    if (!stream_->closed()) return false;
    end_serving();
    return true;
}

// The socket's buffer is full: sending goes on once `written` is out.
void HTTP2ServerConnection::wait_until_written(Future<void> written) {
    sending_ = true;
    written.add_done_callback([weak = weak_from_this()](Future<void>) {
        if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) {
            self->sending_ = false;
            self->send_now();
        }
    });
}

// A GOAWAY said and every stream over (or a connection error's GOAWAY
// said): the connection ends once its last bytes are out.
void HTTP2ServerConnection::end_once_all_said() {
    if (!serving() || !session_->finished()) return;
    if (end_if_socket_gone()) return;
    stream_->write(std::string_view{}).add_done_callback([weak = weak_from_this()](Future<void>) {
        if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) self->end_serving();
    });
}

// --- the end --------------------------------------------------------------------------------

void HTTP2ServerConnection::arm_idle_timeout() {
    if (params_.idle_timeout && serving()) start_timeout(stream_->io_loop(), *params_.idle_timeout);
}

void HTTP2ServerConnection::on_timeout() {
    if (streams_.empty()) fail(detail::HTTP2ErrorCode::no_error);  // idle for too long
}

Future<void> HTTP2ServerConnection::close() {
    if (!serving()) return detail::done_future();
    if (!closed_future_.valid()) closed_future_ = Future<void>();
    Future<void> ended = closed_future_;
    end_serving();
    return ended;
}

void HTTP2ServerConnection::close_when_idle() {
    if (life_ != Life::serving) return;
    enter(Life::going_away);
    // It names the last stream taken: the client may retry any later one
    // elsewhere.
    session_->submit_goaway(detail::HTTP2ErrorCode::no_error);
    send_now();
}

bool HTTP2ServerConnection::idle() const noexcept { return serving() && streams_.empty(); }

// NO_ERROR is the idle timeout's: the session's graceful GOAWAY, after
// which it ends (no stream is open). Any other code ends the session.
void HTTP2ServerConnection::fail(detail::HTTP2ErrorCode code) {
    if (!serving()) return;
    session_->submit_goaway(code);
    send_now();  // at once outside the session's callbacks (in_callbacks_)
}

void HTTP2ServerConnection::end_serving() noexcept {
    if (!serving()) return;
    enter(Life::ended);
    cancel_timeout();
    // Every stream still open ends with the connection.
    std::unordered_map<std::uint32_t, std::shared_ptr<HTTP2Stream>> open = std::move(streams_);
    streams_.clear();
    forget_stream(found_id_);
    for (auto& [id, stream] : open) {
        stream->on_closed(detail::HTTP2ErrorCode::cancel);
        stream->release();
    }
    if (stream_) stream_->close();
    detail::end_server_connection(*this, delegate_, closed_future_);
}

void HTTP2ServerConnection::server_gone() noexcept {
    delegate_ = nullptr;
    if (stream_) stream_->close();
}

std::shared_ptr<HTTPServerConnection> detail::make_http2_connection(
    std::shared_ptr<IOStream> stream, std::string received, const HTTPServerOptions& options,
    HTTPRequestContext context, std::string_view alt_svc) {
    HTTP2Parameters params;
    params.max_concurrent_streams = options.http2_max_concurrent_streams;
    params.max_header_list_size = options.max_header_size;
    params.max_body_size = options.max_body_size;
    params.idle_timeout = options.idle_connection_timeout;
    params.server_header = options.server_header;
    params.alt_svc = alt_svc;
    return std::make_shared<HTTP2ServerConnection>(std::move(stream), std::move(params),
                                                   std::move(context), std::move(received));
}

}  // namespace tornado
