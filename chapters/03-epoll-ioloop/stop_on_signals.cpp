#include "stop_on_signals.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace course {

FileDescriptor stop_on_signals(IOLoop& loop, std::string program) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    // Blocked signals are not delivered the usual way; they wait for us to
    // read them from the signalfd.
    if (::sigprocmask(SIG_BLOCK, &signals, nullptr) < 0) throw_errno("sigprocmask");
    FileDescriptor fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) throw_errno("signalfd");
    loop.add_handler(fd.get(), [&loop, program = std::move(program)](int signal_fd, std::uint32_t) {
        signalfd_siginfo info{};
        if (::read(signal_fd, &info, sizeof info) == sizeof info) {
            std::fprintf(stderr, "%s: %s, stopping\n", program.c_str(),
                         strsignal(static_cast<int>(info.ssi_signo)));
        }
        loop.stop();
    }, IOLoop::READ);
    return fd;
}

}  // namespace course
