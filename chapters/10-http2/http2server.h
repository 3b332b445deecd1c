// http2server.h: an HTTP/2 server (h2c, prior knowledge) in one class, the
// twin of chapter 05's HTTPServer, taking the same request callback:
//
//   IOLoop loop;
//   Application app({{"/", handler<MainHandler>()}});   // chapter 06
//   HTTP2Server server(std::ref(app), loop);
//   server.listen(8443);
//   loop.start();
//
// It is a TCPServer (chapter 04) whose handle_stream() gives each new
// connection an HTTP2Connection. Unlike HTTPServer it keeps a list of its
// connections, for one reason: stop() (task 4) must tell each of them to go
// away gracefully.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "http2connection.h"
#include "ioloop.h"
#include "iostream.h"
#include "tcpserver.h"

namespace course {

class HTTP2Server : public TCPServer {
public:
    using RequestCallback = HTTP2Connection::RequestCallback;

    explicit HTTP2Server(RequestCallback callback, IOLoop& loop = IOLoop::current(),
                         HTTP2ConnectionParameters params = {});
    // Connections still open live on, but no longer report to the server.
    ~HTTP2Server() override;

    // Task 4: stops accepting, sends every connection a graceful GOAWAY,
    // and calls on_stopped (if given) once the last connection has closed.
    void stop(std::function<void()> on_stopped = {});
    // Closes every connection now (tests, and a second Ctrl-C).
    void close_all_connections();
    std::size_t connections() const { return connections_.size(); }

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string address) override;

private:
    void connection_closed(const std::shared_ptr<HTTP2Connection>& connection);

    RequestCallback callback_;
    HTTP2ConnectionParameters params_;
    std::set<std::shared_ptr<HTTP2Connection>> connections_;
    std::function<void()> on_stopped_;
};

}  // namespace course
