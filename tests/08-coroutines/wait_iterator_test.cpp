// wait_iterator_test.cpp: WaitIterator (exercises/08-coroutines/wait_iterator.h),
// the chapter's extension task 6. Compiled against the reference solution
// in exercises/08-coroutines/solutions/ for ch08_tests, against the
// learner's file for the exercise (see course_extension in cmake/Course.cmake).
// It runs on the learner's Task and spawn, so it needs tasks 1 to 3.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coroutine_fixture.h"
#include "gen.h"
#include "task.h"
#include "wait_iterator.h"

namespace course::testing {
namespace {

class Task6_WaitIterator : public CoroutineTest {};

Task<int> value_after(IOLoop& loop, int value, std::chrono::milliseconds delay) {
    co_await sleep(delay, loop);
    co_return value;
}

Task<int> failure_after(IOLoop& loop, std::string message, std::chrono::milliseconds delay) {
    co_await sleep(delay, loop);
    throw TrackedError(message);
}

std::vector<Task<int>> three_tasks(IOLoop& loop) {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(loop, 10, 300ms));
    tasks.push_back(value_after(loop, 11, 100ms));
    tasks.push_back(value_after(loop, 12, 200ms));
    return tasks;
}

// (index, value) pairs in the order the iterator gave them.
Task<std::vector<std::pair<std::size_t, int>>> drain(WaitIterator<int>& waiting) {
    std::vector<std::pair<std::size_t, int>> seen;
    while (!waiting.done()) {
        int value = co_await waiting.next();
        seen.emplace_back(waiting.current_index(), value);
    }
    co_return seen;
}

using Seen = std::vector<std::pair<std::size_t, int>>;

TEST_F(Task6_WaitIterator, GivesResultsInTheOrderTheyFinishWithTheirIndex) {
    WaitIterator<int> waiting(three_tasks(loop), loop);
    EXPECT_FALSE(waiting.done());
    Seen seen = run(drain(waiting));
    EXPECT_EQ(seen, (Seen{{1, 11}, {2, 12}, {0, 10}}));
    EXPECT_TRUE(waiting.done());
}

TEST_F(Task6_WaitIterator, RunsTheTasksAtOnce) {
    auto started = IOLoop::time();
    WaitIterator<int> waiting(three_tasks(loop), loop);
    run(drain(waiting));
    EXPECT_GE(ms_since(started), 300.0);
    EXPECT_LT(ms_since(started), 500.0)
        << "300 + 100 + 200 ms of work took the sum, not the longest: the tasks ran one by one";
}

TEST_F(Task6_WaitIterator, KeepsResultsThatFinishBeforeAnyoneAsks) {
    std::vector<Task<int>> tasks;
    // 100 ms apart, as in the test above: the order they finish in must not
    // hang on how soon a loaded machine starts the next Task.
    tasks.push_back(value_after(loop, 1, 300ms));
    tasks.push_back(value_after(loop, 2, 100ms));
    tasks.push_back(value_after(loop, 3, 200ms));
    WaitIterator<int> waiting(std::move(tasks), loop);
    run_for(400ms);  // every Task finishes while nobody waits in next()
    Seen seen = run(drain(waiting));
    EXPECT_EQ(seen, (Seen{{1, 2}, {2, 3}, {0, 1}})) << "results were lost or reordered";
}

Task<std::vector<std::string>> drain_with_errors(WaitIterator<int>& waiting) {
    std::vector<std::string> seen;
    while (!waiting.done()) {
        try {
            int value = co_await waiting.next();
            seen.push_back(std::to_string(waiting.current_index()) + "=" + std::to_string(value));
        } catch (const std::exception& error) {
            seen.push_back(std::to_string(waiting.current_index()) + "!" + error.what());
        }
    }
    co_return seen;
}

TEST_F(Task6_WaitIterator, AFailureComesOutOfItsOwnNextAndTheOthersGoOn) {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(loop, 5, 300ms));  // 100 ms apart, as above
    tasks.push_back(failure_after(loop, "refused", 100ms));
    tasks.push_back(value_after(loop, 7, 200ms));
    WaitIterator<int> waiting(std::move(tasks), loop);
    std::vector<std::string> seen = run(drain_with_errors(waiting));
    EXPECT_EQ(seen, (std::vector<std::string>{"1!refused", "2=7", "0=5"}));
}

TEST_F(Task6_WaitIterator, AnEmptyListIsDoneAtOnce) {
    WaitIterator<int> waiting(std::vector<Task<int>>{}, loop);
    EXPECT_TRUE(waiting.done());
    EXPECT_THROW(waiting.next(), std::logic_error);
}

TEST_F(Task6_WaitIterator, NextAfterTheLastResultIsAnError) {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(loop, 1, 1ms));
    WaitIterator<int> waiting(std::move(tasks), loop);
    run(drain(waiting));
    EXPECT_TRUE(waiting.done());
    EXPECT_THROW(waiting.next(), std::logic_error);
}

TEST_F(Task6_WaitIterator, ASecondNextWhileTheFirstIsPendingIsAnError) {
    WaitIterator<int> waiting(three_tasks(loop), loop);
    Future<int> first = waiting.next();
    EXPECT_THROW(waiting.next(), std::logic_error);
    wait(first);
    EXPECT_EQ(first.result(), 11);
    run(drain(waiting));  // the two left
}

TEST_F(Task6_WaitIterator, CurrentIndexChangesOnlyWhenNextsFutureIsDone) {
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(loop, 1, 5ms));
    tasks.push_back(value_after(loop, 2, 50ms));
    WaitIterator<int> waiting(std::move(tasks), loop);
    wait(waiting.next());
    EXPECT_EQ(waiting.current_index(), 0u);
    run_for(100ms);  // the second Task finishes, but nobody asked for it yet
    EXPECT_EQ(waiting.current_index(), 0u)
        << "current_index() moved on before next() handed the result out";
    wait(waiting.next());
    EXPECT_EQ(waiting.current_index(), 1u);
}

Task<void> pause(IOLoop& loop, std::chrono::milliseconds delay, int& finished) {
    co_await sleep(delay, loop);
    ++finished;
}

TEST_F(Task6_WaitIterator, WorksForTaskVoid) {
    int finished = 0;
    std::vector<Task<void>> tasks;
    tasks.push_back(pause(loop, 20ms, finished));
    tasks.push_back(pause(loop, 5ms, finished));
    WaitIterator<void> waiting(std::move(tasks), loop);
    std::vector<std::size_t> order;
    while (!waiting.done()) {
        wait(waiting.next());
        order.push_back(waiting.current_index());
    }
    EXPECT_EQ(order, (std::vector<std::size_t>{1, 0}));
    EXPECT_EQ(finished, 2);
}

Task<void> void_failure_after(IOLoop& loop, std::chrono::milliseconds delay) {
    co_await sleep(delay, loop);
    throw TrackedError("void task refused");
}

// The mistake this catches: for Task<void>, handing out "done" without
// looking at how the Task ended.
TEST_F(Task6_WaitIterator, AFailedTaskVoidComesOutOfItsNext) {
    int finished = 0;
    std::vector<Task<void>> tasks;
    tasks.push_back(pause(loop, 30ms, finished));
    tasks.push_back(void_failure_after(loop, 5ms));
    WaitIterator<void> waiting(std::move(tasks), loop);
    Future<void> first = wait(waiting.next());
    EXPECT_EQ(waiting.current_index(), 1u);
    EXPECT_EQ(error_message(first), "void task refused");
    Future<void> second = wait(waiting.next());
    EXPECT_EQ(waiting.current_index(), 0u);
    EXPECT_NO_THROW(second.result());
    EXPECT_TRUE(waiting.done());
}

// The mistake this catches: a WaitIterator that spawns its Tasks, or makes
// next()'s Futures, on IOLoop::current() instead of the loop it was given.
// When that loop is the current one nothing shows; with another, the
// results never reach what waits for them on the given loop.
TEST_F(Task6_WaitIterator, UsesTheLoopItIsGiven) {
    IOLoop other;
    std::vector<Task<int>> tasks;
    tasks.push_back(value_after(other, 1, 5ms));
    WaitIterator<int> waiting(std::move(tasks), other);
    Future<int> first = waiting.next();
    EXPECT_EQ(&first.io_loop(), &other)
        << "next() must return a Future of the loop given to the constructor";
    bool timed_out = false;
    other.call_later(5s, [&] {
        timed_out = true;
        other.stop();
    });
    first.add_done_callback([&](Future<int>) { other.stop(); });
    other.start();
    EXPECT_FALSE(timed_out) << "the result never reached its next() on the WaitIterator's own loop "
                               "(spawn the Tasks, and make next()'s Futures, on that loop)";
    EXPECT_TRUE(waiting.done());
    run_for(5ms);  // the test's loop: anything queued there by mistake lets go of what it holds
}

// The Tasks' callbacks must not point into the WaitIterator: here it is
// gone long before they finish (AddressSanitizer reports a use after free;
// the fixture checks that every frame and exception was freed).
TEST_F(Task6_WaitIterator, TheTasksOutliveTheIterator) {
    {
        std::vector<Task<int>> tasks;
        tasks.push_back(value_after(loop, 1, 20ms));
        tasks.push_back(failure_after(loop, "nobody listens", 10ms));
        WaitIterator<int> waiting(std::move(tasks), loop);
    }
    // Until both Tasks have ended, not for a fixed time: on a busy machine
    // the loop may start their timers late.
    EXPECT_TRUE(run_until([this] { return frames_alive() == 0; }))
        << "the Tasks never finished once their WaitIterator was gone";
    run_for(5ms);  // what their callbacks queued lets go of what it holds
}

}  // namespace
}  // namespace course::testing
