// tornado/postgres.h: PostgreSQL on the IOLoop. An add-on beside the
// framework, not a Tornado module: Tornado has no database client, and its
// users reach for aiopg or asyncpg, which drive PostgreSQL on the same loop
// as the server. It lives in final/postgres/, in its own library
// (tornado::postgres), so that a program that does not use it does not link
// libpq.
//
//   tornado::Task<void> example() {
//       using tornado::postgres::PoolOptions;
//       auto db = co_await tornado::postgres::Pool::connect(PoolOptions("host=/run/postgresql"));
//       tornado::postgres::Result rows =
//           co_await db->query("SELECT id, title FROM entries WHERE author = $1", author_id);
//       for (const tornado::postgres::Row& row : rows) {
//           std::int64_t id = row.get<std::int64_t>("id");
//           std::string title = row.get<std::string>("title");
//       }
//       std::uint64_t changed = co_await db->execute("UPDATE entries SET hits = hits + 1");
//
//       tornado::postgres::Transaction transaction = co_await db->transaction();
//       co_await transaction.execute("INSERT INTO authors (name) VALUES ($1)", name);
//       co_await transaction.commit();           // dropped without commit: rolled back
//   }
//
// The protocol is libpq's (Debian's libpq-dev): it writes the messages and
// parses the replies. What this file adds is what makes it asynchronous:
// libpq in its non-blocking mode says which socket to watch and for what,
// and the loop calls it back when that socket is ready (the same
// add_handler / update_handler an IOStream uses), so a query is a Future a
// coroutine co_awaits while the loop serves everyone else.
//
// How the pool uses its connections. Each connection is in libpq's
// pipeline mode: many coroutines' queries are sent one after another
// without waiting, and the results come back in the same order. Every
// query is followed by its own Sync, so each runs in its own implicit
// transaction and one query's failure never aborts another's. A query goes
// to an idle connection if there is one, else a new connection is opened
// (up to max_connections) while the query joins the shortest pipeline
// (up to max_pipeline queries in flight on one connection); when all are
// full, it waits in a queue (up to max_waiters, for at most wait_timeout).
// A transaction or a row stream takes a connection for itself until it
// ends. Every statement is prepared once per connection and its name kept
// (statement_cache of them), so the server parses and plans it once.
//
// Errors, all derived from postgres::Error:
//   ServerError        the server refused the statement; sqlstate() says why,
//                      and the four classes below are the SQLSTATE classes
//                      an application tells apart: IntegrityError (23: a
//                      unique or foreign key violation), DataError (22:
//                      invalid input), ProgrammingError (42: a syntax error,
//                      an unknown table), TransactionRollbackError (40: a
//                      serialization failure or deadlock, worth a retry);
//   ConnectionError    no connection could be made, or the one a query was
//                      sent on was lost (the query may or may not have run);
//   QueryTimeout       the query ran past its timeout and was cancelled on
//                      the server;
//   PoolError          no connection was free within wait_timeout, or the
//                      queue of waiters was full (a web handler's 503);
//   UsageError         refused before anything was sent, or a value that
//                      cannot be read as asked: a NUL byte in text, a
//                      column that does not exist, NULL read into a type
//                      that cannot hold it.
//
// Threads: a pool belongs to the loop it was made on; use it on that loop's
// thread only, as the rest of the framework. After fork_processes, make the
// pool in each child, never before the fork.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/gen.h"

struct pg_result;  // libpq's PGresult

namespace tornado::postgres {

// ---- errors --------------------------------------------------------------

// What every error of this library derives from.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// No connection could be made, or the connection a query was on was lost.
class ConnectionError : public Error {
public:
    using Error::Error;
};

// A query ran longer than its timeout: it was cancelled on the server.
class QueryTimeout : public Error {
public:
    using Error::Error;
};

// No connection could be had: the queue of waiters was full, or the wait
// ran past wait_timeout.
class PoolError : public Error {
public:
    using Error::Error;
};

// Refused by this library before anything was sent, or a value read in a
// way it cannot be (a missing column, NULL read as a non-optional type, a
// number too large for the type asked for).
class UsageError : public Error {
public:
    using Error::Error;
};

// The fields of an error the server sent (its ErrorResponse).
struct ServerErrorFields {
    std::string sqlstate;    // five characters: "23505" for unique_violation
    std::string severity;    // "ERROR", "FATAL"
    std::string message;     // the primary message
    std::string detail;      // "Key (name)=(ann) already exists.", or ""
    std::string hint;        // or ""
    std::string constraint;  // the constraint violated, or ""
    std::string table;       // or ""
    std::string column;      // or ""
    int position = 0;        // 1-based character in the statement, or 0
};

// An error the server reported for a statement. what() is "ERROR: message
// (SQLSTATE 42601)" followed by the detail and hint, when there are any.
class ServerError : public Error {
public:
    explicit ServerError(ServerErrorFields fields);
    const std::string& sqlstate() const noexcept { return fields_.sqlstate; }
    const ServerErrorFields& fields() const noexcept { return fields_; }

private:
    ServerErrorFields fields_;
};

// SQLSTATE class 23: a unique, foreign key, not-null or check violation.
class IntegrityError : public ServerError {
public:
    using ServerError::ServerError;
};

// SQLSTATE class 22: invalid input for a type, invalid UTF-8, a division by
// zero, a value out of range.
class DataError : public ServerError {
public:
    using ServerError::ServerError;
};

// SQLSTATE class 42: a syntax error, an unknown table or column, a
// permission refused.
class ProgrammingError : public ServerError {
public:
    using ServerError::ServerError;
};

// SQLSTATE class 40: a serialization failure or a deadlock; the
// transaction was rolled back and may succeed if run again.
class TransactionRollbackError : public ServerError {
public:
    using ServerError::ServerError;
};

// The SQLSTATE codes an application checks most, for ServerError::sqlstate().
namespace sqlstate {
inline constexpr std::string_view unique_violation = "23505";
inline constexpr std::string_view foreign_key_violation = "23503";
inline constexpr std::string_view not_null_violation = "23502";
inline constexpr std::string_view check_violation = "23514";
inline constexpr std::string_view syntax_error = "42601";
inline constexpr std::string_view undefined_table = "42P01";
inline constexpr std::string_view undefined_column = "42703";
inline constexpr std::string_view invalid_text_representation = "22P02";
inline constexpr std::string_view character_not_in_repertoire = "22021";
inline constexpr std::string_view division_by_zero = "22012";
inline constexpr std::string_view serialization_failure = "40001";
inline constexpr std::string_view deadlock_detected = "40P01";
inline constexpr std::string_view query_canceled = "57014";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view protocol_violation = "08P01";
}  // namespace sqlstate

// ---- parameters ----------------------------------------------------------

// Binary data: a bytea parameter, or a bytea column read with get<Bytes>.
// (Not an aggregate on purpose: g++ 12 destroys an aggregate temporary such
// as Bytes{data} twice when it is made inside a co_await expression.)
struct Bytes {
    Bytes() = default;
    explicit Bytes(std::string bytes) : data(std::move(bytes)) {}
    std::string data;
    friend bool operator==(const Bytes&, const Bytes&) = default;
};

// One parameter of a statement ($1, $2, ...), sent apart from the SQL text:
// a value is never spliced into the statement, so it cannot change what
// the statement does. Made implicitly from text, integers, floating-point
// numbers, bool, Bytes, std::nullopt (NULL) and std::optional of those.
// Text and numbers travel in PostgreSQL's text form; Bytes in binary form.
class Param {
public:
    Param(std::nullopt_t) noexcept {}  // NOLINT: implicit on purpose, as all below
    Param(std::string text) : value_(std::move(text)) {}            // NOLINT
    Param(std::string_view text) : value_(std::string(text)) {}     // NOLINT
    Param(const char* text) : value_(std::string(text)) {}          // NOLINT
    Param(bool value) : value_(value ? "t" : "f"), type_(kBool) {}  // NOLINT
    template <std::integral T>
        requires(!std::same_as<T, bool> && !std::same_as<T, char>)
    Param(T value) : value_(std::to_string(value)), type_(kInt8) {}                      // NOLINT
    Param(double value);                                                                 // NOLINT
    Param(float value) : Param(static_cast<double>(value)) {}                            // NOLINT
    Param(Bytes bytes) : value_(std::move(bytes.data)), type_(kBytea), binary_(true) {}  // NOLINT
    template <typename T>
        requires(std::constructible_from<Param, const T&>)
    Param(const std::optional<T>& value) : Param(std::nullopt) {  // NOLINT
        if (value) *this = Param(*value);
    }

    bool is_null() const noexcept { return !value_.has_value(); }
    // The value as sent (text form, or raw bytes for Bytes); "" for NULL.
    std::string_view value() const noexcept { return value_ ? std::string_view(*value_) : ""; }
    // The type the server is told (an OID: int8, float8, bool, bytea), or 0
    // for text: "unknown", so the server takes the type the statement
    // needs there (a date, a jsonb, a varchar).
    unsigned type() const noexcept { return type_; }
    bool binary() const noexcept { return binary_; }

private:
    static constexpr unsigned kBool = 16, kBytea = 17, kInt8 = 20, kFloat8 = 701;
    std::optional<std::string> value_;
    unsigned type_ = 0;
    bool binary_ = false;
};

// ---- results -------------------------------------------------------------

namespace detail {
// Shared ownership of one PGresult (freed with PQclear).
using ResultHandle = std::shared_ptr<const pg_result>;
}  // namespace detail

// One value of a row: a view into its result, valid while the Row or
// Result it came from lives.
//
// as<T>() reads it as T. The types, and the column types each accepts:
//   bool                          boolean
//   any integer type              smallint, integer, bigint, oid (out of
//                                 the type's range: UsageError)
//   double, float                 real, double precision, numeric, and the
//                                 integer types
//   std::string, std::string_view any column, in PostgreSQL's text form
//                                 (a view lives as long as the Row)
//   Bytes                         bytea
//   std::optional<T>              NULL as std::nullopt, else as T
// NULL read as anything but std::optional is a UsageError naming the column.
class Field {
public:
    Field(const pg_result* result, int row, int column) noexcept
        : result_(result), row_(row), column_(column) {}

    bool is_null() const noexcept;
    // The column's name.
    std::string_view name() const noexcept;
    // The column's type, as an OID (23 for integer, 25 for text; the
    // pg_type catalog has them all).
    unsigned type() const noexcept;
    // The value in PostgreSQL's text form, as the server sent it ("" for
    // NULL).
    std::string_view text() const noexcept;

    template <typename T>
    T as() const {
        if constexpr (is_optional<T>::value) {
            if (is_null()) return std::nullopt;
            return as<typename T::value_type>();
        } else if constexpr (std::same_as<T, bool>) {
            return as_bool();
        } else if constexpr (std::integral<T>) {
            return narrow<T>(as_int64());
        } else if constexpr (std::floating_point<T>) {
            return static_cast<T>(as_double());
        } else if constexpr (std::same_as<T, std::string>) {
            return std::string(as_text());
        } else if constexpr (std::same_as<T, std::string_view>) {
            return as_text();
        } else if constexpr (std::same_as<T, Bytes>) {
            return as_bytes();
        } else {
            static_assert(sizeof(T) == 0, "Field::as<T>: T is not a type a field can be read as");
        }
    }

private:
    template <typename T>
    struct is_optional : std::false_type {};
    template <typename T>
    struct is_optional<std::optional<T>> : std::true_type {};

    bool as_bool() const;
    std::int64_t as_int64() const;
    double as_double() const;
    std::string_view as_text() const;
    Bytes as_bytes() const;
    [[noreturn]] void out_of_range(std::int64_t value, const char* type_name) const;

    template <std::integral T>
    T narrow(std::int64_t value) const {
        bool fits =
            std::is_signed_v<T>
                ? value >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                      value <= static_cast<std::int64_t>(std::numeric_limits<T>::max())
                : value >= 0 && static_cast<std::uint64_t>(value) <=
                                    static_cast<std::uint64_t>(std::numeric_limits<T>::max());
        if (!fits) out_of_range(value, std::is_signed_v<T> ? "a signed" : "an unsigned");
        return static_cast<T>(value);
    }

    const pg_result* result_;
    int row_;
    int column_;
};

// One row of a result. It shares the result it came from, so it stays
// valid after the Result is gone (a row stream's rows come one at a time).
class Row {
public:
    Row(detail::ResultHandle result, int row) noexcept : result_(std::move(result)), row_(row) {}

    // The number of columns.
    std::size_t size() const noexcept;
    // A column by position (from 0) or by name; UsageError if there is none.
    Field operator[](std::size_t column) const;
    Field operator[](std::string_view name) const;
    template <typename T>
    T get(std::size_t column) const {
        return (*this)[column].as<T>();
    }
    template <typename T>
    T get(std::string_view name) const {
        return (*this)[name].as<T>();
    }

private:
    detail::ResultHandle result_;
    int row_;
};

// The rows a statement returned (none for most statements without
// RETURNING) and its command tag. Copies share the same rows.
class Result {
public:
    explicit Result(detail::ResultHandle result) noexcept : result_(std::move(result)) {}

    // The number of rows.
    std::size_t size() const noexcept;
    bool empty() const noexcept { return size() == 0; }
    // The number of columns, their names, and a name's position (UsageError
    // if no column has that name).
    std::size_t columns() const noexcept;
    std::string_view column_name(std::size_t column) const;
    std::size_t column_index(std::string_view name) const;
    // A row by position, from 0; at() checks it (UsageError if past the
    // end), operator[] does not.
    Row operator[](std::size_t row) const { return Row(result_, static_cast<int>(row)); }
    Row at(std::size_t row) const;
    // The command tag: "SELECT 3", "INSERT 0 1", "UPDATE 7".
    std::string_view command() const noexcept;
    // The rows a SELECT returned, or an INSERT, UPDATE or DELETE changed.
    std::uint64_t affected_rows() const noexcept;

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Row;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = Row;
        iterator() = default;
        iterator(const Result* result, std::size_t row) : result_(result), row_(row) {}
        Row operator*() const { return (*result_)[row_]; }
        iterator& operator++() {
            ++row_;
            return *this;
        }
        iterator operator++(int) {
            iterator before = *this;
            ++row_;
            return before;
        }
        friend bool operator==(const iterator& a, const iterator& b) { return a.row_ == b.row_; }

    private:
        const Result* result_ = nullptr;
        std::size_t row_ = 0;
    };
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, size()); }

private:
    detail::ResultHandle result_;
};

// ---- the pool ------------------------------------------------------------

// How a pool connects and shares its connections:
//
//   tornado::postgres::PoolOptions options("host=/run/postgresql dbname=blog");
//   options.max_connections = 4;
//
// (Not an aggregate on purpose: g++ 12 frees the string of an aggregate
// made inside a co_await expression twice, as in
// co_await Pool::connect({.dsn = ...}); a constructor it gets right.)
struct PoolOptions {
    PoolOptions() = default;
    explicit PoolOptions(std::string connection_string) : dsn(std::move(connection_string)) {}

    // libpq's connection string, as keywords ("host=/run/postgresql
    // dbname=blog user=app") or a URI ("postgresql://app@db.internal/blog").
    // A host name is resolved on the loop's executor, never on the loop;
    // a host that starts with '/' is a folder holding the unix socket.
    std::string dsn;
    // Connections at most, and how many connect() opens and the pool keeps
    // open (reopening them after a loss).
    std::size_t max_connections = 10;
    std::size_t min_connections = 1;
    // Queries in flight on one connection at most (pipelined).
    std::size_t max_pipeline = 256;
    // Queries, transactions and streams waiting for a connection, at most;
    // one more is a PoolError at once.
    std::size_t max_waiters = 10'000;
    // How long one of them waits before PoolError.
    std::chrono::milliseconds wait_timeout{5'000};
    // A query's timeout when its call gives none; zero: none.
    std::chrono::milliseconds query_timeout{0};
    // How long making one connection may take (DNS, TCP, TLS, login).
    std::chrono::milliseconds connect_timeout{10'000};
    // Prepared statements kept per connection (the least recently used one
    // is closed to make room); zero sends every statement unprepared.
    std::size_t statement_cache = 256;
    // After a connection is lost or cannot be made: the first wait before
    // connecting again, doubled after each failure up to the second.
    std::chrono::milliseconds reconnect_delay{50};
    std::chrono::milliseconds max_reconnect_delay{1'000};
};

// A query's own settings.
struct QueryOptions {
    // Cancel the query on the server and fail with QueryTimeout after this
    // long; nullopt: the pool's query_timeout; zero: none.
    std::optional<std::chrono::milliseconds> timeout;
    // false: send it unprepared (for a statement run once).
    bool prepare = true;
};

enum class Isolation { read_committed, repeatable_read, serializable };

struct TransactionOptions {
    Isolation isolation = Isolation::read_committed;
    bool read_only = false;
};

// What one connection of a pool is doing (Pool::status()).
struct ConnectionStatus {
    enum class State { connecting, ready, closed };
    State state = State::connecting;
    std::size_t in_flight = 0;  // queries sent and not yet answered
    bool held = false;          // by a transaction or a row stream
    bool draining = false;      // a timed-out query is being cancelled
    bool tls = false;           // the connection is encrypted
    std::size_t prepared = 0;   // statements in its cache
    std::uint64_t queries = 0;  // answered since it connected
    int server_pid = 0;         // its backend's process id
};

struct PoolStatus {
    std::vector<ConnectionStatus> connections;
    std::size_t waiters = 0;     // waiting for a connection
    std::uint64_t connects = 0;  // connections made since the start
    std::uint64_t failed_connects = 0;
    std::uint64_t lost = 0;  // connections lost after they were made
    bool reachable = true;   // false after a connect failed, until one succeeds
    std::string last_error;  // why the last connect failed or connection was lost
};

class Pool;
class Transaction;
class RowStream;
class Listener;

namespace detail {
class PoolState;
class Connection;
struct TransactionState;
struct StreamState;
struct ListenerState;

// Parameters as given to query(...): converted to Params one by one.
template <typename... P>
concept Params = (std::constructible_from<Param, P> && ...);

template <typename... P>
std::vector<Param> make_params(P&&... params) {
    std::vector<Param> made;
    made.reserve(sizeof...(P));
    (made.emplace_back(std::forward<P>(params)), ...);
    return made;
}
}  // namespace detail

// Connections to one database, shared by the coroutines of one loop. Made
// by connect(); closed when the last shared_ptr goes (queries still waiting
// then fail with ConnectionError), or by close().
class Pool : public std::enable_shared_from_this<Pool> {
public:
    // Opens min_connections connections and returns once the first is
    // ready: a ConnectionError if it cannot be made (a wrong dsn fails at
    // start-up, not at the first request).
    static Task<std::shared_ptr<Pool>> connect(PoolOptions options);

    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    // Runs one statement with its parameters ($1, $2, ...) and gives its
    // rows: query("SELECT * FROM entries WHERE slug = $1", slug).
    template <typename... P>
        requires(detail::Params<P...>)
    Future<Result> query(std::string sql, P&&... params) {
        return query_with({}, std::move(sql), detail::make_params(std::forward<P>(params)...));
    }
    template <typename... P>
        requires(detail::Params<P...>)
    Future<Result> query(QueryOptions options, std::string sql, P&&... params) {
        return query_with(options, std::move(sql), detail::make_params(std::forward<P>(params)...));
    }
    // The same, with parameters known only at run time.
    Future<Result> query_with(QueryOptions options, std::string sql, std::vector<Param> params);

    // Runs a statement for its effect and gives the rows it changed.
    template <typename... P>
        requires(detail::Params<P...>)
    Task<std::uint64_t> execute(std::string sql, P&&... params) {
        return execute_result(query(std::move(sql), std::forward<P>(params)...));
    }

    // Begins a transaction on a connection it holds until commit(),
    // rollback() or its end.
    Task<Transaction> transaction(TransactionOptions options = {});

    // Runs a statement whose rows are read one at a time (libpq's
    // single-row mode): for results too large to hold whole. The stream
    // holds a connection until its last row is read or it is dropped.
    template <typename... P>
        requires(detail::Params<P...>)
    Task<RowStream> stream(std::string sql, P&&... params);
    Task<RowStream> stream_with(QueryOptions options, std::string sql, std::vector<Param> params);

    // NOTIFY channel, payload (pg_notify, so any channel name works).
    Task<void> notify(std::string channel, std::string payload);
    // A Listener on its own connection (not one of the pool's) for these
    // channels, with the pool's dsn and reconnection settings.
    Task<std::unique_ptr<Listener>> listen(std::vector<std::string> channels);

    PoolStatus status() const;
    const PoolOptions& options() const noexcept;

    // Closes every connection: queries in flight, transactions and waiters
    // fail with ConnectionError, and so does every later call. Idempotent.
    void close();

private:
    struct Token {};

public:
    // For connect(); not for use.
    Pool(Token, std::unique_ptr<detail::PoolState> state);

private:
    friend class Transaction;
    friend class RowStream;
    static Task<std::uint64_t> execute_result(Future<Result> result);
    std::unique_ptr<detail::PoolState> state_;
};

// A transaction: every statement on one connection, between BEGIN and
// COMMIT or ROLLBACK. Made by Pool::transaction(); move-only.
//
//   * commit() ends it: nothing is kept unless it succeeds;
//   * a statement that fails rolls the transaction back at once: its error
//     comes out of that query, and every later query, and commit(), fail
//     with a UsageError that names it;
//   * dropped while still open (an exception left the coroutine, or the
//     code forgot commit), it is rolled back and its connection goes back
//     to the pool.
class Transaction {
public:
    Transaction(Transaction&&) noexcept;
    Transaction& operator=(Transaction&&) noexcept;
    ~Transaction();

    template <typename... P>
        requires(detail::Params<P...>)
    Future<Result> query(std::string sql, P&&... params) {
        return query_with({}, std::move(sql), detail::make_params(std::forward<P>(params)...));
    }
    Future<Result> query_with(QueryOptions options, std::string sql, std::vector<Param> params);
    template <typename... P>
        requires(detail::Params<P...>)
    Task<std::uint64_t> execute(std::string sql, P&&... params) {
        return Pool::execute_result(query(std::move(sql), std::forward<P>(params)...));
    }

    // COMMIT. Throws the error that rolled it back, if one did; a
    // ServerError if COMMIT itself fails (a serialization failure).
    Task<void> commit();
    // ROLLBACK (nothing happens if it has ended already).
    Task<void> rollback();
    // Until commit(), rollback(), or a failed statement.
    bool active() const noexcept;

    // For Pool::transaction(); not for use.
    explicit Transaction(std::shared_ptr<detail::TransactionState> state) noexcept;

private:
    std::shared_ptr<detail::TransactionState> state_;
};

// The rows of one statement, one at a time, without holding them all.
//
//   auto rows = co_await db->stream("SELECT * FROM log");
//   while (std::optional<Row> row = co_await rows.next()) { ... }
//
// Rows are read from the server only as fast as next() takes them, so a
// slow reader holds back the server, not memory. Dropped before its end,
// the statement is cancelled on the server and its connection goes back to
// the pool.
class RowStream {
public:
    RowStream(RowStream&&) noexcept;
    RowStream& operator=(RowStream&&) noexcept;
    ~RowStream();

    // The next row; nullopt after the last. The statement's error, if it
    // fails, comes out of the next() that reaches it. One next() at a time.
    Future<std::optional<Row>> next();

    // For Pool::stream(); not for use.
    explicit RowStream(std::shared_ptr<detail::StreamState> state) noexcept;

private:
    std::shared_ptr<detail::StreamState> state_;
};

template <typename... P>
    requires(detail::Params<P...>)
Task<RowStream> Pool::stream(std::string sql, P&&... params) {
    return stream_with({}, std::move(sql), detail::make_params(std::forward<P>(params)...));
}

// A notification sent with NOTIFY (or pg_notify) on a channel a Listener
// listens to.
struct Notification {
    std::string channel;
    std::string payload;
    int sender_pid = 0;  // the server process of the session that sent it
};

// LISTEN on a connection of its own. Notifications that arrive while
// nobody waits in next() are kept, in order. When the connection is lost,
// the Listener connects again (with the pool's backoff) and listens to its
// channels again; notifications sent while it was away are lost, as
// PostgreSQL keeps none for a session that is gone: reconnects() counts
// these gaps, so that a reader can fetch what it may have missed.
class Listener {
public:
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    // The next notification, oldest first. One waiter at a time: next()
    // again before the last one is done throws UsageError. It fails (with
    // ConnectionError) only once the Listener is closed: a lost connection
    // is made again, and next() waits on.
    Future<Notification> next();

    // Times the connection was lost and made again.
    std::uint64_t reconnects() const noexcept;
    // Whether it is listening now (false while it reconnects).
    bool listening() const noexcept;
    void close();

    // For Pool::listen(); not for use.
    explicit Listener(std::shared_ptr<detail::ListenerState> state) noexcept;

private:
    std::shared_ptr<detail::ListenerState> state_;
};

// `"name"`: an identifier quoted for SQL (a table or channel name that
// comes from data); UsageError for a NUL byte.
std::string quote_identifier(std::string_view name);

}  // namespace tornado::postgres
