// What the tests of tornado/postgres.h share: a real PostgreSQL server and
// a blocking connection for the tests' own SQL (postgres_cluster.h, in
// tests/support), and a schema of its own for each test. The blocking
// connection sets up and looks in from outside the pool
// (pg_stat_activity), only while the loop is not running.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "postgres_cluster.h"
#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/postgres.h"

namespace tornado::postgres::testing {

using namespace postgres_testing;

using namespace std::chrono_literals;

// A test against the shared cluster, in a schema of its own (the pool's
// dsn sets search_path to it), dropped afterwards.
class PostgresTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (!server_installed()) {
            GTEST_SKIP() << "PostgreSQL's server is not installed (tools/install-deps.sh build)";
        }
        base_dsn_ = shared_dsn();
        ASSERT_FALSE(base_dsn_.empty()) << "no PostgreSQL cluster could be started";
        std::random_device random;
        schema_ = "test_" + std::to_string(::getpid()) + "_" + std::to_string(random() % 1000000);
        inspector_ = std::make_unique<Inspector>(base_dsn_);
        ASSERT_TRUE(inspector_->ok()) << inspector_->error();
        inspector_->run("CREATE SCHEMA " + schema_);
        inspector_->run("SET search_path TO " + schema_);
    }

    void TearDown() override {
        pool_.reset();  // before the loop: its connections leave the loop first
        if (inspector_ && inspector_->ok()) inspector_->run("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    }

    // The dsn of the shared cluster with this test's schema first in the path.
    std::string dsn() const { return base_dsn_ + " options='-c search_path=" + schema_ + "'"; }
    // The same over TCP to `host` (the cluster listens there too, TLS
    // allowed), `sslmode` as libpq reads it.
    std::string tcp_dsn(const std::string& host, const std::string& sslmode) const {
        std::string port = base_dsn_.substr(base_dsn_.find("port=") + 5);
        port = port.substr(0, port.find(' '));
        return "host=" + host + " port=" + port + " user=postgres dbname=postgres sslmode=" +
               sslmode + " options='-c search_path=" + schema_ + "'";
    }

    PoolOptions options() const {
        PoolOptions made;
        made.dsn = dsn();
        return made;
    }

    // Opens pool_ with `made` (options() when not given).
    void open(std::optional<PoolOptions> made = std::nullopt) {
        PoolOptions chosen = made ? *made : options();
        pool_ = loop_.run_sync([chosen]() { return Pool::connect(chosen); }, 20s);
    }

    // Runs `coroutine` on the loop, bounded: a lost reply fails, not hangs.
    template <typename Coroutine>
    void run(Coroutine coroutine) {
        loop_.run_sync(std::move(coroutine), 60s);
    }

    // The SQL the test runs itself, blocking, outside the pool.
    Inspector& sql() { return *inspector_; }

    IOLoop loop_;
    std::shared_ptr<Pool> pool_;
    std::string base_dsn_;
    std::string schema_;
    std::unique_ptr<Inspector> inspector_;
};

// What `call` throws: the exception's type is checked by the caller with
// dynamic_cast, its message with what().
template <typename Awaitable>
Task<std::exception_ptr> failure_of(Awaitable awaitable) {
    try {
        co_await std::move(awaitable);
    } catch (...) {
        co_return std::current_exception();
    }
    co_return nullptr;
}

// The SQLSTATE of a ServerError, "" for anything else.
inline std::string sqlstate_of(const std::exception_ptr& error) {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const ServerError& server) {
        return server.sqlstate();
    } catch (...) {
    }
    return "";
}

}  // namespace tornado::postgres::testing
