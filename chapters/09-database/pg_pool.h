// pg_pool.h: connections shared by every request of a process.
//
//   PGPool pool(dsn, 10);   // at most 10 connections, opened as needed
//   PGParams seconds{"0.05"};
//   PGResult result = co_await pool.query("SELECT pg_sleep($1)", std::move(seconds));
//
//   PooledConnection db = co_await pool.connection();  // one session, kept
//   PGParams row{"a new title", "42"};
//   co_await db->query("BEGIN");
//   co_await db->query("UPDATE items SET title = $1 WHERE id = $2", std::move(row));
//   co_await db->query("COMMIT");
//   // db goes back to the pool when it is destroyed
//
// A query takes an idle connection, or opens one while fewer than
// max_connections are open, or waits in line for the next one given back;
// its connection returns to the pool when the query ends, however it ends.
// A request that makes several queries can take one connection for all of
// them (connection()): it waits in line once, and its queries share one
// session, as a transaction must.
// The line is bounded: past max_waiting, a query fails at once with
// PoolFullError (a server answers 503), so that memory stays bounded
// whatever comes. Set it above the clients the server means to hold: a
// refusal is cheap only for clients that do not ask again at once (the
// chapter's README measures what happens when they do).
//
// The pool must outlive the queries it runs and the connections it lends;
// a connection that broke is closed when it comes back, and the next query
// opens a new one.
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

class PGPool;

// A connection lent by the pool for as long as this object lives: several
// queries in a row on one server session (a page's queries; a transaction,
// whose BEGIN and COMMIT must reach the same session). It goes back to the
// pool when the lease is destroyed, however the coroutine holding it ends,
// exception or not: C++'s answer to Python's `async with pool.acquire()`.
// Move-only: two owners would give one connection back twice.
class PooledConnection {
public:
    PooledConnection(PooledConnection&& other) noexcept
        : pool_(other.pool_), connection_(std::move(other.connection_)) {}
    PooledConnection& operator=(PooledConnection&&) = delete;
    ~PooledConnection();

    PGConnection* operator->() const noexcept { return connection_.get(); }
    PGConnection& operator*() const noexcept { return *connection_; }

private:
    friend class PGPool;
    PooledConnection(PGPool& pool, std::shared_ptr<PGConnection> connection) noexcept
        : pool_(&pool), connection_(std::move(connection)) {}

    PGPool* pool_;
    std::shared_ptr<PGConnection> connection_;  // empty once moved from
};

class PGPool {
public:
    PGPool(std::string dsn, std::size_t max_connections, std::size_t max_waiting = 10000,
           IOLoop& loop = IOLoop::current());
    PGPool(const PGPool&) = delete;
    PGPool& operator=(const PGPool&) = delete;

    // A query on a connection of the pool (PGConnection::query's contract).
    Task<PGResult> query(std::string sql, PGParams params = {});
    // A connection to keep for several queries (see PooledConnection); it
    // waits in line, or fails with PoolFullError, as a query would.
    Task<PooledConnection> connection();

    std::size_t open() const noexcept { return open_; }        // connected or connecting
    std::size_t idle() const noexcept { return idle_.size(); }
    std::size_t waiting() const noexcept { return waiting_.size(); }

private:
    friend class PooledConnection;  // gives its connection back

    // A connection for one query or one lease: an idle one, a new one, or
    // the next one given back.
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
