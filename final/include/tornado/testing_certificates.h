// tornado/testing_certificates.h: certificates for TLS tests, made when the
// test runs (testing.h includes it; AsyncHTTPSTestCase uses it).
//
//   tornado::testing::TemporaryCertificates temporary;   // a fresh directory, removed at the end
//   const tornado::testing::TestCertificates& certificates = temporary.files();
//   server options: {.certfile = certificates.server_certfile,
//                    .keyfile = certificates.server_keyfile}
//   client options: {.ca_certs = certificates.ca_certfile}
//
// A test CA, and certificates it signed: one for a server (localhost,
// 127.0.0.1 and ::1) and one for a client (for servers that ask for one).
// P-256 keys, SHA-256 signatures, valid for a week from an hour ago. Two
// calls make two unrelated CAs: a client that trusts one refuses the
// other's server, which is how a test shows a certificate being refused.
#pragma once

#include <string>

namespace tornado::testing {

// The PEM files make_test_certificates wrote, and the directory they are in.
struct TestCertificates {
    std::string directory;
    // ca.pem, the CA's certificate: a client's ca_certs.
    std::string ca_certfile;
    // server.pem, the server's certificate: a server's certfile.
    std::string server_certfile;
    // server.key, its private key: the server's keyfile.
    std::string server_keyfile;
    // client.pem, a client's certificate (client_cert, or SSLOptions'
    // certfile), for a server that asks for one.
    std::string client_certfile;
    // client.key, its private key.
    std::string client_keyfile;
};

// Writes ca.pem, server.pem, server.key, client.pem and client.key into
// `directory` (which must exist), replacing what is there. Throws
// std::runtime_error when OpenSSL or the file system refuses.
TestCertificates make_test_certificates(const std::string& directory);

// make_test_certificates in a new directory under /tmp, removed with the
// object. Throws std::system_error when the directory cannot be made.
class TemporaryCertificates {
public:
    TemporaryCertificates();
    ~TemporaryCertificates();
    TemporaryCertificates(const TemporaryCertificates&) = delete;
    TemporaryCertificates& operator=(const TemporaryCertificates&) = delete;

    // The files, there until this object is destroyed (the reference
    // too).
    const TestCertificates& files() const noexcept { return files_; }

private:
    TestCertificates files_;
};

}  // namespace tornado::testing
