// tornado/iostream.h: a buffered, non-blocking socket stream whose reads and
// writes are Futures.
//
// Chapter 04's IOStream grown up: the same reads (read_until, read_bytes,
// read_until_regex, read_until_close), the same write, close callback and
// one-read-at-a-time rule, but every call returns a Future, so a coroutine
// reads a protocol top to bottom (Tornado's `tornado.iostream`):
//
//   std::string headers = co_await stream->read_until("\r\n\r\n", 64 * 1024);
//   std::string body = co_await stream->read_bytes(content_length);
//   co_await stream->write(response);        // resolved once the kernel has it all
//
// The same stream over TLS is SSLIOStream, and over a pipe PipeIOStream
// (both below).
//
// The contract:
//
// * One read at a time: a read while another is pending throws
//   std::logic_error. A read the buffered bytes already satisfy completes
//   inside the call, with no system call (the Future comes back done); any
//   code waiting on a Future still runs from the loop, never inside the
//   call that resolved it (concurrent.h), so there is no re-entrancy.
// * Limits close the stream and say why: a read_until whose delimiter does
//   not come within max_bytes (UnsatisfiableReadError; unless
//   IOStreamOptions::close_on_read_limit is false), more than
//   max_buffer_size bytes buffered (StreamBufferFullError). error() holds
//   that exception, and the pending read fails with StreamClosedError whose
//   real_error() is it.
// * write() sends at once what the kernel takes; only the rest is buffered,
//   and sent as the socket drains. Its Future resolves when all of this
//   write (and every one before it) has been handed to the kernel, at once
//   when the kernel took everything. On the io_uring loop the kernel does
//   the sending: write() only buffers, the loop's next wait hands the
//   buffer over as one send request, and the Future resolves when the
//   kernel reports, never inside the call (see "by completion" below);
//   an empty write with nothing before it is done at once there too.
// * Closing: close(), a socket error, a limit, or the peer's close seen by a
//   read. Then a pending read_until_close gets every byte the peer sent, any
//   other pending read the buffered bytes can finish is finished, and every
//   other pending Future fails with StreamClosedError (real_error(): the
//   cause, or nothing for an orderly close). The close callback runs once,
//   from the loop. Reads the buffer can still satisfy keep working after the
//   close; any other read, and every write, throws StreamClosedError.
// * Flow control: bytes are read from the socket only while a read is
//   pending, so a peer that sends faster than the application reads is held
//   back by TCP, not by our memory. A peer that half-closes its side is
//   noticed by the next read that needs bytes (or, with no read pending, by
//   the peer-FIN callback), and may still be written to; a reset (or
//   hang-up) closes the stream at once, idle or not.
// * Lifetime: streams live in a shared_ptr (create()). The loop holds one
//   while the stream is open, so a connection lives on even when the code
//   that serves it keeps no pointer; close() lets go. A loop closed with
//   streams still open closes them without callbacks.
//
// How it is fast and small (a server holds one per connection):
//
//   * edge-triggered: the socket is registered once, for READ and WRITE, and
//     never touched again with epoll_ctl. The stream remembers whether the
//     socket may have bytes (read_ready) or room (write_ready): a read that
//     cannot be satisfied from the buffer calls recv() only if it may, and
//     otherwise just waits for the next edge. A short recv() means the kernel
//     queue is empty; a later arrival raises a new edge.
//   * reads go into one 64 KiB scratch buffer per thread; a stream keeps only
//     the bytes nobody has asked for yet. A typical request is found in the
//     scratch buffer and copied once, into the string returned. A drained
//     buffer is freed: an idle stream holds no buffer at all.
//   * write() calls send() at once; WRITE readiness matters only when the
//     kernel did not take everything.
//   * by completion (a plain IOStream on the io_uring loop, not TLS or a
//     pipe): no recv() or send() for the usual request and answer. A read
//     that needs bytes asks the kernel for them (IOLoop::submit_recv)
//     instead of waiting for an edge, and the report brings them, in a
//     buffer of the loop's that the kernel picked when they came. The
//     writes of a turn gather in the buffer and go to the kernel as one
//     request (IOLoop::submit_send). The requests go in the io_uring_enter
//     that also waits, so a server answering many connections in a turn
//     makes one system call for all of them. The kernel keeps the bytes'
//     address until it reports, so the stream keeps the write buffer still
//     meanwhile (later writes queue behind it), and close() cancels the
//     requests before it closes the socket. Flow control is the same: a
//     receive is asked for only while a read is pending; a full buffer of
//     bytes (more may wait) is followed by recv() calls, as after an edge.
//
// Threads: use a stream only on its loop's thread.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/util.h"

// OpenSSL's SSL (one TLS connection), declared here so that this header
// does not need OpenSSL's.
struct ssl_st;

namespace tornado {

class SSLIOStream;
class PipeIOStream;

// Raised by operations on a closed stream (Tornado's StreamClosedError).
// real_error() is what closed it: a std::system_error for a socket error,
// UnsatisfiableReadError or StreamBufferFullError for a broken limit, the
// exception given to close(), or nullptr for an orderly close.
class StreamClosedError : public std::runtime_error {
public:
    explicit StreamClosedError(std::exception_ptr real_error = nullptr);
    std::exception_ptr real_error() const noexcept { return real_error_; }
    // Closed because a read_until went past its max_bytes (real_error() is
    // an UnsatisfiableReadError): the peer sent a line or head too long.
    bool read_limit_broken() const noexcept;

private:
    std::exception_ptr real_error_;
};

// A read_until / read_until_regex whose end did not come within max_bytes.
class UnsatisfiableReadError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// More than max_buffer_size bytes to hold (or max_write_buffer_size to send).
class StreamBufferFullError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A stream's limits (the first two are Tornado's IOStream arguments).
struct IOStreamOptions {
    // Most bytes a stream holds unread; more closes it (Tornado's 100 MB).
    std::size_t max_buffer_size = 100 * 1024 * 1024;
    // Most unsent bytes write() accepts before it throws StreamBufferFullError
    // (0: no limit, Tornado's default).
    std::size_t max_write_buffer_size = 0;
    // A read_until / read_until_regex whose end does not come within its
    // max_bytes closes the stream (Tornado's behaviour). false: the read
    // fails with UnsatisfiableReadError and the stream stays open, so that
    // its owner can say why before it closes (HTTP's 431 for a head that
    // is too large).
    bool close_on_read_limit = true;
};

namespace detail {

// The bytes a stream holds: a string and the offset of the first unread
// byte. Consuming moves the offset; the consumed prefix is dropped when it is
// half the string (amortised O(1) per byte), and a drained buffer gives its
// memory back.
class StreamBuffer {
public:
    std::size_t size() const noexcept { return data_.size() - start_; }
    bool empty() const noexcept { return start_ == data_.size(); }
    std::string_view view() const noexcept { return std::string_view(data_).substr(start_); }
    // Heap bytes held (0 when the string is in its small-string storage).
    std::size_t heap_bytes() const noexcept;

    void append(std::string_view bytes);
    // Takes over `bytes` (moved, not copied) when the buffer is empty.
    void append(std::string&& bytes, std::size_t skip);
    void consume(std::size_t n) noexcept;
    // The first n bytes, consumed. The whole buffer is moved out, not copied.
    std::string take(std::size_t n);
    void release() noexcept;

private:
    std::string data_;
    std::size_t start_ = 0;
};

}  // namespace detail

// Tornado's IOStream over a socket: the module comment is its contract.
class IOStream : public std::enable_shared_from_this<IOStream> {
public:
    // Two pointers inline (a weak_ptr or shared_ptr to the owner, what the
    // HTTP server's callbacks hold): every connection carries one of each.
    using CloseCallback = Function<void(), 2 * sizeof(void*)>;

    // How much one recv() asks for (Tornado's read_chunk_size).
    static constexpr std::size_t kReadChunkSize = 64 * 1024;

    // Wraps a socket (made non-blocking here; TCP or Unix, connected or about
    // to be connect()ed) and registers it with the current IOLoop. The
    // stream owns the descriptor from now on.
    static std::shared_ptr<IOStream> create(FileDescriptor socket, IOStreamOptions options = {});

    // create() is the way in; the constructor is public only for make_shared.
    struct Key {
    private:
        friend class IOStream;
        friend class SSLIOStream;
        friend class PipeIOStream;
        Key() = default;
    };
    IOStream(Key, FileDescriptor socket, IOStreamOptions options);
    virtual ~IOStream();
    IOStream(const IOStream&) = delete;
    IOStream& operator=(const IOStream&) = delete;

    // --- reading -----------------------------------------------------------------

    // Everything up to and including the first `delimiter`. With max_bytes,
    // a delimiter that has not ended within max_bytes bytes closes the stream
    // (UnsatisfiableReadError: "delimiter '\r\n\r\n' not found within 65536 bytes").
    Future<std::string> read_until(std::string_view delimiter,
                                   std::optional<std::size_t> max_bytes = std::nullopt);
    // Everything up to and including the first match of the ECMAScript
    // regular expression `pattern` (searched from the start of the unread
    // bytes each time more arrive, as Tornado does: keep max_bytes small).
    Future<std::string> read_until_regex(std::string_view pattern,
                                         std::optional<std::size_t> max_bytes = std::nullopt);
    // Everything up to and including the first empty line, lines ending in
    // CRLF or a bare LF: the end of an HTTP head, as Tornado reads it with
    // read_until_regex(b"\r?\n\r?\n"), found without a regex (a LF, then
    // LF or CRLF). max_bytes as for read_until.
    Future<std::string> read_until_empty_line(std::optional<std::size_t> max_bytes = std::nullopt);
    // What the callback forms of the reads call: with the bytes, or with
    // an error (then `data` is empty). Two pointers inline, as CloseCallback.
    // `data` is an rvalue reference, so that a callback passing the bytes on
    // (to a parser, say) moves them once, not once per call on the way; a
    // callback taking `std::string data` by value works too.
    using ReadCallback =
        Function<void(std::string&& data, std::exception_ptr error), 2 * sizeof(void*)>;
    // The same read for a server waiting on many idle connections, with a
    // callback instead of a Future: a waiting connection then holds no
    // Future state (about 140 heap bytes). Returns the head when the
    // buffer holds it already; else std::nullopt, and `done` is called
    // later, from the loop and never inside this call, with the head, or
    // with the error the Future would have failed with (then `error` is
    // set); if the loop closes first, from its close() with CancelledError,
    // as an awaited Future is cancelled. Throws StreamClosedError, as the
    // Future form does, when the stream is closed and its buffer has no head.
    std::optional<std::string> read_until_empty_line(std::size_t max_bytes, ReadCallback done);
    // Exactly n bytes; with partial, as soon as at least one byte is there,
    // up to n (read_bytes(0) gives "" at once).
    Future<std::string> read_bytes(std::size_t n, bool partial = false);
    // Exactly n bytes, with a callback as read_until_empty_line's: for a
    // WebSocket connection waiting for its next frame. (A template, so that
    // a lambda without captures, which converts to bool, is not taken for
    // `partial`.)
    template <typename Done>
        requires(std::is_invocable_v<Done&, std::string, std::exception_ptr>)
    std::optional<std::string> read_bytes(std::size_t n, Done&& done) {
        return read_bytes_by_callback(n, ReadCallback(std::forward<Done>(done)));
    }
    // Fills `buffer` (which must stay alive until the Future is done):
    // resolves with buffer.size(), or with partial, with the bytes so far as
    // soon as there are some. Bytes past the buffered ones go from the kernel
    // straight into `buffer`, with no copy in between.
    Future<std::size_t> read_into(std::span<char> buffer, bool partial = false);
    // Everything until the peer closes (the stream is closed by the time the
    // Future resolves). All of it must fit in max_buffer_size.
    Future<std::string> read_until_close();

    // --- writing -----------------------------------------------------------------

    // Sends `data`; see the module comment for when the Future resolves.
    // Throws StreamClosedError on a closed stream, StreamBufferFullError past
    // max_write_buffer_size. An rvalue string left partly unsent is kept as
    // it is, not copied.
    Future<void> write(std::string_view data);
    Future<void> write(std::string&& data);
    Future<void> write(const char* data) { return write(std::string_view(data)); }
    // Sends the pieces in order, as write() of them joined would, without
    // joining them: one sendmsg() takes them all when they can go at once
    // (a response's head and a cached file's bytes, with no copy into one
    // string; over TLS, records made from them). What the kernel does not
    // take is copied into the buffer, as write() copies it. Where they
    // cannot go that way (a pipe, bytes queued or writes held, sends by
    // completion, more than kMaxGathered pieces) each goes to write() in
    // turn, except that they are joined into one write() with sends by
    // completion, and when each would be a send (or TLS record) of its own
    // and they are kJoinedBytes or fewer.
    Future<void> write(std::span<const std::string_view> pieces);
    static constexpr std::size_t kMaxGathered = 16;
    static constexpr std::size_t kJoinedBytes = 16 * 1024;
    // The most bytes one write() should carry to leave in one send() and
    // one TCP segment on loopback (65,483 bytes with timestamps), over TLS
    // too, whose four records add at most 4 x 32 bytes. A send a little
    // over a segment ends in a short segment sent on its own, which cost
    // a server much CPU (tests/bench/README.md): HTTP/2's batches and
    // StaticFileHandler's pieces keep to this size.
    static constexpr std::size_t kOneSegmentWrite = 65344;
    // Whether pieces can go to the socket as they are, side by side: the
    // bytes written are the bytes on the socket (not so for TLS or a pipe),
    // so a file's may go by sendfile().
    virtual bool sends_gathered() const noexcept { return true; }
    // Whether write(pieces) sends from the pieces themselves, without
    // joining them into one string first: by sendmsg() here, by TLS records
    // made from them in SSLIOStream. A pipe joins them.
    virtual bool takes_pieces() const noexcept { return sends_gathered(); }

    // Sends a file's bytes by sendfile(): the kernel copies them from the
    // page cache to the socket, never through this process. They go after
    // the bytes written before and before those written after, and the
    // Future resolves when the last of them is sent, as write()'s does. A
    // file that ends before `count` bytes closes the stream with an error
    // (the peer was promised them). Writes held are released first, as a
    // write too big to hold releases them. Throws StreamClosedError on a
    // closed stream, std::logic_error where sends_file_now() is false.
    Future<void> write_file(FileBytes file);
    // Whether write_file may be called: an open plain socket, sent on by
    // readiness (not TLS, a pipe or io_uring's sends by completion), with
    // no file of an earlier write_file still being sent.
    bool sends_file_now() const noexcept;

    // Holds the writes that follow in the buffer, unsent, until
    // release_writes(), so that several go out in one send (one send()
    // call, or with sends by completion one send request): the server
    // holds its answers to pipelined requests this way. Refused (false,
    // nothing changes) while bytes are queued or being sent already, or the
    // kernel has no room, since those must wait for room, not for a
    // release. A write that would take what is held past kMaxHeldBytes
    // ends the hold: what is held goes at once, that write after it as any
    // other. An orderly close() sends what is held first, by send() on
    // either backend (as much as the kernel takes: a send request would be
    // cancelled by the close). A held write's Future resolves when its
    // bytes are sent, after the release.
    bool hold_writes();
    void release_writes();
    bool writes_held() const noexcept { return writes_held_; }
    static constexpr std::size_t kMaxHeldBytes = 64 * 1024;

    // --- connecting (clients) ------------------------------------------------------

    // Connects a stream made from an unconnected socket. Writes made before
    // the connection is up are sent once it is; reads wait for it. Fails with
    // StreamClosedError whose real error names the address ("connect to
    // 127.0.0.1:9: Connection refused"). TCPClient is the convenient way.
    Future<std::shared_ptr<IOStream>> connect(const SocketAddress& address);

    // --- TLS -----------------------------------------------------------------------

    // Hands this stream's socket to a new SSLIOStream, which does the TLS
    // handshake: as the server (server_side) or as the client, checking the
    // certificate against server_hostname (Tornado's start_tls). Resolves
    // with the new stream once the handshake is over; this one is done with
    // (closed, without its close callback, which moves to the new stream).
    // Throws std::logic_error unless the stream is idle: no read or write
    // pending, no unread bytes, not connecting.
    Future<std::shared_ptr<SSLIOStream>> start_tls(bool server_side, const SSLOptions& options = {},
                                                   std::string server_hostname = {});

    // --- closing -----------------------------------------------------------------

    // Runs once, from the loop, after the stream closes for any reason (set
    // on a stream already closed, it still runs, once). Replaces a callback
    // that has not run.
    void set_close_callback(CloseCallback callback);
    // Runs once, from the loop, when the peer is seen to have finished
    // sending (its FIN came) while the stream is open and no read is
    // pending. The peer may have closed whole or only its sending side
    // (shutdown(SHUT_WR), `nc -q`): it will send nothing more, but the
    // stream stays open and may still be written to. (With a read pending,
    // the read meets the end instead and the stream closes.) Set after the
    // FIN was seen, it runs at once, from the loop. nullptr clears it.
    // Tornado has no such hook: its stream reads while idle and closes at
    // the FIN, so an answer to a client that only half-closed is lost.
    // HTTP uses it to run on_connection_close and still answer.
    void set_peer_fin_callback(CloseCallback callback);
    // Closes now (see the module comment). `error`, if given, becomes
    // error(). Closing a closed stream does nothing.
    void close(std::exception_ptr error = nullptr);
    // Whether the stream is closed: by close(), an error, a limit or the
    // peer's close seen by a read, by start_tls (which handed the socket
    // on), or by its loop closing.
    bool closed() const noexcept { return life_ == Life::closed; }
    // What closed the stream (nullptr while open, or after an orderly close).
    std::exception_ptr error() const noexcept { return extras_ ? extras_->error : nullptr; }

    // --- state and options -------------------------------------------------------

    // Whether a read is pending (another read now would throw).
    bool reading() const noexcept { return read_.mode != ReadMode::none; }
    // Whether bytes given to write() are not all with the kernel yet.
    bool writing() const noexcept { return !write_buffer_.empty() || queued_ || sending_file(); }
    // TCP_NODELAY: send small writes at once instead of waiting to coalesce
    // them (Nagle). Only a change makes a system call; harmless on a
    // non-TCP socket or a closed stream.
    void set_nodelay(bool value);
    std::size_t max_buffer_size() const noexcept { return options_.max_buffer_size; }
    // The socket (-1 once closed).
    int fileno() const noexcept { return fd_.get(); }
    // The loop the stream was made on (the current one at create()). Throws
    // std::logic_error once that loop has closed.
    IOLoop& io_loop() const;

    // Bytes received and not read yet. For tests and monitoring, as the two
    // below.
    std::size_t read_buffer_size() const noexcept { return read_buffer_.size(); }
    // Bytes written and not yet with the kernel, in memory (a file's bytes
    // that write_file has still to send are not counted).
    std::size_t write_buffer_size() const noexcept {
        return write_buffer_.size() + (queued_ ? queued_->size() : 0);
    }
    // Heap bytes the buffers hold, read and write (0 for an idle stream: a
    // drained buffer is freed).
    std::size_t buffer_heap_bytes() const noexcept {
        return read_buffer_.heap_bytes() + write_buffer_.heap_bytes() +
               (queued_ ? queued_->heap_bytes() : 0);
    }

protected:
    // What SSLIOStream replaces: the three places where bytes meet the
    // socket (Tornado's read_from_fd, write_to_fd and _handle_events), and a
    // last word before the descriptor is closed. The contracts are those of
    // the plain versions below; close_transport does nothing here.
    virtual void handle_events(std::uint32_t events);
    virtual std::size_t receive(char* where, std::size_t capacity);
    virtual std::size_t send_now(std::string_view data);
    virtual void close_transport() noexcept {}

    // receive() for a plain descriptor, given the call that reads it (recv
    // for a socket, read for PipeIOStream): one loop for both, with the
    // same end, EINTR and EAGAIN rules. `call_name` names it in errors.
    // Templates, defined and used in iostream.cpp only: the call is inlined
    // on the hot path, not made through a pointer.
    template <typename ReadCall>
    std::size_t receive_with(ReadCall read_call, const char* call_name, char* where,
                             std::size_t capacity);
    // send_now() likewise, given the call that writes (send, or write).
    template <typename WriteCall>
    std::size_t send_with(WriteCall write_call, const char* call_name, std::string_view data);
    // send_now() of the pieces in order, as if joined (write(pieces) calls
    // it only when takes_pieces()).
    virtual std::size_t send_pieces_now(std::span<const std::string_view> pieces);
    // The loop both share (iostream.cpp).
    template <typename SendFrom>
    std::size_t send_until_full(std::size_t total, const char* call_name, SendFrom send_from);

    // create()'s two halves, shared with SSLIOStream::create.
    static void make_non_blocking(const FileDescriptor& socket);
    void watch();

    void io_error(int error, const char* call);

    // The stream's life, one value (Tornado's IOStream keeps it in _closed,
    // _connecting and its socket's being None; end_seen is the course's):
    //
    //   create() ──► open ──connect()──► connecting ──the connection is up──► open
    //                 │
    //                 │ RDHUP, ERR or HUP: the peer's FIN, or an error, waits in
    //                 ▼ the socket behind any bytes still there
    //             end_seen: a read reads on until it meets the end (then closes);
    //                       with no read pending, the peer-FIN callback runs
    //
    //   closed ◄── from any state: close() (by the owner, a socket error, a limit,
    //              a read that met the end), start_tls (the socket goes on to an
    //              SSLIOStream) or the loop closing (forget_loop). Never left.
    //
    // While the stream is not closed, the loop holds it (LoopHold); once
    // closed, it has let go. Only these functions change it: connect() and
    // handle_connect (connecting and back), see_end, and the three ways to
    // closed (close, start_tls, forget_loop).
    enum class Life : std::uint8_t { open, connecting, end_seen, closed };
    bool connecting() const noexcept { return life_ == Life::connecting; }
    bool end_seen() const noexcept { return life_ == Life::end_seen; }
    void see_end() noexcept;

    Life life_ = Life::open;
    // Readiness, as the last edges told it (not part of the life: both
    // change on every edge, in any state but closed).
    bool read_ready_ = false;  // recv() may find bytes (or the end)
    bool write_ready_ = true;  // send() may find room
    FileDescriptor fd_;

private:
    enum class ReadMode : std::uint8_t { none, until, empty_line, regex, bytes, into, until_close };

    // The parts of a read_until_regex or read_into, out of line: few
    // streams make one, and every stream would carry them.
    struct RareRead;

    // until: a delimiter up to this long is kept inline (every one HTTP and
    // line protocols use); a longer one in RareRead.
    static constexpr std::size_t kShortDelimiter = 16;

    struct PendingRead {
        ReadMode mode = ReadMode::none;
        bool partial = false;
        std::uint8_t delimiter_size = 0;  // until, when short
        // By completion: the kernel is doing a receive for this read (its
        // report comes to the stream's handler as RECEIVED). Only a pending
        // read asks for one, and the read ends only with its report or a
        // close (which cancels it), so reset_read leaves it alone.
        bool receiving = false;
        // bytes: how many; until, empty_line, regex: the most before the
        // end must have come (max_bytes; SIZE_MAX: no limit).
        std::size_t limit = 0;
        std::size_t scan_from = 0;  // until, empty_line: where the next search starts
        std::array<char, kShortDelimiter> short_delimiter;  // until
        std::unique_ptr<RareRead> rare;                     // regex, into, a long delimiter
        // Who hears of the end: the Future, or for the callback forms
        // (read_until_empty_line, read_bytes), the callback.
        Future<std::string> future{nullptr};
        ReadCallback callback;
    };

    // The loop's hold on the stream while it is registered (see create()).
    struct LoopHold;

    // Reading: begin_read, then launch_read / run_new_read try the buffer,
    // then the socket; the rest is finished by handle_events.
    void begin_read(ReadMode mode);
    std::optional<std::string> read_bytes_by_callback(std::size_t n, ReadCallback done);
    std::optional<std::string> launch_read_by_callback(ReadCallback done, bool was_closed);
    Future<std::string> launch_read();
    void run_new_read();
    bool complete_from_buffer();
    std::optional<std::size_t> find_read_end(std::string_view data);
    std::string_view delimiter() const noexcept;
    std::optional<std::size_t> find_delimiter(std::string_view data);
    std::optional<std::size_t> find_empty_line(std::string_view data);
    std::optional<std::size_t> find_regex(std::string_view data);
    void check_max_bytes(std::size_t size, const char* what, std::string_view shown);
    void finish_read(std::string data);
    void fail_read(std::exception_ptr error, bool as_closed);
    void call_back_later(ReadCallback callback, std::string&& data, std::exception_ptr error);
    bool fill_into_from_buffer();
    void finish_into();
    void reset_read() noexcept;
    void unsatisfiable(std::exception_ptr error);

    void read_from_socket();
    void request_recv(bool bytes_waiting = false);
    void on_loop_closing();
    void on_received(int result, std::string_view bytes);
    void take_received(std::string_view bytes);
    void take_chunk(std::string_view fresh);
    bool check_buffer_limit();
    void continue_reading_later();

    // Writing.
    Future<void> write_now(std::string_view data, std::string* owned);
    Future<void> write_each(std::span<const std::string_view> pieces, std::size_t total, bool join);
    Future<void> write_by_completion(std::string_view data, std::string* owned);
    Future<void> write_held(std::string_view data, std::string* owned);
    Future<void> queue_write(detail::StreamBuffer& buffer, std::string_view data,
                             std::string* owned, std::size_t sent);
    void submit_send();
    void on_sent(int result);
    void flush_write_buffer();
    void flush_by_readiness();
    void send_buffered(std::size_t count);
    // Every byte given to write() or write_file() and not yet sent: the
    // end of a write's Future is bytes_written_ plus these.
    std::size_t unsent_bytes() const noexcept;
    void resolve_write_futures();

    // Events and closing.
    void handle_connect(std::uint32_t events);
    std::exception_ptr socket_error() const;
    void fail_pending();
    void schedule_close_callback();
    void report_peer_fin();
    void forget_loop() noexcept;

    IOLoop* loop_;
    IOStreamOptions options_;

    // One byte of bits for these three flags keeps the stream (with its
    // shared_ptr count) in tcmalloc's 320-byte size class: an idle keep-alive
    // connection's heap (HTTPServer.AnIdleKeepAliveConnectionHoldsLittleHeap).
    // None is a stage of the life above: a read continued next turn, how
    // the loop does the stream's I/O, and a hold on writes.
    bool read_resume_queued_ : 1 = false;
    bool by_completion_ : 1 = false;  // the loop's io_uring requests, not recv()/send() (create())
    bool writes_held_ : 1 = false;    // hold_writes(): writes wait for release_writes()
    std::int8_t nodelay_ = -1;        // -1 unknown, else the value set
    // By completion: the loop's number for the send the kernel is doing (it
    // reads write_buffer_, which must not move meanwhile; the writes made
    // while it is out wait in queued_, made when needed).
    std::uint32_t send_ = IOLoop::kNoRequest;

    detail::StreamBuffer read_buffer_;
    PendingRead read_;

    detail::StreamBuffer write_buffer_;
    std::uint64_t bytes_written_ = 0;  // every byte the kernel took
    std::unique_ptr<detail::StreamBuffer> queued_;
    struct WriteWaiter {
        std::uint64_t end;  // resolved once bytes_written_ reaches it
        Future<void> future;
    };
    std::vector<WriteWaiter> write_futures_;

    CloseCallback close_callback_;

    // What few streams need, out of line so that every stream is smaller:
    // made when first needed (extras()), kept until the stream goes.
    struct Connecting;  // a connect() under way (clients only)
    // A write_file's bytes not sent yet. `starts_at`: the count of bytes
    // written (bytes_written_) at which the next of them goes, once the
    // bytes buffered before the file are sent.
    struct FileSend {
        FileBytes bytes;
        std::uint64_t starts_at;
    };
    FileSend* sending_file() const noexcept {
        return extras_ && extras_->file ? extras_->file.get() : nullptr;
    }
    void send_file_now(FileSend& file);
    struct Extras {
        std::unique_ptr<Connecting> connecting;
        std::unique_ptr<FileSend> file;
        CloseCallback peer_fin_callback;
        std::exception_ptr error;  // what closed the stream
    };
    Extras& extras();
    std::unique_ptr<Extras> extras_;
};

// Tornado's SSLIOStream: an IOStream whose bytes go through TLS (OpenSSL).
// Reads, writes, limits, closing and the Futures are IOStream's; what
// differs is underneath:
//
// * The handshake comes first. Reads and writes may be made at once: a read
//   waits for the handshake, a write is buffered until it is over. If it
//   fails, everything pending fails with StreamClosedError whose
//   real_error() is an SSLError saying why ("certificate verify failed:
//   self-signed certificate").
// * A TLS read can want a write, and a write a read. TLS moves records, not
//   bytes: OpenSSL reads a whole record before it can decrypt any of it,
//   and may have to send something (a key update, an alert) in the middle
//   of a read. So SSL_read can say "wait until the socket is writable", and
//   SSL_write "wait until it is readable". The stream remembers which, and
//   the other direction's edge retries it.
// * A server that receives plain HTTP instead of a TLS hello answers 400
//   ("The plain HTTP request was sent to an HTTPS port", as nginx) and
//   closes.
// * Closing sends TLS's close_notify first (once, without waiting for the
//   peer's). A peer that closes without one is taken as an ordinary close,
//   as Python does (HTTP's own framing tells a cut body), and
//   closed_without_close_notify() says so afterwards: data that only the
//   close ends (an HTTP body without a length) may have been cut short by
//   whoever could cut the TCP connection, and the HTTP client refuses it.
// * Renegotiation is refused; ALPN offers and picks http/1.1.
//
// Threads and lifetime: as IOStream.
class SSLIOStream final : public IOStream {
public:
    // Wraps a connected socket (or one to connect() next) and starts the
    // handshake: a client (server_side false) sends its hello as soon as
    // the socket is connected, a server waits for one. server_hostname
    // (client): the name sent by SNI and checked against the certificate;
    // an IP address is checked against the certificate's IP entries and not
    // sent. Throws SSLError if OpenSSL refuses to start.
    static std::shared_ptr<SSLIOStream> create(FileDescriptor socket, const SSLContext& context,
                                               bool server_side, std::string server_hostname = {},
                                               IOStreamOptions options = {});

    // create() is the way in; the constructor is public only for make_shared.
    SSLIOStream(Key, FileDescriptor socket, IOStreamOptions options);
    ~SSLIOStream() override;

    // Resolves with this stream once the handshake is over (at once if it
    // is), or fails with StreamClosedError (real_error(): an SSLError or a
    // socket error). Waiting twice gives the same Future.
    Future<std::shared_ptr<SSLIOStream>> wait_for_handshake();
    // Whether the handshake is over and succeeded (a failed one closes the
    // stream instead).
    bool handshake_done() const noexcept { return handshake_done_; }
    // Closes the stream (with an SSLError) unless the handshake is over
    // within `timeout` from now.
    void set_handshake_timeout(IOLoop::Clock::duration timeout);

    // What the handshake agreed, "" until it is over. The protocol ALPN
    // agreed on ("http/1.1"; "" without one).
    std::string selected_alpn_protocol() const;
    // Server: the host name the client asked for by SNI ("" without one).
    // Client: the server_hostname given to create(), at any time.
    std::string server_name() const;
    // The TLS version ("TLSv1.3"); "" until the handshake is over.
    std::string version() const;
    // The cipher suite ("TLS_AES_256_GCM_SHA384"); "" until the handshake
    // is over.
    std::string cipher() const;
    // The peer's certificate in DER (Tornado's
    // get_ssl_certificate(binary_form=True)); "" when it showed none, or
    // until the handshake is over.
    std::string get_ssl_certificate() const;
    // OpenSSL's object for this connection, for what the accessors above do
    // not cover. The stream owns it.
    ssl_st* native_handle() const noexcept { return ssl_; }
    // Whether the stream closed because the peer's TCP connection ended
    // without TLS's close_notify (a "truncation attack", RFC 8446 section
    // 6.1, or a careless peer); false while open and after any other close.
    bool closed_without_close_notify() const noexcept { return closed_without_close_notify_; }

    // What OpenSSL's I/O object for this stream knows (iostream_ssl.cpp):
    // the socket, and whether the last recv() emptied the kernel's queue.
    struct SocketBIO {
        int fd = -1;
        bool drained = false;
        // Where in its 4 KiB page OpenSSL put the last record's plain
        // bytes (send_now's slow-copy check); 0 before the first.
        std::uint16_t record_page_offset = 0;
        // Where OpenSSL's records go while send_now gathers them for one
        // send(); null the rest of the time, when they go to the socket.
        std::string* gathering = nullptr;
        // Records made that the kernel has not taken yet. Anything OpenSSL
        // writes later joins them, so the peer gets everything in order.
        std::string unsent;
    };

    bool sends_gathered() const noexcept override { return false; }  // records, not bytes
    bool takes_pieces() const noexcept override { return true; }     // records made of them

protected:
    void handle_events(std::uint32_t events) override;
    std::size_t receive(char* where, std::size_t capacity) override;
    std::size_t send_now(std::string_view data) override;
    std::size_t send_pieces_now(std::span<const std::string_view> pieces) override;
    void close_transport() noexcept override;

private:
    void begin_session(const SSLContext& context, bool server_side, std::string server_hostname);
    bool advance_handshake();
    void handshake_finished();
    void cancel_handshake_timer() noexcept;
    void handshake_failed(int ssl_error, int saved_errno);
    void answer_plain_http();
    void transfer_failed(int ssl_error, int saved_errno, const char* call);
    std::size_t encrypt_records(std::span<const std::string_view> pieces, std::size_t total,
                                std::size_t from, std::string& records);

    ssl_st* ssl_ = nullptr;
    bool server_side_ = false;
    bool handshake_done_ = false;
    bool fatal_ = false;  // OpenSSL failed: no more calls on ssl_, not even shutdown
    bool closed_without_close_notify_ = false;
    bool read_wants_write_ = false;  // SSL_read waits for the socket to be writable
    bool write_wants_read_ = false;  // SSL_write waits for it to be readable
    SocketBIO bio_state_;
    // The plain bytes of bio_state_.unsent's records: taken by OpenSSL, not
    // yet reported sent, so the write buffer still begins with them.
    std::size_t plain_unsent_ = 0;
    std::string server_hostname_;
    Future<std::shared_ptr<SSLIOStream>> handshake_future_{nullptr};
    std::optional<IOLoop::Timeout> handshake_timer_;
};

// Tornado's PipeIOStream: an IOStream over one end of a pipe (or a FIFO),
// such as a Subprocess's stdin, stdout or stderr (process.h). A pipe goes
// one way, so a stream over its read end only reads and one over its write
// end only writes. Everything else is IOStream's: the reads and their
// limits, write() and its Futures, closing and the close callback, the
// loop's hold on an open stream. What differs is underneath:
//
// * read() and write() instead of recv() and send() (a pipe is not a
//   socket). A write to a pipe whose reader has gone fails with EPIPE and
//   closes the stream, instead of raising SIGPIPE, which would kill the
//   process: the signal is blocked around the write, and one the write
//   raised is taken back.
// * The writer's close is the pipe's end of file, as a peer's FIN is a
//   socket's: bytes still in the pipe are read first, and the read that
//   meets the end closes the stream (with no read pending, the peer-FIN
//   callback runs and the stream stays open). epoll says EPOLLHUP for it,
//   which on a socket would mean a hang-up in both directions.
// * The write end learns that the reader has gone (EPOLLERR) and closes at
//   once, idle or not, with EPIPE as error() (a reset, for a socket).
// * connect(), start_tls() and set_nodelay() are for sockets: they have
//   no use here.
//
// create() makes the descriptor non-blocking; that flag belongs to the
// open file, so it also shows through other descriptors for it (a
// terminal this process shares, say). Threads and lifetime: as IOStream.
class PipeIOStream final : public IOStream {
public:
    // Takes one end of a pipe (pipe2(), a FIFO) and registers it with the
    // current IOLoop; the stream owns the descriptor from now on. fileno()
    // is it, until the stream closes.
    static std::shared_ptr<PipeIOStream> create(FileDescriptor fd, IOStreamOptions options = {});

    // create() is the way in; the constructor is public only for make_shared.
    PipeIOStream(Key, FileDescriptor fd, IOStreamOptions options);

    bool sends_gathered() const noexcept override { return false; }  // a pipe: write()

protected:
    // Tornado's _handle_events, read_from_fd and write_to_fd for a pipe.
    void handle_events(std::uint32_t events) override;
    std::size_t receive(char* where, std::size_t capacity) override;
    std::size_t send_now(std::string_view data) override;
};

// A lingering close (what HTTP's error answers and a failed WebSocket
// use): once `flushed` resolves (the last answer is with the kernel), the
// stream is half-closed (FIN) and what the peer still sends is read and
// dropped, for at most `max_time` and `max_bytes`, before the stream is
// closed. Without it, bytes the peer sent that nobody read would make the
// kernel answer the close with a reset, and a reset can destroy the
// answer before the peer reads it. A read still pending on the stream
// cannot be shared: the stream is then closed as soon as `flushed` is.
// The Future resolves once the stream is closed.
Future<void> lingering_close(std::shared_ptr<IOStream> stream,
                             Future<void> flushed = Future<void>(nullptr),
                             IOLoop::Clock::duration max_time = std::chrono::seconds(2),
                             std::size_t max_bytes = 1024 * 1024);

}  // namespace tornado
