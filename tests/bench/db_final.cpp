// db_final.cpp: the page of `make bench-db` on the framework of final/:
// tornado::web and tornado::postgres's Pool, one IOLoop, coroutines.
//
//   build/bin/db_final --dsn=DSN [--pool=10] [--port=8888] [--address=127.0.0.1]
//                      [--logging=warning]
//
//   GET /page?ms=N   SELECT id, title FROM items WHERE id = $1 (a random id
//                    from 1 to 1,000), then SELECT pg_sleep($1 / 1000.0)
//                    with $1 = N (0 to 10000, default 50); answers
//                    "item 17: item number 17 (and 50 ms in pg_sleep)"
//
// The handler co_awaits each query: while PostgreSQL works, the loop
// serves everyone else. The pool keeps --pool connections open (all of
// them from the start, as the other servers of the benchmark do) and,
// once every one is busy, pipelines further queries onto them; past its
// bounds (waiters, wait_timeout) a query fails and the page is a 503.
// It prints "Listening on http://ADDRESS:PORT/" once it accepts, and stops
// on SIGINT / SIGTERM.
#include <charconv>
#include <cstdio>
#include <exception>
#include <memory>
#include <random>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/postgres.h"
#include "tornado/web.h"

namespace {

namespace postgres = tornado::postgres;

auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
auto& dsn = tornado::define("dsn", std::string(), "the database, as a libpq connection string");
auto& pool_size = tornado::define("pool", 10, "database connections, all opened at start");

constexpr int kItems = 1000;
constexpr int kMaxDelayMs = 10000;

class PageHandler : public tornado::RequestHandler {
public:
    void initialize(std::shared_ptr<postgres::Pool> db) { db_ = std::move(db); }

    tornado::Task<void> get_async(tornado::PathArgs) override {
        std::string text = get_argument("ms", "50");
        int ms = -1;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), ms);
        if (error != std::errc() || end != text.data() + text.size() || ms < 0 ||
            ms > kMaxDelayMs) {
            throw tornado::HTTPError(400, "ms must be a number from 0 to 10000");
        }
        thread_local std::minstd_rand random(std::random_device{}());
        int id = std::uniform_int_distribution<int>(1, kItems)(random);
        try {
            postgres::Result item =
                co_await db_->query("SELECT id, title FROM items WHERE id = $1", id);
            co_await db_->query("SELECT pg_sleep($1 / 1000.0)", ms);
            set_header("Content-Type", "text/plain; charset=UTF-8");
            write("item " + std::to_string(item[0].get<int>("id")) + ": " +
                  item[0].get<std::string>("title") + " (and " + std::to_string(ms) +
                  " ms in pg_sleep)\n");
        } catch (const postgres::Error& failure) {
            // The pool's queue was full or waited too long, or the server is gone: "not now".
            throw tornado::HTTPError(503, std::string("the database: ") + failure.what());
        }
    }

private:
    std::shared_ptr<postgres::Pool> db_;
};

}  // namespace

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (dsn->empty() || *pool_size < 1) {
        std::fprintf(stderr, "db_final: --dsn=CONNECTION_STRING is required, --pool at least 1\n");
        return 2;
    }
    tornado::IOLoop loop;
    std::shared_ptr<postgres::Pool> db;  // after the loop: destroyed before it
    try {
        postgres::PoolOptions options(*dsn);
        options.max_connections = static_cast<std::size_t>(*pool_size);
        options.min_connections = options.max_connections;
        db = loop.run_sync([options] { return postgres::Pool::connect(options); });
    } catch (const std::exception& error) {
        std::fprintf(stderr, "db_final: the database: %s\n", error.what());
        return 1;
    }
    tornado::Application app({{"/page", tornado::handler<PageHandler>(db)}});
    tornado::HTTPServer& server = app.listen(static_cast<std::uint16_t>(*port), *address);
    loop.install_signal_handlers();
    std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.start();
    return 0;
}
