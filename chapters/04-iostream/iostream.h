// iostream.h: a buffered, non-blocking TCP stream on the chapter 03 IOLoop.
//
// Chapter 03's handlers see only "this descriptor is readable": they must
// cope with half a line, three requests at once, and a send buffer that
// takes 4 KB of the 1 MB they wanted to write. IOStream does that once, for
// everybody, and offers what a protocol wants instead (Tornado's names):
//
//   stream->read_until("\r\n\r\n", on_headers);   // everything up to a delimiter
//   stream->read_bytes(content_length, on_body);  // exactly n bytes
//   stream->write(response, on_sent);             // all of it, however long it takes
//
//   socket ──read()──► [read buffer] ──read_until / read_bytes──► your callback
//   socket ◄─write()── [write buffer] ◄──write(data)────────────── your code
//
// The contract, which the tests check and the chapter README explains:
//
// * One read at a time. A read_*() call while another read is pending is a
//   bug in the caller and throws std::logic_error.
// * Callbacks always run from the IOLoop, never inside the read_*() or
//   write() call that asked for them, even when the data is already
//   buffered (Tornado's rule). The code after read_*() therefore always runs
//   before the callback, and a protocol reading 10,000 buffered pipelined
//   lines does not recurse 10,000 calls deep.
// * The stream reads from the socket only while a read is pending, so a
//   peer that sends faster than the application reads is held back by TCP
//   flow control, not by our memory. A pending read may buffer at most
//   max_buffer_size bytes; more closes the stream with a reason.
// * write() never blocks, never drops bytes and never reorders them: what
//   the kernel does not take now is buffered and sent, behind the bytes
//   already waiting, as the socket becomes writable. Each write's callback
//   runs once, when its bytes (and all before them) have been handed to the
//   kernel; an empty write's callback too, once all before it have.
// * Closing. The stream closes when close() is called, on a socket error,
//   when a limit is broken (max_bytes, max_buffer_size), or when the peer
//   closes while a read is pending that the buffered bytes cannot finish
//   (bytes that arrived before the peer's close are still delivered; a
//   close while no read is pending is seen when the next read needs bytes,
//   a reset at once). Then: the close callback runs exactly once (from the loop), pending
//   read and write callbacks never run, unsent bytes are dropped, and
//   close_reason() says why. read_*() and write() on a closed stream throw
//   StreamClosedError, naming that reason.
// * read_until_close() is the one read that the peer's close completes: its
//   callback gets every byte the peer sent, and the stream is closed by the
//   time it runs (closed() is true, close_reason() says the peer closed).
// * Lifetime. The loop holds the stream while it is open (the stream
//   registers a handler that owns a shared_ptr to it), so a handler may drop
//   every pointer it has and the connection still lives. close() releases
//   that hold: the stream is freed once the last pointer goes. Callbacks
//   that capture the stream are fine: closing drops them, breaking the cycle.
//   A loop destroyed with streams still open closes them without callbacks
//   (close_reason() "the IOLoop was destroyed").
//
// Threads: like the IOLoop, use a stream only on its loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ioloop.h"
#include "socket.h"
#include "stream_buffer.h"

namespace course {

// Thrown by read_*() and write() on a closed stream. what() names the
// reason the stream closed: "stream closed: the peer closed the connection".
class StreamClosedError : public std::runtime_error {
public:
    explicit StreamClosedError(const std::string& reason)
        : std::runtime_error("stream closed: " + reason), reason_(reason) {}
    const std::string& reason() const { return reason_; }

private:
    std::string reason_;
};

class IOStream : public std::enable_shared_from_this<IOStream> {
public:
    using ReadCallback = std::function<void(std::string data)>;
    using WriteCallback = std::function<void()>;
    using CloseCallback = std::function<void()>;

    static constexpr std::size_t kDefaultMaxBufferSize = 100 * 1024 * 1024;
    // How much one read() from the socket asks for.
    static constexpr std::size_t kReadChunkSize = 64 * 1024;

    // The reasons close_reason() gives for the ordinary cases.
    static constexpr std::string_view kClosedByPeer = "the peer closed the connection";
    static constexpr std::string_view kClosedByApplication = "close() was called";

    // Wraps a connected socket (made non-blocking here) and registers it
    // with `loop`. The stream owns the descriptor from now on.
    static std::shared_ptr<IOStream> create(FileDescriptor fd, IOLoop& loop = IOLoop::current(),
                                            std::size_t max_buffer_size = kDefaultMaxBufferSize);

    // Only create() can make the key, so streams always live in a shared_ptr
    // (the "passkey" idiom: make_shared needs a public constructor).
    class Key {
        friend class IOStream;
        Key() = default;
    };
    IOStream(Key, FileDescriptor fd, IOLoop& loop, std::size_t max_buffer_size);
    IOStream(const IOStream&) = delete;
    IOStream& operator=(const IOStream&) = delete;
    ~IOStream();

    // Calls callback with everything up to and including the first
    // `delimiter`. max_bytes > 0 limits the whole result (delimiter
    // included): if the delimiter is not within the first max_bytes bytes,
    // the stream closes ("delimiter not found within max_bytes (N)").
    void read_until(std::string delimiter, ReadCallback callback, std::size_t max_bytes = 0);

    // Same with a regular expression: callback gets everything up to and
    // including the first match. The buffer is searched again from its start
    // each time more bytes arrive, so keep max_bytes small.
    void read_until_regex(std::regex pattern, ReadCallback callback, std::size_t max_bytes = 0);

    // Calls callback with exactly n bytes. With partial = true, calls it as
    // soon as at least one byte is there, with up to n bytes. read_bytes(0)
    // needs no bytes: it completes with "" at the loop's next turn (like
    // every read, never inside the call).
    void read_bytes(std::size_t n, ReadCallback callback, bool partial = false);

    // Calls callback with everything the peer sends, once it has closed its
    // side. The stream is closed when the callback runs. All of it must fit
    // in max_buffer_size.
    void read_until_close(ReadCallback callback);

    // Queues `data` (copied) behind the bytes still waiting and sends what
    // the kernel takes now; the rest goes out as the socket becomes
    // writable. callback, if given, runs once when every byte of this write,
    // and every byte written before it, has been handed to the kernel (so
    // write("", callback) waits for everything written so far).
    void write(std::string_view data, WriteCallback callback = {});

    // Runs once, from the loop, after the stream closes for any reason.
    // Replaces a callback set before that has not run yet. Set it on a
    // stream that is already closed and it still runs (once).
    void set_close_callback(CloseCallback callback);

    // Closes now: unregisters from the loop, closes the socket, drops
    // pending callbacks and unsent bytes, schedules the close callback.
    // Closing a closed stream does nothing. To close after a reply has gone
    // out, close from the write callback: write(reply, [s] { s->close(); }).
    void close();
    bool closed() const { return closed_; }
    // Why the stream closed ("" while open): kClosedByPeer,
    // kClosedByApplication, "read error: Connection reset by peer", ...
    const std::string& close_reason() const { return close_reason_; }

    bool reading() const { return pending_read_.has_value(); }
    bool writing() const { return !write_buffer_.empty(); }
    IOLoop& io_loop() { return loop_; }
    // The socket descriptor, -1 once closed.
    int fileno() const { return fd_.get(); }

private:
    enum class ReadMode { Until, Regex, Bytes, UntilClose };

    // The one read that may be pending.
    struct PendingRead {
        ReadMode mode;
        ReadCallback callback;
        std::string delimiter{};      // Until
        std::regex pattern{};         // Regex
        std::size_t max_bytes = 0;    // Until, Regex (0: no limit)
        std::size_t bytes = 0;        // Bytes
        bool partial = false;         // Bytes
        std::size_t scan_from = 0;    // Until: where the next search starts
    };

    // Reading.
    void start_read(PendingRead read);
    void try_read_from_buffer();
    std::optional<std::size_t> find_read_end();
    std::optional<std::size_t> find_delimiter();
    std::optional<std::size_t> find_regex();
    std::optional<std::size_t> bytes_ready() const;
    void finish_read(std::size_t length);
    void handle_readable();
    void read_from_socket();
    void handle_peer_closed();
    void check_buffer_limit();

    // Writing.
    void flush_write_buffer();
    void run_finished_write_callbacks();

    // Events and closing.
    void handle_events(std::uint32_t events);
    void update_interest();
    void throw_if_closed() const;
    void close_because(std::string reason);
    void run_close_callback();
    void forget_loop();
    // Runs a callback of the application; if it throws, logs that and
    // closes the stream (a connection nobody will ever serve again must not
    // linger).
    template <typename Function>
    void run_user_callback(const char* what, Function& function);

    FileDescriptor fd_;
    IOLoop& loop_;
    std::size_t max_buffer_size_;
    std::uint32_t interest_ = 0;  // events asked of the loop now

    StreamBuffer read_buffer_;
    std::optional<PendingRead> pending_read_;

    StreamBuffer write_buffer_;
    // Bytes ever queued / ever handed to the kernel; a write's callback is
    // due once bytes_written_ reaches the bytes_queued_ of its last byte.
    std::uint64_t bytes_queued_ = 0;
    std::uint64_t bytes_written_ = 0;
    struct WriteWaiter {
        std::uint64_t end;
        WriteCallback callback;
    };
    std::deque<WriteWaiter> write_waiters_;

    bool peer_closed_ = false;  // saw end of stream; the buffer may still hold bytes
    bool closed_ = false;
    std::string close_reason_;
    CloseCallback close_callback_;
};

}  // namespace course
