// netutil.cpp: see tornado/netutil.h for the contract.
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

SocketAddress SocketAddress::from_ip(std::string_view ip, std::uint16_t port) {
    std::string text(ip);
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

SocketAddress SocketAddress::local_of(int socket) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getsockname(socket, reinterpret_cast<sockaddr*>(&storage), &length) < 0) {
        throw_errno("getsockname");
    }
    return SocketAddress(reinterpret_cast<sockaddr*>(&storage), length);
}

SocketAddress SocketAddress::peer_of(int socket) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getpeername(socket, reinterpret_cast<sockaddr*>(&storage), &length) < 0) {
        throw_errno("getpeername");
    }
    return SocketAddress(reinterpret_cast<sockaddr*>(&storage), length);
}

std::string SocketAddress::ip() const {
    char text[INET6_ADDRSTRLEN] = {};
    switch (family()) {
        case AF_INET: ::inet_ntop(AF_INET, &inline_.v4.sin_addr, text, sizeof text); return text;
        case AF_INET6: ::inet_ntop(AF_INET6, &inline_.v6.sin6_addr, text, sizeof text); return text;
        case AF_UNIX: {
            std::size_t offset = offsetof(sockaddr_un, sun_path);
            if (!unix_ || length_ <= offset) return "";
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

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
    return a.length_ == b.length_ && std::memcmp(a.data(), b.data(), a.length_) == 0;
}

std::ostream& operator<<(std::ostream& out, const SocketAddress& address) {
    return out << address.to_string();
}

// --- listening -----------------------------------------------------------------------

namespace {

struct AddrinfoDeleter {
    void operator()(addrinfo* list) const noexcept { ::freeaddrinfo(list); }
};
using AddrinfoList = std::unique_ptr<addrinfo, AddrinfoDeleter>;

// getaddrinfo with its error turned into a ResolveError.
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

}  // namespace

std::vector<FileDescriptor> bind_sockets(std::uint16_t port, std::string_view address,
                                         const BindOptions& options) {
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
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) { return a.family() < b.family(); });

    std::vector<FileDescriptor> sockets;
    std::uint16_t bound_port = 0;
    for (SocketAddress& candidate : candidates) {
        FileDescriptor sock(
            ::socket(candidate.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!sock) {
            if (errno == EAFNOSUPPORT) continue;  // no IPv6 in this kernel
            throw_errno("socket");
        }
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
        bound_port = SocketAddress::local_of(sock.get()).port();
        if (::listen(sock.get(), options.backlog) < 0)
            throw_errno("listen " + candidate.to_string());
        sockets.push_back(std::move(sock));
    }
    if (sockets.empty()) {
        throw std::runtime_error(tornado::format("bind_sockets: no address to listen on for {}:{}",
                                                 host.empty() ? "*" : host, port));
    }
    return sockets;
}

FileDescriptor bind_unix_socket(const std::string& path, unsigned mode, int backlog) {
    sockaddr_un address{};
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
        ::unlink(path.c_str());  // left over from an earlier run
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

// Connections accepted per readiness event (Tornado's figure): the rest wait
// a turn, after the open connections have had theirs.
constexpr int kAcceptBatch = 128;
// How long accepting pauses when descriptors (or memory) run out.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

struct AcceptState {
    IOLoop* loop;
    int socket;
    AcceptCallback callback;
    bool removed = false;
    bool paused = false;
    bool warned = false;  // this shortage has been logged
    IOLoop::Timeout resume;
};

bool out_of_resources(int error) {
    return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

// Errors that belong to one pending connection (the peer gave up, or the
// network reported a problem on it), not to the listener: skip it. Linux
// passes pending network errors up through accept (see accept(2)).
bool connection_error(int error) {
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

void pause_accepting(const std::shared_ptr<AcceptState>& state, int error) {
    if (!state->warned) {
        state->warned = true;
        gen_log.warning("accept on fd {}: {}; pausing accepts ({} ms at a time) until it recovers",
                        state->socket, std::strerror(error),
                        std::chrono::milliseconds(kAcceptPause).count());
    }
    state->paused = true;
    state->loop->update_handler(state->socket, IOLoop::NONE);
    state->resume = state->loop->call_later(kAcceptPause, [state] {
        state->paused = false;
        if (!state->removed) state->loop->update_handler(state->socket, IOLoop::READ);
    });
}

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
            if (error == EAGAIN || error == EWOULDBLOCK) return;
            if (connection_error(error)) continue;
            if (out_of_resources(error)) {
                pause_accepting(state, error);
            } else {
                // Unexpected (EBADF: closed under us, ...): say so, and do not spin.
                gen_log.error("accept on fd {}: {}", state->socket, std::strerror(error));
                pause_accepting(state, error);
            }
            return;
        }
        state->warned = false;
        state->callback(FileDescriptor(fd),
                        SocketAddress(reinterpret_cast<sockaddr*>(&peer), length));
    }
}

}  // namespace

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
        // The callback itself stays until the state goes: this may run from
        // inside it (a handler that stops its server).
        state->loop->remove_handler(state->socket);
    };
}

// --- resolving -----------------------------------------------------------------------

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
    if (std::optional<SocketAddress> address = numeric_address(host, port, family)) {
        Future<std::vector<SocketAddress>> done;
        done.set_result(std::vector<SocketAddress>{*address});
        return done;
    }
    // getaddrinfo may wait seconds for DNS: never on the loop's thread.
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

Future<std::vector<SocketAddress>> OverrideResolver::resolve(std::string host, std::uint16_t port,
                                                             int family) {
    if (auto found = address_mapping_.find({host, port}); found != address_mapping_.end()) {
        std::tie(host, port) = found->second;
    } else if (auto named = host_mapping_.find(host); named != host_mapping_.end()) {
        host = named->second;
    }
    return resolver_->resolve(std::move(host), port, family);
}

bool is_valid_ip(std::string_view ip) {
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
