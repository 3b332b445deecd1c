// tornado/httputil.h: HTTP's data types and parsers, with no I/O in them
// (Tornado's `tornado.httputil`).
//
// Chapter 05's httputil grown up. What a request is made of, and the
// functions that take one apart:
//
//   GET /search?q=tornado+web HTTP/1.1\r\n  parse_request_start_line  -> RequestStartLine
//   Host: example.com\r\n                   HTTPHeaders::parse         -> HTTPHeaders
//   Cookie: user=ann; theme=dark\r\n        parse_cookie               -> CookieMap
//   Content-Type: multipart/form-data; ...  parse_body_arguments       -> ArgumentMap, FileMap
//   \r\n                                    (parse_request_head does the whole head in one pass)
//   q=tornado+web                           parse_qs_bytes             -> {"q": ["tornado web"]}
//
// and the interfaces the HTTP layers talk through (Tornado 4's design):
//
//   HTTPServerConnectionDelegate  the application, as the server sees it: makes
//                                 one HTTPMessageDelegate per request;
//   HTTPMessageDelegate           receives one request: headers_received,
//                                 data_received (the body, piece by piece),
//                                 finish, or on_connection_close;
//   HTTPConnection                where the response goes: write_headers,
//                                 write, finish.
//
// The parsers are strict where Tornado 6.2 is lenient (RFC 9110 / 9112):
// header names are tokens (nothing between the name and its colon), values
// hold no control characters, lines end in CRLF or a bare LF (never a bare
// CR), obsolete line folding is refused by the server's parser. Anything refused throws
// HTTPInputError, whose message names the problem and whose status() is what to answer.
//
// Speed: parse_request_head makes one pass over the bytes and keeps them:
// the HTTPHeaders it returns adopts the head's buffer and records each name
// and value as an offset into it (one allocation for the field table, none
// per header). The hot loops test eight bytes at a time for the characters
// that end or break a field. tests/bench/micro/final_http_bench.cpp measures it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/util.h"

namespace tornado {

class IOStream;
class HTTPConnection;
class HTTPServerConnection;
class HTTPServerConnectionDelegate;
namespace detail {
class RequestDriver;
}

// --- errors ------------------------------------------------------------------------

// Malformed HTTP from the peer (Tornado's HTTPInputError). status() is the
// answer a server gives: 400 most of the time, 413 for a body over the
// limit, 431 for headers over it, 505 for an HTTP version it does not speak.
// The status comes first, as in HTTPError(status, ...) and chapter 05.
//
// Messages: Tornado's words where Tornado has a message for the case
// ("Only integer Content-Length is allowed: '+5'"), else a lowercase phrase
// that names the rule broken and quotes the input ("header name is not a
// token: 'X-Na[me]'"). Either way the input is quoted with its control
// bytes escaped, because the message goes into a log and into the 400.
class HTTPInputError : public std::runtime_error {
public:
    explicit HTTPInputError(const std::string& message) : HTTPInputError(400, message) {}
    HTTPInputError(int status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    int status() const noexcept { return status_; }

private:
    int status_;
};

// The application broke HTTP's rules in its response: wrote more than its
// Content-Length, finished with less (Tornado's HTTPOutputError).
class HTTPOutputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// --- OrderedMap --------------------------------------------------------------------

// A map from string keys that remembers the order keys first came in, as a
// Python dict does: query arguments, form fields, cookies. Small maps (the
// usual case) are a vector searched linearly; from 16 keys on, a hash index
// keeps a request with thousands of arguments from taking quadratic time.
template <typename V>
class OrderedMap {
public:
    using value_type = std::pair<std::string, V>;
    using const_iterator = typename std::vector<value_type>::const_iterator;
    using iterator = typename std::vector<value_type>::iterator;

    OrderedMap() = default;
    OrderedMap(std::initializer_list<value_type> items) {
        for (const value_type& item : items) (*this)[item.first] = item.second;
    }
    OrderedMap(const OrderedMap& other) : items_(other.items_) { rebuild_index(); }
    OrderedMap(OrderedMap&&) noexcept = default;
    OrderedMap& operator=(const OrderedMap& other) {
        if (this != &other) {
            items_ = other.items_;
            rebuild_index();
        }
        return *this;
    }
    OrderedMap& operator=(OrderedMap&&) noexcept = default;

    // The value for `key`, made (default-constructed, at the end) if missing.
    V& operator[](std::string_view key) {
        if (V* found = find_value(key)) return *found;
        items_.emplace_back(std::string(key), V());
        if (index_) {
            index_->emplace(items_.back().first, items_.size() - 1);
        } else if (items_.size() > kLinearLimit) {
            rebuild_index();
        }
        return items_.back().second;
    }
    // Throws std::out_of_range when missing.
    const V& at(std::string_view key) const {
        if (const V* found = find_value(key)) return *found;
        throw std::out_of_range("OrderedMap: no key '" + std::string(key) + "'");
    }
    V& at(std::string_view key) {
        return const_cast<V&>(static_cast<const OrderedMap&>(*this).at(key));
    }
    // The value for `key`, or nullptr; unlike operator[], adds nothing. The
    // pointer lasts until a key is added or erased (the entries are a vector).
    const V* find_value(std::string_view key) const {
        std::size_t i = index_of(key);
        return i == npos ? nullptr : &items_[i].second;
    }
    V* find_value(std::string_view key) {
        std::size_t i = index_of(key);
        return i == npos ? nullptr : &items_[i].second;
    }
    const_iterator find(std::string_view key) const {
        std::size_t i = index_of(key);
        return i == npos ? items_.end() : items_.begin() + static_cast<std::ptrdiff_t>(i);
    }
    bool contains(std::string_view key) const { return find_value(key) != nullptr; }
    std::size_t count(std::string_view key) const { return contains(key) ? 1 : 0; }
    // Removes `key`; returns how many were removed (0 or 1).
    std::size_t erase(std::string_view key) {
        for (auto it = items_.begin(); it != items_.end(); ++it) {
            if (it->first == key) {
                items_.erase(it);
                rebuild_index();
                return 1;
            }
        }
        return 0;
    }
    void clear() noexcept {
        items_.clear();
        index_.reset();
    }

    std::size_t size() const noexcept { return items_.size(); }
    bool empty() const noexcept { return items_.empty(); }
    // The (key, value) entries in the order the keys first came. Iterators
    // last until a key is added or erased.
    const_iterator begin() const noexcept { return items_.begin(); }
    const_iterator end() const noexcept { return items_.end(); }
    // Values may be changed through it, keys must not be: from 16 keys on,
    // the index would still find the entry under its old key.
    iterator begin() noexcept { return items_.begin(); }
    iterator end() noexcept { return items_.end(); }

    friend bool operator==(const OrderedMap& a, const OrderedMap& b) {
        return a.items_ == b.items_;
    }

private:
    static constexpr std::size_t kLinearLimit = 16;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    std::size_t index_of(std::string_view key) const {
        if (index_) {
            auto it = index_->find(std::string(key));
            return it == index_->end() ? npos : it->second;
        }
        for (std::size_t i = 0; i < items_.size(); ++i) {
            if (items_[i].first == key) return i;
        }
        return npos;
    }
    void rebuild_index() {
        if (items_.size() <= kLinearLimit) {
            index_.reset();
            return;
        }
        index_ = std::make_unique<std::unordered_map<std::string, std::size_t>>();
        index_->reserve(items_.size() * 2);
        for (std::size_t i = 0; i < items_.size(); ++i) index_->emplace(items_[i].first, i);
    }

    std::vector<value_type> items_;
    std::unique_ptr<std::unordered_map<std::string, std::size_t>> index_;
};

// A file sent in a multipart/form-data body (Tornado's HTTPFile): a part
// whose Content-Disposition has a non-empty filename. filename is that
// parameter, unquoted (RFC 2231 decoded); content_type is the part's
// Content-Type, "application/unknown" without one, as in Tornado; body is
// the part's bytes.
struct HTTPFile {
    std::string filename;
    std::string content_type;
    std::string body;
    friend bool operator==(const HTTPFile&, const HTTPFile&) = default;
};

// name -> values (an argument may come many times), in the order sent.
using ArgumentMap = OrderedMap<std::vector<std::string>>;
// form field -> the files sent under it.
using FileMap = OrderedMap<std::vector<HTTPFile>>;
// cookie name -> value.
using CookieMap = OrderedMap<std::string>;

// --- HTTPHeaders -------------------------------------------------------------------

// Header fields in the order they came (Tornado's HTTPHeaders). Names are
// kept in Http-Header-Case (Tornado's normalisation: "content-type" becomes
// "Content-Type") and compared without regard to case. A name may come many
// times: get_list() gives every value, get() joins them with commas
// (RFC 9110 section 5.3), as Tornado's headers[name] does.
//
//   tornado::HTTPHeaders headers{{"Content-Type", "text/plain"}};
//   headers.add("Set-Cookie", "a=1");
//   headers.add("Set-Cookie", "b=2");
//   headers.get("set-cookie");        // "a=1,b=2"
//   headers.get_list("Set-Cookie");   // {"a=1", "b=2"}
//   for (auto [name, value] : headers) ...   // every field, in order
//
// add() and set() refuse a name that is not a token and a value holding CR,
// LF or NUL (std::invalid_argument): a header can never smuggle a second
// header, or a body, into a response.
//
// Storage: one string holds every name and value; each field is four
// offsets into it. The string_views that get_first(), and iteration, give
// are valid until the headers next change.
class HTTPHeaders {
public:
    struct Field {
        std::string_view name;
        std::string_view value;
    };

    class const_iterator {
    public:
        using value_type = Field;
        using difference_type = std::ptrdiff_t;
        const_iterator() = default;
        Field operator*() const { return headers_->field(index_); }
        const_iterator& operator++() {
            ++index_;
            return *this;
        }
        const_iterator operator++(int) {
            const_iterator old = *this;
            ++index_;
            return old;
        }
        friend bool operator==(const const_iterator& a, const const_iterator& b) {
            return a.index_ == b.index_;
        }

    private:
        friend class HTTPHeaders;
        const_iterator(const HTTPHeaders* headers, std::size_t index)
            : headers_(headers), index_(index) {}
        const HTTPHeaders* headers_ = nullptr;
        std::size_t index_ = 0;
    };

    HTTPHeaders() = default;
    HTTPHeaders(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

    // Parses header lines ("Name: value", each ending in CRLF or LF, as
    // Tornado does; an empty line ends them). A line starting with
    // whitespace continues the previous value (obsolete folding, joined with
    // a space). Throws HTTPInputError for a line that is not "token: value".
    static HTTPHeaders parse(std::string_view text);
    // One line, no line ending (Tornado's parse_line).
    void parse_line(std::string_view line);

    // Appends a value for `name` (Tornado's add).
    void add(std::string_view name, std::string_view value);
    // Replaces every value of `name` with `value` (Tornado's headers[name] = value).
    void set(std::string_view name, std::string_view value);
    // Removes every value of `name`; returns how many (Tornado's del headers[name]).
    std::size_t remove(std::string_view name);
    void clear() noexcept;
    // Room for `fields` fields of `bytes` name and value bytes in all, so
    // that adding them allocates nothing (a response's headers).
    void reserve(std::size_t fields, std::size_t bytes);
    // Copies the fields into storage of their exact size (a parsed head's
    // text also holds the request line and the separators), for headers
    // kept long after they were parsed (a WebSocket's request).
    void shrink_to_fit();

    bool contains(std::string_view name) const noexcept;
    // The values joined with ",", or `fallback` when there are none.
    std::string get(std::string_view name, std::string_view fallback = {}) const;
    // The first value, or `fallback`, without a copy (see the class comment).
    std::string_view get_first(std::string_view name,
                               std::string_view fallback = {}) const noexcept;
    // How many field lines carry `name`.
    std::size_t count(std::string_view name) const noexcept;
    // Every value of `name`, in order, copied; empty when there is none
    // (Tornado's get_list).
    std::vector<std::string> get_list(std::string_view name) const;
    // Every (name, value) pair, in order (Tornado's get_all).
    std::vector<std::pair<std::string, std::string>> get_all() const;

    // Field lines (not distinct names).
    std::size_t size() const noexcept { return fields_.size(); }
    bool empty() const noexcept { return fields_.empty(); }
    const_iterator begin() const noexcept { return {this, 0}; }
    const_iterator end() const noexcept { return {this, fields_.size()}; }
    // The i-th field line, for i < size() (not checked). The views last
    // until the headers next change.
    Field field(std::size_t i) const noexcept {
        const Slot& slot = fields_[i];
        return {std::string_view(text_.data() + slot.name_at, slot.name_size),
                std::string_view(text_.data() + slot.value_at, slot.value_size)};
    }

    // "Name: value\r\n" for each field, appended to `out` (what a response
    // head is made of; the values were checked when they were added).
    void write_to(std::string& out) const;
    // How many bytes write_to appends.
    std::size_t written_size() const noexcept;
    // "Name: value\n" lines (Tornado's str(headers)).
    std::string to_string() const;

    friend bool operator==(const HTTPHeaders& a, const HTTPHeaders& b);

private:
    friend struct HeadParser;            // parse_request_head fills the table directly
    friend class RequestHandler;         // adds its own fields without add()'s checks (below)
    friend class detail::RequestDriver;  // HTTP/2's fields, which its session checked

    // Every response adds a few fields of its own, so the framework skips
    // what it knows already. add_known_name: the name is a literal in
    // Http-Header-Case ("Etag"), copied as it is; the value is checked.
    void add_known_name(std::string_view name, std::string_view value);
    // set() with no checks at all: the name is a literal in Http-Header-Case
    // and the value one the framework made clean (a literal, digits, an
    // HTTP date).
    void set_known_field(std::string_view name, std::string_view value);

    struct Slot {
        std::uint32_t name_at;
        std::uint32_t name_size;
        std::uint32_t value_at;
        std::uint32_t value_size;
    };
    void append_field(std::string_view name, std::string_view value);  // normalizes the name
    // append_field that also checks the name is a token (RFC 9110 section
    // 5.1: no space, colon or control character that could end it early
    // when the field is written out); false, with nothing added, if not.
    bool append_if_token(std::string_view name, std::string_view value);
    // No checks at all: a name in Http-Header-Case and a value known to be
    // clean (a literal, digits).
    void append_normalized_field(std::string_view name, std::string_view value);
    // Throws std::length_error when `more` bytes would pass the Slots' 32-bit offsets.
    void check_room(std::size_t more) const;
    bool has_name(const Slot& slot, std::string_view name) const noexcept;
    // The index of the first field called `name`; size() when there is none.
    std::size_t first_named(std::string_view name) const noexcept;
    void replace_value(std::size_t index, std::string_view name, std::string_view value);
    // Drops the fields called `name` from index `from` on; returns how many.
    std::size_t drop_named(std::string_view name, std::size_t from);
    void compact_if_wasteful();

    std::string text_;  // names and values, back to back
    std::vector<Slot> fields_;
    std::size_t dead_bytes_ = 0;  // bytes of text_ no field uses (after remove)
};

// Http-Header-Case: "content-type" -> "Content-Type" (Tornado's _normalize_header).
std::string normalize_header_name(std::string_view name);
// A token (RFC 9110 section 5.6.2): what a method and a header name are made of.
bool is_token(std::string_view text) noexcept;
// ASCII case-insensitive equality.
bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept;

// --- start lines ---------------------------------------------------------------------

// "GET /path?x=1 HTTP/1.1" (Tornado's RequestStartLine; path is the
// request target as sent, query included).
struct RequestStartLine {
    std::string method;
    std::string path;
    std::string version;
    friend bool operator==(const RequestStartLine&, const RequestStartLine&) = default;
};

// "HTTP/1.1 200 OK" (Tornado's ResponseStartLine). For write_headers only
// code and reason matter: the version is the connection's.
struct ResponseStartLine {
    std::string version = "HTTP/1.1";
    int code = 200;
    std::string reason;  // empty: the standard phrase for code
    friend bool operator==(const ResponseStartLine&, const ResponseStartLine&) = default;
};

// What HTTPMessageDelegate::headers_received gets, as in Tornado. The
// server (HTTP1Connection) always passes a RequestStartLine: the HTTP client
// reads responses without a delegate.
using StartLine = std::variant<RequestStartLine, ResponseStartLine>;

// "METHOD SP target SP HTTP/1.x", exactly one space apart. Throws
// HTTPInputError: 400 when malformed, 505 for a version other than 1.x.
RequestStartLine parse_request_start_line(std::string_view line);
// "HTTP/1.x NNN reason". Throws HTTPInputError.
ResponseStartLine parse_response_start_line(std::string_view line);

// A request line and its headers: what parse_request_head returns.
struct RequestHead {
    RequestStartLine start_line;
    HTTPHeaders headers;
};
// A whole request head, as the server reads it: what came up to and
// including the empty line that ends it (empty lines before the request
// line are skipped, RFC 9112 section 2.2), and nothing after it. One pass,
// strict: lines end in CRLF or a bare LF (as Tornado and RFC 9112 section
// 2.2 allow; a bare CR is refused), names are tokens with the colon right
// after them, values hold no control characters but HTAB, no obsolete
// folding. Host as RFC 9112 section 3.2 says: at most one, required unless
// the version is HTTP/1.0, empty or uri-host [ ":" port ]; an absolute-form
// target's authority is held to the same rule. The headers keep `head`'s
// buffer (moved in, not copied). Throws HTTPInputError: 505 for a
// well-formed version other than HTTP/1.x, 431 for a head past 4 GiB (the
// offsets are 32-bit), 400 for anything else.
RequestHead parse_request_head(std::string head);

// --- where a body ends (RFC 9112 section 6.3), for the server and the client alike ---------

// How the body after a head is delimited. Neither: the request has no
// body, or the response runs until the connection closes.
struct BodyFraming {
    bool chunked = false;
    std::optional<std::uint64_t> content_length;
};

// Reads Transfer-Encoding and Content-Length. `message` names the kind in
// errors ("Request", "Response"). Throws HTTPInputError (400) for both
// fields at once (where the body ends would be ambiguous: the classic
// request smuggling), a Transfer-Encoding other than a lone "chunked", or a
// bad Content-Length (parse_content_length).
BodyFraming parse_body_framing(const HTTPHeaders& headers, std::string_view message);

// Content-Length (RFC 9110 section 8.6): digits only, no sign, space or
// "0x". Repeated fields, or a list such as "5, 5" (which proxies make), must
// all say the same. A number beyond 64 bits reads as the largest, which
// every body limit refuses. Nothing when there is no such field; throws
// HTTPInputError (400) for a bad one, in Tornado's words.
std::optional<std::uint64_t> parse_content_length(const HTTPHeaders& headers);

// One Content-Length value as above, or nothing when it is not digits.
std::optional<std::uint64_t> parse_content_length_value(std::string_view value) noexcept;

// The longest chunk-size line read (digits and extensions, CRLF included).
inline constexpr std::size_t kMaxChunkSizeLine = 4096;

// The size a chunk-size line announces (RFC 9112 section 7.1):
// 1*HEXDIG [ BWS ";" chunk-ext ], with or without its CRLF; extensions are
// ignored. Throws HTTPInputError("invalid chunk size: ...") for anything
// else: a sign, "0x", a space before the digits, a size beyond 64 bits.
std::uint64_t parse_chunk_size(std::string_view line);

// --- gzip bodies ----------------------------------------------------------------------------

// Inflates a gzip stream that arrives in pieces (Tornado's
// tornado.util.GzipDecompressor): the client's decompress_response and the
// server's decompress_request use it. Every member of the stream is
// inflated, one after the other (RFC 1952 section 2.2), where Tornado stops
// after the first. Bytes that are not gzip throw
// HTTPInputError (400); so does output past `max_output` bytes in all, with
// 413 (a small body may inflate a thousandfold: the limit on the body is a
// limit on what it inflates to).
class GzipDecompressor {
public:
    explicit GzipDecompressor(std::size_t max_output);
    ~GzipDecompressor();
    GzipDecompressor(const GzipDecompressor&) = delete;
    GzipDecompressor& operator=(const GzipDecompressor&) = delete;

    // What `compressed` inflates to (possibly nothing yet).
    std::string decompress(std::string_view compressed);
    // Throws HTTPInputError (400) if gzip data began and has not ended,
    // trailer and all: call it when the body has (a cut-off body is
    // malformed; an empty one is let through, as Tornado does).
    void check_ended() const;

private:
    struct Stream;  // zlib's, kept out of this header
    std::unique_ptr<Stream> stream_;
    std::size_t max_output_;
    std::size_t output_ = 0;
};

// --- query strings and bodies ------------------------------------------------------------

// "a=1&b=%20x&a=2" -> {"a": ["1", "2"], "b": [" x"]} (Tornado's
// parse_qs_bytes, Python's parse_qs): fields split on '&', '+' is a space,
// %XX escapes decoded to raw bytes (an invalid escape stays as it is).
// Without keep_blank_values, "a=" and "a" are dropped; with it, they give "".
ArgumentMap parse_qs_bytes(std::string_view query, bool keep_blank_values = false);
// The same as (name, value) pairs in order (Python's parse_qsl).
std::vector<std::pair<std::string, std::string>> parse_qsl(std::string_view query,
                                                           bool keep_blank_values = false);

// Adds the arguments of a request body to `arguments` and `files` (Tornado's
// parse_body_arguments): application/x-www-form-urlencoded and
// multipart/form-data (with its boundary from content_type). Other types are
// left alone. Throws HTTPInputError for a malformed body, naming the problem,
// and for a body with a Content-Encoding (in `headers`, if given).
void parse_body_arguments(std::string_view content_type, std::string_view body,
                          ArgumentMap& arguments, FileMap& files,
                          const HTTPHeaders* headers = nullptr);
// One multipart/form-data body (boundary as in the Content-Type, quotes
// allowed). Parts with a filename go to `files`, the others to `arguments`.
void parse_multipart_form_data(std::string_view boundary, std::string_view data,
                               ArgumentMap& arguments, FileMap& files);

// "user:password", the text HTTP basic authentication base64-encodes
// (Tornado's encode_username_password; the bytes as they are, UTF-8 or not).
std::string encode_username_password(std::string_view username, std::string_view password);

// Appends arguments to a URL's query, whatever it has already
// (Tornado's url_concat):
//   url_concat("http://a/b?x=1", {{"c", "d"}})  ->  "http://a/b?x=1&c=d"
std::string url_concat(std::string_view url,
                       const std::vector<std::pair<std::string, std::string>>& args);

// --- dates, cookies, hosts ---------------------------------------------------------------

// An HTTP date (RFC 9110 section 5.6.7): "Sun, 27 Jan 2013 18:43:20 GMT"
// (Tornado's format_timestamp).
std::string format_timestamp(std::time_t when);
std::string format_timestamp(std::chrono::system_clock::time_point when);
// The three date formats HTTP accepts (IMF-fixdate, RFC 850, asctime) to a
// time; nothing if the text is none of them.
std::optional<std::time_t> parse_http_date(std::string_view text);
// The current time as an HTTP date, formatted once per second per thread
// (every response's Date header).
std::string_view http_date_now();

// "a=1; b=\"x y\"" -> {"a": "1", "b": "x y"} (Tornado's parse_cookie,
// which follows what browsers do rather than the RFCs).
CookieMap parse_cookie(std::string_view cookie);

// "example.com:8080" -> {"example.com", 8080}; no port: nothing
// (Tornado's split_host_and_port).
std::pair<std::string, std::optional<int>> split_host_and_port(std::string_view netloc);

// The standard reason phrase for a status code ("Not Found"), or "Unknown".
std::string_view reason_phrase(int code) noexcept;

// A Content-Type-like header: "form-data; name=\"a\"; filename=\"b.txt\"" ->
// {"form-data", {"name": "a", "filename": "b.txt"}}. Quoted values are
// unquoted, RFC 2231 values (filename*=UTF-8''%e2%82%ac) decoded.
std::pair<std::string, OrderedMap<std::string>> parse_header_value(std::string_view line);

// Range: "bytes=0-99" -> {0, 100}; "bytes=-5" -> {-5, nothing}; anything but
// one byte range -> nothing (Tornado's _parse_request_range, for
// StaticFileHandler). Indexes as for a slice: the end is exclusive.
std::optional<std::pair<std::optional<std::int64_t>, std::optional<std::int64_t>>>
parse_request_range(std::string_view range_header);
// "bytes START-END/TOTAL" for a slice (Tornado's _get_content_range).
std::string content_range(std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                          std::int64_t total);

// --- the request -------------------------------------------------------------------------

// Where a connection came from, for the request (Tornado's
// _HTTPRequestContext). The server fills it in; with xheaders, a proxy's
// headers may override remote_ip and protocol for one request.
struct HTTPRequestContext {
    std::string remote_ip = "0.0.0.0";   // "127.0.0.1"; "0.0.0.0" for a Unix socket
    std::string_view protocol = "http";  // "http" or "https" (static strings)
};

// One HTTP request (Tornado's HTTPServerRequest). The server makes it when
// the headers have arrived; body, body_arguments and files are filled once
// the body has (parse_body()).
class HTTPServerRequest {
public:
    HTTPServerRequest() : HTTPServerRequest("GET", "/") {}
    // As Tornado's constructor: the path and query are split off `uri`, the
    // query parsed; remote_ip and protocol come from the connection's
    // context; host from `host`, else the Host header, else "127.0.0.1".
    // Unlike Tornado, a `uri` in absolute-form ("http://example.com/x?y",
    // RFC 9112 section 3.2.2) gives the host itself (its authority, unless
    // `host` is given) and becomes the origin-form after it ("/x?y").
    HTTPServerRequest(std::string method, std::string uri, std::string version = "HTTP/1.0",
                      HTTPHeaders headers = {}, std::string body = {}, std::string host = {},
                      std::shared_ptr<HTTPConnection> connection = nullptr);
    // What a server makes: `start_time` is its loop's turn_time(). The
    // start line and headers are taken, not copied: each hop by value
    // would move three strings more, for every request.
    HTTPServerRequest(RequestStartLine&& start_line, HTTPHeaders&& headers,
                      std::shared_ptr<HTTPConnection> connection,
                      HTTPServerConnection* server_connection,
                      std::chrono::steady_clock::time_point start_time);

    std::string method;   // "GET"
    std::string uri;      // "/search?q=a+b", as sent (origin-form: see above)
    std::string version;  // "HTTP/1.1"
    HTTPHeaders headers;
    std::string body;
    std::string remote_ip;  // the peer (or, with xheaders, the proxy's client)
    std::string protocol;   // "http" or "https"
    std::string host;       // "example.com:8080"
    std::string host_name;  // "example.com", lower case
    std::string path;       // "/search"
    std::string query;      // "q=a+b"
    ArgumentMap arguments;  // query and body arguments together
    ArgumentMap query_arguments;
    ArgumentMap body_arguments;
    FileMap files;
    // Where the response goes (the connection this request came on).
    std::shared_ptr<HTTPConnection> connection;
    // The server connection it came on, kept alive by `connection`; nullptr
    // for a request not made by a server.
    HTTPServerConnection* server_connection = nullptr;
    // When the request began (from a server: when the loop turn that read
    // its head began), and when it ended: the server leaves that unset (the
    // clock's epoch, time_point{}), as Tornado does, so that request_time()
    // reads the clock when asked.
    std::chrono::steady_clock::time_point start_time = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point finish_time{};

    // The Cookie header, parsed on first use (Tornado's request.cookies).
    // Cookies whose names Python's SimpleCookie refuses are left out.
    const CookieMap& cookies() const;
    // "http://example.com/search?q=a+b"
    std::string full_url() const;
    // Seconds from start_time to finish_time (or to now).
    double request_time() const;
    // Fills body_arguments and files from body and adds them to arguments
    // (Tornado's _parse_body). Throws HTTPInputError for a malformed body.
    void parse_body();

private:
    // remote_ip, protocol, host, host_name, path, query and its arguments,
    // from the fields above (`host_`: the constructor's host, if any).
    void derive_fields(std::string_view host_);

    mutable std::unique_ptr<CookieMap> cookies_;
};

// --- the interfaces between the HTTP layers ------------------------------------------------

// Receives one HTTP message (Tornado's HTTPMessageDelegate). For every
// request whose headers arrive, either finish() or on_connection_close()
// is called, never both.
class HTTPMessageDelegate {
public:
    virtual ~HTTPMessageDelegate() = default;
    // The start line and headers have arrived. May return a Future; the body
    // is not read until it resolves (an empty Future: go on at once).
    virtual Future<void> headers_received(StartLine start_line, HTTPHeaders headers) = 0;
    // A piece of the body (chunked encoding removed). A Future returned
    // holds the next piece back until it resolves (flow control).
    virtual Future<void> data_received(std::string chunk) {
        (void)chunk;
        return Future<void>(nullptr);
    }
    // The whole message has arrived.
    virtual void finish() {}
    // The connection closed before the message was complete.
    virtual void on_connection_close() {}
};

// One connection a server serves, whatever its protocol: HTTP1ServerConnection
// (tornado/http1connection.h), or tornado::http2's HTTP2ServerConnection,
// which carries many requests at once. What HTTPServer keeps of each
// connection for a graceful stop, and what start_request() is told a
// request came on. Its time limit is a ListedTimeout (ioloop.h) that each
// protocol uses for its own waits.
class HTTPServerConnection : protected detail::ListedTimeout {
public:
    // Starts serving: each request goes to delegate.start_request, and
    // delegate.on_close(this) is called once when the connection ends. The
    // delegate must outlive the connection (HTTPServer sees to it).
    virtual void start_serving(HTTPServerConnectionDelegate& delegate) = 0;
    // The connection's origin. With xheaders, HTTPServer rewrites it from a
    // request's headers_received to its finish (or on_connection_close),
    // then restores it.
    virtual HTTPRequestContext& context() noexcept = 0;
    // Closes the connection; the Future resolves when it has ended.
    virtual Future<void> close() = 0;
    // A graceful close: at once when no request is in progress, else once
    // the requests in progress are answered (no new one is taken).
    virtual void close_when_idle() = 0;
    // No request in progress, nothing of one received.
    virtual bool idle() const noexcept = 0;

protected:
    HTTPServerConnection() = default;
    ~HTTPServerConnection() = default;

private:
    // HTTPServer keeps its list bookkeeping here (server_slot()) and calls
    // the functions below; nothing else.
    friend class HTTPServer;
    // The server is destroyed while this connection still unwinds: it must
    // not hear from the connection again, and the stream closes unless
    // someone took it.
    virtual void server_gone() noexcept = 0;
    // A handle that keeps the connection alive while the server walks its list.
    virtual std::shared_ptr<HTTPServerConnection> shared_handle() = 0;
    // Its index in its HTTPServer's list of connections (kNotListed: none).
    // Kept by each protocol among its own small fields: a member here would
    // leave padding that costs an idle HTTP/1 connection 16 bytes of heap.
    virtual std::uint32_t& server_slot() noexcept = 0;

protected:
    static constexpr std::uint32_t kNotListed = UINT32_MAX;
};

// The application as the server sees it (Tornado's
// HTTPServerConnectionDelegate): web::Application is one.
class HTTPServerConnectionDelegate {
public:
    virtual ~HTTPServerConnectionDelegate() = default;
    // A request is starting on `server_conn`; its response goes to
    // `request_conn`. Returns who receives the request.
    virtual std::unique_ptr<HTTPMessageDelegate> start_request(
        HTTPServerConnection* server_conn, std::shared_ptr<HTTPConnection> request_conn) = 0;
    // `server_conn` has closed (after its last request). For a connection
    // still idle when its IOLoop closes, this runs from IOLoop::close(),
    // as the loop lets go of the connection's stream: the loop takes no
    // more callbacks or timers then.
    virtual void on_close(HTTPServerConnection* server_conn) { (void)server_conn; }
    // A client opened an HTTP/1 connection made to hand such clients over
    // (HTTP1ConnectionParameters::http2) with HTTP/2's preface, or asked it
    // for h2c by Upgrade: that connection has let go of `stream`, of which
    // it read `received` (the preface's line, or the request's head), and
    // ended. HTTPServer with http2 serves it over HTTP/2; the default
    // closes the stream.
    virtual void start_http2(std::shared_ptr<IOStream> stream, std::string received,
                             HTTPRequestContext context);
};

// Body bytes that stay valid as long as `owner` lives. A cached static
// file's pieces are these: every response that sends the file points into
// its one copy, and a connection that holds a body until the peer has it
// (HTTP/2, HTTP/3) keeps `owner` instead of a copy of the bytes.
struct SharedBytes {
    SharedBytes() = default;
    SharedBytes(std::shared_ptr<const void> keeper, std::string_view view)
        : owner(std::move(keeper)), bytes(view) {}
    // Owns `text`, moved, not copied. Implicit, so that whatever gives
    // SharedBytes may give a plain string (StaticFileHandler::get_content).
    SharedBytes(std::string text);  // NOLINT(google-explicit-constructor)

    std::shared_ptr<const void> owner;
    std::string_view bytes;
};

// Where an application writes its response (Tornado's HTTPConnection).
class HTTPConnection {
public:
    virtual ~HTTPConnection() = default;
    // The status line and headers, and optionally the first piece of the
    // body (in the same write: small responses go out in one packet). The
    // Future resolves when the bytes are handed to the kernel (flow control).
    virtual Future<void> write_headers(const ResponseStartLine& start_line,
                                       const HTTPHeaders& headers, std::string_view chunk = {}) = 0;
    // More of the body.
    virtual Future<void> write(std::string_view chunk) = 0;
    // The same two for bytes that stay valid while `body.owner` lives: a
    // connection may keep a reference to them rather than a copy. These
    // defaults copy, as the two above do.
    virtual Future<void> write_headers_shared(const ResponseStartLine& start_line,
                                              const HTTPHeaders& headers, SharedBytes body) {
        return write_headers(start_line, headers, body.bytes);
    }
    virtual Future<void> write_shared(SharedBytes body) { return write(body.bytes); }
    // Whether write_file may send the body's next bytes now: only
    // HTTP1Connection can, for a body with a Content-Length on a plain
    // socket sent on by readiness (IOStream::sends_file_now).
    virtual bool sends_file_now() const { return false; }
    // More of the body, from an open file, by sendfile(): its bytes never
    // pass through this process. Throws std::logic_error unless
    // sends_file_now().
    virtual Future<void> write_file(FileBytes file) {
        (void)file;
        throw std::logic_error("HTTPConnection: this connection cannot send a file");
    }
    // The response is complete.
    virtual void finish() = 0;
    // The response is complete, and `trailers` follow its body: HTTP/2's
    // trailing HEADERS frame, or the trailer section of HTTP/1.1's chunked
    // encoding (RFC 9110 section 6.5). A connection that has nowhere to
    // put them (a body with a Content-Length, HTTP/1.0, a HEAD) drops them
    // and finishes; so does this default.
    virtual void finish_with_trailers(const HTTPHeaders& trailers) {
        (void)trailers;
        finish();
    }

    // What HTTP1Connection adds, and the web layer uses; a test double may
    // leave them as they are.
    // Runs `callback` if the connection closes before the response is finished.
    virtual void set_close_callback(Function<void()> callback) { (void)callback; }
    // Per-request limits for a streamed body (stream_request_body).
    virtual void set_max_body_size(std::size_t max_body_size) { (void)max_body_size; }
    // The limit on the time from the end of the head to the end of the body,
    // for this request. HTTP1Connection reads it, and max_body_size, when it
    // starts reading the body: a later call changes nothing.
    virtual void set_body_timeout(std::chrono::steady_clock::duration timeout) { (void)timeout; }
    // Takes the stream away from HTTP (WebSocket's upgrade).
    virtual std::shared_ptr<IOStream> detach();
    // The connection's origin (nullptr when there is none).
    virtual const HTTPRequestContext* context() const { return nullptr; }
    // The same, for HTTPServer's xheaders to rewrite for the length of this
    // request: the server connection's (HTTP/1, one request at a time), or
    // the stream's own copy (HTTP/2, whose streams run side by side).
    virtual HTTPRequestContext* mutable_context() { return nullptr; }
};

}  // namespace tornado
