// Task 4: graceful shutdown. HTTP2Server::stop() sends each
// connection GOAWAY NO_ERROR with the last stream it took; those streams
// are answered, later ones are ignored, then the connection closes.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "h2_fixture.h"

namespace course::testing {
namespace {

// on_stopped may run after a failed test has returned (the connections
// close in TearDown): what it sets must outlive the test's locals.
std::shared_ptr<std::atomic<bool>> stopped_flag() { return std::make_shared<std::atomic<bool>>(false); }

class Task4_GracefulGoaway : public HTTP2ServerTest {
protected:
    // A server whose "/hold" requests wait, unanswered, until
    // answer_held() (from the test thread); every other path goes to
    // test_routes.
    void start_holding(HTTP2ConnectionParameters params = {}) {
        start(
            [this](std::shared_ptr<HTTPServerRequest> request) {
                if (request->path != "/hold") return test_routes(std::move(request));
                held_ = std::move(request);
                held_taken_.set_value();
            },
            params);
    }
    void wait_until_held() {
        ASSERT_EQ(held_taken_.get_future().wait_for(5s), std::future_status::ready)
            << "the held request never reached the application";
    }
    void answer_held(const std::string& body = "held, then answered") {
        on_loop([&] { std::exchange(held_, nullptr)->reply(200, body); });
    }

private:
    std::shared_ptr<HTTPServerRequest> held_;
    std::promise<void> held_taken_;
};

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

    auto stopped = stopped_flag();
    on_loop([&] { server->stop([stopped] { *stopped = true; }); });
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
    for (int i = 0; i < 100 && !*stopped; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(*stopped) << "on_stopped runs once the last connection has closed";
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
    auto stopped = stopped_flag();
    on_loop([&] { server->stop([stopped] { *stopped = true; }); });
    for (int i = 0; i < 100 && !*stopped; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(*stopped) << "no connection to wait for: on_stopped must run";
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

// The client may open a stream, a POST with its body, while our GOAWAY
// is on its way: every frame of it comes after we said we would ignore it.
// Its HEADERS, its DATA (given back to the connection's window all the
// same), its WINDOW_UPDATE and its RST_STREAM are dropped, none of them
// judged as a frame on an idle stream; the stream the GOAWAY named is
// still answered, and the connection ends with no error.
TEST_F(Task4_GracefulGoaway, APostThatCrossedTheGoawayIsIgnoredWhole) {
    HTTP2ConnectionParameters params;
    params.connection_window_size = 65535;  // the RFC's: given back past half of it
    start_holding(params);
    H2Client client(port());
    client.send_headers(1, get_fields("/hold"));
    wait_until_held();
    on_loop([&] { server->stop(); });
    ASSERT_EQ(client.expect_goaway(), kNoError);
    EXPECT_EQ(client.last_goaway_stream, 1u);

    client.send_headers(3, get_fields("/echo", "POST"), false);
    for (int i = 0; i < 3; ++i) client.send_data(3, std::string(16384, 'p'));
    client.window_update(3, 1000);
    client.send_data(3, "end", true);
    client.send_headers(5, get_fields("/echo", "POST"), false);
    client.send_frame(kRstStream, 0, 5, u32(kCancel));
    // 49,155 bytes, past half the connection's window: given back.
    Frame update = client.read_until([](const Frame& f) {
        return (f.type == kWindowUpdate && f.stream_id == 0) || f.type == kGoaway;
    });
    EXPECT_EQ(update.type, kWindowUpdate)
        << "the DATA of an ignored stream was not given back to the connection's window"
        << (update.type == kGoaway ? ": GOAWAY " + H2Client::goaway_text(update) : "");

    answer_held();
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.status, 200) << "the stream the GOAWAY named was lost";
    EXPECT_EQ(response.body, "held, then answered");
    EXPECT_TRUE(client.closed_by_server(2s));
    for (const Frame& frame : client.skipped) {
        EXPECT_TRUE(frame.stream_id != 3 && frame.stream_id != 5)
            << frame_name(frame.type) << " on stream " << frame.stream_id
            << ", which came after the GOAWAY";
        if (frame.type == kGoaway)
            ADD_FAILURE() << "a second GOAWAY: " << H2Client::goaway_text(frame);
    }
}

// A stream is forgotten once its last frame is handed to the IOStream,
// which may still hold most of a large answer for a client that reads
// slower than we write: the connection closes only once the kernel has
// taken it all. Here 16 MB, more than the socket buffers hold.
TEST_F(Task4_GracefulGoaway, ALargeAnswerInFlightArrivesWhole) {
    constexpr std::size_t kSize = 16 * 1024 * 1024;
    auto late_requests = std::make_shared<std::atomic<int>>(0);
    start([this, late_requests](std::shared_ptr<HTTPServerRequest> request) {
        if (request->path != "/large") {
            ++*late_requests;
            return request->reply(200, "late");
        }
        request->reply(200, std::string(kSize, 'L'));
        server->stop();  // the answer is written, and not yet sent
    });
    H2Client client(port(), true, setting(kInitialWindowSize, 0x7fffffff));
    client.window_update(0, 0x7fffffff - 65535);
    client.send_headers(1, get_fields("/large"));
    ASSERT_EQ(client.expect_goaway(), kNoError);
    // The server is closing now (its last stream is written, not yet
    // flushed): a stream the client opens meanwhile is still ignored whole.
    client.send_headers(3, get_fields("/echo", "POST"), false);
    client.send_data(3, "late", true);
    H2Client::Response response = client.read_response(1, 30s);
    EXPECT_EQ(response.body.size(), kSize) << "the answer was cut when the connection closed";
    while (true) {  // what comes after the answer, until the close
        Frame frame;
        try {
            frame = client.read_frame(2s);
        } catch (const TimeoutError&) {
            ADD_FAILURE() << "the connection was still open 2 s after its last answer";
            break;
        } catch (const std::exception&) {
            break;  // closed: as it should
        }
        EXPECT_NE(frame.type, kGoaway) << "a second GOAWAY: " << H2Client::goaway_text(frame);
        EXPECT_NE(frame.stream_id, 3u) << frame_name(frame.type) << " on stream 3, opened after the GOAWAY";
    }
    // Its answer may never show, but the work would: the client retries a
    // stream above the GOAWAY's last, so a POST would be done twice.
    EXPECT_EQ(*late_requests, 0) << "the application ran stream 3, opened after the GOAWAY";
}

// One GOAWAY NO_ERROR, however many times stop() is called (a second
// Ctrl-C): a second would name the last stream again, and a client reads
// each GOAWAY as news.
TEST_F(Task4_GracefulGoaway, GoawayIsSaidOnce) {
    start_holding();
    H2Client client(port());
    client.send_headers(1, get_fields("/hold"));
    wait_until_held();
    on_loop([&] {
        server->stop();
        server->stop();
    });
    ASSERT_EQ(client.expect_goaway(), kNoError);
    answer_held();
    EXPECT_EQ(client.read_response(1).status, 200);
    EXPECT_TRUE(client.closed_by_server(2s));
    for (const Frame& frame : client.skipped) {
        if (frame.type == kGoaway)
            ADD_FAILURE() << "a second GOAWAY: " << H2Client::goaway_text(frame);
    }
}

// on_stopped says that every connection has closed. A program that stops
// its loop in it (the usual thing to do) would otherwise leave the
// streams in flight unanswered.
TEST_F(Task4_GracefulGoaway, OnStoppedWaitsForTheLastStream) {
    start_holding();
    H2Client client(port());
    client.send_headers(1, get_fields("/hold"));
    wait_until_held();
    auto stopped = std::make_shared<std::atomic<int>>(0);
    on_loop([&] { server->stop([stopped] { ++*stopped; }); });
    ASSERT_EQ(client.expect_goaway(), kNoError);
    on_loop([] {});  // a turn of the loop after stop()
    EXPECT_EQ(*stopped, 0) << "on_stopped ran while a stream was still to be answered";
    answer_held();
    EXPECT_EQ(client.read_response(1).status, 200);
    EXPECT_TRUE(client.closed_by_server(2s));
    for (int i = 0; i < 200 && *stopped == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(*stopped, 1) << "on_stopped runs once, when the last connection has closed";
}

}  // namespace
}  // namespace course::testing
