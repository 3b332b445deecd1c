// task_stack_test.cpp: the test that a Task's hand-overs are symmetric
// transfers (task 2), in a file of its own because it is compiled with
// AddressSanitizer's stack checks off (CMakeLists.txt): with them, GCC 12
// does not make symmetric transfer a tail call, and the test would
// overflow the stack whatever the code. Every other test file keeps the
// stack checked, so that a callback holding a dead local is caught.
#include <gtest/gtest.h>

#include "coroutine_fixture.h"
#include "task.h"

namespace course::testing {
namespace {

class Task2_SymmetricTransfer : public CoroutineTest {};

Task<int> ready_one() { co_return 1; }

// Symmetric transfer is a tail call, and the language requires it, but
// GCC 12 only makes the tail call when it optimizes sibling calls (-O2,
// -O3, -Os, or -Og with -foptimize-sibling-calls as the tests have it)
// and not under AddressSanitizer with its stack checks. This file is
// compiled without them (COURSE_ASAN_STACK_UNCHECKED). Clang makes it
// always.
#if defined(__GNUC__) && !defined(__clang__) && \
    ((defined(__SANITIZE_ADDRESS__) && !defined(COURSE_ASAN_STACK_UNCHECKED)) || \
     !defined(__OPTIMIZE__))
constexpr bool kTailCallsGuaranteed = false;
#else
constexpr bool kTailCallsGuaranteed = true;
#endif

TEST_F(Task2_SymmetricTransfer, AwaitingAMillionReadyTasksDoesNotGrowTheStack) {
    if (!kTailCallsGuaranteed) {
        GTEST_SKIP() << "GCC without optimization does not make symmetric transfer a tail "
                        "call (see the chapter README)";
    }
    // Each co_await jumps into the child and back with symmetric transfer.
    // Had the awaiter called resume() (and the child resumed its awaiter
    // the same way), every iteration would nest deeper on the stack.
    auto many = []() -> Task<long> {
        long sum = 0;
        for (int i = 0; i < 1'000'000; ++i) sum += co_await ready_one();
        co_return sum;
    };
    EXPECT_EQ(run(many()), 1'000'000);
}

}  // namespace
}  // namespace course::testing
