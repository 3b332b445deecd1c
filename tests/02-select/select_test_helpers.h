// select_test_helpers.h: tools the chapter 02 tests share.
//
// Every wait is bounded, every thread is joined, every socket is RAII.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "select_server.h"
#include "socket.h"

namespace course::testing {

using namespace std::chrono_literals;

// Polls `condition` every few milliseconds; false if it stayed false.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Sets SO_SNDBUF and SO_RCVBUF. Small buffers make the kernel push back
// after a few kilobytes, so tests reach partial writes with little data.
void set_socket_buffers(int fd, int bytes);

// The two ends of one loopback TCP connection: `ours` as a select server
// holds it (non-blocking), `peer` the client's end (blocking).
struct TcpPair {
    FileDescriptor ours;
    FileDescriptor peer;
};
TcpPair make_tcp_pair(int socket_buffer_bytes = 0);

// "line 0000001 the quick brown fox ...\n" lines, `total_bytes` in all.
std::string numbered_lines(std::size_t total_bytes);

// How many bytes wait unread in a socket's receive queue.
std::size_t unread_bytes(int fd);

// Writes `data` to a blocking socket from another thread, so that a test can
// send more than the kernel buffers hold and still read the replies.
// The destructor unblocks the thread (shutdown) if it is still sending.
class BackgroundSender {
public:
    BackgroundSender(int fd, std::string data);
    ~BackgroundSender();
    BackgroundSender(const BackgroundSender&) = delete;
    BackgroundSender& operator=(const BackgroundSender&) = delete;

    std::size_t sent() const { return sent_; }
    std::size_t total() const { return data_.size(); }
    // True once the sender has made no progress for `quiet` without having
    // sent everything (the other side stopped reading).
    bool stalls(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) const;
    bool finishes(std::chrono::milliseconds timeout) const;
    std::string error() const;

private:
    void send_everything();

    int fd_;
    std::string data_;
    std::atomic<std::size_t> sent_{0};
    std::atomic<bool> done_{false};
    mutable std::mutex mutex_;
    std::string error_;
    std::thread thread_;
};

// A SelectServer on 127.0.0.1, port 0, running on its own thread. The
// destructor stops and joins it, and fails the test if run() threw.
class ServerThread {
public:
    struct Options {
        std::size_t max_pending_output = SelectServer::kDefaultMaxPendingOutput;
        int socket_buffer_bytes = 0;  // > 0: small kernel buffers on every connection
        bool start = true;            // false: call start() later
    };
    ServerThread() : ServerThread(Options{}) {}
    explicit ServerThread(Options options);
    ~ServerThread();
    ServerThread(const ServerThread&) = delete;
    ServerThread& operator=(const ServerThread&) = delete;

    void start();
    // True once run() is inside its loop (it has called select()); false
    // if run() ended first, e.g. by throwing. Lets a test fail at once
    // instead of waiting for replies that cannot come.
    bool serving(std::chrono::milliseconds timeout = 2s) const;
    // Calls stop(); true if run() returned within `timeout`.
    bool stop(std::chrono::milliseconds timeout = 2s);

    std::uint16_t port() const { return port_; }
    SelectServerStats stats() const { return server_.stats(); }
    // What run() threw, "" if nothing.
    std::string error() const;

private:
    void run();
    void join();

    SelectServer server_;
    std::uint16_t port_;
    std::atomic<bool> returned_{false};
    mutable std::mutex mutex_;
    std::string error_;
    std::thread thread_;
};

}  // namespace course::testing
