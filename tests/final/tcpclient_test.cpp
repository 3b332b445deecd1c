// Tests for tornado/tcpclient.h: names, refused and hanging connections,
// timeouts, and the second address family stepping in.
#include "tornado/tcpclient.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "net_test_util.h"
#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/ioloop.h"

namespace {

using namespace std::chrono_literals;
using tornado::Future;
using tornado::IOLoop;
using tornado::IOStream;
using tornado::SocketAddress;
using tornado::StreamClosedError;
using tornado::Task;

constexpr auto kClientTestTimeout = std::chrono::seconds(10);

// Answers every name with the same addresses.
class FixedResolver : public tornado::Resolver {
public:
    explicit FixedResolver(std::vector<SocketAddress> addresses) : addresses_(std::move(addresses)) {}
    Future<std::vector<SocketAddress>> resolve(std::string, std::uint16_t, int) override {
        Future<std::vector<SocketAddress>> found;
        found.set_result(addresses_);
        return found;
    }

private:
    std::vector<SocketAddress> addresses_;
};

// Never answers.
class SilentResolver : public tornado::Resolver {
public:
    Future<std::vector<SocketAddress>> resolve(std::string, std::uint16_t, int) override {
        return Future<std::vector<SocketAddress>>();
    }
};

using tornado::testing::BlackHole;
using tornado::testing::unused_port;

std::string real_error_message(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const StreamClosedError& closed) {
        try {
            std::rethrow_exception(closed.real_error());
        } catch (const std::exception& real) {
            return real.what();
        }
    } catch (const std::exception& other) {
        return std::string("not a StreamClosedError: ") + other.what();
    }
    return "";
}

TEST(TCPClient, ConnectsByName) {
    IOLoop loop;
    auto listeners = tornado::bind_sockets(0, "127.0.0.1");
    std::uint16_t port = SocketAddress::local_of(listeners[0].get()).port();
    tornado::TCPClient client;
    auto stream = loop.run_sync([&] { return client.connect("localhost", port, {.family = AF_INET}); },
                                kClientTestTimeout);
    ASSERT_TRUE(stream);
    EXPECT_FALSE(stream->closed());
    EXPECT_EQ(SocketAddress::peer_of(stream->fileno()).port(), port);
}

TEST(TCPClient, ARefusedConnectionNamesTheAddress) {
    IOLoop loop;
    std::uint16_t port = unused_port();
    tornado::TCPClient client;
    Future<std::shared_ptr<IOStream>> connecting = client.connect("127.0.0.1", port);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return connecting.done(); }));
    std::exception_ptr error;
    try {
        connecting.result();
    } catch (...) {
        error = std::current_exception();
    }
    EXPECT_EQ(real_error_message(error),
              "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST(TCPClient, EveryAddressFailingReportsTheLastOne) {
    IOLoop loop;
    std::uint16_t first = unused_port();
    std::uint16_t second = unused_port();
    auto resolver = std::make_shared<FixedResolver>(std::vector<SocketAddress>{
        SocketAddress::from_ip("127.0.0.1", first), SocketAddress::from_ip("127.0.0.1", second)});
    tornado::TCPClient client(resolver);
    Future<std::shared_ptr<IOStream>> connecting = client.connect("twice.test", 1);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return connecting.done(); }));
    std::exception_ptr error = connecting.exception();
    EXPECT_EQ(real_error_message(error),
              "connect to 127.0.0.1:" + std::to_string(second) + ": Connection refused");
}

TEST(TCPClient, ATimeoutWhileConnectingClosesTheAttempt) {
    IOLoop loop;
    BlackHole hole;
    tornado::TCPClient client;
    int descriptors = tornado::testing::open_descriptor_count();
    auto started = std::chrono::steady_clock::now();
    Future<std::shared_ptr<IOStream>> connecting =
        client.connect("127.0.0.1", hole.address.port(), 200ms);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return connecting.done(); }));
    double took = tornado::testing::seconds_since(started);
    try {
        connecting.result();
        FAIL() << "connected to a black hole";
    } catch (const tornado::TimeoutError& error) {
        EXPECT_EQ(std::string(error.what()),
                  "Timeout connecting to 127.0.0.1:" + std::to_string(hole.address.port()));
    }
    EXPECT_GE(took, 0.15);
    EXPECT_LT(took, 2.0);
    tornado::testing::run_turns(loop, 2);
    EXPECT_EQ(tornado::testing::open_descriptor_count(), descriptors);  // the attempt was closed
}

TEST(TCPClient, ATimeoutWhileResolving) {
    IOLoop loop;
    tornado::TCPClient client(std::make_shared<SilentResolver>());
    Future<std::shared_ptr<IOStream>> connecting = client.connect("slow.test", 80, 50ms);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return connecting.done(); }));
    EXPECT_THROW(connecting.result(), tornado::TimeoutError);
}

TEST(TCPClient, TheSecondFamilyTakesOverFromAFailingFirst) {
    // ::1 first (nothing listens there, or no IPv6 at all: it fails fast),
    // then 127.0.0.1, where the server is.
    IOLoop loop;
    auto listeners = tornado::bind_sockets(0, "127.0.0.1");
    std::uint16_t port = SocketAddress::local_of(listeners[0].get()).port();
    auto resolver = std::make_shared<FixedResolver>(std::vector<SocketAddress>{
        SocketAddress::from_ip("::1", unused_port()), SocketAddress::from_ip("127.0.0.1", port)});
    tornado::TCPClient client(resolver);
    auto started = std::chrono::steady_clock::now();
    auto stream = loop.run_sync([&] { return client.connect("dual.test", port); }, kClientTestTimeout);
    EXPECT_EQ(SocketAddress::peer_of(stream->fileno()).port(), port);
    EXPECT_LT(tornado::testing::seconds_since(started), 0.25);  // did not wait for the 300 ms
}

TEST(TCPClient, TheSecondFamilyStartsWhenTheFirstHangs) {
    IOLoop loop;
    {
        tornado::FileDescriptor probe(::socket(AF_INET6, SOCK_STREAM, 0));
        SocketAddress loopback = SocketAddress::from_ip("::1", 0);
        if (!probe || ::bind(probe.get(), loopback.data(), loopback.size()) != 0) {
            GTEST_SKIP() << "no IPv6 loopback here";
        }
    }
    BlackHole hole;  // IPv4, first
    auto listeners = tornado::bind_sockets(0, "::1");
    std::uint16_t port6 = SocketAddress::local_of(listeners[0].get()).port();
    auto resolver = std::make_shared<FixedResolver>(
        std::vector<SocketAddress>{hole.address, SocketAddress::from_ip("::1", port6)});
    tornado::TCPClient client(resolver);
    auto started = std::chrono::steady_clock::now();
    auto stream = loop.run_sync([&] { return client.connect("dual.test", 1, 5s); }, kClientTestTimeout);
    double took = tornado::testing::seconds_since(started);
    EXPECT_EQ(SocketAddress::peer_of(stream->fileno()).port(), port6);
    EXPECT_GE(took, 0.25);  // after the first family's head start
    EXPECT_LT(took, 2.0);
}

TEST(TCPClient, BindsTheLocalEndWhenAsked) {
    IOLoop loop;
    auto listeners = tornado::bind_sockets(0, "127.0.0.1");
    std::uint16_t port = SocketAddress::local_of(listeners[0].get()).port();
    std::uint16_t source_port = unused_port();
    tornado::TCPClient client;
    auto stream = loop.run_sync(
        [&] { return client.connect("127.0.0.1", port, {.source_ip = "127.0.0.1", .source_port = source_port}); },
        kClientTestTimeout);
    SocketAddress local = SocketAddress::local_of(stream->fileno());
    EXPECT_EQ(local.ip(), "127.0.0.1");
    EXPECT_EQ(local.port(), source_port);
}

}  // namespace
