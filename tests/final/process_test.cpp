// Tests for tornado/process.h. The multi-process test runs the supervisor in
// a fresh process (this test binary again, with one hidden test selected),
// so that no IOLoop or thread of this process is copied into the workers.
// The Subprocess tests run small programs every Debian system has (cat, sh,
// sleep, true).
#include "tornado/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "net_test_util.h"
#include "test_util.h"
#include "tornado/gen.h"
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

// --- Subprocess ------------------------------------------------------------------

using tornado::CalledProcessError;
using tornado::Future;
using tornado::IOLoop;
using tornado::PipeIOStream;
using tornado::StreamClosedError;
using tornado::Subprocess;
using tornado::Task;

constexpr auto kSubprocessTimeout = std::chrono::seconds(10);

// True once `pid` is no process at all: exited and reaped (a zombie still
// answers kill(pid, 0)).
bool process_gone(pid_t pid) { return ::kill(pid, 0) < 0 && errno == ESRCH; }

// This process's children (from /proc: each one's stat names its parent),
// zombies included.
std::vector<pid_t> children_of_this_process() {
    std::vector<pid_t> children;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return children;
    while (dirent* entry = ::readdir(proc)) {
        pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
        if (pid <= 0) continue;
        std::string stat = tornado::testing::read_file("/proc/" + std::to_string(pid) + "/stat");
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        std::size_t after_name = stat.rfind(')');
        if (after_name == std::string::npos) continue;
        char state = 0;
        int parent = 0;
        if (std::sscanf(stat.c_str() + after_name + 1, " %c %d", &state, &parent) == 2 &&
            parent == ::getpid()) {
            children.push_back(pid);
        }
    }
    ::closedir(proc);
    return children;
}

// The exception a Future failed with, rethrown as E (or a test failure).
template <typename E, typename T>
E failure_of(Future<T>& future) {
    try {
        future.result();
    } catch (const E& error) {
        return error;
    }
    throw std::runtime_error("the Future did not fail with the expected exception");
}

// Each Subprocess test has its loop; the SIGCHLD handler follows it.
class SubprocessTest : public ::testing::Test {
protected:
    IOLoop loop;
};

TEST_F(SubprocessTest, EchoesThroughCat) {
    Subprocess cat({"cat"}, {.stdin = Subprocess::STREAM, .stdout = Subprocess::STREAM});
    ASSERT_NE(cat.stdin(), nullptr);
    ASSERT_NE(cat.stdout(), nullptr);
    EXPECT_EQ(cat.stderr(), nullptr);
    EXPECT_GT(cat.pid(), 0);
    auto [echoed, status] = loop.run_sync([&]() -> Task<std::pair<std::string, int>> {
        co_await cat.stdin()->write("hello\n");
        co_await cat.stdin()->write("world\n");
        cat.stdin()->close();  // cat's end of file
        std::string out = co_await cat.stdout()->read_until_close();
        int code = co_await cat.wait_for_exit();
        co_return std::pair(out, code);
    }, kSubprocessTimeout);
    EXPECT_EQ(echoed, "hello\nworld\n");
    EXPECT_EQ(status, 0);
    EXPECT_EQ(cat.returncode(), 0);
    EXPECT_TRUE(cat.stdout()->closed());
    EXPECT_TRUE(process_gone(cat.pid()));  // reaped: no zombie
}

TEST_F(SubprocessTest, ReadsLineByLineWhileTheChildRuns) {
    Subprocess cat({"cat"}, {.stdin = Subprocess::STREAM, .stdout = Subprocess::STREAM});
    auto lines = loop.run_sync([&]() -> Task<std::vector<std::string>> {
        std::vector<std::string> got;
        for (const char* line : {"one\n", "two\n", "three\n"}) {
            co_await cat.stdin()->write(line);
            got.push_back(co_await cat.stdout()->read_until("\n"));
        }
        cat.stdin()->close();
        co_await cat.wait_for_exit();
        co_return got;
    }, kSubprocessTimeout);
    EXPECT_EQ(lines, (std::vector<std::string>{"one\n", "two\n", "three\n"}));
}

TEST_F(SubprocessTest, ExitStatusesAreReturnedAsPythonsReturncode) {
    Subprocess success({"true"});
    Subprocess three({"sh", "-c", "exit 3"});
    Subprocess sleeper({"sleep", "30"});
    auto codes = loop.run_sync([&]() -> Task<std::vector<int>> {
        sleeper.send_signal(SIGTERM);
        std::vector<int> got;
        got.push_back(co_await success.wait_for_exit(false));
        got.push_back(co_await three.wait_for_exit(false));
        got.push_back(co_await sleeper.wait_for_exit(false));
        co_return got;
    }, kSubprocessTimeout);
    EXPECT_EQ(codes, (std::vector<int>{0, 3, -SIGTERM}));
    EXPECT_EQ(sleeper.returncode(), -15);
    for (pid_t pid : {success.pid(), three.pid(), sleeper.pid()}) EXPECT_TRUE(process_gone(pid));
}

TEST_F(SubprocessTest, WaitForExitRaisesCalledProcessErrorForANonZeroStatus) {
    Subprocess three({"sh", "-c", "exit 3"});
    Future<int> failed = three.wait_for_exit();
    loop.run_sync([&] { return three.wait_for_exit(false); }, kSubprocessTimeout);
    ASSERT_TRUE(failed.done());
    auto error = failure_of<CalledProcessError>(failed);
    EXPECT_EQ(error.returncode(), 3);
    EXPECT_EQ(error.cmd(), (std::vector<std::string>{"sh", "-c", "exit 3"}));
    EXPECT_STREQ(error.what(), "Command 'sh -c exit 3' returned non-zero exit status 3.");

    // Killed by a signal: minus the signal, named in the message.
    Subprocess sleeper({"sleep", "30"});
    ::kill(sleeper.pid(), SIGKILL);
    Future<int> killed = sleeper.wait_for_exit();
    loop.run_sync([&] { return sleeper.wait_for_exit(false); }, kSubprocessTimeout);
    auto died = failure_of<CalledProcessError>(killed);
    EXPECT_EQ(died.returncode(), -SIGKILL);
    EXPECT_STREQ(died.what(), "Command 'sleep 30' died with SIGKILL (signal 9).");

    // Exit 0 raises nothing; after the exit, the Future comes back done.
    Subprocess success({"true"});
    EXPECT_EQ(loop.run_sync([&] { return success.wait_for_exit(); }, kSubprocessTimeout), 0);
    Future<int> again = success.wait_for_exit();
    ASSERT_TRUE(again.done());
    EXPECT_EQ(again.result(), 0);
}

TEST_F(SubprocessTest, TheExitCallbackRunsOnceFromTheLoop) {
    Subprocess child({"sh", "-c", "exit 7"});
    std::vector<int> calls;
    child.set_exit_callback([&](int code) { calls.push_back(code); });
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return !calls.empty(); }));
    tornado::testing::run_turns(loop, 5);
    EXPECT_EQ(calls, (std::vector<int>{7}));

    // Set after the exit: it still runs, once, at the next turn (not inside
    // the call).
    child.set_exit_callback([&](int code) { calls.push_back(code + 100); });
    EXPECT_EQ(calls.size(), 1u);
    tornado::testing::run_turns(loop, 3);
    EXPECT_EQ(calls, (std::vector<int>{7, 107}));
}

TEST_F(SubprocessTest, TheExitCallbackAndWaitForExitBothHearOfTheExit) {
    Subprocess child({"sh", "-c", "exit 2"});
    int called_with = -1;
    child.set_exit_callback([&](int code) { called_with = code; });
    int waited = loop.run_sync([&] { return child.wait_for_exit(false); }, kSubprocessTimeout);
    tornado::testing::run_turns(loop, 2);
    EXPECT_EQ(waited, 2);
    EXPECT_EQ(called_with, 2);
}

TEST_F(SubprocessTest, StderrIsAStreamOfItsOwn) {
    Subprocess child({"sh", "-c", "echo out; echo err >&2; echo more-out; exit 1"},
                     {.stdout = Subprocess::STREAM, .stderr = Subprocess::STREAM});
    auto [out, err, code] = loop.run_sync([&]() -> Task<std::tuple<std::string, std::string, int>> {
        // Both at once: a child blocked on a full pipe nobody reads would
        // never exit.
        Future<std::string> out_future = child.stdout()->read_until_close();
        Future<std::string> err_future = child.stderr()->read_until_close();
        std::string out_text = co_await out_future;
        std::string err_text = co_await err_future;
        int status = co_await child.wait_for_exit(false);
        co_return std::tuple(out_text, err_text, status);
    }, kSubprocessTimeout);
    EXPECT_EQ(out, "out\nmore-out\n");
    EXPECT_EQ(err, "err\n");
    EXPECT_EQ(code, 1);
}

TEST_F(SubprocessTest, StderrCanGoWhereStdoutGoes) {
    Subprocess child({"sh", "-c", "echo out; echo err >&2"},
                     {.stdout = Subprocess::STREAM, .stderr = Subprocess::STDOUT});
    EXPECT_EQ(child.stderr(), nullptr);
    std::string both = loop.run_sync([&] { return child.stdout()->read_until_close(); },
                                     kSubprocessTimeout);
    EXPECT_EQ(both, "out\nerr\n");
    EXPECT_EQ(loop.run_sync([&] { return child.wait_for_exit(); }, kSubprocessTimeout), 0);
}

TEST_F(SubprocessTest, DevNullGivesAnEmptyInput) {
    Subprocess cat({"cat"}, {.stdin = Subprocess::DEVNULL, .stdout = Subprocess::STREAM});
    EXPECT_EQ(cat.stdin(), nullptr);
    EXPECT_EQ(loop.run_sync([&] { return cat.stdout()->read_until_close(); }, kSubprocessTimeout),
              "");
    EXPECT_EQ(loop.run_sync([&] { return cat.wait_for_exit(); }, kSubprocessTimeout), 0);
}

TEST_F(SubprocessTest, EnvAndCwdAreTheChilds) {
    Subprocess child({"sh", "-c", "echo \"$GREETING\"; pwd; echo \"${HOME:-no home}\""},
                     {.stdout = Subprocess::STREAM,
                      .env = std::map<std::string, std::string>{{"GREETING", "hi there"},
                                                                {"PATH", "/usr/bin:/bin"}},
                      .cwd = "/"});
    std::string out = loop.run_sync([&] { return child.stdout()->read_until_close(); },
                                    kSubprocessTimeout);
    EXPECT_EQ(out, "hi there\n/\nno home\n");  // the whole environment: no HOME
    loop.run_sync([&] { return child.wait_for_exit(); }, kSubprocessTimeout);
}

TEST_F(SubprocessTest, AMissingProgramThrowsWithItsPath) {
    int descriptors = tornado::testing::open_descriptor_count();
    std::vector<pid_t> children_before = children_of_this_process();
    for (const char* program : {"no-such-program-for-tornado-tests", "/no/such/dir/program"}) {
        try {
            Subprocess missing({program, "arg"}, {.stdin = Subprocess::STREAM,
                                                 .stdout = Subprocess::STREAM,
                                                 .stderr = Subprocess::STREAM});
            ADD_FAILURE() << program << " did not throw";
        } catch (const std::system_error& error) {
            EXPECT_EQ(error.code().value(), ENOENT) << error.what();
            EXPECT_NE(std::string(error.what()).find(program), std::string::npos) << error.what();
        }
    }
    // Every pipe closed, and the child that could not exec was reaped by the
    // constructor itself.
    EXPECT_EQ(tornado::testing::open_descriptor_count(), descriptors);
    EXPECT_EQ(children_of_this_process(), children_before);
}

TEST_F(SubprocessTest, OtherStartFailuresSayWhy) {
    // Not executable: EACCES, as Python's PermissionError.
    try {
        Subprocess({"/etc/passwd"});
        ADD_FAILURE() << "a file without x permission ran";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EACCES) << error.what();
        EXPECT_NE(std::string(error.what()).find("/etc/passwd"), std::string::npos);
    }
    try {
        Subprocess({"true"}, {.cwd = "/no/such/directory"});
        ADD_FAILURE() << "a missing cwd was accepted";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), ENOENT);
        EXPECT_NE(std::string(error.what()).find("/no/such/directory"), std::string::npos);
    }
    EXPECT_THROW(Subprocess({}), std::invalid_argument);
    EXPECT_THROW(Subprocess({"cat"}, {.stdout = Subprocess::STDOUT}), std::invalid_argument);
    EXPECT_THROW(Subprocess({std::string("ca\0t", 4)}), std::invalid_argument);
}

TEST_F(SubprocessTest, TwentyChildrenAtOnceAreAllReaped) {
    std::vector<pid_t> children_before = children_of_this_process();
    std::vector<Subprocess> children;
    std::vector<Future<int>> exits;
    for (int i = 0; i < 20; ++i) {
        children.emplace_back(std::vector<std::string>{"sh", "-c", "exit " + std::to_string(i)});
    }
    for (Subprocess& child : children) exits.push_back(child.wait_for_exit(false));
    std::vector<int> codes =
        loop.run_sync([&] { return tornado::multi(std::move(exits)); }, kSubprocessTimeout);
    ASSERT_EQ(codes.size(), 20u);
    for (int i = 0; i < 20; ++i) {
        EXPECT_EQ(codes[static_cast<std::size_t>(i)], i);
        EXPECT_TRUE(process_gone(children[static_cast<std::size_t>(i)].pid()));
    }
    EXPECT_EQ(children_of_this_process(), children_before);  // no zombie left
}

// The reaper waits for its own pids only: a child started by other code
// keeps its status for its owner (as fork_processes' workers do).
TEST_F(SubprocessTest, OtherChildrenAreNotReaped) {
    pid_t other = ::fork();
    ASSERT_GE(other, 0);
    if (other == 0) ::_exit(42);
    Subprocess ours({"sleep", "0.05"});
    loop.run_sync([&] { return ours.wait_for_exit(); }, kSubprocessTimeout);
    tornado::testing::run_turns(loop, 3);
    int status = 0;
    pid_t reaped = 0;
    for (int attempt = 0; attempt < 1000 && reaped == 0; ++attempt) {
        reaped = ::waitpid(other, &status, WNOHANG);
        if (reaped == 0) std::this_thread::sleep_for(5ms);
    }
    ASSERT_EQ(reaped, other);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 42);
}

TEST_F(SubprocessTest, TheChildGetsNoOtherDescriptor) {
    // A descriptor without close-on-exec, as code outside the framework may make.
    int leaky = ::fcntl(1, F_DUPFD, 200);
    ASSERT_GE(leaky, 200);
    std::string listing = "ls /proc/$$/fd";
    Subprocess closed({"sh", "-c", listing}, {.stdout = Subprocess::STREAM});
    Subprocess kept({"sh", "-c", listing}, {.stdout = Subprocess::STREAM, .close_fds = false});
    std::string without = loop.run_sync([&] { return closed.stdout()->read_until_close(); },
                                        kSubprocessTimeout);
    std::string with = loop.run_sync([&] { return kept.stdout()->read_until_close(); },
                                     kSubprocessTimeout);
    ::close(leaky);
    EXPECT_EQ(without.find(std::to_string(leaky)), std::string::npos) << without;
    EXPECT_NE(with.find(std::to_string(leaky)), std::string::npos) << with;
    loop.run_sync([&] { return closed.wait_for_exit(); }, kSubprocessTimeout);
    loop.run_sync([&] { return kept.wait_for_exit(); }, kSubprocessTimeout);
}

TEST_F(SubprocessTest, DestroyingTheSubprocessClosesItsStreamsAndStillReaps) {
    int descriptors = tornado::testing::open_descriptor_count();
    pid_t pid = 0;
    Future<int> exit_code(nullptr);
    {
        Subprocess cat({"cat"}, {.stdin = Subprocess::STREAM,
                                .stdout = Subprocess::STREAM,
                                .stderr = Subprocess::STREAM});
        pid = cat.pid();
        exit_code = cat.wait_for_exit();
        cat.set_exit_callback([](int) { ADD_FAILURE() << "the callback outlived its Subprocess"; });
    }
    // cat saw its stdin close, and exits; the Future still hears of it.
    EXPECT_EQ(loop.run_sync([&] { return exit_code; }, kSubprocessTimeout), 0);
    tornado::testing::run_turns(loop, 3);
    EXPECT_TRUE(process_gone(pid));
    EXPECT_EQ(tornado::testing::open_descriptor_count(), descriptors);
}

TEST_F(SubprocessTest, WritingToAChildThatStoppedReadingClosesTheStream) {
    // `true` never reads: its stdin's reader goes away when it exits. The
    // write fails with EPIPE instead of SIGPIPE killing this process.
    Subprocess child({"true"}, {.stdin = Subprocess::STREAM});
    loop.run_sync([&] { return child.wait_for_exit(); }, kSubprocessTimeout);
    auto stdin_stream = child.stdin();
    ASSERT_TRUE(tornado::testing::run_until(loop, [&] { return stdin_stream->closed(); }));
    ASSERT_NE(stdin_stream->error(), nullptr);
    try {
        std::rethrow_exception(stdin_stream->error());
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EPIPE);
    }
    EXPECT_THROW(stdin_stream->write("too late"), StreamClosedError);
}

TEST_F(SubprocessTest, SendSignalAfterTheExitDoesNothing) {
    Subprocess child({"true"});
    loop.run_sync([&] { return child.wait_for_exit(); }, kSubprocessTimeout);
    EXPECT_NO_THROW(child.send_signal(SIGKILL));  // reaped: its pid may be someone else's now
}

TEST_F(SubprocessTest, AChildThatExitsWhileUninitializedIsReapedOnceInitializedAgain) {
    // Not `true`: one that exits before the constructor has registered it
    // is reaped by the constructor itself.
    Subprocess child({"sleep", "0.2"});
    Subprocess::uninitialize();
    Subprocess::uninitialize();  // twice: nothing more
    // The exit (and its SIGCHLD) comes while nobody listens: a zombie.
    for (int attempt = 0; attempt < 1000; ++attempt) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(child.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            info.si_pid == child.pid()) {
            break;
        }
        std::this_thread::sleep_for(2ms);
    }
    EXPECT_FALSE(process_gone(child.pid()));
    // wait_for_exit initializes, and the new handler looks for what it missed.
    EXPECT_EQ(loop.run_sync([&] { return child.wait_for_exit(); }, kSubprocessTimeout), 0);
    EXPECT_TRUE(process_gone(child.pid()));
}

TEST(SubprocessLoops, AChildOutlivingItsLoopIsReapedByTheNextOne) {
    pid_t pid = 0;
    Future<int> orphan(nullptr);
    // On the heap, so that a delivery to it after its end would be a
    // use-after-free (AddressSanitizer), not a post to the next loop made
    // at the same address.
    auto first = std::make_unique<IOLoop>();
    {
        Subprocess child({"sleep", "0.2"});
        pid = child.pid();
        orphan = child.wait_for_exit();
    }
    first.reset();  // the child runs on; its loop, and the SIGCHLD handler with it, are gone
    IOLoop second;
    Subprocess other({"sleep", "0.3"});
    int code = second.run_sync([&] { return other.wait_for_exit(); }, kSubprocessTimeout);
    EXPECT_EQ(code, 0);
    ASSERT_TRUE(tornado::testing::run_until(second, [&] { return process_gone(pid); }));
    EXPECT_FALSE(orphan.done());  // its loop is gone: nobody to tell
}

TEST(SubprocessLoops, AnotherThreadsLoopMayOwnSIGCHLD) {
    // The reaper's loop runs on a thread of its own; the Subprocess lives on
    // this thread's loop, and hears of its exit there.
    IOLoop* reaper_loop = nullptr;
    std::atomic<bool> ready{false};
    std::thread reaper([&] {
        IOLoop loop;
        Subprocess::initialize();
        reaper_loop = &loop;
        loop.add_callback([&] { ready = true; });
        loop.start();
    });
    while (!ready) std::this_thread::sleep_for(1ms);
    {
        IOLoop loop;
        Subprocess child({"sh", "-c", "exit 5"}, {.stdout = Subprocess::STREAM});
        EXPECT_EQ(loop.run_sync([&] { return child.wait_for_exit(false); }, kSubprocessTimeout), 5);
    }
    reaper_loop->stop();
    reaper.join();
}

}  // namespace
