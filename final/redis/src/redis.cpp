// redis.cpp: see tornado/redis.h.
#include "tornado/redis.h"

#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <utility>

#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado::redis {
namespace detail {

// One hiredis connection on one IOLoop: the event hooks hiredis calls to
// watch its socket, and the connect and disconnect callbacks.
//
// hiredis owns the redisAsyncContext and frees it itself when the
// connection fails or is lost; cleanup() (hiredis's last call before the
// free) is where this side forgets it, so `context` is null from then on.
struct Connection {
    IOLoop* loop = &IOLoop::current();
    redisAsyncContext* context = nullptr;
    int fd = -1;
    std::uint32_t events = 0;  // what the loop watches for now (READ, WRITE)
    bool registered = false;   // whether fd is in the loop's epoll set
    Future<void> connected;    // resolved by on_connect
    std::string error;         // why the connection is gone, once it is

    ~Connection() {
        // Commands still waiting get a null reply (their RedisError) from
        // inside redisAsyncFree, which calls cleanup() before it returns.
        if (context != nullptr) redisAsyncFree(context);
    }

    // hiredis's hooks: "watch for reading / writing" and "stop".
    static void add_read(void* self) { static_cast<Connection*>(self)->watch(IOLoop::READ, true); }
    static void del_read(void* self) { static_cast<Connection*>(self)->watch(IOLoop::READ, false); }
    static void add_write(void* self) {
        static_cast<Connection*>(self)->watch(IOLoop::WRITE, true);
    }
    static void del_write(void* self) {
        static_cast<Connection*>(self)->watch(IOLoop::WRITE, false);
    }
    static void cleanup(void* self) {
        auto* connection = static_cast<Connection*>(self);
        connection->watch(IOLoop::READ | IOLoop::WRITE, false);
        connection->context = nullptr;
    }

    void watch(std::uint32_t which, bool on) {
        events = on ? (events | which) : (events & ~which);
        if (events == 0 && registered) {
            loop->remove_handler(fd);
            registered = false;
        } else if (events != 0 && !registered) {
            loop->add_handler(
                fd, [this](int, std::uint32_t ready) { on_ready(ready); }, events);
            registered = true;
        } else if (registered) {
            loop->update_handler(fd, events);
        }
    }

    // A hang-up or an error is handed to the read side: hiredis's read then
    // fails and it tears the connection down.
    void on_ready(std::uint32_t ready) {
        if ((ready & (IOLoop::READ | IOLoop::ERROR)) != 0 && context != nullptr) {
            redisAsyncHandleRead(context);
        }
        if ((ready & IOLoop::WRITE) != 0 && context != nullptr) redisAsyncHandleWrite(context);
    }

    static void on_connect(const redisAsyncContext* context, int status) {
        auto* connection = static_cast<Connection*>(context->data);
        if (status == REDIS_OK) {
            connection->connected.set_result();
            return;
        }
        // hiredis frees the context after this callback returns.
        connection->error = std::string("cannot connect to Redis: ") + context->errstr;
        connection->connected.set_exception(std::make_exception_ptr(RedisError(connection->error)));
    }

    static void on_disconnect(const redisAsyncContext* context, int status) {
        auto* connection = static_cast<Connection*>(context->data);
        connection->error = status == REDIS_OK
                                ? "the Redis connection was closed"
                                : std::string("the Redis connection was lost: ") + context->errstr;
    }

    // Starts a non-blocking connect and resolves `connected` when it is done.
    static std::unique_ptr<Connection> open(const std::string& host, std::uint16_t port) {
        in6_addr address6{};
        in_addr address4{};
        if (inet_pton(AF_INET, host.c_str(), &address4) != 1 &&
            inet_pton(AF_INET6, host.c_str(), &address6) != 1) {
            throw std::invalid_argument("Redis host must be a numeric address, not '" + host + "'");
        }
        auto connection = std::make_unique<Connection>();
        redisAsyncContext* context = redisAsyncConnect(host.c_str(), port);
        if (context == nullptr) throw std::bad_alloc();
        if (context->err != 0) {
            std::string why = context->errstr;
            redisAsyncFree(context);
            throw RedisError("cannot connect to Redis at " + host + ":" + std::to_string(port) +
                             ": " + why);
        }
        connection->context = context;
        connection->fd = context->c.fd;
        context->data = connection.get();
        context->ev.data = connection.get();
        context->ev.addRead = add_read;
        context->ev.delRead = del_read;
        context->ev.addWrite = add_write;
        context->ev.delWrite = del_write;
        context->ev.cleanup = cleanup;
        // After the hooks: setting the connect callback asks them to watch for
        // writing, which is how a non-blocking connect reports that it is done.
        redisAsyncSetConnectCallback(context, on_connect);
        redisAsyncSetDisconnectCallback(context, on_disconnect);
        return connection;
    }

    // Sends a command whose replies go to `callback` with `data`; false if
    // the connection is gone.
    bool send(const std::vector<std::string>& arguments, redisCallbackFn* callback, void* data) {
        if (context == nullptr) return false;
        std::vector<const char*> pointers;
        std::vector<std::size_t> lengths;
        for (const std::string& argument : arguments) {
            pointers.push_back(argument.data());
            lengths.push_back(argument.size());
        }
        return redisAsyncCommandArgv(context, callback, data, static_cast<int>(arguments.size()),
                                     pointers.data(), lengths.data()) == REDIS_OK;
    }

    // Why commands fail now. hiredis fails the waiting commands before it
    // calls on_disconnect, so the context's own error comes first.
    std::string gone() const {
        if (context != nullptr && context->err != 0) {
            return std::string("the Redis connection was lost: ") + context->errstr;
        }
        return error.empty() ? "the Redis connection is closed" : error;
    }
};

}  // namespace detail

namespace {

Reply convert(const redisReply& reply) {
    Reply result;
    switch (reply.type) {
        case REDIS_REPLY_INTEGER:
            result.type = Reply::Type::integer;
            result.integer = reply.integer;
            break;
        case REDIS_REPLY_STRING:
        case REDIS_REPLY_STATUS:
            result.type =
                reply.type == REDIS_REPLY_STRING ? Reply::Type::string : Reply::Type::status;
            result.string.assign(reply.str, reply.len);
            break;
        case REDIS_REPLY_ARRAY:
            result.type = Reply::Type::array;
            for (std::size_t i = 0; i < reply.elements; ++i) {
                result.elements.push_back(convert(*reply.element[i]));
            }
            break;
        default:  // REDIS_REPLY_NIL (an error reply never gets here)
            break;
    }
    return result;
}

// A command's Future, handed to hiredis as the callback's data and deleted
// when its one reply comes (a null reply: the connection went first).
struct PendingCommand {
    Future<Reply> reply;
    detail::Connection* connection;

    static void on_reply(redisAsyncContext*, void* raw, void* data) {
        std::unique_ptr<PendingCommand> pending(static_cast<PendingCommand*>(data));
        const auto* reply = static_cast<const redisReply*>(raw);
        if (reply == nullptr) {
            pending->reply.set_exception(
                std::make_exception_ptr(RedisError(pending->connection->gone())));
        } else if (reply->type == REDIS_REPLY_ERROR) {
            pending->reply.set_exception(
                std::make_exception_ptr(RedisError(std::string(reply->str, reply->len))));
        } else {
            pending->reply.set_result(convert(*reply));
        }
    }
};

}  // namespace

// ---- Client ----------------------------------------------------------------

Client::Client(std::unique_ptr<detail::Connection> connection)
    : connection_(std::move(connection)) {}

Client::~Client() = default;

Task<std::shared_ptr<Client>> Client::connect(std::string host, std::uint16_t port) {
    std::unique_ptr<detail::Connection> connection = detail::Connection::open(host, port);
    Future<void> connected = connection->connected;
    co_await connected;
    co_return std::shared_ptr<Client>(new Client(std::move(connection)));
}

Future<Reply> Client::command(std::vector<std::string> arguments) {
    auto pending = std::make_unique<PendingCommand>();
    pending->connection = connection_.get();
    Future<Reply> reply = pending->reply;
    if (arguments.empty()) {
        reply.set_exception(std::make_exception_ptr(std::invalid_argument("an empty command")));
    } else if (connection_->send(arguments, PendingCommand::on_reply, pending.get())) {
        pending.release();  // hiredis has it now; on_reply deletes it
    } else {
        reply.set_exception(std::make_exception_ptr(RedisError(connection_->gone())));
    }
    return reply;
}

Task<void> Client::set(std::string key, std::string value) { co_await command("SET", key, value); }

Task<std::optional<std::string>> Client::get(std::string key) {
    Reply reply = co_await command("GET", key);
    if (reply.is_nil()) co_return std::nullopt;
    co_return std::move(reply.string);
}

Task<long long> Client::publish(std::string channel, std::string message) {
    Reply reply = co_await command("PUBLISH", channel, message);
    co_return reply.integer;
}

bool Client::closed() const noexcept { return connection_->context == nullptr; }

// ---- Subscription ----------------------------------------------------------

// What has come and who waits: messages nobody took yet, the one next() that
// waits, and the confirmations subscribe() waits for.
struct Subscription::Inbox {
    detail::Connection* connection = nullptr;
    std::deque<Message> messages;
    std::optional<Future<Message>> waiter;
    std::size_t unconfirmed = 0;  // channels the server has not confirmed yet
    Future<void> confirmed;
    bool lost = false;
};

Subscription::Subscription(std::unique_ptr<detail::Connection> connection,
                           std::unique_ptr<Inbox> inbox)
    : inbox_(std::move(inbox)), connection_(std::move(connection)) {}

Subscription::~Subscription() = default;

Task<std::unique_ptr<Subscription>> Subscription::subscribe(std::string host, std::uint16_t port,
                                                            std::vector<std::string> channels) {
    if (channels.empty()) throw std::invalid_argument("subscribe to at least one channel");
    std::unique_ptr<detail::Connection> connection = detail::Connection::open(host, port);
    Future<void> connected = connection->connected;
    co_await connected;
    auto inbox = std::make_unique<Inbox>();
    inbox->connection = connection.get();
    inbox->unconfirmed = channels.size();
    Future<void> confirmed = inbox->confirmed;
    std::vector<std::string> command{"SUBSCRIBE"};
    command.insert(command.end(), channels.begin(), channels.end());
    // hiredis keeps the callback for as long as the subscription lasts, and
    // calls it once more with a null reply when the connection goes.
    connection->send(command, &Subscription::on_reply, inbox.get());
    std::unique_ptr<Subscription> subscription(
        new Subscription(std::move(connection), std::move(inbox)));
    co_await confirmed;
    co_return subscription;
}

// ["subscribe", channel, count] confirms a channel; ["message", channel,
// payload] is a message; a null reply says the connection is gone.
void Subscription::on_reply(redisAsyncContext*, void* raw, void* data) {
    auto* inbox = static_cast<Inbox*>(data);
    const auto* reply = static_cast<const redisReply*>(raw);
    if (reply == nullptr) {
        if (inbox->lost) return;  // one null reply per channel
        inbox->lost = true;
        auto error = std::make_exception_ptr(RedisError(inbox->connection->gone()));
        if (!inbox->confirmed.done()) inbox->confirmed.set_exception(error);
        if (inbox->waiter && !inbox->waiter->done()) inbox->waiter->set_exception(error);
        inbox->waiter.reset();
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    std::string_view kind(reply->element[0]->str, reply->element[0]->len);
    if (kind == "subscribe") {
        if (inbox->unconfirmed > 0 && --inbox->unconfirmed == 0) inbox->confirmed.set_result();
        return;
    }
    if (kind != "message") return;
    Message message{std::string(reply->element[1]->str, reply->element[1]->len),
                    std::string(reply->element[2]->str, reply->element[2]->len)};
    // A waiter whose next() was cancelled (its caller gave up and cancelled
    // the Future) takes nothing: the message stays for the next next().
    if (inbox->waiter && !inbox->waiter->done()) {
        inbox->waiter->set_result(std::move(message));
    } else {
        inbox->messages.push_back(std::move(message));
    }
    inbox->waiter.reset();
}

Future<Message> Subscription::next() {
    if (inbox_->waiter && !inbox_->waiter->done()) {
        throw std::logic_error("Subscription::next: already waiting");
    }
    inbox_->waiter.reset();
    Future<Message> next;
    if (!inbox_->messages.empty()) {
        next.set_result(std::move(inbox_->messages.front()));
        inbox_->messages.pop_front();
    } else if (inbox_->lost || connection_->context == nullptr) {
        next.set_exception(std::make_exception_ptr(RedisError(connection_->gone())));
    } else {
        inbox_->waiter = next;
    }
    return next;
}

bool Subscription::closed() const noexcept { return connection_->context == nullptr; }

}  // namespace tornado::redis
