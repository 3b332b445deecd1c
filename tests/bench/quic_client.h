// quic_client.h: what an HTTP/3 client over ngtcp2 and GnuTLS needs
// whatever it does with its connection: the TLS session QUIC carries,
// and the two callbacks every ngtcp2 client fills the same way. Shared by
// h3_load.cpp (the benchmarks' client) and
// tests/final/http3_abuse_client.cpp (the abuse tests' attacker).
//
// Header-only; the includer links ngtcp2, ngtcp2_crypto_gnutls and GnuTLS.
#pragma once

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quic_client {

// The GnuTLS priority string of ngtcp2's own examples: TLS 1.3 only (QUIC
// has no other), its AEAD ciphers, the usual key-exchange groups, and no
// "middlebox compatibility" records, which QUIC forbids.
constexpr const char* kTlsPriority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
    "+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
    "+GROUP-SECP384R1:+GROUP-SECP521R1";

// HTTP/3's ALPN token (RFC 9114, 3.1).
constexpr std::string_view kAlpnH3 = "h3";

// A client TLS session for one QUIC connection: priorities, credentials,
// ngtcp2's crypto helper (which drives the handshake and finds the QUIC
// connection again through `ref`), ALPN h3 and SNI. With a non-empty
// `verify_name`, GnuTLS checks the chain and that name during the
// handshake. Returns "" or what failed; the caller attaches the session
// with ngtcp2_conn_set_tls_native_handle and deinits it.
inline std::string open_client_session(gnutls_session_t& session,
                                       gnutls_certificate_credentials_t credentials,
                                       ngtcp2_crypto_conn_ref& ref, const std::string& server_name,
                                       const std::string& verify_name) {
    int status = gnutls_init(&session, GNUTLS_CLIENT);
    if (status == 0) status = gnutls_priority_set_direct(session, kTlsPriority, nullptr);
    if (status == 0) status = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials);
    if (status != 0) return std::string("GnuTLS: ") + gnutls_strerror(status);
    if (ngtcp2_crypto_gnutls_configure_client_session(session) != 0)
        return "ngtcp2_crypto_gnutls_configure_client_session failed";
    gnutls_session_set_ptr(session, &ref);
    gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kAlpnH3.data())),
                        static_cast<unsigned int>(kAlpnH3.size())};
    gnutls_alpn_set_protocols(session, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    gnutls_server_name_set(session, GNUTLS_NAME_DNS, server_name.data(), server_name.size());
    if (!verify_name.empty()) gnutls_session_set_verify_cert(session, verify_name.c_str(), 0);
    return "";
}

// ngtcp2's `rand`: random bytes that are no secret (packet number skips
// and the like), from GnuTLS's nonce generator, its fastest.
inline void random_bytes(std::uint8_t* dest, std::size_t size, const ngtcp2_rand_ctx*) {
    gnutls_rnd(GNUTLS_RND_NONCE, dest, size);
}

// ngtcp2's `get_new_connection_id`: more connection IDs for the server to
// use, random, each with a random stateless-reset token (a client never
// sends stateless resets, so it need not be derivable again).
inline int new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                             std::size_t cid_size, void*) {
    cid->datalen = cid_size;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cid_size) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) {
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

}  // namespace quic_client
