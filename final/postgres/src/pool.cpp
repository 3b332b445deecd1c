// pool.cpp: Pool, Transaction and RowStream (tornado/postgres.h).
//
// The pool decides which connection each statement goes to, opens
// connections as the load asks for them, keeps the queue of those waiting
// for one, and reconnects with backoff after a loss. The connections
// themselves (connection.cpp) know nothing of each other.
#include <algorithm>
#include <deque>

#include "postgres_internal.h"
#include "tornado/log.h"

namespace tornado::postgres {
namespace detail {

namespace {

std::exception_ptr connection_error(const std::string& why) {
    return std::make_exception_ptr(ConnectionError(why));
}

// For the statements the library sends itself, run once each.
QueryOptions unprepared() {
    QueryOptions options;
    options.prepare = false;
    return options;
}

}  // namespace

// The pool's state, apart from the Pool handle so that the connections can
// call back into it (ConnectionOwner).
class PoolState final : public ConnectionOwner {
public:
    PoolState(PoolOptions options, ConnectSettings settings)
        : loop_(IOLoop::current()),
          options_(std::move(options)),
          settings_(std::move(settings)),
          backoff_(options_) {}

    ~PoolState() { close("the pool was closed"); }

    // Opens the first connections; done when one is ready, failed when
    // none could be made.
    Future<void> start() {
        std::size_t first = std::max<std::size_t>(options_.min_connections, 1);
        for (std::size_t i = 0; i < first; ++i) open_connection();
        return started_;
    }

    // Sends `operation` on a connection, or queues it until one has room.
    void submit(std::unique_ptr<Operation> operation) {
        if (closed_) {
            fail(*operation, connection_error("the pool is closed"));
            return;
        }
        if (Connection* connection = choose_shared()) {
            connection->send(std::move(operation));
            return;
        }
        if (std::exception_ptr refused = refuse_waiter()) {
            fail(*operation, refused);
            return;
        }
        Waiter waiter;
        waiter.operation = std::move(operation);
        enqueue(std::move(waiter));
    }

    // A connection for one transaction or stream alone, until release().
    Future<std::shared_ptr<Connection>> hold() {
        Future<std::shared_ptr<Connection>> held;
        if (closed_) {
            held.set_exception(connection_error("the pool is closed"));
        } else if (std::shared_ptr<Connection> connection = choose_exclusive()) {
            connection->set_held(true);
            held.set_result(std::move(connection));
        } else if (std::exception_ptr refused = refuse_waiter()) {
            held.set_exception(refused);
        } else {
            Waiter waiter;
            waiter.held = held;
            enqueue(std::move(waiter));
        }
        return held;
    }

    void release(const std::shared_ptr<Connection>& connection) {
        connection->set_held(false);
        if (!closed_) serve_waiters();
    }

    void close(const std::string& why) {
        if (closed_) return;
        closed_ = true;
        if (reconnect_timer_) loop_.remove_timeout(*reconnect_timer_);
        reconnect_timer_.reset();
        for (Line* line : {&statement_line_, &exclusive_line_}) {
            if (line->timer) loop_.remove_timeout(*line->timer);
            line->timer.reset();
        }
        std::deque<Waiter> waiting = take_all_waiters();
        for (Waiter& waiter : waiting) fail_waiter(waiter, connection_error(why));
        std::vector<std::shared_ptr<Connection>> connections = std::move(connections_);
        connections_.clear();
        for (auto& connection : connections) {
            connection->forget_owner();
            connection->close(why);
        }
        if (!started_.done()) started_.set_exception(connection_error(why));
    }

    PoolStatus status() const {
        PoolStatus status;
        for (const auto& connection : connections_)
            status.connections.push_back(connection->status());
        status.waiters = waiting();
        status.connects = connects_;
        status.failed_connects = failed_connects_;
        status.lost = lost_;
        status.reachable = reachable_;
        status.last_error = last_error_;
        return status;
    }

    IOLoop& loop() noexcept { return loop_; }
    const PoolOptions& options() const noexcept { return options_; }
    const ConnectSettings& settings() const noexcept { return settings_; }

private:
    // One caller waiting for a connection: a statement to send, or a
    // transaction or stream to give a connection to.
    struct Waiter {
        std::unique_ptr<Operation> operation;
        Future<std::shared_ptr<Connection>> held{nullptr};
        IOLoop::Clock::time_point deadline;  // wait_timeout after it came
    };

    // Waiters, first come first served. All wait the same wait_timeout, so
    // their deadlines come in the order of the line, and one timer, set
    // for the first waiter's deadline, serves the whole line: a timer each
    // cost a heap entry per waiter, thousands when thousands wait.
    struct Line {
        std::deque<Waiter> waiters;
        std::optional<IOLoop::Timeout> timer;
    };

    // ---- choosing a connection ----

    // The connection a statement goes to: an idle one, else the shortest
    // pipeline with room. Opens another connection when none is idle, so
    // the pool grows with the load.
    Connection* choose_shared() {
        Connection* best = nullptr;
        for (const auto& connection : connections_) {
            if (!connection->ready() || connection->held() || connection->draining() ||
                connection->in_flight() >= options_.max_pipeline) {
                continue;
            }
            if (best == nullptr || connection->in_flight() < best->in_flight()) {
                best = connection.get();
            }
        }
        if (best == nullptr || best->in_flight() > 0) grow();
        return best;
    }

    // The connection a transaction or stream takes: one nobody holds, the
    // least busy (what is in its pipeline still ends first, in order).
    std::shared_ptr<Connection> choose_exclusive() {
        std::shared_ptr<Connection> best;
        for (const auto& connection : connections_) {
            if (!connection->ready() || connection->held() || connection->draining()) continue;
            if (!best || connection->in_flight() < best->in_flight()) best = connection;
        }
        if (!best || best->in_flight() > 0) grow();
        return best;
    }

    // One more connection, if the pool may: one is opened at a time, none
    // while the server is known to be unreachable (the reconnect timer
    // tries then).
    void grow() {
        if (closed_ || !reachable_ || reconnect_timer_ ||
            connections_.size() >= options_.max_connections) {
            return;
        }
        for (const auto& connection : connections_) {
            if (!connection->ready()) return;  // one is being opened already
        }
        open_connection();
    }

    void open_connection() {
        auto connection = std::make_shared<Connection>(loop_, this, options_.statement_cache,
                                                       options_.connect_timeout);
        connections_.push_back(connection);
        connection->open(settings_);
    }

    bool has_ready_connection() const {
        return std::any_of(connections_.begin(), connections_.end(),
                           [](const auto& connection) { return connection->ready(); });
    }

    // ---- the queue ----

    // Why a new waiter cannot wait, or null if it can: the server is known
    // to be down (fail fast rather than wait for wait_timeout), or the
    // queue is full.
    std::exception_ptr refuse_waiter() const {
        if (!reachable_ && !has_ready_connection()) {
            return connection_error("PostgreSQL cannot be reached: " + last_error_);
        }
        if (waiting() >= options_.max_waiters) {
            return std::make_exception_ptr(
                PoolError(std::to_string(waiting()) +
                          " callers wait for a connection already (max_waiters)"));
        }
        return nullptr;
    }

    void enqueue(Waiter arriving) {
        Line& line = arriving.operation ? statement_line_ : exclusive_line_;
        arriving.deadline = IOLoop::Clock::now() + options_.wait_timeout;
        line.waiters.push_back(std::move(arriving));
        if (!line.timer) wake_at_first_deadline(line);
    }

    // The line's timer, for its first waiter's deadline. Waiters served
    // since it was set leave it early; it then sets itself again for the
    // waiter now first.
    void wake_at_first_deadline(Line& line) {
        line.timer = loop_.call_at(line.waiters.front().deadline, [this, &line] {
            line.timer.reset();
            fail_expired_waiters(line);
        });
    }

    void fail_expired_waiters(Line& line) {
        IOLoop::Clock::time_point now = IOLoop::Clock::now();
        while (!line.waiters.empty() && line.waiters.front().deadline <= now) {
            Waiter expired = std::move(line.waiters.front());
            line.waiters.pop_front();
            fail_waiter(expired, std::make_exception_ptr(PoolError(
                                     "no connection was free within " +
                                     std::to_string(options_.wait_timeout.count()) + " ms")));
        }
        // A caller told of its failure may have queued again, and set it.
        if (!line.waiters.empty() && !line.timer) wake_at_first_deadline(line);
    }

    std::size_t waiting() const {
        return statement_line_.waiters.size() + exclusive_line_.waiters.size();
    }

    // Every waiter, out of both lines (the pool closes, or cannot connect).
    // The lines' timers find them empty.
    std::deque<Waiter> take_all_waiters() {
        std::deque<Waiter> all = std::move(statement_line_.waiters);
        statement_line_.waiters.clear();
        for (Waiter& waiter : exclusive_line_.waiters) all.push_back(std::move(waiter));
        exclusive_line_.waiters.clear();
        return all;
    }

    // Gives connections to waiters, first come first served in each line.
    // A statement and a transaction need different things (room in a
    // pipeline, a connection nobody holds), so they wait in lines of their
    // own: one kind that cannot be served does not hold back the other, and
    // each line stops at its first waiter that cannot be served (a scan of
    // every waiter at every answer would cost thousands of steps per query
    // when thousands wait).
    void serve_waiters() {
        serve_statements();
        serve_exclusive();
    }

    void serve_statements() {
        std::deque<Waiter>& line = statement_line_.waiters;
        while (!line.empty()) {
            Connection* connection = choose_shared();
            if (connection == nullptr) return;
            std::unique_ptr<Operation> operation = std::move(line.front().operation);
            line.pop_front();  // before send(), which may call back here
            connection->send(std::move(operation));
        }
    }

    void serve_exclusive() {
        std::deque<Waiter>& line = exclusive_line_.waiters;
        while (!line.empty()) {
            if (line.front().held.done()) {  // cancelled by its caller
                line.pop_front();
                continue;
            }
            std::shared_ptr<Connection> connection = choose_exclusive();
            if (!connection) return;
            connection->set_held(true);
            Future<std::shared_ptr<Connection>> held = line.front().held;
            line.pop_front();
            held.set_result(std::move(connection));
        }
    }

    static void fail_waiter(Waiter& failed, const std::exception_ptr& error) {
        if (failed.operation) fail(*failed.operation, error);
        if (failed.held.valid() && !failed.held.done()) failed.held.set_exception(error);
    }

    // ---- what the connections say ----

    void on_ready(Connection&) override {
        ++connects_;
        reachable_ = true;
        backoff_.reset();
        if (!started_.done()) started_.set_result();
        // After a loss the pool comes back one connection at a time: the
        // first that succeeds opens the rest of min_connections at once.
        std::size_t open = connections_.size();
        for (std::size_t i = open; i < options_.min_connections; ++i) open_connection();
        serve_waiters();
    }

    void on_connect_failed(Connection& connection, const std::string& why) override {
        ++failed_connects_;
        reachable_ = false;
        last_error_ = why;
        forget(connection);
        if (!has_ready_connection()) {
            // Nobody will be served soon: tell the waiting now.
            std::deque<Waiter> waiting = take_all_waiters();
            auto error = connection_error("cannot connect to PostgreSQL: " + why);
            for (Waiter& waiter : waiting) fail_waiter(waiter, error);
            bool connecting = !connections_.empty();
            if (!started_.done() && !connecting) started_.set_exception(error);
        }
        schedule_reconnect();
    }

    void on_lost(Connection& connection, const std::string& why) override {
        ++lost_;
        last_error_ = why;
        gen_log.warning("PostgreSQL: a connection was lost: {}", why);
        forget(connection);
        schedule_reconnect();
    }

    void on_room(Connection&) override {
        if (waiting() > 0) serve_waiters();
    }

    void forget(Connection& connection) {
        std::erase_if(connections_, [&](const auto& c) { return c.get() == &connection; });
    }

    // Opens a connection again after a wait that doubles with each failure
    // (reconnect_delay up to max_reconnect_delay), while fewer than
    // min_connections are open, anyone waits, or the server is unreachable
    // (queries fail fast then, so only this timer can find it back).
    void schedule_reconnect() {
        if (closed_ || reconnect_timer_) return;
        reconnect_timer_ = loop_.call_later(backoff_.next(), [this] {
            reconnect_timer_.reset();
            std::size_t wanted =
                std::max(options_.min_connections, waiting() == 0 ? 0 : std::size_t{1});
            if (!reachable_) wanted = std::max<std::size_t>(wanted, 1);
            if (connections_.size() < wanted) open_connection();
        });
    }

    IOLoop& loop_;
    PoolOptions options_;
    ConnectSettings settings_;
    std::vector<std::shared_ptr<Connection>> connections_;  // connecting or ready
    Line statement_line_;                                   // statements: room in a pipeline
    Line exclusive_line_;  // transactions, streams: a connection of their own
    Future<void> started_;
    bool closed_ = false;
    bool reachable_ = true;
    std::string last_error_;
    Backoff backoff_;
    std::optional<IOLoop::Timeout> reconnect_timer_;
    std::uint64_t connects_ = 0, failed_connects_ = 0, lost_ = 0;
};

// A statement ready for a connection, or a UsageError for one that must
// not be sent.
std::unique_ptr<Operation> make_operation(const QueryOptions& options,
                                          std::chrono::milliseconds default_timeout,
                                          std::string sql, std::vector<Param> params) {
    check_sendable(sql, params);
    auto operation = std::make_unique<Operation>();
    operation->sql = std::move(sql);
    operation->params = std::move(params);
    operation->prepare = options.prepare;
    operation->timeout = options.timeout.value_or(default_timeout);
    return operation;
}

// A transaction's state, shared by the handle and its coroutines (which
// may outlive a moved-from handle).
struct TransactionState {
    std::shared_ptr<Pool> pool;  // keeps the pool, the connection's owner, alive
    PoolState* pool_state = nullptr;
    std::shared_ptr<Connection> connection;
    bool active = true;
    bool released = false;
    std::exception_ptr failure;  // the statement error that ended it

    // Sends a statement of its own (BEGIN, COMMIT, ROLLBACK) unprepared.
    Future<Result> send(std::string sql) {
        auto operation =
            make_operation(unprepared(), std::chrono::milliseconds(0), std::move(sql), {});
        Future<Result> result;
        operation->result = result;
        connection->send(std::move(operation));
        return result;
    }

    // Ends it: ROLLBACK if asked, then the connection goes back to the
    // pool. Statements sent later run after the ROLLBACK (pipeline order),
    // so it need not be awaited.
    void end(bool roll_back) {
        active = false;
        if (roll_back) {
            auto operation =
                make_operation(unprepared(), std::chrono::milliseconds(0), "ROLLBACK", {});
            connection->send(std::move(operation));
        }
        if (!released) {
            released = true;
            pool_state->release(connection);
        }
    }

    void statement_failed(const std::exception_ptr& error) {
        if (!active) return;
        failure = error;
        end(true);
    }

    std::exception_ptr ended_error() const {
        if (!failure) return std::make_exception_ptr(UsageError("the transaction has ended"));
        std::string why = "an earlier statement failed";
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& error) {
            why = error.what();
        }
        return std::make_exception_ptr(
            UsageError("the transaction was rolled back after a statement failed: " + why));
    }
};

// A stream's state: the rows read and not yet taken, and the one waiting
// next().
struct StreamState final : RowSink {
    static constexpr std::size_t kBufferedRows = 256;

    std::shared_ptr<Pool> pool;  // keeps the pool, the connection's owner, alive
    PoolState* pool_state = nullptr;
    std::shared_ptr<Connection> connection;
    std::deque<Row> rows;
    std::optional<Future<std::optional<Row>>> waiter;
    bool ended = false;
    std::exception_ptr error;

    void on_row(Row row) override {
        if (waiter && !waiter->done()) {
            waiter->set_result(std::optional<Row>(std::move(row)));
            waiter.reset();
        } else {
            rows.push_back(std::move(row));
        }
    }

    void on_end(std::exception_ptr failure) override {
        if (ended) return;
        ended = true;
        error = std::move(failure);
        if (waiter && !waiter->done()) {
            if (error) {
                waiter->set_exception(error);
            } else {
                waiter->set_result(std::optional<Row>());
            }
        }
        waiter.reset();
        pool_state->release(connection);
    }

    bool full() const override { return rows.size() >= kBufferedRows; }
};

}  // namespace detail

using detail::Connection;
using detail::make_operation;

// ---- Pool ------------------------------------------------------------------

Pool::Pool(Token, std::unique_ptr<detail::PoolState> state) : state_(std::move(state)) {}

Pool::~Pool() = default;

Task<std::shared_ptr<Pool>> Pool::connect(PoolOptions options) {
    if (options.max_connections == 0 || options.min_connections > options.max_connections) {
        throw UsageError("a pool needs 0 < max_connections and min_connections <= max_connections");
    }
    if (options.max_pipeline == 0) throw UsageError("max_pipeline must be at least 1");
    detail::ConnectSettings settings =
        detail::ConnectSettings::parse(options.dsn, options.connect_timeout);
    auto state = std::make_unique<detail::PoolState>(std::move(options), std::move(settings));
    Future<void> started = state->start();
    auto pool = std::make_shared<Pool>(Token{}, std::move(state));
    co_await started;
    co_return pool;
}

Future<Result> Pool::query_with(QueryOptions options, std::string sql, std::vector<Param> params) {
    Future<Result> result;
    try {
        auto operation = make_operation(options, state_->options().query_timeout, std::move(sql),
                                        std::move(params));
        operation->result = result;
        state_->submit(std::move(operation));
    } catch (...) {
        result.set_exception(std::current_exception());
    }
    return result;
}

Task<std::uint64_t> Pool::execute_result(Future<Result> result) {
    Result done = co_await std::move(result);
    co_return done.affected_rows();
}

namespace {

std::string begin_statement(const TransactionOptions& options) {
    std::string sql = "BEGIN ISOLATION LEVEL ";
    switch (options.isolation) {
        case Isolation::read_committed: sql += "READ COMMITTED"; break;
        case Isolation::repeatable_read: sql += "REPEATABLE READ"; break;
        case Isolation::serializable: sql += "SERIALIZABLE"; break;
    }
    return sql + (options.read_only ? " READ ONLY" : " READ WRITE");
}

}  // namespace

// A connection nobody else uses until the transaction ends (statements of
// other callers would run inside it), then BEGIN with the options.
Task<Transaction> Pool::transaction(TransactionOptions options) {
    std::shared_ptr<Pool> self = shared_from_this();
    Future<std::shared_ptr<Connection>> held = state_->hold();
    auto state = std::make_shared<detail::TransactionState>();
    state->pool = self;
    state->pool_state = state_.get();
    state->connection = co_await held;
    Transaction transaction(state);
    co_await transaction.query_with(detail::unprepared(), begin_statement(options), {});
    co_return transaction;
}

// A stream holds its connection too: its rows arrive one result at a
// time, and nothing else may be pipelined behind them meanwhile.
Task<RowStream> Pool::stream_with(QueryOptions options, std::string sql,
                                  std::vector<Param> params) {
    std::shared_ptr<Pool> self = shared_from_this();
    auto operation =
        make_operation(options, state_->options().query_timeout, std::move(sql), std::move(params));
    Future<std::shared_ptr<Connection>> held = state_->hold();
    auto state = std::make_shared<detail::StreamState>();
    state->pool = self;
    state->pool_state = state_.get();
    state->connection = co_await held;
    operation->sink = state;
    state->connection->send(std::move(operation));
    co_return RowStream(state);
}

Task<void> Pool::notify(std::string channel, std::string payload) {
    co_await query("SELECT pg_notify($1, $2)", std::move(channel), std::move(payload));
}

Task<std::unique_ptr<Listener>> Pool::listen(std::vector<std::string> channels) {
    return detail::make_listener(state_->options(), state_->settings(), std::move(channels));
}

PoolStatus Pool::status() const { return state_->status(); }

const PoolOptions& Pool::options() const noexcept { return state_->options(); }

void Pool::close() { state_->close("the pool was closed"); }

// ---- Transaction -------------------------------------------------------------

Transaction::Transaction(std::shared_ptr<detail::TransactionState> state) noexcept
    : state_(std::move(state)) {}

Transaction::Transaction(Transaction&&) noexcept = default;

Transaction& Transaction::operator=(Transaction&& other) noexcept {
    if (this != &other) {
        if (state_ && state_->active) state_->end(true);
        state_ = std::move(other.state_);
    }
    return *this;
}

Transaction::~Transaction() {
    if (state_ && state_->active) state_->end(true);
}

bool Transaction::active() const noexcept { return state_ && state_->active; }

// A statement on the transaction's connection. Its failure ends the
// transaction at once (on_failure sends the ROLLBACK), before its caller
// hears of it, so that nothing more is sent into an aborted transaction.
Future<Result> Transaction::query_with(QueryOptions options, std::string sql,
                                       std::vector<Param> params) {
    Future<Result> result;
    try {
        if (!state_) throw UsageError("the Transaction was moved from");
        if (!state_->active) std::rethrow_exception(state_->ended_error());
        auto operation = make_operation(options, state_->pool->options().query_timeout,
                                        std::move(sql), std::move(params));
        operation->result = result;
        std::weak_ptr<detail::TransactionState> weak = state_;
        operation->on_failure = [weak](std::exception_ptr error) {
            if (auto state = weak.lock()) state->statement_failed(error);
        };
        state_->connection->send(std::move(operation));
    } catch (...) {
        result.set_exception(std::current_exception());
    }
    return result;
}

// The coroutines below keep their own share of the state: the Transaction
// may be moved while they wait.
Task<void> Transaction::commit() {
    std::shared_ptr<detail::TransactionState> state = state_;
    if (!state) throw UsageError("the Transaction was moved from");
    if (!state->active) std::rethrow_exception(state->ended_error());
    Future<Result> committed = state->send("COMMIT");
    state->end(false);
    Result result = co_await committed;
    // COMMIT of a transaction the server aborted answers ROLLBACK, not an
    // error (it cannot happen here: a failed statement ends it first).
    if (result.command() == "ROLLBACK") {
        throw UsageError("COMMIT was answered by ROLLBACK: the transaction had failed");
    }
}

Task<void> Transaction::rollback() {
    std::shared_ptr<detail::TransactionState> state = state_;
    if (!state || !state->active) co_return;
    Future<Result> rolled_back = state->send("ROLLBACK");
    state->end(false);
    co_await rolled_back;
}

// ---- RowStream -------------------------------------------------------------

RowStream::RowStream(std::shared_ptr<detail::StreamState> state) noexcept
    : state_(std::move(state)) {}

RowStream::RowStream(RowStream&&) noexcept = default;

RowStream& RowStream::operator=(RowStream&& other) noexcept {
    if (this != &other) {
        if (state_ && !state_->ended) state_->connection->abandon(state_.get());
        state_ = std::move(other.state_);
    }
    return *this;
}

RowStream::~RowStream() {
    if (state_ && !state_->ended) {
        // Its rows are dropped from now on and its statement cancelled; the
        // connection goes back to the pool, which sends nothing there until
        // the statement has ended.
        state_->connection->abandon(state_.get());
        state_->on_end(std::make_exception_ptr(UsageError("the RowStream was dropped")));
    }
}

// The next row: one already read, or a Future the connection resolves.
// Taking a row lets the connection read again if it had paused for this
// reader (backpressure: see Connection::update_interest).
Future<std::optional<Row>> RowStream::next() {
    Future<std::optional<Row>> next;
    detail::StreamState* state = state_.get();
    if (state == nullptr) {
        next.set_exception(std::make_exception_ptr(UsageError("the RowStream was moved from")));
    } else if (state->waiter && !state->waiter->done()) {
        next.set_exception(std::make_exception_ptr(UsageError("RowStream::next: already waiting")));
    } else if (!state->rows.empty()) {
        next.set_result(std::optional<Row>(std::move(state->rows.front())));
        state->rows.pop_front();
        if (!state->ended) state->connection->resume_reading();
    } else if (state->ended) {
        if (state->error) {
            next.set_exception(state->error);
        } else {
            next.set_result(std::optional<Row>());
        }
    } else {
        state->waiter = next;
    }
    return next;
}

}  // namespace tornado::postgres
