// pg_pool.h: connections shared by every request of a process.
//
//   PGPool pool(dsn, 10);   // at most 10 connections, opened as needed
//   PGParams seconds{"0.05"};
//   PGResult result = co_await pool.query("SELECT pg_sleep($1)", std::move(seconds));
//
// A query takes an idle connection, or opens one while fewer than
// max_connections are open, or waits in line for the next one given back;
// its connection returns to the pool when the query ends, however it ends.
// The line is bounded: past max_waiting, a query fails at once with
// PoolFullError (a server answers 503), so that a flood of requests costs
// a refusal, not unbounded memory and minutes of waiting.
//
// The pool must outlive the queries it runs; a connection that broke is
// closed when it comes back, and the next query opens a new one.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>

#include <pg.h>

namespace course {

class PoolFullError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class PGPool {
public:
    PGPool(std::string dsn, std::size_t max_connections, std::size_t max_waiting = 1000,
           IOLoop& loop = IOLoop::current());
    PGPool(const PGPool&) = delete;
    PGPool& operator=(const PGPool&) = delete;

    // A query on a connection of the pool (PGConnection::query's contract).
    Task<PGResult> query(std::string sql, PGParams params = {});

    std::size_t open() const noexcept { return open_; }        // connected or connecting
    std::size_t idle() const noexcept { return idle_.size(); }
    std::size_t waiting() const noexcept { return waiting_.size(); }

private:
    // A connection for one query: an idle one, a new one, or the next one
    // given back.
    Task<std::shared_ptr<PGConnection>> acquire();
    // `connection` is done with: to the first in line, or idle.
    void give_back(std::shared_ptr<PGConnection> connection);
    // A connection closed (broken, or never opened): the first in line, if
    // any, gets a new one, or the error that opening it met.
    void replace_for_first_waiting();
    Task<void> open_for(Future<std::shared_ptr<PGConnection>> waiter);

    std::string dsn_;
    std::size_t max_connections_;
    std::size_t max_waiting_;
    IOLoop& loop_;
    std::size_t open_ = 0;
    std::deque<std::shared_ptr<PGConnection>> idle_;
    std::deque<Future<std::shared_ptr<PGConnection>>> waiting_;
};

}  // namespace course
