// read_test.cpp: read_until, read_until_regex and read_bytes, with the bytes
// arriving whole, in pieces of every size, and split inside a delimiter.
// Task1_* grade exercise task 1, Task2_* task 2; IOStreamReads.* check the
// rules every read follows, and read_until_regex (given in the exercise, as
// a model for task 1).
#include <time.h>

#include <chrono>
#include <functional>
#include <system_error>
#include <thread>

#include "stream_fixture.h"

namespace course::testing {
namespace {

using Task1_ReadUntil = StreamTest;
using Task2_ReadBytes = StreamTest;
using IOStreamReads = StreamTest;

const std::string kLines = "first line\r\nsecond\r\n\r\na longer third line\r\n";
const std::vector<std::string> kExpectedLines = {"first line\r\n", "second\r\n", "\r\n",
                                                 "a longer third line\r\n"};

// --- task 1: read_until ---------------------------------------------------------

TEST_F(Task1_ReadUntil, ReturnsEverythingUpToAndIncludingTheDelimiter) {
    write_all(peer.get(), "hello\nworld");
    std::string line;
    stream->read_until("\n", [&](std::string data) { line = std::move(data); });
    ASSERT_TRUE(run_until([&] { return !line.empty(); })) << "the read never completed";
    EXPECT_EQ(line, "hello\n");
}

TEST_F(Task1_ReadUntil, LinesArrivingInPiecesOfEverySize) {
    // ASSERT, not EXPECT, in these loops: after one wrong answer the bytes
    // left over would spoil every later round, each slower than the last.
    for (std::size_t piece = 1; piece <= kLines.size(); ++piece) {
        keep_reading([&](IOStream::ReadCallback done) { stream->read_until("\r\n", done); },
                     kExpectedLines.size());
        deliver_in_pieces(kLines, piece);
        ASSERT_TRUE(run_until([&] { return results.size() == kExpectedLines.size(); }))
            << "pieces of " << piece << " bytes: got " << results.size() << " lines";
        ASSERT_EQ(results, kExpectedLines) << "pieces of " << piece << " bytes";
    }
}

TEST_F(Task1_ReadUntil, DelimiterSplitAcrossTwoReads) {
    std::string head;
    stream->read_until("\r\n\r\n", [&](std::string data) { head = std::move(data); });
    deliver("GET / HTTP/1.1\r\nHost: x\r\n\r");
    EXPECT_EQ(unread_by_stream(), 0) << "the stream should have read the first part";
    EXPECT_TRUE(head.empty()) << "completed before the delimiter was whole: " << head;
    deliver("\nbody");
    ASSERT_TRUE(run_until([&] { return !head.empty(); }));
    EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST_F(Task1_ReadUntil, DelimiterSplitAtEveryPosition) {
    // The delimiter's first k bytes in one read, the rest in the next, for
    // every k: a search that restarts past the bytes it has seen must still
    // look at the tail.
    const std::string delimiter = "--END--";
    for (std::size_t k = 1; k < delimiter.size(); ++k) {
        std::string got;
        stream->read_until(delimiter, [&](std::string data) { got = std::move(data); });
        deliver("payload" + delimiter.substr(0, k));
        EXPECT_TRUE(got.empty()) << "k=" << k;
        deliver(delimiter.substr(k));
        ASSERT_TRUE(run_until([&] { return !got.empty(); })) << "k=" << k;
        EXPECT_EQ(got, "payload" + delimiter) << "k=" << k;
    }
}

TEST_F(Task1_ReadUntil, SeveralLinesInOneChunkComeOneReadAtATime) {
    write_all(peer.get(), "a\nbb\nccc\n");
    keep_reading([&](IOStream::ReadCallback done) { stream->read_until("\n", done); }, 3);
    ASSERT_TRUE(run_until([&] { return results.size() == 3; }));
    EXPECT_EQ(results, (std::vector<std::string>{"a\n", "bb\n", "ccc\n"}));
}

TEST_F(Task1_ReadUntil, MaxBytesLargeEnoughIsNoLimit) {
    write_all(peer.get(), "0123456789\n");
    std::string line;
    stream->read_until("\n", [&](std::string data) { line = std::move(data); }, 11);
    ASSERT_TRUE(run_until([&] { return !line.empty(); }));
    EXPECT_EQ(line, "0123456789\n");
    EXPECT_FALSE(stream->closed());
}

// max_bytes is task 1's to enforce: a read that cannot end within it is
// never delivered. (That the stream then closes, with its reason, is
// close_because, task 4: Task4_Close.*. These two pass without it.)
TEST_F(Task1_ReadUntil, AReadEndingPastMaxBytesIsNeverDelivered) {
    write_all(peer.get(), "0123456789\n");  // 11 bytes with the delimiter
    bool read_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; }, 10);
    run_for(50ms);
    EXPECT_FALSE(read_called) << "an 11-byte line was delivered to a read_until with max_bytes 10";
}

TEST_F(Task1_ReadUntil, NoDelimiterWithinMaxBytesIsNeverDelivered) {
    bool read_called = false;
    stream->read_until("\n", [&](std::string) { read_called = true; }, 16);
    deliver("0123456789");
    deliver("0123456789");
    // The reference has closed the stream by now: send, ignoring a reset.
    [[maybe_unused]] auto sent = ::send(peer.get(), "\n", 1, MSG_NOSIGNAL);
    run_for(50ms);
    EXPECT_FALSE(read_called) << "a 21-byte line was delivered to a read_until with max_bytes 16";
}

// Rule: max_bytes bounds the read, not the buffer. Bytes after the
// delimiter belong to the next read (a pipelining peer's next lines).
// Catches: a limit checked against everything buffered, which closes a
// stream whose peer sent many short lines at once.
TEST_F(Task1_ReadUntil, BytesAfterTheDelimiterDoNotCountTowardsMaxBytes) {
    write_all(peer.get(), "0123456789\nnext line, already sent\n");  // 11 + 25 bytes
    std::string line;
    stream->read_until("\n", [&](std::string data) { line = std::move(data); }, 11);
    ASSERT_TRUE(run_until([&] { return !line.empty(); }))
        << "an 11-byte line was not delivered to a read_until with max_bytes 11: the bytes "
           "buffered after its delimiter were counted against the limit";
    EXPECT_EQ(line, "0123456789\n");
    EXPECT_FALSE(stream->closed());
}

// Rule: on a miss, the stream closes once the buffer holds max_bytes bytes,
// not before: the end of the buffer may already hold the start of the
// delimiter. Catches: "size + delimiter length > max_bytes", which assumes a
// delimiter not found yet must still come whole.
TEST_F(Task1_ReadUntil, AReadOfExactlyMaxBytesMayEndWithADelimiterSplitAcrossReads) {
    std::string line;
    stream->read_until("\r\n", [&](std::string data) { line = std::move(data); }, 10);
    deliver("01234567\r");  // 9 bytes; with the "\n" to come the read is 10 bytes long
    deliver("\n");
    ASSERT_TRUE(run_until([&] { return !line.empty(); }))
        << "a 10-byte read_until(\"\\r\\n\", max_bytes 10) whose \"\\r\" and \"\\n\" came "
           "in two reads was refused: with 9 bytes buffered ending in \"\\r\", the read could "
           "still end within the limit";
    EXPECT_EQ(line, "01234567\r\n");
}

// CPU time this thread has used: what the stream's work costs, whatever
// else the machine is doing (wall time under load would mostly measure
// the waits for the scheduler, one per chunk).
std::chrono::milliseconds thread_cpu_time() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return std::chrono::milliseconds(now.tv_sec * 1000 + now.tv_nsec / 1'000'000);
}

// What one read_until("\r\n\r\n") cost, or why it did not finish.
struct SearchCost {
    bool found = false;
    std::chrono::milliseconds cpu{0};
    std::string why_not;
};

// The CPU time one read_until("\r\n\r\n") takes (the loop runs on this
// thread) to find the end of `size` bytes of header lines that arrive a
// few KB at a time. It gives up past `budget` of CPU, when the stream
// closes, or at `deadline` (wall time: a read that waits for bytes uses no
// CPU). Its own loop, and a unix socket whose small send buffer holds the
// sender back, so that the stream reads many small chunks, as from a slow
// network.
SearchCost cpu_to_find_the_end(std::size_t size, std::chrono::milliseconds budget,
                               std::chrono::steady_clock::time_point deadline) {
    std::string headers;
    while (headers.size() < size) headers += "X-Header: some value\r\n";
    headers += "\r\n";
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) throw_errno("socketpair");
    FileDescriptor sender_end(fds[1]);
    int small = 4096;
    ::setsockopt(sender_end.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    IOLoop loop;
    auto stream = IOStream::create(FileDescriptor(fds[0]), loop);
    SearchCost cost;
    std::chrono::milliseconds start = thread_cpu_time();
    stream->read_until("\r\n\r\n", [&](std::string) {
        cost.found = true;
        loop.stop();
    });
    std::thread sender([&] {
        try {
            write_all(sender_end.get(), headers);
        } catch (const std::system_error&) {
            // The test gave up and shut the socket: expected.
        }
    });
    std::function<void()> check = [&] {
        if (thread_cpu_time() - start > budget) {
            cost.why_not = "it used more than " + std::to_string(budget.count()) + " ms of CPU";
        } else if (stream->closed()) {
            cost.why_not = "the stream closed: " + stream->close_reason();
        } else if (std::chrono::steady_clock::now() > deadline) {
            cost.why_not = "the test ran out of time";
        } else {
            loop.call_later(10ms, check);
            return;
        }
        loop.stop();
    };
    loop.call_later(10ms, check);
    loop.start();
    cost.cpu = thread_cpu_time() - start;
    if (!stream->closed()) ::shutdown(stream->fileno(), SHUT_RDWR);  // unblocks the sender
    sender.join();
    return cost;  // the loop's destruction closes the stream
}

// Rule: a search resumes at scan_from; the bytes before it are never
// searched again. Catches: a search from the front of the buffer on every
// read, which costs the square of the buffer's size: 16 times the bytes
// take 256 times as long. Measured in CPU time, against itself: the budget
// is 32 times what 1 MB took, plus a second, so a slow or busy machine
// slows both runs alike. (The reference takes well under a second for
// both, the quadratic search many seconds for the 16 MB.)
TEST_F(Task1_ReadUntil, SixteenTimesTheBytesTakeAboutSixteenTimesAsLong) {
    using std::chrono::milliseconds;
    // Under the grader's 60 s limit for one test, however loaded the machine.
    auto deadline = std::chrono::steady_clock::now() + 50s;
    SearchCost one = cpu_to_find_the_end(1 << 20, milliseconds(30'000), deadline);
    ASSERT_TRUE(one.found) << "read_until(\"\\r\\n\\r\\n\") never found the end of 1 MB of "
                              "header lines: " << one.why_not;
    milliseconds budget = 32 * one.cpu + milliseconds(1'000);
    SearchCost sixteen = cpu_to_find_the_end(16 << 20, budget, deadline);
    EXPECT_TRUE(sixteen.found)
        << "read_until found the end of 1 MB of header lines in " << one.cpu.count()
        << " ms of CPU, but not the end of 16 MB (" << sixteen.why_not << "): is every read "
        << "searching the whole buffer again from its start? Resume at scan_from.";
}

// --- task 2: read_bytes ------------------------------------------------------------

TEST_F(Task2_ReadBytes, ExactCountsInPiecesOfEverySize) {
    const std::string message = "abcdefghijklmnopqrstuvwxyz0123456789";  // 36 bytes
    for (std::size_t n : {1, 4, 9, 36}) {  // each divides 36
        std::vector<std::string> expected;
        for (std::size_t at = 0; at < message.size(); at += n) expected.push_back(message.substr(at, n));
        for (std::size_t piece = 1; piece <= message.size(); ++piece) {
            keep_reading([&](IOStream::ReadCallback done) { stream->read_bytes(n, done); },
                         expected.size());
            deliver_in_pieces(message, piece);
            ASSERT_TRUE(run_until([&] { return results.size() == expected.size(); }))
                << "n=" << n << ", pieces of " << piece;
            ASSERT_EQ(results, expected) << "n=" << n << ", pieces of " << piece;
        }
    }
}

TEST_F(Task2_ReadBytes, WaitsForTheLastByte) {
    std::string got;
    bool done = false;
    stream->read_bytes(10, [&](std::string data) { got = std::move(data); done = true; });
    deliver("123456789");
    EXPECT_FALSE(done) << "completed with only 9 of 10 bytes";
    deliver("0abc");
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(got, "1234567890");
}

TEST_F(Task2_ReadBytes, PartialGivesWhatIsThereUpToN) {
    std::string got;
    bool done = false;
    auto read_partial = [&](std::size_t n) {
        done = false;
        stream->read_bytes(n, [&](std::string data) { got = std::move(data); done = true; }, true);
    };
    read_partial(10);
    deliver("abc");
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(got, "abc");

    write_all(peer.get(), "0123456789ABCDEFGHIJ");
    read_partial(10);
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(got, "0123456789") << "partial must not return more than n bytes";
    read_partial(100);
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(got, "ABCDEFGHIJ");
}

TEST_F(Task2_ReadBytes, PartialWaitsForAtLeastOneByte) {
    bool done = false;
    stream->read_bytes(10, [&](std::string) { done = true; }, true);
    run_for(50ms);
    EXPECT_FALSE(done) << "a partial read completed with nothing";
    deliver("x");
    EXPECT_TRUE(run_until([&] { return done; }));
}

TEST_F(Task2_ReadBytes, ZeroBytesCompletesWithNothing) {
    bool done = false;
    std::string got = "not called";
    stream->read_bytes(0, [&](std::string data) { got = std::move(data); done = true; });
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(got, "");
}

// Rule: callbacks run from the loop, never inside the read_*() call, also
// for read_bytes(0) and for bytes already buffered (iostream.h, "Callbacks
// always run from the IOLoop"). Catches: a read_bytes that delivers at once
// what it can, skipping start_read(): the code after read_bytes() then runs
// after the callback, or not at all before the next read starts.
TEST_F(Task2_ReadBytes, CallbackNeverRunsInsideTheReadCall) {
    bool zero_done = false;
    stream->read_bytes(0, [&](std::string) { zero_done = true; });
    EXPECT_FALSE(zero_done) << "read_bytes(0) ran its callback inside read_bytes(): \"completes "
                               "at once\" means at the loop's next turn";
    ASSERT_TRUE(run_until([&] { return zero_done; })) << "read_bytes(0) never completed";

    write_all(peer.get(), "ab");
    bool returned = false;
    bool ran_inline = false;
    bool second_done = false;
    stream->read_bytes(1, [&](std::string) {
        // "b" is already in the buffer now.
        stream->read_bytes(1, [&](std::string) {
            ran_inline = !returned;
            second_done = true;
        });
        returned = true;
    });
    ASSERT_TRUE(run_until([&] { return second_done; }));
    EXPECT_FALSE(ran_inline) << "read_bytes(1) with the byte already buffered ran its callback "
                                "inside read_bytes()";
}

TEST_F(Task2_ReadBytes, AfterReadUntilTakesTheBytesThatFollow) {
    // What an HTTP server does: a header line, then a body of known length.
    write_all(peer.get(), "LENGTH 5\nhelloNEXT\n");
    std::vector<std::string> parts;
    stream->read_until("\n", [&](std::string head) {
        parts.push_back(head);
        stream->read_bytes(5, [&](std::string body) {
            parts.push_back(body);
            stream->read_until("\n", [&](std::string next) { parts.push_back(next); });
        });
    });
    ASSERT_TRUE(run_until([&] { return parts.size() == 3; }));
    EXPECT_EQ(parts, (std::vector<std::string>{"LENGTH 5\n", "hello", "NEXT\n"}));
}

TEST_F(Task2_ReadBytes, MegabytesArrivingInManyChunks) {
    std::string message(3 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>('a' + i % 26);
    std::string got;
    stream->read_bytes(message.size(), [&](std::string data) { got = std::move(data); });
    std::thread sender([&] { write_all(peer.get(), message); });
    bool done = run_until([&] { return !got.empty(); }, 10s);
    sender.join();
    ASSERT_TRUE(done);
    EXPECT_TRUE(got == message) << "the bytes differ";
}

// --- rules for every read (not graded) -------------------------------------------

TEST_F(IOStreamReads, SecondReadWhileOneIsPendingThrows) {
    stream->read_until("\n", [](std::string) {});
    EXPECT_TRUE(stream->reading());
    EXPECT_THROW(stream->read_bytes(1, [](std::string) {}), std::logic_error);
    EXPECT_THROW(stream->read_until_close([](std::string) {}), std::logic_error);
}

TEST_F(Task1_ReadUntil, CallbackNeverRunsInsideTheReadCallEvenWhenBuffered) {
    write_all(peer.get(), "a\nb\n");
    bool first_done = false;
    bool returned = false;
    bool ran_inline = false;
    bool second_done = false;
    stream->read_until("\n", [&](std::string) {
        first_done = true;
        // "b\n" is already in the buffer now.
        stream->read_until("\n", [&](std::string) {
            ran_inline = !returned;
            second_done = true;
        });
        returned = true;
    });
    EXPECT_FALSE(first_done) << "the callback ran inside read_until()";
    ASSERT_TRUE(run_until([&] { return second_done; }));
    EXPECT_FALSE(ran_inline) << "a buffered read ran its callback inside read_until()";
}

TEST_F(IOStreamReads, ReadingIsTrueOnlyWhileAReadIsPending) {
    EXPECT_FALSE(stream->reading());
    bool done = false;
    stream->read_until("\n", [&](std::string) { done = true; });
    EXPECT_TRUE(stream->reading());
    write_all(peer.get(), "x\n");
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_FALSE(stream->reading());
}

TEST_F(IOStreamReads, NothingIsReadFromTheSocketWithoutAPendingRead) {
    // Flow control: with no read pending, bytes stay in the kernel, where
    // TCP holds back the sender, instead of growing our buffer.
    write_all(peer.get(), "unasked for\n");
    run_for(50ms);
    EXPECT_EQ(unread_by_stream(), 12);
}

TEST_F(Task1_ReadUntil, EmptyDelimiterIsRejected) {
    EXPECT_THROW(stream->read_until("", [](std::string) {}), std::invalid_argument);
}

// read_until_regex: the same machine with a regex for an end.

TEST_F(IOStreamReads, RegexInPiecesOfEverySize) {
    const std::string message = "12;345;;6789;";
    const std::vector<std::string> expected = {"12;", "345;", ";", "6789;"};
    for (std::size_t piece = 1; piece <= message.size(); ++piece) {
        keep_reading([&](IOStream::ReadCallback done) {
            stream->read_until_regex(std::regex("[0-9]*;"), done);
        }, expected.size());
        deliver_in_pieces(message, piece);
        ASSERT_TRUE(run_until([&] { return results.size() == expected.size(); }))
            << "pieces of " << piece;
        ASSERT_EQ(results, expected) << "pieces of " << piece;
    }
}

TEST_F(IOStreamReads, RegexMatchEndsTheRead) {
    write_all(peer.get(), "Host: x\n\nbody");
    std::string head;
    stream->read_until_regex(std::regex("\r?\n\r?\n"), [&](std::string data) { head = std::move(data); });
    ASSERT_TRUE(run_until([&] { return !head.empty(); }));
    EXPECT_EQ(head, "Host: x\n\n");
}

}  // namespace
}  // namespace course::testing
