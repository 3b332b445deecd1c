// httpserver.cpp: see httpserver.h.
#include "httpserver.h"

#include <utility>

namespace course {

HTTPServer::HTTPServer(RequestCallback callback, IOLoop& loop, HTTP1ConnectionParameters params)
    : TCPServer(loop), callback_(std::move(callback)), params_(params) {}

// Each connection gets its own copy of the callback and the limits, so it
// lives on fine if the server is destroyed first.
void HTTPServer::handle_stream(std::shared_ptr<IOStream> stream, std::string address) {
    std::make_shared<HTTP1Connection>(std::move(stream), std::move(address), params_, callback_)
        ->start();
}

}  // namespace course
