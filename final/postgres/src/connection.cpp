// connection.cpp: one libpq connection on the loop (postgres_internal.h).
//
// libpq in non-blocking mode never waits: each call does what the socket
// allows and says what it needs next. This file is the loop's side of that
// conversation:
//
//   connecting   PQconnectPoll says "reading" or "writing"; the loop calls
//                it again when the socket is ready for that. The socket can
//                change between two polls (libpq tries the next address),
//                so it is asked for again each time.
//   sending      PQsendQueryPrepared and PQpipelineSync put the messages in
//                libpq's output buffer and try to send them; PQflush says
//                whether some are left, and only then does the loop watch
//                for writing (a socket is writable nearly always: watching
//                for it with nothing to write would wake the loop for
//                nothing).
//   reading      when the socket is readable, PQconsumeInput takes what
//                arrived; PQisBusy says whether a whole result is there;
//                PQgetResult hands it over. In pipeline mode the results
//                come in the order the statements were sent: each
//                statement's results, then a null (its end), then
//                PGRES_PIPELINE_SYNC for its Sync. Under load the socket
//                is readable only once a batch of answers is there
//                (set_receive_low_water).
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "postgres_internal.h"
#include "tornado/log.h"

namespace tornado::postgres::detail {
namespace {

// libpq's messages end with a newline, and some run over lines indented
// by tabs: one line for the log and for what().
std::string tidy(const char* message) {
    std::string text;
    for (const char* c = message != nullptr ? message : ""; *c != '\0'; ++c) {
        bool space = *c == '\n' || *c == '\t' || *c == ' ';
        if (!space) {
            text += *c;
        } else if (!text.empty() && text.back() != ' ') {
            text += ' ';
        }
    }
    if (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

bool is_tcp(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
    return address.ss_family == AF_INET || address.ss_family == AF_INET6;
}

bool is_numeric_address(const std::string& host) {
    in_addr v4{};
    in6_addr v6{};
    return inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
           inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// A host that needs a DNS lookup: not empty, not a socket folder ('/'), not
// an abstract socket ('@'), not an address already.
bool needs_lookup(const std::string& host) {
    return !host.empty() && host[0] != '/' && host[0] != '@' && !is_numeric_address(host);
}

std::vector<std::string> split_commas(const std::string& list) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (true) {
        std::size_t comma = list.find(',', start);
        items.push_back(list.substr(start, comma - start));
        if (comma == std::string::npos) return items;
        start = comma + 1;
    }
}

std::string join_commas(const std::vector<std::string>& items) {
    std::string list;
    for (const std::string& item : items) list += (list.empty() ? "" : ",") + item;
    return list;
}

// Every address of `host` (getaddrinfo: blocking, so it runs on the
// executor), in the order the resolver gives them.
std::vector<std::string> lookup(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int failed = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (failed != 0) {
        throw ConnectionError("could not resolve \"" + host + "\": " + gai_strerror(failed));
    }
    std::vector<std::string> addresses;
    for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
        char text[INET6_ADDRSTRLEN] = "";
        const void* where = entry->ai_family == AF_INET
                                ? static_cast<const void*>(
                                      &reinterpret_cast<sockaddr_in*>(entry->ai_addr)->sin_addr)
                                : static_cast<const void*>(
                                      &reinterpret_cast<sockaddr_in6*>(entry->ai_addr)->sin6_addr);
        if (inet_ntop(entry->ai_family, where, text, sizeof text) != nullptr &&
            std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
            addresses.emplace_back(text);
        }
    }
    ::freeaddrinfo(found);
    return addresses;
}

using Entries = std::vector<std::pair<std::string, std::string>>;

void set_entry(Entries& entries, const std::string& keyword, const std::string& value) {
    for (auto& [key, existing] : entries) {
        if (key == keyword) {
            existing = value;
            return;
        }
    }
    entries.emplace_back(keyword, value);
}

// The connection string with every host name replaced by its addresses:
// each name is listed once per address in `host`, beside that address in
// `hostaddr`, so libpq tries them in turn (as it does when it resolves a
// name itself) without a lookup of its own; `host` keeps the name for TLS
// verification and the password file.
Entries resolve_hosts(Entries entries, const std::string& host_list) {
    std::vector<std::string> hosts = split_commas(host_list);
    std::string port_list;
    for (const auto& [key, value] : entries) {
        if (key == "port") port_list = value;
    }
    std::vector<std::string> ports = split_commas(port_list);
    bool port_per_host = ports.size() > 1;
    std::vector<std::string> new_hosts, addresses, new_ports;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        std::vector<std::string> found =
            needs_lookup(hosts[i]) ? lookup(hosts[i]) : std::vector<std::string>{""};
        for (const std::string& address : found) {
            new_hosts.push_back(hosts[i]);
            addresses.push_back(address);
            if (port_per_host) new_ports.push_back(i < ports.size() ? ports[i] : "");
        }
    }
    set_entry(entries, "host", join_commas(new_hosts));
    set_entry(entries, "hostaddr", join_commas(addresses));
    if (port_per_host) set_entry(entries, "port", join_commas(new_ports));
    return entries;
}

// libpq reports notices (RAISE NOTICE, "table does not exist, skipping")
// here rather than on stderr: warnings go to the log, the rest at debug.
void log_notice(void*, const PGresult* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    std::string text = tidy(PQresultErrorMessage(notice));
    if (severity != nullptr && std::strcmp(severity, "WARNING") == 0) {
        gen_log.warning("PostgreSQL: {}", text);
    } else {
        gen_log.debug("PostgreSQL: {}", text);
    }
}

// The key of a prepared statement: its text and its parameters' types and
// formats (the same text with other types is another statement). The text
// holds no NUL (check_sendable), so a NUL can end it.
std::string statement_key(const Operation& operation) {
    std::string key = operation.sql;
    key += '\0';
    for (const Param& param : operation.params) {
        key += std::to_string(param.type());
        key += param.binary() ? 'b' : 't';
    }
    return key;
}

}  // namespace

std::string sqlstate_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const ServerError& server) {
        return server.sqlstate();
    } catch (...) {
        return "";
    }
}

ConnectSettings ConnectSettings::parse(const std::string& dsn, std::chrono::milliseconds timeout) {
    if (dsn.find('\0') != std::string::npos) throw UsageError("the dsn holds a NUL byte");
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
    if (options == nullptr) {
        std::string why = error != nullptr ? tidy(error) : "out of memory";
        PQfreemem(error);
        throw UsageError("invalid PostgreSQL connection string: " + why);
    }
    ConnectSettings settings;
    settings.connect_timeout = timeout;
    for (PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
        if (option->val != nullptr) settings.entries.emplace_back(option->keyword, option->val);
    }
    PQconninfoFree(options);
    // libpq applies connect_timeout only when it waits itself: here the
    // loop does, with this deadline.
    std::string seconds = settings.get("connect_timeout");
    if (!seconds.empty() && std::atoi(seconds.c_str()) > 0) {
        settings.connect_timeout = std::chrono::seconds(std::atoi(seconds.c_str()));
    }
    return settings;
}

std::string ConnectSettings::get(std::string_view keyword) const {
    for (const auto& [key, value] : entries) {
        if (key == keyword) return value;
    }
    return "";
}

// ---- connecting ----------------------------------------------------------------

Connection::Connection(IOLoop& loop, ConnectionOwner* owner, std::size_t statement_cache,
                       std::chrono::milliseconds cancel_grace)
    : loop_(loop), owner_(owner), cancel_grace_(cancel_grace), statement_cache_(statement_cache) {}

Connection::~Connection() {
    owner_ = nullptr;
    close("the connection was closed");
}

// Starts connecting, within connect_timeout. libpq would look the host up
// itself, blocking the loop for as long as DNS takes: a name that needs a
// lookup is resolved on the executor first, and libpq gets addresses.
void Connection::open(const ConnectSettings& settings) {
    std::weak_ptr<Connection> weak = weak_from_this();
    connect_timer_ =
        loop_.call_later(settings.connect_timeout, [weak, limit = settings.connect_timeout] {
            if (auto self = weak.lock()) {
                self->connect_timer_.reset();
                self->fail_connect("no connection within " + std::to_string(limit.count()) + " ms");
            }
        });
    // Which host names libpq would look up (the connection string's, or
    // PGHOST's when it has none): looked up here instead, off the loop.
    std::string hosts = settings.get("host");
    if (hosts.empty() && std::getenv("PGHOST") != nullptr) hosts = std::getenv("PGHOST");
    std::vector<std::string> names = split_commas(hosts);
    bool lookup_needed =
        settings.get("hostaddr").empty() && std::any_of(names.begin(), names.end(), needs_lookup);
    if (!lookup_needed) {
        start_connecting(settings.entries);
        return;
    }
    state_ = State::resolving;
    Future<Entries> resolved = loop_.run_in_executor(
        nullptr, [entries = settings.entries, hosts] { return resolve_hosts(entries, hosts); });
    resolved.add_done_callback([weak](Future<Entries> done) {
        auto self = weak.lock();
        if (!self || self->state_ != State::resolving) return;
        try {
            self->start_connecting(done.result());
        } catch (const std::exception& error) {
            self->fail_connect(error.what());
        }
    });
}

// PQconnectStartParams begins the connect without waiting; each later
// step is continue_connecting(), when the socket is ready for it.
void Connection::start_connecting(const Entries& entries) {
    std::vector<const char*> keywords, values;
    for (const auto& [keyword, value] : entries) {
        keywords.push_back(keyword.c_str());
        values.push_back(value.c_str());
    }
    keywords.push_back(nullptr);
    values.push_back(nullptr);
    // expand_dbname 0: the string was parsed into keywords already.
    conn_ = PQconnectStartParams(keywords.data(), values.data(), 0);
    if (conn_ == nullptr) {
        fail_connect("out of memory");
        return;
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
        fail_connect(tidy(PQerrorMessage(conn_)));
        return;
    }
    state_ = State::connecting;
    // Before the first PQconnectPoll, libpq's rule is to act as if it had
    // said "writing": the TCP connect is under way.
    watch(PQsocket(conn_), IOLoop::WRITE);
}

// One step of libpq's connect: it says what it waits for next, and the
// socket (which may be a new one: libpq tries each address) is watched for it.
void Connection::continue_connecting() {
    switch (PQconnectPoll(conn_)) {
        case PGRES_POLLING_READING: watch(PQsocket(conn_), IOLoop::READ); break;
        case PGRES_POLLING_WRITING: watch(PQsocket(conn_), IOLoop::WRITE); break;
        case PGRES_POLLING_OK: connected(); break;
        default: fail_connect(tidy(PQerrorMessage(conn_))); break;
    }
}

// The session is up: non-blocking and in pipeline mode from now on, so
// that statements are sent without waiting for the ones before them.
void Connection::connected() {
    if (connect_timer_) loop_.remove_timeout(*connect_timer_);
    connect_timer_.reset();
    if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) {
        fail_connect("cannot enter pipeline mode: " + tidy(PQerrorMessage(conn_)));
        return;
    }
    PQsetNoticeReceiver(conn_, log_notice, nullptr);
    state_ = State::ready;
    tls_ = PQsslInUse(conn_) != 0;
    batch_reads_ = !tls_ && is_tcp(PQsocket(conn_));
    server_pid_ = PQbackendPID(conn_);
    watch(PQsocket(conn_), IOLoop::READ);
    if (owner_ != nullptr) owner_->on_ready(*this);
}

// Before the session is up nothing was sent, so only the owner is told.
void Connection::fail_connect(const std::string& why) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    closed_because_ = why;
    release_libpq();
    if (owner_ != nullptr) owner_->on_connect_failed(*this, why);
}

// ---- the loop's side -------------------------------------------------------------

// Watches `fd` for `events`. While connecting, libpq may have closed the
// last descriptor and opened another, perhaps under the same number: the
// handler is removed and added again, never updated in place.
void Connection::watch(int fd, std::uint32_t events) {
    if (fd_ >= 0) loop_.remove_handler(fd_);
    fd_ = fd;
    interest_ = events;
    // Only `this`: the handler must fit the loop's inline room. It is
    // removed before the connection goes (release_libpq).
    loop_.add_handler(
        fd_, [this](int, std::uint32_t ready) { on_events(ready); }, events);
}

// READ unless a stream's reader is behind (backpressure: the server
// waits, our memory does not grow); WRITE only while libpq has output left.
void Connection::update_interest() {
    if (state_ != State::ready) return;
    std::uint32_t wanted =
        (reading_paused_ ? 0 : IOLoop::READ) | (write_pending_ ? IOLoop::WRITE : 0);
    if (wanted != interest_) {
        interest_ = wanted;
        loop_.update_handler(fd_, wanted);
    }
}

// The socket is ready: a connect step, or results (and notifications) to
// read and output left to flush, in the order libpq's rules ask.
void Connection::on_events(std::uint32_t events) {
    // An owner told of a loss below may drop its last reference.
    std::shared_ptr<Connection> self = shared_from_this();
    if (state_ == State::connecting) {
        continue_connecting();
        return;
    }
    if (state_ != State::ready) return;
    if ((events & (IOLoop::READ | IOLoop::ERROR)) != 0) {
        ++reads_;
        low_water_dropped_ = false;
        if (PQconsumeInput(conn_) == 0) {
            lose(tidy(PQerrorMessage(conn_)));
            return;
        }
        deliver_notifications();
        read_results();
    }
    // libpq's rule: after reading, flush again if output was left over.
    if (state_ == State::ready && (write_pending_ || (events & IOLoop::WRITE) != 0)) flush();
}

// PQflush sends what it can: 1 means output is left, and the loop then
// watches for WRITE until it is gone.
void Connection::flush() {
    int left = PQflush(conn_);
    if (left < 0) {
        lose(tidy(PQerrorMessage(conn_)));
        return;
    }
    write_pending_ = left == 1;
    update_interest();
}

// NOTIFY messages arrive between results, on any read: the owner (a
// Listener) gets each as it comes.
void Connection::deliver_notifications() {
    while (PGnotify* notify = PQnotifies(conn_)) {
        Notification notification{notify->relname, notify->extra, notify->be_pid};
        PQfreemem(notify);
        if (owner_ != nullptr) owner_->on_notification(*this, std::move(notification));
    }
}

// ---- sending -------------------------------------------------------------------------

// Puts a statement in the pipeline: its timer starts (once: a statement
// sent again keeps its deadline), libpq gets its messages, and it joins
// the line of statements whose results are read in order. The first in
// line is the one the server runs (start_head).
void Connection::send(std::unique_ptr<Operation> operation) {
    if (state_ != State::ready) {
        cancel_timer(*operation);  // a statement sent again has one
        fail(*operation, std::make_exception_ptr(ConnectionError(
                             closed_because_.empty() ? "the PostgreSQL connection is not ready"
                                                     : closed_because_)));
        return;
    }
    if (operation->timeout.count() > 0 && !operation->timer) {
        std::weak_ptr<Connection> weak = weak_from_this();
        Operation* pointer = operation.get();
        operation->timer = loop_.call_later(operation->timeout, [weak, pointer] {
            if (auto self = weak.lock()) self->on_timeout(pointer);
        });
    }
    cork_until_turn_ends();
    if (!send_to_libpq(*operation)) {
        std::string why = tidy(PQerrorMessage(conn_));
        operations_.push_back(std::move(operation));
        lose(why);
        return;
    }
    operations_.push_back(std::move(operation));
    if (operations_.size() == 1) start_head();
    flush();
}

// libpq 15 writes each statement's Sync to the socket at once
// (PQpipelineSync flushes), so a turn of the loop that sends 200 statements
// would make 200 TCP segments, and PostgreSQL would wake for each. With
// TCP_CORK on until the turn ends, the kernel holds what is written and
// sends it in as few full segments as it can when the cork comes off: a
// statement waits no longer than the turn that sent it. (On a unix socket
// the option does not exist and nothing changes.)
void Connection::cork_until_turn_ends() {
    if (corked_ || fd_ < 0) return;
    int on = 1;
    if (setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0) return;
    corked_ = true;
    loop_.add_callback([weak = weak_from_this()] {
        std::shared_ptr<Connection> self = weak.lock();
        if (!self || !self->corked_) return;
        self->corked_ = false;
        int off = 0;
        if (self->fd_ >= 0) setsockopt(self->fd_, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
        self->set_receive_low_water();
    });
}

// The Parse (when the statement is new here), the Bind and Execute, and the
// Sync that ends it: its own implicit transaction.
bool Connection::send_to_libpq(Operation& operation) {
    look_up_statement(operation);
    std::size_t count = operation.params.size();
    values_.resize(count);
    lengths_.resize(count);
    formats_.resize(count);
    types_.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
        const Param& param = operation.params[i];
        values_[i] = param.is_null() ? nullptr : param.value().data();
        lengths_[i] = static_cast<int>(param.value().size());
        formats_[i] = param.binary() ? 1 : 0;
        types_[i] = param.type();
    }
    int n = static_cast<int>(count);
    int sent = 0;
    if (operation.statement == nullptr) {
        sent = PQsendQueryParams(conn_, operation.sql.c_str(), n, types_.data(), values_.data(),
                                 lengths_.data(), formats_.data(), 0);
    } else {
        const char* name = operation.statement->name.c_str();
        sent = (!operation.parse_sent ||
                PQsendPrepare(conn_, name, operation.sql.c_str(), n, types_.data()) == 1) &&
               PQsendQueryPrepared(conn_, name, n, values_.data(), lengths_.data(), formats_.data(),
                                   0) == 1;
    }
    return sent == 1 && PQpipelineSync(conn_) == 1;
}

// Finds the statement's prepared twin, or makes one to be prepared with
// it. A stream is sent unprepared: single-row mode applies to the command
// libpq works on, and a Parse before it would be that command.
void Connection::look_up_statement(Operation& operation) {
    operation.statement = nullptr;
    operation.parse_sent = false;
    if (!operation.prepare || operation.sink != nullptr || statement_cache_ == 0) return;
    std::string key = statement_key(operation);
    auto found = statements_.find(key);
    if (found != statements_.end()) {
        lru_.splice(lru_.begin(), lru_, found->second.position);
        operation.statement = found->second.statement;
        return;
    }
    if (!make_room_in_cache()) return;
    auto statement = std::make_shared<Statement>();
    statement->name = "tornado_" + std::to_string(++statements_made_);
    lru_.push_front(key);
    statements_.emplace(std::move(key), CachedStatement{statement, lru_.begin()});
    operation.statement = std::move(statement);
    operation.parse_sent = true;
}

// Closes the least recently used statement the server has confirmed, if
// the cache is full. A statement still being prepared stays; when every
// one is, there is no room and the statement goes unprepared.
bool Connection::make_room_in_cache() {
    if (statements_.size() < statement_cache_) return true;
    for (auto key = lru_.rbegin(); key != lru_.rend(); ++key) {
        auto found = statements_.find(*key);
        if (!found->second.statement->prepared) continue;
        // After every statement already sent that uses it, in pipeline order.
        auto close = std::make_unique<Operation>();
        close->sql = "DEALLOCATE " + found->second.statement->name;
        close->prepare = false;
        lru_.erase(found->second.position);
        statements_.erase(found);
        send(std::move(close));
        return true;
    }
    return false;
}

// Drops a prepared statement from the cache (its Parse failed, or its
// plan went stale), unless the key already names a newer one.
void Connection::forget_statement(const std::string& key, const Statement* statement) {
    auto found = statements_.find(key);
    if (found != statements_.end() && found->second.statement.get() == statement) {
        lru_.erase(found->second.position);
        statements_.erase(found);
    }
}

// ---- reading -------------------------------------------------------------------------

// Takes every result libpq has whole, in pipeline order: each belongs to
// the statement at the head, whose Sync (PGRES_PIPELINE_SYNC) ends it. A
// null result ends one command (a Parse, or the Execute). Stops, and stops
// reading the socket, while a stream's reader is behind.
void Connection::read_results() {
    bool paused = false;
    while (!operations_.empty() && state_ == State::ready) {
        Operation& head = *operations_.front();
        // A reader that is behind: stop here and stop reading the socket,
        // so the server waits instead of this process filling its memory.
        if (head.sink != nullptr && head.awaited() && head.sink->full()) {
            paused = true;
            break;
        }
        if (PQisBusy(conn_) != 0) break;
        PGresult* raw = PQgetResult(conn_);
        if (raw == nullptr) {
            ++head.commands_ended;  // the end of one command's results
            continue;
        }
        std::shared_ptr<const pg_result> result(raw, PQclear);
        if (PQresultStatus(raw) == PGRES_PIPELINE_SYNC) {
            finish_head();
        } else {
            take_result(head, std::move(result));
        }
    }
    if (state_ == State::ready && paused != reading_paused_) {
        reading_paused_ = paused;
        update_interest();
    }
    set_receive_low_water();
}

// Under load PostgreSQL answers statement after statement, and each answer
// it writes would wake the loop for that answer alone; where PostgreSQL and
// this process share a core, each such wake-up also interrupts PostgreSQL.
// SO_RCVLOWAT makes the socket readable only once that many bytes wait.
// Every statement is answered with kLeastAnswerBytes at least (its
// ReadyForQuery, 6 bytes, after at least one message of 5), and all of the
// answers to the statements after the head are still to come (read_results
// took every whole result: what libpq holds is the head's), so asking for
// (in flight - 1) x kLeastAnswerBytes asks only for bytes on their way.
// On their way is not soon: a statement after the head may wait for a lock
// that this program frees once it has read the head's answer. So a mark
// stands for kLowWaterWait without a read at most; then it drops to one
// byte until the next read. Not over TLS, where OpenSSL may hold decrypted
// bytes the socket no longer shows, nor on a unix socket, whose readiness
// ignores the mark (batch_reads_, set in connected()).
void Connection::set_receive_low_water() {
    if (!batch_reads_ || state_ != State::ready) return;
    std::size_t after_head = operations_.empty() ? 0 : operations_.size() - 1;
    int wanted = 1;
    if (!low_water_dropped_ && after_head > 0) {
        wanted = static_cast<int>(std::min(after_head * kLeastAnswerBytes, kMostLowWater));
    }
    if (wanted != low_water_ &&
        setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &wanted, sizeof wanted) == 0) {
        low_water_ = wanted;
    }
    if (low_water_ > 1 && !low_water_timer_) watch_low_water(reads_);
}

// Drops the mark if no read came within kLowWaterWait; else looks again.
void Connection::watch_low_water(std::uint64_t reads_then) {
    low_water_timer_ = loop_.call_later(kLowWaterWait, [weak = weak_from_this(), reads_then] {
        std::shared_ptr<Connection> self = weak.lock();
        if (!self) return;
        self->low_water_timer_.reset();
        if (self->state_ != State::ready || self->low_water_ <= 1) return;
        if (self->reads_ == reads_then) {
            self->low_water_dropped_ = true;
            self->set_receive_low_water();
        } else {
            self->watch_low_water(self->reads_);
        }
    });
}

// One result of the head statement: a row of a stream, the Parse's or the
// Execute's outcome, or an error. The first error is the one kept; the
// statement is settled only when its Sync comes (finish_head).
void Connection::take_result(Operation& operation, std::shared_ptr<const pg_result> result) {
    bool is_parse = operation.parse_sent && operation.commands_ended == 0;
    switch (PQresultStatus(result.get())) {
        case PGRES_SINGLE_TUPLE:
            if (operation.awaited()) operation.sink->on_row(Row(std::move(result), 0));
            break;
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
        case PGRES_EMPTY_QUERY:
            if (is_parse) {
                operation.statement->prepared = true;
            } else {
                operation.last = std::move(result);
            }
            break;
        case PGRES_PIPELINE_ABORTED:
            // The Execute after a Parse that failed: that error stands.
            if (!operation.error) {
                operation.error = std::make_exception_ptr(
                    ConnectionError("the statement was not run: the pipeline was aborted"));
            }
            break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            // The server now waits for COPY data, or sends it, outside the
            // pipeline: the connection cannot go on.
            lose("COPY is not supported on a pipelined connection; the connection was closed");
            break;
        default: {  // PGRES_FATAL_ERROR, PGRES_BAD_RESPONSE, PGRES_NONFATAL_ERROR
            std::exception_ptr error = server_error(result.get());
            if (is_parse) {
                operation.statement->prepare_error = error;
                forget_statement(statement_key(operation), operation.statement.get());
            }
            if (!operation.error) operation.error = error;
            break;
        }
    }
}

// The head statement's Sync came back: it is done, one way or the other.
void Connection::finish_head() {
    std::unique_ptr<Operation> operation = std::move(operations_.front());
    operations_.pop_front();
    stop_asking_again();
    ++queries_;
    std::string state = operation->error ? sqlstate_of(operation->error) : "";
    // A cancel of ours: meant for this statement (it timed out) or for
    // one before it.
    bool cancelled_by_us = state == sqlstate::query_canceled && cancel_may_land();
    // Its prepared statement is missing because the Parse sent before it
    // was cancelled (a Parse waits for its tables' locks too): it ran not
    // at all, and nothing is wrong with it.
    bool parse_cancelled =
        state == "26000" && operation->statement && operation->statement->prepare_error &&
        sqlstate_of(operation->statement->prepare_error) == sqlstate::query_canceled;
    bool run_again = operation->awaited() && (cancelled_by_us || parse_cancelled ||
                                              (state == "0A000" && !operation->retried));
    // A statement sent again keeps its deadline: its caller waits no longer
    // than its timeout, counted from the first time it was sent.
    if (!run_again) cancel_timer(*operation);

    if (!operation->awaited()) {
        // Its caller heard QueryTimeout already, or dropped its stream.
        if (--timed_out_in_flight_ == 0 && cancel_deadline_) {
            loop_.remove_timeout(*cancel_deadline_);
            cancel_deadline_.reset();
        }
    } else if (run_again) {
        // Cancelled by a cancel request meant for a statement before it
        // (see request_cancel), or its Parse was, or its prepared plan was
        // made stale by a schema change ("cached plan must not change
        // result type"): its implicit transaction was rolled back, so it
        // is safe to run again.
        // Another stray cancel may hit it again; it runs again each time,
        // until its own deadline.
        if (state == "0A000" && operation->statement != nullptr) {
            forget_statement(statement_key(*operation), operation->statement.get());
        }
        retry(std::move(operation));
    } else if (operation->error) {
        std::exception_ptr error = operation->error;
        // A statement prepared by one that failed: the server says only
        // that it does not exist, the Parse's error says why.
        if (state == "26000" && operation->statement && operation->statement->prepare_error) {
            error = operation->statement->prepare_error;
        }
        fail(*operation, error);
    } else if (operation->sink != nullptr) {
        operation->sink->on_end(nullptr);
    } else if (operation->result.valid() && !operation->result.done()) {
        operation->result.set_result(Result(std::move(operation->last)));
    }
    if (state_ != State::ready) return;  // a failure's handler closed it
    if (!operations_.empty()) start_head();
    if (owner_ != nullptr) owner_->on_room(*this);
}

// The statement at the head of the pipeline is the one the server runs
// now (as far as this side knows): a stream asks for single rows before
// its first result is read, and a timed-out statement is cancelled.
void Connection::start_head() {
    Operation& head = *operations_.front();
    if (head.sink != nullptr && head.awaited()) PQsetSingleRowMode(conn_);
    cancel_if_running(head);
}

// The statement's deadline, no longer needed: it ended, or failed.
void Connection::cancel_timer(Operation& operation) {
    if (operation.timer) loop_.remove_timeout(*operation.timer);
    operation.timer.reset();
}

// Sends a statement again from the start (its transaction was rolled
// back, so nothing of the first run stays), with its deadline.
void Connection::retry(std::unique_ptr<Operation> operation) {
    operation->retried = true;
    operation->error = nullptr;
    operation->last = nullptr;
    operation->commands_ended = 0;
    send(std::move(operation));
}

void fail(Operation& operation, const std::exception_ptr& error) {
    if (operation.on_failure) {
        auto on_failure = std::move(operation.on_failure);
        on_failure(error);
    }
    if (operation.sink != nullptr) {
        std::shared_ptr<RowSink> sink = std::move(operation.sink);
        sink->on_end(error);
    } else if (operation.result.valid() && !operation.result.done()) {
        operation.result.set_exception(error);
    }
}

// ---- streams -------------------------------------------------------------------------

void Connection::resume_reading() {
    if (!reading_paused_ || resume_scheduled_) return;
    // Later, on the loop: the reader's next() must not run the pipeline
    // (and everything it resolves) inside itself.
    resume_scheduled_ = true;
    std::weak_ptr<Connection> weak = weak_from_this();
    loop_.add_callback([weak] {
        auto self = weak.lock();
        if (!self) return;
        self->resume_scheduled_ = false;
        if (self->state_ == State::ready) self->read_results();
    });
}

// A stream's reader dropped it before its end: the server is asked to
// stop (now, or when it reaches the head), and its rows are dropped.
void Connection::abandon(const RowSink* sink) {
    for (std::size_t i = 0; i < operations_.size(); ++i) {
        Operation& operation = *operations_[i];
        if (operation.sink.get() != sink || !operation.awaited()) continue;
        operation.fate = Operation::Fate::to_cancel;
        operation.sink = nullptr;
        ++timed_out_in_flight_;
        if (i == 0) {
            cancel_if_running(operation);
            resume_reading();
        }
        return;
    }
}

// ---- timeouts and cancelling -----------------------------------------------------------

// A statement's deadline: its caller hears QueryTimeout now, whatever the
// server does; the server is asked to stop it (cancel_if_running).
void Connection::on_timeout(Operation* operation) {
    operation->timer.reset();
    if (!operation->awaited()) return;
    operation->fate = Operation::Fate::to_cancel;
    ++timed_out_in_flight_;
    fail(*operation, std::make_exception_ptr(QueryTimeout(
                         "the query ran longer than " + std::to_string(operation->timeout.count()) +
                         " ms and was cancelled")));
    // A transaction's failure handler sends its ROLLBACK from inside fail():
    // if that lost the connection, the statement is gone with it.
    if (state_ != State::ready) return;
    cancel_if_running(*operation);
}

// A statement given up on (to_cancel) is cancelled on the server only
// while it runs there, at the pipeline's head: a cancel sent earlier would
// stop the statement before it. One behind waits until start_head().
void Connection::cancel_if_running(Operation& operation) {
    if (operation.fate != Operation::Fate::to_cancel) return;
    if (operations_.empty() || operations_.front().get() != &operation) return;
    operation.fate = Operation::Fate::cancel_asked;
    request_cancel();
}

// A cancel request goes on a new connection to the server, which stops
// whatever statement this connection's server process runs when it
// arrives. libpq 15's PQcancel blocks while it connects and sends, so it
// runs on the executor.
//
// In a pipeline the statement running when the request lands may be a
// later one, if the timed-out one ended meanwhile. Two rules keep that
// harmless: nothing new is sent here until the timed-out statement ends
// (draining()), and a statement cancelled while such a stray cancel may
// land (cancel_may_land) is sent again (retry above: its implicit
// transaction was rolled back, so running it again is safe); if it is
// still waiting at its own deadline, it fails with QueryTimeout, never
// with the server's "canceling statement". If the server does not end the
// statement within cancel_grace_, the connection is given up.
void Connection::request_cancel() {
    PGcancel* cancel = PQgetCancel(conn_);
    if (cancel == nullptr) {
        lose("cannot cancel a statement: " + tidy(PQerrorMessage(conn_)));
        return;
    }
    last_cancel_asked_ = IOLoop::Clock::now();
    std::weak_ptr<Connection> weak = weak_from_this();
    Future<std::string> sent =
        loop_.run_in_executor(nullptr, [cancel = std::shared_ptr<PGcancel>(cancel, PQfreeCancel)] {
            char why[256] = "";
            return PQcancel(cancel.get(), why, sizeof why) == 1 ? std::string() : std::string(why);
        });
    sent.add_done_callback([weak](Future<std::string> done) {
        auto self = weak.lock();
        if (!self) return;
        if (!done.result().empty()) {
            gen_log.warning("PostgreSQL: the cancel request failed: {}",
                            tidy(done.result().c_str()));
        }
    });
    ask_again_if_still_running();
    if (!cancel_deadline_) {
        cancel_deadline_ = loop_.call_later(cancel_grace_, [weak, grace = cancel_grace_] {
            if (auto self = weak.lock()) {
                self->cancel_deadline_.reset();
                self->lose("a cancelled statement did not end within " +
                           std::to_string(grace.count()) + " ms");
            }
        });
    }
}

// A cancel request that reaches the server process between two statements
// (it has sent the last one's answer and not yet started ours) is dropped
// by the server, and a statement may swallow one (a PL/pgSQL handler for
// query_canceled): while the statement asked to stop is still the head,
// the request is sent again, each wait twice the one before, until it
// ends or cancel_grace_ gives the connection up.
void Connection::ask_again_if_still_running() {
    if (cancel_again_) loop_.remove_timeout(*cancel_again_);
    std::chrono::milliseconds wait = next_cancel_wait_;
    next_cancel_wait_ *= 2;
    std::weak_ptr<Connection> weak = weak_from_this();
    cancel_again_ = loop_.call_later(wait, [weak] {
        auto self = weak.lock();
        if (!self) return;
        self->cancel_again_.reset();
        if (!self->operations_.empty() &&
            self->operations_.front()->fate == Operation::Fate::cancel_asked) {
            self->request_cancel();
        }
    });
}

// The head ended: a cancel asked for it is not asked again.
void Connection::stop_asking_again() {
    if (cancel_again_) loop_.remove_timeout(*cancel_again_);
    cancel_again_.reset();
    next_cancel_wait_ = first_cancel_wait;
}

// When a cancel request's signal reaches the server process is not ours
// to know: after PQcancel has returned, and even after the statement it
// was meant for has ended, it may still end the next statement we send
// (a server busy on this 2-core machine handles it late). The rule is a
// time: within cancel_grace_ of the last request (the time a cancelled
// statement is given to end before the connection is given up), a
// "canceling statement" is taken for ours.
bool Connection::cancel_may_land() const {
    return last_cancel_asked_ && IOLoop::Clock::now() - *last_cancel_asked_ < cancel_grace_;
}

// ---- closing -------------------------------------------------------------------------------

// The connection failed under us: every statement in it fails, and the
// owner is told (a pool reconnects).
void Connection::lose(const std::string& why) {
    if (state_ == State::closed) return;
    std::shared_ptr<Connection> self = shared_from_this();
    close("the connection to PostgreSQL was lost: " + why);
    if (owner_ != nullptr) owner_->on_lost(*this, why);
}

// Closes for good: libpq is let go, and every statement still in the
// pipeline fails with ConnectionError (those already given up on are not
// told twice).
void Connection::close(const std::string& why) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    closed_because_ = why;
    release_libpq();
    std::deque<std::unique_ptr<Operation>> in_flight = std::move(operations_);
    operations_.clear();
    auto error = std::make_exception_ptr(ConnectionError(why));
    for (auto& operation : in_flight) {
        cancel_timer(*operation);
        if (operation->awaited()) fail(*operation, error);
    }
    timed_out_in_flight_ = 0;
}

void Connection::release_libpq() noexcept {
    if (connect_timer_) loop_.remove_timeout(*connect_timer_);
    connect_timer_.reset();
    if (cancel_deadline_) loop_.remove_timeout(*cancel_deadline_);
    cancel_deadline_.reset();
    if (low_water_timer_) loop_.remove_timeout(*low_water_timer_);
    low_water_timer_.reset();
    stop_asking_again();
    // The handler goes before the descriptor: ioloop.h's rule.
    if (fd_ >= 0) loop_.remove_handler(fd_);
    fd_ = -1;
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
}

ConnectionStatus Connection::status() const {
    ConnectionStatus status;
    status.state = state_ == State::ready    ? ConnectionStatus::State::ready
                   : state_ == State::closed ? ConnectionStatus::State::closed
                                             : ConnectionStatus::State::connecting;
    status.in_flight = operations_.size();
    status.held = held_;
    status.draining = draining();
    status.tls = tls_;
    status.prepared = statements_.size();
    status.queries = queries_;
    status.server_pid = server_pid_;
    return status;
}

}  // namespace tornado::postgres::detail
