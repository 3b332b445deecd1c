// Tests for tornado/netutil.h: addresses, listening sockets, the accept
// handler (batches, running out of descriptors), and resolvers that keep
// the loop free.
#include "tornado/netutil.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net_test_util.h"
#include "test_util.h"
#include "tornado/concurrent.h"
#include "tornado/ioloop.h"

namespace {

using namespace std::chrono_literals;
using tornado::FileDescriptor;
using tornado::IOLoop;
using tornado::SocketAddress;

FileDescriptor connect_blocking(const SocketAddress& address) {
    FileDescriptor fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), address.data(), address.size()) < 0) tornado::throw_errno("connect");
    return fd;
}

bool ipv6_available() {
    FileDescriptor fd(::socket(AF_INET6, SOCK_STREAM, 0));
    if (!fd) return false;
    SocketAddress loopback = SocketAddress::from_ip("::1", 0);
    return ::bind(fd.get(), loopback.data(), loopback.size()) == 0;
}

double thread_cpu_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// --- SocketAddress and is_valid_ip -----------------------------------------------------

TEST(SocketAddress, PrintsLikeAHostAndPort) {
    EXPECT_EQ(SocketAddress::from_ip("127.0.0.1", 8888).to_string(), "127.0.0.1:8888");
    EXPECT_EQ(SocketAddress::from_ip("::1", 443).to_string(), "[::1]:443");
    SocketAddress v6 = SocketAddress::from_ip("2001:db8::7", 80);
    EXPECT_EQ(v6.family(), AF_INET6);
    EXPECT_EQ(v6.ip(), "2001:db8::7");
    EXPECT_EQ(v6.port(), 80);
    EXPECT_TRUE(SocketAddress().empty());
    EXPECT_THROW(SocketAddress::from_ip("localhost", 80), std::invalid_argument);
    EXPECT_EQ(SocketAddress::from_ip("10.0.0.1", 1), SocketAddress::from_ip("10.0.0.1", 1));
    EXPECT_FALSE(SocketAddress::from_ip("10.0.0.1", 1) == SocketAddress::from_ip("10.0.0.1", 2));
    EXPECT_LE(sizeof(SocketAddress), 48u);  // kept in every connection's frame
}

// ip() writes IPv4 itself; inet_ntop is the reference. Each byte value
// in each position: one, two and three digits, and the zeros between.
TEST(SocketAddress, WritesIPv4AsInetNtopDoes) {
    for (int position = 0; position < 4; ++position) {
        for (int value = 0; value < 256; ++value) {
            sockaddr_in v4{};
            v4.sin_family = AF_INET;
            auto* bytes = reinterpret_cast<unsigned char*>(&v4.sin_addr.s_addr);
            bytes[0] = 10;
            bytes[3] = 7;
            bytes[position] = static_cast<unsigned char>(value);
            char expected[INET_ADDRSTRLEN] = {};
            ::inet_ntop(AF_INET, &v4.sin_addr, expected, sizeof expected);
            SocketAddress address(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
            ASSERT_EQ(address.ip(), expected) << "byte " << position << " = " << value;
        }
    }
}

TEST(IsValidIp, NumericAddressesOnly) {
    for (const char* good : {"127.0.0.1", "4.4.4.4", "::1", "2620:0:1cfe:face:b00c::3"}) {
        EXPECT_TRUE(tornado::is_valid_ip(good)) << good;
    }
    for (const char* bad : {"www.google.com", "localhost", "4.4.4.4<", " 127.0.0.1", "", " ", "\n"}) {
        EXPECT_FALSE(tornado::is_valid_ip(bad)) << bad;
    }
    EXPECT_FALSE(tornado::is_valid_ip(std::string_view("\0", 1)));
    EXPECT_FALSE(tornado::is_valid_ip(std::string(100000, 'a')));
}

// --- bind_sockets ------------------------------------------------------------------------

TEST(BindSockets, LoopbackPortZeroGetsARealPort) {
    auto sockets = tornado::bind_sockets(0, "127.0.0.1");
    ASSERT_EQ(sockets.size(), 1u);
    SocketAddress address = SocketAddress::local_of(sockets[0].get());
    EXPECT_EQ(address.ip(), "127.0.0.1");
    EXPECT_NE(address.port(), 0);
    // Listening, and non-blocking.
    FileDescriptor client = connect_blocking(address);
    EXPECT_TRUE(tornado::testing::wait_readable(sockets[0].get(), 1s));
}

TEST(BindSockets, EveryInterfaceMeansEveryFamilyOnOnePort) {
    auto sockets = tornado::bind_sockets(0, "");
    ASSERT_GE(sockets.size(), 1u);
    std::uint16_t port = SocketAddress::local_of(sockets[0].get()).port();
    bool v4 = false;
    bool v6 = false;
    for (auto& socket : sockets) {
        SocketAddress address = SocketAddress::local_of(socket.get());
        EXPECT_EQ(address.port(), port);
        v4 |= address.family() == AF_INET && address.ip() == "0.0.0.0";
        v6 |= address.family() == AF_INET6 && address.ip() == "::";
    }
    EXPECT_TRUE(v4);
    if (ipv6_available()) {
        EXPECT_TRUE(v6);
    }
}

TEST(BindSockets, ATakenPortIsAnErrorThatNamesTheAddress) {
    auto first = tornado::bind_sockets(0, "127.0.0.1");
    std::uint16_t port = SocketAddress::local_of(first[0].get()).port();
    try {
        tornado::bind_sockets(port, "127.0.0.1");
        FAIL() << "the second bind should fail";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EADDRINUSE);
        EXPECT_NE(std::string(error.what()).find("bind 127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << error.what();
    }
}

TEST(BindSockets, ReusePortLetsSocketsShareAPort) {
    auto first = tornado::bind_sockets(0, "127.0.0.1", {.reuse_port = true});
    std::uint16_t port = SocketAddress::local_of(first[0].get()).port();
    auto second = tornado::bind_sockets(port, "127.0.0.1", {.reuse_port = true});
    EXPECT_EQ(SocketAddress::local_of(second[0].get()).port(), port);
}

// UDP sockets on 127.0.0.1 holding a quarter of the kernel's range for
// port 0, as clients hold theirs: a TCP port the kernel picks is then often
// one UDP cannot have. Two ports in each eight, one odd and one even:
// Linux gives bind() odd ports first and connect() even ones.
std::vector<FileDescriptor> hold_udp_ports() {
    int low = 0;
    int high = 0;
    std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
    std::vector<FileDescriptor> held;
    for (int port = low; port <= high; ++port) {
        if (port % 8 > 1) continue;
        FileDescriptor udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        SocketAddress address =
            SocketAddress::from_ip("127.0.0.1", static_cast<std::uint16_t>(port));
        if (::bind(udp.get(), address.data(), address.size()) == 0) held.push_back(std::move(udp));
    }
    return held;
}

bool can_bind(int type, std::uint16_t port) {
    FileDescriptor socket(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    SocketAddress address = SocketAddress::from_ip("127.0.0.1", port);
    return ::bind(socket.get(), address.data(), address.size()) == 0;
}

bool udp_can_bind(std::uint16_t port) { return can_bind(SOCK_DGRAM, port); }

// HTTP/3 serves on UDP at the TCP port's number. With port 0, that number
// must be free for UDP too, or the server fails to start. The first loop
// shows that the held ports do get in the way without udp_too.
TEST(BindSockets, UdpTooPicksAPortUdpCanHave) {
    std::vector<FileDescriptor> held = hold_udp_ports();
    ASSERT_GT(held.size(), 1000u) << "too few UDP ports held (a low limit on open files?)";
    int collisions = 0;
    for (int i = 0; i < 80; ++i) {
        auto sockets = tornado::bind_sockets(0, "127.0.0.1");
        if (!udp_can_bind(SocketAddress::local_of(sockets[0].get()).port())) ++collisions;
    }
    ASSERT_GT(collisions, 0) << "the held UDP ports never met TCP's: the test shows nothing";
    for (int i = 0; i < 80; ++i) {
        auto sockets = tornado::bind_sockets(0, "127.0.0.1", {.udp_too = true});
        std::uint16_t port = SocketAddress::local_of(sockets[0].get()).port();
        EXPECT_TRUE(udp_can_bind(port)) << "port " << port;
    }
}

// A port asked for by number is not changed: when UDP has it, the error
// says so, and no TCP socket is left listening.
TEST(BindSockets, UdpTooOnATakenUdpPortIsAnErrorThatSaysUdp) {
    // A UDP port whose TCP twin is free: with TCP taken too (another test's
    // listener), the error would be TCP's, not the one this test is about.
    FileDescriptor udp;
    std::uint16_t port = 0;
    for (int attempt = 0; attempt < 20 && port == 0; ++attempt) {
        udp = FileDescriptor(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        SocketAddress any_port = SocketAddress::from_ip("127.0.0.1", 0);
        ASSERT_EQ(::bind(udp.get(), any_port.data(), any_port.size()), 0);
        std::uint16_t picked = SocketAddress::local_of(udp.get()).port();
        if (can_bind(SOCK_STREAM, picked)) port = picked;
    }
    ASSERT_NE(port, 0) << "no UDP port with its TCP twin free in 20 tries";
    try {
        tornado::bind_sockets(port, "127.0.0.1", {.udp_too = true});
        FAIL() << "UDP port " << port << " is held, and bind_sockets took it";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EADDRINUSE);
        EXPECT_NE(std::string(error.what()).find("bind UDP 127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << error.what();
    }
    FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    SocketAddress server = SocketAddress::from_ip("127.0.0.1", port);
    EXPECT_LT(::connect(client.get(), server.data(), server.size()), 0);
}

TEST(BindUnixSocket, ListensAndReplacesAStaleSocketFile) {
    std::string path = "/tmp/tornado-test-" + std::to_string(::getpid()) + ".sock";
    {
        FileDescriptor listener = tornado::bind_unix_socket(path, 0600);
        SocketAddress bound = SocketAddress::local_of(listener.get());
        EXPECT_EQ(bound.family(), AF_UNIX);
        EXPECT_EQ(bound.to_string(), path);
        EXPECT_EQ(bound, SocketAddress::local_of(listener.get()));
        struct stat status {};
        ASSERT_EQ(::stat(path.c_str(), &status), 0);
        EXPECT_EQ(status.st_mode & 0777, 0600u);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
        FileDescriptor client(::socket(AF_UNIX, SOCK_STREAM, 0));
        EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        FileDescriptor accepted(::accept(listener.get(), nullptr, nullptr));
        SocketAddress peer = SocketAddress::peer_of(accepted.get());  // unnamed
        EXPECT_EQ(peer.family(), AF_UNIX);
        EXPECT_EQ(peer.ip(), "");
        EXPECT_EQ(SocketAddress::peer_of(client.get()), bound);
    }
    // The file is left behind by the closed listener: binding again works.
    EXPECT_NO_THROW(tornado::bind_unix_socket(path));
    ::unlink(path.c_str());
    std::ofstream(path) << "not a socket";
    EXPECT_THROW(tornado::bind_unix_socket(path), std::invalid_argument);
    ::unlink(path.c_str());
}

// --- add_accept_handler ---------------------------------------------------------------------

TEST(AcceptHandler, AcceptsEveryPendingConnectionInBatches) {
    IOLoop loop;
    auto listeners = tornado::bind_sockets(0, "127.0.0.1");
    SocketAddress address = SocketAddress::local_of(listeners[0].get());
    std::vector<FileDescriptor> clients;
    for (int i = 0; i < 300; ++i) clients.push_back(connect_blocking(address));
    std::vector<FileDescriptor> accepted;
    auto stop = tornado::add_accept_handler(listeners[0].get(), [&](FileDescriptor fd, SocketAddress peer) {
        EXPECT_EQ(peer.ip(), "127.0.0.1");
        accepted.push_back(std::move(fd));
    });
    // One turn, one readiness event: one batch of 128, the rest next turn.
    tornado::testing::run_turns(loop, 1);
    EXPECT_EQ(accepted.size(), 128u);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return accepted.size() == 300; }));
    // Accepted connections are non-blocking.
    EXPECT_NE(::fcntl(accepted[0].get(), F_GETFL) & O_NONBLOCK, 0);
    stop();
    stop();  // twice is fine
    // Stopped: a new connection waits in the backlog, unaccepted.
    clients.push_back(connect_blocking(address));
    tornado::testing::run_turns(loop, 5);
    EXPECT_EQ(accepted.size(), 300u);
}

TEST(AcceptHandler, OutOfDescriptorsPausesInsteadOfSpinning) {
    IOLoop loop;
    tornado::testing::LogCapture log;
    auto listeners = tornado::bind_sockets(0, "127.0.0.1");
    SocketAddress address = SocketAddress::local_of(listeners[0].get());
    std::vector<FileDescriptor> accepted;
    auto stop = tornado::add_accept_handler(listeners[0].get(), [&](FileDescriptor fd, SocketAddress) {
        accepted.push_back(std::move(fd));
    });
    std::vector<FileDescriptor> clients;
    for (int i = 0; i < 5; ++i) clients.push_back(connect_blocking(address));

    // Use up every descriptor this process may have.
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    int highest = 0;
    for (int fd = 0; fd < 65536 && fd < static_cast<int>(saved.rlim_cur); ++fd) {
        if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
    }
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(highest + 1);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<FileDescriptor> fillers;
    for (;;) {
        int fd = ::dup(listeners[0].get());
        if (fd < 0) break;
        fillers.emplace_back(fd);
    }
    double cpu_before = thread_cpu_seconds();
    loop.call_later(300ms, [&] { loop.stop(); });
    loop.start();
    double cpu_used = thread_cpu_seconds() - cpu_before;
    fillers.clear();
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

    EXPECT_TRUE(accepted.empty());
    EXPECT_LT(cpu_used, 0.15) << "the loop spun on the listener";
    EXPECT_EQ(log.matching("Too many open files").size(), 1u);  // said once, not every turn
    // Descriptors are free again: the waiting connections are accepted.
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return accepted.size() == 5; }, 3000ms));
    stop();
}

// --- resolvers -----------------------------------------------------------------------------------

TEST(Resolver, BlockingResolutionOfLocalhost) {
    std::vector<SocketAddress> found = tornado::resolve_blocking("localhost", 80);
    ASSERT_FALSE(found.empty());
    bool loopback = false;
    for (auto& address : found) {
        loopback |= address.ip() == "127.0.0.1" || address.ip() == "::1";
        EXPECT_EQ(address.port(), 80);
    }
    EXPECT_TRUE(loopback);
    EXPECT_THROW(tornado::resolve_blocking("", 80), tornado::ResolveError);
}

TEST(Resolver, ANumericAddressIsResolvedAtOnce) {
    IOLoop loop;
    tornado::DefaultExecutorResolver resolver;
    auto found = resolver.resolve("127.0.0.1", 8080);
    ASSERT_TRUE(found.done());
    ASSERT_EQ(found.result().size(), 1u);
    EXPECT_EQ(found.result()[0].to_string(), "127.0.0.1:8080");
}

TEST(Resolver, NamesAreResolvedOffTheLoopThread) {
    IOLoop loop;
    tornado::ThreadPoolExecutor pool(1);
    // The pool's only thread is busy until we say: if the resolver ran
    // getaddrinfo on the loop's thread, resolve() would return done.
    std::mutex mutex;
    std::condition_variable changed;
    bool open = false;
    pool.submit([&] {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return open; });
    });
    tornado::DefaultExecutorResolver resolver(&pool);
    auto found = resolver.resolve("localhost", 8888);
    EXPECT_FALSE(found.done());
    // Meanwhile the loop goes on serving timers.
    int ticks = 0;
    tornado::PeriodicCallback tick([&] { ++ticks; }, 2ms);
    tick.start();
    tornado::testing::run_until(loop, [&] { return ticks >= 5; });
    EXPECT_GE(ticks, 5);
    EXPECT_FALSE(found.done());
    {
        std::lock_guard lock(mutex);
        open = true;
    }
    changed.notify_all();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return found.done(); }));
    ASSERT_FALSE(found.result().empty());
    EXPECT_EQ(found.result()[0].port(), 8888);
    pool.shutdown();
}

TEST(Resolver, OverrideResolverRewritesNames) {
    IOLoop loop;
    auto inner = std::make_shared<tornado::DefaultExecutorResolver>();
    tornado::OverrideResolver resolver(inner, {{"example.test", "127.0.0.1"}},
                                       {{{"example.test", 443}, {"127.0.0.2", 8443}}});
    auto plain = resolver.resolve("example.test", 80);
    ASSERT_TRUE(plain.done());
    EXPECT_EQ(plain.result()[0].to_string(), "127.0.0.1:80");
    auto mapped = resolver.resolve("example.test", 443);
    ASSERT_TRUE(mapped.done());
    EXPECT_EQ(mapped.result()[0].to_string(), "127.0.0.2:8443");
}

TEST(Resolver, AFailedLookupIsAResolveError) {
    IOLoop loop;
    tornado::DefaultExecutorResolver resolver;
    // "" as a name fails in getaddrinfo without asking any DNS server.
    auto found = resolver.resolve("", 80);
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return found.done(); }));
    EXPECT_THROW(found.result(), tornado::ResolveError);
}

}  // namespace
