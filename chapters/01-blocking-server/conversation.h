// conversation.h: what every server in chapters 01-03 says, with no I/O in it.
//
// A Conversation is fed the bytes one connection received and answers with
// the bytes to send back. It never touches a socket, so the blocking server,
// the select() server and the epoll server can all share it: those chapters
// differ only in *how* they move bytes, which is the lesson.
//
// It speaks two protocols, chosen by the first line the peer sends:
//
//   GET /any/path HTTP/1.1       a request line: minimal HTTP/1.1. Every
//   Host: x                      request gets "Hello, world", keep-alive by
//   <empty line>                 default (so a load tool such as wrk can
//                                drive every server in the course).
//
//   anything else                a line echo: each line comes back as is.
//
//   peer bytes ──► receive(bytes) ──► reply bytes
//                      │
//                      └─ finished(): the connection should now be closed
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace course {

class Conversation {
public:
    // Lines (an HTTP header, an echo line) longer than this end the
    // conversation: a peer must not make us buffer without limit.
    static constexpr std::size_t kMaxLineLength = 8192;

    // Takes the next bytes from the peer, in pieces of any size (one byte,
    // half a line, three pipelined requests), and returns what to send back.
    std::string receive(std::string_view bytes);

    // True when the server should close once the reply is sent: the peer
    // asked for it (Connection: close, HTTP/1.0) or broke a rule.
    // Once finished, receive() ignores further bytes and returns "".
    bool finished() const { return finished_; }

    // Bytes received but not yet used (the start of a line). Never more than
    // kMaxLineLength plus one receive() call's worth.
    std::size_t buffered_bytes() const { return pending_.size(); }

private:
    enum class Mode { Undecided, Echo, Http };
    // What the request's Connection header asked for, if anything.
    enum class ConnectionHeader { Absent, Close, KeepAlive };

    void on_line(std::string_view line, std::string& reply);
    void on_http_line(std::string_view line, std::string& reply);
    void start_http_request(std::string_view request_line);
    void answer_http_request(std::string& reply);
    void refuse(std::string_view why, std::string& reply);

    Mode mode_ = Mode::Undecided;
    std::string pending_;           // bytes received but not yet a full line
    bool finished_ = false;

    // The HTTP request being read.
    bool request_started_ = false;  // request line seen, headers not ended
    bool http_1_0_ = false;
    bool head_request_ = false;
    ConnectionHeader connection_header_ = ConnectionHeader::Absent;
    std::size_t body_bytes_to_skip_ = 0;
    bool reading_body_ = false;
};

}  // namespace course
