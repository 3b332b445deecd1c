// timers_main.cpp: the loop's timers and callbacks, without any sockets.
//
//   build/bin/ch03_timers
//
// Prints, with the time since start and the thread each line runs on:
//   - a tick every 250 ms (a timeout that sets the next one);
//   - two timeouts due at the same instant, which run in the order set;
//   - a timeout cancelled by another timeout before it was due: never runs;
//   - a worker thread that computes for 600 ms and hands its result to the
//     loop with add_callback, which wakes the loop through its eventfd;
// and stops the loop after 1.5 s. Nothing here ever sleeps on the loop's
// thread: the loop sleeps in epoll_wait until the next deadline.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "ioloop.h"

namespace {

using namespace std::chrono_literals;
using course::IOLoop;

const IOLoop::Clock::time_point kStart = IOLoop::time();
std::thread::id loop_thread;

void say(const std::string& what) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(IOLoop::time() - kStart);
    const char* thread = std::this_thread::get_id() == loop_thread ? "loop  " : "worker";
    std::printf("%5lld ms  [%s]  %s\n", static_cast<long long>(ms.count()), thread, what.c_str());
    std::fflush(stdout);
}

void tick(IOLoop& loop, int count) {
    say("tick " + std::to_string(count));
    loop.call_later(250ms, [&loop, count] { tick(loop, count + 1); });
}

}  // namespace

int main() {
    IOLoop loop;
    loop_thread = std::this_thread::get_id();

    tick(loop, 1);

    IOLoop::Clock::time_point same_instant = IOLoop::time() + 400ms;
    loop.call_at(same_instant, [] { say("first of two timeouts due at 400 ms"); });
    loop.call_at(same_instant, [] { say("second of two timeouts due at 400 ms"); });

    IOLoop::Timeout doomed = loop.call_later(700ms, [] { say("this never prints"); });
    loop.call_later(300ms, [&loop, doomed] {
        say("cancelling the timeout due at 700 ms");
        loop.remove_timeout(doomed);
    });

    // Work that would block the loop goes to another thread; only the result
    // comes back, through add_callback (the one call other threads may make).
    std::thread worker([&loop] {
        say("computing for 600 ms");
        std::this_thread::sleep_for(600ms);
        int answer = 6 * 7;
        say("done; handing the result to the loop");
        loop.add_callback([answer] { say("result from the worker: " + std::to_string(answer)); });
    });

    loop.call_later(1500ms, [&loop] {
        say("stopping");
        loop.stop();
    });
    loop.start();
    worker.join();
    return 0;
}
