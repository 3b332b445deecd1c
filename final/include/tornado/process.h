// tornado/process.h: one server, several processes (Tornado's
// `tornado.process`).
//
// A Python server is single-threaded, and so is an IOLoop: to use every
// core, Tornado forks one process per core after binding the listening
// sockets, and each process runs its own loop on the shared sockets (the
// kernel gives each new connection to one of them):
//
//   std::vector<tornado::FileDescriptor> sockets = tornado::bind_sockets(8888);
//   int id = tornado::fork_processes(0);       // one worker per CPU; returns in each worker
//   tornado::IOLoop loop;                      // made after the fork, never before
//   MyServer server;
//   server.add_sockets(std::move(sockets));
//   loop.start();
//
// (TCPServer::bind then start(n) does the same.) The parent process never
// returns from fork_processes: it supervises the workers, starts a new one
// with the same task id when one dies of a signal or exits with a non-zero
// status, and exits when every worker has exited with status 0.
//
// What the twin adds to Tornado's: SIGINT or SIGTERM sent to the parent is
// passed on to every worker, and workers that then exit are not restarted,
// so `kill <parent>` (or systemd's stop) stops the whole group; a worker
// that calls IOLoop::install_signal_handlers stops gracefully.
#pragma once

#include <optional>

namespace tornado {

// The CPUs this process may run on (its affinity mask, which containers and
// taskset narrow), or all online CPUs; at least 1.
int cpu_count();

// Forks num_processes workers (0 or less: cpu_count()) and returns, in each
// worker, its task id, 0 to num_processes - 1. The parent supervises (see
// above) and exits with status 0 once every worker has exited normally; it
// throws std::runtime_error after more than max_restarts restarts (100).
//
// Call it before making any IOLoop or thread: a child would share the
// loop's epoll instance, and would not have the parent's other threads.
// Throws std::logic_error if this thread already has an IOLoop, or if
// fork_processes was already called in this process.
int fork_processes(int num_processes, std::optional<int> max_restarts = std::nullopt);

// This worker's task id, or nothing when fork_processes was not called.
std::optional<int> task_id();

}  // namespace tornado
