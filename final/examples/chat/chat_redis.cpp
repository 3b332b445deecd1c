// chat_redis.cpp: see chat_redis.h.
#include "chat_redis.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tornado/log.h"
#include "tornado/redis.h"

namespace chat {
namespace {

using tornado::redis::Client;
using tornado::redis::RedisError;
using tornado::redis::Subscription;

// Publishes each posted message. One that cannot be published (the
// connection just went) is kept here rather than lost.
MessageBuffer::Relay publisher(std::shared_ptr<Client> redis, std::string channel,
                               std::shared_ptr<MessageBuffer> buffer) {
    return [redis = std::move(redis), channel = std::move(channel),
            buffer = std::move(buffer)](const Message& message) {
        tornado::Future<tornado::redis::Reply> sent =
            redis->command({"PUBLISH", channel, message.dump()});
        sent.add_done_callback([buffer, message](tornado::Future<tornado::redis::Reply> done) {
            try {
                done.result();
            } catch (const RedisError& error) {
                tornado::app_log.warning("chat: not relayed through Redis ({}); kept here",
                                         error.what());
                buffer->add_message(message);
            }
        });
    };
}

// A message from the channel, or nothing (logged) if it is not one of ours:
// anyone who can reach Redis can publish there.
std::optional<Message> parse_message(const std::string& payload) {
    try {
        Message message = Message::parse(payload);
        if (message.is_object() && message.contains("id") && message.contains("html")) {
            return message;
        }
    } catch (const nlohmann::json::exception&) {}
    tornado::app_log.warning("chat: ignored a Redis message that is not a chat message ({} bytes)",
                             payload.size());
    return std::nullopt;
}

// Takes the relay out of the buffer however the relay ends (an error, or
// the loop closing), so that the buffer never keeps a dead connection.
struct RelayReset {
    MessageBuffer& buffer;
    ~RelayReset() { buffer.set_relay({}); }
};

}  // namespace

tornado::Task<void> relay_through_redis(std::shared_ptr<MessageBuffer> buffer, std::string host,
                                        std::uint16_t port, std::string channel) {
    const std::string where = host + ":" + std::to_string(port);
    for (;;) {
        try {
            RelayReset reset{*buffer};
            // Subscribed before the first message is published, so that this
            // process sees its own messages too.
            std::vector<std::string> channels{channel};
            auto inbox = co_await Subscription::subscribe(host, port, std::move(channels));
            auto redis = co_await Client::connect(host, port);
            buffer->set_relay(publisher(std::move(redis), channel, buffer));
            tornado::app_log.info("chat: messages go through Redis at {}, channel '{}'", where,
                                  channel);
            for (;;) {
                tornado::redis::Message received = co_await inbox->next();
                if (auto message = parse_message(received.payload)) {
                    buffer->add_message(std::move(*message));
                }
            }
        } catch (const RedisError& error) {
            tornado::app_log.warning("chat: {}; messages stay in this process, retrying in 1 s",
                                     error.what());
        }
        co_await tornado::sleep(std::chrono::seconds(1));
    }
}

}  // namespace chat
