// http2session.cpp: the server's side of HTTP/2's protocol (http2session.h).
// First reading (the preface, then each frame by its type), then the
// responses the user submits, then sending.
#include "http2session.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "http/field_bytes.h"

namespace tornado::detail {

namespace {

// The bounds that hold the published floods off (RFC 9113 section 10.5),
// at libnghttp2's values where it has one:
// ACKs of PING and SETTINGS queued and not yet sent: a client that sends
// faster than it reads them.
constexpr std::size_t kMaxQueuedAcks = 1000;
// Settings in one SETTINGS frame.
constexpr std::size_t kMaxSettingsPerFrame = 32;
// CONTINUATION frames a header block may have (CVE-2024-27316 and kin).
constexpr std::size_t kMaxContinuations = 8;
// Empty DATA frames without END_STREAM a stream may send in a row
// (CVE-2019-9518): they carry nothing and cost a frame's work each.
constexpr std::uint32_t kMaxEmptyDataInARow = 100;
// Streams the client may reset at once (CVE-2023-44487, rapid reset), and
// how many more it may reset each second after that.
constexpr double kResetBurst = 1000;
constexpr double kResetsPerSecond = 33;
// The streams we reset whose late frames we still recognise and ignore.
constexpr std::size_t kRememberedResets = 100;

// Section 8.3.1's pseudo-header fields of a request, a bit each.
constexpr std::uint8_t kMethod = 1, kScheme = 2, kAuthority = 4, kPath = 8;

std::uint8_t pseudo_field_bit(std::string_view name) {
    if (name == ":method") return kMethod;
    if (name == ":scheme") return kScheme;
    if (name == ":authority") return kAuthority;
    if (name == ":path") return kPath;
    return 0;
}

// What a byte may be in a field's name (section 8.2.1): RFC 9110's token
// characters, lower case only (an upper-case name is malformed over
// HTTP/2). A table, since every byte of every name is checked.
struct NameCharacters {
    bool allowed[256] = {};
    constexpr NameCharacters() {
        for (char c = 'a'; c <= 'z'; ++c) allowed[static_cast<unsigned char>(c)] = true;
        for (char c = '0'; c <= '9'; ++c) allowed[static_cast<unsigned char>(c)] = true;
        for (char c : std::string_view("!#$%&'*+-.^_`|~")) {
            allowed[static_cast<unsigned char>(c)] = true;
        }
    }
};
constexpr NameCharacters kNameCharacters;

bool valid_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!kNameCharacters.allowed[static_cast<unsigned char>(c)]) return false;
    }
    return true;
}

// No control character (NUL, CR and LF among them) but HTAB, no DEL (RFC
// 9110 section 5.5's HTAB, SP, VCHAR and obs-text), and no white space at
// either end. The bytes are those HTTP/1.1's head parser lets through,
// found eight at a time as it does.
bool valid_value(std::string_view value) {
    const char* end = value.data() + value.size();
    if (skip_value_bytes(value.data(), end) != end) return false;
    auto space = [](char c) { return c == ' ' || c == '\t'; };
    return value.empty() || (!space(value.front()) && !space(value.back()));
}

// The fields HTTP/1 uses for a connection's framing (section 8.2.2).
bool connection_specific(std::string_view name) {
    return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
           name == "transfer-encoding" || name == "upgrade";
}

std::string on_stream(std::string_view what, std::uint32_t id) {
    return std::string(what) + " on stream " + std::to_string(id);
}

}  // namespace

HTTP2Session::HTTP2Session(Listener& listener, Limits limits)
    : listener_(listener),
      limits_(limits),
      reset_tokens_(kResetBurst),
      reset_tokens_at_(std::chrono::steady_clock::now()) {
    HTTP2Setting settings[] = {
        {HTTP2SettingId::max_concurrent_streams, limits_.max_concurrent_streams},
        {HTTP2SettingId::initial_window_size, limits_.stream_window},
        {HTTP2SettingId::max_header_list_size, limits_.max_header_list_size},
    };
    append_settings_frame(control_, settings);
    if (limits_.connection_window > 65535) {
        append_window_update(control_, 0, limits_.connection_window - 65535);
        connection_receive_window_ = limits_.connection_window;
    }
}

bool HTTP2Session::upgrade(std::string_view settings_payload) {
    if (settings_payload.size() % 6 != 0) return false;
    HTTP2Frame frame{
        {static_cast<std::uint32_t>(settings_payload.size()), HTTP2FrameType::settings, 0, 0},
        settings_payload};
    try {
        std::vector<HTTP2Setting> settings = http2_settings(frame);
        apply_peer_settings(settings);
    } catch (const HTTP2ConnectionError&) {
        return false;
    }
    Stream& stream = streams_[1];
    enter(stream, StreamState::half_closed_remote);  // the HTTP/1.1 request was all of it
    stream.send_window = peer_initial_window_;
    last_stream_id_ = 1;
    return true;
}

// --- reading --------------------------------------------------------------------------------

void HTTP2Session::receive(std::string_view bytes) {
    if (phase_ == Phase::preface && life_ != Life::failed) {
        std::size_t take = std::min(kHTTP2Preface.size() - preface_seen_.size(), bytes.size());
        preface_seen_.append(bytes.substr(0, take));
        bytes.remove_prefix(take);
        if (preface_seen_ != kHTTP2Preface.substr(0, preface_seen_.size())) {
            fail(HTTP2ErrorCode::protocol_error, "not HTTP/2's connection preface");
        } else if (preface_seen_.size() == kHTTP2Preface.size()) {
            phase_ = Phase::first_settings;
        }
    }
    while (life_ != Life::failed) {
        try {
            std::optional<HTTP2Frame> frame = reader_.next(bytes);
            if (!frame) return;
            on_frame(*frame);
        } catch (const HTTP2StreamError& error) {
            // Inside a header block only its CONTINUATIONs may come.
            if (block_stream_ != 0) {
                fail(HTTP2ErrorCode::protocol_error, error.what());
            } else {
                reset_stream(error.stream_id(), error.code());
            }
        } catch (const HTTP2ConnectionError& error) {
            fail(error.code(), error.what());
        } catch (const HPACKError& error) {
            fail(HTTP2ErrorCode::compression_error, error.what());
        }
    }
}

HTTP2Session::Stream* HTTP2Session::find(std::uint32_t id) {
    auto found = streams_.find(id);
    return found == streams_.end() ? nullptr : &found->second;
}

void HTTP2Session::on_frame(const HTTP2Frame& frame) {
    const HTTP2FrameHeader& header = frame.header;
    if (phase_ == Phase::first_settings) {
        if (header.type != HTTP2FrameType::settings || header.has(http2_flags::kAck)) {
            throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                       "the client's first frame is " +
                                           http2_frame_type_name(header.type) + ", not SETTINGS");
        }
        phase_ = Phase::frames;
    }
    if (block_stream_ != 0 &&
        (header.type != HTTP2FrameType::continuation || header.stream_id != block_stream_)) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                   on_stream(http2_frame_type_name(header.type), header.stream_id) +
                                       " inside the header block of stream " +
                                       std::to_string(block_stream_));
    }
    switch (header.type) {
        case HTTP2FrameType::data: on_data(frame); break;
        case HTTP2FrameType::headers: on_headers(frame); break;
        case HTTP2FrameType::rst_stream: on_rst_stream(frame); break;
        case HTTP2FrameType::settings: on_settings(frame); break;
        case HTTP2FrameType::push_promise:
            throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                       "PUSH_PROMISE from a client");
        case HTTP2FrameType::ping:
            if (!header.has(http2_flags::kAck)) {
                if (++acks_queued_ > kMaxQueuedAcks) {
                    throw HTTP2ConnectionError(
                        HTTP2ErrorCode::enhance_your_calm,
                        "PINGs and SETTINGS faster than their ACKs are read");
                }
                append_ping_ack(control_, frame.payload);
            }
            break;
        // GOAWAY: the client opens no more streams, and those open go on;
        // nothing for a server to do, since it opens none.
        case HTTP2FrameType::goaway: break;
        case HTTP2FrameType::window_update: on_window_update(frame); break;
        case HTTP2FrameType::continuation:
            if (block_stream_ == 0) {
                throw HTTP2ConnectionError(
                    HTTP2ErrorCode::protocol_error,
                    on_stream("CONTINUATION without a HEADERS", header.stream_id));
            }
            if (++block_continuations_ > kMaxContinuations) {
                throw HTTP2ConnectionError(HTTP2ErrorCode::enhance_your_calm,
                                           "more than " + std::to_string(kMaxContinuations) +
                                               " CONTINUATION frames in a header block");
            }
            block_.append(frame.payload);
            if (header.has(http2_flags::kEndHeaders)) decode_block(block_);
            break;
        default: break;  // PRIORITY (deprecated) and types we do not know
    }
}

// A HEADERS opens a stream, or carries a stream's trailers. Its block is
// decoded in every case, even for a stream refused or ignored: HPACK's
// table is the connection's, and the next block may point into this one.
void HTTP2Session::on_headers(const HTTP2Frame& frame) {
    std::uint32_t id = frame.header.stream_id;
    if (id % 2 == 0) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                   on_stream("HEADERS", id) + ": a client's streams are odd");
    }
    block_ignored_ = false;
    block_is_trailers_ = false;
    block_error_ = HTTP2ErrorCode::no_error;
    if (Stream* stream = find(id)) {
        block_is_trailers_ = true;
        if (stream->state == StreamState::half_closed_remote ||
            stream->state == StreamState::closed) {
            block_error_ = HTTP2ErrorCode::stream_closed;  // after END_STREAM
        } else if (!frame.header.has(http2_flags::kEndStream)) {
            block_error_ = HTTP2ErrorCode::protocol_error;  // trailers end the stream
        }
    } else if (id <= last_stream_id_) {
        if (!frames_ignored_on(id)) {
            throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                       on_stream("HEADERS", id) + ", not above " +
                                           std::to_string(last_stream_id_) +
                                           ", the last stream the client opened");
        }
        block_ignored_ = true;
    } else {
        last_stream_id_ = id;
        if (life_ != Life::serving) {
            block_ignored_ = true;
        } else if (streams_.size() - closing_.size() >= limits_.max_concurrent_streams) {
            // (Streams closed and not yet reported do not count.)
            block_ignored_ = true;
            append_rst_stream(control_, id, HTTP2ErrorCode::refused_stream);
            reset_ids_.push_back(id);
            if (reset_ids_.size() > kRememberedResets) reset_ids_.pop_front();
        } else {
            Stream& opened = streams_[id];
            opened.send_window = peer_initial_window_;
            opened.receive_window = our_initial_window_;
            listener_.on_stream_open(id);
        }
    }
    block_stream_ = id;
    block_ends_stream_ = frame.header.has(http2_flags::kEndStream);
    block_continuations_ = 0;
    if (frame.header.has(http2_flags::kEndHeaders)) {
        decode_block(frame.payload);  // the common case: one frame, not copied
    } else {
        block_.assign(frame.payload);
    }
}

// A header block is whole: its fields go to the Listener, up to twice the
// header list's limit (past the limit itself the user answers 431). More
// is an HPACK bomb: a small block of references to a large field in the
// table. The rest is decoded unread and the stream reset.
void HTTP2Session::decode_block(std::string_view block) {
    std::uint32_t id = block_stream_;
    block_stream_ = 0;
    Stream* stream = block_ignored_ ? nullptr : find(id);
    bool handed_over = stream != nullptr && block_error_ == HTTP2ErrorCode::no_error;
    std::size_t list_size = 0;
    std::size_t bound = 2 * std::size_t{limits_.max_header_list_size};
    bool bomb = false;
    const char* malformed = nullptr;
    decoder_.decode(block, [&](std::string_view name, std::string_view value) {
        if (!handed_over || bomb || malformed != nullptr) return;
        list_size += name.size() + value.size() + HPACKTable::kEntryOverhead;
        if (list_size > bound) {
            bomb = true;
        } else if ((malformed = field_problem(*stream, name, value)) == nullptr) {
            listener_.on_field(id, name, value);
        }
    });
    block_.clear();
    if (stream == nullptr) return;
    if (handed_over && !bomb && malformed == nullptr) {
        malformed = block_is_trailers_ ? nullptr : request_problem(*stream);
        // The stream ends here (no body, or trailers after it): the body
        // must have been as long as its content-length said.
        bool short_body =
            stream->content_length >= 0 &&
            stream->body_received != static_cast<std::uint64_t>(stream->content_length);
        if (block_ends_stream_ && malformed == nullptr && short_body) {
            malformed = "a body of another size than its content-length";
        }
    }
    if (block_error_ != HTTP2ErrorCode::no_error) {
        reset_stream(id, block_error_);
    } else if (bomb) {
        reset_stream(id, HTTP2ErrorCode::enhance_your_calm);
    } else if (malformed != nullptr) {
        last_malformed_ = malformed;
        reset_stream(id, HTTP2ErrorCode::protocol_error);
    } else {
        if (!block_is_trailers_) listener_.on_request(id);
        if (block_ends_stream_ && stream->state != StreamState::closed) end_remote(id, *stream);
    }
}

// Section 8's rules for one field of a request's header block or of its
// trailers (8.1: trailers carry no pseudo-header field): the problem, or
// null.
const char* HTTP2Session::field_problem(Stream& stream, std::string_view name,
                                        std::string_view value) {
    if (!valid_value(value))
        return "a field value with a control character, or white space at an end";
    if (!name.empty() && name[0] == ':') {
        if (block_is_trailers_) return "a pseudo-header field in trailers";
        if (stream.regular_field_seen) return "a pseudo-header field after a regular one";
        std::uint8_t bit = pseudo_field_bit(name);
        if (bit == 0) return "a pseudo-header field a request does not have";
        if ((stream.pseudo_fields & bit) != 0) return "a pseudo-header field twice";
        stream.pseudo_fields |= bit;
        if (bit == kPath && value.empty()) return "an empty :path";
        if (bit == kMethod && value == "CONNECT") stream.connect = true;
        return nullptr;
    }
    stream.regular_field_seen = true;
    if (!valid_name(name)) return "a field name with a character HTTP/2 does not allow";
    if (connection_specific(name)) return "a connection-specific field";
    if (name == "te" && value != "trailers") return "te other than trailers";
    if (name == "content-length" && !block_is_trailers_) {
        std::int64_t length = 0;
        if (value.empty() || value.size() > 18) return "a content-length that is not a number";
        for (char c : value) {
            if (c < '0' || c > '9') return "a content-length that is not a number";
            length = length * 10 + (c - '0');
        }
        if (stream.content_length >= 0 && stream.content_length != length) {
            return "two content-lengths";
        }
        stream.content_length = length;
    }
    return nullptr;
}

// Section 8.3.1: what a request's pseudo-header fields must be, once its
// block is whole. CONNECT has :authority alone (8.5).
const char* HTTP2Session::request_problem(const Stream& stream) const {
    if (stream.connect) {
        bool authority_alone = stream.pseudo_fields == (kMethod | kAuthority);
        return authority_alone ? nullptr : "a CONNECT with :scheme or :path, or without :authority";
    }
    if ((stream.pseudo_fields & (kMethod | kScheme | kPath)) != (kMethod | kScheme | kPath)) {
        return "a request without :method, :scheme and :path";
    }
    return nullptr;
}

void HTTP2Session::on_data(const HTTP2Frame& frame) {
    std::uint32_t id = frame.header.stream_id;
    std::size_t length = frame.header.length;  // padding counts too
    if (static_cast<std::int64_t>(length) > connection_receive_window_) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::flow_control_error,
                                   on_stream("DATA", id) + " past the connection's window");
    }
    connection_receive_window_ -= static_cast<std::int64_t>(length);
    Stream* stream = find(id);
    if (stream == nullptr) {
        if (id > last_stream_id_) {
            throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                       on_stream("DATA", id) + ", which was never opened");
        }
        give_back_connection(length);
        if (frames_ignored_on(id)) return;
        throw HTTP2StreamError(id, HTTP2ErrorCode::stream_closed, "DATA on a closed stream");
    }
    if (stream->state == StreamState::half_closed_remote || stream->state == StreamState::closed) {
        give_back_connection(length);
        if (stream->state == StreamState::closed) return;  // reset: ignored
        throw HTTP2StreamError(id, HTTP2ErrorCode::stream_closed, "DATA after END_STREAM");
    }
    if (static_cast<std::int64_t>(length) > stream->receive_window) {
        give_back_connection(length);
        throw HTTP2StreamError(id, HTTP2ErrorCode::flow_control_error,
                               "DATA past the stream's window");
    }
    stream->receive_window -= static_cast<std::int64_t>(length);
    bool ends = frame.header.has(http2_flags::kEndStream);
    if (frame.payload.empty() && !ends) {
        if (++stream->empty_data_in_a_row > kMaxEmptyDataInARow) {
            throw HTTP2ConnectionError(HTTP2ErrorCode::enhance_your_calm,
                                       "more than " + std::to_string(kMaxEmptyDataInARow) +
                                           " empty DATA frames in a row on stream " +
                                           std::to_string(id));
        }
    } else {
        stream->empty_data_in_a_row = 0;
    }
    // The padding is nobody's to take: given back at once.
    consume(id, length - frame.payload.size());
    stream->body_received += frame.payload.size();
    std::int64_t declared = stream->content_length;
    if (declared >= 0 &&
        (stream->body_received > static_cast<std::uint64_t>(declared) ||
         (ends && stream->body_received != static_cast<std::uint64_t>(declared)))) {
        consume(id, frame.payload.size());
        last_malformed_ = "a body of another size than its content-length";
        throw HTTP2StreamError(id, HTTP2ErrorCode::protocol_error, last_malformed_);
    }
    if (!frame.payload.empty()) listener_.on_data(id, frame.payload);
    if (ends) end_remote(id, *stream);
}

void HTTP2Session::on_settings(const HTTP2Frame& frame) {
    if (frame.header.has(http2_flags::kAck)) {
        // Our SETTINGS hold from now: each stream's window grows (or
        // shrinks) by what ours differs from the protocol's first 65,535.
        if (our_settings_acked_) return;
        our_settings_acked_ = true;
        std::int64_t change = std::int64_t{limits_.stream_window} - our_initial_window_;
        our_initial_window_ = limits_.stream_window;
        for (auto& [id, stream] : streams_) stream.receive_window += change;
        return;
    }
    if (frame.header.length / 6 > kMaxSettingsPerFrame) {
        throw HTTP2ConnectionError(
            HTTP2ErrorCode::enhance_your_calm,
            std::to_string(frame.header.length / 6) + " settings in one SETTINGS frame");
    }
    if (++acks_queued_ > kMaxQueuedAcks) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::enhance_your_calm,
                                   "PINGs and SETTINGS faster than their ACKs are read");
    }
    std::vector<HTTP2Setting> settings = http2_settings(frame);
    apply_peer_settings(settings);
    append_settings_ack(control_);
}

void HTTP2Session::apply_peer_settings(std::span<const HTTP2Setting> settings) {
    for (const HTTP2Setting& setting : settings) {
        switch (setting.id) {
            case HTTP2SettingId::header_table_size:
                encoder_.set_max_table_size(setting.value);
                break;
            case HTTP2SettingId::initial_window_size: {
                // Every stream's window moves by the difference (section 6.9.2).
                std::int64_t change = std::int64_t{setting.value} - peer_initial_window_;
                peer_initial_window_ = setting.value;
                for (auto& [id, stream] : streams_) {
                    stream.send_window += change;
                    if (stream.send_window > kHTTP2MaxWindowSize) {
                        throw HTTP2ConnectionError(HTTP2ErrorCode::flow_control_error,
                                                   on_stream("a window past 2^31-1", id));
                    }
                    if (change > 0) schedule(id, stream);
                }
                break;
            }
            case HTTP2SettingId::max_frame_size: peer_max_frame_size_ = setting.value; break;
            default: break;  // nothing for a server to do with the others
        }
    }
}

void HTTP2Session::on_window_update(const HTTP2Frame& frame) {
    std::uint32_t id = frame.header.stream_id;
    std::uint32_t increment = http2_window_increment(frame);
    if (id == 0) {
        connection_send_window_ += increment;
        if (connection_send_window_ > kHTTP2MaxWindowSize) {
            throw HTTP2ConnectionError(HTTP2ErrorCode::flow_control_error,
                                       "the connection's window past 2^31-1");
        }
        return;
    }
    if (id > last_stream_id_) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                   on_stream("WINDOW_UPDATE", id) + ", which was never opened");
    }
    Stream* stream = find(id);
    if (stream == nullptr) return;  // closed: it may cross our last frame
    stream->send_window += increment;
    if (stream->send_window > kHTTP2MaxWindowSize) {
        throw HTTP2StreamError(id, HTTP2ErrorCode::flow_control_error, "a window past 2^31-1");
    }
    schedule(id, *stream);
}

void HTTP2Session::on_rst_stream(const HTTP2Frame& frame) {
    std::uint32_t id = frame.header.stream_id;
    if (id > last_stream_id_) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                   on_stream("RST_STREAM", id) + ", which was never opened");
    }
    Stream* stream = find(id);
    if (stream == nullptr || stream->state == StreamState::closed) return;
    // Rapid reset: a token for each reset, kResetBurst at most, refilled
    // at kResetsPerSecond.
    auto now = std::chrono::steady_clock::now();
    std::chrono::duration<double> since = now - reset_tokens_at_;
    reset_tokens_ = std::min(kResetBurst, reset_tokens_ + since.count() * kResetsPerSecond);
    reset_tokens_at_ = now;
    if (reset_tokens_ < 1) {
        throw HTTP2ConnectionError(HTTP2ErrorCode::enhance_your_calm,
                                   "streams reset faster than " +
                                       std::to_string(static_cast<int>(kResetsPerSecond)) +
                                       " a second");
    }
    reset_tokens_ -= 1;
    close(id, *stream, http2_rst_stream_code(frame));
}

namespace {

// What each enter() below does: moves `state` to `to` where its drawing
// (in http2session.h) shows the move (`drawn`), else throws
// std::logic_error naming the machine and both states.
template <typename State, std::size_t N>
void move_state(State& state, State to, bool drawn, std::string_view machine,
                const std::string_view (&names)[N]) {
    if (!drawn) {
        throw std::logic_error("HTTP/2 session: " + std::string(machine) + " cannot go from " +
                               std::string(names[static_cast<std::size_t>(state)]) + " to " +
                               std::string(names[static_cast<std::size_t>(to)]));
    }
    state = to;
}

}  // namespace

void HTTP2Session::enter(Stream& stream, StreamState to) {
    constexpr std::string_view kNames[] = {"open", "half_closed_remote", "half_closed_local",
                                           "closed"};
    StreamState from = stream.state;
    bool drawn = to == StreamState::closed ? from != StreamState::closed
                                           : from == StreamState::open && to != StreamState::open;
    move_state(stream.state, to, drawn, "a stream", kNames);
}

void HTTP2Session::enter(Life to) {
    constexpr std::string_view kNames[] = {"serving", "going_away", "failed"};
    bool drawn = (life_ == Life::serving && to != Life::serving) ||
                 (life_ == Life::going_away && to == Life::failed);
    move_state(life_, to, drawn, "its life", kNames);
}

void HTTP2Session::enter(Stream& stream, Output to) {
    constexpr std::string_view kNames[] = {"none", "body", "ended"};
    Output from = stream.output;
    bool drawn = (from == Output::none && to != Output::none) ||
                 (from == Output::body && to == Output::ended);
    move_state(stream.output, to, drawn, "a response", kNames);
}

// The stream is over: it is reported (and forgotten) by the next send(),
// once the frame that closed it, if ours, is in a batch.
void HTTP2Session::close(std::uint32_t id, Stream& stream, HTTP2ErrorCode code) {
    enter(stream, StreamState::closed);
    closing_.emplace_back(id, code);
}

// The request side is over: END_STREAM came.
void HTTP2Session::end_remote(std::uint32_t id, Stream& stream) {
    listener_.on_request_end(id);
    if (stream.state == StreamState::half_closed_local) {
        close(id, stream, HTTP2ErrorCode::no_error);
    } else {
        enter(stream, StreamState::half_closed_remote);
    }
}

// The response side is over: END_STREAM went into a batch (or is queued
// with the response's HEADERS, ahead of anything sent after).
void HTTP2Session::end_local(std::uint32_t id, Stream& stream) {
    enter(stream, Output::ended);
    if (stream.state == StreamState::half_closed_remote) {
        close(id, stream, HTTP2ErrorCode::no_error);
    } else {
        enter(stream, StreamState::half_closed_local);
    }
}

// Frames on a stream we reset may come until the client has read our
// RST_STREAM (section 5.1), and after our GOAWAY, those of streams it did
// not take (section 6.8): both are ignored, not errors.
bool HTTP2Session::frames_ignored_on(std::uint32_t id) const {
    if (life_ != Life::serving && id > goaway_last_id_) return true;
    return std::find(reset_ids_.begin(), reset_ids_.end(), id) != reset_ids_.end();
}

// --- the responses --------------------------------------------------------------------------

void HTTP2Session::submit_response(std::uint32_t id, std::span<const HPACKField> fields,
                                   bool with_body) {
    Stream* stream = find(id);
    if (stream == nullptr || stream->state == StreamState::closed) return;
    if (stream->output != Output::none) {
        throw std::logic_error("HTTP/2: a second response on " + on_stream("", id));
    }
    scratch_.clear();
    encoder_.encode(fields, scratch_);
    append_header_block(control_, id, scratch_, !with_body, peer_max_frame_size_);
    if (with_body) {
        enter(*stream, Output::body);
        schedule(id, *stream);
    } else {
        end_local(id, *stream);
    }
}

void HTTP2Session::resume_body(std::uint32_t id) {
    Stream* stream = find(id);
    if (stream == nullptr || !stream->waiting_for_body) return;
    stream->waiting_for_body = false;
    schedule(id, *stream);
}

void HTTP2Session::submit_trailers(std::uint32_t id,
                                   std::vector<std::pair<std::string, std::string>> fields) {
    if (Stream* stream = find(id)) stream->trailers = std::move(fields);
}

// WINDOW_UPDATE once half a window was taken, as libnghttp2 does: fewer
// frames than one per piece, and the client never waits on a window
// more than half full.
void HTTP2Session::consume(std::uint32_t id, std::size_t size) {
    if (size == 0) return;
    give_back_connection(size);
    Stream* stream = find(id);
    if (stream == nullptr ||
        (stream->state != StreamState::open && stream->state != StreamState::half_closed_local)) {
        return;  // the client sends no more on it
    }
    stream->unconsumed += size;
    if (stream->unconsumed >= our_initial_window_ / 2) {
        append_window_update(control_, id, static_cast<std::uint32_t>(stream->unconsumed));
        stream->receive_window += static_cast<std::int64_t>(stream->unconsumed);
        stream->unconsumed = 0;
    }
}

void HTTP2Session::give_back_connection(std::size_t size) {
    connection_unconsumed_ += size;
    std::uint32_t window = std::max<std::uint32_t>(limits_.connection_window, 65535);
    if (connection_unconsumed_ >= window / 2) {
        append_window_update(control_, 0, static_cast<std::uint32_t>(connection_unconsumed_));
        connection_receive_window_ += static_cast<std::int64_t>(connection_unconsumed_);
        connection_unconsumed_ = 0;
    }
}

void HTTP2Session::reset_stream(std::uint32_t id, HTTP2ErrorCode code) {
    Stream* stream = find(id);
    if (stream != nullptr && stream->state == StreamState::closed) return;
    append_rst_stream(control_, id, code);
    reset_ids_.push_back(id);
    if (reset_ids_.size() > kRememberedResets) reset_ids_.pop_front();
    if (stream != nullptr) close(id, *stream, code);
}

void HTTP2Session::submit_goaway(HTTP2ErrorCode code, std::string_view debug) {
    bool graceful = code == HTTP2ErrorCode::no_error;
    if (life_ == Life::failed || (life_ == Life::going_away && graceful)) return;
    append_goaway(control_, last_stream_id_, code, debug);
    goaway_last_id_ = last_stream_id_;
    enter(graceful ? Life::going_away : Life::failed);
}

void HTTP2Session::fail(HTTP2ErrorCode code, const std::string& message) {
    if (life_ == Life::failed) return;
    error_ = code;
    error_message_ = message;
    submit_goaway(code, message);
}

// --- sending --------------------------------------------------------------------------------

bool HTTP2Session::want_write() const noexcept {
    return !control_.empty() || !closing_.empty() ||
           (life_ != Life::failed && !sending_.empty() && connection_send_window_ > 0);
}

bool HTTP2Session::finished() const noexcept {
    if (!control_.empty()) return false;
    return life_ == Life::failed || (life_ == Life::going_away && streams_.empty());
}

void HTTP2Session::schedule(std::uint32_t id, Stream& stream) {
    if (stream.output != Output::body || stream.in_turn || stream.waiting_for_body ||
        stream.state == StreamState::closed || stream.send_window <= 0) {
        return;
    }
    stream.in_turn = true;
    sending_.push_back(id);
}

void HTTP2Session::send(HTTP2FrameBatch& batch, std::size_t limit) {
    if (!control_.empty()) {
        batch.append(control_);
        control_.clear();
        acks_queued_ = 0;
    }
    report_closes();
    if (life_ == Life::failed) return;
    send_data(batch, limit);
    report_closes();
}

// A frame at a time from each stream in turn, so that one large answer
// does not hold the others back.
void HTTP2Session::send_data(HTTP2FrameBatch& batch, std::size_t limit) {
    while (!sending_.empty() && batch.size() < limit && connection_send_window_ > 0) {
        std::uint32_t id = sending_.front();
        sending_.pop_front();
        Stream* stream = find(id);
        if (stream == nullptr) continue;
        stream->in_turn = false;
        if (stream->output != Output::body || stream->state == StreamState::closed ||
            stream->send_window <= 0) {
            continue;  // a WINDOW_UPDATE schedules it again
        }
        // 16 KiB a DATA frame, whatever larger frames the peer allows: a
        // frame then always fits the room left in a batch (the caller's
        // limit plus a frame), and turns between streams stay short.
        std::size_t most = std::min<std::int64_t>({std::int64_t{kHTTP2DefaultMaxFrameSize},
                                                   stream->send_window, connection_send_window_});
        Listener::Body body = listener_.body_ready(id, most);
        if (body.ready == 0 && !body.last) {
            stream->waiting_for_body = true;
            continue;
        }
        body.ready = std::min(body.ready, most);
        bool ends_here = body.last && stream->trailers.empty();
        if (body.ready > 0 || ends_here) {
            scratch_.clear();
            append_http2_frame_header(scratch_, static_cast<std::uint32_t>(body.ready),
                                      HTTP2FrameType::data, ends_here ? http2_flags::kEndStream : 0,
                                      id);
            batch.append(scratch_);
            if (body.ready > 0) listener_.take_body(id, batch, body.ready);
            stream->send_window -= static_cast<std::int64_t>(body.ready);
            connection_send_window_ -= static_cast<std::int64_t>(body.ready);
        }
        if (body.last) {
            if (!stream->trailers.empty()) {
                std::vector<HPACKField> fields;
                for (const auto& [name, value] : stream->trailers) fields.push_back({name, value});
                scratch_.clear();
                encoder_.encode(fields, scratch_);
                std::string frames;
                append_header_block(frames, id, scratch_, true, peer_max_frame_size_);
                batch.append(frames);
            }
            end_local(id, *stream);
        } else {
            schedule(id, *stream);
        }
    }
}

// The streams that closed are forgotten, and the Listener hears of each.
void HTTP2Session::report_closes() {
    while (!closing_.empty()) {
        std::vector<std::pair<std::uint32_t, HTTP2ErrorCode>> closed;
        closed.swap(closing_);
        for (auto [id, code] : closed) {
            if (streams_.erase(id) == 0) continue;
            listener_.on_stream_close(id, code);
        }
    }
}

}  // namespace tornado::detail
