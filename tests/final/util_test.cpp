// Tests of tornado/util.h: Function (inline storage, move-only callables,
// exact destruction), FileDescriptor and throw_errno.
#include "tornado/util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <memory>
#include <string>
#include <system_error>

#include "alloc_counter.h"

namespace tornado {
namespace {

TEST(FunctionTest, EmptyAndCalled) {
    Function<int(int)> empty;
    EXPECT_FALSE(empty);
    Function<int(int)> twice = [](int x) { return 2 * x; };
    EXPECT_TRUE(twice);
    EXPECT_EQ(twice(21), 42);
    twice = nullptr;
    EXPECT_FALSE(twice);
}

TEST(FunctionTest, SmallCallablesLiveInlineBigOnesAreBoxed) {
    int counter = 0;
    void* extra = &counter;
    std::int64_t before = testing::total_allocations();
    Function<void()> small = [&counter, extra, &before] {
        ++counter;
        (void)extra;
        (void)before;
    };  // three pointers: inline
    small();
    EXPECT_EQ(testing::total_allocations(), before);

    std::array<char, 64> big{};
    Function<void()> boxed = [&counter, big] { counter += big[0] + 1; };
    EXPECT_EQ(testing::total_allocations(), before + 1);
    boxed();
    EXPECT_EQ(counter, 2);
    Function<void()> moved = std::move(boxed);  // moves the box, not the callable
    EXPECT_EQ(testing::total_allocations(), before + 1);
    moved();
    EXPECT_EQ(counter, 3);
}

// A smaller inline size (the loop's Handler keeps two pointers): a
// shared_ptr still fits, three pointers are boxed, and both run.
TEST(FunctionTest, TheInlineSizeIsAParameter) {
    static_assert(sizeof(Function<void(), 2 * sizeof(void*)>) == 3 * sizeof(void*));
    auto counter = std::make_shared<int>(0);
    void* extra = counter.get();
    std::int64_t before = testing::total_allocations();
    Function<void(), 2 * sizeof(void*)> two = [counter] { ++*counter; };  // 16 bytes: inline
    std::int64_t after_two = testing::total_allocations();
    Function<void(), 2 * sizeof(void*)> three = [counter, extra] {  // 24 bytes: boxed
        ++*counter;
        (void)extra;
    };
    std::int64_t after_three = testing::total_allocations();
    EXPECT_EQ(after_two, before);
    EXPECT_EQ(after_three, before + 1);
    two();
    three();
    EXPECT_EQ(*counter, 2);
}

TEST(FunctionTest, HoldsMoveOnlyCallablesAndDestroysThemOnce) {
    auto owned = std::make_shared<int>(5);
    std::weak_ptr<int> watch = owned;
    {
        Function<int()> read = [value = std::make_unique<int>(7), keep = std::move(owned)] {
            return *value + *keep;
        };
        EXPECT_EQ(read(), 12);
        Function<int()> other = std::move(read);
        EXPECT_FALSE(read);  // NOLINT: checking the moved-from state on purpose
        EXPECT_EQ(other(), 12);
        EXPECT_FALSE(watch.expired());
    }
    EXPECT_TRUE(watch.expired());
}

TEST(FunctionTest, AVoidFunctionDropsTheResult) {
    int calls = 0;
    Function<void()> drops = [&calls] {
        ++calls;
        return std::string("ignored");
    };
    drops();
    EXPECT_EQ(calls, 1);
}

TEST(FileDescriptorTest, ClosesExactlyOnce) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    {
        FileDescriptor read_end(fds[0]);
        FileDescriptor moved = std::move(read_end);
        EXPECT_FALSE(read_end.valid());  // NOLINT: checking the moved-from state on purpose
        EXPECT_EQ(moved.get(), fds[0]);
    }
    EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
    FileDescriptor write_end(fds[1]);
    int raw = write_end.release();
    EXPECT_FALSE(write_end);
    EXPECT_NE(::fcntl(raw, F_GETFD), -1);
    ::close(raw);
}

TEST(ThrowErrnoTest, NamesTheCallAndTheError) {
    errno = ENOENT;
    try {
        throw_errno("open /missing");
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ENOENT);
        EXPECT_NE(std::string(error.what()).find("open /missing"), std::string::npos);
        return;
    }
    FAIL() << "no exception";
}

}  // namespace
}  // namespace tornado
