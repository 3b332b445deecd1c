// poller_epoll.cpp: the epoll backend (see poller.h), the loop's default.
//
// The kernel keeps the watched set: add, modify and remove are one
// epoll_ctl each, and wait is one epoll_wait. The loop's bits are epoll's,
// so they pass through unchanged: a handler that asks for EDGE gets
// EPOLLET, edge-triggered; one that does not is level-triggered.
#include <sys/epoll.h>

#include <cerrno>
#include <vector>

#include "core/poller.h"

namespace tornado::detail {

namespace {

class EpollPoller final : public Poller {
public:
    EpollPoller() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!epoll_fd_) throw_errno("epoll_create1");
    }

    IOLoop::Backend backend() const noexcept override { return IOLoop::Backend::epoll; }

    // (epoll reports ERROR whether asked or not: adding it only makes that
    // explicit.)
    void add(int fd, std::uint32_t events, std::uint64_t token) override {
        control(EPOLL_CTL_ADD, fd, events, token, "epoll_ctl ADD fd ");
    }

    void modify(int fd, std::uint32_t events, std::uint64_t token) override {
        control(EPOLL_CTL_MOD, fd, events, token, "epoll_ctl MOD fd ");
    }

    // Failure is harmless: a closed descriptor has left the epoll set anyway.
    // (Not if a dup() of fd lives on: epoll watches the open file, not the
    // number. Hence ioloop.h's rule: remove the handler, then close.)
    void remove(int fd) noexcept override {
        ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    }

    // A signal handler that interrupts epoll_wait makes it fail with EINTR,
    // SA_RESTART or not (signal(7)): not an error, just no events.
    std::size_t wait(int timeout_ms, std::span<ReadyEvent> ready) override {
        if (events_.size() < ready.size()) events_.resize(ready.size());
        int count = ::epoll_wait(epoll_fd_.get(), events_.data(), static_cast<int>(ready.size()),
                                 timeout_ms);
        if (count < 0) {
            if (errno == EINTR) return 0;
            throw_errno("epoll_wait");
        }
        for (int i = 0; i < count; ++i) {
            const epoll_event& event = events_[static_cast<std::size_t>(i)];
            ready[static_cast<std::size_t>(i)] = {event.data.u64, event.events, 0, -1, false};
        }
        return static_cast<std::size_t>(count);
    }

private:
    void control(int operation, int fd, std::uint32_t events, std::uint64_t token,
                 const char* what) {
        epoll_event event{};
        event.events = events | IOLoop::ERROR;
        event.data.u64 = token;
        if (::epoll_ctl(epoll_fd_.get(), operation, fd, &event) < 0) {
            throw_errno(what + std::to_string(fd));
        }
    }

    FileDescriptor epoll_fd_;
    std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<Poller> make_epoll_poller() { return std::make_unique<EpollPoller>(); }

}  // namespace tornado::detail
