// web_test_util.h: the application the WebTest suite fetches from, shared
// by the files that test the web layer by subject (web_test.cpp,
// web_request_test.cpp, web_output_test.cpp, web_errors_test.cpp,
// web_connection_test.cpp): its handlers, its routes, and the fixture
// that serves it with AsyncHTTPTestCase. One fixture for the whole suite,
// as GoogleTest wants; it lives in a named namespace so that every file
// sees the same class.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tornado/gen.h"
#include "tornado/testing.h"
#include "tornado/web.h"

namespace tornado::web_test {

using namespace std::chrono_literals;

// --- handlers the tests route to ----------------------------------------------------

class HelloHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
    void head(const PathArgs& args) override { get(args); }
};

class EchoArgsHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        JSON answer = JSON::object();
        answer["path_args"] = args;
        write(answer);
    }
};

// Records the life cycle, for the order test.
inline std::vector<std::string> lifecycle;

class LifecycleHandler : public RequestHandler {
public:
    void initialize(std::string tag) { lifecycle.push_back("initialize " + tag); }
    void prepare() override {
        lifecycle.push_back("prepare");
        if (get_argument("stop", "") == "yes") finish("stopped in prepare");
    }
    void get(const PathArgs&) override {
        lifecycle.push_back("get");
        write("ok");
    }
    void on_finish() override { lifecycle.push_back("on_finish"); }
};

class ArgumentsHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { answer(); }
    void post(const PathArgs&) override { answer(); }

private:
    void answer() {
        JSON out = JSON::object();
        out["a"] = get_argument("a", "default a");
        out["all_a"] = get_arguments("a");
        out["query_a"] = get_query_arguments("a");
        out["body_a"] = get_body_arguments("a");
        out["raw_a"] = get_arguments("a", /*strip=*/false);
        if (get_argument("need_b", "") == "1") out["b"] = get_argument("b");
        write(out);
    }
};

class OutputHandler : public RequestHandler {
public:
    void set_default_headers() override { set_header("X-Default", "yes"); }
    void get(const PathArgs& args) override {
        const std::string& what = args[0];
        if (what == "json") {
            write(JSON{{"b", 1}, {"a", "x"}});
        } else if (what == "json_list") {
            write(JSON::array({1, 2}));
        } else if (what == "status") {
            set_status(299, "Fine Thanks");
            write("custom");
        } else if (what == "headers") {
            set_header("X-One", "1");
            add_header("X-Many", "a");
            add_header("X-Many", "b");
            set_header("X-Gone", "soon");
            clear_header("X-Gone");
            set_header("X-Number", 42);
            set_header("Content-Type", "text/plain");
        } else if (what == "crlf") {
            set_header("X-Evil", "a\r\nSet-Cookie: owned=1");
        } else if (what == "redirect") {
            redirect("/elsewhere");
        } else if (what == "redirect_perm") {
            redirect("/elsewhere", true);
        } else if (what == "redirect_303") {
            redirect("/elsewhere", false, 303);
        } else if (what == "write_after_finish") {
            finish("done");
            write("more");  // throws: logged, the response is already out
        }
    }
};

// Each style of method.
class CallbackHandler : public RequestHandler {
public:
    void get(const PathArgs&) override {
        write("callback ");
        auto self = asynchronous();
        IOLoop::current().call_later(20ms, [self] { self->finish("finished later"); });
    }
};

class CoroutineHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        co_await sleep(10ms);
        write("coroutine ");
        co_await sleep(10ms);
        write("done");
    }
    Task<void> post_async(PathArgs) override {
        co_await sleep(5ms);
        throw HTTPError(418, "log only", "I Am A Teapot");
    }
};

class FlushHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        for (int i = 1; i <= 3; ++i) {
            write("piece " + std::to_string(i) + "\n");
            co_await flush();
        }
        if (get_argument("fail", "") == "1") throw std::runtime_error("after a flush");
    }
};

class ErrorsHandler : public RequestHandler {
public:
    void get(const PathArgs& args) override {
        const std::string& what = args[0];
        if (what == "http") throw HTTPError(404, "secret log detail");
        if (what == "reason") throw HTTPError(499, "", "Custom Reason");
        if (what == "crash") throw std::runtime_error("kaboom <b>");
        if (what == "finish") {
            write("partial ");
            throw Finish("and finished");
        }
        if (what == "send_error") send_error(503);
        if (what == "not_a_status") throw HTTPError(42);
        if (what == "unsafe_reason") throw HTTPError(400, "", "two\r\nlines");
        if (what == "not_modified") throw HTTPError(304);
        if (what == "body204") {
            set_status(204);
            write("a body it cannot have");
        }
        if (what == "body304") {
            set_status(304);
            write("a body it cannot have");
        }
        if (what == "no_server") {
            clear_header("Server");
            clear_header("Date");
            write("anonymous");
        }
    }
};

class CustomErrorPageHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { throw HTTPError(410); }
    void write_error(int status_code, std::exception_ptr) override {
        set_header("Content-Type", "text/plain");
        finish("custom page for " + std::to_string(status_code));
    }
};

class UserHandler : public RequestHandler {
public:
    std::optional<std::string> get_current_user() override {
        std::string name = get_argument("as", "");
        if (name.empty()) return std::nullopt;
        return name;
    }
    void get(const PathArgs&) override {
        require_authenticated();
        write("hello " + *current_user());
    }
    void post(const PathArgs& args) override { get(args); }
};

// Tornado's @removeslash or @addslash, by the route's argument.
class SlashHandler : public RequestHandler {
public:
    void initialize(std::string which) { remove_ = which == "remove"; }
    void get(const PathArgs&) override {
        if (remove_) {
            removeslash();
        } else {
            addslash();
        }
        write("reached " + request().path);
    }
    void post(const PathArgs& args) override { get(args); }

private:
    bool remove_ = true;
};

class StreamingHandler : public RequestHandler {
public:
    bool stream_request_body() const override { return true; }
    void prepare() override { order_ += "prepare;"; }
    void data_received(std::string chunk) override {
        ++pieces_;
        bytes_ += chunk.size();
        if (order_.find("data;") == std::string::npos) order_ += "data;";
    }
    void put(const PathArgs&) override {
        order_ += "put;";
        write(order_ + std::to_string(bytes_) + " bytes, body " + std::to_string(request().body.size()));
    }

private:
    std::string order_;
    std::size_t pieces_ = 0;
    std::size_t bytes_ = 0;
};

// Counts its closes, for the on_connection_close test.
inline int connection_closes = 0;
inline bool long_poll_started = false;

class LongPollHandler : public RequestHandler {
public:
    Task<void> get_async(PathArgs) override {
        long_poll_started = true;
        wait_ = Future<void>();
        try {
            co_await wait_;
        } catch (const CancelledError&) {
            co_return;
        }
    }
    void on_connection_close() override {
        ++connection_closes;
        wait_.cancel();
    }

private:
    Future<void> wait_{nullptr};
};

// Prints the request's tables as JSON, as the demo app's /query and /form
// do: json_encode refuses bytes that are not UTF-8, so only the check
// before prepare() keeps a client's bad bytes from making this a 500.
class TablesHandler : public RequestHandler {
public:
    void get(const PathArgs&) override { post({}); }
    void post(const PathArgs&) override {
        JSON answer = {{"query", JSON::object()}, {"body", JSON::object()},
                       {"files", JSON::object()}, {"cookies", JSON::object()}};
        for (const auto& [name, values] : request().query_arguments) answer["query"][name] = values;
        for (const auto& [name, values] : request().body_arguments) answer["body"][name] = values;
        for (const auto& [field, uploads] : request().files) {
            for (const HTTPFile& file : uploads) answer["files"][field].push_back(file.filename);
        }
        for (const auto& [name, value] : cookies()) answer["cookies"][name] = value;
        write(answer);
    }
};

// Takes a binary argument (a tracker's info_hash) and says how long it is.
class BinaryArgumentHandler : public RequestHandler {
public:
    void check_argument_encoding() override {}
    void get(const PathArgs&) override {
        write(std::to_string(request().query_arguments.at("info_hash").front().size()));
    }
};

// The status of each request, as the Application's log_function saw it.
inline std::vector<int> logged_statuses;

// --- the application under test -------------------------------------------------------

class WebTest : public testing::AsyncHTTPTestCase {
protected:
    std::shared_ptr<HTTPServerConnectionDelegate> get_app() override {
        ApplicationSettings settings;
        settings.cookie_secret = "test-secret";
        settings.login_url = "/login";
        settings.log_function = [](const RequestHandler& handler) {
            logged_statuses.push_back(handler.get_status());
        };
        return std::make_shared<Application>(
            std::vector<URLSpec>{
                {"/", handler<HelloHandler>()},
                {"/args/([^/]*)/(.*)", handler<EchoArgsHandler>(), "args"},
                {"/story/([0-9]+)", handler<HelloHandler>(), "story"},
                {"/lifecycle", handler<LifecycleHandler>("tag")},
                {"/arguments", handler<ArgumentsHandler>()},
                {"/output/(.*)", handler<OutputHandler>()},
                {"/callback", handler<CallbackHandler>()},
                {"/coroutine", handler<CoroutineHandler>()},
                {"/flush", handler<FlushHandler>()},
                {"/errors/(.*)", handler<ErrorsHandler>()},
                {"/custom_error", handler<CustomErrorPageHandler>()},
                {"/user", handler<UserHandler>()},
                {"/remove/[a-z/]*", handler<SlashHandler>("remove")},
                {"/add/[a-z/]*", handler<SlashHandler>("add")},
                {"//+[a-z.]+/+", handler<SlashHandler>("remove")},
                {"//+[a-z.]+", handler<SlashHandler>("add")},
                {"/upload", handler<StreamingHandler>()},
                {"/longpoll", handler<LongPollHandler>()},
                {"/tables", handler<TablesHandler>()},
                {"/binary", handler<BinaryArgumentHandler>()},
                {"/pictures/(.*)", handler<RedirectHandler>("/photos/\\1")},
                {"/old/(.*)/(.*)", handler<RedirectHandler>("/new/{1}/{0}", false)},
                {"/first", handler<HelloHandler>()},
                {"/first", handler<EchoArgsHandler>()},
            },
            settings);
    }

    HTTPResponse post(std::string path, std::string body,
                      std::string content_type = "application/x-www-form-urlencoded") {
        HTTPRequest request;
        request.method = "POST";
        request.body = std::move(body);
        request.headers.set("Content-Type", content_type);
        return fetch(std::move(path), std::move(request));
    }

    void SetUp() override {
        lifecycle.clear();
        logged_statuses.clear();
        connection_closes = 0;
        long_poll_started = false;
        AsyncHTTPTestCase::SetUp();
    }
};

}  // namespace tornado::web_test
