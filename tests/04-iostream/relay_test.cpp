// relay_test.cpp: relay (exercises/04-iostream/relay.h), the chapter's
// extension task 5. Compiled against the reference solution in
// exercises/04-iostream/solutions/ for ch04_tests, against the learner's
// file for the exercise (course_extension in cmake/Course.cmake). It runs
// on the learner's IOStream, so it needs tasks 1 to 4.
//
// Each test joins two streams; their peers are plain non-blocking sockets
// the test reads and writes itself, on the loop's thread:
//
//   client_a ══ socketpair ══ stream a ── relay ── stream b ══ socketpair ══ client_b
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "relay.h"
#include "stream_fixture.h"

namespace course::testing {
namespace {

// A connected pair: one end for a stream, one for the test.
std::pair<FileDescriptor, FileDescriptor> socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) throw_errno("socketpair");
    ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    return {FileDescriptor(fds[0]), FileDescriptor(fds[1])};
}

// What a peer received, and whether it saw the end of the stream.
struct Received {
    std::string bytes;
    bool ended = false;
};

class Task5_Relay : public LoopTest {
protected:
    void SetUp() override {
        auto [a_end, client_a_end] = socket_pair();
        auto [b_end, client_b_end] = socket_pair();
        a = IOStream::create(std::move(a_end), loop);
        b = IOStream::create(std::move(b_end), loop);
        client_a = std::move(client_a_end);
        client_b = std::move(client_b_end);
    }

    // Runs the loop until done() holds or `timeout` passes; every
    // millisecond, pump() may read or write the test's sockets.
    bool run_pumping(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
        return run_until([&] {
            if (pump) pump();
            return done();
        }, timeout);
    }

    // Sends as much of `data` from `at` on as the socket takes now.
    static void send_some(int fd, const std::string& data, std::size_t& at) {
        while (at < data.size()) {
            ssize_t n = ::send(fd, data.data() + at, data.size() - at, MSG_NOSIGNAL);
            if (n <= 0) return;
            at += static_cast<std::size_t>(n);
        }
    }

    // Reads what is there now into `into`.
    static void receive_some(int fd, Received& into) {
        char buffer[65536];
        while (true) {
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n > 0) {
                into.bytes.append(buffer, static_cast<std::size_t>(n));
            } else {
                if (n == 0) into.ended = true;
                return;
            }
        }
    }

    static std::string pattern(std::size_t size) {
        std::string data(size, '\0');
        for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
        return data;
    }

    std::shared_ptr<IOStream> a, b;
    FileDescriptor client_a, client_b;
    std::function<void()> pump;
};

TEST_F(Task5_Relay, BytesGoBothWays) {
    relay(a, b);
    Received at_b, at_a;
    std::size_t sent_a = 0, sent_b = 0;
    pump = [&] {
        send_some(client_a.get(), "ping from a", sent_a);
        send_some(client_b.get(), "pong from b", sent_b);
        receive_some(client_b.get(), at_b);
        receive_some(client_a.get(), at_a);
    };
    EXPECT_TRUE(run_pumping([&] { return at_b.bytes.size() == 11 && at_a.bytes.size() == 11; }));
    EXPECT_EQ(at_b.bytes, "ping from a");
    EXPECT_EQ(at_a.bytes, "pong from b");
    EXPECT_FALSE(a->closed());
    EXPECT_FALSE(b->closed());
}

TEST_F(Task5_Relay, ALargeTransferArrivesWholeAndInOrder) {
    relay(a, b);
    const std::string data = pattern(4 << 20);
    std::size_t sent = 0;
    Received at_b;
    pump = [&] {
        send_some(client_a.get(), data, sent);
        receive_some(client_b.get(), at_b);
    };
    EXPECT_TRUE(run_pumping([&] { return at_b.bytes.size() >= data.size(); }, 20s));
    ASSERT_EQ(at_b.bytes.size(), data.size());
    EXPECT_TRUE(at_b.bytes == data) << "the bytes arrived changed or out of order";
}

// The mistake this catches: reading on, whatever the other side has not
// sent yet. With backpressure, a peer that never reads stops the relay
// reading from the sender, and the sender's socket fills up: it can hand
// over a few hundred KiB (socket buffers, one piece in the relay), not 64 MiB.
TEST_F(Task5_Relay, APeerThatDoesNotReadSlowsTheSenderDown) {
    relay(a, b);
    const std::string data(64 << 20, 'x');
    std::size_t sent = 0;
    pump = [&] { send_some(client_a.get(), data, sent); };
    run_pumping([] { return false; }, 500ms);
    EXPECT_LT(sent, std::size_t{16} << 20)
        << "the relay took " << sent << " bytes for a peer that reads nothing: "
        << "it kept reading without waiting for its writes to go out";
    EXPECT_GT(sent, 0u);
}

// The mistake this catches: a backpressure that gives up instead of
// waiting. A direction that reads its next piece only if the other side
// took the last one whole (not writing()), and otherwise never, stops for
// good the first time the reader falls behind. b's send buffer is tiny and
// b's reader is away for a while; then it reads everything.
TEST_F(Task5_Relay, AReaderThatFallsBehindStillGetsEverything) {
    int tiny = 4096;
    ::setsockopt(b->fileno(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    relay(a, b);
    const std::string data = pattern(1 << 20);
    std::size_t sent = 0;
    Received at_b;
    pump = [&] { send_some(client_a.get(), data, sent); };
    run_pumping([] { return false; }, 200ms);  // b's reader is away
    pump = [&] {
        send_some(client_a.get(), data, sent);
        receive_some(client_b.get(), at_b);
    };
    EXPECT_TRUE(run_pumping([&] { return at_b.bytes.size() >= data.size(); }, 20s))
        << "b's reader got " << at_b.bytes.size() << " of " << data.size() << " bytes: the "
        << "relay stopped copying once b could not take a piece at once (start the next read "
        << "from the write's callback, which runs once the piece has gone, however long that takes)";
    EXPECT_TRUE(at_b.bytes == data);
}

// The mistake this catches: writing to the other side without checking
// that it is still open. b's peer leaves while most of what b received
// still waits in a's write buffer (a's send buffer is tiny, a's reader
// waits); then a's peer sends more. The relay must drop that, not throw:
// an exception from a's read callback closes a at once, and the bytes
// already copied to a are lost.
TEST_F(Task5_Relay, BytesCopiedBeforeOneSideLeftStillGoOutWhenMoreArrive) {
    int tiny = 4096;
    ::setsockopt(a->fileno(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    relay(a, b);
    const std::string reply = pattern(48 * 1024);  // within one piece
    std::size_t sent_b = 0;
    pump = [&] { send_some(client_b.get(), reply, sent_b); };
    ASSERT_TRUE(run_pumping([&] {
        int unread_by_b = 0;
        ::ioctl(b->fileno(), FIONREAD, &unread_by_b);
        return sent_b == reply.size() && unread_by_b == 0 && a->writing();
    })) << "the set-up never had b's bytes waiting in a's write buffer";
    client_b.reset();  // b's peer leaves: b closes at once (a hang-up)
    ASSERT_TRUE(run_pumping([&] { return b->closed(); })) << "b never closed";
    std::size_t sent_a = 0;
    pump = [&] { send_some(client_a.get(), "more", sent_a); };
    run_pumping([&] {
        int unread_by_a = 0;
        if (!a->closed()) ::ioctl(a->fileno(), FIONREAD, &unread_by_a);
        return sent_a == 4 && unread_by_a == 0;
    });
    Received at_a;
    pump = [&] { receive_some(client_a.get(), at_a); };
    EXPECT_TRUE(run_pumping([&] { return at_a.ended; })) << "a was never closed";
    EXPECT_EQ(at_a.bytes.size(), reply.size())
        << "bytes copied to a before b's peer left were lost when a's peer sent more: check "
        << "closed() before writing to the other side";
    EXPECT_TRUE(at_a.bytes == reply);
}

// The mistake this catches: closing the other side at once, dropping the
// bytes still waiting in its write buffer. b's send buffer is made tiny and
// b's reader waits, so most of what the relay copies waits in b's write
// buffer; then the sender leaves (a socketpair's peer that closes is a
// hang-up: stream a closes at once). Only then does b's reader read.
TEST_F(Task5_Relay, WhenOneSideClosesTheOtherClosesAfterItsBytes) {
    int tiny = 4096;
    ::setsockopt(b->fileno(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    relay(a, b);
    const std::string data = pattern(32 * 1024);
    std::size_t sent = 0;
    Received at_b;
    bool closed_a = false;
    pump = [&] {
        send_some(client_a.get(), data, sent);
        int unread_by_a = 0;
        if (!a->closed()) ::ioctl(a->fileno(), FIONREAD, &unread_by_a);
        if (!closed_a && sent == data.size() && unread_by_a == 0 && b->writing()) {
            client_a.reset();  // everything is in the relay or beyond: leave
            closed_a = true;
        }
        if (closed_a) receive_some(client_b.get(), at_b);
    };
    ASSERT_TRUE(run_pumping([&] { return closed_a; }, 5s))
        << "the set-up never had bytes waiting in b's write buffer";
    EXPECT_TRUE(run_pumping([&] { return at_b.ended; }, 5s)) << "b was never closed";
    EXPECT_EQ(at_b.bytes.size(), data.size()) << "bytes copied to b were lost when a closed";
    EXPECT_TRUE(at_b.bytes == data);
    EXPECT_TRUE(a->closed());
    EXPECT_TRUE(b->closed());
}

TEST_F(Task5_Relay, EitherSideMayLeaveFirst) {
    relay(a, b);
    Received at_a;
    pump = [&] { receive_some(client_a.get(), at_a); };
    client_b.reset();
    EXPECT_TRUE(run_pumping([&] { return at_a.ended; })) << "a stayed open after b's peer left";
    EXPECT_TRUE(a->closed());
    EXPECT_TRUE(b->closed());
}

TEST_F(Task5_Relay, NothingHoldsTheStreamsOnceBothAreClosed) {
    relay(a, b);
    std::weak_ptr<IOStream> watch_a = a, watch_b = b;
    a.reset();
    b.reset();
    client_a.reset();
    client_b.reset();
    run_until([&] { return watch_a.expired() && watch_b.expired(); }, 2s);
    EXPECT_TRUE(watch_a.expired()) << "stream a outlived the relay: a shared_ptr cycle?";
    EXPECT_TRUE(watch_b.expired()) << "stream b outlived the relay: a shared_ptr cycle?";
}

}  // namespace
}  // namespace course::testing
