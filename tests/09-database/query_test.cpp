// query_test.cpp: PGConnection::query (task 2): parameters apart from the
// SQL, NULL, the server's errors with their SQLSTATE and a connection that
// stays usable, a query larger than the socket's buffer, a loop that
// serves others while the server works, and a session the server ended.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "database_fixture.h"
#include "pg.h"

namespace course::testing {
namespace {

class Task2_Query : public DatabaseTest {
protected:
    // Runs `body` with a fresh connection to this test's schema.
    void with_connection(std::function<Task<void>(std::shared_ptr<PGConnection>)> body) {
        auto connected = [&]() -> Task<void> {
            std::shared_ptr<PGConnection> db = co_await PGConnection::connect(dsn());
            co_await body(db);
        };
        run(connected(), 20s, "the connect and the test's queries");
    }
};

TEST_F(Task2_Query, RowsAndColumnsWithParameters) {
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        PGParams params{"2", "three"};
        PGResult result = co_await db->query(
            "SELECT n, $2::text AS word FROM generate_series(1, $1::integer) AS n", std::move(params));
        EXPECT_EQ(result.rows(), 2);
        EXPECT_EQ(result.columns(), 2);
        EXPECT_EQ(result.text(0, "n"), "1");
        EXPECT_EQ(result.text(1, "n"), "2");
        EXPECT_EQ(result.text(1, "word"), "three");
    });
}

TEST_F(Task2_Query, NullIsAnEmptyOptional) {
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        PGParams params{std::nullopt};
        PGResult result = co_await db->query("SELECT $1::text IS NULL, $1::text", std::move(params));
        EXPECT_EQ(result.text(0, 0), "t");
        EXPECT_FALSE(result.get(0, 1).has_value());
    });
}

TEST_F(Task2_Query, AParameterIsNeverReadAsSQL) {
    sql().run("CREATE TABLE " + schema_ + ".notes (body text)");
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        std::string hostile = "x'); DROP TABLE notes; --";
        PGParams params{hostile};
        PGResult inserted = co_await db->query("INSERT INTO notes VALUES ($1)", std::move(params));
        EXPECT_EQ(inserted.affected(), 1);
        PGResult back = co_await db->query("SELECT body FROM notes");
        EXPECT_EQ(back.text(0, 0), hostile);
    });
}

TEST_F(Task2_Query, ASyntaxErrorIsAPGErrorWithItsSqlstateAndTheConnectionGoesOn) {
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        std::exception_ptr error = co_await failure_of(db->query("SELEC 1"));
        EXPECT_EQ(sqlstate_of(error), "42601") << message_of(error);
        EXPECT_NE(message_of(error).find("syntax error"), std::string::npos);
        EXPECT_TRUE(db->ok()) << "a failed statement leaves the connection usable";
        PGResult after = co_await db->query("SELECT 'still here'");
        EXPECT_EQ(after.text(0, 0), "still here");
    });
}

TEST_F(Task2_Query, AUniqueViolationCanBeToldFromOtherErrors) {
    sql().run("CREATE TABLE " + schema_ + ".users (name text PRIMARY KEY)");
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        PGParams first{"ada"};
        co_await db->query("INSERT INTO users VALUES ($1)", std::move(first));
        PGParams again{"ada"};
        std::exception_ptr error = co_await failure_of(db->query("INSERT INTO users VALUES ($1)", std::move(again)));
        EXPECT_EQ(sqlstate_of(error), "23505") << message_of(error);
    });
}

TEST_F(Task2_Query, AQueryLargerThanTheSocketBufferIsSentWhole) {
    // 8 MiB is far more than a socket's send buffer: PQflush says "more
    // queued" many times, and the rest goes when the socket is writable.
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        std::string big(8 << 20, 'x');
        PGParams params{big};
        PGResult result = co_await db->query("SELECT length($1::text)", std::move(params));
        EXPECT_EQ(result.text(0, 0), std::to_string(big.size()));
    });
}

TEST_F(Task2_Query, TheLoopServesOthersWhileTheServerWorks) {
    int ticks = 0;
    std::function<void()> tick = [&] {
        ++ticks;
        loop.call_later(10ms, tick);
    };
    loop.call_later(10ms, tick);
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        co_await db->query("SELECT pg_sleep(0.3)");
    });
    EXPECT_GE(ticks, 15) << "the loop was blocked while PostgreSQL slept";
}

TEST_F(Task2_Query, TheLoopSleepsWhileItWaitsForTheAnswer) {
    std::uint64_t turns = 0;
    with_connection([this, &turns](std::shared_ptr<PGConnection> db) -> Task<void> {
        std::uint64_t before = loop.turns();
        co_await db->query("SELECT pg_sleep(0.3)");
        turns = loop.turns() - before;
    });
    // A wait for READ wakes the loop when the answer comes: a few turns. A
    // wait that also asks for WRITE returns at once on a socket with room
    // to send, again and again: tens of thousands of turns in 300 ms.
    EXPECT_LT(turns, 100u) << "the loop spun while the query waited for its answer: " << turns
                           << " turns in 300 ms; wait for READ alone, and for WRITE only while "
                              "PQflush says output is queued";
}

TEST_F(Task2_Query, AQueryOutlivesTheDeadlineOfTheConnect) {
    // connect's deadline belongs to the handshake: a query that is still
    // waiting when it comes must not be touched by it.
    auto connect_then_query = [&]() -> Task<void> {
        std::shared_ptr<PGConnection> db = co_await PGConnection::connect(dsn(), 300ms);
        PGResult slept = co_await db->query("SELECT pg_sleep(0.5), 'answered'");
        EXPECT_EQ(slept.text(0, 1), "answered");
    };
    run(connect_then_query(), 5s,
        "a 0.5 s query on a connection made with a 300 ms connect deadline (was the deadline's "
        "timer left behind when the handshake ended?)");
}

TEST_F(Task2_Query, ASecondQueryWhileOneRunsIsRefused) {
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        Future<PGResult> first = spawn(db->query("SELECT pg_sleep(0.1)"));
        std::exception_ptr second = co_await failure_of(db->query("SELECT 1"));
        EXPECT_TRUE(holds<std::logic_error>(second)) << message_of(second);
        co_await first;
        PGResult after = co_await db->query("SELECT 2");
        EXPECT_EQ(after.text(0, 0), "2");
    });
}

TEST_F(Task2_Query, ASessionTheServerEndedFailsClearlyAndIsNoLongerOk) {
    with_connection([this](std::shared_ptr<PGConnection> db) -> Task<void> {
        // Its second argument: wait (up to 5 s) until the session is gone.
        sql().run("SELECT pg_terminate_backend(" + std::to_string(db->backend_pid()) + ", 5000)");
        std::exception_ptr error = co_await failure_of(db->query("SELECT 1"));
        EXPECT_TRUE(holds<PGError>(error)) << message_of(error);
        EXPECT_FALSE(db->ok());
    });
}

TEST_F(Task2_Query, AQueryKeepsItsConnectionAliveWhenTheCallerLetsGo) {
    // The caller starts a query and drops its only handle to the
    // connection: the query must still end, and the connection go after it.
    auto started = [&]() -> Task<Future<PGResult>> {
        std::shared_ptr<PGConnection> db = co_await PGConnection::connect(dsn());
        Future<PGResult> answer = spawn(db->query("SELECT pg_sleep(0.05), 'answered'"));
        co_return answer;  // `db` goes here, with the query in flight
    };
    Future<PGResult> answer = run(started(), 10s, "the connect");
    EXPECT_TRUE(run_until([&] { return answer.done(); }, 5s))
        << "the query never ended: nothing kept its connection alive";
    if (answer.done()) {
        EXPECT_EQ(answer.result().text(0, 1), "answered");
    }
    EXPECT_TRUE(sessions_become(0));
}

TEST_F(Task2_Query, TheConnectionIsReleasedWhenTheLastHolderLetsGo) {
    with_connection([](std::shared_ptr<PGConnection> db) -> Task<void> {
        co_await db->query("SELECT 1");
    });
    EXPECT_TRUE(sessions_become(0)) << "the session outlived the last shared_ptr to its connection";
}

}  // namespace
}  // namespace course::testing
