// frame.h (final/http2/src, not installed): HTTP/2's frames (RFC 9113
// sections 4 and 6), read and written, of our own: the session
// (http2session.h) reads and writes every frame with it. The tests check
// it against libnghttp2 both ways: what libnghttp2's client writes, this
// reader reads frame for frame, and what this writer writes, libnghttp2's
// client takes.
//
// Every frame is 9 bytes of header, then its payload, in network order:
//
//   Length (24) | Type (8) | Flags (8) | R (1) + Stream Identifier (31) | Payload
//
// Stream 0 is the connection (SETTINGS, PING, GOAWAY, the connection's
// WINDOW_UPDATE); every other id is one request and its response. The
// same shape as chapter 10's frame.h, with three differences a server
// that serves many connections needs: the reader takes whatever the
// socket gave, a frame in pieces or many frames at once, and copies a
// frame only when it came in pieces; the writer appends to the bytes of
// the next write instead of making a string per frame; and no frame is
// built field by field, only checked and sliced.
//
//   HTTP2FrameReader reader;                   // one per connection
//   std::string_view input = bytes_read;
//   while (auto frame = reader.next(input)) { ... frame->header.type ... }
//
// What the frames mean to the connection (stream states, windows, a header
// block's CONTINUATIONs) is the caller's; what a frame alone can break is
// checked here, and thrown as the error RFC 9113 names for it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tornado::detail {

// What a client sends before any frame (section 3.4).
inline constexpr std::string_view kHTTP2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

inline constexpr std::size_t kHTTP2FrameHeaderSize = 9;
// SETTINGS_MAX_FRAME_SIZE: every peer takes 16,384-byte payloads, and may
// announce more, up to 2^24 - 1 (section 4.2).
inline constexpr std::uint32_t kHTTP2DefaultMaxFrameSize = 16384;
inline constexpr std::uint32_t kHTTP2LargestMaxFrameSize = (1u << 24) - 1;
// A flow-control window may never pass 2^31 - 1 (section 6.9.1).
inline constexpr std::uint32_t kHTTP2MaxWindowSize = 0x7fffffff;

// The types of section 6. Any other byte is a type too, which a receiver
// ignores (section 5.5), except inside a header block.
enum class HTTP2FrameType : std::uint8_t {
    data = 0x0,
    headers = 0x1,
    priority = 0x2,
    rst_stream = 0x3,
    settings = 0x4,
    push_promise = 0x5,
    ping = 0x6,
    goaway = 0x7,
    window_update = 0x8,
    continuation = 0x9,
};

// "DATA", ..., "UNKNOWN(0x2a)": for messages.
std::string http2_frame_type_name(HTTP2FrameType type);

// One bit each; the same bit means different things on different types.
namespace http2_flags {
inline constexpr std::uint8_t kEndStream = 0x1;  // DATA, HEADERS
inline constexpr std::uint8_t kAck = 0x1;        // SETTINGS, PING
inline constexpr std::uint8_t kEndHeaders = 0x4;
inline constexpr std::uint8_t kPadded = 0x8;
inline constexpr std::uint8_t kPriority = 0x20;
}  // namespace http2_flags

// Section 7's codes, which RST_STREAM and GOAWAY carry. Values past these
// may come from a peer: they mean INTERNAL_ERROR to us, never an error of
// their own.
enum class HTTP2ErrorCode : std::uint32_t {
    no_error = 0x0,
    protocol_error = 0x1,
    internal_error = 0x2,
    flow_control_error = 0x3,
    settings_timeout = 0x4,
    stream_closed = 0x5,
    frame_size_error = 0x6,
    refused_stream = 0x7,
    cancel = 0x8,
    compression_error = 0x9,
    connect_error = 0xa,
    enhance_your_calm = 0xb,
    inadequate_security = 0xc,
    http_1_1_required = 0xd,
};

// "PROTOCOL_ERROR", ..., "ERROR(0x2a)".
std::string http2_error_name(HTTP2ErrorCode code);

// Section 5.4.1: the connection cannot go on (its framing, its header
// compression or its windows can no longer be trusted). The connection
// sends GOAWAY with code() and ends.
class HTTP2ConnectionError : public std::runtime_error {
public:
    HTTP2ConnectionError(HTTP2ErrorCode code, const std::string& message)
        : std::runtime_error(http2_error_name(code) + ": " + message), code_(code) {}
    HTTP2ErrorCode code() const noexcept { return code_; }

private:
    HTTP2ErrorCode code_;
};

// Section 5.4.2: only stream_id() is broken. The connection sends
// RST_STREAM with code() on it and serves the others.
class HTTP2StreamError : public std::runtime_error {
public:
    HTTP2StreamError(std::uint32_t stream_id, HTTP2ErrorCode code, const std::string& message)
        : std::runtime_error(http2_error_name(code) + " on stream " + std::to_string(stream_id) +
                             ": " + message),
          stream_id_(stream_id),
          code_(code) {}
    std::uint32_t stream_id() const noexcept { return stream_id_; }
    HTTP2ErrorCode code() const noexcept { return code_; }

private:
    std::uint32_t stream_id_;
    HTTP2ErrorCode code_;
};

struct HTTP2FrameHeader {
    std::uint32_t length = 0;  // the payload's bytes, padding included
    HTTP2FrameType type = HTTP2FrameType::data;
    std::uint8_t flags = 0;
    std::uint32_t stream_id = 0;  // the reserved bit dropped

    bool has(std::uint8_t flag) const noexcept { return (flags & flag) != 0; }
};

// One frame, read and checked.
struct HTTP2Frame {
    HTTP2FrameHeader header;
    // DATA: the data; HEADERS: the header block's fragment (the padding
    // and the deprecated priority fields taken off); any other type: the
    // payload as sent. Flow control counts header.length, padding and all.
    std::string_view payload;
};

class HTTP2FrameReader {
public:
    // max_frame_size: our SETTINGS_MAX_FRAME_SIZE, the largest payload the
    // peer may send.
    explicit HTTP2FrameReader(std::uint32_t max_frame_size = kHTTP2DefaultMaxFrameSize)
        : max_frame_size_(max_frame_size) {}

    // Takes bytes from the front of `input` and returns the next whole
    // frame, checked, or nothing once `input` is used up inside one (the
    // bytes taken are kept here for the next call). The payload points
    // into `input`, or here when the frame came in pieces: it is valid
    // until the next call or until `input`'s bytes go. Throws
    // HTTP2ConnectionError or HTTP2StreamError (after taking the frame)
    // for what the frame alone breaks:
    //   - a payload over max_frame_size: FRAME_SIZE_ERROR;
    //   - DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE, CONTINUATION
    //     on stream 0, or SETTINGS, PING, GOAWAY on another: PROTOCOL_ERROR;
    //   - the sizes section 6 fixes: RST_STREAM and WINDOW_UPDATE 4 bytes,
    //     PING 8, GOAWAY at least 8, SETTINGS a multiple of 6 and an ACK
    //     empty, HEADERS with PRIORITY at least 5: FRAME_SIZE_ERROR;
    //     PRIORITY not 5 bytes is a stream error of that code;
    //   - padding as long as the payload or longer: PROTOCOL_ERROR;
    //   - a stream that depends on itself: PROTOCOL_ERROR, a stream error
    //     on PRIORITY, and on HEADERS a connection error, since a header
    //     block must still be decoded for HPACK's sake (section 5.4.1 lets
    //     a stream error end the connection).
    // After a connection error the reader is of no more use.
    std::optional<HTTP2Frame> next(std::string_view& input);

    // Our SETTINGS_MAX_FRAME_SIZE, once the peer has acknowledged it.
    void set_max_frame_size(std::uint32_t max_frame_size) { max_frame_size_ = max_frame_size; }
    // The bytes of a frame begun and not yet whole.
    std::size_t partial_bytes() const noexcept { return complete_ ? 0 : pending_.size(); }

private:
    HTTP2Frame checked(const HTTP2FrameHeader& header, std::string_view payload) const;

    std::uint32_t max_frame_size_;
    std::string pending_;    // a frame that came in pieces
    bool complete_ = false;  // pending_ is the frame last returned
};

// The 9 bytes, decoded (the caller has 9).
HTTP2FrameHeader parse_http2_frame_header(std::string_view bytes) noexcept;

// Section 6.5.1's settings; any other id is ignored (section 6.5.2).
enum class HTTP2SettingId : std::uint16_t {
    header_table_size = 0x1,
    enable_push = 0x2,
    max_concurrent_streams = 0x3,
    initial_window_size = 0x4,
    max_frame_size = 0x5,
    max_header_list_size = 0x6,
};
struct HTTP2Setting {
    HTTP2SettingId id;
    std::uint32_t value;
};

// A SETTINGS frame's settings, the ones we know, in order. A value out of
// range is a connection error: ENABLE_PUSH not 0 or 1 and MAX_FRAME_SIZE
// outside 16,384 to 2^24 - 1 PROTOCOL_ERROR, INITIAL_WINDOW_SIZE over
// 2^31 - 1 FLOW_CONTROL_ERROR (section 6.5.2).
std::vector<HTTP2Setting> http2_settings(const HTTP2Frame& frame);
// A WINDOW_UPDATE's increment; 0 is PROTOCOL_ERROR, a stream error unless
// on stream 0 (section 6.9).
std::uint32_t http2_window_increment(const HTTP2Frame& frame);
// An RST_STREAM's code.
HTTP2ErrorCode http2_rst_stream_code(const HTTP2Frame& frame) noexcept;
struct HTTP2GoAway {
    std::uint32_t last_stream_id;
    HTTP2ErrorCode code;
    std::string_view debug;  // a message for humans, any bytes
};
HTTP2GoAway http2_goaway(const HTTP2Frame& frame) noexcept;

// --- the writer: each appends one frame, or its header, to `out` ---------------

void append_http2_frame_header(std::string& out, std::uint32_t length, HTTP2FrameType type,
                               std::uint8_t flags, std::uint32_t stream_id);
void append_settings_frame(std::string& out, std::span<const HTTP2Setting> settings);
void append_settings_ack(std::string& out);
void append_ping_ack(std::string& out, std::string_view opaque_data);
void append_rst_stream(std::string& out, std::uint32_t stream_id, HTTP2ErrorCode code);
// last_stream_id: the highest stream we have taken or may still take.
// debug: a message for humans, cut to 256 bytes.
void append_goaway(std::string& out, std::uint32_t last_stream_id, HTTP2ErrorCode code,
                   std::string_view debug = {});
void append_window_update(std::string& out, std::uint32_t stream_id, std::uint32_t increment);
// A header block (HPACK's) as one HEADERS frame, and CONTINUATION frames
// after it where it is longer than the peer's max_frame_size.
void append_header_block(std::string& out, std::uint32_t stream_id, std::string_view block,
                         bool end_stream, std::uint32_t max_frame_size);

}  // namespace tornado::detail
