// Tests of tornado/locks.h: Condition, Event, Semaphore, BoundedSemaphore
// and Lock. Waiters in order, timeouts (a duration or a time point),
// waiters that timed out or were cancelled passed over, guards that
// release at the end of a scope, and Tornado's documentation examples.
#include "tornado/locks.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.h"
#include "tornado/gen.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::LogCapture;
using testing::run_turns;
using testing::seconds_since;
using Lines = std::vector<std::string>;

// Every run_sync here is bounded: a lost wake-up fails the test, it does
// not hang it.
constexpr auto kLockBound = 2s;

// Starts two coroutines at once and waits for both (gen.multi), as
// Tornado's examples do, on a fresh loop.
template <typename First, typename Second>
void run_side_by_side(First& first, Second& second) {
    IOLoop loop;
    loop.run_sync(
        [&]() -> Task<void> {
            std::vector<Task<void>> both;
            both.push_back(first());
            both.push_back(second());
            co_await multi(std::move(both));
        },
        kLockBound);
}

// What the coroutines use is declared before the IOLoop: the loop's
// destructor still runs queued callbacks and unwinds waiting coroutines,
// and they must not find that gone (it matters when a test fails midway).

Task<void> wait_and_log(Condition* condition, std::string name, Lines* log) {
    bool notified = co_await condition->wait();
    log->push_back(name + (notified ? " notified" : " timed out"));
}

// --- Condition ----------------------------------------------------------------------

// Tornado's Condition example, line for line.
TEST(Condition, TornadoDocExample) {
    Condition condition;
    Lines printed;
    auto waiter = [&]() -> Task<void> {
        printed.push_back("I'll wait right here");
        co_await condition.wait();
        printed.push_back("I'm done waiting");
    };
    auto notifier = [&]() -> Task<void> {
        printed.push_back("About to notify");
        condition.notify();
        printed.push_back("Done notifying");
        co_return;
    };
    run_side_by_side(waiter, notifier);
    EXPECT_EQ(printed, (Lines{"I'll wait right here", "About to notify", "Done notifying",
                              "I'm done waiting"}));
}

TEST(Condition, NotifyWakesWaitersFirstComeFirstServed) {
    Condition condition;
    Lines log;
    IOLoop loop;
    for (std::string name : {"a", "b", "c"}) wait_and_log(&condition, name, &log).detach();

    condition.notify();
    run_turns(loop, 3);
    EXPECT_EQ(log, (Lines{"a notified"}));
    condition.notify(2);
    run_turns(loop, 3);
    EXPECT_EQ(log, (Lines{"a notified", "b notified", "c notified"}));
}

TEST(Condition, WaitersRunAtTheNextTurnNotInsideNotify) {
    Condition condition;
    Lines log;
    IOLoop loop;
    wait_and_log(&condition, "a", &log).detach();
    condition.notify();
    EXPECT_TRUE(log.empty());
    run_turns(loop, 2);
    EXPECT_EQ(log, (Lines{"a notified"}));
}

TEST(Condition, NotifyAllWakesEveryWaiterAndLaterWaitsWaitAgain) {
    Condition condition;
    IOLoop loop;
    Future<bool> first = condition.wait();
    Future<bool> second = condition.wait();
    condition.notify_all();
    EXPECT_TRUE(first.done() && first.result());
    EXPECT_TRUE(second.done() && second.result());
    Future<bool> third = condition.wait();
    EXPECT_FALSE(third.done()) << "a notification is not remembered for later waiters";
    condition.notify(5);  // more than are waiting: no harm
    EXPECT_TRUE(third.done());
}

TEST(Condition, WaitResolvesToFalseAfterATimeout) {
    Condition condition;
    IOLoop loop;
    auto start = IOLoop::time();
    bool notified = loop.run_sync([&] { return condition.wait(30ms); }, kLockBound);
    EXPECT_FALSE(notified);
    EXPECT_GE(seconds_since(start), 0.029);
}

TEST(Condition, TimeoutMayBeATimePointOnTheLoopClock) {
    Condition condition;
    IOLoop loop;
    auto start = IOLoop::time();
    bool notified =
        loop.run_sync([&] { return condition.wait(IOLoop::time() + 30ms); }, kLockBound);
    EXPECT_FALSE(notified);
    EXPECT_GE(seconds_since(start), 0.029);
}

TEST(Condition, NotifyPassesOverWaitersThatTimedOut) {
    Condition condition;
    IOLoop loop;
    Future<bool> impatient = condition.wait(10ms);
    Future<bool> patient = condition.wait();
    loop.run_sync([&]() -> Task<void> { co_await impatient; }, kLockBound);
    EXPECT_FALSE(impatient.result());

    condition.notify();
    EXPECT_TRUE(patient.done()) << "the one notification went to the waiter that timed out";
}

TEST(Condition, ACancelledWaiterDoesNotTakeTheNotification) {
    Condition condition;
    Lines log;
    IOLoop loop;
    Future<bool> first = condition.wait();
    auto cancellable = [](Future<bool> wait, Lines* out) -> Task<void> {
        try {
            co_await wait;
            out->push_back("first notified");
        } catch (const CancelledError&) {
            out->push_back("first cancelled");
        }
    };
    cancellable(first, &log).detach();
    wait_and_log(&condition, "second", &log).detach();

    first.cancel();
    condition.notify();
    run_turns(loop, 3);
    EXPECT_EQ(log, (Lines{"first cancelled", "second notified"}));
}

// The notify and the deadline come in the same loop turn, the notify
// first: the wait's timer must then find the wait done and leave it alone.
TEST(Condition, ANotifiedWaitIsNotTimedOutLater) {
    LogCapture capture;
    Condition condition;
    IOLoop loop;
    auto deadline = IOLoop::time() + 20ms;
    loop.call_at(deadline, [&] { condition.notify(); });  // equal deadlines run in order set
    Future<bool> wait = condition.wait(deadline);
    EXPECT_TRUE(loop.run_sync([&] { return wait; }, kLockBound));
    EXPECT_TRUE(capture.lines().empty()) << capture.lines().front().message;
}

TEST(WaiterQueue, WaitersThatEndedEarlyAreSweptOut) {
    IOLoop loop;
    detail::WaiterQueue<Future<bool>> line;
    for (int i = 0; i < 10000; ++i) {
        Future<bool> gave_up;
        gave_up.cancel();
        line.push(gave_up);
    }
    EXPECT_LT(line.size(), 200u) << "a loop of timed-out waits grows the line without end";
    EXPECT_FALSE(line.pop_pending().has_value());
    EXPECT_EQ(line.size(), 0u);
}

// --- Event --------------------------------------------------------------------------

// Tornado's Event example.
TEST(Event, TornadoDocExample) {
    Event event;
    Lines printed;
    auto waiter = [&]() -> Task<void> {
        printed.push_back("Waiting for event");
        co_await event.wait();
        printed.push_back("Not waiting this time");
        co_await event.wait();
        printed.push_back("Done");
    };
    auto setter = [&]() -> Task<void> {
        printed.push_back("About to set the event");
        event.set();
        co_return;
    };
    run_side_by_side(waiter, setter);
    EXPECT_EQ(printed, (Lines{"Waiting for event", "About to set the event",
                              "Not waiting this time", "Done"}));
}

TEST(Event, SetWakesEveryWaiterAndClearMakesWaitsWaitAgain) {
    Event event;
    IOLoop loop;
    EXPECT_FALSE(event.is_set());
    Future<void> first = event.wait();
    Future<void> second = event.wait();
    EXPECT_FALSE(first.done());
    event.set();
    EXPECT_TRUE(event.is_set());
    EXPECT_TRUE(first.done());
    EXPECT_TRUE(second.done());
    EXPECT_TRUE(event.wait().done()) << "a wait on a set event is done at once";

    event.clear();
    EXPECT_FALSE(event.is_set());
    Future<void> third = event.wait();
    EXPECT_FALSE(third.done());
    event.set();
    EXPECT_TRUE(third.done());
}

TEST(Event, WaitFailsWithTimeoutErrorAndTheEventStillWorks) {
    Event event;
    IOLoop loop;
    auto start = IOLoop::time();
    EXPECT_THROW(loop.run_sync([&] { return event.wait(30ms); }, kLockBound), TimeoutError);
    EXPECT_GE(seconds_since(start), 0.029);

    Future<void> later = event.wait(IOLoop::time() + 1s);
    event.set();
    EXPECT_TRUE(later.done());
    EXPECT_NO_THROW(later.result());
}

TEST(Event, ACancelledWaiterLeavesTheOthersWaiting) {
    Event event;
    IOLoop loop;
    Future<void> cancelled = event.wait();
    Future<void> other = event.wait();
    cancelled.cancel();
    event.set();
    EXPECT_TRUE(cancelled.cancelled());
    EXPECT_TRUE(other.done());
    EXPECT_FALSE(other.cancelled());
}

// --- Semaphore ----------------------------------------------------------------------

TEST(Semaphore, ANegativeStartValueIsRefused) {
    EXPECT_THROW(Semaphore(-1), std::invalid_argument);
    EXPECT_EQ(Semaphore(0).value(), 0);
    EXPECT_EQ(Semaphore().value(), 1);
}

Task<void> worker(Semaphore* semaphore, int id, std::vector<Future<void>>* resources,
                  Lines* printed) {
    auto guard = co_await semaphore->acquire();
    printed->push_back("Worker " + std::to_string(id) + " is working");
    Future<void> resource = resources->at(static_cast<std::size_t>(id));
    co_await resource;
    printed->push_back("Worker " + std::to_string(id) + " is done");
}

// Tornado's Semaphore example: two workers at a time; the resources they
// use finish one after the other, a few loop turns apart.
TEST(Semaphore, TornadoDocExample) {
    Semaphore semaphore(2);
    Lines printed;
    std::vector<Future<void>> resources(3);
    auto simulator = [&]() -> Task<void> {
        for (Future<void>& resource : resources) {
            co_await moment;
            co_await moment;
            resource.set_result();
        }
    };
    IOLoop loop;
    loop.run_sync(
        [&]() -> Task<void> {
            simulator().detach();
            std::vector<Task<void>> workers;
            for (int id = 0; id < 3; ++id) {
                workers.push_back(worker(&semaphore, id, &resources, &printed));
            }
            co_await multi(std::move(workers));
        },
        kLockBound);
    EXPECT_EQ(printed, (Lines{"Worker 0 is working", "Worker 1 is working", "Worker 0 is done",
                              "Worker 2 is working", "Worker 1 is done", "Worker 2 is done"}));
    EXPECT_EQ(semaphore.value(), 2);
}

TEST(Semaphore, WaitersGetSlotsFirstComeFirstServed) {
    Semaphore semaphore(1);
    IOLoop loop;
    Future<ReleasingGuard> holder = semaphore.acquire();
    ASSERT_TRUE(holder.done());
    Future<ReleasingGuard> a = semaphore.acquire();
    Future<ReleasingGuard> b = semaphore.acquire();
    EXPECT_FALSE(a.done());

    holder.result().release();
    EXPECT_TRUE(a.done());
    EXPECT_FALSE(b.done());
    a.result().release();
    EXPECT_TRUE(b.done());
    b.result().release();
    EXPECT_EQ(semaphore.value(), 1);
}

TEST(Semaphore, TheGuardReleasesAtTheEndOfItsScope) {
    Semaphore semaphore(2);
    int inside = -1;
    IOLoop loop;
    loop.run_sync(
        [&]() -> Task<void> {
            {
                auto guard = co_await semaphore.acquire();
                EXPECT_TRUE(guard.owns());
                inside = semaphore.value();
            }
            EXPECT_EQ(semaphore.value(), 2);
        },
        kLockBound);
    EXPECT_EQ(inside, 1);
    EXPECT_EQ(semaphore.value(), 2);
}

TEST(Semaphore, TheGuardReleasesWhenAnExceptionUnwindsTheCoroutine) {
    Semaphore semaphore(1);
    auto failing = [&]() -> Task<void> {
        auto guard = co_await semaphore.acquire();
        co_await sleep(1ms);
        throw std::runtime_error("failed while holding the slot");
    };
    IOLoop loop;
    EXPECT_THROW(loop.run_sync(failing, kLockBound), std::runtime_error);
    EXPECT_EQ(semaphore.value(), 1);
}

TEST(Semaphore, AGuardMovesItsSlotAndReleasesOnce) {
    Semaphore semaphore(2);
    IOLoop loop;
    ReleasingGuard first = std::move(semaphore.acquire().result());
    ReleasingGuard moved(std::move(first));
    EXPECT_FALSE(first.owns());  // NOLINT(bugprone-use-after-move): testing exactly that
    EXPECT_EQ(semaphore.value(), 1);
    ReleasingGuard second = std::move(semaphore.acquire().result());
    EXPECT_EQ(semaphore.value(), 0);
    second = std::move(moved);  // second's own slot is given back
    EXPECT_EQ(semaphore.value(), 1);
    second.release();
    second.release();  // the second time: nothing left to release
    EXPECT_EQ(semaphore.value(), 2);
}

TEST(Semaphore, AcquireFailsWithTimeoutError) {
    Semaphore semaphore(0);
    IOLoop loop;
    auto start = IOLoop::time();
    EXPECT_THROW(loop.run_sync([&] { return semaphore.acquire(30ms); }, kLockBound), TimeoutError);
    EXPECT_GE(seconds_since(start), 0.029);
    EXPECT_EQ(semaphore.value(), 0);
}

TEST(Semaphore, ReleasePassesOverWaitersThatTimedOutOrWereCancelled) {
    Semaphore semaphore(0);
    IOLoop loop;
    Future<ReleasingGuard> timed_out = semaphore.acquire(10ms);
    Future<ReleasingGuard> cancelled = semaphore.acquire();
    Future<ReleasingGuard> patient = semaphore.acquire();
    cancelled.cancel();
    loop.run_sync(
        [&]() -> Task<void> {
            try {
                co_await timed_out;
            } catch (const TimeoutError&) {
            }
        },
        kLockBound);

    semaphore.release();
    EXPECT_TRUE(patient.done());
    EXPECT_TRUE(patient.result().owns());
    EXPECT_EQ(semaphore.value(), 0);
}

// with_timeout leaves the acquire pending: when a slot comes free it goes
// to that Future, which nobody reads any more. The guard inside gives the
// slot back once the Future is freed, instead of losing it.
TEST(Semaphore, ASlotHandedToAnAbandonedWaitComesBack) {
    Semaphore semaphore(1);
    IOLoop loop;
    ReleasingGuard holder = std::move(semaphore.acquire().result());
    loop.run_sync(
        [&]() -> Task<void> {
            Future<ReleasingGuard> acquire = semaphore.acquire();
            try {
                co_await with_timeout(10ms, std::move(acquire));
            } catch (const TimeoutError&) {
            }
        },
        kLockBound);
    holder.release();  // hands the slot to the abandoned acquire
    run_turns(loop, 3);
    EXPECT_EQ(semaphore.value(), 1);
    EXPECT_TRUE(semaphore.acquire().done());
}

// Discarding the guard gives the slot back at once: the pitfall the header
// warns about, pinned down so that nobody "fixes" it into a leak.
TEST(Semaphore, AGuardThatIsNotKeptReleasesAtOnce) {
    Semaphore semaphore(1);
    IOLoop loop;
    loop.run_sync([&]() -> Task<void> { co_await semaphore.acquire(); }, kLockBound);
    EXPECT_EQ(semaphore.value(), 1);
}

// --- BoundedSemaphore ---------------------------------------------------------------

TEST(BoundedSemaphore, ReleasingAboveTheStartValueThrows) {
    BoundedSemaphore semaphore(2);
    IOLoop loop;
    EXPECT_THROW(semaphore.release(), std::logic_error);
    EXPECT_EQ(semaphore.value(), 2);
    {
        ReleasingGuard guard = std::move(semaphore.acquire().result());
        EXPECT_EQ(semaphore.value(), 1);
    }
    EXPECT_EQ(semaphore.value(), 2);
    EXPECT_THROW(semaphore.release(), std::logic_error);
}

TEST(BoundedSemaphore, AGuardReleasedTwiceLogsInsteadOfThrowingFromItsDestructor) {
    LogCapture capture;
    BoundedSemaphore semaphore(1);
    IOLoop loop;
    {
        ReleasingGuard guard = std::move(semaphore.acquire().result());
        semaphore.release();  // by hand, and the guard will try again
    }
    EXPECT_EQ(semaphore.value(), 1);
    EXPECT_TRUE(capture.contains("Semaphore released too many times"));
}

// --- Lock ---------------------------------------------------------------------------

Task<void> hold_lock(Lock* lock, std::string name, Lines* log) {
    auto held = co_await lock->acquire();
    log->push_back(name + " in");
    co_await sleep(2ms);
    log->push_back(name + " out");
}

TEST(Lock, OneHolderAtATimeInTheOrderTheyCame) {
    Lock lock;
    Lines log;
    IOLoop loop;
    loop.run_sync(
        [&]() -> Task<void> {
            std::vector<Task<void>> holders;
            for (std::string name : {"a", "b", "c"}) {
                holders.push_back(hold_lock(&lock, name, &log));
            }
            co_await multi(std::move(holders));
        },
        kLockBound);
    EXPECT_EQ(log, (Lines{"a in", "a out", "b in", "b out", "c in", "c out"}));
}

TEST(Lock, ReleasingAnUnlockedLockThrows) {
    Lock lock;
    IOLoop loop;
    EXPECT_THROW(lock.release(), std::logic_error);
    ReleasingGuard held = std::move(lock.acquire().result());
    Future<ReleasingGuard> second = lock.acquire();
    EXPECT_FALSE(second.done()) << "locked, yet acquired again";
    second.cancel();
    held.release();
    EXPECT_THROW(lock.release(), std::logic_error);
    EXPECT_TRUE(lock.acquire().done());
}

TEST(Lock, AnExceptionReleasesTheLockForTheNextWaiter) {
    Lock lock;
    auto failing = [&]() -> Task<void> {
        auto held = co_await lock.acquire();
        co_await sleep(1ms);
        throw std::runtime_error("failed while locked");
    };
    IOLoop loop;
    Task<void> first = failing();
    Future<ReleasingGuard> next = lock.acquire();
    EXPECT_FALSE(next.done());
    EXPECT_THROW(loop.run_sync([&] { return std::move(first); }, kLockBound), std::runtime_error);
    EXPECT_TRUE(next.done()) << "the lock was not released when the exception left the scope";
}

TEST(Lock, AcquireFailsWithTimeoutErrorWhileLocked) {
    Lock lock;
    IOLoop loop;
    Future<ReleasingGuard> held = lock.acquire();
    EXPECT_THROW(loop.run_sync([&] { return lock.acquire(20ms); }, kLockBound), TimeoutError);
    held.result().release();
    EXPECT_TRUE(lock.acquire().done()) << "the timed-out acquire took the lock";
}

}  // namespace
}  // namespace tornado
