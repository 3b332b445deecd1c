// chain_test.cpp: then() and chain_future() (future.h). Task 2 of the
// exercise: a step runs with the result of the one before, its return
// value (or the Future it returns) becomes the next Future, and an
// exception skips every later step on its way to the end of the chain.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "future.h"
#include "future_fixture.h"

namespace course::testing {
namespace {

using Task2_Then = LoopTest;

TEST_F(Task2_Then, GivesAFutureOfWhatTheFunctionReturns) {
    Future<int> number(loop);
    auto doubled = number.then([](int& value) { return value * 2; });
    static_assert(std::is_same_v<decltype(doubled), Future<int>>);
    auto text = doubled.then([](const int& value) { return "got " + std::to_string(value); });
    static_assert(std::is_same_v<decltype(text), Future<std::string>>);
    EXPECT_FALSE(text.done());
    number.set_result(21);
    wait(text);
    EXPECT_EQ(text.result(), "got 42");
    EXPECT_EQ(number.result(), 21) << "then() must leave the first Future's value alone";
}

TEST_F(Task2_Then, DoesNotCallTheFunctionInsideSetResult) {
    Future<int> number(loop);
    bool called = false;
    auto next = number.then([&](int value) {
        called = true;
        return value;
    });
    number.set_result(1);
    EXPECT_FALSE(called) << "the step ran inside set_result";
    wait(next);
    EXPECT_TRUE(called);
}

TEST_F(Task2_Then, WorksOnAFutureThatIsDoneAlready) {
    Future<int> number(loop);
    number.set_result(5);
    auto next = number.then([](int value) { return value + 1; });
    EXPECT_FALSE(next.done()) << "even on a done Future, the step runs from the loop";
    wait(next);
    EXPECT_EQ(next.result(), 6);
}

TEST_F(Task2_Then, VoidOnEitherSide) {
    Future<void> started(loop);
    std::vector<std::string> steps;
    Future<void> logged = started.then([&] { steps.push_back("after a void Future"); });
    Future<int> counted = logged.then([&] {
        steps.push_back("void to int");
        return 3;
    });
    Future<void> ended = counted.then([&](int n) { steps.push_back("int to void " + std::to_string(n)); });
    static_assert(std::is_same_v<decltype(ended), Future<void>>);
    started.set_result();
    wait(ended);
    EXPECT_NO_THROW(ended.result());
    EXPECT_EQ(steps, (std::vector<std::string>{"after a void Future", "void to int", "int to void 3"}));
}

TEST_F(Task2_Then, AReturnedFutureIsWaitedFor) {
    Future<std::string> first(loop);
    auto second = first.then([this](std::string& name) {
        return resolve_later(loop, 30ms, name + " and then some");
    });
    static_assert(std::is_same_v<decltype(second), Future<std::string>>,
                  "then() of a function returning Future<X> gives Future<X>, not Future<Future<X>>");
    first.set_result("this");
    run_for(10ms);
    EXPECT_FALSE(second.done()) << "the returned Future is not done yet: neither is the chain";
    wait(second);
    EXPECT_EQ(second.result(), "this and then some");
}

TEST_F(Task2_Then, AnExceptionSkipsTheFunctionAndPassesOn) {
    Future<int> number(loop);
    bool called = false;
    auto next = number.then([&](int value) {
        called = true;
        return value;
    });
    number.set_exception(std::make_exception_ptr(std::domain_error("no number today")));
    wait(next);
    EXPECT_FALSE(called) << "a step must not run after the one before it failed";
    EXPECT_THROW(next.result(), std::domain_error);
    EXPECT_EQ(error_message(next), "no number today");
}

// The mistake this catches: then() passing the failure on and then going
// on to the function anyway (which a Future<void> lets it call), setting the
// next Future a second time.
TEST_F(Task2_Then, AFailureIsPassedOnOnceAndTheFunctionSkipped) {
    Future<void> started(loop);
    Future<int> number(loop);
    bool called = false;
    Future<int> after_void = started.then([&] {
        called = true;
        return 1;
    });
    Future<int> after_int = number.then([&](int value) {
        called = true;
        return value;
    });
    StderrCapture captured;
    started.set_exception(std::make_exception_ptr(std::runtime_error("never started")));
    number.set_exception(std::make_exception_ptr(std::runtime_error("no number")));
    wait(after_void);
    wait(after_int);
    run_for(20ms);
    std::string logged = captured.text();
    EXPECT_FALSE(called) << "a step ran after the one before it failed";
    EXPECT_EQ(error_message(after_void), "never started");
    EXPECT_EQ(error_message(after_int), "no number");
    EXPECT_EQ(logged.find("already done"), std::string::npos) << logged;
}

TEST_F(Task2_Then, WhatTheFunctionThrowsLandsInTheNextFuture) {
    Future<int> number(loop);
    auto next = number.then([](int) -> int { throw std::invalid_argument("step failed"); });
    number.set_result(1);
    wait(next);
    EXPECT_THROW(next.result(), std::invalid_argument);
    EXPECT_EQ(error_message(next), "step failed");
}

// The mistake this catches: catching std::exception only. C++ can throw
// anything (an int, a string), and the table in the chapter says "any
// type: catch (...)": caught as std::exception alone, `throw 42` escapes
// to the loop's log and the next Future never settles.
TEST_F(Task2_Then, WhatTheFunctionThrowsLandsInTheNextFutureWhateverItsType) {
    Future<int> number(loop);
    Future<int> next = number.then([](int) -> int { throw 42; });
    Future<void> started(loop);
    Future<void> after = started.then([] { throw std::string("a string, not a std::exception"); });
    StderrCapture captured;
    number.set_result(1);
    started.set_result();
    bool settled = run_until([&] { return next.done() && after.done(); });
    std::string logged = captured.text();
    ASSERT_TRUE(settled) << "a step threw something that is not a std::exception, and the next "
                            "Future never settled: then() must catch (...), whatever the type. "
                            "The loop logged: " << logged;
    EXPECT_THROW(next.result(), int);
    EXPECT_THROW(after.result(), std::string);
}

// The mistake this catches: guarding with try only the rows of the table
// where the function returns a value. A function that should return a
// Future may throw instead, and that too lands in the next Future.
TEST_F(Task2_Then, AFunctionThatThrowsInsteadOfReturningAFutureFailsTheChain) {
    Future<int> start(loop);
    Future<std::string> next = start.then([](int) -> Future<std::string> {
        throw std::runtime_error("no Future today");
    });
    start.set_result(0);
    wait(next);
    EXPECT_EQ(error_message(next), "no Future today")
        << "what a step throws lands in the next Future, whatever the step would have returned";
}

// The mistake this catches: a then() whose callback holds the Future it
// waits on (a copy of *this, to read the result from). The callback lives
// in that Future's own state until it is done: a Future that never
// finishes would then hold itself, and all the step captured, for ever.
TEST_F(Task2_Then, AStepWaitingOnAFutureThatNeverFinishesKeepsNothingAlive) {
    auto payload = std::make_shared<int>(7);
    std::weak_ptr<int> watch = payload;
    {
        Future<int> never(loop);
        Future<int> next =
            never.then([payload = std::move(payload)](int v) { return v + *payload; });
        run_for(5ms);
    }  // every handle is gone: nothing can ever resolve `never`
    run_for(5ms);
    EXPECT_TRUE(watch.expired())
        << "a then() step on a Future that will never finish is still held once every handle is "
           "gone: then()'s callback must hold `next` and the function, never the Future it "
           "waits on (that Future holds the callback: a cycle)";
}

TEST_F(Task2_Then, AnExceptionTravelsToTheEndOfALongChain) {
    Future<int> start(loop);
    std::vector<int> ran;
    auto end = start.then([&](int v) { ran.push_back(1); return v; })
                   .then([&](int) -> int { ran.push_back(2); throw std::runtime_error("step 2"); })
                   .then([&](int v) { ran.push_back(3); return v; })
                   .then([&](int v) { ran.push_back(4); return std::to_string(v); });
    start.set_result(0);
    wait(end);
    EXPECT_EQ(ran, (std::vector<int>{1, 2}));
    EXPECT_EQ(error_message(end), "step 2");
}

TEST_F(Task2_Then, AFailedReturnedFutureFailsTheChain) {
    Future<int> start(loop);
    auto next = start.then([this](int) {
        Future<std::string> failed(loop);
        failed.set_exception(std::make_exception_ptr(std::runtime_error("inner failed")));
        return failed;
    });
    start.set_result(0);
    wait(next);
    EXPECT_EQ(error_message(next), "inner failed");
}

TEST_F(Task2_Then, ManyStepsOnOneFutureEachSeeTheValue) {
    Future<std::string> word(loop);
    auto a = word.then([](std::string& w) { return w.size(); });
    auto b = word.then([](const std::string& w) { return w + w; });
    word.set_result("abc");
    wait(a);
    wait(b);
    EXPECT_EQ(a.result(), 3u);
    EXPECT_EQ(b.result(), "abcabc");
}

using Task2_ChainFuture = LoopTest;

TEST_F(Task2_ChainFuture, CopiesTheResult) {
    Future<std::string> from(loop);
    Future<std::string> to(loop);
    chain_future(from, to);
    from.set_result("copied");
    EXPECT_FALSE(to.done()) << "chain_future copies from a done callback, so from the loop";
    wait(to);
    EXPECT_EQ(to.result(), "copied");
    EXPECT_EQ(from.result(), "copied") << "the source keeps its own value";
}

TEST_F(Task2_ChainFuture, CopiesTheException) {
    Future<int> from(loop);
    Future<int> to(loop);
    chain_future(from, to);
    from.set_exception(std::make_exception_ptr(std::length_error("too long")));
    wait(to);
    EXPECT_THROW(to.result(), std::length_error);
}

TEST_F(Task2_ChainFuture, LeavesATargetThatIsDoneAlone) {
    // Like a timeout that answered first: the late outcome is dropped, a
    // value or an exception, and chain_future must not throw
    // InvalidStateError from the loop.
    Future<int> from(loop);
    Future<int> to(loop);
    chain_future(from, to);
    Future<int> failing(loop);
    Future<int> failing_to(loop);
    chain_future(failing, failing_to);
    to.set_exception(std::make_exception_ptr(std::runtime_error("timed out")));
    failing_to.set_exception(std::make_exception_ptr(std::runtime_error("timed out too")));
    from.set_result(1);
    failing.set_exception(std::make_exception_ptr(std::runtime_error("late failure")));
    StderrCapture captured;
    run_for(20ms);
    std::string logged = captured.text();
    EXPECT_EQ(error_message(to), "timed out");
    EXPECT_EQ(error_message(failing_to), "timed out too");
    EXPECT_EQ(logged.find("InvalidState"), std::string::npos)
        << "a late outcome, value or exception, was set on a target that was done already:\n"
        << logged;
    EXPECT_EQ(logged.find("already done"), std::string::npos)
        << "a late outcome, value or exception, was set on a target that was done already:\n"
        << logged;
}

// The mistake this catches: copying at once when `from` is done already.
// The copy always comes from the loop, at a later turn: so whoever else
// settles `to` in this turn (the timeout of the race above) still decides
// first, as with a `from` that finishes later.
TEST_F(Task2_ChainFuture, CopiesFromTheLoopEvenWhenTheSourceIsDoneAlready) {
    Future<int> from(loop);
    from.set_result(1);
    Future<int> to(loop);
    chain_future(from, to);
    EXPECT_FALSE(to.done()) << "chain_future copied inside the call: the copy must come from the "
                               "loop, at a later turn, even when `from` is done already";
    EXPECT_NO_THROW(to.set_exception(std::make_exception_ptr(std::runtime_error("timed out"))))
        << "the target was done already when chain_future returned";
    StderrCapture captured;
    run_for(20ms);
    std::string logged = captured.text();
    EXPECT_EQ(error_message(to), "timed out");
    EXPECT_EQ(logged.find("already done"), std::string::npos) << logged;
}

// The mistake this catches: a callback that holds `from` itself (to read
// its outcome from) rather than the Future it is given. It lives in
// `from`'s own state until `from` is done: a `from` that never finishes
// would hold itself, and `to`, for ever.
TEST_F(Task2_ChainFuture, ASourceThatNeverFinishesKeepsNothingAlive) {
    auto payload = std::make_shared<int>(7);
    std::weak_ptr<int> watch = payload;
    {
        Future<int> never(loop);
        Future<int> to(loop);
        chain_future(never, to);
        never.add_done_callback([payload = std::move(payload)](Future<int>) {});
    }  // every handle is gone: nothing can ever resolve `never`
    run_for(5ms);
    EXPECT_TRUE(watch.expired())
        << "a Future that will never finish is still alive once every handle is gone: "
           "chain_future's callback must hold `to`, never `from` (`from` holds the callback: "
           "a cycle)";
}

// The mistake this catches: a chain_future that, for Future<void>, says
// "done" without looking at how `from` ended.
TEST_F(Task2_ChainFuture, CopiesTheExceptionOfAVoidFuture) {
    Future<void> from(loop);
    Future<void> to(loop);
    chain_future(from, to);
    from.set_exception(std::make_exception_ptr(std::length_error("void failed")));
    wait(to);
    EXPECT_THROW(to.result(), std::length_error);
}

TEST_F(Task2_ChainFuture, WorksForVoidFutures) {
    Future<void> from(loop);
    Future<void> to(loop);
    chain_future(from, to);
    from.set_result();
    wait(to);
    EXPECT_NO_THROW(to.result());
}

}  // namespace
}  // namespace course::testing
