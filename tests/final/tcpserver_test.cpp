// Tests for tornado/tcpserver.h, with tornado/tcpclient.h on the other end:
// echo, many clients at once, the handler styles, failures, stopping.
#include "tornado/tcpserver.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "net_test_util.h"
#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/tcpclient.h"

namespace {

using namespace std::chrono_literals;
using tornado::IOLoop;
using tornado::IOStream;
using tornado::SocketAddress;
using tornado::StreamClosedError;
using tornado::Task;

constexpr auto kServerTestTimeout = std::chrono::seconds(20);

class EchoServer : public tornado::TCPServer {
public:
    int connections = 0;

protected:
    Task<void> handle_stream(std::shared_ptr<IOStream> stream, SocketAddress address) override {
        ++connections;
        EXPECT_EQ(address.ip(), "127.0.0.1");
        try {
            for (;;) {
                std::string line = co_await stream->read_until("\n");
                co_await stream->write(std::move(line));
            }
        } catch (const StreamClosedError&) {
            // the client left
        }
    }
};

// Connects, sends each line and collects each echo.
Task<std::vector<std::string>> echo_lines(tornado::TCPClient& client, std::uint16_t port,
                                          std::vector<std::string> lines) {
    std::shared_ptr<IOStream> stream = co_await client.connect("127.0.0.1", port);
    std::vector<std::string> replies;
    for (const std::string& line : lines) {
        co_await stream->write(line);
        replies.push_back(co_await stream->read_until("\n"));
    }
    stream->close();
    co_return replies;
}

TEST(TCPServer, EchoesLinesToATCPClient) {
    IOLoop loop;
    EchoServer server;
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    auto replies = loop.run_sync([&] { return echo_lines(client, server.port(), {"one\n", "two\n", "three\n"}); },
                                 kServerTestTimeout);
    EXPECT_EQ(replies, (std::vector<std::string>{"one\n", "two\n", "three\n"}));
    EXPECT_EQ(server.connections, 1);
}

TEST(TCPServer, ServesManyClientsAtOnce) {
    IOLoop loop;
    EchoServer server;
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    constexpr int kClients = 200;
    auto one_client = [&](int id) -> Task<int> {
        std::vector<std::string> lines;
        for (int i = 0; i < 10; ++i) lines.push_back("client " + std::to_string(id) + " line " + std::to_string(i) + "\n");
        std::vector<std::string> replies = co_await echo_lines(client, server.port(), lines);
        co_return replies == lines ? 1 : 0;
    };
    int good = loop.run_sync([&]() -> Task<int> {
        std::vector<Task<int>> clients;
        for (int id = 0; id < kClients; ++id) clients.push_back(one_client(id));
        std::vector<int> results = co_await tornado::multi(std::move(clients));
        int sum = 0;
        for (int result : results) sum += result;
        co_return sum;
    }, kServerTestTimeout);
    EXPECT_EQ(good, kClients);
    EXPECT_EQ(server.connections, kClients);
}

TEST(TCPServer, APeerThatNeverSpeaksDoesNotStopOthers) {
    IOLoop loop;
    EchoServer server;
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    auto replies = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        std::shared_ptr<IOStream> silent = co_await client.connect("127.0.0.1", server.port());
        std::vector<std::string> lines{"hi\n"};
        std::vector<std::string> echoed = co_await echo_lines(client, server.port(), std::move(lines));
        EXPECT_FALSE(silent->closed());
        co_return echoed;
    }, kServerTestTimeout);
    EXPECT_EQ(replies, std::vector<std::string>{"hi\n"});
}

// listen() binds with the options bind_options gives (HTTPServer's, with
// http3, ask for a port UDP can have too).
class UdpTooServer : public EchoServer {
protected:
    tornado::BindOptions bind_options(tornado::BindOptions asked) const override {
        asked.udp_too = true;
        return asked;
    }
};

TEST(TCPServer, ListenBindsWithTheOptionsOfBindOptions) {
    IOLoop loop;
    tornado::FileDescriptor udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    SocketAddress any_port = SocketAddress::from_ip("127.0.0.1", 0);
    ASSERT_EQ(::bind(udp.get(), any_port.data(), any_port.size()), 0);
    std::uint16_t port = SocketAddress::local_of(udp.get()).port();
    UdpTooServer server;
    EXPECT_THROW(server.listen(port, "127.0.0.1"), std::system_error);
    EXPECT_THROW(server.bind(port, "127.0.0.1"), std::system_error);
    EXPECT_TRUE(server.addresses().empty());
}

TEST(TCPServer, APlainFunctionHandler) {
    IOLoop loop;
    tornado::TCPServer server([](std::shared_ptr<IOStream> stream, SocketAddress address) {
        stream->write("hello " + address.ip() + "\n");
        stream->close();
    });
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string greeting = loop.run_sync([&]() -> Task<std::string> {
        auto stream = co_await client.connect("127.0.0.1", server.port());
        co_return co_await stream->read_until_close();
    }, kServerTestTimeout);
    EXPECT_EQ(greeting, "hello 127.0.0.1\n");
}

TEST(TCPServer, ACoroutineLambdaHandler) {
    IOLoop loop;
    tornado::TCPServer server([](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
        std::string name = co_await stream->read_until("\n");
        co_await tornado::sleep(5ms);
        co_await stream->write("hi " + name);
        stream->close();
    });
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string reply = loop.run_sync([&]() -> Task<std::string> {
        auto stream = co_await client.connect("127.0.0.1", server.port());
        co_await stream->write("ada\n");
        co_return co_await stream->read_until_close();
    }, kServerTestTimeout);
    EXPECT_EQ(reply, "hi ada\n");
}

TEST(TCPServer, AHandlerThatFailsIsLoggedAndItsConnectionClosed) {
    IOLoop loop;
    tornado::testing::LogCapture log;
    tornado::TCPServer server([](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
        co_await stream->read_until("\n");
        throw std::runtime_error("bad input");
    });
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string rest = loop.run_sync([&]() -> Task<std::string> {
        auto stream = co_await client.connect("127.0.0.1", server.port());
        co_await stream->write("boom\n");
        co_return co_await stream->read_until_close();  // the server closes it
    }, kServerTestTimeout);
    EXPECT_EQ(rest, "");
    EXPECT_TRUE(log.contains("Exception in handle_stream"));
    EXPECT_TRUE(log.contains("bad input"));
}

TEST(TCPServer, AHandlerThatThrowsAtOnceIsLoggedAndItsConnectionClosed) {
    IOLoop loop;
    tornado::testing::LogCapture log;
    tornado::TCPServer server([](std::shared_ptr<IOStream>, SocketAddress) {
        throw std::runtime_error("refused");
    });
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string rest = loop.run_sync([&]() -> Task<std::string> {
        auto stream = co_await client.connect("127.0.0.1", server.port());
        co_return co_await stream->read_until_close();
    }, kServerTestTimeout);
    EXPECT_EQ(rest, "");
    EXPECT_TRUE(log.contains("Error in connection callback"));
}

TEST(TCPServer, StopStopsAcceptingButKeepsOpenConnections) {
    IOLoop loop;
    EchoServer server;
    server.listen(0, "127.0.0.1");
    std::uint16_t port = server.port();
    tornado::TCPClient client;
    loop.run_sync([&]() -> Task<void> {
        auto open = co_await client.connect("127.0.0.1", port);
        co_await open->write("before\n");
        EXPECT_EQ(co_await open->read_until("\n"), "before\n");
        server.stop();
        server.stop();
        EXPECT_EQ(server.port(), 0);
        bool refused = false;
        try {
            co_await client.connect("127.0.0.1", port);
        } catch (const StreamClosedError&) {
            refused = true;
        }
        EXPECT_TRUE(refused);
        co_await open->write("after\n");
        EXPECT_EQ(co_await open->read_until("\n"), "after\n");
    }, kServerTestTimeout);
}

TEST(TCPServer, StopFromInsideHandleStream) {
    IOLoop loop;
    tornado::TCPServer* self = nullptr;
    tornado::TCPServer server([&](std::shared_ptr<IOStream> stream, SocketAddress) {
        self->stop();
        stream->write("last one\n");
    });
    self = &server;
    server.listen(0, "127.0.0.1");
    std::uint16_t port = server.port();
    tornado::TCPClient client;
    std::string line = loop.run_sync([&]() -> Task<std::string> {
        auto stream = co_await client.connect("127.0.0.1", port);
        co_return co_await stream->read_until("\n");
    }, kServerTestTimeout);
    EXPECT_EQ(line, "last one\n");
    EXPECT_EQ(server.port(), 0);
}

TEST(TCPServer, AGracefulStopOfTheLoopStopsAccepting) {
    IOLoop loop;
    EchoServer server;
    server.listen(0, "127.0.0.1");
    loop.add_callback([&] { loop.graceful_stop(1s); });
    loop.start();
    EXPECT_TRUE(server.addresses().empty());
}

TEST(TCPServer, BindThenStartInOneProcess) {
    IOLoop loop;
    EchoServer server;
    server.bind(0, "127.0.0.1");
    std::uint16_t port = server.port();
    EXPECT_NE(port, 0);
    server.start(1);
    EXPECT_THROW(server.start(1), std::logic_error);
    tornado::TCPClient client;
    auto replies = loop.run_sync([&] { return echo_lines(client, port, {"started\n"}); }, kServerTestTimeout);
    EXPECT_EQ(replies, std::vector<std::string>{"started\n"});
}

TEST(TCPServer, ListeningOnEveryInterface) {
    IOLoop loop;
    EchoServer server;
    server.listen(0);
    ASSERT_FALSE(server.addresses().empty());
    tornado::TCPClient client;
    auto replies = loop.run_sync([&] { return echo_lines(client, server.port(), {"anyone\n"}); }, kServerTestTimeout);
    EXPECT_EQ(replies, std::vector<std::string>{"anyone\n"});
}

TEST(TCPServer, StreamsGetTheServersMaxBufferSize) {
    IOLoop loop;
    tornado::TCPServer server(
        [](std::shared_ptr<IOStream> stream, SocketAddress) -> Task<void> {
            EXPECT_EQ(stream->max_buffer_size(), 100u);
            try {
                co_await stream->read_until("\n");
            } catch (const StreamClosedError&) {
            }
        },
        tornado::IOStreamOptions{.max_buffer_size = 100});
    server.listen(0, "127.0.0.1");
    tornado::TCPClient client;
    std::string rest = loop.run_sync([&]() -> Task<std::string> {
        auto stream = co_await client.connect("127.0.0.1", server.port());
        co_await stream->write(std::string(1000, 'x'));
        co_return co_await stream->read_until_close();  // closed: buffer full
    }, kServerTestTimeout);
    EXPECT_EQ(rest, "");
}

// --- what a connection costs -------------------------------------------------------------------

// Keep-alive handlers, idle between requests, written two ways.
Task<void> keep_alive(std::shared_ptr<IOStream> stream) {
    try {
        for (;;) {
            co_await stream->read_until("\r\n\r\n", 65536);
            co_await stream->write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    } catch (const StreamClosedError&) {
    }
}

class LongHandler : public tornado::TCPServer {
public:
    int handled = 0;

protected:
    // handle_stream itself lives as long as the connection: the server
    // watches its Future.
    Task<void> handle_stream(std::shared_ptr<IOStream> stream, SocketAddress) override {
        ++handled;
        try {
            for (;;) {
                co_await stream->read_until("\r\n\r\n", 65536);
                co_await stream->write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        } catch (const StreamClosedError&) {
        }
    }
};

class ShortHandler : public tornado::TCPServer {
public:
    int handled = 0;

protected:
    // handle_stream starts the connection's coroutine and is done.
    Task<void> handle_stream(std::shared_ptr<IOStream> stream, SocketAddress) override {
        ++handled;
        keep_alive(std::move(stream));
        co_return;
    }
};

// Heap bytes (as malloc counts them) per idle keep-alive connection.
template <typename Server>
double heap_per_connection(int connections) {
    IOLoop loop;
    Server server;
    server.listen(0, "127.0.0.1");
    SocketAddress address = SocketAddress::from_ip("127.0.0.1", server.port());
    auto open_connections = [&](std::vector<tornado::FileDescriptor>& clients) {
        int target = server.handled + connections;
        for (int i = 0; i < connections; ++i) {
            clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            if (::connect(clients.back().get(), address.data(), address.size()) < 0) tornado::throw_errno("connect");
        }
        tornado::testing::run_until(loop, [&] { return server.handled >= target; });
        tornado::testing::run_turns(loop, 3);
    };
    // First a round that grows the loop's tables (they keep their size).
    std::vector<tornado::FileDescriptor> warm_up;
    open_connections(warm_up);
    warm_up.clear();
    tornado::testing::run_turns(loop, 10);
    std::vector<tornado::FileDescriptor> clients;
    clients.reserve(static_cast<std::size_t>(connections));
    std::int64_t before = tornado::testing::live_bytes();
    open_connections(clients);
    std::int64_t after = tornado::testing::live_bytes();
    return static_cast<double>(after - before) / connections;
}

TEST(TCPServerMemory, HeapBytesPerIdleKeepAliveConnection) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "malloc belongs to the sanitizer here: its block sizes are its own";
#endif
    constexpr int kConnections = 500;
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 4 * kConnections + 100) GTEST_SKIP() << "needs more descriptors";
    double long_handler = heap_per_connection<LongHandler>(kConnections);
    double short_handler = heap_per_connection<ShortHandler>(kConnections);
    std::printf("[ measure  ] heap per idle keep-alive connection: %.0f bytes when handle_stream "
                "lives as long as it, %.0f when handle_stream starts its coroutine and returns\n",
                long_handler, short_handler);
    RecordProperty("heap_bytes_per_connection_long_handler", static_cast<int>(long_handler));
    RecordProperty("heap_bytes_per_connection_short_handler", static_cast<int>(short_handler));
    EXPECT_LT(long_handler, 1024.0);
    EXPECT_LT(short_handler, 800.0);
}

}  // namespace
