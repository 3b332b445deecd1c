// Tests for tornado/httpclient.h: the request as sent, bodies however the
// server frames them, misbehaving servers (raw sockets), timeouts,
// redirects, limits, raise_error, the max_clients queue, close(), and the
// blocking HTTPClient.
#include "tornado/httpclient.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/base64.h"
#include "canned_server.h"
#include "http_test_util.h"
#include "gzip_test_util.h"
#include "net_test_util.h"
#include "test_util.h"
#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/httpserver.h"
#include "tornado/iostream.h"
#include "tornado/tcpserver.h"
#include "tornado/testing.h"

namespace {

using namespace std::chrono_literals;
using tornado::AsyncHTTPClient;
using tornado::AsyncHTTPClientOptions;
using tornado::Future;
using tornado::HTTPClient;
using tornado::HTTPClientError;
using tornado::HTTPHeaders;
using tornado::HTTPRequest;
using tornado::HTTPResponse;
using tornado::HTTPServer;
using tornado::HTTPServerRequest;
using tornado::IOLoop;
using tornado::IOStream;
using tornado::SocketAddress;
using tornado::StreamClosedError;
using tornado::Task;
using tornado::testing::After;
using tornado::testing::answer;
using tornado::testing::RawLog;
using tornado::testing::serve_canned;

using RequestPtr = std::shared_ptr<HTTPServerRequest>;

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

using tornado::testing::BlackHole;
using tornado::testing::unused_port;

struct Visit {
    std::string method, uri, body;
    bool has_content_type = false;
};

class HTTPClientTest : public tornado::testing::AsyncTestCase {
protected:
    void SetUp() override {
        AsyncTestCase::SetUp();
        client_ = std::make_unique<AsyncHTTPClient>();
    }
    void TearDown() override {
        if (client_) client_->close();
        client_.reset();
        servers_.clear();
        raw_servers_.clear();
        AsyncTestCase::TearDown();
    }

    AsyncHTTPClient& client() { return *client_; }
    void use_client(AsyncHTTPClientOptions options) {
        client_->close();
        client_ = std::make_unique<AsyncHTTPClient>(std::move(options));
    }

    template <typename F>
    std::uint16_t serve(F callback) {
        servers_.push_back(std::make_unique<HTTPServer>(std::move(callback)));
        servers_.back()->listen(0, "127.0.0.1");
        return servers_.back()->port();
    }

    std::uint16_t serve_raw(std::string reply, After after = After::close) {
        auto log = raw_log_;
        raw_servers_.push_back(std::make_unique<tornado::TCPServer>(
            [reply, after, log](std::shared_ptr<IOStream> stream, SocketAddress) {
                return serve_canned(std::move(stream), reply, after, log);
            }));
        raw_servers_.back()->listen(0, "127.0.0.1");
        return raw_servers_.back()->port();
    }

    // /go/CODE/rest redirects with CODE to "/rest" (query kept); /to?u=URL
    // to URL; /loop to itself; anything else answers "METHOD uri body".
    std::uint16_t serve_redirects(std::shared_ptr<std::vector<Visit>> visits) {
        return serve([visits](RequestPtr request) {
            visits->push_back(
                {request->method, request->uri, request->body, request->headers.contains("Content-Type")});
            const std::string& path = request->path;
            std::string query = request->query.empty() ? "" : "?" + request->query;
            if (path.starts_with("/go/")) {
                int code = std::stoi(path.substr(4, 3));
                HTTPHeaders headers{{"Location", path.substr(7) + query}};
                answer(request, "redirect body", code, headers);
            } else if (path == "/to") {
                HTTPHeaders headers{{"Location", request->query_arguments.at("u").front()}};
                answer(request, "", 302, headers);
            } else if (path == "/loop") {
                HTTPHeaders headers{{"Location", "/loop"}};
                answer(request, "", 302, headers);
            } else {
                answer(request, request->method + " " + request->uri + " " + request->body);
            }
        });
    }

    static std::string url(std::uint16_t port, std::string_view path = "/") {
        return "http://127.0.0.1:" + std::to_string(port) + std::string(path);
    }

    HTTPResponse get(const HTTPRequest& request) {
        return run_sync([&] { return client().fetch(request, /*raise_error=*/false); });
    }
    HTTPResponse get(const std::string& target) {
        HTTPRequest request;
        request.url = target;
        return get(request);
    }

    // The HTTPClientError a fetch with raise_error fails with.
    HTTPClientError failure(const HTTPRequest& request) {
        try {
            HTTPResponse response = run_sync([&] { return client().fetch(request); });
            ADD_FAILURE() << "the fetch succeeded with " << response.code;
        } catch (const HTTPClientError& error) {
            return error;
        } catch (const std::exception& other) {
            ADD_FAILURE() << "not an HTTPClientError: " << other.what();
        }
        return HTTPClientError(0, "none");
    }
    HTTPClientError failure(const std::string& target) {
        HTTPRequest request;
        request.url = target;
        return failure(request);
    }

    // Runs the loop until the raw servers have seen `n` connections closed by the client.
    bool wait_for_client_closes(int n) {
        return tornado::testing::run_until(io_loop(), [&] { return raw_log_->closed_by_client >= n; }, 5000ms);
    }

    std::shared_ptr<RawLog> raw_log_ = std::make_shared<RawLog>();

private:
    std::unique_ptr<AsyncHTTPClient> client_;
    std::vector<std::unique_ptr<HTTPServer>> servers_;
    std::vector<std::unique_ptr<tornado::TCPServer>> raw_servers_;
};

// --- the request ------------------------------------------------------------------------------------

TEST_F(HTTPClientTest, AGetSendsAMinimalRequestAndReadsTheResponse) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Answer: yes\r\n\r\nok");
    std::string target = url(port, "/path?q=1#fragment");
    HTTPResponse response = get(target);
    ASSERT_EQ(raw_log_->heads.size(), 1u);
    EXPECT_EQ(raw_log_->heads[0], "GET /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                      "\r\nConnection: close\r\nAccept-Encoding: gzip\r\n\r\n");
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.reason, "OK");
    EXPECT_EQ(response.body, "ok");
    EXPECT_EQ(response.headers.get("X-Answer"), "yes");
    EXPECT_EQ(response.effective_url, target);
    EXPECT_EQ(response.request.url, target);
    EXPECT_FALSE(response.error);
    EXPECT_GT(response.request_time, 0.0);
    EXPECT_LT(response.request_time, 5.0);
    EXPECT_NO_THROW(response.rethrow());
}

TEST_F(HTTPClientTest, UserAgentAndHeadersAreSent) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    HTTPRequest request;
    request.url = url(port, "/");
    request.user_agent = "probe/1.0";
    request.headers.add("X-Test", "1");
    request.headers.add("User-Agent", "replaced");
    EXPECT_EQ(get(request).code, 200);
    ASSERT_EQ(raw_log_->heads.size(), 1u);
    const std::string& head = raw_log_->heads[0];
    EXPECT_TRUE(contains(head, "\r\nUser-Agent: probe/1.0\r\n")) << head;
    EXPECT_TRUE(contains(head, "\r\nX-Test: 1\r\n")) << head;
    EXPECT_FALSE(contains(head, "replaced")) << head;
    EXPECT_TRUE(contains(head, "\r\nAccept-Encoding: gzip\r\n")) << head;
}

// --- gzip (decompress_response) ------------------------------------------------------------------

// A 200 whose body is said to be gzip (whether it is or not).
std::string gzip_reply(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

TEST_F(HTTPClientTest, AGzippedBodyIsInflatedAndTheHeaderRenamed) {
    std::string text(5000, 'a');
    std::string gzipped = tornado::testing::gzip(text);
    std::uint16_t port = serve_raw(gzip_reply(gzipped));
    HTTPResponse response = get(url(port));
    EXPECT_EQ(response.body, text);
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_EQ(response.headers.get("X-Consumed-Content-Encoding"), "gzip");
}

TEST_F(HTTPClientTest, EveryGzipMemberOfABodyIsInflated) {
    // RFC 9110 section 8.4.1.3 points to RFC 1952, where a gzip file is a
    // series of members; Tornado's client would give the first one only.
    std::string gzipped = tornado::testing::gzip("first, ") + tornado::testing::gzip("second");
    std::uint16_t port = serve_raw(gzip_reply(gzipped));
    EXPECT_EQ(get(url(port)).body, "first, second");
}

TEST_F(HTTPClientTest, DecompressResponseOffAsksForNothingAndKeepsTheBytes) {
    std::string gzipped = tornado::testing::gzip("plain");
    std::uint16_t port = serve_raw(gzip_reply(gzipped));
    HTTPRequest request;
    request.url = url(port);
    request.decompress_response = false;
    HTTPResponse response = get(request);
    EXPECT_FALSE(contains(raw_log_->heads[0], "Accept-Encoding")) << raw_log_->heads[0];
    EXPECT_EQ(response.body, gzipped);
    EXPECT_EQ(response.headers.get("Content-Encoding"), "gzip");
}

TEST_F(HTTPClientTest, ABadOrTooBigGzipBodyFailsWith599) {
    struct Case {
        std::string body;
        std::string says;
    };
    std::string bomb = tornado::testing::gzip(std::string(1000 * 1000, '\0'));  // 1 MB from about 1 KB
    std::string gzipped = tornado::testing::gzip("cut short");
    std::string cut = gzipped.substr(0, gzipped.size() - 4);  // without the length in the trailer
    for (const Case& each : {Case{"not gzip at all", "malformed gzip body"},
                             Case{cut, "it ends before the gzip data does"},
                             Case{bomb, "gzip body inflates past the limit of 100000 bytes"}}) {
        std::uint16_t port = serve_raw(gzip_reply(each.body));
        HTTPRequest request;
        request.url = url(port);
        request.max_body_size = 100 * 1000;
        HTTPClientError error = failure(request);
        EXPECT_EQ(error.code(), 599);
        EXPECT_TRUE(contains(error.message(), each.says)) << error.message();
    }
}

TEST_F(HTTPClientTest, APostSendsItsBody) {
    struct Seen {
        std::string method, body, content_type, content_length;
    };
    auto seen = std::make_shared<Seen>();
    std::uint16_t port = serve([seen](RequestPtr request) {
        *seen = {request->method, request->body, request->headers.get("Content-Type"),
                 request->headers.get("Content-Length")};
        answer(request, "thanks");
    });
    std::string body(100000, 'b');
    body[10] = '\0';
    HTTPRequest request;
    request.url = url(port, "/form");
    request.method = "POST";
    request.body = body;
    HTTPResponse response = get(request);
    EXPECT_EQ(response.body, "thanks");
    EXPECT_EQ(seen->method, "POST");
    EXPECT_EQ(seen->body, body);
    EXPECT_EQ(seen->content_type, "application/x-www-form-urlencoded");  // Tornado's default for POST
    EXPECT_EQ(seen->content_length, "100000");

    request.method = "PUT";
    request.body = "";
    request.headers.add("Content-Type", "text/plain");
    EXPECT_EQ(get(request).code, 200);
    EXPECT_EQ(seen->method, "PUT");
    EXPECT_EQ(seen->content_length, "0");
    EXPECT_EQ(seen->content_type, "text/plain");
}

TEST_F(HTTPClientTest, RequestsThatBreakTheRulesFailWithoutConnecting) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    struct Case {
        std::string method;
        std::optional<std::string> body;
        std::string url;
        std::string says;
    };
    std::string good = url(port, "/");
    std::vector<Case> cases{
        {"GET", "body", good, "must not have a body"},
        {"HEAD", "", good, "must not have a body"},
        {"POST", std::nullopt, good, "needs a body"},
        {"PROPFIND", std::nullopt, good, "Unknown method"},
        {"GE T", std::nullopt, good, "Invalid method"},
        {"GET", std::nullopt, "ftp://127.0.0.1/", "Unsupported url scheme"},
        {"GET", std::nullopt, "not a url", "not an absolute http:// or https:// URL"},
        {"GET", std::nullopt, "http:///path", "no host"},
        {"GET", std::nullopt, "http://127.0.0.1:0/", "port"},
        {"GET", std::nullopt, "http://127.0.0.1:70000/", "port"},
        {"GET", std::nullopt, "http://127.0.0.1:8x/", "port"},
        {"GET", std::nullopt, "http://127.0.0.1/a b", "space"},
        {"GET", std::nullopt, "http://user:pw@/path", "no host"},
        {"GET", std::nullopt, "http://[::1/", "IPv6"},
    };
    for (const Case& each : cases) {
        HTTPRequest request;
        request.method = each.method;
        request.body = each.body;
        request.url = each.url;
        HTTPClientError error = failure(request);
        EXPECT_EQ(error.code(), 599) << each.url;
        EXPECT_TRUE(contains(error.message(), each.says)) << error.message();
        EXPECT_TRUE(error.cause()) << error.message();
        HTTPResponse response = get(request);
        EXPECT_EQ(response.code, 599);
        EXPECT_TRUE(response.error);
        EXPECT_THROW(response.rethrow(), HTTPClientError);
    }
    tornado::testing::run_turns(io_loop(), 3);
    EXPECT_EQ(raw_log_->connections, 0);
}

TEST_F(HTTPClientTest, AllowNonstandardMethodsLetsThemThrough) {
    struct Seen {
        std::string method, body;
    };
    auto seen = std::make_shared<Seen>();
    std::uint16_t port = serve([seen](RequestPtr request) {
        *seen = {request->method, request->body};
        answer(request, "ok");
    });
    HTTPRequest request;
    request.url = url(port, "/");
    request.body = "query";
    request.allow_nonstandard_methods = true;
    EXPECT_EQ(get(request).code, 200);
    EXPECT_EQ(seen->method, "GET");
    EXPECT_EQ(seen->body, "query");
    request.method = "PROPFIND";
    EXPECT_EQ(get(request).code, 200);
    EXPECT_EQ(seen->method, "PROPFIND");
}

TEST_F(HTTPClientTest, HostnameMappingSendsANameElsewhere) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    AsyncHTTPClientOptions options;
    options.hostname_mapping = {{"example.test", "127.0.0.1"}};
    use_client(options);
    EXPECT_EQ(get("http://example.test:" + std::to_string(port) + "/").code, 200);
    ASSERT_EQ(raw_log_->heads.size(), 1u);
    EXPECT_TRUE(contains(raw_log_->heads[0], "\r\nHost: example.test:" + std::to_string(port) + "\r\n"));
}

// --- raise_error ------------------------------------------------------------------------------------

TEST_F(HTTPClientTest, ANon2xxResponseRaisesHTTPClientError) {
    std::uint16_t port = serve([](RequestPtr request) { answer(request, "missing", 404); });
    HTTPClientError error = failure(url(port, "/nothing"));
    EXPECT_EQ(error.code(), 404);
    EXPECT_EQ(error.message(), "Not Found");
    EXPECT_STREQ(error.what(), "HTTP 404: Not Found");
    ASSERT_TRUE(error.response());
    EXPECT_EQ(error.response()->code, 404);
    EXPECT_EQ(error.response()->body, "missing");
    EXPECT_FALSE(error.response()->error);  // no cycle
}

TEST_F(HTTPClientTest, WithoutRaiseErrorANon2xxIsAResponse) {
    std::uint16_t port = serve_raw("HTTP/1.1 500 Boom\r\nContent-Length: 4\r\n\r\noops");
    HTTPResponse response = get(url(port, "/"));
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.reason, "Boom");
    EXPECT_EQ(response.body, "oops");
    ASSERT_TRUE(response.error);
    try {
        response.rethrow();
        FAIL() << "rethrow() did not throw";
    } catch (const HTTPClientError& error) {
        EXPECT_EQ(error.code(), 500);
        EXPECT_EQ(error.message(), "Boom");
        ASSERT_TRUE(error.response());
        EXPECT_EQ(error.response()->body, "oops");
    }
}

TEST_F(HTTPClientTest, ARefusedConnectionIs599) {
    std::uint16_t port = unused_port();
    HTTPClientError error = failure(url(port));
    EXPECT_EQ(error.code(), 599);
    EXPECT_EQ(error.message(), "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    EXPECT_TRUE(error.cause());
    HTTPResponse response = get(url(port));
    EXPECT_EQ(response.code, 599);
    EXPECT_EQ(response.effective_url, url(port));
    EXPECT_TRUE(response.body.empty());
    EXPECT_THROW(response.rethrow(), HTTPClientError);
}

// --- timeouts ---------------------------------------------------------------------------------------

TEST_F(HTTPClientTest, AServerThatNeverAnswersTimesOut) {
    std::uint16_t port = serve_raw("", After::hold);
    HTTPRequest request;
    request.url = url(port);
    request.request_timeout = 200ms;
    auto started = std::chrono::steady_clock::now();
    HTTPClientError error = failure(request);
    double took = tornado::testing::seconds_since(started);
    EXPECT_EQ(error.code(), 599);
    EXPECT_STREQ(error.what(), "Timeout during request");
    EXPECT_GE(took, 0.15);
    EXPECT_LT(took, 2.0);
    EXPECT_TRUE(wait_for_client_closes(1));  // the connection was closed
    EXPECT_EQ(client().active_count(), 0u);
    EXPECT_THROW(run_sync([&] { return client().fetch(request); }), tornado::HTTPTimeoutError);
}

TEST_F(HTTPClientTest, ASlowConnectTimesOut) {
    BlackHole hole;
    HTTPRequest request;
    request.url = url(hole.address.port());
    request.connect_timeout = 200ms;
    auto started = std::chrono::steady_clock::now();
    HTTPClientError error = failure(request);
    EXPECT_STREQ(error.what(), "Timeout while connecting");
    EXPECT_LT(tornado::testing::seconds_since(started), 2.0);

    // The request timeout, when shorter, bounds the connect too.
    request.connect_timeout = 20s;
    request.request_timeout = 200ms;
    started = std::chrono::steady_clock::now();
    error = failure(request);
    EXPECT_STREQ(error.what(), "Timeout while connecting");
    EXPECT_LT(tornado::testing::seconds_since(started), 2.0);
}

// --- bodies -----------------------------------------------------------------------------------------

TEST_F(HTTPClientTest, AChunkedBodyIsDecodedWithoutWaitingForTheClose) {
    std::uint16_t port = serve_raw(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: dropped\r\n\r\n",
        After::hold);
    HTTPResponse response = get(url(port));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "hello, chunked!");
    EXPECT_FALSE(response.headers.contains("X-Trailer"));
    EXPECT_LT(response.request_time, 2.0);
}

TEST_F(HTTPClientTest, ChunkSizesAreStrictHex) {
    for (std::string size : {"0x5", "+5", " 5", "5 x", "zz", "", "-1", "11111111111111111"}) {
        std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size +
                                       "\r\nhello\r\n0\r\n\r\n");
        HTTPClientError error = failure(url(port));
        EXPECT_EQ(error.code(), 599) << size;
        EXPECT_TRUE(contains(error.message(), "invalid chunk size")) << size << ": " << error.message();
    }
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n");
    EXPECT_TRUE(contains(failure(url(port)).message(), "not followed by CRLF"));
}

// The client reads chunked bodies with the server's reader
// (chunked_body.h): the same limits and the same checks on trailers.
TEST_F(HTTPClientTest, ChunkedResponsesMeetTheServersRules) {
    struct Case {
        std::string after_head;
        std::string says;
    };
    std::vector<Case> cases{
        {std::string(5000, '1') + "\r\n", "chunk size line over 4096 bytes"},
        {"5\r\nhello\r\n0\r\nBad Name: x\r\n\r\n", "header name is not a token"},
        {"5\r\nhello\r\n0\r\n folded\r\n\r\n", "obsolete line folding in a trailer"},
        {"5\r\nhello\r\n0\r\nX: " + std::string(70 * 1024, 'x') + "\r\n\r\n",
         "trailer fields over the limit"},
    };
    for (const Case& each : cases) {
        std::uint16_t port =
            serve_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + each.after_head);
        HTTPClientError error = failure(url(port));
        EXPECT_EQ(error.code(), 599) << each.says;
        EXPECT_TRUE(contains(error.message(), each.says)) << each.says << ": " << error.message();
    }
}

TEST_F(HTTPClientTest, ABodyWithNoFramingLastsUntilTheClose) {
    std::uint16_t port = serve_raw("HTTP/1.0 200 OK\r\nX: y\r\n\r\nuntil the end");
    HTTPResponse response = get(url(port));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "until the end");
}

TEST_F(HTTPClientTest, AHeadWithBareLineFeedsIsAccepted) {
    // As Tornado's client: lines may end in LF alone.
    std::uint16_t port = serve_raw("HTTP/1.0 200 OK\nContent-Length: 2\nX-A: b\n\nok", After::hold);
    HTTPResponse response = get(url(port));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "ok");
    EXPECT_EQ(response.headers.get("X-A"), "b");
}

TEST_F(HTTPClientTest, ContentLengthRules) {
    std::uint16_t twice = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello");
    EXPECT_EQ(get(url(twice)).body, "hello");
    struct Case {
        std::string headers;
        std::string says;
    };
    for (const Case& each : std::vector<Case>{
             {"Content-Length: 5, 6\r\n", "Multiple unequal Content-Lengths"},
             {"Content-Length: abc\r\n", "Only integer Content-Length"},
             {"Content-Length: -1\r\n", "Only integer Content-Length"},
             {"Content-Length: +5\r\n", "Only integer Content-Length"},
             {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "both Transfer-Encoding and Content-Length"},
             {"Transfer-Encoding: gzip\r\n", "Unsupported Transfer-Encoding"},
         }) {
        std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\n" + each.headers + "\r\nhello", After::hold);
        HTTPClientError error = failure(url(port));
        EXPECT_EQ(error.code(), 599);
        EXPECT_TRUE(contains(error.message(), each.says)) << each.headers << ": " << error.message();
    }
}

TEST_F(HTTPClientTest, InterimResponsesAreSkipped) {
    std::uint16_t port = serve_raw(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
        After::hold);
    HTTPResponse response = get(url(port));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "final");
    EXPECT_FALSE(response.headers.contains("Link"));

    std::uint16_t bad = serve_raw("HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\nabc", After::hold);
    EXPECT_TRUE(contains(failure(url(bad)).message(), "cannot have a body"));
}

TEST_F(HTTPClientTest, A101ThatNoUpgradeAskedForFailsTheFetch) {
    // RFC 9110 section 15.2.2: after a 101 the connection speaks another
    // protocol; what follows it is not a response to this request.
    std::uint16_t port = serve_raw(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfake!",
        After::hold);
    HTTPClientError error = failure(url(port));
    EXPECT_EQ(error.code(), 599);
    EXPECT_TRUE(contains(error.message(), "101 Switching Protocols to a request that asked for no upgrade"))
        << error.message();
}

TEST_F(HTTPClientTest, ABadStatusLineIsAnError) {
    for (std::string line : {"HTPT/1.1 200 OK", "HTTP/1.1 2x0 OK", "SSH-2.0-OpenSSH_9.2", "HTTP/2 200",
                             "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK"}) {
        std::uint16_t port = serve_raw(line + "\r\nContent-Length: 0\r\n\r\n", After::hold);
        HTTPClientError error = failure(url(port));
        EXPECT_EQ(error.code(), 599);
        EXPECT_TRUE(contains(error.message(), "Error parsing response start line")) << error.message();
    }
}

TEST_F(HTTPClientTest, ABodyCutShortIsStreamClosed) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    HTTPClientError error = failure(url(port));
    EXPECT_EQ(error.code(), 599);
    EXPECT_STREQ(error.what(), "Stream closed");
    EXPECT_THROW(run_sync([&] { return client().fetch(url(port)); }), tornado::HTTPStreamClosedError);
}

TEST_F(HTTPClientTest, HeadAnd204And304HaveNoBody) {
    // Each server announces a body it never sends, and keeps the connection
    // open: a client that waited for it would time out.
    std::uint16_t head = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", After::hold);
    HTTPRequest request;
    request.url = url(head);
    request.method = "HEAD";
    request.request_timeout = 2s;
    HTTPResponse response = get(request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "");
    EXPECT_EQ(response.headers.get("Content-Length"), "12");

    for (int code : {204, 304}) {
        std::uint16_t port = serve_raw("HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 12\r\n\r\n",
                                       After::hold);
        request.url = url(port);
        request.method = "GET";
        response = get(request);
        EXPECT_EQ(response.code, code);
        EXPECT_EQ(response.body, "");
    }
}

TEST_F(HTTPClientTest, HeadersOverTheLimitAreAnError) {
    AsyncHTTPClientOptions options;
    options.max_header_size = 1024;
    use_client(options);
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n", After::hold);
    HTTPClientError error = failure(url(port));
    EXPECT_EQ(error.code(), 599);
    EXPECT_EQ(error.message(), "Response head larger than max_header_size (1024 bytes)");
    EXPECT_TRUE(wait_for_client_closes(1));
}

TEST_F(HTTPClientTest, MaxBodySizeIsEnforcedHoweverTheBodyIsFramed) {
    struct Case {
        std::string reply;
        std::string says;
    };
    std::string big(200, 'x');
    std::vector<Case> cases{
        {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "Content-Length too long"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n",
         "chunked body too large: over the limit of 100 bytes"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + std::string(80, 'x') + "\r\n50\r\n",
         "chunked body too large: over the limit of 100 bytes"},
        {"HTTP/1.0 200 OK\r\n\r\n" + big, "body too large"},
    };
    int closes = 0;
    for (const Case& each : cases) {
        std::uint16_t port = serve_raw(each.reply, After::hold);
        HTTPRequest request;
        request.url = url(port);
        request.max_body_size = 100;
        auto started = std::chrono::steady_clock::now();
        HTTPClientError error = failure(request);
        EXPECT_EQ(error.code(), 599);
        EXPECT_EQ(error.message(), each.says);
        EXPECT_LT(tornado::testing::seconds_since(started), 2.0);  // no waiting for the rest
        EXPECT_TRUE(wait_for_client_closes(++closes));
    }
    // Exactly at the limit is fine.
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'y'));
    HTTPRequest request;
    request.url = url(port);
    request.max_body_size = 100;
    EXPECT_EQ(get(request).body, std::string(100, 'y'));
}

TEST_F(HTTPClientTest, AStreamingCallbackGetsTheBodyInPieces) {
    std::string big(200000, 'z');
    for (std::size_t i = 0; i < big.size(); i += 1000) big[i] = static_cast<char>('a' + i % 26);
    std::uint16_t port = serve([big](RequestPtr request) { answer(request, big); });
    auto pieces = std::make_shared<std::vector<std::string>>();
    HTTPRequest request;
    request.url = url(port);
    request.streaming_callback = [pieces](std::string piece) { pieces->push_back(std::move(piece)); };
    HTTPResponse response = get(request);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "");
    EXPECT_GE(pieces->size(), 4u);
    std::string joined;
    for (const std::string& piece : *pieces) {
        EXPECT_LE(piece.size(), 64u * 1024);
        joined += piece;
    }
    EXPECT_EQ(joined, big);

    pieces->clear();
    std::uint16_t chunked = serve_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n");
    request.url = url(chunked);
    EXPECT_EQ(get(request).body, "");
    std::string all;
    for (const std::string& piece : *pieces) all += piece;
    EXPECT_EQ(all, "onetwo");
}

TEST_F(HTTPClientTest, EveryFailureClosesTheConnection) {
    std::vector<std::string> replies{
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "garbage\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd",
    };
    int closes = 0;
    for (const std::string& reply : replies) {
        std::uint16_t port = serve_raw(reply, After::hold);
        EXPECT_EQ(get(url(port)).code, 599) << reply;
        EXPECT_TRUE(wait_for_client_closes(++closes)) << reply;
    }
    EXPECT_EQ(client().active_count(), 0u);
}

// --- redirects --------------------------------------------------------------------------------------

TEST_F(HTTPClientTest, RedirectsAreFollowedRelativeOrAbsolute) {
    auto visits = std::make_shared<std::vector<Visit>>();
    std::uint16_t port = serve_redirects(visits);
    std::string start = url(port, "/go/302/go/301/go/307/final?x=1");
    HTTPResponse response = get(start);
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "GET /final?x=1 ");
    EXPECT_EQ(response.effective_url, url(port, "/final?x=1"));
    EXPECT_EQ(response.request.url, start);
    ASSERT_EQ(visits->size(), 4u);
    EXPECT_EQ((*visits)[1].uri, "/go/301/go/307/final?x=1");

    visits->clear();
    std::string target = "http://127.0.0.1:" + std::to_string(port) + "/final";
    response = get(url(port, "/to?u=" + tornado::url_escape(target)));
    EXPECT_EQ(response.body, "GET /final ");
    EXPECT_EQ(visits->size(), 2u);
}

TEST_F(HTTPClientTest, ARelativeLocationIsResolvedAgainstTheURL) {
    auto visits = std::make_shared<std::vector<Visit>>();
    std::uint16_t port = serve([visits](RequestPtr request) {
        visits->push_back({request->method, request->uri, "", false});
        if (request->path == "/a/b/c") {
            HTTPHeaders headers{{"Location", "../d?y=2"}};
            answer(request, "", 302, headers);
        } else {
            answer(request, request->uri);
        }
    });
    HTTPResponse response = get(url(port, "/a/b/c"));
    EXPECT_EQ(response.body, "/a/d?y=2");
    EXPECT_EQ(response.effective_url, url(port, "/a/d?y=2"));
}

TEST_F(HTTPClientTest, RedirectsChangeTheMethodAsTornadoDoes) {
    auto visits = std::make_shared<std::vector<Visit>>();
    std::uint16_t port = serve_redirects(visits);
    struct Case {
        int code;
        std::string method;
        std::string final_method;
        bool body_kept;
    };
    for (const Case& each : std::vector<Case>{{303, "POST", "GET", false},
                                              {303, "PUT", "GET", false},
                                              {303, "HEAD", "HEAD", false},
                                              {302, "POST", "GET", false},
                                              {301, "POST", "GET", false},
                                              {302, "PUT", "PUT", true},
                                              {307, "POST", "POST", true},
                                              {308, "PUT", "PUT", true}}) {
        visits->clear();
        HTTPRequest request;
        request.url = url(port, "/go/" + std::to_string(each.code) + "/echo");
        request.method = each.method;
        if (each.method != "HEAD") request.body = "payload";
        HTTPResponse response = get(request);
        EXPECT_EQ(response.code, 200) << each.code << " " << each.method;
        ASSERT_EQ(visits->size(), 2u);
        const Visit& last = visits->back();
        EXPECT_EQ(last.method, each.final_method) << each.code << " " << each.method;
        EXPECT_EQ(last.body, each.body_kept ? "payload" : "") << each.code << " " << each.method;
        if (!each.body_kept && each.method == "POST") {
            EXPECT_FALSE(last.has_content_type);
        }
    }
}

TEST_F(HTTPClientTest, MaxRedirectsStopsALoop) {
    auto visits = std::make_shared<std::vector<Visit>>();
    std::uint16_t port = serve_redirects(visits);
    HTTPRequest request;
    request.url = url(port, "/loop");
    request.max_redirects = 3;
    HTTPResponse response = get(request);
    EXPECT_EQ(response.code, 302);
    EXPECT_TRUE(response.error);
    EXPECT_EQ(response.headers.get("Location"), "/loop");
    EXPECT_EQ(visits->size(), 4u);  // the request and three redirects

    visits->clear();
    request.max_redirects = 5;
    EXPECT_EQ(failure(request).code(), 302);
    EXPECT_EQ(visits->size(), 6u);
}

TEST_F(HTTPClientTest, FollowRedirectsFalseReturnsTheRedirect) {
    auto visits = std::make_shared<std::vector<Visit>>();
    std::uint16_t port = serve_redirects(visits);
    HTTPRequest request;
    request.url = url(port, "/go/301/elsewhere");
    request.follow_redirects = false;
    HTTPResponse response = get(request);
    EXPECT_EQ(response.code, 301);
    EXPECT_EQ(response.body, "redirect body");
    EXPECT_EQ(response.headers.get("Location"), "/elsewhere");
    EXPECT_EQ(visits->size(), 1u);
}

TEST(HTTPClientURL, UrljoinFollowsRFC3986) {
    using tornado::detail::urljoin;
    std::string base = "http://h:1/a/b/c?q=1#f";
    EXPECT_EQ(urljoin(base, "d"), "http://h:1/a/b/d");
    EXPECT_EQ(urljoin(base, "./d"), "http://h:1/a/b/d");
    EXPECT_EQ(urljoin(base, "../d?x"), "http://h:1/a/d?x");
    EXPECT_EQ(urljoin(base, "../../../../d"), "http://h:1/d");
    EXPECT_EQ(urljoin(base, "/x/./y/../z"), "http://h:1/x/z");
    EXPECT_EQ(urljoin(base, "?y=2"), "http://h:1/a/b/c?y=2");
    EXPECT_EQ(urljoin(base, "#g"), "http://h:1/a/b/c?q=1#g");
    EXPECT_EQ(urljoin(base, ""), "http://h:1/a/b/c?q=1");
    EXPECT_EQ(urljoin(base, "//other:2/p"), "http://other:2/p");
    EXPECT_EQ(urljoin(base, "http://x/y"), "http://x/y");
    EXPECT_EQ(urljoin(base, "HTTPS://x/y"), "HTTPS://x/y");
    EXPECT_EQ(urljoin("http://h", "p"), "http://h/p");
    EXPECT_EQ(urljoin("http://h", "?p"), "http://h/?p");
    EXPECT_EQ(urljoin("http://h/a/", ".."), "http://h/");
}

// --- the queue, cancelling, closing ----------------------------------------------------------------

TEST_F(HTTPClientTest, MaxClientsQueuesTheRest) {
    auto in_flight = std::make_shared<int>(0);
    auto most = std::make_shared<int>(0);
    std::uint16_t port = serve([in_flight, most](RequestPtr request) {
        *most = std::max(*most, ++*in_flight);
        IOLoop::current().call_later(30ms, [in_flight, request] {
            --*in_flight;
            answer(request, request->path);
        });
    });
    AsyncHTTPClientOptions options;
    options.max_clients = 2;
    use_client(options);
    auto started = std::chrono::steady_clock::now();
    std::vector<Future<HTTPResponse>> fetches;
    for (int i = 0; i < 12; ++i) fetches.push_back(client().fetch(url(port, "/" + std::to_string(i))));
    EXPECT_EQ(client().active_count(), 2u);
    EXPECT_EQ(client().queued_count(), 10u);
    std::vector<HTTPResponse> responses = run_sync([&] { return tornado::multi(std::move(fetches)); });
    for (int i = 0; i < 12; ++i) EXPECT_EQ(responses[static_cast<std::size_t>(i)].body, "/" + std::to_string(i));
    EXPECT_EQ(*most, 2);
    EXPECT_GE(tornado::testing::seconds_since(started), 0.15);  // six rounds of 30 ms
    EXPECT_EQ(client().active_count(), 0u);
    EXPECT_EQ(client().queued_count(), 0u);
}

TEST_F(HTTPClientTest, AFetchWaitingTooLongInTheQueueTimesOut) {
    std::uint16_t hang = serve_raw("", After::hold);
    AsyncHTTPClientOptions options;
    options.max_clients = 1;
    use_client(options);
    HTTPRequest first;
    first.url = url(hang);
    first.request_timeout = 2s;
    Future<HTTPResponse> blocking = client().fetch(first, false);
    HTTPRequest second;
    second.url = url(hang);
    second.connect_timeout = 100ms;
    auto started = std::chrono::steady_clock::now();
    HTTPClientError error = failure(second);
    EXPECT_STREQ(error.what(), "Timeout in request queue");
    EXPECT_LT(tornado::testing::seconds_since(started), 1.5);
    EXPECT_FALSE(blocking.done());
    EXPECT_EQ(raw_log_->connections, 1);
}

TEST_F(HTTPClientTest, CancellingTheFutureAbandonsTheFetch) {
    std::uint16_t hang = serve_raw("", After::hold);
    EXPECT_THROW(run_sync([&] { return client().fetch(url(hang)); }, 100ms), tornado::TimeoutError);
    EXPECT_TRUE(wait_for_client_closes(1));
    EXPECT_EQ(client().active_count(), 0u);
}

TEST_F(HTTPClientTest, CloseEndsWhatIsInProgressAndQueued) {
    std::uint16_t hang = serve_raw("", After::hold);
    AsyncHTTPClientOptions options;
    options.max_clients = 1;
    use_client(options);
    Future<HTTPResponse> active = client().fetch(url(hang), false);
    Future<HTTPResponse> queued = client().fetch(url(hang), false);
    ASSERT_TRUE(tornado::testing::run_until(io_loop(), [&] { return raw_log_->heads.size() == 1; }));
    client().close();
    ASSERT_TRUE(tornado::testing::run_until(io_loop(), [&] { return active.done() && queued.done(); }));
    for (Future<HTTPResponse>* each : {&active, &queued}) {
        EXPECT_EQ(each->result().code, 599);
        EXPECT_THROW(each->result().rethrow(), HTTPClientError);
    }
    EXPECT_TRUE(wait_for_client_closes(1));
    EXPECT_THROW(client().fetch(url(hang)), std::runtime_error);
    client().close();  // twice is fine
}

// --- coroutines -------------------------------------------------------------------------------------

Task<std::string> fetch_twice(AsyncHTTPClient& client, std::string base) {
    HTTPRequest post;  // named, not braced in the co_await (g++ 12)
    post.url = base + "/go/307/echo";
    post.method = "POST";
    post.body = "one";
    HTTPResponse first = co_await client.fetch(post);
    HTTPResponse second = co_await client.fetch(base + "/plain", false);
    co_return first.body + "|" + second.body;
}

TEST_F(HTTPClientTest, FetchFromACoroutine) {
    auto visits = std::make_shared<std::vector<Visit>>();
    std::uint16_t port = serve_redirects(visits);
    std::string both = run_sync([&] { return fetch_twice(client(), "http://127.0.0.1:" + std::to_string(port)); });
    EXPECT_EQ(both, "POST /echo one|GET /plain ");
}

// --- the blocking client ----------------------------------------------------------------------------

std::unique_ptr<HTTPServer> hello_server() {
    return std::make_unique<HTTPServer>([](RequestPtr request) {
        if (request->path == "/missing") return answer(request, "no such page", 404);
        answer(request, "Hello, " + request->path.substr(1));
    });
}

TEST(BlockingHTTPClient, FetchesOnAThreadWithNoLoop) {
    tornado::testing::ServerThread server(hello_server);
    std::string body;
    bool loop_before = true;
    bool loop_after = true;
    std::thread worker([&] {
        loop_before = IOLoop::try_current() != nullptr;
        HTTPClient client;
        body = client.fetch("http://127.0.0.1:" + std::to_string(server.port()) + "/world").body;
        loop_after = IOLoop::try_current() != nullptr;
    });
    worker.join();
    EXPECT_FALSE(loop_before);
    EXPECT_EQ(body, "Hello, world");
    EXPECT_FALSE(loop_after);  // the private loop is gone, and no other was made
}

TEST(BlockingHTTPClient, ThrowsForANon2xxUnlessToldNotTo) {
    tornado::testing::ServerThread server(hello_server);
    HTTPClient client;
    std::string missing = "http://127.0.0.1:" + std::to_string(server.port()) + "/missing";
    try {
        client.fetch(missing);
        FAIL() << "no exception";
    } catch (const HTTPClientError& error) {
        EXPECT_EQ(error.code(), 404);
        ASSERT_TRUE(error.response());
        EXPECT_EQ(error.response()->body, "no such page");
    }
    HTTPResponse response = client.fetch(missing, /*raise_error=*/false);
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body, "no such page");

    std::uint16_t closed = unused_port();
    try {
        client.fetch("http://127.0.0.1:" + std::to_string(closed) + "/");
        FAIL() << "no exception";
    } catch (const HTTPClientError& error) {
        EXPECT_EQ(error.code(), 599);
    }
    client.close();
    EXPECT_THROW(client.fetch(missing), std::runtime_error);
}

TEST(BlockingHTTPClient, LeavesTheCallersLoopAlone) {
    tornado::testing::ServerThread server(hello_server);
    IOLoop loop;
    bool ran = false;
    loop.add_callback([&] { ran = true; });
    HTTPClient client;
    EXPECT_EQ(client.fetch("http://127.0.0.1:" + std::to_string(server.port()) + "/a").body, "Hello, a");
    EXPECT_EQ(&IOLoop::current(), &loop);
    EXPECT_FALSE(ran);  // the caller's loop did not run
    tornado::testing::run_turns(loop, 2);
    EXPECT_TRUE(ran);

    // Inside a callback of the running loop, too.
    std::string body = loop.run_sync([&] {
        HTTPClient inner;
        return inner.fetch("http://127.0.0.1:" + std::to_string(server.port()) + "/inner").body;
    }, 10s);
    EXPECT_EQ(body, "Hello, inner");
    EXPECT_EQ(&IOLoop::current(), &loop);
}

}  // namespace

namespace {

// --- Tornado's other HTTPRequest arguments ----------------------------------------------------

TEST_F(HTTPClientTest, BasicAuthFromTheRequestOrTheURL) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    HTTPRequest request;
    request.url = url(port, "/");
    request.auth_username = "Aladdin";
    request.auth_password = "open sesame";
    request.headers.add("Authorization", "replaced");
    EXPECT_EQ(get(request).code, 200);
    // The header of RFC 7617's example.
    EXPECT_TRUE(contains(raw_log_->heads.at(0), "\r\nAuthorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"))
        << raw_log_->heads.at(0);
    EXPECT_FALSE(contains(raw_log_->heads.at(0), "replaced"));
    // The URL's user information wins, and is not part of Host.
    request.url = "http://user:p%40ss@127.0.0.1:" + std::to_string(port) + "/";
    EXPECT_EQ(get(request).code, 200);
    const std::string& head = raw_log_->heads.at(1);
    EXPECT_TRUE(contains(head, "\r\nAuthorization: Basic " + tornado::detail::base64_encode("user:p%40ss") + "\r\n"))
        << head;
    EXPECT_TRUE(contains(head, "\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n")) << head;
    // Only basic, as Tornado's own client.
    HTTPRequest digest;
    digest.url = url(port, "/");
    digest.auth_username = "a";
    digest.auth_mode = "digest";
    EXPECT_EQ(failure(digest).message(), "unsupported auth_mode digest");
    EXPECT_EQ(tornado::encode_username_password("a", "b:c"), "a:b:c");
}

TEST_F(HTTPClientTest, IfModifiedSinceAndExpectAreSent) {
    std::uint16_t port = serve_raw("HTTP/1.1 304 Not Modified\r\n\r\n");
    HTTPRequest request;
    request.url = url(port, "/");
    request.if_modified_since = 1300000000;
    HTTPResponse response = get(request);
    EXPECT_EQ(response.code, 304);
    EXPECT_TRUE(contains(raw_log_->heads.at(0), "\r\nIf-Modified-Since: Sun, 13 Mar 2011 07:06:40 GMT\r\n"));
}

// The proxy (a canned server here) gets the whole URL and its own
// credentials; the server's Host is as without a proxy.
TEST_F(HTTPClientTest, AnHttpURLIsAskedOfTheProxyWhole) {
    std::uint16_t proxy = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nproxied!");
    HTTPRequest request;
    request.url = "http://example.com:8080/path?q=1#fragment";
    request.proxy_host = "127.0.0.1";
    request.proxy_port = proxy;
    request.proxy_username = "Aladdin";
    request.proxy_password = "open sesame";
    HTTPResponse response = get(request);
    EXPECT_EQ(response.body, "proxied!");
    ASSERT_EQ(raw_log_->heads.size(), 1u);
    const std::string& head = raw_log_->heads[0];
    EXPECT_TRUE(head.starts_with("GET http://example.com:8080/path?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n"))
        << head;
    EXPECT_TRUE(contains(head, "\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n")) << head;
}

// A proxy for every fetch, as Tornado's defaults allow.
TEST_F(HTTPClientTest, TheClientsDefaultsMayNameAProxy) {
    std::uint16_t proxy = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    AsyncHTTPClientOptions options;
    options.defaults.proxy_host = "127.0.0.1";
    options.defaults.proxy_port = proxy;
    use_client(options);
    EXPECT_EQ(get("http://example.com/page").code, 200);
    ASSERT_EQ(raw_log_->heads.size(), 1u);
    EXPECT_TRUE(raw_log_->heads[0].starts_with("GET http://example.com/page HTTP/1.1\r\n")) << raw_log_->heads[0];
}

TEST_F(HTTPClientTest, AProxyNeedsItsHostAndPort) {
    HTTPRequest request;
    request.url = "http://127.0.0.1:1/";
    request.proxy_host = "proxy.example";
    EXPECT_EQ(failure(request).message(), "a proxy needs both proxy_host and proxy_port");
    request.proxy_port = 3128;
    request.proxy_auth_mode = "digest";
    EXPECT_EQ(failure(request).message(), "unsupported proxy_auth_mode digest");
}

// A proxy that refuses the tunnel: its answer is the 599's message.
TEST_F(HTTPClientTest, AProxyThatRefusesTheTunnelIsA599) {
    std::uint16_t proxy =
        serve_raw("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    HTTPRequest request;
    request.url = "https://example.com/";
    request.proxy_host = "127.0.0.1";
    request.proxy_port = proxy;
    HTTPClientError error = failure(request);
    EXPECT_EQ(error.code(), 599);
    EXPECT_EQ(error.message(), "the proxy answered 407 Proxy Authentication Required to CONNECT example.com:443");
    EXPECT_TRUE(raw_log_->heads.at(0).starts_with("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"));
}

TEST_F(HTTPClientTest, TheHeaderCallbackGetsEachLineOfTheFinalHead) {
    std::uint16_t port = serve_raw(
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nx-one: 1\r\n\r\nok");
    auto lines = std::make_shared<std::vector<std::string>>();
    HTTPRequest request;
    request.url = url(port, "/");
    request.header_callback = [lines](std::string line) { lines->push_back(std::move(line)); };
    EXPECT_EQ(get(request).body, "ok");
    EXPECT_EQ(*lines, (std::vector<std::string>{"HTTP/1.1 200 Fine\r\n", "Content-Length: 2\r\n",
                                                "X-One: 1\r\n", "\r\n"}));
}

// The body in pieces: chunked without a Content-Length, as it is with one.
TEST_F(HTTPClientTest, ABodyProducerSendsItsPieces) {
    auto seen = std::make_shared<std::vector<std::string>>();
    std::uint16_t port = serve([seen](RequestPtr request) {
        seen->push_back(request->headers.get("Transfer-Encoding") + "|" +
                        request->headers.get("Content-Length") + "|" + request->body);
        answer(request, "got " + request->body);
    });
    HTTPRequest request;
    request.url = url(port, "/");
    request.method = "PUT";
    request.body_producer = [](std::function<Future<void>(std::string)> write) -> Future<void> {
        write("one ");
        write("");  // sends nothing (an empty chunk would end the body)
        return write("two");
    };
    EXPECT_EQ(get(request).body, "got one two");
    request.headers.add("Content-Length", "7");
    EXPECT_EQ(get(request).body, "got one two");
    EXPECT_EQ(*seen, (std::vector<std::string>{"chunked||one two", "|7|one two"}));
    HTTPRequest both = request;
    both.body = "x";
    EXPECT_EQ(failure(both).message(), "body and body_producer are mutually exclusive");
}

// Our server answers 100 Continue; the body goes out after it.
TEST_F(HTTPClientTest, Expect100ContinueSendsTheBodyAfterTheServerAgrees) {
    auto expect = std::make_shared<std::string>();
    std::uint16_t port = serve([expect](RequestPtr request) {
        *expect = request->headers.get("Expect");
        answer(request, "got " + request->body);
    });
    HTTPRequest request;
    request.url = url(port, "/");
    request.method = "POST";
    request.body = "the body";
    request.expect_100_continue = true;
    EXPECT_EQ(get(request).body, "got the body");
    EXPECT_EQ(*expect, "100-continue");
    request.body.reset();
    request.body_producer = [](std::function<Future<void>(std::string)> write) { return write("made"); };
    EXPECT_EQ(get(request).body, "got made");
}

// A server that answers at once (a refusal) never gets the body.
TEST_F(HTTPClientTest, Expect100ContinueSendsNoBodyToAServerThatAnswersFirst) {
    std::uint16_t port = serve_raw("HTTP/1.1 413 Too Big\r\nContent-Length: 0\r\n\r\n", After::hold);
    HTTPRequest request;
    request.url = url(port, "/");
    request.method = "POST";
    request.body = std::string(100000, 'b');
    request.expect_100_continue = true;
    EXPECT_EQ(get(request).code, 413);
    ASSERT_EQ(raw_log_->heads.size(), 1u);
    EXPECT_TRUE(contains(raw_log_->heads[0], "\r\nExpect: 100-continue\r\n"));
    ASSERT_TRUE(wait_for_client_closes(1));  // and nothing came after the head
}

TEST_F(HTTPClientTest, TimeInfoAndStartTime) {
    std::uint16_t port = serve_redirects(std::make_shared<std::vector<Visit>>());
    double before = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    HTTPResponse response = get(url(port, "/go/302/echo"));
    EXPECT_EQ(response.code, 200);
    EXPECT_GE(response.start_time, before - 1);
    EXPECT_LE(response.start_time, before + 5);
    const std::map<std::string, double>& times = response.time_info;
    for (const char* name : {"queue", "connect", "starttransfer", "redirect", "total"}) {
        EXPECT_TRUE(times.contains(name)) << name;
    }
    EXPECT_LE(times.at("redirect"), times.at("connect"));
    EXPECT_LE(times.at("connect"), times.at("starttransfer"));
    EXPECT_LE(times.at("starttransfer"), times.at("total"));
    EXPECT_EQ(times.at("total"), response.request_time);
    EXPECT_FALSE(get(url(port, "/echo")).time_info.contains("redirect"));
}

TEST_F(HTTPClientTest, TheClientsDefaultsFillWhatARequestLeftAlone) {
    std::uint16_t port = serve_raw("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    AsyncHTTPClientOptions options;
    options.defaults.user_agent = "default-agent";
    options.defaults.headers.add("X-Default", "1");
    options.defaults.headers.add("X-Both", "default");
    options.defaults.network_interface = "127.0.0.1";
    options.defaults.allow_ipv6 = false;
    use_client(options);
    HTTPRequest request;
    request.url = "http://localhost:" + std::to_string(port) + "/";
    request.headers.add("X-Both", "mine");
    EXPECT_EQ(get(request).code, 200);
    request.user_agent = "my-agent";
    EXPECT_EQ(get(request).code, 200);
    ASSERT_EQ(raw_log_->heads.size(), 2u);
    EXPECT_TRUE(contains(raw_log_->heads[0], "\r\nUser-Agent: default-agent\r\n")) << raw_log_->heads[0];
    EXPECT_TRUE(contains(raw_log_->heads[0], "\r\nX-Default: 1\r\n"));
    EXPECT_TRUE(contains(raw_log_->heads[0], "\r\nX-Both: mine\r\n"));
    EXPECT_FALSE(contains(raw_log_->heads[0], "default\r\n"));
    EXPECT_TRUE(contains(raw_log_->heads[1], "\r\nUser-Agent: my-agent\r\n")) << raw_log_->heads[1];
}

}  // namespace
