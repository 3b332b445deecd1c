// http3stream.cpp: one request stream of an HTTP/3 connection (http3stream.h).
#include "http3stream.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/text.h"
#include "http/connection_end.h"
#include "http/response_fields.h"
#include "http3libraries.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// Submits a response's HEADERS (see response_fields), with the server
// field.
int submit_response(nghttp3_conn* http, std::int64_t id, int code, const HTTPHeaders& headers,
                    std::string_view server_header, const nghttp3_data_reader* body) {
    std::span<const nghttp3_nv> fields =
        detail::response_fields<nghttp3_nv>(code, headers, server_header, {});
    return nghttp3_conn_submit_response(http, id, fields.data(), fields.size(), body);
}

std::exception_ptr closed_error() { return std::make_exception_ptr(StreamClosedError()); }

Future<void> closed_future() {
    Future<void> closed;
    closed.set_exception(closed_error());
    (void)closed.exception();  // nobody need look at it (on_closed says why)
    return closed;
}

// What every enter() does: moves `stage` to `to` where the drawing shows
// the move (`drawn`), else throws std::logic_error.
template <typename Stage>
void move(Stage& stage, Stage to, bool drawn, std::string_view machine,
          const std::array<std::string_view, 3>& names) {
    if (!drawn) {
        throw std::logic_error(tornado::format("HTTP/3 stream: {} cannot go from {} to {}", machine,
                                               names[static_cast<std::size_t>(stage)],
                                               names[static_cast<std::size_t>(to)]));
    }
    stage = to;
}

nghttp3_ssize read_data(nghttp3_conn*, std::int64_t, nghttp3_vec* vec, std::size_t count,
                        std::uint32_t* flags, void*, void* stream_user_data) {
    auto* stream = static_cast<HTTP3Stream*>(stream_user_data);
    if (stream == nullptr) return NGHTTP3_ERR_CALLBACK_FAILURE;
    return stream->read_body(vec, count, flags);  // noexcept in effect: it only reads
}

}  // namespace

HTTP3Stream::HTTP3Stream(std::shared_ptr<HTTP3ServerConnection> connection, std::int64_t id)
    : RequestDriver("HTTP/3.0", connection->server_->params().max_header_list_size,
                    connection->server_->params().max_body_size),
      connection_(std::move(connection)),
      id_(id),
      context_(connection_->context_) {}

// --- two of the three machines -------------------------------------------------------------

void HTTP3Stream::enter(StreamState to) {
    bool drawn = (state_ == StreamState::open && to != StreamState::open) ||
                 (state_ == StreamState::half_closed_remote && to == StreamState::closed);
    move(state_, to, drawn, "the stream", {"open", "half_closed_remote", "closed"});
}

void HTTP3Stream::enter(ResponseStage to) {
    bool drawn = (response_ == ResponseStage::nothing_sent && to == ResponseStage::headers_sent) ||
                 (response_ == ResponseStage::headers_sent && to == ResponseStage::finished);
    move(response_, to, drawn, "the response", {"nothing_sent", "headers_sent", "finished"});
}

// --- the response ---------------------------------------------------------------------------

bool HTTP3Stream::start_response(const ResponseStartLine& start_line, const HTTPHeaders& headers) {
    enter(ResponseStage::headers_sent);
    int code = start_line.code;
    body_allowed_ = !head_request_ && code >= 200 && code != 204 && code != 304;
    if (over() || connection_->lib_->http == nullptr) return false;
    nghttp3_data_reader body{&read_data};
    int failed =
        submit_response(http(), id_, code, headers, connection_->server_->params().server_header,
                        body_allowed_ ? &body : nullptr);
    if (failed != 0) throw HTTPOutputError(nghttp3_strerror(failed));
    connection_->send_soon();
    return true;
}

Future<void> HTTP3Stream::write_headers(const ResponseStartLine& start_line,
                                        const HTTPHeaders& headers, std::string_view chunk) {
    if (!start_response(start_line, headers)) return closed_future();
    return queue(SharedBytes(nullptr, chunk));
}

Future<void> HTTP3Stream::write_headers_shared(const ResponseStartLine& start_line,
                                               const HTTPHeaders& headers, SharedBytes body) {
    if (!start_response(start_line, headers)) return closed_future();
    return queue(std::move(body));
}

Future<void> HTTP3Stream::write(std::string_view chunk) {
    return write_shared(SharedBytes(nullptr, chunk));
}

Future<void> HTTP3Stream::write_shared(SharedBytes body) {
    if (response_ == ResponseStage::nothing_sent)
        throw std::logic_error("HTTP/3: write before write_headers");
    if (response_ == ResponseStage::finished) throw std::logic_error("HTTP/3: write after finish");
    if (over()) return closed_future();
    return queue(std::move(body));
}

void HTTP3Stream::finish() {
    enter(ResponseStage::finished);
    if (over() || !body_allowed_) return;
    nghttp3_conn_resume_stream(http(), id_);
    connection_->send_soon();
}

void HTTP3Stream::finish_with_trailers(const HTTPHeaders& trailers) {
    if (response_ != ResponseStage::finished) {
        for (HTTPHeaders::Field trailer : trailers) {
            std::string name = detail::lower_ascii(trailer.name);
            if (detail::connection_specific(name)) continue;
            trailers_.push_back(std::move(name));
            trailers_.emplace_back(trailer.value);
        }
    }
    finish();
}

void HTTP3Stream::set_close_callback(Function<void()> callback) {
    close_callback_ = std::move(callback);
}

std::shared_ptr<IOStream> HTTP3Stream::detach() {
    throw std::logic_error("an HTTP/3 stream cannot be detached");
}

nghttp3_conn* HTTP3Stream::http() const noexcept { return connection_->lib_->http; }

// Queues body bytes (a copy, unless they have an owner); the Future
// resolves once nghttp3 has taken them (read_body), which it does as
// QUIC's flow control lets the stream send.
Future<void> HTTP3Stream::queue(SharedBytes chunk) {
    Future<void> flushed;
    if (!body_allowed_ || chunk.bytes.empty()) {
        flushed.set_result();
        return flushed;
    }
    queued_ += chunk.bytes.size();
    connection_->queued_bytes_ += chunk.bytes.size();
    chunks_.emplace_back(std::move(chunk));
    writers_.push_back({queued_, flushed});
    nghttp3_conn_resume_stream(http(), id_);
    connection_->send_soon();
    return flushed;
}

// nghttp3's data source: the chunks not yet handed over, one vec each;
// WOULDBLOCK while the handler has written nothing more and not finished.
nghttp3_ssize HTTP3Stream::read_body(nghttp3_vec* vec, std::size_t count, std::uint32_t* flags) {
    std::size_t filled = 0;
    while (filled < count && next_chunk_ < chunks_.size()) {
        std::string_view chunk = chunks_[next_chunk_++].bytes();
        // nghttp3's vec is not const, but nghttp3 only reads the bytes.
        auto* bytes = reinterpret_cast<std::uint8_t*>(const_cast<char*>(chunk.data()));
        vec[filled++] = {bytes, chunk.size()};
        taken_ += chunk.size();
    }
    while (!writers_.empty() && writers_.front().until <= taken_) {
        writers_.front().flushed.set_result();  // its callbacks run later, on the loop
        writers_.pop_front();
    }
    bool all_taken = next_chunk_ == chunks_.size();
    if (response_ == ResponseStage::finished && all_taken) {
        *flags |= NGHTTP3_DATA_FLAG_EOF;
        // The trailers' HEADERS end the stream instead (if they cannot be
        // submitted, the body's end does, without them).
        if (!trailers_.empty() && submit_trailers()) *flags |= NGHTTP3_DATA_FLAG_NO_END_STREAM;
    } else if (filled == 0) {
        return NGHTTP3_ERR_WOULDBLOCK;
    }
    return static_cast<nghttp3_ssize>(filled);
}

// From read_body, at the body's end (nghttp3 lets a data source submit
// them there). nghttp3 copies the fields.
bool HTTP3Stream::submit_trailers() noexcept {
    std::vector<nghttp3_nv> fields;
    try {
        fields = detail::trailer_fields<nghttp3_nv>(trailers_);
    } catch (...) {  // no memory: the stream ends without them
        return false;
    }
    bool submitted = nghttp3_conn_submit_trailers(http(), id_, fields.data(), fields.size()) == 0;
    trailers_.clear();
    return submitted;
}

void HTTP3Stream::acked(std::uint64_t length) {
    acked_in_front_ += length;
    while (!chunks_.empty() && next_chunk_ > 0 &&
           acked_in_front_ >= chunks_.front().bytes().size()) {
        acked_in_front_ -= chunks_.front().bytes().size();
        chunks_.pop_front();
        --next_chunk_;
    }
}

void HTTP3Stream::fail_waiting_writes() noexcept {
    for (Waiting& writer : writers_) {
        if (writer.flushed.done()) continue;
        writer.flushed.set_exception(closed_error());
        (void)writer.flushed.exception();  // a client's reset is no error of ours to log
    }
    writers_.clear();
}

// --- the request, as the callbacks fill it ----------------------------------------------

bool HTTP3Stream::header_bomb() const noexcept { return header_bytes_ > 2 * max_header_list_size_; }

void HTTP3Stream::add_field(std::string_view name, std::string_view value) {
    header_bytes_ += name.size() + value.size() + 32;   // RFC 9114 section 4.2.2's measure
    if (header_bytes_ > max_header_list_size_) return;  // answered 431
    if (name == ":method") {
        start_line_.method = value;
        head_request_ = value == "HEAD";
    } else if (name == ":path") {
        start_line_.path = value;
    } else if (name == ":authority") {
        authority_ = value;
    } else if (name == "cookie") {
        // Split into fields to compress better; one header again for the
        // application (RFC 9114 section 4.2.1).
        if (!cookie_.empty()) cookie_ += "; ";
        cookie_ += value;
    } else if (!name.starts_with(':')) {
        try {
            headers_.add(name, value);
        } catch (const std::invalid_argument&) {  // a control character: start() says 400
            malformed_ = true;
        }
    }
}

void HTTP3Stream::end_of_request() {
    if (state_ == StreamState::open) enter(StreamState::half_closed_remote);
}

// --- the request body's credit (RequestDriver runs the request) ---------------------------

// The stream's credit while ngtcp2 still has the stream (it ignores a
// closed one), the connection's always: the client may send that much more.
void HTTP3Stream::give_back(std::size_t size) noexcept {
    if (size == 0 || !connection_ || connection_->lib_->quic == nullptr) return;
    ngtcp2_conn_extend_max_stream_offset(connection_->lib_->quic, id_, size);
    ngtcp2_conn_extend_max_offset(connection_->lib_->quic, size);
    connection_->send_soon();
}

// --- the end ---------------------------------------------------------------------------------

void HTTP3Stream::reset(std::uint64_t code) {
    if (over()) return;
    if (connection_->lib_->http != nullptr) nghttp3_conn_shutdown_stream_read(http(), id_);
    ngtcp2_conn_shutdown_stream(connection_->lib_->quic, id_, code);
    connection_->send_soon();
}

void HTTP3Stream::on_closed(std::uint64_t error_code) {
    if (state_ == StreamState::closed) return;
    enter(StreamState::closed);
    bool answered = response_ == ResponseStage::finished && error_code == NGHTTP3_H3_NO_ERROR;
    if (answered) {
        stop_delegate();
    } else {
        close_delegate();
        if (close_callback_) {
            Function<void()> callback = std::move(close_callback_);
            detail::call_ending_callback("the close callback", [&] { callback(); });
        }
    }
    fail_waiting_writes();
    // The delegate holds this stream (its request does): let go of it, or
    // the two keep each other alive for good.
    std::unique_ptr<HTTPMessageDelegate> done = std::move(delegate_);
    wake();
}

}  // namespace tornado
