// websocket echo server: every message back to its sender, text as text and
// binary as binary. The smallest WebSocketHandler there is, and the server
// `make bench` measures against Boost.Beast and Python Tornado.
//
//   build/bin/final_websocket_echo [--port=8888] [--address=127.0.0.1] [--compress]
//                                  [--processes=1] [--reuse_port]
//   build/bin/final_websocket_client ws://127.0.0.1:8888/ws/echo
//
// It prints "Listening on http://ADDRESS:PORT/" once it accepts (--port=0
// picks a free port); GET / is a page whose script talks to /ws/echo, to
// try it from a browser. --processes=N (0: one per core) forks N workers
// that accept on the same socket, as final_hello's: how
// `c100k.py --websocket` holds 100,000 WebSocket connections where one
// process may have 20,000 descriptors. --reuse_port, as final_hello's:
// fork first, then each worker listens on a socket of its own bound to
// --port (not 0).
#include <cstdio>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& compress =
    tornado::define("compress", false, "accept permessage-deflate when a client offers it");
static auto& processes =
    tornado::define("processes", 1, "worker processes sharing the port (0: one per core)");
static auto& reuse_port = tornado::define(
    "reuse_port", false, "fork first, then each worker listens on its own socket (SO_REUSEPORT)");

class EchoSocket : public tornado::WebSocketHandler {
public:
    void on_message(std::string message, bool binary) override { write_message(message, binary); }

    std::optional<tornado::WebSocketCompressionOptions> get_compression_options() override {
        if (!*compress) return std::nullopt;
        return tornado::WebSocketCompressionOptions{};
    }
};

// A page that opens the socket, sends what you type and shows the echoes.
class PageHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write(R"page(<!doctype html>
<title>WebSocket echo</title>
<form id="f"><input id="text" autofocus> <button>send</button></form>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\n"; };
const ws = new WebSocket("ws://" + location.host + "/ws/echo");
ws.onopen = () => log("open");
ws.onmessage = (event) => log("echo: " + event.data);
ws.onclose = (event) => log("closed (" + event.code + ")");
document.getElementById("f").onsubmit = (event) => {
  event.preventDefault();
  ws.send(document.getElementById("text").value);
};
</script>
)page");
    }
};

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (*processes < 0) {
        std::fprintf(stderr,
                     "final_websocket_echo: --processes must be 0 (one per core) or more\n");
        return 2;
    }
    tornado::Application app({
        {"/", tornado::handler<PageHandler>()},
        {"/ws/echo", tornado::handler<EchoSocket>()},
    });
    if (*reuse_port) {
        if (*port == 0) {
            std::fprintf(stderr,
                         "final_websocket_echo: --reuse_port needs a --port other than 0 "
                         "(every worker binds that port)\n");
            return 2;
        }
        // As final_hello's: each worker's own socket, so that a new
        // connection wakes only the worker the kernel gives it to.
        int worker = *processes == 1 ? 0 : tornado::fork_processes(*processes);
        tornado::IOLoop& loop = tornado::IOLoop::current();
        tornado::HTTPServer& server =
            app.listen(static_cast<std::uint16_t>(*port), *address, {}, {.reuse_port = true});
        if (worker == 0) {
            std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
            std::fflush(stdout);
        }
        loop.install_signal_handlers();
        loop.start();
        return 0;
    }
    // Bound before start() forks, so every worker accepts on the same
    // socket; start() returns in each worker, and the parent stays in it,
    // supervising them (with --processes=1 it returns at once, unforked).
    tornado::HTTPServer server(app);
    server.bind(static_cast<std::uint16_t>(*port), *address);
    std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    server.start(*processes);
    tornado::IOLoop& loop = tornado::IOLoop::current();
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
