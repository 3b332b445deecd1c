// silent_server.h: a server that accepts connections and never reads from
// them, for the tests of what a client does when nobody answers
// (future_stream_test.cpp, httpclient_test.cpp).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "iostream.h"
#include "tcpserver.h"

namespace course::testing {

// Accepts connections and never reads from them.
class SilentServer : public TCPServer {
public:
    using TCPServer::TCPServer;
    std::vector<std::shared_ptr<IOStream>> streams;

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
        streams.push_back(std::move(stream));
    }
};

}  // namespace course::testing
