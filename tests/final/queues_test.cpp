// Tests of tornado/queues.h: Queue (maxsize back-pressure, waiters in
// order, timeouts, cancelled getters, task_done / join), PriorityQueue,
// LifoQueue, move-only items, and Tornado's documentation examples.
#include "tornado/queues.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "tornado/gen.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::run_turns;
using testing::seconds_since;
using Lines = std::vector<std::string>;

constexpr auto kQueueBound = 2s;  // every run_sync is bounded: a lost item fails, never hangs

// What the coroutines use is declared before the IOLoop: the loop's
// destructor still runs queued callbacks and unwinds waiting coroutines,
// and they must not find that gone (it matters when a test fails midway).

// Tornado's Queue example: a consumer that never ends, a producer that
// runs ahead until the queue (maxsize 2) pushes back, and join() to wait
// for the work. The lines come out in the order Tornado 6.2 prints them.
TEST(Queue, TornadoDocExampleProducerAndConsumer) {
    Queue<int> queue(2);
    Lines printed;
    auto consumer = [&]() -> Task<void> {
        for (;;) {
            int item = co_await queue.get();
            printed.push_back("Doing work on " + std::to_string(item));
            co_await sleep(10ms);
            queue.task_done();
        }
    };
    auto producer = [&]() -> Task<void> {
        for (int item = 0; item < 5; ++item) {
            co_await queue.put(item);
            printed.push_back("Put " + std::to_string(item));
        }
    };
    IOLoop loop;
    loop.run_sync(
        [&]() -> Task<void> {
            IOLoop::current().spawn_callback(consumer);  // runs until the loop closes
            co_await producer();
            co_await queue.join();
            printed.push_back("Done");
        },
        kQueueBound);
    EXPECT_EQ(printed, (Lines{"Put 0", "Put 1", "Doing work on 0", "Put 2", "Doing work on 1",
                              "Put 3", "Doing work on 2", "Put 4", "Doing work on 3",
                              "Doing work on 4", "Done"}));
}

TEST(Queue, SizesAndLimits) {
    EXPECT_THROW(Queue<int>(-1), std::invalid_argument);
    IOLoop loop;
    Queue<int> unbounded;
    EXPECT_EQ(unbounded.maxsize(), 0);
    for (int i = 0; i < 100; ++i) unbounded.put_nowait(i);
    EXPECT_FALSE(unbounded.full()) << "maxsize 0 is no limit";
    EXPECT_EQ(unbounded.qsize(), 100u);

    Queue<int> two(2);
    EXPECT_TRUE(two.empty());
    two.put_nowait(1);
    two.put_nowait(2);
    EXPECT_TRUE(two.full());
    EXPECT_THROW(two.put_nowait(3), QueueFull);
    EXPECT_EQ(two.get_nowait(), 1);
    EXPECT_EQ(two.get_nowait(), 2);
    EXPECT_THROW(two.get_nowait(), QueueEmpty);
}

TEST(Queue, PutWaitsWhileFullUntilAGetMakesRoom) {
    Queue<std::string> queue(1);
    IOLoop loop;
    EXPECT_TRUE(queue.put("first").done());
    Future<void> second = queue.put("second");
    EXPECT_FALSE(second.done()) << "no back-pressure: put did not wait on a full queue";
    EXPECT_EQ(queue.qsize(), 1u);

    EXPECT_EQ(queue.get_nowait(), "first");
    EXPECT_TRUE(second.done()) << "the get made room, but the waiting put was not let in";
    EXPECT_EQ(queue.qsize(), 1u);
    EXPECT_EQ(queue.get_nowait(), "second");
}

TEST(Queue, WaitingPutsGoInTheOrderTheyCame) {
    Queue<int> queue(1);
    IOLoop loop;
    queue.put_nowait(0);
    Future<void> one = queue.put(1);
    Future<void> two = queue.put(2);
    std::vector<int> taken;
    for (int i = 0; i < 3; ++i) taken.push_back(queue.get_nowait());
    EXPECT_EQ(taken, (std::vector<int>{0, 1, 2}));
    EXPECT_TRUE(one.done() && two.done());
}

TEST(Queue, WaitingGetsAreServedInTheOrderTheyCame) {
    Queue<int> queue;
    Lines log;
    auto getter = [&](std::string name) -> Task<void> {
        int item = co_await queue.get();
        log.push_back(name + " got " + std::to_string(item));
    };
    IOLoop loop;
    getter("a").detach();
    getter("b").detach();
    queue.put_nowait(1);
    queue.put_nowait(2);
    EXPECT_TRUE(queue.empty()) << "items go straight to waiting getters";
    run_turns(loop, 3);
    EXPECT_EQ(log, (Lines{"a got 1", "b got 2"}));
}

TEST(Queue, GetFailsWithTimeoutErrorAndALaterItemStaysInTheQueue) {
    Queue<int> queue;
    IOLoop loop;
    auto start = IOLoop::time();
    EXPECT_THROW(loop.run_sync([&] { return queue.get(30ms); }, kQueueBound), TimeoutError);
    EXPECT_GE(seconds_since(start), 0.029);

    queue.put_nowait(7);
    EXPECT_EQ(queue.qsize(), 1u) << "the item went to the getter that had timed out";
    Future<int> next = queue.get(IOLoop::time() + 1s);
    ASSERT_TRUE(next.done());
    EXPECT_EQ(next.result(), 7);
}

TEST(Queue, ACancelledGetterDoesNotLoseTheItem) {
    Queue<int> queue;
    IOLoop loop;
    Future<int> cancelled = queue.get();
    Future<int> patient = queue.get();
    cancelled.cancel();
    queue.put_nowait(5);
    ASSERT_TRUE(patient.done());
    EXPECT_EQ(patient.result(), 5);
}

TEST(Queue, PutFailsWithTimeoutErrorAndItsItemIsDropped) {
    Queue<int> queue(1);
    IOLoop loop;
    queue.put_nowait(1);
    auto start = IOLoop::time();
    EXPECT_THROW(loop.run_sync([&] { return queue.put(2, 30ms); }, kQueueBound), TimeoutError);
    EXPECT_GE(seconds_since(start), 0.029);

    EXPECT_EQ(queue.get_nowait(), 1);
    EXPECT_TRUE(queue.empty()) << "the put that timed out still put its item";
    EXPECT_THROW(queue.get_nowait(), QueueEmpty);
}

TEST(Queue, JoinWaitsUntilEveryItemIsMarkedDone) {
    Queue<int> queue;
    IOLoop loop;
    EXPECT_TRUE(queue.join().done()) << "nothing was put: nothing to wait for";
    queue.put_nowait(1);
    queue.put_nowait(2);
    Future<void> joined = queue.join();
    EXPECT_FALSE(joined.done());

    queue.get_nowait();
    queue.get_nowait();
    EXPECT_FALSE(joined.done()) << "join counts work marked done, not items taken";
    queue.task_done();
    EXPECT_FALSE(joined.done());
    queue.task_done();
    EXPECT_TRUE(joined.done());
    EXPECT_THROW(queue.task_done(), std::logic_error);
}

TEST(Queue, AnItemHandedToAWaitingGetterCountsAsWork) {
    Queue<int> queue;
    IOLoop loop;
    Future<int> getter = queue.get();
    queue.put_nowait(1);
    EXPECT_FALSE(queue.join().done());
    queue.task_done();
    EXPECT_TRUE(queue.join().done());
}

TEST(Queue, JoinFailsWithTimeoutError) {
    Queue<int> queue;
    IOLoop loop;
    queue.put_nowait(1);
    EXPECT_THROW(loop.run_sync([&] { return queue.join(20ms); }, kQueueBound), TimeoutError);
}

TEST(Queue, MoveOnlyItems) {
    Queue<std::unique_ptr<int>> queue(1);
    IOLoop loop;
    queue.put_nowait(std::make_unique<int>(1));
    Future<void> waiting = queue.put(std::make_unique<int>(2));
    int sum = loop.run_sync(
        [&]() -> Task<int> {
            std::unique_ptr<int> first = co_await queue.get();
            std::unique_ptr<int> second = co_await queue.get();
            co_return *first + *second;
        },
        kQueueBound);
    EXPECT_EQ(sum, 3);
    EXPECT_TRUE(waiting.done());
}

// Tornado's PriorityQueue example.
TEST(PriorityQueue, TornadoDocExampleSmallestFirst) {
    using Entry = std::pair<int, std::string>;
    PriorityQueue<Entry> queue;
    IOLoop loop;
    Entry medium{1, "medium-priority item"};
    Entry high{0, "high-priority item"};
    Entry low{10, "low-priority item"};
    queue.put(medium);
    queue.put(high);
    queue.put(low);
    std::vector<Entry> taken = loop.run_sync(
        [&]() -> Task<std::vector<Entry>> {
            std::vector<Entry> out;
            for (int i = 0; i < 3; ++i) out.push_back(co_await queue.get());
            co_return out;
        },
        kQueueBound);
    EXPECT_EQ(taken, (std::vector<Entry>{high, medium, low}));
}

TEST(PriorityQueue, AWaitingPutCompetesWithTheItemsInside) {
    PriorityQueue<int> queue(2);
    IOLoop loop;
    queue.put_nowait(5);
    queue.put_nowait(3);
    Future<void> waiting = queue.put(1);  // full: waits, but is the smallest
    EXPECT_EQ(queue.get_nowait(), 1);
    EXPECT_TRUE(waiting.done());
    EXPECT_EQ(queue.get_nowait(), 3);
    EXPECT_EQ(queue.get_nowait(), 5);
}

TEST(PriorityQueue, AnotherOrderTakesTheLargestFirst) {
    PriorityQueue<int, std::less<int>> queue;
    IOLoop loop;
    for (int item : {2, 9, 4}) queue.put_nowait(item);
    EXPECT_EQ(queue.get_nowait(), 9);
    EXPECT_EQ(queue.get_nowait(), 4);
    EXPECT_EQ(queue.get_nowait(), 2);
}

// Tornado's LifoQueue example.
TEST(LifoQueue, TornadoDocExampleLastInFirstOut) {
    LifoQueue<int> queue;
    IOLoop loop;
    queue.put(3);
    queue.put(2);
    queue.put(1);
    std::vector<int> taken = loop.run_sync(
        [&]() -> Task<std::vector<int>> {
            std::vector<int> out;
            for (int i = 0; i < 3; ++i) out.push_back(co_await queue.get());
            co_return out;
        },
        kQueueBound);
    EXPECT_EQ(taken, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace tornado
