// blocking_server.cpp: see blocking_server.h.
//
// EXERCISE (chapter 01): the functions of tasks 3 and 4 are cut out below,
// each marked TODO(task N); exercises/01-blocking-server/README.md describes
// the tasks. A cut function throws std::logic_error until you write it. The
// lines `(void)name;` only keep the compiler quiet about unused parameters:
// delete them as you write the body.
#include "blocking_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "conversation.h"

namespace course {

void serve_connection(int fd) {
    // TODO(task 3): a Conversation and a buffer on the stack. Until the
    // conversation is finished: read_some() what the peer sent (0 means it
    // closed: stop), give it to conversation.receive(), write_all() the
    // reply. Catch std::exception around it all and log it to stderr: a
    // broken connection must not throw out of here.
    (void)fd;
    throw std::logic_error("TODO(task 3): serve_connection");
}

void serve_connection(FileDescriptor connection) {
    serve_connection(connection.get());
}

BlockingServer::BlockingServer(FileDescriptor listener) : listener_(std::move(listener)) {
    open_sockets_.insert(listener_.get());
}

// Why shutdown() and not close(): on Linux, close() on a socket that another
// thread is blocked on does not wake that thread (the descriptor number goes
// away, the blocked call does not), and the number may be handed out again at
// once. shutdown(SHUT_RDWR) acts on the socket itself: a thread blocked in
// accept() on a listening socket returns with EINVAL, one blocked in recv()
// sees end of stream, one blocked in send() gets EPIPE. The descriptors stay
// open, so no number is reused under a blocked thread; their owners close them.
void BlockingServer::stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : open_sockets_) ::shutdown(fd, SHUT_RDWR);
}

AcceptedConnection BlockingServer::accept_next() {
    while (true) {
        try {
            return accept_connection(listener_.get());
        } catch (const std::system_error& error) {
            {
                std::lock_guard lock(mutex_);
                if (stopping_) return {};  // stop() shut the listener down
            }
            int code = error.code().value();
            if (code != EMFILE && code != ENFILE && code != ENOBUFS && code != ENOMEM) throw;
            // Out of descriptors or memory: the peer stays in the backlog.
            // Pause instead of spinning on the error; a connection may close.
            log(std::string("accept failed, retrying soon: ") + error.what());
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

void BlockingServer::serve_unless_stopped(int fd) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        open_sockets_.insert(fd);
    }
    serve_connection(fd);
    // Forget fd before its owner closes it: stop() must never shut down a
    // descriptor number that was closed and handed to somebody else.
    std::lock_guard lock(mutex_);
    open_sockets_.erase(fd);
}

void BlockingServer::log(const std::string& line) const {
    std::fprintf(stderr, "%s\n", line.c_str());
}

void BlockingServer::log_connection(const std::string& line) const {
    if (log_connections_) log(line);
}

void IterativeServer::run() {
    // TODO(task 3): loop: accept_next() a connection (an invalid fd means
    // stop() was called: return), then serve_unless_stopped() it, here, on
    // this thread. log_connection() its peer before and after, for the demo.
    throw std::logic_error("TODO(task 3): IterativeServer::run");
}

ThreadedServer::~ThreadedServer() {
    stop();
    join_all_threads();
}

void ThreadedServer::run() {
    // TODO(task 4): loop: accept_next() a connection (an invalid fd means
    // stop() was called: leave the loop) and start_thread() for it. After the
    // loop, join_all_threads() before returning.
    throw std::logic_error("TODO(task 4): ThreadedServer::run");
}

void ThreadedServer::start_thread(AcceptedConnection connection) {
    // TODO(task 4): with workers_mutex_ held: join_finished_threads(), add a
    // Worker at the end of workers_, and start its thread running
    // serve_on_own_thread(the connection's fd, its peer, the worker's
    // iterator). std::thread's constructor throws std::system_error when no
    // thread can be had: then erase the worker, log(), and carry on.
    (void)connection;
    throw std::logic_error("TODO(task 4): ThreadedServer::start_thread");
}

void ThreadedServer::serve_on_own_thread(FileDescriptor connection, std::string peer,
                                         Workers::iterator me) {
    // TODO(task 4): this runs on the connection's own thread. Serve the
    // connection (serve_unless_stopped), close it, log_connection() the peer,
    // then set this worker's `finished` (holding workers_mutex_) so that
    // join_finished_threads() will join it.
    (void)connection;
    (void)peer;
    (void)me;
    throw std::logic_error("TODO(task 4): ThreadedServer::serve_on_own_thread");
}

void ThreadedServer::join_finished_threads() {
    // TODO(task 4): join and erase every worker whose `finished` is set (the
    // caller holds workers_mutex_). Their threads have ended or are about to,
    // so join() returns at once.
    throw std::logic_error("TODO(task 4): ThreadedServer::join_finished_threads");
}

void ThreadedServer::join_all_threads() {
    // Without holding workers_mutex_: each thread takes it one last time to say it
    // has finished. Only the thread in run() adds or removes workers, so the
    // list does not change under us.
    for (Worker& worker : workers_) {
        if (worker.thread.joinable()) worker.thread.join();
    }
    std::lock_guard lock(workers_mutex_);
    workers_.clear();
}

std::size_t ThreadedServer::thread_count() {
    std::lock_guard lock(workers_mutex_);
    return workers_.size();
}

}  // namespace course
