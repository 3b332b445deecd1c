// with_timeout_test.cpp: with_timeout (exercises/07-futures/with_timeout.h),
// the chapter's extension task 5. Compiled against the reference solution
// in exercises/07-futures/solutions/ for ch07_tests, against the learner's
// file for the exercise (see course_extension in cmake/Course.cmake).
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "future_fixture.h"
#include "with_timeout.h"

namespace course::testing {
namespace {

using Task5_WithTimeout = LoopTest;

// True if the Future failed with exactly a TimeoutError.
template <typename T>
bool timed_out(const Future<T>& future) {
    try {
        future.result();
    } catch (const TimeoutError&) {
        return true;
    } catch (...) {
    }
    return false;
}

TEST_F(Task5_WithTimeout, GivesTheResultWhenTheFutureIsFirst) {
    Future<std::string> answer(loop);
    Future<std::string> limited = with_timeout(answer, 5s);
    loop.call_later(5ms, [answer] { answer.set_result("in time"); });
    wait(limited);
    EXPECT_EQ(limited.result(), "in time");
    EXPECT_EQ(answer.result(), "in time") << "the first Future keeps its own value";
}

TEST_F(Task5_WithTimeout, FailsWithTimeoutErrorWhenTheTimerIsFirst) {
    Future<int> never(loop);
    auto started = IOLoop::time();
    Future<int> limited = with_timeout(never, 30ms);
    wait(limited);
    EXPECT_TRUE(timed_out(limited)) << "expected TimeoutError, got: " << error_message(limited);
    EXPECT_GE(IOLoop::time() - started, 30ms) << "it gave up before its timeout";
    EXPECT_FALSE(never.done()) << "a timeout stops the waiting, not the work";
}

TEST_F(Task5_WithTimeout, PassesTheFuturesOwnExceptionOn) {
    Future<int> failing(loop);
    Future<int> limited = with_timeout(failing, 5s);
    failing.set_exception(std::make_exception_ptr(std::runtime_error("connection refused")));
    wait(limited);
    EXPECT_EQ(error_message(limited), "connection refused");
    EXPECT_FALSE(timed_out(limited));
}

TEST_F(Task5_WithTimeout, WorksOnFutureVoid) {
    Future<void> done_later(loop);
    Future<void> limited = with_timeout(done_later, 5s);
    loop.call_later(5ms, [done_later] { done_later.set_result(); });
    wait(limited);
    EXPECT_NO_THROW(limited.result());

    Future<void> never(loop);
    Future<void> gives_up = with_timeout(never, 10ms);
    wait(gives_up);
    EXPECT_TRUE(timed_out(gives_up));
}

TEST_F(Task5_WithTimeout, WorksOnAFutureThatIsDoneAlready) {
    Future<int> ready(loop);
    ready.set_result(7);
    Future<int> limited = with_timeout(ready, 5s);
    wait(limited);
    EXPECT_EQ(limited.result(), 7);
}

TEST_F(Task5_WithTimeout, AZeroTimeoutOnAPendingFutureTimesOut) {
    Future<int> pending(loop);
    Future<int> limited = with_timeout(pending, 0ms);
    wait(limited);
    EXPECT_TRUE(timed_out(limited));
}

// The mistake this catches: the timer or the done callback holding the
// result Future by reference. It is with_timeout's local, returned to the
// caller, who may keep it anywhere: here it is a temporary, assigned to
// a Future made before, and gone at the end of the line. What the loop
// runs later must hold a copy of the result Future (a handle, cheap to
// copy), never refer to the one with_timeout returned.
TEST_F(Task5_WithTimeout, TheCallerMayKeepTheResultAnywhere) {
    Future<int> never(loop);
    Future<int> gives_up(loop);
    gives_up = with_timeout(never, 10ms);
    Future<int> answer(loop);
    Future<int> answered(loop);
    answered = with_timeout(answer, 5s);
    answer.set_result(7);
    wait(gives_up);
    wait(answered);
    EXPECT_TRUE(timed_out(gives_up)) << "expected TimeoutError, got: " << error_message(gives_up);
    EXPECT_EQ(answered.result(), 7);
}

// The mistake this catches: the result Future or its timer on
// IOLoop::current() (here the test's loop) instead of the given Future's
// own loop. Everything happens on the Future's loop, so the timeout fires
// when that loop runs, and only then.
TEST_F(Task5_WithTimeout, TimesOutOnTheFuturesOwnLoop) {
    IOLoop other;  // not current: the test's loop already is
    Future<int> never(other);
    Future<int> limited = with_timeout(never, 10ms);
    EXPECT_EQ(&limited.io_loop(), &other) << "the result Future must be of the Future's own loop";
    run_for(50ms);  // the test's loop, not the Future's
    EXPECT_FALSE(limited.done()) << "the timeout fired on a loop that is not the Future's";
    // Stops `other` after its overdue 10 ms timer has run: timers run in
    // deadline order, however late the loop wakes.
    other.call_later(50ms, [&other] { other.stop(); });
    other.start();
    EXPECT_TRUE(limited.done()) << "the timeout did not fire on the Future's own loop";
    if (limited.done()) {
        EXPECT_TRUE(timed_out(limited)) << "expected TimeoutError, got: " << error_message(limited);
    }
}

// The mistake this catches: a timer left on the loop after the Future won.
// Its callback holds the result Future, so whatever that holds stays alive
// until the timer fires: here for an hour.
TEST_F(Task5_WithTimeout, RemovesTheTimerWhenTheFutureIsFirst) {
    auto payload = std::make_shared<int>(42);
    std::weak_ptr<int> watch = payload;
    {
        Future<std::shared_ptr<int>> answer(loop);
        Future<std::shared_ptr<int>> limited = with_timeout(answer, std::chrono::hours(1));
        answer.set_result(std::move(payload));
        wait(limited);
        EXPECT_EQ(*limited.result(), 42);
    }
    run_for(5ms);
    EXPECT_TRUE(watch.expired())
        << "the result is still held after every Future handle is gone: "
           "the one-hour timer is still on the loop (remove_timeout it)";
}

// An exception that holds a value, to see when the last copy goes.
struct HoldingError : std::runtime_error {
    explicit HoldingError(std::shared_ptr<int> held)
        : std::runtime_error("failed, holding a value"), payload(std::move(held)) {}
    std::shared_ptr<int> payload;
};

// The mistake this catches: a timer removed on the success path only. The
// Future failed first, yet the one-hour timer stays and holds the result
// (and the exception in it) for the rest of the hour.
TEST_F(Task5_WithTimeout, RemovesTheTimerWhenTheFutureFailsFirst) {
    auto payload = std::make_shared<int>(42);
    std::weak_ptr<int> watch = payload;
    {
        Future<int> failing(loop);
        Future<int> limited = with_timeout(failing, std::chrono::hours(1));
        failing.set_exception(std::make_exception_ptr(HoldingError(std::move(payload))));
        wait(limited);
        EXPECT_EQ(error_message(limited), "failed, holding a value");
    }
    run_for(5ms);
    EXPECT_TRUE(watch.expired())
        << "the exception is still held after every Future handle is gone: "
           "the one-hour timer is still on the loop";
}

// The mistake this catches: resolving the result from inside with_timeout
// (a Future done already, a zero timeout) instead of from the loop, later.
TEST_F(Task5_WithTimeout, ResolvesFromTheLoopNeverInsideTheCall) {
    Future<int> ready(loop);
    ready.set_result(7);
    Future<int> from_ready = with_timeout(ready, 5s);
    EXPECT_FALSE(from_ready.done()) << "resolved inside with_timeout";
    Future<int> pending(loop);
    Future<int> zero = with_timeout(pending, 0ms);
    EXPECT_FALSE(zero.done()) << "a zero timeout failed inside with_timeout";
    wait(from_ready);
    wait(zero);
    EXPECT_EQ(from_ready.result(), 7);
    EXPECT_TRUE(timed_out(zero));
}

// The mistake this catches: setting the late outcome on the result Future
// that the timeout already failed. That throws InvalidStateError inside a
// loop callback, which the loop reports on stderr.
TEST_F(Task5_WithTimeout, DropsAnOutcomeThatArrivesAfterTheTimeout) {
    Future<int> late_value(loop);
    Future<int> late_error(loop);
    Future<int> first = with_timeout(late_value, 5ms);
    Future<int> second = with_timeout(late_error, 5ms);
    wait(first);
    wait(second);
    StderrCapture captured;
    late_value.set_result(1);
    late_error.set_exception(std::make_exception_ptr(std::runtime_error("too late")));
    run_for(10ms);
    std::string reported = captured.text();
    EXPECT_EQ(reported.find("IOLoop: exception"), std::string::npos)
        << "a late outcome was set on a Future that was done already:\n" << reported;
    EXPECT_TRUE(timed_out(first));
    EXPECT_TRUE(timed_out(second));
}

}  // namespace
}  // namespace course::testing
