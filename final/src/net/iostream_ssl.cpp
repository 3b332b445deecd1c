// tornado/iostream.h's SSLIOStream: IOStream's buffers over OpenSSL.
//
// OpenSSL does the socket calls itself, through a BIO (its I/O object),
// so the stream's three socket-facing functions become SSL calls:
//
//   handle_events  the handshake first, then IOStream's own, with the
//                  crossed wants below folded into the events;
//   receive        SSL_read: one TLS record's worth of plain bytes;
//   send_now       SSL_write: one record at a time (partial writes on),
//                  the records gathered into sends of up to 64 KiB; and
//                  send_pieces_now the same, each record's bytes taken
//                  from the pieces (an HTTP/2 frame's head, a file's bytes).
//
// Each SSL call can end in "want read" or "want write": the socket had
// nothing, or no room. Edge-triggered, that is the same as EAGAIN: the
// flag is cleared and the next edge brings us back. What is new is that a
// read can want a write (and the other way round); see iostream.h.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "net/openssl_error.h"
#include "tornado/iostream.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// --- the socket BIO ---------------------------------------------------------------------

// OpenSSL's own socket BIO writes with write(2), and writing to a
// connection the peer has reset raises SIGPIPE, which kills the process by
// default (IOStream's send() passes MSG_NOSIGNAL for this reason). This BIO
// is the same few lines with send(MSG_NOSIGNAL) and recv(), and it does not
// own the descriptor: the stream closes it. It also tells the stream
// whether the last recv() emptied the kernel's queue (SSLIOStream::SocketBIO).
SSLIOStream::SocketBIO& state_of(BIO* bio) {
    return *static_cast<SSLIOStream::SocketBIO*>(BIO_get_data(bio));
}

// EAGAIN (and EINTR, which the caller retries) mark the call as "retry":
// that is what turns into SSL_ERROR_WANT_READ / WANT_WRITE above.
int bio_result(BIO* bio, ssize_t n, bool reading) {
    BIO_clear_retry_flags(bio);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (reading) {
            BIO_set_retry_read(bio);
        } else {
            BIO_set_retry_write(bio);
        }
    }
    return static_cast<int>(n);
}

// A short recv() (fewer bytes than asked) empties the kernel's queue, as in
// IOStream::receive.
int bio_read(BIO* bio, char* buffer, int size) {
    SSLIOStream::SocketBIO& state = state_of(bio);
    ssize_t n = ::recv(state.fd, buffer, static_cast<std::size_t>(size), 0);
    state.drained = n < size;
    return bio_result(bio, n, true);
}

// A TLS record's header is 5 bytes: its plain bytes were copied to the
// address just after it (see send_now).
constexpr std::size_t kRecordHeader = 5;
constexpr std::uintptr_t kPage = 4096;

// While send_now gathers records, and while records wait for room in the
// kernel, what OpenSSL writes is kept, in order; otherwise it is sent.
int bio_write(BIO* bio, const char* data, int size) {
    SSLIOStream::SocketBIO& state = state_of(bio);
    state.record_page_offset = static_cast<std::uint16_t>(
        (reinterpret_cast<std::uintptr_t>(data) + kRecordHeader) % kPage);
    std::string* kept = state.gathering != nullptr ? state.gathering
                        : !state.unsent.empty()    ? &state.unsent
                                                   : nullptr;
    if (kept != nullptr) {
        BIO_clear_retry_flags(bio);
        kept->append(data, static_cast<std::size_t>(size));
        return size;
    }
    ssize_t n = ::send(state.fd, data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    return bio_result(bio, n, false);
}

// OpenSSL asks a BIO many things; a socket has nothing to flush and no
// other answers to give.
long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

BIO_METHOD* socket_bio_method() {
    // Made once and never freed: every stream's BIO points at it.
    static BIO_METHOD* method = [] {
        BIO_METHOD* made =
            BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tornado socket");
        BIO_meth_set_read(made, bio_read);
        BIO_meth_set_write(made, bio_write);
        BIO_meth_set_ctrl(made, bio_ctrl);
        BIO_meth_set_create(made, bio_create);
        return made;
    }();
    return method;
}

// --- errors ---------------------------------------------------------------------------

int clamp_to_int(std::size_t n) { return n > INT_MAX ? INT_MAX : static_cast<int>(n); }

// --- the copy into a record -----------------------------------------------------------

// SSL_write copies a record's plain bytes (up to 16 KiB) into OpenSSL's
// own buffer before it encrypts them there. glibc's memcpy does a copy
// that size with `rep movsb`, and on this machine's AMD EPYC that runs 25
// times slower (4.7 us for 16 KiB instead of 0.18) when the destination is
// a few bytes past the source modulo 4 KiB: the CPU takes each load for
// one that may depend on a store just made. It is not rare: OpenSSL's
// buffer is page-aligned with the record at byte 8, and a large buffer of
// ours (a 16 KiB file piece, HTTP/2's 64 KiB batch) starts at byte 0 of a
// page, so every record of a big response hit it (TLS cost a 16 KiB file
// three times what it costs nginx). When the next record would, its bytes
// go through this buffer first, placed half a page away from OpenSSL's:
// one fast copy instead of a slow one.
constexpr std::size_t kMaxRecord = 16 * 1024;

bool slow_copy(const char* source, std::uint16_t record_page_offset) {
    std::uintptr_t distance =
        (record_page_offset - reinterpret_cast<std::uintptr_t>(source)) % kPage;
    return distance != 0 && distance < 128;
}

// The thread's buffer for a record's plain bytes, at the place in its page
// where OpenSSL's copy of them is fast: half a page from its own. SSL_write
// takes the bytes before it returns (and a retry after "want write" may
// come from another address: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
char* away_buffer(std::uint16_t record_page_offset) {
    thread_local std::unique_ptr<char[]> buffer(new char[kMaxRecord + 2 * kPage]);
    std::uintptr_t base = reinterpret_cast<std::uintptr_t>(buffer.get());
    std::uintptr_t wanted = (record_page_offset + kPage / 2) % kPage;
    return buffer.get() + (wanted - base % kPage + kPage) % kPage;
}

// The `size` plain bytes of a record (at most kMaxRecord), from byte `from`
// of the pieces on, in one run of memory for SSL_write: where they are when
// one piece holds them all and OpenSSL's copy from there is fast, else
// copied to away_buffer. This is the only copy of a response's bytes
// before OpenSSL's own: an HTTP/2 frame's head and its body are two
// pieces, and a record made of both is put together here, not in a joined
// string first.
std::string_view record_bytes(std::span<const std::string_view> pieces, std::size_t from,
                              std::size_t size, std::uint16_t record_page_offset) {
    std::size_t at = 0;
    while (from >= pieces[at].size()) from -= pieces[at++].size();
    std::string_view piece = pieces[at].substr(from);
    if (piece.size() >= size && !slow_copy(piece.data(), record_page_offset))
        return piece.substr(0, size);
    char* start = away_buffer(record_page_offset);
    std::size_t copied = 0;
    while (true) {
        std::size_t n = std::min(piece.size(), size - copied);
        std::memcpy(start + copied, piece.data(), n);
        copied += n;
        if (copied == size) return {start, size};
        piece = pieces[++at];
    }
}

// --- records gathered into one send -------------------------------------------------------

// A record of up to 16 KiB sent on its own is a TCP segment of its own:
// a 64 KiB write cost four sends, four segments and four wake-ups of the
// peer. send_now gathers records into one send() instead, of at most
// kGatheredBytes: under one segment on loopback (65,483 bytes), where a
// send a little over one goes out as a full segment and a tiny one (see
// HTTP/2's kSendBatch). kRecordOverhead bounds what a record adds to its
// plain bytes with the ciphers OpenSSL agrees by default: 22 bytes in
// TLS 1.3, 29 in TLS 1.2 with AES-GCM. A send's last room takes a record
// cut to fit only if that record is not tiny (kSmallestFill).
constexpr std::size_t kRecordOverhead = 32;
constexpr std::size_t kGatheredBytes = IOStream::kOneSegmentWrite + 4 * kRecordOverhead;
constexpr std::size_t kSmallestFill = 4096;

// The thread's buffer for them: send_now empties it before it returns.
std::string& gathered_records() {
    thread_local std::string records = [] {
        std::string made;
        made.reserve(kGatheredBytes + kMaxRecord);
        return made;
    }();
    return records;
}

std::exception_ptr ssl_error(std::string message) {
    return std::make_exception_ptr(SSLError(std::move(message)));
}

}  // namespace

// --- making one ---------------------------------------------------------------------------

std::shared_ptr<SSLIOStream> SSLIOStream::create(FileDescriptor socket, const SSLContext& context,
                                                 bool server_side, std::string server_hostname,
                                                 IOStreamOptions options) {
    make_non_blocking(socket);
    if (!context) throw std::invalid_argument("SSLIOStream::create: no SSLContext");
    auto stream = std::make_shared<SSLIOStream>(Key{}, std::move(socket), options);
    stream->begin_session(context, server_side, std::move(server_hostname));
    stream->watch();
    return stream;
}

// Nothing is written before the handshake is over: write() buffers (see
// IOStream::write_now), and the handshake's end raises the flag.
SSLIOStream::SSLIOStream(Key key, FileDescriptor socket, IOStreamOptions options)
    : IOStream(key, std::move(socket), options) {
    write_ready_ = false;
}

SSLIOStream::~SSLIOStream() {
    // Frees the BIO too, which leaves the descriptor alone (closed already).
    SSL_free(ssl_);
}

void SSLIOStream::begin_session(const SSLContext& context, bool server_side,
                                std::string server_hostname) {
    ssl_ = SSL_new(context.get());
    if (ssl_ == nullptr) {
        throw SSLError("cannot start a TLS session: " + detail::take_openssl_error().reason);
    }
    server_side_ = server_side;
    server_hostname_ = std::move(server_hostname);
    // IOStream's write buffer meets OpenSSL's rules this way: a write may
    // take part of the bytes (one record at a time), the retry after "want
    // write" may come from another address (the buffer moves as it grows),
    // and an idle connection gives its 2 x 16 KiB of record buffers back.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                           SSL_MODE_RELEASE_BUFFERS);
    // Read ahead: one recv() takes what the kernel has (up to a record
    // buffer), instead of one for each record's 5-byte header and one for
    // its body. A request then costs one recv(), and a short one tells the
    // queue is empty (see receive).
    SSL_set_read_ahead(ssl_, 1);
    // A TCP close without close_notify is an error to OpenSSL 3 unless this
    // option is on; off, transfer_failed() sees the EOF for what it is and
    // closes as on any close, remembering how (closed_without_close_notify).
    SSL_clear_options(ssl_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    BIO* bio = BIO_new(socket_bio_method());
    if (bio == nullptr) {
        throw SSLError("cannot start a TLS session: " + detail::take_openssl_error().reason);
    }
    bio_state_.fd = fd_.get();
    BIO_set_data(bio, &bio_state_);
    SSL_set_bio(ssl_, bio, bio);  // one BIO for both directions; ssl_ owns it
    if (server_side_) {
        SSL_set_accept_state(ssl_);
        return;
    }
    SSL_set_connect_state(ssl_);
    if (server_hostname_.empty()) return;
    // SNI carries names only (RFC 6066 section 3); an address is checked
    // against the certificate's IP entries instead of its DNS names.
    if (is_valid_ip(server_hostname_)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), server_hostname_.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_, server_hostname_.c_str());
        SSL_set1_host(ssl_, server_hostname_.c_str());
    }
}

// --- the handshake ------------------------------------------------------------------------

Future<std::shared_ptr<SSLIOStream>> SSLIOStream::wait_for_handshake() {
    if (handshake_future_.valid()) return handshake_future_;
    Future<std::shared_ptr<SSLIOStream>> future;
    if (handshake_done_) {
        future.set_result(std::static_pointer_cast<SSLIOStream>(shared_from_this()));
    } else if (closed()) {
        future.set_exception(std::make_exception_ptr(StreamClosedError(error())));
    } else {
        handshake_future_ = future;
    }
    return future;
}

void SSLIOStream::set_handshake_timeout(IOLoop::Clock::duration timeout) {
    if (handshake_done_ || closed()) return;
    cancel_handshake_timer();
    std::weak_ptr<IOStream> weak = weak_from_this();
    handshake_timer_ = io_loop().call_later(timeout, [weak] {
        std::shared_ptr<IOStream> stream = weak.lock();
        if (stream && !stream->closed())
            stream->close(ssl_error("the TLS handshake did not finish in time"));
    });
}

// One step: true once the handshake is over. Any event may be the one it
// waits for, so each calls SSL_do_handshake, which reads or writes what it
// can and says "want read" or "want write" for the rest.
bool SSLIOStream::advance_handshake() {
    detail::clear_openssl_errors();
    int result = SSL_do_handshake(ssl_);
    if (result == 1) {
        handshake_finished();
        return true;
    }
    int saved_errno = errno;
    int error = SSL_get_error(ssl_, result);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE)
        handshake_failed(error, saved_errno);
    return false;
}

void SSLIOStream::handshake_finished() {
    handshake_done_ = true;
    cancel_handshake_timer();
    if (handshake_future_.valid()) {
        future_set_result_unless_cancelled(
            std::exchange(handshake_future_, Future<std::shared_ptr<SSLIOStream>>(nullptr)),
            std::static_pointer_cast<SSLIOStream>(shared_from_this()));
    }
}

// Its callers run on the stream's loop, while it is there (a closing loop
// forgets its streams without calling close()), so io_loop() cannot throw.
void SSLIOStream::cancel_handshake_timer() noexcept {
    if (!handshake_timer_) return;
    io_loop().remove_timeout(*handshake_timer_);
    handshake_timer_.reset();
}

// The stream closes with an error that says why. A peer that went away
// (closed or reset mid-handshake) is common and not logged above debug;
// a real TLS failure is a warning, as in Tornado.
void SSLIOStream::handshake_failed(int ssl_error_code, int saved_errno) {
    fatal_ = true;
    detail::OpenSSLError cause = detail::take_openssl_error();
    if (server_side_ && ERR_GET_REASON(cause.code) == SSL_R_HTTP_REQUEST) {
        answer_plain_http();
        return;
    }
    std::string message;
    long verified = SSL_get_verify_result(ssl_);
    if (verified != X509_V_OK) {
        message = tornado::format("certificate verify failed: {}",
                                  X509_verify_cert_error_string(verified));
        if (!server_hostname_.empty()) message += " (connecting to " + server_hostname_ + ")";
    } else if (ssl_error_code == SSL_ERROR_SYSCALL || ssl_error_code == SSL_ERROR_ZERO_RETURN ||
               ERR_GET_REASON(cause.code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        message = saved_errno != 0
                      ? tornado::format("TLS handshake: {}", std::strerror(saved_errno))
                      : "the peer closed the connection during the TLS handshake";
        gen_log.debug("SSL error on fd {}: {}", fd_.get(), message);
        close(ssl_error(std::move(message)));
        return;
    } else {
        message = "TLS handshake failed: " + cause.reason;
    }
    gen_log.warning("SSL error on fd {}: {}", fd_.get(), message);
    close(ssl_error(std::move(message)));
}

// nginx's answer to plain HTTP on a TLS port, so that whoever typed
// http:// instead of https:// learns why. What the client sent is read
// first (as much as is here): closing with unread bytes would make the
// kernel send a reset, which can destroy the answer before it is read.
void SSLIOStream::answer_plain_http() {
    static constexpr std::string_view kBody = "The plain HTTP request was sent to an HTTPS port\n";
    std::string answer = tornado::format(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n{}",
        kBody.size(), kBody);
    char drained[4096];
    for (int round = 0; round < 16 && ::recv(fd_.get(), drained, sizeof drained, 0) > 0; ++round) {}
    ::send(fd_.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
    gen_log.info("plain HTTP request on the TLS port (fd {}): answered 400", fd_.get());
    close(ssl_error("plain HTTP request on a TLS port"));
}

// --- events, reads and writes -------------------------------------------------------------

// The handshake first; once it is over, reads and writes that waited for
// it are tried at once (as if both edges had come: its last bytes may have
// arrived with application data, whose edge it used). Then each crossed
// want is satisfied by the other direction's edge.
void SSLIOStream::handle_events(std::uint32_t events) {
    if (closed()) return;
    if (connecting()) {
        IOStream::handle_events(events);  // the TCP connection comes first
        if (closed() || connecting()) return;
    }
    if (!handshake_done_) {
        if (!advance_handshake()) return;
        events |= EPOLLIN | EPOLLOUT;
    }
    if (read_wants_write_ && (events & EPOLLOUT) != 0) {
        read_wants_write_ = false;
        events |= EPOLLIN;
    }
    if (write_wants_read_ && (events & EPOLLIN) != 0) {
        write_wants_read_ = false;
        events |= EPOLLOUT;
    }
    IOStream::handle_events(events);
}

// A short SSL_read says nothing about the socket (it returns one record at
// a time). What does: the last recv() under it was short, and OpenSSL holds
// no bytes it has not decrypted yet. Then the kernel's queue is empty, and
// the next arrival raises a new edge; this saves the recv() that would only
// say EAGAIN. Otherwise the stream reads on until OpenSSL says "want read".
std::size_t SSLIOStream::receive(char* where, std::size_t capacity) {
    if (!handshake_done_) {
        read_ready_ = false;  // the handshake's end sets it again
        return 0;
    }
    detail::clear_openssl_errors();
    int n = SSL_read(ssl_, where, clamp_to_int(capacity));
    if (n > 0) {
        if (bio_state_.drained && !end_seen() && SSL_has_pending(ssl_) == 0) read_ready_ = false;
        return static_cast<std::size_t>(n);
    }
    int saved_errno = errno;
    int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        read_ready_ = false;
        read_wants_write_ = error == SSL_ERROR_WANT_WRITE;
    } else if (error == SSL_ERROR_ZERO_RETURN) {
        close();  // the peer's close_notify
    } else {
        transfer_failed(error, saved_errno, "SSL_read");
    }
    return 0;
}

// The records are made into the thread's buffer and sent with one send()
// per kGatheredBytes. The plain bytes count as sent only when their
// records are all in the kernel: records it has no room for wait in
// bio_state_.unsent, their plain bytes (still at the front of the write
// buffer, which offers them again) in plain_unsent_, and go first next time.
std::size_t SSLIOStream::send_now(std::string_view data) {
    return send_pieces_now(std::span<const std::string_view>(&data, 1));
}

std::size_t SSLIOStream::send_pieces_now(std::span<const std::string_view> pieces) {
    if (!handshake_done_) {
        write_ready_ = false;  // the handshake's end sets it again
        return 0;
    }
    std::size_t total = 0;
    for (std::string_view piece : pieces) total += piece.size();
    std::size_t sent = 0;
    if (!bio_state_.unsent.empty()) {
        std::size_t n = IOStream::send_now(bio_state_.unsent);
        bio_state_.unsent.erase(0, n);
        if (!bio_state_.unsent.empty()) return 0;  // no room yet, or the stream closed
        sent = std::exchange(plain_unsent_, 0);
    }
    std::string& records = gathered_records();
    while (sent < total && write_ready_ && !closed()) {
        records.clear();
        std::size_t encrypted = encrypt_records(pieces, total, sent, records);
        if (records.empty() || closed()) break;
        std::size_t n = IOStream::send_now(records);
        if (n < records.size()) {
            if (!closed()) {
                bio_state_.unsent.assign(records, n);
                plain_unsent_ = encrypted;
            }
            break;
        }
        sent += encrypted;
    }
    records.clear();
    return sent;
}

// Makes records of the pieces' bytes from byte `from` on into `records`, up
// to kGatheredBytes; the plain bytes OpenSSL took. It stops early when
// OpenSSL wants the socket (write_ready_ is then false) or fails (the
// stream is then closed).
std::size_t SSLIOStream::encrypt_records(std::span<const std::string_view> pieces,
                                         std::size_t total, std::size_t from,
                                         std::string& records) {
    std::size_t taken = 0;
    bio_state_.gathering = &records;
    while (from + taken < total) {
        std::size_t left = total - from - taken;
        std::size_t used = records.size() + kRecordOverhead;
        std::size_t room = used < kGatheredBytes ? kGatheredBytes - used : 0;
        std::size_t size = std::min({kMaxRecord, left, room});
        if (size == 0 || size < std::min(kSmallestFill, left)) break;
        detail::clear_openssl_errors();
        std::string_view record =
            record_bytes(pieces, from + taken, size, bio_state_.record_page_offset);
        int n = SSL_write(ssl_, record.data(), static_cast<int>(record.size()));
        if (n > 0) {
            taken += static_cast<std::size_t>(n);
            continue;
        }
        int saved_errno = errno;
        int error = SSL_get_error(ssl_, n);
        bio_state_.gathering = nullptr;
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
            write_ready_ = false;
            write_wants_read_ = error == SSL_ERROR_WANT_READ;
        } else {
            transfer_failed(error, saved_errno, "SSL_write");
        }
        break;
    }
    bio_state_.gathering = nullptr;
    return taken;
}

// A socket error is reported as IOStream reports it (a reset is not
// logged); a TLS error (a bad record, an alert from the peer) as an
// SSLError. Either way OpenSSL must not be called again.
void SSLIOStream::transfer_failed(int ssl_error_code, int saved_errno, const char* call) {
    fatal_ = true;
    detail::OpenSSLError cause = detail::take_openssl_error();
    if (ssl_error_code == SSL_ERROR_SYSCALL && saved_errno != 0) {
        io_error(saved_errno, call);
        return;
    }
    // The peer's TCP close without TLS's close_notify: an ordinary close,
    // as in Python (many peers end that way, and most framings tell a cut
    // message), but remembered for a reader that only the close tells
    // where the data ends: whoever can cut the TCP connection could have
    // cut that data short (RFC 8446 section 6.1).
    if (ssl_error_code == SSL_ERROR_SYSCALL ||
        ERR_GET_REASON(cause.code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        closed_without_close_notify_ = true;
        close();
        return;
    }
    std::string message =
        tornado::format("{}: {}", call, cause.code == 0 ? "TLS error" : cause.reason);
    gen_log.warning("SSL error on fd {}: {}", fd_.get(), message);
    close(ssl_error(std::move(message)));
}

// One close_notify, not waiting for the peer's (RFC 8446 section 6.1 lets
// the closing side go at once). The handshake's waiter fails here, with the
// stream's error.
void SSLIOStream::close_transport() noexcept {
    cancel_handshake_timer();
    if (handshake_done_ && !fatal_) {
        detail::clear_openssl_errors();
        SSL_shutdown(ssl_);
        detail::clear_openssl_errors();
    }
    if (handshake_future_.valid()) {
        future_set_exception_unless_cancelled(
            std::exchange(handshake_future_, Future<std::shared_ptr<SSLIOStream>>(nullptr)),
            std::make_exception_ptr(StreamClosedError(error())));
    }
}

// --- what the handshake agreed ------------------------------------------------------------

std::string SSLIOStream::selected_alpn_protocol() const {
    const unsigned char* name = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl_, &name, &length);
    return name == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(name), length);
}

std::string SSLIOStream::server_name() const {
    if (!server_side_) return server_hostname_;
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name == nullptr ? std::string() : std::string(name);
}

std::string SSLIOStream::version() const {
    return handshake_done_ ? std::string(SSL_get_version(ssl_)) : std::string();
}

std::string SSLIOStream::cipher() const {
    const char* name = SSL_get_cipher_name(ssl_);
    return handshake_done_ && name != nullptr ? std::string(name) : std::string();
}

std::string SSLIOStream::get_ssl_certificate() const {
    X509* certificate = SSL_get1_peer_certificate(ssl_);
    if (certificate == nullptr) return {};
    unsigned char* der = nullptr;
    int length = i2d_X509(certificate, &der);
    std::string bytes;
    if (length > 0)
        bytes.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
    OPENSSL_free(der);
    X509_free(certificate);
    return bytes;
}

}  // namespace tornado
