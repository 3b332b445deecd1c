// alloc_counter.h: counts the heap blocks of the calling thread, to prove
// that coroutine frames and Future states are freed exactly, and that an
// idle loop turn allocates nothing.
//
// The test binary replaces global operator new/delete (alloc_counter.cpp)
// with versions that count per thread. A test reads the counters before
// and after a scenario that runs on its own thread only: equal live counts
// mean every frame and state made in between was freed.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tornado::testing {

// Blocks allocated minus blocks freed by this thread.
std::int64_t live_allocations();
// Blocks allocated by this thread, ever.
std::int64_t total_allocations();
// The size of this thread's latest allocation.
std::size_t last_allocation_size();
// Heap bytes held by blocks this thread allocated and has not freed, as
// malloc counts them (usable size, so rounding is included; malloc's own
// 8-byte header per block is not).
std::int64_t live_bytes();

// The live blocks `scenario` leaves behind on this thread, measured after
// three warm-up runs (so that buffers the loop keeps for reuse, such as its
// callback vectors, have reached their working size). 0 means exact.
template <typename Scenario>
std::int64_t blocks_left_behind(Scenario&& scenario) {
    for (int i = 0; i < 3; ++i) scenario();
    std::int64_t before = live_allocations();
    for (int i = 0; i < 3; ++i) scenario();
    return live_allocations() - before;
}

}  // namespace tornado::testing
