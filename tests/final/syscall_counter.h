// syscall_counter.h: the socket calls the library makes on one descriptor,
// counted, for the tests of how the work is done (a keep-alive request is
// one recv and one send) and of how records are gathered into sends.
//
// The test binary defines recv, send, sendmsg and epoll_ctl itself
// (syscall_counter.cpp): the executable's definition wins over libc's, so
// the library's calls come there, are counted when they concern
// t_watched_fd, and go on to the kernel. Sanitizer builds intercept these
// calls themselves: there TORNADO_TEST_COUNTS_SYSCALLS is not defined,
// nothing is counted, and the tests that count are skipped.
#pragma once

#include <cstddef>

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define TORNADO_TEST_COUNTS_SYSCALLS 1
#endif

// This thread's watched descriptor (-1: none) and its calls.
extern thread_local int t_watched_fd;
extern thread_local int t_recv_calls;
extern thread_local int t_send_calls;
extern thread_local int t_sendmsg_calls;
extern thread_local int t_epoll_ctl_calls;
// The most bytes one send() on it took.
extern thread_local std::size_t t_largest_send;
