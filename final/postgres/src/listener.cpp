// listener.cpp: LISTEN on a connection of its own (tornado/postgres.h).
//
// A notification reaches only the session that listens, so a Listener
// cannot share a pool's connections. It keeps one connection, and after a
// loss makes it again and listens again, with the pool's backoff.
#include "postgres_internal.h"
#include "tornado/log.h"

namespace tornado::postgres {
namespace detail {

struct ListenerState final : ConnectionOwner, std::enable_shared_from_this<ListenerState> {
    ListenerState(PoolOptions pool_options, ConnectSettings connect_settings,
                  std::vector<std::string> listen_to)
        : loop(IOLoop::current()),
          options(std::move(pool_options)),
          settings(std::move(connect_settings)),
          channels(std::move(listen_to)),
          backoff(options) {}

    ~ListenerState() { close(); }

    IOLoop& loop;
    PoolOptions options;
    ConnectSettings settings;
    std::vector<std::string> channels;
    std::shared_ptr<Connection> connection;
    std::deque<Notification> inbox;
    std::optional<Future<Notification>> waiter;
    Future<void> first_listen;  // done once it listens the first time
    std::uint64_t reconnects = 0;
    bool listening = false;
    bool closed = false;
    Backoff backoff;
    std::optional<IOLoop::Timeout> reconnect_timer;

    void connect() {
        connection = std::make_shared<Connection>(loop, this, 0, options.connect_timeout);
        connection->open(settings);
    }

    void close() {
        if (closed) return;
        closed = true;
        listening = false;
        if (reconnect_timer) loop.remove_timeout(*reconnect_timer);
        reconnect_timer.reset();
        if (connection) {
            connection->forget_owner();
            connection->close("the listener was closed");
        }
        auto error = std::make_exception_ptr(ConnectionError("the listener is closed"));
        if (!first_listen.done()) first_listen.set_exception(error);
        if (waiter && !waiter->done()) waiter->set_exception(error);
        waiter.reset();
    }

    // LISTEN to every channel, one statement each (a statement may hold
    // one command in the extended protocol); they run in order, so the
    // last one's answer says all are in force.
    void listen_all(Connection& on) {
        Future<Result> last{nullptr};
        for (const std::string& channel : channels) {
            auto operation = std::make_unique<Operation>();
            operation->sql = "LISTEN " + quote_identifier(channel);
            operation->prepare = false;
            operation->result = last = Future<Result>();
            on.send(std::move(operation));
        }
        std::weak_ptr<ListenerState> weak = weak_from_this();
        last.add_done_callback([weak](Future<Result> done) {
            auto self = weak.lock();
            if (!self || self->closed) return;
            if (done.exception()) {
                // The connection was lost meanwhile: on_lost tries again.
                if (!self->first_listen.done()) self->first_listen.set_exception(done.exception());
                return;
            }
            self->listening = true;
            if (!self->first_listen.done()) self->first_listen.set_result();
        });
    }

    void on_ready(Connection& ready) override {
        backoff.reset();
        if (first_listen.done()) ++reconnects;
        listen_all(ready);
    }

    void on_connect_failed(Connection&, const std::string& why) override {
        if (!first_listen.done()) {
            first_listen.set_exception(
                std::make_exception_ptr(ConnectionError("cannot connect to PostgreSQL: " + why)));
            return;
        }
        schedule_reconnect();
    }

    void on_lost(Connection&, const std::string& why) override {
        listening = false;
        gen_log.warning("PostgreSQL: a listener's connection was lost: {}", why);
        schedule_reconnect();
    }

    void on_room(Connection&) override {}

    void on_notification(Connection&, Notification notification) override {
        if (waiter && !waiter->done()) {
            waiter->set_result(std::move(notification));
        } else {
            inbox.push_back(std::move(notification));
        }
        waiter.reset();
    }

    void schedule_reconnect() {
        if (closed || reconnect_timer) return;
        std::weak_ptr<ListenerState> weak = weak_from_this();
        reconnect_timer = loop.call_later(backoff.next(), [weak] {
            auto self = weak.lock();
            if (!self || self->closed) return;
            self->reconnect_timer.reset();
            self->connect();
        });
    }
};

Task<std::unique_ptr<Listener>> make_listener(PoolOptions options, ConnectSettings settings,
                                              std::vector<std::string> channels) {
    if (channels.empty()) throw UsageError("listen to at least one channel");
    for (const std::string& channel : channels) quote_identifier(channel);  // no NUL byte
    auto state = std::make_shared<ListenerState>(std::move(options), std::move(settings),
                                                 std::move(channels));
    state->connect();
    auto listener = std::make_unique<Listener>(state);
    Future<void> listening = state->first_listen;
    co_await listening;
    co_return listener;
}

}  // namespace detail

Listener::Listener(std::shared_ptr<detail::ListenerState> state) noexcept
    : state_(std::move(state)) {}

Listener::~Listener() { state_->close(); }

Future<Notification> Listener::next() {
    if (state_->waiter && !state_->waiter->done()) {
        throw UsageError("Listener::next: already waiting");
    }
    state_->waiter.reset();
    Future<Notification> next;
    if (!state_->inbox.empty()) {
        next.set_result(std::move(state_->inbox.front()));
        state_->inbox.pop_front();
    } else if (state_->closed) {
        next.set_exception(std::make_exception_ptr(ConnectionError("the listener is closed")));
    } else {
        state_->waiter = next;
    }
    return next;
}

std::uint64_t Listener::reconnects() const noexcept { return state_->reconnects; }

bool Listener::listening() const noexcept { return state_->listening; }

void Listener::close() { state_->close(); }

}  // namespace tornado::postgres
