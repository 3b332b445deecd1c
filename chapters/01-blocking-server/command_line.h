// command_line.h: the command line every demo server in the course shares.
//
//   build/bin/SERVER [--port=8888] [--address=127.0.0.1]
//
// --port=0 asks the kernel for a free port. Once the server is ready it
// prints exactly one line, "Listening on http://ADDRESS:PORT/", which tests
// and benchmarks wait for (and which tells them the real port).
#pragma once

#include <cstdint>
#include <string>

namespace course {

struct ServerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8888;
};

// Parses --port and --address; prints usage and exits on anything else
// (--help included), naming the argument it did not understand.
ServerOptions parse_server_options(int argc, char** argv);

// Prints "Listening on http://ADDRESS:PORT/" and flushes, so a parent
// process reading our stdout through a pipe sees it at once.
void announce_listening(const std::string& address, std::uint16_t port);

}  // namespace course
