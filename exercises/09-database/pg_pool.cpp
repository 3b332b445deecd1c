// pg_pool.cpp (exercise): the chapter's pg_pool.cpp with the key functions
// cut out, each marked TODO(task N). See README.md beside this file.
#include <pg_pool.h>

#include <chrono>
#include <utility>

namespace course {

namespace {
[[maybe_unused]] constexpr auto kConnectTimeout = std::chrono::seconds(10);
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
    // TODO(task 3): a connection for one query: an idle one that is ok()
    // (one that is not is dropped, and no longer counts in open_), else a
    // new one while open_ < max_connections_ (counted in open_ while it
    // connects; if the connect fails, uncount it, let the first in line try
    // in its place, and throw), else a place in line (waiting_) and the
    // connection given to it later. Rule: past max_waiting_ in line,
    // PoolFullError at once. Hint: make hint CH=09 TASK=3.
    throw std::logic_error("TODO(task 3): PGPool::acquire");
}

void PGPool::give_back(std::shared_ptr<PGConnection> connection) {
    // TODO(task 3): a connection that is not ok() is closed (open_ goes
    // down) and replaced for the first in line; a good one goes straight to
    // the first in line, or to the idle list if nobody waits.
    (void)connection;
    throw std::logic_error("TODO(task 3): PGPool::give_back");
}

void PGPool::replace_for_first_waiting() {
    // TODO(task 3): if someone waits and the pool has room, open a new
    // connection for the first in line (open_for, started with
    // fire_and_forget), counted in open_ from now.
    throw std::logic_error("TODO(task 3): PGPool::replace_for_first_waiting");
}

Task<void> PGPool::open_for(Future<std::shared_ptr<PGConnection>> waiter) {
    // TODO(task 3): connect, and give the connection to `waiter`. If the
    // connect fails, the waiter gets the error (it must not wait for ever),
    // open_ goes down, and the next in line tries in its turn.
    (void)waiter;
    throw std::logic_error("TODO(task 3): PGPool::open_for");
}

}  // namespace course
