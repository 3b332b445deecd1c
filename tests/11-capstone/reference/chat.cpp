// chat.cpp: the message buffer, the page, and the three handlers. See chat.h.
#include "chat.h"

#include <cstddef>
#include <string>
#include <utility>

#include <coroutine_handler.h>  // <> as the chapters write it (see chat.h)
#include <task.h>
#include "escape.h"

namespace chat {

namespace {

using course::HTTPError;
using course::PathArgs;
using course::Task;

// --- a message as the client sees it ---------------------------------------

// Escaped, because the text is a stranger's: "<script>" in a message must
// show as text in every reader's browser, never run there.
std::string message_html(const std::string& id, std::string_view body) {
    return "<div class=\"message\" id=\"m" + id + "\">" + course::xhtml_escape(body) + "</div>";
}

std::string message_json(const Message& message) {
    return "{\"id\": " + course::json_encode(message.id) +
           ", \"body\": " + course::json_encode(message.body) +
           ", \"html\": " + course::json_encode(message.html) + "}";
}

std::string updates_json(const std::vector<Message>& messages) {
    std::string json = "{\"messages\": [";
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i > 0) json += ", ";
        json += message_json(messages[i]);
    }
    return json + "]}";
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF)? JSON text must be, and a message that is not would
// spoil the updates of every client that reads it.
bool is_valid_utf8(std::string_view text) {
    static constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by length
    std::size_t i = 0;
    while (i < text.size()) {
        auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
        unsigned char lead = byte(i);
        std::size_t length = lead < 0x80          ? 1
                             : (lead >> 5) == 0x6  ? 2
                             : (lead >> 4) == 0xE  ? 3
                             : (lead >> 3) == 0x1E ? 4
                                                   : 0;
        if (length == 0 || i + length > text.size()) return false;
        char32_t code = length == 1 ? lead : lead & (0x7F >> length);
        for (std::size_t k = 1; k < length; ++k) {
            if ((byte(i + k) & 0xC0) != 0x80) return false;  // not a continuation byte
            code = (code << 6) | (byte(i + k) & 0x3F);
        }
        if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            return false;
        }
        i += length;
    }
    return true;
}

// An id another server made (part 5): it goes into an HTML attribute and
// ends at the first space of what Redis carries, so only these bytes.
bool is_message_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        if (!letter && !digit && c != '-' && c != '_') return false;
    }
    return true;
}

// The form field `body` as the specification wants it, or the 4xx that
// says what is wrong with it. get_argument has already decoded the form
// and stripped the surrounding whitespace.
void check_message_body(std::string_view body) {
    if (body.empty()) throw HTTPError(400, "", "the message (form field body) is missing or empty");
    if (body.size() > kMaxMessageBytes) throw HTTPError(413, "", "the message is over 4096 bytes");
    if (!is_valid_utf8(body)) throw HTTPError(400, "", "the message is not valid UTF-8");
}

// --- the page ----------------------------------------------------------------

// The script is the browser's half of the long poll: ask for the messages
// after the last one shown, show them, ask again. The page works without
// it too (the form posts, the next reload shows the message).
constexpr std::string_view kPageTop = R"(<!DOCTYPE html>
<html>
<head><meta charset="UTF-8"><title>Chat</title></head>
<body>
<div id="inbox">
)";
constexpr std::string_view kPageBottom = R"(</div>
<form action="/a/message/new" method="post" id="messageform">
<input type="text" name="body" id="message" autocomplete="off" autofocus>
<input type="submit" value="Post">
</form>
<script>
const inbox = document.getElementById("inbox");
const form = document.getElementById("messageform");
function lastId() {
  const last = inbox.lastElementChild;
  return last ? last.id.slice(1) : "";  // id="m7" is message 7
}
async function poll() {
  for (;;) {
    try {
      const reply = await fetch("/a/message/updates",
                                {method: "POST", body: new URLSearchParams({cursor: lastId()})});
      if (!reply.ok) throw new Error(reply.status);
      for (const message of (await reply.json()).messages) {
        inbox.insertAdjacentHTML("beforeend", message.html);
      }
    } catch (error) {
      await new Promise(resume => setTimeout(resume, 1000));  // try again in a second
    }
  }
}
form.addEventListener("submit", async event => {
  event.preventDefault();  // the poll shows the message; the page stays
  await fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))});
  form.reset();
});
poll();
</script>
</body>
</html>
)";

std::string render_page(const std::deque<Message>& messages) {
    std::string page(kPageTop);
    for (const Message& message : messages) page += message.html + "\n";
    return page + std::string(kPageBottom);
}

// --- the handlers --------------------------------------------------------------

// GET /
class MainHandler : public course::RequestHandler {
public:
    void initialize(MessageBuffer* buffer) { buffer_ = buffer; }
    void get(const PathArgs&) override { write(render_page(buffer_->messages())); }

private:
    MessageBuffer* buffer_ = nullptr;
};

// POST /a/message/new, body=TEXT
class MessageNewHandler : public course::RequestHandler {
public:
    void initialize(MessageBuffer* buffer) { buffer_ = buffer; }
    void post(const PathArgs&) override {
        std::string body = get_argument("body", "");
        check_message_body(body);
        write_json(message_json(buffer_->add(std::move(body))));
    }

private:
    MessageBuffer* buffer_ = nullptr;
};

// POST /a/message/updates, cursor=ID: the long poll, as Tornado's
// MessageUpdatesHandler writes it: a coroutine that awaits the next
// message as long as there is nothing new for its cursor.
class MessageUpdatesHandler : public course::CoroutineRequestHandler {
public:
    void initialize(MessageBuffer* buffer) { buffer_ = buffer; }

    Task<void> post_async(PathArgs) override {
        std::string cursor = get_argument("cursor", "");
        std::vector<Message> messages = buffer_->messages_since(cursor);
        while (messages.empty()) {
            co_await buffer_->wait_for_next(request().connection);
            // Woken for a client that has gone: nobody is left to answer.
            if (request().connection->closed()) co_return;
            messages = buffer_->messages_since(cursor);
        }
        write_json(updates_json(messages));
    }

private:
    MessageBuffer* buffer_ = nullptr;
};

}  // namespace

// --- MessageBuffer -----------------------------------------------------------

const Message& MessageBuffer::add(std::string body) {
    std::string id = id_prefix_ + std::to_string(++last_id_);
    std::string html = message_html(id, body);
    keep(Message{std::move(id), std::move(body), std::move(html)});
    if (relay_) relay_(messages_.back());
    return messages_.back();
}

bool MessageBuffer::add_relayed(std::string id, std::string body) {
    if (!is_message_id(id) || body.empty() || body.size() > kMaxMessageBytes ||
        !is_valid_utf8(body)) {
        return false;
    }
    for (const Message& kept : messages_) {
        if (kept.id == id) return false;
    }
    std::string html = message_html(id, body);
    keep(Message{std::move(id), std::move(body), std::move(html)});
    return true;
}

void MessageBuffer::keep(Message message) {
    messages_.push_back(std::move(message));
    if (messages_.size() > kMessagesKept) messages_.pop_front();
    // Every waiter wakes (Tornado's Condition.notify_all); each then asks
    // for the messages after its own cursor. The list starts empty again.
    for (Waiter& waiter : std::exchange(waiters_, {})) waiter.next_message.set_result();
}

std::vector<Message> MessageBuffer::messages_since(std::string_view cursor) const {
    std::size_t first_new = 0;  // no kept message has that id: all of them are new
    for (std::size_t i = 0; i < messages_.size(); ++i) {
        if (messages_[i].id == cursor) first_new = i + 1;
    }
    return {messages_.begin() + static_cast<std::ptrdiff_t>(first_new), messages_.end()};
}

course::Future<void> MessageBuffer::wait_for_next(
    std::shared_ptr<course::HTTPConnection> connection) {
    forget_departed_waiters();
    if (waiters_.size() >= max_waiters_) {
        throw HTTPError(503, "", "too many clients are waiting; try again later");
    }
    course::Future<void> next_message;
    waiters_.push_back(Waiter{next_message, std::move(connection)});
    return next_message;
}

// A client that leaves while it waits must not keep its place. Chapter 05
// reads nothing while a request is open, so the stack sees a reset at once
// (the stream closes) but an orderly close only at the next message: the
// reset is what can be forgotten early. Its handler is woken so that it
// ends (it sees the closed connection) and the Application lets it go.
void MessageBuffer::forget_departed_waiters() {
    auto departed = [](const Waiter& waiter) { return waiter.connection->closed(); };
    for (Waiter& waiter : waiters_) {
        if (departed(waiter)) waiter.next_message.set_result();
    }
    std::erase_if(waiters_, departed);
}

std::vector<course::URLSpec> routes(MessageBuffer& buffer) {
    return {
        {"/", course::handler<MainHandler>(&buffer)},
        {"/a/message/new", course::handler<MessageNewHandler>(&buffer)},
        {"/a/message/updates", course::handler<MessageUpdatesHandler>(&buffer)},
    };
}

}  // namespace chat
