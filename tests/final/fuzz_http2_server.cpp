// fuzz_http2_server.cpp: a libFuzzer target for final/'s HTTP/2 server
// (tornado::http2, final/http2/): the frames a client
// sends after the connection preface, read by HTTPServer with
// options.http2 over a real loopback connection, routed by a
// web::Application to a handler that reads every argument, cookie and
// file, or to one that answers more than a stream's window.
//
//   make fuzz FUZZ_TARGETS=fuzz_http2_server FUZZ_SECONDS=60     (clang, libFuzzer)
//   build/bin/fuzz_http2_server_replay tests/final/fuzz_corpus/http2_server   (any compiler; CTest runs it)
//   FUZZ_VERBOSE=1 build/bin/fuzz_http2_server_replay FILE     (lists the frames the server wrote)
//
// Both are built where the add-on is (always). The input follows
// the 24-byte preface the harness sends first (so that no run is spent on
// a wrong preface): on a cleartext port, final/'s HTTP/1 connection reads
// the preface's first line as a request head and hands the stream over to
// an HTTP/2 connection (prior knowledge, final/http2/README.md). Then the
// client half-closes (shutdown SHUT_WR) and reads until the server closes.
// The seeds (seed-*) are chapter 10's: the frames a real client, Python's
// h2, wrote after the preface (a GET, a POST with a body, settings, pings,
// a reset, trailers, CONTINUATION, many streams, a large window).
// What the server promises, checked on every input:
//
// * it never crashes (ASan, UBSan), hangs (a deadline per input), keeps
//   the connection after the client is done, or keeps it on its list;
// * what it writes is whole frames (9-byte header and its payload; the
//   last one may be cut short only when the connection ended with a
//   reset, which loses what was in flight), its SETTINGS (not an ACK)
//   first;
// * no GOAWAY or RST_STREAM it sends carries INTERNAL_ERROR: bad frames
//   are the client's fault (PROTOCOL_ERROR, FRAME_SIZE_ERROR, ...), an
//   exception of ours escaping is the server's, like HTTP/1's 500.
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/gen.h"
#include "tornado/http2.h"
#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"
#include "tornado/web.h"
#include "fuzz_read_everything.h"

namespace {

using namespace std::chrono_literals;

// A broken promise: said, then abort(), so that libFuzzer keeps the input.
void check(bool condition, const char* promise) {
    if (condition) return;
    std::fprintf(stderr, "fuzz_http2_server: broken promise: %s\n", promise);
    std::abort();
}

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t kSettings = 4, kRstStream = 3, kGoaway = 7;
constexpr std::uint32_t kInternalError = 2;
constexpr auto kDeadline = 5s;
// More than a stream's initial window (65,535), so that flow control runs.
constexpr std::size_t kBigBody = 100000;

// A body larger than the client's windows: DATA frames wait for its
// WINDOW_UPDATEs.
class Big : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write(std::string(kBigBody, 'x')); }
    void post(const tornado::PathArgs&) override { write(std::string(kBigBody, 'y')); }
};

// One server for the whole run: making a loop and a listener per input
// would cost more than the input.
struct Server {
    tornado::IOLoop loop;
    std::unique_ptr<tornado::Application> app;
    tornado::HTTPServer* server = nullptr;

    Server() {
        // Resets and GOAWAYs are what most inputs earn: no log line for each.
        tornado::gen_log.set_level(tornado::LogLevel::none);
        tornado::app_log.set_level(tornado::LogLevel::none);
        tornado::access_log.set_level(tornado::LogLevel::none);
        app = std::make_unique<tornado::Application>(std::vector<tornado::URLSpec>{
            {"/big", tornado::handler<Big>()},
            {"/p/([^/]*)/(.*)", tornado::handler<ReadEverything>()},
            {"/.*", tornado::handler<ReadEverything>()},
        });
        tornado::HTTPServerOptions options;
        options.http2 = true;
        options.max_body_size = 1024 * 1024;
        options.idle_connection_timeout = std::chrono::seconds(2);
        options.body_timeout = std::chrono::seconds(2);
        server = &app->listen(0, "127.0.0.1", options);
    }
};

std::uint32_t u32_at(std::string_view bytes, std::size_t at) {
    auto byte = [&](std::size_t i) { return std::uint32_t{static_cast<std::uint8_t>(bytes[at + i])}; };
    return (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
}

struct Exchange {
    std::string answer;  // every byte the server wrote
    bool reset = false;  // the connection ended with an error (a reset), not a FIN
};

// Sends the preface and `data`, half-closes, and returns what the server
// says until it closes. The read starts first: the server may answer, and
// close, before it has read all of the data.
tornado::Task<Exchange> exchange(std::uint16_t port, std::string_view data) {
    tornado::TCPClient client;
    std::shared_ptr<tornado::IOStream> stream = co_await client.connect("127.0.0.1", port);
    // An abortive close when the stream closes: no TIME_WAIT left behind
    // where it can be avoided (thousands of runs a second).
    linger abortive{1, 0};
    ::setsockopt(stream->fileno(), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    tornado::Future<std::string> answer = stream->read_until_close();
    try {
        std::string out(kPreface);
        out.append(data);
        co_await stream->write(out);
        ::shutdown(stream->fileno(), SHUT_WR);
    } catch (const tornado::StreamClosedError&) {
        // Closed by the server before it took everything: its answer stands.
    }
    Exchange result;
    // read_until_close gives every byte that came, after a reset too;
    // error() says whether there was one.
    result.answer = co_await std::move(answer);
    result.reset = stream->error() != nullptr;
    co_return result;
}

// Once the client has seen the close, the connection must leave the
// server's list too, within a moment.
tornado::Task<bool> server_forgets(tornado::HTTPServer& server) {
    auto deadline = std::chrono::steady_clock::now() + 1s;
    while (server.connection_count() != 0) {
        if (std::chrono::steady_clock::now() > deadline) co_return false;
        co_await tornado::sleep(1ms);
    }
    co_return true;
}

const char* frame_name(std::uint8_t type) {
    static const char* const names[] = {"DATA",   "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
                                        "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE",
                                        "CONTINUATION"};
    return type < 10 ? names[type] : "unknown";
}

// Whole frames, SETTINGS first, and no INTERNAL_ERROR.
void check_frames(std::string_view answer, bool reset, bool verbose) {
    bool first = true;
    while (answer.size() >= 9) {
        std::size_t length = (std::size_t{static_cast<std::uint8_t>(answer[0])} << 16) |
                             (std::size_t{static_cast<std::uint8_t>(answer[1])} << 8) |
                             std::size_t{static_cast<std::uint8_t>(answer[2])};
        auto type = static_cast<std::uint8_t>(answer[3]);
        auto flags = static_cast<std::uint8_t>(answer[4]);
        if (answer.size() < 9 + length) break;
        std::string_view payload = answer.substr(9, length);
        if (verbose) {
            std::fprintf(stderr, "  %s flags=0x%02x stream=%u length=%zu", frame_name(type), flags,
                         u32_at(answer, 5) & 0x7fffffffu, length);
            if (type == kGoaway && payload.size() >= 8) {
                std::fprintf(stderr, " last=%u error=%u", u32_at(payload, 0) & 0x7fffffffu,
                             u32_at(payload, 4));
            }
            if (type == kRstStream && payload.size() == 4) {
                std::fprintf(stderr, " error=%u", u32_at(payload, 0));
            }
            std::fprintf(stderr, "\n");
        }
        if (first) check(type == kSettings && (flags & 1) == 0, "its SETTINGS come first");
        if (type == kGoaway) {
            check(payload.size() >= 8 && u32_at(payload, 4) != kInternalError,
                  "no GOAWAY INTERNAL_ERROR");
        }
        if (type == kRstStream) {
            check(payload.size() == 4 && u32_at(payload, 0) != kInternalError,
                  "no RST_STREAM INTERNAL_ERROR");
        }
        answer.remove_prefix(9 + length);
        first = false;
    }
    check(answer.empty() || reset, "whole frames (a frame is cut short only by a reset)");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    static Server* server = new Server();  // never destroyed: the process ends with the run
    static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
    std::string_view data(reinterpret_cast<const char*>(bytes), size);
    Exchange result;
    try {
        result = server->loop.run_sync([&] { return exchange(server->server->port(), data); },
                                       kDeadline);
    } catch (const tornado::TimeoutError&) {
        check(false, "the server closes, within 5 s");
    }
    if (verbose) {
        std::fprintf(stderr, "%zu bytes in, %zu bytes back%s\n", size, result.answer.size(),
                     result.reset ? ", then a reset" : "");
    }
    check_frames(result.answer, result.reset, verbose);
    check(server->loop.run_sync([&] { return server_forgets(*server->server); }),
          "the connection leaves the server");
    return 0;
}
