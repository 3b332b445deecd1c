// Tests of tornado/websocket.h's client side (websocket_connect and
// WebSocketClientConnection), against our own server in the same loop
// (tornado/testing.h's AsyncHTTPTestCase) and against raw fake servers that
// break the rules on purpose.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.h"
#include "tornado/testing.h"
#include "tornado/websocket.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using Connection = std::unique_ptr<WebSocketClientConnection>;

std::vector<std::string> server_events;  // what the handlers saw (same thread as the test)

class ServerSideSocket : public WebSocketHandler {
public:
    void on_message(std::string message, bool binary) override {
        if (message == "close me") {
            close(4000, "as asked");
        } else if (message == "ping me") {
            ping("from the server");
        } else if (message == "big") {
            write_message(std::string(2000, 'b'), true);
        } else {
            write_message(message, binary);
        }
    }
    void on_ping(std::string data) override { server_events.push_back("ping " + data); }
    void on_close() override {
        server_events.push_back("close " + (close_code() ? std::to_string(*close_code()) : "none") + " " +
                                close_reason());
        // Writing to a closed connection is an error that says so.
        try {
            write_message("too late");
        } catch (const WebSocketClosedError&) {
            server_events.push_back("write after close: WebSocketClosedError");
        }
    }
    std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered) override {
        if (offered.size() == 2) return offered[1];
        return std::nullopt;
    }
    std::optional<WebSocketCompressionOptions> get_compression_options() override {
        return WebSocketCompressionOptions{};
    }
};

class PlainPage : public RequestHandler {
public:
    void get(const PathArgs&) override { write("not a WebSocket"); }
};

class WebSocketClient : public testing::AsyncHTTPTestCase {
protected:
    void SetUp() override {
        server_events.clear();
        AsyncHTTPTestCase::SetUp();
    }
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(std::vector<URLSpec>{
            {"/echo", handler<ServerSideSocket>()},
            {"/page", handler<PlainPage>()},
        });
    }
    std::string ws_url(std::string_view path) { return "ws://127.0.0.1:" + std::to_string(get_http_port()) + std::string(path); }

    Connection connect(std::string path, WebSocketConnectOptions options = {}) {
        return run_sync([&]() -> Task<Connection> { co_return co_await websocket_connect(ws_url(path), options); });
    }
    std::optional<WebSocketMessage> read(Connection& ws) {
        return run_sync([&]() -> Task<std::optional<WebSocketMessage>> { co_return co_await ws->read_message(); });
    }
    // The exception websocket_connect fails with.
    std::exception_ptr connect_error(std::string url) {
        try {
            run_sync([&]() -> Task<void> { co_await websocket_connect(url); });
        } catch (...) {
            return std::current_exception();
        }
        return nullptr;
    }
    // Lets the loop run until `event` is in server_events (at most 5 s).
    bool server_saw(const std::string& event) {
        for (int i = 0; i < 500; ++i) {
            if (std::find(server_events.begin(), server_events.end(), event) != server_events.end()) return true;
            run_sync([]() -> Task<void> { co_await sleep(10ms); });
        }
        return false;
    }
};

TEST_F(WebSocketClient, SendsAndReadsTextAndBinary) {
    Connection ws = connect("/echo");
    run_sync([&]() -> Task<void> {
        co_await ws->write_message("h\xc3\xa9llo");
        std::optional<WebSocketMessage> text = co_await ws->read_message();
        EXPECT_EQ(text, (WebSocketMessage{"h\xc3\xa9llo", false}));
        co_await ws->write_message(std::string("\0\x01\xff", 3), /*binary=*/true);
        std::optional<WebSocketMessage> binary = co_await ws->read_message();
        EXPECT_EQ(binary, (WebSocketMessage{std::string("\0\x01\xff", 3), true}));
        std::string big(300000, 'x');
        co_await ws->write_message(big);
        EXPECT_EQ((co_await ws->read_message())->data, big);
    });
}

TEST_F(WebSocketClient, ReadMessageGivesNothingOnceTheServerClosed) {
    Connection ws = connect("/echo");
    run_sync([&]() -> Task<void> { co_await ws->write_message("close me"); });
    EXPECT_EQ(read(ws), std::nullopt);
    EXPECT_EQ(ws->close_code(), 4000);
    EXPECT_EQ(ws->close_reason(), "as asked");
    EXPECT_EQ(read(ws), std::nullopt);  // and again, at once
    EXPECT_THROW(ws->write_message("hello?"), WebSocketClosedError);
    EXPECT_TRUE(server_saw("close 4000 as asked"));
}

TEST_F(WebSocketClient, CloseSendsTheCodeAndReasonToTheServer) {
    Connection ws = connect("/echo");
    ws->close(1000, "done");
    EXPECT_EQ(read(ws), std::nullopt);
    EXPECT_TRUE(server_saw("close 1000 done"));
    EXPECT_TRUE(server_saw("write after close: WebSocketClosedError"));
    EXPECT_EQ(ws->close_code(), 1000);  // the server's echo
}

TEST_F(WebSocketClient, DestroyingTheConnectionClosesIt) {
    {
        Connection ws = connect("/echo");
    }
    EXPECT_TRUE(server_saw("close none "));
}

TEST_F(WebSocketClient, MessagesGoToTheCallbackWhenOneIsGiven) {
    std::vector<std::optional<WebSocketMessage>> received;
    WebSocketConnectOptions options;
    options.on_message_callback = [&](std::optional<WebSocketMessage> message) { received.push_back(message); };
    Connection ws = connect("/echo", options);
    run_sync([&]() -> Task<void> {
        co_await ws->write_message("one");
        co_await ws->write_message("close me");
        while (received.empty() || received.back()) co_await sleep(5ms);
    });
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0]->data, "one");
    EXPECT_EQ(received[1], std::nullopt);
}

TEST_F(WebSocketClient, PingsReachTheServer) {
    Connection ws = connect("/echo");
    ws->ping("are you there");
    EXPECT_TRUE(server_saw("ping are you there"));
    EXPECT_THROW(ws->ping(std::string(126, 'x')), std::invalid_argument);
}

// Tornado's on_ping and on_pong of a client, as options here.
TEST_F(WebSocketClient, TheClientIsToldOfPingsAndPongs) {
    std::vector<std::string> client_events;
    WebSocketConnectOptions options;
    options.on_ping = [&](std::string data) { client_events.push_back("ping " + data); };
    options.on_pong = [&](std::string data) { client_events.push_back("pong " + data); };
    Connection ws = connect("/echo", options);
    ws->ping("hello");
    run_sync([&]() -> Task<void> {
        co_await ws->write_message("ping me");
        while (client_events.size() < 2) co_await sleep(5ms);
    });
    std::sort(client_events.begin(), client_events.end());  // the two may come in either order
    EXPECT_EQ(client_events, (std::vector<std::string>{"ping from the server", "pong hello"}));
}

TEST_F(WebSocketClient, PingIntervalPingsTheServer) {
    WebSocketConnectOptions options;
    options.ping_interval = 20ms;
    Connection ws = connect("/echo", options);
    EXPECT_TRUE(server_saw("ping "));  // an empty ping, from the timer
}

TEST_F(WebSocketClient, SubprotocolsAreOfferedAndTheChoiceKnown) {
    WebSocketConnectOptions options;
    options.subprotocols = {"chat.v1", "chat.v2"};
    Connection ws = connect("/echo", options);
    EXPECT_EQ(ws->selected_subprotocol(), "chat.v2");
    Connection none = connect("/echo");
    EXPECT_EQ(none->selected_subprotocol(), std::nullopt);
}

TEST_F(WebSocketClient, CompressionWhenBothSidesWantIt) {
    WebSocketConnectOptions options;
    options.compression_options = WebSocketCompressionOptions{};
    Connection ws = connect("/echo", options);
    EXPECT_EQ(ws->headers().get("Sec-WebSocket-Extensions"), "permessage-deflate");
    std::string text(100000, 'z');
    run_sync([&]() -> Task<void> {
        for (int i = 0; i < 3; ++i) {
            co_await ws->write_message(text);
            EXPECT_EQ((co_await ws->read_message())->data, text);
        }
    });
    Connection plain = connect("/echo");
    EXPECT_FALSE(plain->headers().contains("Sec-WebSocket-Extensions"));
}

TEST_F(WebSocketClient, AMessageOverTheClientsLimitClosesWith1009) {
    WebSocketConnectOptions options;
    options.max_message_size = 1000;
    Connection ws = connect("/echo", options);
    run_sync([&]() -> Task<void> { co_await ws->write_message("big"); });
    EXPECT_EQ(read(ws), std::nullopt);
    EXPECT_TRUE(server_saw("close 1009 message too big"));
}

TEST_F(WebSocketClient, ErrorsSayWhatWentWrong) {
    auto what = [](std::exception_ptr error) -> std::string {
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            return e.what();
        }
    };
    auto code_of = [](std::exception_ptr error) {
        try {
            std::rethrow_exception(error);
        } catch (const HTTPClientError& e) {
            return e.code();
        } catch (...) {
            return 0;
        }
    };
    EXPECT_EQ(code_of(connect_error(ws_url("/nowhere"))), 404);
    EXPECT_EQ(what(connect_error(ws_url("/page"))), "Non-websocket response");
    std::exception_ptr refused = connect_error("ws://127.0.0.1:" + std::to_string(testing::unused_port()) + "/");
    EXPECT_EQ(code_of(refused), 599);
    EXPECT_NE(what(refused).find("Connection refused"), std::string::npos) << what(refused);
    EXPECT_NE(what(connect_error("http://127.0.0.1/")).find("not a ws:// or wss:// URL"), std::string::npos);
}

// --- servers that break the rules ---------------------------------------------------------------

// A server on its own thread that answers one handshake with `answer`
// (formatted with the right Accept value unless the test says otherwise),
// sends `frames`, and keeps what the client sends back.
class FakeServer {
public:
    FakeServer(std::string frames, bool wrong_accept = false) {
        auto sockets = bind_sockets(0, "127.0.0.1");
        port_ = SocketAddress::local_of(sockets[0].get()).port();
        listener_ = std::move(sockets[0]);
        thread_ = std::thread([this, frames = std::move(frames), wrong_accept] {
            testing::wait_readable(listener_.get(), 10s);
            FileDescriptor peer(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            std::string request;
            while (request.find("\r\n\r\n") == std::string::npos) {
                std::string piece = testing::recv_bytes(peer.get(), 1, 10s);
                if (piece.empty()) return;
                request += piece;
            }
            std::string lower = request;
            for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::size_t at = lower.find("sec-websocket-key: ") + 19;
            std::string key = request.substr(at, request.find("\r\n", at) - at);
            std::string accept = wrong_accept ? "d3JvbmcgYWNjZXB0IHZhbHVlPQ==" : websocket_protocol::compute_accept_value(key);
            testing::send_all(peer.get(), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                          "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n" + frames);
            received_ = testing::recv_until_close(peer.get(), 5s);
        });
    }
    ~FakeServer() { join(); }
    std::uint16_t port() const { return port_; }
    // What the client sent after the handshake, once it closed.
    const std::string& received() {
        join();
        return received_;
    }

private:
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    FileDescriptor listener_;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::string received_;
};

class WebSocketClientRules : public testing::AsyncTestCase {};

TEST_F(WebSocketClientRules, AMaskedServerFrameFailsTheConnectionWith1002) {
    std::array<char, 4> mask = {'a', 'b', 'c', 'd'};
    std::string masked;
    websocket_protocol::append_frame(masked, websocket_protocol::Opcode::text, "hi", true, false, &mask);
    FakeServer server(masked);
    std::optional<WebSocketMessage> message = run_sync([&]() -> Task<std::optional<WebSocketMessage>> {
        Connection ws = co_await websocket_connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        co_return co_await ws->read_message();
    });
    EXPECT_EQ(message, std::nullopt);
    // The client's close frame (masked, as a client's must be): 1002.
    std::string sent = server.received();
    ASSERT_GE(sent.size(), 8u);
    websocket_protocol::MessageReader reader(/*expect_masked=*/true, 1000);
    reader.feed(sent.substr(0, 2));
    websocket_protocol::Event close = reader.feed(sent.substr(2, reader.bytes_wanted()));
    EXPECT_EQ(close.kind, websocket_protocol::Event::Kind::close);
    EXPECT_EQ(close.code, 1002);
    EXPECT_EQ(close.data, "server frame masked");
}

TEST_F(WebSocketClientRules, AWrongAcceptValueIsRefused) {
    FakeServer server("", /*wrong_accept=*/true);
    try {
        run_sync([&]() -> Task<void> {
            co_await websocket_connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        });
        FAIL() << "connected despite the wrong Accept value";
    } catch (const WebSocketError& error) {
        EXPECT_STREQ(error.what(), "wrong Sec-WebSocket-Accept in the server's answer");
    }
}

}  // namespace
}  // namespace tornado
