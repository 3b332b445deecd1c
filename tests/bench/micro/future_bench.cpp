// future_bench.cpp: what chapter 07's Future costs on top of the loop.
//
// Each benchmark runs a real loop and counts one item per unit of work:
//
//   BM_FuturePlainCallbackPerTurn   add_callback + the loop turn that runs it:
//                                   the floor a Future cannot go below
//   BM_FutureResolvedToCallback     a new Future<int>, add_done_callback,
//                                   set_result, and the loop turn that runs
//                                   the done callback (one shared state
//                                   allocated, one callback queued)
//   BM_FutureThenStep               one step of a then() chain: the step's
//                                   callback, its function, the next Future
//   BM_FutureMulti10                multi() over 10 resolved Futures, until
//                                   its own done callback runs (per multi)
//
// The difference between the first two is the price of a Future over a
// bare callback: an allocation for the shared state and a std::function
// or two. Compare it with what a fetch costs (a connect, two system calls
// per read and write, parsing): far below it.
#include <benchmark/benchmark.h>

#include <functional>
#include <vector>

#include "future.h"
#include "ioloop.h"
#include "multi.h"

namespace {

using course::Future;
using course::IOLoop;

void BM_FuturePlainCallbackPerTurn(benchmark::State& state) {
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
BENCHMARK(BM_FuturePlainCallbackPerTurn);

void BM_FutureResolvedToCallback(benchmark::State& state) {
    IOLoop loop;
    int value = 0;
    std::function<void()> step = [&] {
        if (!state.KeepRunning()) return loop.stop();
        Future<int> future(loop);
        future.add_done_callback([&](Future<int> done) {
            value += done.result();
            step();  // already on the loop: the next round starts here
        });
        future.set_result(1);
    };
    loop.add_callback(step);
    loop.start();
    benchmark::DoNotOptimize(value);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FutureResolvedToCallback);

void BM_FutureThenStep(benchmark::State& state) {
    IOLoop loop;
    std::function<void(Future<int>)> step = [&](Future<int> done) {
        if (!state.KeepRunning()) return loop.stop();
        done.then([](int value) { return value + 1; }).add_done_callback(step);
    };
    Future<int> first(loop);
    first.set_result(0);
    first.add_done_callback(step);
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FutureThenStep);

void BM_FutureMulti10(benchmark::State& state) {
    constexpr int kChildren = 10;
    IOLoop loop;
    std::function<void()> step = [&] {
        if (!state.KeepRunning()) return loop.stop();
        std::vector<Future<int>> children;
        children.reserve(kChildren);
        for (int i = 0; i < kChildren; ++i) {
            children.emplace_back(loop);
            children.back().set_result(i);
        }
        course::multi(children).add_done_callback([&](Future<std::vector<int>> all) {
            benchmark::DoNotOptimize(all.result().data());
            step();
        });
    };
    loop.add_callback(step);
    loop.start();
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FutureMulti10);

}  // namespace
