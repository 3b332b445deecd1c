// ioloop.cpp: see tornado/ioloop.h for the contract.
//
// One turn of start(): the callbacks queued on the loop's thread, then the
// ones other threads posted, then the due timeouts, then one wait for I/O
// (for at most the time to the next timeout) and each ready descriptor's
// handler. The wait is the poller's (poller.h: epoll_wait, or io_uring_enter).
// Other threads reach the loop only through RemoteQueue, which wakes a
// sleeping wait by writing to an eventfd; a signal handler wakes it the same
// way. Everything else (the handler table, the timer heap, the
// local queue) is touched by the loop's thread alone and takes no lock.
//
// The loop does not choose between level- and edge-triggered: it passes the
// caller's bits to the poller. IOStream asks for EDGE; the accept handler
// (netutil.cpp) and the loop's own eventfd are level-triggered.
#include "tornado/ioloop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>

#include "core/poller.h"
#include "core/timeout_list.h"
#include "tornado/trace.h"

namespace tornado {

namespace {

// The loop running start() on this thread, if any.
thread_local IOLoop* t_running_loop = nullptr;
// The newest loop made on this thread (the head of a list through the loops;
// see IOLoop::link_to_thread). Trivially destructible on purpose: a loop
// owned by the thread is destroyed at thread exit and still unlinks itself.
thread_local IOLoop* t_newest_loop = nullptr;

// The poller's token for the loop's own eventfd. Other tokens are
// (generation << 32) | fd, and no descriptor is 0xffffffff.
constexpr std::uint64_t kWakeToken = UINT64_MAX;

// Up to this many ready descriptors per wait; more wait a turn. None is
// lost: epoll keeps what it did not report on its ready list (an
// edge-triggered descriptor too), and io_uring its completions in its ring,
// for the next wait.
constexpr std::size_t kMaxEventsPerPoll = 1024;

// close() runs at most this many batches of callbacks while it waits for
// cancelled coroutines to unwind (one that catches CancelledError and
// awaits again needs another round); the bound keeps close() from hanging.
constexpr int kMaxCloseRounds = 1000;

// Lazy deletion leaves cancelled timeouts in the heap; it is swept when
// they are at least this many and at least half of it (as Tornado's own
// loop did before asyncio). The "half" rule alone would rebuild a small
// heap over and over, for a few dead entries of 24 bytes each.
constexpr std::size_t kTimerSweepMinimum = 512;

// The descriptor and its slot's generation at registration: an event whose
// generation is no longer the slot's is for a handler removed since
// (dispatch_handler drops it, even if fd already names a new connection).
std::uint64_t handler_token(int fd, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | static_cast<std::uint32_t>(fd);
}

// In a request's token: the request is a receive for the handler whose
// token the rest is, not a send in request_slots_. (Generations have 30
// bits, and the poller keeps bit 63 for itself.)
constexpr std::uint64_t kHandlerReceiveBit = std::uint64_t{1} << 62;

// "web.cpp:42", for log lines that name where a callback came from.
std::string describe_place(SourceLocation where) {
    std::string place = detail::short_place(where);
    return place.empty() ? "an unknown place" : place;
}

// A callback's kind as the trace names it: a string literal, so recording
// it copies a pointer.
const char* kind_name(detail::CallbackKind kind) {
    switch (kind) {
        case detail::CallbackKind::callback: return "callback";
        case detail::CallbackKind::timeout: return "timeout";
        case detail::CallbackKind::handler: return "handler";
        case detail::CallbackKind::future: return "future";
        case detail::CallbackKind::coroutine: return "coroutine";
        case detail::CallbackKind::signal: return "signal";
    }
    return "callback";
}

std::string describe_callback(detail::CallbackKind kind, SourceLocation where, int fd) {
    switch (kind) {
        case detail::CallbackKind::callback: return "a callback added at " + describe_place(where);
        case detail::CallbackKind::timeout: return "a timeout set at " + describe_place(where);
        case detail::CallbackKind::handler:
            return "the handler for fd " + std::to_string(fd) + " added at " +
                   describe_place(where);
        case detail::CallbackKind::future: return "a Future's done callbacks";
        case detail::CallbackKind::coroutine: return "a coroutine (resumed by a Future)";
        case detail::CallbackKind::signal: return "the handler for signal " + std::to_string(fd);
    }
    return "a callback";
}

// --- signals -------------------------------------------------------------------
//
// The handler only does what is safe in a signal handler: it flags the signal
// and writes to the owning loop's eventfd. The loop notices on waking and
// runs the real handler as an ordinary callback.

// One per signal, process-wide like a disposition. Atomics: the handler, on
// whichever thread the kernel picks, must not take a lock (it could deadlock
// against the thread it interrupted). wake_fd: the owner's eventfd, or -1.
struct SignalSlot {
    std::atomic<int> wake_fd{-1};
    std::atomic<bool> pending{false};
};
SignalSlot g_signal_slots[NSIG];
std::mutex g_signal_mutex;  // guards ownership changes (not the handler)

// Async-signal-safe only: lock-free atomics and write() to a non-blocking
// eventfd. `pending` is set before the write, and the loop drains the
// eventfd before it reads the flags (on_wake), so no wake-up is consumed
// with its flag unseen. errno is put back for the code interrupted.
extern "C" void tornado_on_signal(int signal) {
    int saved_errno = errno;
    SignalSlot& slot = g_signal_slots[signal];
    slot.pending.store(true);
    int fd = slot.wake_fd.load();
    if (fd >= 0) {
        std::uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
    }
    errno = saved_errno;
}

const char* signal_name(int signal) {
    switch (signal) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        case SIGHUP: return "SIGHUP";
        case SIGQUIT: return "SIGQUIT";
        case SIGUSR1: return "SIGUSR1";
        case SIGUSR2: return "SIGUSR2";
        default: return "signal";
    }
}

}  // namespace

// --- the queue other threads post to --------------------------------------------

namespace detail {

struct SignalState {
    struct Entry {
        int signal;
        IOLoop::Callback handler;
        struct sigaction previous;
    };
    std::vector<Entry> entries;
};

// The one part of a loop that other threads touch. It lives in a
// shared_ptr: run_in_executor's jobs hold it, so a worker finishing after
// the loop is gone posts into a closed queue instead of freed memory, and
// PeriodicCallback watches it (weakly) to learn whether its loop still exists.
class RemoteQueue {
public:
    // EFD_NONBLOCK: a poster's or a signal handler's write never blocks, and
    // drain()'s read never blocks the loop.
    RemoteQueue() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
        if (!wake_fd_) throw_errno("eventfd");
    }

    int wake_fd() const noexcept { return wake_fd_.get(); }

    // Queues the callback unless the loop has closed; moves from it only
    // when it is taken, so a refused callback is destroyed by the caller.
    bool post(QueuedCallback& callback) {
        {
            std::lock_guard lock(mutex_);
            if (closed_) return false;
            callbacks_.push_back(std::move(callback));
            has_callbacks_.store(true, std::memory_order_release);
        }
        // Only the first post after the loop last woke pays for the write.
        if (!wake_pending_.exchange(true)) wake();
        return true;
    }

    // Read every turn without the lock, so that an idle turn takes no mutex.
    // Only a hint: take() then locks, and the lock is what makes the queued
    // callbacks themselves visible.
    bool has_callbacks() const noexcept { return has_callbacks_.load(std::memory_order_acquire); }

    // Swapped with the loop's empty batch: each side reuses the other's capacity.
    void take(std::vector<QueuedCallback>& out) {
        std::lock_guard lock(mutex_);
        out.swap(callbacks_);
        has_callbacks_.store(false, std::memory_order_relaxed);
    }

    // Counted first: once the eventfd is written, the loop may run, stop
    // and be destroyed before this returns, so the write is the last touch.
    void wake() noexcept {
        wakeups_.fetch_add(1, std::memory_order_relaxed);
        std::uint64_t one = 1;
        // The counter only needs to be non-zero; EAGAIN (full) means the
        // loop is due to wake anyway.
        [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
    }

    // The loop woke: reset the eventfd, and let the next post wake it again.
    // An exchange, not a store: it pairs with the poster's exchange, so the
    // loop sees every callback queued before a post that saw "pending".
    void drain() noexcept {
        std::uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
        wake_pending_.exchange(false);
    }

    // From now on post() refuses: a late worker destroys its callback itself
    // instead of queueing it for a loop that will never run it.
    void close(std::vector<QueuedCallback>& leftovers) {
        std::lock_guard lock(mutex_);
        closed_ = true;
        leftovers.swap(callbacks_);
        has_callbacks_.store(false, std::memory_order_relaxed);
    }

    std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }

    bool closed() {
        std::lock_guard lock(mutex_);
        return closed_;
    }

private:
    FileDescriptor wake_fd_;
    std::mutex mutex_;
    std::vector<QueuedCallback> callbacks_;
    bool closed_ = false;
    std::atomic<bool> has_callbacks_{false};
    std::atomic<bool> wake_pending_{false};
    std::atomic<std::uint64_t> wakeups_{0};
};

bool post_remote(const std::shared_ptr<RemoteQueue>& queue, QueuedCallback callback) {
    return queue->post(callback);
}

// Posted rather than resumed here: the coroutine yields for one turn, and
// I/O and the other callbacks get theirs first.
void schedule_resume(IOLoop& loop, std::coroutine_handle<> coroutine) {
    loop.post({[coroutine] { coroutine.resume(); }, {}, CallbackKind::coroutine});
}

void log_spawned_exception(std::exception_ptr error, SourceLocation where) {
    app_log.error("Exception in a callback spawned at {}: {}", describe_place(where),
                  describe_exception(error));
}

// Also reached without a timeout, when something else stopped the loop
// before func's Future was done (the message then says 0 seconds): Tornado's
// run_sync raises the same TimeoutError in both cases.
void throw_run_sync_timeout(IOLoop::Clock::duration timeout) {
    double seconds = std::chrono::duration<double>(timeout).count();
    throw TimeoutError(tornado::format("Operation timed out after {} seconds", seconds));
}

}  // namespace detail

// --- backends ----------------------------------------------------------------------

namespace {

// configure()'s choice: 0 none, else the Backend plus one.
std::atomic<int> g_configured_backend{0};

IOLoop::Backend backend_from_environment() {
    const char* name = std::getenv("TORNADO_IOLOOP");
    if (name == nullptr || *name == '\0' || std::strcmp(name, "epoll") == 0) {
        return IOLoop::Backend::epoll;
    }
    if (std::strcmp(name, "io_uring") == 0) return IOLoop::Backend::io_uring;
    throw std::invalid_argument(std::string("TORNADO_IOLOOP=") + name +
                                ": expected epoll or io_uring");
}

IOLoop::Backend default_backend() {
    int configured = g_configured_backend.load(std::memory_order_relaxed);
    if (configured != 0) return static_cast<IOLoop::Backend>(configured - 1);
    return backend_from_environment();
}

// io_uring when asked and the kernel agrees. A refusal is logged once per
// process, not once per loop.
std::unique_ptr<detail::Poller> make_poller(IOLoop::Backend backend) {
    if (backend == IOLoop::Backend::io_uring) {
        std::string why;
        if (auto poller = detail::make_io_uring_poller(why)) return poller;
        static std::once_flag logged;
        std::call_once(logged, [&] { gen_log.warning("IOLoop: {}; using epoll", why); });
    }
    return detail::make_epoll_poller();
}

}  // namespace

void IOLoop::configure(std::optional<Backend> backend) noexcept {
    int stored = backend ? static_cast<int>(*backend) + 1 : 0;
    g_configured_backend.store(stored, std::memory_order_relaxed);
}

bool IOLoop::backend_available(Backend backend, std::string* why) {
    if (backend == Backend::epoll) return true;
    std::string refusal;
    if (detail::make_io_uring_poller(refusal)) return true;
    if (why != nullptr) *why = refusal;
    return false;
}

IOLoop::Backend IOLoop::backend() const noexcept { return poller_->backend(); }

const char* IOLoop::backend_name(Backend backend) noexcept {
    return backend == Backend::io_uring ? "io_uring" : "epoll";
}

// --- life --------------------------------------------------------------------------

IOLoop::IOLoop() : IOLoop(default_backend()) {}

// The eventfd is level-triggered, outside handlers_ (token kWakeToken):
// until drain() reads its counter back to zero, every wait returns at once,
// so no wake-up is lost before the loop sleeps. CLOEXEC: a child the
// program execs must not inherit the loop's descriptors.
IOLoop::IOLoop(Backend backend)
    : poller_(make_poller(backend)),
      remote_(std::make_shared<detail::RemoteQueue>()),
      ready_(kMaxEventsPerPoll),
      signals_(std::make_unique<detail::SignalState>()) {
    poller_->add(remote_->wake_fd(), READ, kWakeToken);
    link_to_thread();
}

IOLoop::~IOLoop() {
    close();
    unlink_from_thread();
}

// The thread's loops form an intrusive list, newest at the head,
// thread_next_ towards the older ones: no allocation. A dying loop unlinks
// itself, so current() falls back on the newest one still alive.
// thread_list_ names the list of the thread that made the loop.
void IOLoop::link_to_thread() noexcept {
    thread_list_ = &t_newest_loop;
    thread_next_ = t_newest_loop;
    if (thread_next_ != nullptr) thread_next_->thread_prev_ = this;
    t_newest_loop = this;
}

void IOLoop::unlink_from_thread() noexcept {
    if (thread_prev_ != nullptr) {
        thread_prev_->thread_next_ = thread_next_;
    } else {
        *thread_list_ = thread_next_;
    }
    if (thread_next_ != nullptr) thread_next_->thread_prev_ = thread_prev_;
    thread_prev_ = thread_next_ = nullptr;
}

IOLoop& IOLoop::current() {
    if (IOLoop* loop = try_current()) return *loop;
    // Made on first use and owned by the thread; its constructor links it in.
    static thread_local std::unique_ptr<IOLoop> thread_loop;
    thread_loop = std::make_unique<IOLoop>();
    return *thread_loop;
}

// The running loop wins over a newer idle one: code called from a callback
// must get the loop that runs it.
IOLoop* IOLoop::try_current() noexcept {
    return t_running_loop != nullptr ? t_running_loop : t_newest_loop;
}

IOLoop* IOLoop::running_loop() noexcept { return t_running_loop; }

// --- descriptors -----------------------------------------------------------------

IOLoop::HandlerSlot* IOLoop::handler_slot(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= handlers_.size()) return nullptr;
    return &handlers_[static_cast<std::size_t>(fd)];
}

// One table slot per descriptor number: the kernel hands out the lowest
// free one, so they are dense, and indexing beats a map.
void IOLoop::add_handler(int fd, Handler handler, std::uint32_t events, SourceLocation where) {
    if (closed()) throw std::logic_error("IOLoop::add_handler: the loop is closed");
    if (fd < 0) throw std::invalid_argument("IOLoop::add_handler: negative descriptor");
    if (static_cast<std::size_t>(fd) >= handlers_.size()) {
        handlers_.resize(static_cast<std::size_t>(fd) + 1);
    }
    HandlerSlot& slot = handlers_[static_cast<std::size_t>(fd)];
    if (slot.active) {
        throw std::logic_error("IOLoop::add_handler: fd " + std::to_string(fd) +
                               " already has a handler");
    }
    // The kernel first: if it refuses (epoll_ctl: EBADF, EPERM for a
    // regular file, EEXIST), the slot is left untouched.
    poller_->add(fd, events & ~CLOSING, handler_token(fd, slot.generation));
    if (fd == dispatching_fd_) {
        // The old handler of this fd is running (it removed itself, and now
        // adds a successor): overwriting it would destroy running code.
        successor_handler_ = std::move(handler);
    } else {
        slot.handler = std::move(handler);
    }
    slot.where = where;
    slot.events = events;
    slot.active = true;
    ++open_descriptors_;
}

// For level-triggered handlers, which ask for WRITE only while output waits
// (a socket with room to send is always writable: WRITE left on fires every
// turn), and for pausing accepts (netutil.cpp). EPOLL_CTL_MOD would re-arm
// a ready edge-triggered fd; an unchanged mask makes no call, so it doesn't.
void IOLoop::update_handler(int fd, std::uint32_t events) {
    HandlerSlot* slot = handler_slot(fd);
    if (slot == nullptr || !slot->active) {
        throw std::logic_error("IOLoop::update_handler: fd " + std::to_string(fd) +
                               " has no handler");
    }
    if (slot->events == events) return;
    poller_->modify(fd, events & ~CLOSING, handler_token(fd, slot->generation));
    slot->events = events;
}

// Safe from inside any handler, its own included (see dispatch_handler).
// The slot is updated before the handler is destroyed: its destructor may
// call back into the loop.
void IOLoop::remove_handler(int fd) noexcept {
    HandlerSlot* slot = handler_slot(fd);
    if (slot == nullptr || !slot->active) return;
    slot->active = false;
    slot->events = 0;
    --open_descriptors_;
    // A new generation: an event for the old registration still in this
    // turn's batch no longer matches, even if fd is reused at once.
    ++slot->generation;
    poller_->remove(fd);
    if (fd == dispatching_fd_) {
        // Running now: dispatch_handler destroys it when it returns. A
        // successor added meanwhile has not run; it can go at once.
        successor_handler_ = nullptr;
    } else {
        slot->handler = nullptr;
    }
}

// --- requests by completion ---------------------------------------------------------

bool IOLoop::io_by_completion() const noexcept { return backend() == Backend::io_uring; }

namespace {

std::uint64_t request_token(std::uint32_t generation, std::uint32_t request) {
    return (static_cast<std::uint64_t>(generation) << 32) | request;
}

}  // namespace

// A free slot for a new request, with a new generation: the generation, in
// the token, tells a report for this request from one for an earlier user
// of the slot (as a handler's token does). The slot holds `done` until the
// kernel reports.
std::uint32_t IOLoop::take_request_slot(RequestDone& done) {
    std::uint32_t request = first_free_request_;
    if (request == kNoRequest) {
        request = static_cast<std::uint32_t>(request_slots_.size());
        request_slots_.emplace_back();
    } else {
        first_free_request_ = request_slots_[request].next_free;
    }
    RequestSlot& slot = request_slots_[request];
    slot.generation = slot.generation + 1;  // wraps at 2^30
    slot.done = std::move(done);
    slot.active = true;
    return request;
}

// The slot back on the free list, its `done` dropped (a request never
// made, or one whose `done` the caller has taken).
void IOLoop::release_request_slot(std::uint32_t request) noexcept {
    RequestSlot& slot = request_slots_[request];
    slot.done = nullptr;
    slot.active = false;
    slot.next_free = first_free_request_;
    first_free_request_ = request;
}

// A full submission ring refuses requests; tests pretend it does
// (refuse_requests_): true when this request is one to refuse.
bool IOLoop::refused_by_test() noexcept {
    if (refuse_requests_ == 0) return false;
    --refuse_requests_;
    return true;
}

// Takes a slot and asks the poller; the slot goes back if the poller has
// no room.
std::uint32_t IOLoop::submit_send(int fd, std::string_view bytes, RequestDone done) {
    if (closed() || refused_by_test()) return kNoRequest;
    std::uint32_t request = take_request_slot(done);
    std::uint64_t token = request_token(request_slots_[request].generation, request);
    if (!poller_->send(fd, bytes.data(), bytes.size(), token)) {
        release_request_slot(request);
        return kNoRequest;
    }
    return request;
}

bool IOLoop::submit_recv(int fd, bool bytes_waiting) {
    HandlerSlot* slot = handler_slot(fd);
    if (closed() || slot == nullptr || !slot->active || refused_by_test()) return false;
    return poller_->recv(fd, handler_token(fd, slot->generation) | kHandlerReceiveBit,
                         !bytes_waiting);
}

void IOLoop::cancel_recv(int fd) noexcept {
    HandlerSlot* slot = handler_slot(fd);
    if (slot == nullptr || !slot->active) return;
    poller_->cancel_request(handler_token(fd, slot->generation) | kHandlerReceiveBit);
}

void IOLoop::cancel_request(std::uint32_t request) noexcept {
    if (request >= request_slots_.size() || !request_slots_[request].active) return;
    poller_->cancel_request(request_token(request_slots_[request].generation, request));
}

void IOLoop::submit_requests() noexcept {
    if (!closed()) poller_->submit();
}

// A send's slot is freed before `done` runs, which may submit the next
// send. A receive goes to its handler, if it is still the one that asked
// (as a readiness event does). Its buffer goes back to the poller once the
// handler has run, whether or not anyone still wanted the bytes.
void IOLoop::dispatch_request(const detail::ReadyEvent& event) {
    std::string_view bytes;
    if (event.buffer >= 0 && event.result > 0) {
        bytes = poller_->received(event.buffer, static_cast<std::size_t>(event.result));
    }
    if ((event.token & kHandlerReceiveBit) != 0) {
        received_ = {event.result, bytes};
        dispatch_handler(event.token & ~kHandlerReceiveBit, RECEIVED);
        received_ = {};
    } else {
        finish_send(event);
    }
    if (event.buffer >= 0) poller_->recycle(event.buffer);
}

void IOLoop::finish_send(const detail::ReadyEvent& event) {
    auto request = static_cast<std::uint32_t>(event.token & 0xffffffffu);
    if (request >= request_slots_.size()) return;
    RequestSlot& slot = request_slots_[request];
    if (!slot.active || slot.generation != static_cast<std::uint32_t>(event.token >> 32)) return;
    RequestDone done = std::move(slot.done);
    release_request_slot(request);
    run_guarded(detail::CallbackKind::handler, SourceLocation::current(), -1,
                [&done, &event] { done(event.result); });
}

// At close, before the handlers go (and with them the streams' sockets):
// the kernel may still be reading the bytes of a send, so every request is
// cancelled and its report awaited before the memory is let go. The
// `done` callbacks are dropped unrun, as the handlers are.
void IOLoop::finish_requests() noexcept {
    poller_->finish_requests();  // cancels them all, the receives too
    std::deque<RequestSlot> slots = std::move(request_slots_);
    request_slots_.clear();
    first_free_request_ = kNoRequest;
    slots.clear();
}

// --- callbacks ---------------------------------------------------------------------

// Every callback comes in here. A thread counts as the loop's only while
// start() (or close()'s drain) runs on it (t_running_loop): before start(),
// even the owner goes through the lock and the eventfd, since nothing else
// records which thread a loop belongs to.
void IOLoop::post(detail::QueuedCallback callback) {
    if (t_running_loop == this) {
        // On the loop's own thread: no lock, no wake-up; the loop is not
        // sleeping, and the next turn will see the callback.
        if (closed()) return;
        callbacks_.push_back(std::move(callback));
        return;
    }
    // Refused after close(): the callback is dropped with this frame. A
    // copy of the queue's pointer: once the callback is queued, the loop
    // may run it, stop and be destroyed before post() has woken it (see
    // stop()).
    std::shared_ptr<detail::RemoteQueue> remote = remote_;
    remote->post(callback);
}

void IOLoop::run_local_callbacks() {
    // Run the batch queued so far; what these callbacks queue waits for the
    // next turn, after I/O had its chance (no starvation), as in asyncio.
    // batch_ is a member: its capacity is reused turn after turn.
    batch_.swap(callbacks_);
    for (detail::QueuedCallback& callback : batch_) {
        run_guarded(callback.kind, callback.where, -1, callback.function);
    }
    batch_.clear();
}

// What other threads posted, taken in one swap: the queue's lock is held
// for the swap only, never while the callbacks run.
void IOLoop::run_remote_callbacks() {
    remote_->take(batch_);
    for (detail::QueuedCallback& callback : batch_) {
        run_guarded(callback.kind, callback.where, -1, callback.function);
    }
    batch_.clear();
}

// The blocking-loop warning and the tracer both need the callback's time;
// one flag (timing_needed_) says whether either is on, so that with both
// off a callback costs one test more than its call.
template <typename F>
void IOLoop::run_guarded(detail::CallbackKind kind, SourceLocation where, int fd, F&& function) {
    // Tornado logs an exception from a callback and goes on: one bad handler
    // must not take the whole server down.
    try {
        if (!timing_needed_) {
            function();
            return;
        }
        Clock::time_point started = Clock::now();
        function();
        Clock::time_point ended = Clock::now();
        Clock::duration took = ended - started;
        if (blocking_threshold_ > Clock::duration::zero() && took > blocking_threshold_) {
            report_blocking(took, kind, where, fd);
        }
        // The callback may have stopped the tracing: tracer_ is looked at again.
        if (tracer_) tracer_->record_callback(kind_name(kind), where, fd, started, ended);
    } catch (...) {
        report_exception(kind, where, fd);
    }
}

void IOLoop::report_exception(detail::CallbackKind kind, SourceLocation where, int fd) {
    app_log.error("Exception in {}: {}", describe_callback(kind, where, fd),
                  describe_exception(std::current_exception()));
}

void IOLoop::report_blocking(Clock::duration took, detail::CallbackKind kind, SourceLocation where,
                             int fd) {
    gen_log.warning("Blocked the IOLoop for {:.3f}s in {} (threshold {:.3f}s)",
                    std::chrono::duration<double>(took).count(), describe_callback(kind, where, fd),
                    std::chrono::duration<double>(blocking_threshold_).count());
}

// Rounded up to the clock's tick, so a tiny positive threshold does not
// become 0, which means "off".
void IOLoop::set_blocking_log_threshold(double seconds) {
    blocking_threshold_ =
        seconds > 0 ? std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds))
                    : Clock::duration::zero();
    update_timing_needed();
}

void IOLoop::update_timing_needed() noexcept {
    timing_needed_ = blocking_threshold_ > Clock::duration::zero() || tracer_ != nullptr;
}

std::uint64_t IOLoop::wakeups_sent() const noexcept { return remote_->wakeups(); }

// --- timeouts ----------------------------------------------------------------------

namespace {
// The heap comparison: std::*_heap keep the "largest" on top, so "later"
// makes it the earliest deadline (ties: the one set first).
struct Later {
    template <typename Entry>
    bool operator()(const Entry& a, const Entry& b) const noexcept {
        return a.when != b.when ? a.when > b.when : a.sequence > b.sequence;
    }
};
}  // namespace

// A timeout's callback lives in a reusable slot; the heap holds small
// entries naming a slot and its generation. Cancelling frees the slot and
// leaves the entry (lazy deletion: a binary heap cannot cheaply remove from
// the middle); a stale entry is known by its generation. A closed loop
// hands out an empty Timeout, which remove_timeout ignores, so late callers
// (destructors of what close() drops) need no check.
IOLoop::Timeout IOLoop::call_at(Clock::time_point when, Callback callback, SourceLocation where) {
    if (closed()) return {};
    std::uint32_t slot_index;
    if (!free_timer_slots_.empty()) {
        slot_index = free_timer_slots_.back();
        free_timer_slots_.pop_back();
    } else {
        slot_index = static_cast<std::uint32_t>(timer_slots_.size());
        timer_slots_.emplace_back();
    }
    TimerSlot& slot = timer_slots_[slot_index];
    slot.callback = std::move(callback);
    slot.where = where;
    slot.active = true;
    timer_heap_.push_back({when, next_timer_sequence_++, slot_index, slot.generation});
    std::push_heap(timer_heap_.begin(), timer_heap_.end(), Later{});
    return Timeout(slot_index, slot.generation);
}

// Destroys the callback now (what it captured goes at once, not when the
// slot is reused) and moves the generation on, so that the old Timeout and
// the old heap entry no longer match the slot.
void IOLoop::free_timer_slot(std::uint32_t slot_index) noexcept {
    // The callback is destroyed last, after the slot is free: the
    // destructors of its captures may call remove_timeout on this very
    // timeout (which must find it gone, not free it twice) or call_at
    // (which may grow timer_slots_, so no reference into it is held then).
    Callback callback = std::move(timer_slots_[slot_index].callback);
    TimerSlot& slot = timer_slots_[slot_index];
    slot.callback = nullptr;
    slot.active = false;
    ++slot.generation;
    free_timer_slots_.push_back(slot_index);
}

detail::TimeoutList* IOLoop::timeout_list(Clock::duration length) {
    if (closed()) return nullptr;
    for (const std::unique_ptr<detail::TimeoutList>& list : timeout_lists_) {
        if (list->length() == length) return list.get();
    }
    timeout_lists_.push_back(std::make_unique<detail::TimeoutList>(*this, length));
    return timeout_lists_.back().get();
}

void IOLoop::drop_timeout_list(const detail::TimeoutList* list) noexcept {
    std::erase_if(timeout_lists_, [list](const std::unique_ptr<detail::TimeoutList>& each) {
        return each.get() == list;
    });
}

void IOLoop::remove_timeout(Timeout timeout) noexcept {
    if (timeout.slot_ >= timer_slots_.size()) return;
    TimerSlot& slot = timer_slots_[timeout.slot_];
    if (!slot.active || slot.generation != timeout.generation_) return;  // ran or removed
    free_timer_slot(timeout.slot_);
    ++cancelled_timers_;
    compact_timer_heap();
}

// Lazy deletion's bill: a one-minute timeout per request, cancelled a few
// milliseconds later, leaves a minute's worth of dead entries. The O(n)
// rebuild is paid for by the n/2 or more cancellations since the last one.
void IOLoop::compact_timer_heap() {
    if (cancelled_timers_ < kTimerSweepMinimum || cancelled_timers_ * 2 < timer_heap_.size()) {
        return;
    }
    std::erase_if(timer_heap_, [this](const TimerEntry& entry) {
        const TimerSlot& slot = timer_slots_[entry.slot];
        return !slot.active || slot.generation != entry.generation;
    });
    std::make_heap(timer_heap_.begin(), timer_heap_.end(), Later{});
    cancelled_timers_ = 0;
}

void IOLoop::run_due_timeouts() {
    if (timer_heap_.empty()) return;
    // Collect first, then run: a timeout that sets another for "now" gets
    // it run at the next turn, not in this loop forever.
    Clock::time_point now = Clock::now();
    while (!timer_heap_.empty() && timer_heap_.front().when <= now) {
        std::pop_heap(timer_heap_.begin(), timer_heap_.end(), Later{});
        TimerEntry entry = timer_heap_.back();
        timer_heap_.pop_back();
        const TimerSlot& slot = timer_slots_[entry.slot];
        if (!slot.active || slot.generation != entry.generation) {
            if (cancelled_timers_ > 0) --cancelled_timers_;  // a cancelled one surfaced
            continue;
        }
        due_.push_back({entry.slot, entry.generation});
    }
    for (std::size_t i = 0; i < due_.size(); ++i) {
        // Indexes, not references: a timeout may set others (and so grow
        // timer_slots_) or cancel one that is due later in this batch.
        DueTimer due = due_[i];
        TimerSlot& slot = timer_slots_[due.slot];
        if (!slot.active || slot.generation != due.generation) {
            if (cancelled_timers_ > 0) --cancelled_timers_;
            continue;
        }
        // The slot is freed before the callback runs: the callback may cancel
        // its own Timeout (now a no-op) or set new timeouts, which may reuse
        // this very slot.
        Callback callback = std::move(slot.callback);
        SourceLocation where = slot.where;
        free_timer_slot(due.slot);
        run_guarded(detail::CallbackKind::timeout, where, -1, callback);
    }
    due_.clear();
}

// --- the loop ----------------------------------------------------------------------

// Each step of a turn works on a batch fixed when the step begins, so no
// kind of work can keep the loop from reaching its wait. stopping_ is
// looked at only once the turn is over: a stop() from a callback still lets
// that turn's I/O be dispatched (poll_timeout_ms makes the wait 0).
void IOLoop::start() {
    enter(Life::running, "IOLoop::start");
    IOLoop* previous = std::exchange(t_running_loop, this);
    // However start() ends: consume the stop, allow the next start(), and give
    // back the loop that ran before (a callback may run another's run_sync).
    struct Restore {
        IOLoop* loop;
        IOLoop* previous;
        ~Restore() {
            loop->stopping_.store(false);
            loop->enter(Life::idle, "IOLoop::start");  // from running or draining: never refused
            t_running_loop = previous;
        }
    } restore{this, previous};
    // A run begins a turn of its own: what was seen in an earlier run (a
    // stat kept for the turn: StaticFileCache::look_at) is not this one's.
    turn_time_ = Clock::now();
    trace_if_the_environment_asks();

    for (;;) {
        // The one test tracing adds to a turn when it is off.
        if (tracer_) {
            run_traced_turn();
        } else {
            run_turn();
        }
        if (stopping_.load(std::memory_order_acquire)) break;
    }
}

void IOLoop::run_turn() {
    run_local_callbacks();
    if (remote_->has_callbacks()) run_remote_callbacks();
    run_due_timeouts();
    std::size_t ready = poller_->wait(poll_timeout_ms(), ready_);
    // Read once, after the sleep: every event of this batch shares it.
    turn_time_ = Clock::now();
    dispatch_ready(ready);
}

// run_turn, with the clock read around the turn and its wait. A callback
// may stop the tracing midway (stop_tracing), so tracer_ is looked at
// again before each record.
void IOLoop::run_traced_turn() {
    Clock::time_point started = Clock::now();
    tracer_->sample_counters(started, callbacks_.size(), open_descriptors_);
    run_local_callbacks();
    if (remote_->has_callbacks()) run_remote_callbacks();
    run_due_timeouts();
    int timeout_ms = poll_timeout_ms();
    Clock::time_point poll_started = Clock::now();
    std::size_t ready = poller_->wait(timeout_ms, ready_);
    turn_time_ = Clock::now();
    if (tracer_) tracer_->record_poll(poll_started, turn_time_, timeout_ms, ready);
    dispatch_ready(ready);
    if (tracer_) tracer_->record_turn(started, Clock::now());
}

// A stop() while the loop is not running is kept: the next start() runs one
// turn, polling without waiting (asyncio's stop() before run_forever()).
void IOLoop::stop() noexcept {
    // The loop's own thread is not inside the wait; any other must wake it.
    if (t_running_loop == this) {
        stopping_.store(true, std::memory_order_release);
        return;
    }
    // From another thread, the loop may see the flag, return from start()
    // and be destroyed before wake() is called: the queue is held first, so
    // that it outlives the loop. (Found by ASan in
    // SubprocessLoops.AnotherThreadsLoopMayOwnSIGCHLD.)
    std::shared_ptr<detail::RemoteQueue> remote = remote_;
    stopping_.store(true, std::memory_order_release);
    remote->wake();
}

// 0 when work already waits (or a stop is due), -1 (no limit) when nothing
// is scheduled, else until the earliest live timeout. A wait beyond INT_MAX
// ms (about 24.8 days) is cut there: the loop then wakes and looks again.
int IOLoop::poll_timeout_ms() {
    if (!callbacks_.empty() || remote_->has_callbacks() || stopping_.load()) return 0;
    // Skip cancelled entries so that they do not wake us for nothing.
    while (!timer_heap_.empty()) {
        const TimerEntry& top = timer_heap_.front();
        const TimerSlot& slot = timer_slots_[top.slot];
        if (slot.active && slot.generation == top.generation) break;
        std::pop_heap(timer_heap_.begin(), timer_heap_.end(), Later{});
        timer_heap_.pop_back();
        if (cancelled_timers_ > 0) --cancelled_timers_;
    }
    if (timer_heap_.empty()) return -1;  // nothing scheduled: wait for I/O
    Clock::duration wait = timer_heap_.front().when - Clock::now();
    if (wait <= Clock::duration::zero()) return 0;
    // Round up: waking a little early would only spin a turn for nothing.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
    return static_cast<int>(std::min<long long>(ms, INT_MAX));
}

void IOLoop::dispatch_ready(std::size_t ready) {
    for (std::size_t i = 0; i < ready; ++i) {
        if (ready_[i].completion) {
            dispatch_request(ready_[i]);
        } else if (ready_[i].token == kWakeToken) {
            on_wake();
        } else {
            dispatch_handler(ready_[i].token, ready_[i].events);
        }
    }
}

// dispatching_fd_ tells add_handler and remove_handler that this fd's
// handler is on the stack: they must not destroy or overwrite it.
void IOLoop::dispatch_handler(std::uint64_t token, std::uint32_t events) {
    int fd = static_cast<int>(token & 0xffffffffu);
    std::uint32_t generation = static_cast<std::uint32_t>(token >> 32);
    // An earlier handler in this batch may have removed this one (and the
    // descriptor may even have been reused): check before calling.
    HandlerSlot* slot = handler_slot(fd);
    if (slot == nullptr || !slot->active || slot->generation != generation) return;
    dispatching_fd_ = fd;
    run_guarded(detail::CallbackKind::handler, slot->where, fd,
                [slot, fd, events] { slot->handler(fd, events); });
    dispatching_fd_ = -1;
    // The slot stays put (handlers_ is a deque). If the handler removed
    // itself, destroy it now that it has returned, and install a successor
    // it added.
    if (slot->generation != generation) {
        slot->handler = std::move(successor_handler_);
    }
}

// Another thread posted, stop() was called, or a signal came. Drain first,
// flags after: a signal landing in between writes the eventfd again, which
// costs one empty turn, never a missed signal.
void IOLoop::on_wake() {
    remote_->drain();
    if (!signals_->entries.empty()) run_signal_handlers();
}

// --- close -------------------------------------------------------------------------

// An intrusive list, O(1) both ways: a pending Future joins it with its
// first waiter or callback (FutureStateBase::track), so that close() finds
// every coroutine still suspended on this loop, with no allocation.
void IOLoop::track_pending(detail::FutureStateBase* state) noexcept {
    state->pending_prev_ = nullptr;
    state->pending_next_ = pending_futures_;
    if (pending_futures_ != nullptr) pending_futures_->pending_prev_ = state;
    pending_futures_ = state;
    ++pending_count_;
}

void IOLoop::untrack_pending(detail::FutureStateBase* state) noexcept {
    if (state->pending_prev_ != nullptr) {
        state->pending_prev_->pending_next_ = state->pending_next_;
    } else {
        pending_futures_ = state->pending_next_;
    }
    if (state->pending_next_ != nullptr) state->pending_next_->pending_prev_ = state->pending_prev_;
    state->pending_prev_ = state->pending_next_ = nullptr;
    --pending_count_;
}

// Runs what is queued, tells the handlers that asked (CLOSING) and cancels
// every Future still awaited, so that each suspended coroutine, and each
// owner waiting by callback, unwinds while the loop exists. No timeout fires and
// the kernel is not asked: a coroutine waiting on a timer or socket is cancelled,
// not served. False if some still wait after kMaxCloseRounds.
bool IOLoop::drain_for_close() {
    bool handlers_told = false;
    for (int round = 0; round < kMaxCloseRounds; ++round) {
        if (!callbacks_.empty() || remote_->has_callbacks()) {
            run_local_callbacks();
            if (remote_->has_callbacks()) run_remote_callbacks();
            continue;
        }
        if (!handlers_told) {
            handlers_told = true;
            tell_handlers_closing();
            continue;
        }
        if (pending_futures_ == nullptr) return true;
        // Everyone still waiting is told it will not happen: each awaited
        // Future is cancelled, and its coroutines resume with CancelledError.
        while (pending_futures_ != nullptr) {
            detail::FutureStateBase* state = pending_futures_;
            // The list holds no reference of its own: take one for the
            // length of cancel(), so the state cannot go while it runs.
            state->add_ref();
            state->cancel();  // leaves the list
            state->release();
        }
    }
    return false;
}

// Once, in the drain: every handler that asked for CLOSING. A handler may
// add or remove handlers (dispatch_handler allows it); a slot added meanwhile
// is not told.
void IOLoop::tell_handlers_closing() {
    std::size_t count = handlers_.size();
    for (std::size_t fd = 0; fd < count; ++fd) {
        const HandlerSlot& slot = handlers_[fd];
        if (!slot.active || (slot.events & CLOSING) == 0) continue;
        dispatch_handler(handler_token(static_cast<int>(fd), slot.generation), CLOSING);
    }
}

// The drain runs with this loop as the thread's running loop, so that what
// its callbacks post goes to the local queue and IOLoop::current() finds
// this loop. Life::closing turns a nested close() (from a destructor run
// here) into a no-op, and keeps start() out meanwhile.
void IOLoop::close() {
    if (!enter(Life::closing, "IOLoop::close")) return;

    // Finish the blocking work first: its results come back as callbacks.
    if (default_executor_) default_executor_->shutdown(true);

    IOLoop* previous = std::exchange(t_running_loop, this);
    bool settled = drain_for_close();
    // Written now: the drain is in it, and the signal handlers (SIGUSR2's
    // among them) are still there for stop_tracing to remove.
    stop_tracing();
    t_running_loop = previous;
    if (!settled) {
        gen_log.warning(
            "IOLoop closed with {} Futures still awaited: their coroutines stay "
            "suspended",
            pending_count_);
    }

    while (!signals_->entries.empty()) remove_signal_handler(signals_->entries.back().signal);
    enter(Life::closed, "IOLoop::close");
    finish_requests();

    // Drop what still holds callbacks. Moved out first: a destructor run from
    // here may call back into the loop (remove_handler, add_callback, ...).
    // It finds empty tables, and its posts are refused (the queue is closed).
    std::vector<detail::QueuedCallback> leftovers;
    remote_->close(leftovers);
    std::vector<detail::QueuedCallback> callbacks = std::move(callbacks_);
    std::deque<HandlerSlot> handlers = std::move(handlers_);
    std::vector<TimerSlot> timers = std::move(timer_slots_);
    std::vector<std::unique_ptr<detail::TimeoutList>> timeout_lists = std::move(timeout_lists_);
    std::vector<std::pair<std::uint64_t, ShutdownHook>> hooks = std::move(shutdown_hooks_);
    callbacks_.clear();
    handlers_.clear();
    open_descriptors_ = 0;
    timer_slots_.clear();
    timer_heap_.clear();
    free_timer_slots_.clear();
    leftovers.clear();
    callbacks.clear();
    handlers.clear();
    timers.clear();
    timeout_lists.clear();
    hooks.clear();
    // Futures still on the list (close gave up on them) must not point here.
    while (pending_futures_ != nullptr) {
        detail::FutureStateBase* state = pending_futures_;
        untrack_pending(state);
        state->tracked_ = false;
        state->loop_ = nullptr;
    }
    default_executor_.reset();
}

// The one place the loop's life changes (the drawing is in ioloop.h). The
// life is read, judged and written in one compare-and-swap: another thread
// may move it meanwhile (two start()s, a close() beside a start()), and
// then the change is judged again from where it is now.
bool IOLoop::enter(Life to, const char* action) {
    Life from = life_.load();
    do {
        if (!may_enter(from, to, action)) return false;
    } while (!life_.compare_exchange_weak(from, to));
    return true;
}

// Whether the life may go from `from` to `to`: false for the changes
// refused quietly, std::logic_error for the forbidden ones.
bool IOLoop::may_enter(Life from, Life to, const char* action) {
    auto refuse = [action](const std::string& why) {
        throw std::logic_error(std::string(action) + ": " + why);
    };
    bool running = from == Life::running || from == Life::draining;
    bool closing = from == Life::closing || from == Life::closed;
    switch (to) {
        case Life::running:
            if (running) refuse("already running");
            if (closing) refuse("the loop is closed");
            return true;
        case Life::draining: return from == Life::running;  // else graceful_stop() adds no stage
        case Life::idle:
            if (running) return true;
            break;
        case Life::closing:
            if (closing) return false;  // a close() inside close(), or after it
            if (running) refuse("the loop is running");
            return true;
        case Life::closed:
            if (from == Life::closing) return true;
            break;
    }
    static constexpr const char* kNames[] = {"idle", "running", "draining", "closing", "closed"};
    refuse(std::string("the loop cannot go from ") + kNames[static_cast<int>(from)] + " to " +
           kNames[static_cast<int>(to)]);
    return false;  // not reached: refuse() throws
}

// --- threads -------------------------------------------------------------------------

// Made on first use: a loop that never runs blocking work starts no threads.
ThreadPoolExecutor& IOLoop::default_executor() {
    if (!default_executor_) default_executor_ = std::make_unique<ThreadPoolExecutor>();
    return *default_executor_;
}

void IOLoop::set_default_executor(std::unique_ptr<ThreadPoolExecutor> executor) {
    // The old pool's jobs post their results to the loop; it must not go
    // before they have.
    std::unique_ptr<ThreadPoolExecutor> old = std::exchange(default_executor_, std::move(executor));
    if (old) old->shutdown(true);
}

// --- signals and graceful stop ---------------------------------------------------------

// A disposition is per process, so one loop at a time may own a signal
// (g_signal_slots, changed under g_signal_mutex). The slot is armed before
// sigaction installs the handler, so the handler never runs without a loop
// to wake; the disposition it replaces is kept, to be put back.
void IOLoop::add_signal_handler(int signal, Callback handler) {
    if (signal <= 0 || signal >= NSIG)
        throw std::invalid_argument("add_signal_handler: bad signal");
    if (closed()) throw std::logic_error("IOLoop::add_signal_handler: the loop is closed");
    // Already ours: only the handler changes; the disposition is in place.
    for (auto& entry : signals_->entries) {
        if (entry.signal == signal) {
            entry.handler = std::move(handler);
            return;
        }
    }
    std::lock_guard lock(g_signal_mutex);
    SignalSlot& slot = g_signal_slots[signal];
    if (slot.wake_fd.load() >= 0) {
        throw std::logic_error(std::string("add_signal_handler: another IOLoop handles ") +
                               signal_name(signal));
    }
    slot.pending.store(false);
    slot.wake_fd.store(remote_->wake_fd());
    struct sigaction action {};
    action.sa_handler = tornado_on_signal;
    sigemptyset(&action.sa_mask);
    // SA_RESTART: most interrupted blocking calls restart instead of failing
    // with EINTR; epoll_wait is one that never does (signal(7)).
    action.sa_flags = SA_RESTART;  // other threads' blocking calls go on undisturbed
    detail::SignalState::Entry entry{signal, std::move(handler), {}};
    if (::sigaction(signal, &action, &entry.previous) < 0) {
        slot.wake_fd.store(-1);
        throw_errno("sigaction");
    }
    signals_->entries.push_back(std::move(entry));
}

// The old disposition comes back first and the slot is disarmed after: a
// delivery in between still finds a valid eventfd to write to.
void IOLoop::remove_signal_handler(int signal) noexcept {
    auto& entries = signals_->entries;
    auto found = std::find_if(entries.begin(), entries.end(),
                              [signal](const auto& entry) { return entry.signal == signal; });
    if (found == entries.end()) return;
    std::lock_guard lock(g_signal_mutex);
    ::sigaction(signal, &found->previous, nullptr);
    g_signal_slots[signal].wake_fd.store(-1);
    g_signal_slots[signal].pending.store(false);
    entries.erase(found);
}

// The real handlers run here, on the loop's thread, like any callback (an
// exception is logged), so they may do anything a callback may. A signal
// delivered several times before the loop looks runs its handler once, as
// the kernel itself does not queue standard signals.
void IOLoop::run_signal_handlers() {
    // By number, not by reference: a handler may add or remove handlers.
    std::vector<int> signals;
    for (const auto& entry : signals_->entries) signals.push_back(entry.signal);
    for (int signal : signals) {
        if (!g_signal_slots[signal].pending.exchange(false)) continue;
        auto& entries = signals_->entries;
        auto found = std::find_if(entries.begin(), entries.end(),
                                  [signal](const auto& entry) { return entry.signal == signal; });
        if (found == entries.end()) continue;
        // Moved out while it runs, so that it may replace or remove itself.
        Callback handler = std::move(found->handler);
        run_guarded(detail::CallbackKind::signal, {}, signal, handler);
        found = std::find_if(entries.begin(), entries.end(),
                             [signal](const auto& entry) { return entry.signal == signal; });
        if (found != entries.end() && !found->handler) found->handler = std::move(handler);
    }
}

// `this` in the handlers is safe: close() removes them before the loop goes.
void IOLoop::install_signal_handlers(Clock::duration grace) {
    for (int signal : {SIGINT, SIGTERM}) {
        add_signal_handler(signal, [this, signal, grace] {
            if (life_.load() == Life::draining) {
                gen_log.warning("{} again: stopping now", signal_name(signal));
            } else {
                gen_log.info("{} received: stopping (in-flight work has {:.1f}s to finish)",
                             signal_name(signal), std::chrono::duration<double>(grace).count());
            }
            graceful_stop(grace);
        });
    }
}

// Ids start at 1, so holders may keep 0 for "no hook" (TCPServer does).
std::uint64_t IOLoop::add_shutdown_hook(ShutdownHook hook) {
    std::uint64_t id = next_hook_id_++;
    shutdown_hooks_.emplace_back(id, std::move(hook));
    return id;
}

void IOLoop::remove_shutdown_hook(std::uint64_t id) noexcept {
    std::erase_if(shutdown_hooks_, [id](const auto& hook) { return hook.first == id; });
}

// The course's addition (Tornado leaves this to the application): run the
// hooks, then stop() once their Futures are done or `grace` has passed,
// whichever comes first; `finished` lets only the first of them act. `this`
// is safe in both: close() cancels the waits while the loop still exists.
void IOLoop::graceful_stop(Clock::duration grace) {
    if (life_.load() == Life::draining) {
        stop();  // asked twice: do not wait any longer
        return;
    }
    enter(Life::draining, "IOLoop::graceful_stop");

    struct Drain {
        std::size_t in_flight = 0;
        bool finished = false;
        Timeout deadline;
    };
    auto drain = std::make_shared<Drain>();
    std::vector<Future<void>> waits;
    // Snapshot of the ids: a hook may remove hooks.
    std::vector<std::uint64_t> ids;
    for (const auto& hook : shutdown_hooks_) ids.push_back(hook.first);
    for (std::uint64_t id : ids) {
        auto found = std::find_if(shutdown_hooks_.begin(), shutdown_hooks_.end(),
                                  [id](const auto& hook) { return hook.first == id; });
        if (found == shutdown_hooks_.end()) continue;
        try {
            Future<void> wait = found->second();
            if (wait.valid() && !wait.done()) waits.push_back(std::move(wait));
        } catch (...) {
            app_log.error("Exception in a shutdown hook: {}",
                          describe_exception(std::current_exception()));
        }
    }
    if (waits.empty()) {
        stop();
        return;
    }
    drain->in_flight = waits.size();
    drain->deadline = call_later(grace, [this, drain] {
        if (drain->finished) return;
        drain->finished = true;
        gen_log.warning("Stopping with {} shutdown waits unfinished after the grace period",
                        drain->in_flight);
        stop();
    });
    for (Future<void>& wait : waits) {
        wait.add_done_callback([this, drain] {
            if (--drain->in_flight > 0 || drain->finished) return;
            drain->finished = true;
            remove_timeout(drain->deadline);
            stop();
        });
    }
}

// --- tracing -----------------------------------------------------------------------------
//
// The Tracer (trace.cpp) records; the loop decides when: from start_tracing
// to stop_tracing, with the file written at the end, on SIGUSR2, and at
// close(). g_tracing_loops tells the hooks outside the loop (coroutines,
// HTTP, WebSocket) whether any loop traces at all.

namespace {

// "%p" becomes the process id: with one loop per process (fork_processes),
// each process then writes a file of its own.
std::string with_process_id(std::string path) {
    for (std::size_t at = path.find("%p"); at != std::string::npos; at = path.find("%p", at)) {
        std::string pid = std::to_string(::getpid());
        path.replace(at, 2, pid);
        at += pid.size();
    }
    return path;
}

}  // namespace

void IOLoop::start_tracing(std::string path, TraceOptions options) {
    if (Life life = life_.load(); life == Life::closing || life == Life::closed) {
        throw std::logic_error("IOLoop::start_tracing: the loop is closed");
    }
    if (tracer_) throw std::logic_error("IOLoop::start_tracing: the loop traces already");
    tracer_ =
        std::make_unique<detail::Tracer>(with_process_id(std::move(path)), options, backend());
    detail::g_tracing_loops.fetch_add(1, std::memory_order_relaxed);
    update_timing_needed();
    if (options.write_on_sigusr2) take_sigusr2();
}

// SIGUSR2 writes the trace, on the loop's thread like any signal handler
// here (never in the signal handler itself: writing a file is no
// async-signal-safe work). A SIGUSR2 the application handles stays its own.
void IOLoop::take_sigusr2() {
    bool handled_here = std::any_of(signals_->entries.begin(), signals_->entries.end(),
                                    [](const auto& entry) { return entry.signal == SIGUSR2; });
    if (handled_here) {
        gen_log.info(
            "IOLoop tracing: SIGUSR2 is the application's, so it will not write the trace");
        return;
    }
    try {
        add_signal_handler(SIGUSR2, [this] { write_trace(); });
        tracer_owns_sigusr2_ = true;
    } catch (const std::logic_error& error) {  // another loop handles it
        gen_log.info("IOLoop tracing: SIGUSR2 will not write the trace: {}", error.what());
    }
}

void IOLoop::stop_tracing() {
    if (!tracer_) return;
    if (tracer_owns_sigusr2_) remove_signal_handler(SIGUSR2);
    tracer_owns_sigusr2_ = false;
    // Off before the write: nothing the write does is recorded into what it writes.
    std::unique_ptr<detail::Tracer> tracer = std::move(tracer_);
    detail::g_tracing_loops.fetch_sub(1, std::memory_order_relaxed);
    update_timing_needed();
    tracer->write();
}

bool IOLoop::write_trace() { return tracer_ && tracer_->write(); }

// TORNADO_TRACE=PATH: read once per process, by the first loop that starts,
// not the first one made. A program may make loops it never runs (each
// thread's IOLoop::current()), and the variable names one file, which one
// loop must own: the first to run is the program's main loop.
void IOLoop::trace_if_the_environment_asks() {
    static std::atomic<bool> asked{false};
    if (asked.load(std::memory_order_relaxed) || asked.exchange(true)) return;
    const char* path = std::getenv("TORNADO_TRACE");
    if (path == nullptr || *path == '\0' || tracer_) return;
    start_tracing(path);
    gen_log.info("IOLoop: tracing to {} (TORNADO_TRACE)", tracer_->path());
}

// --- PeriodicCallback ------------------------------------------------------------------

// The first call is one period from now (schedule_next steps from now). The
// new epoch keeps a run or done callback left from before a stop() from
// starting a second chain of calls.
void PeriodicCallback::start() {
    if (impl_->running) return;
    impl_->loop = &IOLoop::current();
    impl_->loop_queue = impl_->loop->remote_;
    impl_->running = true;
    ++impl_->epoch;
    impl_->next_timeout = IOLoop::time();
    schedule_next(impl_);
}

// The loop may be gone: a PeriodicCallback may outlive it. Its queue may
// still live (a worker thread can hold it), but it is closed by then, so
// "queue alive and open" means "loop alive, timer table intact".
void PeriodicCallback::stop() noexcept {
    if (!impl_->running) return;
    impl_->running = false;
    std::shared_ptr<detail::RemoteQueue> queue = impl_->loop_queue.lock();
    if (queue && !queue->closed()) impl_->loop->remove_timeout(impl_->timeout);
    impl_->timeout = {};
}

// As Tornado's PeriodicCallback: an exception is logged and the schedule
// goes on. cancelled() is asked before exception(), which throws
// CancelledError on a cancelled Future.
void PeriodicCallback::run(const std::shared_ptr<Impl>& impl, std::uint64_t epoch) {
    if (!impl->running || impl->epoch != epoch) return;
    Future<void> result(nullptr);
    try {
        result = impl->callback();
    } catch (...) {
        app_log.error("Exception in a PeriodicCallback: {}",
                      describe_exception(std::current_exception()));
    }
    if (result.valid() && !result.done()) {
        // A coroutine: the next call is planned once it has finished.
        result.add_done_callback([impl, epoch](Future<void> done) {
            if (!done.cancelled() && done.exception()) {
                app_log.error("Exception in a PeriodicCallback: {}",
                              describe_exception(done.exception()));
            }
            if (impl->running && impl->epoch == epoch) schedule_next(impl);
        });
        return;
    }
    if (result.valid() && !result.cancelled() && result.exception()) {
        app_log.error("Exception in a PeriodicCallback: {}",
                      describe_exception(result.exception()));
    }
    schedule_next(impl);
}

// Tornado's _update_next, on the loop's monotonic clock. The jitter scales
// each period by a factor in [1 - jitter/2, 1 + jitter/2]; a jitter of 2
// or more could make it zero or negative, hence the floor of one tick. The
// random engine is per thread: no lock, and a loop runs on one thread.
void PeriodicCallback::schedule_next(const std::shared_ptr<Impl>& impl) {
    if (!impl->running) return;
    using Duration = IOLoop::Clock::duration;
    Duration period = impl->period;
    if (impl->jitter > 0) {
        thread_local std::minstd_rand random(std::random_device{}());
        std::uniform_real_distribution<double> spread(-0.5, 0.5);
        period =
            std::chrono::duration_cast<Duration>(period * (1.0 + impl->jitter * spread(random)));
        if (period <= Duration::zero()) period = Duration(1);
    }
    IOLoop::Clock::time_point now = IOLoop::time();
    if (impl->next_timeout <= now) {
        // Late (the callback or the loop was slow): skip the missed slots and
        // stay on the grid, rather than run the missed calls in a burst.
        auto missed = (now - impl->next_timeout) / period;
        impl->next_timeout += (missed + 1) * period;
    } else {
        // Tornado's guard for a wall clock set back; only a safety net here
        // (monotonic clock, and a timeout never runs before its deadline).
        impl->next_timeout += period;
    }
    std::uint64_t epoch = impl->epoch;
    impl->timeout = impl->loop->call_at(impl->next_timeout, [impl, epoch] { run(impl, epoch); });
}

}  // namespace tornado
