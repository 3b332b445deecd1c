// select_server.h: one thread serving many connections with select().
//
// The loop, once per round:
//
//   build_fd_sets()      listener + wake pipe + every connection, for reading
//        │               if it wants to read, for writing if output waits
//        ▼
//   select()             sleeps until at least one descriptor is ready
//        │
//        ▼
//   handle_ready()       on_readable / on_writable for the ready connections,
//        │               accept_pending() if the listener is readable
//        ▼
//   close_finished_connections()
//
// Nothing in the round waits for one peer: every socket is non-blocking, so a
// peer that connects and never speaks costs a map entry, not a thread.
//
// Two limits of select() shape this file:
//   - an fd_set is a bitmap of FD_SETSIZE (1024) bits. Descriptors >= 1024
//     cannot be watched at all, and FD_SET() on one writes past the end of
//     the bitmap (memory corruption, not an error code). adopt() refuses such
//     connections; FdSets::watch_* refuses to corrupt memory.
//   - every call hands the kernel the whole set and gets it back: O(n) work
//     per round in the number of descriptors, however few are ready. Chapter
//     03's epoll keeps the set inside the kernel instead.
#pragma once

#include <sys/select.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "nonblocking_connection.h"
#include "socket.h"

namespace course {

// Accepts every connection waiting on a non-blocking listener (until accept
// would block) and makes each one non-blocking.
std::vector<AcceptedConnection> accept_pending(int listen_fd);

// Numbers a SelectServer reports, readable from any thread.
struct SelectServerStats {
    std::size_t open_connections = 0;
    std::size_t accepted = 0;
    std::size_t refused = 0;                 // descriptor >= FD_SETSIZE
    std::size_t select_calls = 0;            // rounds of the loop
    std::size_t largest_pending_output = 0;  // most unsent bytes one connection held
};

class SelectServer {
public:
    // How many reply bytes a connection may hold before we stop reading from it.
    static constexpr std::size_t kDefaultMaxPendingOutput = 1024 * 1024;

    // Serves connections arriving on `listener` (made non-blocking here).
    explicit SelectServer(FileDescriptor listener,
                          std::size_t max_pending_output = kDefaultMaxPendingOutput);

    // Serves until stop() is called, then closes every connection. Call once.
    void run();

    // Makes run() return soon, even if it is asleep in select(). Safe from
    // any thread and from a signal handler; stop() before run() counts.
    void stop();

    std::uint16_t port() const { return local_port(listener_.get()); }
    SelectServerStats stats() const;

private:
    // The two bitmaps handed to select(), and the highest descriptor in them.
    struct FdSets {
        FdSets();
        void watch_read(int fd);
        void watch_write(int fd);
        bool readable(int fd) const { return FD_ISSET(fd, &read); }
        bool writable(int fd) const { return FD_ISSET(fd, &write); }

        fd_set read;
        fd_set write;
        int max_fd = -1;
    };

    FdSets build_fd_sets() const;
    void wait_for_events(FdSets& sets);
    void handle_ready(const FdSets& ready);
    void accept_new_connections();
    void adopt(AcceptedConnection accepted);
    void refuse(const AcceptedConnection& accepted);
    void drain_wake_pipe();
    void close_finished_connections();

    FileDescriptor listener_;
    // The self-pipe: stop() writes a byte into wake_write_; wake_read_ is in
    // every read set, so select() returns. See stop().
    FileDescriptor wake_read_;
    FileDescriptor wake_write_;
    std::atomic<bool> stopping_{false};

    std::size_t max_pending_output_;
    std::map<int, NonBlockingConnection> connections_;  // by descriptor

    std::atomic<std::size_t> accepted_{0};
    std::atomic<std::size_t> refused_{0};
    std::atomic<std::size_t> select_calls_{0};
    std::atomic<std::size_t> largest_pending_output_{0};
    std::atomic<std::size_t> open_connections_{0};
    std::chrono::steady_clock::time_point last_refusal_logged_{};
};

}  // namespace course
