// pipeline_test.cpp: PGPipeline, many queries in flight on one connection
// (task 4, the extension): answers in order, one failure isolated, the
// queries sent without waiting, a large query, a lost session failing
// every query in flight, and the pipeline kept alive by its queries.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "database_fixture.h"
#include "pg_pipeline.h"

namespace course::testing {
namespace {

class Task4_Pipeline : public DatabaseTest {};

TEST_F(Task4_Pipeline, ManyQueriesOnOneConnectionAnswerInOrder) {
    auto many = [&]() -> Task<void> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        std::vector<Future<PGResult>> answers;
        for (int i = 0; i < 200; ++i) {
            PGParams params{std::to_string(i)};
            answers.push_back(db->query("SELECT $1::integer * 2", std::move(params)));
        }
        for (int i = 0; i < 200; ++i) {
            std::exception_ptr error = co_await failure_of(answers[i]);
            if (error) {
                ADD_FAILURE() << "answer " << i << " failed: " << message_of(error)
                              << " (a query's answer is its rows, a null, then PGRES_PIPELINE_SYNC)";
                co_return;
            }
            EXPECT_EQ(answers[i].result().text(0, 0), std::to_string(i * 2))
                << "answer " << i << " out of order";
        }
    };
    run(many(), 20s, "200 queries on one pipeline");
    EXPECT_TRUE(sessions_become(0));
}

TEST_F(Task4_Pipeline, TheLoopSleepsWhileThePipelineIsIdleAndWhileItWaits) {
    std::uint64_t idle_turns = 0;
    std::uint64_t waiting_turns = 0;
    auto quiet = [&]() -> Task<void> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        co_await db->query("SELECT 1");  // sent and answered: nothing is queued now
        std::uint64_t before = loop.turns();
        co_await sleep(300ms);
        idle_turns = loop.turns() - before;
        before = loop.turns();
        co_await db->query("SELECT pg_sleep(0.3)");
        waiting_turns = loop.turns() - before;
    };
    run(quiet(), 10s, "a pipeline's query, then 300 ms idle, then a 0.3 s query");
    // A handler that watches READ wakes the loop when bytes come: a few
    // turns. One that still watches WRITE with nothing queued runs on every
    // turn, and the loop spins: hundreds of thousands of turns in 300 ms.
    EXPECT_LT(idle_turns, 100u) << "the loop spun while the pipeline was idle: " << idle_turns
                                << " turns in 300 ms; watch WRITE only while PQflush says output "
                                   "is queued";
    EXPECT_LT(waiting_turns, 100u) << "the loop spun while a query was in flight: " << waiting_turns
                                   << " turns in 300 ms; watch WRITE only while PQflush says "
                                      "output is queued";
}

TEST_F(Task4_Pipeline, QueriesAreSentWithoutWaitingForTheAnswersBeforeThem) {
    auto sent = [&]() -> Task<void> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        Future<PGResult> slow = db->query("SELECT pg_sleep(0.2)");
        Future<PGResult> a = db->query("SELECT 1");
        Future<PGResult> b = db->query("SELECT 2");
        // query() returned three times without a single answer in.
        EXPECT_EQ(db->in_flight(), 3u);
        EXPECT_FALSE(slow.done());
        PGResult last = co_await b;
        EXPECT_EQ(last.text(0, 0), "2");
        EXPECT_TRUE(slow.done()) << "a later answer came before an earlier one";
        EXPECT_TRUE(a.done());
        EXPECT_EQ(db->in_flight(), 0u);
    };
    run(sent(), 10s, "three queries sent at once, the first slow");
}

TEST_F(Task4_Pipeline, AFailedQueryFailsAloneAndTheOthersRun) {
    auto mixed = [&]() -> Task<void> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        Future<PGResult> before = db->query("SELECT 'before'");
        Future<PGResult> broken = db->query("SELEC 1");
        Future<PGResult> after = db->query("SELECT 'after'");
        EXPECT_EQ((co_await before).text(0, 0), "before");
        std::exception_ptr error = co_await failure_of(broken);
        EXPECT_EQ(sqlstate_of(error), "42601") << message_of(error);
        PGResult last = co_await after;
        EXPECT_EQ(last.text(0, 0), "after") << "one Sync per query: a failure must not abort the next";
    };
    run(mixed(), 10s, "a good query, a bad one and a good one");
}

TEST_F(Task4_Pipeline, AQueryLargerThanTheSocketBufferIsSentWholeAndTheNextOneToo) {
    auto big = [&]() -> Task<void> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        std::string text(8 << 20, 'y');
        PGParams params{text};
        Future<PGResult> length = db->query("SELECT length($1::text)", std::move(params));
        Future<PGResult> next = db->query("SELECT 'next'");
        EXPECT_EQ((co_await length).text(0, 0), std::to_string(text.size()));
        EXPECT_EQ((co_await next).text(0, 0), "next");
    };
    run(big(), 20s, "an 8 MiB query and the next one");
}

TEST_F(Task4_Pipeline, ALostSessionFailsEveryQueryInFlightAndAfter) {
    auto lost = [&]() -> Task<void> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        PGResult pid = co_await db->query("SELECT pg_backend_pid()");
        std::vector<Future<PGResult>> waiting;
        for (int i = 0; i < 5; ++i) waiting.push_back(db->query("SELECT pg_sleep(5)"));
        co_await sleep(50ms);
        sql().run("SELECT pg_terminate_backend(" + std::string(pid.text(0, 0)) + ", 5000)");
        auto started = IOLoop::time();
        for (Future<PGResult>& query : waiting) {
            std::exception_ptr error = co_await failure_of(query);
            EXPECT_TRUE(holds<PGError>(error)) << message_of(error);
        }
        EXPECT_LT(IOLoop::time() - started, 2s) << "the queries in flight waited for their sleeps";
        std::exception_ptr later = co_await failure_of(db->query("SELECT 1"));
        EXPECT_TRUE(holds<PGError>(later)) << message_of(later);
    };
    run(lost(), 10s, "five queries on a session the server ends");
}

TEST_F(Task4_Pipeline, TheQueriesInFlightKeepThePipelineAlive) {
    auto dropped = [&]() -> Task<Future<PGResult>> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        co_return db->query("SELECT pg_sleep(0.05), 'answered'");  // `db` goes here
    };
    Future<PGResult> answer = run(dropped(), 10s, "the pipeline's connect");
    EXPECT_TRUE(run_until([&] { return answer.done(); }, 5s))
        << "nothing kept the pipeline alive while its query was in flight";
    if (answer.done()) {
        EXPECT_EQ(answer.result().text(0, 1), "answered");
    }
    EXPECT_TRUE(sessions_become(0)) << "the pipeline outlived its last query";
}

}  // namespace
}  // namespace course::testing
