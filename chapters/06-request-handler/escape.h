// escape.h: the escaping a web application needs, each for one place where
// text goes: HTML, a URL, a JSON string. Tornado's tornado.escape (and
// url_concat from tornado.httputil).
//
//   xhtml_escape("<b>Tom & Jerry</b>")   -> "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"
//   url_escape("a b/c", false)            -> "a%20b/c"      (in a path)
//   url_escape("a b/c")                   -> "a+b%2Fc"      (in a query)
//   json_encode("say \"hi\"\n")           -> "\"say \\\"hi\\\"\\n\""
//   url_concat("/photos/x", {{"a", "1"}}) -> "/photos/x?a=1"
//
// Text is bytes here, as everywhere in the course: UTF-8 passes through
// unchanged (see json_encode for the one place where Tornado differs).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace course {

// Escapes & < > " ' so the text is safe inside HTML, in an element or a
// quoted attribute. Whatever a user typed goes through this before it
// goes into a page; otherwise "<script>" in a form field runs in the
// reader's browser.
std::string xhtml_escape(std::string_view text);

// Percent-encodes every byte but letters, digits and "_.-~". With plus
// (Python's quote_plus, for query strings and forms) a space becomes "+"
// and "/" is escaped; without it (Python's quote, for paths) a space is
// "%20" and "/" stays. url_unescape() (chapter 05) undoes both.
std::string url_escape(std::string_view text, bool plus = true);

// The text as a JSON string literal, quotes included. Escapes what JSON
// requires (quote, backslash, control bytes; DEL too, as Python does), and
// "</" as "<\/" as Tornado's json_encode does, so the JSON can sit inside
// a <script> tag without ending it. Non-ASCII UTF-8 passes through as it
// is (valid JSON); Python's json.dumps writes it as \uXXXX instead.
std::string json_encode(std::string_view text);

// A query string's fields, in the order sent: "b=1&a=2&b=3" ->
// {b,1} {a,2} {b,3}. Percent-escapes and "+" are decoded; "a" is {a,""}.
using QueryPairs = std::vector<std::pair<std::string, std::string>>;
QueryPairs parse_qsl(std::string_view query);

// `url` with `args` appended to its query string (after any query it
// already has), every field encoded again: url_concat("/a?x=1", {{"y",
// "b c"}}) is "/a?x=1&y=b+c". A "#fragment" stays at the end.
std::string url_concat(std::string_view url, const QueryPairs& args);

}  // namespace course
