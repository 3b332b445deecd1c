// web_fixture.h: chapter 05's HTTPServerTest (a server on a loop thread and
// a raw HTTP client, tests/05-http/http_fixture.h) serving an Application.
//
// Handlers run on the loop thread, the test on its own. Handlers record
// what happened in an EventLog that only the loop thread touches; the test
// reads it with events(), which copies it on the loop thread. That copy
// also waits for the loop to finish what it is doing: on_finish() runs
// just after the response is written, so a client can read the response
// before on_finish() has run, but never before events() sees it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "http_fixture.h"
#include "web.h"

namespace course::testing {

using EventLog = std::vector<std::string>;

class WebTest : public HTTPServerTest {
protected:
    void serve(std::vector<URLSpec> routes, Application::Settings settings = {}) {
        app = std::make_unique<Application>(std::move(routes), std::move(settings));
        start(std::ref(*app));
    }

    EventLog events() {
        EventLog copy;
        on_loop([&] { copy = log; });
        return copy;
    }

    std::size_t open_handlers() {
        std::size_t count = 0;
        on_loop([&] { count = app->open_handlers(); });
        return count;
    }

    Response get(const std::string& target, const std::string& extra = "") {
        return fetch(get_request(target, extra));
    }

    // The loop thread writes it (through handlers given &log), the test
    // reads it through events().
    EventLog log;
    std::unique_ptr<Application> app;
};

// GET answers "Hello, world".
class HelloHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
};

// The error page Tornado writes for `status` with `reason`.
inline std::string error_page(int status, const std::string& reason) {
    std::string line = std::to_string(status) + ": " + reason;
    return "<html><title>" + line + "</title><body>" + line + "</body></html>";
}

}  // namespace course::testing
