// Tests of what a RequestHandler sends (final/src/web/web.cpp): JSON,
// status and reason, headers, redirects, flush() and its chunks, what
// comes after finish(), the Etag and HEAD, and trailers (with the streamed
// body a handler takes at its own pace, whose tests share their server).
// The WebTest suite's application is in web_test_util.h.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "escaped.h"
#include "http_test_util.h"
#include "tornado/escape.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web_test_util.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using course::testing::escaped;
using testing::with_header;
using web_test::WebTest;

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
