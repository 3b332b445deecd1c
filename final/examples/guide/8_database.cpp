// The guide, step 8: a handler that queries PostgreSQL (README.md beside this file).
// Step 5 plus /notes, a page of notes kept in a table.
//
//   build/bin/guide_8_database --port=8888 --dsn="host=/run/postgresql dbname=guide"
//   curl -d text=hello http://127.0.0.1:8888/notes    -> 302 to /notes
//   curl http://127.0.0.1:8888/notes                  -> the notes, newest first
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tornado/gen.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/postgres.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

class MainHandler : public tornado::RequestHandler {
public:
    // templates/index.html escapes {{ name }}: a name of "<script>" is shown, not run.
    void get(const tornado::PathArgs&) override {
        render("index.html", {{"name", get_argument("name", "world")}, {"story_ids", {1, 2, 3}}});
    }
};

class StoryHandler : public tornado::RequestHandler {
public:
    // args[0]: what the route's group ([0-9]+) matched.
    void get(const tornado::PathArgs& args) override { write("this is story " + args[0]); }
};

class FetchHandler : public tornado::RequestHandler {
public:
    // The route's arguments (make_app()), as Tornado's initialize(upstream).
    void initialize(std::string upstream) { upstream_ = std::move(upstream); }

    // While the coroutine waits, the loop serves other requests: even the
    // upstream's own, when the upstream is this server.
    tornado::Task<void> get_async(tornado::PathArgs) override {
        tornado::AsyncHTTPClient client;
        tornado::HTTPResponse response = co_await client.fetch(upstream_, /*raise_error=*/false);
        // 599: no answer at all (refused, timed out); an upstream's 404 is an answer.
        if (response.code == 599) throw tornado::HTTPError(502, "no answer from " + upstream_);
        render("fetched.html",
               {{"url", upstream_}, {"code", response.code}, {"body", response.body}});
    }

private:
    std::string upstream_;
};

// Tornado's EchoWebSocket. The bool says whether a message was binary: the answer is text anyway.
class EchoSocket : public tornado::WebSocketHandler {
public:
    void on_message(std::string message, bool) override { write_message("You said: " + message); }
};

// The pool is made once, in main(), and every request shares it: the
// route hands it to initialize(), as Tornado's blog hands its own to every handler.
class NotesHandler : public tornado::RequestHandler {
public:
    void initialize(std::shared_ptr<tornado::postgres::Pool> db) { db_ = std::move(db); }

    // While the query is in flight the loop serves other requests, as while
    // step 4's fetch waits. A database that cannot be reached is a 503 (try
    // again later), not a 500: the code is not at fault.
    tornado::Task<void> get_async(tornado::PathArgs) override {
        std::vector<std::string> notes;
        try {
            tornado::postgres::Result rows =
                co_await db_->query("SELECT text FROM notes ORDER BY id DESC LIMIT 20");
            for (const tornado::postgres::Row& row : rows)
                notes.push_back(row.get<std::string>("text"));
        } catch (const tornado::postgres::ConnectionError& error) {
            throw tornado::HTTPError(503, error.what());
        }
        render("notes.html", {{"notes", notes}});
    }

    // The text travels as $1, apart from the SQL: whatever it holds, it stays text.
    tornado::Task<void> post_async(tornado::PathArgs) override {
        co_await db_->execute("INSERT INTO notes (text) VALUES ($1)", get_argument("text"));
        redirect("/notes");
    }

private:
    std::shared_ptr<tornado::postgres::Pool> db_;
};

// Tornado's make_app(): the routes. On the heap: an Application is neither
// copied nor moved.
std::unique_ptr<tornado::Application> make_app(const std::string& upstream,
                                               std::shared_ptr<tornado::postgres::Pool> db) {
    std::vector<tornado::URLSpec> routes = {
        {"/", tornado::handler<MainHandler>()},
        // The third field names the route, for reverse_url.
        {"/story/([0-9]+)", tornado::handler<StoryHandler>(), "story"},
        {"/fetch", tornado::handler<FetchHandler>(upstream)},
        {"/ws/echo", tornado::handler<EchoSocket>()},
        {"/notes", tornado::handler<NotesHandler>(db)},
    };
    // GUIDE_TEMPLATE_DIR, set by CMakeLists.txt, is this folder's templates/:
    // Tornado's os.path.join(os.path.dirname(__file__), "templates").
    tornado::ApplicationSettings settings{.template_path = GUIDE_TEMPLATE_DIR};
    return std::make_unique<tornado::Application>(std::move(routes), std::move(settings));
}

static auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
static auto& upstream = tornado::define("upstream", "http://127.0.0.1:8888/story/1",
                                        "the URL /fetch fetches (default: this server's story 1)");
// libpq's connection string; by default what `tools/pg_cluster.py run` sets.
static auto& dsn = tornado::define(
    "dsn",
    std::string(std::getenv("TORNADO_POSTGRES_DSN") ? std::getenv("TORNADO_POSTGRES_DSN") : ""),
    "PostgreSQL connection string (default: $TORNADO_POSTGRES_DSN, else libpq's defaults)");

// Connects, and makes the table the first time: before the server
// listens, so that a wrong --dsn stops the program at once with the reason.
tornado::Task<std::shared_ptr<tornado::postgres::Pool>> open_database(std::string connection) {
    tornado::postgres::PoolOptions options(std::move(connection));
    std::shared_ptr<tornado::postgres::Pool> db =
        co_await tornado::postgres::Pool::connect(options);
    co_await db->execute(
        "CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)");
    co_return db;
}

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    tornado::IOLoop& loop = tornado::IOLoop::current();
    std::shared_ptr<tornado::postgres::Pool> db;
    try {
        db = loop.run_sync([] { return open_database(*dsn); });
    } catch (const tornado::postgres::Error& error) {
        std::fprintf(stderr, "guide_8_database: %s\n", error.what());
        return 1;
    }
    std::unique_ptr<tornado::Application> app = make_app(*upstream, db);
    tornado::HTTPServer& server = app->listen(static_cast<std::uint16_t>(*port), "127.0.0.1");
    // --port=0 lets the system pick the port: this line names it, for scripts.
    std::printf("Listening on http://127.0.0.1:%u/\n", unsigned{server.port()});
    std::fflush(stdout);
    // Ctrl-C or SIGTERM: stop accepting, finish the requests in progress, exit 0.
    loop.install_signal_handlers();
    loop.start();
}
