// Tests of tornado/websocket.h's server side, by raw bytes: the handshake's
// answers, every frame rule of RFC 6455 end to end (the close code each
// broken rule gets), the closing handshake both ways, the handler's life
// cycle (open, a coroutine on_message, on_close), pings, limits, and the
// heap an idle WebSocket connection holds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alloc_counter.h"
#include "tornado/websocket.h"
#include "websocket_test_util.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::Frame;
using testing::RawClient;
using testing::Response;
using testing::RawWebSocket;
using testing::ServerThread;
using Opcode = websocket_protocol::Opcode;

// What the handlers saw, for the tests to read (guarded: the server runs on
// its own thread).
struct Record {
    std::mutex mutex;
    std::vector<std::string> events;
    void add(std::string event) {
        std::lock_guard lock(mutex);
        events.push_back(std::move(event));
    }
    std::vector<std::string> get() {
        std::lock_guard lock(mutex);
        return events;
    }
    void clear() {
        std::lock_guard lock(mutex);
        events.clear();
    }
    // Waits (at most 5 s) until `event` has been recorded.
    bool wait_for(const std::string& event) {
        for (int i = 0; i < 500; ++i) {
            {
                std::lock_guard lock(mutex);
                if (std::find(events.begin(), events.end(), event) != events.end()) return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
};

Record record;

// Echoes, records its life cycle, and obeys a few commands.
class EchoSocket : public WebSocketHandler {
public:
    void open(const PathArgs& args) override { record.add("open " + (args.empty() ? "" : args[0])); }
    void on_message(std::string message, bool binary) override {
        if (message == "close me") {
            close(4000, "as asked");
            return;
        }
        if (message == "throw") throw std::runtime_error("on_message fails on purpose");
        write_message(message, binary);
    }
    void on_ping(std::string data) override { record.add("ping " + data); }
    void on_close() override {
        record.add("close " + (close_code() ? std::to_string(*close_code()) : "none") + " " + close_reason());
    }
};

// on_message as a coroutine: a message that says "slow" takes 100 ms, and
// the next must wait for it.
class SlowSocket : public WebSocketHandler {
public:
    Task<void> on_message_async(std::string message, bool) override {
        record.add("start " + message);
        if (message == "slow") co_await sleep(100ms);
        record.add("end " + message);
        co_await write_message(message);
    }
};

// open as a coroutine: messages wait until it ends.
class SlowOpenSocket : public WebSocketHandler {
public:
    Task<void> open_async(PathArgs) override {
        co_await sleep(100ms);
        opened_ = true;
    }
    void on_message(std::string message, bool) override { write_message(opened_ ? message : "too early"); }

private:
    bool opened_ = false;
};

class SubprotocolSocket : public WebSocketHandler {
public:
    std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered) override {
        for (const std::string& name : offered) {
            if (name == "chat.v2") return name;
        }
        return std::nullopt;
    }
    void on_message(std::string, bool) override { write_message(selected_subprotocol().value_or("none")); }
};

// Writes more than the kernel takes at once, and records how the write
// ended: the client resets the connection meanwhile.
class FloodSocket : public WebSocketHandler {
public:
    Task<void> on_message_async(std::string, bool) override {
        try {
            co_await write_message(std::string(32 * 1024 * 1024, 'f'), /*binary=*/true);
            record.add("flood sent");
        } catch (const WebSocketClosedError&) {
            record.add("flood: WebSocketClosedError");
        }
    }
};

class CompressedSocket : public EchoSocket {
public:
    std::optional<WebSocketCompressionOptions> get_compression_options() override {
        return WebSocketCompressionOptions{};
    }
};

class AnyOriginSocket : public EchoSocket {
public:
    bool check_origin(std::string_view) override { return true; }
};

std::vector<URLSpec> routes() {
    return {
        {"/echo", handler<EchoSocket>()},
        {"/echo/(.*)", handler<EchoSocket>()},
        {"/slow", handler<SlowSocket>()},
        {"/slow-open", handler<SlowOpenSocket>()},
        {"/subprotocol", handler<SubprotocolSocket>()},
        {"/compressed", handler<CompressedSocket>()},
        {"/any-origin", handler<AnyOriginSocket>()},
        {"/flood", handler<FloodSocket>()},
    };
}

class WebSocketServer : public ::testing::Test {
protected:
    WebSocketServer() { record.clear(); }

    ServerThread server = testing::serve_app(routes);
    std::uint16_t port() const { return server.port(); }

    Response handshake(std::string_view request) {
        RawClient client(port());
        client.send(request);
        return client.read_response();
    }
};

// --- the handshake ----------------------------------------------------------------------------

TEST_F(WebSocketServer, HandshakeAnswers101WithTheAcceptValue) {
    RawWebSocket ws(port(), "/echo");
    EXPECT_EQ(ws.handshake.header("Upgrade"), "websocket");
    EXPECT_EQ(ws.handshake.header("Connection"), "Upgrade");
    EXPECT_FALSE(ws.handshake.has_header("Content-Type"));
    EXPECT_FALSE(ws.handshake.has_header("Content-Length"));
    EXPECT_FALSE(ws.handshake.has_header("Transfer-Encoding"));
    EXPECT_FALSE(ws.handshake.has_header("Sec-WebSocket-Extensions"));  // not asked for
}

TEST_F(WebSocketServer, HandshakeAcceptsTheHeaderVariantsRealClientsSend) {
    // Firefox: "Connection: keep-alive, Upgrade"; some send "Upgrade: WebSocket".
    RawClient client(port());
    client.send("GET /echo HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
                "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n");
    Response answer = client.read_response();
    EXPECT_EQ(answer.status, 101);
    EXPECT_EQ(answer.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_F(WebSocketServer, AGetWithoutTheUpgradeIs400WithTornadosMessage) {
    Response plain = handshake("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(plain.status, 400);
    EXPECT_EQ(plain.body, "Can \"Upgrade\" only to \"WebSocket\".");
    Response no_connection = handshake("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n");
    EXPECT_EQ(no_connection.status, 400);
    EXPECT_EQ(no_connection.body, "\"Connection\" must be \"Upgrade\".");
}

TEST_F(WebSocketServer, AnotherVersionIs426NamingVersion13) {
    std::string request = testing::handshake_request("/echo");
    request.replace(request.find("Version: 13"), 11, "Version: 8");
    Response answer = handshake(request);
    EXPECT_EQ(answer.status, 426);
    EXPECT_EQ(answer.header("Sec-WebSocket-Version"), "13");
}

TEST_F(WebSocketServer, AMissingOrMalformedKeyIs400) {
    Response missing = handshake("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Version: 13\r\n\r\n");
    EXPECT_EQ(missing.status, 400);
    EXPECT_EQ(missing.body, "Missing/Invalid WebSocket headers");
    EXPECT_EQ(handshake(testing::handshake_request("/echo", "c2hvcnQ=")).status, 400);  // 5 bytes, not 16
    EXPECT_EQ(handshake(testing::handshake_request("/echo", "not base64 at all!!!!!==")).status, 400);
}

TEST_F(WebSocketServer, HTTP10IsRefused) {
    std::string request = testing::handshake_request("/echo");
    request.replace(request.find("HTTP/1.1"), 8, "HTTP/1.0");
    Response answer = handshake(request);
    EXPECT_EQ(answer.status, 400);
    EXPECT_EQ(answer.body, "WebSocket needs HTTP/1.1");
}

TEST_F(WebSocketServer, CheckOriginAcceptsTheSameHostOnlyByDefault) {
    std::string same = testing::handshake_request("/echo", "dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://127.0.0.1\r\n");
    EXPECT_EQ(handshake(same).status, 101);
    std::string other = testing::handshake_request("/echo", "dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://evil.example\r\n");
    Response refused = handshake(other);
    EXPECT_EQ(refused.status, 403);
    EXPECT_EQ(refused.body, "Cross origin websockets not allowed");
    std::string null_origin = testing::handshake_request("/echo", "dGhlIHNhbXBsZSBub25jZQ==", "Origin: null\r\n");
    EXPECT_EQ(handshake(null_origin).status, 403);
    // A handler that overrides check_origin decides for itself.
    std::string anywhere = testing::handshake_request("/any-origin", "dGhlIHNhbXBsZSBub25jZQ==",
                                                      "Origin: http://evil.example\r\n");
    EXPECT_EQ(handshake(anywhere).status, 101);
}

TEST_F(WebSocketServer, OtherMethodsAre405) {
    Response answer = handshake("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(answer.status, 405);
}

TEST_F(WebSocketServer, SelectSubprotocolPicksOneTheClientOffered) {
    RawWebSocket chosen(port(), "/subprotocol", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n");
    EXPECT_EQ(chosen.handshake.header("Sec-WebSocket-Protocol"), "chat.v2");
    chosen.send_text("which?");
    EXPECT_EQ(chosen.read_message(), "chat.v2");
    RawWebSocket none(port(), "/subprotocol", "Sec-WebSocket-Protocol: mqtt\r\n");
    EXPECT_FALSE(none.handshake.has_header("Sec-WebSocket-Protocol"));
}

// --- messages ---------------------------------------------------------------------------------

TEST_F(WebSocketServer, OpenGetsThePathArguments) {
    RawWebSocket ws(port(), "/echo/room%207");
    EXPECT_TRUE(record.wait_for("open room 7"));
}

TEST_F(WebSocketServer, TextAndBinaryAreEchoedWithTheirOpcode) {
    RawWebSocket ws(port(), "/echo");
    ws.send_text("h\xc3\xa9llo");
    Frame text = ws.read_frame();
    EXPECT_EQ(text.opcode, Opcode::text);
    EXPECT_EQ(text.payload, "h\xc3\xa9llo");
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
    ws.send_frame(Opcode::binary, bytes);
    Frame binary = ws.read_frame();
    EXPECT_EQ(binary.opcode, Opcode::binary);
    EXPECT_EQ(binary.payload, bytes);
}

TEST_F(WebSocketServer, SevenSixteenAndSixtyFourBitLengths) {
    RawWebSocket ws(port(), "/echo");
    for (std::size_t size : {0, 1, 125, 126, 65535, 65536, 200000}) {
        std::string message(size, 'x');
        ws.send_frame(Opcode::binary, message);
        EXPECT_EQ(ws.read_message(), message) << size << " bytes";
    }
}

TEST_F(WebSocketServer, FragmentsAreJoinedAndPingsBetweenThemAnsweredAtOnce) {
    RawWebSocket ws(port(), "/echo");
    ws.send_frame(Opcode::text, "frag", /*fin=*/false);
    ws.send_frame(Opcode::ping, "in between");
    Frame pong = ws.read_frame();  // before the message is complete
    EXPECT_EQ(pong.opcode, Opcode::pong);
    EXPECT_EQ(pong.payload, "in between");
    ws.send_frame(Opcode::continuation, "men", false);
    ws.send_frame(Opcode::continuation, "ted");
    EXPECT_EQ(ws.read_message(), "fragmented");
    EXPECT_TRUE(record.wait_for("ping in between"));
}

TEST_F(WebSocketServer, AUtf8CharacterSplitAcrossFragmentsIsFine) {
    RawWebSocket ws(port(), "/echo");
    ws.send_frame(Opcode::text, "caf\xc3", false);
    ws.send_frame(Opcode::continuation, "\xa9");
    EXPECT_EQ(ws.read_message(), "caf\xc3\xa9");
}

TEST_F(WebSocketServer, ACoroutineOnMessageMakesTheNextMessageWait) {
    RawWebSocket ws(port(), "/slow");
    ws.send_text("slow");
    ws.send_text("quick");
    EXPECT_EQ(ws.read_message(), "slow");
    EXPECT_EQ(ws.read_message(), "quick");
    std::vector<std::string> events = record.get();
    auto at = [&](const std::string& event) { return std::find(events.begin(), events.end(), event) - events.begin(); };
    EXPECT_LT(at("end slow"), at("start quick"));
}

TEST_F(WebSocketServer, ACoroutineOpenEndsBeforeTheFirstMessage) {
    RawWebSocket ws(port(), "/slow-open");
    ws.send_text("first");  // sent at once, while open() still sleeps
    EXPECT_EQ(ws.read_message(), "first");
}

// --- closing ----------------------------------------------------------------------------------

TEST_F(WebSocketServer, TheClientsCloseIsEchoedWithCodeAndReasonThenTCPCloses) {
    RawWebSocket ws(port(), "/echo");
    ws.send_close(1000, "bye now");
    Frame close = ws.read_close();
    EXPECT_EQ(close.close_code(), 1000);
    EXPECT_EQ(close.close_reason(), "bye now");
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_TRUE(record.wait_for("close 1000 bye now"));
}

TEST_F(WebSocketServer, ACloseWithoutACodeIsEchoedEmpty) {
    RawWebSocket ws(port(), "/echo");
    ws.send_frame(Opcode::close, "");
    Frame close = ws.read_close();
    EXPECT_EQ(close.payload, "");
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_TRUE(record.wait_for("close none "));
}

TEST_F(WebSocketServer, TheServerClosesFirstAndWaitsForTheAnswer) {
    RawWebSocket ws(port(), "/echo");
    ws.send_text("close me");
    Frame close = ws.read_close();
    EXPECT_EQ(close.close_code(), 4000);
    EXPECT_EQ(close.close_reason(), "as asked");
    EXPECT_TRUE(ws.quiet_for(200ms));  // waiting for our close frame
    ws.send_close(4000);
    EXPECT_TRUE(ws.closed_by_server());
}

TEST_F(WebSocketServer, AClientThatNeverAnswersTheCloseIsDroppedAfterTheTimeout) {
    RawWebSocket ws(port(), "/echo");
    ws.send_text("close me");
    EXPECT_EQ(ws.read_close().close_code(), 4000);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(ws.closed_by_server(10s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 4s);
}

TEST_F(WebSocketServer, AClientThatVanishesEndsTheConnection) {
    {
        RawWebSocket ws(port(), "/echo/vanish");
        EXPECT_TRUE(record.wait_for("open vanish"));
    }  // closed without a close frame
    EXPECT_TRUE(record.wait_for("close none "));
}

// The server's loop closes with a connection open and idle: its frame
// read (a callback, no Future) is cancelled while the closing loop still
// runs callbacks, and on_close runs.
TEST_F(WebSocketServer, ALoopThatClosesEndsAnIdleConnectionAndCallsOnClose) {
    RawWebSocket ws(port(), "/echo/loop");
    EXPECT_TRUE(record.wait_for("open loop"));
    server.stop();
    EXPECT_TRUE(record.wait_for("close none "));
}

TEST_F(WebSocketServer, AGracefulStopClosesEveryWebSocketWith1001) {
    RawWebSocket first(port(), "/echo");
    RawWebSocket second(port(), "/echo");
    server.call([this] { server.loop().graceful_stop(std::chrono::seconds(5)); });
    for (RawWebSocket* ws : {&first, &second}) {
        Frame close = ws->read_close();
        EXPECT_EQ(close.close_code(), 1001);
        EXPECT_EQ(close.close_reason(), "server shutting down");
        ws->send_close(1001);
        EXPECT_TRUE(ws->closed_by_server());
    }
    EXPECT_TRUE(record.wait_for("close 1001 "));  // on_close sees the client's answer
}

TEST_F(WebSocketServer, AWriteCutShortByTheCloseFailsWithWebSocketClosedError) {
    {
        RawWebSocket ws(port(), "/flood");
        ws.send_text("go");
        ws.raw().read_exactly(1000);  // some has come: the rest waits in the stream
        testing::reset_connection(ws.raw().socket());
    }
    EXPECT_TRUE(record.wait_for("flood: WebSocketClosedError"));
}

// A client that sends and never reads: past a mebibyte of unsent echoes the
// server stops reading from it (TCP then holds the client back), so its
// memory stays bounded; everything arrives, in order, once the client reads.
TEST(WebSocketFlowControl, APeerThatDoesNotReadIsNotReadEither) {
    ServerThread server = testing::serve_app(routes);
    RawWebSocket ws(server.port(), "/echo");
    constexpr int kMessages = 64;
    const std::string message(256 * 1024, 'm');  // 16 MiB in all
    std::int64_t heap_before = server.call([] { return testing::live_bytes(); });
    std::atomic<int> sent{0};
    std::thread sender([&] {
        for (int i = 0; i < kMessages; ++i) {
            ws.send_frame(Opcode::binary, message);
            ++sent;
        }
    });
    std::this_thread::sleep_for(500ms);
    std::int64_t held = server.call([] { return testing::live_bytes(); }) - heap_before;
    EXPECT_LT(sent.load(), kMessages) << "the server read everything while nobody read its echoes";
    EXPECT_LT(held, 8 * 1024 * 1024) << "the server holds " << held << " bytes";
    for (int i = 0; i < kMessages; ++i) ASSERT_EQ(ws.read_message(), message) << "echo " << i;
    sender.join();
}

// --- every rule, end to end: the close code a broken one gets ---------------------------------

struct BrokenRule {
    const char* name;
    int code;
    std::function<void(RawWebSocket&)> send;
};

class WebSocketRules : public WebSocketServer, public ::testing::WithParamInterface<BrokenRule> {};

TEST_P(WebSocketRules, CloseWithTheCodeThenTCPCloses) {
    RawWebSocket ws(port(), "/echo");
    GetParam().send(ws);
    Frame close = ws.read_close();
    EXPECT_EQ(close.close_code(), GetParam().code) << close.close_reason();
    EXPECT_TRUE(ws.closed_by_server());
}

std::string text_of(std::size_t n) { return std::string(n, 'a'); }

INSTANTIATE_TEST_SUITE_P(
    EveryRule, WebSocketRules,
    ::testing::Values(
        BrokenRule{"Unmasked", 1002, [](RawWebSocket& ws) { ws.send_frame(Opcode::text, "hi", true, false); }},
        BrokenRule{"Rsv1WithoutDeflate", 1002,
                   [](RawWebSocket& ws) { ws.send_frame(Opcode::text, "hi", true, true, true); }},
        BrokenRule{"Rsv2", 1002, [](RawWebSocket& ws) { ws.send_raw(std::string("\xa1\x80\0\0\0\0", 6)); }},
        BrokenRule{"UnknownOpcode", 1002,
                   [](RawWebSocket& ws) { ws.send_raw(std::string("\x83\x80\0\0\0\0", 6)); }},
        BrokenRule{"ControlOver125", 1002, [](RawWebSocket& ws) { ws.send_frame(Opcode::ping, text_of(126)); }},
        BrokenRule{"FragmentedControl", 1002,
                   [](RawWebSocket& ws) { ws.send_frame(Opcode::ping, "x", /*fin=*/false); }},
        BrokenRule{"ContinuationWithNothingToContinue", 1002,
                   [](RawWebSocket& ws) { ws.send_frame(Opcode::continuation, "x"); }},
        BrokenRule{"NewMessageInsideAFragmentedOne", 1002,
                   [](RawWebSocket& ws) {
                       ws.send_frame(Opcode::text, "a", false);
                       ws.send_frame(Opcode::text, "b");
                   }},
        BrokenRule{"CloseOfOneByte", 1002, [](RawWebSocket& ws) { ws.send_frame(Opcode::close, "\x03"); }},
        BrokenRule{"CloseWithAReservedCode", 1002,
                   [](RawWebSocket& ws) { ws.send_close(1005); }},
        BrokenRule{"TextNotUtf8", 1007, [](RawWebSocket& ws) { ws.send_frame(Opcode::text, "caf\xc3("); }},
        BrokenRule{"TextNotUtf8AcrossFragments", 1007,
                   [](RawWebSocket& ws) {
                       ws.send_frame(Opcode::text, "caf\xc3", false);
                       ws.send_frame(Opcode::continuation, "(");
                   }},
        BrokenRule{"TextEndingMidCharacter", 1007,
                   [](RawWebSocket& ws) { ws.send_frame(Opcode::text, "caf\xc3"); }},
        BrokenRule{"CloseReasonNotUtf8", 1007, [](RawWebSocket& ws) { ws.send_close(1000, "\xff"); }},
        BrokenRule{"OnMessageThrows", 1011, [](RawWebSocket& ws) { ws.send_text("throw"); }}),
    [](const ::testing::TestParamInfo<BrokenRule>& rule) { return std::string(rule.param.name); });

// --- limits and timers ------------------------------------------------------------------------

TEST(WebSocketLimits, AMessageOverTheLimitIsClosedWith1009) {
    ApplicationSettings settings;
    settings.websocket_max_message_size = 1000;
    ServerThread server = testing::serve_app(routes, settings);
    {
        RawWebSocket ws(server.port(), "/echo");
        ws.send_frame(Opcode::binary, std::string(1000, 'x'));  // exactly the limit: fine
        EXPECT_EQ(ws.read_message().size(), 1000u);
        ws.send_frame(Opcode::binary, std::string(1001, 'x'));
        EXPECT_EQ(ws.read_close().close_code(), 1009);
        EXPECT_TRUE(ws.closed_by_server());
    }
    {
        RawWebSocket ws(server.port(), "/echo");  // the limit is the message's, not a frame's
        ws.send_frame(Opcode::binary, std::string(600, 'x'), false);
        ws.send_frame(Opcode::continuation, std::string(600, 'x'));
        EXPECT_EQ(ws.read_close().close_code(), 1009);
    }
}

TEST(WebSocketLimits, APeerThatStopsAnsweringPingsIsClosed) {
    ApplicationSettings settings;
    settings.websocket_ping_interval = 50ms;
    // Long enough that a busy machine cannot hold the answering thread past
    // it: 200 ms did once, with the tests in parallel on two cores.
    settings.websocket_ping_timeout = 1s;
    ServerThread server = testing::serve_app(routes, settings);
    RawWebSocket answering(server.port(), "/echo");
    // Measured from before the silent one connects: the server's clock for
    // it starts at its handshake, so a start taken later would see the close
    // a few microseconds "early" (a flake seen once in 1548 tests).
    auto start = std::chrono::steady_clock::now();
    RawWebSocket silent(server.port(), "/echo");
    // The answering one, on its own thread, answers every ping until the
    // silent one is closed.
    std::atomic<bool> silent_closed = false;
    std::thread answerer([&] {
        while (!silent_closed) {
            Frame ping = answering.read_frame(3s);
            ASSERT_EQ(ping.opcode, Opcode::ping);
            answering.send_frame(Opcode::pong, ping.payload);
        }
    });
    // The silent one reads the pings and never answers: closed (1001) once
    // the timeout has passed.
    Frame frame = silent.read_frame(3s);
    while (frame.opcode == Opcode::ping) frame = silent.read_frame(3s);
    silent_closed = true;
    EXPECT_EQ(frame.opcode, Opcode::close);
    EXPECT_EQ(frame.close_code(), 1001);
    EXPECT_EQ(frame.close_reason(), "ping timeout");
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1s);
    answerer.join();
    Frame late_ping = answering.read_frame(2s);  // still pinged, still open
    EXPECT_EQ(late_ping.opcode, Opcode::ping);
    answering.send_frame(Opcode::pong, late_ping.payload);
    answering.send_text("still here");
    std::string reply = answering.read_message();
    EXPECT_EQ(reply, "still here");
}

// --- compression ------------------------------------------------------------------------------

TEST_F(WebSocketServer, PermessageDeflateIsOffOnlyWhenTheHandlerHasNoOptions) {
    RawWebSocket plain(port(), "/echo", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    EXPECT_FALSE(plain.handshake.has_header("Sec-WebSocket-Extensions"));
    RawWebSocket compressed(port(), "/compressed",
                            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    EXPECT_EQ(compressed.handshake.header("Sec-WebSocket-Extensions"), "permessage-deflate");
}

TEST_F(WebSocketServer, CompressedMessagesGoBothWays) {
    RawWebSocket ws(port(), "/compressed",
                    "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                    "client_no_context_takeover\r\n");
    EXPECT_EQ(ws.handshake.header("Sec-WebSocket-Extensions"),
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    websocket_protocol::PerMessageDeflate::Agreement agreement;
    agreement.server_no_context_takeover = agreement.client_no_context_takeover = true;
    websocket_protocol::PerMessageDeflate ours(/*server=*/false, agreement, {});
    std::string message(5000, 'z');
    for (int round = 0; round < 3; ++round) {
        ws.send_frame(Opcode::text, ours.compress(message), true, true, /*rsv1=*/true);
        Frame echo = ws.read_frame();
        EXPECT_TRUE(echo.rsv1);
        EXPECT_LT(echo.payload.size(), 100u);
        EXPECT_EQ(ours.decompress(echo.payload, 1 << 20), message);
    }
    // RSV1 on a continuation frame is a protocol error even here.
    ws.send_frame(Opcode::text, ours.compress("ab"), false, true, true);
    ws.send_frame(Opcode::continuation, "", true, true, true);
    EXPECT_EQ(ws.read_close().close_code(), 1002);
}

// --- the heap an idle WebSocket connection holds ---------------------------------------------

TEST(WebSocketMemory, AnIdleConnectionHoldsLittleHeap) {
    ServerThread server = testing::serve_app(routes);
    auto open_idle = [&](int n) {
        std::vector<std::unique_ptr<RawWebSocket>> clients;
        for (int i = 0; i < n; ++i) clients.push_back(std::make_unique<RawWebSocket>(server.port(), "/echo"));
        // A round trip on the last one: every handshake before it is done.
        clients.back()->send_text("x");
        EXPECT_EQ(clients.back()->read_message(), "x");
        return clients;
    };
    auto settle = [&] { std::this_thread::sleep_for(200ms); };
    { auto warm = open_idle(200); }
    settle();
    auto bytes = [] { return testing::live_bytes(); };
    auto blocks = [] { return testing::live_allocations(); };
    std::int64_t bytes_before = server.call(bytes);
    std::int64_t blocks_before = server.call(blocks);
    constexpr int kConnections = 200;
    auto clients = open_idle(kConnections);
    settle();
    double per_connection = static_cast<double>(server.call(bytes) - bytes_before) / kConnections;
    double blocks_per_connection = static_cast<double>(server.call(blocks) - blocks_before) / kConnections;
    std::printf("[ measure  ] idle WebSocket connection: %.0f heap bytes in %.1f blocks\n", per_connection,
                blocks_per_connection);
    // The goal: at most 2 KB of server memory per idle WebSocket.
    EXPECT_LE(per_connection, 2048);
}

}  // namespace
}  // namespace tornado
