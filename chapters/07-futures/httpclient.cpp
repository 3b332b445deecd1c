// httpclient.cpp: see httpclient.h. One fetch is a chain of Futures:
//
//   connect ──then──► write the request ──then──► read the head
//      ──then──► read the body (by its framing) ──done──► finish()
//
// An exception anywhere skips the rest of the chain and lands in finish(),
// which settles the fetch's Future; so does the request timeout, which
// closes the stream to end whatever step is waiting.
#include "httpclient.h"

#include <optional>
#include <utility>

#include "client_httputil.h"
#include "future_stream.h"
#include "iostream.h"

namespace course {

namespace {

// A chunk's size line, as chapter 05 reads it, refused as the rest of a bad
// response is: with 502 (client_httputil.h), not its 400 for a request.
std::uint64_t response_chunk_size(std::string_view line) {
    try {
        return parse_chunk_size(line);
    } catch (const HTTPInputError& error) {
        throw HTTPInputError(502, error.what());
    }
}

class Fetch : public std::enable_shared_from_this<Fetch> {
public:
    Fetch(HTTPRequest request, bool raise_error, IOLoop& loop)
        : request_(std::move(request)),
          raise_error_(raise_error),
          loop_(loop),
          started_(IOLoop::time()),
          response_(loop) {}

    Future<HTTPResponse> start();

private:
    Future<void> send_request(const FutureStream& stream);
    Future<void> read_response();
    Future<void> read_body();
    Future<void> read_chunks();
    Future<void> read_trailers();
    Future<void> done_now();
    void append_body(std::string_view data);
    void finish(const Future<void>& outcome);
    void on_timeout();
    HTTPResponse make_response();

    HTTPRequest request_;
    bool raise_error_;
    IOLoop& loop_;
    IOLoop::Clock::time_point started_;
    URL url_;
    std::optional<FutureStream> stream_;  // once connected
    IOLoop::Timeout timeout_;
    ResponseHead head_;
    std::string body_;
    Future<HTTPResponse> response_;  // what fetch() returned
};

Future<HTTPResponse> Fetch::start() {
    url_ = parse_url(request_.url);
    // Each step holds the Fetch (`self`) until it runs; the chain ends in
    // finish() one way or another, so nothing is left holding it.
    auto self = shared_from_this();
    timeout_ = loop_.call_later(request_.request_timeout, [self] { self->on_timeout(); });
    FutureStream::connect(url_.host, url_.port, loop_)
        .then([self](FutureStream& stream) { return self->send_request(stream); })
        .then([self] { return self->read_response(); })
        .add_done_callback([self](Future<void> outcome) { self->finish(outcome); });
    return response_;
}

Future<void> Fetch::send_request(const FutureStream& stream) {
    stream_ = stream;
    // Connected after the timeout: nobody waits any more. Writing to the
    // closed stream gives a failed Future, which ends the chain.
    if (response_.done()) stream.close();
    return stream.write(format_request(request_.method, url_, request_.headers, request_.body));
}

Future<void> Fetch::read_response() {
    auto self = shared_from_this();
    return stream_->read_until("\r\n\r\n", AsyncHTTPClient::kMaxHeaderSize)
        .then([self](std::string& head) {
            self->head_ = parse_response_head(head);
            return self->read_body();
        });
}

Future<void> Fetch::read_body() {
    ResponseFraming framing = response_framing(request_.method, head_);
    auto keep = [self = shared_from_this()](std::string& data) { self->append_body(data); };
    switch (framing.kind) {
    case ResponseFraming::Kind::None:
        return done_now();
    case ResponseFraming::Kind::Length:
        if (framing.length > AsyncHTTPClient::kMaxBodySize) {
            throw HTTPInputError(502, "Content-Length " + std::to_string(framing.length) +
                                          " is over the client's limit");
        }
        return stream_->read_bytes(framing.length).then(keep);
    case ResponseFraming::Kind::Chunked:
        return read_chunks();
    case ResponseFraming::Kind::UntilClose:
        return stream_->read_until_close().then(keep);
    }
    return done_now();
}

// A loop written with Futures: read one chunk, then call ourselves again
// from its continuation. Each round starts from the loop, so the stack
// does not grow with the number of chunks (chapter 08 writes this loop as
// a plain while loop with co_await).
Future<void> Fetch::read_chunks() {
    auto self = shared_from_this();
    return stream_->read_until("\r\n", AsyncHTTPClient::kMaxHeaderSize)
        .then([self](std::string& size_line) {
            std::uint64_t size = response_chunk_size(size_line);
            if (size == 0) return self->read_trailers();
            if (size > AsyncHTTPClient::kMaxBodySize) {
                throw HTTPInputError(502, "chunk size over the client's limit");
            }
            return self->stream_->read_bytes(size + 2).then([self, size](std::string& data) {
                if (data.compare(size, 2, "\r\n") != 0) {
                    throw HTTPInputError(502, "chunk data not followed by CRLF");
                }
                self->append_body(std::string_view(data).substr(0, size));
                return self->read_chunks();
            });
        });
}

// Trailer fields after the last chunk, up to the empty line: read and
// dropped (nothing in this chapter uses them).
Future<void> Fetch::read_trailers() {
    auto self = shared_from_this();
    return stream_->read_until("\r\n", AsyncHTTPClient::kMaxHeaderSize)
        .then([self](std::string& line) {
            return line == "\r\n" ? self->done_now() : self->read_trailers();
        });
}

Future<void> Fetch::done_now() {
    Future<void> done(loop_);
    done.set_result();
    return done;
}

void Fetch::append_body(std::string_view data) {
    if (body_.size() + data.size() > AsyncHTTPClient::kMaxBodySize) {
        throw HTTPInputError(502, "response body over the client's limit");
    }
    body_ += data;
}

void Fetch::finish(const Future<void>& outcome) {
    loop_.remove_timeout(timeout_);
    if (stream_) stream_->close();  // one connection per request
    if (response_.done()) return;   // the timeout answered first
    if (outcome.exception()) return response_.set_exception(outcome.exception());
    HTTPResponse response = make_response();
    if (response.error && raise_error_) return response_.set_exception(response.error);
    response_.set_result(std::move(response));
}

void Fetch::on_timeout() {
    if (response_.done()) return;
    const char* what = stream_ ? "Timeout during request" : "Timeout while connecting";
    response_.set_exception(std::make_exception_ptr(HTTPTimeoutError(what)));
    // Fails the read (or write) in progress, which ends the chain.
    if (stream_) stream_->close();
}

HTTPResponse Fetch::make_response() {
    HTTPResponse response;
    response.code = head_.line.code;
    response.reason = head_.line.reason;
    response.headers = std::move(head_.headers);
    response.body = std::move(body_);
    response.effective_url = request_.url;
    response.request_time = IOLoop::time() - started_;
    if (response.code < 200 || response.code >= 300) {
        std::string message = response.reason.empty() ? std::string(reason_phrase(response.code))
                                                       : response.reason;
        // The error carries a copy of the response, as Tornado's does.
        auto copy = std::make_shared<const HTTPResponse>(response);
        response.error = std::make_exception_ptr(HTTPClientError(response.code, message, copy));
    }
    return response;
}

}  // namespace

Future<HTTPResponse> AsyncHTTPClient::fetch(HTTPRequest request, bool raise_error) {
    auto fetch = std::make_shared<Fetch>(std::move(request), raise_error, loop_);
    try {
        return fetch->start();
    } catch (...) {  // a URL we cannot fetch: the Future says so, like every other failure
        Future<HTTPResponse> failed(loop_);
        failed.set_exception(std::current_exception());
        return failed;
    }
}

Future<HTTPResponse> AsyncHTTPClient::fetch(const std::string& url, bool raise_error) {
    return fetch(HTTPRequest{.url = url}, raise_error);
}

}  // namespace course
