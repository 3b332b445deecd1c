// tornado/trace.h: the tracer behind IOLoop::start_tracing, and the hooks
// the other layers call.
//
// A user needs only ioloop.h (start_tracing, stop_tracing, write_trace,
// TraceOptions, and TORNADO_TRACE=PATH: docs/reference/ioloop.md, "Tracing
// the loop"). Everything here is detail: the Tracer the loop owns, and the
// few functions through which coroutines (gen.h), HTTP1Connection and
// WebSocket tell it what they do.
//
// Recording formats nothing: an event is a few numbers and pointers put
// into a ring (EventRing), and only write() turns the ring into Chrome's
// trace-event JSON, which https://ui.perfetto.dev and chrome://tracing open:
//
//   {"traceEvents": [
//     {"name": "turn", "cat": "loop", "ph": "X", "ts": 10.250, "dur": 31.008, "pid": 7, "tid": 7},
//     {"name": "HTTP request", "cat": "http", "ph": "b", "id": "0x5581e0", ...},
//     ...],
//    "displayTimeUnit": "ms",
//    "otherData": {"dropped_events": 0, ...}}
//
//   X     a turn of the loop; inside it the wait ("poll") and each
//         callback, timeout and handler; an executor job, on its thread
//   b/e   an HTTP request (cat "http"); a coroutine (cat "task"), with a
//         nested "running" span for each stretch it ran between suspensions
//   i     a WebSocket message received or sent
//   C     the loop's queued callbacks and open descriptors, once per turn
//   M     the names of the process and its threads
//
// Threads: the loop's thread records into its ring without a lock; other
// threads (executor jobs) into a second, smaller ring under a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/util.h"

namespace tornado::detail {

// How many loops of the process trace now. Every hook outside the loop
// reads it first, so that with tracing off a hook costs one load and one
// well-predicted branch, and nothing else.
inline std::atomic<int> g_tracing_loops{0};
inline bool tracing_anywhere() noexcept {
    return g_tracing_loops.load(std::memory_order_relaxed) != 0;
}

// --- the hooks -------------------------------------------------------------------
//
// Each records into the tracer of this thread's loop (IOLoop::try_current()),
// and does nothing when that loop does not trace. Call them only when
// tracing_anywhere(): that test is the caller's, so that it is inlined.

// "iostream.cpp:310": the file (without its folders) and the line of
// `where`, as a trace and the blocking warning name where a callback was
// scheduled; "" when nothing was recorded.
std::string short_place(SourceLocation where);

// A coroutine (its promise's address names it) was made, at `where` (its
// own function: see TaskPromise), suspended, resumed, or finished.
void trace_task_created(const void* task, SourceLocation where);
void trace_task_suspended(const void* task);
void trace_task_resumed(const void* task);
void trace_task_finished(const void* task);

// An HTTP request (the HTTP1Connection's address names it) began, with its
// head read; and its response's last byte was sent (status 0: the request
// ended without a response of its own, its stream closed).
void trace_request_started(const void* request, std::string_view method, std::string_view path);
void trace_request_finished(const void* request, int status);

// A WebSocket message of `bytes` bytes; `what` is a string literal,
// "websocket message received" or "websocket message sent".
void trace_websocket_message(const char* what, std::size_t bytes, bool binary);

// --- the tracer --------------------------------------------------------------------

// One event as recorded. What each field means depends on `what`; the
// writer (trace.cpp) turns it into one JSON object.
struct TraceEvent {
    enum class What : std::uint8_t {
        turn,            // X: a turn of the loop
        poll,            // X: the wait; value: events ready, extra: the timeout (ms)
        callback,        // X: a callback, timeout or handler; name: its kind; value: fd
        counter,         // C: name: the counter; value: its value
        request_begin,   // b: an HTTP request; text: "METHOD path"
        request_end,     // e: value: the status
        task_begin,      // b: a coroutine; where: its function
        task_end,        // e
        task_resumed,    // b: a "running" span inside the coroutine's
        task_suspended,  // e: the end of one
        websocket,       // i: name: which; value: bytes; extra: 1 if binary
        job,             // X: an executor job, on its own thread; where: run_in_executor's caller
    };

    std::int64_t start_ns = 0;     // since the trace began
    std::int64_t duration_ns = 0;  // X events
    std::uint64_t id = 0;          // b and e: the object the span is about
    std::int64_t value = 0;
    SourceLocation where{};
    std::string text;
    const char* name = "";  // a string literal
    int tid = 0;            // the kernel's thread id
    std::int32_t extra = 0;
    What what = What::turn;
};

// A ring of events: it grows to `capacity`, then each new event takes the
// place of the oldest, which is counted as dropped. The memory for all of
// it is reserved at once (the pages are touched only as the ring fills),
// so that no event is ever moved.
class EventRing {
public:
    explicit EventRing(std::size_t capacity);

    // The slot for a new event, with its old contents: the caller sets
    // every field it uses (Tracer::add does).
    TraceEvent& next_slot();
    // The events, oldest first.
    std::vector<const TraceEvent*> oldest_first() const;
    std::uint64_t dropped() const noexcept { return dropped_; }

private:
    std::vector<TraceEvent> events_;
    std::size_t capacity_;
    std::size_t oldest_ = 0;  // once full: the next slot to take
    std::uint64_t dropped_ = 0;
};

// What threads other than the loop's record (executor jobs). Shared with
// their jobs, which may finish after the Tracer is gone.
struct OtherThreadsEvents {
    OtherThreadsEvents(std::size_t capacity, std::chrono::steady_clock::time_point trace_origin)
        : origin(trace_origin), ring(capacity) {}
    const std::chrono::steady_clock::time_point origin;
    std::mutex mutex;  // guards ring
    EventRing ring;
};

// The tracer of one loop (IOLoop::start_tracing makes it). Its record_*
// functions run on the loop's thread only, with no lock.
class Tracer {
public:
    using Clock = std::chrono::steady_clock;

    Tracer(std::string path, const TraceOptions& options, IOLoop::Backend backend);

    // The loop itself (ioloop.cpp).
    void record_turn(Clock::time_point started, Clock::time_point ended);
    void record_poll(Clock::time_point started, Clock::time_point ended, int timeout_ms,
                     std::size_t ready);
    void record_callback(const char* kind, SourceLocation where, int fd, Clock::time_point started,
                         Clock::time_point ended);
    // Records each counter whose value changed since the last turn.
    void sample_counters(Clock::time_point now, std::size_t queued_callbacks,
                         std::size_t open_descriptors);

    // The hooks above, once they have found this tracer.
    void record_request_begin(const void* request, std::string_view method, std::string_view path);
    void record_request_end(const void* request, int status);
    void record_task(TraceEvent::What what, const void* task, SourceLocation where = {});
    void record_websocket(const char* what, std::size_t bytes, bool binary);

    // Where executor jobs record (job_events, record_job in ioloop.h).
    const std::shared_ptr<OtherThreadsEvents>& other_threads() const { return other_threads_; }

    // Writes every event recorded so far to the file, replacing it (through
    // a temporary file and a rename, so a reader never sees half of one);
    // recording goes on. False, and an error logged, when it cannot.
    bool write() const;
    const std::string& path() const noexcept { return path_; }

private:
    // The next slot of the loop's ring, its common fields set.
    TraceEvent& add(TraceEvent::What what, Clock::time_point at);
    std::int64_t since_origin(Clock::time_point at) const;

    std::string path_;
    const char* loop_name_;
    Clock::time_point origin_;
    int loop_tid_;
    std::size_t max_events_;
    EventRing ring_;
    std::shared_ptr<OtherThreadsEvents> other_threads_;
    // The counters' values at the last sample (-1: none yet).
    std::int64_t last_queued_callbacks_ = -1;
    std::int64_t last_open_descriptors_ = -1;
};

}  // namespace tornado::detail
