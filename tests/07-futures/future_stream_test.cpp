// future_stream_test.cpp: FutureStream and connect_stream (future_stream.h)
// against chapter 04's TCPServer, all on the test's loop: the reads and
// writes resolve their Futures, a close fails what is still owed with
// StreamClosedError, and connect fails the way a refused connection does.
// Graded with task 1 (Task1_FutureStream): FutureStream is the chapter's
// code, but the exercise builds it on the learner's future.h, and it uses
// only what task 1 writes (set_result, set_exception, add_done_callback).
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "future_fixture.h"
#include "future_stream.h"
#include "silent_server.h"
#include "socket.h"
#include "tcpserver.h"

namespace course::testing {
namespace {

// Echoes each line back; to "quit\n" it answers "bye" (no newline) and
// closes the connection.
class LineServer : public TCPServer {
public:
    using TCPServer::TCPServer;

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string) override { serve(stream); }

private:
    static void serve(const std::shared_ptr<IOStream>& stream) {
        stream->read_until("\n", [stream](std::string line) {
            if (line == "quit\n") {
                stream->write("bye", [stream] { stream->close(); });
                return;
            }
            stream->write(line);
            serve(stream);
        });
    }
};

// A port nobody listens on (it was free a moment ago).
std::uint16_t unused_port() {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    return local_port(listener.get());
}

class Task1_FutureStream : public LoopTest {
protected:
    void SetUp() override { server.listen(0); }
    void TearDown() override {
        if (stream) stream->close();
        LoopTest::TearDown();
    }

    // A FutureStream connected to the line server.
    FutureStream connect() {
        auto connected = wait(FutureStream::connect("127.0.0.1", server.port(), loop));
        stream = connected.result();
        return *stream;
    }

    LineServer server{loop};
    std::optional<FutureStream> stream;
};

TEST_F(Task1_FutureStream, WritesAndReadsLines) {
    FutureStream s = connect();
    Future<void> sent = s.write("hello\n");
    Future<std::string> line = s.read_until("\n");
    wait(line);
    EXPECT_TRUE(sent.done());
    EXPECT_NO_THROW(sent.result());
    EXPECT_EQ(line.result(), "hello\n");
    s.write("again\n");
    EXPECT_EQ(wait(s.read_until("\n")).result(), "again\n");
}

TEST_F(Task1_FutureStream, ReadsExactAndPartialByteCounts) {
    FutureStream s = connect();
    s.write("0123456789\n");
    EXPECT_EQ(wait(s.read_bytes(4)).result(), "0123");
    std::string rest = wait(s.read_bytes(100, /*partial=*/true)).result();
    EXPECT_FALSE(rest.empty());
    EXPECT_TRUE(std::string("456789\n").starts_with(rest)) << rest;
}

TEST_F(Task1_FutureStream, ReadUntilCloseGetsEverythingThePeerSent) {
    FutureStream s = connect();
    s.write("quit\n");
    auto everything = wait(s.read_until_close());
    EXPECT_EQ(everything.result(), "bye");
    EXPECT_TRUE(s.closed());
}

TEST_F(Task1_FutureStream, APendingReadFailsWhenThePeerCloses) {
    // With callbacks, IOStream would just never call back. The Future says so.
    FutureStream s = connect();
    s.write("quit\n");
    auto line = wait(s.read_until("\n"));  // "bye" has no newline, then the close
    EXPECT_THROW(line.result(), StreamClosedError);
    EXPECT_NE(error_message(line).find(IOStream::kClosedByPeer), std::string::npos)
        << error_message(line);
}

TEST_F(Task1_FutureStream, ClosingFailsThePendingRead) {
    FutureStream s = connect();
    auto line = s.read_until("\n");  // nothing was sent: nothing will come
    run_for(10ms);
    EXPECT_FALSE(line.done());
    s.close();
    wait(line);
    EXPECT_THROW(line.result(), StreamClosedError);
    EXPECT_NE(error_message(line).find(IOStream::kClosedByApplication), std::string::npos);
}

TEST_F(Task1_FutureStream, CallsOnAClosedStreamGiveFailedFuturesInsteadOfThrowing) {
    FutureStream s = connect();
    s.close();
    Future<std::string> line(loop);
    Future<void> sent(loop);
    ASSERT_NO_THROW(line = s.read_until("\n"));
    ASSERT_NO_THROW(sent = s.write("late\n"));
    wait(line);
    wait(sent);
    EXPECT_THROW(line.result(), StreamClosedError);
    EXPECT_THROW(sent.result(), StreamClosedError);
    EXPECT_THROW(wait(s.read_bytes(1)).result(), StreamClosedError);
    EXPECT_THROW(wait(s.read_until_close()).result(), StreamClosedError);
}

TEST_F(Task1_FutureStream, AWriteThatCannotFinishFailsWhenTheStreamCloses) {
    SilentServer silent(loop);
    silent.listen(0);
    FutureStream s = wait(FutureStream::connect("127.0.0.1", silent.port(), loop)).result();
    // Far more than the two kernel buffers hold: the peer never reads.
    Future<void> sent = s.write(std::string(32 * 1024 * 1024, 'x'));
    run_for(50ms);
    EXPECT_FALSE(sent.done()) << "32 MB cannot have gone to a peer that does not read";
    s.close();
    wait(sent);
    EXPECT_THROW(sent.result(), StreamClosedError);
}

TEST_F(Task1_FutureStream, WriteFuturesResolveInOrder) {
    FutureStream s = connect();
    std::vector<int> order;
    for (int i = 0; i < 5; ++i) {
        s.write("line " + std::to_string(i) + "\n").add_done_callback([&order, i](Future<void>) {
            order.push_back(i);
        });
    }
    ASSERT_TRUE(run_until([&] { return order.size() == 5; }));
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST_F(Task1_FutureStream, ASecondReadWhileOneIsPendingIsABugAndThrows) {
    FutureStream s = connect();
    auto first = s.read_until("\n");
    EXPECT_THROW(s.read_bytes(1), std::logic_error);
    s.write("still fine\n");
    EXPECT_EQ(wait(first).result(), "still fine\n");
}

TEST_F(Task1_FutureStream, ALoopDestroyedWhileAReadWaitsLetsGoOfItsCallbacks) {
    // The read's callback holds the stream, as real code does (to read
    // on): the stream owes the read's Future, whose callback holds the
    // stream, a cycle. When the loop goes first, the stream's close
    // callback never runs to break it; the callback holds `token`, which
    // would then never be freed.
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    {
        IOLoop other;
        auto connected = FutureStream::connect("127.0.0.1", server.port(), other);
        other.call_later(2s, [&other] { other.stop(); });
        connected.add_done_callback([&other](Future<FutureStream>) { other.stop(); });
        other.start();
        ASSERT_TRUE(connected.done());
        FutureStream s = connected.result();
        s.read_until("\n").add_done_callback([token, s](Future<std::string>) {});
        token.reset();
    }  // the loop goes, with the stream open and the read pending
    EXPECT_TRUE(watch.expired()) << "the pending read's callback outlived its loop (a leak)";
}

TEST_F(Task1_FutureStream, ConnectsToLocalhost) {
    auto connected = wait(FutureStream::connect("localhost", server.port(), loop));
    stream = connected.result();
    stream->write("by name\n");
    EXPECT_EQ(wait(stream->read_until("\n")).result(), "by name\n");
}

TEST_F(Task1_FutureStream, ARefusedConnectionFailsTheFuture) {
    std::uint16_t port = unused_port();
    auto connected = wait(FutureStream::connect("127.0.0.1", port, loop));
    try {
        connected.result();
        FAIL() << "connecting to a closed port should fail";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ECONNREFUSED) << error.what();
        EXPECT_NE(std::string(error.what()).find("127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << error.what();
    }
}

TEST_F(Task1_FutureStream, AHostNameIsRefusedWithoutAResolver) {
    auto connected = wait(FutureStream::connect("example.com", 80, loop));
    EXPECT_THROW(connected.result(), std::invalid_argument);
}

TEST_F(Task1_FutureStream, ConnectCallbacksRunFromTheLoopEvenForEarlyErrors) {
    bool called = false;
    connect_stream(loop, "not an address", 80,
                   [&](std::shared_ptr<IOStream> connected, std::exception_ptr error) {
                       called = true;
                       EXPECT_EQ(connected, nullptr);
                       EXPECT_NE(error, nullptr);
                   });
    EXPECT_FALSE(called) << "the callback ran inside connect_stream";
    run_one_turn();
    EXPECT_TRUE(called);
}

TEST_F(Task1_FutureStream, ConnectStreamGivesAnOpenStream) {
    std::shared_ptr<IOStream> connected;
    connect_stream(loop, "127.0.0.1", server.port(),
                   [&](std::shared_ptr<IOStream> s, std::exception_ptr error) {
                       EXPECT_EQ(error, nullptr);
                       connected = std::move(s);
                   });
    ASSERT_TRUE(run_until([&] { return connected != nullptr; }));
    EXPECT_FALSE(connected->closed());
    connected->close();
}

}  // namespace
}  // namespace course::testing
