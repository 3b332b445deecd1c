// tornado/testing.h: GoogleTest fixtures for code that runs on an IOLoop
// (Tornado's `tornado.testing`). Link tornado::testing (it brings GTest).
//
//   AsyncTestCase      a fresh IOLoop per test, current on the test's
//                      thread; run_sync(f) runs a coroutine (or any function)
//                      on it with a timeout, the C++ twin of @gen_test;
//   AsyncHTTPTestCase  also starts your application on an HTTPServer on
//                      127.0.0.1 (a free port) and gives an AsyncHTTPClient;
//                      fetch("/path") returns the response.
//   AsyncHTTPSTestCase the same over HTTPS, with certificates made for the
//                      test (testing_certificates.h): fetch() checks the
//                      server's certificate against the test's CA.
//
//   class HelloTest : public tornado::testing::AsyncHTTPTestCase {
//   protected:
//       std::shared_ptr<tornado::HTTPServerConnectionDelegate> get_app() override {
//           return std::make_shared<HelloApp>();     // a web::Application is one
//       }
//   };
//
//   TEST_F(HelloTest, SaysHello) {
//       tornado::HTTPResponse response = fetch("/");  // runs the loop until it is back
//       EXPECT_EQ(response.code, 200);
//       EXPECT_EQ(response.body, "Hello, world");
//   }
//
//   class SleepTest : public tornado::testing::AsyncTestCase {};
//
//   TEST_F(SleepTest, Sleeps) {
//       int n = run_sync([]() -> tornado::Task<int> {  // @gen_test
//           co_await tornado::sleep(std::chrono::milliseconds(10));
//           co_return 42;
//       });                                          // TimeoutError after 5 s
//       EXPECT_EQ(n, 42);
//   }
//
// The timeout of run_sync and fetch is get_async_test_timeout(): 5 seconds,
// or the environment variable ASYNC_TEST_TIMEOUT (seconds), as in Tornado.
// A test that waits too long fails with TimeoutError instead of hanging.
//
// A subclass's own TearDown releases what it made on the loop (servers,
// clients, streams), then calls the base TearDown last, which closes the
// loop: every coroutine still waiting is cancelled and unwinds, and every
// timer and handler is dropped.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/httpserver.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/netutil.h"
#include "tornado/testing_certificates.h"
#include "tornado/util.h"

namespace tornado::testing {

// 5 seconds, or ASYNC_TEST_TIMEOUT (a number of seconds, "0.5" allowed)
// when it is set to one.
inline IOLoop::Clock::duration get_async_test_timeout() {
    if (const char* text = std::getenv("ASYNC_TEST_TIMEOUT")) {
        char* end = nullptr;
        double seconds = std::strtod(text, &end);
        if (end != text && *end == '\0' && std::isfinite(seconds) && seconds >= 0) {
            return std::chrono::ceil<IOLoop::Clock::duration>(
                std::chrono::duration<double>(seconds));
        }
    }
    return std::chrono::seconds(5);
}

// A listening socket on 127.0.0.1 and its port (Tornado's bind_unused_port).
inline std::pair<FileDescriptor, std::uint16_t> bind_unused_port() {
    std::vector<FileDescriptor> sockets = bind_sockets(0, "127.0.0.1");
    std::uint16_t port = SocketAddress::local_of(sockets.front().get()).port();
    return {std::move(sockets.front()), port};
}

// Keeps the log lines a test expects out of its output, and checks they came
// (Tornado's ExpectLog). While it lives, each line of `logger` whose message
// std::regex_search()es `pattern` (and, given a `level`, has exactly that
// level) is swallowed and counted; the others go on to the handler that was
// in place. When it ends, the test fails (ADD_FAILURE) if `required` and no
// line matched, unless an exception is on its way out. Given a level the
// logger is too quiet for (debug, say), the logger lets it through meanwhile.
//
//   TEST_F(ErrorsTest, LogsTheHandlersException) {
//       tornado::testing::ExpectLog expected(tornado::app_log, "Uncaught exception");
//       EXPECT_EQ(fetch("/fails").code, 500);
//   }   // fails unless the exception was logged; the log stays clean
//
// Lines logged by other threads count too. Nested ExpectLogs each see what
// the inner ones let through; they must end in the reverse order.
class ExpectLog {
public:
    ExpectLog(Logger& logger, const std::string& pattern, bool required = true,
              std::optional<LogLevel> level = std::nullopt)
        : logger_(logger),
          pattern_(pattern),
          required_(required),
          own_level_(logger.own_level()),
          uncaught_at_start_(std::uncaught_exceptions()),
          matched_(std::make_shared<std::atomic<int>>(0)) {
        if (level && !logger.enabled(*level)) logger.set_level(*level);
        // The handler in place is taken first, so that ours can pass lines
        // on to it (for that instant, lines go to the default handler).
        previous_ = set_log_handler(LogHandler());
        // Ours runs under the log's lock, so it must not log itself.
        set_log_handler([name = std::string(logger.name()), regex = std::regex(pattern), level,
                         matched = matched_, previous = previous_](const LogRecord& record) {
            bool expected = record.logger == name && (!level || record.level == *level) &&
                            std::regex_search(record.message.begin(), record.message.end(), regex);
            if (expected) {
                ++*matched;
            } else if (previous) {
                previous(record);
            } else {
                default_log_handler(record);
            }
        });
    }
    ~ExpectLog() {
        set_log_handler(std::move(previous_));
        logger_.set_level(own_level_);
        if (required_ && matched() == 0 && std::uncaught_exceptions() == uncaught_at_start_) {
            ADD_FAILURE() << "did not get the expected log line: " << logger_.name() << " /"
                          << pattern_ << "/";
        }
    }
    ExpectLog(const ExpectLog&) = delete;
    ExpectLog& operator=(const ExpectLog&) = delete;

    // How many lines it swallowed so far.
    int matched() const { return matched_->load(); }

private:
    Logger& logger_;
    std::string pattern_;
    bool required_;
    LogLevel own_level_;
    int uncaught_at_start_;
    std::shared_ptr<std::atomic<int>> matched_;
    LogHandler previous_;
};

// A fresh IOLoop for each test (Tornado's AsyncTestCase).
class AsyncTestCase : public ::testing::Test {
protected:
    // The loop is made with the fixture, before a subclass's members, so
    // that they may use it in their constructors, and goes after them.
    AsyncTestCase() = default;

    void TearDown() override { io_loop_.close(); }

    // The test's loop (IOLoop::current() on the test's thread).
    IOLoop& io_loop() noexcept { return io_loop_; }

    // Runs the loop until what func() returns (a Task, a Future or a plain
    // value) is done, and returns its value or throws its exception; throws
    // TimeoutError when `timeout` passes first (the work is then cancelled
    // when the loop closes).
    template <typename F>
    auto run_sync(F&& func,
                  std::optional<IOLoop::Clock::duration> timeout = get_async_test_timeout()) {
        return io_loop_.run_sync(std::forward<F>(func), timeout);
    }

private:
    IOLoop io_loop_;
};

// An HTTP server with your application, and a client, for each test
// (Tornado's AsyncHTTPTestCase).
class AsyncHTTPTestCase : public AsyncTestCase {
protected:
    // The application to serve (web::Application is an
    // HTTPServerConnectionDelegate). Called once, in SetUp.
    virtual std::shared_ptr<HTTPServerConnectionDelegate> get_app() = 0;
    virtual HTTPServerOptions get_httpserver_options() { return {}; }
    virtual std::unique_ptr<AsyncHTTPClient> get_http_client() {
        return std::make_unique<AsyncHTTPClient>();
    }

    void SetUp() override {
        AsyncTestCase::SetUp();
        auto [socket, port] = bind_unused_port();
        port_ = port;
        app_ = get_app();
        http_server_ = std::make_unique<HTTPServer>(app_, get_httpserver_options());
        std::vector<FileDescriptor> sockets;
        sockets.push_back(std::move(socket));
        http_server_->add_sockets(std::move(sockets));
        http_client_ = get_http_client();
    }

    // Stops the server, closes its connections (waiting for them at most
    // the async test timeout), closes the client, then the loop.
    void TearDown() override {
        if (http_server_) {
            http_server_->stop();
            try {
                run_sync([this] { return http_server_->close_all_connections(); });
            } catch (const TimeoutError&) {
                ADD_FAILURE() << "the server's connections did not close in time";
            }
        }
        if (http_client_) http_client_->close();
        http_client_.reset();
        http_server_.reset();
        app_.reset();
        AsyncTestCase::TearDown();
    }

    std::uint16_t get_http_port() const noexcept { return port_; }
    virtual std::string get_protocol() const { return "http"; }
    // "http://127.0.0.1:PORT/path"
    std::string get_url(std::string_view path) const {
        return get_protocol() + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
    }

    AsyncHTTPClient& http_client() { return *http_client_; }
    HTTPServer& http_server() { return *http_server_; }

    // What fetch() adds to every request (AsyncHTTPSTestCase: its CA).
    virtual void complete_request(HTTPRequest&) const {}

    // Fetches `path` (a URL as it is if it starts with http:// or https://)
    // with the fields of `options` (its url is ignored), running the loop
    // until the response comes. As Tornado's fetch, raise_error is false: a
    // 404 or a 599 is a response. Throws TimeoutError (failing the test)
    // after get_async_test_timeout().
    HTTPResponse fetch(std::string path, HTTPRequest options = {}, bool raise_error = false) {
        std::string scheme = path.substr(0, 8);
        for (char& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        bool absolute = scheme.starts_with("http://") || scheme.starts_with("https://");
        options.url = absolute ? std::move(path) : get_url(path);
        complete_request(options);
        return run_sync([this, &options, raise_error] {
            return http_client_->fetch(std::move(options), raise_error);
        });
    }

private:
    std::shared_ptr<HTTPServerConnectionDelegate> app_;
    std::unique_ptr<HTTPServer> http_server_;
    std::unique_ptr<AsyncHTTPClient> http_client_;
    std::uint16_t port_ = 0;
};

// Tornado's AsyncHTTPSTestCase: AsyncHTTPTestCase over TLS. SetUp makes a
// CA and a server certificate in a fresh temporary directory
// (TemporaryCertificates, removed by TearDown); the server uses get_ssl_options(), and fetch()
// trusts the CA unless the request names its own ca_certs or turns validate_cert off. Tornado's
// client skips the check instead (validate_cert=False); checking it here means every test also
// tests the verification.
class AsyncHTTPSTestCase : public AsyncHTTPTestCase {
protected:
    void SetUp() override {
        certificates_.emplace();
        AsyncHTTPTestCase::SetUp();
    }

    void TearDown() override {
        AsyncHTTPTestCase::TearDown();
        certificates_.reset();
    }

    virtual SSLOptions get_ssl_options() {
        return SSLOptions{.certfile = certificates().server_certfile,
                          .keyfile = certificates().server_keyfile};
    }
    HTTPServerOptions get_httpserver_options() override {
        return HTTPServerOptions{.ssl_options = get_ssl_options()};
    }
    std::string get_protocol() const override { return "https"; }
    void complete_request(HTTPRequest& request) const override {
        if (request.ca_certs.empty()) request.ca_certs = certificates().ca_certfile;
    }

    const TestCertificates& certificates() const noexcept { return certificates_->files(); }

private:
    std::optional<TemporaryCertificates> certificates_;  // made in SetUp, removed in TearDown
};

}  // namespace tornado::testing
