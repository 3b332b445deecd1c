// process.cpp: see tornado/process.h for the contract.
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

std::optional<int> g_task_id;
bool g_forked = false;

// Restores the caller's signal mask when the supervisor is done with it.
struct SignalMask {
    sigset_t previous;
    void restore() const noexcept { ::pthread_sigmask(SIG_SETMASK, &previous, nullptr); }
};

}  // namespace

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
    SignalMask mask{};
    ::pthread_sigmask(SIG_BLOCK, &waited, &mask.previous);

    std::map<pid_t, int> children;
    // Returns true in the child.
    auto start_child = [&](int id) {
        pid_t pid = ::fork();
        if (pid < 0) {
            int error = errno;
            mask.restore();
            for (const auto& [child, child_id] : children) ::kill(child, SIGTERM);
            errno = error;
            throw_errno("fork");
        }
        if (pid == 0) {
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
    while (!children.empty()) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            auto found = children.find(pid);
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
            if (stopping) continue;
            if (++restarts > restarts_allowed) {
                for (const auto& [child, child_id] : children) ::kill(child, SIGTERM);
                mask.restore();
                throw std::runtime_error("Too many child restarts, giving up");
            }
            if (start_child(id)) return id;
            continue;
        }
        if (pid < 0 && errno != EINTR) break;  // ECHILD: nobody left to wait for
        // Nothing has exited: sleep until a child does, or we are told to stop.
        siginfo_t info{};
        int signal = ::sigwaitinfo(&waited, &info);
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
