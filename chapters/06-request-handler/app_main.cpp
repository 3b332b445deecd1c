// app_main.cpp: ch06_app, a small application in the style of Tornado's
// user guide, on the chapter's Application and RequestHandler.
//
//   build/bin/ch06_app [--port=8888] [--address=127.0.0.1]
//
//   GET  /                 Hello, world (HEAD / too)
//   GET  /index            a page of links, each built with reverse_url
//   GET  /link             <a href="/story/1">link to story 1</a> (reverse_url)
//   GET  /story/([0-9]+)   this is story N                  (route name "story")
//   GET  /myform           a form;  POST /myform  "You wrote ..." (escaped)
//   GET  /query?a=1&a=2    JSON: each argument name to the list of its values
//   GET  /redirect/temp    302 to /;  GET /redirect/perm  301 to /
//   GET  /pictures/(.*)    RedirectHandler: 301 to /photos/{0}
//   GET  /photos/(.*)      photo NAME
//   GET  /error/([0-9]+)   HTTPError(N) for N in 400-599: the default error page
//   GET  /crash            the handler throws: 500, and the server goes on
//   GET  /sleep?ms=N       answered N ms later from a timer (callback style);
//                          the loop serves everyone else meanwhile
//   GET  /forgot           asynchronous() and never finish(): the client waits
//   anything else          404; a known path with a method it lacks: 405
//
// Ctrl-C (SIGINT) or SIGTERM stops it.

#include <charconv>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "command_line.h"
#include "escape.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

using course::handler;
using course::HTTPError;
using course::IOLoop;
using course::PathArgs;
using course::RequestHandler;

class MainHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
    // Tornado answers HEAD with 405 unless the handler defines head(). The
    // connection drops the body of a HEAD response; the headers stay.
    void head(const PathArgs& args) override { get(args); }
};

class IndexHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("<html><body><h1>Chapter 06</h1><ul>");
        link(reverse_url("story", 1), "story 1");
        link(reverse_url("story", 42), "story 42");
        link(reverse_url("form"), "a form");
        link(reverse_url("query") + "?a=1&a=2&b=x", "JSON of the query");
        link(reverse_url("pictures", "cat.jpg"), "/pictures/cat.jpg (RedirectHandler)");
        link(reverse_url("sleep") + "?ms=500", "an answer 500 ms later");
        link(reverse_url("error", 403), "HTTPError(403)");
        write("</ul></body></html>");
    }

private:
    void link(const std::string& href, const std::string& text) {
        write("<li><a href=\"" + course::xhtml_escape(href) + "\">" + course::xhtml_escape(text) +
              "</a></li>");
    }
};

class LinkHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("<a href=\"" + reverse_url("story", "1") + "\">link to story 1</a>");
    }
};

class StoryHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override { write("this is story " + args[0]); }
};

class MyFormHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("<html><body><form action=\"/myform\" method=\"POST\">"
              "<input type=\"text\" name=\"message\">"
              "<input type=\"submit\" value=\"Submit\">"
              "</form></body></html>");
    }
    // What a user typed goes back into a page: escaped, or "<script>" in
    // the field would run in the browser.
    void post(const PathArgs&) override {
        write("You wrote " + course::xhtml_escape(get_argument("message")));
    }
};

// {"a": ["1", "2"], "b": ["x"]}, in the spacing Python's json.dumps uses.
class QueryHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        std::string json = "{";
        for (const auto& [name, values] : request().query_arguments) {
            if (json.size() > 1) json += ", ";
            json += course::json_encode(name) + ": [";
            for (std::size_t i = 0; i < values.size(); ++i) {
                json += (i > 0 ? ", " : "") + course::json_encode(values[i]);
            }
            json += "]";
        }
        write_json(json + "}");
    }
};

class RedirectToRootHandler : public RequestHandler {
public:
    void initialize(bool permanent) { permanent_ = permanent; }
    void get(const PathArgs&) override { redirect("/", permanent_); }

private:
    bool permanent_ = false;
};

class PhotoHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override { write("photo " + course::xhtml_escape(args[0])); }
};

int int_in_range(const std::string& text, int low, int high) {
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < low || value > high) {
        throw HTTPError(400, "not a number from " + std::to_string(low) + " to " +
                                 std::to_string(high) + ": " + text);
    }
    return value;
}

class ErrorStatusHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override { throw HTTPError(int_in_range(args[0], 400, 599)); }
};

class CrashHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw std::runtime_error("the crash handler crashed"); }
};

// Callback style: get() returns at once, the request stays open, and a
// timer finishes it. `self` in the timer keeps the handler alive for it.
class SleepHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        int ms = int_in_range(get_argument("ms", "100"), 0, 60000);
        auto self = asynchronous();
        IOLoop::current().call_later(std::chrono::milliseconds(ms), [self, ms] {
            self->finish("slept " + std::to_string(ms));
        });
    }
};

// The bug this chapter warns about: asynchronous() and no finish(). The
// client waits until it gives up; the handler stays in the Application.
class ForgotHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        asynchronous();
        write("this is never sent");
        std::fprintf(stderr, "ch06_app: GET /forgot will never finish (requests open: %zu)\n",
                     application().open_handlers());
    }
};

}  // namespace

int main(int argc, char** argv) {
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        IOLoop loop;
        course::Application app({
            {"/", handler<MainHandler>()},
            {"/index", handler<IndexHandler>()},
            {"/link", handler<LinkHandler>()},
            {"/story/([0-9]+)", handler<StoryHandler>(), "story"},
            {"/myform", handler<MyFormHandler>(), "form"},
            {"/query", handler<QueryHandler>(), "query"},
            {"/redirect/temp", handler<RedirectToRootHandler>(false)},
            {"/redirect/perm", handler<RedirectToRootHandler>(true)},
            {"/pictures/(.*)", handler<course::RedirectHandler>("/photos/{0}"), "pictures"},
            {"/photos/(.*)", handler<PhotoHandler>()},
            {"/error/([0-9]+)", handler<ErrorStatusHandler>(), "error"},
            {"/crash", handler<CrashHandler>()},
            {"/sleep", handler<SleepHandler>(), "sleep"},
            {"/forgot", handler<ForgotHandler>()},
        });
        course::HTTPServer& server = app.listen(options.port, options.address, loop);
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch06_app");
        course::announce_listening(options.address, server.port());
        loop.start();
        loop.remove_handler(signals.get());
        std::fprintf(stderr, "ch06_app: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch06_app: %s\n", error.what());
        return 1;
    }
    return 0;
}
