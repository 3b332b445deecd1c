// http2callbacks.cpp: libnghttp2's callbacks (http2callbacks.h).
#include "http2callbacks.h"

#include <exception>
#include <memory>
#include <new>
#include <stdexcept>

#include "http2stream.h"
#include "tornado/log.h"

namespace tornado {

namespace {

HTTP2ServerConnection& connection_of(void* user_data) {
    return *static_cast<HTTP2ServerConnection*>(user_data);
}

}  // namespace

nghttp2_session* HTTP2Callbacks::new_session(HTTP2ServerConnection& connection) {
    nghttp2_session_callbacks* callbacks = nullptr;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) throw std::bad_alloc();
    nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    nghttp2_session_callbacks_set_send_data_callback(callbacks, send_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    nghttp2_option* options = nullptr;
    if (nghttp2_option_new(&options) != 0) {
        nghttp2_session_callbacks_del(callbacks);
        throw std::bad_alloc();
    }
    // Windows are given back by the request coroutines, once the
    // application has taken each piece (tornado/http2.h's flow control).
    nghttp2_option_set_no_auto_window_update(options, 1);
    // The published attacks meet libnghttp2's own bounds, kept at their
    // defaults (1.57 on, and Debian's 1.52 with its security fixes): client
    // resets 1,000 at once then 33 a second (rapid reset), 8 CONTINUATION
    // frames a header block, 1,000 SETTINGS and PING ACKs queued, 32
    // entries a SETTINGS frame. Empty DATA frames are ours to bound
    // (HTTP2Stream::empty_data_flood), and so are stream ids that go
    // backwards (HTTP2ServerConnection::check_stream_id).
    // tests/clients/final_http2_attack_test.py checks each.
    nghttp2_session* session = nullptr;
    int failed = nghttp2_session_server_new2(&session, callbacks, &connection, options);
    nghttp2_option_del(options);
    nghttp2_session_callbacks_del(callbacks);
    if (failed != 0) throw std::runtime_error(nghttp2_strerror(failed));
    return session;
}

// No exception may cross libnghttp2's C frames. One thrown while a
// stream's frame is read (a header HTTPHeaders refuses, memory) resets
// that stream; one thrown with no stream to blame fails the connection.
template <typename Body>
bool HTTP2Callbacks::guarded(HTTP2ServerConnection& connection, HTTP2Stream* stream,
                             Body&& body) noexcept {
    try {
        body();
        return true;
    } catch (...) {
        gen_log.warning("HTTP/2 from {}: {}", connection.context_.remote_ip,
                        describe_exception(std::current_exception()));
        if (stream != nullptr) {
            stream->reset(NGHTTP2_INTERNAL_ERROR);
        } else {
            connection.fail(NGHTTP2_INTERNAL_ERROR);
        }
        return false;
    }
}

// Every frame's header, before libnghttp2 reads the frame: a HEADERS is
// checked against the stream ids the client has used, which libnghttp2
// leaves to its user.
int HTTP2Callbacks::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* header,
                                   void* user_data) {
    if (header->type != NGHTTP2_HEADERS) return 0;
    HTTP2ServerConnection& connection = connection_of(user_data);
    guarded(connection, nullptr, [&] { connection.check_stream_id(header->stream_id); });
    return 0;
}

int HTTP2Callbacks::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame,
                                     void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    HTTP2ServerConnection& connection = connection_of(user_data);
    guarded(connection, nullptr, [&] {
        std::int32_t id = frame->hd.stream_id;
        connection.streams_.emplace(
            id, std::make_shared<HTTP2Stream>(connection.shared_from_this(), id));
        connection.cancel_timeout();  // not idle
    });
    return 0;
}

// A stream reset here (an HPACK bomb, or a field that threw) reads no more
// of its header block: NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE makes
// libnghttp2 decode the rest without handing it over (and send no
// RST_STREAM of its own, the stream having one queued).
int HTTP2Callbacks::on_header(nghttp2_session*, const nghttp2_frame* frame,
                              const std::uint8_t* name, std::size_t name_length,
                              const std::uint8_t* value, std::size_t value_length, std::uint8_t,
                              void* user_data) {
    HTTP2ServerConnection& connection = connection_of(user_data);
    HTTP2Stream* target = connection.find_stream(frame->hd.stream_id);
    if (target == nullptr) return 0;
    bool added = guarded(connection, target, [&] {
        target->add_field({reinterpret_cast<const char*>(name), name_length},
                          {reinterpret_cast<const char*>(value), value_length});
    });
    bool bomb = added && target->header_list_bomb();
    if (bomb) target->reset(NGHTTP2_ENHANCE_YOUR_CALM);
    return added && !bomb ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int HTTP2Callbacks::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    HTTP2ServerConnection& connection = connection_of(user_data);
    HTTP2Stream* target = connection.find_stream(frame->hd.stream_id);
    if (target == nullptr) return 0;
    bool headers = frame->hd.type == NGHTTP2_HEADERS;
    bool data = frame->hd.type == NGHTTP2_DATA;
    bool ends = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    guarded(connection, target, [&] {
        if (headers && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            connection.events_.push_back({Kind::request, target->id()});
        }
        if ((headers || data) && ends) {
            target->end_of_request();
            connection.events_.push_back({Kind::end, target->id()});
        }
        // padlen counts the Pad Length field too: a frame of padding alone is empty.
        if (data && !ends && target->empty_data_flood(frame->hd.length - frame->data.padlen)) {
            connection.fail(NGHTTP2_ENHANCE_YOUR_CALM);
        }
    });
    return 0;
}

int HTTP2Callbacks::on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t id,
                                       const std::uint8_t* data, std::size_t length,
                                       void* user_data) {
    HTTP2ServerConnection& connection = connection_of(user_data);
    HTTP2Stream* target = connection.find_stream(id);
    if (target == nullptr) {  // a stream already over: its bytes are the connection's again
        nghttp2_session_consume_connection(session, length);
        return 0;
    }
    guarded(connection, target, [&] {
        target->add_body(data, length);
        connection.events_.push_back({Kind::body, id});
    });
    return 0;
}

// A RST_STREAM of ours has gone: what the client sent on that stream
// before it read it may still come (check_stream_id lets it).
int HTTP2Callbacks::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_RST_STREAM) return 0;
    HTTP2ServerConnection& connection = connection_of(user_data);
    guarded(connection, nullptr, [&] { connection.remember_reset(frame->hd.stream_id); });
    return 0;
}

// One nghttp2_session_mem_send may make many DATA frames. Once the batch
// is full it returns, so that the batch goes out before the next frame is
// made: no write is much over kSendBatch, and the next frame always finds
// room (HTTP2Stream::send_data cannot throw).
int HTTP2Callbacks::send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* header,
                              std::size_t length, nghttp2_data_source* source, void* user_data) {
    HTTP2ServerConnection& connection = connection_of(user_data);
    static_cast<HTTP2Stream*>(source->ptr)->send_data(connection.batch_, *frame, header, length);
    return connection.batch_full() ? NGHTTP2_ERR_PAUSE : 0;
}

// A close that cannot be recorded fails the connection: its end, which
// then comes at once, tells every stream still open.
int HTTP2Callbacks::on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                                    void* user_data) {
    HTTP2ServerConnection& connection = connection_of(user_data);
    if (connection.find_stream(id) == nullptr) return 0;
    guarded(connection, nullptr, [&] {
        connection.events_.push_back({Kind::closed, id, error_code});
    });
    return 0;
}

}  // namespace tornado
