// http2stream.cpp: one stream of an HTTP/2 connection (http2stream.h).
#include "http2stream.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>

#include "core/text.h"
#include "http/response_fields.h"
#include "tornado/log.h"

namespace tornado {

namespace {

std::exception_ptr closed_error() { return std::make_exception_ptr(StreamClosedError()); }

Future<void> closed_future() {
    Future<void> closed;
    closed.set_exception(closed_error());
    (void)closed.exception();  // nobody need look at it (on_closed says why)
    return closed;
}

// What every enter() does: moves a machine's `stage` to `to` where its
// drawing shows the move (`drawn`), else throws std::logic_error.
template <typename Stage>
void move(Stage& stage, Stage to, bool drawn, std::string_view machine,
          const std::array<std::string_view, 3>& names) {
    if (!drawn) {
        throw std::logic_error(tornado::format("HTTP/2 stream: {} cannot go from {} to {}", machine,
                                               names[static_cast<std::size_t>(stage)],
                                               names[static_cast<std::size_t>(to)]));
    }
    stage = to;
}

}  // namespace

HTTP2Stream::HTTP2Stream(std::shared_ptr<HTTP2ServerConnection> connection, std::uint32_t id)
    : RequestDriver("HTTP/2.0", connection->params_.max_header_list_size,
                    connection->params_.max_body_size),
      connection_(std::move(connection)),
      id_(id),
      context_(connection_->context_) {}

// --- two of the three machines (their drawings are in http2stream.h) ----------------------

void HTTP2Stream::enter(StreamState to) {
    bool drawn = (state_ == StreamState::open && to != StreamState::open) ||
                 (state_ == StreamState::half_closed_remote && to == StreamState::closed);
    move(state_, to, drawn, "the stream", {"open", "half_closed_remote", "closed"});
}

void HTTP2Stream::enter(ResponseStage to) {
    bool drawn = (response_ == ResponseStage::nothing_sent && to == ResponseStage::headers_sent) ||
                 (response_ == ResponseStage::headers_sent && to == ResponseStage::finished);
    move(response_, to, drawn, "the response", {"nothing_sent", "headers_sent", "finished"});
}

// --- the response ---------------------------------------------------------------------------

bool HTTP2Stream::start_response(const ResponseStartLine& start_line, const HTTPHeaders& headers) {
    enter(ResponseStage::headers_sent);
    int code = start_line.code;
    body_allowed_ = !head_request_ && code >= 200 && code != 204 && code != 304;
    if (over()) return false;
    // The status and the fields (see response_fields), with the
    // connection's server and alt-svc fields.
    std::span<const detail::HPACKField> fields = detail::response_fields<detail::HPACKField>(
        code, headers, connection_->params_.server_header, connection_->params_.alt_svc);
    session().submit_response(id_, fields, body_allowed_);
    connection_->send_soon();
    return true;
}

Future<void> HTTP2Stream::write_headers(const ResponseStartLine& start_line,
                                        const HTTPHeaders& headers, std::string_view chunk) {
    if (!start_response(start_line, headers)) return closed_future();
    return queue(SharedBytes(nullptr, chunk));
}

Future<void> HTTP2Stream::write_headers_shared(const ResponseStartLine& start_line,
                                               const HTTPHeaders& headers, SharedBytes body) {
    if (!start_response(start_line, headers)) return closed_future();
    return queue(std::move(body));
}

Future<void> HTTP2Stream::write(std::string_view chunk) {
    return write_shared(SharedBytes(nullptr, chunk));
}

Future<void> HTTP2Stream::write_shared(SharedBytes body) {
    if (response_ == ResponseStage::nothing_sent)
        throw std::logic_error("HTTP/2: write before write_headers");
    if (response_ == ResponseStage::finished) throw std::logic_error("HTTP/2: write after finish");
    if (over()) return closed_future();
    return queue(std::move(body));
}

void HTTP2Stream::finish() {
    enter(ResponseStage::finished);
    if (over() || !body_allowed_) return;
    session().resume_body(id_);
    connection_->send_soon();
}

void HTTP2Stream::finish_with_trailers(const HTTPHeaders& trailers) {
    if (response_ != ResponseStage::finished) {
        for (HTTPHeaders::Field trailer : trailers) {
            std::string name = detail::lower_ascii(trailer.name);
            if (detail::connection_specific(name)) continue;
            trailers_.emplace_back(std::move(name), trailer.value);
        }
    }
    finish();
}

void HTTP2Stream::set_close_callback(Function<void()> callback) {
    close_callback_ = std::move(callback);
}

std::shared_ptr<IOStream> HTTP2Stream::detach() {
    throw std::logic_error("an HTTP/2 stream cannot be detached");
}

detail::HTTP2Session& HTTP2Stream::session() const noexcept { return *connection_->session_; }

// Queues body bytes for the session (a copy, unless they have an owner);
// the Future resolves once the session has taken them into DATA frames,
// which the peer's windows allow.
Future<void> HTTP2Stream::queue(SharedBytes chunk) {
    Future<void> flushed;
    if (!body_allowed_ || chunk.bytes.empty()) {
        flushed.set_result();
        return flushed;
    }
    queued_ += chunk.bytes.size();
    connection_->queued_bytes_ += chunk.bytes.size();
    out_.emplace_back(std::move(chunk));
    writers_.push_back({queued_, flushed});
    session().resume_body(id_);
    connection_->send_soon();
    return flushed;
}

// The session's question before each DATA frame: the bytes written so
// far, as much as the windows allow (`most`); none while the handler has
// written nothing more and not finished. At the end, the trailers go to
// the session, which ends the stream with them instead of the DATA.
detail::HTTP2Session::Listener::Body HTTP2Stream::body_ready(std::size_t most) noexcept {
    std::uint64_t waiting = queued_ - taken_;
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(most, waiting));
    bool last = response_ == ResponseStage::finished && n == waiting;
    if (last && !trailers_.empty()) session().submit_trailers(id_, std::move(trailers_));
    return {n, last};
}

void HTTP2Stream::send_data(detail::HTTP2FrameBatch& batch, std::size_t length) noexcept {
    take_into(batch, length);
    taken_ += length;
    std::size_t flushed = 0;
    while (flushed < writers_.size() && writers_[flushed].until <= taken_) {
        writers_[flushed].flushed.set_result();  // its callbacks run later, on the loop
        ++flushed;
    }
    writers_.erase(writers_.begin(), writers_.begin() + static_cast<std::ptrdiff_t>(flushed));
}

// The next `length` bytes of out_, which body_ready said are there, onto
// `batch` (a shared piece by reference, where the batch can); the pieces
// they empty go.
void HTTP2Stream::take_into(detail::HTTP2FrameBatch& batch, std::size_t length) noexcept {
    std::size_t emptied = 0;
    while (length > 0) {
        const detail::BodyChunk& chunk = out_[emptied];
        std::string_view rest = chunk.bytes().substr(out_taken_);
        std::size_t taken = std::min(length, rest.size());
        batch.append_shared(rest.substr(0, taken), chunk.owner());
        length -= taken;
        out_taken_ += taken;
        if (out_taken_ == out_[emptied].bytes().size()) {
            ++emptied;
            out_taken_ = 0;
        }
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(emptied));
}

void HTTP2Stream::fail_waiting_writes() noexcept {
    for (Waiting& writer : writers_) {
        if (writer.flushed.done()) continue;
        writer.flushed.set_exception(closed_error());
        // As HTTP/1's failed writes: nobody need look at it. A client that
        // resets its streams is no error of the server's to log.
        (void)writer.flushed.exception();
    }
    writers_.clear();
}

// --- the request, as the callbacks fill it ----------------------------------------------

void HTTP2Stream::add_field(std::string_view name, std::string_view value) {
    header_bytes_ += name.size() + value.size() + 32;   // RFC 9113 section 6.5.2's measure
    if (header_bytes_ > max_header_list_size_) return;  // answered 431
    if (name == ":method") {
        start_line_.method = value;
        head_request_ = value == "HEAD";
    } else if (name == ":path") {
        start_line_.path = value;
    } else if (name == ":authority") {
        authority_ = value;
    } else if (name == "cookie") {
        // Split into fields to compress better; one header again for
        // the application (RFC 9113 section 8.2.3).
        if (!cookie_.empty()) cookie_ += "; ";
        cookie_ += value;
    } else if (!name.starts_with(':')) {
        add_checked_field(name, value);  // field_problem() checked it
    }
}

void HTTP2Stream::end_of_request() { enter(StreamState::half_closed_remote); }

void HTTP2Stream::take_upgraded_request(const RequestStartLine& start, const HTTPHeaders& headers) {
    add_field(":method", start.method);
    add_field(":path", start.path);
    for (HTTPHeaders::Field header : headers) {
        std::string name = detail::lower_ascii(header.name);
        if (detail::connection_specific(name) || name == "http2-settings") continue;
        add_field(name == "host" ? ":authority" : name, header.value);
    }
    end_of_request();
}

// --- the request body's window (RequestDriver runs the request) ---------------------------

// The session counts it toward the connection's window always, and toward
// the stream's while the client may still send on it.
void HTTP2Stream::give_back(std::size_t size) noexcept {
    if (size == 0 || !connection_) return;
    session().consume(id_, size);
    connection_->send_soon();
}

// --- the end ---------------------------------------------------------------------------------

void HTTP2Stream::reset(detail::HTTP2ErrorCode code) {
    if (over()) return;
    session().reset_stream(id_, code);
    connection_->send_soon();
}

void HTTP2Stream::on_closed(detail::HTTP2ErrorCode error_code) {
    if (state_ == StreamState::closed) return;
    enter(StreamState::closed);
    bool answered =
        response_ == ResponseStage::finished && error_code == detail::HTTP2ErrorCode::no_error;
    if (answered) {
        stop_delegate();
    } else {
        close_delegate();
        if (close_callback_) {
            Function<void()> callback = std::move(close_callback_);
            callback();
        }
    }
    fail_waiting_writes();
    // The delegate holds this stream (its request does): let go of it, or
    // the two keep each other alive for good. A handler that still runs
    // lives on (it holds itself).
    std::unique_ptr<HTTPMessageDelegate> done = std::move(delegate_);
    wake();  // a request coroutine that waits for more body ends (done)
}

}  // namespace tornado
