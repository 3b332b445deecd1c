// blocking_test_helpers.h: what chapter 01's tests share.
//
//   RunningServer<IterativeServer>   a server on 127.0.0.1, port 0, running on
//                                    a thread; stopped and joined at the end
//   eventually, expect_echo          waiting for a condition; one echoed line
//   SocketPair                       two connected sockets, no network needed
//   Interrupter                      a thread that keeps sending a signal to
//                                    another, so its blocking calls see EINTR
//   read_exactly                     a read with a deadline
//   read_slowly_until_end            a reader slow enough to cause partial writes
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "blocking_server.h"
#include "socket.h"
#include "test_client.h"

namespace course::testing {

using namespace std::chrono_literals;

// A server of type Server (IterativeServer, ThreadedServer, PooledServer)
// listening on 127.0.0.1 and an ephemeral port, run() on a thread of its
// own. Arguments after the listening socket go to Server's constructor:
// RunningServer<PooledServer> server(2, 4) is a pool of 2 workers.
template <typename Server>
class RunningServer {
public:
    template <typename... MoreArguments>
    explicit RunningServer(MoreArguments... more)
        : server_(listen_tcp("127.0.0.1", 0), more...), port_(server_.port()) {
        thread_ = std::thread([this] { run(); });
    }
    ~RunningServer() { stop(); }
    RunningServer(const RunningServer&) = delete;
    RunningServer& operator=(const RunningServer&) = delete;

    std::uint16_t port() const { return port_; }
    Server& server() { return server_; }
    // The kernel's id of the thread that runs run(), as in /proc/self/task.
    pid_t run_thread_id() {
        std::unique_lock lock(mutex_);
        changed_cv_.wait(lock, [this] { return run_thread_id_ != 0; });
        return run_thread_id_;
    }

    // Calls stop() and waits for run() to return. A server whose run() does
    // not return would hang the whole test program, so we end it instead.
    void stop(std::chrono::milliseconds timeout = 5s) {
        if (!thread_.joinable()) return;
        server_.stop();
        std::unique_lock lock(mutex_);
        if (!changed_cv_.wait_for(lock, timeout, [this] { return returned_; })) {
            std::fprintf(stderr, "error: run() did not return within %lld ms of stop(); "
                                 "giving up on the whole test program\n",
                         static_cast<long long>(timeout.count()));
            std::fflush(stderr);
            std::_Exit(1);
        }
        lock.unlock();
        thread_.join();
        if (!error_.empty()) ADD_FAILURE() << "run() threw: " << error_;
    }

    // True once run() has returned (whether or not stop() was called).
    bool returned() {
        std::lock_guard lock(mutex_);
        return returned_;
    }

private:
    void run() {
        {
            std::lock_guard lock(mutex_);
            run_thread_id_ = ::gettid();
        }
        changed_cv_.notify_all();
        std::string error;
        try {
            server_.run();
        } catch (const std::exception& e) {
            error = e.what();
        }
        std::lock_guard lock(mutex_);
        error_ = error;
        returned_ = true;
        changed_cv_.notify_all();
    }

    Server server_;
    std::uint16_t port_;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_cv_;  // when run() starts, and when it returns
    pid_t run_thread_id_ = 0;
    bool returned_ = false;
    std::string error_;
};

// Waits until condition() holds, checking every few milliseconds.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// Sends a line and expects it back.
inline void expect_echo(TestClient& client, const std::string& line,
                        std::chrono::milliseconds timeout = 5s) {
    client.send(line);
    EXPECT_EQ(client.read_until("\n", timeout), line);
}

// socketpair(AF_UNIX, SOCK_STREAM): a connected pair of stream sockets.
struct SocketPair {
    SocketPair() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) throw_errno("socketpair");
        left.reset(fds[0]);
        right.reset(fds[1]);
    }
    FileDescriptor left;
    FileDescriptor right;
};

// Reads until `n` bytes came, the peer closed, or the deadline passed;
// returns what it got (compare its size with n).
inline std::string read_exactly(int fd, std::size_t n, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string data;
    char chunk[65536];
    while (data.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd waiting{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) break;
        long got = ::recv(fd, chunk, std::min(sizeof chunk, n - data.size()), 0);
        if (got <= 0) break;
        data.append(chunk, static_cast<std::size_t>(got));
    }
    return data;
}

// Reads until end of stream (or the deadline), slowly: a pause after each
// read, so that the writer keeps finding the send buffer full, and every
// eighth pause longer than the tests' 10 ms send timeout, so that a blocked
// send() gives up with part of its bytes taken: a partial write. (A send()
// on a socket pair waits afresh for each piece of room, so a reader that
// never pauses that long would let one send() take everything.)
inline std::string read_slowly_until_end(int fd, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string received;
    char chunk[16384];
    for (int reads = 1;; ++reads) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd waiting{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) break;
        long got = ::recv(fd, chunk, sizeof chunk, 0);
        if (got <= 0) break;
        received.append(chunk, static_cast<std::size_t>(got));
        std::this_thread::sleep_for(reads % 8 == 0 ? 30ms : 1ms);
    }
    return received;
}

// While it exists, SIGUSR1 runs an empty handler installed *without*
// SA_RESTART: a blocking system call that the signal interrupts fails with
// EINTR (or, if it had moved some bytes, returns a short count).
class EintrSignal {
public:
    EintrSignal() {
        struct sigaction action {};
        action.sa_handler = [](int) {};
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;  // no SA_RESTART
        ::sigaction(SIGUSR1, &action, &previous_);
    }
    ~EintrSignal() { ::sigaction(SIGUSR1, &previous_, nullptr); }
    EintrSignal(const EintrSignal&) = delete;
    EintrSignal& operator=(const EintrSignal&) = delete;

private:
    struct sigaction previous_ {};
};

// Sends SIGUSR1 to `target` every `period` until destroyed. Destroy it
// before the target thread ends.
class Interrupter {
public:
    Interrupter(pthread_t target, std::chrono::microseconds period)
        : thread_([this, target, period] {
              while (!done_) {
                  ::pthread_kill(target, SIGUSR1);
                  ++signals_sent_;
                  std::this_thread::sleep_for(period);
              }
          }) {}
    ~Interrupter() {
        done_ = true;
        thread_.join();
    }
    Interrupter(const Interrupter&) = delete;
    Interrupter& operator=(const Interrupter&) = delete;

    long signals_sent() const { return signals_sent_; }

private:
    std::atomic<bool> done_{false};
    std::atomic<long> signals_sent_{0};
    std::thread thread_;  // last: starts once the flags exist
};

// While it exists, SIGPIPE has its default action (end the process), as in
// any program that did not ask otherwise.
class DefaultSigpipe {
public:
    DefaultSigpipe() { previous_ = ::signal(SIGPIPE, SIG_DFL); }
    ~DefaultSigpipe() { ::signal(SIGPIPE, previous_); }
    DefaultSigpipe(const DefaultSigpipe&) = delete;
    DefaultSigpipe& operator=(const DefaultSigpipe&) = delete;

private:
    sighandler_t previous_;
};

}  // namespace course::testing
