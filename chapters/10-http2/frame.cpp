// frame.cpp: see frame.h for the layout. First the names, then task 1 (the
// header, its checks, SETTINGS), then the frames the connection writes.
#include "frame.h"

#include <cstdio>

namespace course::http2 {

namespace {

void append_u32(std::string& out, std::uint32_t value) {
    out += static_cast<char>(value >> 24);
    out += static_cast<char>(value >> 16);
    out += static_cast<char>(value >> 8);
    out += static_cast<char>(value);
}

void append_u16(std::string& out, std::uint16_t value) {
    out += static_cast<char>(value >> 8);
    out += static_cast<char>(value);
}

std::uint8_t byte_at(std::string_view bytes, std::size_t at) {
    return static_cast<std::uint8_t>(bytes[at]);
}

std::string hex_byte(unsigned value) {
    char text[8];
    std::snprintf(text, sizeof text, "0x%02x", value);
    return text;
}

}  // namespace

std::string frame_type_name(FrameType type) {
    static const char* const names[] = {"DATA",          "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS",      "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    auto index = static_cast<unsigned>(type);
    if (index < std::size(names)) return names[index];
    return "UNKNOWN(" + hex_byte(index) + ")";
}

std::string error_code_name(ErrorCode code) {
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

std::uint32_t read_u32(std::string_view bytes, std::size_t at) {
    return (std::uint32_t{byte_at(bytes, at)} << 24) |
           (std::uint32_t{byte_at(bytes, at + 1)} << 16) |
           (std::uint32_t{byte_at(bytes, at + 2)} << 8) | std::uint32_t{byte_at(bytes, at + 3)};
}

// --- Task 1: the frame reader and writer ---------------------------------------------

FrameHeader parse_frame_header(std::string_view bytes) {
    if (bytes.size() != kFrameHeaderSize) {
        throw std::invalid_argument("a frame header is 9 bytes, not " +
                                    std::to_string(bytes.size()));
    }
    FrameHeader header;
    header.length = (std::uint32_t{byte_at(bytes, 0)} << 16) |
                    (std::uint32_t{byte_at(bytes, 1)} << 8) | std::uint32_t{byte_at(bytes, 2)};
    header.type = static_cast<FrameType>(byte_at(bytes, 3));
    header.flags = byte_at(bytes, 4);
    // The top bit is reserved: it "MUST remain unset when sending and MUST
    // be ignored when receiving" (section 4.1).
    header.stream_id = read_u32(bytes, 5) & 0x7fffffff;
    return header;
}

std::string write_frame_header(const FrameHeader& header) {
    if (header.length > kLargestMaxFrameSize) {
        throw std::invalid_argument("a frame payload is at most 2^24-1 bytes");
    }
    std::string out;
    out += static_cast<char>(header.length >> 16);
    out += static_cast<char>(header.length >> 8);
    out += static_cast<char>(header.length);
    out += static_cast<char>(header.type);
    out += static_cast<char>(header.flags);
    append_u32(out, header.stream_id & 0x7fffffff);
    return out;
}

namespace {

// The types that belong to a stream, and the ones that belong to the
// connection (stream 0). Unknown types may be either.
bool on_a_stream(FrameType type) {
    switch (type) {
        case FrameType::data:
        case FrameType::headers:
        case FrameType::priority:
        case FrameType::rst_stream:
        case FrameType::push_promise:
        case FrameType::continuation: return true;
        default: return false;
    }
}

bool on_the_connection(FrameType type) {
    return type == FrameType::settings || type == FrameType::ping || type == FrameType::goaway;
}

[[noreturn]] void frame_size_error(const FrameHeader& header, const std::string& rule) {
    throw ConnectionError(
        ErrorCode::frame_size_error,
        frame_type_name(header.type) + " of " + std::to_string(header.length) + " bytes: " + rule);
}

}  // namespace

void check_frame_header(const FrameHeader& header, std::uint32_t max_frame_size) {
    // A frame larger than we announced could alter the connection's state
    // (a header block, SETTINGS), so it is a connection error (section 4.2).
    if (header.length > max_frame_size) {
        frame_size_error(header, "over SETTINGS_MAX_FRAME_SIZE " + std::to_string(max_frame_size));
    }
    std::string name = frame_type_name(header.type);
    if (on_a_stream(header.type) && header.stream_id == 0) {
        throw ConnectionError(ErrorCode::protocol_error, name + " on stream 0");
    }
    if (on_the_connection(header.type) && header.stream_id != 0) {
        throw ConnectionError(ErrorCode::protocol_error,
                              name + " on stream " + std::to_string(header.stream_id));
    }
    switch (header.type) {
        case FrameType::priority:
            // Only this stream's priority is broken: a stream error (6.3).
            if (header.length != 5) {
                throw StreamError(ErrorCode::frame_size_error,
                                  "PRIORITY of " + std::to_string(header.length) + " bytes, not 5");
            }
            break;
        case FrameType::rst_stream:
        case FrameType::window_update:
            if (header.length != 4) frame_size_error(header, "must be 4 bytes");
            break;
        case FrameType::ping:
            if (header.length != 8) frame_size_error(header, "must be 8 bytes");
            break;
        case FrameType::settings:
            if (header.has(flags::kAck) && header.length != 0)
                frame_size_error(header, "an ACK is empty");
            if (header.length % 6 != 0) frame_size_error(header, "not a multiple of 6");
            break;
        case FrameType::goaway:
            if (header.length < 8) frame_size_error(header, "at least 8 bytes");
            break;
        default: break;
    }
}

std::vector<Setting> parse_settings(std::string_view payload) {
    if (payload.size() % 6 != 0) {
        throw ConnectionError(
            ErrorCode::frame_size_error,
            "SETTINGS of " + std::to_string(payload.size()) + " bytes, not a multiple of 6");
    }
    std::vector<Setting> settings;
    for (std::size_t at = 0; at < payload.size(); at += 6) {
        auto id =
            static_cast<std::uint16_t>((byte_at(payload, at) << 8) | byte_at(payload, at + 1));
        std::uint32_t value = read_u32(payload, at + 2);
        switch (static_cast<SettingId>(id)) {
            case SettingId::enable_push:
                if (value > 1) {
                    throw ConnectionError(ErrorCode::protocol_error,
                                          "SETTINGS_ENABLE_PUSH " + std::to_string(value));
                }
                break;
            case SettingId::initial_window_size:
                if (value > kMaxWindowSize) {
                    throw ConnectionError(
                        ErrorCode::flow_control_error,
                        "SETTINGS_INITIAL_WINDOW_SIZE " + std::to_string(value) + " over 2^31-1");
                }
                break;
            case SettingId::max_frame_size:
                if (value < kDefaultMaxFrameSize || value > kLargestMaxFrameSize) {
                    throw ConnectionError(ErrorCode::protocol_error,
                                          "SETTINGS_MAX_FRAME_SIZE " + std::to_string(value) +
                                              " outside 16384..16777215");
                }
                break;
            case SettingId::header_table_size:
            case SettingId::max_concurrent_streams:
            case SettingId::max_header_list_size: break;
            default: continue;  // unknown: ignored, and not passed on
        }
        settings.push_back(Setting{static_cast<SettingId>(id), value});
    }
    return settings;
}

std::string write_settings(const std::vector<Setting>& settings) {
    std::string payload;
    for (const Setting& setting : settings) {
        append_u16(payload, static_cast<std::uint16_t>(setting.id));
        append_u32(payload, setting.value);
    }
    return payload;
}

// --- whole frames, for the writer ----------------------------------------------------

std::string make_frame(FrameType type, std::uint8_t frame_flags, std::uint32_t stream_id,
                       std::string_view payload) {
    FrameHeader header{static_cast<std::uint32_t>(payload.size()), type, frame_flags, stream_id};
    std::string frame = write_frame_header(header);
    frame.append(payload);
    return frame;
}

std::string settings_frame(const std::vector<Setting>& settings) {
    return make_frame(FrameType::settings, 0, 0, write_settings(settings));
}

std::string settings_ack_frame() { return make_frame(FrameType::settings, flags::kAck, 0); }

std::string ping_ack_frame(std::string_view opaque_data) {
    return make_frame(FrameType::ping, flags::kAck, 0, opaque_data);
}

std::string rst_stream_frame(std::uint32_t stream_id, ErrorCode code) {
    std::string payload;
    append_u32(payload, static_cast<std::uint32_t>(code));
    return make_frame(FrameType::rst_stream, 0, stream_id, payload);
}

std::string goaway_frame(std::uint32_t last_stream_id, ErrorCode code, std::string_view debug) {
    std::string payload;
    append_u32(payload, last_stream_id & 0x7fffffff);
    append_u32(payload, static_cast<std::uint32_t>(code));
    payload.append(debug.substr(0, 256));  // enough to read; never a large frame
    return make_frame(FrameType::goaway, 0, 0, payload);
}

std::string window_update_frame(std::uint32_t stream_id, std::uint32_t increment) {
    std::string payload;
    append_u32(payload, increment & 0x7fffffff);
    return make_frame(FrameType::window_update, 0, stream_id, payload);
}

std::string_view remove_padding(const FrameHeader& header, std::string_view payload) {
    if (!header.has(flags::kPadded)) return payload;
    if (payload.empty()) {
        throw ConnectionError(ErrorCode::protocol_error,
                              "PADDED " + frame_type_name(header.type) + " without a pad length");
    }
    std::size_t pad = byte_at(payload, 0);
    payload.remove_prefix(1);
    if (pad > payload.size()) {
        throw ConnectionError(ErrorCode::protocol_error, frame_type_name(header.type) +
                                                             " padding of " + std::to_string(pad) +
                                                             " bytes is longer than its payload");
    }
    payload.remove_suffix(pad);
    return payload;
}

}  // namespace course::http2
