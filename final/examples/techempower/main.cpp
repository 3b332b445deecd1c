// techempower: the six tests of the TechEmpower Framework Benchmarks, written
// the way a user of final/ writes a service: routes, RequestHandlers, the
// JSON and the templates the framework has, and tornado::postgres's Pool.
//
//   build/bin/techempower --dsn=DSN [--pool=1] [--processes=1] [--port=8888]
//                         [--address=127.0.0.1] [--logging=warning] [--http2]
//                         [--certfile=cert.pem --keyfile=key.pem [--http3]]
//
//   GET /plaintext          Hello, World!
//   GET /json               {"message":"Hello, World!"}
//   GET /db                 one random row of World, as {"id":..,"randomNumber":..}
//   GET /queries?queries=N  N random rows, one query each (N from 1 to 500;
//                           anything else counts as the nearest bound, or 1)
//   GET /fortunes           every row of Fortune and one added, sorted by
//                           message, as an HTML table (escaped)
//   GET /updates?queries=N  N random rows read, given new random numbers,
//                           written back in one UPDATE, then returned
//
// The database is TFB's: the tables World (10,000 rows) and Fortune (12),
// made by create-postgres.sql beside this file (README.md says how). The
// rules the tests follow are TFB's (README.md lists them): every response
// is made for its request, with its own Server and Date headers; no row is
// cached; each query is its own statement with its own Sync.
//
// With --http2 it serves HTTP/2 beside HTTP/1.1 (final/http2): to a client
// that opens with HTTP/2's preface (h2load, curl --http2-prior-knowledge)
// or asks for it with Upgrade: h2c, and by ALPN over TLS. --certfile and
// --keyfile serve HTTPS; with them, --http3 serves HTTP/3 too (final/http3),
// over UDP on the same port number, in one process.
//
// It prints "Listening on http://ADDRESS:PORT/" once it accepts, and stops
// on SIGINT / SIGTERM. With --processes=N (0: one per core) it forks N
// workers that accept on the same socket, each with a pool of its own.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tornado/escape.h"
#include "tornado/http2.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/postgres.h"
#include "tornado/process.h"
#include "tornado/web.h"
#if TORNADO_HAVE_HTTP3
#include "tornado/http3.h"
#endif

namespace {

namespace postgres = tornado::postgres;

auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
auto& dsn = tornado::define("dsn", std::string(), "the database, as a libpq connection string");
// One connection by default: the pool pipelines the queries on it, which
// costs PostgreSQL less per query than the same queries spread over more
// connections (at 256 clients of /db: 19 µs against 28 µs with four).
auto& http2 = tornado::define("http2", false, "serve HTTP/2 as well (final/http2)");
auto& http3 = tornado::define("http3", false,
                              "serve HTTP/3 as well, over UDP on the same port (final/http3; "
                              "needs --certfile, one process)");
auto& certfile = tornado::define("certfile", std::string(), "serve HTTPS: PEM certificate");
auto& keyfile = tornado::define("keyfile", std::string(), "serve HTTPS: PEM private key");
auto& pool_size = tornado::define("pool", 1, "database connections per process, opened at start");
auto& processes =
    tornado::define("processes", 1, "worker processes sharing the port (0: one per core)");

constexpr int kWorldRows = 10000;
constexpr int kMostQueries = 500;

// The process's pool. Made after the fork, in each worker (a libpq
// connection must not be shared by two processes), so that handlers reach
// it through this holder, made before.
using Database = std::shared_ptr<std::shared_ptr<postgres::Pool>>;

int random_world_id() {
    thread_local std::minstd_rand random(std::random_device{}());
    return std::uniform_int_distribution<int>(1, kWorldRows)(random);
}

// A random number other than `old`: TFB wants most rows changed by an update.
int new_random_number(int old) {
    int number = random_world_id();
    return number == old ? number % kWorldRows + 1 : number;
}

// TFB's rule for ?queries=N: a number from 1 to 500; below 1 is 1, above
// 500 is 500, and anything not a number (or absent) is 1.
int queries_argument(const tornado::RequestHandler& handler) {
    std::string text = handler.get_argument("queries", "1");
    int count = 1;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error == std::errc::result_out_of_range) return text.starts_with('-') ? 1 : kMostQueries;
    if (error != std::errc() || end != text.data() + text.size()) return 1;
    return std::clamp(count, 1, kMostQueries);
}

const char* kSelectWorld = "SELECT id, randomnumber FROM world WHERE id = $1";
// Its columns by position, as the SELECT lists them: a lookup by name
// compares the names for every row read (queries-20 reads 40 fields).
constexpr std::size_t kIdColumn = 0;
constexpr std::size_t kRandomNumberColumn = 1;

// {"id":..,"randomNumber":..}, made key by key: nlohmann's
// {{"id", ..}, {"randomNumber", ..}} builds a list of pairs first and
// copies it into the object.
tornado::JSON world(int id, int random_number) {
    tornado::JSON object = tornado::JSON::object();
    object["id"] = id;
    object["randomNumber"] = random_number;
    return object;
}

tornado::JSON world_object(const postgres::Result& rows) {
    if (rows.empty()) throw tornado::HTTPError(500, "no such row in World");
    postgres::Row row = rows[0];
    return world(row.get<int>(kIdColumn), row.get<int>(kRandomNumberColumn));
}

// `count` random rows, one SELECT each. All are sent at once: the pool
// pipelines them on its connection, each with its own Sync, and the
// answers are awaited in order.
tornado::Task<std::vector<postgres::Result>> random_worlds(postgres::Pool* db, int count) {
    std::vector<tornado::Future<postgres::Result>> sent;
    sent.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) sent.push_back(db->query(kSelectWorld, random_world_id()));
    std::vector<postgres::Result> rows;
    rows.reserve(sent.size());
    for (tornado::Future<postgres::Result>& row : sent) rows.push_back(co_await row);
    co_return rows;
}

// The rows' new numbers by id. A std::map, so in the order of the ids: the
// UPDATE then locks its rows in that order, and two requests that update
// the same rows cannot deadlock. A row drawn twice keeps its last number.
std::map<int, int> new_numbers(const std::vector<postgres::Result>& rows) {
    std::map<int, int> numbers;
    for (const postgres::Result& result : rows) {
        postgres::Row row = result[0];
        numbers[row.get<int>(kIdColumn)] = new_random_number(row.get<int>(kRandomNumberColumn));
    }
    return numbers;
}

// The ids and their numbers as two PostgreSQL arrays in text form, {1,2,3}.
std::pair<std::string, std::string> as_arrays(const std::map<int, int>& numbers) {
    std::string ids = "{";
    std::string values = "{";
    for (const auto& [id, number] : numbers) {
        if (ids.size() > 1) {
            ids += ',';
            values += ',';
        }
        ids += std::to_string(id);
        values += std::to_string(number);
    }
    return {ids + '}', values + '}'};
}

// One UPDATE for every row (TFB allows a batch here). No SELECT in its
// text: TFB counts the rows of every statement whose text says "select"
// as rows read, so a subquery here would count each updated row twice.
const char* kUpdateWorlds =
    "UPDATE world SET randomnumber = new.randomnumber "
    "FROM unnest($1::int[], $2::int[]) AS new (id, randomnumber) "
    "WHERE world.id = new.id";

// The rows in the order they were drawn, each with the number it now has.
tornado::JSON updated_worlds(const std::vector<postgres::Result>& rows,
                             const std::map<int, int>& numbers) {
    tornado::JSON worlds = tornado::JSON::array();
    for (const postgres::Result& row : rows) {
        int id = row[0].get<int>(kIdColumn);
        worlds.push_back(world(id, numbers.at(id)));
    }
    return worlds;
}

struct Fortune {
    int id;
    std::string message;
};

// What fortunes.html reads of a Fortune: the template gets the structs
// themselves (TemplateValue::rows()), with no JSON object made per row.
constexpr auto template_fields(const Fortune*) {
    return std::array{tornado::TemplateField("id", &Fortune::id),
                      tornado::TemplateField("message", &Fortune::message)};
}

// Every fortune and the one added at request time, sorted by message. Each
// column's position is looked up by its name once, not once a row.
std::vector<Fortune> sorted_fortunes(const postgres::Result& rows) {
    std::size_t id = rows.column_index("id");
    std::size_t message = rows.column_index("message");
    std::vector<Fortune> fortunes;
    fortunes.reserve(rows.size() + 1);
    for (const postgres::Row& row : rows) {
        fortunes.push_back({row.get<int>(id), row.get<std::string>(message)});
    }
    fortunes.push_back({0, "Additional fortune added at request time."});
    std::sort(fortunes.begin(), fortunes.end(),
              [](const Fortune& a, const Fortune& b) { return a.message < b.message; });
    return fortunes;
}

// A JSON value as the body, written compact ({"id":1}), as TFB's verifier
// prefers: RequestHandler::write(JSON) writes Python's json.dumps spacing
// ({"id": 1}), and takes objects only, as Tornado's does (a top-level
// array could be read by another site's script), where TFB's answers are
// often arrays. Nothing here comes from a user, so nothing needs the
// "</" escaping tornado::json_encode adds for HTML.
void write_json(tornado::RequestHandler& handler, const tornado::JSON& value) {
    handler.set_header("Content-Type", "application/json");
    handler.write(value.dump());
}

// The handlers that ask the database. A database that fails (its server
// gone, the pool's line full) is a 503, not a 500: the service is there,
// its database is not, now.
class DatabaseHandler : public tornado::RequestHandler {
public:
    void initialize(Database database) { database_ = std::move(database); }

    tornado::Task<void> get_async(tornado::PathArgs) final {
        try {
            co_await respond();
        } catch (const postgres::Error& failure) {
            throw tornado::HTTPError(503, std::string("the database: ") + failure.what());
        }
    }

protected:
    virtual tornado::Task<void> respond() = 0;
    postgres::Pool& db() { return **database_; }

private:
    Database database_;
};

// /plaintext is a function route, not a handler: the connection is
// answered directly, with no handler object, default headers or access
// log line (web.h, URLSpec), as TFB's Drogon entry answers it in a "sync
// advice", before its controllers. The connection adds Date and Server.
// TFB allows one response text for every request.
void plaintext(std::shared_ptr<tornado::HTTPServerRequest> request) {
    static const tornado::ResponseStartLine kOk{"HTTP/1.1", 200, "OK"};
    static const tornado::HTTPHeaders kHeaders{{"Content-Type", "text/plain"},
                                               {"Content-Length", "13"}};
    request->connection->write_headers(kOk, kHeaders, "Hello, World!");
    request->connection->finish();
}

class JsonHandler : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override {
        write_json(*this, {{"message", "Hello, World!"}});
    }
};

class DbHandler : public DatabaseHandler {
public:
    tornado::Task<void> respond() override {
        postgres::Result rows = co_await db().query(kSelectWorld, random_world_id());
        write_json(*this, world_object(rows));
    }
};

class QueriesHandler : public DatabaseHandler {
public:
    tornado::Task<void> respond() override {
        std::vector<postgres::Result> rows = co_await random_worlds(&db(), queries_argument(*this));
        tornado::JSON worlds = tornado::JSON::array();
        for (const postgres::Result& row : rows) worlds.push_back(world_object(row));
        write_json(*this, worlds);
    }
};

class UpdatesHandler : public DatabaseHandler {
public:
    tornado::Task<void> respond() override {
        std::vector<postgres::Result> rows = co_await random_worlds(&db(), queries_argument(*this));
        std::map<int, int> numbers = new_numbers(rows);
        std::pair<std::string, std::string> arrays = as_arrays(numbers);
        co_await db().query(kUpdateWorlds, arrays.first, arrays.second);
        write_json(*this, updated_worlds(rows, numbers));
    }
};

class FortunesHandler : public DatabaseHandler {
public:
    tornado::Task<void> respond() override {
        postgres::Result rows = co_await db().query("SELECT id, message FROM fortune");
        tornado::TemplateNamespace page;
        page.set("fortunes", tornado::TemplateValue::rows(sorted_fortunes(rows)));
        render("fortunes.html", tornado::JSON::object(), page);
    }
};

}  // namespace

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (dsn->empty() || *pool_size < 1 || *processes < 0) {
        std::fprintf(stderr,
                     "techempower: --dsn=CONNECTION_STRING is required, --pool at least 1, "
                     "--processes 0 (one per core) or more\n");
        return 2;
    }
    Database database = std::make_shared<std::shared_ptr<postgres::Pool>>();
    // No Etag: by default every 200 answer is hashed for one (Tornado's
    // compute_etag), and here it would be work for nothing: the rows are
    // random at every request, and TFB's clients never send If-None-Match.
    // TFB's own Tornado entry turns it off too.
    tornado::ApplicationSettings settings{.compute_etag = false,
                                          .template_path = TECHEMPOWER_TEMPLATE_DIR};
    tornado::Application app(
        {
            {"/plaintext", plaintext},
            {"/json", tornado::handler<JsonHandler>()},
            {"/db", tornado::handler<DbHandler>(database)},
            {"/queries", tornado::handler<QueriesHandler>(database)},
            {"/fortunes", tornado::handler<FortunesHandler>(database)},
            {"/updates", tornado::handler<UpdatesHandler>(database)},
        },
        std::move(settings));

    // Bound before any fork, so that every worker accepts on this socket.
#if !TORNADO_HAVE_HTTP3
    if (*http3) {
        std::fprintf(stderr,
                     "techempower: built without final/http3 (ngtcp2 or nghttp3 not found)\n");
        return 2;
    }
#endif
    if (*http3 && (certfile->empty() || *processes != 1)) {
        std::fprintf(stderr,
                     "techempower: --http3 needs --certfile and --keyfile, and one process\n");
        return 2;
    }
    tornado::HTTPServerOptions server_options;
    server_options.http2 = *http2;
    server_options.http3 = *http3;
    if (!certfile->empty())
        server_options.ssl_options =
            tornado::SSLOptions{.certfile = *certfile, .keyfile = *keyfile};
    tornado::HTTPServer server(app, server_options);
    server.bind(static_cast<std::uint16_t>(*port), *address);
    std::printf("Listening on %s://%s:%u/\n", certfile->empty() ? "http" : "https",
                address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    if (*processes != 1) server.start(*processes);  // returns in each worker
    tornado::IOLoop& loop = tornado::IOLoop::current();
    try {
        postgres::PoolOptions options(*dsn);
        options.max_connections = static_cast<std::size_t>(*pool_size);
        options.min_connections = options.max_connections;
        *database = loop.run_sync([options] { return postgres::Pool::connect(options); });
    } catch (const std::exception& error) {
        std::fprintf(stderr, "techempower: the database: %s\n", error.what());
        return 1;
    }
    if (*processes == 1) server.start(1);
    loop.install_signal_handlers();
    loop.start();
    return 0;
}
