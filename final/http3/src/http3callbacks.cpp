// http3callbacks.cpp: ngtcp2's and nghttp3's callbacks (http3callbacks.h).
#include "http3callbacks.h"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <exception>
#include <string>

#include "http3libraries.h"
#include "http3stream.h"
#include "tornado/log.h"

namespace tornado {

namespace {

HTTP3ServerConnection& connection_of(void* user_data) {
    return *static_cast<HTTP3ServerConnection*>(user_data);
}

std::string_view text(nghttp3_rcbuf* buffer) {
    nghttp3_vec bytes = nghttp3_rcbuf_get_buf(buffer);
    return {reinterpret_cast<const char*>(bytes.base), bytes.len};
}

}  // namespace

// The client broke HTTP/3's rules (nghttp3 said so): the connection's
// error says which, RFC 9114's code for nghttp3's error (unless one of our
// callbacks said why already). Returns false, for guarded().
bool HTTP3Callbacks::broke_rule(HTTP3ServerConnection& connection, int library_error) {
    if (!connection.lib_->error_set) {
        ngtcp2_connection_close_error_set_application_error(
            &connection.lib_->last_error, nghttp3_err_infer_quic_app_error_code(library_error),
            nullptr, 0);
        connection.lib_->error_set = true;
    }
    return false;
}

template <typename Body>
int HTTP3Callbacks::guarded(void* user_data, int failure, Body&& body) noexcept {
    HTTP3ServerConnection& connection = connection_of(user_data);
    try {
        if (body()) return 0;
    } catch (...) {
        gen_log.error("HTTP/3: exception in a callback from {}: {}", connection.context_.remote_ip,
                      describe_exception(std::current_exception()));
    }
    connection.fail(NGHTTP3_H3_INTERNAL_ERROR);  // keeps a reason recorded already
    return failure;
}

// --- ngtcp2 ------------------------------------------------------------------------------

ngtcp2_callbacks HTTP3Callbacks::quic() {
    ngtcp2_callbacks callbacks{};
    callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
    callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
    callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
    callbacks.update_key = ngtcp2_crypto_update_key_cb;
    callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    callbacks.recv_stream_data = &recv_stream_data;
    callbacks.acked_stream_data_offset = &acked_stream_data_offset;
    callbacks.stream_close = &stream_close;
    callbacks.stream_reset = &stream_reset;
    callbacks.stream_stop_sending = &stream_stop_sending;
    callbacks.extend_max_remote_streams_bidi = &extend_max_remote_streams_bidi;
    callbacks.extend_max_stream_data = &extend_max_stream_data;
    callbacks.rand = &random;
    callbacks.get_new_connection_id = &get_new_connection_id;
    callbacks.remove_connection_id = &remove_connection_id;
    callbacks.handshake_completed = &handshake_completed;
    return callbacks;
}

// Stream bytes, in order: nghttp3 reads them. What it consumed of them
// (frame headers, QPACK) goes back to the client's credit at once; a
// request body's bytes go back once the handler has taken them
// (HTTP3Stream::give_back).
int HTTP3Callbacks::recv_stream_data(ngtcp2_conn* quic, std::uint32_t flags, std::int64_t id,
                                     std::uint64_t, const std::uint8_t* data, std::size_t length,
                                     void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        HTTP3ServerConnection& connection = connection_of(user_data);
        nghttp3_conn* http = connection.lib_->http;
        if (http == nullptr) return true;  // before the handshake completed: nothing to read yet
        nghttp3_ssize consumed =
            nghttp3_conn_read_stream(http, id, data, length, flags & NGTCP2_STREAM_DATA_FLAG_FIN);
        if (consumed < 0) return broke_rule(connection, static_cast<int>(consumed));
        ngtcp2_conn_extend_max_stream_offset(quic, id, static_cast<std::uint64_t>(consumed));
        ngtcp2_conn_extend_max_offset(quic, static_cast<std::uint64_t>(consumed));
        return true;
    });
}

int HTTP3Callbacks::acked_stream_data_offset(ngtcp2_conn*, std::int64_t id, std::uint64_t,
                                             std::uint64_t length, void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        nghttp3_conn* http = connection_of(user_data).lib_->http;
        return http == nullptr || nghttp3_conn_add_ack_offset(http, id, length) == 0;
    });
}

// QUIC is done with the stream: nghttp3 hears it (and tells us in
// http_stream_close); a stream nghttp3 never knew gives its slot back
// here, so that the client may open another.
int HTTP3Callbacks::stream_close(ngtcp2_conn* quic, std::uint32_t flags, std::int64_t id,
                                 std::uint64_t code, void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
        nghttp3_conn* http = connection_of(user_data).lib_->http;
        int closed = http == nullptr ? NGHTTP3_ERR_STREAM_NOT_FOUND
                                     : nghttp3_conn_close_stream(http, id, code);
        if (closed == NGHTTP3_ERR_STREAM_NOT_FOUND) {
            if (ngtcp2_is_bidi_stream(id)) ngtcp2_conn_extend_max_streams_bidi(quic, 1);
            return true;
        }
        // A critical stream's end (H3_CLOSED_CRITICAL_STREAM): the client's fault.
        return closed == 0 || broke_rule(connection_of(user_data), closed);
    });
}

// The client reset its side, or asked us to stop sending: nghttp3 reads
// no more of the stream (RFC 9114 section 4.1.1). A unidirectional
// stream reset is over for good, but ngtcp2 (0.12) never closes it (no
// stream_close follows: that waits for a sending side it does not have),
// so nghttp3 hears it here: resetting the control stream or a QPACK one
// ends the connection, H3_CLOSED_CRITICAL_STREAM (RFC 9114 section
// 6.2.1, RFC 9204 section 4.2); another is forgotten.
int HTTP3Callbacks::stream_reset(ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t code,
                                 void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        nghttp3_conn* http = connection_of(user_data).lib_->http;
        if (http == nullptr) return true;
        if (!ngtcp2_is_bidi_stream(id)) {
            int closed = nghttp3_conn_close_stream(http, id, code);
            return closed == 0 || closed == NGHTTP3_ERR_STREAM_NOT_FOUND ||
                   broke_rule(connection_of(user_data), closed);
        }
        return nghttp3_conn_shutdown_stream_read(http, id) == 0;
    });
}

int HTTP3Callbacks::stream_stop_sending(ngtcp2_conn*, std::int64_t id, std::uint64_t,
                                        void* user_data, void*) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        nghttp3_conn* http = connection_of(user_data).lib_->http;
        return http == nullptr || nghttp3_conn_shutdown_stream_read(http, id) == 0;
    });
}

int HTTP3Callbacks::extend_max_remote_streams_bidi(ngtcp2_conn*, std::uint64_t max_streams,
                                                   void* user_data) {
    nghttp3_conn* http = connection_of(user_data).lib_->http;
    if (http != nullptr) nghttp3_conn_set_max_client_streams_bidi(http, max_streams);
    return 0;
}

// The client gave the stream more credit: nghttp3 may send on it again.
int HTTP3Callbacks::extend_max_stream_data(ngtcp2_conn*, std::int64_t id, std::uint64_t,
                                           void* user_data, void*) {
    nghttp3_conn* http = connection_of(user_data).lib_->http;
    if (http != nullptr && nghttp3_conn_unblock_stream(http, id) != 0) {
        connection_of(user_data).fail(NGHTTP3_H3_INTERNAL_ERROR);
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

void HTTP3Callbacks::random(std::uint8_t* dest, std::size_t length, const ngtcp2_rand_ctx*) {
    // Not for secrets (ngtcp2 asks for packet-number padding and the like):
    // GnuTLS's nonce-level generator is enough.
    gnutls_rnd(GNUTLS_RND_NONCE, dest, length);
}

bool HTTP3Callbacks::new_id(HTTP3Server& server, ngtcp2_cid* id, std::uint8_t* token,
                            std::size_t length) {
    if (gnutls_rnd(GNUTLS_RND_RANDOM, id->data, length) != 0) return false;
    id->datalen = length;
    return server.reset_token(*id, token);
}

// A new ID for the client to reach us by: the server's table learns it.
int HTTP3Callbacks::get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* id, std::uint8_t* token,
                                          std::size_t length, void* user_data) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        HTTP3ServerConnection& connection = connection_of(user_data);
        if (connection.server_ == nullptr || !new_id(*connection.server_, id, token, length)) {
            return false;
        }
        std::string key(reinterpret_cast<const char*>(id->data), id->datalen);
        connection.ids_.push_back(key);
        connection.server_->add_id(std::move(key), &connection);
        return true;
    });
}

int HTTP3Callbacks::remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* id, void* user_data) {
    HTTP3ServerConnection& connection = connection_of(user_data);
    std::string key(reinterpret_cast<const char*>(id->data), id->datalen);
    if (connection.server_ != nullptr) connection.server_->remove_id(key);
    std::erase(connection.ids_, key);
    return 0;
}

// The handshake is complete (the client's Finished came, so its address
// is validated): HTTP/3 begins (its control and QPACK streams). Not at the
// 1-RTT keys, which a server has as soon as it answers an Initial: then
// each half-open connection of an Initial flood (forged addresses, never
// a Finished) would hold nghttp3's connection and three streams too. The
// client's 1-RTT packets that come before are kept by ngtcp2 and read
// after this callback.
int HTTP3Callbacks::handshake_completed(ngtcp2_conn*, void* user_data) {
    return guarded(user_data, NGTCP2_ERR_CALLBACK_FAILURE, [&] {
        connection_of(user_data).on_handshake_completed();
        return true;
    });
}

// --- nghttp3 -----------------------------------------------------------------------------

nghttp3_callbacks HTTP3Callbacks::http() {
    nghttp3_callbacks callbacks{};
    callbacks.acked_stream_data = &acked_stream_data;
    callbacks.stream_close = &http_stream_close;
    callbacks.recv_data = &recv_data;
    callbacks.deferred_consume = &deferred_consume;
    callbacks.begin_headers = &begin_headers;
    callbacks.recv_header = &recv_header;
    callbacks.end_headers = &end_headers;
    callbacks.stop_sending = &stop_sending;
    callbacks.end_stream = &end_stream;
    callbacks.reset_stream = &reset_stream;
    return callbacks;
}

int HTTP3Callbacks::acked_stream_data(nghttp3_conn*, std::int64_t, std::uint64_t length, void*,
                                      void* stream_user_data) {
    if (auto* stream = static_cast<HTTP3Stream*>(stream_user_data)) stream->acked(length);
    return 0;
}

// The stream is over for HTTP/3: the connection tells its stream once
// nghttp3 has returned (an event), and the client may open another.
int HTTP3Callbacks::http_stream_close(nghttp3_conn*, std::int64_t id, std::uint64_t code,
                                      void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&] {
        HTTP3ServerConnection& connection = connection_of(user_data);
        if (connection.streams_.contains(id))
            connection.events_.push_back({Kind::closed, id, code});
        if (ngtcp2_is_bidi_stream(id))
            ngtcp2_conn_extend_max_streams_bidi(connection.lib_->quic, 1);
        return true;
    });
}

int HTTP3Callbacks::recv_data(nghttp3_conn*, std::int64_t id, const std::uint8_t* data,
                              std::size_t length, void* user_data, void* stream_user_data) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&] {
        auto* stream = static_cast<HTTP3Stream*>(stream_user_data);
        if (stream == nullptr) return true;
        stream->add_body(data, length);
        connection_of(user_data).events_.push_back({Kind::body, id});
        return true;
    });
}

// Bytes nghttp3 consumed later than it read them (a request blocked on
// QPACK's table): they go back to the client's credit now.
int HTTP3Callbacks::deferred_consume(nghttp3_conn*, std::int64_t id, std::size_t consumed,
                                     void* user_data, void*) {
    ngtcp2_conn* quic = connection_of(user_data).lib_->quic;
    ngtcp2_conn_extend_max_stream_offset(quic, id, consumed);
    ngtcp2_conn_extend_max_offset(quic, consumed);
    return 0;
}

// A request's HEADERS begin: its stream is made, unless the connection is
// going away (RFC 9114 section 5.2: requests after GOAWAY are refused).
int HTTP3Callbacks::begin_headers(nghttp3_conn* http, std::int64_t id, void* user_data, void*) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&] {
        HTTP3ServerConnection& connection = connection_of(user_data);
        if (connection.life_ != HTTP3ServerConnection::Life::serving) {
            ngtcp2_conn_shutdown_stream(connection.lib_->quic, id, NGHTTP3_H3_REQUEST_REJECTED);
            return true;
        }
        auto stream = std::make_shared<HTTP3Stream>(connection.shared_from_this(), id);
        nghttp3_conn_set_stream_user_data(http, id, stream.get());
        connection.streams_[id] = std::move(stream);
        return true;
    });
}

int HTTP3Callbacks::recv_header(nghttp3_conn*, std::int64_t, std::int32_t, nghttp3_rcbuf* name,
                                nghttp3_rcbuf* value, std::uint8_t, void* user_data,
                                void* stream_user_data) {
    return guarded(user_data, NGHTTP3_ERR_CALLBACK_FAILURE, [&] {
        auto* stream = static_cast<HTTP3Stream*>(stream_user_data);
        if (stream == nullptr) return true;  // a request refused after GOAWAY
        stream->add_field(text(name), text(value));
        if (!stream->header_bomb()) return true;
        HTTP3ServerConnection& connection = connection_of(user_data);
        ngtcp2_connection_close_error_set_application_error(&connection.lib_->last_error,
                                                            NGHTTP3_H3_EXCESSIVE_LOAD, nullptr, 0);
        connection.lib_->error_set = true;
        return false;
    });
}

int HTTP3Callbacks::end_headers(nghttp3_conn*, std::int64_t id, int, void* user_data,
                                void* stream_user_data) {
    if (stream_user_data != nullptr)
        connection_of(user_data).events_.push_back({Kind::request, id});
    return 0;
}

int HTTP3Callbacks::end_stream(nghttp3_conn*, std::int64_t id, void* user_data,
                               void* stream_user_data) {
    if (auto* stream = static_cast<HTTP3Stream*>(stream_user_data)) {
        stream->end_of_request();
        connection_of(user_data).events_.push_back({Kind::end, id});
    }
    return 0;
}

// nghttp3 wants the client to stop sending on the stream (STOP_SENDING).
int HTTP3Callbacks::stop_sending(nghttp3_conn*, std::int64_t id, std::uint64_t code,
                                 void* user_data, void*) {
    ngtcp2_conn_shutdown_stream_read(connection_of(user_data).lib_->quic, id, code);
    return 0;
}

// nghttp3 wants the stream's sending side reset (RESET_STREAM).
int HTTP3Callbacks::reset_stream(nghttp3_conn*, std::int64_t id, std::uint64_t code,
                                 void* user_data, void*) {
    ngtcp2_conn_shutdown_stream_write(connection_of(user_data).lib_->quic, id, code);
    return 0;
}

}  // namespace tornado
