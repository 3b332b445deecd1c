// web.cpp: see tornado/web.h. The request's path through this file:
//
//   Application::start_request -> RequestDispatcher (one per request)
//     headers_received: the request object, the route, the handler made;
//                       a streaming handler runs prepare() now
//     data_received:    the body, kept or handed to the handler
//     finish:           body parsed; RequestHandler::execute -> prepare ->
//                       call_method -> get() ... -> finish() -> the access log
//
// Who owns what: the connection owns the RequestDispatcher for one request;
// the dispatcher owns the handler (a shared_ptr) and the request. A handler
// that goes asynchronous (asynchronous(), run_coroutine) is also held by
// whoever will call finish(), so it outlives the dispatcher if it must. The
// handler holds the request, which holds the connection; nothing the
// connection keeps may hold the handler back (see attach), or neither would
// ever be freed. Everything here runs on the IOLoop's thread.
//
// The rest of tornado/web.h lives next door: templates and UI modules in
// web_template.cpp, StaticFileHandler and static file versions in
// web_static.cpp, GZipContentEncoding in web_transforms.cpp.
#include "tornado/web.h"

// For SHA1_Init and friends: see append_sha1_hex.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "core/hex.h"
#include "core/percent_encoding.h"
#include "core/text.h"
#include "http/base64.h"
#include "http/message_body.h"
#include "tornado/autoreload.h"
#include "tornado/log.h"
#include "web/hmac.h"
#include "web/random_bytes.h"

namespace tornado {

namespace {

// The most room a request body gets ahead of its bytes (see
// RequestDispatcher::headers_received); a bigger body grows as it comes.
constexpr std::uint64_t kMaxBodyReserve = 1024 * 1024;

// Tornado's RequestHandler.SUPPORTED_METHODS: any other method is answered
// 405 before the XSRF check and prepare() (see execute).
const std::string_view kSupportedMethods[] = {"GET",   "HEAD", "POST",   "DELETE",
                                              "PATCH", "PUT",  "OPTIONS"};

// Every GET 200 computes one (its Etag), so it takes OpenSSL's shortest
// path: the SHA1_* functions on a context on the stack. OpenSSL 3 marks
// them deprecated in favour of EVP, but EVP's provider dispatch, context
// allocation and cleansing cost more than the digest of a small body
// (BM_FinalWebHello in tests/bench/micro/final_web_bench.cpp); both end
// in the same code, which uses the CPU's SHA instructions.
void append_sha1_hex(std::string& out, std::string_view data) {
    SHA_CTX context;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1_Init(&context);
    SHA1_Update(&context, data.data(), data.size());
    SHA1_Final(digest, &context);
    detail::append_hex(out, digest, sizeof digest);
}

// The signature of a signed value (Tornado's _create_signature_v2).
std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    return detail::to_hex(detail::hmac_digest(EVP_sha256(), key, data));
}

// Constant time: how long the comparison takes says nothing about where
// a forged signature or XSRF token first differs (Python's
// hmac.compare_digest).
bool equal_in_constant_time(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char difference = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        difference |= static_cast<unsigned char>(a[i] ^ b[i]);
    return difference == 0;
}

// "5:hello" (Tornado's format_field for signed values).
std::string format_field(std::string_view text) {
    return std::to_string(text.size()) + ":" + std::string(text);
}

// Reads "N:text|" from `rest`, leaving what follows the '|' (Tornado's
// _consume_field). Nothing for a malformed field: a missing or empty length,
// a length of more than 9 digits (so the sum below cannot overflow, and a
// cookie is far shorter anyway), or no '|' right after the N bytes. The
// text may itself contain '|' and ':' (a name can); the length, not a
// search, says where it ends.
std::optional<std::string_view> consume_field(std::string_view& rest) {
    std::size_t colon = rest.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 9) return std::nullopt;
    std::size_t length = 0;
    for (char c : rest.substr(0, colon)) {
        if (c < '0' || c > '9') return std::nullopt;
        length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    std::size_t end = colon + 1 + length;
    if (end >= rest.size() || rest[end] != '|') return std::nullopt;
    std::string_view field = rest.substr(colon + 1, length);
    rest.remove_prefix(end + 1);
    return field;
}

// Python's http.cookies _LegalChars: what SimpleCookie writes without quotes.
bool is_cookie_legal(char c) {
    static constexpr std::string_view kLegal = "!#$%&'*+-.^_`|~:";
    unsigned char u = static_cast<unsigned char>(c);
    return std::isalnum(u) || kLegal.find(c) != std::string_view::npos;
}

// Python's SimpleCookie quoting: as is when every character is legal, else
// in double quotes, where '"' and '\' get a backslash, legal characters
// and " ()/<=>?@[]{}" stay, and anything else becomes \ooo (octal).
std::string quote_cookie_value(std::string_view value) {
    if (std::all_of(value.begin(), value.end(), is_cookie_legal)) return std::string(value);
    static constexpr std::string_view kKeptInQuotes = " ()/<=>?@[]{}";
    std::string quoted = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') {
            quoted += '\\';
            quoted += c;
        } else if (is_cookie_legal(c) || kKeptInQuotes.find(c) != std::string_view::npos) {
            quoted += c;
        } else {
            char octal[5];
            std::snprintf(octal, sizeof octal, "\\%03o", static_cast<unsigned char>(c));
            quoted += octal;
        }
    }
    quoted += '"';
    return quoted;
}

// Python's str.strip() for ASCII. Python also strips Unicode spaces (such
// as U+00A0, the no-break space); this does not, so an argument ending in
// one keeps it here and loses it in Tornado.
std::string strip_whitespace(std::string_view text) {
    const char* spaces = " \t\n\r\v\f";
    std::size_t first = text.find_first_not_of(spaces);
    if (first == std::string_view::npos) return {};
    std::size_t last = text.find_last_not_of(spaces);
    return std::string(text.substr(first, last - first + 1));
}

// Tornado's _remove_control_chars_regex: [\x00-\x08\x0e-\x1f] become spaces.
// Tab, LF, VT, FF and CR (0x09-0x0d) stay: a textarea's value has them.
void remove_control_characters(std::string& value) {
    for (char& c : value) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x08 || (u >= 0x0e && u <= 0x1f)) c = ' ';
    }
}

}  // namespace

// --- exceptions --------------------------------------------------------------------

// what() carries everything, for code that catches std::exception and
// logs it; the client sees only the status and reason (write_error).
HTTPError::HTTPError(int status_code, std::string log_message, std::string reason)
    : std::runtime_error("HTTP " + std::to_string(status_code) + ": " +
                         (reason.empty() ? std::string(reason_phrase(status_code)) : reason) +
                         (log_message.empty() ? "" : " (" + log_message + ")")),
      status_code_(status_code),
      log_message_(std::move(log_message)),
      reason_(std::move(reason)) {}

MissingArgumentError::MissingArgumentError(std::string arg_name)
    : HTTPError(400, "Missing argument " + arg_name), arg_name_(std::move(arg_name)) {}

// --- signed values -----------------------------------------------------------------

namespace {

// Tornado's version 2 format, field for field (see tornado/web.h), so that
// a cookie signed by Python Tornado with the same secret is read here and
// the other way round.
std::string sign_v2(std::string_view secret, int key_version, std::string_view name,
                    std::string_view value, std::time_t now) {
    std::string to_sign = "2|" + format_field(std::to_string(key_version)) + "|" +
                          format_field(std::to_string(now)) + "|" + format_field(name) + "|" +
                          format_field(detail::base64_encode(value)) + "|";
    return to_sign + hmac_sha256_hex(secret, to_sign);
}

// The fields of a version 2 value (Tornado's _decode_fields_v2).
struct SignedFields {
    int key_version = 0;
    std::string_view timestamp;
    std::string_view name;
    std::string_view value;
    std::string_view signed_part;  // everything the signature signs, "2|" included
    std::string_view signature;    // the hex HMAC after the last field
};

// Digits only, and at most `max_digits` of them, so that the number
// cannot overflow.
std::optional<std::int64_t> parse_digits(std::string_view text, std::size_t max_digits) {
    if (text.empty() || text.size() > max_digits ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    return std::stoll(std::string(text));
}

std::optional<SignedFields> split_v2(std::string_view signed_value) {
    if (!signed_value.starts_with("2|")) return std::nullopt;
    std::string_view rest = signed_value.substr(2);
    std::optional<std::string_view> key_version = consume_field(rest);
    std::optional<std::string_view> timestamp = key_version ? consume_field(rest) : std::nullopt;
    std::optional<std::string_view> name = timestamp ? consume_field(rest) : std::nullopt;
    std::optional<std::string_view> value = name ? consume_field(rest) : std::nullopt;
    if (!value) return std::nullopt;
    std::optional<std::int64_t> version_number = parse_digits(*key_version, 9);
    if (!version_number) return std::nullopt;
    // What is left after the four fields is the hex HMAC.
    return SignedFields{static_cast<int>(*version_number),
                        *timestamp,
                        *name,
                        *value,
                        signed_value.substr(0, signed_value.size() - rest.size()),
                        rest};
}

// Tornado's _decode_signed_value_v2 once the key is chosen. The order
// matters: the signature is checked before anything in the value is
// trusted (the name, the timestamp), and in constant time.
std::optional<std::string> check_v2(std::string_view secret, const SignedFields& fields,
                                    std::string_view name, double max_age_days, std::time_t now) {
    if (!equal_in_constant_time(fields.signature, hmac_sha256_hex(secret, fields.signed_part)))
        return std::nullopt;
    if (fields.name != name) return std::nullopt;
    // At most 18 digits: no real timestamp is that long.
    std::optional<std::int64_t> timestamp = parse_digits(fields.timestamp, 18);
    if (!timestamp) return std::nullopt;
    double age_limit = static_cast<double>(now) - max_age_days * 86400;
    if (static_cast<double>(*timestamp) < age_limit) return std::nullopt;
    return detail::base64_decode(fields.value);  // nothing if it is not base64
}

}  // namespace

// One secret: its key version is 0, as in Tornado.
std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, std::time_t now) {
    return sign_v2(secret, 0, name, value, now);
}

std::string create_signed_value(const SigningKeys& keys, int key_version, std::string_view name,
                                std::string_view value, std::time_t now) {
    auto key = keys.find(key_version);
    if (key == keys.end()) {
        throw std::out_of_range("create_signed_value: no key of version " +
                                std::to_string(key_version));
    }
    return sign_v2(key->second, key_version, name, value, now);
}

// Unlike Tornado, whose default minimum version is 1, the unsigned-timestamp
// version 1 format is refused. With one secret, the key version the value
// names is not looked at, as in Tornado.
std::optional<std::string> decode_signed_value(std::string_view secret, std::string_view name,
                                               std::string_view signed_value, double max_age_days,
                                               std::time_t now) {
    std::optional<SignedFields> fields = split_v2(signed_value);
    if (!fields) return std::nullopt;
    return check_v2(secret, *fields, name, max_age_days, now);
}

std::optional<std::string> decode_signed_value(const SigningKeys& keys, std::string_view name,
                                               std::string_view signed_value, double max_age_days,
                                               std::time_t now) {
    std::optional<SignedFields> fields = split_v2(signed_value);
    if (!fields) return std::nullopt;
    auto key = keys.find(fields->key_version);
    if (key == keys.end()) return std::nullopt;
    return check_v2(key->second, *fields, name, max_age_days, now);
}

std::optional<int> get_signature_key_version(std::string_view signed_value) {
    std::optional<SignedFields> fields = split_v2(signed_value);
    if (!fields) return std::nullopt;
    return fields->key_version;
}

// --- RequestDispatcher -------------------------------------------------------------

// One request on its way to a handler (Tornado's _RequestDispatcher): the
// HTTPMessageDelegate the connection feeds. The connection makes one per
// request through Application::start_request and calls it in this order:
// headers_received, data_received for each piece of the body, then finish,
// or on_connection_close instead if the request ends early. Every call
// returns an empty Future, which the connection takes as done, except
// data_received for a handler whose data_received_async waits: the
// connection reads no more of the body until that Future resolves
// (Tornado's flow control for a streamed body).
//
// Two modes, as Tornado's: a normal handler runs whole in finish(), with
// the body collected in request_->body; a stream_request_body() handler runs
// prepare() as soon as the headers are in and gets the body in pieces.
class RequestDispatcher final : public HTTPMessageDelegate {
public:
    RequestDispatcher(Application& application, HTTPServerConnection* server_conn,
                      std::shared_ptr<HTTPConnection> connection)
        : application_(application),
          server_conn_(server_conn),
          connection_(std::move(connection)) {}

    Future<void> headers_received(StartLine start_line, HTTPHeaders headers) override {
        // A server connection only ever parses request lines, so the
        // variant holds a RequestStartLine. The loop's turn time stands for
        // the start time: no clock read per request.
        request_ = std::make_shared<HTTPServerRequest>(
            std::get<RequestStartLine>(std::move(start_line)), std::move(headers), connection_,
            server_conn_, IOLoop::current().turn_time());
        Application::HandlerMatch found = application_.find_handler(*request_);
        if (found.route != nullptr && found.route->request_function) {
            // A copy: add_handlers() while the body is read may move the table.
            function_ = found.route->request_function;
        } else {
            // The groups wait here, not in the handler, until execute().
            path_args_ = std::move(found.path_args);
            path_kwargs_ = std::move(found.path_kwargs);
            handler_ = application_.make_handler(found.route, request_);
            if (handler_->stream_request_body()) {
                streaming_ = true;
                // prepare() now, so that it can refuse the request or raise
                // max_body_size before the body is read; the method runs from
                // body_received() once the body is in.
                handler_->execute(std::move(path_args_), std::move(path_kwargs_));
                return Future<void>(nullptr);
            }
        }
        if (std::string_view length = request_->headers.get_first("Content-Length");
            !length.empty()) {
            // Room for the body at once, instead of regrowing per piece. Only
            // up to kMaxBodyReserve: the connection compares the length with
            // max_body_size after this returns (in read_body), so the number
            // is still the client's word here, and a large one must cost
            // nothing before the 413 goes out.
            std::optional<std::uint64_t> announced = parse_content_length_value(length);
            request_->body.reserve(static_cast<std::size_t>(
                std::min<std::uint64_t>(announced.value_or(0), kMaxBodyReserve)));
        }
        return Future<void>(nullptr);
    }

    // Pieces for a handler that has already answered (prepare() sent an
    // error or a redirect) are dropped: nobody will read them. Its
    // exceptions go where a method's go, so a broken data_received() costs
    // this request its error page, not the connection.
    Future<void> data_received(std::string chunk) override {
        if (!streaming_) {
            request_->body += chunk;
            return Future<void>(nullptr);
        }
        if (handler_->finished()) return Future<void>(nullptr);
        Future<void> taken(nullptr);
        try {
            taken = handler_->data_received_async(std::move(chunk));
        } catch (...) {
            handler_->handle_request_exception(std::current_exception());
            return Future<void>(nullptr);
        }
        if (!taken.valid()) return taken;
        // The connection waits on this one, which never fails: the
        // handler's failure is the handler's to answer.
        Future<void> passed;
        taken.add_done_callback([handler = handler_, passed](Future<void> done) mutable {
            if (!done.cancelled() && done.exception() && !handler->finished())
                handler->handle_request_exception(done.exception());
            passed.set_result();
        });
        return passed;
    }

    // The whole body is in. A form or multipart body is parsed here, not in
    // the handler, so that a malformed one is answered with its status
    // (400, or what the HTTPInputError says) without running prepare().
    void finish() override {
        if (streaming_) {
            handler_->body_received();
            return;
        }
        if (function_) {
            // As HTTPServer's callback: a malformed body is the connection's
            // 400, and from the call on the function owns the response.
            request_->parse_body();
            detail::settle_callback_result(function_(std::move(request_)));
            return;
        }
        try {
            request_->parse_body();
        } catch (const HTTPInputError& error) {
            gen_log.warning("{}: {}", handler_->request_summary(), error.what());
            handler_->send_error(error.status(), std::current_exception());
            return;
        }
        handler_->execute(std::move(path_args_), std::move(path_kwargs_));
    }

    // The connection also calls this when the response came before the
    // body was read, and when headers_received threw (handler_ may be null
    // then); RequestHandler::connection_closed ignores a finished handler.
    void on_connection_close() override {
        if (handler_) handler_->connection_closed();
    }

private:
    // A plain reference: the Application must outlive every connection it
    // serves (it owns the servers listen() makes). server_conn_ is the
    // connection that owns this dispatcher.
    Application& application_;
    HTTPServerConnection* server_conn_;
    std::shared_ptr<HTTPConnection> connection_;
    std::shared_ptr<HTTPServerRequest> request_;
    std::shared_ptr<RequestHandler> handler_;  // null for a function route
    RequestFunction function_;                 // a function route's, called from finish()
    // The route's groups, kept from headers_received until execute().
    PathArgs path_args_;
    PathKwargs path_kwargs_;
    bool streaming_ = false;
};

// --- Application -------------------------------------------------------------------

// An empty factory would fail only when a request hits the route; refuse it
// when the table is built instead.
URLSpec::URLSpec(std::string pattern, HandlerFactory handler, std::string name_)
    : matcher(std::move(pattern)), handler_factory(std::move(handler)), name(std::move(name_)) {
    if (!handler_factory)
        throw std::invalid_argument("URLSpec " + matcher.pattern() + ": no handler");
}

URLSpec::URLSpec(std::string pattern, RequestFunction function, std::string name_)
    : matcher(std::move(pattern)), request_function(std::move(function)), name(std::move(name_)) {
    if (!request_function)
        throw std::invalid_argument("URLSpec " + matcher.pattern() + ": no function");
}

Application::Application(std::vector<URLSpec> handlers, ApplicationSettings settings)
    : settings_(std::move(settings)),
      not_found_(handler<ErrorHandler>(404)),
      ui_modules_(builtin_ui_modules()) {
    for (const auto& [name, factory] : settings_.ui_modules) ui_modules_[name] = factory;
    // The static route goes first, as Tornado inserts it at the front: a
    // catch-all route of the application cannot hide it. The prefix is used
    // as a regex as it is (Tornado re.escape()s it), so a prefix with a '.'
    // or '+' in it matches more than itself. Tornado's extra routes for
    // /favicon.ico and /robots.txt are not added.
    if (!settings_.static_path.empty()) {
        std::string prefix = settings_.static_url_prefix;
        routes_.emplace_back(prefix + "(.*)", static_route_handler(), "static");
    }
    // Before any add_transform() of the caller, as Tornado's __init__ does.
    if (settings_.compress_response) {
        add_transform([](const HTTPServerRequest& request) {
            return std::make_unique<GZipContentEncoding>(request);
        });
    }
    add_handlers(std::move(handlers));
}

Application::~Application() = default;

void Application::add_handlers(std::vector<URLSpec> handlers) {
    for (URLSpec& spec : handlers) routes_.push_back(std::move(spec));
}

void Application::add_handlers(std::string host_pattern, std::vector<URLSpec> handlers) {
    host_routes_.push_back({HostMatches(std::move(host_pattern)), std::move(handlers)});
}

void Application::add_transform(OutputTransformFactory factory) {
    transforms_.push_back(std::move(factory));
}

// Kept in servers_, so the server lives as long as the Application.
HTTPServer& Application::listen(std::uint16_t port, const std::string& address,
                                HTTPServerOptions options, const BindOptions& bind) {
    auto server = std::make_unique<HTTPServer>(*this, std::move(options));
    server->listen(port, address, bind);
    servers_.push_back(std::move(server));
    // Tornado starts it in Application's constructor; here it waits for a
    // program that serves, so a test that makes an Application in debug
    // does not watch its own binary.
    if (settings_.autoreload.value_or(settings_.debug)) autoreload::start();
    return *servers_.back();
}

// Tornado's order: its default_router holds a rule per host pattern, then
// one that matches any host and leads to the wildcard router (the routes
// every host sees), to which each host table was also added behind a
// DefaultHostMatches. A table whose host matches but which has no route for
// the path passes the request on, as a nested RuleRouter returns None.
Application::HandlerMatch Application::find_handler(const HTTPServerRequest& request) const {
    for (const HostRoutes& table : host_routes_) {
        if (!table.host.match(request.host_name)) continue;
        if (HandlerMatch found = match_path(table.routes, request.path); found.route) return found;
    }
    if (HandlerMatch found = match_path(routes_, request.path); found.route) return found;
    // DefaultHostMatches: only for a request that did not come through a
    // proxy, whose X-Real-Ip names the client's own address.
    if (settings_.default_host.empty() || request.headers.contains("X-Real-Ip")) return {};
    for (const HostRoutes& table : host_routes_) {
        if (!table.host.match(settings_.default_host)) continue;
        if (HandlerMatch found = match_path(table.routes, request.path); found.route) return found;
    }
    return {};
}

// A linear scan in route order (Tornado's RuleRouter does the same): the
// first match wins, so order in the table is meaning, not speed.
Application::HandlerMatch Application::match_path(const std::vector<URLSpec>& routes,
                                                  std::string_view path) {
    for (const URLSpec& route : routes) {
        std::optional<PathArgs> args = route.matcher.match(path);
        if (!args) continue;
        const std::vector<std::string>& names = route.matcher.group_names();
        if (names.empty()) return {&route, std::move(*args), {}};
        // Named groups go by name, and only they (Tornado: path_kwargs, and
        // path_args empty).
        PathKwargs kwargs;
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (!names[i].empty()) kwargs[names[i]] = std::move((*args)[i]);
        }
        return {&route, {}, std::move(kwargs)};
    }
    return {};
}

std::shared_ptr<RequestHandler> Application::make_handler(
    const URLSpec* route, std::shared_ptr<HTTPServerRequest> request) const {
    // No route: the default_handler_class setting, else a 404 (Tornado's
    // Application.find_handler).
    const HandlerFactory& factory =
        route ? route->handler_factory
              : (settings_.default_handler_class ? settings_.default_handler_class : not_found_);
    // The factory's signature takes a mutable Application (a handler may
    // call template_loader()). The cast is safe: the only caller,
    // RequestDispatcher, holds the Application non-const; make_handler is
    // const only because it changes nothing itself.
    return factory(const_cast<Application&>(*this), std::move(request));
}

std::string Application::reverse_url(std::string_view name,
                                     const std::vector<std::string>& args) const {
    // The host tables first, as Tornado's default_router asks its rules in
    // order.
    for (const HostRoutes& table : host_routes_) {
        for (const URLSpec& route : table.routes) {
            if (route.name == name) return route.matcher.reverse(args);
        }
    }
    for (const URLSpec& route : routes_) {
        if (route.name == name) return route.matcher.reverse(args);
    }
    throw std::out_of_range("reverse_url: no route named '" + std::string(name) + "'");
}

// Tornado's Application.log_request: the log_function setting replaces the
// line; otherwise the level follows the status (info, warning from 400,
// error from 500; see access_log_level).
void Application::log_request(const RequestHandler& handler) const {
    if (settings_.log_function) {
        settings_.log_function(handler);
        return;
    }
    // request_time() reads the clock: not for a line nobody will see.
    if (!access_log.enabled(access_log_level(handler.get_status()))) return;
    const HTTPServerRequest& request = handler.request();
    tornado::log_request(handler.get_status(), request.method, request.uri, request.remote_ip,
                         request.request_time());
}

std::unique_ptr<HTTPMessageDelegate> Application::start_request(
    HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) {
    return std::make_unique<RequestDispatcher>(*this, server_conn, std::move(request_conn));
}

// --- RequestHandler: the life cycle ------------------------------------------------

// What Tornado's RequestHandler.__init__ does, minus initialize(), which
// handler<T>() calls next with the route's arguments. The transforms are
// made per request because they keep state (the gzip stream).
void RequestHandler::attach(Application& application, std::shared_ptr<HTTPServerRequest> request) {
    application_ = &application;
    request_ = std::move(request);
    for (const OutputTransformFactory& make : application.transforms_)
        transforms_.push_back(make(*request_));
    clear();
    // A weak_ptr, not shared_from_this(): the handler holds the request,
    // which holds the connection, so a callback holding the handler would
    // make a cycle: none of the three freed until the connection dropped
    // the callback, however long the request had been over.
    // (Tornado clears the callback in finish() for the same reason.)
    // weak_from_this() works here because handler<T>() calls attach() on an
    // object already in a shared_ptr; in a constructor it would be empty.
    // A test's request may have no connection.
    if (request_->connection) {
        request_->connection->set_close_callback([weak = weak_from_this()] {
            if (auto self = weak.lock()) self->connection_closed();
        });
    }
}

// Tornado's RequestHandler._execute, in its order: the method check, the
// path groups decoded, the XSRF check, prepare(), then the method. Called
// once per request by the RequestDispatcher: from headers_received for a
// streaming handler, else from finish() with the body parsed. Whatever any
// step throws (HTTPError, Finish, anything) goes to
// handle_request_exception, so one broken handler costs one error page,
// never the connection or the server.
void RequestHandler::execute(PathArgs path_args, PathKwargs path_kwargs) {
    try {
        if (std::find(std::begin(kSupportedMethods), std::end(kSupportedMethods),
                      request_->method) == std::end(kSupportedMethods)) {
            throw HTTPError(405);
        }
        // Groups arrive percent-decoded but as raw bytes; a group that is not
        // UTF-8 is a 400 (decode_argument). Tornado's message names a named
        // group by its key; here every group is "url path".
        path_args_.clear();
        for (std::size_t i = 0; i < path_args.size(); ++i) {
            path_args_.push_back(decode_argument(std::move(path_args[i]), "url path"));
        }
        if (rare_) rare_->path_kwargs.clear();
        for (auto& [name, value] : path_kwargs) {
            rare().path_kwargs[name] = decode_argument(std::move(value), "url path");
        }
        check_argument_encoding();
        // In debug (no compiled_template_cache, no static_hash_cache) every
        // request sees edited templates and static content: Tornado does
        // this in _HandlerDelegate.execute.
        application_->reset_template_loaders_if_uncached();
        application_->reset_static_versions_if_uncached();
        const std::string& method = request_->method;
        if (application_->settings().xsrf_cookies && method != "GET" && method != "HEAD" &&
            method != "OPTIONS") {
            // A form posted from another site gets its 403 before any of the
            // handler's own code runs. GET, HEAD and OPTIONS are exempt:
            // they must not change anything (RFC 9110 section 9.2.1, safe
            // methods).
            check_xsrf_cookie();
        }
        prepare();
        request_stage_ = RequestStage::prepared;
        if (finished()) return;  // prepare() answered (a redirect, an error page...)
        // A streaming handler is called from headers_received, so its body
        // is still to come (the dispatcher reports its end only after this
        // returns): body_received() calls the method.
        if (stream_request_body()) return;
        call_method();
    } catch (...) {
        handle_request_exception(std::current_exception());
    }
}

// The end of a streamed body (RequestDispatcher::finish), Tornado's
// request._body_future resolving. The method runs here only at the
// `prepared` stage (if prepare() threw, the error page is out) and if the
// handler has not answered yet (prepare() or data_received() may have).
void RequestHandler::body_received() {
    if (request_stage_ != RequestStage::prepared || finished()) return;
    try {
        call_method();
    } catch (...) {
        handle_request_exception(std::current_exception());
    }
}

// Tornado finds the method with getattr(self, method.lower()); C++ needs
// the switch. execute() has refused anything outside kSupportedMethods,
// so the last branch is OPTIONS. The auto-finish is Tornado's too: a
// synchronous method that returns has answered, unless it (or
// run_coroutine for a coroutine still running) called asynchronous().
void RequestHandler::call_method() {
    request_stage_ = RequestStage::method_called;
    std::string_view method = request_->method;  // compared length first
    if (method == "GET") {
        get(path_args_);
    } else if (method == "POST") {
        post(path_args_);
    } else if (method == "HEAD") {
        head(path_args_);
    } else if (method == "PUT") {
        put(path_args_);
    } else if (method == "DELETE") {
        delete_(path_args_);
    } else if (method == "PATCH") {
        patch(path_args_);
    } else {
        options(path_args_);
    }
    if (auto_finish_ && !finished()) finish();
}

// Reaches the handler two ways: the connection's close callback (set in
// attach) and RequestDispatcher::on_connection_close. on_connection_close()
// must run at most once, and never after finish() (see tornado/web.h).
// Its exceptions are logged, not answered: the client is gone.
void RequestHandler::connection_closed() {
    // Both the connection's close callback and the dispatcher may report it.
    if (finished() || request_stage_ == RequestStage::closed) return;
    request_stage_ = RequestStage::closed;
    try {
        on_connection_close();
    } catch (...) {
        app_log.error("Exception in on_connection_close of {}: {}", request_summary(),
                      describe_exception(std::current_exception()));
    }
}

// Only a handler that turned stream_request_body() on gets here, and it
// must say what to do with the pieces: failing loudly beats dropping the
// body silently.
void RequestHandler::data_received(std::string) {
    throw std::logic_error("stream_request_body() is true but data_received() is not overridden");
}

Future<void> RequestHandler::data_received_async(std::string chunk) {
    data_received(std::move(chunk));
    return Future<void>(nullptr);
}

// The defaults of the coroutine style, which the defaults of get() and
// friends run: a handler that overrides neither form answers 405, as a
// Tornado handler without that method does. The throw happens inside the
// coroutine, so run_coroutine finds it in a Task that is already done.
Task<void> RequestHandler::get_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::head_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::post_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::delete_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::patch_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::put_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::options_async(PathArgs) { throw HTTPError(405); }

// Tornado's `result = await result` in _execute. A coroutine that ended
// without suspending (the 405 default, or one that never had to wait) is
// handled right here, so call_method() auto-finishes it like a synchronous method.
// Otherwise the handler goes asynchronous: the done callback holds a
// shared_ptr to it (a strong one on purpose: the handler must live until
// the coroutine ends, even if the connection drops it first) and finishes
// the response, or turns the coroutine's exception into an error page.
void RequestHandler::run_coroutine(Task<void> method) {
    if (method.done()) {
        method.result();  // rethrows what the coroutine threw, for execute() to answer
        return;
    }
    auto self = asynchronous();
    Future<void> done = std::move(method).future();
    done.add_done_callback([self = std::move(self)](Future<void> ended) {
        try {
            ended.result();
            if (!self->finished()) self->finish();
        } catch (...) {
            self->handle_request_exception(std::current_exception());
        }
    });
}

namespace {

// Frees what `value` holds. (Assigning an empty string would not: a string
// moved from one that is empty keeps its own buffer.)
template <typename T>
void release(T& value) noexcept {
    T empty;
    std::swap(value, empty);
}

}  // namespace

// Swaps rather than clears: clear() keeps the capacity, and the point is
// to give the memory back (a WebSocketHandler lives for hours after its
// 101). noexcept holds because default-constructing these allocates nothing.
void RequestHandler::forget_response() noexcept {
    release(headers_);
    if (rare_) release(rare_->new_cookies);
    release(write_buffer_);
    shared_body_ = {};
    release(transforms_);
    release(reason_);
}

// Made on first use; see Rare in tornado/web.h. Readers that only look
// (path_kwargs() below) check rare_ instead, so reading never allocates.
RequestHandler::Rare& RequestHandler::rare() {
    if (!rare_) rare_ = std::make_unique<Rare>();
    return *rare_;
}

const PathKwargs& RequestHandler::path_kwargs() const noexcept {
    static const PathKwargs none;  // a reference must point somewhere that lives on
    return rare_ ? rare_->path_kwargs : none;
}

// Marks the user known, so that current_user() will not call
// get_current_user() over it (Tornado's current_user setter).
void RequestHandler::set_current_user(std::optional<std::string> user) {
    Rare& kept = rare();
    kept.current_user = std::move(user);
    kept.current_user_known = true;
}

// The strong pointer is the point: whoever will call finish() later holds
// it, and with it the handler, past the dispatcher's lifetime if need be.
std::shared_ptr<RequestHandler> RequestHandler::asynchronous() {
    auto_finish_ = false;
    return shared_from_this();
}

// --- RequestHandler: arguments -----------------------------------------------------

// Tornado's decode_argument: arguments are bytes on the wire, text in the
// handler. Invalid UTF-8 is the client's fault (400), and the message
// shows the value with the bad bytes replaced, so the log line is valid
// text itself. (Tornado cuts the value to 40 bytes; this does not.)
std::string RequestHandler::decode_argument(std::string value, std::string_view name) const {
    require_utf8(value, name);
    return value;
}

void RequestHandler::require_utf8(std::string_view value, std::string_view name) {
    if (!is_valid_utf8(value)) {
        throw HTTPError(400, "Invalid unicode in " + std::string(name) + ": " +
                                 json_encode(JSON(replace_invalid_utf8(value))));
    }
}

void RequestHandler::check_argument_encoding() {
    auto check_arguments = [](const ArgumentMap& arguments, std::string_view where) {
        for (const auto& [name, values] : arguments) {
            require_utf8(name, std::string(where) + " argument name");
            for (const std::string& value : values) require_utf8(value, name);
        }
    };
    check_arguments(request_->query_arguments, "query");
    check_arguments(request_->body_arguments, "body");
    for (const auto& [field, uploads] : request_->files) {
        require_utf8(field, "file field name");
        for (const HTTPFile& file : uploads) {
            require_utf8(file.filename, "file name");
            require_utf8(file.content_type, "file content type");
        }
    }
    // Parsed only when the request has any (cookies() parses once).
    if (!request_->headers.contains("Cookie")) return;
    for (const auto& [name, value] : request_->cookies()) {
        require_utf8(name, "cookie name");
        require_utf8(value, "cookie " + name);
    }
}

// Tornado's _get_arguments: each value decoded, control characters turned
// into spaces, then stripped. The three get_*_argument families below
// differ only in which map they read (query, body, or both merged by
// HTTPServerRequest).
std::vector<std::string> RequestHandler::arguments_from(const ArgumentMap& source,
                                                        std::string_view name, bool strip) const {
    std::vector<std::string> values;
    if (const std::vector<std::string>* found = source.find_value(name)) {
        values.reserve(found->size());
        for (const std::string& raw : *found) {
            std::string value = decode_argument(raw, name);
            remove_control_characters(value);
            values.push_back(strip ? strip_whitespace(value) : std::move(value));
        }
    }
    return values;
}

// The last value wins, as in Tornado's _get_argument: with ?a=1&a=2,
// get_argument("a") is "2".
std::string RequestHandler::argument_from(const ArgumentMap& source, std::string_view name,
                                          std::optional<std::string_view> default_value,
                                          bool strip) const {
    std::vector<std::string> values = arguments_from(source, name, strip);
    if (!values.empty()) return std::move(values.back());
    if (default_value) return std::string(*default_value);
    throw MissingArgumentError(std::string(name));
}

std::string RequestHandler::get_argument(std::string_view name, bool strip) const {
    return argument_from(request_->arguments, name, std::nullopt, strip);
}
std::string RequestHandler::get_argument(std::string_view name, std::string_view default_value,
                                         bool strip) const {
    return argument_from(request_->arguments, name, default_value, strip);
}
std::vector<std::string> RequestHandler::get_arguments(std::string_view name, bool strip) const {
    return arguments_from(request_->arguments, name, strip);
}
std::string RequestHandler::get_query_argument(std::string_view name, bool strip) const {
    return argument_from(request_->query_arguments, name, std::nullopt, strip);
}
std::string RequestHandler::get_query_argument(std::string_view name,
                                               std::string_view default_value, bool strip) const {
    return argument_from(request_->query_arguments, name, default_value, strip);
}
std::vector<std::string> RequestHandler::get_query_arguments(std::string_view name,
                                                             bool strip) const {
    return arguments_from(request_->query_arguments, name, strip);
}
std::string RequestHandler::get_body_argument(std::string_view name, bool strip) const {
    return argument_from(request_->body_arguments, name, std::nullopt, strip);
}
std::string RequestHandler::get_body_argument(std::string_view name, std::string_view default_value,
                                              bool strip) const {
    return argument_from(request_->body_arguments, name, default_value, strip);
}
std::vector<std::string> RequestHandler::get_body_arguments(std::string_view name,
                                                            bool strip) const {
    return arguments_from(request_->body_arguments, name, strip);
}

// --- RequestHandler: cookies and users ------------------------------------------------

std::optional<std::string> RequestHandler::get_cookie(std::string_view name) const {
    if (const std::string* value = cookies().find_value(name)) return *value;
    return std::nullopt;
}

std::string RequestHandler::get_cookie(std::string_view name,
                                       std::string_view default_value) const {
    return get_cookie(name).value_or(std::string(default_value));
}

// Tornado 6.2's set_cookie, writing the Set-Cookie value that Python's
// Morsel.OutputString would. The cookie is kept by name until the headers
// go out (write_response), so a second set_cookie of the same name
// replaces the first, as Tornado's `del self._new_cookie[name]` does; and
// clear() (an error page) keeps it, as Tornado's does.
//
// Differences from Tornado, small and on purpose or harmless:
// * DEL (0x7f) is refused too, and a name must be an RFC 9110 token
//   (SimpleCookie raises CookieError for such names);
// * the attributes come in a fixed order, not sorted as Morsel sorts them;
//   RFC 6265 section 5.2 gives order no meaning.
void RequestHandler::set_cookie(std::string_view name, std::string_view value,
                                const CookieOptions& options) {
    auto has_control = [](std::string_view text) {
        // Tornado's [\x00-\x20] ("don't let us accidentally inject bad
        // stuff"): CR and LF would end the header. ';' and other specials
        // are made harmless by quote_cookie_value instead.
        return std::any_of(text.begin(), text.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
        });
    };
    if (name.empty() || has_control(name) || has_control(value) || !is_token(name)) {
        throw std::invalid_argument("Invalid cookie " +
                                    json_encode(JSON(replace_invalid_utf8(name))) + ": " +
                                    json_encode(JSON(replace_invalid_utf8(value))));
    }
    // The attributes in the order Python's Morsel writes them (sorted by
    // their lower-case names), so that our Set-Cookie headers read as
    // Tornado's do. An expires given wins over expires_days, as in Tornado.
    std::string header = std::string(name) + "=" + quote_cookie_value(value);
    if (!options.domain.empty()) header += "; Domain=" + options.domain;
    std::optional<std::time_t> expires = options.expires;
    if (options.expires_days && !expires) {
        expires = std::time(nullptr) + static_cast<std::time_t>(*options.expires_days * 86400);
    }
    if (expires) header += "; expires=" + format_timestamp(*expires);
    if (options.httponly) header += "; HttpOnly";
    if (options.max_age) header += "; Max-Age=" + std::to_string(*options.max_age);
    if (!options.path.empty()) header += "; Path=" + options.path;
    if (!options.samesite.empty()) header += "; SameSite=" + options.samesite;
    if (options.secure) header += "; Secure";
    // Domain, Path and SameSite come from the caller unchecked: a CR or LF
    // in one would end the Set-Cookie header and start another (response
    // splitting). Name and value were checked above.
    if (header.find_first_of("\r\n") != std::string::npos) {
        throw std::invalid_argument("Invalid cookie attribute for " + std::string(name));
    }
    rare().new_cookies[name] = std::move(header);
}

// Tornado's way: the same cookie, empty, expired a year ago. A browser
// deletes it only if Path and Domain match the ones it was set with
// (RFC 6265 section 5.3), hence the parameters.
void RequestHandler::clear_cookie(std::string_view name, std::string_view path,
                                  std::string_view domain) {
    CookieOptions options;
    options.path = std::string(path);
    options.domain = std::string(domain);
    options.expires = std::time(nullptr) - 365 * 86400;
    set_cookie(name, "", options);
}

void RequestHandler::clear_all_cookies(std::string_view path, std::string_view domain) {
    for (const auto& [name, value] : cookies()) clear_cookie(name, path, domain);
}

// A missing setting is the programmer's mistake, not the client's: a
// logic_error, so a 500 whose log says what to fix.
void RequestHandler::require_setting(std::string_view name, std::string_view feature) const {
    const ApplicationSettings& settings = application_->settings();
    bool present;
    if (name == "cookie_secret") {
        present = !settings.cookie_secret.empty() || !settings.cookie_secrets.empty();
    } else if (name == "login_url") {
        present = !settings.login_url.empty();
    } else if (name == "static_path") {
        present = !settings.static_path.empty();
    } else if (name == "template_path") {
        present = !settings.template_path.empty();
    } else if (name == "default_host") {
        present = !settings.default_host.empty();
    } else if (name == "xsrf_cookies") {
        present = settings.xsrf_cookies;
    } else if (name == "compress_response") {
        present = settings.compress_response;
    } else if (name == "debug") {
        present = settings.debug;
    } else {
        throw std::invalid_argument("require_setting: no setting named '" + std::string(name) +
                                    "'");
    }
    if (!present) {
        throw std::logic_error("You must define the '" + std::string(name) +
                               "' setting in your application to use " + std::string(feature));
    }
}

std::string RequestHandler::create_signed_value(std::string_view name,
                                                std::string_view value) const {
    require_setting("cookie_secret", "secure cookies");
    const ApplicationSettings& settings = application_->settings();
    if (settings.cookie_secrets.empty())
        return tornado::create_signed_value(settings.cookie_secret, name, value);
    if (!settings.key_version)
        throw std::logic_error("key_version setting must be used with cookie_secrets");
    return tornado::create_signed_value(settings.cookie_secrets, *settings.key_version, name,
                                        value);
}

void RequestHandler::set_secure_cookie(std::string_view name, std::string_view value,
                                       double expires_days, CookieOptions options) {
    options.expires_days = expires_days;
    set_cookie(name, create_signed_value(name, value), options);
}

std::optional<std::string> RequestHandler::get_secure_cookie(std::string_view name,
                                                             double max_age_days) const {
    require_setting("cookie_secret", "secure cookies");
    std::optional<std::string> cookie = get_cookie(name);
    if (!cookie) return std::nullopt;
    const ApplicationSettings& settings = application_->settings();
    if (!settings.cookie_secrets.empty())
        return decode_signed_value(settings.cookie_secrets, name, *cookie, max_age_days);
    return decode_signed_value(settings.cookie_secret, name, *cookie, max_age_days);
}

std::optional<int> RequestHandler::get_secure_cookie_key_version(std::string_view name) const {
    require_setting("cookie_secret", "secure cookies");
    std::optional<std::string> cookie = get_cookie(name);
    if (!cookie) return std::nullopt;
    return get_signature_key_version(*cookie);
}

// Tornado's current_user property: get_current_user() runs at most once
// per request, as it may cost a database query. An empty optional is
// remembered too, hence current_user_known rather than testing the value.
const std::optional<std::string>& RequestHandler::current_user() {
    Rare& kept = rare();
    if (!kept.current_user_known) {
        kept.current_user = get_current_user();
        kept.current_user_known = true;
    }
    return kept.current_user;
}

// Tornado's locale property: chosen once per request, as the user's choice
// may cost a database query.
const Locale& RequestHandler::locale() {
    Rare& kept = rare();
    if (kept.locale == nullptr) {
        kept.locale = get_user_locale();
        if (kept.locale == nullptr) kept.locale = &get_browser_locale();
    }
    return *kept.locale;
}

void RequestHandler::set_locale(const Locale& locale) { rare().locale = &locale; }

const Locale& RequestHandler::get_browser_locale(std::string_view default_code) const {
    const HTTPHeaders& headers = request_->headers;
    if (!headers.contains("Accept-Language"))
        return locale::get_browser_locale(std::nullopt, default_code);
    return locale::get_browser_locale(headers.get_first("Accept-Language"), default_code);
}

std::string RequestHandler::get_login_url() const {
    const std::string& login_url = application_->settings().login_url;
    if (login_url.empty()) require_setting("login_url", "require_authenticated");
    return login_url;
}

// Tornado's @authenticated decorator. A decorator can skip the method; a
// call inside it cannot, so after the redirect this throws Finish, which
// handle_request_exception takes as "done" (the response is finished
// already) and the rest of the method never runs. One difference: any
// user counts as logged in here, even an empty string, which Python's
// `if not self.current_user` would treat as no user.
void RequestHandler::require_authenticated() {
    if (current_user()) return;
    if (request_->method != "GET" && request_->method != "HEAD") throw HTTPError(403);
    std::string login = get_login_url();
    // A login URL that already has a query is left alone, as Tornado does.
    if (login.find('?') == std::string::npos) {
        // An absolute login URL (another host) gets the full URL to come
        // back to; a path gets the path. Tornado tests for a scheme with
        // urlsplit; "://" is the same test for URLs a setting would hold.
        std::string next =
            login.find("://") != std::string::npos ? request_->full_url() : request_->uri;
        login = url_concat(login, {{"next", next}});
    }
    redirect(login);
    throw Finish();
}

namespace {

// "//host/..." would send a browser to another site: one slash instead.
std::string without_leading_slashes(std::string path) {
    std::size_t first = path.find_first_not_of('/');
    if (first > 1) path.erase(0, (first == std::string::npos ? path.size() : first) - 1);
    return path;
}

}  // namespace

void RequestHandler::removeslash() {
    const std::string& path = request_->path;
    if (path.empty() || path.back() != '/') return;
    if (request_->method != "GET" && request_->method != "HEAD") throw HTTPError(404);
    std::string uri = path.substr(0, path.find_last_not_of('/') + 1);
    if (uri.empty()) return;  // "/" stays "/"
    uri = without_leading_slashes(std::move(uri));
    if (!request_->query.empty()) uri += "?" + request_->query;
    redirect(uri, /*permanent=*/true);
    throw Finish();
}

void RequestHandler::addslash() {
    const std::string& path = request_->path;
    if (!path.empty() && path.back() == '/') return;
    if (request_->method != "GET" && request_->method != "HEAD") throw HTTPError(404);
    std::string uri = without_leading_slashes(path + "/");
    if (!request_->query.empty()) uri += "?" + request_->query;
    redirect(uri, /*permanent=*/true);
    throw Finish();
}

// --- RequestHandler: XSRF protection -----------------------------------------------

namespace {

// Each byte of `data` XORed with `mask` (4 bytes), repeated (Tornado
// reuses _websocket_mask for it): how a version 2 XSRF token hides the raw
// one, so that the page differs on every request (BREACH cannot learn it
// from compressed responses).
std::string masked(std::string_view mask, std::string_view data) {
    std::string out(data);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(out[i] ^ mask[i % mask.size()]);
    return out;
}

struct DecodedXsrfToken {
    int version;
    std::string token;
    long long timestamp;
};

// A token as the cookie or a form carries it (Tornado's _decode_xsrf_token):
// "2|mask|masked token|timestamp" in hex, or version 1, the raw token in hex
// (or as it is). Nothing for a version 2 token that does not parse, or an
// unknown version.
std::optional<DecodedXsrfToken> decode_xsrf_token(std::string_view text) {
    // Tornado's ^([1-9][0-9]*)\|: a version number before the first '|'.
    // Anything else is version 1, which has no timestamp: "now" stands in.
    std::size_t bar = text.find('|');
    bool versioned = bar != std::string_view::npos && bar > 0 && text[0] != '0' &&
                     std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bar),
                                 [](char c) { return c >= '0' && c <= '9'; });
    if (!versioned) {
        std::optional<std::string> raw = detail::from_hex(text);
        return DecodedXsrfToken{1, raw ? *raw : std::string(text),
                                static_cast<long long>(std::time(nullptr))};
    }
    if (text.substr(0, bar) != "2") return std::nullopt;  // a future version: as if absent
    std::vector<std::string_view> parts;
    for (std::string_view rest = text;;) {
        std::size_t next = rest.find('|');
        parts.push_back(rest.substr(0, next));
        if (next == std::string_view::npos) break;
        rest.remove_prefix(next + 1);
    }
    if (parts.size() != 4) return std::nullopt;
    std::optional<std::string> mask = detail::from_hex(parts[1]);
    std::optional<std::string> token = detail::from_hex(parts[2]);
    long long timestamp = 0;
    auto [end, error] =
        std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), timestamp);
    // An empty mask would divide by zero in masked(); Tornado's a2b_hex
    // and int() raise on the rest, which it turns into "no token".
    if (!mask || mask->empty() || !token || error != std::errc() ||
        end != parts[3].data() + parts[3].size()) {
        return std::nullopt;
    }
    return DecodedXsrfToken{2, masked(*mask, *token), timestamp};
}

}  // namespace

// Tornado's _get_raw_xsrf_token: the token of the _xsrf cookie, or, when
// there is none (or it does not decode), 16 new random bytes that
// xsrf_token() will put in a new cookie. Computed once per request: the
// form and the check must see the same token.
const RequestHandler::RawXsrfToken& RequestHandler::raw_xsrf_token() {
    std::optional<RawXsrfToken>& raw = rare().raw_xsrf_token;
    if (!raw) {
        std::optional<DecodedXsrfToken> decoded;
        if (std::optional<std::string> cookie = get_cookie("_xsrf"))
            decoded = decode_xsrf_token(*cookie);
        if (decoded && !decoded->token.empty()) {
            raw = RawXsrfToken{decoded->version, std::move(decoded->token), decoded->timestamp};
        } else {
            raw = RawXsrfToken{std::nullopt, detail::random_bytes(16),
                               static_cast<long long>(std::time(nullptr))};
        }
    }
    return *raw;
}

// Tornado's xsrf_token. Version 2 masks the raw token with a new random
// mask each request, so the same secret never appears twice in pages
// (the BREACH note at masked()); the cookie keeps the first masked form
// written. Version 1 is the raw token in hex, for old clients.
const std::string& RequestHandler::xsrf_token() {
    std::optional<std::string>& token = rare().xsrf_token;
    if (!token) {
        const RawXsrfToken& raw = raw_xsrf_token();
        const ApplicationSettings& settings = application_->settings();
        if (settings.xsrf_cookie_version == 1) {
            token = detail::to_hex(raw.token);
        } else if (settings.xsrf_cookie_version == 2) {
            std::string mask = detail::random_bytes(4);
            std::string hidden = masked(mask, raw.token);
            token = "2|" + detail::to_hex(mask) + "|" + detail::to_hex(hidden) + "|" +
                    std::to_string(raw.timestamp);
        } else {
            throw std::invalid_argument("unknown xsrf_cookie_version " +
                                        std::to_string(settings.xsrf_cookie_version));
        }
        if (!raw.version) {  // no usable cookie yet: this request sets one
            CookieOptions options = settings.xsrf_cookie_kwargs;
            // Tornado's rule: a logged-in user keeps the token for 30 days
            // unless the settings say otherwise; anyone else gets a
            // session cookie.
            if (current_user() && !options.expires_days && !options.expires)
                options.expires_days = 30;
            set_cookie("_xsrf", *token, options);
        }
    }
    return *token;
}

std::string RequestHandler::xsrf_form_html() {
    return "<input type=\"hidden\" name=\"_xsrf\" value=\"" + xhtml_escape(xsrf_token()) + "\"/>";
}

// Tornado's check_xsrf_cookie. The token may come as a form field or, for
// JavaScript clients, as a header. Without an _xsrf cookie,
// raw_xsrf_token() invents a random token, which nothing sent can match:
// a request without the cookie is refused like a wrong token.
void RequestHandler::check_xsrf_cookie() {
    std::string sent = get_argument("_xsrf", "");
    if (sent.empty()) sent = request_->headers.get("X-Xsrftoken");
    if (sent.empty()) sent = request_->headers.get("X-Csrftoken");
    if (sent.empty()) throw HTTPError(403, "'_xsrf' argument missing from POST");
    std::optional<DecodedXsrfToken> decoded = decode_xsrf_token(sent);
    if (!decoded || decoded->token.empty())
        throw HTTPError(403, "'_xsrf' argument has invalid format");
    // In constant time: how long a wrong guess took must not tell how right it was.
    if (!equal_in_constant_time(decoded->token, raw_xsrf_token().token)) {
        throw HTTPError(403, "XSRF cookie does not match POST argument");
    }
}

// The ?v= hash lets the static files be cached forever (StaticFileHandler
// answers a versioned URL with a long Cache-Control): a changed file gets
// a new URL. The Application keeps the hash (static_file_version), so a
// file is hashed again only when it changes, not per page.
std::string RequestHandler::static_url(std::string_view path, bool include_version) const {
    const ApplicationSettings& settings = application_->settings();
    if (settings.static_path.empty())
        throw std::logic_error("static_url needs the static_path setting");
    return application_->static_url_handler().make_static_url(*application_, std::string(path),
                                                              include_version);
}

// --- RequestHandler: the response --------------------------------------------------

// Tornado's clear(), minus two headers: the connection adds Date and
// Server itself when the handler has not set them (format_head in
// http1connection.cpp). Cookies set so far are kept, as in Tornado: an
// error page still carries them. Runs for every request (attach), so it
// avoids allocating where it can.
void RequestHandler::clear() {
    headers_.clear();
    // Content-Type, Etag, Content-Length and a few more, in one allocation
    // each: a static file's answer, with its 130-byte Etag, holds about 330
    // bytes of names and values.
    headers_.reserve(8, 384);
    headers_.append_normalized_field("Content-Type",
                                     "text/html; charset=UTF-8");  // a literal: no checks
    set_default_headers();
    drop_buffered_body();
    status_code_ = 200;
    reason_.assign(reason_phrase(200));  // into the string's own bytes: no temporary
}

// Stricter than Tornado 6.2, which takes any status and reason: a status
// line is three digits (RFC 9112 section 4), and a CR or LF in the reason
// would split the response. Note the order: the fields change before the
// reason is checked, so a caller that catches the invalid_argument keeps
// the bad reason (the connection's format_head refuses it again later).
void RequestHandler::set_status(int status_code, std::string_view reason) {
    if (status_code < 100 || status_code > 999) {
        throw std::invalid_argument("invalid HTTP status code " + std::to_string(status_code));
    }
    status_code_ = status_code;
    reason_ = reason.empty() ? std::string(reason_phrase(status_code)) : std::string(reason);
    if (reason_.find_first_of("\r\n") != std::string::npos)
        throw std::invalid_argument("unsafe reason phrase");
}

// HTTPHeaders::set and add do the checks tornado/web.h promises (token
// name, no CR, LF or NUL in the value).
void RequestHandler::set_header(std::string_view name, std::string_view value) {
    headers_.set(name, value);
}

void RequestHandler::set_header(std::string_view name, std::chrono::system_clock::time_point when) {
    headers_.set(name, format_timestamp(when));
}

void RequestHandler::add_header(std::string_view name, std::string_view value) {
    headers_.add(name, value);
}

namespace {

// Fields a trailer must not carry: the recipient has framed and routed the
// message by the time they come (RFC 9110 section 6.5.1).
bool forbidden_in_trailers(std::string_view name) {
    for (std::string_view framing :
         {"Content-Length", "Transfer-Encoding", "Trailer", "TE", "Host", "Connection",
          "Keep-Alive", "Upgrade", "Content-Encoding", "Content-Type", "Content-Range"}) {
        if (detail::equals_ignoring_case(name, framing)) return true;
    }
    return name.starts_with(':');
}

}  // namespace

void RequestHandler::set_trailer(std::string_view name, std::string_view value) {
    if (finished()) throw std::logic_error("Cannot set a trailer after finish()");
    if (forbidden_in_trailers(name))
        throw std::invalid_argument("not allowed in trailers: " + detail::quoted(name));
    rare().trailers.set(name, value);
}

const HTTPHeaders& RequestHandler::response_trailers() const noexcept {
    static const HTTPHeaders none;
    return rare_ ? rare_->trailers : none;
}

// Date and Server are added by the connection to a response that has
// none, so clearing them leaves an empty value, which tells the connection
// to send neither its own nor this one (format_head in
// http1connection.cpp).
void RequestHandler::clear_header(std::string_view name) {
    if (detail::equals_ignoring_case(name, "Server") ||
        detail::equals_ignoring_case(name, "Date")) {
        headers_.set(name, "");
    } else {
        headers_.remove(name);
    }
}

// Only buffers: the Etag, the 304 and the Content-Length that finish()
// works out need the whole body, so nothing goes to the connection before
// flush() or finish().
void RequestHandler::write(std::string_view chunk) {
    if (finished()) throw std::logic_error("Cannot write() after finish()");
    if (chunk.empty()) return;  // finish()'s, mostly: a shared piece stays shared
    own_shared_body();
    write_buffer_ += chunk;
}

void RequestHandler::write(std::string&& chunk) {
    if (finished()) throw std::logic_error("Cannot write() after finish()");
    if (chunk.empty()) return;
    own_shared_body();
    if (write_buffer_.empty()) {
        write_buffer_ = std::move(chunk);
    } else {
        write_buffer_ += chunk;
    }
}

void RequestHandler::write(SharedBytes bytes) {
    if (finished()) throw std::logic_error("Cannot write() after finish()");
    if (bytes.bytes.empty()) return;
    if (buffered_body().empty()) {
        shared_body_ = std::move(bytes);
    } else {
        own_shared_body();
        write_buffer_ += bytes.bytes;
    }
}

std::string_view RequestHandler::buffered_body() const noexcept {
    return shared_body_.bytes.empty() ? std::string_view(write_buffer_) : shared_body_.bytes;
}

void RequestHandler::own_shared_body() {
    if (shared_body_.bytes.empty()) return;
    write_buffer_.assign(shared_body_.bytes);  // write_buffer_ is empty while shared_body_ is not
    shared_body_ = {};
}

void RequestHandler::drop_buffered_body() noexcept {
    write_buffer_.clear();
    shared_body_ = {};
}

namespace {

// Tornado's rule for write(dict): an object only. A JSON array is valid
// JavaScript, and old browsers let another site read it through a
// <script src> (JSON hijacking); an object literal alone is not valid.
template <typename Json>
std::string encode_json_object(const Json& object) {
    if (!object.is_object()) {
        throw std::invalid_argument(
            "write() takes a JSON object only; wrap a list in an object "
            "(a top-level array can be read by another site)");
    }
    return json_encode(object);
}

}  // namespace

// The Content-Type is set after the write: if the write throws (not an
// object, or after finish()), the headers stay as they were.
void RequestHandler::write(const JSON& object) {
    write(encode_json_object(object));
    set_header("Content-Type", "application/json; charset=UTF-8");
}

void RequestHandler::write(const nlohmann::ordered_json& object) {
    write(encode_json_object(object));
    set_header("Content-Type", "application/json; charset=UTF-8");
}

// Tornado's flush(include_footers=last), shared by flush() and finish().
// The buffer is moved out first, so a handler may write() again while
// this piece is still on its way. The first call sends the head: the
// transforms see the status and headers before anything is written (gzip
// sets Content-Encoding there), and the cookies become Set-Cookie lines
// only now, so a late set_cookie() could still replace an earlier one.
// A HEAD response's body is dropped by the connection, not here.
//
// A shared piece (write(SharedBytes)) goes to the connection as it is,
// unless a transform must see the bytes (it takes and gives strings).
Future<void> RequestHandler::write_response(bool last) {
    if (!transforms_.empty()) own_shared_body();
    SharedBytes shared = std::exchange(shared_body_, {});
    std::string chunk = std::move(write_buffer_);
    write_buffer_.clear();  // a moved-from string is valid but unspecified
    HTTPConnection* connection = request_->connection.get();
    if (connection == nullptr) return detail::done_future();  // a test's request
    Future<void> written(nullptr);
    if (response_stage_ == ResponseStage::nothing_sent) {
        response_stage_ = ResponseStage::headers_sent;
        for (auto& transform : transforms_) {
            chunk =
                transform->transform_first_chunk(status_code_, headers_, std::move(chunk), last);
        }
        if (rare_) {
            for (const auto& [name, cookie] : rare_->new_cookies)
                headers_.add_known_name("Set-Cookie", cookie);
        }
        ResponseStartLine start_line{"HTTP/1.1", status_code_, reason_};
        written = shared.bytes.empty()
                      ? connection->write_headers(start_line, headers_, chunk)
                      : connection->write_headers_shared(start_line, headers_, std::move(shared));
    } else {
        for (auto& transform : transforms_)
            chunk = transform->transform_chunk(std::move(chunk), last);
        // An empty piece from flush() is still written: the connection
        // sends nothing but returns the Future of the writes before it,
        // which is what `co_await flush()` waits for. At the end, finish()
        // below writes the terminating chunk itself.
        if (!shared.bytes.empty()) {
            written = connection->write_shared(std::move(shared));
        } else if (!chunk.empty() || !last) {
            written = connection->write(chunk);
        }
    }
    if (last) {
        if (rare_ && !rare_->trailers.empty()) {
            connection->finish_with_trailers(rare_->trailers);
        } else {
            connection->finish();
        }
    }
    return written.valid() ? written : detail::done_future();
}

// After a flush the head is out: finish() can no longer add an Etag or a
// Content-Length, so the connection chunks the body (HTTP/1.1) unless the
// handler set a Content-Length itself.
Future<void> RequestHandler::flush() {
    if (finished()) throw std::logic_error("Cannot flush() after finish()");
    return write_response(false);
}

bool RequestHandler::sends_file_now() const {
    if (response_stage_ != ResponseStage::headers_sent || !buffered_body().empty()) return false;
    for (const auto& transform : transforms_) {
        if (!transform->passes_body_unchanged()) return false;
    }
    const HTTPConnection* connection = request_->connection.get();
    return connection != nullptr && connection->sends_file_now();
}

Future<void> RequestHandler::write_file(FileBytes file) {
    if (!sends_file_now()) throw std::logic_error("write_file() where sends_file_now() is false");
    return request_->connection->write_file(std::move(file));
}

// on_finish() is the application's code: what it throws is logged, since
// the response is already out.
void RequestHandler::run_on_finish() {
    try {
        on_finish();
    } catch (...) {
        app_log.error("Exception in on_finish of {}: {}", request_summary(),
                      describe_exception(std::current_exception()));
    }
}

// Tornado's finish(). What can only be decided with the whole body in
// hand happens before the head goes out (settle_final_head).
Future<void> RequestHandler::finish(std::string_view chunk) {
    if (finished()) throw std::logic_error("finish() called twice");
    write(chunk);
    if (response_stage_ == ResponseStage::nothing_sent) settle_final_head();
    Future<void> sent(nullptr);
    try {
        sent = write_response(true);
    } catch (const StreamClosedError&) {
        // The client left; the response has nowhere to go. Other errors
        // (a Content-Length that does not match the body: HTTPOutputError)
        // leave the response unfinished, for the caller's
        // handle_request_exception.
    }
    // Finished before the log and on_finish(): a log_function that throws
    // cannot lead to a second finish().
    response_stage_ = ResponseStage::finished;
    // Tornado's order: the access log (whose request_time() is now), then on_finish.
    application_->log_request(*this);
    run_on_finish();
    return sent.valid() ? sent : detail::done_future();
}

// The Etag and the 304, the statuses that carry no body, and the
// Content-Length (which spares the connection the chunked encoding).
void RequestHandler::settle_final_head() {
    std::string_view method = request_->method;  // compared length first
    // Only for a 200 to GET or HEAD that set no Etag of its own
    // (StaticFileHandler sets the file's). add_known_name, not set: the
    // header is known to be absent, so there is nothing to replace and no
    // name to check.
    if (status_code_ == 200 && (method == "GET" || method == "HEAD") &&
        !headers_.contains("Etag")) {
        if (std::optional<std::string> etag = compute_etag())
            headers_.add_known_name("Etag", *etag);
        // The client's copy is current (RFC 9110 section 13.1.2): a 304
        // with no body.
        if (check_etag_header()) {
            drop_buffered_body();
            set_status(304);
        }
    }
    if (!detail::status_has_body(status_code_)) {
        // These statuses have no body (RFC 9110 sections 15.2, 15.3.5,
        // 15.4.5). A handler that wrote one has a bug, which Tornado
        // asserts: an exception here, so a 500 and a log line, rather than
        // the body dropped without a word.
        if (!buffered_body().empty())
            throw std::logic_error("Cannot send body with " + std::to_string(status_code_));
        // A 304 describes the representation the client has, not this
        // empty one (Tornado's _clear_representation_headers; RFC 9110
        // section 8.6 forbids Content-Length in 1xx and 204).
        for (std::string_view name :
             {"Content-Encoding", "Content-Language", "Content-Type", "Content-Length"}) {
            headers_.remove(name);
        }
    } else if (!headers_.contains("Content-Length") && response_trailers().empty()) {
        // With trailers, no Content-Length: HTTP/1.1 can carry trailers
        // only in a chunked body.
        // to_chars into the stack and no header checks: this runs for
        // nearly every response, and digits need no checking. A HEAD gets
        // the length its GET would have, as in Tornado.
        char digits[24];
        auto [end, error] = std::to_chars(digits, digits + sizeof digits, buffered_body().size());
        headers_.append_normalized_field("Content-Length", std::string_view(digits, end - digits));
    }
}

// Tornado's redirect(). The URL goes out as given; RFC 9110 section 10.2.2
// lets Location be relative, and browsers resolve it.
void RequestHandler::redirect(std::string_view url, bool permanent, int status) {
    if (response_stage_ != ResponseStage::nothing_sent)
        throw std::logic_error("Cannot redirect after headers have been written");
    if (status == 0) status = permanent ? 301 : 302;
    if (status < 300 || status > 399) throw std::invalid_argument("redirect status must be 3xx");
    set_status(status);
    set_header("Location", url);
    finish();
}

// Tornado's compute_etag: a strong Etag, the SHA-1 of the whole body in
// quotes. Any hash would do; SHA-1 is Tornado's, so a page served by both
// gets the same Etag.
std::optional<std::string> RequestHandler::compute_etag() const {
    if (!application_->settings().compute_etag) return std::nullopt;
    std::string etag;
    etag.reserve(2 + 2 * 20);  // the quotes and 20 bytes of SHA-1 in hex: one allocation
    etag += '"';
    append_sha1_hex(etag, buffered_body());
    etag += '"';
    return etag;
}

void RequestHandler::set_etag_header() {
    if (std::optional<std::string> etag = compute_etag()) set_header("Etag", *etag);
}

// Tornado's check_etag_header: does If-None-Match name the Etag this
// response has? Weak comparison, as RFC 9110 section 13.1.2 wants for
// If-None-Match: W/"x" matches "x". A hand-written scan instead of
// Tornado's regex. One difference: Tornado honours "*" only as the list's
// first item; here it matches anywhere (a list with "*" in it is not valid
// HTTP anyway).
bool RequestHandler::check_etag_header() const {
    if (!request_->headers.contains("If-None-Match"))
        return false;  // most requests: no join, no copy
    std::string_view etag = headers_.get_first("Etag");
    std::string if_none_match = request_->headers.get("If-None-Match");
    if (etag.empty() || if_none_match.empty()) return false;
    auto weak_stripped = [](std::string_view tag) {
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        return tag;
    };
    // The list's items: "*", or (W/)"opaque" (Tornado's regex \*|(?:W/)?"[^"]*").
    std::string_view rest = if_none_match;
    // Like re.findall: from left to right, each item starts at the first
    // character that can start one; anything between items (commas,
    // spaces, junk) is skipped.
    while (!rest.empty()) {
        std::size_t start = rest.find_first_of("*W\"");
        if (start == std::string_view::npos) break;
        rest.remove_prefix(start);
        if (rest[0] == '*') return true;
        std::size_t quote = rest.starts_with("W/\"") ? 2
                            : rest[0] == '"'         ? 0
                                                     : std::string_view::npos;
        if (quote == std::string_view::npos) {  // a 'W' not followed by /"
            rest.remove_prefix(1);
            continue;
        }
        std::size_t close = rest.find('"', quote + 1);
        if (close == std::string_view::npos) break;  // unterminated: not an item
        if (weak_stripped(rest.substr(0, close + 1)) == weak_stripped(etag)) return true;
        rest.remove_prefix(close + 1);
    }
    return false;
}

// --- RequestHandler: errors --------------------------------------------------------

// Tornado's _request_summary.
std::string RequestHandler::request_summary() const {
    return request_->method + " " + request_->uri + " (" + request_->remote_ip + ")";
}

// Tornado's send_error. Once a flush() has sent the head, the status is
// out and cannot change; the best left is to end the response so the
// connection is released (with a Content-Length the body has not reached,
// that finish() fails too, and the connection closes).
void RequestHandler::send_error(int status_code, std::exception_ptr error) {
    if (response_stage_ != ResponseStage::nothing_sent) {
        gen_log.error("Cannot send error response after headers written");
        if (!finished()) {
            try {
                finish();
            } catch (...) {
                gen_log.error("Failed to flush partial response: {}",
                              describe_exception(std::current_exception()));
            }
        }
        return;
    }
    // Everything written so far is dropped (clear()); cookies stay.
    clear();
    // An HTTPError's own reason replaces the standard phrase. Rethrowing is
    // how C++ asks an exception_ptr for its type.
    std::string reason;
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const HTTPError& http_error) {
            reason = http_error.reason();
            if (reason.find_first_of("\r\n") != std::string::npos)
                reason.clear();  // cannot go in a status line
        } catch (...) {}
    }
    // set_status() would throw on these; on the error path that would
    // leave the client with no answer at all.
    if (status_code < 100 || status_code > 999) {
        gen_log.error("send_error({}) is not an HTTP status: answering 500", status_code);
        status_code = 500;
    }
    set_status(status_code, reason);
    // write_error() is the application's code: if it fails, the page is
    // whatever it wrote, finished below, rather than no response. No page
    // for a status that has no body (Tornado skips it for 304: an
    // HTTPError(304) is the usual way to say "not modified").
    if (detail::status_has_body(status_code)) {
        try {
            write_error(status_code, error);
        } catch (...) {
            app_log.error("Uncaught exception in write_error: {}",
                          describe_exception(std::current_exception()));
        }
    }
    if (!finished()) {
        // A write_error that set such a status and wrote anyway: the
        // answer must still go out.
        if (!detail::status_has_body(status_code_)) drop_buffered_body();
        finish();
    }
}

// Tornado's default error page. The reason is escaped here, unlike in
// Tornado: an HTTPError's reason may carry text from the request.
void RequestHandler::write_error(int status_code, std::exception_ptr error) {
    if (error && application_->serve_traceback()) {
        // C++ has no traceback to show; the exception's type and message are
        // what there is.
        set_header("Content-Type", "text/plain; charset=UTF-8");
        finish(std::to_string(status_code) + ": " + reason_ + "\n\n" + describe_exception(error) +
               "\n");
        return;
    }
    std::string code = std::to_string(status_code);
    finish("<html><title>" + code + ": " + xhtml_escape(reason_) + "</title><body>" + code + ": " +
           xhtml_escape(reason_) + "</body></html>");
}

// Tornado's log_exception. An HTTPError is an answer the handler chose, so
// it is logged only if it has a log_message, and as a warning; anything
// else is a bug in the application, logged as an error.
void RequestHandler::log_exception(std::exception_ptr error) const {
    try {
        std::rethrow_exception(error);
    } catch (const HTTPError& http_error) {
        if (!http_error.log_message().empty()) {
            gen_log.warning("{} {}: {}", http_error.status_code(), request_summary(),
                            http_error.log_message());
        }
    } catch (...) {
        app_log.error("Uncaught exception {}\n{}", request_summary(), describe_exception(error));
    }
}

// Tornado's _handle_request_exception: where every exception of a request
// ends (execute, body_received, the dispatcher's data_received, a
// coroutine's done callback). Finish is not an error; StreamClosedError is
// not the application's (this case is not Tornado's, which logs it as an
// uncaught exception); the rest are logged and answered with an error
// page, unless the response was already finished.
void RequestHandler::handle_request_exception(std::exception_ptr error) {
    int status = 500;  // anything but an HTTPError
    try {
        std::rethrow_exception(error);
    } catch (const Finish& finish_now) {
        if (!finished()) finish(finish_now.chunk());
        return;
    } catch (const StreamClosedError&) {
        // The client left while the response was being written (a flush()
        // failed): nobody to answer, nothing the application did wrong.
        gen_log.debug("{}: client closed the connection", request_summary());
        // Marked finished and logged, but on_finish() is not called: a
        // handler that releases something there does not get the chance.
        // (Tornado's path, through send_error and finish, does call it.)
        if (!finished()) {
            response_stage_ = ResponseStage::finished;
            application_->log_request(*this);
        }
        return;
    } catch (const HTTPError& http_error) {
        status = http_error.status_code();
    } catch (...) {}
    // A log_exception override that throws must not stop the error page:
    // without a response, the client and the connection would hang.
    // (Tornado logs "Error in exception logger"; this stays silent.)
    try {
        log_exception(error);
    } catch (...) {}
    if (finished()) return;  // the response went out before the exception: nothing to send
    send_error(status, error);
}

// --- FallbackHandler ---------------------------------------------------------------

void RequestHandler::finished_elsewhere() {
    response_stage_ = ResponseStage::finished;
    run_on_finish();
}

// Tornado's order: the fallback, then _finished and on_finish(). A
// callback that throws leaves the handler unfinished, so the exception
// becomes the usual error page (if the callback had not answered yet).
void FallbackHandler::prepare() {
    fallback_(request_ptr());
    finished_elsewhere();
}

// --- RedirectHandler ---------------------------------------------------------------

void RedirectHandler::initialize(std::string url, bool permanent) {
    url_ = std::move(url);
    permanent_ = permanent;
}

namespace {
// A group comes percent-decoded from the path; going back into a URL, the
// bytes a Location header cannot carry (control characters: "/a%00" gives
// a NUL) are percent-encoded again, so the client's path cannot make the
// redirect a 500. (Tornado's set_header refuses them: a 500.)
std::vector<std::string> reencode_control_characters(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    out.reserve(args.size());
    auto not_control = [](unsigned char byte) { return byte >= 0x20 && byte != 0x7f; };
    for (const std::string& arg : args) {
        detail::append_percent_encoded(out.emplace_back(), arg, not_control);
    }
    return out;
}
}  // namespace

// Tornado's RedirectHandler.get. The query goes over as the raw string;
// Tornado re-encodes the parsed query_arguments with url_concat (the same
// pairs, possibly spelled differently).
void RedirectHandler::get(const PathArgs& args) {
    std::string target = format_url(url_, reencode_control_characters(args));
    if (!request().query.empty()) {
        target += (target.find('?') == std::string::npos ? "?" : "&") + request().query;
    }
    redirect(target, permanent_);
}

// Groups are numbered from 1 in "\N" (as in a regex) and from 0 in "{N}"
// (as in str.format). Only one digit after '\'. Unlike Python, "{}" and
// "{0}" may be mixed (Python raises ValueError): a "{}" takes the index
// equal to the number of fields before it, so "{1}{}" is args[1] args[1].
std::string format_url(std::string_view format, const std::vector<std::string>& args) {
    std::string out;
    std::size_t next_auto = 0;
    auto arg_at = [&](std::size_t index) -> const std::string& {
        if (index >= args.size()) {
            throw std::out_of_range("format_url: no group " + std::to_string(index) + " in " +
                                    std::string(format));
        }
        return args[index];
    };
    for (std::size_t i = 0; i < format.size(); ++i) {
        char c = format[i];
        if (c == '\\' && i + 1 < format.size() &&
            std::isdigit(static_cast<unsigned char>(format[i + 1]))) {
            std::size_t group = static_cast<std::size_t>(format[++i] - '0');
            if (group == 0) throw std::invalid_argument("format_url: \\0 is not a group");
            out += arg_at(group - 1);
        } else if (c == '{') {
            if (i + 1 < format.size() && format[i + 1] == '{') {  // "{{": a literal '{'
                out += '{';
                ++i;
                continue;
            }
            std::size_t close = format.find('}', i);
            if (close == std::string_view::npos)
                throw std::invalid_argument("format_url: unmatched '{'");
            std::string_view field = format.substr(i + 1, close - i - 1);
            std::size_t index = next_auto++;
            if (!field.empty()) {
                if (!std::all_of(field.begin(), field.end(),
                                 [](char d) { return d >= '0' && d <= '9'; })) {
                    throw std::invalid_argument("format_url: only positional fields, not {" +
                                                std::string(field) + "}");
                }
                index = static_cast<std::size_t>(std::stoul(std::string(field)));
            }
            out += arg_at(index);
            i = close;
        } else if (c == '}') {
            if (i + 1 < format.size() && format[i + 1] == '}') {
                out += '}';
                ++i;
                continue;
            }
            throw std::invalid_argument("format_url: unmatched '}'");
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace tornado
