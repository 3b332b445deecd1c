// coroutine_fixture.h: a loop driven by the test thread, and leak checks.
//
// Every test of the chapter is a leak check: TearDown fails the test if a
// coroutine frame it made is still alive (the promises count their
// frames: live_coroutine_frames()). Future states cannot be counted from
// outside chapter 07, so tests that care put a Tracked value or throw a
// TrackedError: both count their live copies, and a Future state left
// behind keeps one alive. The sanitizer build (-DSANITIZE=address) adds
// LeakSanitizer on top, for whatever the counters miss.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

#include "future.h"
#include "gen.h"
#include "ioloop.h"
#include "task.h"

namespace course::testing {

using namespace std::chrono_literals;

// A value that counts its live copies.
struct Tracked {
    explicit Tracked(int v = 0) : value(v) { ++live; }
    Tracked(const Tracked& other) : value(other.value) { ++live; }
    Tracked& operator=(const Tracked&) = default;
    ~Tracked() { --live; }

    int value;
    // Atomic: a pool's worker (task 4) makes and drops copies too.
    static inline std::atomic<int> live = 0;
};

// An exception that counts its live copies (an exception_ptr keeps one).
struct TrackedError : std::runtime_error {
    explicit TrackedError(const std::string& what) : std::runtime_error(what) { ++live; }
    TrackedError(const TrackedError& other) : std::runtime_error(other) { ++live; }
    ~TrackedError() override { --live; }

    static inline std::atomic<int> live = 0;
};

class CoroutineTest : public ::testing::Test {
protected:
    void SetUp() override {
        frames_before_ = live_coroutine_frames();
        tracked_before_ = Tracked::live;
        errors_before_ = TrackedError::live;
    }

    void TearDown() override {
        EXPECT_EQ(live_coroutine_frames(), frames_before_)
            << "coroutine frames left alive: a coroutine never finished, or nobody freed it";
        EXPECT_EQ(Tracked::live.load(), tracked_before_) << "a Tracked value outlived the test";
        EXPECT_EQ(TrackedError::live.load(), errors_before_) << "a TrackedError outlived the test";
    }

    // Frames made by this test and still alive.
    int frames_alive() const { return live_coroutine_frames() - frames_before_; }

    // Runs the loop until `task` is done, and returns its value or throws
    // its exception. If it is not done within `timeout`, the test stops
    // there with a TimeoutError that says what never finished, for how
    // long it waited and where: "the connect never finished: waited 10 s
    // (run at connect_test.cpp:99)". A TimeoutError the task itself threw
    // passes through as it is.
    template <typename T>
    T run(Task<T> task, std::chrono::milliseconds timeout = 5s, std::string_view what = "the task",
          std::source_location where = std::source_location::current()) {
        try {
            return run_sync(loop, std::move(task), timeout);
        } catch (const TimeoutError& error) {
            // run_sync's own says "run_sync:"; any other the task threw.
            if (std::string_view(error.what()).substr(0, 9) != "run_sync:") throw;
            throw TimeoutError(std::string(what) + " never finished: waited " +
                               duration_text(timeout) + " (run at " + short_path(where.file_name()) +
                               ":" + std::to_string(where.line()) + ")");
        }
    }

    // Runs the loop until done() holds or `timeout` passes; returns done().
    // It polls with a timer, so that it works whatever else is broken.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
        if (done()) return true;
        auto deadline = IOLoop::time() + timeout;
        std::function<void()> check = [&] {
            if (done() || IOLoop::time() >= deadline) {
                loop.stop();
            } else {
                loop.call_later(1ms, check);
            }
        };
        loop.call_later(1ms, check);
        loop.start();
        return done();
    }

    void run_for(std::chrono::milliseconds duration) {
        run_until([] { return false; }, duration);
    }

    // Runs the loop until `future` is done; fails the test if it is not
    // done within `timeout`.
    template <typename T>
    Future<T> wait(Future<T> future, std::chrono::milliseconds timeout = 5s) {
        EXPECT_TRUE(run_until([&] { return future.done(); }, timeout))
            << "the Future was not done within " << timeout.count() << " ms";
        return future;
    }

    // The message of the exception a done Future holds ("" if none).
    template <typename T>
    static std::string error_message(const Future<T>& future) {
        std::exception_ptr error = future.exception();
        if (!error) return "";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            return e.what();
        } catch (...) {
            return "(not a std::exception)";
        }
    }

    static double ms_since(IOLoop::Clock::time_point start) {
        return std::chrono::duration<double, std::milli>(IOLoop::time() - start).count();
    }

    IOLoop loop;

private:
    // "10 s", or "300 ms".
    static std::string duration_text(std::chrono::milliseconds duration) {
        if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
        return std::to_string(duration.count()) + " ms";
    }

    // "tests/09-database/connect_test.cpp" of an absolute path.
    static std::string short_path(std::string_view path) {
        std::size_t tests = path.rfind("/tests/");
        return std::string(tests == std::string_view::npos ? path : path.substr(tests + 1));
    }

    int frames_before_ = 0;
    int tracked_before_ = 0;
    int errors_before_ = 0;
};

}  // namespace course::testing
