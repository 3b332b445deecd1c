// Tests of what a RequestHandler reads of the request (final/src/web/web.cpp):
// arguments from the query and the body, stripped and checked for UTF-8,
// malformed forms, a body streamed to data_received(), and a huge
// announced Content-Length. The WebTest suite's application is in
// web_test_util.h.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "tornado/escape.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web_test_util.h"

namespace tornado {
namespace {

using web_test::WebTest;

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

// --- streamed bodies ----------------------------------------------------------------

TEST_F(WebTest, StreamRequestBodyHandsPiecesToDataReceived) {
    HTTPRequest request;
    request.method = "PUT";
    request.body = std::string(1 << 20, 'x');
    HTTPResponse response = fetch("/upload", request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "prepare;data;put;1048576 bytes, body 0");
}

// --- limits ------------------------------------------------------------------------

// A Content-Length the client only announces costs the server nothing: the
// dispatcher reserves room for at most 1 MiB of it, and the connection
// answers 413 (not a 500 from bad_alloc, nor from a number past 2^64).
TEST(WebBodyLimits, AHugeAnnouncedLengthIsA413NotA500) {
    testing::ServerThread server([] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{{"/", handler<web_test::HelloHandler>()}});
        return std::make_unique<HTTPServer>(app);
    });
    for (std::string length : {"1000000000000", "99999999999999999999999999"}) {
        testing::RawClient client(server.port());
        client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + "\r\n\r\nabc");
        EXPECT_EQ(client.read_response().status, 413) << length;
    }
}

}  // namespace
}  // namespace tornado
