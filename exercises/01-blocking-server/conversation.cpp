// conversation.cpp: the echo / hello-HTTP protocol as a byte-driven state
// machine. See conversation.h.
//
// EXERCISE (chapter 01): answer_http_request() is cut out below, marked
// TODO(task 5); exercises/01-blocking-server/README.md describes the task.
#include "conversation.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace course {

namespace {

[[maybe_unused]] const std::string_view kHelloBody = "Hello, world";  // for task 5

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    return std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// "GET /path HTTP/1.1": an upper-case method, a target, and the version.
bool looks_like_request_line(std::string_view line) {
    std::size_t first_space = line.find(' ');
    std::size_t last_space = line.rfind(' ');
    if (first_space == 0 || first_space == std::string_view::npos || first_space == last_space) {
        return false;
    }
    std::string_view method = line.substr(0, first_space);
    bool method_ok = std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    std::string_view version = line.substr(last_space + 1);
    return method_ok && (version == "HTTP/1.1" || version == "HTTP/1.0");
}

}  // namespace

std::string Conversation::receive(std::string_view bytes) {
    std::string reply;
    // After the end, keeping what a peer still sends would only let it fill
    // our memory.
    if (finished_) return reply;
    pending_.append(bytes.data(), bytes.size());
    std::size_t consumed = 0;
    while (!finished_) {
        std::string_view unread = std::string_view(pending_).substr(consumed);
        if (reading_body_) {
            // A request body is not lines: skip exactly Content-Length bytes.
            std::size_t skip = std::min(body_bytes_to_skip_, unread.size());
            consumed += skip;
            body_bytes_to_skip_ -= skip;
            if (body_bytes_to_skip_ > 0) break;
            reading_body_ = false;
            answer_http_request(reply);
            continue;
        }
        std::size_t newline = unread.find('\n');
        if (newline == std::string_view::npos) {
            if (unread.size() > kMaxLineLength) refuse("line too long", reply);
            break;
        }
        if (newline > kMaxLineLength) {
            refuse("line too long", reply);
            break;
        }
        on_line(unread.substr(0, newline + 1), reply);
        consumed += newline + 1;
    }
    // Erase what was used once per call, not once per line, so that many
    // small pipelined requests do not cost a copy each.
    pending_.erase(0, consumed);
    if (finished_) {
        pending_.clear();
        pending_.shrink_to_fit();
    }
    return reply;
}

void Conversation::on_line(std::string_view line, std::string& reply) {
    if (mode_ == Mode::Undecided) {
        std::string_view text = line.substr(0, line.find_first_of("\r\n"));
        mode_ = looks_like_request_line(text) ? Mode::Http : Mode::Echo;
    }
    if (mode_ == Mode::Echo) {
        reply.append(line);
    } else {
        on_http_line(line.substr(0, line.find_first_of("\r\n")), reply);
    }
}

void Conversation::on_http_line(std::string_view line, std::string& reply) {
    if (!request_started_) {
        if (line.empty()) return;  // RFC 9112: ignore blank lines before a request
        if (!looks_like_request_line(line)) {
            refuse("bad request line", reply);
            return;
        }
        start_http_request(line);
        return;
    }
    if (!line.empty()) {
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            refuse("bad header line", reply);
            return;
        }
        std::string_view name = line.substr(0, colon);
        std::string_view value = trim(line.substr(colon + 1));
        if (starts_with_ignoring_case(name, "connection") && name.size() == 10) {
            if (starts_with_ignoring_case(value, "close")) {
                connection_header_ = ConnectionHeader::Close;
            } else if (starts_with_ignoring_case(value, "keep-alive")) {
                connection_header_ = ConnectionHeader::KeepAlive;
            }
        } else if (starts_with_ignoring_case(name, "content-length") && name.size() == 14) {
            auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), body_bytes_to_skip_);
            if (error != std::errc() || end != value.data() + value.size()) {
                refuse("bad Content-Length", reply);
            }
        } else if (starts_with_ignoring_case(name, "transfer-encoding") && name.size() == 17) {
            refuse("Transfer-Encoding is not supported here (see chapter 05)", reply);
        }
        return;
    }
    // The empty line ends the headers.
    request_started_ = false;
    if (body_bytes_to_skip_ > 0) {
        reading_body_ = true;
    } else {
        answer_http_request(reply);
    }
}

void Conversation::start_http_request(std::string_view request_line) {
    request_started_ = true;
    head_request_ = request_line.substr(0, 5) == "HEAD ";
    http_1_0_ = request_line.substr(request_line.size() - 8) == "HTTP/1.0";
    connection_header_ = ConnectionHeader::Absent;
    body_bytes_to_skip_ = 0;
}

void Conversation::answer_http_request(std::string& reply) {
    // TODO(task 5): append to `reply` (never replace it: pipelined replies
    // share it) the 200 OK answer to the request just read, with kHelloBody
    // (none for HEAD). Keep-alive: HTTP/1.1 stays open unless the request said
    // "Connection: close", HTTP/1.0 only if it said "Connection: keep-alive".
    // A reply that closes says so and sets finished_; an HTTP/1.0 one that
    // stays open says "Connection: keep-alive". Exact bytes: the README's
    // task 5 and tests/01-blocking-server/conversation_test.cpp.
    // Hint: make hint CH=01 TASK=5.
    (void)reply;
    throw std::logic_error("TODO(task 5): answer_http_request");
}

void Conversation::refuse(std::string_view why, std::string& reply) {
    if (mode_ == Mode::Http) {
        std::string body = "400 Bad Request: " + std::string(why) + "\n";
        reply += "HTTP/1.1 400 Bad Request\r\n"
                 "Content-Type: text/plain\r\n"
                 "Connection: close\r\n"
                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    } else {
        reply += "error: " + std::string(why) + "\n";
    }
    finished_ = true;
}

}  // namespace course
