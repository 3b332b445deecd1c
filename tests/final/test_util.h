// test_util.h: what the framework's tests share: a log capture, socket
// pairs, a clock helper, reading a file, and an environment variable set
// for one scope.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/util.h"

namespace tornado::testing {

// Sets an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value, 1);
    }
    ~ScopedEnv() {
        if (old_) {
            ::setenv(name_, old_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
    std::optional<std::string> old_;
};

// The whole of a file (empty if it cannot be read).
inline std::string read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// Shows bytes readably (the others as \xNN) in failure messages.
inline std::string printable(std::string_view bytes) {
    std::string out;
    for (char c : bytes) {
        auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7F) {
            out += c;
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xF];
        }
    }
    return out;
}

// Captures every log record while it lives (Tornado's ExpectLog, simplified).
class LogCapture {
public:
    struct Line {
        LogLevel level;
        std::string logger;
        std::string module;
        std::uint32_t line;
        std::string message;
    };

    LogCapture() {
        previous_ = set_log_handler([this](const LogRecord& record) {
            std::lock_guard lock(mutex_);
            lines_.push_back({record.level, std::string(record.logger), std::string(record.module),
                              record.line, std::string(record.message)});
        });
    }
    ~LogCapture() { set_log_handler(std::move(previous_)); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::vector<Line> lines() const {
        std::lock_guard lock(mutex_);
        return lines_;
    }
    // Lines whose message contains `text`.
    std::vector<Line> matching(const std::string& text) const {
        std::vector<Line> found;
        for (Line& line : lines()) {
            if (line.message.find(text) != std::string::npos) found.push_back(std::move(line));
        }
        return found;
    }
    bool contains(const std::string& text) const { return !matching(text).empty(); }

private:
    mutable std::mutex mutex_;
    std::vector<Line> lines_;
    LogHandler previous_;
};

// Two connected stream sockets (non-blocking), closed on destruction.
struct SocketPair {
    SocketPair() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
            throw_errno("socketpair");
        }
        left.reset(fds[0]);
        right.reset(fds[1]);
    }
    FileDescriptor left;
    FileDescriptor right;
};

inline void write_byte(int fd, char byte = 'x') {
    if (::write(fd, &byte, 1) != 1) throw_errno("write");
}

// Runs `loop` until done() holds (checked every millisecond) or `timeout`
// passes; returns done().
template <typename Predicate>
bool run_until(IOLoop& loop, Predicate done,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = IOLoop::time() + timeout;
    std::function<void()> check;
    check = [&] {
        if (done() || IOLoop::time() >= deadline) {
            loop.stop();
        } else {
            loop.call_later(std::chrono::milliseconds(1), [&] { check(); });
        }
    };
    loop.add_callback([&] { check(); });
    loop.start();
    return done();
}

// Runs `loop` for `turns` turns (each turn runs the callbacks queued by the
// one before).
inline void run_turns(IOLoop& loop, int turns) {
    int left = turns;
    std::function<void()> step;
    step = [&] {
        if (--left <= 0) {
            loop.stop();
        } else {
            loop.add_callback([&] { step(); });
        }
    };
    loop.add_callback([&] { step(); });
    loop.start();
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tornado::testing

namespace tornado::detail {

// Makes `loop` refuse its next `count` send and receive requests, as a full
// io_uring submission ring would (the kernel hardly ever lets it fill):
// the streams' fallbacks, send() and recv() as on epoll, are then what runs.
struct RequestRefusals {
    static void refuse_next(IOLoop& loop, std::uint32_t count) { loop.refuse_requests_ = count; }
};

}  // namespace tornado::detail
