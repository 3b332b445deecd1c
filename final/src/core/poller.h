// poller.h (inside final/src, not installed): how the IOLoop asks the kernel
// which descriptors are ready. Tornado 4 had one IOLoop class per kernel
// interface (tornado/platform/epoll.py, kqueue.py, select.py); here the loop
// is one class, and what differs is this small interface, chosen when the
// loop is made (IOLoop::Backend):
//
//   poller_epoll.cpp     epoll: the kernel keeps the set of watched
//                        descriptors; each epoll_ctl changes it, and
//                        epoll_wait returns the ready ones. Readiness.
//   poller_io_uring.cpp  io_uring: each watch is a poll request placed in a
//                        ring shared with the kernel; the answers come back
//                        as completions in a second ring. Many requests go
//                        in with one system call, the one that also waits.
//
// Both report the same thing in the same words: a token the loop chose, and
// epoll's event bits (IOLoop::READ, WRITE, ERROR, EPOLLRDHUP).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tornado/ioloop.h"

namespace tornado::detail {

// ReadyEvent (a token and its events) is in tornado/ioloop.h, which keeps
// a turn's worth of them.

class Poller {
public:
    virtual ~Poller() = default;

    virtual IOLoop::Backend backend() const noexcept = 0;

    // Watches fd for `events` (IOLoop's bits, EDGE included); `token` comes
    // back with each of its events. Throws std::system_error when the
    // kernel refuses the descriptor.
    virtual void add(int fd, std::uint32_t events, std::uint64_t token) = 0;
    // Watches fd, already added, for other events or under a new token.
    virtual void modify(int fd, std::uint32_t events, std::uint64_t token) = 0;
    // Stops watching fd. When this returns the kernel has let go of it, so
    // that closing fd closes the socket at once.
    virtual void remove(int fd) noexcept = 0;

    // --- requests (io_uring only) ---------------------------------------------
    // The kernel does the system call itself and reports when it is done:
    // the result comes back from wait() as a ReadyEvent with completion set.

    // Asks the kernel to send all of data[0, size) on socket fd
    // (MSG_NOSIGNAL), with the next submission. False when this poller
    // cannot (epoll), or has no room for the request.
    virtual bool send(int /*fd*/, const char* /*data*/, std::size_t /*size*/,
                      std::uint64_t /*token*/) {
        return false;
    }
    // Asks the kernel to receive from socket fd, once bytes come, into one
    // of the poller's buffers (IOLoop::kRecvBufferSize bytes each): the
    // report names it (ReadyEvent::buffer). poll_first: wait for bytes
    // before trying. False as for send.
    virtual bool recv(int /*fd*/, std::uint64_t /*token*/, bool /*poll_first*/) { return false; }
    // The first `size` bytes of a buffer a receive reported.
    virtual std::string_view received(int /*buffer*/, std::size_t /*size*/) const { return {}; }
    // Gives a reported buffer back, for the next receives.
    virtual void recycle(int /*buffer*/) noexcept {}
    // Asks the kernel to end the request `token` now. It still reports, with
    // -ECANCELED or with what it had done.
    virtual void cancel_request(std::uint64_t /*token*/) noexcept {}
    // Cancels every request, waits (a second at most) until each has
    // reported, and drops the reports: the loop is closing, and the memory
    // the requests use is about to be freed.
    virtual void finish_requests() noexcept {}
    // Hands the kernel the requests written since the last submission now,
    // without waiting for anything (the next wait() would have).
    virtual void submit() noexcept {}

    // Waits at most timeout_ms (0: not at all, -1: without limit) for
    // descriptors to be ready, fills `ready` with them and returns how many
    // (those that do not fit wait for the next call). A signal ends the wait
    // early, maybe with nothing ready.
    virtual std::size_t wait(int timeout_ms, std::span<ReadyEvent> ready) = 0;
};

std::unique_ptr<Poller> make_epoll_poller();
// nullptr when this kernel or this build has no io_uring, or refuses it
// (io_uring_disabled, a seccomp filter, a container); `why` says which.
std::unique_ptr<Poller> make_io_uring_poller(std::string& why);

}  // namespace tornado::detail
