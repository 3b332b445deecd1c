// http2callbacks.h: what the connection's session (http2session.h) calls
// while HTTP2ServerConnection hands it the bytes it read (receive) or takes
// the frames it has to send (send). The add-on's own header, not installed.
//
// The callbacks only record what came, into its stream and into the
// connection's queue of events, which the connection dispatches once the
// session has returned: no application code runs inside the session.
// When something is wrong they take one of the two ways out, both of
// which only tell the session, so that they are safe here: a stream's
// HTTP2Stream::reset(code), or the connection's fail(code).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http2session.h"
#include "tornado/http2.h"

namespace tornado {

class HTTP2Stream;

// A friend of HTTP2ServerConnection: its callbacks reach the connection's
// streams and its queue of events.
class HTTP2Callbacks final : public detail::HTTP2Session::Listener {
public:
    explicit HTTP2Callbacks(HTTP2ServerConnection& connection) : connection_(connection) {}

    void on_stream_open(std::uint32_t id) noexcept override;
    void on_field(std::uint32_t id, std::string_view name,
                  std::string_view value) noexcept override;
    void on_request(std::uint32_t id) noexcept override;
    void on_data(std::uint32_t id, std::string_view data) noexcept override;
    void on_request_end(std::uint32_t id) noexcept override;
    void on_stream_close(std::uint32_t id, detail::HTTP2ErrorCode code) noexcept override;
    Body body_ready(std::uint32_t id, std::size_t most) noexcept override;
    void take_body(std::uint32_t id, detail::HTTP2FrameBatch& batch,
                   std::size_t length) noexcept override;

private:
    using Kind = HTTP2ServerConnection::Event::Kind;

    // Runs `work`; whether it ran to its end (the .cpp says what else).
    template <typename Work>
    bool guarded(HTTP2Stream* stream, Work&& work) noexcept;

    HTTP2ServerConnection& connection_;
};

}  // namespace tornado
