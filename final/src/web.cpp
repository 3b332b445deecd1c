// web.cpp: see tornado/web.h. The request's path through this file:
//
//   Application::start_request -> RequestDispatcher (one per request)
//     headers_received: the request object, the route, the handler made;
//                       a streaming handler runs prepare() now
//     data_received:    the body, kept or handed to the handler
//     finish:           body parsed; RequestHandler::execute -> prepare ->
//                       call_method -> get() ... -> finish() -> the access log
#include "tornado/web.h"

// For SHA1_Init and friends: see append_sha1_hex.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "base64.h"
#include "hex.h"
#include "random_bytes.h"
#include "tornado/log.h"

namespace tornado {

namespace {

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

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &size);
    return detail::to_hex(digest, size);
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

// Reads "N:text|" from `rest`, leaving what follows the '|'.
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

std::string strip_whitespace(std::string_view text) {
    const char* spaces = " \t\n\r\v\f";
    std::size_t first = text.find_first_not_of(spaces);
    if (first == std::string_view::npos) return {};
    std::size_t last = text.find_last_not_of(spaces);
    return std::string(text.substr(first, last - first + 1));
}

// Tornado's _remove_control_chars_regex: [\x00-\x08\x0e-\x1f] become spaces.
void remove_control_characters(std::string& value) {
    for (char& c : value) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 0x08 || (u >= 0x0e && u <= 0x1f)) c = ' ';
    }
}

std::string exception_text(std::exception_ptr error) {
    return error ? describe_exception(error) : std::string("no exception");
}

}  // namespace

// --- exceptions --------------------------------------------------------------------

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

std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, std::time_t now) {
    std::string to_sign = "2|" + format_field("0") + "|" + format_field(std::to_string(now)) + "|" +
                          format_field(name) + "|" + format_field(detail::base64_encode(value)) +
                          "|";
    return to_sign + hmac_sha256_hex(secret, to_sign);
}

std::optional<std::string> decode_signed_value(std::string_view secret, std::string_view name,
                                               std::string_view signed_value, double max_age_days,
                                               std::time_t now) {
    if (!signed_value.starts_with("2|")) return std::nullopt;  // version 1 is not accepted
    std::string_view rest = signed_value.substr(2);
    std::optional<std::string_view> key_version = consume_field(rest);
    std::optional<std::string_view> timestamp = key_version ? consume_field(rest) : std::nullopt;
    std::optional<std::string_view> name_field = timestamp ? consume_field(rest) : std::nullopt;
    std::optional<std::string_view> value_field = name_field ? consume_field(rest) : std::nullopt;
    if (!value_field) return std::nullopt;
    std::string_view signature = rest;
    std::string_view signed_part = signed_value.substr(0, signed_value.size() - signature.size());
    if (!equal_in_constant_time(signature, hmac_sha256_hex(secret, signed_part)))
        return std::nullopt;
    if (*name_field != name) return std::nullopt;
    if (timestamp->empty() || timestamp->size() > 18 ||
        !std::all_of(timestamp->begin(), timestamp->end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    double age_limit = static_cast<double>(now) - max_age_days * 86400;
    if (static_cast<double>(std::stoll(std::string(*timestamp))) < age_limit) return std::nullopt;
    return detail::base64_decode(*value_field);
}

// --- RequestDispatcher -------------------------------------------------------------

// One request on its way to a handler (Tornado's _RequestDispatcher): the
// HTTPMessageDelegate the connection feeds.
class RequestDispatcher final : public HTTPMessageDelegate {
public:
    RequestDispatcher(Application& application, HTTP1ServerConnection* server_conn,
                      std::shared_ptr<HTTPConnection> connection)
        : application_(application),
          server_conn_(server_conn),
          connection_(std::move(connection)) {}

    Future<void> headers_received(StartLine start_line, HTTPHeaders headers) override {
        request_ = std::make_shared<HTTPServerRequest>(
            std::get<RequestStartLine>(std::move(start_line)), std::move(headers), connection_,
            server_conn_, IOLoop::current().turn_time());
        handler_ = application_.make_handler(request_, path_args_, path_kwargs_);
        if (handler_->stream_request_body()) {
            streaming_ = true;
            // prepare() now; the method once the body is in
            handler_->execute(std::move(path_args_), std::move(path_kwargs_));
        } else if (std::string_view length = request_->headers.get_first("Content-Length");
                   !length.empty()) {
            // The connection has checked it is digits within max_body_size.
            request_->body.reserve(static_cast<std::size_t>(std::stoull(std::string(length))));
        }
        return Future<void>(nullptr);
    }

    Future<void> data_received(std::string chunk) override {
        if (!streaming_) {
            request_->body += chunk;
        } else if (!handler_->finished()) {
            try {
                handler_->data_received(std::move(chunk));
            } catch (...) {
                handler_->handle_request_exception(std::current_exception());
            }
        }
        return Future<void>(nullptr);
    }

    void finish() override {
        if (streaming_) {
            handler_->body_received();
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

    void on_connection_close() override {
        if (handler_) handler_->connection_closed();
    }

private:
    Application& application_;
    HTTP1ServerConnection* server_conn_;
    std::shared_ptr<HTTPConnection> connection_;
    std::shared_ptr<HTTPServerRequest> request_;
    std::shared_ptr<RequestHandler> handler_;
    PathArgs path_args_;
    PathKwargs path_kwargs_;
    bool streaming_ = false;
};

// --- Application -------------------------------------------------------------------

URLSpec::URLSpec(std::string pattern, HandlerFactory handler, std::string name_)
    : matcher(std::move(pattern)), handler_factory(std::move(handler)), name(std::move(name_)) {
    if (!handler_factory)
        throw std::invalid_argument("URLSpec " + matcher.pattern() + ": no handler");
}

Application::Application(std::vector<URLSpec> handlers, ApplicationSettings settings)
    : settings_(std::move(settings)),
      not_found_(handler<ErrorHandler>(404)),
      ui_modules_(builtin_ui_modules()) {
    for (const auto& [name, factory] : settings_.ui_modules) ui_modules_[name] = factory;
    if (!settings_.static_path.empty()) {
        std::string prefix = settings_.static_url_prefix;
        routes_.emplace_back(prefix + "(.*)", handler<StaticFileHandler>(settings_.static_path),
                             "static");
    }
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

void Application::add_transform(OutputTransformFactory factory) {
    transforms_.push_back(std::move(factory));
}

HTTPServer& Application::listen(std::uint16_t port, const std::string& address,
                                HTTPServerOptions options) {
    auto server = std::make_unique<HTTPServer>(*this, std::move(options));
    server->listen(port, address);
    servers_.push_back(std::move(server));
    return *servers_.back();
}

Application::HandlerMatch Application::find_handler(std::string_view path) const {
    for (const URLSpec& route : routes_) {
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
    std::shared_ptr<HTTPServerRequest> request, PathArgs& path_args,
    PathKwargs& path_kwargs) const {
    HandlerMatch found = find_handler(request->path);
    path_args = std::move(found.path_args);
    path_kwargs = std::move(found.path_kwargs);
    const HandlerFactory& factory =
        found.route
            ? found.route->handler_factory
            : (settings_.default_handler_class ? settings_.default_handler_class : not_found_);
    return factory(const_cast<Application&>(*this), std::move(request));
}

std::string Application::reverse_url(std::string_view name,
                                     const std::vector<std::string>& args) const {
    for (const URLSpec& route : routes_) {
        if (route.name == name) return route.matcher.reverse(args);
    }
    throw std::out_of_range("reverse_url: no route named '" + std::string(name) + "'");
}

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
    HTTP1ServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) {
    return std::make_unique<RequestDispatcher>(*this, server_conn, std::move(request_conn));
}

// --- RequestHandler: the life cycle ------------------------------------------------

void RequestHandler::attach(Application& application, std::shared_ptr<HTTPServerRequest> request) {
    application_ = &application;
    request_ = std::move(request);
    for (const OutputTransformFactory& make : application.transforms_)
        transforms_.push_back(make(*request_));
    clear();
    if (request_->connection) {
        request_->connection->set_close_callback([weak = weak_from_this()] {
            if (auto self = weak.lock()) self->connection_closed();
        });
    }
}

void RequestHandler::execute(PathArgs path_args, PathKwargs path_kwargs) {
    try {
        if (std::find(std::begin(kSupportedMethods), std::end(kSupportedMethods),
                      request_->method) == std::end(kSupportedMethods)) {
            throw HTTPError(405);
        }
        path_args_.clear();
        for (std::size_t i = 0; i < path_args.size(); ++i) {
            path_args_.push_back(decode_argument(std::move(path_args[i]), "url path"));
        }
        if (rare_) rare_->path_kwargs.clear();
        for (auto& [name, value] : path_kwargs) {
            rare().path_kwargs[name] = decode_argument(std::move(value), "url path");
        }
        application_->reset_template_loaders_if_uncached();
        const std::string& method = request_->method;
        if (application_->settings().xsrf_cookies && method != "GET" && method != "HEAD" &&
            method != "OPTIONS") {
            check_xsrf_cookie();  // a form from another site gets 403 before any of the handler
                                  // runs
        }
        prepare();
        prepared_ = true;
        if (finished_) return;
        if (stream_request_body() && !body_complete_) return;  // body_received() goes on
        call_method();
    } catch (...) {
        handle_request_exception(std::current_exception());
    }
}

void RequestHandler::body_received() {
    body_complete_ = true;
    if (!prepared_ || finished_ || method_called_) return;
    try {
        call_method();
    } catch (...) {
        handle_request_exception(std::current_exception());
    }
}

void RequestHandler::call_method() {
    method_called_ = true;
    const std::string& method = request_->method;
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
    if (auto_finish_ && !finished_) finish();
}

void RequestHandler::connection_closed() {
    // Both the connection's close callback and the dispatcher may report it.
    if (finished_ || close_notified_) return;
    close_notified_ = true;
    try {
        on_connection_close();
    } catch (...) {
        app_log.error("Exception in on_connection_close of {}: {}", request_summary(),
                      exception_text(std::current_exception()));
    }
}

void RequestHandler::data_received(std::string) {
    throw std::logic_error("stream_request_body() is true but data_received() is not overridden");
}

Task<void> RequestHandler::get_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::head_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::post_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::delete_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::patch_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::put_async(PathArgs) { throw HTTPError(405); }
Task<void> RequestHandler::options_async(PathArgs) { throw HTTPError(405); }

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
            if (!self->finished_) self->finish();
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

void RequestHandler::forget_response() noexcept {
    release(headers_);
    if (rare_) release(rare_->new_cookies);
    release(write_buffer_);
    release(transforms_);
    release(reason_);
}

RequestHandler::Rare& RequestHandler::rare() {
    if (!rare_) rare_ = std::make_unique<Rare>();
    return *rare_;
}

const PathKwargs& RequestHandler::path_kwargs() const noexcept {
    static const PathKwargs none;
    return rare_ ? rare_->path_kwargs : none;
}

void RequestHandler::set_current_user(std::optional<std::string> user) {
    Rare& kept = rare();
    kept.current_user = std::move(user);
    kept.current_user_known = true;
}

std::shared_ptr<RequestHandler> RequestHandler::asynchronous() {
    auto_finish_ = false;
    return shared_from_this();
}

// --- RequestHandler: arguments -----------------------------------------------------

std::string RequestHandler::decode_argument(std::string value, std::string_view name) const {
    if (!is_valid_utf8(value)) {
        throw HTTPError(400, "Invalid unicode in " + std::string(name) + ": " +
                                 json_encode(JSON(replace_invalid_utf8(value))));
    }
    return value;
}

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

void RequestHandler::set_cookie(std::string_view name, std::string_view value,
                                const CookieOptions& options) {
    auto has_control = [](std::string_view text) {
        return std::any_of(text.begin(), text.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
        });
    };
    if (name.empty() || has_control(name) || has_control(value) || !is_token(name)) {
        throw std::invalid_argument("Invalid cookie " +
                                    json_encode(JSON(replace_invalid_utf8(name))) + ": " +
                                    json_encode(JSON(replace_invalid_utf8(value))));
    }
    std::string header = std::string(name) + "=" + quote_cookie_value(value);
    if (!options.domain.empty()) header += "; Domain=" + options.domain;
    std::optional<std::time_t> expires = options.expires;
    if (options.expires_days) {
        expires = std::time(nullptr) + static_cast<std::time_t>(*options.expires_days * 86400);
    }
    if (expires) header += "; expires=" + format_timestamp(*expires);
    if (!options.path.empty()) header += "; Path=" + options.path;
    if (options.max_age) header += "; Max-Age=" + std::to_string(*options.max_age);
    if (options.httponly) header += "; HttpOnly";
    if (options.secure) header += "; Secure";
    if (!options.samesite.empty()) header += "; SameSite=" + options.samesite;
    if (header.find_first_of("\r\n") != std::string::npos) {
        throw std::invalid_argument("Invalid cookie attribute for " + std::string(name));
    }
    rare().new_cookies[name] = std::move(header);
}

void RequestHandler::clear_cookie(std::string_view name, std::string_view path,
                                  std::string_view domain) {
    CookieOptions options;
    options.path = std::string(path);
    options.domain = std::string(domain);
    options.expires = std::time(nullptr) - 365 * 86400;
    set_cookie(name, "", options);
}

std::string RequestHandler::create_signed_value(std::string_view name,
                                                std::string_view value) const {
    const std::string& secret = application_->settings().cookie_secret;
    if (secret.empty()) {
        throw std::logic_error("the application needs a cookie_secret setting for signed cookies");
    }
    return tornado::create_signed_value(secret, name, value);
}

void RequestHandler::set_secure_cookie(std::string_view name, std::string_view value,
                                       double expires_days, CookieOptions options) {
    options.expires_days = expires_days;
    set_cookie(name, create_signed_value(name, value), options);
}

std::optional<std::string> RequestHandler::get_secure_cookie(std::string_view name,
                                                             double max_age_days) const {
    const std::string& secret = application_->settings().cookie_secret;
    if (secret.empty()) {
        throw std::logic_error("the application needs a cookie_secret setting for signed cookies");
    }
    std::optional<std::string> cookie = get_cookie(name);
    if (!cookie) return std::nullopt;
    return decode_signed_value(secret, name, *cookie, max_age_days);
}

const std::optional<std::string>& RequestHandler::current_user() {
    Rare& kept = rare();
    if (!kept.current_user_known) {
        kept.current_user = get_current_user();
        kept.current_user_known = true;
    }
    return kept.current_user;
}

std::string RequestHandler::get_login_url() const {
    const std::string& login_url = application_->settings().login_url;
    if (login_url.empty())
        throw std::logic_error("require_authenticated needs the login_url setting");
    return login_url;
}

void RequestHandler::require_authenticated() {
    if (current_user()) return;
    if (request_->method != "GET" && request_->method != "HEAD") throw HTTPError(403);
    std::string login = get_login_url();
    if (login.find('?') == std::string::npos) {
        // An absolute login URL gets the full URL to come back to.
        std::string next =
            login.find("://") != std::string::npos ? request_->full_url() : request_->uri;
        login = url_concat(login, {{"next", next}});
    }
    redirect(login);
    throw Finish();
}

// --- RequestHandler: XSRF protection -----------------------------------------------

namespace {

// Each byte of `data` XORed with `mask` (4 bytes), repeated: how a version 2
// XSRF token hides the raw one, so that the page differs on every request
// (BREACH cannot learn it from compressed responses).
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
    std::size_t bar = text.find('|');
    bool versioned = bar != std::string_view::npos && bar > 0 && text[0] != '0' &&
                     std::all_of(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bar),
                                 [](char c) { return c >= '0' && c <= '9'; });
    if (!versioned) {
        std::optional<std::string> raw = detail::from_hex(text);
        return DecodedXsrfToken{1, raw ? *raw : std::string(text),
                                static_cast<long long>(std::time(nullptr))};
    }
    if (text.substr(0, bar) != "2") return std::nullopt;
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
    if (!mask || mask->empty() || !token || error != std::errc() ||
        end != parts[3].data() + parts[3].size()) {
        return std::nullopt;
    }
    return DecodedXsrfToken{2, masked(*mask, *token), timestamp};
}

}  // namespace

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

std::string RequestHandler::static_url(std::string_view path, bool include_version) const {
    const ApplicationSettings& settings = application_->settings();
    if (settings.static_path.empty())
        throw std::logic_error("static_url needs the static_path setting");
    std::string url = settings.static_url_prefix + std::string(path);
    if (!include_version) return url;
    std::string version =
        application_->static_file_version(settings.static_path + "/" + std::string(path));
    return version.empty() ? url : url + "?v=" + version;
}

// --- RequestHandler: the response --------------------------------------------------

void RequestHandler::clear() {
    headers_.clear();
    // Content-Type, Etag, Content-Length and a few more, in one allocation each.
    headers_.reserve(8, 256);
    headers_.append_normalized_field("Content-Type",
                                     "text/html; charset=UTF-8");  // a literal: no checks
    set_default_headers();
    write_buffer_.clear();
    status_code_ = 200;
    reason_ = std::string(reason_phrase(200));
}

void RequestHandler::set_status(int status_code, std::string_view reason) {
    if (status_code < 100 || status_code > 999) {
        throw std::invalid_argument("invalid HTTP status code " + std::to_string(status_code));
    }
    status_code_ = status_code;
    reason_ = reason.empty() ? std::string(reason_phrase(status_code)) : std::string(reason);
    if (reason_.find_first_of("\r\n") != std::string::npos)
        throw std::invalid_argument("unsafe reason phrase");
}

void RequestHandler::set_header(std::string_view name, std::string_view value) {
    headers_.set(name, value);
}

void RequestHandler::set_header(std::string_view name, std::chrono::system_clock::time_point when) {
    headers_.set(name, format_timestamp(when));
}

void RequestHandler::add_header(std::string_view name, std::string_view value) {
    headers_.add(name, value);
}

void RequestHandler::clear_header(std::string_view name) { headers_.remove(name); }

void RequestHandler::write(std::string_view chunk) {
    if (finished_) throw std::logic_error("Cannot write() after finish()");
    write_buffer_ += chunk;
}

namespace {

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

void RequestHandler::write(const JSON& object) {
    write(encode_json_object(object));
    set_header("Content-Type", "application/json; charset=UTF-8");
}

void RequestHandler::write(const nlohmann::ordered_json& object) {
    write(encode_json_object(object));
    set_header("Content-Type", "application/json; charset=UTF-8");
}

Future<void> RequestHandler::write_response(bool last) {
    std::string chunk = std::move(write_buffer_);
    write_buffer_.clear();
    HTTPConnection* connection = request_->connection.get();
    if (connection == nullptr) return detail::done_future();
    Future<void> written(nullptr);
    if (!headers_written_) {
        headers_written_ = true;
        for (auto& transform : transforms_) {
            chunk =
                transform->transform_first_chunk(status_code_, headers_, std::move(chunk), last);
        }
        if (rare_) {
            for (const auto& [name, cookie] : rare_->new_cookies)
                headers_.add_known_name("Set-Cookie", cookie);
        }
        written = connection->write_headers(ResponseStartLine{"HTTP/1.1", status_code_, reason_},
                                            headers_, chunk);
    } else {
        for (auto& transform : transforms_)
            chunk = transform->transform_chunk(std::move(chunk), last);
        if (!chunk.empty() || !last) written = connection->write(chunk);
    }
    if (last) connection->finish();
    return written.valid() ? written : detail::done_future();
}

Future<void> RequestHandler::flush() {
    if (finished_) throw std::logic_error("Cannot flush() after finish()");
    return write_response(false);
}

Future<void> RequestHandler::finish(std::string_view chunk) {
    if (finished_) throw std::logic_error("finish() called twice");
    write(chunk);
    if (!headers_written_) {
        const std::string& method = request_->method;
        // (add, not set: the header is known to be absent, so there is nothing to replace)
        if (status_code_ == 200 && (method == "GET" || method == "HEAD") &&
            !headers_.contains("Etag")) {
            if (std::optional<std::string> etag = compute_etag())
                headers_.add_known_name("Etag", *etag);
            if (check_etag_header()) {
                write_buffer_.clear();
                set_status(304);
            }
        }
        if (status_code_ == 204 || status_code_ == 304 ||
            (status_code_ >= 100 && status_code_ < 200)) {
            write_buffer_.clear();
            // A 304 describes the representation the client has.
            for (std::string_view name :
                 {"Content-Encoding", "Content-Language", "Content-Type", "Content-Length"}) {
                headers_.remove(name);
            }
        } else if (!headers_.contains("Content-Length")) {
            char digits[24];
            auto [end, error] = std::to_chars(digits, digits + sizeof digits, write_buffer_.size());
            headers_.append_normalized_field("Content-Length",
                                             std::string_view(digits, end - digits));
        }
    }
    Future<void> sent(nullptr);
    try {
        sent = write_response(true);
    } catch (const StreamClosedError&) {
        // The client left; the response has nowhere to go.
    }
    finished_ = true;  // first: a log_function that throws cannot lead to a second finish()
    // Tornado's order: the access log (whose request_time() is now), then on_finish.
    application_->log_request(*this);
    try {
        on_finish();
    } catch (...) {
        app_log.error("Exception in on_finish of {}: {}", request_summary(),
                      exception_text(std::current_exception()));
    }
    return sent.valid() ? sent : detail::done_future();
}

void RequestHandler::redirect(std::string_view url, bool permanent, int status) {
    if (headers_written_) throw std::logic_error("Cannot redirect after headers have been written");
    if (status == 0) status = permanent ? 301 : 302;
    if (status < 300 || status > 399) throw std::invalid_argument("redirect status must be 3xx");
    set_status(status);
    set_header("Location", url);
    finish();
}

std::optional<std::string> RequestHandler::compute_etag() const {
    if (!application_->settings().compute_etag) return std::nullopt;
    std::string etag;
    etag.reserve(2 + 2 * 20);  // the quotes and 20 bytes of SHA-1 in hex: one allocation
    etag += '"';
    append_sha1_hex(etag, write_buffer_);
    etag += '"';
    return etag;
}

void RequestHandler::set_etag_header() {
    if (std::optional<std::string> etag = compute_etag()) set_header("Etag", *etag);
}

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
    while (!rest.empty()) {
        std::size_t start = rest.find_first_of("*W\"");
        if (start == std::string_view::npos) break;
        rest.remove_prefix(start);
        if (rest[0] == '*') return true;
        std::size_t quote = rest.starts_with("W/\"") ? 2
                            : rest[0] == '"'         ? 0
                                                     : std::string_view::npos;
        if (quote == std::string_view::npos) {
            rest.remove_prefix(1);
            continue;
        }
        std::size_t close = rest.find('"', quote + 1);
        if (close == std::string_view::npos) break;
        if (weak_stripped(rest.substr(0, close + 1)) == weak_stripped(etag)) return true;
        rest.remove_prefix(close + 1);
    }
    return false;
}

// --- RequestHandler: errors --------------------------------------------------------

std::string RequestHandler::request_summary() const {
    return request_->method + " " + request_->uri + " (" + request_->remote_ip + ")";
}

void RequestHandler::send_error(int status_code, std::exception_ptr error) {
    if (headers_written_) {
        gen_log.error("Cannot send error response after headers written");
        if (!finished_) {
            try {
                finish();
            } catch (...) {
                gen_log.error("Failed to flush partial response: {}",
                              exception_text(std::current_exception()));
            }
        }
        return;
    }
    clear();
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
    if (status_code < 100 || status_code > 999) {
        gen_log.error("send_error({}) is not an HTTP status: answering 500", status_code);
        status_code = 500;
    }
    set_status(status_code, reason);
    try {
        write_error(status_code, error);
    } catch (...) {
        app_log.error("Uncaught exception in write_error: {}",
                      exception_text(std::current_exception()));
    }
    if (!finished_) finish();
}

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

void RequestHandler::log_exception(std::exception_ptr error) const {
    try {
        std::rethrow_exception(error);
    } catch (const HTTPError& http_error) {
        if (!http_error.log_message().empty()) {
            gen_log.warning("{} {}: {}", http_error.status_code(), request_summary(),
                            http_error.log_message());
        }
    } catch (...) {
        app_log.error("Uncaught exception {}\n{}", request_summary(), exception_text(error));
    }
}

void RequestHandler::handle_request_exception(std::exception_ptr error) {
    int status = 500;  // anything but an HTTPError
    try {
        std::rethrow_exception(error);
    } catch (const Finish& finish_now) {
        if (!finished_) finish(finish_now.chunk());
        return;
    } catch (const StreamClosedError&) {
        // The client left while the response was being written (a flush()
        // failed): nobody to answer, nothing the application did wrong.
        gen_log.debug("{}: client closed the connection", request_summary());
        if (!finished_) {
            finished_ = true;
            application_->log_request(*this);
        }
        return;
    } catch (const HTTPError& http_error) {
        status = http_error.status_code();
    } catch (...) {}
    try {
        log_exception(error);
    } catch (...) {}
    if (finished_) return;  // the response went out before the exception: nothing to send
    send_error(status, error);
}

// --- RedirectHandler ---------------------------------------------------------------

void RedirectHandler::initialize(std::string url, bool permanent) {
    url_ = std::move(url);
    permanent_ = permanent;
}

void RedirectHandler::get(const PathArgs& args) {
    std::string target = format_url(url_, args);
    if (!request().query.empty()) {
        target += (target.find('?') == std::string::npos ? "?" : "&") + request().query;
    }
    redirect(target, permanent_);
}

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
            if (i + 1 < format.size() && format[i + 1] == '{') {
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
