// iostream.cpp: see iostream.h for the contract, the chapter README for the
// story. Reading is a small state machine:
//
//   read_*() ──► pending read ──(next loop turn)──► try_read_from_buffer()
//                                                     │ found the end?
//                                  yes ◄──────────────┤
//                   finish_read(): callback(data)     │ no: READ on, wait
//                                                     ▼
//                   socket readable ──► read_from_socket() ──► try again
//                                        (EOF: handle_peer_closed)
#include "iostream.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <utility>

namespace course {

namespace {

// Why epoll reported an error or hang-up on fd.
std::string socket_error_reason(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) error = errno;
    if (error == 0) return "the connection was hung up";
    return "socket error: " + std::generic_category().message(error);
}

std::string over_limit(const char* what, std::size_t max_bytes) {
    return std::string(what) + " not found within max_bytes (" + std::to_string(max_bytes) + ")";
}

}  // namespace

// Tornado's rule too: an exception from the application's callback is logged
// and closes the stream, so that a connection nobody serves never lingers.
template <typename Function>
void IOStream::run_user_callback(const char* what, Function& function) {
    try {
        function();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "IOStream: exception in %s: %s\n", what, error.what());
        close_because(std::string("exception in ") + what + ": " + error.what());
    }
}

// --- making a stream -------------------------------------------------------

std::shared_ptr<IOStream> IOStream::create(FileDescriptor fd, IOLoop& loop,
                                           std::size_t max_buffer_size) {
    set_nonblocking(fd.get());
    auto stream = std::make_shared<IOStream>(Key{}, std::move(fd), loop, max_buffer_size);
    // The handler owns the stream (through a LoopHold): while the stream is
    // registered, the loop keeps it alive. close() unregisters, letting go.
    struct LoopHold {
        std::shared_ptr<IOStream> stream;
        // Dropped while the stream is open: the loop itself is going away.
        ~LoopHold() {
            if (stream) stream->forget_loop();
        }
    };
    auto hold = std::make_shared<LoopHold>();
    hold->stream = stream;
    loop.add_handler(
        stream->fileno(),
        [hold](int, std::uint32_t events) { hold->stream->handle_events(events); }, 0);
    return stream;
}

IOStream::IOStream(Key, FileDescriptor fd, IOLoop& loop, std::size_t max_buffer_size)
    : fd_(std::move(fd)), loop_(loop), max_buffer_size_(max_buffer_size) {}

// Nothing to unregister: a registered stream cannot be destroyed (the loop
// holds it), except by the loop's own destruction, when it must not be
// called back.
IOStream::~IOStream() = default;

// --- the read calls ----------------------------------------------------------

void IOStream::read_until(std::string delimiter, ReadCallback callback, std::size_t max_bytes) {
    if (delimiter.empty()) throw std::invalid_argument("read_until: empty delimiter");
    PendingRead read{ReadMode::Until, std::move(callback)};
    read.delimiter = std::move(delimiter);
    read.max_bytes = max_bytes;
    start_read(std::move(read));
}

void IOStream::read_until_regex(std::regex pattern, ReadCallback callback, std::size_t max_bytes) {
    PendingRead read{ReadMode::Regex, std::move(callback)};
    read.pattern = std::move(pattern);
    read.max_bytes = max_bytes;
    start_read(std::move(read));
}

void IOStream::read_bytes(std::size_t n, ReadCallback callback, bool partial) {
    PendingRead read{ReadMode::Bytes, std::move(callback)};
    read.bytes = n;
    read.partial = partial;
    start_read(std::move(read));
}

void IOStream::read_until_close(ReadCallback callback) {
    start_read(PendingRead{ReadMode::UntilClose, std::move(callback)});
}

void IOStream::start_read(PendingRead read) {
    throw_if_closed();
    if (pending_read_) {
        throw std::logic_error("IOStream: a read is already pending (one read at a time)");
    }
    pending_read_ = std::move(read);
    // Even if the buffer already holds the answer, the callback runs from
    // the loop, never from in here: see "Callbacks always run from the
    // IOLoop" in iostream.h.
    loop_.add_callback([self = shared_from_this()] { self->try_read_from_buffer(); });
}

// --- the read state machine --------------------------------------------------

void IOStream::try_read_from_buffer() {
    if (closed_ || !pending_read_) return;  // already done (or closed) meanwhile
    std::optional<std::size_t> end = find_read_end();
    if (closed_) return;  // a limit was broken
    if (end) {
        finish_read(*end);
    } else if (peer_closed_) {
        handle_peer_closed();  // no more bytes will ever come to finish it
        return;
    }
    update_interest();  // READ on while a read still waits for bytes
}

// Where the pending read ends in the buffer, if the buffer holds all of it.
std::optional<std::size_t> IOStream::find_read_end() {
    switch (pending_read_->mode) {
    case ReadMode::Until: return find_delimiter();
    case ReadMode::Regex: return find_regex();
    case ReadMode::Bytes: return bytes_ready();
    case ReadMode::UntilClose: return std::nullopt;  // only the peer's close ends it
    }
    return std::nullopt;
}

std::optional<std::size_t> IOStream::find_delimiter() {
    PendingRead& read = *pending_read_;
    std::string_view data = read_buffer_.view();
    std::size_t found = data.find(read.delimiter, read.scan_from);
    if (found == std::string_view::npos) {
        // Bytes already searched need not be searched again, except the
        // last few: a delimiter may be split across two reads ("\r" | "\n").
        if (data.size() >= read.delimiter.size()) {
            read.scan_from = data.size() - read.delimiter.size() + 1;
        }
        // A delimiter that starts later would end after max_bytes.
        if (read.max_bytes > 0 && data.size() >= read.max_bytes) {
            close_because(over_limit("delimiter", read.max_bytes));
        }
        return std::nullopt;
    }
    std::size_t end = found + read.delimiter.size();
    if (read.max_bytes > 0 && end > read.max_bytes) {
        close_because(over_limit("delimiter", read.max_bytes));
        return std::nullopt;
    }
    return end;
}

std::optional<std::size_t> IOStream::find_regex() {
    const PendingRead& read = *pending_read_;
    std::string_view data = read_buffer_.view();
    std::cmatch match;
    // A match can start anywhere and grow with more bytes, so unlike the
    // delimiter search this one starts from the front every time.
    if (std::regex_search(data.data(), data.data() + data.size(), match, read.pattern)) {
        std::size_t end = static_cast<std::size_t>(match.position(0) + match.length(0));
        if (read.max_bytes > 0 && end > read.max_bytes) {
            close_because(over_limit("regex", read.max_bytes));
            return std::nullopt;
        }
        return end;
    }
    if (read.max_bytes > 0 && data.size() >= read.max_bytes) {
        close_because(over_limit("regex", read.max_bytes));
    }
    return std::nullopt;
}

std::optional<std::size_t> IOStream::bytes_ready() const {
    const PendingRead& read = *pending_read_;
    std::size_t available = read_buffer_.size();
    if (available >= read.bytes) return read.bytes;
    if (read.partial && available > 0) return available;
    return std::nullopt;
}

void IOStream::finish_read(std::size_t length) {
    // The read is over before its callback runs, so the callback may start
    // the next one.
    ReadCallback callback = std::move(pending_read_->callback);
    pending_read_.reset();
    std::string data = read_buffer_.take(length);
    auto deliver = [&] { callback(std::move(data)); };
    run_user_callback("read callback", deliver);
}

// --- bytes from the socket ---------------------------------------------------

void IOStream::handle_readable() {
    read_from_socket();
    if (!closed_) check_buffer_limit();
    if (!closed_) try_read_from_buffer();
}

// One read() per readiness event, through a scratch block (see below).
// The loop is level-triggered: if more is waiting, we are called again next
// turn, after the other connections have had theirs.
void IOStream::read_from_socket() {
    // Read into one scratch block shared by every stream of this thread,
    // then keep only the bytes that came. Reading straight into the stream's
    // own buffer would make it 64 KiB the first time, for the rest of the
    // connection's life: 10,000 idle keep-alive connections would hold
    // 640 MB (`make bench` showed exactly that before this change).
    thread_local char scratch[kReadChunkSize];
    long n = 0;
    try {
        n = read_some(fd_.get(), scratch, sizeof scratch);
    } catch (const std::system_error& error) {
        close_because("read error: " + error.code().message());
        return;
    }
    if (n == kWouldBlock) return;
    if (n == 0) {
        // End of stream. Do not close yet: the bytes already buffered may
        // finish the pending read, or reads the application starts next
        // (pipelined requests before a half-close). try_read_from_buffer
        // closes once a read needs more than the buffer holds.
        peer_closed_ = true;
        return;
    }
    read_buffer_.append(std::string_view(scratch, static_cast<std::size_t>(n)));
}

// End of stream, and the buffer cannot finish the pending read: nothing
// more ever will, so close. Only read_until_close was waiting for exactly
// this.
void IOStream::handle_peer_closed() {
    if (pending_read_ && pending_read_->mode == ReadMode::UntilClose) {
        ReadCallback callback = std::move(pending_read_->callback);
        std::string data = read_buffer_.take(read_buffer_.size());
        close_because(std::string(kClosedByPeer));
        auto deliver = [&] { callback(std::move(data)); };
        run_user_callback("read callback", deliver);
        return;
    }
    close_because(std::string(kClosedByPeer));
}

void IOStream::check_buffer_limit() {
    if (read_buffer_.size() > max_buffer_size_) {
        close_because("read buffer full: more than " + std::to_string(max_buffer_size_) +
                      " bytes (max_buffer_size)");
    }
}

// --- writing -------------------------------------------------------------------

void IOStream::write(std::string_view data, WriteCallback callback) {
    throw_if_closed();
    write_buffer_.append(data);
    bytes_queued_ += data.size();
    if (callback) write_waiters_.push_back({bytes_queued_, std::move(callback)});
    // Try now: usually the kernel takes it all and no WRITE event is needed.
    flush_write_buffer();
    if (closed_) return;
    if (!write_waiters_.empty() && write_waiters_.front().end <= bytes_written_) {
        // Done already, but the callback still runs from the loop.
        loop_.add_callback([self = shared_from_this()] { self->run_finished_write_callbacks(); });
    }
    update_interest();  // WRITE on if bytes are left over
}

// Sends until the buffer is empty or the kernel's send buffer is full (a
// "partial write": the rest waits for the next WRITE event).
void IOStream::flush_write_buffer() {
    while (!write_buffer_.empty()) {
        std::size_t sent = 0;
        try {
            sent = write_some(fd_.get(), write_buffer_.view());
        } catch (const std::system_error& error) {
            close_because("write error: " + error.code().message());
            return;
        }
        if (sent == 0) return;
        write_buffer_.consume(sent);
        bytes_written_ += sent;
    }
}

void IOStream::run_finished_write_callbacks() {
    while (!closed_ && !write_waiters_.empty() && write_waiters_.front().end <= bytes_written_) {
        WriteCallback callback = std::move(write_waiters_.front().callback);
        write_waiters_.pop_front();
        run_user_callback("write callback", callback);
    }
}

// --- events and closing -----------------------------------------------------------

void IOStream::handle_events(std::uint32_t events) {
    if (closed_) return;
    if ((events & IOLoop::READ) && pending_read_) handle_readable();
    if (!closed_ && (events & IOLoop::WRITE)) {
        flush_write_buffer();
        run_finished_write_callbacks();
    }
    // Errors last: data that arrived before a reset is still delivered.
    if (!closed_ && (events & IOLoop::ERROR)) close_because(socket_error_reason(fd_.get()));
    update_interest();
}

// Asks the loop for READ only while a read waits for bytes, and for WRITE
// only while bytes wait to be sent. Reading nothing when nobody asked is
// what lets TCP flow control hold back a peer that sends too fast.
void IOStream::update_interest() {
    if (closed_) return;
    // After end of stream there is nothing left to read: asking for READ
    // would only report the same end of stream every turn.
    std::uint32_t wanted = (pending_read_ && !peer_closed_ ? IOLoop::READ : 0) |
                           (write_buffer_.empty() ? 0 : IOLoop::WRITE);
    if (wanted == interest_) return;
    loop_.update_handler(fd_.get(), wanted);
    interest_ = wanted;
}

void IOStream::throw_if_closed() const {
    if (closed_) throw StreamClosedError(close_reason_);
}

void IOStream::close() {
    close_because(std::string(kClosedByApplication));
}

void IOStream::close_because(std::string reason) {
    if (closed_) return;
    // Unregistering drops the loop's reference, which may be the last one:
    // hold our own until this function returns.
    std::shared_ptr<IOStream> self = shared_from_this();
    closed_ = true;
    close_reason_ = std::move(reason);
    loop_.remove_handler(fd_.get());
    fd_.reset();
    // Dropping the callbacks also frees whatever they captured (often the
    // stream itself: that is how the reference cycle is broken).
    pending_read_.reset();
    write_waiters_.clear();
    read_buffer_ = StreamBuffer();
    write_buffer_ = StreamBuffer();
    loop_.add_callback([self] { self->run_close_callback(); });
}

// The loop is being destroyed with this stream still open. There is no
// loop left to unregister from or to run callbacks on; drop the callbacks,
// since a stream kept alive only by its own callbacks would never be freed.
void IOStream::forget_loop() {
    if (closed_) return;
    closed_ = true;
    close_reason_ = "the IOLoop was destroyed";
    fd_.reset();
    pending_read_.reset();
    write_waiters_.clear();
    close_callback_ = nullptr;
}

void IOStream::set_close_callback(CloseCallback callback) {
    close_callback_ = std::move(callback);
    if (closed_) loop_.add_callback([self = shared_from_this()] { self->run_close_callback(); });
}

void IOStream::run_close_callback() {
    // Taken out first: each callback set runs at most once.
    CloseCallback callback = std::exchange(close_callback_, nullptr);
    if (callback) run_user_callback("close callback", callback);
}

}  // namespace course
