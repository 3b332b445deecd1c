// server_main.cpp: the chapter's demo, build/bin/ch03_server.
//
//   build/bin/ch03_server [--port=8888] [--address=127.0.0.1] [--edge-triggered]
//
// One thread, one IOLoop, every client. Hold connections open (nc, or
// tests/clients/slow_client.py) and curl is still answered at once. Every
// second it logs the number of open connections if that changed.
// Ctrl-C (SIGINT) or SIGTERM stops the loop; the destructors close every
// socket on the way out.

#include <chrono>
#include <cstdio>
#include <exception>
#include <string_view>
#include <vector>

#include "command_line.h"
#include "ioloop.h"
#include "loop_server.h"
#include "socket.h"
#include "stop_on_signals.h"

namespace {

using namespace std::chrono_literals;

// Removes `flag` from the arguments if present; true if it was there. The
// rest goes to parse_server_options, which knows only --port and --address.
bool take_flag(std::vector<char*>& arguments, std::string_view flag) {
    for (auto it = arguments.begin(); it != arguments.end(); ++it) {
        if (*it == flag) {
            arguments.erase(it);
            return true;
        }
    }
    return false;
}

// A timeout that sets the next one: the loop's timers keep a running log.
void log_connection_count(course::IOLoop& loop, const course::LoopServer& server,
                          std::size_t last_count) {
    loop.call_later(1s, [&loop, &server, last_count] {
        std::size_t count = server.connection_count();
        if (count != last_count) std::fprintf(stderr, "ch03_server: open connections: %zu\n", count);
        log_connection_count(loop, server, count);
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<char*> arguments(argv, argv + argc);
    course::LoopServerOptions server_options;
    server_options.edge_triggered = take_flag(arguments, "--edge-triggered");
    course::ServerOptions options =
        course::parse_server_options(static_cast<int>(arguments.size()), arguments.data(), {},
                                     " [--edge-triggered]");
    try {
        course::ignore_sigpipe();
        // A descriptor per client: thousands of clients need more than the
        // usual soft limit of 1024.
        course::raise_open_file_limit();
        course::IOLoop loop;
        course::LoopServer server(loop, course::listen_tcp(options.address, options.port),
                                  server_options);
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch03_server");
        log_connection_count(loop, server, 0);
        if (server_options.edge_triggered) std::fprintf(stderr, "ch03_server: edge-triggered\n");
        course::announce_listening(options.address, server.port());
        loop.start();
        loop.remove_handler(signals.get());
        std::fprintf(stderr, "ch03_server: stopped\n");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch03_server: %s\n", error.what());
        return 1;
    }
}
