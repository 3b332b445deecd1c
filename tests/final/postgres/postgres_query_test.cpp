// Tests of tornado/postgres.h's queries against a real PostgreSQL server
// (postgres_test_util.h): connecting (unix socket, TCP, TLS, a host name),
// parameters sent apart from the SQL, reading values by type, the errors
// the server sends as typed exceptions, and bad input refused or answered
// with a clear error, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <sys/socket.h>

#include "postgres_test_util.h"
#include "tornado/netutil.h"

namespace tornado::postgres::testing {
namespace {

// ---- connecting --------------------------------------------------------------

TEST_F(PostgresTest, ConnectsOverTheUnixSocket) {
    open();
    run([&]() -> Task<void> {
        Result result = co_await pool_->query("SELECT 1 + 1 AS two");
        EXPECT_EQ(result.size(), 1u);
        EXPECT_EQ(result[0].get<int>("two"), 2);
    });
    PoolStatus status = pool_->status();
    ASSERT_EQ(status.connections.size(), 1u);
    EXPECT_EQ(status.connections[0].state, ConnectionStatus::State::ready);
    EXPECT_FALSE(status.connections[0].tls);
    EXPECT_GT(status.connections[0].server_pid, 0);
}

// The shared cluster listens on 127.0.0.1 too, with a certificate:
// sslmode=require gets an encrypted connection, and "localhost" is looked
// up on the executor (libpq would call getaddrinfo on the loop).
TEST_F(PostgresTest, ConnectsOverTcpWithTlsToAHostName) {
    PoolOptions tls = options();
    tls.dsn = tcp_dsn("localhost", "require");
    open(tls);
    run([&]() -> Task<void> {
        Result result = co_await pool_->query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        EXPECT_TRUE(result[0].get<bool>(0));
    });
    EXPECT_TRUE(pool_->status().connections.at(0).tls);
}

TEST_F(PostgresTest, AWrongDsnIsAUsageErrorBeforeAnythingConnects) {
    PoolOptions wrong = options();
    wrong.dsn = "host=/tmp nosuchkeyword=1";
    std::exception_ptr error = loop_.run_sync([wrong]() { return failure_of(Pool::connect(wrong)); });
    EXPECT_TRUE(holds<UsageError>(error)) << message_of(error);
    EXPECT_NE(message_of(error).find("nosuchkeyword"), std::string::npos) << message_of(error);
}

TEST_F(PostgresTest, NoServerThereIsAConnectionErrorAtConnect) {
    // A port the kernel just gave and took back: nothing listens there.
    std::uint16_t port = 0;
    {
        std::vector<FileDescriptor> sockets = bind_sockets(0, "127.0.0.1");
        port = SocketAddress::local_of(sockets.front().get()).port();
    }
    PoolOptions nowhere = options();
    nowhere.dsn = "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres";
    std::exception_ptr error = loop_.run_sync([nowhere]() { return failure_of(Pool::connect(nowhere)); }, 10s);
    EXPECT_TRUE(holds<ConnectionError>(error)) << message_of(error);
    EXPECT_NE(message_of(error).find("onnection refused"), std::string::npos) << message_of(error);
}

// A server that accepts the TCP connection and never answers the startup
// message: connect_timeout ends the wait, not libpq (which would wait on).
TEST_F(PostgresTest, AServerThatNeverAnswersTimesOutAtConnectTimeout) {
    std::vector<FileDescriptor> silent = bind_sockets(0, "127.0.0.1");
    ASSERT_EQ(::listen(silent.front().get(), 8), 0);
    std::uint16_t port = SocketAddress::local_of(silent.front().get()).port();
    PoolOptions hanging = options();
    hanging.dsn = "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres sslmode=disable";
    hanging.connect_timeout = 300ms;
    auto started = IOLoop::time();
    std::exception_ptr error = loop_.run_sync([hanging]() { return failure_of(Pool::connect(hanging)); }, 10s);
    EXPECT_TRUE(holds<ConnectionError>(error)) << message_of(error);
    EXPECT_NE(message_of(error).find("no connection within 300 ms"), std::string::npos)
        << message_of(error);
    EXPECT_GE(IOLoop::time() - started, 300ms);
}

// ---- values ---------------------------------------------------------------------

TEST_F(PostgresTest, ValuesAreReadByNameOrPositionInTheirTypes) {
    open();
    run([&]() -> Task<void> {
        Result result = co_await pool_->query(
            "SELECT 7::smallint AS small, 2147483647 AS medium, 9007199254740993::bigint AS big,"
            " 1.5::real AS single, 0.1::double precision AS double, 12.25::numeric AS money,"
            " true AS yes, false AS no, 'héllo'::text AS text, 'x'::varchar AS chars,"
            " '\\x00ff41'::bytea AS bytes, NULL::int AS nothing, 'NaN'::float8 AS nan,"
            " '-Infinity'::float8 AS minus_infinity, 42::oid AS object");
        EXPECT_EQ(result.size(), 1u);
        Row row = result.at(0);
        EXPECT_EQ(row.get<std::int16_t>("small"), 7);
        EXPECT_EQ(row.get<int>("medium"), 2147483647);
        EXPECT_EQ(row.get<std::int64_t>("big"), 9007199254740993LL);
        EXPECT_EQ(row.get<float>("single"), 1.5f);
        EXPECT_EQ(row.get<double>("double"), 0.1);
        EXPECT_EQ(row.get<double>("money"), 12.25);
        EXPECT_EQ(row.get<double>("medium"), 2147483647.0);
        EXPECT_TRUE(row.get<bool>("yes"));
        EXPECT_FALSE(row.get<bool>("no"));
        EXPECT_EQ(row.get<std::string>("text"), "héllo");
        EXPECT_EQ(row.get<std::string_view>("chars"), "x");
        EXPECT_EQ(row.get<Bytes>("bytes"), (Bytes{std::string("\0\xff" "A", 3)}));
        EXPECT_EQ(row.get<std::optional<int>>("nothing"), std::nullopt);
        EXPECT_EQ(row.get<std::optional<int>>("medium"), 2147483647);
        EXPECT_TRUE(std::isnan(row.get<double>("nan")));
        EXPECT_EQ(row.get<double>("minus_infinity"), -HUGE_VAL);
        EXPECT_EQ(row.get<unsigned>("object"), 42u);
        EXPECT_EQ(row[0].text(), "7");
        EXPECT_EQ(row[2].name(), "big");
        EXPECT_EQ(row[2].type(), 20u);  // int8
        EXPECT_TRUE(row["nothing"].is_null());
        EXPECT_EQ(result.columns(), 15u);
        EXPECT_EQ(result.column_name(1), "medium");
        EXPECT_EQ(result.column_index("yes"), 6u);
        EXPECT_EQ(result.command(), "SELECT 1");
    });
}

TEST_F(PostgresTest, AValueReadWronglyIsAUsageErrorThatNamesTheColumn) {
    open();
    run([&]() -> Task<void> {
        Result result = co_await pool_->query(
            "SELECT NULL::int AS nothing, 300 AS big, 'text' AS word, -1 AS negative");
        Row row = result[0];
        auto message = [&](auto read) {
            try {
                read();
            } catch (const UsageError& error) {
                return std::string(error.what());
            }
            return std::string("no UsageError");
        };
        EXPECT_NE(message([&] { row.get<int>("nothing"); }).find("\"nothing\" is NULL"),
                  std::string::npos);
        EXPECT_NE(message([&] { row.get<std::int8_t>("big"); }).find("300 does not fit"),
                  std::string::npos);
        EXPECT_NE(message([&] { row.get<unsigned>("negative"); }).find("-1 does not fit"),
                  std::string::npos);
        EXPECT_NE(message([&] { row.get<int>("word"); }).find("cannot be read as an integer"),
                  std::string::npos);
        EXPECT_NE(message([&] { row.get<bool>("big"); }).find("cannot be read as bool"),
                  std::string::npos);
        EXPECT_NE(message([&] { row.get<int>("missing"); }).find("no column \"missing\""),
                  std::string::npos);
        EXPECT_NE(message([&] { row[9]; }).find("past the last"), std::string::npos);
        EXPECT_NE(message([&] { result.at(1); }).find("row 1 is past the last of 1"),
                  std::string::npos);
    });
}

// A column's name is matched exactly (libpq's PQfnumber would fold case).
TEST_F(PostgresTest, ColumnNamesAreMatchedExactly) {
    open();
    run([&]() -> Task<void> {
        Result result = co_await pool_->query("SELECT 1 AS \"Title\", 2 AS title");
        EXPECT_EQ(result[0].get<int>("Title"), 1);
        EXPECT_EQ(result[0].get<int>("title"), 2);
    });
}

TEST_F(PostgresTest, ResultsIterateAsRowsThatOutliveTheResult) {
    open();
    std::vector<Row> kept;
    run([&]() -> Task<void> {
        Result result = co_await pool_->query("SELECT n, n * n AS square FROM generate_series(1, 5) n");
        std::int64_t sum = 0;
        for (const Row& row : result) {
            sum += row.get<std::int64_t>("square");
            kept.push_back(row);
        }
        EXPECT_EQ(sum, 55);
        EXPECT_EQ(result.affected_rows(), 5u);
    });
    ASSERT_EQ(kept.size(), 5u);
    EXPECT_EQ(kept[4].get<int>("n"), 5);  // the Result is gone; its rows stay valid
}

// ---- parameters -----------------------------------------------------------------

// The value travels apart from the statement: text that looks like SQL
// stays text, and the table it names is untouched.
TEST_F(PostgresTest, ParametersAreNeverSplicedIntoTheStatement) {
    sql().run("CREATE TABLE victims (name text)");
    sql().run("INSERT INTO victims VALUES ('still here')");
    open();
    std::string attack = "x'); DROP TABLE victims; --";
    run([&]() -> Task<void> {
        Result echoed = co_await pool_->query("SELECT $1::text AS value", attack);
        EXPECT_EQ(echoed[0].get<std::string>(0), attack);
        co_await pool_->execute("INSERT INTO victims VALUES ($1)", attack);
    });
    EXPECT_EQ(sql().column("SELECT name FROM victims ORDER BY name"),
              (std::vector<std::string>{"still here", attack}));
}

TEST_F(PostgresTest, ParametersOfEveryKindRoundTrip) {
    open();
    std::string every_byte;
    for (int value = 0; value < 256; ++value) every_byte += static_cast<char>(value);
    run([&]() -> Task<void> {
        std::optional<int> none;
        std::optional<std::string> some = "some";
        Result result = co_await pool_->query(
            "SELECT $1::int + 1, $2::bigint, $3::float8, $4::bool, $5::text, $6::bytea,"
            " $7::int IS NULL, $8::text, $9, $10::numeric",
            41, std::int64_t{-9007199254740993LL}, 0.1, true, std::string_view("ünïcode"),
            Bytes{every_byte}, none, some, std::nullopt, 1e300);
        Row row = result[0];
        EXPECT_EQ(row.get<int>(0), 42);
        EXPECT_EQ(row.get<std::int64_t>(1), -9007199254740993LL);
        EXPECT_EQ(row.get<double>(2), 0.1);  // the shortest text that reads back exactly
        EXPECT_TRUE(row.get<bool>(3));
        EXPECT_EQ(row.get<std::string>(4), "ünïcode");
        EXPECT_EQ(row.get<Bytes>(5).data, every_byte);
        EXPECT_TRUE(row.get<bool>(6));
        EXPECT_EQ(row.get<std::string>(7), "some");
        EXPECT_TRUE(row[8].is_null());
        EXPECT_EQ(row.get<double>(9), 1e300);
    });
}

TEST_F(PostgresTest, RuntimeParametersGoThroughQueryWith) {
    open();
    run([&]() -> Task<void> {
        std::vector<Param> params;
        for (int i = 1; i <= 3; ++i) params.emplace_back(i);
        Result result =
            co_await pool_->query_with(QueryOptions(), "SELECT $1::int + $2::int + $3::int", params);
        EXPECT_EQ(result[0].get<int>(0), 6);
    });
}

// ---- errors -----------------------------------------------------------------------

TEST_F(PostgresTest, ServerErrorsComeAsTypedExceptionsWithTheirSqlstate) {
    sql().run("CREATE TABLE users (name text CONSTRAINT users_name_key UNIQUE)");
    open();
    run([&]() -> Task<void> {
        co_await pool_->execute("INSERT INTO users VALUES ($1)", "ann");
        std::exception_ptr duplicate = co_await failure_of(pool_->execute("INSERT INTO users VALUES ($1)", "ann"));
        EXPECT_TRUE(holds<IntegrityError>(duplicate)) << message_of(duplicate);
        EXPECT_EQ(sqlstate_of(duplicate), sqlstate::unique_violation);
        try {
            std::rethrow_exception(duplicate);
        } catch (const ServerError& error) {
            EXPECT_EQ(error.fields().constraint, "users_name_key");
            EXPECT_EQ(error.fields().table, "users");
            EXPECT_NE(error.fields().detail.find("(name)=(ann) already exists"), std::string::npos);
            EXPECT_NE(std::string(error.what()).find("SQLSTATE 23505"), std::string::npos);
        }

        std::exception_ptr syntax = co_await failure_of(pool_->query("SELEC 1"));
        EXPECT_TRUE(holds<ProgrammingError>(syntax));
        EXPECT_FALSE(holds<IntegrityError>(syntax));
        EXPECT_EQ(sqlstate_of(syntax), sqlstate::syntax_error);

        std::exception_ptr missing = co_await failure_of(pool_->query("SELECT * FROM nowhere"));
        EXPECT_EQ(sqlstate_of(missing), sqlstate::undefined_table);

        std::exception_ptr zero = co_await failure_of(pool_->query("SELECT 1 / $1::int", 0));
        EXPECT_TRUE(holds<DataError>(zero));
        EXPECT_EQ(sqlstate_of(zero), sqlstate::division_by_zero);

        std::exception_ptr not_a_number = co_await failure_of(pool_->query("SELECT $1::int", "abc"));
        EXPECT_EQ(sqlstate_of(not_a_number), sqlstate::invalid_text_representation);

        // After all that the connection still serves.
        Result fine = co_await pool_->query("SELECT 1");
        EXPECT_EQ(fine[0].get<int>(0), 1);
    });
}

// Bad input: refused before it is sent (a NUL byte, which a text
// parameter cannot carry: libpq would cut the value at it), or answered by
// the server with a clear error; the connection goes on either way.
TEST_F(PostgresTest, BadInputIsAClearErrorAndTheConnectionGoesOn) {
    open();
    run([&]() -> Task<void> {
        std::exception_ptr nul =
            co_await failure_of(pool_->query("SELECT $1::text", std::string("a\0b", 3)));
        EXPECT_TRUE(holds<UsageError>(nul)) << message_of(nul);
        EXPECT_NE(message_of(nul).find("parameter $1 holds a NUL byte"), std::string::npos);

        std::exception_ptr nul_sql = co_await failure_of(pool_->query(std::string("SELECT 1\0", 9)));
        EXPECT_TRUE(holds<UsageError>(nul_sql)) << message_of(nul_sql);

        std::exception_ptr bad_utf8 = co_await failure_of(pool_->query("SELECT $1::text", "\xff\xfe"));
        EXPECT_TRUE(holds<DataError>(bad_utf8)) << message_of(bad_utf8);
        EXPECT_EQ(sqlstate_of(bad_utf8), sqlstate::character_not_in_repertoire);

        std::exception_ptr too_few = co_await failure_of(pool_->query("SELECT $1::int + $2::int", 1));
        EXPECT_EQ(sqlstate_of(too_few), sqlstate::protocol_violation) << message_of(too_few);
        EXPECT_NE(message_of(too_few).find("requires 2"), std::string::npos) << message_of(too_few);

        // One more parameter than the statement uses: the server cannot
        // tell a text parameter's type from a statement that never uses it.
        std::exception_ptr too_many = co_await failure_of(pool_->query("SELECT $1::int", 1, "extra"));
        EXPECT_EQ(sqlstate_of(too_many), "42P18") << message_of(too_many);
        EXPECT_NE(message_of(too_many).find("parameter $2"), std::string::npos) << message_of(too_many);

        std::exception_ptr empty = co_await failure_of(pool_->query(""));
        EXPECT_FALSE(empty) << message_of(empty);  // an empty statement is no error

        Result fine = co_await pool_->query("SELECT $1::int", 5);
        EXPECT_EQ(fine[0].get<int>(0), 5);
    });
    EXPECT_EQ(pool_->status().connections.size(), 1u);
    EXPECT_EQ(pool_->status().lost, 0u);
}

TEST_F(PostgresTest, ExecuteGivesTheRowsAStatementChanged) {
    sql().run("CREATE TABLE counters (id int, hits int)");
    open();
    run([&]() -> Task<void> {
        EXPECT_EQ(co_await pool_->execute("INSERT INTO counters SELECT n, 0 FROM generate_series(1, 7) n"), 7u);
        EXPECT_EQ(co_await pool_->execute("UPDATE counters SET hits = hits + 1 WHERE id > $1", 4), 3u);
        EXPECT_EQ(co_await pool_->execute("DELETE FROM counters WHERE id = $1", 99), 0u);
        Result created = co_await pool_->query("CREATE TABLE other (x int)");
        EXPECT_EQ(created.command(), "CREATE TABLE");
        EXPECT_TRUE(created.empty());
    });
}

// COPY takes a connection out of the pipeline (the server then waits for,
// or sends, data outside it): refused with a ConnectionError that says so,
// never a hang, and the pool serves on with a new connection.
TEST_F(PostgresTest, CopyIsRefusedWithoutAHang) {
    open();
    run([&]() -> Task<void> {
        std::exception_ptr out = co_await failure_of(pool_->query("COPY (SELECT 1) TO STDOUT"));
        EXPECT_TRUE(holds<ConnectionError>(out)) << message_of(out);
        EXPECT_NE(message_of(out).find("COPY is not supported"), std::string::npos) << message_of(out);
        Result after = co_await pool_->query("SELECT 2");
        EXPECT_EQ(after[0].get<int>(0), 2);
    });
}

TEST(PostgresQuoting, QuoteIdentifierDoublesQuotesAndRefusesNul) {
    EXPECT_EQ(quote_identifier("plain"), "\"plain\"");
    EXPECT_EQ(quote_identifier("a \"b\""), "\"a \"\"b\"\"\"");
    EXPECT_THROW(quote_identifier(std::string("a\0b", 3)), UsageError);
}

}  // namespace
}  // namespace tornado::postgres::testing
