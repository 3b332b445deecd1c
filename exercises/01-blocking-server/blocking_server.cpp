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
    // TODO(task 3): talk with the peer on the blocking socket fd (contract in
    // blocking_server.h): what it sends goes to a Conversation, each reply goes
    // back whole, until the peer closes or the conversation is finished (then
    // do not read again). Never throws: an error on this connection is logged
    // to stderr and ends only this conversation (on a connection's own thread
    // an escaping exception would end the whole server). The caller closes fd.
    // Hint: make hint CH=01 TASK=3.
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
    // TODO(task 3): serve peers one after the other, each to its end, on this
    // thread, until stop() was called. Use accept_next() and
    // serve_unless_stopped(), which keep stop() working. Rule: while one peer
    // is connected the next one waits (the test checks it: do not "fix" it
    // here). log_connection() each peer as it comes and goes, for the demo.
    throw std::logic_error("TODO(task 3): IterativeServer::run");
}

ThreadedServer::~ThreadedServer() {
    stop();
    join_all_threads();
}

void ThreadedServer::run() {
    // TODO(task 4): serve every peer on a thread of its own (start_thread)
    // until stop() was called, and return only once every thread started has
    // been joined (join_all_threads() is given). No detach(): the tests count
    // your threads. Hint: make hint CH=01 TASK=4.
    throw std::logic_error("TODO(task 4): ThreadedServer::run");
}

void ThreadedServer::start_thread(AcceptedConnection connection) {
    // TODO(task 4): start a thread that runs serve_on_own_thread() for
    // `connection`, recorded as a Worker in workers_ (the thread gets its
    // Worker's iterator). Rules: workers_ is touched only under workers_mutex_;
    // the new thread must not be able to mark its Worker finished before the
    // Worker holds the std::thread; finished workers are joined here, so they
    // do not pile up. No thread to be had (std::thread throws
    // std::system_error): log() it, leave no Worker behind, and go on serving.
    (void)connection;
    throw std::logic_error("TODO(task 4): ThreadedServer::start_thread");
}

void ThreadedServer::serve_on_own_thread(FileDescriptor connection, std::string peer,
                                         Workers::iterator me) {
    // TODO(task 4): the body of a connection's thread: the peer is served
    // (serve_unless_stopped), then its connection is closed and logged
    // (log_connection). Rule: `me->finished` is set last, under
    // workers_mutex_: from then on the accepting thread may join this thread.
    (void)connection;
    (void)peer;
    (void)me;
    throw std::logic_error("TODO(task 4): ThreadedServer::serve_on_own_thread");
}

void ThreadedServer::join_finished_threads() {
    // TODO(task 4): join and erase every worker whose `finished` is set, and
    // only those (the caller holds workers_mutex_: joining a thread that still
    // serves would wait for its peer). Finished threads have ended or are about
    // to, so their join() returns at once.
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
