// ch01_threaded_server: serves every client on a thread of its own.
//
//   build/bin/ch01_threaded_server [--port=8888] [--address=127.0.0.1]
//
// Same protocol as ch01_iterative_server (nc for lines, curl for HTTP), but a
// client that stays connected no longer holds the others up. Its log says
// how many connection threads are alive; watch that number, or the process's
// thread count (`ps -o nlwp= -p PID`), grow with the clients.
//
// Ctrl-C (SIGINT) and SIGTERM end it with their default action: the kernel
// closes every socket and ends every thread.
#include <cstdio>
#include <exception>

#include "blocking_server.h"
#include "command_line.h"
#include "socket.h"

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        // A thread per client means a descriptor per client too: lift the
        // usual soft limit of 1024 so that thousands of clients can connect.
        course::raise_open_file_limit();
        course::ThreadedServer server(course::listen_tcp(options.address, options.port));
        server.log_connections(true);
        course::announce_listening(options.address, server.port());
        server.run();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: %s\n", argv[0], error.what());
        return 1;
    }
}
