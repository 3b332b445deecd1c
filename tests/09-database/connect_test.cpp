// connect_test.cpp: PGConnection::connect, libpq's handshake driven by the
// loop (task 1): over TCP and a unix socket, errors that name the cause, a
// deadline, and a loop that serves others meanwhile.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>

#include "database_fixture.h"
#include "pg.h"
#include "socket.h"

namespace course::testing {
namespace {

class Task1_Connect : public DatabaseTest {};

// A listening socket nobody accepts from: the kernel completes the TCP
// handshake, and the client then waits for a server that never speaks.
struct SilentServer {
    FileDescriptor socket{::socket(AF_INET, SOCK_STREAM, 0)};
    int port = 0;

    SilentServer() {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address);
        ::listen(socket.get(), 16);
        socklen_t length = sizeof address;
        ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &length);
        port = ntohs(address.sin_port);
    }
};

// A port with nothing listening on it: bound, then closed.
int closed_port() {
    SilentServer taken;
    int port = taken.port;
    return port;  // the socket closes here
}

// The client address PostgreSQL sees for the session of `pid`: "" over a
// unix socket. (Read from outside, so that task 1 needs no query of its own.)
std::string client_address(Inspector& sql, int pid) {
    return sql.value("SELECT coalesce(host(client_addr), '') FROM pg_stat_activity WHERE pid = " +
                     std::to_string(pid));
}

TEST_F(Task1_Connect, ConnectsAndTheSessionIsTheServers) {
    std::shared_ptr<PGConnection> db = run(PGConnection::connect(dsn()), 10s);
    ASSERT_TRUE(db);
    EXPECT_TRUE(db->ok());
    EXPECT_GT(db->backend_pid(), 0);
    EXPECT_EQ(sessions(), 1) << "the server should see this one session";
}

TEST_F(Task1_Connect, OverTCPAndOverAUnixSocket) {
    // The shared cluster listens on both: its dsn names the socket's
    // directory as host; 127.0.0.1 and the same port reach it over TCP.
    std::string port = base_dsn_.substr(base_dsn_.find("port=") + 5);
    port = port.substr(0, port.find(' '));
    std::string tcp = "host=127.0.0.1 port=" + port + " user=postgres dbname=postgres sslmode=disable";
    std::shared_ptr<PGConnection> local = run(PGConnection::connect(dsn()), 10s);
    std::shared_ptr<PGConnection> remote = run(PGConnection::connect(tcp), 10s);
    EXPECT_EQ(client_address(sql(), remote->backend_pid()), "127.0.0.1");
    EXPECT_EQ(client_address(sql(), local->backend_pid()), "") << "a unix socket has no address";
}

TEST_F(Task1_Connect, ARefusedConnectionIsAPGErrorThatSaysSo) {
    std::string refused = "host=127.0.0.1 port=" + std::to_string(closed_port()) + " dbname=x";
    std::exception_ptr error = run(failure_of(PGConnection::connect(refused)), 10s);
    ASSERT_TRUE(holds<PGError>(error)) << message_of(error);
    EXPECT_NE(message_of(error).find("refused"), std::string::npos) << message_of(error);
}

TEST_F(Task1_Connect, AnUnknownDatabaseIsThePGErrorTheServerSent) {
    std::string unknown = base_dsn_ + " dbname=no_such_database";
    std::exception_ptr error = run(failure_of(PGConnection::connect(unknown)), 10s);
    ASSERT_TRUE(holds<PGError>(error)) << message_of(error);
    EXPECT_NE(message_of(error).find("no_such_database"), std::string::npos) << message_of(error);
}

TEST_F(Task1_Connect, AServerThatNeverAnswersTimesOutAndTheLoopServesOthersMeanwhile) {
    SilentServer silent;
    std::string dsn = "host=127.0.0.1 port=" + std::to_string(silent.port) + " sslmode=disable";
    int ticks = 0;
    std::function<void()> tick = [&] {
        ++ticks;
        loop.call_later(10ms, tick);
    };
    loop.call_later(10ms, tick);
    auto started = IOLoop::time();
    std::exception_ptr error = run(failure_of(PGConnection::connect(dsn, 300ms)), 10s);
    auto waited = IOLoop::time() - started;
    EXPECT_TRUE(holds<TimeoutError>(error))
        << "a connect to a server that never answers must end at its deadline: "
        << message_of(error);
    EXPECT_GE(waited, 280ms);
    EXPECT_LT(waited, 3s);
    EXPECT_GE(ticks, 10) << "the loop was blocked while the connection waited";
}

}  // namespace
}  // namespace course::testing
