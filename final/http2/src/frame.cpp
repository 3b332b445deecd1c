// frame.cpp: HTTP/2's frames (frame.h). First the names, then the reader
// and its checks, the payloads it decodes, and the writer.
#include "frame.h"

#include <algorithm>
#include <cstdio>

namespace tornado::detail {

namespace {

std::uint8_t byte_at(std::string_view bytes, std::size_t at) noexcept {
    return static_cast<std::uint8_t>(bytes[at]);
}

std::uint32_t read_u32(std::string_view bytes, std::size_t at) noexcept {
    return (std::uint32_t{byte_at(bytes, at)} << 24) |
           (std::uint32_t{byte_at(bytes, at + 1)} << 16) |
           (std::uint32_t{byte_at(bytes, at + 2)} << 8) | std::uint32_t{byte_at(bytes, at + 3)};
}

void append_u32(std::string& out, std::uint32_t value) {
    const char bytes[] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                          static_cast<char>(value >> 8), static_cast<char>(value)};
    out.append(bytes, sizeof bytes);
}

std::string hex_byte(unsigned value) {
    char text[8];
    std::snprintf(text, sizeof text, "0x%02x", value);
    return text;
}

}  // namespace

std::string http2_frame_type_name(HTTP2FrameType type) {
    static const char* const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    auto index = static_cast<unsigned>(type);
    if (index < std::size(names)) return names[index];
    return "UNKNOWN(" + hex_byte(index) + ")";
}

std::string http2_error_name(HTTP2ErrorCode code) {
    static const char* const names[] = {"NO_ERROR",
                                        "PROTOCOL_ERROR",
                                        "INTERNAL_ERROR",
                                        "FLOW_CONTROL_ERROR",
                                        "SETTINGS_TIMEOUT",
                                        "STREAM_CLOSED",
                                        "FRAME_SIZE_ERROR",
                                        "REFUSED_STREAM",
                                        "CANCEL",
                                        "COMPRESSION_ERROR",
                                        "CONNECT_ERROR",
                                        "ENHANCE_YOUR_CALM",
                                        "INADEQUATE_SECURITY",
                                        "HTTP_1_1_REQUIRED"};
    auto index = static_cast<std::uint32_t>(code);
    if (index < std::size(names)) return names[index];
    return "ERROR(" + std::to_string(index) + ")";
}

HTTP2FrameHeader parse_http2_frame_header(std::string_view bytes) noexcept {
    HTTP2FrameHeader header;
    header.length = (std::uint32_t{byte_at(bytes, 0)} << 16) |
                    (std::uint32_t{byte_at(bytes, 1)} << 8) | std::uint32_t{byte_at(bytes, 2)};
    header.type = static_cast<HTTP2FrameType>(byte_at(bytes, 3));
    header.flags = byte_at(bytes, 4);
    // The top bit "MUST be ignored when receiving" (section 4.1).
    header.stream_id = read_u32(bytes, 5) & 0x7fffffff;
    return header;
}

// --- the reader ------------------------------------------------------------------

namespace {

bool on_a_stream(HTTP2FrameType type) noexcept {
    switch (type) {
        case HTTP2FrameType::data:
        case HTTP2FrameType::headers:
        case HTTP2FrameType::priority:
        case HTTP2FrameType::rst_stream:
        case HTTP2FrameType::push_promise:
        case HTTP2FrameType::continuation: return true;
        default: return false;
    }
}

bool on_the_connection(HTTP2FrameType type) noexcept {
    return type == HTTP2FrameType::settings || type == HTTP2FrameType::ping ||
           type == HTTP2FrameType::goaway;
}

[[noreturn]] void frame_size_error(const HTTP2FrameHeader& header, const std::string& rule) {
    throw HTTP2ConnectionError(HTTP2ErrorCode::frame_size_error,
                               http2_frame_type_name(header.type) + " of " +
                                   std::to_string(header.length) + " bytes: " + rule);
}

[[noreturn]] void protocol_error(const HTTP2FrameHeader& header, const std::string& rule) {
    throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                               http2_frame_type_name(header.type) + " on stream " +
                                   std::to_string(header.stream_id) + ": " + rule);
}

// What the 9 bytes alone can break, before the payload is there.
void check_header(const HTTP2FrameHeader& header, std::uint32_t max_frame_size) {
    // A frame over our limit could be a header block or SETTINGS, whose
    // loss would break the connection's state: a connection error (4.2).
    if (header.length > max_frame_size) {
        frame_size_error(header, "over SETTINGS_MAX_FRAME_SIZE " + std::to_string(max_frame_size));
    }
    if (on_a_stream(header.type) && header.stream_id == 0) protocol_error(header, "needs a stream");
    if (on_the_connection(header.type) && header.stream_id != 0) {
        protocol_error(header, "belongs to stream 0");
    }
    switch (header.type) {
        case HTTP2FrameType::rst_stream:
        case HTTP2FrameType::window_update:
            if (header.length != 4) frame_size_error(header, "must be 4 bytes");
            break;
        case HTTP2FrameType::ping:
            if (header.length != 8) frame_size_error(header, "must be 8 bytes");
            break;
        case HTTP2FrameType::settings:
            if (header.has(http2_flags::kAck) && header.length != 0) {
                frame_size_error(header, "an ACK is empty");
            }
            if (header.length % 6 != 0) frame_size_error(header, "not a multiple of 6");
            break;
        case HTTP2FrameType::goaway:
            if (header.length < 8) frame_size_error(header, "must be at least 8 bytes");
            break;
        default: break;
    }
}

// Takes the pad length and the padding off a PADDED frame (section 6.1):
// "If the length of the padding is the length of the frame payload or
// greater", a PROTOCOL_ERROR.
std::string_view without_padding(const HTTP2FrameHeader& header, std::string_view payload) {
    if (!header.has(http2_flags::kPadded)) return payload;
    if (payload.empty()) protocol_error(header, "PADDED without a pad length");
    std::size_t pad = byte_at(payload, 0);
    if (pad >= payload.size()) {
        protocol_error(header, "padding of " + std::to_string(pad) + " bytes in a payload of " +
                                   std::to_string(payload.size()));
    }
    return payload.substr(1, payload.size() - 1 - pad);
}

}  // namespace

HTTP2Frame HTTP2FrameReader::checked(const HTTP2FrameHeader& header,
                                     std::string_view payload) const {
    HTTP2Frame frame{header, payload};
    switch (header.type) {
        case HTTP2FrameType::data: frame.payload = without_padding(header, payload); break;
        case HTTP2FrameType::headers:
            frame.payload = without_padding(header, payload);
            if (header.has(http2_flags::kPriority)) {
                if (frame.payload.size() < 5) {
                    frame_size_error(header, "PRIORITY flag without its 5 bytes");
                }
                if ((read_u32(frame.payload, 0) & 0x7fffffff) == header.stream_id) {
                    protocol_error(header, "the stream depends on itself");
                }
                frame.payload.remove_prefix(5);
            }
            break;
        case HTTP2FrameType::priority:
            // Only this stream's priority is broken: stream errors (6.3).
            if (header.length != 5) {
                throw HTTP2StreamError(
                    header.stream_id, HTTP2ErrorCode::frame_size_error,
                    "PRIORITY of " + std::to_string(header.length) + " bytes, not 5");
            }
            if ((read_u32(payload, 0) & 0x7fffffff) == header.stream_id) {
                throw HTTP2StreamError(header.stream_id, HTTP2ErrorCode::protocol_error,
                                       "PRIORITY: the stream depends on itself");
            }
            break;
        default: break;
    }
    return frame;
}

std::optional<HTTP2Frame> HTTP2FrameReader::next(std::string_view& input) {
    if (complete_) {
        pending_.clear();
        complete_ = false;
    }
    // The common case: the frame is whole in `input`, and is not copied.
    if (pending_.empty() && input.size() >= kHTTP2FrameHeaderSize) {
        HTTP2FrameHeader header = parse_http2_frame_header(input);
        std::size_t size = kHTTP2FrameHeaderSize + header.length;
        if (input.size() >= size) {
            check_header(header, max_frame_size_);
            std::string_view payload = input.substr(kHTTP2FrameHeaderSize, header.length);
            input.remove_prefix(size);
            return checked(header, payload);
        }
    }
    // A frame in pieces: gather its header, then its payload, here. Its
    // header is checked once whole, so that no more than one payload of
    // max_frame_size is ever kept.
    if (pending_.size() < kHTTP2FrameHeaderSize) {
        std::size_t take = std::min(kHTTP2FrameHeaderSize - pending_.size(), input.size());
        pending_.append(input.substr(0, take));
        input.remove_prefix(take);
        if (pending_.size() < kHTTP2FrameHeaderSize) return std::nullopt;
        check_header(parse_http2_frame_header(pending_), max_frame_size_);
    }
    HTTP2FrameHeader header = parse_http2_frame_header(pending_);
    std::size_t size = kHTTP2FrameHeaderSize + header.length;
    std::size_t take = std::min(size - pending_.size(), input.size());
    pending_.append(input.substr(0, take));
    input.remove_prefix(take);
    if (pending_.size() < size) return std::nullopt;
    complete_ = true;
    return checked(header, std::string_view(pending_).substr(kHTTP2FrameHeaderSize));
}

// --- payloads ------------------------------------------------------------------------

std::vector<HTTP2Setting> http2_settings(const HTTP2Frame& frame) {
    std::vector<HTTP2Setting> settings;
    std::string_view payload = frame.payload;
    for (std::size_t at = 0; at + 6 <= payload.size(); at += 6) {
        auto id =
            static_cast<HTTP2SettingId>((byte_at(payload, at) << 8) | byte_at(payload, at + 1));
        std::uint32_t value = read_u32(payload, at + 2);
        switch (id) {
            case HTTP2SettingId::enable_push:
                if (value > 1) {
                    throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                               "SETTINGS_ENABLE_PUSH " + std::to_string(value));
                }
                break;
            case HTTP2SettingId::initial_window_size:
                if (value > kHTTP2MaxWindowSize) {
                    throw HTTP2ConnectionError(
                        HTTP2ErrorCode::flow_control_error,
                        "SETTINGS_INITIAL_WINDOW_SIZE " + std::to_string(value) + " over 2^31-1");
                }
                break;
            case HTTP2SettingId::max_frame_size:
                if (value < kHTTP2DefaultMaxFrameSize || value > kHTTP2LargestMaxFrameSize) {
                    throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error,
                                               "SETTINGS_MAX_FRAME_SIZE " + std::to_string(value) +
                                                   " outside 16384..16777215");
                }
                break;
            case HTTP2SettingId::header_table_size:
            case HTTP2SettingId::max_concurrent_streams:
            case HTTP2SettingId::max_header_list_size: break;
            default: continue;  // unknown: ignored, and not passed on
        }
        settings.push_back({id, value});
    }
    return settings;
}

std::uint32_t http2_window_increment(const HTTP2Frame& frame) {
    std::uint32_t increment = read_u32(frame.payload, 0) & 0x7fffffff;
    if (increment == 0) {
        const char* message = "WINDOW_UPDATE of 0";
        if (frame.header.stream_id == 0) {
            throw HTTP2ConnectionError(HTTP2ErrorCode::protocol_error, message);
        }
        throw HTTP2StreamError(frame.header.stream_id, HTTP2ErrorCode::protocol_error, message);
    }
    return increment;
}

HTTP2ErrorCode http2_rst_stream_code(const HTTP2Frame& frame) noexcept {
    return static_cast<HTTP2ErrorCode>(read_u32(frame.payload, 0));
}

HTTP2GoAway http2_goaway(const HTTP2Frame& frame) noexcept {
    return {read_u32(frame.payload, 0) & 0x7fffffff,
            static_cast<HTTP2ErrorCode>(read_u32(frame.payload, 4)), frame.payload.substr(8)};
}

// --- the writer ----------------------------------------------------------------------

void append_http2_frame_header(std::string& out, std::uint32_t length, HTTP2FrameType type,
                               std::uint8_t flags, std::uint32_t stream_id) {
    const char bytes[] = {static_cast<char>(length >> 16),
                          static_cast<char>(length >> 8),
                          static_cast<char>(length),
                          static_cast<char>(type),
                          static_cast<char>(flags),
                          static_cast<char>((stream_id >> 24) & 0x7f),  // R sent as 0
                          static_cast<char>(stream_id >> 16),
                          static_cast<char>(stream_id >> 8),
                          static_cast<char>(stream_id)};
    out.append(bytes, sizeof bytes);
}

void append_settings_frame(std::string& out, std::span<const HTTP2Setting> settings) {
    append_http2_frame_header(out, static_cast<std::uint32_t>(settings.size() * 6),
                              HTTP2FrameType::settings, 0, 0);
    for (const HTTP2Setting& setting : settings) {
        auto id = static_cast<std::uint16_t>(setting.id);
        out += static_cast<char>(id >> 8);
        out += static_cast<char>(id);
        append_u32(out, setting.value);
    }
}

void append_settings_ack(std::string& out) {
    append_http2_frame_header(out, 0, HTTP2FrameType::settings, http2_flags::kAck, 0);
}

void append_ping_ack(std::string& out, std::string_view opaque_data) {
    append_http2_frame_header(out, 8, HTTP2FrameType::ping, http2_flags::kAck, 0);
    out.append(opaque_data.substr(0, 8));
}

void append_rst_stream(std::string& out, std::uint32_t stream_id, HTTP2ErrorCode code) {
    append_http2_frame_header(out, 4, HTTP2FrameType::rst_stream, 0, stream_id);
    append_u32(out, static_cast<std::uint32_t>(code));
}

void append_goaway(std::string& out, std::uint32_t last_stream_id, HTTP2ErrorCode code,
                   std::string_view debug) {
    debug = debug.substr(0, 256);  // enough to read; never a large frame
    append_http2_frame_header(out, static_cast<std::uint32_t>(8 + debug.size()),
                              HTTP2FrameType::goaway, 0, 0);
    append_u32(out, last_stream_id & 0x7fffffff);
    append_u32(out, static_cast<std::uint32_t>(code));
    out.append(debug);
}

void append_window_update(std::string& out, std::uint32_t stream_id, std::uint32_t increment) {
    append_http2_frame_header(out, 4, HTTP2FrameType::window_update, 0, stream_id);
    append_u32(out, increment & 0x7fffffff);
}

// END_STREAM goes on the HEADERS frame, END_HEADERS on the last of them
// (section 6.10: a CONTINUATION carries no END_STREAM).
void append_header_block(std::string& out, std::uint32_t stream_id, std::string_view block,
                         bool end_stream, std::uint32_t max_frame_size) {
    HTTP2FrameType type = HTTP2FrameType::headers;
    std::uint8_t flags = end_stream ? http2_flags::kEndStream : 0;
    do {
        std::string_view piece = block.substr(0, max_frame_size);
        block.remove_prefix(piece.size());
        if (block.empty()) flags |= http2_flags::kEndHeaders;
        append_http2_frame_header(out, static_cast<std::uint32_t>(piece.size()), type, flags,
                                  stream_id);
        out.append(piece);
        type = HTTP2FrameType::continuation;
        flags = 0;
    } while (!block.empty());
}

}  // namespace tornado::detail
