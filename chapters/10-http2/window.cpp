// window.cpp: task 3's two rules of a window (window.h): never over
// 2^31-1, and give back in batches.
#include "window.h"

namespace course::http2 {

// --- Task 3: flow control -----------------------------------------------------------------

bool Window::update(std::int64_t change) {
    // 2^31-1 is the most a window may hold (section 6.9.1); a peer that
    // takes it further is broken, and the caller says so.
    if (size_ + change > kMaxWindowSize) return false;
    size_ += change;
    return true;
}

std::uint32_t Window::give_back(std::int64_t bytes, std::int64_t full_size) {
    waiting_ += bytes;
    if (waiting_ < full_size / 2) return 0;
    // The batch: the window grows by all that waited, and the client is
    // told by as much.
    auto increment = static_cast<std::uint32_t>(waiting_);
    size_ += waiting_;
    waiting_ = 0;
    return increment;
}

}  // namespace course::http2
