// httpserver.h: an HTTP/1.1 server in one class. Tornado's
// tornado.httpserver.HTTPServer.
//
//   IOLoop loop;
//   HTTPServer server([](std::shared_ptr<HTTPServerRequest> request) {
//       request->reply(200, "Hello, world");
//   }, loop);
//   server.listen(8888);
//   loop.start();
//
// It is a TCPServer (chapter 04) whose handle_stream() gives each new
// connection an HTTP1Connection; that connection reads requests, calls the
// callback for each one, and writes what the callback answers. The
// callback runs on the loop: it must not block. It may answer at once
// (reply()) or later, from a timer or another callback, through
// request->connection (write_headers, write, finish): the connection waits.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "http1connection.h"
#include "httputil.h"
#include "ioloop.h"
#include "iostream.h"
#include "tcpserver.h"

namespace course {

class HTTPServer : public TCPServer {
public:
    using RequestCallback = HTTP1Connection::RequestCallback;

    explicit HTTPServer(RequestCallback callback, IOLoop& loop = IOLoop::current(),
                        HTTP1ConnectionParameters params = {});

protected:
    void handle_stream(std::shared_ptr<IOStream> stream, std::string address) override;

private:
    RequestCallback callback_;
    HTTP1ConnectionParameters params_;
};

}  // namespace course
