// concurrent.cpp: see tornado/concurrent.h for the contract.
//
// Two unrelated halves live here:
//
//   * FutureStateBase, the shared state behind every Future<T>: how done
//     callbacks are stored, queued on the loop (never run inside
//     set_result, as asyncio and Tornado promise) and run; and how a Future
//     that a coroutine waits for joins its loop's list, so that
//     IOLoop::close() can cancel it instead of leaving the coroutine
//     suspended forever.
//   * ThreadPoolExecutor, Python's concurrent.futures.ThreadPoolExecutor in
//     small: the only code in this file that runs on other threads.
//
// A Future's state is single-threaded on purpose (see the header): nothing
// in the first half takes a lock.
#include "tornado/concurrent.h"

#include <algorithm>

#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado {

namespace detail {

bool is_cancelled_error(const std::exception_ptr& error) {
    return holds_exception<CancelledError>(error);
}

}  // namespace detail

namespace {

// The one reference a queued "run the callbacks" entry holds on its state.
// Without it, the last Future handle could go away between set_result and
// the loop's next turn, and the queued entry would run callbacks on freed
// memory. Move-only, so that exactly one reference travels with the entry
// however often the loop's queue moves it; a moved-from one holds nothing.
class CallbacksRun {
public:
    explicit CallbacksRun(detail::FutureStateBase* state) noexcept : state_(state) {
        state_->add_ref();
    }
    CallbacksRun(CallbacksRun&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    CallbacksRun& operator=(CallbacksRun&&) = delete;
    ~CallbacksRun() {
        if (state_ != nullptr) state_->release();
    }
    detail::FutureStateBase* get() const noexcept { return state_; }

private:
    detail::FutureStateBase* state_;
};

}  // namespace

// An error that arrives after its Future was cancelled has nowhere to go,
// so it is logged rather than lost (Tornado's
// future_set_exception_unless_cancelled does the same). A CancelledError is
// the expected outcome of the cancel itself, so it stays quiet.
void log_exception_after_cancel(std::exception_ptr error) {
    if (!error || detail::is_cancelled_error(error)) return;
    app_log.error("Exception after Future was cancelled: {}", describe_exception(error));
}

namespace detail {

// The last reference is gone. An exception that nobody ever looked at
// (result(), exception() or co_await) would otherwise vanish without a
// trace, so it is logged here, as asyncio logs "Future exception was never
// retrieved" when such a Future is garbage-collected.
FutureStateBase::~FutureStateBase() {
    if (tracked_) untrack();
    if (exception_ && !exception_retrieved_ && !is_cancelled_error(exception_)) {
        app_log.error("Future exception was never retrieved: {}", describe_exception(exception_));
    }
}

void FutureStateBase::check_pending() const {
    if (status_ == Status::cancelled) throw InvalidStateError("the Future was cancelled");
    if (status_ == Status::finished) throw InvalidStateError("the Future is already done");
}

bool FutureStateBase::has_callbacks() const noexcept { return waiter_ || first_callback_; }

// Called from FutureAwaiter::await_suspend, so normally on a pending Future.
// A pending Future with a waiter joins its loop's list: if the loop closes
// first, close() cancels it and the coroutine resumes with CancelledError.
// The done branch only covers a Future finished in between.
void FutureStateBase::add_waiter(std::coroutine_handle<> waiter) {
    if (!has_callbacks()) {
        waiter_ = waiter;
    } else {
        // The waiter slot always runs first (see run_callbacks), so a waiter
        // that comes after a callback (or after another waiter) queues as a
        // callback itself: everyone runs in the order they came.
        add_callback([waiter](FutureStateBase&) { waiter.resume(); });
    }
    if (!done()) {
        if (!tracked_) track();
    } else {
        schedule_callbacks();
    }
}

// Stores a callback without scheduling it. The first one takes the inline
// slot; only a second one pays for the vector (see the header's layout note).
void FutureStateBase::add_callback(DoneCallback callback) {
    if (!first_callback_) {
        first_callback_ = std::move(callback);
    } else {
        if (!more_callbacks_) more_callbacks_ = std::make_unique<std::vector<DoneCallback>>();
        more_callbacks_->push_back(std::move(callback));
    }
}

// A callback added to a Future that is already done still waits for the
// loop's next turn, as asyncio's add_done_callback does: the caller can rely
// on it never running before this call returns.
void FutureStateBase::add_done_callback(DoneCallback callback) {
    add_callback(std::move(callback));
    if (!done()) {
        if (!tracked_) track();
    } else {
        schedule_callbacks();
    }
}

bool FutureStateBase::cancel() {
    if (done()) return false;
    status_ = Status::cancelled;
    if (tracked_) untrack();
    schedule_callbacks();
    return true;
}

void FutureStateBase::set_exception(std::exception_ptr error) {
    check_pending();
    if (!error) throw std::invalid_argument("set_exception needs an exception");
    exception_ = std::move(error);
    finish();
}

// A done Future leaves the loop's pending list first: close() must only
// cancel Futures that can still change.
void FutureStateBase::finish() {
    status_ = Status::finished;
    if (tracked_) untrack();
    schedule_callbacks();
}

// Asking for the outcome (here, or through exception()) marks the error as
// retrieved; a Future only checked for done() and dropped still gets its
// error logged by the destructor.
void FutureStateBase::throw_if_failed() {
    if (status_ == Status::pending) throw InvalidStateError("the Future is not done yet");
    if (status_ == Status::cancelled) throw CancelledError();
    if (exception_) {
        exception_retrieved_ = true;
        std::rethrow_exception(exception_);
    }
}

std::exception_ptr FutureStateBase::exception() {
    if (status_ == Status::pending) throw InvalidStateError("the Future is not done yet");
    if (status_ == Status::cancelled) throw CancelledError();
    exception_retrieved_ = true;
    return exception_;
}

// Queues one loop entry that runs every callback registered so far. The
// flag keeps it to one entry however many callbacks are added before the
// loop gets there; they all go into the same run. The loop is the one the
// first registration saw (track() sets loop_), or else the current thread's.
// The kind only tells the loop's slow-callback and error reports what ran.
void FutureStateBase::schedule_callbacks() {
    if (callbacks_scheduled_ || !has_callbacks()) return;
    if (loop_ == nullptr) loop_ = &IOLoop::current();
    CallbackKind kind = waiter_ ? CallbackKind::coroutine : CallbackKind::future;
    loop_->post({[run = CallbacksRun(this)] { run.get()->run_callbacks(); }, {}, kind});
    callbacks_scheduled_ = true;
}

// Runs on the loop, from the entry that schedule_callbacks queued. The
// callbacks are moved out of the state before any of them runs, and the
// flag is cleared first: a callback may add another callback to this same
// Future, and that one must be queued for a later turn, not appended to the
// list being walked (which could reallocate under the loop).
void FutureStateBase::run_callbacks() {
    callbacks_scheduled_ = false;
    loop_ = nullptr;  // the next registration picks the loop again
    std::coroutine_handle<> waiter = std::exchange(waiter_, nullptr);
    DoneCallback first = std::move(first_callback_);
    std::unique_ptr<std::vector<DoneCallback>> more = std::move(more_callbacks_);
    if (waiter) waiter.resume();
    if (first) run_callback(first);
    if (more) {
        for (DoneCallback& callback : *more) run_callback(callback);
    }
}

// One callback's exception must not stop the ones after it, nor escape into
// the loop: it is logged, as asyncio logs an exception in a done callback.
// (A resumed coroutine handles its own exceptions: see gen.h.)
void FutureStateBase::run_callback(DoneCallback& callback) {
    try {
        callback(*this);
    } catch (...) {
        app_log.error("Exception in a Future's done callback: {}",
                      describe_exception(std::current_exception()));
    }
}

// Called on the first registration of a pending Future. From here on loop_
// is fixed: that loop both lists the Future and will run its callbacks.
void FutureStateBase::track() {
    if (loop_ == nullptr) loop_ = &IOLoop::current();
    loop_->track_pending(this);
    tracked_ = true;
}

// Assumes loop_ is still alive: a closing loop clears tracked_ and loop_ on
// any Future it leaves on its list (IOLoop::close), so this is not reached
// for a loop that is gone.
void FutureStateBase::untrack() {
    loop_->untrack_pending(this);
    tracked_ = false;
}

}  // namespace detail

// --- ThreadPoolExecutor ----------------------------------------------------------
//
// One mutex guards the job queue, the thread list, the idle count and the
// shutdown flag; the condition variable wakes idle workers. Jobs run outside
// the lock, so a slow job never holds up submit() or the other workers.

// 0 means Python's default, min(32, cpu_count + 4). hardware_concurrency()
// may return 0 when it cannot tell; that still gives 4 threads.
ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers)
    : max_workers_(max_workers != 0
                       ? max_workers
                       : std::min<std::size_t>(32, std::thread::hardware_concurrency() + 4)) {}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(true); }

// Any thread may call this. Threads are started lazily, as Python's pool
// does, so an executor that is never used costs no threads.
void ThreadPoolExecutor::submit(Function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        if (shutting_down_) throw std::runtime_error("ThreadPoolExecutor: submit after shutdown");
        jobs_.push_back(std::move(job));
        // Start a thread only when the idle ones cannot take every job. A
        // worker that has been notified but not yet woken still counts as
        // idle, while its job is still queued, so a burst of submits before
        // it wakes correctly starts more threads. The new thread blocks on
        // mutex_ until this scope ends.
        if (jobs_.size() > idle_ && threads_.size() < max_workers_) {
            threads_.emplace_back([this] { work(); });
        }
    }
    // Notified after unlocking, so the woken worker does not at once block
    // on the mutex this thread still holds.
    wake_.notify_one();
}

// Workers always drain the queue before they exit (see work()), so the jobs
// already queued run even without `wait`; `wait` only decides whether this
// call joins the threads. Without it they stay in threads_ and the
// destructor's shutdown(true) joins them later. Must not be called with
// `wait` from one of the pool's own jobs: a thread cannot join itself.
void ThreadPoolExecutor::shutdown(bool wait) {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex_);
        shutting_down_ = true;
        if (wait) threads.swap(threads_);
    }
    wake_.notify_all();
    // Joined outside the lock: the workers need it to take their last jobs.
    for (std::thread& thread : threads) thread.join();
}

std::size_t ThreadPoolExecutor::thread_count() const {
    std::lock_guard lock(mutex_);
    return threads_.size();
}

// The body of every worker thread. A worker never exits while jobs remain
// (the wait predicate is true while the queue is non-empty), so queued jobs
// are finished before the pool shuts down. Idle workers do not time out:
// once started, a thread lives until shutdown.
void ThreadPoolExecutor::work() {
    for (;;) {
        Function<void()> job;
        {
            std::unique_lock lock(mutex_);
            ++idle_;
            wake_.wait(lock, [this] { return shutting_down_ || !jobs_.empty(); });
            --idle_;
            if (jobs_.empty()) return;  // shutting down, and nothing is left to do
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        // A job's exception would otherwise end the thread with
        // std::terminate. Jobs from run_in_executor catch their own and hand
        // them back through the Future; this catches only raw submit()s.
        try {
            job();
        } catch (...) {
            app_log.error("Exception in a ThreadPoolExecutor job: {}",
                          describe_exception(std::current_exception()));
        }
    }
}

}  // namespace tornado
