// Task 3: flow control. A request body is taken in within the windows we
// gave and given back with WINDOW_UPDATE; a response's DATA waits for the
// client's windows, per stream, so that one stalled reader holds up nobody
// else, and a handler that streams is paced by its reader.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "h2_fixture.h"
#include "window.h"

namespace course::testing {
namespace {

// The window type alone (window.h): its two rules, without a connection.
TEST(Task3_Window, ConsumeTakesBytesOff) {
    http2::Window window(100);
    window.consume(30);
    EXPECT_EQ(window.size(), 70);
    window.consume(80);  // a SETTINGS change may leave a send window below zero
    EXPECT_EQ(window.size(), -10);
}

TEST(Task3_Window, UpdateStopsAtTwoToTheThirtyOneMinusOne) {
    http2::Window window(http2::kMaxWindowSize - 10);
    EXPECT_TRUE(window.update(10));  // exactly 2^31-1 is allowed
    EXPECT_EQ(window.size(), http2::kMaxWindowSize);
    EXPECT_FALSE(window.update(1));
    EXPECT_EQ(window.size(), http2::kMaxWindowSize) << "a refused update leaves the window as it was";
    EXPECT_TRUE(window.update(-http2::kMaxWindowSize - 5));  // SETTINGS may move it down
    EXPECT_EQ(window.size(), -5);
}

TEST(Task3_Window, GiveBackComesInBatchesOfHalfAWindow) {
    http2::Window window(1000);
    window.consume(600);
    EXPECT_EQ(window.give_back(300, 1000), 0u) << "less than half a window waits";
    EXPECT_EQ(window.size(), 400);
    EXPECT_EQ(window.give_back(200, 1000), 500u) << "then all that waited goes at once";
    EXPECT_EQ(window.size(), 900);
    EXPECT_EQ(window.give_back(100, 1000), 0u) << "and what was given back is not given again";
    EXPECT_EQ(window.give_back(400, 1000), 500u);
}

class Task3_FlowControl : public HTTP2ServerTest {
protected:
    // Sends `body` on `stream_id` as a well-behaved client does: never more
    // than the windows the server gave, waiting for its WINDOW_UPDATEs.
    // Counts the updates it saw; fails the test if the windows stay shut.
    void send_body_within_windows(H2Client& client, std::uint32_t stream_id,
                                  const std::string& body, std::int64_t stream_window,
                                  std::int64_t connection_window) {
        std::size_t sent = 0;
        while (sent < body.size()) {
            std::int64_t room = std::min({stream_window, connection_window, std::int64_t{16384}});
            if (room <= 0) {
                Frame update = client.read_until(
                    [](const Frame& f) {
                        return f.type == kWindowUpdate || f.type == kGoaway || f.type == kRstStream;
                    },
                    3s);
                ASSERT_EQ(update.type, kWindowUpdate)
                    << "the windows stayed shut after " << sent << " bytes";
                std::uint32_t increment = get_u32(update.payload, 0);
                (update.stream_id == 0 ? connection_window : stream_window) += increment;
                (update.stream_id == 0 ? connection_updates : stream_updates) += increment;
                continue;
            }
            std::size_t size = std::min<std::size_t>(room, body.size() - sent);
            client.send_data(stream_id, body.substr(sent, size), sent + size == body.size());
            sent += size;
            stream_window -= size;
            connection_window -= size;
        }
    }

    std::int64_t stream_updates = 0;
    std::int64_t connection_updates = 0;
};

TEST_F(Task3_FlowControl, WindowUpdatesComeAsTheBodyIsTakenIn) {
    HTTP2ConnectionParameters params;
    params.initial_window_size = 1000;
    params.connection_window_size = 65535;
    start(test_routes, params);
    H2Client client(port());
    std::string body(5000, 'b');
    client.send_headers(1, get_fields("/echo", "POST"), false);
    send_body_within_windows(client, 1, body, 1000, 65535);
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, body);
    EXPECT_GE(stream_updates, 4000) << "a 5000-byte body in a 1000-byte window";
}

TEST_F(Task3_FlowControl, TheConnectionWindowIsGivenBackToo) {
    HTTP2ConnectionParameters params;
    params.initial_window_size = 1 << 20;
    params.connection_window_size = 65535;
    start(test_routes, params);
    H2Client client(port());
    std::string body(200000, 'c');
    client.send_headers(1, get_fields("/echo", "POST"), false);
    send_body_within_windows(client, 1, body, 1 << 20, 65535);
    // The echo is as large: open our windows for it.
    client.window_update(0, 1 << 20);
    client.window_update(1, 1 << 20);
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.body.size(), body.size());
    EXPECT_GE(connection_updates, 200000 - 65535);
}

// DATA the server will not take still counted against the connection's
// window when it came: it must be given back, or the window leaks shut for
// good. Here 49,152 bytes go to streams in error (each frame over its
// stream's window of 1000), then a body must still get through.
TEST_F(Task3_FlowControl, DataOnAStreamInErrorIsGivenBackToTheConnection) {
    HTTP2ConnectionParameters params;
    params.initial_window_size = 1000;
    params.connection_window_size = 65535;
    start(test_routes, params);
    H2Client client(port());
    for (std::uint32_t id : {1u, 3u, 5u}) {
        client.send_headers(id, get_fields("/echo", "POST"), false);
        client.send_data(id, std::string(16384, 'w'));
        EXPECT_EQ(client.expect_rst(id), kFlowControlError);
    }
    std::string body(30000, 'd');
    client.send_headers(7, get_fields("/echo", "POST"), false);
    send_body_within_windows(client, 7, body, 1000, 65535 - 3 * 16384);
    H2Client::Response response = client.read_response(7);
    EXPECT_EQ(response.body.size(), body.size());
}

// The same for DATA on a stream the server no longer holds: one it reset
// (refused, over max_concurrent_streams) before the client knew.
TEST_F(Task3_FlowControl, DataOnAStreamWeResetIsGivenBackToTheConnection) {
    HTTP2ConnectionParameters params;
    params.max_concurrent_streams = 1;
    params.initial_window_size = 1 << 20;
    params.connection_window_size = 65535;
    start(test_routes, params);
    H2Client client(port());
    client.send_headers(1, get_fields("/slow?ms=200"));
    client.send_headers(3, get_fields("/echo", "POST"), false);
    EXPECT_EQ(client.expect_rst(3), kRefusedStream);
    for (int i = 0; i < 3; ++i) client.send_data(3, std::string(16384, 'w'));
    ASSERT_EQ(client.read_response(1).status, 200);
    std::string body(30000, 'd');
    client.send_headers(5, get_fields("/echo", "POST"), false);
    send_body_within_windows(client, 5, body, 1 << 20, 65535 - 3 * 16384);
    H2Client::Response response = client.read_response(5);
    EXPECT_EQ(response.body.size(), body.size());
}

// A DATA frame's whole length counts against the windows, the pad length
// byte and the padding included (RFC 9113 section 6.9.1).
TEST_F(Task3_FlowControl, PaddingCountsAgainstTheWindow) {
    HTTP2ConnectionParameters params;
    params.initial_window_size = 1000;
    start(test_routes, params);
    H2Client client(port());
    client.send_headers(1, get_fields("/echo", "POST"), false);
    // 1 + 900 + 100 = 1001 bytes: over the stream's 1000, though its data is 900.
    std::string padded = std::string(1, static_cast<char>(100)) + std::string(900, 'p') +
                         std::string(100, '\0');
    client.send_frame(kData, 0x8, 1, padded);
    EXPECT_EQ(client.expect_rst(1), kFlowControlError);
}

// Each byte of DATA is given back once, and no more: a client keeps its
// own count of our windows, and one that a WINDOW_UPDATE takes past what
// we announced is a server giving back what it never took (real clients
// refuse the update that takes it past 2^31-1, after a few hundred
// uploads). Here forty uploads on one connection, every frame counted as
// a client counts it.
TEST_F(Task3_FlowControl, EachByteIsGivenBackOnceAndNoMore) {
    constexpr std::int64_t kStreamWindow = 1000;
    constexpr std::int64_t kConnectionWindow = 65535;
    HTTP2ConnectionParameters params;
    params.initial_window_size = kStreamWindow;
    params.connection_window_size = kConnectionWindow;
    start(test_routes, params);
    H2Client client(port());
    std::int64_t connection_window = kConnectionWindow;
    const std::string body(3000, 'u');
    for (std::uint32_t id = 1; id < 80; id += 2) {
        client.send_headers(id, get_fields("/length", "POST"), false);
        std::int64_t stream_window = kStreamWindow;
        std::size_t sent = 0;
        bool answered = false;
        while (!answered) {
            std::int64_t room = std::min({stream_window, connection_window, std::int64_t{16384}});
            if (sent < body.size() && room > 0) {
                std::size_t size = std::min<std::size_t>(room, body.size() - sent);
                client.send_data(id, body.substr(sent, size), sent + size == body.size());
                sent += size;
                stream_window -= size;
                connection_window -= size;
                continue;
            }
            Frame frame = client.read_frame();
            if (frame.type == kWindowUpdate && frame.stream_id == 0) {
                connection_window += get_u32(frame.payload, 0);
                ASSERT_LE(connection_window, kConnectionWindow)
                    << "upload " << (id + 1) / 2 << ": the connection's window went past the "
                    << kConnectionWindow << " bytes announced: given back more than was sent";
            } else if (frame.type == kWindowUpdate && frame.stream_id == id) {
                stream_window += get_u32(frame.payload, 0);
                ASSERT_LE(stream_window, kStreamWindow)
                    << "stream " << id << "'s window went past the " << kStreamWindow
                    << " bytes announced: given back more than was sent";
            } else if (frame.type == kGoaway || frame.type == kRstStream) {
                FAIL() << "upload " << (id + 1) / 2 << ": " << frame_name(frame.type) << " "
                       << error_name(get_u32(frame.payload, frame.type == kGoaway ? 4 : 0));
            } else if (frame.stream_id == id && frame.has(kEndStream)) {
                answered = true;
            }
        }
    }
}

TEST_F(Task3_FlowControl, ConnectionWindowIsRaisedAtTheStart) {
    HTTP2ConnectionParameters params;
    params.connection_window_size = 1 << 20;
    start(test_routes, params);
    H2Client client(port());
    Frame update = client.read_until([](const Frame& f) { return f.type == kWindowUpdate; });
    EXPECT_EQ(update.stream_id, 0u);
    EXPECT_EQ(get_u32(update.payload, 0), (1u << 20) - 65535);
}

TEST_F(Task3_FlowControl, DataBeyondTheStreamWindowIsAFlowControlError) {
    HTTP2ConnectionParameters params;
    params.initial_window_size = 1000;
    start(test_routes, params);
    H2Client client(port());
    // Our SETTINGS ACK has gone before these frames: the 1000 applies.
    client.send_headers(1, get_fields("/echo", "POST"), false);
    client.send_data(1, std::string(1001, 'x'));
    EXPECT_EQ(client.expect_rst(1), kFlowControlError);
    client.send_headers(3, get_fields("/"));
    EXPECT_EQ(client.read_response(3).status, 200) << "only that stream is reset";
}

TEST_F(Task3_FlowControl, DataIsHeldAtAZeroWindowAndReleasedByWindowUpdate) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 0));
    client.send_headers(1, get_fields("/big?n=5000"));
    Frame head = client.read_until([](const Frame& f) { return f.type == kHeaders; });
    EXPECT_FALSE(head.has(kEndStream));
    // Nothing more while the window is shut.
    EXPECT_THROW(client.read_frame(300ms), TimeoutError);
    client.window_update(1, 1000);
    Frame data = client.read_frame();
    EXPECT_EQ(data.type, kData);
    EXPECT_EQ(data.length, 1000u) << "exactly what the window allowed";
    EXPECT_FALSE(data.has(kEndStream));
    EXPECT_THROW(client.read_frame(300ms), TimeoutError);
    client.window_update(1, 4000);
    H2Client::Response rest = client.read_response(1);
    EXPECT_EQ(data.payload.size() + rest.body.size(), 5000u);
}

// The top bit of a WINDOW_UPDATE's increment is reserved, as a stream
// id's is: ignored, never part of the number (RFC 9113 section 6.9).
TEST_F(Task3_FlowControl, TheReservedBitOfAWindowUpdateIsIgnored) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 0));
    client.send_headers(1, get_fields("/big?n=5000"));
    client.read_until([](const Frame& f) { return f.type == kHeaders; });
    client.window_update(0, 0x80000000u | 100);  // the connection's: 65535 + 100
    client.window_update(1, 0x80000000u | 1000);
    Frame data = client.read_until(
        [](const Frame& f) { return f.type == kData || f.type == kRstStream || f.type == kGoaway; });
    ASSERT_EQ(data.type, kData) << frame_name(data.type)
                                << " for WINDOW_UPDATEs whose reserved bit was set";
    EXPECT_EQ(data.length, 1000u) << "the increment is the low 31 bits: 1000";
}

// A response's DATA may wait for a window; a write of nothing, which
// sends no DATA, must not: its on_flushed comes once what was written
// before it has gone, whatever the windows (here the stream's is spent).
TEST_F(Task3_FlowControl, AnEmptyWriteNeedsNoWindow) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, HTTPHeaders());
        request->connection->write(std::string(1000, 'e'));
        request->connection->write("", [request] { request->connection->finish(); });
    });
    H2Client client(port(), true, setting(kInitialWindowSize, 1000));
    client.send_headers(1, get_fields("/"));
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.body.size(), 1000u)
        << "the empty write's on_flushed, which finishes the answer, waited for a window";
}

TEST_F(Task3_FlowControl, TheConnectionWindowHoldsDataToo) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 1 << 20));
    client.send_headers(1, get_fields("/big?n=100000"));
    std::size_t received = 0;
    while (received < 65535) {
        Frame frame = client.read_frame();
        if (frame.type == kData) received += frame.length;
    }
    EXPECT_EQ(received, 65535u) << "the connection's window is 65535";
    EXPECT_THROW(client.read_frame(300ms), TimeoutError);
    client.window_update(0, 100000 - 65535);
    H2Client::Response rest = client.read_response(1);
    EXPECT_EQ(received + rest.body.size(), 100000u);
}

TEST_F(Task3_FlowControl, DataIsSplitAtThePeersMaxFrameSize) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 1 << 20));
    client.window_update(0, 1 << 20);
    client.send_headers(1, get_fields("/big?n=40000"));
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.body.size(), 40000u);
    for (std::uint32_t size : response.data_frame_sizes) EXPECT_LE(size, 16384u);
}

TEST_F(Task3_FlowControl, AStalledStreamDoesNotBlockAnother) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 100));
    client.send_headers(1, get_fields("/big?n=50000"));  // its reader never opens its window
    client.send_headers(3, get_fields("/big?n=5000"));
    client.window_update(3, 4900);
    H2Client::Response other = client.read_response(3);
    EXPECT_EQ(other.status, 200);
    EXPECT_EQ(other.body.size(), 5000u);
    // And stream 1 took no more than its window meanwhile.
    std::size_t stalled = 0;
    for (const Frame& frame : client.skipped) {
        if (frame.type == kData && frame.stream_id == 1) stalled += frame.length;
    }
    EXPECT_LE(stalled, 100u);
}

// A handler that streams with on_flushed writes its next chunk only when
// the last one has gone out: a reader that stops reading stops it, and the
// server holds one chunk for it, not the whole response.
TEST_F(Task3_FlowControl, AStreamingHandlerIsPacedByItsReader) {
    constexpr int kChunks = 100;
    constexpr std::size_t kChunkSize = 1000;
    auto written = std::make_shared<std::atomic<int>>(0);
    start([written](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, HTTPHeaders());
        auto next = std::make_shared<std::function<void()>>();
        *next = [request, written, next] {
            if (++*written > kChunks) {
                *next = nullptr;  // (breaks the cycle)
                return request->connection->finish();
            }
            request->connection->write(std::string(kChunkSize, 's'), *next);
        };
        (*next)();
    });
    H2Client client(port(), true, setting(kInitialWindowSize, 0));
    client.send_headers(1, get_fields("/stream"));
    client.read_until([](const Frame& f) { return f.type == kHeaders; });
    std::this_thread::sleep_for(300ms);
    EXPECT_LE(written->load(), 2) << "the handler went on writing into a shut window";
    client.window_update(0, kChunks * kChunkSize);
    client.window_update(1, kChunks * kChunkSize);
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.body.size(), kChunks * kChunkSize);
    EXPECT_EQ(written->load(), kChunks + 1);
}

TEST_F(Task3_FlowControl, WindowOverflowIsAFlowControlError) {
    start();
    {
        H2Client client(port(), true, setting(kInitialWindowSize, 0));
        // Held open: the connection's window (65535) is smaller than the body.
        client.send_headers(1, get_fields("/big?n=100000"));
        client.read_until([](const Frame& f) { return f.type == kHeaders; });
        client.window_update(1, 0x7fffffff);  // fine: 0 + 2^31-1 (minus what is sent)
        client.window_update(1, 0x7fffffff);  // over, however much was sent meanwhile
        EXPECT_EQ(client.expect_rst(1), kFlowControlError);
    }
    {
        H2Client client(port());
        client.window_update(0, 0x7fffffff - 65535);  // the connection's window at 2^31-1: fine
        client.send_headers(1, get_fields("/"));
        EXPECT_EQ(client.read_response(1).status, 200)
            << "a connection's window of exactly 2^31-1 is allowed (nghttp -W31 asks for it)";
        client.window_update(0, 13);  // over by 1: the answer took 12 ("Hello, world")
        EXPECT_EQ(client.expect_goaway(), kFlowControlError);
    }
}

// A SETTINGS change may take an open stream's window to exactly 2^31-1.
TEST_F(Task3_FlowControl, ASettingsChangeToExactlyTheLargestWindowIsTaken) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 0));
    client.send_headers(1, get_fields("/big?n=1000"));
    client.read_until([](const Frame& f) { return f.type == kHeaders; });
    // The stream's window goes from 0 to 0 + (2^31-1 - 0): the largest allowed.
    client.send_frame(kSettings, 0, 0, setting(kInitialWindowSize, 0x7fffffff));
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.body.size(), 1000u);
}

// The body of a request we have refused (413) is not wanted: its stream
// gets no more window, or the client would send it all for nothing.
TEST_F(Task3_FlowControl, ARefusedBodyGetsNoMoreWindow) {
    HTTP2ConnectionParameters params;
    params.max_body_size = 1000;
    params.initial_window_size = 4000;
    start(test_routes, params);
    H2Client client(port());
    client.send_headers(1, get_fields("/echo", "POST"), false);
    client.send_data(1, std::string(3000, 'r'));  // over max_body_size: 413
    // Every frame of stream 1 until its answer ends.
    int status = 0;
    while (true) {
        Frame frame = client.read_until([](const Frame& f) { return f.stream_id == 1; });
        if (frame.missing) break;
        EXPECT_FALSE(frame.type == kWindowUpdate)
            << "WINDOW_UPDATE of " << get_u32(frame.payload, 0)
            << " for the body of a request already refused";
        for (const auto& [name, value] : frame.fields) {
            if (name == ":status") status = std::stoi(value);
        }
        if (frame.has(kEndStream) && (frame.type == kData || frame.type == kHeaders)) break;
    }
    EXPECT_EQ(status, 413);
}

// on_flushed says "the whole chunk has gone": it waits for the chunk's last
// byte, however many frames the windows cut it into. A handler that writes
// the next chunk on it holds one chunk, not two.
TEST_F(Task3_FlowControl, OnFlushedWaitsForTheChunksLastByte) {
    auto flushed = std::make_shared<std::atomic<bool>>(false);
    start([flushed](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, HTTPHeaders());
        request->connection->write(std::string(3000, 'c'), [request, flushed] {
            *flushed = true;
            request->connection->finish();
        });
    });
    H2Client client(port(), true, setting(kInitialWindowSize, 1000));
    client.send_headers(1, get_fields("/"));
    Frame first = client.read_until([](const Frame& f) { return f.type == kData; });
    EXPECT_EQ(first.length, 1000u);
    // The window is spent, 2000 bytes wait: on_flushed must not come. (The
    // wait only gives a wrong on_flushed time to show; a right one passes
    // at once.)
    for (int turn = 0; turn < 30 && !*flushed; ++turn) {
        on_loop([] {});
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_FALSE(*flushed) << "on_flushed ran when the first 1000 of 3000 bytes had gone";
    client.window_update(1, 2000);
    H2Client::Response rest = client.read_response(1);
    EXPECT_EQ(first.payload.size() + rest.body.size(), 3000u);
    EXPECT_TRUE(*flushed);
}

// Several chunks written, then finish(), in one turn: END_STREAM goes on
// the last frame of the last chunk, once.
TEST_F(Task3_FlowControl, SeveralChunksThenFinishEndTheStreamOnce) {
    start([](std::shared_ptr<HTTPServerRequest> request) {
        request->connection->write_headers(200, HTTPHeaders());
        request->connection->write(std::string(20000, 'a'));
        request->connection->write(std::string(20000, 'b'));
        request->connection->finish();
    });
    H2Client client(port(), true, setting(kInitialWindowSize, 1 << 20));
    client.window_update(0, 1 << 20);
    client.send_headers(1, get_fields("/"));
    H2Client::Response response = client.read_response(1);
    EXPECT_EQ(response.body, std::string(20000, 'a') + std::string(20000, 'b'))
        << "END_STREAM came after " << response.body.size() << " of 40000 bytes";
}

TEST_F(Task3_FlowControl, SettingsCanTakeAWindowOverTheTop) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 0));
    client.send_headers(1, get_fields("/big?n=100000"));  // held open, as above
    client.read_until([](const Frame& f) { return f.type == kHeaders; });
    client.window_update(1, 0x7fffffff);
    // Every stream's window moves by the change, 0 to 2^31-1: over the top.
    client.send_frame(kSettings, 0, 0, setting(kInitialWindowSize, 0x7fffffff));
    EXPECT_EQ(client.expect_goaway(), kFlowControlError);
}

// SETTINGS_INITIAL_WINDOW_SIZE moves the window of every open stream by
// the change, and may take it below zero: the stream then needs more than
// the change back before it may send again (RFC 9113 section 6.9.2).
TEST_F(Task3_FlowControl, ASettingsChangeCanTakeAWindowBelowZero) {
    start();
    H2Client client(port(), true, setting(kInitialWindowSize, 1000));
    client.send_headers(1, get_fields("/big?n=5000"));
    Frame first = client.read_until([](const Frame& f) { return f.type == kData; });
    EXPECT_EQ(first.length, 1000u);
    // The window is spent: 1000 - 1000 = 0; with the change, 0 - 1000.
    client.send_frame(kSettings, 0, 0, setting(kInitialWindowSize, 0));
    client.window_update(1, 1500);
    Frame next = client.read_until([](const Frame& f) { return f.type == kData; });
    EXPECT_EQ(next.length, 500u) << "-1000 + 1500: the window below zero was not kept";
    EXPECT_THROW(client.read_frame(300ms), TimeoutError) << "more than the window allowed";
}

TEST_F(Task3_FlowControl, AZeroIncrementIsAProtocolError) {
    start();
    {
        H2Client client(port(), true, setting(kInitialWindowSize, 0));
        client.send_headers(1, get_fields("/big?n=100"));
        client.read_until([](const Frame& f) { return f.type == kHeaders; });
        client.window_update(1, 0);
        EXPECT_EQ(client.expect_rst(1), kProtocolError);
    }
    {
        H2Client client(port());
        client.window_update(0, 0);
        EXPECT_EQ(client.expect_goaway(), kProtocolError);
    }
}

}  // namespace
}  // namespace course::testing
