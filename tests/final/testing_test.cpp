// Tests for tornado/testing.h: the fixtures themselves. AsyncTestCase's
// loop, run_sync and its timeout, get_async_test_timeout; AsyncHTTPTestCase
// with a tiny application: fetch, get_url, the server options, and a
// TearDown that leaves nothing open behind it.
#include "tornado/testing.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "net_test_util.h"
#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"

namespace {

using namespace std::chrono_literals;
using tornado::app_log;
using tornado::Future;
using tornado::gen_log;
using tornado::HTTPConnection;
using tornado::HTTPHeaders;
using tornado::HTTPMessageDelegate;
using tornado::HTTPRequest;
using tornado::HTTPResponse;
using tornado::HTTPServerConnectionDelegate;
using tornado::IOLoop;
using tornado::LogLevel;
using tornado::testing::ExpectLog;
using tornado::Task;

using tornado::testing::ScopedEnv;

// A tiny application: answers "METHOD path body"; /status/N answers with
// code N; /hang never answers.
class EchoApp final : public HTTPServerConnectionDelegate {
public:
    std::unique_ptr<HTTPMessageDelegate> start_request(tornado::HTTPServerConnection*,
                                                       std::shared_ptr<HTTPConnection> connection) override {
        ++requests;
        return std::make_unique<Echo>(std::move(connection));
    }
    int requests = 0;

private:
    class Echo final : public HTTPMessageDelegate {
    public:
        explicit Echo(std::shared_ptr<HTTPConnection> connection) : connection_(std::move(connection)) {}
        Future<void> headers_received(tornado::StartLine start_line, HTTPHeaders) override {
            const auto& line = std::get<tornado::RequestStartLine>(start_line);
            method_ = line.method;
            path_ = line.path;
            return Future<void>(nullptr);
        }
        Future<void> data_received(std::string chunk) override {
            body_ += chunk;
            return Future<void>(nullptr);
        }
        void finish() override {
            if (path_ == "/hang") return;
            int code = path_.starts_with("/status/") ? std::stoi(path_.substr(8)) : 200;
            std::string body = method_ + " " + path_ + " " + body_;
            HTTPHeaders headers{{"Content-Length", std::to_string(body.size())}};
            connection_->write_headers(tornado::ResponseStartLine{"HTTP/1.1", code, ""}, headers, body);
            connection_->finish();
        }

    private:
        std::shared_ptr<HTTPConnection> connection_;
        std::string method_, path_, body_;
    };
};

// --- AsyncTestCase ------------------------------------------------------------------------------

class TestingLoop : public tornado::testing::AsyncTestCase {};

// ExpectLog: the expected line is swallowed and counted, every other one
// (another message, another logger) reaches the handler that was there.
TEST(TestingExpectLog, SwallowsTheExpectedLinesAndPassesTheOthersOn) {
    tornado::testing::LogCapture capture;
    {
        ExpectLog expected(gen_log, "^Connection reset");
        gen_log.warning("Connection reset by peer");
        gen_log.warning("something else");
        app_log.warning("Connection reset, on another logger");
        EXPECT_EQ(expected.matched(), 1);
    }
    gen_log.warning("Connection reset after the end");
    EXPECT_TRUE(capture.matching("by peer").empty());
    EXPECT_EQ(capture.matching("something else").size(), 1u);
    EXPECT_EQ(capture.matching("on another logger").size(), 1u);
    EXPECT_EQ(capture.matching("after the end").size(), 1u);
}

TEST(TestingExpectLog, FailsTheTestWhenTheLineNeverCame) {
    EXPECT_NONFATAL_FAILURE({ ExpectLog expected(app_log, "never logged"); },
                            "did not get the expected log line: tornado.application /never logged/");
    ExpectLog optional(app_log, "never logged", /*required=*/false);
}

// Given a level, only lines of that level match, and a logger too quiet
// for it lets it through while the ExpectLog lives.
TEST(TestingExpectLog, ALevelMatchesOnlyThatLevelAndIsLetThrough) {
    tornado::testing::LogCapture capture;
    ASSERT_FALSE(gen_log.enabled(LogLevel::debug));
    {
        ExpectLog expected(gen_log, "detail", true, LogLevel::debug);
        gen_log.debug("a detail");
        gen_log.info("a detail, at info");
        EXPECT_EQ(expected.matched(), 1);
    }
    EXPECT_FALSE(gen_log.enabled(LogLevel::debug));
    EXPECT_TRUE(capture.matching("a detail").size() == 1u);  // the info line
}

TEST_F(TestingLoop, TheLoopIsCurrentOnTheTestThread) {
    EXPECT_EQ(&IOLoop::current(), &io_loop());
    EXPECT_FALSE(io_loop().is_running());
}

TEST_F(TestingLoop, RunSyncRunsACoroutine) {
    int n = run_sync([]() -> Task<int> {
        co_await tornado::sleep(10ms);
        co_return 42;
    });
    EXPECT_EQ(n, 42);
    EXPECT_EQ(run_sync([] { return 7; }), 7);  // a plain function too
}

TEST_F(TestingLoop, RunSyncRethrows) {
    auto failing = []() -> Task<void> {
        co_await tornado::moment;
        throw std::runtime_error("boom");
    };
    EXPECT_THROW(run_sync(failing), std::runtime_error);
}

TEST_F(TestingLoop, RunSyncTimesOutInsteadOfHanging) {
    Future<void> never;
    auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(run_sync([never] { return never; }, 100ms), tornado::TimeoutError);
    double took = tornado::testing::seconds_since(started);
    EXPECT_GE(took, 0.08);
    EXPECT_LT(took, 2.0);

    // The default timeout comes from ASYNC_TEST_TIMEOUT.
    ScopedEnv short_timeout("ASYNC_TEST_TIMEOUT", "0.1");
    started = std::chrono::steady_clock::now();
    EXPECT_THROW(run_sync([]() -> Task<void> { co_await tornado::sleep(30s); }), tornado::TimeoutError);
    EXPECT_LT(tornado::testing::seconds_since(started), 2.0);
}

TEST(TestingTimeout, FiveSecondsOrTheEnvironment) {
    using tornado::testing::get_async_test_timeout;
    {
        ScopedEnv unset("ASYNC_TEST_TIMEOUT", "");
        ::unsetenv("ASYNC_TEST_TIMEOUT");
        EXPECT_EQ(get_async_test_timeout(), std::chrono::seconds(5));
    }
    for (auto [text, expected] : std::vector<std::pair<const char*, IOLoop::Clock::duration>>{
             {"0.5", 500ms}, {"30", 30s}, {"0", IOLoop::Clock::duration::zero()},
             {"abc", 5s}, {"", 5s}, {"-1", 5s}, {"2x", 5s}}) {
        ScopedEnv set("ASYNC_TEST_TIMEOUT", text);
        EXPECT_EQ(get_async_test_timeout(), expected) << "'" << text << "'";
    }
}

// A fixture used by hand, to look at what SetUp and TearDown do.
class Probe : public tornado::testing::AsyncTestCase {
public:
    void TestBody() override {}
    using AsyncTestCase::io_loop;
    using AsyncTestCase::SetUp;
    using AsyncTestCase::TearDown;
};

struct SetOnDestruction {
    bool* flag;
    ~SetOnDestruction() { *flag = true; }
};

Task<void> wait_forever(Future<void> never, bool* unwound) {
    SetOnDestruction guard{unwound};
    co_await never;
}

TEST(TestingFixture, EachTestHasItsOwnLoopAndTearDownUnwindsWhatWaits) {
    bool unwound = false;
    {
        Probe first;
        first.SetUp();
        {
            Probe second;
            second.SetUp();
            EXPECT_NE(&first.io_loop(), &second.io_loop());
            EXPECT_EQ(&IOLoop::current(), &second.io_loop());
            second.TearDown();
        }
        EXPECT_EQ(&IOLoop::current(), &first.io_loop());

        Future<void> never;
        wait_forever(never, &unwound).detach();  // suspended on a Future nobody resolves
        EXPECT_FALSE(unwound);
        first.TearDown();
        EXPECT_TRUE(unwound);  // cancelled and unwound: no frame outlives the test
        EXPECT_THROW(first.io_loop().start(), std::logic_error);  // closed
    }
}

// --- AsyncHTTPTestCase ----------------------------------------------------------------------------

class TestingEchoApp : public tornado::testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        app_ = std::make_shared<EchoApp>();
        return app_;
    }
    std::shared_ptr<EchoApp> app_;
};

TEST_F(TestingEchoApp, FetchesAGet) {
    HTTPResponse response = fetch("/hello?x=1");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "GET /hello?x=1 ");
    EXPECT_EQ(response.effective_url, get_url("/hello?x=1"));
    EXPECT_EQ(app_->requests, 1);
}

TEST_F(TestingEchoApp, FetchesAPost) {
    HTTPRequest options;
    options.method = "POST";
    options.body = "a=1&b=2";
    HTTPResponse response = fetch("/form", options);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "POST /form a=1&b=2");
}

TEST_F(TestingEchoApp, GetUrlNamesTheServer) {
    EXPECT_NE(get_http_port(), 0);
    EXPECT_EQ(http_server().port(), get_http_port());
    EXPECT_EQ(get_protocol(), "http");
    EXPECT_EQ(get_url("/x"), "http://127.0.0.1:" + std::to_string(get_http_port()) + "/x");
}

TEST_F(TestingEchoApp, AnAbsoluteURLIsFetchedAsItIs) {
    EXPECT_EQ(fetch(get_url("/absolute")).body, "GET /absolute ");
    EXPECT_EQ(fetch("HTTP://127.0.0.1:" + std::to_string(get_http_port()) + "/upper").body, "GET /upper ");
}

TEST_F(TestingEchoApp, ErrorsAreResponsesNotExceptions) {
    HTTPResponse response = fetch("/status/404");
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body, "GET /status/404 ");
    EXPECT_THROW(response.rethrow(), tornado::HTTPClientError);

    // raise_error, when asked for.
    EXPECT_THROW(fetch("/status/500", {}, /*raise_error=*/true), tornado::HTTPClientError);
}

TEST_F(TestingEchoApp, AFetchThatHangsFailsAfterTheTimeout) {
    ScopedEnv short_timeout("ASYNC_TEST_TIMEOUT", "0.2");
    auto started = std::chrono::steady_clock::now();
    EXPECT_THROW(fetch("/hang"), tornado::TimeoutError);
    EXPECT_LT(tornado::testing::seconds_since(started), 2.0);
    // The fixture goes on working after it.
    EXPECT_EQ(fetch("/after").body, "GET /after ");
}

TEST_F(TestingEchoApp, TheClientIsTheFixtures) {
    std::string body = run_sync([this]() -> Task<std::string> {
        HTTPResponse response = co_await http_client().fetch(get_url("/coroutine"));
        co_return response.body;
    });
    EXPECT_EQ(body, "GET /coroutine ");
}

class TestingOptions : public tornado::testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override { return std::make_shared<EchoApp>(); }
    tornado::HTTPServerOptions get_httpserver_options() override {
        tornado::HTTPServerOptions options;
        options.server_header = "Probe/1";
        options.max_body_size = 10;
        return options;
    }
    std::unique_ptr<tornado::AsyncHTTPClient> get_http_client() override {
        tornado::AsyncHTTPClientOptions options;
        options.max_clients = 1;
        return std::make_unique<tornado::AsyncHTTPClient>(options);
    }
};

TEST_F(TestingOptions, TheServerAndClientUseTheFixturesOptions) {
    HTTPResponse response = fetch("/");
    EXPECT_EQ(response.headers.get("Server"), "Probe/1");
    HTTPRequest big;
    big.method = "POST";
    big.body = std::string(100, 'x');
    EXPECT_EQ(fetch("/", big).code, 413);

    Future<HTTPResponse> first = http_client().fetch(get_url("/1"));
    Future<HTTPResponse> second = http_client().fetch(get_url("/2"));
    EXPECT_EQ(http_client().queued_count(), 1u);  // max_clients = 1
    run_sync([&] { return tornado::multi(std::vector<Future<HTTPResponse>>{first, second}); });
}

// TearDown closes the server, its connections, the client and the loop,
// even with a request left hanging: no descriptor stays open.
class TestingTearDown : public tornado::testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        app_ = std::make_shared<EchoApp>();
        return app_;
    }
    void TearDown() override {
        AsyncHTTPTestCase::TearDown();
        EXPECT_LE(tornado::testing::open_descriptor_count(), descriptors_before_);
        EXPECT_TRUE(hanging_.done());
        EXPECT_TRUE(unwound_);
    }

    int descriptors_before_ = tornado::testing::open_descriptor_count();
    std::shared_ptr<EchoApp> app_;
    Future<HTTPResponse> hanging_{nullptr};
    bool unwound_ = false;
};

TEST_F(TestingTearDown, LeavesNothingOpen) {
    hanging_ = http_client().fetch(get_url("/hang"), false);
    ASSERT_TRUE(tornado::testing::run_until(io_loop(), [&] { return app_->requests == 1; }));
    EXPECT_EQ(http_server().connection_count(), 1u);
    EXPECT_GT(tornado::testing::open_descriptor_count(), descriptors_before_);
    Future<void> never;
    wait_forever(never, &unwound_).detach();
}

}  // namespace
