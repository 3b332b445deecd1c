// loop_test_support.h: helpers for chapter 03's tests.
//
//   LoopDeadline   stops a loop after a time limit, so that a test waiting
//                  for an event that never comes fails instead of hanging.
//                  It uses a timerfd and add_handler only (exercise task 1),
//                  not the loop's own timers or callbacks (tasks 2 and 3),
//                  so it works while those are still being written.
//   RunningServer  a LoopServer on 127.0.0.1, port 0, its loop running on a
//                  thread of its own; can pause that loop (as a handler that
//                  blocks would) and measure the CPU time the loop uses.
#pragma once

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include "ioloop.h"
#include "loop_server.h"
#include "socket.h"

namespace course::testing {

using namespace std::chrono_literals;

class LoopDeadline {
public:
    LoopDeadline(IOLoop& loop, std::chrono::milliseconds after)
        : loop_(loop), fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
        if (!fd_) throw_errno("timerfd_create");
        itimerspec when{};
        when.it_value.tv_sec = after.count() / 1000;
        when.it_value.tv_nsec = (after.count() % 1000) * 1000000;
        if (::timerfd_settime(fd_.get(), 0, &when, nullptr) < 0) throw_errno("timerfd_settime");
        loop_.add_handler(fd_.get(), [this](int, std::uint32_t) {
            expired_ = true;
            loop_.remove_handler(fd_.get());
            loop_.stop();
        }, IOLoop::READ);
    }
    ~LoopDeadline() {
        try {
            loop_.remove_handler(fd_.get());
        } catch (...) {
            // An unfinished exercise may throw here; the test has failed already.
        }
    }
    LoopDeadline(const LoopDeadline&) = delete;
    LoopDeadline& operator=(const LoopDeadline&) = delete;

    // True if the deadline had to stop the loop.
    bool expired() const { return expired_; }

private:
    IOLoop& loop_;
    FileDescriptor fd_;
    bool expired_ = false;
};

// CPU time (user + system) a thread has used so far.
inline std::chrono::nanoseconds thread_cpu_time(pthread_t thread) {
    clockid_t clock;
    if (::pthread_getcpuclockid(thread, &clock) != 0) throw std::runtime_error("pthread_getcpuclockid");
    timespec now{};
    if (::clock_gettime(clock, &now) < 0) throw_errno("clock_gettime");
    return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
}

// A connected socket whose kernel buffers are small (set before connect, so
// TCP's window follows them): the server sees partial writes quickly.
inline FileDescriptor connect_with_small_buffers(std::uint16_t port, int bytes) {
    FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket");
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        throw_errno("connect");
    }
    return fd;
}

class RunningServer {
public:
    explicit RunningServer(LoopServerOptions options = {})
        : server_(std::make_unique<LoopServer>(loop_, listen_tcp("127.0.0.1", 0), options)),
          port_(server_->port()) {
        // Everything below needs add_callback and stop() from this thread,
        // so try one first: an unfinished exercise then fails the test here
        // with its TODO message, instead of leaving a loop nobody can stop.
        loop_.add_callback([] {});
        thread_ = std::thread([this] { loop_.start(); });
    }

    ~RunningServer() {
        release_loop();
        loop_.stop();
        thread_.join();
        server_.reset();  // on this thread, now that the loop has stopped
    }
    RunningServer(const RunningServer&) = delete;
    RunningServer& operator=(const RunningServer&) = delete;

    std::uint16_t port() const { return port_; }
    IOLoop& loop() { return loop_; }

    // Runs `work` on the loop's thread and returns its result: the only safe
    // way to look at the server while its loop runs.
    template <typename Work>
    auto on_loop(Work work) -> decltype(work(std::declval<LoopServer&>())) {
        using Result = decltype(work(*server_));
        auto done = std::make_shared<std::promise<Result>>();
        std::future<Result> result = done->get_future();
        loop_.add_callback([this, done, work] { done->set_value(work(*server_)); });
        if (result.wait_for(5s) != std::future_status::ready) {
            throw std::runtime_error("the loop did not run a callback within 5 s");
        }
        return result.get();
    }

    std::size_t connection_count() {
        return on_loop([](LoopServer& server) { return server.connection_count(); });
    }

    // How many turns the loop has gone round (read on the loop's thread;
    // asking costs a turn or two).
    std::uint64_t loop_turns() {
        return on_loop([this](LoopServer&) { return loop_.turns(); });
    }

    // Keeps the loop's thread busy until release_loop() (at most 5 s), the
    // way a handler that blocks would. Returns once the loop is held.
    void hold_loop() {
        release_ = std::make_shared<std::promise<void>>();
        auto held = std::make_shared<std::promise<void>>();
        std::shared_future<void> released = release_->get_future().share();
        loop_.add_callback([held, released] {
            held->set_value();
            released.wait_for(5s);
        });
        if (held->get_future().wait_for(5s) != std::future_status::ready) {
            throw std::runtime_error("could not hold the loop");
        }
    }
    void release_loop() {
        if (release_) release_->set_value();
        release_.reset();
    }

    // CPU time the loop's thread has used so far.
    std::chrono::nanoseconds loop_cpu_time() { return thread_cpu_time(thread_.native_handle()); }

private:
    IOLoop loop_;
    std::unique_ptr<LoopServer> server_;
    std::uint16_t port_;
    std::shared_ptr<std::promise<void>> release_;
    std::thread thread_;  // started last, once everything above exists
};

}  // namespace course::testing
