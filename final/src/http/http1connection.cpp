// http1connection.cpp: see tornado/http1connection.h for the contract.
//
// Who owns what:
//
//   IOLoop ──holds──► IOStream (while open)
//   serving loop frame ──► HTTP1ServerConnection ──► IOStream
//                      ──► HTTP1Connection (the request in progress) ──► HTTP1ServerConnection
//   the application    ──► HTTP1Connection (as request.connection), for as long as it likes
//
// The server connection points at the request in progress (current_) without
// owning it; the request owns its server connection, so a late write from an
// application that kept its request finds a closed connection, never a
// dangling one.
#include "tornado/http1connection.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/text.h"
#include "http/chunked_body.h"
#include "http/connection_end.h"
#include "http/message_body.h"
#include "tornado/log.h"
#include "tornado/trace.h"

namespace tornado {

namespace {

using namespace std::string_view_literals;
using detail::for_each_item;

// The header names the connection reads itself. Its scans switch on a
// name's length first (most fields are none of these) with these sizes as
// the case labels: the compiler counts them, and two names of one length
// in a switch would be a duplicate case, which does not compile.
constexpr std::string_view kAltSvc = "Alt-Svc";
constexpr std::string_view kConnection = "Connection";
constexpr std::string_view kContentLength = "Content-Length";
constexpr std::string_view kDate = "Date";
constexpr std::string_view kExpect = "Expect";
constexpr std::string_view kServer = "Server";
constexpr std::string_view kTransferEncoding = "Transfer-Encoding";

// Pipelined requests answered in a row without letting the loop turn.
constexpr std::uint32_t kMaxSynchronousRequests = 32;
// A lingering close drains the client for at most this long, this much.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 1024 * 1024;
// Bigger pieces of body are written on their own, not copied behind the head.
constexpr std::size_t kCoalesceLimit = 16 * 1024;

// Where a response's bytes are put together before they are written: one
// buffer per thread, reused, so a response costs no allocation of its own
// (IOStream::write copies only what the kernel does not take at once).
// A caller takes it out while it formats (take_output_buffer) and gives it
// back after the write (return_output_buffer): if a write's error path
// formats another response on this thread, that one gets a fresh buffer.
std::string& output_buffer() {
    thread_local std::string buffer;
    return buffer;
}

std::string take_output_buffer() {
    std::string buffer = std::move(output_buffer());
    buffer.clear();
    return buffer;
}

void return_output_buffer(std::string buffer) { output_buffer() = std::move(buffer); }

const std::shared_ptr<const HTTP1ConnectionParameters>& default_params() {
    static const auto params = std::make_shared<const HTTP1ConnectionParameters>();
    return params;
}

// RFC 9112 section 2.2: a server should ignore at least one empty line
// before a request line (some clients send a CRLF after a POST body).
bool is_blank_head(std::string_view head) {
    return std::all_of(head.begin(), head.end(), [](char c) { return c == '\r' || c == '\n'; });
}

// An HTTP/1.1 request that asks to go on in HTTP/2 in cleartext (RFC 7540
// section 3.2: "Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings" and
// one HTTP2-Settings field), and has no body: the HTTP/2 connection
// answers it with 101 and serves it as its stream 1. With a body it is
// served over HTTP/1.1, as the RFC lets a server choose. The search for
// "h2c" spares the parse to every request that could not be one.
bool asks_for_h2c(std::string_view head) {
    auto h2c = std::search(head.begin(), head.end(), std::begin("h2c"), std::end("h2c") - 1,
                           [](char a, char b) { return detail::ascii_lower(a) == b; });
    if (h2c == head.end()) return false;
    try {
        std::size_t line_end = head.find("\r\n");
        if (parse_request_start_line(head.substr(0, line_end)).version != "HTTP/1.1") return false;
        HTTPHeaders headers = HTTPHeaders::parse(head.substr(line_end + 2));
        std::string_view length = headers.get_first("Content-Length");
        return detail::list_has_token(headers.get("Upgrade"), "h2c") &&
               detail::list_has_token(headers.get("Connection"), "Upgrade") &&
               detail::list_has_token(headers.get("Connection"), "HTTP2-Settings") &&
               headers.get_list("HTTP2-Settings").size() == 1 &&
               !headers.contains("Transfer-Encoding") && (length.empty() || length == "0");
    } catch (const HTTPInputError&) {
        return false;  // served over HTTP/1.1, which answers it 400
    }
}

std::string seconds_text(IOLoop::Clock::duration d) {
    return tornado::format("{:.2f}", std::chrono::duration<double>(d).count());
}

// What a write to a connection that is gone returns: a Future already
// failed with StreamClosedError, the error a pending write gets when the
// stream closes under it, so callers handle one kind of failure whenever
// the connection went.
Future<void> failed_write(std::exception_ptr cause = nullptr) {
    Future<void> future;
    future.set_exception(std::make_exception_ptr(StreamClosedError(std::move(cause))));
    (void)future.exception();  // nobody need look at it: no "never retrieved" log
    return future;
}

}  // namespace

// === HTTP1Connection ===========================================================================

HTTP1Connection::HTTP1Connection(std::shared_ptr<HTTP1ServerConnection> server)
    : server_(std::move(server)),
      max_body_size_(server_->params().max_body_size),
      body_timeout_(server_->params().body_timeout) {}

// A request that ended without its response's last byte (its stream
// closed, an error answer, a WebSocket's upgrade) ends its span here.
HTTP1Connection::~HTTP1Connection() { trace_end(); }

IOStream* HTTP1Connection::open_stream() const noexcept { return server_->open_stream(); }

const HTTPRequestContext* HTTP1Connection::context() const { return &server_->context(); }
HTTPRequestContext* HTTP1Connection::mutable_context() { return &server_->context(); }

std::shared_ptr<IOStream> HTTP1Connection::stream() const { return server_->stream(); }

void HTTP1Connection::close() {
    if (IOStream* stream = open_stream()) stream->close();
}

void HTTP1Connection::set_close_callback(Function<void()> callback) {
    // After the response, nobody would ever run (or drop) it: a callback that
    // holds its request would keep this connection alive in a cycle.
    if (response_over()) return;
    close_callback_ = std::move(callback);
}

void HTTP1Connection::set_max_body_size(std::size_t max_body_size) {
    max_body_size_ = max_body_size;
}

void HTTP1Connection::set_body_timeout(IOLoop::Clock::duration timeout) { body_timeout_ = timeout; }

// The stream leaves HTTP (a WebSocket's upgrade): nothing of this request
// may call back into the application any more, and the serving loop, if it
// waits for this response, is let go.
std::shared_ptr<IOStream> HTTP1Connection::detach() {
    std::shared_ptr<IOStream> stream = server_->detach_stream();
    close_callback_ = nullptr;
    stream->set_peer_fin_callback(nullptr);
    release_waiter();
    return stream;
}

// complete_message may wait in finish_future_ for the response to end;
// whatever ends it (flushed, failed, closed, detached) lets it go on.
void HTTP1Connection::release_waiter() {
    if (finish_future_.valid() && !finish_future_.done()) finish_future_.set_result();
}

// --- reading the request ---------------------------------------------------------------------

// How the request is framed and whether the connection may be kept; all of
// it decided from the head, before the application sees it (RFC 9112
// section 6.3: if we cannot tell where this request ends, we cannot find
// the next one either).
void HTTP1Connection::read_framing(const RequestStartLine& start_line, const HTTPHeaders& headers) {
    // Compared as string_views: the length first, then the bytes (a
    // std::string against a char* compares without the length).
    request_.http11 = start_line.version != "HTTP/1.0"sv;
    request_.head = start_line.method == "HEAD"sv;

    // One pass over the fields for what the connection needs.
    bool close_asked = false;
    bool has_length = false;
    bool has_encoding = false;
    std::string_view expect;
    for (HTTPHeaders::Field field : headers) {
        switch (field.name.size()) {
            case kExpect.size():
                if (expect.empty() && equals_ignoring_case(field.name, kExpect))
                    expect = field.value;
                break;
            case kConnection.size():
                if (!equals_ignoring_case(field.name, kConnection)) break;
                for_each_item(field.value, [&](std::string_view item) {
                    if (equals_ignoring_case(item, "close")) close_asked = true;
                    if (equals_ignoring_case(item, "keep-alive")) request_.keep_alive_asked = true;
                });
                break;
            case kContentLength.size():
                has_length = has_length || equals_ignoring_case(field.name, kContentLength);
                break;
            case kTransferEncoding.size():
                has_encoding = has_encoding || equals_ignoring_case(field.name, kTransferEncoding);
                break;
            default: break;
        }
    }
    if (has_encoding || has_length) {
        if (has_encoding && !request_.http11)
            throw HTTPInputError("Transfer-Encoding in an HTTP/1.0 request");
        BodyFraming framing = parse_body_framing(headers, "Request");
        request_.chunked = framing.chunked;
        request_.content_length = framing.content_length.value_or(0);
    }

    // Tornado's _can_keep_alive.
    if (server_->params().no_keep_alive || server_->closing_when_idle()) {
        close_after_response_ = true;
    } else if (request_.http11) {
        close_after_response_ = close_asked;
    } else {
        bool framed = has_length || request_.head || start_line.method == "GET";
        close_after_response_ = close_asked || !request_.keep_alive_asked || !framed;
    }
    request_.expect_continue = request_.http11 && equals_ignoring_case(expect, "100-continue");
}

// A declared length over the limit is refused before any of the body is
// read (a chunked body is counted as it comes, in read_chunked_body).
// Checked when the body is about to be read, not in start_message: a
// stream_request_body handler may raise the limit in headers_received.
void HTTP1Connection::check_body_size() {
    if (!request_.chunked && request_.content_length > max_body_size_) {
        throw HTTPInputError(413,
                             tornado::format("Content-Length too long: a body of {} bytes is over "
                                             "the limit of {} bytes",
                                             request_.content_length, max_body_size_));
    }
}

// The fast path, in plain calls: parse the head, settle its framing, show
// it to the delegate, and when there is no body and headers_received did
// not make us wait, call finish() at once. A handler that answers inside
// finish() (the usual hello world) has its response written before this
// returns, so a keep-alive connection reads the next request in the same
// turn of the loop. Anything that must wait returns pending, and the
// serving loop starts continue_message() for the rest.
HTTP1Connection::Outcome HTTP1Connection::start_message(std::string&& head,
                                                        HTTPMessageDelegate& delegate) {
    // The head is parsed where it stays until the delegate takes it: a
    // RequestHead declared before the try and assigned in it would move its
    // strings once more (about 200 instructions a request).
    // deliver_head lets no HTTPInputError out: it answers them itself.
    try {
        RequestHead parsed = parse_request_head(std::move(head));
        if (detail::tracing_anywhere()) trace_begin(parsed.start_line);
        read_framing(parsed.start_line, parsed.headers);
        return deliver_head(parsed, delegate);
    } catch (const HTTPInputError& error) {
        fail_request(error);
        return Outcome::close;
    }
}

// start_message's second half: the parsed head to the delegate, and the
// request finished at once when nothing is left to wait for.
HTTP1Connection::Outcome HTTP1Connection::deliver_head(RequestHead& parsed,
                                                       HTTPMessageDelegate& delegate) {
    // Without a body, the request has been read whole already (an answer
    // from headers_received need not close the connection).
    body_read_ = !request_.has_body();
    if (server_->params().decompress &&
        equals_ignoring_case(parsed.headers.get("Content-Encoding"), "gzip")) {
        // The delegate gets the body plain: the headers say what was undone.
        parsed.headers.add("X-Consumed-Content-Encoding", parsed.headers.get("Content-Encoding"));
        parsed.headers.remove("Content-Encoding");
        if (request_.has_body()) gunzip_body_ = std::make_unique<GzipDecompressor>(max_body_size_);
    }

    Future<void> headers_future(nullptr);
    try {
        headers_future =
            delegate.headers_received(std::move(parsed.start_line), std::move(parsed.headers));
    } catch (const HTTPInputError& error) {
        call_delegate_close(delegate);
        fail_request(error);
        return Outcome::close;
    } catch (...) {
        call_delegate_close(delegate);
        fail_with_exception(std::current_exception());
        return Outcome::close;
    }
    if (server_->detached()) return Outcome::close;

    // The fast path: no body, nothing to wait for, answered at once.
    bool headers_done =
        !headers_future.valid() ||
        (headers_future.done() && !headers_future.cancelled() && !headers_future.exception());
    if (request_.has_body() || !headers_done) {
        headers_future_ = std::move(headers_future);
        return Outcome::pending;
    }
    try {
        finish_delegate(delegate);
    } catch (const HTTPInputError& error) {
        fail_request(error);
        return Outcome::close;
    } catch (...) {
        fail_with_exception(std::current_exception());
        return Outcome::close;
    }
    if (!response_complete()) {
        // Answered, the last bytes still on their way: nothing is left for
        // a coroutine to wait for but the flush (no body, no application,
        // no peer's FIN to watch for), so the serving loop goes on from
        // finish_request.
        if (response_state_ == ResponseState::finishing && open_stream() != nullptr) {
            resume_after_flush_ = true;
            return Outcome::flushing;
        }
        return Outcome::pending;
    }
    return finished_outcome();
}

// The whole request is in: the delegate hears finish(), unless the
// application has answered already (Tornado: an answer from
// headers_received or data_received gets on_connection_close instead).
void HTTP1Connection::finish_delegate(HTTPMessageDelegate& delegate) {
    if (answered()) {
        call_delegate_close(delegate);
        return;
    }
    delegate_done_ = true;
    delegate.finish();
}

// Whether the serving loop may go on: the response is over, or there is
// no stream left to write it to.
bool HTTP1Connection::response_complete() const noexcept {
    return response_over() || open_stream() == nullptr;
}

// After a complete response: keep the connection for the next request,
// unless keep-alive's verdict or a closed stream says otherwise.
HTTP1Connection::Outcome HTTP1Connection::finished_outcome() const noexcept {
    if (close_after_response_ || open_stream() == nullptr) return Outcome::close;
    return Outcome::keep_alive;
}

// The slow path's frame owns the delegate and keeps this request alive
// (`self`) until the serving loop takes over again in request_done. No
// exception leaves it: it is detached, nobody would see one.
Task<void> HTTP1Connection::continue_message(std::unique_ptr<HTTPMessageDelegate> delegate) {
    std::shared_ptr<HTTP1Connection> self = shared_from_this();
    bool keep_alive = false;
    try {
        keep_alive = co_await complete_message(*delegate);
    } catch (...) {
        gen_log.error("Uncaught exception serving {}: {}", server_->context().remote_ip,
                      describe_exception(std::current_exception()));
    }
    delegate.reset();           // before the next request's delegate exists
    close_callback_ = nullptr;  // the request is over, however it ended
    server_->request_done(*this, keep_alive);
}

// complete_message, read_body and pass_body take the delegate by
// reference: continue_message's frame owns it and awaits complete_message
// at once, which awaits the other two at once, so it outlives them all.
// NOLINTBEGIN(cppcoreguidelines-avoid-reference-coroutine-parameters)

// The slow path's steps: headers_received's Future, the body, the
// delegate's finish(), the end of the response. Returns whether the
// connection may serve another request.
Task<bool> HTTP1Connection::complete_message(HTTPMessageDelegate& delegate) {
    try {
        if (headers_future_.valid()) co_await std::move(headers_future_);
        if (server_->detached()) co_return false;
        if (!delegate_done_) {
            if (answered() && !body_read_) {
                // Answered before the body was read (an early 401 or 413): do not
                // read a body the client may never send; close after the answer.
                close_after_response_ = true;
            } else if (!body_read_) {
                co_await read_body(delegate);
            }
            finish_delegate(delegate);
        }
        if (!response_complete()) {
            if (!finish_future_.valid()) finish_future_ = Future<void>();
            watch_for_peer_fin();
            co_await finish_future_;
            if (IOStream* stream = open_stream()) stream->set_peer_fin_callback(nullptr);
        }
    } catch (const HTTPInputError& error) {
        call_delegate_close(delegate);
        fail_request(error);
        co_return false;
    } catch (const StreamClosedError&) {
        call_delegate_close(delegate);
        co_return false;
    } catch (const CancelledError&) {
        call_delegate_close(delegate);
        co_return false;
    } catch (...) {
        call_delegate_close(delegate);
        fail_with_exception(std::current_exception());
        co_return false;
    }
    co_return finished_outcome() == Outcome::keep_alive;
}

// Reads the body into the delegate. Sets body_read_ only when all of it
// came; an early answer stops it half way (the lingering close drains the
// rest).
Task<void> HTTP1Connection::read_body(HTTPMessageDelegate& delegate) {
    check_body_size();
    IOStream* stream = checked_stream();
    // The client waits for a go-ahead before it sends the body; it gets one
    // only now, when the head has passed every check.
    if (request_.expect_continue && response_state_ == ResponseState::nothing_sent)
        stream->write(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
    server_->wait_for(HTTP1ServerConnection::Waiting::body, body_timeout_);
    if (request_.chunked) {
        detail::ChunkDataReader read_data = [this, &delegate](std::uint64_t size) {
            return pass_body(delegate, size);
        };
        co_await detail::read_chunked_body(server_->stream(), max_body_size_,
                                           server_->params().max_header_size, read_data);
    } else {
        co_await pass_body(delegate, request_.content_length);
    }
    if (answered()) co_return;
    if (gunzip_body_) gunzip_body_->check_ended();
    body_read_ = true;
    server_->wait_for(HTTP1ServerConnection::Waiting::nothing, std::nullopt);
}

// Hands the next `n` body bytes to the delegate, in pieces of at most
// chunk_size. Returns false when the response went out meanwhile (an early
// answer): the rest of the body is then drained by the lingering close, not
// handed to anyone.
Task<bool> HTTP1Connection::pass_body(HTTPMessageDelegate& delegate, std::uint64_t n) {
    std::size_t chunk_size = std::max<std::size_t>(server_->params().chunk_size, 1);
    while (n > 0) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, chunk_size));
        std::string piece = co_await checked_stream()->read_bytes(want, true);
        n -= piece.size();
        // Inflated, a piece may be far larger: it goes on chunk_size at a time too.
        if (gunzip_body_) piece = gunzip_body_->decompress(piece);
        const std::size_t size = piece.size();
        for (std::size_t at = 0; at < size; at += chunk_size) {
            // The usual piece fits whole: moved on, not copied.
            std::string part = size <= chunk_size ? std::move(piece) : piece.substr(at, chunk_size);
            Future<void> ready = delegate.data_received(std::move(part));
            if (ready.valid()) co_await std::move(ready);
            if (answered()) co_return false;
        }
    }
    co_return true;
}
// NOLINTEND(cppcoreguidelines-avoid-reference-coroutine-parameters)

IOStream* HTTP1Connection::checked_stream() const {
    IOStream* stream = open_stream();
    if (stream == nullptr) throw StreamClosedError();
    return stream;
}

// The delegate hears exactly one ending: finish() or on_connection_close()
// (what that throws is logged: connection_end.h).
void HTTP1Connection::call_delegate_close(HTTPMessageDelegate& delegate) noexcept {
    if (delegate_done_) return;
    delegate_done_ = true;
    detail::call_ending_callback("on_connection_close", [&] { delegate.on_connection_close(); });
}

// --- the response -------------------------------------------------------------------------------

namespace {

// What a response's own headers say about the fields the connection manages.
struct ResponseFacts {
    bool alt_svc = false;
    bool content_length = false;
    std::string_view content_length_value;  // the first field's
    bool transfer_encoding = false;
    bool date = false;
    bool server = false;
    bool connection = false;
    bool connection_close = false;
    // A Date or Server with an empty value: the application wants none
    // (RequestHandler::clear_header), so neither it nor ours goes out.
    bool blank_to_omit = false;
};

bool is_blank_to_omit(std::string_view name, std::string_view value) {
    return value.empty() && (name == kDate || name == kServer);
}

// One pass over the application's headers. Names are compared exactly:
// HTTPHeaders stores them in Http-Header-Case already, so the hot path
// needs no case folding.
ResponseFacts facts_of(const HTTPHeaders& headers) {
    ResponseFacts facts;
    for (HTTPHeaders::Field field : headers) {
        std::string_view name = field.name;  // already Http-Header-Case
        switch (name.size()) {
            case kDate.size():
                if (name != kDate) break;
                facts.date = true;
                facts.blank_to_omit = facts.blank_to_omit || field.value.empty();
                break;
            case kServer.size():
                if (name != kServer) break;
                facts.server = true;
                facts.blank_to_omit = facts.blank_to_omit || field.value.empty();
                break;
            case kAltSvc.size(): facts.alt_svc = facts.alt_svc || name == kAltSvc; break;
            case kConnection.size():
                if (name != kConnection) break;
                facts.connection = true;
                for_each_item(field.value, [&](std::string_view item) {
                    if (equals_ignoring_case(item, "close")) facts.connection_close = true;
                });
                break;
            case kContentLength.size():
                if (name != kContentLength || facts.content_length) break;
                facts.content_length = true;
                facts.content_length_value = field.value;
                break;
            case kTransferEncoding.size():
                facts.transfer_encoding = facts.transfer_encoding || name == kTransferEncoding;
                break;
            default: break;
        }
    }
    return facts;
}

// "Name: value\r\n"
std::size_t field_line_size(HTTPHeaders::Field field) {
    return field.name.size() + field.value.size() + ": \r\n"sv.size();
}

// A response head's bytes, copied into room made once for all of them:
// append() would check the capacity and set the length for every piece,
// about 30 instructions each, and a head has 20 to 30 pieces.
class HeadWriter {
public:
    HeadWriter(std::string& out, std::size_t size) : out_(out), end_(out.size() + size) {
        out.resize(end_);
        cursor_ = out.data() + end_ - size;
    }
    void put(std::string_view piece) {
        if (piece.empty()) return;  // its data() may be null, which memcpy may not get
        std::memcpy(cursor_, piece.data(), piece.size());
        cursor_ += piece.size();
    }
    void put_status_code(int code) {  // 100 to 999: three digits
        cursor_[0] = static_cast<char>('0' + code / 100);
        cursor_[1] = static_cast<char>('0' + code / 10 % 10);
        cursor_[2] = static_cast<char>('0' + code % 10);
        cursor_ += 3;
    }
    void put_field(HTTPHeaders::Field field) {
        put(field.name);
        put(": "sv);
        put(field.value);
        put("\r\n"sv);
    }
    // The size given was the size written: a mismatch is a bug here.
    void finish() const {
        if (cursor_ != out_.data() + end_) throw std::logic_error("HeadWriter: size mismatch");
    }

private:
    std::string& out_;
    std::size_t end_;
    char* cursor_;
};

}  // namespace

// Appends the status line and headers to `out` and settles the response's
// framing (ResponseFraming) and keep-alive from them: whether a body is
// allowed, chunked output when HTTP/1.1 has no length, the Content-Length
// to hold writes to, and the Connection header the close decision needs.
// Bad input from the application (a status out of range, CR or LF in the
// reason) throws before a byte is sent: a response must not be split.
void HTTP1Connection::format_head(std::string& out, const ResponseStartLine& start_line,
                                  const HTTPHeaders& headers) {
    int code = start_line.code;
    if (code < 100 || code > 999)
        throw std::invalid_argument(tornado::format("bad status code {}", code));
    std::string_view reason =
        start_line.reason.empty() ? reason_phrase(code) : std::string_view(start_line.reason);
    if (std::any_of(reason.begin(), reason.end(),
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
        throw std::invalid_argument("CR, LF or NUL in the reason phrase");
    }
    ResponseFacts facts = facts_of(headers);
    if (traced_) traced_status_ = static_cast<std::uint16_t>(code);
    response_.body_allowed = !request_.head && detail::status_has_body(code);
    response_.switching_protocols = code == 101;
    // The same headers for HEAD as for GET: chunked is announced, never sent.
    bool chunked_header = request_.http11 && detail::status_has_body(code) &&
                          !facts.content_length && !facts.transfer_encoding;
    response_.chunked = chunked_header && response_.body_allowed;
    if (facts.connection_close || server_->closing_when_idle()) close_after_response_ = true;
    if (!request_.http11 && response_.body_allowed && !facts.content_length)
        close_after_response_ = true;  // ends at close

    if (!response_.body_allowed) {
        response_.content_remaining.reset();  // whatever is written is dropped
    } else if (facts.content_length) {
        std::string_view value = facts.content_length_value;
        std::optional<std::uint64_t> length = parse_content_length_value(value);
        if (!length)
            throw HTTPOutputError("invalid Content-Length in the response: " +
                                  detail::quoted(value));
        response_.content_remaining = *length;
    }

    std::string_view connection_value;
    if (response_.switching_protocols) {
        // A 101's own "Connection: Upgrade" stays, whatever HTTP would do
        // next: the connection is about to speak another protocol.
    } else if (close_after_response_) {
        if (request_.http11 || request_.keep_alive_asked) connection_value = "close";
    } else if (!request_.http11 && request_.keep_alive_asked) {
        connection_value = "Keep-Alive";  // Tornado's spelling
    }

    const HTTP1ConnectionParameters& params = server_->params();
    bool skip_connection = !connection_value.empty() && facts.connection;
    auto sent = [&](HTTPHeaders::Field field) {
        return !(skip_connection && field.name == kConnection) &&
               !is_blank_to_omit(field.name, field.value);
    };
    // The fields the server adds after the application's.
    std::array<HTTPHeaders::Field, 5> added;
    std::size_t added_count = 0;
    if (!facts.date && params.date_header) added[added_count++] = {"Date", http_date_now()};
    if (!facts.server && !params.server_header.empty())
        added[added_count++] = {"Server", params.server_header};
    if (!facts.alt_svc && !params.alt_svc.empty())
        added[added_count++] = {"Alt-Svc", params.alt_svc};
    if (!connection_value.empty()) added[added_count++] = {"Connection", connection_value};
    if (chunked_header) added[added_count++] = {"Transfer-Encoding", "chunked"};

    // "HTTP/1.1 200 OK\r\n", the fields, the empty line.
    std::size_t size = "HTTP/1.1 200 \r\n"sv.size() + reason.size() + "\r\n"sv.size();
    bool every_field = !skip_connection && !facts.blank_to_omit;
    if (every_field) {
        size += headers.written_size();
    } else {
        for (HTTPHeaders::Field field : headers) {
            if (sent(field)) size += field_line_size(field);
        }
    }
    for (std::size_t i = 0; i < added_count; ++i) size += field_line_size(added[i]);

    HeadWriter head(out, size);
    head.put("HTTP/1.1 "sv);
    head.put_status_code(code);
    head.put(" "sv);
    head.put(reason);
    head.put("\r\n"sv);
    for (HTTPHeaders::Field field : headers) {
        if (every_field || sent(field)) head.put_field(field);
    }
    for (std::size_t i = 0; i < added_count; ++i) head.put_field(added[i]);
    head.put("\r\n"sv);
    head.finish();
}

// Body bytes about to be written, whatever their source: more than the
// Content-Length has left is the application's error, and the connection
// closes, since the client could not tell where the response ends.
void HTTP1Connection::count_against_content_length(std::size_t bytes) {
    if (!response_.content_remaining) return;
    if (bytes > *response_.content_remaining) {
        close();
        throw HTTPOutputError("Tried to write more data than Content-Length");
    }
    *response_.content_remaining -= bytes;
}

// Counts `chunk` against the Content-Length and frames it. Returns false
// when the chunk is to be written as it is, after `out` (bigger than
// `copy_limit`).
bool HTTP1Connection::append_body(std::string& out, std::string_view chunk,
                                  std::size_t copy_limit) {
    if (chunk.empty() || !response_.body_allowed) return true;
    count_against_content_length(chunk.size());
    if (response_.chunked) detail::append_chunk_size_line(out, chunk.size());
    if (chunk.size() > copy_limit) return false;
    out.append(chunk);
    if (response_.chunked) out.append("\r\n"sv);
    return true;
}

// Writes the formatted bytes and a big chunk after them straight from the
// caller's memory, in one sendmsg() where the stream can (IOStream copies
// only what the kernel does not take at once).
Future<void> HTTP1Connection::send(std::string_view data, std::string_view big_chunk) {
    IOStream* stream = open_stream();
    if (stream == nullptr) return failed_write();
    if (data.empty() && big_chunk.empty())
        return pending_write_.valid() ? pending_write_ : detail::done_future();
    // A head with its body copied after it is one piece: write() of one
    // buffer costs about 150 instructions fewer than write() of pieces.
    if (big_chunk.empty()) {
        pending_write_ = stream->write(data);
        return pending_write_;
    }
    std::string_view chunk_end = response_.chunked ? "\r\n"sv : ""sv;
    std::array<std::string_view, 3> pieces{data, big_chunk, chunk_end};
    pending_write_ = stream->write(pieces);
    return pending_write_;
}

// The head and the first piece of body go out in one write (one system
// call, one TCP segment for a small response).
Future<void> HTTP1Connection::write_headers(const ResponseStartLine& start_line,
                                            const HTTPHeaders& headers, std::string_view chunk) {
    return write_head(start_line, headers, chunk, kCoalesceLimit);
}

// A shared piece (a cached file's bytes) is not copied after the head: the
// two go to the kernel side by side.
Future<void> HTTP1Connection::write_headers_shared(const ResponseStartLine& start_line,
                                                   const HTTPHeaders& headers, SharedBytes body) {
    return write_head(start_line, headers, body.bytes, 0);
}

// write_headers, with the first chunk copied after the head only when it
// is `copy_limit` bytes or fewer.
Future<void> HTTP1Connection::write_head(const ResponseStartLine& start_line,
                                         const HTTPHeaders& headers, std::string_view chunk,
                                         std::size_t copy_limit) {
    // An error answer (a 408 while the application was still working) ended
    // the response under the application's feet: its answer has nowhere to go.
    if (response_state_ == ResponseState::abandoned) return failed_write();
    if (response_state_ != ResponseState::nothing_sent)
        throw std::logic_error("HTTP1Connection: write_headers called twice");
    IOStream* stream = open_stream();
    if (stream == nullptr) {
        response_state_ = ResponseState::headers_sent;
        return failed_write();
    }
    std::string out = take_output_buffer();
    // Room for the head and a small body at once (sizes a guess: a field
    // is rarely longer than 64 bytes).
    std::size_t body_room = chunk.size() <= copy_limit ? chunk.size() + 24 : 24;
    out.reserve(160 + server_->params().server_header.size() + headers.size() * 64 + body_room);
    format_head(out, start_line, headers);
    response_state_ = ResponseState::headers_sent;
    bool copied = append_body(out, chunk, copy_limit);
    Future<void> written = send(out, copied ? std::string_view() : chunk);
    return_output_buffer(std::move(out));
    return written;
}

// Errors that are the application's (out of order) throw; a connection
// that is gone (closed, or an error answer took over) gives a failed
// Future, which the application cannot have prevented.
Future<void> HTTP1Connection::write(std::string_view chunk) {
    if (response_state_ == ResponseState::nothing_sent)
        throw std::logic_error("HTTP1Connection: write before write_headers");
    if (response_state_ == ResponseState::abandoned) return failed_write();
    if (answered()) throw std::logic_error("HTTP1Connection: write after finish");
    if (open_stream() == nullptr) return failed_write();
    std::string out = take_output_buffer();
    bool copied = append_body(out, chunk, kCoalesceLimit);
    Future<void> written(nullptr);
    if (out.empty() && copied) {  // nothing to send (an empty chunk, or a body that is not sent)
        written = pending_write_.valid() ? pending_write_ : detail::done_future();
    } else {
        written = send(out, copied ? std::string_view() : chunk);
    }
    return_output_buffer(std::move(out));
    return written;
}

// A chunked body would need its framing around the file's bytes: only a
// body with a Content-Length (a static file's) goes this way.
bool HTTP1Connection::sends_file_now() const {
    if (response_state_ != ResponseState::headers_sent || response_.chunked ||
        !response_.body_allowed) {
        return false;
    }
    IOStream* stream = open_stream();
    return stream != nullptr && stream->sends_file_now();
}

Future<void> HTTP1Connection::write_file(FileBytes file) {
    if (!sends_file_now())
        throw std::logic_error("HTTP1Connection: write_file where sends_file_now() is false");
    count_against_content_length(file.count);
    pending_write_ = open_stream()->write_file(std::move(file));
    return pending_write_;
}

void HTTP1Connection::finish() { end_response(detail::kLastChunk); }

// The last chunk, the trailer fields as a head's fields, and the empty
// line (RFC 9112 section 7.1). The fields were checked when they were set
// (HTTPHeaders refuses CR, LF and names that are not tokens).
void HTTP1Connection::finish_with_trailers(const HTTPHeaders& trailers) {
    if (!response_.chunked || trailers.empty()) {
        finish();
        return;
    }
    std::string last_chunk = "0\r\n";
    for (HTTPHeaders::Field trailer : trailers) {
        last_chunk.append(trailer.name).append(": ").append(trailer.value).append("\r\n");
    }
    last_chunk.append("\r\n");
    end_response(last_chunk);
}

// Ends the response: a short body is an error the client must not
// mistake for a whole one (so the connection closes), a chunked body
// gets its last chunk, and the request is over once the last byte is
// flushed (finish_request), not before: the next request on this
// connection is read only then.
void HTTP1Connection::end_response(std::string_view last_chunk) {
    if (response_state_ == ResponseState::nothing_sent)
        throw std::logic_error("HTTP1Connection: finish without write_headers");
    // An error answer ended the response already: nothing is left to finish.
    if (response_state_ == ResponseState::abandoned) return;
    if (answered()) throw std::logic_error("HTTP1Connection: finish called twice");
    response_state_ = ResponseState::finishing;
    if (response_.content_remaining && *response_.content_remaining != 0 &&
        open_stream() != nullptr) {
        std::uint64_t missing = *response_.content_remaining;
        close();
        throw HTTPOutputError(
            tornado::format("Tried to write {} bytes less than Content-Length", missing));
    }
    if (response_.chunked) {
        if (IOStream* stream = open_stream()) pending_write_ = stream->write(last_chunk);
    }
    // The application answered before the whole body came: what is left of
    // it cannot be told from the next request. Close after the answer.
    if (!body_read_) close_after_response_ = true;
    if (!pending_write_.valid() || pending_write_.done() || answer_held()) {
        finish_request();
    } else {
        pending_write_.add_done_callback([self = shared_from_this()] { self->finish_request(); });
    }
}

// An answer held with the others of a pipelined batch (HeldAnswers) is
// as good as sent for a connection that stays open: its bytes are queued
// in order, and leave when the serving loop stops. An answer the
// connection closes after waits for its send, as any other.
bool HTTP1Connection::answer_held() const noexcept {
    IOStream* stream = open_stream();
    return stream != nullptr && stream->writes_held() && !close_after_response_;
}

// The response's last byte is flushed (or its write failed): the request
// is over. A close decided earlier happens now; with body bytes still
// unread, as a lingering close, so the client reads the answer before the
// connection goes away.
void HTTP1Connection::finish_request() {
    if (response_over()) return;
    response_state_ = ResponseState::finished;
    trace_end();
    close_callback_ = nullptr;
    if (close_after_response_ && !server_->detached()) {
        if (!body_read_) {
            server_->lingering_close(Future<void>(nullptr));
        } else {
            close();
        }
    }
    release_waiter();
    if (std::exchange(resume_after_flush_, false)) {
        server_->request_done(*this, finished_outcome() == Outcome::keep_alive);
    }
}

// --- errors ------------------------------------------------------------------------------------

// The error answers all say what went wrong in their body, and close.
// Nothing is sent if the application's own response has begun: its head
// is out, and a second one would be garbage inside its body.
void HTTP1Connection::send_error_response(int status, std::string_view message) {
    IOStream* stream = open_stream();
    if (stream == nullptr || response_state_ != ResponseState::nothing_sent) return;
    std::string body = tornado::format("{} {}: {}\n", status, reason_phrase(status), message);
    HTTPHeaders headers{{"Content-Type", "text/plain; charset=UTF-8"},
                        {"Content-Length", std::to_string(body.size())},
                        {"Connection", "close"}};
    close_after_response_ = true;
    std::string out;
    format_head(out, ResponseStartLine{"HTTP/1.1", status, ""}, headers);
    response_state_ = ResponseState::abandoned;
    if (response_.body_allowed) out += body;
    pending_write_ = stream->write(std::move(out));
}

// A request we cannot read on from (bad framing, a limit passed): answer
// its status, then a lingering close.
void HTTP1Connection::fail_request(const HTTPInputError& error) {
    gen_log.info("Malformed HTTP message from {}: {}", server_->context().remote_ip, error.what());
    send_error_response(error.status(), error.what());
    end_after_error();
}

// The application threw before it answered: a 500 that names no detail
// (the log has them), then a lingering close.
void HTTP1Connection::fail_with_exception(std::exception_ptr error) {
    app_log.error("Uncaught exception while serving {}: {}", server_->context().remote_ip,
                  describe_exception(error));
    send_error_response(500, "the application failed to answer (the server's log says why)");
    end_after_error();
}

// After an error answer (or none, if the response had begun): the request
// is done and the connection goes once the answer is flushed.
void HTTP1Connection::end_after_error() {
    close_after_response_ = true;
    response_state_ = ResponseState::abandoned;
    close_callback_ = nullptr;
    server_->lingering_close(pending_write_);
    release_waiter();
}

// The body did not come within body_timeout (Tornado closes without a
// word; we answer 408 first when nothing of the response is out yet).
void HTTP1Connection::answer_timeout() {
    gen_log.info("Timeout reading body from {}", server_->context().remote_ip);
    send_error_response(
        408, tornado::format("the request body did not arrive within {} seconds",
                             seconds_text(body_timeout_.value_or(IOLoop::Clock::duration()))));
    std::shared_ptr<IOStream> stream = server_->stream();
    if (!stream) return;
    // Closing fails the pending body read: the serving loop ends.
    if (!pending_write_.valid() || pending_write_.done()) {
        stream->close();
    } else {
        pending_write_.add_done_callback([stream] { stream->close(); });
    }
}

// The stream closed while the application works on this request.
void HTTP1Connection::on_stream_closed() {
    if (response_over()) return;
    run_close_callback();
    release_waiter();
}

// While the application works on its answer, nobody reads the stream, so
// a client that leaves would go unnoticed until the answer is written.
// The stream reports its FIN instead, at once if it came with the request.
void HTTP1Connection::watch_for_peer_fin() {
    IOStream* stream = open_stream();
    if (stream == nullptr) return;
    stream->set_peer_fin_callback([weak = weak_from_this()] {
        if (std::shared_ptr<HTTP1Connection> self = weak.lock()) self->on_peer_fin();
    });
}

// The client sent its FIN while the application works on the answer:
// gone, or only done sending. The application hears on_connection_close,
// as in Tornado, so a long poll can stop waiting. The stream stays open:
// a client that only half-closed (`nc -q`, shutdown(SHUT_WR)) still gets
// the answer, as nginx gives it; for one that has gone, the answer's
// write meets a reset and the stream closes. After the answer the serving
// loop reads on: any pipelined request still buffered, then the end.
void HTTP1Connection::on_peer_fin() {
    if (response_over()) return;
    run_close_callback();
}

void HTTP1Connection::trace_begin(const RequestStartLine& start_line) {
    detail::trace_request_started(this, start_line.method, start_line.path);
    traced_ = true;
}

void HTTP1Connection::trace_end() noexcept {
    if (!traced_) return;
    traced_ = false;
    detail::trace_request_finished(this, traced_status_);
}

void HTTP1Connection::run_close_callback() noexcept {
    if (!close_callback_) return;
    Function<void()> callback = std::move(close_callback_);
    close_callback_ = nullptr;
    try {
        callback();
    } catch (...) {
        app_log.error("Uncaught exception in a connection close callback: {}",
                      describe_exception(std::current_exception()));
    }
}

// === HTTP1ServerConnection ====================================================================

HTTP1ServerConnection::HTTP1ServerConnection(
    std::shared_ptr<IOStream> stream, std::shared_ptr<const HTTP1ConnectionParameters> params,
    HTTPRequestContext context)
    : stream_(std::move(stream)),
      params_(params ? std::move(params) : default_params()),
      context_(std::move(context)) {}

HTTP1ServerConnection::~HTTP1ServerConnection() = default;

// The stream's close callback holds the connection weakly: the serving
// loop (or the request in progress) owns it, never the stream.
void HTTP1ServerConnection::start_serving(HTTPServerConnectionDelegate& delegate) {
    if (serving_) throw std::logic_error("HTTP1ServerConnection: already serving");
    delegate_ = &delegate;
    serving_ = true;
    // Nagle would hold the end of a response written in pieces until the
    // client's delayed ACK (up to 40 ms). Set once, not per response.
    stream_->set_nodelay(true);
    stream_->set_close_callback([weak = weak_from_this()] {
        if (std::shared_ptr<HTTP1ServerConnection> self = weak.lock()) self->on_stream_closed();
    });
    read_next_request();
}

// The answers to pipelined requests that one go of the serving loop
// serves leave together, in one send(), when the loop stops (the next head
// has not come, a request goes on by itself, the connection ends): one
// segment and one wake-up of the client for them all, not one each.
// Nothing is held for a lone request: it is answered as it finishes.
class HTTP1ServerConnection::HeldAnswers {
public:
    HeldAnswers() = default;
    HeldAnswers(const HeldAnswers&) = delete;
    HeldAnswers& operator=(const HeldAnswers&) = delete;
    ~HeldAnswers() {
        if (!stream_) return;
        stream_->release_writes();
        connection_->wait_for_released_answers();
    }

    // Holds the stream's writes when more than this request's head has
    // come already: the next request, or this one's body. The stream is
    // kept as well as the connection: a request of the batch may give the
    // stream away (a WebSocket), and its hold must end all the same.
    void hold_if_more_came(HTTP1ServerConnection& connection) {
        const std::shared_ptr<IOStream>& stream = connection.stream_;
        if (stream_ || !stream || stream->read_buffer_size() == 0) return;
        if (!stream->hold_writes()) return;
        stream_ = stream;
        connection_ = connection.shared_from_this();
    }

private:
    std::shared_ptr<IOStream> stream_;
    std::shared_ptr<HTTP1ServerConnection> connection_;
};

// The serving loop. Each turn reads a head; when it is already buffered
// (pipelined requests) the request is served at once and the loop turns
// again, up to kMaxSynchronousRequests in a row. When it must wait, a
// callback (on_head) picks it up later: an idle connection holds no
// coroutine frame and no Future, only its pending read and that callback.
void HTTP1ServerConnection::read_next_request() {
    HeldAnswers held;
    for (std::uint32_t in_a_row = 0;; ++in_a_row) {
        if (close_when_idle_ || detached() || !stream_ || stream_->closed() ||
            delegate_ == nullptr) {
            end_serving();
            return;
        }
        // Pipelined requests straight from the buffer for a while: go on at
        // a later turn, so other connections get theirs.
        if (in_a_row == kMaxSynchronousRequests) {
            stream_->io_loop().add_callback(
                [self = shared_from_this()] { self->read_next_request(); });
            return;
        }
        wait_for(Waiting::head, params_->header_timeout);
        // By callback, not Future: an idle keep-alive connection then holds
        // no Future state while it waits.
        std::optional<std::string> head;
        try {
            head = stream_->read_until_empty_line(
                params_->max_header_size,
                [self = shared_from_this()](std::string&& data, std::exception_ptr error) {
                    self->on_head(std::move(data), std::move(error));
                });
        } catch (const StreamClosedError&) {
            end_serving();
            return;
        }
        if (!head) return;  // on_head goes on when it comes
        held.hold_if_more_came(*this);
        if (!serve_head(std::move(*head))) return;
    }
}

// A head that had to be waited for (serve it, then back to the loop), or
// the read's failure: a head over max_header_size is answered 431; a
// closed stream (the peer, a limit) or the loop's close (CancelledError)
// ends serving.
void HTTP1ServerConnection::on_head(std::string&& head, std::exception_ptr error) {
    if (!error) {
        HeldAnswers held;  // the first of a pipelined batch is held too
        held.hold_if_more_came(*this);
        if (serve_head(std::move(head))) read_next_request();
        return;
    }
    // How most connections end: the client closed it, between requests.
    // Which error closed the stream makes no difference then, and finding
    // out would cost a rethrow (thousands of instructions of unwinding).
    if (stream_ == nullptr || stream_->closed()) {
        end_serving();
        return;
    }
    try {
        std::rethrow_exception(error);
    } catch (const UnsatisfiableReadError&) {
        answer_head_too_large();
    } catch (const std::exception&) {
        end_serving();
    }
}

// No empty line within max_header_size: 431, answered as every other bad
// request is (a request of its own that fails at once), then a lingering
// close: the client is probably still sending the rest of its head.
void HTTP1ServerConnection::answer_head_too_large() {
    if (stream_ && !stream_->closed()) {
        auto request = std::make_shared<HTTP1Connection>(shared_from_this());
        request->fail_request(HTTPInputError(
            431,
            tornado::format("request head over the limit of {} bytes", params_->max_header_size)));
    }
    end_serving();
}

// Serves one request from its head. Returns true when the next request may
// be read at once; false when the connection ends or the request goes on
// in its own coroutine (which calls request_done()).
bool HTTP1ServerConnection::serve_head(std::string&& head) {
    waiting_ = Waiting::nothing;
    if (is_blank_head(head)) return true;  // empty lines between requests
    if (delegate_ == nullptr) {
        end_serving();
        return false;
    }
    if (params_->http2 &&
        (head == kHTTP2PrefaceHead || (context_.protocol == "http" && asks_for_h2c(head)))) {
        hand_over_to_http2(std::move(head));
        return false;
    }
    auto request = std::make_shared<HTTP1Connection>(shared_from_this());
    std::unique_ptr<HTTPMessageDelegate> message;
    try {
        message = delegate_->start_request(this, request);
        if (!message) throw std::logic_error("start_request returned no HTTPMessageDelegate");
    } catch (...) {
        gen_log.error("Uncaught exception in start_request for {}: {}", context_.remote_ip,
                      describe_exception(std::current_exception()));
        end_serving();
        return false;
    }
    current_ = request.get();
    HTTP1Connection::Outcome outcome = request->start_message(std::move(head), *message);
    if (outcome == HTTP1Connection::Outcome::pending) {
        request->continue_message(std::move(message)).detach();
        return false;
    }
    if (outcome == HTTP1Connection::Outcome::flushing) {
        return false;  // request_done comes from the request's finish_request
    }
    message.reset();
    current_ = nullptr;
    return after_request(*request, outcome == HTTP1Connection::Outcome::keep_alive);
}

// The slow path's end (continue_message): the loop resumes here.
void HTTP1ServerConnection::request_done(const HTTP1Connection& request, bool keep_alive) {
    current_ = nullptr;
    if (after_request(request, keep_alive)) read_next_request();
}

// What comes after a request: the next one, or the end.
bool HTTP1ServerConnection::after_request(const HTTP1Connection& request, bool keep_alive) {
    if (detached() || !keep_alive) {
        end_serving();
        return false;
    }
    if (request.switching_protocols()) {
        // A 101 answer: the application takes the stream (WebSocket). Give
        // it one turn to detach() it; else end_serving closes the stream.
        stream_->io_loop().add_callback([self = shared_from_this()] { self->end_serving(); });
        return false;
    }
    return true;
}

// The one way out of the serving loop, however it ends. The stream is
// closed only if it is still ours (StreamFate), the delegate hears
// on_close exactly once, and whoever waits in close() is released.
void HTTP1ServerConnection::end_serving() noexcept {
    if (!serving_) return;
    cancel_timeout();
    serving_ = false;
    waiting_ = Waiting::nothing;
    if (fate_ == StreamFate::detached) {
        stream_.reset();  // someone else's now
    } else if (stream_ && fate_ == StreamFate::ours) {
        stream_->close();
    }
    detail::end_server_connection(*this, delegate_, closed_future_);
}

void HTTP1ServerConnection::on_stream_closed() {
    if (current_ != nullptr) current_->on_stream_closed();
}

// Closing the stream fails the pending read (or the request's next
// write), which ends the serving loop; the Future resolves in end_serving.
Future<void> HTTP1ServerConnection::close() {
    if (!serving_) return detail::done_future();
    if (stream_ && !detached()) stream_->close();
    if (!closed_future_.valid()) closed_future_ = Future<void>();
    return closed_future_;
}

IOStream* HTTP1ServerConnection::open_stream() const noexcept {
    if (fate_ == StreamFate::detached || !stream_ || stream_->closed()) return nullptr;
    return stream_.get();
}

// The serving loop lets go of the stream at once (end_serving will not
// close it) and its timer stops: the stream is the new owner's.
std::shared_ptr<IOStream> HTTP1ServerConnection::detach_stream() {
    if (fate_ == StreamFate::detached || !stream_) {
        throw std::logic_error("HTTP1Connection::detach: the stream is gone already");
    }
    fate_ = StreamFate::detached;
    cancel_timeout();
    std::shared_ptr<IOStream> stream = std::move(stream_);
    stream_.reset();
    stream->set_close_callback(nullptr);
    return stream;
}

// A client that opened with HTTP/2's preface, or asked for h2c by Upgrade:
// this connection ends (its server forgets it) and the delegate serves the
// stream over HTTP/2, starting from the head read here (the preface's
// line, or the request to answer with 101). Only a connection's first head
// should be the preface; a later one is handed over all the same, as an
// HTTP/1 request line it would get 505 anyway.
void HTTP1ServerConnection::hand_over_to_http2(std::string&& head) {
    HTTPServerConnectionDelegate* delegate = delegate_;
    HTTPRequestContext context = context_;
    std::shared_ptr<IOStream> stream = detach_stream();
    end_serving();
    delegate->start_http2(std::move(stream), std::move(head), std::move(context));
}

void HTTP1ServerConnection::server_gone() noexcept {
    delegate_ = nullptr;
    if (stream_ && !detached()) stream_->close();
}

// Idle means: closing now loses nothing. A connection with bytes of a
// next request buffered is not idle, though it waits for a head.
bool HTTP1ServerConnection::idle() const noexcept {
    return serving_ && current_ == nullptr && waiting_ == Waiting::head && stream_ &&
           !stream_->closed() && stream_->read_buffer_size() == 0;
}

// HTTPServer's graceful stop. A busy connection sees close_when_idle_
// in read_framing (its response says Connection: close) and in
// read_next_request (it reads no further request).
void HTTP1ServerConnection::close_when_idle() {
    close_when_idle_ = true;
    if (idle()) stream_->close();
}

void HTTP1ServerConnection::lingering_close(Future<void> flushed) {
    if (!stream_ || stream_->closed() || fate_ != StreamFate::ours) return;
    fate_ = StreamFate::lingering;
    cancel_timeout();
    waiting_ = Waiting::nothing;
    tornado::lingering_close(stream_, std::move(flushed), kLingerTime, kLingerBytes);
}

// The kernel may not take at once all the answers a hold released (its
// buffer is full: a client slow to read them). Their requests are over,
// but until the bytes are sent the connection is not idle: a graceful
// stop or the idle timeout would close it and drop them. So it waits for
// nothing meanwhile (no time limit, as for any answer being flushed), and
// for the next head again, or closes if a graceful stop came, once they
// are sent.
void HTTP1ServerConnection::wait_for_released_answers() {
    IOStream* stream = open_stream();
    if (stream == nullptr || waiting_ != Waiting::head || stream->write_buffer_size() == 0) return;
    wait_for(Waiting::nothing, std::nullopt);
    // An empty write's Future resolves once every byte before it is sent.
    stream->write(std::string_view{}).add_done_callback([self = shared_from_this()] {
        self->on_released_answers_sent();
    });
}

void HTTP1ServerConnection::on_released_answers_sent() {
    // Serving ended, or a request came meanwhile (it is being served, or
    // the loop waits for the head after it), or a later hold's bytes are
    // still going: someone else goes on.
    IOStream* stream = open_stream();
    if (!serving_ || stream == nullptr || fate_ != StreamFate::ours || current_ != nullptr ||
        waiting_ != Waiting::nothing || stream->write_buffer_size() != 0) {
        return;
    }
    wait_for(Waiting::head, params_->header_timeout);
    if (close_when_idle_ && idle()) stream->close();
}

// --- time limits ---------------------------------------------------------------------------------

// Called for every request (and twice more for one with a body): a few
// pointer writes in the loop's list for this length (ListedTimeout).
void HTTP1ServerConnection::wait_for(Waiting what, std::optional<IOLoop::Clock::duration> limit) {
    waiting_ = what;
    if (what == Waiting::nothing || !limit || !stream_) {
        cancel_timeout();
        return;
    }
    start_timeout(stream_->io_loop(), *limit);
}

// What we wait for is late. A head too late closes quietly, as Tornado
// does; a body too late gets a 408 from the request in progress.
void HTTP1ServerConnection::on_timeout() {
    if (waiting_ == Waiting::nothing || !stream_ || stream_->closed() || detached()) return;
    // The close below may end the serving loop, which lets go of us.
    std::shared_ptr<HTTP1ServerConnection> self = shared_from_this();
    if (waiting_ == Waiting::head) {
        // Idle too long, or a head too slow in coming (Tornado closes quietly).
        gen_log.debug("Closing {}: no request within the header timeout", context_.remote_ip);
        waiting_ = Waiting::nothing;
        stream_->close();
    } else {
        waiting_ = Waiting::nothing;
        if (current_ != nullptr) {
            current_->answer_timeout();
        } else {
            stream_->close();
        }
    }
}

}  // namespace tornado
