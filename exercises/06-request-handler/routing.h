// routing.h: matching a request's path against a route's pattern, and
// building a path back from a pattern (reverse_url). Tornado's
// tornado.routing.PathMatches.
//
//   PathMatches story("/story/([0-9]+)");
//   story.match("/story/42")      -> {"42"}        the groups, in order
//   story.match("/story/42/edit") -> nullopt       the whole path must match
//   story.reverse({"7"})          -> "/story/7"
//
// Patterns are ECMAScript regular expressions (std::regex), matched against
// the whole path as it was sent (not percent-decoded), like Tornado's
// re.match with "$" added. Each capture group's text is percent-decoded
// before the handler sees it ("/tag/a%20b" gives "a b"; "+" stays "+":
// it means a space only in query strings). Groups must be positional:
// std::regex has no named groups (Tornado's (?P<name>...) and path_kwargs).
#pragma once

#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace course {

// The captured groups of a matching path, decoded: a handler method's
// arguments (Tornado's path_args). A group that took no part in the match
// ("/a(/b)?" against "/a") is "".
using PathArgs = std::vector<std::string>;

class PathMatches {
public:
    // Throws std::regex_error for a pattern that is not a valid regex.
    explicit PathMatches(std::string pattern);

    // The decoded groups if the whole path matches, else nullopt.
    std::optional<PathArgs> match(std::string_view path) const;

    // The path this pattern matches for these group values, each one
    // percent-escaped ("a b/c" -> "a%20b/c": "/" is kept). Works for
    // patterns whose parts outside the groups are plain text (escaped
    // characters like "\." are fine): "/story/([0-9]+)" reverses to
    // "/story/%s". Throws std::invalid_argument for the wrong number of
    // values, and for a pattern it can tell is not text with holes ("(?:",
    // "\d" outside a group, nested groups). Like Tornado's, that check is
    // cheap, not complete: a quantifier after a group is read as text
    // ("/(a|b)+/x" reverses to "/a+/x", a path the pattern does not match).
    std::string reverse(const std::vector<std::string>& args) const;

    const std::string& pattern() const { return pattern_; }
    std::size_t group_count() const { return regex_.mark_count(); }

private:
    std::string pattern_;
    std::regex regex_;
};

}  // namespace course
