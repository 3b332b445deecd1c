// stream_buffer_test.cpp: the buffer under IOStream keeps bytes in order
// and reuses its space instead of growing or copying without end.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "stream_buffer.h"

namespace course {
namespace {

TEST(StreamBuffer, TakesWhatWasAppendedInOrder) {
    StreamBuffer buffer;
    buffer.append("hello ");
    buffer.append("world");
    EXPECT_EQ(buffer.size(), 11u);
    EXPECT_EQ(buffer.view(), "hello world");
    EXPECT_EQ(buffer.take(6), "hello ");
    EXPECT_EQ(buffer.view(), "world");
    buffer.consume(5);
    EXPECT_TRUE(buffer.empty());
}

TEST(StreamBuffer, PrepareThenCommitIsHowTheSocketWritesIntoIt) {
    StreamBuffer buffer;
    buffer.append("ab");
    char* space = buffer.prepare(100);
    std::memcpy(space, "cdef", 4);  // as read() would
    buffer.commit(4);
    EXPECT_EQ(buffer.view(), "abcdef");
}

TEST(StreamBuffer, ConsumingEverythingStartsAgainAtTheFront) {
    StreamBuffer buffer;
    buffer.append(std::string(1000, 'x'));
    std::size_t capacity = buffer.capacity();
    const char* front = buffer.view().data();
    buffer.consume(1000);
    buffer.append(std::string(1000, 'y'));
    EXPECT_EQ(buffer.capacity(), capacity) << "grew although all space was free";
    EXPECT_EQ(buffer.view().data(), front);
}

TEST(StreamBuffer, SteadyTrafficDoesNotGrowTheBuffer) {
    // Always 10 KB in flight, a little taken and a little added each time:
    // the dead prefix must be reused, not the buffer grown.
    StreamBuffer buffer;
    buffer.append(std::string(10 * 1024, 'x'));
    std::size_t after_warm_up = 0;
    for (int i = 0; i < 100000; ++i) {
        buffer.consume(100);
        buffer.append(std::string(100, 'y'));
        if (i == 1000) after_warm_up = buffer.capacity();
    }
    EXPECT_EQ(buffer.size(), 10u * 1024);
    EXPECT_LE(buffer.capacity(), 4 * after_warm_up);
    EXPECT_LE(buffer.capacity(), 64u * 1024);
}

TEST(StreamBuffer, SmallTakesFromABigBufferDoNotMoveTheRest) {
    // Reading a 1 MB buffer line by line must not copy the remaining bytes
    // for every line (that would be O(n^2)): the readable bytes stay put.
    StreamBuffer buffer;
    buffer.append(std::string(1024 * 1024, 'x'));
    const char* before = buffer.view().data();
    for (int i = 0; i < 1000; ++i) buffer.take(100);
    EXPECT_EQ(buffer.view().data(), before + 100 * 1000);
}

TEST(StreamBuffer, AgreesWithAStringUnderRandomUse) {
    std::mt19937 random(4);
    StreamBuffer buffer;
    std::string model;
    for (int step = 0; step < 20000; ++step) {
        if (random() % 2 == 0) {
            std::string data(random() % 300, static_cast<char>('a' + step % 26));
            buffer.append(data);
            model += data;
        } else if (!model.empty()) {
            std::size_t n = random() % (model.size() + 1);
            ASSERT_EQ(buffer.take(n), model.substr(0, n)) << "step " << step;
            model.erase(0, n);
        }
        ASSERT_EQ(buffer.view(), model) << "step " << step;
    }
}

}  // namespace
}  // namespace course
