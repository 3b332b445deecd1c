// http3callbacks.h: what ngtcp2 and nghttp3 call while HTTP3ServerConnection
// feeds them a datagram or takes the packets they have to send (the
// add-on's own header, not installed).
//
// The callbacks only record what came, into its stream and into the
// connection's queue of events, which the connection dispatches once the
// library has returned: no application code runs inside them. No
// exception crosses them either: guarded() catches it, and the
// connection fails (CONNECTION_CLOSE, H3_INTERNAL_ERROR).
#pragma once

#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>

#include <cstdint>

#include "tornado/http3.h"

namespace tornado {

// A friend of HTTP3ServerConnection: its callbacks reach the connection's
// streams and its queue of events.
class HTTP3Callbacks {
public:
    // ngtcp2's callbacks for a server connection: ngtcp2_crypto's own
    // where they do the cryptography, ours where something is recorded.
    static ngtcp2_callbacks quic();
    // nghttp3's callbacks for a server connection.
    static nghttp3_callbacks http();
    // A new connection ID of `length` bytes, random, and its stateless
    // reset token (RFC 9000 section 10.3) from the server's secret.
    static bool new_id(HTTP3Server& server, ngtcp2_cid* id, std::uint8_t* token,
                       std::size_t length);

private:
    using Kind = HTTP3ServerConnection::Event::Kind;

    // --- ngtcp2 --------------------------------------------------------------------------
    static int recv_stream_data(ngtcp2_conn* quic, std::uint32_t flags, std::int64_t id,
                                std::uint64_t offset, const std::uint8_t* data, std::size_t length,
                                void* user_data, void* stream_user_data);
    static int acked_stream_data_offset(ngtcp2_conn* quic, std::int64_t id, std::uint64_t offset,
                                        std::uint64_t length, void* user_data,
                                        void* stream_user_data);
    static int stream_close(ngtcp2_conn* quic, std::uint32_t flags, std::int64_t id,
                            std::uint64_t code, void* user_data, void* stream_user_data);
    static int stream_reset(ngtcp2_conn* quic, std::int64_t id, std::uint64_t final_size,
                            std::uint64_t code, void* user_data, void* stream_user_data);
    static int stream_stop_sending(ngtcp2_conn* quic, std::int64_t id, std::uint64_t code,
                                   void* user_data, void* stream_user_data);
    static int extend_max_remote_streams_bidi(ngtcp2_conn* quic, std::uint64_t max_streams,
                                              void* user_data);
    static int extend_max_stream_data(ngtcp2_conn* quic, std::int64_t id, std::uint64_t max_data,
                                      void* user_data, void* stream_user_data);
    static void random(std::uint8_t* dest, std::size_t length, const ngtcp2_rand_ctx* context);
    static int get_new_connection_id(ngtcp2_conn* quic, ngtcp2_cid* id, std::uint8_t* token,
                                     std::size_t length, void* user_data);
    static int remove_connection_id(ngtcp2_conn* quic, const ngtcp2_cid* id, void* user_data);
    static int handshake_completed(ngtcp2_conn* quic, void* user_data);

    // --- nghttp3 -------------------------------------------------------------------------
    static int acked_stream_data(nghttp3_conn* http, std::int64_t id, std::uint64_t length,
                                 void* user_data, void* stream_user_data);
    static int http_stream_close(nghttp3_conn* http, std::int64_t id, std::uint64_t code,
                                 void* user_data, void* stream_user_data);
    static int recv_data(nghttp3_conn* http, std::int64_t id, const std::uint8_t* data,
                         std::size_t length, void* user_data, void* stream_user_data);
    static int deferred_consume(nghttp3_conn* http, std::int64_t id, std::size_t consumed,
                                void* user_data, void* stream_user_data);
    static int begin_headers(nghttp3_conn* http, std::int64_t id, void* user_data,
                             void* stream_user_data);
    static int recv_header(nghttp3_conn* http, std::int64_t id, std::int32_t token,
                           nghttp3_rcbuf* name, nghttp3_rcbuf* value, std::uint8_t flags,
                           void* user_data, void* stream_user_data);
    static int end_headers(nghttp3_conn* http, std::int64_t id, int fin, void* user_data,
                           void* stream_user_data);
    static int stop_sending(nghttp3_conn* http, std::int64_t id, std::uint64_t code,
                            void* user_data, void* stream_user_data);
    static int end_stream(nghttp3_conn* http, std::int64_t id, void* user_data,
                          void* stream_user_data);
    static int reset_stream(nghttp3_conn* http, std::int64_t id, std::uint64_t code,
                            void* user_data, void* stream_user_data);

    // The client broke HTTP/3's rules: records RFC 9114's code for
    // nghttp3's `library_error` as the connection's error; returns false.
    static bool broke_rule(HTTP3ServerConnection& connection, int library_error);
    // Runs `body` (which returns whether it went well); an exception or a
    // failure fails the connection (H3_INTERNAL_ERROR unless a reason is
    // recorded already), and `failure` is what the library is told.
    template <typename Body>
    static int guarded(void* user_data, int failure, Body&& body) noexcept;
};

}  // namespace tornado
