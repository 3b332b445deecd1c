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
#include <memory>
#include <string>
#include <vector>

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
std::string alpn_wire_format(const std::vector<std::string>& protocols) {
    std::string wire;
    for (const std::string& protocol : protocols) {
        if (protocol.empty() || protocol.size() > 255) {
            throw SSLError(tornado::format("an ALPN protocol name is 1 to 255 bytes, not {}",
                                           protocol.size()));
        }
        wire += static_cast<char>(protocol.size());
        wire += protocol;
    }
    return wire;
}

// Where a server context keeps its protocols in wire format, for
// select_alpn: ex_data that OpenSSL frees with the context.
int alpn_data_index() {
    static const int index = SSL_CTX_get_ex_new_index(
        0, nullptr, nullptr, nullptr, [](void*, void* data, CRYPTO_EX_DATA*, int, long, void*) {
            delete static_cast<std::string*>(data);
        });
    return index;
}

// A server's choice among the protocols the client offers: the first of
// its own that the client offers too (SSL_select_next_proto walks the
// server's list). A client that offers none of them is not refused: ALPN
// is then left out of the answer (NOACK), as nginx does, and the client
// decides.
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void*) {
    auto* ours = static_cast<const std::string*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_data_index()));
    if (ours == nullptr) return SSL_TLSEXT_ERR_NOACK;
    unsigned char* chosen = nullptr;
    int result = SSL_select_next_proto(
        &chosen, out_length, reinterpret_cast<const unsigned char*>(ours->data()),
        static_cast<unsigned int>(ours->size()), offered, offered_length);
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
    auto protocols = std::make_unique<std::string>(alpn_wire_format(options.alpn_protocols));
    if (SSL_CTX_set_ex_data(raw, alpn_data_index(), protocols.get()) != 1) fail("cannot set ALPN");
    protocols.release();  // the context frees it now
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
    std::string protocols = alpn_wire_format(options.alpn_protocols);
    if (SSL_CTX_set_alpn_protos(raw, reinterpret_cast<const unsigned char*>(protocols.data()),
                                static_cast<unsigned int>(protocols.size())) != 0) {
        fail("cannot set ALPN");
    }
    return context;
}

bool is_client_default(const SSLOptions& options) {
    return options.certfile.empty() && options.keyfile.empty() && !options.cert_reqs &&
           options.ca_certs.empty() && options.ciphers.empty() &&
           options.alpn_protocols == std::vector<std::string>{"http/1.1"};
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
