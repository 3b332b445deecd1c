// future_stream.h: chapter 04's IOStream with Futures instead of callbacks,
// and a non-blocking connect in both styles.
//
//   callback style (chapter 04)               Future style (this chapter)
//   stream->read_until("\r\n", on_line);      Future<std::string> line = s.read_until("\r\n");
//   stream->write(data, on_sent);             Future<void> sent = s.write(data);
//   connect_stream(loop, host, port, cb);     Future<FutureStream> c = FutureStream::connect(host, port);
//
// FutureStream adds no buffering of its own: each call starts the IOStream
// operation with a callback that resolves the Future. What it adds is the
// one thing a callback cannot say: *this will never happen*. IOStream drops
// a pending read's callback when the stream closes; FutureStream fails that
// read's Future (and any unfinished write's) with StreamClosedError naming
// the reason. A call on a stream that is closed already returns a Future
// holding StreamClosedError too (chapter 04's IOStream throws instead;
// see the chapter README).
//
// FutureStream is a handle like Future: copies share one stream. Wrap an
// IOStream in one FutureStream only: it takes over the stream's close
// callback (closed() and the Futures tell you about the close instead).
//
// Threads: the loop's thread only, like the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <future.h>  // <> on purpose: see "Includes" in future.h
#include "ioloop.h"
#include "iostream.h"

namespace course {

// Connects to host:port without blocking; callback(stream, nullptr) once
// connected, or callback(nullptr, error) if the connection fails
// (std::system_error "connect 127.0.0.1:1: Connection refused"). The
// callback always runs from the loop. Hosts: IPv4 literals ("127.0.0.1")
// and "localhost"; this chapter has no DNS resolver (std::invalid_argument).
using ConnectCallback = std::function<void(std::shared_ptr<IOStream>, std::exception_ptr)>;
void connect_stream(IOLoop& loop, const std::string& host, std::uint16_t port,
                    ConnectCallback callback);

class FutureStream {
public:
    // Wraps an open stream (and takes over its close callback).
    explicit FutureStream(std::shared_ptr<IOStream> stream);

    // connect_stream, as a Future.
    static Future<FutureStream> connect(const std::string& host, std::uint16_t port,
                                        IOLoop& loop = IOLoop::current());

    // IOStream's reads and write; each Future resolves when the callback
    // would have run, or fails with StreamClosedError if the stream closes
    // first. One read at a time, as with IOStream (a second one throws
    // std::logic_error at once: that is a bug in the caller, not an event).
    Future<std::string> read_until(std::string delimiter, std::size_t max_bytes = 0) const;
    Future<std::string> read_bytes(std::size_t n, bool partial = false) const;
    Future<std::string> read_until_close() const;
    Future<void> write(std::string_view data) const;

    void close() const { stream_->close(); }
    bool closed() const { return stream_->closed(); }
    const std::shared_ptr<IOStream>& stream() const { return stream_; }

private:
    // The Futures the stream still owes, failed if it closes first. Shared
    // with the stream's close callback, which must not hold the stream.
    struct Owed {
        std::optional<Future<std::string>> read;
        std::deque<Future<void>> writes;  // in order: IOStream finishes writes in order
    };
    struct OwedRelease;  // see future_stream.cpp

    template <typename StartRead>
    Future<std::string> start_read(StartRead start) const;

    std::shared_ptr<IOStream> stream_;
    std::shared_ptr<Owed> owed_;
};

}  // namespace course
