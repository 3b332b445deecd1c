// beast_ws_echo: a WebSocket echo server written with Boost.Beast, the C++
// yardstick of the "websocket" scenario of `make bench`.
//
//   build/bin/beast_ws_echo [--port=8888] [--address=127.0.0.1] [--processes=1]
//                           [--reuse_port]
//
// It upgrades a request on any path (the benchmark uses /ws/echo) and sends
// every message back, text as text and binary as binary. Like every server
// of the course it prints "Listening on http://ADDRESS:PORT/" once it
// accepts (--port=0 picks a free port), and exits 0 on SIGTERM or SIGINT.
//
// The usual Beast way, nothing more: ONE thread running one io_context, an
// asynchronous accept loop, and per connection a websocket::stream over a
// plain TCP socket with a flat_buffer, doing async_read then async_write
// for ever. No timeouts, no compression (permessage-deflate is off unless
// asked for), as the other servers of the scenario. Boost is header-only
// here (Debian's libboost-dev 1.74); CMake builds this file only when it
// finds Boost.
//
// --processes=N forks N workers after listen(), each running its own
// io_context on the shared listening socket (Asio's notify_fork), as
// Tornado's server.start(n) and the course's --processes: how
// `c100k.py --websocket` holds 100,000 connections where one process may
// have 20,000 descriptors. The parent only waits, and passes SIGTERM or
// SIGINT on to its workers. With --reuse_port (and a --port other than 0)
// the workers are forked first and each listens on a socket of its own
// (SO_REUSEPORT), as the course's servers' --reuse_port; the first worker
// prints the ready line.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "option_value.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

// Python Tornado listens with 128 by default and nginx with 511; the course's
// servers use 4096, and so do the yardsticks of `make bench`, so that 1,000
// connections opened at once never overflow the queue.
constexpr int kBacklog = 4096;

// One WebSocket connection. It owns itself through the shared_ptr that each
// pending operation's handler holds: when a read or write fails (the peer
// closed), no handler holds it any more and it is freed.
class EchoSession : public std::enable_shared_from_this<EchoSession> {
public:
    explicit EchoSession(tcp::socket socket) : ws_(std::move(socket)) {}

    void start() {
        // Reads the HTTP upgrade request and answers 101 Switching Protocols.
        ws_.async_accept([self = shared_from_this()](beast::error_code error) {
            if (!error) {
                self->read_next();
            }
        });
    }

private:
    void read_next() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code error, std::size_t) {
            if (!error) {  // error::closed after a close frame, or the socket's error
                self->echo();
            }
        });
    }

    void echo() {
        ws_.text(ws_.got_text());  // answer in the kind of message we got
        ws_.async_write(buffer_.data(), [self = shared_from_this()](beast::error_code error,
                                                                    std::size_t) {
            if (!error) {
                // consume() keeps the buffer's memory for the next message.
                self->buffer_.consume(self->buffer_.size());
                self->read_next();
            }
        });
    }

    websocket::stream<tcp::socket> ws_;
    beast::flat_buffer buffer_;
};

// Accepts connections for ever, one EchoSession each.
class Listener {
public:
    Listener(asio::io_context& context, const tcp::endpoint& endpoint, bool reuse_port)
        : acceptor_(context) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        if (reuse_port) {
            acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
        }
        acceptor_.bind(endpoint);
        acceptor_.listen(kBacklog);
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }

    void accept_next() {
        acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
            if (!error) {
                std::make_shared<EchoSession>(std::move(socket))->start();
            }
            // A failed accept (out of descriptors, say) must not stop the server.
            accept_next();
        });
    }

private:
    tcp::acceptor acceptor_;
};

struct Options {
    unsigned short port = 8888;
    std::string address = "127.0.0.1";
    int processes = 1;
    bool reuse_port = false;
};

using bench::option_value;

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string value;
        if (option_value(argv[i], "port", value)) {
            options.port = static_cast<unsigned short>(std::atoi(value.c_str()));
        } else if (option_value(argv[i], "address", value)) {
            options.address = value;
        } else if (option_value(argv[i], "processes", value) && std::atoi(value.c_str()) >= 1) {
            options.processes = std::atoi(value.c_str());
        } else if (argv[i] == std::string_view("--reuse_port") ||
                   argv[i] == std::string_view("--reuse-port")) {
            options.reuse_port = true;
        } else {
            std::fprintf(stderr,
                         "usage: %s [--port=N] [--address=A] [--processes=N>=1] [--reuse_port]\n",
                         argv[0]);
            std::exit(2);
        }
    }
    if (options.reuse_port && options.port == 0) {
        std::fprintf(stderr, "%s: --reuse_port needs a --port other than 0\n", argv[0]);
        std::exit(2);
    }
    return options;
}

// Forks `processes` workers: the worker's number (0, 1, ...) in each of
// them (go on and serve), -1 in the parent once they have all exited,
// which it waits for. The signals that stop a worker are blocked here
// until the fork, so that one arriving meanwhile waits for sigwait()
// instead of killing the parent.
int supervise_workers(asio::io_context& context, int processes) {
    sigset_t watched;
    sigemptyset(&watched);
    for (int signal_number : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&watched, signal_number);
    sigprocmask(SIG_BLOCK, &watched, nullptr);
    std::vector<pid_t> workers;
    for (int i = 0; i < processes; ++i) {
        context.notify_fork(asio::execution_context::fork_prepare);
        pid_t pid = fork();
        if (pid == 0) {
            context.notify_fork(asio::execution_context::fork_child);
            sigprocmask(SIG_UNBLOCK, &watched, nullptr);
            return i;
        }
        context.notify_fork(asio::execution_context::fork_parent);
        if (pid > 0) {
            workers.push_back(pid);
        } else {
            std::perror("beast_ws_echo: fork");  // serve with the workers there are
        }
    }
    int running = static_cast<int>(workers.size());
    while (running > 0) {
        int signal_number = 0;
        sigwait(&watched, &signal_number);
        if (signal_number != SIGCHLD) {
            for (pid_t worker : workers) kill(worker, SIGTERM);
        }
        while (running > 0 && waitpid(-1, nullptr, WNOHANG) > 0) --running;
    }
    return -1;
}

void print_listening(const std::string& address, unsigned short port) {
    std::printf("Listening on http://%s:%u/\n", address.c_str(), unsigned{port});
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    // Concurrency hint 1: one thread runs the loop, so Asio may skip locks.
    asio::io_context context{1};
    tcp::endpoint endpoint(asio::ip::make_address(options.address), options.port);
    // One socket shared by the workers is made before the fork; with
    // --reuse_port each worker makes its own after it.
    std::optional<Listener> listener;
    if (!options.reuse_port) {
        listener.emplace(context, endpoint, false);
        print_listening(options.address, listener->port());
    }
    int worker = options.processes > 1 ? supervise_workers(context, options.processes) : 0;
    if (worker < 0) {
        return 0;  // the parent, its workers gone
    }
    if (options.reuse_port) {
        listener.emplace(context, endpoint, true);
        if (worker == 0) {
            print_listening(options.address, listener->port());
        }
    }
    listener->accept_next();

    // SIGTERM or SIGINT stops the loop; run() then returns and we exit 0.
    asio::signal_set signals(context, SIGTERM, SIGINT);
    signals.async_wait([&context](beast::error_code, int) { context.stop(); });
    context.run();
    return 0;
}
