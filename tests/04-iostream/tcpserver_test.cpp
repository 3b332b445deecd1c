// tcpserver_test.cpp: TCPServer hands out streams; a line-echo server on it
// serves many clients, and a client that stalls stalls nobody else.
//
// The loop runs on a thread of its own; the test thread plays the clients
// with blocking TestClients whose every wait has a deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ioloop.h"
#include "iostream.h"
#include "tcpserver.h"
#include "test_client.h"

namespace course::testing {
namespace {

// Each line comes back; the next line is read once the echo has gone out.
void echo_lines(const std::shared_ptr<IOStream>& stream) {
    stream->read_until("\n", [stream](std::string line) {
        stream->write(line, [stream] { echo_lines(stream); });
    }, 4096);
}

class LineEchoServer : public TCPServer {
public:
    using TCPServer::TCPServer;
    std::vector<std::string> addresses() {
        std::lock_guard lock(mutex_);
        return addresses_;
    }
    bool throw_in_handle_stream = false;

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string address) override {
        {
            std::lock_guard lock(mutex_);
            addresses_.push_back(address);
        }
        if (throw_in_handle_stream) throw std::runtime_error("handle_stream failed on purpose");
        echo_lines(stream);
    }

private:
    std::mutex mutex_;
    std::vector<std::string> addresses_;
};

class TCPServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        server.listen(0);
        loop_thread = std::thread([this] { loop.start(); });
    }
    void TearDown() override {
        loop.stop();
        loop_thread.join();
    }
    // Runs `work` on the loop's thread and waits for it.
    void on_loop(std::function<void()> work) {
        std::promise<void> done;
        loop.add_callback([&] {
            work();
            done.set_value();
        });
        ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
    }

    IOLoop loop;
    LineEchoServer server{loop};
    std::thread loop_thread;
};

TEST_F(TCPServerTest, ListenOnPortZeroGivesTheRealPort) {
    EXPECT_NE(server.port(), 0);
}

TEST_F(TCPServerTest, EchoesLinesSentInPieces) {
    TestClient client(server.port());
    client.send("hel");
    client.send("lo\nwor");
    EXPECT_EQ(client.read_until("\n"), "hello\n");
    client.send("ld\n");
    EXPECT_EQ(client.read_until("\n"), "world\n");
}

TEST_F(TCPServerTest, HandleStreamGetsThePeerAddress) {
    TestClient client(server.port());
    client.send("x\n");
    client.read_until("\n");
    auto addresses = server.addresses();
    ASSERT_EQ(addresses.size(), 1u);
    EXPECT_EQ(addresses[0].rfind("127.0.0.1:", 0), 0u) << addresses[0];
}

TEST_F(TCPServerTest, ServesManyClientsAtOnce) {
    constexpr int kClients = 100;
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < kClients; ++i) clients.push_back(std::make_unique<TestClient>(server.port()));
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < kClients; ++i) {
            clients[i]->send("client " + std::to_string(i) + " round " + std::to_string(round) + "\n");
        }
        for (int i = 0; i < kClients; ++i) {
            EXPECT_EQ(clients[i]->read_until("\n"),
                      "client " + std::to_string(i) + " round " + std::to_string(round) + "\n");
        }
    }
}

TEST_F(TCPServerTest, IdleAndHalfLinePeersDoNotBlockOthers) {
    TestClient idle(server.port());  // connects and never speaks
    TestClient half(server.port());
    half.send("half a li");          // and never finishes its line
    auto start = std::chrono::steady_clock::now();
    TestClient other(server.port());
    other.send("served\n");
    EXPECT_EQ(other.read_until("\n", 1s), "served\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    half.send("ne\n");
    EXPECT_EQ(half.read_until("\n"), "half a line\n");
}

TEST_F(TCPServerTest, LineOverTheLimitClosesThatConnectionOnly) {
    TestClient greedy(server.port());
    greedy.send(std::string(5000, 'x'));
    EXPECT_TRUE(greedy.closed_by_server());
    TestClient other(server.port());
    other.send("fine\n");
    EXPECT_EQ(other.read_until("\n"), "fine\n");
}

TEST_F(TCPServerTest, AnExceptionInHandleStreamClosesThatStreamOnly) {
    on_loop([&] { server.throw_in_handle_stream = true; });
    TestClient unlucky(server.port());
    EXPECT_TRUE(unlucky.closed_by_server());
    on_loop([&] { server.throw_in_handle_stream = false; });
    TestClient lucky(server.port());
    lucky.send("ok\n");
    EXPECT_EQ(lucky.read_until("\n"), "ok\n");
}

TEST_F(TCPServerTest, StopStopsAcceptingButKeepsConnections) {
    TestClient before(server.port());
    before.send("a\n");
    EXPECT_EQ(before.read_until("\n"), "a\n");
    std::uint16_t port = server.port();
    on_loop([&] { server.stop(); });
    EXPECT_EQ(server.port(), 0);
    EXPECT_THROW(TestClient after(port), std::system_error);
    before.send("b\n");
    EXPECT_EQ(before.read_until("\n"), "b\n");
}

}  // namespace
}  // namespace course::testing
