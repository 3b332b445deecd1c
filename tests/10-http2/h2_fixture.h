// h2_fixture.h: an HTTP2Server on a loop thread of its own, and a raw
// HTTP/2 client for the test thread that writes frames byte by byte and
// reads them back, so that a test can send what no real client would.
//
// The client's framing is written here on purpose, not taken from the
// chapter's frame.h: the code under test must not grade itself. Its HPACK
// is nghttp2's (nghttp2_hd_*), which the chapter uses too, but only as a
// codec: every rule the tests check is the chapter's.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "escaped.h"
#include "http2server.h"
#include "ioloop.h"
#include "test_client.h"

namespace course::testing {

using namespace std::chrono_literals;

// Frame types and flags, spelled out again (RFC 9113 section 6).
enum : std::uint8_t {
    kData = 0,
    kHeaders = 1,
    kPriority = 2,
    kRstStream = 3,
    kSettings = 4,
    kPushPromise = 5,
    kPing = 6,
    kGoaway = 7,
    kWindowUpdate = 8,
    kContinuation = 9,
};
constexpr std::uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4;
// Error codes (section 7) and settings (section 6.5.2).
enum : std::uint32_t {
    kNoError = 0,
    kProtocolError = 1,
    kFlowControlError = 3,
    kStreamClosed = 5,
    kFrameSizeError = 6,
    kRefusedStream = 7,
    kCancel = 8,
    kEnhanceYourCalm = 0xb,
};
enum : std::uint16_t {
    kHeaderTableSize = 1,
    kEnablePush = 2,
    kMaxConcurrentStreams = 3,
    kInitialWindowSize = 4,
    kMaxFrameSize = 5,
    kMaxHeaderListSize = 6,
};

inline const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Names for failure messages, spelled out here too, so that a message says
// "FRAME_SIZE_ERROR", not "6" or "4-byte object <06-00 00-00>".
inline std::string error_name(std::uint32_t code) {
    static const char* const names[] = {
        "NO_ERROR",         "PROTOCOL_ERROR",    "INTERNAL_ERROR",      "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT", "STREAM_CLOSED",     "FRAME_SIZE_ERROR",    "REFUSED_STREAM",
        "CANCEL",           "COMPRESSION_ERROR", "CONNECT_ERROR",       "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
    if (code < std::size(names)) return names[code];
    return "error code " + std::to_string(code);
}

inline std::string frame_name(std::uint8_t type) {
    static const char* const names[] = {"DATA",     "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS", "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    if (type < std::size(names)) return names[type];
    return "frame type " + std::to_string(type);
}

// An error code as a GOAWAY or RST_STREAM carried it, printed by name.
struct WireError {
    static constexpr std::uint32_t kNoneCame = ~0u;
    std::uint32_t code;
    WireError(std::uint32_t value) : code(value) {}  // NOLINT: compared with kProtocolError, ...
    friend bool operator==(WireError a, WireError b) { return a.code == b.code; }
};
inline void PrintTo(WireError error, std::ostream* out) {
    *out << (error.code == WireError::kNoneCame ? std::string("none came") : error_name(error.code));
}

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Frame {
    std::uint32_t length = 0;
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::uint32_t stream_id = 0;
    std::string payload;
    Fields fields;         // HEADERS: the decoded block (with its CONTINUATIONs)
    bool missing = false;  // read_until found nothing (the failure is reported)

    bool has(std::uint8_t flag) const { return (flags & flag) != 0; }
};

inline Frame missing_frame() {
    Frame frame;
    frame.missing = true;
    return frame;
}

inline std::string u32(std::uint32_t value) {
    return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
            static_cast<char>(value >> 8), static_cast<char>(value)};
}

inline std::uint32_t get_u32(const std::string& bytes, std::size_t at) {
    auto byte = [&](std::size_t i) {
        return std::uint32_t{static_cast<std::uint8_t>(bytes[at + i])};
    };
    return (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
}

// One frame as bytes: the 9-byte header, then the payload.
inline std::string frame_bytes(std::uint8_t type, std::uint8_t flags, std::uint32_t stream_id,
                               const std::string& payload, std::uint32_t length_override = ~0u) {
    std::uint32_t length = length_override == ~0u ? payload.size() : length_override;
    std::string out{static_cast<char>(length >> 16), static_cast<char>(length >> 8),
                    static_cast<char>(length), static_cast<char>(type), static_cast<char>(flags)};
    return out + u32(stream_id) + payload;
}

inline std::string setting(std::uint16_t id, std::uint32_t value) {
    return std::string{static_cast<char>(id >> 8), static_cast<char>(id)} + u32(value);
}

// A GET for `path`, every field as a literal.
inline Fields get_fields(const std::string& path, const std::string& method = "GET") {
    return {
        {":method", method}, {":scheme", "http"}, {":authority", "test.example"}, {":path", path}};
}

// A client that speaks HTTP/2 in raw frames.
class H2Client {
public:
    // Connects; with `handshake`, sends the preface and SETTINGS (with
    // `settings`), reads the server's SETTINGS and acknowledges them.
    explicit H2Client(std::uint16_t port, bool handshake = true, const std::string& settings = "")
        : tcp_(port) {
        // Each frame leaves at once (no Nagle): a test's timing is its own.
        int on = 1;
        ::setsockopt(tcp_.fd(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        nghttp2_hd_deflate_new(&deflater_, 4096);
        nghttp2_hd_inflate_new(&inflater_);
        if (!handshake) return;
        try {
            this->handshake(settings);
        } catch (...) {  // no destructor runs for a constructor that throws
            nghttp2_hd_deflate_del(deflater_);
            nghttp2_hd_inflate_del(inflater_);
            throw;
        }
    }
    ~H2Client() {
        nghttp2_hd_deflate_del(deflater_);
        nghttp2_hd_inflate_del(inflater_);
    }
    H2Client(const H2Client&) = delete;
    H2Client& operator=(const H2Client&) = delete;

    void handshake(const std::string& settings = "") {
        send(kPreface + frame_bytes(kSettings, 0, 0, settings));
        Frame first = read_frame();
        ASSERT_EQ(first.type, kSettings) << "the server's first frame must be SETTINGS";
        ASSERT_FALSE(first.has(kAck));
        for (std::size_t at = 0; at + 6 <= first.payload.size(); at += 6) {
            auto id =
                static_cast<std::uint16_t>((static_cast<std::uint8_t>(first.payload[at]) << 8) |
                                           static_cast<std::uint8_t>(first.payload[at + 1]));
            server_settings[id] = get_u32(first.payload, at + 2);
        }
        send(frame_bytes(kSettings, kAck, 0, ""));
    }

    void send(const std::string& bytes) { tcp_.send(bytes); }
    void send_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream_id,
                    const std::string& payload = "") {
        send(frame_bytes(type, flags, stream_id, payload));
    }

    std::string encode(const Fields& fields) {
        std::vector<nghttp2_nv> nva;
        for (const auto& [name, value] : fields) {
            nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                           reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                           name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
        }
        std::string block(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
        auto size = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<std::uint8_t*>(block.data()),
                                          block.size(), nva.data(), nva.size());
        block.resize(size < 0 ? 0 : static_cast<std::size_t>(size));
        return block;
    }

    void send_headers(std::uint32_t stream_id, const Fields& fields, bool end_stream = true) {
        send_frame(kHeaders, kEndHeaders | (end_stream ? kEndStream : 0), stream_id,
                   encode(fields));
    }
    void send_data(std::uint32_t stream_id, const std::string& data, bool end_stream = false) {
        send_frame(kData, end_stream ? kEndStream : 0, stream_id, data);
    }
    void window_update(std::uint32_t stream_id, std::uint32_t increment) {
        send_frame(kWindowUpdate, 0, stream_id, u32(increment));
    }

    // The next frame; a HEADERS block (and its CONTINUATIONs) is decoded
    // into `fields`, as every block must be, in order.
    Frame read_frame(std::chrono::milliseconds timeout = 5s) {
        std::string head = tcp_.read_bytes(9, timeout);
        Frame frame;
        frame.length = (std::uint32_t{static_cast<std::uint8_t>(head[0])} << 16) |
                       (std::uint32_t{static_cast<std::uint8_t>(head[1])} << 8) |
                       std::uint32_t{static_cast<std::uint8_t>(head[2])};
        frame.type = static_cast<std::uint8_t>(head[3]);
        frame.flags = static_cast<std::uint8_t>(head[4]);
        frame.stream_id = get_u32(head, 5) & 0x7fffffff;
        if (frame.length > 0) frame.payload = tcp_.read_bytes(frame.length, timeout);
        if (frame.type == kHeaders || frame.type == kContinuation) {
            block_ += frame.payload;
            if (frame.has(kEndHeaders)) {
                frame.fields = decode(block_);
                block_.clear();
            }
        }
        return frame;
    }

    // The first frame that satisfies `wanted`: one passed over by an
    // earlier call, or the next to arrive. Frames passed over are kept for
    // later calls, and recorded in `skipped`. Fails the test (and returns a
    // frame marked missing) on timeout.
    Frame read_until(const std::function<bool(const Frame&)>& wanted,
                     std::chrono::milliseconds timeout = 5s) {
        for (auto it = unclaimed_.begin(); it != unclaimed_.end(); ++it) {
            if (wanted(*it)) {
                Frame frame = std::move(*it);
                unclaimed_.erase(it);
                return frame;
            }
        }
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) break;
            try {
                Frame frame = read_frame(left);
                if (wanted(frame)) return frame;
                skipped.push_back(frame);
                unclaimed_.push_back(std::move(frame));
            } catch (const std::exception& error) {
                ADD_FAILURE() << "waiting for a frame: " << error.what();
                return missing_frame();
            }
        }
        ADD_FAILURE() << "no such frame within " << timeout.count() << " ms";
        return missing_frame();
    }

    // The GOAWAY's error code (none came: WireError::kNoneCame).
    WireError expect_goaway(std::chrono::milliseconds timeout = 5s) {
        Frame goaway = read_until([](const Frame& f) { return f.type == kGoaway; }, timeout);
        if (goaway.payload.size() < 8) return WireError::kNoneCame;
        last_goaway_stream = get_u32(goaway.payload, 0) & 0x7fffffff;
        last_goaway_debug = goaway.payload.substr(8);
        return get_u32(goaway.payload, 4);
    }

    // The RST_STREAM's error code for `stream_id` (none came: WireError::kNoneCame).
    WireError expect_rst(std::uint32_t stream_id, std::chrono::milliseconds timeout = 5s) {
        Frame rst = read_until(
            [&](const Frame& f) {
                if (f.type == kGoaway)
                    ADD_FAILURE() << "GOAWAY " << goaway_text(f) << " instead of RST_STREAM";
                return (f.type == kRstStream && f.stream_id == stream_id) || f.type == kGoaway;
            },
            timeout);
        return rst.type == kRstStream ? WireError(get_u32(rst.payload, 0)) : WireError::kNoneCame;
    }

    // "PROTOCOL_ERROR (last stream 3): the server's message", for failures.
    static std::string goaway_text(const Frame& goaway) {
        if (goaway.payload.size() < 8) return "of " + std::to_string(goaway.length) + " bytes";
        return error_name(get_u32(goaway.payload, 4)) + " (last stream " +
               std::to_string(get_u32(goaway.payload, 0) & 0x7fffffff) +
               "): " + escaped(goaway.payload.substr(8));
    }

    struct Response {
        int status = 0;
        Fields headers;
        std::string body;
        std::vector<std::uint32_t> data_frame_sizes;
    };
    // HEADERS, then DATA until END_STREAM, for `stream_id`. Frames of other
    // streams go to `skipped`. No WINDOW_UPDATE is sent: the response must
    // fit the windows (or the test opens them).
    Response read_response(std::uint32_t stream_id, std::chrono::milliseconds timeout = 5s) {
        Response response;
        while (true) {
            Frame frame = read_until(
                [&](const Frame& f) { return f.stream_id == stream_id || f.type == kGoaway; },
                timeout);
            if (frame.missing) {
                ADD_FAILURE() << "stream " << stream_id << ": its answer did not end within "
                              << timeout.count() << " ms (no END_STREAM yet; status "
                              << response.status << ", " << response.body.size()
                              << " bytes of body so far)";
                return response;
            }
            if (frame.type == kGoaway) {
                ADD_FAILURE() << "stream " << stream_id << ": GOAWAY " << goaway_text(frame)
                              << " before its answer ended";
                return response;
            }
            if (frame.type == kRstStream) {
                ADD_FAILURE() << "stream " << stream_id << ": reset with RST_STREAM "
                              << error_name(get_u32(frame.payload, 0))
                              << " before its answer ended";
                return response;
            }
            if (frame.type == kHeaders && frame.has(kEndHeaders)) {
                for (const auto& [name, value] : frame.fields) {
                    if (name == ":status")
                        response.status = std::stoi(value);
                    else
                        response.headers.emplace_back(name, value);
                }
            }
            if (frame.type == kData) {
                response.body += frame.payload;
                response.data_frame_sizes.push_back(frame.length);
            }
            if ((frame.type == kHeaders || frame.type == kData) && frame.has(kEndStream))
                return response;
        }
    }

    std::string header(const Response& response, const std::string& name) {
        for (const auto& [key, value] : response.headers) {
            if (key == name) return value;
        }
        return "";
    }

    bool closed_by_server(std::chrono::milliseconds timeout = 5s) {
        return tcp_.closed_by_server(timeout);
    }
    int fd() const { return tcp_.fd(); }

    std::map<std::uint16_t, std::uint32_t> server_settings;
    std::vector<Frame> skipped;
    std::uint32_t last_goaway_stream = 0;
    std::string last_goaway_debug;

private:
    Fields decode(const std::string& block) {
        Fields fields;
        const auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
        std::size_t left = block.size();
        while (true) {
            nghttp2_nv nv;
            int flags = 0;
            auto used = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
            if (used < 0) {
                ADD_FAILURE() << "the server's header block is not valid HPACK";
                return fields;
            }
            in += used;
            left -= static_cast<std::size_t>(used);
            if (flags & NGHTTP2_HD_INFLATE_EMIT) {
                fields.emplace_back(std::string(reinterpret_cast<char*>(nv.name), nv.namelen),
                                    std::string(reinterpret_cast<char*>(nv.value), nv.valuelen));
            }
            if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
            if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) break;
        }
        nghttp2_hd_inflate_end_headers(inflater_);
        return fields;
    }

    TestClient tcp_;
    nghttp2_hd_deflater* deflater_ = nullptr;
    nghttp2_hd_inflater* inflater_ = nullptr;
    std::string block_;
    std::deque<Frame> unclaimed_;
};

// Answers: "/" Hello, world; "/echo" the body; "/length" the body's
// length; "/big?n=N" N bytes; "/slow?ms=N" Hello after N ms (100 by
// default); anything else 404.
inline void test_routes(std::shared_ptr<HTTPServerRequest> request) {
    IOLoop& loop = IOLoop::current();
    auto argument = [&](const std::string& name, int fallback) {
        auto found = request->query_arguments.find(name);
        return found == request->query_arguments.end() ? fallback
                                                       : std::stoi(found->second.front());
    };
    if (request->path == "/") return request->reply(200, "Hello, world");
    if (request->path == "/echo") return request->reply(200, request->body);
    if (request->path == "/length") return request->reply(200, std::to_string(request->body.size()));
    if (request->path == "/big") {
        std::string body(static_cast<std::size_t>(argument("n", 1000)), 'x');
        for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
        return request->reply(200, body);
    }
    if (request->path == "/slow") {
        loop.call_later(std::chrono::milliseconds(argument("ms", 100)),
                        [request] { request->reply(200, "Hello, slowly"); });
        return;
    }
    request->reply(404, "Not found");
}

class HTTP2ServerTest : public ::testing::Test {
protected:
    void start(HTTP2Server::RequestCallback callback = test_routes,
               HTTP2ConnectionParameters params = {}) {
        server = std::make_unique<HTTP2Server>(std::move(callback), loop, params);
        server->listen(0);
        loop_thread = std::thread([this] { loop.start(); });
    }

    // Closes every connection and waits for their coroutines to end, so
    // that no coroutine frame is left suspended when the loop goes.
    void TearDown() override {
        if (!loop_thread.joinable()) return;
        on_loop([this] { server->close_all_connections(); });
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (std::chrono::steady_clock::now() < deadline) {
            std::size_t open = 1;
            on_loop([&] { open = server->connections(); });
            if (open == 0) break;
            std::this_thread::sleep_for(5ms);
        }
        loop.stop();
        loop_thread.join();
    }

    std::uint16_t port() const { return server->port(); }

    // Runs `work` on the loop thread and waits for it.
    void on_loop(std::function<void()> work) {
        std::promise<void> done;
        loop.add_callback([&] {
            work();
            done.set_value();
        });
        ASSERT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
    }

    // A new connection is still taken, promptly: its SETTINGS come and a
    // PING is answered (no stream needed, so task 1's tests need no later task).
    void expect_still_accepting() {
        H2Client other(port());
        other.send_frame(kPing, 0, 0, "stillon!");
        Frame pong = other.read_until([](const Frame& f) { return f.type == kPing; }, 2s);
        EXPECT_TRUE(pong.has(kAck));
        EXPECT_EQ(pong.payload, "stillon!");
    }

    // A new connection is still served, promptly.
    void expect_still_serving() {
        H2Client other(port());
        other.send_headers(1, get_fields("/"));
        H2Client::Response response = other.read_response(1, 2s);
        EXPECT_EQ(response.status, 200);
        EXPECT_EQ(response.body, "Hello, world");
    }

    IOLoop loop;
    std::unique_ptr<HTTP2Server> server;
    std::thread loop_thread;
};

}  // namespace course::testing

// GoogleTest finds these by the enums' namespace: a failure prints the
// chapter's values by name, in the tests' own spelling.
namespace course::http2 {

inline void PrintTo(ErrorCode code, std::ostream* out) {
    *out << course::testing::error_name(static_cast<std::uint32_t>(code));
}

inline void PrintTo(FrameType type, std::ostream* out) {
    *out << course::testing::frame_name(static_cast<std::uint8_t>(type));
}

inline void PrintTo(StreamState state, std::ostream* out) {
    switch (state) {
        case StreamState::idle: *out << "idle"; return;
        case StreamState::open: *out << "open"; return;
        case StreamState::half_closed_remote: *out << "half-closed (remote)"; return;
        case StreamState::half_closed_local: *out << "half-closed (local)"; return;
        case StreamState::closed: *out << "closed"; return;
    }
    *out << "StreamState " << static_cast<int>(state);
}

inline void PrintTo(SettingId id, std::ostream* out) {
    *out << "setting 0x" << std::hex << static_cast<unsigned>(id) << std::dec;
}

}  // namespace course::http2
