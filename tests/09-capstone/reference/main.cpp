// main.cpp: the capstone's reference chat server.
//
//   build/bin/ch09_capstone_reference [--port=8888] [--address=127.0.0.1] [--max-waiters=1000]
//
// It meets the specification in exercises/09-capstone/README.md, which
// tests/09-capstone/driver.py grades. Built on the chapters' code (01, 03
// to 08), never on final/. The learner's skeleton, exercises/09-capstone/
// main.cpp, is this file without the chat.
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <vector>

#include "chat.h"
#include "command_line.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

// Takes --max-waiters=N out of `args` (the rest is chapter 01's command
// line, whose parser refuses what it does not know) and returns N.
std::size_t take_max_waiters(std::vector<char*>& args) {
    constexpr std::string_view kFlag = "--max-waiters=";
    std::size_t max_waiters = chat::kDefaultMaxWaiters;
    std::vector<char*> rest;
    for (char* arg : args) {
        std::string_view text = arg;
        if (!text.starts_with(kFlag)) {
            rest.push_back(arg);
            continue;
        }
        text.remove_prefix(kFlag.size());
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), max_waiters);
        if (error != std::errc() || end != text.data() + text.size() || max_waiters == 0) {
            std::fprintf(stderr, "%s: --max-waiters wants a number from 1 up\n", args[0]);
            std::exit(2);
        }
    }
    args = rest;
    return max_waiters;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<char*> args(argv, argv + argc);
    std::size_t max_waiters = take_max_waiters(args);
    course::ServerOptions options =
        course::parse_server_options(static_cast<int>(args.size()), args.data());
    try {
        course::ignore_sigpipe();  // a write to a client that left is an error code, not death
        course::IOLoop loop;
        course::FileDescriptor signals = course::stop_on_signals(loop, "capstone");
        chat::MessageBuffer buffer(max_waiters);
        course::Application app(chat::routes(buffer));
        course::HTTPServer& server = app.listen(options.port, options.address, loop);
        course::announce_listening(options.address, server.port());
        loop.start();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "capstone: %s\n", error.what());
        return 1;
    }
    return 0;
}
