// ioloop_bench.cpp: what one turn of chapter 03's IOLoop costs.
//
// Each benchmark runs a real loop (start() ... stop()) and counts one item
// per unit of work the loop dispatched:
//
//   BM_IOLoopCallbackPerTurn     add_callback + one loop turn to run it (the
//                                turn includes an epoll_wait(0) system call)
//   BM_IOLoopCallbackBatch       1000 callbacks queued at once on the loop's
//                                thread, run in one turn: a callback alone
//   BM_IOLoopTimeoutPerTurn      call_later(0) + the turn that fires it
//   BM_IOLoopSetAndCancel        call_later + remove_timeout, no loop turn
//                                (a server does this per request)
//   BM_IOLoopReadHandlerDispatch an eventfd made readable, epoll reports it,
//                                the READ handler runs and reads it
//   BM_IOLoopCrossThreadWakeUp   another thread's add_callback wakes the
//                                sleeping loop (eventfd write + epoll_wait
//                                return), round trip back to that thread
//
// Compare the per-turn numbers with chapter 02's select() round and with
// the req/s of `make bench`: the loop's own overhead is a small part of
// what a request costs once there are system calls for the socket itself.
#include <benchmark/benchmark.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

#include "ioloop.h"

namespace {

using course::IOLoop;

void BM_IOLoopCallbackPerTurn(benchmark::State& state) {
    IOLoop loop;
    std::function<void()> step = [&] {
        if (state.KeepRunning()) {
            loop.add_callback(step);
        } else {
            loop.stop();
        }
    };
    loop.add_callback(step);
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IOLoopCallbackPerTurn);

void BM_IOLoopCallbackBatch(benchmark::State& state) {
    constexpr int kBatch = 1000;
    IOLoop loop;
    std::int64_t ran = 0;
    // Queued from a callback, on the loop's own thread: no wake-up needed.
    // (From another thread, each add_callback also writes to the eventfd.)
    auto queue_batch = [&] {
        for (int i = 0; i < kBatch; ++i) loop.add_callback([&ran] { ++ran; });
        loop.add_callback([&loop] { loop.stop(); });
    };
    for (auto _ : state) {
        loop.add_callback(queue_batch);
        loop.start();
    }
    benchmark::DoNotOptimize(ran);
    state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_IOLoopCallbackBatch);

void BM_IOLoopTimeoutPerTurn(benchmark::State& state) {
    IOLoop loop;
    std::function<void()> step = [&] {
        if (state.KeepRunning()) {
            loop.call_later(IOLoop::Clock::duration::zero(), step);
        } else {
            loop.stop();
        }
    };
    loop.call_later(IOLoop::Clock::duration::zero(), step);
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IOLoopTimeoutPerTurn);

void BM_IOLoopSetAndCancel(benchmark::State& state) {
    IOLoop loop;
    // Some live timeouts, as in a server with idle-connection timers.
    for (int i = 0; i < 1000; ++i) loop.call_later(std::chrono::hours(1 + i), [] {});
    for (auto _ : state) {
        IOLoop::Timeout timeout = loop.call_later(std::chrono::seconds(30), [] {});
        loop.remove_timeout(timeout);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IOLoopSetAndCancel);

void BM_IOLoopReadHandlerDispatch(benchmark::State& state) {
    IOLoop loop;
    course::FileDescriptor event_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    std::uint64_t one = 1;
    auto make_readable = [&] {
        [[maybe_unused]] ssize_t n = ::write(event_fd.get(), &one, sizeof one);
    };
    loop.add_handler(event_fd.get(), [&](int fd, std::uint32_t) {
        std::uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof count);
        if (state.KeepRunning()) {
            make_readable();  // ready again for the next turn
        } else {
            loop.stop();
        }
    }, IOLoop::READ);
    make_readable();
    loop.start();
    loop.remove_handler(event_fd.get());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IOLoopReadHandlerDispatch);

void BM_IOLoopCrossThreadWakeUp(benchmark::State& state) {
    IOLoop loop;
    std::thread loop_thread([&] { loop.start(); });
    std::atomic<std::uint64_t> answered{0};
    std::uint64_t asked = 0;
    for (auto _ : state) {
        ++asked;
        loop.add_callback([&answered] {
            answered.fetch_add(1);
            answered.notify_one();
        });
        // Sleep until the loop has run it: the round trip is what we measure.
        for (std::uint64_t seen = answered.load(); seen != asked; seen = answered.load()) {
            answered.wait(seen);
        }
    }
    loop.stop();
    loop_thread.join();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IOLoopCrossThreadWakeUp)->UseRealTime();

}  // namespace
