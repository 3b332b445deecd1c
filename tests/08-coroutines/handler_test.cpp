// handler_test.cpp: coroutine handlers on chapter 06's Application (task
// 5). The server, the handlers and the test's client (chapter 07's
// AsyncHTTPClient, used with callbacks only) all run on the test's loop.
// Every test also checks that nothing is left behind: no coroutine frame,
// no handler object, no open request.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "coroutine_fixture.h"
#include "coroutine_handler.h"
#include "future.h"
#include "gen.h"
#include "httpclient.h"
#include "multi.h"
#include "task.h"
#include "test_client.h"
#include "web.h"

namespace course::testing {
namespace {

// Counts live handler objects: a handler kept alive by a coroutine that
// never ended (or by a cycle) shows up here.
class CountedHandler : public CoroutineRequestHandler {
public:
    CountedHandler() { ++live; }
    ~CountedHandler() override { --live; }
    static inline int live = 0;
};

int ms_argument(const RequestHandler& handler) {
    return std::stoi(handler.get_argument("ms", "0"));
}

class SleepHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        int ms = ms_argument(*this);
        co_await sleep(std::chrono::milliseconds(ms));
        write("slept " + std::to_string(ms));
    }
};

class ThrowingHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await sleep(5ms);
        throw TrackedError("the task failed after its sleep");
    }
    void write_error(int status_code, const std::exception* error) override {
        finish("custom " + std::to_string(status_code) + ": " +
               (error != nullptr ? error->what() : "no exception"));
    }
};

class ThrowsBeforeAwaitingHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        throw std::runtime_error("failed before any co_await");
        co_return;
    }
};

class NotFoundLaterHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await sleep(5ms);
        throw HTTPError(404, "looked, found nothing");
    }
};

class FinishesItselfHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        finish("finished early");
        co_await sleep(20ms);  // goes on after the response; must not finish() twice
    }
};

class ThrowsANonStandardExceptionHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await sleep(5ms);
        reached_the_throw = true;
        throw 42;  // not a std::exception
    }
    static inline bool reached_the_throw = false;
};

// Its Task ends normally, but the finish() that drive() then calls throws:
// a 204 cannot have a body.
class BodyWithA204Handler : public CountedHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await sleep(1ms);
        set_status(204);
        write("a body that a 204 cannot have");
    }
};

class PathArgsHandler : public CountedHandler {
public:
    Task<void> get_async(PathArgs args) override {
        co_await sleep(1ms);
        write("story " + args.at(0));  // the copy in the frame, after a suspension
    }
};

class FetchingHandler : public CountedHandler {
public:
    void initialize(const std::string& base_url) { base_url_ = base_url; }
    Task<void> get_async(PathArgs) override {
        AsyncHTTPClient client;
        HTTPResponse response = co_await client.fetch(base_url_ + "/sleep?ms=10");
        write("fetched: " + response.body);
    }

private:
    std::string base_url_;
};

class HelloHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
};

class Task5_CoroutineHandler : public CoroutineTest {
protected:
    void SetUp() override {
        CoroutineTest::SetUp();
        HTTPServer& server = app.listen(0, "127.0.0.1", loop);
        port = server.port();
        base_url = "http://127.0.0.1:" + std::to_string(port);
    }

    void TearDown() override {
        run_until([this] { return CountedHandler::live == 0 && frames_alive() == 0; }, 2s);
        EXPECT_EQ(CountedHandler::live, 0) << "a handler object outlived its request";
        EXPECT_EQ(app.open_handlers(), 0U) << "a request was never finished";
        CoroutineTest::TearDown();
    }

    Future<HTTPResponse> fetch(const std::string& path, const std::string& method = "GET") {
        HTTPRequest request{.url = base_url + path, .method = method};
        if (method == "POST") request.body = "x";
        return client.fetch(request, /*raise_error=*/false);
    }

    // Fetches `path` and waits; also says how long it took.
    HTTPResponse fetch_and_wait(const std::string& path, double* took_ms = nullptr) {
        auto started = IOLoop::time();
        Future<HTTPResponse> fetched = wait(fetch(path));
        if (took_ms != nullptr) *took_ms = ms_since(started);
        return fetched.result();
    }

    std::uint16_t port = 0;
    std::string base_url;
    Application app{{
        {"/", handler<HelloHandler>()},
        {"/sleep", handler<SleepHandler>()},
        {"/throw", handler<ThrowingHandler>()},
        {"/throw-at-once", handler<ThrowsBeforeAwaitingHandler>()},
        {"/not-found-later", handler<NotFoundLaterHandler>()},
        {"/finishes-itself", handler<FinishesItselfHandler>()},
        {"/throw-int", handler<ThrowsANonStandardExceptionHandler>()},
        {"/body-with-204", handler<BodyWithA204Handler>()},
        {"/story/([0-9]+)", handler<PathArgsHandler>()},
        {"/fetch", handler<FetchingHandler>(std::cref(base_url))},
    }};
    AsyncHTTPClient client{loop};
};

TEST_F(Task5_CoroutineHandler, TheRequestFinishesWhenTheTaskEnds) {
    double took_ms = 0;
    HTTPResponse response = fetch_and_wait("/sleep?ms=50", &took_ms);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "slept 50");
    EXPECT_GE(took_ms, 50.0);
}

TEST_F(Task5_CoroutineHandler, TheLoopServesOthersDuringTheAwait) {
    Future<HTTPResponse> slow = fetch("/sleep?ms=400");
    Future<HTTPResponse> hello = fetch("/");
    wait(hello);
    EXPECT_EQ(hello.result().body, "Hello, world");
    EXPECT_FALSE(slow.done()) << "the quick request waited for the sleeping one";
    EXPECT_EQ(wait(slow).result().body, "slept 400");
}

TEST_F(Task5_CoroutineHandler, ConcurrentRequestsSleepAtTheSameTime) {
    auto started = IOLoop::time();
    std::vector<Future<HTTPResponse>> requests;
    for (int i = 0; i < 5; ++i) requests.push_back(fetch("/sleep?ms=200"));
    Future<std::vector<HTTPResponse>> all = wait(multi(requests));
    for (const HTTPResponse& response : all.result()) EXPECT_EQ(response.body, "slept 200");
    EXPECT_LT(ms_since(started), 700.0) << "five 200 ms sleeps should overlap";
}

TEST_F(Task5_CoroutineHandler, AnExceptionInTheTaskIsA500ThroughWriteError) {
    HTTPResponse response = fetch_and_wait("/throw");
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.body, "custom 500: the task failed after its sleep");
}

TEST_F(Task5_CoroutineHandler, AnExceptionBeforeTheFirstAwait) {
    HTTPResponse response = fetch_and_wait("/throw-at-once");
    EXPECT_EQ(response.code, 500);
    EXPECT_NE(response.body.find("500: Internal Server Error"), std::string::npos) << response.body;
}

TEST_F(Task5_CoroutineHandler, AnHTTPErrorGivesItsStatus) {
    HTTPResponse response = fetch_and_wait("/not-found-later");
    EXPECT_EQ(response.code, 404);
    EXPECT_NE(response.body.find("404: Not Found"), std::string::npos) << response.body;
}

TEST_F(Task5_CoroutineHandler, AMethodNotWrittenIs405) {
    Future<HTTPResponse> response = wait(fetch("/sleep", "POST"));
    EXPECT_EQ(response.result().code, 405);
}

TEST_F(Task5_CoroutineHandler, ATaskThatFinishesTheRequestItself) {
    HTTPResponse response = fetch_and_wait("/finishes-itself");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "finished early");
}

// The mistake this catches: finishing a request a second time (after the
// Task finished it itself, or after the error page). finish() throws then,
// and what is logged says so.
TEST_F(Task5_CoroutineHandler, NoRequestIsFinishedTwice) {
    ::testing::internal::CaptureStderr();
    HTTPResponse itself = fetch_and_wait("/finishes-itself");
    HTTPResponse not_found = fetch_and_wait("/not-found-later");
    HTTPResponse slept = fetch_and_wait("/sleep?ms=1");
    run_until([] { return CountedHandler::live == 0; }, 1s);  // the first Task's last sleep
    std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(itself.body, "finished early");
    EXPECT_EQ(not_found.code, 404);
    EXPECT_EQ(slept.body, "slept 1");
    for (const char* sign : {"twice", "Uncaught exception", "nobody awaited"}) {
        EXPECT_EQ(logged.find(sign), std::string::npos) << "logged:\n" << logged;
    }
}

// The mistake this catches: catching std::exception only. Anything else a
// Task throws must give a 500 too, not leave the request open.
TEST_F(Task5_CoroutineHandler, AnExceptionOfAnyTypeIsA500) {
    HTTPResponse response = fetch_and_wait("/throw-int");
    EXPECT_TRUE(ThrowsANonStandardExceptionHandler::reached_the_throw) << "the Task never ran";
    EXPECT_EQ(response.code, 500);
    EXPECT_NE(response.body.find("500: Internal Server Error"), std::string::npos) << response.body;
}

// The mistake this catches: calling finish() after the try that awaits the
// Task, outside it. finish() can throw too (here: a body with a 204), and
// as in chapter 06's execute() and Tornado's _execute that is an error of
// the request, answered with a 500. Outside the try it escapes the driver
// (logged as "nobody awaited") and the request stays open for ever.
TEST_F(Task5_CoroutineHandler, AnErrorInTheLastFinishIsA500) {
    Future<HTTPResponse> fetched = fetch("/body-with-204");
    ASSERT_TRUE(run_until([&] { return fetched.done(); }))
        << "no answer: the finish() that ends the request threw, and nothing answered with the "
           "error page (finish inside the try, so that its error goes to fail())";
    EXPECT_EQ(fetched.result().code, 500);
}

TEST_F(Task5_CoroutineHandler, PathArgumentsSurviveTheSuspension) {
    EXPECT_EQ(fetch_and_wait("/story/42").body, "story 42");
}

TEST_F(Task5_CoroutineHandler, AwaitsAFetch) {
    HTTPResponse response = fetch_and_wait("/fetch");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "fetched: slept 10");
}

TEST_F(Task5_CoroutineHandler, NothingLeftBehindAfterRequestsAndErrors) {
    for (const char* path : {"/sleep?ms=1", "/throw", "/throw-at-once", "/not-found-later"}) {
        fetch_and_wait(path);
    }
    EXPECT_TRUE(run_until([this] { return CountedHandler::live == 0; }, 1s));
    EXPECT_EQ(frames_alive(), 0);
    EXPECT_EQ(TrackedError::live.load(), 0);
    EXPECT_EQ(app.open_handlers(), 0U);
}

TEST_F(Task5_CoroutineHandler, NothingLeftBehindWhenTheClientLeavesMidAwait) {
    {
        TestClient leaver(port);
        leaver.send("GET /sleep?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n");
        EXPECT_TRUE(run_until([] { return CountedHandler::live == 1; }, 2s));
    }  // closed while the handler sleeps
    EXPECT_EQ(frames_alive(), 2) << "the handler's driver and its Task, still sleeping";
    EXPECT_TRUE(run_until([] { return CountedHandler::live == 0; }, 2s));
    EXPECT_EQ(frames_alive(), 0);
}

}  // namespace
}  // namespace course::testing
