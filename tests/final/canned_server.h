// canned_server.h: a raw server for the HTTP client tests (httpclient_test.cpp,
// curl/httpclient_both_test.cpp): it answers every connection with the same
// bytes, whatever they are, and notes what it saw.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tornado/gen.h"
#include "tornado/iostream.h"

namespace tornado::testing {

// What a raw server saw: connections, request heads, and how many of its
// connections the client closed.
struct RawLog {
    int connections = 0;
    int closed_by_client = 0;
    std::vector<std::string> heads;
};

enum class After { close, hold };

// Reads a request head, writes `reply` byte for byte, then closes, or holds
// the connection open until the client closes it.
inline Task<void> serve_canned(std::shared_ptr<IOStream> stream, std::string reply, After after,
                               std::shared_ptr<RawLog> log) {
    ++log->connections;
    try {
        std::string head = co_await stream->read_until("\r\n\r\n", 1 << 20);
        log->heads.push_back(head);
        if (!reply.empty()) co_await stream->write(reply);
        if (after == After::close) {
            stream->close();
            co_return;
        }
        co_await stream->read_until_close();
    } catch (const StreamClosedError&) {
    }
    ++log->closed_by_client;
}

}  // namespace tornado::testing
