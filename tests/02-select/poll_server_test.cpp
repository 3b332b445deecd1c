// poll_server_test.cpp: PollServer (exercises/02-select/poll_server.h), the
// chapter's extension task 5. Compiled against the reference solution in
// exercises/02-select/solutions/ for ch02_tests, against the learner's file
// for the exercise (course_extension in cmake/Course.cmake). PollServer runs
// on the learner's accept_pending() and NonBlockingConnection, so it needs
// tasks 1 to 3.
//
// Whole-server tests, like Task4_*: one PollServer on its own thread, real
// clients on loopback. They check what poll() changes: descriptors past
// FD_SETSIZE are served, interest follows wants_to_read() and
// wants_to_write(), hang-ups and errors close connections, revents reach
// the right connection while others close, stop() wakes a poll() that
// waits forever.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conversation.h"
#include "nonblocking_connection.h"
#include "poll_server.h"
#include "select_test_helpers.h"
#include "test_client.h"

using namespace course;
using namespace course::testing;

namespace {

const std::string kHttpRequest = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

// The most a connection may hold: the limit, plus the reply to the one
// read that crossed it.
constexpr std::size_t kOneReadsReply =
    NonBlockingConnection::kReadChunk + Conversation::kMaxLineLength;

void expect_echo(TestClient& client, const std::string& line) {
    client.send(line);
    EXPECT_EQ(client.read_until("\n", 2s), line);
}

void expect_hello_response(const std::string& response) {
    EXPECT_EQ(response.substr(0, 15), "HTTP/1.1 200 OK") << response;
    EXPECT_NE(response.find("\r\n\r\nHello, world"), std::string::npos) << response;
}

// Reads n bytes in pieces; fails (TimeoutError) if nothing arrives for
// `quiet`, so lost bytes fail fast instead of at a long overall deadline.
std::string read_bytes_steadily(TestClient& client, std::size_t n,
                                std::chrono::milliseconds quiet = 2s) {
    std::string received;
    while (received.size() < n) {
        received += client.read_bytes(std::min<std::size_t>(n - received.size(), 64 * 1024), quiet);
    }
    return received;
}

// Closes the client's socket with SO_LINGER 0: the kernel sends a reset
// (RST) instead of an orderly end of stream.
void reset(std::optional<TestClient>& client) {
    linger abort_on_close{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    client.reset();
}

// The chapter's server harness (select_test_helpers.h), on a PollServer.
using PollServerThread = BasicServerThread<PollServer, &PollServerStats::poll_calls>;

// poll() calls the server makes over `period`, once it has settled.
std::size_t poll_calls_while_idle(const PollServerThread& server,
                                  std::chrono::milliseconds period = 300ms) {
    std::this_thread::sleep_for(50ms);
    std::size_t before = server.stats().poll_calls;
    std::this_thread::sleep_for(period);
    return server.stats().poll_calls - before;
}

}  // namespace

// ---- the loop serves ----------------------------------------------------------

// Catches: a loop that does not serve at all (the list, the dispatch, adopt).
TEST(Task5_PollLoop, EchoesLinesAndAnswersHttp) {
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient echo(server.port());
    echo.send("hello\nwor");
    EXPECT_EQ(echo.read_until("\n", 2s), "hello\n");
    echo.send("ld\n");
    EXPECT_EQ(echo.read_until("\n", 2s), "world\n");

    TestClient http(server.port());
    http.send(kHttpRequest);
    expect_hello_response(http.read_http_response(2s));
    http.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    expect_hello_response(http.read_http_response(2s));
    EXPECT_TRUE(http.closed_by_server(2s)) << "Connection: close, and the reply is sent";
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == 1; }, 2s));
    EXPECT_EQ(server.stats().accepted, 2u);
}

// Catches: POLLOUT asked for every connection, not only while output waits.
TEST(Task5_PollLoop, SleepsWhileConnectionsAreIdle) {
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    std::vector<TestClient> clients;
    for (int i = 0; i < 5; ++i) {
        clients.emplace_back(server.port());
        expect_echo(clients.back(), "hi " + std::to_string(i) + "\n");
    }
    std::size_t rounds = poll_calls_while_idle(server);
    EXPECT_LE(rounds, 2u) << "an idle server must sleep in poll(), not spin (" << rounds
                          << " calls in 300 ms): ask for POLLOUT only while output waits";
}

// Catches: EINTR treated as an error (run() throws when a signal arrives).
TEST(Task5_PollLoop, ASignalDoesNotStopTheLoop) {
    struct sigaction ignore_it {}, saved{};
    ignore_it.sa_handler = [](int) {};
    sigemptyset(&ignore_it.sa_mask);  // no SA_RESTART, and poll() never restarts anyway
    ASSERT_EQ(::sigaction(SIGUSR1, &ignore_it, &saved), 0);

    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    expect_echo(client, "before\n");
    std::this_thread::sleep_for(20ms);  // asleep in poll()
    ::pthread_kill(server.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(server.error(), "") << "poll() failing with EINTR is not an error";
    expect_echo(client, "after\n");
    ::sigaction(SIGUSR1, &saved, nullptr);
}

// Catches: POLLOUT asked only when POLLIN is not (`else if`). A reply bigger
// than the kernel's buffers goes out in part right after its read; if the
// peer then only reads, no read comes to push the rest, and only POLLOUT can.
TEST(Task5_PollLoop, TheRestOfAReplyGoesOutWhileThePeerOnlyReads) {
    PollServerThread server(PollServerThread::Options{.socket_buffer_bytes = 64 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    set_socket_buffers(client.fd(), 64 * 1024);
    // More than the kernel's buffers hold, and far below the output limit
    // (1 MiB): the server reads all of it and never has a reason to stop.
    std::string lines = numbered_lines(512 * 1024);
    // Sent from a thread: a server that does not read cannot block the test.
    BackgroundSender sender(client.fd(), lines);
    ASSERT_TRUE(wait_until([&] { return server.stats().largest_pending_output > kOneReadsReply; }, 5s))
        << "the server never held more than one read's reply, so it never met a partial write";
    ASSERT_TRUE(sender.finishes(5s)) << "the server stopped reading below its output limit";
    // Sent is not read: bytes may still wait in the server's receive buffer,
    // and each read of them would push out some of the reply. Once the loop
    // sleeps, every byte has been read, and only a writable event is left
    // to send the rest.
    ASSERT_TRUE(server.goes_quiet(300ms, 10s)) << "the server never stopped calling poll()";

    // From now on the client only reads.
    std::string echoed;
    try {
        echoed = read_bytes_steadily(client, lines.size());
    } catch (const TimeoutError&) {
        FAIL() << "the reply stopped coming while the client only read: a connection with "
                  "output waiting must ask for POLLOUT even while it also asks for POLLIN";
    }
    EXPECT_TRUE(echoed == lines) << "bytes lost or reordered across partial writes";
}

// ---- past FD_SETSIZE ------------------------------------------------------------

namespace {

// Raises RLIMIT_NOFILE's soft limit to `wanted` (towards the hard limit) for
// the test, and puts it back.
class OpenFileLimit {
public:
    explicit OpenFileLimit(rlim_t wanted) {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        if (saved_.rlim_cur >= wanted) {
            ok_ = true;
            return;
        }
        if (saved_.rlim_max < wanted) return;
        rlimit raised = saved_;
        raised.rlim_cur = wanted;
        ok_ = ::setrlimit(RLIMIT_NOFILE, &raised) == 0;
    }
    ~OpenFileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    bool ok() const { return ok_; }
    rlim_t hard() const { return saved_.rlim_max; }

private:
    rlimit saved_{};
    bool ok_ = false;
};

// Holds dup()s of one descriptor until every number below `limit` is taken,
// so the next descriptor this process opens (the lowest free number) is
// `limit` or more.
class DescriptorsHeldBelow {
public:
    explicit DescriptorsHeldBelow(int limit) {
        FileDescriptor original(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!original) throw_errno("open /dev/null");
        while (true) {
            FileDescriptor copy(::dup(original.get()));
            if (!copy) throw_errno("dup");
            if (copy.get() >= limit) break;  // all below are taken: give this one back
            held_.push_back(std::move(copy));
        }
        held_.push_back(std::move(original));
    }

private:
    std::vector<FileDescriptor> held_;
};

}  // namespace

// Catches: select()'s FD_SETSIZE guard kept in adopt() (the connection is
// refused), or an fd_set kept anywhere (FD_SET past its end corrupts memory).
TEST(Task5_PastFdSetSize, ServesDescriptorsSelectCannotWatch) {
    constexpr rlim_t kWanted = FD_SETSIZE + 64;
    OpenFileLimit limit(kWanted);
    if (!limit.ok()) {
        GTEST_SKIP() << "the hard limit on open files (RLIMIT_NOFILE) is " << limit.hard()
                     << ", below the " << kWanted << " this test needs";
    }
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient low(server.port());
    expect_echo(low, "below the limit\n");

    DescriptorsHeldBelow held(FD_SETSIZE);
    // Every number below FD_SETSIZE is taken, so this client's socket is
    // numbered FD_SETSIZE or more, and the socket the server accepts for it
    // (opened next, in the same process) is numbered higher still.
    TestClient high(server.port());
    ASSERT_GE(high.fd(), FD_SETSIZE);
    TestClient higher(server.port());
    expect_echo(high, "past FD_SETSIZE\n");
    higher.send(kHttpRequest);
    expect_hello_response(higher.read_http_response(2s));
    expect_echo(high, "and again\n");
    expect_echo(low, "still here\n");
    EXPECT_EQ(server.stats().accepted, 3u);
    EXPECT_EQ(server.stats().open_connections, 3u);
    EXPECT_EQ(server.error(), "");
}

// ---- interest follows what each connection wants --------------------------------

// Catches: POLLIN asked for (and read) whatever wants_to_read() says, so a
// peer that never reads makes the server buffer without limit, or spin.
TEST(Task5_Backpressure, StopsReadingFromAPeerThatDoesNotRead) {
    constexpr std::size_t kLimit = 64 * 1024;
    PollServerThread server(PollServerThread::Options{.max_pending_output = kLimit,
                                                      .socket_buffer_bytes = 32 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    std::string lines = numbered_lines(16 * 1024 * 1024);
    TestClient greedy(server.port());
    set_socket_buffers(greedy.fd(), 32 * 1024);
    BackgroundSender sender(greedy.fd(), lines);  // sends, never reads

    ASSERT_TRUE(sender.stalls(300ms, 10s))
        << "the client sent all 16 MB without reading a reply: the server kept "
           "reading (and buffering) from a peer that never reads";
    PollServerStats stats = server.stats();
    EXPECT_GE(stats.largest_pending_output, kLimit);
    EXPECT_LE(stats.largest_pending_output, kLimit + kOneReadsReply)
        << "the server read on after its output passed the limit";

    // While that peer is stalled, the loop sleeps and still serves others.
    std::size_t before = server.stats().poll_calls;
    TestClient other(server.port());
    expect_echo(other, "still here\n");
    std::this_thread::sleep_for(200ms);
    EXPECT_LE(server.stats().poll_calls - before, 10u) << "busy loop on the stalled peer";

    // Once the peer reads, everything comes back, in order.
    std::string echoed = read_bytes_steadily(greedy, lines.size());
    EXPECT_TRUE(sender.finishes(5s));
    ASSERT_EQ(echoed.size(), lines.size());
    EXPECT_TRUE(echoed == lines) << "bytes lost or reordered across partial writes";
}

// ---- hang-ups and errors ----------------------------------------------------------

// Catches: revents with POLLHUP or POLLERR skipped, so the reset connection
// is never closed and poll() reports it again at once, every round.
TEST(Task5_HangUp, AResetPeerIsClosed) {
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    std::optional<TestClient> client(server.port());
    expect_echo(*client, "hi\n");
    client->send("half a li");
    reset(client);
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == 0; }, 2s))
        << "a connection whose peer reset it must be closed";
    EXPECT_LE(poll_calls_while_idle(server), 2u) << "poll() spins on the reset connection";
    TestClient next(server.port());
    expect_echo(next, "next\n");
}

// Catches: an error on a connection that asked only for POLLOUT (it is not
// read from: backpressure) left unhandled, so it is never closed.
TEST(Task5_HangUp, AResetPeerWhoseRepliesWaitIsClosed) {
    constexpr std::size_t kLimit = 64 * 1024;
    PollServerThread server(PollServerThread::Options{.max_pending_output = kLimit,
                                                      .socket_buffer_bytes = 32 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    std::optional<TestClient> greedy(server.port());
    set_socket_buffers(greedy->fd(), 32 * 1024);
    {
        BackgroundSender sender(greedy->fd(), numbered_lines(4 * 1024 * 1024));
        ASSERT_TRUE(sender.stalls(300ms, 10s)) << "the server never stopped reading";
    }  // the sender's thread has stopped (the socket is shut down)
    reset(greedy);
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == 0; }, 2s))
        << "a backpressured connection whose peer reset it must be closed";
    EXPECT_LE(poll_calls_while_idle(server), 2u) << "poll() spins on the reset connection";
}

// Catches: a hang-up that never closes the connection, or that drops the
// server (run() throwing on a write to a peer that has gone).
TEST(Task5_HangUp, APeerThatLeavesWithoutReadingIsClosed) {
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    for (int i = 0; i < 5; ++i) {
        TestClient leaving(server.port());
        leaving.send(numbered_lines(256 * 1024));  // replies it will never read
    }  // closed here, each with unread replies on the way
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == 0; }, 2s))
        << "connections whose peers left must be closed";
    EXPECT_LE(poll_calls_while_idle(server), 2u);
    EXPECT_EQ(server.error(), "");
}

// ---- matching revents to connections ----------------------------------------------

// Catches: revents handed out by position while the list and the map
// disagree (an idle entry skipped in one only, an erase mid-walk running past
// the end of the map), and closed descriptors kept in the list (POLLNVAL).
TEST(Task5_MatchingRevents, ManyCloseAtOnceWhileOthersTalk) {
    constexpr int kClients = 60;
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    std::vector<std::optional<TestClient>> clients(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients[i].emplace(server.port());
        expect_echo(*clients[i], "hello " + std::to_string(i) + "\n");
    }
    // Connections are numbered in the order they were accepted, so leavers
    // and talkers alternate in the server's list. All at once, so that many
    // leave in the same round in which their neighbours talk.
    auto leaves = [](int i) { return i % 2 == 1; };
    for (int i = 0; i < kClients; ++i) {
        if (i % 4 == 1) {
            reset(clients[i]);
        } else if (i % 4 == 3) {
            clients[i]->send("bye\n");
            clients[i].reset();  // orderly close with a reply on its way
        } else {
            clients[i]->send("round 1 from " + std::to_string(i) + "\n");
        }
    }
    for (int i = 0; i < kClients; i += 2) {
        EXPECT_EQ(clients[i]->read_until("\n", 2s), "round 1 from " + std::to_string(i) + "\n");
    }
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == kClients / 2; }, 2s))
        << server.stats().open_connections << " open, " << kClients / 2 << " expected";
    // Rounds later, every survivor is still served, each its own answer.
    for (int i = 0; i < kClients; ++i) {
        if (!leaves(i)) clients[i]->send("round 2 from " + std::to_string(i) + "\n");
    }
    for (int i = 0; i < kClients; i += 2) {
        EXPECT_EQ(clients[i]->read_until("\n", 2s), "round 2 from " + std::to_string(i) + "\n");
    }
    EXPECT_LE(poll_calls_while_idle(server), 2u) << "closed descriptors still in the list?";
    EXPECT_EQ(server.error(), "");
}

// ---- stop() ---------------------------------------------------------------------------

// Catches: the wake pipe left out of the poll list.
TEST(Task5_Stop, StopWakesAPollThatWaitsForever) {
    PollServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    expect_echo(client, "hi\n");  // run() is now asleep in poll(), with no timeout
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(server.stop(1s)) << "stop() did not wake poll(): is the wake pipe in the list?";
}
