// httputil.cpp: see tornado/httputil.h for the contract.
//
// The request-head parser (HeadParser) is the hot path: one pass over the
// bytes, with the characters that end or break a field found eight bytes at
// a time (SWAR: "SIMD within a register"), names normalised in place, and
// the fields recorded as offsets into the head's own buffer.
#include "tornado/httputil.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "hex.h"
#include "text.h"

namespace tornado {

namespace {

using namespace std::string_view_literals;
using detail::ascii_lower;
using detail::ascii_upper;
using detail::is_ascii_letter;
using detail::is_digit;
using detail::is_ows;
using detail::quoted;
using detail::strip;
using detail::trim_ows;

// --- character classes ---------------------------------------------------------------

constexpr std::array<bool, 256> make_token_table() {
    std::array<bool, 256> table{};
    for (int c = '0'; c <= '9'; ++c) table[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
    return table;
}
constexpr std::array<bool, 256> kTokenChar = make_token_table();

inline bool token_char(char c) { return kTokenChar[static_cast<unsigned char>(c)]; }

// --- eight bytes at a time -------------------------------------------------------------

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

inline std::uint64_t load8(const char* p) {
    std::uint64_t word;
    std::memcpy(&word, p, sizeof word);
    return word;
}
// Non-zero if some byte of `word` is below n (n <= 128): the classic
// "hasless" trick. Exact about *whether*, not about *which*.
inline std::uint64_t has_less(std::uint64_t word, unsigned n) {
    return (word - kOnes * n) & ~word & kHighs;
}
inline std::uint64_t has_byte(std::uint64_t word, unsigned char byte) {
    std::uint64_t x = word ^ (kOnes * byte);
    return (x - kOnes) & ~x & kHighs;
}

// The first byte from p on that is below 0x20 or DEL (a value's CR, or a
// control character), or end. Skips eight ordinary bytes per step; the
// word that holds the stop is then walked byte by byte.
inline const char* skip_value_bytes(const char* p, const char* end) {
    for (;;) {
        while (end - p >= 8) {
            std::uint64_t word = load8(p);
            if ((has_less(word, 0x20) | has_byte(word, 0x7f)) != 0) break;
            p += 8;
        }
        for (;;) {
            if (p == end) return end;
            auto byte = static_cast<unsigned char>(*p);
            if (byte >= 0x20 && byte != 0x7f) {
                ++p;
                continue;
            }
            if (byte != '\t') return p;
            ++p;
            break;  // a tab is allowed: back to eight at a time
        }
    }
}

// The first byte from p on that is a space, a control character or DEL
// (the end of a request target), or end.
inline const char* skip_target_bytes(const char* p, const char* end) {
    while (end - p >= 8) {
        std::uint64_t word = load8(p);
        if ((has_less(word, 0x21) | has_byte(word, 0x7f)) != 0) break;
        p += 8;
    }
    while (p < end) {
        auto byte = static_cast<unsigned char>(*p);
        if (byte <= 0x20 || byte == 0x7f) return p;
        ++p;
    }
    return end;
}

void normalize_in_place(char* name, std::size_t size) {
    bool word_start = true;
    for (std::size_t i = 0; i < size; ++i) {
        char c = name[i];
        name[i] = word_start ? ascii_upper(c) : ascii_lower(c);
        word_start = c == '-';
    }
}

// Appends the UTF-8 encoding of a code point below 0x800.
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

enum class Source { application, peer };

// Checks a field about to be added. The application's mistakes are
// std::invalid_argument; the peer's are HTTPInputError (400).
void check_value(std::string_view name, std::string_view value, Source source) {
    const char* end = value.data() + value.size();
    // Eight bytes at a time: every response sets a few headers.
    if (skip_value_bytes(value.data(), end) != end) {
        std::string message =
            "control character in the value of header " + quoted(name) + ": " + quoted(value);
        if (source == Source::peer) throw HTTPInputError(message);
        throw std::invalid_argument(message);
    }
}

void check_field(std::string_view name, std::string_view value, Source source) {
    if (!is_token(name)) {
        std::string message = "header name is not a token: " + quoted(name);
        if (source == Source::peer) throw HTTPInputError(message);
        throw std::invalid_argument(message);
    }
    check_value(name, value, source);
}

}  // namespace

HTTPHeaders::HTTPHeaders(
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (const auto& [name, value] : fields) add(name, value);
}

void HTTPHeaders::append_field(std::string_view name, std::string_view value) {
    std::size_t name_at = text_.size();
    append_normalized_field(name, value);
    normalize_in_place(text_.data() + name_at, name.size());
}

void HTTPHeaders::append_normalized_field(std::string_view name, std::string_view value) {
    if (text_.size() + name.size() + value.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("HTTPHeaders: over 4 GiB of headers");
    }
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
    check_field(name, value, Source::application);
    append_field(name, value);
}

void HTTPHeaders::add_known_name(std::string_view name, std::string_view value) {
    check_value(name, value, Source::application);
    append_normalized_field(name, value);
}

void HTTPHeaders::set(std::string_view name, std::string_view value) {
    check_field(name, value, Source::application);
    remove(name);
    append_field(name, value);
}

std::size_t HTTPHeaders::remove(std::string_view name) {
    std::size_t removed = 0;
    std::erase_if(fields_, [&](const Slot& slot) {
        if (!equals_ignoring_case(std::string_view(text_.data() + slot.name_at, slot.name_size),
                                  name)) {
            return false;
        }
        dead_bytes_ += slot.name_size + slot.value_size;
        ++removed;
        return true;
    });
    compact_if_wasteful();
    return removed;
}

// After many removals, copy the live fields into a fresh string (a response
// whose headers an application sets and resets must not grow forever).
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

void HTTPHeaders::write_to(std::string& out) const {
    for (Field field : *this) {
        out.append(field.name);
        out.append(": "sv);
        out.append(field.value);
        out.append("\r\n"sv);
    }
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

bool operator==(const HTTPHeaders& a, const HTTPHeaders& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        HTTPHeaders::Field x = a.field(i);
        HTTPHeaders::Field y = b.field(i);
        if (x.name != y.name || x.value != y.value) return false;
    }
    return true;
}

void HTTPHeaders::parse_line(std::string_view line) {
    if (line.empty()) return;
    if (is_ows(line.front())) {
        // Obsolete folding: the line continues the previous value.
        if (fields_.empty()) throw HTTPInputError("first header line cannot start with whitespace");
        std::string_view more = trim_ows(line);
        check_field("Continuation", more, Source::peer);
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
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos)
        throw HTTPInputError("no colon in header line: " + quoted(line));
    std::string_view name = line.substr(0, colon);
    std::string_view value = strip(line.substr(colon + 1));
    check_field(name, value, Source::peer);
    append_field(name, value);
}

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

struct HeadParser {
    static RequestHead parse(std::string&& head);
};

namespace {

[[noreturn]] void bad_version(std::string_view version) {
    bool well_formed = version.size() == 8 && version.starts_with("HTTP/") &&
                       is_digit(version[5]) && version[6] == '.' && is_digit(version[7]);
    if (well_formed) throw HTTPInputError(505, "HTTP version not supported: " + quoted(version));
    throw HTTPInputError("malformed HTTP version in request line: " + quoted(version));
}

// The length of the line ending at p: 2 for CRLF, 1 for a bare LF (which
// RFC 9112 section 2.2 lets a recipient accept, and Tornado does), else 0.
std::size_t line_end_size(const char* p, const char* end) {
    if (p < end && *p == '\n') return 1;
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') return 2;
    return 0;
}

// What is wrong with the line ending at p (which is neither CRLF nor LF).
[[noreturn]] void bad_line_end(const char* p, const char* end, std::string_view where) {
    if (p >= end) throw HTTPInputError("request head not ended by an empty line");
    if (*p == '\r') throw HTTPInputError("bare CR in " + std::string(where));
    throw HTTPInputError("control character in " + std::string(where));
}

}  // namespace

RequestHead HeadParser::parse(std::string&& head) {
    RequestHead result;
    char* const begin = head.data();
    const char* const end = begin + head.size();
    char* p = begin;

    // Empty lines before the request line are to be ignored (RFC 9112 section 2.2).
    while (std::size_t blank = line_end_size(p, end)) p += blank;

    // --- request line: METHOD SP target SP HTTP/1.x CRLF (or LF, as every line)
    const char* method = p;
    while (p < end && token_char(*p)) ++p;
    if (p == end || *p != ' ' || p == method) {
        const char* line_end = static_cast<const char*>(std::memchr(method, '\n', end - method));
        std::string_view line(method, (line_end ? line_end : end) - method);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (p == method || (p < end && *p != ' ' && *p != '\r' && *p != '\n')) {
            throw HTTPInputError("malformed request line (method is not a token): " + quoted(line));
        }
        throw HTTPInputError("malformed request line: " + quoted(line));
    }
    result.start_line.method.assign(method, static_cast<std::size_t>(p - method));
    ++p;
    const char* target = p;
    p = const_cast<char*>(skip_target_bytes(p, end));
    if (p == target || p == end || *p != ' ') {
        if (p < end && *p == ' ')
            throw HTTPInputError("malformed request line: empty request target");
        if (p < end && (*p == '\r' || *p == '\n')) {
            throw HTTPInputError("malformed request line (no HTTP version): " +
                                 quoted(std::string_view(method, p - method)));
        }
        throw HTTPInputError("malformed request target: " +
                             quoted(std::string_view(target, p + 1 - target)));
    }
    result.start_line.path.assign(target, static_cast<std::size_t>(p - target));
    ++p;
    const char* version = p;
    std::size_t version_end = end - p >= 8 ? line_end_size(p + 8, end) : 0;
    if (version_end != 0 && std::memcmp(p, "HTTP/1.", 7) == 0 && is_digit(p[7])) {
        result.start_line.version.assign(p, 8);
        p += 8 + version_end;
    } else {
        while (p < end && *p != '\r' && *p != '\n' && *p != ' ') ++p;
        if (p < end && *p == ' ')
            throw HTTPInputError("malformed request line: more than three parts");
        std::string_view seen(version, p - version);
        if (seen.size() == 8 && seen.starts_with("HTTP/1.") && is_digit(seen[7])) {
            bad_line_end(p, end, "the request line");
        }
        bad_version(seen);
    }

    // --- header fields: name ":" OWS value OWS CRLF, until an empty line
    HTTPHeaders& headers = result.headers;
    headers.fields_.reserve(16);
    int host_count = 0;
    for (;;) {
        if (std::size_t blank = line_end_size(p, end)) {
            p += blank;
            break;
        }
        if (p >= end) throw HTTPInputError("request head not ended by an empty line");
        char* name = p;
        // Normalised (Http-Header-Case) while it is checked: one pass.
        bool word_start = true;
        while (p < end && token_char(*p)) {
            char c = *p;
            *p = word_start ? ascii_upper(c) : ascii_lower(c);
            word_start = c == '-';
            ++p;
        }
        if (p == end || *p != ':' || p == name) {
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
                                         quoted(line));
                }
            }
            if (line.find(':') == std::string_view::npos) {
                throw HTTPInputError("no colon in header line: " + quoted(line));
            }
            throw HTTPInputError("header name is not a token: " +
                                 quoted(line.substr(0, line.find(':'))));
        }
        const char* name_end = p;
        ++p;
        while (p < end && is_ows(*p)) ++p;
        const char* value = p;
        p = const_cast<char*>(skip_value_bytes(p, end));
        std::size_t value_line_end = line_end_size(p, end);
        if (value_line_end == 0) {
            std::string_view field_name(name, name_end - name);
            if (p < end && *p != '\r' && *p != '\n') {
                throw HTTPInputError("control character in the value of header " +
                                     quoted(field_name));
            }
            bad_line_end(p, end, "header " + std::string(field_name));
        }
        const char* value_end = p;
        while (value_end > value && is_ows(value_end[-1])) --value_end;
        p += value_line_end;

        HTTPHeaders::Slot slot{};
        slot.name_at = static_cast<std::uint32_t>(name - begin);
        slot.name_size = static_cast<std::uint32_t>(name_end - name);
        slot.value_at = static_cast<std::uint32_t>(value - begin);
        slot.value_size = static_cast<std::uint32_t>(value_end - value);
        headers.fields_.push_back(slot);
        if (slot.name_size == 4 && std::memcmp(name, "Host", 4) == 0) ++host_count;
    }
    if (p != end) throw HTTPInputError("bytes after the end of the request head");
    // Two Host headers: a proxy and we could disagree about which site this
    // is (RFC 9112 section 3.2 says 400).
    if (host_count > 1) throw HTTPInputError("more than one Host header");
    if (head.size() > std::numeric_limits<std::uint32_t>::max())
        throw HTTPInputError(431, "request head too large");
    headers.text_ = std::move(head);
    return result;
}

RequestHead parse_request_head(std::string head) { return HeadParser::parse(std::move(head)); }

// --- where a body ends ------------------------------------------------------------------------

namespace {

// Calls f(item) for each comma-separated item of every `name` field.
template <typename F>
void for_each_list_item(const HTTPHeaders& headers, std::string_view name, F&& f) {
    for (HTTPHeaders::Field field : headers) {
        if (equals_ignoring_case(field.name, name)) detail::for_each_item(field.value, f);
    }
}

}  // namespace

BodyFraming parse_body_framing(const HTTPHeaders& headers, std::string_view message) {
    BodyFraming framing;
    framing.content_length = parse_content_length(headers);
    if (!headers.contains("Transfer-Encoding")) return framing;
    if (framing.content_length) {
        throw HTTPInputError(std::string(message) +
                             " with both Transfer-Encoding and Content-Length");
    }
    // Only "chunked" alone: with a coding before it we could not undo, we
    // would not know what the body is, only where it ends.
    int codings = 0;
    bool chunked = false;
    for_each_list_item(headers, "Transfer-Encoding", [&](std::string_view item) {
        ++codings;
        chunked = equals_ignoring_case(item, "chunked");
    });
    if (codings != 1 || !chunked) {
        throw HTTPInputError("Unsupported Transfer-Encoding " +
                             quoted(headers.get("Transfer-Encoding")));
    }
    framing.chunked = true;
    return framing;
}

std::optional<std::uint64_t> parse_content_length_value(std::string_view value) noexcept {
    if (value.empty() || !std::all_of(value.begin(), value.end(), is_digit)) return std::nullopt;
    constexpr std::uint64_t kLargest = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t length = 0;
    for (char c : value) {
        auto digit = static_cast<std::uint64_t>(c - '0');
        length = length > (kLargest - digit) / 10 ? kLargest : length * 10 + digit;
    }
    return length;
}

std::optional<std::uint64_t> parse_content_length(const HTTPHeaders& headers) {
    std::optional<std::uint64_t> length;
    for_each_list_item(headers, "Content-Length", [&](std::string_view item) {
        std::optional<std::uint64_t> value = parse_content_length_value(item);
        if (!value) {
            throw HTTPInputError("Only integer Content-Length is allowed: " +
                                 quoted(headers.get("Content-Length")));
        }
        if (length && *length != *value) {
            throw HTTPInputError("Multiple unequal Content-Lengths: " +
                                 quoted(headers.get("Content-Length")));
        }
        length = value;
    });
    return length;
}

std::uint64_t parse_chunk_size(std::string_view line) {
    if (line.ends_with("\r\n")) line.remove_suffix(2);
    auto invalid = [&] { return HTTPInputError("invalid chunk size: " + quoted(line)); };
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

RequestStartLine parse_request_start_line(std::string_view line) {
    std::size_t first = line.find(' ');
    std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos) {
        throw HTTPInputError("malformed HTTP request line: " + quoted(line));
    }
    RequestStartLine result{std::string(line.substr(0, first)),
                            std::string(line.substr(first + 1, second - first - 1)),
                            std::string(line.substr(second + 1))};
    if (!is_token(result.method)) {
        throw HTTPInputError("malformed HTTP request line (method is not a token): " +
                             quoted(line));
    }
    if (result.path.empty() || std::any_of(result.path.begin(), result.path.end(), [](char c) {
            auto byte = static_cast<unsigned char>(c);
            return byte < 0x20 || byte == 0x7f;
        })) {
        throw HTTPInputError("malformed request target: " + quoted(result.path));
    }
    const std::string& v = result.version;
    if (!(v.size() == 8 && v.starts_with("HTTP/1.") && is_digit(v[7]))) bad_version(v);
    return result;
}

ResponseStartLine parse_response_start_line(std::string_view line) {
    // (HTTP/1.[0-9]) ([0-9]+) ([^\r]*), as Tornado's regular expression.
    if (line.size() < 10 || !line.starts_with("HTTP/1.") || !is_digit(line[7]) || line[8] != ' ') {
        throw HTTPInputError("Error parsing response start line: " + quoted(line));
    }
    std::size_t i = 9;
    int code = 0;
    while (i < line.size() && is_digit(line[i]) && code < 100000)
        code = code * 10 + (line[i++] - '0');
    if (i == 9 || (i < line.size() && line[i] != ' ') || code >= 100000) {
        throw HTTPInputError("Error parsing response start line: " + quoted(line));
    }
    std::string_view reason = i < line.size() ? line.substr(i + 1) : std::string_view();
    if (reason.find('\r') != std::string_view::npos) reason = reason.substr(0, reason.find('\r'));
    return ResponseStartLine{std::string(line.substr(0, 8)), code, std::string(reason)};
}

// --- query strings --------------------------------------------------------------------------

namespace {

// Python's unquote_to_bytes after '+' -> ' ': %XX to a byte, anything else as is.
void append_unquoted(std::string& out, std::string_view text, bool plus_is_space) {
    out.reserve(out.size() + text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            int high = detail::hex_value(text[i + 1]);
            int low = detail::hex_value(text[i + 2]);
            if (high >= 0 && low >= 0) {
                out += static_cast<char>(high * 16 + low);
                i += 2;
                continue;
            }
        }
        out += (c == '+' && plus_is_space) ? ' ' : c;
    }
}

// quote_plus with no safe characters: what urlencode does to each part.
void append_quoted_plus(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        bool safe =
            is_ascii_letter(c) || is_digit(c) || c == '_' || c == '.' || c == '-' || c == '~';
        if (safe) {
            out += c;
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        }
    }
}

template <typename Sink>
void for_each_query_field(std::string_view query, bool keep_blank_values, Sink&& sink) {
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view field = query.substr(start, amp - start);
        start = amp + 1;
        if (field.empty()) continue;
        std::size_t equals = field.find('=');
        std::string_view raw_name = field.substr(0, equals);
        std::string_view raw_value =
            equals == std::string_view::npos ? std::string_view() : field.substr(equals + 1);
        if (equals == std::string_view::npos && !keep_blank_values) continue;
        if (raw_value.empty() && !keep_blank_values) continue;
        std::string name;
        std::string value;
        append_unquoted(name, raw_name, true);
        append_unquoted(value, raw_value, true);
        sink(std::move(name), std::move(value));
    }
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

ArgumentMap parse_qs_bytes(std::string_view query, bool keep_blank_values) {
    ArgumentMap arguments;
    for_each_query_field(query, keep_blank_values, [&](std::string name, std::string value) {
        arguments[name].push_back(std::move(value));
    });
    return arguments;
}

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
        append_quoted_plus(out, all[i].first);
        out += '=';
        append_quoted_plus(out, all[i].second);
    }
    if (!fragment.empty()) {
        out += '#';
        out.append(fragment);
    }
    return out;
}

// --- Content-Type-like headers (Tornado's _parse_header) --------------------------------------

namespace {

// Splits on ';' outside double quotes (a quote escaped by a backslash does
// not count), each part stripped.
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

// email.utils.unquote: "\"a\\\"b\"" -> a"b; <x> -> x.
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
// ISO-8859-1 transcoded; any other charset left as raw bytes).
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

}  // namespace

std::pair<std::string, OrderedMap<std::string>> parse_header_value(std::string_view line) {
    std::vector<std::string_view> parts = split_params(line);
    std::pair<std::string, OrderedMap<std::string>> result;
    result.first = std::string(parts.front());

    struct Segment {
        int number;
        std::string value;
        bool encoded;
    };
    std::vector<std::pair<std::string, std::vector<Segment>>> extended;  // RFC 2231 parameters
    for (std::size_t i = 1; i < parts.size(); ++i) {
        std::size_t equals = parts[i].find('=');
        if (equals == std::string_view::npos) continue;
        std::string name;
        for (char c : strip(parts[i].substr(0, equals))) name += ascii_lower(c);
        std::string_view raw = strip(parts[i].substr(equals + 1));
        // name*, name*0, name*1*: RFC 2231 (percent-encoded, or continued).
        std::size_t star = name.find('*');
        if (star != std::string::npos && star > 0) {
            std::string base = name.substr(0, star);
            std::string_view rest = std::string_view(name).substr(star + 1);
            bool encoded = name.back() == '*';
            int number = 0;
            std::string_view digits =
                encoded && !rest.empty() ? rest.substr(0, rest.size() - 1) : rest;
            bool valid = std::all_of(digits.begin(), digits.end(), is_digit) && digits.size() < 6;
            if (valid) {
                for (char c : digits) number = number * 10 + (c - '0');
                std::string value = email_unquote(raw);
                if (encoded) {
                    std::string decoded;
                    append_unquoted(decoded, value, false);
                    value = std::move(decoded);
                }
                auto it = std::find_if(extended.begin(), extended.end(),
                                       [&](const auto& entry) { return entry.first == base; });
                if (it == extended.end()) {
                    extended.emplace_back(base, std::vector<Segment>());
                    it = extended.end() - 1;
                }
                it->second.push_back({number, std::move(value), encoded});
                continue;
            }
        }
        result.second[name] = email_unquote(raw);
    }
    for (auto& [name, segments] : extended) {
        std::stable_sort(segments.begin(), segments.end(),
                         [](const Segment& a, const Segment& b) { return a.number < b.number; });
        std::string joined;
        bool any_encoded = false;
        for (const Segment& segment : segments) {
            joined += segment.value;
            any_encoded = any_encoded || segment.encoded;
        }
        // Set last, so that name* wins over a plain name (as in Tornado).
        result.second.erase(name);
        result.second[name] = any_encoded ? decode_rfc2231(joined) : joined;
    }
    return result;
}

// --- bodies ------------------------------------------------------------------------------------

void parse_body_arguments(std::string_view content_type, std::string_view body,
                          ArgumentMap& arguments, FileMap& files, const HTTPHeaders* headers) {
    bool form = content_type.starts_with("application/x-www-form-urlencoded");
    bool multipart = content_type.starts_with("multipart/form-data");
    if (!form && !multipart) return;
    if (headers != nullptr && headers->contains("Content-Encoding")) {
        throw HTTPInputError("Unsupported Content-Encoding: " +
                             quoted(headers->get("Content-Encoding")));
    }
    if (form) {
        for_each_query_field(body, true, [&](std::string name, std::string value) {
            arguments[name].push_back(std::move(value));
        });
        return;
    }
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

void parse_multipart_form_data(std::string_view boundary, std::string_view data,
                               ArgumentMap& arguments, FileMap& files) {
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
        HTTPHeaders part_headers = HTTPHeaders::parse(part.substr(0, eoh));
        auto [disposition, params] = parse_header_value(part_headers.get("Content-Disposition"));
        if (disposition != "form-data" || !part.ends_with("\r\n") || part.size() < eoh + 4 + 2) {
            throw HTTPInputError("Invalid multipart/form-data");
        }
        std::string_view value = part.substr(eoh + 4, part.size() - eoh - 4 - 2);
        const std::string* name = params.find_value("name");
        if (name == nullptr || name->empty())
            throw HTTPInputError("multipart/form-data missing name");
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

// Writes the 29 bytes of an IMF-fixdate.
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

int month_number(std::string_view name) {
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
        if (kMonths[i] == name) return static_cast<int>(i);
    }
    return -1;
}

bool parse_number(std::string_view text, int& out) {
    if (text.empty() || text.size() > 4) return false;
    out = 0;
    for (char c : text) {
        if (!is_digit(c)) return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

bool parse_clock(std::string_view text, std::tm& tm) {
    return text.size() == 8 && text[2] == ':' && text[5] == ':' &&
           parse_number(text.substr(0, 2), tm.tm_hour) &&
           parse_number(text.substr(3, 2), tm.tm_min) &&
           parse_number(text.substr(6, 2), tm.tm_sec) && tm.tm_hour < 24 && tm.tm_min < 60 &&
           tm.tm_sec <= 60;
}

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

}  // namespace

std::string format_timestamp(std::time_t when) {
    std::string out(29, ' ');
    write_http_date(out.data(), when);
    return out;
}

std::string format_timestamp(std::chrono::system_clock::time_point when) {
    return format_timestamp(
        std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(when)));
}

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
        // Two-digit years: the past fifty years and the next fifty (RFC 9110 section 5.6.7).
        tm.tm_year = year < 70 ? year + 100 : year;
    } else if (words.size() == 5) {
        // asctime: Sun Nov  6 08:49:37 1994
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

std::string_view http_date_now() {
    thread_local std::time_t cached_second = -1;
    thread_local char cached[29];
    std::time_t now = ::time(nullptr);
    if (now != cached_second) {
        write_http_date(cached, now);
        cached_second = now;
    }
    return std::string_view(cached, sizeof cached);
}

// --- cookies, hosts, ranges ---------------------------------------------------------------------

namespace {

// http.cookies._unquote: "\"a\\073b\"" -> a;b.
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

// What Python's SimpleCookie accepts as a name.
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

CookieMap parse_cookie(std::string_view cookie) {
    CookieMap cookies;
    std::size_t start = 0;
    while (start <= cookie.size()) {
        std::size_t semicolon = cookie.find(';', start);
        if (semicolon == std::string_view::npos) semicolon = cookie.size();
        std::string_view chunk = cookie.substr(start, semicolon - start);
        start = semicolon + 1;
        std::size_t equals = chunk.find('=');
        std::string_view key =
            equals == std::string_view::npos ? std::string_view() : chunk.substr(0, equals);
        std::string_view value =
            equals == std::string_view::npos ? chunk : chunk.substr(equals + 1);
        key = strip(key);
        value = strip(value);
        if (key.empty() && value.empty()) continue;
        cookies[key] = unquote_cookie(value);
    }
    return cookies;
}

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

std::string content_range(std::optional<std::int64_t> start, std::optional<std::int64_t> end,
                          std::int64_t total) {
    std::int64_t first = start.value_or(0);
    std::int64_t last = (end && *end != 0 ? *end : total) - 1;
    return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
           std::to_string(total);
}

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

// --- HTTPServerRequest
// -----------------------------------------------------------------------------

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

HTTPServerRequest::HTTPServerRequest(RequestStartLine start_line, HTTPHeaders headers_,
                                     std::shared_ptr<HTTPConnection> connection_,
                                     HTTP1ServerConnection* server_connection_,
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

void HTTPServerRequest::derive_fields(std::string_view host_) {
    const HTTPRequestContext* context = connection ? connection->context() : nullptr;
    if (context != nullptr) {
        remote_ip = context->remote_ip;
        protocol = context->protocol;
    } else {
        protocol = "http";
    }
    if (!host_.empty()) {
        host = host_;
    } else {
        std::string_view header = headers.get_first("Host");
        host = header.empty() ? std::string_view("127.0.0.1") : header;
    }
    // split_host_and_port(host.lower())[0], without the temporaries.
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

void HTTPServerRequest::parse_body() {
    if (body.empty()) return;  // no arguments in it (most GETs: skip the Content-Type lookups)
    parse_body_arguments(headers.get_first("Content-Type"), body, body_arguments, files, &headers);
    for (const auto& [name, values] : body_arguments) {
        std::vector<std::string>& list = arguments[name];
        list.insert(list.end(), values.begin(), values.end());
    }
}

std::shared_ptr<IOStream> HTTPConnection::detach() {
    throw std::logic_error("this HTTPConnection cannot be detached");
}

}  // namespace tornado
