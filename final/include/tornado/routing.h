// tornado/routing.h: matching a request's path against a route's pattern,
// and building a path back from a pattern (Tornado's
// `tornado.routing.PathMatches`), matching its host (HostMatches), and
// routers that send whole requests to one of several applications
// (Router, RuleRouter). URLSpec and the Application's route tables are in
// tornado/web.h.
//
//   tornado::PathMatches story("/story/([0-9]+)");
//   story.match("/story/42")      -> {"42"}        the groups, in order
//   story.match("/story/42/edit") -> nothing       the whole path must match
//   story.reverse({"7"})          -> "/story/7"
//
// Patterns are ECMAScript regular expressions (std::regex) matched against
// the whole path as sent (not percent-decoded), like Tornado's re.match
// with "$" added. Each group's text is percent-decoded ("+" stays "+": it
// means a space only in query strings); the web layer then checks it is
// UTF-8. A named group, Python's (?P<name>...), is taken out of the
// pattern before std::regex (which has no named groups) sees it, and its
// name kept: the web layer then hands the groups over by name, as
// Tornado's path_kwargs.
//
//   tornado::PathMatches item("/item/(?P<id>[0-9]+)");
//   item.match("/item/9")         -> {"9"}, and group_names() is {"id"}
//
// Speed: a pattern with no regex syntax in it ("/", "/chat/new") is
// compared as plain text, without std::regex (a hello-world request spends
// more time in std::regex_match than in the rest of routing).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/httputil.h"

namespace tornado {

// The decoded groups of a matching path: a handler method's arguments
// (Tornado's path_args). A group that took no part in the match ("/a(/b)?"
// against "/a") is "".
using PathArgs = std::vector<std::string>;
// The groups of a pattern with named groups, by name (Tornado's
// path_kwargs; its path_args are then empty).
using PathKwargs = std::map<std::string, std::string, std::less<>>;

// A route's path pattern (Tornado's PathMatches), as the top of this header
// describes it: prepared once, when the route is made, then matched against
// each request's path.
class PathMatches {
public:
    // Throws std::regex_error for a pattern that is not a valid regex.
    explicit PathMatches(std::string pattern);

    // The decoded groups if the whole path matches, else nothing.
    std::optional<PathArgs> match(std::string_view path) const;

    // The path this pattern matches for these group values, each one
    // percent-escaped ("a b/c" -> "a%20b/c": "/" is kept). Works for
    // patterns whose parts outside the groups are plain text ("\." is
    // fine). Throws std::invalid_argument for a pattern too complex to
    // reverse ("/(a|b)+/x", "\d" outside a group, nested groups) and for the
    // wrong number of values. (Tornado returns None for fewer of these: it
    // reverses "/(a|b)+" to "/a+", a path the pattern does not match.)
    std::string reverse(const std::vector<std::string>& args) const;

    // As a Rule's matcher: whether the request's path matches.
    bool operator()(const HTTPServerRequest& request) const {
        return match(request.path).has_value();
    }

    // As given, Python's (?P<name>...) included.
    const std::string& pattern() const noexcept { return pattern_; }
    // How many values match() gives and reverse() takes: the capturing
    // groups, named or not ("(?:...)" is not one).
    std::size_t group_count() const noexcept { return group_count_; }
    // Each group's name, in order ("" for a group without one); empty when
    // no group has a name.
    const std::vector<std::string>& group_names() const noexcept { return group_names_; }

private:
    // match() past the literal and prefix tests.
    std::optional<PathArgs> match_groups(std::string_view path) const;

    std::string pattern_;
    std::vector<std::string> group_names_;
    std::optional<std::string> literal_;  // the path itself, when the pattern is plain text
    std::string prefix_;                  // plain text every matching path starts with ("/static/")
    std::regex regex_;
    std::size_t group_count_ = 0;
    bool rest_is_one_group_;  // the prefix, then "(.*)": no regex needed
};

// Matching a request's host (Tornado's HostMatches), for routes that
// depend on it: Application::add_handlers(host_pattern, handlers).
//
//   tornado::HostMatches api("api\\.example\\.com");
//   api.match("api.example.com")     -> true
//   api.match("www.example.com")     -> false
//
// The pattern is a regex over the whole host name: the Host header in lower
// case, without its port (HTTPServerRequest::host_name), as Tornado
// matches its pattern with "$" added.
class HostMatches {
public:
    // Throws std::regex_error for a pattern that is not a valid regex.
    explicit HostMatches(std::string pattern);

    // Whether the pattern matches the whole of `host_name`. The case
    // counts: a request's host_name is in lower case, so the pattern must
    // be too.
    bool match(std::string_view host_name) const;
    // As a Rule's matcher: whether the request's host name matches.
    bool operator()(const HTTPServerRequest& request) const { return match(request.host_name); }
    const std::string& pattern() const noexcept { return pattern_; }

private:
    std::string pattern_;
    std::regex regex_;
};

// --- routers: which application serves a request ------------------------------
//
// An Application routes a request to one of its handlers. A router goes one
// level up: it sends the whole request to one of several delegates (two
// Applications for two sites on one port, an Application and a plain
// HTTPServer callback, another router), choosing from the request's head,
// as Tornado's RuleRouter does:
//
//   auto site = std::make_shared<tornado::Application>(site_routes);
//   auto api = std::make_shared<tornado::Application>(api_routes);
//   auto router = std::make_shared<tornado::RuleRouter>(std::vector<tornado::Rule>{
//       {tornado::HostMatches("api\\.example\\.com"), api},
//       {tornado::PathMatches("/api/.*"), api},
//       {tornado::AnyMatches(), site},
//   });
//   tornado::HTTPServer server(router);
//
// A request no rule takes is answered 404 Not Found.

// A rule's condition that every request meets (Tornado's AnyMatches).
struct AnyMatches {
    bool operator()(const HTTPServerRequest&) const { return true; }
};

class Router;

// A matcher and where the requests it matches go (Tornado's Rule). The
// matcher is any callable on the request: HostMatches, PathMatches,
// AnyMatches, or a lambda.
struct Rule {
    std::function<bool(const HTTPServerRequest&)> matcher;
    std::shared_ptr<HTTPServerConnectionDelegate> target;
};

// Chooses a delegate for each request once its head has come (Tornado's
// Router). start_request() waits for the head, asks find_handler(), and
// hands the request (head, body, end) to what it found.
class Router : public HTTPServerConnectionDelegate {
public:
    // Who receives `request` (its start line and headers have come; the body
    // has not), or nullptr when nobody does.
    virtual std::unique_ptr<HTTPMessageDelegate> find_handler(
        const HTTPServerRequest& request, HTTPServerConnection* server_conn,
        const std::shared_ptr<HTTPConnection>& request_conn) = 0;

    std::unique_ptr<HTTPMessageDelegate> start_request(
        HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) override;
};

// Rules tried in order; the first whose matcher takes the request and whose
// target serves it wins (Tornado's RuleRouter). A target that is itself a
// Router may find nothing for the request: then the next rule is tried.
class RuleRouter : public Router {
public:
    explicit RuleRouter(std::vector<Rule> rules = {});
    // Appends rules; a rule without a matcher or a target is an
    // std::invalid_argument.
    void add_rules(std::vector<Rule> rules);

    std::unique_ptr<HTTPMessageDelegate> find_handler(
        const HTTPServerRequest& request, HTTPServerConnection* server_conn,
        const std::shared_ptr<HTTPConnection>& request_conn) override;

    const std::vector<Rule>& rules() const noexcept { return rules_; }

private:
    std::vector<Rule> rules_;
};

}  // namespace tornado
