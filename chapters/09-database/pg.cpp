// pg.cpp: libpq's non-blocking calls, and the waiting they ask for done on
// the loop. The lesson (README.md) walks through it.
#include <pg.h>

#include <cstdlib>
#include <utility>

namespace course {

// --- results ---------------------------------------------------------------

int PGResult::column(std::string_view name) const {
    std::string copy(name);  // PQfnumber wants a C string
    int number = PQfnumber(result_.get(), copy.c_str());
    if (number < 0) throw std::out_of_range("no column \"" + copy + "\" in the result");
    return number;
}

std::optional<std::string_view> PGResult::get(int row, int column) const {
    if (row < 0 || row >= rows() || column < 0 || column >= columns()) {
        throw std::out_of_range("no value at row " + std::to_string(row) + ", column " +
                                std::to_string(column));
    }
    if (PQgetisnull(result_.get(), row, column)) return std::nullopt;
    return std::string_view(PQgetvalue(result_.get(), row, column),
                             PQgetlength(result_.get(), row, column));
}

std::string_view PGResult::text(int row, int column) const {
    std::optional<std::string_view> value = get(row, column);
    if (!value) {
        throw std::out_of_range(std::string("NULL in column \"") + PQfname(result_.get(), column) +
                                "\"");
    }
    return *value;
}

long PGResult::affected() const {
    const char* count = PQcmdTuples(result_.get());  // "" for a SELECT
    return *count == '\0' ? 0 : std::strtol(count, nullptr, 10);
}

// --- connecting --------------------------------------------------------------

Task<std::shared_ptr<PGConnection>> PGConnection::connect(std::string dsn,
                                                          IOLoop::Clock::duration timeout,
                                                          IOLoop& loop) {
    // PQconnectStart opens the socket and returns at once; PQconnectPoll
    // then moves the handshake on (TCP, TLS, authentication, settings) each
    // time the socket is ready for what the last call asked for.
    PGconn* started = PQconnectStart(dsn.c_str());
    if (started == nullptr) throw std::bad_alloc();
    std::shared_ptr<PGConnection> connection(new PGConnection(started, loop));
    if (PQstatus(started) == CONNECTION_BAD) throw connection->connection_error("connect");
    const IOLoop::Clock::time_point deadline = IOLoop::time() + timeout;
    // libpq's rule: before the first PQconnectPoll, wait as if it had said
    // "writing" (the socket connects, and a connected socket is writable).
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    while (status != PGRES_POLLING_OK) {
        if (status == PGRES_POLLING_FAILED) throw connection->connection_error("connect");
        std::uint32_t wanted = status == PGRES_POLLING_READING ? IOLoop::READ : IOLoop::WRITE;
        co_await connection->wait_for(wanted, deadline);
        status = PQconnectPoll(started);
    }
    // From now on PQflush, not PQsendQuery*, does the sending: a query
    // larger than the socket's buffer must never block the loop.
    if (PQsetnonblocking(started, 1) != 0) throw connection->connection_error("PQsetnonblocking");
    co_return connection;
}

PGConnection::~PGConnection() {
    // Nothing waits any more (a query holds its connection to the end), but a
    // connect that failed or timed out may leave its handler or timer.
    if (watched_fd_ >= 0) loop_.remove_handler(watched_fd_);
    if (wait_timeout_) loop_.remove_timeout(*wait_timeout_);
    PQfinish(conn_);
}

// --- waiting on the loop ---------------------------------------------------------

Future<std::uint32_t> PGConnection::wait_for(std::uint32_t events,
                                             std::optional<IOLoop::Clock::time_point> deadline) {
    Future<std::uint32_t> ready(loop_);
    int fd = PQsocket(conn_);
    if (fd < 0) {
        ready.set_exception(std::make_exception_ptr(connection_error("wait")));
        return ready;
    }
    // One wait, one registration: the handler removes itself when it runs.
    // (final/postgres keeps one registration per connection and changes its
    // interest instead, which saves two epoll_ctl calls per wait.)
    loop_.add_handler(fd, [this, ready](int ready_fd, std::uint32_t happened) {
        loop_.remove_handler(ready_fd);
        watched_fd_ = -1;
        if (wait_timeout_) loop_.remove_timeout(*std::exchange(wait_timeout_, std::nullopt));
        ready.set_result(happened);
    }, events);
    watched_fd_ = fd;
    if (deadline) {
        wait_timeout_ = loop_.call_at(*deadline, [this, ready] {
            wait_timeout_.reset();
            loop_.remove_handler(std::exchange(watched_fd_, -1));
            ready.set_exception(std::make_exception_ptr(TimeoutError("PostgreSQL did not answer in time")));
        });
    }
    return ready;
}

void PGConnection::consume_input() {
    if (!PQconsumeInput(conn_)) throw connection_error("read");
}

PGError PGConnection::connection_error(const char* what) const {
    std::string message = PQerrorMessage(conn_);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return PGError(std::string("PostgreSQL ") + what + ": " + message);
}

// --- queries -------------------------------------------------------------------------

Task<void> PGConnection::flush() {
    // PQflush: 0 when everything went to the kernel, 1 when some is still
    // queued (the socket's buffer is full), -1 on failure. Ask for WRITE
    // only while it says 1: a socket is writable nearly always, and a
    // handler that watched for WRITE with nothing to send would run on
    // every turn of the loop. READ too, because the server may answer (an
    // error, a notice) before it has read everything, and waits for its
    // own output to be read.
    for (;;) {
        int queued = PQflush(conn_);
        if (queued == 0) co_return;
        if (queued < 0) throw connection_error("write");
        std::uint32_t happened = co_await wait_for(IOLoop::READ | IOLoop::WRITE);
        if (happened & IOLoop::READ) consume_input();
    }
}

Task<void> PGConnection::wait_until_result_ready() {
    // PQisBusy: "a PQgetResult now would block". Each time the socket is
    // readable, PQconsumeInput takes what arrived into libpq's buffer.
    while (PQisBusy(conn_)) {
        co_await wait_for(IOLoop::READ);
        consume_input();
    }
}

PGError result_error(const PGresult* result) {
    std::string message = PQresultErrorMessage(result);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (message.empty()) {  // an empty query, or a result that is no error: say which, not ""
        message = std::string("PostgreSQL: a result of status ") +
                  PQresStatus(PQresultStatus(result)) + ", with no error message";
    }
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    return PGError(message, state != nullptr ? state : "");
}

namespace {

// Marks the connection busy for one query, and free again however the
// query ends (an exception included).
class BusyWhileAlive {
public:
    explicit BusyWhileAlive(bool& busy) : busy_(busy) { busy_ = true; }
    ~BusyWhileAlive() { busy_ = false; }
    BusyWhileAlive(const BusyWhileAlive&) = delete;
    BusyWhileAlive& operator=(const BusyWhileAlive&) = delete;

private:
    bool& busy_;
};

}  // namespace

Task<PGResult> PGConnection::query(std::string sql, PGParams params) {
    // The coroutine holds the connection until the answer is in: whoever
    // awaits it may drop theirs, and the loop's handler points at `this`.
    std::shared_ptr<PGConnection> self = shared_from_this();
    if (busy_) throw std::logic_error("one query at a time on a PGConnection: use a PGPool");
    BusyWhileAlive busy(busy_);
    std::vector<const char*> values;
    for (const std::optional<std::string>& param : params) {
        values.push_back(param ? param->c_str() : nullptr);
    }
    // The parameters travel apart from the SQL (the extended protocol):
    // PostgreSQL never parses a value as SQL.
    if (!PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0)) {
        throw connection_error("send");
    }
    co_await flush();
    // A query's answer is one or more results, then a null: read to the
    // null, so that the next query starts on a clean connection.
    std::optional<PGResult> answer;
    for (;;) {
        co_await wait_until_result_ready();
        PGresult* next = PQgetResult(conn_);
        if (next == nullptr) break;
        answer.emplace(next);  // the last one counts (one per statement)
    }
    if (!answer) throw connection_error("read");
    ExecStatusType status = PQresultStatus(answer->native());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        throw result_error(answer->native());
    }
    co_return std::move(*answer);
}

}  // namespace course
