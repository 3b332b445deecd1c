// http3tls.h: QUIC's TLS 1.3, by GnuTLS, for the server (the add-on's own
// header, not installed). Why GnuTLS: QUIC takes TLS's handshake messages
// and secrets, not its records, and Debian 12's OpenSSL 3.0 has no API
// for that; ngtcp2's crypto helper for GnuTLS (ngtcp2_crypto_gnutls) does.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <string>

namespace tornado {

// The server's certificate and key, loaded once, and a session for each
// connection. Sessions resume (RFC 8446 section 2.2): a client that kept
// the ticket of an earlier connection skips the certificate and its
// signature. The tickets' key is made at start and lives in memory only,
// so a restart forgets them all; GnuTLS rotates the key it derives from
// it.
class HTTP3TLS {
public:
    // Throws std::runtime_error naming the file and GnuTLS's reason.
    HTTP3TLS(const std::string& certfile, const std::string& keyfile);
    ~HTTP3TLS();
    HTTP3TLS(const HTTP3TLS&) = delete;
    HTTP3TLS& operator=(const HTTP3TLS&) = delete;

    // A server session for one QUIC connection: TLS 1.3 only, ALPN "h3"
    // (required: a client that does not offer it fails the handshake),
    // wired to ngtcp2 through `ref` (which must outlive the session).
    // Throws std::runtime_error.
    gnutls_session_t new_session(ngtcp2_crypto_conn_ref* ref) const;
    // One session ticket, once the handshake is complete (ngtcp2 carries
    // it in a CRYPTO frame). A failure is logged: the client does a full
    // handshake next time.
    static void send_ticket(gnutls_session_t session) noexcept;

private:
    gnutls_certificate_credentials_t credentials_ = nullptr;
    // The priority string, parsed once: parsed for each session it cost
    // every connection (a flood's half-open ones too) about 3 KB and the
    // parse's CPU.
    gnutls_priority_t priority_ = nullptr;
    gnutls_datum_t ticket_key_{};
};

}  // namespace tornado
