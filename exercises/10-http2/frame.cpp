// frame.cpp (exercise): the chapter's frame.cpp with task 1's functions cut
// out, each marked TODO(task N). See README.md beside this file.
//
// See frame.h for the layout. First the names, then task 1 (the header,
// its checks, SETTINGS), then the frames the connection writes.
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
    // TODO(task 1): the 9 bytes of frame.h's picture, in network byte order:
    // a 24-bit length, the type, the flags, and a 31-bit stream id. Rules:
    // anything but exactly kFrameHeaderSize bytes is std::invalid_argument
    // (a caller's bug); the reserved bit (the top bit of the stream id) is
    // ignored, never part of the id. Hint: make hint CH=10 TASK=1.
    (void)bytes;
    throw std::logic_error("TODO(task 1): parse_frame_header");
}

std::string write_frame_header(const FrameHeader& header) {
    // TODO(task 1): the 9 bytes for `header`, the reverse of
    // parse_frame_header. Rules: a length over 2^24-1 does not fit in 24
    // bits (std::invalid_argument); the reserved bit always goes out as 0.
    (void)header;
    throw std::logic_error("TODO(task 1): write_frame_header");
}

namespace {

// The types that belong to a stream, and the ones that belong to the
// connection (stream 0). Unknown types may be either.
[[maybe_unused]] bool on_a_stream(FrameType type) {
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

[[maybe_unused]] bool on_the_connection(FrameType type) {
    return type == FrameType::settings || type == FrameType::ping || type == FrameType::goaway;
}

[[maybe_unused]] [[noreturn]] void frame_size_error(const FrameHeader& header,
                                                     const std::string& rule) {
    throw ConnectionError(
        ErrorCode::frame_size_error,
        frame_type_name(header.type) + " of " + std::to_string(header.length) + " bytes: " + rule);
}

}  // namespace

void check_frame_header(const FrameHeader& header, std::uint32_t max_frame_size) {
    // TODO(task 1): what the 9 bytes alone can tell, before the payload is
    // read (frame.h says which error of which kind): a length over
    // max_frame_size; a type that belongs to a stream on stream 0, or one
    // that belongs to the connection on a stream; the types whose payload
    // has a fixed size (or a minimum, or a multiple) with another length.
    // PRIORITY of a wrong size breaks only its stream. A type we do not know
    // passes. Hint: make hint CH=10 TASK=1.
    (void)header;
    (void)max_frame_size;
    throw std::logic_error("TODO(task 1): check_frame_header");
}

std::vector<Setting> parse_settings(std::string_view payload) {
    // TODO(task 1): the settings of a SETTINGS payload, in order: 6 bytes
    // each, a 16-bit id then a 32-bit value (read_u32). Rules (frame.h): a
    // length that is not a multiple of 6, and a value out of its range, are
    // connection errors with the RFC's code; an id we do not know is
    // skipped, not returned. Hint: make hint CH=10 TASK=1.
    (void)payload;
    throw std::logic_error("TODO(task 1): parse_settings");
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
