// hello: Tornado's "Hello, world", line for line.
//
//   build/bin/final_hello [--port=8888] [--address=127.0.0.1]
//   curl http://127.0.0.1:8888/          -> Hello, world
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
    tornado::HTTPServer& server = app.listen(static_cast<std::uint16_t>(*port), *address);
    std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
