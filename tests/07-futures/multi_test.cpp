// multi_test.cpp: multi() (multi.h), Tornado's gen.multi. Task 3 of the
// exercise: results in list order, done only when every child is, and the
// first failure in list order wins (the others are logged).
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "future.h"
#include "future_fixture.h"
#include "multi.h"

namespace course::testing {
namespace {

template <typename T>
Future<T> fail_later(IOLoop& loop, std::chrono::milliseconds delay, const std::string& message) {
    Future<T> future(loop);
    loop.call_later(delay, [future, message] {
        future.set_exception(std::make_exception_ptr(std::runtime_error(message)));
    });
    return future;
}

using Task3_Multi = LoopTest;

TEST_F(Task3_Multi, ResultsComeInListOrderNotFinishingOrder) {
    std::vector<Future<std::string>> children{
        resolve_later<std::string>(loop, 30ms, "first in the list, last to finish"),
        resolve_later<std::string>(loop, 5ms, "second"),
        resolve_later<std::string>(loop, 15ms, "third"),
    };
    auto all = multi(children);
    static_assert(std::is_same_v<decltype(all), Future<std::vector<std::string>>>);
    wait(all);
    EXPECT_EQ(all.result(), (std::vector<std::string>{"first in the list, last to finish",
                                                      "second", "third"}));
}

TEST_F(Task3_Multi, IsNotDoneUntilEveryChildIs) {
    Future<int> a(loop);
    Future<int> b(loop);
    auto all = multi(std::vector<Future<int>>{a, b});
    a.set_result(1);
    run_for(10ms);
    EXPECT_FALSE(all.done()) << "done with one child of two still pending";
    b.set_result(2);
    wait(all);
    EXPECT_EQ(all.result(), (std::vector<int>{1, 2}));
}

TEST_F(Task3_Multi, WaitsForEveryChildEvenAfterAFailure) {
    // Tornado's rule: a failure does not end the wait early.
    Future<int> fails_now(loop);
    Future<int> slow(loop);
    auto all = multi(std::vector<Future<int>>{fails_now, slow});
    fails_now.set_exception(std::make_exception_ptr(std::runtime_error("failed at once")));
    run_for(20ms);
    EXPECT_FALSE(all.done()) << "multi must wait for the slow child too (gen.multi does)";
    slow.set_result(2);
    wait(all);
    EXPECT_EQ(error_message(all), "failed at once");
}

TEST_F(Task3_Multi, TheFirstFailureInListOrderWinsAndTheOthersAreLogged) {
    std::vector<Future<int>> children{
        resolve_later(loop, 5ms, 0),
        fail_later<int>(loop, 40ms, "first in the list"),
        fail_later<int>(loop, 10ms, "first to fail in time"),
    };
    StderrCapture captured;
    auto all = multi(children);
    wait(all);
    run_one_turn();
    std::string logged = captured.text();
    EXPECT_THROW(all.result(), std::runtime_error);
    EXPECT_EQ(error_message(all), "first in the list");
    EXPECT_NE(logged.find("first to fail in time"), std::string::npos)
        << "the other failure should be logged, not lost: " << logged;
    EXPECT_EQ(logged.find("first in the list"), std::string::npos)
        << "the failure multi reports was logged too, as if it were another one: only the "
           "others are logged: " << logged;
}

// The mistake these two catch: finish_gathering() failing `all` and going
// on (a missing return) to collect the values, where a failed child's slot
// holds none, and to set `all` a second time. With int children that is
// only a second set, which the loop logs; so nothing at all may be logged.
TEST_F(Task3_Multi, AFailureSettlesAllOnce) {
    std::vector<Future<int>> children{
        resolve_later(loop, 5ms, 1),
        fail_later<int>(loop, 10ms, "child 1 failed"),
    };
    StderrCapture captured;
    auto all = multi(children);
    wait(all);
    run_for(10ms);
    std::string logged = captured.text();
    EXPECT_EQ(error_message(all), "child 1 failed");
    EXPECT_EQ(logged, "")
        << "one failure, and the loop logged something: once finish_gathering has failed "
           "`all` with the first failure it is done (no values to collect, nothing to set "
           "again). The log:\n" << logged;
}

// With std::string children, going on to the values reads a string that was
// never made: a crash. stderr is not captured here, so that the sanitizer's
// report, which names the line, reaches you.
TEST_F(Task3_Multi, AFailureLeavesTheValuesAlone) {
    std::vector<Future<std::string>> children{
        resolve_later<std::string>(loop, 5ms, "a value long enough to be on the heap, not inline"),
        fail_later<std::string>(loop, 10ms, "child 1 failed"),
    };
    auto all = multi(children);
    wait(all);
    run_for(10ms);
    EXPECT_EQ(error_message(all), "child 1 failed");
    EXPECT_EQ(children[0].result(), "a value long enough to be on the heap, not inline");
}

TEST_F(Task3_Multi, AnEmptyListIsDoneAtOnce) {
    auto all = multi(std::vector<Future<int>>{});
    EXPECT_TRUE(all.done());
    EXPECT_TRUE(all.result().empty());
}

TEST_F(Task3_Multi, VoidChildrenGiveAVoidFuture) {
    std::vector<Future<void>> children{Future<void>(loop), Future<void>(loop)};
    auto all = multi(children);
    static_assert(std::is_same_v<decltype(all), Future<void>>);
    children[1].set_result();
    run_for(10ms);
    EXPECT_FALSE(all.done());
    children[0].set_result();
    wait(all);
    EXPECT_NO_THROW(all.result());

    std::vector<Future<void>> failing{Future<void>(loop)};
    auto failed = multi(failing);
    failing[0].set_exception(std::make_exception_ptr(std::runtime_error("void failed")));
    wait(failed);
    EXPECT_EQ(error_message(failed), "void failed");
}

TEST_F(Task3_Multi, ChildrenThatAreDoneAlreadyStillResolveFromTheLoop) {
    Future<int> a(loop);
    Future<int> b(loop);
    a.set_result(1);
    b.set_result(2);
    auto all = multi(std::vector<Future<int>>{a, b});
    EXPECT_FALSE(all.done()) << "multi's Future is resolved by done callbacks: from the loop";
    wait(all);
    EXPECT_EQ(all.result(), (std::vector<int>{1, 2}));
}

TEST_F(Task3_Multi, TheSameFutureTwiceCountsTwice) {
    Future<int> once(loop);
    auto all = multi(std::vector<Future<int>>{once, once});
    once.set_result(9);
    wait(all);
    EXPECT_EQ(all.result(), (std::vector<int>{9, 9}));
}

// The mistake this catches: multi() moving each child's value out of the
// child, where its other holders still look for it.
TEST_F(Task3_Multi, TheChildrenKeepTheirValues) {
    Future<std::string> a(loop);
    Future<std::string> b(loop);
    auto all = multi(std::vector<Future<std::string>>{a, b});
    a.set_result("alpha, a string too long for the small-string buffer");
    b.set_result("beta, a string too long for the small-string buffer too");
    wait(all);
    EXPECT_EQ(all.result(), (std::vector<std::string>{
                                "alpha, a string too long for the small-string buffer",
                                "beta, a string too long for the small-string buffer too"}));
    EXPECT_EQ(a.result(), "alpha, a string too long for the small-string buffer");
    EXPECT_EQ(b.result(), "beta, a string too long for the small-string buffer too");
}

// The mistake this catches: callbacks that hold the children (multi.h: "it
// holds no child, so a child that never finishes leaks nothing"). Held, a
// child that never finishes keeps itself and every other child alive.
TEST_F(Task3_Multi, AChildThatNeverFinishesKeepsNothingAlive) {
    auto payload = std::make_shared<int>(7);
    std::weak_ptr<int> watch = payload;
    {
        Future<std::shared_ptr<int>> never(loop);
        Future<std::shared_ptr<int>> done(loop);
        auto all = multi(std::vector<Future<std::shared_ptr<int>>>{never, done});
        done.set_result(std::move(payload));
        run_for(20ms);
        EXPECT_FALSE(all.done());
    }
    run_for(5ms);
    EXPECT_TRUE(watch.expired())
        << "every handle is gone, yet the finished child's value is still held";
}

TEST_F(Task3_Multi, ChildrenRunAtTheSameTimeSoTheWaitIsTheLongestNotTheSum) {
    auto started = IOLoop::time();
    std::vector<Future<int>> children;
    for (int i = 0; i < 5; ++i) children.push_back(resolve_later(loop, 100ms, i));
    auto all = multi(children);
    wait(all);
    auto took = IOLoop::time() - started;
    EXPECT_EQ(all.result(), (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_GE(took, 100ms);
    EXPECT_LT(took, 400ms) << "five 100 ms waits in parallel should take about 100 ms";
}

}  // namespace
}  // namespace course::testing
