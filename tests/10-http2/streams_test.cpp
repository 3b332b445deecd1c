// Task 2: the stream state machine (stream.h's transition()), and the
// stream rules over a connection: which frame in which state ends the
// stream (RST_STREAM) or the connection (GOAWAY), stream ids, the limit on
// concurrent streams, malformed requests; and chapter 06's Application
// served over HTTP/2 unchanged.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include <coroutine_handler.h>
#include <gen.h>
#include "h2_fixture.h"
#include "stream.h"
#include "web.h"

namespace course::testing {
namespace {

using http2::ConnectionError;
using http2::Direction;
using http2::ErrorCode;
using http2::FrameType;
using http2::StreamError;
using http2::StreamState;

// What transition() did: the new state, or the error's kind and code.
struct Outcome {
    std::optional<StreamState> state;
    enum Kind { none, stream, connection } kind = none;
    ErrorCode code = ErrorCode::no_error;
};

Outcome receive(StreamState state, FrameType type, bool end_stream = false) {
    Outcome outcome;
    try {
        outcome.state = http2::transition(state, Direction::received, type, end_stream);
    } catch (const StreamError& error) {
        outcome.kind = Outcome::stream;
        outcome.code = error.code();
    } catch (const ConnectionError& error) {
        outcome.kind = Outcome::connection;
        outcome.code = error.code();
    }
    return outcome;
}

void expect_state(const Outcome& outcome, StreamState wanted, const std::string& what) {
    ASSERT_TRUE(outcome.state.has_value())
        << what << ": threw " << (outcome.kind == Outcome::stream ? "a stream error " : "a connection error ")
        << ::testing::PrintToString(outcome.code);
    EXPECT_EQ(*outcome.state, wanted) << what << ": " << http2::state_name(*outcome.state);
}

void expect_error(const Outcome& outcome, Outcome::Kind kind, ErrorCode code, const char* what) {
    EXPECT_FALSE(outcome.state.has_value())
        << what << ": no error, went to " << http2::state_name(*outcome.state);
    EXPECT_EQ(outcome.kind, kind) << what
                                  << (kind == Outcome::stream ? ": a stream error"
                                                              : ": a connection error");
    EXPECT_EQ(outcome.code, code) << what << ": " << http2::error_code_name(outcome.code);
}

TEST(Task2_Streams, IdleOpensWithHeaders) {
    expect_state(receive(StreamState::idle, FrameType::headers), StreamState::open, "HEADERS");
    expect_state(receive(StreamState::idle, FrameType::headers, true),
                 StreamState::half_closed_remote, "HEADERS+END_STREAM");
    expect_state(receive(StreamState::idle, FrameType::priority), StreamState::idle, "PRIORITY");
}

// END_STREAM is a flag of DATA and HEADERS only: the same bit means
// nothing on WINDOW_UPDATE, RST_STREAM or PRIORITY (ACK on SETTINGS and
// PING, which are no stream's).
TEST(Task2_Streams, EndStreamCountsOnDataAndHeadersOnly) {
    for (FrameType type : {FrameType::window_update, FrameType::priority}) {
        expect_state(receive(StreamState::open, type, true), StreamState::open,
                     http2::frame_type_name(type) + " with flag 0x1 on an open stream");
        expect_state(receive(StreamState::half_closed_local, type, true),
                     StreamState::half_closed_local,
                     http2::frame_type_name(type) + " with flag 0x1 on a half-closed (local) stream");
    }
}

TEST(Task2_Streams, IdleRefusesEverythingElseAsAConnectionError) {
    for (FrameType type : {FrameType::data, FrameType::rst_stream, FrameType::window_update,
                           FrameType::continuation}) {
        expect_error(receive(StreamState::idle, type), Outcome::connection,
                     ErrorCode::protocol_error, http2::frame_type_name(type).c_str());
    }
}

TEST(Task2_Streams, OpenTakesDataUntilEndStream) {
    expect_state(receive(StreamState::open, FrameType::data), StreamState::open, "DATA");
    expect_state(receive(StreamState::open, FrameType::data, true), StreamState::half_closed_remote,
                 "DATA+END_STREAM");
    expect_state(receive(StreamState::open, FrameType::headers, true),
                 StreamState::half_closed_remote, "trailers");
    expect_state(receive(StreamState::open, FrameType::window_update), StreamState::open,
                 "WINDOW_UPDATE");
    expect_state(receive(StreamState::open, FrameType::rst_stream), StreamState::closed,
                 "RST_STREAM");
    expect_error(receive(StreamState::open, FrameType::headers), Outcome::stream,
                 ErrorCode::protocol_error, "HEADERS again without END_STREAM");
}

TEST(Task2_Streams, HalfClosedRemoteRefusesContentAsStreamClosed) {
    for (FrameType type : {FrameType::data, FrameType::headers, FrameType::continuation}) {
        expect_error(receive(StreamState::half_closed_remote, type, true), Outcome::stream,
                     ErrorCode::stream_closed, http2::frame_type_name(type).c_str());
    }
    expect_state(receive(StreamState::half_closed_remote, FrameType::window_update),
                 StreamState::half_closed_remote, "WINDOW_UPDATE");
    expect_state(receive(StreamState::half_closed_remote, FrameType::priority),
                 StreamState::half_closed_remote, "PRIORITY");
    expect_state(receive(StreamState::half_closed_remote, FrameType::rst_stream),
                 StreamState::closed, "RST_STREAM");
}

TEST(Task2_Streams, HalfClosedLocalClosesWithTheClientsEndStream) {
    expect_state(receive(StreamState::half_closed_local, FrameType::data),
                 StreamState::half_closed_local, "DATA");
    expect_state(receive(StreamState::half_closed_local, FrameType::data, true),
                 StreamState::closed, "DATA+END_STREAM");
    expect_state(receive(StreamState::half_closed_local, FrameType::rst_stream),
                 StreamState::closed, "RST_STREAM");
}

TEST(Task2_Streams, ClosedRefusesContentAsAConnectionError) {
    for (FrameType type : {FrameType::data, FrameType::headers}) {
        expect_error(receive(StreamState::closed, type), Outcome::connection,
                     ErrorCode::stream_closed, http2::frame_type_name(type).c_str());
    }
    for (FrameType type : {FrameType::priority, FrameType::window_update, FrameType::rst_stream}) {
        expect_state(receive(StreamState::closed, type), StreamState::closed,
                     http2::frame_type_name(type).c_str());
    }
}

TEST(Task2_Streams, SendingMovesOurSide) {
    auto sent = [](StreamState state, FrameType type, bool end_stream) {
        return http2::transition(state, Direction::sent, type, end_stream);
    };
    EXPECT_EQ(sent(StreamState::half_closed_remote, FrameType::headers, false),
              StreamState::half_closed_remote);
    EXPECT_EQ(sent(StreamState::half_closed_remote, FrameType::data, true), StreamState::closed);
    EXPECT_EQ(sent(StreamState::open, FrameType::headers, true), StreamState::half_closed_local);
    EXPECT_EQ(sent(StreamState::open, FrameType::rst_stream, false), StreamState::closed);
    EXPECT_THROW(sent(StreamState::closed, FrameType::data, false), std::logic_error);
    EXPECT_THROW(sent(StreamState::half_closed_local, FrameType::data, true), std::logic_error);
}

// --- over a connection ----------------------------------------------------------------------

class Task2_StreamsOnTheWire : public HTTP2ServerTest {};

TEST_F(Task2_StreamsOnTheWire, AGetIsAnswered) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/"));
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(client.header(response, "content-length"), "12");
}

TEST_F(Task2_StreamsOnTheWire, DataAfterTheRequestEndedIsStreamClosed) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/slow?ms=300"));  // half-closed (remote) for 300 ms
    client.send_data(1, "late");
    EXPECT_EQ(client.expect_rst(1), kStreamClosed);
    // Only that stream: the connection goes on.
    client.send_headers(3, get_fields("/"));
    EXPECT_EQ(client.read_response(3).status, 200);
}

TEST_F(Task2_StreamsOnTheWire, DataOnAnIdleStreamIsAProtocolError) {
    start();
    H2Client client(port());
    client.send_data(1, "nobody asked");
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
    EXPECT_TRUE(client.closed_by_server());
}

TEST_F(Task2_StreamsOnTheWire, RstStreamOnAnIdleStreamIsAProtocolError) {
    start();
    H2Client client(port());
    client.send_frame(kRstStream, 0, 5, u32(kCancel));
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
}

TEST_F(Task2_StreamsOnTheWire, DataOnAClosedStreamIsStreamClosed) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/"));
    ASSERT_EQ(client.read_response(1).status, 200);  // both sides ended: closed
    client.send_data(1, "too late");
    EXPECT_EQ(client.expect_goaway(), kStreamClosed);
}

TEST_F(Task2_StreamsOnTheWire, AnEvenStreamIdIsAProtocolError) {
    start();
    H2Client client(port());
    client.send_headers(2, get_fields("/"));
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
}

TEST_F(Task2_StreamsOnTheWire, StreamIdsMustIncrease) {
    start();
    H2Client client(port());
    client.send_headers(5, get_fields("/"));
    ASSERT_EQ(client.read_response(5).status, 200);
    client.send_headers(3, get_fields("/"));
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
    EXPECT_EQ(client.last_goaway_stream, 5u);
}

// A stream id is used once: HEADERS on the id of a stream that has come
// and gone opens nothing (RFC 9113 section 5.1.1).
TEST_F(Task2_StreamsOnTheWire, AStreamIdUsedBeforeIsAProtocolError) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/"));
    ASSERT_EQ(client.read_response(1).status, 200);
    client.send_headers(1, get_fields("/"));
    EXPECT_EQ(client.expect_goaway(), kProtocolError) << "stream 1 was opened a second time";
    EXPECT_EQ(client.last_goaway_stream, 1u);
}

TEST_F(Task2_StreamsOnTheWire, HeadersAgainWithoutEndStreamIsAProtocolError) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/echo", "POST"), false);
    client.send_headers(1, {{"x-not-trailers", "1"}}, false);
    EXPECT_EQ(client.expect_rst(1), kProtocolError);
}

TEST_F(Task2_StreamsOnTheWire, TrailersEndTheRequest) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/echo", "POST"), false);
    client.send_data(1, "body");
    client.send_headers(1, {{"x-checksum", "1234"}}, true);
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "body");
}

TEST_F(Task2_StreamsOnTheWire, OverTheConcurrentLimitIsRefused) {
    HTTP2ConnectionParameters params;
    params.max_concurrent_streams = 2;
    start(test_routes, params);
    H2Client client(port());
    client.send_headers(1, get_fields("/slow?ms=300"));
    client.send_headers(3, get_fields("/slow?ms=300"));
    client.send_headers(5, get_fields("/"));
    EXPECT_EQ(client.expect_rst(5), kRefusedStream);
    EXPECT_EQ(client.read_response(1).status, 200);
    EXPECT_EQ(client.read_response(3).status, 200);
    // Once they are done, there is room again.
    client.send_headers(7, get_fields("/"));
    EXPECT_EQ(client.read_response(7).status, 200);
}

TEST_F(Task2_StreamsOnTheWire, MalformedRequestsAreStreamErrors) {
    start();
    const std::vector<std::pair<std::string, Fields>> cases = {
        {"no :path", {{":method", "GET"}, {":scheme", "http"}}},
        {"unknown pseudo-header",
         {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":x", "1"}}},
        {"pseudo-header after a field",
         {{":method", "GET"}, {":scheme", "http"}, {"accept", "*/*"}, {":path", "/"}}},
        {"upper-case name",
         {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"Accept", "*"}}},
        {"connection-specific field",
         {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"connection", "keep-alive"}}},
        {"te: gzip", {{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"te", "gzip"}}},
        {"relative path", {{":method", "GET"}, {":scheme", "http"}, {":path", "index.html"}}},
        {"two :method",
         {{":method", "GET"}, {":method", "POST"}, {":scheme", "http"}, {":path", "/"}}},
        {"content-length not a number",
         {{":method", "POST"}, {":scheme", "http"}, {":path", "/echo"}, {"content-length", "1e3"}}},
        {"two content-lengths that differ",
         {{":method", "POST"}, {":scheme", "http"}, {":path", "/echo"}, {"content-length", "5"},
          {"content-length", "6"}}},
    };
    H2Client client(port());
    std::uint32_t stream_id = 1;
    for (const auto& [what, fields] : cases) {
        client.send_headers(stream_id, fields);
        EXPECT_EQ(client.expect_rst(stream_id), kProtocolError) << what;
        stream_id += 2;
    }
    client.send_headers(stream_id, get_fields("/"));
    EXPECT_EQ(client.read_response(stream_id).status, 200) << "the connection must go on";
}

TEST_F(Task2_StreamsOnTheWire, ContentLengthMustMatchTheBody) {
    start();
    H2Client client(port());
    Fields fields = get_fields("/echo", "POST");
    fields.emplace_back("content-length", "10");
    client.send_headers(1, fields, false);
    client.send_data(1, "short", true);
    EXPECT_EQ(client.expect_rst(1), kProtocolError);
}

TEST_F(Task2_StreamsOnTheWire, ARequestBecomesChapter05sRequest) {
    std::promise<std::shared_ptr<HTTPServerRequest>> seen;
    start([&](std::shared_ptr<HTTPServerRequest> request) {
        request->reply(200, "ok");
        seen.set_value(std::move(request));
    });
    H2Client client(port());
    Fields fields = get_fields("/search?q=a+b&q=c", "POST");
    fields.emplace_back("content-type", "application/x-www-form-urlencoded");
    fields.emplace_back("cookie", "a=1");
    fields.emplace_back("cookie", "b=2");
    client.send_headers(1, fields, false);
    client.send_data(1, "x=1", true);
    ASSERT_EQ(client.read_response(1).status, 200);
    auto request = seen.get_future().get();
    EXPECT_EQ(request->version, "HTTP/2.0");
    EXPECT_EQ(request->method, "POST");
    EXPECT_EQ(request->uri, "/search?q=a+b&q=c");
    EXPECT_EQ(request->path, "/search");
    EXPECT_EQ(request->query, "q=a+b&q=c");
    EXPECT_EQ(request->headers.get("Host"), "test.example");
    EXPECT_EQ(request->headers.get("Cookie"), "a=1; b=2");
    EXPECT_EQ(request->body, "x=1");
    EXPECT_EQ(request->arguments.at("q"), (std::vector<std::string>{"a b", "c"}));
    EXPECT_EQ(request->arguments.at("x"), (std::vector<std::string>{"1"}));
    EXPECT_EQ(request->remote_ip, "127.0.0.1");
}

TEST_F(Task2_StreamsOnTheWire, ABodyOverTheLimitGets413) {
    HTTP2ConnectionParameters params;
    params.max_body_size = 10;
    start(test_routes, params);
    H2Client client(port());
    client.send_headers(1, get_fields("/echo", "POST"), false);
    client.send_data(1, std::string(11, 'x'), true);
    EXPECT_EQ(client.read_response(1).status, 413);
    // Declared too large for 64 bits: over the limit too, not an error of ours.
    Fields huge = get_fields("/echo", "POST");
    huge.emplace_back("content-length", "99999999999999999999999");
    client.send_headers(3, huge, false);
    EXPECT_EQ(client.read_response(3).status, 413);
    client.send_headers(5, get_fields("/"));
    EXPECT_EQ(client.read_response(5).status, 200);
}

TEST_F(Task2_StreamsOnTheWire, ManyStreamsAtOnceAreAnsweredOutOfOrder) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/slow?ms=300"));
    client.send_headers(3, get_fields("/"));
    // Stream 3 is answered first: stream 1 does not hold the connection.
    Frame first = client.read_until([](const Frame& f) { return f.type == kHeaders; });
    EXPECT_EQ(first.stream_id, 3u);
    EXPECT_EQ(client.read_response(1).status, 200);
}

// Rapid reset (CVE-2023-44487): streams opened and reset at once, many in
// a short span, end in GOAWAY ENHANCE_YOUR_CALM.
TEST_F(Task2_StreamsOnTheWire, RapidResetEndsTheConnection) {
    HTTP2ConnectionParameters params;
    params.rapid_reset_limit = 20;
    start(test_routes, params);
    H2Client client(port());
    std::string burst;
    for (std::uint32_t id = 1; id < 2 * 50; id += 2) {
        burst +=
            frame_bytes(kHeaders, kEndHeaders | kEndStream, id, client.encode(get_fields("/slow")));
        burst += frame_bytes(kRstStream, 0, id, u32(kCancel));
    }
    client.send(burst);
    EXPECT_EQ(client.expect_goaway(), kEnhanceYourCalm);
    EXPECT_TRUE(client.closed_by_server());
    expect_still_serving();
}

// The CONTINUATION flood: a header block that never ends.
TEST_F(Task2_StreamsOnTheWire, AContinuationFloodIsCut) {
    start();
    H2Client client(port());
    client.send_frame(kHeaders, 0, 1, client.encode(get_fields("/")));
    std::string flood;
    for (int i = 0; i < 200; ++i) flood += frame_bytes(kContinuation, 0, 1, "");
    client.send(flood);
    EXPECT_EQ(client.expect_goaway(), kEnhanceYourCalm);
}

// A header block's pieces all belong to its stream: a CONTINUATION on
// another stream is not the rest of it (section 6.10).
TEST_F(Task2_StreamsOnTheWire, AContinuationOnAnotherStreamIsAProtocolError) {
    start();
    H2Client client(port());
    std::string block = client.encode(get_fields("/"));
    client.send_frame(kHeaders, 0, 1, block.substr(0, 2));
    client.send_frame(kContinuation, kEndHeaders, 3, block.substr(2));
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
}

TEST_F(Task2_StreamsOnTheWire, AFrameInsideAHeaderBlockIsAProtocolError) {
    start();
    H2Client client(port());
    client.send_frame(kHeaders, 0, 1, client.encode(get_fields("/")));
    client.send_frame(kPing, 0, 0, "12345678");
    EXPECT_EQ(client.expect_goaway(), kProtocolError);
}

// --- chapter 06's Application and chapter 08's coroutines, unchanged -------------------------

class HelloHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello from " + request().version); }
};

class SleepyHandler : public CoroutineRequestHandler {
public:
    Task<void> get_async(PathArgs args) override {
        co_await sleep(std::chrono::milliseconds(20));
        write("slept, then " + args[0]);
    }
};

TEST_F(Task2_StreamsOnTheWire, AnApplicationRunsUnchanged) {
    Application app({
        {"/hello", handler<HelloHandler>()},
        {"/sleepy/(.*)", handler<SleepyHandler>()},
    });
    start(std::ref(app));
    H2Client client(port());
    client.send_headers(1, get_fields("/sleepy/woke"));
    client.send_headers(3, get_fields("/hello"));
    client.send_headers(5, get_fields("/missing"));
    H2Client::Response hello = client.read_response(3);
    EXPECT_EQ(hello.status, 200);
    EXPECT_EQ(hello.body, "Hello from HTTP/2.0");
    EXPECT_EQ(client.read_response(5).status, 404);
    H2Client::Response sleepy = client.read_response(1);
    EXPECT_EQ(sleepy.status, 200);
    EXPECT_EQ(sleepy.body, "slept, then woke");
    // Chapter 06 wrote "Content-Type" and "Content-Length": HTTP/2 wants lower case.
    for (const auto& [name, value] : sleepy.headers) {
        for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
    }
    EXPECT_EQ(client.header(sleepy, "content-length"), "16");
}

}  // namespace
}  // namespace course::testing
