// command_line.h: the command line every demo server in the course shares.
//
//   build/bin/SERVER [--port=8888] [--address=127.0.0.1]
//
// A demo may listen elsewhere by default (chapter 10's HTTP/2 on 8443), and
// have options of its own, which it takes out of argv first and names in
// the usage line. --port=0 asks the kernel for a free port. Once the server is ready it
// prints exactly one line, "Listening on http://ADDRESS:PORT/", which tests
// and benchmarks wait for (and which tells them the real port).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace course {

struct ServerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8888;
};

// Parses --port and --address over `defaults`; prints usage and exits on
// anything else (--help included), naming the argument it did not
// understand. `more_usage` names the demo's own options for the usage
// line (" [--edge-triggered]").
ServerOptions parse_server_options(int argc, char** argv, ServerOptions defaults = {},
                                   std::string_view more_usage = {});

// Prints "Listening on http://ADDRESS:PORT/" and flushes, so a parent
// process reading our stdout through a pipe sees it at once.
void announce_listening(const std::string& address, std::uint16_t port);

}  // namespace course
