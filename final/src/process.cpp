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
    // In a worker, a second call would make the worker a supervisor of its
    // own group. It also stops a parent that caught one of fork_processes'
    // exceptions from starting a second group.
    if (g_forked) throw std::logic_error("fork_processes: already called in this process");
    if (IOLoop::try_current() != nullptr) {
        throw std::logic_error(
            "fork_processes: this thread already has an IOLoop; make it after forking (the "
            "workers would share its epoll instance)");
    }
    if (num_processes <= 0) num_processes = cpu_count();
    int restarts_allowed = max_restarts.value_or(100);
    g_forked = true;
    gen_log.info("Starting {} processes", num_processes);

    // The supervisor waits for three signals synchronously (sigwaitinfo), so
    // they are blocked from now on; each worker gets the old mask back.
    sigset_t waited;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    // Blocked before the first fork: a signal that arrives between two
    // steps of the loop below then stays pending until sigwaitinfo takes it,
    // instead of being lost (or, for SIGINT, killing the supervisor). A
    // blocked SIGCHLD is kept pending even though its default action is to
    // be ignored; that is what lets sigwaitinfo see it.
    SignalMask mask{};
    ::pthread_sigmask(SIG_BLOCK, &waited, &mask.previous);

    std::map<pid_t, int> children;
    // Returns true in the child. fork() copies only the calling thread, which
    // is why the header asks for no threads yet.
    auto start_child = [&](int id) {
        pid_t pid = ::fork();
        // fork failed (out of processes or memory): take down the workers
        // already started, so no half-made group is left running without a
        // supervisor. errno is saved because restore() and kill() may change it.
        if (pid < 0) {
            int error = errno;
            mask.restore();
            for (const auto& [child, child_id] : children) ::kill(child, SIGTERM);
            errno = error;
            throw_errno("fork");
        }
        if (pid == 0) {
            // The worker gets the caller's mask back, so that its own signal
            // handling (IOLoop::add_signal_handler) sees SIGINT and SIGTERM.
            mask.restore();
            g_task_id = id;
            return true;
        }
        children[pid] = id;
        return false;
    };
    for (int id = 0; id < num_processes; ++id) {
        if (start_child(id)) return id;
    }

    int restarts = 0;
    bool stopping = false;
    // The supervisor's loop. Standard signals do not queue: several children
    // exiting at once raise one pending SIGCHLD. So each round first reaps
    // with waitpid(WNOHANG) until nothing is left to reap, and only then
    // sleeps in sigwaitinfo. A child that exits after the waitpid leaves
    // SIGCHLD pending, and sigwaitinfo returns at once: no exit is missed.
    while (!children.empty()) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            auto found = children.find(pid);
            // Not one of our workers (the program may have other children).
            if (found == children.end()) continue;
            int id = found->second;
            children.erase(found);
            if (WIFSIGNALED(status)) {
                gen_log.warning("child {} (pid {}) killed by signal {}{}", id, pid,
                                WTERMSIG(status), stopping ? "" : ", restarting");
            } else if (WEXITSTATUS(status) != 0) {
                gen_log.warning("child {} (pid {}) exited with status {}{}", id, pid,
                                WEXITSTATUS(status), stopping ? "" : ", restarting");
            } else {
                gen_log.info("child {} (pid {}) exited normally", id, pid);
                continue;
            }
            // After SIGINT or SIGTERM, workers dying of that signal are the plan:
            // count and log them, but do not restart them.
            if (stopping) continue;
            // A worker that crashes at start-up would otherwise be restarted for
            // ever. The remaining workers are sent SIGTERM and not waited for: this
            // process is about to unwind. (Tornado raises RuntimeError here too,
            // but leaves the other workers running.)
            if (++restarts > restarts_allowed) {
                for (const auto& [child, child_id] : children) ::kill(child, SIGTERM);
                mask.restore();
                throw std::runtime_error("Too many child restarts, giving up");
            }
            // The new worker takes the dead one's task id, as in Tornado.
            if (start_child(id)) return id;
            continue;
        }
        // ECHILD also comes if the program set SIGCHLD to SIG_IGN (the kernel
        // then reaps children itself): the supervisor then exits 0 without
        // seeing how its workers ended.
        if (pid < 0 && errno != EINTR) break;  // ECHILD: nobody left to wait for
        // Nothing has exited: sleep until a child does, or we are told to stop.
        siginfo_t info{};
        int signal = ::sigwaitinfo(&waited, &info);
        // SIGCHLD needs nothing here: the next round's waitpid reaps. A
        // repeated SIGINT is passed on again, so a second Ctrl-C reaches
        // workers that ignored the first. (-1 with EINTR just goes round.)
        if (signal == SIGINT || signal == SIGTERM) {
            if (!stopping) {
                gen_log.info("Got signal {}: stopping {} child processes", signal, children.size());
                stopping = true;
            }
            for (const auto& [child, id] : children) ::kill(child, signal);
        }
    }
    // Every worker exited cleanly: so does the supervisor, rather than
    // return to code written for a worker (Tornado does the same).
    mask.restore();
    std::exit(0);
}

}  // namespace tornado
