// http_server_test.cpp: HTTPServer through a socket, with raw bytes. The
// request as the application sees it, responses (fixed, chunked, HEAD),
// keep-alive and pipelining, Expect: 100-continue, a callback that throws.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "http_fixture.h"

namespace course::testing {
namespace {

// --- the request the application sees ------------------------------------------

TEST_F(HTTPServerTest, TheApplicationSeesEveryPartOfTheRequest) {
    std::mutex mutex;
    HTTPServerRequest seen;
    start([&](std::shared_ptr<HTTPServerRequest> request) {
        {
            std::lock_guard lock(mutex);
            seen = *request;
            seen.connection.reset();  // the copy must not outlive the loop's thread
        }
        request->reply(200, "ok");
    });
    Response response = fetch(
        "POST /a%20b/c?x=1&y=two+words&x=%33 HTTP/1.1\r\nHost: test\r\nX-Custom:  value \r\n"
        "x-custom: second\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_EQ(response.status, 200);
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen.method, "POST");
    EXPECT_EQ(seen.uri, "/a%20b/c?x=1&y=two+words&x=%33");
    EXPECT_EQ(seen.path, "/a%20b/c");
    EXPECT_EQ(seen.query, "x=1&y=two+words&x=%33");
    EXPECT_EQ(seen.version, "HTTP/1.1");
    EXPECT_EQ(seen.headers.get_list("X-CUSTOM"), (std::vector<std::string>{"value", "second"}));
    EXPECT_EQ(seen.body, "hello");
    EXPECT_EQ(seen.remote_ip, "127.0.0.1");
    EXPECT_TRUE(seen.remote_address.starts_with("127.0.0.1:"));
    EXPECT_EQ(seen.arguments["x"], (std::vector<std::string>{"1", "3"}));
    EXPECT_EQ(seen.arguments["y"], (std::vector<std::string>{"two words"}));
    EXPECT_EQ(seen.query_arguments, seen.arguments);
}

TEST_F(HTTPServerTest, FormBodiesBecomeArgumentsToo) {
    std::mutex mutex;
    QueryArguments arguments;
    QueryArguments body_arguments;
    start([&](std::shared_ptr<HTTPServerRequest> request) {
        {
            std::lock_guard lock(mutex);
            arguments = request->arguments;
            body_arguments = request->body_arguments;
        }
        request->reply(200, "ok");
    });
    fetch(post_request("/form?a=query", "a=body&b=c+d",
                       "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n"));
    std::lock_guard lock(mutex);
    EXPECT_EQ(arguments["a"], (std::vector<std::string>{"query", "body"}));
    EXPECT_EQ(arguments["b"], (std::vector<std::string>{"c d"}));
    EXPECT_EQ(body_arguments.count("a"), 1u);
    EXPECT_EQ(body_arguments["a"], (std::vector<std::string>{"body"}));
}

TEST_F(HTTPServerTest, BlankLinesBeforeARequestAreIgnored) {
    start();
    TestClient client(port());
    client.send("\r\n\r\n\r\n" + get_request("/"));
    EXPECT_EQ(read_response(client).body, "Hello, world");
}

// --- responses ----------------------------------------------------------------------

TEST_F(HTTPServerTest, ResponseHasStatusLineLengthDateAndServer) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        HTTPHeaders headers;
        headers.add("Content-Type", "text/plain");
        request->reply(404, "no such page", headers);
    });
    Response response = fetch(get_request("/missing"));
    EXPECT_TRUE(response.head.starts_with("HTTP/1.1 404 Not Found\r\n")) << escaped(response.head);
    EXPECT_EQ(response.header("content-length"), "12");
    EXPECT_EQ(response.header("content-type"), "text/plain");
    EXPECT_TRUE(response.header("date").ends_with(" GMT")) << escaped(response.header("date"));
    EXPECT_FALSE(response.header("server").empty());
    EXPECT_EQ(response.body, "no such page");
}

TEST_F(HTTPServerTest, HeadGetsTheHeadersWithoutTheBody) {
    start();
    TestClient client(port());
    client.send(get_request("/", "", "HEAD"));
    Response head = read_response(client, /*no_body=*/true);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("content-length"), "12");  // what GET would send
    // The next response on the connection starts right after the headers:
    // had the body been sent, this would read "Hello, world" as a status line.
    client.send(get_request("/"));
    Response get = read_response(client);
    EXPECT_EQ(get.status, 200);
    EXPECT_EQ(get.body, "Hello, world");
}

TEST_F(HTTPServerTest, HeadToAStreamingHandlerIsNotChunked) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, {});
        request->connection->write("some data");
        request->connection->finish();
    });
    TestClient client(port());
    client.send(get_request("/", "", "HEAD"));
    Response head = read_response(client, true);
    EXPECT_FALSE(head.has("transfer-encoding"));
    client.send(get_request("/"));
    EXPECT_EQ(read_response(client).body, "some data");
}

TEST_F(HTTPServerTest, NoContentResponsesHaveNoBody) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(request->path == "/204" ? 204 : 304, {});
        request->connection->write("ignored");
        request->connection->finish();
    });
    TestClient client(port());
    client.send(get_request("/204"));
    EXPECT_EQ(read_response(client).status, 204);
    client.send(get_request("/304"));
    Response response = read_response(client);
    EXPECT_EQ(response.status, 304);
    EXPECT_FALSE(response.has("transfer-encoding"));
    client.send(get_request("/204"));
    EXPECT_EQ(read_response(client).status, 204);  // nothing stray in between
}

TEST_F(HTTPServerTest, ResponsesWithoutLengthAreChunked) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, {});
        request->connection->write("hello");
        request->connection->write("");  // an empty write must not end the body
        request->connection->write(std::string(26, 'x'));
        request->connection->finish();
    });
    TestClient client(port());
    client.send(get_request("/"));
    Response response = read_response(client);
    EXPECT_EQ(response.header("transfer-encoding"), "chunked");
    EXPECT_FALSE(response.has("content-length"));
    EXPECT_EQ(response.raw_body, "5\r\nhello\r\n1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n");
    EXPECT_EQ(response.body, "hello" + std::string(26, 'x'));
    client.send(get_request("/"));  // and the connection is still good
    EXPECT_EQ(read_response(client).status, 200);
}

// Writes "chunk I" lines one by one, each once the one before has gone to
// the kernel and 10 ms have passed, then finishes.
void send_chunks(IOLoop& loop, const std::shared_ptr<HTTPServerRequest>& request, int i) {
    if (i == 3) return request->connection->finish();
    request->connection->write("chunk " + std::to_string(i) + "\n", [&loop, request, i] {
        loop.call_later(10ms, [&loop, request, i] { send_chunks(loop, request, i + 1); });
    });
}

TEST_F(HTTPServerTest, ChunksCanBeWrittenLaterFromTimers) {
    start([this](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, {});
        send_chunks(loop, request, 0);
    });
    Response response = fetch(get_request("/"));
    EXPECT_EQ(response.header("transfer-encoding"), "chunked");
    EXPECT_EQ(response.body, "chunk 0\nchunk 1\nchunk 2\n");
}

TEST_F(HTTPServerTest, HTTP10GetsABodyEndedByClose) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, {});
        request->connection->write("streamed");
        request->connection->finish();
    });
    TestClient client(port());
    client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    Response response = read_response(client);
    EXPECT_FALSE(response.has("transfer-encoding"));  // 1.0 does not know chunked
    EXPECT_EQ(response.header("connection"), "close");
    EXPECT_EQ(response.body, "streamed");
}

TEST_F(HTTPServerTest, ACallbackThatThrowsGets500AndTheServerGoesOn) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        if (request->path == "/crash") throw std::runtime_error("crash on purpose");
        request->reply(200, "Hello, world");
    });
    TestClient client(port());
    client.send(get_request("/crash"));
    Response response = read_response(client);
    EXPECT_EQ(response.status, 500);
    EXPECT_NE(response.body.find("application failed"), std::string::npos);
    EXPECT_TRUE(client.closed_by_server(2s));
    expect_still_serving();
}

// --- keep-alive and pipelining (task 4) ------------------------------------------------

class Task4_Connection : public HTTPServerTest {};

TEST_F(Task4_Connection, HTTP11KeepsTheConnectionOpen) {
    start();
    TestClient client(port());
    for (int i = 0; i < 3; ++i) {
        client.send(get_request("/"));
        Response response = read_response(client);
        EXPECT_EQ(response.body, "Hello, world");
        EXPECT_FALSE(response.has("connection")) << escaped(response.head);
    }
    EXPECT_FALSE(client.closed_by_server(100ms));
}

TEST_F(Task4_Connection, ConnectionCloseClosesAfterTheResponse) {
    start();
    TestClient client(port());
    client.send(get_request("/", "Connection: close\r\n"));
    Response response = read_response(client);
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.header("connection"), "close");
    EXPECT_TRUE(client.closed_by_server(2s));
}

TEST_F(Task4_Connection, HTTP10ClosesUnlessAskedToKeepAlive) {
    start();
    TestClient closing(port());
    closing.send("GET / HTTP/1.0\r\n\r\n");
    Response response = read_response(closing);
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.header("connection"), "close");
    EXPECT_TRUE(closing.closed_by_server(2s));

    TestClient keeping(port());
    for (int i = 0; i < 2; ++i) {
        keeping.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        response = read_response(keeping);
        EXPECT_EQ(response.body, "Hello, world");
        EXPECT_EQ(lower_case(response.header("connection")), "keep-alive");
    }
    EXPECT_FALSE(keeping.closed_by_server(100ms));
}

// Three requests in one packet; the application answers the first one last
// (from a timer), yet the responses come back in request order.
TEST_F(Task4_Connection, PipelinedRequestsAreAnsweredInOrder) {
    std::atomic<int> in_flight{0};
    std::atomic<int> most_in_flight{0};
    start([&](std::shared_ptr<HTTPServerRequest> request) {
        int now = ++in_flight;
        if (now > most_in_flight) most_in_flight = now;
        int delay = std::stoi(request->arguments["ms"].front());
        loop.call_later(std::chrono::milliseconds(delay), [&, request] {
            --in_flight;
            request->reply(200, request->path);
        });
    });
    TestClient client(port());
    client.send(get_request("/first?ms=80") + get_request("/second?ms=0") +
                get_request("/third?ms=30"));
    EXPECT_EQ(read_response(client).body, "/first");
    EXPECT_EQ(read_response(client).body, "/second");
    EXPECT_EQ(read_response(client).body, "/third");
    // One request at a time: the second was not read before the first was answered.
    EXPECT_EQ(most_in_flight.load(), 1);
}

// What the application saw of two pipelined requests: how many it was
// given, how many answers had gone to the kernel (and that count at the
// moment each request was given to it), and how many loop turns have run
// since an answer was queued. Shared with the loop's callbacks, which may
// outlive the test's own variables.
struct PipelineLog {
    std::mutex mutex;
    std::condition_variable changed;
    int given = 0;
    int written = 0;
    std::vector<int> written_when_given;
    int turns_after_finish = 0;
};

// Catches reading the next request as soon as the answer is queued instead
// of once it is written: a client that pipelines and reads nothing would
// then make the server take request after request and keep every answer in
// memory. Each answer here is 16 MiB, four times what a loopback
// connection's kernel buffers hold by default (the server's send buffer is
// 4 MiB at most; the client's receive buffer grows only as it reads), so
// the first answer cannot all be written while the client reads nothing.
// (On a machine whose buffers hold 16 MiB the test would stop seeing the
// mistake; it cannot fail a correct server.)
TEST_F(Task4_Connection, TheNextRequestIsReadOnlyOnceTheAnswerIsWritten) {
    constexpr std::size_t kAnswerSize = 16 * 1024 * 1024;
    auto log = std::make_shared<PipelineLog>();
    start([this, log](std::shared_ptr<HTTPServerRequest> request) {
        {
            std::lock_guard lock(log->mutex);
            log->written_when_given.push_back(log->written);
            ++log->given;
            log->changed.notify_all();
        }
        HTTPHeaders headers;
        headers.add("Content-Length", std::to_string(kAnswerSize));
        request->connection->write_headers(200, std::move(headers));
        request->connection->write(std::string(kAnswerSize, 'a'), [log] {
            std::lock_guard lock(log->mutex);
            ++log->written;
            log->changed.notify_all();
        });
        request->connection->finish();
        // The loop runs callbacks in the order they were added. A server
        // that starts the next read inside finish() has added its callback
        // already (the second request is in the stream's buffer), so that
        // request reaches the application before this one runs.
        loop.add_callback([log] {
            std::lock_guard lock(log->mutex);
            ++log->turns_after_finish;
            log->changed.notify_all();
        });
    });
    TestClient client(port());
    client.send(get_request("/first") + get_request("/second"));
    {
        std::unique_lock lock(log->mutex);
        ASSERT_TRUE(log->changed.wait_for(lock, 10s, [&] { return log->turns_after_finish == 1; }));
        EXPECT_EQ(log->given, 1)
            << "the next request was read before the answer was written (the client has read "
               "nothing, so the first answer cannot all have gone to the kernel)";
    }
    for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(read_response(client).body.size(), kAnswerSize);
    }
    std::unique_lock lock(log->mutex);
    ASSERT_TRUE(log->changed.wait_for(lock, 10s, [&] { return log->written == 2; }));
    EXPECT_EQ(log->written_when_given, (std::vector<int>{0, 1}))
        << "the next request was read before the answer was written: the second request must "
           "reach the application only once the first answer has gone to the kernel";
}

TEST_F(Task4_Connection, ManyPipelinedRequestsInOnePacket) {
    start([](std::shared_ptr<HTTPServerRequest> request) { request->reply(200, request->query); });
    std::string batch;
    for (int i = 0; i < 200; ++i) batch += get_request("/?" + std::to_string(i));
    TestClient client(port());
    client.send(batch);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(read_response(client).body, std::to_string(i));
}

TEST_F(Task4_Connection, PipelinedPostsKeepTheirBodiesApart) {
    start();
    TestClient client(port());
    client.send(post_request("/", "first") + post_request("/", "") + post_request("/", "third!"));
    EXPECT_EQ(read_response(client).body, "first");
    EXPECT_EQ(read_response(client).body, "");
    EXPECT_EQ(read_response(client).body, "third!");
}

TEST_F(Task4_Connection, TheBodyIsExactlyContentLengthBytes) {
    start();
    TestClient client(port());
    // Four bytes of body, then the next request: it must not be swallowed.
    client.send("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd" + get_request("/"));
    EXPECT_EQ(read_response(client).body, "abcd");
    EXPECT_EQ(read_response(client).body, "Hello, world");
}

// Catches reading the next request without the header time limit: a
// kept-alive connection that then says nothing is closed like a new one.
TEST_F(Task4_Connection, AKeptAliveConnectionThatGoesQuietIsClosed) {
    HTTP1ConnectionParameters params;
    params.header_timeout = 1s;
    start(hello_or_echo, params);
    TestClient client(port());
    client.send(get_request("/"));
    EXPECT_EQ(read_response(client).body, "Hello, world");
    EXPECT_TRUE(client.closed_by_server(10s));
}

// Catches reading the next request without max_header_size: the second
// head on a connection is bounded like the first.
TEST_F(Task4_Connection, TheNextRequestHeadHasTheSameSizeLimit) {
    HTTP1ConnectionParameters params;
    params.max_header_size = 1024;
    start(hello_or_echo, params);
    TestClient client(port());
    client.send(get_request("/"));
    EXPECT_EQ(read_response(client).body, "Hello, world");
    try {
        client.send(get_request("/", "X-Big: " + std::string(4096, 'a') + "\r\n"));
    } catch (const std::system_error&) {  // a reset: the server closed first
    }
    EXPECT_TRUE(client.closed_by_server(2s));
}

// --- Expect: 100-continue ---------------------------------------------------------------

TEST_F(HTTPServerTest, Expect100ContinueGetsAGoAheadBeforeTheBody) {
    start();
    TestClient client(port());
    client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                "Expect: 100-continue\r\n\r\n");
    // Nothing of the body has been sent: the server must answer first.
    EXPECT_EQ(client.read_until("\r\n\r\n", 2s), "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("hello");
    Response response = read_response(client);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello");
}

TEST_F(HTTPServerTest, Expect100ContinueIsNotSentForARefusedRequest) {
    HTTP1ConnectionParameters params;
    params.max_body_size = 100;
    start(hello_or_echo, params);
    TestClient client(port());
    client.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n"
                "Expect: 100-continue\r\n\r\n");
    Response response = read_response(client);  // the first thing back is the refusal
    EXPECT_EQ(response.status, 413);
    EXPECT_TRUE(client.closed_by_server(2s));
}

TEST_F(HTTPServerTest, Expect100ContinueWithoutABodyOrInHTTP10GetsNoGoAhead) {
    start();
    TestClient client(port());
    client.send(get_request("/", "Expect: 100-continue\r\n"));
    EXPECT_EQ(read_response(client).status, 200);
    TestClient old(port());
    old.send("POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi");
    Response response = read_response(old);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hi");
}

}  // namespace
}  // namespace course::testing
