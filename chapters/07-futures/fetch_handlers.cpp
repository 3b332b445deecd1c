// fetch_handlers.cpp: see fetch_handlers.h.
#include "fetch_handlers.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <future.h>  // <> on purpose: see "Includes" in future.h
#include "httpclient.h"
#include "ioloop.h"
#include <multi.h>    // <> on purpose: see "Includes" in future.h

namespace course {

namespace {

constexpr int kMaxDelayMs = 10000;

// ?ms=N, 0 to kMaxDelayMs, 500 if absent; anything else is a 400.
int delay_argument(const RequestHandler& handler) {
    std::string text = handler.get_argument("ms", "500");
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0 ||
        value > kMaxDelayMs) {
        throw HTTPError(400, "ms must be a number from 0 to " + std::to_string(kMaxDelayMs));
    }
    return value;
}

std::string seconds(IOLoop::Clock::duration elapsed) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f",
                  std::chrono::duration<double>(elapsed).count());
    return text;
}

// The request each fetching handler makes: its own server's /slow.
HTTPRequest slow_request(const std::string& base_url, int ms) {
    // Generous, but bounded: a stuck /slow must not hold our client forever.
    auto limit = std::chrono::milliseconds(ms) + std::chrono::seconds(5);
    return HTTPRequest{.url = base_url + "/slow?ms=" + std::to_string(ms), .request_timeout = limit};
}

// Ends the request with what the fetches gave. Called from a done
// callback, where an exception would only reach the loop's log and leave
// the client waiting for a finish() that never comes: so failures become
// a 502 here.
void finish_with_report(RequestHandler& handler, const std::string& title,
                        IOLoop::Clock::time_point started,
                        const std::function<std::vector<HTTPResponse>()>& get_responses) {
    try {
        std::vector<HTTPResponse> responses = get_responses();
        handler.set_header("Content-Type", "text/plain; charset=UTF-8");
        handler.write(title + ": " + seconds(IOLoop::time() - started) + " s in all\n");
        for (std::size_t i = 0; i < responses.size(); ++i) {
            const HTTPResponse& response = responses[i];
            handler.write("  fetch " + std::to_string(i + 1) + ": " + std::to_string(response.code) +
                          " \"" + response.body + "\" in " + seconds(response.request_time) +
                          " s\n");
        }
        handler.finish();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: a fetch failed: %s\n", title.c_str(), error.what());
        handler.send_error(502, &error);
    }
}

}  // namespace

void HelloWorldHandler::get(const PathArgs&) {
    write("Hello, world");
}

void SlowReplyHandler::get(const PathArgs&) {
    int ms = delay_argument(*this);
    auto self = asynchronous();
    IOLoop::current().call_later(std::chrono::milliseconds(ms), [self, ms] {
        self->finish("slow reply after " + std::to_string(ms) + " ms");
    });
}

// Both fetches start before anything waits: that is all "in parallel"
// means on one thread. multi() then waits for the two together.
void ParallelFetchHandler::get(const PathArgs&) {
    int ms = delay_argument(*this);
    AsyncHTTPClient client;
    std::vector<Future<HTTPResponse>> fetches{client.fetch(slow_request(base_url_, ms)),
                                              client.fetch(slow_request(base_url_, ms))};
    auto started = IOLoop::time();
    auto self = asynchronous();
    multi(fetches).add_done_callback([self, started](Future<std::vector<HTTPResponse>> all) {
        finish_with_report(*self, "2 fetches in parallel", started, [all] { return all.result(); });
    });
}

// The second fetch starts only in the first one's continuation: the
// delays add up.
void SequentialFetchHandler::get(const PathArgs&) {
    int ms = delay_argument(*this);
    AsyncHTTPClient client;
    HTTPRequest request = slow_request(base_url_, ms);
    auto started = IOLoop::time();
    auto self = asynchronous();
    client.fetch(request)
        .then([client, request](HTTPResponse& first) mutable {
            return client.fetch(request).then([first](HTTPResponse& second) {
                return std::vector<HTTPResponse>{first, second};
            });
        })
        .add_done_callback([self, started](Future<std::vector<HTTPResponse>> both) {
            finish_with_report(*self, "2 fetches one after the other", started,
                               [both] { return both.result(); });
        });
}

}  // namespace course
