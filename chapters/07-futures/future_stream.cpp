// future_stream.cpp: see future_stream.h.
#include "future_stream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace course {

namespace {

// "127.0.0.1" or "localhost" (the only name we know without a resolver).
sockaddr_in ipv4_address(const std::string& host, std::uint16_t port) {
    std::string literal = host == "localhost" ? "127.0.0.1" : host;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    if (::inet_pton(AF_INET, literal.c_str(), &address.sin_addr) != 1) {
        throw std::invalid_argument("not an IPv4 address: \"" + host +
                                    "\" (this chapter has no DNS resolver: use 127.0.0.1 "
                                    "or localhost)");
    }
    return address;
}

std::exception_ptr system_error(int error, const std::string& call) {
    return std::make_exception_ptr(std::system_error(error, std::generic_category(), call));
}

// How a non-blocking connect ended: 0 or the errno it failed with.
int connect_result(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
    return error;
}

// The connect is under way: the socket becomes writable when the handshake
// is over, whether it worked or not; SO_ERROR then says which.
void wait_for_connection(IOLoop& loop, FileDescriptor fd, std::string where,
                         ConnectCallback callback) {
    auto socket = std::make_shared<FileDescriptor>(std::move(fd));
    auto on_writable = [&loop, socket, where, callback](int ready_fd, std::uint32_t) {
        loop.remove_handler(ready_fd);  // before the socket is closed or handed on
        if (int error = connect_result(ready_fd); error != 0) {
            return callback(nullptr, system_error(error, "connect " + where));
        }
        std::shared_ptr<IOStream> stream;
        try {
            stream = IOStream::create(std::move(*socket), loop);
        } catch (...) {
            return callback(nullptr, std::current_exception());
        }
        callback(std::move(stream), nullptr);
    };
    int raw = socket->get();
    loop.add_handler(raw, std::move(on_writable), IOLoop::WRITE);
}

}  // namespace

void connect_stream(IOLoop& loop, const std::string& host, std::uint16_t port,
                    ConnectCallback callback) {
    // Even an answer known now is given from the loop: the caller's code
    // after connect_stream() always runs before its callback (chapter 04's
    // rule for every callback).
    auto fail_later = [&](std::exception_ptr error) {
        loop.add_callback([callback, error] { callback(nullptr, error); });
    };
    std::string where = host + ":" + std::to_string(port);
    sockaddr_in address{};
    try {
        address = ipv4_address(host, port);
    } catch (const std::invalid_argument&) {
        return fail_later(std::current_exception());
    }
    FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail_later(system_error(errno, "socket"));
    // A non-blocking connect returns at once, usually with EINPROGRESS: the
    // handshake goes on in the kernel. On loopback it may even be done.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0 &&
        errno != EINPROGRESS) {
        int error = errno;  // saved: building the message may change errno
        return fail_later(system_error(error, "connect " + where));
    }
    wait_for_connection(loop, std::move(fd), std::move(where), std::move(callback));
}

// --- FutureStream ----------------------------------------------------------------

// Lets go of the owed Futures when the close callback is destroyed.
// Usually that is after it has run, and nothing is left to let go. But if
// the loop is destroyed while the stream is open, IOStream drops its close
// callback unrun: the owed Futures would stay pending for ever, and as
// their callbacks often hold whoever holds this stream, each would keep the
// other alive (a leak). (A stream closed in the loop's very last turn, its
// close callback still queued, is not helped: see "Lifetime" in the README.)
struct FutureStream::OwedRelease {
    explicit OwedRelease(std::shared_ptr<Owed> o) : owed(std::move(o)) {}
    OwedRelease(const OwedRelease&) = delete;
    OwedRelease& operator=(const OwedRelease&) = delete;
    ~OwedRelease() {
        owed->read.reset();
        owed->writes.clear();
    }
    std::shared_ptr<Owed> owed;
};

FutureStream::FutureStream(std::shared_ptr<IOStream> stream)
    : stream_(std::move(stream)), owed_(std::make_shared<Owed>()) {
    // The stream keeps this callback, so it holds the stream weakly (a
    // strong pointer would be a cycle). It runs from the loop, after the
    // close, when the stream is still alive to say why it closed.
    auto release = std::make_shared<OwedRelease>(owed_);
    // (`release` is there for its destructor only.)
    stream_->set_close_callback([owed = owed_, release, weak = std::weak_ptr<IOStream>(stream_)] {
        std::shared_ptr<IOStream> closed = weak.lock();
        std::string reason = closed ? closed->close_reason() : "the stream is gone";
        auto error = std::make_exception_ptr(StreamClosedError(reason));
        if (owed->read && !owed->read->done()) owed->read->set_exception(error);
        owed->read.reset();
        for (const Future<void>& write : owed->writes) {
            if (!write.done()) write.set_exception(error);
        }
        owed->writes.clear();
    });
}

Future<FutureStream> FutureStream::connect(const std::string& host, std::uint16_t port,
                                           IOLoop& loop) {
    Future<FutureStream> connected(loop);
    connect_stream(loop, host, port,
                   [connected](std::shared_ptr<IOStream> stream, std::exception_ptr error) {
                       if (error) return connected.set_exception(error);
                       connected.set_result(FutureStream(std::move(stream)));
                   });
    return connected;
}

// `start(callback)` starts one IOStream read. Its callback resolves the
// Future; if the stream closes first, the close callback fails it.
template <typename StartRead>
Future<std::string> FutureStream::start_read(StartRead start) const {
    Future<std::string> data(stream_->io_loop());
    try {
        start([owed = owed_, data](std::string bytes) {
            owed->read.reset();
            data.set_result(std::move(bytes));
        });
    } catch (const StreamClosedError&) {
        data.set_exception(std::current_exception());
        return data;
    }
    owed_->read = data;  // safe after start(): its callback never runs inside it
    return data;
}

Future<std::string> FutureStream::read_until(std::string delimiter, std::size_t max_bytes) const {
    return start_read([&](IOStream::ReadCallback callback) {
        stream_->read_until(std::move(delimiter), std::move(callback), max_bytes);
    });
}

Future<std::string> FutureStream::read_bytes(std::size_t n, bool partial) const {
    return start_read([&](IOStream::ReadCallback callback) {
        stream_->read_bytes(n, std::move(callback), partial);
    });
}

Future<std::string> FutureStream::read_until_close() const {
    return start_read([&](IOStream::ReadCallback callback) {
        stream_->read_until_close(std::move(callback));
    });
}

Future<void> FutureStream::write(std::string_view data) const {
    Future<void> written(stream_->io_loop());
    try {
        stream_->write(data, [owed = owed_, written] {
            owed->writes.pop_front();  // this write's: they finish in order
            written.set_result();
        });
    } catch (const StreamClosedError&) {
        written.set_exception(std::current_exception());
        return written;
    }
    owed_->writes.push_back(written);
    return written;
}

}  // namespace course
