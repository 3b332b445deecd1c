// chat.h: Tornado's chat demo (demos/chat) as handlers any Application can
// route to: the chat example serves them alone, the demo app beside its
// other routes.
//
//   POST /chat/new       body=TEXT            -> the new message as JSON
//   POST /chat/updates   cursor=ID (or none)  -> {"messages": [...]} newer than
//                                               ID, waiting until there are some
//   WS   /chat/ws        {"body": TEXT} in    -> every new message's JSON out
//
// The two transports share one room: a message posted on either reaches the
// long pollers and every WebSocket client. (The page, /chat, speaks long
// polling, or WebSocket with /chat?transport=websocket.)
//
// One room per process, unless a relay joins them: with several processes
// (demo_app --processes, or backends behind nginx) each has its own
// MessageBuffer, and relay_through_redis() (chat_redis.h) makes a message
// posted to any of them reach every one, through Redis pub/sub.
//
// Templates, as in Tornado's demo: GET /chat renders templates/index.html,
// which puts every kept message into the page with {% module
// Template("message.html", ...) %}; a new message's "html" is message.html
// rendered too, so the page and the transports show the same markup.
//
// Long polling: an updates request that finds nothing new does not answer;
// its coroutine waits on the MessageBuffer until someone posts, then
// answers with what came. While it waits it holds no thread and no loop
// turn: only its coroutine frame and a Future in the buffer's Condition.
// A client whose connection is reset cancels its wait (on_connection_close;
// a bare FIN is noticed at the next message: see tornado/web.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/escape.h"
#include "tornado/locks.h"
#include "tornado/template.h"
#include "tornado/web.h"

namespace chat {

// {"id": "...", "body": "...", "html": "<div class=\"message\" ...>...</div>"}
using Message = nlohmann::ordered_json;

// The last messages, and the requests waiting for the next one (Tornado's
// MessageBuffer).
class MessageBuffer {
public:
    explicit MessageBuffer(std::size_t cache_size = 200) : cache_size_(cache_size) {}

    // The messages after the one whose id is `cursor`, oldest first; all of
    // them for an empty or unknown cursor.
    std::vector<Message> get_messages_since(std::string_view cursor) const;
    // Every kept message, oldest first (Tornado's MessageBuffer.cache): what
    // GET /chat renders into the page.
    const std::deque<Message>& messages() const noexcept { return cache_; }
    // Where the handlers send a new message: to the relay when one is set
    // (which brings it back to add_message, here and in every other
    // process), else straight to add_message.
    void post(Message message);
    // Keeps `message`, wakes every waiter and tells every listener.
    void add_message(Message message);
    // Sends posted messages through `relay` from now on; an empty one: keep
    // them here again (the relay is gone).
    using Relay = std::function<void(const Message&)>;
    void set_relay(Relay relay) { relay_ = std::move(relay); }
    // Resolves at the next add_message (cancel it to stop waiting).
    tornado::Future<bool> wait() { return cond_.wait(); }

    // Calls `listener` with every message added from now on (a WebSocket
    // client), until unsubscribe() with the number it returns.
    using Listener = std::function<void(const Message&)>;
    std::uint64_t subscribe(Listener listener);
    void unsubscribe(std::uint64_t subscription);

private:
    std::size_t cache_size_;
    std::deque<Message> cache_;
    tornado::Condition cond_;
    std::map<std::uint64_t, Listener> listeners_;
    std::uint64_t next_subscription_ = 1;
    Relay relay_;
};

// A new message: a random id (a UUID, as Tornado's demo), the body, and
// "html": `templates`' message.html rendered for it, the body escaped by
// autoescape.
Message make_message(std::string_view body, const tornado::BaseLoader& templates);

// The routes: /chat (the page, templates/index.html rendered from
// `template_dir`), /chat/new, /chat/updates, /chat/ws and the page's files
// under /chat/static/, from `static_dir`.
std::vector<tornado::URLSpec> chat_routes(std::shared_ptr<MessageBuffer> buffer,
                                          std::string static_dir, std::string template_dir);

// Where the chat's files are in the source tree (set by CMake):
// final/examples/chat/static (the script and the style sheet) and
// final/examples/chat/templates (index.html and message.html).
std::string default_static_dir();
std::string default_template_dir();

}  // namespace chat
