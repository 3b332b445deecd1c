// http3server.cpp: the listener (HTTP3Server, tornado/http3.h): its
// sockets, its table of connection IDs, new connections, and the answers
// it gives without making a connection, each smaller than what provoked
// it, so that a forged source address cannot turn the server into an
// amplifier:
//
//   Version Negotiation  to an Initial of a QUIC version we do not speak;
//   Retry                to a client without a token, while too many
//                        handshakes are in progress (its address is then
//                        proven by the token coming back);
//   CONNECTION_CLOSE     INVALID_TOKEN, to a Retry token that is forged,
//                        stale, or from another address;
//   stateless reset      to a packet for a connection we do not know (it
//                        ended, or the server restarted), at most
//                        kResetsPerSecond a second.
#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <exception>
#include <utility>

#include "http3libraries.h"
#include "http3stream.h"
#include "http3tls.h"
#include "tornado/http3.h"
#include "tornado/log.h"

namespace tornado {

std::size_t http3_id_length() noexcept;  // http3connection.cpp: the IDs this server makes

namespace {

// RFC 9000 section 14.1: a client's first datagram is at least this long;
// shorter ones start nothing and get no answer (nor a Version
// Negotiation: an answer to a small datagram would amplify a forged one).
constexpr std::size_t kMinInitialSize = 1200;

// How long a Retry's token is good for: the client sends it back at
// once, one round trip later.
constexpr auto kRetryTokenLifetime = std::chrono::seconds(10);
// Stateless resets sent a second at most (RFC 9000 section 10.3.3 asks
// for a limit): each answers a datagram of any source address, which may
// be forged, so they are capped like any unsolicited answer.
constexpr std::uint32_t kResetsPerSecond = 100;

std::span<const std::uint8_t> bytes_of(std::string_view text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// One packet of the listener's own (`written` bytes of `packet`, or
// nothing if writing it failed) back to where `datagram` came from. Not
// kept if the socket refuses it: the client sends again, or times out.
void answer(const Datagram& datagram, DatagramSink& sink, const std::uint8_t* packet,
            ngtcp2_ssize written) {
    if (written <= 0) return;
    std::string_view bytes(reinterpret_cast<const char*>(packet),
                           static_cast<std::size_t>(written));
    OutgoingDatagram reply{bytes, datagram.peer, datagram.destination};
    (void)sink.send({&reply, 1});
}

// A version no one speaks, of the form RFC 9000 section 15 reserves, so
// that clients keep taking versions they do not know ("greasing").
std::uint32_t reserved_version() {
    std::uint32_t random = 0;
    gnutls_rnd(GNUTLS_RND_NONCE, &random, sizeof random);
    return (random & 0xf0f0f0f0u) | 0x0a0a0a0au;
}

}  // namespace

// One UDP socket of the listener, and the sink its connections send by.
class HTTP3Server::Socket final : public DatagramSink {
public:
    Socket(HTTP3Server& server, const SocketAddress& address) : socket_(address) {
        socket_.start_reading(
            [this, &server](const Datagram& datagram) { server.receive(datagram, *this); });
    }
    SendResult send(std::span<const OutgoingDatagram> datagrams) override {
        return socket_.send(datagrams);
    }
    Future<void> wait_writable() override { return socket_.wait_writable(); }
    SocketAddress local_address() const override { return socket_.local_address(); }

private:
    UDPSocket socket_;
};

HTTP3Server::HTTP3Server(HTTPServerConnectionDelegate& delegate, HTTP3Parameters params)
    : delegate_(delegate),
      params_(std::move(params)),
      tls_(std::make_unique<HTTP3TLS>(params_.certfile, params_.keyfile)),
      secret_(32, '\0') {
    gnutls_rnd(GNUTLS_RND_KEY, secret_.data(), secret_.size());
}

// The sockets go first, so that nothing more comes; then each connection
// ends (its delegate hears on_close), without CONNECTION_CLOSE: the loop
// may be gone already.
HTTP3Server::~HTTP3Server() {
    if (grace_pending_) IOLoop::current().remove_timeout(grace_timer_);
    sockets_.clear();
    std::vector<std::shared_ptr<HTTP3ServerConnection>> open;
    for (auto& [raw, connection] : connections_) open.push_back(connection);
    for (auto& connection : open) connection->end_serving();
}

void HTTP3Server::listen(const SocketAddress& address) {
    sockets_.push_back(std::make_unique<Socket>(*this, address));
}

std::vector<SocketAddress> HTTP3Server::local_addresses() const {
    std::vector<SocketAddress> addresses;
    for (const auto& socket : sockets_) addresses.push_back(socket->local_address());
    return addresses;
}

// A datagram goes to the connection its destination ID names; else a
// short-header one gets a stateless reset, and a long-header one may
// start a connection; else it is dropped. Only its first packet is looked at
// here (coalesced ones share its IDs).
void HTTP3Server::receive(const Datagram& datagram, DatagramSink& sink) {
    if (datagram.bytes.empty()) return;  // ngtcp2's header parser asserts on nothing
    ngtcp2_version_cid ids;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(datagram.bytes.data());
    int decoded =
        ngtcp2_pkt_decode_version_cid(&ids, bytes, datagram.bytes.size(), http3_id_length());
    if (decoded == NGTCP2_ERR_VERSION_NEGOTIATION) {
        negotiate_version(datagram, sink, ids.version, {ids.dcid, ids.dcidlen},
                          {ids.scid, ids.scidlen});
        return;
    }
    if (decoded != 0) return;  // not QUIC, or not whole
    std::string id(reinterpret_cast<const char*>(ids.dcid), ids.dcidlen);
    auto found = ids_.find(id);
    if (found != ids_.end()) {
        receive_on(*found->second, datagram);
        return;
    }
    bool long_header = (bytes[0] & 0x80) != 0;
    if (!long_header) {
        send_stateless_reset(datagram, sink, id);
        return;
    }
    if (accepting_ && datagram.bytes.size() >= kMinInitialSize &&
        connections_.size() < params_.max_connections) {
        accept(datagram, sink);
    }
}

// What a connection does with a datagram runs the application's code
// (dispatched requests, close callbacks). Whatever escapes it ends that
// connection (H3_INTERNAL_ERROR), not the socket's reading, nor the others.
void HTTP3Server::receive_on(HTTP3ServerConnection& connection, const Datagram& datagram) {
    std::shared_ptr<HTTP3ServerConnection> keep = connection.shared_from_this();
    try {
        connection.receive(datagram);
    } catch (...) {
        gen_log.error("HTTP/3: error serving {}: {}", datagram.peer.to_string(),
                      describe_exception(std::current_exception()));
        connection.fail(NGHTTP3_H3_INTERNAL_ERROR);
        connection.end_serving();
    }
}

// A new connection, from a client's Initial packet (ngtcp2_accept says
// whether it is one), unless its address must be proven first (a Retry)
// or the token it brings is bad. Only a token of our Retry counts: any
// other (a NEW_TOKEN of some server's; this one sends none) is ignored.
// What fails here ends that connection alone.
void HTTP3Server::accept(const Datagram& datagram, DatagramSink& sink) {
    ngtcp2_pkt_hd header;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(datagram.bytes.data());
    if (ngtcp2_accept(&header, bytes, datagram.bytes.size()) != 0) return;
    std::span<const std::uint8_t> token(header.token.base, header.token.len);
    ngtcp2_cid original{};
    if (!token.empty() && token[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
        auto secret = bytes_of(secret_);
        int valid = ngtcp2_crypto_verify_retry_token(
            &original, token.data(), token.size(), secret.data(), secret.size(), header.version,
            datagram.peer.data(), datagram.peer.size(), &header.dcid,
            std::chrono::nanoseconds(kRetryTokenLifetime).count(), quic_now());
        if (valid != 0) {
            refuse_token(datagram, sink, header);
            return;
        }
    } else if (handshakes_in_progress_ >= params_.handshakes_before_retry) {
        send_retry(datagram, sink, header);
        return;
    }
    std::string_view original_id(reinterpret_cast<const char*>(original.data), original.datalen);
    const SocketAddress& local =
        datagram.destination.empty() ? sink.local_address() : datagram.destination;
    std::shared_ptr<HTTP3ServerConnection> connection;
    try {
        connection = std::make_shared<HTTP3ServerConnection>(*this, sink, datagram, local);
        connections_[connection.get()] = connection;
        connection->start_serving(delegate_);
        connection->start(datagram, original_id);
    } catch (...) {
        gen_log.warning("HTTP/3: no connection for {}: {}", datagram.peer.to_string(),
                        describe_exception(std::current_exception()));
        if (connection) connection->end_serving();
    }
}

// RFC 9000 section 6: the versions we speak (QUIC v1, and a reserved one),
// to a client that offered another. The IDs go back swapped.
void HTTP3Server::negotiate_version(const Datagram& datagram, DatagramSink& sink,
                                    std::uint32_t version, std::span<const std::uint8_t> dcid,
                                    std::span<const std::uint8_t> scid) {
    (void)version;
    if (datagram.bytes.size() < kMinInitialSize) return;
    std::uint32_t versions[] = {reserved_version(), NGTCP2_PROTO_VER_V1};
    std::uint8_t unused = 0;
    gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1);
    std::uint8_t packet[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_ssize written =
        ngtcp2_pkt_write_version_negotiation(packet, sizeof packet, unused, scid.data(),
                                             scid.size(), dcid.data(), dcid.size(), versions, 2);
    answer(datagram, sink, packet, written);
}

// RFC 9000 section 17.2.5: a new ID of ours, and a token that seals it
// with the client's address, its first ID and the time. The client sends
// its next Initial to that ID with the token; only a client that receives
// at its address can.
void HTTP3Server::send_retry(const Datagram& datagram, DatagramSink& sink,
                             const ngtcp2_pkt_hd& header) {
    ngtcp2_cid retry_id;
    retry_id.datalen = http3_id_length();
    if (gnutls_rnd(GNUTLS_RND_RANDOM, retry_id.data, retry_id.datalen) != 0) return;
    auto secret = bytes_of(secret_);
    std::uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
    ngtcp2_ssize token_size = ngtcp2_crypto_generate_retry_token(
        token, secret.data(), secret.size(), header.version, datagram.peer.data(),
        datagram.peer.size(), &retry_id, &header.dcid, quic_now());
    if (token_size < 0) return;
    std::uint8_t packet[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_ssize written =
        ngtcp2_crypto_write_retry(packet, sizeof packet, header.version, &header.scid, &retry_id,
                                  &header.dcid, token, static_cast<std::size_t>(token_size));
    answer(datagram, sink, packet, written);
}

// RFC 9000 section 8.1.2: a Retry token we did not make for this address,
// or made too long ago. The client will not take a second Retry, so it is
// told at once (INVALID_TOKEN) rather than left to time out.
void HTTP3Server::refuse_token(const Datagram& datagram, DatagramSink& sink,
                               const ngtcp2_pkt_hd& header) {
    std::uint8_t packet[NGTCP2_MAX_UDP_PAYLOAD_SIZE];
    ngtcp2_ssize written =
        ngtcp2_crypto_write_connection_close(packet, sizeof packet, header.version, &header.scid,
                                             &header.dcid, NGTCP2_INVALID_TOKEN, nullptr, 0);
    answer(datagram, sink, packet, written);
}

// RFC 9000 section 10.3: a packet for an ID we do not know. If it was one
// of ours, its client learnt the reset token for it and ends the
// connection at once instead of at its idle timeout. The reset is shorter
// than what provoked it (so two endpoints cannot answer each other's
// resets forever) and at most 43 bytes.
void HTTP3Server::send_stateless_reset(const Datagram& datagram, DatagramSink& sink,
                                       std::string_view id) {
    constexpr std::size_t kLargest = 43;
    std::size_t size = std::min(datagram.bytes.size() - 1, kLargest);
    if (id.size() != http3_id_length() ||
        size < NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN ||
        !reset_allowed()) {
        return;
    }
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, bytes_of(id).data(), id.size());
    std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
    if (!reset_token(cid, token)) return;
    // The random bytes include the first byte, whose top bits ngtcp2 sets.
    std::uint8_t random[kLargest];
    std::size_t random_size = size - NGTCP2_STATELESS_RESET_TOKENLEN;
    gnutls_rnd(GNUTLS_RND_NONCE, random, random_size);
    std::uint8_t packet[kLargest];
    ngtcp2_ssize written =
        ngtcp2_pkt_write_stateless_reset(packet, sizeof packet, token, random, random_size);
    answer(datagram, sink, packet, written);
}

// The reset token the server gives with each connection ID it makes, and
// sends again in a stateless reset for that ID: derived from the ID and
// the secret, so the server need not remember it.
bool HTTP3Server::reset_token(const ngtcp2_cid& id, std::uint8_t* token) const noexcept {
    auto secret = bytes_of(secret_);
    return ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), &id) ==
           0;
}

bool HTTP3Server::reset_allowed() noexcept {
    IOLoop::Clock::time_point now = IOLoop::current().time();
    if (now - reset_second_ >= std::chrono::seconds(1)) {
        reset_second_ = now;
        resets_this_second_ = 0;
    }
    return resets_this_second_++ < kResetsPerSecond;
}

void HTTP3Server::add_id(std::string id, HTTP3ServerConnection* connection) {
    ids_[std::move(id)] = connection;
}

void HTTP3Server::remove_id(const std::string& id) noexcept { ids_.erase(id); }

void HTTP3Server::forget(HTTP3ServerConnection* connection) noexcept {
    if (std::exchange(connection->counted_as_handshaking_, false)) --handshakes_in_progress_;
    for (const std::string& id : connection->ids_) {
        auto found = ids_.find(id);
        if (found != ids_.end() && found->second == connection) ids_.erase(found);
    }
    connections_.erase(connection);  // may destroy it: its caller holds it
    maybe_resolve_closed();
}

Future<void> HTTP3Server::close_all_connections(IOLoop::Clock::duration grace) {
    if (!all_closed_.valid() || all_closed_.done()) all_closed_ = Future<void>();
    accepting_ = false;
    if (grace <= IOLoop::Clock::duration::zero()) {
        close_now();
        return all_closed_;
    }
    std::vector<std::shared_ptr<HTTP3ServerConnection>> open;
    for (auto& [raw, connection] : connections_) open.push_back(connection);
    for (auto& connection : open) connection->close_when_idle();
    if (!grace_pending_) {
        grace_pending_ = true;
        grace_timer_ = IOLoop::current().call_later(grace, [this] {
            grace_pending_ = false;
            close_now();
        });
    }
    maybe_resolve_closed();
    return all_closed_;
}

// CONNECTION_CLOSE on every connection still open.
void HTTP3Server::close_now() noexcept {
    std::vector<std::shared_ptr<HTTP3ServerConnection>> open;
    for (auto& [raw, connection] : connections_) open.push_back(connection);
    for (auto& connection : open) (void)connection->close();
    maybe_resolve_closed();
}

void HTTP3Server::maybe_resolve_closed() noexcept {
    if (!connections_.empty() || !all_closed_.valid() || all_closed_.done()) return;
    all_closed_.set_result();
    if (grace_pending_) IOLoop::current().remove_timeout(grace_timer_);
    grace_pending_ = false;
}

std::unique_ptr<detail::HTTP3Listener> detail::make_http3_listener(
    HTTPServerConnectionDelegate& delegate, const HTTPServerOptions& options) {
    HTTP3Parameters params;
    params.certfile = options.ssl_options->certfile;
    params.keyfile = options.ssl_options->keyfile.empty() ? options.ssl_options->certfile
                                                          : options.ssl_options->keyfile;
    params.max_body_size = options.max_body_size;
    params.max_header_list_size = options.max_header_size;
    params.max_concurrent_streams = options.http2_max_concurrent_streams;
    params.server_header = options.server_header;
    return std::make_unique<HTTP3Server>(delegate, std::move(params));
}

}  // namespace tornado
