#include "select_test_helpers.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdio>
#include <exception>
#include <utility>

#include <gtest/gtest.h>

namespace course::testing {

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

void set_socket_buffers(int fd, int bytes) {
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes) < 0) throw_errno("SO_SNDBUF");
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) throw_errno("SO_RCVBUF");
}

FileDescriptor make_listener(int socket_buffer_bytes) {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    // Accepted sockets inherit the listener's buffer sizes.
    if (socket_buffer_bytes > 0) set_socket_buffers(listener.get(), socket_buffer_bytes);
    return listener;
}

TcpPair make_tcp_pair(int socket_buffer_bytes) {
    FileDescriptor listener = make_listener(socket_buffer_bytes);
    FileDescriptor peer = connect_tcp("127.0.0.1", local_port(listener.get()));
    if (socket_buffer_bytes > 0) set_socket_buffers(peer.get(), socket_buffer_bytes);
    AcceptedConnection accepted = accept_connection(listener.get());
    set_nonblocking(accepted.fd.get());
    return {std::move(accepted.fd), std::move(peer)};
}

std::string numbered_lines(std::size_t total_bytes) {
    std::string lines;
    lines.reserve(total_bytes + 64);
    char line[64];
    for (unsigned number = 1; lines.size() < total_bytes; ++number) {
        std::snprintf(line, sizeof line, "line %07u the quick brown fox jumps over the dog\n", number);
        lines += line;
    }
    return lines;
}

std::size_t unread_bytes(int fd) {
    int bytes = 0;
    if (::ioctl(fd, FIONREAD, &bytes) < 0) throw_errno("ioctl FIONREAD");
    return static_cast<std::size_t>(bytes);
}

// ---- BackgroundSender -----------------------------------------------------

BackgroundSender::BackgroundSender(int fd, std::string data)
    : fd_(fd), data_(std::move(data)), thread_([this] { send_everything(); }) {}

BackgroundSender::~BackgroundSender() {
    if (!done_) ::shutdown(fd_, SHUT_RDWR);  // wakes a send() blocked on a full buffer
    thread_.join();
}

void BackgroundSender::send_everything() {
    constexpr std::size_t kPiece = 16 * 1024;
    try {
        for (std::size_t at = 0; at < data_.size(); at += kPiece) {
            write_all(fd_, std::string_view(data_).substr(at, kPiece));
            sent_ = std::min(at + kPiece, data_.size());
        }
    } catch (const std::exception& error) {
        std::lock_guard lock(mutex_);
        error_ = error.what();
    }
    done_ = true;
}

bool BackgroundSender::stalls(std::chrono::milliseconds quiet,
                              std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t last = sent_;
    auto last_change = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < deadline) {
        if (done_) return false;
        std::this_thread::sleep_for(10ms);
        std::size_t now_sent = sent_;
        if (now_sent != last) {
            last = now_sent;
            last_change = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - last_change >= quiet) {
            return true;
        }
    }
    return false;
}

bool BackgroundSender::finishes(std::chrono::milliseconds timeout) const {
    return wait_until([this] { return done_.load(); }, timeout);
}

std::string BackgroundSender::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

}  // namespace course::testing
