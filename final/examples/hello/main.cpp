// hello: Tornado's "Hello, world", line for line.
//
//   build/bin/final_hello [--port=8888] [--address=127.0.0.1]
//   curl http://127.0.0.1:8888/          -> Hello, world
//
// With --certfile=cert.pem --keyfile=key.pem it serves HTTPS instead (the
// TLS benchmark's server; Tornado's is the ssl_options argument). With
// --http2 it serves HTTP/2 as well (final/http2): by ALPN over TLS, and in
// cleartext to a client that opens with HTTP/2's preface
// (curl --http2-prior-knowledge, h2load). With --http3 (and a certificate)
// it serves HTTP/3 as well (final/http3, HTTPServerOptions::http3), over
// UDP on the same port number, to the same application; its HTTPS answers
// say so (Alt-Svc: h3=":PORT").
// gtlsclient 127.0.0.1 8888 https://127.0.0.1:8888/ -> Hello, world
// With --static_path=DIR it serves DIR's files at /static/ as well
// (StaticFileHandler, as demo_app's): make bench-http3's 16 KiB file, over
// HTTP/3, from the program that serves its hello.
// --processes=N (0: one per core) forks N workers that accept on the same
// socket, Tornado's `server.bind(port); server.start(n)`: how the C100K
// benchmark holds 100,000 connections where one process may have 20,000
// descriptors. With --reuse_port (--reuse-port) the workers are forked
// first and each listens on a socket of its own (SO_REUSEPORT), so that a
// new connection wakes one worker, not all of them; it needs a --port
// other than 0, which every worker binds.
//
// It prints "Listening on http://ADDRESS:PORT/" once it accepts (--port=0
// picks a free port), logs each request on stderr, and on SIGINT / SIGTERM
// stops accepting, lets requests in progress finish, and exits 0.
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "tornado/http2.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/web.h"
#if TORNADO_HAVE_HTTP3
#include "tornado/http3.h"
#endif

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& certfile = tornado::define("certfile", std::string(), "serve HTTPS: PEM certificate");
static auto& keyfile = tornado::define("keyfile", std::string(), "serve HTTPS: PEM private key");
static auto& processes =
    tornado::define("processes", 1, "worker processes sharing the port (0: one per core)");
static auto& reuse_port = tornado::define(
    "reuse_port", false, "fork first, then each worker listens on its own socket (SO_REUSEPORT)");
static auto& http2 = tornado::define("http2", false, "serve HTTP/2 as well (final/http2)");
static auto& static_path =
    tornado::define("static_path", std::string(), "serve this folder at /static/ (none if empty)");
static auto& http3 = tornado::define(
    "http3", false,
    "serve HTTP/3 as well, on the same UDP port (final/http3; needs a certificate)");

// Once (before any fork, or in the first worker): the benchmarks wait for this line.
static void print_listening(std::uint16_t bound_port) {
    std::printf("Listening on %s://%s:%u/\n", certfile->empty() ? "http" : "https",
                address->c_str(), unsigned{bound_port});
    std::fflush(stdout);
}

class MainHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

static int run(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (*processes < 0) {
        std::fprintf(stderr, "final_hello: --processes must be 0 (one per core) or more\n");
        return 2;
    }
    std::vector<tornado::URLSpec> rules{{"/", tornado::handler<MainHandler>()}};
    if (!static_path->empty())
        rules.push_back(
            {"/static/(.*)", tornado::handler<tornado::StaticFileHandler>(*static_path)});
    tornado::Application app(std::move(rules));
    if (*reuse_port && *port == 0) {
        std::fprintf(stderr,
                     "final_hello: --reuse_port needs a --port other than 0 "
                     "(every worker binds that port)\n");
        return 2;
    }
    tornado::HTTPServerOptions options;
    if (!certfile->empty())
        options.ssl_options = tornado::SSLOptions{.certfile = *certfile, .keyfile = *keyfile};
    options.http2 = *http2;
#if TORNADO_HAVE_HTTP3
    if (*http3 && (certfile->empty() || *processes != 1 || *reuse_port)) {
        std::fprintf(stderr, "final_hello: --http3 needs --certfile and --keyfile, one process\n");
        return 2;
    }
    options.http3 = *http3;
#else
    if (*http3) {
        std::fprintf(stderr,
                     "final_hello: built without final/http3 (ngtcp2 or nghttp3 not found)\n");
        return 2;
    }
#endif
    if (*reuse_port) {
        // A socket per process, as Tornado documents listen(reuse_port=True):
        // fork, then listen in each worker. The kernel gives each new
        // connection to one of the workers' sockets, by a hash of its
        // addresses, and wakes only that worker; on one shared socket,
        // every worker wakes for it.
        int worker = *processes == 1 ? 0 : tornado::fork_processes(*processes);
        tornado::IOLoop& loop = tornado::IOLoop::current();
        tornado::HTTPServer& server =
            app.listen(static_cast<std::uint16_t>(*port), *address, options, {.reuse_port = true});
        if (worker == 0) print_listening(server.port());
        loop.install_signal_handlers();
        loop.start();
        return 0;
    }
    if (*processes == 1) {
        tornado::IOLoop loop;
        tornado::HTTPServer& server =
            app.listen(static_cast<std::uint16_t>(*port), *address, options);
        print_listening(server.port());
        loop.install_signal_handlers();
        loop.start();
        return 0;
    }
    // Bound before the fork, so every worker accepts on the same socket;
    // no IOLoop before start(), which returns in each worker (the parent
    // stays there, supervising them).
    tornado::HTTPServer server(app, options);
    server.bind(static_cast<std::uint16_t>(*port), *address);
    print_listening(server.port());
    server.start(*processes);
    tornado::IOLoop& loop = tornado::IOLoop::current();
    loop.install_signal_handlers();
    loop.start();
    return 0;
}

// A port that is taken (or not ours to bind) is the user's to fix: said
// in one line, exit status 1, rather than an abort.
int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "final_hello: %s\n", error.what());
        return 1;
    }
}
