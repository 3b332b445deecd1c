// poll_server.h: the chapter's one-thread server on poll(2) instead of
// select(): the same loop, with no FD_SETSIZE limit.
//
// Extension task 5 of exercise 02, written out: the reference solution.
// The learner's copy is exercises/02-select/poll_server.h.
//
// The loop, once per round (select_server.h's, with one array of pollfd
// entries in place of the two fd_sets):
//
//   build_poll_list()    [0] wake pipe  POLLIN
//        │               [1] listener   POLLIN
//        │               [2...] one entry per connection: POLLIN while it
//        │                      wants_to_read(), POLLOUT while it
//        ▼                      wants_to_write()
//   poll()               sleeps until an entry is ready; writes each
//        │               entry's revents (what happened) beside its events
//        ▼               (what we asked)
//   handle_ready()       each connection's revents → on_readable / on_writable
//        │               listener POLLIN → accept_pending(), adopt()
//        ▼
//   close_finished_connections()
//
// It reuses the chapter's pieces (accept_pending, NonBlockingConnection and
// its Conversation, FileDescriptor); only the loop is new. What changes
// from select():
//
//   - No FD_SETSIZE. An entry names its descriptor by number instead of by a
//     bit in a 1024-bit map, so descriptor 1024 or 50,000 is watched like
//     descriptor 5, and adopt() refuses nothing. The open-file limit
//     (RLIMIT_NOFILE) is the only limit left.
//   - revents may hold bits nobody asked for. POLLHUP (hung up) and POLLERR
//     (an error is pending) come whatever `events` said, and need not come
//     with POLLIN or POLLOUT: POSIX says a hung-up stream is never writable,
//     and a pipe's hang-up comes alone. (Linux adds POLLIN and POLLOUT to a
//     reset TCP socket; do not count on it.) They are handled as "ready for
//     what was asked": that read or write meets the end of stream or the
//     error, and the connection marks itself for closing. Ignored, they
//     would make poll() return at once, every round, for a connection that
//     never closes: a busy loop.
//   - POLLNVAL means an entry names a descriptor that is not open. The array
//     is rebuilt from the open connections every round, so that is a bug in
//     this file, never a peer's doing: handle_ready() throws.
//   - The array and the connection map are two containers. An entry's
//     revents belong to the descriptor in *its* fd field; handle_ready()
//     looks the connection up by that number, and nothing is added to or
//     erased from the map until the pass is over.
//
// What does not change: every call copies the whole array into the kernel,
// which checks every entry, and back out; then we pass over every entry.
// O(n) per round in the number of connections, however few are ready.
// Chapter 03's epoll keeps the interest list inside the kernel instead.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nonblocking_connection.h"
#include "select_server.h"  // accept_pending()
#include "socket.h"

namespace course {

// Numbers a PollServer reports, readable from any thread.
struct PollServerStats {
    std::size_t open_connections = 0;
    std::size_t accepted = 0;
    std::size_t poll_calls = 0;              // rounds of the loop
    std::size_t largest_pending_output = 0;  // most unsent bytes one connection held
};

class PollServer {
public:
    // How many reply bytes a connection may hold before we stop reading from it.
    static constexpr std::size_t kDefaultMaxPendingOutput = SelectServer::kDefaultMaxPendingOutput;

    // Serves connections arriving on `listener` (made non-blocking here).
    explicit PollServer(FileDescriptor listener,
                        std::size_t max_pending_output = kDefaultMaxPendingOutput);

    // Serves until stop() is called, then closes every connection. Call once.
    void run();

    // Makes run() return soon, even if it is asleep in poll(). Safe from any
    // thread and from a signal handler; stop() before run() counts.
    void stop();

    std::uint16_t port() const { return local_port(listener_.get()); }
    PollServerStats stats() const;

private:
    // The two fixed entries of the array; connections follow them.
    static constexpr std::size_t kWakeEntry = 0;
    static constexpr std::size_t kListenerEntry = 1;
    static constexpr std::size_t kFirstConnectionEntry = 2;

    std::vector<pollfd> build_poll_list() const;
    void wait_for_events(std::vector<pollfd>& entries);
    void handle_ready(const std::vector<pollfd>& entries);
    static void handle_connection(NonBlockingConnection& connection, const pollfd& entry);
    void accept_new_connections();
    void adopt(AcceptedConnection accepted);
    void drain_wake_pipe();
    void close_finished_connections();

    FileDescriptor listener_;
    // The self-pipe, as in SelectServer: stop() writes a byte into
    // wake_write_; wake_read_ is in every poll list, so poll() returns.
    FileDescriptor wake_read_;
    FileDescriptor wake_write_;
    std::atomic<bool> stopping_{false};

    std::size_t max_pending_output_;
    std::map<int, NonBlockingConnection> connections_;  // by descriptor

    std::atomic<std::size_t> accepted_{0};
    std::atomic<std::size_t> poll_calls_{0};
    std::atomic<std::size_t> largest_pending_output_{0};
    std::atomic<std::size_t> open_connections_{0};
};

// ---- given: the same as SelectServer's --------------------------------------

inline PollServer::PollServer(FileDescriptor listener, std::size_t max_pending_output)
    : listener_(std::move(listener)), max_pending_output_(max_pending_output) {
    // A client may give up between poll() saying "readable" and accept().
    set_nonblocking(listener_.get());
    int ends[2];
    // Both ends non-blocking: stop() must never wait on a full pipe, and
    // drain_wake_pipe() must stop when it is empty.
    if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) < 0) throw_errno("pipe2");
    wake_read_.reset(ends[0]);
    wake_write_.reset(ends[1]);
}

inline void PollServer::run() {
    while (!stopping_) {
        std::vector<pollfd> entries = build_poll_list();
        wait_for_events(entries);
        handle_ready(entries);
        close_finished_connections();
    }
    connections_.clear();  // closes every socket
    open_connections_ = 0;
}

inline void PollServer::stop() {
    // The self-pipe trick (see SelectServer::stop()): the flag for run(), a
    // byte for poll(), which watches descriptors, not variables. Only
    // async-signal-safe calls, and errno is kept, so a signal handler may
    // call it.
    int saved_errno = errno;
    stopping_ = true;
    char byte = 1;
    // EAGAIN means the pipe is full: a wake-up is already waiting. Fine.
    [[maybe_unused]] ssize_t ignored = ::write(wake_write_.get(), &byte, 1);
    errno = saved_errno;
}

inline PollServerStats PollServer::stats() const {
    return {.open_connections = open_connections_,
            .accepted = accepted_,
            .poll_calls = poll_calls_,
            .largest_pending_output = largest_pending_output_};
}

inline void PollServer::accept_new_connections() {
    for (AcceptedConnection& accepted : accept_pending(listener_.get())) {
        adopt(std::move(accepted));
    }
}

inline void PollServer::drain_wake_pipe() {
    char bytes[64];
    while (::read(wake_read_.get(), bytes, sizeof bytes) > 0) {
    }
}

inline void PollServer::close_finished_connections() {
    for (const auto& [fd, connection] : connections_) {
        std::size_t largest = connection.largest_pending_output();
        if (largest > largest_pending_output_) largest_pending_output_ = largest;
    }
    std::erase_if(connections_, [](const auto& entry) { return entry.second.should_close(); });
    open_connections_ = connections_.size();
}

// ---- task 5 -------------------------------------------------------------------

inline std::vector<pollfd> PollServer::build_poll_list() const {
    std::vector<pollfd> entries;
    entries.reserve(kFirstConnectionEntry + connections_.size());
    entries.push_back({.fd = wake_read_.get(), .events = POLLIN, .revents = 0});
    entries.push_back({.fd = listener_.get(), .events = POLLIN, .revents = 0});
    for (const auto& [fd, connection] : connections_) {
        short events = 0;
        if (connection.wants_to_read()) events |= POLLIN;
        if (connection.wants_to_write()) events |= POLLOUT;
        // Every connection gets an entry, even one asking for nothing: its
        // hang-up or error is still reported.
        entries.push_back({.fd = fd, .events = events, .revents = 0});
    }
    return entries;
}

inline void PollServer::wait_for_events(std::vector<pollfd>& entries) {
    ++poll_calls_;
    // -1: no timeout, as in SelectServer; only a socket or the wake pipe
    // brings work. The kernel copies in and checks all entries: O(n).
    int ready = ::poll(entries.data(), entries.size(), -1);
    if (ready >= 0) return;
    if (errno != EINTR) throw_errno("poll");
    // A signal came first: nothing is known ready. (Linux leaves every
    // revents at 0 then; POSIX does not promise it.)
    for (pollfd& entry : entries) entry.revents = 0;
}

inline void PollServer::handle_ready(const std::vector<pollfd>& entries) {
    for (const pollfd& entry : entries) {
        if (entry.revents & POLLNVAL) {
            throw std::logic_error("poll(): descriptor " + std::to_string(entry.fd) +
                                   " is not open (POLLNVAL): a closed descriptor is in the list");
        }
    }
    if (entries[kWakeEntry].revents & POLLIN) drain_wake_pipe();
    for (std::size_t i = kFirstConnectionEntry; i < entries.size(); ++i) {
        const pollfd& entry = entries[i];
        if (entry.revents == 0) continue;
        // By the number in the entry, not by position: that cannot get out
        // of step. (The map is not changed before the pass is over.)
        handle_connection(connections_.at(entry.fd), entry);
    }
    // Last, so that the map does not change during the pass above.
    if (entries[kListenerEntry].revents & POLLIN) accept_new_connections();
}

inline void PollServer::handle_connection(NonBlockingConnection& connection, const pollfd& entry) {
    short ready = entry.revents & (POLLIN | POLLOUT);
    // Hung up or an error: ready for whatever was asked. The read then sees
    // end of stream or the error, the write the error, and the connection
    // marks itself for closing. (Python's selectors.PollSelector does the
    // same.)
    if (entry.revents & (POLLHUP | POLLERR)) ready |= entry.events;
    bool readable = (ready & POLLIN) != 0;
    if (readable) connection.on_readable();
    // A fresh reply goes out at once, as in SelectServer::handle_ready().
    if ((ready & POLLOUT) || (readable && connection.wants_to_write())) {
        connection.on_writable();
    }
}

inline void PollServer::adopt(AcceptedConnection accepted) {
    // No FD_SETSIZE guard: any descriptor number can go into a pollfd.
    int fd = accepted.fd.get();
    ++accepted_;
    connections_.try_emplace(fd, std::move(accepted.fd), std::move(accepted.peer),
                             max_pending_output_);
}

}  // namespace course
