// periodic_callback_test.cpp: PeriodicCallback
// (exercises/03-epoll-ioloop/periodic_callback.h), the chapter's extension
// task 5. Compiled against the reference solution in
// exercises/03-epoll-ioloop/solutions/ for ch03_tests, against the
// learner's file for the exercise (course_extension in cmake/Course.cmake).
// It runs on the loop's timers, so it needs tasks 1 and 3.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop_test_support.h"
#include "periodic_callback.h"

namespace course::testing {
namespace {

using Ms = std::chrono::duration<double, std::milli>;

double ms_between(IOLoop::Clock::time_point from, IOLoop::Clock::time_point to) {
    return Ms(to - from).count();
}

TEST(Task5_PeriodicCallback, CallsEveryPeriodStartingOnePeriodFromNow) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    std::vector<IOLoop::Clock::time_point> calls;
    PeriodicCallback tick(loop, [&] {
        calls.push_back(IOLoop::time());
        if (calls.size() == 5) loop.stop();
    }, 20ms);
    EXPECT_FALSE(tick.is_running());
    auto started = IOLoop::time();
    tick.start();
    EXPECT_TRUE(tick.is_running());
    loop.start();
    ASSERT_FALSE(deadline.expired()) << "5 calls of a 20 ms period did not come within 5 s ("
                                     << calls.size() << " came)";
    ASSERT_EQ(calls.size(), 5u);
    EXPECT_GE(ms_between(started, calls[0]), 20.0) << "the first call comes one period from start()";
    EXPECT_GE(ms_between(started, calls[4]), 100.0);
    EXPECT_LT(ms_between(started, calls[4]), 400.0);
}

// Fixed rate: call k is due at start + k * period, however long each call
// takes. With fixed delay (next = end of this call + period), every call
// would begin a whole period after the one before ended; on the grid, with
// 5 ms of work per 10 ms period, a call begins about 5 ms after the one
// before ended. The test checks that order, not how long 30 calls took: a
// busy machine that wakes the loop late fails it only if all 29 wake-ups
// come 4 ms late (a bound of 400 ms on the 30 calls failed beside the
// other tests of make test, at 452 ms).
TEST(Task5_PeriodicCallback, KeepsAFixedRateWhateverTheCallbackTakes) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    std::vector<std::pair<IOLoop::Clock::time_point, IOLoop::Clock::time_point>> calls;  // begin, end
    PeriodicCallback tick(loop, [&] {
        auto begin = IOLoop::time();
        std::this_thread::sleep_for(5ms);
        calls.emplace_back(begin, IOLoop::time());
        if (calls.size() == 30) loop.stop();
    }, 10ms);
    auto started = IOLoop::time();
    tick.start();
    loop.start();
    ASSERT_EQ(calls.size(), 30u);
    EXPECT_GE(ms_between(started, calls.back().first), 300.0) << "call 30 is due 300 ms after start()";
    double shortest_pause = std::numeric_limits<double>::infinity();
    for (std::size_t k = 1; k < calls.size(); ++k) {
        shortest_pause = std::min(shortest_pause, ms_between(calls[k - 1].second, calls[k].first));
    }
    EXPECT_LT(shortest_pause, 9.0)
        << "every call began a whole period after the one before ended: each was scheduled from "
           "the end of the one before, not on the grid start + k * period";
}

// A call that overran its period skips the ticks it missed: no burst.
// The first call ends 55 ms after it began; the next three are due on the
// grid after that, so the fourth comes at least 55 + 2 periods after the
// first. A burst runs the five missed ticks at once, about 55 ms after.
TEST(Task5_PeriodicCallback, SkipsTheTicksAnOverrunMissed) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    std::vector<IOLoop::Clock::time_point> calls;
    PeriodicCallback tick(loop, [&] {
        calls.push_back(IOLoop::time());
        if (calls.size() == 1) std::this_thread::sleep_for(55ms);  // misses five ticks
        if (calls.size() == 4) loop.stop();
    }, 10ms);
    tick.start();
    loop.start();
    ASSERT_EQ(calls.size(), 4u);
    EXPECT_GE(ms_between(calls[0], calls[3]), 75.0)
        << "the ticks the overrun missed were caught up, with calls right after it, instead of "
           "skipped: the next call is due at the first grid point still ahead";
}

TEST(Task5_PeriodicCallback, StopFromInsideTheCallbackEndsIt) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    int calls = 0;
    std::optional<PeriodicCallback> tick;
    // The loop stops a while after the third call, not at a fixed time: on
    // a busy machine a stall could bring a fixed stop due before call 3.
    tick.emplace(loop, [&] {
        // Running until stop(), inside the callback too (code that stops
        // it "if it is still running" relies on that).
        EXPECT_TRUE(tick->is_running()) << "is_running() is false inside the callback";
        if (++calls != 3) return;
        tick->stop();
        loop.call_later(30ms, [&] { loop.stop(); });  // time for a fourth call
    }, 5ms);
    tick->start();
    loop.start();
    EXPECT_EQ(calls, 3);
    EXPECT_FALSE(tick->is_running());
}

TEST(Task5_PeriodicCallback, StartTwiceIsOneTimerAndStartAfterStopStartsAgain) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    int calls = 0;
    PeriodicCallback tick(loop, [&] { ++calls; }, 20ms);
    tick.start();
    tick.start();  // already running: nothing changes
    loop.call_later(110ms, [&] { loop.stop(); });
    loop.start();
    EXPECT_GE(calls, 1);
    EXPECT_LE(calls, 6) << "two timers: start() on a running PeriodicCallback scheduled again";

    tick.stop();
    calls = 0;
    loop.call_later(60ms, [&] { loop.stop(); });
    loop.start();
    EXPECT_EQ(calls, 0) << "a call came after stop()";

    tick.start();
    loop.call_later(70ms, [&] { loop.stop(); });
    loop.start();
    EXPECT_GE(calls, 1) << "start() after stop() did not start again";
    EXPECT_LE(calls, 4);
}

// Catches: a run() that schedules the next call whenever it is still
// running after the callback, even if the callback itself called stop() and
// then start(), which scheduled one already. Two timers then run the
// calls, and stop() cancels only the one it knows of: a call comes after it.
TEST(Task5_PeriodicCallback, StopAndStartFromInsideTheCallbackLeaveOneTimer) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    int calls = 0;
    int calls_after_stop = 0;
    bool stopped = false;
    std::optional<PeriodicCallback> tick;
    tick.emplace(loop, [&] {
        if (stopped) {
            ++calls_after_stop;
            return;
        }
        ++calls;
        if (calls == 1) {
            tick->stop();  // a new grid from now: stop, then start again
            tick->start();
        }
        if (calls == 4) {
            // Stopped from outside the callback (a timeout of its own), then
            // time for several more periods in which nothing may come.
            loop.call_later(1ms, [&] {
                tick->stop();
                stopped = true;
                loop.call_later(60ms, [&] { loop.stop(); });
            });
        }
    }, 10ms);
    tick->start();
    loop.start();
    ASSERT_FALSE(deadline.expired()) << "the loop was never stopped (" << calls << " calls came)";
    EXPECT_EQ(calls_after_stop, 0)
        << "a call came after stop(): the stop() and start() inside the callback left two timers "
           "(start() scheduled the next call already; do not schedule another when the callback "
           "returns)";
    EXPECT_FALSE(tick->is_running());
}

// Catches: a start() after stop() that goes on with the old grid instead of
// starting a new one from now. The first call then comes at the old grid's
// next point, which may be any time sooner than one period.
TEST(Task5_PeriodicCallback, StartAfterStopCountsTheFirstPeriodFromThen) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    std::vector<IOLoop::Clock::time_point> calls;
    std::optional<PeriodicCallback> tick;
    tick.emplace(loop, [&] {
        calls.push_back(IOLoop::time());
        if (calls.size() == 1) tick->stop();  // the old grid: 0, 50, 100, 150, ...
        if (calls.size() == 2) loop.stop();
    }, 50ms);
    IOLoop::Clock::time_point restarted_at;
    tick->start();
    // 230 ms is between two points of the old grid: restarted on it, the
    // first call would come 20 ms later (at 250), not 50.
    loop.call_later(230ms, [&] {
        restarted_at = IOLoop::time();
        tick->start();
    });
    loop.start();
    ASSERT_FALSE(deadline.expired()) << "the second call never came";
    ASSERT_EQ(calls.size(), 2u);
    // A timer never fires early, however loaded the machine: this bound holds.
    EXPECT_GE(ms_between(restarted_at, calls[1]), 50.0)
        << "start() after stop() must make the first call one period from then";
}

TEST(Task5_PeriodicCallback, AnExceptionIsReportedAndTheCallsGoOn) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    int calls = 0;
    PeriodicCallback tick(loop, [&] {
        if (++calls == 3) loop.stop();
        throw std::runtime_error("tick failed");
    }, 5ms);
    tick.start();
    ::testing::internal::CaptureStderr();
    loop.start();
    std::string reported = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(calls, 3) << "the calls stopped after an exception";
    EXPECT_NE(reported.find("tick failed"), std::string::npos) << reported;
}

TEST(Task5_PeriodicCallback, DestroyingItStopsIt) {
    IOLoop loop;
    LoopDeadline deadline(loop, 5s);
    int calls = 0;
    {
        PeriodicCallback tick(loop, [&] { ++calls; }, 5ms);
        tick.start();
    }
    // A pending call into the destroyed object would be a use after free.
    loop.call_later(40ms, [&] { loop.stop(); });
    loop.start();
    EXPECT_EQ(calls, 0);
}

TEST(Task5_PeriodicCallback, APeriodThatIsNotPositiveIsRefused) {
    IOLoop loop;
    EXPECT_THROW(PeriodicCallback(loop, [] {}, 0ms), std::invalid_argument);
    EXPECT_THROW(PeriodicCallback(loop, [] {}, -5ms), std::invalid_argument);
}

}  // namespace
}  // namespace course::testing
