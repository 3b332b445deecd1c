// net_test_util.h: what the network tests of final/ share: a connected TCP
// pair on 127.0.0.1, a blocking peer with deadlines, and descriptor counts.
#pragma once

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/netutil.h"
#include "tornado/util.h"

namespace tornado::testing {

// A connected TCP pair over 127.0.0.1: `ours` for an IOStream (non-blocking),
// `peer` for the test to drive with the blocking helpers below.
struct TcpPair {
    FileDescriptor ours;
    FileDescriptor peer;
};

inline TcpPair make_tcp_pair() {
    std::vector<FileDescriptor> listeners = bind_sockets(0, "127.0.0.1");
    SocketAddress address = SocketAddress::local_of(listeners[0].get());
    TcpPair pair;
    pair.peer.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(pair.peer.get(), address.data(), address.size()) < 0) throw_errno("connect");
    // The listener is non-blocking, but the handshake is done: accept now.
    for (int attempt = 0; attempt < 1000 && !pair.ours; ++attempt) {
        pair.ours.reset(::accept4(listeners[0].get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!pair.ours) ::usleep(1000);
    }
    if (!pair.ours) throw_errno("accept");
    return pair;
}

// Waits up to `timeout` for fd to be readable; false on timeout.
inline bool wait_readable(int fd, std::chrono::milliseconds timeout) {
    pollfd entry{fd, POLLIN, 0};
    return ::poll(&entry, 1, static_cast<int>(timeout.count())) > 0;
}

// Writes all of `data` to a blocking descriptor.
inline void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("send");
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads until `n` bytes came, the peer closed, or `timeout` passed.
inline std::string recv_bytes(int fd, std::size_t n,
                              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !wait_readable(fd, left)) throw std::runtime_error("recv_bytes: timeout");
        char chunk[65536];
        ssize_t got = ::recv(fd, chunk, std::min(sizeof chunk, n - out.size()), 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (got < 0) throw_errno("recv");
        if (got == 0) break;
        out.append(chunk, static_cast<std::size_t>(got));
    }
    return out;
}

// Reads until the peer closes (or `timeout`).
inline std::string recv_until_close(int fd,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return recv_bytes(fd, SIZE_MAX, timeout);
}

// Closes with a reset (RST) instead of an orderly FIN.
inline void reset_connection(FileDescriptor& fd) {
    linger option{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &option, sizeof option);
    fd.reset();
}

// How many descriptors this process has open.
inline int open_descriptor_count() {
    int count = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (::readdir(dir) != nullptr) ++count;
        ::closedir(dir);
        count -= 3;  // ".", "..", and the directory's own descriptor
    }
    return count;
}

// A free port on 127.0.0.1 (bound, then let go: nobody listens there).
inline std::uint16_t unused_port() {
    auto sockets = bind_sockets(0, "127.0.0.1");
    return SocketAddress::local_of(sockets[0].get()).port();
}

// A listener whose accept queue is full: the kernel drops new SYNs, so a
// connection attempt to it hangs (until the client gives up).
struct BlackHole {
    FileDescriptor listener;
    std::vector<FileDescriptor> fillers;
    SocketAddress address;

    BlackHole() {
        auto sockets = bind_sockets(0, "127.0.0.1", {.backlog = 0});
        listener = std::move(sockets[0]);
        address = SocketAddress::local_of(listener.get());
        // Non-blocking: those that do not fit just hang, as they should.
        for (int i = 0; i < 3; ++i) {
            fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            ::connect(fillers.back().get(), address.data(), address.size());
        }
        ::usleep(20000);  // let the handshakes that can finish, finish
    }
};

}  // namespace tornado::testing
