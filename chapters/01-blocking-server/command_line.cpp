#include "command_line.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace course {

namespace {

// What the usage line says: the program, its defaults, its own options.
struct Usage {
    const char* program;
    const ServerOptions& defaults;
    std::string_view more;
};

[[noreturn]] void usage(const Usage& usage, std::string_view problem) {
    if (!problem.empty()) {
        std::fprintf(stderr, "%s: %.*s\n", usage.program, static_cast<int>(problem.size()),
                     problem.data());
    }
    std::fprintf(stderr, "usage: %s [--port=%u] [--address=%s]%.*s\n", usage.program,
                 static_cast<unsigned>(usage.defaults.port), usage.defaults.address.c_str(),
                 static_cast<int>(usage.more.size()), usage.more.data());
    std::exit(problem.empty() ? 0 : 2);
}

std::uint16_t parse_port(const Usage& how, std::string_view text) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > 65535) {
        usage(how, "--port wants a number from 0 to 65535, not '" + std::string(text) + "'");
    }
    return static_cast<std::uint16_t>(value);
}

}  // namespace

ServerOptions parse_server_options(int argc, char** argv, ServerOptions defaults,
                                   std::string_view more_usage) {
    Usage how{argv[0], defaults, more_usage};
    ServerOptions options = defaults;
    for (int i = 1; i < argc; ++i) {
        std::string_view argument = argv[i];
        if (argument.starts_with("--port=")) {
            options.port = parse_port(how, argument.substr(7));
        } else if (argument.starts_with("--address=")) {
            options.address = std::string(argument.substr(10));
        } else if (argument == "--help" || argument == "-h") {
            usage(how, "");
        } else {
            usage(how, "unknown argument '" + std::string(argument) + "'");
        }
    }
    return options;
}

void announce_listening(const std::string& address, std::uint16_t port) {
    std::printf("Listening on http://%s:%u/\n", address.c_str(), static_cast<unsigned>(port));
    std::fflush(stdout);
}

}  // namespace course
