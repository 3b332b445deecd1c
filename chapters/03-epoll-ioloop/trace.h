// trace.h: see the loop turn. TORNADO_TRACE=/tmp/t.json makes every IOLoop
// record each turn, the epoll_wait in it ("poll") and every callback,
// timeout and handler it runs, and write them when start() returns, as
// Chrome trace-event JSON (https://ui.perfetto.dev opens it; so does
// tools/trace_plot.py). The README's "See the loop" shows the format.
//
// Without TORNADO_TRACE each hook costs one test of a bool. Any thread may
// record. Names must be string literals: only the pointer is kept.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace course::trace {

namespace detail {
extern bool g_on;  // set once, before main(), from TORNADO_TRACE
using Clock = std::chrono::steady_clock;
void record_bar(const char* name, Clock::time_point start, const char* arg, long value);
void record_counter(const char* name, long value);
void write_file();
}  // namespace detail

inline bool on() { return detail::g_on; }

// A bar ("X" event) from construction to end(), or to destruction.
class Span {
public:
    explicit Span(const char* name, const char* arg = nullptr, long value = 0)
        : name_(on() ? name : nullptr), arg_(arg), value_(value) {
        if (name_ != nullptr) start_ = detail::Clock::now();
    }
    Span(const Span&) = delete;
    Span& operator=(const Span&) = delete;
    ~Span() { end(arg_, value_); }

    // Ends the bar now, with an argument learnt meanwhile ("ready": 3).
    void end(const char* arg, long value) {
        if (name_ != nullptr) detail::record_bar(name_, start_, arg, value);
        name_ = nullptr;  // recorded once
    }

private:
    const char* name_;  // nullptr: tracing is off, or the bar is recorded
    const char* arg_;
    long value_;
    detail::Clock::time_point start_;
};

// The function as given or, when tracing, one that records each of its
// calls as a bar `name` (a handler's with its descriptor, "fd": 7).
inline std::function<void()> traced(const char* name, std::function<void()> function) {
    if (!on()) return function;
    return [name, function = std::move(function)] {
        Span bar(name);
        function();
    };
}
inline std::function<void(int, std::uint32_t)> traced(
    const char* name, std::function<void(int, std::uint32_t)> handler) {
    if (!on()) return handler;
    return [name, handler = std::move(handler)](int fd, std::uint32_t events) {
        Span bar(name, "fd", fd);
        handler(fd, events);
    };
}

// A counter's value ("C" event), recorded only when it changed.
inline void counter(const char* name, long value) {
    if (on()) detail::record_counter(name, value);
}
// Writes everything recorded so far, replacing the file. IOLoop calls it
// each time start() returns: made for a program that runs its loop once or
// a few times, not for a test that starts one a thousand times.
inline void write() {
    if (on()) detail::write_file();
}

}  // namespace course::trace
