// Task 4: graceful shutdown. HTTP2Server::stop() sends each
// connection GOAWAY NO_ERROR with the last stream it took; those streams
// are answered, later ones are ignored, then the connection closes.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>

#include "h2_fixture.h"

namespace course::testing {
namespace {

class Task4_GracefulGoaway : public HTTP2ServerTest {};

TEST_F(Task4_GracefulGoaway, StopAnswersTheStreamsTakenThenCloses) {
    auto taken = std::make_shared<std::promise<void>>();
    start([taken](std::shared_ptr<HTTPServerRequest> request) {
        if (request->path == "/slow") {
            taken->set_value();
            IOLoop::current().call_later(300ms, [request] { request->reply(200, "finished"); });
            return;
        }
        request->reply(200, "new");
    });
    H2Client client(port());
    client.send_headers(1, get_fields("/slow"));
    ASSERT_EQ(taken->get_future().wait_for(2s), std::future_status::ready);

    std::atomic<bool> stopped{false};
    on_loop([&] { server->stop([&] { stopped = true; }); });
    EXPECT_EQ(client.expect_goaway(), kNoError);
    EXPECT_EQ(client.last_goaway_stream, 1u);
    // A stream opened after the GOAWAY is not served...
    client.send_headers(3, get_fields("/"));
    // ...but the one taken before is, in full.
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "finished");
    EXPECT_TRUE(client.closed_by_server(2s));
    for (const Frame& frame : client.skipped)
        EXPECT_NE(frame.stream_id, 3u) << "stream 3 was answered";
    for (int i = 0; i < 100 && !stopped; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(stopped) << "on_stopped runs once the last connection has closed";
    EXPECT_THROW(TestClient late(port()), std::exception) << "stop() stops accepting";
}

TEST_F(Task4_GracefulGoaway, AnIdleConnectionClosesAtOnce) {
    start();
    H2Client client(port());
    client.send_headers(1, get_fields("/"));
    ASSERT_EQ(client.read_response(1).status, 200);
    on_loop([&] { server->stop(); });
    EXPECT_EQ(client.expect_goaway(), kNoError);
    EXPECT_EQ(client.last_goaway_stream, 1u);
    EXPECT_TRUE(client.closed_by_server(1s));
}

TEST_F(Task4_GracefulGoaway, WithNoConnectionStopRunsOnStoppedAtOnce) {
    start();
    std::atomic<bool> stopped{false};
    on_loop([&] { server->stop([&] { stopped = true; }); });
    for (int i = 0; i < 100 && !stopped; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(stopped) << "no connection to wait for: on_stopped must run";
    EXPECT_THROW(TestClient late(port()), std::exception) << "stop() stops accepting";
}

TEST_F(Task4_GracefulGoaway, EveryConnectionIsToldToGoAway) {
    start();
    H2Client first(port());
    H2Client second(port());
    second.send_headers(1, get_fields("/slow?ms=200"));
    std::this_thread::sleep_for(50ms);
    on_loop([&] { server->stop(); });
    EXPECT_EQ(first.expect_goaway(), kNoError);
    EXPECT_EQ(first.last_goaway_stream, 0u) << "no stream was taken on the first";
    EXPECT_EQ(second.expect_goaway(), kNoError);
    EXPECT_EQ(second.read_response(1).status, 200);
    EXPECT_TRUE(first.closed_by_server(1s));
    EXPECT_TRUE(second.closed_by_server(2s));
}

}  // namespace
}  // namespace course::testing
