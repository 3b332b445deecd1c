// Tests for tornado/process.h. The multi-process test runs the supervisor in
// a fresh process (this test binary again, with one hidden test selected),
// so that no IOLoop or thread of this process is copied into the workers.
#include "tornado/process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include "net_test_util.h"
#include "tornado/ioloop.h"
#include "tornado/tcpserver.h"

namespace {

using namespace std::chrono_literals;
using tornado::IOStream;
using tornado::SocketAddress;

constexpr const char* kReportFdVariable = "TORNADO_TEST_FORK_REPORT_FD";

TEST(Process, CpuCountIsAtLeastOne) {
    EXPECT_GE(tornado::cpu_count(), 1);
    EXPECT_LE(tornado::cpu_count(), ::sysconf(_SC_NPROCESSORS_CONF));
}

TEST(Process, NoTaskIdWithoutForking) {
    EXPECT_FALSE(tornado::task_id().has_value());
}

TEST(Process, ForkingWithAnIOLoopAlreadyMadeIsRefused) {
    tornado::IOLoop loop;
    EXPECT_THROW(tornado::fork_processes(2), std::logic_error);
    EXPECT_FALSE(tornado::task_id().has_value());  // nothing was forked
}

// The supervisor's side, run only by the test below in a process of its
// own: bind, report the port, fork two workers; each answers every
// connection with its task id and pid, and stops on SIGTERM.
TEST(ForkProcessesHelper, DISABLED_Supervisor) {
    const char* report = std::getenv(kReportFdVariable);
    if (report == nullptr) GTEST_SKIP() << "run by ForkProcesses.TwoWorkersShareTheSocket";
    int report_fd = std::atoi(report);
    tornado::TCPServer server([](std::shared_ptr<IOStream> stream, SocketAddress) {
        stream->write("task=" + std::to_string(tornado::task_id().value_or(-1)) +
                      " pid=" + std::to_string(::getpid()) + "\n");
        stream->close();
    });
    server.bind(0, "127.0.0.1");
    std::string port = std::to_string(server.port()) + "\n";
    ASSERT_EQ(::write(report_fd, port.data(), port.size()), static_cast<ssize_t>(port.size()));
    ::close(report_fd);
    server.start(2);  // the supervisor never comes back from here
    tornado::IOLoop& loop = tornado::IOLoop::current();
    loop.install_signal_handlers(std::chrono::seconds(2));
    loop.start();
    std::exit(0);
}

// Kills the whole process group on the way out, whatever happened.
struct ProcessGroup {
    pid_t leader;
    ~ProcessGroup() {
        ::kill(-leader, SIGKILL);
        ::waitpid(leader, nullptr, WNOHANG);
    }
};

// "task=1 pid=1234" from one connection to the workers.
std::pair<int, pid_t> ask_worker(std::uint16_t port) {
    tornado::FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    SocketAddress address = SocketAddress::from_ip("127.0.0.1", port);
    if (::connect(client.get(), address.data(), address.size()) < 0) return {-1, 0};
    std::string reply = tornado::testing::recv_until_close(client.get(), 5s);
    int task = -1;
    long pid = 0;
    if (std::sscanf(reply.c_str(), "task=%d pid=%ld", &task, &pid) != 2) return {-1, 0};
    return {task, static_cast<pid_t>(pid)};
}

TEST(ForkProcesses, TwoWorkersShareTheSocketAreRestartedAndStop) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    tornado::FileDescriptor report_read(pipe_fds[0]);
    pid_t supervisor = ::fork();
    ASSERT_GE(supervisor, 0);
    if (supervisor == 0) {
        ::setpgid(0, 0);
        ::close(pipe_fds[0]);
        ::setenv(kReportFdVariable, std::to_string(pipe_fds[1]).c_str(), 1);
        // A leak report at a worker's exit would look like a crash to the supervisor.
        ::setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        ::execl("/proc/self/exe", "final_tests", "--gtest_filter=ForkProcessesHelper.DISABLED_Supervisor",
                "--gtest_also_run_disabled_tests", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::setpgid(supervisor, supervisor);
    ProcessGroup group{supervisor};
    ::close(pipe_fds[1]);

    ASSERT_TRUE(tornado::testing::wait_readable(report_read.get(), 30s)) << "no port reported";
    char line[16] = {};
    ASSERT_GT(::read(report_read.get(), line, sizeof line - 1), 0);
    std::uint16_t port = static_cast<std::uint16_t>(std::atoi(line));
    ASSERT_NE(port, 0);

    // Both workers answer on the one socket they share.
    std::map<int, pid_t> workers;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (workers.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        auto [task, pid] = ask_worker(port);
        if (task >= 0) workers[task] = pid;
    }
    ASSERT_EQ(workers.size(), 2u);
    EXPECT_TRUE(workers.count(0) && workers.count(1));
    EXPECT_NE(workers[0], workers[1]);
    EXPECT_NE(workers[0], supervisor);

    // A worker that dies is replaced, with the same task id.
    pid_t killed = workers[0];
    ASSERT_EQ(::kill(killed, SIGKILL), 0);
    pid_t replacement = 0;
    deadline = std::chrono::steady_clock::now() + 30s;
    while (replacement == 0 && std::chrono::steady_clock::now() < deadline) {
        auto [task, pid] = ask_worker(port);
        if (task == 0 && pid != killed) replacement = pid;
    }
    ASSERT_NE(replacement, 0) << "task 0 was not restarted";

    // SIGTERM to the supervisor stops the workers, then the supervisor.
    ASSERT_EQ(::kill(supervisor, SIGTERM), 0);
    int status = 0;
    pid_t done = 0;
    deadline = std::chrono::steady_clock::now() + 30s;
    while (done == 0 && std::chrono::steady_clock::now() < deadline) {
        done = ::waitpid(supervisor, &status, WNOHANG);
        if (done == 0) std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(done, supervisor) << "the supervisor did not exit";
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(::kill(replacement, 0), -1);  // reaped, gone
    EXPECT_EQ(::kill(workers[1], 0), -1);
}

constexpr const char* kWorkerExitVariable = "TORNADO_TEST_FORK_WORKER_EXIT";

// The supervisor's side of the two tests below, run in a process of its
// own: two workers (at most 3 restarts) that exit at once with the status
// in kWorkerExitVariable. 42 says the supervisor gave up, 5 that
// fork_processes returned in the supervisor.
TEST(ForkProcessesHelper, DISABLED_ShortLivedWorkers) {
    const char* worker_exit = std::getenv(kWorkerExitVariable);
    if (worker_exit == nullptr) GTEST_SKIP() << "run by the ForkProcesses tests below";
    pid_t supervisor = ::getpid();
    try {
        tornado::fork_processes(2, 3);
    } catch (const std::runtime_error&) {
        ::_exit(42);
    }
    ::_exit(::getpid() == supervisor ? 5 : std::atoi(worker_exit));
}

// The helper's wait status, its workers exiting with `worker_exit`; -1 if
// it has not ended after 30 seconds.
int run_short_lived_workers(const char* worker_exit) {
    pid_t supervisor = ::fork();
    if (supervisor == 0) {
        ::setpgid(0, 0);
        ::setenv(kWorkerExitVariable, worker_exit, 1);
        ::setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        ::execl("/proc/self/exe", "final_tests",
                "--gtest_filter=ForkProcessesHelper.DISABLED_ShortLivedWorkers",
                "--gtest_also_run_disabled_tests", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    if (supervisor < 0) return -1;
    ::setpgid(supervisor, supervisor);
    ProcessGroup group{supervisor};
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(supervisor, &status, WNOHANG) == supervisor) return status;
        std::this_thread::sleep_for(10ms);
    }
    return -1;
}

TEST(ForkProcesses, WorkersThatExitNormallyEndTheSupervisorWithStatus0) {
    int status = run_short_lived_workers("0");
    ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ForkProcesses, TooManyRestartsMakeTheSupervisorGiveUp) {
    int status = run_short_lived_workers("3");
    ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
    EXPECT_EQ(WEXITSTATUS(status), 42);
}

}  // namespace
