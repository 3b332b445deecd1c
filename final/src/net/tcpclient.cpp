// tcpclient.cpp: see tornado/tcpclient.h for the contract.
//
// connect() is two steps, as in Tornado's TCPClient.connect: connect_to, a
// coroutine, resolves the name (under the deadline, if any); then a
// Connector (Tornado's _Connector) races the addresses it got, RFC 6555
// "Happy Eyeballs" style. Everything runs on the loop's thread; only the
// default resolver's getaddrinfo runs on the thread pool.
#include "tornado/tcpclient.h"

#include <cerrno>
#include <set>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "tornado/gen.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// How long the first address family has before the other joins in (Tornado's
// _INITIAL_CONNECT_TIMEOUT).
constexpr auto kSecondFamilyDelay = std::chrono::milliseconds(300);

// ConnectOptions with its own copy of the source address, for the coroutine
// and the Connector, which outlive the caller's arguments. ConnectOptions
// holds source_ip as a string_view (see the header for why), and the
// caller's string may be gone by the coroutine's first suspension.
struct ConnectPlan {
    explicit ConnectPlan(const ConnectOptions& options)
        : family(options.family),
          timeout(options.timeout),
          source_ip(options.source_ip),
          source_port(options.source_port),
          stream(options.stream) {}

    int family;
    std::optional<IOLoop::Clock::duration> timeout;
    std::string source_ip;
    std::uint16_t source_port;
    IOStreamOptions stream;
};

// A fresh non-blocking socket for one attempt, bound first when the caller
// asked for a source address or port. Throws (socket() or bind() failed):
// the Connector counts that as a failed attempt and moves on. SOCK_CLOEXEC
// keeps the socket out of child processes that fork() and exec().
// With a port but no IP we bind to the wildcard of the address's family;
// Tornado binds to the loopback address instead (127.0.0.1 or ::1), which
// can only reach local servers. The FileDescriptor closes the socket if
// bind() throws.
std::shared_ptr<IOStream> make_stream(const SocketAddress& address, const ConnectPlan& options) {
    FileDescriptor sock(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock) throw_errno("socket");
    if (!options.source_ip.empty() || options.source_port != 0) {
        std::string ip = options.source_ip;
        if (ip.empty()) ip = address.family() == AF_INET6 ? "::" : "0.0.0.0";
        SocketAddress source = SocketAddress::from_ip(ip, options.source_port);
        if (::bind(sock.get(), source.data(), source.size()) < 0) {
            throw_errno("bind " + source.to_string());
        }
    }
    return IOStream::create(std::move(sock), options.stream);
}

// Tries the addresses, one family at a time with the second joining after a
// delay (Tornado's _Connector). Lives until its last attempt has finished.
//
// Ownership: nobody holds a Connector but the callbacks it registers (each
// connect attempt's done callback and the two timeouts capture `self`) and
// connect_to while it waits. So it stays alive exactly as long as something
// can still call into it, and a late attempt finishing after the winner
// still finds its object. It keeps a reference to the loop it was made on,
// and so must not outlive it.
//
// Each family has at most one attempt in flight at a time: the next address
// of a family is tried only when the previous one has failed. remaining_
// counts addresses not yet finished, in both families (including those not
// started), so that the Future fails only when every address has failed.
class Connector : public std::enable_shared_from_this<Connector> {
public:
    Connector(std::vector<SocketAddress> addresses, ConnectPlan options, std::string target)
        : options_(std::move(options)), target_(std::move(target)), loop_(IOLoop::current()) {
        remaining_ = addresses.size();
        // The first address's family goes first; the others are the fallback.
        // The default resolver's getaddrinfo orders its answers by the
        // system's preference (RFC 6724), so this follows it. connect_to
        // never passes an empty list.
        int first_family = addresses.front().family();
        for (SocketAddress& address : addresses) {
            (address.family() == first_family ? primary_ : secondary_)
                .push_back(std::move(address));
        }
    }

    // Called once, right after construction (shared_from_this needs the
    // shared_ptr to exist already, hence not in the constructor). The future
    // may already be done when try_connect returns, if every address failed
    // synchronously; then no timeout is set, as nothing is left to time.
    Future<std::shared_ptr<IOStream>> start(std::optional<IOLoop::Clock::time_point> deadline) {
        try_connect(primary_, 0);
        if (!secondary_.empty() && !future_.done()) {
            second_family_ = loop_.call_later(
                kSecondFamilyDelay, [self = shared_from_this()] { self->start_second_family(); });
            second_family_pending_ = true;
        }
        if (deadline && !future_.done()) {
            deadline_ =
                loop_.call_at(*deadline, [self = shared_from_this()] { self->on_deadline(); });
            deadline_pending_ = true;
        }
        return future_;
    }

private:
    // Starts an attempt on list[index], or on the next address after it that
    // can be started at all. `list` is primary_ or secondary_: the callback
    // captures it by reference, which is safe because the same callback holds
    // `self`, the Connector that owns the vector.
    void try_connect(const std::vector<SocketAddress>& list, std::size_t index) {
        while (index < list.size()) {
            const SocketAddress& address = list[index];
            Future<std::shared_ptr<IOStream>> connecting(nullptr);
            try {
                std::shared_ptr<IOStream> stream = make_stream(address, options_);
                connecting = stream->connect(address);
                streams_.insert(std::move(stream));
            } catch (...) {
                // Could not even start (no socket, source address taken): next.
                --remaining_;
                last_error_ = std::current_exception();
                ++index;
                continue;
            }
            connecting.add_done_callback(
                [self = shared_from_this(), &list, index](Future<std::shared_ptr<IOStream>> done) {
                    self->on_connect_done(list, index, std::move(done));
                });
            return;
        }
        // This family has no address left. Fail only if the other family has
        // none either; otherwise its attempts may still win.
        if (remaining_ == 0 && !future_.done()) {
            clear_timeouts();
            future_.set_exception(last_error_ ? last_error_
                                              : std::make_exception_ptr(std::runtime_error(
                                                    "connection to " + target_ + " failed")));
        }
    }

    // At the loop turn after an attempt finished, either way. Three cases:
    // it failed (try the next address of its family), it won, or it
    // connected too late (the race is over: close it).
    void on_connect_done(const std::vector<SocketAddress>& list, std::size_t index,
                         Future<std::shared_ptr<IOStream>> done) {
        --remaining_;
        std::shared_ptr<IOStream> stream;
        try {
            stream = done.result();
        } catch (...) {
            if (future_.done()) return;
            last_error_ = std::current_exception();
            try_connect(list, index + 1);
            // This family is not doing well: let the other start now rather
            // than at the end of the 300 ms, as Tornado does.
            if (second_family_pending_) {
                loop_.remove_timeout(second_family_);
                start_second_family();
            }
            return;
        }
        // Out of streams_ first, so that close_streams() below spares the winner.
        streams_.erase(stream);
        if (future_.done()) {
            stream->close();  // another address won, or time ran out
            return;
        }
        clear_timeouts();
        future_.set_result(std::move(stream));
        close_streams();
    }

    void start_second_family() {
        second_family_pending_ = false;
        if (!future_.done()) try_connect(secondary_, 0);
    }

    // The caller's timeout passed: fail with TimeoutError, and close every
    // attempt still under way. Their done callbacks still run afterwards (with
    // an error) and find the future done.
    void on_deadline() {
        deadline_pending_ = false;
        if (future_.done()) return;
        future_.set_exception(TimeoutError("Timeout connecting to " + target_));
        clear_timeouts();
        close_streams();
    }

    void clear_timeouts() {
        if (second_family_pending_) loop_.remove_timeout(second_family_);
        if (deadline_pending_) loop_.remove_timeout(deadline_);
        second_family_pending_ = deadline_pending_ = false;
    }

    // Moved out before closing, so the loop walks a local set: nothing that
    // close() sets off can change the container under it.
    void close_streams() {
        std::set<std::shared_ptr<IOStream>> streams = std::move(streams_);
        streams_.clear();
        for (const std::shared_ptr<IOStream>& stream : streams) stream->close();
    }

    ConnectPlan options_;
    std::string target_;
    IOLoop& loop_;
    std::vector<SocketAddress> primary_;
    std::vector<SocketAddress> secondary_;
    std::size_t remaining_ = 0;
    std::exception_ptr last_error_;
    std::set<std::shared_ptr<IOStream>> streams_;  // attempts under way
    Future<std::shared_ptr<IOStream>> future_;
    IOLoop::Timeout second_family_;
    IOLoop::Timeout deadline_;
    bool second_family_pending_ = false;
    bool deadline_pending_ = false;
};

// The body of TCPClient::connect. The resolver is held by shared_ptr so it
// outlives the TCPClient if the client is destroyed mid-connect. `options` is
// taken by value: a coroutine's reference parameters could dangle after
// its first suspension. One deadline covers both resolving and connecting,
// as Tornado's `timeout` does: it is computed once, here.
Task<std::shared_ptr<IOStream>> connect_to(std::shared_ptr<Resolver> resolver, std::string host,
                                           std::uint16_t port, ConnectPlan options) {
    std::string target = host + ":" + std::to_string(port);
    std::optional<IOLoop::Clock::time_point> deadline;
    if (options.timeout) deadline = IOLoop::time() + *options.timeout;

    Future<std::vector<SocketAddress>> resolving = resolver->resolve(host, port, options.family);
    if (deadline) resolving = with_timeout(*deadline, std::move(resolving));
    std::vector<SocketAddress> addresses;
    bool timed_out = false;
    try {
        addresses = co_await std::move(resolving);
    } catch (const TimeoutError&) {
        timed_out = true;
    }
    // with_timeout's own TimeoutError says nothing about what timed out;
    // replace it with one that names the target and the step. (The resolve
    // itself goes on in the pool, and its answer is dropped.)
    if (timed_out) throw TimeoutError("Timeout connecting to " + target + " (resolving the name)");
    if (addresses.empty()) throw ResolveError("could not resolve " + target + ": no addresses", 0);

    // `connector` lives in this frame until the race is decided; after that
    // the callbacks it registered keep it alive for the late attempts.
    auto connector = std::make_shared<Connector>(std::move(addresses), std::move(options), target);
    co_return co_await connector->start(deadline);
}

// The TLS half of connect: the handshake gets what is left of the
// connect's deadline, if that is sooner than its own timeout.
Task<std::shared_ptr<IOStream>> connect_secure(Future<std::shared_ptr<IOStream>> connecting,
                                               SSLOptions ssl_options, std::string server_hostname,
                                               std::optional<IOLoop::Clock::time_point> deadline) {
    std::shared_ptr<IOStream> plain = co_await std::move(connecting);
    if (deadline) {
        IOLoop::Clock::duration left = *deadline - IOLoop::time();
        if (!ssl_options.handshake_timeout || left < *ssl_options.handshake_timeout)
            ssl_options.handshake_timeout = left;
    }
    std::shared_ptr<SSLIOStream> secure =
        co_await plain->start_tls(false, ssl_options, std::move(server_hostname));
    co_return secure;
}

}  // namespace

TCPClient::TCPClient(std::shared_ptr<Resolver> resolver) : own_resolver_(resolver == nullptr) {
    resolver_ = own_resolver_ ? std::make_shared<DefaultExecutorResolver>() : std::move(resolver);
}

TCPClient::~TCPClient() { close(); }

// A resolver passed in belongs to the caller, who may share it with
// other clients: only the one we made is closed.
void TCPClient::close() {
    if (own_resolver_) resolver_->close();
}

Future<std::shared_ptr<IOStream>> TCPClient::connect(std::string host, std::uint16_t port,
                                                     ConnectOptions options) {
    return connect_to(resolver_, std::move(host), port, ConnectPlan(options));
}

Future<std::shared_ptr<IOStream>> TCPClient::connect(std::string host, std::uint16_t port,
                                                     ConnectOptions options, SSLOptions ssl_options,
                                                     std::string server_hostname) {
    std::optional<IOLoop::Clock::time_point> deadline;
    if (options.timeout) deadline = IOLoop::time() + *options.timeout;
    if (server_hostname.empty()) server_hostname = host;
    Future<std::shared_ptr<IOStream>> connecting = connect(std::move(host), port, options);
    return connect_secure(std::move(connecting), std::move(ssl_options), std::move(server_hostname),
                          deadline);
}

}  // namespace tornado
