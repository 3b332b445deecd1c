#include "command_line.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace course {

namespace {

[[noreturn]] void usage(const char* program, std::string_view problem) {
    if (!problem.empty()) {
        std::fprintf(stderr, "%s: %.*s\n", program, static_cast<int>(problem.size()), problem.data());
    }
    std::fprintf(stderr, "usage: %s [--port=8888] [--address=127.0.0.1]\n", program);
    std::exit(problem.empty() ? 0 : 2);
}

std::uint16_t parse_port(const char* program, std::string_view text) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > 65535) {
        usage(program, "--port wants a number from 0 to 65535, not '" + std::string(text) + "'");
    }
    return static_cast<std::uint16_t>(value);
}

}  // namespace

ServerOptions parse_server_options(int argc, char** argv) {
    ServerOptions options;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        if (argument.starts_with("--port=")) {
            options.port = parse_port(argv[0], argument.substr(7));
        } else if (argument.starts_with("--address=")) {
            options.address = std::string(argument.substr(10));
        } else if (argument == "--help" || argument == "-h") {
            usage(argv[0], "");
        } else {
            usage(argv[0], "unknown argument '" + std::string(argument) + "'");
        }
    }
    return options;
}

void announce_listening(const std::string& address, std::uint16_t port) {
    std::printf("Listening on http://%s:%u/\n", address.c_str(), static_cast<unsigned>(port));
    std::fflush(stdout);
}

}  // namespace course
