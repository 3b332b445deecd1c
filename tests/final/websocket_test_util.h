// websocket_test_util.h: what the WebSocket tests share: an Application
// served on its own thread, and a blocking raw-bytes WebSocket client that
// sends exactly the frames a test writes (masked or not, fragmented,
// broken) and reads frames one by one.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_test_util.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace tornado::testing {

// An Application (made on the server's thread) on 127.0.0.1, port 0.
inline ServerThread serve_app(std::function<std::vector<URLSpec>()> routes, ApplicationSettings settings = {}) {
    return ServerThread([routes = std::move(routes), settings = std::move(settings)] {
        return std::make_unique<HTTPServer>(std::make_shared<Application>(routes(), settings));
    });
}

// "GET path HTTP/1.1" with the handshake's headers; `extra` lines go after.
inline std::string handshake_request(std::string_view path, std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==",
                                     std::string_view extra = "") {
    return "GET " + std::string(path) +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " +
           std::string(key) + "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) + "\r\n";
}

struct Frame {
    bool fin = true;
    bool rsv1 = false;
    websocket_protocol::Opcode opcode = websocket_protocol::Opcode::text;
    std::string payload;

    // A close frame's code (0: none) and reason.
    int close_code() const {
        if (payload.size() < 2) return 0;
        return (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
    }
    std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : ""; }
};

// A raw WebSocket client over RawClient: the test decides every byte.
class RawWebSocket {
public:
    using Opcode = websocket_protocol::Opcode;

    // Connects and does the handshake (101 expected, Accept checked).
    RawWebSocket(std::uint16_t port, std::string_view path, std::string_view extra_headers = "")
        : client_(port) {
        client_.send(handshake_request(path, kKey, extra_headers));
        handshake = client_.read_response();
        if (handshake.status != 101) {
            throw std::runtime_error("handshake answered " + std::to_string(handshake.status) + ": " +
                                     handshake.body);
        }
        if (handshake.header("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
            throw std::runtime_error("wrong Sec-WebSocket-Accept");
        }
    }

    // One frame, masked like a browser's unless told otherwise.
    void send_frame(Opcode opcode, std::string_view payload, bool fin = true, bool masked = true, bool rsv1 = false) {
        std::string frame;
        std::array<char, 4> mask = {'\x12', '\x34', '\x56', '\x78'};
        websocket_protocol::append_frame(frame, opcode, payload, fin, rsv1, masked ? &mask : nullptr);
        client_.send(frame);
    }
    void send_text(std::string_view text) { send_frame(Opcode::text, text); }
    void send_close(int code, std::string_view reason = "") {
        std::string payload;
        payload += static_cast<char>(code >> 8);
        payload += static_cast<char>(code & 0xff);
        payload += reason;
        send_frame(Opcode::close, payload);
    }
    void send_raw(std::string_view bytes) { client_.send(bytes); }

    // The next frame; the server's must not be masked.
    Frame read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::string head = client_.read_exactly(2, timeout);
        Frame frame;
        auto first = static_cast<std::uint8_t>(head[0]);
        auto second = static_cast<std::uint8_t>(head[1]);
        frame.fin = (first & 0x80) != 0;
        frame.rsv1 = (first & 0x40) != 0;
        frame.opcode = static_cast<Opcode>(first & 0x0f);
        if ((second & 0x80) != 0) throw std::runtime_error("the server masked a frame");
        std::uint64_t length = second & 0x7f;
        if (length >= 126) {
            std::string extended = client_.read_exactly(length == 126 ? 2 : 8, timeout);
            length = 0;
            for (char c : extended) length = (length << 8) | static_cast<std::uint8_t>(c);
        }
        frame.payload = client_.read_exactly(static_cast<std::size_t>(length), timeout);
        return frame;
    }
    // The next data message, fragments joined (pings and pongs skipped).
    std::string read_message(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::string message;
        for (;;) {
            Frame frame = read_frame(timeout);
            if (frame.opcode == Opcode::ping || frame.opcode == Opcode::pong) continue;
            if (frame.opcode == Opcode::close) {
                throw std::runtime_error("expected a data frame, got opcode " +
                                         std::to_string(static_cast<int>(frame.opcode)));
            }
            message += frame.payload;
            if (frame.fin) return message;
        }
    }
    // The server's close frame, then the end of the connection.
    Frame read_close(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        Frame frame = read_frame(timeout);
        if (frame.opcode != Opcode::close) {
            throw std::runtime_error("expected a close frame, got opcode " +
                                     std::to_string(static_cast<int>(frame.opcode)) + ": " + frame.payload);
        }
        return frame;
    }
    bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        return client_.closed_by_server(timeout);
    }
    bool quiet_for(std::chrono::milliseconds wait) { return client_.quiet_for(wait); }
    RawClient& raw() { return client_; }

    Response handshake;

private:
    static constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455's example
    RawClient client_;
};

}  // namespace tornado::testing
