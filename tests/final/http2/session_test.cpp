// session_test.cpp: final/http2's own protocol session (http2session.h)
// against libnghttp2's client, in memory: requests and answers, both
// levels of flow control both ways, resets either way, trailers, the
// graceful GOAWAY, h2c's Upgrade; and raw frames for each connection
// error and flood bound, each answered with the GOAWAY RFC 9113 names.
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frame.h"
#include "http2session.h"
#include "nghttp2_client.h"

namespace {

using namespace tornado::detail;
using http2_test::Client;
using Code = HTTP2ErrorCode;
using Type = HTTP2FrameType;
using Fields = std::vector<std::pair<std::string, std::string>>;

// A server on the session: it answers each request once whole with
// answers[its path] (none: 204), taking the request's body as it comes
// unless `hold_bodies`.
struct Server final : HTTP2Session::Listener {
    struct Request {
        Fields fields;
        std::string body;
        bool whole = false;
        bool closed = false;
        Code code = Code::no_error;
        std::string answer;
        std::size_t answer_sent = 0;
        bool answer_ready = true;
    };

    explicit Server(HTTP2Session::Limits limits = {}) : session(*this, limits) {}

    std::map<std::string, std::string> answers;
    std::map<std::uint32_t, Request> requests;
    std::vector<std::uint32_t> opened;
    bool hold_bodies = false;
    bool answer_when_whole = true;
    std::function<void(std::uint32_t)> before_answer;
    HTTP2Session session;

    void on_stream_open(std::uint32_t id) noexcept override {
        opened.push_back(id);
        requests[id];
    }
    void on_field(std::uint32_t id, std::string_view name,
                  std::string_view value) noexcept override {
        requests[id].fields.emplace_back(name, value);
    }
    void on_request(std::uint32_t) noexcept override {}
    void on_data(std::uint32_t id, std::string_view data) noexcept override {
        requests[id].body += data;
        if (!hold_bodies) session.consume(id, data.size());
    }
    void on_request_end(std::uint32_t id) noexcept override {
        requests[id].whole = true;
        if (answer_when_whole) answer(id);
    }
    void on_stream_close(std::uint32_t id, Code code) noexcept override {
        requests[id].closed = true;
        requests[id].code = code;
    }
    Body body_ready(std::uint32_t id, std::size_t most) noexcept override {
        Request& request = requests[id];
        if (!request.answer_ready) return {0, false};
        std::size_t left = request.answer.size() - request.answer_sent;
        return {std::min(left, most), most >= left};
    }
    void take_body(std::uint32_t id, HTTP2FrameBatch& batch, std::size_t length) noexcept override {
        Request& request = requests[id];
        batch.append(std::string_view(request.answer).substr(request.answer_sent, length));
        request.answer_sent += length;
    }

    std::string path_of(std::uint32_t id) {
        for (auto& [name, value] : requests[id].fields) {
            if (name == ":path") return value;
        }
        return "";
    }
    void answer(std::uint32_t id) {
        Request& request = requests[id];
        request.answer = answers[path_of(id)];
        if (before_answer) before_answer(id);
        std::vector<HPACKField> fields = {{":status", request.answer.empty() ? "204" : "200"}};
        session.submit_response(id, fields, !request.answer.empty());
    }
    std::string send() {
        HTTP2FrameBatch batch;
        batch.start(false, 0);
        session.send(batch, 65536);
        return std::string(batch.copied_bytes());
    }
};

Fields get(std::string path) {
    return {{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "a"}};
}

Fields post(std::string path) {
    return {{":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "a"}};
}

// Hands each side's frames to the other until neither has any.
void pump(Client& client, Server& server) {
    for (int round = 0; round < 10000; ++round) {
        std::string up = client.send();
        if (!up.empty()) server.session.receive(up);
        std::string down = server.send();
        if (!down.empty()) client.receive(down);
        if (up.empty() && down.empty()) return;
    }
    FAIL() << "the two sides still talk after 10,000 rounds";
}

std::vector<HTTP2Frame> frames_in(std::string_view bytes, std::vector<std::string>& keep) {
    keep.emplace_back(bytes);
    std::string_view input = keep.back();
    HTTP2FrameReader reader(kHTTP2LargestMaxFrameSize);
    std::vector<HTTP2Frame> frames;
    while (auto frame = reader.next(input)) frames.push_back(*frame);
    return frames;
}

TEST(HTTP2Session, AnswersWhatLibnghttp2sClientAsks) {
    Server server;
    server.answers = {{"/a", "hello"}, {"/b", std::string(100000, 'b')}};
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::int32_t a = client.request(get("/a"), "");
    std::int32_t b = client.request(get("/b"), "");
    std::int32_t c = client.request(get("/c"), "");
    pump(client, server);
    EXPECT_EQ(client.data_of[a], "hello");
    EXPECT_EQ(client.data_of[b], std::string(100000, 'b'));  // past both first windows
    EXPECT_EQ(client.data_of.count(c), 0u);
    EXPECT_EQ(client.fields_of[c], (Fields{{":status", "204"}}));
    EXPECT_EQ(client.closed.size(), 3u);
    for (auto [id, code] : client.closed) EXPECT_EQ(code, NGHTTP2_NO_ERROR) << "stream " << id;
    for (std::uint32_t id : {1u, 3u, 5u}) {
        EXPECT_TRUE(server.requests[id].closed) << id;
        EXPECT_EQ(server.requests[id].code, Code::no_error) << id;
        EXPECT_EQ(server.requests[id].fields.size(), 4u) << id;
    }
    EXPECT_EQ(server.session.open_streams(), 0u);
    EXPECT_FALSE(server.session.want_write());
    EXPECT_TRUE(server.session.want_read());
}

TEST(HTTP2Session, ARequestBodyComesOnlyAsTheServerTakesIt) {
    Server server({.max_concurrent_streams = 100,
                   .stream_window = 65535,
                   .connection_window = 1 << 20,
                   .max_header_list_size = 65536});
    server.hold_bodies = true;
    server.answers = {{"/upload", "thanks"}};
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::string body(300000, 'u');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    std::int32_t id = client.request(post("/upload"), body);
    pump(client, server);
    Server::Request& request = server.requests[static_cast<std::uint32_t>(id)];
    EXPECT_EQ(request.body.size(), 65535u) << "the stream's window, no more";
    // Half a window taken opens it again, not less.
    auto window_updates = [&] {
        std::vector<std::string> keep;
        std::vector<std::uint32_t> streams;
        for (const HTTP2Frame& f : frames_in(server.send(), keep)) {
            if (f.header.type == Type::window_update) streams.push_back(f.header.stream_id);
        }
        return streams;
    };
    server.session.consume(static_cast<std::uint32_t>(id), 32766);
    EXPECT_EQ(window_updates(), std::vector<std::uint32_t>{});
    server.session.consume(static_cast<std::uint32_t>(id), 1);
    EXPECT_EQ(window_updates(), std::vector<std::uint32_t>{static_cast<std::uint32_t>(id)});
    std::size_t taken = 32767;
    for (int round = 0; round < 100 && !request.whole; ++round) {
        server.session.consume(static_cast<std::uint32_t>(id), request.body.size() - taken);
        taken = request.body.size();
        pump(client, server);
        EXPECT_LE(request.body.size() - taken, 65535u);
    }
    EXPECT_EQ(request.body, body);
    EXPECT_EQ(client.data_of[id], "thanks");
}

TEST(HTTP2Session, AnAnswerWaitsForTheClientsWindow) {
    Server server;
    server.answers = {{"/big", std::string(10000, 'x')}};
    Client client;
    nghttp2_settings_entry small_window[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000}};
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, small_window, 1);
    std::int32_t id = client.request(get("/big"), "");
    server.session.receive(client.send());
    std::vector<std::string> keep;
    std::size_t data_bytes = 0;
    std::string first = server.send();
    for (const HTTP2Frame& frame : frames_in(first, keep)) {
        if (frame.header.type == Type::data) data_bytes += frame.payload.size();
    }
    EXPECT_EQ(data_bytes, 1000u);
    client.receive(first);
    pump(client, server);
    EXPECT_EQ(client.data_of[id], std::string(10000, 'x'));
}

TEST(HTTP2Session, AnswersTakeTurnsAFrameEach) {
    Server server;
    server.answers = {{"/1", std::string(40000, '1')}, {"/2", std::string(40000, '2')}};
    Client client;
    nghttp2_settings_entry large[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, large, 1);
    nghttp2_submit_window_update(client.session, NGHTTP2_FLAG_NONE, 0, 1 << 20);
    client.request(get("/1"), "");
    client.request(get("/2"), "");
    server.session.receive(client.send());
    std::vector<std::string> keep;
    std::vector<std::uint32_t> order;
    std::string two_batches = server.send();
    two_batches += server.send();
    for (const HTTP2Frame& frame : frames_in(two_batches, keep)) {
        if (frame.header.type == Type::data) order.push_back(frame.header.stream_id);
    }
    EXPECT_EQ(order, (std::vector<std::uint32_t>{1, 3, 1, 3, 1, 3}));
}

TEST(HTTP2Session, ABodyNotReadyWaitsForResumeBody) {
    Server server;
    server.answers = {{"/slow", "later"}};
    server.before_answer = [&](std::uint32_t id) { server.requests[id].answer_ready = false; };
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::int32_t id = client.request(get("/slow"), "");
    pump(client, server);
    EXPECT_EQ(client.fields_of[id], (Fields{{":status", "200"}}));
    EXPECT_EQ(client.data_of.count(id), 0u);
    EXPECT_FALSE(server.session.want_write());
    server.requests[static_cast<std::uint32_t>(id)].answer_ready = true;
    server.session.resume_body(static_cast<std::uint32_t>(id));
    EXPECT_TRUE(server.session.want_write());
    pump(client, server);
    EXPECT_EQ(client.data_of[id], "later");
}

TEST(HTTP2Session, TrailersEndTheStream) {
    Server server;
    server.answers = {{"/grpc", "message"}};
    server.before_answer = [&](std::uint32_t id) {
        server.session.submit_trailers(id, {{"grpc-status", "0"}, {"grpc-message", "fine"}});
    };
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::int32_t id = client.request(get("/grpc"), "");
    pump(client, server);
    EXPECT_EQ(client.data_of[id], "message");
    EXPECT_EQ(client.fields_of[id],
              (Fields{{":status", "200"}, {"grpc-status", "0"}, {"grpc-message", "fine"}}));
    EXPECT_EQ(client.closed, (std::vector<std::pair<std::int32_t, std::uint32_t>>{{id, 0}}));
}

TEST(HTTP2Session, ResetsEitherWay) {
    Server server;
    server.answer_when_whole = false;
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::int32_t by_client = client.request(get("/1"), "");
    std::int32_t by_server = client.request(get("/2"), "");
    pump(client, server);
    nghttp2_submit_rst_stream(client.session, NGHTTP2_FLAG_NONE, by_client, NGHTTP2_CANCEL);
    server.session.reset_stream(static_cast<std::uint32_t>(by_server), Code::refused_stream);
    pump(client, server);
    EXPECT_EQ(server.requests[1].code, Code::cancel);
    EXPECT_TRUE(server.requests[3].closed);
    EXPECT_EQ(server.requests[3].code, Code::refused_stream);
    // The client closes its stream as it sends the RST_STREAM, before it
    // reads the server's.
    EXPECT_EQ(client.closed,
              (std::vector<std::pair<std::int32_t, std::uint32_t>>{
                  {by_client, NGHTTP2_CANCEL}, {by_server, NGHTTP2_REFUSED_STREAM}}));
    EXPECT_EQ(server.session.open_streams(), 0u);
}

TEST(HTTP2Session, StreamsPastTheLimitAreRefused) {
    Server server({.max_concurrent_streams = 2});
    server.answer_when_whole = false;
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    for (int i = 0; i < 3; ++i) client.request(get("/"), "");
    // All three go before the client has heard the server's limit.
    server.session.receive(client.send());
    client.receive(server.send());
    EXPECT_EQ(server.opened, (std::vector<std::uint32_t>{1, 3}));
    EXPECT_EQ(client.closed,
              (std::vector<std::pair<std::int32_t, std::uint32_t>>{{5, NGHTTP2_REFUSED_STREAM}}));
}

TEST(HTTP2Session, AGracefulGoAwayFinishesTheStreamsOpenAndTakesNoNewOne) {
    Server server;
    server.answer_when_whole = false;
    server.answers = {{"/", "done"}};
    Client client;
    nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    client.request(get("/"), "");
    pump(client, server);
    server.session.submit_goaway(Code::no_error);
    client.request(post("/"), "a body");  // crosses the GOAWAY
    server.session.receive(client.send());
    EXPECT_EQ(server.opened, (std::vector<std::uint32_t>{1}));
    std::vector<std::string> keep;
    for (const HTTP2Frame& f : frames_in(server.send(), keep)) {
        EXPECT_NE(f.header.type, Type::rst_stream) << "a frame that crossed the GOAWAY is ignored";
    }
    EXPECT_TRUE(server.session.want_read());
    EXPECT_FALSE(server.session.finished());
    server.answer(1);
    pump(client, server);
    EXPECT_EQ(client.data_of[1], "done");
    EXPECT_TRUE(server.session.finished());
}

TEST(HTTP2Session, AnUpgradeMakesTheRequestStreamOne) {
    Server server;
    server.answers = {{"/", "upgraded"}};
    Client client;
    nghttp2_settings_entry entries[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 100000}};
    std::uint8_t payload[16];
    ssize_t size = nghttp2_pack_settings_payload(payload, sizeof payload, entries, 1);
    ASSERT_GT(size, 0);
    ASSERT_EQ(nghttp2_session_upgrade2(client.session, payload, static_cast<std::size_t>(size), 0,
                                       nullptr),
              0);
    ASSERT_TRUE(server.session.upgrade(
        std::string_view(reinterpret_cast<const char*>(payload), static_cast<std::size_t>(size))));
    EXPECT_FALSE(server.session.upgrade("12345"));  // not whole settings
    server.requests[1].fields = get("/");
    server.answer(1);
    pump(client, server);
    EXPECT_EQ(client.data_of[1], "upgraded");
    EXPECT_TRUE(server.requests[1].closed);
}

// --- connection errors, from raw frames ---------------------------------------------------------

// A request's header block that needs no table: indexed :method GET,
// :scheme http, :path /, then :authority as a literal not indexed.
const std::string kRequestBlock =
    "\x82\x86\x84\x01\x01"
    "a";

std::string frame(Type type, std::uint8_t flags, std::uint32_t id, std::string_view payload = {}) {
    std::string out;
    append_http2_frame_header(out, static_cast<std::uint32_t>(payload.size()), type, flags, id);
    out.append(payload);
    return out;
}

std::string opening() { return std::string(kHTTP2Preface) + frame(Type::settings, 0, 0); }

std::string request(std::uint32_t id, std::uint8_t flags = http2_flags::kEndHeaders) {
    return frame(Type::headers, flags, id, kRequestBlock);
}

std::string repeat(const std::string& piece, int times) {
    std::string out;
    for (int i = 0; i < times; ++i) out += piece;
    return out;
}

struct ConnectionErrorCase {
    const char* what;
    std::string bytes;
    Code code;
    const char* message;
};

TEST(HTTP2Session, EachConnectionErrorEndsWithItsGoAway) {
    const std::string window_full("\x7f\xff\xff\xff", 4);
    const std::vector<ConnectionErrorCase> cases = {
        {"not the preface", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", Code::protocol_error,
         "not HTTP/2's connection preface"},
        {"PING before SETTINGS", std::string(kHTTP2Preface) + frame(Type::ping, 0, 0, "12345678"),
         Code::protocol_error, "the client's first frame is PING, not SETTINGS"},
        {"an even stream", opening() + request(2), Code::protocol_error,
         "a client's streams are odd"},
        {"ids going backwards", opening() + request(5) + request(3), Code::protocol_error,
         "HEADERS on stream 3, not above 5"},
        {"DATA on a stream never opened", opening() + frame(Type::data, 0, 1, "x"),
         Code::protocol_error, "DATA on stream 1, which was never opened"},
        {"WINDOW_UPDATE on a stream never opened",
         opening() + frame(Type::window_update, 0, 9, std::string("\0\0\0\1", 4)),
         Code::protocol_error, "WINDOW_UPDATE on stream 9, which was never opened"},
        {"RST_STREAM on a stream never opened",
         opening() + frame(Type::rst_stream, 0, 9, std::string("\0\0\0\0", 4)),
         Code::protocol_error, "RST_STREAM on stream 9, which was never opened"},
        {"CONTINUATION without HEADERS", opening() + frame(Type::continuation, 4, 1, "x"),
         Code::protocol_error, "CONTINUATION without a HEADERS on stream 1"},
        {"a PING inside a header block",
         opening() + request(1, 0) + frame(Type::ping, 0, 0, "12345678"), Code::protocol_error,
         "PING on stream 0 inside the header block of stream 1"},
        {"PUSH_PROMISE from the client", opening() + frame(Type::push_promise, 4, 1, "1234"),
         Code::protocol_error, "PUSH_PROMISE from a client"},
        {"the connection's window past 2^31-1",
         opening() + frame(Type::window_update, 0, 0, window_full), Code::flow_control_error,
         "the connection's window past 2^31-1"},
        {"a header block that is not HPACK", opening() + frame(Type::headers, 4, 1, "\x80"),
         Code::compression_error, ""},
        {"a frame over 16 KiB", opening() + frame(Type::data, 0, 1, std::string(16385, 'x')),
         Code::frame_size_error, "over SETTINGS_MAX_FRAME_SIZE"},
        {"DATA past the connection's window",
         opening() + request(1, http2_flags::kEndHeaders) +
             repeat(frame(Type::data, 0, 1, std::string(16384, 'x')), 5),
         Code::flow_control_error, "past the connection's window"},
        {"33 settings in a frame",
         opening() + frame(Type::settings, 0, 0, repeat(std::string("\0\3\0\0\0\1", 6), 33)),
         Code::enhance_your_calm, "33 settings in one SETTINGS frame"},
        {"1,001 PINGs unanswered", opening() + repeat(frame(Type::ping, 0, 0, "12345678"), 1001),
         Code::enhance_your_calm, "PINGs and SETTINGS faster than their ACKs are read"},
        {"101 empty DATA in a row", opening() + request(1) + repeat(frame(Type::data, 0, 1), 101),
         Code::enhance_your_calm, "more than 100 empty DATA frames in a row on stream 1"},
        {"9 CONTINUATIONs", opening() + request(1, 0) + repeat(frame(Type::continuation, 0, 1), 9),
         Code::enhance_your_calm, "more than 8 CONTINUATION frames in a header block"},
    };
    for (const ConnectionErrorCase& bad : cases) {
        Server server({.connection_window = 65535});
        server.answer_when_whole = false;
        server.hold_bodies = true;
        server.session.receive(bad.bytes);
        EXPECT_FALSE(server.session.want_read()) << bad.what;
        EXPECT_EQ(server.session.error(), bad.code) << bad.what;
        EXPECT_NE(server.session.error_message().find(bad.message), std::string::npos)
            << bad.what << ": " << server.session.error_message();
        std::vector<std::string> keep;
        std::vector<HTTP2Frame> frames = frames_in(server.send(), keep);
        ASSERT_FALSE(frames.empty()) << bad.what;
        ASSERT_EQ(frames.back().header.type, Type::goaway) << bad.what;
        EXPECT_EQ(http2_goaway(frames.back()).code, bad.code) << bad.what;
        EXPECT_TRUE(server.session.finished()) << bad.what;
        server.session.receive(opening());  // nothing more is read
    }
}

TEST(HTTP2Session, RapidResetsPastTheBurstEndTheConnection) {
    Server server;
    server.answer_when_whole = false;
    std::string bytes = opening();
    for (std::uint32_t id = 1; id < 2 * 1001; id += 2) {
        bytes += request(id) + frame(Type::rst_stream, 0, id, std::string("\0\0\0\x08", 4));
    }
    server.session.receive(bytes);
    EXPECT_EQ(server.session.error(), Code::enhance_your_calm);
    EXPECT_EQ(server.opened.size(), 1001u);
}

TEST(HTTP2Session, AStreamErrorResetsOnlyItsStream) {
    Server server;
    server.answer_when_whole = false;
    std::string bytes = opening() + request(1, http2_flags::kEndHeaders | http2_flags::kEndStream) +
                        frame(Type::data, 0, 1, "after the end") + request(3) +
                        frame(Type::priority, 0, 3, std::string("\0\0\0\3\x10", 5)) +
                        frame(Type::window_update, 0, 3, std::string(4, '\0'));
    server.session.receive(bytes);
    EXPECT_TRUE(server.session.want_read());
    std::vector<std::string> keep;
    std::vector<std::pair<std::uint32_t, Code>> resets;
    for (const HTTP2Frame& f : frames_in(server.send(), keep)) {
        if (f.header.type == Type::rst_stream) {
            resets.emplace_back(f.header.stream_id, http2_rst_stream_code(f));
        }
    }
    EXPECT_EQ(resets, (std::vector<std::pair<std::uint32_t, Code>>{{1, Code::stream_closed},
                                                                   {3, Code::protocol_error}}));
    EXPECT_EQ(server.requests[3].code, Code::protocol_error);
}

TEST(HTTP2Session, AHeaderListPastTwiceTheLimitResetsItsStream) {
    Server server({.max_header_list_size = 1000});
    server.answer_when_whole = false;
    HPACKEncoder encoder;
    std::string block;
    std::string large(1500, 'v');
    encoder.encode({{":method", "GET"}, {":path", "/"}, {"x-a", large}, {"x-b", large}}, block);
    server.session.receive(opening() + frame(Type::headers, 4 | 1, 1, block));
    EXPECT_EQ(server.requests[1].fields.size(), 3u) << "the fields within twice the limit";
    server.send();
    EXPECT_EQ(server.requests[1].code, Code::enhance_your_calm);
    EXPECT_TRUE(server.session.want_read());
}

// --- RFC 9113 section 8's rules for a request --------------------------------------------------

struct RequestCase {
    const char* what;
    Fields fields;
    std::vector<std::string> body;  // DATA frames, the last with END_STREAM
    Fields trailers;
    bool malformed;
};

TEST(HTTP2Session, AMalformedRequestGetsRstStreamProtocolError) {
    auto request_with = [](Fields extra) {
        Fields fields = {{":method", "POST"}, {":scheme", "http"}, {":path", "/"}};
        fields.insert(fields.end(), extra.begin(), extra.end());
        return fields;
    };
    const std::vector<RequestCase> cases = {
        {"a request as it should be", request_with({{"te", "trailers"}}), {}, {}, false},
        {"a body as long as its content-length",
         request_with({{"content-length", "5"}}),
         {"12", "345"},
         {},
         false},
        {"trailers after a body", request_with({}), {"x"}, {{"grpc-status", "0"}}, false},
        {"CONNECT with :authority alone",
         {{":method", "CONNECT"}, {":authority", "a:443"}},
         {},
         {},
         false},
        {"an upper-case name", request_with({{"X-Upper", "1"}}), {}, {}, true},
        {"a space in a name", request_with({{"x y", "1"}}), {}, {}, true},
        {"a connection-specific field", request_with({{"connection", "keep-alive"}}), {}, {}, true},
        {"transfer-encoding", request_with({{"transfer-encoding", "chunked"}}), {}, {}, true},
        {"te other than trailers", request_with({{"te", "gzip"}}), {}, {}, true},
        {"no :method", {{":scheme", "http"}, {":path", "/"}}, {}, {}, true},
        {"no :path", {{":method", "GET"}, {":scheme", "http"}}, {}, {}, true},
        {"an empty :path", {{":method", "GET"}, {":scheme", "http"}, {":path", ""}}, {}, {}, true},
        {"a pseudo-header field after a regular one",
         {{":method", "GET"}, {"accept", "*/*"}, {":scheme", "http"}, {":path", "/"}},
         {},
         {},
         true},
        {"an unknown pseudo-header field",
         request_with({{":protocol", "websocket"}}),
         {},
         {},
         true},
        {":path twice", request_with({{":path", "/again"}}), {}, {}, true},
        {"a value that starts with a space", request_with({{"accept", " */*"}}), {}, {}, true},
        {"a value with a line feed", request_with({{"accept", "a\nb"}}), {}, {}, true},
        {"a value with another control character",
         request_with({{"accept", "a\x01b"}}),
         {},
         {},
         true},
        {"a value with DEL", request_with({{"accept", "a\x7f"}}), {}, {}, true},
        {"a value with a tab inside and bytes past ASCII",
         request_with({{"accept", "a\tb\xc3\xa9"}}),
         {},
         {},
         false},
        {"a content-length that is not a number",
         request_with({{"content-length", "5x"}}),
         {"x"},
         {},
         true},
        {"two content-lengths",
         request_with({{"content-length", "1"}, {"content-length", "2"}}),
         {"x"},
         {},
         true},
        {"a content-length and no body", request_with({{"content-length", "10"}}), {}, {}, true},
        {"more body than its content-length",
         request_with({{"content-length", "3"}}),
         {"12345"},
         {},
         true},
        {"less body than its content-length",
         request_with({{"content-length", "5"}}),
         {"123"},
         {},
         true},
        {"a pseudo-header field in trailers", request_with({}), {"x"}, {{":status", "200"}}, true},
        {"trailers after less body than its content-length",
         request_with({{"content-length", "5"}}),
         {"123"},
         {{"x-checksum", "1"}},
         true},
        {"trailers after a body as long as its content-length",
         request_with({{"content-length", "3"}}),
         {"123"},
         {{"x-checksum", "1"}},
         false},
        {"CONNECT with :path",
         {{":method", "CONNECT"}, {":authority", "a:443"}, {":path", "/"}},
         {},
         {},
         true},
    };
    for (const RequestCase& request : cases) {
        Server server;
        server.answer_when_whole = false;
        HPACKEncoder encoder;
        std::vector<HPACKField> views;
        for (const auto& [name, value] : request.fields) views.push_back({name, value});
        std::string block;
        encoder.encode(views, block);
        bool ends_with_headers = request.body.empty() && request.trailers.empty();
        std::string bytes = opening() + frame(Type::headers,
                                              http2_flags::kEndHeaders |
                                                  (ends_with_headers ? http2_flags::kEndStream : 0),
                                              1, block);
        for (std::size_t i = 0; i < request.body.size(); ++i) {
            bool last = i + 1 == request.body.size() && request.trailers.empty();
            bytes += frame(Type::data, last ? http2_flags::kEndStream : 0, 1, request.body[i]);
        }
        if (!request.trailers.empty()) {
            views.clear();
            for (const auto& [name, value] : request.trailers) views.push_back({name, value});
            block.clear();
            encoder.encode(views, block);
            bytes +=
                frame(Type::headers, http2_flags::kEndHeaders | http2_flags::kEndStream, 1, block);
        }
        server.session.receive(bytes);
        server.send();
        EXPECT_TRUE(server.session.want_read()) << request.what;
        if (request.malformed) {
            EXPECT_TRUE(server.requests[1].closed) << request.what;
            EXPECT_EQ(server.requests[1].code, Code::protocol_error) << request.what;
            EXPECT_FALSE(server.requests[1].whole) << request.what;
            EXPECT_NE(server.session.last_malformed(), nullptr) << request.what;
        } else {
            EXPECT_FALSE(server.requests[1].closed) << request.what;
            EXPECT_TRUE(server.requests[1].whole) << request.what;
            EXPECT_EQ(server.session.last_malformed(), nullptr) << request.what;
        }
    }
}

}  // namespace
