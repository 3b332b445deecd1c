// websocket client: connects to a WebSocket server, sends messages and
// prints what comes back, until the server closes or the input ends.
//
//   build/bin/final_websocket_client [--compress] [--binary] URL [MESSAGE...]
//   build/bin/final_websocket_client --ca_certs=ca.pem wss://localhost:8443/ws/echo hi
//
// The messages are the arguments after the URL; with none, the lines of
// standard input (a pipe or a terminal), one message each. It prints
// "connected" (with the extension, when compression was agreed), then each
// message received on a line of its own ("< text", or "< binary: N bytes"
// for a binary one); at the end, the close code and reason the server
// sent. Exit status: 0 when the server closed cleanly or all messages were
// answered, 1 on an error.
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/websocket.h"

static auto& compress = tornado::define("compress", false, "offer permessage-deflate");
static auto& binary = tornado::define("binary", false, "send the messages as binary");
static auto& timeout =
    tornado::define("timeout", 10.0, "seconds to wait for the connection and each answer");
static auto& ca_certs = tornado::define("ca_certs", std::string(),
                                        "wss: PEM file of CAs to trust (default: the system's)");
static auto& validate_cert =
    tornado::define("validate_cert", true, "wss: check the server's certificate");

namespace {

// websocket_connect gives a unique_ptr; shared here, so that each coroutine
// below takes the connection by value and its frame keeps it alive.
using Connection = std::shared_ptr<tornado::WebSocketClientConnection>;

void print(const tornado::WebSocketMessage& message) {
    if (message.binary) {
        std::printf("< binary: %zu bytes\n", message.data.size());
    } else {
        std::printf("< %s\n", message.data.c_str());
    }
    std::fflush(stdout);
}

std::chrono::milliseconds wait_limit() {
    return std::chrono::milliseconds(static_cast<long>(*timeout * 1000));
}

// Sends each message and waits for one answer to each.
tornado::Task<bool> send_all(Connection ws, std::vector<std::string> messages) {
    for (const std::string& message : messages) {
        co_await ws->write_message(message, *binary);
        std::optional<tornado::WebSocketMessage> answer =
            co_await tornado::with_timeout(wait_limit(), ws->read_message());
        if (!answer) co_return false;
        print(*answer);
    }
    co_return true;
}

// Every message until the connection closes.
tornado::Task<void> print_messages(Connection ws) {
    while (std::optional<tornado::WebSocketMessage> message = co_await ws->read_message())
        print(*message);
}

// One line of standard input, read on the loop's thread pool: a terminal or
// a pipe blocks, and the loop must not.
std::optional<std::string> read_line() {
    std::string line;
    if (!std::getline(std::cin, line)) return std::nullopt;
    return line;
}

// Lines from standard input as messages, answers printed as they come.
tornado::Task<void> send_lines(Connection ws) {
    tornado::Task<void> printer = print_messages(ws);
    while (std::optional<std::string> line = co_await tornado::run_in_executor(read_line)) {
        co_await ws->write_message(*line, *binary);
    }
    ws->close(1000);
    co_await std::move(printer);
}

tornado::Task<int> run(std::string url, std::vector<std::string> messages) {
    tornado::WebSocketConnectOptions options;
    options.connect_timeout = wait_limit();
    if (*compress) options.compression_options = tornado::WebSocketCompressionOptions{};
    tornado::HTTPRequest request;
    request.url = std::move(url);
    request.ca_certs = *ca_certs;
    request.validate_cert = *validate_cert;
    Connection ws = co_await tornado::websocket_connect(request, options);
    std::string extensions = ws->headers().get("Sec-WebSocket-Extensions");
    std::printf("connected%s%s\n", extensions.empty() ? "" : " with ", extensions.c_str());
    std::fflush(stdout);
    bool answered = true;
    if (messages.empty()) {
        co_await send_lines(ws);
    } else {
        answered = co_await send_all(ws, std::move(messages));
        ws->close(1000);
        while (co_await tornado::with_timeout(wait_limit(), ws->read_message())) {}
    }
    if (ws->close_code()) {
        std::printf("closed: %d %s\n", *ws->close_code(), ws->close_reason().c_str());
    } else {
        std::printf("closed without a code\n");
    }
    co_return answered ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> rest = tornado::parse_command_line(argc, argv);
    if (rest.empty()) {
        std::fprintf(stderr,
                     "usage: final_websocket_client [--compress] [--binary] URL [MESSAGE...]\n");
        return 2;
    }
    std::string url = rest.front();
    std::vector<std::string> messages(rest.begin() + 1, rest.end());
    tornado::IOLoop loop;
    try {
        return loop.run_sync([&] { return run(url, messages); });
    } catch (const std::exception& error) {
        std::fprintf(stderr, "websocket client: %s\n", error.what());
        return 1;
    }
}
