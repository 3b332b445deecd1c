// app_main.cpp: ch08_app, chapter 06's Application with coroutine handlers.
//
//   build/bin/ch08_app [--port=8888] [--address=127.0.0.1]
//
//   GET /                    Hello, world
//   GET /sleep?ms=N          co_await sleep(N ms), then "slept N": the loop
//                            serves everyone else meanwhile
//   GET /blocking?ms=N       a blocking sleep of N ms on the thread pool
//                            (run_in_executor), then "done N": the loop stays free
//   GET /blocking-wrong?ms=N the same blocking sleep on the loop thread, inside
//                            a coroutine: every other client waits (the trap)
//   GET /parallel?ms=N       fetches /sleep?ms=N twice at once and awaits both
//                            with multi(): about N ms in all, not 2N
//   GET /crash               the coroutine throws after a sleep: 500, and the
//                            server goes on
//
// N is 0 to 10000 (default 100). Ctrl-C (SIGINT) or SIGTERM stops it.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <coroutine_handler.h>
#include <executor.h>
#include <gen.h>
#include <task.h>
#include "command_line.h"
#include "httpclient.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

using namespace std::chrono_literals;
using course::CoroutineRequestHandler;
using course::handler;
using course::HTTPError;
using course::IOLoop;
using course::PathArgs;
using course::Task;

constexpr int kMaxDelayMs = 10000;

// ?ms=N, 0 to kMaxDelayMs, 100 if absent; anything else is a 400.
int delay_argument(const course::RequestHandler& handler) {
    std::string text = handler.get_argument("ms", "100");
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0 ||
        value > kMaxDelayMs) {
        throw HTTPError(400, "ms must be a number from 0 to " + std::to_string(kMaxDelayMs));
    }
    return value;
}

class HelloHandler : public course::RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
};

class SleepHandler : public CoroutineRequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        int ms = delay_argument(*this);
        co_await course::sleep(std::chrono::milliseconds(ms));
        write("slept " + std::to_string(ms));
    }
};

class BlockingHandler : public CoroutineRequestHandler {
public:
    void initialize(course::ThreadPool* pool) { pool_ = pool; }

    Task<void> get_async(PathArgs) override {
        int ms = delay_argument(*this);
        co_await course::run_in_executor(*pool_, [ms] {
            std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // on a pool thread
        });
        write("done " + std::to_string(ms));
    }

private:
    course::ThreadPool* pool_ = nullptr;
};

// Do not do this: a coroutine does not make a blocking call non-blocking.
// sleep_for holds the loop thread, and no other client is served until it
// returns. Here only so that the lesson (and `make bench`) can show it.
class BlockingWrongHandler : public CoroutineRequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        int ms = delay_argument(*this);
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // on the loop thread!
        write("done " + std::to_string(ms));
        co_return;
    }
};

class ParallelHandler : public CoroutineRequestHandler {
public:
    void initialize(const std::string& base_url) { base_url_ = base_url; }

    Task<void> get_async(PathArgs) override {
        int ms = delay_argument(*this);
        std::string url = base_url_ + "/sleep?ms=" + std::to_string(ms);
        auto started = IOLoop::time();
        course::AsyncHTTPClient client;
        // Both fetches start here, before anything waits: that is what
        // makes them parallel. multi() then waits for the two together.
        std::vector<course::Future<course::HTTPResponse>> fetches{client.fetch(url),
                                                                  client.fetch(url)};
        std::vector<course::HTTPResponse> responses = co_await course::multi(fetches);
        std::chrono::duration<double> elapsed = IOLoop::time() - started;
        set_header("Content-Type", "text/plain; charset=UTF-8");
        write("2 fetches in parallel: " + std::to_string(elapsed.count()) + " s in all\n");
        for (const course::HTTPResponse& response : responses) {
            write("  " + std::to_string(response.code) + " " + response.body + "\n");
        }
    }

private:
    std::string base_url_;
};

class CrashHandler : public CoroutineRequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await course::sleep(10ms);
        throw std::runtime_error("the coroutine crashed after its sleep");
    }
};

}  // namespace

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        IOLoop loop;
        // Before the pool: its threads inherit the blocked signals, so that
        // SIGINT and SIGTERM reach the loop's signalfd, not a worker.
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch08_app");
        course::ThreadPool pool(4);
        // /parallel fetches from this very server, whose port is known only
        // once it listens (--port=0): the route holds a reference to the URL.
        std::string own_url;
        course::Application app({
            {"/", handler<HelloHandler>()},
            {"/sleep", handler<SleepHandler>()},
            {"/blocking", handler<BlockingHandler>(&pool)},
            {"/blocking-wrong", handler<BlockingWrongHandler>()},
            {"/parallel", handler<ParallelHandler>(std::cref(own_url))},
            {"/crash", handler<CrashHandler>()},
        });
        course::HTTPServer& server = app.listen(options.port, options.address, loop);
        std::string host = options.address == "0.0.0.0" ? "127.0.0.1" : options.address;
        own_url = "http://" + host + ":" + std::to_string(server.port());
        course::announce_listening(options.address, server.port());
        loop.start();
        std::fprintf(stderr, "ch08_app: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch08_app: %s\n", error.what());
        return 1;
    }
    return 0;
}
