// tornado/http3.h: HTTP/3 over QUIC on the IOLoop, for an application
// (tornado::http3, an add-on over ngtcp2, nghttp3 and GnuTLS;
// final/http3/README.md).
//
//   #include <tornado/http3.h>   // link tornado::http3
//
//   tornado::HTTP3Parameters params;
//   params.certfile = "cert.pem";
//   params.keyfile = "key.pem";
//   tornado::HTTP3Server h3(app, params);   // app: the same Application
//   h3.listen(tornado::SocketAddress::from_ip("127.0.0.1", 8443));
//
// The application does not know a request came by HTTP/3: the same
// HTTPServerConnectionDelegate (web::Application) that HTTPServer serves
// over HTTP/1.1 and HTTP/2 gets the request, version "HTTP/3.0".
//
// QUIC runs over UDP: one socket for every connection. So HTTP3Server is
// the listener: it takes each datagram, finds its connection by the
// connection ID the datagram names (a table of them), makes a connection
// from a client's Initial packet (past a number of handshakes at once,
// only once the client has proven its address: a Retry), answers an
// unknown QUIC version with Version Negotiation, and a packet for a
// connection it does not know with a stateless reset. The datagrams go out through a DatagramSink,
// which is the UDPSocket in a server and anything in a test or a fuzzer.
//
// One HTTP3ServerConnection is one QUIC connection. ngtcp2 does QUIC
// (packets, TLS 1.3 by GnuTLS, loss recovery, congestion and flow
// control) and nghttp3 HTTP/3 (frames, QPACK); neither does I/O. The
// connection feeds them each datagram, dispatches what their callbacks
// recorded, and sends what they have to send, from one function:
//
//   datagram ─► ngtcp2_conn_read_pkt ─► nghttp3_conn_read_stream ─► callbacks record
//      ▲                                                               │ (dispatched
//      └── sink ◄── ngtcp2_conn_writev_stream ◄── nghttp3_conn_writev_stream ▼  after)
//                                                            HTTPMessageDelegate
//
// Its one timer is one loop timeout, re-armed from ngtcp2_conn_get_expiry
// after every read and write (loss detection, acknowledgements, the idle
// timeout, pacing).
//
// Threads: everything on the loop's thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/httpserver.h"
#include "tornado/httputil.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/udpsocket.h"

struct ngtcp2_conn;
struct ngtcp2_pkt_hd;
struct ngtcp2_cid;
struct nghttp3_conn;

namespace tornado {

// An HTTP/3 server's certificate and limits.
struct HTTP3Parameters {
    // PEM files: the certificate (chain) and its private key. TLS is not
    // optional in QUIC.
    std::string certfile;
    std::string keyfile;
    // Connections open at once; a client's Initial packet past them is
    // dropped (its client tries again, or gives up).
    std::size_t max_connections = 10000;
    // Handshakes in progress at once past which a new client must first
    // prove that it receives at its address: it gets a Retry packet with
    // a token, and only the Initial that brings the token back makes a
    // connection (RFC 9000 section 8.1.2; one round trip more). Forged
    // Initial packets, from addresses that never answer, then cost the
    // server one small packet each and no memory. 0: every client.
    std::size_t handshakes_before_retry = 100;
    // Request streams a client may have open at once (QUIC's
    // initial_max_streams_bidi, given back as streams close).
    std::uint64_t max_concurrent_streams = 100;
    // How much of a request body each stream, and the whole connection,
    // may send before the server has passed it on (QUIC flow control).
    std::uint64_t stream_window = 256 * 1024;
    std::uint64_t connection_window = 1024 * 1024;
    // A request's header section, names and values; more gets 431.
    std::size_t max_header_list_size = 64 * 1024;
    // A request's body; more gets 413.
    std::size_t max_body_size = 100 * 1024 * 1024;
    // A connection that hears nothing for this long ends (QUIC's
    // max_idle_timeout, which ngtcp2 keeps).
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
    // Added to responses that have none (empty: none).
    std::string server_header = std::string(kDefaultServerHeader);
};

// Where a server's datagrams go: the UDPSocket they came on, or, in a
// test or a fuzzer, anything that takes them. The contract is
// UDPSocket's: send() says how many went; EAGAIN means "nothing lost,
// send the rest once wait_writable() resolves".
class DatagramSink {
public:
    virtual ~DatagramSink() = default;
    virtual SendResult send(std::span<const OutgoingDatagram> datagrams) = 0;
    virtual Future<void> wait_writable() = 0;
    // The address the datagrams came to, for a datagram whose own `destination`
    // is empty.
    virtual SocketAddress local_address() const = 0;
};

class HTTP3ServerConnection;
class HTTP3TLS;

// The listener of the file comment: one UDP socket per address, and the
// table of connections by connection ID. HTTPServer makes one for its
// http3 option (detail::HTTP3Listener); a program may make its own.
class HTTP3Server final : public detail::HTTP3Listener {
public:
    // `delegate` (the application) must outlive the server. Throws
    // std::runtime_error when the certificate or key cannot be loaded.
    HTTP3Server(HTTPServerConnectionDelegate& delegate, HTTP3Parameters params);
    // Ends every connection at once (without CONNECTION_CLOSE: the loop
    // may be gone) and closes the sockets.
    ~HTTP3Server() override;
    HTTP3Server(const HTTP3Server&) = delete;
    HTTP3Server& operator=(const HTTP3Server&) = delete;

    // Binds a UDP socket to `address` (port 0: a free one, which
    // local_addresses() tells) and serves the datagrams that come.
    void listen(const SocketAddress& address) override;
    std::vector<SocketAddress> local_addresses() const;

    // One datagram in; what answers it goes out through `sink`. What the
    // sockets call, and what a test or a fuzzer calls with a sink of its
    // own. Never throws for bad bytes: they are dropped.
    void receive(const Datagram& datagram, DatagramSink& sink);

    // Connections open now.
    std::size_t connection_count() const noexcept { return connections_.size(); }
    // Request streams open now, over every connection, and on the
    // connection that has the most (at most max_concurrent_streams; a
    // connection in its closing period keeps its streams until it ends).
    std::size_t stream_count() const noexcept;
    std::size_t largest_stream_count() const noexcept;
    // Ends every connection; resolves once all have ended. With no grace,
    // at once (CONNECTION_CLOSE, H3_NO_ERROR); with a grace, GOAWAY first:
    // each connection takes no new request, closes once the requests in
    // progress are answered, and those still busy when the grace is over
    // close then. Either way no new connection is taken from then on; the
    // sockets go on reading (the connections' acknowledgements).
    Future<void> close_all_connections(
        IOLoop::Clock::duration grace = IOLoop::Clock::duration::zero()) override;
    const HTTP3Parameters& params() const noexcept { return params_; }

private:
    friend class HTTP3ServerConnection;
    friend class HTTP3Callbacks;
    class Socket;

    void receive_on(HTTP3ServerConnection& connection, const Datagram& datagram);
    void accept(const Datagram& datagram, DatagramSink& sink);
    void negotiate_version(const Datagram& datagram, DatagramSink& sink, std::uint32_t version,
                           std::span<const std::uint8_t> dcid, std::span<const std::uint8_t> scid);
    // The listener's other answers that make no connection (file comment
    // of http3server.cpp): a Retry, a CONNECTION_CLOSE for a bad token,
    // and a stateless reset for a packet of no connection we know.
    void send_retry(const Datagram& datagram, DatagramSink& sink, const ngtcp2_pkt_hd& header);
    void refuse_token(const Datagram& datagram, DatagramSink& sink, const ngtcp2_pkt_hd& header);
    void send_stateless_reset(const Datagram& datagram, DatagramSink& sink, std::string_view id);
    bool reset_allowed() noexcept;
    // NGTCP2_STATELESS_RESET_TOKENLEN bytes into `token`; false on failure.
    bool reset_token(const ngtcp2_cid& id, std::uint8_t* token) const noexcept;
    // The table: which connection an ID names. A connection lists each of
    // its IDs as it makes them, and takes them away at its end.
    void add_id(std::string id, HTTP3ServerConnection* connection);
    void remove_id(const std::string& id) noexcept;
    // The connection has ended: out of the table and the list.
    void forget(HTTP3ServerConnection* connection) noexcept;
    void maybe_resolve_closed() noexcept;
    void close_now() noexcept;

    HTTPServerConnectionDelegate& delegate_;
    HTTP3Parameters params_;
    std::unique_ptr<HTTP3TLS> tls_;
    // The key that Retry tokens are sealed with and stateless reset
    // tokens made from (RFC 9000 sections 8.1.2 and 10.3): random at
    // start, so tokens of an earlier run of the server are worth nothing.
    std::string secret_;
    // Connections whose handshake has not completed: past
    // params_.handshakes_before_retry, new clients get a Retry.
    std::size_t handshakes_in_progress_ = 0;
    // Stateless resets sent in the current second (reset_allowed).
    IOLoop::Clock::time_point reset_second_{};
    std::uint32_t resets_this_second_ = 0;
    std::vector<std::unique_ptr<Socket>> sockets_;
    std::unordered_map<HTTP3ServerConnection*, std::shared_ptr<HTTP3ServerConnection>> connections_;
    std::unordered_map<std::string, HTTP3ServerConnection*> ids_;
    Future<void> all_closed_{nullptr};
    // close_all_connections' grace, while it runs.
    IOLoop::Timeout grace_timer_;
    bool grace_pending_ = false;
    bool accepting_ = true;  // false once close_all_connections() was called
};

class HTTP3Stream;

// One QUIC connection, and the HTTP/3 it carries (the file comment).
class HTTP3ServerConnection final : public std::enable_shared_from_this<HTTP3ServerConnection>,
                                    public HTTPServerConnection {
public:
    // Only HTTP3Server makes one, from a client's first Initial packet.
    HTTP3ServerConnection(HTTP3Server& server, DatagramSink& sink, const Datagram& first,
                          const SocketAddress& local);
    ~HTTP3ServerConnection();
    HTTP3ServerConnection(const HTTP3ServerConnection&) = delete;
    HTTP3ServerConnection& operator=(const HTTP3ServerConnection&) = delete;

    // HTTPServerConnection.
    void start_serving(HTTPServerConnectionDelegate& delegate) override;
    HTTPRequestContext& context() noexcept override { return context_; }
    // CONNECTION_CLOSE at once; the streams in progress end.
    Future<void> close() override;
    // GOAWAY: no new stream is taken; CONNECTION_CLOSE once the streams in
    // progress are answered.
    void close_when_idle() override;
    bool idle() const noexcept override { return streams_.empty(); }

    std::size_t open_streams() const noexcept { return streams_.size(); }

    // ngtcp2's and nghttp3's connections and GnuTLS's session: opaque
    // here (the add-on's src/http3libraries.h), so that this header needs
    // none of the three libraries.
    struct Libraries;

private:
    friend class HTTP3Server;
    friend class HTTP3Stream;
    friend class HTTP3Callbacks;

    // What the callbacks recorded: dispatched once ngtcp2 has returned, so
    // that no application code runs inside the libraries.
    struct Event {
        enum class Kind : std::uint8_t { request, body, end, closed };
        Kind kind;
        std::int64_t stream_id;
        std::uint64_t error_code = 0;  // closed: why (RFC 9114 section 8.1)
    };

    // The connection's life, one value, moved by enter() alone, which
    // throws std::logic_error for a move the drawing does not show:
    //
    //   created ─start_serving()─► serving ─close_when_idle(): GOAWAY─► going_away
    //                                 │                                    │
    //                                 ├──── fail(): CONNECTION_CLOSE ──────┴─► closing
    //                                 │      (or the peer's: draining)           │
    //                                 └──── end_serving() ◄── 3 PTO later ───────┘
    //                                              ▼
    //                                            ended
    //
    // closing answers whatever comes with its CONNECTION_CLOSE again, and
    // ends when its timer fires (RFC 9000 section 10.2). end_serving()
    // also comes straight from any other life: at close(), at the idle
    // timeout (QUIC ends those without a word), when ngtcp2 says to drop
    // the connection, or when its start failed. ended is final.
    enum class Life : std::uint8_t { created, serving, going_away, closing, ended };
    void enter(Life to);
    bool serving() const noexcept { return life_ == Life::serving || life_ == Life::going_away; }

    // `original_id`: empty, or the ID the client's first Initial named,
    // when this Initial came back with our Retry's token.
    void start(const Datagram& first, std::string_view original_id);
    void on_handshake_completed();
    void receive(const Datagram& datagram);
    void feed(const Datagram& datagram);
    void read_failed(int error);
    void dispatch_events();
    void send_early_if_a_batch_is_ready();
    // Sends what the libraries have to send: the one function that writes.
    void send_now();
    void send_soon();
    bool write_packets();
    bool write_one_packet(std::vector<OutgoingDatagram>& out, std::string& buffer,
                          std::size_t packet_size);
    bool flush_packets(std::vector<OutgoingDatagram>& out);
    void keep_unsent(std::span<const OutgoingDatagram> unsent);
    void resend_blocked();
    void arm_timer();
    void on_expiry();
    void on_timeout() override {}
    void open_http();
    HTTP3Stream* find_stream(std::int64_t id);
    void end_if_going_away_and_idle();

    // The connection's way out: CONNECTION_CLOSE with the error recorded
    // in last_error_ (or `code`, an HTTP/3 application error), once, then
    // closing. Only records when called inside the libraries' callbacks;
    // send_now() writes it.
    void fail(std::uint64_t code);
    void fail_transport(int library_error) noexcept;
    void write_close();
    void start_closing_period();
    // The connection's end, however it comes: the only way to `ended`.
    void end_serving() noexcept;

    // HTTPServerConnection, for HTTPServer (not listed there: HTTP3Server
    // keeps its own list).
    void server_gone() noexcept override {}
    std::shared_ptr<HTTPServerConnection> shared_handle() override { return shared_from_this(); }
    std::uint32_t& server_slot() noexcept override { return server_slot_; }

    HTTP3Server* server_;  // null once ended
    IOLoop& loop_;         // the loop it was made on: its timer's
    DatagramSink* sink_;
    HTTPRequestContext context_;
    HTTPServerConnectionDelegate* delegate_ = nullptr;
    SocketAddress local_;
    SocketAddress peer_;
    std::unique_ptr<Libraries> lib_;
    std::vector<std::string> ids_;  // the IDs this connection listed with the server
    std::unordered_map<std::int64_t, std::shared_ptr<HTTP3Stream>> streams_;
    std::deque<Event> events_;
    // Datagrams the socket refused with EAGAIN, kept to send once it has
    // room (the bytes, and where each goes).
    std::deque<std::string> blocked_bytes_;
    std::deque<OutgoingDatagram> blocked_;
    std::string close_packet_;  // the CONNECTION_CLOSE, while closing
    std::uint64_t received_while_closing_ = 0;
    IOLoop::Timeout timer_;
    bool timer_armed_ = false;
    Future<void> closed_future_{nullptr};
    std::uint32_t server_slot_ = kNotListed;
    Life life_ = Life::created;
    // Counted in the server's handshakes_in_progress_ (from ngtcp2's
    // connection made until the handshake completes or the connection
    // ends): kept here, not asked of ngtcp2, so that the count is taken
    // back exactly once whichever comes first.
    bool counted_as_handshaking_ = false;
    bool send_scheduled_ = false;
    bool waiting_writable_ = false;
    bool in_library_ = false;   // inside a call into ngtcp2 or nghttp3
    bool dispatching_ = false;  // inside dispatch_events()
    // Body bytes the streams have queued, all told, and the count at the
    // last early send (send_early_if_a_batch_is_ready).
    std::uint64_t queued_bytes_ = 0;
    std::uint64_t queued_at_early_send_ = 0;
};

inline std::size_t HTTP3Server::stream_count() const noexcept {
    std::size_t count = 0;
    for (const auto& [key, connection] : connections_) count += connection->open_streams();
    return count;
}

inline std::size_t HTTP3Server::largest_stream_count() const noexcept {
    std::size_t largest = 0;
    for (const auto& [key, connection] : connections_)
        largest = std::max(largest, connection->open_streams());
    return largest;
}

namespace detail {

// HTTPServer's way to HTTP/3 (httpserver.h): an HTTP3Server with the
// server's certificate and limits.
std::unique_ptr<HTTP3Listener> make_http3_listener(HTTPServerConnectionDelegate& delegate,
                                                   const HTTPServerOptions& options);
// Including this header registers it: HTTPServer's http3 option works in
// a program that includes it, and only there.
inline const bool http3_registered = register_http3(&make_http3_listener);

}  // namespace detail

}  // namespace tornado
