// pooled_server_test.cpp: PooledServer (exercises/01-blocking-server/pooled_server.h),
// the exercise's extension task 6. Compiled against the reference solution in
// exercises/01-blocking-server/solutions/ for ch01_tests, against the
// learner's file for the exercise (course_extension in cmake/Course.cmake).
// The server serves with serve_connection, so these tests need tasks 1 to 3.
//
// They check how the pool serves, not only what it answers: threads are
// counted in /proc/self/task (one entry per thread of this process, whatever
// the server's own counters say), a peer that must wait is shown to wait, and
// a peer that must not is given a deadline. Every test talks the line echo.
#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "blocking_test_helpers.h"
#include "pooled_server.h"
#include "socket.h"
#include "test_client.h"

using namespace course;
using namespace course::testing;

namespace {

using Pool = RunningServer<PooledServer>;
using Clients = std::vector<std::unique_ptr<TestClient>>;

// The ids of this process's threads: /proc/self/task has a directory for each.
std::set<long> thread_ids() {
    std::set<long> ids;
    DIR* tasks = ::opendir("/proc/self/task");
    if (tasks == nullptr) throw_errno("opendir /proc/self/task");
    while (dirent* entry = ::readdir(tasks)) {
        if (std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) {
            ids.insert(std::stol(entry->d_name));
        }
    }
    ::closedir(tasks);
    return ids;
}

// thread_ids() before a test starts its server. It first starts and joins a
// thread of its own: a sanitizer's runtime starts a helper thread at the first
// pthread_create of the process, and that one must not be counted as the server's.
std::set<long> threads_before_the_server() {
    std::thread([] {}).join();
    return thread_ids();
}

// The threads running now that were not running at `before`. (Comparing ids,
// not counts: a thread of an earlier test may still be ending.)
std::set<long> threads_started_since(const std::set<long>& before) {
    std::set<long> started;
    for (long id : thread_ids()) {
        if (!before.contains(id)) started.insert(id);
    }
    return started;
}

// What a pool of `workers` adds to the process: its workers, and the thread
// that RunningServer runs run() on.
std::size_t pool_threads(std::size_t workers) { return workers + 1; }

// Makes close() on `fd` send RST instead of FIN (SO_LINGER with a zero
// timeout): the server's next recv() or send() on it fails with ECONNRESET.
void reset_on_close(int fd) {
    linger abort_on_close{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
}

// A peer that connects and resets at once.
void connect_and_reset(std::uint16_t port) {
    FileDescriptor fd = connect_tcp("127.0.0.1", port);
    reset_on_close(fd.get());
}

#if defined(__SANITIZE_THREAD__)  // GCC's way to say -fsanitize=thread
constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)      // Clang's
constexpr bool kThreadSanitizer = __has_feature(thread_sanitizer);
#else
constexpr bool kThreadSanitizer = false;
#endif

// While it exists, each thread of `ids` is held inside a signal handler, so
// whatever it was waiting in (accept(), recv()) waits on, whatever happens
// meanwhile: peers come and go, stop() shuts sockets down. Let go, each
// thread finds what happened. The handler is installed with SA_RESTART: the
// call it interrupted goes on as if nothing had happened.
//
// Under ThreadSanitizer it holds nothing: TSan runs a signal's handler only
// once the blocking call it arrived in has returned. The tests that use it
// then still pass on a correct server; they only catch fewer mistakes.
class HeldThreads {
public:
    explicit HeldThreads(const std::set<long>& ids) {
        if (kThreadSanitizer) return;
        held_ = 0;
        released_ = false;
        struct sigaction action {};
        action.sa_handler = [](int) {
            ++held_;
            timespec pause{0, 1'000'000};  // 1 ms; nanosleep is async-signal-safe
            while (!released_) ::nanosleep(&pause, nullptr);
            --held_;
        };
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        ::sigaction(SIGUSR2, &action, &previous_);
        for (long id : ids) ::tgkill(::getpid(), static_cast<pid_t>(id), SIGUSR2);
        if (!eventually([&] { return held_ == static_cast<int>(ids.size()); }, 2s)) {
            ADD_FAILURE() << "held " << held_ << " of " << ids.size() << " threads";
        }
    }
    ~HeldThreads() {
        if (kThreadSanitizer) return;
        released_ = true;
        eventually([] { return held_ == 0; }, 2s);  // out of the handler, then restore
        ::sigaction(SIGUSR2, &previous_, nullptr);
    }
    // False under ThreadSanitizer.
    bool holding() const { return !kThreadSanitizer; }

    HeldThreads(const HeldThreads&) = delete;
    HeldThreads& operator=(const HeldThreads&) = delete;

private:
    static inline std::atomic<int> held_{0};
    static inline std::atomic<bool> released_{false};
    struct sigaction previous_ {};
};

std::string lower_case(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// Checks that `reply` is a complete 503 that announces the close.
void expect_service_unavailable(const std::string& reply) {
    EXPECT_EQ(reply.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << reply;
    std::size_t head_end = reply.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << "no end of headers in: " << reply;
    std::string head = lower_case(reply.substr(0, head_end + 2));
    std::size_t body_size = reply.size() - (head_end + 4);
    EXPECT_NE(head.find("\r\nconnection: close\r\n"), std::string::npos) << reply;
    std::size_t length_at = head.find("\r\ncontent-length:");
    ASSERT_NE(length_at, std::string::npos) << "no Content-Length in: " << reply;
    EXPECT_EQ(std::stoul(head.substr(length_at + 17)), body_size)
        << "Content-Length must be the size of the body";
    EXPECT_GT(body_size, 0u) << "a short body that says why";
}

// CPU time this process has used, user and system.
std::chrono::microseconds cpu_time_used() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    auto micros = [](timeval t) {
        return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
    };
    return micros(usage.ru_utime) + micros(usage.ru_stime);
}

}  // namespace

// Catches: threads started when peers come (a thread per connection, workers
// started lazily, or a worker replaced after each connection).
TEST(Task6_PooledServer, StartsItsWorkersUpFrontAndNoOtherThread) {
    std::set<long> before = threads_before_the_server();
    Pool server(3, 4);
    ASSERT_TRUE(eventually([&] { return threads_started_since(before).size() == pool_threads(3); }))
        << "3 workers, started before any peer comes, and the thread running run(); have "
        << threads_started_since(before).size() << " new threads";
    std::set<long> pool = threads_started_since(before);

    for (int i = 0; i < 10; ++i) {
        TestClient visitor(server.port());
        expect_echo(visitor, "visit " + std::to_string(i) + "\n", 2s);
        EXPECT_EQ(threads_started_since(before), pool)
            << "visit " << i << " is served by a worker, not by a thread of its own";
    }
    EXPECT_EQ(threads_started_since(before), pool) << "the same workers serve every visit";
}

// Catches: a thread per connection, here or there: 40 peers must not mean 40 threads.
TEST(Task6_PooledServer, FortyClientsAreServedByFourWorkers) {
    std::set<long> before = threads_before_the_server();
    Pool server(4, 40);
    Clients clients;
    for (int i = 0; i < 40; ++i) {
        clients.push_back(std::make_unique<TestClient>(server.port()));
        clients.back()->send("client " + std::to_string(i) + "\n");
    }
    ASSERT_TRUE(eventually([&] {
        return server.server().busy_workers() == 4 && server.server().queued() == 36;
    })) << "4 served, 36 waiting; have " << server.server().busy_workers() << " busy, "
        << server.server().queued() << " queued";
    EXPECT_EQ(threads_started_since(before).size(), pool_threads(4));

    // A client leaves once it has its answer, and a worker takes the next.
    for (int i = 0; i < 40; ++i) {
        std::string line = "client " + std::to_string(i) + "\n";
        EXPECT_EQ(clients[static_cast<std::size_t>(i)]->read_until("\n", 5s), line);
        clients[static_cast<std::size_t>(i)].reset();
        EXPECT_LE(threads_started_since(before).size(), pool_threads(4)) << "after client " << i;
    }
    EXPECT_EQ(server.server().refused(), 0u) << "the queue had room for everybody";
}

// Catches: a thread per connection (the third client is served at once), and
// a worker that does not go back to the queue when its peer leaves. This is
// the lesson: two peers that never speak take a pool of two.
TEST(Task6_PooledServer, SilentPeersTakeEveryWorkerAndTheNextOneWaits) {
    Pool server(2, 4);
    auto silent_a = std::make_unique<TestClient>(server.port());
    TestClient silent_b(server.port());
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 2; }))
        << "two peers connected, two workers busy; have " << server.server().busy_workers();

    TestClient third(server.port());
    third.send("third\n");
    ASSERT_TRUE(eventually([&] { return server.server().queued() == 1; }))
        << "the third peer waits in the queue; queued: " << server.server().queued();
    EXPECT_THROW(third.read_until("\n", 300ms), TimeoutError)
        << "both workers belong to silent peers: nobody is left to serve the third";

    silent_a.reset();  // one silent peer leaves, its worker is free
    EXPECT_EQ(third.read_until("\n", 2s), "third\n") << "the freed worker takes the waiting peer";
    EXPECT_EQ(server.server().queued(), 0u);
}

// Catches: a worker that does not count itself free again when its peer
// leaves (busy_workers() only ever grows).
TEST(Task6_PooledServer, AWorkerWhosePeerLeftIsNoLongerBusy) {
    Pool server(2, 4);
    auto visitor = std::make_unique<TestClient>(server.port());
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 1; }))
        << "one peer connected, one worker busy; have " << server.server().busy_workers();
    visitor.reset();
    EXPECT_TRUE(eventually([&] { return server.server().busy_workers() == 0; }))
        << "the peer left, its worker is free again; busy: " << server.server().busy_workers();
}

// Catches: an unbounded queue (the peer waits forever, no 503), a refusal that
// closes without an answer, and a 503 that is not followed by the close.
TEST(Task6_PooledServer, RefusesWith503AtOnceWhenTheQueueIsFull) {
    Pool server(1, 1);
    auto busy = std::make_unique<TestClient>(server.port());
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 1; }));
    TestClient waiting(server.port());
    waiting.send("waiting\n");
    ASSERT_TRUE(eventually([&] { return server.server().queued() == 1; }));

    TestClient overflow(server.port());  // the worker is busy, the queue full
    std::string reply;
    try {
        reply = overflow.read_until_close(2s);  // the bytes sent, then the close
    } catch (const TimeoutError&) {
        FAIL() << "no 503 and close within 2 s: a full queue must refuse at once";
    }
    expect_service_unavailable(reply);
    EXPECT_EQ(server.server().refused(), 1u);
    EXPECT_EQ(server.server().queued(), 1u) << "the refused peer never joined the queue";

    busy.reset();
    EXPECT_EQ(waiting.read_until("\n", 2s), "waiting\n") << "the queued peer is still served";
}

// Catches: a queue served newest first (a stack), or in any order but arrival.
TEST(Task6_PooledServer, ServesQueuedPeersInTheOrderTheyCame) {
    Pool server(1, 4);
    auto blocker = std::make_unique<TestClient>(server.port());
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 1; }));
    Clients queued;
    for (std::size_t i = 1; i <= 4; ++i) {
        queued.push_back(std::make_unique<TestClient>(server.port()));
        queued.back()->send("peer " + std::to_string(i) + "\n");
        // Wait for it to be queued, so the order of arrival is certain.
        ASSERT_TRUE(eventually([&] { return server.server().queued() == i; }));
    }
    blocker.reset();
    // One worker: it keeps each peer until the peer leaves, so a peer taken
    // out of turn holds it and the one expected here is never answered.
    for (std::size_t i = 1; i <= 4; ++i) {
        std::string line = "peer " + std::to_string(i) + "\n";
        std::string got;
        EXPECT_NO_THROW(got = queued[i - 1]->read_until("\n", 2s))
            << "peer " << i << " came first among those waiting, so it is served next";
        EXPECT_EQ(got, line);
        queued[i - 1].reset();
    }
}

// Catches: workers left asleep on the condition variable by stop(): run()
// never returns (RunningServer ends the test program after 5 s rather than hang).
TEST(Task6_PooledServer, StopEndsAPoolOfIdleWorkers) {
    std::set<long> before = threads_before_the_server();
    Pool server(3, 4);
    ASSERT_TRUE(eventually([&] { return threads_started_since(before).size() == pool_threads(3); }));
    server.stop();  // waits for run(); ends the program if it has not returned within 5 s
    EXPECT_TRUE(eventually([&] { return threads_started_since(before).empty(); }, 2s))
        << "run() returns only after joining its workers; still running: "
        << threads_started_since(before).size();
}

// Catches: a stop() that leaves the queued peers connected (counting on the
// workers to close them), or a run() that returns without joining its workers.
TEST(Task6_PooledServer, StopClosesEveryConnectionAndEndsEveryThread) {
    std::set<long> before = threads_before_the_server();
    Pool server(2, 4);
    Clients served, waiting;
    for (int i = 0; i < 2; ++i) served.push_back(std::make_unique<TestClient>(server.port()));
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 2; }));
    for (int i = 0; i < 3; ++i) waiting.push_back(std::make_unique<TestClient>(server.port()));
    ASSERT_TRUE(eventually([&] { return server.server().queued() == 3; }));
    std::set<long> workers = threads_started_since(before);
    workers.erase(server.run_thread_id());
    ASSERT_EQ(workers.size(), 2u);
    {
        // Held, the workers cannot take the queued peers on their way out:
        // closing those is run()'s job.
        HeldThreads held(workers);
        server.server().stop();  // returns at once; run() ends on its own thread
        for (auto& client : waiting) {
            if (!client->closed_by_server(2s)) {
                ADD_FAILURE() << "run() must close the connections still queued when it stops";
                break;
            }
        }
        if (held.holding()) {  // run() must wait for them: 200 ms to (wrongly) return
            EXPECT_FALSE(eventually([&] { return server.returned(); }, 200ms))
                << "run() returned with its workers still running";
        }
    }
    server.stop();  // waits for run(); ends the program if it has not returned within 5 s
    for (auto& client : served) EXPECT_TRUE(client->closed_by_server(2s)) << "a served peer";
    EXPECT_TRUE(eventually([&] { return threads_started_since(before).empty(); }, 2s))
        << "run() returns only after joining its workers; still running: "
        << threads_started_since(before).size();
}

// Catches: idle workers that poll the queue in a loop instead of sleeping
// on the condition variable.
TEST(Task6_PooledServer, IdleWorkersUseNoCpu) {
    std::set<long> before = threads_before_the_server();
    Pool server(4, 4);
    ASSERT_TRUE(eventually([&] { return threads_started_since(before).size() == pool_threads(4); }));
    auto start = cpu_time_used();
    std::this_thread::sleep_for(300ms);
    auto used = cpu_time_used() - start;
    EXPECT_LT(used, 50ms) << "the process used " << used.count()
                          << " us of CPU in 300 ms with nothing to do";
}

// Catches: a worker that ends with its connection (after an error, or after
// any connection): the pool shrinks until nobody is served.
TEST(Task6_PooledServer, AWorkerGoesOnAfterAPeerThatResets) {
    Pool server(1, 4);
    {
        TestClient rude(server.port());
        rude.send("half a li");  // no end of line: the worker is reading
        ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 1; }));
        reset_on_close(rude.fd());
    }  // closed with RST: the worker's recv() fails with ECONNRESET
    for (int i = 0; i < 3; ++i) {
        TestClient next(server.port());
        expect_echo(next, "next " + std::to_string(i) + "\n", 2s);
    }
}

// Catches: a refuse() that waits for the refused peer after its 503 (reads
// until the peer closes: a "lingering close" on the accepting thread). A
// peer that reads its 503 and keeps the connection open, as a browser may,
// then holds the accepting thread, and nobody after it is accepted.
TEST(Task6_PooledServer, ARefusedPeerThatStaysConnectedDoesNotHoldTheServer) {
    Pool server(1, 1);
    auto busy = std::make_unique<TestClient>(server.port());
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 1; }));
    TestClient waiting(server.port());
    waiting.send("waiting\n");
    ASSERT_TRUE(eventually([&] { return server.server().queued() == 1; }));

    TestClient stays(server.port());  // refused: reads its 503, never closes
    EXPECT_EQ(stays.read_bytes(PooledServer::kServiceUnavailable.size(), 2s),
              PooledServer::kServiceUnavailable);
    TestClient next(server.port());   // the queue is still full: refused at once too
    std::string reply;
    try {
        reply = next.read_until_close(2s);
    } catch (const TimeoutError&) {
        FAIL() << "no 503 and close for the next peer within 2 s: refusing a peer must never "
                  "wait for that peer (the accepting thread sends the 503, closes, and accepts on)";
    }
    expect_service_unavailable(reply);

    busy.reset();
    EXPECT_EQ(waiting.read_until("\n", 2s), "waiting\n");
}

// Catches: an exception from the 503's write that escapes the accepting loop
// (a peer that reset before it was refused ends run(), and the server).
TEST(Task6_PooledServer, RefusingAPeerThatAlreadyLeftDoesNotStopTheServer) {
    Pool server(1, 1);
    auto busy = std::make_unique<TestClient>(server.port());
    ASSERT_TRUE(eventually([&] { return server.server().busy_workers() == 1; }));
    auto waiting = std::make_unique<TestClient>(server.port());
    waiting->send("waiting\n");
    ASSERT_TRUE(eventually([&] { return server.server().queued() == 1; }));

    {
        // Peers that are gone before the server accepts them: writing the
        // 503 to each fails (ECONNRESET).
        HeldThreads accepting({server.run_thread_id()});
        for (int i = 0; i < 20; ++i) connect_and_reset(server.port());
    }
    ASSERT_TRUE(eventually([&] { return server.server().refused() == 20 || server.returned(); }));
    EXPECT_FALSE(server.returned()) << "run() ended: a refused peer's error escaped";
    EXPECT_EQ(server.server().refused(), 20u);

    busy.reset();
    EXPECT_EQ(waiting->read_until("\n", 2s), "waiting\n");
    waiting.reset();
    TestClient newcomer(server.port());
    expect_echo(newcomer, "still accepting\n", 2s);
}
