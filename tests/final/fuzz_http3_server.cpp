// fuzz_http3_server.cpp: a libFuzzer target for final/'s HTTP/3 listener
// (tornado::http3, final/http3/, over ngtcp2 and nghttp3): datagrams fed
// to HTTP3Server::receive() from one client address, the answers taken by
// a sink of the harness's (no socket: the listener takes datagrams and
// sends through a DatagramSink for this).
//
//   make fuzz FUZZ_TARGETS=fuzz_http3_server FUZZ_SECONDS=60     (clang, libFuzzer)
//   build/bin/fuzz_http3_server_replay tests/final/fuzz_corpus/http3_server   (any compiler; CTest
//   runs it) FUZZ_VERBOSE=1 build/bin/fuzz_http3_server_replay FILE     (lists what the server
//   sent)
//
// The input is datagrams, each a 2-byte big-endian length and that many
// bytes (the last may be cut short). QUIC encrypts even its first packets,
// so most inputs end at the header or at decryption; the seeds are what a
// real client, ngtcp2's gtlsclient, sent first (its Initial), alone,
// twice, and with junk after it, so that runs start from a connection
// that is handshaking. What the server promises, checked on every input:
//
// * it never crashes (ASan, UBSan) or throws out of receive();
// * it sends no datagram larger than 1,500 bytes or empty (nor a segment
//   of one, under GSO);
// * before a client's address is validated (it never is here: the
//   handshake needs the server's own random keys), it sends at most three
//   times what it received (RFC 9000 section 8.1, anti-amplification);
// * close_all_connections() leaves no connection behind.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_http3_certificate.h"
#include "tornado/http3.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/web.h"

namespace {

// A broken promise: said, then abort(), so that libFuzzer keeps the input.
void check(bool condition, const char* promise) {
    if (condition) return;
    std::fprintf(stderr, "fuzz_http3_server: broken promise: %s\n", promise);
    std::abort();
}

class Hello : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
};

// Takes every datagram the server sends, and counts them.
class Recorder final : public tornado::DatagramSink {
public:
    tornado::SendResult send(std::span<const tornado::OutgoingDatagram> datagrams) override {
        for (const tornado::OutgoingDatagram& datagram : datagrams) {
            std::size_t segment =
                datagram.segment_size != 0 ? datagram.segment_size : datagram.bytes.size();
            check(!datagram.bytes.empty() && segment <= 1500,
                  "no datagram empty or over 1,500 bytes (each segment, under GSO)");
            bytes += datagram.bytes.size();
            if (verbose) {
                std::fprintf(stderr, "  sent %zu bytes, first 0x%02x\n", datagram.bytes.size(),
                             static_cast<unsigned>(static_cast<std::uint8_t>(datagram.bytes[0])));
            }
        }
        return {datagrams.size(), 0};
    }
    tornado::Future<void> wait_writable() override {
        tornado::Future<void> room;
        room.set_result();
        return room;
    }
    tornado::SocketAddress local_address() const override { return local; }

    tornado::SocketAddress local = tornado::SocketAddress::from_ip("127.0.0.1", 4433);
    std::size_t bytes = 0;
    bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
};

// What lasts the whole run: the loop, the application and the
// certificate; each input gets a server of its own (new_server).
struct World {
    tornado::IOLoop loop;
    std::unique_ptr<tornado::Application> app;
    ThrowawayCertificate certificate;
    Recorder sink;

    World() {
        tornado::gen_log.set_level(tornado::LogLevel::none);
        tornado::access_log.set_level(tornado::LogLevel::none);
        app = std::make_unique<tornado::Application>(
            std::vector<tornado::URLSpec>{{"/.*", tornado::handler<Hello>()}});
    }

    std::unique_ptr<tornado::HTTP3Server> new_server() { return certificate.new_server(*app); }
};

World& world() {
    static World* made = new World();  // never destroyed: libFuzzer exits from anywhere
    return *made;
}

// Lets the loop run what the datagrams scheduled (send_soon, timers due).
void turn(tornado::IOLoop& loop) {
    loop.add_callback([&loop] { loop.stop(); });
    loop.start();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    World& w = world();
    std::unique_ptr<tornado::HTTP3Server> server = w.new_server();
    w.sink.bytes = 0;
    std::size_t received = 0;
    tornado::SocketAddress peer = tornado::SocketAddress::from_ip("127.0.0.1", 40000);
    std::string_view input(reinterpret_cast<const char*>(data), size);
    while (input.size() >= 2) {
        std::size_t length = (std::size_t{static_cast<std::uint8_t>(input[0])} << 8) |
                             static_cast<std::uint8_t>(input[1]);
        input.remove_prefix(2);
        std::string datagram(input.substr(0, length));
        input.remove_prefix(std::min(length, input.size()));
        received += datagram.size();
        try {
            server->receive({datagram, peer, w.sink.local, 0}, w.sink);
        } catch (...) {
            check(false, "receive() never throws");
        }
        turn(w.loop);
    }
    check(w.sink.bytes <= 3 * received,
          "at most three times what was received (anti-amplification)");
    (void)server->close_all_connections();
    turn(w.loop);
    check(server->connection_count() == 0, "close_all_connections() leaves no connection");
    server.reset();
    turn(w.loop);
    return 0;
}
