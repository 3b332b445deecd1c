// select_server.cpp: see select_server.h for the shape of the loop.
#include "select_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace course {

std::vector<AcceptedConnection> accept_pending([[maybe_unused]] int listen_fd) {
    // TODO(task 1): every connection waiting on the non-blocking listener,
    // not just the first, each made non-blocking (set_nonblocking: it does not
    // inherit O_NONBLOCK from the listener). Nobody waiting: an empty vector,
    // at once. accept_connection() says when nobody is left.
    // Hint: make hint CH=02 TASK=1.
    throw std::logic_error("TODO(task 1): accept_pending");
}

// ---- FdSets -------------------------------------------------------------

namespace {

// An fd_set is a fixed array of FD_SETSIZE bits, and FD_SET(fd) sets bit fd
// without any bounds check: for fd >= FD_SETSIZE it writes into whatever
// memory follows the array. (Only code compiled with _FORTIFY_SOURCE gets a
// check, which aborts.) So every descriptor is checked before it goes in.
void check_selectable(int fd) {
    if (fd < 0 || fd >= FD_SETSIZE) {
        throw std::logic_error("select() cannot watch descriptor " + std::to_string(fd) +
                               " (FD_SETSIZE is " + std::to_string(FD_SETSIZE) + ")");
    }
}

}  // namespace

SelectServer::FdSets::FdSets() {
    FD_ZERO(&read);
    FD_ZERO(&write);
}

void SelectServer::FdSets::watch_read(int fd) {
    check_selectable(fd);
    FD_SET(fd, &read);
    max_fd = std::max(max_fd, fd);
}

void SelectServer::FdSets::watch_write(int fd) {
    check_selectable(fd);
    FD_SET(fd, &write);
    max_fd = std::max(max_fd, fd);
}

// ---- SelectServer --------------------------------------------------------

SelectServer::SelectServer(FileDescriptor listener, std::size_t max_pending_output)
    : listener_(std::move(listener)), max_pending_output_(max_pending_output) {
    // A client may give up between select() saying "readable" and our
    // accept(); a blocking accept() would then wait for the *next* client
    // while everyone else waits for us.
    set_nonblocking(listener_.get());
    int ends[2];
    // Both ends non-blocking: stop() must never wait on a full pipe, and
    // drain_wake_pipe() must stop when it is empty.
    if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) < 0) throw_errno("pipe2");
    wake_read_.reset(ends[0]);
    wake_write_.reset(ends[1]);
}

void SelectServer::run() {
    while (!stopping_) {
        FdSets sets = build_fd_sets();
        wait_for_events(sets);
        handle_ready(sets);
        close_finished_connections();
    }
    connections_.clear();  // closes every socket
    open_connections_ = 0;
}

static_assert(std::atomic<bool>::is_always_lock_free, "stop() must be async-signal-safe");

void SelectServer::stop() {
    // run() may be asleep in select() on another thread. Setting the flag
    // alone would not wake it: select() watches descriptors, not variables.
    // So we also write a byte into a pipe whose read end is in every read
    // set, and select() returns. The byte stays there until drained, so a
    // stop() that lands between run()'s flag check and its select() call is
    // not lost either: that select() returns at once. (The "self-pipe trick".)
    //
    // Only async-signal-safe calls here (a lock-free atomic store, write()),
    // and errno is kept, so a signal handler may call stop().
    int saved_errno = errno;
    stopping_ = true;
    char byte = 1;
    // EAGAIN means the pipe is full: a wake-up is already waiting. Fine.
    [[maybe_unused]] ssize_t ignored = ::write(wake_write_.get(), &byte, 1);
    errno = saved_errno;
}

SelectServerStats SelectServer::stats() const {
    return {.open_connections = open_connections_,
            .accepted = accepted_,
            .refused = refused_,
            .select_calls = select_calls_,
            .largest_pending_output = largest_pending_output_};
}

SelectServer::FdSets SelectServer::build_fd_sets() const {
    // TODO(task 4): fresh sets for this round. The listener and the wake
    // pipe's read end are always watched for reading (without the pipe, stop()
    // cannot wake select()); each connection is watched for what it says it
    // wants (wants_to_read, wants_to_write): do not decide for it.
    // Hint: make hint CH=02 TASK=4.
    throw std::logic_error("TODO(task 4): SelectServer::build_fd_sets");
}

void SelectServer::wait_for_events(FdSets& sets) {
    ++select_calls_;
    // No timeout: this chapter has no timers, so only a socket or the wake
    // pipe can bring work. select() overwrites both sets with the ready
    // descriptors, which is why build_fd_sets() starts afresh every round.
    // The kernel scans all max_fd + 1 bits on every call, and so do we
    // afterwards: O(n) per round however few descriptors are ready.
    int ready = ::select(sets.max_fd + 1, &sets.read, &sets.write, nullptr, nullptr);
    if (ready >= 0) return;
    if (errno != EINTR) throw_errno("select");
    sets = FdSets();  // a signal interrupted the wait: nothing is known ready
}

void SelectServer::handle_ready([[maybe_unused]] const FdSets& ready) {
    // TODO(task 4): act on what select() reported in `ready`: a woken pipe is
    // drained (drain_wake_pipe), each connection gets on_readable() /
    // on_writable() for what was reported on it, and waiting peers are
    // accepted (accept_new_connections). Rules: accept last (a new connection
    // was not in this round's sets); never erase from connections_ here
    // (close_finished_connections() does it). Writing at once after a read
    // that queued a reply saves a round: optional.
    throw std::logic_error("TODO(task 4): SelectServer::handle_ready");
}

void SelectServer::accept_new_connections() {
    for (AcceptedConnection& accepted : accept_pending(listener_.get())) {
        adopt(std::move(accepted));
    }
}

void SelectServer::adopt([[maybe_unused]] AcceptedConnection accepted) {
    // TODO(task 4): take over an accepted connection: it joins connections_,
    // keyed by its descriptor, as a NonBlockingConnection with
    // max_pending_output_ as its backpressure limit, and counts in accepted_.
    // Rule: a descriptor >= FD_SETSIZE cannot go into an fd_set (FD_SET would
    // write past its end): refuse(accepted) it instead (it counts and logs;
    // the socket closes when `accepted` goes out of scope) and return.
    (void)max_pending_output_;  // silences "unused" until you use it; delete it then
    throw std::logic_error("TODO(task 4): SelectServer::adopt");
}

void SelectServer::refuse(const AcceptedConnection& accepted) {
    std::size_t refused = ++refused_;
    // At most one line a second: a crowd of 10,000 clients must not become
    // 9,000 log lines.
    auto now = std::chrono::steady_clock::now();
    if (refused > 1 && now - last_refusal_logged_ < std::chrono::seconds(1)) return;
    last_refusal_logged_ = now;
    std::fprintf(stderr,
                 "select server: refusing %s: descriptor %d >= FD_SETSIZE (%d), "
                 "which select() cannot watch (%zu refused so far)\n",
                 accepted.peer.c_str(), accepted.fd.get(), FD_SETSIZE, refused);
}

void SelectServer::drain_wake_pipe() {
    char bytes[64];
    while (::read(wake_read_.get(), bytes, sizeof bytes) > 0) {
    }
}

void SelectServer::close_finished_connections() {
    // Another O(n) pass; select() already costs one per round.
    for (const auto& [fd, connection] : connections_) {
        std::size_t largest = connection.largest_pending_output();
        if (largest > largest_pending_output_) largest_pending_output_ = largest;
    }
    std::erase_if(connections_, [](const auto& entry) { return entry.second.should_close(); });
    open_connections_ = connections_.size();
}

}  // namespace course
