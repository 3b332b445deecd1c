#include "test_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "escaped.h"

namespace course::testing {

TestClient::TestClient(std::uint16_t port) : fd_(connect_tcp("127.0.0.1", port)) {}

void TestClient::send(std::string_view bytes) { write_all(fd_.get(), bytes); }

bool TestClient::fill(std::chrono::steady_clock::time_point deadline,
                      std::chrono::milliseconds timeout) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    // Said as a wait that got nothing, not as an end: the server may still
    // be alive, stuck, or waiting for something the test never sends.
    std::string nothing = "nothing (more) arrived from the server within " +
                          std::to_string(timeout.count()) + " ms";
    if (left.count() <= 0) throw TimeoutError(nothing);
    pollfd waiting{fd_.get(), POLLIN, 0};
    int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
    if (ready < 0) throw_errno("poll");
    if (ready == 0) throw TimeoutError(nothing);
    char chunk[65536];
    long n = read_some(fd_.get(), chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
}

std::string TestClient::read_until(std::string_view delimiter, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t found;
    while ((found = buffer_.find(delimiter)) == std::string::npos) {
        if (!fill(deadline, timeout)) {
            throw std::runtime_error("server closed before sending " + escaped(delimiter) +
                                     "; got: " + escaped(buffer_));
        }
    }
    std::string result = buffer_.substr(0, found + delimiter.size());
    buffer_.erase(0, found + delimiter.size());
    return result;
}

std::string TestClient::read_bytes(std::size_t n, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < n) {
        if (!fill(deadline, timeout)) {
            throw std::runtime_error("server closed after " + std::to_string(buffer_.size()) +
                                     " of " + std::to_string(n) + " bytes");
        }
    }
    std::string result = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return result;
}

std::string TestClient::read_until_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline, timeout)) {
    }
    return std::exchange(buffer_, {});
}

std::string TestClient::read_http_response(std::chrono::milliseconds timeout) {
    std::string head = read_until("\r\n\r\n", timeout);
    std::size_t length = 0;
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t at = lower.find("\r\ncontent-length:");
    if (at != std::string::npos) length = std::stoul(head.substr(at + 17));
    return head + read_bytes(length, timeout);
}

bool TestClient::closed_by_server(std::chrono::milliseconds timeout) {
    try {
        read_until_close(timeout);
        return true;
    } catch (const TimeoutError&) {
        return false;
    } catch (const std::system_error&) {
        return true;  // connection reset: closed, too
    }
}

void TestClient::shutdown_write() {
    if (::shutdown(fd_.get(), SHUT_WR) < 0) throw_errno("shutdown");
}

}  // namespace course::testing
