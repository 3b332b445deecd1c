// flow_control.cpp: task 3, HTTP2Connection's flow control (RFC 9113
// section 5.2 and 6.9). Two directions, two windows each (window.h), the
// connection's here and each stream's in the stream (stream.cpp), which the
// connection hands the stream's frames to:
//
//   receiving DATA                           sending DATA
//   ──────────────                           ────────────
//   receive_window_ (connection)             send_window_ (connection)
//   the stream's receive_window_             the stream's send_window_
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
#include <functional>
#include <utility>
#include <vector>

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
        stream->on_data(header, remove_padding(header, payload), params_.max_body_size);
    } catch (const StreamError&) {
        give_back_connection_window(header.length);  // the stream is reset: bytes dropped
        throw;
    }
    // Taken in (or dropped): both windows get the bytes back.
    give_back_connection_window(header.length);
    give_back_stream_window(stream, header.length);
    if (header.has(flags::kEndStream)) dispatch_request(stream);
}

// WINDOW_UPDATEs go out in batches (Window::give_back), measured against
// the window as we announced it.
void HTTP2Connection::give_back_connection_window(std::size_t bytes) {
    std::int64_t full = std::max<std::int64_t>(params_.connection_window_size, kDefaultWindowSize);
    std::uint32_t increment = receive_window_.give_back(static_cast<std::int64_t>(bytes), full);
    if (increment > 0) send(window_update_frame(0, increment));
}

void HTTP2Connection::give_back_stream_window(const Stream& stream, std::size_t bytes) {
    std::uint32_t increment = stream->give_back(bytes, params_.initial_window_size);
    if (increment > 0) send(window_update_frame(stream->id(), increment));
}

// --- WINDOW_UPDATE from the client: our send windows ------------------------------------------

void HTTP2Connection::on_window_update(const FrameHeader& header, std::string_view payload) {
    std::uint32_t increment = read_u32(payload, 0) & 0x7fffffff;  // reserved bit ignored
    if (header.stream_id == 0) {
        std::string what = "WINDOW_UPDATE of " + std::to_string(increment);
        if (increment == 0)
            throw ConnectionError(ErrorCode::protocol_error, what + " on the connection");
        if (!send_window_.update(increment)) {
            throw ConnectionError(ErrorCode::flow_control_error,
                                  what + ": the connection's window over 2^31-1");
        }
    } else {
        Stream stream = find_stream(header.stream_id);
        if (!stream) return on_unknown_stream(header);  // it may cross our END_STREAM
        stream->on_window_update(increment);
    }
    send_soon();  // DATA held back may go now
}

// SETTINGS_INITIAL_WINDOW_SIZE changed: every stream's send window moves by
// the difference, and may go below zero (section 6.9.2).
void HTTP2Connection::change_initial_send_window(std::int64_t new_size) {
    std::int64_t change = new_size - peer_initial_window_;
    for (auto& [id, stream] : streams_) stream->change_send_window(change);
    peer_initial_window_ = new_size;
}

// --- sending: the responses, held to the windows ----------------------------------------------

// A stream has something to send: send at the end of this turn of the
// loop, so that write_headers, write and finish called in a row go out
// together (END_STREAM on the last DATA frame, not in a frame of its own).
void HTTP2Connection::send_soon() {
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
    // What the streams send with (stream.h): the encoder, the client's
    // frame size, the connection's window, and this connection's send().
    FrameSender out{encoder_, peer_max_frame_size_, send_window_,
                    [this](std::string frame, std::function<void()> on_sent) {
                        send(std::move(frame), std::move(on_sent));
                    }};
    bool progress = true;
    while (progress && !closed()) {
        progress = false;
        std::vector<Stream> round;  // a copy: sending END_STREAM forgets a stream
        for (const auto& [id, stream] : streams_) round.push_back(stream);
        for (const Stream& stream : round) progress = send_next_frame(*stream, out) || progress;
    }
}

// The stream sends its next frame, if one may go (HTTP2Stream::send_next_frame);
// a stream whose side is then over is let go.
bool HTTP2Connection::send_next_frame(HTTP2Stream& stream, FrameSender& out) {
    if (!stream.send_next_frame(out)) return false;
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

}  // namespace course
