// pooled_server.h: a fixed pool of worker threads, fed by a bounded queue of
// connections. Exercise 01, task 6 (extension): the chapter has no such
// server; you build it on BlockingServer (accept_next, serve_unless_stopped,
// stop, log_connection). README.md describes the task, solutions/ has the
// reference solution: look after you pass.
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

// EXTENSION (task 6): the six functions below. The private part of the
// class is a suggestion: change it as you like (the tests use only the
// constructor, port(), run(), stop() and the three counts), as long as the
// counts stay true.

inline void PooledServer::run() {
    // TODO(task 6): start the workers, then accept until stopped, then stop
    // the workers. If anything throws, stop() and stop the workers before
    // passing the exception on: no thread may outlive run().
    throw std::logic_error("TODO(task 6): PooledServer::run");
}

inline void PooledServer::start_workers() {
    // TODO(task 6): start worker_count_ threads running work(), kept in threads_.
    throw std::logic_error("TODO(task 6): PooledServer::start_workers");
}

inline void PooledServer::accept_until_stopped() {
    // TODO(task 6): accept_next() until it gives an invalid fd (stopped),
    // handing each connection to queue_or_refuse().
    throw std::logic_error("TODO(task 6): PooledServer::accept_until_stopped");
}

inline void PooledServer::queue_or_refuse([[maybe_unused]] AcceptedConnection connection) {
    // TODO(task 6): with room in the queue, add the connection at the back
    // and wake one worker; without, count it in refused_ and refuse() it.
    // Do not hold the lock while talking to a peer.
    throw std::logic_error("TODO(task 6): PooledServer::queue_or_refuse");
}

inline void PooledServer::refuse([[maybe_unused]] AcceptedConnection connection) {
    // TODO(task 6): send kServiceUnavailable, then close. The peer may have
    // gone already: its error must not stop the accepting thread.
    throw std::logic_error("TODO(task 6): PooledServer::refuse");
}

inline void PooledServer::work() {
    // TODO(task 6): until closing: sleep until a connection is queued or the
    // server is closing, take the oldest connection, serve it
    // (serve_unless_stopped), close it, take the next. Keep busy_ up to date.
    throw std::logic_error("TODO(task 6): PooledServer::work");
}

inline void PooledServer::stop_workers() {
    // TODO(task 6): mark the pool closing, close the connections still
    // queued, wake every worker, join them all.
    throw std::logic_error("TODO(task 6): PooledServer::stop_workers");
}

}  // namespace course
