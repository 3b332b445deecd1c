// Tests for tornado/udpsocket.h: datagrams both ways in batches, with
// their addresses and ECN bits, GSO, what a send refuses, and the socket
// going away inside its own callback.
#include "tornado/udpsocket.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "test_util.h"
#include "tornado/ioloop.h"

namespace {

using namespace std::chrono_literals;
using tornado::Datagram;
using tornado::IOLoop;
using tornado::OutgoingDatagram;
using tornado::SendResult;
using tornado::SocketAddress;
using tornado::UDPSocket;

SocketAddress any_port(const char* ip = "127.0.0.1") { return SocketAddress::from_ip(ip, 0); }

// What one socket received: each datagram's bytes, sender, destination and ECN.
struct Received {
    std::string bytes;
    SocketAddress peer;
    SocketAddress destination;
    std::uint8_t ecn;
};

std::vector<Received>& collect(UDPSocket& socket, std::vector<Received>& into) {
    socket.start_reading([&into](const Datagram& datagram) {
        into.push_back(
            {std::string(datagram.bytes), datagram.peer, datagram.destination, datagram.ecn});
    });
    return into;
}

// Runs the loop until `count` datagrams are in (or 5 s pass).
bool wait_for(IOLoop& loop, const std::vector<Received>& received, std::size_t count) {
    return tornado::testing::run_until(
        loop, [&] { return received.size() >= count; }, 5s);
}

TEST(UDPSocketTest, ADatagramComesWithItsSenderAndTheAddressItWasSentTo) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    OutgoingDatagram hello{"hello", server.local_address()};
    SendResult result = client.send({&hello, 1});
    EXPECT_EQ(result.sent, 1u);
    EXPECT_EQ(result.error, 0);
    ASSERT_TRUE(wait_for(loop, received, 1));
    EXPECT_EQ(received[0].bytes, "hello");
    EXPECT_EQ(received[0].peer, client.local_address());
    EXPECT_EQ(received[0].destination.to_string(), server.local_address().to_string());
    EXPECT_EQ(received[0].ecn, 0);
}

TEST(UDPSocketTest, AnAnswerSentFromTheLocalAddressReachesItsPeer) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    server.start_reading([&](const Datagram& datagram) {
        std::string answer = "re: " + std::string(datagram.bytes);
        OutgoingDatagram reply{answer, datagram.peer, datagram.destination};
        EXPECT_EQ(server.send({&reply, 1}).sent, 1u);
    });
    std::vector<Received> answers;
    collect(client, answers);
    OutgoingDatagram ping{"ping", server.local_address()};
    client.send({&ping, 1});
    ASSERT_TRUE(wait_for(loop, answers, 1));
    EXPECT_EQ(answers[0].bytes, "re: ping");
    EXPECT_EQ(answers[0].peer, server.local_address());
}

TEST(UDPSocketTest, TheEcnBitsGoAndComeWithEachDatagram) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    std::vector<OutgoingDatagram> out;
    for (std::uint8_t ecn : {0, 1, 2, 3}) {
        out.push_back({"x", server.local_address(), {}, ecn});
    }
    EXPECT_EQ(client.send(out).sent, 4u);
    ASSERT_TRUE(wait_for(loop, received, 4));
    for (std::uint8_t ecn = 0; ecn < 4; ++ecn) EXPECT_EQ(received[ecn].ecn, ecn);
}

TEST(UDPSocketTest, ManyDatagramsGoInOneCallAndComeInOrder) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    // More than two batches, few enough for the default receive buffer.
    std::vector<std::string> payloads;
    for (int i = 0; i < 150; ++i) payloads.push_back("datagram " + std::to_string(i));
    std::vector<OutgoingDatagram> out;
    for (const std::string& payload : payloads) out.push_back({payload, server.local_address()});
    SendResult result = client.send(out);
    EXPECT_EQ(result.sent, payloads.size());
    EXPECT_EQ(result.error, 0);
    ASSERT_TRUE(wait_for(loop, received, payloads.size()));
    for (std::size_t i = 0; i < payloads.size(); ++i) EXPECT_EQ(received[i].bytes, payloads[i]);
}

TEST(UDPSocketTest, ASegmentedDatagramArrivesAsItsSegments) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    std::string bytes;
    for (char c = 'a'; c < 'k'; ++c) bytes += std::string(100, c);  // ten of 100 bytes
    bytes += "tail";                                                // and a short last one
    OutgoingDatagram segmented{bytes, server.local_address(), {}, 0, 100};
    EXPECT_EQ(client.send({&segmented, 1}).sent, 1u);
    ASSERT_TRUE(wait_for(loop, received, 11));
    for (int i = 0; i < 10; ++i) EXPECT_EQ(received[i].bytes, std::string(100, 'a' + i));
    EXPECT_EQ(received[10].bytes, "tail");
}

TEST(UDPSocketTest, SegmentsTooManyBytesForOneSendGoOneByOne) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    // 64 segments of 1,200 bytes: 76,800 bytes, past what one UDP send carries.
    std::string bytes;
    for (int i = 0; i < 64; ++i) bytes += std::string(1200, static_cast<char>('0' + i));
    OutgoingDatagram segmented{bytes, server.local_address(), {}, 0, 1200};
    EXPECT_EQ(client.send({&segmented, 1}).sent, 1u);
    ASSERT_TRUE(wait_for(loop, received, 64));
    for (int i = 0; i < 64; ++i) {
        EXPECT_EQ(received[i].bytes, std::string(1200, static_cast<char>('0' + i)));
    }
}

TEST(UDPSocketTest, MoreSegmentsThanOneSendTakesAreRefused) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::string bytes(UDPSocket::kMaxSegments * 10 + 1, 'x');
    std::vector<OutgoingDatagram> out = {{"before", server.local_address()},
                                         {bytes, server.local_address(), {}, 0, 10}};
    SendResult result = client.send(out);
    EXPECT_EQ(result.sent, 1u);
    EXPECT_EQ(result.error, EMSGSIZE);
}

TEST(UDPSocketTest, ARefusedDatagramStopsTheSendThereAndTheRestGoesAfterIt) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    std::string too_long(70000, 'x');  // over UDP's 65,507 bytes
    std::vector<OutgoingDatagram> out = {{"first", server.local_address()},
                                         {too_long, server.local_address()},
                                         {"third", server.local_address()}};
    SendResult result = client.send(out);
    EXPECT_EQ(result.sent, 1u);
    EXPECT_EQ(result.error, EMSGSIZE);
    SendResult rest = client.send(std::span(out).subspan(2));
    EXPECT_EQ(rest.sent, 1u);
    ASSERT_TRUE(wait_for(loop, received, 2));
    EXPECT_EQ(received[0].bytes, "first");
    EXPECT_EQ(received[1].bytes, "third");
}

TEST(UDPSocketTest, ADatagramTooLongToReadIsDroppedAndCounted) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<Received> received;
    collect(server, received);
    std::string long_one(UDPSocket::kMaxDatagram + 1, 'x');
    std::vector<OutgoingDatagram> out = {{long_one, server.local_address()},
                                         {"short", server.local_address()}};
    EXPECT_EQ(client.send(out).sent, 2u);
    ASSERT_TRUE(wait_for(loop, received, 1));
    EXPECT_EQ(received[0].bytes, "short");
    EXPECT_EQ(server.dropped_too_long(), 1u);
}

// The kernel grants a socket's receive queue up to net.core.rmem_max.
int most_receive_buffer_bytes() {
    std::ifstream sysctl("/proc/sys/net/core/rmem_max");
    int bytes = 0;
    sysctl >> bytes;
    return bytes;
}

TEST(UDPSocketTest, ABurstOfHandshakesWaitsInTheKernelWhileTheLoopIsBusy) {
    if (most_receive_buffer_bytes() < UDPSocket::kReceiveBufferBytes) {
        GTEST_SKIP() << "net.core.rmem_max is under UDPSocket::kReceiveBufferBytes";
    }
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    // 1,000 datagrams the size of a QUIC Initial, sent while the server's
    // loop does not run: the default queue would keep about 90 of them.
    constexpr std::size_t kBurst = 1000;
    std::string initial(1200, 'i');
    std::vector<OutgoingDatagram> burst(kBurst, {initial, server.local_address()});
    std::size_t sent = 0;
    while (sent < kBurst) {
        SendResult result = client.send(std::span(burst).subspan(sent));
        ASSERT_TRUE(result.error == 0 || result.error == EAGAIN) << std::strerror(result.error);
        sent += result.sent;
    }
    std::vector<Received> received;
    collect(server, received);
    EXPECT_TRUE(wait_for(loop, received, kBurst)) << received.size() << " of " << kBurst;
}

TEST(UDPSocketTest, TheCallbackMayDestroyItsSocketMidBatch) {
    IOLoop loop;
    auto server = std::make_unique<UDPSocket>(any_port());
    UDPSocket client(any_port());
    int calls = 0;
    server->start_reading([&](const Datagram&) {
        ++calls;
        server.reset();
    });
    std::vector<OutgoingDatagram> out(10, OutgoingDatagram{"x", server->local_address()});
    EXPECT_EQ(client.send(out).sent, 10u);
    tornado::testing::run_until(
        loop, [&] { return server == nullptr; }, 5s);
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(calls, 1);
}

TEST(UDPSocketTest, StoppedReadingLeavesTheDatagramsQueuedForLater) {
    IOLoop loop;
    UDPSocket server(any_port());
    UDPSocket client(any_port());
    std::vector<std::string> received;
    server.start_reading([&](const Datagram& datagram) {
        received.emplace_back(datagram.bytes);
        server.stop_reading();
    });
    std::vector<OutgoingDatagram> out = {{"one", server.local_address()},
                                         {"two", server.local_address()}};
    client.send(out);
    tornado::testing::run_until(
        loop, [&] { return !received.empty(); }, 5s);
    tornado::testing::run_turns(loop, 5);
    ASSERT_EQ(received.size(), 1u);
    server.start_reading([&](const Datagram& datagram) { received.emplace_back(datagram.bytes); });
    tornado::testing::run_until(
        loop, [&] { return received.size() == 2; }, 5s);
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[1], "two");
}

TEST(UDPSocketTest, WaitWritableResolvesWhenTheBufferHasRoom) {
    IOLoop loop;
    UDPSocket socket(any_port());
    bool writable = loop.run_sync(
        [&]() -> tornado::Task<bool> {
            co_await socket.wait_writable();
            co_return true;
        },
        5s);
    EXPECT_TRUE(writable);
}

TEST(UDPSocketTest, IPv6WorksAlike) {
    IOLoop loop;
    std::unique_ptr<UDPSocket> server;
    try {
        server = std::make_unique<UDPSocket>(any_port("::1"));
    } catch (const std::system_error& error) {
        GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
    }
    UDPSocket client(any_port("::1"));
    std::vector<Received> received;
    collect(*server, received);
    OutgoingDatagram hello{"hello", server->local_address(), {}, 2};
    EXPECT_EQ(client.send({&hello, 1}).sent, 1u);
    ASSERT_TRUE(wait_for(loop, received, 1));
    EXPECT_EQ(received[0].bytes, "hello");
    EXPECT_EQ(received[0].destination.to_string(), server->local_address().to_string());
    EXPECT_EQ(received[0].ecn, 2);
}

TEST(UDPSocketTest, ABindThatFailsNamesTheAddress) {
    IOLoop loop;
    UDPSocket first(any_port());
    try {
        UDPSocket second(first.local_address());
        FAIL() << "the second bind succeeded";
    } catch (const std::system_error& error) {
        EXPECT_NE(std::string(error.what()).find("bind " + first.local_address().to_string()),
                  std::string::npos)
            << error.what();
    }
}

}  // namespace
