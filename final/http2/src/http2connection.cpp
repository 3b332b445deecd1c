// http2connection.cpp: see tornado/http2.h for the contract.
//
// Two classes. HTTP2ServerConnection owns the nghttp2 session and the
// IOStream: it reads, feeds the session, sends what the session produces,
// and dispatches what the session reported. HTTP2Stream is one stream: the
// request it carries, handed to the application's HTTPMessageDelegate by a
// small coroutine, and the response, which is the HTTPConnection the
// application writes to.
//
// No application code runs inside libnghttp2: its callbacks only record
// (a stream's headers, its body bytes, its end or reset) into the stream
// and the connection's event queue, which is dispatched once
// nghttp2_session_mem_recv (or _mem_send) has returned. Sending is one
// function, send_now(), which runs after reading, or once per loop turn
// when a handler wrote (send_soon()).
#include "tornado/http2.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/text.h"
#include "http/base64.h"
#include "tornado/log.h"

namespace tornado {

namespace {

// Bytes read from the socket at a time.
constexpr std::size_t kReadSize = 64 * 1024;
// Bytes the stream may hold unsent before the connection stops turning
// responses into frames: past it, what the handlers write waits in their
// streams, and their write() Futures wait with it.
constexpr std::size_t kMaxUnsent = 256 * 1024;
// Frames gathered into one write.
constexpr std::size_t kSendBatch = 64 * 1024;
// Empty DATA frames without END_STREAM a stream may send in a row. They
// carry nothing and cost a frame's work each; libnghttp2 takes any number,
// so a flood of them (CVE-2019-9518) would go on for as long as the client
// likes. Past this many: GOAWAY ENHANCE_YOUR_CALM.
constexpr std::uint32_t kMaxEmptyDataFrames = 100;

// Fields a response must not carry over HTTP/2 (RFC 9113 section 8.2.2):
// HTTP/1's hop-by-hop framing.
bool connection_specific(std::string_view lower_name) {
    return lower_name == "connection" || lower_name == "keep-alive" ||
           lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
           lower_name == "upgrade";
}

void append_lower(std::string& out, std::string_view text) {
    for (char c : text) out.push_back(detail::ascii_lower(c));
}

// HTTP2-Settings is base64url without padding (RFC 7540 section 3.2.1).
std::optional<std::string> base64url_decode(std::string_view text) {
    std::string standard(text);
    for (char& c : standard) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
    }
    standard.append((4 - standard.size() % 4) % 4, '=');
    return detail::base64_decode(standard);
}

// A field for libnghttp2, which copies the bytes (its const_casts are
// its API's: nghttp2_nv's pointers are not const, but it writes nothing).
nghttp2_nv field(std::string_view name, std::string_view value) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
            value.size(), NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// --- a stream ------------------------------------------------------------------------------

class HTTP2Stream final : public HTTPConnection, public std::enable_shared_from_this<HTTP2Stream> {
public:
    HTTP2Stream(std::shared_ptr<HTTP2ServerConnection> connection, std::int32_t id)
        : connection_(std::move(connection)),
          id_(id),
          context_(connection_->context_),
          max_body_size_(connection_->params_.max_body_size) {}

    // --- HTTPConnection -------------------------------------------------------------------

    Future<void> write_headers(const ResponseStartLine& start_line, const HTTPHeaders& headers,
                               std::string_view chunk) override {
        if (response_ != ResponseStage::nothing_sent)
            throw std::logic_error("HTTP/2: write_headers called twice");
        response_ = ResponseStage::headers_sent;
        int code = start_line.code;
        body_allowed_ = !head_request_ && code >= 200 && code != 204 && code != 304;
        if (over()) return closed_future();
        // HTTP/2 names are lower case (RFC 9113 section 8.2.1): they are
        // written, lowered, one after another into `lowered`, which is
        // sized first so that the views into it stay put. Values are seen
        // where the headers keep them. libnghttp2 copies names and values
        // in nghttp2_submit_response, so none of this need outlive it.
        std::size_t name_bytes = 0;
        for (HTTPHeaders::Field header : headers) name_bytes += header.name.size();
        std::string lowered;
        lowered.reserve(name_bytes);
        std::vector<nghttp2_nv> fields;
        fields.reserve(headers.size() + 3);
        char status[8];
        auto status_end = std::to_chars(status, status + sizeof status, code).ptr;
        fields.push_back(field(":status", {status, static_cast<std::size_t>(status_end - status)}));
        bool has_server = false;
        bool has_date = false;
        for (HTTPHeaders::Field header : headers) {
            std::size_t at = lowered.size();
            append_lower(lowered, header.name);
            std::string_view name(lowered.data() + at, header.name.size());
            if (connection_specific(name)) {
                lowered.resize(at);
                continue;
            }
            has_server = has_server || name == "server";
            has_date = has_date || name == "date";
            fields.push_back(field(name, header.value));
        }
        const std::string& server_header = connection_->params_.server_header;
        if (!has_server && !server_header.empty()) fields.push_back(field("server", server_header));
        std::string date;
        if (!has_date) {
            date = http_date_now();
            fields.push_back(field("date", date));
        }
        nghttp2_data_provider body{};
        body.source.ptr = this;
        body.read_callback = &HTTP2Stream::read_body;
        int failed = nghttp2_submit_response(connection_->session_.get(), id_, fields.data(),
                                             fields.size(), body_allowed_ ? &body : nullptr);
        if (failed != 0) throw HTTPOutputError(nghttp2_strerror(failed));
        connection_->send_soon();
        return queue(chunk);
    }

    Future<void> write(std::string_view chunk) override {
        if (response_ == ResponseStage::nothing_sent)
            throw std::logic_error("HTTP/2: write before write_headers");
        if (response_ == ResponseStage::finished)
            throw std::logic_error("HTTP/2: write after finish");
        if (over()) return closed_future();
        return queue(chunk);
    }

    void finish() override {
        if (response_ == ResponseStage::nothing_sent)
            throw std::logic_error("HTTP/2: finish before write_headers");
        if (response_ == ResponseStage::finished)
            throw std::logic_error("HTTP/2: finish called twice");
        response_ = ResponseStage::finished;
        if (over() || !body_allowed_) return;
        nghttp2_session_resume_data(connection_->session_.get(), id_);
        connection_->send_soon();
    }

    // The trailers go out as a HEADERS frame that ends the stream, after
    // the last DATA (read_body submits them when it reaches the end).
    void finish_with_trailers(const HTTPHeaders& trailers) override {
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

    void set_close_callback(Function<void()> callback) override {
        close_callback_ = std::move(callback);
    }
    void set_max_body_size(std::size_t max_body_size) override { max_body_size_ = max_body_size; }
    // A stream is not a byte stream of its own: nothing to give away
    // (WebSocket over HTTP/2, RFC 8441, is not offered).
    std::shared_ptr<IOStream> detach() override {
        throw std::logic_error("an HTTP/2 stream cannot be detached");
    }
    const HTTPRequestContext* context() const override { return &context_; }
    // A copy of the connection's: xheaders rewrites it for this stream alone.
    HTTPRequestContext* mutable_context() override { return &context_; }

    // --- the request, as the connection's callbacks fill it ----------------------------

    // The header list so far is past twice its limit: no request sends
    // that much, an HPACK bomb does (a 16 KB block of one-byte references
    // to a 4 KB field in the dynamic table decodes to 64 MB, and libnghttp2
    // checks every byte of every field it hands us). Past the limit the
    // request gets 431; past this, its stream is reset, and the rest of its
    // header block is decoded without a look.
    bool header_list_bomb() const noexcept {
        return header_bytes_ > 2 * connection_->params_.max_header_list_size;
    }

    void add_field(std::string_view name, std::string_view value) {
        header_bytes_ += name.size() + value.size() + 32;  // RFC 9113 section 6.5.2's measure
        if (header_bytes_ > connection_->params_.max_header_list_size) return;  // answered 431
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
            headers_.add(name, value);
        }
    }

    void add_body(const std::uint8_t* data, std::size_t length) {
        body_received_ += length;
        if (delegate_stage_ == DelegateStage::done) {  // the rest is dropped, its window given back
            nghttp2_session_consume(connection_->session_.get(), id_, length);
            return;
        }
        body_pending_.append(reinterpret_cast<const char*>(data), length);
    }

    // END_STREAM came: the request is whole.
    void end_of_request() {
        if (state_ == StreamState::open) state_ = StreamState::half_closed_remote;
    }

    // A DATA frame of `length` bytes (padding aside) came without
    // END_STREAM: whether it is one empty frame in a row too many.
    bool empty_data_flood(std::size_t length) {
        empty_data_frames_ = length == 0 ? empty_data_frames_ + 1 : 0;
        return empty_data_frames_ > kMaxEmptyDataFrames;
    }

    // The head is whole: hand the request to the application.
    void start(HTTPServerConnectionDelegate& delegate) {
        if (header_bytes_ > connection_->params_.max_header_list_size) {
            refuse(431, "header list over max_header_list_size");
            return;
        }
        start_line_.version = "HTTP/2.0";
        if (!authority_.empty() && !headers_.contains("Host")) headers_.add("Host", authority_);
        if (!cookie_.empty()) headers_.add("Cookie", cookie_);
        try {
            delegate_ = delegate.start_request(connection_.get(), shared_from_this());
            if (!delegate_) throw std::logic_error("start_request returned no HTTPMessageDelegate");
            delegate_stage_ = DelegateStage::running;
        } catch (...) {
            gen_log.error("Uncaught exception in start_request for {}: {}", context_.remote_ip,
                          describe_exception(std::current_exception()));
            refuse(500, "Internal Server Error");
            return;
        }
        run_request().detach();
    }

    // More body, its end, or the stream's end: the request's coroutine
    // goes on if it waits.
    void wake() {
        if (more_.valid() && !more_.done()) more_.set_result();
    }

    // The stream is over (answered and sent, reset by either side, or the
    // connection gone). What is still waiting hears of it.
    void on_closed(std::uint32_t error_code) {
        if (state_ == StreamState::closed) return;
        state_ = StreamState::closed;
        if (!body_pending_.empty()) {  // never passed on: its window is the connection's again
            nghttp2_session_consume_connection(connection_->session_.get(), body_pending_.size());
            body_pending_.clear();
        }
        bool answered = response_ == ResponseStage::finished && error_code == NGHTTP2_NO_ERROR;
        if (!answered) {
            if (delegate_stage_ == DelegateStage::running) {
                delegate_stage_ = DelegateStage::done;
                try {
                    delegate_->on_connection_close();
                } catch (...) {
                    app_log.error("Uncaught exception in on_connection_close: {}",
                                  describe_exception(std::current_exception()));
                }
            }
            if (close_callback_) {
                Function<void()> callback = std::move(close_callback_);
                callback();
            }
        }
        for (Waiting& writer : writers_) {
            if (!writer.flushed.done()) {
                writer.flushed.set_exception(closed_error());
                // As HTTP/1's failed writes: nobody need look at it. Else each
                // stream a client resets logs an error (rapid reset: a line
                // per two frames).
                (void)writer.flushed.exception();
            }
        }
        writers_.clear();
        // The delegate hears nothing more: let go of it. It holds this
        // stream (its request does), so kept it made a cycle that nothing
        // broke: every request leaked its stream, delegate, request and
        // handler, some 2.6 KB (found by final_http2_attack_test.py's rapid
        // reset). The handler lives on if it runs still (it holds itself).
        // done also ends a request coroutine that waits for a body that
        // will not come now.
        delegate_stage_ = DelegateStage::done;
        std::unique_ptr<HTTPMessageDelegate> done = std::move(delegate_);
        wake();
    }

    std::int32_t id() const noexcept { return id_; }
    // Let go of the connection: a handler may keep this stream (in its
    // request) for as long as it likes, the connection for no longer.
    void release() noexcept { connection_.reset(); }

private:
    // A stream's life is three small machines.
    //
    // The stream, as the frames say (RFC 9113 section 5.1, the server's side):
    //
    //   open ─END_STREAM from the client─► half_closed_remote ─┐
    //    └──── RST_STREAM either way, or the response's last frame ─┴─► closed
    //
    // closed is final: the stream carries nothing more (over()).
    enum class StreamState : std::uint8_t { open, half_closed_remote, closed };
    // The application's delegate, which hears of the request:
    //
    //   waiting ─start()─► running ─finish() or on_connection_close()─► done
    //      └──── refused before it began (431, 413, a start that threw) ─┘
    //
    // done is final: nothing more is passed on, and the body that still
    // comes is dropped (its window given back).
    enum class DelegateStage : std::uint8_t { waiting, running, done };
    // The response, as the application writes it:
    //
    //   nothing_sent ─write_headers()─► headers_sent ─finish()─► finished
    enum class ResponseStage : std::uint8_t { nothing_sent, headers_sent, finished };

    // A write() whose bytes nghttp2 has not all taken yet.
    struct Waiting {
        std::uint64_t until;  // queued_ at its end
        Future<void> flushed;
    };

    // The stream can carry nothing more: over, or its connection gone.
    bool over() const noexcept { return state_ == StreamState::closed || !connection_; }

    static std::exception_ptr closed_error() {
        return std::make_exception_ptr(StreamClosedError());
    }
    static Future<void> closed_future() {
        Future<void> closed;
        closed.set_exception(closed_error());
        (void)closed.exception();  // nobody need look at it (on_closed says why)
        return closed;
    }

    // Queues body bytes for the data source; the Future resolves once
    // nghttp2 has taken them into DATA frames, which the peer's windows
    // allow.
    Future<void> queue(std::string_view chunk) {
        Future<void> flushed;
        if (!body_allowed_ || chunk.empty()) {
            flushed.set_result();
            return flushed;
        }
        out_.append(chunk);
        queued_ += chunk.size();
        writers_.push_back({queued_, flushed});
        nghttp2_session_resume_data(connection_->session_.get(), id_);
        connection_->send_soon();
        return flushed;
    }

    // nghttp2's data source: the bytes written so far, as much as the
    // windows allow (`length`); "later" while the handler has written
    // nothing more and not finished.
    //
    // NO_COPY: libnghttp2 does not copy the bytes into a frame of its own;
    // it calls send_data (below) to put the frame into the connection's
    // batch straight from out_.
    static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* source, void*) {
        auto* stream = static_cast<HTTP2Stream*>(source->ptr);
        std::size_t n = std::min(length, stream->out_.size() - stream->out_taken_);
        bool finished = stream->response_ == ResponseStage::finished;
        if (n == 0 && !finished) return NGHTTP2_ERR_DEFERRED;
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (finished && stream->out_taken_ + n == stream->out_.size()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            if (!stream->trailers_.empty()) stream->submit_trailers(flags);
        }
        return static_cast<ssize_t>(n);
    }

public:
    // The DATA frame read_body promised: its header, then `length` bytes
    // of out_, appended to the connection's batch (RFC 9113 section 6.1;
    // this server pads nothing, but a frame libnghttp2 pads gets its pad).
    void send_data(std::string& batch, const nghttp2_frame& frame, const std::uint8_t* header,
                   std::size_t length) {
        batch.append(reinterpret_cast<const char*>(header), 9);
        std::size_t padding = frame.data.padlen;
        if (padding > 0) batch.push_back(static_cast<char>(padding - 1));
        batch.append(out_, out_taken_, length);
        if (padding > 1) batch.append(padding - 1, '\0');
        out_taken_ += length;
        taken_ += length;
        if (out_taken_ == out_.size()) {
            out_.clear();
            out_taken_ = 0;
        }
        while (!writers_.empty() && writers_.front().until <= taken_) {
            writers_.front().flushed.set_result();  // its callbacks run later, on the loop
            writers_.pop_front();
        }
    }

private:
    // From read_body, at the body's end: the stream ends with the trailers'
    // HEADERS frame instead of this DATA frame (nghttp2 lets a data source
    // submit them there). If they cannot be submitted, the DATA ends it.
    void submit_trailers(std::uint32_t* flags) {
        std::vector<nghttp2_nv> fields;
        for (std::size_t i = 0; i < trailers_.size(); i += 2) {
            fields.push_back(field(trailers_[i], trailers_[i + 1]));
        }
        if (nghttp2_submit_trailer(connection_->session_.get(), id_, fields.data(),
                                   fields.size()) == 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
    }

    // The request's life, for the application: headers_received, the body
    // piece by piece (each piece's window given back once the delegate's
    // Future has resolved), then finish(); or on_connection_close() if the
    // stream ends first (on_closed).
    Task<void> run_request() {
        std::shared_ptr<HTTP2Stream> self = shared_from_this();
        try {
            if (std::uint64_t length = declared_length(); length > max_body_size_) {
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
                    std::string piece = std::exchange(body_pending_, {});
                    std::size_t size = piece.size();
                    Future<void> taken = delegate_->data_received(std::move(piece));
                    if (taken.valid()) co_await taken;
                    if (!over()) {
                        nghttp2_session_consume(connection_->session_.get(), id_, size);
                        connection_->send_soon();
                    }
                    continue;
                }
                if (state_ != StreamState::open) break;  // the body is whole
                more_ = Future<void>();
                co_await more_;
            }
            delegate_stage_ = DelegateStage::done;
            delegate_->finish();
        } catch (const HTTPInputError& error) {
            refuse(error.status(), error.what());
        } catch (...) {
            gen_log.error("Uncaught exception serving {} over HTTP/2: {}", context_.remote_ip,
                          describe_exception(std::current_exception()));
            refuse(500, "Internal Server Error");
        }
    }

    std::uint64_t declared_length() const {
        std::string_view length = headers_.get_first("Content-Length");
        std::uint64_t value = 0;
        for (char c : length) {
            if (c < '0' || c > '9' || value > UINT64_MAX / 10 - 9) return 0;  // nghttp2 checked it
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return value;
    }

    // Answers `status` with `message` instead of the application (an error
    // before or while it ran), or resets the stream when its response has
    // begun already.
    void refuse(int status, std::string_view message) {
        if (delegate_stage_ == DelegateStage::running) {
            delegate_stage_ = DelegateStage::done;
            try {
                delegate_->on_connection_close();
            } catch (...) {}
        }
        delegate_stage_ = DelegateStage::done;
        if (over()) return;
        if (!body_pending_.empty()) {
            nghttp2_session_consume(connection_->session_.get(), id_, body_pending_.size());
            body_pending_.clear();
        }
        if (response_ != ResponseStage::nothing_sent) {
            nghttp2_submit_rst_stream(connection_->session_.get(), NGHTTP2_FLAG_NONE, id_,
                                      NGHTTP2_INTERNAL_ERROR);
            connection_->send_soon();
            return;
        }
        std::string body = tornado::format("{} {}: {}", status, reason_phrase(status), message);
        HTTPHeaders headers{{"Content-Type", "text/plain; charset=UTF-8"},
                            {"Content-Length", std::to_string(body.size())}};
        write_headers({"HTTP/2.0", status, ""}, headers, body);
        finish();
    }

    std::shared_ptr<HTTP2ServerConnection> connection_;  // null once released
    std::int32_t id_;
    HTTPRequestContext context_;
    std::size_t max_body_size_;

    // The request.
    RequestStartLine start_line_;
    HTTPHeaders headers_;
    std::string authority_;
    std::string cookie_;
    std::size_t header_bytes_ = 0;
    std::string body_pending_;  // received, not yet passed to data_received
    std::uint64_t body_received_ = 0;
    std::uint32_t empty_data_frames_ = 0;  // in a row (empty_data_flood)
    std::unique_ptr<HTTPMessageDelegate> delegate_;
    Future<void> more_{nullptr};  // what the request's coroutine waits on for more
    bool head_request_ = false;
    StreamState state_ = StreamState::open;
    DelegateStage delegate_stage_ = DelegateStage::waiting;

    // The response.
    std::string out_;  // written, not yet taken by nghttp2 (from out_taken_ on)
    std::size_t out_taken_ = 0;
    std::uint64_t queued_ = 0;  // body bytes written so far
    std::uint64_t taken_ = 0;   // body bytes nghttp2 has taken
    std::deque<Waiting> writers_;
    std::vector<std::string> trailers_;  // names (lower case) and values, in turn
    Function<void()> close_callback_;
    ResponseStage response_ = ResponseStage::nothing_sent;
    bool body_allowed_ = true;  // not for HEAD, 1xx, 204 and 304
};

// --- libnghttp2's callbacks: they record, the connection dispatches ------------------------

struct HTTP2Callbacks {
    using Kind = HTTP2ServerConnection::Event::Kind;

    static HTTP2ServerConnection& of(void* user_data) {
        return *static_cast<HTTP2ServerConnection*>(user_data);
    }

    static HTTP2Stream* stream(HTTP2ServerConnection& connection, std::int32_t id) {
        return connection.find_stream(id);
    }

    // No exception may cross libnghttp2's C frames: one that escapes a
    // callback (out of memory, a header HTTPHeaders refuses) resets the
    // stream instead.
    template <typename F>
    static int guarded(F&& body) noexcept {
        try {
            body();
            return 0;
        } catch (const std::exception& error) {
            gen_log.warning("HTTP/2 stream reset: {}", error.what());
        } catch (...) {
            gen_log.warning("HTTP/2 stream reset: unknown exception");
        }
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
            return 0;
        return guarded([&] {
            HTTP2ServerConnection& connection = of(user_data);
            std::int32_t id = frame->hd.stream_id;
            connection.streams_.emplace(
                id, std::make_shared<HTTP2Stream>(connection.shared_from_this(), id));
            connection.cancel_timeout();  // not idle
        });
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t name_length, const std::uint8_t* value,
                         std::size_t value_length, std::uint8_t, void* user_data) {
        HTTP2Stream* target = stream(of(user_data), frame->hd.stream_id);
        if (target == nullptr) return 0;
        int failed = guarded([&] {
            target->add_field({reinterpret_cast<const char*>(name), name_length},
                              {reinterpret_cast<const char*>(value), value_length});
        });
        if (failed == 0 && target->header_list_bomb()) {
            // RST_STREAM ENHANCE_YOUR_CALM; the failure then stops the
            // callbacks for the rest of the block (nghttp2 sends no second
            // RST_STREAM for a stream that has one queued).
            nghttp2_submit_rst_stream(of(user_data).session_.get(), NGHTTP2_FLAG_NONE,
                                      frame->hd.stream_id, NGHTTP2_ENHANCE_YOUR_CALM);
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        return failed;
    }

    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
        HTTP2ServerConnection& connection = of(user_data);
        HTTP2Stream* target = stream(connection, frame->hd.stream_id);
        if (target == nullptr) return 0;
        bool ends = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        return guarded([&] {
            if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
                connection.events_.push_back({Kind::request, target->id()});
            }
            if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && ends) {
                target->end_of_request();
                connection.events_.push_back({Kind::end, target->id()});
            }
            // A flood of empty DATA frames (kMaxEmptyDataFrames). padlen
            // counts the Pad Length field too: a frame of padding alone is empty.
            if (frame->hd.type == NGHTTP2_DATA && !ends &&
                target->empty_data_flood(frame->hd.length - frame->data.padlen)) {
                nghttp2_session_terminate_session(connection.session_.get(),
                                                  NGHTTP2_ENHANCE_YOUR_CALM);
            }
        });
    }

    static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t id,
                                  const std::uint8_t* data, std::size_t length, void* user_data) {
        HTTP2ServerConnection& connection = of(user_data);
        HTTP2Stream* target = stream(connection, id);
        if (target == nullptr) {  // a stream already over: its bytes are the connection's again
            nghttp2_session_consume_connection(session, length);
            return 0;
        }
        return guarded([&] {
            target->add_body(data, length);
            connection.events_.push_back({Kind::body, id});
        });
    }

    static int send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* header,
                         std::size_t length, nghttp2_data_source* source, void* user_data) {
        auto* target = static_cast<HTTP2Stream*>(source->ptr);
        return guarded([&] { target->send_data(of(user_data).batch_, *frame, header, length); });
    }

    static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code,
                               void* user_data) {
        HTTP2ServerConnection& connection = of(user_data);
        if (stream(connection, id) == nullptr) return 0;
        // NGHTTP2_ERR_CALLBACK_FAILURE here ends the session: the stream is
        // closing anyway, and a connection out of memory has no better way.
        try {
            connection.events_.push_back({Kind::closed, id, error_code});
            return 0;
        } catch (...) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
};

// --- the connection -----------------------------------------------------------------------

HTTP2ServerConnection::HTTP2ServerConnection(std::shared_ptr<IOStream> stream,
                                             HTTP2Parameters params, HTTPRequestContext context,
                                             std::string received)
    : stream_(std::move(stream)),
      params_(std::move(params)),
      context_(std::move(context)),
      received_(std::move(received)),
      session_(nullptr, nghttp2_session_del) {
    nghttp2_session_callbacks* callbacks = nullptr;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) throw std::bad_alloc();
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                            HTTP2Callbacks::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, HTTP2Callbacks::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, HTTP2Callbacks::on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                              HTTP2Callbacks::on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                           HTTP2Callbacks::on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(callbacks, HTTP2Callbacks::send_data);
    nghttp2_option* options = nullptr;
    if (nghttp2_option_new(&options) != 0) {
        nghttp2_session_callbacks_del(callbacks);
        throw std::bad_alloc();
    }
    // Windows are given back by the request coroutines, once the
    // application has taken each piece (the file comment's flow control).
    nghttp2_option_set_no_auto_window_update(options, 1);
    // The published attacks meet libnghttp2's own bounds, kept at their
    // defaults (1.57 on, and Debian's 1.52 with its security fixes): client
    // resets 1,000 at once then 33 a second (rapid reset), 8 CONTINUATION
    // frames a header block, 1,000 SETTINGS and PING ACKs queued, 32
    // entries a SETTINGS frame. Empty DATA frames are ours to bound
    // (kMaxEmptyDataFrames). tests/clients/final_http2_attack_test.py
    // checks each.
    nghttp2_session* session = nullptr;
    int failed = nghttp2_session_server_new2(&session, callbacks, this, options);
    nghttp2_option_del(options);
    nghttp2_session_callbacks_del(callbacks);
    if (failed != 0) throw std::runtime_error(nghttp2_strerror(failed));
    session_.reset(session);
}

HTTP2ServerConnection::~HTTP2ServerConnection() = default;

void HTTP2ServerConnection::start_serving(HTTPServerConnectionDelegate& delegate) {
    if (state_ != State::created) throw std::logic_error("HTTP2ServerConnection: already served");
    delegate_ = &delegate;
    state_ = State::serving;
    stream_->set_nodelay(true);
    stream_->set_close_callback([weak = weak_from_this()] {
        if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) self->end_serving();
    });
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, params_.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, params_.stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(std::min<std::size_t>(
                                                    params_.max_header_list_size, UINT32_MAX))},
    };
    nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings, std::size(settings));
    // The connection's own window, beyond the 64 KiB the protocol starts with.
    nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(params_.connection_window));
    // Not the preface's line: an HTTP/1.1 request that asked for h2c (the
    // HTTP/1 connection checked its fields).
    if (!received_.empty() && received_ != kHTTP2PrefaceHead &&
        !take_upgrade(std::exchange(received_, {}))) {
        return;
    }
    arm_idle_timeout();
    serve().detach();
}

// RFC 7540 section 3.2: the 101, then HTTP/2 from the server's SETTINGS on
// (written after it, by serve()). The request becomes stream 1,
// half-closed: the HTTP/1.1 request was all of it, with no body. The
// client's preface follows the 101. Settings that do not decode get a 400
// over HTTP/1.1, and the connection closes.
bool HTTP2ServerConnection::take_upgrade(std::string_view head) {
    if (stream_->closed()) {  // the client left already: nothing to answer
        end_serving();
        return false;
    }
    std::size_t line_end = head.find("\r\n");
    RequestStartLine start = parse_request_start_line(head.substr(0, line_end));
    HTTPHeaders headers = HTTPHeaders::parse(head.substr(line_end + 2));
    std::optional<std::string> settings = base64url_decode(headers.get_first("HTTP2-Settings"));
    if (!settings || nghttp2_session_upgrade2(
                         session_.get(), reinterpret_cast<const std::uint8_t*>(settings->data()),
                         settings->size(), start.method == "HEAD", nullptr) != 0) {
        gen_log.info("HTTP/2 upgrade from {} refused: bad HTTP2-Settings", context_.remote_ip);
        constexpr std::string_view kRefusal =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            "Content-Length: 34\r\nConnection: close\r\n\r\n400 Bad Request: bad HTTP2-Settings";
        // Held by this callback alone (no serve() runs) until it has said so.
        stream_->write(kRefusal).add_done_callback(
            [self = shared_from_this()](Future<void>) { self->end_serving(); });
        return false;
    }
    stream_->write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    auto request = std::make_shared<HTTP2Stream>(shared_from_this(), 1);
    request->add_field(":method", start.method);
    request->add_field(":path", start.path);
    for (HTTPHeaders::Field header : headers) {
        std::string name = detail::lower_ascii(header.name);
        if (connection_specific(name) || name == "http2-settings") continue;
        request->add_field(name == "host" ? ":authority" : name, header.value);
    }
    request->end_of_request();
    streams_.emplace(1, request);
    events_.push_back({Event::Kind::request, 1});
    events_.push_back({Event::Kind::end, 1});
    return true;
}

// The reading side: what comes is fed to the session, what it answers
// sent, until the session wants nothing more or the stream closes.
Task<void> HTTP2ServerConnection::serve() {
    std::shared_ptr<HTTP2ServerConnection> self = shared_from_this();
    if (!received_.empty()) feed(std::exchange(received_, {}));
    dispatch_events();  // an upgraded request's (take_upgrade)
    send_now();
    // Once the session wants to read no more (a GOAWAY sent, or a
    // connection error), send_now() closes the connection after its last
    // frames.
    while (serving() && nghttp2_session_want_read(session_.get())) {
        std::string data;
        try {
            data = co_await stream_->read_bytes(kReadSize, true);
        } catch (const std::exception&) {
            end_serving();  // the client closed it, or a limit did
            co_return;
        }
        feed(data);
        send_now();
    }
    // Read no more, but not ended yet: send_now() ends the connection once
    // its last frames are out. This coroutine keeps it alive till then, for
    // nothing else does (the server's list holds a plain pointer): one
    // destroyed before end_serving() stayed on that list, its socket open,
    // and the server crashed when it walked the list at its stop (found by
    // tests/clients/final_http2_attack_test.py's rapid reset).
    if (serving()) {
        if (!closed_future_.valid()) closed_future_ = Future<void>();
        Future<void> ended = closed_future_;
        co_await ended;
    }
}

void HTTP2ServerConnection::feed(std::string_view data) {
    in_callbacks_ = true;
    ssize_t used = nghttp2_session_mem_recv(
        session_.get(), reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    in_callbacks_ = false;
    if (used < 0) {
        // A fatal error (mem_recv returns no other kind): the session must
        // not be fed again, and nghttp2 has queued no GOAWAY for it. Fed
        // on, it read the next bytes from the middle of a frame, and a
        // flood's sender kept the connection for as long as it liked.
        gen_log.info("HTTP/2 connection from {} refused: {}", context_.remote_ip,
                     nghttp2_strerror(static_cast<int>(used)));
        std::uint32_t code = NGHTTP2_PROTOCOL_ERROR;  // a bad preface
        if (used == NGHTTP2_ERR_FLOODED || used == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
            // ACKs past nghttp2's bound (the client sends PING or SETTINGS
            // faster than it reads the answers), or CONTINUATION frames
            // past its count: RFC 9113 section 7's "excessive load".
            code = NGHTTP2_ENHANCE_YOUR_CALM;
        } else if (used == NGHTTP2_ERR_NOMEM || used == NGHTTP2_ERR_CALLBACK_FAILURE) {
            code = NGHTTP2_INTERNAL_ERROR;
        }
        nghttp2_session_terminate_session(session_.get(), code);
        dispatch_events();
        send_now();
        // The GOAWAY is not out (want_read goes false once it is): the
        // client reads nothing of what we send, so it would not read
        // that either. End now, rather than read on.
        if (nghttp2_session_want_read(session_.get())) end_serving();
        return;
    }
    dispatch_events();
}

HTTP2Stream* HTTP2ServerConnection::find_stream(std::int32_t id) {
    if (id == found_id_) return found_;
    auto found = streams_.find(id);
    if (found == streams_.end()) return nullptr;
    found_id_ = id;
    found_ = found->second.get();
    return found_;
}

// Before its stream leaves streams_.
void HTTP2ServerConnection::forget_stream(std::int32_t id) {
    if (id != found_id_) return;
    found_id_ = 0;
    found_ = nullptr;
}

void HTTP2ServerConnection::dispatch_events() {
    while (!events_.empty()) {
        Event event = events_.front();
        events_.pop_front();
        auto found = streams_.find(event.stream_id);
        if (found == streams_.end()) continue;
        std::shared_ptr<HTTP2Stream> stream = found->second;
        switch (event.kind) {
            case Event::Kind::request:
                if (delegate_ != nullptr) stream->start(*delegate_);
                break;
            case Event::Kind::body:
            case Event::Kind::end: stream->wake(); break;
            case Event::Kind::closed:
                forget_stream(event.stream_id);
                streams_.erase(found);
                stream->on_closed(event.error_code);
                stream->release();
                if (streams_.empty()) arm_idle_timeout();
                break;
        }
    }
}

void HTTP2ServerConnection::send_soon() {
    if (send_scheduled_ || !serving()) return;
    send_scheduled_ = true;
    stream_->io_loop().add_callback([weak = weak_from_this()] {
        if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) {
            self->send_scheduled_ = false;
            self->send_now();
        }
    });
}

// Turns what the session has to send into writes, 64 KiB at a time, while
// the stream has fewer than kMaxUnsent bytes waiting for the kernel. Past
// that, the peer reads slowly: sending goes on when the stream has sent
// them, and meanwhile the handlers' write() Futures wait, not the
// stream's buffer grows.
void HTTP2ServerConnection::send_now() {
    if (!serving() || in_callbacks_ || sending_) return;
    for (;;) {
        std::string& out = batch_;
        out.clear();
        // Room for a batch and the frame that passes it, at once.
        out.reserve(kSendBatch + 16 * 1024 + 64);
        while (out.size() < kSendBatch) {
            const std::uint8_t* data = nullptr;
            ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
            if (n < 0) {
                gen_log.warning("HTTP/2 to {}: {}", context_.remote_ip,
                                nghttp2_strerror(static_cast<int>(n)));
                dispatch_events();
                end_serving();
                return;
            }
            if (n == 0) break;
            out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        dispatch_events();  // streams the sending closed
        if (out.empty() || !serving()) break;
        // Closed under us (a reset the loop has not reported yet): the
        // connection ends here. A write would throw, out of whichever
        // coroutine or callback sent, and leave the connection on its
        // server's list when it was freed.
        if (stream_->closed()) {
            end_serving();
            return;
        }
        Future<void> written = stream_->write(std::move(out));
        if (stream_->write_buffer_size() >= kMaxUnsent) {
            sending_ = true;
            written.add_done_callback([weak = weak_from_this()](Future<void>) {
                if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) {
                    self->sending_ = false;
                    self->send_now();
                }
            });
            return;
        }
    }
    if (serving() && !nghttp2_session_want_read(session_.get()) &&
        !nghttp2_session_want_write(session_.get())) {
        // GOAWAY said and every stream over: close once the last bytes are out.
        if (stream_->closed()) {
            end_serving();
            return;
        }
        stream_->write(std::string_view{})
            .add_done_callback([weak = weak_from_this()](Future<void>) {
                if (std::shared_ptr<HTTP2ServerConnection> self = weak.lock()) self->end_serving();
            });
    }
}

void HTTP2ServerConnection::arm_idle_timeout() {
    if (params_.idle_timeout && serving()) start_timeout(stream_->io_loop(), *params_.idle_timeout);
}

void HTTP2ServerConnection::on_timeout() {
    if (!streams_.empty()) return;
    nghttp2_session_terminate_session(session_.get(), NGHTTP2_NO_ERROR);
    send_now();
}

Future<void> HTTP2ServerConnection::close() {
    if (!serving()) {
        Future<void> ended;
        ended.set_result();
        return ended;
    }
    if (!closed_future_.valid()) closed_future_ = Future<void>();
    Future<void> ended = closed_future_;
    end_serving();
    return ended;
}

void HTTP2ServerConnection::close_when_idle() {
    if (state_ != State::serving) return;
    state_ = State::going_away;
    // The last stream taken: the client may retry any later one elsewhere.
    nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    send_now();
}

bool HTTP2ServerConnection::idle() const noexcept { return serving() && streams_.empty(); }

void HTTP2ServerConnection::end_serving() noexcept {
    if (!serving()) return;
    state_ = State::ended;
    cancel_timeout();
    // Every stream still open ends with the connection.
    std::unordered_map<std::int32_t, std::shared_ptr<HTTP2Stream>> open = std::move(streams_);
    streams_.clear();
    forget_stream(found_id_);
    for (auto& [id, stream] : open) {
        stream->on_closed(NGHTTP2_CANCEL);
        stream->release();
    }
    if (stream_) stream_->close();
    if (delegate_ != nullptr) {
        HTTPServerConnectionDelegate* delegate = std::exchange(delegate_, nullptr);
        try {
            delegate->on_close(this);
        } catch (...) {
            app_log.error("Uncaught exception in on_close: {}",
                          describe_exception(std::current_exception()));
        }
    }
    if (closed_future_.valid() && !closed_future_.done()) closed_future_.set_result();
}

void HTTP2ServerConnection::server_gone() noexcept {
    delegate_ = nullptr;
    if (stream_) stream_->close();
}

std::shared_ptr<HTTPServerConnection> detail::make_http2_connection(
    std::shared_ptr<IOStream> stream, std::string received, const HTTPServerOptions& options,
    HTTPRequestContext context) {
    HTTP2Parameters params;
    params.max_concurrent_streams = options.http2_max_concurrent_streams;
    params.max_header_list_size = options.max_header_size;
    params.max_body_size = options.max_body_size;
    params.idle_timeout = options.idle_connection_timeout;
    params.server_header = options.server_header;
    return std::make_shared<HTTP2ServerConnection>(std::move(stream), std::move(params),
                                                   std::move(context), std::move(received));
}

}  // namespace tornado
