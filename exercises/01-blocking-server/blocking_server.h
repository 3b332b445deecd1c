// blocking_server.h: two servers built from blocking calls only.
//
// Both speak the Conversation (conversation.h) over blocking sockets
// (socket.h); they differ only in how many peers they serve at once.
//
//   IterativeServer   one thread: accept a peer, serve it until it leaves,
//                     accept the next. While one peer is connected, nobody
//                     else is served: the others wait in the kernel's
//                     listen backlog.
//
//   ThreadedServer    one thread accepts; every peer gets a thread of its
//                     own. A slow or silent peer now blocks only its own
//                     thread, and each connection costs a thread (a stack,
//                     a kernel task, context switches).
//
// Tests run a server on a thread of their own and must be able to end it,
// so both servers have stop(): any thread may call it, and run() returns
// soon after, with every connection closed and every thread joined. Destroy
// a server only once its run() has returned (or was never called).
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "socket.h"

namespace course {

// Talks with the peer on the blocking socket `fd`: reads what arrives, feeds
// it to a Conversation, writes the reply back; until the peer closes or the
// Conversation is finished. The caller owns `fd` and closes it. An error on
// this connection (a peer that reset it, say) is logged to stderr, not
// thrown: it ends this conversation, not the server.
void serve_connection(int fd);

// The same, owning the connection: closes it when the conversation ends.
void serve_connection(FileDescriptor connection);

// What both servers share: the listening socket, and stop().
class BlockingServer {
public:
    // Takes a socket from listen_tcp() (so the caller knows the port before
    // run() starts).
    explicit BlockingServer(FileDescriptor listener);

    std::uint16_t port() const { return local_port(listener_.get()); }

    // Log each connection's start and end to stderr (the demos do). Call
    // before run().
    void log_connections(bool on) { log_connections_ = on; }

    // Ends run() from any thread: no more connections are accepted, and the
    // ones open now are shut down.
    void stop();

protected:
    ~BlockingServer() = default;

    // Waits for the next peer. Returns an invalid fd once stop() was called.
    AcceptedConnection accept_next();

    // serve_connection(fd), unless stop() was called first; stop() called
    // meanwhile ends it (the peer sees the connection close).
    void serve_unless_stopped(int fd);

    // A line on stderr: log() always, log_connection() if log_connections(true).
    void log(const std::string& line) const;
    void log_connection(const std::string& line) const;

private:
    FileDescriptor listener_;
    bool log_connections_ = false;

    std::mutex mutex_;            // guards the two members below
    bool stopping_ = false;
    std::set<int> open_sockets_;  // what stop() must shut down
};

// Serves one peer at a time, on the thread that calls run().
class IterativeServer : public BlockingServer {
public:
    using BlockingServer::BlockingServer;

    // Accepts and serves peers one after the other until stop().
    void run();
};

// Serves every peer on a thread of its own.
class ThreadedServer : public BlockingServer {
public:
    using BlockingServer::BlockingServer;
    // Stops the server and joins every connection thread it started.
    ~ThreadedServer();

    // Accepts peers and starts a thread for each, until stop(); then waits
    // for those threads to end before returning.
    void run();

    // Connection threads started and not yet joined (finished ones are
    // joined when the next peer arrives, and all of them when run() ends).
    std::size_t thread_count();

private:
    struct Worker {
        std::thread thread;
        bool finished = false;  // set by the thread itself, under workers_mutex_
    };
    using Workers = std::list<Worker>;  // a list: iterators stay valid

    void start_thread(AcceptedConnection connection);
    void serve_on_own_thread(FileDescriptor connection, std::string peer, Workers::iterator me);
    void join_finished_threads();  // call with workers_mutex_ held
    void join_all_threads();

    std::mutex workers_mutex_;  // guards workers_ (and each Worker::finished)
    Workers workers_;
};

}  // namespace course
