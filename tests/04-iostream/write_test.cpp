// write_test.cpp: write() survives partial writes and calls back once per
// write, from the loop. Task3_* grade exercise task 3.
#include <linux/sockios.h>  // SIOCOUTQ
#include <poll.h>
#include <sys/ioctl.h>

#include <atomic>
#include <future>
#include <system_error>
#include <thread>

#include "stream_fixture.h"

namespace course::testing {
namespace {

// Task 3's tests wait for their writes through run_until_sent().
class Task3_Write : public StreamTest {
protected:
    // Runs the loop until done() holds, as run_until() does, but gives up
    // once bytes have waited in the stream's write buffer for a second (and
    // a hundred turns of the loop) while the kernel's send queue was empty:
    // the kernel had room, and nothing sent them. A write() that does not
    // ask the loop for WRITE when bytes are left over does that; without
    // this, each test would wait out its whole timeout, the task would go
    // past the grader's limit, and the learner would read "timed out" in a
    // test that passes instead of the rule.
    bool run_until_sent(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
        auto waiting_since = IOLoop::time();
        int idle_turns = 0;
        bool stalled = false;
        run_until(
            [&] {
                if (done()) return true;
                int queued = -1;
                bool idle = stream->writing() && !stream->closed() &&
                            ::ioctl(stream->fileno(), SIOCOUTQ, &queued) == 0 && queued == 0;
                if (!idle) {
                    waiting_since = IOLoop::time();
                    idle_turns = 0;
                    return false;
                }
                ++idle_turns;
                stalled = idle_turns >= 100 && IOLoop::time() - waiting_since >= 1s;
                return stalled;
            },
            timeout);
        if (done()) return true;
        if (stalled) {
            ADD_FAILURE() << "bytes waited in the write buffer for a second while the kernel had "
                             "room for them, and nothing sent them: when send() takes only part, "
                             "ask the loop for WRITE (update_interest()), so that a WRITE event "
                             "sends the rest";
        }
        return false;
    }
};
using Task4_Close = StreamTest;

std::string pattern(std::size_t size) {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>('A' + (i * 7 + i / 4096) % 26);
    return data;
}

// Fixed, small kernel buffers on both ends (64 KB asked for). Left to
// autotune, loopback's can grow to take megabytes in one send(), and then
// nothing is left in the stream's write buffer for a test to look at.
void shrink_kernel_buffers(int stream_fd, int peer_fd) {
    int small = 64 * 1024;
    ::setsockopt(stream_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(peer_fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
}

// The peer reads slowly in a thread of its own: a chunk, a pause, a chunk.
class SlowReader {
public:
    SlowReader(int fd, std::size_t expected)
        : fd_(fd), thread_([this, expected] { run(expected); }) {}
    // A test that failed early must not wait for bytes that never come.
    ~SlowReader() {
        if (thread_.joinable()) ::shutdown(fd_, SHUT_RDWR);
        join();
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    std::string received;  // read it only after join()

private:
    void run(std::size_t expected) {
        timeval timeout{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        char chunk[16 * 1024];
        std::size_t since_pause = 0;
        std::this_thread::sleep_for(10ms);
        while (received.size() < expected) {
            long n = 0;
            try {
                n = read_some(fd_, chunk, sizeof chunk);
            } catch (const std::system_error&) {
                // The destructor's shutdown() left bytes unread, and the
                // stream's next ones drew a reset: the reading is over.
                return;
            }
            if (n <= 0) return;
            received.append(chunk, static_cast<std::size_t>(n));
            since_pause += static_cast<std::size_t>(n);
            if (since_pause >= 64 * 1024) {
                since_pause = 0;
                std::this_thread::sleep_for(1ms);
            }
        }
    }
    int fd_;
    std::thread thread_;
};

// Calls stream.write(data, callback) on a thread of its own while the peer
// reads nothing, and says whether it returned within 2 s (a correct one
// returns at once). A write() that waits for the peer then fails its test
// instead of hanging it, and the whole run with it. The loop is not
// running meanwhile, so nothing else touches the stream.
bool write_returns_at_once(IOStream& stream, int peer_fd, const std::string& data,
                           IOStream::WriteCallback callback = {}) {
    auto writing = std::async(std::launch::async,
                              [&] { stream.write(data, std::move(callback)); });
    bool returned = writing.wait_for(2s) == std::future_status::ready;
    if (!returned) {
        SlowReader drain(peer_fd, data.size());  // lets a write() that waits finish
        writing.wait();
    }
    writing.get();
    return returned;
}

const char* const kWriteWaited =
    "write() waited for a peer that does not read: when send() takes nothing, keep the rest "
    "and let a WRITE event send it";

TEST_F(Task3_Write, SmallWriteArrives) {
    bool done = false;
    stream->write("hello\n", [&] { done = true; });
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(peer_receive(6), "hello\n");
}

TEST_F(Task3_Write, WriteWithoutCallbackArrives) {
    stream->write("no callback\n");
    run_until([&] { return !stream->writing(); });
    EXPECT_EQ(peer_receive(12), "no callback\n");
}

TEST_F(Task3_Write, ManyMegabytesToASlowReaderCallBackOnce) {
    const std::string data = pattern(8 * 1024 * 1024);
    SlowReader reader(peer.get(), data.size());
    int calls = 0;
    bool writing_when_called = true;
    stream->write(data, [&] {
        ++calls;
        writing_when_called = stream->writing();
    });
    // The kernel cannot take 8 MB at once: the rest must be buffered.
    EXPECT_TRUE(stream->writing()) << "8 MB went out in one send(); the test proves nothing";
    EXPECT_EQ(calls, 0) << "the callback ran inside write()";
    ASSERT_TRUE(run_until_sent([&] { return calls > 0; }, 20s)) << "the write never completed";
    run_for(20ms);  // a second call would show up now
    reader.join();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(writing_when_called) << "the callback ran before every byte was sent";
    ASSERT_EQ(reader.received.size(), data.size());
    EXPECT_TRUE(reader.received == data) << "the bytes arrived out of order or changed";
}

TEST_F(Task3_Write, CallbacksRunOncePerWriteInOrder) {
    const std::string big = pattern(4 * 1024 * 1024);
    SlowReader reader(peer.get(), 2 + big.size() + 2);
    std::vector<std::string> order;
    stream->write("a\n", [&] { order.push_back("first"); });
    stream->write(big, [&] { order.push_back("big"); });
    stream->write("z\n", [&] { order.push_back("last"); });
    ASSERT_TRUE(run_until_sent([&] { return order.size() == 3; }, 20s));
    run_for(20ms);
    reader.join();
    EXPECT_EQ(order, (std::vector<std::string>{"first", "big", "last"}));
    EXPECT_EQ(reader.received, "a\n" + big + "z\n");
}

// Catches: a callback due when its own bytes have gone, counted from when
// write() was called, instead of when every byte queued before it has gone.
TEST_F(Task3_Write, ACallbackWaitsForTheBytesWrittenBeforeIt) {
    // Far more than the kernel's send buffer (up to 4 MB on loopback), so
    // that it goes out over many WRITE events.
    const std::string big = pattern(32 * 1024 * 1024);
    // The reader first: a write() that waited for the peer would otherwise
    // wait for ever (BuffersWhileThePeerIsNotReadingThenDrains names that).
    SlowReader reader(peer.get(), big.size() + 2);
    stream->write(big);  // no callback of its own
    bool done = false;
    bool writing_when_called = false;
    stream->write("z\n", [&] {
        done = true;
        writing_when_called = stream->writing();
    });
    ASSERT_TRUE(run_until_sent([&] { return done; }, 20s));
    EXPECT_FALSE(writing_when_called)
        << "the callback of \"z\\n\" ran while bytes written before it still waited to be sent";
    reader.join();
    EXPECT_TRUE(reader.received == big + "z\n");
}

// Catches: running only the first finished callback per event. When one
// send() takes the end of a big write and two small ones after it, both
// small callbacks are due at once; no later WRITE event comes to run the
// second (nothing is left to send). Small kernel buffers, so that the big
// write is still buffered when the small ones queue behind it: else each
// small write would go out, and be called back, on its own.
TEST_F(Task3_Write, CallbacksThatFinishTogetherAllRun) {
    shrink_kernel_buffers(stream->fileno(), peer.get());
    const std::string big = pattern(4 * 1024 * 1024);
    SlowReader reader(peer.get(), big.size() + 2);  // first, as above
    stream->write(big);
    ASSERT_TRUE(stream->writing()) << "4 MB went out in one send(); the test proves nothing";
    std::vector<std::string> order;
    stream->write("y", [&] { order.push_back("y"); });
    stream->write("z", [&] { order.push_back("z"); });
    ASSERT_TRUE(run_until_sent([&] { return order.size() == 2; }, 20s))
        << "callbacks run: " << order.size() << " of 2";
    EXPECT_EQ(order, (std::vector<std::string>{"y", "z"}));
}

// Rule: bytes go out in the order they were written. Catches: a write()
// that offers its own bytes to the kernel first and buffers only what is
// left: while earlier bytes still wait in the write buffer, the new ones
// overtake them as soon as the kernel has room.
TEST_F(Task3_Write, BytesWrittenWhileOthersWaitGoOutAfterThem) {
    shrink_kernel_buffers(stream->fileno(), peer.get());
    const std::string big = pattern(1024 * 1024);
    ASSERT_TRUE(write_returns_at_once(*stream, peer.get(), big)) << kWriteWaited;
    ASSERT_TRUE(stream->writing()) << "1 MB went out in one send(); the test proves nothing";
    // The peer reads a little, without the loop running: the kernel has
    // room again while most of `big` still waits in the write buffer.
    std::string received = peer_receive(64 * 1024);
    pollfd writable{stream->fileno(), POLLOUT, 0};
    ::poll(&writable, 1, 2000);  // until the kernel says it has room
    stream->write("tail\n");
    SlowReader reader(peer.get(), big.size() + 5 - received.size());
    ASSERT_TRUE(run_until_sent([&] { return !stream->writing(); }, 20s))
        << "the writes never finished";
    reader.join();
    received += reader.received;
    ASSERT_EQ(received.size(), big.size() + 5);
    EXPECT_TRUE(received == big + "tail\n")
        << "the peer received \"tail\\n\" at byte " << received.find("tail\n") << ", not at byte "
        << big.size() << ": bytes written while earlier ones still waited in the write buffer "
        << "went out before them";
}

// Rule: a write's callback runs once every byte before it has gone out,
// whatever its own size: an empty write is how a caller waits for
// everything written so far (relay's close does). Catches: a write() that
// returns at once on no data, and never calls back.
TEST_F(Task3_Write, AnEmptyWriteCallsBackOnceTheBytesBeforeItHaveGone) {
    bool idle_done = false;
    stream->write("", [&] { idle_done = true; });
    EXPECT_FALSE(idle_done) << "the callback ran inside write()";
    ASSERT_TRUE(run_until([&] { return idle_done; }))
        << "the callback of an empty write on an idle stream never ran";

    shrink_kernel_buffers(stream->fileno(), peer.get());
    const std::string big = pattern(1024 * 1024);
    SlowReader reader(peer.get(), big.size());
    stream->write(big);
    bool done = false;
    bool writing_when_called = true;
    stream->write("", [&] {
        done = true;
        writing_when_called = stream->writing();
    });
    ASSERT_TRUE(run_until_sent([&] { return done; }, 20s))
        << "the callback of an empty write queued behind 1 MB never ran";
    EXPECT_FALSE(writing_when_called) << "it ran before the bytes written before it had gone";
}

// Rule: an exception from a write callback is logged and closes the stream,
// as one from any callback does (run_user_callback). Task 4's: the stream
// closes through close_because(), which task 4 writes. Catches: a callback
// called directly: its exception escapes to the loop, which logs it, and
// the stream stays open, serving nobody.
TEST_F(Task4_Close, AnExceptionInAWriteCallbackClosesTheStream) {
    stream->write("x", [] { throw std::runtime_error("write handler bug"); });
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }))
        << "a write callback threw, and the stream never closed: run callbacks through "
           "run_user_callback";
    EXPECT_NE(stream->close_reason().find("write handler bug"), std::string::npos)
        << "reason: " << stream->close_reason();
}

// Catches: a send error (EPIPE, ECONNRESET) that escapes write() as an
// exception instead of closing the stream with the reason. Task 4's: the
// stream closes through close_because(), which task 4 writes.
TEST_F(Task4_Close, WritingToAPeerThatIsGoneClosesTheStream) {
    reset_peer();
    const std::string chunk = pattern(256 * 1024);
    for (int i = 0; i < 20 && !stream->closed(); ++i) {
        try {
            stream->write(chunk);
        } catch (const StreamClosedError&) {
            break;  // closed meanwhile: that is the point
        } catch (const std::exception& error) {
            FAIL() << "write() threw instead of closing the stream: " << error.what();
        }
        run_for(5ms);
    }
    ASSERT_TRUE(run_until([&] { return close_calls > 0; }, 2s)) << "the stream never closed";
    EXPECT_NE(stream->close_reason().find("write error"), std::string::npos)
        << "reason: " << stream->close_reason();
}

TEST_F(Task3_Write, CallbackNeverRunsInsideWrite) {
    bool done = false;
    stream->write("x", [&] { done = true; });
    EXPECT_FALSE(done) << "the callback ran inside write(), though the bytes went out at once";
    EXPECT_TRUE(run_until([&] { return done; }));
}

// Catches: a write that gets its callback run by asking the loop for WRITE
// itself, behind update_interest()'s back. The callback runs, but WRITE
// stays on with nothing to write: epoll reports the writable socket every
// turn, and the loop never sleeps again.
TEST_F(Task3_Write, AfterAWriteTheLoopSleepsAgain) {
    bool done = false;
    stream->write("x", [&] { done = true; });
    ASSERT_TRUE(run_until([&] { return done; }));
    EXPECT_EQ(peer_receive(1), "x");
    // Nothing to read, nothing to write: a sleeping loop goes round a few
    // times in 300 ms (the stop timer's turn), a spinning one thousands.
    std::uint64_t before = loop.turns();
    loop.call_later(300ms, [&] { loop.stop(); });
    loop.start();
    std::uint64_t turns = loop.turns() - before;
    EXPECT_LT(turns, 50u) << "the loop went round " << turns << " times in 300 ms with nothing "
                             "to do: is WRITE still asked for with nothing left to write?";
}

TEST_F(Task3_Write, WritingFromAWriteCallbackKeepsOrder) {
    int round = 0;
    std::function<void()> next = [&] {
        if (++round < 5) stream->write(std::to_string(round), next);
    };
    stream->write("0", next);
    ASSERT_TRUE(run_until([&] { return round == 5; }));
    EXPECT_EQ(peer_receive(5), "01234");
}

TEST_F(Task3_Write, BuffersWhileThePeerIsNotReadingThenDrains) {
    shrink_kernel_buffers(stream->fileno(), peer.get());
    const std::string data = pattern(4 * 1024 * 1024);
    bool done = false;
    ASSERT_TRUE(write_returns_at_once(*stream, peer.get(), data, [&] { done = true; }))
        << kWriteWaited;
    run_for(100ms);
    EXPECT_TRUE(stream->writing()) << "the peer reads nothing, yet everything was sent";
    EXPECT_FALSE(done);
    SlowReader reader(peer.get(), data.size());
    ASSERT_TRUE(run_until_sent([&] { return done; }, 20s));
    reader.join();
    EXPECT_EQ(reader.received.size(), data.size());
}

}  // namespace
}  // namespace course::testing
