// three_ways_main.cpp: ch07_three_ways, one small task written with nested
// callbacks and with Futures, side by side (the chapter README shows the
// third way, chapter 08's coroutines).
//
//   build/bin/ch07_three_ways
//
// The task: fetch /first, whose body names another path; fetch that; then
// combine the two bodies. The program starts its own server (chapter 05's
// HTTPServer, on a free port), runs the task both ways, then runs it again
// where the second path does not exist (a 404), and checks that each way
// gave the expected answer. It exits 0 if both did.
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "client_httputil.h"
#include <future.h>  // <> on purpose: see "Includes" in future.h
#include "future_stream.h"
#include "httpclient.h"
#include "httpserver.h"
#include "ioloop.h"

namespace {

using namespace course;

std::string combine(const std::string& first, const std::string& second) {
    return "first said \"" + first + "\", second said \"" + second + "\"";
}

std::string describe(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return std::string("error: ") + e.what();
    }
}

// --- way 1: nested callbacks ---------------------------------------------------------

using BodyCallback = std::function<void(std::exception_ptr error, std::string body)>;

// GET `url` and call back with its body, on chapter 04's IOStream. Content-
// Length bodies only, to keep it short; it is long enough.
void fetch_body_with_callbacks(IOLoop& loop, const std::string& url, BodyCallback callback) {
    URL where;
    try {
        where = parse_url(url);
    } catch (...) {
        // Not callback(...) here: a callback never runs inside the call
        // that asked for it (chapter 04's rule), so this one goes through
        // the loop too.
        return loop.add_callback([callback, error = std::current_exception()] {
            callback(error, "");
        });
    }
    connect_stream(loop, where.host, where.port,
                   [where, callback](std::shared_ptr<IOStream> stream, std::exception_ptr error) {
        if (error) return callback(error, "");
        // If the stream closes half way, IOStream simply drops our pending
        // callback: nobody would ever call `callback`. So watch the close
        // too, and make sure that whichever comes first answers, once.
        auto answered = std::make_shared<bool>(false);
        auto answer = [answered, callback](std::exception_ptr e, std::string body) {
            if (*answered) return;
            *answered = true;
            callback(e, std::move(body));
        };
        std::weak_ptr<IOStream> weak = stream;
        stream->set_close_callback([weak, answer] {
            auto closed = weak.lock();
            answer(std::make_exception_ptr(StreamClosedError(closed ? closed->close_reason() : "")), "");
        });
        stream->write(format_request("GET", where, {}, ""), [stream, answer] {
            stream->read_until("\r\n\r\n", [stream, answer](std::string head_bytes) {
                // An exception thrown in a callback goes to the loop's log,
                // not to our caller: every step must catch its own.
                std::size_t length = 0;
                try {
                    ResponseHead head = parse_response_head(head_bytes);
                    if (head.line.code != 200) throw HTTPClientError(head.line.code, head.line.reason);
                    length = std::stoul(head.headers.get("Content-Length", "0"));
                } catch (...) {
                    answer(std::current_exception(), "");
                    return stream->close();
                }
                stream->read_bytes(length, [stream, answer](std::string body) {
                    answer(nullptr, std::move(body));
                    stream->close();
                });
            });
        });
    });
}

void first_then_second_with_callbacks(IOLoop& loop, const std::string& base, BodyCallback done) {
    fetch_body_with_callbacks(loop, base + "/first",
                              [&loop, base, done](std::exception_ptr error, std::string first) {
        if (error) return done(error, "");
        fetch_body_with_callbacks(loop, base + first,
                                  [first, done](std::exception_ptr error2, std::string second) {
            if (error2) return done(error2, "");
            done(nullptr, combine(first, second));
        });
    });
}

// --- way 2: Futures -----------------------------------------------------------------

Future<std::string> first_then_second_with_futures(AsyncHTTPClient& client, const std::string& base) {
    return client.fetch(base + "/first").then([&client, base](HTTPResponse& first) {
        // Nested once, to keep `first` in scope for the last step.
        return client.fetch(base + first.body).then([first](HTTPResponse& second) {
            return combine(first.body, second.body);
        });
    });
}

// --- way 3: coroutines, chapter 08 (not compiled here) ------------------------------
//
//   Task<std::string> first_then_second(AsyncHTTPClient& client, std::string base) {
//       HTTPResponse first = co_await client.fetch(base + "/first");
//       HTTPResponse second = co_await client.fetch(base + first.body);
//       co_return combine(first.body, second.body);
//   }

// --- running both --------------------------------------------------------------------

// The server: /first names /second; /broken/first names /missing, which
// (as /broken/missing) is not there.
void route(const std::shared_ptr<HTTPServerRequest>& request) {
    if (request->path == "/first") return request->reply(200, "/second");
    if (request->path == "/second") return request->reply(200, "world");
    if (request->path == "/broken/first") return request->reply(200, "/missing");
    request->reply(404, "no " + request->path);
}

struct Outcome {
    bool done = false;
    std::string text;
};

// Runs both ways on `base` and returns whether each gave `expected`.
bool run_both(IOLoop& loop, const std::string& base, const std::string& expected) {
    Outcome with_callbacks;
    Outcome with_futures;
    first_then_second_with_callbacks(loop, base, [&](std::exception_ptr error, std::string result) {
        with_callbacks = {true, error ? describe(error) : result};
    });
    AsyncHTTPClient client(loop);
    first_then_second_with_futures(client, base).add_done_callback([&](Future<std::string> result) {
        with_futures = {true, result.exception() ? describe(result.exception()) : result.result()};
    });
    auto deadline = loop.call_later(std::chrono::seconds(5), [&] { loop.stop(); });
    std::function<void()> check = [&] {
        if (with_callbacks.done && with_futures.done) return loop.stop();
        loop.call_later(std::chrono::milliseconds(1), check);
    };
    check();
    loop.start();
    loop.remove_timeout(deadline);
    std::printf("  1. nested callbacks: %s\n", with_callbacks.text.c_str());
    std::printf("  2. Futures:          %s\n", with_futures.text.c_str());
    std::printf("  3. coroutines:       chapter 08\n");
    return with_callbacks.text == expected && with_futures.text == expected;
}

}  // namespace

int main() {
    try {
        ignore_sigpipe();
        IOLoop loop;
        HTTPServer server(route, loop);
        server.listen(0);
        std::string base = "http://127.0.0.1:" + std::to_string(server.port());
        std::printf("fetch %s/first, then the path it names, then combine:\n", base.c_str());
        bool ok = run_both(loop, base, combine("/second", "world"));
        // The same with /first answering a path that does not exist.
        std::string broken = base + "/broken";
        std::printf("the same from %s/first, where the second path gives 404:\n", broken.c_str());
        ok = run_both(loop, broken, "error: HTTP 404: Not Found") && ok;
        std::printf(ok ? "both ways agree\n" : "MISMATCH\n");
        return ok ? 0 : 1;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch07_three_ways: %s\n", error.what());
        return 1;
    }
}
