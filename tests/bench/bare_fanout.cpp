// bare_fanout: the floor of the broadcast fan-out benchmark
// (tests/bench/fanout_bench.py, `make bench-fanout`).
//
//   build/bin/bare_fanout --port=0 [--address=127.0.0.1]
//
// What one message to 10,000 waiters costs when the server does nothing of
// its own: one thread, epoll, and for the broadcast one send() per waiter
// of a message made once. It speaks just enough of the demo app's chat
// (final/examples/demo_app/README.md) for fanout_load:
//
//   GET /chat/ws          the WebSocket handshake; then any bytes from a
//                         client (fanout_load's message frame) are taken
//                         as a message, and one text frame goes to every
//                         open WebSocket;
//   POST /chat/updates    parked until the next message (a long poll);
//   POST /chat/new        a message: every parked poll is answered, then
//                         the poster, with the message's id.
//
// No JSON, no headers looked at but the two it needs, no message history:
// what it leaves out is what the demo app's own work costs above it.
// Prints "Listening on http://ADDRESS:PORT/" once it accepts (the line the
// benchmark waits for); SIGTERM or SIGINT stop it. Other --options are
// ignored (the benchmark passes the demo app's).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "load_tools.h"
#include "option_value.h"

namespace {

using namespace load_tools;

enum class Kind { http, websocket, parked };

struct Connection {
    int fd = -1;
    Kind kind = Kind::http;
    std::string in;
};

[[noreturn]] void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

// The whole request at the start of `data` (head and Content-Length body),
// or 0 while it has not all come.
std::size_t request_size(std::string_view data) {
    std::size_t head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos) return 0;
    std::string length(header_value(data.substr(0, head_end + 2), "Content-Length"));
    std::size_t total = head_end + 4 + static_cast<std::size_t>(std::atol(length.c_str()));
    return data.size() >= total ? total : 0;
}

std::string json_response(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A server's text frame: not masked, a payload under 126 bytes.
std::string text_frame(const std::string& payload) {
    std::string frame;
    frame += static_cast<char>(0x81);
    frame += static_cast<char>(payload.size());
    return frame + payload;
}

class FanOutServer {
public:
    FanOutServer(const std::string& address, int port) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (listener_ < 0) die("socket");
        int on = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        sockaddr_in where{};
        where.sin_family = AF_INET;
        where.sin_port = htons(static_cast<std::uint16_t>(port));
        if (::inet_pton(AF_INET, address.c_str(), &where.sin_addr) != 1) die("inet_pton");
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&where), sizeof where) != 0) die("bind");
        if (::listen(listener_, 4096) != 0) die("listen");
        socklen_t size = sizeof where;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&where), &size);
        epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
        watch(listener_);
        std::printf("Listening on http://%s:%u/\n", address.c_str(), ntohs(where.sin_port));
        std::fflush(stdout);
    }

    void run() {
        std::vector<epoll_event> events(1024);
        while (stop_requested == 0) {
            int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 200);
            for (int i = 0; i < n; ++i) {
                int fd = events[static_cast<std::size_t>(i)].data.fd;
                if (fd == listener_) {
                    accept_all();
                } else {
                    on_readable(fd);
                }
            }
        }
    }

private:
    void watch(int fd) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
    }

    void accept_all() {
        for (;;) {
            int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            int on = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            if (static_cast<std::size_t>(fd) >= connections_.size()) connections_.resize(fd + 1);
            connections_[static_cast<std::size_t>(fd)] = Connection{fd, Kind::http, {}};
            watch(fd);
        }
    }

    void on_readable(int fd) {
        Connection& connection = connections_[static_cast<std::size_t>(fd)];
        char buffer[16384];
        for (;;) {
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n > 0) {
                connection.in.append(buffer, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                drop(connection);
                return;
            }
            if (errno == EAGAIN) break;
        }
        if (connection.kind == Kind::websocket) {
            connection.in.clear();  // fanout_load's message frame: its text is not needed
            broadcast_frame();
            return;
        }
        while (std::size_t size = request_size(connection.in)) {
            std::string request = connection.in.substr(0, size);
            connection.in.erase(0, size);
            serve(connection, request);
        }
    }

    void serve(Connection& connection, std::string_view request) {
        if (request.starts_with("GET /chat/ws ")) {
            std::string key(header_value(request, "Sec-WebSocket-Key"));
            send_all(connection.fd,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                         expected_accept(key) + "\r\n\r\n");
            connection.kind = Kind::websocket;
        } else if (request.starts_with("POST /chat/updates ")) {
            connection.kind = Kind::parked;
        } else if (request.starts_with("POST /chat/new ")) {
            std::string id = std::to_string(++last_id_);
            std::string message = "{\"id\": \"" + id + "\", \"body\": \"fan-out\"}";
            std::string answer = json_response("{\"messages\": [" + message + "]}");
            for (Connection& waiter : connections_) {
                if (waiter.kind != Kind::parked) continue;
                waiter.kind = Kind::http;
                send_all(waiter.fd, answer);
            }
            send_all(connection.fd, json_response(message));
        } else {
            send_all(connection.fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }

    void broadcast_frame() {
        std::string frame = text_frame("{\"id\": \"" + std::to_string(++last_id_) +
                                       "\", \"body\": \"fan-out\"}");
        for (Connection& client : connections_) {
            if (client.kind == Kind::websocket) send_all(client.fd, frame);
        }
    }

    // Small answers to sockets with room: one send() takes them whole.
    static void send_all(int fd, std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                return;  // a full or broken socket: this floor does not wait
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    void drop(Connection& connection) {
        ::close(connection.fd);
        connection = Connection{};
    }

    int listener_ = -1;
    int epoll_ = -1;
    std::vector<Connection> connections_;  // by descriptor
    long last_id_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    std::string address = "127.0.0.1";
    int port = 8888;
    for (int i = 1; i < argc; ++i) {
        std::string value;
        std::string_view argument = argv[i];
        if (bench::option_value(argument, "port", value)) {
            port = std::atoi(value.c_str());
        } else if (bench::option_value(argument, "address", value)) {
            address = value;
        }
    }
    install_signal_handlers();
    raise_descriptor_limit(65536);
    FanOutServer(address, port).run();
    return 0;
}
