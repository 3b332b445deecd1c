// final_http3_server: a small server for final/http3's tests
// (tests/clients/final_http3_test.py). One Application, served over
// HTTP/3 on a UDP port:
//
//   GET  /           "Hello, world"
//   POST /echo       the request body, as it came
//   GET  /big?n=N    N bytes ("abcd..." over and over), for responses
//                    larger than the client's first stream credit
//   GET  /chunks?n=N the same N bytes, written 16 KiB at a time, each
//                    after the last was flushed: a handler paced by the
//                    client's credit
//   GET  /version    the request's version ("HTTP/3.0")
//   POST /held       a streamed body whose pieces the handler does not
//                    take until GET /release: the client's credit must
//                    stay shut meanwhile; answers the bytes it took. It
//                    prints "held request begun" on stdout at its first
//                    piece, which a test waits for: the connection is
//                    the server's by then
//   GET  /slow?ms=N  "slow", N milliseconds after it came; it prints
//                    "slow request begun" on stdout as it comes, which a
//                    test waits for before it stops the server
//   GET  /hog?ms=N   "hog", after holding the loop N milliseconds (a
//                    handler that computes, not one that waits): what
//                    the server sent before it ran has left by then
//   GET  /trailers   "body", then the trailer x-checksum: 1234
//   GET  /connections the QUIC connections open now (this one too)
//   GET  /streams    the request streams open now, over every connection
//                    (this one too), and on the one that has the most
//                    ("101 100")
//   GET  /held_bytes how many bytes /held's handlers have been given so
//                    far, and the largest piece ("737 262144"): what came
//                    while a handler held it is its next piece, so the
//                    largest is at most the stream's credit
//
//   build/bin/final_http3_server --port=0 --certfile=cert.pem --keyfile=key.pem
//
// With --refuse_every=N it reads its socket itself and hands the
// datagrams to HTTP3Server::receive with a sink that says EAGAIN after
// every N datagrams sent, as a full socket buffer would: the server must
// keep the rest and send it once wait_writable() resolves (backpressure,
// not loss).
//
// It prints "Listening on https://ADDRESS:PORT/ (HTTP/3)" once its socket
// is bound (--port=0: a free port), and on SIGTERM stops gracefully
// (GOAWAY: the requests in progress are answered, for up to 5 s) and
// exits 0.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tornado/gen.h"
#include "tornado/http3.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

static auto& port = tornado::define("port", 0, "the UDP port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& certfile = tornado::define("certfile", std::string(), "PEM certificate");
static auto& keyfile = tornado::define("keyfile", std::string(), "PEM private key");
static auto& idle_timeout_ms =
    tornado::define("idle_timeout_ms", 30000, "a connection that hears nothing this long ends");
static auto& max_connections =
    tornado::define("max_connections", 10000, "connections open at once; more are dropped");
static auto& handshakes_before_retry = tornado::define(
    "handshakes_before_retry", 100, "handshakes in progress past which clients get a Retry");
static auto& refuse_every =
    tornado::define("refuse_every", 0, "say EAGAIN after every N datagrams sent (0: never)");

// The sink of --refuse_every: the socket's, but full after every N
// datagrams until the server waits for room, which it then has at once.
class RefusingSink final : public tornado::DatagramSink {
public:
    RefusingSink(tornado::UDPSocket& socket, std::size_t every)
        : socket_(socket), every_(every), room_(every) {}
    tornado::SendResult send(std::span<const tornado::OutgoingDatagram> datagrams) override {
        std::size_t now = std::min(room_, datagrams.size());
        tornado::SendResult result = socket_.send(datagrams.first(now));
        room_ -= result.sent;
        if (result.error == 0 && now < datagrams.size()) result.error = EAGAIN;
        refusals += result.error == EAGAIN ? 1 : 0;
        return result;
    }
    tornado::Future<void> wait_writable() override {
        room_ = every_;
        tornado::Future<void> room;
        room.set_result();  // its callbacks run at the loop's next turn
        return room;
    }
    tornado::SocketAddress local_address() const override { return socket_.local_address(); }
    std::size_t refusals = 0;

private:
    tornado::UDPSocket& socket_;
    std::size_t every_;
    std::size_t room_;
};

class HelloHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

class EchoHandler : public tornado::RequestHandler {
public:
    void post(const tornado::PathArgs&) override {
        set_header("Content-Type", "application/octet-stream");
        write(request().body);
    }
};

class BigHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        std::string count = get_argument("n", "100000");
        std::size_t n = std::stoul(count);
        std::string body(n, '\0');
        for (std::size_t i = 0; i < n; ++i) body[i] = static_cast<char>('a' + i % 26);
        write(body);
    }
};

class ChunksHandler : public tornado::RequestHandler {
public:
    tornado::Task<void> get_async(tornado::PathArgs) override {
        std::size_t n = std::stoul(get_argument("n", "100000"));
        std::string chunk(16 * 1024, '\0');
        for (std::size_t sent = 0; sent < n; sent += chunk.size()) {
            chunk.resize(std::min<std::size_t>(16 * 1024, n - sent));
            for (std::size_t i = 0; i < chunk.size(); ++i)
                chunk[i] = static_cast<char>('a' + (sent + i) % 26);
            write(chunk);
            co_await flush();
        }
    }
};

class VersionHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write(request().version); }
};

// /held and /release: the Future each /held handler waits on for its
// next piece, resolved by /release (and from then on, at once).
static std::size_t held_bytes = 0;
static std::size_t largest_piece = 0;
static bool released = false;
static std::vector<tornado::Future<void>> holding;

class HeldHandler : public tornado::RequestHandler {
public:
    bool stream_request_body() const override { return true; }
    tornado::Future<void> data_received_async(std::string chunk) override {
        if (taken_ == 0) {
            std::printf("held request begun\n");
            std::fflush(stdout);
        }
        held_bytes += chunk.size();
        largest_piece = std::max(largest_piece, chunk.size());
        taken_ += chunk.size();
        tornado::Future<void> next;
        if (released) {
            next.set_result();
        } else {
            holding.push_back(next);
        }
        return next;
    }
    void post(const tornado::PathArgs&) override { write(std::to_string(taken_)); }

private:
    std::size_t taken_ = 0;
};

class ReleaseHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        released = true;
        for (tornado::Future<void>& next : holding) next.set_result();
        holding.clear();
        write("released");
    }
};

class HeldBytesHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write(std::to_string(held_bytes) + " " + std::to_string(largest_piece));
    }
};

class SlowHandler : public tornado::RequestHandler {
public:
    tornado::Task<void> get_async(tornado::PathArgs) override {
        std::printf("slow request begun\n");
        std::fflush(stdout);
        co_await tornado::sleep(std::chrono::milliseconds(std::stoi(get_argument("ms", "500"))));
        write("slow");
    }
};

class HogHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(get_argument("ms", "500"))));
        write("hog");
    }
};

class TrailersHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write("body");
        set_trailer("X-Checksum", "1234");
    }
};

static tornado::HTTP3Server* the_server = nullptr;

class ConnectionsHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write(std::to_string(the_server->connection_count()));
    }
};

class StreamsHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write(std::to_string(the_server->stream_count()) + " " +
              std::to_string(the_server->largest_stream_count()));
    }
};

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    tornado::Application app({
        {"/", tornado::handler<HelloHandler>()},
        {"/echo", tornado::handler<EchoHandler>()},
        {"/big", tornado::handler<BigHandler>()},
        {"/chunks", tornado::handler<ChunksHandler>()},
        {"/version", tornado::handler<VersionHandler>()},
        {"/held", tornado::handler<HeldHandler>()},
        {"/release", tornado::handler<ReleaseHandler>()},
        {"/held_bytes", tornado::handler<HeldBytesHandler>()},
        {"/connections", tornado::handler<ConnectionsHandler>()},
        {"/streams", tornado::handler<StreamsHandler>()},
        {"/trailers", tornado::handler<TrailersHandler>()},
        {"/slow", tornado::handler<SlowHandler>()},
        {"/hog", tornado::handler<HogHandler>()},
    });
    tornado::HTTP3Parameters params;
    params.certfile = *certfile;
    params.keyfile = *keyfile;
    params.idle_timeout = std::chrono::milliseconds(*idle_timeout_ms);
    params.max_connections = static_cast<std::size_t>(*max_connections);
    params.handshakes_before_retry = static_cast<std::size_t>(*handshakes_before_retry);
    tornado::HTTP3Server server(app, params);
    the_server = &server;
    auto where = tornado::SocketAddress::from_ip(*address, static_cast<std::uint16_t>(*port));
    std::unique_ptr<tornado::UDPSocket> socket;
    std::unique_ptr<RefusingSink> sink;
    if (*refuse_every > 0) {
        socket = std::make_unique<tornado::UDPSocket>(where);
        sink = std::make_unique<RefusingSink>(*socket, static_cast<std::size_t>(*refuse_every));
        socket->start_reading(
            [&](const tornado::Datagram& datagram) { server.receive(datagram, *sink); });
    } else {
        server.listen(where);
    }
    tornado::SocketAddress bound =
        socket ? socket->local_address() : server.local_addresses().front();
    std::printf("Listening on https://%s/ (HTTP/3)\n", bound.to_string().c_str());
    std::fflush(stdout);
    loop.add_signal_handler(SIGTERM, [&] {
        server.close_all_connections(std::chrono::seconds(5)).add_done_callback([&] {
            loop.stop();
        });
    });
    loop.start();
    if (sink) std::fprintf(stderr, "EAGAIN said %zu times\n", sink->refusals);
    return 0;
}
