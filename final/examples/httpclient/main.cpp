// httpclient: fetch URLs from the command line, as Tornado's
// `python -m tornado.httpclient` does: the body on stdout, the headers too
// with --print_headers.
//
//   build/bin/final_httpclient https://example.com/
//   build/bin/final_httpclient --print_headers --ca_certs=ca.pem https://localhost:8443/
//   build/bin/final_httpclient --curl https://localhost:8443/     # CurlAsyncHTTPClient
//
// A failed fetch (a refused certificate, a 404) prints the error on stderr
// and the program exits 1.
#include <cstdio>
#include <string>
#include <vector>

#include "tornado/gen.h"
#include "tornado/httpclient.h"
#ifdef TORNADO_HAVE_CURL
#include "tornado/curl_httpclient.h"
#endif
#include "tornado/ioloop.h"
#include "tornado/options.h"

static auto& print_headers =
    tornado::define("print_headers", false, "print the status and headers");
static auto& print_body = tornado::define("print_body", true, "print the body");
static auto& follow_redirects = tornado::define("follow_redirects", true, "follow redirects");
static auto& validate_cert =
    tornado::define("validate_cert", true, "check the server's certificate");
static auto& ca_certs =
    tornado::define("ca_certs", std::string(), "PEM file of CAs to trust (default: the system's)");
static auto& use_curl =
    tornado::define("curl", false, "fetch with CurlAsyncHTTPClient (libcurl: HTTP/2, keep-alive)");

// One fetch after the other, with AsyncHTTPClient or CurlAsyncHTTPClient.
template <typename Client>
tornado::Task<int> fetch_all(std::vector<std::string> urls) {
    Client client;
    int failures = 0;
    for (std::string& url : urls) {
        tornado::HTTPRequest request;
        request.url = std::move(url);
        request.follow_redirects = *follow_redirects;
        request.validate_cert = *validate_cert;
        request.ca_certs = *ca_certs;
        tornado::HTTPResponse response = co_await client.fetch(request, /*raise_error=*/false);
        if (*print_headers) {
            std::printf("HTTP %d %s\n", response.code, response.reason.c_str());
            for (const auto& [name, value] : response.headers.get_all())
                std::printf("%s: %s\n", name.c_str(), value.c_str());
            std::printf("\n");
        }
        if (*print_body) std::fwrite(response.body.data(), 1, response.body.size(), stdout);
        if (response.error) {
            try {
                std::rethrow_exception(response.error);
            } catch (const std::exception& error) {
                std::fprintf(stderr, "%s\n", error.what());
            }
            ++failures;
        }
    }
    co_return failures == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    std::vector<std::string> urls = tornado::parse_command_line(argc, argv);
    if (urls.empty()) {
        std::fprintf(stderr, "usage: %s [options] URL...\n", argv[0]);
        return 2;
    }
    tornado::IOLoop loop;
    if (*use_curl) {
#ifdef TORNADO_HAVE_CURL
        return loop.run_sync([&] { return fetch_all<tornado::CurlAsyncHTTPClient>(urls); });
#else
        std::fprintf(stderr, "%s: built without libcurl, so without --curl\n", argv[0]);
        return 2;
#endif
    }
    return loop.run_sync([&] { return fetch_all<tornado::AsyncHTTPClient>(urls); });
}
