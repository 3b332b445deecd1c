// http1connection.cpp (exercise): the chapter's connection with the chunk
// loop (task 5) and the step after a response (task 4) cut out; each is
// marked TODO(task N). See README.md beside this file.
//
// See http1connection.h for the picture. The functions below follow a
// request through its life, in that order: the head, the body (fixed or
// chunked), the application, the response, the next request.
#include "http1connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <utility>

namespace course {

namespace {

// A chunk size line is a few hex digits; the rest is an extension we ignore.
constexpr std::size_t kMaxChunkSizeLine = 1024;
constexpr std::string_view kServerName = "TornadoCourse/05";

// "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n". We answer HTTP/1.1 even
// to an HTTP/1.0 client, as Tornado does: the version says what the server
// can do, and the response's framing is chosen so that 1.0 understands it.
std::string format_response_head(int status, const HTTPHeaders& headers) {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
    head.append(reason_phrase(status));
    head += "\r\n";
    for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
    return head + "\r\n";
}

void add_standard_headers(HTTPHeaders& headers) {
    if (!headers.contains("Date")) headers.add("Date", format_http_date(std::time(nullptr)));
    if (!headers.contains("Server")) headers.add("Server", std::string(kServerName));
}

bool is_form_body(const HTTPHeaders& headers) {
    std::string_view form = "application/x-www-form-urlencoded";
    std::string type = headers.get("Content-Type");
    return equals_ignoring_case(std::string_view(type).substr(0, form.size()), form);
}

// The request the application will see, from the parsed head.
std::shared_ptr<HTTPServerRequest> make_request(RequestHead head,
                                                const std::string& remote_address) {
    auto request = std::make_shared<HTTPServerRequest>();
    request->method = std::move(head.line.method);
    request->uri = std::move(head.line.target);
    std::size_t question = request->uri.find('?');
    request->path = request->uri.substr(0, question);
    request->query = question == std::string::npos ? "" : request->uri.substr(question + 1);
    request->version = std::move(head.line.version);
    request->headers = std::move(head.headers);
    request->remote_address = remote_address;
    request->remote_ip = remote_address.substr(0, remote_address.rfind(':'));
    request->query_arguments = parse_query(request->query);
    return request;
}

void append_arguments(QueryArguments& into, const QueryArguments& from) {
    for (const auto& [name, values] : from) {
        std::vector<std::string>& list = into[name];
        list.insert(list.end(), values.begin(), values.end());
    }
}

}  // namespace

void HTTPServerRequest::reply(int status, std::string_view content, HTTPHeaders response_headers) {
    response_headers.set("Content-Length", std::to_string(content.size()));
    connection->write_headers(status, std::move(response_headers));
    connection->write(content);
    connection->finish();
}

void HTTPServerRequest::parse_body() {
    if (is_form_body(headers)) body_arguments = parse_query(body);
    arguments = query_arguments;
    append_arguments(arguments, body_arguments);
}

HTTP1Connection::HTTP1Connection(std::shared_ptr<IOStream> stream, std::string remote_address,
                                 HTTP1ConnectionParameters params, RequestCallback callback)
    : stream_(std::move(stream)),
      remote_address_(std::move(remote_address)),
      params_(params),
      callback_(std::move(callback)) {}

void HTTP1Connection::start() {
    // Nagle's algorithm holds a small segment back while an earlier small
    // one is unacknowledged, and Linux clients delay their ACKs by 40 to
    // 200 ms: the end of a response written in pieces (a chunked one, say)
    // would wait that long. So we turn it off for the whole connection
    // (Tornado turns it on only while it finishes a response).
    int on = 1;
    ::setsockopt(stream_->fileno(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // However the stream closes (peer gone, timeout, error), the pending
    // timeout goes with it. The callback holds the timer's slot, not the
    // connection: a stream holding its connection would be a cycle.
    stream_->set_close_callback([loop = &stream_->io_loop(), timer = timer_] {
        loop->remove_timeout(*timer);
    });
    read_request_head();
}

// --- the request head ----------------------------------------------------------

void HTTP1Connection::read_request_head() {
    start_timer(params_.header_timeout, "complete request head");
    stream_->read_until("\r\n\r\n", [self = shared_from_this()](std::string data) {
        self->on_request_head(std::move(data));
    }, params_.max_header_size);
}

void HTTP1Connection::on_request_head(std::string data) {
    // Empty lines before a request line are to be ignored (RFC 9112
    // section 2.2): some clients send CRLF after a POST body.
    std::string_view head = data;
    while (head.starts_with("\r\n")) head.remove_prefix(2);
    if (head.empty()) return read_request_head();
    stop_timer();
    run_parser_step([&] { start_request(head); });
}

void HTTP1Connection::start_request(std::string_view head) {
    RequestHead parsed = parse_request_head(head);
    // How the body is framed is settled before anything else: if we cannot
    // tell where this request ends, we cannot find the next one either.
    framing_ = body_framing(parsed.line, parsed.headers);
    if (framing_.kind == BodyFraming::Kind::Length && framing_.length > params_.max_body_size) {
        throw HTTPInputError(413, "a body of " + std::to_string(framing_.length) +
                                      " bytes is over the limit of " +
                                      std::to_string(params_.max_body_size) + " bytes");
    }

    keep_alive_ = should_keep_alive(parsed.line, parsed.headers);
    head_request_ = parsed.line.method == "HEAD";
    http10_ = parsed.line.version == "HTTP/1.0";
    response_ = Response::NotStarted;
    response_has_body_ = true;
    chunked_response_ = false;
    content_remaining_.reset();
    trailer_bytes_ = 0;

    request_ = make_request(std::move(parsed), remote_address_);

    // A client that sent "Expect: 100-continue" waits (a second or so)
    // for a go-ahead before sending its body. It gets one only now, when
    // the head has passed every check: a refused request gets its error
    // instead, and the client need not send a body we would not read.
    bool has_body = framing_.kind == BodyFraming::Kind::Chunked || framing_.length > 0;
    bool expects_100 = equals_ignoring_case(request_->headers.get("Expect"), "100-continue");
    if (has_body && expects_100 && !http10_) {
        stream_->write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    read_body();
}

// --- the body --------------------------------------------------------------------

void HTTP1Connection::read_body() {
    switch (framing_.kind) {
    case BodyFraming::Kind::None:
        return dispatch_request();
    case BodyFraming::Kind::Length:
        if (framing_.length == 0) return dispatch_request();
        start_timer(params_.body_timeout, "complete request body");
        stream_->read_bytes(static_cast<std::size_t>(framing_.length),
                            [self = shared_from_this()](std::string body) {
                                self->on_fixed_body(std::move(body));
                            });
        return;
    case BodyFraming::Kind::Chunked:
        start_timer(params_.body_timeout, "complete request body");
        return read_chunk_size();
    }
}

void HTTP1Connection::on_fixed_body(std::string body) {
    stop_timer();
    request_->body = std::move(body);
    dispatch_request();
}

// A chunked body is a series of chunks, each "SIZE\r\nDATA\r\n", ended by a
// chunk of size 0, optional trailer fields, and an empty line:
//
//   5\r\nhello\r\n  6;note=x\r\n world\r\n  0\r\n  Expires: never\r\n  \r\n
void HTTP1Connection::read_chunk_size() {
    stream_->read_until("\r\n", [self = shared_from_this()](std::string line) {
        self->on_chunk_size(std::move(line));
    }, kMaxChunkSizeLine);
}

void HTTP1Connection::on_chunk_size(std::string line) {
    // TODO(task 5): a chunk size line has arrived (with its CRLF). Size 0 ends
    // the chunks: the trailers follow (read_trailer()). Any other size: that
    // chunk's data and the CRLF after it go to on_chunk_data. Rule: a chunk
    // that would take request_->body past params_.max_body_size is a 413
    // (message containing "limit") before it is read, for any size up to
    // 2^64 - 1 (mind overflow). An HTTPInputError thrown inside
    // run_parser_step() becomes the error response.
    // Hint: make hint CH=05 TASK=5.
    (void)line;
    throw std::logic_error("TODO(task 5): HTTP1Connection::on_chunk_size");
}

void HTTP1Connection::on_chunk_data(std::string data) {
    // TODO(task 5): `data` is one chunk's data and the CRLF after it: the
    // data, without the CRLF, goes on request_->body, and the next size line
    // is read. Data not followed by CRLF: 400 (message containing "CRLF").
    (void)data;
    throw std::logic_error("TODO(task 5): HTTP1Connection::on_chunk_data");
}

void HTTP1Connection::read_trailer() {
    stream_->read_until("\r\n", [self = shared_from_this()](std::string line) {
        self->on_trailer(std::move(line));
    }, params_.max_header_size);
}

// Trailer fields are checked like headers, then dropped: nothing in this
// chapter uses them, and merging them into the headers after the framing
// was decided would only invite trouble.
void HTTP1Connection::on_trailer(std::string line) {
    // TODO(task 5): a line after the last chunk. The empty line ("\r\n") ends
    // the body: stop the body timer and dispatch the request. Any other line
    // is a trailer field: checked as a header line (parse_header_line, without
    // its CRLF), dropped, and the next line read. Rule: once all trailer lines
    // together pass params_.max_header_size bytes (count them in
    // trailer_bytes_), 431.
    (void)line;
    throw std::logic_error("TODO(task 5): HTTP1Connection::on_trailer");
}

// --- the application -----------------------------------------------------------------

void HTTP1Connection::dispatch_request() {
    // The request goes to the application; the connection keeps no pointer
    // to it (the request points to the connection: both ways would be a cycle).
    std::shared_ptr<HTTPServerRequest> request = std::move(request_);
    request->connection = shared_from_this();
    request->parse_body();
    try {
        callback_(std::move(request));
    } catch (const std::exception& error) {
        // The server goes on; this connection ends with a 500 if nothing
        // was sent yet, or just closes (half a response cannot be saved).
        std::fprintf(stderr, "HTTP1Connection: the request callback threw: %s\n", error.what());
        if (response_ == Response::NotStarted) {
            send_error(500, "the application failed (the server's log says why)");
        } else {
            close();
        }
    }
}

// --- the response ----------------------------------------------------------------------

void HTTP1Connection::write_headers(int status, HTTPHeaders headers) {
    if (response_ != Response::NotStarted) {
        throw std::logic_error("HTTP1Connection: write_headers called twice for one request");
    }
    response_ = Response::Started;
    if (closed()) return;
    response_has_body_ = !head_request_ && status >= 200 && status != 204 && status != 304;
    if (headers.contains("Content-Length")) {
        content_remaining_ = std::stoull(headers.get("Content-Length"));
    } else if (response_has_body_ && !http10_) {
        chunked_response_ = true;
        headers.set("Transfer-Encoding", "chunked");
    } else if (response_has_body_) {
        keep_alive_ = false;  // HTTP/1.0 without a length: the close ends the body
    }
    add_standard_headers(headers);
    if (!keep_alive_) {
        headers.set("Connection", "close");
    } else if (http10_) {
        headers.set("Connection", "keep-alive");  // 1.0 closes unless told otherwise
    }
    // Sent with the first write() or finish(): head and body in one packet.
    unsent_head_ = format_response_head(status, headers);
}

void HTTP1Connection::write(std::string_view chunk, std::function<void()> on_flushed) {
    if (response_ != Response::Started) {
        throw std::logic_error("HTTP1Connection: write outside write_headers ... finish");
    }
    if (closed()) return;
    if (!response_has_body_) chunk = {};  // HEAD, 204, 304: headers only
    if (content_remaining_) {
        if (chunk.size() > *content_remaining_) {
            throw std::logic_error("HTTP1Connection: more bytes written than Content-Length");
        }
        *content_remaining_ -= chunk.size();
    }
    std::string data = std::exchange(unsent_head_, {});
    data += chunked_response_ ? format_chunk(chunk) : std::string(chunk);
    stream_->write(data, std::move(on_flushed));
}

void HTTP1Connection::finish() {
    if (response_ != Response::Started) {
        throw std::logic_error("HTTP1Connection: finish without write_headers, or twice");
    }
    response_ = Response::Finished;
    if (closed()) return;
    std::string data = std::exchange(unsent_head_, {});
    if (chunked_response_) data += "0\r\n\r\n";  // the last chunk, and no trailers
    if (response_has_body_ && content_remaining_ && *content_remaining_ > 0) {
        // The client waits for bytes that will never come; closing is the
        // only way left to tell it the response is over.
        std::fprintf(stderr, "HTTP1Connection: response shorter than its Content-Length\n");
        keep_alive_ = false;
    }
    stream_->write(data, [self = shared_from_this()] { self->on_response_written(); });
}

void HTTP1Connection::on_response_written() {
    // TODO(task 4): the response has gone to the kernel: close the connection
    // unless keep_alive_, else wait for the next request (read_request_head).
    // Rule: the next request is read only now, so that one request at a time
    // is in the application and pipelined responses leave in order.
    // Hint: make hint CH=05 TASK=4.
    throw std::logic_error("TODO(task 4): HTTP1Connection::on_response_written");
}

// --- errors and time limits -----------------------------------------------------------------

template <typename Step>
void HTTP1Connection::run_parser_step(Step step) {
    try {
        step();
    } catch (const HTTPInputError& error) {
        send_error(error.status(), error.what());
    }
}

// After a bad request we cannot know where the next one would start, so
// the connection closes once the answer is written (Tornado does the same).
void HTTP1Connection::send_error(int status, const std::string& message) {
    std::fprintf(stderr, "HTTP1Connection: %d to %s: %s\n", status, remote_address_.c_str(),
                 message.c_str());
    stop_timer();
    if (closed()) return;
    std::string body = std::to_string(status) + " ";
    body.append(reason_phrase(status));
    body += ": " + message + "\n";
    HTTPHeaders headers;
    headers.add("Content-Type", "text/plain; charset=UTF-8");
    headers.add("Content-Length", std::to_string(body.size()));
    headers.add("Connection", "close");
    add_standard_headers(headers);
    response_ = Response::Finished;
    keep_alive_ = false;
    stream_->write(format_response_head(status, headers) + body,
                   [self = shared_from_this()] { self->close(); });
}

void HTTP1Connection::start_timer(std::chrono::milliseconds limit, const char* waiting_for) {
    stop_timer();
    if (limit.count() <= 0) return;
    // A weak pointer: a timer must not keep a finished connection alive.
    *timer_ = stream_->io_loop().call_later(limit, [weak = weak_from_this(), waiting_for, limit] {
        std::shared_ptr<HTTP1Connection> self = weak.lock();
        if (!self) return;
        std::fprintf(stderr, "HTTP1Connection: closing %s: no %s within %lld ms\n",
                     self->remote_address_.c_str(), waiting_for,
                     static_cast<long long>(limit.count()));
        self->close();
    });
}

void HTTP1Connection::stop_timer() {
    stream_->io_loop().remove_timeout(*timer_);
    *timer_ = {};
}

}  // namespace course
