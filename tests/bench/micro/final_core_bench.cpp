// final_core_bench.cpp: what the framework's core costs per unit of work,
// side by side: a callback, a Future delivered to a done callback, and a
// coroutine resumed by a Future.
//
//   BM_FinalCallbackPerTurn        add_callback + the loop turn that runs it
//                                  (the turn includes an epoll_wait(0) call);
//                                  compare with chapter 03's
//                                  BM_IOLoopCallbackPerTurn
//   BM_FinalCallbackBatch          1000 callbacks queued on the loop's thread,
//                                  run in one turn: the dispatch alone
//   BM_FinalFutureToDoneCallback   a callback resolves a Future; its done
//                                  callback runs at the next turn and starts
//                                  the next round (new Future, 2 turns)
//   BM_FinalCoroutineResume        a coroutine awaits a Future that a callback
//                                  resolves; the round ends when the coroutine
//                                  has resumed (new Future, 2 turns)
//   BM_FinalEagerCoroutineCall     calling a coroutine that finishes without
//                                  suspending (frame allocated and freed)
//   BM_FinalTaskAwaitsTask         a coroutine awaiting a suspended child Task,
//                                  resumed by symmetric transfer (no loop turn)
//
// The three "round" benchmarks do the same work around the thing measured,
// so their difference is the price of the abstraction.
//
// This file compiles to nothing until the micro_benchmarks target links
// tornado (tests/bench/CMakeLists.txt), so the build stays whole meanwhile.
#if __has_include("tornado/ioloop.h")

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>

#include "tornado/concurrent.h"
#include "tornado/gen.h"
#include "tornado/ioloop.h"

namespace {

using tornado::Future;
using tornado::IOLoop;
using tornado::Task;

void BM_FinalCallbackPerTurn(benchmark::State& state) {
    IOLoop loop;
    std::function<void()> step = [&] {
        if (state.KeepRunning()) {
            loop.add_callback([&step] { step(); });
        } else {
            loop.stop();
        }
    };
    loop.add_callback([&step] { step(); });
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FinalCallbackPerTurn);

void BM_FinalCallbackBatch(benchmark::State& state) {
    constexpr int kBatch = 1000;
    IOLoop loop;
    std::int64_t ran = 0;
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
BENCHMARK(BM_FinalCallbackBatch);

void BM_FinalFutureToDoneCallback(benchmark::State& state) {
    IOLoop loop;
    std::function<void()> round = [&] {
        if (!state.KeepRunning()) {
            loop.stop();
            return;
        }
        Future<int> future;
        future.add_done_callback([&round](Future<int> done) {
            benchmark::DoNotOptimize(done.result());
            round();
        });
        loop.add_callback([future] { future.set_result(1); });
    };
    loop.add_callback([&round] { round(); });
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FinalFutureToDoneCallback);

Task<void> resume_rounds(benchmark::State& state, IOLoop& loop) {
    while (state.KeepRunning()) {
        Future<int> future;
        loop.add_callback([future] { future.set_result(1); });
        int value = co_await future;
        benchmark::DoNotOptimize(value);
    }
    loop.stop();
}

void BM_FinalCoroutineResume(benchmark::State& state) {
    IOLoop loop;
    loop.add_callback([&] { return resume_rounds(state, loop); });
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FinalCoroutineResume);

Task<int> finishes_at_once(int value) { co_return value + 1; }

void BM_FinalEagerCoroutineCall(benchmark::State& state) {
    IOLoop loop;
    int value = 0;
    for (auto _ : state) {
        Task<int> task = finishes_at_once(value);
        value = task.result();
    }
    benchmark::DoNotOptimize(value);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FinalEagerCoroutineCall);

// The child suspends on a Future the parent resolved just before: the
// child's own resumption costs a loop turn, but the parent's (by the child's
// final_suspend) does not.
Task<int> child_of(Future<int> input) { co_return co_await input; }

Task<void> await_children(benchmark::State& state, IOLoop& loop) {
    std::int64_t sum = 0;
    while (state.KeepRunning()) {
        Future<int> input;
        Task<int> child = child_of(input);
        input.set_result(1);
        sum += co_await std::move(child);
    }
    benchmark::DoNotOptimize(sum);
    loop.stop();
}

void BM_FinalTaskAwaitsTask(benchmark::State& state) {
    IOLoop loop;
    loop.add_callback([&] { return await_children(state, loop); });
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FinalTaskAwaitsTask);

}  // namespace

#endif  // __has_include("tornado/ioloop.h")
