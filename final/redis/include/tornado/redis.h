// tornado/redis.h: an asynchronous Redis client on the IOLoop. An add-on
// beside the framework, not a Tornado module: Tornado has no Redis client,
// but its users reach for Redis as soon as one process is not enough, for
// what every process must see (sessions, a chat's messages). It lives in
// final/redis/, in its own library (tornado::redis), so that the framework
// itself needs no hiredis.
//
//   tornado::Task<void> example() {
//       auto redis = co_await tornado::redis::Client::connect("127.0.0.1", 6379);
//       co_await redis->set("greeting", "hello");
//       std::optional<std::string> value = co_await redis->get("greeting");
//       tornado::redis::Reply reply = co_await redis->command("INCR", "visits");
//
//       auto inbox = co_await tornado::redis::Subscription::subscribe("127.0.0.1", 6379,
//                                                                     {"chat"});
//       co_await redis->publish("chat", "hi");          // from any process
//       tornado::redis::Message message = co_await inbox->next();   // "chat", "hi"
//   }
//
// The protocol is hiredis's (Debian's libhiredis-dev): it writes the
// commands, parses the replies and keeps the queue of callbacks that match
// them. What this file adds is the adapter that lets hiredis run on our loop
// (hiredis asks "watch this socket for reading / writing" and the loop calls
// it back when the socket is ready: the same add_handler / update_handler an
// IOStream uses) and Futures instead of C callbacks, so that a coroutine
// co_awaits a reply.
//
// A connection in subscribe mode can only (un)subscribe, so subscribing makes
// a connection of its own: a Subscription. Messages that arrive while nobody
// waits in next() are kept, in order.
//
// Errors: an error reply ("ERR unknown command") is a RedisError from the
// co_await of that command; a connection that fails or is lost is a
// RedisError from every command waiting on it and from each later one.
// Threads: everything on the loop's thread, as the rest of the framework.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/gen.h"

struct redisAsyncContext;
struct redisReply;

namespace tornado::redis {

// An error reply from the server, or a connection that failed or was lost.
class RedisError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One reply, of Redis's types (RESP2). An error reply never becomes a
// Reply: it is thrown as a RedisError.
struct Reply {
    // nil: no value (GET of a missing key); integer; string: a bulk
    // string (binary-safe); status: a status reply ("OK"); array.
    enum class Type { nil, integer, string, status, array };
    Type type = Type::nil;
    // Type::integer's value (0 for the other types).
    long long integer = 0;
    // Type::string's and Type::status's bytes ("" for the other types).
    std::string string;
    // Type::array's replies, in order (empty for the other types).
    std::vector<Reply> elements;

    bool is_nil() const noexcept { return type == Type::nil; }
};

namespace detail {
struct Connection;
}

// A connection for commands. Made by connect(); closed when the last
// shared_ptr goes (commands still waiting then fail with RedisError).
class Client {
public:
    // Connects to a numeric address ("127.0.0.1", "::1") and port. A name
    // would be resolved by hiredis with a blocking getaddrinfo: refused
    // (std::invalid_argument) rather than allowed to stall the loop.
    static Task<std::shared_ptr<Client>> connect(std::string host, std::uint16_t port);

    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Any command, each argument sent as it is (binary-safe):
    // command("SET", key, value), or command(arguments) with a vector.
    // (Inside a coroutine g++ 12 cannot build a braced list of string
    // literals, command({"SET", ...}): the first form is the one to use.)
    Future<Reply> command(std::vector<std::string> arguments);
    template <typename... Arguments>
    Future<Reply> command(std::string_view name, const Arguments&... arguments) {
        return command(std::vector<std::string>{std::string(name),
                                                std::string(std::string_view(arguments))...});
    }

    // The commands used most, with their replies in C++ types.
    Task<void> set(std::string key, std::string value);
    // GET: the value, or nothing for a missing key.
    Task<std::optional<std::string>> get(std::string key);
    // The number of subscribers (of every process) that received it.
    Task<long long> publish(std::string channel, std::string message);

    // Whether the connection is gone (closed, or lost).
    bool closed() const noexcept;

private:
    explicit Client(std::unique_ptr<detail::Connection> connection);
    std::unique_ptr<detail::Connection> connection_;
};

// A message published on a channel this Subscription listens to.
struct Message {
    std::string channel;
    std::string payload;
};

// A connection in subscribe mode.
class Subscription {
public:
    // Connects and subscribes to `channels`; done once the server has
    // confirmed every one, so that nothing published afterwards is missed.
    static Task<std::unique_ptr<Subscription>> subscribe(std::string host, std::uint16_t port,
                                                         std::vector<std::string> channels);

    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    // The next message, oldest first. A RedisError once the connection is
    // lost and every message that came before has been taken. One waiter at
    // a time: next() again before the last one is done is a
    // std::logic_error. A waiter that gives up cancels its Future
    // (with_timeout does not): the message it would have had is kept.
    Future<Message> next();

    // Whether the connection is gone (closed, or lost). Messages that came
    // before still wait for next().
    bool closed() const noexcept;

private:
    struct Inbox;
    Subscription(std::unique_ptr<detail::Connection> connection, std::unique_ptr<Inbox> inbox);
    static void on_reply(redisAsyncContext* context, void* reply, void* inbox);

    std::unique_ptr<Inbox> inbox_;  // before connection_: freeing the
                                    // connection calls on_reply, which needs it
    std::unique_ptr<detail::Connection> connection_;
};

}  // namespace tornado::redis
