// socket.cpp: see socket.h for what each function promises.
//
// EXERCISE (chapter 01): the functions of tasks 1 and 2 are cut out below,
// each marked TODO(task N); exercises/01-blocking-server/README.md describes
// the tasks. A cut function throws std::logic_error until you write it. The
// lines `(void)name;` only keep the compiler quiet about unused parameters:
// delete them as you write the body.
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
[[maybe_unused]] bool is_error_of_one_client(int error) {  // for task 2
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
    // TODO(task 2): return a socket listening on host:port with `backlog`
    // (port 0: the kernel picks a free port). Rule: a restarted server must
    // bind its port at once, even while old connections to it linger in
    // TIME_WAIT. Every failure throws std::system_error naming the call, and
    // bind's also names the address: "bind 127.0.0.1:8888: Address already in
    // use". Helpers above: make_address(), new_tcp_socket(), describe().
    // Hint: make hint CH=01 TASK=2.
    (void)host;
    (void)port;
    (void)backlog;
    throw std::logic_error("TODO(task 2): listen_tcp");
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
    // TODO(task 2): one connection, owned, with its peer's address as text
    // (describe()), close-on-exec like every socket here. A signal (EINTR) or
    // an error of that one client (is_error_of_one_client) is not a failure:
    // take the next connection. A non-blocking listener with nobody waiting
    // gives an invalid fd. Anything else throws, naming "accept".
    (void)listen_fd;
    throw std::logic_error("TODO(task 2): accept_connection");
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
    // TODO(task 1): one send() of `data` (contract in socket.h): the number of
    // bytes the kernel took, maybe fewer than offered, or 0 when it took none
    // (EAGAIN: a full non-blocking socket, an expired send timeout). A signal
    // before any byte went is not an error. A closed peer must throw (EPIPE),
    // never raise SIGPIPE; other errors throw std::system_error naming "write".
    // Hint: make hint CH=01 TASK=1.
    (void)fd;
    (void)data;
    throw std::logic_error("TODO(task 1): write_some");
}

void write_all(int fd, std::string_view data) {
    // TODO(task 1): return only once the kernel has taken every byte of
    // `data`, or throw. A write_some() may take only part of it, or nothing
    // (0: no room yet, which is neither "done" nor "broken").
    (void)fd;
    (void)data;
    throw std::logic_error("TODO(task 1): write_all");
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
