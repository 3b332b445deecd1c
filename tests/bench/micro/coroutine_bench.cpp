// coroutine_bench.cpp: what chapter 08's coroutines cost, beside the two
// older ways of waiting, in one run.
//
// The first three are one "step" each, from "the thing waited for has
// happened" to "the code that waited for it runs", through one turn of a
// real loop:
//
//   BM_LoopStep_PlainCallback             add_callback + the turn that runs it
//                                         (chapter 03; the floor)
//   BM_LoopStep_FutureResolvedToCallback  a new Future<int>, add_done_callback,
//                                         set_result, the turn that runs the
//                                         done callback (chapter 07)
//   BM_LoopStep_FutureResolvedToCoroutine a new Future<int>, co_await on it
//                                         (await_suspend adds the done
//                                         callback), set_result, the turn
//                                         whose done callback resumes the
//                                         coroutine (chapter 08)
//
// The first two measure what chapter 07's future_bench.cpp calls
// BM_FuturePlainCallbackPerTurn and BM_FutureResolvedToCallback; they are
// repeated here so that the three print side by side, measured the same
// way in the same run. The difference between the last two is the price
// of a suspend and a resume over calling a std::function: small next to
// the Future's shared state and the loop turn both pay.
//
// Without the loop:
//
//   BM_CoroutineAwaitReadyTask   co_await on a Task that co_returns at once:
//                                a frame allocated and freed, two symmetric
//                                transfers (what calling a coroutine costs)
#include <benchmark/benchmark.h>

#include <coroutine>
#include <functional>

#include "future.h"
#include "gen.h"
#include "ioloop.h"
#include "task.h"

namespace {

using course::Future;
using course::IOLoop;
using course::Task;

void BM_LoopStep_PlainCallback(benchmark::State& state) {
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
BENCHMARK(BM_LoopStep_PlainCallback);

void BM_LoopStep_FutureResolvedToCallback(benchmark::State& state) {
    IOLoop loop;
    long sum = 0;
    std::function<void()> step = [&] {
        if (!state.KeepRunning()) return loop.stop();
        Future<int> future(loop);
        future.add_done_callback([&](Future<int> done) {
            sum += done.result();
            step();  // already on the loop: the next round starts here
        });
        future.set_result(1);
    };
    loop.add_callback(step);
    loop.start();
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoopStep_FutureResolvedToCallback);

// co_await on a Future that is resolved just after the coroutine has
// suspended on it, as a socket handler would resolve it later in the same
// turn: the same order of events as the benchmark above.
struct ResolvedAfterSuspending {
    course::FutureAwaiter<int> awaiter;
    Future<int> future;

    bool await_ready() const { return false; }
    void await_suspend(std::coroutine_handle<> waiting) const {
        awaiter.await_suspend(waiting);
        future.set_result(1);
    }
    int await_resume() const { return awaiter.await_resume(); }
};

Task<void> resume_on_each_turn(benchmark::State& state, IOLoop& loop, long& sum) {
    while (state.KeepRunning()) {
        Future<int> next(loop);
        sum += co_await ResolvedAfterSuspending{course::FutureAwaiter<int>(next), next};
    }
}

void BM_LoopStep_FutureResolvedToCoroutine(benchmark::State& state) {
    IOLoop loop;
    long sum = 0;
    course::run_sync(loop, resume_on_each_turn(state, loop, sum));
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LoopStep_FutureResolvedToCoroutine);

Task<int> ready_one() { co_return 1; }

Task<void> await_ready_tasks(benchmark::State& state, long& sum) {
    while (state.KeepRunning()) sum += co_await ready_one();
}

void BM_CoroutineAwaitReadyTask(benchmark::State& state) {
    IOLoop loop;
    long sum = 0;
    course::run_sync(loop, await_ready_tasks(state, sum));
    benchmark::DoNotOptimize(sum);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CoroutineAwaitReadyTask);

}  // namespace
