// Tests for tornado/httpserver.h: what a request callback sees, forms and
// uploads, the callback styles, xheaders, an HTTPServerConnectionDelegate
// streaming a body (and detaching the stream), output errors, graceful
// shutdown, and the heap bytes an idle keep-alive connection holds.
#include "tornado/httpserver.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "http_test_util.h"
#include "test_util.h"
#include "tornado/gen.h"
#include "tornado/testing_certificates.h"

namespace {

using namespace std::chrono_literals;
using tornado::Future;
using tornado::HTTPHeaders;
using tornado::HTTPServer;
using tornado::HTTPServerOptions;
using tornado::HTTPServerRequest;
using tornado::IOLoop;
using tornado::Task;
using tornado::testing::answer;
using tornado::testing::get_request;
using tornado::testing::RawClient;
using tornado::testing::Response;
using tornado::testing::ServerThread;

using RequestPtr = std::shared_ptr<HTTPServerRequest>;

std::string post(std::string_view path, std::string_view content_type, std::string_view body) {
    return "POST " + std::string(path) + " HTTP/1.1\r\nHost: test\r\nContent-Type: " + std::string(content_type) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// What a callback saw, copied out under a lock for the test's thread.
struct SeenRequests {
    std::mutex mutex;
    std::vector<HTTPServerRequest> requests;

    void add(const HTTPServerRequest& request) {
        std::lock_guard lock(mutex);
        requests.push_back(HTTPServerRequest(request.method, request.uri, request.version, request.headers,
                                             request.body, request.host));
        HTTPServerRequest& copy = requests.back();
        copy.remote_ip = request.remote_ip;
        copy.protocol = request.protocol;
        copy.arguments = request.arguments;
        copy.query_arguments = request.query_arguments;
        copy.body_arguments = request.body_arguments;
        copy.files = request.files;
    }
    HTTPServerRequest last() {
        std::lock_guard lock(mutex);
        const HTTPServerRequest& request = requests.back();
        HTTPServerRequest copy(request.method, request.uri, request.version, request.headers, request.body,
                               request.host);
        copy.remote_ip = request.remote_ip;
        copy.protocol = request.protocol;
        copy.arguments = request.arguments;
        copy.query_arguments = request.query_arguments;
        copy.body_arguments = request.body_arguments;
        copy.files = request.files;
        return copy;
    }
};

// --- what the callback sees -----------------------------------------------------------------------

TEST(HTTPServer, TheRequestAsTheCallbackSeesIt) {
    auto seen = std::make_shared<SeenRequests>();
    ServerThread server([seen] {
        return std::make_unique<HTTPServer>([seen](RequestPtr request) {
            seen->add(*request);
            EXPECT_NE(request->connection, nullptr);
            EXPECT_NE(request->server_connection, nullptr);
            answer(request, "ok");
        });
    });
    RawClient client(server.port());
    client.send("GET /a/b%20c?x=1&y=&x=2 HTTP/1.1\r\nHost: Example.com:8080\r\nX-Thing: value\r\n\r\n");
    ASSERT_EQ(client.read_response().status, 200);
    HTTPServerRequest request = seen->last();
    EXPECT_EQ(request.method, "GET");
    EXPECT_EQ(request.uri, "/a/b%20c?x=1&y=&x=2");
    EXPECT_EQ(request.path, "/a/b%20c");
    EXPECT_EQ(request.query, "x=1&y=&x=2");
    EXPECT_EQ(request.version, "HTTP/1.1");
    EXPECT_EQ(request.host, "Example.com:8080");
    EXPECT_EQ(request.headers.get("X-Thing"), "value");
    EXPECT_EQ(request.remote_ip, "127.0.0.1");
    EXPECT_EQ(request.protocol, "http");
    EXPECT_EQ(request.arguments.at("x"), (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(request.query_arguments.at("y"), std::vector<std::string>{""});
}

TEST(HTTPServer, HostAndCookies) {
    std::mutex mutex;
    std::string host_name;
    std::vector<std::pair<std::string, std::string>> cookies;
    ServerThread server([&] {
        return std::make_unique<HTTPServer>([&](RequestPtr request) {
            std::lock_guard lock(mutex);
            host_name = request->host_name;
            cookies.assign(request->cookies().begin(), request->cookies().end());
            answer(request, request->full_url());
        });
    });
    RawClient client(server.port());
    client.send("GET /p?q HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\nCookie: a=1; b=\"two\"; path=x\r\n\r\n");
    EXPECT_EQ(client.read_response().body, "http://WWW.Example.COM:8080/p?q");
    std::lock_guard lock(mutex);
    EXPECT_EQ(host_name, "www.example.com");
    EXPECT_EQ(cookies, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "two"}}));
}

TEST(HTTPServer, FormsAndUploads) {
    auto seen = std::make_shared<SeenRequests>();
    ServerThread server([seen] {
        return std::make_unique<HTTPServer>([seen](RequestPtr request) {
            seen->add(*request);
            answer(request, "ok");
        });
    });
    RawClient client(server.port());
    client.send(post("/form?a=0", "application/x-www-form-urlencoded", "a=1&b=two+words&c=%26"));
    ASSERT_EQ(client.read_response().status, 200);
    HTTPServerRequest form = seen->last();
    EXPECT_EQ(form.arguments.at("a"), (std::vector<std::string>{"0", "1"}));
    EXPECT_EQ(form.body_arguments.at("b"), std::vector<std::string>{"two words"});
    EXPECT_EQ(form.body_arguments.at("c"), std::vector<std::string>{"&"});

    std::string multipart =
        "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy file\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n"
        "Content-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"b.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n" +
        std::string("\x00\x01\x02", 3) + "\r\n--XyZ--\r\n";
    client.send(post("/upload", "multipart/form-data; boundary=XyZ", multipart));
    ASSERT_EQ(client.read_response().status, 200);
    HTTPServerRequest upload = seen->last();
    EXPECT_EQ(upload.body_arguments.at("title"), std::vector<std::string>{"My file"});
    ASSERT_EQ(upload.files.at("upload").size(), 2u);
    EXPECT_EQ(upload.files.at("upload")[0].filename, "a.txt");
    EXPECT_EQ(upload.files.at("upload")[0].content_type, "text/plain");
    EXPECT_EQ(upload.files.at("upload")[0].body, "line 1\r\nline 2");
    EXPECT_EQ(upload.files.at("upload")[1].filename, "b.bin");
    EXPECT_EQ(upload.files.at("upload")[1].body, std::string("\x00\x01\x02", 3));
}

TEST(HTTPServer, AMalformedUploadIs400) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) { answer(request, "ok"); });
    });
    RawClient client(server.port());
    client.send(post("/upload", "multipart/form-data; boundary=XyZ", "--XyZ\r\nno end"));
    Response response = client.read_response();
    EXPECT_EQ(response.status, 400);
    EXPECT_NE(response.body.find("Invalid multipart/form-data: no final boundary"), std::string::npos);
    EXPECT_TRUE(client.closed_by_server());
}

// --- callback styles -----------------------------------------------------------------------------

TEST(HTTPServer, ACoroutineCallback) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) -> Task<void> {
            co_await tornado::sleep(20ms);
            answer(request, "slept");
        });
    });
    RawClient client(server.port());
    client.send(get_request("/") + get_request("/"));
    EXPECT_EQ(client.read_response().body, "slept");
    EXPECT_EQ(client.read_response().body, "slept");
}

TEST(HTTPServer, ACoroutineThatFailsBeforeItWaitsGives500) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) -> Task<void> {
            if (request->path == "/fail") throw std::runtime_error("no");
            co_await tornado::moment;
            answer(request, "fine");
        });
    });
    RawClient client(server.port());
    client.send(get_request("/fail"));
    EXPECT_EQ(client.read_response().status, 500);
    RawClient other(server.port());
    other.send(get_request("/"));
    EXPECT_EQ(other.read_response().body, "fine");
}

TEST(HTTPServer, StreamingAResponseWithWriteFutures) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) -> Task<void> {
            // Named first: GCC 12 cannot brace-initialise a temporary inside co_await.
            const tornado::ResponseStartLine ok{"HTTP/1.1", 200, ""};
            const HTTPHeaders headers{{"Content-Type", "text/plain"}};
            co_await request->connection->write_headers(ok, headers);
            for (int i = 0; i < 5; ++i) {
                co_await request->connection->write("chunk " + std::to_string(i) + "\n");
                co_await tornado::sleep(5ms);
            }
            request->connection->finish();
        });
    });
    RawClient client(server.port());
    client.send(get_request("/stream"));
    Response response = client.read_response();
    EXPECT_TRUE(response.chunked);
    EXPECT_EQ(response.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
}

TEST(HTTPServer, OutputErrors) {
    std::atomic<int> errors{0};
    ServerThread server([&] {
        return std::make_unique<HTTPServer>([&](RequestPtr request) {
            auto& connection = *request->connection;
            try {
                if (request->path == "/long") {
                    connection.write_headers({"HTTP/1.1", 200, ""}, HTTPHeaders{{"Content-Length", "5"}}, "0123456789");
                } else if (request->path == "/short") {
                    connection.write_headers({"HTTP/1.1", 200, ""}, HTTPHeaders{{"Content-Length", "10"}}, "01234");
                    connection.finish();
                } else {
                    answer(request, "fine");
                    EXPECT_THROW(connection.finish(), std::logic_error);
                    EXPECT_THROW(connection.write("late"), std::logic_error);
                }
            } catch (const tornado::HTTPOutputError&) {
                ++errors;
            }
        });
    });
    {
        RawClient client(server.port());
        client.send(get_request("/long"));
        EXPECT_EQ(client.read_until_close(), "");  // closed, nothing sent
    }
    {
        RawClient client(server.port());
        client.send(get_request("/short"));
        std::string got = client.read_until_close();
        EXPECT_TRUE(got.ends_with("\r\n\r\n01234")) << got;
    }
    RawClient client(server.port());
    client.send(get_request("/"));
    EXPECT_EQ(client.read_response().body, "fine");
    EXPECT_EQ(errors.load(), 2);
}

// --- xheaders -----------------------------------------------------------------------------------

std::unique_ptr<HTTPServer> make_address_server(HTTPServerOptions options) {
    return std::make_unique<HTTPServer>(
        [](RequestPtr request) { answer(request, request->remote_ip + " " + request->protocol); },
        std::move(options));
}

TEST(HTTPServer, XHeadersBehindAProxy) {
    ServerThread server([] {
        return make_address_server({.xheaders = true, .trusted_downstream = {"10.0.0.1", "10.0.0.2"}});
    });
    RawClient client(server.port());
    auto ask = [&](std::string extra) {
        client.send(get_request("/", extra));
        return client.read_response().body;
    };
    EXPECT_EQ(ask("X-Real-Ip: 4.4.4.4\r\n"), "4.4.4.4 http");
    EXPECT_EQ(ask("X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"), "2.2.2.2 http");
    EXPECT_EQ(ask("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.2,10.0.0.1\r\n"), "2.2.2.2 http");
    EXPECT_EQ(ask("X-Forwarded-For: 10.0.0.1\r\n"), "10.0.0.1 http");
    EXPECT_EQ(ask("X-Forwarded-For: 1.1.1.1\r\nX-Real-Ip: 3.3.3.3\r\n"), "3.3.3.3 http");
    EXPECT_EQ(ask("X-Forwarded-For: ::1\r\n"), "::1 http");
    EXPECT_EQ(ask("X-Real-Ip: not-an-address\r\n"), "127.0.0.1 http");
    EXPECT_EQ(ask("X-Scheme: https\r\n"), "127.0.0.1 https");
    EXPECT_EQ(ask("X-Forwarded-Proto: http, https\r\n"), "127.0.0.1 https");
    EXPECT_EQ(ask("X-Forwarded-Proto: gopher\r\n"), "127.0.0.1 http");
    EXPECT_EQ(ask("X-Scheme: http\r\nX-Forwarded-Proto: https\r\n"), "127.0.0.1 http");
    // Per request: nothing leaks into the next one on the same connection.
    EXPECT_EQ(ask("X-Real-Ip: 4.4.4.4\r\nX-Scheme: https\r\n"), "4.4.4.4 https");
    EXPECT_EQ(ask(""), "127.0.0.1 http");
}

TEST(HTTPServer, XHeadersAreIgnoredUnlessAskedFor) {
    ServerThread server([] { return make_address_server({}); });
    RawClient client(server.port());
    client.send(get_request("/", "X-Real-Ip: 4.4.4.4\r\nX-Scheme: https\r\n"));
    EXPECT_EQ(client.read_response().body, "127.0.0.1 http");
}

TEST(HTTPServer, ProtocolOption) {
    ServerThread server([] { return make_address_server({.protocol = "https"}); });
    RawClient client(server.port());
    client.send(get_request("/"));
    EXPECT_EQ(client.read_response().body, "127.0.0.1 https");
    EXPECT_THROW(HTTPServer([](RequestPtr) {}, {.protocol = "gopher"}), std::invalid_argument);
}

// --- an HTTPServerConnectionDelegate ----------------------------------------------------------------

// Counts the body as it streams in; "/big" raises the body limit for itself;
// "/upgrade" answers 101 and takes the stream (as WebSocket does), echoing lines.
class StreamingApp : public tornado::HTTPServerConnectionDelegate {
public:
    std::atomic<int> closes{0};
    std::atomic<int> connection_closes{0};

    class Message : public tornado::HTTPMessageDelegate {
    public:
        Message(StreamingApp& app, std::shared_ptr<tornado::HTTPConnection> connection)
            : app_(app), connection_(std::move(connection)) {}

        Future<void> headers_received(tornado::StartLine start_line, HTTPHeaders) override {
            path_ = std::get<tornado::RequestStartLine>(start_line).path;
            if (path_ == "/big") connection_->set_max_body_size(10 * 1024 * 1024);
            if (path_ == "/upgrade") {
                connection_->write_headers({"HTTP/1.1", 101, ""}, HTTPHeaders{{"Upgrade", "echo"}, {"Connection", "Upgrade"}});
                connection_->finish();
                echo(connection_->detach()).detach();
            }
            return Future<void>(nullptr);
        }
        Future<void> data_received(std::string chunk) override {
            ++pieces_;
            bytes_ += chunk.size();
            // Flow control: the next piece waits for this Future.
            return tornado::sleep(1ms);
        }
        void finish() override {
            if (path_ == "/upgrade") return;
            std::string body = std::to_string(bytes_) + " bytes in " + (pieces_ > 1 ? "pieces" : "one piece");
            connection_->write_headers({"HTTP/1.1", 200, ""}, HTTPHeaders{{"Content-Length", std::to_string(body.size())}},
                                       body);
            connection_->finish();
        }
        void on_connection_close() override { ++app_.connection_closes; }

    private:
        static Task<void> echo(std::shared_ptr<tornado::IOStream> stream) {
            try {
                for (;;) co_await stream->write(co_await stream->read_until("\n"));
            } catch (const tornado::StreamClosedError&) {
            }
        }
        StreamingApp& app_;
        std::shared_ptr<tornado::HTTPConnection> connection_;
        std::string path_;
        std::size_t bytes_ = 0;
        int pieces_ = 0;
    };

    std::unique_ptr<tornado::HTTPMessageDelegate> start_request(
        tornado::HTTPServerConnection*, std::shared_ptr<tornado::HTTPConnection> connection) override {
        return std::make_unique<Message>(*this, std::move(connection));
    }
    void on_close(tornado::HTTPServerConnection*) override { ++closes; }
};

TEST(HTTPServer, ADelegateStreamsTheBodyAndRaisesItsLimit) {
    StreamingApp app;
    ServerThread server([&] {
        return std::make_unique<HTTPServer>(app, HTTPServerOptions{.chunk_size = 16 * 1024, .max_body_size = 1000});
    });
    RawClient client(server.port());
    std::string big(200000, 'b');
    client.send(post("/big", "application/octet-stream", big));
    Response response = client.read_response();
    EXPECT_EQ(response.body, "200000 bytes in pieces");
    client.send(post("/small", "application/octet-stream", big));
    EXPECT_EQ(client.read_response().status, 413);
    EXPECT_TRUE(client.closed_by_server());
    server.call([] {});  // what the server does after the close has run
    EXPECT_EQ(app.connection_closes.load(), 1);  // the refused request's delegate
    server.stop();
    EXPECT_EQ(app.closes.load(), 1);
}

TEST(HTTPServer, DetachHandsTheStreamOver) {
    StreamingApp app;
    ServerThread server([&] { return std::make_unique<HTTPServer>(app); });
    RawClient client(server.port());
    client.send(get_request("/upgrade") + "first line\n");
    Response response = client.read_response();
    EXPECT_EQ(response.status, 101);
    EXPECT_EQ(response.header("Upgrade"), "echo");
    EXPECT_EQ(client.read_until("\n"), "first line\n");  // sent with the request, kept for the new owner
    client.send("second line\n");
    EXPECT_EQ(client.read_until("\n"), "second line\n");
    EXPECT_EQ(server.call([&] { return server.server().connection_count(); }), 0u);
}

// --- graceful shutdown ------------------------------------------------------------------------------

// Counts the requests it has received (so a test knows one is in progress).
std::unique_ptr<HTTPServer> make_slow_server(std::shared_ptr<std::atomic<int>> received) {
    return std::make_unique<HTTPServer>([received](RequestPtr request) {
        ++*received;
        if (request->path == "/hang") return;  // never answers
        int ms = request->path == "/slow" ? 300 : 0;
        IOLoop::current().call_later(std::chrono::milliseconds(ms), [request] { answer(request, request->path); });
    });
}

void wait_for_requests(const std::atomic<int>& received, int n) {
    for (int i = 0; i < 1000 && received.load() < n; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_GE(received.load(), n);
}

TEST(HTTPServer, CloseAllConnectionsLetsRequestsInProgressFinish) {
    auto received = std::make_shared<std::atomic<int>>(0);
    ServerThread server([received] { return make_slow_server(received); });
    RawClient idle(server.port());
    idle.send(get_request("/"));
    EXPECT_EQ(idle.read_response().status, 200);
    RawClient busy(server.port());
    busy.send(get_request("/slow"));
    wait_for_requests(*received, 2);  // the slow request is under way

    auto done = std::make_shared<std::atomic<bool>>(false);
    server.call([&] {
        server.server().stop();
        server.server().close_all_connections(5s).add_done_callback([done] { *done = true; });
    });
    EXPECT_TRUE(idle.closed_by_server(1s));  // idle: closed at once
    Response response = busy.read_response();
    EXPECT_EQ(response.body, "/slow");
    EXPECT_EQ(response.header("Connection"), "close");
    EXPECT_TRUE(busy.closed_by_server());
    for (int i = 0; i < 100 && !*done; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(*done);
    // Not accepting any more.
    EXPECT_THROW(RawClient{server.port()}.read_response(), std::exception);
}

TEST(HTTPServer, CloseAllConnectionsGivesUpAfterTheGrace) {
    auto received = std::make_shared<std::atomic<int>>(0);
    ServerThread server([received] { return make_slow_server(received); });
    RawClient hung(server.port());
    hung.send(get_request("/hang"));
    wait_for_requests(*received, 1);
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto start = std::chrono::steady_clock::now();
    server.call([&] {
        server.server().close_all_connections(200ms).add_done_callback([done] { *done = true; });
    });
    EXPECT_TRUE(hung.closed_by_server(5s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
    for (int i = 0; i < 100 && !*done; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(*done);
}

TEST(HTTPServer, CloseAllConnectionsAtOnceAsTornado) {
    auto received = std::make_shared<std::atomic<int>>(0);
    ServerThread server([received] { return make_slow_server(received); });
    RawClient hung(server.port());
    hung.send(get_request("/hang"));
    RawClient idle(server.port());
    wait_for_requests(*received, 1);
    auto done = std::make_shared<std::atomic<bool>>(false);
    server.call([&] { server.server().close_all_connections().add_done_callback([done] { *done = true; }); });
    EXPECT_TRUE(hung.closed_by_server(1s));
    EXPECT_TRUE(idle.closed_by_server(1s));
    for (int i = 0; i < 100 && !*done; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(*done);
}

// The request is answered in the same call that begins the stop, just
// after it: a timer's answer (make_slow_server's 300 ms) could go out
// before a late call began the stop, without its "Connection: close".
TEST(HTTPServer, TheLoopsGracefulStopDrainsTheServer) {
    auto received = std::make_shared<std::atomic<int>>(0);
    auto pending = std::make_shared<RequestPtr>();
    ServerThread server([received, pending] {
        return std::make_unique<HTTPServer>([received, pending](RequestPtr request) {
            *pending = std::move(request);
            ++*received;
        });
    });
    RawClient busy(server.port());
    busy.send(get_request("/slow"));
    wait_for_requests(*received, 1);
    server.call([&] {
        server.loop().graceful_stop(5s);
        answer(*pending, (*pending)->path);
    });
    Response response = busy.read_response();
    EXPECT_EQ(response.body, "/slow");
    EXPECT_EQ(response.header("Connection"), "close");
    server.stop();  // start() has returned by itself: this joins
}

// The loop closed while a keep-alive connection waits for its next
// request: the connection's read is told (as an awaited Future is
// cancelled), so the connection ends and the server's list lets go of it
// before the server itself goes.
TEST(HTTPServer, ClosingTheLoopEndsTheIdleConnections) {
    IOLoop loop;
    int served = 0;
    HTTPServer server([&](RequestPtr request) {
        ++served;
        answer(request, "hi");
    });
    server.listen(0, "127.0.0.1");
    RawClient client(server.port());
    client.send(get_request("/"));
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return served == 1; }));
    tornado::testing::run_turns(loop, 3);  // the answer's write is reported (io_uring)
    EXPECT_EQ(client.read_response().body, "hi");
    EXPECT_EQ(server.connection_count(), 1u);
    loop.close();
    EXPECT_EQ(server.connection_count(), 0u);
}

// On io_uring, with the submission ring full (pretended) for a while: the
// requests' reads and writes fall back to recv() and send(), and every
// answer still comes, whole and in order.
TEST(HTTPServer, KeepAliveRequestsAreServedWhileTheRingRefusesRequests) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) { answer(request, request->path); });
    });
    if (!server.call([] { return IOLoop::current().io_by_completion(); })) {
        GTEST_SKIP() << "reads and writes by completion only (TORNADO_IOLOOP=io_uring)";
    }
    RawClient client(server.port());
    for (int i = 0; i < 20; ++i) {
        // Odd rounds: the next three requests (a send, receives) are refused.
        if (i % 2 == 1) server.call([&] { tornado::detail::RequestRefusals::refuse_next(server.loop(), 3); });
        client.send(get_request("/" + std::to_string(i)));
        Response response = client.read_response();
        EXPECT_EQ(response.status, 200);
        EXPECT_EQ(response.body, "/" + std::to_string(i));
    }
}

// --- memory -----------------------------------------------------------------------------------------

// The heap an idle connection holds on the server, in bytes, the least of
// three rounds of kConnections: connections that each make one request
// and then wait (`send_request`), or that connect and send nothing at all.
// The loop's two callback queues, which never shrink, can grow in a round:
// by 30 to 60 bytes a connection when more callbacks than ever before come
// in one turn (on io_uring, the reports of every answer's send can). That
// is the loop's, not the connections': hence the least of three rounds.
double idle_connection_heap(bool send_request) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) { answer(request, "Hello, world"); });
    });
    auto open_idle = [&](int n, bool request) {
        std::vector<std::unique_ptr<RawClient>> clients;
        for (int i = 0; i < n; ++i) {
            clients.push_back(std::make_unique<RawClient>(server.port()));
            if (request) clients.back()->send(get_request("/"));
        }
        if (request) {
            for (auto& client : clients) EXPECT_EQ(client->read_response().status, 200);
        }
        return clients;
    };
    auto wait_for_count = [&](std::size_t n) {
        for (int i = 0; i < 500; ++i) {
            if (server.call([&] { return server.server().connection_count(); }) == n) return;
            std::this_thread::sleep_for(10ms);
        }
        ADD_FAILURE() << "connection count never reached " << n;
    };
    // Warm-up, with requests whatever is measured: the loop's tables reach
    // their working size.
    { auto warm = open_idle(200, true); }
    wait_for_count(0);
    auto bytes = [] { return tornado::testing::live_bytes(); };
    auto blocks = [] { return tornado::testing::live_allocations(); };
    constexpr int kConnections = 200;
    double per_connection = 0;
    double blocks_per_connection = 0;
    for (int round = 0; round < 3; ++round) {
        std::int64_t bytes_before = server.call(bytes);
        std::int64_t blocks_before = server.call(blocks);
        auto clients = open_idle(kConnections, send_request);
        wait_for_count(kConnections);
        // The count is up once a connection is accepted; a turn more lets
        // whatever its start posted run (its first read is then waiting).
        server.call([] {});
        double round_bytes = static_cast<double>(server.call(bytes) - bytes_before) / kConnections;
        if (round == 0 || round_bytes < per_connection) {
            per_connection = round_bytes;
            blocks_per_connection =
                static_cast<double>(server.call(blocks) - blocks_before) / kConnections;
        }
        clients.clear();
        wait_for_count(0);
    }
    std::printf("[ measure  ] %s connection: %.0f heap bytes in %.1f blocks\n",
                send_request ? "idle keep-alive" : "silent", per_connection, blocks_per_connection);
    return per_connection;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kIdleConnectionHeap = 1024;  // the sanitizer's malloc has block sizes of its own
#else
constexpr double kIdleConnectionHeap = 520;  // 496, and room for glibc malloc's block sizes (512)
#endif

// An idle keep-alive connection: its IOStream (with the pending read's
// callback) and its HTTP1ServerConnection (with its time limit, a
// ListedTimeout: no timer in the loop's tables). 320 + 176 bytes in
// tcmalloc's size classes, on either backend (on io_uring the pending
// receive's report goes to the handler: no slot of its own). The bound
// leaves no room for a timer per connection (+72).
TEST(HTTPServer, AnIdleKeepAliveConnectionHoldsLittleHeap) {
    EXPECT_LE(idle_connection_heap(true), kIdleConnectionHeap);
}

// A connection that has sent nothing yet waits for its first head as a
// keep-alive one waits for its next: the same objects, the same bound, on
// either backend. On io_uring its pending receive names no buffer (the
// kernel picks one of the loop's when bytes come), so silence costs no
// more than it does on epoll (495 bytes on both, measured 2026-11-29).
TEST(HTTPServer, ASilentConnectionHoldsLittleHeap) {
    EXPECT_LE(idle_connection_heap(false), kIdleConnectionHeap);
}

}  // namespace

namespace {

// How many heap blocks one keep-alive request costs the server on the fast
// path (a GET answered at once by a callback), for the record and as a
// ceiling: the head, its field table, the request objects and the stream's
// two Futures (the response is formatted in a buffer the thread reuses).
// On io_uring the response's write is not done inside write() but when the
// kernel reports: the copy of the response out of the thread's buffer (the
// kernel reads it a turn later) and the stream's list of waiting writes
// cost two more. The request then ends from the write's callback, with no
// coroutine (HTTP1Connection's Outcome::flushing).

TEST(HTTPServer, AllocationsPerRequestOnTheFastPath) {
    ServerThread server([] {
        return std::make_unique<HTTPServer>([](RequestPtr request) { answer(request, "Hello, world"); });
    });
    RawClient client(server.port());
    for (int i = 0; i < 50; ++i) {  // warm-up
        client.send(get_request("/"));
        ASSERT_EQ(client.read_response().status, 200);
    }
    auto total = [] { return tornado::testing::total_allocations(); };
    std::int64_t before = server.call(total);
    constexpr int kRequests = 1000;
    for (int i = 0; i < kRequests; ++i) {
        client.send(get_request("/"));
        ASSERT_EQ(client.read_response().status, 200);
    }
    double per_request = static_cast<double>(server.call(total) - before - 1) / kRequests;
    std::printf("[ measure  ] allocations per keep-alive request: %.2f\n", per_request);
    bool by_completion = server.call([] { return IOLoop::current().io_by_completion(); });
    EXPECT_LE(per_request, by_completion ? 10 + 2 : 10);
}

}  // namespace

namespace {

// HTTP/3 is tornado::http3's, which this program does not include: the
// option is refused at start-up with a message that says what to do, not
// silently ignored. (With the add-on: tests/clients/final_http3_test.py and
// tests/browser/http3.test.mjs.)
TEST(HTTPServer, Http3WithoutItsAddOnIsRefusedSayingWhy) {
    tornado::testing::TemporaryCertificates temporary;
    const tornado::testing::TestCertificates& certificates = temporary.files();
    tornado::HTTPServerOptions options;
    options.http3 = true;
    options.ssl_options = tornado::SSLOptions{.certfile = certificates.server_certfile,
                                              .keyfile = certificates.server_keyfile};
    try {
        tornado::HTTPServer server([](std::shared_ptr<tornado::HTTPServerRequest>) {}, options);
        FAIL() << "http3 without tornado::http3 was taken";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("tornado::http3"), std::string::npos)
            << error.what();
    }
}

}  // namespace
