// Tests of RequestHandler and Application (final/src/web/web.cpp), through
// tornado/testing.h's AsyncHTTPTestCase: an Application on a free port, and
// fetch() over a real connection. The life cycle and its three styles,
// output, Etags, arguments, errors, the slash decorators, FallbackHandler,
// RedirectHandler, streamed bodies. Beside it, by subject: routing_test.cpp,
// web_cookies_test.cpp, web_static_test.cpp, web_transforms_test.cpp,
// web_xsrf_test.cpp, web_template_test.cpp.
#include "tornado/web.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "alloc_counter.h"
#include "escaped.h"
#include "test_util.h"
#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/testing.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using testing::with_header;
using course::testing::escaped;

// --- handlers the tests route to ----------------------------------------------------

class HelloHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
    void head(const PathArgs& args) override { get(args); }
};

class EchoArgsHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        JSON answer = JSON::object();
        answer["path_args"] = args;
        write(answer);
    }
};

// Records the life cycle, for the order test.
std::vector<std::string> lifecycle;

class LifecycleHandler : public RequestHandler {
public:
    void initialize(std::string tag) { lifecycle.push_back("initialize " + tag); }
    void prepare() override {
        lifecycle.push_back("prepare");
        if (get_argument("stop", "") == "yes") finish("stopped in prepare");
    }
    void get(const PathArgs&) override {
        lifecycle.push_back("get");
        write("ok");
    }
    void on_finish() override { lifecycle.push_back("on_finish"); }
};

class ArgumentsHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { answer(); }
    void post(const PathArgs&) override { answer(); }

private:
    void answer() {
        JSON out = JSON::object();
        out["a"] = get_argument("a", "default a");
        out["all_a"] = get_arguments("a");
        out["query_a"] = get_query_arguments("a");
        out["body_a"] = get_body_arguments("a");
        out["raw_a"] = get_arguments("a", /*strip=*/false);
        if (get_argument("need_b", "") == "1") out["b"] = get_argument("b");
        write(out);
    }
};

class OutputHandler : public RequestHandler {
public:
    void set_default_headers() override { set_header("X-Default", "yes"); }
    void get(const PathArgs& args) override {
        const std::string& what = args[0];
        if (what == "json") {
            write(JSON{{"b", 1}, {"a", "x"}});
        } else if (what == "json_list") {
            write(JSON::array({1, 2}));
        } else if (what == "status") {
            set_status(299, "Fine Thanks");
            write("custom");
        } else if (what == "headers") {
            set_header("X-One", "1");
            add_header("X-Many", "a");
            add_header("X-Many", "b");
            set_header("X-Gone", "soon");
            clear_header("X-Gone");
            set_header("X-Number", 42);
            set_header("Content-Type", "text/plain");
        } else if (what == "crlf") {
            set_header("X-Evil", "a\r\nSet-Cookie: owned=1");
        } else if (what == "redirect") {
            redirect("/elsewhere");
        } else if (what == "redirect_perm") {
            redirect("/elsewhere", true);
        } else if (what == "redirect_303") {
            redirect("/elsewhere", false, 303);
        } else if (what == "write_after_finish") {
            finish("done");
            write("more");  // throws: logged, the response is already out
        }
    }
};

// Each style of method.
class CallbackHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("callback ");
        auto self = asynchronous();
        IOLoop::current().call_later(20ms, [self] { self->finish("finished later"); });
    }
};

class CoroutineHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await sleep(10ms);
        write("coroutine ");
        co_await sleep(10ms);
        write("done");
    }
    Task<void> post_async(PathArgs) override {
        co_await sleep(5ms);
        throw HTTPError(418, "log only", "I Am A Teapot");
    }
};

class FlushHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        for (int i = 1; i <= 3; ++i) {
            write("piece " + std::to_string(i) + "\n");
            co_await flush();
        }
        if (get_argument("fail", "") == "1") throw std::runtime_error("after a flush");
    }
};

class ErrorsHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        const std::string& what = args[0];
        if (what == "http") throw HTTPError(404, "secret log detail");
        if (what == "reason") throw HTTPError(499, "", "Custom Reason");
        if (what == "crash") throw std::runtime_error("kaboom <b>");
        if (what == "finish") {
            write("partial ");
            throw Finish("and finished");
        }
        if (what == "send_error") send_error(503);
        if (what == "not_a_status") throw HTTPError(42);
        if (what == "unsafe_reason") throw HTTPError(400, "", "two\r\nlines");
        if (what == "not_modified") throw HTTPError(304);
        if (what == "body204") {
            set_status(204);
            write("a body it cannot have");
        }
        if (what == "body304") {
            set_status(304);
            write("a body it cannot have");
        }
        if (what == "no_server") {
            clear_header("Server");
            clear_header("Date");
            write("anonymous");
        }
    }
};

class CustomErrorPageHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw HTTPError(410); }
    void write_error(int status_code, std::exception_ptr) override {
        set_header("Content-Type", "text/plain");
        finish("custom page for " + std::to_string(status_code));
    }
};

class UserHandler : public RequestHandler {
public:
    std::optional<std::string> get_current_user() override {
        std::string name = get_argument("as", "");
        if (name.empty()) return std::nullopt;
        return name;
    }
    void get(const PathArgs&) override {
        require_authenticated();
        write("hello " + *current_user());
    }
    void post(const PathArgs& args) override { get(args); }
};

// Tornado's @removeslash or @addslash, by the route's argument.
class SlashHandler : public RequestHandler {
public:
    void initialize(std::string which) { remove_ = which == "remove"; }
    void get(const PathArgs&) override {
        if (remove_) {
            removeslash();
        } else {
            addslash();
        }
        write("reached " + request().path);
    }
    void post(const PathArgs& args) override { get(args); }

private:
    bool remove_ = true;
};

class StreamingHandler : public RequestHandler {
public:
    bool stream_request_body() const override { return true; }
    void prepare() override { order_ += "prepare;"; }
    void data_received(std::string chunk) override {
        ++pieces_;
        bytes_ += chunk.size();
        if (order_.find("data;") == std::string::npos) order_ += "data;";
    }
    void put(const PathArgs&) override {
        order_ += "put;";
        write(order_ + std::to_string(bytes_) + " bytes, body " + std::to_string(request().body.size()));
    }

private:
    std::string order_;
    std::size_t pieces_ = 0;
    std::size_t bytes_ = 0;
};

// Counts its closes, for the on_connection_close test.
int connection_closes = 0;
bool long_poll_started = false;

class LongPollHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        long_poll_started = true;
        wait_ = Future<void>();
        try {
            co_await wait_;
        } catch (const CancelledError&) {
            co_return;
        }
    }
    void on_connection_close() override {
        ++connection_closes;
        wait_.cancel();
    }

private:
    Future<void> wait_{nullptr};
};

// Prints the request's tables as JSON, as the demo app's /query and /form
// do: json_encode refuses bytes that are not UTF-8, so only the check
// before prepare() keeps a client's bad bytes from making this a 500.
class TablesHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { post({}); }
    void post(const PathArgs&) override {
        JSON answer = {{"query", JSON::object()}, {"body", JSON::object()},
                       {"files", JSON::object()}, {"cookies", JSON::object()}};
        for (const auto& [name, values] : request().query_arguments) answer["query"][name] = values;
        for (const auto& [name, values] : request().body_arguments) answer["body"][name] = values;
        for (const auto& [field, uploads] : request().files) {
            for (const HTTPFile& file : uploads) answer["files"][field].push_back(file.filename);
        }
        for (const auto& [name, value] : cookies()) answer["cookies"][name] = value;
        write(answer);
    }
};

// Takes a binary argument (a tracker's info_hash) and says how long it is.
class BinaryArgumentHandler : public RequestHandler {
public:
    void check_argument_encoding() override {}
    void get(const PathArgs&) override {
        write(std::to_string(request().query_arguments.at("info_hash").front().size()));
    }
};

std::vector<int> logged_statuses;

// --- the application under test -------------------------------------------------------

class WebTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.cookie_secret = "test-secret";
        settings.login_url = "/login";
        settings.log_function = [](const RequestHandler& handler) {
            logged_statuses.push_back(handler.get_status());
        };
        return std::make_shared<Application>(
            std::vector<URLSpec>{
                {"/", handler<HelloHandler>()},
                {"/args/([^/]*)/(.*)", handler<EchoArgsHandler>(), "args"},
                {"/story/([0-9]+)", handler<HelloHandler>(), "story"},
                {"/lifecycle", handler<LifecycleHandler>("tag")},
                {"/arguments", handler<ArgumentsHandler>()},
                {"/output/(.*)", handler<OutputHandler>()},
                {"/callback", handler<CallbackHandler>()},
                {"/coroutine", handler<CoroutineHandler>()},
                {"/flush", handler<FlushHandler>()},
                {"/errors/(.*)", handler<ErrorsHandler>()},
                {"/custom_error", handler<CustomErrorPageHandler>()},
                {"/user", handler<UserHandler>()},
                {"/remove/[a-z/]*", handler<SlashHandler>("remove")},
                {"/add/[a-z/]*", handler<SlashHandler>("add")},
                {"//+[a-z.]+/+", handler<SlashHandler>("remove")},
                {"//+[a-z.]+", handler<SlashHandler>("add")},
                {"/upload", handler<StreamingHandler>()},
                {"/longpoll", handler<LongPollHandler>()},
                {"/tables", handler<TablesHandler>()},
                {"/binary", handler<BinaryArgumentHandler>()},
                {"/pictures/(.*)", handler<RedirectHandler>("/photos/\\1")},
                {"/old/(.*)/(.*)", handler<RedirectHandler>("/new/{1}/{0}", false)},
                {"/first", handler<HelloHandler>()},
                {"/first", handler<EchoArgsHandler>()},
            },
            settings);
    }

    HTTPResponse post(std::string path, std::string body,
                      std::string content_type = "application/x-www-form-urlencoded") {
        HTTPRequest request;
        request.method = "POST";
        request.body = std::move(body);
        request.headers.set("Content-Type", content_type);
        return fetch(std::move(path), std::move(request));
    }

    void SetUp() override {
        lifecycle.clear();
        logged_statuses.clear();
        connection_closes = 0;
        long_poll_started = false;
        AsyncHTTPTestCase::SetUp();
    }
};

// --- routing ------------------------------------------------------------------------

TEST_F(WebTest, HelloWorldWithTornadosDefaultHeaders) {
    HTTPResponse response = fetch("/");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.headers.get("Content-Type"), "text/html; charset=UTF-8");
    EXPECT_EQ(response.headers.get("Content-Length"), "12");
    EXPECT_FALSE(response.headers.get("Date").empty());
    EXPECT_FALSE(response.headers.get("Server").empty());
}

TEST_F(WebTest, GroupsArePercentDecodedAndRoutesTriedInOrder) {
    HTTPResponse response = fetch("/args/a%20b/c%2Fd+e");
    ASSERT_EQ(response.code, 200);
    EXPECT_EQ(json_decode(response.body)["path_args"], JSON::array({"a b", "c/d+e"}));
    EXPECT_EQ(fetch("/first").body, "Hello, world");  // the first of two identical patterns
}

TEST_F(WebTest, UnknownPathIs404WithTornadosErrorPage) {
    HTTPResponse response = fetch("/nowhere");
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body, "<html><title>404: Not Found</title><body>404: Not Found</body></html>");
}

TEST_F(WebTest, MissingMethodIs405AndUnknownMethodToo) {
    EXPECT_EQ(post("/", "x=1").code, 405);
    HTTPRequest request;
    request.method = "PROPFIND";
    request.allow_nonstandard_methods = true;
    EXPECT_EQ(fetch("/", request).code, 405);
}

TEST_F(WebTest, PathArgumentThatIsNotUtf8Is400) { EXPECT_EQ(fetch("/args/%FF/x").code, 400); }

// --- Application.listen -------------------------------------------------------------

// app.listen's bind options reach its socket: two applications listening
// with reuse_port hold one port (as each forked worker does, with a socket
// of its own), and the kernel gives each new connection to one of them.
class ReusePortTest : public testing::AsyncTestCase {};

TEST_F(ReusePortTest, ApplicationsListeningWithReusePortShareThePort) {
    Application first({{"/", handler<RedirectHandler>("/first")}});
    Application second({{"/", handler<RedirectHandler>("/second")}});
    HTTPServer& first_server = first.listen(0, "127.0.0.1", {}, {.reuse_port = true});
    HTTPServer& second_server =
        second.listen(first_server.port(), "127.0.0.1", {}, {.reuse_port = true});
    EXPECT_EQ(second_server.port(), first_server.port());

    // The kernel picks by a hash of each connection's addresses: 64 new
    // connections all going to one of two sockets has odds of 2 in 2^64.
    // Each application redirects to its own name.
    AsyncHTTPClient client;
    HTTPRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(first_server.port()) + "/";
    request.follow_redirects = false;
    std::set<std::string> answered_by;
    for (int i = 0; i < 64 && answered_by.size() < 2; ++i) {
        HTTPResponse response = run_sync([&] { return client.fetch(request, false); });
        ASSERT_EQ(response.code, 301);
        answered_by.insert(response.headers.get("Location"));
    }
    EXPECT_EQ(answered_by, (std::set<std::string>{"/first", "/second"}));
    client.close();
    for (HTTPServer* server : {&first_server, &second_server}) {
        server->stop();
        run_sync([server] { return server->close_all_connections(); });
    }
}

// --- the life cycle and the three styles --------------------------------------------

TEST_F(WebTest, LifeCycleRunsInTornadosOrder) {
    EXPECT_EQ(fetch("/lifecycle").body, "ok");
    EXPECT_EQ(lifecycle, (std::vector<std::string>{"initialize tag", "prepare", "get", "on_finish"}));
    EXPECT_EQ(logged_statuses, std::vector<int>{200});
}

TEST_F(WebTest, PrepareThatFinishesSkipsTheMethod) {
    EXPECT_EQ(fetch("/lifecycle?stop=yes").body, "stopped in prepare");
    EXPECT_EQ(lifecycle, (std::vector<std::string>{"initialize tag", "prepare", "on_finish"}));
}

TEST_F(WebTest, CallbackStyleFinishesLater) {
    HTTPResponse response = fetch("/callback");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "callback finished later");
}

TEST_F(WebTest, CoroutineStyleFinishesWhenTheCoroutineEnds) {
    EXPECT_EQ(fetch("/coroutine").body, "coroutine done");
}

TEST_F(WebTest, CoroutineThatThrowsAnswersItsHTTPError) {
    HTTPResponse response = post("/coroutine", "");
    EXPECT_EQ(response.code, 418);
    EXPECT_EQ(response.reason, "I Am A Teapot");
    EXPECT_EQ(response.body, "<html><title>418: I Am A Teapot</title><body>418: I Am A Teapot</body></html>");
}

// A reset tells the server the client is gone (a FIN too: the tests of
// WebClientFin below).
TEST_F(WebTest, OnConnectionCloseRunsWhenTheClientResets) {
    auto client = std::make_unique<testing::RawClient>(get_http_port());
    client->send("GET /longpoll HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(testing::run_until(io_loop(), [] { return long_poll_started; }, 2000ms));
    linger reset_on_close{1, 0};
    ::setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
    client.reset();
    ASSERT_TRUE(testing::run_until(io_loop(), [] { return connection_closes > 0; }, 2000ms));
    testing::run_turns(io_loop(), 5);
    EXPECT_EQ(connection_closes, 1);  // once, though both the stream and the dispatcher see it
}

// --- output -----------------------------------------------------------------------

TEST_F(WebTest, WriteJsonSetsItsContentType) {
    HTTPResponse response = fetch("/output/json");
    EXPECT_EQ(response.headers.get("Content-Type"), "application/json; charset=UTF-8");
    EXPECT_EQ(json_decode(response.body), (JSON{{"a", "x"}, {"b", 1}}));
}

TEST_F(WebTest, WriteJsonRefusesATopLevelList) { EXPECT_EQ(fetch("/output/json_list").code, 500); }

TEST_F(WebTest, CustomStatusAndReason) {
    HTTPResponse response = fetch("/output/status");
    EXPECT_EQ(response.code, 299);
    EXPECT_EQ(response.reason, "Fine Thanks");
    EXPECT_EQ(response.body, "custom");
}

TEST_F(WebTest, HeadersSetAddedAndCleared) {
    HTTPResponse response = fetch("/output/headers");
    EXPECT_EQ(response.headers.get("X-Default"), "yes");
    EXPECT_EQ(response.headers.get("X-One"), "1");
    EXPECT_EQ(response.headers.get_list("X-Many"), (std::vector<std::string>{"a", "b"}));
    EXPECT_FALSE(response.headers.contains("X-Gone"));
    EXPECT_EQ(response.headers.get("X-Number"), "42");
    EXPECT_EQ(response.headers.get("Content-Type"), "text/plain");
}

TEST_F(WebTest, HeaderValueWithCrLfIsRefusedNotSent) {
    HTTPResponse response = fetch("/output/crlf");
    EXPECT_EQ(response.code, 500);
    EXPECT_FALSE(response.headers.contains("Set-Cookie"));
    EXPECT_FALSE(response.headers.contains("X-Evil"));
    EXPECT_EQ(response.headers.get("X-Default"), "yes");  // the error page gets the default headers
}

TEST_F(WebTest, Redirects) {
    HTTPRequest no_follow;
    no_follow.follow_redirects = false;
    HTTPResponse temporary = fetch("/output/redirect", no_follow);
    EXPECT_EQ(temporary.code, 302);
    EXPECT_EQ(temporary.headers.get("Location"), "/elsewhere");
    EXPECT_EQ(fetch("/output/redirect_perm", no_follow).code, 301);
    EXPECT_EQ(fetch("/output/redirect_303", no_follow).code, 303);
}

TEST_F(WebTest, FlushSendsPiecesChunked) {
    HTTPResponse response = fetch("/flush");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "piece 1\npiece 2\npiece 3\n");
    EXPECT_EQ(response.headers.get("Transfer-Encoding"), "chunked");
    EXPECT_FALSE(response.headers.contains("Etag"));  // flushed: no Etag
}

TEST_F(WebTest, ErrorAfterFlushEndsTheResponseAsItIs) {
    HTTPResponse response = fetch("/flush?fail=1");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "piece 1\npiece 2\npiece 3\n");
}

TEST_F(WebTest, WriteAfterFinishIsLoggedNotSent) {
    HTTPResponse response = fetch("/output/write_after_finish");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "done");
    EXPECT_EQ(fetch("/").code, 200);  // and the server goes on
}

// --- Etag ---------------------------------------------------------------------------

TEST_F(WebTest, EtagIsTheSha1OfTheBodyAndIfNoneMatchAnswers304) {
    HTTPResponse response = fetch("/");
    EXPECT_EQ(response.headers.get("Etag"), "\"e02aa1b106d5c7c6a98def2b13005d5b84fd8dc8\"");
    std::string etag = response.headers.get("Etag");
    for (const std::string& header : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
        HTTPResponse cached = fetch("/", with_header("If-None-Match", header));
        EXPECT_EQ(cached.code, 304) << header;
        EXPECT_EQ(cached.body, "");
        EXPECT_FALSE(cached.headers.contains("Content-Type"));
    }
    EXPECT_EQ(fetch("/", with_header("If-None-Match", "\"other\"")).code, 200);
}

TEST_F(WebTest, HeadAnswersGetsHeadersWithoutABody) {
    HTTPRequest request;
    request.method = "HEAD";
    HTTPResponse response = fetch("/", request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.headers.get("Content-Length"), "12");
    EXPECT_EQ(response.body, "");
}

// --- arguments ----------------------------------------------------------------------

TEST_F(WebTest, ArgumentsFromQueryAndBodyStrippedInOrder) {
    HTTPResponse response = post("/arguments?a=q1&a=%20q2%20", "a=b1&a=b%01c");
    ASSERT_EQ(response.code, 200);
    JSON out = json_decode(response.body);
    EXPECT_EQ(out["a"], "b c");  // the last value; the control character became a space
    EXPECT_EQ(out["all_a"], JSON::array({"q1", "q2", "b1", "b c"}));
    EXPECT_EQ(out["query_a"], JSON::array({"q1", "q2"}));
    EXPECT_EQ(out["body_a"], JSON::array({"b1", "b c"}));
    EXPECT_EQ(out["raw_a"], JSON::array({"q1", " q2 ", "b1", "b c"}));
}

TEST_F(WebTest, MissingArgumentIs400AndDefaultIsUsed) {
    EXPECT_EQ(json_decode(fetch("/arguments").body)["a"], "default a");
    HTTPResponse response = fetch("/arguments?need_b=1");
    EXPECT_EQ(response.code, 400);
    EXPECT_EQ(response.body, "<html><title>400: Bad Request</title><body>400: Bad Request</body></html>");
}

TEST_F(WebTest, ArgumentThatIsNotUtf8Is400) { EXPECT_EQ(fetch("/arguments?a=%FF").code, 400); }

// Bad bytes anywhere a handler may read text are a 400 that names the
// place, before the handler runs, never json_encode's 500.
TEST_F(WebTest, TablesWithBytesThatAreNotUtf8Are400) {
    EXPECT_EQ(json_decode(fetch("/tables?a=%C3%A9").body)["query"]["a"][0], "\xc3\xa9");
    for (std::string query : {"a=%FF", "%FF=1", "a=%C3%28", "a=%ED%A0%80"}) {
        EXPECT_EQ(fetch("/tables?" + query).code, 400) << query;
    }
    EXPECT_EQ(post("/tables", "b=%FF").code, 400);
    std::string upload =
        "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\xff.txt\"\r\n\r\n"
        "data\r\n--b--\r\n";
    EXPECT_EQ(post("/tables", upload, "multipart/form-data; boundary=b").code, 400);
    HTTPRequest with_cookie;
    with_cookie.headers.set("Cookie", "a=\xff\xfe");
    EXPECT_EQ(fetch("/tables", with_cookie).code, 400);
    EXPECT_EQ(fetch("/").code, 200);
}

TEST_F(WebTest, AHandlerThatTakesBinaryArgumentsTurnsTheCheckOff) {
    HTTPResponse response = fetch("/binary?info_hash=%FF%00%C3%28");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "4");
}

TEST_F(WebTest, MalformedFormBodyIs400) {
    std::string body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end boundary";
    EXPECT_EQ(post("/arguments", body, "multipart/form-data; boundary=b").code, 400);
    EXPECT_EQ(fetch("/").code, 200);
}

// --- errors -------------------------------------------------------------------------

TEST_F(WebTest, HTTPErrorLogMessageStaysInTheLog) {
    HTTPResponse response = fetch("/errors/http");
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body.find("secret"), std::string::npos);
}

TEST_F(WebTest, HTTPErrorReasonInStatusLineAndPage) {
    HTTPResponse response = fetch("/errors/reason");
    EXPECT_EQ(response.code, 499);
    EXPECT_EQ(response.reason, "Custom Reason");
    EXPECT_NE(response.body.find("499: Custom Reason"), std::string::npos);
}

TEST_F(WebTest, ExceptionIs500WithoutDetailsAndTheServerGoesOn) {
    HTTPResponse response = fetch("/errors/crash");
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.body.find("kaboom"), std::string::npos);
    EXPECT_EQ(fetch("/").code, 200);
}

TEST_F(WebTest, FinishExceptionEndsWithWhatWasWritten) {
    HTTPResponse response = fetch("/errors/finish");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "partial and finished");
}

TEST_F(WebTest, HTTPErrorThatCannotBeSentBecomesSafe) {
    EXPECT_EQ(fetch("/errors/not_a_status").code, 500);
    HTTPResponse response = fetch("/errors/unsafe_reason");
    EXPECT_EQ(response.code, 400);
    EXPECT_EQ(response.reason, "Bad Request");
}

// Tornado's rules: an HTTPError(304) is a plain 304; a handler that writes
// a body for a status that has none has a bug, answered 500 and logged.
TEST_F(WebTest, BodilessStatuses) {
    HTTPResponse not_modified = fetch("/errors/not_modified");
    EXPECT_EQ(not_modified.code, 304);
    EXPECT_EQ(not_modified.body, "");
    for (std::string status : {"204", "304"}) {
        testing::ExpectLog expected(app_log, "Cannot send body with " + status);
        HTTPResponse response = fetch("/errors/body" + status);
        EXPECT_EQ(response.code, 500) << status;
        EXPECT_NE(response.body.find("500: Internal Server Error"), std::string::npos);
    }
}

// Tornado's clear_header("Server"): the connection then adds none either.
TEST_F(WebTest, ClearedServerAndDateHeadersAreNotSent) {
    HTTPResponse plain = fetch("/");
    EXPECT_TRUE(plain.headers.contains("Server"));
    EXPECT_TRUE(plain.headers.contains("Date"));
    HTTPResponse anonymous = fetch("/errors/no_server");
    EXPECT_EQ(anonymous.body, "anonymous");
    EXPECT_FALSE(anonymous.headers.contains("Server"));
    EXPECT_FALSE(anonymous.headers.contains("Date"));
}

TEST_F(WebTest, SendErrorAndCustomWriteError) {
    EXPECT_EQ(fetch("/errors/send_error").code, 503);
    HTTPResponse custom = fetch("/custom_error");
    EXPECT_EQ(custom.code, 410);
    EXPECT_EQ(custom.body, "custom page for 410");
}

class DebugWebTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.debug = true;
        return std::make_shared<Application>(std::vector<URLSpec>{{"/errors/(.*)", handler<ErrorsHandler>()}},
                                             settings);
    }
};

TEST_F(DebugWebTest, DebugShowsTheExceptionAsText) {
    HTTPResponse response = fetch("/errors/crash");
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.headers.get("Content-Type"), "text/plain; charset=UTF-8");
    EXPECT_NE(response.body.find("kaboom <b>"), std::string::npos) << response.body;
}

// --- removeslash and addslash -------------------------------------------------------

TEST_F(WebTest, RemoveslashAndAddslashRedirectGetsAndRefuseOthers) {
    HTTPRequest no_follow;
    no_follow.follow_redirects = false;
    HTTPResponse removed = fetch("/remove/some/page/?q=1", no_follow);
    EXPECT_EQ(removed.code, 301);
    EXPECT_EQ(removed.headers.get("Location"), "/remove/some/page?q=1");
    EXPECT_EQ(fetch("/remove/some/page", no_follow).body, "reached /remove/some/page");
    EXPECT_EQ(post("/remove/some/page/", "").code, 404);

    HTTPResponse added = fetch("/add/page", no_follow);
    EXPECT_EQ(added.code, 301);
    EXPECT_EQ(added.headers.get("Location"), "/add/page/");
    EXPECT_EQ(fetch("/add/page/", no_follow).body, "reached /add/page/");
    EXPECT_EQ(post("/add/page", "").code, 404);
}

// Tornado 6.2 would answer "//evil.example/" with Location: //evil.example,
// which a browser follows to another site.
TEST_F(WebTest, SlashRedirectsNeverLeaveTheSite) {
    HTTPRequest no_follow;
    no_follow.follow_redirects = false;
    EXPECT_EQ(fetch("//evil.example/", no_follow).headers.get("Location"), "/evil.example");
    EXPECT_EQ(fetch("///evil.example", no_follow).headers.get("Location"), "/evil.example/");
}

// --- FallbackHandler ----------------------------------------------------------------

// A plain server callback, mounted under /legacy/: it answers through the
// connection, at once or on a later turn of the loop.
void legacy_server(std::shared_ptr<HTTPServerRequest> request) {
    auto answer = [request] {
        std::string body = "legacy " + request->method + " " + request->path + " " + request->body;
        HTTPHeaders headers{{"Content-Type", "text/plain"},
                            {"Content-Length", std::to_string(body.size())}};
        request->connection->write_headers(ResponseStartLine{"HTTP/1.1", 200, "OK"}, headers, body);
        request->connection->finish();
    };
    if (request->path.ends_with("/later")) {
        IOLoop::current().add_callback(answer);
    } else if (request->path.ends_with("/broken")) {
        throw std::runtime_error("the legacy server failed");
    } else {
        answer();
    }
}

class FallbackTest : public testing::AsyncHTTPTestCase {
protected:
    class FinishCounter : public FallbackHandler {
    public:
        void on_finish() override { ++finishes; }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(std::vector<URLSpec>{
            {"/legacy/.*", handler<FinishCounter>(FallbackHandler::Callback(legacy_server))}});
    }
    static inline int finishes = 0;
};

TEST_F(FallbackTest, TheCallbackAnswersNowOrLaterAndTheConnectionGoesOn) {
    finishes = 0;
    HTTPResponse now = fetch("/legacy/now");
    EXPECT_EQ(now.code, 200);
    EXPECT_EQ(now.body, "legacy GET /legacy/now ");
    HTTPRequest post;
    post.method = "POST";
    post.body = "the body";
    EXPECT_EQ(fetch("/legacy/later", post).body, "legacy POST /legacy/later the body");
    EXPECT_EQ(finishes, 2);
}

// Two requests on one connection: the handler left the connection to the
// callback, which finished each response.
TEST(FallbackKeepAlive, TheNextRequestWaitsForTheCallbacksAnswer) {
    testing::ServerThread server([] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{
            {"/legacy/.*", handler<FallbackHandler>(FallbackHandler::Callback(legacy_server))}});
        return std::make_unique<HTTPServer>(app);
    });
    testing::RawClient client(server.port());
    client.send("GET /legacy/later HTTP/1.1\r\nHost: x\r\n\r\nGET /legacy/now HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "legacy GET /legacy/later ");
    EXPECT_EQ(client.read_response().body, "legacy GET /legacy/now ");
}

TEST_F(FallbackTest, ACallbackThatThrowsIsA500) {
    testing::ExpectLog expected(app_log, "Uncaught exception");
    EXPECT_EQ(fetch("/legacy/broken").code, 500);
}

// --- users --------------------------------------------------------------------------

TEST_F(WebTest, RequireAuthenticatedRedirectsGetAndRefusesPost) {
    EXPECT_EQ(fetch("/user?as=bob").body, "hello bob");
    HTTPRequest no_follow;
    no_follow.follow_redirects = false;
    HTTPResponse response = fetch("/user", no_follow);
    EXPECT_EQ(response.code, 302);
    EXPECT_EQ(response.headers.get("Location"), "/login?next=%2Fuser");
    EXPECT_EQ(post("/user", "").code, 403);
}

// --- streamed bodies ----------------------------------------------------------------

TEST_F(WebTest, StreamRequestBodyHandsPiecesToDataReceived) {
    HTTPRequest request;
    request.method = "PUT";
    request.body = std::string(1 << 20, 'x');
    HTTPResponse response = fetch("/upload", request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "prepare;data;put;1048576 bytes, body 0");
}

// --- RedirectHandler ----------------------------------------------------------------

TEST_F(WebTest, RedirectHandlerSubstitutesGroupsAndKeepsTheQuery) {
    HTTPRequest no_follow;
    no_follow.follow_redirects = false;
    HTTPResponse pictures = fetch("/pictures/cat.jpg?size=2", no_follow);
    EXPECT_EQ(pictures.code, 301);
    EXPECT_EQ(pictures.headers.get("Location"), "/photos/cat.jpg?size=2");
    HTTPResponse swapped = fetch("/old/a/b", no_follow);
    EXPECT_EQ(swapped.code, 302);
    EXPECT_EQ(swapped.headers.get("Location"), "/new/b/a");
}

// A group decoded to a control character goes back into the URL encoded
// (a Location header cannot carry it; Tornado answers 500).
TEST_F(WebTest, RedirectHandlerReencodesControlCharacters) {
    HTTPRequest no_follow;
    no_follow.follow_redirects = false;
    HTTPResponse response = fetch("/pictures/a%00b%0D%0A", no_follow);
    EXPECT_EQ(response.code, 301);
    EXPECT_EQ(response.headers.get("Location"), "/photos/a%00b%0D%0A");
}

TEST(FormatUrlTest, PythonFormatAndGroupReferences) {
    EXPECT_EQ(format_url("/x/{}/{}", {"a", "b"}), "/x/a/b");
    EXPECT_EQ(format_url("/x/{1}/{0}", {"a", "b"}), "/x/b/a");
    EXPECT_EQ(format_url("{{}}\\1", {"g"}), "{}g");
    EXPECT_THROW(format_url("{", {}), std::invalid_argument);
    EXPECT_THROW(format_url("}", {}), std::invalid_argument);
    EXPECT_THROW(format_url("{name}", {"a"}), std::invalid_argument);
    EXPECT_THROW(format_url("{3}", {"a"}), std::out_of_range);
}

}  // namespace
}  // namespace tornado

namespace tornado {
namespace {

// A Content-Length the client only announces costs the server nothing: the
// dispatcher reserves room for at most 1 MiB of it, and the connection
// answers 413 (not a 500 from bad_alloc, nor from a number past 2^64).
TEST(WebBodyLimits, AHugeAnnouncedLengthIsA413NotA500) {
    testing::ServerThread server([] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{{"/", handler<HelloHandler>()}});
        return std::make_unique<HTTPServer>(app);
    });
    for (std::string length : {"1000000000000", "99999999999999999999999999"}) {
        testing::RawClient client(server.port());
        client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n\r\nabc");
        EXPECT_EQ(client.read_response().status, 413) << length;
    }
}

// The web layer's cost in heap blocks per keep-alive request, on top of
// HTTPServer's own (HTTPServer.AllocationsPerRequestOnTheFastPath): the
// dispatcher, the handler, its response headers, the Etag.
TEST(WebAllocations, PerHelloWorldRequest) {
    testing::ServerThread server([] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{{"/", handler<HelloHandler>()}});
        return std::make_unique<HTTPServer>(app);
    });
    testing::RawClient client(server.port());
    const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < 50; ++i) {  // warm-up
        client.send(request);
        ASSERT_EQ(client.read_response().status, 200);
    }
    auto total = [] { return tornado::testing::total_allocations(); };
    std::int64_t before = server.call(total);
    constexpr int kRequests = 1000;
    for (int i = 0; i < kRequests; ++i) {
        client.send(request);
        ASSERT_EQ(client.read_response().status, 200);
    }
    double per_request = static_cast<double>(server.call(total) - before - 1) / kRequests;
    std::printf("[ measure  ] allocations per keep-alive request through the web layer: %.2f\n", per_request);
    // On io_uring, two more: the write resolves when the kernel reports
    // (HTTPServer.AllocationsPerRequestOnTheFastPath says which).
    bool by_completion = server.call([] { return tornado::IOLoop::current().io_by_completion(); });
    EXPECT_LE(per_request, by_completion ? 15 + 2 : 15);
}

// --- a client that sends its FIN while its handler waits ---------------------------------

// The FIN runs on_connection_close (as in Tornado), and the answer is still
// written (as nginx writes it): the client may have closed only its
// sending side. Counted across the server's thread.
std::atomic<int> fin_closes{0};

// Waits until on_connection_close tells it the client is done sending,
// then answers anyway.
class AnswersAfterTheFinHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        heard_ = Future<void>();
        co_await heard_;
        write("heard the FIN");
    }
    void on_connection_close() override {
        ++fin_closes;
        if (!heard_.done()) heard_.set_result();
    }

private:
    Future<void> heard_{nullptr};
};

// Ignores on_connection_close (but counts it): answers after 50 ms.
class SleepsThenAnswersHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await tornado::sleep(50ms);
        write("slept");
    }
    void on_connection_close() override { ++fin_closes; }
};

class WebClientFin : public ::testing::Test {
protected:
    void SetUp() override { fin_closes = 0; }
    testing::ServerThread server{[] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{
            {"/fin", handler<AnswersAfterTheFinHandler>()},
            {"/sleep", handler<SleepsThenAnswersHandler>()},
        });
        return std::make_unique<HTTPServer>(app);
    }};
    const std::string fin_request = "GET /fin HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string sleep_request = "GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n";
};

TEST_F(WebClientFin, AFinWhileTheHandlerWaitsRunsOnConnectionCloseAndIsStillAnswered) {
    testing::RawClient client(server.port());
    client.send(fin_request);
    EXPECT_TRUE(client.quiet_for(50ms));  // the handler waits
    client.shutdown_write();
    testing::Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "heard the FIN");
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(fin_closes, 1);
}

// The race: the FIN arrives with the request, before the handler waits.
// The handler hears it as soon as it waits.
TEST_F(WebClientFin, AFinThatCameWithTheRequestIsHeardOnceTheHandlerWaits) {
    testing::RawClient client(server.port());
    client.send(fin_request);
    client.shutdown_write();
    EXPECT_EQ(client.read_response().body, "heard the FIN");
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(fin_closes, 1);
}

// A handler that does not care still answers a half-closed client.
TEST_F(WebClientFin, AHandlerThatIgnoresTheFinStillAnswers) {
    testing::RawClient client(server.port());
    client.send(sleep_request);
    client.shutdown_write();
    EXPECT_EQ(client.read_response().body, "slept");
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(fin_closes, 1);
}

// The other side of the race: a FIN after the answer is no close for the
// request, which was over; the connection just ends.
TEST_F(WebClientFin, AFinAfterTheAnswerIsNotAConnectionClose) {
    testing::RawClient client(server.port());
    client.send(sleep_request);
    EXPECT_EQ(client.read_response().body, "slept");
    client.shutdown_write();
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(fin_closes, 0);
}

// Pipelined requests, then the FIN: each waiting handler hears it, and
// each is answered, in order.
TEST_F(WebClientFin, PipelinedRequestsBeforeAFinAreAllAnswered) {
    testing::RawClient client(server.port());
    client.send(fin_request + sleep_request + fin_request);
    client.shutdown_write();
    EXPECT_EQ(client.read_response().body, "heard the FIN");
    EXPECT_EQ(client.read_response().body, "slept");
    EXPECT_EQ(client.read_response().body, "heard the FIN");
    EXPECT_TRUE(client.closed_by_server());
    EXPECT_EQ(fin_closes, 3);
}

// A client that closes whole (not half) while its handler waits: the
// handler hears the FIN, the answer meets a reset, and the server goes on.
TEST_F(WebClientFin, AClientThatClosedWholeCostsNothing) {
    for (int i = 0; i < 20; ++i) {
        testing::RawClient client(server.port());
        client.send(i % 2 == 0 ? fin_request : sleep_request);
    }
    testing::RawClient next(server.port());
    next.send(sleep_request);
    EXPECT_EQ(next.read_response().body, "slept");
    EXPECT_EQ(server.call([] { return static_cast<int>(fin_closes); }), 20);
}


// --- trailers, and a streamed body taken at the handler's pace -----------------------------

// Sets trailers (before or after a flush), or one that is not allowed.
class TrailersHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        std::string_view how = request().query_arguments.empty() ? "" : "flush";
        write("body");
        if (how == "flush") flush();
        set_trailer("grpc-status", "0");
        set_trailer("X-Checksum", "abc");
    }
    void post(const PathArgs&) override { set_trailer("Content-Length", "4"); }
};

// Counts the pieces of a streamed body, and whether a piece came while
// the Future of the one before had not resolved (it must not).
class PacedUploadHandler : public RequestHandler {
public:
    bool stream_request_body() const override { return true; }
    Future<void> data_received_async(std::string chunk) override {
        if (waiting_.valid() && !waiting_.done()) ++overlaps_;
        bytes_ += chunk.size();
        ++pieces_;
        if (request().path == "/paced/fail") {
            Future<void> failed;
            failed.set_exception(std::make_exception_ptr(HTTPError(507, "no room")));
            return failed;
        }
        waiting_ = Future<void>();
        IOLoop::current().call_later(2ms, [waiting = waiting_]() mutable { waiting.set_result(); });
        return waiting_;
    }
    void put(const PathArgs&) override {
        write(std::to_string(bytes_) + " bytes in " + std::to_string(pieces_) + " pieces, " +
              std::to_string(overlaps_) + " overlapping");
    }

private:
    Future<void> waiting_{nullptr};
    std::size_t bytes_ = 0;
    int pieces_ = 0;
    int overlaps_ = 0;
};

class Trailers : public ::testing::Test {
protected:
    testing::ServerThread server{[] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{
            {"/trailers", handler<TrailersHandler>()},
            {"/paced/.*", handler<PacedUploadHandler>()},
        });
        return std::make_unique<HTTPServer>(app);
    }};

    std::string raw(std::string request) {
        testing::RawClient client(server.port());
        client.send(request);
        return client.read_until_close();
    }
};

// RFC 9112 section 7.1.2: the last chunk, the trailer fields, an empty
// line. finish() gives no Content-Length, so HTTP/1.1 chunks the body.
TEST_F(Trailers, FollowTheLastChunkOfAChunkedBody) {
    std::string answer = raw("GET /trailers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_NE(answer.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << escaped(answer);
    EXPECT_EQ(answer.find("Content-Length"), std::string::npos) << escaped(answer);
    EXPECT_TRUE(answer.ends_with("\r\n4\r\nbody\r\n0\r\nGrpc-Status: 0\r\nX-Checksum: abc\r\n\r\n"))
        << escaped(answer);
}

TEST_F(Trailers, MayBeSetAfterAFlush) {
    std::string answer = raw("GET /trailers?flush=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(answer.ends_with("4\r\nbody\r\n0\r\nGrpc-Status: 0\r\nX-Checksum: abc\r\n\r\n"))
        << escaped(answer);
}

// HTTP/1.0 has no chunks, so nowhere to put trailers: the body is whole
// and they are dropped.
TEST_F(Trailers, AreDroppedWhereTheyHaveNoPlace) {
    std::string answer = raw("GET /trailers HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 200")) << escaped(answer);
    EXPECT_TRUE(answer.ends_with("\r\n\r\nbody")) << escaped(answer);
}

// RFC 9110 section 6.5.1: no framing fields in trailers. The handler's
// mistake is a 500, not a broken message.
TEST_F(Trailers, AFramingFieldIsRefused) {
    std::string answer = raw("POST /trailers HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 500")) << escaped(answer);
}

// Tornado's data_received may return a Future: the next piece waits for it.
TEST_F(Trailers, AStreamedBodyComesNoFasterThanTheHandlerTakesIt) {
    testing::RawClient client(server.port());
    std::string body(512 * 1024, 'x');
    client.send("PUT /paced/ok HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n\r\n" + body);
    testing::Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.body.starts_with("524288 bytes in ")) << response.body;
    EXPECT_TRUE(response.body.ends_with(" pieces, 0 overlapping")) << response.body;
}


// A Future that fails is answered as the method's exception would be.
TEST_F(Trailers, AFailedDataReceivedFutureIsAnsweredAsAnError) {
    testing::RawClient client(server.port());
    client.send("PUT /paced/fail HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(client.read_response().status, 507);
}

}  // namespace
}  // namespace tornado
