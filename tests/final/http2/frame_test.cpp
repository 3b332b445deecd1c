// frame_test.cpp: final/http2's own frames (frame.h): the reader on input
// cut anywhere, each rule a frame alone can break, and libnghttp2's client
// both ways: what it writes our reader reads frame for frame, and what our
// writer writes it takes.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"
#include "hpack.h"
#include "nghttp2_client.h"

namespace {

using namespace tornado::detail;
using Type = HTTP2FrameType;
using Code = HTTP2ErrorCode;

using http2_test::Client;
using http2_test::ReadFrame;

std::vector<ReadFrame> read_all(HTTP2FrameReader& reader, std::string_view input) {
    std::vector<ReadFrame> frames;
    while (auto frame = reader.next(input)) {
        const HTTP2FrameHeader& h = frame->header;
        frames.push_back({h.length, h.type, h.flags, h.stream_id, std::string(frame->payload)});
    }
    EXPECT_TRUE(input.empty());
    return frames;
}

std::string frame(std::uint32_t length, Type type, std::uint8_t flags, std::uint32_t stream_id,
                  std::string_view payload) {
    std::string out;
    append_http2_frame_header(out, length, type, flags, stream_id);
    out.append(payload);
    return out;
}

std::string frame(Type type, std::uint8_t flags, std::uint32_t stream_id,
                  std::string_view payload = {}) {
    return frame(static_cast<std::uint32_t>(payload.size()), type, flags, stream_id, payload);
}

std::string be32(std::uint32_t value) {  // the reserved bit too, when asked
    return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
            static_cast<char>(value >> 8), static_cast<char>(value)};
}

// One of each frame a client sends, and two a server does.
std::string a_mix_of_frames() {
    std::string bytes;
    HTTP2Setting settings[] = {{HTTP2SettingId::max_concurrent_streams, 100},
                               {HTTP2SettingId::initial_window_size, 1 << 20}};
    append_settings_frame(bytes, settings);
    append_settings_ack(bytes);
    append_header_block(bytes, 1, std::string(40000, 'h'), false, 16384);
    // DATA padded with 3 bytes, and HEADERS (trailers) padded with a priority.
    bytes += frame(Type::data, http2_flags::kPadded, 1,
                   std::string("\x03"
                               "body"
                               "\0\0\0",
                               8));
    bytes += frame(Type::headers,
                   http2_flags::kPadded | http2_flags::kPriority | http2_flags::kEndHeaders |
                       http2_flags::kEndStream,
                   1, "\x02" + be32(0x80000003) + "\x10" + "trailer" + std::string(2, '\0'));
    bytes += frame(Type::priority, 0, 5, be32(3) + "\x20");
    std::string ping = frame(Type::ping, 0, 0, "12345678");
    ping[5] = '\x80';  // the reserved bit, which a receiver ignores
    bytes += ping;
    append_ping_ack(bytes, "87654321");
    append_window_update(bytes, 0, 1 << 30);
    append_rst_stream(bytes, 7, Code::cancel);
    bytes += frame(static_cast<Type>(0x2a), 0xff, 9, "an extension");
    append_goaway(bytes, 7, Code::enhance_your_calm, "calm down");
    return bytes;
}

TEST(HTTP2FrameReader, ReadsTheSameFramesHoweverTheBytesAreCut) {
    std::string bytes = a_mix_of_frames();
    HTTP2FrameReader whole;
    std::vector<ReadFrame> expected = read_all(whole, bytes);
    ASSERT_EQ(expected.size(), 14u);  // HEADERS and two CONTINUATIONs
    EXPECT_EQ(expected[2].type, Type::headers);
    EXPECT_EQ(expected[2].flags, 0);
    EXPECT_EQ(expected[2].payload.size(), 16384u);
    EXPECT_EQ(expected[4].type, Type::continuation);
    EXPECT_EQ(expected[4].flags, http2_flags::kEndHeaders);
    EXPECT_EQ(expected[4].payload.size(), 40000u - 2 * 16384);
    EXPECT_EQ(expected[5].payload, "body");
    EXPECT_EQ(expected[5].length, 8u);  // what flow control counts
    EXPECT_EQ(expected[6].payload, "trailer");
    EXPECT_EQ(expected[8].payload, "12345678");
    EXPECT_EQ(expected[11].stream_id, 7u);
    EXPECT_EQ(expected[12].type, static_cast<Type>(0x2a));

    for (std::size_t piece = 1; piece <= 64; ++piece) {
        HTTP2FrameReader reader;
        std::vector<ReadFrame> frames;
        for (std::size_t at = 0; at < bytes.size(); at += piece) {
            std::string_view input = std::string_view(bytes).substr(at, piece);
            while (auto f = reader.next(input)) {
                frames.push_back({f->header.length, f->header.type, f->header.flags,
                                  f->header.stream_id, std::string(f->payload)});
            }
            EXPECT_LE(reader.partial_bytes(), kHTTP2FrameHeaderSize + 16384);
        }
        ASSERT_EQ(frames, expected) << "in pieces of " << piece;
        EXPECT_EQ(reader.partial_bytes(), 0u);
    }
    for (std::size_t cut = 0; cut <= bytes.size(); cut += 7) {
        HTTP2FrameReader reader;
        std::vector<ReadFrame> frames = read_all(reader, std::string_view(bytes).substr(0, cut));
        std::vector<ReadFrame> rest = read_all(reader, std::string_view(bytes).substr(cut));
        frames.insert(frames.end(), rest.begin(), rest.end());
        ASSERT_EQ(frames, expected) << "cut at " << cut;
    }
}

TEST(HTTP2FrameWriter, EndStreamGoesOnTheHeadersFrameEndHeadersOnTheLast) {
    std::string bytes;
    append_header_block(bytes, 3, std::string(20000, 'h'), true, 16384);
    append_header_block(bytes, 5, "small", true, 16384);
    HTTP2FrameReader reader;
    std::vector<ReadFrame> frames = read_all(reader, bytes);
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0], (ReadFrame{16384, Type::headers, http2_flags::kEndStream, 3,
                                    std::string(16384, 'h')}));
    EXPECT_EQ(frames[1], (ReadFrame{3616, Type::continuation, http2_flags::kEndHeaders, 3,
                                    std::string(3616, 'h')}));
    EXPECT_EQ(frames[2],
              (ReadFrame{5, Type::headers, http2_flags::kEndStream | http2_flags::kEndHeaders, 5,
                         "small"}));
}

TEST(HTTP2FrameReader, ReadsGoAwayRstStreamAndWindowUpdatePayloads) {
    std::string bytes;
    append_goaway(bytes, 0x7fffffff, Code::enhance_your_calm, std::string(300, 'd'));
    append_rst_stream(bytes, 3, static_cast<Code>(0x1234));
    append_window_update(bytes, 3, 0xffffffff);  // the reserved bit goes
    HTTP2FrameReader reader;
    std::string_view input = bytes;
    HTTP2GoAway goaway = http2_goaway(*reader.next(input));
    EXPECT_EQ(goaway.last_stream_id, 0x7fffffffu);
    EXPECT_EQ(goaway.code, Code::enhance_your_calm);
    EXPECT_EQ(goaway.debug, std::string(256, 'd'));
    EXPECT_EQ(http2_rst_stream_code(*reader.next(input)), static_cast<Code>(0x1234));
    EXPECT_EQ(http2_error_name(static_cast<Code>(0x1234)), "ERROR(4660)");
    EXPECT_EQ(http2_window_increment(*reader.next(input)), 0x7fffffffu);
}

struct BadFrame {
    const char* what;
    std::string bytes;
    bool stream_error;
    Code code;
    const char* message;
};

TEST(HTTP2FrameReader, RefusesWhatAFrameAloneBreaks) {
    const std::string five = be32(1) + "\x10";
    const std::vector<BadFrame> cases = {
        {"a payload over our SETTINGS_MAX_FRAME_SIZE", frame(16385, Type::data, 0, 1, ""), false,
         Code::frame_size_error, "DATA of 16385 bytes: over SETTINGS_MAX_FRAME_SIZE 16384"},
        {"DATA on stream 0", frame(Type::data, 0, 0, "x"), false, Code::protocol_error,
         "DATA on stream 0: needs a stream"},
        {"CONTINUATION on stream 0", frame(Type::continuation, 4, 0, "x"), false,
         Code::protocol_error, "needs a stream"},
        {"SETTINGS on a stream", frame(Type::settings, 0, 1, ""), false, Code::protocol_error,
         "SETTINGS on stream 1: belongs to stream 0"},
        {"PING on a stream", frame(Type::ping, 0, 3, "12345678"), false, Code::protocol_error,
         "belongs to stream 0"},
        {"GOAWAY on a stream", frame(Type::goaway, 0, 3, std::string(8, '\0')), false,
         Code::protocol_error, "belongs to stream 0"},
        {"PING of 7 bytes", frame(Type::ping, 0, 0, "1234567"), false, Code::frame_size_error,
         "PING of 7 bytes: must be 8 bytes"},
        {"WINDOW_UPDATE of 5 bytes", frame(Type::window_update, 0, 0, "12345"), false,
         Code::frame_size_error, "must be 4 bytes"},
        {"RST_STREAM of 3 bytes", frame(Type::rst_stream, 0, 1, "123"), false,
         Code::frame_size_error, "must be 4 bytes"},
        {"SETTINGS of 7 bytes", frame(Type::settings, 0, 0, "1234567"), false,
         Code::frame_size_error, "not a multiple of 6"},
        {"a SETTINGS ACK with settings", frame(Type::settings, 1, 0, "123456"), false,
         Code::frame_size_error, "an ACK is empty"},
        {"GOAWAY of 7 bytes", frame(Type::goaway, 0, 0, "1234567"), false, Code::frame_size_error,
         "at least 8 bytes"},
        {"PADDED DATA without a pad length", frame(Type::data, http2_flags::kPadded, 1, ""), false,
         Code::protocol_error, "PADDED without a pad length"},
        {"padding as long as the payload",
         frame(Type::data, http2_flags::kPadded, 1,
               "\x03"
               "ab"),
         false, Code::protocol_error, "padding of 3 bytes in a payload of 3"},
        {"HEADERS padding longer than the payload",
         frame(Type::headers, http2_flags::kPadded | http2_flags::kEndHeaders, 1,
               "\x09"
               "abc"),
         false, Code::protocol_error, "padding of 9 bytes"},
        {"HEADERS with PRIORITY and 4 bytes",
         frame(Type::headers, http2_flags::kPriority | http2_flags::kEndHeaders, 1, "abcd"), false,
         Code::frame_size_error, "PRIORITY flag without its 5 bytes"},
        {"HEADERS that depends on its own stream",
         frame(Type::headers, http2_flags::kPriority | http2_flags::kEndHeaders, 1, five + "\x82"),
         false, Code::protocol_error, "HEADERS on stream 1: the stream depends on itself"},
        {"PRIORITY of 4 bytes", frame(Type::priority, 0, 3, "abcd"), true, Code::frame_size_error,
         "FRAME_SIZE_ERROR on stream 3: PRIORITY of 4 bytes, not 5"},
        {"PRIORITY that depends on its own stream", frame(Type::priority, 0, 1, five), true,
         Code::protocol_error, "PRIORITY: the stream depends on itself"},
    };
    for (const BadFrame& bad : cases) {
        for (bool in_pieces : {false, true}) {
            HTTP2FrameReader reader;
            std::string_view input = bad.bytes;
            try {
                if (in_pieces) {
                    std::string_view first = input.substr(0, 5);
                    EXPECT_FALSE(reader.next(first)) << bad.what;
                    input.remove_prefix(5);
                }
                reader.next(input);
                ADD_FAILURE() << bad.what << ": read without an error";
            } catch (const HTTP2ConnectionError& error) {
                EXPECT_FALSE(bad.stream_error) << bad.what << ": " << error.what();
                EXPECT_EQ(error.code(), bad.code) << bad.what << ": " << error.what();
                EXPECT_NE(std::string(error.what()).find(bad.message), std::string::npos)
                    << bad.what << ": " << error.what();
            } catch (const HTTP2StreamError& error) {
                EXPECT_TRUE(bad.stream_error) << bad.what << ": " << error.what();
                EXPECT_EQ(error.code(), bad.code) << bad.what << ": " << error.what();
                EXPECT_NE(std::string(error.what()).find(bad.message), std::string::npos)
                    << bad.what << ": " << error.what();
                // The frame is taken: the next one reads.
                EXPECT_TRUE(input.empty()) << bad.what;
            }
        }
    }
}

TEST(HTTP2FrameReader, RefusesAFrameTooLargeFromItsHeaderAlone) {
    HTTP2FrameReader reader(20000);
    std::string bytes = frame(20000, Type::data, 0, 1, std::string(20000, 'x'));
    std::string_view input = bytes;
    EXPECT_TRUE(reader.next(input));
    reader.set_max_frame_size(16384);
    std::string header = frame(20000, Type::data, 0, 1, "");
    std::string_view only_the_header = header;
    EXPECT_THROW(reader.next(only_the_header), HTTP2ConnectionError);
}

TEST(HTTP2Settings, KnownSettingsInOrderUnknownOnesSkippedValuesOutOfRangeRefused) {
    auto read_settings = [](std::vector<std::pair<std::uint16_t, std::uint32_t>> entries) {
        std::string payload;
        for (auto [id, value] : entries) {
            payload += static_cast<char>(id >> 8);
            payload += static_cast<char>(id);
            payload += be32(value);
        }
        std::string bytes = frame(Type::settings, 0, 0, payload);
        std::string_view input = bytes;
        HTTP2FrameReader reader;
        return http2_settings(*reader.next(input));
    };
    auto settings = read_settings({{0x3, 100}, {0x99, 7}, {0x4, 0x7fffffff}, {0x5, 16777215}});
    ASSERT_EQ(settings.size(), 3u);
    EXPECT_EQ(settings[0].id, HTTP2SettingId::max_concurrent_streams);
    EXPECT_EQ(settings[1].value, 0x7fffffffu);
    EXPECT_EQ(settings[2].id, HTTP2SettingId::max_frame_size);

    auto refused = [&](std::uint16_t id, std::uint32_t value) -> std::optional<Code> {
        try {
            read_settings({{id, value}});
        } catch (const HTTP2ConnectionError& error) {
            return error.code();
        }
        return std::nullopt;
    };
    EXPECT_EQ(refused(0x2, 2), Code::protocol_error);
    EXPECT_EQ(refused(0x4, 0x80000000), Code::flow_control_error);
    EXPECT_EQ(refused(0x5, 16383), Code::protocol_error);
    EXPECT_EQ(refused(0x5, 16777216), Code::protocol_error);
    EXPECT_EQ(refused(0x2, 1), std::nullopt);
    EXPECT_EQ(refused(0x1, 0xffffffff), std::nullopt);
}

TEST(HTTP2WindowUpdate, AnIncrementOfZeroIsAStreamOrAConnectionError) {
    HTTP2FrameReader reader;
    std::string on_stream = frame(Type::window_update, 0, 5, be32(0x80000000));
    std::string_view input = on_stream;
    try {
        http2_window_increment(*reader.next(input));
        ADD_FAILURE() << "an increment of 0 on a stream was taken";
    } catch (const HTTP2StreamError& error) {
        EXPECT_EQ(error.stream_id(), 5u);
        EXPECT_EQ(error.code(), Code::protocol_error);
    }
    std::string on_connection = frame(Type::window_update, 0, 0, be32(0));
    input = on_connection;
    EXPECT_THROW(http2_window_increment(*reader.next(input)), HTTP2ConnectionError);
}

// --- against libnghttp2's client ---------------------------------------------------------

TEST(HTTP2FrameReader, ReadsWhatLibnghttp2sClientWritesFrameForFrame) {
    Client client;
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                         {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
                                         {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, settings, 3);
    std::string body(50000, 'b');  // within the first window
    std::int32_t id = client.request({{":method", "POST"},
                                      {":scheme", "http"},
                                      {":path", "/upload"},
                                      {":authority", "example.com"},
                                      {"x-long", std::string(20000, 'v')}},
                                     body);
    nghttp2_priority_spec dependency;
    nghttp2_priority_spec_init(&dependency, id, 16, 0);
    nghttp2_submit_priority(client.session, NGHTTP2_FLAG_NONE, id + 2, &dependency);
    nghttp2_submit_ping(client.session, NGHTTP2_FLAG_NONE, nullptr);
    nghttp2_submit_window_update(client.session, NGHTTP2_FLAG_NONE, 0, 1000);
    nghttp2_submit_rst_stream(client.session, NGHTTP2_FLAG_NONE, id + 4, NGHTTP2_CANCEL);
    nghttp2_submit_goaway(client.session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR,
                          reinterpret_cast<const std::uint8_t*>("bye"), 3);
    std::string bytes = client.send();
    ASSERT_EQ(std::string_view(bytes).substr(0, kHTTP2Preface.size()), kHTTP2Preface);
    bytes.erase(0, kHTTP2Preface.size());

    HTTP2FrameReader reader;
    std::vector<ReadFrame> read = read_all(reader, bytes);
    // libnghttp2 reports a header block as one HEADERS frame whose length
    // is the whole block's; the CONTINUATIONs are ours to join.
    std::vector<ReadFrame> joined;
    std::string block;
    std::string received_body;
    int padded = 0;
    for (const ReadFrame& f : read) {
        if (f.type == Type::continuation) {
            joined.back().length += f.length;
        } else {
            joined.push_back({f.length, f.type, f.flags, f.stream_id, ""});
        }
        if (f.type == Type::headers || f.type == Type::continuation) block += f.payload;
        if (f.type == Type::data) received_body += f.payload;
        if (f.type == Type::data && f.length > f.payload.size()) ++padded;
    }
    EXPECT_GT(padded, 0);
    ASSERT_EQ(joined.size(), client.sent.size());
    for (std::size_t i = 0; i < joined.size(); ++i) {
        // nghttp2 counts the HEADERS' length without its CONTINUATIONs'
        // headers, and its flags as sent on the first frame.
        if (joined[i].type == Type::headers) joined[i].flags = client.sent[i].flags;
        EXPECT_EQ(joined[i], client.sent[i])
            << "frame " << i << ", " << http2_frame_type_name(joined[i].type);
    }
    EXPECT_EQ(received_body, body);
    HPACKDecoder decoder;
    std::vector<std::pair<std::string, std::string>> fields;
    decoder.decode(block, [&](std::string_view name, std::string_view value) {
        fields.emplace_back(name, value);
    });
    ASSERT_EQ(fields.size(), 5u);
    EXPECT_EQ(fields[4].second, std::string(20000, 'v'));
}

TEST(HTTP2FrameWriter, Libnghttp2sClientTakesWhatItWrites) {
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::int32_t first = client.request(
        {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "a"}}, "");
    std::int32_t second = client.request(
        {{":method", "GET"}, {":scheme", "http"}, {":path", "/2"}, {":authority", "a"}}, "");
    client.send();

    std::string bytes;
    HTTP2Setting settings[] = {{HTTP2SettingId::max_concurrent_streams, 100},
                               {HTTP2SettingId::initial_window_size, 65535},
                               {HTTP2SettingId::enable_push, 0}};
    append_settings_frame(bytes, settings);
    append_window_update(bytes, 0, 1 << 20);
    append_settings_ack(bytes);
    HPACKEncoder encoder;
    std::string block;
    std::string cookie(40000, 'c');  // three frames' worth: CONTINUATIONs
    encoder.encode({{":status", "200"}, {"set-cookie", cookie}}, block);
    append_header_block(bytes, static_cast<std::uint32_t>(first), block, false, 16384);
    append_http2_frame_header(bytes, 5, Type::data, http2_flags::kEndStream,
                              static_cast<std::uint32_t>(first));
    bytes += "hello";
    append_rst_stream(bytes, static_cast<std::uint32_t>(second), Code::refused_stream);
    append_ping_ack(bytes, "12345678");
    client.receive(bytes);
    // It found nothing to object to: it answers our SETTINGS, and no more.
    client.sent.clear();
    client.send();
    ASSERT_EQ(client.sent.size(), 1u);
    EXPECT_EQ(client.sent[0].type, Type::settings);
    EXPECT_EQ(client.sent[0].flags, http2_flags::kAck);
    bytes.clear();
    append_goaway(bytes, 0, Code::no_error, "stopping");
    client.receive(bytes);

    EXPECT_EQ(client.received,
              (std::vector<Type>{Type::settings, Type::window_update, Type::settings, Type::headers,
                                 Type::data, Type::rst_stream, Type::ping, Type::goaway}));
    ASSERT_EQ(client.fields.size(), 2u);
    EXPECT_EQ(client.fields[1].second, cookie);
    EXPECT_EQ(client.data, "hello");
    EXPECT_EQ(client.closed, (std::vector<std::pair<std::int32_t, std::uint32_t>>{
                                 {first, NGHTTP2_NO_ERROR}, {second, NGHTTP2_REFUSED_STREAM}}));
}

}  // namespace
