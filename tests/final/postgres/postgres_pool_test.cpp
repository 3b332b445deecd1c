// Tests of tornado/postgres.h's pool against a real PostgreSQL server
// (postgres_test_util.h): the pipeline (many coroutines' queries on one
// connection, results in order, one failure aborting nothing else), the
// prepared-statement cache, growing and queueing, transactions, row
// streams that hold the server back rather than memory, LISTEN/NOTIFY, and
// timeouts that cancel on the server.
#include <gtest/gtest.h>

#include <algorithm>

#include "postgres_test_util.h"

namespace tornado::postgres::testing {
namespace {

PoolOptions one_connection(PoolOptions options) {
    options.max_connections = 1;
    return options;
}

// The server processes of `pool`'s connections that run a statement like
// `like` now (pg_stat_activity, seen from outside the pool). Only the
// pool's own: the tests beside this one share the server.
std::vector<std::string> running(Inspector& sql, const Pool& pool, const std::string& like) {
    std::string pids = "0";
    for (const ConnectionStatus& connection : pool.status().connections) {
        pids += "," + std::to_string(connection.server_pid);
    }
    return sql.column("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE '" +
                      like + "' AND pid IN (" + pids + ")");
}

// ---- the pipeline -------------------------------------------------------------

// A hundred coroutines' queries go out on one connection without waiting
// for each other, and each gets its own answer.
TEST_F(PostgresTest, ManyQueriesShareOneConnectionInOrder) {
    open(one_connection(options()));
    std::size_t in_flight_seen = 0;
    run([&]() -> Task<void> {
        std::vector<Future<Result>> queries;
        for (int i = 0; i < 100; ++i) queries.push_back(pool_->query("SELECT $1::int * 2", i));
        in_flight_seen = pool_->status().connections.at(0).in_flight;
        std::vector<Result> results = co_await multi(std::move(queries));
        for (int i = 0; i < 100; ++i) EXPECT_EQ(results[i][0].get<int>(0), 2 * i);
    });
    EXPECT_EQ(in_flight_seen, 100u);
    EXPECT_EQ(pool_->status().connections.size(), 1u);
}

// One Sync per query: a failure aborts only its own statement, not the
// ones pipelined after it (which would otherwise fail with "current
// transaction is aborted" or PGRES_PIPELINE_ABORTED).
TEST_F(PostgresTest, OneFailureInThePipelineAbortsNothingElse) {
    sql().run("CREATE TABLE log (n int)");
    open(one_connection(options()));
    run([&]() -> Task<void> {
        std::vector<Future<Result>> queries;
        for (int i = 0; i < 50; ++i) {
            queries.push_back(i % 5 == 2 ? pool_->query("INSERT INTO log VALUES (1 / ($1::int - $1::int))", i)
                                         : pool_->query("INSERT INTO log VALUES ($1) RETURNING n", i));
        }
        for (int i = 0; i < 50; ++i) {
            std::exception_ptr error = co_await failure_of(queries[i]);
            if (i % 5 == 2) {
                EXPECT_EQ(sqlstate_of(error), sqlstate::division_by_zero) << i;
            } else {
                EXPECT_FALSE(error) << i << ": " << message_of(error);
            }
        }
    });
    EXPECT_EQ(sql().value("SELECT count(*) FROM log"), "40");
}

// Over TCP the socket is read in batches: it is readable only once the
// bytes of a few answers wait (SO_RCVLOWAT; connection.cpp says how many
// are asked for). Here the answers still to come are slow: the statements
// after the head wait for a lock that the test frees only when it has the
// head's answer, which is smaller than the batch asked for. The mark's wait
// is bounded, so the head's answer is read all the same.
TEST_F(PostgresTest, AnAnswerIsReadWhileTheStatementsAfterItWaitForALock) {
    sql().run("CREATE TABLE counter (n int)");
    sql().run("INSERT INTO counter VALUES (0)");
    PoolOptions tcp = one_connection(options());
    tcp.dsn = tcp_dsn("127.0.0.1", "disable");
    open(tcp);
    PoolOptions holder_options = one_connection(options());
    std::shared_ptr<Pool> holder_pool =
        loop_.run_sync([holder_options]() { return Pool::connect(holder_options); }, 20s);
    run([&]() -> Task<void> {
        Transaction holder = co_await holder_pool->transaction();
        co_await holder.execute("UPDATE counter SET n = n + 1");  // the row's lock, held
        Future<Result> head = pool_->query("SELECT 1");
        std::vector<Future<Result>> waiting;
        for (int i = 0; i < 20; ++i) waiting.push_back(pool_->query("UPDATE counter SET n = n + 1"));
        Result first = co_await with_timeout(5s, head);
        EXPECT_EQ(first[0].get<int>(0), 1);
        for (const Future<Result>& update : waiting) EXPECT_FALSE(update.done());
        co_await holder.commit();
        for (Future<Result>& update : waiting) co_await update;
    });
    EXPECT_FALSE(pool_->status().connections.at(0).tls);
    EXPECT_EQ(sql().value("SELECT n FROM counter"), "21");
}

// Each statement is prepared once per connection; the cache keeps at most
// statement_cache of them, closing the least recently used.
TEST_F(PostgresTest, StatementsArePreparedOnceAndTheCacheIsBounded) {
    PoolOptions cached = one_connection(options());
    cached.statement_cache = 3;
    open(cached);
    run([&]() -> Task<void> {
        for (int round = 0; round < 3; ++round) co_await pool_->query("SELECT $1::int", round);
        Result prepared = co_await pool_->query(
            QueryOptions{std::nullopt, false}, "SELECT count(*) FROM pg_prepared_statements");
        EXPECT_EQ(prepared[0].get<int>(0), 1);  // three runs, one statement
        for (int i = 0; i < 6; ++i) co_await pool_->query("SELECT " + std::to_string(i));
        prepared = co_await pool_->query(QueryOptions{std::nullopt, false},
                                         "SELECT count(*) FROM pg_prepared_statements");
        EXPECT_EQ(prepared[0].get<int>(0), 3);
    });
    EXPECT_EQ(pool_->status().connections.at(0).prepared, 3u);
}

// A prepared statement whose table changed shape is prepared again, once,
// instead of failing with "cached plan must not change result type".
TEST_F(PostgresTest, AStatementMadeStaleBySchemaChangeIsPreparedAgain) {
    sql().run("CREATE TABLE shapes (a int)");
    sql().run("INSERT INTO shapes VALUES (1)");
    open(one_connection(options()));
    run([&]() -> Task<void> {
        Result before = co_await pool_->query("SELECT * FROM shapes");
        EXPECT_EQ(before.columns(), 1u);
        co_await pool_->execute("ALTER TABLE shapes ADD COLUMN b int DEFAULT 2");
        Result after = co_await pool_->query("SELECT * FROM shapes");
        EXPECT_EQ(after.columns(), 2u);
        EXPECT_EQ(after[0].get<int>("b"), 2);
    });
}

// A statement whose Parse failed: the queries that reused its prepared
// name while it was in flight get the Parse's error, not "does not exist".
TEST_F(PostgresTest, QueriesSharingAFailedPrepareGetItsError) {
    open(one_connection(options()));
    run([&]() -> Task<void> {
        std::vector<Future<Result>> queries;
        for (int i = 0; i < 3; ++i) queries.push_back(pool_->query("SELEC $1::int", i));
        for (auto& query : queries) {
            std::exception_ptr error = co_await failure_of(query);
            EXPECT_EQ(sqlstate_of(error), sqlstate::syntax_error) << message_of(error);
        }
        Result fine = co_await pool_->query("SELECT 1");
        EXPECT_EQ(fine.size(), 1u);
    });
}

// ---- the pool ----------------------------------------------------------------

// Connections are opened as the load needs them, up to max_connections.
// The load is eight queries that wait on an advisory lock the test holds,
// so it lasts until the pool has grown, however slowly a loaded machine
// opens connections.
TEST_F(PostgresTest, ThePoolGrowsWithTheLoadUpToItsBound) {
    PoolOptions growing = options();
    growing.max_connections = 4;
    growing.max_pipeline = 2;
    open(growing);
    EXPECT_EQ(pool_->status().connections.size(), 1u);
    const std::string lock_key = std::to_string(::getpid());  // the cluster is shared
    sql().run("SELECT pg_advisory_lock(" + lock_key + ")");
    auto all_ready = [&] {
        PoolStatus status = pool_->status();
        return status.connections.size() == 4 &&
               std::all_of(status.connections.begin(), status.connections.end(), [](const auto& c) {
                   return c.state == ConnectionStatus::State::ready;
               });
    };
    run([&]() -> Task<void> {
        std::vector<Future<Result>> held;
        for (int i = 0; i < 8; ++i) {
            held.push_back(pool_->query("SELECT pg_advisory_xact_lock_shared(" + lock_key + ")"));
        }
        auto deadline = IOLoop::Clock::now() + 20s;
        while (!all_ready() && IOLoop::Clock::now() < deadline) co_await tornado::sleep(10ms);
        co_await tornado::sleep(50ms);  // time for a fifth, were the bound not kept
        EXPECT_EQ(pool_->status().connections.size(), 4u);
        EXPECT_TRUE(all_ready());
        // Blocking, but the unlock waits on nothing of the pool's.
        sql().run("SELECT pg_advisory_unlock(" + lock_key + ")");
        co_await multi(std::move(held));
    });
    EXPECT_EQ(pool_->status().connections.size(), 4u);
    EXPECT_EQ(pool_->status().waiters, 0u);
}

// Beyond max_waiters a caller is refused at once; a waiter past
// wait_timeout gives up with PoolError.
TEST_F(PostgresTest, WaitersAreBoundedInNumberAndTime) {
    PoolOptions small = one_connection(options());
    small.max_pipeline = 1;
    small.max_waiters = 2;
    small.wait_timeout = 200ms;
    open(small);
    run([&]() -> Task<void> {
        // 2 s, ten times the wait_timeout: a loop held up longer than the
        // query (make test on a loaded machine once held it past 0.6 s)
        // finds the query's answer and the waiter's deadline due in the
        // same turn, and may hand the connection over first.
        Future<Result> busy = pool_->query("SELECT pg_sleep(2)");
        Future<Result> first = pool_->query("SELECT 1");
        Future<Result> second = pool_->query("SELECT 2");
        std::exception_ptr third = co_await failure_of(pool_->query("SELECT 3"));
        EXPECT_TRUE(holds<PoolError>(third)) << message_of(third);
        EXPECT_NE(message_of(third).find("max_waiters"), std::string::npos);
        EXPECT_EQ(pool_->status().waiters, 2u);
        std::exception_ptr timed_out = co_await failure_of(first);
        EXPECT_TRUE(holds<PoolError>(timed_out)) << message_of(timed_out);
        EXPECT_NE(message_of(timed_out).find("within 200 ms"), std::string::npos);
        co_await failure_of(second);
        co_await busy;
        Result later = co_await pool_->query("SELECT 4");
        EXPECT_EQ(later[0].get<int>(0), 4);
    });
}

// One timer serves a line of waiters, yet each waits the whole
// wait_timeout from the moment it came: a later waiter outlives an earlier
// one's deadline, and one served in time is not failed by it.
TEST_F(PostgresTest, EachWaiterWaitsItsOwnWaitTimeout) {
    PoolOptions small = one_connection(options());
    small.max_pipeline = 1;
    small.wait_timeout = 300ms;
    open(small);
    run([&]() -> Task<void> {
        Future<Result> busy = pool_->query("SELECT pg_sleep(0.8)");
        Future<Result> early = pool_->query("SELECT 1");
        co_await tornado::sleep(200ms);
        Future<Result> late = pool_->query("SELECT 2");
        std::exception_ptr early_error = co_await failure_of(early);  // at about 300 ms
        EXPECT_TRUE(holds<PoolError>(early_error)) << message_of(early_error);
        EXPECT_FALSE(late.done());  // its deadline is at about 500 ms
        EXPECT_EQ(pool_->status().waiters, 1u);
        std::exception_ptr late_error = co_await failure_of(late);
        EXPECT_TRUE(holds<PoolError>(late_error)) << message_of(late_error);
        co_await busy;
        // Served before its deadline: the line's timer, still set for it,
        // finds nobody to fail.
        Future<Result> quick = pool_->query("SELECT pg_sleep(0.1)");
        Future<Result> served = pool_->query("SELECT 3");
        EXPECT_EQ((co_await served)[0].get<int>(0), 3);
        co_await quick;
        co_await tornado::sleep(400ms);
        EXPECT_EQ((co_await pool_->query("SELECT 4"))[0].get<int>(0), 4);
        // Closed while that timer may still be set: it must not fire into
        // the closed pool.
        Future<Result> waiting = pool_->query("SELECT 5");
        pool_->close();
        co_await failure_of(waiting);
        co_await tornado::sleep(400ms);
    });
}

TEST_F(PostgresTest, AClosedPoolFailsWhatWasInFlightAndEverythingLater) {
    open(one_connection(options()));
    run([&]() -> Task<void> {
        Future<Result> slow = pool_->query("SELECT pg_sleep(5)");
        co_await tornado::sleep(50ms);
        pool_->close();
        std::exception_ptr in_flight = co_await failure_of(slow);
        EXPECT_TRUE(holds<ConnectionError>(in_flight)) << message_of(in_flight);
        std::exception_ptr later = co_await failure_of(pool_->query("SELECT 1"));
        EXPECT_TRUE(holds<ConnectionError>(later)) << message_of(later);
    });
}

// ---- transactions ----------------------------------------------------------------

TEST_F(PostgresTest, ACommittedTransactionKeepsItsWork) {
    sql().run("CREATE TABLE accounts (name text, balance int)");
    sql().run("INSERT INTO accounts VALUES ('ann', 100), ('bob', 0)");
    open();
    run([&]() -> Task<void> {
        Transaction transfer = co_await pool_->transaction();
        EXPECT_TRUE(transfer.active());
        co_await transfer.execute("UPDATE accounts SET balance = balance - $1 WHERE name = $2", 30, "ann");
        co_await transfer.execute("UPDATE accounts SET balance = balance + $1 WHERE name = $2", 30, "bob");
        co_await transfer.commit();
        EXPECT_FALSE(transfer.active());
    });
    EXPECT_EQ(sql().column("SELECT balance FROM accounts ORDER BY name"),
              (std::vector<std::string>{"70", "30"}));
}

TEST_F(PostgresTest, ATransactionDroppedOrRolledBackKeepsNothing) {
    sql().run("CREATE TABLE notes (text text)");
    open(one_connection(options()));
    run([&]() -> Task<void> {
        {
            Transaction forgotten = co_await pool_->transaction();
            co_await forgotten.execute("INSERT INTO notes VALUES ('dropped')");
        }  // no commit: rolled back, and the connection is the pool's again
        Transaction undone = co_await pool_->transaction();
        co_await undone.execute("INSERT INTO notes VALUES ('rolled back')");
        co_await undone.rollback();
        Result count = co_await pool_->query("SELECT count(*) FROM notes");
        EXPECT_EQ(count[0].get<int>(0), 0);
    });
    EXPECT_EQ(sql().value("SELECT count(*) FROM notes"), "0");
}

// A statement that fails ends the transaction at once: its own error comes
// out of that query, and later calls say what ended it.
TEST_F(PostgresTest, AFailedStatementRollsTheTransactionBack) {
    sql().run("CREATE TABLE ids (id int PRIMARY KEY)");
    open(one_connection(options()));
    run([&]() -> Task<void> {
        Transaction transaction = co_await pool_->transaction();
        co_await transaction.execute("INSERT INTO ids VALUES (1)");
        std::exception_ptr duplicate = co_await failure_of(transaction.execute("INSERT INTO ids VALUES (1)"));
        EXPECT_TRUE(holds<IntegrityError>(duplicate)) << message_of(duplicate);
        EXPECT_FALSE(transaction.active());
        std::exception_ptr later = co_await failure_of(transaction.query("SELECT 1"));
        EXPECT_TRUE(holds<UsageError>(later)) << message_of(later);
        EXPECT_NE(message_of(later).find("rolled back after a statement failed"), std::string::npos);
        EXPECT_NE(message_of(later).find("23505"), std::string::npos) << message_of(later);
        std::exception_ptr commit = co_await failure_of(transaction.commit());
        EXPECT_TRUE(holds<UsageError>(commit)) << message_of(commit);
        // The connection went back to the pool, outside any transaction.
        Result state = co_await pool_->query("SELECT count(*) FROM ids");
        EXPECT_EQ(state[0].get<int>(0), 0);
    });
}

TEST_F(PostgresTest, IsolationLevelAndReadOnlyAreChosenAtBegin) {
    open();
    run([&]() -> Task<void> {
        TransactionOptions serializable;
        serializable.isolation = Isolation::serializable;
        serializable.read_only = true;
        Transaction transaction = co_await pool_->transaction(serializable);
        Result level = co_await transaction.query("SHOW transaction_isolation");
        EXPECT_EQ(level[0].get<std::string>(0), "serializable");
        std::exception_ptr write = co_await failure_of(transaction.execute("CREATE TABLE t (x int)"));
        EXPECT_EQ(sqlstate_of(write), "25006") << message_of(write);  // read_only_sql_transaction
    });
}

// While a transaction holds the only connection, other queries wait for
// it (they would otherwise run inside it).
TEST_F(PostgresTest, ATransactionHoldsItsConnectionAlone) {
    sql().run("CREATE TABLE items (x int)");
    open(one_connection(options()));
    run([&]() -> Task<void> {
        Transaction transaction = co_await pool_->transaction();
        co_await transaction.execute("INSERT INTO items VALUES (1)");
        Future<Result> outside = pool_->query("SELECT count(*) FROM items");
        co_await tornado::sleep(100ms);
        EXPECT_FALSE(outside.done());
        EXPECT_EQ(pool_->status().waiters, 1u);
        co_await transaction.commit();
        Result seen = co_await outside;
        EXPECT_EQ(seen[0].get<int>(0), 1);  // it ran after the COMMIT
    });
}

// ---- row streams ---------------------------------------------------------------------

TEST_F(PostgresTest, AStreamGivesEveryRowInOrder) {
    open();
    run([&]() -> Task<void> {
        RowStream rows = co_await pool_->stream("SELECT n FROM generate_series(1, $1::int) n", 20000);
        std::int64_t expected = 1;
        while (std::optional<Row> row = co_await rows.next()) {
            EXPECT_EQ(row->get<std::int64_t>(0), expected);
            ++expected;
        }
        EXPECT_EQ(expected, 20001);
        EXPECT_FALSE(co_await rows.next());  // and stays ended
        Result after = co_await pool_->query("SELECT 1");
        EXPECT_EQ(after.size(), 1u);
    });
}

// A reader that stops reading holds back the server (its process waits to
// write: ClientWrite), not this process's memory.
TEST_F(PostgresTest, ASlowReaderHoldsBackTheServerNotMemory) {
    open();
    run([&]() -> Task<void> {
        RowStream rows = co_await pool_->stream(
            "SELECT repeat('x', 1000) FROM generate_series(1, 1000000)");
        std::optional<Row> first = co_await rows.next();
        EXPECT_TRUE(first.has_value());
        co_await tornado::sleep(300ms);  // the reader is busy elsewhere
        // Looked at while the stream is still open (the look blocks the
        // loop for a moment: nothing else runs on it here).
        int server_pid = pool_->status().connections.at(0).server_pid;
        std::string waiting = sql().value("SELECT wait_event FROM pg_stat_activity WHERE pid = " +
                                          std::to_string(server_pid));
        EXPECT_EQ(waiting, "ClientWrite");
    });
}

// A stream dropped before its end: the statement is cancelled on the
// server and the connection serves the next query.
TEST_F(PostgresTest, ADroppedStreamIsCancelledAndItsConnectionReused) {
    open(one_connection(options()));
    run([&]() -> Task<void> {
        {
            RowStream rows = co_await pool_->stream(
                "SELECT repeat('x', 1000) FROM generate_series(1, 1000000)");
            co_await rows.next();
        }
        Result after = co_await pool_->query("SELECT 42");
        EXPECT_EQ(after[0].get<int>(0), 42);
    });
    EXPECT_TRUE(running(sql(), *pool_, "%generate_series%").empty());
    EXPECT_EQ(pool_->status().connections.size(), 1u);
}

TEST_F(PostgresTest, AStreamThatFailsSaysWhyAtTheRowItReaches) {
    open();
    run([&]() -> Task<void> {
        RowStream rows = co_await pool_->stream("SELECT 10 / (3 - n) FROM generate_series(1, 5) n");
        std::exception_ptr error;
        int read = 0;
        try {
            while (co_await rows.next()) ++read;
        } catch (...) {
            error = std::current_exception();
        }
        EXPECT_EQ(read, 2);
        EXPECT_EQ(sqlstate_of(error), sqlstate::division_by_zero) << message_of(error);
    });
}

// ---- LISTEN and NOTIFY -------------------------------------------------------------------

// Channels are named after the test's schema: the tests beside this one
// (this same test among them, in the io_uring run) share the server, and a
// notification goes to every session that listens on its channel.
TEST_F(PostgresTest, AListenerReceivesNotificationsInOrder) {
    open();
    run([&]() -> Task<void> {
        std::string news = schema_ + "_news";
        std::string odd = schema_ + " chat \"room\" 1";
        std::vector<std::string> channels{news, odd};
        std::unique_ptr<Listener> listener = co_await pool_->listen(channels);
        EXPECT_TRUE(listener->listening());
        co_await pool_->notify(news, "first");
        co_await pool_->notify(odd, "second");
        co_await pool_->notify(schema_ + "_elsewhere", "not for us");
        co_await pool_->notify(news, "third");
        Notification first = co_await listener->next();
        EXPECT_EQ(first.channel, news);
        EXPECT_EQ(first.payload, "first");
        EXPECT_GT(first.sender_pid, 0);
        Notification second = co_await listener->next();
        EXPECT_EQ(second.channel, odd);
        EXPECT_EQ(second.payload, "second");
        Notification third = co_await listener->next();
        EXPECT_EQ(third.payload, "third");
        Future<Notification> waiting = listener->next();
        EXPECT_THROW(listener->next(), UsageError);
        waiting.cancel();
    });
}

// Its connection killed on the server, a Listener connects again, listens
// again, and says so in reconnects().
TEST_F(PostgresTest, AListenerListensAgainAfterItsConnectionIsLost) {
    PoolOptions quick = options();
    quick.reconnect_delay = 20ms;
    open(quick);
    run([&]() -> Task<void> {
        std::string events = schema_ + "_events";
        std::vector<std::string> channels{events};
        std::unique_ptr<Listener> listener = co_await pool_->listen(channels);
        co_await pool_->notify(events, "before");
        Notification before = co_await listener->next();
        EXPECT_EQ(before.payload, "before");
        co_await pool_->query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE query = $1",
                              "LISTEN " + quote_identifier(events));
        for (int i = 0; i < 200 && listener->reconnects() == 0; ++i) co_await tornado::sleep(10ms);
        for (int i = 0; i < 200 && !listener->listening(); ++i) co_await tornado::sleep(10ms);
        EXPECT_EQ(listener->reconnects(), 1u);
        EXPECT_TRUE(listener->listening());
        co_await pool_->notify(events, "after");
        Notification after = co_await listener->next();
        EXPECT_EQ(after.payload, "after");
    });
}

// ---- timeouts ------------------------------------------------------------------------------

// A query past its timeout fails with QueryTimeout, is cancelled on the
// server (gone from pg_stat_activity), and the connection serves on: a
// query pipelined behind it is not hit by the cancel.
TEST_F(PostgresTest, ATimedOutQueryIsCancelledOnTheServer) {
    open(one_connection(options()));
    run([&]() -> Task<void> {
        QueryOptions quick;
        quick.timeout = 200ms;
        auto started = IOLoop::time();
        Future<Result> slow = pool_->query(quick, "SELECT pg_sleep(30)");
        Future<Result> behind = pool_->query("SELECT 7");
        std::exception_ptr error = co_await failure_of(slow);
        EXPECT_TRUE(holds<QueryTimeout>(error)) << message_of(error);
        EXPECT_NE(message_of(error).find("longer than 200 ms"), std::string::npos);
        EXPECT_LT(IOLoop::time() - started, 5s);
        Result seven = co_await behind;
        EXPECT_EQ(seven[0].get<int>(0), 7);
        Result again = co_await pool_->query("SELECT 8");
        EXPECT_EQ(again[0].get<int>(0), 8);
    });
    EXPECT_TRUE(running(sql(), *pool_, "%pg_sleep(30)%").empty());
    EXPECT_EQ(pool_->status().connections.size(), 1u);
    EXPECT_EQ(pool_->status().lost, 0u);
    EXPECT_FALSE(pool_->status().connections.at(0).draining);
}

// A query timing out behind another waits for its turn to be cancelled:
// the one before it runs to its end.
TEST_F(PostgresTest, AQueryTimedOutBehindAnotherIsCancelledOnlyWhenItRuns) {
    open(one_connection(options()));
    run([&]() -> Task<void> {
        QueryOptions quick;
        quick.timeout = 100ms;
        Future<Result> first = pool_->query("SELECT pg_sleep(0.4), 1 AS done");
        Future<Result> second = pool_->query(quick, "SELECT pg_sleep(30)");
        std::exception_ptr error = co_await failure_of(second);
        EXPECT_TRUE(holds<QueryTimeout>(error)) << message_of(error);
        Result finished = co_await first;
        EXPECT_EQ(finished[0].get<int>("done"), 1);
        Result after = co_await pool_->query("SELECT 2");
        EXPECT_EQ(after[0].get<int>(0), 2);
    });
    EXPECT_TRUE(running(sql(), *pool_, "%pg_sleep(30)%").empty());
}

// A cancel request can be lost: the server drops one that reaches it
// between two statements, and a statement can swallow one (here a
// PL/pgSQL handler for query_canceled stands for the first case, which
// no test can time). The request is sent again while the statement runs,
// so it ends long before the connection would be given up
// (connect_timeout, 10 s), and the query behind it is answered.
TEST_F(PostgresTest, ACancelThatDidNotStopTheStatementIsSentAgain) {
    open(one_connection(options()));
    run([&]() -> Task<void> {
        QueryOptions quick;
        quick.timeout = 100ms;
        const char* swallows_one_cancel =
            "DO $$BEGIN PERFORM pg_sleep(30); "
            "EXCEPTION WHEN query_canceled THEN PERFORM pg_sleep(30); END$$";
        auto started = IOLoop::time();
        std::exception_ptr error = co_await failure_of(pool_->query(quick, swallows_one_cancel));
        EXPECT_TRUE(holds<QueryTimeout>(error)) << message_of(error);
        Result after = co_await pool_->query("SELECT 2");
        EXPECT_EQ(after[0].get<int>(0), 2);
        EXPECT_LT(IOLoop::time() - started, 3s);
    });
    EXPECT_TRUE(running(sql(), *pool_, "%pg_sleep(30)%").empty());
    EXPECT_EQ(pool_->status().lost, 0u);
}

// Statements pipelined on one connection behind one that times out, all
// waiting on a table locked past their deadlines: each caller hears
// QueryTimeout, whichever statement the server was running when a cancel
// landed. A cancel meant for one statement may end the one after it, even
// in its Parse (which waits for the table's lock too), and then the
// statements sent to run that prepared statement find it missing
// (SQLSTATE 26000): neither the server's 57014, "canceling statement due
// to user request", nor that may reach a caller. Three ways they come:
// all at once, a few milliseconds apart, and each sent the moment the one
// before it failed (as the requests of a pipelining HTTP client do).
TEST_F(PostgresTest, EveryStatementPastItsDeadlineFailsWithQueryTimeout) {
    PoolOptions bounded = one_connection(options());
    bounded.query_timeout = 150ms;
    open(bounded);
    sql().run("CREATE TABLE locked (n int)");
    sql().run("BEGIN");
    sql().run("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");
    const std::string waits = "SELECT count(*) + $1::int FROM locked";
    run([&]() -> Task<void> {
        std::vector<std::exception_ptr> errors;
        std::vector<Future<Result>> together;
        for (int i = 0; i < 5; ++i) together.push_back(pool_->query(waits, i));
        for (Future<Result>& statement : together) errors.push_back(co_await failure_of(statement));
        std::vector<Future<Result>> staggered;
        for (int i = 0; i < 5; ++i) {
            staggered.push_back(pool_->query(waits, i));
            co_await tornado::sleep(std::chrono::milliseconds(7 * i));
        }
        for (Future<Result>& statement : staggered) errors.push_back(co_await failure_of(statement));
        for (int i = 0; i < 5; ++i) errors.push_back(co_await failure_of(pool_->query(waits, i)));
        for (std::size_t i = 0; i < errors.size(); ++i) {
            EXPECT_TRUE(holds<QueryTimeout>(errors[i]))
                << "statement " << i << ": " << message_of(errors[i]);
        }
        sql().run("COMMIT");
        Result after = co_await pool_->query(waits, 9);
        EXPECT_EQ(after[0].get<std::int64_t>(0), 9);
    });
    EXPECT_EQ(pool_->status().lost, 0u);
}

TEST_F(PostgresTest, ThePoolsQueryTimeoutAppliesWhenACallGivesNone) {
    PoolOptions bounded = options();
    bounded.query_timeout = 150ms;
    open(bounded);
    run([&]() -> Task<void> {
        std::exception_ptr error = co_await failure_of(pool_->query("SELECT pg_sleep(30)"));
        EXPECT_TRUE(holds<QueryTimeout>(error)) << message_of(error);
        QueryOptions patient;
        patient.timeout = 0ms;  // none
        Result result = co_await pool_->query(patient, "SELECT pg_sleep(0.3), 3");
        EXPECT_EQ(result[0].get<int>(1), 3);
    });
}

}  // namespace
}  // namespace tornado::postgres::testing
