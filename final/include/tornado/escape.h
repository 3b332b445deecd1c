// tornado/escape.h: escaping and unescaping for HTML, URLs and JSON, and a
// few string helpers (Tornado's tornado.escape).
//
// Strings are bytes here, as everywhere in C++: a std::string holds UTF-8.
// Python's str/bytes split (utf8(), to_unicode()) becomes a question of
// validity: is_valid_utf8() and to_unicode() check it, replace_invalid_utf8()
// repairs it the way Python's errors="replace" does.
//
// Every function gives the same bytes as Tornado 6 for the same text
// (tests/final/escape_test.cpp checks a table produced by Python Tornado).
// Where Tornado would raise, or make text UTF-8 cannot hold, the function's
// comment says what the twin does instead; the other differences are named
// there too (JSON object keys come out sorted; linkify's idea of a letter
// beyond ASCII comes from the C library).
//
// Example:
//
//   std::string html = "<b>" + tornado::xhtml_escape(user_name) + "</b>";
//   std::string query = "q=" + tornado::url_escape("C++ & Tornado");  // q=C%2B%2B+%26+Tornado
//   tornado::JSON reply = {{"ok", true}, {"items", {1, 2, 3}}};
//   std::string body = tornado::json_encode(reply);   // {"items": [1, 2, 3], "ok": true}
//   tornado::JSON request = tornado::json_decode(body);
//   int first = request["items"][0];
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace tornado {

// ---- HTML -------------------------------------------------------------------

// Escapes the five characters that matter in HTML and XML text and quoted
// attribute values: & < > " ' (as &amp; &lt; &gt; &quot; &#39;). Every other
// byte is copied as it is, so bytes that are not UTF-8 pass through (Tornado
// would raise UnicodeDecodeError on them).
std::string xhtml_escape(std::string_view value);
// The same, appended to `out`: a template writes into its buffer with no
// temporary string.
void append_xhtml_escape(std::string& out, std::string_view value);

// Replaces `&name;` (the 252 HTML 4 entity names, case-sensitive) and
// `&#NNN;` / `&#xHHH;` numeric references with their characters, as UTF-8.
// Anything else (`&apos;`, `&#xyz;`, a missing ';') stays as written.
// Differences from Tornado, which produces text Python could not encode: a
// reference to a surrogate (`&#55296;`) becomes U+FFFD, and a number too big
// for Python's chr() (where Tornado raises OverflowError) stays as written.
std::string xhtml_unescape(std::string_view value);

// ---- URLs -------------------------------------------------------------------

// Percent-encodes every byte but letters, digits and `_.-~`, as uppercase
// %XX. With `plus` (the default, for query strings and form values) a space
// becomes '+' and '/' is encoded; without it (for a path) a space becomes %20
// and '/' stays. Python's quote_plus() / quote().
std::string url_escape(std::string_view value, bool plus = true);

// Decodes %XX (either case) and, with `plus`, '+' as a space. A '%' not
// followed by two hex digits stays as it is. The result is text: bytes that
// do not form UTF-8 become U+FFFD, as Tornado's default encoding="utf-8" does.
std::string url_unescape(std::string_view value, bool plus = true);
// The same, keeping the decoded bytes as they are (Tornado's encoding=None).
std::string url_unescape_to_bytes(std::string_view value, bool plus = true);

// ---- JSON -------------------------------------------------------------------

// JSON values are nlohmann::json (https://json.nlohmann.me): build them like
// `JSON{{"name", "x"}, {"tags", {"a", "b"}}}`, read them like `value["name"]`.
using JSON = nlohmann::json;

// Input that could not be decoded, and where: the shape of Python's
// json.JSONDecodeError and UnicodeDecodeError (both ValueErrors), below.
class DecodeError : public std::invalid_argument {
public:
    DecodeError(const std::string& message, std::size_t position)
        : std::invalid_argument(message), position_(position) {}
    // The byte offset where the input stopped making sense.
    std::size_t position() const noexcept { return position_; }

private:
    std::size_t position_;
};

// What json_decode() throws: Python's json.JSONDecodeError.
class JSONDecodeError : public DecodeError {
public:
    using DecodeError::DecodeError;
};

// Python's json.dumps() output, then `"</"` written as `"<\/"` so that the JSON
// can sit inside a <script> element: `{"a": [1, 2.5, "\u00e9"]}`, with ", " and
// ": " between items, every character outside printable ASCII as \uXXXX, and
// floats in Python's repr() form (1.0, 1e-05, 1e+16).
// Differences from Tornado: object keys come out in the order the value keeps
// them, sorted for JSON (Python keeps a dict's insertion order; build an
// nlohmann::ordered_json to keep yours); NaN and infinities are written as
// null (Python writes NaN and Infinity, which is not JSON). A string that is
// not UTF-8 throws std::invalid_argument, and so does a value nested more
// than 1000 levels deep (Python's RecursionError).
std::string json_encode(const JSON& value);
// The same for an nlohmann::ordered_json: its object keys come out in the
// order they were added, as a Python dict's do.
template <typename Ordered>
    requires(std::is_same_v<Ordered, nlohmann::ordered_json>)
std::string json_encode(const Ordered& value);

// Parses JSON text (RFC 8259; whitespace around it allowed). Throws
// JSONDecodeError naming the line and column on malformed input, invalid
// UTF-8 included. A duplicated key keeps its last value, as in Python.
// Python also accepts NaN and Infinity; this does not.
JSON json_decode(std::string_view text);

// ---- UTF-8 ------------------------------------------------------------------

// Tornado's utf8() has nothing to do in C++ (a std::string is already bytes);
// to_unicode() becomes a check.

// Whether `bytes` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

// Checks UTF-8 that arrives in pieces (a WebSocket text message in
// fragments), with the same rules as is_valid_utf8(). A character may be
// split between two pieces.
class Utf8Validator {
public:
    // Checks the next piece: false as soon as the bytes fed so far cannot be
    // the start of well-formed UTF-8, and false for every later piece, unread,
    // until reset(). A piece that ends inside a character is still true.
    bool feed(std::string_view bytes) noexcept;
    // Whether the bytes fed so far are well-formed and end on a whole
    // character: what to ask after the last piece.
    bool complete() const noexcept { return !failed_ && pending_ == 0; }
    // Whether a feed() has said false.
    bool failed() const noexcept { return failed_; }
    // Forgets every piece, and a failure: ready for the next message.
    void reset() noexcept { *this = Utf8Validator(); }

private:
    bool fail() noexcept {
        failed_ = true;
        return false;
    }
    std::uint8_t pending_ = 0;  // continuation bytes still to come
    std::uint8_t low_ = 0x80;   // the range the next one must be in
    std::uint8_t high_ = 0xBF;
    bool failed_ = false;
};

// What to_unicode() throws: Python's UnicodeDecodeError; position() is the
// offset of the first byte that is not UTF-8.
class UnicodeDecodeError : public DecodeError {
public:
    using DecodeError::DecodeError;
};

// Returns `bytes` when they are UTF-8, else throws UnicodeDecodeError
// ("'utf-8' codec can't decode byte 0xff in position 3"). Tornado's
// to_unicode(bytes), which RequestHandler.decode_argument uses.
std::string to_unicode(std::string_view bytes);

// Copies `bytes`, replacing each malformed sequence with U+FFFD the way
// Python's bytes.decode("utf-8", "replace") does (one U+FFFD per maximal
// invalid subpart, as Unicode recommends).
std::string replace_invalid_utf8(std::string_view bytes);

// ---- Text -------------------------------------------------------------------

// Replaces every run of bytes 0x00-0x20 with one space and strips the ends
// (the ends lose Python's whitespace too, U+00A0 and U+3000 included).
std::string squeeze(std::string_view value);

// linkify()'s keyword arguments, for designated initializers:
// linkify(text, {.shorten = true}). (Every member has an initializer, so
// leaving some out draws no -Wmissing-field-initializers warning.)
struct LinkifyOptions {
    // Shortens the text of long links (more than 30 characters) and puts the
    // whole address in the title attribute.
    bool shorten = false;
    // Extra attributes for each <a> tag, such as `rel="nofollow"`.
    std::string extra_params = {};
    // Or computed for each link from its href (takes the place of
    // extra_params when set).
    std::function<std::string(const std::string& href)> extra_params_for = {};
    // Link only addresses that start with a protocol (not `www.x.com`).
    bool require_protocol = false;
    // The protocols that may be linked. Adding `javascript` would be unsafe.
    std::vector<std::string> permitted_protocols = {"http", "https"};
};

// HTML-escapes `text` and turns the addresses in it into links:
// `Hello http://tornadoweb.org!` becomes
// `Hello <a href="http://tornadoweb.org">http://tornadoweb.org</a>!`.
// Addresses are found exactly as Tornado's regular expression finds them
// (trailing punctuation stays outside, balanced parentheses inside); the
// matcher is hand-written, in time linear in practice and without recursion,
// so a hostile message cannot blow the stack. Letters beyond ASCII are told
// apart from punctuation with the C library's Unicode tables.
std::string linkify(std::string_view text, const LinkifyOptions& options = {});

// ---- implementation details -------------------------------------------------

namespace detail {
std::string json_encode_ordered(const nlohmann::ordered_json& value);
}  // namespace detail

template <typename Ordered>
    requires(std::is_same_v<Ordered, nlohmann::ordered_json>)
std::string json_encode(const Ordered& value) { return detail::json_encode_ordered(value); }

}  // namespace tornado
