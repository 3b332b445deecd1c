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
#include "http3libraries.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// Fields a message must not carry over HTTP/3 (RFC 9114 section 4.2):
// HTTP/1's hop-by-hop framing.
bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade";
}

// A field for nghttp3, which copies the bytes (nghttp3_nv's pointers are
// not const, but it writes nothing).
nghttp3_nv field(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP3_NV_FLAG_NONE};
}

// Submits a response's HEADERS: :status, the application's fields lowered
// (RFC 9114 section 4.2), and server and date unless it gave them.
// `lowered` holds the lowered names (sized first: the views stay put).
int submit_response(nghttp3_conn* http, std::int64_t id, int code, const HTTPHeaders& headers,
                    std::string_view server_header, const nghttp3_data_reader* body) {
    std::size_t name_bytes = 0;
    for (HTTPHeaders::Field header : headers) name_bytes += header.name.size();
    std::string lowered;
    lowered.reserve(name_bytes);
    std::vector<nghttp3_nv> fields;
    fields.reserve(headers.size() + 3);
    char status[8];
    auto status_end = std::to_chars(status, status + sizeof status, code).ptr;
    fields.push_back(field(":status", {status, static_cast<std::size_t>(status_end - status)}));
    bool has_server = false;
    bool has_date = false;
    for (HTTPHeaders::Field header : headers) {
        std::size_t at = lowered.size();
        for (char c : header.name) lowered.push_back(detail::ascii_lower(c));
        std::string_view name(lowered.data() + at, header.name.size());
        if (connection_specific(name)) {
            lowered.resize(at);
            continue;
        }
        has_server = has_server || name == "server";
        has_date = has_date || name == "date";
        fields.push_back(field(name, header.value));
    }
    if (!has_server && !server_header.empty()) fields.push_back(field("server", server_header));
    std::string date;
    if (!has_date) {
        date = http_date_now();
        fields.push_back(field("date", date));
    }
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
    : connection_(std::move(connection)),
      id_(id),
      context_(connection_->context_),
      max_body_size_(connection_->server_->params().max_body_size) {}

// --- the three machines ---------------------------------------------------------------------

void HTTP3Stream::enter(StreamState to) {
    bool drawn = (state_ == StreamState::open && to != StreamState::open) ||
                 (state_ == StreamState::half_closed_remote && to == StreamState::closed);
    move(state_, to, drawn, "the stream", {"open", "half_closed_remote", "closed"});
}

void HTTP3Stream::enter(DelegateStage to) {
    bool drawn = (delegate_stage_ == DelegateStage::waiting && to != DelegateStage::waiting) ||
                 (delegate_stage_ == DelegateStage::running && to == DelegateStage::done);
    move(delegate_stage_, to, drawn, "the delegate", {"waiting", "running", "done"});
}

void HTTP3Stream::enter(ResponseStage to) {
    bool drawn = (response_ == ResponseStage::nothing_sent && to == ResponseStage::headers_sent) ||
                 (response_ == ResponseStage::headers_sent && to == ResponseStage::finished);
    move(response_, to, drawn, "the response", {"nothing_sent", "headers_sent", "finished"});
}

// --- the response ---------------------------------------------------------------------------

Future<void> HTTP3Stream::write_headers(const ResponseStartLine& start_line,
                                        const HTTPHeaders& headers, std::string_view chunk) {
    enter(ResponseStage::headers_sent);
    int code = start_line.code;
    body_allowed_ = !head_request_ && code >= 200 && code != 204 && code != 304;
    if (over() || connection_->lib_->http == nullptr) return closed_future();
    nghttp3_data_reader body{&read_data};
    int failed =
        submit_response(http(), id_, code, headers, connection_->server_->params().server_header,
                        body_allowed_ ? &body : nullptr);
    if (failed != 0) throw HTTPOutputError(nghttp3_strerror(failed));
    connection_->send_soon();
    return queue(chunk);
}

Future<void> HTTP3Stream::write(std::string_view chunk) {
    if (response_ == ResponseStage::nothing_sent)
        throw std::logic_error("HTTP/3: write before write_headers");
    if (response_ == ResponseStage::finished) throw std::logic_error("HTTP/3: write after finish");
    if (over()) return closed_future();
    return queue(chunk);
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
            if (connection_specific(name)) continue;
            trailers_.push_back(std::move(name));
            trailers_.emplace_back(trailer.value);
        }
    }
    finish();
}

void HTTP3Stream::set_close_callback(Function<void()> callback) {
    close_callback_ = std::move(callback);
}

void HTTP3Stream::set_max_body_size(std::size_t max_body_size) { max_body_size_ = max_body_size; }

std::shared_ptr<IOStream> HTTP3Stream::detach() {
    throw std::logic_error("an HTTP/3 stream cannot be detached");
}

nghttp3_conn* HTTP3Stream::http() const noexcept { return connection_->lib_->http; }

// Queues body bytes; the Future resolves once nghttp3 has taken them
// (read_body), which it does as QUIC's flow control lets the stream send.
Future<void> HTTP3Stream::queue(std::string_view chunk) {
    Future<void> flushed;
    if (!body_allowed_ || chunk.empty()) {
        flushed.set_result();
        return flushed;
    }
    chunks_.emplace_back(chunk);
    queued_ += chunk.size();
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
        std::string& chunk = chunks_[next_chunk_++];
        vec[filled++] = {reinterpret_cast<std::uint8_t*>(chunk.data()), chunk.size()};
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
        for (std::size_t i = 0; i + 1 < trailers_.size(); i += 2) {
            fields.push_back(field(trailers_[i], trailers_[i + 1]));
        }
    } catch (...) {  // no memory: the stream ends without them
        return false;
    }
    bool submitted = nghttp3_conn_submit_trailers(http(), id_, fields.data(), fields.size()) == 0;
    trailers_.clear();
    return submitted;
}

void HTTP3Stream::acked(std::uint64_t length) {
    acked_in_front_ += length;
    while (!chunks_.empty() && next_chunk_ > 0 && acked_in_front_ >= chunks_.front().size()) {
        acked_in_front_ -= chunks_.front().size();
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

bool HTTP3Stream::header_bomb() const noexcept {
    return header_bytes_ > 2 * connection_->server_->params().max_header_list_size;
}

void HTTP3Stream::add_field(std::string_view name, std::string_view value) {
    header_bytes_ += name.size() + value.size() + 32;  // RFC 9114 section 4.2.2's measure
    if (header_bytes_ > connection_->server_->params().max_header_list_size) return;  // 431
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

void HTTP3Stream::add_body(const std::uint8_t* data, std::size_t length) {
    body_received_ += length;
    if (delegate_stage_ == DelegateStage::done) {  // nobody takes it: its credit goes back
        give_back(length);
        return;
    }
    body_pending_.append(reinterpret_cast<const char*>(data), length);
}

void HTTP3Stream::end_of_request() {
    if (state_ == StreamState::open) enter(StreamState::half_closed_remote);
}

// --- the request, for the application ---------------------------------------------------

void HTTP3Stream::start(HTTPServerConnectionDelegate& delegate) {
    if (header_bytes_ > connection_->server_->params().max_header_list_size) {
        refuse(431, "header list over max_header_list_size");
        return;
    }
    start_line_.version = "HTTP/3.0";
    try {
        if (!authority_.empty() && !headers_.contains("Host")) headers_.add("Host", authority_);
        if (!cookie_.empty()) headers_.add("Cookie", cookie_);
    } catch (const std::invalid_argument&) {
        malformed_ = true;
    }
    // A field value with a control character (nghttp3 0.8 lets a cookie's
    // through): the request is malformed, its stream's error alone (RFC
    // 9114 section 4.1.2), answered 400 as HTTP/1.1 answers it, not the
    // connection's end.
    if (malformed_) {
        refuse(400, "malformed header field");
        return;
    }
    try {
        delegate_ = delegate.start_request(connection_.get(), shared_from_this());
        if (!delegate_) throw std::logic_error("start_request returned no HTTPMessageDelegate");
        enter(DelegateStage::running);
    } catch (...) {
        gen_log.error("Uncaught exception in start_request for {}: {}", context_.remote_ip,
                      describe_exception(std::current_exception()));
        refuse(500, "Internal Server Error");
        return;
    }
    run_request().detach();
}

void HTTP3Stream::wake() {
    if (more_.valid() && !more_.done()) more_.set_result();
}

// The request's life, for the application: headers_received, the body
// piece by piece (each piece's credit given back once the delegate's
// Future has resolved), then finish(); or on_connection_close() if the
// stream ends first (on_closed).
Task<void> HTTP3Stream::run_request() {
    std::shared_ptr<HTTP3Stream> self = shared_from_this();
    try {
        if (declared_length() > max_body_size_) {
            refuse(413, "body over max_body_size");
            co_return;
        }
        Future<void> ready =
            delegate_->headers_received(std::move(start_line_), std::move(headers_));
        if (ready.valid()) co_await ready;
        for (;;) {
            if (delegate_stage_ == DelegateStage::done) co_return;
            if (body_received_ > max_body_size_) {
                refuse(413, "body over max_body_size");
                co_return;
            }
            if (!body_pending_.empty()) {
                body_with_delegate_ = body_pending_.size();
                Future<void> taken = delegate_->data_received(std::exchange(body_pending_, {}));
                if (taken.valid()) co_await taken;
                give_back(std::exchange(body_with_delegate_, 0));  // 0 if on_closed gave it back
                continue;
            }
            if (state_ != StreamState::open) break;  // the body is whole
            more_ = Future<void>();
            co_await more_;
        }
        enter(DelegateStage::done);
        delegate_->finish();
    } catch (const HTTPInputError& error) {
        refuse(error.status(), error.what());
    } catch (...) {
        gen_log.error("Uncaught exception serving {} over HTTP/3: {}", context_.remote_ip,
                      describe_exception(std::current_exception()));
        refuse(500, "Internal Server Error");
    }
}

// The request's Content-Length, 0 without one (nghttp3 has checked that it
// is digits and that the body agrees with it).
std::uint64_t HTTP3Stream::declared_length() const {
    return parse_content_length_value(headers_.get_first("Content-Length")).value_or(0);
}

// Answers `status` in place of the application, or resets the stream when
// its response has begun already.
void HTTP3Stream::refuse(int status, std::string_view message) {
    close_delegate();
    if (over()) return;
    if (response_ != ResponseStage::nothing_sent) {
        reset(NGHTTP3_H3_INTERNAL_ERROR);
        return;
    }
    std::string body = tornado::format("{} {}: {}", status, reason_phrase(status), message);
    HTTPHeaders headers{{"Content-Type", "text/plain; charset=UTF-8"},
                        {"Content-Length", std::to_string(body.size())}};
    write_headers({"HTTP/3.0", status, ""}, headers, body);
    finish();
}

void HTTP3Stream::close_delegate() noexcept {
    bool began = delegate_stage_ == DelegateStage::running;
    stop_delegate();
    if (began) {
        detail::call_ending_callback("on_connection_close",
                                     [&] { delegate_->on_connection_close(); });
    }
}

void HTTP3Stream::stop_delegate() noexcept {
    if (delegate_stage_ == DelegateStage::done) return;
    enter(DelegateStage::done);
    give_back(std::exchange(body_pending_, {}).size() + std::exchange(body_with_delegate_, 0));
}

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
