// pg.h: PostgreSQL on the loop. libpq, the C library every PostgreSQL
// client is built on, driven by chapter 03's IOLoop and chapter 08's Tasks.
//
//   std::shared_ptr<PGConnection> db = co_await PGConnection::connect(dsn);
//   PGParams id{"42"};  // named first: GCC 12 miscompiles a braced list inside co_await
//   PGResult result = co_await db->query("SELECT title FROM items WHERE id = $1", std::move(id));
//   std::string_view title = result.text(0, "title");
//
// libpq speaks PostgreSQL's protocol; it does not wait. Each of its
// non-blocking calls does what it can and says what it needs next: "call
// me again when this descriptor is readable (or writable)". This file
// does the waiting, on the loop: a coroutine that needs the server
// suspends on a Future that a handler on libpq's socket resolves. That is
// the contract of every C library made for event loops (libcurl, c-ares,
// hiredis): which descriptor, which interest, until when.
//
// One query at a time per connection: a second query while one is in
// flight is refused. Many requests share connections through a pool
// (pg_pool.h), which gives each query a connection of its own for as long
// as it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

#include <future.h>
#include <gen.h>   // TimeoutError
#include <task.h>  // <> on purpose: see "Includes" in chapter 08's task.h
#include "ioloop.h"

namespace course {

// What the server or libpq reported. sqlstate is the server's five-character
// code ("23505": unique violation, "42601": syntax error, "57014": query
// cancelled), empty when the error is libpq's own (a lost connection).
class PGError : public std::runtime_error {
public:
    PGError(const std::string& message, std::string sqlstate = "")
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
    const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
    std::string sqlstate_;
};

// The error a failed result holds: the server's message and SQLSTATE.
PGError result_error(const PGresult* result);

// The rows of one answer (PQclear when the last copy goes: copies share it,
// as each awaiter of a Future gets a copy). Values come as text,
// PostgreSQL's text format; NULL is an empty optional.
class PGResult {
public:
    explicit PGResult(PGresult* result) : result_(result, PQclear) {}

    int rows() const { return PQntuples(result_.get()); }
    int columns() const { return PQnfields(result_.get()); }
    // The number of the column called `name`; std::out_of_range if none is.
    int column(std::string_view name) const;
    // The value at (row, column), or nothing for NULL.
    std::optional<std::string_view> get(int row, int column) const;
    // The same, for a value that must not be NULL (std::out_of_range if it is).
    std::string_view text(int row, int column) const;
    std::string_view text(int row, std::string_view name) const { return text(row, column(name)); }
    // Rows an INSERT, UPDATE or DELETE touched.
    long affected() const;
    // libpq's own handle, for what this class does not wrap.
    const PGresult* native() const { return result_.get(); }

private:
    std::shared_ptr<PGresult> result_;
};

// A query's parameters, $1, $2, ...: sent apart from the SQL text, so that
// no value is ever spliced into it (no SQL injection). nullopt is NULL.
using PGParams = std::vector<std::optional<std::string>>;

class PGConnection : public std::enable_shared_from_this<PGConnection> {
public:
    // Connects to `dsn` ("host=127.0.0.1 port=5432 dbname=x" or
    // "postgresql://..."), never blocking the loop once the host is an
    // address: libpq resolves a host name with a blocking getaddrinfo().
    // PGError if the server refuses or is not there, TimeoutError (chapter
    // 08's) if `timeout` passes first.
    static Task<std::shared_ptr<PGConnection>> connect(
        std::string dsn, IOLoop::Clock::duration timeout = std::chrono::seconds(10),
        IOLoop& loop = IOLoop::current());

    ~PGConnection();
    PGConnection(const PGConnection&) = delete;
    PGConnection& operator=(const PGConnection&) = delete;

    // Sends `sql` with `params` and waits for its answer. PGError with the
    // server's SQLSTATE if the statement fails; the connection stays usable
    // (unless the error was that it broke: see ok()).
    Task<PGResult> query(std::string sql, PGParams params = {});

    // Connected, and not in the middle of a query.
    bool ok() const { return PQstatus(conn_) == CONNECTION_OK && !busy_; }
    // The server's process for this session (pg_stat_activity's pid).
    int backend_pid() const { return PQbackendPID(conn_); }
    // libpq's own handle, for what this class does not do (the exercise's
    // extension puts it in pipeline mode). Valid as long as this object.
    PGconn* native() const { return conn_; }

private:
    PGConnection(PGconn* conn, IOLoop& loop) : conn_(conn), loop_(loop) {}

    // Resolves, with the events that came, once libpq's socket is ready for
    // `events` (IOLoop::READ, WRITE or both), or fails with TimeoutError at
    // `deadline`. The socket is looked up now: libpq may open another one
    // while it connects (it tries each address of a host in turn).
    Future<std::uint32_t> wait_for(std::uint32_t events,
                                   std::optional<IOLoop::Clock::time_point> deadline = {});
    // Sends what libpq has queued (PQflush), waiting for write room.
    Task<void> flush();
    // Reads until a whole result is in (PQisBusy says no more waiting).
    Task<void> wait_until_result_ready();
    // PQconsumeInput, or PGError if the connection broke.
    void consume_input();
    // The error in libpq's message for this connection.
    PGError connection_error(const char* what) const;

    PGconn* conn_;
    IOLoop& loop_;
    bool busy_ = false;
    int watched_fd_ = -1;  // the descriptor a wait_for has a handler on, or -1
    std::optional<IOLoop::Timeout> wait_timeout_;
};

}  // namespace course
