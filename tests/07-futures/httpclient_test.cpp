// httpclient_test.cpp: AsyncHTTPClient (httpclient.h) against chapter 05's
// HTTPServer, and against hand-written responses for what that server
// never sends (a body that runs until the close, garbage, a cut-off body).
// Server and client share the test's loop. Graded with task 4
// (Task4_AsyncHTTPClient): a fetch runs the learner's parse_response_line
// and response_framing, on the learner's Future, then() and multi(), so it
// needs tasks 1 to 3 as well.
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "future_fixture.h"
#include "httpclient.h"
#include "httpserver.h"
#include "multi.h"
#include "silent_server.h"
#include "socket.h"
#include "tcpserver.h"

namespace course::testing {
namespace {

using Request = std::shared_ptr<HTTPServerRequest>;

void send_chunked(const Request& request, const std::vector<std::string>& chunks) {
    request->connection->write_headers(200, HTTPHeaders());
    for (const std::string& chunk : chunks) request->connection->write(chunk);
    request->connection->finish();
}

// The test server's application.
void route(const Request& request, IOLoop& loop) {
    const std::string& path = request->path;
    if (path == "/") return request->reply(200, "Hello, world");
    if (path == "/chunked") return send_chunked(request, {"Hello, ", "chunked ", "world"});
    if (path == "/big") return request->reply(200, std::string(1 << 20, 'b'));
    if (path == "/big-chunked") {
        return send_chunked(request, std::vector<std::string>(64, std::string(16 * 1024, 'c')));
    }
    if (path == "/created") return request->reply(201, "made");
    if (path == "/pointer") return request->reply(200, "/target");
    if (path == "/target") return request->reply(200, "you found me");
    if (path == "/echo") {
        return request->reply(200, request->method + " " + request->body + " " +
                                       request->headers.get("X-Test", "(none)"));
    }
    if (path == "/slow") {
        int ms = std::stoi(request->arguments.at("ms").front());
        loop.call_later(std::chrono::milliseconds(ms), [request] { request->reply(200, "slow"); });
        return;
    }
    request->reply(404, "Not found: " + path);
}

// Reads the request head, answers `response` byte for byte, closes.
class CannedServer : public TCPServer {
public:
    CannedServer(IOLoop& loop, std::string response) : TCPServer(loop), response_(std::move(response)) {}

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
        stream->read_until("\r\n\r\n", [stream, response = response_](std::string) {
            stream->write(response, [stream] { stream->close(); });
        });
    }

private:
    std::string response_;
};

// Accepts and never answers.
class Task4_AsyncHTTPClient : public LoopTest {
protected:
    void SetUp() override { server.listen(0); }

    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(server.port()) + path;
    }
    static std::string url_of(const TCPServer& other, const std::string& path) {
        return "http://127.0.0.1:" + std::to_string(other.port()) + path;
    }

    // The response a fetch of `canned` (raw response bytes) gives.
    Future<HTTPResponse> fetch_canned(const std::string& canned,
                                      const std::string& method = "GET") {
        canned_ = std::make_unique<CannedServer>(loop, canned);
        canned_->listen(0);
        return wait(client.fetch(HTTPRequest{.url = url_of(*canned_, "/"), .method = method}));
    }

    // The status() of the HTTPInputError a done fetch failed with; 0 if it
    // did not fail with one.
    static int refusal_status(const Future<HTTPResponse>& fetched) {
        try {
            fetched.result();
        } catch (const HTTPInputError& error) {
            return error.status();
        } catch (...) {
        }
        return 0;
    }

    HTTPServer server{[this](Request request) { route(request, loop); }, loop};
    AsyncHTTPClient client{loop};

private:
    std::unique_ptr<CannedServer> canned_;
};

TEST_F(Task4_AsyncHTTPClient, FetchesAContentLengthBody) {
    auto fetched = wait(client.fetch(url("/")));
    const HTTPResponse& response = fetched.result();
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.reason, "OK");
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.headers.get("Content-Length"), "12");
    EXPECT_EQ(response.effective_url, url("/"));
    EXPECT_GT(response.request_time.count(), 0);
    EXPECT_EQ(response.error, nullptr);
}

TEST_F(Task4_AsyncHTTPClient, FetchesAChunkedBody) {
    auto fetched = wait(client.fetch(url("/chunked")));
    EXPECT_EQ(fetched.result().code, 200);
    EXPECT_EQ(fetched.result().headers.get("Transfer-Encoding"), "chunked");
    EXPECT_EQ(fetched.result().body, "Hello, chunked world");
}

TEST_F(Task4_AsyncHTTPClient, FetchesABodyThatEndsWhenTheServerCloses) {
    auto fetched = fetch_canned("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    EXPECT_EQ(fetched.result().code, 200);
    EXPECT_EQ(fetched.result().body, "until the end");
}

TEST_F(Task4_AsyncHTTPClient, FetchesLargeBodiesBothWays) {
    auto plain = client.fetch(url("/big"));
    auto chunked = client.fetch(url("/big-chunked"));
    wait(plain);
    wait(chunked);
    EXPECT_EQ(plain.result().body, std::string(1 << 20, 'b'));
    EXPECT_EQ(chunked.result().body, std::string(1 << 20, 'c'));
}

TEST_F(Task4_AsyncHTTPClient, ACodeOutside2xxIsAnHTTPClientError) {
    auto fetched = wait(client.fetch(url("/missing")));
    try {
        fetched.result();
        FAIL() << "a 404 should fail the Future";
    } catch (const HTTPClientError& error) {
        EXPECT_EQ(error.code(), 404);
        EXPECT_STREQ(error.what(), "HTTP 404: Not Found");
        ASSERT_NE(error.response(), nullptr);
        EXPECT_EQ(error.response()->body, "Not found: /missing");
    }
}

TEST_F(Task4_AsyncHTTPClient, WithoutRaiseErrorA404IsAResponseThatCarriesTheError) {
    auto fetched = wait(client.fetch(url("/missing"), /*raise_error=*/false));
    const HTTPResponse& response = fetched.result();
    EXPECT_EQ(response.code, 404);
    EXPECT_EQ(response.body, "Not found: /missing");
    ASSERT_NE(response.error, nullptr);
    EXPECT_THROW(response.rethrow(), HTTPClientError);
}

TEST_F(Task4_AsyncHTTPClient, Any2xxIsASuccess) {
    auto fetched = wait(client.fetch(url("/created")));
    EXPECT_EQ(fetched.result().code, 201);
    EXPECT_EQ(fetched.result().body, "made");
    EXPECT_NO_THROW(fetched.result().rethrow());
}

TEST_F(Task4_AsyncHTTPClient, ARefusedConnectionIsAnExceptionEvenWithoutRaiseError) {
    std::uint16_t port = 0;
    {
        FileDescriptor listener = listen_tcp("127.0.0.1", 0);
        port = local_port(listener.get());
    }
    auto fetched = wait(client.fetch("http://127.0.0.1:" + std::to_string(port) + "/", false));
    try {
        fetched.result();
        FAIL() << "a refused connection should fail the Future";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ECONNREFUSED) << error.what();
    }
}

TEST_F(Task4_AsyncHTTPClient, AServerTooSlowTimesOut) {
    auto started = IOLoop::time();
    auto fetched = client.fetch(HTTPRequest{.url = url("/slow?ms=3000"), .request_timeout = 200ms});
    wait(fetched, 2s);
    auto took = IOLoop::time() - started;
    try {
        fetched.result();
        FAIL() << "the fetch should time out";
    } catch (const HTTPTimeoutError& error) {
        EXPECT_EQ(error.code(), 599);
        EXPECT_NE(std::string(error.what()).find("Timeout"), std::string::npos) << error.what();
    }
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 1s) << "the timeout should end the fetch, not the server's answer";
}

TEST_F(Task4_AsyncHTTPClient, AServerThatNeverAnswersTimesOut) {
    SilentServer silent(loop);
    silent.listen(0);
    auto fetched = client.fetch(HTTPRequest{.url = url_of(silent, "/"), .request_timeout = 100ms});
    wait(fetched, 2s);
    EXPECT_THROW(fetched.result(), HTTPTimeoutError);
}

TEST_F(Task4_AsyncHTTPClient, SendsTheMethodBodyAndHeaders) {
    HTTPRequest request{.url = url("/echo"), .method = "POST", .body = "some data"};
    request.headers.add("X-Test", "yes");
    auto fetched = wait(client.fetch(request));
    EXPECT_EQ(fetched.result().body, "POST some data yes");
    auto put = wait(client.fetch(HTTPRequest{.url = url("/echo"), .method = "PUT"}));
    EXPECT_EQ(put.result().body, "PUT  (none)");
}

TEST_F(Task4_AsyncHTTPClient, AHeadResponseHasNoBody) {
    auto fetched = wait(client.fetch(HTTPRequest{.url = url("/"), .method = "HEAD"}));
    EXPECT_EQ(fetched.result().code, 200);
    EXPECT_EQ(fetched.result().headers.get("Content-Length"), "12");
    EXPECT_EQ(fetched.result().body, "");

    // The headers of the page a GET would get, which the client could not
    // decode (gzip): it has nothing to decode, so it takes the answer.
    auto gzipped = fetch_canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                                "HEAD");
    EXPECT_EQ(error_message(gzipped), "")
        << "a HEAD response has no body, whatever its framing headers say: the fetch failed";
    if (!gzipped.exception()) {
        EXPECT_EQ(gzipped.result().body, "");
    }
}

TEST_F(Task4_AsyncHTTPClient, AMalformedResponseIsAnHTTPInputError) {
    auto fetched = fetch_canned("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    EXPECT_THROW(fetched.result(), HTTPInputError);
    EXPECT_EQ(refusal_status(fetched), 502);
}

// What the client refuses in a response is a 502 (client_httputil.h),
// wherever it is found: the status line, a header, the framing headers, a
// chunk's size line (chapter 05's parsers would say 400, for a request).
TEST_F(Task4_AsyncHTTPClient, EveryRefusedResponseIsA502) {
    for (const char* canned : {
             "HTTP/1.1 2000 OK\r\n\r\n",
             "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
         }) {
        auto fetched = fetch_canned(canned);
        EXPECT_EQ(refusal_status(fetched), 502)
            << "a response the client refuses fails the fetch with an HTTPInputError of "
               "status 502: " << canned;
    }
}

TEST_F(Task4_AsyncHTTPClient, ABodyCutShortIsAStreamClosedError) {
    auto fetched = fetch_canned("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
    EXPECT_THROW(fetched.result(), StreamClosedError);
}

TEST_F(Task4_AsyncHTTPClient, ABrokenChunkIsAnHTTPInputError) {
    auto fetched = fetch_canned(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n");
    EXPECT_THROW(fetched.result(), HTTPInputError);
    EXPECT_EQ(refusal_status(fetched), 502);
}

TEST_F(Task4_AsyncHTTPClient, ChunkedTrailersAreSkipped) {
    auto fetched = fetch_canned(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    EXPECT_EQ(fetched.result().body, "hello world");
}

TEST_F(Task4_AsyncHTTPClient, AURLItCannotFetchFailsTheFutureAtOnce) {
    Future<HTTPResponse> https(loop);
    ASSERT_NO_THROW(https = client.fetch("https://127.0.0.1/"));
    EXPECT_TRUE(https.done());
    EXPECT_THROW(https.result(), std::invalid_argument);
    EXPECT_THROW(wait(client.fetch("http://example.com/")).result(), std::invalid_argument);
}

TEST_F(Task4_AsyncHTTPClient, FetchesChainWithThen) {
    // "Fetch a URL, then fetch the URL its body names, then combine."
    auto combined = client.fetch(url("/pointer"))
                        .then([this](HTTPResponse& first) { return client.fetch(url(first.body)); })
                        .then([](HTTPResponse& second) { return "second said: " + second.body; });
    wait(combined);
    EXPECT_EQ(combined.result(), "second said: you found me");
}

TEST_F(Task4_AsyncHTTPClient, AFailureInAChainSkipsTheRest) {
    bool second_fetch_ran = false;
    auto combined = client.fetch(url("/missing"))
                        .then([&](HTTPResponse& first) {
                            second_fetch_ran = true;
                            return client.fetch(url(first.body));
                        });
    wait(combined);
    EXPECT_THROW(combined.result(), HTTPClientError);
    EXPECT_FALSE(second_fetch_ran);
}

TEST_F(Task4_AsyncHTTPClient, FetchesWaitedForWithMultiRunInParallel) {
    auto started = IOLoop::time();
    auto both = multi(std::vector<Future<HTTPResponse>>{client.fetch(url("/slow?ms=300")),
                                                        client.fetch(url("/slow?ms=300"))});
    wait(both);
    auto took = IOLoop::time() - started;
    ASSERT_EQ(both.result().size(), 2u);
    EXPECT_EQ(both.result()[0].body, "slow");
    EXPECT_EQ(both.result()[1].body, "slow");
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 550ms) << "two 300 ms fetches at once should take about 300 ms, not 600";
}

TEST_F(Task4_AsyncHTTPClient, ManyFetchesAtOnce) {
    std::vector<Future<HTTPResponse>> fetches;
    for (int i = 0; i < 50; ++i) fetches.push_back(client.fetch(url(i % 2 ? "/" : "/chunked")));
    auto all = wait(multi(fetches));
    for (int i = 0; i < 50; ++i) {
        EXPECT_EQ(all.result()[i].body, i % 2 ? "Hello, world" : "Hello, chunked world");
    }
}

TEST_F(Task4_AsyncHTTPClient, ALoopDestroyedMidFetchFreesTheFetch) {
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    {
        IOLoop other;
        SilentServer silent(other);  // on the other loop too: it never answers
        silent.listen(0);
        AsyncHTTPClient other_client(other);
        other_client.fetch(url_of(silent, "/")).add_done_callback([token](Future<HTTPResponse>) {});
        token.reset();
        other.call_later(50ms, [&other] { other.stop(); });  // connected, the head awaited
        other.start();
        silent.stop();
    }
    EXPECT_TRUE(watch.expired()) << "a fetch in flight outlived its loop (a leak)";
}

TEST_F(Task4_AsyncHTTPClient, FetchesOutliveTheClientThatStartedThem) {
    Future<HTTPResponse> fetched(loop);
    {
        AsyncHTTPClient short_lived(loop);
        fetched = short_lived.fetch(url("/"));
    }
    EXPECT_EQ(wait(fetched).result().body, "Hello, world");
}

}  // namespace
}  // namespace course::testing
