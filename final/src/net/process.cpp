// process.cpp: see tornado/process.h for the contract.
//
// fork_processes is Tornado's, with one change of method: Tornado's parent
// blocks in os.wait() and leaves signals to their defaults; ours waits in
// sigwaitinfo() for SIGCHLD, SIGINT or SIGTERM, so that it can also pass a
// stop on to the workers (the header's "what the twin adds").
//
// Tornado also reseeds Python's `random` in each child. There is nothing to
// reseed here: random bytes come from OpenSSL's RAND_bytes, which notices a
// fork by itself, and the one std::minstd_rand (PeriodicCallback's jitter)
// is seeded per thread on first use, normally in a worker, after the fork.
//
// Subprocess is Tornado's, on Python's subprocess.Popen: the fork and exec,
// with an error pipe, are Popen's (_posixsubprocess), the reaping is
// Tornado's (a SIGCHLD handler on one loop that calls waitpid(pid,
// WNOHANG) for each child it knows). See the section further down.
#include "tornado/process.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// Process-wide, not per thread: they describe this process's place in the
// group. Written only in fork_processes, which runs before any thread.
std::optional<int> g_task_id;
bool g_forked = false;

// Restores the caller's signal mask when the supervisor is done with it.
// Called by hand on each way out: in a new worker, before the supervisor
// throws, and before it exits.
struct SignalMask {
    sigset_t previous;
    void restore() const noexcept { ::pthread_sigmask(SIG_SETMASK, &previous, nullptr); }
};

// The checks fork_processes makes before it changes anything, so that a
// refused call leaves the process as it was.
void check_fork_allowed() {
    // In a worker, a second call would make the worker a supervisor of its
    // own group. It also stops a parent that caught one of fork_processes'
    // exceptions from starting a second group.
    if (g_forked) throw std::logic_error("fork_processes: already called in this process");
    if (IOLoop::try_current() != nullptr) {
        throw std::logic_error(
            "fork_processes: this thread already has an IOLoop; make it after forking (the "
            "workers would share its epoll instance)");
    }
}

// The three signals the supervisor waits for synchronously (sigwaitinfo):
// a child's exit, and the two ways of being told to stop.
sigset_t supervisor_signals() {
    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    return waited;
}

// The parent's side of fork_processes: the workers it started (pid -> task
// id) and what it needs to restart or stop them. An object rather than
// locals so that each step of the supervision can be a function of its own.
// In a new worker, fork_processes returns and the worker's copy of this
// object goes out of scope: it owns nothing to undo, since start_worker has
// already given the worker its signal mask back.
class Supervisor {
public:
    explicit Supervisor(int restarts_allowed);

    // Forks the worker for task `id`. True in the new worker, false in the
    // supervisor.
    bool start_worker(int id);
    // Supervises until every worker has exited. Returns a task id when this
    // process is a worker forked to replace a dead one; nothing in the
    // supervisor once no worker is left.
    std::optional<int> run();
    void restore_signal_mask() const noexcept { mask_.restore(); }

private:
    [[noreturn]] void abandon_after_fork_failure();
    std::optional<int> handle_exit(pid_t pid, int status);
    bool log_exit(int id, pid_t pid, int status) const;
    [[noreturn]] void give_up();
    void wait_for_signal();
    void pass_on_stop(int signal);
    void signal_workers(int signal) const;

    sigset_t waited_;
    SignalMask mask_{};
    std::map<pid_t, int> children_;
    int restarts_allowed_;
    int restarts_ = 0;
    bool stopping_ = false;
};

// The supervisor's signals are blocked from now on; each worker gets the
// old mask back.
Supervisor::Supervisor(int restarts_allowed)
    : waited_(supervisor_signals()), restarts_allowed_(restarts_allowed) {
    // Blocked before the first fork: a signal that arrives between two
    // steps of the loop in run() then stays pending until sigwaitinfo takes
    // it, instead of being lost (or, for SIGINT, killing the supervisor). A
    // blocked SIGCHLD is kept pending even though its default action is to
    // be ignored; that is what lets sigwaitinfo see it.
    ::pthread_sigmask(SIG_BLOCK, &waited_, &mask_.previous);
}

// fork() copies only the calling thread, which is why the header asks for
// no threads yet.
bool Supervisor::start_worker(int id) {
    pid_t pid = ::fork();
    if (pid < 0) abandon_after_fork_failure();
    if (pid == 0) {
        // The worker gets the caller's mask back, so that its own signal
        // handling (IOLoop::add_signal_handler) sees SIGINT and SIGTERM.
        mask_.restore();
        g_task_id = id;
        return true;
    }
    children_[pid] = id;
    return false;
}

// fork failed (out of processes or memory): take down the workers already
// started, so no half-made group is left running without a supervisor.
// errno is saved because restore() and kill() may change it.
void Supervisor::abandon_after_fork_failure() {
    int error = errno;
    mask_.restore();
    signal_workers(SIGTERM);
    errno = error;
    throw_errno("fork");
}

// The supervisor's loop. Standard signals do not queue: several children
// exiting at once raise one pending SIGCHLD. So each round first reaps with
// waitpid(WNOHANG) until nothing is left to reap, and only then sleeps in
// sigwaitinfo. A child that exits after the waitpid leaves SIGCHLD pending,
// and sigwaitinfo returns at once: no exit is missed.
std::optional<int> Supervisor::run() {
    while (!children_.empty()) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            if (std::optional<int> id = handle_exit(pid, status)) return id;
            continue;
        }
        // ECHILD also comes if the program set SIGCHLD to SIG_IGN (the kernel
        // then reaps children itself): the supervisor then exits 0 without
        // seeing how its workers ended.
        if (pid < 0 && errno != EINTR) break;  // ECHILD: nobody left to wait for
        wait_for_signal();
    }
    return std::nullopt;
}

// One reaped child: restart it if it was a worker that failed and we are
// not stopping. Returns its task id in the replacement worker.
std::optional<int> Supervisor::handle_exit(pid_t pid, int status) {
    auto found = children_.find(pid);
    // Not one of our workers (the program may have other children).
    if (found == children_.end()) return std::nullopt;
    int id = found->second;
    children_.erase(found);
    if (!log_exit(id, pid, status)) return std::nullopt;
    // After SIGINT or SIGTERM, workers dying of that signal are the plan:
    // count and log them, but do not restart them.
    if (stopping_) return std::nullopt;
    // A worker that crashes at start-up would otherwise be restarted for ever.
    if (++restarts_ > restarts_allowed_) give_up();
    // The new worker takes the dead one's task id, as in Tornado.
    if (start_worker(id)) return id;
    return std::nullopt;
}

// Logs how a worker ended. True when it failed (killed by a signal, or a
// non-zero status), the only ends that call for a restart; false when it
// exited normally.
bool Supervisor::log_exit(int id, pid_t pid, int status) const {
    if (WIFSIGNALED(status)) {
        gen_log.warning("child {} (pid {}) killed by signal {}{}", id, pid, WTERMSIG(status),
                        stopping_ ? "" : ", restarting");
        return true;
    }
    if (WEXITSTATUS(status) != 0) {
        gen_log.warning("child {} (pid {}) exited with status {}{}", id, pid, WEXITSTATUS(status),
                        stopping_ ? "" : ", restarting");
        return true;
    }
    gen_log.info("child {} (pid {}) exited normally", id, pid);
    return false;
}

// Too many restarts. The remaining workers are sent SIGTERM and not waited
// for: this process is about to unwind. (Tornado raises RuntimeError here
// too, but leaves the other workers running.)
void Supervisor::give_up() {
    signal_workers(SIGTERM);
    mask_.restore();
    throw std::runtime_error("Too many child restarts, giving up");
}

// Nothing has exited: sleep until a child does, or we are told to stop.
void Supervisor::wait_for_signal() {
    siginfo_t info{};
    int signal = ::sigwaitinfo(&waited_, &info);
    // SIGCHLD needs nothing here: the next round's waitpid reaps. (-1 with
    // EINTR just goes round.)
    if (signal == SIGINT || signal == SIGTERM) pass_on_stop(signal);
}

// From the first SIGINT or SIGTERM on, the supervisor is stopping. A
// repeated signal is passed on again, so a second Ctrl-C reaches workers
// that ignored the first.
void Supervisor::pass_on_stop(int signal) {
    if (!stopping_) {
        gen_log.info("Got signal {}: stopping {} child processes", signal, children_.size());
        stopping_ = true;
    }
    signal_workers(signal);
}

void Supervisor::signal_workers(int signal) const {
    for (const auto& [child, id] : children_) ::kill(child, signal);
}

}  // namespace

// The affinity mask first, as Python's os.sched_getaffinity would give:
// under taskset or a container's cpuset, sysconf still reports every CPU of
// the machine, and a worker per CPU would overcommit. Tornado 6.2 itself
// uses multiprocessing.cpu_count(), which does not look at the mask.
int cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    if (online > 0) return static_cast<int>(online);
    gen_log.error("Could not detect number of processors; assuming 1");
    return 1;
}

std::optional<int> task_id() { return g_task_id; }

int fork_processes(int num_processes, std::optional<int> max_restarts) {
    check_fork_allowed();
    if (num_processes <= 0) num_processes = cpu_count();
    int restarts_allowed = max_restarts.value_or(100);
    g_forked = true;
    gen_log.info("Starting {} processes", num_processes);

    Supervisor supervisor(restarts_allowed);
    for (int id = 0; id < num_processes; ++id) {
        if (supervisor.start_worker(id)) return id;
    }
    if (std::optional<int> id = supervisor.run()) return *id;
    // No worker is left: each exited cleanly, or was stopped after SIGINT or
    // SIGTERM. The supervisor exits 0 too, rather than return to code
    // written for a worker (Tornado also exits here).
    supervisor.restore_signal_mask();
    std::exit(0);
}

// --- Subprocess ----------------------------------------------------------------------
//
// Who does what:
//
//   constructor ──► pipes, /dev/null, the error pipe, the exec plan (all before fork)
//        │          fork ──► child: dup2 onto 0-2, chdir, execve ──► the program
//        │                            └─ failed: errno into the error pipe, _exit(127)
//        ▼
//   read the error pipe: nothing (the exec closed it) ──► register the pid, make the streams
//                        a failure ──► waitpid the child, throw
//
//   SIGCHLD ──► the owning loop runs reap_children: waitpid(pid, WNOHANG) for each
//               registered pid ──► the exit is posted to the child's own loop
//               ──► deliver_exit: returncode, wait_for_exit's Futures, the exit callback
//
// fork_processes does not meet any of this: its supervisor runs only before
// any IOLoop exists (it refuses otherwise), blocks SIGCHLD and waits with
// waitpid(-1) for its workers, and never returns to the program (it exits,
// or throws after stopping its workers). A worker's Subprocesses are the
// worker's own children, which the supervisor's waitpid cannot see. And
// the reaper here never calls waitpid(-1), so it cannot take a worker's
// status either.

namespace detail {

// What a Subprocess shares with the reaper: the registry holds it until
// the child is reaped, the posted delivery until it has run.
struct SubprocessState {
    struct ExitWaiter {
        Future<int> future;
        bool raise_error;
    };

    pid_t pid = -1;
    std::vector<std::string> args;
    // Where the exit is delivered; nullptr once that loop has closed.
    // Guarded by g_children_mutex (the reaper may run on another thread).
    IOLoop* loop = nullptr;
    // The rest only on the loop's thread.
    std::optional<int> returncode;
    Subprocess::ExitCallback exit_callback;
    std::vector<ExitWaiter> waiters;
};

}  // namespace detail

namespace {

using detail::SubprocessState;

// The children not reaped yet, by pid, and the loops that have a
// LoopSentinel. One lock for both: the reaper (any loop's thread) and the
// constructors (each on its own loop's thread) share them.
std::mutex g_children_mutex;
std::map<pid_t, std::shared_ptr<SubprocessState>> g_children;
std::set<IOLoop*> g_watched_loops;

// The loop whose SIGCHLD handler reaps, and its thread. The loop is
// cleared by the handler's destructor (SigchldHandler), which runs when the
// loop removes the handler, itself closing included; so it never names a
// loop that is gone. Set under g_initialize_mutex.
std::atomic<IOLoop*> g_sigchld_loop{nullptr};
std::thread::id g_sigchld_thread;
std::mutex g_initialize_mutex;

// Python's returncode: the exit status, or minus the signal that killed.
int returncode_of(int status) {
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return status;  // not reached: stops are not asked for (no WUNTRACED)
}

std::string joined(const std::vector<std::string>& args) {
    std::string text;
    for (const std::string& arg : args) {
        if (!text.empty()) text += ' ';
        text += arg;
    }
    return text;
}

std::string signal_name(int signal) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    if (const char* abbreviation = ::sigabbrev_np(signal)) return std::string("SIG") + abbreviation;
#endif
    return "a signal";
}

std::string called_process_message(int returncode, const std::vector<std::string>& cmd) {
    std::string command = "Command '" + joined(cmd) + "'";
    if (returncode < 0) {
        return command + " died with " + signal_name(-returncode) + " (signal " +
               std::to_string(-returncode) + ").";
    }
    return command + " returned non-zero exit status " + std::to_string(returncode) + ".";
}

void settle(SubprocessState::ExitWaiter& waiter, int returncode,
            const std::vector<std::string>& args) {
    if (returncode != 0 && waiter.raise_error) {
        future_set_exception_unless_cancelled(
            waiter.future, std::make_exception_ptr(CalledProcessError(returncode, args)));
    } else {
        future_set_result_unless_cancelled(waiter.future, returncode);
    }
}

// On the child's own loop. The Futures first: an exit callback that throws
// (logged by the loop) must not leave them waiting.
void deliver_exit(SubprocessState& state, int status) {
    int returncode = returncode_of(status);
    state.returncode = returncode;
    std::vector<SubprocessState::ExitWaiter> waiters = std::move(state.waiters);
    state.waiters.clear();
    for (SubprocessState::ExitWaiter& waiter : waiters) settle(waiter, returncode, state.args);
    if (state.exit_callback) {
        Subprocess::ExitCallback callback = std::move(state.exit_callback);
        state.exit_callback = nullptr;
        callback(returncode);
    }
}

// One registered child: reaped if it has exited, and its exit posted to its
// loop. True when it is no longer ours to wait for. Under g_children_mutex,
// which also keeps state->loop alive while we post (see LoopSentinel).
bool try_reap_locked(const std::shared_ptr<SubprocessState>& state) {
    int status = 0;
    pid_t done = 0;
    do {
        done = ::waitpid(state->pid, &status, WNOHANG);
    } while (done < 0 && errno == EINTR);
    if (done == 0) return false;
    if (done < 0) {
        // ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the
        // program, or SIGCHLD set to SIG_IGN for a while). The status is
        // lost; Python's Popen reports 0 then, and so do we.
        gen_log.warning("Subprocess: pid {} was reaped by someone else; its exit status is lost",
                        state->pid);
        status = 0;
    }
    if (state->loop != nullptr) {
        state->loop->add_callback([state, status] { deliver_exit(*state, status); });
    }
    return true;
}

// The SIGCHLD handler's work, on the loop that owns SIGCHLD. Signals do not
// queue: one SIGCHLD may stand for several exits, so every child is tried.
void reap_children() {
    std::lock_guard lock(g_children_mutex);
    for (auto it = g_children.begin(); it != g_children.end();) {
        if (try_reap_locked(it->second)) {
            it = g_children.erase(it);
        } else {
            ++it;
        }
    }
}

// The callable given to IOLoop::add_signal_handler. Its destructor tells
// us that the loop no longer handles SIGCHLD for us: the loop destroys it
// when the handler is removed, replaced, or the loop closes. Moves leave
// the moved-from copy silent (Function relocates callables by moving).
class SigchldHandler {
public:
    SigchldHandler() noexcept = default;
    SigchldHandler(SigchldHandler&& other) noexcept : armed_(std::exchange(other.armed_, false)) {}
    SigchldHandler& operator=(SigchldHandler&&) = delete;
    ~SigchldHandler() {
        if (armed_) g_sigchld_loop.store(nullptr);
    }
    void operator()() const { reap_children(); }

private:
    bool armed_ = true;
};

// A loop's closing, made visible: a timer that never fires, put on each
// loop that has Subprocesses. IOLoop::close() drops the loop's timers, and
// the sentinel's destructor then makes the children of that loop forget
// it, so that no exit is ever posted to a loop that is gone. (The loop has
// no other hook for its end.)
void forget_loop(IOLoop* loop) {
    std::lock_guard lock(g_children_mutex);
    g_watched_loops.erase(loop);
    for (auto& [pid, state] : g_children) {
        if (state->loop == loop) state->loop = nullptr;
    }
}

class LoopSentinel {
public:
    explicit LoopSentinel(IOLoop* loop) noexcept : loop_(loop) {}
    LoopSentinel(LoopSentinel&& other) noexcept : loop_(std::exchange(other.loop_, nullptr)) {}
    LoopSentinel& operator=(LoopSentinel&&) = delete;
    ~LoopSentinel() {
        if (loop_ != nullptr) forget_loop(loop_);
    }
    void operator()() const noexcept {}

private:
    IOLoop* loop_;
};

// Outside the lock: if call_at throws, the sentinel's destructor takes it.
void watch_loop(IOLoop& loop) {
    {
        std::lock_guard lock(g_children_mutex);
        if (!g_watched_loops.insert(&loop).second) return;
    }
    loop.call_at(IOLoop::Clock::time_point::max(), LoopSentinel(&loop));
}

// The child's registration. The reaper may have run between the fork and
// now (another thread's loop): so one try at once, as Tornado's
// set_exit_callback does, for a child that has already exited.
std::shared_ptr<SubprocessState> register_child(pid_t pid, std::vector<std::string> args,
                                                IOLoop& loop) {
    auto state = std::make_shared<SubprocessState>();
    state->pid = pid;
    state->args = std::move(args);
    state->loop = &loop;
    watch_loop(loop);
    std::lock_guard lock(g_children_mutex);
    if (!try_reap_locked(state)) g_children.emplace(pid, state);
    return state;
}

// --- starting the child ------------------------------------------------------------

// In ExecPlan::stdio: leave the child's descriptor as it is (inherited), or
// make it a copy of the child's stdout (stderr = STDOUT).
constexpr int kInherit = -1;
constexpr int kSameAsStdout = -2;

// What went wrong in the child, sent back through the error pipe. 8 bytes:
// one write() of it to a pipe is atomic.
enum ChildStage : int { kStageDup = 1, kStageChdir = 2, kStageExec = 3 };
struct ChildFailure {
    int stage;
    int error;
};

// Everything the child does between fork and exec, prepared by the parent.
// After fork, the child of a threaded process may make only
// async-signal-safe calls (another thread may have held malloc's lock at
// the fork), so the child only reads this: no allocation, no C++ library.
struct ExecPlan {
    std::vector<std::string> candidates;            // the paths to try, in PATH's order
    std::vector<char*> argv;                        // null-terminated
    std::vector<std::string> environment;           // "NAME=value", when SubprocessOptions::env
    std::vector<char*> envp;                        // null-terminated
    char* const* env = nullptr;                     // envp's data, or this process's environ
    const char* cwd = nullptr;                      // nullptr: stay
    int stdio[3] = {kInherit, kInherit, kInherit};  // what becomes 0, 1, 2
    bool close_fds = true;
    int highest_fd = 0;  // for close_fds without close_range (old kernels)
    int error_fd = -1;   // the error pipe's write end
};

// Python's os.defpath: where a program is looked for when there is no PATH.
constexpr const char* kDefaultPath = "/bin:/usr/bin";

// execvp's search, done in the parent (execvp itself may allocate): a
// name with a '/' is used as it is; otherwise each PATH entry in turn, an
// empty entry meaning the current directory. PATH is the child's own when
// `env` is given (Python's os.get_exec_path(env)).
std::vector<std::string> program_candidates(const std::string& program,
                                            const SubprocessOptions& options) {
    if (program.find('/') != std::string::npos) return {program};
    std::string path = kDefaultPath;
    if (options.env) {
        auto found = options.env->find("PATH");
        if (found != options.env->end()) path = found->second;
    } else if (const char* inherited = std::getenv("PATH")) {
        path = inherited;
    }
    std::vector<std::string> candidates;
    std::size_t start = 0;
    for (;;) {
        std::size_t colon = path.find(':', start);
        std::string directory = path.substr(start, colon - start);
        candidates.push_back(directory.empty() ? program : directory + "/" + program);
        if (colon == std::string::npos) break;
        start = colon + 1;
    }
    return candidates;
}

void check_no_nul(const std::string& text, const char* what) {
    if (text.find('\0') != std::string::npos) {
        throw std::invalid_argument(std::string("Subprocess: embedded NUL in ") + what);
    }
}

void check_arguments(const std::vector<std::string>& args, const SubprocessOptions& options) {
    if (args.empty() || args[0].empty()) {
        throw std::invalid_argument("Subprocess: no program to run (args is empty)");
    }
    for (const std::string& arg : args) check_no_nul(arg, "an argument");
    if (options.env) {
        for (const auto& [name, value] : *options.env) {
            if (name.empty() || name.find('=') != std::string::npos) {
                throw std::invalid_argument("Subprocess: bad environment variable name '" + name +
                                            "'");
            }
            check_no_nul(name, "an environment variable");
            check_no_nul(value, "an environment variable");
        }
    }
    check_no_nul(options.cwd, "cwd");
    if (options.stdin == Subprocess::STDOUT || options.stdout == Subprocess::STDOUT) {
        throw std::invalid_argument("Subprocess: STDOUT is for stderr only");
    }
}

// Descriptors 0-2 are the child's to fill: one of ours that happens to be
// there (this process had closed its stdin, say) would be overwritten by
// the child's dup2 before its turn. Moved above them, close-on-exec.
FileDescriptor above_stdio(FileDescriptor fd) {
    if (fd.get() > 2) return fd;
    FileDescriptor moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
    if (!moved) throw_errno("fcntl F_DUPFD_CLOEXEC");
    return moved;
}

// Both ends close-on-exec: another thread's child must not inherit them
// (it would hold our pipe open), nor ours those of another thread.
std::pair<FileDescriptor, FileDescriptor> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("pipe2");
    FileDescriptor read_end(fds[0]);
    FileDescriptor write_end(fds[1]);
    return {above_stdio(std::move(read_end)), above_stdio(std::move(write_end))};
}

// The descriptors of the three standard streams: the child's ends (closed
// here once the child has its copies) and ours (the streams-to-be).
struct Plumbing {
    FileDescriptor child_end[3];
    FileDescriptor our_end[3];
    FileDescriptor devnull;
};

Plumbing make_plumbing(const SubprocessOptions& options) {
    Plumbing plumbing;
    const SubprocessStdio modes[3] = {options.stdin, options.stdout, options.stderr};
    for (int target = 0; target < 3; ++target) {
        if (modes[target] == SubprocessStdio::devnull && !plumbing.devnull) {
            plumbing.devnull.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
            if (!plumbing.devnull) throw_errno("open /dev/null");
            plumbing.devnull = above_stdio(std::move(plumbing.devnull));
        }
        if (modes[target] != SubprocessStdio::stream) continue;
        auto [read_end, write_end] = make_pipe();
        // The child reads its stdin and writes the other two.
        bool child_reads = target == 0;
        plumbing.child_end[target] = std::move(child_reads ? read_end : write_end);
        plumbing.our_end[target] = std::move(child_reads ? write_end : read_end);
    }
    return plumbing;
}

int highest_fd_to_mark() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur == RLIM_INFINITY) return 65536;
    return static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 65536));
}

ExecPlan make_plan(std::vector<std::string>& args, const SubprocessOptions& options,
                   const Plumbing& plumbing, int error_fd) {
    ExecPlan plan;
    plan.candidates = program_candidates(args[0], options);
    for (std::string& arg : args) plan.argv.push_back(arg.data());
    plan.argv.push_back(nullptr);
    if (options.env) {
        for (const auto& [name, value] : *options.env)
            plan.environment.push_back(name + "=" + value);
        for (std::string& entry : plan.environment) plan.envp.push_back(entry.data());
        plan.envp.push_back(nullptr);
        plan.env = plan.envp.data();
    } else {
        plan.env = environ;
    }
    if (!options.cwd.empty()) plan.cwd = options.cwd.c_str();
    const SubprocessStdio modes[3] = {options.stdin, options.stdout, options.stderr};
    for (int target = 0; target < 3; ++target) {
        switch (modes[target]) {
            case SubprocessStdio::inherit: plan.stdio[target] = kInherit; break;
            case SubprocessStdio::devnull: plan.stdio[target] = plumbing.devnull.get(); break;
            case SubprocessStdio::stream:
                plan.stdio[target] = plumbing.child_end[target].get();
                break;
            case SubprocessStdio::to_stdout: plan.stdio[target] = kSameAsStdout; break;
        }
    }
    plan.close_fds = options.close_fds;
    plan.highest_fd = highest_fd_to_mark();
    plan.error_fd = error_fd;
    return plan;
}

// --- in the child: async-signal-safe calls only --------------------------------

[[noreturn]] void report_failure(int error_fd, ChildStage stage, int error) noexcept {
    ChildFailure failure{stage, error};
    [[maybe_unused]] ssize_t written = ::write(error_fd, &failure, sizeof failure);
    ::_exit(127);
}

// Handlers this process installed (the loop's, for SIGCHLD, SIGINT, ...)
// must not run in the child before the exec replaces them: they would write
// to the parent's eventfd. So back to the default while every signal is
// still blocked. SIGPIPE and SIGXFSZ go back to the default even when
// ignored, as Python's restore_signals does: a child like `yes | head`
// expects to die of SIGPIPE.
void reset_signal_dispositions() noexcept {
    for (int signal = 1; signal < NSIG; ++signal) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        struct sigaction current {};
        if (::sigaction(signal, nullptr, &current) < 0) continue;  // glibc's own signals
        bool caught = (current.sa_flags & SA_SIGINFO) != 0 ||
                      (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN);
        if (!caught && signal != SIGPIPE && signal != SIGXFSZ) continue;
        struct sigaction by_default {};
        by_default.sa_handler = SIG_DFL;
        sigemptyset(&by_default.sa_mask);
        ::sigaction(signal, &by_default, nullptr);
    }
}

// Every descriptor above 2 closes at the exec (the error pipe must stay
// open until then). close_range's CLOEXEC mode (Linux 5.11) does it in one
// call; before that, one fcntl per possible descriptor.
void close_other_fds_at_exec(const ExecPlan& plan) noexcept {
#if defined(SYS_close_range)
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
#endif
    for (int fd = 3; fd < plan.highest_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

[[noreturn]] void run_child(const ExecPlan& plan, const sigset_t& mask) noexcept {
    reset_signal_dispositions();
    for (int target = 0; target < 3; ++target) {
        int source = plan.stdio[target];
        if (source == kInherit) continue;
        if (source == kSameAsStdout) source = 1;
        // Our descriptors are all above 2, so a source is never overwritten
        // by an earlier dup2; stderr = STDOUT copies the new stdout.
        if (::dup2(source, target) < 0) report_failure(plan.error_fd, kStageDup, errno);
    }
    if (plan.cwd != nullptr && ::chdir(plan.cwd) < 0) {
        report_failure(plan.error_fd, kStageChdir, errno);
    }
    if (plan.close_fds) close_other_fds_at_exec(plan);
    ::pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    // execvp's rules: a missing file or directory sends us on along PATH;
    // another error (EACCES) is remembered, and reported if nothing runs.
    int first_error = 0;
    int last_error = ENOENT;
    for (const std::string& candidate : plan.candidates) {
        ::execve(candidate.c_str(), plan.argv.data(), plan.env);
        last_error = errno;
        if (last_error != ENOENT && last_error != ENOTDIR && first_error == 0) {
            first_error = last_error;
        }
    }
    report_failure(plan.error_fd, kStageExec, first_error != 0 ? first_error : last_error);
}

// --- in the parent -----------------------------------------------------------------

// What the child sent through the error pipe, or nothing when the exec
// closed it. Blocking: the child gets to its exec (or fails) at once.
std::optional<ChildFailure> read_child_failure(int error_read) {
    ChildFailure failure{};
    std::size_t got = 0;
    while (got < sizeof failure) {
        ssize_t n =
            ::read(error_read, reinterpret_cast<char*>(&failure) + got, sizeof failure - got);
        if (n > 0) {
            got += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    if (got == 0) return std::nullopt;
    if (got < sizeof failure) return ChildFailure{kStageExec, EIO};  // never seen: a torn report
    return failure;
}

void wait_for_failed_child(pid_t pid) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {}
}

[[noreturn]] void throw_child_failure(const ChildFailure& failure,
                                      const std::vector<std::string>& args,
                                      const SubprocessOptions& options) {
    std::string what;
    switch (failure.stage) {
        case kStageChdir:
            what = "Subprocess: cannot change to directory '" + options.cwd + "'";
            break;
        case kStageDup: what = "Subprocess: cannot set up the child's standard streams"; break;
        default: what = "Subprocess: cannot run '" + args[0] + "'"; break;
    }
    throw std::system_error(failure.error, std::generic_category(), what);
}

// Forks and runs the plan in the child. Returns the pid once the program
// runs; throws, with the child reaped, if it could not be started. Every
// signal is blocked around fork, so that none runs one of this process's
// handlers in the child before reset_signal_dispositions.
pid_t start_child(ExecPlan& plan, FileDescriptor error_write, FileDescriptor error_read,
                  const std::vector<std::string>& args, const SubprocessOptions& options) {
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = ::fork();
    if (pid == 0) run_child(plan, previous);
    int fork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (pid < 0) {
        errno = fork_error;
        throw_errno("fork");
    }
    error_write.reset();  // the child's copy is the only writer left
    if (std::optional<ChildFailure> failure = read_child_failure(error_read.get())) {
        wait_for_failed_child(pid);
        throw_child_failure(*failure, args, options);
    }
    return pid;
}

std::shared_ptr<PipeIOStream> stream_for(FileDescriptor& our_end, const IOStreamOptions& options) {
    if (!our_end) return nullptr;
    return PipeIOStream::create(std::move(our_end), options);
}

}  // namespace

CalledProcessError::CalledProcessError(int returncode, std::vector<std::string> cmd)
    : std::runtime_error(called_process_message(returncode, cmd)),
      returncode_(returncode),
      cmd_(std::move(cmd)) {}

Subprocess::Subprocess(std::vector<std::string> args, SubprocessOptions options) {
    check_arguments(args, options);
    IOLoop& loop = IOLoop::current();
    initialize();  // before the fork: an exit must find the handler in place
    Plumbing plumbing = make_plumbing(options);
    auto [error_read, error_write] = make_pipe();
    ExecPlan plan = make_plan(args, options, plumbing, error_write.get());
    pid_t pid = start_child(plan, std::move(error_write), std::move(error_read), args, options);
    for (FileDescriptor& child_end : plumbing.child_end) child_end.reset();
    plumbing.devnull.reset();
    state_ = register_child(pid, std::move(args), loop);
    try {
        stdin_ = stream_for(plumbing.our_end[0], options.stream_options);
        stdout_ = stream_for(plumbing.our_end[1], options.stream_options);
        stderr_ = stream_for(plumbing.our_end[2], options.stream_options);
    } catch (...) {
        // No destructor runs for a constructor that throws: close the
        // streams made so far (the loop holds them). The child stays
        // registered, and is reaped when it exits.
        for (std::shared_ptr<PipeIOStream>* stream : {&stdin_, &stdout_, &stderr_}) {
            if (*stream) (*stream)->close();
        }
        throw;
    }
}

// The exit callback goes with the Subprocess: it would outlive what it
// captured. Futures from wait_for_exit still resolve.
Subprocess::~Subprocess() {
    for (std::shared_ptr<PipeIOStream>* stream : {&stdin_, &stdout_, &stderr_}) {
        if (*stream) (*stream)->close();
    }
    if (state_) state_->exit_callback = nullptr;
}

Subprocess::Subprocess(Subprocess&& other) noexcept
    : state_(std::move(other.state_)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {}

Subprocess& Subprocess::operator=(Subprocess&& other) noexcept {
    if (this != &other) {
        Subprocess old(std::move(*this));  // closes what this one had
        state_ = std::move(other.state_);
        stdin_ = std::move(other.stdin_);
        stdout_ = std::move(other.stdout_);
        stderr_ = std::move(other.stderr_);
    }
    return *this;
}

pid_t Subprocess::pid() const noexcept { return state_->pid; }

const std::vector<std::string>& Subprocess::args() const noexcept { return state_->args; }

std::optional<int> Subprocess::returncode() const noexcept { return state_->returncode; }

void Subprocess::set_exit_callback(ExitCallback callback) {
    initialize();
    if (state_->returncode && callback) {
        IOLoop::current().add_callback(
            [callback = std::move(callback), returncode = *state_->returncode]() mutable {
                callback(returncode);
            });
        return;
    }
    state_->exit_callback = std::move(callback);
}

Future<int> Subprocess::wait_for_exit(bool raise_error) {
    initialize();
    SubprocessState::ExitWaiter waiter{Future<int>(), raise_error};
    Future<int> future = waiter.future;
    if (state_->returncode) {
        settle(waiter, *state_->returncode, state_->args);
    } else {
        state_->waiters.push_back(std::move(waiter));
    }
    return future;
}

// Under the registry's lock: a child still registered has not been reaped,
// so its pid cannot have gone to another process yet.
void Subprocess::send_signal(int signal) {
    std::lock_guard lock(g_children_mutex);
    auto found = g_children.find(state_->pid);
    if (found == g_children.end() || found->second != state_) return;
    if (::kill(state_->pid, signal) < 0) throw_errno("kill");
}

// On one thread, the handler follows the loop in use: a loop that is alive
// but not current there (an older one) would not run it. Another thread's
// loop keeps it.
void Subprocess::initialize() {
    IOLoop& loop = IOLoop::current();
    std::lock_guard lock(g_initialize_mutex);
    IOLoop* owner = g_sigchld_loop.load();
    if (owner == &loop) return;
    if (owner != nullptr) {
        if (g_sigchld_thread != std::this_thread::get_id()) return;
        owner->remove_signal_handler(SIGCHLD);
    }
    try {
        loop.add_signal_handler(SIGCHLD, SigchldHandler());
    } catch (const std::logic_error& error) {
        throw std::logic_error(std::string("Subprocess::initialize: cannot handle SIGCHLD: ") +
                               error.what());
    }
    g_sigchld_loop.store(&loop);
    g_sigchld_thread = std::this_thread::get_id();
    // Children that exited while no handler was there: their SIGCHLD came
    // and went.
    reap_children();
}

void Subprocess::uninitialize() {
    std::lock_guard lock(g_initialize_mutex);
    IOLoop* owner = g_sigchld_loop.load();
    if (owner == nullptr) return;
    if (g_sigchld_thread != std::this_thread::get_id()) {
        throw std::logic_error(
            "Subprocess::uninitialize: call it on the thread of the loop that handles SIGCHLD");
    }
    owner->remove_signal_handler(SIGCHLD);  // its SigchldHandler clears g_sigchld_loop
}

}  // namespace tornado
