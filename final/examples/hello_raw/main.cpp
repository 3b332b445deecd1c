// hello_raw: a plain tornado::HTTPServer whose callback answers
// "Hello, world", the server the load benchmark sets beside nginx.
//
//   build/bin/final_http_hello [--port=8888] [--address=127.0.0.1]
//
// It prints "Listening on http://ADDRESS:PORT/" once it accepts (--port=0
// picks a free port), logs only to stderr, and on SIGINT / SIGTERM stops
// accepting, lets requests in progress finish, and exits 0.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace {

struct Options {
    std::uint16_t port = 8888;
    std::string address = "127.0.0.1";
};

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.starts_with("--port=")) {
            options.port = static_cast<std::uint16_t>(std::atoi(argv[i] + 7));
        } else if (arg.starts_with("--address=")) {
            options.address = std::string(arg.substr(10));
        } else {
            std::fprintf(stderr, "usage: %s [--port=8888] [--address=127.0.0.1]\n", argv[0]);
            std::exit(2);
        }
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    tornado::IOLoop loop;

    // Made once: Date and Server are added by the connection.
    const tornado::HTTPHeaders headers{{"Content-Type", "text/plain"}, {"Content-Length", "12"}};
    const tornado::ResponseStartLine ok{"HTTP/1.1", 200, "OK"};
    tornado::HTTPServer server([&](std::shared_ptr<tornado::HTTPServerRequest> request) {
        request->connection->write_headers(ok, headers, "Hello, world");
        request->connection->finish();
    });
    server.listen(options.port, options.address);

    std::printf("Listening on http://%s:%u/\n", options.address.c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers(std::chrono::seconds(5));
    loop.start();
    return 0;
}
