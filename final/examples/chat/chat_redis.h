// chat_redis.h: the chat's rooms of several processes made one, through
// Redis pub/sub (tornado/redis.h).
//
// Each process keeps its own MessageBuffer: its long pollers and WebSocket
// clients wait on it. relay_through_redis() makes the buffer publish every
// message posted to it on a Redis channel instead of keeping it, and adds
// every message published on that channel, by this process or any other, to
// the buffer. So a message posted to one backend reaches the clients of all
// of them, in the same order everywhere (Redis delivers a channel's messages
// to every subscriber in the order they were published).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "chat.h"
#include "tornado/gen.h"

namespace chat {

// Runs until the loop stops. When Redis cannot be reached, or the connection
// is lost, it logs why, keeps messages in this process meanwhile, and tries
// again every second. `host` is a numeric address.
tornado::Task<void> relay_through_redis(std::shared_ptr<MessageBuffer> buffer, std::string host,
                                        std::uint16_t port, std::string channel = "chat");

}  // namespace chat
