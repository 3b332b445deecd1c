// Tests of tornado/redis.h (final/redis/, the Redis add-on) against a real
// Redis: Debian's redis-server, started by the fixture on a free loopback
// port and stopped by its PID. Skipped when redis-server is not installed
// (tools/install-deps.sh deploy).
//
// Commands and their reply types, binary-safe values, error replies, many
// commands in flight at once, publish and subscribe (messages kept while
// nobody waits, in order; a cancelled wait loses nothing), and a server
// that goes away (every waiting command and subscription fails with a
// RedisError, and so does every later one).
#include "tornado/redis.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tornado/gen.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"

extern char** environ;

namespace tornado::redis {
namespace {

using namespace std::chrono_literals;

constexpr const char* kRedisServer = "/usr/bin/redis-server";

// Channel names as subscribe() takes them: g++ 12 cannot build a braced list
// of string literals inside a coroutine.
template <typename... Names>
std::vector<std::string> channels(const Names&... names) {
    return {std::string(names)...};
}

// A port nothing listens on right now (the kernel's pick for port 0).
std::uint16_t free_port() {
    std::vector<FileDescriptor> sockets = bind_sockets(0, "127.0.0.1");
    return SocketAddress::local_of(sockets.front().get()).port();
}

// Whether something accepts connections on 127.0.0.1:port.
bool accepts(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SocketAddress address = SocketAddress::from_ip("127.0.0.1", port);
    bool connected = ::connect(fd, address.data(), address.size()) == 0;
    ::close(fd);
    return connected;
}

// redis-server with nothing saved to disk, on its own port.
class RedisServer {
public:
    RedisServer() : port_(free_port()) {
        std::string port = std::to_string(port_);
        std::vector<const char*> argv{kRedisServer, "--port", port.c_str(), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--loglevel", "warning",
                                      nullptr};
        // Its start-up banner and warnings would only fill the test's output.
        posix_spawn_file_actions_t quiet;
        posix_spawn_file_actions_init(&quiet);
        posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&quiet, STDOUT_FILENO, STDERR_FILENO);
        int failed = ::posix_spawn(&pid_, kRedisServer, &quiet, nullptr,
                                   const_cast<char**>(argv.data()), environ);
        posix_spawn_file_actions_destroy(&quiet);
        if (failed != 0) {
            pid_ = -1;
            return;
        }
        for (int tries = 0; tries < 200 && !accepts(port_); ++tries) {
            std::this_thread::sleep_for(10ms);
        }
    }
    ~RedisServer() { stop(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    std::uint16_t port() const { return port_; }
    bool running() const { return pid_ > 0 && accepts(port_); }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

private:
    std::uint16_t port_;
    pid_t pid_ = -1;
};

class RedisTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::access(kRedisServer, X_OK) != 0) {
            GTEST_SKIP() << kRedisServer << " is not installed (tools/install-deps.sh deploy)";
        }
        ASSERT_TRUE(server_.running()) << "redis-server did not start on port " << server_.port();
    }

    // Runs `coroutine` on the loop, bounded: a lost reply fails, not hangs.
    // The bound is generous because it is a hang guard, not a speed test: a
    // megabyte through hiredis under ASan on a loaded machine once took 78 s
    // of a 5 s bound.
    template <typename Coroutine>
    void run(Coroutine coroutine) {
        loop_.run_sync(std::move(coroutine), 60s);
    }

    std::shared_ptr<Client> connect() {
        return loop_.run_sync([this]() { return Client::connect("127.0.0.1", server_.port()); },
                              5s);
    }

    IOLoop loop_;
    RedisServer server_;
};

TEST_F(RedisTest, SetGetAndTheReplyTypes) {
    auto redis = connect();
    run([&]() -> Task<void> {
        co_await redis->set("greeting", "hello");
        EXPECT_EQ(co_await redis->get("greeting"), "hello");
        EXPECT_EQ(co_await redis->get("no such key"), std::nullopt);

        Reply counter = co_await redis->command("INCR", "visits");
        EXPECT_EQ(counter.type, Reply::Type::integer);
        EXPECT_EQ(counter.integer, 1);
        Reply status = co_await redis->command("SET", "a", "1");
        EXPECT_EQ(status.type, Reply::Type::status);
        EXPECT_EQ(status.string, "OK");
        co_await redis->command("RPUSH", "list", "x", "y");
        Reply list = co_await redis->command("LRANGE", "list", "0", "-1");
        EXPECT_EQ(list.type, Reply::Type::array);
        EXPECT_EQ(list.elements.size(), 2u);
        if (list.elements.size() == 2) {
            EXPECT_EQ(list.elements[1].string, "y");
        }
        EXPECT_TRUE((co_await redis->command("GET", "missing")).is_nil());
    });
}

TEST_F(RedisTest, ValuesAreBinarySafe) {
    auto redis = connect();
    const std::string zeros("a\0b\r\n\0", 6);
    const std::string large(1 << 20, 'z');
    run([&]() -> Task<void> {
        co_await redis->set(zeros, zeros);
        EXPECT_EQ(co_await redis->get(zeros), zeros);
        co_await redis->set("large", large);
        EXPECT_EQ(co_await redis->get("large"), large);
    });
}

TEST_F(RedisTest, AnErrorReplyIsARedisErrorAndTheConnectionGoesOn) {
    auto redis = connect();
    run([&]() -> Task<void> {
        try {
            co_await redis->command("NO-SUCH-COMMAND");
            ADD_FAILURE() << "no RedisError";
        } catch (const RedisError& error) {
            EXPECT_NE(std::string(error.what()).find("ERR"), std::string::npos) << error.what();
        }
        co_await redis->set("k", "v");
        try {
            co_await redis->command("INCR", "k");  // not a number
            ADD_FAILURE() << "no RedisError";
        } catch (const RedisError&) {
        }
        EXPECT_EQ(co_await redis->get("k"), "v");
    });
    EXPECT_FALSE(redis->closed());
}

// Commands sent before any reply came back: hiredis matches the replies to
// them in order.
TEST_F(RedisTest, ManyCommandsInFlightAtOnce) {
    auto redis = connect();
    run([&]() -> Task<void> {
        std::vector<Future<Reply>> replies;
        for (int i = 0; i < 1000; ++i) replies.push_back(redis->command("INCR", "n"));
        std::vector<Reply> values = co_await multi(std::move(replies));
        for (int i = 0; i < 1000; ++i) EXPECT_EQ(values[i].integer, i + 1);
    });
}

TEST_F(RedisTest, ConnectingWhereNothingListensIsARedisError) {
    std::uint16_t nobody = free_port();
    EXPECT_THROW(loop_.run_sync([&]() { return Client::connect("127.0.0.1", nobody); }, 5s),
                 RedisError);
    EXPECT_THROW(
        loop_.run_sync([&]() { return Subscription::subscribe("127.0.0.1", nobody, channels("c")); }, 5s),
        RedisError);
}

TEST_F(RedisTest, AHostNameIsRefusedRatherThanResolvedBlocking) {
    EXPECT_THROW(loop_.run_sync([&]() { return Client::connect("localhost", 6379); }, 5s),
                 std::invalid_argument);
}

TEST_F(RedisTest, PublishReachesEverySubscriberInOrder) {
    auto redis = connect();
    run([&]() -> Task<void> {
        auto first = co_await Subscription::subscribe("127.0.0.1", server_.port(), channels("news"));
        auto second =
            co_await Subscription::subscribe("127.0.0.1", server_.port(), channels("news", "other"));
        EXPECT_EQ(co_await redis->publish("news", "one"), 2);
        EXPECT_EQ(co_await redis->publish("other", "two"), 1);
        EXPECT_EQ(co_await redis->publish("news", "three"), 2);
        EXPECT_EQ(co_await redis->publish("nobody listens", "x"), 0);

        // Kept while nobody waited, handed out in order.
        Message message = co_await first->next();
        EXPECT_EQ(message.channel, "news");
        EXPECT_EQ(message.payload, "one");
        EXPECT_EQ((co_await first->next()).payload, "three");
        EXPECT_EQ((co_await second->next()).payload, "one");
        message = co_await second->next();
        EXPECT_EQ(message.channel, "other");
        EXPECT_EQ(message.payload, "two");
        EXPECT_EQ((co_await second->next()).payload, "three");
    });
}

TEST_F(RedisTest, AWaitingSubscriberIsWokenAndACancelledWaitLosesNothing) {
    auto redis = connect();
    run([&]() -> Task<void> {
        auto inbox = co_await Subscription::subscribe("127.0.0.1", server_.port(), channels("c"));
        Future<Message> waiting = inbox->next();
        EXPECT_THROW(inbox->next(), std::logic_error);  // one waiter at a time
        co_await redis->publish("c", "woken");
        EXPECT_EQ((co_await waiting).payload, "woken");

        // with_timeout leaves the wait pending (as in Tornado): who gives
        // up cancels it, and the next message is then kept for next().
        Future<Message> given_up = inbox->next();
        try {
            co_await with_timeout(20ms, given_up);
            ADD_FAILURE() << "nothing was published";
        } catch (const TimeoutError&) {
        }
        given_up.cancel();
        co_await redis->publish("c", "after the timeout");
        EXPECT_EQ((co_await inbox->next()).payload, "after the timeout");
    });
}

TEST_F(RedisTest, AServerThatGoesAwayFailsEveryWaiterAndEveryLaterCommand) {
    auto redis = connect();
    run([&]() -> Task<void> {
        auto inbox = co_await Subscription::subscribe("127.0.0.1", server_.port(), channels("c"));
        co_await redis->publish("c", "before");
        Future<Message> first = inbox->next();
        EXPECT_EQ((co_await first).payload, "before");
        Future<Message> waiting = inbox->next();
        server_.stop();
        try {
            co_await waiting;
            ADD_FAILURE() << "the subscription did not fail";
        } catch (const RedisError& error) {
            EXPECT_NE(std::string(error.what()).find("Redis connection"), std::string::npos)
                << error.what();
        }
        EXPECT_TRUE(inbox->closed());
        EXPECT_THROW(co_await inbox->next(), RedisError);
        // The command connection learns it at its next command.
        EXPECT_THROW(co_await redis->command("PING"), RedisError);
        EXPECT_TRUE(redis->closed());
        EXPECT_THROW(co_await redis->command("PING"), RedisError);
    });
}

// A Client dropped with commands in flight: each fails, none is left
// waiting, nothing leaks (ASan checks the last part).
TEST_F(RedisTest, DroppingAClientFailsItsCommandsInFlight) {
    auto redis = connect();
    Future<Reply> pending = redis->command("BLPOP", "never", "5");  // blocks for 5 s
    redis.reset();
    run([&]() -> Task<void> {
        EXPECT_THROW(co_await pending, RedisError);
    });
}

}  // namespace
}  // namespace tornado::redis
