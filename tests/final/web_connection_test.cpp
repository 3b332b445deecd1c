// Tests of the web layer and the connection under it (final/src/web/web.cpp):
// a client that resets or sends its FIN while its handler waits
// (on_connection_close, and the answer still written), two Applications
// sharing a port with reuse_port, and the heap blocks a request costs.
// The WebTest suite's application is in web_test_util.h.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "http_test_util.h"
#include "test_util.h"
#include "tornado/testing.h"
#include "tornado/web.h"
#include "web_test_util.h"

namespace tornado {
namespace {

using namespace std::chrono_literals;
using web_test::WebTest;

// --- a client that resets while its handler waits ---------------------------------

// A reset tells the server the client is gone (a FIN too: the tests of
// WebClientFin below).
TEST_F(WebTest, OnConnectionCloseRunsWhenTheClientResets) {
    auto client = std::make_unique<testing::RawClient>(get_http_port());
    client->send("GET /longpoll HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(testing::run_until(io_loop(), [] { return web_test::long_poll_started; }, 2000ms));
    linger reset_on_close{1, 0};
    ::setsockopt(client->fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
    client.reset();
    ASSERT_TRUE(testing::run_until(io_loop(), [] { return web_test::connection_closes > 0; }, 2000ms));
    testing::run_turns(io_loop(), 5);
    EXPECT_EQ(web_test::connection_closes, 1);  // once, though both the stream and the dispatcher see it
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

// --- the cost of a request ---------------------------------------------------------

// The web layer's cost in heap blocks per keep-alive request, on top of
// HTTPServer's own (HTTPServer.AllocationsPerRequestOnTheFastPath): the
// dispatcher, the handler, its response headers, the Etag.
TEST(WebAllocations, PerHelloWorldRequest) {
    testing::ServerThread server([] {
        auto app = std::make_shared<Application>(std::vector<URLSpec>{{"/", handler<web_test::HelloHandler>()}});
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

}  // namespace
}  // namespace tornado
