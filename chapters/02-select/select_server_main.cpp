// select_server_main.cpp: the chapter's demo, build/bin/ch02_select_server.
//
//   build/bin/ch02_select_server [--port=8888] [--address=127.0.0.1]
//
// One thread serves every client. Hold a few connections open (nc, or a
// client that sends half a request) and see curl still answered at once.
// Ctrl-C (SIGINT) or SIGTERM stops it: the signal handler calls stop().
#include <signal.h>

#include <cstdio>
#include <exception>

#include "command_line.h"
#include "select_server.h"
#include "socket.h"

namespace {

course::SelectServer* running_server = nullptr;

void on_stop_signal(int) {
    // stop() is async-signal-safe: an atomic store and one write() to the
    // server's wake pipe, which ends its select().
    if (running_server != nullptr) running_server->stop();
}

void stop_on_signals(course::SelectServer& server) {
    running_server = &server;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        // Room for many descriptors, so that a crowd of clients meets
        // select()'s own limit, FD_SETSIZE, which the server handles one
        // connection at a time, rather than "Too many open files" from
        // accept(), which would end run().
        course::raise_open_file_limit();
        course::SelectServer server(course::listen_tcp(options.address, options.port));
        stop_on_signals(server);
        course::announce_listening(options.address, server.port());
        server.run();
        running_server = nullptr;  // the server is about to go away
        std::fprintf(stderr, "ch02_select_server: stopped\n");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch02_select_server: %s\n", error.what());
        return 1;
    }
}
