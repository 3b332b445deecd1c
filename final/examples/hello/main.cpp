// hello: Tornado's "Hello, world", line for line.
//
//   build/bin/final_hello [--port=8888] [--address=127.0.0.1]
//   curl http://127.0.0.1:8888/          -> Hello, world
//
// With --certfile=cert.pem --keyfile=key.pem it serves HTTPS instead (the
// TLS benchmark's server; Tornado's is the ssl_options argument).
//
// It prints "Listening on http://ADDRESS:PORT/" once it accepts (--port=0
// picks a free port), logs each request on stderr, and on SIGINT / SIGTERM
// stops accepting, lets requests in progress finish, and exits 0.
#include <cstdio>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& certfile = tornado::define("certfile", std::string(), "serve HTTPS: PEM certificate");
static auto& keyfile = tornado::define("keyfile", std::string(), "serve HTTPS: PEM private key");

class MainHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    tornado::Application app({
        {"/", tornado::handler<MainHandler>()},
    });
    tornado::HTTPServerOptions options;
    if (!certfile->empty())
        options.ssl_options = tornado::SSLOptions{.certfile = *certfile, .keyfile = *keyfile};
    tornado::HTTPServer& server = app.listen(static_cast<std::uint16_t>(*port), *address, options);
    std::printf("Listening on %s://%s:%u/\n", certfile->empty() ? "http" : "https",
                address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
