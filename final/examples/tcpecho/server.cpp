// tcpecho server: Tornado's demos/tcpecho. Every line a client sends comes
// back to it; no HTTP, just a TCPServer and a coroutine per connection.
//
//   build/bin/final_tcpecho_server [--port=9888] [--address=127.0.0.1]
//   build/bin/final_tcpecho_client --port=9888 --message="hello"
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/tcpserver.h"

static auto& port = tornado::define("port", 9888, "run on the given port (0: any free port)");
static auto& listen_address = tornado::define("address", "127.0.0.1", "the address to listen on");

class EchoServer : public tornado::TCPServer {
protected:
    // One coroutine per connection: it waits for a line, writes it back, and
    // waits again, until the client goes away.
    tornado::Task<void> handle_stream(std::shared_ptr<tornado::IOStream> stream,
                                      tornado::SocketAddress peer) override {
        while (true) {
            try {
                std::string data = co_await stream->read_until("\n", 64 * 1024);
                tornado::app_log.info("Received bytes: {}", data.substr(0, data.size() - 1));
                co_await stream->write(std::move(data));
            } catch (const tornado::StreamClosedError&) {
                tornado::app_log.warning("Lost client at host {}", peer.ip());
                break;
            } catch (const std::exception& error) {
                // A line over 64 KiB: the stream closes itself; say why.
                tornado::app_log.warning("Closing {}: {}", peer.ip(), error.what());
                break;
            }
        }
    }
};

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop loop;
    EchoServer server;
    server.listen(static_cast<std::uint16_t>(*port), *listen_address);
    std::printf("Listening on http://%s:%u/\n", listen_address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
