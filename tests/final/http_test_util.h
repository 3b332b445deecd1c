// http_test_util.h: what the HTTP tests of final/ share: a server running on
// its own thread (with its own IOLoop), and a blocking raw-bytes client with
// deadlines that reads HTTP responses the way a strict client would.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "net_test_util.h"
#include "tornado/httpclient.h"
#include "tornado/httpserver.h"
#include "tornado/ioloop.h"

namespace tornado::testing {

// A GET with one request header (If-None-Match, Range, Cookie...).
inline HTTPRequest with_header(std::string name, std::string value) {
    HTTPRequest request;
    request.headers.set(name, value);
    return request;
}

// An HTTPServer on 127.0.0.1, port 0, served by a loop on another thread.
// make() runs on that thread and returns the server (not yet listening).
class ServerThread {
public:
    using MakeServer = std::function<std::unique_ptr<HTTPServer>()>;

    explicit ServerThread(MakeServer make) {
        std::promise<std::uint16_t> ready;
        std::future<std::uint16_t> port = ready.get_future();
        thread_ = std::thread([this, make = std::move(make), ready = std::move(ready)]() mutable {
            try {
                IOLoop loop;
                loop_ = &loop;
                server_ = make();
                server_->listen(0, "127.0.0.1");
                ready.set_value(server_->port());
                loop.start();
                server_.reset();
                std::lock_guard lock(mutex_);
                loop_ = nullptr;
            } catch (...) {
                try {
                    ready.set_exception(std::current_exception());
                } catch (...) {
                }
            }
        });
        port_ = port.get();
    }
    ~ServerThread() { stop(); }
    ServerThread(const ServerThread&) = delete;
    ServerThread& operator=(const ServerThread&) = delete;

    std::uint16_t port() const { return port_; }
    IOLoop& loop() { return *loop_; }
    HTTPServer& server() { return *server_; }

    // Runs f() on the loop's thread and returns its result (waits at most 10 s).
    template <typename F>
    auto call(F f) -> decltype(f()) {
        using R = decltype(f());
        auto promise = std::make_shared<std::promise<R>>();
        std::future<R> result = promise->get_future();
        loop_->add_callback([promise, f = std::move(f)]() mutable {
            try {
                if constexpr (std::is_void_v<R>) {
                    f();
                    promise->set_value();
                } else {
                    promise->set_value(f());
                }
            } catch (...) {
                promise->set_exception(std::current_exception());
            }
        });
        if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            throw std::runtime_error("ServerThread::call: the loop did not answer in 10 s");
        }
        return result.get();
    }

    // Stops the loop (unless it stopped by itself) and joins the thread.
    void stop() {
        if (!thread_.joinable()) return;
        {
            std::lock_guard lock(mutex_);
            if (loop_ != nullptr) loop_->stop();  // stop() is safe from any thread
        }
        thread_.join();
    }

private:
    std::thread thread_;
    std::mutex mutex_;  // guards loop_ against the thread ending
    IOLoop* loop_ = nullptr;
    std::unique_ptr<HTTPServer> server_;
    std::uint16_t port_ = 0;
};

// A parsed response, as a strict client reads it.
struct Response {
    int status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool chunked = false;

    std::string header(std::string_view name) const {
        for (const auto& [key, value] : headers) {
            if (equals_ignoring_case(key, name)) return value;
        }
        return "";
    }
    bool has_header(std::string_view name) const {
        for (const auto& [key, value] : headers) {
            if (equals_ignoring_case(key, name)) return true;
        }
        return false;
    }
};

// A blocking client with deadlines on every wait.
class RawClient {
public:
    // receive_buffer: SO_RCVBUF, set before the connect so that the
    // window the client offers is that small too (0: the kernel's).
    explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
        fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd_) throw_errno("socket");
        if (receive_buffer > 0) {
            ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        }
        SocketAddress address = SocketAddress::from_ip("127.0.0.1", port);
        if (::connect(fd_.get(), address.data(), address.size()) < 0) throw_errno("connect");
        int on = 1;
        ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }

    void send(std::string_view data) { send_all(fd_.get(), data); }
    void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }
    int fd() const { return fd_.get(); }
    FileDescriptor& socket() { return fd_; }

    // Bytes until `delimiter` (included).
    std::string read_until(std::string_view delimiter, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            std::size_t at = buffer_.find(delimiter);
            if (at != std::string::npos) {
                std::string out = buffer_.substr(0, at + delimiter.size());
                buffer_.erase(0, at + delimiter.size());
                return out;
            }
            if (!fill(deadline)) throw std::runtime_error("closed before '" + std::string(delimiter) + "'; got: " + buffer_);
        }
    }
    std::string read_exactly(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (buffer_.size() < n) {
            if (!fill(deadline)) throw std::runtime_error("closed before " + std::to_string(n) + " bytes");
        }
        std::string out = buffer_.substr(0, n);
        buffer_.erase(0, n);
        return out;
    }
    std::string read_until_close(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (fill(deadline)) {
        }
        return std::exchange(buffer_, {});
    }

    // One response (no body for HEAD, 1xx, 204, 304).
    Response read_response(bool head_request = false, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        Response response;
        std::string head = read_until("\r\n\r\n", timeout);
        std::size_t line_end = head.find("\r\n");
        std::string status_line = head.substr(0, line_end);
        if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) {
            throw std::runtime_error("bad status line: " + status_line);
        }
        response.status = std::stoi(status_line.substr(9, 3));
        response.reason = status_line.size() > 13 ? status_line.substr(13) : "";
        std::size_t start = line_end + 2;
        while (start < head.size() - 2) {
            std::size_t end = head.find("\r\n", start);
            std::string line = head.substr(start, end - start);
            std::size_t colon = line.find(':');
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            response.headers.emplace_back(line.substr(0, colon), value);
            start = end + 2;
        }
        bool no_body = head_request || response.status < 200 || response.status == 204 || response.status == 304;
        if (no_body) return response;
        if (equals_ignoring_case(response.header("Transfer-Encoding"), "chunked")) {
            response.chunked = true;
            for (;;) {
                std::string size_line = read_until("\r\n", timeout);
                std::size_t size = std::stoul(size_line, nullptr, 16);
                if (size == 0) {
                    read_until("\r\n", timeout);
                    break;
                }
                response.body += read_exactly(size, timeout);
                if (read_exactly(2, timeout) != "\r\n") throw std::runtime_error("chunk without CRLF");
            }
        } else if (response.has_header("Content-Length")) {
            response.body = read_exactly(std::stoul(response.header("Content-Length")), timeout);
        } else {
            response.body = read_until_close(timeout);
        }
        return response;
    }

    // Whether the server closes (EOF, or a reset) within `timeout`, with no
    // further bytes before it. Bytes that come instead are kept in `extra`.
    bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        if (!buffer_.empty()) return false;
        return !fill(deadline, /*quiet_timeout=*/true) && buffer_.empty() && !timed_out_;
    }

    // Nothing at all arrives within `wait` (the connection stays open and quiet).
    bool quiet_for(std::chrono::milliseconds wait) {
        if (!buffer_.empty()) return false;
        return !wait_readable(fd_.get(), wait);
    }

    const std::string& buffered() const { return buffer_; }

private:
    // Reads what is there; false at EOF/reset, or (quiet_timeout) on timeout.
    bool fill(std::chrono::steady_clock::time_point deadline, bool quiet_timeout = false) {
        timed_out_ = false;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !wait_readable(fd_.get(), left)) {
                if (quiet_timeout) {
                    timed_out_ = true;
                    return false;
                }
                throw std::runtime_error("RawClient: timed out; have: " + buffer_.substr(0, 300));
            }
            char chunk[65536];
            ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == ECONNRESET) return false;
            if (n < 0) throw_errno("recv");
            if (n == 0) return false;
            buffer_.append(chunk, static_cast<std::size_t>(n));
            return true;
        }
    }

    FileDescriptor fd_;
    std::string buffer_;
    bool timed_out_ = false;
};

// A GET request's bytes, Host included; `extra` holds more header lines,
// each ending in \r\n.
inline std::string get_request(std::string_view path, std::string_view extra = "") {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

// "Hello, world" with a Content-Length: the callback of most tests.
inline void answer(const std::shared_ptr<HTTPServerRequest>& request, std::string_view body, int status = 200,
                   HTTPHeaders headers = {}) {
    if (!headers.contains("Content-Length")) headers.add("Content-Length", std::to_string(body.size()));
    request->connection->write_headers(ResponseStartLine{"HTTP/1.1", status, ""}, headers, body);
    request->connection->finish();
}

// The segments with data that have reached `fd` since it connected
// (tcp_segments.cpp).
unsigned data_segments_received(int fd);

}  // namespace tornado::testing
