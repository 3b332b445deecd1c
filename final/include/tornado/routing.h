// tornado/routing.h: matching a request's path against a route's pattern,
// and building a path back from a pattern (Tornado's
// `tornado.routing.PathMatches`), and matching its host (HostMatches).
// URLSpec and the Application's route tables are in tornado/web.h.
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

namespace tornado {

// The decoded groups of a matching path: a handler method's arguments
// (Tornado's path_args). A group that took no part in the match ("/a(/b)?"
// against "/a") is "".
using PathArgs = std::vector<std::string>;
// The groups of a pattern with named groups, by name (Tornado's
// path_kwargs; its path_args are then empty).
using PathKwargs = std::map<std::string, std::string, std::less<>>;

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

    const std::string& pattern() const noexcept { return pattern_; }
    std::size_t group_count() const noexcept { return group_count_; }
    // Each group's name, in order ("" for a group without one); empty when
    // no group has a name.
    const std::vector<std::string>& group_names() const noexcept { return group_names_; }

private:
    std::string pattern_;
    std::vector<std::string> group_names_;
    std::optional<std::string> literal_;  // the path itself, when the pattern is plain text
    std::regex regex_;
    std::size_t group_count_ = 0;
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

    bool match(std::string_view host_name) const;
    const std::string& pattern() const noexcept { return pattern_; }

private:
    std::string pattern_;
    std::regex regex_;
};

}  // namespace tornado
