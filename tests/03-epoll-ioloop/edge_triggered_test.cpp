// edge_triggered_test.cpp: the LoopServer with IOLoop::EDGE (exercise task 4,
// the challenge). The scenarios are the level-triggered server's; the first
// two are the ones an edge-triggered server fails if it stops short of
// EAGAIN: epoll reports the burst once, and what is left behind then waits
// forever.
#include <gtest/gtest.h>

#include <string>

#include "loop_server.h"
#include "loop_test_support.h"
#include "server_scenarios.h"
#include "test_client.h"

namespace {

using namespace std::chrono_literals;
using namespace course::testing;

course::LoopServerOptions edge_triggered() {
    course::LoopServerOptions options;
    options.edge_triggered = true;
    return options;
}

TEST(Task4_EdgeTriggered, AcceptsEveryConnectionThatQueuedUp) {
    expect_every_queued_connection_served(edge_triggered());
}

TEST(Task4_EdgeTriggered, ReadsEverythingThatArrivedInOneBurst) {
    expect_everything_read_after_a_busy_moment(edge_triggered());
}

TEST(Task4_EdgeTriggered, AcceptingResumesAfterRunningOutOfDescriptors) {
    expect_accepting_resumes_after_running_out_of_descriptors(edge_triggered());
}

TEST(Task4_EdgeTriggered, EchoesAndAnswersHttp) {
    RunningServer server(edge_triggered());
    TestClient client(server.port());
    client.send("hello\n");
    EXPECT_EQ(client.read_until("\n", 3s), "hello\n");
    TestClient http(server.port());
    std::string requests;
    for (int i = 0; i < 100; ++i) requests += "GET / HTTP/1.1\r\nHost: test\r\n\r\n";
    http.send(requests);
    for (int i = 0; i < 100; ++i) {
        ASSERT_NE(http.read_http_response(3s).find("Hello, world"), std::string::npos);
    }
}

TEST(Task4_EdgeTriggered, AHugeEchoSurvivesBackpressure) {
    // Reading stops at max_pending_output, before EAGAIN: the server must
    // come back for the rest when the peer has read its replies.
    expect_huge_stream_echoed(edge_triggered(), 2 * 1024 * 1024);
}

TEST(Task4_EdgeTriggered, StopsReadingFromAPeerThatDoesNotReadItsReplies) {
    expect_backpressure(edge_triggered());
}

TEST(Task4_EdgeTriggered, SlowPeersDoNotBlockOthers) {
    expect_slow_peers_do_not_block_others(edge_triggered());
}

TEST(Task4_EdgeTriggered, AnIdleConnectionCostsNoCpu) {
    expect_idle_connection_costs_no_cpu(edge_triggered());
}

}  // namespace
