// pg_pipeline.h: many queries in flight on one connection (libpq's
// pipeline mode, PostgreSQL 14 and later). The exercise's extension.
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
        std::shared_ptr<PGConnection> connection = co_await PGConnection::connect(std::move(dsn),
                                                                                  std::chrono::seconds(10), loop);
        if (PQenterPipelineMode(connection->native()) != 1) {
            throw PGError(std::string("PostgreSQL pipeline mode: ") +
                          PQerrorMessage(connection->native()));
        }
        std::shared_ptr<PGPipeline> pipeline(new PGPipeline(std::move(connection), loop));
        pipeline->watch();
        co_return pipeline;
    }

    ~PGPipeline() {
        if (watched_fd_ >= 0) loop_.remove_handler(watched_fd_);
    }
    PGPipeline(const PGPipeline&) = delete;
    PGPipeline& operator=(const PGPipeline&) = delete;

    // Sends `sql` with `params` now; the Future gets its answer.
    Future<PGResult> query(std::string sql, PGParams params = {}) {
        Future<PGResult> answer(loop_);
        if (lost_) {
            answer.set_exception(lost_);
            return answer;
        }
        std::vector<const char*> values;
        for (const std::optional<std::string>& param : params) {
            values.push_back(param ? param->c_str() : nullptr);
        }
        PGconn* conn = connection_->native();
        if (!PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0) ||
            PQpipelineSync(conn) != 1) {
            answer.set_exception(std::make_exception_ptr(error("send")));
            return answer;
        }
        in_flight_.push_back(InFlight{answer, std::nullopt, nullptr});
        // While a query is in flight the pipeline holds itself, so that its
        // answers still come if the caller lets go.
        if (!hold_while_busy_) hold_while_busy_ = shared_from_this();
        flush();
        return answer;
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
        watched_fd_ = PQsocket(connection_->native());
        std::weak_ptr<PGPipeline> weak = weak_from_this();
        loop_.add_handler(watched_fd_, [weak](int, std::uint32_t events) {
            if (std::shared_ptr<PGPipeline> self = weak.lock()) self->on_events(events);
        }, IOLoop::READ);
    }

    void on_events(std::uint32_t events) {
        std::shared_ptr<PGPipeline> self = shared_from_this();  // alive to the end of this call
        if (events & IOLoop::WRITE) flush();
        if (lost_) return;
        if (events & (IOLoop::READ | IOLoop::ERROR)) {
            if (!PQconsumeInput(connection_->native())) return lose(error("read"));
            read_results();
        }
    }

    void flush() {
        int queued = PQflush(connection_->native());
        if (queued < 0) return lose(error("write"));
        std::uint32_t wanted = queued == 1 ? IOLoop::READ | IOLoop::WRITE : IOLoop::READ;
        if (wanted != interest_) {
            loop_.update_handler(watched_fd_, wanted);
            interest_ = wanted;
        }
    }

    void read_results() {
        PGconn* conn = connection_->native();
        while (!in_flight_.empty() && !PQisBusy(conn)) {
            PGresult* raw = PQgetResult(conn);
            if (raw == nullptr) continue;  // the end of one statement's results
            PGResult result(raw);
            InFlight& head = in_flight_.front();
            switch (PQresultStatus(raw)) {
                case PGRES_PIPELINE_SYNC: {  // the head query's Sync: its answer is whole
                    InFlight done = std::move(head);
                    in_flight_.pop_front();
                    if (in_flight_.empty()) hold_while_busy_.reset();  // on_events holds `self`
                    if (done.error) {
                        done.answer.set_exception(done.error);
                    } else if (done.result) {
                        done.answer.set_result(std::move(*done.result));
                    } else {
                        done.answer.set_exception(std::make_exception_ptr(PGError("PostgreSQL: no result")));
                    }
                    break;
                }
                case PGRES_TUPLES_OK:
                case PGRES_COMMAND_OK:
                    head.result = std::move(result);
                    break;
                default:  // an error, or PGRES_PIPELINE_ABORTED
                    if (!head.error) head.error = std::make_exception_ptr(result_error(raw));
                    break;
            }
        }
        if (PQstatus(conn) == CONNECTION_BAD) lose(error("read"));
    }

    // The connection is gone: every query in flight, and every later one,
    // fails with `why`.
    void lose(const PGError& why) {
        lost_ = std::make_exception_ptr(why);
        loop_.remove_handler(std::exchange(watched_fd_, -1));
        std::deque<InFlight> failed = std::move(in_flight_);
        in_flight_.clear();
        for (InFlight& query : failed) query.answer.set_exception(lost_);
        hold_while_busy_.reset();
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
