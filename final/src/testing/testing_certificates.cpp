// tornado/testing_certificates.h: a CA, and a server and a
// client certificate it signed, written as PEM files.
//
// Made when the test runs rather than committed: a committed certificate
// expires and its key leaks into every clone. P-256 keys take well under a
// millisecond to make, so each test can have its own.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "tornado/testing_certificates.h"

namespace tornado::testing {

namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Certificate = std::unique_ptr<X509, decltype(&X509_free)>;

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("make_test_certificates: " + what);
}

Key new_key() {
    Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    if (!key) fail("cannot make a P-256 key");
    return key;
}

// One X.509 v3 extension in OpenSSL's configuration syntax
// ("critical,CA:TRUE"), with `issuer` for the fields that refer to it.
void add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (extension == nullptr) fail(std::string("bad extension ") + value);
    X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
}

// Valid from an hour ago (clocks differ a little) for a week. `issuer` and
// `issuer_key` are null for the CA, which signs itself; the others say what
// they are for (extended_usage) and, for a server, its names.
Certificate new_certificate(const std::string& common_name, EVP_PKEY* key, X509* issuer,
                            EVP_PKEY* issuer_key, long serial, const char* extended_usage = nullptr,
                            const char* alt_names = nullptr) {
    Certificate certificate(X509_new(), X509_free);
    X509* raw = certificate.get();
    X509_set_version(raw, 2);  // v3: the version number is one less
    ASN1_INTEGER_set(X509_get_serialNumber(raw), serial);
    X509_gmtime_adj(X509_getm_notBefore(raw), -3600);
    X509_gmtime_adj(X509_getm_notAfter(raw), 7 * 24 * 3600);
    X509_set_pubkey(raw, key);
    X509_NAME* name = X509_get_subject_name(raw);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("tornado tests"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(raw, issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509* signer = issuer != nullptr ? issuer : raw;
    add_extension(raw, signer, NID_subject_key_identifier, "hash");
    if (issuer == nullptr) {
        add_extension(raw, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(raw, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(raw, signer, NID_authority_key_identifier, "keyid:always");
        add_extension(raw, signer, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(raw, signer, NID_key_usage, "critical,digitalSignature");
        add_extension(raw, signer, NID_ext_key_usage, extended_usage);
    }
    if (alt_names != nullptr) add_extension(raw, signer, NID_subject_alt_name, alt_names);
    if (X509_sign(raw, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0)
        fail("cannot sign the certificate for " + common_name);
    return certificate;
}

void write_file(const std::string& path, X509* certificate, EVP_PKEY* key) {
    std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "w"), std::fclose);
    if (!file) fail("cannot write " + path);
    bool written = certificate != nullptr ? PEM_write_X509(file.get(), certificate) == 1
                                          : PEM_write_PrivateKey(file.get(), key, nullptr, nullptr,
                                                                 0, nullptr, nullptr) == 1;
    if (!written) fail("cannot write " + path);
}

}  // namespace

TestCertificates make_test_certificates(const std::string& directory) {
    TestCertificates made;
    made.directory = directory;
    made.ca_certfile = directory + "/ca.pem";
    made.server_certfile = directory + "/server.pem";
    made.server_keyfile = directory + "/server.key";
    made.client_certfile = directory + "/client.pem";
    made.client_keyfile = directory + "/client.key";

    Key ca_key = new_key();
    Certificate ca = new_certificate("tornado test CA", ca_key.get(), nullptr, nullptr, 1);
    Key server_key = new_key();
    Certificate server = new_certificate("localhost", server_key.get(), ca.get(), ca_key.get(), 2,
                                         "serverAuth", "DNS:localhost,IP:127.0.0.1,IP:::1");
    Key client_key = new_key();
    Certificate client = new_certificate("tornado test client", client_key.get(), ca.get(),
                                         ca_key.get(), 3, "clientAuth");

    write_file(made.ca_certfile, ca.get(), nullptr);
    write_file(made.server_certfile, server.get(), nullptr);
    write_file(made.server_keyfile, nullptr, server_key.get());
    write_file(made.client_certfile, client.get(), nullptr);
    write_file(made.client_keyfile, nullptr, client_key.get());
    return made;
}

TemporaryCertificates::TemporaryCertificates() {
    char directory[] = "/tmp/tornado-test-certificates-XXXXXX";
    if (::mkdtemp(directory) == nullptr)
        throw std::system_error(errno, std::generic_category(), "mkdtemp");
    try {
        files_ = make_test_certificates(directory);
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove_all(directory, ignored);
        throw;
    }
}

TemporaryCertificates::~TemporaryCertificates() {
    std::error_code ignored;  // a destructor must not throw; /tmp is cleaned anyway
    std::filesystem::remove_all(files_.directory, ignored);
}

}  // namespace tornado::testing
