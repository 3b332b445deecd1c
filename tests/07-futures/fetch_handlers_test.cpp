// fetch_handlers_test.cpp: the demo's handlers (fetch_handlers.h) on
// chapter 06's Application, with the server, the handlers' own client and
// the test's client all on the test's loop. The point of the chapter in
// one test: two fetches waited for with multi() take about one delay.
// Graded with task 4 (Task4_FetchHandlers), as the client they fetch with.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "fetch_handlers.h"
#include "future_fixture.h"
#include "httpclient.h"
#include "socket.h"
#include "web.h"

namespace course::testing {
namespace {

std::string unused_port_url() {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    return "http://127.0.0.1:" + std::to_string(local_port(listener.get()));
}

class Task4_FetchHandlers : public LoopTest {
protected:
    void SetUp() override {
        HTTPServer& server = app.listen(0, "127.0.0.1", loop);
        base_url = "http://127.0.0.1:" + std::to_string(server.port());
    }

    // Fetches `path` from the app; the Future, done, and how long it took.
    Future<HTTPResponse> timed_fetch(const std::string& path, IOLoop::Clock::duration& took) {
        auto started = IOLoop::time();
        auto fetched = wait(client.fetch(base_url + path, /*raise_error=*/false), 10s);
        took = IOLoop::time() - started;
        return fetched;
    }

    std::string base_url;                       // set once listening
    std::string dead_url = unused_port_url();   // nothing listens there
    Application app{{
        {"/", handler<HelloWorldHandler>()},
        {"/slow", handler<SlowReplyHandler>()},
        {"/parallel", handler<ParallelFetchHandler>(std::cref(base_url))},
        {"/sequential", handler<SequentialFetchHandler>(std::cref(base_url))},
        {"/parallel-to-nowhere", handler<ParallelFetchHandler>(std::cref(dead_url))},
    }};
    AsyncHTTPClient client{loop};
};

TEST_F(Task4_FetchHandlers, HelloWorld) {
    IOLoop::Clock::duration took{};
    auto fetched = timed_fetch("/", took);
    EXPECT_EQ(fetched.result().code, 200);
    EXPECT_EQ(fetched.result().body, "Hello, world");
}

TEST_F(Task4_FetchHandlers, SlowAnswersAfterItsDelay) {
    IOLoop::Clock::duration took{};
    auto fetched = timed_fetch("/slow?ms=200", took);
    EXPECT_EQ(fetched.result().body, "slow reply after 200 ms");
    EXPECT_GE(took, 200ms);
}

TEST_F(Task4_FetchHandlers, ParallelFetchesTakeAboutOneDelay) {
    IOLoop::Clock::duration took{};
    auto fetched = timed_fetch("/parallel?ms=400", took);
    const HTTPResponse& response = fetched.result();
    ASSERT_EQ(response.code, 200) << response.body;
    EXPECT_NE(response.body.find("2 fetches in parallel"), std::string::npos) << response.body;
    EXPECT_NE(response.body.find("fetch 1: 200 \"slow reply after 400 ms\""), std::string::npos)
        << response.body;
    EXPECT_NE(response.body.find("fetch 2: 200 \"slow reply after 400 ms\""), std::string::npos)
        << response.body;
    EXPECT_GE(took, 400ms);
    EXPECT_LT(took, 700ms) << "two 400 ms fetches in parallel should take about 400 ms, not 800";
}

TEST_F(Task4_FetchHandlers, SequentialFetchesTakeTwoDelays) {
    IOLoop::Clock::duration took{};
    auto fetched = timed_fetch("/sequential?ms=300", took);
    ASSERT_EQ(fetched.result().code, 200) << fetched.result().body;
    EXPECT_NE(fetched.result().body.find("one after the other"), std::string::npos);
    EXPECT_GE(took, 600ms) << "the second fetch starts when the first has finished";
}

TEST_F(Task4_FetchHandlers, TheLoopServesOthersWhileTheFetchesWait) {
    auto slow = client.fetch(base_url + "/parallel?ms=500");
    IOLoop::Clock::duration took{};
    auto hello = timed_fetch("/", took);
    EXPECT_EQ(hello.result().body, "Hello, world");
    EXPECT_FALSE(slow.done());
    EXPECT_LT(took, 300ms) << "a handler waiting for Futures must not hold up the loop";
    wait(slow);
}

TEST_F(Task4_FetchHandlers, AFailedFetchBecomesA502AndTheRequestStillFinishes) {
    StderrCapture captured;
    IOLoop::Clock::duration took{};
    auto fetched = timed_fetch("/parallel-to-nowhere?ms=0", took);
    run_one_turn();
    std::string logged = captured.text();
    EXPECT_EQ(fetched.result().code, 502);
    EXPECT_NE(logged.find("Connection refused"), std::string::npos) << logged;
    EXPECT_EQ(app.open_handlers(), 0u) << "the handler must finish() even when a fetch fails";
}

TEST_F(Task4_FetchHandlers, ABadDelayIsA400) {
    StderrCapture captured;
    IOLoop::Clock::duration took{};
    auto fetched = timed_fetch("/parallel?ms=forever", took);
    captured.text();
    EXPECT_EQ(fetched.result().code, 400);
}

}  // namespace
}  // namespace course::testing
