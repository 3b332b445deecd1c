// tornado/web.h: Application, RequestHandler and the handlers that come
// with them (Tornado's `tornado.web`).
//
//   class MainHandler : public tornado::RequestHandler {
//   public:
//       void get(const tornado::PathArgs&) override { write("Hello, world"); }
//   };
//
//   class StoryHandler : public tornado::RequestHandler {
//   public:
//       tornado::Task<void> get_async(tornado::PathArgs args) override {   // async def get
//           co_await tornado::sleep(std::chrono::milliseconds(10));
//           write("this is story " + args[0]);
//       }
//   };
//
//   tornado::Application app({
//       {"/", tornado::handler<MainHandler>()},
//       {"/story/([0-9]+)", tornado::handler<StoryHandler>(), "story"},
//       {"/old/(.*)", tornado::handler<tornado::RedirectHandler>("/new/{0}")},
//   }, {.cookie_secret = "change me"});
//   app.listen(8888);
//   tornado::IOLoop::current().start();
//
// For each request the Application finds the first route whose pattern
// matches the whole path, makes a new handler with that route's factory,
// and runs Tornado's life cycle:
//
//   initialize(route's arguments)        when the handler is made
//   prepare()                            for every method; may finish() or throw
//   [data_received(chunk)...]            only with stream_request_body()
//   get / post / ... (the route's groups, percent-decoded)
//   finish()                             automatic when the method returns,
//                                        unless it went asynchronous
//   on_finish()                          once the response is sent
//   on_connection_close()                if the client leaves before the end
//
// A method is written in one of three styles:
//
// * synchronous: `void get(const PathArgs&)`; the response is finished when
//   it returns;
// * callback: `void get(const PathArgs&)` that calls asynchronous() and
//   hands the handler it returns to a callback, which calls finish() later
//   (Tornado's old @asynchronous);
// * coroutine: `Task<void> get_async(PathArgs)` (Tornado's `async def
//   get`); the response is finished when the coroutine ends.
//
// Output is buffered: write() appends, finish() sends the status, the
// headers and the body in one write; flush() sends what there is early
// (the response is then chunked, unless a Content-Length was set).
//
// Errors: throw HTTPError(404) (or any exception: 500) from prepare() or a
// method, synchronous or coroutine, and the handler answers with
// write_error()'s page; the server goes on serving everyone else. Throw
// Finish() to end the request early with what was written.
//
// Tornado's defaults kept: every GET/HEAD 200 without a flush gets an Etag
// (SHA-1 of the body) and a matching If-None-Match answers 304;
// Content-Type "text/html; charset=UTF-8" unless set; one access-log line
// per request (tornado/log.h's format).
//
// Templates (tornado/template.h): render("page.html", {{"title", "Home"}})
// loads the file under the template_path setting, generates it with the
// arguments and get_template_namespace() (handler, request, current_user,
// static_url, reverse_url, xsrf_form_html, the ui_methods, and the
// ui_modules {% module %} calls), puts the JavaScript and CSS that the
// page's UIModules asked for into its <head> and <body>, and finishes.
//
// Settings that add to every request, off unless asked for (as Tornado's):
// compress_response gzips responses for clients that accept it
// (GZipContentEncoding, an OutputTransform); xsrf_cookies answers 403 to a
// POST, PUT, PATCH or DELETE without the _xsrf cookie's token
// (check_xsrf_cookie; xsrf_form_html() puts it in a form).
//
// Threads: everything on the loop's thread. Lifetime: the connection holds
// the handler until the response is finished; a callback or a coroutine
// that outlives the request holds it through asynchronous()'s pointer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/escape.h"
#include "tornado/gen.h"
#include "tornado/httpserver.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/locale.h"
#include "tornado/routing.h"
#include "tornado/template.h"

namespace tornado {

class Application;

// --- exceptions --------------------------------------------------------------------

// Throw it from a handler to answer with an error status (Tornado's
// HTTPError). `log_message` goes to the log (never to the client);
// `reason` replaces the standard phrase in the status line and error page.
// what() holds all three, for code that catches std::exception: "HTTP 404:
// Not Found (log_message)".
class HTTPError : public std::runtime_error {
public:
    explicit HTTPError(int status_code = 500, std::string log_message = {},
                       std::string reason = {});
    int status_code() const noexcept { return status_code_; }
    const std::string& log_message() const noexcept { return log_message_; }
    const std::string& reason() const noexcept { return reason_; }

private:
    int status_code_;
    std::string log_message_;
    std::string reason_;
};

// get_argument() of an argument that is not there: 400.
class MissingArgumentError : public HTTPError {
public:
    explicit MissingArgumentError(std::string arg_name);
    const std::string& arg_name() const noexcept { return arg_name_; }

private:
    std::string arg_name_;
};

// Throw it to end the request: finish(chunk) is called and no error page is
// written (Tornado's Finish).
class Finish : public std::exception {
public:
    explicit Finish(std::string chunk = {}) : chunk_(std::move(chunk)) {}
    const char* what() const noexcept override { return "Finish"; }
    const std::string& chunk() const noexcept { return chunk_; }

private:
    std::string chunk_;
};

// --- output transforms ---------------------------------------------------------------

// Rewrites a response on its way out (Tornado's OutputTransform): one per
// request, made by the factories given to Application::add_transform. The
// transforms run in the order they were added (compress_response's gzip
// first), each on what the one before it returned.
class OutputTransform {
public:
    virtual ~OutputTransform() = default;
    // The first piece, with the status and the headers, as the head goes out
    // (the first flush() or finish()): returns the piece to send, and may
    // change the status and the headers in place. `finishing`: this piece is
    // the whole response. The Set-Cookie lines join the headers after the
    // transforms. The default changes nothing.
    virtual std::string transform_first_chunk(int& status_code, HTTPHeaders& headers,
                                              std::string chunk, bool finishing) {
        (void)status_code;
        (void)headers;
        (void)finishing;
        return chunk;
    }
    // Each later piece, from flush() or finish(); `finishing`: the last one,
    // which finish() passes even when it is empty. The default changes nothing.
    virtual std::string transform_chunk(std::string chunk, bool finishing) {
        (void)finishing;
        return chunk;
    }
    // Whether, after transform_first_chunk, transform_chunk gives every
    // piece back unchanged: the body may then go around the transform (a
    // large static file, by sendfile()). Only a transform that says so;
    // GZipContentEncoding does when it is not compressing.
    virtual bool passes_body_unchanged() const { return false; }
};

// What Application::add_transform takes: called for each request when its
// handler is made, before initialize() and before the body has come. It
// must return a transform, never nullptr.
using OutputTransformFactory =
    std::function<std::unique_ptr<OutputTransform>(const HTTPServerRequest&)>;

// gzip for clients that accept it (Tornado's GZipContentEncoding, what the
// compress_response setting adds): the compressible_type()s, when the
// whole response is at least kMinLength bytes or comes in several pieces,
// and the handler has not set a Content-Encoding. Adds "Vary:
// Accept-Encoding" either way. zlib at level kLevel, 6, as Tornado.
class GZipContentEncoding : public OutputTransform {
public:
    static constexpr int kLevel = 6;
    static constexpr std::size_t kMinLength = 1024;

    explicit GZipContentEncoding(const HTTPServerRequest& request);
    ~GZipContentEncoding() override;
    std::string transform_first_chunk(int& status_code, HTTPHeaders& headers, std::string chunk,
                                      bool finishing) override;
    std::string transform_chunk(std::string chunk, bool finishing) override;
    bool passes_body_unchanged() const override { return !gzipping_; }

    // text/*, and Tornado's list of others: application/javascript,
    // x-javascript, xml, atom+xml, json and xhtml+xml, and image/svg+xml.
    // `content_type` is the media type alone, compared as it is: the caller
    // takes the parameters off ("; charset=UTF-8"), and the case counts.
    static bool compressible_type(std::string_view content_type);

private:
    struct Deflater;  // zlib's stream, kept out of this header
    bool gzipping_;
    std::unique_ptr<Deflater> deflater_;
};

// --- RequestHandler ----------------------------------------------------------------

// set_cookie's attributes (Tornado's keyword arguments), each left out of
// the Set-Cookie line when empty or unset: Domain and Path (path "/" by
// default, as Tornado's); the expiry, as an absolute time (`expires`) or
// days from now (`expires_days`; `expires` wins when both are set, as in
// Tornado), or Max-Age in seconds; the HttpOnly and Secure flags; SameSite,
// sent as given. A domain, path or samesite with CR or LF is refused
// (std::invalid_argument).
struct CookieOptions {
    std::string domain{};
    std::string path = "/";
    std::optional<std::time_t> expires{};  // an absolute time
    std::optional<double> expires_days{};  // or days from now
    std::optional<long long> max_age{};    // seconds
    bool httponly = false;
    bool secure = false;
    std::string samesite{};  // "Strict", "Lax" or "None"
};

class RequestHandler;

// A piece of a page that a template puts in with {% module Name(...) %}
// (Tornado's UIModule): render() gives its HTML, and the hooks below the
// JavaScript and CSS it needs, which RequestHandler::render() puts in the
// page once however often the module appears. One object per handler and
// module name, made the first time the page uses it.
//
//   class Entry : public tornado::UIModule {
//   public:
//       using UIModule::UIModule;
//       std::string render(const tornado::TemplateArguments& arguments) override {
//           return render_string("entry.html", {{"entry", arguments.positional.at(0).to_json()}});
//       }
//       std::vector<std::string> css_files() override { return {"entry.css"}; }
//   };
//   settings.ui_modules["Entry"] = tornado::ui_module<Entry>();
//   // in a template: {% module Entry(entry) %}
class UIModule {
public:
    // A subclass takes it over (`using UIModule::UIModule;`): ui_module<M>()
    // makes each module with the handler whose page uses it.
    explicit UIModule(RequestHandler& handler) : handler_(handler) {}
    virtual ~UIModule() = default;
    UIModule(const UIModule&) = delete;
    UIModule& operator=(const UIModule&) = delete;

    // The module's HTML, written into the page as it is (not escaped).
    virtual std::string render(const TemplateArguments& arguments) = 0;
    // The hooks: what RequestHandler::render() adds to the page for the
    // module, asked once per page however often the module appears, the
    // modules in the order the page first used them; empty: nothing.
    // embedded_javascript: JavaScript for the page's <script> block before
    // its last </body>.
    virtual std::string embedded_javascript() { return {}; }
    // Files for <script src> tags before the last </body>. A path that does
    // not start with "/", "http:" or "https:" goes through static_url (which
    // needs the static_path setting); each URL is linked once per page.
    virtual std::vector<std::string> javascript_files() { return {}; }
    // CSS for the page's <style> block before its first </head>.
    virtual std::string embedded_css() { return {}; }
    // Files for <link rel="stylesheet"> tags before the first </head>, the
    // paths taken as javascript_files' are.
    virtual std::vector<std::string> css_files() { return {}; }
    // HTML put as it is before the first </head>.
    virtual std::string html_head() { return {}; }
    // HTML put as it is before the first </body>.
    virtual std::string html_body() { return {}; }

    // The handler whose page uses the module; it outlives the module.
    RequestHandler& handler() const noexcept { return handler_; }
    // handler().request().
    HTTPServerRequest& request() const;
    // handler().current_user(), which asks get_current_user() the first time.
    const std::optional<std::string>& current_user() const;
    // handler().render_string(...).
    std::string render_string(const std::string& template_name,
                              const JSON& arguments = JSON::object(),
                              const TemplateNamespace& extra = {}) const;

private:
    RequestHandler& handler_;
};

// The built-in module "Template": {% module Template("entry.html",
// entry=entry) %} renders another template as a module. That template may
// call set_resources(javascript_files=[...], embedded_css="...", ...) with
// the hooks' names as keywords; each template's resources are added once.
class TemplateModule : public UIModule {
public:
    using UIModule::UIModule;
    std::string render(const TemplateArguments& arguments) override;
    std::string embedded_javascript() override;
    std::vector<std::string> javascript_files() override;
    std::string embedded_css() override;
    std::vector<std::string> css_files() override;
    std::string html_head() override;
    std::string html_body() override;

private:
    void set_resources(const std::string& path, const TemplateArguments& arguments);
    // Every value given for `key`, in the order the templates gave them.
    std::vector<std::string> resources(std::string_view key) const;
    std::vector<std::pair<std::string, JSON>> resources_;  // template path -> its set_resources
};

// How the Application makes a module for a handler (Tornado passes the
// class): ui_module<Entry>() for the settings' ui_modules.
using UIModuleFactory = std::function<std::unique_ptr<UIModule>(RequestHandler&)>;
// The factory of Module, whose constructor takes the handler alone (as
// `using UIModule::UIModule;` gives it).
template <typename Module>
UIModuleFactory ui_module() {
    static_assert(std::is_base_of_v<UIModule, Module>,
                  "a UI module derives from tornado::UIModule");
    return [](RequestHandler& handler) { return std::make_unique<Module>(handler); };
}

// A function every template of the application can call, given the
// handler first (Tornado's ui_methods: `def f(handler, ...)`).
using UIMethod =
    std::function<TemplateValue(RequestHandler& handler, const TemplateArguments& arguments)>;

// The base of every handler (Tornado's RequestHandler): a new object for
// each request, made by its route's HandlerFactory (handler<T>); each goes
// through the life cycle at the top of this header. A subclass overrides
// the methods it serves and the hooks it needs.
class RequestHandler : public std::enable_shared_from_this<RequestHandler> {
public:
    RequestHandler() = default;
    virtual ~RequestHandler() = default;
    RequestHandler(const RequestHandler&) = delete;
    RequestHandler& operator=(const RequestHandler&) = delete;

    // --- The life cycle, in the order it runs (see the module comment). ---

    // A subclass declares its own initialize(...) (not virtual: each has its
    // own parameters); handler<T>(args...) calls it with the route's args.
    void initialize() {}
    // Runs before the method, whatever the method, once the XSRF and
    // argument checks have passed; a finish() or a redirect here answers
    // the request, and the method is not called. Synchronous only (Tornado's
    // may be a coroutine): the method runs as soon as it returns. With
    // stream_request_body(), it runs when the head has come, before the body.
    virtual void prepare() {}
    // One per HTTP method, with the route's groups. The defaults run the
    // coroutine of the same name (get_async, ...), whose default answers
    // 405 Method Not Allowed. Methods other than these seven are answered
    // 405 before prepare().
    virtual void get(const PathArgs& args) { run_coroutine(get_async(args)); }
    // HEAD: the response goes out without the body the method writes, but
    // with that body's Content-Length and Etag, as its GET would have.
    virtual void head(const PathArgs& args) { run_coroutine(head_async(args)); }
    // POST; with the xsrf_cookies setting, called only once
    // check_xsrf_cookie() has passed.
    virtual void post(const PathArgs& args) { run_coroutine(post_async(args)); }
    // DELETE (`delete` is a keyword in C++); XSRF-checked as post() is.
    virtual void delete_(const PathArgs& args) { run_coroutine(delete_async(args)); }
    // PATCH; XSRF-checked as post() is.
    virtual void patch(const PathArgs& args) { run_coroutine(patch_async(args)); }
    // PUT; XSRF-checked as post() is.
    virtual void put(const PathArgs& args) { run_coroutine(put_async(args)); }
    // OPTIONS; exempt from the XSRF check, as GET and HEAD are.
    virtual void options(const PathArgs& args) { run_coroutine(options_async(args)); }
    // The coroutine styles (Tornado's `async def get(self, *args)`).
    // Parameters by value: a coroutine outlives its caller's arguments.
    // The response is finished when the coroutine ends, unless it has been;
    // what it throws is answered as a synchronous method's exception is.
    virtual Task<void> get_async(PathArgs args);
    // head()'s coroutine; the default answers 405, as get_async's does.
    virtual Task<void> head_async(PathArgs args);
    // post()'s coroutine; the default answers 405.
    virtual Task<void> post_async(PathArgs args);
    // delete_()'s coroutine; the default answers 405.
    virtual Task<void> delete_async(PathArgs args);
    // patch()'s coroutine; the default answers 405.
    virtual Task<void> patch_async(PathArgs args);
    // put()'s coroutine; the default answers 405.
    virtual Task<void> put_async(PathArgs args);
    // options()'s coroutine; the default answers 405.
    virtual Task<void> options_async(PathArgs args);
    // Runs once the response is over, for cleaning up: after finish() has
    // handed it to the connection and logged its access line, or after
    // FallbackHandler's callback. What it throws is logged. Not called for
    // a response that never finishes, nor for one that a StreamClosedError
    // ended (the client left during a flush() and the method let the
    // exception through).
    virtual void on_finish() {}
    // The client went away before the response was finished (a long poll
    // whose browser closed): the connection was reset or failed, or the
    // client's FIN came while the handler waits. Not called after finish().
    // A FIN may be only a half-close (the client still reads): the
    // connection stays open, and what the handler writes afterwards is
    // still sent (Tornado closes at the FIN, so that answer is lost).
    virtual void on_connection_close() {}

    // --- Streaming request bodies (Tornado's @stream_request_body). ---

    // Return true to get the body piece by piece in data_received() as it
    // arrives, after prepare() and before the method (which then finds
    // request().body empty). prepare() may raise the limits with
    // request().connection->set_max_body_size().
    virtual bool stream_request_body() const { return false; }
    // A piece of the body, with stream_request_body(); the method runs after
    // the last. Pieces that come after the response is finished are
    // dropped; what it throws is answered as a method's exception is. The
    // default throws std::logic_error: a streaming handler must override it
    // (or data_received_async).
    virtual void data_received(std::string chunk);
    // The same, for a handler that wants to slow the client down (Tornado's
    // data_received may return a Future): the next piece comes once the
    // Future has resolved, and until then the client's window stays shut
    // (HTTP/2) or its bytes stay unread (HTTP/1.1). A Future that fails is
    // answered as a method's exception is. The default calls
    // data_received() and returns an empty Future (nothing to wait for).
    virtual Future<void> data_received_async(std::string chunk);

    // --- The request. ---

    // The request this handler serves, from attach() on (a handler that
    // serves none, such as static_url's StaticFileHandler, must not ask).
    HTTPServerRequest& request() const { return *request_; }
    // The same request, shared: for code that keeps it after the handler
    // is gone (FallbackHandler's callback).
    const std::shared_ptr<HTTPServerRequest>& request_ptr() const { return request_; }
    Application& application() const { return *application_; }
    // The route's groups, percent-decoded and checked to be UTF-8: the
    // method's `args`. Set just before prepare(), so still empty in
    // initialize(); empty when the pattern names its groups (path_kwargs()).
    const PathArgs& path_args() const noexcept { return path_args_; }
    // The groups of a route whose pattern names them, (?P<id>[0-9]+): by
    // name, and then path_args() (the method's argument) is empty (Tornado's
    // path_kwargs).
    const PathKwargs& path_kwargs() const noexcept;

    // The last value of `name` from the query or a form body, whitespace
    // stripped and control characters turned to spaces (Tornado's
    // get_argument). Missing: MissingArgumentError (400), or the default.
    // A value that is not UTF-8: HTTPError 400.
    std::string get_argument(std::string_view name, bool strip = true) const;
    std::string get_argument(std::string_view name, std::string_view default_value,
                             bool strip = true) const;
    // (Without this, a string literal default would pick the bool overload.)
    std::string get_argument(std::string_view name, const char* default_value,
                             bool strip = true) const {
        return get_argument(name, std::string_view(default_value), strip);
    }
    // Every value of `name`, the query's then the body's, each cleaned as
    // get_argument's is; none: empty (never MissingArgumentError).
    std::vector<std::string> get_arguments(std::string_view name, bool strip = true) const;
    // get_argument, from the query string only.
    std::string get_query_argument(std::string_view name, bool strip = true) const;
    std::string get_query_argument(std::string_view name, std::string_view default_value,
                                   bool strip = true) const;
    std::string get_query_argument(std::string_view name, const char* default_value,
                                   bool strip = true) const {
        return get_query_argument(name, std::string_view(default_value), strip);
    }
    // get_arguments, from the query string only.
    std::vector<std::string> get_query_arguments(std::string_view name, bool strip = true) const;
    // get_argument, from a form body only (urlencoded or multipart). A body
    // that stream_request_body() hands to data_received() is not parsed:
    // no arguments come from it.
    std::string get_body_argument(std::string_view name, bool strip = true) const;
    std::string get_body_argument(std::string_view name, std::string_view default_value,
                                  bool strip = true) const;
    std::string get_body_argument(std::string_view name, const char* default_value,
                                  bool strip = true) const {
        return get_body_argument(name, std::string_view(default_value), strip);
    }
    // get_arguments, from a form body only, as get_body_argument.
    std::vector<std::string> get_body_arguments(std::string_view name, bool strip = true) const;

    // Cookies (Tornado's get_cookie / set_cookie / clear_cookie): the ones
    // the request sent (its Cookie header, parsed on first use). What
    // set_cookie and clear_cookie do goes to the client with the response,
    // and does not change what these return.
    const CookieMap& cookies() const { return request_->cookies(); }
    // The value of the request's cookie `name`, or nothing (or
    // `default_value`).
    std::optional<std::string> get_cookie(std::string_view name) const;
    std::string get_cookie(std::string_view name, std::string_view default_value) const;
    // Adds a Set-Cookie line to the response; a second set_cookie of the
    // same name replaces the first, and one after the head has gone out
    // (a flush()) is lost. An empty name, a name that is not a token, or a
    // name or value with a control character or a space is refused
    // (std::invalid_argument); a value with other special characters is
    // quoted as Python's SimpleCookie does.
    void set_cookie(std::string_view name, std::string_view value, const CookieOptions& options);
    void set_cookie(std::string_view name, std::string_view value) {
        set_cookie(name, value, CookieOptions());
    }
    // Tells the client to delete the cookie: set_cookie of an empty value
    // that expired a year ago (Tornado's way). A browser deletes it only if
    // `path` and `domain` are the ones it was set with.
    void clear_cookie(std::string_view name, std::string_view path = "/",
                      std::string_view domain = "");
    // clear_cookie for every cookie the request sent (Tornado's
    // clear_all_cookies); as with set_cookie, the client sees it next time.
    void clear_all_cookies(std::string_view path = "/", std::string_view domain = "");

    // Signed cookies, with the application's cookie_secret (HMAC-SHA256,
    // Tornado's version 2 format, so Python Tornado reads ours and we read
    // its). set_secure_cookie sets create_signed_value(name, value) for
    // `expires_days` days (unless `options` has an `expires`). It throws
    // std::logic_error without a cookie_secret or cookie_secrets, as
    // get_secure_cookie and create_signed_value do.
    void set_secure_cookie(std::string_view name, std::string_view value, double expires_days = 30,
                           CookieOptions options = {});
    // The value of the signed cookie `name`; nothing when the cookie is
    // missing, tampered with, signed for another name, older than
    // max_age_days (by the time it was signed) or not version 2. With
    // cookie_secrets, it is checked with the key of the version it names
    // (no such key: nothing).
    std::optional<std::string> get_secure_cookie(std::string_view name,
                                                 double max_age_days = 31) const;
    // `value` signed for `name`, as set_secure_cookie sets it, to carry
    // elsewhere (decode_signed_value reads it): with cookie_secrets' key of
    // the key_version setting when there are cookie_secrets (std::logic_error
    // without a key_version), else with cookie_secret.
    std::string create_signed_value(std::string_view name, std::string_view value) const;
    // The key version that signed the cookie `name` (with cookie_secrets),
    // or nothing when there is no such cookie or it is not version 2. It
    // says which key signed it, not that the signature is good: use
    // get_secure_cookie for the value.
    std::optional<int> get_secure_cookie_key_version(std::string_view name) const;

    // The user of this request: get_current_user() the first time it is
    // asked (override it, e.g. from a signed cookie), then kept.
    const std::optional<std::string>& current_user();
    // Sets current_user() for the rest of the request; get_current_user()
    // is then not called (Tornado's current_user setter).
    void set_current_user(std::optional<std::string> user);
    // Override it: who the user is (from a signed cookie, say), or nothing
    // for nobody. Called at most once per request, by the first
    // current_user(). Any value counts as a user, even "" (Python's `if not
    // self.current_user` would take "" for nobody).
    virtual std::optional<std::string> get_current_user() { return std::nullopt; }
    // Tornado's @authenticated, called first thing in a method or prepare():
    // without a current user, a GET or HEAD is redirected to login_url
    // (with ?next=), anything else answered 403.
    void require_authenticated();
    // Where require_authenticated sends the user: the login_url setting
    // (std::logic_error when it is empty). Override for another.
    virtual std::string get_login_url() const;

    // The user's language (Tornado's locale property, tornado/locale.h):
    // get_user_locale(), or when that gives none, get_browser_locale(); asked
    // once per request, then kept. Templates' _ and pgettext translate with
    // it, and `locale` is in their namespace. set_locale replaces it.
    const Locale& locale();
    // Replaces locale() for the rest of the request. The handler keeps a
    // pointer: the Locale must outlive the request, as the ones locale::get
    // returns do (they live as long as the process).
    void set_locale(const Locale& locale);
    // Override to take the language from the user (a setting kept for the
    // account); nullptr (the default): the browser's header decides.
    virtual const Locale* get_user_locale() { return nullptr; }
    // The locale the Accept-Language header asks for, or `default_code`'s
    // when it asks for none we have (locale::get_browser_locale).
    const Locale& get_browser_locale(std::string_view default_code = "en_US") const;
    // Tornado's @removeslash and @addslash, called first thing in a method
    // (as require_authenticated is): a GET or HEAD of /items/ (removeslash)
    // or /items (addslash) is redirected for good (301) to the other
    // spelling, its query kept, and the method ends there (Finish); any
    // other method gets 404, since a redirected POST would lose its body.
    // removeslash leaves "/" alone. The route's pattern must match both
    // spellings (r"/items/*"). A path that would start with "//" is sent to
    // "/..." instead: a browser takes "//host" for another site.
    void removeslash();
    // Tornado's @addslash: /items to /items/, as removeslash describes.
    void addslash();
    // Throws std::logic_error ("You must define the 'login_url' setting in
    // your application to use FEATURE") unless the application has the
    // setting (Tornado's require_setting): cookie_secret, login_url,
    // static_path, template_path, default_host (not empty), xsrf_cookies,
    // compress_response, debug (true). Another name: std::invalid_argument.
    void require_setting(std::string_view name, std::string_view feature = "this feature") const;

    // XSRF protection (Tornado's, with the xsrf_cookies setting): every
    // POST, PUT, PATCH and DELETE must carry the token of the _xsrf cookie,
    // as the _xsrf argument or an X-Xsrftoken / X-Csrftoken header, else
    // 403. xsrf_token() sets the cookie the first time a page asks for it
    // (masked anew per request, version 2 as Tornado writes it);
    // xsrf_form_html() is the hidden form field that carries it.
    const std::string& xsrf_token();
    // `<input type="hidden" name="_xsrf" value="..."/>` with xsrf_token(),
    // escaped. Like xsrf_token(), it may set the cookie, which a response
    // can carry only until its head goes out: call it before any flush().
    std::string xsrf_form_html();
    // Throws HTTPError(403) unless the request carries the cookie's token
    // (called before prepare() when xsrf_cookies is on; override to exempt).
    virtual void check_xsrf_cookie();
    // Throws HTTPError(400) naming the first argument that is not UTF-8:
    // the names and values of the query and body arguments, each uploaded
    // file's field name, file name and content type, and the cookies'
    // names and values. Called before prepare(), so a handler that prints
    // the request's tables (request().query_arguments, files, cookies())
    // as text cannot turn a client's bad bytes into json_encode's
    // exception, a 500. (Tornado keeps them as bytes, which Python code
    // cannot take for text by mistake; a std::string can be both.)
    // Override to do nothing in a handler that takes binary arguments
    // (a BitTorrent tracker's info_hash) and reads them as bytes.
    virtual void check_argument_encoding();

    // application().reverse_url(name, args...).
    template <typename... Args>
    std::string reverse_url(std::string_view name, const Args&... args) const;
    // "/static/style.css?v=<hash>" for a file under the static_path
    // (Tornado's static_url), without "?v=" when the file cannot be hashed.
    // Throws std::logic_error without the static_path setting.
    std::string static_url(std::string_view path, bool include_version = true) const;

    // --- Templates (see the module comment). ---

    // render_string(), then the page's modules' JavaScript and CSS put in
    // it, then finish(page). Throws std::logic_error after finish(), and
    // std::runtime_error when a module needs a </head> or </body> that the
    // page lacks (Tornado's ValueError).
    Future<void> render(const std::string& template_name, const JSON& arguments = JSON::object(),
                        const TemplateNamespace& extra = {});
    // The template `template_name` from the loader for get_template_path(),
    // generated with get_template_namespace(), `extra` and `arguments`
    // (which win, in that order). ParseError and TemplateError pass
    // through: a 500, whose log names the template and the line.
    std::string render_string(const std::string& template_name,
                              const JSON& arguments = JSON::object(),
                              const TemplateNamespace& extra = {});
    // What every template of this handler sees: handler, request (objects
    // whose attributes are the C++ members: request.path, handler.
    // get_argument("q"), request.headers.get("User-Agent") or
    // request.headers["User-Agent"], handler.settings["debug"]),
    // current_user, static_url, reverse_url, xsrf_form_html, _ and
    // pgettext (locale().translate and pgettext), locale (its code, name,
    // rtl, translate, pgettext, format_date, list, friendly_number), the
    // ui_methods, and `modules` (what {% module %} uses). Valid while the
    // handler lives.
    // Override to add.
    virtual TemplateNamespace get_template_namespace();
    // The folder of template files: the template_path setting. (Tornado
    // falls back to the handler's source file's folder; C++ does not know
    // it, so without the setting, names are relative to the current
    // directory.)
    virtual std::string get_template_path() const;
    // The loader for a template_path: the template_loader setting if there
    // is one, else a Loader with the autoescape and template_whitespace
    // settings. The Application keeps one per path (Tornado keeps them per
    // class, shared by every Application; per Application, settings of two
    // Applications cannot mix).
    virtual std::shared_ptr<BaseLoader> create_template_loader(
        const std::string& template_path) const;
    // How render() writes the modules' resources; override to change the
    // markup (Tornado's render_linked_js and friends). render_linked_js
    // writes a <script src> tag per file of the modules' javascript_files,
    // each URL once, a relative path through static_url.
    virtual std::string render_linked_js(const std::vector<std::string>& js_files) const;
    // One <script> block of the modules' embedded_javascript, joined by
    // newlines, between Tornado's CDATA markers.
    virtual std::string render_embed_js(const std::vector<std::string>& js_embed) const;
    // A <link rel="stylesheet"> tag per file of css_files, as
    // render_linked_js.
    virtual std::string render_linked_css(const std::vector<std::string>& css_files) const;
    // One <style> block of the modules' embedded_css, joined by newlines.
    virtual std::string render_embed_css(const std::vector<std::string>& css_embed) const;

    // --- The response. Nothing is sent before flush() or finish(). ---

    // reason: the phrase for the status line; empty for the standard one.
    // A status outside 100 to 999, or a reason with CR or LF, is refused
    // (std::invalid_argument).
    void set_status(int status_code, std::string_view reason = "");
    int get_status() const noexcept { return status_code_; }
    // A name that is not a token, or a value with CR, LF or NUL, is refused
    // (std::invalid_argument) instead of breaking the response.
    void set_header(std::string_view name, std::string_view value);
    void set_header(std::string_view name, long long value) {
        set_header(name, std::to_string(value));
    }
    void set_header(std::string_view name, std::chrono::system_clock::time_point when);
    // Another field of the same name beside those set (set_header replaces
    // them); refused as set_header refuses.
    void add_header(std::string_view name, std::string_view value);
    // Server and Date, which the connection adds to every response, are
    // cleared by leaving them empty: response_headers() then shows "", and
    // the response goes out without them.
    void clear_header(std::string_view name);
    // A trailer field: sent after the body, as HTTP/2's trailing HEADERS
    // frame (gRPC's grpc-status is one) or in HTTP/1.1's chunked trailer
    // section. It may be set until finish(), after a flush() too. A
    // response with trailers gets no Content-Length from finish(), so that
    // HTTP/1.1 chunks it; one with nowhere to put them (HTTP/1.0, a HEAD, a
    // Content-Length the handler set) goes without them. Refused
    // (std::invalid_argument) as set_header refuses, and for the fields
    // that frame or route a message (Content-Length, Transfer-Encoding,
    // Host, ...), which RFC 9110 section 6.5.1 keeps out of trailers.
    void set_trailer(std::string_view name, std::string_view value);
    // The trailers set so far (none: empty).
    const HTTPHeaders& response_trailers() const noexcept;
    // The response's headers as set so far. The Set-Cookie lines join them,
    // and the transforms change them, only as the head goes out.
    const HTTPHeaders& response_headers() const noexcept { return headers_; }
    // Called by clear(): headers every response of this handler carries.
    virtual void set_default_headers() {}

    // Appends to the output buffer. Throws std::logic_error after finish().
    void write(std::string_view chunk);
    // A JSON object, with Content-Type "application/json; charset=UTF-8"
    // (as Tornado, only objects: a top-level array can be read by another
    // site's <script>; throws std::invalid_argument).
    void write(const JSON& object);
    // The same, keys in the order they were added (as a Python dict keeps them).
    void write(const nlohmann::ordered_json& object);
    void write(const char* chunk) { write(std::string_view(chunk)); }
    void write(const std::string& chunk) { write(std::string_view(chunk)); }
    // Taken without a copy when nothing is buffered yet.
    void write(std::string&& chunk);
    // Bytes kept alive by their owner (a cached file's): when they are the
    // whole of what is buffered, they go to the connection as they are,
    // which may keep a reference to them instead of a copy (HTTP/2, HTTP/3).
    void write(SharedBytes bytes);
    // Sends the status and headers (the first time) and the buffer now. The
    // Future resolves when the bytes are with the kernel: `co_await
    // flush();` between pieces keeps a slow client from piling them up.
    Future<void> flush();
    // Whether write_file may send the body's next bytes now: the head is
    // out (flush()) and nothing is buffered, every transform passes the
    // body unchanged, and the connection can (plain HTTP/1.1 with a
    // Content-Length; HTTPConnection::sends_file_now).
    bool sends_file_now() const;
    // More of the body, straight from an open file: the connection sends
    // it by sendfile(), so its bytes never pass through this process
    // (StaticFileHandler's large files). The Future resolves as flush()'s
    // does. Throws std::logic_error unless sends_file_now().
    Future<void> write_file(FileBytes file);
    // write(chunk), then ends the response: Etag and 304, Content-Length,
    // on_finish(), the access log. Throws std::logic_error if called twice.
    Future<void> finish(std::string_view chunk = "");
    // 302 (301 if permanent, or `status`) to `url`, and finish(). Throws
    // std::logic_error once the head has gone out (a flush()), and
    // std::invalid_argument for a `status` that is not 3xx.
    void redirect(std::string_view url, bool permanent = false, int status = 0);
    // Back to a fresh 200 with the default headers and an empty buffer. The
    // cookies set so far are kept, as in Tornado: an error page sets them.
    void clear();
    // Whether the response is over: finish() ran, a StreamClosedError ended
    // it (the client left during a flush()), or someone else answered
    // (FallbackHandler). write(), flush() and finish() throw
    // std::logic_error from then on.
    bool finished() const noexcept { return response_stage_ == ResponseStage::finished; }

    // The callback style: the request stays open when the method returns,
    // until someone calls finish(). Returns this handler for the callback
    // to hold:
    //   auto self = asynchronous();
    //   IOLoop::current().call_later(100ms, [self] { self->finish("done"); });
    std::shared_ptr<RequestHandler> asynchronous();

    // Etag support (Tornado's compute_etag, set_etag_header,
    // check_etag_header). compute_etag: the Etag that finish() gives a 200
    // to GET or HEAD that has none and was not flushed, the SHA-1 of the
    // body in quotes; nothing (no Etag) when the compute_etag setting is off.
    // Override it to return nothing to turn it off for a handler.
    virtual std::optional<std::string> compute_etag() const;
    // Sets the Etag header to compute_etag()'s, of the body buffered now
    // (not what a flush() has sent); nothing when it gives none.
    void set_etag_header();
    // Whether the request's If-None-Match names the Etag header set so far
    // (a weak comparison; "*" matches any); false while there is none.
    // finish() answers an unflushed GET or HEAD 200 with 304 when it does.
    bool check_etag_header() const;

    // --- Errors. ---

    // Replaces the response with an error page (write_error) and finishes.
    // After a flush() the status cannot change: the response is just ended.
    void send_error(int status_code = 500, std::exception_ptr error = nullptr);
    // Override for custom error pages. The default writes
    // <html><title>N: Reason</title><body>N: Reason</body></html>, or, with
    // serve_traceback (debug), the exception as text/plain.
    virtual void write_error(int status_code, std::exception_ptr error);
    // Where an exception from prepare(), a method or data_received() ends
    // (Tornado's _handle_request_exception): Finish finishes the response
    // with its chunk; StreamClosedError (the client left) ends it quietly,
    // without on_finish(); anything else is logged (log_exception) and,
    // unless the response is finished already, answered with send_error:
    // an HTTPError's status, 500 for the rest.
    void handle_request_exception(std::exception_ptr error);
    // How handle_request_exception logs: an HTTPError at warning, and only
    // if it has a log_message; anything else at error, with the request
    // summary. Override to log elsewhere; what an override throws is
    // ignored.
    virtual void log_exception(std::exception_ptr error) const;

    // "GET /path (127.0.0.1)", for logs.
    std::string request_summary() const;

    // For handler factories (handler<T>): ties a new handler to its
    // application and request, before initialize().
    void attach(Application& application, std::shared_ptr<HTTPServerRequest> request);

protected:
    // Starts a method's coroutine (what get() does with get_async()): if it
    // does not end at once, the request stays open until it does.
    void run_coroutine(Task<void> method);
    // Frees what only the response needed (its headers, cookies, buffer and
    // transforms), for a handler that lives on after finish(): a
    // WebSocketHandler, whose connection speaks another protocol once its
    // 101 is sent. response_headers() is empty afterwards.
    void forget_response() noexcept;
    // The request was answered by someone else, straight through
    // request().connection (FallbackHandler's callback): the handler sends
    // nothing more and is finished, and on_finish() runs. Nothing is logged
    // here; the other party logs its request if it wants to.
    void finished_elsewhere();

private:
    friend class Application;
    friend class RequestDispatcher;
    friend class StaticFileHandler;  // set_known_header

    // set_header for a field the framework makes itself: the name a literal
    // in Http-Header-Case, the value clean by construction (a literal,
    // digits, an HTTP date), so neither is checked.
    void set_known_header(std::string_view name, std::string_view value) {
        headers_.set_known_field(name, value);
    }
    void execute(PathArgs path_args, PathKwargs path_kwargs = {});
    void call_method();
    void run_on_finish();
    void body_received();
    void connection_closed();
    std::string decode_argument(std::string value, std::string_view name) const;
    static void require_utf8(std::string_view value, std::string_view name);
    std::vector<std::string> arguments_from(const ArgumentMap& source, std::string_view name,
                                            bool strip) const;
    std::string argument_from(const ArgumentMap& source, std::string_view name,
                              std::optional<std::string_view> default_value, bool strip) const;
    void settle_final_head();
    Future<void> write_response(bool last);
    // The body buffered so far, wherever it is (write_buffer_, shared_body_).
    std::string_view buffered_body() const noexcept;
    // Copies a shared piece into write_buffer_, for what needs a string.
    void own_shared_body();
    void drop_buffered_body() noexcept;

    Application* application_ = nullptr;
    std::shared_ptr<HTTPServerRequest> request_;
    PathArgs path_args_;

    int status_code_ = 200;
    std::string reason_;
    HTTPHeaders headers_;
    // What write() buffered: in write_buffer_, or, when it is one piece of
    // SharedBytes, there instead (at most one of the two holds bytes).
    std::string write_buffer_;
    SharedBytes shared_body_;
    std::vector<std::unique_ptr<OutputTransform>> transforms_;

    // The XSRF token: the raw one from the cookie (or a new one), and the
    // masked form xsrf_token() hands out.
    struct RawXsrfToken {
        std::optional<int> version;  // none: no usable cookie, the token is new
        std::string token;           // 16 raw bytes (a version 1 cookie's may differ)
        long long timestamp = 0;
    };
    const RawXsrfToken& raw_xsrf_token();
    // What only some requests use, made on first use: a handler stays small
    // (a WebSocketHandler lives as long as its connection).
    struct Rare {
        PathKwargs path_kwargs;
        OrderedMap<std::string> new_cookies;  // name -> Set-Cookie value
        std::optional<std::string> current_user;
        bool current_user_known = false;
        const Locale* locale = nullptr;  // Locales live as long as the process
        std::optional<RawXsrfToken> raw_xsrf_token;
        std::optional<std::string> xsrf_token;
        // The UIModules this request's pages used, in the order first used
        // (render() collects their resources in that order).
        std::vector<std::pair<std::string, std::unique_ptr<UIModule>>> active_modules;
        int render_depth = 0;  // render_string() calls inside each other (modules)
        HTTPHeaders trailers;  // set_trailer()
    };
    Rare& rare();
    std::unique_ptr<Rare> rare_;
    UIModule& active_module(const std::string& name, const UIModuleFactory& factory);
    TemplateValue template_object();
    std::optional<TemplateValue> template_namespace_value(std::string_view name);
    TemplateValue modules_object();

    // The handler's life cycle is two small machines, one per direction
    // (Tornado keeps them in _headers_written, _finished, _prepared_future
    // and the like).
    //
    // The request side: how far the handler's own code has got.
    //
    //   created ─execute(): prepare() returned─► prepared ─call_method()─► method_called
    //   │                                        │                         │
    //   └────────────────────────────────────────┴─────────────────────────┴─► closed
    //
    // `closed`: the client left before the response was finished. With a
    // streamed body, `prepared` waits for body_received().
    //
    // execute() runs prepare() and, unless the body is streamed, the method
    // at once; body_received() calls it only at `prepared`, so it runs at
    // most once. Leaving for `closed` runs on_connection_close(), so it too
    // runs once, and never after the response is finished.
    enum class RequestStage : std::uint8_t {
        created,        // made and attached; prepare() has not returned
        prepared,       // prepare() returned; a streamed body is still coming
        method_called,  // get(), post()... was called
        closed,         // the connection closed before the response finished
    };
    // The response side: what has gone to the connection.
    //
    //   nothing_sent ─flush()─► headers_sent ─finish()─► finished
    //        └──────────────── finish() ─────────────────┘
    //
    // finished is final: write(), flush() and finish() throw after it. It
    // is also reached without sending (the client left during a flush, or
    // finished_elsewhere()).
    enum class ResponseStage : std::uint8_t { nothing_sent, headers_sent, finished };
    RequestStage request_stage_ = RequestStage::created;
    ResponseStage response_stage_ = ResponseStage::nothing_sent;
    // Not a stage but the method's style: a synchronous method's return
    // finishes the response; asynchronous() (or a coroutine still running)
    // leaves that to someone else (Tornado's _auto_finish).
    bool auto_finish_ = true;
};

// How a route makes its handler: a new object for every request, attached
// to the request and initialize()d with the route's arguments (Tornado
// passes the class and its kwargs; C++ passes a factory). handler<T>(args...)
// makes one; the compiler checks that T::initialize takes those arguments.
using HandlerFactory = std::function<std::shared_ptr<RequestHandler>(
    Application&, std::shared_ptr<HTTPServerRequest>)>;

// The factory of Handler: for each request, a new Handler (in a
// shared_ptr), attached, then initialize(init_args...). The arguments are
// copied into the factory once, and every request's initialize() gets them
// as const lvalues: it takes its parameters by value or by const reference.
template <typename Handler, typename... InitArgs>
HandlerFactory handler(InitArgs... init_args);

// A route's target that is a function of the request instead of a
// handler (see URLSpec).
using RequestFunction = std::function<Future<void>(std::shared_ptr<HTTPServerRequest>)>;

// One line of the route table: pattern, handler factory, and an optional
// name for reverse_url (Tornado's URLSpec, or the tuple form).
//
// The target may also be a function of the request, as Tornado's
// Application takes any callable (its _CallableAdapter): it is called as
// an HTTPServer callback is, with the whole request, body parsed, and
// answers through request->connection. None of RequestHandler's work is
// done for it: no handler object, no default headers, Etag, XSRF check,
// transforms (gzip) or access log line. The groups of the pattern are not
// passed. For an answer that needs none of that and is asked for very
// often (TechEmpower's /plaintext, in final/examples/techempower):
//
//   {"/hello", [](std::shared_ptr<tornado::HTTPServerRequest> request) {
//        tornado::HTTPHeaders headers{{"Content-Type", "text/plain"}, {"Content-Length", "5"}};
//        request->connection->write_headers({"HTTP/1.1", 200, "OK"}, headers, "Hello");
//        request->connection->finish();
//    }}
struct URLSpec {
    // Throws std::regex_error for a pattern that is not a valid regex and
    // std::invalid_argument for an empty factory, when the table is built
    // rather than at the first request.
    URLSpec(std::string pattern, HandlerFactory handler, std::string name = "");
    // A function route: `function` returns void, a Task or a Future, as an
    // HTTPServer callback does.
    template <typename F>
        requires(std::is_invocable_v<std::decay_t<F>&, std::shared_ptr<HTTPServerRequest>>)
    URLSpec(std::string pattern, F&& function, std::string route_name = "")
        : URLSpec(std::move(pattern),
                  RequestFunction(detail::returning_future(std::forward<F>(function))),
                  std::move(route_name)) {}
    URLSpec(std::string pattern, RequestFunction function, std::string name = "");

    PathMatches matcher;
    HandlerFactory handler_factory;    // empty for a function route
    RequestFunction request_function;  // empty for a handler route
    std::string name;
};
// Tornado's url(): URLSpec(pattern, factory, name).
inline URLSpec url(std::string pattern, HandlerFactory factory, std::string name = "") {
    return URLSpec(std::move(pattern), std::move(factory), std::move(name));
}

// Signing keys by key version (ApplicationSettings::cookie_secrets).
using SigningKeys = std::map<int, std::string>;

class StaticFileHandler;

// The class that serves static_path, and the arguments its initialize()
// takes after the folder (Tornado's static_handler_class and
// static_handler_args, in one value):
//
//   settings.static_handler_class =
//       static_handler_class<MyStaticHandler>(std::string("index.html"));
struct StaticHandlerClass {
    // A handler of the class, for a request (attach comes next) or for
    // static_url's hooks.
    std::function<std::shared_ptr<StaticFileHandler>()> make;
    // Calls the handler's initialize(static_path, args...).
    std::function<void(StaticFileHandler&, const std::string& static_path)> initialize;
};
// Application settings (Tornado's **settings; only the ones the C++
// framework uses).
struct ApplicationSettings {
    // Shows exception details on error pages (serve_traceback), reads
    // edited templates (compiled_template_cache) and restarts the program
    // when it is rebuilt (autoreload), unless those say otherwise.
    bool debug = false;
    // The exception's type and message on error pages (write_error; nothing:
    // follows debug).
    std::optional<bool> serve_traceback{};
    // listen() starts tornado/autoreload.h's watch (nothing: follows debug).
    std::optional<bool> autoreload{};
    // The key of the signed cookies and values (set_secure_cookie,
    // create_signed_value); empty, with no cookie_secrets: they throw
    // std::logic_error.
    std::string cookie_secret{};
    // Instead of cookie_secret, several keys by version (Tornado's dict
    // cookie_secret): key_version signs new cookies, and a cookie is read
    // with the key of the version it names.
    SigningKeys cookie_secrets{};
    // The version of cookie_secrets that signs; needed with cookie_secrets
    // (signing without it throws std::logic_error).
    std::optional<int> key_version{};
    // Where require_authenticated sends a GET or HEAD without a user
    // (get_login_url); empty: std::logic_error there.
    std::string login_url{};
    // A folder: adds the route static_url_prefix + "(.*)", named "static",
    // first among the routes every host sees (static_handler_class serves
    // it), and static_url().
    std::string static_path{};
    // That route's prefix and static_url's. It goes into the pattern as it
    // is (Tornado escapes it), so a "." or "+" in it is regex syntax.
    std::string static_url_prefix = "/static/";
    // Unset: StaticFileHandler with no default_filename.
    StaticHandlerClass static_handler_class{};
    // Keep the static files' version hashes between requests (unset: not
    // in debug). A file on disk gets a new hash when it changes either
    // way; this matters for a static_handler_class whose content is not a
    // file, whose hash is otherwise kept for ever.
    std::optional<bool> static_hash_cache{};
    // Send a large static file (one kept by its descriptor) by sendfile()
    // where the connection can (plain HTTP/1.1): the server's own CPU for
    // it falls by a fifth to a third, since its bytes are no longer read
    // into the process and copied out again. Off by default, as in
    // nginx's own defaults: the receiving kernel pays for such bytes
    // several times over, so with the client on the same machine (a local
    // reverse proxy) the machine does more work in all and moves fewer
    // bytes (docs/reference/web.md has the figures). On for a server that
    // clients reach over the network.
    bool static_sendfile = false;
    // For paths no route matches (default: 404 through ErrorHandler).
    HandlerFactory default_handler_class{};
    // A host name: requests that came straight from a client (no X-Real-Ip
    // header) and match no route of their own host are routed as if sent
    // to this host (see add_handlers with a host pattern).
    std::string default_host{};
    // Compute an Etag for GET/HEAD 200 responses (per handler: compute_etag).
    bool compute_etag = true;
    // Called once per finished request instead of the access-log line.
    std::function<void(const RequestHandler&)> log_function{};
    // XSRF protection for every handler (check_xsrf_cookie before prepare()).
    bool xsrf_cookies = false;
    // The version of the tokens xsrf_token() writes: 2 (masked anew per
    // request) or 1 (plain hex); another throws std::invalid_argument from
    // xsrf_token(). Tokens of either version are read.
    int xsrf_cookie_version = 2;
    // The _xsrf cookie's attributes. Without an expiry, a logged-in user's
    // cookie lasts 30 days and anyone else's is a session cookie (Tornado's
    // rule).
    CookieOptions xsrf_cookie_kwargs{};
    // gzip responses for clients that accept it (GZipContentEncoding).
    bool compress_response = false;
    // The folder render() reads templates from (get_template_path); empty:
    // names are relative to the current directory.
    std::string template_path{};
    // A loader to use instead of the Loader made per template_path, for
    // every path; autoescape and template_whitespace do not apply to it.
    std::shared_ptr<BaseLoader> template_loader{};
    // The escaping function of {{ }} in the Loader made for template_path
    // (unset: "xhtml_escape"; "": none).
    std::optional<std::string> autoescape{};
    // That Loader's whitespace mode, "all", "single" or "oneline" (unset:
    // by file name).
    std::optional<std::string> template_whitespace{};
    // Whether a parsed template is kept (unset: not in debug, where every
    // request reads a changed file anew).
    std::optional<bool> compiled_template_cache{};
    // Functions every template can call by name, given the handler first.
    // (std::less<>: a template's name is looked up without a copy.)
    std::map<std::string, UIMethod, std::less<>> ui_methods{};
    // The {% module %}s every template can use, by name, besides the
    // built-in linkify, xsrf_form_html and Template (which a module of the
    // same name replaces).
    std::map<std::string, UIModuleFactory> ui_modules{};
    // WebSocketHandler (tornado/websocket.h): ping every connection this
    // often (nothing: never).
    std::optional<std::chrono::steady_clock::duration> websocket_ping_interval{};
    // Close a connection whose pong is later than this (nothing: three
    // ping intervals, at least 30 s).
    std::optional<std::chrono::steady_clock::duration> websocket_ping_timeout{};
    // The largest message accepted, in bytes, once inflated too; a larger
    // one closes the connection with 1009.
    std::size_t websocket_max_message_size = 10 * 1024 * 1024;
};

// --- Application -------------------------------------------------------------------

// A site's routes and settings (Tornado's Application): what an
// HTTPServer hands each request to, to make the request's handler. It must
// outlive every request it serves, whose dispatcher and handler hold plain
// references to it.
class Application : public HTTPServerConnectionDelegate {
public:
    // Routes are tried in order; the first whose pattern matches the whole
    // path wins.
    explicit Application(std::vector<URLSpec> handlers = {}, ApplicationSettings settings = {});
    ~Application() override;
    Application(const Application&) = delete;
    Application& operator=(const Application&) = delete;

    // Appends routes every host sees (those given to the constructor).
    void add_handlers(std::vector<URLSpec> handlers);
    // Routes for the hosts `host_pattern` matches (Tornado's add_handlers):
    // a regex over the request's host name, in lower case and without its
    // port (HostMatches). A request is routed by the first host table,
    // in the order they were added, whose pattern matches its host and
    // which has a route for its path; then by the routes every host sees;
    // then, with settings.default_host, by the tables whose pattern matches
    // default_host (for a request with no X-Real-Ip header); then
    // default_handler_class or 404.
    //
    //   app.add_handlers("api\\.example\\.com", {{"/v1/items", handler<Items>()}});
    void add_handlers(std::string host_pattern, std::vector<URLSpec> handlers);
    // Every request's response goes through a transform `factory` makes
    // (Tornado's add_transform; compress_response adds GZipContentEncoding).
    void add_transform(OutputTransformFactory factory);

    // Starts an HTTPServer for this application (Tornado's app.listen):
    // `options` are the server's, `bind` its socket's (TCPServer::listen:
    // app.listen(8888, "", {}, {.reuse_port = true}) for a socket of its
    // own in each forked worker). The Application owns the server; it must
    // outlive the loop's run.
    HTTPServer& listen(std::uint16_t port, const std::string& address = "",
                       HTTPServerOptions options = {}, const BindOptions& bind = {});

    // find_handler's answer: the route, and its groups, percent-decoded but
    // not yet checked to be UTF-8. `route` is null when no route matches
    // (the default handler serves it); it points into the route table, so
    // add_handlers() may leave it dangling.
    struct HandlerMatch {
        const URLSpec* route = nullptr;
        PathArgs path_args;
        PathKwargs path_kwargs;  // instead of path_args when the pattern names its groups
    };
    // The route for `request`, by its host and path as add_handlers says.
    HandlerMatch find_handler(const HTTPServerRequest& request) const;

    // The path of the route called `name` with its groups filled:
    // reverse_url("story", "7") is "/story/7". Throws std::out_of_range
    // ("reverse_url: no route named 'x'") for an unknown name (Tornado's
    // KeyError), std::invalid_argument for the wrong number of values.
    std::string reverse_url(std::string_view name, const std::vector<std::string>& args) const;
    template <typename... Args>
    std::string reverse_url(std::string_view name, const Args&... args) const {
        return reverse_url(name, std::vector<std::string>{url_argument(args)...});
    }

    const ApplicationSettings& settings() const noexcept { return settings_; }
    // Whether error pages show the exception: the serve_traceback setting,
    // or debug when it is unset.
    bool serve_traceback() const noexcept {
        return settings_.serve_traceback.value_or(settings_.debug);
    }

    // The access-log line of a finished request, or settings.log_function.
    void log_request(const RequestHandler& handler) const;

    // HTTPServerConnectionDelegate: a request's dispatcher.
    std::unique_ptr<HTTPMessageDelegate> start_request(
        HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) override;

    // The servers listen() made.
    const std::vector<std::unique_ptr<HTTPServer>>& servers() const noexcept { return servers_; }

    // The {% module %}s every template can use: settings.ui_modules and
    // the built-in ones (Tornado's Application.ui_modules).
    const std::map<std::string, UIModuleFactory>& ui_modules() const noexcept {
        return ui_modules_;
    }
    // The loader kept for `template_path`, made by `handler` the first time.
    std::shared_ptr<BaseLoader> template_loader(const std::string& template_path,
                                                const RequestHandler& handler);

    // `hasher`.get_content_version(absolute_path), kept until the file's
    // size or modification time changes (for ever when it is not a file on
    // disk, as in Tornado); empty, and logged, when it cannot be computed.
    // static_url and StaticFileHandler's Etag use it.
    std::string static_file_version(const std::string& absolute_path,
                                    StaticFileHandler& hasher) const {
        return std::string(kept_file_version(absolute_path, hasher));
    }
    // A handler of the static_handler_class that serves no request, for
    // static_url's hooks (make_static_url, get_version).
    StaticFileHandler& static_url_handler() const;

private:
    friend class RequestDispatcher;
    friend class RequestHandler;
    friend class StaticFileHandler;

    // A file's size and modification time (ns), as a caller has just seen
    // them: static_file_version's cache check without another stat().
    struct FileStamp {
        std::int64_t size = 0;
        std::int64_t modified_ns = 0;
    };
    // static_file_version as a view of the kept hash (no copy for each
    // request's Etag), valid until the next call. With `stamp`, no stat().
    std::string_view kept_file_version(const std::string& absolute_path,
                                       StaticFileHandler& hasher) const;
    std::string_view kept_file_version(const std::string& absolute_path, StaticFileHandler& hasher,
                                       std::optional<FileStamp> stamp) const;

    static std::string url_argument(std::string_view text) { return std::string(text); }
    template <typename Number>
        requires(std::is_arithmetic_v<Number>)
    static std::string url_argument(Number number) { return std::to_string(number); }

    // The static_path route's handlers: static_handler_class's, with
    // static_path first.
    HandlerFactory static_route_handler() const;
    // Without compiled_template_cache, each request reads its templates anew.
    void reset_template_loaders_if_uncached();
    // Without static_hash_cache, each request hashes its static files anew.
    void reset_static_versions_if_uncached();
    static std::map<std::string, UIModuleFactory> builtin_ui_modules();
    // The handler of `route` (default_handler_class or a 404 for none).
    std::shared_ptr<RequestHandler> make_handler(const URLSpec* route,
                                                 std::shared_ptr<HTTPServerRequest> request) const;
    // The first of `routes` that matches `path`, as a HandlerMatch.
    static HandlerMatch match_path(const std::vector<URLSpec>& routes, std::string_view path);

    // The routes of the hosts a pattern matches (add_handlers with a host).
    struct HostRoutes {
        HostMatches host;
        std::vector<URLSpec> routes;
    };
    std::vector<HostRoutes> host_routes_;  // in the order they were added
    std::vector<URLSpec> routes_;          // every host's
    std::vector<OutputTransformFactory> transforms_;
    ApplicationSettings settings_;
    HandlerFactory not_found_;
    std::vector<std::unique_ptr<HTTPServer>> servers_;
    std::map<std::string, UIModuleFactory> ui_modules_;
    std::map<std::string, std::shared_ptr<BaseLoader>> template_loaders_;  // by template_path
    struct StaticVersion {
        std::int64_t size;
        std::int64_t modified_ns;
        std::string hash;
    };
    mutable std::unordered_map<std::string, StaticVersion> static_versions_;  // by absolute path
    mutable std::shared_ptr<StaticFileHandler> static_url_handler_;
};

template <typename... Args>
std::string RequestHandler::reverse_url(std::string_view name, const Args&... args) const {
    return application_->reverse_url(name, args...);
}

template <typename Handler, typename... InitArgs>
HandlerFactory handler(InitArgs... init_args) {
    static_assert(std::is_base_of_v<RequestHandler, Handler>,
                  "a handler class derives from tornado::RequestHandler");
    return [init_args...](Application& application, std::shared_ptr<HTTPServerRequest> request) {
        auto made = std::make_shared<Handler>();
        made->attach(application, std::move(request));
        made->initialize(init_args...);
        return std::shared_ptr<RequestHandler>(std::move(made));
    };
}

// --- the handlers that come with the framework ---------------------------------------

// Answers every request with `status_code` (the Application's 404).
class ErrorHandler : public RequestHandler {
public:
    void initialize(int status_code) { set_status(status_code); }
    // Throws HTTPError(status_code): the error page, whatever the method.
    void prepare() override { throw HTTPError(get_status()); }
    // An error page is never worth an Etag round trip.
    std::optional<std::string> compute_etag() const override { return std::nullopt; }
    // No XSRF check (it runs before prepare): a POST to a path no route
    // has is a 404, as in Tornado, not a 403 for a missing token.
    void check_xsrf_cookie() override {}
};

// Redirects GET requests to `url`, which may use the route's groups either
// as Python's str.format does ("{0}", "{1}", "{}") or as Tornado 6.2's
// RedirectHandler documentation shows, regex style ("\1", "\2"). The
// request's query is appended. 301 by default, 302 when not permanent.
//
//   {"/pictures/(.*)", handler<RedirectHandler>("/photos/\\1")}
//   GET /pictures/cat.jpg?size=2  ->  301, Location: /photos/cat.jpg?size=2
class RedirectHandler : public RequestHandler {
public:
    void initialize(std::string url, bool permanent = true);
    void get(const PathArgs& args) override;

private:
    std::string url_;
    bool permanent_ = true;
};

// Hands the request to a plain HTTPServer callback, which answers it
// through request->connection (write_headers, write, finish), now or later
// (Tornado's FallbackHandler, whose usual fallback is a WSGI application).
// The callback gets the request whole, body included, after the XSRF
// check; the handler itself writes nothing.
//
//   {"/legacy/.*", handler<FallbackHandler>(FallbackHandler::Callback(legacy_server))}
class FallbackHandler : public RequestHandler {
public:
    using Callback = std::function<void(std::shared_ptr<HTTPServerRequest>)>;
    void initialize(Callback fallback) { fallback_ = std::move(fallback); }
    // Calls the callback with the request, then counts the response as
    // finished (on_finish() runs); the handler sends nothing and logs no
    // access line. What the callback throws becomes the usual error page,
    // if the callback has not answered yet.
    void prepare() override;

private:
    Callback fallback_;
};

// Python's str.format for positional fields, plus "\N" group references
// (RedirectHandler's substitution). Throws std::invalid_argument for an
// unmatched brace or a field that is not a number, std::out_of_range for a
// group that is not there.
std::string format_url(std::string_view format, const std::vector<std::string>& args);

// Serves the files under a folder (Tornado's StaticFileHandler): content
// type by extension, Etag (the file's SHA-512) and Last-Modified with 304s,
// Range requests (206, 416), HEAD; 404 for a file that is not there, 403
// for a path outside the folder or a folder without default_filename.
// Files are sent in 64 KiB pieces, each flushed, so a big file costs no
// more memory than a small one.
//
//   {"/static/(.*)", handler<StaticFileHandler>("/srv/www/static")}
//
// A subclass changes one step by overriding its hook, Tornado's way: where
// the files are (get_absolute_path, validate_absolute_path), what they hold
// (get_content, get_content_size, get_modified_time, get_content_version),
// which headers go out (set_headers, get_cache_time, set_extra_headers,
// get_content_type) and what static_url writes (make_static_url,
// get_version). Set ApplicationSettings::static_handler_class to make the
// static_path route and static_url use the subclass.
class StaticFileHandler : public RequestHandler {
public:
    // Tornado's CACHE_MAX_AGE: ten years, for a URL with ?v= (get_cache_time).
    static constexpr std::int64_t CACHE_MAX_AGE = 10LL * 365 * 86400;

    // Tornado's get_content is a generator of byte strings; here it returns
    // a function that gives the next piece each time it is called, and
    // nothing once the content is all given. A piece may be a plain
    // std::string (SharedBytes takes one), or bytes kept alive by an
    // owner, which the response then sends without a copy. Any such
    // function converts to ContentChunks. Like a generator, it can be
    // moved, not copied.
    class ContentChunks {
    public:
        // Room inline for the default get_content's function (its cached
        // file, where it is, where it stops), so that keeping it allocates
        // nothing.
        static constexpr std::size_t kInlineRoom = 6 * sizeof(void*);
        using NextPiece = Function<std::optional<SharedBytes>(), kInlineRoom>;

        ContentChunks() = default;
        template <typename Next>
            requires(!std::is_same_v<std::remove_cvref_t<Next>, ContentChunks> &&
                     std::is_convertible_v<std::invoke_result_t<Next&>, std::optional<SharedBytes>>)
        ContentChunks(Next next)  // NOLINT(google-explicit-constructor): a lambda is one
            : next_(std::move(next)) {}
        // The same pieces, which are also all of `file`'s bytes: serve()
        // may then have the connection send them from the file
        // (RequestHandler::write_file) and never ask for them.
        ContentChunks(NextPiece next, FileBytes file)
            : next_(std::move(next)), file_(std::move(file)) {}

        std::optional<SharedBytes> operator()() { return next_(); }
        // Set by the default get_content for a large file on disk; nothing
        // for a small one (its cached bytes) or a subclass's content.
        const std::optional<FileBytes>& file() const noexcept { return file_; }

    private:
        NextPiece next_;
        std::optional<FileBytes> file_;
    };

    // The route's arguments: the folder (made absolute here, a relative one
    // from the current directory) and the file to serve for a folder's URL
    // (empty: a folder is 403).
    void initialize(std::string path, std::string default_filename = "");
    // Serves args[0], the path under the folder, through the hooks below.
    Task<void> get_async(PathArgs args) override;
    // The same answer without the body: its headers, Content-Length
    // included, are a GET's.
    Task<void> head_async(PathArgs args) override;
    std::optional<std::string> compute_etag() const override { return etag_; }

    // --- The hooks, in the order get() calls them. ---

    // The path in the URL to the path under the root (Tornado's; unchanged
    // by default).
    virtual std::string parse_url_path(const std::string& url_path);
    // root + "/" + path, absolute and with ".." resolved on the text
    // (Python's os.path.abspath): it may be outside the root.
    virtual std::string get_absolute_path(const std::string& root, const std::string& path) const;
    // The file to serve, or nothing once the handler has answered (the
    // redirect of a folder to its "/"). Throws HTTPError 403 outside the
    // root or for something that is not a file, 404 when nothing is there.
    virtual std::optional<std::string> validate_absolute_path(const std::string& root,
                                                              const std::string& absolute_path);
    // The file's modification time, whole seconds (Last-Modified and
    // If-Modified-Since); nothing sends no Last-Modified.
    virtual std::optional<std::time_t> get_modified_time();
    // Accept-Ranges, Etag, Last-Modified, Content-Type, the cache headers,
    // then set_extra_headers.
    virtual void set_headers();
    // By the file's extension (content_type_for).
    virtual std::string get_content_type();
    // Seconds the client may keep the file: CACHE_MAX_AGE for a URL with a
    // "v" argument (static_url's), else 0, which sends no cache headers.
    virtual std::int64_t get_cache_time(const std::string& path,
                                        std::optional<std::time_t> modified,
                                        const std::string& mime_type);
    // Nothing by default: a subclass adds its headers here.
    virtual void set_extra_headers(const std::string& /*path*/) {}
    // If-None-Match against the Etag, else If-Modified-Since against
    // get_modified_time() (RFC 9110 section 13.2.2).
    virtual bool should_return_304();
    // The file's size, asked of the system once per request, which decides
    // Content-Length and the Range; HTTPError 404 when the file has gone.
    virtual std::int64_t get_content_size();
    // The bytes [start, end) of the file at `absolute_path` (all of it when
    // neither is given), in 64 KiB pieces read as they are asked for.
    // Throws HTTPError 404 if the file cannot be opened.
    virtual ContentChunks get_content(const std::string& absolute_path,
                                      std::optional<std::int64_t> start = std::nullopt,
                                      std::optional<std::int64_t> end = std::nullopt);
    // The version hash static_url appends and the Etag quotes: the SHA-512
    // of get_content(absolute_path), hex, as Tornado; may throw.
    virtual std::string get_content_version(const std::string& absolute_path);

    // --- static_url's hooks (Tornado's classmethods). ---
    // RequestHandler::static_url calls them on a handler of the
    // static_handler_class that serves no request: they must not use
    // request(), only `application`.

    // static_url_prefix + path, with "?v=" + get_version() when asked and
    // known.
    virtual std::string make_static_url(const Application& application, const std::string& path,
                                        bool include_version = true);
    // The version of static_path's `path`, kept by the Application
    // (Application::static_file_version); empty when it cannot be known.
    virtual std::string get_version(const Application& application, const std::string& path);

    // "text/css" for "x.css"; "application/octet-stream" when unknown.
    static std::string content_type_for(std::string_view path);

protected:
    // What get() has found so far (Tornado's attributes of the same names).
    const std::string& root() const noexcept { return root_; }
    const std::string& default_filename() const noexcept { return default_filename_; }
    const std::string& path() const noexcept { return path_; }  // parse_url_path's
    const std::optional<std::string>& absolute_path() const noexcept { return absolute_path_; }
    std::optional<std::time_t> modified() const noexcept { return modified_; }

private:
    struct FileStat {
        std::int64_t size = 0;
        std::time_t modified = 0;      // whole seconds, as HTTP dates say it
        std::int64_t modified_ns = 0;  // full precision, to notice a change
        std::string path;              // the file these describe
    };
    Task<void> serve(std::string url_path, bool include_body);
    // absolute_path()'s size and time, asked of the system once (Tornado's _stat).
    const FileStat& stat_file();

    std::string root_;
    std::string default_filename_;
    std::string path_;
    std::optional<std::string> absolute_path_;
    std::optional<std::time_t> modified_;
    std::optional<FileStat> stat_;
    std::optional<std::string> etag_;
};

// static_handler_class<Handler>(args...): see StaticHandlerClass.
template <typename Handler = StaticFileHandler, typename... InitArgs>
StaticHandlerClass static_handler_class(InitArgs... init_args) {
    static_assert(std::is_base_of_v<StaticFileHandler, Handler>,
                  "a static_handler_class derives from tornado::StaticFileHandler");
    return {[] { return std::make_shared<Handler>(); },
            [init_args...](StaticFileHandler& made, const std::string& static_path) {
                static_cast<Handler&>(made).initialize(static_path, init_args...);
            }};
}

// --- signed values (tornado.web's create_signed_value / decode_signed_value) --------

// `name`'s value, timestamped and signed with `secret` (version 2:
// "2|1:0|10:<time>|<len>:<name>|<len>:<base64 value>|<hex HMAC-SHA256>").
std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, std::time_t now = std::time(nullptr));
// The value, if `signed_value` was made by create_signed_value with this
// secret and name, and is younger than max_age_days. Only version 2 is
// read (as Tornado with min_version=2): version 1 signs no timestamp.
std::optional<std::string> decode_signed_value(std::string_view secret, std::string_view name,
                                               std::string_view signed_value,
                                               double max_age_days = 31,
                                               std::time_t now = std::time(nullptr));

// With several keys by version (Tornado's dict cookie_secret), so that a
// key can be replaced while the values signed with the old one are still
// read. The value records the key version that signed it.
// Signed with keys[key_version]; std::out_of_range if there is none.
std::string create_signed_value(const SigningKeys& keys, int key_version, std::string_view name,
                                std::string_view value, std::time_t now = std::time(nullptr));
// Checked with the key of the version the value names; nothing if that
// version is not in `keys`.
std::optional<std::string> decode_signed_value(const SigningKeys& keys, std::string_view name,
                                               std::string_view signed_value,
                                               double max_age_days = 31,
                                               std::time_t now = std::time(nullptr));
// The key version a version 2 value names (not checked against any key);
// nothing for another version or a malformed value.
std::optional<int> get_signature_key_version(std::string_view signed_value);

}  // namespace tornado
