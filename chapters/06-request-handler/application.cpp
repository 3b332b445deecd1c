// application.cpp: the Application (routing a request to a new handler),
// and the two handlers tornado.web ships for routes: ErrorHandler (in the
// header) and RedirectHandler.
#include "web.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>

#include "escape.h"

namespace course {

URLSpec::URLSpec(std::string pattern, HandlerFactory handler_factory, std::string route_name)
    : matcher(std::move(pattern)),
      handler(std::move(handler_factory)),
      name(std::move(route_name)) {}

Application::Application(std::vector<URLSpec> handlers)
    : Application(std::move(handlers), Settings{}) {}

Application::Application(std::vector<URLSpec> handlers, Settings settings)
    : routes_(std::move(handlers)),
      settings_(std::move(settings)),
      not_found_(handler<ErrorHandler>(404)) {}

// Tornado's Application.__call__ and _HandlerDelegate.execute: find the
// route, make its handler, attach the request, initialize, run.
void Application::operator()(std::shared_ptr<HTTPServerRequest> request) {
    HandlerMatch found = find_handler(request->path);
    const HandlerFactory& factory = factory_for(found);
    std::shared_ptr<RequestHandler> handler = factory.create();
    handler->attach(*this, std::move(request));
    factory.initialize(*handler);
    // Held until finish(): a handler that answers later (asynchronous())
    // must outlive this function, and whoever calls its finish() need not
    // be the one keeping it.
    open_handlers_.insert(handler);
    handler->execute(std::move(found.path_args));
}

// The route's factory; for an unknown path, the default_handler_class
// setting if there is one, else an ErrorHandler that answers 404.
const HandlerFactory& Application::factory_for(const HandlerMatch& found) const {
    if (found.route != nullptr) return found.route->handler;
    if (settings_.default_handler_class.create) return settings_.default_handler_class;
    return not_found_;
}

HTTPServer& Application::listen(std::uint16_t port, const std::string& address, IOLoop& loop) {
    servers_.push_back(std::make_unique<HTTPServer>(std::ref(*this), loop));
    servers_.back()->listen(port, address);
    return *servers_.back();
}

Application::HandlerMatch Application::find_handler(std::string_view path) const {
    for (const URLSpec& route : routes_) {
        if (std::optional<PathArgs> args = route.matcher.match(path)) {
            return {&route, std::move(*args)};
        }
    }
    return {};
}

std::string Application::reverse_url(std::string_view name,
                                      const std::vector<std::string>& args) const {
    for (const URLSpec& route : routes_) {
        if (route.name == name) return route.matcher.reverse(args);
    }
    throw std::out_of_range(std::string(name) + " not found in named urls");
}

void Application::log(const RequestHandler& handler) const {
    if (settings_.log_function) return settings_.log_function(handler);
    log_request(handler);
}

void Application::log_request(const RequestHandler& handler) {
    if (handler.get_status() < 400) return;
    std::chrono::duration<double, std::milli> elapsed = IOLoop::time() - handler.start_time_;
    std::fprintf(stderr, "%d %s %.2fms\n", handler.get_status(), handler.request_summary().c_str(),
                 elapsed.count());
}

// --- RedirectHandler ------------------------------------------------------------------

std::string format_url(std::string_view format, const std::vector<std::string>& args) {
    std::string url;
    std::size_t next_auto = 0;
    for (std::size_t i = 0; i < format.size(); ++i) {
        char c = format[i];
        if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
            url += c;  // "{{" or "}}"
            ++i;
        } else if (c == '}') {
            throw std::invalid_argument("Single '}' encountered in format string");
        } else if (c != '{') {
            url += c;
        } else {
            std::size_t close = format.find('}', i);
            if (close == std::string_view::npos) {
                throw std::invalid_argument("Single '{' encountered in format string");
            }
            std::string_view field = format.substr(i + 1, close - i - 1);
            std::size_t index = next_auto++;
            auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), index);
            if (!field.empty() && (error != std::errc() || end != field.data() + field.size())) {
                throw std::invalid_argument("format field {" + std::string(field) +
                                            "}: only positional fields are supported");
            }
            if (index >= args.size()) {
                throw std::out_of_range("Replacement index " + std::to_string(index) +
                                        " out of range for positional args tuple");
            }
            url += args[index];
            i = close;
        }
    }
    return url;
}

namespace {

// The query's fields grouped by name, names in the order they first
// appear: "b=1&a=2&b=3" -> b=1, b=3, a=2. Tornado copies them out of
// request.query_arguments, a dict of lists, and this is that dict's order.
QueryPairs grouped_query(std::string_view query) {
    QueryPairs fields = parse_qsl(query);
    QueryPairs grouped;
    for (const auto& field : fields) {
        const std::string& name = field.first;
        bool seen = std::any_of(grouped.begin(), grouped.end(),
                                [&](const auto& pair) { return pair.first == name; });
        if (seen) continue;
        for (const auto& pair : fields) {
            if (pair.first == name) grouped.push_back(pair);
        }
    }
    return grouped;
}

}  // namespace

void RedirectHandler::initialize(std::string url, bool permanent) {
    url_ = std::move(url);
    permanent_ = permanent;
}

// The groups go in as the handler received them, percent-decoded, and are
// not escaped again: "/pictures/a%20b" -> "Location: /photos/a b", as in
// Tornado.
void RedirectHandler::get(const PathArgs& args) {
    std::string to_url = format_url(url_, args);
    if (!request().query_arguments.empty()) {
        to_url = url_concat(to_url, grouped_query(request().query));
    }
    redirect(to_url, permanent_);
}

}  // namespace course
