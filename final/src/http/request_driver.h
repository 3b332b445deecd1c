// request_driver.h: the request side of one stream on the server, the
// same for HTTP/2 and HTTP/3 (tornado::http2's HTTP2Stream and
// tornado::http3's HTTP3Stream are each one). A small coroutine hands the
// request to the application's HTTPMessageDelegate: its head, its body
// piece by piece, its end; when the request cannot be served, the stream
// answers in the application's place (refuse). What differs between the
// protocols is given to the constructor (the version) or asked of the
// stream through a few hooks (how body credit goes back to the client,
// how the stream is reset). Header-only, as connection_end.h: the add-ons
// reach the framework's src/ for its headers, not for its objects.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "http/connection_end.h"
#include "tornado/concurrent.h"
#include "tornado/gen.h"
#include "tornado/httputil.h"
#include "tornado/log.h"

namespace tornado::detail {

// The stream is the HTTPConnection the application writes its response
// to; the response is the stream's own business, the request this class's.
class RequestDriver : public HTTPConnection, public std::enable_shared_from_this<RequestDriver> {
public:
    // The head is whole: hand the request to the application.
    void start(HTTPServerConnectionDelegate& delegate);
    // A piece of the request body, as the stream reads it.
    void add_body(const std::uint8_t* data, std::size_t length);
    // More body, its end, or the stream's end: the request's coroutine
    // goes on if it waits.
    void wake();

    void set_max_body_size(std::size_t max_body_size) override { max_body_size_ = max_body_size; }

protected:
    // `version` is the request's ("HTTP/2.0"), a string that outlives the stream.
    RequestDriver(std::string_view version, std::size_t max_header_list_size,
                  std::size_t max_body_size)
        : max_header_list_size_(max_header_list_size),
          version_(version),
          max_body_size_(max_body_size) {
        // Room for a usual request's fields, which come one at a time:
        // growing from nothing took five allocations for four fields.
        headers_.reserve(8, 256);
    }

    // A field of the request that the protocol's session has checked
    // already, by rules stricter than add()'s (HTTP/2's, RFC 9113 section
    // 8.2.1): added without checking it twice.
    void add_checked_field(std::string_view name, std::string_view value) {
        headers_.append_field(name, value);
    }

    // The application's delegate, which hears of the request. Moved by
    // enter() alone, which throws std::logic_error for a move not drawn:
    //
    //   waiting ─start()─► running ─finish(): the request is whole─────────────┐
    //      │                  └──── on_connection_close(): the stream is over, ┴─► done
    //      │                        or refused while it ran (413, an error)    │
    //      └─ refused before it began (400, 431, a start_request that threw) ─┘
    //
    // done is final: nothing more is passed on, and the body that still
    // comes is dropped (its credit given back).
    enum class DelegateStage : std::uint8_t { waiting, running, done };
    void enter(DelegateStage to);

    // The delegate's part ends before its finish(): done, and the body it
    // has not taken goes back to the client; one that began hears
    // on_connection_close() (what that throws is logged).
    void close_delegate() noexcept;
    // The same without a word to the delegate (its response is whole).
    void stop_delegate() noexcept;

    // The request, as the stream's callbacks fill it.
    RequestStartLine start_line_;
    HTTPHeaders headers_;
    std::string authority_;
    std::string cookie_;
    std::size_t header_bytes_ = 0;  // past max_header_list_size_, the request gets 431
    bool malformed_ = false;        // a field refused (a control character in its value): 400
    const std::size_t max_header_list_size_;
    std::unique_ptr<HTTPMessageDelegate> delegate_;

private:
    // --- what each protocol's stream tells ----------------------------------------------

    // The stream can carry nothing more: closed, or its connection gone.
    virtual bool over() const noexcept = 0;
    // The client sends nothing more on the stream: the request is whole,
    // or the stream is closed.
    virtual bool remote_closed() const noexcept = 0;
    // write_headers() has been called: an error can no longer be answered.
    virtual bool response_begun() const noexcept = 0;
    // The stream's way out for an error once the response has begun:
    // reset(code) with the protocol's INTERNAL_ERROR.
    virtual void reset_after_error() = 0;
    // Gives `size` bytes of request body back to the client's flow-control
    // credit: it may send that much more.
    virtual void give_back(std::size_t size) noexcept = 0;
    // The connection the stream came on, as start_request() is told it.
    virtual HTTPServerConnection* server_connection() const noexcept = 0;

    Task<void> run_request();
    std::uint64_t declared_length() const;
    void refuse(int status, std::string_view message);

    std::string_view version_;
    std::size_t max_body_size_;
    std::string body_pending_;            // received, not yet passed to data_received
    std::size_t body_with_delegate_ = 0;  // passed, its credit not yet given back
    std::uint64_t body_received_ = 0;
    Future<void> more_{nullptr};  // what the request's coroutine waits on for more
    DelegateStage delegate_stage_ = DelegateStage::waiting;
};

inline void RequestDriver::enter(DelegateStage to) {
    bool drawn = (delegate_stage_ == DelegateStage::waiting && to != DelegateStage::waiting) ||
                 (delegate_stage_ == DelegateStage::running && to == DelegateStage::done);
    if (!drawn) {
        constexpr std::array<std::string_view, 3> names{"waiting", "running", "done"};
        throw std::logic_error(tornado::format(
            "{} stream: the delegate cannot go from {} to {}", version_,
            names[static_cast<std::size_t>(delegate_stage_)], names[static_cast<std::size_t>(to)]));
    }
    delegate_stage_ = to;
}

inline void RequestDriver::start(HTTPServerConnectionDelegate& delegate) {
    if (header_bytes_ > max_header_list_size_) {
        refuse(431, "header list over max_header_list_size");
        return;
    }
    start_line_.version = version_;
    try {
        if (!authority_.empty() && !headers_.contains("Host")) headers_.add("Host", authority_);
        if (!cookie_.empty()) headers_.add("Cookie", cookie_);
    } catch (const std::invalid_argument&) {
        malformed_ = true;
    }
    // A field value with a control character (nghttp3 0.8 lets a cookie's
    // through): the request is malformed, its stream's error alone (RFC
    // 9113 section 8.1.1, RFC 9114 section 4.1.2), answered 400 as
    // HTTP/1.1 answers it, not the connection's end.
    if (malformed_) {
        refuse(400, "malformed header field");
        return;
    }
    try {
        delegate_ = delegate.start_request(server_connection(), shared_from_this());
        if (!delegate_) throw std::logic_error("start_request returned no HTTPMessageDelegate");
        enter(DelegateStage::running);
    } catch (...) {
        gen_log.error("Uncaught exception in start_request for {}: {}", context()->remote_ip,
                      describe_exception(std::current_exception()));
        refuse(500, "Internal Server Error");
        return;
    }
    run_request().detach();
}

inline void RequestDriver::add_body(const std::uint8_t* data, std::size_t length) {
    body_received_ += length;
    if (delegate_stage_ == DelegateStage::done) {  // nobody takes it: its credit goes back
        give_back(length);
        return;
    }
    body_pending_.append(reinterpret_cast<const char*>(data), length);
}

inline void RequestDriver::wake() {
    if (more_.valid() && !more_.done()) more_.set_result();
}

// The request's life, for the application: headers_received, the body
// piece by piece (each piece's credit given back once the delegate's
// Future has resolved), then finish(); or on_connection_close() if the
// stream ends first.
inline Task<void> RequestDriver::run_request() {
    std::shared_ptr<RequestDriver> self = shared_from_this();
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
                // 0 if the stream closed meanwhile: stop_delegate gave it back.
                give_back(std::exchange(body_with_delegate_, 0));
                continue;
            }
            if (remote_closed()) break;  // the body is whole
            more_ = Future<void>();
            co_await more_;
        }
        enter(DelegateStage::done);
        delegate_->finish();
    } catch (const HTTPInputError& error) {
        refuse(error.status(), error.what());
    } catch (...) {
        gen_log.error("Uncaught exception serving {} over {}: {}", context()->remote_ip, version_,
                      describe_exception(std::current_exception()));
        refuse(500, "Internal Server Error");
    }
}

// The request's Content-Length, 0 without one (the protocol's library has
// checked that it is digits and that the body agrees with it).
inline std::uint64_t RequestDriver::declared_length() const {
    return parse_content_length_value(headers_.get_first("Content-Length")).value_or(0);
}

// Answers `status` with `message` in place of the application (an error
// before or while it ran), or resets the stream when its response has
// begun already.
inline void RequestDriver::refuse(int status, std::string_view message) {
    close_delegate();
    if (over()) return;
    if (response_begun()) {
        reset_after_error();
        return;
    }
    std::string body = tornado::format("{} {}: {}", status, reason_phrase(status), message);
    HTTPHeaders headers{{"Content-Type", "text/plain; charset=UTF-8"},
                        {"Content-Length", std::to_string(body.size())}};
    write_headers({std::string(version_), status, ""}, headers, body);
    finish();
}

inline void RequestDriver::close_delegate() noexcept {
    bool began = delegate_stage_ == DelegateStage::running;
    stop_delegate();
    if (began) {
        call_ending_callback("on_connection_close", [&] { delegate_->on_connection_close(); });
    }
}

inline void RequestDriver::stop_delegate() noexcept {
    if (delegate_stage_ == DelegateStage::done) return;
    enter(DelegateStage::done);
    give_back(std::exchange(body_pending_, {}).size() + std::exchange(body_with_delegate_, 0));
}

}  // namespace tornado::detail
