// http3libraries.h: what an HTTP3ServerConnection holds of the libraries
// (the add-on's own header): ngtcp2's connection, nghttp3's, and GnuTLS's
// session, each freed by its own function when the connection goes.
#pragma once

#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <chrono>

#include "tornado/http3.h"

namespace tornado {

struct HTTP3ServerConnection::Libraries {
    ngtcp2_conn* quic = nullptr;
    nghttp3_conn* http = nullptr;  // made once the handshake gives 1-RTT keys
    gnutls_session_t tls = nullptr;
    // How GnuTLS's side of ngtcp2's crypto helper finds `quic`.
    ngtcp2_crypto_conn_ref ref{};
    // Why the connection closes, for its CONNECTION_CLOSE (set once).
    ngtcp2_connection_close_error last_error{};
    bool error_set = false;

    ~Libraries() {
        nghttp3_conn_del(http);
        ngtcp2_conn_del(quic);
        if (tls != nullptr) gnutls_deinit(tls);
    }
};

// ngtcp2's clock: nanoseconds of the steady clock, the loop's.
inline ngtcp2_tstamp quic_now() noexcept {
    return static_cast<ngtcp2_tstamp>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace tornado
