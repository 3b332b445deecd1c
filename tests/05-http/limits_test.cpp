// limits_test.cpp: bad input and limits through a socket. Each refusal has
// its status, a body that names the problem, and a close; the server goes
// on serving everyone else. Then the half-close, time limits, and the proof
// that stalled peers do not block anybody.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <string>
#include <system_error>
#include <thread>

#include "http_fixture.h"

namespace course::testing {
namespace {

// --- malformed requests ----------------------------------------------------------

class BadRequest : public HTTPServerTest {
protected:
    void SetUp() override { start(); }
};

TEST_F(BadRequest, MalformedRequestLine) {
    expect_refused("GET /\r\nHost: a\r\n\r\n", 400, "malformed request line");
    expect_refused("GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line");
    expect_refused("hello there\r\n\r\n", 400, "malformed request line");
    expect_refused("GET / HTTP/1.1x\r\n\r\n", 400, "version");
    expect_refused("G@T / HTTP/1.1\r\n\r\n", 400, "method");
}

TEST_F(BadRequest, UnsupportedVersionIs505) {
    expect_refused("GET / HTTP/2.0\r\n\r\n", 505, "not supported");
}

TEST_F(BadRequest, HeaderNamesMustBeTokens) {
    expect_refused(get_request("/", "Bad Header: x\r\n"), 400, "not a token");
    expect_refused(get_request("/", "Content-Length : 0\r\n"), 400, "not a token");
    expect_refused(get_request("/", std::string("X-Nul\0: x\r\n", 11)), 400, "not a token");
    expect_refused(get_request("/", "no colon\r\n"), 400, "without a colon");
}

TEST_F(BadRequest, ControlCharactersInValues) {
    expect_refused(get_request("/", std::string("X: a\0b\r\n", 8)), 400, "control character");
    expect_refused(get_request("/", "X: a\rb\r\n"), 400, "control character");
    expect_refused(get_request("/", "X: a\nb: c\r\n"), 400, "control character");
}

TEST_F(BadRequest, ObsoleteLineFolding) {
    expect_refused(get_request("/", "X: one\r\n two\r\n"), 400, "folding");
}

// --- framing over the wire (task 3's rules, through a socket) ---------------

class Smuggling : public HTTPServerTest {
protected:
    void SetUp() override { start(); }
};

// The classic smuggling request: a front end that trusts Content-Length
// forwards 13 bytes of body; one that trusts chunked sees the body end at
// "0\r\n\r\n" and takes "SMUGGLED" as the start of the next request.
TEST_F(Smuggling, BothContentLengthAndChunkedAre400AndClose) {
    expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED",
                   400, "both Content-Length and Transfer-Encoding");
}

TEST_F(Smuggling, ConflictingContentLengthsAre400) {
    expect_refused("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
                   "conflicting Content-Length");
    expect_refused("POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\nabcd", 400,
                   "conflicting Content-Length");
}

TEST_F(Smuggling, IdenticalContentLengthsAreFine) {
    Response response =
        fetch("POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "abcd");
}

TEST_F(Smuggling, ContentLengthIsDigitsOnly) {
    for (std::string value : {"+4", "0x4", "4a", "-1", "4.0"}) {
        expect_refused("POST / HTTP/1.1\r\nContent-Length: " + value + "\r\n\r\nabcd", 400,
                       "not a number");
    }
}

TEST_F(Smuggling, UnknownTransferEncodingIs400) {
    expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
                   "unsupported Transfer-Encoding");
    expect_refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400,
                   "unsupported Transfer-Encoding");
    expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                   "HTTP/1.0");
}

// --- limits --------------------------------------------------------------------------

class Limits : public HTTPServerTest {};

// Sends `bytes`, ignoring a reset: a server that closes early may reset a
// connection we are still writing to.
void send_ignoring_reset(TestClient& client, const std::string& bytes) {
    try {
        client.send(bytes);
    } catch (const std::system_error&) {
    }
}

TEST_F(Limits, HeadersOver64KiBCloseTheConnection) {
    start();
    TestClient client(port());
    std::string big = "X-Big: " + std::string(70 * 1024, 'a') + "\r\n";
    send_ignoring_reset(client, get_request("/", big));
    EXPECT_TRUE(client.closed_by_server(2s));
    expect_still_serving();
}

TEST_F(Limits, HeadersOver64KiBWithoutTheEndCloseToo) {
    start();
    TestClient client(port());
    // No empty line ever comes: the server must not keep buffering.
    send_ignoring_reset(client, "GET / HTTP/1.1\r\n" + std::string(70 * 1024, 'a'));
    EXPECT_TRUE(client.closed_by_server(2s));
    expect_still_serving();
}

TEST_F(Limits, HeadersJustUnderTheLimitAreFine) {
    start();
    std::string header = "X-Big: " + std::string(60 * 1024, 'a') + "\r\n";
    EXPECT_EQ(fetch(get_request("/", header)).status, 200);
}

TEST_F(Limits, ManySmallHeadersAreFine) {
    start();
    std::string headers;
    for (int i = 0; i < 500; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(fetch(get_request("/", headers)).status, 200);
}

TEST_F(Limits, ABodyOverTheLimitIs413BeforeItIsRead) {
    HTTP1ConnectionParameters params;
    params.max_body_size = 1000;
    start(hello_or_echo, params);
    Response ok = fetch(post_request("/", std::string(1000, 'x')));
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body.size(), 1000u);
    // Only the head is sent: the refusal must not wait for the body.
    expect_refused("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, "over the limit");
    expect_refused("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
                   "over the limit");
}

// The lingering-close caveat (chapter README, "Appendix: lingering
// close"): a 413 to an upload the client is still sending, then a close
// with a megabyte unread, which the kernel answers with a reset. On Linux
// over loopback the answer still arrives before the reset.
TEST_F(Limits, A413ToAnUploadStillBeingSentArrivesBeforeTheReset) {
    HTTP1ConnectionParameters params;
    params.max_body_size = 1000;
    start(hello_or_echo, params);
    TestClient client(port());
    // The server reads none of the body, so a send() that waits for room
    // would wait for ever if it did not close: give up after 5 s instead.
    timeval five_seconds{5, 0};
    ::setsockopt(client.fd(), SOL_SOCKET, SO_SNDTIMEO, &five_seconds, sizeof five_seconds);
    send_ignoring_reset(client, "POST / HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n" +
                                    std::string(1024 * 1024, 'x'));
    Response response = read_response(client);
    EXPECT_EQ(response.status, 413) << "the answer: " << escaped(response.head);
    EXPECT_NE(response.body.find("over the limit"), std::string::npos) << escaped(response.body);
    EXPECT_TRUE(client.closed_by_server(2s));
}

TEST_F(Limits, TheDefaultBodyLimitIs10MiB) {
    start();
    Response ok = fetch(post_request("/", std::string(10 * 1024 * 1024, 'x')));
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body.size(), 10u * 1024 * 1024);
    expect_refused("POST / HTTP/1.1\r\nContent-Length: 10485761\r\n\r\n", 413, "over the limit");
}

// --- half-close -----------------------------------------------------------------------

class HalfClose : public HTTPServerTest {};

TEST_F(HalfClose, AClientThatShutsItsSideStillGetsItsResponse) {
    start();
    TestClient client(port());
    client.send(get_request("/"));
    client.shutdown_write();
    Response response = read_response(client);
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_TRUE(client.closed_by_server(2s));  // then nothing more can come: close
}

TEST_F(HalfClose, EvenWhenTheApplicationAnswersLater) {
    start([this](std::shared_ptr<HTTPServerRequest> request) {
        loop.call_later(100ms, [request] { request->reply(200, "late"); });
    });
    TestClient client(port());
    client.send(get_request("/") + get_request("/"));
    client.shutdown_write();
    EXPECT_EQ(read_response(client).body, "late");
    EXPECT_EQ(read_response(client).body, "late");
    EXPECT_TRUE(client.closed_by_server(2s));
}

// A chunked body is read in several steps, each started from the callback
// of the one before; the end of stream is already waiting behind the bytes.
// Every step must still get its bytes (what `nc -q` does to a server).
TEST_F(HalfClose, AChunkedBodyThenShutdownStillGetsItsResponse) {
    start();
    for (int i = 0; i < 20; ++i) {
        TestClient client(port());
        client.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n");
        client.shutdown_write();
        ASSERT_EQ(read_response(client).body, "hello, world") << "attempt " << i;
    }
}

TEST_F(HalfClose, PipelinedPostsThenShutdownAllGetAnswers) {
    start();
    for (int i = 0; i < 20; ++i) {
        TestClient client(port());
        client.send(post_request("/", "one") + post_request("/", "two") + post_request("/", "3"));
        client.shutdown_write();
        ASSERT_EQ(read_response(client).body, "one") << "attempt " << i;
        ASSERT_EQ(read_response(client).body, "two") << "attempt " << i;
        ASSERT_EQ(read_response(client).body, "3") << "attempt " << i;
    }
}

TEST_F(HalfClose, HalfARequestThenShutdownCloses) {
    start();
    TestClient client(port());
    client.send("GET / HTTP/1.1\r\nHost:");
    client.shutdown_write();
    EXPECT_TRUE(client.closed_by_server(2s));
}

// --- time limits ------------------------------------------------------------------------

class Timeouts : public HTTPServerTest {
protected:
    void SetUp() override {
        HTTP1ConnectionParameters params;
        params.header_timeout = 200ms;
        params.body_timeout = 200ms;
        start([this](std::shared_ptr<HTTPServerRequest> request) {
            if (request->path == "/slow") {
                loop.call_later(500ms, [request] { request->reply(200, "slow"); });
            } else {
                hello_or_echo(request);
            }
        }, params);
    }
};

TEST_F(Timeouts, AnIdleConnectionIsClosed) {
    TestClient client(port());
    EXPECT_TRUE(client.closed_by_server(3s));
}

TEST_F(Timeouts, HalfARequestHeadIsClosed) {
    TestClient client(port());
    client.send("GET / HTTP/1.1\r\nHost: a\r\n");
    EXPECT_TRUE(client.closed_by_server(3s));
}

TEST_F(Timeouts, AStalledBodyIsClosed) {
    TestClient client(port());
    client.send("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly a few bytes");
    EXPECT_TRUE(client.closed_by_server(3s));
}

TEST_F(Timeouts, AStalledChunkedBodyIsClosed) {
    TestClient client(port());
    client.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    EXPECT_TRUE(client.closed_by_server(3s));
}

TEST_F(Timeouts, EachRequestGetsAFreshTimeLimit) {
    TestClient client(port());
    for (int i = 0; i < 5; ++i) {  // 5 x 100 ms: longer than one limit
        std::this_thread::sleep_for(100ms);
        client.send(get_request("/"));
        ASSERT_EQ(read_response(client).status, 200);
    }
}

TEST_F(Timeouts, TheApplicationIsNotTimed) {
    TestClient client(port());
    client.send(get_request("/slow"));  // 500 ms in the application
    EXPECT_EQ(read_response(client).body, "slow");
}

// --- not blocking ---------------------------------------------------------------------------

class NotBlocking : public HTTPServerTest {};

// Peers that stall at each stage of a request must not delay anyone: a
// fourth client is answered at once while all three hang on.
TEST_F(NotBlocking, StalledPeersDoNotDelayOthers) {
    start();
    TestClient idle(port());
    TestClient half_head(port());
    half_head.send("GET / HTTP/1.1\r\nHost: a\r\nX-Half");
    TestClient half_body(port());
    half_body.send("POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\nsome of it");
    TestClient half_chunk(port());
    half_chunk.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc");
    std::this_thread::sleep_for(50ms);

    for (int i = 0; i < 3; ++i) expect_still_serving();

    // They are still open, waiting for the rest, not dropped.
    EXPECT_FALSE(idle.closed_by_server(50ms));
    EXPECT_FALSE(half_head.closed_by_server(50ms));
    EXPECT_FALSE(half_body.closed_by_server(50ms));
    EXPECT_FALSE(half_chunk.closed_by_server(50ms));
    // And they can finish.
    half_body.send(std::string(1000 - 10, 'x'));
    EXPECT_EQ(read_response(half_body).body.size(), 1000u);
}

TEST_F(NotBlocking, ASlowApplicationDelaysOnlyItsOwnConnection) {
    start([this](std::shared_ptr<HTTPServerRequest> request) {
        if (request->path == "/slow") {
            loop.call_later(1500ms, [request] { request->reply(200, "slow"); });
        } else {
            request->reply(200, "Hello, world");
        }
    });
    TestClient slow(port());
    slow.send(get_request("/slow"));
    expect_still_serving();
    EXPECT_EQ(read_response(slow).body, "slow");
}

}  // namespace
}  // namespace course::testing
