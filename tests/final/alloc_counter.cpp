// alloc_counter.cpp: see alloc_counter.h.
#include "alloc_counter.h"

#include <malloc.h>

#include <cstdlib>
#include <new>

namespace {
thread_local std::int64_t t_live = 0;
thread_local std::int64_t t_total = 0;
thread_local std::size_t t_last_size = 0;
thread_local std::int64_t t_live_bytes = 0;

thread_local bool t_sizing = false;

// The usable size of `block`. tcmalloc's malloc_usable_size allocates with
// operator new the first time it runs, which comes back here: that inner
// block counts as 0 bytes (it is never freed).
std::int64_t usable_size(void* block) {
    if (t_sizing) return 0;
    t_sizing = true;
    auto size = static_cast<std::int64_t>(malloc_usable_size(block));
    t_sizing = false;
    return size;
}

void* counted_allocate(std::size_t size) {
    void* block = std::malloc(size == 0 ? 1 : size);
    if (block == nullptr) throw std::bad_alloc();
    ++t_live;
    ++t_total;
    t_last_size = size;
    t_live_bytes += usable_size(block);
    return block;
}

void counted_free(void* block) noexcept {
    if (block == nullptr) return;
    --t_live;
    t_live_bytes -= usable_size(block);
    std::free(block);
}
}  // namespace

namespace tornado::testing {
std::int64_t live_allocations() { return t_live; }
std::int64_t total_allocations() { return t_total; }
std::size_t last_allocation_size() { return t_last_size; }
std::int64_t live_bytes() { return t_live_bytes; }
}  // namespace tornado::testing

void* operator new(std::size_t size) { return counted_allocate(size); }
void* operator new[](std::size_t size) { return counted_allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return counted_allocate(size);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    try {
        return counted_allocate(size);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* block) noexcept { counted_free(block); }
void operator delete[](void* block) noexcept { counted_free(block); }
void operator delete(void* block, std::size_t) noexcept { counted_free(block); }
void operator delete[](void* block, std::size_t) noexcept { counted_free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { counted_free(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { counted_free(block); }
