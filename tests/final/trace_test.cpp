// Tests for the loop's tracer (tornado/trace.h, IOLoop::start_tracing):
// the file it writes is parsed and held to the rules of Chrome's
// trace-event format (every "b" has its "e", complete events start in
// order and nest within their thread, counters and names are there); a
// traced HTTP request, coroutine and executor job show up where they
// should; the ring keeps its bound and says what it dropped; SIGUSR2,
// close() and TORNADO_TRACE write the file; tracing off writes nothing.
#include "tornado/trace.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using tornado::Future;
using tornado::HTTPConnection;
using tornado::HTTPHeaders;
using tornado::HTTPMessageDelegate;
using tornado::HTTPServerConnectionDelegate;
using tornado::IOLoop;
using tornado::Task;
using tornado::TraceOptions;

using tornado::Application;
using tornado::URLSpec;
using tornado::WebSocketHandler;
using tornado::WebSocketMessage;

// A file of the test's own in the temporary folder, removed at the end.
class TraceFilePath {
public:
    TraceFilePath() {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        path_ = ::testing::TempDir() + "trace_test_" + std::to_string(::getpid()) + "_" +
                test->test_suite_name() + "_" + test->name() + ".json";
        std::remove(path_.c_str());
    }
    ~TraceFilePath() { std::remove(path_.c_str()); }
    const std::string& str() const { return path_; }
    bool exists() const { return ::access(path_.c_str(), F_OK) == 0; }

private:
    std::string path_;
};

Json read_trace(const std::string& path) {
    std::string text = tornado::testing::read_file(path);
    EXPECT_FALSE(text.empty()) << "no trace written to " << path;
    return Json::parse(text);
}

// A "ts" or "dur" in whole nanoseconds: the file has three decimals of a
// microsecond, so this is exact, and sums of them compare exactly.
std::int64_t nanoseconds(const Json& microseconds) {
    return std::llround(microseconds.get<double>() * 1000.0);
}

// The event's kind.
std::string phase(const Json& event) { return event.at("ph").get<std::string>(); }

// The events of phase `ph` (and name `name`, if given).
std::vector<Json> events_of(const Json& trace, const std::string& ph,
                            const std::string& name = "") {
    std::vector<Json> found;
    for (const Json& event : trace.at("traceEvents")) {
        if (phase(event) == ph && (name.empty() || event.at("name") == name))
            found.push_back(event);
    }
    return found;
}

// The rules of the format every file must keep (Chrome's "Trace Event
// Format" document): the top-level fields; a pid and a tid on each event;
// within a thread, complete events in the order they start and properly
// nested (a child inside its parent's [ts, ts + dur]); every "b" ended by
// an "e" of the same cat and id, and no "e" without its "b".
void expect_well_formed(const Json& trace) {
    ASSERT_TRUE(trace.at("traceEvents").is_array());
    EXPECT_EQ(trace.at("displayTimeUnit"), "ms");
    ASSERT_TRUE(trace.at("otherData").at("dropped_events").is_number_integer());

    std::map<int, std::vector<std::pair<std::int64_t, std::int64_t>>> open_slices;  // tid → stack
    std::map<int, std::int64_t> last_start;                                         // tid → ts
    std::map<std::pair<std::string, std::string>, int> open_spans;  // (cat, id) → how many
    for (const Json& event : trace.at("traceEvents")) {
        ASSERT_TRUE(event.contains("pid") && event.contains("tid")) << event.dump();
        std::string ph = phase(event);
        if (ph == "M") continue;
        ASSERT_TRUE(event.at("ts").is_number()) << event.dump();
        int tid = event.at("tid").get<int>();
        std::int64_t start = nanoseconds(event.at("ts"));
        if (ph == "X") {
            std::int64_t end = start + nanoseconds(event.at("dur"));
            EXPECT_LE(last_start[tid], start) << "out of order: " << event.dump();
            last_start[tid] = start;
            auto& stack = open_slices[tid];
            while (!stack.empty() && stack.back().second <= start) stack.pop_back();
            if (!stack.empty()) {
                EXPECT_LE(end, stack.back().second) << "overlaps its parent: " << event.dump();
            }
            stack.emplace_back(start, end);
        } else if (ph == "b" || ph == "e") {
            auto key = std::make_pair(event.at("cat").get<std::string>(),
                                      event.at("id").get<std::string>());
            if (ph == "b") {
                ++open_spans[key];
            } else {
                ASSERT_GT(open_spans[key], 0) << "an end without its beginning: " << event.dump();
                --open_spans[key];
            }
        }
    }
    for (const auto& [key, count] : open_spans) {
        EXPECT_EQ(count, 0) << "a span never ended: " << key.first << " " << key.second;
    }
}

bool has_event_named(const Json& trace, const std::string& ph, const std::string& prefix) {
    for (const Json& event : events_of(trace, ph)) {
        if (event.at("name").get<std::string>().starts_with(prefix)) return true;
    }
    return false;
}

// --- off ------------------------------------------------------------------------------

TEST(Tracing, OffByDefaultWritesNothing) {
    TraceFilePath path;
    {
        IOLoop loop;
        EXPECT_FALSE(loop.is_tracing());
        EXPECT_FALSE(loop.write_trace());
        loop.stop_tracing();  // no effect
        int answer = loop.run_sync([]() -> Task<int> {
            co_await tornado::sleep(1ms);
            co_return 42;
        });
        EXPECT_EQ(answer, 42);
    }
    EXPECT_FALSE(path.exists());
    EXPECT_FALSE(tornado::detail::tracing_anywhere());
}

// --- the loop ----------------------------------------------------------------------------

// Turns with their waits, callbacks and timeouts, the counters, and the names.
TEST(Tracing, TheLoopsTurnsCallbacksAndCountersFollowTheFormat) {
    TraceFilePath path;
    IOLoop loop;
    loop.start_tracing(path.str());
    EXPECT_TRUE(loop.is_tracing());
    EXPECT_TRUE(tornado::detail::tracing_anywhere());
    loop.run_sync([&loop]() -> Task<void> {
        loop.add_callback([] {});
        loop.call_later(1ms, [] {});
        co_await tornado::sleep(5ms);
    });
    loop.stop_tracing();
    EXPECT_FALSE(loop.is_tracing());
    EXPECT_FALSE(tornado::detail::tracing_anywhere());

    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    EXPECT_FALSE(events_of(trace, "X", "turn").empty());
    EXPECT_FALSE(events_of(trace, "X", "poll").empty());
    EXPECT_TRUE(has_event_named(trace, "X", "callback trace_test.cpp:"));
    EXPECT_TRUE(has_event_named(trace, "X", "timeout "));
    EXPECT_FALSE(events_of(trace, "C", "queued callbacks").empty());
    EXPECT_FALSE(events_of(trace, "C", "open descriptors").empty());
    EXPECT_FALSE(events_of(trace, "M", "process_name").empty());
    ASSERT_FALSE(events_of(trace, "M", "thread_name").empty());
    EXPECT_TRUE(events_of(trace, "M", "thread_name")[0]
                    .at("args")
                    .at("name")
                    .get<std::string>()
                    .starts_with("IOLoop ("));
    EXPECT_EQ(trace.at("otherData").at("dropped_events"), 0);

    // A turn's wait and callbacks lie inside it (expect_well_formed checked
    // the nesting): here, each poll starts within some turn.
    std::vector<Json> turns = events_of(trace, "X", "turn");
    for (const Json& poll : events_of(trace, "X", "poll")) {
        std::int64_t start = nanoseconds(poll.at("ts"));
        bool inside = std::any_of(turns.begin(), turns.end(), [&](const Json& turn) {
            std::int64_t turn_start = nanoseconds(turn.at("ts"));
            return turn_start <= start && start <= turn_start + nanoseconds(turn.at("dur"));
        });
        EXPECT_TRUE(inside) << poll.dump();
    }
}

// A coroutine is a span from its creation to its end, with a "running"
// span inside it for each stretch between suspensions.
Task<int> sleep_twice() {
    co_await tornado::sleep(1ms);
    co_await tornado::sleep(1ms);
    co_return 7;
}

TEST(Tracing, ACoroutineIsASpanWithItsRunningStretchesInside) {
    TraceFilePath path;
    IOLoop loop;
    loop.start_tracing(path.str());
    EXPECT_EQ(loop.run_sync([] { return sleep_twice(); }), 7);
    loop.stop_tracing();

    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    const Json* begin = nullptr;
    for (const Json& event : trace.at("traceEvents")) {
        if (phase(event) == "b" && event.at("cat") == "task" &&
            event.at("name").get<std::string>().find("sleep_twice") != std::string::npos) {
            begin = &event;
        }
    }
    ASSERT_NE(begin, nullptr) << "no span for sleep_twice";
    EXPECT_TRUE(begin->at("args").at("where").get<std::string>().starts_with("trace_test.cpp:"));
    // Its own span, then three runs (at the call, after each sleep), then its end.
    std::vector<std::string> sequence;
    for (const Json& event : trace.at("traceEvents")) {
        if ((phase(event) == "b" || phase(event) == "e") && event.at("cat") == "task" &&
            event.at("id") == begin->at("id")) {
            sequence.push_back(phase(event) + " " + event.at("name").get<std::string>());
        }
    }
    std::string name = begin->at("name").get<std::string>();
    std::vector<std::string> expected{"b " + name, "b running", "e running", "b running",
                                      "e running", "b running", "e running", "e " + name};
    EXPECT_EQ(sequence, expected);
}

// A job of run_in_executor runs on a thread of the pool: a complete event
// on that thread, which is named.
TEST(Tracing, AnExecutorJobIsRecordedOnItsOwnThread) {
    TraceFilePath path;
    IOLoop loop;
    loop.start_tracing(path.str());
    int result = loop.run_sync([]() -> Task<int> {
        int value = co_await tornado::run_in_executor([] {
            std::this_thread::sleep_for(2ms);
            return 5;
        });
        co_return value;
    });
    EXPECT_EQ(result, 5);
    loop.stop_tracing();

    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    std::vector<Json> jobs;
    for (const Json& event : events_of(trace, "X")) {
        if (event.at("cat") == "executor") jobs.push_back(event);
    }
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_TRUE(
        jobs[0].at("name").get<std::string>().starts_with("run_in_executor trace_test.cpp:"));
    EXPECT_GE(nanoseconds(jobs[0].at("dur")), 2'000'000);
    int loop_tid = events_of(trace, "X", "turn").at(0).at("tid").get<int>();
    int job_tid = jobs[0].at("tid").get<int>();
    EXPECT_NE(job_tid, loop_tid);
    bool named = false;
    for (const Json& name : events_of(trace, "M", "thread_name")) {
        if (name.at("tid") == job_tid && name.at("args").at("name") == "executor thread")
            named = true;
    }
    EXPECT_TRUE(named);
}

// --- the ring and when the file is written ------------------------------------------------

TEST(Tracing, TheRingKeepsItsBoundAndCountsWhatItDropped) {
    TraceFilePath path;
    IOLoop loop;
    loop.start_tracing(path.str(), TraceOptions{.max_events = 100});
    loop.run_sync([&loop] {
        for (int i = 0; i < 1000; ++i) loop.add_callback([] {});
    });
    tornado::testing::run_turns(loop, 3);
    loop.stop_tracing();

    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    std::size_t events = 0;
    for (const Json& event : trace.at("traceEvents")) {
        if (phase(event) != "M") ++events;
    }
    EXPECT_LE(events, 100u);
    EXPECT_GE(events, 50u);  // the loop's share of the ring is full
    EXPECT_GE(trace.at("otherData").at("dropped_events").get<std::int64_t>(), 900);
    EXPECT_EQ(trace.at("otherData").at("max_events"), 100);
    // The newest were kept: the last turns are there.
    EXPECT_FALSE(events_of(trace, "X", "turn").empty());
}

TEST(Tracing, SIGUSR2WritesTheFileAndTracingGoesOn) {
    TraceFilePath path;
    IOLoop loop;
    loop.start_tracing(path.str());
    loop.add_callback([] { std::raise(SIGUSR2); });
    EXPECT_TRUE(tornado::testing::run_until(
        loop, [&] { return path.exists(); }, 10s));
    EXPECT_TRUE(loop.is_tracing());
    expect_well_formed(read_trace(path.str()));
    std::remove(path.str().c_str());
    loop.stop_tracing();  // gives SIGUSR2 back to its old disposition
    EXPECT_TRUE(path.exists());
}

TEST(Tracing, CloseWritesTheFile) {
    TraceFilePath path;
    {
        IOLoop loop;
        loop.start_tracing(path.str());
        loop.run_sync([] {});
    }  // the destructor closes the loop
    expect_well_formed(read_trace(path.str()));
}

TEST(Tracing, StartingTwiceOrOnAClosedLoopThrows) {
    TraceFilePath path;
    IOLoop loop;
    loop.start_tracing(path.str());
    EXPECT_THROW(loop.start_tracing(path.str()), std::logic_error);
    loop.close();  // writes it
    EXPECT_TRUE(path.exists());
    EXPECT_THROW(loop.start_tracing(path.str()), std::logic_error);
}

TEST(Tracing, PercentPBecomesTheProcessId) {
    std::string pattern = ::testing::TempDir() + "trace_test_%p.json";
    std::string expected =
        ::testing::TempDir() + "trace_test_" + std::to_string(::getpid()) + ".json";
    {
        IOLoop loop;
        loop.start_tracing(pattern);
    }
    EXPECT_EQ(::access(expected.c_str(), F_OK), 0);
    std::remove(expected.c_str());
}

// Run only by the test below, in a process of its own: TORNADO_TRACE is
// read once per process, by the first loop that starts.
TEST(TracingHelper, DISABLED_RunsALoop) {
    if (std::getenv("TORNADO_TRACE") == nullptr)
        GTEST_SKIP() << "run by Tracing.TheEnvironmentTurnsItOn";
    IOLoop loop;
    loop.run_sync([]() -> Task<void> { co_await tornado::sleep(1ms); });
    EXPECT_TRUE(loop.is_tracing());
}

TEST(Tracing, TheEnvironmentTurnsItOn) {
    TraceFilePath path;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::setenv("TORNADO_TRACE", path.str().c_str(), 1);
        ::execl("/proc/self/exe", "final_tests", "--gtest_filter=TracingHelper.DISABLED_RunsALoop",
                "--gtest_also_run_disabled_tests", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    EXPECT_FALSE(events_of(trace, "X", "turn").empty());
}

// --- HTTP ------------------------------------------------------------------------------------

// Answers every request with 200 "hello", at once.
class HelloApp final : public HTTPServerConnectionDelegate {
public:
    std::unique_ptr<HTTPMessageDelegate> start_request(
        tornado::HTTPServerConnection*, std::shared_ptr<HTTPConnection> connection) override {
        return std::make_unique<Hello>(std::move(connection));
    }

private:
    class Hello final : public HTTPMessageDelegate {
    public:
        explicit Hello(std::shared_ptr<HTTPConnection> connection)
            : connection_(std::move(connection)) {}
        Future<void> headers_received(tornado::StartLine, HTTPHeaders) override {
            return Future<void>(nullptr);
        }
        Future<void> data_received(std::string) override { return Future<void>(nullptr); }
        void finish() override {
            HTTPHeaders headers{{"Content-Length", "5"}};
            connection_->write_headers(tornado::ResponseStartLine{"HTTP/1.1", 200, ""}, headers,
                                       "hello");
            connection_->finish();
        }

    private:
        std::shared_ptr<HTTPConnection> connection_;
    };
};

class TracedHTTPRequest : public tornado::testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<HelloApp>();
    }
};

// The event of `events` (X, on `tid`) that holds the instant `at`, the
// innermost one: the last to start, as they are in order.
const Json* innermost_slice_at(const std::vector<Json>& slices, int tid, std::int64_t at) {
    const Json* found = nullptr;
    for (const Json& slice : slices) {
        std::int64_t start = nanoseconds(slice.at("ts"));
        if (slice.at("tid") == tid && start <= at && at <= start + nanoseconds(slice.at("dur"))) {
            found = &slice;
        }
    }
    return found;
}

// turn → what delivered the head (a handler or a callback) → the request's span, begun there
// with its method and path, and ended with its status.
TEST_F(TracedHTTPRequest, BeginsInsideWhatDeliveredItsHeadInsideATurn) {
    TraceFilePath path;
    io_loop().start_tracing(path.str());
    tornado::HTTPResponse response = fetch("/hello?name=trace");
    EXPECT_EQ(response.code, 200);
    io_loop().stop_tracing();

    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    std::vector<Json> begins, ends;
    for (const Json& event : trace.at("traceEvents")) {
        if (event.value("cat", "") != "http") continue;
        (phase(event) == "b" ? begins : ends).push_back(event);
    }
    ASSERT_EQ(begins.size(), 1u);
    ASSERT_EQ(ends.size(), 1u);
    const Json& begin = begins[0];
    const Json& end = ends[0];
    EXPECT_EQ(begin.at("name"), "HTTP request");
    EXPECT_EQ(begin.at("args").at("method"), "GET");
    EXPECT_EQ(begin.at("args").at("path"), "/hello?name=trace");
    EXPECT_EQ(end.at("id"), begin.at("id"));
    EXPECT_EQ(end.at("args").at("status"), 200);
    EXPECT_LE(nanoseconds(begin.at("ts")), nanoseconds(end.at("ts")));

    // The slices around the beginning: the innermost is what delivered the
    // head (IOStream calls its reader back from the loop: in the socket's
    // handler, or in a callback that handler queued), inside a turn.
    std::vector<Json> slices = events_of(trace, "X");
    int tid = begin.at("tid").get<int>();
    std::int64_t at = nanoseconds(begin.at("ts"));
    const Json* handler = innermost_slice_at(slices, tid, at);
    ASSERT_NE(handler, nullptr) << "the request began outside every slice";
    std::string name = handler->at("name").get<std::string>();
    EXPECT_TRUE(name.starts_with("handler ") || name.starts_with("callback ")) << handler->dump();
    std::vector<Json> turns = events_of(trace, "X", "turn");
    const Json* turn = innermost_slice_at(turns, tid, at);
    ASSERT_NE(turn, nullptr) << "the request began outside every turn";
    EXPECT_LE(nanoseconds(turn->at("ts")), nanoseconds(handler->at("ts")));
}

// --- WebSocket -------------------------------------------------------------------------------

class TraceEchoSocket : public WebSocketHandler {
public:
    void on_message(std::string message, bool binary) override { write_message(message, binary); }
};

class TracedWebSocket : public tornado::testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(
            std::vector<URLSpec>{{"/echo", tornado::handler<TraceEchoSocket>()}});
    }
};

// Client and server share the loop: the message is sent and received by
// each, an instant event apiece, with its size.
TEST_F(TracedWebSocket, EachMessageSentAndReceivedIsAnInstant) {
    TraceFilePath path;
    io_loop().start_tracing(path.str());
    std::string url = "ws://127.0.0.1:" + std::to_string(get_http_port()) + "/echo";
    std::optional<WebSocketMessage> reply =
        run_sync([url]() -> Task<std::optional<WebSocketMessage>> {
            auto ws = co_await tornado::websocket_connect(url);
            co_await ws->write_message("hi there");
            std::optional<WebSocketMessage> message = co_await ws->read_message();
            ws->close();
            co_return message;
        });
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->data, "hi there");
    io_loop().stop_tracing();

    Json trace = read_trace(path.str());
    expect_well_formed(trace);
    std::vector<Json> sent = events_of(trace, "i", "websocket message sent");
    std::vector<Json> received = events_of(trace, "i", "websocket message received");
    ASSERT_EQ(sent.size(), 2u);  // the client's, then the server's echo
    ASSERT_EQ(received.size(), 2u);
    for (const Json& event : {sent[0], sent[1], received[0], received[1]}) {
        EXPECT_EQ(event.at("cat"), "websocket");
        EXPECT_EQ(event.at("args").at("bytes"), 8);
        EXPECT_EQ(event.at("args").at("binary"), false);
    }
}

}  // namespace
