// redis_relay.h: part 5 of the capstone, the extension: several chat
// servers made one chat room through Redis publish/subscribe, spoken in
// RESP on chapter 07's FutureStream (chapter 04's IOStream beneath).
//
//   process A ── PUBLISH chat "ID BODY" ──►  Redis  ── message ──► process B
//             ◄────────── message ──────────        ◄── PUBLISH ──
//
// Each server keeps its own MessageBuffer, whose waiters are its own
// clients. A message posted to one server is kept there (its poster's
// waiters wake at once) and published on the channel "chat" as its id, a
// space and its body. Every server subscribes to that channel and keeps
// each message it hears with the id it came with: the other servers'
// messages, and its own, which come back and are known by their id
// (MessageBuffer::add_relayed keeps each id once). The ids of a server
// start with a random tag of its own, so that two servers never make the
// same id. The specification is exercises/11-capstone/README.md, "Part 5".
//
// Two connections: a connection that has subscribed can only (un)subscribe,
// so publishing takes one of its own. If Redis cannot be reached, or the
// connection is lost, the server says so on stderr and goes on alone: the
// messages posted to it stay its own (no retry: a real deployment would).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "chat.h"

namespace chat {

// The channel every server publishes on and listens to.
constexpr std::string_view kRedisChannel = "chat";

// Gives `buffer` an id prefix of its own and starts relaying, on
// IOLoop::current(), through the Redis server at host:port (an IPv4
// address or localhost). Returns at once; the connections are made by the
// loop. `buffer` must outlive the loop's run.
void relay_through_redis(MessageBuffer& buffer, const std::string& host, std::uint16_t port);

}  // namespace chat
