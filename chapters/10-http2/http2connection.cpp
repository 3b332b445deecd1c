// http2connection.cpp: see http2connection.h for the picture. In order: the
// reading coroutine, the frames that concern the connection (SETTINGS,
// PING, GOAWAY), those that open and end streams (HEADERS, CONTINUATION,
// RST_STREAM), the application, the streams' bookkeeping, writing and
// closing, and task 4's graceful GOAWAY. Flow control (DATA,
// WINDOW_UPDATE, sending the responses) is in flow_control.cpp.
#include "http2connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>
#include <utility>

#include <gen.h>  // fire_and_forget
#include "http2request.h"

namespace course {

using namespace http2;

namespace {

// How many reset stream ids to remember (see recently_reset_).
constexpr std::size_t kRecentlyResetKept = 128;
// After our last frame (a GOAWAY), how long the peer gets to read it
// before the connection closes anyway.
constexpr std::chrono::seconds kCloseAfterFlushLimit{5};

}  // namespace

HTTP2Connection::HTTP2Connection(std::shared_ptr<IOStream> stream, std::string remote_address,
                                 HTTP2ConnectionParameters params, RequestCallback callback)
    : stream_(std::move(stream)),
      remote_address_(std::move(remote_address)),
      params_(params),
      callback_(std::move(callback)),
      decoder_(params.max_header_list_size) {}

void HTTP2Connection::start() {
    // Many small frames, each to leave at once (chapter 05's appendix on Nagle).
    int on = 1;
    ::setsockopt(stream_.stream()->fileno(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // The server's preface is its SETTINGS, sent without waiting for the
    // client's (section 3.4).
    send(settings_frame({
        {SettingId::max_concurrent_streams, params_.max_concurrent_streams},
        {SettingId::initial_window_size, params_.initial_window_size},
        {SettingId::max_header_list_size, static_cast<std::uint32_t>(params_.max_header_list_size)},
    }));
    // SETTINGS cannot change the connection's window, only a WINDOW_UPDATE.
    if (params_.connection_window_size > kDefaultWindowSize) {
        send(window_update_frame(0, params_.connection_window_size - kDefaultWindowSize));
        receive_window_ = Window(params_.connection_window_size);
    }
    fire_and_forget(serve());
}

// --- reading: one coroutine ------------------------------------------------------------

Task<void> HTTP2Connection::serve() {
    // The coroutine holds the connection for as long as it reads.
    std::shared_ptr<HTTP2Connection> self = shared_from_this();
    try {
        std::string preface = co_await stream_.read_bytes(kConnectionPreface.size());
        if (preface != kConnectionPreface) {
            throw ConnectionError(ErrorCode::protocol_error, "not the HTTP/2 connection preface");
        }
        while (true) {
            FrameHeader header = parse_frame_header(co_await stream_.read_bytes(kFrameHeaderSize));
            // Before reading the payload: a length over our limit must not
            // make us buffer it. A fault that spoils only its stream (a
            // PRIORITY of the wrong size) is kept for handle_frame: the
            // payload is read past all the same, for the next frame starts
            // after it.
            std::optional<StreamError> broken;
            try {
                check_frame_header(header, kDefaultMaxFrameSize);
            } catch (const StreamError& error) {
                broken = error;
            }
            std::string payload;
            if (header.length > 0) payload = co_await stream_.read_bytes(header.length);
            try {
                handle_frame(header, payload, broken);
            } catch (const StreamError& error) {
                std::fprintf(stderr, "HTTP2Connection: %s stream %u: %s\n", remote_address_.c_str(),
                             header.stream_id, error.what());
                reset_stream(header.stream_id, error.code());
            }
        }
    } catch (const StreamClosedError&) {
        // The TCP connection is gone (the peer, close(), or our GOAWAY's end).
    } catch (const ConnectionError& error) {
        fail(error);
    } catch (const std::exception& error) {
        fail(ConnectionError(ErrorCode::internal_error, error.what()));
    }
    end_serving();
}

void HTTP2Connection::handle_frame(const FrameHeader& header, std::string_view payload,
                                   const std::optional<StreamError>& broken) {
    // A header block in pieces admits nothing in between (section 6.10):
    // the decoder's state depends on the whole block.
    if (header_block_ && (header.type != FrameType::continuation ||
                          header.stream_id != header_block_->stream_id)) {
        throw ConnectionError(ErrorCode::protocol_error,
                              frame_type_name(header.type) + " inside stream " +
                                  std::to_string(header_block_->stream_id) + "'s header block");
    }
    // The client's preface ends with its SETTINGS (section 3.4).
    if (!client_settings_seen_ && header.type != FrameType::settings) {
        throw ConnectionError(ErrorCode::protocol_error, "the first frame must be SETTINGS, not " +
                                                             frame_type_name(header.type));
    }
    // After the two rules above: even a broken frame breaks them.
    if (broken) throw *broken;
    switch (header.type) {
        case FrameType::data: return on_data(header, payload);
        case FrameType::headers: return on_headers(header, payload);
        case FrameType::priority: return on_priority(header, payload);
        case FrameType::rst_stream: return on_rst_stream(header, payload);
        case FrameType::settings: return on_settings(header, payload);
        case FrameType::push_promise:
            throw ConnectionError(ErrorCode::protocol_error, "a client cannot push");
        case FrameType::ping: return on_ping(header, payload);
        case FrameType::goaway: return on_goaway(payload);
        case FrameType::window_update: return on_window_update(header, payload);
        case FrameType::continuation: return on_continuation(header, payload);
    }
    // Any other type is an extension we do not know: ignored (section 5.5).
}

// --- the connection's own frames ------------------------------------------------------------

void HTTP2Connection::on_settings(const FrameHeader& header, std::string_view payload) {
    if (header.has(flags::kAck)) {
        // The client now applies our SETTINGS: from here on, each stream's
        // receive window is the one we announced, not the RFC's default.
        if (!settings_acknowledged_) {
            settings_acknowledged_ = true;
            std::int64_t change = std::int64_t{params_.initial_window_size} - kDefaultWindowSize;
            // Within 2^31-1: we announce no more (HTTP2ConnectionParameters).
            for (auto& [id, stream] : streams_) stream->change_receive_window(change);
        }
        return;
    }
    client_settings_seen_ = true;
    for (const Setting& setting : parse_settings(payload)) apply_setting(setting);
    send_reply(settings_ack_frame());
    send_soon();  // a window or the frame size may have grown
}

void HTTP2Connection::apply_setting(const Setting& setting) {
    switch (setting.id) {
        case SettingId::header_table_size: encoder_.set_max_table_size(setting.value); break;
        case SettingId::initial_window_size: change_initial_send_window(setting.value); break;
        case SettingId::max_frame_size: peer_max_frame_size_ = setting.value; break;
        // ENABLE_PUSH and MAX_CONCURRENT_STREAMS limit pushes, which we never
        // make; MAX_HEADER_LIST_SIZE is advice our small responses follow.
        default: break;
    }
}

void HTTP2Connection::on_ping(const FrameHeader& header, std::string_view payload) {
    if (!header.has(flags::kAck)) send_reply(ping_ack_frame(payload));
}

void HTTP2Connection::on_goaway(std::string_view payload) {
    // The client will open no more streams; those it opened are still
    // answered, and it closes the connection when it is done with them.
    auto code = static_cast<ErrorCode>(read_u32(payload, 4));
    if (code != ErrorCode::no_error) {
        std::fprintf(stderr, "HTTP2Connection: %s sent GOAWAY %s: %.*s\n", remote_address_.c_str(),
                     error_code_name(code).c_str(), static_cast<int>(payload.size() - 8),
                     payload.data() + 8);
    }
}

void HTTP2Connection::on_priority(const FrameHeader& header, std::string_view payload) {
    // RFC 9113 deprecates priorities: checked, then ignored. Their size
    // (5 bytes) was checked with the frame's header.
    if ((read_u32(payload, 0) & 0x7fffffff) == header.stream_id) {
        throw StreamError(ErrorCode::protocol_error, "a stream cannot depend on itself");
    }
}

// --- streams open and end: HEADERS, CONTINUATION, RST_STREAM -----------------------------------

void HTTP2Connection::on_headers(const FrameHeader& header, std::string_view payload) {
    std::string_view block = remove_padding(header, payload);
    if (header.has(flags::kPriority)) {  // 5 bytes of (ignored) priority first
        if (block.size() < 5)
            throw ConnectionError(ErrorCode::frame_size_error, "HEADERS too short");
        block.remove_prefix(5);
    }
    HeaderBlock whole{header.stream_id, header.has(flags::kEndStream), std::string(block), 1};
    if (header.has(flags::kEndHeaders)) return on_header_block(whole);
    header_block_ = std::move(whole);  // CONTINUATIONs follow
}

void HTTP2Connection::on_continuation(const FrameHeader& header, std::string_view payload) {
    if (!header_block_) {
        throw ConnectionError(ErrorCode::protocol_error,
                              "CONTINUATION without a HEADERS before it");
    }
    // The CONTINUATION flood: a block that never ends, in pieces large
    // or empty, would hold our memory or our CPU forever.
    HeaderBlock& block = *header_block_;
    block.bytes.append(payload);
    if (block.bytes.size() > params_.max_header_list_size ||
        ++block.frames > params_.max_continuation_frames) {
        throw ConnectionError(ErrorCode::enhance_your_calm,
                              "CONTINUATION flood: a header block of " +
                                  std::to_string(block.frames) + " frames, " +
                                  std::to_string(block.bytes.size()) + " bytes");
    }
    if (!header.has(flags::kEndHeaders)) return;
    HeaderBlock whole = std::move(block);
    header_block_.reset();  // before on_header_block, which may throw
    on_header_block(whole);
}

// A complete header block: a new request, or the trailers of one.
void HTTP2Connection::on_header_block(const HeaderBlock& block) {
    // Decoded first, whatever becomes of the stream: HPACK's table must see
    // every block, in order (hpack.h).
    DecodedHeaders decoded = decoder_.decode(block.bytes);
    std::uint32_t stream_id = block.stream_id;
    bool end_stream = block.end_stream;
    if (Stream stream = find_stream(stream_id)) {
        stream->on_frame(Direction::received, FrameType::headers, end_stream);
        return on_trailers(stream, decoded.fields);
    }
    if (stream_id % 2 == 0) {
        throw ConnectionError(ErrorCode::protocol_error,
                              "stream " + std::to_string(stream_id) + ": clients open odd ids");
    }
    if (stream_id <= last_stream_id_) {
        if (recently_reset(stream_id)) return;  // trailers sent before our reset arrived
        throw ConnectionError(ErrorCode::protocol_error,
                              "stream " + std::to_string(stream_id) + " after stream " +
                                  std::to_string(last_stream_id_) + ": ids must increase");
    }
    // Task 4: after our GOAWAY, streams beyond its last id are ignored.
    if (ignored_after_goaway(stream_id)) return;
    open_stream(stream_id, end_stream, std::move(decoded));
}

void HTTP2Connection::open_stream(std::uint32_t stream_id, bool end_stream,
                                  DecodedHeaders decoded) {
    // Opening a stream closes every idle one below it (section 5.1.1).
    last_stream_id_ = stream_id;
    if (streams_.size() >= params_.max_concurrent_streams) {
        throw StreamError(ErrorCode::refused_stream,
                          "over SETTINGS_MAX_CONCURRENT_STREAMS " +
                              std::to_string(params_.max_concurrent_streams));
    }
    std::int64_t receive_window =
        settings_acknowledged_ ? params_.initial_window_size : kDefaultWindowSize;
    auto stream = std::make_shared<HTTP2Stream>(stream_id, weak_from_this(), peer_initial_window_,
                                                receive_window);
    stream->on_frame(Direction::received, FrameType::headers, end_stream);
    streams_[stream_id] = stream;
    if (decoded.over_limit) {
        return stream->refuse(431, "the header list is over the limit of " +
                                             std::to_string(params_.max_header_list_size) +
                                             " bytes");
    }
    stream->start_request(make_request(decoded.fields, remote_address_), params_.max_body_size);
    if (end_stream) dispatch_request(stream);
}

void HTTP2Connection::on_trailers(const Stream& stream, const HeaderList& fields) {
    check_trailers(fields);
    dispatch_request(stream);
}

void HTTP2Connection::on_rst_stream(const FrameHeader& header, std::string_view) {
    Stream stream = find_stream(header.stream_id);
    if (!stream) return on_unknown_stream(header);  // idle: an error; closed: nothing to do
    count_reset_by_client();
    stream->on_frame(Direction::received, FrameType::rst_stream, false);
    forget_stream(header.stream_id);
}

// Rapid reset (CVE-2023-44487): opening a stream and resetting it at once
// costs the client two frames and us a request's work each time.
void HTTP2Connection::count_reset_by_client() {
    IOLoop::Clock::time_point now = IOLoop::time();
    if (now - reset_span_start_ > params_.rapid_reset_span) {
        reset_span_start_ = now;
        resets_in_span_ = 0;
    }
    if (++resets_in_span_ > params_.rapid_reset_limit) {
        throw ConnectionError(ErrorCode::enhance_your_calm,
                              "rapid reset: over " + std::to_string(params_.rapid_reset_limit) +
                                  " streams reset within " +
                                  std::to_string(params_.rapid_reset_span.count()) + " ms");
    }
}

// --- the application
// ------------------------------------------------------------------------------

void HTTP2Connection::dispatch_request(const Stream& stream) {
    std::shared_ptr<HTTPServerRequest> request = stream->take_request();
    if (!request) return;  // answered already (413, 431)
    try {
        callback_(std::move(request));
    } catch (const std::exception& error) {
        // As chapter 05 does: a 500 if nothing was sent yet, else a reset
        // (half a response cannot be saved). The other streams go on.
        std::fprintf(stderr, "HTTP2Connection: the request callback threw: %s\n", error.what());
        if (!stream->response_started()) {
            stream->refuse(500, "the application failed");
        } else {
            reset_stream(stream->id(), ErrorCode::internal_error);
        }
    }
}

// --- the streams' bookkeeping
// ----------------------------------------------------------------------

HTTP2Connection::Stream HTTP2Connection::find_stream(std::uint32_t stream_id) const {
    auto found = streams_.find(stream_id);
    return found == streams_.end() ? nullptr : found->second;
}

StreamState HTTP2Connection::state_of_unknown(std::uint32_t stream_id) const {
    // Above every id opened so far: never used, idle. At or below: the
    // stream was opened (or skipped, which closes it) and is over.
    return stream_id > last_stream_id_ ? StreamState::idle : StreamState::closed;
}

// DATA, RST_STREAM or WINDOW_UPDATE on a stream the connection does not
// hold. One the client sent before our RST_STREAM or our GOAWAY reached it
// is dropped; any other is judged as a frame on an idle or closed stream.
void HTTP2Connection::on_unknown_stream(const FrameHeader& header) {
    if (recently_reset(header.stream_id) || ignored_after_goaway(header.stream_id)) return;
    transition(state_of_unknown(header.stream_id), Direction::received, header.type,
               header.has(flags::kEndStream));
}

bool HTTP2Connection::recently_reset(std::uint32_t stream_id) const {
    return std::find(recently_reset_.begin(), recently_reset_.end(), stream_id) !=
           recently_reset_.end();
}

void HTTP2Connection::reset_stream(std::uint32_t stream_id, ErrorCode code) {
    send(rst_stream_frame(stream_id, code));
    recently_reset_.push_back(stream_id);
    if (recently_reset_.size() > kRecentlyResetKept) recently_reset_.pop_front();
    if (Stream stream = find_stream(stream_id)) {
        stream->on_frame(Direction::sent, FrameType::rst_stream, false);
        forget_stream(stream_id);
    }
}

// The stream is closed: the connection lets it go, and what it had not
// sent with it (HTTP2Stream::drop_output).
void HTTP2Connection::forget_stream(std::uint32_t stream_id) {
    auto found = streams_.find(stream_id);
    if (found == streams_.end()) return;
    found->second->drop_output();
    streams_.erase(found);
    close_if_drained();
}

// --- writing and ending
// -----------------------------------------------------------------------------

void HTTP2Connection::send(std::string bytes, IOStream::WriteCallback on_sent) {
    if (stream_.closed()) return;
    stream_.stream()->write(bytes, std::move(on_sent));
}

void HTTP2Connection::close() { stream_.close(); }

bool HTTP2Connection::closed() const { return life_ == Life::ended || stream_.closed(); }

void HTTP2Connection::set_close_callback(std::function<void()> callback) {
    close_callback_ = std::move(callback);
}

// An answer the client's frame obliges us to send (chapter 04's rule: a
// peer that does not read what it asks for must not grow our memory).
// Counted until the kernel has it.
void HTTP2Connection::send_reply(std::string frame) {
    if (unsent_replies_ >= params_.max_unsent_replies) {
        throw ConnectionError(ErrorCode::enhance_your_calm,
                              "over " + std::to_string(params_.max_unsent_replies) +
                                  " PING or SETTINGS answers the client has not read");
    }
    ++unsent_replies_;
    send(std::move(frame), [weak = weak_from_this()] {
        if (std::shared_ptr<HTTP2Connection> self = weak.lock()) --self->unsent_replies_;
    });
}

void HTTP2Connection::fail(const ConnectionError& error) {
    std::fprintf(stderr, "HTTP2Connection: %s: GOAWAY %s\n", remote_address_.c_str(), error.what());
    send(goaway_frame(last_stream_id_, error.code(), error.what()));
    goaway_last_stream_id_ = last_stream_id_;
    life_ = Life::closing;
    close_after_flush();
}

// Closes once what was written has gone to the kernel, or after a limit
// if the peer does not read it.
void HTTP2Connection::close_after_flush() {
    send("", [self = shared_from_this()] { self->close(); });
    stream_.stream()->io_loop().call_later(kCloseAfterFlushLimit, [weak = weak_from_this()] {
        if (std::shared_ptr<HTTP2Connection> self = weak.lock()) self->close();
    });
}

// The reading coroutine ends: no stream will be answered any more.
void HTTP2Connection::end_serving() {
    life_ = Life::ended;
    for (auto& [id, stream] : streams_) stream->connection_over();
    streams_.clear();
    if (std::function<void()> callback = std::move(close_callback_)) callback();
}

// --- Task 4: graceful GOAWAY ----------------------------------------------------------------

// GOAWAY NO_ERROR naming the last stream we took: the client knows those
// will be answered and that it must retry later ones elsewhere (section
// 6.8). The connection closes once the streams it took are done.
void HTTP2Connection::close_when_idle() {
    if (life_ != Life::serving || closed()) return;
    life_ = Life::going_away;
    goaway_last_stream_id_ = last_stream_id_;
    send(goaway_frame(goaway_last_stream_id_, ErrorCode::no_error, "the server is shutting down"));
    close_if_drained();
}

void HTTP2Connection::close_if_drained() {
    if (life_ != Life::going_away || !streams_.empty() || closed()) return;
    life_ = Life::closing;
    close_after_flush();
}

// The client may have opened streams before our GOAWAY reached it: it will
// retry them elsewhere, so their frames are dropped, neither answered nor
// judged as frames on idle streams (section 6.8). Their DATA still counts
// against the connection's window (on_data gives it back).
bool HTTP2Connection::ignored_after_goaway(std::uint32_t stream_id) const {
    return life_ != Life::serving && stream_id > goaway_last_stream_id_;
}

}  // namespace course
