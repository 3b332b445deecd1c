// blog: Tornado's blog demo (demos/blog/blog.py) on tornado::web and
// tornado::postgres. One author writes posts in Markdown; anyone reads
// them, in an archive, and as an Atom feed. README.md beside this file
// says what it shows, how to run it, and how it maps to blog.py.
//
//   build/bin/blog [--port=8888] [--address=127.0.0.1] [--dsn=CONNECTION_STRING]
//                  [--cookie_secret=KEY]
//
// `make run RUN_TARGET=blog` starts a PostgreSQL of its own for it first.
#include <sys/random.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "database.h"
#include "handlers.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/postgres.h"
#include "tornado/web.h"

namespace {

namespace postgres = tornado::postgres;
using namespace std::chrono_literals;

std::string environment_variable(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

auto& port = tornado::define("port", 8888, "run on the given port (0: any free port)");
auto& address = tornado::define("address", "127.0.0.1", "the address to listen on");
auto& dsn = tornado::define("dsn", environment_variable("TORNADO_POSTGRES_DSN"),
                            "the database, as a libpq connection string "
                            "(default: the environment's TORNADO_POSTGRES_DSN)");
auto& cookie_secret =
    tornado::define("cookie_secret", std::string(),
                    "the key that signs the login cookie (default: a random key, so every "
                    "author is signed out when the blog restarts)");

// How long start-up may wait for the database before it gives up.
constexpr auto kStartTimeout = 30s;

// 32 random bytes from the kernel, as hex: a key nobody can guess.
std::string random_secret() {
    unsigned char bytes[32];
    if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
        throw std::runtime_error("getrandom failed");
    }
    std::string hex;
    for (unsigned char byte : bytes) {
        constexpr const char* kDigits = "0123456789abcdef";
        hex += kDigits[byte >> 4];
        hex += kDigits[byte & 0xF];
    }
    return hex;
}

// The pool every request shares (blog.py's aiopg.create_pool). Each bound
// is what a page may wait for the database at most; past it the page is a
// 503 (tornado::postgres's PoolError, QueryTimeout, ConnectionError)
// rather than a browser left spinning. A server that is down fails at
// once: the pool knows it is unreachable and does not queue.
postgres::PoolOptions pool_options() {
    postgres::PoolOptions options(*dsn);
    options.max_connections = 4;
    options.wait_timeout = 3s;
    options.query_timeout = 5s;
    options.connect_timeout = 5s;
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    tornado::parse_command_line(argc, argv);
    if (dsn->empty()) {
        std::fprintf(stderr,
                     "blog: which database? Give --dsn=CONNECTION_STRING or set "
                     "TORNADO_POSTGRES_DSN (`make run RUN_TARGET=blog` starts one)\n");
        return 2;
    }
    if (*port < 0 || *port > 65535) {
        std::fprintf(stderr, "blog: --port must be 0 to 65535, not %d\n", *port);
        return 2;
    }

    tornado::IOLoop loop;
    // After the loop, so destroyed before it: the pool's connections leave
    // the loop first. The Application's routes hold the pool too.
    std::shared_ptr<postgres::Pool> db;
    try {
        db = loop.run_sync([] { return postgres::Pool::connect(pool_options()); }, kStartTimeout);
        loop.run_sync([db] { return blog::maybe_create_tables(db); }, kStartTimeout);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "blog: the database: %s\n", error.what());
        return 1;
    }
    std::string secret = *cookie_secret;
    if (secret.empty()) {
        secret = random_secret();
        tornado::app_log.warning(
            "no --cookie_secret: the login cookie is signed with a random key, "
            "so every author is signed out when the blog restarts");
    }
    tornado::Application app(blog::routes(db), blog::settings(secret));
    tornado::HTTPServer& server = app.listen(static_cast<std::uint16_t>(*port), *address);
    loop.install_signal_handlers();
    std::printf("Listening on http://%s:%u/\n", address->c_str(), unsigned{server.port()});
    std::fflush(stdout);
    loop.start();
    return 0;
}
