// redis_relay.cpp: see redis_relay.h. RESP, the Redis protocol, as much as
// publish/subscribe needs (https://redis.io/docs/reference/protocol-spec/):
//
//   a command, client to server:   *3\r\n$7\r\nPUBLISH\r\n$4\r\nchat\r\n$6\r\n12 hi!\r\n
//                                  an array of bulk strings: $LENGTH, the bytes, \r\n
//   replies, server to client:     +OK\r\n   -ERR what\r\n   :2\r\n   $5\r\nhello\r\n
//                                  *3\r\n ... (an array: that many replies follow)
//   a message, to a subscriber:    *3\r\n$7\r\nmessage\r\n$4\r\nchat\r\n$6\r\n12 hi!\r\n
//
// A line is read with read_until("\r\n"); a bulk string by its length with
// read_bytes(LENGTH + 2), never by line: its bytes may hold "\r\n".
#include "redis_relay.h"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <gen.h>  // <> as the chapters write it (see chat.h)
#include <task.h>
#include "future_stream.h"

namespace chat {

namespace {

using course::FutureStream;
using course::Task;

// What a reply may be, at most: a message's payload is an id and at most
// 4,096 bytes, so a megabyte is a broken (or hostile) peer, not a message.
constexpr std::size_t kMaxLine = 1024;
constexpr long long kMaxBulkBytes = 1024 * 1024;
constexpr long long kMaxArrayLength = 64;

// Something the server sent that is not RESP, or not what we asked for.
class RedisError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One reply. An array's elements are replies too.
struct Reply {
    char type = '+';           // '+' status, '-' error, ':' integer, '$' bulk string, '*' array
    std::string text;          // a status's, error's or integer's text; a bulk string's bytes
    bool nil = false;          // $-1 or *-1: no value
    std::vector<Reply> elements;

    // An array of bulk strings whose first is `kind`: ["message", channel, payload].
    bool is(std::string_view kind) const {
        return type == '*' && !elements.empty() && elements[0].type == '$' &&
               elements[0].text == kind;
    }
};

// A command as RESP: an array of bulk strings. (Variadic rather than an
// initializer_list: g++ 12 cannot build a braced list of string literals
// inside a coroutine.)
template <typename... Words>
std::string command(const Words&... words) {
    std::string resp = "*" + std::to_string(sizeof...(words)) + "\r\n";
    for (std::string_view word : {std::string_view(words)...}) {
        resp += "$" + std::to_string(word.size()) + "\r\n";
        resp += word;
        resp += "\r\n";
    }
    return resp;
}

long long parse_length(std::string_view digits) {
    long long length = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (error != std::errc() || end != digits.data() + digits.size() || length < -1) {
        throw RedisError("not a RESP length: \"" + std::string(digits) + "\"");
    }
    return length;
}

// The next reply on `redis`. A parameter by value: the frame keeps the
// stream's handle (chapter 08, "take coroutine parameters by value").
Task<Reply> read_reply(FutureStream redis) {
    std::string line = co_await redis.read_until("\r\n", kMaxLine);
    line.resize(line.size() - 2);  // the \r\n
    if (line.empty()) throw RedisError("an empty RESP line");
    Reply reply;
    reply.type = line[0];
    reply.text = line.substr(1);
    switch (reply.type) {
        case '+':
        case '-':
        case ':':
            break;
        case '$': {
            long long length = parse_length(reply.text);
            reply.text.clear();
            if (length == -1) {
                reply.nil = true;
                break;
            }
            if (length > kMaxBulkBytes) {
                throw RedisError("a bulk string of " + std::to_string(length) + " bytes");
            }
            std::string bytes = co_await redis.read_bytes(static_cast<std::size_t>(length) + 2);
            if (!bytes.ends_with("\r\n")) throw RedisError("a bulk string without its \\r\\n");
            bytes.resize(bytes.size() - 2);
            reply.text = std::move(bytes);
            break;
        }
        case '*': {
            long long length = parse_length(reply.text);
            reply.text.clear();
            reply.nil = length == -1;
            if (length > kMaxArrayLength) {
                throw RedisError("an array of " + std::to_string(length) + " replies");
            }
            for (long long i = 0; i < length; ++i) {
                reply.elements.push_back(co_await read_reply(redis));
            }
            break;
        }
        default:
            throw RedisError("not a RESP reply: \"" + line.substr(0, 40) + "\"");
    }
    co_return reply;
}

void report(const std::string& what) { std::fprintf(stderr, "capstone: %s\n", what.c_str()); }

// Keeps each message the channel brings: ["message", "chat", "ID BODY"].
// Returns when the connection fails or closes (it throws).
Task<void> listen(MessageBuffer& buffer, FutureStream subscriber) {
    for (;;) {
        Reply reply = co_await read_reply(subscriber);
        if (reply.type == '-') throw RedisError("Redis says: " + reply.text);
        if (!reply.is("message") || reply.elements.size() != 3) continue;  // not a message
        const std::string& payload = reply.elements[2].text;
        std::size_t space = payload.find(' ');
        if (space == std::string::npos) continue;  // not "ID BODY"
        // Ignored (false) when it is not a message, or one kept already: most
        // often our own, back from Redis. Anyone who reaches Redis may publish.
        buffer.add_relayed(payload.substr(0, space), payload.substr(space + 1));
    }
}

// PUBLISH answers with the number of subscribers that got the message;
// an error reply means the message went nowhere. Runs until the
// connection ends, then closes the subscriber too, so that listen() ends.
Task<void> read_publish_replies(FutureStream publisher, FutureStream subscriber) {
    try {
        for (;;) {
            Reply reply = co_await read_reply(publisher);
            if (reply.type == '-') report("Redis refused to publish a message: " + reply.text);
        }
    } catch (const std::exception& error) {
        report(std::string("the connection to Redis that publishes ended: ") + error.what());
    }
    subscriber.close();
}

// A random tag, for ids no other server makes: "3f9a1c07-".
std::string random_id_prefix() {
    std::random_device random;
    std::uniform_int_distribution<std::uint32_t> bits;
    char tag[16];
    std::snprintf(tag, sizeof tag, "%08x-", static_cast<unsigned>(bits(random)));
    return tag;
}

Task<void> relay(MessageBuffer& buffer, std::string host, std::uint16_t port) {
    const std::string where = host + ":" + std::to_string(port);
    std::optional<FutureStream> subscriber, publisher;  // closed when the relay ends
    try {
        // Subscribed first, so that nothing published from now on is missed.
        subscriber = co_await FutureStream::connect(host, port);
        co_await subscriber->write(command("SUBSCRIBE", kRedisChannel));
        Reply confirmed = co_await read_reply(*subscriber);  // ["subscribe", "chat", 1]
        if (!confirmed.is("subscribe")) throw RedisError("SUBSCRIBE was not confirmed");
        publisher = co_await FutureStream::connect(host, port);
        buffer.set_relay([redis = *publisher](const Message& message) {
            // Not awaited: IOStream sends it in order, and the replies are
            // read by read_publish_replies. A write to a closed stream
            // fails its Future, which nobody needs to see.
            redis.write(command("PUBLISH", kRedisChannel, message.id + " " + message.body));
        });
        course::fire_and_forget(read_publish_replies(*publisher, *subscriber));
        report("messages are shared through Redis at " + where + ", channel " +
               std::string(kRedisChannel));
        co_await listen(buffer, *subscriber);
    } catch (const std::exception& error) {
        report("Redis at " + where + ": " + error.what() + "; the messages posted here stay here");
    }
    buffer.set_relay({});
    if (subscriber) subscriber->close();
    if (publisher) publisher->close();
}

}  // namespace

void relay_through_redis(MessageBuffer& buffer, const std::string& host, std::uint16_t port) {
    buffer.set_id_prefix(random_id_prefix());
    course::fire_and_forget(relay(buffer, host, port));
}

}  // namespace chat
