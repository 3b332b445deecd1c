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
            PGResult result = co_await answers[i];
            EXPECT_EQ(result.text(0, 0), std::to_string(i * 2)) << "answer " << i << " out of order";
        }
    };
    run(many(), 20s);
    EXPECT_TRUE(sessions_become(0));
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
    run(sent(), 10s);
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
    run(mixed(), 10s);
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
    run(big(), 20s);
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
    run(lost(), 10s);
}

TEST_F(Task4_Pipeline, TheQueriesInFlightKeepThePipelineAlive) {
    auto dropped = [&]() -> Task<Future<PGResult>> {
        std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn());
        co_return db->query("SELECT pg_sleep(0.05), 'answered'");  // `db` goes here
    };
    Future<PGResult> answer = run(dropped(), 10s);
    EXPECT_TRUE(run_until([&] { return answer.done(); }, 5s))
        << "nothing kept the pipeline alive while its query was in flight";
    if (answer.done()) {
        EXPECT_EQ(answer.result().text(0, 1), "answered");
    }
    EXPECT_TRUE(sessions_become(0)) << "the pipeline outlived its last query";
}

}  // namespace
}  // namespace course::testing
