// server_scenarios.h: situations a LoopServer must handle, written once and
// run against both the level-triggered server (loop_server_test.cpp) and the
// edge-triggered one (edge_triggered_test.cpp, exercise task 4).
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "loop_server.h"
#include "loop_test_support.h"
#include "socket.h"
#include "test_client.h"

namespace course::testing {

// Numbered lines, at least `bytes` long in all: an echo stream in which a
// lost, doubled or reordered piece shows.
inline std::string numbered_lines(std::size_t bytes) {
    std::string text;
    char line[64];
    for (int i = 0; text.size() < bytes; ++i) {
        std::snprintf(line, sizeof line, "line %08d of a long stream\n", i);
        text += line;
    }
    return text;
}

// What a client got before `timeout`, or "<nothing: timed out>".
inline std::string reply_within(TestClient& client, std::size_t bytes,
                                std::chrono::milliseconds timeout) {
    try {
        return client.read_bytes(bytes, timeout);
    } catch (const TimeoutError&) {
        return "<nothing: timed out>";
    }
}

// How many of `clients`, client i having sent "client i\n", did not get
// their line back: all of them within one 5 s deadline.
inline int count_unechoed(std::vector<std::unique_ptr<TestClient>>& clients) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    int unechoed = 0;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        std::string expected = "client " + std::to_string(i) + "\n";
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        std::string reply = reply_within(*clients[i], expected.size(), std::max(left, 10ms));
        if (reply != expected) ++unechoed;
    }
    return unechoed;
}

// Reads until end of stream, at most `timeout` in all; returns what came.
inline std::string read_until_eof(int fd, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string received;
    std::vector<char> chunk(64 * 1024);
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left <= std::chrono::milliseconds::zero()) return received;
        pollfd waiting{fd, POLLIN, 0};
        if (::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) return received;
        long n = read_some(fd, chunk.data(), chunk.size());
        if (n == 0) return received;
        if (n > 0) received.append(chunk.data(), static_cast<std::size_t>(n));
    }
}

// Asks the loop for its connection count until it is `expected` (closes
// reach the server a moment after the client's close()).
inline bool wait_for_connection_count(RunningServer& server, std::size_t expected,
                                      std::chrono::milliseconds timeout = 3s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (server.connection_count() != expected) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// The server can be made to queue work while its loop is held, then must
// serve all of it: 64 connections that arrived together. So many, that an
// accept loop with a cap of its own ("at most 16 per event, for fairness")
// leaves some behind: edge-triggered, the listener is not reported again.
inline void expect_every_queued_connection_served(LoopServerOptions options) {
    constexpr int kClients = 64;
    RunningServer server(options);
    server.hold_loop();
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<TestClient>(server.port()));
        clients.back()->send("client " + std::to_string(i) + "\n");
    }
    std::this_thread::sleep_for(50ms);  // every handshake done, every byte there
    server.release_loop();
    int unserved = count_unechoed(clients);
    EXPECT_EQ(unserved, 0) << unserved << " of " << kClients
                           << " clients that connected while the loop was busy were not served "
                              "(edge-triggered: accept until accept() says EAGAIN, however many "
                              "wait)";
}

// 16 KB arrive while the loop is busy, with a server that reads 64 bytes at
// a time: one readiness event, 257 reads' worth of bytes. So many, that a
// read loop with a cap of its own ("at most 64 reads per event") leaves some
// behind: edge-triggered, the socket is not reported again.
inline void expect_everything_read_after_a_busy_moment(LoopServerOptions options) {
    options.read_chunk_size = 64;
    RunningServer server(options);
    TestClient client(server.port());
    client.send("warm up\n");
    ASSERT_EQ(reply_within(client, 8, 3s), "warm up\n");
    std::string data = numbered_lines(16 * 1024);
    server.hold_loop();
    client.send(data);  // fits in the socket buffers: nothing waits for the loop
    std::this_thread::sleep_for(50ms);
    server.release_loop();
    std::string echoed = reply_within(client, data.size(), 3s);
    EXPECT_EQ(echoed.size(), data.size());
    EXPECT_TRUE(echoed == data) << "the echo of 16 KB that arrived at once did not all come back "
                                   "(edge-triggered: read until read() says EAGAIN, however many "
                                   "reads that takes)";
}

// Megabytes through a connection whose buffers are small, to a server that
// holds at most 16 KB of replies: partial writes and backpressure all the
// way, and every byte must come back, in order, before the server closes.
inline void expect_huge_stream_echoed(LoopServerOptions options, std::size_t bytes) {
    options.max_pending_output = 16 * 1024;
    RunningServer server(options);
    FileDescriptor fd = connect_with_small_buffers(server.port(), 8 * 1024);
    std::string data = numbered_lines(bytes);
    std::thread sender([&] {
        try {
            write_all(fd.get(), data);
            ::shutdown(fd.get(), SHUT_WR);  // the server answers all, then closes
        } catch (const std::exception&) {
            // The reader gave up and shut the socket (reported below).
        }
    });
    std::this_thread::sleep_for(100ms);  // let the replies pile up first
    std::string echoed = read_until_eof(fd.get(), 10s);
    ::shutdown(fd.get(), SHUT_RDWR);  // frees the sender if the server stalled
    sender.join();
    EXPECT_EQ(echoed.size(), data.size()) << "the echo stalled or broke off";
    EXPECT_TRUE(echoed == data) << "the echo came back different";
}

// A peer that never reads its replies can push only as much as the kernel
// buffers and max_pending_output hold; then the server stops reading it.
// Returns how many bytes the peer managed to send.
inline std::size_t bytes_pushed_without_reading(int fd, std::size_t at_most) {
    set_nonblocking(fd);
    std::string block = numbered_lines(64 * 1024);
    std::size_t sent = 0;
    auto last_progress = std::chrono::steady_clock::now();
    while (sent < at_most && std::chrono::steady_clock::now() - last_progress < 300ms) {
        std::size_t offset = sent % block.size();
        std::size_t written = write_some(fd, std::string_view(block).substr(offset));
        if (written > 0) {
            sent += written;
            last_progress = std::chrono::steady_clock::now();
        } else {
            pollfd waiting{fd, POLLOUT, 0};
            ::poll(&waiting, 1, 50);
        }
    }
    return sent;
}

inline void expect_backpressure(LoopServerOptions options) {
    options.max_pending_output = 64 * 1024;
    RunningServer server(options);
    FileDescriptor greedy = connect_with_small_buffers(server.port(), 16 * 1024);
    // Without backpressure the server would read on and buffer all of it.
    constexpr std::size_t kWouldBeUnbounded = 256 * 1024 * 1024;
    std::size_t sent = bytes_pushed_without_reading(greedy.get(), kWouldBeUnbounded);
    EXPECT_LT(sent, 64u * 1024 * 1024)
        << "a peer that reads nothing pushed " << sent / 1024 << " KB into the server";

    // Meanwhile everyone else is served at once.
    TestClient other(server.port());
    other.send("still there?\n");
    EXPECT_EQ(reply_within(other, 13, 2s), "still there?\n");

    // Once the greedy peer reads, it gets every byte back, in order.
    ::shutdown(greedy.get(), SHUT_WR);
    std::string echoed = read_until_eof(greedy.get(), 10s);
    std::string block = numbered_lines(64 * 1024);
    std::string expected;
    while (expected.size() < sent) expected += block;
    expected.resize(sent);
    expected.resize(expected.rfind('\n') + 1);  // a last half line gets no echo
    EXPECT_EQ(echoed.size(), expected.size());
    EXPECT_TRUE(echoed == expected) << "the echo came back different";
}

// Every descriptor number this process may have is in use while one of
// these lives: the soft RLIMIT_NOFILE is lowered to the highest open number
// plus one, and the free numbers below it are taken. The destructor gives
// them back. (The test and the server are one process, so this is how the
// server runs out of descriptors: accept() fails with EMFILE.)
class NoFreeDescriptors {
public:
    NoFreeDescriptors() {
        ::getrlimit(RLIMIT_NOFILE, &saved_);
        int highest = 0;
        for (int fd = 0; fd < 65536 && static_cast<rlim_t>(fd) < saved_.rlim_cur; ++fd) {
            if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
        }
        rlimit low = saved_;
        low.rlim_cur = static_cast<rlim_t>(highest + 1);
        ok_ = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
        for (int fd; ok_ && (fd = ::dup(STDERR_FILENO)) >= 0;) fillers_.emplace_back(fd);
    }
    ~NoFreeDescriptors() {
        fillers_.clear();
        ::setrlimit(RLIMIT_NOFILE, &saved_);
    }
    NoFreeDescriptors(const NoFreeDescriptors&) = delete;
    NoFreeDescriptors& operator=(const NoFreeDescriptors&) = delete;
    bool ok() const { return ok_; }

private:
    rlimit saved_{};
    bool ok_ = false;
    std::vector<FileDescriptor> fillers_;
};

// Connections queue up while the server has no descriptor left: accept()
// fails with EMFILE. on_listener_ready (given) pauses accepting for 100 ms
// and then watches the listener again, which reports the connections still
// waiting, edge-triggered or not. An accept loop that swallows the error
// never hears of them again: no new connection, no new edge.
inline void expect_accepting_resumes_after_running_out_of_descriptors(LoopServerOptions options) {
    constexpr int kClients = 8;
    RunningServer server(options);
    // The sanitizer build (make grade) checks each call of a virtual member,
    // and checks a type it has not seen yet by opening a pipe: with no
    // descriptor free that fails, and it reports a false error. So every
    // kind of call made below while descriptors are exhausted is made once
    // first: the test's hand-overs to the loop, and the error the server
    // gets from accept() and reads in on_listener_ready and pause_accepting.
    server.hold_loop();
    server.release_loop();
    server.connection_count();
    try {
        errno = EMFILE;
        throw_errno("accept4");
    } catch (const std::system_error& error) {
        const std::exception& why = error;
        EXPECT_TRUE(error.code() == std::errc::too_many_files_open && why.what() != nullptr &&
                    error.code() != std::errc::too_many_files_open_in_system);
    }
    server.hold_loop();
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<TestClient>(server.port()));
        clients.back()->send("client " + std::to_string(i) + "\n");
    }
    {
        NoFreeDescriptors exhausted;
        ASSERT_TRUE(exhausted.ok()) << "could not lower RLIMIT_NOFILE";
        server.release_loop();
        // The turn the loop was held in goes on to its poll, where the
        // listener is ready and accept() fails. This callback runs at the
        // start of the next turn, so by then the server has met EMFILE.
        ASSERT_EQ(server.connection_count(), 0u) << "the server accepted with no descriptor free";
    }  // descriptors free again
    int unserved = count_unechoed(clients);
    EXPECT_EQ(unserved, 0) << unserved << " of " << kClients
                           << " clients that queued up while the server was out of descriptors "
                              "were never served: let accept_one's exception reach "
                              "on_listener_ready, which pauses accepting and watches the listener "
                              "again";
}

// After an exchange, an idle keep-alive connection must cost the loop no
// CPU: a WRITE interest left on would make epoll report it every turn.
inline void expect_idle_connection_costs_no_cpu(LoopServerOptions options) {
    RunningServer server(options);
    TestClient client(server.port());
    client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    EXPECT_NE(client.read_http_response(3s).find("Hello, world"), std::string::npos);
    std::uint64_t turns_before = server.loop_turns();
    auto before = server.loop_cpu_time();
    std::this_thread::sleep_for(300ms);
    auto used = server.loop_cpu_time() - before;
    std::uint64_t turns = server.loop_turns() - turns_before;
    // Counted in turns too: on a loaded machine a spinning loop may get
    // little CPU, but it still goes round thousands of times in 300 ms. A
    // sleeping one goes round for the two loop_turns() calls only.
    EXPECT_LT(turns, 50u) << "the loop went round " << turns
                          << " times in 300 ms with one idle connection: is WRITE asked for "
                             "with nothing to write?";
    EXPECT_LT(used, 60ms) << "the loop spun for "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(used).count()
                          << " ms of CPU in 300 ms with one idle connection";
}

// One peer connects and says nothing; another sends half a request and
// stalls. A third must be served at once: nothing waits for a slow peer.
inline void expect_slow_peers_do_not_block_others(LoopServerOptions options) {
    RunningServer server(options);
    TestClient silent(server.port());
    TestClient stalled(server.port());
    stalled.send("GET / HTTP/1.1\r\nHo");
    for (int i = 0; i < 3; ++i) {
        auto started = std::chrono::steady_clock::now();
        TestClient quick(server.port());
        quick.send("GET /quick HTTP/1.1\r\nHost: test\r\n\r\n");
        std::string response;
        try {
            response = quick.read_http_response(1s);
        } catch (const std::exception& error) {
            ADD_FAILURE() << "a client was not served while others stalled: " << error.what();
            return;
        }
        EXPECT_NE(response.find("200 OK"), std::string::npos);
        EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    }
    EXPECT_TRUE(wait_for_connection_count(server, 2))
        << "the silent and the stalled peers stay connected, the quick ones are gone";
    stalled.send("st: test\r\n\r\n");  // the rest of the request
    EXPECT_NE(stalled.read_http_response(2s).find("Hello, world"), std::string::npos);
    silent.send("finally\n");
    EXPECT_EQ(reply_within(silent, 8, 2s), "finally\n");
}

}  // namespace course::testing
