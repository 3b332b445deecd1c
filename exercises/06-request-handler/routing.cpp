// routing.cpp (exercise): chapter 06's routing.cpp with the key functions
// cut out; each is marked TODO(task N). See README.md beside this file, and
// routing.h for what each function promises.
//
// Helpers you may use: url_unescape (httputil.h, chapter 05), url_escape
// (escape.h), unescape_fragment (below).
#include "routing.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "escape.h"
#include "httputil.h"

namespace course {

namespace {

// The literal text a regex fragment stands for: "\." is ".", and a letter
// or digit after a backslash ("\d", "\w") is a character class, not text:
// such a pattern cannot be reversed. (Tornado's re_unescape.)
[[maybe_unused]]  // (used by code you write)
std::string unescape_fragment(std::string_view fragment, const std::string& pattern) {
    std::string text;
    for (std::size_t i = 0; i < fragment.size(); ++i) {
        if (fragment[i] != '\\') {
            text += fragment[i];
            continue;
        }
        if (i + 1 == fragment.size() || std::isalnum(static_cast<unsigned char>(fragment[i + 1]))) {
            throw std::invalid_argument("cannot reverse url regex " + pattern);
        }
        text += fragment[++i];
    }
    return text;
}

// The pattern cut at its groups: "/story/([0-9]+)/edit" -> {"/story/",
// "/edit"}; the values go between the pieces. Tornado's _find_groups: the
// text before each "(" is literal, and so is the text after the ")" that
// ends that group.
[[maybe_unused]]  // (used by code you write)
std::vector<std::string> literal_pieces(const std::string& pattern, std::size_t groups) {
    // TODO(task 2): cut the pattern at its groups, keeping the literal text
    // between them: "/story/([0-9]+)/edit" -> {"/story/", "/edit"}, and
    // "/about" -> {"/about"}. There is one piece more than there are groups.
    //   - Drop one leading "^" and one trailing "$".
    //   - If the number of '(' in the text is not `groups`, some "(" opens
    //     no group ("(?:", "\("): throw std::invalid_argument("cannot
    //     reverse url regex " + pattern).
    //   - The text before the first "(" is a piece; each group runs from a
    //     "(" to the next ")", and the text after that ")" up to the next
    //     "(" (or the end) is the next piece. A "(" before that ")" is a
    //     nested group: throw std::invalid_argument as above.
    //   - Each piece goes through unescape_fragment() ("v1\\.0" -> "v1.0";
    //     it throws for "\\d" and the like).
    (void)pattern;
    (void)groups;
    throw std::logic_error("TODO(task 2): literal_pieces");
}

}  // namespace

PathMatches::PathMatches(std::string pattern)
    : pattern_(std::move(pattern)), regex_(pattern_, std::regex::ECMAScript) {}

std::optional<PathArgs> PathMatches::match(std::string_view path) const {
    // TODO(task 1): std::nullopt unless regex_ matches the WHOLE path
    // (std::regex_match, not regex_search). Then one entry per capture
    // group, in order: the group's text percent-decoded with
    // url_unescape(text, false) ("+" stays "+" in a path), or "" for a group
    // that took no part in the match (groups[i].matched is false).
    // Tip: std::match_results<std::string_view::const_iterator> holds the
    // groups of a match over a string_view.
    (void)path;
    throw std::logic_error("TODO(task 1): PathMatches::match");
}

std::string PathMatches::reverse(const std::vector<std::string>& args) const {
    // TODO(task 2): literal_pieces(pattern_, group_count()) gives the text
    // around the groups. Wrong number of args: throw std::invalid_argument
    // (say how many were needed). Then piece 0, arg 0 escaped with
    // url_escape(arg, false) (a path: "/" stays, a space is "%20"), piece 1,
    // arg 1, ... the last piece.
    (void)args;
    throw std::logic_error("TODO(task 2): PathMatches::reverse");
}

}  // namespace course
