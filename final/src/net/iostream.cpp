// iostream.cpp: see tornado/iostream.h for the contract and the design.
//
// The socket is registered once, edge-triggered (create()), so the stream
// keeps its own idea of readiness: read_ready_ and write_ready_ are set by
// an edge and cleared when recv() or send() shows the kernel has no more
// (EAGAIN, or a short recv()) or connect() begins. No edge comes again for
// bytes already waiting, so a read that stops early leaves read_ready_ true.
//
// Reading, as a picture:
//
//   read_until() ─► begin_read ─► launch_read ─► the buffer has it? ── yes ─► done (no syscall)
//                                                  │ no
//                                                  ▼
//                                  read_ready? ── no ─► wait for the next READ edge
//                                                  │ yes                   │
//                                                  ▼                       ▼
//                            read_from_socket: recv() into the thread's scratch buffer
//                               take_chunk: the read's end in the fresh bytes? ── yes ─► done
//                               no: keep them in the stream's buffer, recv() again
//                               (a short recv() means the kernel had no more: stop)
//
// On the io_uring loop (by_completion_) "wait for the next READ edge" is
// "ask the kernel to receive" (request_recv), and the report hands over
// the bytes (on_received) where recv() would have: take_chunk as above.
//
// Writing: write() sends at once when nothing is queued ahead of it; the
// rest waits in write_buffer_ for the WRITE edge. On the io_uring loop the
// writes of a turn go to the kernel as one send request instead.
#include "tornado/iostream.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <regex>
#include <system_error>
#include <utility>

#include "core/text.h"
#include "tornado/gen.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// How many recv() calls one stream makes per event before it lets the other
// streams have a turn (it goes on at the next loop turn): 1 MiB.
constexpr int kMaxReadsPerEvent = 16;

// Reads land here first: one buffer per thread, instead of one per stream.
// Safe to share: take_chunk copies out what it keeps, and a resolved Future
// runs its waiters later, from the loop, so no recv() can overwrite a chunk
// still in use. _for_overwrite: 64 KiB that recv() fills are not zeroed.
char* scratch_buffer() {
    thread_local std::unique_ptr<char[]> buffer;
    if (!buffer) buffer = std::make_unique_for_overwrite<char[]>(IOStream::kReadChunkSize);
    return buffer.get();
}

// The errors a peer causes by going away: not worth a warning (Tornado's
// _is_connreset).
bool is_connection_reset(int error) {
    return error == ECONNRESET || error == ECONNABORTED || error == EPIPE || error == ETIMEDOUT;
}

template <typename T>
void fail_future(Future<T>& future, const std::exception_ptr& cause) {
    if (!future.valid() || future.done()) return;
    future.set_exception(std::make_exception_ptr(StreamClosedError(cause)));
    // Marked as seen, as Tornado does: a write nobody waits for must not log
    // "exception never retrieved" when its connection drops.
    (void)future.exception();
}

}  // namespace

StreamClosedError::StreamClosedError(std::exception_ptr real_error)
    : std::runtime_error(real_error ? "Stream is closed: " + exception_message(real_error)
                                    : std::string("Stream is closed")),
      real_error_(std::move(real_error)) {}

bool StreamClosedError::read_limit_broken() const noexcept {
    return holds_exception<UnsatisfiableReadError>(real_error_);
}

// --- StreamBuffer -------------------------------------------------------------------------

namespace detail {

// +1: capacity() leaves out the NUL. Small-string storage is not heap.
std::size_t StreamBuffer::heap_bytes() const noexcept {
    static const std::size_t kInline = std::string().capacity();
    return data_.capacity() > kInline ? data_.capacity() + 1 : 0;
}

void StreamBuffer::append(std::string_view bytes) {
    if (bytes.empty()) return;
    // Drop the consumed prefix once it is at least as long as what is left:
    // the move copies no more bytes than were consumed since the last one,
    // so O(1) per byte, amortised. Here, before growing, so that consume()
    // stays O(1) and noexcept (a drained buffer is simply freed).
    if (start_ > 0 && start_ >= data_.size() - start_) {
        data_.erase(0, start_);
        start_ = 0;
    }
    data_.append(bytes);
}

// write() of an rvalue: into an empty buffer, the caller's string becomes
// the buffer, its first `skip` bytes (already sent) counted as consumed.
void StreamBuffer::append(std::string&& bytes, std::size_t skip) {
    if (!empty() || skip >= bytes.size()) {
        append(std::string_view(bytes).substr(std::min(skip, bytes.size())));
        return;
    }
    data_ = std::move(bytes);
    start_ = skip;
}

// A drained buffer is freed at once: an idle connection holds no memory.
void StreamBuffer::consume(std::size_t n) noexcept {
    start_ += n;
    if (start_ >= data_.size()) release();
}

// Exactly the whole buffer (a request read in one go): handed over, no copy.
std::string StreamBuffer::take(std::size_t n) {
    if (start_ == 0 && n == data_.size()) {
        std::string all = std::move(data_);
        release();
        return all;
    }
    std::string part(data_, start_, n);
    consume(n);
    return part;
}

void StreamBuffer::release() noexcept {
    std::string().swap(data_);  // gives the memory back, unlike clear()
    start_ = 0;
}

}  // namespace detail

// --- making a stream ------------------------------------------------------------------------

struct IOStream::RareRead {
    std::string source;                   // regex: the pattern as given; until: the delimiter
    std::regex pattern;                   // regex
    std::span<char> buffer;               // into: the caller's buffer,
    std::size_t filled = 0;               //   how much of it is filled,
    Future<std::size_t> future{nullptr};  //   and who waits for it
};

struct IOStream::Connecting {
    Future<std::shared_ptr<IOStream>> future;
    SocketAddress address;
};

// The loop's handler for the stream owns a reference to it: while the stream
// is registered, the loop keeps it alive. close() unregisters (and so lets
// go); a loop that drops its handlers while the stream is still open (the
// loop is closing) makes the stream forget it.
struct IOStream::LoopHold {
    std::shared_ptr<IOStream> stream;

    explicit LoopHold(std::shared_ptr<IOStream> held) noexcept : stream(std::move(held)) {}
    LoopHold(LoopHold&& other) noexcept = default;  // noexcept: fits in Function inline
    LoopHold& operator=(LoopHold&&) = delete;
    ~LoopHold() {
        if (stream && !stream->closed()) stream->forget_loop();
    }
    void operator()(int, std::uint32_t events) const {
        if (events == IOLoop::RECEIVED) {
            const IOLoop::Received& received = stream->loop_->received();
            stream->on_received(received.result, received.bytes);
        } else if (events == IOLoop::CLOSING) {
            stream->on_loop_closing();
        } else {
            stream->handle_events(events);
        }
    }
};

// Only here: SSLIOStream and PipeIOStream have their own receive and
// send_now (TLS records, read() and write() on a pipe), so they always
// read and send by readiness.
std::shared_ptr<IOStream> IOStream::create(FileDescriptor socket, IOStreamOptions options) {
    make_non_blocking(socket);
    auto stream = std::make_shared<IOStream>(Key{}, std::move(socket), options);
    stream->by_completion_ = stream->loop_->io_by_completion();
    stream->watch();
    return stream;
}

void IOStream::make_non_blocking(const FileDescriptor& socket) {
    if (!socket) throw std::invalid_argument("IOStream::create: no socket");
    int flags = ::fcntl(socket.get(), F_GETFL);
    if (flags < 0) throw_errno("fcntl F_GETFL");
    // Only when missing: accept4(SOCK_NONBLOCK) has usually done it already.
    if ((flags & O_NONBLOCK) == 0 && ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
        throw_errno("fcntl F_SETFL O_NONBLOCK");
    }
}

// Registered once, edge-triggered, for everything the stream will ever
// want: no epoll_ctl again until close. Level-triggered, WRITE would fire
// every turn while the send buffer has room, so it would have to be
// switched on and off around each blocked write (chapter 04's way, and
// Tornado's); edge-triggered it can stay on. RDHUP tells a short recv()
// from the end: a FIN that comes before the bytes ahead of it are read
// shares their edge, and without the bit the end would go unseen (see
// receive). A stream that reads by completion leaves READ out: its recv
// requests hear of the bytes, and a READ event for each would only cost a
// completion; RDHUP still tells an idle stream of the peer's FIN. CLOSING:
// see on_loop_closing.
void IOStream::watch() {
    std::uint32_t events = IOLoop::WRITE | IOLoop::EDGE | EPOLLRDHUP | IOLoop::CLOSING;
    if (!by_completion_) events |= IOLoop::READ;
    loop_->add_handler(fd_.get(), LoopHold(shared_from_this()), events);
}

IOStream::IOStream(Key, FileDescriptor socket, IOStreamOptions options)
    : fd_(std::move(socket)), loop_(&IOLoop::current()), options_(options) {}

IOStream::~IOStream() = default;

IOStream::Extras& IOStream::extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
}

IOLoop& IOStream::io_loop() const {
    if (loop_ == nullptr) throw std::logic_error("IOStream: its IOLoop has closed");
    return *loop_;
}

// --- the read calls -----------------------------------------------------------------------------

// Each read call: begin_read (throws before anything changes), then the
// read's parameters, then launch_read. No limit is stored as SIZE_MAX.
Future<std::string> IOStream::read_until(std::string_view delimiter,
                                         std::optional<std::size_t> max_bytes) {
    if (delimiter.empty()) throw std::invalid_argument("read_until: empty delimiter");
    std::unique_ptr<RareRead> long_delimiter;
    if (delimiter.size() > kShortDelimiter) {
        long_delimiter = std::make_unique<RareRead>();
        long_delimiter->source = delimiter;
    }
    begin_read(ReadMode::until);
    if (long_delimiter) {
        read_.rare = std::move(long_delimiter);
    } else {
        std::copy(delimiter.begin(), delimiter.end(), read_.short_delimiter.begin());
        read_.delimiter_size = static_cast<std::uint8_t>(delimiter.size());
    }
    read_.limit = max_bytes.value_or(SIZE_MAX);
    return launch_read();
}

Future<std::string> IOStream::read_until_regex(std::string_view pattern,
                                               std::optional<std::size_t> max_bytes) {
    auto regex = std::make_unique<RareRead>();
    regex->source = pattern;
    regex->pattern = std::regex(regex->source);  // throws std::regex_error before any state changes
    begin_read(ReadMode::regex);
    read_.rare = std::move(regex);
    read_.limit = max_bytes.value_or(SIZE_MAX);
    return launch_read();
}

Future<std::string> IOStream::read_until_empty_line(std::optional<std::size_t> max_bytes) {
    begin_read(ReadMode::empty_line);
    read_.limit = max_bytes.value_or(SIZE_MAX);
    return launch_read();
}

Future<std::string> IOStream::read_bytes(std::size_t n, bool partial) {
    begin_read(ReadMode::bytes);
    read_.limit = n;
    read_.partial = partial;
    return launch_read();
}

// Not through launch_read: its Future is a Future<size_t>, kept in RareRead.
Future<std::size_t> IOStream::read_into(std::span<char> buffer, bool partial) {
    begin_read(ReadMode::into);
    read_.rare = std::make_unique<RareRead>();
    read_.rare->buffer = buffer;
    read_.partial = partial;
    Future<std::size_t> future;
    read_.rare->future = future;
    run_new_read();
    return future;
}

// Only the end ends it: the bytes pile up in read_buffer_ (up to
// max_buffer_size) until close() hands them all over.
Future<std::string> IOStream::read_until_close() {
    begin_read(ReadMode::until_close);
    Future<std::string> future;
    read_.future = future;
    if (closed()) {
        finish_read(read_buffer_.take(read_buffer_.size()));  // what came before the close
    } else {
        read_from_socket();
    }
    return future;
}

std::optional<std::string> IOStream::read_until_empty_line(std::size_t max_bytes,
                                                           ReadCallback done) {
    bool was_closed = closed();
    begin_read(ReadMode::empty_line);
    read_.limit = max_bytes;
    return launch_read_by_callback(std::move(done), was_closed);
}

std::optional<std::string> IOStream::read_bytes_by_callback(std::size_t n, ReadCallback done) {
    bool was_closed = closed();
    begin_read(ReadMode::bytes);
    read_.limit = n;
    return launch_read_by_callback(std::move(done), was_closed);
}

// launch_read's callback form, not through run_new_read: what the buffer
// already holds is returned, not delivered, and what is still to come goes
// to `done`, a callback later (finish_read, fail_read).
std::optional<std::string> IOStream::launch_read_by_callback(ReadCallback done, bool was_closed) {
    read_.callback = std::move(done);
    std::optional<std::size_t> end;
    try {
        end = find_read_end(read_buffer_.view());
    } catch (const UnsatisfiableReadError&) {
        unsatisfiable(std::current_exception());  // `done` hears of it
        return std::nullopt;
    }
    if (end) {
        std::string bytes = read_buffer_.take(*end);
        reset_read();
        return bytes;
    }
    if (was_closed) {
        reset_read();
        throw StreamClosedError(error());
    }
    read_from_socket();
    return std::nullopt;
}

void IOStream::begin_read(ReadMode mode) {
    if (reading()) throw std::logic_error("IOStream: already reading (one read at a time)");
    read_.mode = mode;
}

Future<std::string> IOStream::launch_read() {
    Future<std::string> future;
    read_.future = future;
    run_new_read();
    return future;
}

// Tornado's _try_inline_read: the buffer first (a closed stream still hands
// out what it holds), then the socket if it may have bytes, else wait
// (read_from_socket does both).
// was_closed comes first: complete_from_buffer may close the stream (a
// broken limit), and a read failed that way must not also throw.
void IOStream::run_new_read() {
    bool was_closed = closed();
    if (complete_from_buffer()) return;
    if (was_closed) {
        reset_read();
        throw StreamClosedError(error());
    }
    read_from_socket();
}

// --- finding the end of a read -------------------------------------------------------------------

// Finishes the pending read from the buffered bytes if they are enough.
// Returns whether the read is over (finished, or failed by a broken limit).
bool IOStream::complete_from_buffer() {
    if (read_.mode == ReadMode::into) return fill_into_from_buffer();
    std::optional<std::size_t> end;
    try {
        end = find_read_end(read_buffer_.view());
    } catch (const UnsatisfiableReadError&) {
        unsatisfiable(std::current_exception());
        // Over now (failed, or failed by close()), unless this runs inside
        // close() already, which then fails the read itself.
        return !reading();
    }
    if (!end) return false;
    finish_read(read_buffer_.take(*end));
    return true;
}

// Where the pending read ends in `data` (the unread bytes), if they hold all
// of it. Throws UnsatisfiableReadError when max_bytes rules it out.
std::optional<std::size_t> IOStream::find_read_end(std::string_view data) {
    switch (read_.mode) {
        case ReadMode::until: return find_delimiter(data);
        case ReadMode::empty_line: return find_empty_line(data);
        case ReadMode::regex: return find_regex(data);
        case ReadMode::bytes:
            // partial: whatever is there, up to n (Tornado's read_bytes(partial=True)).
            if (data.size() >= read_.limit) return read_.limit;
            if (read_.partial && !data.empty()) return data.size();
            return std::nullopt;
        case ReadMode::none:
        case ReadMode::into:
        case ReadMode::until_close: break;
    }
    return std::nullopt;
}

std::string_view IOStream::delimiter() const noexcept {
    if (read_.rare) return read_.rare->source;
    return {read_.short_delimiter.data(), read_.delimiter_size};
}

std::optional<std::size_t> IOStream::find_delimiter(std::string_view data) {
    std::string_view delimiter = this->delimiter();
    std::size_t found = data.find(delimiter, read_.scan_from);
    if (found == std::string_view::npos) {
        // Next time, skip what was searched, except a tail that may hold
        // the start of a delimiter split across two reads ("\r\n\r" | "\n").
        if (data.size() >= delimiter.size()) read_.scan_from = data.size() - delimiter.size() + 1;
        // Past max_bytes with no delimiter: a later one would end past it too.
        check_max_bytes(data.size(), "delimiter", delimiter);
        return std::nullopt;
    }
    std::size_t end = found + delimiter.size();
    check_max_bytes(end, "delimiter", delimiter);
    return end;
}

// read_until_regex("\r?\n\r?\n") without a regex: HTTP/1.1 lets a recipient
// take a bare LF as a line end (RFC 9112 section 2.2), so a head ends at the
// first LF followed by LF or CRLF. The end found is the one the regex finds.
std::optional<std::size_t> IOStream::find_empty_line(std::string_view data) {
    std::size_t lf = data.find('\n', read_.scan_from);
    while (lf != std::string_view::npos) {
        std::string_view after = data.substr(lf + 1);
        std::size_t end = after.starts_with('\n') ? lf + 2 : after.starts_with("\r\n") ? lf + 3 : 0;
        if (end != 0) {
            check_max_bytes(end, "empty line", "\n\n");
            return end;
        }
        lf = data.find('\n', lf + 1);
    }
    // An empty line begins at a LF and is at most three bytes ("\n\r\n"):
    // next time, search again only the last two bytes and what comes.
    if (data.size() >= 2) read_.scan_from = data.size() - 2;
    check_max_bytes(data.size(), "empty line", "\n\n");
    return std::nullopt;
}

std::optional<std::size_t> IOStream::find_regex(std::string_view data) {
    // A match may start anywhere and grow with more bytes: search it all.
    std::cmatch match;
    if (std::regex_search(data.data(), data.data() + data.size(), match, read_.rare->pattern)) {
        auto end = static_cast<std::size_t>(match.position(0) + match.length(0));
        check_max_bytes(end, "regex", read_.rare->source);
        return end;
    }
    check_max_bytes(data.size(), "regex", read_.rare->source);
    return std::nullopt;
}

void IOStream::check_max_bytes(std::size_t size, const char* what, std::string_view shown) {
    if (size <= read_.limit) return;
    throw UnsatisfiableReadError(tornado::format("{} {} not found within {} bytes", what,
                                                 detail::quoted(shown), read_.limit));
}

// As Tornado: logged at info level (the peer's fault, not ours), and the
// stream closed with the error as its cause.
void IOStream::unsatisfiable(std::exception_ptr error) {
    if (!options_.close_on_read_limit) {
        // The owner answers, then closes: only the read fails, with the
        // limit's own error (the stream is not closed).
        fail_read(std::move(error), false);
        return;
    }
    gen_log.info("Unsatisfiable read, closing connection: {}", exception_message(error));
    close(std::move(error));
}

void IOStream::finish_read(std::string data) {
    // The read is over before anyone hears of it, so the next one may start.
    Future<std::string> future = std::move(read_.future);
    ReadCallback callback = std::move(read_.callback);
    reset_read();
    if (callback) {
        call_back_later(std::move(callback), std::move(data), nullptr);
        return;
    }
    future_set_result_unless_cancelled(future, std::move(data));
}

// The pending read (not read_into's) fails with `error`, as it is, or
// as_closed: as the cause of a StreamClosedError.
void IOStream::fail_read(std::exception_ptr error, bool as_closed) {
    Future<std::string> future = std::move(read_.future);
    ReadCallback callback = std::move(read_.callback);
    reset_read();
    if (callback) {
        if (as_closed) error = std::make_exception_ptr(StreamClosedError(error));
        call_back_later(std::move(callback), {}, std::move(error));
    } else if (as_closed) {
        fail_future(future, error);
    } else if (future.valid() && !future.done()) {
        future.set_exception(std::move(error));
    }
}

// The loop is closing (IOLoop::CLOSING): a read waiting with a callback
// will not be served. It hears CancelledError now, while the loop still
// runs what its owner does about it, as an awaited read's Future is
// cancelled then.
void IOStream::on_loop_closing() {
    if (read_.callback)
        fail_read(std::make_exception_ptr(CancelledError("the IOLoop closed")), false);
}

// From the loop, as a Future's callbacks run: the stream may be deep in its
// own work here, and the callback will start the next read. (No loop: it
// has closed, and forget_loop told the callback.)
void IOStream::call_back_later(ReadCallback callback, std::string&& data,
                               std::exception_ptr error) {
    if (loop_ == nullptr) return;
    loop_->add_callback(
        [callback = std::move(callback), data = std::move(data),
         error = std::move(error)]() mutable { callback(std::move(data), std::move(error)); });
}

bool IOStream::fill_into_from_buffer() {
    RareRead& into = *read_.rare;
    std::size_t n = std::min(read_buffer_.size(), into.buffer.size() - into.filled);
    if (n > 0) {
        std::memcpy(into.buffer.data() + into.filled, read_buffer_.view().data(), n);
        read_buffer_.consume(n);
        into.filled += n;
    }
    if (into.filled == into.buffer.size() || (read_.partial && into.filled > 0)) {
        finish_into();
        return true;
    }
    return false;
}

void IOStream::finish_into() {
    std::unique_ptr<RareRead> into = std::move(read_.rare);
    reset_read();
    future_set_result_unless_cancelled(into->future, into->filled);
}

// Ready for the next read, and what the last one owned is freed.
void IOStream::reset_read() noexcept {
    read_.mode = ReadMode::none;
    read_.partial = false;
    read_.limit = 0;
    read_.scan_from = 0;
    read_.delimiter_size = 0;
    read_.rare.reset();
    read_.future = Future<std::string>(nullptr);
    read_.callback = nullptr;
}

// --- bytes from the socket -----------------------------------------------------------------

// Stops once the read is satisfied: the rest stays in the kernel, where
// TCP's window holds the peer back (flow control), and read_ready_ stays
// true. Stopping for any other reason would strand bytes (no new edge), so
// the kMaxReadsPerEvent cap queues the rest for the next turn. A read still
// pending once the socket is drained waits: for the READ edge, or, reading
// by completion, for the recv request made here (request_recv).
void IOStream::read_from_socket() {
    // The kernel is receiving for us: a recv() beside it could take bytes
    // out of order.
    if (read_.receiving) return;
    for (int round = 0; !closed() && reading() && read_ready_; ++round) {
        if (round == kMaxReadsPerEvent) {
            continue_reading_later();
            return;
        }
        if (read_.mode == ReadMode::into) {
            // Straight into the caller's buffer: no scratch, no copy.
            RareRead& into = *read_.rare;
            std::size_t n =
                receive(into.buffer.data() + into.filled, into.buffer.size() - into.filled);
            // 0: nothing now (read_ready_ cleared), or the stream closed.
            if (n == 0) break;
            into.filled += n;
            if (into.filled == into.buffer.size() || read_.partial) finish_into();
            continue;
        }
        char* scratch = scratch_buffer();
        std::size_t n = receive(scratch, kReadChunkSize);
        if (n == 0) break;
        take_chunk(std::string_view(scratch, n));
    }
    request_recv();
}

// Reading by completion, the recv request takes the place of the READ
// edge: made when a read is pending and the socket has nothing (as far as
// the stream knows), it reports when bytes come, with the bytes. At most
// one is out. The loop's ring may (rarely) be full: then try recv() again
// next turn.
void IOStream::request_recv(bool bytes_waiting) {
    if (!by_completion_ || closed() || !reading() || read_ready_ || connecting() ||
        read_.receiving) {
        return;
    }
    read_.receiving = loop_->submit_recv(fd_.get(), bytes_waiting);
    if (!read_.receiving) {
        read_ready_ = true;
        continue_reading_later();
    }
}

// The kernel's report, with the bytes in one of the loop's buffers (ours
// only during this call). A full buffer means more may wait: recv() goes
// on for them as after an edge. ENOBUFS: bytes came while every buffer was
// in use (many streams had bytes in one turn), and are still in the
// socket: ask again, to receive at once with the next submission, when
// this turn's buffers are back.
void IOStream::on_received(int result, std::string_view bytes) {
    read_.receiving = false;
    if (closed()) return;  // (close() cancels the receive and leaves the loop first)
    if (result == -ENOBUFS) {
        request_recv(true);
        return;
    }
    if (result == -EAGAIN || result == -EINTR) {
        read_ready_ = true;
    } else if (result < 0) {
        io_error(-result, "recv");
        return;
    } else if (result == 0) {
        close();  // the peer's orderly close
        return;
    } else {
        if (bytes.size() == IOLoop::kRecvBufferSize) read_ready_ = true;
        take_received(bytes);
    }
    if (!closed()) read_from_socket();
    report_peer_fin();
}

// take_chunk, and for read_into a copy into the caller's buffer (what does
// not fit stays buffered, for the next read).
void IOStream::take_received(std::string_view bytes) {
    if (read_.mode != ReadMode::into) {
        take_chunk(bytes);
        return;
    }
    RareRead& into = *read_.rare;
    std::size_t n = std::min(bytes.size(), into.buffer.size() - into.filled);
    std::memcpy(into.buffer.data() + into.filled, bytes.data(), n);
    into.filled += n;
    read_buffer_.append(bytes.substr(n));
    if (into.filled == into.buffer.size() || read_.partial) finish_into();
    check_buffer_limit();
}

namespace {

// The system calls of IOStream (a socket) and PipeIOStream, for
// receive_with and send_with.
constexpr auto socket_recv = [](int fd, char* where, std::size_t capacity) {
    return ::recv(fd, where, capacity, 0);
};
constexpr auto pipe_read = [](int fd, char* where, std::size_t capacity) {
    return ::read(fd, where, capacity);
};
constexpr auto socket_send = [](int fd, const char* data, std::size_t size) {
    return ::send(fd, data, size, MSG_NOSIGNAL);
};
constexpr auto pipe_write = [](int fd, const char* data, std::size_t size) {
    return ::write(fd, data, size);
};

}  // namespace

template <typename ReadCall>
std::size_t IOStream::receive_with(ReadCall read_call, const char* call_name, char* where,
                                   std::size_t capacity) {
    for (;;) {
        std::ptrdiff_t n = read_call(fd_.get(), where, capacity);
        if (n > 0) {
            // Short: the kernel's queue is empty now, and the next arrival
            // raises a new edge (epoll(7) allows this test for stream
            // sockets and pipes; it saves the call that would only say
            // EAGAIN). Unless the end is known to be pending (the peer's FIN
            // came with these bytes): then read on until it shows.
            if (static_cast<std::size_t>(n) < capacity && !end_seen()) read_ready_ = false;
            return static_cast<std::size_t>(n);
        }
        // 0 only at the end of the stream (capacity is never 0 here): the
        // peer's orderly close, or every writer of a pipe has closed.
        if (n == 0) {
            close();
            return 0;
        }
        int error = errno;
        // EINTR: a signal handler ran during the call; rare on a non-blocking
        // descriptor, but allowed. EAGAIN: drained; the next arrival is an edge.
        if (error == EINTR) continue;
        if (error == EAGAIN || error == EWOULDBLOCK) {
            read_ready_ = false;
            return 0;
        }
        io_error(error, call_name);
        return 0;
    }
}

// One recv(). Returns the bytes read, or 0 when there is nothing now
// (read_ready_ is cleared) or the stream has closed (the end, or an error).
std::size_t IOStream::receive(char* where, std::size_t capacity) {
    return receive_with(socket_recv, "recv", where, capacity);
}

// Fresh bytes in the scratch buffer: what is kept must be copied out before
// returning. read_until_close only collects; close() delivers.
void IOStream::take_chunk(std::string_view fresh) {
    if (read_buffer_.empty() && read_.mode != ReadMode::until_close) {
        // The common case: nothing was buffered, so the read may end in the
        // fresh bytes. Look there, and keep only what is left over. With the
        // buffer empty, offsets into `fresh` are offsets into the buffer
        // once it is appended, so scan_from stays right.
        std::optional<std::size_t> end;
        try {
            end = find_read_end(fresh);
        } catch (const UnsatisfiableReadError&) {
            if (!options_.close_on_read_limit)
                read_buffer_.append(fresh);  // still the stream's bytes
            unsatisfiable(std::current_exception());
            return;
        }
        if (end) {
            std::string result(fresh.substr(0, *end));
            read_buffer_.append(fresh.substr(*end));  // pipelined bytes nobody asked for yet
            finish_read(std::move(result));
            check_buffer_limit();
            return;
        }
        read_buffer_.append(fresh);
    } else {
        read_buffer_.append(fresh);
        if (read_.mode != ReadMode::until_close) complete_from_buffer();
    }
    check_buffer_limit();
}

// Returns false when the buffer is over the limit (the stream is then closed,
// logged as an error, with StreamBufferFullError as the cause, as Tornado).
bool IOStream::check_buffer_limit() {
    if (closed() || read_buffer_.size() <= options_.max_buffer_size) return !closed();
    auto error = std::make_exception_ptr(StreamBufferFullError(
        tornado::format("Reached maximum read buffer size ({} bytes)", options_.max_buffer_size)));
    gen_log.error("Reached maximum read buffer size ({} bytes), closing fd {}",
                  options_.max_buffer_size, fd_.get());
    if (read_.mode == ReadMode::until_close) {
        // Not the truncated bytes as if the peer had closed: an error.
        Future<std::string> future = std::move(read_.future);
        reset_read();
        fail_future(future, error);
    }
    close(error);
    return false;
}

// A read that had its share of this event goes on at the next loop turn:
// edge-triggered, nobody would tell us again that bytes are waiting.
void IOStream::continue_reading_later() {
    // One resume at a time; it checks again, as the read may be over by then.
    if (read_resume_queued_) return;
    read_resume_queued_ = true;
    loop_->add_callback([self = shared_from_this()] {
        self->read_resume_queued_ = false;
        if (!self->closed() && self->reading() && self->read_ready_) self->read_from_socket();
    });
}

// --- writing -------------------------------------------------------------------------------

namespace {

// Linux's write() and sendfile() have no MSG_NOSIGNAL: a write to a pipe
// whose reader has gone, or a sendfile() to a connection the peer has
// reset, raises SIGPIPE, whose default action kills the process. This blocks
// SIGPIPE in the calling thread while it lives (the kernel sends that
// SIGPIPE to the thread that wrote, so blocking it here is enough), and
// take_back() removes the one a failed write left pending. A SIGPIPE that
// was pending before belongs to someone else and stays.
class SigpipeBlocked {
public:
    SigpipeBlocked() noexcept {
        sigemptyset(&sigpipe_);
        sigaddset(&sigpipe_, SIGPIPE);
        ::pthread_sigmask(SIG_BLOCK, &sigpipe_, &previous_);
        sigset_t pending;
        sigemptyset(&pending);
        ::sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
    ~SigpipeBlocked() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    SigpipeBlocked(const SigpipeBlocked&) = delete;
    SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

    // After a write that failed: takes the SIGPIPE that EPIPE left pending
    // (other errors leave none, and then it returns at once). Keeps errno.
    void take_back() noexcept {
        if (was_pending_) return;
        int saved_errno = errno;
        timespec no_wait{};
        while (::sigtimedwait(&sigpipe_, nullptr, &no_wait) < 0 && errno == EINTR) {}
        errno = saved_errno;
    }

private:
    sigset_t sigpipe_;
    sigset_t previous_;
    bool was_pending_ = false;
};

}  // namespace

Future<void> IOStream::write(std::string_view data) { return write_now(data, nullptr); }

Future<void> IOStream::write(std::string&& data) { return write_now(data, &data); }

// As write_now does with one piece, in one sendmsg() where the pieces can
// go at once; write_each otherwise.
Future<void> IOStream::write(std::span<const std::string_view> pieces) {
    std::size_t total = 0;
    for (std::string_view piece : pieces) total += piece.size();
    bool sendable = !closed() && !writes_held_ && !by_completion_ && write_buffer_.empty() &&
                    !sending_file() && write_ready_ && !connecting();
    if (!sendable || !takes_pieces() || pieces.size() > kMaxGathered)
        return write_each(pieces, total, (sendable && total <= kJoinedBytes) || by_completion_);
    if (options_.max_write_buffer_size != 0 && total > options_.max_write_buffer_size)
        throw StreamBufferFullError("Reached maximum write buffer size");
    std::size_t sent = send_pieces_now(pieces);
    bytes_written_ += sent;
    if (closed()) {
        Future<void> failed;
        fail_future(failed, error());
        return failed;
    }
    if (sent == total) return detail::done_future();
    // The rest waits for the next WRITE edge, as write_now's does.
    std::size_t skip = sent;
    for (std::string_view piece : pieces) {
        if (skip >= piece.size()) {
            skip -= piece.size();
            continue;
        }
        write_buffer_.append(piece.substr(skip));
        skip = 0;
    }
    Future<void> future;
    write_futures_.push_back({bytes_written_ + unsent_bytes(), future});
    return future;
}

// The pieces that sendmsg() cannot take: joined into one write() when each
// would be a send (or a TLS record) of its own and they are few bytes, and
// with sends by completion, where the joined string becomes the next send
// request whole (the bytes are copied once either way); else one write()
// each, which copies a queued or held piece into the buffer anyway, and
// sends a big one from the caller's bytes.
Future<void> IOStream::write_each(std::span<const std::string_view> pieces, std::size_t total,
                                  bool join) {
    if (join) {
        std::string joined;
        // Made to size first: appended piece by piece, an HTTP/2 batch of
        // 64 KiB grew by doubling, a dozen allocations and as many copies.
        joined.reserve(total);
        for (std::string_view piece : pieces) joined.append(piece);
        return write(std::move(joined));
    }
    Future<void> written(nullptr);
    for (std::string_view piece : pieces) {
        if (piece.empty()) continue;
        if (written.valid() && closed()) break;  // that write failed: its Future says so
        written = write(piece);
    }
    return written.valid() ? written : write(std::string_view());
}

// `owned`: the caller's rvalue string, which may become the write buffer.
// A write left waiting resolves when bytes_written_ reaches its end: byte
// counters, so the buffer stays one run of bytes however many writes. Its
// end is every byte taken so far plus every byte still held, its own last.
Future<void> IOStream::write_now(std::string_view data, std::string* owned) {
    if (closed()) throw StreamClosedError(error());
    if (options_.max_write_buffer_size != 0 &&
        write_buffer_size() + data.size() > options_.max_write_buffer_size) {
        throw StreamBufferFullError("Reached maximum write buffer size");
    }
    if (writes_held_) return write_held(data, owned);
    if (by_completion_) return write_by_completion(data, owned);
    std::size_t sent = 0;
    // Nothing queued before it and room in the kernel: straight from the
    // caller's bytes, and most writes end here, in one send().
    if (write_buffer_.empty() && !sending_file() && write_ready_ && !connecting()) {
        sent = send_now(data);
        bytes_written_ += sent;
        if (closed()) {
            Future<void> failed;
            fail_future(failed, error());
            return failed;
        }
        if (sent == data.size()) return detail::done_future();
    }
    // The rest waits for the next WRITE edge (the kernel's buffer is full,
    // so send() said EAGAIN and the edge will come). The other ways here
    // are bytes already queued, which also met EAGAIN, and a connect()
    // under way, whose end is an EPOLLOUT edge too.
    return queue_write(write_buffer_, data, owned, sent);
}

// The bytes of `data` after its first `sent` join `buffer` (an rvalue
// string taken over, not copied), and a Future that resolves once they
// are all sent: when bytes_written_ reaches their end.
Future<void> IOStream::queue_write(detail::StreamBuffer& buffer, std::string_view data,
                                   std::string* owned, std::size_t sent) {
    if (owned != nullptr) {
        buffer.append(std::move(*owned), sent);
    } else {
        buffer.append(data.substr(sent));
    }
    Future<void> future;
    write_futures_.push_back({bytes_written_ + unsent_bytes(), future});
    return future;
}

// An empty write_buffer_ also means no send request is out (one is made
// only for bytes there, and reads them until the kernel reports), so held
// bytes never share the buffer with bytes the kernel is reading.
bool IOStream::hold_writes() {
    if (closed() || !write_buffer_.empty() || sending_file() || !write_ready_ || connecting())
        return false;
    writes_held_ = true;
    return true;
}

void IOStream::release_writes() {
    if (!writes_held_) return;
    writes_held_ = false;
    if (!closed()) flush_write_buffer();
}

// Held: the bytes join the buffer and wait for release_writes(). A write
// that would make too many to hold ends the hold instead: what is held
// goes now, and this write after it as any other (a big body is then sent
// from the caller's bytes, not copied first).
Future<void> IOStream::write_held(std::string_view data, std::string* owned) {
    if (write_buffer_size() + data.size() > kMaxHeldBytes) {
        release_writes();
        return write_now(data, owned);
    }
    return queue_write(write_buffer_, data, owned, 0);
}

// The io_uring way: the bytes join the buffer, and the buffer goes to the
// kernel as one send request, with the turn's wait. While a request is
// out the kernel reads write_buffer_, which must not move: writes made
// meanwhile wait in queued_, and go in the next request. The Future
// resolves when the kernel reports: at the earliest the next turn, never
// inside write().
Future<void> IOStream::write_by_completion(std::string_view data, std::string* owned) {
    bool send_out = send_ != IOLoop::kNoRequest;
    // Nothing to send and nothing before it: no report will come to say so.
    if (data.empty() && !send_out && write_buffer_.empty()) return detail::done_future();
    if (send_out && !queued_) queued_ = std::make_unique<detail::StreamBuffer>();
    Future<void> future = queue_write(send_out ? *queued_ : write_buffer_, data, owned, 0);
    if (!send_out && !connecting()) submit_send();
    return future;
}

// The request holds the stream (and so write_buffer_) alive until the
// kernel reports. A ring with no room refuses it: then the bytes go out by
// send(), as on epoll, this once.
void IOStream::submit_send() {
    if (write_buffer_.empty()) return;
    constexpr std::size_t kMaxSendRequest = std::size_t{1} << 30;  // io_uring's length is 32 bits
    std::string_view bytes = write_buffer_.view().substr(0, kMaxSendRequest);
    send_ = loop_->submit_send(fd_.get(), bytes,
                               [self = shared_from_this()](int result) { self->on_sent(result); });
    if (send_ == IOLoop::kNoRequest) flush_by_readiness();
}

// The kernel's report: all of the request sent (the usual case: MSG_WAITALL
// waits for room), part of it and then an error, or an error.
void IOStream::on_sent(int result) {
    send_ = IOLoop::kNoRequest;
    // A send on a non-blocking socket can come back with EAGAIN when the
    // kernel gives up waiting for room (reported for io_uring's worker
    // threads: liburing issue 1601); the bytes are still ours to send.
    if (result == -EAGAIN || result == -EINTR) result = 0;
    if (closed() || result < 0) {
        write_buffer_.release();  // the kernel is done with it
        queued_.reset();
        if (!closed()) io_error(-result, "send");  // (closed: close() cancelled it)
        return;
    }
    bytes_written_ += static_cast<std::size_t>(result);
    write_buffer_.consume(static_cast<std::size_t>(result));
    if (write_buffer_.empty() && queued_) {
        std::swap(write_buffer_, *queued_);
        queued_.reset();
    }
    submit_send();
    resolve_write_futures();
}

// Sends until all `total` bytes are taken or the kernel is full; the bytes
// taken. `send_from(sent)` makes one system call for what follows the
// first `sent` bytes. After EAGAIN, the EPOLLOUT edge that comes when the
// send buffer drains is what brings us back.
template <typename SendFrom>
std::size_t IOStream::send_until_full(std::size_t total, const char* call_name,
                                      SendFrom send_from) {
    std::size_t sent = 0;
    while (sent < total) {
        std::ptrdiff_t n = send_from(sent);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        int error = errno;
        if (error == EINTR) continue;
        if (error == EAGAIN || error == EWOULDBLOCK) {
            write_ready_ = false;
        } else {
            io_error(error, call_name);
        }
        break;
    }
    return sent;
}

// One buffer, by `write_call` (send for a socket, write for a pipe).
// MSG_NOSIGNAL: sending on a connection the peer has reset would raise
// SIGPIPE, whose default action kills the process; with it, send() fails
// with EPIPE and only this stream closes.
template <typename WriteCall>
std::size_t IOStream::send_with(WriteCall write_call, const char* call_name,
                                std::string_view data) {
    return send_until_full(data.size(), call_name, [&](std::size_t sent) {
        return write_call(fd_.get(), data.data() + sent, data.size() - sent);
    });
}

std::size_t IOStream::send_now(std::string_view data) {
    return send_with(socket_send, "send", data);
}

// Several buffers, by sendmsg() (writev() with MSG_NOSIGNAL), each call from
// the first byte not taken yet.
std::size_t IOStream::send_pieces_now(std::span<const std::string_view> pieces) {
    std::size_t total = 0;
    for (std::string_view piece : pieces) total += piece.size();
    return send_until_full(total, "sendmsg", [&](std::size_t sent) {
        std::array<iovec, kMaxGathered> vectors{};
        std::size_t count = 0;
        std::size_t skip = sent;
        for (std::string_view piece : pieces) {
            if (skip >= piece.size()) {
                skip -= piece.size();
                continue;
            }
            vectors[count++] = {const_cast<char*>(piece.data() + skip), piece.size() - skip};
            skip = 0;
        }
        msghdr message{};
        message.msg_iov = vectors.data();
        message.msg_iovlen = count;
        return ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL);
    });
}

// On a WRITE edge, after connect() and at a hold's release. A send error
// has closed the stream. With sends by completion, WRITE edges mean
// nothing: the kernel waits for room itself. Held bytes wait for their
// release, whatever edges come meanwhile (edge-triggered epoll reports
// the socket writable with every edge, a read's included).
void IOStream::flush_write_buffer() {
    if (writes_held_) return;
    if (by_completion_) {
        if (send_ == IOLoop::kNoRequest) submit_send();
        return;
    }
    flush_by_readiness();
}

// With a file being sent, the buffer holds the bytes written before it
// (up to its starts_at) and those written after: the first go, then the
// file, then the rest.
void IOStream::flush_by_readiness() {
    if (FileSend* file = sending_file()) {
        send_buffered(file->starts_at - bytes_written_);
        if (!closed() && bytes_written_ == file->starts_at) send_file_now(*file);
        if (closed()) return;
        if (file->bytes.count != 0) {
            resolve_write_futures();
            return;
        }
        extras_->file.reset();
    }
    send_buffered(write_buffer_.size());
    if (closed()) return;
    resolve_write_futures();
}

// The buffer's first `count` bytes, as many as the kernel takes.
void IOStream::send_buffered(std::size_t count) {
    if (count == 0 || !write_ready_) return;
    std::size_t sent = send_now(write_buffer_.view().substr(0, count));
    bytes_written_ += sent;
    if (closed()) return;  // close() has let the buffer go
    write_buffer_.consume(sent);
}

std::size_t IOStream::unsent_bytes() const noexcept {
    FileSend* file = sending_file();
    return write_buffer_size() + (file ? file->bytes.count : 0);
}

bool IOStream::sends_file_now() const noexcept {
    return !closed() && !by_completion_ && sends_gathered() && !connecting() && !sending_file();
}

// The file's bytes join the stream's order as a write's would: after
// what is buffered, by its byte count (starts_at), so the waiters' ends
// work unchanged.
Future<void> IOStream::write_file(FileBytes file) {
    if (closed()) throw StreamClosedError(error());
    if (!sends_file_now()) {
        throw std::logic_error(
            "IOStream::write_file: this stream cannot send a file now (see sends_file_now)");
    }
    release_writes();
    if (closed()) {  // sending what was held failed
        Future<void> failed;
        fail_future(failed, error());
        return failed;
    }
    if (file.count == 0) return write(std::string_view());
    std::uint64_t starts_at = bytes_written_ + write_buffer_.size();
    extras().file = std::make_unique<FileSend>(FileSend{std::move(file), starts_at});
    Future<void> future;
    write_futures_.push_back({bytes_written_ + unsent_bytes(), future});
    flush_by_readiness();
    return future;
}

// sendfile() until the file's bytes are sent or the kernel is full. It
// has no MSG_NOSIGNAL: SIGPIPE is blocked around it (SigpipeBlocked). A
// file that ends early (cut short since it was opened) leaves the peer
// waiting for bytes that will not come: the stream closes.
void IOStream::send_file_now(FileSend& file) {
    // Linux sends at most this much per call anyway (0x7ffff000 bytes).
    constexpr std::size_t kMaxPerCall = std::size_t{1} << 30;
    SigpipeBlocked sigpipe_blocked;
    while (file.bytes.count != 0) {
        auto offset = static_cast<off_t>(file.bytes.offset);
        ssize_t n =
            ::sendfile(fd_.get(), file.bytes.fd, &offset, std::min(file.bytes.count, kMaxPerCall));
        if (n > 0) {
            auto sent = static_cast<std::size_t>(n);
            file.bytes.offset += n;
            file.bytes.count -= sent;
            file.starts_at += sent;
            bytes_written_ += sent;
            continue;
        }
        if (n == 0) {
            close(std::make_exception_ptr(std::runtime_error(tornado::format(
                "sendfile: the file ended {} bytes before the end to send", file.bytes.count))));
            return;
        }
        int error = errno;
        if (error == EINTR) continue;
        if (error == EAGAIN || error == EWOULDBLOCK) {
            write_ready_ = false;
            return;
        }
        sigpipe_blocked.take_back();
        io_error(error, "sendfile");
        return;
    }
}

// Waiters are in the order of their ends: the finished ones are a prefix.
void IOStream::resolve_write_futures() {
    std::size_t finished = 0;
    while (finished < write_futures_.size() && write_futures_[finished].end <= bytes_written_) {
        future_set_result_unless_cancelled(write_futures_[finished].future);
        ++finished;
    }
    if (finished == 0) return;
    write_futures_.erase(write_futures_.begin(),
                         write_futures_.begin() + static_cast<long>(finished));
    if (write_futures_.empty()) std::vector<WriteWaiter>().swap(write_futures_);  // idle: no memory
}

// --- connecting ------------------------------------------------------------------------------

Future<std::shared_ptr<IOStream>> IOStream::connect(const SocketAddress& address) {
    if (closed()) throw StreamClosedError(error());
    if (connecting()) throw std::logic_error("IOStream::connect: already connecting");
    extras().connecting =
        std::make_unique<Connecting>(Connecting{Future<std::shared_ptr<IOStream>>(), address});
    life_ = Life::connecting;
    Future<std::shared_ptr<IOStream>> future = extras_->connecting->future;
    // Until handle_connect, write() queues its bytes; a read just waits,
    // since no READ edge can come before the connection is up.
    write_ready_ = false;
    if (::connect(fd_.get(), address.data(), address.size()) == 0) {
        handle_connect(EPOLLOUT);  // at once (possible on loopback)
        return future;
    }
    int error = errno;
    // In progress: the socket becomes writable (or reports an error) when
    // the handshake is over. EINTR on a non-blocking connect() does not
    // abort it: POSIX says the connection goes on asynchronously.
    if (error == EINPROGRESS || error == EINTR) return future;
    close(std::make_exception_ptr(
        std::system_error(error, std::generic_category(), "connect to " + address.to_string())));
    return future;
}

// A non-blocking connect()'s outcome is in SO_ERROR once the socket turns
// writable (connect(2)); ERR or HUP with SO_ERROR clear still means failure,
// reported as ECONNREFUSED.
void IOStream::handle_connect(std::uint32_t events) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
    if (error == 0 && (events & (EPOLLERR | EPOLLHUP)) != 0) error = ECONNREFUSED;
    if (error != 0) {
        close(std::make_exception_ptr(
            std::system_error(error, std::generic_category(),
                              "connect to " + extras_->connecting->address.to_string())));
        return;
    }
    std::unique_ptr<Connecting> connecting = std::move(extras_->connecting);
    life_ = Life::open;
    write_ready_ = true;
    future_set_result_unless_cancelled(connecting->future, shared_from_this());
    flush_write_buffer();  // what was written while connecting
    request_recv();        // a read made while connecting (by completion; epoll waits for READ)
}

// --- TLS -------------------------------------------------------------------------------------

// Tornado's start_tls: the socket leaves this stream without being closed
// (unregistered, so the new stream can register it) and goes to an
// SSLIOStream. Only an idle stream can do this: bytes already read or
// queued belong to the plain-text conversation.
Future<std::shared_ptr<SSLIOStream>> IOStream::start_tls(bool server_side,
                                                         const SSLOptions& options,
                                                         std::string server_hostname) {
    if (closed()) throw StreamClosedError(error());
    if (reading() || writing() || connecting() || !read_buffer_.empty()) {
        throw std::logic_error(
            "IOStream::start_tls: the stream is busy (a read or write pending, unread bytes, "
            "or a connect under way)");
    }
    SSLContext context = ssl_options_to_context(options, server_side);
    // The loop's hold on this stream may be the last reference.
    std::shared_ptr<IOStream> self = shared_from_this();
    life_ = Life::closed;  // first: the handler's removal must not take it for the loop's close
    loop_->remove_handler(fd_.get());
    std::shared_ptr<SSLIOStream> secure = SSLIOStream::create(std::move(fd_), context, server_side,
                                                              std::move(server_hostname), options_);
    if (close_callback_) secure->set_close_callback(std::move(close_callback_));
    close_callback_ = nullptr;
    if (options.handshake_timeout) secure->set_handshake_timeout(*options.handshake_timeout);
    return secure->wait_for_handshake();
}

// --- events ------------------------------------------------------------------------------------

// The bits only set the flags; the flags drive the work. ERR or HUP sets
// them all, so a pending recv() or send() meets the real error with its
// errno. With no read pending nothing is read (flow control).
void IOStream::handle_events(std::uint32_t events) {
    if (closed()) return;
    constexpr std::uint32_t kTrouble = EPOLLERR | EPOLLHUP;
    if (events & (EPOLLIN | EPOLLRDHUP | kTrouble)) read_ready_ = true;
    if (events & (EPOLLOUT | kTrouble)) write_ready_ = true;
    // While connecting only the outcome matters; what the readiness learnt
    // meanwhile is kept for later. (No FIN can come before the connection
    // is up: an end comes with the edge that ends connecting, or later.)
    if (connecting()) {
        if ((events & (EPOLLOUT | kTrouble)) == 0) return;
        handle_connect(events);
        if (closed()) return;
    }
    if (events & (EPOLLRDHUP | kTrouble)) see_end();
    if (reading() && read_ready_) read_from_socket();
    if (!closed() && (!write_buffer_.empty() || sending_file())) flush_write_buffer();
    // A reset or a hang-up: whatever a pending read could still get, it has
    // had (unless it is to go on next turn, or a receive is out: its report,
    // bytes, the end or the error, comes next). Tornado closes here too; a
    // peer that only half-closed (RDHUP alone) may still be written to.
    if (!closed() && (events & kTrouble) != 0 && !read_resume_queued_ && !read_.receiving) {
        close(socket_error());
    }
    report_peer_fin();
}

// The peer's FIN or an error is waiting in the socket: reads go on until
// they meet it. A stream connecting cannot see one (handle_events asks
// after the connection is up), and a closed one has no use for it.
void IOStream::see_end() noexcept {
    if (life_ == Life::open) life_ = Life::end_seen;
}

// Reading SO_ERROR also clears it. 0 (a plain hang-up) is an orderly close:
// error() stays null.
std::exception_ptr IOStream::socket_error() const {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
    if (error == 0) return nullptr;
    return std::make_exception_ptr(
        std::system_error(error, std::generic_category(), "socket error"));
}

// As Tornado: a read or write error is logged as a warning unless the peer
// merely went away (_is_connreset), and it closes the stream as the cause.
void IOStream::io_error(int error, const char* call) {
    if (!is_connection_reset(error)) {
        gen_log.warning("{} error on fd {}: {}", call, fd_.get(), std::strerror(error));
    }
    close(std::make_exception_ptr(std::system_error(error, std::generic_category(), call)));
}

void IOStream::set_nodelay(bool value) {
    if (closed() || nodelay_ == static_cast<std::int8_t>(value)) return;
    int flag = value ? 1 : 0;
    // Fails on a Unix socket, or one the peer has just reset: nothing to do.
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &flag, sizeof flag);
    nodelay_ = static_cast<std::int8_t>(value);
}

// --- closing -------------------------------------------------------------------------------------

// The life is closed first: what runs from here on (complete_from_buffer
// meeting a limit again, a destructor, the loop's hold let go) cannot
// close the stream twice.
void IOStream::close(std::exception_ptr error) {
    if (closed()) return;
    // Held bytes are written, as far as their writers know: on an orderly
    // close they go first, as much as the kernel takes now. By send() on
    // either backend: no send request is out while writes are held, and one
    // made now would be cancelled below. A close for an error drops them,
    // as it drops every unsent byte.
    if (writes_held_) {
        writes_held_ = false;
        if (!error) {
            flush_by_readiness();
            if (closed()) return;  // the send failed, and closed the stream
        }
    }
    life_ = Life::closed;
    if (error) extras().error = std::move(error);
    // Unregistering drops the loop's reference, perhaps the last: hold one
    // until this function returns.
    std::shared_ptr<IOStream> self = shared_from_this();
    // Reads the bytes already here can finish, finish (Tornado's close()).
    if (read_.mode == ReadMode::until_close) {
        finish_read(read_buffer_.take(read_buffer_.size()));
    } else if (reading()) {
        complete_from_buffer();
    }
    // A request the kernel has not finished holds the socket open: cancel
    // it (a send's bytes are dropped, as unsent bytes are on epoll), so
    // that the close below closes the connection now. The receive first:
    // the loop names it by the handler, about to go.
    if (read_.receiving) loop_->cancel_recv(fd_.get());
    read_.receiving = false;
    if (send_ != IOLoop::kNoRequest) loop_->cancel_request(send_);
    // Out of the epoll set before the descriptor is closed (its number may go
    // to the next accept()). The life is closed already, so LoopHold's
    // destructor does not take this for the loop's own close.
    loop_->remove_handler(fd_.get());
    close_transport();
    fd_.reset();
    fail_pending();
    // Unsent bytes are dropped; read_buffer_ stays, for reads it can still
    // satisfy (iostream.h).
    // (A send still out keeps its bytes until the kernel reports: it may
    // be reading them.)
    if (send_ == IOLoop::kNoRequest) write_buffer_.release();
    queued_.reset();
    if (extras_) {
        extras_->file.reset();                 // unsent, as the buffer's bytes
        extras_->peer_fin_callback = nullptr;  // the close callback says it all now
    }
    schedule_close_callback();
}

// Each Future is moved out of the stream before it fails, so the stream is
// already consistent (no read pending) when its waiters run.
void IOStream::fail_pending() {
    std::exception_ptr cause = error();
    if (reading()) {
        std::unique_ptr<RareRead> into = std::move(read_.rare);  // read_into's Future, if any
        fail_read(cause, true);
        if (into) fail_future(into->future, cause);
    }
    std::vector<WriteWaiter> writes = std::move(write_futures_);
    write_futures_.clear();
    for (WriteWaiter& waiter : writes) fail_future(waiter.future, cause);
    if (extras_ && extras_->connecting) {  // close() came while connecting
        std::unique_ptr<Connecting> connecting = std::move(extras_->connecting);
        fail_future(connecting->future, cause);
    }
}

void IOStream::set_close_callback(CloseCallback callback) {
    close_callback_ = std::move(callback);
    if (closed()) schedule_close_callback();
}

void IOStream::set_peer_fin_callback(CloseCallback callback) {
    if (!callback && !extras_) return;
    extras().peer_fin_callback = std::move(callback);
    report_peer_fin();
}

// The end seen with no read pending: the FIN is known, and nobody will
// read up to it. (A pending read reads on until it shows, then closes.)
void IOStream::report_peer_fin() {
    if (!extras_ || !extras_->peer_fin_callback || !end_seen() || reading() || loop_ == nullptr)
        return;
    loop_->add_callback(
        [callback = std::move(extras_->peer_fin_callback)]() mutable { callback(); });
    extras_->peer_fin_callback = nullptr;
}

void IOStream::schedule_close_callback() {
    if (!close_callback_ || loop_ == nullptr) return;
    // From the loop, never from inside close(): whoever closed the stream
    // finishes what it was doing first.
    loop_->add_callback([callback = std::move(close_callback_)]() mutable { callback(); });
    close_callback_ = nullptr;
}

// The loop is closing with this stream still registered: there is no loop
// left to unregister from or to run callbacks on. Drop the callbacks too,
// since they often hold the stream itself. Pending Futures are dropped, not
// failed: close() has cancelled the awaited ones already, and no loop is
// left to run their callbacks. A read's callback, which close() cannot
// see, is called here instead (at the end).
void IOStream::forget_loop() noexcept {
    ReadCallback callback = std::move(read_.callback);
    life_ = Life::closed;
    loop_ = nullptr;
    fd_.reset();
    reset_read();
    write_futures_.clear();
    if (extras_) {
        extras_->connecting.reset();
        extras_->peer_fin_callback = nullptr;
    }
    close_callback_ = nullptr;
    write_buffer_.release();
    // The loop has cancelled its requests and waited for their reports first.
    send_ = IOLoop::kNoRequest;
    read_.receiving = false;
    queued_.reset();
    // A read waiting with a callback is told now, with CancelledError, as
    // an awaited Future is cancelled when its loop closes: its owner may
    // have to let go of things (the HTTP server's list of connections).
    if (callback) {
        try {
            callback({}, std::make_exception_ptr(CancelledError("the IOLoop closed")));
        } catch (...) {
            gen_log.error("Exception in a read's callback as the loop closed: {}",
                          exception_message(std::current_exception()));
        }
    }
}

// --- PipeIOStream -------------------------------------------------------------------

std::shared_ptr<PipeIOStream> PipeIOStream::create(FileDescriptor fd, IOStreamOptions options) {
    if (!fd) throw std::invalid_argument("PipeIOStream::create: no descriptor");
    make_non_blocking(fd);
    auto stream = std::make_shared<PipeIOStream>(Key{}, std::move(fd), options);
    stream->watch();
    return stream;
}

PipeIOStream::PipeIOStream(Key key, FileDescriptor fd, IOStreamOptions options)
    : IOStream(key, std::move(fd), options) {}

// What epoll says about a pipe, told in a socket's words so that
// IOStream::handle_events does the rest. The read end says EPOLLHUP once
// every writer has closed, usually with bytes still in the pipe: that is
// the peer's FIN (RDHUP), not a hang-up to close on at once. The write end
// says EPOLLERR once the reader has closed: a queued write meets EPIPE,
// and an idle stream is closed as a reset socket would be. (IOStream's
// own handling of both reads SO_ERROR, which a pipe does not have.)
void PipeIOStream::handle_events(std::uint32_t events) {
    bool reader_gone = (events & EPOLLERR) != 0;
    if ((events & EPOLLHUP) != 0) events = (events & ~EPOLLHUP) | EPOLLIN | EPOLLRDHUP;
    if (reader_gone) events = (events & ~EPOLLERR) | EPOLLOUT;
    IOStream::handle_events(events);
    if (reader_gone && !closed()) {
        close(std::make_exception_ptr(std::system_error(EPIPE, std::generic_category(), "write")));
    }
}

// IOStream::receive with read(): the same contract and the same loop.
std::size_t PipeIOStream::receive(char* where, std::size_t capacity) {
    return receive_with(pipe_read, "read", where, capacity);
}

// IOStream::send_now with write(), SIGPIPE held off (see SigpipeBlocked).
// A full pipe says EAGAIN; the EPOLLOUT edge comes once its reader drains it.
std::size_t PipeIOStream::send_now(std::string_view data) {
    SigpipeBlocked sigpipe_blocked;
    std::size_t sent = send_with(pipe_write, "write", data);
    // A write that failed has closed the stream; EPIPE also left a SIGPIPE
    // pending, to take before the signal is unblocked.
    if (closed()) sigpipe_blocked.take_back();
    return sent;
}

// --- lingering_close ------------------------------------------------------------

namespace {

// RFC 9112 section 9.6's staged close: FIN first, then read and drop what
// the peer sends. The deadline holds only a weak_ptr: a timer must not keep
// alive a stream that is otherwise done.
Task<void> linger(std::shared_ptr<IOStream> stream, Future<void> flushed,
                  IOLoop::Clock::duration max_time, std::size_t max_bytes) {
    IOLoop& loop = stream->io_loop();
    IOLoop::Timeout deadline = loop.call_later(max_time, [weak = std::weak_ptr<IOStream>(stream)] {
        if (std::shared_ptr<IOStream> open = weak.lock()) open->close();
    });
    try {
        if (flushed.valid()) co_await std::move(flushed);
        // Someone else's read is pending and reads cannot be shared: close.
        if (stream->reading()) throw StreamClosedError();
        if (!stream->closed()) ::shutdown(stream->fileno(), SHUT_WR);
        std::size_t drained = 0;
        // Each read takes whatever has come, up to a chunk; the peer's FIN
        // (recv() returns 0) closes the stream and fails the read.
        while (drained < max_bytes && !stream->closed()) {
            std::string dropped = co_await stream->read_bytes(IOStream::kReadChunkSize, true);
            drained += dropped.size();
        }
    } catch (...) {
        // Closed, reset, or the loop is closing: nothing more to drain.
    }
    loop.remove_timeout(deadline);
    stream->close();
}

}  // namespace

Future<void> lingering_close(std::shared_ptr<IOStream> stream, Future<void> flushed,
                             IOLoop::Clock::duration max_time, std::size_t max_bytes) {
    if (stream->closed()) return detail::done_future();
    return linger(std::move(stream), std::move(flushed), max_time, max_bytes);
}

}  // namespace tornado
