// The guide, step 1: hello (README.md beside this file).
//
//   build/bin/guide_1_hello --port=8888
//   curl http://127.0.0.1:8888/              -> Hello, world
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

class MainHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

// Tornado's make_app(): the routes, for main() and for step 6's test. On
// the heap: an Application is neither copied nor moved.
std::unique_ptr<tornado::Application> make_app() {
    std::vector<tornado::URLSpec> routes = {
        {"/", tornado::handler<MainHandler>()},
    };
    return std::make_unique<tornado::Application>(std::move(routes));
}

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    std::unique_ptr<tornado::Application> app = make_app();
    tornado::HTTPServer& server = app->listen(static_cast<std::uint16_t>(*port), "127.0.0.1");
    // --port=0 lets the system pick the port: this line names it, for scripts.
    std::printf("Listening on http://127.0.0.1:%u/\n", unsigned{server.port()});
    std::fflush(stdout);
    tornado::IOLoop& loop = tornado::IOLoop::current();
    // Ctrl-C or SIGTERM: stop accepting, finish the requests in progress, exit 0.
    loop.install_signal_handlers();
    loop.start();
}
