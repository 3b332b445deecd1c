// Task 4: the select() loop. Whole-server tests: one SelectServer on its own
// thread, real clients on loopback. They check what the lesson is about: a
// silent or stalled peer delays nobody, partial writes lose nothing, a peer
// that never reads cannot make the server buffer without limit, descriptors
// past FD_SETSIZE are refused without harm, and stop() ends run().
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conversation.h"
#include "nonblocking_connection.h"
#include "select_server.h"
#include "select_test_helpers.h"
#include "test_client.h"

using namespace course;
using namespace course::testing;

namespace {

const std::string kHttpRequest = "GET / HTTP/1.1\r\nHost: test\r\n\r\n";

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

void expect_echo(TestClient& client, const std::string& line) {
    client.send(line);
    EXPECT_EQ(client.read_until("\n", 2s), line);
}

}  // namespace

// ---- the loop serves ------------------------------------------------------

TEST(Task4_SelectLoop, EchoesLines) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    client.send("hello\nwor");
    EXPECT_EQ(client.read_until("\n", 2s), "hello\n");
    client.send("ld\n");
    EXPECT_EQ(client.read_until("\n", 2s), "world\n");
}

TEST(Task4_SelectLoop, AnswersHttpWithKeepAliveThenCloses) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    client.send(kHttpRequest);
    expect_hello_response(client.read_http_response(2s));
    client.send(kHttpRequest);  // same connection: keep-alive
    expect_hello_response(client.read_http_response(2s));
    client.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    expect_hello_response(client.read_http_response(2s));
    EXPECT_TRUE(client.closed_by_server(2s)) << "Connection: close, and the reply is sent";
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == 0; }, 2s));
}

TEST(Task4_SelectLoop, ServesManyClientsInterleavedOnOneThread) {
    constexpr int kClients = 50;
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    std::vector<TestClient> clients;
    clients.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients.emplace_back(server.port());
        clients.back().send("client " + std::to_string(i) + " says ");  // half a line each
    }
    // Finish the lines last-first: each answer comes while the others are
    // still half-sent, so the server keeps 50 conversations apart at once.
    for (int i = kClients - 1; i >= 0; --i) {
        clients[i].send("hello\n");
        EXPECT_EQ(clients[i].read_until("\n", 2s), "client " + std::to_string(i) + " says hello\n");
    }
    for (int i = 0; i < kClients; ++i) clients[i].send("round " + std::to_string(i) + "\n");
    for (int i = 0; i < kClients; ++i) {
        EXPECT_EQ(clients[i].read_until("\n", 2s), "round " + std::to_string(i) + "\n");
    }
    EXPECT_EQ(server.stats().accepted, static_cast<std::size_t>(kClients));
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == kClients; }, 2s));
}

TEST(Task4_SelectLoop, FlushesTheReplyThenClosesWhenThePeerCloses) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    client.send("last words\n");
    client.shutdown_write();
    EXPECT_EQ(client.read_until_close(2s), "last words\n");
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == 0; }, 2s));
}

TEST(Task4_SelectLoop, AcceptsEveryWaitingConnectionInOneRound) {
    ServerThread server(ServerThread::Options{.start = false});
    std::vector<TestClient> clients;
    for (int i = 0; i < 20; ++i) clients.emplace_back(server.port());
    std::this_thread::sleep_for(50ms);  // all 20 queued on the listener
    server.start();
    ASSERT_TRUE(server.serving()) << server.error();
    ASSERT_TRUE(wait_until([&] { return server.stats().accepted == 20; }, 2s));
    EXPECT_LE(server.stats().select_calls, 5u)
        << "one select() round should accept all 20, not one per round";
    for (auto& client : clients) expect_echo(client, "hi\n");
}

TEST(Task4_SelectLoop, SleepsWhileNothingHappens) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    expect_echo(client, "hi\n");
    std::this_thread::sleep_for(50ms);
    std::size_t before = server.stats().select_calls;
    std::this_thread::sleep_for(300ms);
    std::size_t rounds = server.stats().select_calls - before;
    EXPECT_LE(rounds, 2u) << "an idle server must sleep in select(), not spin ("
                          << rounds << " rounds in 300 ms): watch for writing only "
                          << "while output waits";
}

// Catches: a reply that waits for select() to say "writable" before it is
// sent, which costs every request a second round of the loop.
TEST(Task4_SelectLoop, AReplyGoesOutInTheRoundThatReadItsRequest) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    expect_echo(client, "warm up\n");
    constexpr std::size_t kRequests = 100;
    std::size_t before = server.stats().select_calls;
    for (std::size_t i = 0; i < kRequests; ++i) expect_echo(client, "line " + std::to_string(i) + "\n");
    std::size_t rounds = server.stats().select_calls - before;
    // One round per request (plus a few for luck); two per request means
    // every reply waited for a "writable" report it did not need.
    EXPECT_LT(rounds, kRequests * 3 / 2)
        << rounds << " select() rounds for " << kRequests << " requests, one after the other: "
        << "send a fresh reply at once, and wait for \"writable\" only for what is left";
}

// Catches: a connection watched for writing only when it does not want to
// read (`else if` between the two watches). A reply bigger than the kernel's
// buffers goes out in part right after its read; if the peer then only reads,
// no read comes to push the rest, and only a writable event can send it.
TEST(Task4_SelectLoop, TheRestOfAReplyGoesOutWhileThePeerOnlyReads) {
    ServerThread server(ServerThread::Options{.socket_buffer_bytes = 64 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    set_socket_buffers(client.fd(), 64 * 1024);
    // More than the kernel's buffers hold, and far below the output limit
    // (1 MiB): the server reads all of it and never has a reason to stop.
    std::string lines = numbered_lines(512 * 1024);
    // Sent from a thread: a server that does not read cannot block the test.
    BackgroundSender sender(client.fd(), lines);
    constexpr std::size_t kOneReadsReply =
        NonBlockingConnection::kReadChunk + Conversation::kMaxLineLength;
    ASSERT_TRUE(wait_until([&] { return server.stats().largest_pending_output > kOneReadsReply; }, 5s))
        << "the server never held more than one read's reply, so it never met a partial write";
    ASSERT_TRUE(sender.finishes(5s)) << "the server stopped reading below its output limit";
    // Sent is not read: bytes may still wait in the server's receive buffer,
    // and each read of them would push out some of the reply. Once the loop
    // sleeps, every byte has been read, and only a writable event is left
    // to send the rest.
    ASSERT_TRUE(server.goes_quiet(300ms, 10s)) << "the server never stopped calling select()";

    // From now on the client only reads.
    std::string echoed;
    try {
        echoed = read_bytes_steadily(client, lines.size());
    } catch (const TimeoutError&) {
        FAIL() << "the reply stopped coming while the client only read: a connection with "
                  "output waiting must be in the write set even while it also wants to read";
    }
    EXPECT_TRUE(echoed == lines) << "bytes lost or reordered across partial writes";
}

// Catches: a connection erased from connections_ inside handle_ready()'s loop
// (to close it at once), which leaves the loop standing on a freed map node:
// a crash, or the rest of the round going to the wrong place. Only
// close_finished_connections(), after the pass, may erase.
TEST(Task4_SelectLoop, ManyCloseAtOnceWhileOthersTalk) {
    constexpr int kClients = 60;
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    std::vector<std::optional<TestClient>> clients(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients[i].emplace(server.port());
        expect_echo(*clients[i], "hello " + std::to_string(i) + "\n");
    }
    // Leavers and talkers alternate in the map; all at once, so that many
    // leave in the round in which their neighbours talk.
    for (int i = 0; i < kClients; ++i) {
        if (i % 2 == 1) {
            clients[i]->send("bye\n");
            clients[i].reset();  // end of stream, with a reply on its way
        } else {
            clients[i]->send("round 1 from " + std::to_string(i) + "\n");
        }
    }
    for (int i = 0; i < kClients; i += 2) {
        EXPECT_EQ(clients[i]->read_until("\n", 2s), "round 1 from " + std::to_string(i) + "\n");
    }
    EXPECT_TRUE(wait_until([&] { return server.stats().open_connections == kClients / 2; }, 2s))
        << server.stats().open_connections << " open, " << kClients / 2 << " expected";
    for (int i = 0; i < kClients; i += 2) expect_echo(*clients[i], "round 2\n");
    EXPECT_EQ(server.error(), "");
}

// ---- one peer never delays the others --------------------------------------

TEST(Task4_NotBlocking, SilentAndStalledPeersDoNotDelayOthers) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient silent(server.port());  // connects and never sends a byte
    TestClient stalled(server.port());
    stalled.send("GET / HTTP/1.1\r\nHost: exam");  // half a request, then nothing
    std::this_thread::sleep_for(50ms);

    auto start = std::chrono::steady_clock::now();
    TestClient echo(server.port());
    echo.send("are you there?\n");
    EXPECT_EQ(echo.read_until("\n", 2s), "are you there?\n");
    TestClient http(server.port());
    http.send(kHttpRequest);
    expect_hello_response(http.read_http_response(2s));
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, 500ms) << "a third client waited on the silent and stalled ones";

    // The stalled request is still there, and completes when its peer goes on.
    stalled.send("ple\r\n\r\n");
    expect_hello_response(stalled.read_http_response(2s));
    EXPECT_FALSE(silent.closed_by_server(50ms)) << "a silent peer is not closed for being silent";
}

TEST(Task4_NotBlocking, PartialWritesLoseNothingWhileOthersAreServed) {
    // Small kernel buffers, so the server's writes come up short at once.
    ServerThread server(ServerThread::Options{.socket_buffer_bytes = 32 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    std::string lines = numbered_lines(8 * 1024 * 1024);
    TestClient bulk(server.port());
    BackgroundSender sender(bulk.fd(), lines);

    // We do not read yet: the replies fill the kernel's buffers, the
    // server's writes come up short, and its output buffer grows past what
    // any single read could explain.
    constexpr std::size_t kOneReadsReply =
        NonBlockingConnection::kReadChunk + Conversation::kMaxLineLength;
    ASSERT_TRUE(wait_until([&] { return server.stats().largest_pending_output > kOneReadsReply; }, 5s))
        << "the server never held more than one read's reply, so it never met a partial write";

    TestClient other(server.port());
    auto start = std::chrono::steady_clock::now();
    expect_echo(other, "me too\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);

    std::string echoed = read_bytes_steadily(bulk, lines.size());
    EXPECT_TRUE(sender.finishes(5s));
    EXPECT_EQ(sender.error(), "");
    ASSERT_EQ(echoed.size(), lines.size());
    EXPECT_TRUE(echoed == lines) << "bytes lost or reordered across partial writes";
}

TEST(Task4_Backpressure, StopsReadingFromAPeerThatDoesNotRead) {
    constexpr std::size_t kLimit = 64 * 1024;
    ServerThread server(ServerThread::Options{.max_pending_output = kLimit,
                                              .socket_buffer_bytes = 32 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    std::string lines = numbered_lines(16 * 1024 * 1024);
    TestClient greedy(server.port());
    set_socket_buffers(greedy.fd(), 32 * 1024);
    BackgroundSender sender(greedy.fd(), lines);  // sends, never reads

    ASSERT_TRUE(sender.stalls(300ms, 10s))
        << "the client sent all 16 MB without reading a reply: the server "
           "kept reading (and buffering) from a peer that never reads";
    SelectServerStats stats = server.stats();
    EXPECT_GE(stats.largest_pending_output, kLimit);
    EXPECT_LE(stats.largest_pending_output,
              kLimit + NonBlockingConnection::kReadChunk + Conversation::kMaxLineLength)
        << "the server read on after its output passed the limit";

    // While that peer is stalled, the loop sleeps and still serves others.
    std::size_t before = server.stats().select_calls;
    TestClient other(server.port());
    expect_echo(other, "still here\n");
    std::this_thread::sleep_for(200ms);
    EXPECT_LE(server.stats().select_calls - before, 10u) << "busy loop on the stalled peer";

    // Once the peer reads, everything comes back, in order.
    std::string echoed = read_bytes_steadily(greedy, lines.size());
    EXPECT_TRUE(sender.finishes(5s));
    ASSERT_EQ(echoed.size(), lines.size());
    EXPECT_TRUE(echoed == lines);
}

// Catches: handle_ready() calling on_readable() on a connection select() did
// not report readable. A connection left out of the read set (backpressure)
// is then read in every round that any other client causes, and the server
// buffers without limit for a peer that never reads.
TEST(Task4_Backpressure, APeerLeftOutOfTheReadSetIsNotReadWhileOthersTalk) {
    constexpr std::size_t kLimit = 64 * 1024;
    ServerThread server(ServerThread::Options{.max_pending_output = kLimit,
                                              .socket_buffer_bytes = 32 * 1024});
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient greedy(server.port());
    set_socket_buffers(greedy.fd(), 32 * 1024);
    BackgroundSender sender(greedy.fd(), numbered_lines(4 * 1024 * 1024));  // never reads
    ASSERT_TRUE(sender.stalls(300ms, 10s))
        << "the client sent all 4 MB without reading a reply: the server kept reading from it";

    // Another client keeps the loop turning: a round per line.
    TestClient other(server.port());
    for (int i = 0; i < 50; ++i) expect_echo(other, "busy " + std::to_string(i) + "\n");
    EXPECT_LE(server.stats().largest_pending_output,
              kLimit + NonBlockingConnection::kReadChunk + Conversation::kMaxLineLength)
        << "a connection out of the read set was read anyway while another client talked: "
           "call on_readable() only on what select() reported readable";
}

// ---- FD_SETSIZE -------------------------------------------------------------

namespace {

// Raises RLIMIT_NOFILE to at least `wanted` for the test, and puts it back.
class OpenFileLimit {
public:
    explicit OpenFileLimit(rlim_t wanted) {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        rlimit raised = saved_;
        if (raised.rlim_cur >= wanted) {
            ok_ = true;
            return;
        }
        if (raised.rlim_max < wanted) return;
        raised.rlim_cur = wanted;
        ok_ = ::setrlimit(RLIMIT_NOFILE, &raised) == 0;
    }
    ~OpenFileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
    bool ok() const { return ok_; }

private:
    rlimit saved_{};
    bool ok_ = false;
};

// Opens /dev/null until every descriptor below FD_SETSIZE is taken, so the
// next socket anyone in this process opens is numbered FD_SETSIZE or more.
class DescriptorFiller {
public:
    DescriptorFiller() {
        while (true) {
            FileDescriptor fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
            if (!fd) throw_errno("open /dev/null");
            if (fd.get() >= FD_SETSIZE) break;  // all below are taken; give this one back
            int number = fd.get();
            fillers_.push_back(std::move(fd));
            if (number == FD_SETSIZE - 1) break;
        }
    }
    ~DescriptorFiller() { release(); }
    void release() { fillers_.clear(); }
    // Frees the highest number held, FD_SETSIZE - 1: the next descriptor
    // opened gets it.
    void release_highest() { fillers_.pop_back(); }

private:
    std::vector<FileDescriptor> fillers_;
};

}  // namespace

TEST(Task4_FdSetSize, RefusesDescriptorsSelectCannotWatchAndGoesOn) {
    OpenFileLimit limit(FD_SETSIZE + 64);
    if (!limit.ok()) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE above FD_SETSIZE here";

    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient before(server.port());
    expect_echo(before, "before\n");
    {
        DescriptorFiller filler;
        // This client's own socket is >= FD_SETSIZE (TestClient uses poll(),
        // which has no such limit), and so is the one the server accepts.
        TestClient refused(server.port());
        EXPECT_TRUE(refused.closed_by_server(2s)) << "a connection past FD_SETSIZE must be closed";
        EXPECT_TRUE(wait_until([&] { return server.stats().refused == 1; }, 2s));
        expect_echo(before, "still served\n");  // and the others are still served
    }
    TestClient after(server.port());
    expect_echo(after, "after\n");
    expect_echo(before, "and again\n");
    EXPECT_EQ(server.stats().refused, 1u);
    EXPECT_EQ(server.error(), "");
}

// Catches: `fd > FD_SETSIZE` for `fd >= FD_SETSIZE`. Descriptor FD_SETSIZE
// itself is the first one select() cannot watch.
TEST(Task4_FdSetSize, RefusesDescriptorFdSetSizeItself) {
    OpenFileLimit limit(FD_SETSIZE + 64);
    if (!limit.ok()) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE above FD_SETSIZE here";

    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    // The client's socket is made first, below FD_SETSIZE; then every other
    // number below FD_SETSIZE is taken, so the server's accept() gets exactly
    // FD_SETSIZE.
    FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(client.valid());
    DescriptorFiller filler;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server.port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    pollfd waiting{client.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&waiting, 1, 2000), 1) << "a connection on descriptor FD_SETSIZE must be closed";
    char byte;
    EXPECT_LE(::recv(client.get(), &byte, 1, 0), 0) << "closed, not answered";
    EXPECT_TRUE(wait_until([&] { return server.stats().refused == 1; }, 2s));
    EXPECT_EQ(server.error(), "");
}

namespace {

// A client socket made now (so below FD_SETSIZE), connected later, read with
// poll(), which has no FD_SETSIZE limit.
class RawClient {
public:
    RawClient() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (!fd_) throw_errno("socket");
    }
    void connect(std::uint16_t port) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
            throw_errno("connect");
        }
    }
    // What arrives before `timeout`, the end of stream, or a newline.
    std::string read_line(std::chrono::milliseconds timeout) {
        std::string line;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (line.empty() || line.back() != '\n') {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd waiting{fd_.get(), POLLIN, 0};
            if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) != 1) break;
            char byte;
            if (::recv(fd_.get(), &byte, 1, 0) != 1) break;  // closed by the server
            line += byte;
        }
        return line;
    }
    int fd() const { return fd_.get(); }

private:
    FileDescriptor fd_;
};

// Sends this process's stderr to a temporary file while it lives.
class StderrCapture {
public:
    StderrCapture() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
        if (file_ == nullptr || !saved_) throw_errno("tmpfile/dup");
        std::fflush(stderr);
        ::dup2(::fileno(file_), STDERR_FILENO);
    }
    ~StderrCapture() {
        restore();
        std::fclose(file_);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    // Puts stderr back and returns what was written to it meanwhile.
    std::string text() {
        restore();
        std::string text;
        std::rewind(file_);
        char chunk[4096];
        while (std::size_t n = std::fread(chunk, 1, sizeof chunk, file_)) text.append(chunk, n);
        return text;
    }

private:
    void restore() {
        if (!saved_) return;
        std::fflush(stderr);
        ::dup2(saved_.get(), STDERR_FILENO);
        saved_.reset();
    }

    std::FILE* file_;
    FileDescriptor saved_;
};

}  // namespace

// Catches: `fd + 1 >= FD_SETSIZE` or `fd >= FD_SETSIZE - 1` for
// `fd >= FD_SETSIZE`. An fd_set has bits 0 to FD_SETSIZE - 1: descriptor
// FD_SETSIZE - 1 is the last one select() can watch, and it is served.
TEST(Task4_FdSetSize, ServesTheLastDescriptorSelectCanWatch) {
    OpenFileLimit limit(FD_SETSIZE + 64);
    if (!limit.ok()) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE above FD_SETSIZE here";

    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    RawClient client;  // below FD_SETSIZE
    DescriptorFiller filler;
    filler.release_highest();  // so the server's accept() gets FD_SETSIZE - 1
    client.connect(server.port());
    write_all(client.fd(), "the last one\n");
    EXPECT_EQ(client.read_line(2s), "the last one\n")
        << "descriptor FD_SETSIZE - 1 (" << FD_SETSIZE - 1 << ") fits in an fd_set: serve it";
    EXPECT_EQ(server.stats().refused, 0u);
    EXPECT_EQ(server.error(), "");
}

// Catches: a refusal counted but not reported (refused_ raised by hand
// instead of calling refuse()). Whoever runs the server must learn why
// clients are turned away: one line on stderr names the limit.
TEST(Task4_FdSetSize, ARefusalIsLoggedNamingTheLimit) {
    OpenFileLimit limit(FD_SETSIZE + 64);
    if (!limit.ok()) GTEST_SKIP() << "cannot raise RLIMIT_NOFILE above FD_SETSIZE here";

    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    StderrCapture log;  // before the filler: it needs two descriptors
    RawClient client;
    DescriptorFiller filler;
    client.connect(server.port());  // the server's accept() gets FD_SETSIZE
    EXPECT_EQ(client.read_line(2s), "") << "closed, not answered";
    EXPECT_TRUE(wait_until([&] { return server.stats().refused == 1; }, 2s));
    std::string logged = log.text();
    EXPECT_NE(logged.find("FD_SETSIZE"), std::string::npos)
        << "a refused connection must be logged (adopt() calls refuse()); stderr had: \""
        << logged << "\"";
}

// ---- stop() -------------------------------------------------------------------

TEST(Task4_Stop, StopFromAnotherThreadEndsRun) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient client(server.port());
    expect_echo(client, "hi\n");  // run() is now asleep in select()
    std::this_thread::sleep_for(20ms);
    EXPECT_TRUE(server.stop(1s)) << "stop() did not wake select(): is the wake pipe in the read set?";
}

TEST(Task4_Stop, StopBeforeRunMakesRunReturnAtOnce) {
    SelectServer server(listen_tcp("127.0.0.1", 0));
    server.stop();
    auto finished = std::async(std::launch::async, [&] { server.run(); });
    bool returned = finished.wait_for(1s) == std::future_status::ready;
    if (!returned) {
        FileDescriptor nudge = connect_tcp("127.0.0.1", server.port());  // let run() end
    }
    finished.get();
    EXPECT_TRUE(returned);
}

TEST(Task4_Stop, StopClosesEveryConnection) {
    ServerThread server;
    ASSERT_TRUE(server.serving()) << server.error();
    TestClient first(server.port());
    TestClient second(server.port());
    expect_echo(first, "one\n");
    expect_echo(second, "two\n");
    EXPECT_TRUE(server.stop(1s));
    EXPECT_TRUE(first.closed_by_server(1s));
    EXPECT_TRUE(second.closed_by_server(1s));
}
