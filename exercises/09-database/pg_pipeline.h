// pg_pipeline.h (exercise, task 4, the extension): many queries in flight
// on one connection (libpq's pipeline mode, PostgreSQL 14 and later). The
// comment below is the contract; every body is yours to write. A reference
// solution is in solutions/pg_pipeline.h.
//
//   std::shared_ptr<PGPipeline> db = co_await PGPipeline::connect(dsn);
//   Future<PGResult> a = db->query("SELECT 1");       // sent at once
//   Future<PGResult> b = db->query("SELECT 2");       // sent at once too
//   PGResult first = co_await a;                       // answers in order
//
// A PGConnection sends a query, waits for its answer, and only then can
// send the next: one round trip per query, and a pool to serve many
// requests. In pipeline mode a connection sends each query as it comes,
// without waiting for the answers before it; the server answers them in
// the order they were sent. One connection then serves every request of a
// process, as Drogon and final/postgres do.
//
// The rules, which the tests check:
//
// * query() does not wait: it queues the query (PQsendQueryParams, then
//   PQpipelineSync), flushes what it can, and returns a Future that the
//   query's answer resolves. Answers come in the order queries were made.
// * A query's answer, as PQgetResult gives it: its result (rows, or its
//   error), then a null (the end of that statement), then a result of
//   status PGRES_PIPELINE_SYNC for its Sync. Only the Sync says the
//   query is over: its Future is resolved there, with the rows or the
//   error that came before it. The null and the Sync are no errors.
// * One Sync per query: a failed query fails its own Future with its
//   PGError, and the queries after it run as if nothing happened. (With
//   one Sync for several queries, the server would skip the rest after a
//   failure: PGRES_PIPELINE_ABORTED.)
// * One handler on the socket for the pipeline's whole life, always
//   watching READ, and WRITE only while PQflush says output is queued
//   (watched with nothing to send, the loop would spin).
// * The connection lost (the server ended the session): every query in
//   flight fails with a PGError, and so does every later query.
// * The queries in flight keep the pipeline alive: the caller may drop its
//   shared_ptr and still await their Futures.
#pragma once

#include <deque>
#include <stdexcept>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pg.h>

namespace course {

class PGPipeline : public std::enable_shared_from_this<PGPipeline> {
public:
    // Connects (PGConnection::connect) and puts the connection in pipeline mode.
    static Task<std::shared_ptr<PGPipeline>> connect(std::string dsn,
                                                     IOLoop& loop = IOLoop::current()) {
        // TODO(task 4): PGConnection::connect, then PQenterPipelineMode on
        // its native() handle (not 1: a PGError), then a PGPipeline that
        // starts watching its socket. Hint: make hint CH=09 TASK=4.
        (void)dsn;
        (void)loop;
        throw std::logic_error("TODO(task 4): PGPipeline::connect");
    }

    ~PGPipeline() {
        if (watched_fd_ >= 0) loop_.remove_handler(watched_fd_);
    }
    PGPipeline(const PGPipeline&) = delete;
    PGPipeline& operator=(const PGPipeline&) = delete;

    // Sends `sql` with `params` now; the Future gets its answer.
    Future<PGResult> query(std::string sql, PGParams params = {}) {
        // TODO(task 4): queue the query and its Sync, remember its Future in
        // line, flush what can go now, and return the Future. A lost
        // pipeline fails the Future at once.
        (void)sql;
        (void)params;
        throw std::logic_error("TODO(task 4): PGPipeline::query");
    }

    // Queries sent whose answers have not come yet.
    std::size_t in_flight() const noexcept { return in_flight_.size(); }

private:
    struct InFlight {
        Future<PGResult> answer;
        std::optional<PGResult> result;
        std::exception_ptr error;
    };

    PGPipeline(std::shared_ptr<PGConnection> connection, IOLoop& loop)
        : connection_(std::move(connection)), loop_(loop) {}

    PGError error(const char* what) const {
        std::string message = PQerrorMessage(connection_->native());
        while (!message.empty() && message.back() == '\n') message.pop_back();
        return PGError(std::string("PostgreSQL ") + what + ": " + message);
    }

    // One handler for the pipeline's life. It holds a weak_ptr: the loop
    // must not keep a pipeline nobody uses alive.
    void watch() {
        // TODO(task 4): one handler on the socket for the pipeline's life,
        // watching READ; it must not keep the pipeline alive by itself.
        throw std::logic_error("TODO(task 4): PGPipeline::watch");
    }

    void on_events(std::uint32_t events) {
        // TODO(task 4): WRITE: flush. READ (or ERROR): take the input
        // (PQconsumeInput; failure loses the connection) and read results.
        (void)events;
        throw std::logic_error("TODO(task 4): PGPipeline::on_events");
    }

    void flush() {
        // TODO(task 4): PQflush; watch WRITE as well as READ only while it
        // says output is still queued.
        throw std::logic_error("TODO(task 4): PGPipeline::flush");
    }

    void read_results() {
        // TODO(task 4): while a query is in line and PQisBusy says no: take
        // the next result. PGRES_PIPELINE_SYNC ends the first query in line:
        // resolve its Future with its rows, or fail it with its error.
        throw std::logic_error("TODO(task 4): PGPipeline::read_results");
    }

    // The connection is gone: every query in flight, and every later one,
    // fails with `why`.
    void lose(const PGError& why) {
        // TODO(task 4): every query in line, and every later one, fails
        // with `why`; the handler goes.
        (void)why;
        throw std::logic_error("TODO(task 4): PGPipeline::lose");
    }

    std::shared_ptr<PGConnection> connection_;
    IOLoop& loop_;
    int watched_fd_ = -1;
    std::uint32_t interest_ = IOLoop::READ;
    std::deque<InFlight> in_flight_;
    std::exception_ptr lost_;
    std::shared_ptr<PGPipeline> hold_while_busy_;
};

}  // namespace course
