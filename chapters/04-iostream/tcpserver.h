// tcpserver.h: accept connections on an IOLoop and hand each one over as an
// IOStream. Tornado's tornado.tcpserver.TCPServer.
//
// Subclass it and override handle_stream():
//
//   class EchoServer : public TCPServer {
//   protected:
//       void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
//           echo_line(stream);   // read_until("\n"), write it back, repeat
//       }
//   };
//
//   IOLoop loop;
//   EchoServer server(loop);
//   server.listen(8888);
//   loop.start();
//
// The listening socket is non-blocking and registered for READ; each
// readiness accepts every pending connection (up to a batch), wraps it in an
// IOStream and calls handle_stream(). The server keeps no list of its
// streams: each stream keeps itself alive on the loop until it closes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "ioloop.h"
#include "iostream.h"
#include "socket.h"

namespace course {

class TCPServer {
public:
    // Streams are created with this max_buffer_size (see IOStream).
    explicit TCPServer(IOLoop& loop = IOLoop::current(),
                       std::size_t max_buffer_size = IOStream::kDefaultMaxBufferSize);
    // Stops accepting. Streams already handed out live on.
    virtual ~TCPServer();
    TCPServer(const TCPServer&) = delete;
    TCPServer& operator=(const TCPServer&) = delete;

    // Binds address:port and starts accepting (port 0: the kernel picks one;
    // port() says which). Throws std::system_error if the bind fails.
    void listen(std::uint16_t port, const std::string& address = "127.0.0.1");
    // The port listened on (the real one after listen(0)); 0 before listen.
    std::uint16_t port() const;
    // Stops accepting and closes the listening socket. Existing connections
    // are not touched. Safe to call twice.
    void stop();

    IOLoop& io_loop() { return loop_; }

protected:
    // A new connection from `address` ("127.0.0.1:54321"). Runs on the loop:
    // it must not block. An exception thrown here is logged to stderr and
    // closes that stream; the server goes on.
    virtual void handle_stream(std::shared_ptr<IOStream> stream, std::string address) = 0;

private:
    void accept_pending();
    void pause_accepting(const std::system_error& error);

    IOLoop& loop_;
    std::size_t max_buffer_size_;
    FileDescriptor listener_;
    std::optional<IOLoop::Timeout> resume_accepting_;  // set while paused
};

}  // namespace course
