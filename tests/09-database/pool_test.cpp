// pool_test.cpp: PGPool (task 3): connections opened only as needed and
// never more than the bound, a line of waiters that all get served, a
// connection given back whatever the query did, a connection lent for
// several queries and given back however its holder ends, a bounded line, a
// broken connection replaced, and a server that is down failing every
// waiter promptly instead of leaving it waiting.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "database_fixture.h"
#include "pg_pool.h"

namespace course::testing {
namespace {

class Task3_Pool : public DatabaseTest {};

// `count` queries started at once on `pool`; their outcomes.
std::vector<Future<PGResult>> start_many(PGPool& pool, int count, const std::string& sql) {
    std::vector<Future<PGResult>> started;
    for (int i = 0; i < count; ++i) started.push_back(spawn(pool.query(sql)));
    return started;
}

Task<int> failures_among(std::vector<Future<PGResult>> outcomes) {
    int failed = 0;
    for (Future<PGResult>& outcome : outcomes) {
        try {
            co_await outcome;
        } catch (const std::exception&) {
            ++failed;
        }
    }
    co_return failed;
}

TEST_F(Task3_Pool, OneQueryOpensOneConnectionAndKeepsItForTheNext) {
    PGPool pool(dsn(), 4, 1000, loop);
    auto twice = [&]() -> Task<void> {
        PGResult first = co_await pool.query("SELECT pg_backend_pid()");
        PGResult second = co_await pool.query("SELECT pg_backend_pid()");
        EXPECT_EQ(first.text(0, 0), second.text(0, 0)) << "the second query opened another connection";
    };
    run(twice(), 10s, "two queries in turn");
    EXPECT_EQ(pool.open(), 1u);
    EXPECT_EQ(pool.idle(), 1u);
    EXPECT_EQ(sessions(), 1);
}

TEST_F(Task3_Pool, QueriesBeyondTheBoundWaitInLineAndAllAreServed) {
    PGPool pool(dsn(), 2, 1000, loop);
    std::vector<Future<PGResult>> outcomes = start_many(pool, 8, "SELECT pg_sleep(0.1)");
    int most_sessions = 0;
    bool checked = false;
    loop.call_later(150ms, [&] {
        EXPECT_EQ(pool.open(), 2u);
        EXPECT_GE(pool.waiting(), 1u) << "with 2 connections busy, the others must wait in line";
        checked = true;
    });
    auto started = IOLoop::time();
    EXPECT_EQ(run(failures_among(outcomes), 20s, "eight queries on a pool of two"), 0);
    auto took = IOLoop::time() - started;
    most_sessions = sessions();
    EXPECT_TRUE(checked);
    EXPECT_LE(most_sessions, 2) << "the pool opened more connections than its bound";
    EXPECT_EQ(pool.open(), 2u);
    EXPECT_EQ(pool.waiting(), 0u);
    // Eight sleeps of 0.1 s on two connections: four rounds.
    EXPECT_GE(took, 380ms);
    EXPECT_LT(took, 5s);
}

TEST_F(Task3_Pool, TheLineIsFirstComeFirstServed) {
    PGPool pool(dsn(), 1, 1000, loop);
    std::string order;
    auto numbered = [&](int number) -> Task<void> {
        PGParams params{std::to_string(number)};
        PGResult result = co_await pool.query("SELECT $1::text", std::move(params));
        order += result.text(0, 0);
    };
    // The first opens the only connection; the other four wait in line,
    // in the order they came.
    std::vector<Future<void>> queries;
    for (int number = 0; number < 5; ++number) queries.push_back(spawn(numbered(number)));
    auto all = [&]() -> Task<void> {
        for (Future<void>& query : queries) co_await query;
    };
    run(all(), 10s, "five queries on a pool of one");
    EXPECT_EQ(order, "01234") << "queries made in order 01234 were answered " << order
                              << ": a connection given back goes to the first in line";
}

TEST_F(Task3_Pool, AConnectionTheServerEndsWhileOthersWaitIsReplacedForTheFirst) {
    PGPool pool(dsn(), 1, 1000, loop);
    std::optional<Future<PGResult>> waiting;
    auto lose_it = [&]() -> Task<void> {
        {
            PooledConnection db = co_await pool.connection();
            waiting = spawn(pool.query("SELECT 'served'"));  // in line behind the lease
            sql().run("SELECT pg_terminate_backend(" + std::to_string(db->backend_pid()) + ", 5000)");
            std::exception_ptr lost = co_await failure_of(db->query("SELECT 1"));
            EXPECT_TRUE(holds<PGError>(lost)) << message_of(lost);
        }  // the broken connection goes back here, with a query in line
        EXPECT_EQ(pool.open(), 1u) << "the pool should be opening a new connection for the one in line";
        std::exception_ptr error = co_await failure_of(*waiting);
        EXPECT_FALSE(error) << "the query in line got the connection the server had ended: "
                            << message_of(error)
                            << " (give_back must close a connection that is not ok())";
    };
    run(lose_it(), 5s,
        "the query in line behind a connection the server ended (a broken connection given back "
        "must be closed and a new one opened for the first in line)");
    EXPECT_EQ(pool.open(), 1u);
    EXPECT_EQ(pool.waiting(), 0u);
}

TEST_F(Task3_Pool, AFailedQueryGivesItsConnectionBack) {
    PGPool pool(dsn(), 1, 1000, loop);
    auto fail_then_work = [&]() -> Task<void> {
        std::exception_ptr error = co_await failure_of(pool.query("SELEC 1"));
        EXPECT_EQ(sqlstate_of(error), "42601");
        PGResult after = co_await pool.query("SELECT 'served'");
        EXPECT_EQ(after.text(0, 0), "served") << "the failed query kept the only connection";
    };
    run(fail_then_work(), 10s, "a failed query, then one more on a pool of one");
    EXPECT_EQ(pool.idle(), 1u);
}

TEST_F(Task3_Pool, ALeaseKeepsOneSessionForAllItsQueriesAndGoesBackAtTheEnd) {
    PGPool pool(dsn(), 2, 1000, loop);
    auto page = [&]() -> Task<void> {
        {
            PooledConnection db = co_await pool.connection();
            EXPECT_EQ(pool.open(), 1u);
            EXPECT_EQ(pool.idle(), 0u) << "a lent connection must not be idle";
            // A temporary table lives only in the session that made it.
            co_await db->query("CREATE TEMPORARY TABLE scratch (n integer)");
            co_await db->query("INSERT INTO scratch VALUES (7)");
            PGResult seen = co_await db->query("SELECT n FROM scratch");
            EXPECT_EQ(seen.text(0, 0), "7");
            // Meanwhile the pool serves others on another connection.
            co_await pool.query("SELECT 1");
            EXPECT_EQ(pool.open(), 2u);
        }
        EXPECT_EQ(pool.idle(), 2u) << "the lease did not give its connection back";
    };
    run(page(), 10s, "a lease's three queries and one beside it");
}

TEST_F(Task3_Pool, ALeaseGoesBackWhenAnExceptionLeavesItsHolder) {
    PGPool pool(dsn(), 1, 1000, loop);
    std::optional<Future<PGResult>> next;
    auto fails = [&]() -> Task<void> {
        PooledConnection db = co_await pool.connection();
        next = spawn(pool.query("SELECT 'next'"));  // in line behind the lease
        co_await db->query("SELEC 1");
    };
    auto both = [&]() -> Task<void> {
        std::exception_ptr error = co_await failure_of(fails());
        EXPECT_EQ(sqlstate_of(error), "42601") << message_of(error);
        if (!next) {
            ADD_FAILURE() << "the lease was never given: " << message_of(error);
            co_return;
        }
        PGResult after = co_await *next;
        EXPECT_EQ(after.text(0, 0), "next") << "the lease kept the only connection";
    };
    run(both(), 10s, "a lease whose holder throws, and the query behind it");
    EXPECT_EQ(pool.idle(), 1u);
    EXPECT_EQ(pool.waiting(), 0u);
}

TEST_F(Task3_Pool, ALeaseWaitsInTheSameLineAndIsRefusedPastIt) {
    PGPool pool(dsn(), 1, 1, loop);
    auto hold = [&]() -> Task<void> {
        PooledConnection db = co_await pool.connection();
        co_await db->query("SELECT pg_sleep(0.1)");
    };
    auto three = [&]() -> Task<void> {
        Future<void> first = spawn(hold());
        Future<void> second = spawn(hold());  // waits in line
        std::exception_ptr third = co_await failure_of(pool.connection());
        EXPECT_TRUE(holds<PoolFullError>(third)) << "got: " << message_of(third);
        co_await first;
        co_await second;
    };
    run(three(), 10s, "three leases on a pool of one with a line of one");
    EXPECT_EQ(pool.idle(), 1u);
}

TEST_F(Task3_Pool, TheLineIsBoundedAndTheRestAreRefusedAtOnce) {
    PGPool pool(dsn(), 1, 2, loop);
    std::vector<Future<PGResult>> outcomes = start_many(pool, 5, "SELECT pg_sleep(0.1)");
    // One runs, two wait, two are refused without waiting.
    int refused = 0;
    int served = 0;
    auto count = [&]() -> Task<void> {
        for (Future<PGResult>& outcome : outcomes) {
            try {
                co_await outcome;
                ++served;
            } catch (const PoolFullError&) {
                ++refused;
            }
        }
    };
    run(count(), 10s, "five queries on a pool of one with a line of two");
    EXPECT_EQ(served, 3);
    EXPECT_EQ(refused, 2);
}

TEST_F(Task3_Pool, AConnectionTheServerEndedIsReplaced) {
    PGPool pool(dsn(), 1, 1000, loop);
    std::string first_pid(run(pool.query("SELECT pg_backend_pid()"), 10s, "the first query").text(0, 0));
    sql().run("SELECT pg_terminate_backend(" + first_pid + ", 5000)");
    auto after_the_loss = [&]() -> Task<std::string> {
        // The idle connection is dead. Whichever query meets it first fails
        // (or the pool sees it and opens a new one); the next one works.
        co_await failure_of(pool.query("SELECT 1"));
        PGResult result = co_await pool.query("SELECT pg_backend_pid()");
        co_return std::string(result.text(0, 0));
    };
    std::string second_pid = run(after_the_loss(), 10s, "two queries after the server ended the idle connection");
    EXPECT_NE(second_pid, first_pid);
    EXPECT_EQ(pool.open(), 1u) << "the dead connection still counts as open";
}

TEST_F(Task3_Pool, AServerThatIsDownFailsEveryQueryPromptly) {
    // Nothing listens on this port: every connect is refused at once.
    std::string down = "host=127.0.0.1 port=1 dbname=x connect_timeout=2";
    PGPool pool(down, 2, 1000, loop);
    std::vector<Future<PGResult>> outcomes = start_many(pool, 6, "SELECT 1");
    auto started = IOLoop::time();
    EXPECT_EQ(run(failures_among(outcomes), 10s, "six queries on a pool whose server is down"), 6)
        << "every query must fail, none wait for ever";
    EXPECT_LT(IOLoop::time() - started, 3s);
    EXPECT_EQ(pool.open(), 0u);
    EXPECT_EQ(pool.waiting(), 0u);
}

}  // namespace
}  // namespace course::testing
