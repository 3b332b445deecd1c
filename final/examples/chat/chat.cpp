// chat.cpp: see chat.h.
#include "chat.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>

#include "tornado/websocket.h"

namespace chat {

std::vector<Message> MessageBuffer::get_messages_since(std::string_view cursor) const {
    // From the newest back to the cursor's message: a waiter's cursor is
    // usually the newest but one.
    auto cursor_message = std::find_if(cache_.rbegin(), cache_.rend(), [&](const Message& message) {
        return message["id"] == cursor;
    });
    return {cursor_message.base(), cache_.end()};
}

void MessageBuffer::post(Message message) {
    if (relay_) {
        relay_(message);
    } else {
        add_message(std::move(message));
    }
}

void MessageBuffer::add_message(Message message) {
    cache_.push_back(std::move(message));
    while (cache_.size() > cache_size_) cache_.pop_front();
    cond_.notify_all();
    // A listener may unsubscribe (its socket closing) while we go through
    // them: go through a copy of the numbers.
    std::vector<std::uint64_t> subscriptions;
    for (const auto& [subscription, listener] : listeners_) subscriptions.push_back(subscription);
    for (std::uint64_t subscription : subscriptions) {
        auto found = listeners_.find(subscription);
        if (found != listeners_.end()) found->second(cache_.back());
    }
}

std::uint64_t MessageBuffer::subscribe(Listener listener) {
    listeners_.emplace(next_subscription_, std::move(listener));
    return next_subscription_++;
}

void MessageBuffer::unsubscribe(std::uint64_t subscription) { listeners_.erase(subscription); }

namespace {

std::string uuid4() {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    std::uint64_t high = random();
    std::uint64_t low = random();
    high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
    low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    // variant 1
    char text[37];
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(high >> 32), static_cast<unsigned>((high >> 16) & 0xffff),
                  static_cast<unsigned>(high & 0xffff), static_cast<unsigned>(low >> 48),
                  static_cast<unsigned long long>(low & 0xffffffffffffULL));
    return text;
}

// The loader over the chat's templates folder that chat_routes() makes once
// and the handlers that make messages share.
using SharedLoader = std::shared_ptr<const tornado::Loader>;

// GET /chat: index.html rendered with the kept messages, as Tornado's
// demo does (`self.render("index.html", messages=...cache)`). A page opened
// late thus shows what was said before, and its script polls from there.
class MainHandler : public tornado::RequestHandler {
public:
    void initialize(std::shared_ptr<MessageBuffer> buffer, std::string template_dir) {
        buffer_ = std::move(buffer);
        template_dir_ = std::move(template_dir);
    }

    void get(const tornado::PathArgs&) override {
        // Templates take tornado::JSON; each Message converts to it.
        tornado::JSON messages = tornado::JSON::array();
        for (const Message& message : buffer_->messages()) {
            messages.push_back(tornado::JSON(message));
        }
        render("index.html", {{"messages", messages}});
    }

    // The chat's own templates folder, whatever the Application's
    // template_path setting (the demo app's points at its own templates).
    // {% module Template("message.html") %} is found here too.
    std::string get_template_path() const override { return template_dir_; }

private:
    std::shared_ptr<MessageBuffer> buffer_;
    std::string template_dir_;
};

// POST /chat/new
class MessageNewHandler : public tornado::RequestHandler {
public:
    void initialize(std::shared_ptr<MessageBuffer> buffer, SharedLoader templates) {
        buffer_ = std::move(buffer);
        templates_ = std::move(templates);
    }

    void post(const tornado::PathArgs&) override {
        Message message = make_message(get_argument("body", /*strip=*/false), *templates_);
        std::string next = get_argument("next", "");
        if (!next.empty()) {
            redirect(next);
        } else {
            write(message);
        }
        buffer_->post(std::move(message));
    }

private:
    std::shared_ptr<MessageBuffer> buffer_;
    SharedLoader templates_;
};

// POST /chat/updates: the long poll.
class MessageUpdatesHandler : public tornado::RequestHandler {
public:
    void initialize(std::shared_ptr<MessageBuffer> buffer) { buffer_ = std::move(buffer); }

    tornado::Task<void> post_async(tornado::PathArgs) override {
        std::string cursor = get_argument("cursor", "");
        std::vector<Message> messages = buffer_->get_messages_since(cursor);
        while (messages.empty()) {
            wait_ = buffer_->wait();
            try {
                co_await wait_;
            } catch (const tornado::CancelledError&) {
                co_return;  // the browser left
            }
            messages = buffer_->get_messages_since(cursor);
        }
        Message answer;
        answer["messages"] = std::move(messages);
        write(answer);
    }

    void on_connection_close() override {
        if (wait_.valid()) wait_.cancel();
    }

private:
    std::shared_ptr<MessageBuffer> buffer_;
    tornado::Future<bool> wait_{nullptr};
};

// WS /chat/ws: the same room over a WebSocket. A client sends
// {"body": TEXT}; every message added, from any client of either
// transport, goes out to it as its JSON.
class ChatSocketHandler : public tornado::WebSocketHandler {
public:
    void initialize(std::shared_ptr<MessageBuffer> buffer, SharedLoader templates) {
        buffer_ = std::move(buffer);
        templates_ = std::move(templates);
    }

    void open(const tornado::PathArgs&) override {
        // `this` is safe in the listener: on_close unsubscribes it, and the
        // framework holds the handler until on_close has run.
        subscription_ = buffer_->subscribe([this](const Message& message) { send(message); });
    }

    void on_message(std::string text, bool binary) override {
        if (binary) {
            close(tornado::websocket_protocol::kUnsupportedData, "chat messages are text");
            return;
        }
        std::optional<std::string> body = body_of(text);
        if (!body) {
            close(tornado::websocket_protocol::kInvalidPayload,
                  "a chat message is {\"body\": text}");
            return;
        }
        buffer_->post(make_message(*body, *templates_));
    }

    void on_close() override { buffer_->unsubscribe(subscription_); }

private:
    static std::optional<std::string> body_of(const std::string& text) {
        try {
            tornado::JSON message = tornado::json_decode(text);
            if (message.is_object() && message.contains("body") && message["body"].is_string()) {
                return message["body"].get<std::string>();
            }
        } catch (const tornado::JSONDecodeError&) {}
        return std::nullopt;
    }

    void send(const Message& message) {
        if (!is_open()) return;  // closing: it misses what comes after
        write_message(message);
    }

    std::shared_ptr<MessageBuffer> buffer_;
    SharedLoader templates_;
    std::uint64_t subscription_ = 0;
};

}  // namespace

// Tornado's demo renders each message with templates/message.html; the
// body is escaped by the template's autoescape, not by hand. message.html
// ends without a newline: in a file, one would become part of every
// message's "html" (whitespace mode "single" keeps a newline).
Message make_message(std::string_view body, const tornado::BaseLoader& templates) {
    Message message;
    message["id"] = uuid4();
    message["body"] = std::string(body);
    message["html"] = templates.load("message.html")->generate({{"message", message}});
    return message;
}

std::vector<tornado::URLSpec> chat_routes(std::shared_ptr<MessageBuffer> buffer,
                                          std::string static_dir, std::string template_dir) {
    // One loader, shared by the handlers that make messages: message.html
    // is read and parsed once, then kept (so a changed file shows after a
    // restart, even in debug mode, where GET /chat, rendered through the
    // Application's own loader, rereads it). The handlers run on the loop's
    // thread only, like the buffer; a Loader's cache has a mutex anyway.
    auto templates = std::make_shared<const tornado::Loader>(template_dir);
    return {
        {"/chat", tornado::handler<MainHandler>(buffer, template_dir)},
        {"/chat/new", tornado::handler<MessageNewHandler>(buffer, templates)},
        {"/chat/updates", tornado::handler<MessageUpdatesHandler>(buffer)},
        {"/chat/ws", tornado::handler<ChatSocketHandler>(buffer, templates)},
        {"/chat/static/(.*)", tornado::handler<tornado::StaticFileHandler>(static_dir)},
    };
}

std::string default_static_dir() { return CHAT_STATIC_DIR; }
std::string default_template_dir() { return CHAT_TEMPLATE_DIR; }

}  // namespace chat
