// pg.cpp (exercise): the chapter's pg.cpp with the key functions cut out,
// each marked TODO(task N). See README.md beside this file.
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
    // TODO(task 1): start the connection (PQconnectStart; nullptr means out
    // of memory, CONNECTION_BAD a dsn libpq refused) and drive PQconnectPoll
    // to PGRES_POLLING_OK, waiting with wait_for() for what each call asked
    // (READING: IOLoop::READ, WRITING: IOLoop::WRITE) before calling it
    // again, all before `timeout` from now. Rules: before the first
    // PQconnectPoll, wait as if it had said WRITING; PGRES_POLLING_FAILED is
    // a PGError naming libpq's message (connection_error); once connected,
    // PQsetnonblocking(..., 1). Hint: make hint CH=09 TASK=1.
    (void)dsn;
    (void)timeout;
    (void)loop;
    throw std::logic_error("TODO(task 1): PGConnection::connect");
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
    // TODO(task 1): a Future on loop_ that gets the events that came once
    // libpq's socket (PQsocket, looked up now: it can change while
    // connecting) is ready for `events`. One handler per wait, removed when
    // it runs; with a deadline, a timer that removes the handler and fails
    // the Future with TimeoutError instead. Whichever comes first cancels
    // the other. Keep watched_fd_ and wait_timeout_ true (the destructor
    // removes what is left). A socket of -1: the Future fails at once.
    (void)events;
    (void)deadline;
    throw std::logic_error("TODO(task 1): PGConnection::wait_for");
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
    // TODO(task 2): call PQflush until it returns 0 (all sent). While it
    // returns 1, wait for the socket to be writable, and readable too: when
    // it was readable, take the input (consume_input). -1 is a PGError.
    // Rule: never ask for WRITE when nothing is queued.
    // Hint: make hint CH=09 TASK=2.
    throw std::logic_error("TODO(task 2): PGConnection::flush");
}

Task<void> PGConnection::wait_until_result_ready() {
    // TODO(task 2): while PQisBusy says a PQgetResult would block, wait for
    // the socket to be readable and take the input (consume_input).
    throw std::logic_error("TODO(task 2): PGConnection::wait_until_result_ready");
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
class [[maybe_unused]] BusyWhileAlive {
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
    // TODO(task 2): send `sql` with `params` (PQsendQueryParams: text
    // values, nullptr for NULL), flush, then read results until PQgetResult
    // gives nullptr, and give back the last one. Rules: the coroutine keeps
    // the connection alive until it ends (shared_from_this); one query at a
    // time (a second one while busy_ is std::logic_error, and busy_ is false
    // again however the query ends: BusyWhileAlive); a failed statement is
    // result_error(...) with its SQLSTATE; no result at all is a
    // connection_error. Hint: make hint CH=09 TASK=2.
    (void)sql;
    (void)params;
    throw std::logic_error("TODO(task 2): PGConnection::query");
}

}  // namespace course
