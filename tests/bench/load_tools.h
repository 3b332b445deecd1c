// load_tools.h: what the course's load generators share (ws_load.cpp,
// fanout_load.cpp): the descriptor limit, a stop flag, a fast random
// source, the WebSocket handshake's key and accept value, a response
// header's value, and WebSocket frames as a client writes and reads them.
#pragma once

#include <openssl/evp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

namespace load_tools {

using Clock = std::chrono::steady_clock;

// --- small tools -------------------------------------------------------------

// SIGTERM and SIGINT only set this flag; the loop checks it between waits.
inline volatile std::sig_atomic_t stop_requested = 0;

inline void on_stop_signal(int) { stop_requested = 1; }

inline void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
}

// Every connection needs a descriptor: 10,000 connections need more than the
// usual soft limit of 1024. Raising the hard limit works only for root.
inline void raise_descriptor_limit(rlim_t wanted) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur >= wanted) {
        return;
    }
    rlimit raised{wanted, std::max(limit.rlim_max, wanted)};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
        raised = {std::min(wanted, limit.rlim_max), limit.rlim_max};
        setrlimit(RLIMIT_NOFILE, &raised);
    }
}

// CPU time (user + system) this process has used so far, in microseconds.
inline std::int64_t cpu_time_us() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto micros = [](const timeval& t) { return std::int64_t{t.tv_sec} * 1000000 + t.tv_usec; };
    return micros(usage.ru_utime) + micros(usage.ru_stime);
}

// Time this process spent ready to run but waiting for its core, other
// work having it, in microseconds: the second figure of
// /proc/self/schedstat (nanoseconds). 0 where the kernel does not keep it.
inline std::int64_t waiting_for_core_us() {
    std::FILE* file = std::fopen("/proc/self/schedstat", "r");
    if (file == nullptr) {
        return 0;
    }
    unsigned long long running_ns = 0;
    unsigned long long waiting_ns = 0;
    int found = std::fscanf(file, "%llu %llu", &running_ns, &waiting_ns);
    std::fclose(file);
    return found == 2 ? static_cast<std::int64_t>(waiting_ns / 1000) : 0;
}

inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Masking keys and handshake keys. RFC 6455 wants masking keys a proxy
// cannot predict; against our own server a fast generator (splitmix64)
// seeded once from std::random_device is enough, and costs next to nothing
// per message.
class FastRandom {
public:
    FastRandom() : state_((std::uint64_t{std::random_device{}()} << 32) | std::random_device{}()) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

private:
    std::uint64_t state_;
};

inline std::string base64(const unsigned char* data, std::size_t size) {
    std::string text(4 * ((size + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), data, static_cast<int>(size));
    return text;
}

// A fresh Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455, 4.1).
inline std::string handshake_key(FastRandom& random) {
    unsigned char key_bytes[16];
    for (int i = 0; i < 16; i += 8) {
        std::uint64_t bits = random.next();
        std::memcpy(key_bytes + i, &bits, 8);
    }
    return base64(key_bytes, sizeof key_bytes);
}

// What the server must answer in Sec-WebSocket-Accept (RFC 6455, 4.2.2):
// base64(SHA-1(key + the protocol's fixed GUID)).
inline std::string expected_accept(const std::string& key) {
    std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    EVP_Digest(input.data(), input.size(), digest, &digest_size, EVP_sha1(), nullptr);
    return base64(digest, digest_size);
}

inline bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// The value of header `name` in an HTTP response head, or "" when absent.
inline std::string_view header_value(std::string_view head, std::string_view name) {
    std::size_t line_start = head.find("\r\n");
    while (line_start != std::string_view::npos && line_start + 2 < head.size()) {
        line_start += 2;
        std::size_t line_end = head.find("\r\n", line_start);
        std::string_view line = head.substr(line_start, line_end - line_start);
        std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && equal_ignoring_case(line.substr(0, colon), name)) {
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
                value.remove_prefix(1);
            }
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
                value.remove_suffix(1);
            }
            return value;
        }
        line_start = line_end;
    }
    return {};
}

// --- WebSocket frames (RFC 6455, section 5.2) --------------------------------

inline constexpr int kOpContinuation = 0x0;
inline constexpr int kOpText = 0x1;
inline constexpr int kOpBinary = 0x2;
inline constexpr int kOpClose = 0x8;
inline constexpr int kOpPing = 0x9;
inline constexpr int kOpPong = 0xA;

// Appends one client frame to `out`: FIN set, the payload masked with `mask`
// (every frame a client sends must be masked).
inline void append_masked_frame(std::string& out, int opcode, std::string_view payload,
                         std::uint32_t mask) {
    out.push_back(static_cast<char>(0x80 | opcode));
    std::size_t size = payload.size();
    if (size < 126) {
        out.push_back(static_cast<char>(0x80 | size));
    } else if (size <= 0xFFFF) {
        out.push_back(static_cast<char>(0x80 | 126));
        for (int shift = 8; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(size >> shift));
    }
    char key[4];
    std::memcpy(key, &mask, 4);
    out.append(key, 4);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
    }
}

struct Frame {
    bool fin = false;
    int opcode = 0;
    bool masked = false;             // a server must not mask
    std::string_view payload;
    std::size_t total_size = 0;      // header + payload
};

// The first frame of `data`, or false while it has not all arrived.
inline bool parse_frame(std::string_view data, Frame& frame) {
    if (data.size() < 2) {
        return false;
    }
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(data[i]); };
    frame.fin = (byte(0) & 0x80) != 0;
    frame.opcode = byte(0) & 0x0F;
    frame.masked = (byte(1) & 0x80) != 0;
    std::uint64_t size = byte(1) & 0x7F;
    std::size_t header = 2;
    if (size >= 126) {
        std::size_t length_bytes = size == 126 ? 2 : 8;
        if (data.size() < header + length_bytes) {
            return false;
        }
        size = 0;
        for (std::size_t i = 0; i < length_bytes; ++i) size = (size << 8) | byte(header + i);
        header += length_bytes;
    }
    if (frame.masked) {
        header += 4;
    }
    if (data.size() < header || data.size() - header < size) {
        return false;
    }
    frame.payload = data.substr(header, size);
    frame.total_size = header + size;
    return true;
}

}  // namespace load_tools
