// http2callbacks.h: what libnghttp2 calls while HTTP2ServerConnection
// hands it the bytes it read (nghttp2_session_mem_recv) or takes the
// frames it has to send (nghttp2_session_mem_send). The add-on's own
// header, not installed.
//
// The callbacks only record what came, into its stream and into the
// connection's queue of events, which the connection dispatches once
// libnghttp2 has returned: no application code runs inside libnghttp2.
// When something is wrong they take one of the two ways out, both of
// which only tell the session, so that they are safe here: a stream's
// HTTP2Stream::reset(code), or the connection's fail(code).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>

#include "tornado/http2.h"

namespace tornado {

class HTTP2Stream;

// A friend of HTTP2ServerConnection: its callbacks reach the connection's
// streams and its queue of events.
class HTTP2Callbacks {
public:
    // A server session whose callbacks are these, on `connection`. Throws
    // std::bad_alloc, or std::runtime_error with libnghttp2's reason.
    static nghttp2_session* new_session(HTTP2ServerConnection& connection);

private:
    using Kind = HTTP2ServerConnection::Event::Kind;

    static int on_begin_frame(nghttp2_session* session, const nghttp2_frame_hd* header,
                              void* user_data);
    static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                void* user_data);
    static int on_header(nghttp2_session* session, const nghttp2_frame* frame,
                         const std::uint8_t* name, std::size_t name_length,
                         const std::uint8_t* value, std::size_t value_length, std::uint8_t flags,
                         void* user_data);
    static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
    static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t flags, std::int32_t id,
                                  const std::uint8_t* data, std::size_t length, void* user_data);
    static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data);
    static int send_data(nghttp2_session* session, nghttp2_frame* frame, const std::uint8_t* header,
                         std::size_t length, nghttp2_data_source* source, void* user_data);
    static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t error_code,
                               void* user_data);

    // Runs `body`; whether it ran to its end (the .cpp says what else).
    template <typename Body>
    static bool guarded(HTTP2ServerConnection& connection, HTTP2Stream* stream,
                        Body&& body) noexcept;
};

}  // namespace tornado
