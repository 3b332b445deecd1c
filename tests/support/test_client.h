// test_client.h: a blocking TCP client for tests, where every wait has a
// deadline. A server under test that never answers makes the test fail with
// a message, never hang.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "socket.h"

namespace course::testing {

using namespace std::chrono_literals;

// Thrown when the server did not answer in time.
struct TimeoutError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class TestClient {
public:
    // Connects to 127.0.0.1:port; throws if that fails.
    explicit TestClient(std::uint16_t port);

    void send(std::string_view bytes);

    // Reads until `delimiter` has arrived; returns everything up to and
    // including it. Throws TimeoutError on timeout, std::runtime_error at end of stream.
    std::string read_until(std::string_view delimiter,
                           std::chrono::milliseconds timeout = 5s);

    // Reads exactly n bytes (same errors as read_until).
    std::string read_bytes(std::size_t n, std::chrono::milliseconds timeout = 5s);

    // Reads until the server closes; returns what came before the close.
    std::string read_until_close(std::chrono::milliseconds timeout = 5s);

    // One full HTTP response with a Content-Length body (head + body).
    std::string read_http_response(std::chrono::milliseconds timeout = 5s);

    // True if the server closed the connection within `timeout` (reading
    // and dropping anything it sent first).
    bool closed_by_server(std::chrono::milliseconds timeout = 5s);

    // Half-close: the server sees end of stream, we can still read.
    void shutdown_write();

    int fd() const { return fd_.get(); }

private:
    // Waits for data, appends it to buffer_; false at end of stream.
    // `timeout` is the caller's whole wait, for the TimeoutError's message.
    bool fill(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds timeout);

    FileDescriptor fd_;
    std::string buffer_;  // received, not yet returned
};

}  // namespace course::testing
