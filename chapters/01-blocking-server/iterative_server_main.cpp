// ch01_iterative_server: serves one client at a time.
//
//   build/bin/ch01_iterative_server [--port=8888] [--address=127.0.0.1]
//
// Talk to it with `nc 127.0.0.1 8888` (type lines: they come back) or
// `curl http://127.0.0.1:8888/`. Open a second nc while the first is still
// connected: it gets nothing until the first one quits.
//
// Ctrl-C (SIGINT) and SIGTERM end it with their default action: the kernel
// closes every socket, and nothing else needs cleaning up.
#include <cstdio>
#include <exception>

#include "blocking_server.h"
#include "command_line.h"
#include "socket.h"

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        course::IterativeServer server(course::listen_tcp(options.address, options.port));
        server.log_connections(true);
        course::announce_listening(options.address, server.port());
        server.run();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: %s\n", argv[0], error.what());
        return 1;
    }
}
