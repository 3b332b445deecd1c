// blocking_server.cpp: see blocking_server.h.
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
    Conversation conversation;
    char buffer[16 * 1024];
    try {
        while (!conversation.finished()) {
            long n = read_some(fd, buffer, sizeof buffer);  // waits for the peer
            if (n == 0) break;                               // the peer closed
            if (n < 0) throw std::logic_error("serve_connection: non-blocking socket");
            std::string_view received(buffer, static_cast<std::size_t>(n));
            write_all(fd, conversation.receive(received));   // waits until the kernel took it all
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "connection ended by an error: %s\n", error.what());
    }
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
    while (true) {
        AcceptedConnection connection = accept_next();
        if (!connection.fd) return;  // stopped
        // The whole conversation happens here, on this thread. Until it
        // ends, nobody calls accept(): the next peers wait in the backlog.
        log_connection(connection.peer + " connected");
        serve_unless_stopped(connection.fd.get());
        log_connection(connection.peer + " done");
    }
}

ThreadedServer::~ThreadedServer() {
    stop();
    join_all_threads();
}

void ThreadedServer::run() {
    while (true) {
        AcceptedConnection connection = accept_next();
        if (!connection.fd) break;  // stopped
        start_thread(std::move(connection));
    }
    join_all_threads();
}

void ThreadedServer::start_thread(AcceptedConnection connection) {
    std::lock_guard lock(workers_mutex_);
    join_finished_threads();
    Workers::iterator me = workers_.emplace(workers_.end());
    try {
        // The new thread takes `me` and waits for workers_mutex_ before touching it,
        // so it cannot run ahead of this assignment.
        me->thread = std::thread(&ThreadedServer::serve_on_own_thread, this,
                                 std::move(connection.fd), connection.peer, me);
    } catch (const std::system_error& error) {
        // No thread to be had (a limit on threads or memory): this peer's
        // socket was closed with the failed thread's arguments; serve others.
        workers_.erase(me);
        log("cannot start a thread for " + connection.peer + ": " + error.what());
        return;
    }
    log_connection(connection.peer + " connected; connection threads: " +
                   std::to_string(workers_.size()));
}

void ThreadedServer::serve_on_own_thread(FileDescriptor connection, std::string peer,
                                         Workers::iterator me) {
    serve_unless_stopped(connection.get());
    connection.reset();
    log_connection(peer + " done");
    std::lock_guard lock(workers_mutex_);
    me->finished = true;
}

void ThreadedServer::join_finished_threads() {
    for (auto worker = workers_.begin(); worker != workers_.end();) {
        if (worker->finished) {
            worker->thread.join();  // it has finished: this returns at once
            worker = workers_.erase(worker);
        } else {
            ++worker;
        }
    }
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
