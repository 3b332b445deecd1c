// Task 1: accept_pending() takes every waiting connection off a
// non-blocking listener and makes each one non-blocking.
#include <fcntl.h>

#include <future>
#include <vector>

#include <gtest/gtest.h>

#include "select_server.h"
#include "select_test_helpers.h"

using namespace course;
using namespace course::testing;

namespace {

FileDescriptor nonblocking_listener() {
    FileDescriptor listener = listen_tcp("127.0.0.1", 0);
    set_nonblocking(listener.get());
    return listener;
}

std::vector<FileDescriptor> connect_clients(std::uint16_t port, int count) {
    std::vector<FileDescriptor> clients;
    for (int i = 0; i < count; ++i) clients.push_back(connect_tcp("127.0.0.1", port));
    // connect() returns once the handshake is done on our side; give the
    // kernel a moment to queue the last ones on the listener too.
    std::this_thread::sleep_for(50ms);
    return clients;
}

bool is_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL, 0);
    return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

}  // namespace

TEST(Task1_AcceptPending, AcceptsEveryWaitingConnectionInOneCall) {
    FileDescriptor listener = nonblocking_listener();
    auto clients = connect_clients(local_port(listener.get()), 5);
    std::vector<AcceptedConnection> accepted = accept_pending(listener.get());
    EXPECT_EQ(accepted.size(), 5u) << "one call must drain the listener's whole queue";
    for (const AcceptedConnection& connection : accepted) {
        EXPECT_TRUE(connection.fd.valid());
        EXPECT_FALSE(connection.peer.empty());
    }
}

TEST(Task1_AcceptPending, MakesEveryConnectionNonBlocking) {
    FileDescriptor listener = nonblocking_listener();
    auto clients = connect_clients(local_port(listener.get()), 3);
    std::vector<AcceptedConnection> accepted = accept_pending(listener.get());
    ASSERT_EQ(accepted.size(), 3u);
    for (const AcceptedConnection& connection : accepted) {
        EXPECT_TRUE(is_nonblocking(connection.fd.get()))
            << "a blocking socket in a select loop stalls every other client";
    }
}

TEST(Task1_AcceptPending, ReturnsAtOnceWhenNobodyWaits) {
    FileDescriptor listener = nonblocking_listener();
    auto result = std::async(std::launch::async, [&] { return accept_pending(listener.get()); });
    if (result.wait_for(1s) != std::future_status::ready) {
        ADD_FAILURE() << "accept_pending() waited for a client instead of returning";
        // Let it return (a connection arrives), so the test ends.
        FileDescriptor nudge = connect_tcp("127.0.0.1", local_port(listener.get()));
        result.wait();
        return;
    }
    EXPECT_TRUE(result.get().empty());
}

TEST(Task1_AcceptPending, TakesLaterArrivalsOnTheNextCall) {
    FileDescriptor listener = nonblocking_listener();
    auto first = connect_clients(local_port(listener.get()), 2);
    EXPECT_EQ(accept_pending(listener.get()).size(), 2u);
    auto second = connect_clients(local_port(listener.get()), 1);
    EXPECT_EQ(accept_pending(listener.get()).size(), 1u);
    EXPECT_TRUE(accept_pending(listener.get()).empty());
}
