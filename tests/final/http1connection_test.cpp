// Tests for tornado/http1connection.h, through an HTTPServer on its own
// thread and raw bytes on a socket: keep-alive, pipelining, HEAD, bodies
// (Content-Length and chunked, split at every byte), 100-continue, each
// limit and each kind of bad input (its status, its message, the close), the
// time limits, and a client that half-closes after its request.
#include "tornado/http1connection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gzip_test_util.h"
#include "http_test_util.h"
#include "tornado/gen.h"
#include "tornado/httpserver.h"

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using tornado::HTTPHeaders;
using tornado::HTTPServer;
using tornado::HTTPServerOptions;
using tornado::HTTPServerRequest;
using tornado::testing::answer;
using tornado::testing::get_request;
using tornado::testing::RawClient;
using tornado::testing::Response;
using tornado::testing::ServerThread;

using RequestPtr = std::shared_ptr<HTTPServerRequest>;

// The server most tests use: "/echo" answers the body, "/slow/N" after N ms,
// "/nolength" without a Content-Length, "/throw" throws; anything else
// answers "Hello, world".
std::unique_ptr<HTTPServer> make_test_server(HTTPServerOptions options = {}) {
    return std::make_unique<HTTPServer>(
        [](RequestPtr request) {
            const std::string& path = request->path;
            if (path == "/echo") {
                answer(request, request->body);
            } else if (path.starts_with("/slow/")) {
                int ms = std::stoi(path.substr(6));
                tornado::IOLoop::current().call_later(std::chrono::milliseconds(ms), [request, path] {
                    answer(request, path);
                });
            } else if (path == "/nolength") {
                request->connection->write_headers({"HTTP/1.1", 200, ""}, HTTPHeaders{});
                request->connection->write("part one, ");
                request->connection->write("");
                request->connection->write("part two");
                request->connection->finish();
            } else if (path == "/throw") {
                throw std::runtime_error("the application broke");
            } else {
                answer(request, "Hello, world");
            }
        },
        std::move(options));
}

// A fresh client gets "Hello, world": the server is still serving.
void expect_still_serving(const ServerThread& server) {
    RawClient other(server.port());
    other.send(get_request("/"));
    Response response = other.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Hello, world");
}

// --- the basics -----------------------------------------------------------------------------

// A 101 keeps its own Connection: Upgrade even when HTTP would close next
// (here the client also asked to close): the connection is switching
// protocols, and a second Connection header would break the switch.
TEST(HTTP1Connection, A101KeepsItsConnectionUpgrade) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) {
            HTTPHeaders headers{{"Upgrade", "websocket"}, {"Connection", "Upgrade"}};
            request->connection->write_headers({"HTTP/1.1", 101, ""}, headers);
            request->connection->finish();
        });
    });
    RawClient client(server.port());
    client.send(get_request("/", "Upgrade: websocket\r\nConnection: Upgrade, close\r\n"));
    Response response = client.read_response();
    EXPECT_EQ(response.status, 101);
    int connection_headers = 0;
    for (const auto& [name, value] : response.headers) connection_headers += name == "Connection";
    EXPECT_EQ(connection_headers, 1);
    EXPECT_EQ(response.header("Connection"), "Upgrade");
}

TEST(HTTP1Connection, AnswersWithDateServerAndLength) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/"));
    Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.reason, "OK");
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.header("Content-Length"), "12");
    EXPECT_EQ(response.header("Server"), std::string(tornado::kDefaultServerHeader));
    EXPECT_TRUE(response.header("Date").ends_with(" GMT"));
    EXPECT_FALSE(response.has_header("Connection"));
}

TEST(HTTP1Connection, KeepsAliveForHTTP11) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    for (int i = 0; i < 5; ++i) {
        client.send(get_request("/"));
        EXPECT_EQ(client.read_response().body, "Hello, world");
    }
    client.send(get_request("/", "Connection: close\r\n"));
    Response last = client.read_response();
    EXPECT_EQ(last.header("Connection"), "close");
    EXPECT_TRUE(client.closed_by_server());
}

TEST(HTTP1Connection, HTTP10ClosesUnlessAskedToKeepAlive) {
    ServerThread server([] { return make_test_server(); });
    {
        RawClient client(server.port());
        client.send("GET / HTTP/1.0\r\n\r\n");
        EXPECT_EQ(client.read_response().body, "Hello, world");
        EXPECT_TRUE(client.closed_by_server());
    }
    RawClient client(server.port());
    client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    Response first = client.read_response();
    EXPECT_EQ(first.header("Connection"), "Keep-Alive");  // as Tornado writes it
    client.send("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(client.read_response().body, "abc");
    // A response an HTTP/1.0 client cannot delimit but by the close.
    client.send("GET /nolength HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    Response unframed = client.read_response();
    EXPECT_EQ(unframed.body, "part one, part two");
    EXPECT_FALSE(unframed.has_header("Content-Length"));
}

// `printf 'GET / HTTP/1.0\n\n' | nc 127.0.0.1 8888`: lines that end in a
// bare LF are taken as Tornado takes them, not waited on until a timeout.
TEST(HTTP1Connection, AHeadWithBareLFLineEndsIsAnswered) {
    ServerThread server([] { return make_test_server(); });
    {
        RawClient client(server.port());
        client.send("GET / HTTP/1.0\n\n");
        client.shutdown_write();
        EXPECT_EQ(client.read_response().body, "Hello, world");
        EXPECT_TRUE(client.closed_by_server());
    }
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\nHost: a\nContent-Length: 2\n\nab" + get_request("/"));
    EXPECT_EQ(client.read_response().body, "ab");
    EXPECT_EQ(client.read_response().body, "Hello, world");
}

TEST(HTTP1Connection, NoKeepAliveOption) {
    ServerThread server([] { return make_test_server({.no_keep_alive = true}); });
    RawClient client(server.port());
    client.send(get_request("/"));
    EXPECT_EQ(client.read_response().header("Connection"), "close");
    EXPECT_TRUE(client.closed_by_server());
}

TEST(HTTP1Connection, PipelinedRequestsAreAnsweredInOrderEvenWhenTheFirstIsSlow) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/slow/200") + get_request("/") + get_request("/slow/10") + get_request("/echo", "Content-Length: 4\r\n") + "body" +
                get_request("/slow/50"));
    EXPECT_EQ(client.read_response().body, "/slow/200");
    EXPECT_EQ(client.read_response().body, "Hello, world");
    EXPECT_EQ(client.read_response().body, "/slow/10");
    EXPECT_EQ(client.read_response().body, "body");
    EXPECT_EQ(client.read_response().body, "/slow/50");
    EXPECT_TRUE(client.quiet_for(50ms));
}

TEST(HTTP1Connection, ManyPipelinedRequestsAtOnce) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    std::string all;
    for (int i = 0; i < 500; ++i) all += get_request("/echo", "Content-Length: " + std::to_string(std::to_string(i).size()) + "\r\n") + std::to_string(i);
    client.send(all);
    for (int i = 0; i < 500; ++i) ASSERT_EQ(client.read_response().body, std::to_string(i));
}

// The answers to requests that came pipelined, in one read, leave in one
// send (a send() call, or on io_uring one send request): one segment with
// data reaches the client, not sixteen.
TEST(HTTP1Connection, PipelinedAnswersLeaveTogether) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    std::string all;
    for (int i = 0; i < 16; ++i) all += get_request("/");
    client.send(all);
    for (int i = 0; i < 16; ++i) ASSERT_EQ(client.read_response().body, "Hello, world");
    EXPECT_LE(tornado::testing::data_segments_received(client.fd()), 2u);
    EXPECT_TRUE(client.quiet_for(20ms));
}

// Answers held for a batch go as soon as the serving loop must wait: a
// slow request after them does not hold them back.
TEST(HTTP1Connection, HeldAnswersDoNotWaitForASlowRequestAfterThem) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/") + get_request("/") + get_request("/slow/1000"));
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(client.read_response().body, "Hello, world");
    EXPECT_EQ(client.read_response().body, "Hello, world");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 700ms);
    EXPECT_EQ(client.read_response().body, "/slow/1000");
}

// A pipelined request that closes the connection: the answers held
// before it are sent, then its own, then the close; the request after it
// is not served.
TEST(HTTP1Connection, APipelinedCloseSendsTheHeldAnswersFirst) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/echo", "Content-Length: 3\r\n") + "one" +
                get_request("/echo", "Content-Length: 3\r\nConnection: close\r\n") + "two" +
                get_request("/echo", "Content-Length: 5\r\n") + "three");
    EXPECT_EQ(client.read_response().body, "one");
    Response last = client.read_response();
    EXPECT_EQ(last.body, "two");
    EXPECT_EQ(last.header("Connection"), "close");
    EXPECT_TRUE(client.closed_by_server());
}

// A server whose connections have a small send buffer, for a client with
// a small receive buffer: answers then wait for room in the kernel.
class SmallSendBufferServer : public HTTPServer {
public:
    using HTTPServer::HTTPServer;

protected:
    tornado::Task<void> handle_stream(std::shared_ptr<tornado::IOStream> stream,
                                      tornado::SocketAddress address) override {
        int size = 4096;
        ::setsockopt(stream->fileno(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        return HTTPServer::handle_stream(std::move(stream), std::move(address));
    }
};

// Eight pipelined requests, each answered with 6,000 bytes: 48 KB held,
// and released into a send buffer and a client's receive buffer of a few
// KB each, so that most of it waits in the stream for room. `served`
// counts the requests; the client reads nothing yet.
constexpr int kBigAnswers = 8;
const std::string kBigAnswer(6000, 'x');

std::unique_ptr<HTTPServer> make_big_answer_server(std::shared_ptr<std::atomic<int>> served,
                                                   HTTPServerOptions options = {}) {
    return std::make_unique<SmallSendBufferServer>(
        [served](RequestPtr request) {
            answer(request, kBigAnswer);
            ++*served;
        },
        std::move(options));
}

void send_big_answer_requests(RawClient& client, ServerThread& server, const std::atomic<int>& served) {
    std::string all;
    for (int i = 0; i < kBigAnswers; ++i) all += get_request("/");
    client.send(all);
    for (int i = 0; i < 500 && served.load() < kBigAnswers; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(served.load(), kBigAnswers);
    server.call([] {});  // the loop's turn that served them is over: the hold is released
}

// A graceful stop while answers released from a hold still wait for room:
// they are sent, all of them, before the close.
TEST(HTTP1Connection, AGracefulStopSendsTheReleasedAnswersFirst) {
    auto served = std::make_shared<std::atomic<int>>(0);
    ServerThread server([served] { return make_big_answer_server(served); });
    RawClient client(server.port(), 4096);
    send_big_answer_requests(client, server, *served);
    server.call([&] {
        server.server().stop();
        server.server().close_all_connections(5s);
    });
    for (int i = 0; i < kBigAnswers; ++i) {
        Response response = client.read_response();
        ASSERT_EQ(response.body.size(), kBigAnswer.size()) << "answer " << i;
    }
    EXPECT_TRUE(client.closed_by_server());
}

// The idle timeout does not run while released answers wait for room: a
// client slow to read gets them all, and the timeout runs from then on.
TEST(HTTP1Connection, TheIdleTimeoutWaitsForTheReleasedAnswers) {
    auto served = std::make_shared<std::atomic<int>>(0);
    HTTPServerOptions options;
    options.idle_connection_timeout = 100ms;
    ServerThread server([served, options] { return make_big_answer_server(served, options); });
    RawClient client(server.port(), 4096);
    send_big_answer_requests(client, server, *served);
    std::this_thread::sleep_for(400ms);  // the client reads nothing, four times the timeout
    for (int i = 0; i < kBigAnswers; ++i) {
        Response response = client.read_response();
        ASSERT_EQ(response.body.size(), kBigAnswer.size()) << "answer " << i;
    }
    EXPECT_TRUE(client.closed_by_server(2s));
}

// A bad request after good ones: their answers, then its 400, then the close.
TEST(HTTP1Connection, ABadRequestAfterPipelinedGoodOnesGetsItsAnswerLast) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/") + get_request("/") + "NOT A REQUEST\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "Hello, world");
    EXPECT_EQ(client.read_response().body, "Hello, world");
    EXPECT_EQ(client.read_response().status, 400);
    EXPECT_TRUE(client.closed_by_server());
}

TEST(HTTP1Connection, HeadGetsTheHeadersWithoutTheBody) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    Response head = client.read_response(/*head_request=*/true);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Length"), "12");
    // No body bytes came: the next response starts right away.
    client.send(get_request("/"));
    EXPECT_EQ(client.read_response().body, "Hello, world");
    // HEAD of a response without a length: chunked is announced, not sent.
    client.send("HEAD /nolength HTTP/1.1\r\nHost: a\r\n\r\n");
    Response head_chunked = client.read_response(true);
    EXPECT_EQ(head_chunked.header("Transfer-Encoding"), "chunked");
    client.send(get_request("/"));
    EXPECT_EQ(client.read_response().body, "Hello, world");
}

TEST(HTTP1Connection, NoBodyFor204And304) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) {
            int status = request->path == "/204" ? 204 : request->path == "/304" ? 304 : 200;
            request->connection->write_headers({"HTTP/1.1", status, ""}, HTTPHeaders{}, "ignored body");
            request->connection->finish();
        });
    });
    RawClient client(server.port());
    for (std::string path : {"/204", "/304"}) {
        client.send(get_request(path));
        Response response = client.read_response();
        EXPECT_EQ(response.status, std::stoi(path.substr(1)));
        EXPECT_FALSE(response.has_header("Transfer-Encoding"));
    }
    client.send(get_request("/"));
    Response chunked = client.read_response();
    EXPECT_TRUE(chunked.chunked);
    EXPECT_EQ(chunked.body, "ignored body");
}

TEST(HTTP1Connection, ChunkedResponseWithoutALength) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/nolength"));
    Response response = client.read_response();
    EXPECT_TRUE(response.chunked);
    EXPECT_EQ(response.body, "part one, part two");
    client.send(get_request("/"));  // still alive after the last chunk
    EXPECT_EQ(client.read_response().body, "Hello, world");
}

TEST(HTTP1Connection, ContentLengthBodySplitAcrossPackets) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhel");
    std::this_thread::sleep_for(20ms);
    client.send("lo wo");
    std::this_thread::sleep_for(20ms);
    client.send("rld");
    EXPECT_EQ(client.read_response().body, "hello world");
}

TEST(HTTP1Connection, LargeBodyInManyPieces) {
    ServerThread server([] { return make_test_server({.chunk_size = 1000}); });
    RawClient client(server.port());
    std::string body(300000, 'x');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
    client.send(body);
    EXPECT_EQ(client.read_response().body, body);
}

TEST(HTTP1Connection, IdenticalContentLengthsAreAccepted) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(client.read_response().body, "abc");
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nxyz");
    EXPECT_EQ(client.read_response().body, "xyz");
}

TEST(HTTP1Connection, EmptyLinesBetweenRequestsAreIgnored) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab\r\n\r\n\r\n" + get_request("/"));
    EXPECT_EQ(client.read_response().body, "ab");
    EXPECT_EQ(client.read_response().body, "Hello, world");
}

// --- gzipped request bodies (decompress_request) ------------------------------------------

std::string gzip_post(std::string_view path, const std::string& gzipped) {
    return "POST " + std::string(path) + " HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: " +
           std::to_string(gzipped.size()) + "\r\n\r\n" + gzipped;
}

TEST(HTTP1Connection, DecompressRequestInflatesAGzippedBody) {
    ServerThread server([] { return make_test_server({.decompress_request = true}); });
    std::string text;
    while (text.size() < 300 * 1000) text += "a line of the body, " + std::to_string(text.size()) + "\n";
    RawClient client(server.port());
    client.send(gzip_post("/echo", tornado::testing::gzip(text)));
    EXPECT_EQ(client.read_response().body, text);
    // Chunked on the wire, gzip inside.
    std::string gzipped = tornado::testing::gzip("chunked and gzipped");
    std::string half = gzipped.substr(0, gzipped.size() / 2), rest = gzipped.substr(gzipped.size() / 2);
    auto chunk = [](const std::string& data) {
        char size[16];
        return std::string(size, std::to_chars(size, size + sizeof size, data.size(), 16).ptr) + "\r\n" + data + "\r\n";
    };
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
                chunk(half) + chunk(rest) + "0\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "chunked and gzipped");
}

TEST(HTTP1Connection, DecompressRequestRenamesTheHeaderItUndid) {
    ServerThread server([] {
        HTTPServerOptions options;
        options.decompress_request = true;
        return std::make_unique<HTTPServer>(
            [](RequestPtr request) {
                answer(request, request->headers.get("X-Consumed-Content-Encoding") + "|" +
                                    request->headers.get("Content-Encoding") + "|" + request->body);
            },
            options);
    });
    RawClient client(server.port());
    client.send(gzip_post("/", tornado::testing::gzip("plain")));
    EXPECT_EQ(client.read_response().body, "gzip||plain");
}

TEST(HTTP1Connection, WithoutDecompressRequestTheBodyComesAsSent) {
    ServerThread server([] { return make_test_server(); });
    std::string gzipped = tornado::testing::gzip("plain");
    RawClient client(server.port());
    client.send(gzip_post("/echo", gzipped));
    EXPECT_EQ(client.read_response().body, gzipped);
}

TEST(HTTP1Connection, ABadOrTooBigGzippedBodyIsRefused) {
    ServerThread server([] { return make_test_server({.max_body_size = 100 * 1000, .decompress_request = true}); });
    struct Case {
        std::string body;
        int status;
        std::string says;
    };
    std::string bomb = tornado::testing::gzip(std::string(1000 * 1000, '\0'));  // 1 MB from about 1 KB
    std::string gzipped = tornado::testing::gzip("cut short");
    std::string cut = gzipped.substr(0, gzipped.size() - 4);  // without the length in the trailer
    for (const Case& each : {Case{"not gzip at all", 400, "malformed gzip body"},
                             Case{cut, 400, "it ends before the gzip data does"},
                             Case{bomb, 413, "gzip body inflates past the limit of 100000 bytes"}}) {
        RawClient client(server.port());
        client.send(gzip_post("/echo", each.body));
        Response response = client.read_response();
        EXPECT_EQ(response.status, each.status) << response.body;
        EXPECT_NE(response.body.find(each.says), std::string::npos) << response.body;
        EXPECT_TRUE(client.closed_by_server());
    }
    expect_still_serving(server);
}

// --- chunked request bodies ------------------------------------------------------------------

const std::string kChunkedRequest =
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n6\r\n world\r\nA ; ext\r\n, chunked!\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n";

TEST(HTTP1Connection, ChunkedBodyWithExtensionsAndTrailers) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(kChunkedRequest);
    EXPECT_EQ(client.read_response().body, "hello world, chunked!");
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "abc");
}

TEST(HTTP1Connection, ChunkedBodySplitAtEveryByte) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    for (std::size_t split = 1; split < kChunkedRequest.size(); ++split) {
        client.send(kChunkedRequest.substr(0, split));
        std::this_thread::sleep_for(1ms);
        client.send(kChunkedRequest.substr(split));
        Response response = client.read_response();
        ASSERT_EQ(response.status, 200) << "split at " << split;
        ASSERT_EQ(response.body, "hello world, chunked!") << "split at " << split;
    }
}

TEST(HTTP1Connection, ExpectContinue) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(client.read_until("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
    client.send("hello");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "hello");
    // No body, no 100.
    client.send("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
    EXPECT_EQ(client.read_response().status, 200);
}

TEST(HTTP1Connection, ExpectContinueRefusedWithoutTheGoAhead) {
    ServerThread server([] { return make_test_server({.max_body_size = 100}); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 413);  // not 100 first
    EXPECT_TRUE(client.closed_by_server());
}

// --- bad input: each case its status, its message, then the close -------------------------------

struct BadRequest {
    std::string name;
    std::string request;
    int status;
    std::string message;
};

void PrintTo(const BadRequest& bad, std::ostream* out) { *out << bad.name; }

class HTTP1ConnectionRefuses : public ::testing::TestWithParam<BadRequest> {};

TEST_P(HTTP1ConnectionRefuses, WithItsStatusAMessageAndAClose) {
    const BadRequest& bad = GetParam();
    ServerThread server([] {
        return make_test_server({.max_header_size = 2048, .max_body_size = 1000});
    });
    RawClient client(server.port());
    client.send(bad.request);
    Response response = client.read_response();
    EXPECT_EQ(response.status, bad.status) << response.body;
    EXPECT_EQ(response.header("Connection"), "close");
    EXPECT_EQ(response.header("Content-Type"), "text/plain; charset=UTF-8");
    EXPECT_NE(response.body.find(bad.message), std::string::npos)
        << "body: " << response.body << " (wanted '" << bad.message << "')";
    EXPECT_TRUE(response.body.starts_with(std::to_string(bad.status) + " ")) << response.body;
    EXPECT_TRUE(client.closed_by_server());
    expect_still_serving(server);
}

std::string chunked(std::string_view body) {
    return "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(body);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HTTP1ConnectionRefuses,
    ::testing::Values(
        BadRequest{"garbage", "hello there\r\n\r\n", 400, "malformed request line"},
        BadRequest{"http2", "GET / HTTP/2.0\r\n\r\n", 505, "HTTP version not supported"},
        BadRequest{"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400,
                   "whitespace between header name and colon"},
        BadRequest{"name_not_token", "GET / HTTP/1.1\r\nHost: a\r\nX-Na[me]: a\r\n\r\n", 400, "header name is not a token"},
        BadRequest{"obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n  b\r\n\r\n", 400, "obsolete line folding"},
        BadRequest{"nul_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n"s, 400, "control character"},
        BadRequest{"bare_cr", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rX-B: b\r\n\r\n", 400, "bare CR"},
        BadRequest{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"},
        BadRequest{"no_host", "GET / HTTP/1.1\r\n\r\n", 400, "no Host header in an HTTP/1.1 request"},
        BadRequest{"no_host_with_a_body", "POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", 400, "no Host header"},
        BadRequest{"host_list", "GET / HTTP/1.1\r\nHost: a.com, b.com\r\n\r\n", 400, "invalid Host header: 'a.com, b.com'"},
        BadRequest{"host_with_a_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"host_port_not_digits", "GET / HTTP/1.1\r\nHost: a.com:x\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"host_bracket_not_closed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"host_not_ipv6_in_brackets", "GET / HTTP/1.1\r\nHost: [::g]:80\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"host_with_userinfo", "GET / HTTP/1.1\r\nHost: user@a.com\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"host_with_a_path", "GET / HTTP/1.1\r\nHost: a.com/x\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"host_invalid_in_http10", "GET / HTTP/1.0\r\nHost: a,b c\r\n\r\n", 400, "invalid Host header"},
        BadRequest{"absolute_form_userinfo", "GET http://u@a.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", 400,
                   "invalid authority in the request target"},
        BadRequest{"absolute_form_no_host", "GET http:///x HTTP/1.1\r\nHost: a.com\r\n\r\n", 400,
                   "invalid authority in the request target"},
        BadRequest{"length_plus", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400,
                   "Only integer Content-Length is allowed"},
        BadRequest{"length_hex", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400,
                   "Only integer Content-Length is allowed"},
        BadRequest{"length_negative", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400,
                   "Only integer Content-Length is allowed"},
        BadRequest{"length_space_inside", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400,
                   "Only integer Content-Length is allowed"},
        BadRequest{"length_empty", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400,
                   "Only integer Content-Length is allowed"},
        BadRequest{"length_conflict", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
                   "Multiple unequal Content-Lengths"},
        BadRequest{"length_conflict_list", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400,
                   "Multiple unequal Content-Lengths"},
        BadRequest{"length_and_chunked",
                   "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                   400, "Request with both Transfer-Encoding and Content-Length"},
        BadRequest{"te_gzip", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
                   "Unsupported Transfer-Encoding"},
        BadRequest{"te_gzip_chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400,
                   "Unsupported Transfer-Encoding"},
        BadRequest{"te_chunked_twice", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                   400, "Unsupported Transfer-Encoding"},
        BadRequest{"te_identity", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400,
                   "Unsupported Transfer-Encoding"},
        BadRequest{"te_in_http10", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                   "Transfer-Encoding in an HTTP/1.0 request"},
        BadRequest{"chunk_size_not_hex", chunked("zz\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_0x", chunked("0x5\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_leading_space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_trailing_space", chunked("5 \r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_negative", chunked("-5\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_empty", chunked("\r\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_overflow", chunked("10000000000000000\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_bare_lf", chunked("5\nhello\r\n0\r\n\r\n"), 400, "invalid chunk size"},
        BadRequest{"chunk_size_line_too_long", chunked(std::string(5000, '0') + "5\r\nhello\r\n0\r\n\r\n"), 400,
                   "chunk size line over 4096 bytes"},
        BadRequest{"one_trailer_too_long", chunked("0\r\nX-T: " + std::string(3000, 'v') + "\r\n\r\n"), 431,
                   "trailer fields over the limit"},
        BadRequest{"chunk_without_crlf", chunked("5\r\nhelloXX0\r\n\r\n"), 400, "chunk data not followed by CRLF"},
        BadRequest{"bad_trailer", chunked("5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n"), 400, "header name is not a token"},
        BadRequest{"body_too_large", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413,
                   "Content-Length too long"},
        BadRequest{"chunked_too_large", chunked("3E9\r\n"), 413, "chunked body too large"},
        BadRequest{"chunked_too_large_in_sum", chunked("200\r\n" + std::string(512, 'a') + "\r\n200\r\n"), 413,
                   "chunked body too large"},
        BadRequest{"trailers_too_large",
                   chunked("0\r\n" + [] {
                       std::string lines;
                       for (int i = 0; i < 60; ++i) lines += "X-Trailer-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
                       return lines;
                   }() + "\r\n"),
                   431, "trailer fields over the limit"}),
    [](const ::testing::TestParamInfo<BadRequest>& param_info) { return param_info.param.name; });

// --- Host (RFC 9112 section 3.2) -------------------------------------------------------------
//
// The refusals are among the cases above (no_host, host_*, absolute_form_*). Tornado 6.2
// serves all of them; these are what is still served, and how the host is read.

// Answers "host host_name path full_url" of each request.
std::unique_ptr<HTTPServer> make_host_server(HTTPServerOptions options = {}) {
    return std::make_unique<HTTPServer>(
        [](RequestPtr request) {
            answer(request, request->host + " " + request->host_name + " " + request->path + " " + request->full_url());
        },
        std::move(options));
}

TEST(HTTP1Connection, AnHTTP10RequestWithoutHostIsServed) {
    ServerThread server([] { return make_host_server(); });
    RawClient client(server.port());
    client.send("GET /ten HTTP/1.0\r\n\r\n");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "127.0.0.1 127.0.0.1 /ten http://127.0.0.1/ten");
}

// RFC 9112 section 3.2 allows an empty Host (for a target without an authority).
TEST(HTTP1Connection, AnEmptyHostInHTTP11IsServed) {
    ServerThread server([] { return make_host_server(); });
    RawClient client(server.port());
    client.send("GET /empty HTTP/1.1\r\nHost:\r\n\r\n");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "127.0.0.1 127.0.0.1 /empty http://127.0.0.1/empty");
    client.send("GET /again HTTP/1.1\r\nHost:  \r\n\r\n");  // kept alive
    EXPECT_EQ(client.read_response().status, 200);
}

TEST(HTTP1Connection, EachFormOfAValidHostIsServed) {
    ServerThread server([] { return make_host_server(); });
    RawClient client(server.port());
    for (std::string host : {"example.com", "Example.COM:8080", "127.0.0.1:8888", "[::1]:8888", "[2001:db8::1]",
                             "[v7.a:b]", "a%2Db.example", "localhost:"}) {
        client.send("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
        Response response = client.read_response();
        EXPECT_EQ(response.status, 200) << host;
        EXPECT_TRUE(response.body.starts_with(host + " ")) << response.body;
    }
}

// RFC 9112 section 3.2.2: with a target in absolute-form, the target's
// authority is the host and Host's value is ignored (it must still be there,
// and valid). uri becomes the origin-form after the authority, so the path
// is the target's (routes match it); Tornado 6.2 keeps Host's value and
// takes the whole target for the path.
TEST(HTTP1Connection, AnAbsoluteFormTargetNamesTheHost) {
    ServerThread server([] { return make_host_server(); });
    RawClient client(server.port());
    client.send("GET http://Example.com:8080/x?y=1 HTTP/1.1\r\nHost: other.example\r\n\r\n");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "Example.com:8080 example.com /x http://Example.com:8080/x?y=1");
    client.send("GET HTTPS://[::1] HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "[::1] [::1] / http://[::1]/");
    // An origin-form target keeps Host's value.
    client.send("GET /z HTTP/1.1\r\nHost: other.example\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "other.example other.example /z http://other.example/z");
}

// xheaders (a proxy's X-Real-Ip, X-Forwarded-For, X-Scheme...) changes
// nothing here: X-Forwarded-Host stands in for no Host, and is never read.
TEST(HTTP1Connection, TheHostRulesAreTheSameWithXHeaders) {
    ServerThread server([] { return make_host_server({.xheaders = true}); });
    for (std::string request : {"GET / HTTP/1.1\r\nX-Forwarded-Host: a.example\r\nX-Real-Ip: 1.2.3.4\r\n\r\n",
                                "GET / HTTP/1.1\r\nHost: a b\r\nX-Forwarded-Host: a.example\r\n\r\n",
                                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n"}) {
        RawClient client(server.port());
        client.send(request);
        Response response = client.read_response();
        EXPECT_EQ(response.status, 400) << request;
        EXPECT_EQ(response.header("Connection"), "close");
        EXPECT_TRUE(client.closed_by_server()) << request;
    }
    RawClient client(server.port());
    client.send("GET /p HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Host: b.example\r\nX-Scheme: https\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "a.example a.example /p https://a.example/p");
    client.send("GET /p HTTP/1.1\r\nHost:\r\nX-Real-Ip: 1.2.3.4\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "127.0.0.1 127.0.0.1 /p http://127.0.0.1/p");
    client.send("GET http://c.example/q HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-Host: b.example\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "c.example c.example /q http://c.example/q");
    RawClient ten(server.port());
    ten.send("GET / HTTP/1.0\r\nX-Real-Ip: 1.2.3.4\r\n\r\n");
    EXPECT_EQ(ten.read_response().status, 200);
}

TEST(HTTP1Connection, AHeadOverTheLimitGets431ThenAClose) {
    ServerThread server([] { return make_test_server({.max_header_size = 1024}); });
    RawClient client(server.port());
    client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 431);
    EXPECT_NE(response.body.find("over the limit of 1024 bytes"), std::string::npos) << response.body;
    EXPECT_EQ(response.header("Connection"), "close");
    // Answered by the same path as every other error: with Date and Server.
    EXPECT_FALSE(response.header("Date").empty());
    EXPECT_FALSE(response.header("Server").empty());
    EXPECT_TRUE(client.closed_by_server());
    expect_still_serving(server);
    // Just under the limit is fine.
    RawClient fits(server.port());
    fits.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(900, 'a') + "\r\n\r\n");
    EXPECT_EQ(fits.read_response().status, 200);
}

TEST(HTTP1Connection, TheApplicationThrowingGives500AndTheServerGoesOn) {
    ServerThread server([] { return make_test_server(); });
    RawClient client(server.port());
    client.send(get_request("/throw"));
    Response response = client.read_response();
    EXPECT_EQ(response.status, 500);
    EXPECT_NE(response.body.find("500 Internal Server Error"), std::string::npos);
    EXPECT_TRUE(client.closed_by_server());
    expect_still_serving(server);
}

// --- time limits ------------------------------------------------------------------------------------

TEST(HTTP1Connection, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
    ServerThread server([] { return make_test_server({.idle_connection_timeout = 200ms}); });
    RawClient client(server.port());
    client.send(get_request("/"));
    EXPECT_EQ(client.read_response().status, 200);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.closed_by_server(5s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
    // A head that never ends is closed too, while others are served.
    RawClient slow(server.port());
    slow.send("GET / HTTP/1.1\r\nHost: a\r\n");
    expect_still_serving(server);
    EXPECT_TRUE(slow.closed_by_server(5s));
}

TEST(HTTP1Connection, ActiveConnectionsOutliveTheIdleTimeout) {
    ServerThread server([] { return make_test_server({.idle_connection_timeout = 300ms}); });
    RawClient client(server.port());
    for (int i = 0; i < 12; ++i) {
        client.send(get_request("/"));
        ASSERT_EQ(client.read_response().status, 200);
        std::this_thread::sleep_for(50ms);  // 600 ms in all: longer than the timeout
    }
}

// A request with a body waits under body_timeout, then the connection
// waits for the next one under the idle timeout: its time limit moves from
// one of the loop's lists to the other (ListedTimeout), and the second
// still closes the connection on time.
TEST(HTTP1Connection, AfterABodyTheIdleTimeoutStillCloses) {
    ServerThread server(
        [] { return make_test_server({.idle_connection_timeout = 200ms, .body_timeout = 10s}); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nab");
    std::this_thread::sleep_for(20ms);
    client.send("cdef");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "abcdef");
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.closed_by_server(5s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
}

TEST(HTTP1Connection, ASlowBodyGets408) {
    ServerThread server([] { return make_test_server({.body_timeout = 200ms}); });
    RawClient client(server.port());
    client.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 408);
    EXPECT_NE(response.body.find("did not arrive within"), std::string::npos);
    EXPECT_TRUE(client.closed_by_server());
    expect_still_serving(server);
}

// --- answers given while the request is still coming -------------------------------------

// An application at the HTTPMessageDelegate level, for what an HTTPServer
// callback cannot do (it is called only once the body is in): `on_head`
// runs when a request's head arrives, with the request's connection, and
// what it returns is what headers_received returns. The body is ignored.
using OnHead = std::function<tornado::Future<void>(std::shared_ptr<tornado::HTTPConnection>)>;

std::unique_ptr<HTTPServer> make_head_server(OnHead on_head, HTTPServerOptions options = {}) {
    struct Message : tornado::HTTPMessageDelegate {
        OnHead on_head;
        std::shared_ptr<tornado::HTTPConnection> connection;
        tornado::Future<void> headers_received(tornado::StartLine, HTTPHeaders) override {
            return on_head(connection);
        }
    };
    struct Application : tornado::HTTPServerConnectionDelegate {
        OnHead on_head;
        std::unique_ptr<tornado::HTTPMessageDelegate> start_request(
            tornado::HTTPServerConnection*,
            std::shared_ptr<tornado::HTTPConnection> connection) override {
            auto message = std::make_unique<Message>();
            message->on_head = on_head;
            message->connection = std::move(connection);
            return message;
        }
    };
    auto application = std::make_shared<Application>();
    application->on_head = std::move(on_head);
    return std::make_unique<HTTPServer>(application, std::move(options));
}

// Runs `answer` on the loop `delay` after the head came; the head's Future
// resolves just after it.
OnHead answer_later(std::chrono::milliseconds delay,
                    std::function<void(tornado::HTTPConnection&)> answer) {
    return [delay, answer](std::shared_ptr<tornado::HTTPConnection> connection) {
        tornado::Future<void> later;
        tornado::IOLoop::current().call_later(delay, [connection, answer, later]() mutable {
            answer(*connection);
            later.set_result();
        });
        return later;
    };
}

// An application that answers only after its request got a 408 finds a
// connection that has moved on: its write fails as a write to a closed
// connection does (StreamClosedError), not with a logic_error about
// calling write_headers twice, which would blame the application for the
// server's timeout.
TEST(HTTP1Connection, AnAnswerAfterA408FailsLikeAWriteToAClosedConnection) {
    std::atomic<int> write_closed{0};
    std::atomic<int> logic_errors{0};
    auto answer_late = [&](tornado::HTTPConnection& connection) {
        try {
            auto written = connection.write_headers({"HTTP/1.1", 200, ""}, HTTPHeaders{}, "late");
            (void)written.result();
        } catch (const tornado::StreamClosedError&) {
            ++write_closed;
        } catch (const std::logic_error&) {
            ++logic_errors;
        }
    };
    // The head is taken at once (the body is read meanwhile, as with
    // stream_request_body) and the answer comes 300 ms later.
    OnHead on_head = [&](std::shared_ptr<tornado::HTTPConnection> connection) {
        tornado::IOLoop::current().call_later(300ms, [&, connection] { answer_late(*connection); });
        return tornado::Future<void>(nullptr);
    };
    ServerThread server(
        [&] { return make_head_server(on_head, HTTPServerOptions{.body_timeout = 100ms}); });
    RawClient client(server.port());
    client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    EXPECT_EQ(client.read_response().status, 408);
    EXPECT_TRUE(client.closed_by_server());
    for (int i = 0; i < 100 && write_closed + logic_errors == 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(write_closed, 1);
    EXPECT_EQ(logic_errors, 0);
}

// An answer given before the body was read, whose last bytes are still
// queued when the request coroutine moves on, must still end in a
// lingering close once they are flushed. A plain close() with body bytes
// unread in the socket's receive buffer makes the kernel send a reset,
// and the client loses the end of the answer.
TEST(HTTP1Connection, AnEarlyAnswerStillQueuedEndsInALingeringClose) {
    const std::string answer(4 * 1024 * 1024, 'x');  // more than the socket buffers hold
    ServerThread server([&] {
        return make_head_server(answer_later(50ms, [&](tornado::HTTPConnection& connection) {
            connection.write_headers(
                {"HTTP/1.1", 413, ""},
                HTTPHeaders{{"Content-Length", std::to_string(answer.size())}}, answer);
            connection.finish();
        }));
    });
    RawClient client(server.port());
    const std::string body_piece(64 * 1024, 'b');
    client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n" + body_piece);
    // The answer is queued now; more body arrives that nobody reads.
    std::this_thread::sleep_for(200ms);
    client.send(body_piece);
    Response response = client.read_response();
    EXPECT_EQ(response.status, 413);
    EXPECT_EQ(response.body.size(), answer.size());
    EXPECT_TRUE(client.closed_by_server());
}

// --- half-close --------------------------------------------------------------------------------------

TEST(HTTP1Connection, AClientThatHalfClosesAfterItsRequestGetsItsResponse) {
    ServerThread server([] { return make_test_server(); });
    for (std::string path : {"/", "/slow/100"}) {
        RawClient client(server.port());
        client.send(get_request(path));
        client.shutdown_write();
        Response response = client.read_response();
        EXPECT_EQ(response.status, 200) << path;
        EXPECT_TRUE(client.closed_by_server()) << path;
    }
    // Pipelined, then half-closed: every response.
    RawClient client(server.port());
    client.send(get_request("/slow/50") + get_request("/"));
    client.shutdown_write();
    EXPECT_EQ(client.read_response().body, "/slow/50");
    EXPECT_EQ(client.read_response().body, "Hello, world");
    EXPECT_TRUE(client.closed_by_server());
}

TEST(HTTP1Connection, APeerThatNeverSpeaksDoesNotStopOthers) {
    ServerThread server([] { return make_test_server(); });
    RawClient silent(server.port());
    RawClient half(server.port());
    half.send("GET / HTT");
    expect_still_serving(server);
    EXPECT_TRUE(silent.quiet_for(20ms));
}

}  // namespace
