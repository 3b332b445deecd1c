// poller_io_uring.cpp: the io_uring backend (see poller.h).
//
// io_uring is two rings shared with the kernel: the program writes requests
// (submission queue entries, SQEs) into one, and the kernel writes results
// (completion queue entries, CQEs) into the other. A request is any system
// call the kernel can do without us (recv, send, accept, poll ...); one
// io_uring_enter hands over every request written since the last, and may
// wait for results in the same call.
//
// The loop's readiness API is served by poll requests:
//
//   add_handler(fd, READ | EDGE)   one multishot poll: it stays in the
//                                  kernel and answers at each new wake-up of
//                                  fd, as edge-triggered epoll does;
//   add_handler(fd, READ)          a one-shot poll, placed again after the
//                                  handler has run: if fd is still ready, it
//                                  answers at once, so the handler is called
//                                  every turn while fd is ready, as
//                                  level-triggered epoll does;
//   update_handler / remove_handler  the poll is cancelled (and placed anew).
//
// Nothing is sent to the kernel on its own: add, modify and re-arm write
// SQEs, and wait() submits them all with the call that waits. remove() is
// the exception (see there), and submit(), for a caller that wants a send
// to leave before the turn ends.
//
// Requests are named in their user_data. A poll's is the descriptor, and an
// arming number that changes each time the descriptor's poll is placed. A
// completion whose number is not the current one belongs to a poll since
// cancelled or replaced, and is dropped here, before the loop sees it.
//
// The loop also asks for sends and receives (send(), recv()): IOStream's
// writes and reads on this backend. Their user_data is the loop's token
// with the top bit set, which no poll's has (the arming number has 30
// bits), and their results go to the loop as they are.
//
// A receive names no buffer: it draws one from a ring of buffers the
// poller lent the kernel at set-up ("provided buffers"), when its bytes
// come, and the report says which. So a thousand connections waiting for
// their next request hold no buffer at all, and the few that have bytes in
// a turn share a small pool. The loop gives each buffer back (recycle())
// once the stream has copied out its bytes.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "core/poller.h"

#if TORNADO_HAVE_IO_URING
#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>
#endif

namespace tornado::detail {

#if TORNADO_HAVE_IO_URING

namespace {

// The submission ring holds what one turn writes; a fuller one is submitted
// early (next_sqe). The completion ring is larger, because every multishot
// poll may answer in the same turn; a kernel that finds it full keeps the
// surplus on an overflow list (IORING_FEAT_NODROP) and ends the multishot
// polls it could not answer, which are then placed again.
constexpr unsigned kSubmissionEntries = 1024;
constexpr unsigned kCompletionEntries = 8192;

// The user_data of the cancel requests themselves: their answers mean
// nothing to us. No descriptor is 0xffffffff, so no poll is named so.
constexpr std::uint64_t kIgnoredCompletion = UINT64_MAX;

// Set in the user_data of the loop's own requests (send), never in a poll's.
constexpr std::uint64_t kRequestBit = std::uint64_t{1} << 63;
constexpr std::uint32_t kArmingMask = 0x3fffffff;  // Watch::arming's 30 bits

std::uint64_t poll_name(int fd, std::uint32_t arming) {
    return (static_cast<std::uint64_t>(arming & kArmingMask) << 32) |
           static_cast<std::uint32_t>(fd);
}

// The receive buffers: how many (a power of two, as the ring needs), and
// the group the receives draw from. When all are in use in one turn, a
// receive reports -ENOBUFS and the stream asks again (IOStream::on_received).
constexpr unsigned kRecvBuffers = 1024;
constexpr std::uint16_t kRecvBufferGroup = 0;
constexpr std::size_t kRecvBufferSize = IOLoop::kRecvBufferSize;

// How long close waits for cancelled requests to report (finish_requests).
constexpr int kFinishRequestsMs = 1000;

class IoUringPoller final : public Poller {
public:
    IoUringPoller() = default;
    ~IoUringPoller() override {
        if (ring_made_) io_uring_queue_exit(&ring_);  // before the buffers go
        if (buffer_ring_ != nullptr) ::munmap(buffer_ring_, buffer_ring_bytes());
    }
    IoUringPoller(const IoUringPoller&) = delete;
    IoUringPoller& operator=(const IoUringPoller&) = delete;

    // Asks for what the poller relies on, and refuses kernels without it:
    // SUBMIT_ALL (5.18: one bad request does not stop the rest of a batch),
    // COOP_TASKRUN (5.19: the kernel finishes a completion when we next
    // enter it, instead of interrupting the loop; 5.19 has multishot poll
    // too) and EXT_ARG (a wait with a time limit in the same call). False,
    // and why, when the kernel refuses.
    bool set_up(std::string& why) {
        io_uring_params params{};
        params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                       IORING_SETUP_TASKRUN_FLAG;
        params.cq_entries = kCompletionEntries;
        int error = io_uring_queue_init_params(kSubmissionEntries, &ring_, &params);
        if (error < 0) {
            why = error == -EINVAL
                      ? "io_uring on this kernel lacks what the loop needs (Linux 5.19 or later)"
                      : std::string("io_uring_setup: ") + std::strerror(-error);
            return false;
        }
        ring_made_ = true;
        if ((params.features & IORING_FEAT_EXT_ARG) == 0) {
            why = "io_uring on this kernel cannot wait with a time limit (Linux 5.11 or later)";
            return false;
        }
        // Each io_uring_enter then skips looking up the ring's descriptor.
        io_uring_register_ring_fd(&ring_);
        return provide_buffers(why);
    }

    IOLoop::Backend backend() const noexcept override { return IOLoop::Backend::io_uring; }

    // The kernel looks at fd only when the request is submitted: a bad
    // descriptor is answered with an error completion (reported to the
    // handler as ERROR), not refused here as epoll_ctl would.
    void add(int fd, std::uint32_t events, std::uint64_t token) override {
        if (static_cast<std::size_t>(fd) >= watches_.size()) {
            watches_.resize(static_cast<std::size_t>(fd) + 1);
        }
        Watch& watch = watches_[static_cast<std::size_t>(fd)];
        watch.token = token;
        watch.events = events;
        arm(fd, watch);  // may throw: then fd is not watched
        watch.active = true;
    }

    void modify(int fd, std::uint32_t events, std::uint64_t token) override {
        Watch& watch = watches_.at(static_cast<std::size_t>(fd));
        watch.token = token;
        watch.events = events;
        cancel(watch, fd);
        arm(fd, watch);
    }

    // Submitted at once, unlike the rest: a poll request holds a reference
    // to the open file, so until the kernel has cancelled it, the caller's
    // close(fd) would not close the socket, and the peer would wait for its
    // FIN until the loop's next turn. (epoll_ctl DEL is one call too.)
    void remove(int fd) noexcept override {
        if (fd < 0 || static_cast<std::size_t>(fd) >= watches_.size()) return;
        Watch& watch = watches_[static_cast<std::size_t>(fd)];
        if (!watch.active) return;
        watch.active = false;
        cancel(watch, fd);
        watch.arming = (watch.arming + 1) & kArmingMask;  // what the old poll answers is stale
        io_uring_submit(&ring_);
    }

    std::size_t wait(int timeout_ms, std::span<ReadyEvent> ready) override {
        rearm_answered();
        int result;
        if (timeout_ms == 0) {
            result = io_uring_submit_and_get_events(&ring_);
        } else {
            io_uring_cqe* first = nullptr;
            __kernel_timespec limit{};
            limit.tv_sec = timeout_ms / 1000;
            limit.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
            result = io_uring_submit_and_wait_timeout(&ring_, &first, 1,
                                                      timeout_ms < 0 ? nullptr : &limit, nullptr);
        }
        // ETIME: the time ran out. EINTR: a signal (as with epoll_wait).
        // EBUSY, EAGAIN: the completion ring is full or the kernel is short
        // of memory; what is there is read below, which makes room.
        if (result < 0 && result != -ETIME && result != -EINTR && result != -EBUSY &&
            result != -EAGAIN) {
            errno = -result;
            throw_errno("io_uring_enter");
        }
        return reap(ready);
    }

    // MSG_WAITALL: on a stream socket the kernel keeps sending until it has
    // taken every byte, waiting for room as a poll would, so one report
    // means "all sent", or an error (with the count sent before it, if any).
    bool send(int fd, const char* data, std::size_t size, std::uint64_t token) override {
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return false;
        io_uring_prep_send(sqe, fd, data, size, MSG_NOSIGNAL | MSG_WAITALL);
        io_uring_sqe_set_data64(sqe, kRequestBit | token);
        ++requests_in_flight_;
        return true;
    }

    // A one-shot receive (multishot would go on reading while no read is
    // pending, and IOStream reads only then: flow control). POLL_FIRST: the
    // kernel waits for bytes, as a poll would, without first trying a recv
    // that would find nothing (a stream asks only once its socket is
    // empty), and receives when they come, into the buffer it picks then.
    bool recv(int fd, std::uint64_t token, bool poll_first) override {
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return false;
        io_uring_prep_recv(sqe, fd, nullptr, kRecvBufferSize, 0);
        if (poll_first) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = kRecvBufferGroup;
        io_uring_sqe_set_data64(sqe, kRequestBit | token);
        ++requests_in_flight_;
        return true;
    }

    std::string_view received(int buffer, std::size_t size) const override {
        return {recv_buffers_.get() + static_cast<std::size_t>(buffer) * kRecvBufferSize,
                std::min(size, kRecvBufferSize)};
    }

    void recycle(int buffer) noexcept override {
        io_uring_buf_ring_add(
            buffer_ring_, recv_buffers_.get() + static_cast<std::size_t>(buffer) * kRecvBufferSize,
            kRecvBufferSize, static_cast<unsigned short>(buffer),
            io_uring_buf_ring_mask(kRecvBuffers), 0);
        io_uring_buf_ring_advance(buffer_ring_, 1);
    }

    // Only when there is something to hand over: a caller may ask after
    // each of several writes, of which only the first made a request.
    void submit() noexcept override {
        if (io_uring_sq_ready(&ring_) > 0) io_uring_submit(&ring_);
    }

    // At once, as remove(): the request holds the socket's file open.
    void cancel_request(std::uint64_t token) noexcept override {
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return;
        io_uring_prep_cancel64(sqe, kRequestBit | token, 0);
        io_uring_sqe_set_data64(sqe, kIgnoredCompletion);
        io_uring_submit(&ring_);
    }

    // One cancel for every request in the ring (ANY, Linux 5.19), polls
    // included: the loop is closing.
    void finish_requests() noexcept override {
        if (io_uring_sqe* sqe = next_sqe(); sqe != nullptr) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, kIgnoredCompletion);
        }
        io_uring_submit(&ring_);
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(kFinishRequestsMs);
        while (requests_in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
            io_uring_cqe* first = nullptr;
            __kernel_timespec limit{};
            limit.tv_nsec = 100'000'000;
            io_uring_submit_and_wait_timeout(&ring_, &first, 1, &limit, nullptr);
            unsigned seen = 0;
            unsigned head;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                if (is_request(io_uring_cqe_get_data64(cqe))) --requests_in_flight_;
            }
            io_uring_cq_advance(&ring_, seen);
        }
    }

private:
    // One per descriptor, so every connection has one: 16 bytes.
    struct Watch {
        std::uint64_t token = 0;
        std::uint32_t events = 0;
        std::uint32_t arming : 30 = 0;  // names the poll now placed (poll_name)
        std::uint32_t active : 1 = 0;   // added and not removed
        std::uint32_t armed : 1 = 0;    // a poll for it is in the kernel
    };

    // The receive buffers, and the ring through which the kernel is lent
    // them (page-aligned, hence mmap). Registering it needs Linux 5.19,
    // which set_up already asked for.
    bool provide_buffers(std::string& why) {
        void* ring = ::mmap(nullptr, buffer_ring_bytes(), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ring == MAP_FAILED) {
            why = std::string("mmap for io_uring's buffer ring: ") + std::strerror(errno);
            return false;
        }
        buffer_ring_ = static_cast<io_uring_buf_ring*>(ring);
        io_uring_buf_reg registration{};
        registration.ring_addr = reinterpret_cast<std::uintptr_t>(ring);
        registration.ring_entries = kRecvBuffers;
        registration.bgid = kRecvBufferGroup;
        int error = io_uring_register_buf_ring(&ring_, &registration, 0);
        if (error < 0) {
            why = std::string("io_uring cannot lend it receive buffers: ") + std::strerror(-error);
            return false;
        }
        recv_buffers_ = std::make_unique_for_overwrite<char[]>(kRecvBuffers * kRecvBufferSize);
        io_uring_buf_ring_init(buffer_ring_);
        for (unsigned buffer = 0; buffer < kRecvBuffers; ++buffer)
            recycle(static_cast<int>(buffer));
        return true;
    }

    static std::size_t buffer_ring_bytes() { return kRecvBuffers * sizeof(io_uring_buf); }

    // Null only if the ring is full and the kernel takes nothing from it.
    io_uring_sqe* next_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        return sqe;
    }

    // ERROR is always asked for, as epoll always reports it. EDGE is the
    // loop's bit, not poll's: it chooses multishot instead.
    void arm(int fd, Watch& watch) {
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) {
            errno = EBUSY;
            throw_errno("io_uring: no room to place a poll for fd " + std::to_string(fd));
        }
        std::uint32_t mask = (watch.events & ~IOLoop::EDGE) | IOLoop::ERROR;
        if ((watch.events & IOLoop::EDGE) != 0) {
            io_uring_prep_poll_multishot(sqe, fd, mask);
        } else {
            io_uring_prep_poll_add(sqe, fd, mask);
        }
        watch.arming = (watch.arming + 1) & kArmingMask;
        io_uring_sqe_set_data64(sqe, poll_name(fd, watch.arming));
        watch.armed = true;
    }

    // ASYNC_CANCEL, not POLL_REMOVE: a poll that is answering at that
    // moment (as a multishot poll placed on a ready descriptor is, at once)
    // refuses POLL_REMOVE with EALREADY and goes on, holding the file open;
    // ASYNC_CANCEL marks it, and it ends as soon as its answer is done.
    // If no SQE is to be had, the poll stays in the kernel: its answers are
    // stale (the caller changes the arming) and dropped, and it goes when
    // the ring closes.
    void cancel(Watch& watch, int fd) noexcept {
        if (!watch.armed) return;
        watch.armed = false;
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return;
        io_uring_prep_cancel64(sqe, poll_name(fd, watch.arming), 0);
        io_uring_sqe_set_data64(sqe, kIgnoredCompletion);
    }

    // The one-shot polls that answered last turn, whose handlers have run
    // since, and any multishot poll the kernel ended.
    void rearm_answered() {
        for (int fd : answered_) {
            Watch& watch = watches_[static_cast<std::size_t>(fd)];
            if (watch.active && !watch.armed) arm(fd, watch);
        }
        answered_.clear();
    }

    // The completions are consumed before any handler runs: a handler may
    // add or remove polls, and must not find the ring mid-read.
    std::size_t reap(std::span<ReadyEvent> ready) {
        std::size_t count = 0;
        unsigned seen = 0;
        unsigned head;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            if (count == ready.size()) break;
            ++seen;
            std::uint64_t name = io_uring_cqe_get_data64(cqe);
            if (name == kIgnoredCompletion) continue;
            if (is_request(name)) {
                --requests_in_flight_;
                int buffer = (cqe->flags & IORING_CQE_F_BUFFER) != 0
                                 ? static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT)
                                 : -1;
                ready[count++] = {name & ~kRequestBit, 0, cqe->res, buffer, true};
                continue;
            }
            auto fd = static_cast<std::size_t>(name & 0xffffffffu);
            auto arming = static_cast<std::uint32_t>(name >> 32);
            if (fd >= watches_.size()) continue;
            Watch& watch = watches_[fd];
            if (!watch.active || watch.arming != arming) continue;  // stale
            bool failed = cqe->res < 0;
            if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
                // The poll is over. Placed again after the handler has run,
                // unless it failed (a bad descriptor would fail forever).
                watch.armed = false;
                if (!failed) answered_.push_back(static_cast<int>(fd));
            }
            std::uint32_t events = failed ? IOLoop::ERROR : static_cast<std::uint32_t>(cqe->res);
            ready[count++] = {watch.token, events, 0, -1, false};
        }
        io_uring_cq_advance(&ring_, seen);
        return count;
    }

    static bool is_request(std::uint64_t name) {
        return name != kIgnoredCompletion && (name & kRequestBit) != 0;
    }

    io_uring ring_{};
    bool ring_made_ = false;  // io_uring_queue_init succeeded: exit it
    // Indexed by descriptor, as the loop's handlers, and a deque for the
    // same reason as theirs: it grows a block at a time, never doubling.
    std::deque<Watch> watches_;
    std::vector<int> answered_;
    std::size_t requests_in_flight_ = 0;  // requests submitted (or about to be) and not reported
    io_uring_buf_ring* buffer_ring_ = nullptr;
    std::unique_ptr<char[]> recv_buffers_;
};

}  // namespace

std::unique_ptr<Poller> make_io_uring_poller(std::string& why) {
    auto poller = std::make_unique<IoUringPoller>();
    if (!poller->set_up(why)) return nullptr;
    return poller;
}

#else

std::unique_ptr<Poller> make_io_uring_poller(std::string& why) {
    why = "this build has no io_uring (liburing-dev was missing when it was built)";
    return nullptr;
}

#endif

}  // namespace tornado::detail
