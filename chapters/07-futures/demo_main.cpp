// demo_main.cpp: ch07_demo, a server whose handlers fetch from the server
// itself with AsyncHTTPClient, in parallel and one after the other.
//
//   build/bin/ch07_demo [--port=8888] [--address=127.0.0.1]
//
//   GET /                 Hello, world
//   GET /slow?ms=N        answered N ms later (default 500) from a timer
//   GET /parallel?ms=N    fetches /slow?ms=N twice at once: about N ms in all
//   GET /sequential?ms=N  fetches it twice, one after the other: about 2N ms
//
// Ctrl-C (SIGINT) or SIGTERM stops it.
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "command_line.h"
#include "fetch_handlers.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

using course::handler;
using course::IOLoop;

}  // namespace

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        IOLoop loop;
        // The fetching handlers fetch from this very server. Its URL is known
        // only once it listens (--port=0), so the routes hold a reference to
        // this string (std::cref) and read it at each request.
        std::string own_url;
        course::Application app({
            {"/", handler<course::HelloWorldHandler>()},
            {"/slow", handler<course::SlowReplyHandler>()},
            {"/parallel", handler<course::ParallelFetchHandler>(std::cref(own_url))},
            {"/sequential", handler<course::SequentialFetchHandler>(std::cref(own_url))},
        });
        course::HTTPServer& server = app.listen(options.port, options.address, loop);
        std::string host = options.address == "0.0.0.0" ? "127.0.0.1" : options.address;
        own_url = "http://" + host + ":" + std::to_string(server.port());
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch07_demo");
        course::announce_listening(options.address, server.port());
        loop.start();
        std::fprintf(stderr, "ch07_demo: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch07_demo: %s\n", error.what());
        return 1;
    }
    return 0;
}
