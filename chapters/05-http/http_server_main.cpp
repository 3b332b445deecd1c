// http_server_main.cpp: ch05_http_server, a small application on HTTPServer.
//
//   build/bin/ch05_http_server [--port=8888] [--address=127.0.0.1]
//
//   GET  /                 Hello, world   (HEAD / too: same headers, no body)
//   GET  /query?a=1&b=x+y  the arguments, one "name=value" line each
//   POST /echo, PUT /echo  the body back, byte for byte
//   GET  /headers          the request's headers, one a line, as received
//   GET  /sleep?ms=N       "slept N", answered N ms later from a timer: the
//                          loop serves everyone else meanwhile
//   GET  /stream?chunks=N  N lines "chunk I", one every 100 ms, as a chunked
//                          response (no Content-Length: the size is unknown)
//   anything else          404 (405 for a known path with the wrong method)
//
// Every response is written by the chapter's HTTP1Connection; this file
// only decides what to say. Ctrl-C (SIGINT) or SIGTERM stops the loop.

#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "command_line.h"
#include "httpserver.h"
#include "ioloop.h"
#include "stop_on_signals.h"

namespace {

using course::HTTPHeaders;
using course::HTTPServerRequest;
using course::IOLoop;
using Request = std::shared_ptr<HTTPServerRequest>;

HTTPHeaders content_type(const char* type) {
    HTTPHeaders headers;
    headers.add("Content-Type", type);
    return headers;
}

const char* kText = "text/plain; charset=UTF-8";

// The argument `name` as a number in [0, max], or `fallback`.
int int_argument(const HTTPServerRequest& request, const std::string& name, int fallback, int max) {
    auto found = request.arguments.find(name);
    if (found == request.arguments.end()) return fallback;
    const std::string& text = found->second.front();
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0) return fallback;
    return value < max ? value : max;
}

void hello(const Request& request) {
    request->reply(200, "Hello, world", content_type("text/html; charset=UTF-8"));
}

void show_arguments(const Request& request) {
    std::string body;
    for (const auto& [name, values] : request->arguments) {
        for (const std::string& value : values) body += name + "=" + value + "\n";
    }
    request->reply(200, body, content_type(kText));
}

void echo(const Request& request) {
    request->reply(200, request->body, content_type("application/octet-stream"));
}

void show_headers(const Request& request) {
    std::string body;
    for (const auto& [name, value] : request->headers) body += name + ": " + value + "\n";
    request->reply(200, body, content_type(kText));
}

// Answers later, from a timer: the callback returns at once and the
// connection waits for finish() (which reply() calls).
void sleep_then_answer(const Request& request, IOLoop& loop) {
    int ms = int_argument(*request, "ms", 100, 60000);
    loop.call_later(std::chrono::milliseconds(ms), [request, ms] {
        request->reply(200, "slept " + std::to_string(ms), content_type(kText));
    });
}

// One chunk now, the next in 100 ms, ... then finish().
void send_chunks(const Request& request, IOLoop& loop, int sent, int total) {
    if (sent == total) return request->connection->finish();
    request->connection->write("chunk " + std::to_string(sent + 1) + "\n");
    loop.call_later(std::chrono::milliseconds(100), [request, &loop, sent, total] {
        send_chunks(request, loop, sent + 1, total);
    });
}

void stream(const Request& request, IOLoop& loop) {
    request->connection->write_headers(200, content_type(kText));
    send_chunks(request, loop, 0, int_argument(*request, "chunks", 5, 1000));
}

void route(const Request& request, IOLoop& loop) {
    const std::string& path = request->path;
    const std::string& method = request->method;
    bool get = method == "GET" || method == "HEAD";
    if (path == "/" && get) return hello(request);
    if (path == "/query" && get) return show_arguments(request);
    if (path == "/headers" && get) return show_headers(request);
    if (path == "/sleep" && get) return sleep_then_answer(request, loop);
    if (path == "/stream" && get) return stream(request, loop);
    if (path == "/echo" && (method == "POST" || method == "PUT")) return echo(request);
    bool known = path == "/" || path == "/query" || path == "/headers" || path == "/sleep" ||
                 path == "/stream" || path == "/echo";
    if (known) {
        return request->reply(405, "Method not allowed: " + method + "\n", content_type(kText));
    }
    request->reply(404, "Not found: " + path + "\n", content_type(kText));
}


}  // namespace

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        IOLoop loop;
        course::HTTPServer server([&loop](Request request) { route(request, loop); }, loop);
        server.listen(options.port, options.address);
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch05_http_server");
        course::announce_listening(options.address, server.port());
        loop.start();
        std::fprintf(stderr, "ch05_http_server: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch05_http_server: %s\n", error.what());
        return 1;
    }
    return 0;
}
