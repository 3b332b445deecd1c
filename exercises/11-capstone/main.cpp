// main.cpp: the capstone's chat server, as handed out: it parses the
// command line, listens, prints the ready line and serves... nothing yet.
// Every request gets a 404 until the Application below has routes.
//
//   build/bin/ch11_capstone [--port=8888] [--address=127.0.0.1] [--max-waiters=1000]
//                           [--redis=HOST:PORT]
//
// The specification is README.md, beside this file. Grade with
// `make grade CH=11` (on your exercises 03 to 08) or `make grade CH=11
// STACK=chapters` (on the chapters' code); part 5, the extension, which
// --redis is for, with EXT=1.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat.h"
#include "command_line.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

// Takes every --NAME=VALUE that starts with `flag` ("--max-waiters=") out
// of `args` (the rest is chapter 01's command line, whose parser refuses
// what it does not know) and returns the last VALUE, if there is one.
std::optional<std::string_view> take_option(std::vector<char*>& args, std::string_view flag) {
    std::optional<std::string_view> value;
    std::vector<char*> rest;
    for (char* arg : args) {
        std::string_view text = arg;
        if (text.starts_with(flag)) {
            value = text.substr(flag.size());
        } else {
            rest.push_back(arg);
        }
    }
    args = rest;
    return value;
}

[[noreturn]] void usage_error(const char* program, const char* what) {
    std::fprintf(stderr, "%s: %s\n", program, what);
    std::exit(2);
}

// The whole of `text` as a number, or nothing.
template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
    Number number{};
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return number;
}

// --max-waiters=N, N from 1 up (README, "Limits").
std::size_t max_waiters_option(const char* program, std::optional<std::string_view> text) {
    if (!text) return chat::kDefaultMaxWaiters;
    std::optional<std::size_t> max_waiters = parse_number<std::size_t>(*text);
    if (!max_waiters || *max_waiters == 0) {
        usage_error(program, "--max-waiters wants a number from 1 up");
    }
    return *max_waiters;
}

// --redis=HOST:PORT: the Redis server of part 5, the extension (README).
struct RedisAddress {
    std::string host;  // an IPv4 address, or localhost
    std::uint16_t port = 0;
};

std::optional<RedisAddress> redis_option(const char* program,
                                         std::optional<std::string_view> text) {
    if (!text) return std::nullopt;
    std::size_t colon = text->rfind(':');
    std::optional<std::uint16_t> port;
    if (colon != std::string_view::npos && colon > 0) {
        port = parse_number<std::uint16_t>(text->substr(colon + 1));
    }
    if (!port || *port == 0) {
        usage_error(program, "--redis wants HOST:PORT, such as 127.0.0.1:6379");
    }
    return RedisAddress{std::string(text->substr(0, colon)), *port};
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<char*> args(argv, argv + argc);
    [[maybe_unused]] std::size_t max_waiters =  // for your chat
        max_waiters_option(argv[0], take_option(args, "--max-waiters="));
    [[maybe_unused]] std::optional<RedisAddress> redis =  // for part 5, the extension
        redis_option(argv[0], take_option(args, "--redis="));
    course::ServerOptions options =
        course::parse_server_options(static_cast<int>(args.size()), args.data());
    try {
        course::ignore_sigpipe();  // a write to a client that left is an error code, not death
        course::IOLoop loop;
        course::FileDescriptor signals = course::stop_on_signals(loop, "capstone");
        // No routes yet. Yours: GET /, POST /a/message/new, POST /a/message/updates.
        course::Application app;
        course::HTTPServer& server = app.listen(options.port, options.address, loop);
        course::announce_listening(options.address, server.port());
        loop.start();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "capstone: %s\n", error.what());
        return 1;
    }
    return 0;
}
