// Tests of socket.h, the layer every chapter's servers stand on.
//
// Task1_* grade exercise task 1 (write_some, write_all), Task2_* task 2
// (listen_tcp, accept_connection). Task 1's tests use only socketpair() and
// raw system calls besides the functions they grade, so task 1 can be done
// before task 2.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "blocking_test_helpers.h"
#include "socket.h"

using namespace course;
using namespace course::testing;

namespace {

// Bytes that differ from position to position, so a lost or repeated piece shows.
std::string pattern(std::size_t size) {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
    return data;
}

void set_int_option(int fd, int option, int value) {
    if (::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value) < 0) throw_errno("setsockopt");
}

void set_send_timeout(int fd, std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) throw_errno("setsockopt");
}

// A connection to host:port whose handshake completes within `limit`, or an
// invalid FileDescriptor. (connect_tcp would wait as long as the kernel
// retries, about two minutes, for a listener whose backlog is full.)
FileDescriptor connect_tcp_within(const char* host, std::uint16_t port,
                                  std::chrono::milliseconds limit) {
    FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, host, &address.sin_addr);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
    if (errno != EINPROGRESS) return {};
    pollfd waiting{fd.get(), POLLOUT, 0};
    if (::poll(&waiting, 1, static_cast<int>(limit.count())) != 1) return {};
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    return error == 0 ? std::move(fd) : FileDescriptor();
}

// Runs write_all(fd, data) on a thread of its own; afterwards shuts the
// socket down for writing, so the reader sees the end of the stream even if
// write_all stopped early or threw.
class BackgroundWriter {
public:
    BackgroundWriter(int fd, const std::string& data) : fd_(fd) {
        thread_ = std::thread([this, &data] {
            try {
                write_all(fd_, data);
            } catch (const std::exception& e) {
                error_ = e.what();
            }
            ::shutdown(fd_, SHUT_WR);
        });
    }
    // Joins; if the writer is still stuck, shutting the socket down makes
    // its send() fail so that it ends.
    std::string finish() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        return error_;
    }
    pthread_t native_handle() { return thread_.native_handle(); }
    ~BackgroundWriter() {
        if (thread_.joinable()) finish();
    }

private:
    int fd_;
    std::string error_;
    std::thread thread_;
};

}  // namespace

// ---- Task 1: write_some and write_all ---------------------------------------

TEST(Task1_WriteAll, SendsEverythingDespitePartialWrites) {
    // SO_SNDTIMEO makes a blocking send() give up after 10 ms and return what
    // it took so far: a partial write, which write_all must continue.
    {
        // First prove that this set-up makes a single send() partial.
        SocketPair probe;
        set_int_option(probe.left.get(), SO_SNDBUF, 4096);
        set_send_timeout(probe.left.get(), 10ms);
        std::string big = pattern(1 << 20);
        ssize_t sent = ::send(probe.left.get(), big.data(), big.size(), MSG_NOSIGNAL);
        ASSERT_GT(sent, 0);
        ASSERT_LT(static_cast<std::size_t>(sent), big.size()) << "the test set-up did not cause a partial write";
    }
    SocketPair pair;
    set_int_option(pair.left.get(), SO_SNDBUF, 4096);
    set_send_timeout(pair.left.get(), 10ms);
    const std::string data = pattern(1 << 20);
    BackgroundWriter writer(pair.left.get(), data);
    std::string received = read_slowly_until_end(pair.right.get(), 20s);
    std::string error = writer.finish();
    EXPECT_EQ(error, "");
    ASSERT_EQ(received.size(), data.size()) << "write_all must send every byte, in order";
    EXPECT_TRUE(received == data) << "the bytes arrived changed or out of order";
}

TEST(Task1_WriteAll, SurvivesSignalsWhileBlocked) {
    // A signal that interrupts a blocked send() makes it return a short count
    // (some bytes went) or fail with EINTR (none went): neither is an error.
    EintrSignal signal_without_restart;
    SocketPair pair;
    set_int_option(pair.left.get(), SO_SNDBUF, 4096);
    const std::string data = pattern(1 << 20);
    BackgroundWriter writer(pair.left.get(), data);
    std::string received;
    {
        Interrupter interrupter(writer.native_handle(), 300us);
        received = read_slowly_until_end(pair.right.get(), 20s);
    }
    std::string error = writer.finish();
    EXPECT_EQ(error, "");
    ASSERT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
}

TEST(Task1_WriteAll, KeepsGoingWhenTheKernelTakesNothingForAWhile) {
    // The reader sleeps before it reads anything, so once the small send
    // buffer is full every send() times out (10 ms) having taken nothing:
    // write_some returns 0, again and again. That means "no room yet", not
    // "done": a write_all that returns there loses the rest of the data.
    SocketPair pair;
    set_int_option(pair.left.get(), SO_SNDBUF, 4096);
    set_send_timeout(pair.left.get(), 10ms);
    const std::string data = pattern(256 * 1024);
    BackgroundWriter writer(pair.left.get(), data);
    std::this_thread::sleep_for(200ms);
    std::string received = read_slowly_until_end(pair.right.get(), 20s);
    std::string error = writer.finish();
    EXPECT_EQ(error, "");
    ASSERT_EQ(received.size(), data.size())
        << "write_all returned before every byte was taken (did it stop on a 0 from write_some?)";
    EXPECT_TRUE(received == data);
}

TEST(Task1_WriteAll, WritesNothingForEmptyData) {
    SocketPair pair;
    write_all(pair.left.get(), "");
    write_all(pair.left.get(), "x");
    EXPECT_EQ(read_exactly(pair.right.get(), 1), "x");
}

TEST(Task1_WriteSome, ClosedPeerThrowsInsteadOfRaisingSigpipe) {
    // With SIGPIPE's default action, a plain send() to a closed peer would
    // end this whole test program. write_some must report EPIPE instead.
    DefaultSigpipe default_sigpipe;
    SocketPair pair;
    pair.right.reset();
    try {
        write_all(pair.left.get(), "anyone there?");
        FAIL() << "writing to a closed peer must throw";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EPIPE);
        EXPECT_NE(std::string(error.what()).find("write"), std::string::npos)
            << "the message should name the call: " << error.what();
    }
}

TEST(Task1_WriteSome, ReturnsWhatTheKernelTookAndZeroWhenFull) {
    SocketPair pair;
    set_nonblocking(pair.left.get());
    const std::string chunk = pattern(65536);
    std::size_t total = 0;
    std::size_t last = 1;
    for (int i = 0; i < 10000 && last != 0; ++i) {
        last = write_some(pair.left.get(), chunk);
        EXPECT_LE(last, chunk.size());
        total += last;
    }
    EXPECT_EQ(last, 0u) << "a non-blocking socket with a full buffer: write_some returns 0";
    EXPECT_GT(total, 0u);
    std::string received = read_exactly(pair.right.get(), total);
    EXPECT_EQ(received.size(), total);
}

// ---- Task 2: listen_tcp and accept_connection --------------------------------

TEST(Task2_ListenAccept, PortZeroGetsAFreePortThatAcceptsConnections) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    std::uint16_t port = local_port(listener.get());
    ASSERT_NE(port, 0) << "port 0 asks the kernel to choose; local_port tells which";
    FileDescriptor client = connect_tcp("127.0.0.1", port);
    AcceptedConnection accepted = accept_connection(listener.get());
    ASSERT_TRUE(accepted.fd.valid());
    EXPECT_EQ(accepted.peer, "127.0.0.1:" + std::to_string(local_port(client.get())));
}

TEST(Task2_ListenAccept, AcceptedSocketCarriesBytesBothWays) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    FileDescriptor client = connect_tcp("127.0.0.1", local_port(listener.get()));
    AcceptedConnection accepted = accept_connection(listener.get());
    ASSERT_EQ(::send(client.get(), "ping", 4, MSG_NOSIGNAL), 4);
    EXPECT_EQ(read_exactly(accepted.fd.get(), 4), "ping");
    ASSERT_EQ(::send(accepted.fd.get(), "pong", 4, MSG_NOSIGNAL), 4);
    EXPECT_EQ(read_exactly(client.get(), 4), "pong");
}

TEST(Task2_ListenAccept, PortInUseNamesTheCallAndTheAddress) {
    FileDescriptor first = listen_tcp("127.0.0.1", 0);
    std::uint16_t port = local_port(first.get());
    try {
        listen_tcp("127.0.0.1", port);
        FAIL() << "two sockets cannot listen on one port";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EADDRINUSE);
        EXPECT_NE(std::string(error.what()).find("bind 127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << error.what();
    }
}

TEST(Task2_ListenAccept, ListensAgainWhileOldConnectionsLinger) {
    // The side that closes a TCP connection first keeps it in TIME_WAIT for a
    // minute. Without SO_REUSEADDR, a restarted server could not bind its
    // port for that minute.
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    std::uint16_t port = local_port(listener.get());
    FileDescriptor client = connect_tcp("127.0.0.1", port);
    AcceptedConnection accepted = accept_connection(listener.get());
    ASSERT_TRUE(accepted.fd.valid());
    accepted.fd.reset();                                   // the server closes first
    EXPECT_EQ(read_exactly(client.get(), 1, 2s), "");      // the client sees the close
    client.reset();
    listener.reset();
    EXPECT_NO_THROW(listen_tcp("127.0.0.1", port)) << "listen_tcp should set SO_REUSEADDR";
}

// Catches: binding INADDR_ANY whatever the host (a test server open to the network).
TEST(Task2_ListenAccept, ListensOnTheHostAskedFor) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    EXPECT_EQ(ntohl(address.sin_addr.s_addr), INADDR_LOOPBACK)
        << "listen_tcp(\"127.0.0.1\", ...) must not listen on every interface";
}

// Catches: accept() without SOCK_CLOEXEC (a program the server starts would
// inherit every client's socket and keep it open).
TEST(Task2_ListenAccept, AcceptedSocketIsCloseOnExec) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    FileDescriptor client = connect_tcp("127.0.0.1", local_port(listener.get()));
    AcceptedConnection accepted = accept_connection(listener.get());
    ASSERT_TRUE(accepted.fd.valid());
    int flags = ::fcntl(accepted.fd.get(), F_GETFD);
    ASSERT_GE(flags, 0);
    EXPECT_TRUE(flags & FD_CLOEXEC) << "accept4(..., SOCK_CLOEXEC)";
}

// Catches: a listening socket made with a plain socket() call, without
// SOCK_CLOEXEC. A program the server starts (fork, then exec) would inherit
// it and keep the port: the server, stopped and started again, could not bind
// its own port while that program runs.
TEST(Task2_ListenAccept, ListeningSocketIsCloseOnExec) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    int flags = ::fcntl(listener.get(), F_GETFD);
    ASSERT_GE(flags, 0);
    EXPECT_TRUE(flags & FD_CLOEXEC)
        << "listen_tcp's socket must be close-on-exec, like every socket here: "
           "make it with new_tcp_socket() (SOCK_CLOEXEC)";
}

// Catches: an accept_connection that takes EMFILE (the process is out of
// descriptors) for a passing error and calls accept4() again at once: it
// spins a core at 100% for as long as no descriptor is freed. Only EINTR and
// the errors of one client mean "accept again"; EMFILE must throw, and the
// caller decides (BlockingServer::accept_next pauses before it tries again).
TEST(Task2_ListenAccept, OutOfDescriptorsThrowsEmfile) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    FileDescriptor client = connect_tcp("127.0.0.1", local_port(listener.get()));
    std::atomic<bool> started{false};
    std::atomic<bool> go{false};
    std::atomic<bool> returned{false};
    std::atomic<bool> restored{false};
    bool got_a_connection = false;
    std::exception_ptr thrown;
    // The sanitizers' checks of a polymorphic object (the thread's own state,
    // an exception) need a descriptor, so the thread starts before the limit
    // is lowered, ends after it is restored, and the exception is looked at
    // only then.
    std::thread acceptor([&] {
        started = true;
        while (!go) std::this_thread::sleep_for(1ms);
        try {
            got_a_connection = accept_connection(listener.get()).fd.valid();
        } catch (...) {
            thrown = std::current_exception();
        }
        returned = true;
        while (!restored) std::this_thread::sleep_for(1ms);
    });
    while (!started) std::this_thread::sleep_for(1ms);
    // dup() returns the lowest free number, so every number below it is in
    // use: with that many descriptors allowed, accept4() has none to give.
    int lowest_free = ::dup(listener.get());
    ::close(lowest_free);
    rlimit saved{};
    ::getrlimit(RLIMIT_NOFILE, &saved);
    rlimit lowered = saved;
    lowered.rlim_cur = static_cast<rlim_t>(lowest_free);
    bool lowered_ok = lowest_free > 0 && ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
    go = true;
    // A correct accept_connection throws at once. One that retries returns
    // only once descriptors are allowed again, with the connection.
    bool returned_while_out = eventually([&] { return returned.load(); }, 2s);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    restored = true;
    acceptor.join();
    ASSERT_TRUE(lowered_ok) << "the test could not lower RLIMIT_NOFILE";
    int error = 0;
    try {
        if (thrown) std::rethrow_exception(thrown);
    } catch (const std::system_error& e) {
        error = e.code().value();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "accept_connection threw something else than std::system_error: " << e.what();
    }
    EXPECT_TRUE(returned_while_out && !got_a_connection)
        << "out of descriptors, accept_connection kept calling accept4() instead of throwing "
           "(only EINTR and the errors of one client mean \"accept again\")";
    EXPECT_TRUE(error == EMFILE)
        << "EMFILE (\"Too many open files\") must reach the caller as std::system_error; got "
        << (error == 0 ? std::string("no std::system_error") : std::strerror(error));
}

// Catches: a backlog that ignores the argument (listen(fd, 1)): peers beyond
// it are not even connected until the server accepts.
TEST(Task2_ListenAccept, TheBacklogHoldsPeersNotYetAccepted) {
    constexpr int kPeers = 8;
    FileDescriptor listener = listen_tcp("127.0.0.1", 0, 2 * kPeers);
    std::uint16_t port = local_port(listener.get());
    std::vector<FileDescriptor> clients;
    for (int i = 0; i < kPeers; ++i) {
        // connect_tcp returns once the handshake is done, which the kernel
        // does for a listener with room in its backlog, before any accept().
        clients.push_back(connect_tcp_within("127.0.0.1", port, 2s));
        ASSERT_TRUE(clients.back().valid()) << "peer " << i << " was not connected within 2 s";
    }
}

TEST(Task2_ListenAccept, NonBlockingListenerWithNothingPendingGivesInvalidFd) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    set_nonblocking(listener.get());
    AcceptedConnection none = accept_connection(listener.get());
    EXPECT_FALSE(none.fd.valid());
    FileDescriptor client = connect_tcp("127.0.0.1", local_port(listener.get()));
    AcceptedConnection one;
    for (int i = 0; i < 200 && !one.fd; ++i) {  // the handshake may take a moment
        one = accept_connection(listener.get());
        if (!one.fd) std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(one.fd.valid());
}

TEST(Task2_ListenAccept, AcceptSurvivesSignalsWhileWaiting) {
    EintrSignal signal_without_restart;
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    std::uint16_t port = local_port(listener.get());
    std::string peer;
    std::string error;
    std::thread acceptor([&] {
        try {
            peer = accept_connection(listener.get()).peer;
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    {
        Interrupter interrupter(acceptor.native_handle(), 1ms);
        std::this_thread::sleep_for(100ms);  // accept() is interrupted again and again
    }
    FileDescriptor client = connect_tcp("127.0.0.1", port);
    // If accept_connection threw, the thread is gone; if it is still waiting,
    // the connection above wakes it.
    acceptor.join();
    EXPECT_EQ(error, "") << "EINTR is not an error: accept again";
    EXPECT_EQ(peer, "127.0.0.1:" + std::to_string(local_port(client.get())));
}

// ---- The rest of the layer (not an exercise) --------------------------------

TEST(Socket, FileDescriptorClosesOnceAndMoves) {
    int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(raw, 0);
    {
        FileDescriptor owner(raw);
        FileDescriptor moved = std::move(owner);
        EXPECT_FALSE(owner.valid());
        EXPECT_EQ(moved.get(), raw);
        EXPECT_NE(::fcntl(raw, F_GETFD), -1) << "still open while owned";
    }
    EXPECT_EQ(::fcntl(raw, F_GETFD), -1) << "closed when its owner went away";
    EXPECT_EQ(errno, EBADF);
}

TEST(Socket, ErrorsNameTheCallAndTheErrno) {
    errno = ENOENT;
    try {
        throw_errno("open config.txt");
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ENOENT);
        EXPECT_EQ(std::string(error.what()), "open config.txt: " + std::string(std::strerror(ENOENT)));
    }
}

TEST(Socket, ConnectToAClosedPortNamesTheCall) {
    std::uint16_t port;
    {
        FileDescriptor listener = listen_tcp("127.0.0.1", 0);
        port = local_port(listener.get());
    }  // closed: nothing listens on `port` now
    try {
        connect_tcp("127.0.0.1", port);
        FAIL() << "nothing listens there";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ECONNREFUSED);
        EXPECT_EQ(std::string(error.what()),
                  "connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(ECONNREFUSED));
    }
}

TEST(Socket, RefusesHostNamesWithAClearMessage) {
    EXPECT_THROW(listen_tcp("localhost", 0), std::invalid_argument);
    EXPECT_THROW(connect_tcp("256.1.1.1", 80), std::invalid_argument);
}

TEST(Socket, ReadSomeReportsDataEndOfStreamAndWouldBlock) {
    SocketPair pair;
    char buffer[16];
    set_nonblocking(pair.right.get());
    EXPECT_EQ(read_some(pair.right.get(), buffer, sizeof buffer), kWouldBlock);
    ASSERT_EQ(::send(pair.left.get(), "abc", 3, MSG_NOSIGNAL), 3);
    EXPECT_EQ(read_some(pair.right.get(), buffer, sizeof buffer), 3);
    EXPECT_EQ(std::string(buffer, 3), "abc");
    pair.left.reset();
    EXPECT_EQ(read_some(pair.right.get(), buffer, sizeof buffer), 0);
}

TEST(Socket, ReadSomeSurvivesSignalsWhileWaiting) {
    EintrSignal signal_without_restart;
    SocketPair pair;
    long got = 0;
    std::string error;
    std::thread reader([&] {
        char buffer[16];
        try {
            got = read_some(pair.right.get(), buffer, sizeof buffer);
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    {
        Interrupter interrupter(reader.native_handle(), 1ms);
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_EQ(::send(pair.left.get(), "x", 1, MSG_NOSIGNAL), 1);
    reader.join();
    EXPECT_EQ(error, "");
    EXPECT_EQ(got, 1);
}

TEST(Socket, ConnectSurvivesASignal) {
    // A listener whose backlog is full drops new handshakes, so connect()
    // blocks (the kernel resends the SYN after a second). Signals interrupt
    // it; connect_tcp must wait for the connection rather than fail.
    EintrSignal signal_without_restart;
    FileDescriptor listener = listen_tcp("127.0.0.1", 0, /*backlog=*/0);
    std::uint16_t port = local_port(listener.get());
    FileDescriptor first = connect_tcp("127.0.0.1", port);  // fills the backlog
    std::string error;
    FileDescriptor second;
    std::thread connector([&] {
        try {
            second = connect_tcp("127.0.0.1", port);
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    {
        Interrupter interrupter(connector.native_handle(), 2ms);
        std::this_thread::sleep_for(200ms);
    }
    AcceptedConnection made_room = accept_connection(listener.get());
    connector.join();  // the resent SYN gets in now: at most a few seconds
    EXPECT_EQ(error, "");
    EXPECT_TRUE(second.valid());
}

TEST(Socket, RaiseOpenFileLimitReachesTheHardLimit) {
    std::size_t limit = raise_open_file_limit();
    rlimit now{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
    EXPECT_EQ(limit, static_cast<std::size_t>(now.rlim_cur));
    EXPECT_EQ(now.rlim_cur, now.rlim_max);
}
