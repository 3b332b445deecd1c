// ioloop.cpp: see tornado/ioloop.h for the contract.
#include "tornado/ioloop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <mutex>
#include <random>
#include <stdexcept>

namespace tornado {

namespace {

// The loop running start() on this thread, if any.
thread_local IOLoop* t_running_loop = nullptr;
// The newest loop made on this thread (the head of a list through the loops;
// see IOLoop::link_to_thread). Trivially destructible on purpose: a loop
// owned by the thread is destroyed at thread exit and still unlinks itself.
thread_local IOLoop* t_newest_loop = nullptr;

// The epoll token of the loop's own eventfd. Other tokens are
// (generation << 32) | fd, and no descriptor is 0xffffffff.
constexpr std::uint64_t kWakeToken = UINT64_MAX;

// Up to this many ready descriptors per epoll_wait; more wait a turn.
constexpr std::size_t kMaxEventsPerPoll = 1024;

// close() runs at most this many batches of callbacks while it waits for
// cancelled coroutines to unwind.
constexpr int kMaxCloseRounds = 1000;

// Lazy deletion leaves cancelled timeouts in the heap; it is swept when
// they are at least this many and at least half of it (as Tornado does).
constexpr std::size_t kTimerSweepMinimum = 512;

std::uint64_t handler_token(int fd, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | static_cast<std::uint32_t>(fd);
}

// "web.cpp:42", for log lines that name where a callback came from.
std::string describe_place(SourceLocation where) {
    std::string_view file = where.file_name();
    if (file.empty()) return "an unknown place";
    std::size_t slash = file.find_last_of('/');
    if (slash != std::string_view::npos) file.remove_prefix(slash + 1);
    return std::string(file) + ":" + std::to_string(where.line());
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

struct SignalSlot {
    std::atomic<int> wake_fd{-1};
    std::atomic<bool> pending{false};
};
SignalSlot g_signal_slots[NSIG];
std::mutex g_signal_mutex;  // guards ownership changes (not the handler)

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

class RemoteQueue {
public:
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

    bool has_callbacks() const noexcept { return has_callbacks_.load(std::memory_order_acquire); }

    void take(std::vector<QueuedCallback>& out) {
        std::lock_guard lock(mutex_);
        out.swap(callbacks_);
        has_callbacks_.store(false, std::memory_order_relaxed);
    }

    void wake() noexcept {
        std::uint64_t one = 1;
        // The counter only needs to be non-zero; EAGAIN (full) means the
        // loop is due to wake anyway.
        [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
        wakeups_.fetch_add(1, std::memory_order_relaxed);
    }

    // The loop woke: reset the eventfd, and let the next post wake it again.
    // An exchange, not a store: it pairs with the poster's exchange, so the
    // loop sees every callback queued before a post that saw "pending".
    void drain() noexcept {
        std::uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
        wake_pending_.exchange(false);
    }

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

void schedule_resume(IOLoop& loop, std::coroutine_handle<> coroutine) {
    loop.post({[coroutine] { coroutine.resume(); }, {}, CallbackKind::coroutine});
}

void log_spawned_exception(std::exception_ptr error, SourceLocation where) {
    app_log.error("Exception in a callback spawned at {}: {}", describe_place(where),
                  describe_exception(error));
}

void throw_run_sync_timeout(IOLoop::Clock::duration timeout) {
    double seconds = std::chrono::duration<double>(timeout).count();
    throw TimeoutError(tornado::format("Operation timed out after {} seconds", seconds));
}

}  // namespace detail

// --- life --------------------------------------------------------------------------

IOLoop::IOLoop()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      remote_(std::make_shared<detail::RemoteQueue>()),
      events_(kMaxEventsPerPoll),
      signals_(std::make_unique<detail::SignalState>()) {
    if (!epoll_fd_) throw_errno("epoll_create1");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kWakeToken;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, remote_->wake_fd(), &event) < 0) {
        throw_errno("epoll_ctl ADD eventfd");
    }
    link_to_thread();
}

IOLoop::~IOLoop() {
    close();
    unlink_from_thread();
}

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

IOLoop* IOLoop::try_current() noexcept {
    return t_running_loop != nullptr ? t_running_loop : t_newest_loop;
}

// --- descriptors -----------------------------------------------------------------

IOLoop::HandlerSlot* IOLoop::handler_slot(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= handlers_.size()) return nullptr;
    return &handlers_[static_cast<std::size_t>(fd)];
}

void IOLoop::add_handler(int fd, Handler handler, std::uint32_t events, SourceLocation where) {
    if (closed_) throw std::logic_error("IOLoop::add_handler: the loop is closed");
    if (fd < 0) throw std::invalid_argument("IOLoop::add_handler: negative descriptor");
    if (static_cast<std::size_t>(fd) >= handlers_.size()) {
        handlers_.resize(static_cast<std::size_t>(fd) + 1);
    }
    HandlerSlot& slot = handlers_[static_cast<std::size_t>(fd)];
    if (slot.active) {
        throw std::logic_error("IOLoop::add_handler: fd " + std::to_string(fd) +
                               " already has a handler");
    }
    epoll_event event{};
    event.events = events | ERROR;
    event.data.u64 = handler_token(fd, slot.generation);
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
        throw_errno("epoll_ctl ADD fd " + std::to_string(fd));
    }
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
}

void IOLoop::update_handler(int fd, std::uint32_t events) {
    HandlerSlot* slot = handler_slot(fd);
    if (slot == nullptr || !slot->active) {
        throw std::logic_error("IOLoop::update_handler: fd " + std::to_string(fd) +
                               " has no handler");
    }
    if (slot->events == events) return;
    epoll_event event{};
    event.events = events | ERROR;
    event.data.u64 = handler_token(fd, slot->generation);
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &event) < 0) {
        throw_errno("epoll_ctl MOD fd " + std::to_string(fd));
    }
    slot->events = events;
}

void IOLoop::remove_handler(int fd) noexcept {
    HandlerSlot* slot = handler_slot(fd);
    if (slot == nullptr || !slot->active) return;
    slot->active = false;
    slot->events = 0;
    // A new generation: an event for the old registration still in this
    // turn's batch no longer matches, even if fd is reused at once.
    ++slot->generation;
    // Failure is harmless: a closed descriptor has left the epoll set anyway.
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    if (fd == dispatching_fd_) {
        // Running now: dispatch_handler destroys it when it returns. A
        // successor added meanwhile has not run; it can go at once.
        successor_handler_ = nullptr;
    } else {
        slot->handler = nullptr;
    }
}

// --- callbacks ---------------------------------------------------------------------

void IOLoop::post(detail::QueuedCallback callback) {
    if (t_running_loop == this) {
        // On the loop's own thread: no lock, no wake-up; the loop is not
        // sleeping, and the next turn will see the callback.
        if (closed_) return;
        callbacks_.push_back(std::move(callback));
        return;
    }
    // Refused after close(): the callback is dropped with this frame.
    remote_->post(callback);
}

void IOLoop::run_local_callbacks() {
    // Run the batch queued so far; what these callbacks queue waits for the
    // next turn, after I/O had its chance (no starvation).
    batch_.swap(callbacks_);
    for (detail::QueuedCallback& callback : batch_) {
        run_guarded(callback.kind, callback.where, -1, callback.function);
    }
    batch_.clear();
}

void IOLoop::run_remote_callbacks() {
    remote_->take(batch_);
    for (detail::QueuedCallback& callback : batch_) {
        run_guarded(callback.kind, callback.where, -1, callback.function);
    }
    batch_.clear();
}

template <typename F>
void IOLoop::run_guarded(detail::CallbackKind kind, SourceLocation where, int fd, F&& function) {
    // Tornado logs an exception from a callback and goes on: one bad handler
    // must not take the whole server down.
    try {
        if (blocking_threshold_ <= Clock::duration::zero()) {
            function();
            return;
        }
        Clock::time_point started = Clock::now();
        function();
        Clock::duration took = Clock::now() - started;
        if (took > blocking_threshold_) report_blocking(took, kind, where, fd);
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

void IOLoop::set_blocking_log_threshold(double seconds) {
    blocking_threshold_ =
        seconds > 0 ? std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds))
                    : Clock::duration::zero();
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

IOLoop::Timeout IOLoop::call_at(Clock::time_point when, Callback callback, SourceLocation where) {
    if (closed_) return {};
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

void IOLoop::free_timer_slot(std::uint32_t slot_index) noexcept {
    TimerSlot& slot = timer_slots_[slot_index];
    slot.callback = nullptr;
    slot.active = false;
    ++slot.generation;
    free_timer_slots_.push_back(slot_index);
}

void IOLoop::remove_timeout(Timeout timeout) noexcept {
    if (timeout.slot_ >= timer_slots_.size()) return;
    TimerSlot& slot = timer_slots_[timeout.slot_];
    if (!slot.active || slot.generation != timeout.generation_) return;  // ran or removed
    free_timer_slot(timeout.slot_);
    ++cancelled_timers_;
    compact_timer_heap();
}

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
        Callback callback = std::move(slot.callback);
        SourceLocation where = slot.where;
        free_timer_slot(due.slot);
        run_guarded(detail::CallbackKind::timeout, where, -1, callback);
    }
    due_.clear();
}

// --- the loop ----------------------------------------------------------------------

void IOLoop::start() {
    if (closed_ || closing_) throw std::logic_error("IOLoop::start: the loop is closed");
    if (running_.exchange(true)) throw std::logic_error("IOLoop::start: already running");
    IOLoop* previous = std::exchange(t_running_loop, this);
    graceful_stop_started_ = false;
    struct Restore {
        IOLoop* loop;
        IOLoop* previous;
        ~Restore() {
            loop->stopping_.store(false);
            loop->running_.store(false);
            t_running_loop = previous;
        }
    } restore{this, previous};

    for (;;) {
        run_local_callbacks();
        if (remote_->has_callbacks()) run_remote_callbacks();
        run_due_timeouts();
        poll_and_dispatch(poll_timeout_ms());
        if (stopping_.load(std::memory_order_acquire)) break;
    }
}

void IOLoop::stop() noexcept {
    stopping_.store(true, std::memory_order_release);
    // The loop's own thread is not inside epoll_wait; any other must wake it.
    if (t_running_loop != this) remote_->wake();
}

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

void IOLoop::poll_and_dispatch(int timeout_ms) {
    int ready =
        ::epoll_wait(epoll_fd_.get(), events_.data(), static_cast<int>(events_.size()), timeout_ms);
    if (ready < 0) {
        if (errno == EINTR) return;  // a signal arrived; go round again
        throw_errno("epoll_wait");
    }
    turn_time_ = Clock::now();
    for (int i = 0; i < ready; ++i) {
        std::uint64_t token = events_[static_cast<std::size_t>(i)].data.u64;
        if (token == kWakeToken) {
            on_wake();
        } else {
            dispatch_handler(token, events_[static_cast<std::size_t>(i)].events);
        }
    }
}

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

void IOLoop::on_wake() {
    remote_->drain();
    if (!signals_->entries.empty()) run_signal_handlers();
}

// --- close -------------------------------------------------------------------------

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

bool IOLoop::drain_for_close() {
    for (int round = 0; round < kMaxCloseRounds; ++round) {
        if (!callbacks_.empty() || remote_->has_callbacks()) {
            run_local_callbacks();
            if (remote_->has_callbacks()) run_remote_callbacks();
            continue;
        }
        if (pending_futures_ == nullptr) return true;
        // Everyone still waiting is told it will not happen: each awaited
        // Future is cancelled, and its coroutines resume with CancelledError.
        while (pending_futures_ != nullptr) {
            detail::FutureStateBase* state = pending_futures_;
            state->add_ref();
            state->cancel();  // leaves the list
            state->release();
        }
    }
    return false;
}

void IOLoop::close() {
    if (closed_ || closing_) return;
    if (running_.load()) throw std::logic_error("IOLoop::close: the loop is running");
    closing_ = true;

    // Finish the blocking work first: its results come back as callbacks.
    if (default_executor_) default_executor_->shutdown(true);

    IOLoop* previous = std::exchange(t_running_loop, this);
    bool settled = drain_for_close();
    t_running_loop = previous;
    if (!settled) {
        gen_log.warning(
            "IOLoop closed with {} Futures still awaited: their coroutines stay "
            "suspended",
            pending_count_);
    }

    while (!signals_->entries.empty()) remove_signal_handler(signals_->entries.back().signal);
    closed_ = true;

    // Drop what still holds callbacks. Moved out first: a destructor run from
    // here may call back into the loop (remove_handler, add_callback, ...).
    std::vector<detail::QueuedCallback> leftovers;
    remote_->close(leftovers);
    std::vector<detail::QueuedCallback> callbacks = std::move(callbacks_);
    std::deque<HandlerSlot> handlers = std::move(handlers_);
    std::vector<TimerSlot> timers = std::move(timer_slots_);
    std::vector<std::pair<std::uint64_t, ShutdownHook>> hooks = std::move(shutdown_hooks_);
    callbacks_.clear();
    handlers_.clear();
    timer_slots_.clear();
    timer_heap_.clear();
    free_timer_slots_.clear();
    leftovers.clear();
    callbacks.clear();
    handlers.clear();
    timers.clear();
    hooks.clear();
    // Futures still on the list (close gave up on them) must not point here.
    while (pending_futures_ != nullptr) {
        detail::FutureStateBase* state = pending_futures_;
        untrack_pending(state);
        state->tracked_ = false;
        state->loop_ = nullptr;
    }
    default_executor_.reset();
    closing_ = false;
}

// --- threads -------------------------------------------------------------------------

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

void IOLoop::add_signal_handler(int signal, Callback handler) {
    if (signal <= 0 || signal >= NSIG)
        throw std::invalid_argument("add_signal_handler: bad signal");
    if (closed_) throw std::logic_error("IOLoop::add_signal_handler: the loop is closed");
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
    action.sa_flags = SA_RESTART;  // other threads' blocking calls go on undisturbed
    detail::SignalState::Entry entry{signal, std::move(handler), {}};
    if (::sigaction(signal, &action, &entry.previous) < 0) {
        slot.wake_fd.store(-1);
        throw_errno("sigaction");
    }
    signals_->entries.push_back(std::move(entry));
}

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

void IOLoop::install_signal_handlers(Clock::duration grace) {
    for (int signal : {SIGINT, SIGTERM}) {
        add_signal_handler(signal, [this, signal, grace] {
            if (graceful_stop_started_) {
                gen_log.warning("{} again: stopping now", signal_name(signal));
            } else {
                gen_log.info("{} received: stopping (in-flight work has {:.1f}s to finish)",
                             signal_name(signal), std::chrono::duration<double>(grace).count());
            }
            graceful_stop(grace);
        });
    }
}

std::uint64_t IOLoop::add_shutdown_hook(ShutdownHook hook) {
    std::uint64_t id = next_hook_id_++;
    shutdown_hooks_.emplace_back(id, std::move(hook));
    return id;
}

void IOLoop::remove_shutdown_hook(std::uint64_t id) noexcept {
    std::erase_if(shutdown_hooks_, [id](const auto& hook) { return hook.first == id; });
}

void IOLoop::graceful_stop(Clock::duration grace) {
    if (graceful_stop_started_) {
        stop();  // asked twice: do not wait any longer
        return;
    }
    graceful_stop_started_ = true;

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

// --- PeriodicCallback ------------------------------------------------------------------

void PeriodicCallback::start() {
    if (impl_->running) return;
    impl_->loop = &IOLoop::current();
    impl_->loop_queue = impl_->loop->remote_;
    impl_->running = true;
    ++impl_->epoch;
    impl_->next_timeout = IOLoop::time();
    schedule_next(impl_);
}

void PeriodicCallback::stop() noexcept {
    if (!impl_->running) return;
    impl_->running = false;
    std::shared_ptr<detail::RemoteQueue> queue = impl_->loop_queue.lock();
    if (queue && !queue->closed()) impl_->loop->remove_timeout(impl_->timeout);
    impl_->timeout = {};
}

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
        // The clock went backwards (or start() was called early): one step.
        impl->next_timeout += period;
    }
    std::uint64_t epoch = impl->epoch;
    impl->timeout = impl->loop->call_at(impl->next_timeout, [impl, epoch] { run(impl, epoch); });
}

}  // namespace tornado
