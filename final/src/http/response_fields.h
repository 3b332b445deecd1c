// response_fields.h: a response's header fields as HTTP/2 and HTTP/3 send
// them (not installed; final/http2's and final/http3's). A field is
// final/http2's HPACKField (a name and a value as views) or nghttp3's
// nghttp3_nv (the same by pointer and length, and flags). Both sessions
// code or copy the bytes when a response or its trailers are submitted, so
// the fields here need to live only until then.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/text.h"
#include "tornado/httputil.h"
#include "tornado/log.h"

namespace tornado::detail {

// Fields a message must not carry over HTTP/2 or HTTP/3 (RFC 9113 section
// 8.2.2, RFC 9114 section 4.2): HTTP/1's hop-by-hop framing.
inline bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade";
}

// A field of either kind (nghttp3's pointers are not const in its API,
// but it writes nothing).
template <typename Field>
Field make_field(std::string_view name, std::string_view value) {
    if constexpr (requires { Field{name, value}; }) {
        return Field{name, value};
    } else {
        return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                value.size(), 0};
    }
}

// A response's HEADERS: :status, the application's fields with their names
// lowered (both protocols want lower case), then server, alt-svc and date
// unless the application gave them (an empty server_header or alt_svc:
// none). The lowered names and the status digits are written one after
// another into a buffer sized first, so that the views into it stay put.
//
// The buffer and the list are kept from one response to the next, so that
// after the first few responses they allocate nothing; per thread, as a
// loop is. So the result is good until this thread's next call: long
// enough to submit it.
template <typename Field>
std::span<const Field> response_fields(int code, const HTTPHeaders& headers,
                                       std::string_view server_header, std::string_view alt_svc) {
    thread_local std::string text;
    thread_local std::vector<Field> fields;
    // Three digits, as HTTP/1.1's status line has (HTTP1Connection refuses
    // the same codes).
    if (code < 100 || code > 999)
        throw std::invalid_argument(tornado::format("bad status code {}", code));
    constexpr std::size_t kStatusDigits = 3;
    std::size_t name_bytes = 0;
    for (HTTPHeaders::Field header : headers) name_bytes += header.name.size();
    text.clear();
    text.reserve(kStatusDigits + name_bytes);
    fields.clear();
    fields.reserve(headers.size() + 4);

    char digits[kStatusDigits];
    text.append(digits, std::to_chars(digits, digits + kStatusDigits, code).ptr);
    fields.push_back(make_field<Field>(":status", text));
    bool has_server = false;
    bool has_date = false;
    bool has_alt_svc = false;
    for (HTTPHeaders::Field header : headers) {
        std::size_t at = text.size();
        text.append(header.name);  // then lowered in place: no push_back per byte
        char* lowered = text.data() + at;
        for (std::size_t i = 0; i < header.name.size(); ++i) lowered[i] = ascii_lower(lowered[i]);
        std::string_view name(lowered, header.name.size());
        if (connection_specific(name)) {
            text.resize(at);
            continue;
        }
        has_server = has_server || name == "server";
        has_date = has_date || name == "date";
        has_alt_svc = has_alt_svc || name == "alt-svc";
        fields.push_back(make_field<Field>(name, header.value));
    }
    if (!has_server && !server_header.empty())
        fields.push_back(make_field<Field>("server", server_header));
    if (!has_alt_svc && !alt_svc.empty()) fields.push_back(make_field<Field>("alt-svc", alt_svc));
    // http_date_now's text is good until this thread's next second.
    if (!has_date) fields.push_back(make_field<Field>("date", http_date_now()));
    return fields;
}

// Trailers kept as name, value, name, value... (lowered already).
template <typename Field>
std::vector<Field> trailer_fields(const std::vector<std::string>& names_and_values) {
    std::vector<Field> fields;
    fields.reserve(names_and_values.size() / 2);
    for (std::size_t i = 0; i + 1 < names_and_values.size(); i += 2) {
        fields.push_back(make_field<Field>(names_and_values[i], names_and_values[i + 1]));
    }
    return fields;
}

}  // namespace tornado::detail
