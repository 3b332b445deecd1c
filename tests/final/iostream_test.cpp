// Tests for tornado/iostream.h: every read mode with bytes arriving in
// pieces, the limits and the reasons they give, write Futures, closing,
// errors, and what an idle stream costs.
#include "tornado/iostream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <regex>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "alloc_counter.h"
#include "net_test_util.h"
#include "syscall_counter.h"
#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/ioloop.h"

namespace {

using namespace std::chrono_literals;
using tornado::Future;
using tornado::IOLoop;
using tornado::IOStream;
using tornado::StreamClosedError;
using tornado::Task;
using tornado::testing::SocketPair;

constexpr auto kTestTimeout = std::chrono::seconds(10);

// Sends each piece from the peer's end, a few milliseconds apart, so that
// each one arrives in a recv() of its own.
Task<void> send_pieces(int fd, std::vector<std::string> pieces) {
    for (const std::string& piece : pieces) {
        co_await tornado::sleep(3ms);
        tornado::testing::send_all(fd, piece);
    }
}

// The exception inside a StreamClosedError a Future failed with.
template <typename T>
std::exception_ptr real_error_of(Future<T>& future) {
    try {
        future.result();
    } catch (const StreamClosedError& error) {
        return error.real_error();
    }
    ADD_FAILURE() << "expected StreamClosedError";
    return nullptr;
}

std::string what_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& caught) {
        return caught.what();
    }
}

// --- read_until -------------------------------------------------------------------

TEST(IOStreamReadUntil, CollectsBytesArrivingInPieces) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    auto lines = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        send_pieces(pair.right.get(), {"hel", "lo\r", "\nwor", "ld\r\n"});
        std::vector<std::string> got;
        got.push_back(co_await stream->read_until("\r\n"));
        got.push_back(co_await stream->read_until("\r\n"));
        co_return got;
    }, kTestTimeout);
    EXPECT_EQ(lines, (std::vector<std::string>{"hello\r\n", "world\r\n"}));
}

TEST(IOStreamReadUntil, FindsADelimiterSplitByteByByte) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string headers = loop.run_sync([&]() -> Task<std::string> {
        send_pieces(pair.right.get(), {"GET / HTTP/1.1\r", "\n", "Host: x\r", "\n", "\r", "\nbody"});
        co_return co_await stream->read_until("\r\n\r\n");
    }, kTestTimeout);
    EXPECT_EQ(headers, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(stream->read_buffer_size(), 4u);  // "body" waits for the next read
}

// A delimiter of up to 16 bytes is kept inside the stream, a longer one out
// of line (multipart boundaries are up to 74): both are found across
// pieces, and one read's delimiter does not leak into the next.
TEST(IOStreamReadUntil, FindsShortAndLongDelimitersAlike) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    const std::string sixteen = "--boundary-16b--";
    const std::string long_one = "\r\n--" + std::string(60, 'x') + "\r\n";
    ASSERT_EQ(sixteen.size(), 16u);
    auto parts = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        send_pieces(pair.right.get(), {"a--boundary", "-16b--b\r\n--" + std::string(30, 'x'),
                                       std::string(30, 'x') + "\r\nc;"});
        std::vector<std::string> got;
        got.push_back(co_await stream->read_until(sixteen));
        got.push_back(co_await stream->read_until(long_one));
        got.push_back(co_await stream->read_until(";"));
        co_return got;
    }, kTestTimeout);
    EXPECT_EQ(parts, (std::vector<std::string>{"a" + sixteen, "b" + long_one, "c;"}));
}

// The end of an HTTP head in each spelling Tornado's \r?\n\r?\n accepts,
// split at every byte so that a half-seen ending is searched again.
TEST(IOStreamReadUntilEmptyLine, FindsEachLineEndingSplitByteByByte) {
    for (std::string head : {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.0\n\n",
                             "GET / HTTP/1.0\nHost: x\n\r\n", "GET / HTTP/1.0\r\nHost: x\r\n\n"}) {
        IOLoop loop;
        SocketPair pair;
        auto stream = IOStream::create(std::move(pair.left));
        std::vector<std::string> pieces;
        for (char c : head + "body") pieces.emplace_back(1, c);
        std::string got = loop.run_sync([&]() -> Task<std::string> {
            send_pieces(pair.right.get(), pieces);
            co_return co_await stream->read_until_empty_line();
        }, kTestTimeout);
        EXPECT_EQ(got, head);
    }
}

TEST(IOStreamReadUntilEmptyLine, NotWithinMaxBytesFailsAndSaysWhat) {
    IOLoop loop;
    SocketPair pair;
    tornado::testing::LogCapture log;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> head = stream->read_until_empty_line(16);
    tornado::testing::send_all(pair.right.get(), "GET / HTTP/1.1\r\nX: 0123456789\r\n");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return head.done(); }));
    std::exception_ptr cause = real_error_of(head);
    ASSERT_TRUE(cause);
    EXPECT_EQ(what_of(cause), "empty line '\\n\\n' not found within 16 bytes");
}

// The callback form, what the HTTP server waits with: a head already
// buffered comes back from the call; one still to come goes to the
// callback, from the loop, never inside the call.
TEST(IOStreamReadUntilEmptyLine, TheCallbackFormReturnsABufferedHeadAndCallsBackForALaterOne) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::testing::send_all(pair.right.get(), "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n");
    ASSERT_TRUE(loop.run_sync([&] { return stream->read_bytes(4); }, kTestTimeout) == "GET ");
    int calls = 0;
    auto count = [&](std::string, std::exception_ptr) { ++calls; };
    std::optional<std::string> first = stream->read_until_empty_line(1024, count);
    ASSERT_TRUE(first);
    EXPECT_EQ(*first, "/1 HTTP/1.1\r\n\r\n");
    std::string second;
    std::optional<std::string> at_once = stream->read_until_empty_line(
        1024, [&](std::string head, std::exception_ptr error) {
            EXPECT_FALSE(error);
            second = std::move(head);
        });
    EXPECT_FALSE(at_once);  // half of it is here
    EXPECT_TRUE(stream->reading());
    tornado::testing::send_all(pair.right.get(), "\r\n");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return !second.empty(); }));
    EXPECT_EQ(second, "GET /2 HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(stream->reading());
    EXPECT_EQ(calls, 0);
}

// Its failures reach the callback as the Future's would: a limit (with
// close_on_read_limit off, only the read fails), the stream's close; and a
// stream already closed with no head throws.
TEST(IOStreamReadUntilEmptyLine, TheCallbackFormHearsOfALimitAndOfTheClose) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left), {.close_on_read_limit = false});
    std::exception_ptr failure;
    bool called = false;
    auto keep = [&](std::string head, std::exception_ptr error) {
        EXPECT_TRUE(head.empty());
        failure = std::move(error);
        called = true;
    };
    EXPECT_FALSE(stream->read_until_empty_line(16, keep));
    tornado::testing::send_all(pair.right.get(), "GET / HTTP/1.1\r\nX: 0123456789\r\n");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return called; }));
    EXPECT_THROW(std::rethrow_exception(failure), tornado::UnsatisfiableReadError);
    EXPECT_FALSE(stream->closed());

    called = false;
    loop.run_sync([&] { return stream->read_bytes(stream->read_buffer_size()); }, kTestTimeout);
    EXPECT_FALSE(stream->read_until_empty_line(1024, keep));
    stream->close();
    EXPECT_FALSE(called);  // from the loop, not inside close()
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return called; }));
    EXPECT_THROW(std::rethrow_exception(failure), tornado::StreamClosedError);
    EXPECT_THROW(stream->read_until_empty_line(1024, keep), tornado::StreamClosedError);
}

// The loop closed while the callback waits: it is called from close(),
// with CancelledError, as an awaited Future would be cancelled; nothing
// is left holding the stream.
TEST(IOStreamReadUntilEmptyLine, TheCallbackFormIsToldWhenTheLoopCloses) {
    std::weak_ptr<IOStream> weak;
    std::exception_ptr failure;
    SocketPair pair;
    {
        IOLoop loop;
        auto stream = IOStream::create(std::move(pair.left));
        weak = stream;
        EXPECT_FALSE(stream->read_until_empty_line(
            1024, [&, stream](std::string, std::exception_ptr error) { failure = error; }));
        tornado::testing::run_turns(loop, 2);
        stream.reset();  // the callback and the loop hold it
        loop.close();
        ASSERT_TRUE(failure);
        EXPECT_THROW(std::rethrow_exception(failure), tornado::CancelledError);
    }
    EXPECT_TRUE(weak.expired());
}

// Told while the loop still runs callbacks (IOLoop::CLOSING), as a
// cancelled Future's waiters are: what the callback posts then still runs.
TEST(IOStreamReadUntilEmptyLine, TheCallbackIsToldWhileTheClosingLoopStillRunsCallbacks) {
    SocketPair pair;
    bool told = false;
    bool posted_ran = false;
    {
        IOLoop loop;
        auto stream = IOStream::create(std::move(pair.left));
        EXPECT_FALSE(stream->read_until_empty_line(1024, [&](std::string, std::exception_ptr error) {
            told = error != nullptr;
            IOLoop::current().add_callback([&] { posted_ran = true; });
        }));
        tornado::testing::run_turns(loop, 2);
        loop.close();
    }
    EXPECT_TRUE(told);
    EXPECT_TRUE(posted_ran);
}

// read_bytes' callback form: buffered bytes at once (0 bytes too), later
// ones through the callback, from the loop.
TEST(IOStreamReadBytes, TheCallbackFormReturnsBufferedBytesAndCallsBackForLaterOnes) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    auto never = [](std::string, std::exception_ptr) { ADD_FAILURE() << "called back"; };
    std::optional<std::string> none = stream->read_bytes(0, never);
    ASSERT_TRUE(none);
    EXPECT_EQ(*none, "");
    tornado::testing::send_all(pair.right.get(), "abcdef");
    ASSERT_TRUE(loop.run_sync([&] { return stream->read_bytes(2); }, kTestTimeout) == "ab");
    std::optional<std::string> buffered = stream->read_bytes(3, never);
    ASSERT_TRUE(buffered);
    EXPECT_EQ(*buffered, "cde");
    std::string later;
    EXPECT_FALSE(stream->read_bytes(4, [&](std::string bytes, std::exception_ptr error) {
        EXPECT_FALSE(error);
        later = std::move(bytes);
    }));
    tornado::testing::send_all(pair.right.get(), "gh");
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(later, "");  // three of four
    tornado::testing::send_all(pair.right.get(), "ij");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return !later.empty(); }));
    EXPECT_EQ(later, "fghi");
    EXPECT_EQ(stream->read_buffer_size(), 1u);
}

TEST(IOStreamReadUntil, ABufferedAnswerIsReadyInsideTheCall) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::testing::send_all(pair.right.get(), "one\ntwo\nthree\n");
    loop.run_sync([&]() -> Task<void> {
        EXPECT_EQ(co_await stream->read_until("\n"), "one\n");
        // The rest came in the same recv(): no waiting, no system call.
        Future<std::string> second = stream->read_until("\n");
        EXPECT_TRUE(second.done());
        EXPECT_EQ(second.result(), "two\n");
        Future<std::string> third = stream->read_until("\n");
        EXPECT_TRUE(third.done());
        EXPECT_EQ(third.result(), "three\n");
        EXPECT_FALSE(stream->read_until("\n").done());  // nothing buffered now
    }, kTestTimeout);
}

TEST(IOStreamReadUntil, MaxBytesClosesTheStreamAndSaysWhy) {
    IOLoop loop;
    SocketPair pair;
    tornado::testing::LogCapture log;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> line = stream->read_until("\n", 8);
    tornado::testing::send_all(pair.right.get(), "0123456789abcdef");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    std::exception_ptr cause = real_error_of(line);
    ASSERT_TRUE(cause);
    EXPECT_THROW(std::rethrow_exception(cause), tornado::UnsatisfiableReadError);
    EXPECT_EQ(what_of(cause), "delimiter '\\n' not found within 8 bytes");
    EXPECT_TRUE(stream->closed());
    EXPECT_EQ(stream->error(), cause);
    EXPECT_TRUE(log.contains("Unsatisfiable read, closing connection"));
    // The peer sees the close.
    EXPECT_EQ(tornado::testing::recv_until_close(pair.right.get()), "");
}

// What HTTP uses to answer 431: only the read fails, the bytes stay, and
// the stream can still write.
TEST(IOStreamReadUntil, MaxBytesCanFailOnlyTheRead) {
    IOLoop loop;
    SocketPair pair;
    tornado::IOStreamOptions options;
    options.close_on_read_limit = false;
    auto stream = IOStream::create(std::move(pair.left), options);
    Future<std::string> line = stream->read_until("\n", 8);
    tornado::testing::send_all(pair.right.get(), "0123456789abcdef");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    EXPECT_THROW(line.result(), tornado::UnsatisfiableReadError);
    EXPECT_FALSE(stream->closed());
    loop.run_sync([&]() -> Task<void> {
        EXPECT_EQ(co_await stream->read_bytes(16), "0123456789abcdef");
        co_await stream->write("too long\n");
    }, kTestTimeout);
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 9), "too long\n");
}

TEST(IOStreamReadUntil, ADelimiterEndingExactlyAtMaxBytesIsFine) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::testing::send_all(pair.right.get(), "1234567\nrest");
    std::string line = loop.run_sync([&] { return stream->read_until("\n", 8); }, kTestTimeout);
    EXPECT_EQ(line, "1234567\n");
    EXPECT_FALSE(stream->closed());
}

TEST(IOStreamReadUntil, MaxBufferSizeClosesAReadThatNeverEnds) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left), {.max_buffer_size = 1000});
    Future<std::string> line = stream->read_until("\n");
    tornado::testing::send_all(pair.right.get(), std::string(1500, 'x'));
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    std::exception_ptr cause = real_error_of(line);
    EXPECT_THROW(std::rethrow_exception(cause), tornado::StreamBufferFullError);
    EXPECT_NE(what_of(cause).find("Reached maximum read buffer size"), std::string::npos);
    EXPECT_TRUE(stream->closed());
}

TEST(IOStreamReadUntil, AnEmptyDelimiterIsRefused) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    EXPECT_THROW(stream->read_until(""), std::invalid_argument);
    EXPECT_FALSE(stream->reading());
}

// --- read_until_regex -------------------------------------------------------------

TEST(IOStreamReadUntilRegex, MatchesAcrossPieces) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string head = loop.run_sync([&]() -> Task<std::string> {
        send_pieces(pair.right.get(), {"abc\r", "\n", "\ntail"});
        co_return co_await stream->read_until_regex("\r?\n\r?\n");
    }, kTestTimeout);
    EXPECT_EQ(head, "abc\r\n\n");
    EXPECT_EQ(stream->read_buffer_size(), 4u);
}

TEST(IOStreamReadUntilRegex, MaxBytesNamesThePattern) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> read = stream->read_until_regex("[0-9]+;", 5);
    tornado::testing::send_all(pair.right.get(), "abcdefgh");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return read.done(); }));
    EXPECT_EQ(what_of(real_error_of(read)), "regex '[0-9]+;' not found within 5 bytes");
}

TEST(IOStreamReadUntilRegex, ABadPatternThrowsAndLeavesNoReadPending) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    EXPECT_THROW(stream->read_until_regex("(unclosed"), std::regex_error);
    EXPECT_FALSE(stream->reading());
}

// --- read_bytes and read_into ------------------------------------------------------

TEST(IOStreamReadBytes, WaitsForExactlyNBytesAndKeepsTheRest) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    auto reads = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        send_pieces(pair.right.get(), {"abc", "defg", "hijkl"});
        std::vector<std::string> got;
        got.push_back(co_await stream->read_bytes(5));
        got.push_back(co_await stream->read_bytes(6));
        co_return got;
    }, kTestTimeout);
    EXPECT_EQ(reads, (std::vector<std::string>{"abcde", "fghijk"}));
    EXPECT_EQ(stream->read_buffer_size(), 1u);
}

TEST(IOStreamReadBytes, PartialGivesWhatIsThereUpToN) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    auto reads = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        send_pieces(pair.right.get(), {"abc", "defghij"});
        std::vector<std::string> got;
        got.push_back(co_await stream->read_bytes(100, true));
        got.push_back(co_await stream->read_bytes(4, true));
        got.push_back(co_await stream->read_bytes(100, true));
        co_return got;
    }, kTestTimeout);
    EXPECT_EQ(reads, (std::vector<std::string>{"abc", "defg", "hij"}));
}

TEST(IOStreamReadBytes, ZeroBytesIsDoneAtOnce) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> nothing = stream->read_bytes(0);
    EXPECT_TRUE(nothing.done());
    EXPECT_EQ(nothing.result(), "");
    EXPECT_FALSE(stream->reading());
}

TEST(IOStreamReadBytes, ManyMegabytesFromAnotherStream) {
    IOLoop loop;
    SocketPair pair;
    auto reader = IOStream::create(std::move(pair.left));
    auto writer = IOStream::create(std::move(pair.right));
    std::string payload(5 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 4096);
    std::string got = loop.run_sync([&]() -> Task<std::string> {
        Future<void> sent = writer->write(payload);
        EXPECT_FALSE(sent.done());  // far more than a socket buffer
        std::string body = co_await reader->read_bytes(payload.size());
        co_await sent;
        co_return body;
    }, kTestTimeout);
    EXPECT_TRUE(got == payload);
    EXPECT_EQ(reader->buffer_heap_bytes(), 0u);
    EXPECT_EQ(writer->buffer_heap_bytes(), 0u);
}

TEST(IOStreamReadInto, FillsTheCallersBufferFromBufferAndSocket) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string target(10, '.');
    auto filled = loop.run_sync([&]() -> Task<std::size_t> {
        tornado::testing::send_all(pair.right.get(), "ab\n");
        EXPECT_EQ(co_await stream->read_until("a"), "a");  // leaves "b\n" buffered
        send_pieces(pair.right.get(), {"cde", "fghijk"});
        co_return co_await stream->read_into(std::span<char>(target));
    }, kTestTimeout);
    EXPECT_EQ(filled, 10u);
    EXPECT_EQ(target, "b\ncdefghij");
    // epoll: recv() into the caller's buffer asked for no more than fits, so
    // "k" is still in the kernel. io_uring: the kernel received "fghijk"
    // whole into one of the loop's buffers, and "k" waits in the stream's.
    EXPECT_EQ(stream->read_buffer_size(), loop.io_by_completion() ? 1u : 0u);
    EXPECT_EQ(loop.run_sync([&] { return stream->read_bytes(1); }, kTestTimeout), "k");
}

TEST(IOStreamReadInto, PartialReturnsWhatCameFirst) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    char target[64];
    std::size_t n = loop.run_sync([&]() -> Task<std::size_t> {
        send_pieces(pair.right.get(), {"hello"});
        co_return co_await stream->read_into(std::span<char>(target), true);
    }, kTestTimeout);
    EXPECT_EQ(std::string(target, n), "hello");
}

// --- read_until_close ---------------------------------------------------------------

TEST(IOStreamReadUntilClose, GetsEverythingOnceThePeerCloses) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string all = loop.run_sync([&]() -> Task<std::string> {
        int peer = pair.right.get();
        [](int fd, tornado::FileDescriptor& owner) -> Task<void> {
            std::vector<std::string> pieces{"first ", "second ", "third"};
            co_await send_pieces(fd, std::move(pieces));
            owner.reset();
        }(peer, pair.right);
        co_return co_await stream->read_until_close();
    }, kTestTimeout);
    EXPECT_EQ(all, "first second third");
    EXPECT_TRUE(stream->closed());
    EXPECT_FALSE(stream->error());
}

TEST(IOStreamReadUntilClose, MoreThanMaxBufferSizeIsAnError) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left), {.max_buffer_size = 1000});
    Future<std::string> all = stream->read_until_close();
    tornado::testing::send_all(pair.right.get(), std::string(3000, 'y'));
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return all.done(); }));
    EXPECT_THROW(std::rethrow_exception(real_error_of(all)), tornado::StreamBufferFullError);
}

TEST(IOStreamReads, OnlyOneReadAtATime) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> first = stream->read_until("\n");
    EXPECT_THROW(stream->read_bytes(3), std::logic_error);
    tornado::testing::send_all(pair.right.get(), "x\n");
    EXPECT_EQ(loop.run_sync([&] { return first; }, kTestTimeout), "x\n");
}

TEST(IOStreamReads, TheSocketIsNotReadWhileNoReadIsPending) {
    // Flow control: bytes nobody asked for stay in the kernel, which then
    // tells the peer to stop (its send() would block).
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::size_t sent = 0;
    std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 1000; ++i) {
        ssize_t n = ::send(pair.right.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    tornado::testing::run_turns(loop, 20);
    EXPECT_LT(sent, 1000 * chunk.size());  // the peer was held back
    EXPECT_EQ(stream->read_buffer_size(), 0u);
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
}

TEST(IOStreamReads, ACancelledReadDoesNotBreakTheStream) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> abandoned = stream->read_until("\n");
    abandoned.cancel();
    tornado::testing::send_all(pair.right.get(), "dropped\n");
    tornado::testing::run_until(loop, [&] { return !stream->reading(); });
    EXPECT_FALSE(stream->reading());
    tornado::testing::send_all(pair.right.get(), "kept\n");
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout), "kept\n");
}

// --- the peer goes away ------------------------------------------------------------------

TEST(IOStreamClose, ThePeersCloseFailsAPendingReadWithNoError) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> line = stream->read_until("\n");
    tornado::testing::send_all(pair.right.get(), "no newline");
    pair.right.reset();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    EXPECT_EQ(real_error_of(line), nullptr);
    EXPECT_TRUE(stream->closed());
    EXPECT_FALSE(stream->error());
    // What came before the close can still be read.
    EXPECT_EQ(stream->read_bytes(3).result(), "no ");
}

TEST(IOStreamClose, BufferedLinesAreReadThenStreamClosedErrorIsThrown) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::testing::send_all(pair.right.get(), "a\nb\n");
    pair.right.reset();
    loop.run_sync([&]() -> Task<void> {
        EXPECT_EQ(co_await stream->read_until("\n"), "a\n");
        EXPECT_EQ(co_await stream->read_until("\n"), "b\n");
        bool closed = false;
        try {
            co_await stream->read_until("\n");
        } catch (const StreamClosedError&) {
            closed = true;
        }
        EXPECT_TRUE(closed);
    }, kTestTimeout);
    EXPECT_TRUE(stream->closed());
    // Use after close: reads and writes throw at once.
    EXPECT_THROW(stream->read_until("\n"), StreamClosedError);
    EXPECT_THROW(stream->read_bytes(1), StreamClosedError);
    EXPECT_THROW(stream->write("late"), StreamClosedError);
    EXPECT_FALSE(stream->reading());
}

TEST(IOStreamClose, APeerResetMidReadFailsTheReadWithTheReset) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    Future<std::string> headers = stream->read_until("\r\n\r\n");
    tornado::testing::send_all(pair.peer.get(), "GET / HTTP/1.1\r\nHost:");
    tornado::testing::run_turns(loop, 5);
    EXPECT_FALSE(headers.done());
    tornado::testing::reset_connection(pair.peer);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return headers.done(); }));
    std::exception_ptr cause = real_error_of(headers);
    ASSERT_TRUE(cause);
    try {
        std::rethrow_exception(cause);
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ECONNRESET);
    }
    EXPECT_TRUE(stream->closed());
    EXPECT_EQ(stream->error(), cause);
}

TEST(IOStreamClose, ResetWhileIdleClosesTheStream) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    int closes = 0;
    stream->set_close_callback([&] { ++closes; });
    tornado::testing::reset_connection(pair.peer);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return closes == 1; }));
    EXPECT_TRUE(stream->closed());
}

TEST(IOStreamClose, AHalfClosedPeerCanStillBeAnswered) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    tornado::testing::send_all(pair.peer.get(), "question\n");
    ::shutdown(pair.peer.get(), SHUT_WR);
    loop.run_sync([&]() -> Task<void> {
        EXPECT_EQ(co_await stream->read_until("\n"), "question\n");
        co_await tornado::sleep(20ms);  // the FIN has arrived by now
        EXPECT_FALSE(stream->closed());
        co_await stream->write("answer\n");
    }, kTestTimeout);
    EXPECT_EQ(tornado::testing::recv_bytes(pair.peer.get(), 7), "answer\n");
    // The next read finds the end.
    EXPECT_THROW(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout),
                 StreamClosedError);
}

// The peer-FIN callback: the FIN is reported while nothing reads, and the
// stream stays open for the answer.
TEST(IOStreamClose, APeerFinWhileIdleIsReportedAndTheStreamStaysWritable) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    int fins = 0;
    int closes = 0;
    stream->set_peer_fin_callback([&] { ++fins; });
    stream->set_close_callback([&] { ++closes; });
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(fins, 0);  // nothing happened yet
    ::shutdown(pair.peer.get(), SHUT_WR);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return fins == 1; }));
    EXPECT_FALSE(stream->closed());
    loop.run_sync([&] { return stream->write("answer\n"); }, kTestTimeout);
    EXPECT_EQ(tornado::testing::recv_bytes(pair.peer.get(), 7), "answer\n");
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(fins, 1);  // once
    EXPECT_EQ(closes, 0);
}

TEST(IOStreamClose, APeerFinSeenBeforeTheCallbackIsSetIsReportedAtOnce) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    // The request and the FIN in one go, as `printf ... | nc -q0` sends them.
    tornado::testing::send_all(pair.peer.get(), "question\n");
    ::shutdown(pair.peer.get(), SHUT_WR);
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout),
              "question\n");
    int fins = 0;
    stream->set_peer_fin_callback([&] { ++fins; });
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return fins == 1; }));
    EXPECT_FALSE(stream->closed());
}

TEST(IOStreamClose, APeerFinMeetsAPendingReadInsteadOfTheCallback) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    int fins = 0;
    stream->set_peer_fin_callback([&] { ++fins; });
    Future<std::string> line = stream->read_until("\n");
    ::shutdown(pair.peer.get(), SHUT_WR);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    EXPECT_THROW(line.result(), StreamClosedError);
    EXPECT_TRUE(stream->closed());
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(fins, 0);
}

TEST(IOStreamClose, AClearedPeerFinCallbackDoesNotRun) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    auto stream = IOStream::create(std::move(pair.ours));
    int fins = 0;
    stream->set_peer_fin_callback([&] { ++fins; });
    stream->set_peer_fin_callback(nullptr);
    ::shutdown(pair.peer.get(), SHUT_WR);
    tornado::testing::run_turns(loop, 5);
    loop.run_sync([] { return tornado::sleep(20ms); }, kTestTimeout);
    EXPECT_EQ(fins, 0);
    EXPECT_FALSE(stream->closed());
}

// --- writing -------------------------------------------------------------------------------

// epoll: one send() inside the call takes it all. io_uring: the send goes
// to the kernel with the turn's wait, and the Future resolves when the
// kernel reports, never inside write().
TEST(IOStreamWrite, ASmallWriteIsDoneInsideTheCallOrWhenTheKernelReports) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<void> sent = stream->write("hello");
    if (loop.io_by_completion()) {
        EXPECT_FALSE(sent.done());
        EXPECT_TRUE(stream->writing());
        ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    } else {
        EXPECT_TRUE(sent.done());
    }
    EXPECT_FALSE(stream->writing());
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 5), "hello");
}

// An empty write is how a caller waits for everything written before it:
// with nothing before it, it is done at once on either loop (on io_uring no
// report would ever come for it). After a write, it waits for that one.
TEST(IOStreamWrite, AnEmptyWriteWaitsForTheWritesBeforeIt) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    EXPECT_TRUE(stream->write(std::string_view{}).done());
    stream->write("hello");
    Future<void> after = stream->write(std::string_view{});
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return after.done(); }));
    EXPECT_FALSE(stream->writing());
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 5), "hello");
    EXPECT_TRUE(stream->write(std::string_view{}).done());
}

// On io_uring a write waits for the turn's end, unless the code asks the
// loop to hand it over now: the peer has the bytes while the turn still runs.
TEST(IOStreamWrite, SubmitRequestsSendsBeforeTheTurnEnds) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<void> sent = stream->write("hello");
    loop.submit_requests();
    pollfd peer{pair.right.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&peer, 1, 2000), 1) << "nothing reached the peer within 2 s";
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 5), "hello");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
}

TEST(IOStreamWrite, ABigWriteResolvesOnceTheKernelHasItAll) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string big(4 * 1024 * 1024, 'b');
    Future<void> first = stream->write(big);
    Future<void> second = stream->write(std::string("tail"));
    EXPECT_FALSE(first.done());
    EXPECT_TRUE(stream->writing());
    EXPECT_GT(stream->write_buffer_size(), 0u);
    // Nothing moves until the peer reads.
    tornado::testing::run_turns(loop, 5);
    EXPECT_FALSE(first.done());
    auto peer = IOStream::create(std::move(pair.right));
    std::string got = loop.run_sync([&] { return peer->read_bytes(big.size() + 4); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
    EXPECT_TRUE(first.done());
    EXPECT_EQ(got.substr(big.size()), "tail");
    EXPECT_TRUE(got.compare(0, big.size(), big) == 0);
    EXPECT_FALSE(stream->writing());
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
}

TEST(IOStreamWrite, WritesWhileBufferedKeepTheirOrder) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string expected;
    std::vector<Future<void>> writes;
    for (int i = 0; i < 200; ++i) {
        std::string piece(10000 + i, static_cast<char>('a' + i % 26));
        expected += piece;
        writes.push_back(i % 2 == 0 ? stream->write(piece) : stream->write(std::move(piece)));
    }
    auto peer = IOStream::create(std::move(pair.right));
    std::string got = loop.run_sync([&] { return peer->read_bytes(expected.size()); }, kTestTimeout);
    EXPECT_TRUE(got == expected);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return writes.back().done(); }));
    for (auto& write : writes) EXPECT_TRUE(write.done());
}

TEST(IOStreamWrite, WritingToAClosedPeerFailsWithoutSigpipe) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    pair.right.reset();
    Future<void> sent = stream->write("anyone there?");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    std::exception_ptr cause = real_error_of(sent);
    try {
        std::rethrow_exception(cause);
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EPIPE);
    }
    EXPECT_TRUE(stream->closed());
}

TEST(IOStreamWrite, PendingWritesFailWhenTheStreamCloses) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<void> big = stream->write(std::string(4 * 1024 * 1024, 'q'));
    ASSERT_FALSE(big.done());
    stream->close();
    ASSERT_TRUE(big.done());
    EXPECT_EQ(real_error_of(big), nullptr);
    // On io_uring the bytes the kernel was sending go once it has let go.
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return stream->buffer_heap_bytes() == 0; }));
}

TEST(IOStreamWrite, MaxWriteBufferSizeRefusesMore) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left), {.max_write_buffer_size = 1024 * 1024});
    Future<void> first = stream->write(std::string(900 * 1024, 'a'));
    EXPECT_THROW(stream->write(std::string(2 * 1024 * 1024, 'b')), tornado::StreamBufferFullError);
    EXPECT_FALSE(stream->closed());
}

// --- writing pieces side by side (a response's head and a cached body) ------------------

// Pieces that can go at once go in one sendmsg(), none of them copied;
// by completion they are joined into one send request.
TEST(IOStreamWritePieces, GoInOneSendmsgAndArriveInOrder) {
    IOLoop loop;
    SocketPair pair;
    int fd = pair.left.get();
    auto stream = IOStream::create(std::move(pair.left));
    std::string body(16 * 1024, 'b');
    std::vector<std::string_view> pieces{"HTTP/1.1 200 OK\r\n\r\n", "", body, "\r\n"};
#ifdef TORNADO_TEST_COUNTS_SYSCALLS
    t_watched_fd = fd;
    t_send_calls = t_sendmsg_calls = 0;
#endif
    Future<void> sent = stream->write(pieces);
#ifdef TORNADO_TEST_COUNTS_SYSCALLS
    EXPECT_EQ(t_sendmsg_calls, loop.io_by_completion() ? 0 : 1);
    EXPECT_EQ(t_send_calls, 0);
    t_watched_fd = -1;
#else
    (void)fd;
#endif
    EXPECT_EQ(sent.done(), !loop.io_by_completion());
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    std::string expected = "HTTP/1.1 200 OK\r\n\r\n" + body + "\r\n";
    EXPECT_TRUE(tornado::testing::recv_bytes(pair.right.get(), expected.size()) == expected);
}

// `size` bytes, mostly 'x', a letter every 4,093: a byte out of place
// shows in the comparison.
std::string patterned(std::size_t size) {
    std::string bytes(size, 'x');
    for (std::size_t i = 0; i < size; i += 4093) bytes[i] = static_cast<char>('a' + i % 26);
    return bytes;
}

// What the kernel does not take is kept, from the first byte it did not
// take, and the writes after it follow.
TEST(IOStreamWritePieces, WhatTheKernelDoesNotTakeWaitsAndLaterWritesFollow) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string big = patterned(4 * 1024 * 1024);
    std::vector<std::string_view> pieces{"head:", big, ":tail"};
    Future<void> first = stream->write(pieces);
    Future<void> second = stream->write("after");
    EXPECT_FALSE(first.done());
    auto peer = IOStream::create(std::move(pair.right));
    std::string expected = "head:" + big + ":tail" + "after";
    std::string got =
        loop.run_sync([&] { return peer->read_bytes(expected.size()); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
    EXPECT_TRUE(first.done());
    EXPECT_TRUE(got == expected);
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
}

// Behind bytes that wait for room the pieces wait too, in order: joined
// when they are few bytes, written one by one when they are many.
TEST(IOStreamWritePieces, BehindQueuedBytesTheyKeepTheirOrder) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string queued(4 * 1024 * 1024, 'q');
    std::string big(IOStream::kJoinedBytes + 1, 'B');
    std::vector<Future<void>> writes;
    writes.push_back(stream->write(queued));
    ASSERT_FALSE(writes.back().done());
    std::vector<std::string_view> few{"one ", "two "};
    std::vector<std::string_view> many{"three ", big, " four"};
    writes.push_back(stream->write(few));
    writes.push_back(stream->write(many));
    auto peer = IOStream::create(std::move(pair.right));
    std::string expected = queued + "one two three " + big + " four";
    std::string got =
        loop.run_sync([&] { return peer->read_bytes(expected.size()); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return writes.back().done(); }));
    for (auto& write : writes) EXPECT_TRUE(write.done());
    EXPECT_TRUE(got == expected);
}

// Held (the answers to pipelined requests), they wait for the release
// with the other held writes, in order.
TEST(IOStreamWritePieces, HeldTheyLeaveAtTheReleaseInOrder) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    ASSERT_TRUE(stream->hold_writes());
    Future<void> first = stream->write("HTTP/1.1 200 OK\r\n\r\n");
    std::vector<std::string_view> pieces{"head ", "body", " tail"};
    Future<void> second = stream->write(pieces);
    EXPECT_EQ(stream->write_buffer_size(), 33u);
    EXPECT_FALSE(tornado::testing::wait_readable(pair.right.get(), 20ms));
    stream->release_writes();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
    EXPECT_TRUE(first.done());
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 33),
              "HTTP/1.1 200 OK\r\n\r\nhead body tail");
}

TEST(IOStreamWritePieces, OnAClosedStreamThrowsAndToAGonePeerFails) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    pair.right.reset();
    std::string big(64 * 1024, 'z');
    std::vector<std::string_view> pieces{"head", big};
    Future<void> sent = stream->write(pieces);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    EXPECT_NE(real_error_of(sent), nullptr);
    EXPECT_TRUE(stream->closed());
    EXPECT_THROW(stream->write(pieces), StreamClosedError);
}

// --- write_file: a file's bytes by sendfile() ---------------------------------------------

// A file on disk holding `content`, open for reading; FileBytes of all
// of it keep it open.
struct TempFile {
    explicit TempFile(const std::string& content) : file(std::tmpfile(), &std::fclose) {
        if (!file) tornado::throw_errno("tmpfile");
        std::fwrite(content.data(), 1, content.size(), file.get());
        std::fflush(file.get());
    }
    tornado::FileBytes bytes(std::int64_t offset, std::size_t count) const {
        return tornado::FileBytes{file, ::fileno(file.get()), offset, count};
    }
    std::shared_ptr<std::FILE> file;
};

// The file's bytes go between the writes before and after it, with
// more than the kernel takes at once: the rest goes on the WRITE edges.
// Only on a stream sent on by readiness; io_uring's says no.
TEST(IOStreamWriteFile, TheFileGoesBetweenTheWritesBeforeAndAfterIt) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    if (loop.io_by_completion()) {
        EXPECT_FALSE(stream->sends_file_now());
        EXPECT_THROW(stream->write_file(tornado::FileBytes{}), std::logic_error);
        return;
    }
    std::string content = patterned(4 * 1024 * 1024 + 7);
    TempFile file(content);
    ASSERT_TRUE(stream->sends_file_now());
    Future<void> before = stream->write("head:");
    Future<void> sent = stream->write_file(file.bytes(3, content.size() - 3));
    EXPECT_FALSE(stream->sends_file_now()) << "a second file while the first is being sent";
    EXPECT_THROW(stream->write_file(file.bytes(0, 1)), std::logic_error);
    Future<void> after = stream->write(":tail");
    EXPECT_FALSE(sent.done());
    EXPECT_TRUE(stream->writing());
    EXPECT_EQ(stream->write_buffer_size(), 5u) << "the file's bytes are not in memory";
    auto peer = IOStream::create(std::move(pair.right));
    std::string expected = "head:" + content.substr(3) + ":tail";
    std::string got =
        loop.run_sync([&] { return peer->read_bytes(expected.size()); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return after.done(); }));
    EXPECT_TRUE(before.done());
    EXPECT_TRUE(sent.done());
    EXPECT_TRUE(got == expected);
    EXPECT_FALSE(stream->writing());
    EXPECT_TRUE(stream->sends_file_now());
}

// Bytes that wait for room when the file comes go before it, and a
// second file may follow once the first is sent.
TEST(IOStreamWriteFile, QueuedBytesGoFirstAndFilesFollowOneAnother) {
    IOLoop loop;
    if (loop.io_by_completion()) GTEST_SKIP() << "no sendfile on io_uring's streams";
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string queued = patterned(4 * 1024 * 1024);
    ASSERT_FALSE(stream->write(queued).done());
    std::string content = patterned(300 * 1024);
    TempFile file(content);
    Future<void> first = stream->write_file(file.bytes(0, content.size()));
    auto peer = IOStream::create(std::move(pair.right));
    std::string got = loop.run_sync(
        [&] { return peer->read_bytes(queued.size() + content.size()); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return first.done(); }));
    EXPECT_TRUE(got == queued + content);
    Future<void> second = stream->write_file(file.bytes(100, 10));
    got = loop.run_sync([&] { return peer->read_bytes(10); }, kTestTimeout);
    EXPECT_EQ(got, content.substr(100, 10));
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
}

// Held writes (answers to pipelined requests) go before the file: it
// releases them.
TEST(IOStreamWriteFile, ReleasesHeldWritesWhichGoFirst) {
    IOLoop loop;
    if (loop.io_by_completion()) GTEST_SKIP() << "no sendfile on io_uring's streams";
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    ASSERT_TRUE(stream->hold_writes());
    Future<void> held = stream->write("held ");
    TempFile file("file bytes");
    Future<void> sent = stream->write_file(file.bytes(0, 10));
    EXPECT_FALSE(stream->writes_held());
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    EXPECT_TRUE(held.done());
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 15), "held file bytes");
}

// A file cut short since it was opened cannot keep the promise of its
// length: the stream closes, saying so, and the writes after it fail.
TEST(IOStreamWriteFile, AFileShorterThanPromisedClosesTheStream) {
    IOLoop loop;
    if (loop.io_by_completion()) GTEST_SKIP() << "no sendfile on io_uring's streams";
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    TempFile file("only twenty bytes...");
    Future<void> sent = stream->write_file(file.bytes(10, 100));
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    EXPECT_TRUE(stream->closed());
    EXPECT_NE(what_of(real_error_of(sent)).find("the file ended 90 bytes before the end to send"),
              std::string::npos);
    EXPECT_THROW(stream->write_file(file.bytes(0, 1)), StreamClosedError);
}

// A peer that leaves while the file is being sent: sendfile() has no
// MSG_NOSIGNAL, and its SIGPIPE must not kill the process (this test
// would die of it); the stream closes and the Future fails.
TEST(IOStreamWriteFile, APeerThatLeavesMidFileClosesTheStreamWithoutSIGPIPE) {
    IOLoop loop;
    if (loop.io_by_completion()) GTEST_SKIP() << "no sendfile on io_uring's streams";
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string content = patterned(4 * 1024 * 1024);
    TempFile file(content);
    Future<void> sent = stream->write_file(file.bytes(0, content.size()));
    ASSERT_FALSE(sent.done());
    pair.right.reset();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return sent.done(); }));
    EXPECT_NE(real_error_of(sent), nullptr);
    EXPECT_TRUE(stream->closed());
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
}

// --- holding writes (the answers to pipelined requests) -----------------------------------

// Held writes stay in the buffer, unsent, however many turns the loop
// runs, and go in one send at the release: one send() call (counted), or
// with sends by completion one send request, whose report resolves their
// Futures a turn later.
TEST(IOStreamHold, HeldWritesLeaveInOneSendAtTheRelease) {
    IOLoop loop;
    const bool by_completion = loop.io_by_completion();
    SocketPair pair;
    int fd = pair.left.get();
    auto stream = IOStream::create(std::move(pair.left));
    ASSERT_TRUE(stream->hold_writes());
    EXPECT_TRUE(stream->writes_held());
#ifdef TORNADO_TEST_COUNTS_SYSCALLS
    t_watched_fd = fd;
    t_send_calls = 0;
#endif
    std::vector<Future<void>> writes;
    writes.push_back(stream->write("one "));
    writes.push_back(stream->write(std::string("two ")));
    writes.push_back(stream->write("three"));
    tornado::testing::run_turns(loop, 3);
    for (auto& write : writes) EXPECT_FALSE(write.done());
    EXPECT_EQ(stream->write_buffer_size(), 13u);
    EXPECT_FALSE(tornado::testing::wait_readable(pair.right.get(), 20ms));
    stream->release_writes();
    EXPECT_FALSE(stream->writes_held());
    if (by_completion) {
        ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return writes.back().done(); }));
    }
#ifdef TORNADO_TEST_COUNTS_SYSCALLS
    EXPECT_EQ(t_send_calls, by_completion ? 0 : 1);
    t_watched_fd = -1;
    t_send_calls = 0;
#else
    (void)fd;
#endif
    for (auto& write : writes) EXPECT_TRUE(write.done());
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 13), "one two three");
    // Released, the stream writes as before again.
    Future<void> after = stream->write("!");
    EXPECT_EQ(after.done(), !by_completion);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return after.done(); }));
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 1), "!");
}

// Bytes already waiting for room (or, by completion, being sent) must
// wait for the kernel, not for a release: the hold is refused, and
// backpressure stays as it was.
TEST(IOStreamHold, RefusedWhileBytesWaitForRoom) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<void> big = stream->write(std::string(4 * 1024 * 1024, 'b'));
    ASSERT_FALSE(big.done());
    EXPECT_FALSE(stream->hold_writes());
    EXPECT_FALSE(stream->writes_held());
}

// What would be held past kMaxHeldBytes goes at once, with all held
// before it, in order; the hold ends.
TEST(IOStreamHold, PastTheLimitEverythingHeldGoesAtOnce) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    ASSERT_TRUE(stream->hold_writes());
    std::string first(IOStream::kMaxHeldBytes / 2, 'a');
    std::string second(IOStream::kMaxHeldBytes / 2 + 1, 'b');
    Future<void> held = stream->write(first);
    EXPECT_FALSE(held.done());
    Future<void> over = stream->write(second);
    EXPECT_FALSE(stream->writes_held());
    auto peer = IOStream::create(std::move(pair.right));
    std::string got =
        loop.run_sync([&] { return peer->read_bytes(first.size() + second.size()); }, kTestTimeout);
    EXPECT_TRUE(got == first + second);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return over.done(); }));
    EXPECT_TRUE(held.done());
}

// Held bytes were written, as far as their writers know: an orderly
// close sends them before the FIN, by send() on either backend.
TEST(IOStreamHold, CloseSendsWhatIsHeldFirst) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    ASSERT_TRUE(stream->hold_writes());
    Future<void> last = stream->write("last words");
    stream->close();
    EXPECT_TRUE(last.done());
    EXPECT_EQ(tornado::testing::recv_until_close(pair.right.get()), "last words");
}

// --- reads and sends by completion (io_uring) -----------------------------------------------

// A loop on io_uring, or a reason to skip.
#define NEED_IO_URING_LOOP(loop)                                                       \
    IOLoop loop(IOLoop::Backend::io_uring);                                            \
    if (!(loop).io_by_completion()) {                                                  \
        std::string why;                                                               \
        IOLoop::backend_available(IOLoop::Backend::io_uring, &why);                    \
        GTEST_SKIP() << "io_uring refused here: " << why;                              \
    }

// Whether the peer of `fd` has gone: its close has reached fd (HUP or RDHUP).
bool peer_has_closed(int fd, std::chrono::milliseconds wait) {
    pollfd watched{fd, POLLRDHUP, 0};
    return ::poll(&watched, 1, static_cast<int>(wait.count())) == 1 &&
           (watched.revents & (POLLRDHUP | POLLHUP)) != 0;
}

TEST(IOStreamCompletion, WritesOfOneTurnGoToTheKernelAsOneSendAtTheWait) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<void> first = stream->write("one ");
    Future<void> second = stream->write(std::string("two "));
    Future<void> third = stream->write("three");
    // Nothing has reached the kernel yet: the request waits for the turn.
    char byte;
    EXPECT_EQ(::recv(pair.right.get(), &byte, 1, MSG_DONTWAIT), -1);
    EXPECT_EQ(stream->write_buffer_size(), 13u);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return third.done(); }));
    EXPECT_TRUE(first.done() && second.done());
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 13), "one two three");
    EXPECT_FALSE(stream->writing());
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
}

// The kernel holds the socket's file while it sends: close() must cancel
// the send, or the connection would stay open until the peer read it all.
TEST(IOStreamCompletion, CloseCancelsTheSendAndTheSocketClosesAtOnce) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::weak_ptr<IOStream> weak = stream;
    Future<void> big = stream->write(std::string(8 * 1024 * 1024, 'x'));
    tornado::testing::run_turns(loop, 3);  // the kernel has taken what fits, and waits
    ASSERT_FALSE(big.done());
    stream->close();
    EXPECT_TRUE(peer_has_closed(pair.right.get(), std::chrono::seconds(5)));
    ASSERT_TRUE(big.done());
    EXPECT_EQ(real_error_of(big), nullptr);
    // Once the kernel reports the cancelled send, nothing holds the stream.
    stream.reset();
    EXPECT_TRUE(tornado::testing::run_until(loop, [&] { return weak.expired(); }));
}

// Closing the loop with a send out: the loop cancels it and waits for the
// kernel to let go of the bytes before it frees them (ASan would see a
// use after free otherwise), and the stream is freed.
TEST(IOStreamCompletion, ALoopClosedWithASendOutLetsGoOfEverything) {
    std::weak_ptr<IOStream> weak;
    SocketPair pair;
    {
        NEED_IO_URING_LOOP(loop);
        auto stream = IOStream::create(std::move(pair.left));
        weak = stream;
        Future<void> big = stream->write(std::string(8 * 1024 * 1024, 'x'));
        tornado::testing::run_turns(loop, 3);
        ASSERT_FALSE(big.done());
        stream.reset();  // only the loop holds it now
        loop.close();
    }
    EXPECT_TRUE(weak.expired());
    EXPECT_TRUE(peer_has_closed(pair.right.get(), std::chrono::seconds(5)));
}

// A reset peer: the send fails with the kernel's error, no SIGPIPE (the test
// process would die of it), and every write waiting fails with the cause.
TEST(IOStreamCompletion, ASendToAResetPeerFailsTheWritesWithItsError) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<void> big = stream->write(std::string(8 * 1024 * 1024, 'x'));
    Future<void> after = stream->write("after");
    tornado::testing::run_turns(loop, 3);
    ASSERT_FALSE(big.done());
    pair.right.reset();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return after.done(); }));
    EXPECT_TRUE(stream->closed());
    std::exception_ptr cause = real_error_of(after);
    ASSERT_TRUE(cause);
    try {
        std::rethrow_exception(cause);
    } catch (const std::system_error& error) {
        EXPECT_TRUE(error.code().value() == EPIPE || error.code().value() == ECONNRESET)
            << error.what();
    }
    EXPECT_TRUE(big.done());
}

// A slow reader: the kernel waits for room itself (MSG_WAITALL), so one
// request carries the whole write however long it takes, and the writes
// made meanwhile follow it in order.
TEST(IOStreamCompletion, ABigSendWaitsForRoomAndWritesMadeMeanwhileFollowInOrder) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string big(6 * 1024 * 1024, 'b');
    Future<void> first = stream->write(big);
    tornado::testing::run_turns(loop, 3);
    Future<void> second = stream->write("tail");
    EXPECT_FALSE(first.done());
    EXPECT_EQ(stream->write_buffer_size(), big.size() + 4);  // still ours until the kernel reports
    auto peer = IOStream::create(std::move(pair.right));
    std::string got = loop.run_sync([&] { return peer->read_bytes(big.size() + 4); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
    EXPECT_TRUE(first.done());
    EXPECT_TRUE(got.compare(0, big.size(), big) == 0);
    EXPECT_EQ(got.substr(big.size()), "tail");
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
}

// A read asks the kernel for bytes; what comes lands in one of the loop's
// 2 KiB buffers. A body many buffers long: the first report fills a buffer
// (more may wait), recv() takes the rest as after an edge, and a new
// request goes out when the socket is empty. Every byte comes, in order.
TEST(IOStreamCompletion, ABodyManyReceiveBuffersLongArrivesWholeAndInOrder) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string body;
    for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) body += std::to_string(i) + ",";
    Future<std::string> read = stream->read_bytes(body.size());
    int peer_fd = pair.right.get();
    ::fcntl(peer_fd, F_SETFL, ::fcntl(peer_fd, F_GETFL) & ~O_NONBLOCK);  // the thread waits for room
    std::thread peer([&] { tornado::testing::send_all(peer_fd, body + "next"); });
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return read.done(); }));
    peer.join();
    EXPECT_TRUE(read.result() == body);
    EXPECT_EQ(loop.run_sync([&] { return stream->read_bytes(4); }, kTestTimeout), "next");
}

// More connections have bytes in one turn than the loop has receive
// buffers (1,024): the kernel answers the rest with ENOBUFS, and those
// streams ask again, to receive once this turn's buffers are back. Every
// read still gets its own bytes.
TEST(IOStreamCompletion, MoreStreamsThanReceiveBuffersInOneTurnAllGetTheirBytes) {
    NEED_IO_URING_LOOP(loop);
    constexpr int kStreams = 1200;
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    const rlimit saved = limit;
    constexpr rlim_t kNeeded = 2 * kStreams + 100;
    if (limit.rlim_cur < kNeeded) {
        if (limit.rlim_max < kNeeded) GTEST_SKIP() << "needs " << kNeeded << " descriptors";
        limit.rlim_cur = kNeeded;
        ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &limit), 0);
    }
    {
        std::vector<SocketPair> pairs(kStreams);
        std::vector<std::shared_ptr<IOStream>> streams;
        std::vector<Future<std::string>> lines;
        for (SocketPair& pair : pairs) {
            streams.push_back(IOStream::create(std::move(pair.left)));
            lines.push_back(streams.back()->read_until("\n"));
        }
        tornado::testing::run_turns(loop, 2);  // every receive is in the kernel, waiting
        for (int i = 0; i < kStreams; ++i) {
            tornado::testing::send_all(pairs[i].right.get(), "line " + std::to_string(i) + "\n");
        }
        ASSERT_TRUE(tornado::testing::run_until(loop, [&] {
            return std::all_of(lines.begin(), lines.end(), [](auto& line) { return line.done(); });
        }));
        for (int i = 0; i < kStreams; ++i) {
            EXPECT_EQ(lines[i].result(), "line " + std::to_string(i) + "\n");
        }
        for (auto& stream : streams) stream->close();
        tornado::testing::run_turns(loop, 2);
    }
    ::setrlimit(RLIMIT_NOFILE, &saved);
}

// read_into by completion: the bytes are copied from the loop's buffer into
// the caller's; what does not fit stays for the next read.
TEST(IOStreamCompletion, ReadIntoTakesWhatFitsAndKeepsTheRest) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    char buffer[10];
    Future<std::size_t> filled = stream->read_into(std::span<char>(buffer, sizeof buffer));
    tornado::testing::run_turns(loop, 2);
    tornado::testing::send_all(pair.right.get(), "0123456789abcde");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return filled.done(); }));
    EXPECT_EQ(filled.result(), 10u);
    EXPECT_EQ(std::string(buffer, 10), "0123456789");
    EXPECT_EQ(stream->read_buffer_size(), 5u);
    Future<std::string> rest = stream->read_bytes(5);
    ASSERT_TRUE(rest.done());  // from the buffer, inside the call
    EXPECT_EQ(rest.result(), "abcde");
}

// A pending receive holds the socket's file as a send does: close() cancels
// it, so the peer sees the close at once, and the stream is freed.
// The loop's own receive, without a stream: its report reaches the
// descriptor's handler as RECEIVED, with the bytes in received(); one
// cancelled and then overtaken by a new handler on the same descriptor
// never reaches the new one.
TEST(IOLoopReceive, TheReportGoesToTheHandlerAndNeverToALaterOne) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    int fd = pair.left.get();
    std::vector<std::string> first_heard;
    loop.add_handler(fd, [&](int, std::uint32_t events) {
        if (events == IOLoop::RECEIVED) {
            EXPECT_EQ(loop.received().result, static_cast<int>(loop.received().bytes.size()));
            first_heard.emplace_back(loop.received().bytes);
        }
    }, IOLoop::EDGE | EPOLLRDHUP);
    ASSERT_TRUE(loop.submit_recv(fd));
    ASSERT_EQ(::send(pair.right.get(), "ping", 4, 0), 4);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return !first_heard.empty(); }));
    EXPECT_EQ(first_heard, std::vector<std::string>{"ping"});

    // Out again, cancelled, and the handler replaced before its report.
    ASSERT_TRUE(loop.submit_recv(fd));
    loop.cancel_recv(fd);
    loop.remove_handler(fd);
    int second_heard = 0;
    loop.add_handler(fd, [&](int, std::uint32_t events) {
        if (events == IOLoop::RECEIVED) ++second_heard;
    }, IOLoop::EDGE | EPOLLRDHUP);
    ASSERT_EQ(::send(pair.right.get(), "pong", 4, 0), 4);
    tornado::testing::run_turns(loop, 5);
    EXPECT_EQ(second_heard, 0);
    EXPECT_EQ(first_heard.size(), 1u);
    char left[8];
    EXPECT_EQ(::recv(fd, left, sizeof left, 0), 4);  // "pong" was not taken by the cancelled one
    loop.remove_handler(fd);
}

TEST(IOStreamCompletion, CloseCancelsAPendingReceiveAndTheSocketClosesAtOnce) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::weak_ptr<IOStream> weak = stream;
    Future<std::string> line = stream->read_until("\n");
    tornado::testing::run_turns(loop, 3);  // the receive waits in the kernel
    ASSERT_FALSE(line.done());
    stream->close();
    EXPECT_TRUE(peer_has_closed(pair.right.get(), std::chrono::seconds(5)));
    EXPECT_TRUE(line.done());
    stream.reset();
    EXPECT_TRUE(tornado::testing::run_until(loop, [&] { return weak.expired(); }));
}

// The loop closed with receives out: cancelled and awaited, the streams freed.
TEST(IOStreamCompletion, ALoopClosedWithAReceiveOutLetsGoOfEverything) {
    std::weak_ptr<IOStream> weak;
    SocketPair pair;
    {
        NEED_IO_URING_LOOP(loop);
        auto stream = IOStream::create(std::move(pair.left));
        weak = stream;
        Future<std::string> line = stream->read_until("\n");
        tornado::testing::run_turns(loop, 3);
        ASSERT_FALSE(line.done());
        stream.reset();
        loop.close();
    }
    EXPECT_TRUE(weak.expired());
    EXPECT_TRUE(peer_has_closed(pair.right.get(), std::chrono::seconds(5)));
}

// The peer's bytes and its FIN, with the receive out: the read gets the
// bytes, and an idle stream then hears of the FIN (the peer-FIN callback),
// as on epoll.
TEST(IOStreamCompletion, BytesThenTheFinWhileAReceiveIsOutReachTheReadThenTheCallback) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    int fins = 0;
    stream->set_peer_fin_callback([&] { ++fins; });
    Future<std::string> line = stream->read_until("\n");
    tornado::testing::run_turns(loop, 2);
    tornado::testing::send_all(pair.right.get(), "last\n");
    ::shutdown(pair.right.get(), SHUT_WR);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    EXPECT_EQ(line.result(), "last\n");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return fins == 1; }));
    EXPECT_FALSE(stream->closed());  // half-closed: we may still answer
    Future<void> answer = stream->write("bye");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return answer.done(); }));
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 3), "bye");
}

// The submission ring full (pretended: the loop refuses the request): a
// write goes out by send(), as on epoll, and the next write by a request
// again. Every byte arrives, in order.
TEST(IOStreamCompletion, AWriteTheRingRefusesGoesOutBySend) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::detail::RequestRefusals::refuse_next(loop, 1);
    Future<void> first = stream->write("refused, ");
    EXPECT_TRUE(first.done());  // sent inside write(), as on epoll
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 9), "refused, ");
    Future<void> second = stream->write("then by request");
    EXPECT_FALSE(second.done());
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
    EXPECT_EQ(tornado::testing::recv_bytes(pair.right.get(), 15), "then by request");
}

// Refused with more bytes than the socket takes: send() takes what fits,
// and the rest goes by a request once the socket has room (the stream's
// WRITE edge), with the writes made meanwhile behind it.
TEST(IOStreamCompletion, ABigWriteTheRingRefusesStillGoesOutWhole) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    std::string big;
    for (int i = 0; big.size() < 4 * 1024 * 1024; ++i) big += std::to_string(i) + ",";
    tornado::detail::RequestRefusals::refuse_next(loop, 3);
    Future<void> first = stream->write(big);
    Future<void> second = stream->write("tail");
    auto peer = IOStream::create(std::move(pair.right));
    std::string got = loop.run_sync([&] { return peer->read_bytes(big.size() + 4); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return second.done(); }));
    EXPECT_TRUE(first.done());
    EXPECT_TRUE(got.compare(0, big.size(), big) == 0);
    EXPECT_EQ(got.substr(big.size()), "tail");
}

// A receive the ring refuses: the stream tries recv() itself next turn,
// and again (asking the kernel anew) until the bytes come.
TEST(IOStreamCompletion, ReceivesTheRingRefusesAreMadeUpForByRecv) {
    NEED_IO_URING_LOOP(loop);
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::detail::RequestRefusals::refuse_next(loop, 5);
    Future<std::string> first = stream->read_until("\n");
    tornado::testing::run_turns(loop, 10);  // refused, recv() finds nothing, asks again ...
    EXPECT_FALSE(first.done());
    tornado::testing::send_all(pair.right.get(), "one\ntwo\n");
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return first.done(); }));
    EXPECT_EQ(first.result(), "one\n");
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout), "two\n");
    // Refused while bytes wait: recv() finds them.
    tornado::testing::send_all(pair.right.get(), "three\n");
    tornado::detail::RequestRefusals::refuse_next(loop, 1);
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout), "three\n");
}

// --- closing ------------------------------------------------------------------------------

TEST(IOStreamClose, TheCloseCallbackRunsOnceFromTheLoop) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    int calls = 0;
    stream->set_close_callback([&] { ++calls; });
    stream->close();
    EXPECT_EQ(calls, 0);  // not inside close()
    stream->close();
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(stream->fileno(), -1);
}

TEST(IOStreamClose, ACloseCallbackSetAfterTheCloseStillRuns) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    pair.right.reset();
    EXPECT_THROW(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout), StreamClosedError);
    int calls = 0;
    stream->set_close_callback([&] { ++calls; });
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(calls, 1);
}

TEST(IOStreamClose, CloseWithAnErrorPassesItOn) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> line = stream->read_until("\n");
    auto boom = std::make_exception_ptr(std::runtime_error("boom"));
    stream->close(boom);
    EXPECT_EQ(stream->error(), boom);
    EXPECT_EQ(real_error_of(line), boom);
    try {
        line.result();
    } catch (const StreamClosedError& error) {
        EXPECT_STREQ(error.what(), "Stream is closed: boom");
    }
}

TEST(IOStreamClose, CloseHandsAPendingReadUntilCloseWhatIsBuffered) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    tornado::testing::send_all(pair.right.get(), "abcdef");
    EXPECT_EQ(loop.run_sync([&] { return stream->read_bytes(2); }, kTestTimeout), "ab");
    Future<std::string> until_close = stream->read_until_close();  // "cdef" is buffered
    stream->close();
    ASSERT_TRUE(until_close.done());
    EXPECT_EQ(until_close.result(), "cdef");
}

TEST(IOStreamLifetime, TheLoopKeepsAnOpenStreamAlive) {
    IOLoop loop;
    SocketPair pair;
    std::weak_ptr<IOStream> weak;
    Future<std::string> line(nullptr);
    {
        auto stream = IOStream::create(std::move(pair.left));
        weak = stream;
        line = stream->read_until("\n");
    }
    EXPECT_FALSE(weak.expired());
    tornado::testing::send_all(pair.right.get(), "still here\n");
    EXPECT_EQ(loop.run_sync([&] { return line; }, kTestTimeout), "still here\n");
    weak.lock()->close();
    tornado::testing::run_turns(loop, 2);
    EXPECT_TRUE(weak.expired());
}

TEST(IOStreamLifetime, ClosingTheLoopClosesOpenStreams) {
    std::weak_ptr<IOStream> weak;
    bool cancelled = false;
    {
        IOLoop loop;
        SocketPair pair;
        auto stream = IOStream::create(std::move(pair.left));
        weak = stream;
        // A coroutine waits on the stream, and the close callback holds it.
        stream->set_close_callback([stream] {});
        [](std::shared_ptr<IOStream> s, bool& flag) -> Task<void> {
            try {
                co_await s->read_until("\n");
            } catch (const tornado::CancelledError&) {
                flag = true;
            }
        }(stream, cancelled);
        tornado::testing::run_turns(loop, 2);
    }
    EXPECT_TRUE(cancelled);
    EXPECT_TRUE(weak.expired());  // no cycle left behind
}

// --- options and connecting ---------------------------------------------------------------

TEST(IOStreamOptions, SetNodelayReachesTheSocket) {
    IOLoop loop;
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    int fd = pair.ours.get();
    auto stream = IOStream::create(std::move(pair.ours));
    auto nodelay = [fd] {
        int value = 0;
        socklen_t length = sizeof value;
        ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &length);
        return value != 0;
    };
    stream->set_nodelay(true);
    EXPECT_TRUE(nodelay());
    stream->set_nodelay(false);
    EXPECT_FALSE(nodelay());
}

TEST(IOStreamConnect, ConnectsAndSendsWhatWasWrittenMeanwhile) {
    IOLoop loop;
    std::vector<tornado::FileDescriptor> listeners = tornado::bind_sockets(0, "127.0.0.1");
    tornado::SocketAddress address = tornado::SocketAddress::local_of(listeners[0].get());
    auto stream = IOStream::create(tornado::FileDescriptor(::socket(AF_INET, SOCK_STREAM, 0)));
    Future<std::shared_ptr<IOStream>> connected = stream->connect(address);
    Future<void> early = stream->write("early bird\n");
    auto same = loop.run_sync([&] { return connected; }, kTestTimeout);
    EXPECT_EQ(same, stream);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return early.done(); }));
    tornado::FileDescriptor accepted(::accept(listeners[0].get(), nullptr, nullptr));
    EXPECT_EQ(tornado::testing::recv_bytes(accepted.get(), 11), "early bird\n");
}

TEST(IOStreamConnect, ARefusedConnectionNamesTheAddress) {
    IOLoop loop;
    std::uint16_t port;
    {
        auto listeners = tornado::bind_sockets(0, "127.0.0.1");
        port = tornado::SocketAddress::local_of(listeners[0].get()).port();
    }  // closed: nobody listens there now
    auto stream = IOStream::create(tornado::FileDescriptor(::socket(AF_INET, SOCK_STREAM, 0)));
    Future<std::shared_ptr<IOStream>> connected =
        stream->connect(tornado::SocketAddress::from_ip("127.0.0.1", port));
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return connected.done(); }));
    std::exception_ptr cause = real_error_of(connected);
    ASSERT_TRUE(cause);
    EXPECT_EQ(what_of(cause), "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
    EXPECT_TRUE(stream->closed());
}

// The stream's life (iostream.h): open, connecting, back to open, then
// closed; the changes it refuses.
TEST(IOStreamConnect, ASecondConnectIsRefusedAndAConnectAfterCloseFails) {
    IOLoop loop;
    std::vector<tornado::FileDescriptor> listeners = tornado::bind_sockets(0, "127.0.0.1");
    tornado::SocketAddress address = tornado::SocketAddress::local_of(listeners[0].get());
    auto stream = IOStream::create(tornado::FileDescriptor(::socket(AF_INET, SOCK_STREAM, 0)));
    Future<std::shared_ptr<IOStream>> connected = stream->connect(address);
    if (!connected.done()) {  // (a loopback connect() may also be up at once)
        EXPECT_THROW(stream->connect(address), std::logic_error);
    }
    stream->close();
    EXPECT_THROW(stream->connect(address), tornado::StreamClosedError);
}

TEST(IOStreamConnect, ACloseWhileConnectingFailsTheConnect) {
    IOLoop loop;
    std::vector<tornado::FileDescriptor> listeners = tornado::bind_sockets(0, "127.0.0.1");
    tornado::SocketAddress address = tornado::SocketAddress::local_of(listeners[0].get());
    auto stream = IOStream::create(tornado::FileDescriptor(::socket(AF_INET, SOCK_STREAM, 0)));
    Future<std::shared_ptr<IOStream>> connected = stream->connect(address);
    stream->close();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return connected.done(); }));
    EXPECT_THROW(connected.result(), tornado::StreamClosedError);
    EXPECT_TRUE(stream->closed());
}

TEST(IOStreamConnect, APeerThatClosesAtOnceIsSeenOnceTheConnectionIsUp) {
    IOLoop loop;
    std::vector<tornado::FileDescriptor> listeners = tornado::bind_sockets(0, "127.0.0.1");
    tornado::SocketAddress address = tornado::SocketAddress::local_of(listeners[0].get());
    auto stream = IOStream::create(tornado::FileDescriptor(::socket(AF_INET, SOCK_STREAM, 0)));
    Future<std::shared_ptr<IOStream>> connected = stream->connect(address);
    {
        tornado::FileDescriptor accepted(::accept(listeners[0].get(), nullptr, nullptr));
        ASSERT_EQ(::send(accepted.get(), "bye", 3, 0), 3);
    }  // closed: its FIN follows the bytes
    loop.run_sync([&] { return connected; }, kTestTimeout);
    int fins = 0;
    stream->set_peer_fin_callback([&] { ++fins; });
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return fins == 1; }));
    EXPECT_FALSE(stream->closed());  // only half-closed: it may still be written to
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until_close(); }, kTestTimeout), "bye");
    EXPECT_TRUE(stream->closed());
}

// --- how the work is done --------------------------------------------------------------------

TEST(IOStreamSystemCalls, AKeepAliveRequestIsOneRecvOneSendAndNoEpollCtl) {
#ifndef TORNADO_TEST_COUNTS_SYSCALLS
    GTEST_SKIP() << "system calls are not counted under sanitizers";
#else
    IOLoop loop;
    // io_uring: the kernel receives and sends, so no recv() or send() at all.
    const bool by_completion = loop.io_by_completion();
    tornado::testing::TcpPair pair = tornado::testing::make_tcp_pair();
    int fd = pair.ours.get();
    auto stream = IOStream::create(std::move(pair.ours));
    Future<std::string> request = stream->read_until("\r\n\r\n", 65536);
    tornado::testing::run_turns(loop, 3);  // the first edges (writable) have come and gone
    t_watched_fd = fd;
    t_recv_calls = t_send_calls = t_epoll_ctl_calls = 0;  // an earlier test may have counted
    constexpr int kRequests = 20;
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (int i = 0; i < kRequests; ++i) {
        tornado::testing::send_all(pair.peer.get(), "GET /" + std::to_string(i) + " HTTP/1.1\r\n\r\n");
        ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return request.done(); }));
        Future<void> written = stream->write(response);
        if (by_completion) {
            ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return written.done(); }));
        } else {
            EXPECT_TRUE(written.done());
        }
        EXPECT_EQ(tornado::testing::recv_bytes(pair.peer.get(), response.size()), response);
        request = stream->read_until("\r\n\r\n", 65536);  // nothing there yet: no recv()
        EXPECT_FALSE(request.done());
    }
    int recvs = t_recv_calls;
    int sends = t_send_calls;
    int controls = t_epoll_ctl_calls;
    // A write bigger than the socket's buffer: EAGAIN, then WRITE edges, and
    // still no epoll_ctl (WRITE was registered, edge-triggered, from the start).
    // Both buffers are fixed first: grown by the kernel (tcp_wmem up to 4 MiB,
    // tcp_rmem up to 32 MiB on a 6.x kernel), they once took all 4 MiB at once.
    const int kBuffer = 256 * 1024;
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kBuffer, sizeof kBuffer), 0);
    ASSERT_EQ(::setsockopt(pair.peer.get(), SOL_SOCKET, SO_RCVBUF, &kBuffer, sizeof kBuffer), 0);
    Future<void> big = stream->write(std::string(4 * 1024 * 1024, 'b'));
    EXPECT_FALSE(big.done());
    std::string drained;
    std::thread peer([&] { drained = tornado::testing::recv_bytes(pair.peer.get(), 4 * 1024 * 1024); });
    bool flushed = tornado::testing::run_until(loop, [&] { return big.done(); });
    peer.join();
    ASSERT_TRUE(flushed);
    int big_controls = t_epoll_ctl_calls;
    t_watched_fd = -1;
    if (by_completion) {
        EXPECT_EQ(recvs, 0);
    } else {
        if (recvs == 0) GTEST_SKIP() << "recv() was not interposed (a fortified libc?)";
        EXPECT_EQ(recvs, kRequests);
    }
    EXPECT_EQ(sends, by_completion ? 0 : kRequests);
    EXPECT_EQ(controls, 0);
    EXPECT_EQ(big_controls, 0);
    EXPECT_EQ(drained.size(), 4u * 1024 * 1024);
#endif
}

// --- what a stream costs -------------------------------------------------------------------

// One request and response on an open stream, ending with the next read
// pending, as a keep-alive server leaves an idle connection.
void request_cycle(IOLoop& loop, IOStream& stream, int peer, Future<std::string>& pending) {
    tornado::testing::send_all(peer, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
    tornado::testing::run_until(loop, [&] { return pending.done(); });
    pending = Future<std::string>(nullptr);
    Future<void> written = stream.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    tornado::testing::run_until(loop, [&] { return written.done(); });
    tornado::testing::recv_bytes(peer, 38);
    // A pipelined request, then the rest of it.
    tornado::testing::send_all(peer, " HTTP/1.1\r\n\r\n");
    pending = stream.read_until("\r\n\r\n", 65536);
    tornado::testing::run_until(loop, [&] { return pending.done(); });
    pending = stream.read_until("\r\n\r\n", 65536);
    tornado::testing::run_turns(loop, 2);
}

TEST(IOStreamMemory, AnIdleStreamHoldsNoBuffer) {
    IOLoop loop;
    SocketPair pair;
    auto stream = IOStream::create(std::move(pair.left));
    Future<std::string> pending = stream->read_until("\r\n\r\n", 65536);
    request_cycle(loop, *stream, pair.right.get(), pending);
    EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
    EXPECT_EQ(stream->read_buffer_size(), 0u);
    // And nothing grows from one request to the next.
    EXPECT_EQ(tornado::testing::blocks_left_behind(
                  [&] { request_cycle(loop, *stream, pair.right.get(), pending); }),
              0);
}

// Heap bytes per stream idle with a read pending, measured over many
// streams as malloc sees them (live_bytes: the usable size of each block
// this thread holds). `start_read` starts each stream's read.
template <typename StartRead>
double heap_bytes_per_idle_stream(StartRead start_read) {
    constexpr int kStreams = 500;
    IOLoop loop;
    std::vector<SocketPair> pairs(kStreams);
    std::vector<std::shared_ptr<IOStream>> streams;
    streams.reserve(kStreams);
    // The loop's handler table grows to the highest descriptor it has seen
    // and stays: grow it first (with higher descriptors, dup()ed), so that
    // what is measured is the streams alone.
    for (SocketPair& pair : pairs) streams.push_back(IOStream::create(tornado::FileDescriptor(::dup(pair.left.get()))));
    for (auto& stream : streams) stream->close();
    streams.clear();
    tornado::testing::run_turns(loop, 3);

    std::int64_t before = tornado::testing::live_bytes();
    for (SocketPair& pair : pairs) {
        streams.push_back(IOStream::create(std::move(pair.left)));
        start_read(*streams.back());
    }
    tornado::testing::run_turns(loop, 2);
    std::int64_t after = tornado::testing::live_bytes();
    for (auto& stream : streams) EXPECT_EQ(stream->buffer_heap_bytes(), 0u);
    return static_cast<double>(after - before) / kStreams;
}

TEST(IOStreamMemory, HeapBytesPerIdleKeepAliveStream) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "malloc belongs to the sanitizer here: its block sizes are its own";
#endif
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 1600) GTEST_SKIP() << "needs 1,600 descriptors";
    std::vector<Future<std::string>> reads;
    reads.reserve(500);
    double with_future = heap_bytes_per_idle_stream(
        [&](IOStream& stream) { reads.push_back(stream.read_until("\r\n\r\n", 65536)); });
    double with_callback = heap_bytes_per_idle_stream([](IOStream& stream) {
        stream.read_until_empty_line(65536, [](std::string, std::exception_ptr) {});
    });
    bool by_completion = IOLoop().io_by_completion();
    std::printf("[ measure  ] sizeof(IOStream) = %zu bytes; heap per idle stream with a read "
                "pending = %.0f bytes with its Future, %.0f with a callback "
                "(plus its slot in the loop's handler table)\n",
                sizeof(IOStream), with_future, with_callback);
    RecordProperty("sizeof_IOStream", static_cast<int>(sizeof(IOStream)));
    RecordProperty("heap_bytes_per_idle_stream", static_cast<int>(with_callback));
    // The stream with its shared_ptr count (352 bytes in tcmalloc's size
    // classes), and for the Future form the Future's state (144); a few
    // more bytes for the loop's lists as they grow. On io_uring the read
    // waits as a receive request, whose slot in the loop (40 bytes, in a
    // table that grows by half) holds the stream's callback.
    double extra = by_completion ? 48.0 : 0.0;
    EXPECT_LT(with_future, 510.0 + extra);
    EXPECT_LT(with_callback, 370.0 + extra);
}

// --- PipeIOStream ------------------------------------------------------------------------

using tornado::PipeIOStream;

// A pipe's two ends, close-on-exec, closed on destruction.
struct Pipe {
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) < 0) tornado::throw_errno("pipe2");
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }
    tornado::FileDescriptor read_end;
    tornado::FileDescriptor write_end;
};

// A pipe cannot send a file (sendfile() could, but PipeIOStream writes
// by write() alone); nor can TLS (SSLIOStream.CarriesLargeWritesBothWays).
TEST(IOStreamWriteFile, APipeCannotSendAFile) {
    IOLoop loop;
    Pipe pipe;
    auto stream = PipeIOStream::create(std::move(pipe.write_end));
    EXPECT_FALSE(stream->sends_file_now());
    TempFile file("x");
    EXPECT_THROW(stream->write_file(file.bytes(0, 1)), std::logic_error);
}

// send_pieces for a pipe (send() would say ENOTSOCK), then the writer's
// close when `close_after`.
Task<void> write_pieces(tornado::FileDescriptor& fd, std::vector<std::string> pieces,
                        bool close_after = false) {
    for (const std::string& piece : pieces) {
        co_await tornado::sleep(3ms);
        EXPECT_EQ(::write(fd.get(), piece.data(), piece.size()), static_cast<ssize_t>(piece.size()));
    }
    if (close_after) fd.reset();
}

bool is_epipe(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::system_error& caught) {
        return caught.code().value() == EPIPE;
    } catch (...) {
        return false;
    }
}

TEST(PipeIOStream, ReadUntilCollectsBytesWrittenInPieces) {
    IOLoop loop;
    Pipe pipe;
    int fd = pipe.read_end.get();
    auto stream = PipeIOStream::create(std::move(pipe.read_end));
    EXPECT_EQ(stream->fileno(), fd);
    EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    auto lines = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        write_pieces(pipe.write_end, {"hel", "lo\n", "wor", "ld\nand the", " rest"}, true);
        std::vector<std::string> got;
        got.push_back(co_await stream->read_until("\n"));
        got.push_back(co_await stream->read_until("\n"));
        got.push_back(co_await stream->read_until_close());
        co_return got;
    }, kTestTimeout);
    EXPECT_EQ(lines, (std::vector<std::string>{"hello\n", "world\n", "and the rest"}));
    EXPECT_TRUE(stream->closed());
    EXPECT_EQ(stream->error(), nullptr);  // an orderly end
    EXPECT_EQ(stream->fileno(), -1);
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);  // the descriptor is closed
}

TEST(PipeIOStream, TheWritersCloseEndsAPendingReadAndClosesTheStream) {
    IOLoop loop;
    Pipe pipe;
    auto stream = PipeIOStream::create(std::move(pipe.read_end));
    int close_calls = 0;
    stream->set_close_callback([&] { ++close_calls; });
    Future<std::string> line = stream->read_until("\n");
    loop.run_sync([&] { return write_pieces(pipe.write_end, {"no newline"}, true); }, kTestTimeout);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return line.done(); }));
    EXPECT_EQ(real_error_of(line), nullptr);  // closed by the end, no error
    EXPECT_TRUE(stream->closed());
    tornado::testing::run_turns(loop, 2);
    EXPECT_EQ(close_calls, 1);
    // What came before the end is still there for a read the buffer satisfies.
    EXPECT_EQ(stream->read_buffer_size(), std::string("no newline").size());
    EXPECT_EQ(loop.run_sync([&] { return stream->read_bytes(2); }, kTestTimeout), "no");
}

TEST(PipeIOStream, BytesLeftInThePipeAreReadBeforeItsEnd) {
    // Written and the writer closed before the stream exists: epoll reports
    // the hang-up with the bytes; they must not be lost to it.
    IOLoop loop;
    Pipe pipe;
    ASSERT_EQ(::write(pipe.write_end.get(), "abc\ndef", 7), 7);
    pipe.write_end.reset();
    auto stream = PipeIOStream::create(std::move(pipe.read_end));
    tornado::testing::run_turns(loop, 3);  // the hang-up arrives while no read is pending
    EXPECT_FALSE(stream->closed());
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until("\n"); }, kTestTimeout), "abc\n");
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until_close(); }, kTestTimeout), "def");
    EXPECT_TRUE(stream->closed());
}

TEST(PipeIOStream, AnIdleReadEndHearsTheEndThroughThePeerFinCallback) {
    IOLoop loop;
    Pipe pipe;
    auto stream = PipeIOStream::create(std::move(pipe.read_end));
    bool fin = false;
    stream->set_peer_fin_callback([&] { fin = true; });
    pipe.write_end.reset();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return fin; }));
    EXPECT_FALSE(stream->closed());  // as a socket: the next read meets the end
    EXPECT_EQ(loop.run_sync([&] { return stream->read_until_close(); }, kTestTimeout), "");
    EXPECT_TRUE(stream->closed());
}

TEST(PipeIOStream, WritesMoreThanThePipeHoldsToAReadingStream) {
    IOLoop loop;
    Pipe pipe;
    auto reader = PipeIOStream::create(std::move(pipe.read_end));
    auto writer = PipeIOStream::create(std::move(pipe.write_end));
    std::string data(1 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
    auto [received, rest] = loop.run_sync([&]() -> Task<std::pair<std::string, std::string>> {
        // A 64 KiB pipe: most of it waits in the writer's buffer, sent edge by edge.
        Future<void> written = writer->write(data);
        EXPECT_TRUE(writer->writing());
        std::string got = co_await reader->read_bytes(data.size());
        co_await written;
        writer->close();
        std::string after = co_await reader->read_until_close();
        co_return std::pair(got, after);
    }, kTestTimeout);
    EXPECT_TRUE(received == data);
    EXPECT_EQ(rest, "");
}

TEST(PipeIOStream, AWriteAfterTheReaderWentFailsWithEPIPEWithoutASignal) {
    IOLoop loop;
    Pipe pipe;
    auto writer = PipeIOStream::create(std::move(pipe.write_end));
    pipe.read_end.reset();
    // Before the loop runs: write() itself meets EPIPE. With SIGPIPE at its
    // default action, a signal would end this test program here.
    Future<void> written = writer->write("into the void");
    ASSERT_TRUE(written.done());
    EXPECT_TRUE(is_epipe(real_error_of(written)));
    EXPECT_TRUE(writer->closed());
    EXPECT_TRUE(is_epipe(writer->error()));
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);  // taken back, not left pending
    EXPECT_THROW(writer->write("again"), StreamClosedError);
}

TEST(PipeIOStream, AnIdleWriteEndClosesWhenTheReaderGoes) {
    IOLoop loop;
    Pipe pipe;
    auto writer = PipeIOStream::create(std::move(pipe.write_end));
    int close_calls = 0;
    writer->set_close_callback([&] { ++close_calls; });
    tornado::testing::run_turns(loop, 2);
    EXPECT_FALSE(writer->closed());
    pipe.read_end.reset();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return close_calls == 1; }));
    EXPECT_TRUE(writer->closed());
    EXPECT_TRUE(is_epipe(writer->error()));
}

TEST(PipeIOStream, ClosingReleasesTheDescriptor) {
    IOLoop loop;
    int descriptors = tornado::testing::open_descriptor_count();
    {
        Pipe pipe;
        auto reader = PipeIOStream::create(std::move(pipe.read_end));
        auto writer = PipeIOStream::create(std::move(pipe.write_end));
        Future<std::string> read = reader->read_until_close();
        reader->close();
        writer->close();
        EXPECT_TRUE(read.done());
    }
    tornado::testing::run_turns(loop, 2);
    EXPECT_EQ(tornado::testing::open_descriptor_count(), descriptors);
    EXPECT_THROW(PipeIOStream::create(tornado::FileDescriptor()), std::invalid_argument);
}

}  // namespace
