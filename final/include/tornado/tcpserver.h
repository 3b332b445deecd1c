// tornado/tcpserver.h: a server that accepts TCP connections and hands each
// one over as an IOStream (Tornado's `tornado.tcpserver.TCPServer`).
//
// Subclass it and override handle_stream, usually as a coroutine:
//
//   class EchoServer : public tornado::TCPServer {
//   protected:
//       tornado::Task<void> handle_stream(std::shared_ptr<tornado::IOStream> stream,
//                                         tornado::SocketAddress address) override {
//           try {
//               for (;;) co_await stream->write(co_await stream->read_until("\n"));
//           } catch (const tornado::StreamClosedError&) {
//           }
//       }
//   };
//
//   EchoServer server;
//   server.listen(8888);
//   tornado::IOLoop::current().start();
//
// or give it a function (plain, or a coroutine lambda; the server keeps it,
// and what it captures, while it lives):
//
//   tornado::TCPServer server([](std::shared_ptr<tornado::IOStream> stream,
//                                tornado::SocketAddress address) { serve(stream); });
//
// Three ways to start, as in Tornado:
//
//   1. listen(port): bind and accept on the current IOLoop, one process.
//   2. add_sockets(bind_sockets(port)): the same in two steps, for sockets
//      made elsewhere (bound before privileges were dropped, passed in by a
//      supervisor, bound once and shared by forked processes).
//   3. bind(port) then start(n): bind, fork n worker processes
//      (process.h's fork_processes; 0 means one per CPU) which all accept
//      on the inherited sockets. Make no IOLoop before start(): in each
//      worker the server registers on IOLoop::current(), which you then run.
//      Or each process (forked by fork_processes(n), or started by a
//      supervisor) calls listen(port, address, {.reuse_port = true}): a
//      socket each, over which the kernel spreads the connections
//      (SO_REUSEPORT), waking only the worker that gets one.
//
// TLS: with ssl_options, every connection is an SSLIOStream (iostream.h),
// handed over at once; its first read waits for the handshake, and a
// handshake not over within ssl_options.handshake_timeout closes it. The
// certificate and key are loaded by the constructor, which throws SSLError
// naming the file that will not load.
//
//   tornado::TCPServer server(handle, {}, tornado::SSLOptions{.certfile = "cert.pem",
//                                                             .keyfile = "key.pem"});
//
// handle_stream runs on the loop, once per connection, and must not block.
// When it (or the Task it returns) ends with an exception, the exception is
// logged and that connection is closed; the server goes on. (A handle_stream
// Task that lives as long as its connection costs about 200 bytes more per
// connection than one that starts the connection's coroutine and returns:
// the server watches its Future, and its frame keeps the address.)
//
// stop() stops accepting and closes the listening sockets; connections
// already open carry on. A graceful stop of the loop (IOLoop::graceful_stop,
// SIGINT / SIGTERM after install_signal_handlers) calls stop() too.
//
// Destroy a server on its loop's thread, before the loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/netutil.h"
#include "tornado/util.h"

namespace tornado {

// Tornado's TCPServer: see the module comment.
class TCPServer {
public:
    using StreamHandler = Function<Future<void>(std::shared_ptr<IOStream>, SocketAddress)>;

    // Streams are made with `stream_options` (max_buffer_size, ...), and
    // speak TLS when ssl_options are given.
    explicit TCPServer(IOStreamOptions stream_options = {},
                       std::optional<SSLOptions> ssl_options = std::nullopt);

    // With the function to call for each connection: it returns void, a
    // Task<void> or a Future<void>.
    template <typename F>
        requires(std::is_invocable_v<std::decay_t<F>&, std::shared_ptr<IOStream>, SocketAddress>)
    explicit TCPServer(F&& handle_stream, IOStreamOptions stream_options = {},
                       std::optional<SSLOptions> ssl_options = std::nullopt)
        : TCPServer(stream_options, std::move(ssl_options)) {
        handler_ = [handle = std::forward<F>(handle_stream)](std::shared_ptr<IOStream> stream,
                                                             SocketAddress address) mutable {
            using R =
                std::invoke_result_t<std::decay_t<F>&, std::shared_ptr<IOStream>, SocketAddress>;
            if constexpr (std::is_void_v<R>) {
                handle(std::move(stream), std::move(address));
                return Future<void>(nullptr);
            } else {
                return Future<void>(
                    detail::to_future(handle(std::move(stream), std::move(address))));
            }
        };
    }

    // stop().
    virtual ~TCPServer();
    TCPServer(const TCPServer&) = delete;
    TCPServer& operator=(const TCPServer&) = delete;

    // Binds port on address (empty: every interface; see bind_sockets) and
    // starts accepting on the current IOLoop. Throws std::system_error when
    // the address is taken.
    void listen(std::uint16_t port, std::string_view address = {}, const BindOptions& options = {});
    // Starts accepting on listening sockets (the server owns them now), on
    // the current IOLoop. Throws std::logic_error if the server accepts on
    // another loop already: all its sockets share one.
    void add_sockets(std::vector<FileDescriptor> sockets);
    // add_sockets for one socket.
    void add_socket(FileDescriptor socket);

    // Binds now, accepts after start() (Tornado's multi-process set-up).
    void bind(std::uint16_t port, std::string_view address = {}, const BindOptions& options = {});
    // num_processes 1: accept here. Otherwise fork that many workers (0 or
    // less: one per CPU) and accept in each; the parent supervises them and
    // never returns from here (see fork_processes). max_restarts: how many
    // times dead workers are replaced before the parent gives up (100).
    void start(int num_processes = 1, std::optional<int> max_restarts = std::nullopt);

    // Stops accepting and closes the listening sockets (safe to call twice,
    // and from handle_stream). Open connections are not touched.
    void stop();

    // Where the server listens (the real port after port 0): one address
    // per listening socket (stop() closes them), and per socket that bind()
    // made for start().
    std::vector<SocketAddress> addresses() const;
    // The first socket's port, or 0 if there is none.
    std::uint16_t port() const;

protected:
    // Serves one new connection. The default calls the function given to the
    // constructor, and throws std::logic_error if there is none.
    virtual Task<void> handle_stream(std::shared_ptr<IOStream> stream, SocketAddress address);
    // Accepting has begun on a socket bound to `address` (from listen,
    // add_sockets or start, on the loop that accepts). The default does
    // nothing; HTTPServer serves HTTP/3 on the same address from here.
    virtual void socket_added(const SocketAddress& address);
    // The options listen() and bind() bind with, given the caller's. The
    // default returns them; HTTPServer with http3 asks for a port UDP can
    // have too.
    virtual BindOptions bind_options(BindOptions asked) const;

private:
    struct Listener {
        FileDescriptor socket;
        Function<void()> stop_accepting;
    };

    void handle_connection(FileDescriptor connection, SocketAddress address);
    Future<void> serve(std::shared_ptr<IOStream>& stream, SocketAddress address);

    std::shared_ptr<IOStream> make_stream(FileDescriptor connection);

    IOStreamOptions stream_options_;
    SSLContext ssl_context_;  // empty: plain TCP
    std::optional<IOLoop::Clock::duration> handshake_timeout_;
    StreamHandler handler_;
    std::vector<Listener> listeners_;
    std::vector<FileDescriptor> pending_sockets_;  // bound, waiting for start()
    bool started_ = false;
    IOLoop* loop_ = nullptr;  // where it accepts (set by add_sockets)
    std::uint64_t shutdown_hook_ = 0;
};

}  // namespace tornado
