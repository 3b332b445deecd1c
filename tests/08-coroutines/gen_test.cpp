// gen_test.cpp: sleep and multi of Tasks (task 3). spawn, fire_and_forget
// and run_sync, which start Tasks from plain code, are graded with task 2
// (Task2_Spawn in task_test.cpp): they exercise the learner's Task.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "coroutine_fixture.h"
#include "future.h"
#include "gen.h"
#include "multi.h"
#include "task.h"

namespace course::testing {
namespace {

// --- Task 3: sleep --------------------------------------------------------------------------
// The first tests use sleep's Future with callbacks only, so that they
// grade sleep() alone, whatever state tasks 1 and 2 are in.

class Task3_Sleep : public CoroutineTest {};

TEST_F(Task3_Sleep, IsAFutureDoneAfterTheDelay) {
    auto started = IOLoop::time();
    Future<void> slept = sleep(50ms, loop);
    EXPECT_FALSE(slept.done());
    wait(slept);
    EXPECT_GE(ms_since(started), 50.0);
    EXPECT_LT(ms_since(started), 1000.0);
    EXPECT_NO_THROW(slept.result());
}

TEST_F(Task3_Sleep, ZeroIsALaterTurnNotNow) {
    Future<void> slept = sleep(0ms, loop);
    EXPECT_FALSE(slept.done()) << "sleep(0) still lets the loop run first (gen.moment)";
    wait(slept);
}

TEST_F(Task3_Sleep, TheLoopServesOthersMeanwhile) {
    Future<void> slept = sleep(300ms, loop);
    bool slept_before_timer = true;
    double timer_at_ms = -1;
    auto started = IOLoop::time();
    loop.call_later(20ms, [&] {
        timer_at_ms = ms_since(started);
        slept_before_timer = slept.done();
    });
    wait(slept);
    EXPECT_FALSE(slept_before_timer);
    EXPECT_GE(timer_at_ms, 20.0);
    EXPECT_LT(timer_at_ms, 200.0) << "a 20 ms timer waited for the sleep: the loop was blocked";
}

TEST_F(Task3_Sleep, ManySleepsOverlap) {
    auto started = IOLoop::time();
    std::vector<Future<void>> sleeps;
    for (int i = 0; i < 10; ++i) sleeps.push_back(sleep(100ms, loop));
    wait(multi(sleeps));
    EXPECT_LT(ms_since(started), 500.0) << "ten 100 ms sleeps should take about 100 ms together";
}

// The mistake this catches: a sleep that polls the clock (a loop callback
// that queues itself again until the time has come) instead of setting a
// timer. Its Future is done on time, but the loop spins meanwhile. The
// bound, 100 turns for 200 ms, is wide: a timer needs a handful.
TEST_F(Task3_Sleep, TheLoopSleepsToo) {
    Future<void> slept = sleep(200ms, loop);
    slept.add_done_callback([this](Future<void>) { loop.stop(); });
    IOLoop::Timeout bound = loop.call_later(5s, [this] { loop.stop(); });
    std::uint64_t turns_before = loop.turns();
    loop.start();
    std::uint64_t turns = loop.turns() - turns_before;
    loop.remove_timeout(bound);
    EXPECT_TRUE(slept.done());
    EXPECT_LT(turns, 100u) << "the loop turned " << turns << " times during a 200 ms sleep: "
                              "sleep must set a timer, not poll the clock";
}

TEST_F(Task3_Sleep, InACoroutine) {
    auto nap = [this]() -> Task<double> {
        auto started = IOLoop::time();
        co_await sleep(50ms, loop);
        co_return ms_since(started);
    };
    double slept_ms = run(nap());
    EXPECT_GE(slept_ms, 50.0);
    EXPECT_LT(slept_ms, 1000.0);
}

// The mistake this catches: a sleep whose timer is set on the current loop
// instead of the one it was given.
TEST_F(Task3_Sleep, UsesTheLoopItIsGiven) {
    IOLoop other;
    Future<void> slept = sleep(5ms, other);
    EXPECT_EQ(&slept.io_loop(), &other);
    run_for(50ms);  // the test's loop, the current one: it must not end the sleep
    EXPECT_FALSE(slept.done()) << "the sleep ended on a loop that is not the one it was given";
    bool timed_out = false;
    other.call_later(5s, [&] {
        timed_out = true;
        other.stop();
    });
    slept.add_done_callback([&](Future<void>) { other.stop(); });
    other.start();
    EXPECT_FALSE(timed_out) << "the sleep never ended on its own loop";
    EXPECT_TRUE(slept.done());
}

// --- Task 3: multi of Tasks ---------------------------------------------------------------------

class Task3_MultiTasks : public CoroutineTest {};

Task<int> value_after(IOLoop& loop, int value, std::chrono::milliseconds delay) {
    co_await sleep(delay, loop);
    co_return value;
}

Task<int> failure_after(IOLoop& loop, std::string message, std::chrono::milliseconds delay,
                        int& finished) {
    co_await sleep(delay, loop);
    ++finished;
    throw TrackedError(message);
}

TEST_F(Task3_MultiTasks, RunsTheTasksAtOnceAndKeepsListOrder) {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(loop, 1, 300ms));
    tasks.push_back(value_after(loop, 2, 100ms));
    tasks.push_back(value_after(loop, 3, 200ms));
    auto started = IOLoop::time();
    std::vector<int> results = run(multi(std::move(tasks)));
    EXPECT_EQ(results, (std::vector<int>{1, 2, 3}));
    EXPECT_GE(ms_since(started), 300.0);
    EXPECT_LT(ms_since(started), 500.0) << "the tasks ran one after the other, not at once";
}

// The mistake this catches: a loop turn between two starts (a co_await
// in the loop that spawns them). Every result still comes in time, but
// the last of N Tasks starts N turns late, behind all the loop has queued.
// A callback queued just before the multi runs at the next turn: by then
// every Task must have started.
TEST_F(Task3_MultiTasks, StartsEveryTaskBeforeTheLoopTurns) {
    std::vector<int> started;
    auto child = [this](std::vector<int>& log, int value) -> Task<int> {
        log.push_back(value);
        co_await sleep(10ms, loop);
        co_return value;
    };
    std::vector<Task<int>> tasks;
    for (int value = 1; value <= 3; ++value) tasks.push_back(child(started, value));
    std::size_t started_by_next_turn = 0;
    auto all = [this](std::vector<Task<int>> children, std::vector<int>& log,
                      std::size_t& seen) -> Task<std::vector<int>> {
        loop.add_callback([&log, &seen] { seen = log.size(); });
        co_return co_await multi(std::move(children));
    };
    EXPECT_EQ(run(all(std::move(tasks), started, started_by_next_turn)),
              (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(started_by_next_turn, 3u)
        << "multi must start every Task before it awaits anything: only " << started_by_next_turn
        << " of 3 had started when the loop turned";
}

TEST_F(Task3_MultiTasks, WaitsForAllThenFailsWithTheFirstInListOrder) {
    int failed = 0;
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(loop, 1, 10ms));
    tasks.push_back(failure_after(loop, "second", 80ms, failed));
    tasks.push_back(failure_after(loop, "third", 20ms, failed));
    auto all = [](std::vector<Task<int>> children, int& seen_failed) -> Task<std::string> {
        try {
            co_await multi(std::move(children));
        } catch (const TrackedError& error) {
            seen_failed = -seen_failed;  // what had failed when the error came out
            co_return error.what();
        }
        co_return "no failure";
    };
    EXPECT_EQ(run(all(std::move(tasks), failed)), "second");
    EXPECT_EQ(failed, -2) << "multi must wait for every child before it fails";
}

// The mistake this catches: awaiting the Tasks one by one in list order,
// which throws as soon as an early one fails, while later ones still run.
TEST_F(Task3_MultiTasks, AFailureDoesNotEndTheWaitEarly) {
    int failed = 0;
    bool slow_finished = false;
    auto slow = [this](bool& flag) -> Task<int> {
        co_await sleep(100ms, loop);
        flag = true;
        co_return 2;
    };
    std::vector<Task<int>> tasks;
    tasks.push_back(failure_after(loop, "failed early", 10ms, failed));
    tasks.push_back(slow(slow_finished));
    auto all = [](std::vector<Task<int>> children, bool& slow_done) -> Task<std::string> {
        try {
            co_await multi(std::move(children));
        } catch (const TrackedError& error) {
            co_return std::string(error.what()) + (slow_done ? "" : " before the slow task finished");
        }
        co_return "no failure";
    };
    EXPECT_EQ(run(all(std::move(tasks), slow_finished)), "failed early")
        << "multi must wait for every child before it fails";
    EXPECT_TRUE(run_until([this] { return frames_alive() == 0; }));
}

// The mistake this catches: a multi of void Tasks that waits for them all
// but drops their failures (only the std::vector<T> branch rethrows). A
// failed Task<void> would look like a success to whoever awaits the multi.
TEST_F(Task3_MultiTasks, AFailedVoidTaskFailsTheMulti) {
    auto step = [this]() -> Task<void> { co_await sleep(5ms, loop); };
    auto fails = [this]() -> Task<void> {
        co_await sleep(10ms, loop);
        throw TrackedError("a void task failed");
    };
    std::vector<Task<void>> tasks;
    tasks.push_back(step());
    tasks.push_back(fails());
    tasks.push_back(step());
    auto all = [](std::vector<Task<void>> children) -> Task<std::string> {
        try {
            co_await multi(std::move(children));
        } catch (const TrackedError& error) {
            co_return error.what();
        }
        co_return "no failure";
    };
    EXPECT_EQ(run(all(std::move(tasks))), "a void task failed")
        << "multi of void Tasks must fail with the first failure too, as for Task<T>";
}

TEST_F(Task3_MultiTasks, EmptyList) {
    EXPECT_TRUE(run(multi(std::vector<Task<int>>{})).empty());
}

TEST_F(Task3_MultiTasks, VoidTasks) {
    int done = 0;
    auto step = [this](int& counter) -> Task<void> {
        co_await sleep(10ms, loop);
        ++counter;
    };
    std::vector<Task<void>> tasks;
    for (int i = 0; i < 5; ++i) tasks.push_back(step(done));
    run(multi(std::move(tasks)));
    EXPECT_EQ(done, 5);
}

}  // namespace
}  // namespace course::testing
