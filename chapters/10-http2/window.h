// window.h: one flow-control window (RFC 9113 section 5.2 and 6.9), the
// small type both the connection and each stream keep two of: what the
// client still lets us send, and what we still let it send us. h2o's
// h2o_http2_window_t is the model.
//
//   consume(n)      n bytes sent, or received: they come off the window
//   update(change)  a WINDOW_UPDATE, or a SETTINGS change: the window moves,
//                   never over 2^31-1 (the one rule, written once here)
//   give_back(n)    n received bytes taken in: returns the increment of a
//                   WINDOW_UPDATE once enough are waiting, 0 until then
//
// Signed: a SETTINGS change can take a send window below zero (section
// 6.9.2); DATA then waits until WINDOW_UPDATEs bring it back above.
#pragma once

#include <cstdint>

#include "frame.h"

namespace course::http2 {

class Window {
public:
    explicit Window(std::int64_t size = kDefaultWindowSize) : size_(size) {}

    std::int64_t size() const { return size_; }

    // Bytes sent, or received. Whether a received frame fits is the
    // caller's check (size() first): too large is the client's error, of
    // the connection or of the stream, which only the caller knows.
    void consume(std::int64_t bytes) { size_ -= bytes; }

    // --- Task 3 (window.cpp) ------------------------------------------------------------

    // The window moves by `change` (a WINDOW_UPDATE's increment, or the
    // difference a SETTINGS_INITIAL_WINDOW_SIZE makes). False, the window
    // left as it was, if that would take it over 2^31-1: a
    // FLOW_CONTROL_ERROR, whose kind (stream or connection) the caller says.
    [[nodiscard]] bool update(std::int64_t change);

    // `bytes` received have been taken in (or dropped): they may be given
    // back to the client. Not one WINDOW_UPDATE per DATA frame, which would
    // double the frames for nothing, but in batches: once half of
    // `full_size` (the window as we announced it) is waiting, the window
    // grows by all of it and the increment to send is returned; 0 until then.
    std::uint32_t give_back(std::int64_t bytes, std::int64_t full_size);

private:
    std::int64_t size_;
    // Bytes taken in but not given back yet.
    std::int64_t waiting_ = 0;
};

}  // namespace course::http2
