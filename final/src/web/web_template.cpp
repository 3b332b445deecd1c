// web_template.cpp: templates in tornado/web.h: RequestHandler::render()
// and render_string(), the namespace a handler's templates see, UIModule
// and the built-in modules (Tornado's render and UIModule, in web.py).
//
// A Tornado template is handed Python objects and reads any attribute of
// them. C++ has no reflection, so each object a template may see (handler,
// request, request.headers) is a TemplateValue::object whose callback maps
// an attribute name to a value, and each method is a TemplateValue::function
// that unpacks Python-style arguments itself (the helpers just below).
//
// Lifetimes: every object and function here captures the handler or the
// request by reference, without owning it. That is safe because a
// template runs inside render_string(), while the handler (and so the
// request) is alive; a TemplateNamespace kept past the request would
// dangle (tornado/web.h: "Valid while the handler lives"). Everything runs
// on the loop's thread.
#include <algorithm>
#include <set>
#include <stdexcept>

#include "template/template_expression.h"
#include "tornado/web.h"

namespace tornado {

using template_detail::PythonError;

namespace {

// ---- the arguments of a C++ function called from a template ----------------

// The argument at `index`, or the keyword argument `keyword`; nullptr if
// the call has neither. Python binds a parameter either way, so each
// function below names both the position and the keyword of each of its
// parameters, as its Tornado signature has them.
const TemplateValue* find_argument(const TemplateArguments& arguments, std::size_t index,
                                   std::string_view keyword) {
    if (index < arguments.positional.size()) return &arguments.positional[index];
    return arguments.find_keyword(keyword);
}

// The same, missing being the TypeError Python raises for it.
const TemplateValue& required_argument(const TemplateArguments& arguments, std::size_t index,
                                       std::string_view keyword, std::string_view function) {
    const TemplateValue* value = find_argument(arguments, index, keyword);
    if (value == nullptr) {
        throw PythonError("TypeError", std::string(function) + "() missing required argument: '" +
                                           std::string(keyword) + "'");
    }
    return *value;
}

// A required parameter as text (as_string() throws std::invalid_argument
// if it is not a string).
std::string text_argument(const TemplateArguments& arguments, std::size_t index,
                          std::string_view keyword, std::string_view function) {
    return std::string(required_argument(arguments, index, keyword, function).as_string());
}

// An optional parameter read with Python's truth rules (0, "", None and
// empty lists are false), as Tornado's `if strip:` reads it.
bool flag_argument(const TemplateArguments& arguments, std::size_t index, std::string_view keyword,
                   bool default_value) {
    const TemplateValue* value = find_argument(arguments, index, keyword);
    return value == nullptr ? default_value : value->truthy();
}

// Nothing becomes None, as Tornado's current_user or get_cookie give it.
TemplateValue optional_text(const std::optional<std::string>& text) {
    return text ? TemplateValue(*text) : TemplateValue();
}

// A request's arguments as Python's dict of lists: name -> [values].
// Raw values, as Tornado's request.arguments holds them (bytes there): no
// UTF-8 check, no stripping; get_argument() is the cleaned way.
JSON arguments_dict(const ArgumentMap& arguments) {
    JSON dict = JSON::object();
    for (const auto& [name, values] : arguments) dict[name] = values;
    return dict;
}

// ---- request and its headers, as objects a template reads ------------------

// request.headers, with the three ways Tornado templates read it: .get(name,
// default), [name] (KeyError when absent) and .get_list(name). get() and
// [] join repeated fields with ",", as Tornado's HTTPHeaders does.
TemplateValue headers_object(const HTTPHeaders& headers) {
    auto get = [&headers](const TemplateArguments& arguments) -> TemplateValue {
        std::string name = text_argument(arguments, 0, "name", "get");
        if (!headers.contains(name)) {
            const TemplateValue* fallback = find_argument(arguments, 1, "default");
            return fallback != nullptr ? *fallback : TemplateValue();
        }
        return headers.get(name);
    };
    auto get_item = [&headers](const TemplateArguments& arguments) -> TemplateValue {
        std::string name = text_argument(arguments, 0, "key", "__getitem__");
        if (!headers.contains(name)) throw PythonError("KeyError", "'" + name + "'");
        return headers.get(name);
    };
    auto get_list = [&headers](const TemplateArguments& arguments) -> TemplateValue {
        return JSON(headers.get_list(text_argument(arguments, 0, "name", "get_list")));
    };
    // By copy: the three lambdas above (each holding only &headers) must
    // live as long as the object, which outlives this function.
    auto attributes = [=](std::string_view name) -> std::optional<TemplateValue> {
        if (name == "get") return TemplateValue::function("get", get);
        if (name == "__getitem__") return TemplateValue::function("__getitem__", get_item);
        if (name == "get_list") return TemplateValue::function("get_list", get_list);
        return std::nullopt;
    };
    return TemplateValue::object("HTTPHeaders", attributes);
}

// request, the attributes Tornado's HTTPServerRequest has that make sense
// in a page. The callback runs at each `request.name` a template reads, so
// the dicts and the headers object are built per read, not up front: most
// pages read one or two attributes, if any.
TemplateValue request_object(const HTTPServerRequest& request) {
    return TemplateValue::object(
        "HTTPServerRequest", [&request](std::string_view name) -> std::optional<TemplateValue> {
            if (name == "method") return request.method;
            if (name == "uri") return request.uri;
            if (name == "path") return request.path;
            if (name == "query") return request.query;
            if (name == "version") return request.version;
            if (name == "remote_ip") return request.remote_ip;
            if (name == "protocol") return request.protocol;
            if (name == "host") return request.host;
            if (name == "host_name") return request.host_name;
            if (name == "body") return request.body;
            if (name == "headers") return headers_object(request.headers);
            if (name == "arguments") return arguments_dict(request.arguments);
            if (name == "query_arguments") return arguments_dict(request.query_arguments);
            if (name == "body_arguments") return arguments_dict(request.body_arguments);
            if (name == "cookies") {
                JSON cookies = JSON::object();
                for (const auto& [cookie, value] : request.cookies()) cookies[cookie] = value;
                return cookies;
            }
            if (name == "full_url") {
                return TemplateValue::function("full_url", [&request](const TemplateArguments&) {
                    return TemplateValue(request.full_url());
                });
            }
            if (name == "request_time") {
                return TemplateValue::function("request_time",
                                               [&request](const TemplateArguments&) {
                                                   return TemplateValue(request.request_time());
                                               });
            }
            return std::nullopt;
        });
}

// What answers a request by itself, HTTPError and Finish, thrown by a
// function the template called (get_argument's 400, a module's 403): thrown
// again as it was, through the TemplateErrors of the templates around it,
// so that the request gets its status rather than a 500.
void rethrow_http_error(const TemplateError& error) {
    std::exception_ptr cause = error.cause();
    while (cause) {
        try {
            std::rethrow_exception(cause);
        } catch (const HTTPError&) {
            throw;
        } catch (const Finish&) {
            throw;
        } catch (const TemplateError& inner) {
            cause = inner.cause();  // a template inside a template: look deeper
        } catch (...) {
            // A real error: the caller rethrows the TemplateError, whose
            // message names the template and the line (a 500).
            return;
        }
    }
}

// The functions a template calls on its handler (Tornado's bound methods).
TemplateValue static_url_function(const RequestHandler& handler) {
    return TemplateValue::function("static_url", [&handler](const TemplateArguments& arguments) {
        return TemplateValue(
            handler.static_url(text_argument(arguments, 0, "path", "static_url"),
                               flag_argument(arguments, 1, "include_version", true)));
    });
}

// reverse_url(name, *args): the values may be numbers in a template, so
// each is turned into text as Python's str() would (str()).
TemplateValue reverse_url_function(const RequestHandler& handler) {
    return TemplateValue::function("reverse_url", [&handler](const TemplateArguments& arguments) {
        std::string name = text_argument(arguments, 0, "name", "reverse_url");
        std::vector<std::string> values;
        for (std::size_t i = 1; i < arguments.positional.size(); ++i) {
            values.push_back(arguments.positional[i].str());
        }
        return TemplateValue(handler.application().reverse_url(name, values));
    });
}

TemplateValue get_status_function(const RequestHandler& handler) {
    return TemplateValue::function("get_status", [&handler](const TemplateArguments&) {
        return TemplateValue(handler.get_status());
    });
}

// get_argument, get_query_argument or get_body_argument (`which`), with
// Python's optional default, which may be any value (None, most often).
TemplateValue argument_function(const RequestHandler& handler, std::string which) {
    return TemplateValue::function(which, [&handler, which](const TemplateArguments& arguments) {
        std::string name = text_argument(arguments, 0, "name", which);
        bool strip = flag_argument(arguments, 2, "strip", true);
        const HTTPServerRequest& request = handler.request();
        const ArgumentMap& source = which == "get_query_argument"  ? request.query_arguments
                                    : which == "get_body_argument" ? request.body_arguments
                                                                   : request.arguments;
        // Python's default=None is a value, so "was a default given" and
        // "what is it" are separate questions; C++'s get_argument overloads
        // take only text, so a given default is answered here.
        const TemplateValue* fallback = find_argument(arguments, 1, "default");
        if (fallback != nullptr && !source.contains(name)) return *fallback;
        if (which == "get_query_argument")
            return TemplateValue(handler.get_query_argument(name, strip));
        if (which == "get_body_argument")
            return TemplateValue(handler.get_body_argument(name, strip));
        return TemplateValue(handler.get_argument(name, strip));
    });
}

TemplateValue arguments_function(const RequestHandler& handler) {
    return TemplateValue::function("get_arguments", [&handler](const TemplateArguments& arguments) {
        return TemplateValue(
            JSON(handler.get_arguments(text_argument(arguments, 0, "name", "get_arguments"),
                                       flag_argument(arguments, 1, "strip", true))));
    });
}

// get_cookie(name, default=None), the default again any Python value.
TemplateValue cookie_function(const RequestHandler& handler) {
    return TemplateValue::function("get_cookie", [&handler](const TemplateArguments& arguments) {
        std::optional<std::string> value =
            handler.get_cookie(text_argument(arguments, 0, "name", "get_cookie"));
        const TemplateValue* fallback = find_argument(arguments, 1, "default");
        if (!value && fallback != nullptr) return *fallback;
        return optional_text(value);
    });
}

// Tornado's _ and pgettext: the handler's locale().translate and pgettext,
// with Python's arguments: (message, plural_message=None, count=None), and
// pgettext's context first. With no translations loaded, the message
// itself, or the form `count` asks for.
std::optional<std::string> optional_text_argument(const TemplateArguments& arguments,
                                                  std::size_t index, std::string_view keyword) {
    const TemplateValue* value = find_argument(arguments, index, keyword);
    if (value == nullptr || value->is_none()) return std::nullopt;
    return std::string(value->as_string());
}

TemplateValue translate_function(RequestHandler& handler, std::string name, bool with_context) {
    return TemplateValue::function(
        name, [&handler, name, with_context](const TemplateArguments& arguments) {
            std::size_t first = with_context ? 1 : 0;
            std::string message = text_argument(arguments, first, "message", name);
            std::optional<std::string> plural =
                optional_text_argument(arguments, first + 1, "plural_message");
            const TemplateValue* count_value = find_argument(arguments, first + 2, "count");
            std::optional<std::int64_t> count;
            if (count_value != nullptr && !count_value->is_none())
                count = count_value->as_integer();
            if (plural && !count) {
                throw PythonError("ValueError", name + "(): a plural_message needs a count");
            }
            std::optional<std::string_view> plural_view;
            if (plural) plural_view = *plural;
            const Locale& locale = handler.locale();
            if (!with_context) return TemplateValue(locale.translate(message, plural_view, count));
            std::string context = text_argument(arguments, 0, "context", name);
            return TemplateValue(locale.pgettext(context, message, plural_view, count));
        });
}

// The template's `locale`: the Locale's attributes and the methods a page
// calls (Tornado hands over the Python object). Each read asks
// handler.locale(), so a page that never uses it costs no lookup. format_date
// takes seconds since the epoch (UTC), as a template gets dates from data.
TemplateValue locale_object(RequestHandler& handler) {
    auto format_date = [&handler](const TemplateArguments& arguments) -> TemplateValue {
        double seconds = required_argument(arguments, 0, "date", "format_date").as_float();
        FormatDateOptions options;
        if (const TemplateValue* offset = find_argument(arguments, 1, "gmt_offset")) {
            options.gmt_offset = static_cast<int>(offset->as_integer());
        }
        options.relative = flag_argument(arguments, 2, "relative", true);
        options.shorter = flag_argument(arguments, 3, "shorter", false);
        options.full_format = flag_argument(arguments, 4, "full_format", false);
        return handler.locale().format_date(seconds, options);
    };
    auto list = [&handler](const TemplateArguments& arguments) -> TemplateValue {
        std::vector<std::string> parts;
        for (const TemplateValue& part : required_argument(arguments, 0, "parts", "list").items()) {
            parts.emplace_back(part.as_string());
        }
        return handler.locale().list(parts);
    };
    auto friendly_number = [&handler](const TemplateArguments& arguments) -> TemplateValue {
        return handler.locale().friendly_number(
            required_argument(arguments, 0, "value", "friendly_number").as_integer());
    };
    auto attributes = [&handler, format_date, list,
                       friendly_number](std::string_view name) -> std::optional<TemplateValue> {
        if (name == "code") return handler.locale().code;
        if (name == "name") return handler.locale().name;
        if (name == "rtl") return handler.locale().rtl;
        if (name == "translate") return translate_function(handler, "translate", false);
        if (name == "pgettext") return translate_function(handler, "pgettext", true);
        if (name == "format_date") return TemplateValue::function("format_date", format_date);
        if (name == "list") return TemplateValue::function("list", list);
        if (name == "friendly_number")
            return TemplateValue::function("friendly_number", friendly_number);
        return std::nullopt;
    };
    return TemplateValue::object("Locale", attributes);
}

// handler.settings: the Application's settings a template might read, by
// Tornado's names. Callables (handler classes, log_function, ui_methods)
// are left out, and so is cookie_secret: no page needs the signing key, and
// one printed by mistake would give it away.
JSON settings_dict(const ApplicationSettings& settings) {
    return {
        {"debug", settings.debug},
        {"serve_traceback", settings.serve_traceback.value_or(settings.debug)},
        {"login_url", settings.login_url},
        {"static_path", settings.static_path},
        {"static_url_prefix", settings.static_url_prefix},
        {"compute_etag", settings.compute_etag},
        {"xsrf_cookies", settings.xsrf_cookies},
        {"compress_response", settings.compress_response},
        {"template_path", settings.template_path},
        {"autoescape", settings.autoescape ? JSON(*settings.autoescape) : JSON("xhtml_escape")},
        {"compiled_template_cache", settings.compiled_template_cache.value_or(!settings.debug)},
    };
}

TemplateValue xsrf_form_html_function(RequestHandler& handler) {
    return TemplateValue::function("xsrf_form_html", [&handler](const TemplateArguments&) {
        return TemplateValue(handler.xsrf_form_html());
    });
}

// ---- the built-in modules ----------------------------------------------------

// {% module linkify(text, shorten=True, ...) %}: escape.h's linkify
// (Tornado's _linkify module). Tornado passes **kwargs through; here
// extra_params is keyword-only and text (not a callable), and
// permitted_protocols is not offered.
class LinkifyModule : public UIModule {
public:
    using UIModule::UIModule;
    std::string render(const TemplateArguments& arguments) override {
        LinkifyOptions options;
        options.shorten = flag_argument(arguments, 1, "shorten", false);
        if (const TemplateValue* extra = arguments.find_keyword("extra_params")) {
            options.extra_params = std::string(extra->as_string());
        }
        options.require_protocol = flag_argument(arguments, 3, "require_protocol", false);
        return linkify(text_argument(arguments, 0, "text", "linkify"), options);
    }
};

// {% module xsrf_form_html() %}
class XsrfFormHtmlModule : public UIModule {
public:
    using UIModule::UIModule;
    std::string render(const TemplateArguments&) override { return handler().xsrf_form_html(); }
};

// The links for `paths` (each relative one through static_url), each path
// once, in the order first given (Tornado's render_linked_js / _css).
// Duplicates are common: two modules, or one module used twice on a page,
// asking for the same file. The URL is escaped because it goes into an
// attribute.
template <typename Link>
std::string linked_resources(const RequestHandler& handler, const std::vector<std::string>& paths,
                             Link link) {
    std::string out;
    std::set<std::string> seen;
    for (const std::string& path : paths) {
        bool absolute =
            path.starts_with("/") || path.starts_with("http:") || path.starts_with("https:");
        std::string url = absolute ? path : handler.static_url(path);
        if (seen.insert(url).second) out += link(xhtml_escape(url));
    }
    return out;
}

std::string joined(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) out += separator;
        out += parts[i];
    }
    return out;
}

// Puts `piece` and a newline before the first (or last) `marker` of `html`.
// A page without the marker is an error, not a silent drop: the module
// would render without its script or style (Tornado's index() raises
// ValueError).
void insert_before(std::string& html, std::string_view marker, bool last,
                   const std::string& piece) {
    std::size_t at = last ? html.rfind(marker) : html.find(marker);
    if (at == std::string::npos) {
        throw std::runtime_error("render(): the page has no " + std::string(marker) +
                                 " for its modules' JavaScript, CSS or HTML");
    }
    html.insert(at, piece + "\n");
}

}  // namespace

// ---- UIModule and TemplateModule ----------------------------------------------

HTTPServerRequest& UIModule::request() const { return handler_.request(); }

const std::optional<std::string>& UIModule::current_user() const { return handler_.current_user(); }

std::string UIModule::render_string(const std::string& template_name, const JSON& arguments,
                                    const TemplateNamespace& extra) const {
    return handler_.render_string(template_name, arguments, extra);
}

// Tornado's TemplateModule.render: the template gets the keyword
// arguments and a set_resources() bound to its path. The closure captures
// `this`: it lives only as long as this render_string() call, and the
// module lives as long as the handler.
std::string TemplateModule::render(const TemplateArguments& arguments) {
    std::string path = text_argument(arguments, 0, "path", "Template");
    JSON values = JSON::object();
    for (const auto& [name, value] : arguments.keyword) values[name] = value.to_json();
    TemplateNamespace extra;
    extra.set_function("set_resources", [this, path](const TemplateArguments& resources) {
        set_resources(path, resources);
        return TemplateValue("");
    });
    return render_string(path, values, extra);
}

// Kept per template path, in first-call order (Tornado keeps a list and a
// dict for the same reason): the same template rendered ten times on a
// page adds its resources once.
void TemplateModule::set_resources(const std::string& path, const TemplateArguments& arguments) {
    JSON resources = JSON::object();
    for (const auto& [name, value] : arguments.keyword) resources[name] = value.to_json();
    auto known = std::find_if(resources_.begin(), resources_.end(),
                              [&](const auto& entry) { return entry.first == path; });
    if (known == resources_.end()) {
        resources_.emplace_back(path, std::move(resources));
    } else if (known->second != resources) {
        // Python's ValueError: a template included twice asks for one set.
        throw std::invalid_argument(
            "set_resources called with different resources for the same template");
    }
}

// Tornado allows a single string or a list for the *_files keys; this
// allows both for every key, and refuses anything else, since the values
// end up in the page as text.
std::vector<std::string> TemplateModule::resources(std::string_view key) const {
    std::vector<std::string> found;
    for (const auto& [path, resources] : resources_) {
        auto value = resources.find(key);
        if (value == resources.end()) continue;
        auto keep = [&](const JSON& item) {
            if (!item.is_string()) {
                throw std::invalid_argument("set_resources: " + std::string(key) +
                                            " takes text or a list of text");
            }
            found.push_back(item.get<std::string>());
        };
        if (value->is_array()) {
            for (const JSON& item : *value) keep(item);
        } else {
            keep(*value);
        }
    }
    return found;
}

std::string TemplateModule::embedded_javascript() {
    return joined(resources("embedded_javascript"), "\n");
}
std::vector<std::string> TemplateModule::javascript_files() {
    return resources("javascript_files");
}
std::string TemplateModule::embedded_css() { return joined(resources("embedded_css"), "\n"); }
std::vector<std::string> TemplateModule::css_files() { return resources("css_files"); }
std::string TemplateModule::html_head() { return joined(resources("html_head"), ""); }
std::string TemplateModule::html_body() { return joined(resources("html_body"), ""); }

// Tornado's built-in modules ("linkify", "xsrf_form_html", "Template").
// The constructor copies settings.ui_modules over these, so an application
// may replace one by using its name.
std::map<std::string, UIModuleFactory> Application::builtin_ui_modules() {
    return {{"linkify", ui_module<LinkifyModule>()},
            {"xsrf_form_html", ui_module<XsrfFormHtmlModule>()},
            {"Template", ui_module<TemplateModule>()}};
}

// ---- the Application's loaders ----------------------------------------------------

// One loader per path, made by the first handler that asks: its
// create_template_loader() decides for every handler that uses the same
// path, as in Tornado (whose cache is keyed by path too). Loaders keep
// parsed templates, so sharing them is what makes the second request fast.
std::shared_ptr<BaseLoader> Application::template_loader(const std::string& template_path,
                                                         const RequestHandler& handler) {
    std::shared_ptr<BaseLoader>& loader = template_loaders_[template_path];
    if (!loader) loader = handler.create_template_loader(template_path);
    return loader;
}

// Called by RequestHandler::execute for every request. The default
// follows debug: in development, an edited template shows on the next
// reload; in production, parsing happens once per template.
void Application::reset_template_loaders_if_uncached() {
    if (settings_.compiled_template_cache.value_or(!settings_.debug)) return;
    for (auto& [path, loader] : template_loaders_) loader->reset();
}

// ---- RequestHandler --------------------------------------------------------------

std::string RequestHandler::get_template_path() const {
    return application_->settings().template_path;
}

// Tornado's create_template_loader. A template_loader setting is shared by
// every path; otherwise the settings become the new Loader's options,
// unset ones left to the Loader's defaults.
std::shared_ptr<BaseLoader> RequestHandler::create_template_loader(
    const std::string& template_path) const {
    const ApplicationSettings& settings = application_->settings();
    if (settings.template_loader) return settings.template_loader;
    BaseLoader::Options options;
    if (settings.autoescape) options.autoescape = *settings.autoescape;
    options.whitespace = settings.template_whitespace;
    return std::make_shared<Loader>(template_path.empty() ? "." : template_path,
                                    std::move(options));
}

std::string RequestHandler::render_string(const std::string& template_name, const JSON& arguments,
                                          const TemplateNamespace& extra) {
    // A module's template can render itself ({% module Template("a.html") %}
    // in a.html); each render_string() is a new generate(), which its own
    // nesting limit does not see, so the stack would run out instead.
    constexpr int kMaxRenderDepth = 100;
    int& depth = rare().render_depth;
    if (depth >= kMaxRenderDepth) {
        throw std::runtime_error("render_string(\"" + template_name + "\") nested more than " +
                                 std::to_string(kMaxRenderDepth) +
                                 " deep: a template that renders itself?");
    }
    ++depth;
    // Undoes the ++ however this function leaves, a throw included; else
    // one failed render would count against every later one.
    struct Leave {
        int& depth;
        ~Leave() { --depth; }
    } leave{depth};
    std::shared_ptr<BaseLoader> loader = application_->template_loader(get_template_path(), *this);
    std::shared_ptr<const Template> page = loader->load(template_name);
    // Later wins: the handler's names, then `extra`, then (inside
    // generate) the arguments, as Tornado's kwargs update its namespace.
    TemplateNamespace names = get_template_namespace();
    names.update(extra);
    try {
        return page->generate(arguments, names);
    } catch (const TemplateError& error) {
        // An HTTPError or Finish thrown inside the template is the
        // request's answer, not a template bug: let it through unwrapped.
        rethrow_http_error(error);
        throw;
    }
}

// Tornado's get_template_namespace, made anew for each render_string(),
// so that a page sees a current_user set since the last render. Its
// values are made when the page first reads them
// (template_namespace_value()): most pages read one or two of them, and
// making all of them was most of the cost of a small page's render.
TemplateNamespace RequestHandler::get_template_namespace() {
    // Read now, as Tornado's namespace reads self.current_user: whether
    // or not the page shows the user, get_current_user() runs at render.
    current_user();
    TemplateNamespace names;
    names.set_lookup([this](std::string_view name) { return template_namespace_value(name); });
    return names;
}

// The values get_template_namespace() names. The ui_methods first: in
// Tornado they are added last, over the names below. A ui_method is a
// function bound to this handler; &method points into the Application's
// settings, which outlive the handler.
std::optional<TemplateValue> RequestHandler::template_namespace_value(std::string_view name) {
    const auto& ui_methods = application_->settings().ui_methods;
    auto found = ui_methods.find(name);
    if (found != ui_methods.end()) {
        const UIMethod& method = found->second;
        return TemplateValue::function(found->first,
                                       [this, &method](const TemplateArguments& arguments) {
                                           return method(*this, arguments);
                                       });
    }
    if (name == "handler") return template_object();
    if (name == "request") return request_object(*request_);
    if (name == "current_user") return optional_text(current_user());
    if (name == "static_url") return static_url_function(*this);
    if (name == "reverse_url") return reverse_url_function(*this);
    if (name == "xsrf_form_html") return xsrf_form_html_function(*this);
    if (name == "_") return translate_function(*this, "_", false);
    if (name == "pgettext") return translate_function(*this, "pgettext", true);
    if (name == "locale") return locale_object(*this);
    // {% module Name(...) %} is Tornado's _tt_modules.Name(...); templates
    // may also write modules.Name(...).
    if (name == "_tt_modules" || name == "modules") return modules_object();
    return std::nullopt;
}

// `modules` in a template. Each module is looked up at each use: the
// module object is made the first time the page calls it
// (active_module). `module` refers into the Application's ui_modules_
// map, whose nodes never move.
TemplateValue RequestHandler::modules_object() {
    return TemplateValue::object(
        "_UIModuleNamespace", [this](std::string_view name) -> std::optional<TemplateValue> {
            auto found = application_->ui_modules().find(std::string(name));
            if (found == application_->ui_modules().end()) return std::nullopt;
            return TemplateValue::function(found->first, [this, &module = *found](
                                                             const TemplateArguments& arguments) {
                return TemplateValue(active_module(module.first, module.second).render(arguments));
            });
        });
}

// One module object per name for the whole request (Tornado's
// _active_modules), so that render() finds every module any render_string()
// used, and asks each once for its resources. A vector, searched
// linearly: a page uses a handful of modules, and the order of first use
// is the order of their resources in the page.
UIModule& RequestHandler::active_module(const std::string& name, const UIModuleFactory& factory) {
    auto& modules = rare().active_modules;
    for (auto& [known, module] : modules) {
        if (known == name) return *module;
    }
    modules.emplace_back(name, factory(*this));
    return *modules.back().second;
}

// `handler` in a template: the handler's members a page is likely to read
// (Tornado gives the whole object; C++ must list them). Methods are
// functions bound to this handler; data is copied at each read.
TemplateValue RequestHandler::template_object() {
    return TemplateValue::object("RequestHandler",
                                 [this](std::string_view name) -> std::optional<TemplateValue> {
                                     if (name == "request") return request_object(*request_);
                                     if (name == "current_user")
                                         return optional_text(current_user());
                                     if (name == "path_args") return JSON(path_args_);
                                     if (name == "path_kwargs") {
                                         JSON kwargs = JSON::object();
                                         for (const auto& [key, value] : path_kwargs())
                                             kwargs[key] = value;
                                         return kwargs;
                                     }
                                     if (name == "get_status") return get_status_function(*this);
                                     if (name == "get_argument" || name == "get_query_argument" ||
                                         name == "get_body_argument") {
                                         return argument_function(*this, std::string(name));
                                     }
                                     if (name == "get_arguments") return arguments_function(*this);
                                     if (name == "get_cookie") return cookie_function(*this);
                                     if (name == "static_url") return static_url_function(*this);
                                     if (name == "reverse_url") return reverse_url_function(*this);
                                     if (name == "xsrf_form_html")
                                         return xsrf_form_html_function(*this);
                                     if (name == "xsrf_token") return xsrf_token();
                                     if (name == "settings") {
                                         return settings_dict(application_->settings());
                                     }
                                     return std::nullopt;
                                 });
}

std::string RequestHandler::render_linked_js(const std::vector<std::string>& js_files) const {
    return linked_resources(*this, js_files, [](const std::string& url) {
        return "<script src=\"" + url + "\" type=\"text/javascript\"></script>";
    });
}

// The CDATA markers are Tornado's: they keep the script valid when the
// page is served as XHTML, and are comments to an HTML parser.
std::string RequestHandler::render_embed_js(const std::vector<std::string>& js_embed) const {
    return "<script type=\"text/javascript\">\n//<![CDATA[\n" + joined(js_embed, "\n") +
           "\n//]]>\n</script>";
}

std::string RequestHandler::render_linked_css(const std::vector<std::string>& css_files) const {
    return linked_resources(*this, css_files, [](const std::string& url) {
        return "<link href=\"" + url + "\" type=\"text/css\" rel=\"stylesheet\"/>";
    });
}

std::string RequestHandler::render_embed_css(const std::vector<std::string>& css_embed) const {
    return "<style type=\"text/css\">\n" + joined(css_embed, "\n") + "\n</style>";
}

// Tornado's render(). The check comes first so that a late render() does
// not spend a template generation before failing. The modules' hooks are
// called after the whole page is generated, since a module may be used
// anywhere in it.
Future<void> RequestHandler::render(const std::string& template_name, const JSON& arguments,
                                    const TemplateNamespace& extra) {
    if (finished()) throw std::logic_error("Cannot render() after finish()");
    std::string html = render_string(template_name, arguments, extra);

    // What the page's modules need, in the order they were first used.
    std::vector<std::string> js_embed, js_files, css_embed, css_files, html_heads, html_bodies;
    auto keep = [](std::vector<std::string>& into, std::string part) {
        if (!part.empty()) into.push_back(std::move(part));
    };
    if (rare_) {
        for (auto& [name, module] : rare_->active_modules) {
            keep(js_embed, module->embedded_javascript());
            for (std::string& file : module->javascript_files())
                js_files.push_back(std::move(file));
            keep(css_embed, module->embedded_css());
            for (std::string& file : module->css_files()) css_files.push_back(std::move(file));
            keep(html_heads, module->html_head());
            keep(html_bodies, module->html_body());
        }
    }
    // Tornado's order and places: scripts before the last </body>, styles
    // and head parts before the first </head>, body parts before the first
    // </body>.
    if (!js_files.empty()) insert_before(html, "</body>", true, render_linked_js(js_files));
    if (!js_embed.empty()) insert_before(html, "</body>", true, render_embed_js(js_embed));
    if (!css_files.empty()) insert_before(html, "</head>", false, render_linked_css(css_files));
    if (!css_embed.empty()) insert_before(html, "</head>", false, render_embed_css(css_embed));
    if (!html_heads.empty()) insert_before(html, "</head>", false, joined(html_heads, ""));
    if (!html_bodies.empty()) insert_before(html, "</body>", false, joined(html_bodies, ""));
    return finish(html);
}

}  // namespace tornado
