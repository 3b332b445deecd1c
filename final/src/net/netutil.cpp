// netutil.cpp: see tornado/netutil.h for the contract.
//
// Threads: bind_*, add_accept_handler and the accept path run on the
// loop's thread (accepting is driven by the IOLoop, add_accept_handler
// uses IOLoop::current()); resolve_blocking runs on whichever thread calls
// it, a pool thread for DefaultExecutorResolver.
#include "tornado/netutil.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <system_error>
#include <tuple>

#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado {

// --- SocketAddress ---------------------------------------------------------------

SocketAddress::SocketAddress() noexcept : inline_{} { inline_.base.sa_family = AF_UNSPEC; }

// An IP address is copied inline. A Unix path goes to a shared, immutable
// sockaddr_un on the heap: sockaddr_un is 110 bytes, too big to carry
// inline (see the class comment), and sharing makes copies cheap. Too
// short a length (not even a family) leaves the address empty.
SocketAddress::SocketAddress(const sockaddr* address, socklen_t length) : SocketAddress() {
    if (address == nullptr || length < sizeof(sa_family_t)) return;
    switch (address->sa_family) {
        case AF_INET:
        case AF_INET6:
            length_ = std::min<socklen_t>(length, sizeof inline_);
            std::memcpy(&inline_, address, length_);
            return;
        case AF_UNIX: {
            if (length <= offsetof(sockaddr_un, sun_path)) {
                // Unnamed (every accepted Unix connection's peer): no path to keep.
                inline_.base.sa_family = AF_UNIX;
                length_ = length;
                return;
            }
            // make_shared value-initializes: the bytes past `length` are
            // zero, so a path that filled its length still ends in a NUL.
            auto path = std::make_shared<sockaddr_un>();
            length_ = std::min<socklen_t>(length, sizeof(sockaddr_un));
            std::memcpy(path.get(), address, length_);
            unix_ = std::move(path);
            return;
        }
        default:
            throw std::invalid_argument("SocketAddress: unsupported address family " +
                                        std::to_string(address->sa_family));
    }
}

// inet_pton, not getaddrinfo: only the canonical forms ("127.0.0.1",
// "::1"). The shorthand IPv4 forms getaddrinfo accepts ("127.1") and IPv6
// scope ids ("fe80::1%eth0") are refused; a caller that may see them goes
// through a resolver instead.
SocketAddress SocketAddress::from_ip(std::string_view ip, std::uint16_t port) {
    std::string text(ip);  // inet_pton needs a NUL-terminated string
    sockaddr_in v4{};
    if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        return SocketAddress(reinterpret_cast<sockaddr*>(&v4), sizeof v4);
    }
    sockaddr_in6 v6{};
    if (::inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        return SocketAddress(reinterpret_cast<sockaddr*>(&v6), sizeof v6);
    }
    throw std::invalid_argument("not a numeric IP address: " + text);
}

namespace {

// getsockname() or getpeername() (the same signature) into a SocketAddress.
using AddressCall = int (*)(int, sockaddr*, socklen_t*);
SocketAddress address_from(AddressCall call, const char* name, int socket) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (call(socket, reinterpret_cast<sockaddr*>(&storage), &length) < 0) throw_errno(name);
    return SocketAddress(reinterpret_cast<sockaddr*>(&storage), length);
}

}  // namespace

SocketAddress SocketAddress::local_of(int socket) {
    return address_from(::getsockname, "getsockname", socket);
}

SocketAddress SocketAddress::peer_of(int socket) {
    return address_from(::getpeername, "getpeername", socket);
}

namespace {

// "127.0.0.1": what inet_ntop writes for IPv4. glibc's inet_ntop calls
// sprintf for it, about 1,800 instructions for fifteen characters, and
// every connection pays them (each request's remote_ip comes from here).
std::string dotted_quad(const in_addr& address) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(&address.s_addr);
    std::string text;
    text.reserve(15);
    for (int i = 0; i < 4; ++i) {
        if (i > 0) text += '.';
        unsigned byte = bytes[i];
        if (byte >= 100) text += static_cast<char>('0' + byte / 100);
        if (byte >= 10) text += static_cast<char>('0' + byte / 10 % 10);
        text += static_cast<char>('0' + byte % 10);
    }
    return text;
}

}  // namespace

// For a Unix socket, "ip" is its path, as Tornado's code sees the address
// of such a socket: a string where an IP address would be.
std::string SocketAddress::ip() const {
    char text[INET6_ADDRSTRLEN] = {};
    switch (family()) {
        case AF_INET: return dotted_quad(inline_.v4.sin_addr);
        case AF_INET6: ::inet_ntop(AF_INET6, &inline_.v6.sin6_addr, text, sizeof text); return text;
        case AF_UNIX: {
            std::size_t offset = offsetof(sockaddr_un, sun_path);
            if (!unix_ || length_ <= offset) return "";
            // length_ tells how much of sun_path is the name; the kernel may
            // or may not count the terminating NUL in it.
            std::string path(unix_->sun_path, length_ - offset);
            // An abstract socket's name starts with a NUL; show it as '@'.
            if (!path.empty() && path[0] == '\0') {
                path[0] = '@';
            } else if (std::size_t end = path.find('\0'); end != std::string::npos) {
                path.resize(end);
            }
            return path;
        }
        default: return "";
    }
}

std::uint16_t SocketAddress::port() const noexcept {
    switch (family()) {
        case AF_INET: return ntohs(inline_.v4.sin_port);
        case AF_INET6: return ntohs(inline_.v6.sin6_port);
        default: return 0;
    }
}

std::string SocketAddress::to_string() const {
    switch (family()) {
        case AF_INET: return ip() + ":" + std::to_string(port());
        case AF_INET6: return "[" + ip() + "]:" + std::to_string(port());
        case AF_UNIX: return ip();
        default: return "(no address)";
    }
}

// Byte for byte, as the kernel gave them: the same address with a
// different length (or IPv6 flow info) is not equal. bind_sockets uses it
// to drop getaddrinfo's duplicates, which are byte-identical.
bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
    return a.length_ == b.length_ && std::memcmp(a.data(), b.data(), a.length_) == 0;
}

std::ostream& operator<<(std::ostream& out, const SocketAddress& address) {
    return out << address.to_string();
}

// --- listening -----------------------------------------------------------------------

namespace {

// getaddrinfo's list freed however the caller leaves (a throw included).
struct AddrinfoDeleter {
    void operator()(addrinfo* list) const noexcept { ::freeaddrinfo(list); }
};
using AddrinfoList = std::unique_ptr<addrinfo, AddrinfoDeleter>;

// getaddrinfo with its error turned into a ResolveError. SOCK_STREAM
// only: without it every address comes back three times (stream,
// datagram, raw). EAI_SYSTEM means the real reason is in errno.
AddrinfoList get_addrinfo(const char* host, std::uint16_t port, int family, int flags) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host, service.c_str(), &hints, &found);
    if (rc != 0) {
        std::string reason = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
        throw ResolveError(tornado::format("could not resolve {}:{}: {}",
                                           host != nullptr ? host : "", port, reason),
                           rc);
    }
    return AddrinfoList(found);
}

void set_option(int fd, int level, int option, int value, const char* name) {
    if (::setsockopt(fd, level, option, &value, sizeof value) < 0) throw_errno(name);
}

// SocketAddress has no setters (a value, shared Unix path and all), so the
// port is changed on a copy of the raw bytes and the address made anew.
void set_port(SocketAddress& address, std::uint16_t port) {
    sockaddr_storage storage{};
    std::memcpy(&storage, address.data(), address.size());
    if (storage.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
    } else if (storage.ss_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    }
    address = SocketAddress(reinterpret_cast<sockaddr*>(&storage), address.size());
}

// Whether UDP may bind `address` (port included): a socket is bound there
// and closed again, made as UDPSocket makes its own, so the answer holds
// for it. The port is free again once this returns; it stays free unless
// another program takes it before the caller binds it, a window of a few
// system calls. (What this guards against is a port held for long, a UDP
// client's.)
bool udp_can_bind(const SocketAddress& address) {
    FileDescriptor probe(::socket(address.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!probe) throw_errno("socket");
    if (address.family() == AF_INET6) {
        set_option(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "setsockopt IPV6_V6ONLY");
    }
    if (::bind(probe.get(), address.data(), address.size()) == 0) return true;
    if (errno == EADDRINUSE) return false;
    throw_errno("bind UDP " + address.to_string());
}

// A listening socket for each of `candidates`, all on `port` (port 0: the
// port the first one gets, written into the others: hence a copy, fresh
// for each attempt of bind_sockets). Throws at the first address that
// cannot be bound; the sockets already made close.
std::vector<FileDescriptor> bind_each(std::vector<SocketAddress> candidates, std::uint16_t port,
                                      const std::string& host, const BindOptions& options) {
    std::vector<FileDescriptor> sockets;
    std::uint16_t bound_port = 0;
    for (SocketAddress& candidate : candidates) {
        // FileDescriptor closes the socket on every early exit below (a
        // `continue` or a throw). Non-blocking from the start: accepting is
        // driven by the loop. Close-on-exec: a child process (process.h)
        // must not keep the port open.
        FileDescriptor sock(
            ::socket(candidate.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!sock) {
            if (errno == EAFNOSUPPORT) continue;  // no IPv6 in this kernel
            throw_errno("socket");
        }
        // A restarted server can bind its port at once, although the last
        // run's connections are still in TIME_WAIT.
        set_option(sock.get(), SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt SO_REUSEADDR");
        if (options.reuse_port) {
            set_option(sock.get(), SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt SO_REUSEPORT");
        }
        if (candidate.family() == AF_INET6) {
            // Linux lets an IPv6 socket take IPv4 too, which would stop the
            // IPv4 socket from binding the same port.
            set_option(sock.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "setsockopt IPV6_V6ONLY");
        }
        // Port 0: every family on the port the first one got.
        if (port == 0 && bound_port != 0) set_port(candidate, bound_port);
        if (::bind(sock.get(), candidate.data(), candidate.size()) < 0) {
            // Docker's default set-up resolves "localhost" to ::1 and then
            // refuses to bind it: skip that one case only (Tornado does too).
            if (errno == EADDRNOTAVAIL && host == "localhost" && candidate.family() == AF_INET6) {
                continue;
            }
            throw_errno("bind " + candidate.to_string());
        }
        SocketAddress bound = SocketAddress::local_of(sock.get());
        if (options.udp_too && !udp_can_bind(bound)) {
            throw std::system_error(EADDRINUSE, std::generic_category(),
                                    "bind UDP " + bound.to_string());
        }
        bound_port = bound.port();
        if (::listen(sock.get(), options.backlog) < 0)
            throw_errno("listen " + candidate.to_string());
        sockets.push_back(std::move(sock));
    }
    return sockets;
}

}  // namespace

// Tornado's bind_sockets, step for step. Differences: an empty result is
// an error here (Tornado returns no sockets and the server silently
// listens on nothing); port 0 on several addresses tries again on a new
// port when the first one's port is taken on another (below), where
// Tornado raises; and Tornado's macOS link-local skip is left out (the
// course runs on Linux).
std::vector<FileDescriptor> bind_sockets(std::uint16_t port, std::string_view address,
                                         const BindOptions& options) {
    // "" means every interface: getaddrinfo's null host with AI_PASSIVE
    // gives the wildcard addresses 0.0.0.0 and ::.
    std::string host(address);
    AddrinfoList list = get_addrinfo(host.empty() ? nullptr : host.c_str(), port, options.family,
                                     AI_PASSIVE | options.flags);

    // IPv4 first, then IPv6 (as Tornado sorts them), without duplicates.
    std::vector<SocketAddress> candidates;
    for (addrinfo* entry = list.get(); entry != nullptr; entry = entry->ai_next) {
        SocketAddress candidate(entry->ai_addr, entry->ai_addrlen);
        if (std::find(candidates.begin(), candidates.end(), candidate) == candidates.end()) {
            candidates.push_back(candidate);
        }
    }
    // AF_INET (2) sorts before AF_INET6 (10); stable, so getaddrinfo's
    // order holds within a family.
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) { return a.family() < b.family(); });

    // The port the kernel picks for the first address is free in that
    // family only: another program may hold it on IPv6 (a client's
    // connection from ::1, say), or on UDP (udp_too). Then the whole set is
    // made again on a new port, a few times, rather than failing a request
    // that any free port would have met.
    constexpr int kAttemptsForPortZero = 16;
    std::vector<FileDescriptor> sockets;
    for (int attempt = 1;; ++attempt) {
        try {
            sockets = bind_each(candidates, port, host, options);
            break;
        } catch (const std::system_error& error) {
            bool retry = port == 0 && (candidates.size() > 1 || options.udp_too) &&
                         error.code().value() == EADDRINUSE && attempt < kAttemptsForPortZero;
            if (!retry) throw;
        }
    }
    if (sockets.empty()) {
        throw std::runtime_error(tornado::format("bind_sockets: no address to listen on for {}:{}",
                                                 host.empty() ? "*" : host, port));
    }
    return sockets;
}

// Tornado's bind_unix_socket. Between bind() and chmod() the socket file
// has the permissions the umask gives, as in Tornado; a server that needs
// it closed to others from the first instant should set a strict umask.
FileDescriptor bind_unix_socket(const std::string& path, unsigned mode, int backlog) {
    sockaddr_un address{};
    // ">=": the path needs room for its NUL. A leading NUL (an abstract
    // socket) is not supported: stat() and chmod() take the path as text.
    if (path.size() >= sizeof address.sun_path) {
        throw std::invalid_argument("bind_unix_socket: path too long: " + path);
    }
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.data(), path.size());

    FileDescriptor sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) throw_errno("socket");
    struct stat status {};
    if (::stat(path.c_str(), &status) == 0) {
        if (!S_ISSOCK(status.st_mode)) {
            throw std::invalid_argument("bind_unix_socket: " + path +
                                        " exists and is not a socket");
        }
        // Left over from an earlier run (a socket file outlives its
        // process); bind() would fail with EADDRINUSE. Nothing checks that
        // no live server still uses it, as in Tornado.
        ::unlink(path.c_str());
    }
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        throw_errno("bind " + path);
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) < 0) throw_errno("chmod " + path);
    if (::listen(sock.get(), backlog) < 0) throw_errno("listen " + path);
    return sock;
}

// --- accepting -----------------------------------------------------------------------

namespace {

// Connections accepted per readiness event (Tornado's figure, its
// _DEFAULT_BACKLOG): the rest wait a turn, after the open connections have
// had theirs. Each connection goes to the callback before the next
// accept(), rather than accepting all first: with several processes on one
// port, a busy process then leaves more of the queue to the others
// (Tornado's reasoning).
constexpr int kAcceptBatch = 128;
// How long accepting pauses when descriptors (or memory) run out: long
// enough not to spin, short enough that a freed descriptor is used soon.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

// What one add_accept_handler() registration shares between the loop's
// handler, the resume timer and the stop function. Held by shared_ptr in
// all three, so it lives until the last of them is gone, in whatever order
// they go. Loop thread only: no locking.
struct AcceptState {
    IOLoop* loop;
    int socket;
    AcceptCallback callback;
    bool removed = false;  // the stop function ran: never accept again
    bool paused = false;   // after an accept error: the socket is not watched, `resume` is due
    bool warned = false;   // this shortage has been logged
    IOLoop::Timeout resume;
};

// Shortages of the process or the system, not of this listener: they pass
// when connections close, so accepting waits and tries again.
bool out_of_resources(int error) {
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

// Errors that belong to one pending connection (the peer gave up, or the
// network reported a problem on it), not to the listener: skip it. Linux
// passes pending network errors up through accept (see accept(2)).
bool connection_error(int error) {
    // EINTR (a signal) is here too: try again. EPERM: a firewall rule
    // refused this connection (accept(2)).
    switch (error) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH: return true;
        default: return false;
    }
}

// The listener is level-triggered, and the connection that could not be
// accepted is still queued, so the loop would report the socket again at
// once, every turn: a busy loop at 100% CPU that also starves the open
// connections, which are what will free descriptors. Hence: stop watching
// the socket, and look again after kAcceptPause.
void pause_accepting(const std::shared_ptr<AcceptState>& state, int error) {
    if (!state->warned) {
        state->warned = true;
        gen_log.warning("accept on fd {}: {}; pausing accepts ({} ms at a time) until it recovers",
                        state->socket, std::strerror(error),
                        std::chrono::milliseconds(kAcceptPause).count());
    }
    state->paused = true;
    state->loop->update_handler(state->socket, IOLoop::NONE);
    // The timer holds the state, so it stays valid even if the stop
    // function runs and every other holder lets go before the timer fires.
    state->resume = state->loop->call_later(kAcceptPause, [state] {
        state->paused = false;
        if (!state->removed) state->loop->update_handler(state->socket, IOLoop::READ);
    });
}

// The loop's handler for the listening socket (Tornado's accept_handler).
// `state` refers to the handler's own capture; the loop keeps a running
// handler alive until it returns, even if the callback removes it.
void accept_batch(const std::shared_ptr<AcceptState>& state) {
    for (int i = 0; i < kAcceptBatch; ++i) {
        // The callback may have stopped us (a server's stop()).
        if (state->removed || state->paused) return;
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        int fd = ::accept4(state->socket, reinterpret_cast<sockaddr*>(&peer), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int error = errno;
            if (error == EAGAIN || error == EWOULDBLOCK) return;  // the queue is empty
            // That connection is lost, the next may be fine. It still
            // counts against the batch, so the loop is bounded.
            if (connection_error(error)) continue;
            if (out_of_resources(error)) {
                pause_accepting(state, error);
            } else {
                // Unexpected (EBADF: closed under us, ...): say so, and do not
                // spin. Logged at each pause, unlike a shortage: every 100 ms
                // while it lasts.
                gen_log.error("accept on fd {}: {}", state->socket, std::strerror(error));
                pause_accepting(state, error);
            }
            return;
        }
        state->warned = false;  // the shortage is over: log the next one
        state->callback(FileDescriptor(fd),
                        SocketAddress(reinterpret_cast<sockaddr*>(&peer), length));
    }
}

}  // namespace

// Tornado's add_accept_handler, plus the pause on shortages (Tornado lets
// the error escape to the loop's handler log, every turn).
Function<void()> add_accept_handler(int socket, AcceptCallback callback) {
    IOLoop& loop = IOLoop::current();
    auto state = std::make_shared<AcceptState>();
    state->loop = &loop;
    state->socket = socket;
    state->callback = std::move(callback);
    loop.add_handler(
        socket, [state](int, std::uint32_t) { accept_batch(state); }, IOLoop::READ);
    return [state] {
        if (state->removed) return;
        state->removed = true;
        if (state->paused) state->loop->remove_timeout(state->resume);
        // state->callback is not reset here: this may run from inside it (a
        // callback that stops its server), and destroying a running
        // Function is undefined behaviour. It goes with the state.
        state->loop->remove_handler(state->socket);
    };
}

// --- resolving -----------------------------------------------------------------------

// Safe on any thread: getaddrinfo is thread-safe and nothing here touches
// a loop. No dedup and no sort: getaddrinfo's order already follows the
// system's preferences (RFC 6724, /etc/gai.conf), which a caller should
// keep.
std::vector<SocketAddress> resolve_blocking(const std::string& host, std::uint16_t port,
                                            int family) {
    AddrinfoList list = get_addrinfo(host.c_str(), port, family, 0);
    std::vector<SocketAddress> addresses;
    for (addrinfo* entry = list.get(); entry != nullptr; entry = entry->ai_next) {
        addresses.emplace_back(entry->ai_addr, entry->ai_addrlen);
    }
    return addresses;
}

namespace {

// A numeric address converted without getaddrinfo, or nothing for a name.
// A numeric address of the wrong family gives nothing too, and then goes
// to getaddrinfo, which fails with the proper ResolveError.
std::optional<SocketAddress> numeric_address(const std::string& host, std::uint16_t port,
                                             int family) {
    try {
        SocketAddress address = SocketAddress::from_ip(host, port);
        if (family != AF_UNSPEC && family != address.family()) return std::nullopt;
        return address;
    } catch (const std::invalid_argument&) {
        return std::nullopt;
    }
}

}  // namespace

Future<std::vector<SocketAddress>> DefaultExecutorResolver::resolve(std::string host,
                                                                    std::uint16_t port,
                                                                    int family) {
    // A numeric host (frequent in tests and configurations): no thread hop,
    // and the Future is done before the caller awaits it.
    if (std::optional<SocketAddress> address = numeric_address(host, port, family)) {
        Future<std::vector<SocketAddress>> done;
        done.set_result(std::vector<SocketAddress>{*address});
        return done;
    }
    // getaddrinfo may wait seconds for DNS: never on the loop's thread. The
    // lambda owns its copy of the host (the caller's string may be gone by
    // the time a pool thread runs it); run_in_executor hands the result
    // back on the loop's thread.
    return IOLoop::current().run_in_executor(executor_, [host = std::move(host), port, family] {
        return resolve_blocking(host, port, family);
    });
}

OverrideResolver::OverrideResolver(std::shared_ptr<Resolver> resolver, HostMapping host_mapping,
                                   AddressMapping address_mapping)
    : resolver_(std::move(resolver)),
      host_mapping_(std::move(host_mapping)),
      address_mapping_(std::move(address_mapping)) {
    if (!resolver_) throw std::invalid_argument("OverrideResolver needs a resolver");
}

// Tornado's OverrideResolver: a (host, port) entry first, then a host
// entry. Tornado's (host, port, family) keys are not offered. One step
// only: the replacement is not looked up in the mappings again.
Future<std::vector<SocketAddress>> OverrideResolver::resolve(std::string host, std::uint16_t port,
                                                             int family) {
    if (auto found = address_mapping_.find({host, port}); found != address_mapping_.end()) {
        std::tie(host, port) = found->second;
    } else if (auto named = host_mapping_.find(host); named != host_mapping_.end()) {
        host = named->second;
    }
    return resolver_->resolve(std::move(host), port, family);
}

// Tornado's is_valid_ip, which asks getaddrinfo with AI_NUMERICHOST, so
// the answer matches what a connect would accept (unlike from_ip, this
// takes "127.1" and scope ids). Any failure means "no" (Tornado re-raises
// errors other than EAI_NONAME).
bool is_valid_ip(std::string_view ip) {
    // getaddrinfo takes "" as localhost and would stop at a NUL, so
    // "1.2.3.4\0junk" would pass: both refused first, as in Tornado.
    if (ip.empty() || ip.find('\0') != std::string_view::npos) return false;
    std::string text(ip);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(text.c_str(), "0", &hints, &found);
    if (found != nullptr) ::freeaddrinfo(found);
    return rc == 0;
}

}  // namespace tornado
