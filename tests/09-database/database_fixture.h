// database_fixture.h: chapter 08's loop-driving fixture (with its check
// that no coroutine frame is left alive), a real PostgreSQL server, a
// schema of its own for each test, and a blocking connection for the
// test's own SQL, run only while the loop is not.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coroutine_fixture.h"
#include "pg.h"
#include "postgres_cluster.h"

namespace course::testing {

using postgres_testing::holds;
using postgres_testing::Inspector;
using postgres_testing::message_of;

class DatabaseTest : public CoroutineTest {
protected:
    void SetUp() override {
        CoroutineTest::SetUp();
        if (!postgres_testing::server_installed()) {
            GTEST_SKIP() << "PostgreSQL's server is not installed (tools/install-deps.sh build)";
        }
        base_dsn_ = postgres_testing::shared_dsn();
        ASSERT_FALSE(base_dsn_.empty()) << "no PostgreSQL cluster could be started";
        std::random_device random;
        schema_ = "ch09_" + std::to_string(::getpid()) + "_" + std::to_string(random() % 1000000);
        inspector_ = std::make_unique<Inspector>(base_dsn_);
        ASSERT_TRUE(inspector_->ok()) << inspector_->error();
        inspector_->run("CREATE SCHEMA " + schema_);
    }

    void TearDown() override {
        if (inspector_ && inspector_->ok()) {
            inspector_->run("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
        }
        CoroutineTest::TearDown();
    }

    // The shared cluster, with this test's schema first in the search path,
    // and its sessions named after it (tests run side by side on one server).
    std::string dsn() const {
        return base_dsn_ + " application_name=" + schema_ + " options='-c search_path=" + schema_ +
               "'";
    }

    // The test's own SQL, blocking, outside the code under test.
    Inspector& sql() { return *inspector_; }

    // The sessions the code under test has open on the server now.
    int sessions() {
        return std::stoi(sql().value("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                                     schema_ + "'"));
    }

    // Whether sessions() comes to `count` within a few seconds: a session
    // a client closed leaves pg_stat_activity a moment later.
    bool sessions_become(int count) {
        for (int attempt = 0; attempt < 250; ++attempt) {
            if (sessions() == count) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    // The server processes of those sessions.
    std::vector<std::string> session_pids() {
        return sql().column("SELECT pid FROM pg_stat_activity WHERE application_name = '" + schema_ +
                            "'");
    }

    std::string base_dsn_;
    std::string schema_;
    std::unique_ptr<Inspector> inspector_;
};

// What `task` threw, or null: for the tests that expect a failure.
template <typename T>
Task<std::exception_ptr> failure_of(Task<T> task) {
    try {
        co_await std::move(task);
    } catch (...) {
        co_return std::current_exception();
    }
    co_return nullptr;
}

// What a Future failed with, or null.
template <typename T>
Task<std::exception_ptr> failure_of(Future<T> future) {
    try {
        co_await future;
    } catch (...) {
        co_return std::current_exception();
    }
    co_return nullptr;
}

// The SQLSTATE of a PGError, "" for anything else.
inline std::string sqlstate_of(const std::exception_ptr& error) {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const PGError& failed) {
        return failed.sqlstate();
    } catch (...) {
    }
    return "";
}

}  // namespace course::testing
