// locks.cpp: see tornado/locks.h for the contract (Tornado's tornado.locks).
//
// Every wait is a Future in a WaiterQueue; notify() and release() serve
// the first still pending (pop_pending). No mutex: all runs on the loop's
// thread, and a woken waiter's code runs at the next turn, not inside ours.
#include "tornado/locks.h"

#include <stdexcept>

#include "tornado/log.h"

namespace tornado {

// --- Condition ----------------------------------------------------------------------

// A timeout is no error here: the waiter resolves to false, as in Tornado.
Future<bool> Condition::wait(std::optional<Deadline> timeout) {
    Future<bool> waiter;
    waiters_.push(waiter);
    detail::on_deadline(timeout, waiter, [](const Future<bool>& late) { late.set_result(false); });
    return waiter;
}

// `n` counts waiters woken: one that timed out does not use up a notify.
void Condition::notify(std::size_t n) {
    for (; n > 0; --n) {
        std::optional<Future<bool>> waiter = waiters_.pop_pending();
        if (!waiter) return;
        waiter->set_result(true);
    }
}

// size() counts the waiters that will be passed over too: enough for all.
void Condition::notify_all() { notify(waiters_.size()); }

// --- Event --------------------------------------------------------------------------

// While the flag is up wait() joins no line: a second set() has no one to wake.
void Event::set() {
    if (set_) return;
    set_ = true;
    while (std::optional<Future<void>> waiter = waiters_.pop_pending()) waiter->set_result();
}

Future<void> Event::wait(std::optional<Deadline> timeout) {
    if (set_) return detail::done_future();
    Future<void> waiter;
    waiters_.push(waiter);
    detail::fail_at(timeout, waiter);
    return waiter;
}

// --- ReleasingGuard -----------------------------------------------------------------

ReleasingGuard& ReleasingGuard::operator=(ReleasingGuard&& other) noexcept {
    if (this != &other) {
        ReleasingGuard old(std::move(*this));  // releases what this held, on leaving
        semaphore_ = std::exchange(other.semaphore_, nullptr);
    }
    return *this;
}

ReleasingGuard::~ReleasingGuard() {
    try {
        release();
    } catch (const std::exception& error) {
        // Only a BoundedSemaphore (or a Lock) throws here, when someone also
        // released it by hand. A destructor must not throw: say so instead.
        app_log.error("Releasing a semaphore at the end of a scope failed: {}", error.what());
    }
}

void ReleasingGuard::release() {
    // Forget the semaphore first: if its release() throws, there is nothing
    // left for the destructor to try again.
    if (Semaphore* semaphore = std::exchange(semaphore_, nullptr)) semaphore->release();
}

// --- Semaphore, BoundedSemaphore, Lock ---------------------------------------------------

Semaphore::Semaphore(int value) : value_(value) {
    if (value < 0) throw std::invalid_argument("semaphore initial value must be >= 0");
}

// Taking a free slot at once is fair: release() serves a pending waiter
// before it counts a slot free, so value_ > 0 means nobody waits.
Future<ReleasingGuard> Semaphore::acquire(std::optional<Deadline> timeout) {
    Future<ReleasingGuard> waiter;
    if (value_ > 0) {
        --value_;
        waiter.set_result(ReleasingGuard(*this));
    } else {
        waiters_.push(waiter);
        detail::fail_at(timeout, waiter);
    }
    return waiter;
}

void Semaphore::release() {
    if (std::optional<Future<ReleasingGuard>> waiter = waiters_.pop_pending()) {
        // The slot goes straight to the waiter. Should nobody ever take the
        // guard out of that Future (its caller gave up through with_timeout,
        // say), the guard still gives the slot back when the Future is freed.
        waiter->set_result(ReleasingGuard(*this));
    } else {
        ++value_;
    }
}

// Tornado's test: all slots free already means a release with no acquire.
// A slot handed straight to a waiter is never counted free.
void BoundedSemaphore::release() {
    if (value() >= initial_value_) throw std::logic_error("Semaphore released too many times");
    Semaphore::release();
}

// A BoundedSemaphore of one, with the error of Tornado's Lock.
void Lock::release() {
    try {
        block_.release();
    } catch (const std::logic_error&) {
        throw std::logic_error("release unlocked lock");
    }
}

}  // namespace tornado
