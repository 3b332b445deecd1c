// Tests of RequestHandler and Application (final/src/web/web.cpp), through
// tornado/testing.h's AsyncHTTPTestCase: an Application on a free port, and
// fetch() over a real connection. Here: routing, the slash decorators, the
// life cycle and its three styles, require_authenticated. The application
// the WebTest suite fetches from is in web_test_util.h. Beside it, by
// subject: web_request_test.cpp (arguments, bodies), web_output_test.cpp
// (status, headers, flush, Etag, trailers), web_errors_test.cpp,
// web_handlers_test.cpp (RedirectHandler, FallbackHandler),
// web_connection_test.cpp (the client's FIN, reuse_port, allocations),
// routing_test.cpp, web_cookies_test.cpp, web_static_test.cpp,
// web_transforms_test.cpp, web_xsrf_test.cpp, web_template_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tornado/escape.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web_test_util.h"

namespace tornado {
namespace {

using web_test::WebTest;

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

// --- the life cycle and the three styles --------------------------------------------

TEST_F(WebTest, LifeCycleRunsInTornadosOrder) {
    EXPECT_EQ(fetch("/lifecycle").body, "ok");
    EXPECT_EQ(web_test::lifecycle, (std::vector<std::string>{"initialize tag", "prepare", "get", "on_finish"}));
    EXPECT_EQ(web_test::logged_statuses, std::vector<int>{200});
}

TEST_F(WebTest, PrepareThatFinishesSkipsTheMethod) {
    EXPECT_EQ(fetch("/lifecycle?stop=yes").body, "stopped in prepare");
    EXPECT_EQ(web_test::lifecycle, (std::vector<std::string>{"initialize tag", "prepare", "on_finish"}));
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

}  // namespace
}  // namespace tornado
