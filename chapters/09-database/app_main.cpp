// app_main.cpp: ch09_app, one page that asks PostgreSQL twice, served three
// ways, so that the lesson (and a load test) can set them side by side.
//
//   build/bin/ch09_app --dsn=DSN [--pool=10] [--max-waiting=10000] [--threads=10]
//                      [--port=8888] [--address=127.0.0.1]
//
//   GET /                     Hello, world
//   GET /page?ms=N            an item by its id (an indexed SELECT), then
//                             SELECT pg_sleep(N ms): both on one connection
//                             of the PGPool (--pool connections), on the
//                             loop; everyone else is served meanwhile. 503
//                             when --max-waiting pages already wait for a
//                             connection (0: refuse whenever none is free)
//   GET /executor?ms=N        the same with blocking libpq calls on a pool of
//                             --threads threads (run_in_executor), each with
//                             its own connection: Tornado's answer for a
//                             driver that can only block
//   GET /blocking-wrong?ms=N  the same with blocking libpq calls on the loop
//                             thread: every other client waits (the trap)
//   GET /stats                the pool's connections: open, idle, waiting
//
// N is 0 to 10000 (default 50). At start the program makes the table it
// reads (items, 1,000 rows) if it is not there. A DSN is libpq's:
// "host=127.0.0.1 port=5432 dbname=postgres", or the one
// tools/pg_cluster.py prints. Ctrl-C (SIGINT) or SIGTERM stops it.
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <coroutine_handler.h>
#include <executor.h>
#include <gen.h>
#include <pg.h>
#include <pg_pool.h>
#include <task.h>
#include "command_line.h"
#include "ioloop.h"
#include "socket.h"
#include "stop_on_signals.h"
#include "web.h"

namespace {

using course::CoroutineRequestHandler;
using course::handler;
using course::HTTPError;
using course::PathArgs;
using course::PGParams;
using course::PGResult;
using course::Task;

constexpr int kMaxDelayMs = 10000;
constexpr int kItems = 1000;

// ?ms=N, 0 to kMaxDelayMs, 50 if absent; anything else is a 400.
int delay_argument(const course::RequestHandler& handler) {
    std::string text = handler.get_argument("ms", "50");
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 0 ||
        value > kMaxDelayMs) {
        throw HTTPError(400, "ms must be a number from 0 to " + std::to_string(kMaxDelayMs));
    }
    return value;
}

std::string random_item_id() {
    thread_local std::minstd_rand random(std::random_device{}());
    return std::to_string(std::uniform_int_distribution<int>(1, kItems)(random));
}

const char* kItemQuery = "SELECT id, title FROM items WHERE id = $1";
const char* kSleepQuery = "SELECT pg_sleep($1 / 1000.0)";

std::string describe(const PGResult& item, int ms) {
    return "item " + std::string(item.text(0, "id")) + ": " + std::string(item.text(0, "title")) +
           " (and " + std::to_string(ms) + " ms in pg_sleep)\n";
}

// --- the loop's way: the chapter's pool ----------------------------------------

// A connection of the pool for the whole page; a full line is a 503 Service
// Unavailable (come back later), not the 500 of an error.
//
// One connection for both queries, not one each: the page waits in line
// once, not once per query, and once admitted it cannot be refused halfway.
Task<course::PooledConnection> connection_for_page(course::PGPool& pool) {
    try {
        co_return co_await pool.connection();
    } catch (const course::PoolFullError& full) {
        throw HTTPError(503, full.what());
    }
}

class PageHandler : public CoroutineRequestHandler {
public:
    void initialize(course::PGPool* pool) { pool_ = pool; }

    Task<void> get_async(PathArgs) override {
        int ms = delay_argument(*this);
        course::PooledConnection db = co_await connection_for_page(*pool_);
        // The parameters are named first: GCC 12 miscompiles a braced list
        // built inside a co_await expression ("array used as initializer").
        PGParams id{random_item_id()};
        PGResult item = co_await db->query(kItemQuery, std::move(id));
        PGParams delay{std::to_string(ms)};
        co_await db->query(kSleepQuery, std::move(delay));
        write(describe(item, ms));
    }

private:
    course::PGPool* pool_ = nullptr;
};

class StatsHandler : public course::RequestHandler {
public:
    void initialize(course::PGPool* pool) { pool_ = pool; }
    void get(const PathArgs&) override {
        write("open " + std::to_string(pool_->open()) + ", idle " + std::to_string(pool_->idle()) +
              ", waiting " + std::to_string(pool_->waiting()) + "\n");
    }

private:
    course::PGPool* pool_ = nullptr;
};

// --- the blocking ways ------------------------------------------------------------

// A connection whose calls block the thread that makes them: libpq's
// PQconnectdb and PQexecParams, as a driver without a non-blocking API
// (psycopg2 in its default mode, JDBC, most ORMs) does it.
class BlockingConnection {
public:
    explicit BlockingConnection(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str()), PQfinish) {
        if (PQstatus(conn_.get()) != CONNECTION_OK) {
            throw course::PGError(std::string("PostgreSQL connect: ") + PQerrorMessage(conn_.get()));
        }
    }

    PGResult exec(const char* sql, const std::string& param) {
        const char* values[] = {param.c_str()};
        PGResult result(PQexecParams(conn_.get(), sql, 1, nullptr, values, nullptr, nullptr, 0));
        ExecStatusType status = PQresultStatus(result.native());
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            throw course::PGError(PQresultErrorMessage(result.native()));
        }
        return result;
    }

private:
    std::unique_ptr<PGconn, void (*)(PGconn*)> conn_;
};

// The page, with blocking calls, on whatever thread runs it.
std::string blocking_page(BlockingConnection& db, int ms) {
    PGResult item = db.exec(kItemQuery, random_item_id());
    db.exec(kSleepQuery, std::to_string(ms));
    return describe(item, ms);
}

class ExecutorHandler : public CoroutineRequestHandler {
public:
    void initialize(course::ThreadPool* threads, const std::string* dsn) {
        threads_ = threads;
        dsn_ = dsn;
    }

    Task<void> get_async(PathArgs) override {
        int ms = delay_argument(*this);
        const std::string* dsn = dsn_;
        std::string page = co_await course::run_in_executor(*threads_, [dsn, ms] {
            // Each pool thread opens its own connection the first time, and
            // keeps it: a blocking connection serves one thread at a time.
            thread_local BlockingConnection db(*dsn);
            return blocking_page(db, ms);
        });
        write(page);
    }

private:
    course::ThreadPool* threads_ = nullptr;
    const std::string* dsn_ = nullptr;
};

// Do not do this: the calls block the loop's thread, and while PostgreSQL
// sleeps no other client is served. Here only so that the lesson and the
// benchmark can show it.
class BlockingWrongHandler : public CoroutineRequestHandler {
public:
    void initialize(BlockingConnection* db) { db_ = db; }

    Task<void> get_async(PathArgs) override {
        write(blocking_page(*db_, delay_argument(*this)));  // on the loop thread!
        co_return;
    }

private:
    BlockingConnection* db_ = nullptr;
};

class HelloHandler : public course::RequestHandler {
public:
    void get(const PathArgs&) override { write("Hello, world"); }
};

// --- start ----------------------------------------------------------------------------

struct DatabaseOptions {
    std::string dsn;
    std::size_t pool = 10;
    std::size_t max_waiting = 10000;
    std::size_t threads = 10;
};

std::size_t count_option(const char* text, const char* name, std::size_t least,
                         std::size_t most) {
    std::size_t value = 0;
    const char* end = text + std::strlen(text);
    auto [stop, error] = std::from_chars(text, end, value);
    if (error != std::errc() || stop != end || value < least || value > most) {
        std::fprintf(stderr, "ch09_app: --%s must be a number from %zu to %zu\n", name, least,
                     most);
        std::exit(2);
    }
    return value;
}

// Takes --dsn, --pool, --max-waiting and --threads out of argv; the rest is
// chapter 01's.
DatabaseOptions take_database_options(int& argc, char** argv) {
    DatabaseOptions options;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--dsn=", 6) == 0) {
            options.dsn = argv[i] + 6;
        } else if (std::strncmp(argv[i], "--pool=", 7) == 0) {
            options.pool = count_option(argv[i] + 7, "pool", 1, 1000);
        } else if (std::strncmp(argv[i], "--max-waiting=", 14) == 0) {
            options.max_waiting = count_option(argv[i] + 14, "max-waiting", 0, 1000000);
        } else if (std::strncmp(argv[i], "--threads=", 10) == 0) {
            options.threads = count_option(argv[i] + 10, "threads", 1, 1000);
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    return options;
}

// The table the page reads, made once; the program's only blocking start-up
// work, done before the loop serves anyone.
Task<void> make_items(course::PGPool& pool) {
    co_await pool.query("CREATE TABLE IF NOT EXISTS items (id integer PRIMARY KEY, title text NOT NULL)");
    PGParams count{std::to_string(kItems)};
    co_await pool.query(
        "INSERT INTO items SELECT n, 'item number ' || n FROM generate_series(1, $1::integer) n "
        "ON CONFLICT (id) DO NOTHING",
        std::move(count));
}

}  // namespace

int main(int argc, char** argv) {
    DatabaseOptions database = take_database_options(argc, argv);
    course::ServerOptions options = course::parse_server_options(
        argc, argv, {}, " --dsn=DSN [--pool=10] [--max-waiting=10000] [--threads=10]");
    if (database.dsn.empty()) {
        std::fprintf(stderr,
                     "ch09_app: --dsn=DSN is required (tools/pg_cluster.py start DIR prints one)\n");
        return 2;
    }
    try {
        course::ignore_sigpipe();
        course::IOLoop loop;
        // Before the threads: they inherit the blocked signals, so that
        // SIGINT and SIGTERM reach the loop's signalfd, not a worker.
        course::FileDescriptor signals = course::stop_on_signals(loop, "ch09_app");
        course::ThreadPool threads(database.threads);
        course::PGPool pool(database.dsn, database.pool, database.max_waiting);
        course::run_sync(loop, make_items(pool));
        BlockingConnection loop_thread_db(database.dsn);
        course::Application app({
            {"/", handler<HelloHandler>()},
            {"/page", handler<PageHandler>(&pool)},
            {"/executor", handler<ExecutorHandler>(&threads, &database.dsn)},
            {"/blocking-wrong", handler<BlockingWrongHandler>(&loop_thread_db)},
            {"/stats", handler<StatsHandler>(&pool)},
        });
        course::HTTPServer& server = app.listen(options.port, options.address, loop);
        course::announce_listening(options.address, server.port());
        loop.start();
        std::fprintf(stderr, "ch09_app: stopped\n");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "ch09_app: %s\n", error.what());
        return 1;
    }
    return 0;
}
