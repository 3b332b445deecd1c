// What CurlAsyncHTTPClient (tornado/curl_httpclient.h) does beyond the
// simple client: HTTP/2 against a real HTTP/2 server (Debian's nginx,
// started here on 127.0.0.1 with a test certificate and stopped by its
// PID) with several fetches multiplexed on one connection, connections
// kept alive, and libcurl's errors as CurlError. The behaviours both
// clients share are in httpclient_both_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_test_util.h"
#include "net_test_util.h"
#include "tornado/curl_httpclient.h"
#include "tornado/gen.h"
#include "tornado/httpserver.h"
#include "tornado/iostream.h"
#include "tornado/tcpserver.h"
#include "tornado/testing.h"
#include "tornado/testing_certificates.h"

namespace {

using namespace std::chrono_literals;
using tornado::CurlAsyncHTTPClient;
using tornado::Future;
using tornado::HTTPRequest;
using tornado::HTTPResponse;

// Debian's nginx, on 127.0.0.1 with TLS and HTTP/2, answering every path
// with "PROTOCOL CONNECTION-NUMBER\n": the protocol the request came by,
// and which of nginx's connections carried it.
class Nginx {
public:
    explicit Nginx(const tornado::testing::TestCertificates& made) {
        char pattern[] = "/tmp/curl-h2-XXXXXX";
        folder_ = ::mkdtemp(pattern);
        port_ = tornado::testing::unused_port();
        std::ofstream(folder_ / "nginx.conf")
            << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            << "pid " << (folder_ / "nginx.pid").string() << ";\n"
            << "error_log " << (folder_ / "error.log").string() << ";\n"
            << "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
            << "  client_body_temp_path " << folder_.string() << ";\n"
            << "  proxy_temp_path " << folder_.string() << ";\n"
            << "  fastcgi_temp_path " << folder_.string() << ";\n"
            << "  uwsgi_temp_path " << folder_.string() << ";\n"
            << "  scgi_temp_path " << folder_.string() << ";\n"
            << "  server {\n    listen 127.0.0.1:" << port_ << " ssl http2;\n"
            << "    ssl_certificate " << made.server_certfile << ";\n"
            << "    ssl_certificate_key " << made.server_keyfile << ";\n"
            << "    location / { default_type text/plain; return 200 \"$server_protocol "
               "$connection\\n\"; }\n  }\n}\n";
        pid_ = ::fork();
        if (pid_ == 0) {
            std::string prefix = folder_.string() + "/";
            std::string config = (folder_ / "nginx.conf").string();
            std::string errors = (folder_ / "error.log").string();
            ::execl("/usr/sbin/nginx", "nginx", "-p", prefix.c_str(), "-c", config.c_str(), "-e",
                    errors.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        for (int i = 0; i < 100 && !accepts(); ++i) std::this_thread::sleep_for(50ms);
    }
    ~Nginx() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
        std::filesystem::remove_all(folder_);
    }

    std::uint16_t port() const { return port_; }
    bool accepts() const {
        tornado::FileDescriptor probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port_);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return ::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    std::string errors() const {
        std::ifstream file(folder_ / "error.log");
        return std::string(std::istreambuf_iterator<char>(file), {});
    }

private:
    std::filesystem::path folder_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

TEST(CurlAsyncHTTPClient, SpeaksHTTP2AndMultiplexesFetchesOnOneConnection) {
    ASSERT_TRUE(CurlAsyncHTTPClient::has_http2())
        << "this libcurl (" << CurlAsyncHTTPClient::libcurl_version() << ") has no HTTP/2";
    tornado::testing::TemporaryCertificates certificates;
    Nginx nginx(certificates.files());
    ASSERT_TRUE(nginx.accepts()) << "nginx did not start: " << nginx.errors();
    tornado::IOLoop loop;
    CurlAsyncHTTPClient client;
    std::vector<HTTPResponse> responses;
    loop.run_sync(
        [&]() -> tornado::Task<void> {
            std::vector<Future<HTTPResponse>> fetches;
            for (int i = 0; i < 8; ++i) {
                HTTPRequest request;
                request.url = "https://localhost:" + std::to_string(nginx.port()) + "/" + std::to_string(i);
                request.ca_certs = certificates.files().ca_certfile;
                fetches.push_back(client.fetch(request));
            }
            for (auto& fetch : fetches) responses.push_back(co_await fetch);
        },
        20s);
    client.close();
    std::set<std::string> connections;
    for (const HTTPResponse& response : responses) {
        EXPECT_EQ(response.code, 200);
        EXPECT_TRUE(response.body.starts_with("HTTP/2.0 ")) << response.body;
        connections.insert(response.body.substr(response.body.find(' ') + 1));
    }
    // Eight fetches at once, one connection: HTTP/2's streams, not eight
    // connections as HTTP/1.1 would need.
    EXPECT_EQ(connections.size(), 1u);
    EXPECT_EQ(responses.size(), 8u);
}

// Answers every request on a connection, as long as the client keeps it,
// and counts the connections.
tornado::Task<void> answer_each_request(std::shared_ptr<tornado::IOStream> stream, int* connections) {
    ++*connections;
    try {
        for (;;) {
            co_await stream->read_until("\r\n\r\n");
            co_await stream->write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain");
        }
    } catch (const tornado::StreamClosedError&) {
    }
}

TEST(CurlAsyncHTTPClient, KeepsConnectionsAliveBetweenFetches) {
    tornado::IOLoop loop;
    int connections = 0;
    tornado::TCPServer server([&connections](std::shared_ptr<tornado::IOStream> stream,
                                             tornado::SocketAddress) {
        return answer_each_request(std::move(stream), &connections);
    });
    server.listen(0, "127.0.0.1");
    CurlAsyncHTTPClient client;
    std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(loop.run_sync([&] { return client.fetch(url); }, 10s).body, "again");
    }
    EXPECT_EQ(connections, 1);
    client.close();
}

TEST(CurlAsyncHTTPClient, ATransferLibcurlCannotFinishIsACurlError) {
    tornado::IOLoop loop;
    CurlAsyncHTTPClient client;
    std::string url = "http://127.0.0.1:" + std::to_string(tornado::testing::unused_port()) + "/";
    try {
        loop.run_sync([&] { return client.fetch(url); }, 10s);
        ADD_FAILURE() << "no error";
    } catch (const tornado::CurlError& error) {
        EXPECT_EQ(error.code(), 599);
        EXPECT_EQ(error.curl_code(), 7);  // CURLE_COULDNT_CONNECT
        EXPECT_NE(std::string(error.what()).find("127.0.0.1"), std::string::npos) << error.what();
    }
    client.close();
}

TEST(CurlAsyncHTTPClient, DigestAuthenticationIsOffered) {
    // A server that asks for digest: libcurl answers the challenge.
    tornado::IOLoop loop;
    std::vector<std::string> authorizations;
    tornado::HTTPServer server([&authorizations](std::shared_ptr<tornado::HTTPServerRequest> request) {
        std::string authorization = request->headers.get("Authorization");
        authorizations.push_back(authorization);
        if (authorization.starts_with("Digest username=\"ann\"")) {
            tornado::testing::answer(request, "in");
        } else {
            tornado::testing::answer(
                request, "", 401,
                {{"WWW-Authenticate", "Digest realm=\"test\", nonce=\"abc\", qop=\"auth\""}});
        }
    });
    server.listen(0, "127.0.0.1");
    CurlAsyncHTTPClient client;
    HTTPRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
    request.auth_username = "ann";
    request.auth_password = "secret";
    request.auth_mode = "digest";
    HTTPResponse response = loop.run_sync([&] { return client.fetch(request); }, 10s);
    EXPECT_EQ(response.body, "in");
    ASSERT_EQ(authorizations.size(), 2u);
    EXPECT_EQ(authorizations[0], "");
    client.close();
}

}  // namespace
