// fuzz_http3_frames.cpp: a libFuzzer target for what final/'s HTTP/3
// listener (tornado::http3, final/http3/) reads once QUIC has decrypted
// it: HTTP/3 frames and QPACK instructions, read by nghttp3 and handed to
// the add-on's callbacks and streams. fuzz_http3_server feeds raw
// datagrams, which mostly end at decryption; here a QUIC client of the
// harness's (ngtcp2's, with GnuTLS, as ngtcp2's examples/client) first
// handshakes with an HTTP3Server in memory, through sinks (no socket),
// and then writes the input's bytes on its streams as they are: no HTTP/3
// library on the client's side, so the server reads the fuzzer's frames
// and QPACK verbatim.
//
//   make fuzz FUZZ_TARGETS=fuzz_http3_frames FUZZ_SECONDS=60     (clang, libFuzzer)
//   build/bin/fuzz_http3_frames_replay tests/final/fuzz_corpus/http3_frames   (CTest runs it)
//   FUZZ_VERBOSE=1 build/bin/fuzz_http3_frames_replay FILE     (what was done, how it ended)
//   FUZZ_NGTCP2_LOG=1 ...     (the client's ngtcp2 log: every packet and frame)
//
// Every input gets a server of its own (close_all_connections() is
// final for a server) and a new connection; the certificate is made once.
// A dozen connections are kept half-way through their handshake, a few
// inputs ahead (see Run::finish_handshake).
// The input is a list of operations, each an opcode byte and what follows
// it (an operation cut short at the end is done with what there is; the
// opcode's high 5 bits are ignored; S names one of the streams opened so
// far, S modulo their number; an operation on a stream when none is
// open does nothing):
//
//   0 T        open a unidirectional stream and write its type, by T % 5:
//              control (0x00), QPACK encoder (0x02), QPACK decoder (0x03),
//              push (0x01, which a client may not open), a reserved type
//              (0x21, to be ignored)
//   1          open a bidirectional stream (a request)
//   2 S H L    write the next H*256+L bytes of the input on stream S
//   3 S        end stream S (FIN)
//   4 S H L    write, then end: 2 and 3 at once
//   5 S C      reset stream S (RESET_STREAM), error code 0x100 + C
//   6 S C      ask the server to stop sending on S (STOP_SENDING), 0x100 + C
//   7 T        let (T + 1) * 10 ms pass on the client's clock (its timers:
//              retransmissions, acknowledgements, at 30 s its idle timeout)
//
// After each operation the datagrams go back and forth until neither side
// has more; at the end the client's timers run a few times more. The
// server's clock is the loop's (real time). What the server promises,
// checked on every input:
//
// * it never crashes (ASan, UBSan) or throws out of receive();
// * it sends no datagram larger than 1,500 bytes or empty (nor a segment
//   of one, under GSO);
// * a CONNECTION_CLOSE it sends carries an HTTP/3 or QPACK error code
//   (RFC 9114 section 8.1, RFC 9204 section 6), never a transport error
//   (the client keeps QUIC's rules) nor H3_INTERNAL_ERROR (its own fault);
// * a broken rule the harness can judge alone (a frame, once its type and
//   length have come whole) is answered with RFC 9114's connection
//   error, not silence: when the only stream opened is a
//   control or QPACK stream that the client resets, or a QPACK stream
//   with nothing but its type that the client ends
//   (H3_CLOSED_CRITICAL_STREAM, RFC 9114 section 6.2.1, RFC 9204 section
//   4.2), once what came before on it broke no rule; a control
//   stream whose first frame is not SETTINGS (H3_MISSING_SETTINGS), or
//   which carries, after a first well-formed SETTINGS (and frames of
//   unknown types), a second SETTINGS, a request's frame or one of the
//   types HTTP/2 had (H3_FRAME_UNEXPECTED), or ends there (FIN:
//   H3_CLOSED_CRITICAL_STREAM); or when the only stream opened is a
//   request whose first frame is DATA, PUSH_PROMISE, a control stream's or
//   one of HTTP/2's (H3_FRAME_UNEXPECTED). Where the client ended that
//   control stream too, H3_CLOSED_CRITICAL_STREAM is as good an answer;
// * close_all_connections() leaves no connection behind.
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
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
    std::fprintf(stderr, "fuzz_http3_frames: broken promise: %s\n", promise);
    std::abort();
}

const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;

// RFC 9114 section 8.1's codes the oracle names (nghttp3.h has them too;
// the harness needs no HTTP/3 library).
constexpr std::uint64_t kH3NoError = 0x100, kH3InternalError = 0x102,
                        kH3ClosedCriticalStream = 0x104, kH3FrameUnexpected = 0x105,
                        kH3VersionFallback = 0x110, kH3MissingSettings = 0x10a, kQpackFirst = 0x200,
                        kQpackLast = 0x202;

// GET and POST, so that a request's body is read.
class Echo : public tornado::RequestHandler {
public:
    void get(const tornado::PathArgs&) override { write("Hello, world"); }
    void post(const tornado::PathArgs&) override {
        write(std::to_string(request().body.size()) + " bytes");
    }
};

// Takes every datagram the server sends, checks it and keeps a copy for
// the client.
class Recorder final : public tornado::DatagramSink {
public:
    tornado::SendResult send(std::span<const tornado::OutgoingDatagram> datagrams) override {
        for (const tornado::OutgoingDatagram& datagram : datagrams) {
            std::size_t segment =
                datagram.segment_size != 0 ? datagram.segment_size : datagram.bytes.size();
            check(!datagram.bytes.empty() && segment <= 1500,
                  "no datagram empty or over 1,500 bytes (each segment, under GSO)");
            for (std::size_t at = 0; at < datagram.bytes.size(); at += segment) {
                queue.emplace_back(datagram.bytes.substr(at, segment));
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
    std::vector<std::string> queue;  // for the client, in order
};

// What lasts the whole run: the loop, the application, the server's
// certificate (a server of its own for each input: new_server), and the
// client's TLS credentials.
struct World {
    tornado::IOLoop loop;
    std::unique_ptr<tornado::Application> app;
    ThrowawayCertificate certificate;
    gnutls_certificate_credentials_t client_credentials = nullptr;
    tornado::SocketAddress client_address = tornado::SocketAddress::from_ip("127.0.0.1", 40000);

    World() {
        tornado::gen_log.set_level(tornado::LogLevel::none);
        tornado::access_log.set_level(tornado::LogLevel::none);
        app = std::make_unique<tornado::Application>(
            std::vector<tornado::URLSpec>{{"/.*", tornado::handler<Echo>()}});
        // No certificate check: the server's is a throwaway one.
        check(gnutls_certificate_allocate_credentials(&client_credentials) == 0,
              "GnuTLS's client credentials");
    }

    std::unique_ptr<tornado::HTTP3Server> new_server() { return certificate.new_server(*app); }
};

// Lets the loop run what the datagrams scheduled (send_soon, timers due).
void turn(tornado::IOLoop& loop) {
    loop.add_callback([&loop] { loop.stop(); });
    loop.start();
}

// ngtcp2_crypto's GnuTLS glue: the priority string of ngtcp2's examples
// (TLS 1.3 only, no middlebox compatibility records).
constexpr const char* kTlsPriority =
    "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
    "+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
    "+GROUP-SECP384R1:+GROUP-SECP521R1";

// One stream the client opened, and the bytes written on it. ngtcp2 keeps
// pointers into them until the server acknowledges them, so they stay
// until the input's end (a deque: no chunk ever moves).
struct Stream {
    std::int64_t id = -1;
    bool bidi = false;
    int type = -1;  // a unidirectional stream's type byte
    std::deque<std::string> chunks;
    std::size_t chunk = 0, offset = 0;  // what ngtcp2 has not taken yet
    std::string sent;                   // what ngtcp2 took, for the oracle
    bool fin_wanted = false, fin_sent = false;
    bool reset_sent = false;
    bool blocked = false;  // flow control: until the server gives credit
    bool dead = false;     // reset, or the server stopped it

    bool has_data() const { return chunk < chunks.size(); }
    bool wants_write() const {
        return !dead && !blocked && (has_data() || (fin_wanted && !fin_sent));
    }
};

// The QUIC client: ngtcp2's connection and GnuTLS's session, its clock
// (real time plus what the input let pass), and its streams.
class Client {
public:
    Client(World& w) : world_(w) {}
    ~Client() {
        if (quic_ != nullptr) ngtcp2_conn_del(quic_);
        if (tls_ != nullptr) gnutls_deinit(tls_);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool open(const tornado::SocketAddress& server) {
        server_ = server;
        ngtcp2_cid scid{}, dcid{};
        scid.datalen = 17;
        dcid.datalen = 18;
        gnutls_rnd(GNUTLS_RND_NONCE, scid.data, scid.datalen);
        gnutls_rnd(GNUTLS_RND_NONCE, dcid.data, dcid.datalen);
        ngtcp2_settings settings;
        ngtcp2_settings_default(&settings);
        settings.initial_ts = now();
        if (std::getenv("FUZZ_NGTCP2_LOG") != nullptr) settings.log_printf = &print_log;
        ngtcp2_transport_params params;
        ngtcp2_transport_params_default(&params);
        params.initial_max_data = 16 * 1024 * 1024;
        params.initial_max_stream_data_bidi_local = 1024 * 1024;
        params.initial_max_stream_data_uni = 1024 * 1024;
        params.initial_max_streams_bidi = 0;
        params.initial_max_streams_uni = 100;
        params.max_idle_timeout = 30 * NGTCP2_SECONDS;
        ngtcp2_path path = this->path();
        ngtcp2_callbacks callbacks = client_callbacks();
        if (ngtcp2_conn_client_new(&quic_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks,
                                   &settings, &params, nullptr, this) != 0) {
            return false;
        }
        if (gnutls_init(&tls_, GNUTLS_CLIENT) != 0 ||
            gnutls_priority_set_direct(tls_, kTlsPriority, nullptr) != 0 ||
            gnutls_credentials_set(tls_, GNUTLS_CRD_CERTIFICATE, world_.client_credentials) != 0 ||
            ngtcp2_crypto_gnutls_configure_client_session(tls_) != 0) {
            return false;
        }
        ref_.get_conn = [](ngtcp2_crypto_conn_ref* ref) {
            return static_cast<Client*>(ref->user_data)->quic_;
        };
        ref_.user_data = this;
        gnutls_session_set_ptr(tls_, &ref_);
        static const char kH3[] = "h3";
        gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kH3)), 2};
        gnutls_alpn_set_protocols(tls_, &alpn, 1, GNUTLS_ALPN_MANDATORY);
        gnutls_server_name_set(tls_, GNUTLS_NAME_DNS, "localhost", 9);
        ngtcp2_conn_set_tls_native_handle(quic_, tls_);
        return true;
    }

    // ngtcp2's clock: real time, plus what the input let pass.
    ngtcp2_tstamp now() {
        auto real = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count();
        last_ = std::max(last_, static_cast<ngtcp2_tstamp>(real) + skipped_);
        return last_;
    }
    void let_pass(ngtcp2_duration duration) { skipped_ += duration; }

    bool alive() const { return alive_; }
    bool handshake_completed() const { return ngtcp2_conn_get_handshake_completed(quic_) != 0; }
    bool handshake_confirmed() const { return confirmed_; }
    const std::optional<ngtcp2_connection_close_error>& server_close() const {
        return server_close_;
    }
    std::vector<Stream*> streams() {
        std::vector<Stream*> all;
        for (Stream& stream : streams_) all.push_back(&stream);
        return all;
    }
    std::size_t stream_count() const { return streams_.size(); }
    Stream* stream(std::uint8_t selector) {
        if (streams_.empty()) return nullptr;
        return &streams_[selector % streams_.size()];
    }

    // Opens a stream; null when ngtcp2 says no (the server's limit).
    Stream* open_stream(bool bidi) {
        if (!alive_ || !confirmed_) return nullptr;
        std::int64_t id = -1;
        int opened = bidi ? ngtcp2_conn_open_bidi_stream(quic_, &id, nullptr)
                          : ngtcp2_conn_open_uni_stream(quic_, &id, nullptr);
        if (opened != 0) return nullptr;
        Stream& stream = streams_.emplace_back();
        stream.id = id;
        stream.bidi = bidi;
        return &stream;
    }

    void reset(Stream& stream, std::uint64_t code) {
        if (!alive_ || stream.dead) return;
        ngtcp2_conn_shutdown_stream_write(quic_, stream.id, code);
        stream.dead = true;
        stream.reset_sent = true;
    }
    void stop_sending(Stream& stream, std::uint64_t code) {
        if (!alive_ || !stream.bidi) return;
        ngtcp2_conn_shutdown_stream_read(quic_, stream.id, code);
    }

    // The packets the client has to send now.
    void write(std::vector<std::string>& out) {
        if (!alive_) return;
        for (Stream& stream : streams_) stream.blocked = false;
        std::array<std::uint8_t, 1500> packet{};
        for (int round = 0; round < 1000; ++round) {
            Stream* stream = nullptr;
            if (ngtcp2_conn_get_max_data_left(quic_) > 0) {
                for (Stream& candidate : streams_) {
                    if (candidate.wants_write()) {
                        stream = &candidate;
                        break;
                    }
                }
            } else {
                for (Stream& candidate : streams_) {  // a FIN alone needs no credit
                    if (candidate.wants_write() && !candidate.has_data()) {
                        stream = &candidate;
                        break;
                    }
                }
            }
            std::array<ngtcp2_vec, 16> data{};
            std::size_t count = 0, total = 0;
            std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
            std::int64_t id = -1;
            if (stream != nullptr) {
                id = stream->id;
                std::size_t offset = stream->offset;
                for (std::size_t i = stream->chunk;
                     i < stream->chunks.size() && count < data.size(); ++i) {
                    std::string& chunk = stream->chunks[i];
                    data[count].base = reinterpret_cast<std::uint8_t*>(chunk.data()) + offset;
                    data[count].len = chunk.size() - offset;
                    total += data[count].len;
                    ++count;
                    offset = 0;
                }
                bool all = stream->chunk + count == stream->chunks.size();
                if (all && stream->fin_wanted) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
            }
            ngtcp2_ssize taken = -1;
            ngtcp2_pkt_info info{};
            ngtcp2_ssize written =
                ngtcp2_conn_writev_stream(quic_, nullptr, &info, packet.data(), packet.size(),
                                          &taken, flags, id, data.data(), count, now());
            if (stream != nullptr && taken >= 0) {
                consume(*stream, static_cast<std::size_t>(taken));
                if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) &&
                    static_cast<std::size_t>(taken) == total) {
                    stream->fin_sent = true;
                }
            }
            if (written == NGTCP2_ERR_WRITE_MORE) continue;
            if (written == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
                stream->blocked = true;
                continue;
            }
            if (written == NGTCP2_ERR_STREAM_SHUT_WR || written == NGTCP2_ERR_STREAM_NOT_FOUND) {
                stream->dead = true;
                continue;
            }
            if (written < 0) {
                alive_ = false;
                return;
            }
            if (written == 0) return;
            out.emplace_back(reinterpret_cast<const char*>(packet.data()),
                             static_cast<std::size_t>(written));
        }
    }

    void read(const std::string& datagram) {
        if (!alive_) return;
        ngtcp2_path path = this->path();
        ngtcp2_pkt_info info{};
        int read = ngtcp2_conn_read_pkt(quic_, &path, &info,
                                        reinterpret_cast<const std::uint8_t*>(datagram.data()),
                                        datagram.size(), now());
        if (read == 0) return;
        if (read == NGTCP2_ERR_DRAINING) {
            ngtcp2_connection_close_error error;
            ngtcp2_conn_get_connection_close_error(quic_, &error);
            server_close_ = error;
        }
        alive_ = false;
    }

    // The client's timer, if it is due by now.
    void on_timer() {
        if (!alive_) return;
        if (ngtcp2_conn_get_expiry(quic_) > now()) return;
        if (ngtcp2_conn_handle_expiry(quic_, now()) != 0) alive_ = false;
    }
    ngtcp2_tstamp expiry() const { return alive_ ? ngtcp2_conn_get_expiry(quic_) : UINT64_MAX; }

private:
    ngtcp2_path path() {
        tornado::SocketAddress& local = world_.client_address;
        return {{const_cast<sockaddr*>(local.data()), local.size()},
                {const_cast<sockaddr*>(server_.data()), server_.size()},
                nullptr};
    }

    static void consume(Stream& stream, std::size_t taken) {
        while (taken > 0 && stream.has_data()) {
            std::string& chunk = stream.chunks[stream.chunk];
            std::size_t part = std::min(taken, chunk.size() - stream.offset);
            stream.sent.append(chunk, stream.offset, part);
            stream.offset += part;
            taken -= part;
            if (stream.offset == chunk.size()) {
                ++stream.chunk;
                stream.offset = 0;
            }
        }
    }

    Stream* find(std::int64_t id) {
        for (Stream& stream : streams_) {
            if (stream.id == id) return &stream;
        }
        return nullptr;
    }

    // --- ngtcp2's callbacks ---------------------------------------------------------------
    static void print_log(void*, const char* format, ...) {
        va_list arguments;
        va_start(arguments, format);
        std::vfprintf(stderr, format, arguments);
        va_end(arguments);
        std::fputc('\n', stderr);
    }
    static Client& of(void* user_data) { return *static_cast<Client*>(user_data); }

    // What the server sends is read and forgotten; its credit goes back.
    static int recv_stream_data(ngtcp2_conn* quic, std::uint32_t, std::int64_t id, std::uint64_t,
                                const std::uint8_t*, std::size_t size, void*, void*) {
        if (verbose && ngtcp2_is_bidi_stream(id)) {
            std::fprintf(stderr, "  the server sent %zu bytes on stream %lld\n", size,
                         static_cast<long long>(id));
        }
        ngtcp2_conn_extend_max_stream_offset(quic, id, size);
        ngtcp2_conn_extend_max_offset(quic, size);
        return 0;
    }
    static int stream_close(ngtcp2_conn* quic, std::uint32_t, std::int64_t id, std::uint64_t,
                            void* user_data, void*) {
        if (Stream* stream = of(user_data).find(id)) stream->dead = true;
        if (!ngtcp2_is_bidi_stream(id) && (id & 1) != 0)
            ngtcp2_conn_extend_max_streams_uni(quic, 1);
        return 0;
    }
    static int stream_stop_sending(ngtcp2_conn*, std::int64_t id, std::uint64_t, void* user_data,
                                   void*) {
        if (Stream* stream = of(user_data).find(id)) stream->dead = true;
        return 0;
    }
    static int extend_max_stream_data(ngtcp2_conn*, std::int64_t id, std::uint64_t, void* user_data,
                                      void*) {
        if (Stream* stream = of(user_data).find(id)) stream->blocked = false;
        return 0;
    }
    static int handshake_confirmed(ngtcp2_conn*, void* user_data) {
        of(user_data).confirmed_ = true;
        return 0;
    }
    static void random(std::uint8_t* dest, std::size_t size, const ngtcp2_rand_ctx*) {
        gnutls_rnd(GNUTLS_RND_NONCE, dest, size);
    }
    static int get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                                     std::size_t size, void*) {
        cid->datalen = size;
        gnutls_rnd(GNUTLS_RND_NONCE, cid->data, size);
        gnutls_rnd(GNUTLS_RND_NONCE, token, NGTCP2_STATELESS_RESET_TOKENLEN);
        return 0;
    }

    static ngtcp2_callbacks client_callbacks() {
        ngtcp2_callbacks callbacks{};
        callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
        callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
        callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
        callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
        callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
        callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb;
        callbacks.update_key = ngtcp2_crypto_update_key_cb;
        callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
        callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
        callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
        callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
        callbacks.recv_stream_data = &recv_stream_data;
        callbacks.stream_close = &stream_close;
        callbacks.stream_stop_sending = &stream_stop_sending;
        callbacks.extend_max_stream_data = &extend_max_stream_data;
        callbacks.handshake_confirmed = &handshake_confirmed;
        callbacks.rand = &random;
        callbacks.get_new_connection_id = &get_new_connection_id;
        return callbacks;
    }

    World& world_;
    tornado::SocketAddress server_;
    ngtcp2_conn* quic_ = nullptr;
    gnutls_session_t tls_ = nullptr;
    ngtcp2_crypto_conn_ref ref_{};
    ngtcp2_tstamp last_ = 0, skipped_ = 0;
    bool alive_ = true, confirmed_ = false;
    std::optional<ngtcp2_connection_close_error> server_close_;
    std::deque<Stream> streams_;  // a deque: a Stream never moves
};

// One input's run: the server, the client, and the datagrams between them.
class Run {
public:
    Run(World& w) : world_(w), server_(w.new_server()), client_(w) {}

    // Datagrams both ways until neither side has any (at most 200 rounds:
    // a bound, not an expectation).
    void pump() {
        for (int round = 0; round < 200; ++round) {
            std::vector<std::string> to_server;
            client_.write(to_server);
            for (const std::string& datagram : to_server) {
                try {
                    server_->receive({datagram, world_.client_address, sink_.local, 0}, sink_);
                } catch (...) {
                    check(false, "receive() never throws");
                }
                turn(world_.loop);
            }
            if (to_server.empty()) turn(world_.loop);
            std::vector<std::string> to_client = std::move(sink_.queue);
            sink_.queue.clear();
            for (const std::string& datagram : to_client) client_.read(datagram);
            if (verbose && !(to_server.empty() && to_client.empty())) {
                std::fprintf(stderr, "  %zu datagrams to the server, %zu back\n", to_server.size(),
                             to_client.size());
            }
            if (to_server.empty() && to_client.empty()) return;
        }
    }

    // Runs the client's timer when nothing else moves (up to `times`
    // times, each at most a second ahead): its lost packets and probes.
    void settle(int times) {
        pump();
        for (int i = 0; i < times && client_.alive(); ++i) {
            ngtcp2_tstamp expiry = client_.expiry();
            ngtcp2_tstamp now = client_.now();
            if (expiry == UINT64_MAX || expiry > now + NGTCP2_SECONDS) return;
            if (expiry > now) client_.let_pass(expiry - now);
            client_.on_timer();
            pump();
        }
    }

    // The handshake's first half, at once: the client's Initial, the
    // server's flight, the client's Finished. False if it went wrong.
    bool start() {
        if (!client_.open(sink_.local)) return false;
        pump();
        return client_.alive() && client_.handshake_completed();
    }

    // The handshake's end: the server's HANDSHAKE_DONE. The server paces
    // its packets by the 333 ms round trip QUIC assumes before it has
    // measured one, so HANDSHAKE_DONE leaves about 25 ms (real time) after
    // its first flight: the loop runs its timer then. A run that waited in
    // the pool that long finds it there already.
    bool finish_handshake() {
        for (int i = 0; i < 500 && client_.alive() && !client_.handshake_confirmed(); ++i) {
            pump();
            if (client_.handshake_confirmed()) break;
            world_.loop.call_later(std::chrono::milliseconds(1), [this] { world_.loop.stop(); });
            world_.loop.start();
        }
        return client_.alive() && client_.handshake_confirmed();
    }

    Client& client() { return client_; }
    tornado::HTTP3Server& server() { return *server_; }

private:
    World& world_;
    Recorder sink_;
    std::unique_ptr<tornado::HTTP3Server> server_;
    Client client_;
};

// --- the oracle: what the harness can judge alone ------------------------------------------

// A QUIC variable-length integer (RFC 9000 section 16) at `at`, if whole.
std::optional<std::uint64_t> varint(std::string_view bytes, std::size_t& at) {
    if (at >= bytes.size()) return std::nullopt;
    std::size_t length = std::size_t{1} << (static_cast<std::uint8_t>(bytes[at]) >> 6);
    if (bytes.size() - at < length) return std::nullopt;
    std::uint64_t value = static_cast<std::uint8_t>(bytes[at]) & 0x3f;
    for (std::size_t i = 1; i < length; ++i) {
        value = (value << 8) | static_cast<std::uint8_t>(bytes[at + i]);
    }
    at += length;
    return value;
}

// A SETTINGS payload nghttp3 must take: whole identifier/value pairs, no
// identifier twice, none of HTTP/2's (RFC 9114 section 7.2.4.1), and
// values that the identifiers it knows allow.
bool well_formed_settings(std::string_view payload) {
    std::vector<std::uint64_t> seen;
    std::size_t at = 0;
    while (at < payload.size()) {
        std::optional<std::uint64_t> id = varint(payload, at);
        std::optional<std::uint64_t> value = varint(payload, at);
        if (!id || !value) return false;
        if (*id <= 0x05 && *id != 0x01) return false;  // 0x00, HTTP/2's 0x02..0x05
        if (std::find(seen.begin(), seen.end(), *id) != seen.end()) return false;
        // Extended CONNECT, H3_DATAGRAM: 0 or 1 (RFC 9220, RFC 9297).
        if ((*id == 0x08 || *id == 0x33) && *value > 1) return false;
        seen.push_back(*id);
    }
    return true;
}

// Frames a control stream must not carry (RFC 9114 section 7.2): a
// second SETTINGS, a request's (DATA, HEADERS, PUSH_PROMISE), and the
// types HTTP/2 had and HTTP/3 reserves (section 7.2.8).
bool not_on_control(std::uint64_t type) {
    switch (type) {
        case 0x00:
        case 0x01:
        case 0x02:
        case 0x04:
        case 0x05:
        case 0x06:
        case 0x08:
        case 0x09: return true;
        default: return false;
    }
}

// The connection error RFC 9114 demands for what `stream` (the only one
// opened) carried, when the harness can tell; nothing when it cannot.
std::optional<std::uint64_t> expected_error(const Stream& stream) {
    std::string_view bytes = stream.sent;
    std::size_t at = 0;
    if (!stream.bidi) {
        if (!varint(bytes, at)) return std::nullopt;  // the stream's type, not sent
        // A QPACK stream with nothing after its type: ending it is all
        // there is to judge.
        if (stream.type == 0x02 || stream.type == 0x03) {
            if (at == bytes.size() && (stream.fin_sent || stream.reset_sent)) {
                return kH3ClosedCriticalStream;
            }
            return std::nullopt;
        }
        if (stream.type != 0x00) return std::nullopt;
        // Where the frames read so far broke no rule, a reset closes a
        // critical stream; so does a FIN after a whole frame.
        std::optional<std::uint64_t> closed;
        if (stream.reset_sent) closed = kH3ClosedCriticalStream;
        for (int frame = 0;; ++frame) {
            if (at == bytes.size()) {
                if (frame > 0 && stream.fin_sent) return kH3ClosedCriticalStream;
                return closed;
            }
            std::optional<std::uint64_t> type = varint(bytes, at);
            std::optional<std::uint64_t> length = varint(bytes, at);
            // nghttp3 judges a frame once its type and length are whole.
            if (!type || !length) return closed;
            if (frame == 0 && *type != 0x04) return kH3MissingSettings;
            if (frame > 0 && not_on_control(*type)) return kH3FrameUnexpected;
            // GOAWAY, MAX_PUSH_ID, CANCEL_PUSH: their IDs the harness does
            // not judge; past an unknown type's frame it goes on.
            if (frame > 0 && *type <= 0x0d) return std::nullopt;
            if (bytes.size() - at < *length) return closed;
            if (frame == 0 && !well_formed_settings(bytes.substr(at, *length))) return std::nullopt;
            at += *length;
        }
    }
    std::optional<std::uint64_t> type = varint(bytes, at);
    std::optional<std::uint64_t> length = varint(bytes, at);
    if (!type || !length) return std::nullopt;
    switch (*type) {
        case 0x00:  // DATA before HEADERS
        case 0x03:  // CANCEL_PUSH
        case 0x04:  // SETTINGS
        case 0x05:  // PUSH_PROMISE, which only a server sends
        case 0x07:  // GOAWAY
        case 0x0d:  // MAX_PUSH_ID
        case 0x02:  // HTTP/2's PRIORITY, PING, WINDOW_UPDATE, CONTINUATION
        case 0x06:
        case 0x08:
        case 0x09: return kH3FrameUnexpected;
        default: return std::nullopt;
    }
}

bool is_h3_code(std::uint64_t code) {
    return (code >= kH3NoError && code <= kH3VersionFallback) ||
           (code >= kQpackFirst && code <= kQpackLast);
}

void check_ending(Run& run) {
    const std::optional<ngtcp2_connection_close_error>& close = run.client().server_close();
    if (verbose) {
        if (close) {
            std::fprintf(stderr, "  the server closed: %s error 0x%llx\n",
                         close->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION
                             ? "application"
                             : "transport",
                         static_cast<unsigned long long>(close->error_code));
        } else {
            std::fprintf(stderr, "  the connection is open (client alive: %d)\n",
                         run.client().alive());
        }
    }
    if (close) {
        check(close->type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION,
              "the server closes with an application (HTTP/3) error, never a transport error");
        check(is_h3_code(close->error_code), "the server's close carries an HTTP/3 or QPACK code");
        check(close->error_code != kH3InternalError,
              "the server never blames itself (H3_INTERNAL_ERROR) for what a client sent");
    }
    std::vector<Stream*> streams = run.client().streams();
    if (streams.size() != 1) return;
    std::optional<std::uint64_t> expected = expected_error(*streams.front());
    if (!expected) return;
    if (verbose) {
        std::fprintf(stderr, "  RFC 9114 asks for error 0x%llx\n",
                     static_cast<unsigned long long>(*expected));
    }
    check(close.has_value(), "a broken rule ends the connection (CONNECTION_CLOSE), not silence");
    // Where the client also ended the critical stream (FIN in the same
    // packet as the broken frame, say), either error is RFC 9114's.
    const Stream& stream = *streams.front();
    bool ended = !stream.bidi && (stream.fin_sent || stream.reset_sent);
    check(close->error_code == *expected || (ended && close->error_code == kH3ClosedCriticalStream),
          "a broken rule gets RFC 9114's error code");
}

// --- the operations --------------------------------------------------------------------------

class Reader {
public:
    explicit Reader(std::string_view input) : input_(input) {}
    bool done() const { return input_.empty(); }
    std::uint8_t byte() {
        if (input_.empty()) return 0;
        auto value = static_cast<std::uint8_t>(input_.front());
        input_.remove_prefix(1);
        return value;
    }
    std::string_view bytes(std::size_t count) {
        std::string_view taken = input_.substr(0, count);
        input_.remove_prefix(taken.size());
        return taken;
    }

private:
    std::string_view input_;
};

constexpr std::uint8_t kStreamTypes[] = {0x00, 0x02, 0x03, 0x01, 0x21};

void operate(Run& run, Reader& input) {
    Client& client = run.client();
    std::uint8_t op = input.byte() & 0x07;
    switch (op) {
        case 0: {
            std::uint8_t type = kStreamTypes[input.byte() % 5];
            if (verbose) std::fprintf(stderr, "open uni stream, type 0x%02x\n", type);
            if (Stream* stream = client.open_stream(false)) {
                stream->type = type;
                stream->chunks.emplace_back(1, static_cast<char>(type));
            }
            break;
        }
        case 1:
            if (verbose) std::fprintf(stderr, "open bidi stream\n");
            client.open_stream(true);
            break;
        case 2:
        case 4: {
            std::uint8_t selector = input.byte();
            std::size_t length = std::size_t{input.byte()} << 8;
            length |= input.byte();
            std::string_view bytes = input.bytes(length);
            Stream* stream = client.stream(selector);
            if (verbose) {
                std::fprintf(stderr, "write %zu bytes%s on stream %lld\n", bytes.size(),
                             op == 4 ? " and FIN" : "",
                             static_cast<long long>(stream ? stream->id : -1));
            }
            if (stream == nullptr || stream->fin_wanted || stream->dead) break;
            if (!bytes.empty()) stream->chunks.emplace_back(bytes);
            if (op == 4) stream->fin_wanted = true;
            break;
        }
        case 3: {
            Stream* stream = client.stream(input.byte());
            if (verbose) {
                std::fprintf(stderr, "FIN on stream %lld\n",
                             static_cast<long long>(stream ? stream->id : -1));
            }
            if (stream != nullptr) stream->fin_wanted = true;
            break;
        }
        case 5:
        case 6: {
            Stream* stream = client.stream(input.byte());
            std::uint64_t code = 0x100 + input.byte();
            if (verbose) {
                std::fprintf(stderr, "%s on stream %lld, code 0x%llx\n",
                             op == 5 ? "RESET_STREAM" : "STOP_SENDING",
                             static_cast<long long>(stream ? stream->id : -1),
                             static_cast<unsigned long long>(code));
            }
            if (stream == nullptr) break;
            if (op == 5) {
                client.reset(*stream, code);
            } else {
                client.stop_sending(*stream, code);
            }
            break;
        }
        case 7: {
            ngtcp2_duration wait = (ngtcp2_duration{input.byte()} + 1) * 10 * NGTCP2_MILLISECONDS;
            if (verbose)
                std::fprintf(stderr, "wait %llu ms\n",
                             static_cast<unsigned long long>(wait / NGTCP2_MILLISECONDS));
            client.let_pass(wait);
            client.on_timer();
            break;
        }
    }
    run.pump();
}

// Runs whose handshake has begun, oldest first: an input takes the
// oldest (begun kPool inputs ago, its HANDSHAKE_DONE sent meanwhile: see
// Run::finish_handshake) and begins a new one, so that no input waits
// for the server's pacing. Never destroyed: libFuzzer exits from anywhere.
constexpr std::size_t kPool = 12;

std::unique_ptr<Run> begin_run(World& w) {
    auto run = std::make_unique<Run>(w);
    check(run->start(), "the handshake's first half completes");
    return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static World* w = new World();
    static auto* pool = new std::deque<std::unique_ptr<Run>>();
    while (pool->size() < kPool) pool->push_back(begin_run(*w));
    std::unique_ptr<Run> run = std::move(pool->front());
    pool->pop_front();
    pool->push_back(begin_run(*w));
    bool ready = run->finish_handshake();
    if (verbose) std::fprintf(stderr, "handshake %s\n", ready ? "done" : "failed");
    check(ready, "the handshake completes");
    Reader input(std::string_view(reinterpret_cast<const char*>(data), size));
    while (!input.done() && run->client().alive()) operate(*run, input);
    run->settle(4);
    check_ending(*run);
    (void)run->server().close_all_connections();
    turn(w->loop);
    check(run->server().connection_count() == 0, "close_all_connections() leaves no connection");
    run.reset();
    turn(w->loop);
    return 0;
}
