// ws_load: the WebSocket load generator of the "websocket" scenario of
// `make bench` (what wrk is to the HTTP scenarios).
//
//   build/bin/ws_load --port=8888 --connections=100 --duration=3           # echo mode
//   build/bin/ws_load --port=8888 --connections=10000 --mode=idle          # idle mode
//
// One thread, epoll, non-blocking sockets. It opens N connections to
// ws://HOST:PORT/PATH (at most --in-flight of them being opened at once, so
// that the server's listen queue never overflows) and checks each server's
// answer to the RFC 6455 handshake: status 101 and the right
// Sec-WebSocket-Accept. Then:
//
//   echo mode: each connection sends a --message-bytes masked text message,
//     waits for its echo, checks it, and sends the next (a closed loop), for
//     --duration seconds; then it waits for the echoes still on their way
//     ("drained"). Messages per second, latency percentiles, errors, and
//     ws_load's own CPU time over those seconds (and the time it was ready
//     to run but its core ran other work): what is left of the run it spent
//     waiting for the server's echoes, so the server set the pace.
//   idle mode: the connections stay open and silent, so that the harness can
//     read the server's memory with N idle WebSocket connections.
//
// Output (stdout, each line flushed as it is written, for run_bench.py):
//
//   OPEN connections=N failed=F seconds=S           every handshake done (or failed)
//   BENCH messages=M drained=D duration_us=... ...  echo mode, once the last echo is in
//
// then a readable summary. In idle mode, and in echo mode with --hold, it
// then keeps the connections open until stdin closes or SIGTERM / SIGINT
// arrives: the harness reads the server's CPU time or memory meanwhile,
// before closing them costs the server anything.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "load_tools.h"
#include "option_value.h"

namespace {

using namespace load_tools;

// --- the command line -------------------------------------------------------

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string path = "/ws/echo";
    std::string mode = "echo";  // "echo" or "idle"
    int connections = 100;
    double duration_seconds = 3.0;
    std::size_t message_bytes = 32;
    int in_flight = 200;           // connections being opened at once
    double open_timeout_seconds = 60.0;
    bool hold = false;             // echo mode: keep the connections until told to stop
};

[[noreturn]] void usage(const char* program, int exit_code) {
    std::fprintf(exit_code == 0 ? stdout : stderr,
                 "usage: %s --port=N [--host=127.0.0.1] [--path=/ws/echo] [--mode=echo|idle]\n"
                 "          [--connections=100] [--duration=3] [--message-bytes=32]\n"
                 "          [--in-flight=200] [--open-timeout=60] [--hold]\n",
                 program);
    std::exit(exit_code);
}

using bench::option_value;

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        std::string value;
        if (argument == "--help") {
            usage(argv[0], 0);
        } else if (argument == "--hold") {
            options.hold = true;
        } else if (option_value(argument, "host", value)) {
            options.host = value;
        } else if (option_value(argument, "port", value)) {
            options.port = std::atoi(value.c_str());
        } else if (option_value(argument, "path", value)) {
            options.path = value;
        } else if (option_value(argument, "mode", value)) {
            options.mode = value;
        } else if (option_value(argument, "connections", value)) {
            options.connections = std::atoi(value.c_str());
        } else if (option_value(argument, "duration", value)) {
            options.duration_seconds = std::atof(value.c_str());
        } else if (option_value(argument, "message-bytes", value)) {
            options.message_bytes = static_cast<std::size_t>(std::atol(value.c_str()));
        } else if (option_value(argument, "in-flight", value)) {
            options.in_flight = std::atoi(value.c_str());
        } else if (option_value(argument, "open-timeout", value)) {
            options.open_timeout_seconds = std::atof(value.c_str());
        } else {
            usage(argv[0], 2);
        }
    }
    bool valid_mode = options.mode == "echo" || options.mode == "idle";
    if (options.port <= 0 || options.connections < 1 || options.in_flight < 1 || !valid_mode ||
        options.duration_seconds <= 0) {
        usage(argv[0], 2);
    }
    return options;
}

// --- the load generator -------------------------------------------------------

enum class State { Connecting, Handshaking, Open, Closed };

struct Connection {
    int fd = -1;
    State state = State::Connecting;
    std::string accept;             // the Sec-WebSocket-Accept we expect
    std::string in;                 // received, not parsed yet
    std::string out;                // to send, not accepted by the kernel yet
    std::string fragments;          // a message that came in several frames
    int fragments_opcode = 0;
    bool waiting_for_echo = false;
    Clock::time_point sent_at;
    std::uint32_t watched = 0;      // the epoll events asked for now
};

struct Counts {
    int open = 0;               // connections open now
    int connect_errors = 0;     // connect() failed, or the connection was not set up in time
    int handshake_errors = 0;   // the server did not answer 101 with the right accept key
    int closed = 0;             // closed by the server (or reset) after the handshake
    int bad_echoes = 0;         // an answer that was not our message, or a protocol error
    std::int64_t messages = 0;  // echoes received during the run
    std::int64_t drained = 0;   // echoes received after it, of messages sent during it
};

// epoll's tag for standard input (a connection's tag is its index).
constexpr std::uint64_t kStdinTag = ~std::uint64_t{0};

class LoadGenerator {
public:
    explicit LoadGenerator(const Options& options)
        : options_(options), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
        for (std::size_t i = 0; i < options.message_bytes; ++i) {
            message_.push_back(static_cast<char>('a' + i % 26));
        }
        connections_.resize(static_cast<std::size_t>(options.connections));
        watch_stdin();
    }

    ~LoadGenerator() {
        for (Connection& connection : connections_) {
            if (connection.fd >= 0) close(connection.fd);
        }
        close(epoll_fd_);
    }

    int run() {
        open_all();
        if (options_.mode == "echo" && counts_.open > 0 && !stopping()) {
            run_echo();
        }
        if (options_.mode == "idle" || options_.hold) {
            std::printf("Holding the connections until stdin closes or SIGTERM.\n");
            std::fflush(stdout);
            while (!stopping()) poll_once(100);
        }
        return counts_.open > 0 ? 0 : 1;
    }

private:
    // --- phase 1: open every connection, at most in_flight at a time ---------

    void open_all() {
        Clock::time_point start = Clock::now();
        Clock::time_point deadline =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(options_.open_timeout_seconds));
        std::size_t next = 0;
        while (!stopping() && Clock::now() < deadline) {
            while (next < connections_.size() && opening_ < options_.in_flight) {
                start_connect(connections_[next++]);
            }
            if (next == connections_.size() && opening_ == 0) {
                break;
            }
            poll_once(100);
        }
        for (Connection& connection : connections_) {  // out of time (or told to stop)
            if (connection.state == State::Connecting || connection.state == State::Handshaking) {
                fail(connection, counts_.connect_errors);
            }
        }
        counts_.connect_errors += static_cast<int>(connections_.size() - next);  // never started
        std::printf("OPEN connections=%d failed=%d seconds=%.2f\n", counts_.open,
                    options_.connections - counts_.open, seconds_since(start));
        std::fflush(stdout);
    }

    void start_connect(Connection& connection) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {  // out of descriptors, most likely
            ++counts_.connect_errors;
            connection.state = State::Closed;
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small messages, sent now
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(options_.port));
        inet_pton(AF_INET, options_.host.c_str(), &address.sin_addr);
        connection.fd = fd;
        ++opening_;
        int result = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
        if (result != 0 && errno != EINPROGRESS) {
            fail(connection, counts_.connect_errors);
            return;
        }
        // Writable means connected (or refused: SO_ERROR tells).
        watch(connection, EPOLL_CTL_ADD, EPOLLOUT);
    }

    void on_connected(Connection& connection) {
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) {
            fail(connection, counts_.connect_errors);
            return;
        }
        std::string key = handshake_key(random_);
        connection.accept = expected_accept(key);
        connection.state = State::Handshaking;
        send_bytes(connection, "GET " + options_.path + " HTTP/1.1\r\nHost: " + options_.host + ":" +
                             std::to_string(options_.port) +
                             "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: " + key +
                             "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    }

    // The head of the server's answer has arrived (or not yet: false).
    bool on_handshake_data(Connection& connection) {
        std::size_t end = connection.in.find("\r\n\r\n");
        if (end == std::string::npos) {
            return false;
        }
        std::string_view head(connection.in.data(), end + 2);
        bool switching = head.substr(0, 13) == "HTTP/1.1 101 ";
        if (!switching || header_value(head, "Sec-WebSocket-Accept") != connection.accept) {
            fail(connection, counts_.handshake_errors);
            return false;
        }
        connection.in.erase(0, end + 4);  // what follows is WebSocket frames
        connection.state = State::Open;
        --opening_;
        ++counts_.open;
        return true;
    }

    // --- phase 2 (echo mode): messages in a closed loop ---------------------

    void run_echo() {
        std::int64_t cpu_before = cpu_time_us();
        std::int64_t queued_before = waiting_for_core_us();
        Clock::time_point start = Clock::now();
        Clock::time_point deadline =
            start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(options_.duration_seconds));
        echoing_ = true;
        for (Connection& connection : connections_) {
            if (connection.state == State::Open) send_message(connection);
        }
        while (!stopping()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                break;
            }
            poll_once(static_cast<int>(std::min<std::int64_t>(left.count() + 1, 100)));
        }
        echoing_ = false;  // no new message from here on
        double seconds = seconds_since(start);
        std::int64_t cpu_us = cpu_time_us() - cpu_before;
        std::int64_t queued_us = waiting_for_core_us() - queued_before;
        drain();
        report(seconds, cpu_us, queued_us);
    }

    // Waits for the echoes of the messages already sent (one per connection
    // at most). The server has then done all the work the run asked of it,
    // and none after: the harness divides the server's CPU time up to our
    // report by every message sent, messages + drained.
    void drain() {
        Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
        while (!stopping() && echoes_awaited_ > 0 && Clock::now() < deadline) {
            poll_once(100);
        }
    }

    void send_message(Connection& connection) {
        frame_.clear();
        append_masked_frame(frame_, kOpText, message_, static_cast<std::uint32_t>(random_.next()));
        connection.waiting_for_echo = true;
        ++echoes_awaited_;
        connection.sent_at = Clock::now();
        send_bytes(connection, frame_);
    }

    void on_message(Connection& connection, int opcode, std::string_view payload) {
        if (!connection.waiting_for_echo || opcode != kOpText || payload != message_) {
            ++counts_.bad_echoes;
        }
        if (connection.waiting_for_echo) {
            connection.waiting_for_echo = false;
            --echoes_awaited_;
        }
        if (!echoing_) {  // the run is over: the echo of a message sent in time
            ++counts_.drained;
            return;
        }
        ++counts_.messages;
        latencies_ns_.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - connection.sent_at)
                .count());
        send_message(connection);
    }

    // Every whole frame in the connection's input.
    void on_frames(Connection& connection) {
        std::size_t used = 0;
        Frame frame;
        while (connection.state == State::Open &&
               parse_frame(std::string_view(connection.in).substr(used), frame)) {
            used += frame.total_size;
            on_frame(connection, frame);
        }
        if (connection.state == State::Open) {
            connection.in.erase(0, used);
        }
    }

    void on_frame(Connection& connection, const Frame& frame) {
        if (frame.masked) {
            fail(connection, counts_.bad_echoes);
        } else if (frame.opcode == kOpClose) {
            fail(connection, counts_.closed);
        } else if (frame.opcode == kOpPing) {
            frame_.clear();
            append_masked_frame(frame_, kOpPong, frame.payload, static_cast<std::uint32_t>(random_.next()));
            send_bytes(connection, frame_);
        } else if (frame.opcode == kOpText || frame.opcode == kOpBinary) {
            if (frame.fin) {
                on_message(connection, frame.opcode, frame.payload);
            } else {
                connection.fragments.assign(frame.payload);
                connection.fragments_opcode = frame.opcode;
            }
        } else if (frame.opcode == kOpContinuation) {
            connection.fragments.append(frame.payload);
            if (frame.fin) {
                std::string message = std::move(connection.fragments);
                connection.fragments.clear();
                on_message(connection, connection.fragments_opcode, message);
            }
        }  // a pong needs no answer
    }

    // cpu_us: our CPU time during the run; queued_us: the time we were ready
    // to run but our core ran something else. What is left of the run we
    // spent waiting for echoes.
    void report(double seconds, std::int64_t cpu_us, std::int64_t queued_us) {
        std::sort(latencies_ns_.begin(), latencies_ns_.end());
        auto percentile_us = [this](double p) {
            if (latencies_ns_.empty()) return 0.0;
            auto index = static_cast<std::size_t>(p / 100.0 * static_cast<double>(latencies_ns_.size() - 1));
            return static_cast<double>(latencies_ns_[index]) / 1000.0;
        };
        std::printf("BENCH messages=%lld drained=%lld duration_us=%.0f p50_us=%.1f p90_us=%.1f "
                    "p99_us=%.1f max_us=%.1f connect_errors=%d handshake_errors=%d closed=%d "
                    "bad_echoes=%d cpu_us=%lld queued_us=%lld connections=%d\n",
                    static_cast<long long>(counts_.messages),
                    static_cast<long long>(counts_.drained), seconds * 1e6, percentile_us(50),
                    percentile_us(90), percentile_us(99), percentile_us(100),
                    counts_.connect_errors, counts_.handshake_errors, counts_.closed,
                    counts_.bad_echoes, static_cast<long long>(cpu_us),
                    static_cast<long long>(queued_us), counts_.open);
        std::printf("%d connections, %.2f s: %.0f messages/s of %zu bytes, latency p50 %.0f us, "
                    "p99 %.0f us; ws_load was busy %.0f%% of the time and waited for its core "
                    "%.0f%%\n",
                    counts_.open, seconds, static_cast<double>(counts_.messages) / seconds,
                    message_.size(), percentile_us(50), percentile_us(99),
                    100.0 * static_cast<double>(cpu_us) / (seconds * 1e6),
                    100.0 * static_cast<double>(queued_us) / (seconds * 1e6));
        std::fflush(stdout);
    }

    // --- the event loop -----------------------------------------------------

    bool stopping() const { return stop_requested || stdin_closed_; }

    void poll_once(int timeout_ms) {
        epoll_event events[512];
        int ready = epoll_wait(epoll_fd_, events, 512, timeout_ms);
        for (int i = 0; i < ready; ++i) {  // ready < 0: a signal (EINTR), checked by the caller
            if (events[i].data.u64 == kStdinTag) {
                on_stdin();
            } else {
                on_event(connections_[events[i].data.u64], events[i].events);
            }
        }
    }

    void on_event(Connection& connection, std::uint32_t events) {
        if (connection.state == State::Closed) {
            return;
        }
        if (connection.state == State::Connecting) {
            on_connected(connection);
            return;
        }
        if ((events & EPOLLOUT) && !flush(connection)) {
            return;
        }
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            on_readable(connection);
        }
    }

    void on_readable(Connection& connection) {
        char buffer[65536];
        ssize_t received = recv(connection.fd, buffer, sizeof buffer, 0);
        if (received < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (received <= 0) {  // closed or reset by the server
            fail(connection, connection.state == State::Open ? counts_.closed
                                                             : counts_.handshake_errors);
            return;
        }
        connection.in.append(buffer, static_cast<std::size_t>(received));
        if (connection.state == State::Handshaking && !on_handshake_data(connection)) {
            return;
        }
        on_frames(connection);
    }

    // Queues `data` behind what is waiting and sends as much as the kernel takes.
    void send_bytes(Connection& connection, std::string_view data) {
        connection.out.append(data);
        flush(connection);
    }

    // Sends what is waiting; false when the connection failed.
    bool flush(Connection& connection) {
        while (!connection.out.empty()) {
            ssize_t sent = ::send(connection.fd, connection.out.data(), connection.out.size(),
                                  MSG_NOSIGNAL);
            if (sent < 0 && errno == EAGAIN) {
                break;
            }
            if (sent < 0) {
                fail(connection, connection.state == State::Open ? counts_.closed
                                                                 : counts_.handshake_errors);
                return false;
            }
            connection.out.erase(0, static_cast<std::size_t>(sent));
        }
        // Ask for EPOLLOUT only while something waits, or every loop turn reports it.
        watch(connection, EPOLL_CTL_MOD, connection.out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
        return true;
    }

    void watch(Connection& connection, int operation, std::uint32_t events) {
        if (operation == EPOLL_CTL_MOD && connection.watched == events) {
            return;  // one system call saved per message
        }
        epoll_event event{};
        event.events = events;
        event.data.u64 = static_cast<std::uint64_t>(&connection - connections_.data());
        epoll_ctl(epoll_fd_, operation, connection.fd, &event);
        connection.watched = events;
    }

    void fail(Connection& connection, int& counter) {
        ++counter;
        if (connection.state == State::Connecting || connection.state == State::Handshaking) {
            --opening_;
        } else if (connection.state == State::Open) {
            --counts_.open;
        }
        if (connection.waiting_for_echo) {
            connection.waiting_for_echo = false;
            --echoes_awaited_;
        }
        connection.state = State::Closed;
        close(connection.fd);  // also takes it out of epoll
        connection.fd = -1;
    }

    // Standard input closing (the harness is done, or gone) means stop.
    void watch_stdin() {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = kStdinTag;
        // Fails for /dev/null or a file (epoll cannot watch them); then only
        // a signal stops us.
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, STDIN_FILENO, &event);
    }

    void on_stdin() {
        char buffer[256];
        ssize_t size = read(STDIN_FILENO, buffer, sizeof buffer);
        if (size == 0 || (size < 0 && errno != EAGAIN && errno != EINTR)) {
            stdin_closed_ = true;
            epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, STDIN_FILENO, nullptr);
        }
    }

    const Options& options_;
    int epoll_fd_;
    std::vector<Connection> connections_;
    std::string message_;            // the payload every message carries
    std::string frame_;              // reused for every frame we build
    FastRandom random_;
    Counts counts_;
    int opening_ = 0;                // connections being connected or handshaking
    bool echoing_ = false;
    int echoes_awaited_ = 0;         // messages sent whose echo has not come back
    bool stdin_closed_ = false;
    std::vector<std::int64_t> latencies_ns_;
};

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    raise_descriptor_limit(static_cast<rlim_t>(options.connections) + 64);
    install_signal_handlers();
    LoadGenerator generator(options);
    return generator.run();
}
