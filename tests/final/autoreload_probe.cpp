// autoreload_probe FILE: a program for autoreload_test.cpp. It watches FILE
// (and its own executable) every 20 ms with tornado::autoreload, prints
// "ready <pid>" once its loop runs and "hook" from its reload hook, and
// ends by itself after 20 s, so that a failed test leaves nothing running
// for long. After a restart by exec the new image prints "ready" again,
// with the same pid.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "tornado/autoreload.h"
#include "tornado/ioloop.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    tornado::IOLoop loop;
    tornado::autoreload::watch(argv[1]);
    tornado::autoreload::add_reload_hook([] {
        std::printf("hook\n");
        std::fflush(stdout);
    });
    tornado::autoreload::start(std::chrono::milliseconds(20));
    loop.add_callback([] {
        std::printf("ready %d\n", static_cast<int>(::getpid()));
        std::fflush(stdout);
    });
    loop.call_later(std::chrono::seconds(20), [&] { loop.stop(); });
    loop.start();
    return 0;
}
