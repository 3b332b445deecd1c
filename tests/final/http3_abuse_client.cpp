// http3_abuse_client: an HTTP/3 client that misbehaves on purpose, one
// way per --mode, for tests/clients/final_http3_abuse_test.py. It talks to
// a server on 127.0.0.1 only, prints one line of figures ("key=value ...")
// and exits; it never waits for ever (each mode ends after --seconds or
// its own bounded steps).
//
//   http3_abuse_client --port=P --mode=flood --count=2000 --seconds=3
//
// Modes:
//   flood      --count UDP sockets, each sends one real client Initial
//              (made by an ngtcp2 client connection, then thrown away)
//              and never answers; for --seconds it counts per socket the
//              bytes that came back, and the Retry packets among them
//   conns      --count connections at once, each handshaken, then idle
//              for --seconds
//   streams    one connection opens request streams until the server's
//              MAX_STREAMS says no, never finishing any, and holds them
//              for --seconds (it prints "held N" when they are open); then
//              opens and cancels --count more as fast as credit allows
//              (RESET_STREAM after each request's HEADERS)
//   qpack      a QPACK bomb: the encoder stream inserts one field of
//              --size bytes into the server's dynamic table, then --count
//              requests each reference it --refs times (one byte each)
//   slowread   --count streams GET --path, on a connection that gives the
//              server --credit bytes of credit per stream (and 4x that
//              for the connection) and never gives more; after --seconds
//              it prints what came
//   bigheader  one request with --count header fields of --size bytes each
//   vanish     --count requests GET --path; once their answers begin,
//              the process exits without a word (no CONNECTION_CLOSE)
//   burst      not an attack, a measure no library client gives: --count
//              requests GET --path and one GET --last, opened together so
//              that they leave in one packet; prints when the first body
//              byte of the first ones came and when --last's answer came,
//              in ms after the requests went (first_body_ms, last_answer_ms).
//              With --warmup, GET that path first and wait 200 ms after its
//              answer: the server's congestion window and pacing are then
//              in their steady state, not held by the handshake's packets
//
// HTTP/3 is written by hand over ngtcp2's client (RFC 9114's frames,
// RFC 9204's field lines without Huffman or the dynamic table, but for
// the bomb), so that a request can be what no well-behaved library would
// send; nghttp3's QPACK decoder reads the answers' status.
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <nghttp3/nghttp3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../bench/quic_client.h"

namespace {

struct Options {
    std::string mode;
    int port = 0;
    int count = 1;
    double seconds = 3;
    std::string path = "/";
    std::string last = "/";
    std::string warmup;
    std::size_t size = 4000;
    int refs = 20;
    std::uint64_t credit = 16 * 1024;
};

ngtcp2_tstamp now_ns() {
    return static_cast<ngtcp2_tstamp>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// --- HTTP/3 and QPACK bytes (RFC 9000 16, RFC 9204 4.1.1) -----------------

void put_varint(std::string& out, std::uint64_t value) {
    if (value < 64) {
        out += static_cast<char>(value);
    } else if (value < 16384) {
        out += static_cast<char>(0x40 | (value >> 8));
        out += static_cast<char>(value & 0xff);
    } else if (value < (1u << 30)) {
        for (int shift = 24; shift >= 0; shift -= 8) {
            char byte = static_cast<char>((value >> shift) & 0xff);
            out += shift == 24 ? static_cast<char>(byte | 0x80) : byte;
        }
    } else {
        for (int shift = 56; shift >= 0; shift -= 8) {
            char byte = static_cast<char>((value >> shift) & 0xff);
            out += shift == 56 ? static_cast<char>(byte | 0xc0) : byte;
        }
    }
}

bool get_varint(const std::string& in, std::size_t& pos, std::uint64_t& value) {
    if (pos >= in.size()) return false;
    auto first = static_cast<std::uint8_t>(in[pos]);
    std::size_t length = std::size_t{1} << (first >> 6);
    if (in.size() - pos < length) return false;
    value = first & 0x3f;
    for (std::size_t i = 1; i < length; ++i)
        value = (value << 8) | static_cast<std::uint8_t>(in[pos + i]);
    pos += length;
    return true;
}

// QPACK's prefixed integer: `flags` in the first byte's high bits, the
// value in its low `bits` bits and, when larger, 7 bits a byte after.
void put_prefixed(std::string& out, std::uint8_t flags, int bits, std::uint64_t value) {
    std::uint64_t limit = (1u << bits) - 1;
    if (value < limit) {
        out += static_cast<char>(flags | value);
        return;
    }
    out += static_cast<char>(flags | limit);
    value -= limit;
    while (value >= 128) {
        out += static_cast<char>(0x80 | (value & 0x7f));
        value >>= 7;
    }
    out += static_cast<char>(value);
}

// A literal field line with a literal name, no Huffman (RFC 9204 4.5.6).
void put_literal(std::string& out, std::string_view name, std::string_view value) {
    put_prefixed(out, 0x20, 3, name.size());
    out += name;
    put_prefixed(out, 0x00, 7, value.size());
    out += value;
}

std::string frame(std::uint64_t type, const std::string& payload) {
    std::string out;
    put_varint(out, type);
    put_varint(out, payload.size());
    return out + payload;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// A HEADERS frame of literal field lines (no dynamic table: Required
// Insert Count 0, Base 0).
std::string headers_frame(const Fields& fields) {
    std::string section("\0\0", 2);
    for (const auto& [name, value] : fields) put_literal(section, name, value);
    return frame(0x01, section);
}

// --- one connection ---------------------------------------------------------

struct OutStream {
    std::string data;  // set once: ngtcp2 points into it until the stream closes
    std::size_t sent = 0;
    bool fin = false;
    bool fin_sent = false;
};

struct InStream {
    std::string buffer;      // an unfinished frame header or HEADERS frame
    std::uint64_t skip = 0;  // what is left of a DATA frame
    int status = -1;
    std::uint64_t body = 0;
};

struct Stats {
    std::map<int, int> statuses;  // status: how many answers
    int resets = 0;               // request streams the server reset
    std::uint64_t bytes_in = 0;   // UDP payload received
    std::uint64_t body_bytes = 0;
};

class Conn {
public:
    Conn(const Options& options, const sockaddr_in& server, gnutls_certificate_credentials_t creds,
         Stats& stats)
        : options_(options), server_(server), creds_(creds), stats_(stats) {}
    ~Conn() {
        if (decoder_ != nullptr) nghttp3_qpack_decoder_del(decoder_);
        if (quic_ != nullptr) ngtcp2_conn_del(quic_);
        if (session_ != nullptr) gnutls_deinit(session_);
        if (fd_ >= 0) close(fd_);
    }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

    bool open(std::uint64_t stream_credit, std::uint64_t connection_credit, bool give_credit);
    void on_readable();
    void on_timer();
    void send_packets();
    // The socket, taken from the connection (flood: the connection goes,
    // the socket stays to count what comes back).
    int release_fd() { return std::exchange(fd_, -1); }

    // Opens a request stream with `data` (a HEADERS frame), ending it if
    // `fin`; -1 when the server's MAX_STREAMS allows no more now.
    std::int64_t open_request(std::string data, bool fin);
    void open_uni(std::string data);
    void cancel(std::int64_t id) {
        ngtcp2_conn_shutdown_stream(quic_, id, NGHTTP3_H3_REQUEST_CANCELLED);
    }
    std::uint64_t streams_left() const { return ngtcp2_conn_get_streams_bidi_left(quic_); }

    int fd() const { return fd_; }
    bool alive() const { return error_.empty() && close_code_ < 0; }
    bool ready() const { return confirmed_ && alive(); }
    const std::string& error() const { return error_; }
    std::int64_t close_code() const { return close_code_; }
    ngtcp2_tstamp expiry() const { return ngtcp2_conn_get_expiry(quic_); }
    std::size_t first_flight() const { return first_flight_; }
    const std::unordered_map<std::int64_t, InStream>& answers() const { return in_; }
    int open_requests() const { return open_requests_; }

private:
    void fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
    }
    void read_response(std::int64_t id, InStream& stream, const std::uint8_t* data,
                       std::size_t size);
    int decode_status(std::int64_t id, const std::string& section);

    static int recv_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t id, std::uint64_t,
                                const std::uint8_t* data, std::size_t size, void* self, void*);
    static int stream_close(ngtcp2_conn*, std::uint32_t flags, std::int64_t id, std::uint64_t code,
                            void* self, void*);
    static int stream_reset(ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t, void* self,
                            void*);
    static int extend_max_stream_data(ngtcp2_conn*, std::int64_t id, std::uint64_t, void* self,
                                      void*);
    static int handshake_confirmed(ngtcp2_conn*, void* self);
    static ngtcp2_conn* conn_of(ngtcp2_crypto_conn_ref* ref) {
        return static_cast<Conn*>(ref->user_data)->quic_;
    }

    const Options& options_;
    sockaddr_in server_;
    sockaddr_in local_{};
    gnutls_certificate_credentials_t creds_;
    Stats& stats_;
    int fd_ = -1;
    ngtcp2_conn* quic_ = nullptr;
    gnutls_session_t session_ = nullptr;
    ngtcp2_crypto_conn_ref ref_{};
    nghttp3_qpack_decoder* decoder_ = nullptr;
    bool give_credit_ = true;
    bool confirmed_ = false;
    std::string error_;
    std::int64_t close_code_ = -1;  // the server's CONNECTION_CLOSE error code
    std::size_t first_flight_ = 0;
    int open_requests_ = 0;
    std::map<std::int64_t, OutStream> out_;  // std::map: each node stays where it is
    std::deque<std::int64_t> pending_;
    std::unordered_map<std::int64_t, InStream> in_;
    std::array<std::uint8_t, 1500> packet_{};
};

ngtcp2_path path_of(sockaddr_in& local, sockaddr_in& server) {
    return {{reinterpret_cast<sockaddr*>(&local), sizeof local},
            {reinterpret_cast<sockaddr*>(&server), sizeof server},
            nullptr};
}

bool Conn::open(std::uint64_t stream_credit, std::uint64_t connection_credit, bool give_credit) {
    give_credit_ = give_credit;
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&server_), sizeof server_) != 0) {
        fail(std::string("socket: ") + std::strerror(errno));
        return false;
    }
    socklen_t size = sizeof local_;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &size);

    ngtcp2_cid scid{}, dcid{};
    scid.datalen = 17;
    dcid.datalen = 18;
    gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
    gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    settings.handshake_timeout = static_cast<ngtcp2_tstamp>(10e9);
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_data = connection_credit;
    params.initial_max_stream_data_bidi_local = stream_credit;
    params.initial_max_stream_data_uni = 64 * 1024;
    params.initial_max_streams_bidi = 0;
    params.initial_max_streams_uni = 3;
    params.max_idle_timeout = static_cast<ngtcp2_tstamp>(60e9);

    ngtcp2_callbacks callbacks{};
    callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
    callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
    callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
    callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
    callbacks.recv_stream_data = recv_stream_data;
    callbacks.stream_close = stream_close;
    callbacks.recv_retry = ngtcp2_crypto_recv_retry_cb;
    callbacks.rand = quic_client::random_bytes;
    callbacks.get_new_connection_id = quic_client::new_connection_id;
    callbacks.update_key = ngtcp2_crypto_update_key_cb;
    callbacks.stream_reset = stream_reset;
    callbacks.extend_max_stream_data = extend_max_stream_data;
    callbacks.handshake_confirmed = handshake_confirmed;
    callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    ngtcp2_path path = path_of(local_, server_);
    int status = ngtcp2_conn_client_new(&quic_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
                                        &callbacks, &settings, &params, nullptr, this);
    if (status != 0) {
        fail(std::string("ngtcp2_conn_client_new: ") + ngtcp2_strerror(status));
        return false;
    }
    ref_.get_conn = conn_of;
    ref_.user_data = this;
    std::string why = quic_client::open_client_session(session_, creds_, ref_, "localhost", "");
    if (!why.empty()) {
        fail(why);
        return false;
    }
    ngtcp2_conn_set_tls_native_handle(quic_, session_);
    nghttp3_qpack_decoder_new(&decoder_, 0, 0, nghttp3_mem_default());
    send_packets();
    return alive();
}

std::int64_t Conn::open_request(std::string data, bool fin) {
    std::int64_t id = -1;
    if (ngtcp2_conn_open_bidi_stream(quic_, &id, nullptr) != 0) return -1;
    out_[id] = OutStream{std::move(data), 0, fin, false};
    pending_.push_back(id);
    in_[id];
    ++open_requests_;
    return id;
}

void Conn::open_uni(std::string data) {
    std::int64_t id = -1;
    if (ngtcp2_conn_open_uni_stream(quic_, &id, nullptr) != 0) {
        fail("no unidirectional stream");
        return;
    }
    out_[id] = OutStream{std::move(data), 0, false, false};
    pending_.push_back(id);
}

void Conn::send_packets() {
    if (!alive() || fd_ < 0) return;
    ngtcp2_tstamp now = now_ns();
    for (int packets = 0; packets < 64;) {
        OutStream* out = nullptr;
        std::int64_t id = -1;
        while (!pending_.empty()) {
            auto found = out_.find(pending_.front());
            if (found != out_.end() && (found->second.sent < found->second.data.size() ||
                                        (found->second.fin && !found->second.fin_sent))) {
                out = &found->second;
                id = found->first;
                break;
            }
            pending_.pop_front();
        }
        ngtcp2_vec data{};
        std::size_t count = 0;
        std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        if (out != nullptr) {
            data.base = reinterpret_cast<std::uint8_t*>(out->data.data()) + out->sent;
            data.len = out->data.size() - out->sent;
            count = data.len > 0 ? 1 : 0;
            if (out->fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize accepted = -1;
        ngtcp2_pkt_info info{};
        ngtcp2_ssize size =
            ngtcp2_conn_writev_stream(quic_, nullptr, &info, packet_.data(), packet_.size(),
                                      &accepted, flags, id, count ? &data : nullptr, count, now);
        if (out != nullptr && accepted >= 0) {
            out->sent += static_cast<std::size_t>(accepted);
            if (out->fin && out->sent == out->data.size()) out->fin_sent = true;
        }
        if (size == NGTCP2_ERR_WRITE_MORE) continue;
        if (size == NGTCP2_ERR_STREAM_DATA_BLOCKED || size == NGTCP2_ERR_STREAM_SHUT_WR ||
            size == NGTCP2_ERR_STREAM_NOT_FOUND) {
            pending_.pop_front();  // extend_max_stream_data puts a blocked one back
            continue;
        }
        if (size < 0) {
            fail(std::string("ngtcp2_conn_writev_stream: ") +
                 ngtcp2_strerror(static_cast<int>(size)));
            return;
        }
        if (size == 0) break;
        if (first_flight_ == 0) first_flight_ = static_cast<std::size_t>(size);
        if (send(fd_, packet_.data(), static_cast<std::size_t>(size), 0) < 0 && errno != EAGAIN)
            break;
        ++packets;
    }
    ngtcp2_conn_update_pkt_tx_time(quic_, now);
}

void Conn::on_readable() {
    std::array<std::uint8_t, 65536> datagram;
    ngtcp2_path path = path_of(local_, server_);
    for (int i = 0; i < 64 && alive(); ++i) {
        ssize_t size = recv(fd_, datagram.data(), datagram.size(), 0);
        if (size < 0) return;
        stats_.bytes_in += static_cast<std::uint64_t>(size);
        ngtcp2_pkt_info info{};
        int status = ngtcp2_conn_read_pkt(quic_, &path, &info, datagram.data(),
                                          static_cast<std::size_t>(size), now_ns());
        if (status == NGTCP2_ERR_DRAINING) {
            ngtcp2_connection_close_error reason;
            ngtcp2_conn_get_connection_close_error(quic_, &reason);
            close_code_ = static_cast<std::int64_t>(reason.error_code);
            return;
        }
        if (status != 0) {
            fail(std::string("ngtcp2_conn_read_pkt: ") + ngtcp2_strerror(status));
            return;
        }
    }
}

void Conn::on_timer() {
    if (!alive() || ngtcp2_conn_get_expiry(quic_) > now_ns()) return;
    int status = ngtcp2_conn_handle_expiry(quic_, now_ns());
    if (status != 0) fail(std::string("timer: ") + ngtcp2_strerror(status));
}

// Frames on a request stream: HEADERS gives the status, DATA is counted
// and dropped (its credit given back, unless this client keeps it shut).
void Conn::read_response(std::int64_t id, InStream& stream, const std::uint8_t* data,
                         std::size_t size) {
    while (size > 0 && stream.skip > 0) {
        std::size_t taken = static_cast<std::size_t>(std::min<std::uint64_t>(stream.skip, size));
        stream.skip -= taken;
        stream.body += taken;
        stats_.body_bytes += taken;
        data += taken;
        size -= taken;
    }
    stream.buffer.append(reinterpret_cast<const char*>(data), size);
    for (;;) {
        std::size_t pos = 0;
        std::uint64_t type = 0, length = 0;
        if (!get_varint(stream.buffer, pos, type) || !get_varint(stream.buffer, pos, length))
            return;
        if (type == 0x00) {  // DATA
            std::size_t here = static_cast<std::size_t>(
                std::min<std::uint64_t>(length, stream.buffer.size() - pos));
            stream.body += here;
            stats_.body_bytes += here;
            stream.skip = length - here;
            stream.buffer.erase(0, pos + here);
            if (stream.skip > 0) return;
            continue;
        }
        if (stream.buffer.size() - pos < length) return;
        if (type == 0x01 && stream.status < 0) {
            stream.status = decode_status(id, stream.buffer.substr(pos, length));
            ++stats_.statuses[stream.status];
        }
        stream.buffer.erase(0, pos + length);
    }
}

int Conn::decode_status(std::int64_t id, const std::string& section) {
    nghttp3_qpack_stream_context* context = nullptr;
    nghttp3_qpack_stream_context_new(&context, id, nghttp3_mem_default());
    const auto* at = reinterpret_cast<const std::uint8_t*>(section.data());
    std::size_t left = section.size();
    int status = 0;
    for (;;) {
        nghttp3_qpack_nv field{};
        std::uint8_t flags = 0;
        nghttp3_ssize used =
            nghttp3_qpack_decoder_read_request(decoder_, context, &field, &flags, at, left, 1);
        if (used < 0) break;
        at += used;
        left -= static_cast<std::size_t>(used);
        if (flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT) {
            if (field.token == NGHTTP3_QPACK_TOKEN__STATUS) {
                nghttp3_vec value = nghttp3_rcbuf_get_buf(field.value);
                status = std::atoi(
                    std::string(reinterpret_cast<const char*>(value.base), value.len).c_str());
            }
            nghttp3_rcbuf_decref(field.name);
            nghttp3_rcbuf_decref(field.value);
        }
        if ((flags & (NGHTTP3_QPACK_DECODE_FLAG_FINAL | NGHTTP3_QPACK_DECODE_FLAG_BLOCKED)) ||
            (used == 0 && !(flags & NGHTTP3_QPACK_DECODE_FLAG_EMIT))) {
            break;
        }
    }
    nghttp3_qpack_stream_context_del(context);
    return status;
}

int Conn::recv_stream_data(ngtcp2_conn* quic, std::uint32_t, std::int64_t id, std::uint64_t,
                           const std::uint8_t* data, std::size_t size, void* self, void*) {
    auto& conn = *static_cast<Conn*>(self);
    if (ngtcp2_is_bidi_stream(id)) {
        auto found = conn.in_.find(id);
        if (found != conn.in_.end()) conn.read_response(id, found->second, data, size);
    }
    // The server's control and QPACK streams: read and dropped.
    if (conn.give_credit_) {
        ngtcp2_conn_extend_max_stream_offset(quic, id, size);
        ngtcp2_conn_extend_max_offset(quic, size);
    }
    return 0;
}

int Conn::stream_close(ngtcp2_conn*, std::uint32_t, std::int64_t id, std::uint64_t, void* self,
                       void*) {
    auto& conn = *static_cast<Conn*>(self);
    if (conn.out_.erase(id) > 0 && ngtcp2_is_bidi_stream(id)) --conn.open_requests_;
    return 0;
}

int Conn::stream_reset(ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t, void* self,
                       void*) {
    if (ngtcp2_is_bidi_stream(id)) ++static_cast<Conn*>(self)->stats_.resets;
    return 0;
}

int Conn::extend_max_stream_data(ngtcp2_conn*, std::int64_t id, std::uint64_t, void* self, void*) {
    static_cast<Conn*>(self)->pending_.push_back(id);
    return 0;
}

int Conn::handshake_confirmed(ngtcp2_conn*, void* self) {
    auto& conn = *static_cast<Conn*>(self);
    conn.confirmed_ = true;
    // HTTP/3's control stream: its type, then an empty SETTINGS (no
    // dynamic table of ours: the server's answers use none).
    conn.open_uni(std::string("\x00\x04\x00", 3));
    return 0;
}

// --- the loop ---------------------------------------------------------------

// Runs the connections' I/O and timers until `done()` or `seconds` pass.
void run(std::vector<std::unique_ptr<Conn>>& conns, double seconds,
         const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::vector<pollfd> fds;
    while (std::chrono::steady_clock::now() < deadline && !(done && done())) {
        fds.clear();
        ngtcp2_tstamp next = now_ns() + 50'000'000;
        for (auto& conn : conns) {
            fds.push_back({conn->alive() ? conn->fd() : -1, POLLIN, 0});
            if (conn->alive()) next = std::min(next, conn->expiry());
        }
        ngtcp2_tstamp now = now_ns();
        int wait_ms = next > now ? static_cast<int>((next - now) / 1'000'000) : 0;
        poll(fds.data(), fds.size(), wait_ms);
        for (std::size_t i = 0; i < conns.size(); ++i) {
            Conn& conn = *conns[i];
            if (fds[i].revents & POLLIN) conn.on_readable();
            conn.on_timer();
            conn.send_packets();
        }
    }
}

// --- the modes --------------------------------------------------------------

struct Client {
    const Options& options;
    sockaddr_in server{};
    gnutls_certificate_credentials_t creds = nullptr;
    Stats stats;

    std::unique_ptr<Conn> connect_one(std::uint64_t stream_credit = 1024 * 1024,
                                      std::uint64_t connection_credit = 16 * 1024 * 1024,
                                      bool give_credit = true) {
        auto conn = std::make_unique<Conn>(options, server, creds, stats);
        conn->open(stream_credit, connection_credit, give_credit);
        return conn;
    }

    std::string authority() const { return "127.0.0.1:" + std::to_string(options.port); }

    std::string get(const std::string& path, const Fields& more = {}) const {
        Fields fields{
            {":method", "GET"}, {":scheme", "https"}, {":authority", authority()}, {":path", path}};
        fields.insert(fields.end(), more.begin(), more.end());
        return headers_frame(fields);
    }

    std::string statuses() const {
        std::string out;
        for (const auto& [status, count] : stats.statuses)
            out += (out.empty() ? "" : ",") + std::to_string(status) + ":" + std::to_string(count);
        return out.empty() ? "none" : out;
    }
};

int handshaken(std::vector<std::unique_ptr<Conn>>& conns) {
    run(conns, 10, [&] {
        return std::all_of(conns.begin(), conns.end(),
                           [](auto& c) { return c->ready() || !c->alive(); });
    });
    return static_cast<int>(
        std::count_if(conns.begin(), conns.end(), [](auto& c) { return c->ready(); }));
}

int flood(Client& client) {
    struct Port {
        int fd;
        std::size_t sent;
        std::size_t received = 0;
        int datagrams = 0;
        int retries = 0;
    };
    std::vector<Port> ports;
    for (int i = 0; i < client.options.count; ++i) {
        auto conn = client.connect_one();
        if (conn->first_flight() == 0) {
            std::fprintf(stderr, "flood: port %d: %s\n", i, conn->error().c_str());
            return 1;
        }
        ports.push_back({conn->release_fd(), conn->first_flight()});
    }
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(client.options.seconds);
    std::vector<pollfd> fds;
    for (const Port& port : ports) fds.push_back({port.fd, POLLIN, 0});
    std::array<std::uint8_t, 65536> datagram;
    while (std::chrono::steady_clock::now() < deadline) {
        if (poll(fds.data(), fds.size(), 20) <= 0) continue;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (!(fds[i].revents & POLLIN)) continue;
            ssize_t size = 0;
            while ((size = recv(ports[i].fd, datagram.data(), datagram.size(), 0)) >= 0) {
                ports[i].received += static_cast<std::size_t>(size);
                ++ports[i].datagrams;
                // A Retry (RFC 9000 17.2.5): long header, type 0x3 in v1.
                if (size >= 5 && (datagram[0] & 0xb0) == 0xb0 && datagram[1] == 0 &&
                    datagram[2] == 0 && datagram[3] == 0 && datagram[4] == 1) {
                    ++ports[i].retries;
                }
            }
        }
    }
    std::size_t sent = 0, received = 0, answered = 0;
    int datagrams = 0, retries = 0;
    double worst = 0;
    for (const Port& port : ports) {
        sent += port.sent;
        received += port.received;
        datagrams += port.datagrams;
        retries += port.retries;
        answered += port.received > 0 ? 1 : 0;
        worst =
            std::max(worst, static_cast<double>(port.received) / static_cast<double>(port.sent));
        close(port.fd);
    }
    std::printf(
        "mode=flood ports=%zu answered=%zu sent=%zu received=%zu datagrams=%d "
        "max_ratio=%.3f retries=%d\n",
        ports.size(), answered, sent, received, datagrams, worst, retries);
    return 0;
}

int many_connections(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    for (int i = 0; i < client.options.count; ++i) conns.push_back(client.connect_one());
    int ready = handshaken(conns);
    std::printf("handshaken %d\n", ready);
    std::fflush(stdout);
    run(conns, client.options.seconds, nullptr);
    int alive = static_cast<int>(
        std::count_if(conns.begin(), conns.end(), [](auto& c) { return c->alive(); }));
    std::printf("mode=conns connections=%d handshaken=%d alive=%d\n", client.options.count, ready,
                alive);
    return ready == client.options.count ? 0 : 1;
}

int streams(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.push_back(client.connect_one());
    Conn& conn = *conns.front();
    if (handshaken(conns) != 1) {
        std::fprintf(stderr, "streams: no handshake: %s\n", conn.error().c_str());
        return 1;
    }
    // Requests never finished (no FIN), as many as MAX_STREAMS allows.
    std::vector<std::int64_t> held;
    run(conns, 1, [&] {
        std::int64_t id = 0;
        while ((id = conn.open_request(client.get("/"), false)) >= 0) held.push_back(id);
        return false;
    });
    std::printf("held %zu\n", held.size());
    std::fflush(stdout);
    run(conns, client.options.seconds, nullptr);
    // Then the rapid reset: each request opened and cancelled at once.
    for (std::int64_t id : held) conn.cancel(id);
    int opened = 0;
    run(conns, 30, [&] {
        std::int64_t id = 0;
        while (opened < client.options.count &&
               (id = conn.open_request(client.get("/"), false)) >= 0) {
            conn.send_packets();
            conn.cancel(id);
            ++opened;
        }
        return opened >= client.options.count || !conn.alive();
    });
    run(conns, 0.5, nullptr);
    std::printf("mode=streams held=%zu cancelled=%d alive=%d statuses=%s error=%s\n", held.size(),
                opened, conn.alive() ? 1 : 0, client.statuses().c_str(),
                conn.error().empty() ? "none" : conn.error().c_str());
    return conn.alive() ? 0 : 1;
}

// RFC 9204: the encoder stream (type 0x02) sets the table's capacity to
// the server's 4,096 and inserts one field of `size` bytes; each request's
// field section then names it `refs` times, one byte each (an indexed
// field line, relative index 0 from Base 1).
int qpack_bomb(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.push_back(client.connect_one());
    Conn& conn = *conns.front();
    if (handshaken(conns) != 1) {
        std::fprintf(stderr, "qpack: no handshake: %s\n", conn.error().c_str());
        return 1;
    }
    std::string encoder("\x02", 1);
    put_prefixed(encoder, 0x20, 5, 4096);  // Set Dynamic Table Capacity
    put_prefixed(encoder, 0x40, 5, 6);     // Insert With Literal Name
    encoder += "x-bomb";
    put_prefixed(encoder, 0x00, 7, client.options.size);
    encoder += std::string(client.options.size, 'b');
    conn.open_uni(encoder);
    // Required Insert Count 1, encoded (1 mod 2*128) + 1 = 2 (128 = 4096 / 32
    // entries at most); Delta Base 0.
    std::string section("\x02\x00", 2);
    section += "\xd1\xd7\xc1";          // :method GET, :scheme https, :path / (static 17, 23, 1)
    put_prefixed(section, 0x50, 4, 0);  // :authority, by the static table's name
    put_prefixed(section, 0x00, 7, client.authority().size());
    section += client.authority();
    section += std::string(static_cast<std::size_t>(client.options.refs), '\x80');
    std::string request = frame(0x01, section);
    int sent = 0;
    run(conns, 30, [&] {
        while (sent < client.options.count && conn.open_request(request, true) >= 0) ++sent;
        int answered = 0;
        for (const auto& [id, answer] : conn.answers()) answered += answer.status >= 0 ? 1 : 0;
        return !conn.alive() ||
               (sent >= client.options.count && answered + client.stats.resets >= sent);
    });
    std::printf(
        "mode=qpack requests=%d refs=%d wire_bytes=%zu decoded_bytes=%zu statuses=%s "
        "resets=%d close_code=%" PRId64 " error=%s\n",
        sent, client.options.refs, request.size(),
        static_cast<std::size_t>(client.options.refs) * (client.options.size + 6 + 32),
        client.statuses().c_str(), client.stats.resets, conn.close_code(),
        conn.error().empty() ? "none" : conn.error().c_str());
    return 0;
}

int slow_reader(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.push_back(client.connect_one(client.options.credit, 4 * client.options.credit, false));
    Conn& conn = *conns.front();
    if (handshaken(conns) != 1) {
        std::fprintf(stderr, "slowread: no handshake: %s\n", conn.error().c_str());
        return 1;
    }
    int sent = 0;
    run(conns, client.options.seconds, [&] {
        while (sent < client.options.count &&
               conn.open_request(client.get(client.options.path), true) >= 0)
            ++sent;
        return false;
    });
    std::printf("mode=slowread requests=%d body_bytes=%" PRIu64 " alive=%d statuses=%s\n", sent,
                client.stats.body_bytes, conn.alive() ? 1 : 0, client.statuses().c_str());
    return 0;
}

int big_header(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.push_back(client.connect_one());
    Conn& conn = *conns.front();
    if (handshaken(conns) != 1) {
        std::fprintf(stderr, "bigheader: no handshake: %s\n", conn.error().c_str());
        return 1;
    }
    Fields fields;
    for (int i = 0; i < client.options.count; ++i)
        fields.emplace_back("x-big-" + std::to_string(i), std::string(client.options.size, 'h'));
    std::int64_t id = conn.open_request(client.get("/", fields), true);
    run(conns, 10, [&] {
        return !conn.alive() || conn.answers().at(id).status >= 0 || client.stats.resets > 0;
    });
    std::printf("mode=bigheader fields=%d size=%zu status=%d resets=%d close_code=%" PRId64 "\n",
                client.options.count, client.options.size, conn.answers().at(id).status,
                client.stats.resets, conn.close_code());
    return 0;
}

int vanish(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.push_back(client.connect_one());
    Conn& conn = *conns.front();
    if (handshaken(conns) != 1) {
        std::fprintf(stderr, "vanish: no handshake: %s\n", conn.error().c_str());
        return 1;
    }
    int sent = 0;
    run(conns, 10, [&] {
        while (sent < client.options.count &&
               conn.open_request(client.get(client.options.path), true) >= 0)
            ++sent;
        return sent >= client.options.count && client.stats.body_bytes > 0;
    });
    std::printf("mode=vanish requests=%d body_bytes=%" PRIu64 "\n", sent, client.stats.body_bytes);
    std::fflush(stdout);
    std::_Exit(0);  // no CONNECTION_CLOSE: the socket just goes
}

int burst(Client& client) {
    std::vector<std::unique_ptr<Conn>> conns;
    conns.push_back(client.connect_one());
    Conn& conn = *conns.front();
    if (handshaken(conns) != 1) {
        std::fprintf(stderr, "burst: no handshake: %s\n", conn.error().c_str());
        return 1;
    }
    if (!client.options.warmup.empty()) {
        conn.open_request(client.get(client.options.warmup), true);
        run(conns, 10, [&] { return !conn.alive() || conn.open_requests() == 0; });
        run(conns, 0.2, nullptr);
    }
    std::vector<std::int64_t> first_ids;
    for (int i = 0; i < client.options.count; ++i) {
        std::int64_t id = conn.open_request(client.get(client.options.path), true);
        if (id < 0) {
            std::fprintf(stderr, "burst: no stream for request %d\n", i + 1);
            return 1;
        }
        first_ids.push_back(id);
    }
    std::int64_t last_id = conn.open_request(client.get(client.options.last), true);
    conn.send_packets();  // now, not after run()'s first wait
    auto sent = std::chrono::steady_clock::now();
    auto ms_since_sent = [&] {
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
            .count();
    };
    double first_body_ms = -1;
    double last_answer_ms = -1;
    auto a_first_body_began = [&] {
        return std::any_of(first_ids.begin(), first_ids.end(),
                           [&](std::int64_t id) { return conn.answers().at(id).body > 0; });
    };
    run(conns, 10, [&] {
        if (first_body_ms < 0 && a_first_body_began()) first_body_ms = ms_since_sent();
        if (last_answer_ms < 0 && last_id >= 0 && conn.answers().at(last_id).status >= 0)
            last_answer_ms = ms_since_sent();
        return !conn.alive() || (first_body_ms >= 0 && last_answer_ms >= 0);
    });
    std::printf("mode=burst requests=%d first_body_ms=%.1f last_answer_ms=%.1f statuses=%s\n",
                client.options.count + 1, first_body_ms, last_answer_ms, client.statuses().c_str());
    return 0;
}

Options parse(int argc, char** argv) {
    static const option long_options[] = {
        {"mode", required_argument, nullptr, 'M'},
        {"port", required_argument, nullptr, 'p'},
        {"count", required_argument, nullptr, 'c'},
        {"seconds", required_argument, nullptr, 's'},
        {"path", required_argument, nullptr, 'P'},
        {"last", required_argument, nullptr, 'L'},
        {"warmup", required_argument, nullptr, 'W'},
        {"size", required_argument, nullptr, 'S'},
        {"refs", required_argument, nullptr, 'r'},
        {"credit", required_argument, nullptr, 'C'},
        {nullptr, 0, nullptr, 0},
    };
    Options options;
    int choice = 0;
    while ((choice = getopt_long(argc, argv, "", long_options, nullptr)) != -1) {
        switch (choice) {
            case 'M': options.mode = optarg; break;
            case 'p': options.port = std::atoi(optarg); break;
            case 'c': options.count = std::atoi(optarg); break;
            case 's': options.seconds = std::atof(optarg); break;
            case 'P': options.path = optarg; break;
            case 'L': options.last = optarg; break;
            case 'W': options.warmup = optarg; break;
            case 'S': options.size = std::strtoul(optarg, nullptr, 10); break;
            case 'r': options.refs = std::atoi(optarg); break;
            case 'C': options.credit = std::strtoull(optarg, nullptr, 10); break;
            default: std::exit(2);
        }
    }
    if (options.port <= 0 || options.mode.empty()) {
        std::fprintf(stderr,
                     "usage: http3_abuse_client --port=P --mode=flood|conns|streams|qpack|"
                     "slowread|bigheader|vanish|burst [--count=N] [--seconds=S] [--path=P] "
                     "[--last=P] [--warmup=P] [--size=B] [--refs=R] [--credit=B]\n");
        std::exit(2);
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse(argc, argv);
    Client client{options, {}, nullptr, {}};
    client.server.sin_family = AF_INET;
    client.server.sin_port = htons(static_cast<std::uint16_t>(options.port));
    client.server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    gnutls_certificate_allocate_credentials(&client.creds);
    int code = 2;
    if (options.mode == "flood")
        code = flood(client);
    else if (options.mode == "conns")
        code = many_connections(client);
    else if (options.mode == "streams")
        code = streams(client);
    else if (options.mode == "qpack")
        code = qpack_bomb(client);
    else if (options.mode == "slowread")
        code = slow_reader(client);
    else if (options.mode == "bigheader")
        code = big_header(client);
    else if (options.mode == "vanish")
        code = vanish(client);
    else if (options.mode == "burst")
        code = burst(client);
    else
        std::fprintf(stderr, "unknown --mode %s\n", options.mode.c_str());
    gnutls_certificate_free_credentials(client.creds);
    return code;
}
