// web.cpp (exercise): chapter 06's web.cpp with the key functions cut out;
// each is marked TODO(task N). See README.md beside this file, and web.h
// for what each function promises. (The Application, ErrorHandler and
// RedirectHandler are in the chapter's application.cpp, given.)
//
// RequestHandler answers one request. The Application makes it and calls
// execute(); from there the functions below follow the request through its
// life: the method, the output buffer, finish(), and the error path.
#include "web.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

#include "escape.h"

namespace course {

namespace {

constexpr std::string_view kServerName = "TornadoCourse/06";

// The methods Tornado's RequestHandler knows (SUPPORTED_METHODS). Any
// other method is answered 405 before prepare() runs.
[[maybe_unused]]  // (used by code you write)
bool is_supported_method(std::string_view method) {
    for (std::string_view known : {"GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS"}) {
        if (method == known) return true;
    }
    return false;
}

bool is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A reason phrase goes into an HTML page and could go into a status line:
// no control bytes, and no "<" (Tornado's check, against markup in it).
bool is_valid_reason(std::string_view reason) {
    return !reason.empty() && std::all_of(reason.begin(), reason.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return c != '<' && (c == '\t' || byte >= 0x20) && byte != 0x7f;
    });
}

// Tornado's argument clean-up: control bytes (but not tab, CR, LF...)
// become spaces, then whitespace is stripped.
std::string clean_argument(std::string value, bool strip) {
    for (char& c : value) {
        auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x08 || (byte >= 0x0e && byte <= 0x1f)) c = ' ';
    }
    if (!strip) return value;
    constexpr std::string_view kWhitespace = " \t\n\r\v\f";
    std::size_t first = value.find_first_not_of(kWhitespace);
    if (first == std::string::npos) return "";
    std::size_t last = value.find_last_not_of(kWhitespace);
    return value.substr(first, last - first + 1);
}

}  // namespace

// --- errors as exceptions ----------------------------------------------------------

HTTPError::HTTPError(int status_code, std::string log_message, std::string reason)
    : std::runtime_error("HTTP " + std::to_string(status_code) + ": " +
                         (reason.empty() ? std::string(reason_phrase(status_code)) : reason) +
                         (log_message.empty() ? "" : " (" + log_message + ")")),
      status_code_(status_code),
      log_message_(std::move(log_message)),
      reason_(std::move(reason)) {}

MissingArgumentError::MissingArgumentError(std::string arg_name)
    : HTTPError(400, "Missing argument " + arg_name), arg_name_(std::move(arg_name)) {}

// --- the start: attach, then execute ----------------------------------------------

void RequestHandler::attach(Application& application, std::shared_ptr<HTTPServerRequest> request) {
    application_ = &application;
    request_ = std::move(request);
    start_time_ = IOLoop::time();
    clear();
}

// Tornado's _execute. Every exception of prepare() or the method ends up
// in handle_request_exception(), so one broken handler costs one error
// response, never the server.
void RequestHandler::execute(PathArgs path_args) {
    // TODO(task 3): run the handler's life cycle for path_args (kept in
    // path_args_): Tornado's _execute, whose rules are the table in the
    // chapter README's "The handler life cycle": a 405 before anything runs
    // for a method is_supported_method() does not know; no method after a
    // prepare() that finished the request; the automatic finish() only if the
    // handler neither went asynchronous() (auto_finish_) nor finished by
    // itself; every std::exception to handle_request_exception(), and if that
    // throws too, a line on stderr and abandon().
    // Hint: make hint CH=06 TASK=3.
    (void)path_args;
    throw std::logic_error("TODO(task 3): RequestHandler::execute");
}

// The error path failed too, so no sensible response can be sent. Closing
// the connection tells the client at once (rather than never), and the
// Application lets the handler go.
void RequestHandler::abandon() {
    if (finished_) return;
    request_->connection->close();
    application_->release(shared_from_this());
}

void RequestHandler::call_method() {
    const std::string& method = request_->method;
    if (method == "GET") return get(path_args_);
    if (method == "HEAD") return head(path_args_);
    if (method == "POST") return post(path_args_);
    if (method == "DELETE") return delete_(path_args_);
    if (method == "PATCH") return patch(path_args_);
    if (method == "PUT") return put(path_args_);
    if (method == "OPTIONS") return options(path_args_);
}

void RequestHandler::get(const PathArgs&) { throw HTTPError(405); }
void RequestHandler::head(const PathArgs&) { throw HTTPError(405); }
void RequestHandler::post(const PathArgs&) { throw HTTPError(405); }
void RequestHandler::delete_(const PathArgs&) { throw HTTPError(405); }
void RequestHandler::patch(const PathArgs&) { throw HTTPError(405); }
void RequestHandler::put(const PathArgs&) { throw HTTPError(405); }
void RequestHandler::options(const PathArgs&) { throw HTTPError(405); }

std::shared_ptr<RequestHandler> RequestHandler::asynchronous() {
    auto_finish_ = false;
    return shared_from_this();
}

// --- arguments ---------------------------------------------------------------------

std::vector<std::string> RequestHandler::get_arguments(std::string_view name, bool strip) const {
    std::vector<std::string> values;
    auto found = request_->arguments.find(std::string(name));
    if (found == request_->arguments.end()) return values;
    for (const std::string& value : found->second) values.push_back(clean_argument(value, strip));
    return values;
}

std::string RequestHandler::get_argument(std::string_view name) const {
    std::vector<std::string> values = get_arguments(name);
    if (values.empty()) throw MissingArgumentError(std::string(name));
    return values.back();
}

std::string RequestHandler::get_argument(std::string_view name,
                                         std::string_view default_value) const {
    std::vector<std::string> values = get_arguments(name);
    return values.empty() ? std::string(default_value) : values.back();
}

// --- status and headers --------------------------------------------------------------

void RequestHandler::clear() {
    headers_ = HTTPHeaders();
    headers_.add("Server", std::string(kServerName));
    headers_.add("Content-Type", "text/html; charset=UTF-8");
    headers_.add("Date", format_http_date(std::time(nullptr)));
    set_default_headers();
    write_buffer_.clear();
    set_status(200);
}

void RequestHandler::set_status(int status_code, std::string_view reason) {
    status_code_ = status_code;
    if (reason.empty()) {
        reason_ = reason_phrase(status_code);
    } else {
        reason_ = is_valid_reason(reason) ? std::string(reason) : "Unknown";
    }
}

void RequestHandler::check_header(std::string_view name, std::string_view value) const {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
        throw std::invalid_argument("Unsafe header name " + json_encode(name));
    }
    // A CR or LF would end this header and start another one (or the
    // body) with text the caller may have taken from the request.
    bool unsafe = std::any_of(value.begin(), value.end(),
                              [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (unsafe) throw std::invalid_argument("Unsafe header value " + json_encode(value));
}

void RequestHandler::set_header(std::string name, std::string_view value) {
    check_header(name, value);
    headers_.set(std::move(name), std::string(value));
}

void RequestHandler::add_header(std::string name, std::string_view value) {
    check_header(name, value);
    headers_.add(std::move(name), std::string(value));
}

void RequestHandler::clear_header(std::string_view name) { headers_.remove(name); }

// --- output: write, flush, finish ---------------------------------------------------------

void RequestHandler::write(std::string_view chunk) {
    if (finished_) throw std::logic_error("Cannot write() after finish()");
    write_buffer_.append(chunk);
}

void RequestHandler::write_json(std::string_view json) {
    set_header("Content-Type", "application/json; charset=UTF-8");
    write(json);
}

void RequestHandler::flush() {
    std::string chunk = std::exchange(write_buffer_, {});
    HTTPConnection& connection = *request_->connection;
    if (!headers_written_) {
        headers_written_ = true;
        connection.write_headers(status_code_, headers_);
        connection.write(chunk);  // even when empty: it sends the head
    } else if (!chunk.empty()) {
        connection.write(chunk);
    }
}

// Tornado's finish(): the last bytes, the connection's finish(), the access
// log line, on_finish(), and the Application lets the handler go.
void RequestHandler::finish(std::string_view chunk) {
    // TODO(task 3): end the response, `chunk` included. What must hold once it
    // returns is the table in the chapter README's "The finish() contract"
    // (Content-Length or the no-body rules of 204, 304 and 1xx, the connection
    // told, the request logged, the Application's hold released, on_finish()
    // last). Its two rules: a second call throws std::logic_error("finish()
    // called twice"); the handler stays alive until finish() returns, though
    // application_->release() may drop its last owner.
    (void)chunk;
    throw std::logic_error("TODO(task 3): RequestHandler::finish");
}

void RequestHandler::redirect(std::string_view url, bool permanent, int status) {
    if (headers_written_) throw std::logic_error("Cannot redirect after headers have been written");
    if (status == 0) status = permanent ? 301 : 302;
    if (status < 300 || status > 399) {
        throw std::invalid_argument("redirect status must be 3xx, not " + std::to_string(status));
    }
    set_status(status);
    set_header("Location", url);
    finish();
}

// --- errors ------------------------------------------------------------------------------

// Tornado's _handle_request_exception: log it, then answer with the
// error's status (500 for anything but an HTTPError), unless the response
// was already finished.
void RequestHandler::handle_request_exception(const std::exception& error) {
    // TODO(task 4): every exception is logged (log_exception). Unless the
    // request is finished already, it becomes an error response (send_error):
    // an HTTPError's own status, 500 for anything else, with the exception
    // passed on so that write_error can see it. Hint: make hint CH=06 TASK=4.
    (void)error;
    throw std::logic_error("TODO(task 4): RequestHandler::handle_request_exception");
}

void RequestHandler::log_exception(const std::exception& error) const {
    if (const auto* http_error = dynamic_cast<const HTTPError*>(&error)) {
        if (!http_error->log_message().empty()) {
            std::fprintf(stderr, "%d %s: %s\n", http_error->status_code(),
                         request_summary().c_str(), http_error->log_message().c_str());
        }
        return;
    }
    std::fprintf(stderr, "Uncaught exception %s: %s\n", request_summary().c_str(), error.what());
}

void RequestHandler::send_error(int status_code, const std::exception* error) {
    // TODO(task 4): replace whatever the handler buffered or set (clear())
    // with an error response: the status, the HTTPError's reason() if it has
    // one, the page write_error() writes (none for a 304), finished exactly
    // once. After a flush() the status cannot change: log "Cannot send error
    // response after headers written" to stderr and just end the response. A
    // write_error() that throws is logged, and the response still ends.
    (void)status_code;
    (void)error;
    throw std::logic_error("TODO(task 4): RequestHandler::send_error");
}

void RequestHandler::write_error(int status_code, const std::exception* error) {
    // TODO(task 4): Tornado's default page, finished:
    //   <html><title>N: Reason</title><body>N: Reason</body></html>
    // with reason_ escaped by xhtml_escape (a reason may come from a user).
    (void)status_code;
    (void)error;
    throw std::logic_error("TODO(task 4): RequestHandler::write_error");
}

std::string RequestHandler::request_summary() const {
    return request_->method + " " + request_->uri + " (" + request_->remote_ip + ")";
}

}  // namespace course
