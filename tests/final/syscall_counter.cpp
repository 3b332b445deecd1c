// syscall_counter.cpp: see syscall_counter.h.
#include "syscall_counter.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

thread_local int t_watched_fd = -1;
thread_local int t_recv_calls = 0;
thread_local int t_send_calls = 0;
thread_local int t_sendmsg_calls = 0;
thread_local int t_epoll_ctl_calls = 0;
thread_local std::size_t t_largest_send = 0;

#ifdef TORNADO_TEST_COUNTS_SYSCALLS
extern "C" ssize_t recv(int fd, void* buffer, size_t length, int flags) {
    if (fd == t_watched_fd) ++t_recv_calls;
    return static_cast<ssize_t>(::syscall(SYS_recvfrom, fd, buffer, length, flags, nullptr, nullptr));
}
extern "C" ssize_t send(int fd, const void* buffer, size_t length, int flags) {
    auto sent = static_cast<ssize_t>(::syscall(SYS_sendto, fd, buffer, length, flags, nullptr, 0));
    if (fd == t_watched_fd) {
        ++t_send_calls;
        if (sent > 0) t_largest_send = std::max(t_largest_send, static_cast<std::size_t>(sent));
    }
    return sent;
}
extern "C" ssize_t sendmsg(int fd, const msghdr* message, int flags) {
    if (fd == t_watched_fd) ++t_sendmsg_calls;
    return static_cast<ssize_t>(::syscall(SYS_sendmsg, fd, message, flags));
}
extern "C" int epoll_ctl(int epoll_fd, int op, int fd, epoll_event* event) noexcept {
    if (fd == t_watched_fd) ++t_epoll_ctl_calls;
    return static_cast<int>(::syscall(SYS_epoll_ctl, epoll_fd, op, fd, event));
}
#endif
