// http3tls.cpp: QUIC's TLS by GnuTLS (http3tls.h).
#include "http3tls.h"

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <stdexcept>

#include "tornado/log.h"

namespace tornado {

namespace {

// TLS 1.3 only (QUIC has no other, RFC 9001 section 4.2), its AEADs that
// QUIC allows, and the usual groups. No middlebox compatibility mode:
// RFC 9001 section 8.4 forbids it.
constexpr const char* kPriority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:"
    "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1";

void check(int result, std::string_view what) {
    if (result < 0) {
        throw std::runtime_error(
            tornado::format("HTTP/3 TLS: {}: {}", what, gnutls_strerror(result)));
    }
}

}  // namespace

HTTP3TLS::HTTP3TLS(const std::string& certfile, const std::string& keyfile) {
    check(gnutls_certificate_allocate_credentials(&credentials_), "credentials");
    int loaded = gnutls_certificate_set_x509_key_file(credentials_, certfile.c_str(),
                                                      keyfile.c_str(), GNUTLS_X509_FMT_PEM);
    if (loaded < 0) {
        gnutls_certificate_free_credentials(credentials_);
        check(loaded, tornado::format("loading {} and {}", certfile, keyfile));
    }
    int parsed = gnutls_priority_init(&priority_, kPriority, nullptr);
    if (parsed < 0) {
        gnutls_certificate_free_credentials(credentials_);
        check(parsed, "priority");
    }
    int generated = gnutls_session_ticket_key_generate(&ticket_key_);
    if (generated < 0) {
        gnutls_priority_deinit(priority_);
        gnutls_certificate_free_credentials(credentials_);
        check(generated, "session ticket key");
    }
}

HTTP3TLS::~HTTP3TLS() {
    gnutls_memset(ticket_key_.data, 0, ticket_key_.size);
    gnutls_free(ticket_key_.data);
    gnutls_priority_deinit(priority_);
    gnutls_certificate_free_credentials(credentials_);
}

gnutls_session_t HTTP3TLS::new_session(ngtcp2_crypto_conn_ref* ref) const {
    gnutls_session_t session = nullptr;
    // The session ticket goes once the handshake is complete
    // (send_ticket), not when GnuTLS would send it by itself. Without
    // GNUTLS_ENABLE_EARLY_DATA the ticket offers no 0-RTT: a resumed
    // client still waits one round trip (README: why 0-RTT is off).
    check(gnutls_init(&session, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET), "gnutls_init");
    try {
        check(gnutls_priority_set(session, priority_), "priority");
        // Hands GnuTLS's handshake messages and secrets to ngtcp2.
        if (ngtcp2_crypto_gnutls_configure_server_session(session) != 0) {
            throw std::runtime_error("HTTP/3 TLS: ngtcp2_crypto_gnutls_configure_server_session");
        }
        // ngtcp2's helper finds its connection through this pointer.
        gnutls_session_set_ptr(session, ref);
        check(gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials_), "credentials");
        check(gnutls_session_ticket_enable_server(session, &ticket_key_), "session tickets");
        static const char kH3[] = "h3";
        gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kH3)), 2};
        check(gnutls_alpn_set_protocols(session, &alpn, 1,
                                        GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE),
              "ALPN");
    } catch (...) {
        gnutls_deinit(session);
        throw;
    }
    return session;
}

void HTTP3TLS::send_ticket(gnutls_session_t session) noexcept {
    int sent = gnutls_session_ticket_send(session, 1, 0);
    if (sent < 0) gen_log.warning("HTTP/3 TLS: no session ticket: {}", gnutls_strerror(sent));
}

}  // namespace tornado
