// routing.cpp: see tornado/routing.h for the contract.
//
// A pattern is prepared once, when its URLSpec is made: literal_path spots
// plain text, literal_prefix finds the text a regex's paths start with,
// without_group_names makes it what std::regex accepts. Then
// match() runs per request, and reverse() (reverse_url) puts the escaped
// values between the literal_pieces of the pattern.
#include "tornado/routing.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "tornado/escape.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// The literal text a regex fragment stands for: "\." is ".", and a letter
// or digit after a backslash ("\d", "\w") is a character class, not text:
// such a pattern cannot be reversed (Tornado's re_unescape).
std::optional<std::string> unescape_fragment(std::string_view fragment) {
    std::string text;
    for (std::size_t i = 0; i < fragment.size(); ++i) {
        if (fragment[i] != '\\') {
            // Repetition or alternation outside a group: no one path to give.
            // ('.' is allowed: in "/feed.xml" it stands for itself.)
            if (std::string_view("*+?|[]{}^$").find(fragment[i]) != std::string_view::npos)
                return std::nullopt;
            text += fragment[i];
            continue;
        }
        if (i + 1 == fragment.size() || std::isalnum(static_cast<unsigned char>(fragment[i + 1]))) {
            return std::nullopt;
        }
        text += fragment[++i];
    }
    return text;
}

// A pattern with no regex syntax matches exactly one path: that text. A
// final "$" changes nothing (the whole path must match anyway); any other
// character std::regex could read as syntax sends it to std::regex.
std::optional<std::string> literal_path(std::string_view pattern) {
    if (pattern.ends_with('$')) pattern.remove_suffix(1);
    if (pattern.find_first_of("^$.*+?()[]{}|\\") != std::string_view::npos) return std::nullopt;
    return std::string(pattern);
}

// The plain text before a pattern's first piece of syntax, which every
// path it matches starts with: "/static/(.*)" -> "/static/". A character
// that a quantifier follows may be absent or repeated ("/items?/(.*)"), so
// it is not part of it. Alternation anywhere ("/a|/b(.*)") could let a
// path match without the text: no prefix then.
std::string literal_prefix(std::string_view pattern) {
    if (pattern.find('|') != std::string_view::npos) return {};
    std::size_t end = pattern.find_first_of("^$.*+?()[]{}|\\");
    std::string_view prefix = pattern.substr(0, end);
    if (end != std::string_view::npos && !prefix.empty() &&
        std::string_view("*+?{").find(pattern[end]) != std::string_view::npos) {
        prefix.remove_suffix(1);
    }
    return std::string(prefix);
}

// Whether the pattern after its prefix is one group of all that is left:
// "(.*)" or "(?P<name>.*)", with or without a final "$".
bool takes_the_rest(std::string_view rest) {
    if (rest.ends_with('$')) rest.remove_suffix(1);
    if (rest == "(.*)") return true;
    if (!rest.starts_with("(?P<") || !rest.ends_with(">.*)")) return false;
    std::string_view name = rest.substr(4, rest.size() - 8);
    return name.find_first_of("<>()") == std::string_view::npos;
}

// The pattern cut at its groups: "/story/([0-9]+)/edit" -> {"/story/",
// "/edit"}; the values go between the pieces. Tornado's _find_groups: the
// text before each "(" is literal, and so is the text after the ")" that
// ends that group.
std::vector<std::string> literal_pieces(const std::string& pattern, std::size_t groups) {
    auto cannot = [&] { return std::invalid_argument("cannot reverse url regex " + pattern); };
    std::string_view text = pattern;
    if (text.starts_with('^')) text.remove_prefix(1);
    if (text.ends_with('$')) text.remove_suffix(1);
    // "(?:" or "\(" opens no group: the simple split below would misread them.
    if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '(')) != groups)
        throw cannot();
    std::vector<std::string> pieces;
    std::size_t start = 0;
    while (true) {
        std::size_t open = text.find('(', start);
        std::optional<std::string> piece = unescape_fragment(text.substr(start, open - start));
        if (!piece) throw cannot();
        pieces.push_back(std::move(*piece));
        if (open == std::string_view::npos) return pieces;
        // A "(" before this group's ")": a nested group, which the split cannot reverse.
        std::size_t close = text.find(')', open);
        if (close == std::string_view::npos || text.find('(', open + 1) < close) throw cannot();
        start = close + 1;
    }
}

// The pattern as std::regex takes it: each "(?P<name>" of Python's syntax
// becomes "(", and `names` gets each capturing group's name in order (""
// for one without). A "(" after a backslash or inside [...] opens no
// group, nor does "(?" of any other kind ("(?:", "(?=").
std::string without_group_names(std::string_view pattern, std::vector<std::string>& names) {
    std::string out;
    bool in_class = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        // An escaped character is copied with its backslash: "\(" opens nothing.
        if (c == '\\' && i + 1 < pattern.size()) {
            out += c;
            out += pattern[++i];
            continue;
        }
        // Inside [...] up to the first unescaped "]": "[(]" opens no group.
        if (in_class) {
            in_class = c != ']';
        } else if (c == '[') {
            in_class = true;
        } else if (c == '(' && pattern.substr(i, 4) == "(?P<") {
            std::size_t close = pattern.find('>', i + 4);
            if (close == std::string_view::npos)
                throw std::regex_error(std::regex_constants::error_paren);
            names.emplace_back(pattern.substr(i + 4, close - i - 4));
            out += '(';
            i = close;
            continue;
        } else if (c == '(' && !pattern.substr(i).starts_with("(?")) {
            names.emplace_back();
        }
        out += c;
    }
    // Names matter only if there are some: an empty list tells the web
    // layer to pass the values in order (Tornado's path_args).
    if (std::all_of(names.begin(), names.end(),
                    [](const std::string& name) { return name.empty(); })) {
        names.clear();
    }
    return out;
}

}  // namespace

// Member order matters: regex_'s initializer fills group_names_, declared
// (so made) before it. A bad pattern throws std::regex_error here, when the
// route is made, not at the first request.
PathMatches::PathMatches(std::string pattern)
    : pattern_(std::move(pattern)),
      literal_(literal_path(pattern_)),
      prefix_(literal_prefix(pattern_)),
      regex_(without_group_names(pattern_, group_names_), std::regex::ECMAScript),
      group_count_(regex_.mark_count()),
      rest_is_one_group_(takes_the_rest(std::string_view(pattern_).substr(prefix_.size()))) {}

// Runs per request, for every route before the one that matches, hence
// the shortcuts: plain text is compared, and a path without a regex's
// prefix is turned away before std::regex, which costs hundreds of
// instructions even to fail. The rest is out of line (match_groups), so
// that a route turned away costs a compare, not the setup of a function
// that builds strings and vectors.
std::optional<PathArgs> PathMatches::match(std::string_view path) const {
    if (literal_) {
        if (path == *literal_) return PathArgs{};
        return std::nullopt;
    }
    if (!path.starts_with(prefix_)) return std::nullopt;
    return match_groups(path);
}

// regex_match: the whole path must match, as with the "$" Tornado adds to
// the pattern.
std::optional<PathArgs> PathMatches::match_groups(std::string_view path) const {
    // "/static/(.*)": the rest of the path is the value, unless it holds a
    // line break, which "." does not match (std::regex then says no).
    std::string_view rest = path.substr(prefix_.size());
    if (rest_is_one_group_ &&
        std::none_of(rest.begin(), rest.end(), [](char c) { return c == '\r' || c == '\n'; }))
        return PathArgs{url_unescape_to_bytes(rest, false)};
    std::match_results<std::string_view::const_iterator> groups;
    if (!std::regex_match(path.begin(), path.end(), groups, regex_)) return std::nullopt;
    PathArgs args;
    args.reserve(groups.size() - 1);
    // Group 0 is the whole match. plus=false: in a path "+" is a plus sign.
    // A group that took no part gives "" where Tornado gives None.
    for (std::size_t i = 1; i < groups.size(); ++i) {
        args.push_back(groups[i].matched ? url_unescape_to_bytes(groups[i].str(), false) : "");
    }
    return args;
}

// Tornado's reverse: each value escaped for a path (plus=false: a space is
// %20, "/" stays), between the pieces. A pattern that cannot be reversed
// says so whatever the values; values are not checked against their groups.
std::string PathMatches::reverse(const std::vector<std::string>& args) const {
    std::vector<std::string> pieces = literal_pieces(pattern_, group_count_);
    if (args.size() != group_count_) {
        throw std::invalid_argument("reverse of " + pattern_ + " needs " +
                                    std::to_string(group_count_) + " values, got " +
                                    std::to_string(args.size()));
    }
    std::string path = pieces[0];
    for (std::size_t i = 0; i < args.size(); ++i) {
        path += url_escape(args[i], false) + pieces[i + 1];
    }
    return path;
}

// A pattern that ends in "$" already is used as it is; regex_match anchors
// both ends either way.
HostMatches::HostMatches(std::string pattern)
    : pattern_(std::move(pattern)), regex_(pattern_, std::regex::ECMAScript) {}

bool HostMatches::match(std::string_view host_name) const {
    return std::regex_match(host_name.begin(), host_name.end(), regex_);
}

// --- routers ---------------------------------------------------------------------

namespace {

// Answers a request no rule took: its body is read and dropped, then 404
// (Tornado's _DefaultMessageDelegate).
class NotFoundDelegate : public HTTPMessageDelegate {
public:
    explicit NotFoundDelegate(std::shared_ptr<HTTPConnection> connection)
        : connection_(std::move(connection)) {}
    Future<void> headers_received(StartLine, HTTPHeaders) override { return Future<void>(nullptr); }
    void finish() override {
        HTTPHeaders headers;
        headers.set("Content-Length", "0");
        connection_->write_headers(ResponseStartLine{"HTTP/1.1", 404, "Not Found"}, headers);
        connection_->finish();
    }

private:
    std::shared_ptr<HTTPConnection> connection_;
};

// Waits for the head, asks the router who takes the request, then passes
// everything on to it (Tornado's _RoutingDelegate).
class RoutingDelegate : public HTTPMessageDelegate {
public:
    RoutingDelegate(Router& router, HTTPServerConnection* server_conn,
                    std::shared_ptr<HTTPConnection> request_conn)
        : router_(router), server_conn_(server_conn), request_conn_(std::move(request_conn)) {}

    Future<void> headers_received(StartLine start_line, HTTPHeaders headers) override {
        // The matchers read the request as a handler would (host_name,
        // path): the server's own view of it, made from a copy of the head,
        // which the chosen delegate then receives as it came.
        HTTPServerRequest request(RequestStartLine(std::get<RequestStartLine>(start_line)),
                                  HTTPHeaders(headers), request_conn_, server_conn_,
                                  std::chrono::steady_clock::now());
        delegate_ = router_.find_handler(request, server_conn_, request_conn_);
        if (!delegate_) {
            app_log.debug("no rule takes {} {}: 404", request.method, request.uri);
            delegate_ = std::make_unique<NotFoundDelegate>(request_conn_);
        }
        return delegate_->headers_received(std::move(start_line), std::move(headers));
    }
    Future<void> data_received(std::string chunk) override {
        return delegate_->data_received(std::move(chunk));
    }
    void finish() override { delegate_->finish(); }
    void on_connection_close() override {
        if (delegate_) delegate_->on_connection_close();
    }

private:
    Router& router_;
    HTTPServerConnection* server_conn_;
    std::shared_ptr<HTTPConnection> request_conn_;
    std::unique_ptr<HTTPMessageDelegate> delegate_;
};

}  // namespace

std::unique_ptr<HTTPMessageDelegate> Router::start_request(
    HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) {
    return std::make_unique<RoutingDelegate>(*this, server_conn, std::move(request_conn));
}

RuleRouter::RuleRouter(std::vector<Rule> rules) { add_rules(std::move(rules)); }

void RuleRouter::add_rules(std::vector<Rule> rules) {
    for (Rule& rule : rules) {
        if (!rule.matcher || !rule.target) {
            throw std::invalid_argument("RuleRouter: a rule needs a matcher and a target");
        }
        rules_.push_back(std::move(rule));
    }
}

// A target that is a Router is asked in turn (and may pass); any other
// delegate (an Application) takes the request, as Tornado's
// get_target_delegate calls its start_request.
std::unique_ptr<HTTPMessageDelegate> RuleRouter::find_handler(
    const HTTPServerRequest& request, HTTPServerConnection* server_conn,
    const std::shared_ptr<HTTPConnection>& request_conn) {
    for (const Rule& rule : rules_) {
        if (!rule.matcher(request)) continue;
        if (auto* router = dynamic_cast<Router*>(rule.target.get())) {
            if (auto delegate = router->find_handler(request, server_conn, request_conn)) {
                return delegate;
            }
            continue;
        }
        return rule.target->start_request(server_conn, request_conn);
    }
    return nullptr;
}

}  // namespace tornado
