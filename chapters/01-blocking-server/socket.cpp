// socket.cpp: see socket.h for what each function promises.
#include "socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace course {

void throw_errno(const std::string& call) {
    throw_system_error(errno, call);
}

void throw_system_error(int error, const std::string& call) {
    throw std::system_error(error, std::generic_category(), call);
}

void FileDescriptor::reset(int fd) {
    if (fd_ >= 0) {
        // Never retry close() on EINTR: on Linux the descriptor is already
        // gone, and a retry could close a descriptor another thread just got.
        ::close(fd_);
    }
    fd_ = fd;
}

namespace {

sockaddr_in make_address(const std::string& host, std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
        throw std::invalid_argument("not an IPv4 address: '" + host + "'");
    }
    return address;
}

std::string describe(const sockaddr_in& address) {
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(address.sin_port));
}

FileDescriptor new_tcp_socket() {
    // SOCK_CLOEXEC: a child process started later must not inherit it.
    FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw_errno("socket");
    return fd;
}

// accept() on Linux also reports network errors of a connection that broke
// before we took it (see `man 2 accept`); like ECONNABORTED, they concern
// that one client, not the listening socket.
bool is_error_of_one_client(int error) {
    switch (error) {
        case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN:
        case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
            return true;
        default:
            return false;
    }
}

// After a signal interrupts connect(), the kernel goes on connecting in the
// background; calling connect() again would only say EALREADY. We wait until
// the socket is writable and then ask the socket how it went (SO_ERROR).
int wait_for_interrupted_connect(int fd) {
    pollfd waiting{fd, POLLOUT, 0};
    while (::poll(&waiting, 1, -1) < 0) {
        if (errno != EINTR) return errno;
    }
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
    return error;
}

}  // namespace

FileDescriptor listen_tcp(const std::string& host, std::uint16_t port, int backlog) {
    sockaddr_in address = make_address(host, port);
    FileDescriptor fd = new_tcp_socket();
    // Without SO_REUSEADDR a restarted server cannot bind its port while old
    // connections sit in TIME_WAIT, which is confusing in a lesson.
    int on = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) {
        throw_errno("setsockopt SO_REUSEADDR");
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        int error = errno;
        throw_system_error(error, "bind " + describe(address));
    }
    if (::listen(fd.get(), backlog) < 0) throw_errno("listen");
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
        throw_errno("getsockname");
    }
    return ntohs(address.sin_port);
}

AcceptedConnection accept_connection(int listen_fd) {
    while (true) {
        sockaddr_in peer{};
        socklen_t length = sizeof peer;
        int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
        if (fd >= 0) return {FileDescriptor(fd), describe(peer)};
        if (errno == EINTR || is_error_of_one_client(errno)) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
        throw_errno("accept");
    }
}

FileDescriptor connect_tcp(const std::string& host, std::uint16_t port) {
    sockaddr_in address = make_address(host, port);
    FileDescriptor fd = new_tcp_socket();
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        int error = errno;
        if (error == EINTR) error = wait_for_interrupted_connect(fd.get());
        if (error != 0) throw_system_error(error, "connect " + describe(address));
    }
    return fd;
}

long read_some(int fd, char* buffer, std::size_t capacity) {
    while (true) {
        ssize_t n = ::recv(fd, buffer, capacity, 0);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return kWouldBlock;
        throw_errno("read");
    }
}

std::size_t write_some(int fd, std::string_view data) {
    while (true) {
        // MSG_NOSIGNAL: a peer that closed gives us EPIPE, not a SIGPIPE
        // that would end the whole server.
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        throw_errno("write");
    }
}

void write_all(int fd, std::string_view data) {
    // send() may take fewer bytes than offered, a "partial write": a signal
    // came after some bytes went, a send timeout (SO_SNDTIMEO) expired, or a
    // non-blocking socket's buffer filled up. The rest must be offered again.
    while (!data.empty()) {
        std::size_t written = write_some(fd, data);
        data.remove_prefix(written);
    }
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL, 0);
    if (flags < 0) throw_errno("fcntl F_GETFL");
    if (::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl F_SETFL");
}

void ignore_sigpipe() {
    ::signal(SIGPIPE, SIG_IGN);
}

std::size_t raise_open_file_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) < 0) throw_errno("getrlimit RLIMIT_NOFILE");
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &limit) < 0) throw_errno("setrlimit RLIMIT_NOFILE");
    }
    return static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace course
