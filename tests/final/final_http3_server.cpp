// final_http3_server: a small server for final/http3's tests
// (tests/clients/final_http3_test.py). One Application, served over
// HTTP/3 on a UDP port:
//
//   GET  /           "Hello, world"
//   POST /echo       the request body, as it came
//   GET  /big?n=N    N bytes ("abcd..." over and over), for responses
//                    larger than the client's first stream credit
//   GET  /version    the request's version ("HTTP/3.0")
//
//   build/bin/final_http3_server --port=0 --certfile=cert.pem --keyfile=key.pem
//
// It prints "Listening on https://ADDRESS:PORT/ (HTTP/3)" once its socket
// is bound (--port=0: a free port), and on SIGTERM closes its connections
// (CONNECTION_CLOSE) and exits 0.
#include <csignal>
#include <cstdio>
#include <string>

#include "tornado/http3.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"

static auto& port = tornado::define("port", 0, "the UDP port (0: any free port)");
static auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
static auto& certfile = tornado::define("certfile", std::string(), "PEM certificate");
static auto& keyfile = tornado::define("keyfile", std::string(), "PEM private key");

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

class VersionHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write(request().version); }
};

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    tornado::Application app({
        {"/", tornado::handler<HelloHandler>()},
        {"/echo", tornado::handler<EchoHandler>()},
        {"/big", tornado::handler<BigHandler>()},
        {"/version", tornado::handler<VersionHandler>()},
    });
    tornado::HTTP3Parameters params;
    params.certfile = *certfile;
    params.keyfile = *keyfile;
    tornado::HTTP3Server server(app, params);
    server.listen(tornado::SocketAddress::from_ip(*address, static_cast<std::uint16_t>(*port)));
    tornado::SocketAddress bound = server.local_addresses().front();
    std::printf("Listening on https://%s/ (HTTP/3)\n", bound.to_string().c_str());
    std::fflush(stdout);
    loop.add_signal_handler(SIGTERM, [&] {
        server.close_all_connections().add_done_callback([&] { loop.stop(); });
    });
    loop.start();
    return 0;
}
