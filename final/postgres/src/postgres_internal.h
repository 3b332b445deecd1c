// postgres_internal.h: what the files of final/postgres/src/ share and a
// user never sees: one libpq connection on the loop (Connection), the
// statements in its pipeline (Operation), and what the pool and the
// listener hear from it (ConnectionOwner).
#pragma once

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/postgres.h"

namespace tornado::postgres::detail {

// The error the server (or libpq) put in a failed result, as the
// ServerError subclass of its SQLSTATE class.
std::exception_ptr server_error(const pg_result* result);

// UsageError for what must not be sent: a NUL byte in the statement or in
// a text parameter, more parameters than the protocol can count.
void check_sendable(std::string_view sql, const std::vector<Param>& params);

// The SQLSTATE of a ServerError in `error`, or "" for any other error.
std::string sqlstate_of(const std::exception_ptr& error);

// A connection string, parsed once by libpq (PQconninfoParse), so that a
// wrong one is a UsageError before anything connects.
struct ConnectSettings {
    std::vector<std::pair<std::string, std::string>> entries;  // keyword, value
    std::chrono::milliseconds connect_timeout{10'000};

    static ConnectSettings parse(const std::string& dsn, std::chrono::milliseconds timeout);
    // The value of `keyword`, or "" when the string does not set it.
    std::string get(std::string_view keyword) const;
};

// Where a streamed statement's rows go (RowStream's state).
class RowSink {
public:
    virtual ~RowSink() = default;
    virtual void on_row(Row row) = 0;
    // The statement ended: every row given (null), or failed.
    virtual void on_end(std::exception_ptr error) = 0;
    // Whether it wants no more rows for now: the connection stops reading.
    virtual bool full() const = 0;
};

// One statement of a connection's prepared-statement cache.
struct Statement {
    std::string name;
    bool prepared = false;             // the server confirmed the Parse
    std::exception_ptr prepare_error;  // why the Parse failed, if it did
};

// One statement in a connection's pipeline, followed by its own Sync.
struct Operation {
    std::string sql;
    std::vector<Param> params;
    bool prepare = true;
    std::chrono::milliseconds timeout{0};  // zero: none
    // Where the outcome goes: a query's Future, or a stream's sink, or
    // nowhere (the connection's own statements: ROLLBACK, DEALLOCATE).
    Future<Result> result{nullptr};
    std::shared_ptr<RowSink> sink;
    // Called as the statement fails, before its Future does: a
    // transaction rolls back at once.
    Function<void(std::exception_ptr)> on_failure;

    // Progress through the pipeline.
    std::shared_ptr<Statement> statement;  // the prepared statement it runs, if any
    bool parse_sent =
        false;  // its Parse went with it (`prepare` asked, and new here): two commands
    int commands_ended = 0;
    std::shared_ptr<const pg_result> last;  // the Execute's result
    std::exception_ptr error;               // the first error it got
    std::optional<IOLoop::Timeout> timer;
    bool retried = false;  // sent again (a plan made stale is retried once)

    // Whether its caller still waits for it:
    //
    //   awaited ──its deadline passed, or its stream was dropped──► to_cancel
    //                                                                   │ it is (or becomes)
    //                                                                   ▼ the pipeline's head
    //                                                              cancel_asked
    //
    // Past `awaited` its caller has been told (QueryTimeout, or nothing for
    // a stream it dropped), and what the server sends for it is dropped; it
    // stays in the pipeline until its Sync comes back. The server is asked
    // to stop it only while it runs there: Connection::cancel_if_running().
    enum class Fate : std::uint8_t { awaited, to_cancel, cancel_asked };
    Fate fate = Fate::awaited;
    bool awaited() const { return fate == Fate::awaited; }
};

// Tells `operation`'s caller it failed with `error`, once: its on_failure
// first (a transaction rolls back at once), then its stream's sink or its
// Future. A connection fails the statements it sent; a pool, those that
// never reached one.
void fail(Operation& operation, const std::exception_ptr& error);

// The wait before the next attempt to connect: reconnect_delay after a
// success, then twice as long after each failure, up to
// max_reconnect_delay. The pool's rule and the listener's.
class Backoff {
public:
    explicit Backoff(const PoolOptions& options)
        : first_(options.reconnect_delay), most_(options.max_reconnect_delay), next_(first_) {}
    // The wait for this attempt; the next one waits twice as long.
    std::chrono::milliseconds next() {
        std::chrono::milliseconds delay = next_;
        next_ = std::min(next_ * 2, most_);
        return delay;
    }
    // After a connection succeeds: the next failure waits reconnect_delay.
    void reset() { next_ = first_; }

private:
    std::chrono::milliseconds first_;
    std::chrono::milliseconds most_;
    std::chrono::milliseconds next_;
};

class Connection;

// What a connection tells the one that owns it (the pool, or a listener).
// Called on the loop, from inside the connection's own handlers: an owner
// may send on the connection from there, but must not destroy it before
// the call returns (the connection keeps itself alive through the call).
class ConnectionOwner {
public:
    virtual void on_ready(Connection& connection) = 0;
    virtual void on_connect_failed(Connection& connection, const std::string& why) = 0;
    virtual void on_lost(Connection& connection, const std::string& why) = 0;
    // A statement finished: there is room for another.
    virtual void on_room(Connection& connection) = 0;
    virtual void on_notification(Connection&, Notification) {}

protected:
    ~ConnectionOwner() = default;
};

// One libpq connection in pipeline mode on one loop: the connect state
// machine, sending (with write interest only while libpq has output
// queued), reading results in order, timeouts that cancel on the server,
// and the prepared-statement cache.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    // Its life:
    //
    //   resolving ──the executor looked the host up──► connecting ──PQconnectPoll OK──► ready
    //   (open(), only when a name needs a lookup)      (PQconnectPoll     (pipeline mode:
    //        │                                          step by step)       statements go)
    //        │                                              │                  │
    //        └── connect_timeout, or a failure ─────────────┴─► closed ◄───────┘ lost, or close()
    //                                          (owner: on_connect_failed)  (owner: on_lost)
    //
    // Only `ready` sends; `closed` is for good (a pool opens a new one).
    enum class State { resolving, connecting, ready, closed };

    Connection(IOLoop& loop, ConnectionOwner* owner, std::size_t statement_cache,
               std::chrono::milliseconds cancel_grace);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Starts connecting; the owner hears on_ready or on_connect_failed.
    void open(const ConnectSettings& settings);
    // Sends a statement at the end of the pipeline. On a closed connection
    // the statement fails at once with ConnectionError.
    void send(std::unique_ptr<Operation> operation);
    // Closes it: every statement in flight fails with ConnectionError(why).
    // The owner is not told (it asked).
    void close(const std::string& why);
    void forget_owner() noexcept { owner_ = nullptr; }

    // A stream's reader took rows: read from the socket again.
    void resume_reading();
    // A stream's reader went away: cancel its statement, drop its rows.
    void abandon(const RowSink* sink);

    State state() const noexcept { return state_; }
    bool ready() const noexcept { return state_ == State::ready; }
    std::size_t in_flight() const noexcept { return operations_.size(); }
    // A timed-out statement is being cancelled: send nothing new here until
    // it ends, so that the cancel cannot hit a statement sent after it.
    bool draining() const noexcept { return timed_out_in_flight_ > 0; }
    bool held() const noexcept { return held_; }
    void set_held(bool held) noexcept { held_ = held; }
    const std::string& closed_because() const noexcept { return closed_because_; }
    ConnectionStatus status() const;

private:
    void start_connecting(const std::vector<std::pair<std::string, std::string>>& entries);
    void continue_connecting();
    void connected();
    void fail_connect(const std::string& why);
    void lose(const std::string& why);
    void release_libpq() noexcept;

    void watch(int fd, std::uint32_t events);
    void update_interest();
    void on_events(std::uint32_t events);
    void flush();
    void set_receive_low_water();
    void watch_low_water(std::uint64_t reads_then);
    void cork_until_turn_ends();
    void read_results();
    void take_result(Operation& operation, std::shared_ptr<const pg_result> result);
    void finish_head();
    void start_head();
    void retry(std::unique_ptr<Operation> operation);
    void deliver_notifications();

    bool send_to_libpq(Operation& operation);
    void look_up_statement(Operation& operation);
    bool make_room_in_cache();
    void forget_statement(const std::string& key, const Statement* statement);

    void on_timeout(Operation* operation);
    void cancel_timer(Operation& operation);
    void cancel_if_running(Operation& operation);
    void request_cancel();
    void ask_again_if_still_running();
    void stop_asking_again();
    bool cancel_may_land() const;

    IOLoop& loop_;
    ConnectionOwner* owner_;
    PGconn* conn_ = nullptr;
    State state_ = State::resolving;
    std::string closed_because_;
    int fd_ = -1;                  // the descriptor the loop watches for us
    std::uint32_t interest_ = 0;   // what it watches for
    bool write_pending_ = false;   // libpq holds output the socket did not take
    bool corked_ = false;          // TCP_CORK is on until this turn of the loop ends
    bool reading_paused_ = false;  // a stream's reader is behind
    bool resume_scheduled_ = false;
    bool held_ = false;
    bool tls_ = false;
    int server_pid_ = 0;
    std::uint64_t queries_ = 0;
    std::optional<IOLoop::Timeout> connect_timer_;

    // Reading in batches (set_receive_low_water): only over TCP without TLS.
    static constexpr std::size_t kLeastAnswerBytes = 11;
    static constexpr std::size_t kMostLowWater = 16384;
    static constexpr std::chrono::milliseconds kLowWaterWait{1};
    bool batch_reads_ = false;
    int low_water_ = 1;               // the socket's SO_RCVLOWAT
    bool low_water_dropped_ = false;  // dropped to 1 until the next read
    std::uint64_t reads_ = 0;         // times the socket was read
    std::optional<IOLoop::Timeout> low_water_timer_;

    std::deque<std::unique_ptr<Operation>> operations_;  // the pipeline, oldest first

    // Cancelling: how many timed-out statements are still in the pipeline,
    // the deadline for them to end, and when a cancel was last asked for
    // (one may land on a statement it was not meant for until
    // cancel_grace_ after it: see request_cancel).
    std::size_t timed_out_in_flight_ = 0;
    std::chrono::milliseconds cancel_grace_;
    std::optional<IOLoop::Timeout> cancel_deadline_;
    std::optional<IOLoop::Clock::time_point> last_cancel_asked_;
    // Asking again while the head still runs (ask_again_if_still_running).
    static constexpr std::chrono::milliseconds first_cancel_wait{100};
    std::chrono::milliseconds next_cancel_wait_ = first_cancel_wait;
    std::optional<IOLoop::Timeout> cancel_again_;

    // Prepared statements by SQL text and parameter types, the most
    // recently used first in lru_.
    struct CachedStatement {
        std::shared_ptr<Statement> statement;
        std::list<std::string>::iterator position;
    };
    std::size_t statement_cache_;
    std::unordered_map<std::string, CachedStatement> statements_;
    std::list<std::string> lru_;
    std::uint64_t statements_made_ = 0;

    // Reused for every send, so that a query's arrays cost no allocation.
    std::vector<const char*> values_;
    std::vector<int> lengths_;
    std::vector<int> formats_;
    std::vector<Oid> types_;
};

// A Listener on a connection of its own (Pool::listen).
Task<std::unique_ptr<Listener>> make_listener(PoolOptions options, ConnectSettings settings,
                                              std::vector<std::string> channels);

}  // namespace tornado::postgres::detail
