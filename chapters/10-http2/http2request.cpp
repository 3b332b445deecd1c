// http2request.cpp: the rules of http2request.h, one function each.
#include "http2request.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <vector>

#include "frame.h"

namespace course::http2 {

namespace {

[[noreturn]] void malformed(const std::string& why) {
    throw StreamError(ErrorCode::protocol_error, "malformed request: " + why);
}

// RFC 9110's token characters, without upper case (RFC 9113 section 8.2.1).
bool is_name_char(char c) {
    if (c >= 'a' && c <= 'z') return true;
    if (c >= '0' && c <= '9') return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void check_field(const std::string& name, const std::string& value) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
        malformed("field name '" + name + "' is not a lower-case token");
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        malformed("field '" + name + "' has CR, LF or NUL in its value");
    }
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                           value.back() == '\t')) {
        malformed("field '" + name + "' has white space around its value");
    }
    for (std::string_view specific :
         {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}) {
        if (name == specific) malformed("connection-specific field '" + name + "'");
    }
    if (name == "te" && value != "trailers") malformed("te other than \"trailers\"");
}

struct PseudoHeaders {
    std::string method, scheme, authority, path;
};

// Takes one pseudo-header into `pseudo`; throws if it is unknown or repeated.
void take_pseudo_header(const std::string& name, const std::string& value, PseudoHeaders& pseudo) {
    std::string* slot = nullptr;
    if (name == ":method") slot = &pseudo.method;
    if (name == ":scheme") slot = &pseudo.scheme;
    if (name == ":authority") slot = &pseudo.authority;
    if (name == ":path") slot = &pseudo.path;
    if (!slot) malformed("unknown pseudo-header '" + name + "'");
    if (!slot->empty()) malformed("pseudo-header '" + name + "' twice");
    if (value.empty()) malformed("empty pseudo-header '" + name + "'");
    *slot = value;
}

void check_pseudo_headers(const PseudoHeaders& pseudo) {
    if (pseudo.method.empty()) malformed("no :method");
    if (pseudo.scheme.empty()) malformed("no :scheme");
    if (pseudo.path.empty()) malformed("no :path");  // CONNECT is not served here
    bool asterisk = pseudo.path == "*" && pseudo.method == "OPTIONS";
    if (pseudo.path.front() != '/' && !asterisk) malformed(":path must start with '/'");
}

// Sent twice, the values must agree: with two lengths, which one the body
// is checked against would be a guess (RFC 9110 section 8.6).
void check_content_length(const HTTPHeaders& headers) {
    std::vector<std::string> values = headers.get_list("content-length");
    for (const std::string& value : values) {
        if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c));
            })) {
            malformed("content-length '" + value + "' is not a number");
        }
        if (value != values.front()) {
            malformed("content-length sent twice, as " + values.front() + " and " + value);
        }
    }
}

}  // namespace

std::optional<std::uint64_t> declared_body_length(const HTTPHeaders& headers) {
    std::vector<std::string> values = headers.get_list("content-length");
    if (values.empty()) return std::nullopt;
    const std::string& digits = values.front();
    std::uint64_t length = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (error == std::errc::result_out_of_range) return std::numeric_limits<std::uint64_t>::max();
    return length;
}

std::shared_ptr<HTTPServerRequest> make_request(const HeaderList& fields,
                                                const std::string& remote_address) {
    PseudoHeaders pseudo;
    HTTPHeaders headers;
    std::string cookies;
    bool regular_seen = false;
    for (const auto& [name, value] : fields) {
        if (name.starts_with(':')) {
            if (regular_seen) malformed("pseudo-header '" + name + "' after a regular field");
            take_pseudo_header(name, value, pseudo);
            continue;
        }
        regular_seen = true;
        check_field(name, value);
        // Cookies may come split into one field each (section 8.2.3); an
        // application expects the one HTTP/1.1 header, joined with "; ".
        if (name == "cookie") {
            cookies += (cookies.empty() ? "" : "; ") + value;
            continue;
        }
        headers.add(name, value);
    }
    check_pseudo_headers(pseudo);
    check_content_length(headers);
    if (!cookies.empty()) headers.add("cookie", cookies);
    // :authority is HTTP/2's Host; an application reads Host.
    if (!pseudo.authority.empty()) headers.set("host", pseudo.authority);

    auto request = std::make_shared<HTTPServerRequest>();
    request->method = pseudo.method;
    request->uri = pseudo.path;
    std::size_t question = request->uri.find('?');
    request->path = request->uri.substr(0, question);
    request->query = question == std::string::npos ? "" : request->uri.substr(question + 1);
    request->version = "HTTP/2.0";
    request->headers = std::move(headers);
    request->remote_address = remote_address;
    request->remote_ip = remote_address.substr(0, remote_address.rfind(':'));
    request->query_arguments = parse_query(request->query);
    return request;
}

void check_trailers(const HeaderList& fields) {
    for (const auto& [name, value] : fields) {
        if (name.starts_with(':')) malformed("pseudo-header '" + name + "' in trailers");
        check_field(name, value);
    }
}

}  // namespace course::http2
