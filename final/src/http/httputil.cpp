// httputil.cpp: HTTP's data types and parsers, with no I/O in them (see tornado/httputil.h
// for the contract; Tornado's tornado/httputil.py is the model).
//
// What the server hands to this file, in the order a request arrives:
//
//   the head, up to the empty line   parse_request_head (HeadParser): the request line, and
//                                    HTTPHeaders that adopt the head's buffer
//   its headers                      parse_body_framing: Content-Length or chunked
//   each chunk-size line             parse_chunk_size (from chunked_body.cpp)
//   the target's query               HTTPServerRequest::derive_fields -> parse_qs_bytes
//   the body                         HTTPServerRequest::parse_body -> parse_body_arguments:
//                                    urlencoded (parse_qs_bytes) or multipart
//   the Cookie header, on first use  HTTPServerRequest::cookies -> parse_cookie
//
// and, on the way out, each response's Date (http_date_now). The client and the multipart
// parser use the line-by-line parsers instead (parse_response_start_line,
// HTTPHeaders::parse), which accept folded header lines as Tornado does.
//
// Two kinds of code live here. The request-head parser is the hot path and the server's
// guard: strict (see "the request head, in one pass" below for why), one pass over the
// bytes, with the characters that end or break a field found eight bytes at a time (SWAR:
// "SIMD within a register"), names normalised in place, and the fields recorded as offsets
// into the head's own buffer. The rest ports Tornado's helpers (and the Python library
// functions they call: urllib.parse, email.utils, http.cookies); each says which one it
// follows and where it departs from it.
#include "tornado/httputil.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>

#include "core/hex.h"
#include "core/percent_encoding.h"
#include "core/text.h"
#include "http/field_bytes.h"
#include "tornado/iostream.h"

namespace tornado {

namespace {

using namespace std::string_view_literals;
using detail::ascii_lower;
using detail::ascii_upper;
using detail::is_ascii_letter;
using detail::is_digit;
using detail::is_ows;
using detail::skip_target_bytes;
using detail::skip_value_bytes;
using detail::strip;
using detail::trim_ows;

// --- character classes ---------------------------------------------------------------

// A table of 256 entries, true for the ASCII letters and digits and for
// `punctuation`, built at compile time: the head parser asks about every
// byte of every method and name, and one load beats a chain of branches
// over the grammar's punctuation characters.
constexpr std::array<bool, 256> alphanumeric_and(std::string_view punctuation) {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
    for (char c : punctuation) table[static_cast<unsigned char>(c)] = true;
    return table;
}

// tchar (RFC 9110 section 5.6.2): what methods and header names are made of.
constexpr std::array<bool, 256> kTokenChar = alphanumeric_and("!#$%&'*+-.^_`|~");

inline bool token_char(char c) { return kTokenChar[static_cast<unsigned char>(c)]; }

// What a host name in Host is made of: reg-name's characters (RFC 3986 section 3.2.2),
// unreserved and sub-delims, which hold IPv4address's digits and dots too. The '%' of a
// pct-encoded triplet is not among them: it is checked with its two hex digits apart.
constexpr std::array<bool, 256> kRegNameChar = alphanumeric_and("-._~!$&'()*+,;=");

inline bool reg_name_char(char c) { return kRegNameChar[static_cast<unsigned char>(c)]; }

// Each byte as it is written at the start of a word of a header name
// (upper case) and inside one (lower case): a load per byte, where the
// two tests of ascii_upper or ascii_lower and the choice between them
// cost a dozen instructions for every byte of every name a response sets.
// The token_ pair is the same for a name that must be a token: a byte that
// is no tchar maps to 0, which no tchar maps to, so that the one load both
// checks the byte and gives its case.
struct HeaderCaseTables {
    std::array<char, 256> at_word_start{};
    std::array<char, 256> in_word{};
    std::array<char, 256> token_at_word_start{};
    std::array<char, 256> token_in_word{};
    constexpr HeaderCaseTables() {
        for (int c = 0; c < 256; ++c) {
            at_word_start[c] = ascii_upper(static_cast<char>(c));
            in_word[c] = ascii_lower(static_cast<char>(c));
            token_at_word_start[c] = kTokenChar[c] ? at_word_start[c] : '\0';
            token_in_word[c] = kTokenChar[c] ? in_word[c] : '\0';
        }
    }
};
constexpr HeaderCaseTables kHeaderCase;

// Http-Header-Case, as Tornado's _normalize_header: each '-'-separated word
// capitalised, the rest of it lowered (Python's str.capitalize lowers too, so
// "X-FOO" becomes "X-Foo"). In place, because every caller has just copied
// the name to where it will stay.
void normalize_in_place(char* name, std::size_t size) {
    const std::array<char, 256>* table = &kHeaderCase.at_word_start;
    for (std::size_t i = 0; i < size; ++i) {
        char c = name[i];
        name[i] = (*table)[static_cast<unsigned char>(c)];
        table = c == '-' ? &kHeaderCase.at_word_start : &kHeaderCase.in_word;
    }
}

// normalize_in_place for a name that must be a token (RFC 9110 section
// 5.6.2), checked in the same pass: false, with the name partly changed,
// when it is empty or holds a byte that is no tchar.
bool normalize_token_in_place(char* name, std::size_t size) {
    const std::array<char, 256>* table = &kHeaderCase.token_at_word_start;
    for (std::size_t i = 0; i < size; ++i) {
        char c = name[i];
        char cased = (*table)[static_cast<unsigned char>(c)];
        if (cased == '\0') return false;
        name[i] = cased;
        table = c == '-' ? &kHeaderCase.token_at_word_start : &kHeaderCase.token_in_word;
    }
    return size != 0;
}

// Appends the UTF-8 encoding of a code point below 0x800. Where Python turns
// bytes into a str of code points up to 0xff (an ISO-8859-1 filename, a
// cookie's octal escape), we keep UTF-8 bytes, which is what that str would
// be encoded to on its way out.
void append_utf8(std::string& out, unsigned code_point) {
    if (code_point < 0x80) {
        out += static_cast<char>(code_point);
    } else {
        out += static_cast<char>(0xc0 | (code_point >> 6));
        out += static_cast<char>(0x80 | (code_point & 0x3f));
    }
}

}  // namespace

// --- names --------------------------------------------------------------------------------

// token = 1*tchar (RFC 9110 section 5.6.2): the empty string is not one.
bool is_token(std::string_view text) noexcept {
    if (text.empty()) return false;
    for (char c : text) {
        if (!token_char(c)) return false;
    }
    return true;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    // The usual lookup: a stored name (in Http-Header-Case) and a literal
    // spelled the same way.
    return a == b || detail::equals_ignoring_case(a, b);
}

std::string normalize_header_name(std::string_view name) {
    std::string out(name);
    normalize_in_place(out.data(), out.size());
    return out;
}

// --- HTTPHeaders ----------------------------------------------------------------------------

namespace {

// Who handed us a field decides what a bad one is: from the application, a
// programming error (std::invalid_argument); from the peer, malformed input
// (HTTPInputError, which the server answers with a 400).
enum class Source { application, peer };

// The refusals are out of line and marked cold, so that the checks every
// field goes through stay small.
[[noreturn, gnu::cold, gnu::noinline]] void refuse_value(std::string_view name,
                                                         std::string_view value, Source source) {
    std::string message = "control character in the value of header " + detail::quoted(name) +
                          ": " + detail::quoted(value);
    if (source == Source::peer) throw HTTPInputError(message);
    throw std::invalid_argument(message);
}

[[noreturn, gnu::cold, gnu::noinline]] void refuse_name(std::string_view name, Source source) {
    std::string message = "header name is not a token: " + detail::quoted(name);
    if (source == Source::peer) throw HTTPInputError(message);
    throw std::invalid_argument(message);
}

// Checks a field about to be added. The application's mistakes are
// std::invalid_argument; the peer's are HTTPInputError (400). The rule is the
// head parser's: no control character but HTAB, no DEL. CR and LF are the
// ones that matter: written into a response, a value holding CRLF would
// start a header, or a body, of someone else's choosing (response
// splitting, RFC 9112 section 11.1).
void check_value(std::string_view name, std::string_view value, Source source) {
    const char* end = value.data() + value.size();
    // Eight bytes at a time: every response sets a few headers.
    if (skip_value_bytes(value.data(), end) != end) refuse_value(name, value, source);
}

}  // namespace

HTTPHeaders::HTTPHeaders(
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (const auto& [name, value] : fields) add(name, value);
}

// The name is copied once, into its final place, and normalised there.
void HTTPHeaders::append_field(std::string_view name, std::string_view value) {
    std::size_t name_at = text_.size();
    append_normalized_field(name, value);
    normalize_in_place(text_.data() + name_at, name.size());
}

// append_field for a name not checked yet: it is checked where it is
// normalised, in one pass, and a name that is no token leaves nothing.
bool HTTPHeaders::append_if_token(std::string_view name, std::string_view value) {
    std::size_t name_at = text_.size();
    append_normalized_field(name, value);
    if (normalize_token_in_place(text_.data() + name_at, name.size())) return true;
    fields_.pop_back();
    text_.resize(name_at);
    return false;
}

// A Slot holds 32-bit offsets (four of them make 16 bytes a field), which
// caps one HTTPHeaders at 4 GiB of names and values: far beyond any limit a
// server sets on a head, so the check almost never fires, but it keeps the
// casts below from wrapping silently.
void HTTPHeaders::check_room(std::size_t more) const {
    if (text_.size() + more > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("HTTPHeaders: over 4 GiB of headers");
    }
}

void HTTPHeaders::append_normalized_field(std::string_view name, std::string_view value) {
    check_room(name.size() + value.size());
    Slot slot{};
    slot.name_at = static_cast<std::uint32_t>(text_.size());
    slot.name_size = static_cast<std::uint32_t>(name.size());
    text_.append(name);
    slot.value_at = static_cast<std::uint32_t>(text_.size());
    slot.value_size = static_cast<std::uint32_t>(value.size());
    text_.append(value);
    fields_.push_back(slot);
}

void HTTPHeaders::add(std::string_view name, std::string_view value) {
    check_value(name, value, Source::application);
    if (!append_if_token(name, value)) refuse_name(name, Source::application);
}

void HTTPHeaders::add_known_name(std::string_view name, std::string_view value) {
    check_value(name, value, Source::application);
    append_normalized_field(name, value);
}

// The name keeps its first place, as in Tornado's dict: the first field of
// that name takes the new value where it stands, and any later ones go.
// The usual call replaces a default (a handler's Content-Type), so that
// case writes only the value. Its name needs no check: it equals a stored
// name, which was a token when it was stored.
void HTTPHeaders::set(std::string_view name, std::string_view value) {
    check_value(name, value, Source::application);
    std::size_t first = first_named(name);
    if (first == fields_.size()) {
        if (!append_if_token(name, value)) refuse_name(name, Source::application);
        return;
    }
    replace_value(first, name, value);
}

void HTTPHeaders::set_known_field(std::string_view name, std::string_view value) {
    std::size_t first = first_named(name);
    if (first == fields_.size()) {
        append_normalized_field(name, value);
        return;
    }
    replace_value(first, name, value);
}

std::size_t HTTPHeaders::first_named(std::string_view name) const noexcept {
    auto first = std::find_if(fields_.begin(), fields_.end(),
                              [&](const Slot& slot) { return has_name(slot, name); });
    return static_cast<std::size_t>(first - fields_.begin());
}

// The field at `index`, the first called `name`, takes `value`; the later
// ones of that name go.
void HTTPHeaders::replace_value(std::size_t index, std::string_view name, std::string_view value) {
    check_room(value.size());
    auto value_at = static_cast<std::uint32_t>(text_.size());
    text_.append(value);  // first: if it throws, the field keeps its old value
    Slot& first = fields_[index];
    dead_bytes_ += first.value_size;
    first.value_at = value_at;
    first.value_size = static_cast<std::uint32_t>(value.size());
    drop_named(name, index + 1);
    compact_if_wasteful();
}

// Only the slots go: their bytes stay in text_ (other slots' offsets point
// past them) and are counted as dead until compact_if_wasteful copies.
std::size_t HTTPHeaders::remove(std::string_view name) {
    std::size_t removed = drop_named(name, 0);
    compact_if_wasteful();
    return removed;
}

bool HTTPHeaders::has_name(const Slot& slot, std::string_view name) const noexcept {
    return equals_ignoring_case(std::string_view(text_.data() + slot.name_at, slot.name_size),
                                name);
}

std::size_t HTTPHeaders::drop_named(std::string_view name, std::size_t from) {
    auto dropped = std::remove_if(fields_.begin() + static_cast<std::ptrdiff_t>(from),
                                  fields_.end(), [&](const Slot& slot) {
                                      if (!has_name(slot, name)) return false;
                                      dead_bytes_ += slot.name_size + slot.value_size;
                                      return true;
                                  });
    auto count = static_cast<std::size_t>(fields_.end() - dropped);
    fields_.erase(dropped, fields_.end());
    return count;
}

// After many removals, copy the live fields into a fresh string (a response
// whose headers an application sets and resets must not grow forever). The
// thresholds (1 KiB, and half the text) make the copy rare and its cost
// proportional to what it frees.
void HTTPHeaders::compact_if_wasteful() {
    if (dead_bytes_ < 1024 || dead_bytes_ < text_.size() / 2) return;
    std::vector<std::pair<std::string, std::string>> live = get_all();
    clear();
    for (const auto& [name, value] : live) append_field(name, value);
}

void HTTPHeaders::clear() noexcept {
    text_.clear();
    fields_.clear();
    dead_bytes_ = 0;
}

void HTTPHeaders::reserve(std::size_t fields, std::size_t bytes) {
    fields_.reserve(fields);
    text_.reserve(bytes);
}

// A fresh HTTPHeaders reserved to the exact size, then moved in: this drops
// what a parsed head kept besides the fields (the request line, the colons
// and line ends) and any dead bytes, where std::string::shrink_to_fit
// could only trim the unused capacity.
void HTTPHeaders::shrink_to_fit() {
    std::size_t bytes = 0;
    for (const Slot& slot : fields_) bytes += slot.name_size + slot.value_size;
    HTTPHeaders compact;
    compact.reserve(fields_.size(), bytes);
    for (const Slot& slot : fields_) {
        compact.append_normalized_field(
            std::string_view(text_.data() + slot.name_at, slot.name_size),
            std::string_view(text_.data() + slot.value_at, slot.value_size));
    }
    *this = std::move(compact);
}

// The lookups compare sizes first: most names differ in length, so most
// fields are passed over without reading a byte of them.
bool HTTPHeaders::contains(std::string_view name) const noexcept {
    for (const Slot& slot : fields_) {
        if (slot.name_size == name.size() &&
            equals_ignoring_case(std::string_view(text_.data() + slot.name_at, slot.name_size),
                                 name)) {
            return true;
        }
    }
    return false;
}

std::string_view HTTPHeaders::get_first(std::string_view name,
                                        std::string_view fallback) const noexcept {
    for (const Slot& slot : fields_) {
        if (slot.name_size == name.size() &&
            equals_ignoring_case(std::string_view(text_.data() + slot.name_at, slot.name_size),
                                 name)) {
            return std::string_view(text_.data() + slot.value_at, slot.value_size);
        }
    }
    return fallback;
}

std::size_t HTTPHeaders::count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const Slot& slot : fields_) {
        if (slot.name_size == name.size() &&
            equals_ignoring_case(std::string_view(text_.data() + slot.name_at, slot.name_size),
                                 name)) {
            ++n;
        }
    }
    return n;
}

// Joined with "," and no space, exactly as Tornado's headers[name]: RFC 9110
// section 5.3 lets a recipient join repeated field lines with commas.
std::string HTTPHeaders::get(std::string_view name, std::string_view fallback) const {
    std::string joined;
    bool found = false;
    for (Field field : *this) {
        if (!equals_ignoring_case(field.name, name)) continue;
        if (found) joined += ',';
        joined.append(field.value);
        found = true;
    }
    return found ? joined : std::string(fallback);
}

std::vector<std::string> HTTPHeaders::get_list(std::string_view name) const {
    std::vector<std::string> values;
    for (Field field : *this) {
        if (equals_ignoring_case(field.name, name)) values.emplace_back(field.value);
    }
    return values;
}

std::vector<std::pair<std::string, std::string>> HTTPHeaders::get_all() const {
    std::vector<std::pair<std::string, std::string>> all;
    all.reserve(fields_.size());
    for (Field field : *this) all.emplace_back(field.name, field.value);
    return all;
}

// Written as stored: every value was checked when it was added (add, set,
// the parsers) or is one the framework wrote itself (append_normalized_field),
// so nothing here can break the response's framing.
void HTTPHeaders::write_to(std::string& out) const {
    for (Field field : *this) {
        out.append(field.name);
        out.append(": "sv);
        out.append(field.value);
        out.append("\r\n"sv);
    }
}

// From the slots, not text_'s size: a parsed head's text holds more.
std::size_t HTTPHeaders::written_size() const noexcept {
    std::size_t size = 0;
    for (const Slot& slot : fields_) size += slot.name_size + slot.value_size + ": \r\n"sv.size();
    return size;
}

std::string HTTPHeaders::to_string() const {
    std::string out;
    for (Field field : *this) {
        out.append(field.name);
        out += ": ";
        out.append(field.value);
        out += '\n';
    }
    return out;
}

// Field by field, in order: stricter than Tornado's, whose Mapping equality
// compares each name's joined value and ignores the order of names. Tests
// use it to check that parsed headers survive being written out and
// parsed again.
bool operator==(const HTTPHeaders& a, const HTTPHeaders& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        HTTPHeaders::Field x = a.field(i);
        HTTPHeaders::Field y = b.field(i);
        if (x.name != y.name || x.value != y.value) return false;
    }
    return true;
}

// Tornado's parse_line, the lenient one: this is what the client reads a
// response's headers with, and the multipart parser a part's. It accepts
// obsolete line folding (RFC 9112 section 5.2), which the server's head
// parser refuses. It still refuses names that are not tokens and control
// characters in values, with the peer's exception (HTTPInputError).
void HTTPHeaders::parse_line(std::string_view line) {
    if (line.empty()) return;
    if (is_ows(line.front())) {
        // Obsolete folding: the line continues the previous value, joined with
        // one space as Tornado does ("Continuation" only names it in errors).
        if (fields_.empty()) throw HTTPInputError("first header line cannot start with whitespace");
        std::string_view more = trim_ows(line);
        check_value("Continuation", more, Source::peer);
        // A value must stay contiguous in text_: when the last value is the
        // tail of text_ it is rewritten where it is, else the joined value is
        // appended and the old bytes become dead.
        Slot& last = fields_.back();
        std::string value(text_.data() + last.value_at, last.value_size);
        value += ' ';
        value.append(more);
        if (last.value_at + last.value_size == text_.size()) {
            text_.resize(last.value_at);
        } else {
            dead_bytes_ += last.value_size;
            last.value_at = static_cast<std::uint32_t>(text_.size());
        }
        text_.append(value);
        last.value_size = static_cast<std::uint32_t>(value.size());
        return;
    }
    // Split at the first colon, as Tornado's line.split(":", 1). The name is
    // not trimmed: "Name : v" is refused, as "Name " is no token.
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
        throw HTTPInputError("no colon in header line: " + detail::quoted(line));
    std::string_view name = line.substr(0, colon);
    std::string_view value = strip(line.substr(colon + 1));
    check_value(name, value, Source::peer);
    if (!append_if_token(name, value)) refuse_name(name, Source::peer);
}

// Lines end in LF, with the CR before it dropped when there is one (Tornado's
// parse, after RFC 9112 section 2.2). Empty lines are skipped, not taken as
// the end: the caller passes only the header block.
HTTPHeaders HTTPHeaders::parse(std::string_view text) {
    HTTPHeaders headers;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        headers.parse_line(line);
        start = end + 1;
    }
    return headers;
}

// --- the request head, in one pass ---------------------------------------------------------
//
// parse_request_head is what the server runs on every request, so it is written as a list
// of small steps that each take a cursor `p` and return it moved past what they read:
//
//   skip_blank_lines      CRLFs a client may send before the request line
//   parse_request_line    parse_method, parse_target, parse_version
//   parse_field_line      once per header line: read_field_name, skip_ows, the value
//                         (skip_value_bytes; Host's through scan_host_value first),
//                         trim_trailing_ows, then the field is recorded
//   check_head_end        what can only be checked after the empty line (check_host:
//                         RFC 9112 section 3.2's rules for Host)
//
// One pass: the cursor never moves back (only a value's trailing whitespace is looked at a
// second time), so each byte is read about once and every decision is made on the byte under
// the cursor. Nothing is copied but the three parts of the request line: names and values
// stay where they are and are recorded as offsets into the head's own buffer.
//
// Strict: where RFC 9112 lets a recipient choose between refusing and repairing, this
// refuses. A server that repairs a malformed head differently from a proxy in front of it
// sees a different request than the proxy checked (request smuggling, RFC 9112 section
// 11.2). Tornado 6.2 is more lenient (it takes "Name : value" and folded lines); the
// server here answers those with a 400 whose message names the rule broken.
//
// The steps carry [[gnu::always_inline]]: GCC does not always inline a function used once
// into a caller this large, and the calls cost more than the steps (without the attribute,
// parsing a browser's head took 5% more instructions). The
// error paths are the opposite: [[noreturn]] functions of their own (bad_method, ...), so
// that the steps hold only what a well-formed request runs through, and the work of
// choosing a message (which reads the line again) is paid by bad requests only.

// HTTPHeaders befriends this struct, so the steps that fill its private field table are
// members; the steps that touch no private member are free functions below.
struct HeadParser {
    static RequestHead parse(std::string&& head);

    // What the Host lines held: how many there were, the last one's value (trimmed), and
    // whether that value was found valid as it was read (scan_host_value; if not, the
    // grammar reads it after the empty line).
    struct HostLines {
        int count = 0;
        bool valid = false;
        std::string_view value;
    };

private:
    [[gnu::always_inline]] static inline char* parse_field_line(const char* begin, char* p,
                                                                const char* end,
                                                                HTTPHeaders& headers,
                                                                HostLines& host);
};

namespace {

// A version that is not HTTP/1.x: 505 if it is at least shaped like one (RFC 9110 section
// 15.6.6: the server does not speak that major version), else 400. Also used by
// parse_request_start_line.
[[noreturn]] void bad_version(std::string_view version) {
    bool well_formed = version.size() == 8 && version.starts_with("HTTP/") &&
                       is_digit(version[5]) && version[6] == '.' && is_digit(version[7]);
    if (well_formed)
        throw HTTPInputError(505, "HTTP version not supported: " + detail::quoted(version));
    throw HTTPInputError("malformed HTTP version in request line: " + detail::quoted(version));
}

// The length of the line ending at p: 2 for CRLF, 1 for a bare LF (which
// RFC 9112 section 2.2 lets a recipient accept, and Tornado does), else 0.
[[gnu::always_inline]] inline std::size_t line_end_size(const char* p, const char* end) {
    if (p < end && *p == '\n') return 1;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') return 2;
    return 0;
}

// What is wrong with the line ending at p (which is neither CRLF nor LF). A CR not followed
// by LF is refused: RFC 9112 section 2.2 lets a recipient refuse it or read it as a space,
// and refusing leaves no head that a proxy reading it as a line end would split otherwise.
[[noreturn]] void bad_line_end(const char* p, const char* end, std::string_view where) {
    if (p >= end) throw HTTPInputError("request head not ended by an empty line");
    if (*p == '\r') throw HTTPInputError("bare CR in " + std::string(where));
    throw HTTPInputError("control character in " + std::string(where));
}

// The error paths of the request line. Each finds the words for what the step saw, so it may
// scan the rest of the line again; `line` is where the request line starts.

[[noreturn]] void bad_method(const char* line, const char* p, const char* end) {
    const char* line_end = static_cast<const char*>(std::memchr(line, '\n', end - line));
    std::string_view text(line, (line_end ? line_end : end) - line);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (p == line || (p < end && *p != ' ' && *p != '\r' && *p != '\n')) {
        throw HTTPInputError("malformed request line (method is not a token): " +
                             detail::quoted(text));
    }
    throw HTTPInputError("malformed request line: " + detail::quoted(text));
}

[[noreturn]] void bad_target(const char* line, const char* target, const char* p, const char* end) {
    if (p < end && *p == ' ') throw HTTPInputError("malformed request line: empty request target");
    if (p < end && (*p == '\r' || *p == '\n')) {
        throw HTTPInputError("malformed request line (no HTTP version): " +
                             detail::quoted(std::string_view(line, p - line)));
    }
    // The byte that stopped the target is shown with it (at the end of the head, that is
    // the NUL std::string keeps after its bytes).
    throw HTTPInputError("malformed request target: " +
                         detail::quoted(std::string_view(target, p + 1 - target)));
}

// Whatever follows the target, when it is not "HTTP/1.x" and a line end.
[[noreturn]] void bad_version_or_line_end(const char* version, const char* end) {
    const char* p = version;
    while (p < end && *p != '\r' && *p != '\n' && *p != ' ') ++p;
    if (p < end && *p == ' ') throw HTTPInputError("malformed request line: more than three parts");
    std::string_view seen(version, p - version);
    if (seen.size() == 8 && seen.starts_with("HTTP/1.") && is_digit(seen[7])) {
        bad_line_end(p, end, "the request line");
    }
    bad_version(seen);
}

// RFC 9112 section 2.2: a server should ignore at least one empty line before the request
// line (some old clients send a CRLF after a POST body). IOStream::read_until_empty_line
// ends the head at the first LF followed by an empty line, so from the server at most one
// blank line comes before the request line: two in a row are taken as the end of a head.
[[gnu::always_inline]] inline char* skip_blank_lines(char* p, const char* end) {
    while (std::size_t blank = line_end_size(p, end)) p += blank;
    return p;
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 section 3), each part
// ended by exactly one SP. The RFC lets a recipient split on any run of whitespace instead;
// refusing that keeps us seeing the same three parts as any stricter parser in front of us.

// The method: a token (RFC 9110 section 9.1), case-sensitive and not checked against a list:
// an unknown method is the application's to answer (RequestHandler says 405).
[[gnu::always_inline]] inline char* parse_method(char* p, const char* end, std::string& method) {
    const char* start = p;
    while (p < end && token_char(*p)) ++p;
    if (p == end || *p != ' ' || p == start) bad_method(start, p, end);
    method.assign(start, static_cast<std::size_t>(p - start));
    return p + 1;
}

// The target: the bytes up to the next SP, none of them a control character. Which form it
// has (origin, absolute, authority or "*", RFC 9112 section 3.2) is not checked: as in
// Tornado, the request keeps it as sent and splits off the query later. Bytes above 0x7f
// pass, as Tornado lets them. The search goes eight bytes at a time (skip_target_bytes);
// the skip_ helpers take const pointers because read-only callers share them, while the
// head itself is ours to write, hence the const_casts on their results here and below.
[[gnu::always_inline]] inline char* parse_target(const char* line, char* p, const char* end,
                                                 std::string& path) {
    const char* start = p;
    p = const_cast<char*>(skip_target_bytes(p, end));
    if (p == start || p == end || *p != ' ') bad_target(line, start, p, end);
    path.assign(start, static_cast<std::size_t>(p - start));
    return p + 1;
}

// HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3), then the line's end. The
// version is always 8 bytes, so the usual case is tested at fixed places, with no scan. Any
// minor version is taken: minor versions are backward compatible (RFC 9110 section 2.5).
[[gnu::always_inline]] inline char* parse_version(char* p, const char* end, std::string& version) {
    std::size_t line_end = end - p >= 8 ? line_end_size(p + 8, end) : 0;
    if (line_end == 0 || std::memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7])) {
        bad_version_or_line_end(p, end);
    }
    version.assign(p, 8);
    return p + 8 + line_end;
}

[[gnu::always_inline]] inline char* parse_request_line(char* p, const char* end,
                                                       RequestStartLine& line) {
    const char* start = p;
    p = parse_method(p, end, line.method);
    p = parse_target(start, p, end, line.path);
    return parse_version(p, end, line.version);
}

// The error paths of a header line.

// The name did not end in a colon right after at least one token character. Also where the
// head running out is noticed: the name loop stops at once at `end`.
[[noreturn]] void bad_field_name(const char* name, const char* p, const char* end) {
    if (name == end) throw HTTPInputError("request head not ended by an empty line");
    if (p == name && is_ows(*name)) {
        throw HTTPInputError(
            "obsolete line folding in the request head (a line starts with whitespace)");
    }
    if (p == name && (*p == '\r' || *p == '\n')) bad_line_end(p, end, "the request head");
    if (p == name && *p == ':') throw HTTPInputError("empty header name");
    const char* line_end = p;
    while (line_end < end && *line_end != '\r' && *line_end != '\n') ++line_end;
    std::string_view line(name, line_end - name);
    if (p < end && is_ows(*p)) {
        const char* after = p;
        while (after < end && is_ows(*after)) ++after;
        if (after < end && *after == ':') {
            throw HTTPInputError("whitespace between header name and colon: " +
                                 detail::quoted(line));
        }
    }
    if (line.find(':') == std::string_view::npos) {
        throw HTTPInputError("no colon in header line: " + detail::quoted(line));
    }
    throw HTTPInputError("header name is not a token: " +
                         detail::quoted(line.substr(0, line.find(':'))));
}

// The value stopped at a byte that is not a line end.
[[noreturn]] void bad_field_value(const char* name, const char* name_end, const char* p,
                                  const char* end) {
    std::string_view field_name(name, name_end - name);
    if (p < end && *p != '\r' && *p != '\n') {
        throw HTTPInputError("control character in the value of header " +
                             detail::quoted(field_name));
    }
    bad_line_end(p, end, "header " + std::string(field_name));
}

// field-name = token (RFC 9112 section 5, RFC 9110 section 5.6.2), rewritten in
// Http-Header-Case (Tornado's _normalize_header) while it is checked: lookups can then
// compare with a known spelling, and the name needs neither a second pass nor a copy.
// Returns where the name stops, which in a good line is its colon: RFC 9112 section 5.1
// says a server must refuse whitespace between a name and its colon.
[[gnu::always_inline]] inline char* read_field_name(char* p, const char* end) {
    bool word_start = true;
    while (p < end && token_char(*p)) {
        char c = *p;
        *p = word_start ? ascii_upper(c) : ascii_lower(c);
        word_start = c == '-';
        ++p;
    }
    return p;
}

[[gnu::always_inline]] inline char* skip_ows(char* p, const char* end) {
    while (p < end && is_ows(*p)) ++p;
    return p;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5): the OWS after the
// value is not part of it. Found by stepping back from the line end, since a value may hold
// spaces of its own.
[[gnu::always_inline]] inline const char* trim_trailing_ows(const char* value,
                                                            const char* value_end) {
    while (value_end > value && is_ows(value_end[-1])) --value_end;
    return value_end;
}

// --- Host (RFC 9112 section 3.2) --------------------------------------------------------------
//
// Which site a request asks for is, besides where it ends, what a proxy in front of us and
// we must read alike: a proxy that checks or routes a request by a Host it reads one way,
// and an application here that reads it another ("a.com, b.com", "a b", two Host lines),
// lets a request past the proxy's rules. So section 3.2's rules are kept as they are
// written, here with the rest of the head: an HTTP/1.1 request without Host, or with more
// than one, or with a value that is not uri-host [ ":" port ], is answered 400. An empty
// value passes (the RFC's for a target without an authority), and an HTTP/1.0 request may
// leave Host out. Tornado 6.2 checks none of these (it serves them all).

// The parts of a target in absolute-form with an http or https scheme (RFC 9112 section
// 3.2.2): "http://example.com:8080/x?y" is authority "example.com:8080" and rest "/x?y"
// (rest may be empty, or start with '?'). The scheme is case-insensitive (RFC 3986 section
// 3.1). Nothing for every other target: origin-form ("/x"), CONNECT's authority-form
// ("example.com:443"), asterisk-form ("*"), or another scheme. Also used by
// HTTPServerRequest, whose host and uri come from these parts.
struct AbsoluteTarget {
    std::string_view authority;
    std::string_view rest;
};

std::optional<AbsoluteTarget> split_absolute_form(std::string_view target) {
    std::size_t start = 0;
    if (target.size() >= 7 && detail::equals_ignoring_case(target.substr(0, 7), "http://")) {
        start = 7;
    } else if (target.size() >= 8 &&
               detail::equals_ignoring_case(target.substr(0, 8), "https://")) {
        start = 8;
    } else {
        return std::nullopt;
    }
    std::size_t authority_end = std::min(target.find_first_of("/?", start), target.size());
    return AbsoluteTarget{target.substr(start, authority_end - start),
                          target.substr(authority_end)};
}

// IP-literal's inside (RFC 3986 section 3.2.2): an IPv6address, which inet_pton reads (the
// forms of RFC 4291 that RFC 3986 lists; a zone ID is not one of them), or IPvFuture =
// "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ). Rare: off the hot path.
[[gnu::cold]] bool valid_ip_literal(std::string_view inside) {
    if (!inside.empty() && (inside[0] == 'v' || inside[0] == 'V')) {
        std::size_t i = 1;
        while (i < inside.size() && detail::hex_value(inside[i]) >= 0) ++i;
        if (i == 1 || i + 1 >= inside.size() || inside[i] != '.') return false;
        return std::all_of(inside.begin() + static_cast<std::ptrdiff_t>(i) + 1, inside.end(),
                           [](char c) { return reg_name_char(c) || c == ':'; });
    }
    char text[INET6_ADDRSTRLEN];  // the longest IPv6 text and its NUL
    if (inside.size() >= sizeof text || inside.find('\0') != std::string_view::npos) return false;
    std::memcpy(text, inside.data(), inside.size());
    text[inside.size()] = '\0';
    in6_addr address{};
    return ::inet_pton(AF_INET6, text, &address) == 1;
}

// Host = uri-host [ ":" port ] (RFC 9110 section 7.2), with RFC 3986's host (an IP-literal
// in brackets, or a reg-name, which IPv4address is a case of) and port = *DIGIT, read by
// the grammar. The usual Host values never come here: scan_host_value settles them as the
// head is read. This reads the others, and an absolute-form target's authority.
[[gnu::cold]] bool valid_host(std::string_view value) {
    const char* p = value.data();
    const char* const end = p + value.size();
    if (p < end && *p == '[') {
        const auto* close =
            static_cast<const char*>(std::memchr(p, ']', static_cast<std::size_t>(end - p)));
        if (close == nullptr ||
            !valid_ip_literal(std::string_view(p + 1, static_cast<std::size_t>(close - p - 1)))) {
            return false;
        }
        p = close + 1;
    } else {
        for (;;) {
            while (p < end && reg_name_char(*p)) ++p;
            // pct-encoded = "%" HEXDIG HEXDIG
            if (end - p < 3 || *p != '%' || detail::hex_value(p[1]) < 0 ||
                detail::hex_value(p[2]) < 0) {
                break;
            }
            p += 3;
        }
    }
    if (p < end && *p == ':') {
        ++p;
        while (p < end && is_digit(*p)) ++p;
    }
    return p == end;
}

// The value of a Host line, read where the head's other values are read with
// skip_value_bytes: reg-name characters, then perhaps ':' and digits. `valid` when that
// reaches the line end: the usual value ("example.com", "127.0.0.1:8888") is then known
// good in the one pass over its bytes, with no second look. Any other byte (a space, '%',
// '[', a second ':') stops it short, not valid yet: skip_value_bytes reads on from there
// as for any value, and valid_host's grammar decides after the empty line. No bounds
// test a byte: the head ends in a line end, or at the NUL std::string keeps after it,
// and neither is a reg-name character or a digit.
[[gnu::always_inline]] inline char* scan_host_value(char* p, const char* end, bool& valid) {
    while (reg_name_char(*p)) ++p;
    if (*p == ':') {
        ++p;
        while (is_digit(*p)) ++p;
    }
    valid = p < end && (*p == '\r' || *p == '\n');
    return p;
}

[[noreturn]] void bad_host(std::string_view value) {
    throw HTTPInputError("invalid Host header: " + detail::quoted(value));
}

// A target in absolute-form ("http://example.com/x", RFC 9112 section 3.2.2) names its
// host itself, and that is the one the request is for (the server ignores Host's value):
// the authority is held to Host's rules, with a host in it (RFC 9110 section 4.2.1 refuses
// an http URI whose host is empty). The Host line is still required and checked: section
// 3.2's rules are about the message, whatever its target. Called for a target that does
// not start with '/' (origin-form, every ordinary request, does).
[[gnu::cold]] void check_target_authority(std::string_view target) {
    std::optional<AbsoluteTarget> absolute = split_absolute_form(target);
    if (!absolute) return;  // "*", CONNECT's authority-form, or another scheme
    std::string_view authority = absolute->authority;
    if (authority.empty() || authority[0] == ':' || !valid_host(authority)) {
        throw HTTPInputError("invalid authority in the request target: " + detail::quoted(target));
    }
}

// Section 3.2's rules, after the empty line (only then is "no Host" known). A version is 8
// bytes ("HTTP/1.x") and a target at least one, both checked by parse_request_line.
[[gnu::always_inline]] inline void check_host(const HeadParser::HostLines& host,
                                              const RequestStartLine& line) {
    if (host.count == 1) {
        if (!host.valid && !valid_host(host.value)) bad_host(host.value);
    } else if (host.count > 1) {
        throw HTTPInputError("more than one Host header");
    } else if (line.version[7] != '0') {
        throw HTTPInputError("no Host header in an HTTP/1.1 request");
    }
    if (line.path[0] != '/') check_target_authority(line.path);
}

// After the empty line. Nothing may follow it: from the server nothing can (the stream stops
// at the first empty line), but a direct caller could pass a body along. The slots hold
// 32-bit offsets, so a head past 4 GiB cannot be recorded (431); the server's
// max_header_size refuses far smaller heads long before. Then Host's rules (check_host).
[[gnu::always_inline]] inline void check_head_end(const char* p, const char* end,
                                                  const HeadParser::HostLines& host,
                                                  const RequestStartLine& line, std::size_t size) {
    if (p != end) throw HTTPInputError("bytes after the end of the request head");
    if (size > std::numeric_limits<std::uint32_t>::max())
        throw HTTPInputError(431, "request head too large");
    check_host(host, line);
}

}  // namespace

// One header line, "Name: value" and its line end; returns the start of the next line.
// `begin` is the head's first byte, from which the offsets are counted.
char* HeadParser::parse_field_line(const char* begin, char* p, const char* end,
                                   HTTPHeaders& headers, HostLines& host) {
    char* name = p;
    p = read_field_name(p, end);
    if (p == end || *p != ':' || p == name) bad_field_name(name, p, end);
    const char* name_end = p;
    // The name is in Http-Header-Case already, so one memcmp finds every spelling of Host.
    const bool is_host = name_end - name == 4 && std::memcmp(name, "Host", 4) == 0;

    // The value: no control character but HTAB (RFC 9110 section 5.5 asks a recipient to
    // refuse or replace CR, LF and NUL; the other controls and DEL are invalid too, though
    // the RFC lets a recipient keep them: refusing is the simpler rule to reason about).
    // Bytes above 0x7f (obs-text) pass.
    // skip_value_bytes goes eight bytes at a time and stops at the line end. Host's value
    // is read by scan_host_value first, which checks it on the way.
    const char* value = p = skip_ows(p + 1, end);
    if (is_host) [[unlikely]]
        p = scan_host_value(p, end, host.valid);
    p = const_cast<char*>(skip_value_bytes(p, end));
    std::size_t line_end = line_end_size(p, end);
    if (line_end == 0) bad_field_value(name, name_end, p, end);
    const char* value_end = trim_trailing_ows(value, p);

    // Recorded as offsets into the head, which the headers adopt at the end: no copy.
    HTTPHeaders::Slot slot{};
    slot.name_at = static_cast<std::uint32_t>(name - begin);
    slot.name_size = static_cast<std::uint32_t>(name_end - name);
    slot.value_at = static_cast<std::uint32_t>(value - begin);
    slot.value_size = static_cast<std::uint32_t>(value_end - value);
    headers.fields_.push_back(slot);
    if (is_host) {
        ++host.count;
        host.value = std::string_view(value, static_cast<std::size_t>(value_end - value));
    }
    return p + line_end;
}

// The head is taken by rvalue so that the headers can keep its buffer, which the names were
// normalised in and the slots point into.
RequestHead HeadParser::parse(std::string&& head) {
    RequestHead result;
    char* const begin = head.data();
    const char* const end = begin + head.size();

    char* p = skip_blank_lines(begin, end);
    p = parse_request_line(p, end, result.start_line);

    // Room for 16 fields in one allocation: a browser sends about a dozen, and growing
    // from empty would allocate five times on the way.
    HTTPHeaders& headers = result.headers;
    headers.fields_.reserve(16);
    HostLines host;
    for (;;) {
        if (std::size_t empty_line = line_end_size(p, end)) {
            p += empty_line;
            break;
        }
        p = parse_field_line(begin, p, end, headers, host);
    }
    check_head_end(p, end, host, result.start_line, head.size());
    headers.text_ = std::move(head);
    return result;
}

RequestHead parse_request_head(std::string head) { return HeadParser::parse(std::move(head)); }

// --- where a body ends ------------------------------------------------------------------------

namespace {

// Calls f(item) for each comma-separated item of every `name` field. A list
// split over several field lines is the same list as one line with commas
// (RFC 9110 section 5.3), so both are read the same way.
template <typename F>
void for_each_list_item(const HTTPHeaders& headers, std::string_view name, F&& f) {
    for (HTTPHeaders::Field field : headers) {
        if (equals_ignoring_case(field.name, name)) detail::for_each_item(field.value, f);
    }
}

}  // namespace

// RFC 9112 section 6.3 decides where a body ends. Both fields at once is
// refused outright: the RFC lets Transfer-Encoding win, but a proxy that let
// Content-Length win would end the body elsewhere and take the rest for the
// next request (request smuggling, RFC 9112 section 11.2). Tornado refuses
// it too (its message always says "Response"; here the caller names the kind).
BodyFraming parse_body_framing(const HTTPHeaders& headers, std::string_view message) {
    BodyFraming framing;
    framing.content_length = parse_content_length(headers);
    if (!headers.contains("Transfer-Encoding")) return framing;
    if (framing.content_length) {
        throw HTTPInputError(std::string(message) +
                             " with both Transfer-Encoding and Content-Length");
    }
    // Only "chunked" alone: with a coding before it we could not undo, we
    // would not know what the body is, only where it ends. RFC 9112 section
    // 6.1 suggests 501 for a coding a server does not know; this answers 400
    // for every refused Transfer-Encoding, one rule for requests and responses.
    int codings = 0;
    bool chunked = false;
    for_each_list_item(headers, "Transfer-Encoding", [&](std::string_view item) {
        ++codings;
        chunked = equals_ignoring_case(item, "chunked");
    });
    if (codings != 1 || !chunked) {
        throw HTTPInputError("Unsupported Transfer-Encoding " +
                             detail::quoted(headers.get("Transfer-Encoding")));
    }
    framing.chunked = true;
    return framing;
}

// Content-Length = 1*DIGIT (RFC 9110 section 8.6). Tornado uses Python's
// int(), which also takes a sign, spaces and "1_000"; none of those is HTTP,
// and a proxy might read them otherwise. Saturates instead of wrapping, so a
// huge length is refused by the body limit, not read as a small one.
std::optional<std::uint64_t> parse_content_length_value(std::string_view value) noexcept {
    if (value.empty()) return std::nullopt;
    constexpr std::uint64_t kLargest = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t length = 0;
    for (char c : value) {  // one pass: every response with a length comes here
        if (!is_digit(c)) return std::nullopt;
        auto digit = static_cast<std::uint64_t>(c - '0');
        length = length > (kLargest - digit) / 10 ? kLargest : length * 10 + digit;
    }
    return length;
}

// Every item of every Content-Length field must be the same number: RFC 9110
// section 8.6 lets a recipient accept "42, 42" (proxies make such lists) and
// Tornado does, but two different lengths leave the body's end ambiguous.
std::optional<std::uint64_t> parse_content_length(const HTTPHeaders& headers) {
    std::optional<std::uint64_t> length;
    for_each_list_item(headers, "Content-Length", [&](std::string_view item) {
        std::optional<std::uint64_t> value = parse_content_length_value(item);
        if (!value) {
            throw HTTPInputError("Only integer Content-Length is allowed: " +
                                 detail::quoted(headers.get("Content-Length")));
        }
        if (length && *length != *value) {
            throw HTTPInputError("Multiple unequal Content-Lengths: " +
                                 detail::quoted(headers.get("Content-Length")));
        }
        length = value;
    });
    return length;
}

// The line chunk-size [ chunk-ext ] CRLF that starts each chunk (RFC 9112
// section 7.1), with chunk-size = 1*HEXDIG. Tornado's int(x, 16) would also take "0x5", a sign
// or spaces; like Content-Length above, the size of a chunk is where a
// message ends, so only hex digits count. The size may not pass 64 bits.
std::uint64_t parse_chunk_size(std::string_view line) {
    if (line.ends_with("\r\n")) line.remove_suffix(2);
    auto invalid = [&] { return HTTPInputError("invalid chunk size: " + detail::quoted(line)); };
    std::uint64_t size = 0;
    std::size_t digits = 0;
    for (; digits < line.size(); ++digits) {
        int digit = detail::hex_value(line[digits]);
        if (digit < 0) break;
        if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) throw invalid();
        size = size * 16 + static_cast<std::uint64_t>(digit);
    }
    if (digits == 0) throw invalid();
    std::string_view extensions = line.substr(digits);
    if (extensions.empty()) return size;
    // The extensions are ignored, but they must be extensions: ";" after
    // optional whitespace, and no control character but tab, as in a
    // header value (a bare CR or LF in them would let two parsers disagree
    // on where the line ends).
    std::size_t semicolon = extensions.find_first_not_of(" \t");
    const char* end = extensions.data() + extensions.size();
    if (semicolon == std::string_view::npos || extensions[semicolon] != ';' ||
        skip_value_bytes(extensions.data(), end) != end) {
        throw invalid();
    }
    return size;
}

// --- start lines ----------------------------------------------------------------------------

// Tornado's parse_request_start_line checks only the three parts and the
// version; this one applies the rules of the head parser to each part as
// well (a token method, a target without controls), so a line it accepts is
// one the server would. It is the line-by-line API: the server itself uses
// HeadParser.
RequestStartLine parse_request_start_line(std::string_view line) {
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
        throw HTTPInputError("malformed HTTP request line: " + detail::quoted(line));
    }
    RequestStartLine result{std::string(line.substr(0, first)),
                            std::string(line.substr(first + 1, second - first - 1)),
                            std::string(line.substr(second + 1))};
    if (!is_token(result.method)) {
        throw HTTPInputError("malformed HTTP request line (method is not a token): " +
                             detail::quoted(line));
    }
    if (result.path.empty() || std::any_of(result.path.begin(), result.path.end(), [](char c) {
            auto byte = static_cast<unsigned char>(c);
            return byte < 0x20 || byte == 0x7f;
        })) {
        throw HTTPInputError("malformed request target: " + detail::quoted(result.path));
    }
    const std::string& v = result.version;
    if (!(v.size() == 8 && v.starts_with("HTTP/1.") && is_digit(v[7]))) bad_version(v);
    return result;
}

// For the client. status-line = HTTP-version SP status-code SP [reason]
// (RFC 9112 section 4), status-code = 3DIGIT. Tornado matches
// (HTTP/1.[0-9]) ([0-9]+) ([^\r]*) from the start of the line; this differs
// in three small ways: the '.' must be a dot (the expression's '.' takes
// any byte), the code is exactly three digits ("HTTP/1.1 2000" is no 200,
// nor anything else), and a line with no space after the code ("HTTP/1.1
// 200") is taken: the reason carries nothing a client needs (RFC 9112
// section 4 asks a client to ignore it).
ResponseStartLine parse_response_start_line(std::string_view line) {
    if (line.size() < 12 || !line.starts_with("HTTP/1.") || !is_digit(line[7]) || line[8] != ' ' ||
        !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
        (line.size() > 12 && line[12] != ' ')) {
        throw HTTPInputError("Error parsing response start line: " + detail::quoted(line));
    }
    int code = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    std::string_view reason = line.size() > 12 ? line.substr(13) : std::string_view();
    if (reason.find('\r') != std::string_view::npos) reason = reason.substr(0, reason.find('\r'));
    return ResponseStartLine{std::string(line.substr(0, 8)), code, std::string(reason)};
}

// --- query strings --------------------------------------------------------------------------

namespace {

// Python's parse_qsl, which Tornado's parse_qs_bytes calls: fields split on
// '&' only (';' stopped being a separator in Python 3.10, since a cache and a
// server that disagreed on it could see different arguments), empty fields
// skipped, the name and value decoded separately. Without keep_blank_values,
// "a" and "a=" are dropped; with it (what Tornado passes for queries and
// forms), both give "". A template, so parse_qsl and parse_qs_bytes each get
// their sink inlined.
template <typename Sink>
void for_each_query_field(std::string_view query, bool keep_blank_values, Sink&& sink) {
    detail::for_each_part(query, '&', [&](std::string_view field) {
        if (field.empty()) return;
        std::size_t equals = field.find('=');
        std::string_view raw_name = field.substr(0, equals);
        std::string_view raw_value =
            equals == std::string_view::npos ? std::string_view() : field.substr(equals + 1);
        if (equals == std::string_view::npos && !keep_blank_values) return;
        if (raw_value.empty() && !keep_blank_values) return;
        std::string name;
        std::string value;
        detail::append_percent_decoded(name, raw_name, true);
        detail::append_percent_decoded(value, raw_value, true);
        sink(std::move(name), std::move(value));
    });
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_qsl(std::string_view query,
                                                           bool keep_blank_values) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for_each_query_field(query, keep_blank_values, [&](std::string name, std::string value) {
        pairs.emplace_back(std::move(name), std::move(value));
    });
    return pairs;
}

// Repeated names collect their values in order; OrderedMap keeps the names in
// the order they first came, as the dict Python builds.
ArgumentMap parse_qs_bytes(std::string_view query, bool keep_blank_values) {
    ArgumentMap arguments;
    for_each_query_field(query, keep_blank_values, [&](std::string name, std::string value) {
        arguments[name].push_back(std::move(value));
    });
    return arguments;
}

// As Tornado's url_concat, through urlparse and urlunparse: the fragment is
// split off first (a '?' after '#' belongs to the fragment), then the query.
// The old query is decoded (parse_qsl, blank values kept) and re-encoded with
// the new arguments (urlencode), so its spelling may change ("a=%7e" comes
// back as "a=~", "a" as "a="), as in Tornado. An empty query or fragment
// loses its '?' or '#'.
std::string url_concat(std::string_view url,
                       const std::vector<std::pair<std::string, std::string>>& args) {
    std::size_t hash = url.find('#');
    std::string_view fragment =
        hash == std::string_view::npos ? std::string_view() : url.substr(hash + 1);
    std::string_view before_fragment = url.substr(0, hash);
    std::size_t question = before_fragment.find('?');
    std::string_view base = before_fragment.substr(0, question);
    std::string_view query = question == std::string_view::npos
                                 ? std::string_view()
                                 : before_fragment.substr(question + 1);

    std::vector<std::pair<std::string, std::string>> all = parse_qsl(query, true);
    all.insert(all.end(), args.begin(), args.end());
    std::string out(base);
    for (std::size_t i = 0; i < all.size(); ++i) {
        out += i == 0 ? '?' : '&';
        detail::append_percent_encoded(out, all[i].first, detail::is_unreserved, true);
        out += '=';
        detail::append_percent_encoded(out, all[i].second, detail::is_unreserved, true);
    }
    if (!fragment.empty()) {
        out += '#';
        out.append(fragment);
    }
    return out;
}

// --- Content-Type-like headers (Tornado's _parse_header) --------------------------------------
//
// "form-data; name=\"a\"; filename*=UTF-8''%e2%82%ac" -> {"form-data", {name: a, filename:
// the euro sign, in UTF-8}}.
// Tornado splits the parameters itself (_parseparam) and hands them to
// email.utils.decode_params and collapse_rfc2231_value; the three helpers
// below do the same work directly. The multipart parser reads each part's
// Content-Disposition with it.

namespace {

// Splits on ';' outside double quotes (a quote escaped by a backslash does
// not count), each part stripped: a filename may hold a ';' inside its
// quotes. One left-to-right pass, so a line full of quotes and semicolons
// costs linear time (Tornado's _parseparam was changed to avoid quadratic
// time on such lines). Always at least one part, the main value.
std::vector<std::string_view> split_params(std::string_view line) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    bool in_quotes = false;
    for (std::size_t i = 0; i <= line.size(); ++i) {
        if (i < line.size()) {
            char c = line[i];
            if (c == '\\' && in_quotes && i + 1 < line.size()) {
                ++i;
                continue;
            }
            if (c == '"') in_quotes = !in_quotes;
            if (c != ';' || in_quotes) continue;
        }
        parts.push_back(strip(line.substr(start, i - start)));
        start = i + 1;
    }
    return parts;
}

// email.utils.unquote: "\"a\\\"b\"" -> a"b; <x> -> x. Python undoes the two
// escapes with two replace() passes, this in one scan; they differ only on
// an escaped backslash right before a quote (\\\"), which Python reads as
// two escapes in a row and this as one backslash then a quote.
std::string email_unquote(std::string_view value) {
    if (value.size() > 1 && value.front() == '"' && value.back() == '"') {
        std::string out;
        std::string_view inner = value.substr(1, value.size() - 2);
        for (std::size_t i = 0; i < inner.size(); ++i) {
            if (inner[i] == '\\' && i + 1 < inner.size() &&
                (inner[i + 1] == '\\' || inner[i + 1] == '"')) {
                out += inner[++i];
            } else {
                out += inner[i];
            }
        }
        return out;
    }
    if (value.size() > 1 && value.front() == '<' && value.back() == '>') {
        return std::string(value.substr(1, value.size() - 2));
    }
    return std::string(value);
}

// RFC 2231 "charset'language'%xx..." to UTF-8 (UTF-8 and ASCII as they are;
// ISO-8859-1 transcoded; any other charset left as raw bytes). HTTP uses this
// form for non-ASCII filenames (RFC 8187 and RFC 6266 section 4.3). Python
// decodes any charset it knows and replaces bad bytes with U+FFFD; here
// invalid UTF-8 passes through unchanged, and only the usual spellings of
// ISO-8859-1 are recognised. Without the two quotes the value is kept as is.
std::string decode_rfc2231(const std::string& joined) {
    std::size_t first = joined.find('\'');
    std::size_t second = first == std::string::npos ? first : joined.find('\'', first + 1);
    if (second == std::string::npos) return joined;
    std::string charset = joined.substr(0, first);
    std::string value = joined.substr(second + 1);
    std::string lower;
    for (char c : charset) lower += ascii_lower(c);
    if (lower == "iso-8859-1" || lower == "latin-1" || lower == "latin1") {
        std::string utf8;
        for (char c : value) append_utf8(utf8, static_cast<unsigned char>(c));
        return utf8;
    }
    return value;
}

// RFC 2231 parameters (name*, name*0, name*1*, ...), collected per name
// while a header value is parsed, and joined once it is all read: the
// continuations may come in any order (RFC 2231 section 3).
class ExtendedParameters {
public:
    // Takes `name=raw` if the name is an RFC 2231 one, and says whether it
    // did. A trailing '*' marks a percent-encoded segment (section 4), digits
    // a continuation's number (section 3). An encoded segment is
    // percent-decoded now (to bytes, '+' kept), as Python does for each
    // segment before joining.
    bool take(std::string_view name, std::string_view raw) {
        std::size_t star = name.find('*');
        if (star == std::string_view::npos || star == 0) return false;
        std::string_view rest = name.substr(star + 1);
        bool encoded = name.back() == '*';
        std::string_view digits = encoded && !rest.empty() ? rest.substr(0, rest.size() - 1) : rest;
        bool valid = std::all_of(digits.begin(), digits.end(), is_digit) && digits.size() < 6;
        if (!valid) return false;
        int number = 0;
        for (char c : digits) number = number * 10 + (c - '0');
        std::string value = email_unquote(raw);
        if (encoded) {
            std::string decoded;
            detail::append_percent_decoded(decoded, value, false);
            value = std::move(decoded);
        }
        segments_of(name.substr(0, star)).push_back({number, std::move(value), encoded});
        return true;
    }

    // Sorted by number, stably so that equal numbers keep the order they
    // came in. Only when some segment was encoded does the joined value
    // carry the charset'language' prefix to decode. Set last, so that name*
    // wins over a plain name (as in Tornado).
    void join_into(OrderedMap<std::string>& params) {
        for (auto& [name, segments] : by_name_) {
            std::stable_sort(segments.begin(), segments.end(),
                             [](const auto& a, const auto& b) { return a.number < b.number; });
            std::string joined;
            bool any_encoded = false;
            for (const Segment& segment : segments) {
                joined += segment.value;
                any_encoded = any_encoded || segment.encoded;
            }
            params.erase(name);
            params[name] = any_encoded ? decode_rfc2231(joined) : joined;
        }
    }

private:
    struct Segment {
        int number;
        std::string value;
        bool encoded;
    };

    std::vector<Segment>& segments_of(std::string_view base) {
        auto it = std::find_if(by_name_.begin(), by_name_.end(),
                               [&](const auto& entry) { return entry.first == base; });
        if (it != by_name_.end()) return it->second;
        return by_name_.emplace_back(std::string(base), std::vector<Segment>()).second;
    }

    // A vector, not a map: the names keep the order they came in.
    std::vector<std::pair<std::string, std::vector<Segment>>> by_name_;
};

}  // namespace

// Parameter names are lowered (they are case-insensitive, RFC 9110 section
// 5.6.6); a part without '=' is skipped, as in Tornado. A repeated name keeps
// its last value.
std::pair<std::string, OrderedMap<std::string>> parse_header_value(std::string_view line) {
    std::vector<std::string_view> parts = split_params(line);
    std::pair<std::string, OrderedMap<std::string>> result;
    result.first = std::string(parts.front());
    ExtendedParameters extended;
    for (std::size_t i = 1; i < parts.size(); ++i) {
        std::size_t equals = parts[i].find('=');
        if (equals == std::string_view::npos) continue;
        std::string name;
        for (char c : strip(parts[i].substr(0, equals))) name += ascii_lower(c);
        std::string_view raw = strip(parts[i].substr(equals + 1));
        if (!extended.take(name, raw)) result.second[name] = email_unquote(raw);
    }
    extended.join_into(result.second);
    return result;
}

// --- bodies ------------------------------------------------------------------------------------

// Tornado's parse_body_arguments. The type is matched by prefix and case, as
// Tornado does ("multipart/form-data; boundary=..." matches; "Multipart/..."
// does not, and such a body is left unparsed). A Content-Encoding still
// present means the body is compressed bytes we were not asked to undo
// (decompress_request removes the field when it inflates), so it is refused
// rather than parsed as garbage. Errors from the multipart parser get
// Tornado's "Invalid multipart/form-data: " prefix.
void parse_body_arguments(std::string_view content_type, std::string_view body,
                          ArgumentMap& arguments, FileMap& files, const HTTPHeaders* headers) {
    bool form = content_type.starts_with("application/x-www-form-urlencoded");
    bool multipart = content_type.starts_with("multipart/form-data");
    if (!form && !multipart) return;
    if (headers != nullptr && headers->contains("Content-Encoding")) {
        throw HTTPInputError("Unsupported Content-Encoding: " +
                             detail::quoted(headers->get("Content-Encoding")));
    }
    if (form) {
        for_each_query_field(body, true, [&](std::string name, std::string value) {
            arguments[name].push_back(std::move(value));
        });
        return;
    }
    // The boundary parameter, as Tornado finds it: split on ';', each part
    // stripped and split at its first '='; the name must be exactly
    // "boundary" and the value not empty.
    try {
        std::size_t start = 0;
        while (start <= content_type.size()) {
            std::size_t semicolon = content_type.find(';', start);
            if (semicolon == std::string_view::npos) semicolon = content_type.size();
            std::string_view field = strip(content_type.substr(start, semicolon - start));
            start = semicolon + 1;
            std::size_t equals = field.find('=');
            if (equals == std::string_view::npos) continue;
            if (field.substr(0, equals) == "boundary" && equals + 1 < field.size()) {
                parse_multipart_form_data(field.substr(equals + 1), body, arguments, files);
                return;
            }
        }
        throw HTTPInputError("multipart boundary not found");
    } catch (const HTTPInputError& error) {
        throw HTTPInputError(std::string("Invalid multipart/form-data: ") + error.what());
    }
}

// multipart/form-data (RFC 7578) with Tornado's algorithm, which is not a
// streaming parser: the last "--boundary--" ends the body (RFC 2046 section
// 5.1.1's close delimiter); what comes before it is split on
// "--boundary\r\n". Each part is headers, an empty line, then the value,
// whose last two bytes are the CRLF that belongs to the next delimiter (RFC
// 2046 5.1.1). A preamble before the first delimiter is taken as a part
// like the others, so one that is not empty is refused (usually for
// "missing headers"), as in Tornado. Beyond Tornado: an empty boundary is refused (RFC 2046 asks
// for 1 to 70 characters), and so is a part too short to hold both its blank line and that final
// CRLF, where Tornado's slice would give an empty value.
void parse_multipart_form_data(std::string_view boundary, std::string_view data,
                               ArgumentMap& arguments, FileMap& files) {
    // A quoted boundary is unquoted (RFC 2046 lets a boundary be a
    // quoted-string); backslash escapes are not undone, as in Tornado.
    if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
        boundary = boundary.substr(1, boundary.size() - 2);
    }
    if (boundary.empty()) throw HTTPInputError("empty multipart boundary");
    std::string final_boundary = "--" + std::string(boundary) + "--";
    std::size_t final_at = data.rfind(final_boundary);
    if (final_at == std::string_view::npos) throw HTTPInputError("no final boundary found");
    std::string separator = "--" + std::string(boundary) + "\r\n";
    std::string_view rest = data.substr(0, final_at);
    std::size_t start = 0;
    while (start <= rest.size()) {
        std::size_t next = rest.find(separator, start);
        std::string_view part = rest.substr(
            start, next == std::string_view::npos ? std::string_view::npos : next - start);
        start = next == std::string_view::npos ? rest.size() + 1 : next + separator.size();
        if (part.empty()) continue;

        std::size_t eoh = part.find("\r\n\r\n");
        if (eoh == std::string_view::npos)
            throw HTTPInputError("multipart/form-data missing headers");
        // The part's headers go through the lenient line parser: they are
        // the client's form data, not the framing of the connection.
        HTTPHeaders part_headers = HTTPHeaders::parse(part.substr(0, eoh));
        auto [disposition, params] = parse_header_value(part_headers.get("Content-Disposition"));
        if (disposition != "form-data" || !part.ends_with("\r\n") || part.size() < eoh + 4 + 2) {
            throw HTTPInputError("Invalid multipart/form-data");
        }
        std::string_view value = part.substr(eoh + 4, part.size() - eoh - 4 - 2);
        const std::string* name = params.find_value("name");
        if (name == nullptr || name->empty())
            throw HTTPInputError("multipart/form-data missing name");
        // A part with a non-empty filename is a file; its Content-Type
        // defaults to "application/unknown", Tornado's choice.
        const std::string* filename = params.find_value("filename");
        if (filename != nullptr && !filename->empty()) {
            files[*name].push_back(HTTPFile{*filename,
                                            part_headers.get("Content-Type", "application/unknown"),
                                            std::string(value)});
        } else {
            arguments[*name].emplace_back(value);
        }
    }
}

// --- dates ------------------------------------------------------------------------------------

namespace {

constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Writes the 29 bytes of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", the
// one form a sender may use (RFC 9110 section 5.6.7) and what Tornado's
// format_timestamp gets from email.utils.formatdate(usegmt=True). The names
// are English whatever the locale, so no strftime; gmtime_r, not gmtime,
// because gmtime's result lives in a buffer that other threads share.
void write_http_date(char* out, std::time_t when) {
    std::tm utc{};
    ::gmtime_r(&when, &utc);
    auto two = [](char* at, int n) {
        at[0] = static_cast<char>('0' + n / 10);
        at[1] = static_cast<char>('0' + n % 10);
    };
    std::memcpy(out, kDays[static_cast<std::size_t>(utc.tm_wday)].data(), 3);
    out[3] = ',';
    out[4] = ' ';
    two(out + 5, utc.tm_mday);
    out[7] = ' ';
    std::memcpy(out + 8, kMonths[static_cast<std::size_t>(utc.tm_mon)].data(), 3);
    out[11] = ' ';
    int year = utc.tm_year + 1900;
    two(out + 12, (year / 100) % 100);
    two(out + 14, year % 100);
    out[16] = ' ';
    two(out + 17, utc.tm_hour);
    out[19] = ':';
    two(out + 20, utc.tm_min);
    out[22] = ':';
    two(out + 23, utc.tm_sec);
    std::memcpy(out + 25, " GMT", 4);
}

// 0 for "Jan" to 11 for "Dec" (struct tm's tm_mon), -1 for anything else.
// Case-sensitive: the three date forms spell them so.
int month_number(std::string_view name) {
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
        if (kMonths[i] == name) return static_cast<int>(i);
    }
    return -1;
}

// One to four ASCII digits (a day, an hour, a year); nothing else, no sign.
bool parse_number(std::string_view text, int& out) {
    if (text.empty() || text.size() > 4) return false;
    out = 0;
    for (char c : text) {
        if (!is_digit(c)) return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

// "HH:MM:SS", each field two digits in range; 60 seconds is a leap second.
bool parse_clock(std::string_view text, std::tm& tm) {
    return text.size() == 8 && text[2] == ':' && text[5] == ':' &&
           parse_number(text.substr(0, 2), tm.tm_hour) &&
           parse_number(text.substr(3, 2), tm.tm_min) &&
           parse_number(text.substr(6, 2), tm.tm_sec) && tm.tm_hour < 24 && tm.tm_min < 60 &&
           tm.tm_sec <= 60;
}

// Words between runs of spaces: asctime pads a one-digit day with a second
// space ("Nov  6").
std::vector<std::string_view> split_spaces(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        std::size_t start = i;
        while (i < text.size() && text[i] != ' ') ++i;
        if (i > start) words.push_back(text.substr(start, i - start));
    }
    return words;
}

// The text of the last second asked for, kept per thread: formatting
// (gmtime_r most of it) is skipped while the same second comes back.
class CachedHTTPDate {
public:
    std::string_view at(std::time_t when) {
        if (second_ != when) {
            write_http_date(text_, when);
            second_ = when;
        }
        return {text_, sizeof text_};
    }

private:
    std::optional<std::time_t> second_;  // none yet (-1 is a time too)
    char text_[29] = {};
};

}  // namespace

// Each caller keeps its own: StaticFileHandler's Last-Modified asks for the
// file's time on every answer, which the Date's clock would push out.
std::string format_timestamp(std::time_t when) {
    thread_local CachedHTTPDate last;
    return std::string(last.at(when));
}

std::string format_timestamp(std::chrono::system_clock::time_point when) {
    return format_timestamp(
        std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(when)));
}

// The three forms a recipient must accept (RFC 9110 section 5.6.7), told
// apart by their number of words. For If-Modified-Since (StaticFileHandler);
// Tornado uses email.utils.parsedate there, which takes more forms. The
// weekday is not checked (a wrong one does not make the date ambiguous), nor
// the day against its month: timegm carries "Feb 30" over into March.
std::optional<std::time_t> parse_http_date(std::string_view text) {
    text = strip(text);
    std::vector<std::string_view> words = split_spaces(text);
    std::tm tm{};
    if (words.size() == 6 && words[0].size() == 4 && words[0].back() == ',' && words[5] == "GMT") {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        int year = 0;
        tm.tm_mon = month_number(words[2]);
        if (!parse_number(words[1], tm.tm_mday) || tm.tm_mon < 0 || words[3].size() != 4 ||
            !parse_number(words[3], year) || !parse_clock(words[4], tm)) {
            return std::nullopt;
        }
        tm.tm_year = year - 1900;
    } else if (words.size() == 4 && words[0].ends_with(',') && words[3] == "GMT") {
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        std::string_view date = words[1];
        int year = 0;
        if (date.size() != 9 || date[2] != '-' || date[6] != '-' ||
            !parse_number(date.substr(0, 2), tm.tm_mday) ||
            !parse_number(date.substr(7, 2), year) || !parse_clock(words[2], tm)) {
            return std::nullopt;
        }
        tm.tm_mon = month_number(date.substr(3, 3));
        if (tm.tm_mon < 0) return std::nullopt;
        // Two-digit years: 70 to 99 are 19xx, 00 to 69 are 20xx, a fixed
        // window that starts where time_t does (Python's email.utils starts
        // it at 69). RFC 9110 section 5.6.7 asks instead for a window that
        // slides with today's date, at most 50 years ahead; the two differ
        // only on the first few years past 70 (197x here, 207x there).
        tm.tm_year = year < 70 ? year + 100 : year;
    } else if (words.size() == 5) {
        // asctime: Sun Nov  6 08:49:37 1994 (no zone: it is UTC by definition)
        int year = 0;
        tm.tm_mon = month_number(words[1]);
        if (tm.tm_mon < 0 || !parse_number(words[2], tm.tm_mday) || !parse_clock(words[3], tm) ||
            words[4].size() != 4 || !parse_number(words[4], year)) {
            return std::nullopt;
        }
        tm.tm_year = year - 1900;
    } else {
        return std::nullopt;
    }
    if (tm.tm_mday < 1 || tm.tm_mday > 31) return std::nullopt;
    return ::timegm(&tm);
}

// Every response carries a Date (RFC 9110 section 6.6.1), and the text only
// changes once a second: each thread keeps the last one and formats again
// when time() moves on. thread_local, so threads share no lock.
std::string_view http_date_now() {
    thread_local CachedHTTPDate now;
    return now.at(::time(nullptr));
}

// --- cookies, hosts, ranges ---------------------------------------------------------------------

namespace {

// http.cookies._unquote: "\"a\\073b\"" -> a;b. Only a value in double
// quotes is unescaped: \NNN (octal, 000 to 377) is that code point, written
// as UTF-8 (see append_utf8), and a backslash before anything else is
// dropped. Python's pattern does not match a backslash before a newline; a
// parsed header cannot hold one, so the difference is never seen.
std::string unquote_cookie(std::string_view value) {
    if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
    std::string_view inner = value.substr(1, value.size() - 2);
    std::string out;
    for (std::size_t i = 0; i < inner.size(); ++i) {
        if (inner[i] != '\\' || i + 1 >= inner.size()) {
            out += inner[i];
            continue;
        }
        bool octal = i + 3 < inner.size() && inner[i + 1] >= '0' && inner[i + 1] <= '3' &&
                     inner[i + 2] >= '0' && inner[i + 2] <= '7' && inner[i + 3] >= '0' &&
                     inner[i + 3] <= '7';
        if (octal) {
            unsigned code = static_cast<unsigned>((inner[i + 1] - '0') * 64 +
                                                  (inner[i + 2] - '0') * 8 + (inner[i + 3] - '0'));
            append_utf8(out, code);
            i += 3;
        } else {
            out += inner[i + 1];
            ++i;
        }
    }
    return out;
}

// What Python's SimpleCookie accepts as a name (Python 3.11's _LegalChars,
// and none of Morsel's reserved attribute names, in any case). Tornado puts
// each parsed cookie into a SimpleCookie and silently drops those it
// refuses; HTTPServerRequest::cookies does the same with this test.
bool acceptable_cookie_name(std::string_view name) {
    static constexpr std::array<std::string_view, 9> kReserved = {
        "expires", "path",     "comment", "domain",  "max-age",
        "secure",  "httponly", "version", "samesite"};
    if (name.empty()) return false;
    for (char c : name) {
        bool legal = is_ascii_letter(c) || is_digit(c) ||
                     std::string_view("!#$%&'*+-.^_`|~:").find(c) != std::string_view::npos;
        if (!legal) return false;
    }
    for (std::string_view reserved : kReserved) {
        if (equals_ignoring_case(name, reserved)) return false;
    }
    return true;
}

}  // namespace

// Tornado's parse_cookie, which copies Django's and follows browsers, not the
// cookie RFCs: split on ';', each chunk split at its first '='; a chunk
// without one is a value with an empty name (Tornado cites Mozilla bug
// 169091: a cookie set without a name comes back as a bare value). A name seen again
// overwrites its value in its first place, as a dict does. strip() is ASCII
// whitespace: Python strips the latin-1 text, where 0x85 and 0xA0 count as
// whitespace too, but those bytes can end a UTF-8 character.
CookieMap parse_cookie(std::string_view cookie) {
    CookieMap cookies;
    detail::for_each_part(cookie, ';', [&cookies](std::string_view chunk) {
        std::size_t equals = chunk.find('=');
        std::string_view key =
            equals == std::string_view::npos ? std::string_view() : chunk.substr(0, equals);
        std::string_view value =
            equals == std::string_view::npos ? chunk : chunk.substr(equals + 1);
        key = strip(key);
        value = strip(value);
        if (key.empty() && value.empty()) return;
        cookies[key] = unquote_cookie(value);
    });
    return cookies;
}

// Tornado matches ^(.+):(\d+)$: the last colon, with a non-empty host before
// it and only digits after. So "[::1]:8080" splits and "[::1]" does not (its
// last colon is followed by "1]"). Ports are not checked against 65535.
std::pair<std::string, std::optional<int>> split_host_and_port(std::string_view netloc) {
    std::size_t colon = netloc.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == netloc.size()) {
        return {std::string(netloc), std::nullopt};
    }
    std::string_view digits = netloc.substr(colon + 1);
    long long port = 0;
    for (char c : digits) {
        if (!is_digit(c) || port > 1000000000) return {std::string(netloc), std::nullopt};
        port = port * 10 + (c - '0');
    }
    return {std::string(netloc.substr(0, colon)), static_cast<int>(port)};
}

// Tornado's _parse_request_range: one "bytes=" range (RFC 9110 section 14.1.2),
// turned into slice indexes. "a-b" is inclusive, hence end + 1; "-n" is the
// last n bytes, a negative start; "-0" stays (nothing, 0), which the caller
// answers as unsatisfiable. A list of ranges ("0-1,5-6") is not digits, so
// nothing: StaticFileHandler then sends the whole file, as the RFC allows.
// Numbers are ASCII digits only, where Python's int() also takes '+' or '_'.
std::optional<std::pair<std::optional<std::int64_t>, std::optional<std::int64_t>>>
parse_request_range(std::string_view range_header) {
    std::size_t equals = range_header.find('=');
    std::string_view unit = strip(range_header.substr(0, equals));
    std::string_view value = equals == std::string_view::npos
                                 ? std::string_view()
                                 : strip(range_header.substr(equals + 1));
    if (unit != "bytes") return std::nullopt;
    std::size_t dash = value.find('-');
    std::string_view start_text = strip(value.substr(0, dash));
    std::string_view end_text =
        dash == std::string_view::npos ? std::string_view() : strip(value.substr(dash + 1));
    auto number = [](std::string_view text, std::optional<std::int64_t>& out) {
        if (text.empty()) return true;
        std::int64_t n = 0;
        for (char c : text) {
            if (!is_digit(c) || n > (std::numeric_limits<std::int64_t>::max() - 9) / 10)
                return false;
            n = n * 10 + (c - '0');
        }
        out = n;
        return true;
    };
    std::optional<std::int64_t> start;
    std::optional<std::int64_t> end;
    if (!number(start_text, start) || !number(end_text, end)) return std::nullopt;
    if (end) {
        if (!start) {
            if (*end != 0) {
                start = -*end;
                end.reset();
            }
        } else {
            *end += 1;
        }
    }
    return std::make_pair(start, end);
}

// Back from slice indexes to the header's inclusive "first-last/total" (RFC
// 9110 section 14.4), as Tornado's _get_content_range: a missing or zero end
// means the end of the file.
std::string content_range(std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                          std::int64_t total) {
    std::int64_t first = start.value_or(0);
    std::int64_t last = (end && *end != 0 ? *end : total) - 1;
    return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
           std::to_string(total);
}

// Python 3.11's http.client.responses, which Tornado uses: the same codes and
// the same words (so 413 is "Request Entity Too Large", not RFC 9110's
// "Content Too Large").
std::string_view reason_phrase(int code) noexcept {
    switch (code) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 102: return "Processing";
        case 103: return "Early Hints";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 207: return "Multi-Status";
        case 208: return "Already Reported";
        case 226: return "IM Used";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 305: return "Use Proxy";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 407: return "Proxy Authentication Required";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Request Entity Too Large";
        case 414: return "Request-URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Requested Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 418: return "I'm a Teapot";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Entity";
        case 423: return "Locked";
        case 424: return "Failed Dependency";
        case 425: return "Too Early";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 451: return "Unavailable For Legal Reasons";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        case 506: return "Variant Also Negotiates";
        case 507: return "Insufficient Storage";
        case 508: return "Loop Detected";
        case 510: return "Not Extended";
        case 511: return "Network Authentication Required";
        default: return "Unknown";
    }
}

// --- HTTPServerRequest ------------------------------------------------------------------------

HTTPServerRequest::HTTPServerRequest(std::string method_, std::string uri_, std::string version_,
                                     HTTPHeaders headers_, std::string body_, std::string host_,
                                     std::shared_ptr<HTTPConnection> connection_)
    : method(std::move(method_)),
      uri(std::move(uri_)),
      version(std::move(version_)),
      headers(std::move(headers_)),
      body(std::move(body_)),
      connection(std::move(connection_)) {
    derive_fields(host_);
}

HTTPServerRequest::HTTPServerRequest(RequestStartLine&& start_line, HTTPHeaders&& headers_,
                                     std::shared_ptr<HTTPConnection> connection_,
                                     HTTPServerConnection* server_connection_,
                                     std::chrono::steady_clock::time_point start_time_)
    : method(std::move(start_line.method)),
      uri(std::move(start_line.path)),
      version(std::move(start_line.version)),
      headers(std::move(headers_)),
      connection(std::move(connection_)),
      server_connection(server_connection_),
      start_time(start_time_) {
    derive_fields({});
}

namespace {

// A target in absolute-form ("http://example.com:8080/x?y"), read as RFC 9112
// section 3.2.2 says: the request is for the target's authority, whatever
// Host's value. So the authority goes to `host`, and `uri` becomes what
// follows it ("/x?y"; "/" for an empty path), the origin-form the request
// would have had without a proxy in between: path, query, full_url() and
// everything the application does with them come out as for that request.
// Returns whether `host` was set (false for an empty authority, and for a
// target of another form: "*", CONNECT's "host:port"). Tornado 6.2 keeps
// Host's value and the whole target as the path, which no route matches.
// Apart and not inlined: every ordinary target starts with '/'.
[[gnu::cold]] bool read_absolute_form(HTTPServerRequest& request) {
    std::optional<AbsoluteTarget> absolute = split_absolute_form(request.uri);
    if (!absolute) return false;
    request.host.assign(absolute->authority);
    request.uri.erase(0, static_cast<std::size_t>(absolute->rest.data() - request.uri.data()));
    if (request.uri.empty() || request.uri[0] == '?') request.uri.insert(0, 1, '/');
    return !request.host.empty();
}

}  // namespace

// Tornado's __init__ after the plain fields: where the request came from
// (the connection's context, which a proxy's X- headers may have rewritten),
// the host (the argument, else Host, else "127.0.0.1"), and the target
// split at its first '?' into path and query, the query parsed with blank
// values kept. query_arguments and arguments start as the same map; the
// body's arguments are added to the second by parse_body(). A target in
// absolute-form names the host itself (read_absolute_form).
void HTTPServerRequest::derive_fields(std::string_view host_) {
    const HTTPRequestContext* context = connection ? connection->context() : nullptr;
    if (context != nullptr) {
        remote_ip = context->remote_ip;
        protocol = context->protocol;
    } else {
        protocol = "http";
    }
    bool host_from_target = false;
    // Origin-form, every ordinary request's target, starts with '/': one test.
    if (!uri.empty() && uri[0] != '/') [[unlikely]]
        host_from_target = read_absolute_form(*this);
    if (!host_.empty()) {
        host = host_;
    } else if (!host_from_target) {
        std::string_view header = headers.get_first("Host");
        host = header.empty() ? std::string_view("127.0.0.1") : header;
    }
    // split_host_and_port(host.lower())[0], without the temporaries. The port
    // is taken off when it is one to ten digits (a real one has five at most).
    std::string_view name = host;
    std::size_t colon = name.rfind(':');
    if (colon != std::string_view::npos && colon > 0 && colon + 1 < name.size() &&
        name.size() - colon <= 11 &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(colon) + 1, name.end(), [](char c) {
            return is_digit(c);
        })) {  // a lambda inlines; a function pointer did not
        name = name.substr(0, colon);
    }
    host_name.assign(name);  // then lowered in place: no zero-filling resize first
    for (char& c : host_name) c = ascii_lower(c);
    std::size_t question = uri.find('?');
    path.assign(uri, 0, question);
    if (question != std::string::npos) {
        query.assign(uri, question + 1);
        query_arguments = parse_qs_bytes(query, true);
        arguments = query_arguments;
    }
}

// Parsed on first use and kept: most requests never read a cookie. mutable
// behind a const method, as Tornado's property caches in _cookies.
const CookieMap& HTTPServerRequest::cookies() const {
    if (!cookies_) {
        cookies_ = std::make_unique<CookieMap>();
        if (headers.contains("Cookie")) {
            for (auto& [name, value] : parse_cookie(headers.get("Cookie"))) {
                if (acceptable_cookie_name(name)) (*cookies_)[name] = std::move(value);
            }
        }
    }
    return *cookies_;
}

std::string HTTPServerRequest::full_url() const { return protocol + "://" + host + uri; }

double HTTPServerRequest::request_time() const {
    // Not value_or(now()): that reads the clock even when the request is over.
    auto end = finish_time != std::chrono::steady_clock::time_point{}
                   ? finish_time
                   : std::chrono::steady_clock::now();
    return std::chrono::duration<double>(end - start_time).count();
}

// Tornado's _parse_body: the body's arguments go to body_arguments and are
// appended to arguments, after the query's.
void HTTPServerRequest::parse_body() {
    // An empty body holds no arguments (most GETs: skip the Content-Type
    // lookups). It also skips what Tornado would refuse in it: an empty
    // multipart body (no final boundary) or a Content-Encoding on it.
    if (body.empty()) return;
    parse_body_arguments(headers.get_first("Content-Type"), body, body_arguments, files, &headers);
    for (const auto& [name, values] : body_arguments) {
        std::vector<std::string>& list = arguments[name];
        list.insert(list.end(), values.begin(), values.end());
    }
}

// Only HTTP1Connection owns a stream it can hand over (to a WebSocket); any
// other connection, a test double say, says so loudly rather than give
// nothing back.
SharedBytes::SharedBytes(std::string text) {
    auto kept = std::make_shared<const std::string>(std::move(text));
    bytes = *kept;
    owner = std::move(kept);
}

std::shared_ptr<IOStream> HTTPConnection::detach() {
    throw std::logic_error("this HTTPConnection cannot be detached");
}

void HTTPServerConnectionDelegate::start_http2(std::shared_ptr<IOStream> stream, std::string,
                                               HTTPRequestContext) {
    stream->close();
}

std::string encode_username_password(std::string_view username, std::string_view password) {
    std::string joined(username);
    joined += ':';
    joined += password;
    return joined;
}

}  // namespace tornado
