// Task 1: the frame reader and writer (frame.h): the 9-byte header, its
// checks, SETTINGS; then the same rules over a real connection, where each
// broken rule must end in the RFC's GOAWAY.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <string>

#include "frame.h"
#include "h2_fixture.h"

namespace course::testing {
namespace {

using http2::ConnectionError;
using http2::ErrorCode;
using http2::FrameHeader;
using http2::FrameType;

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int value : values) out += static_cast<char>(value);
    return out;
}

// The code a function throws as a ConnectionError (no_error if none).
template <typename Function>
ErrorCode connection_error_of(Function function) {
    try {
        function();
    } catch (const ConnectionError& error) {
        return error.code();
    }
    return ErrorCode::no_error;
}

TEST(Task1_Frames, HeaderParsesEachField) {
    FrameHeader header =
        http2::parse_frame_header(bytes({0x12, 0x34, 0x56, 0x01, 0x05, 0, 0, 0, 7}));
    EXPECT_EQ(header.length, 0x123456u);
    EXPECT_EQ(header.type, FrameType::headers);
    EXPECT_EQ(header.flags, 0x05);
    EXPECT_EQ(header.stream_id, 7u);
}

TEST(Task1_Frames, HeaderRoundTrip) {
    FrameHeader header{16384, FrameType::window_update, 0x25, 0x7ffffffe};
    std::string written = http2::write_frame_header(header);
    ASSERT_EQ(written.size(), 9u);
    EXPECT_EQ(written, bytes({0x00, 0x40, 0x00, 0x08, 0x25, 0x7f, 0xff, 0xff, 0xfe}));
    FrameHeader back = http2::parse_frame_header(written);
    EXPECT_EQ(back.length, header.length);
    EXPECT_EQ(back.type, header.type);
    EXPECT_EQ(back.flags, header.flags);
    EXPECT_EQ(back.stream_id, header.stream_id);
}

TEST(Task1_Frames, LengthIsTwentyFourBits) {
    EXPECT_EQ(http2::parse_frame_header(bytes({0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1})).length,
              0xffffffu);
    EXPECT_EQ(http2::parse_frame_header(bytes({0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 1})).length,
              0x10000u);
    // Written too: a client may take frames up to 2^24-1 bytes
    // (SETTINGS_MAX_FRAME_SIZE), and a DATA frame of 65,536 bytes or more
    // needs the third byte.
    EXPECT_EQ(http2::write_frame_header(FrameHeader{0x123456, FrameType::data, 0, 1}),
              bytes({0x12, 0x34, 0x56, 0x00, 0x00, 0, 0, 0, 1}));
    EXPECT_THROW(http2::write_frame_header(FrameHeader{1u << 24, FrameType::data, 0, 1}),
                 std::invalid_argument)
        << "2^24 bytes do not fit in 24 bits: refused, not written as 0";
}

// Exactly 9 bytes: any other number is the caller's bug, not a frame.
TEST(Task1_Frames, AHeaderIsExactlyNineBytes) {
    EXPECT_THROW(http2::parse_frame_header(bytes({0, 0, 0, 0, 0, 0, 0, 1})), std::invalid_argument);
    EXPECT_THROW(http2::parse_frame_header(bytes({0, 0, 0, 0, 0, 0, 0, 0, 1, 0})),
                 std::invalid_argument);
}

TEST(Task1_Frames, ReservedBitIsIgnoredAndNeverSent) {
    EXPECT_EQ(http2::parse_frame_header(bytes({0, 0, 0, 0, 0, 0x80, 0, 0, 3})).stream_id, 3u);
    std::string written = http2::write_frame_header(FrameHeader{0, FrameType::data, 0, 0x80000003});
    EXPECT_EQ(static_cast<unsigned char>(written[5]) & 0x80, 0);
}

TEST(Task1_Frames, OversizeFrameIsAFrameSizeError) {
    EXPECT_EQ(connection_error_of([] {
                  http2::check_frame_header(FrameHeader{16385, FrameType::data, 0, 1}, 16384);
              }),
              ErrorCode::frame_size_error);
    EXPECT_EQ(connection_error_of([] {
                  http2::check_frame_header(FrameHeader{16384, FrameType::data, 0, 1}, 16384);
              }),
              ErrorCode::no_error);
}

TEST(Task1_Frames, FixedSizeFramesAndStreamZeroRules) {
    auto error_of = [](std::uint32_t length, FrameType type, std::uint8_t flags, std::uint32_t id) {
        return connection_error_of([&] {
            http2::check_frame_header(FrameHeader{length, type, flags, id}, 16384);
        });
    };
    EXPECT_EQ(error_of(7, FrameType::ping, 0, 0), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(8, FrameType::ping, 0, 0), ErrorCode::no_error);
    EXPECT_EQ(error_of(9, FrameType::ping, 0, 0), ErrorCode::frame_size_error);
    // Exactly 4 bytes, neither fewer nor more: a longer one is not a
    // WINDOW_UPDATE with something after it.
    EXPECT_EQ(error_of(3, FrameType::window_update, 0, 1), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(5, FrameType::window_update, 0, 1), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(4, FrameType::window_update, 0, 1), ErrorCode::no_error);
    EXPECT_EQ(error_of(3, FrameType::rst_stream, 0, 1), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(5, FrameType::rst_stream, 0, 1), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(4, FrameType::rst_stream, 0, 1), ErrorCode::no_error);
    // SETTINGS: six bytes a setting, and an ACK carries none.
    EXPECT_EQ(error_of(6, FrameType::settings, http2::flags::kAck, 0), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(0, FrameType::settings, http2::flags::kAck, 0), ErrorCode::no_error);
    EXPECT_EQ(error_of(7, FrameType::settings, 0, 0), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(12, FrameType::settings, 0, 0), ErrorCode::no_error);
    // GOAWAY: a last stream id and a code (8 bytes), then any debug text.
    EXPECT_EQ(error_of(7, FrameType::goaway, 0, 0), ErrorCode::frame_size_error);
    EXPECT_EQ(error_of(8, FrameType::goaway, 0, 0), ErrorCode::no_error);
    EXPECT_EQ(error_of(40, FrameType::goaway, 0, 0), ErrorCode::no_error);
    // The types of a stream, never on stream 0 (the connection).
    EXPECT_EQ(error_of(0, FrameType::data, 0, 0), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(0, FrameType::headers, 0, 0), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(5, FrameType::priority, 0, 0), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(4, FrameType::rst_stream, 0, 0), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(0, FrameType::continuation, 0, 0), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(4, FrameType::push_promise, 0, 0), ErrorCode::protocol_error);
    // The connection's, only on it; WINDOW_UPDATE on either.
    EXPECT_EQ(error_of(8, FrameType::goaway, 0, 1), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(4, FrameType::window_update, 0, 0), ErrorCode::no_error);
    EXPECT_EQ(error_of(0, FrameType::settings, 0, 1), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(8, FrameType::ping, 0, 3), ErrorCode::protocol_error);
}

// PRIORITY carries one stream's priority, nothing of the connection's: a
// wrong size spoils only that stream (RFC 9113 section 6.3).
TEST(Task1_Frames, APriorityOfTheWrongSizeIsAStreamError) {
    auto check = [](std::uint32_t length) {
        http2::check_frame_header(FrameHeader{length, FrameType::priority, 0, 1}, 16384);
    };
    EXPECT_NO_THROW(check(5));
    for (std::uint32_t length : {0u, 4u, 6u}) {
        try {
            check(length);
            ADD_FAILURE() << "a PRIORITY of " << length << " bytes was let through";
        } catch (const http2::StreamError& error) {
            EXPECT_EQ(error.code(), ErrorCode::frame_size_error) << length << " bytes";
        } catch (const ConnectionError& error) {
            ADD_FAILURE() << "a PRIORITY of " << length << " bytes ended the connection: "
                          << error.what() << " (it is a stream error)";
        }
    }
}

TEST(Task1_Frames, SettingsParseKeepsKnownAndSkipsUnknown) {
    std::string payload = setting(kMaxConcurrentStreams, 10) + setting(0x99, 7) +
                          setting(kInitialWindowSize, 0x7fffffff) +
                          setting(kMaxFrameSize, 16777215);
    std::vector<http2::Setting> parsed = http2::parse_settings(payload);
    ASSERT_EQ(parsed.size(), 3u);
    EXPECT_EQ(parsed[0].id, http2::SettingId::max_concurrent_streams);
    EXPECT_EQ(parsed[0].value, 10u);
    EXPECT_EQ(parsed[1].id, http2::SettingId::initial_window_size);
    EXPECT_EQ(parsed[1].value, 0x7fffffffu);
    EXPECT_EQ(parsed[2].value, 16777215u);
    EXPECT_EQ(http2::write_settings(parsed), setting(kMaxConcurrentStreams, 10) +
                                                 setting(kInitialWindowSize, 0x7fffffff) +
                                                 setting(kMaxFrameSize, 16777215));
}

// A setting's id is 16 bits: 0x0104 and 0x0400 are settings we do not
// know (skipped), not INITIAL_WINDOW_SIZE (4) read from one of the bytes.
// Their values here would be out of range for it.
TEST(Task1_Frames, ASettingIdIsSixteenBits) {
    std::vector<http2::Setting> parsed;
    EXPECT_NO_THROW(parsed = http2::parse_settings(setting(0x0104, 0xffffffffu) +
                                                   setting(0x0400, 0xffffffffu) +
                                                   setting(kMaxFrameSize, 32768)))
        << "an unknown 16-bit id was read as a known one";
    ASSERT_EQ(parsed.size(), 1u) << "unknown ids are skipped";
    EXPECT_EQ(parsed[0].id, http2::SettingId::max_frame_size);
    EXPECT_EQ(parsed[0].value, 32768u);
}

TEST(Task1_Frames, SettingsWithABadLengthIsAFrameSizeError) {
    EXPECT_EQ(connection_error_of([] { http2::parse_settings(std::string(5, '\0')); }),
              ErrorCode::frame_size_error);
    EXPECT_EQ(connection_error_of([] { http2::parse_settings(std::string(13, '\0')); }),
              ErrorCode::frame_size_error);
}

TEST(Task1_Frames, SettingsValuesOutOfRange) {
    auto error_of = [](std::uint16_t id, std::uint32_t value) {
        return connection_error_of([&] { http2::parse_settings(setting(id, value)); });
    };
    EXPECT_EQ(error_of(kEnablePush, 2), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(kEnablePush, 1), ErrorCode::no_error);
    EXPECT_EQ(error_of(kMaxFrameSize, 16383), ErrorCode::protocol_error);
    // The bounds themselves are fine: Python's h2 announces 16384.
    EXPECT_EQ(error_of(kMaxFrameSize, 16384), ErrorCode::no_error);
    EXPECT_EQ(error_of(kMaxFrameSize, 16777215), ErrorCode::no_error);
    EXPECT_EQ(error_of(kMaxFrameSize, 16777216), ErrorCode::protocol_error);
    EXPECT_EQ(error_of(kInitialWindowSize, 0x80000000u), ErrorCode::flow_control_error);
    EXPECT_EQ(error_of(kInitialWindowSize, 0x7fffffffu), ErrorCode::no_error);
}

TEST(Task1_Frames, PaddingIsRemovedAndChecked) {
    FrameHeader padded{8, FrameType::data, http2::flags::kPadded, 1};
    EXPECT_EQ(http2::remove_padding(padded, bytes({3, 'a', 'b', 'c', 'd', 0, 0, 0})), "abcd");
    EXPECT_EQ(connection_error_of([&] {
                  http2::remove_padding(padded, bytes({8, 'a', 0, 0}));
              }),
              ErrorCode::protocol_error);
}

// --- over a connection ----------------------------------------------------------------------

class Task1_FramesOnTheWire : public HTTP2ServerTest {};

TEST_F(Task1_FramesOnTheWire, ServerSendsItsSettingsAndAcknowledgesOurs) {
    start();
    H2Client client(port(), false);
    client.send(kPreface + frame_bytes(kSettings, 0, 0, setting(kMaxFrameSize, 32768)));
    Frame first = client.read_frame();
    ASSERT_EQ(first.type, kSettings);
    EXPECT_FALSE(first.has(kAck));
    Frame ack = client.read_until([](const Frame& f) { return f.type == kSettings; });
    EXPECT_TRUE(ack.has(kAck));
    EXPECT_EQ(ack.length, 0u);
}

TEST_F(Task1_FramesOnTheWire, ServerAnnouncesItsLimits) {
    HTTP2ConnectionParameters params;
    params.max_concurrent_streams = 7;
    params.initial_window_size = 1234;
    start(test_routes, params);
    H2Client client(port());
    EXPECT_EQ(client.server_settings[kMaxConcurrentStreams], 7u);
    EXPECT_EQ(client.server_settings[kInitialWindowSize], 1234u);
    EXPECT_TRUE(client.server_settings.count(kMaxHeaderListSize));
}

TEST_F(Task1_FramesOnTheWire, PingIsAnsweredWithTheSameBytes) {
    start();
    H2Client client(port());
    client.send_frame(kPing, 0, 0, "12345678");
    Frame pong = client.read_until([](const Frame& f) { return f.type == kPing; });
    EXPECT_TRUE(pong.has(kAck));
    EXPECT_EQ(pong.payload, "12345678");
}

TEST_F(Task1_FramesOnTheWire, AnOversizeFrameEndsTheConnection) {
    start();
    H2Client client(port());
    // The header alone: the server must refuse it before reading the payload.
    client.send(frame_bytes(kData, 0, 1, "", 16385));
    EXPECT_EQ(client.expect_goaway(), kFrameSizeError);
    EXPECT_TRUE(client.closed_by_server());
    expect_still_accepting();
}

TEST_F(Task1_FramesOnTheWire, SettingsOfABadLengthEndTheConnection) {
    start();
    H2Client client(port());
    client.send_frame(kSettings, 0, 0, std::string(7, '\0'));
    EXPECT_EQ(client.expect_goaway(), kFrameSizeError);
    EXPECT_TRUE(client.closed_by_server());
}

TEST_F(Task1_FramesOnTheWire, SettingsOfABadValueEndTheConnection) {
    start();
    {
        H2Client client(port());
        client.send_frame(kSettings, 0, 0, setting(kInitialWindowSize, 0x80000000u));
        EXPECT_EQ(client.expect_goaway(), kFlowControlError);
    }
    {
        H2Client client(port());
        client.send_frame(kSettings, 0, 0, setting(kMaxFrameSize, 100));
        EXPECT_EQ(client.expect_goaway(), kProtocolError);
    }
}

TEST_F(Task1_FramesOnTheWire, AWrongPrefaceClosesTheConnection) {
    start();
    H2Client client(port(), false);
    client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(client.closed_by_server(2s));
    expect_still_accepting();
}

TEST_F(Task1_FramesOnTheWire, TheFirstFrameMustBeSettings) {
    start();
    H2Client client(port(), false);
    client.send(kPreface + frame_bytes(kPing, 0, 0, "12345678"));
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
}

// The stream is reset; the frame's payload is read past, so the frames
// after it are read whole, and the connection goes on.
TEST_F(Task1_FramesOnTheWire, APriorityOfTheWrongSizeResetsItsStreamOnly) {
    start();
    H2Client client(port());
    client.send_frame(kPriority, 0, 1, "abcd");
    EXPECT_EQ(client.expect_rst(1), kFrameSizeError);
    client.send_frame(kPriority, 0, 3, "abcdef");
    EXPECT_EQ(client.expect_rst(3), kFrameSizeError);
    client.send_frame(kPing, 0, 0, "still on");
    Frame pong =
        client.read_until([](const Frame& f) { return f.type == kPing || f.type == kGoaway; });
    EXPECT_EQ(pong.type, kPing) << "the connection must go on, its frames read whole";
    EXPECT_EQ(pong.payload, "still on");
}

// Inside a header block, nothing but its CONTINUATION may come: a broken
// PRIORITY there is the connection's error, not its stream's.
TEST_F(Task1_FramesOnTheWire, APriorityOfTheWrongSizeInsideAHeaderBlockEndsTheConnection) {
    start();
    H2Client client(port());
    client.send_frame(kHeaders, kEndStream, 1, client.encode(get_fields("/")));  // no END_HEADERS
    client.send_frame(kPriority, 0, 3, "abcd");
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
}

TEST_F(Task1_FramesOnTheWire, UnknownFrameTypesAreIgnored) {
    start();
    H2Client client(port());
    client.send_frame(0x2a, 0xff, 0, "whatever");
    client.send_frame(0x2b, 0, 1, "");
    client.send_frame(kPing, 0, 0, "after 2a");
    Frame pong =
        client.read_until([](const Frame& f) { return f.type == kPing || f.type == kGoaway; });
    EXPECT_EQ(pong.type, kPing) << "an unknown type must be ignored, not refused";
    EXPECT_EQ(pong.payload, "after 2a");
}

// PING obliges the server to answer. A client that asks faster than it
// reads the answers must not make the server hold them without bound
// (chapter 04's rule): past max_unsent_replies, GOAWAY ENHANCE_YOUR_CALM.
TEST_F(Task1_FramesOnTheWire, APingFloodFromAClientThatDoesNotReadIsCut) {
    HTTP2ConnectionParameters params;
    params.max_unsent_replies = 50;
    start(test_routes, params);
    H2Client client(port());
    std::string burst;
    for (int i = 0; i < 1000; ++i) burst += frame_bytes(kPing, 0, 0, "floodfld");
    // Without reading, until the server closes the connection (or 256 MB):
    // first the kernel's buffers fill with answers, then the server's, and
    // past its limit it says GOAWAY, which we do not read either, and
    // closes (at most kCloseAfterFlushLimit, 5 s, later). `at` keeps the
    // frames whole across partial sends.
    std::size_t sent = 0;
    std::size_t at = 0;
    bool closed = false;
    while (sent < 256u * 1024 * 1024) {
        ssize_t n =
            ::send(client.fd(), burst.data() + at, burst.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            at = (at + static_cast<std::size_t>(n)) % burst.size();
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {  // reset, or a broken pipe
            closed = true;
            break;
        }
        pollfd writable{client.fd(), POLLOUT, 0};
        if (::poll(&writable, 1, 10000) <= 0) break;  // neither read nor closed for 10 s
    }
    EXPECT_TRUE(closed) << "the server went on taking PINGs from a client that reads nothing ("
                        << sent << " bytes sent)";
    expect_still_accepting();
}

}  // namespace
}  // namespace course::testing
