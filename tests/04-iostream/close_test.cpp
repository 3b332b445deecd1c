// close_test.cpp: how a stream closes, and what it says about why.
// Task4_* grade exercise task 4 (limits, the peer's close, close()).
// IOStreamLifetime.* check who keeps a stream alive.
#include <thread>

#include "stream_fixture.h"

namespace course::testing {
namespace {

using Task4_Close = StreamTest;
using IOStreamLifetime = StreamTest;

// --- limits ------------------------------------------------------------------------

TEST_F(Task4_Close, DelimiterNotWithinMaxBytesClosesWithTheReason) {
    bool read_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; }, 16);
    deliver("0123456789");
    EXPECT_FALSE(stream->closed()) << "closed before max_bytes was reached";
    deliver("0123456789");
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    EXPECT_TRUE(stream->closed());
    EXPECT_NE(stream->close_reason().find("max_bytes (16)"), std::string::npos)
        << "reason: " << stream->close_reason();
    EXPECT_FALSE(read_called);
    run_for(20ms);
    EXPECT_EQ(close_calls, 1);
}

// Catches: `size > max_bytes` for `size >= max_bytes` in task 1's
// find_delimiter. With max_bytes bytes buffered and no delimiter among them,
// the read can no longer succeed (a delimiter still to come would end past
// the limit): the stream closes then, not one byte later.
TEST_F(Task4_Close, MaxBytesWithoutTheDelimiterClosesAtOnce) {
    stream->read_until("\n", [](std::string) {}, 16);
    deliver("012345678901234");  // 15 bytes: a delimiter may still come in time
    EXPECT_FALSE(stream->closed()) << "closed before max_bytes was reached";
    deliver("5");  // 16 bytes, no delimiter
    EXPECT_TRUE(run_until([&] { return stream->closed(); }))
        << "16 bytes and no delimiter: a read limited to 16 bytes cannot succeed any more";
    EXPECT_NE(stream->close_reason().find("max_bytes (16)"), std::string::npos)
        << "reason: " << stream->close_reason();
}

TEST_F(Task4_Close, MaxBytesCountsTheDelimiter) {
    write_all(peer.get(), "0123456789\n");  // 11 bytes with the delimiter
    stream->read_until("\n", [](std::string) {}, 10);
    ASSERT_TRUE(run_until([&] { return stream->closed(); }));
    EXPECT_NE(stream->close_reason().find("max_bytes (10)"), std::string::npos);
}

TEST_F(Task4_Close, RegexNotWithinMaxBytesClosesWithTheReason) {
    stream->read_until_regex(std::regex("\n\n"), [](std::string) {}, 32);
    write_all(peer.get(), std::string(40, 'x'));
    ASSERT_TRUE(run_until([&] { return stream->closed(); }));
    EXPECT_NE(stream->close_reason().find("max_bytes (32)"), std::string::npos)
        << "reason: " << stream->close_reason();
}

TEST_F(Task4_Close, MoreThanMaxBufferSizeClosesWithTheReason) {
    connect(64 * 1024);
    bool read_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; });  // no max_bytes
    std::thread flood([fd = peer.get()] {
        std::string chunk(16 * 1024, 'x');
        try {
            for (int i = 0; i < 64; ++i) write_all(fd, chunk);  // 1 MB, no newline
        } catch (const std::system_error&) {
            // The stream closed on us: expected.
        }
    });
    bool closed = run_until([&] { return close_calls > 0; }, 10s);
    ::shutdown(peer.get(), SHUT_RDWR);  // ends the flood if it is still blocked in send()
    flood.join();
    ASSERT_TRUE(closed) << "a peer sent 1 MB to a stream limited to 64 KB";
    EXPECT_NE(stream->close_reason().find("max_buffer_size"), std::string::npos)
        << "reason: " << stream->close_reason();
    EXPECT_FALSE(read_called);
}

TEST_F(Task4_Close, ReadBytesOverMaxBufferSizeCloses) {
    connect(1024);
    stream->read_bytes(4096, [](std::string) {});
    write_all(peer.get(), std::string(4096, 'x'));
    ASSERT_TRUE(run_until([&] { return stream->closed(); }));
    EXPECT_NE(stream->close_reason().find("max_buffer_size"), std::string::npos);
}

// --- the peer goes away -------------------------------------------------------------

TEST_F(Task4_Close, PeerClosingMidReadRunsTheCloseCallbackOnce) {
    bool read_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; });
    deliver("half a li");
    peer.reset();  // an orderly close (FIN)
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    run_for(30ms);
    EXPECT_EQ(close_calls, 1);
    EXPECT_FALSE(read_called);
    EXPECT_EQ(stream->close_reason(), IOStream::kClosedByPeer);
}

TEST_F(Task4_Close, PeerResetMidReadRunsTheCloseCallbackOnce) {
    bool read_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; });
    deliver("half a li");
    reset_peer();  // RST: "Connection reset by peer"
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    run_for(30ms);
    EXPECT_EQ(close_calls, 1);
    EXPECT_FALSE(read_called);
    EXPECT_NE(stream->close_reason().find("reset"), std::string::npos)
        << "reason: " << stream->close_reason();
}

TEST_F(Task4_Close, PeerResetWhileIdleIsNoticed) {
    reset_peer();
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    EXPECT_TRUE(stream->closed());
}

TEST_F(Task4_Close, ReadUntilCloseGetsEverythingThePeerSent) {
    std::string got;
    bool closed_in_callback = false;
    std::string reason_in_callback;
    stream->read_until_close([&](std::string data) {
        got = std::move(data);
        closed_in_callback = stream->closed();
        reason_in_callback = stream->close_reason();
    });
    deliver("one ");
    deliver("two ");
    write_all(peer.get(), "three");
    ::shutdown(peer.get(), SHUT_WR);
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    EXPECT_EQ(got, "one two three");
    EXPECT_TRUE(closed_in_callback);
    EXPECT_EQ(reason_in_callback, IOStream::kClosedByPeer)
        << "the peer's close ended read_until_close: close_reason() must say so";
    EXPECT_EQ(close_calls, 1);
}

TEST_F(Task4_Close, BufferedLinesAreStillReadAfterThePeerCloses) {
    // The peer sends two lines and leaves at once; both lines still count.
    write_all(peer.get(), "a\nb\n");
    peer.reset();
    keep_reading([&](IOStream::ReadCallback done) { stream->read_until("\n", done); }, 2);
    ASSERT_TRUE(run_until([&] { return results.size() == 2; }));
    EXPECT_EQ(results, (std::vector<std::string>{"a\n", "b\n"}));
}

// --- a closed stream ------------------------------------------------------------------

TEST_F(Task4_Close, ReadAndWriteOnAClosedStreamThrowWithTheReason) {
    stream->read_until("\n", [](std::string) {});
    peer.reset();
    ASSERT_TRUE(run_until([&] { return stream->closed(); }));
    try {
        stream->read_bytes(1, [](std::string) {});
        FAIL() << "read_bytes on a closed stream did not throw";
    } catch (const StreamClosedError& error) {
        EXPECT_EQ(error.reason(), IOStream::kClosedByPeer);
        EXPECT_NE(std::string(error.what()).find(IOStream::kClosedByPeer), std::string::npos);
    }
    EXPECT_THROW(stream->write("x"), StreamClosedError);
    EXPECT_THROW(stream->read_until_close([](std::string) {}), StreamClosedError);
}

TEST_F(Task4_Close, CloseTwiceRunsTheCloseCallbackOnce) {
    stream->close();
    stream->close();
    EXPECT_EQ(close_calls, 0) << "the close callback ran inside close()";
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    run_for(20ms);
    EXPECT_EQ(close_calls, 1);
    EXPECT_EQ(stream->close_reason(), IOStream::kClosedByApplication);
    EXPECT_EQ(stream->fileno(), -1);
}

// Catches: a second close that goes through again (no "closed already"
// check): the first reason must stay, and the close callback run once.
TEST_F(Task4_Close, TheFirstReasonStays) {
    stream->read_until("\n", [](std::string) {});
    peer.reset();
    ASSERT_TRUE(run_until([&] { return stream->closed(); }));
    stream->close();
    run_for(20ms);
    EXPECT_EQ(stream->close_reason(), IOStream::kClosedByPeer);
    EXPECT_EQ(close_calls, 1);
}

TEST_F(Task4_Close, CloseDropsPendingCallbacks) {
    bool read_called = false;
    bool write_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; });
    stream->write(std::string(8 * 1024 * 1024, 'x'), [&] { write_called = true; });
    stream->close();
    EXPECT_FALSE(stream->reading());
    EXPECT_FALSE(stream->writing());
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    run_for(20ms);
    EXPECT_FALSE(read_called);
    EXPECT_FALSE(write_called);
}

TEST_F(Task4_Close, PeerSeesTheClose) {
    stream->close();
    // A bounded wait: a socket left open would block the read for ever.
    timeval timeout{3, 0};
    ::setsockopt(peer.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char byte;
    EXPECT_EQ(read_some(peer.get(), &byte, 1), 0)
        << "the peer saw no end of stream within 3 s: the socket was not closed";
}

TEST_F(Task4_Close, CloseCallbackSetAfterTheCloseStillRunsOnce) {
    stream->close();
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }));
    int late_calls = 0;
    stream->set_close_callback([&] { ++late_calls; });
    ASSERT_TRUE(run_until([&] { return late_calls > 0; }));
    run_for(20ms);
    EXPECT_EQ(late_calls, 1);
    EXPECT_EQ(close_calls, 1);
}

// --- closing from inside: lifetimes and re-entrancy ----------------------------------------
// make grade builds these with AddressSanitizer: a mistake here is a read
// of freed memory, which without it often passes by luck.

// Rule: unregistering drops the loop's reference to the stream, which may
// be the last one. close_because() holds its own until it returns, and the
// close callback it schedules holds one until it has run.
// Catches: a close_because without that hold, a close callback scheduled
// with a raw `this` (both free the stream while it is still in use).
//
// No weak_ptr here: one would keep the stream's memory allocated after its
// destruction (make_shared puts both in one block), and AddressSanitizer
// sees only a use of memory that was freed.
TEST_F(Task4_Close, AStreamOnlyTheLoopHoldsStaysAliveUntilItsCloseCallbackRan) {
    IOStream* raw = stream.get();
    stream.reset();  // from now on the loop's handler is its only owner
    loop.call_later(1ms, [raw] { raw->close(); });
    ASSERT_TRUE(run_until([&] { return close_calls > 0; })) << "the close callback never ran";
    run_for(20ms);
    EXPECT_EQ(close_calls, 1);
}

// Rule: a write callback may close() the stream, which empties the queue of
// callbacks: take each callback out of the queue before running it, and
// run no more once the stream is closed.
// Catches: a callback run where it lies in the queue and popped after it
// returned (the pop then frees what close() freed already, or pops an
// empty queue), and callbacks run on after a close.
TEST_F(Task4_Close, AWriteCallbackMayCloseTheStream) {
    bool later_ran = false;
    stream->write("a", [&] { stream->close(); });
    stream->write("b", [&] { later_ran = true; });
    ASSERT_TRUE(run_until([&] { return close_calls > 0; })) << "the stream never closed";
    run_for(20ms);
    EXPECT_FALSE(later_ran) << "a write callback ran after a callback before it closed the stream";
    EXPECT_EQ(close_calls, 1);
}

// --- lifetime (not graded) ------------------------------------------------------------

TEST_F(IOStreamLifetime, TheLoopKeepsAnOpenStreamAlive) {
    std::weak_ptr<IOStream> weak = stream;
    std::string line;
    stream->read_until("\n", [&](std::string data) { line = std::move(data); });
    stream.reset();  // our last pointer
    EXPECT_FALSE(weak.expired()) << "an open stream must stay registered, and alive";
    write_all(peer.get(), "still here\n");
    ASSERT_TRUE(run_until([&] { return !line.empty(); }));
    EXPECT_EQ(line, "still here\n");
}

// Catches: a close that leaves the stream's handler registered with the
// loop, or keeps the pending callbacks: either keeps the stream alive.
TEST_F(Task4_Close, AClosedStreamIsReleased) {
    std::weak_ptr<IOStream> weak = stream;
    // A callback that captures the stream: a reference cycle that close() breaks.
    stream->read_until("\n", [keep = stream](std::string) {});
    stream.reset();
    peer.reset();
    ASSERT_TRUE(run_until([&] { return weak.expired(); }))
        << "the stream outlived its close: something still holds it";
    EXPECT_EQ(close_calls, 1);
}

// Rule: closing unregisters the stream whatever it asked the loop for, also
// nothing at all (no read pending, nothing to write).
// Catches: unregistering only while events are asked for: an idle stream
// that closes (the demo's "Connection: close", closed from a write
// callback) stays in the loop's table, held, until a new connection
// happens to get its descriptor's number.
TEST_F(Task4_Close, AStreamClosedWhileIdleIsReleased) {
    std::weak_ptr<IOStream> weak = stream;
    stream->close();  // no read pending, nothing to write: no events asked for
    stream.reset();
    ASSERT_TRUE(run_until([&] { return weak.expired(); }))
        << "a stream closed while idle outlived its close: is it still registered with the "
           "loop? Unregister it whatever events it asked for.";
    EXPECT_EQ(close_calls, 1);
}

// Rule: closing drops the write callbacks too, and what they captured.
// Catches: a close that clears the pending read but keeps the write
// waiters: a write callback that holds the stream (the demo's does, through
// its session) keeps both alive for ever once the peer leaves mid-write.
TEST_F(Task4_Close, AClosedStreamWithAWriteWaitingIsReleased) {
    std::weak_ptr<IOStream> weak = stream;
    stream->write(std::string(8 * 1024 * 1024, 'x'), [keep = stream] {});
    ASSERT_TRUE(stream->writing()) << "8 MB went out in one send(); the test proves nothing";
    stream->close();
    stream.reset();
    ASSERT_TRUE(run_until([&] { return weak.expired(); }))
        << "the stream outlived its close: a write callback kept after the close still holds "
           "what it captured";
}

TEST_F(IOStreamLifetime, AnExceptionInACallbackClosesTheStream) {
    stream->read_until("\n", [](std::string) { throw std::runtime_error("handler bug"); });
    write_all(peer.get(), "x\n");
    ASSERT_TRUE(run_until([&] { return stream->closed(); }));
    EXPECT_NE(stream->close_reason().find("handler bug"), std::string::npos);
}

TEST(IOStreamLoopGone, DestroyingTheLoopFreesItsOpenStreams) {
    // An open stream whose pending callback holds the stream itself (a
    // cycle) must still be freed when its loop is destroyed.
    std::weak_ptr<IOStream> weak;
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    FileDescriptor peer = connect_tcp("127.0.0.1", local_port(listener.get()));
    {
        IOLoop loop;
        auto stream = IOStream::create(accept_connection(listener.get()).fd, loop);
        stream->read_until("\n", [stream](std::string) {});
        weak = stream;
    }
    EXPECT_TRUE(weak.expired());
    char byte;
    EXPECT_EQ(read_some(peer.get(), &byte, 1), 0) << "its socket was not closed";
}

}  // namespace
}  // namespace course::testing
