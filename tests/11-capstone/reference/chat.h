// chat.h: the capstone's reference chat: Tornado's demos/chat, a chat room
// whose browsers wait for new messages with long polls, on the chapters'
// code. The specification it meets is exercises/11-capstone/README.md.
//
//   GET  /                    the page: the messages kept, and a form
//   POST /a/message/new       body=TEXT: keeps a message, answers it as JSON
//   POST /a/message/updates   cursor=ID: the messages after ID, at once if
//                             there are any, else when the next one comes
//
// One MessageBuffer holds the last 200 messages and the clients waiting
// for the next one (Tornado's MessageBuffer). Everything runs on the loop's
// thread: no locks. Part 5, the extension, shares the messages of several
// servers through Redis (redis_relay.h); the buffer's share of that is the
// relay hook, an id prefix and add_relayed().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <future.h>  // <> as the chapters write it: on the learner's stack, the learner's copy
#include "http1connection.h"
#include "web.h"

namespace chat {

// The limits of the specification ("Limits" in the README).
constexpr std::size_t kMaxMessageBytes = 4096;
constexpr std::size_t kMessagesKept = 200;  // Tornado's cache_size
constexpr std::size_t kDefaultMaxWaiters = 1000;

struct Message {
    std::string id;    // "1", "2", ...: never used twice while the server runs
    std::string body;  // the text as the client sent it
    std::string html;  // <div class="message" id="mID">the text, escaped</div>
};

class MessageBuffer {
public:
    explicit MessageBuffer(std::size_t max_waiters) : max_waiters_(max_waiters) {}

    // Keeps a new message posted here (forgetting the oldest beyond
    // kMessagesKept), wakes every waiter, and hands the message to the
    // relay, if there is one.
    const Message& add(std::string body);

    // The messages after the one whose id is `cursor`. Every message kept
    // when none has that id: a new client, or one that fell so far behind
    // that its last message has been forgotten.
    std::vector<Message> messages_since(std::string_view cursor) const;

    const std::deque<Message>& messages() const { return messages_; }

    // A Future that is done at the next message, for the client on
    // `connection`. Throws HTTPError 503 when max_waiters wait already
    // (after forgetting those whose client has gone).
    course::Future<void> wait_for_next(std::shared_ptr<course::HTTPConnection> connection);

    // Part 5 (redis_relay.h). Each id this buffer makes starts with
    // `prefix`, so that no other server makes the same one.
    void set_id_prefix(std::string prefix) { id_prefix_ = std::move(prefix); }
    // Called with each message posted here, once it is kept; {} for none.
    void set_relay(std::function<void(const Message&)> relay) { relay_ = std::move(relay); }
    // Keeps a message that another server made, with its id, and wakes
    // every waiter. Returns false, keeping nothing, for what is not a
    // message (an id that is not 1 to 64 letters, digits, '-' or '_'; a
    // body that is empty, over 4,096 bytes or not UTF-8) and for a message
    // whose id is kept already: each message once, and this server's own
    // messages come back from Redis too.
    bool add_relayed(std::string id, std::string body);

private:
    struct Waiter {
        course::Future<void> next_message;
        std::shared_ptr<course::HTTPConnection> connection;
    };

    void keep(Message message);
    void forget_departed_waiters();

    std::deque<Message> messages_;
    std::uint64_t last_id_ = 0;
    std::string id_prefix_;
    std::function<void(const Message&)> relay_;
    std::vector<Waiter> waiters_;
    std::size_t max_waiters_;
};

// The three routes, serving `buffer` (which must outlive the Application).
std::vector<course::URLSpec> routes(MessageBuffer& buffer);

}  // namespace chat
