// tornado/queues.h: Queue, PriorityQueue and LifoQueue, to hand work from
// producer coroutines to consumer coroutines (Tornado's tornado.queues).
//
// get() waits while the queue is empty; put() waits while it is full (a
// queue with a maxsize pushes back on a producer that runs ahead). Both
// take an optional timeout (a Deadline: a duration or a time point) and
// then fail with TimeoutError. Waiting producers and consumers are served
// first come, first served, and one that timed out or was cancelled is
// passed over, so no item goes to a consumer that is no longer there.
//
// task_done() and join() count work, not items: every item put must be
// matched by a task_done() once it has been handled, and join() waits
// until that count is back to zero.
//
// Like the locks, a queue belongs to one loop thread (another thread hands
// it an item through IOLoop::add_callback).
//
// Example:
//
//   tornado::Queue<int> jobs(2);               // at most two waiting
//
//   tornado::Task<void> consumer() {
//       for (;;) {
//           int job = co_await jobs.get();
//           co_await handle(job);
//           jobs.task_done();
//       }
//   }
//
//   tornado::Task<void> producer() {
//       for (int job = 0; job < 5; ++job) co_await jobs.put(job);  // waits when full
//       co_await jobs.join();                                        // all handled
//   }
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/locks.h"

namespace tornado {

// get_nowait() on an empty queue.
class QueueEmpty : public std::runtime_error {
public:
    QueueEmpty() : std::runtime_error("the queue is empty") {}
};

// put_nowait() on a full queue.
class QueueFull : public std::runtime_error {
public:
    QueueFull() : std::runtime_error("the queue is full") {}
};

namespace detail {

// Where the items of a Queue wait, and so in which order they come out
// (Tornado's _init, _put and _get, which each queue class overrides).
template <typename T>
class FifoItems {
public:
    void push(T item) { items_.push_back(std::move(item)); }
    T pop() {
        T first = std::move(items_.front());
        items_.pop_front();
        return first;
    }
    std::size_t size() const noexcept { return items_.size(); }

private:
    std::deque<T> items_;
};

template <typename T>
class LifoItems {
public:
    void push(T item) { items_.push_back(std::move(item)); }
    T pop() {
        T last = std::move(items_.back());
        items_.pop_back();
        return last;
    }
    std::size_t size() const noexcept { return items_.size(); }

private:
    std::vector<T> items_;
};

// A binary heap, as Python's heapq. The standard heap functions keep the
// *largest* item on top by `Compare`, so std::greater puts the smallest
// first. (std::priority_queue would do, but its top() is const: a move-only
// item could not be taken out.)
template <typename T, typename Compare>
class PriorityItems {
public:
    void push(T item) {
        items_.push_back(std::move(item));
        std::push_heap(items_.begin(), items_.end(), Compare());
    }
    T pop() {
        std::pop_heap(items_.begin(), items_.end(), Compare());
        T top = std::move(items_.back());
        items_.pop_back();
        return top;
    }
    std::size_t size() const noexcept { return items_.size(); }

private:
    std::vector<T> items_;
};

}  // namespace detail

// A queue for coroutines. maxsize 0 means no limit; a negative one throws
// std::invalid_argument. T may be move-only.
template <typename T, typename Items = detail::FifoItems<T>>
class Queue {
    static_assert(!std::is_void_v<T> && !std::is_reference_v<T>, "a Queue holds values");

public:
    explicit Queue(int maxsize = 0) : maxsize_(maxsize) {
        if (maxsize < 0) throw std::invalid_argument("maxsize can't be negative");
        finished_.set();
    }
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;

    // As given: 0 means no limit.
    int maxsize() const noexcept { return maxsize_; }
    // Items in the queue now, not counting those of put()s waiting for room.
    std::size_t qsize() const noexcept { return items_.size(); }
    bool empty() const noexcept { return qsize() == 0; }
    // Whether a put() would wait: maxsize items are in (never when maxsize
    // is 0).
    bool full() const noexcept {
        return maxsize_ > 0 && qsize() >= static_cast<std::size_t>(maxsize_);
    }

    // Puts `item` in, waiting while the queue is full. Fails with
    // TimeoutError (and the item is dropped) if no room comes by `timeout`.
    Future<void> put(T item, std::optional<Deadline> timeout = std::nullopt) {
        if (!full()) {
            put_nowait(std::move(item));
            return detail::done_future();
        }
        Future<void> waiter;
        putters_.push(Putter{std::move(item), waiter});
        detail::fail_at(timeout, waiter);
        return waiter;
    }

    // Puts `item` in at once: straight to the first waiting get(), if any,
    // else into the queue. Throws QueueFull if there is no room.
    void put_nowait(T item) {
        if (std::optional<Future<T>> getter = getters_.pop_pending()) {
            // A getter waits only while the queue is empty: the item skips it.
            count_unfinished_task();
            getter->set_result(std::move(item));
        } else if (full()) {
            throw QueueFull();
        } else {
            count_unfinished_task();
            items_.push(std::move(item));
        }
    }

    // Takes an item out, waiting while the queue is empty; fails with
    // TimeoutError if none comes by `timeout`.
    Future<T> get(std::optional<Deadline> timeout = std::nullopt) {
        Future<T> waiter;
        if (!empty()) {
            waiter.set_result(get_nowait());
        } else {
            getters_.push(waiter);
            detail::fail_at(timeout, waiter);
        }
        return waiter;
    }

    // Takes an item out at once; throws QueueEmpty if there is none.
    T get_nowait() {
        if (std::optional<Putter> putter = putters_.pop_pending()) {
            // Putters wait only while the queue is full: the first one's item
            // takes the room this get makes, then the get takes its item
            // (the oldest, or the smallest for a PriorityQueue).
            count_unfinished_task();
            items_.push(std::move(putter->item));
            putter->future.set_result();
        }
        if (empty()) throw QueueEmpty();
        return items_.pop();
    }

    // Says that an item taken out has been handled. Throws std::logic_error
    // when called more often than items were put (Tornado: ValueError).
    void task_done() {
        if (unfinished_tasks_ == 0) throw std::logic_error("task_done() called too many times");
        if (--unfinished_tasks_ == 0) finished_.set();
    }

    // Done when every item put has been marked task_done(); fails with
    // TimeoutError after `timeout`.
    Future<void> join(std::optional<Deadline> timeout = std::nullopt) {
        return finished_.wait(timeout);
    }

private:
    // A put() waiting for room, with the item it will put.
    struct Putter {
        T item;
        Future<void> future;
        bool done() const { return future.done(); }
    };

    void count_unfinished_task() {
        ++unfinished_tasks_;
        finished_.clear();
    }

    int maxsize_;
    Items items_;
    detail::WaiterQueue<Future<T>> getters_;
    detail::WaiterQueue<Putter> putters_;
    std::size_t unfinished_tasks_ = 0;
    Event finished_;  // set while unfinished_tasks_ is zero
};

// Takes out the smallest item first (Compare std::less: the largest).
template <typename T, typename Compare = std::greater<T>>
using PriorityQueue = Queue<T, detail::PriorityItems<T, Compare>>;

// Takes out the item put last first.
template <typename T>
using LifoQueue = Queue<T, detail::LifoItems<T>>;

}  // namespace tornado
