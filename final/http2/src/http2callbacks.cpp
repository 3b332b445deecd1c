// http2callbacks.cpp: what the session calls (http2callbacks.h).
#include "http2callbacks.h"

#include <exception>
#include <memory>

#include "http2stream.h"
#include "tornado/log.h"

namespace tornado {

using detail::HTTP2ErrorCode;

// Nothing thrown may reach the session, which would be left in the middle
// of a frame. One thrown while a stream's frame is read (a header
// HTTPHeaders refuses, memory) resets that stream; one thrown with no
// stream to blame fails the connection.
template <typename Work>
bool HTTP2Callbacks::guarded(HTTP2Stream* stream, Work&& work) noexcept {
    try {
        work();
        return true;
    } catch (...) {
        gen_log.warning("HTTP/2 from {}: {}", connection_.context_.remote_ip,
                        describe_exception(std::current_exception()));
        if (stream != nullptr) {
            stream->reset(HTTP2ErrorCode::internal_error);
        } else {
            connection_.fail(HTTP2ErrorCode::internal_error);
        }
        return false;
    }
}

void HTTP2Callbacks::on_stream_open(std::uint32_t id) noexcept {
    guarded(nullptr, [&] {
        connection_.streams_.emplace(
            id, std::make_shared<HTTP2Stream>(connection_.shared_from_this(), id));
        connection_.cancel_timeout();  // not idle
    });
}

void HTTP2Callbacks::on_field(std::uint32_t id, std::string_view name,
                              std::string_view value) noexcept {
    HTTP2Stream* target = connection_.find_stream(id);
    if (target == nullptr) return;
    guarded(target, [&] { target->add_field(name, value); });
}

void HTTP2Callbacks::on_request(std::uint32_t id) noexcept {
    if (connection_.find_stream(id) == nullptr) return;
    guarded(nullptr, [&] { connection_.events_.push_back({Kind::request, id}); });
}

void HTTP2Callbacks::on_data(std::uint32_t id, std::string_view data) noexcept {
    HTTP2Stream* target = connection_.find_stream(id);
    if (target == nullptr) {  // a stream already over: its bytes are the connection's again
        connection_.session_->consume(id, data.size());
        return;
    }
    guarded(target, [&] {
        target->add_body(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
        connection_.events_.push_back({Kind::body, id});
    });
}

void HTTP2Callbacks::on_request_end(std::uint32_t id) noexcept {
    HTTP2Stream* target = connection_.find_stream(id);
    if (target == nullptr) return;
    guarded(target, [&] {
        target->end_of_request();
        connection_.events_.push_back({Kind::end, id});
    });
}

// A close that cannot be recorded fails the connection: its end, which
// then comes at once, tells every stream still open.
void HTTP2Callbacks::on_stream_close(std::uint32_t id, HTTP2ErrorCode code) noexcept {
    if (connection_.find_stream(id) == nullptr) return;
    guarded(nullptr, [&] { connection_.events_.push_back({Kind::closed, id, code}); });
}

HTTP2Callbacks::Body HTTP2Callbacks::body_ready(std::uint32_t id, std::size_t most) noexcept {
    HTTP2Stream* target = connection_.find_stream(id);
    if (target == nullptr) return {0, true};
    return target->body_ready(most);
}

void HTTP2Callbacks::take_body(std::uint32_t id, detail::HTTP2FrameBatch& batch,
                               std::size_t length) noexcept {
    if (HTTP2Stream* target = connection_.find_stream(id)) target->send_data(batch, length);
}

}  // namespace tornado
