// udpsocket.cpp: see tornado/udpsocket.h for the contract.
//
// Every datagram carries control messages both ways: on the way in, the
// address it was sent to (IP_PKTINFO) and its ECN bits (IP_RECVTOS); on
// the way out, the source address, the ECN bits, and the segment size
// for GSO. Those are the cmsg blocks below; the rest is batching.
#include "tornado/udpsocket.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "tornado/log.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; Linux 4.18 on
#endif

namespace tornado {

namespace {

// The most bytes one UDP datagram carries, and so one GSO send.
constexpr std::size_t kMaxUdpPayload = 65507;
// A datagram's segments, sent one by one, fit in one batch.
static_assert(UDPSocket::kMaxSegments <= UDPSocket::kBatch);
// Room for the control messages of one datagram: a pktinfo (IPv6's is the
// larger), the ECN bits and a segment size, each in its own cmsg.
constexpr std::size_t kControlSize =
    CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(std::uint16_t));
struct alignas(cmsghdr) Control {
    char bytes[kControlSize];
};

void set_udp_option(int fd, int level, int name, int value, const char* what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) < 0) throw_errno(what);
}

// The options that make recvmmsg report each datagram's destination and
// ECN bits, for the socket's family.
void ask_for_control_messages(int fd, int family) {
    if (family == AF_INET6) {
        set_udp_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "setsockopt IPV6_V6ONLY");
        set_udp_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "setsockopt IPV6_RECVPKTINFO");
        set_udp_option(fd, IPPROTO_IPV6, IPV6_RECVTCLASS, 1, "setsockopt IPV6_RECVTCLASS");
    } else {
        set_udp_option(fd, IPPROTO_IP, IP_PKTINFO, 1, "setsockopt IP_PKTINFO");
        set_udp_option(fd, IPPROTO_IP, IP_RECVTOS, 1, "setsockopt IP_RECVTOS");
    }
}

bool kernel_takes_gso(int fd) {
    int value = 0;
    socklen_t length = sizeof value;
    return ::getsockopt(fd, SOL_UDP, UDP_SEGMENT, &value, &length) == 0;
}

// `address` with `port`: the destination a pktinfo gives has no port, and
// it is this socket's.
SocketAddress with_port(const sockaddr* address, socklen_t length, std::uint16_t port) {
    sockaddr_storage storage{};
    std::memcpy(&storage, address, length);
    if (storage.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
    } else {
        reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
    }
    return SocketAddress(reinterpret_cast<const sockaddr*>(&storage), length);
}

// Reads the destination and the ECN bits out of a received datagram's
// control messages.
void read_control(const msghdr& message, std::uint16_t port, Datagram& datagram) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&message), c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            sockaddr_in local{};
            local.sin_family = AF_INET;
            local.sin_addr = info.ipi_addr;
            datagram.destination =
                with_port(reinterpret_cast<sockaddr*>(&local), sizeof local, port);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            in6_pktinfo info;
            std::memcpy(&info, CMSG_DATA(c), sizeof info);
            sockaddr_in6 local{};
            local.sin6_family = AF_INET6;
            local.sin6_addr = info.ipi6_addr;
            datagram.destination =
                with_port(reinterpret_cast<sockaddr*>(&local), sizeof local, port);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
            // One byte here (an int when sending).
            datagram.ecn = *reinterpret_cast<const std::uint8_t*>(CMSG_DATA(c)) & 0x3;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
            int traffic_class = 0;
            std::memcpy(&traffic_class, CMSG_DATA(c), sizeof traffic_class);
            datagram.ecn = static_cast<std::uint8_t>(traffic_class & 0x3);
        }
    }
}

// Appends one control message to `message`, after those written so far
// (msg_controllen counts them).
template <typename T>
void add_control(msghdr& message, int level, int type, const T& value) {
    auto* c = reinterpret_cast<cmsghdr*>(static_cast<char*>(message.msg_control) +
                                         message.msg_controllen);
    message.msg_controllen += CMSG_SPACE(sizeof value);
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(sizeof value);
    std::memcpy(CMSG_DATA(c), &value, sizeof value);
}

// The source address, the ECN bits and the segment size of an outgoing
// datagram, as control messages in `control` (kControlSize bytes, zeroed).
void write_control(msghdr& message, Control& control, const OutgoingDatagram& datagram,
                   std::size_t segment_size) {
    message.msg_control = control.bytes;
    message.msg_controllen = 0;
    bool v6 = datagram.peer.family() == AF_INET6;
    if (!datagram.source.empty() && datagram.source.family() == AF_INET) {
        in_pktinfo info{};
        info.ipi_spec_dst = reinterpret_cast<const sockaddr_in*>(datagram.source.data())->sin_addr;
        add_control(message, IPPROTO_IP, IP_PKTINFO, info);
    } else if (!datagram.source.empty() && datagram.source.family() == AF_INET6) {
        in6_pktinfo info{};
        info.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(datagram.source.data())->sin6_addr;
        add_control(message, IPPROTO_IPV6, IPV6_PKTINFO, info);
    }
    if (datagram.ecn != 0) {
        int bits = datagram.ecn & 0x3;
        add_control(message, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TCLASS : IP_TOS, bits);
    }
    if (segment_size != 0) {
        auto size = static_cast<std::uint16_t>(segment_size);
        add_control(message, SOL_UDP, UDP_SEGMENT, size);
    }
    if (message.msg_controllen == 0) message.msg_control = nullptr;
}

}  // namespace

// What one recvmmsg fills: kBatch messages, each with its buffer, its
// sender and its control messages; `next` to `count` are still to be
// handed over.
struct UDPSocket::ReadBatch {
    std::array<mmsghdr, kBatch> messages;
    std::array<iovec, kBatch> vectors;
    std::array<sockaddr_storage, kBatch> peers;
    std::array<Control, kBatch> controls;
    std::vector<char> buffers = std::vector<char>(kBatch * kMaxDatagram);
    std::size_t next = 0;
    std::size_t count = 0;

    // Ready for the next recvmmsg (which writes the lengths back).
    void reset() {
        for (std::size_t i = 0; i < kBatch; ++i) {
            vectors[i] = {buffers.data() + i * kMaxDatagram, kMaxDatagram};
            messages[i].msg_hdr = msghdr{
                &peers[i], sizeof peers[i], &vectors[i], 1, controls[i].bytes, kControlSize, 0};
        }
        next = count = 0;
    }
};

UDPSocket::UDPSocket(const SocketAddress& address, bool reuse_port)
    : loop_(IOLoop::current()), address_(address) {
    if (address.family() != AF_INET && address.family() != AF_INET6) {
        throw std::invalid_argument("UDPSocket: not an IP address: " + address.to_string());
    }
    fd_ = FileDescriptor(::socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_) throw_errno("socket");
    if (reuse_port)
        set_udp_option(fd_.get(), SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt SO_REUSEPORT");
    ask_for_control_messages(fd_.get(), address.family());
    set_udp_option(fd_.get(), SOL_SOCKET, SO_RCVBUF, kReceiveBufferBytes, "setsockopt SO_RCVBUF");
    if (::bind(fd_.get(), address.data(), address.size()) < 0) {
        throw_errno("bind " + address.to_string());
    }
    address_ = SocketAddress::local_of(fd_.get());
    gso_ = kernel_takes_gso(fd_.get());
    loop_.add_handler(
        fd_.get(), [this](int, std::uint32_t events) { on_events(events); }, IOLoop::NONE);
}

UDPSocket::~UDPSocket() { loop_.remove_handler(fd_.get()); }

// --- reading ---------------------------------------------------------------------------------

void UDPSocket::start_reading(ReadCallback callback) {
    read_callback_ = std::move(callback);
    reading_ = true;
    update_events();
    if (batch_ && batch_->next < batch_->count) {
        // Datagrams read before a stop_reading: the socket may not be
        // readable again, so they go from a callback of their own.
        loop_.add_callback([this, alive = std::weak_ptr<bool>(alive_)] {
            if (!alive.expired() && reading_) deliver_batch();
        });
    }
}

void UDPSocket::stop_reading() noexcept {
    reading_ = false;
    update_events();
}

void UDPSocket::update_events() noexcept {
    std::uint32_t events =
        (reading_ ? IOLoop::READ : 0) | (writable_waiters_.empty() ? 0 : IOLoop::WRITE);
    loop_.update_handler(fd_.get(), events);
}

void UDPSocket::on_events(std::uint32_t events) {
    if (events & IOLoop::ERROR) {
        // A socket error (an ICMP report, on some kernels): reading it
        // clears it. A datagram socket goes on after one.
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) gen_log.debug("UDPSocket {}: {}", address_, std::strerror(error));
    }
    if ((events & IOLoop::WRITE) && !writable_waiters_.empty()) {
        std::vector<Future<void>> waiters = std::move(writable_waiters_);
        writable_waiters_.clear();
        update_events();
        for (Future<void>& waiter : waiters) future_set_result_unless_cancelled(waiter);
    }
    if ((events & (IOLoop::READ | IOLoop::ERROR)) && reading_) read_batches();
}

// recvmmsg until the kernel has no more, or kMaxReadsPerTurn datagrams
// have come: the socket is level-triggered, so the loop calls again next
// turn if more wait, after the other handlers have had their turn.
void UDPSocket::read_batches() {
    if (!batch_) batch_ = std::make_unique<ReadBatch>();
    if (!deliver_batch()) return;  // what was left from a stop_reading first
    for (std::size_t taken = 0; taken < kMaxReadsPerTurn;) {
        batch_->reset();
        int count = ::recvmmsg(fd_.get(), batch_->messages.data(), kBatch, 0, nullptr);
        if (count < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                gen_log.warning("UDPSocket {}: recvmmsg: {}", address_, std::strerror(errno));
            }
            return;
        }
        batch_->count = static_cast<std::size_t>(count);
        if (!deliver_batch()) return;
        taken += batch_->count;
        if (batch_->count < kBatch) return;  // the queue is empty
    }
}

bool UDPSocket::deliver_batch() {
    std::weak_ptr<bool> alive = alive_;
    std::uint16_t port = address_.port();
    while (batch_->next < batch_->count) {
        std::size_t i = batch_->next++;
        const mmsghdr& received = batch_->messages[i];
        if (received.msg_hdr.msg_flags & MSG_TRUNC) {
            ++dropped_too_long_;
            continue;
        }
        Datagram datagram;
        datagram.bytes = {batch_->buffers.data() + i * kMaxDatagram, received.msg_len};
        datagram.peer = SocketAddress(reinterpret_cast<const sockaddr*>(&batch_->peers[i]),
                                      received.msg_hdr.msg_namelen);
        read_control(received.msg_hdr, port, datagram);
        read_callback_(datagram);
        if (alive.expired() || !reading_) return false;
    }
    return true;
}

// --- sending ---------------------------------------------------------------------------------

Future<void> UDPSocket::wait_writable() {
    Future<void> writable;
    writable_waiters_.push_back(writable);
    update_events();
    return writable;
}

SendResult UDPSocket::send(std::span<const OutgoingDatagram> datagrams) {
    SendResult result;
    while (result.sent < datagrams.size()) {
        SendResult batch = send_batch(datagrams.subspan(result.sent));
        result.sent += batch.sent;
        if (batch.error == EIO && gso_) {
            // The device cannot segment (no checksum offload): one by one
            // from now on, and this datagram again.
            gso_ = false;
            continue;
        }
        if (batch.error != 0) {
            result.error = batch.error;
            break;
        }
    }
    return result;
}

// One sendmmsg of up to kBatch messages. A segmented datagram is one
// message with UDP_SEGMENT where the kernel takes it, else one message per
// segment: `owner` says which datagram each message is part of, so that a
// datagram counts as sent only once its last message has gone.
SendResult UDPSocket::send_batch(std::span<const OutgoingDatagram> datagrams) {
    std::array<mmsghdr, kBatch> messages;
    std::array<iovec, kBatch> vectors;
    std::array<Control, kBatch> controls{};
    std::array<std::size_t, kBatch> owner;
    std::size_t count = 0;
    std::size_t whole = 0;  // datagrams whose every message is in the batch
    for (const OutgoingDatagram& datagram : datagrams) {
        std::size_t size = datagram.bytes.size();
        std::size_t segment = datagram.segment_size;
        std::size_t pieces = segment == 0 ? 1 : (size + segment - 1) / segment;
        if (pieces > kMaxSegments) {
            if (whole == 0) return {0, EMSGSIZE};
            break;  // this batch ends before it, and the next refuses it
        }
        bool as_one = pieces <= 1 || (gso_ && size <= kMaxUdpPayload);
        if (as_one) pieces = 1;
        if (count + pieces > kBatch) break;
        for (std::size_t piece = 0; piece < pieces; ++piece) {
            std::size_t offset = as_one ? 0 : piece * segment;
            std::size_t length = as_one ? size : std::min(segment, size - offset);
            vectors[count] = {const_cast<char*>(datagram.bytes.data()) + offset, length};
            msghdr& message = messages[count].msg_hdr;
            message = msghdr{const_cast<sockaddr*>(datagram.peer.data()),
                             datagram.peer.size(),
                             &vectors[count],
                             1,
                             nullptr,
                             0,
                             0};
            bool gso_send = as_one && segment != 0 && segment < size;
            write_control(message, controls[count], datagram, gso_send ? segment : 0);
            owner[count++] = whole;
        }
        ++whole;
    }
    std::size_t gone = 0;
    while (gone < count) {
        int result = ::sendmmsg(fd_.get(), messages.data() + gone, count - gone, 0);
        if (result < 0) {
            if (errno == EINTR) continue;
            int error = errno == EWOULDBLOCK ? EAGAIN : errno;
            return {owner[gone], error};
        }
        gone += static_cast<std::size_t>(result);
    }
    return {whole, 0};
}

}  // namespace tornado
