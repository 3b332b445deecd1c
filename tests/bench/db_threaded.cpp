// db_threaded.cpp: the page of `make bench-db` served the way chapter 01's
// ThreadedServer serves: one thread accepts, every client connection gets
// a thread of its own, and every call blocks. Each thread also opens its
// own PostgreSQL connection when it starts (blocking libpq) and keeps it
// as long as its client stays: the naive model, one database connection
// per client connection.
//
//   build/bin/db_threaded --dsn=DSN [--port=8888] [--address=127.0.0.1]
//
//   GET /page?ms=N   SELECT id, title FROM items WHERE id = $1 (a random id
//                    from 1 to 1,000), then SELECT pg_sleep($1 / 1000.0)
//                    with $1 = N (0 to 10000, default 50); answers
//                    "item 17: item number 17 (and 50 ms in pg_sleep)"
//
// A thread whose database connection cannot be made (PostgreSQL's
// max_connections reached, say) answers 503 and closes its client's
// connection: what such a server does once there are more clients than
// the database takes. Keep-alive as HTTP/1.1 says; requests have no body.
// It prints "Listening on http://ADDRESS:PORT/" once it accepts, and dies
// of SIGTERM / SIGINT (their default action), as ch01_threaded_server does.
//
// From chapter 01 it takes the sockets (socket.h: listen, accept, read,
// write all), the command line and the model; ThreadedServer itself only
// speaks the chapter's Conversation, so the accept loop is written again
// here, a few lines, without its stop() (nothing here needs to stop it).
#include <libpq-fe.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "command_line.h"
#include "socket.h"

namespace {

constexpr int kItems = 1000;
constexpr int kMaxDelayMs = 10000;
constexpr std::size_t kMaxHead = 16 * 1024;  // a request head longer than this ends the connection
// A burst of clients (wrk opens 10,000 connections at once) must not find
// the accept queue full; the framework's servers listen with the same.
constexpr int kBacklog = 4096;

const char* kItemQuery = "SELECT id, title FROM items WHERE id = $1";
const char* kSleepQuery = "SELECT pg_sleep($1 / 1000.0)";

using Connection = std::unique_ptr<PGconn, void (*)(PGconn*)>;
using Result = std::unique_ptr<PGresult, void (*)(PGresult*)>;

// One statement with one text parameter, blocking this thread until
// PostgreSQL answers; null when it failed.
Result exec(PGconn* db, const char* sql, const std::string& param) {
    const char* values[] = {param.c_str()};
    Result result(PQexecParams(db, sql, 1, nullptr, values, nullptr, nullptr, 0), PQclear);
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return Result(nullptr, PQclear);
    return result;
}

std::string response(int status, std::string_view reason, const std::string& body,
                     bool close = false) {
    return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
           "\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: " +
           std::to_string(body.size()) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
}

// ?ms=N from the request target: 0 to kMaxDelayMs, 50 if absent, -1 if wrong.
int delay_argument(std::string_view target) {
    std::size_t at = target.find("?ms=");
    if (at == std::string_view::npos) at = target.find("&ms=");
    if (at == std::string_view::npos) return 50;
    std::string_view text = target.substr(at + 4);
    text = text.substr(0, text.find('&'));
    int value = -1;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > kMaxDelayMs) return -1;
    return value;
}

// The page: two statements on this thread's connection, each blocking it.
std::string page(PGconn* db, int ms) {
    thread_local std::minstd_rand random(std::random_device{}());
    std::string id = std::to_string(std::uniform_int_distribution<int>(1, kItems)(random));
    Result item = exec(db, kItemQuery, id);
    if (!item || PQntuples(item.get()) != 1) {
        return response(500, "Internal Server Error", std::string(PQerrorMessage(db)));
    }
    if (!exec(db, kSleepQuery, std::to_string(ms))) {
        return response(500, "Internal Server Error", std::string(PQerrorMessage(db)));
    }
    return response(200, "OK",
                    "item " + std::string(PQgetvalue(item.get(), 0, 0)) + ": " +
                        PQgetvalue(item.get(), 0, 1) + " (and " + std::to_string(ms) +
                        " ms in pg_sleep)\n");
}

bool asks_to_close(std::string_view head) {
    // Header names are case-insensitive; wrk and curl write "Connection".
    for (std::string_view name : {"\r\nConnection: close", "\r\nconnection: close"}) {
        if (head.find(name) != std::string_view::npos) return true;
    }
    return head.find(" HTTP/1.0\r\n") != std::string_view::npos &&
           head.find("eep-alive") == std::string_view::npos;
}

// One client, on its own thread, until it leaves.
void serve_client(course::FileDescriptor client, const std::string* dsn) {
    // Opened when the thread starts, kept while the client stays.
    Connection db(PQconnectdb(dsn->c_str()), PQfinish);
    bool db_ok = PQstatus(db.get()) == CONNECTION_OK;
    if (!db_ok) {
        // Said once, not once per client: past max_connections every new one fails alike.
        static std::atomic<bool> said{false};
        if (!said.exchange(true)) {
            std::fprintf(stderr,
                         "db_threaded: a database connection failed (503 to its client; "
                         "said once): %s",
                         PQerrorMessage(db.get()));
        }
    }
    std::string received;
    char buffer[4096];
    try {
        while (true) {
            std::size_t end = received.find("\r\n\r\n");
            if (end == std::string::npos) {
                if (received.size() > kMaxHead) return;
                // Waits for the client; 0: it left.
                long n = course::read_some(client.get(), buffer, sizeof buffer);
                if (n <= 0) return;
                received.append(buffer, static_cast<std::size_t>(n));
                continue;
            }
            std::string head = received.substr(0, end + 2);
            received.erase(0, end + 4);
            std::string_view line = std::string_view(head).substr(0, head.find("\r\n"));
            std::size_t space = line.find(' ');
            std::string_view target = line.substr(space + 1, line.rfind(' ') - space - 1);
            bool close = asks_to_close(head);
            if (!db_ok) {
                course::write_all(client.get(), response(503, "Service Unavailable",
                                                         "no database connection: " +
                                                             std::string(PQerrorMessage(db.get())),
                                                         true));
                return;
            }
            int ms = delay_argument(target);
            std::string answer;
            if (space == std::string_view::npos || line.substr(0, space) != "GET") {
                answer = response(405, "Method Not Allowed", "GET only\n");
            } else if (target.substr(0, target.find('?')) != "/page") {
                answer = response(404, "Not Found", "GET /page?ms=50\n");
            } else if (ms < 0) {
                answer = response(400, "Bad Request", "ms must be a number from 0 to 10000\n");
            } else {
                answer = page(db.get(), ms);  // blocks this thread for the page's queries
            }
            course::write_all(client.get(), answer);
            if (close) return;
            db_ok = PQstatus(db.get()) == CONNECTION_OK;  // lost? the next request says so
        }
    } catch (const std::exception&) {
        // The client went away mid-answer: its thread ends, nobody else notices.
    }
}

}  // namespace

int main(int argc, char** argv) {
    // --dsn is ours; the rest is chapter 01's command line.
    std::string dsn;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--dsn=", 6) == 0) {
            dsn = argv[i] + 6;
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    if (dsn.empty()) {
        std::fprintf(stderr, "db_threaded: --dsn=DSN is required\n");
        return 2;
    }
    course::ServerOptions options = course::parse_server_options(argc, argv);
    try {
        course::ignore_sigpipe();
        // A descriptor per client, and one per database connection.
        course::raise_open_file_limit();
        course::FileDescriptor listener =
            course::listen_tcp(options.address, options.port, kBacklog);
        course::announce_listening(options.address, course::local_port(listener.get()));
        while (true) {
            course::AcceptedConnection client;
            try {
                client = course::accept_connection(listener.get());
            } catch (const std::system_error& error) {
                int code = error.code().value();
                if (code != EMFILE && code != ENFILE && code != ENOBUFS && code != ENOMEM) throw;
                // Out of descriptors: the client waits in the backlog (as ch01's accept_next).
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            try {
                // A thread per client, never joined: it ends when its client leaves.
                std::thread(serve_client, std::move(client.fd), &dsn).detach();
            } catch (const std::system_error& error) {
                std::fprintf(stderr, "db_threaded: no thread for %s: %s\n", client.peer.c_str(),
                             error.what());
            }
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "db_threaded: %s\n", error.what());
        return 1;
    }
}
