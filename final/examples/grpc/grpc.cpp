// grpc.cpp: see grpc.h.
#include "grpc.h"

#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include "tornado/escape.h"
#include "tornado/iostream.h"
#include "tornado/log.h"

namespace {

// grpc-timeout: at most 8 digits and a unit (PROTOCOL-HTTP2.md in gRPC's
// documentation). Nothing when the value is malformed.
std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view value) {
    if (value.size() < 2 || value.size() > 9) return std::nullopt;
    std::int64_t amount = 0;
    for (char digit : value.substr(0, value.size() - 1)) {
        if (digit < '0' || digit > '9') return std::nullopt;
        amount = amount * 10 + (digit - '0');
    }
    switch (value.back()) {
        case 'H': return std::chrono::hours(amount);
        case 'M': return std::chrono::minutes(amount);
        case 'S': return std::chrono::seconds(amount);
        case 'm': return std::chrono::milliseconds(amount);
        case 'u': return std::chrono::microseconds(amount);
        case 'n': return std::chrono::nanoseconds(amount);
        default: return std::nullopt;
    }
}

std::uint32_t big_endian_length(std::string_view bytes) {
    std::uint32_t length = 0;
    for (char byte : bytes.substr(0, 4)) length = (length << 8) | static_cast<std::uint8_t>(byte);
    return length;
}

}  // namespace

// gRPC answers an HTTP request that is not a gRPC call with an HTTP
// status (415 for another content-type); a gRPC call that cannot be served
// gets a gRPC status instead.
void GrpcHandler::prepare() {
    if (request().method != "POST") throw tornado::HTTPError(405);
    if (!request().headers.get_first("Content-Type").starts_with("application/grpc"))
        throw tornado::HTTPError(415, "a gRPC call's content-type is application/grpc");
    if (request().version != "HTTP/2.0") throw tornado::HTTPError(505, "gRPC needs HTTP/2");
    set_header("Content-Type", "application/grpc");
    // From here the call holds the handler, until it is over.
    asynchronous();
    if (method_ == nullptr) {
        end_call(GrpcStatus::unimplemented, "unknown method " + request().path);
        return;
    }
    if (std::string_view timeout = request().headers.get_first("grpc-timeout"); !timeout.empty()) {
        start_deadline(timeout);
        if (state_ == CallState::over) return;
    }
    run(method_);
}

void GrpcHandler::start_deadline(std::string_view grpc_timeout) {
    std::optional<std::chrono::nanoseconds> timeout = parse_grpc_timeout(grpc_timeout);
    if (!timeout) {
        end_call(GrpcStatus::internal, "malformed grpc-timeout: " + std::string(grpc_timeout));
        return;
    }
    auto self = std::static_pointer_cast<GrpcHandler>(shared_from_this());
    deadline_ = tornado::IOLoop::current().call_later(*timeout, [self] {
        self->deadline_.reset();
        self->end_call(GrpcStatus::deadline_exceeded, "Deadline Exceeded");
    });
}

// The method's coroutine runs on its own; its end ends the call, unless
// the call ended first (then its GrpcCallOver is the expected way out).
void GrpcHandler::run(GrpcMethod method) {
    auto self = std::static_pointer_cast<GrpcHandler>(shared_from_this());
    tornado::Future<void> done = method(self);
    done.add_done_callback([self](tornado::Future<void> ended) {
        std::exception_ptr error = ended.exception();
        if (!error) {
            self->end_call(GrpcStatus::ok, "");
            return;
        }
        try {
            std::rethrow_exception(error);
        } catch (const GrpcCallOver&) {
        } catch (const GrpcError& failure) {
            self->end_call(failure.status(), failure.what());
        } catch (const tornado::StreamClosedError& failure) {
            // A send() whose message was on its way when the client
            // cancelled or left: the stream closed before on_connection_close
            // said so. Not the method's error, as RequestHandler treats it;
            // if the client is still there (another stream closed), it
            // learns that the call could not go on.
            self->end_call(GrpcStatus::unavailable, failure.what());
        } catch (const std::exception& failure) {
            tornado::app_log.error("Uncaught exception in gRPC method {}: {}", self->request().path,
                                   failure.what());
            self->end_call(GrpcStatus::unknown, failure.what());
        }
    });
}

tornado::Future<std::optional<std::string>> GrpcHandler::read() {
    if (reader_.valid() && !reader_.done())
        throw std::logic_error("GrpcHandler: read() while another read() waits");
    reader_ = tornado::Future<std::optional<std::string>>();
    tornado::Future<std::optional<std::string>> next = reader_;
    answer_reader();
    return next;
}

tornado::Future<void> GrpcHandler::send(std::string_view message) {
    if (state_ == CallState::over) {
        tornado::Future<void> failed;
        failed.set_exception(std::make_exception_ptr(GrpcCallOver()));
        return failed;
    }
    std::string frame(5, '\0');
    std::uint32_t length = static_cast<std::uint32_t>(message.size());
    for (int i = 0; i < 4; ++i) frame[4 - i] = static_cast<char>((length >> (8 * i)) & 0xff);
    frame.append(message);
    write(frame);
    return flush();
}

tornado::Future<void> GrpcHandler::data_received_async(std::string chunk) {
    if (state_ != CallState::receiving) return tornado::Future<void>(nullptr);
    unframed_.append(chunk);
    try {
        take_messages();
    } catch (const GrpcError& failure) {
        end_call(failure.status(), failure.what());
        return tornado::Future<void>(nullptr);
    }
    answer_reader();
    if (inbox_bytes_ <= kInboxLimit) return tornado::Future<void>(nullptr);
    room_ = tornado::Future<void>();
    return room_;
}

// Whole messages from the front of the body bytes, into the inbox.
void GrpcHandler::take_messages() {
    std::size_t at = 0;
    while (unframed_.size() - at >= 5) {
        std::string_view header(unframed_.data() + at, 5);
        if (header[0] != 0)
            throw GrpcError(GrpcStatus::unimplemented, "compressed messages are not supported");
        std::uint32_t length = big_endian_length(header.substr(1));
        if (length > kMaxMessage)
            throw GrpcError(GrpcStatus::resource_exhausted,
                            "a message of " + std::to_string(length) + " bytes is over the limit");
        if (unframed_.size() - at - 5 < length) break;
        inbox_.push_back(unframed_.substr(at + 5, length));
        inbox_bytes_ += inbox_cost(length);
        at += 5 + length;
    }
    unframed_.erase(0, at);
}

// Resolves the read() that waits, if there is an answer for it now: the
// next message, the end of the messages, or the call's end.
void GrpcHandler::answer_reader() {
    if (!reader_.valid() || reader_.done()) return;
    if (state_ == CallState::over) {
        reader_.set_exception(std::make_exception_ptr(GrpcCallOver()));
    } else if (!inbox_.empty()) {
        inbox_bytes_ -= inbox_cost(inbox_.front().size());
        reader_.set_result(std::move(inbox_.front()));
        inbox_.pop_front();
        // Room again: the body may come on.
        if (inbox_bytes_ <= kInboxLimit && room_.valid() && !room_.done()) room_.set_result();
    } else if (state_ == CallState::received) {
        reader_.set_result(std::nullopt);
    }
}

void GrpcHandler::post(const tornado::PathArgs&) {
    if (state_ != CallState::receiving) return;
    if (!unframed_.empty()) {
        end_call(GrpcStatus::internal, "the last message is cut short");
        return;
    }
    state_ = CallState::received;
    answer_reader();
}

// The client cancelled (RST_STREAM) or left: nobody to answer.
void GrpcHandler::on_connection_close() { become_over(); }

void GrpcHandler::on_finish() { become_over(); }

void GrpcHandler::end_call(GrpcStatus status, const std::string& message) {
    if (state_ == CallState::over) return;
    become_over();
    if (finished()) return;
    set_trailer("grpc-status", std::to_string(static_cast<int>(status)));
    // Percent-encoded, as gRPC wants (the message may hold any text).
    if (!message.empty()) set_trailer("grpc-message", tornado::url_escape(message, false));
    finish();
}

void GrpcHandler::become_over() {
    if (state_ == CallState::over) return;
    state_ = CallState::over;
    if (deadline_) tornado::IOLoop::current().remove_timeout(*std::exchange(deadline_, {}));
    inbox_.clear();
    inbox_bytes_ = 0;
    answer_reader();
    if (room_.valid() && !room_.done()) room_.set_result();
}
