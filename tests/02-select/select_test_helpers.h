// select_test_helpers.h: tools the chapter 02 tests share.
//
// Every wait is bounded, every thread is joined, every socket is RAII.
#pragma once

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
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

// A listening socket on 127.0.0.1, port 0; with socket_buffer_bytes > 0 the
// sockets it accepts get buffers that small.
FileDescriptor make_listener(int socket_buffer_bytes = 0);

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

// A server on 127.0.0.1, port 0, running on its own thread: the chapter's
// SelectServer, or task 5's PollServer (which has the same API). The
// destructor stops and joins it, and fails the test if run() threw.
// `Rounds` is the field of the server's stats that counts its waits
// (select_calls, poll_calls): once it moves, run() is inside its loop.
template <typename Server, auto Rounds>
class BasicServerThread {
public:
    struct Options {
        std::size_t max_pending_output = Server::kDefaultMaxPendingOutput;
        int socket_buffer_bytes = 0;  // > 0: small kernel buffers on every connection
        bool start = true;            // false: call start() later
    };
    BasicServerThread() : BasicServerThread(Options{}) {}
    explicit BasicServerThread(Options options)
        : server_(make_listener(options.socket_buffer_bytes), options.max_pending_output),
          port_(server_.port()) {
        if (options.start) start();
    }
    ~BasicServerThread() {
        if (!stop()) ADD_FAILURE() << "the server's run() did not return within 2 s of stop()";
        std::string problem = error();
        if (!problem.empty()) ADD_FAILURE() << "the server's run() threw: " << problem;
    }
    BasicServerThread(const BasicServerThread&) = delete;
    BasicServerThread& operator=(const BasicServerThread&) = delete;

    void start() {
        thread_ = std::thread([this] { run(); });
    }
    // True once run() is inside its loop (it has waited once); false if
    // run() ended first, e.g. by throwing. Lets a test fail at once instead
    // of waiting for replies that cannot come.
    bool serving(std::chrono::milliseconds timeout = 2s) const {
        wait_until([this] { return returned_ || rounds() > 0; }, timeout);
        return !returned_ && rounds() > 0;
    }
    // True once the loop has made no new round for `quiet`: run() sleeps in
    // its wait, so nothing it watches is ready (every byte a client sent and
    // the server wants to read has been read). False if that never happened
    // within `timeout`.
    bool goes_quiet(std::chrono::milliseconds quiet, std::chrono::milliseconds timeout) const {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::size_t last = rounds();
        auto last_change = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
            std::size_t now = rounds();
            if (now != last) {
                last = now;
                last_change = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - last_change >= quiet) {
                return true;
            }
        }
        return false;
    }
    // Calls stop(); true if run() returned within `timeout`.
    bool stop(std::chrono::milliseconds timeout = 2s) {
        server_.stop();
        if (!thread_.joinable()) return true;
        bool returned = wait_until([this] { return returned_.load(); }, timeout);
        if (!returned) {
            // The wake-up was lost: a new connection makes the wait return,
            // so the loop sees the stop flag and the test can end, not hang.
            try {
                FileDescriptor nudge = connect_tcp("127.0.0.1", port_);
            } catch (const std::exception&) {
            }
        }
        thread_.join();
        return returned;
    }

    std::uint16_t port() const { return port_; }
    auto stats() const { return server_.stats(); }
    // What run() threw, "" if nothing.
    std::string error() const {
        std::lock_guard lock(mutex_);
        return error_;
    }
    // The server's thread, for pthread_kill().
    pthread_t native_handle() { return thread_.native_handle(); }

private:
    std::size_t rounds() const { return stats().*Rounds; }
    void run() {
        try {
            server_.run();
        } catch (const std::exception& problem) {
            std::lock_guard lock(mutex_);
            error_ = problem.what();
        }
        returned_ = true;
    }

    Server server_;
    std::uint16_t port_;
    std::atomic<bool> returned_{false};
    mutable std::mutex mutex_;
    std::string error_;
    std::thread thread_;
};

using ServerThread = BasicServerThread<SelectServer, &SelectServerStats::select_calls>;

}  // namespace course::testing
