// write_test.cpp: write() survives partial writes and calls back once per
// write, from the loop. Task3_* grade exercise task 3.
#include <atomic>
#include <thread>

#include "stream_fixture.h"

namespace course::testing {
namespace {

using Task3_Write = StreamTest;

std::string pattern(std::size_t size) {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>('A' + (i * 7 + i / 4096) % 26);
    return data;
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
            long n = read_some(fd_, chunk, sizeof chunk);
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
    ASSERT_TRUE(run_until([&] { return calls > 0; }, 20s)) << "the write never completed";
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
    ASSERT_TRUE(run_until([&] { return order.size() == 3; }, 20s));
    run_for(20ms);
    reader.join();
    EXPECT_EQ(order, (std::vector<std::string>{"first", "big", "last"}));
    EXPECT_EQ(reader.received, "a\n" + big + "z\n");
}

TEST_F(Task3_Write, CallbackNeverRunsInsideWrite) {
    bool done = false;
    stream->write("x", [&] { done = true; });
    EXPECT_FALSE(done) << "the callback ran inside write(), though the bytes went out at once";
    EXPECT_TRUE(run_until([&] { return done; }));
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
    const std::string data = pattern(4 * 1024 * 1024);
    bool done = false;
    stream->write(data, [&] { done = true; });
    run_for(100ms);
    EXPECT_TRUE(stream->writing()) << "the peer reads nothing, yet everything was sent";
    EXPECT_FALSE(done);
    SlowReader reader(peer.get(), data.size());
    ASSERT_TRUE(run_until([&] { return done; }, 20s));
    reader.join();
    EXPECT_EQ(reader.received.size(), data.size());
}

}  // namespace
}  // namespace course::testing
