// pooled_server.h: a fixed pool of worker threads, fed by a bounded queue of
// connections. The reference solution of exercise 01, task 6 (extension).
//
// ThreadedServer pays a thread for every peer, without limit. Real servers
// cap it: Apache's worker MPM never runs more than MaxRequestWorkers
// threads, a Java ThreadPoolExecutor has a fixed number of threads, a
// bounded queue and a rule for what does not fit. PooledServer is that shape:
//
//        run(), on the calling thread: accept_next() ◄── peers
//                                          │
//                       the queue is full? ├── yes ──► "503 Service Unavailable",
//                                          │ no        close (refused() counts it)
//                                          ▼
//        queue  [ oldest ··· newest ]   at most queue_capacity connections
//                   │ the oldest first
//                   ▼
//        [worker 1] [worker 2] ··· [worker N]   N threads, started before the
//         each: take a connection, serve it     first accept, the only ones
//         until the peer leaves, take the next  that ever serve
//
// The contract, which the tests check:
//
// * run() starts exactly `workers` threads, up front, and no other thread,
//   however many peers come. A connection costs a place in the queue, not a
//   thread.
// * Workers take connections in the order they were accepted (first in,
//   first out) and serve each with serve_unless_stopped().
// * A peer accepted while the queue already holds queue_capacity connections
//   is refused at once, on the accepting thread: it gets kServiceUnavailable
//   (an HTTP/1.1 503 with Connection: close) and the connection is closed.
//   It is never left waiting. The 503 is sent before the server has read a
//   byte, so a peer speaking the line echo (nc) gets it too. Nor does the
//   accepting thread ever wait for that peer: no reading what it sent, no
//   waiting for it to close (a refused peer that stays connected must not
//   stop the server from accepting the next).
// * stop() (BlockingServer's, from any thread) makes run() return soon: the
//   connections being served are shut down (BlockingServer does that), the
//   queued ones that no worker took are closed, idle workers are woken, and
//   every worker is joined before run() returns.
// * An error on one connection (a peer that resets, before or after it was
//   accepted) ends that connection only: its worker takes the next one, and
//   the accepting thread goes on accepting.
//
// What the pool does not fix: a worker is taken for as long as its peer stays
// connected, talking or not. N peers that connect and say nothing hold all N
// workers, and everybody else waits in the queue or is refused: the
// slowloris attack. Chapter 02 stops blocking instead.
//
// Destroy the server only once its run() has returned (or was never called).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "blocking_server.h"
#include "socket.h"

namespace course {

class PooledServer : public BlockingServer {
public:
    // What a refused peer gets: a complete HTTP/1.1 response (the length of
    // its body is known, and the server closes after it), like the 503 that
    // nginx or HAProxy send when they are out of capacity.
    static constexpr std::string_view kServiceUnavailable =
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 30\r\n"
        "Connection: close\r\n"
        "\r\n"
        "Server busy, try again later.\n";

    // `workers` threads serve; at most `queue_capacity` accepted connections
    // wait for one of them. Both must be at least 1.
    PooledServer(FileDescriptor listener, std::size_t workers, std::size_t queue_capacity)
        : BlockingServer(std::move(listener)), worker_count_(workers), queue_capacity_(queue_capacity) {
        if (workers == 0) throw std::invalid_argument("PooledServer: no workers");
        if (queue_capacity == 0) throw std::invalid_argument("PooledServer: no room to queue");
    }

    // Starts the workers, then accepts peers and queues them (or refuses
    // them) until stop(); returns once every worker has been joined.
    void run();

    // Counts for the tests and the logs; any thread may ask.
    std::size_t busy_workers() {  // workers serving a connection now
        std::lock_guard lock(pool_mutex_);
        return busy_;
    }
    std::size_t queued() {  // accepted connections waiting for a worker
        std::lock_guard lock(pool_mutex_);
        return queue_.size();
    }
    std::size_t refused() {  // peers sent away because the queue was full
        std::lock_guard lock(pool_mutex_);
        return refused_;
    }

private:
    void start_workers();
    void accept_until_stopped();
    void queue_or_refuse(AcceptedConnection connection);
    void refuse(AcceptedConnection connection);
    void work();  // what each worker thread runs
    void stop_workers();

    const std::size_t worker_count_;
    const std::size_t queue_capacity_;
    std::vector<std::thread> threads_;  // only run()'s thread touches it

    std::mutex pool_mutex_;  // guards the members below
    // Notified when a connection is queued, and (all of them) when closing_ is set.
    std::condition_variable queued_or_closing_;
    std::deque<AcceptedConnection> queue_;
    bool closing_ = false;
    std::size_t busy_ = 0;
    std::size_t refused_ = 0;
};

inline void PooledServer::run() {
    try {
        start_workers();
        accept_until_stopped();
    } catch (...) {
        // No thread to be had, or the listener failed for good: end the
        // connections and the workers before passing the error on, so that
        // no thread is left running without its server.
        stop();
        stop_workers();
        throw;
    }
    stop_workers();
}

inline void PooledServer::start_workers() {
    for (std::size_t i = 0; i < worker_count_; ++i) {
        threads_.emplace_back(&PooledServer::work, this);
    }
}

inline void PooledServer::accept_until_stopped() {
    while (true) {
        AcceptedConnection connection = accept_next();
        if (!connection.fd) return;  // stopped
        queue_or_refuse(std::move(connection));
    }
}

inline void PooledServer::queue_or_refuse(AcceptedConnection connection) {
    std::unique_lock lock(pool_mutex_);
    if (queue_.size() >= queue_capacity_) {
        ++refused_;
        lock.unlock();  // talking to the peer needs no lock
        refuse(std::move(connection));
        return;
    }
    log_connection(connection.peer + " queued");
    queue_.push_back(std::move(connection));
    lock.unlock();
    queued_or_closing_.notify_one();
}

inline void PooledServer::refuse(AcceptedConnection connection) {
    log_connection(connection.peer + " refused: every worker busy, the queue full");
    try {
        // A new socket's send buffer is empty, so the kernel takes these few
        // bytes at once: the accepting thread does not wait for this peer.
        write_all(connection.fd.get(), kServiceUnavailable);
    } catch (const std::system_error& error) {
        // The peer may already be gone (it reset before we accepted it).
        // Its problem, not a reason to stop accepting.
        log("could not refuse " + connection.peer + ": " + error.what());
    }
}  // `connection` closes here

inline void PooledServer::work() {
    while (true) {
        AcceptedConnection connection;
        {
            std::unique_lock lock(pool_mutex_);
            // Sleeps without using the CPU until there is work or an end.
            queued_or_closing_.wait(lock, [this] { return closing_ || !queue_.empty(); });
            if (closing_) return;
            connection = std::move(queue_.front());  // the oldest: first in, first out
            queue_.pop_front();
            ++busy_;
        }
        log_connection(connection.peer + " served");
        // Errors on this connection are logged inside, not thrown: a peer
        // that resets ends its conversation, not this loop.
        serve_unless_stopped(connection.fd.get());
        connection.fd.reset();
        log_connection(connection.peer + " done");
        std::lock_guard lock(pool_mutex_);
        --busy_;
    }
}

inline void PooledServer::stop_workers() {
    {
        std::lock_guard lock(pool_mutex_);
        closing_ = true;
        // Closes the connections no worker took: their peers see the end of
        // the stream instead of waiting for a server that is gone.
        queue_.clear();
    }
    // Every idle worker sleeps in wait(): without this, they would sleep on,
    // and the joins below would never return.
    queued_or_closing_.notify_all();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
}

}  // namespace course
