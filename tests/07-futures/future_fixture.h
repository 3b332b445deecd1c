// future_fixture.h: a loop driven by the test thread. Everything in a
// chapter 07 test (Futures, streams, servers, the client) runs on this one
// loop, on the test's own thread: the test starts something, then runs the
// loop until it has happened, every wait bounded.
//
// The helpers poll with a timer rather than wait with add_done_callback,
// so that a broken add_done_callback fails the test instead of hanging it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <functional>
#include <string>

#include "future.h"
#include "ioloop.h"

namespace course::testing {

using namespace std::chrono_literals;

// Captures what is written to stderr (what the loop logs) from here until
// text(). If the test throws first (a TODO still in the code under test),
// the destructor ends the capture: GoogleTest allows one capture at a time
// and aborts the whole program at the next test's, which would turn every
// test after this one into a crash.
class StderrCapture {
public:
    StderrCapture() { ::testing::internal::CaptureStderr(); }
    ~StderrCapture() { text(); }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    // What was written since the capture began; the capture ends at the
    // first call.
    std::string text() {
        if (capturing_) {
            capturing_ = false;
            text_ = ::testing::internal::GetCapturedStderr();
        }
        return text_;
    }

private:
    bool capturing_ = true;
    std::string text_;
};

class LoopTest : public ::testing::Test {
protected:
    // Lets what the test started settle (closes reach their close
    // callbacks, failed chains run to their end) before the loop is
    // destroyed: a fetch still in flight when its loop goes away may leak
    // (see "Lifetime" in the chapter README), and LeakSanitizer would say so.
    void TearDown() override { run_for(20ms); }

    // Runs the loop until done() holds or `timeout` passes; returns done().
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

    // Runs the loop for about `duration`.
    void run_for(std::chrono::milliseconds duration) {
        run_until([] { return false; }, duration);
    }

    // Runs exactly the callbacks queued so far (one turn's worth); those
    // they queue wait for the next turn.
    void run_one_turn() {
        loop.add_callback([this] { loop.stop(); });
        loop.start();
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

    IOLoop loop;
};

// A Future<T> that a timer resolves with `value` after `delay`.
template <typename T>
Future<T> resolve_later(IOLoop& loop, std::chrono::milliseconds delay, T value) {
    Future<T> future(loop);
    loop.call_later(delay, [future, value] { future.set_result(value); });
    return future;
}

}  // namespace course::testing
