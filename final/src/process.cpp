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
#include "tornado/process.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <map>
#include <stdexcept>

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

}  // namespace tornado
