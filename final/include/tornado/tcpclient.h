// tornado/tcpclient.h: open a TCP connection by host name and port, without
// blocking the loop (Tornado's `tornado.tcpclient.TCPClient`).
//
//   tornado::TCPClient client;
//   std::shared_ptr<tornado::IOStream> stream =
//       co_await client.connect("localhost", 8888, {.timeout = std::chrono::seconds(5)});
//   co_await stream->write("hello\n");
//
// connect() resolves the name with the client's Resolver (getaddrinfo on the
// thread pool by default), then connects, non-blocking, to the addresses it
// got, as Tornado does ("Happy Eyeballs", RFC 6555): the addresses of the
// first family are tried one after another; if none has answered within
// 300 ms (or all failed), the other family's addresses are tried alongside.
// The first connection up wins and the others are closed.
//
// TLS: connect(host, port, options, ssl_options) does the handshake too
// and resolves with an SSLIOStream (iostream.h), the server's certificate
// checked against host (or server_hostname) unless ssl_options say not to.
// A certificate refused is StreamClosedError whose real error is an
// SSLError saying why.
//
// Failure: StreamClosedError for the last address tried, whose real error
// names it ("connect to 127.0.0.1:9: Connection refused"); ResolveError when
// the name does not resolve; TimeoutError ("Timeout connecting to
// example.com:80") when `timeout` passes first (resolving included), and
// every attempt still under way is closed.
#pragma once

#include <sys/socket.h>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/netutil.h"

namespace tornado {

// connect()'s options (Tornado's keyword arguments af, timeout, source_ip,
// source_port and max_buffer_size, the last in `stream`).
//
// Trivially destructible on purpose (source_ip is a view, copied by
// connect()): g++ 12 destroys an aggregate temporary with a destructor twice
// when it appears in a co_await expression, and `co_await client.connect(h,
// p, {.timeout = 5s})` is how this struct is meant to be used.
struct ConnectOptions {
    // AF_INET or AF_INET6 to use only that family (AF_UNSPEC: both).
    int family = AF_UNSPEC;
    // For resolving and connecting, then failing with TimeoutError; with
    // TLS, the handshake gets what is left (and fails with
    // StreamClosedError). Nothing: no limit.
    std::optional<IOLoop::Clock::duration> timeout{};
    // A numeric IP to bind the local end to first ("": any).
    std::string_view source_ip{};
    // The local port to bind to (0: any). Without source_ip it binds the
    // wildcard address of the family tried (Tornado binds the loopback).
    std::uint16_t source_port = 0;
    // For the stream made.
    IOStreamOptions stream{};
};

// Tornado's TCPClient: see the module comment.
class TCPClient {
public:
    // With nullptr, the client makes (and owns) a DefaultExecutorResolver.
    explicit TCPClient(std::shared_ptr<Resolver> resolver = nullptr);
    // close().
    ~TCPClient();
    TCPClient(const TCPClient&) = delete;
    TCPClient& operator=(const TCPClient&) = delete;

    // Closes the resolver if the client made it (connections are not touched).
    void close();

    // Resolves with the stream once connected to host:port (the module
    // comment says how, and how it fails).
    Future<std::shared_ptr<IOStream>> connect(std::string host, std::uint16_t port,
                                              ConnectOptions options = {});
    // The same with a timeout alone (rounded up to the loop's clock).
    template <typename Rep, typename Period>
    Future<std::shared_ptr<IOStream>> connect(std::string host, std::uint16_t port,
                                              std::chrono::duration<Rep, Period> timeout) {
        ConnectOptions options;
        options.timeout = std::chrono::ceil<IOLoop::Clock::duration>(timeout);
        return connect(std::move(host), port, options);
    }

    // Then TLS over the connection (Tornado's ssl_options and
    // server_hostname; empty: host). options.timeout covers the handshake.
    Future<std::shared_ptr<IOStream>> connect(std::string host, std::uint16_t port,
                                              ConnectOptions options, SSLOptions ssl_options,
                                              std::string server_hostname = {});

private:
    std::shared_ptr<Resolver> resolver_;
    bool own_resolver_;
};

}  // namespace tornado
