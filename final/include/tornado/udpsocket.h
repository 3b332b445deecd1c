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
//       OutgoingDatagram echo{datagram.bytes, datagram.peer};
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
    SocketAddress local;
    // Its ECN codepoint (RFC 3168): the low two bits of the IP header's
    // TOS or traffic class. QUIC counts them to learn of congestion.
    std::uint8_t ecn = 0;
};

// One datagram to send.
struct OutgoingDatagram {
    std::string_view bytes;
    SocketAddress peer;
    // The source address (empty: the kernel chooses): the `local` of the
    // datagram being answered.
    SocketAddress local = {};
    // The ECN codepoint to mark it with (0: not ECN-capable).
    std::uint8_t ecn = 0;
    // Non-zero: `bytes` is several datagrams of this size each (the last
    // may be shorter), for the same peer, sent as one (GSO where the
    // kernel takes it, else one by one).
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
    // The largest datagram it reads whole (a longer one is cut and
    // dropped): QUIC's datagrams are at most 1,500 bytes on Ethernet paths,
    // 64 KiB is UDP's own bound.
    static constexpr std::size_t kMaxDatagram = 65527;
    // The most datagrams it reads in one turn of the loop before letting
    // the other handlers run (it goes on in the next turn).
    static constexpr std::size_t kMaxReadsPerTurn = 1024;

    // A non-blocking, close-on-exec UDP socket bound to `address` (port 0:
    // a free port, which local_address() tells), on the current IOLoop.
    // reuse_port: SO_REUSEPORT, for several processes on one port. Throws
    // std::system_error naming the address ("bind 127.0.0.1:443: ...").
    explicit UDPSocket(const SocketAddress& address, bool reuse_port = false);
    // Stops reading and closes the socket.
    ~UDPSocket();
    UDPSocket(const UDPSocket&) = delete;
    UDPSocket& operator=(const UDPSocket&) = delete;

    int fileno() const noexcept { return fd_.get(); }
    // The address it is bound to (with the port the kernel chose).
    const SocketAddress& local_address() const noexcept { return address_; }
    // Whether the kernel takes UDP_SEGMENT on this socket (asked once).
    bool gso() const noexcept { return gso_; }

    using ReadCallback = Function<void(const Datagram& datagram)>;
    // Calls `callback` for every datagram that comes, from the loop, until
    // stop_reading() or the socket's end. The callback may send, stop
    // reading, or destroy the socket (the batch it was in is then dropped).
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
    void update_events() noexcept;
    std::size_t send_batch(std::span<const OutgoingDatagram> datagrams, int& error);
    SendResult send_one_by_one(const OutgoingDatagram& datagram);

    IOLoop& loop_;
    FileDescriptor fd_;
    SocketAddress address_;
    bool gso_ = false;
    ReadCallback read_callback_;
    bool reading_ = false;
    std::vector<Future<void>> writable_waiters_;
    // Set by the destructor, so that a callback that destroyed the socket
    // stops the batch it ran in.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    // The receive buffers: kBatch of kMaxDatagram bytes, made on the first
    // read.
    std::string buffers_;
};

}  // namespace tornado
