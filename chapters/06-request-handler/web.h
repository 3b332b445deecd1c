// web.h: the web layer over chapter 05's HTTPServer: an Application routes
// each request to a RequestHandler, whose methods (get, post, ...) write
// the response. Tornado's tornado.web.
//
//   class StoryHandler : public RequestHandler {
//   public:
//       void get(const PathArgs& args) override { write("this is story " + args[0]); }
//   };
//
//   Application app({
//       {"/", handler<MainHandler>()},
//       {"/story/([0-9]+)", handler<StoryHandler>(), "story"},
//       {"/old", handler<RedirectHandler>("/new")},     // arguments for initialize()
//   });
//   app.listen(8888);
//   IOLoop::current().start();
//
// For each request the Application finds the first route whose pattern
// matches the whole path, makes a new handler with that route's factory,
// and runs the handler's life cycle:
//
//   initialize(route's arguments) -> prepare() -> get(groups) / post / ...
//        -> finish() (automatic when the method returns, unless the handler
//           called asynchronous()) -> on_finish()
//
// Output is buffered: write() appends to a buffer, finish() sends the
// status, the headers (Content-Length computed) and the body. flush() sends
// what is there early (the response is then chunked).
//
// Errors: throw HTTPError(404) (or any exception: 500) from prepare() or a
// method, and send_error() answers with write_error()'s page; the server
// goes on serving everyone else.
//
// Lifetime: the Application holds each handler from the start of its
// request until finish() (Tornado's connection holds it the same way). A
// handler that never calls finish() is never released, and its client
// waits: see the chapter README, "The forgotten finish()".
//
// Threads: everything on the loop's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "httpserver.h"
#include "httputil.h"
#include "ioloop.h"
#include "routing.h"

namespace course {

class Application;

// Throw it from a handler to answer with an error status: the handler's
// write_error() writes the page. log_message goes to the server's log, never
// to the client; reason replaces the standard phrase on the error page
// ("404: Not Found").
class HTTPError : public std::runtime_error {
public:
    explicit HTTPError(int status_code = 500, std::string log_message = "",
                       std::string reason = "");
    int status_code() const { return status_code_; }
    const std::string& log_message() const { return log_message_; }
    const std::string& reason() const { return reason_; }

private:
    int status_code_;
    std::string log_message_;
    std::string reason_;
};

// get_argument(name) without a default, for a name the request lacks: 400.
class MissingArgumentError : public HTTPError {
public:
    explicit MissingArgumentError(std::string arg_name);
    const std::string& arg_name() const { return arg_name_; }

private:
    std::string arg_name_;
};

class RequestHandler : public std::enable_shared_from_this<RequestHandler> {
public:
    RequestHandler() = default;
    virtual ~RequestHandler() = default;
    RequestHandler(const RequestHandler&) = delete;
    RequestHandler& operator=(const RequestHandler&) = delete;

    // --- The life cycle, in the order the Application calls it. ---

    // The route's arguments: a subclass declares its own initialize(...)
    // (not virtual: each has its own parameters), and handler<T>(args...)
    // calls it with the route's args. The compiler checks they fit.
    void initialize() {}
    // Before the method, for every method. May finish() the request (or
    // throw): then the method is not called.
    virtual void prepare() {}
    // One per HTTP method; the arguments are the route's groups. The
    // defaults answer 405 Method Not Allowed.
    virtual void get(const PathArgs& args);
    virtual void head(const PathArgs& args);
    virtual void post(const PathArgs& args);
    virtual void delete_(const PathArgs& args);  // DELETE ("delete" is a C++ keyword)
    virtual void patch(const PathArgs& args);
    virtual void put(const PathArgs& args);
    virtual void options(const PathArgs& args);
    // After the response is sent, once. For cleanup and logging; the
    // response can no longer change.
    virtual void on_finish() {}

    // --- The request. ---

    HTTPServerRequest& request() const { return *request_; }
    const PathArgs& path_args() const { return path_args_; }
    Application& application() const { return *application_; }

    // The last value of argument `name`, from the query string or a form
    // body (chapter 05 merged both into request().arguments, query first).
    // Values are stripped of surrounding whitespace and control bytes
    // become spaces, as in Tornado. Without a default, a missing argument
    // throws MissingArgumentError (400).
    std::string get_argument(std::string_view name) const;
    std::string get_argument(std::string_view name, std::string_view default_value) const;
    // Every value of `name`, in order ({} if none).
    std::vector<std::string> get_arguments(std::string_view name, bool strip = true) const;

    // application().reverse_url(name, args...).
    template <typename... Args>
    std::string reverse_url(std::string_view name, const Args&... args) const;

    // --- The response. Nothing is sent before flush() or finish(). ---

    // reason: the phrase for the error page; empty for the standard one.
    void set_status(int status_code, std::string_view reason = "");
    int get_status() const { return status_code_; }
    // Replaces / adds a header. A name that is not a token, or a value with
    // a control byte (CR, LF: "header injection"), throws
    // std::invalid_argument instead of breaking the response.
    void set_header(std::string name, std::string_view value);
    void add_header(std::string name, std::string_view value);
    void clear_header(std::string_view name);
    // Called by clear(): override to add headers every response carries.
    virtual void set_default_headers() {}

    // Appends to the output buffer. Throws std::logic_error after finish().
    void write(std::string_view chunk);
    // A JSON document the caller serialised (see json_encode in escape.h),
    // with Content-Type application/json. Not checked.
    void write_json(std::string_view json);
    // Sends the status and headers (the first time) and the buffer now.
    // Without a Content-Length header the body is then chunked.
    void flush();
    // write(chunk), then sends everything and ends the response: adds
    // Content-Length if nothing was flushed, calls on_finish(), lets go of
    // the handler. Throws std::logic_error if called twice.
    void finish(std::string_view chunk = "");
    // 302 (or 301 if permanent, or `status`, 300-399) to `url`, and finish().
    void redirect(std::string_view url, bool permanent = false, int status = 0);
    // Back to a fresh 200 with the default headers and an empty buffer.
    void clear();

    bool finished() const { return finished_; }

    // Tornado's old @asynchronous: the request stays open when the method
    // returns, until someone calls finish(). Returns this handler, for the
    // callback that will finish it to hold:
    //   auto self = asynchronous();
    //   loop.call_later(100ms, [self] { self->finish("done"); });
    std::shared_ptr<RequestHandler> asynchronous();

    // --- Errors. ---

    // Replaces the response with an error page (write_error) and finishes.
    // `error` is the exception that caused it, if any; an HTTPError's
    // reason is used. After a flush() the status cannot change: the
    // response is just ended.
    void send_error(int status_code = 500, const std::exception* error = nullptr);
    // Override for custom error pages. The default writes
    // <html><title>N: Reason</title><body>N: Reason</body></html>.
    virtual void write_error(int status_code, const std::exception* error);

protected:
    // Tornado's _handle_request_exception: logs `error`, then, unless the
    // response is finished, answers with its status (an HTTPError's, or
    // 500) through send_error(). execute() calls it for every exception of
    // prepare() or the method. Protected, not private, for a subclass that
    // runs its method another way and must end it the same way when it
    // throws (a coroutine handler, say). It throws in turn when the error
    // path fails too; the caller decides what then (execute() closes the
    // connection).
    void handle_request_exception(const std::exception& error);
    // For when even handle_request_exception throws: no sensible answer can
    // be sent, so close the connection (the client learns now, not never)
    // and let the Application release the handler (it would hold it
    // forever, as it holds every unfinished one).
    void abandon();

private:
    friend class Application;

    void attach(Application& application, std::shared_ptr<HTTPServerRequest> request);
    void execute(PathArgs path_args);
    void call_method();
    void log_exception(const std::exception& error) const;
    std::string request_summary() const;  // "GET /path (127.0.0.1)"
    void check_header(std::string_view name, std::string_view value) const;

    Application* application_ = nullptr;
    std::shared_ptr<HTTPServerRequest> request_;
    PathArgs path_args_;
    IOLoop::Clock::time_point start_time_;

    int status_code_ = 200;
    std::string reason_ = "OK";
    HTTPHeaders headers_;
    std::string write_buffer_;
    bool headers_written_ = false;
    bool finished_ = false;
    bool auto_finish_ = true;
};

// How a route makes its handler: a new object for every request, then
// initialize() with the route's arguments once the request is attached.
// C++ cannot pass a class around like Python, so handler<T>(args...) wraps
// "make a T, call T::initialize(args...)" in two functions.
struct HandlerFactory {
    std::function<std::shared_ptr<RequestHandler>()> create;
    std::function<void(RequestHandler&)> initialize;
};

template <typename Handler, typename... InitArgs>
HandlerFactory handler(InitArgs... init_args) {
    static_assert(std::is_base_of_v<RequestHandler, Handler>,
                  "a handler class derives from RequestHandler");
    return HandlerFactory{
        [] { return std::make_shared<Handler>(); },
        [init_args...](RequestHandler& created) {
            static_cast<Handler&>(created).initialize(init_args...);
        }};
}

// One line of the route table: pattern, handler, and an optional name for
// reverse_url. Tornado's URLSpec (the tuple (pattern, Handler, kwargs)).
struct URLSpec {
    URLSpec(std::string pattern, HandlerFactory handler, std::string name = "");

    PathMatches matcher;
    HandlerFactory handler;
    std::string name;
};

class Application {
public:
    struct Settings {
        // For paths no route matches; by default an ErrorHandler that
        // answers 404. (Tornado's default_handler_class and
        // default_handler_args: here both are in the factory.)
        HandlerFactory default_handler_class{};
        // Called once per finished request; by default log_request().
        std::function<void(const RequestHandler&)> log_function{};
    };

    // Routes are tried in order; the first whose pattern matches the
    // whole path wins.
    explicit Application(std::vector<URLSpec> handlers = {});
    Application(std::vector<URLSpec> handlers, Settings settings);
    Application(const Application&) = delete;
    Application& operator=(const Application&) = delete;

    // Serves one request: HTTPServer(std::ref(app)) calls this for each.
    void operator()(std::shared_ptr<HTTPServerRequest> request);

    // Starts an HTTPServer for this application (Tornado's app.listen).
    // The Application must outlive the loop's run.
    HTTPServer& listen(std::uint16_t port, const std::string& address = "127.0.0.1",
                       IOLoop& loop = IOLoop::current());

    // The route for `path` and its decoded groups; route is null when no
    // pattern matches (the default handler will serve it).
    struct HandlerMatch {
        const URLSpec* route = nullptr;
        PathArgs path_args;
    };
    HandlerMatch find_handler(std::string_view path) const;

    // The path of the route called `name`, its groups filled with `args`
    // (percent-escaped): reverse_url("story", "7") is "/story/7". Throws
    // std::out_of_range for an unknown name, std::invalid_argument for the
    // wrong number of args or a pattern that cannot be reversed.
    std::string reverse_url(std::string_view name, const std::vector<std::string>& args) const;
    template <typename... Args>
    std::string reverse_url(std::string_view name, const Args&... args) const {
        return reverse_url(name, std::vector<std::string>{url_argument(args)...});
    }

    // Writes "404 GET /x (127.0.0.1) 0.42ms" to stderr for statuses from
    // 400 on. (Tornado logs every request at INFO, WARNING or ERROR level,
    // and by default shows WARNING and up: the same lines.)
    static void log_request(const RequestHandler& handler);

    // Handlers whose request is still open (asynchronous, not finished yet):
    // a window onto the forgotten finish().
    std::size_t open_handlers() const { return open_handlers_.size(); }

private:
    friend class RequestHandler;

    static std::string url_argument(std::string_view text) { return std::string(text); }
    template <typename Number>
        requires std::is_arithmetic_v<Number>
    static std::string url_argument(Number number) {
        return std::to_string(number);
    }

    const HandlerFactory& factory_for(const HandlerMatch& found) const;

    // RequestHandler::finish() calls these.
    void release(const std::shared_ptr<RequestHandler>& handler) { open_handlers_.erase(handler); }
    void log(const RequestHandler& handler) const;

    std::vector<URLSpec> routes_;
    Settings settings_;
    HandlerFactory not_found_;
    std::unordered_set<std::shared_ptr<RequestHandler>> open_handlers_;
    std::vector<std::unique_ptr<HTTPServer>> servers_;
};

template <typename... Args>
std::string RequestHandler::reverse_url(std::string_view name, const Args&... args) const {
    return application_->reverse_url(name, args...);
}

// Answers every request with status_code (Application's 404 for unknown
// paths): initialize(404) sets it, prepare() throws it.
class ErrorHandler : public RequestHandler {
public:
    void initialize(int status_code) { set_status(status_code); }
    void prepare() override { throw HTTPError(get_status()); }
};

// Redirects GET requests to `url`, formatted with the route's groups the
// way Python's str.format is: "{0}" is the first group, "{1}" the second,
// "{}" the next one, "{{" and "}}" are braces. The request's query
// arguments are appended. 301 by default, 302 when not permanent.
//
//   {"/pictures/(.*)", handler<RedirectHandler>("/photos/{0}")}
//   GET /pictures/cat.jpg?size=2  ->  301, Location: /photos/cat.jpg?size=2
class RedirectHandler : public RequestHandler {
public:
    void initialize(std::string url, bool permanent = true);
    void get(const PathArgs& args) override;

private:
    std::string url_;
    bool permanent_ = true;
};

// Python's str.format for positional fields only (RedirectHandler's
// substitution). Throws std::invalid_argument for an unmatched brace or a
// field that is not a number, std::out_of_range for a missing value.
std::string format_url(std::string_view format, const std::vector<std::string>& args);

}  // namespace course
