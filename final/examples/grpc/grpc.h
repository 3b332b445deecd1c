// grpc.h: gRPC served by final/'s RequestHandlers, over HTTP/2 (final/http2).
//
// A gRPC call is an HTTP/2 POST to /package.Service/Method with the
// content-type application/grpc. Each body, the client's and the
// server's, is a row of messages, each framed as
//
//   1 byte: compressed (1) or not (0) | 4 bytes: its length, big-endian | the message
//
// and the call's outcome comes last, in trailers: grpc-status (0 is OK)
// and grpc-message. A client may give a deadline (grpc-timeout: "100m" is
// 100 ms); when it passes, the server ends the call with
// DEADLINE_EXCEEDED. That is all of gRPC a server needs beside protobuf,
// which encodes the messages (numbers.proto; this file only moves bytes).
//
// Each method is a coroutine that reads and sends messages through its
// call and returns (OK) or throws GrpcError(status, message):
//
//   tornado::Task<void> square(std::shared_ptr<GrpcHandler> call) {
//       numbers::Number n = co_await receive_one<numbers::Number>(call);
//       numbers::Number squared;
//       squared.set_value(n.value() * n.value());
//       co_await send(*call, squared);
//   }
//
//   {"/numbers.Numbers/Square", tornado::handler<GrpcHandler>(&square)},
//
// A call's life, one enum (CallState):
//
//   receiving ─the client's last message─► received ─status sent─► over
//       └──────────── status sent (the method ended, the deadline passed),
//                     or the client cancelled ──────────────────────┘
//
// Once the call is over, what the method still tries (read, send) fails
// with GrpcCallOver, which ends the method's coroutine without a word:
// that is how a deadline, or a client that cancels, stops a handler. A
// send() already on its way when the client cancels fails with the
// stream's StreamClosedError, which ends the call without a word too.
//
// Flow control both ways: send()'s Future resolves once HTTP/2's windows
// have taken the message; and while more than kInboxLimit bytes of
// messages wait unread, the handler takes no more of the body, so the
// client's window stays shut (data_received_async).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tornado/web.h"

// gRPC's status codes (grpc/doc/statuscodes.md), the ones this server gives.
enum class GrpcStatus : int {
    ok = 0,
    cancelled = 1,
    unknown = 2,
    invalid_argument = 3,
    deadline_exceeded = 4,
    resource_exhausted = 8,
    out_of_range = 11,
    unimplemented = 12,
    internal = 13,
    unavailable = 14,
};

// Thrown by a method (or by this layer) to end the call with `status`.
class GrpcError : public std::runtime_error {
public:
    GrpcError(GrpcStatus status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    GrpcStatus status() const noexcept { return status_; }

private:
    GrpcStatus status_;
};

// What read() and send() fail with once the call is over.
class GrpcCallOver : public std::runtime_error {
public:
    GrpcCallOver() : std::runtime_error("the gRPC call is over") {}
};

class GrpcHandler;
// A method: a coroutine given its call.
using GrpcMethod = tornado::Task<void> (*)(std::shared_ptr<GrpcHandler> call);

// One gRPC call (the file comment says how it runs).
class GrpcHandler final : public tornado::RequestHandler {
public:
    // A message longer than this ends the call with RESOURCE_EXHAUSTED
    // (gRPC's default limit for a message received).
    static constexpr std::size_t kMaxMessage = 4 * 1024 * 1024;
    // Unread messages past this many bytes: no more of the body is taken.
    // A message counts what keeping it costs, its string too: a flood of
    // empty messages is held back as a few large ones are.
    static constexpr std::size_t kInboxLimit = 256 * 1024;
    static constexpr std::size_t inbox_cost(std::size_t length) noexcept {
        return sizeof(std::string) + length;
    }

    // The route's method; nullptr answers UNIMPLEMENTED (the catch-all route).
    void initialize(GrpcMethod method) { method_ = method; }

    // For the method. The next message, or nothing once the client has
    // sent its last; fails with GrpcCallOver once the call is over. One
    // read at a time (std::logic_error while another waits).
    tornado::Future<std::optional<std::string>> read();
    // Sends one message (a protobuf's bytes); resolves once the peer's
    // windows have taken it, fails with GrpcCallOver once the call is over.
    tornado::Future<void> send(std::string_view message);

    // --- RequestHandler ---
    bool stream_request_body() const override { return true; }
    void prepare() override;
    tornado::Future<void> data_received_async(std::string chunk) override;
    // The body is over: the client has sent its last message.
    void post(const tornado::PathArgs& args) override;
    void on_connection_close() override;
    void on_finish() override;

private:
    enum class CallState : std::uint8_t { receiving, received, over };

    void start_deadline(std::string_view grpc_timeout);
    void run(GrpcMethod method);
    // The only way to `over` but the client's cancel: sends the status.
    void end_call(GrpcStatus status, const std::string& message);
    // Leaves for `over`: what waits (a read, the body's room) hears of it.
    void become_over();
    void take_messages();
    void answer_reader();

    GrpcMethod method_ = nullptr;
    CallState state_ = CallState::receiving;
    std::string unframed_;  // body bytes not yet a whole message
    std::deque<std::string> inbox_;
    std::size_t inbox_bytes_ = 0;  // inbox_cost() of each message in it
    tornado::Future<std::optional<std::string>> reader_{nullptr};  // the last read()'s
    tornado::Future<void> room_{nullptr};  // the body waits for the inbox to empty
    std::optional<tornado::IOLoop::Timeout> deadline_;
};

// Typed helpers over protobuf messages (anything with ParseFromString and
// SerializeToString). A message that does not parse ends the call with
// INVALID_ARGUMENT.
template <typename Message>
tornado::Task<std::optional<Message>> receive(std::shared_ptr<GrpcHandler> call) {
    std::optional<std::string> bytes = co_await call->read();
    if (!bytes) co_return std::nullopt;
    Message message;
    if (!message.ParseFromString(*bytes))
        throw GrpcError(GrpcStatus::invalid_argument, "the request message does not parse");
    co_return message;
}

// A unary or server-streaming method's request: exactly one message.
template <typename Message>
tornado::Task<Message> receive_one(std::shared_ptr<GrpcHandler> call) {
    std::optional<Message> message = co_await receive<Message>(call);
    if (!message) throw GrpcError(GrpcStatus::internal, "no request message");
    if (co_await call->read())
        throw GrpcError(GrpcStatus::internal, "more than one request message");
    co_return std::move(*message);
}

template <typename Message>
tornado::Future<void> send(GrpcHandler& call, const Message& message) {
    std::string bytes;
    message.SerializeToString(&bytes);
    return call.send(bytes);
}
