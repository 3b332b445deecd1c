// http3connection.cpp: one QUIC connection and the HTTP/3 it carries
// (HTTP3ServerConnection, tornado/http3.h).
#include <cerrno>
#include <initializer_list>
#include <stdexcept>
#include <utility>

#include "http/connection_end.h"
#include "http3callbacks.h"
#include "http3libraries.h"
#include "http3stream.h"
#include "http3tls.h"
#include "tornado/http3.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// The length of the connection IDs this server makes (at most 20, RFC
// 9000 section 17.2). The listener reads short-header packets' IDs by it.
constexpr std::size_t kIdLength = 18;
// Packets one send_now() writes before it lets the loop turn (ngtcp2's
// pacing says when the next ones may go: its timer). As many as one GSO
// send takes (UDPSocket::kMaxSegments): with 16, a 16 KiB answer's
// packets took twice the system calls (make bench-http3).
constexpr std::size_t kMaxPackets = UDPSocket::kMaxSegments;

// Where write_packets() lays its packets, one for the loop's thread: the
// datagrams point into it only until the sink has them (what it refuses
// is copied, keep_unsent), so every connection may share it, and none
// allocates and clears 90 KB on every send.
std::string& packet_scratch(std::size_t size) {
    thread_local std::string scratch;
    if (scratch.size() < size) scratch.resize(size);
    return scratch;
}

ngtcp2_addr address_of(const SocketAddress& address) {
    return {const_cast<sockaddr*>(address.data()), address.size()};
}

ngtcp2_path path_of(const SocketAddress& local, const SocketAddress& peer) {
    return {address_of(local), address_of(peer), nullptr};
}

SocketAddress from_ngtcp2(const ngtcp2_addr& address) {
    return address.addrlen == 0 ? SocketAddress() : SocketAddress(address.addr, address.addrlen);
}

// Packets of one size to one peer, side by side in the buffer, go down as
// one datagram of segments (GSO): one system call for all, where the
// kernel takes it (UDPSocket sends them one by one where it does not). A
// run ends after a shorter packet (only the last segment may be shorter),
// where the peer, the source or the ECN mark changes, or at
// UDPSocket::kMaxSegments.
std::vector<OutgoingDatagram> into_segments(const std::vector<OutgoingDatagram>& packets) {
    std::vector<OutgoingDatagram> runs;
    for (const OutgoingDatagram& packet : packets) {
        if (!runs.empty()) {
            OutgoingDatagram& run = runs.back();
            std::size_t segment = run.segment_size != 0 ? run.segment_size : run.bytes.size();
            bool all_full = run.bytes.size() % segment == 0;
            bool adjacent = run.bytes.data() + run.bytes.size() == packet.bytes.data();
            bool same_way =
                packet.peer == run.peer && packet.source == run.source && packet.ecn == run.ecn;
            if (all_full && adjacent && same_way && packet.bytes.size() <= segment &&
                run.bytes.size() / segment < UDPSocket::kMaxSegments) {
                run.bytes = {run.bytes.data(), run.bytes.size() + packet.bytes.size()};
                run.segment_size = segment;
                continue;
            }
        }
        runs.push_back(packet);
    }
    return runs;
}

ngtcp2_conn* connection_of_ref(ngtcp2_crypto_conn_ref* ref) {
    return static_cast<HTTP3ServerConnection::Libraries*>(ref->user_data)->quic;
}

}  // namespace

std::size_t http3_id_length() noexcept { return kIdLength; }

HTTP3ServerConnection::HTTP3ServerConnection(HTTP3Server& server, DatagramSink& sink,
                                             const Datagram& first, const SocketAddress& local)
    : server_(&server),
      loop_(IOLoop::current()),
      sink_(&sink),
      local_(local),
      peer_(first.peer),
      lib_(std::make_unique<Libraries>()) {
    context_.remote_ip = peer_.ip();
    context_.protocol = "https";  // QUIC is always TLS
}

HTTP3ServerConnection::~HTTP3ServerConnection() {
    if (timer_armed_) loop_.remove_timeout(timer_);
}

void HTTP3ServerConnection::enter(Life to) {
    bool drawn = (life_ == Life::created && (to == Life::serving || to == Life::ended)) ||
                 (life_ == Life::serving && to != Life::created && to != Life::serving) ||
                 (life_ == Life::going_away && (to == Life::closing || to == Life::ended)) ||
                 (life_ == Life::closing && to == Life::ended);
    if (!drawn) {
        static constexpr const char* kNames[] = {"created", "serving", "going_away", "closing",
                                                 "ended"};
        throw std::logic_error(tornado::format("HTTP/3 connection cannot go from {} to {}",
                                               kNames[static_cast<int>(life_)],
                                               kNames[static_cast<int>(to)]));
    }
    life_ = to;
}

void HTTP3ServerConnection::start_serving(HTTPServerConnectionDelegate& delegate) {
    delegate_ = &delegate;
    enter(Life::serving);
}

// Makes ngtcp2's connection from the client's Initial packet, with
// GnuTLS's session, and lists its two IDs with the server (the one the
// client chose, which its Initial packets carry, and ours). After a
// Retry, the client's address is proven (ngtcp2 lifts the limit of three
// times what it received), and the transport parameters name both its
// first ID and the Retry's, so that the client knows no one in between
// changed them (RFC 9000 section 7.3). Throws.
void HTTP3ServerConnection::start(const Datagram& first, std::string_view original_id) {
    ngtcp2_pkt_hd header;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(first.bytes.data());
    if (ngtcp2_accept(&header, bytes, first.bytes.size()) != 0) {
        throw std::runtime_error("not a client's Initial packet");
    }
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = quic_now();
    const HTTP3Parameters& params = server_->params();
    ngtcp2_transport_params transport;
    ngtcp2_transport_params_default(&transport);
    transport.initial_max_stream_data_bidi_remote = params.stream_window;
    transport.initial_max_stream_data_uni = 64 * 1024;  // the client's control and QPACK streams
    transport.initial_max_data = params.connection_window;
    transport.initial_max_streams_bidi = params.max_concurrent_streams;
    transport.initial_max_streams_uni = 3;  // RFC 9114 section 6.2: control, QPACK's two
    transport.max_idle_timeout =
        static_cast<ngtcp2_duration>(params.idle_timeout.count()) * NGTCP2_MILLISECONDS;
    transport.active_connection_id_limit = 7;
    transport.original_dcid = header.dcid;
    if (!original_id.empty()) {
        ngtcp2_cid_init(&transport.original_dcid,
                        reinterpret_cast<const std::uint8_t*>(original_id.data()),
                        original_id.size());
        transport.retry_scid = header.dcid;
        transport.retry_scid_present = 1;
        settings.token = header.token;
    }
    ngtcp2_cid id;
    if (!HTTP3Callbacks::new_id(*server_, &id, transport.stateless_reset_token, kIdLength)) {
        throw std::runtime_error("no connection ID");
    }
    transport.stateless_reset_token_present = 1;
    ngtcp2_callbacks callbacks = HTTP3Callbacks::quic();
    ngtcp2_path path = path_of(local_, peer_);
    int made = ngtcp2_conn_server_new(&lib_->quic, &header.scid, &id, &path, header.version,
                                      &callbacks, &settings, &transport, nullptr, this);
    if (made != 0) throw std::runtime_error(ngtcp2_strerror(made));
    ++server_->handshakes_in_progress_;
    counted_as_handshaking_ = true;
    lib_->ref = {&connection_of_ref, lib_.get()};
    lib_->tls = server_->tls_->new_session(&lib_->ref);
    ngtcp2_conn_set_tls_native_handle(lib_->quic, lib_->tls);
    for (const ngtcp2_cid* listed : std::initializer_list<const ngtcp2_cid*>{&header.dcid, &id}) {
        ids_.emplace_back(reinterpret_cast<const char*>(listed->data), listed->datalen);
        server_->add_id(ids_.back(), this);
    }
    receive(first);
}

// The handshake is complete (why HTTP/3 waits for it: the callback's
// comment): HTTP/3 begins, and the client gets a session ticket, to
// resume with next time.
void HTTP3ServerConnection::on_handshake_completed() {
    if (std::exchange(counted_as_handshaking_, false) && server_ != nullptr) {
        --server_->handshakes_in_progress_;
    }
    open_http();
    HTTP3TLS::send_ticket(lib_->tls);
}

// HTTP/3's own streams (on_handshake_completed): nghttp3's
// connection, our control stream and QPACK's encoder and decoder streams.
void HTTP3ServerConnection::open_http() {
    if (lib_->http != nullptr) return;
    if (ngtcp2_conn_get_max_local_streams_uni(lib_->quic) < 3) {
        throw std::runtime_error("the client allows fewer than 3 unidirectional streams");
    }
    nghttp3_callbacks callbacks = HTTP3Callbacks::http();
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    settings.qpack_max_dtable_capacity = 4096;
    settings.qpack_blocked_streams = 100;
    // Told to the client (SETTINGS_MAX_FIELD_SECTION_SIZE); nghttp3 does
    // not enforce it: HTTP3Stream counts (431, or a QPACK bomb's end).
    settings.max_field_section_size = server_->params().max_header_list_size;
    if (nghttp3_conn_server_new(&lib_->http, &callbacks, &settings, nghttp3_mem_default(), this) !=
        0) {
        throw std::bad_alloc();
    }
    nghttp3_conn_set_max_client_streams_bidi(lib_->http, server_->params().max_concurrent_streams);
    std::int64_t control = -1, encoder = -1, decoder = -1;
    if (ngtcp2_conn_open_uni_stream(lib_->quic, &control, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(lib_->quic, &encoder, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(lib_->quic, &decoder, nullptr) != 0 ||
        nghttp3_conn_bind_control_stream(lib_->http, control) != 0 ||
        nghttp3_conn_bind_qpack_streams(lib_->http, encoder, decoder) != 0) {
        throw std::runtime_error("HTTP/3's control and QPACK streams");
    }
}

// --- reading ---------------------------------------------------------------------------------

// One datagram of this connection: fed to ngtcp2, what it reported
// dispatched, and what answers it sent. While closing, what comes is
// answered with the CONNECTION_CLOSE again, but less and less often (the
// 1st, 2nd, 4th, 8th... datagram): RFC 9000 section 10.2.1 asks that a
// closing endpoint limit what it sends, so that a peer cannot make it send
// without end.
void HTTP3ServerConnection::receive(const Datagram& datagram) {
    std::shared_ptr<HTTP3ServerConnection> self = shared_from_this();
    if (life_ == Life::closing) {
        std::uint64_t count = ++received_while_closing_;
        if (!close_packet_.empty() && (count & (count - 1)) == 0) {
            OutgoingDatagram again{close_packet_, peer_, local_};
            (void)sink_->send({&again, 1});
        }
        return;
    }
    if (!serving()) return;
    feed(datagram);
    dispatch_events();
    send_now();
}

void HTTP3ServerConnection::feed(const Datagram& datagram) {
    const SocketAddress& local = datagram.destination.empty() ? local_ : datagram.destination;
    ngtcp2_path path = path_of(local, datagram.peer);
    ngtcp2_pkt_info info{};
    info.ecn = datagram.ecn;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(datagram.bytes.data());
    in_library_ = true;
    int read =
        ngtcp2_conn_read_pkt(lib_->quic, &path, &info, bytes, datagram.bytes.size(), quic_now());
    in_library_ = false;
    if (read != 0) read_failed(read);
}

// ngtcp2 could not go on from a packet. The client closed (draining: say
// nothing more), or the packet is to be dropped with the connection, or
// it broke a rule: CONNECTION_CLOSE with the reason.
void HTTP3ServerConnection::read_failed(int error) {
    switch (error) {
        case NGTCP2_ERR_DRAINING: start_closing_period(); return;
        case NGTCP2_ERR_DROP_CONN: end_serving(); return;
        case NGTCP2_ERR_CRYPTO:
            if (!lib_->error_set) {
                ngtcp2_connection_close_error_set_transport_error_tls_alert(
                    &lib_->last_error, ngtcp2_conn_get_tls_alert(lib_->quic), nullptr, 0);
                lib_->error_set = true;
            }
            write_close();
            return;
        default: fail_transport(error);
    }
}

// Sending between two handlers (send_early_if_a_batch_is_ready) comes back
// here for what the sending reported: that call returns at once, and this
// loop goes on with the events in order.
void HTTP3ServerConnection::dispatch_events() {
    if (dispatching_) return;
    dispatching_ = true;
    struct Done {  // however the loop ends
        bool& dispatching;
        ~Done() { dispatching = false; }
    } done{dispatching_};
    while (!events_.empty() && serving()) {
        Event event = events_.front();
        events_.pop_front();
        auto found = streams_.find(event.stream_id);
        if (found == streams_.end()) continue;
        std::shared_ptr<HTTP3Stream> stream = found->second;
        switch (event.kind) {
            case Event::Kind::request:
                if (delegate_ != nullptr) stream->start(*delegate_);
                send_early_if_a_batch_is_ready();
                break;
            case Event::Kind::body:
            case Event::Kind::end:
                stream->wake();
                send_early_if_a_batch_is_ready();
                break;
            case Event::Kind::closed:
                streams_.erase(found);
                stream->on_closed(event.error_code);
                stream->release();
                break;
        }
    }
    end_if_going_away_and_idle();
}

// The requests of a datagram (h3_load's, a browser's page of resources)
// are answered handler by handler. Once the answers queued since the last
// early send would fill one write of packets, they go now, between two
// handlers, rather than after the last one: the client reads (and
// acknowledges) the first answers while the server makes the rest. At
// most one early send per such batch, whatever QUIC's windows and pacing
// let out, so a slow client does not turn it into a send per handler.
void HTTP3ServerConnection::send_early_if_a_batch_is_ready() {
    std::size_t batch = kMaxPackets * ngtcp2_conn_get_max_tx_udp_payload_size(lib_->quic);
    if (queued_bytes_ - queued_at_early_send_ < batch) return;
    queued_at_early_send_ = queued_bytes_;
    send_now();
}

HTTP3Stream* HTTP3ServerConnection::find_stream(std::int64_t id) {
    auto found = streams_.find(id);
    return found == streams_.end() ? nullptr : found->second.get();
}

// --- sending ---------------------------------------------------------------------------------

void HTTP3ServerConnection::send_soon() {
    if (send_scheduled_ || !serving()) return;
    send_scheduled_ = true;
    std::weak_ptr<HTTP3ServerConnection> weak = weak_from_this();
    loop_.add_callback([weak] {
        if (auto self = weak.lock()) {
            self->send_scheduled_ = false;
            self->dispatch_events();
            self->send_now();
        }
    });
}

// The one function that writes: the packets ngtcp2 makes, with nghttp3's
// stream data in them, then the timer from ngtcp2's next expiry.
void HTTP3ServerConnection::send_now() {
    if (!serving() || in_library_) return;
    if (lib_->error_set) {  // a callback failed the connection
        write_close();
        return;
    }
    if (!waiting_writable_ && !write_packets()) return;
    dispatch_events();  // what writing reported (a stream's end)
    arm_timer();
}

// Writes packets until ngtcp2 has nothing more (or pacing says wait), at
// most kMaxPackets, side by side in one buffer (a packet of full size is
// followed at once by the next), and hands them to the sink, runs of equal
// ones as one datagram of segments. False if the connection failed
// meanwhile.
bool HTTP3ServerConnection::write_packets() {
    std::size_t packet_size = ngtcp2_conn_get_max_tx_udp_payload_size(lib_->quic);
    std::string& buffer = packet_scratch(kMaxPackets * packet_size);
    std::vector<OutgoingDatagram> out;
    while (out.size() < kMaxPackets) {
        std::size_t before = out.size();
        if (!write_one_packet(out, buffer, packet_size)) return false;
        if (out.size() == before) break;  // nothing more to send now
    }
    ngtcp2_conn_update_pkt_tx_time(lib_->quic, quic_now());
    // A full batch: there may be more, which ngtcp2's timer would not say;
    // the rest goes at the loop's next turn, after the other handlers.
    if (out.size() == kMaxPackets) send_soon();
    std::vector<OutgoingDatagram> runs = into_segments(out);
    return flush_packets(runs);
}

// One packet: nghttp3's next stream data (if the connection's credit
// allows any) given to ngtcp2, which packs it with whatever QUIC has to
// send. Appends the packet to `out` unless there was nothing.
bool HTTP3ServerConnection::write_one_packet(std::vector<OutgoingDatagram>& out,
                                             std::string& buffer, std::size_t packet_size) {
    auto* dest = reinterpret_cast<std::uint8_t*>(buffer.data()) + out.size() * packet_size;
    for (;;) {
        std::int64_t stream_id = -1;
        int fin = 0;
        nghttp3_vec data[16];
        nghttp3_ssize count = 0;
        in_library_ = true;
        if (lib_->http != nullptr && ngtcp2_conn_get_max_data_left(lib_->quic) > 0) {
            count = nghttp3_conn_writev_stream(lib_->http, &stream_id, &fin, data, 16);
        }
        if (count < 0) {
            in_library_ = false;
            fail(nghttp3_err_infer_quic_app_error_code(static_cast<int>(count)));
            return false;
        }
        ngtcp2_path_storage path;
        ngtcp2_path_storage_zero(&path);
        ngtcp2_pkt_info info{};
        ngtcp2_ssize taken = -1;
        std::uint32_t flags =
            NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
        ngtcp2_ssize written = ngtcp2_conn_writev_stream(
            lib_->quic, &path.path, &info, dest, packet_size, &taken, flags, stream_id,
            reinterpret_cast<const ngtcp2_vec*>(data), static_cast<std::size_t>(count), quic_now());
        in_library_ = false;
        if (taken >= 0 && nghttp3_conn_add_write_offset(lib_->http, stream_id,
                                                        static_cast<std::size_t>(taken)) != 0) {
            fail(NGHTTP3_H3_INTERNAL_ERROR);
            return false;
        }
        if (written == NGTCP2_ERR_WRITE_MORE) continue;  // room left in the packet for more streams
        if (written == NGTCP2_ERR_STREAM_DATA_BLOCKED) {  // that stream is out of credit
            nghttp3_conn_block_stream(lib_->http, stream_id);
            continue;
        }
        if (written == NGTCP2_ERR_STREAM_SHUT_WR) {  // that stream was reset
            nghttp3_conn_shutdown_stream_write(lib_->http, stream_id);
            continue;
        }
        if (written < 0) {
            fail_transport(static_cast<int>(written));
            return false;
        }
        if (written > 0) {
            std::string_view bytes(reinterpret_cast<const char*>(dest),
                                   static_cast<std::size_t>(written));
            out.push_back({bytes, from_ngtcp2(path.path.remote), from_ngtcp2(path.path.local),
                           static_cast<std::uint8_t>(info.ecn)});
        }
        return true;
    }
}

// Hands the packets to the sink. A datagram the kernel refuses for good
// is dropped (QUIC sends again what is lost); on EAGAIN the rest is kept
// until the socket has room: backpressure, not loss.
bool HTTP3ServerConnection::flush_packets(std::vector<OutgoingDatagram>& out) {
    std::span<const OutgoingDatagram> rest(out);
    while (!rest.empty()) {
        SendResult result = sink_->send(rest);
        if (result.error == 0) break;
        if (result.error == EAGAIN || result.error == EWOULDBLOCK) {
            keep_unsent(rest.subspan(result.sent));
            break;
        }
        rest = rest.subspan(std::min(result.sent + 1, rest.size()));
    }
    return true;
}

void HTTP3ServerConnection::keep_unsent(std::span<const OutgoingDatagram> unsent) {
    for (const OutgoingDatagram& datagram : unsent) {
        blocked_bytes_.emplace_back(datagram.bytes);  // a deque: the bytes stay where they are
        OutgoingDatagram kept = datagram;
        kept.bytes = blocked_bytes_.back();
        blocked_.push_back(kept);
    }
    if (waiting_writable_) return;
    waiting_writable_ = true;
    std::weak_ptr<HTTP3ServerConnection> weak = weak_from_this();
    sink_->wait_writable().add_done_callback([weak] {
        if (auto self = weak.lock()) self->resend_blocked();
    });
}

// The socket has room again: the kept datagrams first, in order, then
// whatever ngtcp2 has more.
void HTTP3ServerConnection::resend_blocked() {
    waiting_writable_ = false;
    if (!serving()) return;
    std::vector<OutgoingDatagram> kept(blocked_.begin(), blocked_.end());
    std::deque<std::string> bytes =
        std::move(blocked_bytes_);  // the views stay valid: moved, not copied
    blocked_.clear();
    blocked_bytes_.clear();
    flush_packets(kept);
    if (!waiting_writable_) send_now();
}

// ONE loop timeout, re-armed from ngtcp2's next expiry after every read
// and write.
void HTTP3ServerConnection::arm_timer() {
    IOLoop& loop = loop_;
    if (timer_armed_) loop.remove_timeout(std::exchange(timer_, {}));
    timer_armed_ = false;
    ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(lib_->quic);
    if (expiry == UINT64_MAX) return;
    IOLoop::Clock::time_point when{
        std::chrono::duration_cast<IOLoop::Clock::duration>(std::chrono::nanoseconds(expiry))};
    std::weak_ptr<HTTP3ServerConnection> weak = weak_from_this();
    timer_ = loop.call_at(when, [weak] {
        if (auto self = weak.lock()) self->on_expiry();
    });
    timer_armed_ = true;
}

// ngtcp2's timer: loss detection, delayed acknowledgements, the idle
// timeout (the end, without a word: RFC 9000 section 10.1), pacing.
void HTTP3ServerConnection::on_expiry() {
    timer_armed_ = false;
    if (life_ == Life::closing) {
        end_serving();
        return;
    }
    if (!serving()) return;
    in_library_ = true;
    int handled = ngtcp2_conn_handle_expiry(lib_->quic, quic_now());
    in_library_ = false;
    if (handled == NGTCP2_ERR_IDLE_CLOSE) {
        end_serving();
        return;
    }
    if (handled != 0) {
        fail_transport(handled);
        return;
    }
    dispatch_events();
    send_now();
}

// --- the end ---------------------------------------------------------------------------------

void HTTP3ServerConnection::fail(std::uint64_t code) {
    if (!lib_->error_set) {
        ngtcp2_connection_close_error_set_application_error(&lib_->last_error, code, nullptr, 0);
        lib_->error_set = true;
    }
    if (!in_library_) write_close();
}

void HTTP3ServerConnection::fail_transport(int library_error) noexcept {
    if (!lib_->error_set) {
        ngtcp2_connection_close_error_set_transport_error_liberr(&lib_->last_error, library_error,
                                                                 nullptr, 0);
        lib_->error_set = true;
    }
    write_close();
}

// CONNECTION_CLOSE with the recorded reason, kept to answer what still
// comes, then the closing period.
void HTTP3ServerConnection::write_close() {
    if (!serving() || lib_->quic == nullptr) return;
    if (ngtcp2_conn_is_in_draining_period(lib_->quic)) {
        start_closing_period();
        return;
    }
    std::string packet(NGTCP2_MAX_UDP_PAYLOAD_SIZE, '\0');
    ngtcp2_path_storage path;
    ngtcp2_path_storage_zero(&path);
    ngtcp2_pkt_info info{};
    ngtcp2_ssize written = ngtcp2_conn_write_connection_close(
        lib_->quic, &path.path, &info, reinterpret_cast<std::uint8_t*>(packet.data()),
        packet.size(), &lib_->last_error, quic_now());
    if (written > 0) {
        packet.resize(static_cast<std::size_t>(written));
        close_packet_ = std::move(packet);
        OutgoingDatagram close{close_packet_, peer_, local_};
        (void)sink_->send({&close, 1});  // lost or refused: the client's timer ends it too
    }
    start_closing_period();
}

// closing (or draining, close_packet_ empty): three PTOs, then the end
// (RFC 9000 section 10.2).
void HTTP3ServerConnection::start_closing_period() {
    if (!serving()) return;
    enter(Life::closing);
    IOLoop& loop = loop_;
    if (timer_armed_) loop.remove_timeout(std::exchange(timer_, {}));
    auto wait = std::chrono::nanoseconds(3 * ngtcp2_conn_get_pto(lib_->quic));
    std::weak_ptr<HTTP3ServerConnection> weak = weak_from_this();
    timer_ = loop.call_later(wait, [weak] {
        if (auto self = weak.lock()) self->on_expiry();
    });
    timer_armed_ = true;
}

void HTTP3ServerConnection::end_if_going_away_and_idle() {
    if (life_ == Life::going_away && streams_.empty()) fail(NGHTTP3_H3_NO_ERROR);
}

Future<void> HTTP3ServerConnection::close() {
    std::shared_ptr<HTTP3ServerConnection> self = shared_from_this();
    if (!closed_future_.valid()) closed_future_ = Future<void>();
    if (serving()) fail(NGHTTP3_H3_NO_ERROR);
    end_serving();
    return closed_future_;
}

// GOAWAY (RFC 9114 section 5.2): no new request; CONNECTION_CLOSE once the
// ones in progress are answered.
void HTTP3ServerConnection::close_when_idle() {
    if (life_ == Life::closing) {  // nothing in progress: its closing period need not run out
        end_serving();
        return;
    }
    if (life_ != Life::serving) return;
    enter(Life::going_away);
    if (lib_->http != nullptr) nghttp3_conn_submit_shutdown_notice(lib_->http);
    send_now();
    end_if_going_away_and_idle();
}

void HTTP3ServerConnection::end_serving() noexcept {
    if (life_ == Life::ended) return;
    std::shared_ptr<HTTP3ServerConnection> self = shared_from_this();
    life_ = Life::ended;  // not enter(): every life may end (drawn), and this must not throw
    if (timer_armed_) loop_.remove_timeout(std::exchange(timer_, {}));
    timer_armed_ = false;
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, stream] : streams) {
        stream->on_closed(NGHTTP3_H3_REQUEST_CANCELLED);
        stream->release();
    }
    events_.clear();
    detail::end_server_connection(*this, delegate_, closed_future_);
    if (HTTP3Server* server = std::exchange(server_, nullptr)) server->forget(this);
}

}  // namespace tornado
