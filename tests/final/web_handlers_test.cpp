// Tests of the handlers Tornado provides that answer for another
// (final/src/web/web.cpp): RedirectHandler and its format_url(),
// FallbackHandler, which hands the request to a plain server callback, and
// routes whose target is such a function, with no handler at all.
// The WebTest suite's application is in web_test_util.h.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "tornado/log.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web_test_util.h"

namespace tornado {
namespace {

using web_test::WebTest;

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

// Two pipelined requests to `route`, whose callback answers the first on a
// later turn of the loop: the second is answered after it, not before.
void expect_pipelined_answers_in_order(URLSpec route) {
    testing::ServerThread server([&route] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{std::move(route)});
        return std::make_unique<HTTPServer>(app);
    });
    testing::RawClient client(server.port());
    client.send(
        "GET /legacy/later HTTP/1.1\r\nHost: x\r\n\r\nGET /legacy/now HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "legacy GET /legacy/later ");
    EXPECT_EQ(client.read_response().body, "legacy GET /legacy/now ");
}

// Two requests on one connection: the handler left the connection to the
// callback, which finished each response.
TEST(FallbackKeepAlive, TheNextRequestWaitsForTheCallbacksAnswer) {
    expect_pipelined_answers_in_order(
        {"/legacy/.*", handler<FallbackHandler>(FallbackHandler::Callback(legacy_server))});
}

TEST_F(FallbackTest, ACallbackThatThrowsIsA500) {
    testing::ExpectLog expected(app_log, "Uncaught exception");
    EXPECT_EQ(fetch("/legacy/broken").code, 500);
}

// --- function routes ----------------------------------------------------------------

// The same callback as a route's own target (Tornado's Application takes a
// callable), beside a coroutine, a form reader and a handler.
class FunctionRouteTest : public testing::AsyncHTTPTestCase {
protected:
    class Page : public RequestHandler {
    public:
        void get(const PathArgs&) override { write("a page"); }
    };
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        return std::make_shared<Application>(std::vector<URLSpec>{
            {"/legacy/.*", legacy_server, "legacy"},
            {"/form",
             [](std::shared_ptr<HTTPServerRequest> request) {
                 ++calls;
                 HTTPHeaders headers{{"Content-Length", "0"},
                                     {"X-Name", request->body_arguments.at("name").at(0)}};
                 request->connection->write_headers({"HTTP/1.1", 204, ""}, headers);
                 request->connection->finish();
             }},
            {"/coroutine",
             [](std::shared_ptr<HTTPServerRequest> request) -> Task<void> {
                 co_await tornado::moment;
                 const ResponseStartLine ok{"HTTP/1.1", 200, "OK"};
                 const HTTPHeaders headers{{"Content-Length", "5"}};
                 request->connection->write_headers(ok, headers, "later");
                 request->connection->finish();
             }},
            {"/page", handler<Page>()}});
    }
    static inline int calls = 0;
};

TEST_F(FunctionRouteTest, TheFunctionAnswersNowOrLaterWithTheWholeBody) {
    HTTPResponse now = fetch("/legacy/now");
    EXPECT_EQ(now.code, 200);
    EXPECT_EQ(now.body, "legacy GET /legacy/now ");
    HTTPRequest post;
    post.method = "POST";
    post.body = "the body";
    EXPECT_EQ(fetch("/legacy/later", post).body, "legacy POST /legacy/later the body");
    EXPECT_EQ(fetch("/coroutine").body, "later");
    EXPECT_EQ(fetch("/page").body, "a page");  // the handler routes beside it as before
}

// None of RequestHandler's work: only the fields the function wrote, and
// the connection's Date and Server.
TEST_F(FunctionRouteTest, NoHandlerDefaultsAreAdded) {
    HTTPResponse now = fetch("/legacy/now");
    EXPECT_EQ(now.headers.get("Content-Type"), "text/plain");
    EXPECT_FALSE(now.headers.contains("Etag"));
    EXPECT_TRUE(now.headers.contains("Date"));
    EXPECT_TRUE(now.headers.contains("Server"));
    EXPECT_EQ(fetch("/page").headers.get("Content-Type"), "text/html; charset=UTF-8");
}

TEST_F(FunctionRouteTest, AFormBodyIsParsedBeforeTheCall) {
    calls = 0;
    HTTPRequest post;
    post.method = "POST";
    post.headers.set("Content-Type", "application/x-www-form-urlencoded");
    post.body = "name=ada";
    HTTPResponse response = fetch("/form", post);
    EXPECT_EQ(response.code, 204);
    EXPECT_EQ(response.headers.get("X-Name"), "ada");
    EXPECT_EQ(calls, 1);
}

// A body the parser refuses is the connection's 400: the function is not called.
TEST_F(FunctionRouteTest, AMalformedBodyIsA400WithoutTheCall) {
    calls = 0;
    HTTPRequest post;
    post.method = "POST";
    post.headers.set("Content-Type", "multipart/form-data; boundary=b");
    post.body = "no boundary here";
    testing::ExpectLog expected(gen_log, "Malformed HTTP message.*no final boundary");
    EXPECT_EQ(fetch("/form", post).code, 400);
    EXPECT_EQ(calls, 0);
}

TEST_F(FunctionRouteTest, AFunctionThatThrowsIsA500AndTheServerGoesOn) {
    testing::ExpectLog expected(app_log, "Uncaught exception while serving.*legacy server failed");
    EXPECT_EQ(fetch("/legacy/broken").code, 500);
    EXPECT_EQ(fetch("/legacy/now").code, 200);
}

TEST(FunctionRouteKeepAlive, PipelinedRequestsAreAnsweredInOrder) {
    expect_pipelined_answers_in_order({"/legacy/.*", legacy_server});
}

TEST(FunctionRoute, AnEmptyFunctionIsRefusedAndANamedOneReverses) {
    EXPECT_THROW(URLSpec("/x", RequestFunction()), std::invalid_argument);
    Application app({{"/item/([0-9]+)", legacy_server, "item"}});
    EXPECT_EQ(app.reverse_url("item", {"7"}), "/item/7");
}

}  // namespace
}  // namespace tornado
