// trace_main.cpp: ch08_trace, what the compiler does with a coroutine,
// printed step by step, and the same function written by hand as the
// state machine the compiler makes of it.
//
//   build/bin/ch08_trace
//
// Part 1 runs a coroutine whose promise and awaiter print every call the
// compiler makes to them. Part 2 runs a hand-written class that does the
// same thing with a `state` number and a switch: no coroutine at all.
// The two print the same "body" lines in the same order.
#include <chrono>
#include <coroutine>
#include <cstdio>
#include <exception>
#include <memory>

#include "ioloop.h"

namespace {

using namespace std::chrono_literals;
using course::IOLoop;

// --- Part 1: a coroutine that tells what happens to it --------------------------------

// The return type of a coroutine names its promise type; the compiler
// makes one promise per call, inside the frame, and calls these members.
struct Traced {
    struct promise_type {
        promise_type() { std::printf("  promise: constructed inside the new frame\n"); }
        ~promise_type() { std::printf("  promise: destroyed with the frame\n"); }
        Traced get_return_object() {
            std::printf("  promise: get_return_object() -> what the caller receives\n");
            return {};
        }
        std::suspend_never initial_suspend() {
            std::printf("  promise: initial_suspend() -> suspend_never: the body starts now\n");
            return {};
        }
        std::suspend_never final_suspend() noexcept {
            std::printf("  promise: final_suspend() -> suspend_never: the frame frees itself\n");
            return {};
        }
        void return_void() { std::printf("  promise: return_void() (co_return, or the end)\n"); }
        void unhandled_exception() { std::terminate(); }
    };
};

// An awaiter that resumes the coroutine from a timer of the loop.
struct TracedTimer {
    IOLoop& loop;
    std::chrono::milliseconds delay;

    bool await_ready() {
        std::printf("  awaiter: await_ready() -> false: suspend\n");
        return false;
    }
    void await_suspend(std::coroutine_handle<> me) {
        std::printf("  awaiter: await_suspend(handle): call_later(%lld ms, resume)\n",
                    static_cast<long long>(delay.count()));
        loop.call_later(delay, [me] {
            std::printf("  [loop] timer fired: handle.resume()\n");
            me.resume();
        });
    }
    void await_resume() { std::printf("  awaiter: await_resume(): the co_await's value\n"); }
};

Traced countdown(IOLoop& loop, int from) {
    for (int i = from; i > 0; --i) {
        std::printf("body: %d\n", i);
        co_await TracedTimer{loop, 10ms};
    }
    std::printf("body: liftoff\n");
    loop.stop();
}

// --- Part 2: the same function, as the compiler sees it ------------------------------

// The frame: the parameters and the locals that live across a co_await,
// plus the number of the suspension point to carry on from. resume() is
// the body cut at each co_await into the cases of a switch.
class CountdownMachine : public std::enable_shared_from_this<CountdownMachine> {
public:
    CountdownMachine(IOLoop& loop, int from) : loop_(loop), from_(from) {}

    void resume() {
        switch (state_) {
            case 0:  // the start
                i_ = from_;
                break;
            case 1:  // back from the co_await in the loop
                --i_;
                break;
        }
        if (i_ > 0) {
            std::printf("body: %d\n", i_);
            state_ = 1;  // where to carry on
            // await_suspend: someone else will call resume() later, and
            // holds the frame until then.
            loop_.call_later(10ms, [self = shared_from_this()] { self->resume(); });
            return;  // "suspended": back to whoever called resume()
        }
        std::printf("body: liftoff\n");
        loop_.stop();
    }  // the last holder lets go: the frame is freed (final_suspend never)

private:
    IOLoop& loop_;
    int from_;
    int i_ = 0;
    int state_ = 0;
};

}  // namespace

int main() {
    IOLoop loop;

    std::printf("Part 1: a coroutine, with every step the compiler takes printed\n");
    std::printf("main: calling countdown(loop, 2)\n");
    countdown(loop, 2);
    std::printf("main: countdown() returned: the coroutine is suspended at its co_await\n");
    std::printf("main: loop.start()\n");
    loop.start();
    std::printf("main: the loop stopped\n\n");

    std::printf("Part 2: the same function as a hand-written state machine\n");
    std::make_shared<CountdownMachine>(loop, 2)->resume();
    std::printf("main: resume() returned: the machine waits in state 1\n");
    loop.start();
    std::printf("main: the loop stopped\n");
    return 0;
}
