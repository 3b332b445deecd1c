// tornado/netutil.h's TLS contexts: SSLOptions to an OpenSSL SSL_CTX.
//
// Every TLS connection is made from a context, which holds what the
// connections share: this side's certificate and key, the CAs it trusts,
// the protocol versions and the rules for the peer's certificate. Making
// one reads files (the system's CA store is hundreds of them), so a server
// makes its context once, at start, and a client's default is made once
// per process.
#include <openssl/ssl.h>

#include <cstring>
#include <string>

#include "net/openssl_error.h"
#include "tornado/log.h"
#include "tornado/netutil.h"
#include "tornado/util.h"

namespace tornado {

namespace {

[[noreturn]] void fail(std::string_view what) {
    throw SSLError(tornado::format("{}: {}", what, detail::take_openssl_error().reason));
}

// ALPN (RFC 7301) in wire format: each protocol name after its length.
// HTTP/1.1 is all this framework speaks.
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// A server's choice among the protocols the client offers: http/1.1 if it
// is there. A client that offers only others (h2 alone) is not refused:
// ALPN is then left out of the answer (NOACK), as nginx does, and the
// client decides.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void*) {
    unsigned char* chosen = nullptr;
    int result = SSL_select_next_proto(&chosen, out_length, kAlpnHttp11, sizeof kAlpnHttp11,
                                       offered, offered_length);
    if (result != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

SSLContext new_context(bool server_side) {
    SSL_CTX* raw = SSL_CTX_new(server_side ? TLS_server_method() : TLS_client_method());
    if (raw == nullptr) fail("cannot make a TLS context");
    SSLContext context(raw, SSL_CTX_free);
    // TLS 1.0 and 1.1 are deprecated (RFC 8996).
    SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
    // Renegotiation (TLS 1.2) refused both ways: it lets a client make the
    // server do handshakes for free, and HTTP/1.1 needs none. (An EOF
    // without close_notify is SSLIOStream's to judge: an ordinary close
    // that it remembers.)
    SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION);
    return context;
}

void load_certificate(SSL_CTX* context, const SSLOptions& options) {
    if (SSL_CTX_use_certificate_chain_file(context, options.certfile.c_str()) != 1)
        fail(tornado::format("cannot load the certificate from '{}'", options.certfile));
    const std::string& keyfile = options.keyfile.empty() ? options.certfile : options.keyfile;
    if (SSL_CTX_use_PrivateKey_file(context, keyfile.c_str(), SSL_FILETYPE_PEM) != 1)
        fail(tornado::format("cannot load the private key from '{}'", keyfile));
    if (SSL_CTX_check_private_key(context) != 1)
        fail(tornado::format("the key in '{}' does not match the certificate", keyfile));
}

void load_trusted(SSL_CTX* context, const SSLOptions& options) {
    if (!options.ca_certs.empty()) {
        if (SSL_CTX_load_verify_locations(context, options.ca_certs.c_str(), nullptr) != 1)
            fail(tornado::format("cannot load the CA certificates from '{}'", options.ca_certs));
    } else if (SSL_CTX_set_default_verify_paths(context) != 1) {
        fail("cannot load the system's CA certificates");
    }
}

SSLContext make_server_context(const SSLOptions& options) {
    if (options.certfile.empty()) throw SSLError("a TLS server needs a certfile");
    SSLContext context = new_context(true);
    SSL_CTX* raw = context.get();
    load_certificate(raw, options);
    SSLOptions::Verify verify = options.cert_reqs.value_or(SSLOptions::Verify::none);
    if (verify != SSLOptions::Verify::none) {
        if (options.ca_certs.empty())
            throw SSLError("a TLS server that asks for client certificates needs ca_certs");
        load_trusted(raw, options);
        int mode = SSL_VERIFY_PEER;
        if (verify == SSLOptions::Verify::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(raw, mode, nullptr);
        // Resumed sessions skip the check, so OpenSSL refuses them unless
        // the context names itself (any constant will do).
        static constexpr unsigned char kSessionContext[] = "tornado";
        SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof kSessionContext - 1);
    }
    SSL_CTX_set_alpn_select_cb(raw, select_alpn, nullptr);
    return context;
}

SSLContext make_client_context(const SSLOptions& options) {
    SSLContext context = new_context(false);
    SSL_CTX* raw = context.get();
    if (!options.certfile.empty()) load_certificate(raw, options);
    SSLOptions::Verify verify = options.cert_reqs.value_or(SSLOptions::Verify::required);
    if (verify != SSLOptions::Verify::none) {
        load_trusted(raw, options);
        // A client cannot take a certificate as "optional": a server's is
        // checked whenever checking is asked for.
        SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
    }
    // SSL_CTX_set_alpn_protos returns 0 on success, unlike its neighbours.
    if (SSL_CTX_set_alpn_protos(raw, kAlpnHttp11, sizeof kAlpnHttp11) != 0) fail("cannot set ALPN");
    return context;
}

bool is_client_default(const SSLOptions& options) {
    return options.certfile.empty() && options.keyfile.empty() && !options.cert_reqs &&
           options.ca_certs.empty() && options.ciphers.empty();
}

}  // namespace

SSLContext ssl_options_to_context(const SSLOptions& options, bool server_side) {
    if (options.context) return options.context;
    if (!server_side && is_client_default(options)) {
        // Made on first use; C++ makes the initialisation thread-safe.
        static const SSLContext shared_default = make_client_context(options);
        return shared_default;
    }
    SSLContext context = server_side ? make_server_context(options) : make_client_context(options);
    if (!options.ciphers.empty() &&
        SSL_CTX_set_cipher_list(context.get(), options.ciphers.c_str()) != 1)
        fail(tornado::format("no usable cipher in '{}'", options.ciphers));
    return context;
}

}  // namespace tornado
