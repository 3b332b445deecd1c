// Tests of blocking_server.h: serve_connection, the iterative server and the
// thread-per-connection server. They check *how* each server serves, not only
// what it answers: the iterative one must make a second client wait while
// the first is connected (that is the lesson), the threaded one must not.
//
// Task3_* grade exercise task 3 (serve_connection, IterativeServer::run),
// Task4_* task 4 (ThreadedServer). Both use tasks 1 and 2 (write_all,
// listen_tcp, accept_connection) underneath: do the tasks in order. They
// talk in the echo protocol only, so they do not wait for task 5 (HTTP); the
// HTTP tests at the end need every task.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "blocking_server.h"
#include "conversation.h"
#include "blocking_test_helpers.h"
#include "socket.h"
#include "test_client.h"

using namespace course;
using namespace course::testing;

namespace {

const std::string kHello = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nHello, world";
const std::string kRequest = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

// Runs `serve` (a call of serve_connection) on a thread of its own. At the
// end it shuts the peer's socket down, so that the call ends even if the
// test stopped half-way, and waits for it.
class ServingInBackground {
public:
    template <typename Serve>
    ServingInBackground(int peer_fd, Serve serve)
        : peer_fd_(peer_fd), future_(std::async(std::launch::async, std::move(serve))) {}
    ~ServingInBackground() {
        ::shutdown(peer_fd_, SHUT_RDWR);
        if (future_.valid()) future_.wait();
    }
    ServingInBackground(const ServingInBackground&) = delete;
    ServingInBackground& operator=(const ServingInBackground&) = delete;

    bool returned_within(std::chrono::milliseconds timeout) {
        return future_.wait_for(timeout) == std::future_status::ready;
    }
    void get() { future_.get(); }

private:
    int peer_fd_;
    std::future<void> future_;
};


// Bytes that differ from position to position, so a lost or repeated piece
// shows; in lines of 100 bytes, so that the echo answers them.
std::string numbered_lines(std::size_t count, char first_letter = 'a') {
    std::string lines;
    for (std::size_t i = 0; i < count; ++i) {
        std::string number = std::to_string(i);
        lines += number + std::string(99 - number.size(), static_cast<char>(first_letter + i % 26)) + "\n";
    }
    return lines;
}

// Sends every byte of `data` on fd (a test's raw send loop), then ends the
// stream for writing.
void send_all_then_end(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
}
}  // namespace

// ---- Task 3: serve_connection and the iterative server ------------------------

TEST(Task3_IterativeServer, ServeConnectionAnswersUntilThePeerCloses) {
    SocketPair pair;
    ServingInBackground served(pair.left.get(), [fd = pair.right.get()] { serve_connection(fd); });
    ASSERT_EQ(::send(pair.left.get(), "hello\nwor", 9, MSG_NOSIGNAL), 9);
    EXPECT_EQ(read_exactly(pair.left.get(), 6), "hello\n");
    ASSERT_EQ(::send(pair.left.get(), "ld\n", 3, MSG_NOSIGNAL), 3);
    EXPECT_EQ(read_exactly(pair.left.get(), 6), "world\n");
    EXPECT_FALSE(served.returned_within(100ms)) << "the peer is still connected";
    ::shutdown(pair.left.get(), SHUT_WR);  // end of stream for the server
    EXPECT_TRUE(served.returned_within(5s)) << "end of stream must end serve_connection";
}

// Catches: a serve_connection that takes an empty answer (only half a line
// so far) for the end of the conversation. The rest of the line would then
// never be answered.
TEST(Task3_IterativeServer, ServeConnectionReadsOnAfterHalfALine) {
    SocketPair pair;
    ServingInBackground served(pair.left.get(), [fd = pair.right.get()] { serve_connection(fd); });
    ASSERT_EQ(::send(pair.left.get(), "incompl", 7, MSG_NOSIGNAL), 7);
    // 200 ms is ample for the server to read the half line; a correct one
    // then waits for the rest, however long that takes.
    EXPECT_FALSE(served.returned_within(200ms))
        << "serve_connection returned after half a line: an empty answer means \"read on\", "
           "not \"the conversation is over\"";
    ASSERT_EQ(::send(pair.left.get(), "ete\n", 4, MSG_NOSIGNAL), 4);
    EXPECT_EQ(read_exactly(pair.left.get(), 11, 2s), "incomplete\n");
}

// Catches: a serve_connection(int fd) that closes fd when it is done. Its
// caller owns the descriptor and closes it once; a second close could close
// a descriptor another thread has just been given the same number for.
TEST(Task3_IterativeServer, ServeConnectionLeavesTheDescriptorToItsCaller) {
    SocketPair pair;
    int fd = pair.right.get();
    ServingInBackground served(pair.left.get(), [fd] { serve_connection(fd); });
    ::shutdown(pair.left.get(), SHUT_WR);  // end of stream: serve_connection returns
    ASSERT_TRUE(served.returned_within(5s)) << "end of stream must end serve_connection";
    EXPECT_NE(::fcntl(fd, F_GETFD), -1)
        << "serve_connection(int fd) closed fd, which its caller owns (errno "
        << std::strerror(errno) << ")";
}

// Catches: a serve_connection that hands the Conversation more than the
// bytes read_some returned: its whole buffer, or the buffer as a C string
// (receive(buffer)). Bytes left in the buffer by an earlier, longer read are
// answered a second time, and a zero byte cuts a read short.
TEST(Task3_IterativeServer, ServeConnectionAnswersOnlyTheBytesItRead) {
    SocketPair pair;
    ServingInBackground served(pair.left.get(), [fd = pair.right.get()] { serve_connection(fd); });
    const std::string lines[] = {"a long line, sent first\n", "short\n",
                                 std::string("a zero\0byte\n", 12), "last\n"};
    for (const std::string& line : lines) {
        ASSERT_EQ(::send(pair.left.get(), line.data(), line.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(line.size()));
        ASSERT_EQ(read_exactly(pair.left.get(), line.size(), 2s), line)
            << "serve_connection must give the Conversation exactly the bytes this read_some "
               "returned: not the rest of its buffer, and not the buffer read as a C string";
    }
}

// Catches: a serve_connection that sends each answer with a single
// write_some: whatever the kernel did not take at once is lost, in silence.
// On a blocking socket a send() takes part of an answer when a signal comes
// (a debugger, Ctrl-Z then fg) or a send timeout expires; here a 4 KiB send
// buffer, a 10 ms send timeout and a slow reader make it happen.
TEST(Task3_IterativeServer, ServeConnectionSendsEveryAnswerWhole) {
    SocketPair pair;
    int served_fd = pair.right.get();
    int size = 4096;
    ASSERT_EQ(::setsockopt(served_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    timeval ten_ms{0, 10000};
    ASSERT_EQ(::setsockopt(served_fd, SOL_SOCKET, SO_SNDTIMEO, &ten_ms, sizeof ten_ms), 0);
    ServingInBackground served(pair.left.get(), [served_fd] {
        serve_connection(served_fd);
        ::shutdown(served_fd, SHUT_WR);  // the reader below sees the end
    });
    const std::string lines = numbered_lines(2560);  // 256 KB
    std::thread writer([&] { send_all_then_end(pair.left.get(), lines); });
    std::string echoed = read_slowly_until_end(pair.left.get(), 20s);
    writer.join();
    EXPECT_EQ(echoed.size(), lines.size())
        << "serve_connection lost part of its answers: each answer must go whole, however "
           "many send() calls that takes (write_all, not write_some)";
    EXPECT_TRUE(echoed == lines) << "the echoed bytes changed or came out of order";
}

TEST(Task3_IterativeServer, ServeConnectionClosesWhenTheConversationEnds) {
    SocketPair pair;
    ServingInBackground served(pair.left.get(), [fd = std::move(pair.right)]() mutable {
        serve_connection(std::move(fd));
    });
    // A line longer than the Conversation accepts ends the conversation.
    std::string too_long(Conversation::kMaxLineLength + 1, 'x');
    ASSERT_EQ(::send(pair.left.get(), too_long.data(), too_long.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(too_long.size()));
    EXPECT_TRUE(served.returned_within(5s))
        << "once the conversation is finished the server closes, without waiting for the peer";
    // The whole reply, then end of stream (read_exactly stops there).
    EXPECT_EQ(read_exactly(pair.left.get(), 1000, 2s), "error: line too long\n");
}

TEST(Task3_IterativeServer, ServeConnectionSurvivesAPeerThatResets) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    FileDescriptor client = connect_tcp("127.0.0.1", local_port(listener.get()));
    AcceptedConnection accepted = accept_connection(listener.get());
    ServingInBackground served(accepted.fd.get(), [fd = accepted.fd.get()] { serve_connection(fd); });
    linger abort_on_close{1, 0};  // close() sends RST instead of FIN
    ::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ASSERT_EQ(::send(client.get(), "no newline", 10, MSG_NOSIGNAL), 10);
    client.reset();
    ASSERT_TRUE(served.returned_within(5s));
    EXPECT_NO_THROW(served.get()) << "a reset connection is logged, not thrown";
}

TEST(Task3_IterativeServer, EchoesLinesThroughTheServer) {
    RunningServer<IterativeServer> server;
    TestClient client(server.port());
    expect_echo(client, "hello\n");
    expect_echo(client, "again\n");
}

TEST(Task3_IterativeServer, SecondClientWaitsUntilTheFirstLeaves) {
    RunningServer<IterativeServer> server;
    auto first = std::make_unique<TestClient>(server.port());
    expect_echo(*first, "first\n");  // the server is now busy with `first`

    TestClient second(server.port());  // connect() succeeds: the backlog holds it
    second.send("second\n");
    EXPECT_THROW(second.read_until("\n", 300ms), TimeoutError)
        << "an iterative server must not serve a second client while the first is connected";

    expect_echo(*first, "still me\n");  // the first is served all along
    first.reset();                       // the first leaves...
    EXPECT_EQ(second.read_until("\n", 5s), "second\n") << "...and the second is served at last";
}

TEST(Task3_IterativeServer, ServesClientsOneAfterAnother) {
    RunningServer<IterativeServer> server;
    for (int i = 0; i < 5; ++i) {
        TestClient client(server.port());
        expect_echo(client, "client " + std::to_string(i) + "\n");
    }
}

// Catches: a serve_connection that keeps its buffer (or its Conversation) in
// a static or global variable, to spare the stack. The threaded server runs
// serve_connection on many threads at once: they read into the same bytes
// and answer each other's lines. (Threads collide only now and then, so the
// test tries a few times; a correct serve_connection passes every time.)
TEST(Task3_IterativeServer, ServeConnectionsAtOnceKeepTheirBytesApart) {
    constexpr int kPeers = 16;
    constexpr int kTries = 3;
    struct Peer {
        SocketPair pair;
        std::string lines;
        std::string echoed;
    };
    for (int attempt = 1; attempt <= kTries; ++attempt) {
        std::vector<std::unique_ptr<Peer>> peers;
        std::vector<std::thread> threads;
        for (int i = 0; i < kPeers; ++i) {
            peers.push_back(std::make_unique<Peer>());
            peers.back()->lines = numbered_lines(10000, static_cast<char>('A' + 2 * i));  // 1 MB each
        }
        for (auto& peer : peers) {
            Peer* p = peer.get();
            threads.emplace_back([p] {
                serve_connection(p->pair.right.get());
                ::shutdown(p->pair.right.get(), SHUT_WR);  // the reader sees the end
            });
            threads.emplace_back([p] { send_all_then_end(p->pair.left.get(), p->lines); });
            threads.emplace_back([p] {
                p->echoed = read_exactly(p->pair.left.get(), p->lines.size() + 1, 20s);
            });
        }
        for (auto& thread : threads) thread.join();
        for (int i = 0; i < kPeers; ++i) {
            const Peer& peer = *peers[static_cast<std::size_t>(i)];
            ASSERT_TRUE(peer.echoed == peer.lines)
                << "peer " << i << " got back other bytes than it sent (try " << attempt
                << "): serve_connection runs on many threads at once, so its buffer and its "
                   "Conversation must be its own (local variables, not static or global ones)";
        }
    }
}

// Catches: an IterativeServer::run that lets go of the accepted descriptor
// (connection.fd.release()) instead of leaving it to its owner: nobody ever
// closes it, so each peer waits for a close that never comes, and every
// connection leaks a descriptor.
TEST(Task3_IterativeServer, ClosesEachConnectionOnceServed) {
    RunningServer<IterativeServer> server;
    for (int i = 0; i < 3; ++i) {
        TestClient client(server.port());
        expect_echo(client, "bye\n");
        client.shutdown_write();  // end of stream: this conversation is over
        EXPECT_TRUE(client.closed_by_server(2s))
            << "peer " << i << ": the server must close a connection once it has served it "
               "(the AcceptedConnection owns the descriptor: do not release() it)";
    }
}

TEST(Task3_IterativeServer, StopEndsTheConnectionInProgress) {
    RunningServer<IterativeServer> server;
    TestClient idle(server.port());
    expect_echo(idle, "here\n");
    server.stop();  // fails the test (and ends the program) if run() does not return
    EXPECT_TRUE(idle.closed_by_server(2s));
}

// ---- Task 4: a thread per connection ------------------------------------------

TEST(Task4_ThreadedServer, IdlePeersDoNotStopOthersBeingServed) {
    RunningServer<ThreadedServer> server;
    TestClient silent(server.port());        // connects, never says a word
    TestClient half_a_line(server.port());   // starts a line, never ends it
    half_a_line.send("incompl");

    TestClient active(server.port());
    expect_echo(active, "served anyway\n", 2s);

    half_a_line.send("ete\n");  // the waiting one was not forgotten
    EXPECT_EQ(half_a_line.read_until("\n"), "incomplete\n");
}

TEST(Task4_ThreadedServer, ServesManyClientsConnectedAtOnce) {
    RunningServer<ThreadedServer> server;
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < 20; ++i) clients.push_back(std::make_unique<TestClient>(server.port()));
    // Every client is connected now; answer them in reverse order of arrival.
    for (int i = 19; i >= 0; --i) {
        expect_echo(*clients[static_cast<std::size_t>(i)], "client " + std::to_string(i) + "\n", 2s);
    }
}

TEST(Task4_ThreadedServer, StartsAThreadPerConnection) {
    RunningServer<ThreadedServer> server;
    TestClient a(server.port()), b(server.port()), c(server.port());
    EXPECT_TRUE(eventually([&] { return server.server().thread_count() == 3; }))
        << "three connections, three threads; have " << server.server().thread_count();
}

TEST(Task4_ThreadedServer, JoinsTheThreadsOfFinishedConnections) {
    RunningServer<ThreadedServer> server;
    for (int i = 0; i < 10; ++i) {
        TestClient client(server.port());
        expect_echo(client, "short visit\n");
    }
    // Finished threads are joined when the next peer arrives. Keep coming
    // until the count shows it: at most the current visitor and the one
    // before (whose thread may still be finishing).
    bool joined = eventually([&] {
        TestClient visitor(server.port());
        expect_echo(visitor, "one more\n");
        return server.server().thread_count() <= 2;
    });
    EXPECT_TRUE(joined) << "threads of closed connections must be joined, not piled up; have "
                        << server.server().thread_count();
}

// Catches: a join_finished_threads that stops at the first worker still
// serving (joining from the front of the list only): behind one long
// connection the threads of every later, short one pile up, each with its
// stack still mapped.
TEST(Task4_ThreadedServer, JoinsFinishedThreadsBehindALongConnection) {
    RunningServer<ThreadedServer> server;
    TestClient stays(server.port());  // the first worker in the list, serving all along
    expect_echo(stays, "I stay\n");
    for (int i = 0; i < 10; ++i) {
        TestClient client(server.port());
        expect_echo(client, "short visit\n");
    }
    // At most: the one that stays, the current visitor, and the one before.
    bool joined = eventually([&] {
        TestClient visitor(server.port());
        expect_echo(visitor, "one more\n");
        return server.server().thread_count() <= 3;
    });
    EXPECT_TRUE(joined) << "every finished thread must be joined, wherever it is in workers_, "
                           "not only those before the first one still serving; have "
                        << server.server().thread_count();
    expect_echo(stays, "still here\n");
}

TEST(Task4_ThreadedServer, StopEndsEveryConnectionAndJoinsEveryThread) {
    RunningServer<ThreadedServer> server;
    std::vector<std::unique_ptr<TestClient>> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(std::make_unique<TestClient>(server.port()));
    ASSERT_TRUE(eventually([&] { return server.server().thread_count() == 5; }));
    server.stop();  // fails the test (and ends the program) if run() does not return
    EXPECT_EQ(server.server().thread_count(), 0u) << "run() returns only after joining its threads";
    for (auto& client : idle) EXPECT_TRUE(client->closed_by_server(2s));
}

TEST(Task4_ThreadedServer, APeerThatResetsDoesNotDisturbOthers) {
    RunningServer<ThreadedServer> server;
    TestClient steady(server.port());
    expect_echo(steady, "before\n");
    {
        TestClient rude(server.port());
        expect_echo(rude, "bye\n");
        linger abort_on_close{1, 0};
        ::setsockopt(rude.fd(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    }  // closes with RST
    expect_echo(steady, "after\n");
    TestClient newcomer(server.port());
    expect_echo(newcomer, "still open\n");
}

// ---- HTTP through the servers (tasks 1 to 5 together) -------------------------

TEST(ThreadedServer, AnswersHttpBesideAHalfSentRequest) {
    RunningServer<ThreadedServer> server;
    TestClient http_half(server.port());
    http_half.send("GET / HTTP/1.1\r\nHost: x\r\n");  // no blank line yet
    TestClient browser(server.port());
    browser.send(kRequest);
    EXPECT_EQ(browser.read_http_response(2s), kHello);
    http_half.send("\r\n");
    EXPECT_EQ(http_half.read_http_response(), kHello);
}

TEST(IterativeServer, AnswersKeepAliveRequestsThenCloses) {
    RunningServer<IterativeServer> server;
    TestClient client(server.port());
    client.send(kRequest + kRequest);  // pipelined
    EXPECT_EQ(client.read_http_response(), kHello);
    EXPECT_EQ(client.read_http_response(), kHello);
    client.send(kRequest);
    EXPECT_EQ(client.read_http_response(), kHello);
    client.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_NE(client.read_http_response().find("Connection: close"), std::string::npos);
    EXPECT_TRUE(client.closed_by_server());
}
