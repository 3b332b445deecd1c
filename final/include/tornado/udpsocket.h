// udpsocket.h: a datagram socket on the IOLoop. Tornado has no UDP; QUIC
// (and so HTTP/3) runs over it, one socket for every connection.
//
// A stream socket carries one peer's bytes in order; a datagram socket
// carries whole messages, each with its own sender, that may be lost,
// duplicated or reordered. So there is no IOStream here: a read hands over
// each datagram with its addresses, and a send says how many of the
// datagrams the kernel took.
//
//   UDPSocket socket(SocketAddress::from_ip("127.0.0.1", 0));
//   socket.start_reading([&](const Datagram& datagram) {
//       OutgoingDatagram echo{datagram.bytes, datagram.peer, datagram.destination};
//       socket.send({&echo, 1});
//   });
//
// Both ways go in batches, for a server that gets thousands of datagrams a
// second: one recvmmsg takes up to kBatch datagrams, and reading goes on
// until the kernel has no more (EAGAIN); one sendmmsg sends many, and a
// datagram of many equal segments goes down as one (UDP_SEGMENT, "GSO")
// where the kernel takes it. The loop's two backends drive it alike (on
// io_uring as readiness polls: the ring has no batched datagram receive).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/util.h"

namespace tornado {

// One datagram received (UDPSocket's read callback). Its bytes are the
// socket's, valid during the callback only.
struct Datagram {
    std::string_view bytes;
    // Who sent it: where an answer goes.
    SocketAddress peer;
    // The address it was sent to (IP_PKTINFO / IPV6_RECVPKTINFO). A socket
    // bound to every interface answers from it, so that the peer sees its
    // answer come from the address it wrote to.
    SocketAddress destination;
    // Its ECN codepoint (RFC 3168): the low two bits of the IP header's
    // TOS or traffic class. QUIC counts them to learn of congestion.
    std::uint8_t ecn = 0;
};

// One datagram to send.
struct OutgoingDatagram {
    std::string_view bytes;
    SocketAddress peer;
    // The source address (empty: the kernel chooses): the `destination`
    // of the datagram being answered.
    SocketAddress source = {};
    // The ECN codepoint to mark it with (0: not ECN-capable).
    std::uint8_t ecn = 0;
    // Non-zero: `bytes` is several datagrams of this size each (the last
    // may be shorter), at most UDPSocket::kMaxSegments of them, for the
    // same peer, sent as one (GSO where the kernel takes it and the whole
    // is within UDP's 65,507 bytes, else one by one). If the socket's buffer fills
    // midway through them, none counts as sent: sent again, the first
    // ones arrive twice, which QUIC takes (it drops a packet it has).
    std::size_t segment_size = 0;
};

// What send() did: the first `sent` datagrams went, in order. `error` says
// why it stopped short (0: it did not). EAGAIN: the socket's buffer is
// full, nothing was lost; send the rest once wait_writable() resolves.
// Another errno (EMSGSIZE, EHOSTUNREACH, ...): datagram number `sent` was
// refused and will never go; the caller drops it and goes on from the next.
struct SendResult {
    std::size_t sent = 0;
    int error = 0;
};

class UDPSocket {
public:
    // Datagrams one system call reads or sends at most.
    static constexpr std::size_t kBatch = 64;
    // Segments one OutgoingDatagram may hold (Linux's bound for one GSO
    // send); more are refused with EMSGSIZE.
    static constexpr std::size_t kMaxSegments = 64;
    // The largest datagram it reads; a longer one is dropped (and
    // counted: dropped_too_long()). QUIC's datagrams must fit the path's
    // MTU, about 1,500 bytes on the Internet, so this is room to spare,
    // where UDP's own bound (64 KiB) would cost a server 4 MB of buffers.
    static constexpr std::size_t kMaxDatagram = 4096;
    // The most datagrams it reads in one turn of the loop before letting
    // the other handlers run (it goes on in the next turn).
    static constexpr std::size_t kMaxReadsPerTurn = 1024;
    // The kernel's queue of datagrams not yet read (SO_RCVBUF) that the
    // socket asks for. One socket takes every client's datagrams, and
    // they come in bursts (hundreds of handshakes at once, or a loop that
    // was busy): the default queue, 208 KiB, holds about 90 datagrams of
    // 1,200 bytes, and each one dropped costs its sender a retransmission
    // timeout (a second, at first). The kernel grants at most
    // net.core.rmem_max (sysctl): raise that for this to take effect.
    static constexpr int kReceiveBufferBytes = 4 << 20;

    // A non-blocking, close-on-exec UDP socket bound to `address` (port 0:
    // a free port, which local_address() tells), on the current IOLoop.
    // reuse_port: SO_REUSEPORT, for several processes on one port. It asks
    // for a receive queue of kReceiveBufferBytes. Throws
    // std::system_error naming the address ("bind 127.0.0.1:443: ...").
    explicit UDPSocket(const SocketAddress& address, bool reuse_port = false);
    // Stops reading and closes the socket.
    ~UDPSocket();
    UDPSocket(const UDPSocket&) = delete;
    UDPSocket& operator=(const UDPSocket&) = delete;

    int fileno() const noexcept { return fd_.get(); }
    // The address it is bound to (with the port the kernel chose).
    const SocketAddress& local_address() const noexcept { return address_; }
    // Whether segmented datagrams go down as one (UDP_SEGMENT): asked of
    // the kernel once, and given up for good if a send refuses it.
    bool gso() const noexcept { return gso_; }
    // Datagrams dropped for being longer than kMaxDatagram.
    std::uint64_t dropped_too_long() const noexcept { return dropped_too_long_; }

    using ReadCallback = Function<void(const Datagram& datagram)>;
    // Calls `callback` for every datagram that comes, from the loop, until
    // stop_reading() or the socket's end. The callback may send, stop
    // reading (the datagrams already read wait for the next
    // start_reading), or destroy the socket (they are dropped with it).
    void start_reading(ReadCallback callback);
    void stop_reading() noexcept;

    // Sends as many of `datagrams` as the kernel takes now, in order, in
    // batches (sendmmsg), without waiting.
    SendResult send(std::span<const OutgoingDatagram> datagrams);
    // Resolves once the socket's buffer has room again (after an EAGAIN).
    Future<void> wait_writable();

private:
    void on_events(std::uint32_t events);
    void read_batches();
    // Hands over what is left of the batch; false if the callback
    // destroyed the socket or stopped reading.
    bool deliver_batch();
    void update_events() noexcept;
    SendResult send_batch(std::span<const OutgoingDatagram> datagrams);

    IOLoop& loop_;
    FileDescriptor fd_;
    SocketAddress address_;
    bool gso_ = false;
    std::uint64_t dropped_too_long_ = 0;
    ReadCallback read_callback_;
    bool reading_ = false;
    std::vector<Future<void>> writable_waiters_;
    // Expires with the socket, so that a callback that destroyed it stops
    // the batch it ran in.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    // The last recvmmsg's datagrams (made on the first read), and which of
    // them are still to be handed over: a callback that stops reading
    // midway leaves the rest here for start_reading.
    struct ReadBatch;
    std::unique_ptr<ReadBatch> batch_;
};

}  // namespace tornado
