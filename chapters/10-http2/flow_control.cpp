// flow_control.cpp: task 3, HTTP2Connection's flow control (RFC 9113
// section 5.2 and 6.9). Two directions, two windows each:
//
//   receiving DATA                           sending DATA
//   ──────────────                           ────────────
//   receive_window_ (connection)             send_window_ (connection)
//   stream->receive_window_                  stream->send_window_
//   a DATA frame takes its length from       a DATA frame may carry at most
//   both; beyond either is the client's      min(both windows, the peer's
//   FLOW_CONTROL_ERROR. We give bytes        max frame size); the rest waits
//   back with WINDOW_UPDATE as the body is   in the stream until the client's
//   taken in (on_data, give_back_*).         WINDOW_UPDATE opens a window.
//
// A window is a promise of memory: the client may send that many bytes and
// we must take them. So we give it back only as we take the body in, never
// in advance; and we send no faster than the client gives back to us.
#include <algorithm>
#include <utility>

#include "http2connection.h"

namespace course {

using namespace http2;

// --- receiving: DATA, and giving the windows back ----------------------------------------

void HTTP2Connection::on_data(const FrameHeader& header, std::string_view payload) {
    // Every byte counts against the connection's window, padding included,
    // whatever becomes of the stream (section 6.9.1).
    if (header.length > receive_window_.size()) {
        throw ConnectionError(ErrorCode::flow_control_error,
                              "DATA of " + std::to_string(header.length) +
                                  " bytes over the connection's window of " +
                                  std::to_string(receive_window_.size()));
    }
    receive_window_.consume(header.length);
    Stream stream = find_stream(header.stream_id);
    if (!stream) {
        // Bytes nobody will take: the connection's window gets them back.
        give_back_connection_window(header.length);
        return on_unknown_stream(header);
    }
    try {
        stream->on_frame(Direction::received, FrameType::data, header.has(flags::kEndStream));
        if (header.length > stream->receive_window_.size()) {
            throw StreamError(ErrorCode::flow_control_error,
                              "DATA of " + std::to_string(header.length) +
                                  " bytes over the stream's window of " +
                                  std::to_string(stream->receive_window_.size()));
        }
    } catch (const StreamError&) {
        give_back_connection_window(header.length);  // the stream is reset: bytes dropped
        throw;
    }
    stream->receive_window_.consume(header.length);
    take_body(stream, remove_padding(header, payload));
    // Taken in (or dropped): both windows get the bytes back.
    give_back_connection_window(header.length);
    give_back_stream_window(stream, header.length);
    if (header.has(flags::kEndStream)) dispatch_request(stream);
}

// The application receives the body whole (chapter 05's model), so taking
// it in is appending it to the request, within max_body_size.
void HTTP2Connection::take_body(const Stream& stream, std::string_view data) {
    if (!stream->request_) return;  // refused already: dropped
    if (stream->request_->body.size() + data.size() > params_.max_body_size) {
        return answer_without_application(
            stream, 413,
            "the body is over the limit of " + std::to_string(params_.max_body_size) + " bytes");
    }
    stream->request_->body.append(data);
}

// WINDOW_UPDATEs go out in batches (Window::give_back), measured against
// the window as we announced it.
void HTTP2Connection::give_back_connection_window(std::size_t bytes) {
    std::int64_t full = std::max<std::int64_t>(params_.connection_window_size, kDefaultWindowSize);
    std::uint32_t increment = receive_window_.give_back(static_cast<std::int64_t>(bytes), full);
    if (increment > 0) send(window_update_frame(0, increment));
}

void HTTP2Connection::give_back_stream_window(const Stream& stream, std::size_t bytes) {
    // A stream the client has ended (or we answered and reset) will carry
    // no more DATA: a WINDOW_UPDATE for it would be wasted, or an error.
    if (stream->state() != StreamState::open || !stream->request_) return;
    std::uint32_t increment = stream->receive_window_.give_back(
        static_cast<std::int64_t>(bytes), params_.initial_window_size);
    if (increment > 0) send(window_update_frame(stream->id(), increment));
}

// --- WINDOW_UPDATE from the client: our send windows ------------------------------------------

void HTTP2Connection::on_window_update(const FrameHeader& header, std::string_view payload) {
    std::uint32_t increment = read_u32(payload, 0) & 0x7fffffff;  // reserved bit ignored
    std::string what = "WINDOW_UPDATE of " + std::to_string(increment);
    if (header.stream_id == 0) {
        if (increment == 0)
            throw ConnectionError(ErrorCode::protocol_error, what + " on the connection");
        if (!send_window_.update(increment)) {
            throw ConnectionError(ErrorCode::flow_control_error,
                                  what + ": the connection's window over 2^31-1");
        }
    } else {
        Stream stream = find_stream(header.stream_id);
        if (!stream) return on_unknown_stream(header);  // it may cross our END_STREAM
        if (increment == 0) throw StreamError(ErrorCode::protocol_error, what);
        if (!stream->send_window_.update(increment)) {
            throw StreamError(ErrorCode::flow_control_error,
                              what + ": the stream's window over 2^31-1");
        }
    }
    stream_has_output();  // DATA held back may go now
}

// SETTINGS_INITIAL_WINDOW_SIZE changed: every stream's send window moves by
// the difference, and may go below zero (section 6.9.2).
void HTTP2Connection::change_initial_send_window(std::int64_t new_size) {
    std::int64_t change = new_size - peer_initial_window_;
    for (auto& [id, stream] : streams_) {
        if (!stream->send_window_.update(change)) {
            throw ConnectionError(ErrorCode::flow_control_error,
                                  "SETTINGS_INITIAL_WINDOW_SIZE takes stream " +
                                      std::to_string(id) + "'s window over 2^31-1");
        }
    }
    peer_initial_window_ = new_size;
}

// --- sending: the responses, held to the windows ----------------------------------------------

// A stream has something to send: send at the end of this turn of the
// loop, so that write_headers, write and finish called in a row go out
// together (END_STREAM on the last DATA frame, not in a frame of its own).
void HTTP2Connection::stream_has_output() {
    if (send_scheduled_ || closed()) return;
    send_scheduled_ = true;
    stream_.stream()->io_loop().add_callback([weak = weak_from_this()] {
        std::shared_ptr<HTTP2Connection> self = weak.lock();
        if (!self) return;
        self->send_scheduled_ = false;
        self->send_pending_data();
    });
}

// Round robin: one frame per stream per round, until nothing can go. A
// large response cannot keep the others waiting, and a stream whose window
// is closed is skipped without holding anyone up.
void HTTP2Connection::send_pending_data() {
    bool progress = true;
    while (progress && !closed()) {
        progress = false;
        std::vector<Stream> round;  // a copy: sending END_STREAM forgets a stream
        for (const auto& [id, stream] : streams_) round.push_back(stream);
        for (const Stream& stream : round) progress = send_next_frame(*stream) || progress;
    }
}

// The stream's next frame, if one may go: its head, then its DATA.
bool HTTP2Connection::send_next_frame(HTTP2Stream& stream) {
    if (stream.done_sending()) return false;
    if (stream.unsent_head_) {
        send_head(stream);
    } else if (!send_data(stream)) {
        return false;
    }
    if (stream.done_sending()) {
        // A response that ends before its request (413, 431): the rest of
        // the body is not wanted. RST_STREAM NO_ERROR says so (section 8.1).
        if (stream.state() == StreamState::half_closed_local) {
            reset_stream(stream.id(), ErrorCode::no_error);
        } else {
            forget_stream(stream.id());
        }
    }
    return true;
}

// HEADERS (and CONTINUATIONs, for a block over the peer's frame size).
// Headers are not flow controlled; they are encoded only now, because
// HPACK blocks must be encoded in the order they are sent.
void HTTP2Connection::send_head(HTTP2Stream& stream) {
    bool end_stream =
        stream.response_ == HTTP2Stream::Response::finished && stream.unsent_chunks_.empty();
    std::string block = encoder_.encode(*stream.unsent_head_);
    stream.unsent_head_.reset();
    std::string_view rest = block;
    FrameType type = FrameType::headers;
    do {
        std::string_view piece = rest.substr(0, peer_max_frame_size_);
        rest.remove_prefix(piece.size());
        std::uint8_t frame_flags = rest.empty() ? flags::kEndHeaders : 0;
        if (type == FrameType::headers && end_stream) frame_flags |= flags::kEndStream;
        send(make_frame(type, frame_flags, stream.id(), piece));
        type = FrameType::continuation;
    } while (!rest.empty());
    stream.on_frame(Direction::sent, FrameType::headers, end_stream);
}

// One DATA frame of the first chunk, as large as both windows and the
// peer's frame size allow; false if it must wait for a WINDOW_UPDATE (or
// has nothing to send yet). The chunk's on_flushed goes with the frame that
// carries its last byte.
bool HTTP2Connection::send_data(HTTP2Stream& stream) {
    bool finished = stream.response_ == HTTP2Stream::Response::finished;
    if (stream.unsent_chunks_.empty()) {
        if (!finished) return false;
        send(make_frame(FrameType::data, flags::kEndStream, stream.id()));  // needs no window
        stream.on_frame(Direction::sent, FrameType::data, true);
        return true;
    }
    HTTP2Stream::Chunk& chunk = stream.unsent_chunks_.front();
    std::int64_t left = static_cast<std::int64_t>(chunk.data.size() - chunk.sent);
    std::int64_t size =
        std::min({left, std::int64_t{peer_max_frame_size_}, send_window_.size(),
                  stream.send_window_.size()});
    if (left > 0 && size <= 0) return false;  // a window is closed: held
    size = std::max<std::int64_t>(size, 0);
    std::string_view bytes = std::string_view(chunk.data).substr(chunk.sent, size);
    chunk.sent += static_cast<std::size_t>(size);
    send_window_.consume(size);
    stream.send_window_.consume(size);

    bool chunk_done = chunk.sent == chunk.data.size();
    bool end_stream = chunk_done && finished && stream.unsent_chunks_.size() == 1;
    // An empty chunk (a write of "" with on_flushed) needs no frame of its own.
    bool sends_frame = size > 0 || end_stream;
    std::string frame;
    if (sends_frame) {
        frame = make_frame(FrameType::data, end_stream ? flags::kEndStream : 0, stream.id(), bytes);
    }
    IOStream::WriteCallback on_flushed;
    if (chunk_done) {
        on_flushed = std::move(chunk.on_flushed);
        stream.unsent_chunks_.pop_front();
    }
    send(std::move(frame), std::move(on_flushed));
    if (sends_frame) stream.on_frame(Direction::sent, FrameType::data, end_stream);
    return true;
}

}  // namespace course
