// fuzz_http3_certificate.h: the throwaway certificate of the HTTP/3 fuzz
// targets (fuzz_http3_server.cpp, fuzz_http3_frames.cpp), and a server of
// their own for each input. close_all_connections() is final for a
// server (it takes no new connection after it), so one server for a
// whole run would let only the run's first input make a connection.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "tornado/http3.h"

class ThrowawayCertificate {
public:
    // Made once a run by the openssl command, in a folder of its own, and
    // kept as PEM text.
    ThrowawayCertificate() {
        std::string folder = make_folder();
        std::string command =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
            folder + "/key.pem -out " + folder +
            "/cert.pem -days 2 -subj /CN=localhost 2>/dev/null";
        require(std::system(command.c_str()) == 0, "openssl makes a certificate");
        cert_pem_ = slurp(folder + "/cert.pem");
        key_pem_ = slurp(folder + "/key.pem");
        remove_folder(folder);
    }

    // A server of `app` with this certificate, written to files for as
    // long as the server reads them.
    std::unique_ptr<tornado::HTTP3Server> new_server(
        tornado::HTTPServerConnectionDelegate& app) const {
        std::string folder = make_folder();
        tornado::HTTP3Parameters params;
        params.certfile = folder + "/cert.pem";
        params.keyfile = folder + "/key.pem";
        std::ofstream(params.certfile, std::ios::binary) << cert_pem_;
        std::ofstream(params.keyfile, std::ios::binary) << key_pem_;
        auto server = std::make_unique<tornado::HTTP3Server>(app, params);
        remove_folder(folder);
        return server;
    }

private:
    // A broken step: said, then abort(), as the targets' own checks do.
    static void require(bool condition, const char* what) {
        if (condition) return;
        std::fprintf(stderr, "fuzz: cannot set up: %s\n", what);
        std::abort();
    }
    static std::string make_folder() {
        char folder[] = "/tmp/fuzz_http3.XXXXXX";
        require(::mkdtemp(folder) != nullptr, "a folder for the certificate");
        return folder;
    }
    static void remove_folder(const std::string& folder) {
        std::remove((folder + "/cert.pem").c_str());
        std::remove((folder + "/key.pem").c_str());
        ::rmdir(folder.c_str());
    }
    static std::string slurp(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    std::string cert_pem_, key_pem_;
};
