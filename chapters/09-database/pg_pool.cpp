// pg_pool.cpp: a bounded pool of PGConnections with a line of waiters.
#include <pg_pool.h>

#include <chrono>
#include <utility>

namespace course {

namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(10);
}

PGPool::PGPool(std::string dsn, std::size_t max_connections, std::size_t max_waiting, IOLoop& loop)
    : dsn_(std::move(dsn)), max_connections_(max_connections), max_waiting_(max_waiting),
      loop_(loop) {
    if (max_connections_ == 0) throw std::invalid_argument("PGPool: max_connections must be at least 1");
}

PooledConnection::~PooledConnection() {
    if (connection_) pool_->give_back(std::move(connection_));
}

Task<PooledConnection> PGPool::connection() {
    co_return PooledConnection(*this, co_await acquire());
}

Task<PGResult> PGPool::query(std::string sql, PGParams params) {
    // The lease gives the connection back whether the query succeeds or
    // throws: its destructor runs either way.
    PooledConnection connection = co_await this->connection();
    co_return co_await connection->query(std::move(sql), std::move(params));
}

Task<std::shared_ptr<PGConnection>> PGPool::acquire() {
    while (!idle_.empty()) {
        std::shared_ptr<PGConnection> connection = std::move(idle_.front());
        idle_.pop_front();
        if (connection->ok()) co_return connection;
        --open_;  // it broke while idle (the server went away): closed here
    }
    if (open_ < max_connections_) {
        ++open_;  // counted while it connects, so that no one opens one too many
        std::shared_ptr<PGConnection> fresh;
        try {
            fresh = co_await PGConnection::connect(dsn_, kConnectTimeout, loop_);
        } catch (...) {
            --open_;
            // Someone may have got in line meanwhile, seeing the pool full.
            replace_for_first_waiting();
            throw;
        }
        co_return fresh;
    }
    if (waiting_.size() >= max_waiting_) {
        throw PoolFullError("PGPool: " + std::to_string(waiting_.size()) +
                            " queries already wait for a connection");
    }
    Future<std::shared_ptr<PGConnection>> turn(loop_);
    waiting_.push_back(turn);
    co_return co_await turn;
}

void PGPool::give_back(std::shared_ptr<PGConnection> connection) {
    if (!connection->ok()) {
        --open_;
        connection.reset();  // closed
        replace_for_first_waiting();
        return;
    }
    if (waiting_.empty()) {
        idle_.push_back(std::move(connection));
        return;
    }
    Future<std::shared_ptr<PGConnection>> first = std::move(waiting_.front());
    waiting_.pop_front();
    first.set_result(std::move(connection));
}

void PGPool::replace_for_first_waiting() {
    if (waiting_.empty() || open_ >= max_connections_) return;
    Future<std::shared_ptr<PGConnection>> first = std::move(waiting_.front());
    waiting_.pop_front();
    ++open_;
    fire_and_forget(open_for(std::move(first)));
}

Task<void> PGPool::open_for(Future<std::shared_ptr<PGConnection>> waiter) {
    std::shared_ptr<PGConnection> fresh;
    try {
        fresh = co_await PGConnection::connect(dsn_, kConnectTimeout, loop_);
    } catch (...) {
        // The server is still unreachable: this waiter learns why, and the
        // next in line tries in turn, so that nobody waits for ever.
        --open_;
        waiter.set_exception(std::current_exception());
        replace_for_first_waiting();
        co_return;
    }
    waiter.set_result(std::move(fresh));
}

}  // namespace course
