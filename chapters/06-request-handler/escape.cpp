// escape.cpp: see escape.h.
#include "escape.h"

#include <cstdio>

#include "httputil.h"

namespace course {

namespace {

bool is_unreserved(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-' || c == '~';
}

std::string percent_escape(char c) {
    char escaped[4];
    std::snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
    return escaped;
}

// "x=1&y=b+c": what Python's urlencode makes of pairs.
std::string urlencode(const QueryPairs& pairs) {
    std::string query;
    for (const auto& [name, value] : pairs) {
        if (!query.empty()) query += '&';
        query += url_escape(name) + "=" + url_escape(value);
    }
    return query;
}

}  // namespace

std::string xhtml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string url_escape(std::string_view text, bool plus) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (is_unreserved(c) || (c == '/' && !plus)) {
            out += c;
        } else if (c == ' ' && plus) {
            out += '+';
        } else {
            out += percent_escape(c);
        }
    }
    return out;
}

std::string json_encode(std::string_view text) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '/': out += i > 0 && text[i - 1] == '<' ? "\\/" : "/"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
                out += escaped;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

QueryPairs parse_qsl(std::string_view query) {
    QueryPairs pairs;
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view field = query.substr(0, amp);
        query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
        if (field.empty()) continue;
        std::size_t equals = field.find('=');
        pairs.emplace_back(url_unescape(field.substr(0, equals)),
                           equals == std::string_view::npos
                               ? ""
                               : url_unescape(field.substr(equals + 1)));
    }
    return pairs;
}

std::string url_concat(std::string_view url, const QueryPairs& args) {
    if (args.empty()) return std::string(url);
    std::size_t hash = url.find('#');
    std::string_view fragment = hash == std::string_view::npos ? "" : url.substr(hash);
    url = url.substr(0, hash);
    std::size_t question = url.find('?');
    QueryPairs pairs;
    if (question != std::string_view::npos) pairs = parse_qsl(url.substr(question + 1));
    pairs.insert(pairs.end(), args.begin(), args.end());
    return std::string(url.substr(0, question)) + "?" + urlencode(pairs) + std::string(fragment);
}

}  // namespace course
