// tcpecho client: sends one line to the echo server and prints the answer
// (Tornado's demos/tcpecho/client.py).
//
//   build/bin/final_tcpecho_client [--host=127.0.0.1] [--port=9888] [--message=ping]
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/options.h"
#include "tornado/tcpclient.h"

static auto& host = tornado::define("host", "127.0.0.1", "the echo server's address");
static auto& port = tornado::define("port", 9888, "the echo server's port");
static auto& message = tornado::define("message", "ping", "the line to send");

tornado::Task<std::string> send_message() {
    tornado::TCPClient client;
    std::shared_ptr<tornado::IOStream> stream =
        co_await client.connect(*host, static_cast<std::uint16_t>(*port), std::chrono::seconds(5));
    co_await stream->write(*message + "\n");
    std::printf("Sent to server: %s\n", message->c_str());
    std::string reply = co_await stream->read_until("\n");
    stream->close();
    co_return reply.substr(0, reply.size() - 1);
}

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    try {
        std::string reply = loop.run_sync(send_message, std::chrono::seconds(10));
        std::printf("Response from server: %s\n", reply.c_str());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "tcpecho client: %s\n", error.what());
        return 1;
    }
    return 0;
}
