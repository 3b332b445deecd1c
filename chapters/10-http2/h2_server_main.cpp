// h2_server_main.cpp: ch10_h2_server, one chapter 06 Application served at
// the same time over HTTP/2 (h2c, prior knowledge) and over chapter 05's
// HTTP/1.1, so that the two can be set side by side.
//
//   build/bin/ch10_h2_server [--port=8443] [--http1-port=8888] [--images=60]
//                            [--address=127.0.0.1]
//
//   GET  /             a page with --images small pictures: over HTTP/2 they
//                      all come on one connection, interleaved; over HTTP/1.1
//                      a browser opens six connections and queues the rest
//   GET  /img/N.svg    picture N (1 to 1000), a few hundred bytes of SVG made
//                      here; any other N is a 404
//   GET  /slow?ms=N    answers after N ms (chapter 08's sleep, 0 to 10000):
//                      over HTTP/2 the other streams go on meanwhile
//   POST /echo         the body back
//   GET  /headers      the request's headers as the application saw them
//                      (over HTTP/2: lower case, Host from :authority)
//
//   curl --http2-prior-knowledge http://127.0.0.1:8443/
//   nghttp -nva http://127.0.0.1:8443/       (every frame, both ways)
//   h2load -n 2000 -c 4 -m 10 http://127.0.0.1:8443/img/1.svg
//
// It prints "HTTP/1.1 on http://ADDRESS:PORT/", then the HTTP/2 address as
// every demo's ready line. Ctrl-C (SIGINT) or SIGTERM stops it: the HTTP/2
// server says GOAWAY and lets the streams it took finish (task 4), and the
// handlers still running end, for up to five seconds.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>

#include <coroutine_handler.h>
#include <gen.h>
#include <task.h>
#include "command_line.h"
#include "http2server.h"
#include "httpserver.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

using course::CoroutineRequestHandler;
using course::handler;
using course::HTTPError;
using course::PathArgs;
using course::Task;

constexpr int kMaxDelayMs = 10000;
constexpr int kMaxImages = 1000;

// A number option's value from "--name=N", within [least, most]; exits with
// a message otherwise.
int number_option(const char* text, const char* name, int least, int most) {
    int value = 0;
    const char* end = text + std::strlen(text);
    auto [stop, error] = std::from_chars(text, end, value);
    if (error != std::errc() || stop != end || value < least || value > most) {
        std::fprintf(stderr, "ch10_h2_server: --%s must be a number from %d to %d\n", name, least,
                     most);
        std::exit(2);
    }
    return value;
}

struct DemoOptions {
    int http1_port = 8888;
    int images = 60;
};

// Takes --http1-port and --images out of argv; the rest is chapter 01's.
DemoOptions take_demo_options(int& argc, char** argv) {
    DemoOptions options;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--http1-port=", 13) == 0) {
            options.http1_port = number_option(argv[i] + 13, "http1-port", 0, 65535);
        } else if (std::strncmp(argv[i], "--images=", 9) == 0) {
            options.images = number_option(argv[i] + 9, "images", 0, kMaxImages);
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    return options;
}

class PageHandler : public course::RequestHandler {
public:
    void initialize(int images) { images_ = images; }
    void get(const PathArgs&) override {
        set_header("Content-Type", "text/html; charset=UTF-8");
        write("<!doctype html><title>HTTP/2, by hand</title>\n<h1>" + std::to_string(images_) +
              " pictures over " + request().version + "</h1>\n<p>\n");
        for (int i = 1; i <= images_; ++i) {
            write("<img src=\"/img/" + std::to_string(i) + ".svg\" width=\"48\" height=\"48\">\n");
        }
    }

private:
    int images_ = 60;
};

// A square of a colour of its own, with its number: 1 to kMaxImages, the
// most a page can show; any other number is a 404.
class ImageHandler : public course::RequestHandler {
public:
    void get(const PathArgs& args) override {
        const std::string& digits = args[0];
        int n = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (error != std::errc() || end != digits.data() + digits.size() || n < 1 ||
            n > kMaxImages) {
            throw HTTPError(404, "pictures are numbered 1 to " + std::to_string(kMaxImages));
        }
        int hue = (n * 47) % 360;
        set_header("Content-Type", "image/svg+xml");
        set_header("Cache-Control", "no-store");  // every reload asks again
        write(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"48\" height=\"48\">"
            "<rect width=\"48\" height=\"48\" rx=\"6\" fill=\"hsl(" +
            std::to_string(hue) +
            ",70%,55%)\"/><text x=\"24\" y=\"30\" font-size=\"16\" text-anchor=\"middle\" "
            "font-family=\"sans-serif\" fill=\"white\">" +
            std::to_string(n) + "</text></svg>\n");
    }
};

class SlowHandler : public CoroutineRequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        int ms = delay_argument();
        co_await course::sleep(std::chrono::milliseconds(ms));
        write("slept " + std::to_string(ms) + " ms\n");
    }

private:
    int delay_argument() const {
        std::string text = get_argument("ms", "1000");
        int value = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size() || value < 0 ||
            value > kMaxDelayMs) {
            throw HTTPError(400, "ms must be a number from 0 to " + std::to_string(kMaxDelayMs));
        }
        return value;
    }
};

class EchoHandler : public course::RequestHandler {
public:
    void post(const PathArgs&) override {
        set_header("Content-Type", "application/octet-stream");
        write(request().body);
    }
};

class HeadersHandler : public course::RequestHandler {
public:
    void get(const PathArgs&) override {
        set_header("Content-Type", "text/plain; charset=UTF-8");
        write(request().method + " " + request().uri + " " + request().version + "\n");
        for (const auto& [name, value] : request().headers) write(name + ": " + value + "\n");
    }
};

// Runs the loop until no HTTP/2 connection is open and no handler is
// running, checking every 50 ms, for at most `limit`.
void wait_until_drained(course::IOLoop& loop, const course::HTTP2Server& http2,
                        const course::Application& app, std::chrono::seconds limit) {
    auto deadline = course::IOLoop::time() + limit;
    std::function<void()> check = [&] {
        bool drained = http2.connections() == 0 && app.open_handlers() == 0;
        if (drained || course::IOLoop::time() > deadline) return loop.stop();
        loop.call_later(std::chrono::milliseconds(50), check);
    };
    loop.add_callback(check);
    loop.start();
}

}  // namespace

int main(int argc, char** argv) {
    DemoOptions demo = take_demo_options(argc, argv);
    // HTTP/2 on 8443 and HTTP/1.1 on 8888 by default: two listeners, two ports.
    course::ServerOptions options =
        course::parse_server_options(argc, argv, {.address = "127.0.0.1", .port = 8443},
                                     " [--http1-port=8888] [--images=60]");
    try {
        course::ignore_sigpipe();
        course::IOLoop loop;
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch10_h2_server");
        course::Application app({
            {"/", handler<PageHandler>(demo.images)},
            {"/img/([0-9]+)\\.svg", handler<ImageHandler>()},
            {"/slow", handler<SlowHandler>()},
            {"/echo", handler<EchoHandler>()},
            {"/headers", handler<HeadersHandler>()},
        });
        course::HTTPServer http1(std::ref(app), loop);
        http1.listen(static_cast<std::uint16_t>(demo.http1_port), options.address);
        course::HTTP2Server http2(std::ref(app), loop);
        http2.listen(options.port, options.address);
        std::printf("HTTP/1.1 on http://%s:%u/\n", options.address.c_str(),
                    static_cast<unsigned>(http1.port()));
        course::announce_listening(options.address, http2.port());
        loop.start();

        // Stopped by a signal: GOAWAY to every HTTP/2 client, and the loop
        // runs on until their streams are answered and every handler has
        // finished (a reset stream's handler may still be sleeping), or
        // five seconds have passed.
        std::fprintf(stderr, "ch10_h2_server: stopping, %zu HTTP/2 connections open\n",
                     http2.connections());
        http1.stop();
        http2.stop();
        wait_until_drained(loop, http2, app, std::chrono::seconds(5));
        http2.close_all_connections();
        std::fprintf(stderr, "ch10_h2_server: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch10_h2_server: %s\n", error.what());
        return 1;
    }
    return 0;
}
