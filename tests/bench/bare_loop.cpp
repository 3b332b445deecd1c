// bare_loop.cpp: the floor under every HTTP server in `make bench`.
//
// A server that does the least an event loop can do for a keep-alive
// "Hello, world": each time bytes arrive on a connection, it sends the same
// canned response, without reading what they say. No parser, no handler, no
// allocation, no Future. What it costs per request is almost all the
// kernel's (TCP, the system calls, waking up), so a real server's CPU per
// request, divided by this one's, says how much of its own work is left to
// cut (docs/reference/ioloop.md, "Readiness and completion").
//
//   bare_loop --backend=epoll      readiness: epoll_wait, then one recv()
//                                  and one send() per request;
//   bare_loop --backend=io_uring   completion: a multishot accept and, per
//                                  connection, a multishot recv into buffers
//                                  the kernel takes from a ring we refill;
//                                  the sends are queued and the turn's
//                                  requests all go in with the one
//                                  io_uring_enter that also waits.
//
// It trusts its client (wrk sends one request and waits for the answer), and
// prints "Listening on http://ADDRESS:PORT/" like the course's servers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#if __has_include(<liburing.h>)
#include <liburing.h>
#define BARE_LOOP_HAS_IO_URING 1
#endif

namespace {

// The same length and shape as final_hello's answer, give or take a header.
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: bare_loop\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Date: Mon, 23 Nov 2026 12:00:00 GMT\r\n"
    "Content-Length: 12\r\n"
    "\r\n"
    "Hello, world";

constexpr int kBacklog = 4096;

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "bare_loop: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

int listen_on(const std::string& address, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in where{};
    where.sin_family = AF_INET;
    where.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, address.c_str(), &where.sin_addr) != 1) {
        std::fprintf(stderr, "bare_loop: bad address %s\n", address.c_str());
        std::exit(2);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) < 0) die("bind");
    if (::listen(fd, kBacklog) < 0) die("listen");
    socklen_t length = sizeof where;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &length);
    std::printf("Listening on http://%s:%d/\n", address.c_str(), ntohs(where.sin_port));
    std::fflush(stdout);
    return fd;
}

// As the framework's HTTP connections do (IOStream::set_nodelay).
void set_nodelay(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// --- epoll -------------------------------------------------------------------------

void run_epoll(int listener) {
    int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) die("epoll_create1");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event) < 0) die("epoll_ctl");
    epoll_event ready[1024];
    char buffer[4096];
    while (!g_stop) {
        int count = ::epoll_wait(epoll_fd, ready, 1024, -1);
        for (int i = 0; i < count; ++i) {
            int fd = ready[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    int client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client < 0) break;
                    set_nodelay(client);
                    epoll_event watch{};
                    watch.events = EPOLLIN;  // level-triggered: one recv per request is enough
                    watch.data.fd = client;
                    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, client, &watch);
                }
                continue;
            }
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n > 0) {
                ::send(fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL);
            } else if (n == 0 || errno != EAGAIN) {
                ::close(fd);  // closing also leaves the epoll set
            }
        }
    }
}

// --- io_uring ----------------------------------------------------------------------

#ifdef BARE_LOOP_HAS_IO_URING

// What a completion is for: the kind in the top byte of user_data, the
// descriptor below.
enum Kind : std::uint64_t { kAccept = 1, kRecv = 2, kSend = 3, kClose = 4 };
std::uint64_t tag(Kind kind, int fd) {
    return (static_cast<std::uint64_t>(kind) << 56) | static_cast<std::uint32_t>(fd);
}

// Buffers the kernel picks from for each recv (IOSQE_BUFFER_SELECT); one is
// given back as soon as its bytes are looked at.
constexpr unsigned kBuffers = 4096;  // a power of two
constexpr unsigned kBufferSize = 2048;
constexpr int kBufferGroup = 0;

class Uring {
public:
    Uring() {
        io_uring_params params{};
        // One thread submits, and the kernel's share of each completion runs
        // when that thread asks for completions, not at an interrupt.
        params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
                       IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
        params.cq_entries = 16384;
        int error = io_uring_queue_init_params(4096, &ring_, &params);
        if (error < 0) {
            errno = -error;
            die("io_uring_queue_init_params");
        }
        setup_buffers();
    }

    io_uring_sqe* sqe() {
        io_uring_sqe* next = io_uring_get_sqe(&ring_);
        if (next == nullptr) {
            io_uring_submit(&ring_);
            next = io_uring_get_sqe(&ring_);
        }
        return next;
    }

    void accept(int listener) {
        io_uring_sqe* next = sqe();
        io_uring_prep_multishot_accept(next, listener, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(next, tag(kAccept, listener));
    }

    void receive(int fd) {
        io_uring_sqe* next = sqe();
        io_uring_prep_recv_multishot(next, fd, nullptr, 0, 0);
        next->flags |= IOSQE_BUFFER_SELECT;
        next->buf_group = kBufferGroup;
        io_uring_sqe_set_data64(next, tag(kRecv, fd));
    }

    void send(int fd) {
        io_uring_sqe* next = sqe();
        io_uring_prep_send(next, fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(next, tag(kSend, fd));
    }

    void close(int fd) {
        io_uring_sqe* next = sqe();
        io_uring_prep_close(next, fd);
        io_uring_sqe_set_data64(next, tag(kClose, fd));
    }

    void give_back(unsigned id) {
        io_uring_buf_ring_add(buffer_ring_, buffers_ + static_cast<std::size_t>(id) * kBufferSize,
                              kBufferSize, static_cast<unsigned short>(id),
                              io_uring_buf_ring_mask(kBuffers), 0);
        io_uring_buf_ring_advance(buffer_ring_, 1);
    }

    void run(int listener) {
        accept(listener);
        while (!g_stop) {
            int error = io_uring_submit_and_wait(&ring_, 1);
            if (error < 0 && error != -EINTR && error != -ETIME) {
                errno = -error;
                die("io_uring_submit_and_wait");
            }
            unsigned head;
            unsigned seen = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                complete(listener, cqe);
            }
            io_uring_cq_advance(&ring_, seen);
        }
    }

private:
    void setup_buffers() {
        std::size_t ring_bytes = kBuffers * sizeof(io_uring_buf);
        void* memory = ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE,
                              MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (memory == MAP_FAILED) die("mmap");
        buffer_ring_ = static_cast<io_uring_buf_ring*>(memory);
        io_uring_buf_ring_init(buffer_ring_);
        io_uring_buf_reg registration{};
        registration.ring_addr = reinterpret_cast<std::uint64_t>(buffer_ring_);
        registration.ring_entries = kBuffers;
        registration.bgid = kBufferGroup;
        int error = io_uring_register_buf_ring(&ring_, &registration, 0);
        if (error < 0) {
            errno = -error;
            die("io_uring_register_buf_ring");
        }
        buffers_ = static_cast<char*>(std::malloc(std::size_t{kBuffers} * kBufferSize));
        for (unsigned id = 0; id < kBuffers; ++id) give_back(id);
    }

    void complete(int listener, const io_uring_cqe* cqe) {
        std::uint64_t data = io_uring_cqe_get_data64(cqe);
        auto kind = static_cast<Kind>(data >> 56);
        int fd = static_cast<int>(data & 0xffffffffu);
        bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
        switch (kind) {
            case kAccept:
                if (cqe->res >= 0) {
                    set_nodelay(cqe->res);
                    receive(cqe->res);
                }
                if (!more) accept(listener);
                break;
            case kRecv:
                if (cqe->res > 0) {
                    give_back(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
                    send(fd);
                    if (!more) receive(fd);
                } else if (cqe->res == -ENOBUFS) {
                    receive(fd);  // every buffer was in use: ask again
                } else {
                    close(fd);  // the end (0) or an error
                }
                break;
            case kSend:
            case kClose:
                break;  // a failed send shows up as the recv's end
        }
    }

    io_uring ring_{};
    io_uring_buf_ring* buffer_ring_ = nullptr;
    char* buffers_ = nullptr;
};

#endif

}  // namespace

int main(int argc, char** argv) {
    std::string backend = "epoll";
    std::string address = "127.0.0.1";
    int port = 8888;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        if (argument.starts_with("--backend=")) {
            backend = argument.substr(10);
        } else if (argument.starts_with("--address=")) {
            address = argument.substr(10);
        } else if (argument.starts_with("--port=")) {
            port = std::atoi(argv[i] + 7);
        } else {
            std::fprintf(stderr, "usage: bare_loop [--backend=epoll|io_uring] [--address=A] [--port=P]\n");
            return 2;
        }
    }
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGPIPE, SIG_IGN);
    int listener = listen_on(address, port);
    if (backend == "epoll") {
        run_epoll(listener);
    } else if (backend == "io_uring") {
#ifdef BARE_LOOP_HAS_IO_URING
        Uring().run(listener);
#else
        std::fprintf(stderr, "bare_loop: built without liburing\n");
        return 1;
#endif
    } else {
        std::fprintf(stderr, "bare_loop: unknown backend %s (epoll or io_uring)\n", backend.c_str());
        return 2;
    }
    return 0;
}
