// future_test.cpp: the rules of Future<T> (future.h). Task 1 of the
// exercise: a Future is done once, result() gives the value or rethrows,
// copies share one state, and done callbacks always run from the loop,
// never inside set_result or add_done_callback.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "future.h"
#include "future_fixture.h"

namespace course::testing {
namespace {

// --- the state: pending, then done once ------------------------------------------

using Task1_FutureState = LoopTest;

TEST_F(Task1_FutureState, StartsPendingThenHoldsItsResult) {
    Future<int> answer(loop);
    EXPECT_FALSE(answer.done());
    answer.set_result(42);
    EXPECT_TRUE(answer.done());
    EXPECT_EQ(answer.result(), 42);
    EXPECT_EQ(answer.exception(), nullptr);
}

TEST_F(Task1_FutureState, ResultOfAPendingFutureIsAClearError) {
    Future<int> answer(loop);
    try {
        answer.result();
        FAIL() << "result() on a pending Future must throw";
    } catch (const InvalidStateError& error) {
        EXPECT_NE(std::string(error.what()).find("not done"), std::string::npos) << error.what();
    }
    EXPECT_THROW(answer.exception(), InvalidStateError);
}

TEST_F(Task1_FutureState, IsDoneOnlyOnce) {
    Future<int> answer(loop);
    answer.set_result(1);
    EXPECT_THROW(answer.set_result(2), InvalidStateError);
    EXPECT_THROW(answer.set_exception(std::make_exception_ptr(std::runtime_error("late"))),
                 InvalidStateError);
    EXPECT_EQ(answer.result(), 1);

    Future<int> failed(loop);
    failed.set_exception(std::make_exception_ptr(std::runtime_error("first")));
    EXPECT_THROW(failed.set_result(3), InvalidStateError);
}

TEST_F(Task1_FutureState, ResultRethrowsTheStoredException) {
    Future<std::string> text(loop);
    text.set_exception(std::make_exception_ptr(std::out_of_range("no such thing")));
    EXPECT_TRUE(text.done());
    ASSERT_NE(text.exception(), nullptr);
    EXPECT_THROW(text.result(), std::out_of_range);  // the original type, not a copy of what()
    EXPECT_EQ(error_message(text), "no such thing");
    EXPECT_THROW(text.result(), std::out_of_range);  // every time it is asked
}

TEST_F(Task1_FutureState, ANullExceptionIsRefused) {
    Future<int> answer(loop);
    EXPECT_THROW(answer.set_exception(nullptr), std::invalid_argument);
    EXPECT_FALSE(answer.done());
}

TEST_F(Task1_FutureState, CopiesShareOneState) {
    Future<std::string> original(loop);
    Future<std::string> copy = original;
    std::vector<Future<std::string>> elsewhere{original};
    copy.set_result("set through the copy");
    EXPECT_TRUE(original.done());
    EXPECT_EQ(original.result(), "set through the copy");
    EXPECT_EQ(&original.result(), &elsewhere[0].result()) << "one value, not three copies";
    original.result() += "!";
    EXPECT_EQ(copy.result(), "set through the copy!");
}

TEST_F(Task1_FutureState, VoidFuturesSayDoneOrFailed) {
    Future<void> done(loop);
    EXPECT_FALSE(done.done());
    EXPECT_THROW(done.result(), InvalidStateError);
    done.set_result();
    EXPECT_TRUE(done.done());
    EXPECT_NO_THROW(done.result());
    EXPECT_THROW(done.set_result(), InvalidStateError);

    Future<void> failed(loop);
    failed.set_exception(std::make_exception_ptr(std::runtime_error("broken")));
    EXPECT_THROW(failed.result(), std::runtime_error);
}

// --- done callbacks: always from the loop -------------------------------------------

using Task1_DoneCallbacks = LoopTest;

TEST_F(Task1_DoneCallbacks, DoNotRunInsideSetResult) {
    Future<int> answer(loop);
    int seen = 0;
    answer.add_done_callback([&](Future<int> done) { seen = done.result(); });
    answer.set_result(42);
    EXPECT_EQ(seen, 0) << "the callback ran inside set_result";
    run_one_turn();
    EXPECT_EQ(seen, 42) << "the callback should run at the loop's next turn";
}

TEST_F(Task1_DoneCallbacks, DoNotRunInsideSetException) {
    Future<int> answer(loop);
    bool ran = false;
    answer.add_done_callback([&](Future<int> done) {
        ran = true;
        EXPECT_THROW(done.result(), std::runtime_error);
    });
    answer.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    EXPECT_FALSE(ran) << "the callback ran inside set_exception";
    run_one_turn();
    EXPECT_TRUE(ran);
}

TEST_F(Task1_DoneCallbacks, DoNotRunInsideAddDoneCallbackEvenWhenDoneAlready) {
    Future<int> answer(loop);
    answer.set_result(7);
    run_one_turn();
    bool ran = false;
    answer.add_done_callback([&](Future<int>) { ran = true; });
    EXPECT_FALSE(ran) << "a callback added to a done Future ran inside add_done_callback";
    run_one_turn();
    EXPECT_TRUE(ran);
}

// The mistake this catches: add_done_callback deciding "done" by the value
// (state_->value.has_value()) instead of the done flag. A Future that
// failed is done without a value, and a Future<void> never has one: a
// callback added to either once it is done would wait in the list for ever.
TEST_F(Task1_DoneCallbacks, RunWhenAddedToAFailedOrVoidFutureThatIsDoneAlready) {
    Future<int> failed(loop);
    failed.set_exception(std::make_exception_ptr(std::runtime_error("failed")));
    Future<void> finished(loop);
    finished.set_result();
    bool failed_ran = false;
    bool void_ran = false;
    failed.add_done_callback([&](Future<int>) { failed_ran = true; });
    finished.add_done_callback([&](Future<void>) { void_ran = true; });
    run_one_turn();
    EXPECT_TRUE(failed_ran) << "a callback added to a Future that failed never ran: a failed "
                               "Future is done (its done flag says so), though it has no value";
    EXPECT_TRUE(void_ran) << "a callback added to a done Future<void> never ran: a Future<void> "
                             "is done (its done flag says so), though it never has a value";
}

TEST_F(Task1_DoneCallbacks, GetTheFutureItself) {
    Future<std::string> text(loop);
    const std::string* seen = nullptr;
    text.add_done_callback([&](Future<std::string> done) { seen = &done.result(); });
    text.set_result("shared");
    run_one_turn();
    EXPECT_EQ(seen, &text.result()) << "the callback should get a copy of the same Future";
}

TEST_F(Task1_DoneCallbacks, RunOnceEachInTheOrderAdded) {
    Future<int> answer(loop);
    std::vector<int> order;
    for (int i = 1; i <= 3; ++i) answer.add_done_callback([&, i](Future<int>) { order.push_back(i); });
    answer.set_result(0);
    for (int i = 4; i <= 5; ++i) answer.add_done_callback([&, i](Future<int>) { order.push_back(i); });
    run_for(20ms);
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST_F(Task1_DoneCallbacks, RunAfterTheCodeThatResolvedTheFuture) {
    // set_result called from a loop callback, as real code does: the done
    // callback runs after that callback has returned, not in its middle.
    Future<void> ready(loop);
    std::vector<std::string> events;
    ready.add_done_callback([&](Future<void>) { events.push_back("done callback"); });
    loop.add_callback([&] {
        events.push_back("before set_result");
        ready.set_result();
        events.push_back("after set_result");
    });
    run_for(20ms);
    EXPECT_EQ(events,
              (std::vector<std::string>{"before set_result", "after set_result", "done callback"}));
}

TEST_F(Task1_DoneCallbacks, ResolvingTheNextFutureFromACallbackDoesNotNest) {
    // 1000 Futures, each resolved by the done callback of the one before.
    // Run inline, the callbacks would nest 1000 deep; from the loop, each
    // one starts with an empty stack and the depth stays at 1.
    constexpr int kCount = 1000;
    std::vector<Future<int>> futures;
    for (int i = 0; i < kCount; ++i) futures.emplace_back(loop);
    int depth = 0;
    int deepest = 0;
    int last = -1;
    for (int i = 0; i < kCount; ++i) {
        futures[i].add_done_callback([&, i](Future<int> done) {
            ++depth;
            deepest = std::max(deepest, depth);
            if (i + 1 < kCount) futures[i + 1].set_result(done.result() + 1);
            last = done.result();
            --depth;
        });
    }
    futures[0].set_result(0);
    ASSERT_TRUE(run_until([&] { return last == kCount - 1; }));
    EXPECT_EQ(deepest, 1) << "a done callback ran inside another one's set_result";
}

TEST_F(Task1_DoneCallbacks, RunOnTheFuturesOwnLoop) {
    IOLoop other;
    Future<int> answer(other);
    EXPECT_EQ(&answer.io_loop(), &other);
    bool ran = false;
    answer.add_done_callback([&](Future<int>) { ran = true; });
    answer.set_result(1);
    run_for(20ms);  // the test's loop, not the Future's
    EXPECT_FALSE(ran) << "the callback ran on a loop that is not the Future's";
    other.add_callback([&] { other.stop(); });
    other.start();
    EXPECT_TRUE(ran);
}

TEST_F(Task1_DoneCallbacks, AThrowingCallbackDoesNotStopTheOthers) {
    Future<int> answer(loop);
    bool second_ran = false;
    answer.add_done_callback([](Future<int>) { throw std::runtime_error("callback failed"); });
    answer.add_done_callback([&](Future<int>) { second_ran = true; });
    answer.set_result(1);
    StderrCapture captured;
    run_for(20ms);
    std::string logged = captured.text();
    EXPECT_TRUE(second_ran);
    EXPECT_NE(logged.find("callback failed"), std::string::npos) << "the loop logs it: " << logged;
}

TEST_F(Task1_DoneCallbacks, ACallbackAddedByACallbackRunsToo) {
    Future<int> answer(loop);
    bool inner_ran = false;
    answer.add_done_callback([&](Future<int> done) {
        done.add_done_callback([&](Future<int>) { inner_ran = true; });
        EXPECT_FALSE(inner_ran);
    });
    answer.set_result(1);
    run_for(20ms);
    EXPECT_TRUE(inner_ran);
}

TEST_F(Task1_DoneCallbacks, WorkForVoidFutures) {
    Future<void> done(loop);
    bool ran = false;
    done.add_done_callback([&](Future<void> future) {
        future.result();
        ran = true;
    });
    done.set_result();
    EXPECT_FALSE(ran);
    run_one_turn();
    EXPECT_TRUE(ran);
}

// The mistakes this catches: mark_done() copying the callbacks and leaving
// them in the state, where what they hold lives as long as the Future; and
// add_done_callback() on a done Future keeping the callback in the list as
// well as scheduling it.
TEST_F(Task1_DoneCallbacks, AreLetGoOnceTheyHaveRun) {
    auto payload = std::make_shared<int>(1);
    std::weak_ptr<int> watch = payload;
    Future<int> answer(loop);
    answer.add_done_callback([payload = std::move(payload)](Future<int>) {});
    answer.set_result(1);
    run_for(20ms);
    EXPECT_TRUE(watch.expired())
        << "a done Future still holds a callback that has run (and all it captured)";

    auto late_payload = std::make_shared<int>(2);
    std::weak_ptr<int> late_watch = late_payload;
    answer.add_done_callback([late_payload = std::move(late_payload)](Future<int>) {});
    run_for(20ms);
    EXPECT_TRUE(late_watch.expired())
        << "a callback added to a done Future has run, and the Future still holds it (and all "
           "it captured): a done Future only schedules a callback, it never keeps one";
}

// The mistake this catches: schedule() holding the state weakly (a
// weak_ptr, "to avoid a cycle"). Often nothing but the queued call holds a
// Future when its callbacks run: a Future nobody kept a handle to, the
// Futures a then() chain makes along the way. The loop callback must own
// the state (a shared_ptr), or such a callback is dropped.
TEST_F(Task1_DoneCallbacks, RunEvenWhenNoHandleIsLeft) {
    int seen = 0;
    {
        Future<int> answer(loop);
        answer.add_done_callback([&](Future<int> done) { seen += done.result(); });
        answer.set_result(5);
    }  // the last handle is gone: only the queued loop callback holds the state
    {
        Future<int> done_already(loop);
        done_already.set_result(6);
        done_already.add_done_callback([&](Future<int> done) { seen += done.result(); });
    }
    run_one_turn();
    EXPECT_EQ(seen, 11) << "a done callback did not run once every handle on its Future was "
                           "gone: what schedule() gives the loop must own the Future's state";
}

// The mistake this catches: schedule() capturing `this`, the handle it was
// called through, which may be gone when the loop runs the callback.
TEST_F(Task1_DoneCallbacks, RunAfterTheHandleTheyCameThroughIsGone) {
    Future<int> answer(loop);
    int seen_pending = 0;
    int seen_done = 0;
    auto handle = std::make_unique<Future<int>>(answer);
    handle->add_done_callback([&](Future<int> done) { seen_pending = done.result(); });
    handle->set_result(5);
    handle.reset();
    handle = std::make_unique<Future<int>>(answer);
    handle->add_done_callback([&](Future<int> done) { seen_done = done.result(); });
    handle.reset();
    // Whatever is allocated next may reuse the handles' memory: fill it.
    std::vector<std::unique_ptr<std::array<unsigned char, sizeof(Future<int>)>>> reuse;
    for (int i = 0; i < 16; ++i) {
        reuse.push_back(std::make_unique<std::array<unsigned char, sizeof(Future<int>)>>());
        reuse.back()->fill(0xff);
    }
    run_one_turn();
    EXPECT_EQ(seen_pending, 5);
    EXPECT_EQ(seen_done, 5);
}

TEST_F(Task1_DoneCallbacks, AFutureResolvedByATimerWakesItsWaiter) {
    Future<std::string> later(loop);
    loop.call_later(30ms, [later] { later.set_result("later"); });
    std::string seen;
    later.add_done_callback([&](Future<std::string> done) { seen = done.result(); });
    wait(later);
    run_one_turn();
    EXPECT_EQ(seen, "later");
}

}  // namespace
}  // namespace course::testing
