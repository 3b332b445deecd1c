// frame.h: HTTP/2's unit of everything, the frame (RFC 9113 section 4), and
// the two kinds of error a frame can cause (section 5.4).
//
// Every frame starts with the same 9 bytes, in network byte order:
//
//   +-----------------------------------------------+
//   |                 Length (24)                   |   payload bytes, not counting these 9
//   +---------------+---------------+---------------+
//   |   Type (8)    |   Flags (8)   |
//   +-+-------------+---------------+-------------------------------+
//   |R|                 Stream Identifier (31)                      |   R: reserved, ignored
//   +=+=============================================================+
//   |                   Frame Payload (Length bytes)              ...
//   +---------------------------------------------------------------+
//
// Stream 0 is the connection itself (SETTINGS, PING, GOAWAY, and the
// connection's WINDOW_UPDATE); every other id is one request and its
// response. The reader takes 9 bytes, learns how many more to take, and
// never needs to search for a delimiter: no read_until in this chapter.
//
// Nothing here touches a socket: these are functions on strings, like
// chapter 05's httputil.h, so the tests can hand them bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace course::http2 {

// What the client sends first, before any frame (section 3.4). It reads as
// a nonsense HTTP/1.1 request, so an HTTP/1.1 server refuses it at once.
constexpr std::string_view kConnectionPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

constexpr std::size_t kFrameHeaderSize = 9;
// SETTINGS_MAX_FRAME_SIZE: every peer takes 16384-byte payloads; it may
// announce more, up to 2^24-1 (section 4.2).
constexpr std::uint32_t kDefaultMaxFrameSize = 16384;
constexpr std::uint32_t kLargestMaxFrameSize = (1u << 24) - 1;
// Flow-control windows start at 65535 bytes and may never exceed 2^31-1
// (section 6.9.1).
constexpr std::int64_t kDefaultWindowSize = 65535;
constexpr std::int64_t kMaxWindowSize = 0x7fffffff;

// The ten frame types of section 6. A type we do not know is still a
// FrameType value (any byte fits): the connection ignores it, as section
// 5.5 requires.
enum class FrameType : std::uint8_t {
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

// "DATA", "HEADERS", ..., "UNKNOWN(0x2a)": for error messages and logs.
std::string frame_type_name(FrameType type);

// Flags: one bit each. The same bit means different things for different
// types (0x1 is END_STREAM on DATA and HEADERS, ACK on SETTINGS and PING).
namespace flags {
constexpr std::uint8_t kEndStream = 0x1;
constexpr std::uint8_t kAck = 0x1;
constexpr std::uint8_t kEndHeaders = 0x4;
constexpr std::uint8_t kPadded = 0x8;
constexpr std::uint8_t kPriority = 0x20;
}  // namespace flags

// The error codes of section 7, carried by RST_STREAM and GOAWAY.
enum class ErrorCode : std::uint32_t {
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

// "PROTOCOL_ERROR", ...
std::string error_code_name(ErrorCode code);

// Section 5.4.1: the whole connection is unusable (its HPACK state, its
// framing or its windows can no longer be trusted). The connection sends
// GOAWAY with code() and closes.
class ConnectionError : public std::runtime_error {
public:
    ConnectionError(ErrorCode code, const std::string& message)
        : std::runtime_error(error_code_name(code) + ": " + message), code_(code) {}
    ErrorCode code() const { return code_; }

private:
    ErrorCode code_;
};

// Section 5.4.2: only the stream the frame was on is broken. The connection
// sends RST_STREAM with code() on that stream and goes on serving the others.
class StreamError : public std::runtime_error {
public:
    StreamError(ErrorCode code, const std::string& message)
        : std::runtime_error(error_code_name(code) + ": " + message), code_(code) {}
    ErrorCode code() const { return code_; }

private:
    ErrorCode code_;
};

// The 9 bytes, decoded.
struct FrameHeader {
    std::uint32_t length = 0;  // 24 bits
    FrameType type = FrameType::data;
    std::uint8_t flags = 0;
    std::uint32_t stream_id = 0;  // 31 bits; the reserved bit is dropped

    bool has(std::uint8_t flag) const { return (flags & flag) != 0; }
};

// --- Task 1: the frame reader and writer ---------------------------------------------

// Decodes exactly kFrameHeaderSize bytes. The reserved bit is ignored, as
// section 4.1 says a receiver must.
FrameHeader parse_frame_header(std::string_view bytes);

// The 9 bytes for `header` (the reserved bit sent as 0).
std::string write_frame_header(const FrameHeader& header);

// Checks what the header alone can tell, before the payload is read:
//   - the length against our SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR;
//   - the stream id against the type: DATA, HEADERS, PRIORITY, RST_STREAM,
//     PUSH_PROMISE and CONTINUATION never on stream 0; SETTINGS, PING and
//     GOAWAY only on it: PROTOCOL_ERROR;
//   - the sizes the RFC fixes (section 6): PING exactly 8 bytes,
//     WINDOW_UPDATE and RST_STREAM exactly 4, PRIORITY 5, GOAWAY at least 8
//     (a last stream id and a code, then any debug text), SETTINGS a
//     multiple of 6 and an ACK empty: FRAME_SIZE_ERROR.
// Throws ConnectionError, or StreamError where the RFC allows: a PRIORITY
// of the wrong size breaks only its stream. A type we do not know passes.
void check_frame_header(const FrameHeader& header, std::uint32_t max_frame_size);

// One setting of a SETTINGS frame (section 6.5.1): 16-bit id, 32-bit value.
enum class SettingId : std::uint16_t {
    header_table_size = 0x1,
    enable_push = 0x2,
    max_concurrent_streams = 0x3,
    initial_window_size = 0x4,
    max_frame_size = 0x5,
    max_header_list_size = 0x6,
};
struct Setting {
    SettingId id;
    std::uint32_t value;
};

// A SETTINGS payload: six bytes per setting (another length is a
// FRAME_SIZE_ERROR). Values out of range are connection errors: ENABLE_PUSH
// not 0 or 1 and MAX_FRAME_SIZE outside 16384..2^24-1 are PROTOCOL_ERROR,
// INITIAL_WINDOW_SIZE over 2^31-1 is FLOW_CONTROL_ERROR (section 6.5.2).
// Settings we do not know are skipped (section 6.5.2: "MUST ignore").
std::vector<Setting> parse_settings(std::string_view payload);

// The payload for `settings`, in order.
std::string write_settings(const std::vector<Setting>& settings);

// --- whole frames, for the writer ----------------------------------------------------

// Header and payload together.
std::string make_frame(FrameType type, std::uint8_t flags, std::uint32_t stream_id,
                       std::string_view payload = {});
std::string settings_frame(const std::vector<Setting>& settings);
std::string settings_ack_frame();
std::string ping_ack_frame(std::string_view opaque_data);
std::string rst_stream_frame(std::uint32_t stream_id, ErrorCode code);
// last_stream_id: the highest stream the sender has processed or may still
// process; debug: a message for humans (our error's what()).
std::string goaway_frame(std::uint32_t last_stream_id, ErrorCode code, std::string_view debug = {});
std::string window_update_frame(std::uint32_t stream_id, std::uint32_t increment);

// --- reading payloads ------------------------------------------------------------------

// A 31- or 32-bit big-endian number at `at` (the caller checked the size).
std::uint32_t read_u32(std::string_view bytes, std::size_t at);

// DATA and HEADERS may be PADDED: a pad-length byte first, that many zero
// bytes last. Returns what is between. A pad longer than the payload is a
// PROTOCOL_ERROR (section 6.1).
std::string_view remove_padding(const FrameHeader& header, std::string_view payload);

}  // namespace course::http2
