// stream.cpp: the state machine (task 2), then HTTP2Stream as chapter 05's
// HTTPConnection: each call records what the application wants sent, and
// asks the connection to send it when the windows allow.
#include "stream.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "http2connection.h"

namespace course {

namespace http2 {

const char* state_name(StreamState state) {
    switch (state) {
        case StreamState::idle: return "idle";
        case StreamState::open: return "open";
        case StreamState::half_closed_remote: return "half-closed (remote)";
        case StreamState::half_closed_local: return "half-closed (local)";
        case StreamState::closed: return "closed";
    }
    return "?";
}

namespace {

bool carries_end_stream(FrameType type) {
    return type == FrameType::data || type == FrameType::headers;
}

// A frame that is about the stream's content: what a closed or
// half-closed (remote) stream must not receive any more.
bool is_content(FrameType type) {
    return type == FrameType::data || type == FrameType::headers || type == FrameType::continuation;
}

std::string frame_in(FrameType type, StreamState state) {
    return frame_type_name(type) + " on a stream in state " + state_name(state);
}

}  // namespace

// --- Task 2: the stream state machine -------------------------------------------------

// transition()'s two halves, one per direction. (Not in an unnamed
// namespace: exercise 10's task-order checks build this file with
// transition() still cut, where an unused internal function would warn.)
StreamState after_received(StreamState state, FrameType type, bool end_stream) {
    bool ends = end_stream && carries_end_stream(type);
    if (type == FrameType::rst_stream && state != StreamState::idle) return StreamState::closed;
    switch (state) {
        case StreamState::idle:
            if (type == FrameType::headers) {
                return ends ? StreamState::half_closed_remote : StreamState::open;
            }
            if (type == FrameType::priority) return StreamState::idle;
            throw ConnectionError(ErrorCode::protocol_error, frame_in(type, state));
        case StreamState::open:
            // After the head, the only HEADERS is the trailers, which end it.
            if (type == FrameType::headers && !end_stream) {
                throw StreamError(ErrorCode::protocol_error,
                                  "HEADERS after the head without END_STREAM");
            }
            return ends ? StreamState::half_closed_remote : StreamState::open;
        case StreamState::half_closed_remote:
            if (is_content(type))
                throw StreamError(ErrorCode::stream_closed, frame_in(type, state));
            return state;
        case StreamState::half_closed_local: return ends ? StreamState::closed : state;
        case StreamState::closed:
            if (is_content(type))
                throw ConnectionError(ErrorCode::stream_closed, frame_in(type, state));
            return state;
    }
    return state;
}

StreamState after_sent(StreamState state, FrameType type, bool end_stream) {
    bool ends = end_stream && carries_end_stream(type);
    if (type == FrameType::rst_stream) return StreamState::closed;
    switch (state) {
        case StreamState::open: return ends ? StreamState::half_closed_local : state;
        case StreamState::half_closed_remote: return ends ? StreamState::closed : state;
        default:
            // idle (we never push), half-closed (local) and closed: our side
            // of the stream is over, so sending on it is our own bug.
            if (type == FrameType::window_update || type == FrameType::priority) return state;
            throw std::logic_error("sending " + frame_in(type, state));
    }
}

StreamState transition(StreamState state, Direction direction, FrameType type, bool end_stream) {
    if (direction == Direction::received) return after_received(state, type, end_stream);
    return after_sent(state, type, end_stream);
}

}  // namespace http2

// --- HTTP2Stream: chapter 05's HTTPConnection for one stream --------------------------

namespace {

constexpr std::string_view kServerName = "TornadoCourse/10";

std::string lower_case(std::string_view text) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
}

// Fields about one HTTP/1.1 connection, which HTTP/2 forbids (RFC 9113
// section 8.2.2): a response carrying one is malformed.
bool is_connection_specific(std::string_view lower_name) {
    for (std::string_view name :
         {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
        if (lower_name == name) return true;
    }
    return false;
}

}  // namespace

HTTP2Stream::HTTP2Stream(std::uint32_t id, std::weak_ptr<HTTP2Connection> connection,
                         std::int64_t send_window, std::int64_t receive_window)
    : id_(id),
      connection_(std::move(connection)),
      send_window_(send_window),
      receive_window_(receive_window) {}

void HTTP2Stream::on_frame(http2::Direction direction, http2::FrameType type, bool end_stream) {
    state_ = http2::transition(state_, direction, type, end_stream);
}

std::shared_ptr<HTTP2Connection> HTTP2Stream::live_connection() const {
    std::shared_ptr<HTTP2Connection> connection = connection_.lock();
    if (!connection || connection->closed()) return nullptr;
    return connection;
}

bool HTTP2Stream::closed() const {
    return done_sending() || !live_connection();
}

void HTTP2Stream::write_headers(int status, HTTPHeaders headers) {
    if (response_ != Response::not_started) {
        throw std::logic_error("HTTP2Stream: write_headers called twice for one request");
    }
    response_ = Response::started;
    response_has_body_ = !head_request_ && status >= 200 && status != 204 && status != 304;
    http2::HeaderList head{{":status", std::to_string(status)}};
    for (const auto& [name, value] : headers) {
        std::string lower = lower_case(name);
        if (!is_connection_specific(lower)) head.emplace_back(std::move(lower), value);
    }
    if (!headers.contains("Date")) head.emplace_back("date", format_http_date(std::time(nullptr)));
    if (!headers.contains("Server")) head.emplace_back("server", std::string(kServerName));
    unsent_head_ = std::move(head);
    if (auto connection = live_connection()) connection->stream_has_output();
}

void HTTP2Stream::write(std::string_view chunk, std::function<void()> on_flushed) {
    if (response_ != Response::started) {
        throw std::logic_error("HTTP2Stream: write outside write_headers ... finish");
    }
    if (closed()) return;
    if (!response_has_body_) chunk = {};  // HEAD, 204, 304: headers only
    if (chunk.empty() && !on_flushed) return;
    unsent_chunks_.push_back(Chunk{std::string(chunk), 0, std::move(on_flushed)});
    if (auto connection = live_connection()) connection->stream_has_output();
}

void HTTP2Stream::finish() {
    if (response_ != Response::started) {
        throw std::logic_error("HTTP2Stream: finish without write_headers, or twice");
    }
    response_ = Response::finished;
    if (auto connection = live_connection()) connection->stream_has_output();
}

void HTTP2Stream::close() {
    if (closed()) return;
    if (auto connection = live_connection())
        connection->reset_stream(id_, http2::ErrorCode::cancel);
}

}  // namespace course
