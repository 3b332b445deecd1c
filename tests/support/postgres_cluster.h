// postgres_cluster.h: a real PostgreSQL server for the tests (Debian's,
// through tools/pg_cluster.py), and a blocking libpq connection for the
// tests' own SQL. Shared by chapter 09's tests and final/postgres's.
//
// The cluster: under CTest, the fixture test postgres.cluster_start
// starts one for every test and TORNADO_TEST_POSTGRES_DIR names its
// directory (postgres.cluster_stop stops it). A test program run by hand
// starts its own, once per process, and stops it at exit. Without the
// server installed, the tests skip (tools/install-deps.sh build installs it).
#pragma once

#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace postgres_testing {

// Runs tools/pg_cluster.py with `arguments`; its exit status.
inline int run_cluster_script(std::vector<std::string> arguments) {
    std::vector<std::string> words{"python3", POSTGRES_CLUSTER_SCRIPT};
    words.insert(words.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (std::string& word : words) argv.push_back(word.data());
    argv.push_back(nullptr);
    // The dsn it prints would only fill the test's output.
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    int failed = ::posix_spawnp(&pid, "python3", &quiet, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (failed != 0) return -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline bool server_installed() {
    glob_t found{};
    bool any = ::glob("/usr/lib/postgresql/*/bin/postgres", 0, nullptr, &found) == 0 &&
               found.gl_pathc > 0;
    ::globfree(&found);
    return any;
}

inline std::string read_dsn(const std::string& directory) {
    std::ifstream file(directory + "/dsn");
    std::string dsn;
    std::getline(file, dsn);
    return dsn;
}

// A cluster of the test's own, in a new temporary directory: for the tests
// that stop or restart the server, and for runs by hand.
class OwnCluster {
public:
    OwnCluster() {
        char pattern[] = "/tmp/tornado-postgres-XXXXXX";
        const char* made = ::mkdtemp(pattern);
        if (made == nullptr) throw std::runtime_error("mkdtemp failed");
        directory_ = made;
    }
    ~OwnCluster() { run_cluster_script({"stop", directory_, "--remove"}); }
    OwnCluster(const OwnCluster&) = delete;
    OwnCluster& operator=(const OwnCluster&) = delete;

    // Starts it (on the port it had before, after a stop), with TLS on TCP
    // as the shared cluster has it; false if it did not start.
    bool start() {
        // --owner: should this program be killed (a test past its timeout),
        // the script's watcher stops the server and removes the directory.
        std::vector<std::string> arguments{"start", directory_, "--owner",
                                           std::to_string(::getpid())};
        if (port_ != 0) {
            arguments.push_back("--port");
            arguments.push_back(std::to_string(port_));
        }
        if (run_cluster_script(arguments) != 0) return false;
        dsn_ = read_dsn(directory_);
        port_ = std::stoi(dsn_.substr(dsn_.find("port=") + 5));
        return true;
    }
    // A fast shutdown: the server ends every session and exits.
    void stop() { run_cluster_script({"stop", directory_}); }

    const std::string& dsn() const noexcept { return dsn_; }
    const std::string& directory() const noexcept { return directory_; }
    int port() const noexcept { return port_; }

private:
    std::string directory_;
    std::string dsn_;
    int port_ = 0;
};

// The dsn of the cluster every test shares: CTest's, or one this process
// starts the first time it is asked ("" if it cannot).
inline const std::string& shared_dsn() {
    static const std::string dsn = [] {
        const char* directory = std::getenv("TORNADO_TEST_POSTGRES_DIR");
        if (directory != nullptr && *directory != '\0') return read_dsn(directory);
        static OwnCluster own;  // stopped and removed when the program exits
        return own.start() ? own.dsn() : std::string();
    }();
    return dsn;
}

// A blocking libpq connection, for the test's own SQL outside the pool.
class Inspector {
public:
    explicit Inspector(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
        // Not on stderr: "drop cascades to table x" after every test.
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    }
    ~Inspector() { PQfinish(conn_); }
    Inspector(const Inspector&) = delete;
    Inspector& operator=(const Inspector&) = delete;

    bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
    std::string error() const { return PQerrorMessage(conn_); }

    // Runs `sql`; the first column of every row. Throws on an error.
    std::vector<std::string> column(const std::string& sql) {
        std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn_, sql.c_str()), PQclear);
        ExecStatusType status = PQresultStatus(result.get());
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            throw std::runtime_error(sql + ": " + PQresultErrorMessage(result.get()));
        }
        std::vector<std::string> values;
        for (int row = 0; row < PQntuples(result.get()); ++row) {
            values.emplace_back(PQgetvalue(result.get(), row, 0));
        }
        return values;
    }
    void run(const std::string& sql) { column(sql); }
    std::string value(const std::string& sql) {
        std::vector<std::string> values = column(sql);
        return values.empty() ? "" : values.front();
    }

private:
    PGconn* conn_;
};

// The message of the exception `error` holds ("" for none).
inline std::string message_of(const std::exception_ptr& error) {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const std::exception& caught) {
        return caught.what();
    }
    return "";
}

// Whether `error` holds an E.
template <typename E>
bool holds(const std::exception_ptr& error) {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const E&) {
        return true;
    } catch (...) {
    }
    return false;
}

}  // namespace postgres_testing
