// tornado/netutil.h: listening sockets, accepting, and name resolution.
//
// Tornado's `tornado.netutil` holds what sits between the socket API and the
// servers and clients built on it, and so does the twin:
//
//   SocketAddress        an IPv4, IPv6 or Unix socket address (Tornado passes
//                        Python tuples such as ("127.0.0.1", 8888));
//   bind_sockets()       listening sockets for a port, one per address family
//                        ("" means every interface, IPv4 and IPv6);
//   bind_unix_socket()   a listening Unix-domain socket;
//   add_accept_handler() accepts connections on the loop, in batches, and
//                        pauses (instead of spinning) when out of descriptors;
//   Resolver             host names to addresses without blocking the loop
//                        (getaddrinfo runs on the loop's thread pool);
//   is_valid_ip()        whether a string is a numeric IPv4 or IPv6 address;
//   SSLOptions           what TLS needs (certificate, key, CAs), and
//   ssl_options_to_context() the OpenSSL context made from them.
//
// Example:
//
//   std::vector<tornado::FileDescriptor> sockets = tornado::bind_sockets(8888, "127.0.0.1");
//   auto stop = tornado::add_accept_handler(sockets[0].get(),
//       [](tornado::FileDescriptor connection, tornado::SocketAddress peer) {
//           tornado::gen_log.info("connection from {}", peer);
//       });
//
//   tornado::DefaultExecutorResolver resolver;
//   std::vector<tornado::SocketAddress> found = co_await resolver.resolve("localhost", 80);
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/util.h"

// OpenSSL's SSL_CTX, declared here so that this header does not need
// OpenSSL's (the library links it privately).
struct ssl_ctx_st;

namespace tornado {

// One socket address: AF_INET, AF_INET6 or AF_UNIX (AF_UNSPEC when empty).
// A value type, 48 bytes: an IP address is held inline (a server keeps one
// per connection, often in a coroutine frame, so sockaddr_storage's 128
// bytes would cost), a Unix socket's path on the heap.
class SocketAddress {
public:
    SocketAddress() noexcept;
    // Copies the address (AF_INET, AF_INET6 or AF_UNIX; anything else throws
    // std::invalid_argument).
    SocketAddress(const sockaddr* address, socklen_t length);

    // A numeric IPv4 or IPv6 address ("127.0.0.1", "::1") and a port. Throws
    // std::invalid_argument for anything else (no name lookup here).
    static SocketAddress from_ip(std::string_view ip, std::uint16_t port);
    // The local address of a socket (getsockname). Throws std::system_error
    // when the call fails, std::invalid_argument for a family other than
    // the three.
    static SocketAddress local_of(int socket);
    // The remote address of a connected socket (getpeername); throws as
    // local_of does (ENOTCONN for a socket not connected).
    static SocketAddress peer_of(int socket);

    int family() const noexcept { return data()->sa_family; }
    bool empty() const noexcept { return family() == AF_UNSPEC; }
    // "127.0.0.1", "::1", the path of a Unix socket ("" if unnamed).
    std::string ip() const;
    // The port (0 for a Unix socket).
    std::uint16_t port() const noexcept;
    // "127.0.0.1:8888", "[::1]:8888", or the path of a Unix socket.
    std::string to_string() const;

    // For bind(), connect(), sendto().
    const sockaddr* data() const noexcept {
        return unix_ ? reinterpret_cast<const sockaddr*>(unix_.get()) : &inline_.base;
    }
    // The length of data()'s address, as those calls take it (not
    // sizeof(SocketAddress)).
    socklen_t size() const noexcept { return length_; }

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

private:
    union Inline {
        sockaddr base;
        sockaddr_in v4;
        sockaddr_in6 v6;
    };
    Inline inline_;
    socklen_t length_ = 0;
    std::shared_ptr<const sockaddr_un> unix_;  // AF_UNIX only
};

// Writes address.to_string().
std::ostream& operator<<(std::ostream& out, const SocketAddress& address);

// --- listening ------------------------------------------------------------------

// The listen() backlog bind_sockets uses unless told otherwise. Tornado says
// 128; the kernel caps it at net.core.somaxconn (4096 on current Linux), and a
// server that wants to take thousands of connections at once needs the room.
inline constexpr int kDefaultBacklog = 4096;

// bind_sockets' options (Tornado's keyword arguments of the same names).
struct BindOptions {
    // AF_INET or AF_INET6 to bind only one family (AF_UNSPEC: both).
    int family = AF_UNSPEC;
    // The listen() backlog.
    int backlog = kDefaultBacklog;
    // Extra getaddrinfo AI_* flags (AI_PASSIVE is always on).
    int flags = 0;
    // SO_REUSEPORT: several sockets (processes) share the port, and the
    // kernel spreads the connections over them.
    bool reuse_port = false;
    // Port 0: choose a port that UDP can have too, at every address (a
    // server that serves HTTP/3 on its TCP port's number binds it next;
    // HTTPServer with http3 sets this). UDP's ports are apart from TCP's, so
    // the port TCP is given may be some client's UDP port.
    bool udp_too = false;
};

// Listening sockets (non-blocking, close-on-exec, SO_REUSEADDR) for `port`
// on `address`. An empty address means every interface: one IPv4 and one
// IPv6 socket (IPV6_V6ONLY, so both can hold the port). A host name binds
// every address it resolves to (getaddrinfo: call it before the loop runs).
// Port 0 picks a free port, the same one for every family (if the port the
// first family got is taken in another, or for UDP with udp_too, a new one,
// where Tornado raises).
// Throws std::system_error naming the address ("bind 127.0.0.1:80:
// Permission denied").
std::vector<FileDescriptor> bind_sockets(std::uint16_t port, std::string_view address = {},
                                         const BindOptions& options = {});

// A listening Unix-domain socket at `path` (an old socket file there is
// removed first; any other file there is an error), with permissions `mode`.
FileDescriptor bind_unix_socket(const std::string& path, unsigned mode = 0600,
                                int backlog = kDefaultBacklog);

// --- accepting ------------------------------------------------------------------

// What add_accept_handler calls for each connection: the new socket (the
// callback's to keep or drop, which closes it) and the peer's address.
using AcceptCallback = Function<void(FileDescriptor connection, SocketAddress address)>;

// Calls callback(connection, address) on the current IOLoop for every
// connection accepted on the listening `socket` (which it does not own; it
// must be non-blocking). Connections come non-blocking and close-on-exec.
//
// Up to 128 connections are accepted per readiness event, so a burst of
// connects does not starve the connections already open. When accept fails
// for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) the handler logs a
// warning (once per shortage) and stops watching the socket for 100 ms: the pending connection
// stays queued, and a level-triggered listener would otherwise be reported
// at once, every turn, forever.
//
// Returns a function that stops accepting (remove_handler in Tornado); after
// it returns, callback is not called again. Call it before closing `socket`.
Function<void()> add_accept_handler(int socket, AcceptCallback callback);

// --- resolving ------------------------------------------------------------------

// getaddrinfo failed ("could not resolve nosuch.invalid:80: Name or service
// not known"). Python raises socket.gaierror here.
class ResolveError : public std::runtime_error {
public:
    ResolveError(const std::string& message, int gai_error)
        : std::runtime_error(message), gai_error_(gai_error) {}
    // getaddrinfo's error code (EAI_NONAME, ...); 0 when it found nothing
    // to connect to (TCPClient's "no addresses").
    int gai_error() const noexcept { return gai_error_; }

private:
    int gai_error_;
};

// Resolves on the calling thread (it may block for seconds on DNS). Stream
// addresses only, in getaddrinfo's order. Throws ResolveError.
std::vector<SocketAddress> resolve_blocking(const std::string& host, std::uint16_t port,
                                            int family = AF_UNSPEC);

// Tornado's configurable Resolver interface: host and port to the addresses
// to connect to, without blocking the loop.
class Resolver {
public:
    virtual ~Resolver() = default;
    // The addresses for host:port (AF_INET and AF_INET6 unless `family`
    // narrows it). Fails with ResolveError.
    virtual Future<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                                       int family = AF_UNSPEC) = 0;
    // Frees what the resolver holds. The default does nothing.
    virtual void close() {}
};

// getaddrinfo on a thread pool (Tornado's DefaultExecutorResolver): the
// current loop's default executor, or `executor` if given (which must then
// outlive the resolver's pending work). A numeric address is converted at
// once, without a thread.
class DefaultExecutorResolver : public Resolver {
public:
    explicit DefaultExecutorResolver(ThreadPoolExecutor* executor = nullptr)
        : executor_(executor) {}
    Future<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                               int family = AF_UNSPEC) override;

private:
    ThreadPoolExecutor* executor_;
};

// Rewrites some names before resolving them with another resolver
// (Tornado's OverrideResolver): for tests, and for pointing a host at a
// local server. host_mapping: "example.com" to "127.0.0.1"; address_mapping:
// {"example.com", 443} to {"localhost", 8443} (tried first).
class OverrideResolver : public Resolver {
public:
    using HostMapping = std::map<std::string, std::string>;
    using AddressMapping =
        std::map<std::pair<std::string, std::uint16_t>, std::pair<std::string, std::uint16_t>>;

    OverrideResolver(std::shared_ptr<Resolver> resolver, HostMapping host_mapping,
                     AddressMapping address_mapping = {});
    Future<std::vector<SocketAddress>> resolve(std::string host, std::uint16_t port,
                                               int family = AF_UNSPEC) override;
    void close() override { resolver_->close(); }

private:
    std::shared_ptr<Resolver> resolver_;
    HostMapping host_mapping_;
    AddressMapping address_mapping_;
};

// Whether `ip` is a numeric IPv4 or IPv6 address (no name lookup).
bool is_valid_ip(std::string_view ip);

// --- TLS ----------------------------------------------------------------------------

// A TLS failure: a certificate or key that will not load, a handshake the
// peer broke off, a certificate that fails verification. The message says
// which and why ("certificate verify failed: self-signed certificate
// (connecting to localhost)"). Python raises ssl.SSLError here.
class SSLError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An OpenSSL SSL_CTX (Python's ssl.SSLContext): the certificates, keys and
// rules shared by every connection made with it. Shared, since connections
// outlive the code that made them; OpenSSL frees it with the last one.
using SSLContext = std::shared_ptr<ssl_ctx_st>;

// Tornado's ssl_options dictionary. A server needs certfile (and keyfile
// unless the key is in it); a client needs nothing, and then checks the
// server's certificate against the system's CA store and the host name.
struct SSLOptions {
    // Who must show a certificate (Python's cert_reqs).
    enum class Verify {
        none,      // not asked for, not checked
        optional,  // asked for; checked if one is shown
        required,  // asked for, and the handshake fails without a valid one
    };

    // PEM: this side's certificate, then its chain.
    std::string certfile{};
    // PEM: its private key (empty: in certfile).
    std::string keyfile{};
    // Default: a client requires the server's certificate, a server asks
    // for none.
    std::optional<Verify> cert_reqs{};
    // PEM file of the CAs to trust. Empty: a client trusts the system's
    // store (/etc/ssl/certs); a server that asks for certificates needs it.
    std::string ca_certs{};
    // OpenSSL's cipher list for TLS 1.2 (empty: OpenSSL's default; TLS 1.3
    // suites are not affected).
    std::string ciphers{};
    // ALPN (RFC 7301): a client offers these; a server picks the first of
    // them the client offers too, or, if it offers none of them, leaves
    // ALPN out of its answer and lets the client decide (as nginx does).
    // HTTPServer with http2 puts "h2" first.
    std::vector<std::string> alpn_protocols{"http/1.1"};
    // A handshake not over by then fails and closes the connection: on a
    // server, a client that opens connections and sends nothing holds no
    // slot for long.
    std::optional<std::chrono::steady_clock::duration> handshake_timeout = std::chrono::seconds(30);
    // A context made elsewhere (SSL_CTX_new and friends, or one kept from
    // ssl_options_to_context): the fields above except handshake_timeout are
    // then ignored.
    SSLContext context{};
};

// Makes the context for `options` (Tornado's ssl_options_to_context):
// TLS 1.2 or later, renegotiation refused, ALPN offering or choosing
// alpn_protocols (http/1.1), and for a client the system's CA store unless ca_certs says
// otherwise. Throws SSLError naming the file that would not load. A
// client's default (no field set) is made once and shared: loading the
// system's store takes milliseconds.
SSLContext ssl_options_to_context(const SSLOptions& options, bool server_side);

}  // namespace tornado
