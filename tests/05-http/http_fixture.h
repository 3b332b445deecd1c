// http_fixture.h: an HTTPServer on a loop thread of its own, and a tiny
// HTTP client for the test thread that reads responses byte by byte as
// they come off the wire (Content-Length, chunked, or until close).
//
// The client's response parser is written here on purpose rather than
// taken from httputil.h: the code under test must not grade itself.
//
// Failure messages print what was sent and received through escaped()
// (tests/support/escaped.h), never raw: a stray CR or NUL must show as \r or \x00.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cctype>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "escaped.h"
#include "httpserver.h"
#include "ioloop.h"
#include "test_client.h"

namespace course::testing {

using namespace std::chrono_literals;

// A response as the client received it.
struct Response {
    int status = 0;
    std::string head;                          // status line and headers, raw
    std::multimap<std::string, std::string> headers;  // names in lower case
    std::string body;                          // chunked encoding removed
    std::string raw_body;                      // as sent (chunk sizes and all)

    bool has(const std::string& name) const { return headers.count(name) > 0; }
    std::string header(const std::string& name) const {
        auto found = headers.find(name);
        return found == headers.end() ? "" : found->second;
    }
};

inline std::string lower_case(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// Reads one response. `no_body`: the request was HEAD (headers only).
inline Response read_response(TestClient& client, bool no_body = false,
                              std::chrono::milliseconds timeout = 5s) {
    Response response;
    response.head = client.read_until("\r\n\r\n", timeout);
    response.status = std::stoi(response.head.substr(9, 3));
    std::size_t at = response.head.find("\r\n") + 2;
    while (at < response.head.size() - 2) {
        std::size_t end = response.head.find("\r\n", at);
        std::string line = response.head.substr(at, end - at);
        std::size_t colon = line.find(':');
        std::size_t value = line.find_first_not_of(' ', colon + 1);
        response.headers.emplace(lower_case(line.substr(0, colon)),
                                 value == std::string::npos ? "" : line.substr(value));
        at = end + 2;
    }
    if (no_body || response.status == 204 || response.status == 304 || response.status < 200) {
        return response;
    }
    if (response.has("content-length")) {
        response.body = client.read_bytes(std::stoul(response.header("content-length")), timeout);
        response.raw_body = response.body;
    } else if (lower_case(response.header("transfer-encoding")) == "chunked") {
        while (true) {
            std::string size_line = client.read_until("\r\n", timeout);
            response.raw_body += size_line;
            std::size_t size = std::stoul(size_line, nullptr, 16);
            std::string data = client.read_bytes(size + 2, timeout);
            response.raw_body += data;
            if (size == 0) break;
            response.body += data.substr(0, size);
        }
    } else {
        response.body = client.read_until_close(timeout);  // HTTP/1.0 style
        response.raw_body = response.body;
    }
    return response;
}

// Each send() of the client leaves at once, even while an earlier one is
// unacknowledged (no Nagle): a request split in two really arrives in two.
inline void no_delay(TestClient& client) {
    int on = 1;
    ::setsockopt(client.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// "GET /path HTTP/1.1" with a Host header and `extra` header lines.
inline std::string get_request(const std::string& target, const std::string& extra = "",
                               const std::string& method = "GET") {
    return method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

// A POST with a Content-Length body.
inline std::string post_request(const std::string& target, const std::string& body,
                                const std::string& extra = "") {
    return "POST " + target + " HTTP/1.1\r\nHost: test\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

// Answers "Hello, world" to everything; POST bodies come back as they are.
inline void hello_or_echo(std::shared_ptr<HTTPServerRequest> request) {
    if (request->method == "POST" || request->method == "PUT") {
        request->reply(200, request->body);
    } else {
        request->reply(200, "Hello, world");
    }
}

class HTTPServerTest : public ::testing::Test {
protected:
    // Starts the server and the loop thread. Every test calls it once.
    void start(HTTPServer::RequestCallback callback = hello_or_echo,
               HTTP1ConnectionParameters params = {}) {
        server = std::make_unique<HTTPServer>(std::move(callback), loop, params);
        server->listen(0);
        loop_thread = std::thread([this] { loop.start(); });
    }

    void TearDown() override {
        if (loop_thread.joinable()) {
            loop.stop();
            loop_thread.join();
        }
    }

    std::uint16_t port() const { return server->port(); }

    // Runs `work` on the loop thread and waits for it.
    void on_loop(std::function<void()> work) {
        std::promise<void> done;
        loop.add_callback([&] {
            work();
            done.set_value();
        });
        ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
    }

    // One request on a fresh connection; its response.
    Response fetch(const std::string& request, bool no_body = false) {
        TestClient client(port());
        client.send(request);
        return read_response(client, no_body);
    }

    // The server still serves a new client, and promptly.
    void expect_still_serving() {
        auto started = std::chrono::steady_clock::now();
        Response response = fetch(get_request("/"));
        EXPECT_EQ(response.status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    }

    // `request` is refused with `status`, the body names the problem
    // (contains `problem`), the connection closes, and others are served.
    void expect_refused(const std::string& request, int status, const std::string& problem) {
        SCOPED_TRACE("the request: " + escaped(request));
        TestClient client(port());
        client.send(request);
        Response response = read_response(client);
        EXPECT_EQ(response.status, status)
            << "the answer: " << escaped(response.head) << " " << escaped(response.body);
        EXPECT_NE(response.body.find(problem), std::string::npos)
            << "the error body should name the problem (" << escaped(problem)
            << "): " << escaped(response.body);
        EXPECT_EQ(response.header("connection"), "close");
        EXPECT_TRUE(client.closed_by_server(2s)) << "the connection should close after an error";
        expect_still_serving();
    }

    IOLoop loop;
    std::unique_ptr<HTTPServer> server;
    std::thread loop_thread;
};

}  // namespace course::testing
