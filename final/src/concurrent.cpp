// concurrent.cpp: see tornado/concurrent.h for the contract.
#include "tornado/concurrent.h"

#include <algorithm>

#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado {

namespace detail {

bool is_cancelled_error(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError&) {
        return true;
    } catch (...) {
        return false;
    }
}

}  // namespace detail

namespace {

// The one reference a queued "run the callbacks" entry holds on its state.
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

void log_exception_after_cancel(std::exception_ptr error) {
    if (!error || detail::is_cancelled_error(error)) return;
    app_log.error("Exception after Future was cancelled: {}", describe_exception(error));
}

namespace detail {

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

void FutureStateBase::add_waiter(std::coroutine_handle<> waiter) {
    if (!has_callbacks()) {
        waiter_ = waiter;
    } else {
        // Keeps the order in which they came: the waiter slot runs first.
        add_callback([waiter](FutureStateBase&) { waiter.resume(); });
    }
    if (!done()) {
        if (!tracked_) track();
    } else {
        schedule_callbacks();
    }
}

void FutureStateBase::add_callback(DoneCallback callback) {
    if (!first_callback_) {
        first_callback_ = std::move(callback);
    } else {
        if (!more_callbacks_) more_callbacks_ = std::make_unique<std::vector<DoneCallback>>();
        more_callbacks_->push_back(std::move(callback));
    }
}

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

void FutureStateBase::finish() {
    status_ = Status::finished;
    if (tracked_) untrack();
    schedule_callbacks();
}

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

void FutureStateBase::schedule_callbacks() {
    if (callbacks_scheduled_ || !has_callbacks()) return;
    if (loop_ == nullptr) loop_ = &IOLoop::current();
    CallbackKind kind = waiter_ ? CallbackKind::coroutine : CallbackKind::future;
    loop_->post({[run = CallbacksRun(this)] { run.get()->run_callbacks(); }, {}, kind});
    callbacks_scheduled_ = true;
}

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

void FutureStateBase::run_callback(DoneCallback& callback) {
    try {
        callback(*this);
    } catch (...) {
        app_log.error("Exception in a Future's done callback: {}",
                      describe_exception(std::current_exception()));
    }
}

void FutureStateBase::track() {
    if (loop_ == nullptr) loop_ = &IOLoop::current();
    loop_->track_pending(this);
    tracked_ = true;
}

void FutureStateBase::untrack() {
    loop_->untrack_pending(this);
    tracked_ = false;
}

}  // namespace detail

// --- ThreadPoolExecutor ----------------------------------------------------------

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers)
    : max_workers_(max_workers != 0
                       ? max_workers
                       : std::min<std::size_t>(32, std::thread::hardware_concurrency() + 4)) {}

ThreadPoolExecutor::~ThreadPoolExecutor() { shutdown(true); }

void ThreadPoolExecutor::submit(Function<void()> job) {
    {
        std::lock_guard lock(mutex_);
        if (shutting_down_) throw std::runtime_error("ThreadPoolExecutor: submit after shutdown");
        jobs_.push_back(std::move(job));
        // Start a thread only when the idle ones cannot take every job.
        if (jobs_.size() > idle_ && threads_.size() < max_workers_) {
            threads_.emplace_back([this] { work(); });
        }
    }
    wake_.notify_one();
}

void ThreadPoolExecutor::shutdown(bool wait) {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex_);
        shutting_down_ = true;
        if (wait) threads.swap(threads_);
    }
    wake_.notify_all();
    for (std::thread& thread : threads) thread.join();
}

std::size_t ThreadPoolExecutor::thread_count() const {
    std::lock_guard lock(mutex_);
    return threads_.size();
}

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
        try {
            job();
        } catch (...) {
            app_log.error("Exception in a ThreadPoolExecutor job: {}",
                          describe_exception(std::current_exception()));
        }
    }
}

}  // namespace tornado
