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
    // TODO(task 2): the literal texts around the pattern's groups, one more
    // than there are groups: "/story/([0-9]+)/edit" -> {"/story/", "/edit"},
    // "/about" -> {"/about"}. One leading '^' and one trailing '$' are not
    // text. Each piece is unescaped by unescape_fragment() ("v1\\.0" ->
    // "v1.0"; it throws for "\\d" and the like). A pattern that is not plain
    // text with holes throws std::invalid_argument("cannot reverse url regex "
    // + pattern): a '(' that opens no group ("(?:", "\\("; `groups` is what
    // the regex engine counted), or a nested group.
    // Hint: make hint CH=06 TASK=2.
    (void)pattern;
    (void)groups;
    throw std::logic_error("TODO(task 2): literal_pieces");
}

}  // namespace

PathMatches::PathMatches(std::string pattern)
    : pattern_(std::move(pattern)), regex_(pattern_, std::regex::ECMAScript) {}

std::optional<PathArgs> PathMatches::match(std::string_view path) const {
    // TODO(task 1): std::nullopt unless regex_ matches the WHOLE path (a match
    // of a part of it is no match). Else one entry per capture group, in
    // order: its text percent-decoded after matching, in path mode
    // (url_unescape(text, false): '+' stays '+'), or "" for a group that took
    // no part in the match. Hint: make hint CH=06 TASK=1.
    (void)path;
    throw std::logic_error("TODO(task 1): PathMatches::match");
}

std::string PathMatches::reverse(const std::vector<std::string>& args) const {
    // TODO(task 2): the path this route matches, with args[i] in group i's
    // place between the literal pieces (literal_pieces()), each arg escaped
    // for a path (url_escape(arg, false): '/' stays, a space is "%20"). A
    // wrong number of args throws std::invalid_argument that says how many
    // are needed.
    (void)args;
    throw std::logic_error("TODO(task 2): PathMatches::reverse");
}

}  // namespace course
