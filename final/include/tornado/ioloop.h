// tornado/ioloop.h: the event loop every other module runs on.
//
// One thread runs IOLoop::start(). Each turn of the loop it
//
//   1. runs the callbacks queued with add_callback (from any thread), as one
//      batch: a callback queued by a callback waits for the next turn;
//   2. runs the timeouts that are due (call_later / call_at);
//   3. asks the kernel which descriptors are ready (epoll, or io_uring: see
//      Backend), waiting at most until the next timeout (not at all if
//      callbacks are queued), and calls each ready descriptor's handler.
//
//        add_callback ──► [callbacks] ─┐
//        call_later ────► [timer heap]─┼─► start(): one turn ... repeat
//        add_handler ───► [poller]    ─┘            until stop()
//
// It is the course's chapter 03 loop, grown up for production:
//
//   * no allocation on an idle turn, and none per callback for a callable of
//     up to three pointers (Function); batches are swapped, not copied;
//   * add_callback on the loop's own thread takes no lock and makes no
//     system call; another thread's add_callback takes a lock, and only the
//     first one after the loop last woke writes to the eventfd;
//   * handlers live in a table indexed by descriptor (no map, no node per
//     connection); a stale epoll event for a descriptor that was removed and
//     reused in the same turn is recognised and dropped;
//   * timeouts are a binary heap over a slot table: call_later and
//     remove_timeout are O(log n) and O(1), and cancelled entries are swept
//     out when they would be most of the heap; timeouts that many objects
//     share the length of (idle connections) skip the heap: one sorted list
//     per length, its entries inside their owners (detail::ListedTimeout);
//   * run_sync, PeriodicCallback, run_in_executor, as Tornado has them;
//   * set_blocking_log_threshold: a warning names any callback, timeout or
//     handler that held the loop longer than the threshold;
//   * start_tracing (or TORNADO_TRACE=PATH): a trace of every turn, callback,
//     HTTP request and coroutine, for Perfetto or chrome://tracing;
//   * install_signal_handlers: SIGINT / SIGTERM stop the loop gracefully
//     (servers stop accepting and finish in-flight requests, for a bounded
//     time, through shutdown hooks), and the program exits normally;
//   * close() (and the destructor) cancels every Future that a coroutine is
//     still waiting on and runs the loop until those coroutines have
//     unwound, so no coroutine frame outlives its loop.
//
// The rule of the whole course still holds: a handler or callback must not
// block, because while one runs, nothing else does.
//
// Threads: call everything on the loop's thread, except add_callback,
// spawn_callback and stop, which any thread may call (Tornado's contract).
//
// Example:
//
//   tornado::IOLoop loop;
//   loop.call_later(std::chrono::seconds(1), [&] { std::puts("tick"); loop.stop(); });
//   loop.start();
//
//   int answer = loop.run_sync([]() -> tornado::Task<int> {
//       co_await tornado::sleep(std::chrono::milliseconds(10));
//       co_return 42;
//   });
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/log.h"
#include "tornado/util.h"

namespace tornado {

class IOLoop;

namespace detail {

// What the kernel reports (see final/src/core/poller.h): a descriptor that is
// ready (the token it was added with, and its events), or a request it has
// finished (the request's token, and its result).
struct ReadyEvent {
    std::uint64_t token;
    std::uint32_t events;  // a ready descriptor's: epoll's bits
    std::int32_t result;   // a finished request's: what its system call returned, or -errno
    std::int32_t buffer;   // a finished receive's: the poller's buffer holding the bytes, or -1
    bool completion;       // a finished request, not a ready descriptor
};
class Poller;

// What a queued callback is, for the blocking-loop warning.
enum class CallbackKind : std::uint8_t { callback, timeout, handler, future, coroutine, signal };

struct QueuedCallback {
    Function<void()> function;
    SourceLocation where;
    CallbackKind kind = CallbackKind::callback;
};

// Resumes a coroutine at the loop's next turn (for gen's `moment`).
void schedule_resume(IOLoop& loop, std::coroutine_handle<> coroutine);

class ListedTimeout;     // a timeout of a length many share (below)
class TimeoutList;       // the loop's list of the ListedTimeouts of one length (timeout_list.h)
class RemoteQueue;       // the part of the loop other threads talk to (ioloop.cpp)
struct RequestRefusals;  // defined by tests: makes the loop refuse requests (ring full)
struct SignalState;      // the signals this loop handles (ioloop.cpp)

// The loop's tracer, and where an executor's threads record while the loop
// traces (tornado/trace.h).
class Tracer;
struct OtherThreadsEvents;

// For run_in_executor while the loop traces: where its job records, and
// the record of a job that began at `started`, made on the job's thread.
std::shared_ptr<OtherThreadsEvents> job_events(Tracer& tracer);
void record_job(OtherThreadsEvents& events, SourceLocation where,
                std::chrono::steady_clock::time_point started);
Tracer* current_tracer() noexcept;

template <typename R>
auto to_future(R&& result);

}  // namespace detail

// How IOLoop::start_tracing records.
struct TraceOptions {
    // The most events kept: when the ring is full, each new event takes the
    // place of the oldest, and the file counts those in its
    // "dropped_events". About 100 bytes each (100 MB for the default, the
    // pages used only as the ring fills); an eighth of the ring is kept for
    // the executor's threads.
    std::size_t max_events = 1'000'000;
    // Whether SIGUSR2 writes the file (the loop goes on tracing). Not
    // installed where the loop handles SIGUSR2 already, or another loop does.
    bool write_on_sigusr2 = true;
};

// The event loop (Tornado's IOLoop): the module comment says how a turn
// goes and which calls other threads may make.
class IOLoop {
public:
    // Events a handler can ask for and receive (epoll's bits, which are
    // Tornado's numbers too). NONE: nothing but ERROR.
    static constexpr std::uint32_t NONE = 0;
    // Readable: bytes to read, a connection to accept, or the peer's close.
    static constexpr std::uint32_t READ = EPOLLIN;
    // Writable: room to send, or a connect() that has finished.
    static constexpr std::uint32_t WRITE = EPOLLOUT;
    // A hang-up or a socket error: always reported, asked for or not.
    static constexpr std::uint32_t ERROR = EPOLLERR | EPOLLHUP;
    // Edge-triggered: report readiness once per change, not while it lasts.
    // The handler must then read or write until EAGAIN.
    static constexpr std::uint32_t EDGE = EPOLLET;
    // Not readiness: the receive the handler asked for has reported
    // (submit_recv, io_uring only); received() says what came. No epoll
    // bit is this one.
    static constexpr std::uint32_t RECEIVED = 1u << 24;
    // Not readiness either, and only for a handler that asks for it: the
    // loop is closing. close() calls each such handler once with CLOSING,
    // while it can still run what they post, as it cancels the Futures
    // still awaited: a handler's owner waiting by callback (an IOStream's
    // read) is told then, as an awaiting coroutine is.
    static constexpr std::uint32_t CLOSING = 1u << 25;

    using Clock = std::chrono::steady_clock;
    // Two pointers inline (a shared_ptr, which is what IOStream's handler
    // holds): the loop keeps one per descriptor. A handler that captures
    // more is boxed, once, when added.
    using Handler = Function<void(int fd, std::uint32_t events), 2 * sizeof(void*)>;
    using Callback = Function<void()>;
    // What a server does when asked to stop: stop accepting, and return a
    // Future that resolves once its in-flight work is finished.
    using ShutdownHook = Function<Future<void>()>;

    // Names a pending timeout, for remove_timeout().
    class Timeout {
    public:
        Timeout() = default;
        friend bool operator==(const Timeout&, const Timeout&) = default;

    private:
        friend class IOLoop;
        Timeout(std::uint32_t slot, std::uint32_t generation)
            : slot_(slot), generation_(generation) {}
        std::uint32_t slot_ = UINT32_MAX;
        std::uint32_t generation_ = 0;
    };

    // How the loop asks the kernel which descriptors are ready (docs/reference/ioloop.md,
    // "Readiness and completion"):
    //   epoll     the default: one epoll_ctl per change, one epoll_wait per turn;
    //   io_uring  poll requests in a ring shared with the kernel: a turn's
    //             changes and its wait go in one io_uring_enter (Linux 5.19+);
    //             IOStream's receives and sends go in it too, as
    //             requests (submit_recv, submit_send).
    // The handlers see the same events either way. One difference: the
    // kernel looks at an io_uring poll's descriptor only when the turn
    // submits it, so add_handler does not throw for a bad one: a closed
    // descriptor reaches its handler as ERROR, and a regular file (which
    // epoll refuses with EPERM) is always ready, as poll(2) says.
    enum class Backend : std::uint8_t { epoll, io_uring };

    // A new loop becomes the current loop of the thread that makes it (until
    // it is destroyed or a newer one is made). Its backend: the one given,
    // else the one configure() set, else the environment's TORNADO_IOLOOP
    // ("epoll" or "io_uring"; anything else throws std::invalid_argument),
    // else epoll. Where io_uring is refused (an old kernel, a container
    // that forbids it, a build without liburing), the loop logs why once
    // and uses epoll.
    IOLoop();
    explicit IOLoop(Backend backend);
    // close(), if not done yet.
    ~IOLoop();
    IOLoop(const IOLoop&) = delete;
    IOLoop& operator=(const IOLoop&) = delete;

    // The backend of the loops made from now on, on any thread (Tornado's
    // IOLoop.configure, which chooses the loop's class); nullopt goes back
    // to the environment's choice.
    static void configure(std::optional<Backend> backend) noexcept;
    // The backend this loop uses (epoll if io_uring was asked for but refused).
    Backend backend() const noexcept;
    // "epoll" or "io_uring", as TORNADO_IOLOOP spells them.
    static const char* backend_name(Backend backend) noexcept;
    // Whether a loop made now could use `backend`; if not, *why says why.
    static bool backend_available(Backend backend, std::string* why = nullptr);

    // The loop of the calling thread: the one running start() here, else the
    // newest loop made on this thread that is still alive, else a new one
    // owned by the thread. Tornado's IOLoop.current().
    static IOLoop& current();
    // The same, but nullptr instead of making one (IOLoop.current(instance=False)).
    static IOLoop* try_current() noexcept;
    // The loop whose start() runs on the calling thread, else nullptr
    // (asyncio's get_running_loop(), which raises instead).
    static IOLoop* running_loop() noexcept;

    // --- descriptors ---------------------------------------------------------

    // Calls handler(fd, events) whenever fd is ready for `events` (READ,
    // WRITE, maybe EDGE). The loop does not own fd: call remove_handler
    // before closing it. Throws std::logic_error if fd already has a handler.
    void add_handler(int fd, Handler handler, std::uint32_t events,
                     SourceLocation where = SourceLocation::current());
    // Changes which events fd's handler wants (for example WRITE only while
    // output is waiting). No system call when nothing changes.
    void update_handler(int fd, std::uint32_t events);
    // Stops watching fd (no effect if it is not watched). A handler may
    // remove itself, or any other, while it runs.
    void remove_handler(int fd) noexcept;

    // --- requests by completion (io_uring) -----------------------------------

    // On the io_uring backend the loop can also do I/O the other way round:
    // it asks the kernel to send or to receive, and hears when the kernel
    // has (a completion, not readiness). The requests of a turn go to the
    // kernel together, with the call that waits. IOStream reads and sends
    // so on this backend (docs/reference/ioloop.md, "Readiness and completion").
    //
    // A send's `done` runs from the loop with the system call's kind of
    // result (a count, or -errno). Two pointers inline (a shared_ptr, what
    // IOStream's sends hold), as the Handler.
    using RequestDone = Function<void(int result), 2 * sizeof(void*)>;
    // Whether submit_send and submit_recv work here: the io_uring backend.
    bool io_by_completion() const noexcept;
    // Returned instead of a request number when the request could not be
    // made (on epoll, or the ring is full): then `done` will not run, and
    // the caller does the I/O another way.
    static constexpr std::uint32_t kNoRequest = UINT32_MAX;
    // Asks the kernel to send all of `bytes` on socket fd (MSG_NOSIGNAL:
    // no SIGPIPE). `bytes` must stay as they are until `done` runs, with
    // bytes.size() once the kernel has taken every byte (it waits for room
    // as long as it takes), fewer if an error came midway, or -errno.
    std::uint32_t submit_send(int fd, std::string_view bytes, RequestDone done);
    // The size of each of the loop's receive buffers (submit_recv): the
    // most bytes one receive brings.
    static constexpr std::size_t kRecvBufferSize = 2048;
    // Asks the kernel to receive from socket fd once it has bytes, into one
    // of the loop's buffers of kRecvBufferSize bytes, picked when the bytes
    // come (so a connection that waits holds no buffer). The report goes to
    // fd's handler, which must be added first: it is called with RECEIVED,
    // and received() gives what recv() would have given. So a receive the
    // kernel is waiting on costs the loop nothing beyond the handler's slot
    // (a connection waiting for its next request has one out all the time).
    // bytes_waiting: the caller knows there are bytes (after ENOBUFS), so
    // the kernel receives at once; otherwise it first waits for them, as a
    // poll does. False when the request could not be made (on epoll, no
    // handler, or the ring is full): then the handler hears nothing, and
    // the caller reads another way. One receive per descriptor at a time.
    bool submit_recv(int fd, bool bytes_waiting = false);
    // What a receive brought (received()): `result` is the bytes' count
    // (bytes.size(); all of the buffer when more may be waiting), 0 at the
    // peer's close, or -errno; -ENOBUFS when every buffer was in use at
    // that moment (the bytes are still in the socket: ask again, or read
    // them with recv()).
    struct Received {
        int result = 0;
        std::string_view bytes;
    };
    // During a handler's call with RECEIVED, what the receive brought; the
    // bytes are the loop's, valid during that call only. Outside such a
    // call: a result of 0 and no bytes.
    const Received& received() const noexcept { return received_; }
    // Asks the kernel to drop fd's receive at once, so that closing the
    // socket then closes it. Before remove_handler: a receive's report for
    // a handler removed since is dropped, never delivered.
    void cancel_recv(int fd) noexcept;
    // Asks the kernel to drop a send whose `done` has not run yet, at once,
    // so that closing the socket then closes it. `done` still runs, with
    // -ECANCELED or with what the kernel had already done.
    void cancel_request(std::uint32_t request) noexcept;
    // Hands the kernel the requests made so far in this turn now, instead
    // of with the turn's wait: for a caller that has sent something and is
    // about to keep the loop busy (HTTP/2 sending a burst's first answers
    // before it runs the next handlers). Nothing to do on epoll, whose
    // sends are system calls already.
    void submit_requests() noexcept;

    // --- callbacks -----------------------------------------------------------

    // Runs callback on the loop's thread at the next turn. Safe from any
    // thread. A callback returning a Task (a coroutine) is kept alive until
    // the coroutine finishes, as with spawn_callback.
    template <typename F>
    void add_callback(F&& callback, SourceLocation where = SourceLocation::current()) {
        if constexpr (std::is_void_v<std::invoke_result_t<std::decay_t<F>&>>) {
            post({Callback(std::forward<F>(callback)), where, detail::CallbackKind::callback});
        } else {
            spawn_callback(std::forward<F>(callback), where);
        }
    }

    // Runs callback at the next turn as fire-and-forget: when it returns a
    // Task or Future, the callable (and what it captured) lives until that
    // finishes, and its exception is logged. Safe from any thread.
    template <typename F>
    void spawn_callback(F&& callback, SourceLocation where = SourceLocation::current());

    // Runs callback(future) on this loop once `future` is done.
    template <typename T, typename F>
    void add_future(const Future<T>& future, F&& callback) {
        future.add_done_callback(std::forward<F>(callback));
    }

    // --- timeouts ------------------------------------------------------------

    // Runs callback once, after `delay` (rounded up to the clock's tick):
    // call_at(time() + delay).
    template <typename Rep, typename Period>
    Timeout call_later(std::chrono::duration<Rep, Period> delay, Callback callback,
                       SourceLocation where = SourceLocation::current()) {
        return call_at(time() + std::chrono::ceil<Clock::duration>(delay), std::move(callback),
                       where);
    }
    // Runs callback once, at `when` on the loop's clock (time()), or as
    // soon as the loop looks at its timeouts if that has passed; never
    // inside this call. Timeouts due at the same time run in the order they
    // were set. On a closed loop: nothing runs, and the Timeout is empty.
    Timeout call_at(Clock::time_point when, Callback callback,
                    SourceLocation where = SourceLocation::current());
    // Tornado's add_timeout: a deadline, or a delay from now.
    Timeout add_timeout(Clock::time_point deadline, Callback callback,
                        SourceLocation where = SourceLocation::current()) {
        return call_at(deadline, std::move(callback), where);
    }
    template <typename Rep, typename Period>
    Timeout add_timeout(std::chrono::duration<Rep, Period> delay, Callback callback,
                        SourceLocation where = SourceLocation::current()) {
        return call_later(delay, std::move(callback), where);
    }
    // Cancels a timeout that has not run yet (no effect if it has).
    void remove_timeout(Timeout timeout) noexcept;

    // The loop's clock: monotonic, never jumps when the wall clock is set.
    static Clock::time_point time() noexcept { return Clock::now(); }
    // When the current turn's events arrived: the clock read once as
    // epoll_wait returned (and as start() begins). What is stamped per
    // event, such as a request's start time, takes it from here instead of
    // reading the clock again (nginx caches its time the same way).
    Clock::time_point turn_time() const noexcept { return turn_time_; }

    // --- running -------------------------------------------------------------

    // Runs the loop until stop(). Throws std::logic_error if it is already
    // running, or closed.
    void start();
    // Makes start() return after the current turn (if the loop is not
    // running, the next start() runs one turn and returns). Any thread.
    void stop() noexcept;
    // Whether start() is running now (on any thread).
    bool is_running() const noexcept {
        Life life = life_.load(std::memory_order_relaxed);
        return life == Life::running || life == Life::draining;
    }

    // Starts the loop, calls func() on it, and stops when what func returned
    // (a Task, a Future, or a plain value) is done; returns its value or
    // rethrows its exception. With a timeout, cancels the Future and throws
    // TimeoutError when time runs out (the coroutine itself is not stopped;
    // close() will cancel it if it is still waiting then).
    template <typename F>
    auto run_sync(F&& func, std::optional<Clock::duration> timeout = std::nullopt);

    // Shuts the loop down: cancels every Future a coroutine or callback is
    // still waiting on and runs the queued callbacks until those coroutines
    // have unwound (bounded), shuts down the default executor, restores the
    // signal handlers, then drops every timeout and handler. The loop
    // cannot be started again. The destructor calls it.
    void close();

    // --- threads -------------------------------------------------------------

    // The loop's thread pool (made on first use, closed by close()).
    ThreadPoolExecutor& default_executor();
    // Replaces it (IOLoop.set_default_executor); the old one finishes its
    // jobs first.
    void set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor);
    // Runs func() on `executor` (nullptr: the default executor) and returns a
    // Future for its result, resolved on this loop's thread. func must not
    // touch loop objects: it runs on another thread.
    template <typename F>
    auto run_in_executor(ThreadPoolExecutor* executor, F&& func,
                         SourceLocation where = SourceLocation::current())
        -> Future<std::invoke_result_t<std::decay_t<F>&>>;

    // --- diagnostics ---------------------------------------------------------

    // Logs a warning when one callback, timeout or handler runs longer than
    // `seconds` (0 or less: off, the default). Costs two clock reads per
    // callback while on.
    void set_blocking_log_threshold(double seconds);
    // How many times another thread (or stop()) had to wake the loop through
    // its eventfd; a signal's wake-up is not counted (its handler may only
    // write the eventfd). For tests and benchmarks.
    std::uint64_t wakeups_sent() const noexcept;

    // --- tracing (docs/reference/ioloop.md, "Tracing the loop") ---------------

    // Starts recording what the loop does, to be written to `path` as
    // Chrome trace-event JSON (open it in https://ui.perfetto.dev or
    // chrome://tracing): each turn, with its wait and every callback,
    // timeout and handler it ran; each HTTP request, coroutine and
    // WebSocket message; each run_in_executor job, on its thread; the
    // queued callbacks and open descriptors, once per turn. The events go
    // into a ring of options.max_events; nothing is formatted until the
    // file is written: by stop_tracing(), write_trace(), close() (and so
    // the destructor), and on SIGUSR2 (options.write_on_sigusr2). "%p" in
    // `path` becomes the process id. The environment's TORNADO_TRACE=PATH
    // does the same for the first loop of the process that starts. Throws
    // std::logic_error if the loop is closed or traces already.
    void start_tracing(std::string path, TraceOptions options = {});
    // Writes the file and stops recording; no effect when not tracing.
    void stop_tracing();
    // Writes the file now and goes on recording (what SIGUSR2 does). False
    // when not tracing, or when the file could not be written (logged).
    bool write_trace();
    // Whether start_tracing (or TORNADO_TRACE) is in force.
    bool is_tracing() const noexcept { return tracer_ != nullptr; }

    // --- signals and graceful stop ---------------------------------------------

    // Runs handler on the loop when the process receives `signal`. The signal
    // handler itself only flags the signal and wakes the loop (the self-pipe
    // trick), so any thread may receive it. One loop per signal; the old
    // disposition comes back with remove_signal_handler or close().
    void add_signal_handler(int signal, Callback handler);
    // Puts back the disposition add_signal_handler replaced; no effect if
    // this loop does not handle `signal`.
    void remove_signal_handler(int signal) noexcept;

    // SIGINT and SIGTERM call graceful_stop(grace); a second one stops at once.
    void install_signal_handlers(Clock::duration grace = std::chrono::seconds(5));

    // Registers what to do on a graceful stop (see ShutdownHook). Returns an
    // id for remove_shutdown_hook.
    std::uint64_t add_shutdown_hook(ShutdownHook hook);
    // Forgets the hook with that id (no effect for an unknown one, or 0).
    void remove_shutdown_hook(std::uint64_t id) noexcept;
    // Runs every shutdown hook, waits for their Futures at most `grace`, then
    // stop()s. Called again while waiting: stops at once.
    void graceful_stop(Clock::duration grace = std::chrono::seconds(5));

private:
    friend class detail::FutureStateBase;
    friend class PeriodicCallback;
    friend void detail::schedule_resume(IOLoop& loop, std::coroutine_handle<> coroutine);
    friend struct detail::RequestRefusals;
    friend class detail::ListedTimeout;
    friend class detail::TimeoutList;
    friend detail::Tracer* detail::current_tracer() noexcept;

    // One per descriptor number, so every connection has one: a small
    // Handler, and the flag in the generation's word (40 bytes, not 56).
    struct HandlerSlot {
        Handler handler;
        SourceLocation where;
        std::uint32_t events = 0;
        std::uint32_t generation : 30 = 0;  // wraps at 2^30 (a token's bits 32 to 61)
        std::uint32_t active : 1 = 0;
    };
    struct TimerSlot {
        Callback callback;
        SourceLocation where;
        std::uint32_t generation = 0;
        bool active = false;
    };
    struct TimerEntry {
        Clock::time_point when;
        std::uint64_t sequence;  // equal deadlines run in the order they were set
        std::uint32_t slot;
        std::uint32_t generation;
    };
    // One per send in the kernel. A free slot names the next free one.
    struct RequestSlot {
        RequestDone done;
        std::uint32_t generation : 30 = 0;  // as a handler's: the token's bits 32 to 61
        std::uint32_t active : 1 = 0;
        std::uint32_t next_free = 0;
    };
    struct DueTimer {
        std::uint32_t slot;
        std::uint32_t generation;
    };

    // Queues a callback: without a lock on the loop's own thread, through
    // the remote queue from any other.
    void post(detail::QueuedCallback callback);
    void run_local_callbacks();
    void run_remote_callbacks();
    void run_due_timeouts();
    int poll_timeout_ms();
    void run_turn();
    void run_traced_turn();
    void dispatch_ready(std::size_t ready);
    void trace_if_the_environment_asks();
    void take_sigusr2();
    void update_timing_needed() noexcept;
    void dispatch_handler(std::uint64_t token, std::uint32_t events);
    std::uint32_t take_request_slot(RequestDone& done);
    void release_request_slot(std::uint32_t request) noexcept;
    bool refused_by_test() noexcept;
    void dispatch_request(const detail::ReadyEvent& event);
    void finish_send(const detail::ReadyEvent& event);
    void finish_requests() noexcept;
    void on_wake();
    void run_signal_handlers();
    bool drain_for_close();
    void tell_handlers_closing();

    template <typename F>
    void run_guarded(detail::CallbackKind kind, SourceLocation where, int fd, F&& function);
    void report_exception(detail::CallbackKind kind, SourceLocation where, int fd);
    void report_blocking(Clock::duration took, detail::CallbackKind kind, SourceLocation where,
                         int fd);

    HandlerSlot* handler_slot(int fd) noexcept;
    // The list of the ListedTimeouts of `length`, made on first use;
    // nullptr once the loop is closed. A list that empties is dropped when
    // its timer next fires (drop_timeout_list).
    detail::TimeoutList* timeout_list(Clock::duration length);
    void drop_timeout_list(const detail::TimeoutList* list) noexcept;
    void compact_timer_heap();
    void free_timer_slot(std::uint32_t slot) noexcept;

    // The Futures someone waits on, for close() (see FutureStateBase).
    void track_pending(detail::FutureStateBase* state) noexcept;
    void untrack_pending(detail::FutureStateBase* state) noexcept;

    // On this thread's list of loops (for current()).
    void link_to_thread() noexcept;
    void unlink_from_thread() noexcept;

    std::unique_ptr<detail::Poller> poller_;
    std::shared_ptr<detail::RemoteQueue> remote_;

    std::vector<detail::QueuedCallback> callbacks_;  // loop thread only
    std::vector<detail::QueuedCallback> batch_;      // the batch being run

    // Indexed by descriptor. A deque, so that adding a handler for a higher
    // descriptor never moves the slot of a handler that is running.
    std::deque<HandlerSlot> handlers_;
    int dispatching_fd_ = -1;
    // A handler added for the descriptor whose handler is running (after it
    // removed itself): installed once the running one returns.
    Handler successor_handler_;

    std::vector<TimerEntry> timer_heap_;  // a min-heap on (when, sequence)
    std::vector<TimerSlot> timer_slots_;
    std::vector<std::uint32_t> free_timer_slots_;
    std::vector<DueTimer> due_;
    std::uint64_t next_timer_sequence_ = 0;
    std::size_t cancelled_timers_ = 0;
    // One per length in use: a handful (a server's header_timeout and
    // body_timeout), so a vector searched from the front.
    std::vector<std::unique_ptr<detail::TimeoutList>> timeout_lists_;

    // The sends the kernel has not answered yet, by number (submit_send).
    // The poller's token for one is (generation << 32) | number: a report
    // for a request whose number has been reused since is dropped. (A
    // receive has no slot: its token is its handler's, with
    // kHandlerReceiveBit.)
    // A deque, as handlers_: grown a block at a time, it keeps no unused
    // half (a vector doubles), and the free slots are linked through it.
    std::deque<RequestSlot> request_slots_;
    std::uint32_t first_free_request_ = kNoRequest;
    // A full submission ring refuses requests; the kernel hardly ever lets
    // it fill, so tests pretend it does: the next this many are refused.
    std::uint32_t refuse_requests_ = 0;

    std::vector<detail::ReadyEvent> ready_;  // one turn's events, as the poller gave them
    Received received_;                      // during a handler's call with RECEIVED

    // The loop's life, one value (asyncio, under Tornado's loop, keeps it in
    // _closed and the running thread's id; draining, while graceful_stop()'s
    // hooks finish, is the course's):
    //
    //          ┌──────── start() returns: a stop() taken at a turn's end ────────┐
    //          ▼                                                                 │
    //        idle ──start()──► running ──graceful_stop()──► draining            │
    //          │                  │                             │               │
    //          │                  └─────────────────────────────┴───────────────┘
    //          └──close()──► closing ──its drain is over──► closed
    //                  (callbacks still run,         (handlers, timers and callbacks
    //                   handlers may be added)         dropped; no work is taken)
    //
    // enter() makes every change, and refuses the rest with std::logic_error:
    // start() while running or draining ("already running"), start() once
    // closing or closed, close() while running or draining. close() once
    // closing or closed does nothing: a destructor run by close()'s own
    // drain may call it. Atomic: is_running() and close() may ask from
    // another thread, and two start()s race for one loop.
    enum class Life : std::uint8_t { idle, running, draining, closing, closed };
    // Moves the life to `to` for `action` (the method's name, for the
    // error); false for the one change that is refused quietly, a close()
    // once closing or closed, and for a graceful_stop() of a loop not running.
    bool enter(Life to, const char* action);
    static bool may_enter(Life from, Life to, const char* action);
    bool closed() const noexcept { return life_.load(std::memory_order_relaxed) == Life::closed; }
    std::atomic<Life> life_{Life::idle};
    // A stop() asked for, from any thread: taken when the current turn ends,
    // or (asked while idle) by the next start() after one turn. A request
    // beside the life above, not a stage of it.
    std::atomic<bool> stopping_{false};
    Clock::duration blocking_threshold_{0};
    // Whether run_guarded reads the clock around each callback: for the
    // blocking threshold, or for the tracer. With both off, this one test
    // is all that either costs per callback.
    bool timing_needed_ = false;
    std::unique_ptr<detail::Tracer> tracer_;  // while tracing
    bool tracer_owns_sigusr2_ = false;
    std::size_t open_descriptors_ = 0;  // handlers added and not removed, for the trace
    Clock::time_point turn_time_ = Clock::now();

    detail::FutureStateBase* pending_futures_ = nullptr;
    std::size_t pending_count_ = 0;

    std::unique_ptr<ThreadPoolExecutor> default_executor_;
    std::unique_ptr<detail::SignalState> signals_;

    std::vector<std::pair<std::uint64_t, ShutdownHook>> shutdown_hooks_;
    std::uint64_t next_hook_id_ = 1;

    IOLoop* thread_prev_ = nullptr;  // this thread's loops: prev is newer, next older
    IOLoop* thread_next_ = nullptr;
    IOLoop** thread_list_ = nullptr;
};

namespace detail {

// A timeout for the many objects that wait the same length of time: every
// keep-alive connection waits header_timeout for its next request. The
// loop's timer heap would hold an entry and a slot per connection (about
// 72 bytes) and reorder itself on every move. Here the loop keeps one list
// per length instead: a new deadline is now + length, never earlier than
// the ones already listed, so it goes at the list's end, the list stays
// sorted, and only its first entry needs a timer. Starting, moving and
// cancelling are a few pointer writes, and the entry lives inside its
// owner, which derives from this class and says in on_timeout() what
// happens (libev's manual calls the trick a linked list of timers).
class ListedTimeout {
public:
    ListedTimeout() = default;
    ListedTimeout(const ListedTimeout&) = delete;
    ListedTimeout& operator=(const ListedTimeout&) = delete;

    // on_timeout() runs `length` from now (rounded up to 4 ms: never
    // early) unless cancel_timeout() comes first. Replaces a pending one.
    // No effect on a closed loop.
    void start_timeout(IOLoop& loop, IOLoop::Clock::duration length);
    void cancel_timeout() noexcept;
    bool timeout_pending() const noexcept { return next_ != nullptr; }

protected:
    ~ListedTimeout() { cancel_timeout(); }
    // Runs on the loop once the deadline has passed; the timeout is no
    // longer pending by then. A loop closed first drops it unheard, as it
    // drops its other timeouts.
    virtual void on_timeout() = 0;

private:
    friend class TimeoutList;
    // The list is a ring through an entry of its own, so an entry leaves it
    // without knowing which list it is on.
    ListedTimeout* prev_ = nullptr;
    ListedTimeout* next_ = nullptr;
    IOLoop::Clock::time_point deadline_{};
};

}  // namespace detail

// Calls a function every `period` (Tornado's PeriodicCallback). The period
// runs from the start of one call to the start of the next. A call that
// takes longer than the period makes the next ones skip the missed slots
// and stay on the original grid, instead of running in a burst to catch up.
// A callback that returns a Task or Future is waited for before the next
// call is scheduled. `jitter` (0.1 = ±5%) spreads the calls of many
// periodic callbacks apart.
//
//   tornado::PeriodicCallback heartbeat([] { send_ping(); }, std::chrono::seconds(1));
//   heartbeat.start();   // on the current loop
class PeriodicCallback {
public:
    template <typename F>
    PeriodicCallback(F&& callback, IOLoop::Clock::duration period, double jitter = 0.0)
        : impl_(std::make_shared<Impl>()) {
        if (period <= IOLoop::Clock::duration::zero()) {
            throw std::invalid_argument("PeriodicCallback period must be positive");
        }
        impl_->period = period;
        impl_->jitter = jitter;
        impl_->callback = [callback = std::forward<F>(callback)]() mutable -> Future<void> {
            using R = std::invoke_result_t<std::decay_t<F>&>;
            if constexpr (std::is_void_v<R>) {
                callback();
                return Future<void>(nullptr);
            } else {
                return detail::to_future(callback());
            }
        };
    }
    ~PeriodicCallback() { stop(); }
    PeriodicCallback(const PeriodicCallback&) = delete;
    PeriodicCallback& operator=(const PeriodicCallback&) = delete;

    // Starts calling on the current loop; the first call is one period from now.
    void start();
    // Plans no more calls (a coroutine call under way runs on to its end).
    // Safe once the loop has closed; start() begins a new schedule.
    void stop() noexcept;
    bool is_running() const noexcept { return impl_->running; }

private:
    struct Impl {
        Function<Future<void>()> callback;
        IOLoop::Clock::duration period{};
        double jitter = 0.0;
        bool running = false;
        std::uint64_t epoch = 0;  // bumped by start(), so a stale run does not reschedule
        IOLoop* loop = nullptr;
        // Tells stop() whether `loop` is still there (a PeriodicCallback may
        // outlive its loop): the loop's remote queue, closed by close().
        std::weak_ptr<detail::RemoteQueue> loop_queue;
        IOLoop::Clock::time_point next_timeout{};
        IOLoop::Timeout timeout;
    };
    static void run(const std::shared_ptr<Impl>& impl, std::uint64_t epoch);
    static void schedule_next(const std::shared_ptr<Impl>& impl);

    std::shared_ptr<Impl> impl_;
};

// --- templates ------------------------------------------------------------------

namespace detail {

// What run_sync, spawn_callback and PeriodicCallback accept from a function:
// a Future as it is, anything convert_yielded knows (a Task, see gen.h), or
// a plain value in a Future already done.
template <typename R>
auto to_future(R&& result) {
    using Plain = std::remove_cvref_t<R>;
    if constexpr (is_future_v<Plain>) {
        return Plain(std::forward<R>(result));
    } else if constexpr (requires { convert_yielded(std::forward<R>(result)); }) {
        return convert_yielded(std::forward<R>(result));
    } else {
        Future<Plain> done;
        done.set_result(std::forward<R>(result));
        return done;
    }
}

// The Future type to_future makes of an R (void: Future<void>).
template <typename R>
struct FutureFor {
    using type = decltype(to_future(std::declval<R>()));
};
template <>
struct FutureFor<void> {
    using type = Future<void>;
};

void log_spawned_exception(std::exception_ptr error, SourceLocation where);
[[noreturn]] void throw_run_sync_timeout(IOLoop::Clock::duration timeout);

// The loop's queue for other threads; run_in_executor posts results to it.
// It outlives the loop while a thread holds it, and drops posts once the loop
// has closed.
bool post_remote(const std::shared_ptr<RemoteQueue>& queue, QueuedCallback callback);

}  // namespace detail

template <typename F>
void IOLoop::spawn_callback(F&& callback, SourceLocation where) {
    using Stored = std::decay_t<F>;
    post({Callback([callback = std::forward<F>(callback), where]() mutable {
              using R = std::invoke_result_t<Stored&>;
              if constexpr (std::is_void_v<R>) {
                  callback();
              } else {
                  // A coroutine lambda's captures live in the lambda, not in
                  // the coroutine frame: keep the lambda until the coroutine
                  // it started is done.
                  auto holder = std::make_shared<Stored>(std::move(callback));
                  auto future = detail::to_future((*holder)());
                  future_add_done_callback(future, [holder, where](auto done) {
                      if (!done.cancelled() && done.exception()) {
                          detail::log_spawned_exception(done.exception(), where);
                      }
                  });
              }
          }),
          where, detail::CallbackKind::callback});
}

template <typename F>
auto IOLoop::run_sync(F&& func, std::optional<Clock::duration> timeout) {
    using Stored = std::decay_t<F>;
    using R = std::invoke_result_t<Stored&>;
    using FutureType = typename detail::FutureFor<R>::type;
    using T = typename FutureType::value_type;

    // Heap cells, not stack references: a callback may outlive this call
    // when start() throws, or when the work goes on after a timeout.
    auto holder = std::make_shared<Stored>(std::forward<F>(func));
    auto cell = std::make_shared<FutureType>(nullptr);
    add_callback([this, holder, cell] {
        try {
            if constexpr (std::is_void_v<R>) {
                (*holder)();
                *cell = FutureType();
                cell->set_result();
            } else {
                *cell = detail::to_future((*holder)());
            }
        } catch (...) {
            *cell = FutureType();
            cell->set_exception(std::current_exception());
        }
        future_add_done_callback(*cell, [this, holder] { stop(); });
    });
    Timeout deadline;
    if (timeout) {
        deadline = call_later(*timeout, [this, cell] {
            // Cancelling runs the done callback, which stops the loop.
            if (!cell->valid() || !cell->cancel()) stop();
        });
    }
    start();
    if (timeout) remove_timeout(deadline);
    if (!cell->valid() || !cell->done() || cell->cancelled()) {
        detail::throw_run_sync_timeout(timeout.value_or(Clock::duration::zero()));
    }
    if constexpr (std::is_void_v<T>) {
        cell->result();
    } else {
        return T(std::move(cell->result()));
    }
}

template <typename F>
auto IOLoop::run_in_executor(ThreadPoolExecutor* executor, F&& func, SourceLocation where)
    -> Future<std::invoke_result_t<std::decay_t<F>&>> {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    if (executor == nullptr) executor = &default_executor();
    Future<R> future;
    // While the loop traces, the job's run is recorded on its thread, and
    // before its result is posted: a trace written once the result is in
    // has it.
    std::shared_ptr<detail::OtherThreadsEvents> trace =
        tracer_ ? detail::job_events(*tracer_) : nullptr;
    // The worker never copies the Future (its count is not atomic): it is
    // moved into the job here, and from the job into the callback that
    // resolves it on the loop.
    executor->submit([func = std::forward<F>(func), future, remote = remote_,
                      trace = std::move(trace), where]() mutable {
        Clock::time_point started = trace ? Clock::now() : Clock::time_point();
        Callback deliver;
        try {
            if constexpr (std::is_void_v<R>) {
                func();
                deliver = [future = std::move(future)] {
                    future_set_result_unless_cancelled(future);
                };
            } else {
                // The value first: if func throws, the Future is still here.
                R value = func();
                deliver = [future = std::move(future), value = std::move(value)]() mutable {
                    future_set_result_unless_cancelled(future, std::move(value));
                };
            }
        } catch (...) {
            deliver = [future = std::move(future), error = std::current_exception()] {
                future_set_exception_unless_cancelled(future, error);
            };
        }
        if (trace) detail::record_job(*trace, where, started);
        detail::post_remote(remote, {std::move(deliver), {}, detail::CallbackKind::future});
    });
    return future;
}

}  // namespace tornado
