// fuzz_h2_connection.cpp: a libFuzzer target for chapter 10's server: the
// frames a client sends after the connection preface, read by a real
// HTTP2Server over a loopback connection.
//
//   make fuzz FUZZ_TARGETS=fuzz_h2_connection FUZZ_SECONDS=60     (clang, libFuzzer)
//   build/bin/fuzz_h2_connection_replay tests/10-http2/fuzz_corpus   (any compiler; CTest runs it)
//
// The input follows the preface the harness sends first (so that no run
// is spent on a wrong preface); then the client half-closes and reads
// until the server closes. The seeds in fuzz_corpus/ (seed-*) are real
// clients' frames: a GET, a POST with a body, settings, pings, a reset.
// What the server promises, checked on every input:
//
// * it never crashes (ASan, UBSan), hangs (a deadline per input), or keeps
//   the connection after the client is done;
// * what it writes is whole frames, its SETTINGS first;
// * no error it sends is INTERNAL_ERROR: bad frames are the client's
//   fault (PROTOCOL_ERROR, FRAME_SIZE_ERROR, ...), an exception of ours
//   escaping is the server's, like HTTP/1's 500.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "http2server.h"
#include "ioloop.h"

namespace {

using namespace std::chrono_literals;

// A broken promise: said, then abort(), so that libFuzzer keeps the input.
void check(bool condition, const char* promise) {
    if (condition) return;
    std::fprintf(stderr, "fuzz_h2_connection: broken promise: %s\n", promise);
    std::abort();
}

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t kSettings = 4, kRstStream = 3, kGoaway = 7;
constexpr std::uint32_t kInternalError = 2;
constexpr auto kDeadline = 5s;

// Answers at once: a hello, the body back, or a body larger than the
// windows, so that flow control runs.
void routes(std::shared_ptr<course::HTTPServerRequest> request) {
    if (request->path == "/echo") return request->reply(200, request->body);
    if (request->path == "/big") return request->reply(200, std::string(100000, 'x'));
    request->reply(200, "Hello, world");
}

// One server on a loop thread for the whole run: a loop and a listener
// per input would cost more than the input.
struct Server {
    course::IOLoop loop;
    std::unique_ptr<course::HTTP2Server> server;
    std::thread thread;

    Server() {
        server = std::make_unique<course::HTTP2Server>(routes, loop);
        server->listen(0);
        thread = std::thread([this] { loop.start(); });
    }

    std::size_t connections() {
        std::promise<std::size_t> count;
        loop.add_callback([&] { count.set_value(server->connections()); });
        return count.get_future().get();
    }
};

std::uint32_t u32_at(std::string_view bytes, std::size_t at) {
    auto byte = [&](std::size_t i) { return std::uint32_t{static_cast<std::uint8_t>(bytes[at + i])}; };
    return (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
}

// Sends the preface and `data`, half-closes, and returns what the server
// says until it closes, reading while writing (the server may answer, and
// fill its buffers, before it has read everything). `reset` says whether
// the connection ended with a reset: the server closed with bytes of ours
// unread, and what it said last may be lost.
std::string exchange(std::uint16_t port, std::string_view data, bool& reset) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    check(fd >= 0, "a socket");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    if (connected != 0 && errno == EINTR) {
        // libFuzzer's timer signal came: the connection goes on being made.
        pollfd writable{fd, POLLOUT, 0};
        while (::poll(&writable, 1, -1) < 0) {}
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
        connected = error == 0 ? 0 : -1;
        errno = error;
    }
    if (connected != 0) {
        std::fprintf(stderr, "connect: %s\n", std::strerror(errno));
        check(false, "the server accepts connections");
    }
    std::string out(kPreface);
    out.append(data);
    std::size_t sent = 0;
    bool write_open = true;
    std::string answer;
    reset = false;
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (true) {
        check(std::chrono::steady_clock::now() < deadline, "the server closes, within 5 s");
        pollfd watch{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
        if (::poll(&watch, 1, 100) <= 0) continue;
        if (write_open && (watch.revents & POLLOUT)) {
            ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) sent += static_cast<std::size_t>(n);
            if (n < 0 && errno != EAGAIN) write_open = false;  // the server closed first
            if (sent == out.size()) {
                ::shutdown(fd, SHUT_WR);
                write_open = false;
            }
        }
        if (watch.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buffer[65536];
            ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0) {
                answer.append(buffer, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EAGAIN) continue;
            reset = n < 0;
            break;
        }
    }
    // The client's FIN went first (its half-close), so a plain close would
    // leave its end in TIME_WAIT for a minute, and a thousand runs a second
    // would use up the loopback's ports. Both sides are done: an abortive
    // close (a reset) frees the port at once.
    linger abortive{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    ::close(fd);
    return answer;
}

// Whole frames, SETTINGS first, and no INTERNAL_ERROR.
void check_frames(std::string_view answer, bool reset) {
    bool first = true;
    while (answer.size() >= 9) {
        std::size_t length = (std::size_t{static_cast<std::uint8_t>(answer[0])} << 16) |
                             (std::size_t{static_cast<std::uint8_t>(answer[1])} << 8) |
                             std::size_t{static_cast<std::uint8_t>(answer[2])};
        auto type = static_cast<std::uint8_t>(answer[3]);
        if (answer.size() < 9 + length) break;
        std::string_view payload = answer.substr(9, length);
        if (first) check(type == kSettings && (answer[4] & 1) == 0, "its SETTINGS come first");
        if (type == kGoaway) {
            check(payload.size() >= 8 && u32_at(payload, 4) != kInternalError,
                  "no GOAWAY INTERNAL_ERROR");
        }
        if (type == kRstStream) {
            check(payload.size() == 4 && u32_at(payload, 0) != kInternalError,
                  "no RST_STREAM INTERNAL_ERROR");
        }
        answer.remove_prefix(9 + length);
        first = false;
    }
    check(answer.empty() || reset, "whole frames (a frame is cut short only by a reset)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    static Server* server = new Server();  // never destroyed: the process ends with the run
    static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
    std::string_view data(reinterpret_cast<const char*>(bytes), size);
    bool reset = false;
    std::string answer = exchange(server->server->port(), data, reset);
    if (verbose) std::fprintf(stderr, "%zu bytes back%s\n", answer.size(), reset ? ", then a reset" : "");
    check_frames(answer, reset);
    // The socket is closed: the connection must be gone from the server
    // too, within a moment (it leaves the table as its coroutine ends).
    auto deadline = std::chrono::steady_clock::now() + 1s;
    while (server->connections() != 0) {
        check(std::chrono::steady_clock::now() < deadline, "the connection leaves the server");
        std::this_thread::sleep_for(1ms);
    }
    return 0;
}
